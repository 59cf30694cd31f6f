"""Preconditioned conjugate gradients on the Schur complement of the column voltages."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._common import _dot, _safe_div
from .network import _Ops
from .results import IRDropStatus


class _CGOut(NamedTuple):
    w: jax.Array
    yw: jax.Array  # A_r⁻¹ Ĝ w of the returned w (zero if no CG cycle ran, w = 0)
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array


def _schur_cg(ops: _Ops, b: jax.Array, tol: jax.Array, max_steps: jax.Array) -> _CGOut:
    """Solve ``S w = b`` with ``S = A_c − ρ_r ρ_c Ĝ A_r⁻¹ Ĝ`` by PCG.

    The preconditioner is ``A_c⁻¹`` (exact solves of every column line), with the
    two-level correction of :meth:`_Ops.coarse` when the factors carry a coarse space.
    ``b`` is in column layout; every input vector of the batch has its own step
    lengths and stops independently. CG restarts from the recomputed true residual
    until that meets ``tol``, stops improving, or ``max_steps`` iterations are spent.

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
        # will not reach tol (a cycle cut short by max_steps is MAX_ITERATIONS instead).
        stagnated = c["stagnated"] | (is_open & ~converged & (res > 0.5 * c["residual"])
                                      & (c["n"] < max_steps))
        still = is_open & ~converged & ~stagnated & ~breakdown & (c["n"] < max_steps)
        return dict(c, yw=yw, p=z, r=t if ops.rows_in_place else c["r"],
                    residual=jnp.where(is_open, res, c["residual"]), open=still,
                    active=still, stagnated=stagnated & ~converged, breakdown=breakdown)

    def inner_cond(c):
        return jnp.any(c["active"]) & (c["n"] < max_steps)

    def outer_cond(c):
        # ``open`` already implies ``n < max_steps`` (check_step), and every cycle runs at
        # least one CG step; the explicit bound keeps the loop bounded by construction.
        return jnp.any(c["open"]) & (c["n"] < max_steps)

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
