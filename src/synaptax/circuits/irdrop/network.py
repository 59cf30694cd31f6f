"""The nodal system of the crossbar in scaled units: assembly, scales, layouts, checks.

Assembly (:func:`_factor`) turns one conductance array and the two wire resistances
into :class:`_Factors`: the line pivots of every row and column line, the row-voltage
profile per unit drive and the coarse space, in dimensionless units (conductances
relative to ``g_ref = max(G)``, wire resistance as ``ρ = r g_ref``). :class:`_Ops`
applies them (line solves, coarse correction, ``A_c x``). Also here: the per-vector
voltage scale, the internal layouts (batch last), Kirchhoff's residual and the power
of a solution computed from the scaled node voltages.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from synaptax._checks import is_concrete

from ._common import _dot, _safe_div
from .lines import _ladder_in_place, _line_solve, _ones, _reciprocal_pivots, _row_ladder_blocked, _swap
from .preconditioner import _apply_coarse, _Coarse, _coarse_space


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
        without a coarse space); see :func:`_apply_coarse`."""
        cs = self.fac.coarse
        if cs is None:
            return None
        return _apply_coarse(cs, r, self.fac.rho_col, self.fac.g_col)

    def col_apply(self, x):
        """``A_c x = (L_c + ρ_c Ĝ) x`` in column layout (column Laplacian, ground below)."""
        zero = jnp.zeros_like(x[:1])
        down = x - jnp.concatenate([x[1:], zero])  # x_i − x_{i+1}, x_R = 0 (ground)
        lap = down - jnp.concatenate([zero, down[:-1]])
        return lap + self.fac.rho_col * self.fac.g_col * x


def _factor(g_hat: jax.Array, rho_row, rho_col, nbatch: int, parallel: bool,
            rows_in_place: bool, coarse: tuple[int, int] = (0, 0)) -> _Factors:
    """Factor the line operators of one scaled conductance array ``g_hat`` (R, C).

    ``nbatch``: 0 for one input vector, 1 for a batch (a trailing unit axis on every
    factor); ``rows_in_place``: row factors in column layout (see :class:`_Factors`);
    ``coarse``: ``(k_i, k_j)`` coarse modes, ``(0, 0)`` for none. Called only through
    :func:`synaptax.circuits.irdrop.prepared._factorise`.
    """
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


# ----------------------------------------------------------------------------------
# Scales and layouts
# ----------------------------------------------------------------------------------
def _g_scale(conductance) -> jax.Array:
    """``g_ref = max(G)`` (1 if not positive), S, in the conductance dtype."""
    g_ref = jnp.max(conductance)
    return jnp.where(g_ref > 0, g_ref, 1).astype(conductance.dtype)


def _v_scale(v_flat) -> jax.Array:
    """Per-vector voltage scale ``max|V|`` (1 for a zero vector), ``(B,)``."""
    v_ref = jnp.max(jnp.abs(v_flat), axis=-1)
    return jnp.where(v_ref > 0, v_ref, 1).astype(v_flat.dtype)


def _to_layout(x_flat: jax.Array, stacked: bool = False) -> jax.Array:
    """``(B, N)`` per-vector data -> ``(N,) + bs`` (batch last, dropped when B = 1);
    ``stacked``: ``(K, B, N)`` -> ``(N, K) + bs`` (see :func:`_stacked`)."""
    if stacked:
        return x_flat[:, 0].T if x_flat.shape[1] == 1 else jnp.transpose(x_flat, (2, 0, 1))
    return x_flat[0] if x_flat.shape[0] == 1 else x_flat.T


def _from_layout(x: jax.Array, nvec: int, stacked: bool = False) -> jax.Array:
    """``(N, M) + bs`` -> ``(B, N, M)``; ``(N,) + bs`` -> ``(B, N)``; ``stacked``:
    ``lead + (K,) + bs`` -> ``(K, B) + lead``."""
    if stacked:
        x = x[..., None] if nvec == 1 else x
        return jnp.moveaxis(x, (-2, -1), (0, 1))
    if nvec == 1:
        return x[None]
    return jnp.moveaxis(x, -1, 0)


def _per_vector(x: jax.Array, nvec: int, stacked: bool = False) -> jax.Array:
    """``bs`` -> ``(B,)``; ``stacked``: ``(K,) + bs`` -> ``(K, B)``."""
    return jnp.reshape(x, (x.shape[0], nvec) if stacked else (nvec,))


