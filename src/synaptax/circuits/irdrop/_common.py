"""Shared constants, small numerical helpers and argument validation of the IR-drop solver."""
from __future__ import annotations

import warnings
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from synaptax._checks import check_int, check_nonnegative, check_positive, is_concrete

OnFailure = Literal["raise", "warn", "ignore"]
Method = Literal["auto", "sequential", "parallel"]

#: Default relative tolerance of the preconditioned residual, per dtype. float32 cannot
#: resolve much below ~1e-6 (rounding in the line solves); 1e-5 gives column currents
#: within ~1e-5 relative of the float64 answer.
DEFAULT_TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
#: Default bound on the total number of CG iterations of one solve (``max_steps``).
DEFAULT_MAX_STEPS = 2000
#: Deprecated name of :data:`DEFAULT_MAX_STEPS`.
DEFAULT_MAX_ITER = DEFAULT_MAX_STEPS

#: Precision of every matrix product here (see the package docstring): JAX's default
#: float32 on NVIDIA GPUs is TF32 (~1e-3 relative), which would make the coarse
#: correction differ between applications. On CPUs the setting changes nothing.
_HIGHEST = lax.Precision.HIGHEST


def _dot(x: jax.Array, y: jax.Array) -> jax.Array:
    """Per-vector inner product: ``(N, M) + bs`` -> ``bs``."""
    return jnp.sum(x * y, axis=(0, 1))


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


# ----------------------------------------------------------------------------------
# Validation (shape checks always; value checks on concrete values only)
# ----------------------------------------------------------------------------------
def _check_options(on_failure=None, method=None) -> None:
    if on_failure is not None and on_failure not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_failure must be 'raise', 'warn' or 'ignore', got {on_failure!r}")
    if method is not None and method not in ("auto", "sequential", "parallel"):
        raise ValueError(f"method must be 'auto', 'sequential' or 'parallel', got {method!r}")


def _check_conductance_shape(conductance) -> jax.Array:
    conductance = jnp.asarray(conductance)
    if conductance.ndim != 2:
        raise ValueError(f"conductance must have shape (rows, cols), got shape {conductance.shape}; "
                         "use jax.vmap for a stack of arrays")
    if conductance.size == 0:
        raise ValueError(f"conductance must have at least one row and one column, got shape {conductance.shape}")
    return conductance


def _check_drive_shape(v, n: int, name: str, axis_name: str) -> jax.Array:
    """``v`` of shape ``batch + (n,)`` with at least one vector; ``axis_name`` is the
    name of ``n`` in the message (``"rows = conductance.shape[0]"``)."""
    v = jnp.asarray(v)
    if v.ndim < 1 or v.shape[-1] != n:
        raise ValueError(f"{name} must have shape (..., {axis_name.split(' ')[0]}) with {axis_name} = "
                         f"{n}, got shape {v.shape}")
    if v.size == 0:
        raise ValueError(f"{name} must hold at least one input vector, got shape {v.shape}")
    return v


def _check_float_dtype(dtype, what: str):
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"{what} must be float32 or float64, got {dtype}")
    return dtype


def _check_resistances(r_row, r_col) -> None:
    for name, r in (("r_row", r_row), ("r_col", r_col)):
        if jnp.ndim(r) != 0:
            raise ValueError(f"{name} must be a scalar resistance per segment (Ω), got shape {jnp.shape(r)}")
        check_nonnegative(name, r)


def _check_finite_drive(v, name: str) -> None:
    if is_concrete(v) and not np.all(np.isfinite(np.asarray(v, dtype=np.float64))):
        raise ValueError(f"{name} must be finite, got a non-finite value")


def _check_tol_steps(tol, max_steps, dtype, steps_name: str = "max_steps"):
    """Default ``tol`` for ``dtype``; both as arrays (``tol`` in ``dtype``, steps int32)."""
    if tol is None:
        tol = DEFAULT_TOL[np.dtype(dtype)]
    check_positive("tol", tol)
    if not isinstance(max_steps, jax.Array):
        max_steps = check_int(steps_name, max_steps, minimum=1)
    return jnp.asarray(tol, dtype), jnp.asarray(max_steps, jnp.int32)


def _resolve_max_steps(max_steps, max_iter) -> tuple[object, str]:
    """``(value, name)`` of the CG step bound from ``max_steps`` and the deprecated
    keyword ``max_iter`` (a DeprecationWarning; giving both is a TypeError)."""
    if max_iter is None:
        return max_steps, "max_steps"
    if max_steps is not DEFAULT_MAX_STEPS:
        raise TypeError("give max_steps or its deprecated alias max_iter, not both")
    warnings.warn("max_iter is deprecated; use max_steps", DeprecationWarning, stacklevel=3)
    return max_iter, "max_iter"


def _validate(conductance, v_rows, r_row, r_col, tol, max_steps, on_failure, method,
              steps_name: str = "max_steps"):
    """Validate and convert the arguments of :func:`solve_crossbar`/:func:`crossbar_currents`.

    Returns ``(conductance, v_rows, r_row, r_col, tol, max_steps)`` as arrays in one
    float dtype (``max_steps`` int32).
    """
    _check_options(on_failure, method)
    conductance = _check_conductance_shape(conductance)
    v_rows = _check_drive_shape(v_rows, conductance.shape[0], "v_rows", "rows = conductance.shape[0]")
    dtype = _check_float_dtype(jnp.result_type(conductance, v_rows, jnp.float32), "conductance and v_rows")
    _check_resistances(r_row, r_col)
    check_positive("conductance", conductance)
    _check_finite_drive(v_rows, "v_rows")
    tol, max_steps = _check_tol_steps(tol, max_steps, dtype, steps_name)
    return (conductance.astype(dtype), v_rows.astype(dtype), jnp.asarray(r_row, dtype),
            jnp.asarray(r_col, dtype), tol, max_steps)
