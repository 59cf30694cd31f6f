"""Variability with one meaning across families.

:class:`Variability` holds the spreads every family shares — the per-cell conductance
window (``d2d_bounds``), stuck-at faults and read noise — and implements their sampling
once (:meth:`Variability.sample_cells`).  A family whose cells have more to spread
subclasses it and names the new fields for what they spread:
:class:`StepVariability` (generic pulsed devices and ECRAM: the step, its asymmetry and the
per-pulse noise), ``MagnetoIonicVariability`` (the rates and the capacity of the film).

Every spread is relative (a fraction) unless its docstring says otherwise, so a model and its
variability compose freely; every field may be traced (``jax.vmap`` over a stack of models).
"""
from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int8, PRNGKeyArray

from ..._checks import check_less, check_nonnegative, check_positive, check_probability, is_concrete
from ... import _random as fast_random

#: Smallest window a sampled cell keeps, as a fraction of the nominal window [assumed].
MIN_WINDOW = 0.05


class CellSample(NamedTuple):
    """Per-cell samples every family shares (each of the array's shape ``S``).

    Attributes:
        g_min: lower conductance bound [S].
        g_max: upper conductance bound [S], ≥ ``g_min + MIN_WINDOW·(nominal window)``.
        stuck: int8 fault code (0 working, 1 stuck at ``g_min``, 2 stuck at ``g_max``).
    """

    g_min: Float[Array, "..."]
    g_max: Float[Array, "..."]
    stuck: Int8[Array, "..."]

    def place(self, conductance: Array) -> Array:
        """``conductance`` [S] clipped to each cell's bounds, stuck cells at their bound."""
        g = jnp.clip(conductance, self.g_min, self.g_max)
        return jnp.where(self.stuck == 1, self.g_min, jnp.where(self.stuck == 2, self.g_max, g))


def check_spreads(variability, names) -> None:
    """``ValueError`` naming the field unless each of ``names`` is ≥ 0 (tracers skipped): the
    check a family's ``Variability`` subclass runs on its own spreads."""
    for name in names:
        check_nonnegative(name, getattr(variability, name))


class Variability(eqx.Module):
    """Spreads every family shares; all default to zero (an ideal, uniform array).

    Attributes:
        d2d_bounds: relative device-to-device spread of each cell's *weight bounds*,
            aihwkit's convention (``w_max_dtod``/``w_min_dtod``): around the middle of the
            nominal window ``g_c = (g_min + g_max)/2`` with half-width ``h``, each cell's
            bounds are ``g_max = g_c + h·(1 + d2d_bounds·z₁)`` and
            ``g_min = g_c − h·(1 + d2d_bounds·z₂)`` (independent standard normals), so the
            upper and the lower weight bound of a differential pair spread alike.  Each cell
            keeps ``g_min ≥ MIN_WINDOW·g_min_nominal`` and a window of at least
            ``MIN_WINDOW`` of the nominal one.
        stuck_min: probability that a cell is stuck at its ``g_min``.
        stuck_max: probability that a cell is stuck at its ``g_max``.
        read_noise: relative standard deviation of one read of the conductance (drawn per
            read, independently per cell).
    """

    d2d_bounds: float = 0.0
    stuck_min: float = 0.0
    stuck_max: float = 0.0
    read_noise: float = 0.0

    def __check_init__(self):
        check_nonnegative("d2d_bounds", self.d2d_bounds)
        check_nonnegative("read_noise", self.read_noise)
        check_probability("stuck_min", self.stuck_min)
        check_probability("stuck_max", self.stuck_max)
        if is_concrete((self.stuck_min, self.stuck_max)):
            check_probability("stuck_min + stuck_max", float(self.stuck_min) + float(self.stuck_max))

    def sample_cells(self, key: PRNGKeyArray, shape: tuple[int, ...], window, dtype) -> CellSample:
        """Per-cell bounds and fault codes of an array of ``shape``.

        Args:
            key: PRNG key; split into a bounds stream and a fault stream.
            shape: array shape ``S``.
            window: nominal ``(g_min, g_max)`` [S] of the family.
            dtype: float dtype of the bounds.
        """
        k_bounds, k_stuck = jax.random.split(key)
        lo, hi = (jnp.asarray(w, dtype) for w in window)
        half = 0.5 * (hi - lo)
        z_hi, z_lo = fast_random.normal(k_bounds, (2,) + tuple(shape), dtype)
        # centre ± half·(1 + d2d·z), written so that a zero spread gives the nominal bounds exactly
        g_max = hi + half * self.d2d_bounds * z_hi
        g_min = jnp.maximum(lo - half * self.d2d_bounds * z_lo, MIN_WINDOW * lo)
        g_max = jnp.maximum(g_max, g_min + MIN_WINDOW * (hi - lo))
        u = fast_random.uniform(k_stuck, shape, dtype)
        stuck = jnp.where(u < self.stuck_min, 1, jnp.where(u < self.stuck_min + self.stuck_max, 2, 0)).astype(jnp.int8)
        return CellSample(g_min, g_max, stuck)


