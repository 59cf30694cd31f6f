"""Compensated-ferrimagnet Co/Gd spin-orbit-torque (SOT) device: a multilevel synapse.

After Li, Lan, Liu, Zhang, Deng & Wang, *Switching plasticity in compensated ferrimagnetic
multilayers for neuromorphic computing*, Chin. Phys. B 31, 117106 (2022) [paper]: stack
Ta(1)/Pt(5)/[Co(0.36)/Gd(0.34)]₆/Pt(1)/AlOx(t) (nm), 10 µm Hall bars, 10 ms current pulses,
Hall resistance read at 0.1 mA.  A current pulse through the Pt channel exerts a
damping-like SOT on the perpendicular Co/Gd layer; with an in-plane field ``H_x`` it
switches the magnetisation towards ``sgn(I·H_x)``.  Switching goes by domain nucleation
over barriers that vary across the film, so the Hall resistance changes in many steps
(multilevel) when the barriers are low (large ``H_x``, low anisotropy field ``H_k``, i.e. a
thick AlOx cap) and in one step (near-binary) when they are high.

Model (per device, vectorised over arrays of devices; ``device-physics.md`` §D)::

    h   = |H_x|/H_k,   θ_M = arcsin h                                    tilt of m [textbook]
    s_i ∈ {−1, +1},  i = 1 … N_r                                 nucleation regions [paper]
    Δ_i = max(0, Δ̄·(H_k/H_k,ref)·(1 − h)² + σ_Δ·z_i),  z_i ~ N(0, 1)   barriers in kT
    I_c0 = w·t_eff·(H_k/2 − |H_x|/√2)/χ                        SOT threshold [pub: Lee 2013]
    λ_i(I) = (t_p/τ0)·exp(−Δ_i·(1 − |I|/I_c0)₊)                   thermally activated rate
    one pulse: a region with s_i ≠ sgn(I·H_x) switches with P_i = 1 − exp(−λ_i)
    n equal pulses: 1 − exp(−n·λ_i)                                (exact: regions independent)
    R_hall = R_AHE·cos θ_M·m,   m = mean_i s_i  (reduced magnetisation)    readout [paper]

* The barrier distribution is normal [paper].  Its mean falls as ``(1 − h)²`` (Stoner–
  Wohlfarth [textbook]) and scales with ``H_k`` (``E_b ∝ M_s·H_k·V``); its spread ``σ_Δ`` is
  an absolute one (in kT), the contribution of defects, independent of ``H_k`` and ``H_x``
  [fit].  This is a deliberate change from the starting model of ``device-physics.md``
  (a spread proportional to the mean): with a proportional spread the current window
  ``ΔI ∝ I_c0·ln(t_p/τ0)·σ_Δ/Δ̄²`` stays nearly flat in ``H_x`` and shrinks as ``H_k``
  decreases at fixed ``h``, against the paper's Fig. 2(d)–(f); with an absolute spread it grows with ``H_x``
  and with decreasing ``H_k`` (targets D2).
* A region of barrier ``Δ_i`` switches near ``I_c,i = I_c0·(1 − ln(t_p/τ0)/Δ_i)``; the
  thermal width of each region's switching (≈ 4 kT in ``Δ_i(1 − I/I_c0)``) and the
  barrier spread together set the multilevel window.  ``I_c0`` vanishes at ``|H_x| =
  H_k/√2`` (the limit of Lee et al.'s formula), so the model accepts ``|H_x| < H_k/√2``.
* Without an in-plane field SOT switching of a perpendicular magnet is not deterministic;
  the model requires ``H_x ≠ 0``.
* Only current pulses switch regions: there is no thermal relaxation at rest
  (:meth:`CoGdDevice.evolve` is the identity).  This is the non-volatility the paper
  measures; it holds while the weakest barrier is large (:meth:`CoGdDevice.retention_time`
  reports ``τ0·exp(min Δ_i)``: years for the presets).

Conductance mapping for arrays [assumed]: a Hall-bar transducer (or a magnetic tunnel
junction on the free layer, whose conductance is linear in the switched area) whose
conductance is linear in ``m``::

    G = g_min + (g_max − g_min)·(1 + m)/2

so ``g_min`` is the fully RESET (``m = −1``) and ``g_max`` the fully SET (``m = +1``) cell.
The Hall resistance itself is :meth:`CoGdDevice.hall_resistance`.

Energy of one write pulse [derived]: ``E = I²·R_ch·t_p`` with the channel resistance
``R_ch = R_□·length/width`` (the Joule heat of the SOT channel; the readout is not
counted).  Geometry scaling (:func:`~synaptax.devices.spintronic.presets.scaled`): the current
density at threshold, the barrier distribution and ``N_r`` are kept; currents scale with the
width, ``R_ch`` with ``length/width``, and shorter pulses raise the switching current through
``ln(t_p/τ0)``.

The device keeps the contract of :mod:`synaptax.devices.core` (``init``, ``apply_pulses``,
``evolve``, ``conductance``, ``read`` are the contract's; this module implements its hooks):
``apply_pulses`` applies nominal SET/RESET pulses of amplitude ``set_current``; the
per-cell conductance window and stuck faults come from the shared
:class:`~synaptax.devices.core.variability.Variability` sampler.  The factories and presets
are in :mod:`synaptax.devices.spintronic.presets`.

Storage [implementation]: with ``integrator="fast"`` (opt-in, for large arrays) a state keeps two seed
words per cell instead of the ``N_r`` barrier deviates and regenerates the deviates where they
are used (:func:`barrier_deviates`), so that an update or :meth:`CoGdDevice.evolve` of a large
array does not copy them (81 instead of 329 bytes per cell at ``N_r = 64``); the law of the
barriers and of the switching is the same as with ``integrator="reference"``, which keeps the
deviates themselves and the original update bit for bit and stays the default, so that every
published Co/Gd number (validation targets, training tables) reproduces to the byte
(``spintronic/README.md``, "Speed at array scale").

Vocabulary: the *reduced magnetisation* ``m = mean_i s_i`` ∈ [−1, 1] is dimensionless
(:attr:`CoGdState.reduced_magnetisation`); it is not the magneto-ionic family's
``magnetisation``, which is in emu cm⁻³.

Units: SI at every boundary (A, Ω, s, J, S; magnetic fields ``H`` in A/m).  The paper
quotes fields in Oe; :data:`OE` converts (``800*OE`` is 800 Oe = 6.37e4 A/m).  Barriers
are in units of ``k_B·T`` at room temperature.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import statistics
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int8, PRNGKeyArray

from ..._checks import check_finite, check_int, check_less, check_nonnegative, check_positive, is_concrete
from ... import _random as fast_random
from ..core.contract import STUCK_MAX, STUCK_MIN, AbstractDevice, AbstractDeviceState, PulseEnergy, hold_stuck
from ..core.variability import CellSample, Variability

#: One oersted in A/m (``H[A/m] = H[Oe]·1000/(4π)``).
OE = 1e3 / (4.0 * math.pi)

#: SOT efficiency of Ta/Pt/[Co/Gd]₆/Pt: 25 Oe of damping-like field per 10⁷ A cm⁻² [paper],
#: in (A/m) per (A/m²), i.e. metres.
SOT_EFFICIENCY = 25.0 * OE / 1e11

#: AlOx thickness [m] → effective anisotropy field ``H_k`` [Oe]: a linear fit through the
#: trend of the paper's Fig. 2(f) (``H_k`` falls with AlOx thickness; the figure's numbers are
#: not in the text) [fit].
ALOX_THICKNESS = (0.0, 0.5e-9, 1.0e-9, 1.5e-9, 2.0e-9)
ALOX_HK_OE = (2600.0, 2350.0, 2100.0, 1850.0, 1600.0)


def anisotropy_field(alox_thickness: float) -> float:
    """Effective perpendicular anisotropy field ``H_k`` [A/m] of the stack with an AlOx cap
    of ``alox_thickness`` [m] (a concrete number; 0–2 nm, the paper's samples; linear
    interpolation of the [fit] table :data:`ALOX_HK_OE`, extrapolated linearly up to 3 nm)."""
    t = float(alox_thickness)
    if not 0.0 <= t <= 3e-9:
        raise ValueError(f"alox_thickness must lie in [0, 3 nm], got {t!r} m")
    slope = (ALOX_HK_OE[-1] - ALOX_HK_OE[0]) / (ALOX_THICKNESS[-1] - ALOX_THICKNESS[0])
    hk = float(np.interp(t, ALOX_THICKNESS, ALOX_HK_OE)) if t <= ALOX_THICKNESS[-1] else \
        ALOX_HK_OE[-1] + slope * (t - ALOX_THICKNESS[-1])
    return hk * OE


def normal_quantiles(n: int) -> np.ndarray:
    """``n`` standard-normal quantiles at probabilities ``(k + ½)/n``, shape ``(n,)``
    (float64): an equal-weight quadrature of the barrier distribution (expected values
    without sampling).  Computed on every call (≈ 1 µs per point; under ``jit`` only while
    tracing)."""
    n = check_int("n", n, minimum=1)
    dist = statistics.NormalDist()
    return np.array([dist.inv_cdf((k + 0.5) / n) for k in range(n)])


def _jit(method):
    """``eqx.filter_jit`` of a method, with Python numbers among its arguments and the
    device's parameters turned into arrays first, so that an eager call compiles once per
    array shape (and ``n_regions``), not once per parameter or argument value (shapes and
    ``quantiles`` stay static); inlined under an outer ``jit``.  The wrapper carries the
    method's name, docstring and signature (``functools.wraps``), so ``help`` and
    ``inspect.signature`` show the method's own."""
    jitted = eqx.filter_jit(method)

    def number(name, v):
        if isinstance(v, bool) or name == "quantiles" or not isinstance(v, (float, int, np.floating, np.integer)):
            return v
        return jnp.asarray(v)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self = jax.tree_util.tree_map(lambda v: number("", v), self)  # one compilation serves every device
        return jitted(self, *(number("", a) for a in args), **{k: number(k, v) for k, v in kwargs.items()})

    return wrapper


