r"""IR drop in a passive crossbar array: exact nodal solve, fast and differentiable.

Circuit convention
------------------
A crossbar of ``rows × cols`` cells. ``conductance[i, j]`` (S) joins *row node* (i, j)
to *column node* (i, j).

* Row i is driven by an ideal voltage source ``v_rows[..., i]`` (V) at its column-0 end.
  One wire segment of resistance ``r_row`` (Ω) lies between the driver and cell (i, 0)
  and one between each pair of adjacent cells of the row; the row's far end
  (after cell (i, cols−1)) is open.
* Column j is read at its last-row end into a virtual ground at 0 V. One segment of
  resistance ``r_col`` (Ω) lies between adjacent cells of the column and one between
  cell (rows−1, j) and the ground; the column's top end (above cell (0, j)) is open.
* Rows are the inputs (driven lines), columns the outputs. With no wire resistance the
  answer is the ideal matrix–vector product ``column_currents = v_rows @ conductance``.

The output ``column_currents[..., j]`` is the current that column j delivers into the
virtual ground, evaluated by Kirchhoff's current law as the sum of its cell currents,
``Σ_i G_ij (V_row_ij − V_col_ij)`` (equal, at convergence, to the current in the last
column segment; this form stays finite in the zero-resistance limits).

Assumptions: linear (ohmic) cells, uniform wire resistance per segment, ideal drivers
and an ideal virtual ground, DC (no capacitance). Sneak paths are included exactly
since the whole network is solved.

Algorithm
---------
The nodal equations for the unknown row-node voltages ``u`` and column-node voltages
``w`` form a symmetric positive definite system

    [ T_r   −D ] [u]   [g_r V e_0]        T_r: row wires + cells, one tridiagonal block per row
    [ −D   T_c ] [w] = [    0    ],       T_c: column wires + cells, one per column,  D = diag(G).

Every line block is factorised once per conductance array (a cancellation-free
"ladder" elimination that starts at the line's open end, so all pivots are sums of
positive terms). The row voltages are eliminated exactly, ``u = T_r⁻¹(g_r V e_0 + D w)``,
and conjugate gradients solve the Schur complement ``S w = D u₀`` with
``S = T_c − D T_r⁻¹ D``, preconditioned by ``T_c`` (exact solves of every column line).
Each iteration costs one tridiagonal solve of every row line and one of every column
line (sequential scans along the lines, vectorised across lines and across the batch of
input vectors, which share the factorisation and iterate together). ``T_c p`` is
carried by recurrence instead of recomputed (recomputing it in float32 loses digits).

Everything is done in scaled, dimensionless units (conductances relative to
``max(G)``, voltages relative to ``max|V|`` per input vector, wire resistance as the
ratio ``ρ = r · max(G)``), with row voltages represented by their drop ``u − V`` from
the driver voltage, so float32 is accurate (column currents to ~1e-5 relative of the
float64 answer) and zero wire resistance is an ordinary case (``ρ = 0``).

Convergence is measured by the *true* preconditioned residual, recomputed from the
iterate at the end of each CG cycle (residual replacement): ``residual =
‖T_c⁻¹(D u₀ − S w)‖₂ / ‖T_c⁻¹ D u₀‖₂``, the relative size of the column-voltage change
that one more exact block Gauss–Seidel sweep would make. If it exceeds ``tol`` CG is
restarted from the true residual; if a restart no longer reduces it (the tolerance is
below what the dtype can resolve) the solve stops with ``status = STAGNATED``.
Kirchhoff's law can be checked independently with
:meth:`IRDropSolution.kirchhoff_residual`.

Gradients
---------
:func:`crossbar_currents` is differentiable with respect to ``conductance``,
``v_rows``, ``r_row`` and ``r_col`` by implicit differentiation (``jax.custom_vjp``):
the adjoint of the symmetric nodal system is one more solve with the same operator and
the same factorisation, never a backward pass through the iterations.
"""
from __future__ import annotations

import enum
import math
import warnings
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from synaptax._checks import check_int, check_nonnegative, check_positive, is_concrete

