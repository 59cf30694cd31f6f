"""The Schur-complement solve of the column voltages: block fixed-point steps, then
preconditioned conjugate gradients.

The solve starts with fixed-point (preconditioned Richardson) steps ``w ← w + M r``,
each costing what a CG step costs (one solve of every row line and one of every column
line) but giving the *true* residual of its iterate as it goes, so a vector that
converges needs no separate check. With the line preconditioner the error contracts
by the spectral radius of ``ρ_r ρ_c A_c⁻¹ Ĝ A_r⁻¹ Ĝ`` per step: tiny when the wires
are weak against the cells over the array (``r G L²`` small), where the solve then
ends after two steps, ``3`` column-line and ``2`` row-line solves, against ``4`` and
``3`` for CG's two steps and its final check. A vector whose residual does not shrink
by :data:`_FIXED_POINT_CONTRACTION` in a step continues with CG, restarted from that
true residual (stiff arrays, where CG's faster convergence pays for its check).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._common import _dot, _safe_div
from .network import _Ops
from .results import IRDropStatus


#: A vector stays in the fixed-point phase while each step shrinks its true residual at
#: least by this factor; CG then needs about as many steps plus its check.
_FIXED_POINT_CONTRACTION = 0.1


class _CGOut(NamedTuple):
    w: jax.Array
    yw: jax.Array  # A_r⁻¹ Ĝ w of the returned w (zero if no step ran, w = 0)
    residual: jax.Array
    iterations: jax.Array
    status: jax.Array


def _schur_cg(ops: _Ops, b: jax.Array, tol: jax.Array, max_steps: jax.Array) -> _CGOut:
    """Solve ``S w = b`` with ``S = A_c − ρ_r ρ_c Ĝ A_r⁻¹ Ĝ``: fixed-point steps, then PCG.

    The preconditioner ``M`` is ``A_c⁻¹`` (exact solves of every column line), with the
    two-level correction of :meth:`_Ops.coarse` when the factors carry a coarse space.
    ``b`` is in column layout; every input vector of the batch has its own step
    lengths and stops independently.

    First, fixed-point steps ``w ← w + M r`` (from ``w = 0``), each followed by the
    true residual of the new iterate; a vector takes them until it converges or a step
    does not shrink its residual by :data:`_FIXED_POINT_CONTRACTION` (module
    docstring). Then, for the vectors still open, CG restarts from the
    recomputed true residual until that meets ``tol``, stops improving, or
    ``max_steps`` iterations (fixed-point steps included) are spent: each cycle (outer
    loop) restarts CG from the true residual, runs CG steps (inner loop) until the
    recursive residual meets ``tol/2``, then recomputes the true one.
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

    def true_residual(c, w):
        """``(yw, t, z, relres(z))`` at ``w``: the true residual in voltage space,
        ``z = A_c⁻¹(b − S w) = w0 − w + ρ² A_c⁻¹ Ĝ A_r⁻¹ Ĝ w``, then ``r = A_c z``
        when needed: both accurate in float32, unlike ``b − S w`` evaluated directly.
        (Not ``A_c⁻¹(b + ρ² Ĝ A_r⁻¹ Ĝ w) − w``: at a floating-point fixed point of that
        map it rounds to zero however far ``w`` is from the solution.) Scratch
        buffers: the yw slot (the last check's, or the last ``z_line``: dead here) and
        r (recomputed by the next restart)."""
        yw = ops.row_solve_g(w, scratch=c["yw"] if ops.rows_in_place else None)
        t = ops.col_solve(yw, scratch=c["r"] if ops.rows_in_place else None, g=True)
        z = w0 - w + rho2 * t
        return yw, t, z, relres(z)

    def fixed_point_step(c):
        """``w ← w + M r`` for the vectors in the fixed-point phase (``c["fp"]``), with
        ``M r`` from the true residual ``z = A_c⁻¹ r`` held in ``p``; then the true
        residual of the new iterate. A vector leaves the phase when it converges, when
        its residual did not shrink by the contraction factor (it goes on with CG from
        this iterate), or on breakdown or ``max_steps``."""
        step, z = c["fp"], c["p"]
        corr = ops.coarse(ops.col_apply(z)) if fac.coarse is not None else None
        dz = z if corr is None else z + corr[0]
        w = c["w"] + jnp.where(step, 1, 0).astype(dtype) * dz
        yw, t, z, res = true_residual(c, w)
        n = c["n"] + 1
        converged = res <= tol
        breakdown = c["breakdown"] | (step & ~jnp.isfinite(res))
        still = c["open"] & ~(step & converged) & ~breakdown & (n < max_steps)
        fp = step & still & (res <= _FIXED_POINT_CONTRACTION * c["residual"])
        return dict(c, w=w, yw=yw, p=z, r=t if ops.rows_in_place else c["r"],
                    residual=jnp.where(step, res, c["residual"]), open=still, active=still, fp=fp,
                    breakdown=breakdown, iterations=c["iterations"] + step.astype(jnp.int32), n=n)

    def check_step(c):
        w, is_open = c["w"], c["open"]
        yw, t, z, res = true_residual(c, w)
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

    def fixed_point_cond(c):
        return jnp.any(c["fp"]) & (c["n"] < max_steps)

    res0 = relres(w0)
    zeros = jnp.zeros_like(b)
    is_open = (res0 > tol) & jnp.isfinite(res0)
    none = jnp.zeros((), dtype)
    # w = 0: the true residual is z = A_c⁻¹ b = w0 (held in p, as check_step leaves it)
    c = dict(w=zeros, yw=zeros, p=w0, rz=jnp.zeros(bs, dtype),
             y=zeros if ops.rows_in_place else none, r=b, q=zeros,  # r, q: set by restart
             residual=res0, open=is_open, active=is_open, fp=is_open,
             stagnated=jnp.zeros(bs, bool), breakdown=~jnp.isfinite(res0),
             iterations=jnp.zeros(bs, jnp.int32), n=jnp.zeros((), jnp.int32))
    c = lax.while_loop(fixed_point_cond, fixed_point_step, c)
    c = lax.while_loop(outer_cond, outer_body, c)
    status = jnp.where(
        c["breakdown"], IRDropStatus.BREAKDOWN,
        jnp.where(c["residual"] <= tol, IRDropStatus.CONVERGED,
                  jnp.where(c["stagnated"], IRDropStatus.STAGNATED, IRDropStatus.MAX_ITERATIONS)))
    return _CGOut(c["w"], c["yw"], c["residual"], c["iterations"], status.astype(jnp.int32))
