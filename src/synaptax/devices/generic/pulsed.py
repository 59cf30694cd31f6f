"""Shared machinery of the generic pulsed devices (conductance set by pulse count).

A generic pulsed device has one state variable, its conductance ``G`` [S], bounded per
cell by ``[g_min, g_max]``.  A model supplies only its deterministic per-pulse law on the
normalised conductance ``x = (G − g_min)/(g_max − g_min)`` of each cell:

* an *affine* law (one pulse is ``x ← x + a − c·x``: constant step, linear step, soft
  bounds, NeuroSim's exponential) states its coefficients in :meth:`_affine`; ``n`` pulses
  are then the exact geometric closed form and the cycle-to-cycle noise of ``n`` pulses a
  closed form too (:func:`~synaptax.devices.core.variability.step_noise_variance`);
* any other law overrides :meth:`_law` (``n`` pulses) and, where it is cheap,
  :meth:`_step_at` (one pulse); its noise is the first-order value along a geometric step
  profile.

This module adds device-to-device variation, cycle-to-cycle noise, clipping to the bounds,
stuck-at faults, the write energy and an optional relaxation toward a rest state while no
pulse arrives (:class:`~synaptax.devices.generic.relaxation.Relaxation`, applied by
``evolve``); read noise, bounds and faults are the contract's (:mod:`synaptax.devices.core`).

Compact state (:func:`compact`, the model's ``cell_dtype``): a cell's device-to-device
parameters — its two steps and its two bounds — are fixed at ``init`` and only read by an
update, so they may be stored in a 16-bit float relative to the nominal values
(:class:`CompactPulsedState`: 13 instead of 21 bytes per cell at float32, the conductance
kept in the full float dtype).  What is lost is the 12th and later significant bits of each
sampled parameter (float16: a step within a relative 2⁻¹¹ ≈ 4.9e-4 of its sample, a bound
within 4.9e-4 of its offset from the nominal bound; bfloat16: 2⁻⁸ ≈ 3.9e-3): a slightly
different device-to-device sample, not a different law.  A device without device-to-device
spread is stored exactly.

Energy of one write pulse of amplitude ``V`` and width ``t``: ``E = V²·G·t`` (the
resistive dissipation of the cell during the pulse, at its present conductance).
"""
from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import equinox as eqx
from jaxtyping import Array, Float, Int8, PRNGKeyArray

from ..._checks import check_finite, check_positive, is_concrete
from ... import _random as fast_random
from ..core.contract import AbstractDevice, AbstractDeviceState, PulseCounts, PulseEnergy, hold_stuck
from ..core.variability import CellSample, StepVariability, check_step_device, geometric_contraction, step_noise_variance
from .relaxation import Relaxation


class PulsedState(AbstractDeviceState):
    """State of an array of generic pulsed devices; every field has the array's shape ``S``.

    Attributes:
        conductance: present conductance [S].
        step_up: this cell's nominal potentiation step [S] (device-to-device sample).
        step_down: this cell's nominal depression step magnitude [S].
        g_min: this cell's lower bound [S].
        g_max: this cell's upper bound [S].
        stuck: int8 fault code: 0 working, 1 stuck at ``g_min``, 2 stuck at ``g_max``.
        age: time since this cell's last pulse [s]; carried only by a device whose
            relaxation law is ``"pow"`` (the only law with memory), None otherwise (no leaf:
            the state is that of a device without relaxation).
    """

    conductance: Float[Array, "..."]
    step_up: Float[Array, "..."]
    step_down: Float[Array, "..."]
    g_min: Float[Array, "..."]
    g_max: Float[Array, "..."]
    stuck: Int8[Array, "..."]
    age: Float[Array, "..."] | None = None


#: The dtypes a generic pulsed device may store its cells' device-to-device parameters in
#: (``cell_dtype``; None: the conductance's float dtype, a :class:`PulsedState`).
CELL_DTYPES = ("float16", "bfloat16")


