"""Public one-shot solves: :func:`solve_crossbar` (node voltages) and the differentiable
:func:`crossbar_currents`. Each factorises the array once per call (through
:func:`.prepared._factorise`); to reuse a factorisation across reads use
:func:`prepare_crossbar`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ._common import _HIGHEST, DEFAULT_MAX_STEPS, Method, OnFailure, _resolve_max_steps, _validate
from .implicit import _currents
from .network import _both_zero, _parallel_mode
from .preconditioner import _coarse_modes
from .prepared import _solve_core
from .results import IRDropSolution, _handle_failure

__all__ = ["crossbar_currents", "solve_crossbar"]


def solve_crossbar(conductance, v_rows, *, r_row, r_col, tol: float | None = None,
                   max_steps: int = DEFAULT_MAX_STEPS, on_failure: OnFailure = "raise",
                   method: Method = "auto", coarse_modes: int | tuple[int, int] | None = None,
                   max_iter: int | None = None) -> IRDropSolution:
    """Solve the resistive network of a crossbar with wire resistance (IR drop).

    Args:
        conductance: cell conductances, S, shape ``(rows, cols)``; positive and finite.
        v_rows: driver voltages, V, shape ``batch + (rows,)``; every input vector is
            solved on the same array (one factorisation, iterated together).
        r_row: resistance of one row-wire segment, Ω, scalar ≥ 0.
        r_col: resistance of one column-wire segment, Ω, scalar ≥ 0.
        tol: relative tolerance on the true preconditioned residual (see module
            docstring). Default: 1e-10 in float64, 1e-5 in float32.
        max_steps: bound on the total number of CG iterations (every loop of the
            solver is bounded by it; an input vector that reaches it has
            ``status = MAX_ITERATIONS``).
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
        max_iter: deprecated alias of ``max_steps`` (DeprecationWarning).

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
    gradients. To read one array several times (forward, transposed, with its power)
    without factorising it again, use :func:`prepare_crossbar` with
    :func:`solve_prepared` and :func:`solve_transposed`.

    >>> import jax.numpy as jnp
    >>> g = jnp.full((4, 3), 1e-6)
    >>> sol = solve_crossbar(g, jnp.ones(4), r_row=1.0, r_col=1.0)
    >>> bool(sol.converged), sol.column_currents.shape
    (True, (3,))
    """
    max_steps, steps_name = _resolve_max_steps(max_steps, max_iter)
    conductance, v_rows, r_row, r_col, tol, max_steps = _validate(
        conductance, v_rows, r_row, r_col, tol, max_steps, on_failure, method, steps_name)
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    if _both_zero(r_row, r_col):
        u = jnp.broadcast_to(v_rows[..., :, None], batch + (rows, cols))
        zero = jnp.zeros(batch, jnp.int32)
        return IRDropSolution(jnp.matmul(v_rows, conductance, precision=_HIGHEST), u, jnp.zeros_like(u),
                              jnp.zeros(batch, conductance.dtype), zero, zero,
                              conductance, v_rows, r_row, r_col, tol)
    v_flat = v_rows.reshape((-1, rows))
    core = _solve_core(conductance, v_flat, r_row, r_col, tol, max_steps,
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
                      max_steps: int = DEFAULT_MAX_STEPS, on_failure: OnFailure = "raise",
                      method: Method = "auto", coarse_modes: int | tuple[int, int] | None = None,
                      max_iter: int | None = None) -> jax.Array:
    """Column currents of a crossbar with IR drop, differentiable by implicit differentiation.

    Same arguments as :func:`solve_crossbar`. Returns the column currents, A, shape
    ``batch + (cols,)``. Differentiable (reverse mode: ``jax.grad``/``jax.vjp``) with
    respect to ``conductance``, ``v_rows``, ``r_row`` and ``r_col``: the backward pass
    solves the adjoint network (same operator and factorisation, the cotangent as
    right-hand side, same ``tol``/``max_steps``/``on_failure``) and never
    differentiates through the iterations. Forward mode (``jax.jvp``) is not supported.

    >>> import jax, jax.numpy as jnp
    >>> g = jnp.full((4, 3), 1e-6)
    >>> grad = jax.grad(lambda g: crossbar_currents(g, jnp.ones(4), r_row=1.0, r_col=1.0).sum())(g)
    >>> grad.shape
    (4, 3)
    """
    max_steps, steps_name = _resolve_max_steps(max_steps, max_iter)
    conductance, v_rows, r_row, r_col, tol, max_steps = _validate(
        conductance, v_rows, r_row, r_col, tol, max_steps, on_failure, method, steps_name)
    batch = v_rows.shape[:-1]
    rows, cols = conductance.shape
    if _both_zero(r_row, r_col):
        return jnp.matmul(v_rows, conductance, precision=_HIGHEST)
    v_flat = v_rows.reshape((-1, rows))
    currents = _currents(conductance, v_flat, r_row, r_col, tol, max_steps, on_failure,
                         _parallel_mode(method),
                         _coarse_modes(conductance, r_row, r_col, coarse_modes, v_flat.shape[0]))
    return currents.reshape(batch + (cols,))
