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
``S = T_c − D T_r⁻¹ D``, preconditioned by ``T_c`` (exact solves of every column line)
plus a two-level (coarse-space) correction. Each iteration costs one tridiagonal solve
of every row line and one of every column line (scans along the lines, vectorised
across lines and across the batch of input vectors, which share the factorisation and
iterate together; sequential loops on CPUs, log-depth ``lax.associative_scan`` on
accelerators, see ``method``). ``T_c p`` is carried by recurrence instead of recomputed
(recomputing it in float32 loses digits). ``u₀ = V T_r⁻¹ e_0`` is a per-array profile,
and the final ``T_r⁻¹ D w`` comes from the last residual check, so the input vectors
cost no row solves besides the iterations and that check.

The line preconditioner alone leaves the smooth error modes slow — those longer than
the wire decay length ``1/√(r G)`` in both directions, where ``S`` is close to a 2-D
wire Laplacian — so iterations grew with ``N √(r G)`` (31 at 1024², r·G = 1e-3). The
coarse space ``Z = P ⊗ Q`` holds the products of the ``k_i`` lowest column-line and
``k_j`` lowest row-line Laplacian modes (cosines/sines, independent of ``G``); with the
exact Galerkin matrices ``E = Zᵀ S Z`` and ``F = Zᵀ T_c Z`` the preconditioner is
``M = T_c⁻¹ + Z (E⁻¹ − F⁻¹) Zᵀ``: symmetric positive definite (``E ≤ F``), equal to
``T_c⁻¹`` away from the coarse space and turning it into ``E⁻¹`` on it. ``E`` is built
from one row solve with ``k_j`` right-hand sides per conductance array, written
without cancellation (``S = L_c + ρ_c Ĝ T_r⁻¹ L_r``) and with the Laplacians applied to
the rounded bases, so it stays the Galerkin matrix of the iterated operator in float32;
each iteration adds three thin GEMMs (``Pᵀ r``, ``P c``, ``L_c P c``). (Deflated CG with
the same space converged equally in float64 but broke down in float32 once the
residual reached rounding level; this additive form does not.) The number of modes is
chosen per call (``coarse_modes``), more of them along the rows than along the columns.
Measured (float32, tol 1e-5, 1024², batch 64): 2 / 2 / 2 / 3 iterations at r·G = 1e-6 /
1e-5 / 1e-4 / 1e-3, against 3 / 5 / 12 / 31 with the line preconditioner alone (a
diagonal one needs thousands).

Everything is done in scaled, dimensionless units (conductances relative to
``max(G)``, voltages relative to ``max|V|`` per input vector, wire resistance as the
ratio ``ρ = r · max(G)``), with the row voltages assembled from two cancellation-free
terms (``V T_r⁻¹ e_0`` and ``ρ_r T_r⁻¹ Ĝ w``), so float32 is accurate (column currents within ~1e-6–5e-5 of the
float64 answer, relative to the largest, up to 1024² and r·G = 1e-3) and zero wire
resistance is an ordinary case (``ρ = 0``).

Convergence is measured by the *true* preconditioned residual, recomputed from the
iterate at the end of each CG cycle (residual replacement): ``residual =
‖T_c⁻¹(D u₀ − S w)‖₂ / ‖T_c⁻¹ D u₀‖₂``, the relative size of the column-voltage change
that one more exact block Gauss–Seidel sweep would make. If it exceeds ``tol`` CG is
restarted from the true residual; if a restart no longer reduces it (the tolerance is
below what the dtype can resolve) the solve stops with ``status = STAGNATED``.
Kirchhoff's law can be checked independently with
:meth:`IRDropSolution.kirchhoff_residual`.

Matrix products (the coarse correction, the Galerkin matrices, the ideal MVM at zero
wire resistance) use ``precision=HIGHEST``: true float32 on GPUs, not TF32.

