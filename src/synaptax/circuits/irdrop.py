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
line (scans along the lines, vectorised across lines and across the batch of input
vectors, which share the factorisation and iterate together; sequential ``lax.scan`` on
CPUs, log-depth ``lax.associative_scan`` on accelerators, see ``method``). ``T_c p`` is
carried by recurrence instead of recomputed (recomputing it in float32 loses digits).
Measured (float32, tol 1e-5, 256²–1024²): 2–3 iterations at r·G = 1e-6, 5–12 at 1e-4,
10–31 at 1e-3, where a diagonal preconditioner needs thousands.

Everything is done in scaled, dimensionless units (conductances relative to
``max(G)``, voltages relative to ``max|V|`` per input vector, wire resistance as the
ratio ``ρ = r · max(G)``), with row voltages represented by their drop ``u − V`` from
the driver voltage, so float32 is accurate (column currents within ~1e-6–5e-5 of the
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
    the column layout (``rows_in_place``): each step then touches contiguous runs of
    ≥ 64 bytes, which beats two transposes.
    """

    g_col: jax.Array  # (R, C) + ones: conductance / g_ref, column layout
    g_row: jax.Array  # (C, R) + ones in row layout, or (R, C) + ones if rows_in_place
    m_col: jax.Array  # (R, C) + ones: reciprocal pivots of the column lines
    m_row: jax.Array  # reciprocal pivots of the row lines, layout as g_row
    rho_row: jax.Array  # () r_row * g_ref
    rho_col: jax.Array  # () r_col * g_ref


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


def _row_solve_in_place(m: jax.Array, g: jax.Array, x: jax.Array,
                        scratch: jax.Array | None = None) -> jax.Array:
    """``A_r⁻¹ (Ĝ x)`` along axis 1 of column-layout arrays ``(R, C, B)``, no transposes.

    Same recurrences as :func:`_line_solve` (open end at the last column); the
    elimination writes into ``scratch`` (any array of ``x``'s shape whose contents are
    no longer needed; saves zero-filling a new one) and the substitution overwrites it.
    """
    n = x.shape[1]

    def take(a, j):
        return lax.dynamic_index_in_dim(a, j, 1, keepdims=False)

    def eliminate(k, state):
        carry, out = state
        j = n - 1 - k
        e = take(m, j) * (take(g, j) * take(x, j) + carry)
        return e, lax.dynamic_update_index_in_dim(out, e, j, 1)

    def substitute(j, state):
        carry, out = state
        xj = take(out, j) + take(m, j) * carry
        return xj, lax.dynamic_update_index_in_dim(out, xj, j, 1)

    zero = jnp.zeros_like(x[:, 0])
    _, e = lax.fori_loop(0, n, eliminate, (zero, jnp.zeros_like(x) if scratch is None else scratch))
    _, out = lax.fori_loop(0, n, substitute, (zero, e))
    return out


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
            return _row_solve_in_place(self.fac.m_row, self.fac.g_row, x_col, scratch)
        f = self.fac.g_row * _swap(x_col)
        return _swap(_line_solve(self.fac.m_row, f, open_end_last=True, parallel=self.parallel))

    def col_solve(self, f):
        """``A_c⁻¹ f`` in column layout."""
        return _line_solve(self.fac.m_col, f, open_end_last=False, parallel=self.parallel)

    def col_apply(self, x):
        """``A_c x = (L_c + ρ_c Ĝ) x`` in column layout (column Laplacian, ground below)."""
        zero = jnp.zeros_like(x[:1])
        down = x - jnp.concatenate([x[1:], zero])  # x_i − x_{i+1}, x_R = 0 (ground)
        lap = down - jnp.concatenate([zero, down[:-1]])
        return lap + self.fac.rho_col * self.fac.g_col * x


def _factor(g_hat: jax.Array, rho_row, rho_col, nbatch: int, parallel: bool,
            rows_in_place: bool) -> _Factors:
    g_row = g_hat.T
    m_row = _reciprocal_pivots(rho_row * g_row, open_end_last=True, parallel=parallel)
    m_col = _reciprocal_pivots(rho_col * g_hat, open_end_last=False, parallel=parallel)
    if rows_in_place:
        g_row, m_row = g_hat, m_row.T
    return _Factors(_ones(g_hat, nbatch), _ones(g_row, nbatch), _ones(m_col, nbatch),
                    _ones(m_row, nbatch), rho_row, rho_col)


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
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array


def _schur_cg(ops: _Ops, b: jax.Array, tol: jax.Array, max_iter: jax.Array) -> _CGOut:
    """Solve ``S w = b`` with ``S = A_c − ρ_r ρ_c Ĝ A_r⁻¹ Ĝ`` by PCG (preconditioner ``A_c``).

    ``b`` is in column layout; every input vector of the batch has its own step
    lengths and stops independently. CG restarts from the recomputed true residual
    until that meets ``tol``, stops improving, or ``max_iter`` iterations are spent.
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

    def inner_cond(c):
        return jnp.any(c["active"]) & (c["n"] < max_iter)

    def inner_body(c):
        p, q, active = c["p"], c["q"], c["active"]
        y = ops.row_solve_g(p, scratch=c["y"] if ops.rows_in_place else None)
        sp = q - rho2 * fac.g_col * y  # S p, with q = A_c p carried
        psp = _dot(p, sp)
        ok = active & (psp > 0) & jnp.isfinite(psp)
        alpha = jnp.where(ok, _safe_div(c["rz"], psp), 0).astype(dtype)
        w = c["w"] + alpha * p
        r = c["r"] - alpha * sp
        z = ops.col_solve(r)
        rz = _dot(r, z)
        beta = jnp.where(ok, _safe_div(rz, c["rz"]), 0).astype(dtype)
        return dict(w=w, r=r, z=z, p=z + beta * p, q=r + beta * q, rz=rz,
                    y=y if ops.rows_in_place else c["y"],
                    active=ok & (relres(z) > tol_inner),
                    iterations=c["iterations"] + active.astype(jnp.int32), n=c["n"] + 1,
                    breakdown=c["breakdown"] | (active & ~ok))

    def outer_cond(o):
        return jnp.any(o["open"]) & (o["n"] < max_iter)

    def outer_body(o):
        c = dict(w=o["w"], r=o["r"], z=o["z"], p=o["z"], q=o["r"], rz=_dot(o["r"], o["z"]),
                 y=jnp.zeros_like(o["w"]) if ops.rows_in_place else jnp.zeros((), dtype),
                 active=o["open"], iterations=o["iterations"], n=o["n"], breakdown=o["breakdown"])
        c = lax.while_loop(inner_cond, inner_body, c)
        # True residual in voltage space, z = A_c⁻¹(b − S w) = w0 − w + K w, then r = A_c z:
        # both accurate in float32, unlike b − S w evaluated directly.
        w = c["w"]
        z = w0 - w + rho2 * ops.col_solve(fac.g_col * ops.row_solve_g(w))
        r = ops.col_apply(z)
        res = relres(z)
        converged = res <= tol
        breakdown = c["breakdown"] | ~jnp.isfinite(res)
        # A CG cycle that ran to its own criterion but did not halve the true residual
        # will not reach tol (a cycle cut short by max_iter is MAX_ITERATIONS instead).
        stagnated = o["stagnated"] | (o["open"] & ~converged & (res > 0.5 * o["residual"])
                                      & (c["n"] < max_iter))
        return dict(w=w, r=r, z=z, residual=jnp.where(o["open"], res, o["residual"]),
                    open=o["open"] & ~converged & ~stagnated & ~breakdown,
                    stagnated=stagnated & ~converged, breakdown=breakdown,
                    iterations=c["iterations"], n=c["n"])

    res0 = relres(w0)
    o = dict(w=jnp.zeros_like(b), r=b, z=w0, residual=res0, open=res0 > tol,
             stagnated=jnp.zeros(bs, bool), breakdown=~jnp.isfinite(res0),
             iterations=jnp.zeros(bs, jnp.int32), n=jnp.zeros((), jnp.int32))
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
    u: jax.Array  # (R, C) + bs: scaled row voltages (column layout)
    w: jax.Array  # (R, C) + bs: scaled column voltages
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


@partial(jax.jit, static_argnames=("parallel",))
def _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter, *, parallel: bool) -> _Core:
    """Solve for a flat batch ``v_flat`` (B, R). All arguments but ``parallel`` are arrays."""
    nvec = v_flat.shape[0]
    nbd = 0 if nvec == 1 else 1
    parallel, in_place = _modes(parallel, nvec)
    g_ref, v_ref = _scales(conductance, v_flat)
    fac = _factor(conductance / g_ref, r_row * g_ref, r_col * g_ref, nbd, parallel, in_place)
    ops = _Ops(fac, parallel, in_place)
    v = _to_layout(v_flat / v_ref[:, None])[:, None]  # (R, 1) + bs
    v_full = jnp.broadcast_to(v, conductance.shape + v.shape[2:])
    # Row voltages with the columns held at 0 V: u0 = v − ρ_r A_r⁻¹(Ĝ v); S w = ρ_c Ĝ u0.
    b = fac.rho_col * fac.g_col * (v - fac.rho_row * ops.row_solve_g(v_full))
    cg = _schur_cg(ops, b, tol, max_iter)
    w = cg.w
    u = v - fac.rho_row * ops.row_solve_g(v - w)
    currents = _from_layout(jnp.sum(fac.g_col * (u - w), axis=0), nvec) * (g_ref * v_ref[:, None])
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
                   method: Method = "auto") -> IRDropSolution:
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
        return IRDropSolution(v_rows @ conductance, u, jnp.zeros_like(u),
                              jnp.zeros(batch, conductance.dtype), zero, zero,
                              conductance, v_rows, r_row, r_col, tol)
    v_flat = v_rows.reshape((-1, rows))
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter,
                       parallel=_parallel_mode(method))
    nvec = v_flat.shape[0]

    def volts(x):  # (R, C) + bs, scaled -> batch + (R, C), V
        return (_from_layout(x, nvec) * core.v_ref[:, None, None]).reshape(batch + (rows, cols))

    sol = IRDropSolution(
        column_currents=core.currents.reshape(batch + (cols,)),
        row_voltages=volts(core.u), column_voltages=volts(core.w),
        residual=core.residual.reshape(batch), iterations=core.iterations.reshape(batch),
        status=core.status.reshape(batch), conductance=conductance, v_rows=v_rows,
        r_row=r_row, r_col=r_col, tol=tol)
    return _handle_failure(sol, on_failure)


def crossbar_currents(conductance, v_rows, *, r_row, r_col, tol: float | None = None,
                      max_iter: int = DEFAULT_MAX_ITER, on_failure: OnFailure = "raise",
                      method: Method = "auto") -> jax.Array:
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
        return v_rows @ conductance
    v_flat = v_rows.reshape((-1, rows))
    currents = _currents(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure,
                         _parallel_mode(method))
    return currents.reshape(batch + (cols,))


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


def _currents_primal(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure, parallel):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter, parallel=parallel)
    sol = _core_solution(core, conductance, v_flat, r_row, r_col, tol)
    return _handle_failure(sol, on_failure, core.currents)


_currents = jax.custom_vjp(_currents_primal, nondiff_argnums=(6, 7))


def _currents_fwd(conductance, v_flat, r_row, r_col, tol, max_iter, on_failure, parallel):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_iter, parallel=parallel)
    sol = _core_solution(core, conductance, v_flat, r_row, r_col, tol)
    currents = _handle_failure(sol, on_failure, core.currents)
    return currents, (core, conductance, v_flat, r_row, r_col, tol, max_iter)


def _currents_bwd(on_failure, parallel, saved, cotangent):
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