def _first(mask, *values) -> tuple[float, ...]:
    """The first elements of ``values`` (broadcast together) where ``mask`` holds."""
    arrays = np.broadcast_arrays(mask, *values)
    i = int(np.flatnonzero(arrays[0])[0])
    return tuple(float(a.ravel()[i]) for a in arrays[1:])


#: Seed words per cell of the compact barrier layout (:attr:`CoGdState.barrier_z`).
SEED_WORDS = 2
_SEED_RANGE = 1 << 24  # seed words are whole numbers below 2**24: exact in float32
_GOLDEN = 0x9E3779B9


def _compact_layout(n_regions: int, dtype) -> bool:
    """Whether a fast-integrator state of ``n_regions`` regions and float ``dtype`` stores its
    barriers compactly (two seed words instead of ``N_r`` deviates)."""
    return n_regions > SEED_WORDS and jnp.finfo(dtype).nmant >= 23


def barrier_deviates(barrier_z: ArrayLike, n_regions: int) -> Array:
    """The standard-normal barrier deviates ``z_i``, shape ``S + (n_regions,)``, of
    :attr:`CoGdState.barrier_z` in either layout: explicit deviates (last axis
    ``n_regions``) are returned as they are; compact seed words (last axis
    :data:`SEED_WORDS`, ``n_regions > 2``) are expanded.

    Expansion: region ``j``'s deviate is the Box–Muller cosine ``√(−2 ln u₁)·cos(2πu₂ − π)``
    of ``u₁`` (23 bits, in (0, 1)) and ``u₂`` (24 bits) hashed from the cell's two seed
    words and the numbers ``2j`` and ``2j + 1`` (the hash of :mod:`synaptax._random`):
    independent N(0, 1), ``|z| < 5.8``.  Jitted (also when called eagerly, so that eager and
    jitted callers round the polynomial alike); the dtype is the seed words'."""
    barrier_z = jnp.asarray(barrier_z)
    if barrier_z.shape[-1] == n_regions:
        return barrier_z
    if barrier_z.shape[-1] != SEED_WORDS or n_regions <= SEED_WORDS:
        raise ValueError(f"barrier_z must have a last axis of n_regions = {n_regions} (deviates) or "
                         f"{SEED_WORDS} (seed words, n_regions > {SEED_WORDS}), got shape {barrier_z.shape}")
    return _expand_seeds(barrier_z, n_regions)


