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
    R_hall = R_AHE·cos θ_M·m,   m = mean_i s_i                              readout [paper]

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
counted).  Geometry scaling (:func:`scaled`): the current density at threshold, the
barrier distribution and ``N_r`` are kept; currents scale with the width, ``R_ch`` with
``length/width``, and shorter pulses raise the switching current through ``ln(t_p/τ0)``.

Units: SI at every boundary (A, Ω, s, J, S; magnetic fields ``H`` in A/m).  The paper
quotes fields in Oe; :data:`OE` converts (``800*OE`` is 800 Oe = 6.37e4 A/m).  Barriers
are in units of ``k_B·T`` at room temperature.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import statistics

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ..._checks import check_int, check_less, check_nonnegative, check_positive, is_concrete
from ... import _random as fast_random
from ..core.contract import AbstractDevice, PulseCounts, split_pulses
from ..core.variability import Variability

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
    of ``alox_thickness`` [m] (0–2 nm, the paper's samples; linear interpolation of the
    [fit] table :data:`ALOX_HK_OE`, extrapolated linearly outside it)."""
    t = float(alox_thickness)
    if not 0.0 <= t <= 3e-9:
        raise ValueError(f"alox_thickness must lie in [0, 3 nm], got {t!r} m")
    slope = (ALOX_HK_OE[-1] - ALOX_HK_OE[0]) / (ALOX_THICKNESS[-1] - ALOX_THICKNESS[0])
    hk = float(np.interp(t, ALOX_THICKNESS, ALOX_HK_OE)) if t <= ALOX_THICKNESS[-1] else \
        ALOX_HK_OE[-1] + slope * (t - ALOX_THICKNESS[-1])
    return hk * OE


@functools.lru_cache(maxsize=8)
def normal_quantiles(n: int) -> np.ndarray:
    """``n`` standard-normal quantiles at probabilities ``(k + ½)/n``: an equal-weight
    quadrature of the barrier distribution (expected values without sampling)."""
    dist = statistics.NormalDist()
    return np.array([dist.inv_cdf((k + 0.5) / n) for k in range(n)])


def _jit(method):
    """``eqx.filter_jit`` of a method, with Python numbers among its arguments and the
    device's parameters turned into arrays first, so that an eager call compiles once per
    array shape (and ``n_regions``), not once per parameter or argument value (shapes and
    ``quantiles`` stay static); inlined under an outer ``jit``."""
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


class CoGdState(eqx.Module):
    """State of an array of Co/Gd devices of shape ``S`` with ``N_r`` regions each.

    Attributes:
        spins: int8 region magnetisations ``s_i = ±1``, shape ``S + (N_r,)``.
        barrier_z: standard-normal deviate of each region's barrier (device-to-device and
            within-device variation, fixed at :meth:`CoGdDevice.init`), shape ``S + (N_r,)``.
        g_min: this cell's conductance when fully RESET [S], shape ``S``.
        g_max: this cell's conductance when fully SET [S], shape ``S``.
        stuck: int8 fault code per cell: 0 working, 1 stuck RESET, 2 stuck SET; shape ``S``.
    """

    spins: Array
    barrier_z: Array
    g_min: Array
    g_max: Array
    stuck: Array

    @property
    def magnetization(self) -> Array:
        """Mean region magnetisation ``m = mean_i s_i`` ∈ [−1, 1], shape ``S``."""
        return jnp.mean(self.spins.astype(self.barrier_z.dtype), axis=-1)

    @property
    def conductance(self) -> Array:
        """Cell conductance [S], ``g_min + (g_max − g_min)·(1 + m)/2``, shape ``S``."""
        return self.g_min + (self.g_max - self.g_min) * 0.5 * (1.0 + self.magnetization)


_UNSUPPORTED_VARIABILITY = ("d2d_step", "d2d_asymmetry", "c2c", "c2c_range")


class CoGdDevice(AbstractDevice):
    """Co/Gd ferrimagnetic SOT device with ``n_regions`` binary nucleation regions.

    The defaults are the paper's 10 µm Hall bar with a 2 nm AlOx cap at ``H_x = −500 Oe``
    and 10 ms pulses (the device of its Figs. 3 and 4); see the module docstring for the
    equations and :func:`cogd_hall_bar` / :func:`cogd_array` for the presets.

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
        g_min, g_max: conductance of the fully RESET and fully SET cell [S] [assumed].
        variability: :class:`Variability`; this family uses ``read_noise``, ``d2d_bounds``
            (spread of ``g_min``/``g_max``) and ``stuck_min``/``stuck_max``.  Its step and
            cycle-to-cycle spreads must be zero: those come from the nucleation physics.
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

    def __check_init__(self):
        check_int("n_regions", self.n_regions, minimum=1)
        check_positive("h_k", self.h_k)
        if is_concrete((self.h_x, self.h_k)):
            hx, hk = float(self.h_x), float(self.h_k)
            if not math.isfinite(hx):
                raise ValueError(f"h_x must be finite, got {hx!r}")
            if abs(hx) >= hk:
                raise ValueError(f"h_x must be smaller than h_k in magnitude (|H_x| ≥ H_k pulls the magnetisation "
                                 f"in-plane), got |h_x| = {abs(hx):.6g} A/m ({abs(hx) / OE:.4g} Oe) and "
                                 f"h_k = {hk:.6g} A/m ({hk / OE:.4g} Oe)")
            if abs(hx) >= hk / math.sqrt(2.0):
                raise ValueError(f"h_x must satisfy |h_x| < h_k/√2, where the SOT threshold current "
                                 f"w·t·(H_k/2 − |H_x|/√2)/χ vanishes; got |h_x| = {abs(hx) / OE:.4g} Oe, "
                                 f"h_k = {hk / OE:.4g} Oe")
            if hx == 0.0:
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
        for name in _UNSUPPORTED_VARIABILITY:
            value = getattr(self.variability, name)
            if is_concrete(value) and float(value) != 0.0:
                raise ValueError(f"variability.{name} must be 0 for a CoGdDevice (its device-to-device and "
                                 f"cycle-to-cycle spread come from the nucleation barriers), got {float(value)!r}")

    # ------------------------------------------------------------------ derived physics
    @property
    def field_ratio(self):
        """``h = |H_x|/H_k`` (dimensionless)."""
        return jnp.abs(self.h_x) / self.h_k if not is_concrete((self.h_x, self.h_k)) else \
            abs(float(self.h_x)) / float(self.h_k)

    @property
    def tilt_angle(self):
        """Tilt ``θ_M = arcsin(|H_x|/H_k)`` [rad] of the magnetisation from the film normal."""
        return jnp.arcsin(self.field_ratio)

    @property
    def mean_barrier(self):
        """Mean barrier ``Δ̄·(H_k/H_k,ref)·(1 − h)²`` [kT] at this ``H_x``, ``H_k``."""
        return self.barrier * (self.h_k / self.h_k_ref) * (1.0 - self.field_ratio) ** 2

    @property
    def critical_current(self):
        """Zero-temperature SOT threshold ``I_c0 = w·t_eff·(H_k/2 − |H_x|/√2)/χ`` [A]
        [pub: Lee et al., Appl. Phys. Lett. 102, 112410 (2013)]."""
        return self.width * self.thickness * (0.5 * self.h_k - jnp.abs(self.h_x) / math.sqrt(2.0)) / self.sot_efficiency

    @property
    def channel_resistance(self):
        """Write-path resistance ``R_ch = R_□·length/width`` [Ω]."""
        return self.sheet_resistance * self.length / self.width

    @property
    def set_polarity(self):
        """Sign of the current that SETs (drives regions to +1): ``sgn(H_x)``."""
        return jnp.sign(self.h_x)

    def write_energy(self, current: ArrayLike, pulse_width: ArrayLike | None = None) -> Array:
        """Joule energy ``I²·R_ch·t_p`` [J] of a pulse of ``current`` [A] (any shape)."""
        t_p = self.pulse_width if pulse_width is None else pulse_width
        return jnp.asarray(current) ** 2 * self.channel_resistance * t_p

    def barriers(self, barrier_z: ArrayLike) -> Array:
        """Barriers ``Δ_i`` [kT] for standard-normal deviates ``barrier_z`` (any shape)."""
        z = jnp.asarray(barrier_z)
        return jnp.maximum(self.mean_barrier + self.barrier_spread * z, 0.0)

    def _log_rate(self, delta: Array, current: Array, pulse_width, count) -> Array:
        """``log(count·λ)`` for barriers ``delta`` under a pulse of magnitude ``|current|``."""
        drive = jnp.maximum(1.0 - jnp.abs(current) / self.critical_current, 0.0)
        return jnp.log(count * pulse_width / self.attempt_time) - delta * drive

    def switching_probability(self, barrier_z: ArrayLike, current: ArrayLike, *,
                              pulse_width: ArrayLike | None = None, count: ArrayLike = 1) -> Array:
        """Probability that a region (deviate ``barrier_z``) not yet in the target state
        switches during ``count`` pulses of amplitude ``current`` [A] (broadcast together)."""
        t_p = self.pulse_width if pulse_width is None else pulse_width
        delta = self.barriers(barrier_z)
        return -jnp.expm1(-jnp.exp(self._log_rate(delta, jnp.asarray(current), t_p, jnp.asarray(count, delta.dtype))))

    def retention_time(self, state: CoGdState) -> Array:
        """Thermal lifetime ``τ0·exp(min_i Δ_i)`` [s] of each cell's weakest region at zero
        current (how long the model's no-relaxation assumption holds), shape ``S``."""
        return self.attempt_time * jnp.exp(jnp.min(self.barriers(state.barrier_z), axis=-1))

    # ------------------------------------------------------------------ interface
    @property
    def conductance_range(self) -> tuple[float, float]:
        return (self.g_min, self.g_max)

    @property
    def nominal_step(self):
        """Expected conductance change [S] of one nominal SET pulse at ``m = 0`` (half the
        regions, chosen at random, SET): ``(g_max − g_min)/2 · E_z[P(z, set_current)]``."""
        z = normal_quantiles(256)
        p = jnp.mean(self.switching_probability(jnp.asarray(z), self.set_current))
        step = 0.5 * (self.g_max - self.g_min) * p
        return float(step) if is_concrete(step) else step

    @_jit
    def init(self, shape, *, key: PRNGKeyArray, conductance: ArrayLike | None = None) -> CoGdState:
        """State of an array of ``shape`` devices.

        Barrier deviates, bound spreads and faults are sampled from ``key``.  By default
        every cell is fully RESET (``m = −1``, conductance ``g_min``).  ``conductance`` [S]
        (broadcastable to ``shape``) programs each cell to the nearest level: ``k`` regions
        SET, ``k`` the stochastically rounded ``N_r·(G − g_min)/(g_max − g_min)``, the
        regions chosen at random (as after the paper's demagnetising sequence) [assumed].
        Stuck cells sit fully RESET (code 1) or SET (code 2) whatever ``conductance`` says.
        """
        shape = tuple(shape)
        n = self.n_regions
        var = self.variability
        dtype = jnp.result_type(float)
        k_z, k_lo, k_hi, k_stuck, k_round, k_pick = jax.random.split(key, 6)
        z = jax.random.normal(k_z, shape + (n,), dtype)
        normal = lambda k: jax.random.normal(k, shape, dtype)  # noqa: E731
        span = self.g_max - self.g_min
        g_min = jnp.maximum(self.g_min * (1.0 + var.d2d_bounds * normal(k_lo)), 0.0)
        g_max = self.g_max * (1.0 + var.d2d_bounds * normal(k_hi))
        g_max = jnp.maximum(g_max, g_min + 0.05 * span)
        u = jax.random.uniform(k_stuck, shape, dtype)
        stuck = jnp.where(u < var.stuck_min, 1, jnp.where(u < var.stuck_min + var.stuck_max, 2, 0)).astype(jnp.int8)
        if conductance is None:
            spins = -jnp.ones(shape + (n,), jnp.int8)
        else:
            g0 = jnp.broadcast_to(jnp.asarray(conductance, dtype), shape)
            q = jnp.clip((g0 - g_min) / (g_max - g_min), 0.0, 1.0)
            k = jnp.floor(q * n + jax.random.uniform(k_round, shape, dtype))
            ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_pick, shape + (n,), dtype), axis=-1), axis=-1)
            spins = jnp.where(ranks < k[..., None], 1, -1).astype(jnp.int8)
        spins = jnp.where((stuck == 1)[..., None], jnp.int8(-1), jnp.where((stuck == 2)[..., None], jnp.int8(1), spins))
        return CoGdState(spins, z, g_min, g_max, stuck)

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
        log_rate = self._log_rate(self.barriers(state.barrier_z), current[..., None], t_p[..., None], count[..., None])
        p = -jnp.expm1(-jnp.exp(log_rate))
        u = fast_random.uniform(key, spins.shape, dtype)
        free = ((target != 0) & (state.stuck == 0))[..., None]
        flip = free & (spins != target[..., None]) & (u < p)
        return eqx.tree_at(lambda s: s.spins, state, jnp.where(flip, target[..., None], spins))

    @_jit
    def apply_pulses(self, state: CoGdState, pulses, *, key: PRNGKeyArray) -> CoGdState:
        """Apply nominal SET (``up``) then RESET (``down``) pulses of amplitude
        ``set_current`` and width ``pulse_width``.

        ``pulses`` is a signed count per cell (positive: SET, raising the conductance) or a
        :class:`PulseCounts`; counts may be fractional (the rate scales with the count).
        """
        counts = split_pulses(pulses)
        spins = state.spins
        cell_shape = spins.shape[:-1]
        dtype = state.barrier_z.dtype
        up = jnp.broadcast_to(jnp.asarray(counts.up, dtype), cell_shape)[..., None]
        down = jnp.broadcast_to(jnp.asarray(counts.down, dtype), cell_shape)[..., None]
        # both trains have the same amplitude, so one rate per region serves both; the
        # exact outcome of "SET train, then RESET train" needs one uniform per region:
        # a RESET region ends SET with P_up·(1 − P_down), a SET region ends RESET with P_down
        rate = jnp.exp(self._log_rate(self.barriers(state.barrier_z), self.set_current, self.pulse_width, 1.0))
        p_up = -jnp.expm1(-up * rate)
        p_down = -jnp.expm1(-down * rate)
        u = fast_random.uniform(key, spins.shape, dtype)
        to_set = (spins < 0) & (u < p_up * (1.0 - p_down))
        to_reset = (spins > 0) & (u < p_down)
        new = jnp.where(to_set, jnp.int8(1), jnp.where(to_reset, jnp.int8(-1), spins))
        new = jnp.where((state.stuck == 0)[..., None], new, spins)
        return eqx.tree_at(lambda s: s.spins, state, new)

    def magnetization(self, state: CoGdState) -> Array:
        """``m = mean_i s_i`` per cell, shape ``S``."""
        return state.magnetization

    def hall_resistance(self, state: CoGdState) -> Array:
        """Anomalous Hall resistance ``R_AHE·cos θ_M·m`` [Ω] per cell, shape ``S``."""
        return self.anomalous_hall_resistance * jnp.cos(self.tilt_angle) * state.magnetization

    def hall_voltage(self, state: CoGdState, read_current: ArrayLike = 1e-4) -> Array:
        """Hall voltage [V] at a read current [A] (the paper reads at 0.1 mA)."""
        return jnp.asarray(read_current) * self.hall_resistance(state)

    def conductance(self, state: CoGdState) -> Array:
        return state.conductance

    def read(self, state: CoGdState, *, key: PRNGKeyArray | None = None) -> Array:
        """Conductance [S] with relative read noise ``variability.read_noise`` (needs ``key``
        when it is non-zero), clipped at zero."""
        g = state.conductance
        if is_concrete(self.variability.read_noise) and self.variability.read_noise == 0:
            return g
        if key is None:
            raise ValueError("key is required to read a device with read_noise > 0")
        return jnp.maximum(g * (1.0 + self.variability.read_noise * fast_random.normal(key, g.shape, g.dtype)), 0.0)

    def read_noise_std(self, state: CoGdState) -> Array | None:
        """``read_noise · G`` [S], or None when ``read_noise`` is zero."""
        if is_concrete(self.variability.read_noise) and self.variability.read_noise == 0:
            return None
        return self.variability.read_noise * state.conductance

    def pulse_energy(self, state: CoGdState) -> PulseCounts:
        """``set_current²·R_ch·pulse_width`` [J] per cell, the same for SET and RESET."""
        e = jnp.broadcast_to(self.write_energy(self.set_current), state.g_min.shape).astype(state.g_min.dtype)
        return PulseCounts(e, e)

    # ------------------------------------------------------------------ protocols
    @_jit
    def sweep(self, state: CoGdState, currents: ArrayLike, *, key: PRNGKeyArray,
              pulse_width: ArrayLike | None = None) -> tuple[CoGdState, Array]:
        """Apply a sequence of pulses and read the Hall resistance after each.

        Args:
            currents: pulse currents [A], shape ``(P,)`` (the same pulse for every cell) or
                ``(P,) + S``.
        Returns:
            ``(final_state, r_hall)`` with ``r_hall`` [Ω] of shape ``(P,) + S``.
        """
        currents = jnp.asarray(currents)
        keys = jax.random.split(key, currents.shape[0])

        def step(s, inputs):
            i, k = inputs
            s = self.apply_current(s, i, key=k, pulse_width=pulse_width)
            return s, self.hall_resistance(s)

        return jax.lax.scan(step, state, (currents, keys))

    def demagnetize(self, state: CoGdState, *, key: PRNGKeyArray, start: float | None = None,
                    decrement: float | None = None) -> CoGdState:
        """The paper's demagnetising sequence: pulses of decreasing amplitude and alternating
        polarity, ``+start, −(start − decrement), +(start − 2·decrement), …`` down to one
        ``decrement`` (+28, −27.5, +27, … −0.5 mA in the paper) [paper], signs relative to
        the SET polarity.  Defaults: ``start = 1.3·I_c0`` (everything switches on the first
        pulse) and 200 steps (the paper used 56 of 0.5 mA; the model's switching window is narrower, so
        finer steps are needed to leave m ≈ 0)."""
        start = 1.3 * float(self.critical_current) if start is None else start
        decrement = start / 200.0 if decrement is None else decrement
        amps = np.arange(start, decrement / 2, -decrement)
        signs = np.where(np.arange(amps.size) % 2 == 0, 1.0, -1.0)
        currents = jnp.asarray(amps * signs) * self.set_polarity
        return self.sweep(state, currents, key=key)[0]

    # ------------------------------------------------------------------ expected values
    @_jit
    def expected_switched_fraction(self, current: ArrayLike, *, pulse_width: ArrayLike | None = None,
                                   count: ArrayLike = 1, quantiles: int = 1024) -> Array:
        """Expected fraction of regions switched by ``count`` SET pulses of magnitude
        ``current`` [A] (any shape) from the fully RESET state, averaged over the barrier
        distribution (equal-weight normal quantiles): the mean single-pulse response of the
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
        of an R_hall–I loop).  Regions accumulate hazard: ``F_k = E_z[1 − exp(−Σ_{j≤k} λ_j)]``."""
        z = jnp.asarray(normal_quantiles(quantiles))
        t_p = self.pulse_width if pulse_width is None else pulse_width
        currents = jnp.asarray(currents, z.dtype)
        rates = jnp.exp(self._log_rate(self.barriers(z)[None, :], currents[:, None], t_p, 1.0))
        return jnp.mean(-jnp.expm1(-jnp.cumsum(rates, axis=0)), axis=-1)

    def current_for_fraction(self, fraction: float, *, pulse_width: float | None = None,
                             count: float = 1.0) -> float:
        """SET-pulse magnitude [A] whose expected switched fraction from RESET is
        ``fraction`` (bisection on :meth:`expected_switched_fraction`; concrete parameters)."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
        lo, hi = 0.0, float(self.critical_current)
        t_p = self.pulse_width if pulse_width is None else pulse_width
        for points in (512, 512):  # a coarse grid, then a fine one around the crossing
            grid = np.linspace(lo, hi, points)
            f = np.asarray(self.expected_switched_fraction(grid, pulse_width=t_p, count=count), np.float64)
            i = int(np.clip(np.searchsorted(f, fraction), 1, points - 1))
            lo, hi = grid[i - 1], grid[i]
        f_lo, f_hi = np.asarray(self.expected_switched_fraction(np.array([lo, hi]), pulse_width=t_p, count=count), np.float64)
        return float(lo + (hi - lo) * (fraction - f_lo) / (f_hi - f_lo)) if f_hi > f_lo else float(hi)


# ---------------------------------------------------------------------- factories and presets
def cogd_hall_bar(*, alox_thickness: float = 2e-9, h_x_oe: float = -500.0, n_regions: int = 256,
                  pulse_width: float = 10e-3, set_current: float | None = None,
                  step_probability: float = 0.03, **kwargs) -> CoGdDevice:
    """The paper's device: Ta/Pt/[Co/Gd]₆/Pt/AlOx(t) Hall bar, 10 µm wide, 10 ms pulses [paper].

    Args:
        alox_thickness: AlOx cap thickness [m] (0–2 nm in the paper); sets ``h_k`` through
            :func:`anisotropy_field` [fit].
        h_x_oe: in-plane field in Oe (the paper's unit; −500 Oe for Figs. 3–4) [paper].
        n_regions: nucleation regions per device [fit].
        pulse_width: [s].
        set_current: nominal SET/RESET amplitude [A]; by default the current at which a
            nominal pulse SETs a fraction ``step_probability`` of the RESET regions, so that
            repeated nominal pulses step the conductance gradually [derived].
        **kwargs: any other :class:`CoGdDevice` field.
    """
    device = CoGdDevice(n_regions=n_regions, h_x=h_x_oe * OE, h_k=anisotropy_field(alox_thickness),
                        pulse_width=pulse_width, **kwargs)
    if set_current is None:
        set_current = device.current_for_fraction(step_probability)
    return dataclasses.replace(device, set_current=set_current)


def scaled(device: CoGdDevice, *, width: float, length: float | None = None, pulse_width: float | None = None,
           n_regions: int | None = None, step_probability: float | None = 0.03) -> CoGdDevice:
    """Scale a device to another geometry and pulse width [derived].

    Kept: the material (``h_x``, ``h_k``, barrier distribution, ``χ``, ``t_eff``, ``R_□``),
    hence the threshold current *density*.  Changed: currents scale with ``width``; the
    channel resistance with ``length/width`` (``length`` defaults to the same aspect ratio);
    a shorter pulse raises the switching current through ``ln(t_p/τ0)``.  The nominal SET
    current is recomputed for the same per-pulse switching fraction ``step_probability``
    (None: scaled with the width).  The barrier distribution is that of the nucleation
    volume, not of the device area, and is kept [assumed]; the model is thermally
    activated, so pulses much shorter than ~10·τ0 (precessional switching) are outside it.
    """
    check_positive("width", width)
    length = device.length * width / device.width if length is None else length
    check_positive("length", length)
    pulse_width = device.pulse_width if pulse_width is None else pulse_width
    check_positive("pulse_width", pulse_width)
    changes = dict(width=width, length=length, pulse_width=pulse_width, set_current=device.set_current * width / device.width)
    if n_regions is not None:
        changes["n_regions"] = n_regions
    out = dataclasses.replace(device, **changes)
    if step_probability is not None:
        out = dataclasses.replace(out, set_current=out.current_for_fraction(step_probability))
    return out


@functools.lru_cache(maxsize=4)
def cogd_array(*, n_regions: int = 64) -> CoGdDevice:
    """Co/Gd ferrimagnetic SOT synapse for arrays: 200 nm × 400 nm, 10 ns pulses, N_r = 64 [derived].

    The paper's 2 nm-AlOx stack at −500 Oe (:func:`cogd_hall_bar`), scaled by
    :func:`scaled`; ``N_r = 64`` regions [assumed], conductance 1–10 µS [assumed].

    The nominal pulse SETs 3 % of the RESET regions per pulse, so a cell behaves as a
    stochastic soft-bounds device: ``E[Δm] ≈ 0.03·(1 ∓ m)`` per SET/RESET pulse, ≈ 1 region
    per pulse at mid-range (``N_r = 64`` levels).  ``N_r`` regions in 0.08 µm² means
    ≈ 35 nm regions: the paper's barriers at that volume need a larger anisotropy energy
    density than the paper's film — a what-if for arrays [assumed]."""
    base = cogd_hall_bar(n_regions=n_regions)
    return scaled(base, width=200e-9, length=400e-9, pulse_width=10e-9)


@functools.lru_cache(maxsize=1)
def cogd_hall_bar_preset() -> CoGdDevice:
    """Co/Gd Hall bar as measured: 10 µm, 10 ms pulses, 2 nm AlOx, −500 Oe, N_r = 64 [paper/fit].

    The nominal pulse (≈ 16 mA) SETs 3 % of the RESET regions per pulse [derived]; write
    energy ≈ 90 µJ per pulse.  Conductance mapping 1–10 µS [assumed]."""
    return cogd_hall_bar(n_regions=64)


#: Presets of this family (merged into ``synaptax.devices.PRESETS``).
COGD_PRESETS = {"cogd": cogd_array, "cogd-hallbar": cogd_hall_bar_preset}

__all__ = ["ALOX_HK_OE", "COGD_PRESETS", "ALOX_THICKNESS", "CoGdDevice", "CoGdState", "OE", "SOT_EFFICIENCY", "anisotropy_field",
           "cogd_array", "cogd_hall_bar", "cogd_hall_bar_preset", "normal_quantiles", "scaled"]