class CompactPulsedState(AbstractDeviceState):
    """State of an array of generic pulsed devices whose model has a ``cell_dtype``
    (:func:`compact`): the per-cell device-to-device parameters in a 16-bit float, relative
    to the nominal values; every array field has the array's shape ``S``.

    The contract's ``g_min``, ``g_max`` and the pulsed family's ``step_up``, ``step_down``
    [S] are properties, decoded from the stored fields on every use (four multiply-adds per
    cell), so every law and every caller that reads a :class:`PulsedState` reads this one
    alike.  Bytes per cell at float32: 4 (conductance) + 4 × 2 + 1 (stuck) = 13, against 21.

    Attributes:
        conductance: present conductance [S] (the default float dtype, as in
            :class:`PulsedState`).
        scale_up, scale_down: this cell's potentiation / depression step in units of the
            model's nominal ``step`` (``cell_dtype``).
        low, high: this cell's bound offsets from the model's nominal bounds in units of
            ``u``, the power of two at or below the nominal window ``g_max − g_min``:
            ``g_min = nominal g_min + low·u``, ``g_max = nominal g_max + high·u``
            (``cell_dtype``; exactly 0 without a bound spread).  ``u`` a power of two makes
            ``low·u`` exact, so a bound decodes to the same number in every program, fused
            multiply-add or not, and a conductance clipped to it stays within it.
        stuck: int8 fault code: 0 working, 1 stuck at ``g_min``, 2 stuck at ``g_max``.
        nominal: the model's nominal ``(g_min, g_max, step)`` [S] and ``u``, shape ``(4,)``
            (a stack of states: a leading axis), in the conductance's dtype.
        age: as :class:`PulsedState` (a ``"pow"`` relaxation only).
    """

    conductance: Float[Array, "..."]
    scale_up: Array
    scale_down: Array
    low: Array
    high: Array
    stuck: Int8[Array, "..."]
    nominal: Float[Array, "4"]
    age: Float[Array, "..."] | None = None

    def _nominal(self, i: int) -> Array:
        v = self.nominal[..., i]  # () or a stack's leading axes, broadcast against the cells
        return v.reshape(v.shape + (1,) * (self.low.ndim - v.ndim))

    def _decode(self, a: Array) -> Array:
        return a.astype(self.conductance.dtype)

    @property
    def g_min(self) -> Array:
        """This cell's lower bound [S]."""
        return self._nominal(0) + self._nominal(3) * self._decode(self.low)

    @property
    def g_max(self) -> Array:
        """This cell's upper bound [S]."""
        return self._nominal(1) + self._nominal(3) * self._decode(self.high)

    @property
    def step_up(self) -> Array:
        """This cell's nominal potentiation step [S]."""
        return self._nominal(2) * self._decode(self.scale_up)

    @property
    def step_down(self) -> Array:
        """This cell's nominal depression step magnitude [S]."""
        return self._nominal(2) * self._decode(self.scale_down)


def _check_cell_dtype(dtype) -> str | None:
    if dtype is None:
        return None
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        name = None
    if name not in CELL_DTYPES:
        raise ValueError(f"cell_dtype must be None or one of {', '.join(repr(d) for d in CELL_DTYPES)}, "
                         f"got {dtype!r}")
    return name


def compact(device: "AbstractPulsedDevice", dtype: str | None = "float16") -> "AbstractPulsedDevice":
    """``device`` (a generic pulsed device) with its cells' device-to-device parameters stored
    in ``dtype`` (``"float16"``, ``"bfloat16"``, or None for the full state): its ``init``
    then returns a :class:`CompactPulsedState` (13 instead of 21 bytes per cell at float32).

    Every operation of the contract works on it unchanged; an array of a compact device is
    an array of a device with the same law whose sampled steps and bounds are rounded to
    ``dtype`` (float16: each step within a relative 2⁻¹¹ of its sample, each bound within
    2⁻¹¹ of its offset from the nominal bound; ``tests/test_scale.py`` bounds the update's
    difference from the full state).  ``cell_dtype`` is a static field of the model: a
    crossbar, a network or a study built on the returned device uses the compact state
    throughout.  Example::

        device = compact(get_preset("reram-sb"))
        crossbar = Crossbar(device, 16384, 16384)          # 26 bytes per weight (a pair)
        state = crossbar.jitted_init()(jax.random.key(0))
        update = crossbar.jitted_update()                    # in place
        state = update(state, x, d, 0.01, key)
    """
    if not isinstance(device, AbstractPulsedDevice):
        raise TypeError(f"compact needs a generic pulsed device, got {type(device).__name__}")
    new = copy.copy(device)
    object.__setattr__(new, "cell_dtype", _check_cell_dtype(dtype))  # a static field of a frozen module
    return new