@functools.partial(jax.jit, static_argnums=1)
def _expand_seeds(seeds: Array, n: int) -> Array:
    # one Box–Muller cosine per region (no pairing: sharing a pair between two regions needs
    # a reshape inside the update's fused loop, which XLA's CPU backend does not vectorise)
    dtype = seeds.dtype
    w = seeds.astype(jnp.uint32)
    w0, w1 = w[..., 0:1], w[..., 1:2]  # S + (1,)
    j = jax.lax.iota(jnp.uint32, n)
    mix = fast_random._mix  # noqa: SLF001  (the repository's own hash)
    h1 = mix(mix((2 * j) * jnp.uint32(_GOLDEN) + w0) ^ w1)
    h2 = mix(mix((2 * j + 1) * jnp.uint32(_GOLDEN) + w0) ^ w1)
    u1 = ((h1 >> 9).astype(dtype) + 0.5) * (1.0 / 8388608.0)
    u2 = ((h2 >> 8).astype(dtype) + 0.5) * (1.0 / 16777216.0)
    radius = jnp.sqrt(-2.0 * jnp.log(u1))
    angle = (2.0 * math.pi) * u2 - math.pi  # (−π, π)
    if dtype == jnp.float32:  # as synaptax._random's Box–Muller: cos(a) = sin(π/2 − |a|)
        return radius * fast_random._sin_half_period(0.5 * math.pi - jnp.abs(angle))  # noqa: SLF001
    return radius * jnp.cos(angle)


def _switch_probability(x: Array) -> Array:
    """``1 − exp(−x)`` for ``x ≥ 0`` without ``expm1`` (which XLA's CPU backend does not
    vectorise in the update's fused loop): four Taylor terms below ``x = 1/32`` (relative
    error < 1e-8), ``1 − exp(−x)`` above (absolute error ≲ 2⁻²⁵); both under the 2⁻²⁴
    resolution of the uniform it is compared with."""
    small = x * (1.0 - 0.5 * x * (1.0 - x * (1.0 / 3.0) * (1.0 - 0.25 * x)))
    return jnp.where(x < 0.03125, small, 1.0 - jnp.exp(-x))


class _InitStreams(NamedTuple):
    """The family's independent random streams of :meth:`CoGdDevice.init`, split once from
    the family key (the contract's second stream)."""

    barrier: PRNGKeyArray  # barrier deviates z_i
    rounding: PRNGKeyArray  # stochastic rounding of the programmed level
    pick: PRNGKeyArray  # which regions are SET at that level

    @classmethod
    def split(cls, key: PRNGKeyArray) -> _InitStreams:
        return cls(*jax.random.split(key, len(cls._fields)))


class CoGdState(AbstractDeviceState):
    """State of an array of Co/Gd devices of shape ``S`` with ``N_r`` regions each.

    Attributes:
        spins: int8 region magnetisations ``s_i = ±1``, shape ``S + (N_r,)``.
        barrier_z: the regions' barrier deviates (device-to-device and within-device
            variation, fixed at :meth:`CoGdDevice.init`) in one of two layouts, told apart
            by the last axis: *explicit*, shape ``S + (N_r,)``, the standard-normal deviate
            ``z_i`` of each region (``integrator="reference"``, and whatever a caller puts
            there); or *compact*, shape ``S + (2,)`` (``integrator="fast"`` with
            ``N_r > 2`` and a float dtype of ≥ 24 significant bits): two whole numbers in
            ``[0, 2²⁴)`` per cell, stored exactly in the float dtype, from which the cell's
            ``N_r`` standard-normal deviates are regenerated on every use (a hash and a
            Box–Muller transform, :func:`barrier_deviates`).  Either way the deviates are
            independent N(0, 1); broadcasting one cell's row over the array (``eqx.tree_at``)
            gives every cell the same regions in both layouts.
        g_min: this cell's conductance when fully RESET [S], shape ``S``.
        g_max: this cell's conductance when fully SET [S], shape ``S``.
        stuck: int8 fault code per cell: 0 working, 1 stuck RESET (at ``g_min``), 2 stuck SET
            (at ``g_max``); shape ``S``.
    """

    spins: Int8[Array, "*S N_r"]
    barrier_z: Float[Array, "*S K"]
    g_min: Float[Array, "*S"]
    g_max: Float[Array, "*S"]
    stuck: Int8[Array, "*S"]

    @property
    def reduced_magnetisation(self) -> Float[Array, "*S"]:
        """Reduced (dimensionless) magnetisation ``m = mean_i s_i`` ∈ [−1, 1] of each cell,
        shape ``S``: −1 fully RESET, +1 fully SET."""
        return jnp.mean(self.spins.astype(self.barrier_z.dtype), axis=-1)

    @property
    def conductance(self) -> Float[Array, "*S"]:
        """Cell conductance [S], ``g_min + (g_max − g_min)·(1 + m)/2``, shape ``S``."""
        return self.g_min + (self.g_max - self.g_min) * 0.5 * (1.0 + self.reduced_magnetisation)