class StepVariability(Variability):
    """Variability of devices moved by a conductance *step* per pulse (the generic pulsed
    devices and ECRAM), after aihwkit's and NeuroSim's conventions.

    Attributes (beyond :class:`Variability`):
        d2d_step: relative device-to-device spread of each cell's step size (potentiation
            and depression steps scaled together), truncated at zero.
        d2d_asymmetry: device-to-device standard deviation of each cell's up/down
            asymmetry ``β`` (``step_up = step·(1 + β)``, ``step_down = step·(1 − β)``),
            added to the model's mean asymmetry.
        c2c: relative standard deviation of one pulse's step (aihwkit's ``dw_min_std``):
            pulse ``k`` changes the conductance by ``δ_k·(1 + c2c·ξ_k)``, ``δ_k`` the law's
            step at the cell's (noisy) present conductance.
        c2c_range: standard deviation of one pulse's additive error relative to the
            conductance range ``g_max − g_min`` (NeuroSim's convention).

    For ``n`` pulses in one call the sum of the ``n`` per-pulse errors, carried along the
    law, is drawn at once (:func:`step_noise_variance`).
    """

    d2d_step: float = 0.0
    d2d_asymmetry: float = 0.0
    c2c: float = 0.0
    c2c_range: float = 0.0

    def __check_init__(self):
        check_spreads(self, ("d2d_step", "d2d_asymmetry", "c2c", "c2c_range"))

    @property
    def has_step_noise(self) -> bool:
        """False when both per-pulse noises are concrete zeros (no draw needed)."""
        if not is_concrete((self.c2c, self.c2c_range)):
            return True
        return bool(np.any(np.asarray(self.c2c) != 0) or np.any(np.asarray(self.c2c_range) != 0))

    def sample_steps(self, key: PRNGKeyArray, shape: tuple[int, ...], asymmetry, dtype) -> tuple[Array, Array]:
        """Per-cell ``(scale_up, scale_down)`` multipliers of the nominal step: a common
        factor ``max(1 + d2d_step·z, 0)`` times ``1 ± β`` with ``β = asymmetry +
        d2d_asymmetry·z'`` clipped to [−1, 1]."""
        z_step, z_asym = fast_random.normal(key, (2,) + tuple(shape), dtype)
        scale = jnp.maximum(1.0 + self.d2d_step * z_step, 0.0)
        beta = jnp.clip(asymmetry + self.d2d_asymmetry * z_asym, -1.0, 1.0)
        return scale * (1.0 + beta), scale * (1.0 - beta)


def geometric_contraction(step_start: Array, step_end: Array, n: Array) -> tuple[Array, Array]:
    """``(ρ, ρⁿ)`` of a law that is not affine per pulse, from the magnitudes of its
    one-pulse steps at the start and the end of an ``n``-pulse train: ``ρⁿ = δ_n/δ_0`` and
    ``ρ`` its ``n``-th root (a geometric step profile); 1 where nothing moves."""
    rho_n = jnp.where(step_start > 0, step_end / jnp.where(step_start > 0, step_start, 1.0), 1.0)
    rho = jnp.where(n > 0, jnp.maximum(rho_n, 1e-30) ** (1.0 / jnp.maximum(n, 1e-30)), 1.0)
    return rho, rho_n