class AbstractPulsedDevice(AbstractDevice):
    """Base of the generic pulsed devices; a law implements :meth:`_affine` or :meth:`_law`.

    Attributes (SI units; every preset tags its values):
        g_min, g_max: nominal conductance bounds [S], ``0 ≤ g_min < g_max``.
        step: nominal conductance change of one pulse at mid-range [S], > 0.
        asymmetry: mean up/down asymmetry ``β``: ``step_up = step·(1+β)``,
            ``step_down = step·(1−β)``; ``|β| < 1``.
        variability: :class:`~synaptax.devices.core.variability.StepVariability`.
        pulse_voltage: write-pulse amplitude [V] (for the write energy).
        pulse_width: write-pulse width [s] (for the write energy).
        relaxation: optional decay of the conductance toward a rest state while no pulse
            arrives (:class:`~synaptax.devices.generic.relaxation.Relaxation`, applied by
            ``evolve``); None: ``evolve`` is the identity.
        cell_dtype: None (default: a :class:`PulsedState`, every field in the float dtype)
            or ``"float16"``/``"bfloat16"``: each cell's sampled steps and bounds stored in
            that dtype relative to the nominal values, a :class:`CompactPulsedState`
            (static; set it with :func:`compact`).
    """

    g_min: float = 0.1e-6
    g_max: float = 1.0e-6
    step: float = 1e-9
    asymmetry: float = 0.0
    variability: StepVariability = StepVariability()
    pulse_voltage: float = 1.0
    pulse_width: float = 1e-9
    relaxation: Relaxation | None = None
    cell_dtype: str | None = eqx.field(default=None, static=True)
    cellwise_pulses = True  # each cell's law, noise and bounds are its own (a ClassVar of the contract)

    def __check_init__(self):
        check_step_device(self)
        _check_cell_dtype(self.cell_dtype)
        check_finite("pulse_voltage", self.pulse_voltage)
        check_positive("pulse_width", self.pulse_width)
        if self.relaxation is not None and not isinstance(self.relaxation, Relaxation):
            raise TypeError(f"relaxation must be a Relaxation or None, got {type(self.relaxation).__name__}")

    # ----------------------------------------------------------------- model law
    def _affine(self, step: Array, *, potentiate: bool):
        """Coefficients ``(a, c)`` of one pulse ``x ← x + a − c·x`` on normalised conductance,
        for a cell whose normalised mid-range step is ``step``; None for a law that is not
        affine (which then overrides :meth:`_law`)."""
        return None

    def _law(self, x: Array, n: Array, step: Array, span: Array, *, potentiate: bool, bits: int | None) -> Array:
        """Normalised conductance after ``n ≥ 0`` pulses of one direction (no noise, no clip).

        Args:
            x: normalised conductance in [0, 1].
            n: pulse count (float, ≥ 0).
            step: this cell's step at mid-range, normalised by ``span``.
            span: this cell's ``g_max − g_min`` [S] (for laws that need absolute values).
            potentiate: direction.
            bits: the counts are whole numbers below ``2^bits`` (0: not known to be).

        Affine laws need not implement it (their closed form is in :meth:`_direction`).
        """
        raise NotImplementedError(f"{type(self).__name__} implements neither _affine nor _law")

    def _step_at(self, x: Array, step: Array, span: Array, *, potentiate: bool) -> Array:
        """Normalised change of one pulse at ``x`` (signed)."""
        coeffs = self._affine(step, potentiate=potentiate)
        if coeffs is not None:
            a, c = coeffs
            return a - c * x
        return self._law(x, jnp.ones_like(x), step, span, potentiate=potentiate, bits=1) - x

    @property
    def _is_affine(self) -> bool:
        return type(self)._affine is not AbstractPulsedDevice._affine

    @property
    def _constant_step(self) -> bool:
        """A law whose contraction is a concrete zero both ways (``c = 0``: a constant step),
        so that ``n`` pulses are ``n`` steps however the count is evaluated."""
        if not self._is_affine:
            return False
        coeffs = [self._affine(1.0, potentiate=p) for p in (True, False)]
        return all(isinstance(c, (int, float)) and c == 0 for _, c in coeffs)

    # ----------------------------------------------------------------- interface
    @property
    def conductance_range(self) -> tuple[float, float]:
        """``(g_min, g_max)`` [S]."""
        return (self.g_min, self.g_max)

    @property
    def nominal_step(self) -> float:
        """``step`` [S]: the change of one pulse at mid-range."""
        return self.step

    def _init(self, cells: CellSample, *, key: PRNGKeyArray, conductance) -> PulsedState:
        """Per-cell steps from ``key`` (:meth:`StepVariability.sample_steps`); cells start at
        ``g_min`` unless ``conductance`` [S] is given.  A ``"pow"`` relaxation starts every
        cell at age 0 (as if just pulsed)."""
        dtype = cells.g_min.dtype
        scale_up, scale_down = self.variability.sample_steps(key, cells.g_min.shape, self.asymmetry, dtype)
        age = jnp.zeros(cells.g_min.shape, dtype) if self._carries_age else None
        if self.cell_dtype is not None:
            return self._init_compact(cells, scale_up, scale_down, conductance, age)
        g0 = cells.g_min if conductance is None else conductance
        return PulsedState(cells.place(g0), self.step * scale_up, self.step * scale_down, cells.g_min, cells.g_max,
                           cells.stuck, age)

    def _init_compact(self, cells: CellSample, scale_up, scale_down, conductance, age) -> CompactPulsedState:
        """The :class:`CompactPulsedState` of the samples: steps and bound offsets rounded to
        ``cell_dtype``, the conductance placed within the *rounded* bounds."""
        dtype, store = cells.g_min.dtype, jnp.dtype(self.cell_dtype)
        lo, hi, step = (jnp.asarray(v, dtype) for v in (self.g_min, self.g_max, self.step))
        unit = 2.0 ** jnp.floor(jnp.log2(hi - lo))  # a power of two: offset × unit is exact
        unit = jnp.where(unit > hi - lo, 0.5 * unit, unit).astype(dtype)  # log2 rounding
        state = CompactPulsedState(
            conductance=jnp.zeros((), dtype),  # placeholder, placed below within the decoded bounds
            scale_up=scale_up.astype(store), scale_down=scale_down.astype(store),
            low=((cells.g_min - lo) / unit).astype(store), high=((cells.g_max - hi) / unit).astype(store),
            stuck=cells.stuck, nominal=jnp.stack([lo, hi, step, unit]), age=age)
        placed = CellSample(state.g_min, state.g_max, cells.stuck)
        g = placed.place(placed.g_min if conductance is None else conductance)
        return eqx.tree_at(lambda s: s.conductance, state, g)

    @property
    def _carries_age(self) -> bool:
        return self.relaxation is not None and self.relaxation.needs_age

    def _apply_counts(self, state: PulsedState, up: Array, down: Array, *, key: PRNGKeyArray) -> PulsedState:
        """Update law: ``G ← clip(G_det + ε, g_min, g_max)``; ``G_det`` the law applied for the
        potentiation count, then the depression count (each clipped to the bounds); ``ε``
        Gaussian with the variance of both trains' per-pulse errors carried along the law
        (:func:`~synaptax.devices.core.variability.step_noise_variance`; the potentiation
        error is carried through the depression train too).  Stuck cells do not move.  A
        ``"pow"`` relaxation's age restarts at 0 in every cell that got a pulse."""
        return self._apply_many((state,), (PulseCounts(up, down),), (key,), None)[0]

    def _apply_many(self, states, pulses, keys, max_count):
        counts = []
        for s, p in zip(states, pulses):
            g = s.conductance
            counts.append((jnp.broadcast_to(p.up, g.shape).astype(g.dtype),
                           jnp.broadcast_to(p.down, g.shape).astype(g.dtype)))

        def run(bits):
            return tuple(self._conductance_after(s, up, down, k, bits) for s, (up, down), k in zip(states, counts, keys))

        if self._is_affine and not self._constant_step:
            # one switch on the range of the counts for every array, returning only the
            # conductances: whole counts take the exact integer path (see by_whole_count_range);
            # a constant step has one path for every count (n steps are n·step): no switch,
            # so the update is one pass over the cells, in place when the state is donated
            flat = [n for pair in counts for n in pair]
            gs = by_whole_count_range(run, *flat, max_count=max_count)
        else:
            gs = run(0)
        if self._carries_age:
            return tuple(_pulsed_at(s, g, up + down > 0) for s, g, (up, down) in zip(states, gs, counts))
        return tuple(eqx.tree_at(lambda s: s.conductance, s, g) for s, g in zip(states, gs))

    def _evolve(self, state: PulsedState, duration: Array) -> PulsedState:
        """Relaxation for ``duration`` [s] (scalar or broadcastable to ``S``):
        ``G ← G + (G_rest − G)·(1 − φ(age + duration)/φ(age))`` per cell (the
        :class:`~synaptax.devices.generic.relaxation.Relaxation` law, exactly composable),
        kept between ``G`` and ``G_rest`` and within the cell's bounds; the age grows by
        ``duration`` (``"pow"``).  Stuck cells do not move.  The identity (the same state)
        without a relaxation."""
        relax = self.relaxation
        if relax is None:
            return state
        age = None
        if relax.needs_age:
            if state.age is None:
                raise ValueError("this device's relaxation law 'pow' needs the age since each cell's last pulse, "
                                 "but the state carries none: create the state with this device's init")
            age = state.age
        g, lo, hi = state.conductance, state.g_min, state.g_max
        # strict comparisons (not clip) keep the gradient of a cell at a bound or at rest whole
        rest = lo + relax.rest * (hi - lo)
        rest = jnp.where(rest > hi, hi, rest)
        new = g + (rest - g) * relax._approach(age, duration)
        # never past the rest state (rounding), never outside the cell's window
        new = jnp.where(jnp.where(g > rest, new < rest, new > rest), rest, new)
        new = jnp.where(new > hi, hi, jnp.where(new < lo, lo, new))
        new = hold_stuck(new, g, state.stuck).astype(g.dtype)
        if age is None:
            return eqx.tree_at(lambda s: s.conductance, state, new)
        new_age = jnp.broadcast_to(age + duration, new.shape).astype(age.dtype)
        return eqx.tree_at(lambda s: (s.conductance, s.age), state, (new, new_age))

    def _direction(self, x, n, step, span, *, potentiate, bits):
        """Deterministic ``x`` after ``n`` pulses of one direction (clipped to [0, 1], the
        identity where ``n = 0``), the noise terms ``(δ_end, ρ, ρⁿ, n_noise)`` of the train
        and its overshoot ``x_raw − x_new`` past the bound (0 inside the window).

        A train with at least one whole pulse to spare past a bound has reached the bound
        before its last pulse: in a pulse-by-pulse simulation that clips every pulse, the
        earlier errors are erased there, and the last pulse starts on the bound, so the end is
        ``clip(bound + δ_bound + ε)`` with one pulse's noise ``ε`` (``n_noise = 1``, the
        overshoot the law's step at the bound).  A train whose last pulse only partly crosses
        the bound gets its noise added to its unclipped end point.  Either way the noise
        lands before the clip (:meth:`_conductance_after`): one pulse is exactly
        ``clip(x + δ(1 + c2c·ξ) + c2c_range·span·ξ')``, so a pulse toward a bound moves a cell
        sitting on it away from it only when its noise exceeds the step there."""
        coeffs = self._affine(step, potentiate=potentiate)
        if coeffs is not None:
            a, c = coeffs
            s = _steps(c, n, bits)
            x_raw = x + (a - c * x) * s
            rho, rho_n = 1.0 - c, 1.0 - c * s
            x_new = jnp.clip(x_raw, 0.0, 1.0)
            step_end = a - c * x_new
        else:
            x_raw = self._law(x, n, step, span, potentiate=potentiate, bits=bits)
            x_new = jnp.clip(x_raw, 0.0, 1.0)
            d0 = jnp.abs(self._step_at(x, step, span, potentiate=potentiate))
            step_end = jnp.abs(self._step_at(x_new, step, span, potentiate=potentiate))
            rho, rho_n = geometric_contraction(d0, step_end, n)
        # a train with a whole pulse or more to spare past the bound reaches the bound before
        # its last pulse, which then starts on it: only that pulse's noise remains, added to
        # its unclipped end (the bound plus the law's step there) before the clip
        surplus = jnp.abs(x_raw - x_new) / jnp.maximum(jnp.abs(step_end), 1e-30)
        saturated = (surplus >= 1.0) & (n > 1.0)  # one pulse starts inside the window: never
        n_noise = jnp.where(saturated, 1.0, n)
        rho = jnp.where(saturated, 1.0, rho)
        rho_n = jnp.where(saturated, 1.0, rho_n)
        over = jnp.where(saturated, jnp.sign(x_raw - x_new) * jnp.abs(step_end), x_raw - x_new)
        over = jnp.where(n > 0, over, 0.0)
        return jnp.where(n > 0, x_new, x), (step_end, rho, rho_n, n_noise), over

    def _conductance_after(self, state: PulsedState, up: Array, down: Array, key, bits) -> Array:
        """New conductance [S] of every cell after ``up`` then ``down`` pulses."""
        g0 = state.conductance
        span = state.g_max - state.g_min
        x0 = (g0 - state.g_min) / span
        x_up, (e_up, r_up, rn_up, m_up), o_up = self._direction(x0, up, state.step_up / span, span,
                                                                 potentiate=True, bits=bits)
        x_det, (e_dn, r_dn, rn_dn, m_dn), o_dn = self._direction(x_up, down, state.step_down / span, span,
                                                                 potentiate=False, bits=bits)
        # back to S per direction, so that a direction without pulses is exactly the identity
        g_up = jnp.where(up > 0, jnp.clip(state.g_min + x_up * span, state.g_min, state.g_max), g0)
        g = jnp.where(down > 0, jnp.clip(state.g_min + x_det * span, state.g_min, state.g_max), g_up)
        var = self.variability
        if var.has_step_noise:
            v_up = step_noise_variance(var.c2c, var.c2c_range, e_up * span, r_up, m_up, span, rn_up)
            v_dn = step_noise_variance(var.c2c, var.c2c_range, e_dn * span, r_dn, m_dn, span, rn_dn)
            carried = jnp.where(down > 0, rn_dn * rn_dn, 1.0)
            std = jnp.sqrt(v_up * carried + v_dn)
            # the noise lands on the unclipped end point of the last train (see _direction)
            over = jnp.where(down > 0, o_dn, o_up) * span
            noise = std * fast_random.box_muller_normal(key, g0.shape, g0.dtype)
            g = jnp.clip(g + jnp.where(std > 0, over + noise, 0.0), state.g_min, state.g_max)
        return hold_stuck(g, g0, state.stuck)

    def pulse_energy(self, state: PulsedState) -> PulseEnergy:
        """``V²·G·t`` [J] per cell for one pulse in either direction (shape ``S``)."""
        e = self.pulse_voltage**2 * state.conductance * self.pulse_width
        return PulseEnergy(e, e)