_VARIABILITY_FIELDS = frozenset(f.name for f in dataclasses.fields(Variability))


class CoGdDevice(AbstractDevice):
    """Co/Gd ferrimagnetic SOT device with ``n_regions`` binary nucleation regions.

    The defaults are the paper's 10 µm Hall bar with a 2 nm AlOx cap at ``H_x = −500 Oe``
    and 10 ms pulses (the device of its Figs. 3 and 4); see the module docstring for the
    equations and :mod:`synaptax.devices.spintronic.presets` (``cogd_hall_bar``,
    ``cogd_array``) for the presets.

    Every numeric parameter may be an array (``jax.vmap`` over a stack of models,
    :func:`~synaptax.devices.core.contract.stack_models`); the checks below run on concrete
    values only.

    Attributes (SI units; tags: [paper], [pub], [derived], [fit], [assumed]):
        n_regions: number ``N_r`` of nucleation regions per device (static) [fit].
        h_x: in-plane field [A/m], signed; ``0 < |h_x| < h_k/√2``.  −500 Oe = −3.98·10⁴ A/m [paper].
        h_k: effective anisotropy field [A/m]; 1600 Oe = 1.27·10⁵ A/m for 2 nm AlOx [fit, Fig. 2(f)
            trend].
        barrier: mean nucleation barrier ``Δ̄`` [kT] at ``h_x = 0`` and ``h_k = h_k_ref``
            (240) [fit].
        h_k_ref: anisotropy field at which ``barrier`` is given [A/m] (2000 Oe = 1.59·10⁵ A/m) [fit].
        barrier_spread: standard deviation ``σ_Δ`` of the barriers [kT] (6) [fit].
        attempt_time: ``τ0`` [s] (1 ns) [fit].
        sot_efficiency: ``χ``, damping-like field per current density [(A/m)/(A/m²) = m]
            (25 Oe per 10⁷ A cm⁻²) [paper].
        width: channel width ``w`` [m] (10 µm) [paper].
        length: channel length that dissipates the write pulse [m] (10 µm: the Hall cross,
            one square) [assumed].
        thickness: effective thickness ``t_eff`` [m] turning current into the current
            density of ``χ`` (1.2 nm) [fit: places the 10 ms switching currents at the
            paper's 10–30 mA; the 6 nm of device-physics.md gives ≈ 5× larger currents].
        sheet_resistance: ``R_□`` of the metal stack [Ω] (35 Ω: Ta/Pt/[Co/Gd]₆/Pt in
            parallel at thin-film resistivities) [assumed].
        anomalous_hall_resistance: ``R_AHE`` [Ω], the Hall resistance of the saturated,
            untilted film (1 Ω) [assumed; the paper's Fig. 1(b) values are not in its text].
        pulse_width: write-pulse width ``t_p`` [s] (10 ms) [paper].
        set_current: magnitude of the nominal SET/RESET pulse used by
            :meth:`apply_pulses` [A] (a pulse of this amplitude along ``sgn(h_x)`` SETs,
            against it RESETs).
        g_min, g_max: nominal conductance of the fully RESET and fully SET cell [S] [assumed].
        variability: the shared :class:`~synaptax.devices.core.variability.Variability`:
            ``d2d_bounds`` (each cell's ``g_min``/``g_max`` spread around the window centre),
            ``stuck_min``/``stuck_max`` (cells stuck fully RESET/SET) and ``read_noise``.  A
            subclass with more spreads (a ``StepVariability``) is refused: this family's
            step and cycle-to-cycle spread come from the nucleation physics.
        integrator: ``"reference"`` (default) or ``"fast"`` (static): how the barrier
            deviates are stored, not what they are.  ``"fast"`` keeps two seed words per
            cell (:attr:`CoGdState.barrier_z`'s compact layout, 81 instead of 329 bytes per
            cell at ``N_r = 64``) and regenerates the ``N_r`` deviates where they are used,
            so that an update or :meth:`evolve` of a large array does not copy 256 bytes of
            deviates per cell; ``"reference"`` stores the deviates themselves (the original
            layout and random stream).  Both draw independent N(0, 1) deviates and switch
            regions by the same law; either integrator accepts a state of either layout.
    """

    n_regions: int = eqx.field(static=True, default=256)
    h_x: float = -500.0 * OE
    h_k: float = 1600.0 * OE
    barrier: float = 240.0
    h_k_ref: float = 2000.0 * OE
    barrier_spread: float = 6.0
    attempt_time: float = 1e-9
    sot_efficiency: float = SOT_EFFICIENCY
    width: float = 10e-6
    length: float = 10e-6
    thickness: float = 1.2e-9
    sheet_resistance: float = 35.0
    anomalous_hall_resistance: float = 1.0
    pulse_width: float = 10e-3
    set_current: float = 18e-3
    g_min: float = 1e-6
    g_max: float = 10e-6
    variability: Variability = Variability()
    integrator: Literal["fast", "reference"] = eqx.field(static=True, default="reference")

    def __check_init__(self):
        check_int("n_regions", self.n_regions, minimum=1)
        if self.integrator not in ("fast", "reference"):
            raise ValueError(f"integrator must be 'fast' or 'reference', got {self.integrator!r}")
        check_positive("h_k", self.h_k)
        check_finite("h_x", self.h_x)
        if is_concrete((self.h_x, self.h_k)):
            hx = np.abs(np.asarray(self.h_x, np.float64))
            hk = np.asarray(self.h_k, np.float64)
            if np.any(hx >= hk):
                x, k = _first(hx >= hk, hx, hk)
                raise ValueError(f"h_x must be smaller than h_k in magnitude (|H_x| ≥ H_k pulls the magnetisation "
                                 f"in-plane), got |h_x| = {x:.6g} A/m ({x / OE:.4g} Oe) and "
                                 f"h_k = {k:.6g} A/m ({k / OE:.4g} Oe)")
            if np.any(hx >= hk / math.sqrt(2.0)):
                x, k = _first(hx >= hk / math.sqrt(2.0), hx, hk)
                raise ValueError(f"h_x must satisfy |h_x| < h_k/√2, where the SOT threshold current "
                                 f"w·t·(H_k/2 − |H_x|/√2)/χ vanishes; got |h_x| = {x / OE:.4g} Oe, "
                                 f"h_k = {k / OE:.4g} Oe")
            if np.any(hx == 0.0):
                raise ValueError("h_x must be non-zero: without an in-plane field spin-orbit torque does not "
                                 "switch a perpendicular magnet deterministically")
        check_positive("barrier", self.barrier)
        check_positive("h_k_ref", self.h_k_ref)
        check_nonnegative("barrier_spread", self.barrier_spread)
        check_positive("attempt_time", self.attempt_time)
        check_positive("sot_efficiency", self.sot_efficiency)
        check_positive("width", self.width)
        check_positive("length", self.length)
        check_positive("thickness", self.thickness)
        check_nonnegative("sheet_resistance", self.sheet_resistance)
        check_nonnegative("anomalous_hall_resistance", self.anomalous_hall_resistance)
        check_positive("pulse_width", self.pulse_width)
        check_positive("set_current", self.set_current)
        check_nonnegative("g_min", self.g_min)
        check_positive("g_max", self.g_max)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        if not isinstance(self.variability, Variability):
            raise TypeError(f"variability must be a Variability, got {type(self.variability).__name__}")
        extra = sorted({f.name for f in dataclasses.fields(self.variability)} - _VARIABILITY_FIELDS)
        if extra:
            raise TypeError(f"variability must be a plain Variability for a CoGdDevice, got a "
                            f"{type(self.variability).__name__} whose spreads {', '.join(extra)} would be ignored "
                            f"(this family's step and cycle-to-cycle spread come from the nucleation barriers)")

    # ------------------------------------------------------------------ derived physics
    @property
    def field_ratio(self) -> float | Array:
        """``h = |H_x|/H_k`` (dimensionless): a Python float when ``h_x`` and ``h_k`` are
        concrete scalars, an array otherwise (traced or stacked parameters)."""
        if is_concrete((self.h_x, self.h_k)) and np.ndim(self.h_x) == 0 and np.ndim(self.h_k) == 0:
            return abs(float(self.h_x)) / float(self.h_k)
        return jnp.abs(self.h_x) / self.h_k

    @property
    def tilt_angle(self) -> Array:
        """Tilt ``θ_M = arcsin(|H_x|/H_k)`` [rad] of the magnetisation from the film normal."""
        return jnp.arcsin(self.field_ratio)

    @property
    def mean_barrier(self) -> float | Array:
        """Mean barrier ``Δ̄·(H_k/H_k,ref)·(1 − h)²`` [kT] at this ``H_x``, ``H_k``."""
        return self.barrier * (self.h_k / self.h_k_ref) * (1.0 - self.field_ratio) ** 2

    @property
    def critical_current(self) -> Array:
        """Zero-temperature SOT threshold ``I_c0 = w·t_eff·(H_k/2 − |H_x|/√2)/χ`` [A]
        [pub: Lee et al., Appl. Phys. Lett. 102, 112410 (2013)]."""
        return self.width * self.thickness * (0.5 * self.h_k - jnp.abs(self.h_x) / math.sqrt(2.0)) / self.sot_efficiency

    @property
    def channel_resistance(self) -> float | Array:
        """Write-path resistance ``R_ch = R_□·length/width`` [Ω]."""
        return self.sheet_resistance * self.length / self.width

    @property
    def set_polarity(self) -> Array:
        """Sign of the current that SETs (drives regions to +1): ``sgn(H_x)`` (±1)."""
        return jnp.sign(self.h_x)

    def write_energy(self, current: ArrayLike, pulse_width: ArrayLike | None = None) -> Array:
        """Joule energy ``I²·R_ch·t_p`` [J] of a pulse of ``current`` [A] (any shape) and
        width ``pulse_width`` [s] (default ``self.pulse_width``); the shape of ``current``."""
        t_p = self.pulse_width if pulse_width is None else pulse_width
        return jnp.asarray(current) ** 2 * self.channel_resistance * t_p

    def barriers(self, barrier_z: ArrayLike) -> Array:
        """Barriers ``Δ_i`` [kT] for standard-normal deviates ``barrier_z`` (any shape; the
        result has its shape)."""
        z = jnp.asarray(barrier_z)
        return jnp.maximum(self.mean_barrier + self.barrier_spread * z, 0.0)

    def _log_rate(self, delta: Array, current: Array, pulse_width, count) -> Array:
        """``log(count·λ)`` for barriers ``delta`` under a pulse of magnitude ``|current|``."""
        drive = jnp.maximum(1.0 - jnp.abs(current) / self.critical_current, 0.0)
        return jnp.log(count * pulse_width / self.attempt_time) - delta * drive

    def switching_probability(self, barrier_z: ArrayLike, current: ArrayLike, *,
                              pulse_width: ArrayLike | None = None, count: ArrayLike = 1) -> Array:
        """Probability that a region (deviate ``barrier_z``) not yet in the target state
        switches during ``count`` pulses of amplitude ``current`` [A] and width
        ``pulse_width`` [s] (default ``self.pulse_width``): ``1 − exp(−count·λ)``.  The
        arguments broadcast together; the result has their broadcast shape.
        Differentiable in ``current`` and the parameters."""
        t_p = self.pulse_width if pulse_width is None else pulse_width
        delta = self.barriers(barrier_z)
        return -jnp.expm1(-jnp.exp(self._log_rate(delta, jnp.asarray(current), t_p, jnp.asarray(count, delta.dtype))))

    def retention_time(self, state: CoGdState) -> Float[Array, "*S"]:
        """Thermal lifetime ``τ0·exp(min_i Δ_i)`` [s] of each cell's weakest region at zero
        current (how long the model's no-relaxation assumption holds), shape ``S``."""
        return self.attempt_time * jnp.exp(jnp.min(self.barriers(self.deviates(state)), axis=-1))

    def deviates(self, state: CoGdState) -> Float[Array, "*S N_r"]:
        """The standard-normal barrier deviates ``z_i`` of every region, shape ``S + (N_r,)``,
        whichever layout ``state.barrier_z`` has (:func:`barrier_deviates`)."""
        return barrier_deviates(state.barrier_z, self.n_regions)

    # ------------------------------------------------------------------ contract
    @property
    def conductance_range(self) -> tuple[float | Array, float | Array]:
        """Nominal ``(g_min, g_max)`` [S]: the fully RESET and the fully SET cell."""
        return (self.g_min, self.g_max)

    @property
    def nominal_step(self) -> float | Array:
        """Expected conductance change [S] of one nominal SET pulse at ``m = 0`` (half the
        regions, chosen at random, SET): ``(g_max − g_min)/2 · E_z[P(z, set_current)]``
        (a float for concrete scalar parameters, an array otherwise)."""
        z = normal_quantiles(256)
        p = jnp.mean(self.switching_probability(jnp.asarray(z), self.set_current))
        step = 0.5 * (self.g_max - self.g_min) * p
        return float(step) if is_concrete(step) and np.ndim(step) == 0 else step

    @_jit
    def _init(self, cells: CellSample, *, key: PRNGKeyArray, conductance: Array | None) -> CoGdState:
        """Barrier deviates and the programmed level (contract hook of :meth:`init`).

        Every cell starts fully RESET (``m = −1``, conductance ``g_min``) unless
        ``conductance`` [S] (shape ``S``) is given: then each cell is programmed to the
        nearest level, ``k`` regions SET, ``k`` the stochastically rounded
        ``N_r·(G − g_min)/(g_max − g_min)`` (clipped to ``[0, N_r]``), the regions chosen at
        random (as after the paper's demagnetising sequence) [assumed].  Stuck cells sit
        fully RESET (code 1) or fully SET (code 2) whatever ``conductance`` says.
        """
        shape = cells.g_min.shape
        n = self.n_regions
        dtype = cells.g_min.dtype
        streams = _InitStreams.split(key)
        if self.integrator == "fast" and _compact_layout(n, dtype):
            z = jax.random.randint(streams.barrier, shape + (SEED_WORDS,), 0, _SEED_RANGE).astype(dtype)
        else:
            z = jax.random.normal(streams.barrier, shape + (n,), dtype)
        if conductance is None:
            spins = -jnp.ones(shape + (n,), jnp.int8)
        else:
            q = jnp.clip((conductance - cells.g_min) / (cells.g_max - cells.g_min), 0.0, 1.0)
            k = jnp.floor(q * n + jax.random.uniform(streams.rounding, shape, dtype))
            ranks = jnp.argsort(jnp.argsort(jax.random.uniform(streams.pick, shape + (n,), dtype), axis=-1), axis=-1)
            spins = jnp.where(ranks < k[..., None], 1, -1).astype(jnp.int8)
        stuck = cells.stuck[..., None]
        spins = jnp.where(stuck == STUCK_MIN, jnp.int8(-1), jnp.where(stuck == STUCK_MAX, jnp.int8(1), spins))
        return CoGdState(spins, z, cells.g_min, cells.g_max, cells.stuck)

    @_jit
    def _apply_counts(self, state: CoGdState, up: Array, down: Array, *, key: PRNGKeyArray) -> CoGdState:
        """Nominal SET (``up``) then RESET (``down``) pulses of amplitude ``set_current`` and
        width ``pulse_width`` (contract hook of :meth:`apply_pulses`; counts of shape ``S``,
        ≥ 0, may be fractional: the rate scales with the count).

        Both trains have the same amplitude, so one rate ``λ_i`` per region serves both; the
        exact outcome of "SET train, then RESET train" needs one uniform per region: a RESET
        region ends SET with ``P_up·(1 − P_down)``, a SET region ends RESET with ``P_down``
        (``P = 1 − exp(−count·λ_i)``).  Stuck cells do not move.  The fast integrator expands
        compact barrier seeds inside the same fused loop and evaluates ``P`` without ``expm1``
        (:func:`_switch_probability`: equal to float32 rounding); the reference integrator is
        the original computation."""
        spins = state.spins
        dtype = state.barrier_z.dtype
        up = up.astype(dtype)[..., None]
        down = down.astype(dtype)[..., None]
        rate = jnp.exp(self._log_rate(self.barriers(self.deviates(state)), self.set_current, self.pulse_width, 1.0))
        if self.integrator == "reference":
            p_up = -jnp.expm1(-up * rate)
            p_down = -jnp.expm1(-down * rate)
        else:
            p_up = _switch_probability(up * rate)
            p_down = _switch_probability(down * rate)
        u = fast_random.uniform(key, spins.shape, dtype)
        to_set = (spins < 0) & (u < p_up * (1.0 - p_down))
        to_reset = (spins > 0) & (u < p_down)
        new = jnp.where(to_set, jnp.int8(1), jnp.where(to_reset, jnp.int8(-1), spins))
        return eqx.tree_at(lambda s: s.spins, state, hold_stuck(new, spins, state.stuck[..., None]))

    def pulse_energy(self, state: CoGdState) -> PulseEnergy:
        """``set_current²·R_ch·pulse_width`` [J] per cell (shape ``S``), the same for a SET
        (``up``) and a RESET (``down``) pulse."""
        e = jnp.broadcast_to(self.write_energy(self.set_current), state.g_min.shape).astype(state.g_min.dtype)
        return PulseEnergy(e, e)

    # ------------------------------------------------------------------ currents and readout
    @_jit
    def apply_current(self, state: CoGdState, current: ArrayLike, *, key: PRNGKeyArray,
                      pulse_width: ArrayLike | None = None, count: ArrayLike = 1) -> CoGdState:
        """Apply ``count`` equal current pulses per cell.

        Args:
            state: state of shape ``S``.
            current: signed pulse current [A], broadcastable to ``S``; it drives regions
                towards ``sgn(current·h_x)``.
            key: PRNG key for the thermal switching (keyword-only).
            pulse_width: pulse width [s], broadcastable to ``S`` (default ``self.pulse_width``).
            count: number of pulses (≥ 0, may be fractional), broadcastable to ``S``.

        Returns:
            The new state: each region not yet in the target state switches with
            probability ``1 − exp(−count·λ_i)``; stuck cells do not move.
        """
        spins = state.spins
        cell_shape = spins.shape[:-1]
        dtype = state.barrier_z.dtype
        current = jnp.broadcast_to(jnp.asarray(current, dtype), cell_shape)
        count = jnp.broadcast_to(jnp.asarray(count, dtype), cell_shape)
        t_p = jnp.broadcast_to(jnp.asarray(self.pulse_width if pulse_width is None else pulse_width, dtype), cell_shape)
        target = jnp.sign(current * self.h_x).astype(jnp.int8)
        log_rate = self._log_rate(self.barriers(self.deviates(state)), current[..., None], t_p[..., None],
                                  count[..., None])
        rate = jnp.exp(log_rate)
        p = -jnp.expm1(-rate) if self.integrator == "reference" else _switch_probability(rate)
        u = fast_random.uniform(key, spins.shape, dtype)
        free = ((target != 0) & (state.stuck == 0))[..., None]
        flip = free & (spins != target[..., None]) & (u < p)
        return eqx.tree_at(lambda s: s.spins, state, jnp.where(flip, target[..., None], spins))

    def reduced_magnetisation(self, state: CoGdState) -> Float[Array, "*S"]:
        """Reduced (dimensionless) magnetisation ``m = mean_i s_i`` ∈ [−1, 1] per cell,
        shape ``S`` (:attr:`CoGdState.reduced_magnetisation`)."""
        return state.reduced_magnetisation

    def hall_resistance(self, state: CoGdState) -> Float[Array, "*S"]:
        """Anomalous Hall resistance ``R_AHE·cos θ_M·m`` [Ω] per cell, shape ``S``."""
        return self.anomalous_hall_resistance * jnp.cos(self.tilt_angle) * state.reduced_magnetisation

    def hall_voltage(self, state: CoGdState, read_current: ArrayLike = 1e-4) -> Float[Array, "*S"]:
        """Hall voltage [V] per cell (shape ``S``) at a read current [A] (scalar or
        broadcastable to ``S``; the paper reads at 0.1 mA)."""
        return jnp.asarray(read_current) * self.hall_resistance(state)

    # ------------------------------------------------------------------ protocols
    @_jit
    def sweep(self, state: CoGdState, currents: ArrayLike, *, key: PRNGKeyArray,
              pulse_width: ArrayLike | None = None) -> tuple[CoGdState, Array]:
        """Apply a sequence of pulses and read the Hall resistance after each.

        Args:
            state: state of shape ``S``.
            currents: signed pulse currents [A], shape ``(P,)`` (the same pulse for every
                cell) or ``(P,) + S``; pulse ``p`` is :meth:`apply_current` with
                ``currents[p]``.
            key: PRNG key for the thermal switching (keyword-only; split into one key per
                pulse).
            pulse_width: width [s] of every pulse, broadcastable to ``S`` (default
                ``self.pulse_width``).

        Returns:
            ``(final_state, r_hall)`` with ``r_hall`` [Ω] of shape ``(P,) + S``.
        """
        currents = jnp.asarray(currents)
        keys = jax.random.split(key, currents.shape[0])

        def step(s, inputs):
            i, k = inputs
            s = self.apply_current(s, i, key=k, pulse_width=pulse_width)
            return s, self.hall_resistance(s)

        # the deviates are expanded once for the whole sequence, the layout restored after it
        explicit = eqx.tree_at(lambda s: s.barrier_z, state, self.deviates(state))
        final, r_hall = jax.lax.scan(step, explicit, (currents, keys))
        return eqx.tree_at(lambda s: s.barrier_z, final, state.barrier_z), r_hall

    def demagnetise(self, state: CoGdState, *, key: PRNGKeyArray, start: ArrayLike | None = None,
                    decrement: float | None = None, steps: int = 200) -> CoGdState:
        """The paper's demagnetising sequence: pulses of decreasing amplitude and alternating
        polarity, ``+start, −(start − decrement), +(start − 2·decrement), …`` down to one
        ``decrement`` (+28, −27.5, +27, … −0.5 mA in the paper) [paper], signs relative to
        the SET polarity.

        Args:
            state: state of shape ``S``.
            key: PRNG key for the thermal switching (keyword-only).
            start: first amplitude [A] (default ``1.3·I_c0``: everything switches on the
                first pulse).
            decrement: amplitude step [A] (a concrete number; the sequence then has
                ``round(start/decrement)`` pulses).  Default ``start/steps``.
            steps: number of pulses when ``decrement`` is not given (static; default 200:
                the paper used 56 of 0.5 mA, but the model's switching window is narrower,
                so finer steps are needed to leave ``m ≈ 0``).

        Returns:
            The new state (reduced magnetisation near 0).  Works under ``jit``/``vmap``
            (traced parameters or ``start``) when ``decrement`` is not given.
        """
        steps = check_int("steps", steps, minimum=1)
        i_c0 = self.critical_current  # a tracer under jit even for concrete parameters
        if is_concrete((i_c0, start, decrement)) and np.ndim(i_c0) == 0:
            start = 1.3 * float(i_c0) if start is None else float(start)
            decrement = start / steps if decrement is None else float(decrement)
            check_positive("decrement", decrement)
            amps = np.arange(start, decrement / 2, -decrement)
            signs = np.where(np.arange(amps.size) % 2 == 0, 1.0, -1.0)
            currents = jnp.asarray(amps * signs)
        else:
            if decrement is not None:
                raise ValueError("demagnetise with traced parameters or start takes steps, not decrement (the "
                                 "number of pulses must be static)")
            start = 1.3 * i_c0 if start is None else jnp.asarray(start)
            # the amplitudes np.arange(start, d/2, −d) with d = start/steps makes (start + k·δ)
            delta = (start - start / steps) - start
            amps = start + jnp.arange(steps, dtype=jnp.result_type(float)) * delta
            currents = amps * jnp.where(jnp.arange(steps) % 2 == 0, 1.0, -1.0)
        return self.sweep(state, currents * self.set_polarity, key=key)[0]

    # ------------------------------------------------------------------ expected values
    @_jit
    def expected_switched_fraction(self, current: ArrayLike, *, pulse_width: ArrayLike | None = None,
                                   count: ArrayLike = 1, quantiles: int = 1024) -> Array:
        """Expected fraction of regions switched by ``count`` SET pulses of magnitude
        ``current`` [A] (any shape; the result has its shape) and width ``pulse_width`` [s]
        from the fully RESET state, averaged over the barrier distribution (``quantiles``
        equal-weight normal quantiles, static): the mean single-pulse response of the
        neuron, ``F(I) = E_z[1 − exp(−count·λ(z, I))]``.  Differentiable in ``current``."""
        z = jnp.asarray(normal_quantiles(quantiles))
        current = jnp.asarray(current, z.dtype)
        p = self.switching_probability(z, current[..., None], pulse_width=pulse_width, count=count)
        return jnp.mean(p, axis=-1)

    @_jit
    def expected_sweep(self, currents: ArrayLike, *, pulse_width: ArrayLike | None = None,
                       quantiles: int = 1024) -> Array:
        """Expected switched fraction after each pulse of a sequence of SET-direction pulse
        magnitudes ``currents`` [A], shape ``(P,)``, starting fully RESET (the rising branch
        of an R_hall–I loop); returns shape ``(P,)``.  Regions accumulate hazard:
        ``F_k = E_z[1 − exp(−Σ_{j≤k} λ_j)]``.  Differentiable in ``currents``."""
        z = jnp.asarray(normal_quantiles(quantiles))
        t_p = self.pulse_width if pulse_width is None else pulse_width
        currents = jnp.asarray(currents, z.dtype)
        rates = jnp.exp(self._log_rate(self.barriers(z)[None, :], currents[:, None], t_p, 1.0))
        return jnp.mean(-jnp.expm1(-jnp.cumsum(rates, axis=0)), axis=-1)

    def current_for_fraction(self, fraction: ArrayLike, *, pulse_width: ArrayLike | None = None,
                             count: ArrayLike = 1.0) -> float | Array:
        """SET-pulse magnitude [A] whose expected switched fraction from RESET
        (:meth:`expected_switched_fraction`) is ``fraction`` ∈ (0, 1), for pulses of width
        ``pulse_width`` [s] (default ``self.pulse_width``) and ``count`` pulses.

        Inverted on a coarse grid of 512 currents in ``[0, I_c0]``, then a fine one around
        the crossing, then linearly: a Python float when everything is concrete (computed in
        float64 around the device's evaluations), a scalar array under ``jit``/``vmap``.
        """
        t_p = self.pulse_width if pulse_width is None else pulse_width
        i_c0 = self.critical_current  # a tracer under jit even for concrete parameters
        if is_concrete((self, i_c0, fraction, t_p, count)) and np.ndim(fraction) == 0 and np.ndim(i_c0) == 0:
            if not 0.0 < float(fraction) < 1.0:
                raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
            f_of = lambda i: np.asarray(self.expected_switched_fraction(i, pulse_width=t_p, count=count),  # noqa: E731
                                        np.float64)
            return float(_invert(f_of, float(fraction), 0.0, float(i_c0), np))
        f_of = lambda i: self.expected_switched_fraction(i, pulse_width=t_p, count=count)  # noqa: E731
        hi = jnp.asarray(i_c0)
        return _invert(f_of, jnp.asarray(fraction, hi.dtype), jnp.zeros_like(hi), hi, jnp)


def _invert(f_of, fraction, lo, hi, xp, points: int = 512):
    """The current in ``[lo, hi]`` where the increasing ``f_of(current)`` reaches ``fraction``:
    two grid refinements of ``points`` currents, then linear interpolation (``xp``: numpy
    for concrete values, jax.numpy when traced)."""
    for _ in range(2):  # a coarse grid, then a fine one around the crossing
        grid = xp.linspace(lo, hi, points)
        i = xp.clip(xp.searchsorted(f_of(grid), fraction), 1, points - 1)
        lo, hi = grid[i - 1], grid[i]
    f_lo, f_hi = f_of(xp.stack([lo, hi]))
    rising = f_hi > f_lo
    return xp.where(rising, lo + (hi - lo) * (fraction - f_lo) / xp.where(rising, f_hi - f_lo, 1.0), hi)


__all__ = ["ALOX_HK_OE", "ALOX_THICKNESS", "SEED_WORDS", "CoGdDevice", "CoGdState", "OE", "SOT_EFFICIENCY",
           "anisotropy_field", "barrier_deviates", "normal_quantiles"]