__all__ = [
    "IRDropConvergenceError",
    "IRDropSolution",
    "IRDropStatus",
    "PowerBalance",
    "WIRE_RESISTANCE_PER_SEGMENT",
    "WireResistance",
    "crossbar_currents",
    "solve_crossbar",
    "wire_resistance_per_segment",
]

OnFailure = Literal["raise", "warn", "ignore"]

#: Default relative tolerance of the preconditioned residual, per dtype. float32 cannot
#: resolve much below ~1e-6 (rounding in the line solves); 1e-5 gives column currents
#: within ~1e-5 relative of the float64 answer.
DEFAULT_TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
DEFAULT_MAX_ITER = 2000


# ----------------------------------------------------------------------------------
# Wire resistance per technology node
# ----------------------------------------------------------------------------------
class WireResistance(NamedTuple):
    """Wire resistance of one cell-pitch segment of a row and of a column line.

    Attributes:
        r_row: resistance of one row-wire segment, Ω.
        r_col: resistance of one column-wire segment, Ω.
    """

    r_row: float
    r_col: float


#: Per-cell wire resistance, Ω per segment, from the NeuroSim wire tables [pub]
#: (NeuroSim, as restated in docs/device-physics.md §E). Keys: cell type, then node.
#: Only the values stated there are included; the 1T1R values at 32 nm and 22 nm are
#: not given and are absent rather than interpolated.
WIRE_RESISTANCE_PER_SEGMENT: dict[str, dict[str, WireResistance]] = {
    "crosspoint": {
        "45nm": WireResistance(0.49, 0.49),
        "32nm": WireResistance(0.73, 0.73),
        "22nm": WireResistance(1.06, 1.06),
        "14nm": WireResistance(2.03, 2.03),
    },
    "1t1r": {
        "45nm": WireResistance(0.97, 2.92),
        "14nm": WireResistance(4.06, 12.2),
    },
}


def wire_resistance_per_segment(node: str | int, cell: str = "crosspoint") -> WireResistance:
    """Documented per-segment wire resistance for a technology node [pub] NeuroSim.

    Args:
        node: technology node, e.g. ``"22nm"``, ``"22 nm"`` or ``22``.
        cell: ``"crosspoint"`` (one value for rows and columns) or ``"1t1r"``
            (row and column differ; only 45 nm and 14 nm are documented).

    Returns:
        :class:`WireResistance` with ``r_row`` and ``r_col`` in Ω per cell segment,
        ready to pass as ``solve_crossbar(..., r_row=..., r_col=...)``.

    >>> wire_resistance_per_segment("22nm")
    WireResistance(r_row=1.06, r_col=1.06)
    """
    cell_key = str(cell).lower().replace("-", "").replace(" ", "")
    if cell_key not in WIRE_RESISTANCE_PER_SEGMENT:
        raise ValueError(f"cell must be one of {sorted(WIRE_RESISTANCE_PER_SEGMENT)}, got {cell!r}")
    table = WIRE_RESISTANCE_PER_SEGMENT[cell_key]
    key = str(node).lower().replace(" ", "")
    if not key.endswith("nm"):
        key += "nm"
    if key not in table:
        raise ValueError(f"node {node!r} has no documented wire resistance for cell {cell!r}; "
                         f"documented nodes: {sorted(table)}")
    return table[key]


# ----------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------
class IRDropStatus(enum.IntEnum):
    """Outcome of a solve, per input vector (``IRDropSolution.status``)."""

    CONVERGED = 0
    #: ``max_iter`` CG iterations were spent before the residual reached ``tol``.
    MAX_ITERATIONS = 1
    #: A CG restart from the true residual no longer reduced it: ``tol`` is below what
    #: the dtype can resolve for this problem (use float64 or a larger ``tol``).
    STAGNATED = 2
    #: Non-finite values or loss of positive definiteness (non-finite input under jit).
    BREAKDOWN = 3


_STATUS_TEXT = {
    IRDropStatus.MAX_ITERATIONS: "max_iter reached",
    IRDropStatus.STAGNATED: "stagnated (tol below the attainable accuracy of this dtype)",
    IRDropStatus.BREAKDOWN: "breakdown (non-finite values)",
}


class IRDropConvergenceError(RuntimeError):
    """Raised when an IR-drop solve did not converge and failure was asked to raise."""