def step_noise_variance(c2c, c2c_range, step_end: Array, contraction: Array, n: Array, span: Array,
                        contraction_n: Array | None = None) -> Array:
    """Variance [S²] of the summed cycle-to-cycle error of ``n`` pulses of one direction.

    Pulse ``k`` (``k = 0 … n−1``) adds ``c2c·δ_k·ξ_k + c2c_range·span·ξ'_k`` (``δ_k`` the
    law's step at pulse ``k``); a later pulse carries an earlier error on multiplied by the
    law's per-pulse *contraction* ``ρ = ∂x_{k+1}/∂x_k``.  For a law that is affine per pulse
    (constant step ``ρ = 1``, linear step and soft bounds ``ρ = 1 − 2γ·step/span``,
    NeuroSim's exponential ``ρ = e^{−r}``) ``δ_k·ρ^{n−1−k} = δ_{n−1}`` for every ``k``, so the
    sum is the closed form

        Var = n·(c2c·δ_{n−1})²  +  (c2c_range·span)²·(1 − ρ^{2n})/(1 − ρ²),

    with ``δ_{n−1} = δ_n/ρ`` the step of the last pulse and ``δ_n`` the step one more pulse
    would make at the deterministic end point.  The steps are those of the deterministic
    path; a simulation that evaluates each step at the noisy conductance differs from it
    at second order: by a relative ``(n − 1)·ε/2`` in the variance, ``ε = ((1 − ρ)·c2c/ρ)²``
    (below 1e-3 for every preset).  For other laws ``ρ`` is the geometric mean
    contraction ``(δ_n/δ_0)^{1/n}`` (a geometric step profile); their error is measured in
    the tests.

    Args:
        c2c, c2c_range: the :class:`StepVariability` spreads.
        step_end: ``δ_n`` [S], the step one more pulse would make at the end point.
        contraction: ``ρ`` in (0, 1] (or > 1 for a law whose step grows).
        n: pulse count (≥ 0, may be fractional).
        span: the cell's range ``g_max − g_min`` [S].
        contraction_n: ``ρⁿ`` when known more cheaply or exactly; computed otherwise.

    A fractional count ``n < 1`` is one pulse of ``n`` times the step, its multiplicative
    error scaled alike (``c2c·n·δ``).  Every array broadcasts to the cells' shape; zero where
    ``n = 0``.
    """
    rho = jnp.maximum(contraction, 1e-6)
    rho_n = rho**n if contraction_n is None else contraction_n
    count = jnp.where(n < 1.0, n * n, n)
    v_mult = count * (c2c * step_end / rho) ** 2
    one_minus = 1.0 - rho * rho
    near_one = jnp.abs(one_minus) < 1e-6
    series = jnp.where(near_one, n, (1.0 - rho_n * rho_n) / jnp.where(near_one, 1.0, one_minus))
    v_add = (c2c_range * span) ** 2 * series
    return jnp.where(n > 0, v_mult + v_add, 0.0)


def check_step_device(device) -> None:
    """The checks every step-based device model shares: its window ``0 ≤ g_min < g_max``
    [S], a positive nominal ``step`` [S], ``|asymmetry| < 1`` and a :class:`StepVariability`
    (one-line ``ValueError``/``TypeError`` naming the field)."""
    check_nonnegative("g_min", device.g_min)
    check_positive("g_max", device.g_max)
    check_less("g_min", device.g_min, "g_max", device.g_max)
    check_positive("step", device.step)
    if is_concrete(device.asymmetry) and not abs(float(device.asymmetry)) < 1.0:
        raise ValueError(f"asymmetry must satisfy |asymmetry| < 1, got {float(device.asymmetry)!r}")
    if not isinstance(device.variability, StepVariability):
        raise TypeError(f"variability must be a StepVariability, got {type(device.variability).__name__}")


__all__ = ["CellSample", "MIN_WINDOW", "StepVariability", "Variability", "check_spreads", "check_step_device",
           "geometric_contraction", "step_noise_variance"]
