"""Shared machinery of the generic pulsed devices (conductance set by pulse count).

A generic pulsed device has one state variable, its conductance ``G`` [S], bounded per
cell by ``[g_min, g_max]``.  A model supplies only its deterministic update law for
``n`` same-direction pulses, written on the normalised conductance
``x = (G − g_min)/(g_max − g_min)`` of each cell; this module adds device-to-device
variation, cycle-to-cycle noise, clipping to the bounds, stuck-at faults, read noise and
the write energy.

Energy of one write pulse of amplitude ``V`` and width ``t``: ``E = V²·G·t`` (the
resistive dissipation of the cell during the pulse, at its present conductance).
"""
from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from .._checks import check_finite, check_less, check_nonnegative, check_positive, is_concrete
from .. import _random as fast_random
from .base import AbstractDevice, PulseCounts, split_pulses
from .variability import Variability


class PulsedState(eqx.Module):
    """State of an array of generic pulsed devices; every field has the array's shape.

    Attributes:
        conductance: present conductance [S].
        step_up: this cell's nominal potentiation step [S] (device-to-device sample).
        step_down: this cell's nominal depression step magnitude [S].
        g_min: this cell's lower bound [S].
        g_max: this cell's upper bound [S].
        stuck: int8 fault code: 0 working, 1 stuck at ``g_min``, 2 stuck at ``g_max``.
    """

    conductance: Array
    step_up: Array
    step_down: Array
    g_min: Array
    g_max: Array
    stuck: Array


