"""Differentiable column currents: ``jax.custom_vjp`` with an adjoint network solve.

The forward pass (:func:`_currents_fwd`) factorises and solves once and saves the
factors and the scaled node voltages; the backward pass (:func:`_adjoint`) solves the
adjoint network with the same factors, which is the transposed read of
:func:`.prepared._transposed` driven by the cotangent. Never a backward pass through
the CG iterations.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .lines import _modes
from .network import _from_layout, _Ops, _per_vector, _segment_dots
from .prepared import _Core, _solve_core, _transposed
from .results import IRDropSolution, _handle_failure


def _core_solution(core: _Core, conductance, v_flat, r_row, r_col, tol) -> IRDropSolution:
    """A voltage-less solution, enough for failure handling."""
    return IRDropSolution(core.currents, None, None, core.residual, core.iterations,
                          core.status, conductance, v_flat, r_row, r_col, tol)


def _currents_primal(conductance, v_flat, r_row, r_col, tol, max_steps, on_failure, parallel, coarse):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_steps, parallel=parallel,
                       coarse=coarse, voltages="none")
    sol = _core_solution(core, conductance, v_flat, r_row, r_col, tol)
    return _handle_failure(sol, on_failure, core.currents)


_currents = jax.custom_vjp(_currents_primal, nondiff_argnums=(6, 7, 8))


def _currents_fwd(conductance, v_flat, r_row, r_col, tol, max_steps, on_failure, parallel, coarse):
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_steps, parallel=parallel,
                       coarse=coarse)
    sol = _core_solution(core, conductance, v_flat, r_row, r_col, tol)
    currents = _handle_failure(sol, on_failure, core.currents)
    return currents, (core, conductance, v_flat, r_row, r_col, tol, max_steps)


def _currents_bwd(on_failure, parallel, coarse, saved, cotangent):
    core, conductance, v_flat, r_row, r_col, tol, max_steps = saved
    grads, adj = _adjoint(core, cotangent, tol, max_steps, parallel=parallel)
    sol = _core_solution(adj, conductance, v_flat, r_row, r_col, tol)
    g_cond, g_v, g_rr, g_rc = _handle_failure(sol, on_failure, grads)
    return g_cond, g_v, g_rr, g_rc, None, None


_currents.defvjp(_currents_fwd, _currents_bwd)


@partial(jax.jit, static_argnames=("parallel",))
def _adjoint(core: _Core, cotangent, tol, max_steps, *, parallel: bool):
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
    drives the columns as the input voltages drive the rows, and ``φ`` is the cell
    voltage of that transposed read (:func:`.prepared._transposed`,
    :func:`solve_transposed`).
    """
    fac = core.fac
    nvec = cotangent.shape[0]
    ops = _Ops(fac, *_modes(parallel, nvec))
    # The adjoint solve is the transposed read driven by the cotangent (same factors).
    _, bar_ref, phi, cg = _transposed(ops, cotangent, tol, max_steps)  # phi scaled by bar_ref

    def per_vector(x):  # (B,) -> bs, to broadcast against the layout
        return x[0] if nvec == 1 else x

    def batch_sum(x):  # (N, M) + bs -> (N, M)
        return x if nvec == 1 else jnp.sum(x, axis=-1)

    cell = fac.g_col * (core.u - core.w)  # cell currents / (g_ref v_ref)
    g_phi = fac.g_col * phi  # G φ / (g_ref bar_ref)
    g_cond = batch_sum(phi * (core.u - core.w) * per_vector(bar_ref * core.v_ref))
    g_v = _from_layout(jnp.sum(g_phi, axis=1), nvec) * (core.g_ref * bar_ref)[:, None]

    scale = core.g_ref**2 * core.v_ref * bar_ref  # (B,)
    row_dot, col_dot = _segment_dots(cell, g_phi)
    g_rr = -jnp.sum(_per_vector(row_dot, nvec) * scale)
    g_rc = -jnp.sum(_per_vector(col_dot, nvec) * scale)
    adj = _Core(None, None, None, _per_vector(cg.residual, nvec), _per_vector(cg.iterations, nvec),
                _per_vector(cg.status, nvec), fac, core.g_ref, core.v_ref)
    return (g_cond, g_v, g_rr, g_rc), adj
