"""Input validation helpers that give clear errors naming the parameter.

Checks run only on concrete values: under ``jit``/``vmap``/``grad`` the values are
tracers and cannot be inspected, so validation is skipped (construct objects with
concrete values once, outside transformations, to have them checked).
"""
from __future__ import annotations

import numpy as np
import jax


def is_concrete(value) -> bool:
    """True when ``value`` holds no tracer, so it can be inspected."""
    leaves = jax.tree_util.tree_leaves(value)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _values(value):
    return np.asarray(value, dtype=np.float64)


def check_finite(name: str, value) -> None:
    if is_concrete(value) and not np.all(np.isfinite(_values(value))):
        raise ValueError(f"{name} must be finite, got a non-finite value")


def check_positive(name: str, value) -> None:
    """Raise ValueError unless every element of ``value`` is finite and > 0."""
    if not is_concrete(value):
        return
    v = _values(value)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be positive and finite, got {_show(v)}")


def check_nonnegative(name: str, value) -> None:
    """Raise ValueError unless every element of ``value`` is finite and >= 0."""
    if not is_concrete(value):
        return
    v = _values(value)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"{name} must be non-negative and finite, got {_show(v)}")


def check_probability(name: str, value) -> None:
    """Raise ValueError unless every element of ``value`` lies in [0, 1]."""
    if not is_concrete(value):
        return
    v = _values(value)
    if not np.all(np.isfinite(v)) or np.any((v < 0) | (v > 1)):
        raise ValueError(f"{name} must be a probability in [0, 1], got {_show(v)}")


def check_less(name_lo: str, lo, name_hi: str, hi) -> None:
    """Raise ValueError unless ``lo < hi`` element-wise."""
    if not (is_concrete(lo) and is_concrete(hi)):
        return
    if np.any(_values(lo) >= _values(hi)):
        raise ValueError(f"{name_lo} must be smaller than {name_hi}, got {name_lo}={_show(_values(lo))} "
                         f"and {name_hi}={_show(_values(hi))}")


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _show(v: np.ndarray) -> str:
    if v.ndim == 0:
        return repr(float(v))
    bad = v[~np.isfinite(v)] if not np.all(np.isfinite(v)) else v
    return f"array with values such as {float(bad.ravel()[0])!r}"