def _pulsed_at(state: PulsedState, g: Array, pulsed: Array) -> PulsedState:
    """``state`` with conductance ``g`` and its age restarted at 0 where ``pulsed``."""
    if state.age is None:
        return eqx.tree_at(lambda s: s.conductance, state, g)
    age = jnp.where(pulsed, jnp.zeros_like(state.age), state.age)
    return eqx.tree_at(lambda s: (s.conductance, s.age), state, (g, age))


# --------------------------------------------------------------------------- whole counts
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
    """``fn(bits)``, traced once per count range (a ``lax.switch`` on the largest of
    ``counts``): ``bits`` is the bit length of the range when every count is a whole number
    below ``2^bits``, 0 in the last branch (fractional or huge counts).  Every branch
    computes the same law; the whole-count ones only avoid transcendental functions.
    ``fn`` should return only what changes (arrays passed through a switch are copied).

    ``max_count``: a static bound the caller guarantees, every count being a whole number
    in ``[0, max_count]``: the ranges stop at its bit length and there is no general branch.

    The switch stays even where one range would do: inside a training scan it keeps the
    update one unit, which XLA's CPU backend runs faster (measured per epoch) than the
    same update fused with, and partly hoisted out of, the rest of the step."""
    if any(n.size == 0 for n in counts):
        return fn(0)
    if max_count is None:
        ranges, general = _POWER_BITS, True
    else:
        top = max(1, int(max_count).bit_length())
        ranges, general = tuple(b for b in _POWER_BITS if b < top) + (top,), False
    branches = [(lambda b: (lambda _: fn(b)))(bits) for bits in ranges] + ([lambda _: fn(0)] if general else [])
    index = _count_range_index(counts, ranges, general)
    if is_concrete(index):  # eager: run the one branch (a switch would be compiled per call)
        return branches[int(index)](None)
    return jax.lax.switch(index, branches, None)


