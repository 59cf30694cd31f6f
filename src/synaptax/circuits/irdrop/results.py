"""Results of a solve: status codes, solutions, power balance, convergence errors."""
from __future__ import annotations

import enum
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from synaptax._checks import is_concrete

from ._common import OnFailure
from .network import _kirchhoff_residual

__all__ = ["ForwardSolution", "IRDropConvergenceError", "IRDropSolution", "IRDropStatus", "PowerBalance",
           "TransposedSolution"]


class IRDropStatus(enum.IntEnum):
    """Outcome of a solve, per input vector (``IRDropSolution.status``)."""

    CONVERGED = 0
    #: ``max_steps`` CG iterations were spent before the residual reached ``tol``.
    MAX_ITERATIONS = 1
    #: A CG restart from the true residual no longer reduced it: ``tol`` is below what
    #: the dtype can resolve for this problem (use float64 or a larger ``tol``).
    STAGNATED = 2
    #: Non-finite values or loss of positive definiteness (non-finite input under jit).
    BREAKDOWN = 3


_STATUS_TEXT = {
    IRDropStatus.MAX_ITERATIONS: "max_steps reached",
    IRDropStatus.STAGNATED: "stagnated (tol below the attainable accuracy of this dtype)",
    IRDropStatus.BREAKDOWN: "breakdown (non-finite values)",
}


class IRDropConvergenceError(RuntimeError):
    """Raised when an IR-drop solve did not converge and failure was asked to raise."""


class PowerBalance(eqx.Module):
    """Power in the crossbar network, W, each of shape ``batch``.

    Attributes:
        source: power delivered by the drivers, ``Σ_k V_k I_k`` (the row drivers in a
            forward read, the column drivers in a transposed one).
        device: dissipated in the cells, ``Σ G (V_row − V_col)²``.
        row_wire: dissipated in the row wires (driver segment included).
        column_wire: dissipated in the column wires (ground segment included).
    """

    source: jax.Array
    device: jax.Array
    row_wire: jax.Array
    column_wire: jax.Array

    @property
    def wire(self) -> jax.Array:
        """Total wire dissipation, W."""
        return self.row_wire + self.column_wire

    @property
    def imbalance(self) -> jax.Array:
        """``source − device − wire``, W (zero up to the solver's tolerance)."""
        return self.source - self.device - self.wire


class IRDropSolution(eqx.Module):
    """Solution of the crossbar network for a batch of input vectors.

    Shapes: ``batch`` is the leading shape of ``v_rows`` (``()`` for one vector).

    Attributes:
        column_currents: current into each column's virtual ground, A, ``batch + (cols,)``.
        row_voltages: row-node voltages, V, ``batch + (rows, cols)``.
        column_voltages: column-node voltages, V, ``batch + (rows, cols)``.
        residual: final true relative preconditioned residual (see module docstring),
            ``batch``.
        iterations: CG iterations spent on each input vector, ``batch``, int32.
        status: :class:`IRDropStatus` code per input vector, ``batch``, int32.
        conductance: the cell conductances solved for, S, ``(rows, cols)``.
        v_rows: the driver voltages, V, ``batch + (rows,)``.
        r_row: row-wire resistance per segment, Ω, scalar.
        r_col: column-wire resistance per segment, Ω, scalar.
        tol: the tolerance the residual was compared with.
    """

    column_currents: jax.Array
    row_voltages: jax.Array
    column_voltages: jax.Array
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array
    conductance: jax.Array
    v_rows: jax.Array
    r_row: jax.Array
    r_col: jax.Array
    tol: jax.Array

    @property
    def converged(self) -> jax.Array:
        """Boolean, ``batch``: the residual reached ``tol``."""
        return self.status == IRDropStatus.CONVERGED

    def check(self) -> "IRDropSolution":
        """Raise :class:`IRDropConvergenceError` if any input vector did not converge.

        On concrete values this raises immediately; under ``jit`` it uses
        ``equinox.error_if`` (the error surfaces when the computation runs).
        Returns the solution unchanged, so ``solve_crossbar(...).check()`` chains.
        """
        return _handle_failure(self, "raise")

    def kirchhoff_residual(self) -> jax.Array:
        """Relative Kirchhoff current-law residual recomputed from the node voltages.

        Every branch current is recomputed from the voltages by Ohm's law; the current
        imbalance at every node is summed in quadrature and divided by the 2-norm of
        the ideal cell currents ``G_ij V_i``. Lines with zero wire resistance are
        equipotential and contribute no wire term. Shape ``batch``.

        Note: this is limited by rounding of the node voltages themselves: roughly
        ``eps · min(rows², 1/(r G))`` relative, i.e. ~1e-12 in float64 but up to
        ~1e-3–1e-2 in float32 for 1024-line arrays, although the column currents are
        accurate to ~1e-5 there. Use it as a float64 diagnostic.
        """
        return _kirchhoff_residual(self.conductance, self.v_rows, self.r_row, self.r_col,
                                   self.row_voltages, self.column_voltages)

    def power(self) -> PowerBalance:
        """Power delivered by the drivers and dissipated in cells and wires, W.

        Wire currents are obtained from the cell currents by Kirchhoff's current law
        (cumulative sums along each line), which stays exact for zero wire resistance;
        wire power is ``r Σ I²``. The balance ``source = device + wire`` holds only when
        the node voltages obey Ohm's law on the wires, so it checks the solution.
        """
        g = self.conductance
        cell = g * (self.row_voltages - self.column_voltages)  # (..., R, C) A
        source = jnp.sum(self.v_rows * jnp.sum(cell, axis=-1), axis=-1)
        device = jnp.sum(cell * (self.row_voltages - self.column_voltages), axis=(-2, -1))
        # Row segment left of node j carries the cells to its right.
        row_seg = jnp.flip(jnp.cumsum(jnp.flip(cell, -1), axis=-1), -1)
        # Column segment below node i carries the cells above it.
        col_seg = jnp.cumsum(cell, axis=-2)
        row_wire = self.r_row * jnp.sum(row_seg**2, axis=(-2, -1))
        column_wire = self.r_col * jnp.sum(col_seg**2, axis=(-2, -1))
        return PowerBalance(source, device, row_wire, column_wire)