def _stacked(fac: _Factors, nbatch: int) -> _Factors:
    """Factors of a stack of ``K`` arrays of one shape (every leaf with a leading axis
    ``K``, as ``jax.vmap`` of the factorisation makes them) in the *stacked layout*:
    the stack axis right after the two line axes, ``(N, M, K) + ones``, the wire ratios
    ``(K,) + ones``. Every line solve, CG step and per-vector reduction then treats
    ``(K,) + bs`` as the batch: one loop solves all the arrays (no batched loop
    predicates, as ``vmap`` of the solve would give). A coarse space of the stack is
    not used (the solve converges to the same tolerance with the line preconditioner
    alone, in more iterations); prepared under ``vmap`` it is off anyway."""
    def lines(x):
        return jnp.moveaxis(x, 0, 2)

    def ratio(x):
        return jnp.reshape(x, x.shape[:1] + (1,) * nbatch)

    return _Factors(lines(fac.g_col), lines(fac.g_row), lines(fac.m_col), lines(fac.m_row),
                    ratio(fac.rho_row), ratio(fac.rho_col), lines(fac.drive), None)


def _parallel_mode(method: str) -> bool:
    if method == "auto":
        return jax.default_backend() not in ("cpu",)
    return method == "parallel"


def _both_zero(r_row, r_col) -> bool:
    return is_concrete((r_row, r_col)) and float(r_row) == 0.0 and float(r_col) == 0.0


def _segment_dots(a: jax.Array, b: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """``(Σ A_row B_row, Σ A_col B_col)`` per vector (``bs``) for column-layout arrays
    ``(R, C) + bs`` of cell currents ``a``, ``b`` (``b`` omitted: ``a``), where ``A_row``
    is the current in the row segment left of each node (the cells at and right of
    it: reverse cumulative sums along the row) and ``A_col`` the current in the column
    segment below each node (the cells at and above it: cumulative sums down the
    column).

    Two sequential loops that carry the running sums and accumulate the products,
    reading each array once and writing no cumulative sums (``jnp.cumsum`` on the CPU
    costs about ten elementwise passes per axis)."""
    same = b is None
    pair = (a,) if same else (a, b)
    zero = jnp.zeros_like(a[0])

    def col_step(carry, xs):
        sums, acc = carry
        sums = tuple(s + x for s, x in zip(sums, xs))
        return (sums, acc + sums[0] * sums[-1]), None

    (_, acc_col), _ = lax.scan(col_step, ((zero,) * len(pair), zero), pair)
    cols = a.shape[1]
    zero = jnp.zeros_like(a[:, 0])

    def row_step(k, carry):
        sums, acc = carry
        j = cols - 1 - k
        sums = tuple(s + lax.dynamic_index_in_dim(x, j, 1, keepdims=False) for s, x in zip(sums, pair))
        return sums, acc + sums[0] * sums[-1]

    _, acc_row = lax.fori_loop(0, cols, row_step, ((zero,) * len(pair), zero))
    return jnp.sum(acc_row, axis=0), jnp.sum(acc_col, axis=0)


def _network_power(fac: _Factors, drive: jax.Array, drive_axis: int, cell_v: jax.Array, nvec: int,
                   stacked: bool = False):
    """Power of one solve from its scaled cell voltages, per vector ``(B,)`` each,
    in units of ``g_ref v_ref²``: ``(source, device, row_wire, column_wire)``.

    ``cell_v``: ``(R, C) + bs`` cell voltages in column layout (``u − w`` for the
    forward read, ``φ = w − u`` for the transposed one); ``drive``: the scaled source
    voltages, broadcastable to it, constant along ``drive_axis`` (0: per column, the
    transposed read; 1: per row, the forward read). Cell currents ``Ĝ cell_v``; wire
    currents by Kirchhoff's law as their cumulative sums (row segment left of node j:
    the cells at j and to its right; column segment below node i: the cells at i and
    above), so it stays exact for zero wire resistance. ``stacked``: factors and
    voltages in the stacked layout (:func:`_stacked`), results ``(K, B)``.
    """
    cell = fac.g_col * cell_v
    device = _dot(cell, cell_v)
    source = jnp.sum(drive * jnp.sum(cell, axis=drive_axis, keepdims=True), axis=(0, 1))
    row_sq, col_sq = _segment_dots(cell)
    row_wire = fac.rho_row * row_sq
    column_wire = fac.rho_col * col_sq
    return tuple(_per_vector(x, nvec, stacked) for x in (source, device, row_wire, column_wire))


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
