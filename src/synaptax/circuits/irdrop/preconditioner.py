"""Two-level (coarse-space) correction of the line preconditioner, and its size rule.

The line preconditioner (exact solves of every column line) leaves the error modes
longer than the wire decay length ``1/√(r G)`` slow. The coarse space ``Z = P ⊗ Q``
holds products of the lowest column-line and row-line Laplacian modes; with the exact
Galerkin matrices ``E = Zᵀ S Z`` and ``F = Zᵀ A_c Z`` the preconditioner is
``M = A_c⁻¹ + Z (E⁻¹ − F⁻¹) Zᵀ`` (see the package docstring).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from synaptax._checks import check_int, is_concrete

from ._common import _HIGHEST
from .lines import _line_solve


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


def _apply_coarse(cs: _Coarse, r: jax.Array, rho_col: jax.Array, g_col: jax.Array):
    """``(Z kmat Zᵀ r, A_c Z kmat Zᵀ r)`` for ``r`` in column layout ``(R, C) + bs``.

    The full-size work is three thin GEMMs over the column axis (``Pᵀ r``, ``P c``,
    ``L_c P c``); the rest is small. ``g_col``: scaled conductances, column layout.
    """
    rows, cols = r.shape[:2]
    ki, kj = cs.p.shape[1], cs.q.shape[1]
    bs = r.shape[2:]
    t = jnp.matmul(cs.p.T, r.reshape(rows, -1), precision=_HIGHEST).reshape((ki, cols) + bs)
    t = jnp.einsum("aj...,jb->ab...", t, cs.q, precision=_HIGHEST).reshape((ki * kj,) + bs)
    c = jnp.tensordot(cs.kmat, t, axes=1, precision=_HIGHEST).reshape((ki, kj) + bs)
    cq = jnp.einsum("ab...,jb->aj...", c, cs.q, precision=_HIGHEST).reshape(ki, -1)
    zc = jnp.matmul(cs.p, cq, precision=_HIGHEST).reshape(r.shape)
    lzc = jnp.matmul(cs.lp, cq, precision=_HIGHEST).reshape(r.shape)
    return zc, lzc + rho_col * g_col * zc


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