class _ReadSolution(eqx.Module):
    """What the solutions of a prepared read share: convergence per input vector (from
    the ``status`` field each declares)."""

    @property
    def converged(self) -> jax.Array:
        """Boolean, ``batch``: the residual reached ``tol``."""
        return self.status == IRDropStatus.CONVERGED

    def check(self):
        """Raise :class:`IRDropConvergenceError` if any input vector did not converge
        (``equinox.error_if`` under ``jit``); returns the solution unchanged."""
        return _handle_failure(self, "raise")


class ForwardSolution(_ReadSolution):
    """Forward read of a prepared crossbar (:func:`solve_prepared`).

    Shapes: ``batch`` is the leading shape of ``v_rows`` (``()`` for one vector).

    Attributes:
        column_currents: current into each column's virtual ground, A, ``batch + (cols,)``.
        power: :class:`PowerBalance` of this read, W, each ``batch``.
        residual: final true relative preconditioned residual, ``batch``.
        iterations: CG iterations spent on each input vector, ``batch``, int32.
        status: :class:`IRDropStatus` code per input vector, ``batch``, int32.
        tol: the tolerance the residual was compared with, scalar.
    """

    column_currents: jax.Array
    power: PowerBalance
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array
    tol: jax.Array


class TransposedSolution(_ReadSolution):
    """Transposed read of a prepared crossbar (:func:`solve_transposed`).

    Shapes: ``batch`` is the leading shape of ``v_cols`` (``()`` for one vector).

    Attributes:
        row_currents: current out of each row at its driver end (column 0, held at
            0 V), A, ``batch + (rows,)``; ``v_cols @ conductance.T`` without wire
            resistance.
        power: :class:`PowerBalance` of this read, W, each ``batch`` (``source`` is
            delivered by the column drivers, ``Σ_j V_j I_j``).
        residual: final true relative preconditioned residual, ``batch``.
        iterations: CG iterations spent on each input vector, ``batch``, int32.
        status: :class:`IRDropStatus` code per input vector, ``batch``, int32.
        tol: the tolerance the residual was compared with, scalar.
    """

    row_currents: jax.Array
    power: PowerBalance
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array
    tol: jax.Array


# ----------------------------------------------------------------------------------
# Failure handling
# ----------------------------------------------------------------------------------
def _failure_message(status, residual, iterations, tol) -> str:
    status = np.atleast_1d(np.asarray(status))
    residual = np.atleast_1d(np.asarray(residual))
    iterations = np.atleast_1d(np.asarray(iterations))
    bad = np.flatnonzero(status != IRDropStatus.CONVERGED)
    k = bad[0]
    return (f"IR-drop solve did not converge for {bad.size} of {status.size} input vector(s): "
            f"{_STATUS_TEXT[IRDropStatus(int(status[k]))]}; e.g. vector {k}: residual "
            f"{residual[k]:.3g} > tol {float(np.max(tol)):.3g} after {int(iterations[k])} iterations. "
            "Raise max_steps or tol, or use float64.")


def _handle_failure(sol: IRDropSolution, on_failure: OnFailure, payload=None):
    """Apply ``on_failure`` to a solution; returns ``payload`` (default: the solution)."""
    payload = sol if payload is None else payload
    if on_failure == "ignore":
        return payload
    if is_concrete((sol.status, sol.residual, sol.iterations)):
        if np.all(np.asarray(sol.status) == IRDropStatus.CONVERGED):
            return payload
        msg = _failure_message(sol.status, sol.residual, sol.iterations, sol.tol)
        if on_failure == "raise":
            raise IRDropConvergenceError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return payload
    failed = jnp.any(sol.status != IRDropStatus.CONVERGED)
    if on_failure == "raise":
        return eqx.error_if(payload, failed, "IR-drop solve did not converge (residual > tol); "
                            "raise max_steps or tol, or use float64")

    def _warn(status, residual, iterations, tol):
        if np.any(np.asarray(status) != IRDropStatus.CONVERGED):
            warnings.warn(_failure_message(status, residual, iterations, tol), RuntimeWarning)

    jax.debug.callback(_warn, sol.status, sol.residual, sol.iterations, sol.tol)
    return payload