Gradients
---------
:func:`crossbar_currents` is differentiable with respect to ``conductance``,
``v_rows``, ``r_row`` and ``r_col`` by implicit differentiation (``jax.custom_vjp``):
the adjoint of the symmetric nodal system is one more solve with the same operator and
the same factorisation, never a backward pass through the iterations.
"""
from __future__ import annotations

import enum
import warnings
from functools import partial
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
Method = Literal["auto", "sequential", "parallel"]

#: Default relative tolerance of the preconditioned residual, per dtype. float32 cannot
#: resolve much below ~1e-6 (rounding in the line solves); 1e-5 gives column currents
#: within ~1e-5 relative of the float64 answer.
DEFAULT_TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
DEFAULT_MAX_ITER = 2000

#: Precision of every matrix product here (see the module docstring): JAX's default
#: float32 on NVIDIA GPUs is TF32 (~1e-3 relative), which would make the coarse
#: correction differ between applications. On CPUs the setting changes nothing.
_HIGHEST = lax.Precision.HIGHEST


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
    """Line operators of one conductance array, in scaled units.

    Internal layouts put the batch of input vectors *last* (and drop it when there is
    a single vector): "column layout" ``(rows, cols) + bs`` scans along rows (column
    lines), "row layout" ``(cols, rows) + bs`` scans along columns (row lines), with
    ``bs = ()`` or ``(B,)``. Switching layouts swaps the two leading axes; with the
    batch innermost XLA does this at about the cost of a copy, fused or not (a batch
    axis between them, or a trailing axis of size 1, made it 5–20× slower). With 16 or
    more vectors on the CPU the row lines are instead solved in place along axis 1 of
    the column layout (``rows_in_place``), 16 rows at a time
    (:func:`_row_ladder_blocked`): each step then touches contiguous runs of ≥ 64
    bytes within one slab of rows, which beats two transposes.
    """

    g_col: jax.Array  # (R, C) + ones: conductance / g_ref, column layout
    g_row: jax.Array  # (C, R) + ones in row layout, or (R, C) + ones if rows_in_place
    m_col: jax.Array  # (R, C) + ones: reciprocal pivots of the column lines
    m_row: jax.Array  # reciprocal pivots of the row lines, layout as g_row
    rho_row: jax.Array  # () r_row * g_ref
    rho_col: jax.Array  # () r_col * g_ref
    drive: jax.Array  # (R, C) + ones: A_r⁻¹ e_0, row-node voltages per unit drive, columns at 0 V
    coarse: "_Coarse | None"  # two-level correction of the column solves (None: off)


class _Coarse(NamedTuple):
    """Coarse space of the Schur complement: ``Z = P ⊗ Q``, smooth products of line modes.

    ``P`` (``R × k_i``) are the lowest eigenvectors of the column Laplacian (cosines,
    open top, ground below), ``Q`` (``C × k_j``) those of the row Laplacian (sines,
    driver left, open right), both orthonormal and built in float64 before rounding.
    ``kmat = E⁻¹ − F⁻¹`` with ``E = Zᵀ S Z`` and ``F = Zᵀ A_c Z`` (``E ≤ F``, so
    ``kmat`` is positive semi-definite); see :func:`_coarse_space`.
    """

    p: jax.Array  # (R, k_i)
    lp: jax.Array  # (R, k_i): L_c p, the column Laplacian applied to the rounded basis
    q: jax.Array  # (C, k_j)
    kmat: jax.Array  # (k_i k_j, k_i k_j)


def _reciprocal_pivots(shunt: jax.Array, *, open_end_last: bool, parallel: bool) -> jax.Array:
    """Reciprocal pivots ``1/(1 + s_k)`` of ladder lines, eliminated from the open end.

    The line operator (in units of one segment's conductance) is the path Laplacian
    with a Dirichlet segment at one end, open at the other, plus ``diag(shunt)``.
    Eliminating from the open end, ``s_open = shunt_open`` and
    ``s_k = shunt_k + s_{k−1}/(1 + s_{k−1})``: a sum of positive terms, so no
    cancellation, unlike the textbook elimination from the driven end. In parallel
    mode the recurrence is a product of Möbius matrices ``[[1+a, a], [1, 1]]`` (all
    entries positive) evaluated by an associative scan.

    Args:
        shunt: ``(N, M)``, dimensionless shunt conductance ``ρ G/g_ref`` along axis 0.
        open_end_last: True if the open end is at index ``N − 1``.
    """
    if parallel:
        one = jnp.ones_like(shunt)
        mats = (one + shunt, shunt, one, one)

        def compose(earlier, later):
            e00, e01, e10, e11 = earlier
            l00, l01, l10, l11 = later
            p00, p01 = l00 * e00 + l01 * e10, l00 * e01 + l01 * e11
            p10, p11 = l10 * e00 + l11 * e10, l10 * e01 + l11 * e11
            return p00 / p11, p01 / p11, p10 / p11, jnp.ones_like(p11)

        _, s, _, _ = lax.associative_scan(compose, mats, reverse=open_end_last, axis=0)
        return 1.0 / (1.0 + s)

    def step(h, shunt_k):
        s = shunt_k + h
        m = 1.0 / (1.0 + s)
        return s * m, m

    _, m = lax.scan(step, jnp.zeros_like(shunt[0]), shunt, reverse=open_end_last)
    return m


def _recurrence(a: jax.Array, b: jax.Array, *, reverse: bool, parallel: bool) -> jax.Array:
    """``x_k = a_k x_{k−1} + b_k`` along axis 0 from ``x = 0`` (from the end if ``reverse``)."""
    if parallel:
        def combine(earlier, later):
            a_e, b_e = earlier
            a_l, b_l = later
            return a_e * a_l, a_l * b_e + b_l

        return lax.associative_scan(combine, (jnp.broadcast_to(a, b.shape), b),
                                    reverse=reverse, axis=0)[1]

    def step(x, ab):
        a_k, b_k = ab
        x = a_k * x + b_k
        return x, x

    _, x = lax.scan(step, jnp.zeros_like(b[0]), (a, b), reverse=reverse)
    return x


def _line_solve(m: jax.Array, f: jax.Array, *, open_end_last: bool, parallel: bool) -> jax.Array:
    """Solve every ladder line ``A x = f`` along axis 0 with precomputed pivots.

    Elimination from the open end carries the injected current towards the driven
    end (``e_k = m_k (f_k + e_{k−1})``), substitution runs back
    (``x_k = e_k + m_k x_{k+1}``). Both are first-order recurrences with positive
    coefficients ``m_k ∈ (0, 1]``.

    Args:
        m: ``(N, M) + ones`` reciprocal pivots from :func:`_reciprocal_pivots`.
        f: ``(N, M) + bs`` right-hand sides (injected currents, scaled).
    """
    if parallel:
        e = _recurrence(m, m * f, reverse=open_end_last, parallel=True)
        return _recurrence(m, e, reverse=not open_end_last, parallel=True)

    def eliminate(carry, xs):
        m_k, f_k = xs
        e = m_k * (f_k + carry)
        return e, e

    def substitute(x, xs):
        m_k, e_k = xs
        x = e_k + m_k * x
        return x, x

    zero = jnp.zeros_like(f[0])
    _, e = lax.scan(eliminate, zero, (m, f), reverse=open_end_last)
    _, x = lax.scan(substitute, zero, (m, e), reverse=not open_end_last)
    return x


def _swap(x: jax.Array) -> jax.Array:
    """Column layout ``(R, C) + bs`` <-> row layout ``(C, R) + bs``."""
    return jnp.swapaxes(x, 0, 1)


def _ones(x: jax.Array, nbatch: int) -> jax.Array:
    return x.reshape(x.shape + (1,) * nbatch)


def _ladder_in_place(m: jax.Array, x: jax.Array, *, axis: int, open_end_last: bool,
                     g: jax.Array | None = None, scratch: jax.Array | None = None) -> jax.Array:
    """``A⁻¹ (g x)`` (``g`` omitted: ``A⁻¹ x``) for the ladder lines along ``axis`` of
    column-layout arrays ``(R, C) + bs``, without transposes or stacked scan outputs.

    Same recurrences as :func:`_line_solve`; the elimination writes into ``scratch``
    (any array of ``x``'s shape whose contents are no longer needed, e.g. a buffer
    carried by the CG loop; saves allocating and zero-filling a new one) and the
    substitution overwrites it, so one full-size buffer serves the whole solve. The
    solver uses it for the column lines (axis 0); the row lines (axis 1) are faster
    a block of rows at a time, :func:`_row_ladder_blocked`.
    """
    n = x.shape[axis]

    def take(a, j):
        return lax.dynamic_index_in_dim(a, j, axis, keepdims=False)

    def eliminate(k, state):
        carry, out = state
        j = n - 1 - k if open_end_last else k
        f = take(x, j) if g is None else take(g, j) * take(x, j)
        e = take(m, j) * (f + carry)
        return e, lax.dynamic_update_index_in_dim(out, e, j, axis)

    def substitute(k, state):
        carry, out = state
        j = k if open_end_last else n - 1 - k
        xj = take(out, j) + take(m, j) * carry
        return xj, lax.dynamic_update_index_in_dim(out, xj, j, axis)

    zero = jnp.zeros_like(take(x, 0))
    _, e = lax.fori_loop(0, n, eliminate, (zero, jnp.zeros_like(x) if scratch is None else scratch))
    _, out = lax.fori_loop(0, n, substitute, (zero, e))
    return out


#: Rows per block of :func:`_row_ladder_blocked`.
_ROW_BLOCK = 16


def _row_ladder_blocked(m: jax.Array, x: jax.Array, *, open_end_last: bool,
                        g: jax.Array | None = None, scratch: jax.Array | None = None) -> jax.Array:
    """:func:`_ladder_in_place` along axis 1 (the row lines), a block of rows at a time.

    The elimination and substitution of ``_ROW_BLOCK`` rows run over all columns
    before the next block starts, so each step reads and writes ``(nb, 1) + bs``
    windows of one contiguous ``(nb, C) + bs`` slab instead of one run per row of the
    whole array (1024², batch 64, float32, this CPU: 0.12–0.15 s per solve against
    0.20–0.21 s, identical results). The last block is shifted back to end at row
    ``R − 1``; rows it shares with the previous block are eliminated again from ``x``
    and get the same values.
    """
    rows, cols = x.shape[:2]
    nb = min(_ROW_BLOCK, rows)
    tail = (0,) * (x.ndim - 2)
    win_shape = (nb, 1) + x.shape[2:]

    def win(a, r0, j):
        return lax.dynamic_slice(a, (r0, j) + tail, (nb, 1) + a.shape[2:])

    def block(b, out):
        r0 = jnp.minimum(b * nb, rows - nb)

        def eliminate(k, state):
            carry, out = state
            j = cols - 1 - k if open_end_last else k
            f = win(x, r0, j) if g is None else win(g, r0, j) * win(x, r0, j)
            e = win(m, r0, j) * (f + carry)
            return e, lax.dynamic_update_slice(out, e, (r0, j) + tail)

        def substitute(k, state):
            carry, out = state
            j = k if open_end_last else cols - 1 - k
            xj = win(out, r0, j) + win(m, r0, j) * carry
            return xj, lax.dynamic_update_slice(out, xj, (r0, j) + tail)

        zero = jnp.zeros(win_shape, x.dtype)
        _, out = lax.fori_loop(0, cols, eliminate, (zero, out))
        _, out = lax.fori_loop(0, cols, substitute, (zero, out))
        return out

    out = jnp.zeros_like(x) if scratch is None else scratch
    return lax.fori_loop(0, -(-rows // nb), block, out)


#: Batch size from which the CPU path solves row lines in place (see ``_Factors``).
_IN_PLACE_MIN_BATCH = 16


class _Ops(NamedTuple):
    """The line solves and products of one factorisation (closure over static modes)."""

    fac: _Factors
    parallel: bool
    rows_in_place: bool

    def row_solve_g(self, x_col, scratch=None):
        """``A_r⁻¹ (Ĝ x)`` for ``x`` in column layout; result in column layout."""
        if self.rows_in_place:
            return _row_ladder_blocked(self.fac.m_row, x_col, open_end_last=True,
                                       g=self.fac.g_row, scratch=scratch)
        f = self.fac.g_row * _swap(x_col)
        return _swap(_line_solve(self.fac.m_row, f, open_end_last=True, parallel=self.parallel))

    def col_solve(self, f, scratch=None, g=False):
        """``A_c⁻¹ f`` (``g=True``: ``A_c⁻¹ (Ĝ f)``) in column layout; in place in
        ``scratch`` on the CPU path with a batch (see :func:`_ladder_in_place`)."""
        if self.rows_in_place:
            return _ladder_in_place(self.fac.m_col, f, axis=0, open_end_last=False,
                                    g=self.fac.g_col if g else None, scratch=scratch)
        f = self.fac.g_col * f if g else f
        return _line_solve(self.fac.m_col, f, open_end_last=False, parallel=self.parallel)

    def coarse(self, r):
        """``(Z kmat Zᵀ r, A_c Z kmat Zᵀ r)`` for ``r`` in column layout (``None``
        without a coarse space). The full-size work is three thin GEMMs over the
        column axis (``Pᵀ r``, ``P c``, ``L_c P c``); the rest is small."""
        cs = self.fac.coarse
        if cs is None:
            return None
        rows, cols = r.shape[:2]
        ki, kj = cs.p.shape[1], cs.q.shape[1]
        bs = r.shape[2:]
        t = jnp.matmul(cs.p.T, r.reshape(rows, -1), precision=_HIGHEST).reshape((ki, cols) + bs)
        t = jnp.einsum("aj...,jb->ab...", t, cs.q, precision=_HIGHEST).reshape((ki * kj,) + bs)
        c = jnp.tensordot(cs.kmat, t, axes=1, precision=_HIGHEST).reshape((ki, kj) + bs)
        cq = jnp.einsum("ab...,jb->aj...", c, cs.q, precision=_HIGHEST).reshape(ki, -1)
        zc = jnp.matmul(cs.p, cq, precision=_HIGHEST).reshape(r.shape)
        lzc = jnp.matmul(cs.lp, cq, precision=_HIGHEST).reshape(r.shape)
        return zc, lzc + self.fac.rho_col * self.fac.g_col * zc

    def col_apply(self, x):
        """``A_c x = (L_c + ρ_c Ĝ) x`` in column layout (column Laplacian, ground below)."""
        zero = jnp.zeros_like(x[:1])
        down = x - jnp.concatenate([x[1:], zero])  # x_i − x_{i+1}, x_R = 0 (ground)
        lap = down - jnp.concatenate([zero, down[:-1]])
        return lap + self.fac.rho_col * self.fac.g_col * x


def _factor(g_hat: jax.Array, rho_row, rho_col, nbatch: int, parallel: bool,
            rows_in_place: bool, coarse: tuple[int, int] = (0, 0)) -> _Factors:
    g_row = g_hat.T
    m_row = _reciprocal_pivots(rho_row * g_row, open_end_last=True, parallel=parallel)
    m_col = _reciprocal_pivots(rho_col * g_hat, open_end_last=False, parallel=parallel)
    # Row voltages per unit drive with the columns at 0 V: A_r⁻¹ e_0 (= 1 − ρ_r A_r⁻¹ Ĝ 1,
    # without the cancellation), shared by every input vector.
    e0 = jnp.zeros_like(g_row).at[0].set(1)
    drive = _line_solve(m_row, e0, open_end_last=True, parallel=parallel).T
    cs = (_coarse_space(g_hat, m_row, rho_row, rho_col, coarse, parallel)
          if min(coarse) > 0 else None)
    if rows_in_place:
        g_row, m_row = g_hat, m_row.T
    return _Factors(_ones(g_hat, nbatch), _ones(g_row, nbatch), _ones(m_col, nbatch),
                    _ones(m_row, nbatch), rho_row, rho_col, _ones(drive, nbatch), cs)


def _line_modes(n: int, k: int, open_first: bool) -> np.ndarray:
    """Lowest ``k`` eigenvectors (orthonormal columns, float64) of a uniform line's
    Laplacian with one open and one grounded/driven end: ``cos(θ(i + ½))`` for the
    column lines (open at index 0), ``sin(θ(j + 1))`` for the row lines (driven before
    index 0, open at the end), ``θ = (m + ½)π / (n + ½)``."""
    idx = np.arange(n)[:, None]
    theta = (np.arange(k)[None] + 0.5) * np.pi / (n + 0.5)
    modes = np.cos(theta * (idx + 0.5)) if open_first else np.sin(theta * (idx + 1))
    return modes / np.linalg.norm(modes, axis=0)


def _col_laplacian(x: jax.Array) -> jax.Array:
    """Column-line Laplacian along axis 0 (open top, one segment to ground below)."""
    zero = jnp.zeros_like(x[:1])
    down = x - jnp.concatenate([x[1:], zero])
    return down - jnp.concatenate([zero, down[:-1]])


def _row_laplacian(x: jax.Array) -> jax.Array:
    """Row-line Laplacian along axis 0 (one segment to the driver before index 0, open end)."""
    left = x - jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]])
    return left - jnp.concatenate([left[1:], jnp.zeros_like(x[:1])])


def _coarse_space(g_hat, m_row, rho_row, rho_col, modes: tuple[int, int], parallel: bool) -> _Coarse:
    """Build the coarse space ``Z = P ⊗ Q`` and ``kmat = E⁻¹ − F⁻¹`` (see :class:`_Coarse`).

    With ``S = L_c + ρ_c Ĝ A_r⁻¹ L_r`` (the Schur complement written without
    cancellation: ``A_r − ρ_r Ĝ = L_r``) and ``A_c = L_c + ρ_c Ĝ``:

    ``E = (Pᵀ L_c P) ⊗ (QᵀQ) + ρ_c Σ_i (P_i P_iᵀ) ⊗ (Qᵀ Ĝ_i A_r,i⁻¹ L_r Q)`` and
    ``F = (Pᵀ L_c P) ⊗ (QᵀQ) + ρ_c Σ_i (P_i P_iᵀ) ⊗ (Qᵀ Ĝ_i Q)``.

    One row solve with ``k_j`` right-hand sides (``A_r⁻¹ L_r Q``) and small GEMMs; the
    Laplacians are applied to the *rounded* bases by their stencils (exact differences),
    so ``E`` is the Galerkin matrix of the operator actually iterated, also in float32.
    """
    dtype = g_hat.dtype
    rows, cols = g_hat.shape
    ki, kj = modes
    p = jnp.asarray(_line_modes(rows, ki, open_first=True), dtype)
    q = jnp.asarray(_line_modes(cols, kj, open_first=False), dtype)
    lp, lq = _col_laplacian(p), _row_laplacian(q)
    # A_r,i⁻¹ L_r Q for every row i: (C, R, k_j) in row layout
    v = _line_solve(m_row[..., None], jnp.broadcast_to(lq[:, None, :], (cols, rows, kj)),
                    open_end_last=True, parallel=parallel)
    # Q_bᵀ Ĝ_i A_r,i⁻¹ L_r Q_d as one GEMM over j: (k_j × C) @ (C × R k_j)
    h_s = jnp.matmul(q.T, (g_hat.T[:, :, None] * v).reshape(cols, -1),
                     precision=_HIGHEST).reshape(kj, rows, kj)
    h_s = jnp.transpose(h_s, (1, 0, 2))
    h_s = 0.5 * (h_s + jnp.swapaxes(h_s, 1, 2))
    h_a = jnp.matmul(g_hat, (q[:, :, None] * q[:, None, :]).reshape(cols, -1),
                     precision=_HIGHEST).reshape(rows, kj, kj)  # Q_bᵀ Ĝ_i Q_d
    base = jnp.einsum("ia,ic,bd->abcd", p, lp, jnp.matmul(q.T, q, precision=_HIGHEST),
                      precision=_HIGHEST)
    pp = p[:, :, None] * p[:, None, :]  # (R, k_i, k_i)
    m = ki * kj

    def galerkin(h):
        mat = base + rho_col * jnp.einsum("iac,ibd->abcd", pp, h, precision=_HIGHEST)
        mat = mat.reshape(m, m)
        return 0.5 * (mat + mat.T)

    eye = jnp.eye(m, dtype=dtype)
    e_inv = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(galerkin(h_s)), True), eye)
    f_inv = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(galerkin(h_a)), True), eye)
    kmat = e_inv - f_inv
    return _Coarse(p, lp, q, 0.5 * (kmat + kmat.T))


def _modes(method_parallel: bool, nvec: int) -> tuple[bool, bool]:
    """``(parallel, rows_in_place)`` for a solve of ``nvec`` vectors."""
    return method_parallel, (not method_parallel) and nvec >= _IN_PLACE_MIN_BATCH


def _dot(x: jax.Array, y: jax.Array) -> jax.Array:
    """Per-vector inner product: ``(N, M) + bs`` -> ``bs``."""
    return jnp.sum(x * y, axis=(0, 1))


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


class _CGOut(NamedTuple):
    w: jax.Array
    yw: jax.Array  # A_r⁻¹ Ĝ w of the returned w (zero if no CG cycle ran, w = 0)
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array


def _schur_cg(ops: _Ops, b: jax.Array, tol: jax.Array, max_iter: jax.Array) -> _CGOut:
    """Solve ``S w = b`` with ``S = A_c − ρ_r ρ_c Ĝ A_r⁻¹ Ĝ`` by PCG.

    The preconditioner is ``A_c⁻¹`` (exact solves of every column line), with the
    two-level correction of :meth:`_Ops.coarse` when the factors carry a coarse space.
    ``b`` is in column layout; every input vector of the batch has its own step
    lengths and stops independently. CG restarts from the recomputed true residual
    until that meets ``tol``, stops improving, or ``max_iter`` iterations are spent.

    Each cycle (outer loop) restarts CG from the true residual, runs CG steps (inner
    loop) until the recursive residual meets ``tol/2``, then recomputes the true one.
    """
    fac = ops.fac
    dtype = b.dtype
    bs = b.shape[2:]
    rho2 = fac.rho_row * fac.rho_col
    w0 = ops.col_solve(b)
    norm_w0 = jnp.sqrt(_dot(w0, w0))
    tol_inner = 0.5 * tol

    def relres(z):
        return _safe_div(jnp.sqrt(_dot(z, z)), norm_w0)

    def precondition(r, z_line):
        """``(M r, A_c M r)`` from ``z_line = A_c⁻¹ r``: the line solves alone, or with the
        two-level correction ``M = A_c⁻¹ + Z (E⁻¹ − F⁻¹) Zᵀ`` (symmetric positive definite
        since ``E ≤ F``; on the coarse space it turns ``A_c⁻¹`` into ``E⁻¹``)."""
        corr = ops.coarse(r)
        if corr is None:
            return z_line, r
        return z_line + corr[0], r + corr[1]

    def restart(c):
        """CG restarted from the true residual left by ``check_step`` in ``p`` (as
        ``z = A_c⁻¹ r``; ``r = A_c z``). Vectors no longer open restart too, harmlessly:
        they are inactive (zero steps)."""
        z_line = c["p"]
        r = ops.col_apply(z_line)
        z, a_z = precondition(r, z_line)
        return dict(c, r=r, p=z, q=a_z, rz=_dot(r, z))

    def cg_step(c):
        p, q, active = c["p"], c["q"], c["active"]
        y = ops.row_solve_g(p, scratch=c["y"] if ops.rows_in_place else None)
        sp = q - rho2 * fac.g_col * y  # S p, with q = A_c p carried
        psp = _dot(p, sp)
        ok = active & (psp > 0) & jnp.isfinite(psp)
        alpha = jnp.where(ok, _safe_div(c["rz"], psp), 0).astype(dtype)
        w = c["w"] + alpha * p
        r = c["r"] - alpha * sp
        # The previous check's yw is dead until the next check: its buffer takes z_line.
        z_line = ops.col_solve(r, scratch=c["yw"] if ops.rows_in_place else None)
        z, a_z = precondition(r, z_line)
        rz = _dot(r, z)
        beta = jnp.where(ok, _safe_div(rz, c["rz"]), 0).astype(dtype)
        return dict(c, w=w, r=r, p=z + beta * p, q=a_z + beta * q, rz=rz,
                    y=y if ops.rows_in_place else c["y"],
                    yw=z_line if ops.rows_in_place else c["yw"],
                    active=ok & (relres(z_line) > tol_inner),
                    iterations=c["iterations"] + active.astype(jnp.int32), n=c["n"] + 1,
                    breakdown=c["breakdown"] | (active & ~ok))

    def check_step(c):
        # True residual in voltage space, z = A_c⁻¹(b − S w) = w0 − w + ρ² A_c⁻¹ Ĝ A_r⁻¹ Ĝ w,
        # then r = A_c z: both accurate in float32, unlike b − S w evaluated directly.
        # (Not A_c⁻¹(b + ρ² Ĝ A_r⁻¹ Ĝ w) − w: at a floating-point fixed point of that
        # map it rounds to zero however far w is from the solution.)
        w, is_open = c["w"], c["open"]
        # Scratch buffers: the yw slot holds the last z_line (dead), r is recomputed
        # by the next restart.
        yw = ops.row_solve_g(w, scratch=c["yw"] if ops.rows_in_place else None)
        t = ops.col_solve(yw, scratch=c["r"] if ops.rows_in_place else None, g=True)
        z = w0 - w + rho2 * t
        res = relres(z)
        converged = res <= tol
        breakdown = c["breakdown"] | ~jnp.isfinite(res)
        # A CG cycle that ran to its own criterion but did not halve the true residual
        # will not reach tol (a cycle cut short by max_iter is MAX_ITERATIONS instead).
        stagnated = c["stagnated"] | (is_open & ~converged & (res > 0.5 * c["residual"])
                                      & (c["n"] < max_iter))
        still = is_open & ~converged & ~stagnated & ~breakdown & (c["n"] < max_iter)
        return dict(c, yw=yw, p=z, r=t if ops.rows_in_place else c["r"],
                    residual=jnp.where(is_open, res, c["residual"]), open=still,
                    active=still, stagnated=stagnated & ~converged, breakdown=breakdown)

    def inner_cond(c):
        return jnp.any(c["active"]) & (c["n"] < max_iter)

    def outer_cond(c):
        return jnp.any(c["open"])

    def outer_body(c):
        c = lax.while_loop(inner_cond, cg_step, restart(c))
        return check_step(c)

    res0 = relres(w0)
    zeros = jnp.zeros_like(b)
    is_open = res0 > tol
    none = jnp.zeros((), dtype)
    c = dict(w=zeros, yw=zeros, p=w0, rz=jnp.zeros(bs, dtype),
             y=zeros if ops.rows_in_place else none, r=b, q=zeros,  # r, q: set by restart
             residual=res0, open=is_open, active=is_open,
             stagnated=jnp.zeros(bs, bool), breakdown=~jnp.isfinite(res0),
             iterations=jnp.zeros(bs, jnp.int32), n=jnp.zeros((), jnp.int32))
    c = lax.while_loop(outer_cond, outer_body, c)
    status = jnp.where(
        c["breakdown"], IRDropStatus.BREAKDOWN,
        jnp.where(c["residual"] <= tol, IRDropStatus.CONVERGED,
                  jnp.where(c["stagnated"], IRDropStatus.STAGNATED, IRDropStatus.MAX_ITERATIONS)))
    return _CGOut(c["w"], c["yw"], c["residual"], c["iterations"], status.astype(jnp.int32))


# ----------------------------------------------------------------------------------
# Core solve (jitted; flat batch)
# ----------------------------------------------------------------------------------
class _Core(NamedTuple):
    currents: jax.Array  # (B, C) A
    u: jax.Array  # row voltages: (R, C) + bs scaled (column layout), (B, R, C) V or None
    w: jax.Array  # column voltages, likewise (see _solve_core's ``voltages``)
    residual: jax.Array  # (B,)
    iterations: jax.Array  # (B,)
    status: jax.Array  # (B,)
    fac: _Factors
    g_ref: jax.Array  # () S
    v_ref: jax.Array  # (B,) V


def _scales(conductance, v_flat):
    g_ref = jnp.max(conductance)
    g_ref = jnp.where(g_ref > 0, g_ref, 1).astype(conductance.dtype)
    v_ref = jnp.max(jnp.abs(v_flat), axis=-1)
    v_ref = jnp.where(v_ref > 0, v_ref, 1).astype(v_flat.dtype)
    return g_ref, v_ref


def _to_layout(x_flat: jax.Array) -> jax.Array:
    """``(B, N)`` per-vector data -> ``(N,) + bs`` (batch last, dropped when B = 1)."""
    return x_flat[0] if x_flat.shape[0] == 1 else x_flat.T


def _from_layout(x: jax.Array, nvec: int) -> jax.Array:
    """``(N, M) + bs`` -> ``(B, N, M)``; ``(N,) + bs`` -> ``(B, N)``."""
    if nvec == 1:
        return x[None]
    return jnp.moveaxis(x, -1, 0)


def _per_vector(x: jax.Array, nvec: int) -> jax.Array:
    """``bs`` -> ``(B,)``."""
    return jnp.reshape(x, (nvec,))


def _parallel_mode(method: str) -> bool:
    if method == "auto":
        return jax.default_backend() not in ("cpu",)
    return method == "parallel"


@partial(jax.jit, static_argnames=("parallel", "coarse", "voltages"))
def _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter, *, parallel: bool,
                coarse: tuple[int, int] = (0, 0),
                voltages: Literal["internal", "volts", "none"] = "internal") -> _Core:
    """Solve for a flat batch ``v_flat`` (B, R). All arguments but the keywords are arrays.

    ``coarse``: numbers of coarse modes along columns and rows. ``voltages``: node
    voltages returned scaled in the internal layout (``"internal"``, what
    :func:`_adjoint` needs), in volts as ``(B, R, C)`` (``"volts"``; the transpose is
    fused into the last pass over them) or not at all (``"none"``).
    """
    nvec = v_flat.shape[0]
    nbd = 0 if nvec == 1 else 1
    parallel, in_place = _modes(parallel, nvec)
    g_ref, v_ref = _scales(conductance, v_flat)
    fac = _factor(conductance / g_ref, r_row * g_ref, r_col * g_ref, nbd, parallel, in_place, coarse)
    ops = _Ops(fac, parallel, in_place)

    v = _to_layout(v_flat / v_ref[:, None])[:, None]  # (R, 1) + bs
    # Row voltages with the columns held at 0 V: u0 = v A_r⁻¹ e_0 (per array); S w = ρ_c Ĝ u0.
    cg = _schur_cg(ops, fac.rho_col * fac.g_col * (v * fac.drive), tol, max_iter)
    w = cg.w
    # u = A_r⁻¹(v e_0 + ρ_r Ĝ w), with A_r⁻¹ Ĝ w from the final residual check.
    u = v * fac.drive + fac.rho_row * cg.yw
    currents = _from_layout(jnp.sum(fac.g_col * (u - w), axis=0), nvec) * (g_ref * v_ref[:, None])
    if voltages == "volts":
        u, w = (_from_layout(x, nvec) * v_ref[:, None, None] for x in (u, w))
    elif voltages == "none":
        u = w = None
    return _Core(currents, u, w, _per_vector(cg.residual, nvec), _per_vector(cg.iterations, nvec),
                 _per_vector(cg.status, nvec), fac, g_ref, v_ref)


# ----------------------------------------------------------------------------------
# Validation and failure handling
# ----------------------------------------------------------------------------------
def _prepare(conductance, v_rows, r_row, r_col, tol, max_iter, on_failure, method):
    if on_failure not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_failure must be 'raise', 'warn' or 'ignore', got {on_failure!r}")
    if method not in ("auto", "sequential", "parallel"):
        raise ValueError(f"method must be 'auto', 'sequential' or 'parallel', got {method!r}")
    conductance = jnp.asarray(conductance)
    v_rows = jnp.asarray(v_rows)
    if conductance.ndim != 2:
        raise ValueError(f"conductance must have shape (rows, cols), got shape {conductance.shape}; "
                         "use jax.vmap for a stack of arrays")
    if conductance.size == 0:
        raise ValueError(f"conductance must have at least one row and one column, got shape {conductance.shape}")
    if v_rows.ndim < 1 or v_rows.shape[-1] != conductance.shape[0]:
        raise ValueError(f"v_rows must have shape (..., rows) with rows = conductance.shape[0] = "
                         f"{conductance.shape[0]}, got shape {v_rows.shape}")
    if v_rows.size == 0:
        raise ValueError(f"v_rows must hold at least one input vector, got shape {v_rows.shape}")
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
                   max_iter: int = DEFAULT_MAX_ITER, on_failure: OnFailure = "raise",
                   method: Method = "auto", coarse_modes: int | tuple[int, int] | None = None
                   ) -> IRDropSolution:
    """Solve the resistive network of a crossbar with wire resistance (IR drop).

    Args:
        conductance: cell conductances, S, shape ``(rows, cols)``; positive and finite.
        v_rows: driver voltages, V, shape ``batch + (rows,)``; every input vector is
            solved on the same array (one factorisation, iterated together).
        r_row: resistance of one row-wire segment, Ω, scalar ≥ 0.
        r_col: resistance of one column-wire segment, Ω, scalar ≥ 0.
        tol: relative tolerance on the true preconditioned residual (see module
            docstring). Default: 1e-10 in float64, 1e-5 in float32.
        max_iter: maximum total number of CG iterations.
        on_failure: what to do when an input vector does not converge: ``"raise"``
            (:class:`IRDropConvergenceError` on concrete values, ``equinox.error_if``
            under ``jit``), ``"warn"`` (RuntimeWarning; via a debug callback under
            ``jit``) or ``"ignore"`` (inspect ``converged``/``status`` yourself).
        method: how the tridiagonal line solves run: ``"sequential"`` (``lax.scan``
            along each line; fastest on CPUs), ``"parallel"`` (``lax.associative_scan``,
            log-depth; meant for GPUs/TPUs where a sequential scan costs a kernel
            launch per step) or ``"auto"`` (sequential on CPU, parallel otherwise).
        coarse_modes: size of the two-level (coarse-space) correction of the
            preconditioner, ``(k_i, k_j)`` smooth modes along the columns and the rows
            (an int for both; 0 switches it off). ``None`` (default): chosen from the
            wire/device ratio when ``conductance``, ``r_row`` and ``r_col`` are concrete
            (along the rows about 8× the number ``n`` of line modes longer than the
            decay length ``1/√(r G)``, plus 8; along the columns ``3 n + 2`` but at
            most half that; rounded up to multiples of 4, at most 4 for one vector and
            up to (32, 48) for a batch of 64 or more; off for arrays under 16 lines),
            off when any of them is traced (e.g. under ``jit``
            or ``vmap``; pass it explicitly there). It changes the iteration count, not
            the answer: the stopping criterion is the same.

    Returns:
        :class:`IRDropSolution`, in the dtype of ``conductance`` and ``v_rows``
        (float32 or float64).

    Works under ``jax.jit`` and ``jax.vmap`` (e.g. over a stack of conductance
    arrays). Value checks (positivity, finiteness) are skipped on tracers; shape checks
    always apply. With ``r_row = r_col = 0`` (concrete) the ideal answer
    ``v_rows @ conductance`` is returned exactly, with no iteration. A single zero
    resistance (ρ = 0 internally) leaves independent lines that the general path
    solves directly: zero CG iterations for ``r_col = 0``, one for ``r_row = 0``.

    Not differentiable through the iterations: use :func:`crossbar_currents` for
    gradients.

    >>> import jax.numpy as jnp
    >>> g = jnp.full((4, 3), 1e-6)
    >>> sol = solve_crossbar(g, jnp.ones(4), r_row=1.0, r_col=1.0)
    >>> bool(sol.converged), sol.column_currents.shape
    (True, (3,))
    """
    conductance, v_rows, r_row, r_col, tol, max_iter = _prepare(
        conductance, v_rows, r_row, r_col, tol, max_iter, on_failure, method)
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    if _both_zero(r_row, r_col):
        u = jnp.broadcast_to(v_rows[..., :, None], batch + (rows, cols))
        zero = jnp.zeros(batch, jnp.int32)
        return IRDropSolution(jnp.matmul(v_rows, conductance, precision=_HIGHEST), u, jnp.zeros_like(u),
                              jnp.zeros(batch, conductance.dtype), zero, zero,
                              conductance, v_rows, r_row, r_col, tol)
    v_flat = v_rows.reshape((-1, rows))
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter,
                       parallel=_parallel_mode(method),
                       coarse=_coarse_modes(conductance, r_row, r_col, coarse_modes, v_flat.shape[0]),
                       voltages="volts")
    nvec = v_flat.shape[0]

    def volts(x):  # (B, R, C), V -> batch + (R, C)
        return x.reshape(batch + (rows, cols))

    sol = IRDropSolution(
        column_currents=core.currents.reshape(batch + (cols,)),
        row_voltages=volts(core.u), column_voltages=volts(core.w),
        residual=core.residual.reshape(batch), iterations=core.iterations.reshape(batch),
        status=core.status.reshape(batch), conductance=conductance, v_rows=v_rows,
        r_row=r_row, r_col=r_col, tol=tol)
    return _handle_failure(sol, on_failure)


def crossbar_currents(conductance, v_rows, *, r_row, r_col, tol: float | None = None,
                      max_iter: int = DEFAULT_MAX_ITER, on_failure: OnFailure = "raise",
                      method: Method = "auto", coarse_modes: int | tuple[int, int] | None = None
                      ) -> jax.Array:
    """Column currents of a crossbar with IR drop, differentiable by implicit differentiation.

    Same arguments as :func:`solve_crossbar`. Returns the column currents, A, shape
    ``batch + (cols,)``. Differentiable (reverse mode: ``jax.grad``/``jax.vjp``) with
    respect to ``conductance``, ``v_rows``, ``r_row`` and ``r_col``: the backward pass
    solves the adjoint network (same operator and factorisation, the cotangent as
    right-hand side, same ``tol``/``max_iter``/``on_failure``) and never
    differentiates through the iterations. Forward mode (``jax.jvp``) is not supported.

    >>> import jax, jax.numpy as jnp
    >>> g = jnp.full((4, 3), 1e-6)
    >>> grad = jax.grad(lambda g: crossbar_currents(g, jnp.ones(4), r_row=1.0, r_col=1.0).sum())(g)
    >>> grad.shape
    (4, 3)
    """
    conductance, v_rows, r_row, r_col, tol, max_iter = _prepare(
        conductance, v_rows, r_row, r_col, tol, max_iter, on_failure, method)
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    if _both_zero(r_row, r_col):
        return jnp.matmul(v_rows, conductance, precision=_HIGHEST)
    v_flat = v_rows.reshape((-1, rows))
    currents = _currents(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure,
                         _parallel_mode(method),
                         _coarse_modes(conductance, r_row, r_col, coarse_modes, v_flat.shape[0]))
    return currents.reshape(batch + (cols,))


#: Coarse-space size rule (see ``coarse_modes``), with ``n = L √(r ḡ) / π`` counting the
#: line modes longer than the decay length ``1/√(r ḡ)`` (the slowly converging ones):
#: ``8 n + 8`` modes along the rows (``k_j``), and along the columns (``k_i``) ``3 n + 2``
#: but at most half of ``k_j`` (measured: the iterations depend less on the modes along
#: the columns, e.g. 4 with (16, 32) and 5 with (32, 16) at 1e-3), each rounded up to a
#: multiple of 4, at most the batch-dependent cap (at most _MAX_COARSE, 1.5× that along
#: the rows) and half the line length. Off for arrays with fewer than _MIN_COARSE_LINES
#: rows or columns (cheap anyway). Measured at 1024², batch 64, float32 (iterations without the coarse
#: space in brackets): (4, 12) modes and 2 (3) iterations at r·G = 1e-6, (8, 16) and 2 (5)
#: at 1e-5, (12, 32) and 2 (12) at 1e-4, (24, 48) and 3 (31) at 1e-3; the earlier square
#: rule, (4, 4) / (8, 8) / (12, 12) / (32, 32), needed 2 / 3 / 3 / 4, and the solves took
#: 2.64 / 3.32 / 3.23 / 4.35 s against 2.66 / 2.93 / 2.93 / 4.04 s (each pair timed in one
#: process with explicit ``coarse_modes``, best of 2–3; a one-off script, not in the
#: repository).
_MAX_COARSE = 32
_MIN_COARSE_LINES = 16


def _coarse_modes(conductance, r_row, r_col, coarse_modes, nvec: int) -> tuple[int, int]:
    """Static ``(k_i, k_j)`` of the coarse space (``(0, 0)``: off) for ``nvec`` vectors.

    Its set-up (one row solve with ``k_j`` right-hand sides, a ``k_i k_j``-square
    Cholesky) is shared by the batch, its savings (CG iterations) are per vector, so the
    cap grows with the batch: 4 modes for 1–3 vectors, 8 for 4–15, 16 for 16–63, 32 from
    64, and 1.5× that (rounded down to a multiple of 4) along the rows (measured at 1024²,
    r·G = 1e-3: batch 1 is fastest with 4 modes, 0.29 s against 0.41 s without and 0.9 s
    with 32; batch 64: (24, 48) 3.9–4.0 s and (32, 48) 4.0 s, 3 iterations, against
    (32, 32) 4.35 s and (16, 48) 4.4 s, 4 iterations, and (24, 64) 4.2 s).
    """
    rows, cols = conductance.shape
    if coarse_modes is not None:
        ks = (coarse_modes, coarse_modes) if np.ndim(coarse_modes) == 0 else tuple(coarse_modes)
        if len(ks) != 2:
            raise ValueError(f"coarse_modes must be an int or a pair of ints, got {coarse_modes!r}")
        ki, kj = (check_int("coarse_modes", k, minimum=0) for k in ks)
        ki, kj = min(ki, rows), min(kj, cols)
        return (ki, kj) if min(ki, kj) > 0 else (0, 0)
    if min(rows, cols) < _MIN_COARSE_LINES or not is_concrete((conductance, r_row, r_col)):
        return (0, 0)
    if float(r_row) == 0.0 or float(r_col) == 0.0:
        return (0, 0)  # independent lines: solved in 0 or 1 iteration anyway
    g_mean = float(jnp.mean(conductance))

    cap = min(_MAX_COARSE, 4 * 2 ** int(np.log2(max(nvec, 1)) // 2))
    cap_j = 4 * (3 * cap // 8)

    def smooth(length, r):
        return length * np.sqrt(float(r) * g_mean) / np.pi

    def up4(x):
        return 4 * int(np.ceil(x / 4))

    kj = int(min(up4(8 * smooth(cols, r_row) + 8), cap_j, cols // 2))
    ki = int(min(up4(3 * smooth(rows, r_col) + 2), up4(kj / 2), cap, rows // 2))
    return ki, kj


def _both_zero(r_row, r_col) -> bool:
    return is_concrete((r_row, r_col)) and float(r_row) == 0.0 and float(r_col) == 0.0


def _kirchhoff_residual(conductance, v_rows, r_row, r_col, u, w):
    g = conductance
    cell = g * (u - w)
    g_row = _safe_div(jnp.ones_like(r_row), r_row)
    g_col = _safe_div(jnp.ones_like(r_col), r_col)
    # Row wire currents (rightward, in the segment left of node j); driver on the left.
    u_left = jnp.concatenate([v_rows[..., :, None], u[..., :, :-1]], axis=-1)
    j_row = g_row * (u_left - u)
    j_row_out = jnp.concatenate([j_row[..., 1:], jnp.zeros_like(j_row[..., :1])], axis=-1)
    row_imbalance = j_row - j_row_out - cell
    # Column wire currents (downward, in the segment below node i); ground below.
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
def _core_solution(core: _Core, conductance, v_flat, r_row, r_col, tol) -> IRDropSolution:
    """A voltage-less solution, enough for failure handling."""
    return IRDropSolution(core.currents, None, None, core.residual, core.iterations,
                          core.status, conductance, v_flat, r_row, r_col, tol)


def _currents_primal(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure, parallel, coarse):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter, parallel=parallel,
                       coarse=coarse, voltages="none")
    sol = _core_solution(core, conductance, v_flat, r_row, r_col, tol)
    return _handle_failure(sol, on_failure, core.currents)


_currents = jax.custom_vjp(_currents_primal, nondiff_argnums=(6, 7, 8))


def _currents_fwd(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure, parallel, coarse):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter, parallel=parallel,
                       coarse=coarse)
    sol = _core_solution(core, conductance, v_flat, r_row, r_col, tol)
    currents = _handle_failure(sol, on_failure, core.currents)
    return currents, (core, conductance, v_flat, r_row, r_col, tol, max_iter)


def _currents_bwd(on_failure, parallel, coarse, saved, cotangent):
    core, conductance, v_flat, r_row, r_col, tol, max_iter = saved
    grads, adj = _adjoint(core, cotangent, tol, max_iter, parallel=parallel)
    sol = _core_solution(adj, conductance, v_flat, r_row, r_col, tol)
    g_cond, g_v, g_rr, g_rc = _handle_failure(sol, on_failure, grads)
    return g_cond, g_v, g_rr, g_rc, None, None


_currents.defvjp(_currents_fwd, _currents_bwd)


@partial(jax.jit, static_argnames=("parallel",))
def _adjoint(core: _Core, cotangent, tol, max_iter, *, parallel: bool):
    """Reverse-mode cotangents of the column currents by one adjoint network solve.

    For ``L = Σ Ī_bj I_bj`` with ``I_j = Σ_i G_ij (u_ij − w_ij)``, the adjoint system
    ``A λ = ∂L/∂x`` has the same operator as the forward one. With the adjoint cell
    factor ``φ = Ī_j − λ_u + λ_w``:

    * ``∂L/∂G_ij = Σ_b φ (u − w)``,  ``∂L/∂V_i = Σ_j G_ij φ_ij``;
    * ``∂L/∂r_row = −Σ J J_φ`` over all row segments and ``∂L/∂r_col`` likewise over
      the column segments, with J the wire currents and J_φ the adjoint wire currents
      (cumulative sums of ``G (u − w)`` and of ``G φ`` along each line, by KCL).

    All of these stay finite when a wire resistance is zero. In scaled units the
    adjoint Schur system is ``S λ_w = −ρ_c Ĝ (Ī − ρ_r A_r⁻¹ Ĝ Ī)``: the cotangent
    drives the columns as the input voltages drive the rows.
    """
    fac = core.fac
    nvec = cotangent.shape[0]
    ops = _Ops(fac, *_modes(parallel, nvec))
    bar_ref = jnp.max(jnp.abs(cotangent), axis=-1)
    bar_ref = jnp.where(bar_ref > 0, bar_ref, 1).astype(cotangent.dtype)
    bar = _to_layout(cotangent / bar_ref[:, None])[None]  # (1, C) + bs
    bar_full = jnp.broadcast_to(bar, fac.g_col.shape[:1] + bar.shape[1:])
    b = -fac.rho_col * fac.g_col * (bar - fac.rho_row * ops.row_solve_g(bar_full))
    cg = _schur_cg(ops, b, tol, max_iter)
    lam_w = cg.w
    phi = bar - fac.rho_row * ops.row_solve_g(bar + lam_w) + lam_w  # scaled by bar_ref

    def per_vector(x):  # (B,) -> bs, to broadcast against the layout
        return x[0] if nvec == 1 else x

    def batch_sum(x):  # (N, M) + bs -> (N, M)
        return x if nvec == 1 else jnp.sum(x, axis=-1)

    cell = fac.g_col * (core.u - core.w)  # cell currents / (g_ref v_ref)
    g_phi = fac.g_col * phi  # G φ / (g_ref bar_ref)
    g_cond = batch_sum(phi * (core.u - core.w) * per_vector(bar_ref * core.v_ref))
    g_v = _from_layout(jnp.sum(g_phi, axis=1), nvec) * (core.g_ref * bar_ref)[:, None]

    def rev_cumsum(x, axis):
        return jnp.flip(jnp.cumsum(jnp.flip(x, axis), axis=axis), axis)

    scale = core.g_ref**2 * core.v_ref * bar_ref  # (B,)
    g_rr = -jnp.sum(_per_vector(_dot(rev_cumsum(cell, 1), rev_cumsum(g_phi, 1)), nvec) * scale)
    g_rc = -jnp.sum(_per_vector(_dot(jnp.cumsum(cell, 0), jnp.cumsum(g_phi, 0)), nvec) * scale)
    adj = _Core(None, None, None, _per_vector(cg.residual, nvec), _per_vector(cg.iterations, nvec),
                _per_vector(cg.status, nvec), fac, core.g_ref, core.v_ref)
    return (g_cond, g_v, g_rr, g_rc), adj
