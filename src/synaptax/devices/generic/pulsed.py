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
import contextlib
import threading

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ..._checks import check_finite, check_less, check_nonnegative, check_positive, is_concrete
from ... import _random as fast_random
from ..core.contract import AbstractDevice, PulseCounts, split_pulses
from ..core.variability import Variability


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

        Models whose laws use :func:`geometric_steps` are evaluated in a ``lax.switch`` on
        the range of the largest count (:func:`by_whole_count_range`): whole counts, as
        pulses always are, take the closed form's exact integer path (no transcendental
        functions); fractional counts the general one.  Same law, same noise draws.
        """
        counts = split_pulses(pulses)
        g0 = state.conductance
        up = jnp.broadcast_to(counts.up, g0.shape).astype(g0.dtype)
        down = jnp.broadcast_to(counts.down, g0.shape).astype(g0.dtype)
        if self._whole_count_laws and whole_count_bits() is None:
            g = by_whole_count_range(lambda: self._conductance_after(state, up, down, key), up, down)
        else:
            g = self._conductance_after(state, up, down, key)
        return eqx.tree_at(lambda s: s.conductance, state, g)

    #: True when the model laws use :func:`geometric_steps` (or otherwise gain from knowing
    #: that the counts are whole numbers in a known range, see :func:`by_whole_count_range`).
    _whole_count_laws = False

    def _conductance_after(self, state: PulsedState, up: Array, down: Array, key) -> Array:
        """New conductance [S] of every cell after ``up`` then ``down`` pulses (the update law
        of :meth:`apply_pulses`)."""
        g0 = state.conductance
        span = state.g_max - state.g_min
        g_up = self._deterministic(g0, state, up, span, potentiate=True)
        g_det = self._deterministic(g_up, state, down, span, potentiate=False)
        g = g_det
        if self._has_c2c_noise():
            # the up and down errors are independent Gaussians: one draw of their summed variance
            var = self._c2c_var(g0, g_up, up, span) + self._c2c_var(g_up, g_det, down, span)
            g = jnp.clip(g_det + jnp.sqrt(var) * fast_random.box_muller_normal(key, g0.shape, g0.dtype), state.g_min, state.g_max)
        return jnp.where(state.stuck == 0, g, g0)

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


#: Pulse-count ranges ``n < 2^bits`` of the exact integer path of :func:`geometric_steps`
#: (few: every range is one more compiled copy of the update).
_POWER_BITS = (4, 16)


def _one_minus_power(c: Array, n: Array, bits: int) -> Array:
    """``1 − (1 − c)^n`` for whole counts ``0 ≤ n < 2^bits``, by binary splitting.

    With ``s_k = 1 − (1 − c)^k``: ``s_{a+b} = s_a + s_b·(1 − s_a)`` and
    ``s_{2a} = s_a·(2 − s_a)``, so ``s_n`` is built from the bits of ``n`` with a few
    multiplications, no cancellation (``s_1 = c`` exactly) and no transcendental function.
    """
    k = n.astype(jnp.int32)
    s = jnp.zeros_like(c)
    b = c  # s_{2^i}
    for i in range(bits):
        s = jnp.where(((k >> i) & 1) == 1, s + b * (1.0 - s), s)
        if i + 1 < bits:
            b = b * (2.0 - b)
    return s


_COUNTS = threading.local()


@contextlib.contextmanager
def whole_counts(bits: int):
    """Within this context (at trace time) every pulse count reaching the model laws is a
    whole number in ``[0, 2^bits)``; :func:`geometric_steps` then uses its exact integer
    path with ``bits`` rounds without checking.  ``bits = 0``: the counts are known not to
    be (all) such whole numbers; the general formulas are used, without a check either."""
    previous = getattr(_COUNTS, "bits", None)
    _COUNTS.bits = bits
    try:
        yield
    finally:
        _COUNTS.bits = previous


def whole_count_bits() -> int | None:
    """The ``bits`` of the enclosing :func:`whole_counts` context, or None outside one."""
    return getattr(_COUNTS, "bits", None)


def _count_range_index(counts, ranges, general: bool) -> Array:
    """Index into ``ranges`` (bits) of the shortest range holding every count; with
    ``general``, ``len(ranges)`` when some count is not a whole number in range."""
    n_max = jnp.max(jnp.stack([jnp.max(n) for n in counts]))
    index = jnp.zeros((), jnp.int32)
    for bits in ranges[:-1]:
        index = index + (n_max >= 2.0**bits).astype(jnp.int32)
    if not general:
        return index
    whole = jnp.all(jnp.stack([jnp.all((n >= 0) & (n == jnp.floor(n))) for n in counts]))
    return jnp.where(whole & (n_max < 2.0 ** ranges[-1]), index, len(ranges))


def by_whole_count_range(fn, *counts, max_count: int | None = None):
    """``fn()``, traced once per count range (a ``lax.switch`` on the largest of ``counts``):
    in the branch for whole counts below ``2^bits`` inside :func:`whole_counts` ``(bits)``,
    in the last branch (fractional or huge counts) inside ``whole_counts(0)``.  Every
    branch computes the same law; the whole-count ones only avoid transcendental
    functions.  ``fn`` should return only what changes (arrays passed through a switch are
    copied).

    ``max_count``: a static bound the caller guarantees, every count being a whole number
    in ``[0, max_count]`` (a coincidence update's batch × train length): the ranges stop
    at its bit length and there is no general branch.

    The switch stays even where one range would do: inside a training scan it keeps the
    update one unit, which XLA's CPU backend runs faster (measured per epoch) than the
    same update fused with, and partly hoisted out of, the rest of the step."""
    if any(n.size == 0 for n in counts):
        return fn()

    def branch(bits):
        def run(_):
            with whole_counts(bits):
                return fn()
        return run

    if max_count is None:
        ranges, general = _POWER_BITS, True
    else:
        top = max(1, int(max_count).bit_length())
        ranges, general = tuple(b for b in _POWER_BITS if b < top) + (top,), False
    branches = [branch(bits) for bits in ranges] + ([branch(0)] if general else [])
    index = _count_range_index(counts, ranges, general)
    if is_concrete(index):  # eager: run the one branch (a switch would be compiled per call)
        return branches[int(index)](None)
    return jax.lax.switch(index, branches, None)


def geometric_steps(c: Array, n: Array) -> Array:
    """``(1 − (1 − c)^n)/c``: the sum of ``n`` terms of a geometric series of ratio ``1 − c``.

    Exact closed form of ``n`` steps of an affine update ``x ← x + a − c·x``, with the limit
    ``n`` as ``c → 0``; ``c`` is clipped to ``[0, 0.999]``.

    When every count is a whole number below ``2^16`` (pulse counts always are) the power
    is built by binary splitting of ``n`` (:func:`_one_minus_power`, as many rounds as the
    largest count has bits, chosen at run time, or given by an enclosing
    :func:`whole_counts`), otherwise as ``−expm1(n·log1p(−c))``.  Both are the same closed
    form to rounding; the first needs no transcendental function and is several times
    cheaper on a CPU.
    """
    c = jnp.clip(c, 0.0, 0.999)
    n = jnp.asarray(n, c.dtype)
    c, n = jnp.broadcast_arrays(c, n)
    small = c < 1e-7
    c_safe = jnp.where(small, 0.5, c)
    bits = whole_count_bits()

    def run():
        bits = whole_count_bits()
        if not bits:
            s = -jnp.expm1(n * jnp.log1p(-c_safe))
        else:
            s = _one_minus_power(c_safe, n, bits)
        return jnp.where(small, n * (1.0 - 0.5 * (n - 1.0) * c), s / c_safe)

    if bits is not None:
        return run()
    return by_whole_count_range(run, n)