class AbstractPulsedDevice(AbstractDevice):
    """Base of the generic pulsed devices.  Subclasses implement :meth:`_potentiate` and
    :meth:`_depress` on normalised conductance.

    Common attributes (SI units):
        g_min, g_max: nominal conductance bounds [S], ``0 ≤ g_min < g_max``.
        step: nominal conductance change of one pulse at mid-range [S], > 0.
        asymmetry: mean up/down asymmetry ``β``: ``step_up = step·(1+β)``,
            ``step_down = step·(1−β)``; ``|β| < 1``.
        variability: :class:`Variability` (device-to-device, cycle-to-cycle, faults, read).
        pulse_voltage: write-pulse amplitude [V] (for the write energy).
        pulse_width: write-pulse width [s] (for the write energy).
    """

    g_min: float
    g_max: float
    step: float
    asymmetry: float
    variability: Variability
    pulse_voltage: float
    pulse_width: float

    def _check_common(self):
        check_nonnegative("g_min", self.g_min)
        check_positive("g_max", self.g_max)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        check_positive("step", self.step)
        if is_concrete(self.asymmetry) and not abs(float(self.asymmetry)) < 1.0:
            raise ValueError(f"asymmetry must satisfy |asymmetry| < 1, got {float(self.asymmetry)!r}")
        check_finite("pulse_voltage", self.pulse_voltage)
        check_positive("pulse_width", self.pulse_width)

    def __check_init__(self):
        self._check_common()

    # ----------------------------------------------------------------- model law
    @abc.abstractmethod
    def _potentiate(self, x: Array, n: Array, step: Array, span: Array) -> Array:
        """Normalised conductance after ``n ≥ 0`` potentiation pulses (no noise, no clip).

        Args:
            x: normalised conductance in [0, 1].
            n: pulse count (float, ≥ 0).
            step: this cell's potentiation step at mid-range, normalised by ``span``.
            span: this cell's ``g_max − g_min`` [S] (for models that need absolute values).
        """

    @abc.abstractmethod
    def _depress(self, x: Array, n: Array, step: Array, span: Array) -> Array:
        """Normalised conductance after ``n ≥ 0`` depression pulses (no noise, no clip)."""

    # ----------------------------------------------------------------- interface
    @property
    def conductance_range(self) -> tuple[float, float]:
        return (self.g_min, self.g_max)

    @property
    def nominal_step(self) -> float:
        return self.step

    def init(self, shape, *, key: PRNGKeyArray, conductance: ArrayLike | None = None) -> PulsedState:
        """State of an array of shape ``shape`` with device-to-device variation from ``key``.

        ``conductance`` [S] (broadcastable to ``shape``) sets the initial conductance,
        clipped to each cell's bounds; by default cells start at ``g_min``.  Stuck cells
        sit at their bound whatever ``conductance`` says.
        """
        shape = tuple(shape)
        var = self.variability
        k_step, k_asym, k_lo, k_hi, k_stuck = jax.random.split(key, 5)
        dtype = jnp.result_type(float)
        normal = lambda k: fast_random.normal(k, shape, dtype)  # noqa: E731
        scale = jnp.maximum(1.0 + var.d2d_step * normal(k_step), 0.0)
        beta = jnp.clip(self.asymmetry + var.d2d_asymmetry * normal(k_asym), -1.0, 1.0)
        step_up = self.step * scale * (1.0 + beta)
        step_down = self.step * scale * (1.0 - beta)
        span = self.g_max - self.g_min
        g_min = jnp.maximum(self.g_min * (1.0 + var.d2d_bounds * normal(k_lo)), 0.0)
        g_max = self.g_max * (1.0 + var.d2d_bounds * normal(k_hi))
        g_max = jnp.maximum(g_max, g_min + 0.05 * span)
        u = fast_random.uniform(k_stuck, shape, dtype)
        stuck = jnp.where(u < var.stuck_min, 1, jnp.where(u < var.stuck_min + var.stuck_max, 2, 0)).astype(jnp.int8)
        g0 = g_min if conductance is None else jnp.broadcast_to(jnp.asarray(conductance, dtype), shape)
        g0 = jnp.clip(g0, g_min, g_max)
        g0 = jnp.where(stuck == 1, g_min, jnp.where(stuck == 2, g_max, g0))
        return PulsedState(g0, step_up, step_down, g_min, g_max, stuck)

    def apply_pulses(self, state: PulsedState, pulses, *, key: PRNGKeyArray) -> PulsedState:
        """Apply pulses per cell: potentiation first, then depression.

        Args:
            state: :class:`PulsedState` of shape ``S``.
            pulses: signed pulse count per cell (array broadcastable to ``S``; positive
                potentiates) or :class:`PulseCounts` of non-negative ``up``/``down`` counts.
                Counts may be non-integer (a fractional count scales the step).
            key: PRNG key for cycle-to-cycle noise (keyword-only).

        Returns:
            The new state; conductance stays within each cell's bounds and stuck cells do
            not move.

        Update law: ``G ← clip(G_det + ε, g_min, g_max)`` with ``G_det`` the model's
        deterministic law applied for the potentiation count, then the depression count
        (each clipped to the bounds), and ``ε`` Gaussian with the summed variance of both
        directions, each ``(c2c·ΔG_det)²/n + (c2c_range·span)²·n`` for its ``n`` pulses
        (the noise of the two directions is drawn once, at the end).
        """
        counts = split_pulses(pulses)
        g0 = state.conductance
        up = jnp.broadcast_to(counts.up, g0.shape).astype(g0.dtype)
        down = jnp.broadcast_to(counts.down, g0.shape).astype(g0.dtype)
        span = state.g_max - state.g_min
        g_up = self._deterministic(g0, state, up, span, potentiate=True)
        g_det = self._deterministic(g_up, state, down, span, potentiate=False)
        g = g_det
        if self._has_c2c_noise():
            # the up and down errors are independent Gaussians: one draw of their summed variance
            var = self._c2c_var(g0, g_up, up, span) + self._c2c_var(g_up, g_det, down, span)
            g = jnp.clip(g_det + jnp.sqrt(var) * fast_random.normal(key, g0.shape, g0.dtype), state.g_min, state.g_max)
        g = jnp.where(state.stuck == 0, g, g0)
        return eqx.tree_at(lambda s: s.conductance, state, g)

    def _has_c2c_noise(self) -> bool:
        var = self.variability
        if not is_concrete((var.c2c, var.c2c_range)):
            return True
        return bool(var.c2c != 0 or var.c2c_range != 0)

    def _deterministic(self, g, state, n, span, *, potentiate: bool):
        x = (g - state.g_min) / span
        if potentiate:
            x_new = self._potentiate(x, n, state.step_up / span, span)
        else:
            x_new = self._depress(x, n, state.step_down / span, span)
        g_new = jnp.clip(state.g_min + x_new * span, state.g_min, state.g_max)
        return jnp.where(n > 0, g_new, g)

    def _c2c_var(self, g_before, g_after, n, span):
        """Variance [S²] of ``n`` pulses' summed cycle-to-cycle error."""
        var = self.variability
        v = (var.c2c * (g_after - g_before)) ** 2 / jnp.maximum(n, 1.0) + (var.c2c_range * span) ** 2 * n
        return jnp.where(n > 0, v, 0.0)

    def conductance(self, state: PulsedState) -> Array:
        return state.conductance

    def read(self, state: PulsedState, *, key: PRNGKeyArray | None = None) -> Array:
        """Conductance [S] with relative read noise ``variability.read_noise`` (needs ``key``
        when the noise is non-zero), clipped at zero."""
        g = state.conductance
        if self.variability.read_noise == 0 or key is None:
            if self.variability.read_noise != 0 and key is None:
                raise ValueError("key is required to read a device with read_noise > 0")
            return g
        return jnp.maximum(g * (1.0 + self.variability.read_noise * fast_random.normal(key, g.shape, g.dtype)), 0.0)

    def read_noise_std(self, state: PulsedState) -> Array | None:
        """``read_noise · G`` [S], or None when ``read_noise`` is zero."""
        if is_concrete(self.variability.read_noise) and self.variability.read_noise == 0:
            return None
        return self.variability.read_noise * state.conductance

    def pulse_energy(self, state: PulsedState) -> PulseCounts:
        """``V²·G·t`` [J] per cell for one pulse in either direction."""
        e = self.pulse_voltage**2 * state.conductance * self.pulse_width
        return PulseCounts(e, e)


def geometric_steps(c: Array, n: Array) -> Array:
    """``(1 − (1 − c)^n)/c``: the sum of ``n`` terms of a geometric series of ratio ``1 − c``.

    Exact closed form of ``n`` steps of an affine update ``x ← x + a − c·x``, with the limit
    ``n`` as ``c → 0``; ``c`` is clipped to ``[0, 0.999]``.
    """
    c = jnp.clip(c, 0.0, 0.999)
    small = c < 1e-7
    c_safe = jnp.where(small, 0.5, c)
    series = -jnp.expm1(n * jnp.log1p(-c_safe)) / c_safe
    return jnp.where(small, n * (1.0 - 0.5 * (n - 1.0) * c), series)