def geometric_steps(c: Array, n: Array, bits: int | None = None) -> Array:
    """``(1 − (1 − c)^n)/c``: the sum of ``n`` terms of a geometric series of ratio ``1 − c``.

    Exact closed form of ``n`` steps of an affine update ``x ← x + a − c·x``, with the limit
    ``n`` as ``c → 0``; ``c`` is clipped to ``[0, 0.999]``.

    ``bits``: every count is a whole number below ``2^bits`` — the power is built by binary
    splitting of ``n`` (:func:`_one_minus_power`, no transcendental function, several times
    cheaper on a CPU); 0 — the general form ``−expm1(n·log1p(−c))``; None — chosen at run
    time from the counts (:func:`by_whole_count_range`).  Both are the same closed form to
    rounding.
    """
    if bits is None:
        return by_whole_count_range(lambda b: geometric_steps(c, n, b), jnp.asarray(n))
    c = jnp.clip(c, 0.0, 0.999)
    n = jnp.asarray(n, c.dtype)
    c, n = jnp.broadcast_arrays(c, n)
    small = c < 1e-7
    c_safe = jnp.where(small, 0.5, c)
    s = _one_minus_power(c_safe, n, bits) if bits else -jnp.expm1(n * jnp.log1p(-c_safe))
    return jnp.where(small, n * (1.0 - 0.5 * (n - 1.0) * c), s / c_safe)


def _steps(c, n, bits):
    """``geometric_steps(c, n, bits)``, or ``n`` for a constant step (``c`` a Python 0)."""
    if isinstance(c, (int, float)) and c == 0:
        return n
    return geometric_steps(c, n, bits)


__all__ = ["AbstractPulsedDevice", "CELL_DTYPES", "CompactPulsedState", "PulsedState", "by_whole_count_range",
           "compact", "geometric_steps"]