class PowerBalance(eqx.Module):
    """Power in the crossbar network, W, each of shape ``batch``.

    Attributes:
        source: power delivered by the row drivers, ``Σ_i V_i I_i``.
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


# ----------------------------------------------------------------------------------
# Line factorisation and solves (internal; scaled units)
# ----------------------------------------------------------------------------------
class _Factors(NamedTuple):
    """Line operators of one conductance array in scaled units.

    Internal layouts: "column layout" ``(rows, cols, batch)`` (scan axis = rows, used by
    column lines) and "row layout" ``(cols, rows, batch)`` (scan axis = cols).
    """

    g_col: jax.Array  # (R, C, 1) conductance / g_ref, column layout
    g_row: jax.Array  # (C, R, 1) conductance / g_ref, row layout
    m_col: jax.Array  # (R, C, 1) reciprocal pivots of the column lines
    m_row: jax.Array  # (C, R, 1) reciprocal pivots of the row lines
    rho_row: jax.Array  # () r_row * g_ref
    rho_col: jax.Array  # () r_col * g_ref


def _reciprocal_pivots(shunt: jax.Array, *, open_end_last: bool) -> jax.Array:
    """Reciprocal pivots ``1/(1 + s_k)`` of a ladder line, eliminated from its open end.

    The line operator (in units of one segment's conductance) is the path Laplacian
    with a Dirichlet segment at one end, open at the other, plus ``diag(shunt)``.
    Eliminating from the open end, ``s_open = shunt_open`` and
    ``s_k = shunt_k + s_{k−1}/(1 + s_{k−1})``: a sum of positive terms, so no
    cancellation, unlike the textbook elimination from the driven end.

    Args:
        shunt: ``(N, M)``, dimensionless shunt conductance ``ρ G/g_ref`` along axis 0.
        open_end_last: True if the open end is at index ``N − 1``.
    """

    def step(h, shunt_k):
        s = shunt_k + h
        m = 1.0 / (1.0 + s)
        return s * m, m

    _, m = lax.scan(step, jnp.zeros_like(shunt[0]), shunt, reverse=open_end_last)
    return m


def _line_solve(m: jax.Array, f: jax.Array, *, open_end_last: bool) -> jax.Array:
    """Solve every ladder line ``A x = f`` along axis 0 with precomputed pivots.

    Args:
        m: ``(N, M, 1)`` reciprocal pivots from :func:`_reciprocal_pivots`.
        f: ``(N, M, B)`` right-hand sides (injected currents, scaled).
    """

    def eliminate(carry, xs):
        m_k, f_k = xs
        e = m_k * (f_k + carry)
        return e, e

    def substitute(x, xs):
        m_k, e_k = xs
        x = e_k + m_k * x
        return x, x

    zero = jnp.zeros(f.shape[1:], f.dtype)
    _, e = lax.scan(eliminate, zero, (m, f), reverse=open_end_last)
    _, x = lax.scan(substitute, zero, (m, e), reverse=not open_end_last)
    return x


def _factor(g_hat: jax.Array, rho_row: jax.Array, rho_col: jax.Array) -> _Factors:
    g_col = g_hat[:, :, None]
    g_row = g_hat.T[:, :, None]
    m_row = _reciprocal_pivots(rho_row * g_hat.T, open_end_last=True)[:, :, None]
    m_col = _reciprocal_pivots(rho_col * g_hat, open_end_last=False)[:, :, None]
    return _Factors(g_col, g_row, m_col, m_row, rho_row, rho_col)


def _row_solve(fac: _Factors, f_col: jax.Array) -> jax.Array:
    """``A_r⁻¹ f`` for ``f`` in column layout; result in column layout."""
    x = _line_solve(fac.m_row, jnp.swapaxes(f_col, 0, 1), open_end_last=True)
    return jnp.swapaxes(x, 0, 1)


def _row_solve_g(fac: _Factors, x_col: jax.Array) -> jax.Array:
    """``A_r⁻¹ (Ĝ x)`` for ``x`` in column layout; result in column layout."""
    x = _line_solve(fac.m_row, fac.g_row * jnp.swapaxes(x_col, 0, 1), open_end_last=True)
    return jnp.swapaxes(x, 0, 1)


def _col_solve(fac: _Factors, f: jax.Array) -> jax.Array:
    """``A_c⁻¹ f`` in column layout."""
    return _line_solve(fac.m_col, f, open_end_last=False)


def _col_apply(fac: _Factors, x: jax.Array) -> jax.Array:
    """``A_c x = (L_c + ρ_c Ĝ) x`` in column layout (column Laplacian, ground below)."""
    zero = jnp.zeros_like(x[:1])
    down = x - jnp.concatenate([x[1:], zero])  # x_i − x_{i+1}, x_R = 0 (ground)
    lap = down - jnp.concatenate([zero, down[:-1]])
    return lap + fac.rho_col * fac.g_col * x


def _dot(x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.sum(x * y, axis=(0, 1))


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


class _CGOut(NamedTuple):
    w: jax.Array
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array


def _schur_cg(fac: _Factors, b: jax.Array, tol: jax.Array, max_iter: jax.Array) -> _CGOut:
    """Solve ``S w = b`` with ``S = A_c − ρ_r ρ_c Ĝ A_r⁻¹ Ĝ`` by PCG (preconditioner ``A_c``).

    ``b`` is ``(R, C, B)`` in column layout; every column of the batch has its own
    step lengths and stops independently. Restarts from the recomputed true residual
    until it meets ``tol``, stagnates, or ``max_iter`` iterations are spent.
    """
    dtype = b.dtype
    nb = b.shape[-1]
    rho2 = fac.rho_row * fac.rho_col
    w0 = _col_solve(fac, b)
    norm_w0 = jnp.sqrt(_dot(w0, w0))
    tol_inner = 0.5 * tol

    def true_residual(w):
        kw = rho2 * _col_solve(fac, fac.g_col * _row_solve_g(fac, w))
        z = w0 - w + kw
        return _col_apply(fac, z), z

    def relres(z):
        return _safe_div(jnp.sqrt(_dot(z, z)), norm_w0)

    def inner_cond(c):
        return jnp.any(c["active"]) & (c["n"] < max_iter)

    def inner_body(c):
        p, q, active = c["p"], c["q"], c["active"]
        sp = q - rho2 * fac.g_col * _row_solve_g(fac, p)
        psp = _dot(p, sp)
        ok = active & (psp > 0) & jnp.isfinite(psp)
        alpha = jnp.where(ok, _safe_div(c["rz"], psp), 0).astype(dtype)
        w = c["w"] + alpha * p
        r = c["r"] - alpha * sp
        z = _col_solve(fac, r)
        rz = _dot(r, z)
        beta = jnp.where(ok, _safe_div(rz, c["rz"]), 0).astype(dtype)
        breakdown = c["breakdown"] | (active & ~ok)
        still = ok & (relres(z) > tol_inner)
        return dict(w=w, r=r, z=z, p=z + beta * p, q=r + beta * q, rz=rz, active=still,
                    iterations=c["iterations"] + active.astype(jnp.int32), n=c["n"] + 1,
                    breakdown=breakdown)

    def outer_cond(o):
        return jnp.any(o["open"]) & (o["n"] < max_iter)

    def outer_body(o):
        c = dict(w=o["w"], r=o["r"], z=o["z"], p=o["z"], q=o["r"], rz=_dot(o["r"], o["z"]),
                 active=o["open"], iterations=o["iterations"], n=o["n"], breakdown=o["breakdown"])
        c = lax.while_loop(inner_cond, inner_body, c)
        r, z = true_residual(c["w"])
        res = relres(z)
        converged = res <= tol
        breakdown = c["breakdown"] | ~jnp.isfinite(res)
        # A restart that does not halve the true residual will not reach tol.
        stagnated = o["stagnated"] | (o["open"] & ~converged & (res > 0.5 * o["residual"]))
        still_open = o["open"] & ~converged & ~stagnated & ~breakdown
        return dict(w=c["w"], r=r, z=z, residual=jnp.where(o["open"], res, o["residual"]),
                    open=still_open, stagnated=stagnated & ~converged, breakdown=breakdown,
                    iterations=c["iterations"], n=c["n"])

    res0 = relres(w0)
    o = dict(w=jnp.zeros_like(b), r=b, z=w0, residual=res0, open=res0 > tol,
             stagnated=jnp.zeros(nb, bool), breakdown=~jnp.isfinite(res0),
             iterations=jnp.zeros(nb, jnp.int32), n=jnp.zeros((), jnp.int32))
    o = lax.while_loop(outer_cond, outer_body, o)
    status = jnp.where(
        o["breakdown"], IRDropStatus.BREAKDOWN,
        jnp.where(o["residual"] <= tol, IRDropStatus.CONVERGED,
                  jnp.where(o["stagnated"], IRDropStatus.STAGNATED, IRDropStatus.MAX_ITERATIONS)))
    return _CGOut(o["w"], o["residual"], o["iterations"], status.astype(jnp.int32))


# ----------------------------------------------------------------------------------
# Core solve (jitted; flat batch)
# ----------------------------------------------------------------------------------
class _Core(NamedTuple):
    currents: jax.Array  # (B, C) A
    u: jax.Array  # (R, C, B) scaled row voltages (column layout)
    w: jax.Array  # (R, C, B) scaled column voltages
    residual: jax.Array  # (B,)
    iterations: jax.Array
    status: jax.Array
    fac: _Factors
    g_ref: jax.Array  # () S
    v_ref: jax.Array  # (B,) V


def _scales(conductance, v_flat):
    g_ref = jnp.max(conductance)
    g_ref = jnp.where(g_ref > 0, g_ref, 1).astype(conductance.dtype)
    v_ref = jnp.max(jnp.abs(v_flat), axis=-1)
    v_ref = jnp.where(v_ref > 0, v_ref, 1).astype(v_flat.dtype)
    return g_ref, v_ref


@jax.jit
def _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter) -> _Core:
    """Solve for a flat batch ``v_flat`` (B, R). All arguments are arrays (no retrace)."""
    g_ref, v_ref = _scales(conductance, v_flat)
    fac = _factor(conductance / g_ref, r_row * g_ref, r_col * g_ref)
    v = (v_flat / v_ref[:, None]).T[:, None, :]  # (R, 1, B)
    # Row voltages with the columns held at 0 V: u0 = v − ρ_r A_r⁻¹(Ĝ v).
    v_full = jnp.broadcast_to(v, conductance.shape + v.shape[2:])
    u0 = v - fac.rho_row * _row_solve_g(fac, v_full)
    b = fac.rho_col * fac.g_col * u0
    cg = _schur_cg(fac, b, tol, max_iter)
    w = cg.w
    u = u0 + fac.rho_row * _row_solve_g(fac, w)
    currents = jnp.sum(fac.g_col * (u - w), axis=0).T * (g_ref * v_ref[:, None])  # (B, C)
    return _Core(currents, u, w, cg.residual, cg.iterations, cg.status, fac, g_ref, v_ref)


# ----------------------------------------------------------------------------------
# Validation and failure handling
# ----------------------------------------------------------------------------------
def _prepare(conductance, v_rows, r_row, r_col, tol, max_iter, on_failure):
    if on_failure not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_failure must be 'raise', 'warn' or 'ignore', got {on_failure!r}")
    conductance = jnp.asarray(conductance)
    v_rows = jnp.asarray(v_rows)
    if conductance.ndim != 2:
        raise ValueError(f"conductance must have shape (rows, cols), got shape {conductance.shape}; "
                         "use jax.vmap for a stack of arrays")
    if v_rows.ndim < 1 or v_rows.shape[-1] != conductance.shape[0]:
        raise ValueError(f"v_rows must have shape (..., rows) with rows = conductance.shape[0] = "
                         f"{conductance.shape[0]}, got shape {v_rows.shape}")
    dtype = jnp.result_type(conductance, v_rows, jnp.float32)
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"conductance and v_rows must be float32 or float64, got {dtype}")
    for name, r in (("r_row", r_row), ("r_col", r_col)):
        if jnp.ndim(r) != 0:
            raise ValueError(f"{name} must be a scalar resistance per segment (Ω), got shape {jnp.shape(r)}")
        check_nonnegative(name, r)
    check_positive("conductance", conductance)
    if is_concrete(v_rows) and not np.all(np.isfinite(np.asarray(v_rows, dtype=np.float64))):
        raise ValueError("v_rows must be finite, got a non-finite value")
    if tol is None:
        tol = DEFAULT_TOL[np.dtype(dtype)]
    check_positive("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1) if not isinstance(max_iter, jax.Array) else max_iter
    return (conductance.astype(dtype), v_rows.astype(dtype), jnp.asarray(r_row, dtype),
            jnp.asarray(r_col, dtype), jnp.asarray(tol, dtype), jnp.asarray(max_iter, jnp.int32))


def _failure_message(status, residual, iterations, tol) -> str:
    status = np.atleast_1d(np.asarray(status))
    residual = np.atleast_1d(np.asarray(residual))
    iterations = np.atleast_1d(np.asarray(iterations))
    bad = np.flatnonzero(status != IRDropStatus.CONVERGED)
    k = bad[0]
    return (f"IR-drop solve did not converge for {bad.size} of {status.size} input vector(s): "
            f"{_STATUS_TEXT[IRDropStatus(int(status[k]))]}; e.g. vector {k}: residual "
            f"{residual[k]:.3g} > tol {float(tol):.3g} after {int(iterations[k])} iterations. "
            "Raise max_iter or tol, or use float64.")


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
                            "raise max_iter or tol, or use float64")

    def _warn(status, residual, iterations, tol):
        if np.any(np.asarray(status) != IRDropStatus.CONVERGED):
            warnings.warn(_failure_message(status, residual, iterations, tol), RuntimeWarning)

    jax.debug.callback(_warn, sol.status, sol.residual, sol.iterations, sol.tol)
    return payload


# ----------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------
def solve_crossbar(conductance, v_rows, *, r_row, r_col, tol: float | None = None,
                   max_iter: int = DEFAULT_MAX_ITER,
                   on_failure: OnFailure = "raise") -> IRDropSolution:
    """Solve the resistive network of a crossbar with wire resistance (IR drop).

    Args:
        conductance: cell conductances, S, shape ``(rows, cols)``; positive and finite.
        v_rows: driver voltages, V, shape ``batch + (rows,)``; every input vector is
            solved on the same array.
        r_row: resistance of one row-wire segment, Ω, scalar ≥ 0.
        r_col: resistance of one column-wire segment, Ω, scalar ≥ 0.
        tol: relative tolerance on the true preconditioned residual (see module
            docstring). Default: 1e-10 in float64, 1e-5 in float32.
        max_iter: maximum total number of CG iterations.
        on_failure: what to do when an input vector does not converge: ``"raise"``
            (:class:`IRDropConvergenceError` on concrete values, ``equinox.error_if``
            under ``jit``), ``"warn"`` (RuntimeWarning; via a debug callback under
            ``jit``) or ``"ignore"`` (inspect ``converged``/``status`` yourself).

    Returns:
        :class:`IRDropSolution`. Its dtype is that of ``conductance`` and ``v_rows``
        (float32 or float64).

    Works under ``jax.jit`` and ``jax.vmap`` (e.g. over a stack of conductance
    arrays). Value checks (positivity, finiteness) are skipped on tracers; shape checks
    always apply. With ``r_row = r_col = 0`` (concrete) the ideal answer
    ``v_rows @ conductance`` is returned exactly, with no iteration; a single zero
    resistance makes the problem a set of independent lines, solved directly (0 or 1
    CG iteration).

    Not differentiable through the iterations: use :func:`crossbar_currents` for
    gradients.

    >>> import jax.numpy as jnp
    >>> g = jnp.full((4, 3), 1e-6)
    >>> sol = solve_crossbar(g, jnp.ones(4), r_row=1.0, r_col=1.0)
    >>> bool(sol.converged), sol.column_currents.shape
    (True, (3,))
    """
    conductance, v_rows, r_row, r_col, tol, max_iter = _prepare(
        conductance, v_rows, r_row, r_col, tol, max_iter, on_failure)
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    v_flat = v_rows.reshape((-1, rows))
    if is_concrete((r_row, r_col)) and float(r_row) == 0.0 and float(r_col) == 0.0:
        currents = v_rows @ conductance
        u = jnp.broadcast_to(v_rows[..., :, None], batch + (rows, cols))
        zeros = jnp.zeros(batch, conductance.dtype)
        sol = IRDropSolution(currents, u, jnp.zeros_like(u), zeros,
                             jnp.zeros(batch, jnp.int32), jnp.zeros(batch, jnp.int32),
                             conductance, v_rows, r_row, r_col, tol)
        return sol
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter)
    sol = _solution_from_core(core, conductance, v_rows, r_row, r_col, tol)
    return _handle_failure(sol, on_failure)


def _solution_from_core(core: _Core, conductance, v_rows, r_row, r_col, tol) -> IRDropSolution:
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    scale = core.v_ref[:, None, None]

    def volts(x):  # (R, C, B) scaled -> batch + (R, C) V
        return (jnp.transpose(x, (2, 0, 1)) * scale).reshape(batch + (rows, cols))

    return IRDropSolution(
        column_currents=core.currents.reshape(batch + (cols,)),
        row_voltages=volts(core.u), column_voltages=volts(core.w),
        residual=core.residual.reshape(batch), iterations=core.iterations.reshape(batch),
        status=core.status.reshape(batch), conductance=conductance, v_rows=v_rows,
        r_row=r_row, r_col=r_col, tol=tol)


def _kirchhoff_residual(conductance, v_rows, r_row, r_col, u, w):
    g = conductance
    cell = g * (u - w)
    # Row wire currents (rightward, segment left of node j) by Ohm's law; driver on the left.
    u_left = jnp.concatenate([v_rows[..., :, None], u[..., :, :-1]], axis=-1)
    g_row = jnp.where(r_row > 0, 1 / jnp.where(r_row > 0, r_row, 1), 0)
    g_col = jnp.where(r_col > 0, 1 / jnp.where(r_col > 0, r_col, 1), 0)
    j_row = g_row * (u_left - u)
    j_row_out = jnp.concatenate([j_row[..., 1:], jnp.zeros_like(j_row[..., :1])], axis=-1)
    row_imbalance = j_row - j_row_out - cell
    # Column wire currents (downward, segment below node i); ground below the last row.
    w_below = jnp.concatenate([w[..., 1:, :], jnp.zeros_like(w[..., :1, :])], axis=-2)
    j_col = g_col * (w - w_below)
    j_col_in = jnp.concatenate([jnp.zeros_like(j_col[..., :1, :]), j_col[..., :-1, :]], axis=-2)
    col_imbalance = cell + j_col_in - j_col
    # Zero-resistance lines are equipotential: their KCL holds by construction.
    row_imbalance = jnp.where(r_row > 0, row_imbalance, 0)
    col_imbalance = jnp.where(r_col > 0, col_imbalance, 0)
    num = jnp.sqrt(jnp.sum(row_imbalance**2 + col_imbalance**2, axis=(-2, -1)))
    den = jnp.sqrt(jnp.sum((g * v_rows[..., :, None]) ** 2, axis=(-2, -1)))
    return _safe_div(num, den)


# ----------------------------------------------------------------------------------
# Differentiable column currents (implicit differentiation)
# ----------------------------------------------------------------------------------
def crossbar_currents(conductance, v_rows, *, r_row, r_col, tol: float | None = None,
                      max_iter: int = DEFAULT_MAX_ITER,
                      on_failure: OnFailure = "raise") -> jax.Array:
    """Column currents of a crossbar with IR drop, differentiable by implicit differentiation.

    Same arguments as :func:`solve_crossbar`. Returns the column currents, A, shape
    ``batch + (cols,)``. Differentiable (reverse mode) with respect to ``conductance``,
    ``v_rows``, ``r_row`` and ``r_col``: the backward pass solves the adjoint network
    (same operator, same factorisation, the cotangent as right-hand side) with the same
    ``tol``/``max_iter``/``on_failure``; it never differentiates through the iterations.
    """
    conductance, v_rows, r_row, r_col, tol, max_iter = _prepare(
        conductance, v_rows, r_row, r_col, tol, max_iter, on_failure)
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    v_flat = v_rows.reshape((-1, rows))
    currents = _currents_vjp(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure)
    return currents.reshape(batch + (cols,))


def _check_core(core, conductance, v_flat, r_row, r_col, tol, on_failure, payload):
    sol = IRDropSolution(core.currents, None, None, core.residual, core.iterations, core.status,
                         conductance, v_flat, r_row, r_col, tol)
    return _handle_failure(sol, on_failure, payload)


def _currents_primal(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter)
    return _check_core(core, conductance, v_flat, r_row, r_col, tol, on_failure, core.currents)


_currents_vjp = jax.custom_vjp(_currents_primal, nondiff_argnums=(6,))


def _currents_fwd(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter)
    currents = _check_core(core, conductance, v_flat, r_row, r_col, tol, on_failure, core.currents)
    return currents, (core, conductance, v_flat, tol, max_iter)


def _currents_bwd(on_failure, saved, cotangent):
    core, conductance, v_flat, tol, max_iter = saved
    grads, adj = _adjoint(core, conductance, cotangent, tol, max_iter)
    grads = _check_core(adj, conductance, v_flat, core.fac.rho_row, core.fac.rho_col, tol,
                        on_failure, grads)
    g_cond, g_v, g_rr, g_rc = grads
    return g_cond, g_v, g_rr, g_rc, jnp.zeros_like(tol), None


@jax.jit
def _adjoint(core: _Core, conductance, cotangent, tol, max_iter):
    """Reverse-mode cotangents of the column currents by one adjoint network solve.

    With ``L = Σ Ī_bj I_bj`` and the adjoint ``A λ = ∂L/∂x`` of the nodal system,
    ``φ = Ī_j − λ_u + λ_w`` per cell gives ``∂L/∂G = Σ_b φ (V_row − V_col)``,
    ``∂L/∂V_i = Σ_j G_ij φ_ij`` and ``∂L/∂r = −Σ J J_φ`` over the segments of the row
    (column) wires, with J the wire currents and J_φ the adjoint wire currents
    (cumulative sums of ``G (V_row − V_col)`` and of ``G φ`` along the lines).
    """
    fac = core.fac
    bar_ref = jnp.max(jnp.abs(cotangent), axis=-1)
    bar_ref = jnp.where(bar_ref > 0, bar_ref, 1).astype(cotangent.dtype)
    bar = (cotangent / bar_ref[:, None]).T[None, :, :]  # (1, C, B) scaled cotangent
    bar_full = jnp.broadcast_to(bar, fac.g_col.shape[:1] + bar.shape[1:])
    # Adjoint "row voltages" with λ_w = 0, and the Schur right-hand side.
    u0_adj = bar_full - fac.rho_row * _row_solve_g(fac, bar_full)
    b = -fac.rho_col * fac.g_col * u0_adj
    cg = _schur_cg(fac, b, tol, max_iter)
    lam_w = cg.w
    psi = _row_solve_g(fac, bar_full + lam_w)  # λ_u = ρ_r ψ
    phi = bar_full - fac.rho_row * psi + lam_w  # (R, C, B), units of the scaled cotangent
    v_ref = core.v_ref
    g_ref = core.g_ref
    dv = core.u - core.w  # scaled cell voltages
    phi_phys = phi * bar_ref  # units of the cotangent
    g_cond = jnp.einsum("rcb,rcb,b->rc", phi_phys, dv, v_ref)
    g_v = (jnp.sum(fac.g_col * phi_phys, axis=1) * g_ref).T  # (B, R)
    cell = fac.g_col * dv  # scaled cell currents (× g_ref v_ref)
    gphi = fac.g_col * phi_phys  # (× g_ref)
    row_j = jnp.flip(jnp.cumsum(jnp.flip(cell, 1), axis=1), 1)
    row_jphi = jnp.flip(jnp.cumsum(jnp.flip(gphi, 1), axis=1), 1)
    col_j = jnp.cumsum(cell, axis=0)
    col_jphi = jnp.cumsum(gphi, axis=0)
    scale = g_ref * g_ref * v_ref
    g_rr = -jnp.sum(jnp.sum(row_j * row_jphi, axis=(0, 1)) * scale)
    g_rc = -jnp.sum(jnp.sum(col_j * col_jphi, axis=(0, 1)) * scale)
    grads = (g_cond, g_v, g_rr, g_rc)
    adj = _Core(None, None, None, cg.residual, cg.iterations, cg.status, fac, g_ref, v_ref)
    return grads, adj


_currents_vjp.defvjp(_currents_fwd, _currents_bwd)
