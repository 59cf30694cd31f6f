"""Nitrogen magneto-ionic synapses (CoN, CoFeN): a gate voltage pulls N³⁻ out of a
paramagnetic nitride film into a liquid electrolyte and leaves ferromagnetic Co (CoFe)
behind; the weight is the film's magnetisation.

Sources: Tan et al., Mater. Horiz. 10, 88 (2023) (CoN; ``shared/papers/con-magnetoionics-
frequency-post-stimulated-MaterHoriz2023.txt``) and Martínez Armesto et al. (CoFeN at
remanence; ``shared/papers/cofen-magnetoionics-field-free-remanence.txt``); the compact
model is the one of ``shared/docs/device-physics.md`` §A–B, with the changes listed in
``magnetoionic/README.md``.

State (per cell, every field a fraction per film volume, in [0, 1]):

* ``edl`` u — charge of the electric double layer under a negative gate, relative to its
  steady value (``u' = (s − u)/τE``, s = 1 while the negative gate is on);
* ``edl_reverse`` w — the same for a positive (depression) gate;
* ``surface`` a — N piled up at the film/electrolyte interface (not yet dissolved);
* ``interface`` c — N dissolved in the electrolyte next to the film (fast reservoir);
* ``electrolyte`` e — N redistributed into the bulk electrolyte (slow reservoir);
* ``conditioned`` x_c — remanent mode only: the part of the Co(Fe) layer formed under the
  conditioning field (running minimum of x since the field was removed).

The ferromagnetic fraction is ``x = c + e`` (every extracted N that left the film left one
unit of metal behind; the reference equations conserve ``x − c − e`` exactly, so ``x`` is
not integrated separately).  Rates (device-physics.md §A; ``JE`` is ``v_E`` of the paper)::

    JE = kE·u^β·(1 − x/xmax)+·(1 − a/amax)+        (rate ∝ interfacial field^β, field ∝ u)
    θ  = min(1, c/csat)^m                             Γ = [(1 − u/ur)+]²·exp(−a/ab)
    a' = θ·JE − Jd                                    Jd = kA·a·(1−θ)·(1−u)
    c' = (1−θ)·JE + Jd − kred·c − krec·x·Γ·c − κ·c
    e' = kred·c − krec2·x·Γ·e − κ·e
    κ  = kinj·w^β/(x + xh)                            (positive-gate re-injection [assumed])

Field-driven rate law for other amplitudes, thicknesses and double-layer charges
[derived]: the film plus the double layer is a parallel-plate capacitor, so the field at
the interface is ``E = u·|V|/(t + d_EDL)``, and the extraction rate follows ``kE ∝ E^β``;
β follows from the paper's 7.4-fold rate increase from 200 to 5 nm.  A double layer that
cannot follow a fast square wave (100 Hz) sits near half charge and extracts at
``(1/2)^β`` of the DC rate.  ``xmax(t) = xmax_ref·(t/t_ref)^γ`` (steady magnetisation grows with thickness).

Integration: exponential Euler on ``a, c, e`` (each variable's own loss rate treated
exactly, so the fractions stay ≥ 0 for any step), the double-layer states ``u, w``
integrated exactly, and the factors that depend on them (``u^β``, ``Γ(u)``, ``1 − u``,
``w^β``) replaced by their averages over the step (exact, or Gauss–Legendre to ~1e-5).  Steps are therefore free of the
``τE`` stiffness: one step per pulse phase of a 100 Hz train, and steps growing
geometrically to ``max_step`` during rests.  Every phase has a step budget (``max_steps``):
a phase longer than the budget allows at ``max_step`` takes longer steps, so every
operation returns in bounded time for any finite duration (the exponential-Euler step stays
stable and the fractions in [0, 1] for any step).

Array scale (``integrator="fast"``, the default): an update of back-to-back pulses is
integrated phase by phase as whole trains — a fixed number of steps per phase, whatever the
pulse counts (:meth:`MagnetoIonicSynapse._trains_fast`) — and every operation runs block by
block over the cells (:func:`_by_blocks`); ``integrator="reference"`` keeps the
step-by-step integration of every period.  ``magnetoionic/README.md`` states the error.

Units: times in s, voltages in V, thickness in m, magnetisation in emu cm⁻³ (the
papers' unit; 1 emu cm⁻³ = 10³ A m⁻¹, see :data:`EMU_PER_CM3_IN_A_PER_M`), conductance in
S, energy in J.
"""
from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int8, PRNGKeyArray

from ..._checks import check_finite, check_nonnegative, check_positive, check_probability, is_concrete
from ... import _random as fast_random
from ..core.blocks import by_blocks
from ..core.contract import STUCK_MAX, STUCK_MIN, AbstractDevice, AbstractDeviceState, PulseEnergy, check_duration
from ..core.readout import AbstractTransducer, LinearTransducer
from ..core.variability import CellSample, Variability, check_spreads

#: 1 emu cm⁻³ expressed in A m⁻¹ (SI magnetisation).
EMU_PER_CM3_IN_A_PER_M = 1.0e3


def _check_fraction(name, value, *, open_low=False):
    if not is_concrete(value):
        return
    v = np.asarray(value, dtype=np.float64)
    bad = (~np.isfinite(v)) | (v > 1) | ((v <= 0) if open_low else (v < 0))
    if np.any(bad):
        rng = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"{name} must lie in {rng}, got {float(v.ravel()[np.argmax(bad.ravel())])!r}")


# ----------------------------------------------------------------------------- parameters
class NitrideFilm(eqx.Module):
    """Material and film parameters of an electrolyte-gated nitride film (one cell).

    Defaults are device-physics.md §A's starting values (its guesses for the [fit] ones);
    the fitted CoN set is :func:`synaptax.devices.magnetoionic.presets.con_film` (from
    ``benchmarks/fit_magnetoionic.py``), the CoFeN set ``cofen_film``.  Any field may be an
    array broadcastable to the state's shape (e.g. several thicknesses side by side).

    Attributes:
        thickness: film thickness t [m], > 0 (the paper: 5–200 nm).
        rate_ref: extraction rate kE at ``thickness_ref`` and ``voltage_ref`` [s⁻¹]
            [paper: 0.8 emu cm⁻³ s⁻¹ / M_Co at 200 nm, −25 V].
        thickness_ref: reference thickness [m] (200 nm).
        voltage_ref: reference gate voltage magnitude [V] (25 V).
        edl_thickness: electric-double-layer thickness d_EDL [m] [assumed 1 nm; the CoFeN
            paper: "less than 1 nm"].
        field_exponent: β in ``kE ∝ E^β`` with the interfacial field
            ``E ∝ u·|V|/(t + d_EDL)`` [derived from the 7.4-fold rate ratio between 200 and
            5 nm]; the same law gives the double layer's field factor ``u^β``.
        capacity_ref: xmax at ``thickness_ref`` [paper: 248 emu cm⁻³ after 900 s at 200 nm].
        capacity_exponent: γ in ``xmax ∝ t^γ`` [fit].
        saturation_magnetisation: magnetisation of the fully reduced metal [emu cm⁻³]
            (bulk Co 1400 emu cm⁻³ = 1.4 MA m⁻¹).
        tau_edl: double-layer time constant τE at ``thickness_ref`` [s] [fit].
        edl_exponent: exponent of the double layer's field factor ``u^β`` in JE (and of
            ``w^β`` in κ) [derived: = field_exponent, the field at the interface is ∝ the
            double layer's charge]; a separate field so that the law can be varied.
        discharge_ratio: r = τ_discharge/τ_charge [fit]: the double layer discharges
            faster than it charges (the CoFeN paper sees the gate current reverse at 0 V as
            the double layer is transiently reversed, with fast N³⁻ re-entry).
        tau_exponent: δ in ``τE(t) = τE·((t_ref + d_EDL)/(t + d_EDL))^δ`` [fit]: the gate is
            charged through the electrolyte into a capacitance ∝ 1/(t + d_EDL) (the paper's
            parallel-plate picture gives δ = 1), so thin films respond more slowly.
        recovery_threshold: ur, recovery blocked while u > ur [fit].
        saturation_exponent: m in θ = min(1, c/csat)^m [fit].
        k_rec: fast back-injection from the interfacial electrolyte krec [s⁻¹] [fit].
        k_rec2: slow recovery from the bulk electrolyte krec2 [s⁻¹] [fit].
        k_red: redistribution interfacial → bulk electrolyte kred [s⁻¹] [fit].
        c_sat: N solubility of the interfacial electrolyte csat (fraction) [fit].
        k_accum: dissolution of the piled-up N kA [s⁻¹] [fit].
        a_max: largest pile-up amax (fraction) [fit].
        a_block: pile-up scale ab over which recovery is blocked (fraction) [fit].
        injection_ratio: positive-gate re-injection rate relative to kE at the same |V|
            [assumed 1: a depression pulse mirrors a potentiation pulse].
        injection_softness: xh in κ (fraction) [assumed].
    """

    thickness: float = 25e-9
    rate_ref: float = 5.7e-4
    thickness_ref: float = 200e-9
    voltage_ref: float = 25.0
    edl_thickness: float = 1e-9
    field_exponent: float = 0.57
    capacity_ref: float = 0.193
    capacity_exponent: float = 0.3
    saturation_magnetisation: float = 1400.0
    tau_edl: float = 0.05
    edl_exponent: float = 0.57
    tau_exponent: float = 0.0
    discharge_ratio: float = 1.0
    recovery_threshold: float = 0.4
    saturation_exponent: float = 4.0
    k_rec: float = 100.0
    k_rec2: float = 1e-3
    k_red: float = 0.045
    c_sat: float = 0.02
    k_accum: float = 1e-3
    a_max: float = 0.03
    a_block: float = 0.002
    injection_ratio: float = 1.0
    injection_softness: float = 0.01

    def __check_init__(self):
        for name in ("thickness", "rate_ref", "thickness_ref", "voltage_ref", "capacity_exponent",
                     "saturation_magnetisation", "tau_edl", "edl_exponent", "discharge_ratio", "saturation_exponent", "k_red",
                     "c_sat", "a_block", "injection_softness"):
            check_positive(name, getattr(self, name))
        for name in ("edl_thickness", "field_exponent", "tau_exponent", "k_rec", "k_rec2", "k_accum", "injection_ratio"):
            check_nonnegative(name, getattr(self, name))
        _check_fraction("capacity_ref", self.capacity_ref, open_low=True)
        _check_fraction("recovery_threshold", self.recovery_threshold, open_low=True)
        _check_fraction("a_max", self.a_max, open_low=True)
        if is_concrete((self.capacity_ref, self.a_max, self.thickness)):
            # in NumPy: a check at construction must not start JAX's backend (module-level
            # default instances would, before the CLI's XLA settings could apply)
            capacity = np.asarray(self.capacity_ref) * (np.asarray(self.thickness) / self.thickness_ref) ** np.asarray(
                self.capacity_exponent)
            if np.any(capacity + np.asarray(self.a_max) > 1.0):
                raise ValueError("capacity (xmax at this thickness) + a_max must not exceed 1: the film cannot "
                                 "be more than fully reduced; lower capacity_ref or thickness")

    def extraction_rate(self, voltage: ArrayLike) -> Array:
        """kE(t, V) [s⁻¹] at gate voltage magnitude ``|voltage|`` [V] for this thickness, with
        the double layer fully charged: ``rate_ref·((t_ref + d_EDL)/(t + d_EDL))^β·(|V|/V_ref)^β``."""
        ratio = (self.thickness_ref + self.edl_thickness) / (self.thickness + self.edl_thickness)
        return self.rate_ref * (ratio * jnp.abs(voltage) / self.voltage_ref) ** self.field_exponent

    @property
    def time_constant(self):
        """τE(t) [s]: the double layer's charging time at this thickness."""
        ratio = (self.thickness_ref + self.edl_thickness) / (jnp.asarray(self.thickness) + self.edl_thickness)
        return self.tau_edl * ratio**self.tau_exponent

    @property
    def capacity(self):
        """xmax(t): the largest ferromagnetic fraction field-driven extraction reaches."""
        return self.capacity_ref * (jnp.asarray(self.thickness) / self.thickness_ref) ** self.capacity_exponent


class PulseTrain(eqx.Module):
    """The gate-voltage pulse train that one update pulse count stands for.

    ``apply_pulses(n)`` applies, per cell, ``n·burst`` pulses of ``amplitude`` lasting
    ``width`` every ``period`` seconds (potentiation), or as many depression pulses (see
    ``depression``), then leaves the array at 0 V for ``rest`` seconds.  Cells given fewer
    pulses than others sit at 0 V meanwhile: the whole array takes
    ``max(n)·burst·period + rest`` seconds (potentiation and depression trains one after
    the other), and every cell evolves during it.

    Attributes:
        amplitude: gate voltage of a potentiation pulse [V], < 0 (N extraction needs a
            negative gate; the papers use −25 V).
        width: pulse width [s], > 0.
        period: pulse period [s], ≥ ``width`` (duty cycle ``width/period`` in (0, 1]).
        rest: time at 0 V after a train [s], ≥ 0.
        depression: ``"positive-gate"`` — a depression pulse is a pulse of
            ``depression_amplitude`` (> 0 V) of the same width and period that pushes N
            back into the film [assumed rate law, see :class:`NitrideFilm`]; ``"rest"`` — a
            depression pulse is one period at 0 V: the papers' recovery, which acts on
            every cell alike (a count of depression pulses then only sets how long the
            array rests).
        depression_amplitude: gate voltage of a depression pulse [V], > 0.
        burst: gate pulses per update pulse (integer ≥ 1): one programming step of the
            crossbar is a burst of this many pulses at the train's period.
    """

    amplitude: float = -25.0
    width: float = 0.1
    period: float = 0.1
    rest: float = 0.0
    depression: Literal["positive-gate", "rest"] = eqx.field(static=True, default="positive-gate")
    depression_amplitude: float = 25.0
    burst: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"burst must be an integer >= 1, got {self.burst!r}")
        check_finite("amplitude", self.amplitude)
        if is_concrete(self.amplitude) and float(self.amplitude) >= 0:
            raise ValueError(f"amplitude must be negative (a negative gate extracts N³⁻), got {float(self.amplitude)!r}")
        check_positive("width", self.width)
        check_positive("period", self.period)
        check_nonnegative("rest", self.rest)
        if is_concrete((self.width, self.period)) and float(self.width) > float(self.period) * (1 + 1e-12):
            raise ValueError(f"duty_cycle = width/period must lie in (0, 1], got {float(self.width) / float(self.period)!r}")
        if self.depression not in ("positive-gate", "rest"):
            raise ValueError(f"depression must be 'positive-gate' or 'rest', got {self.depression!r}")
        check_positive("depression_amplitude", self.depression_amplitude)

    @classmethod
    def square_wave(cls, frequency: float, duty_cycle: float = 0.5, *, amplitude: float = -25.0, **kw) -> "PulseTrain":
        """A square wave of ``frequency`` [Hz] (> 0) and ``duty_cycle`` in (0, 1] (the
        paper: 0.01–100 Hz at 50 %)."""
        check_positive("frequency", frequency)
        _check_fraction("duty_cycle", duty_cycle, open_low=True)
        period = 1.0 / float(frequency)
        return cls(amplitude=amplitude, width=period * float(duty_cycle), period=period, **kw)

    @property
    def frequency(self) -> float:
        """Pulse frequency [Hz]."""
        return 1.0 / self.period

    @property
    def duty_cycle(self) -> float:
        """``width/period``."""
        return self.width / self.period


class GateEnergy(eqx.Module):
    """Energy drawn from the gate supply per pulse [J]:
    ``|V|·J_leak·A·t_width + C_EDL·A·V²`` (leakage through the electrolyte during the pulse
    plus charging the double layer; the supply delivers ``CV²``, half stored, half lost).

    Attributes:
        cell_area: gated film area of one cell [m²] [assumed 100 nm × 100 nm].
        leakage_current_density: gate leakage [A m⁻²] [derived: the CoFeN paper's 10 µA at
            25 V on its 5 × 5 mm² sample, 0.4 A m⁻²].
        edl_capacitance: double-layer capacitance [F m⁻²] [assumed 0.1 F m⁻² = 10 µF cm⁻²,
            a typical Helmholtz-layer value].
    """

    cell_area: float = 1e-14
    leakage_current_density: float = 0.4
    edl_capacitance: float = 0.1

    def __check_init__(self):
        check_positive("cell_area", self.cell_area)
        check_nonnegative("leakage_current_density", self.leakage_current_density)
        check_nonnegative("edl_capacitance", self.edl_capacitance)

    def pulse(self, voltage, width):
        """Energy [J] of one pulse of ``voltage`` [V] lasting ``width`` [s]."""
        v = jnp.abs(voltage)
        return v * self.leakage_current_density * self.cell_area * width + self.edl_capacitance * self.cell_area * v**2


class MagnetoIonicVariability(Variability):
    """Variability of magneto-ionic cells: the spreads every family shares
    (:class:`~synaptax.devices.core.variability.Variability`) plus the film's own.

    Shared fields, as this family reads them:
        d2d_bounds: relative device-to-device spread of the *read element's* window: each
            cell's ``[g_min, g_max]`` is sampled around the transducer's
            ``conductance_range`` (:meth:`Variability.sample_cells`), and the transducer's
            nominal conductance is mapped linearly onto it (a gain/offset spread of the read
            element; the film is not affected).
        stuck_min, stuck_max: probability that a cell's read element is stuck at its
            ``g_min`` / ``g_max`` (the film still moves; the read does not).
        read_noise: relative standard deviation of one read of the conductance.

    The film's spreads (relative unless stated; every one 0 by default):
        d2d_rate: device-to-device spread of the extraction and re-injection rates together
            (multiplier ``max(1 + d2d_rate·z, 0)``).
        d2d_asymmetry: device-to-device standard deviation of ``β`` (``k_E·(1+β)``,
            ``k_inj·(1−β)``; ``β`` clipped to [−1, 1]).
        d2d_capacity: device-to-device spread of the film's capacity ``xmax`` (multiplier
            ``max(1 + d2d_capacity·z, 0.05)``).
        c2c_rate: relative noise of the rates, drawn per cell per pulse train (multiplier
            ``max(1 + c2c_rate·ξ, 0)``).
    """

    d2d_rate: float = 0.0
    d2d_asymmetry: float = 0.0
    d2d_capacity: float = 0.0
    c2c_rate: float = 0.0

    def __check_init__(self):
        check_spreads(self, ("d2d_rate", "d2d_asymmetry", "d2d_capacity", "c2c_rate"))

    def sample_film(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype) -> tuple[Array, Array, Array]:
        """Per-cell ``(rate_scale, injection_scale, capacity_scale)`` multipliers of an array
        of ``shape``.  ``key`` is split once into one named stream per spread
        (:data:`_FILM_STREAMS`: rate, asymmetry, capacity), so adding a spread never
        reshuffles the others."""
        streams = dict(zip(_FILM_STREAMS, jax.random.split(key, len(_FILM_STREAMS))))

        def z(name):
            return fast_random.normal(streams[name], shape, dtype)

        scale = jnp.maximum(1.0 + self.d2d_rate * z("rate"), 0.0)
        beta = jnp.clip(self.d2d_asymmetry * z("asymmetry"), -1.0, 1.0)
        capacity = jnp.maximum(1.0 + self.d2d_capacity * z("capacity"), 0.05)
        return scale * (1.0 + beta), scale * (1.0 - beta), capacity


#: The named random streams of the film's device-to-device samples, in split order.
_FILM_STREAMS = ("rate", "asymmetry", "capacity")


# ----------------------------------------------------------------------------- state
class MagnetoIonicState(AbstractDeviceState):
    """State of an array of magneto-ionic cells; every field has the array's shape ``S``.

    Attributes (fractions per film volume, all in [0, 1], unless stated):
        edl: u, negative-gate double-layer charge (relative).
        edl_reverse: w, positive-gate double-layer charge (relative).
        surface: a, N piled up at the film surface.
        interface: c, N in the interfacial electrolyte.
        electrolyte: e, N in the bulk electrolyte.
        conditioned: x_c, ferromagnetic fraction formed under the conditioning field
            (remanent mode; equals x in saturating mode).
        rate_scale: this cell's extraction-rate multiplier (device-to-device sample, ≥ 0).
        injection_scale: this cell's positive-gate re-injection multiplier (≥ 0).
        capacity_scale: this cell's xmax multiplier (device-to-device sample, > 0).
        conductance: the read element's conductance [S] at the present magnetisation, as
            the device that last operated on the state reads it (every operation refreshes
            it; ``device.conductance(state)`` returns it).
        g_min, g_max: this cell's read-element window [S] (device-to-device sample around
            the transducer's ``conductance_range``, ``variability.d2d_bounds``): the
            transducer's nominal window maps linearly onto it; a stuck element reads its bound.
        stuck: int8 fault code of the read element: 0 working, 1 stuck at ``g_min``, 2 at
            ``g_max``.
    """

    edl: Float[Array, "*S"]
    edl_reverse: Float[Array, "*S"]
    surface: Float[Array, "*S"]
    interface: Float[Array, "*S"]
    electrolyte: Float[Array, "*S"]
    conditioned: Float[Array, "*S"]
    rate_scale: Float[Array, "*S"]
    injection_scale: Float[Array, "*S"]
    capacity_scale: Float[Array, "*S"]
    conductance: Float[Array, "*S"]
    g_min: Float[Array, "*S"]
    g_max: Float[Array, "*S"]
    stuck: Int8[Array, "*S"]

    @property
    def ferromagnetic_fraction(self) -> Array:
        """x = c + e: fraction of the film reduced to ferromagnetic metal (shape ``S``)."""
        return self.interface + self.electrolyte


def _exp_phi1(z):
    """``(exp(z), (exp(z) − 1)/z)`` for z ≤ 0 from one ``expm1`` (the second → 1 as z → 0)."""
    em1 = jnp.expm1(z)
    small = jnp.abs(z) < 1e-6
    return em1 + 1.0, jnp.where(small, 1.0 + 0.5 * z, em1 / jnp.where(small, -1.0, z))


def _phi1(z):
    """``(exp(z) − 1)/z`` (→ 1 as z → 0), for z ≤ 0."""
    return _exp_phi1(z)[1]


def _power(y, m):
    """``y**m`` for y ≥ 0 and m > 0 as ``exp(m·log y)`` (XLA's general ``pow`` is ~10× slower)."""
    pos = y > 0
    return jnp.where(pos, jnp.exp(m * jnp.log(jnp.where(pos, y, 1.0))), 0.0)


def _edl_tau(u0, s, tau, ratio):
    """Time constant of a step: ``τ`` while charging (s > u), ``r·τ`` while discharging."""
    return jnp.where(s > u0, tau, tau * ratio)


#: Gauss–Legendre nodes and weights on [0, 1] (4 points) for the double-layer averages.
_GL_NODES = tuple(float(v) for v in (np.polynomial.legendre.leggauss(4)[0] + 1.0) / 2.0)
_GL_WEIGHTS = tuple(float(v) for v in np.polynomial.legendre.leggauss(4)[1] / 2.0)


def _edl_means(u0, s, h, tau, beta, static_s=None):
    """Averages over a step of length h of ``u`` and of the field factor ``u^β`` with
    ``u' = (s − u)/τ`` from ``u0`` (``u`` is the double layer's charge relative to its
    steady value; the extraction rate follows the interfacial field ``∝ u``, to the power
    β of the rate law).

    ``∫u^β dt = τ·∫ u^β/(s − u) du = h·s^β + τ·∫_{u0}^{u1} (u^β − s^β)/(s − u) du``: the
    last integrand is bounded, and is integrated by 4-point Gauss–Legendre in ``θ`` with
    ``u = u0 + (u1 − u0)·θ²`` (which smooths the ``u^β`` cusp of a charge from zero); a
    discharge to ``s = 0`` is exact, ``τ·(u0^β − u1^β)/β``.

    ``static_s``: None, or the Python number every ``s`` is (0 or 1: a gate known at trace
    time), which drops the branch that cannot be taken (the same values, fewer operations).

    Returns ``(u_end, mean_u, mean_g, decay)`` with ``decay = exp(−h/τ)``.
    """
    z = -h / tau
    decay, phi = _exp_phi1(z)
    if static_s == 0:
        u1 = u0 * decay
        mean_u = u0 * phi
    else:
        u1 = s + (u0 - s) * decay
        mean_u = s + (u0 - s) * phi
    u0_b = _power(u0, beta)
    if static_s != 1:
        discharge = tau * (u0_b - _power(u1, beta)) / beta
    if static_s == 0:
        integral = discharge
    else:
        s_b = 1.0 if static_s == 1 else _power(s, beta)
        # the integrand's limit at u = s, −β·s^(β−1) (the same at every node)
        at_s = -beta if static_s == 1 else -beta * _power(jnp.maximum(s, 1e-30), beta - 1.0)
        span = u1 - u0
        acc = jnp.zeros_like(span)
        for node, weight in zip(_GL_NODES, _GL_WEIGHTS):
            u = u0 + node * node * span
            weight = 2.0 * node * weight
            gap = s - u
            small = jnp.abs(gap) < 1e-12
            f = jnp.where(small, at_s, (_power(u, beta) - s_b) / jnp.where(small, 1.0, gap))
            acc = acc + weight * f
        general = h * s_b + tau * span * acc
        integral = general if static_s == 1 else jnp.where(s <= 0, discharge, general)
    h_safe = jnp.maximum(h, 1e-30)
    mean_g = jnp.where(h > 1e-9 * tau, integral / h_safe, u0_b)
    return u1, mean_u, jnp.clip(mean_g, 0.0, 1.0), decay


def _gamma_mean(u0, s, h, tau, ur, decay_h=None):
    """Exact average over a step of length h of ``[(1 − u/ur)+]²`` with ``u' = (s − u)/τ``
    (``decay_h = exp(−h/τ)`` if already known)."""
    p = 1.0 - s / ur
    q = (u0 - s) / ur
    if decay_h is None:
        decay_h = jnp.exp(-h / tau)
    v0 = p - q
    vh = p - q * decay_h
    ratio = jnp.where((q != 0) & (p != 0), q / jnp.where(p != 0, p, 1.0), 1.0)
    t_star = jnp.clip(tau * jnp.log(jnp.where(ratio > 0, ratio, 1.0)), 0.0, h)
    t1 = jnp.where(v0 >= 0, 0.0, t_star)
    t2 = jnp.where(vh >= 0, h, t_star)
    dt = jnp.maximum(t2 - t1, 0.0)
    e1 = jnp.exp(-t1 / tau)
    m1 = jnp.expm1(-dt / tau)
    # ∫(p − q·e^{−t/τ})² dt from t1 to t2; expm1(−2x) = expm1(−x)·(expm1(−x) + 2)
    integral = p * p * dt + 2.0 * p * q * tau * e1 * m1 - 0.5 * q * q * tau * e1 * e1 * m1 * (m1 + 2.0)
    h_safe = jnp.maximum(h, 1e-30)
    inst = jnp.maximum(v0, 0.0) ** 2
    return jnp.where(h > 1e-9 * tau, jnp.clip(integral / h_safe, 0.0, 1.0), inst)


class _DoubleLayer(NamedTuple):
    """What a step needs of the double layers over ``[0, h]``: their end values and the
    exact averages of the factors that depend on them."""

    u1: Array       # u at the end of the step
    w1: Array       # w at the end of the step
    mean_u: Array   # mean of u
    g_u: Array      # mean of u^β (extraction's field factor)
    g_w: Array      # mean of w^β (re-injection's field factor)
    gamma_u: Array  # mean of [(1 − u/ur)+]² (recovery's field factor)


def _double_layer(film: NitrideFilm, st: MagnetoIonicState, s_neg, s_pos, h, static_drive=(None, None)) -> _DoubleLayer:
    """The double layers ``u`` (negative gate, target ``s_neg``) and ``w`` (positive gate,
    ``s_pos``) over a step of ``h`` [s] from the state's values: exact."""
    tau = film.time_constant
    tau_u = _edl_tau(st.edl, s_neg, tau, film.discharge_ratio)
    tau_w = _edl_tau(st.edl_reverse, s_pos, tau, film.discharge_ratio)
    u1, mean_u, g_u, decay_u = _edl_means(st.edl, s_neg, h, tau_u, film.edl_exponent, static_drive[0])
    w1, _, g_w, _ = _edl_means(st.edl_reverse, s_pos, h, tau_w, film.edl_exponent, static_drive[1])
    gamma_u = _gamma_mean(st.edl, s_neg, h, tau_u, film.recovery_threshold, decay_u)
    return _DoubleLayer(u1, w1, mean_u, g_u, g_w, gamma_u)


def _injection_exposure(x, dose, softness, iterations: int = 4):
    """``∫κ dt`` over a step in which the positive gate re-injects ``dose = ∫k_inj·w^β dt``:
    the Michaelis–Menten law ``x' = −k_inj·w^β·x/(x + xh)`` solved exactly for the step,
    ``δ = ln(x0/x1)`` with ``x0·(1 − e^{−δ}) + xh·δ = dose`` (Newton from the frozen-rate
    value ``dose/(x0 + xh)``, which lies below the root of this convex decreasing equation,
    so every iterate stays below it and converges monotonically; 4 iterations reach the
    root to float64 roundoff for every dose).  The frozen rate ``dose/(x0 + xh)`` of
    :func:`_step` underestimates it once the step injects a fair part of ``x`` (the
    reservoirs empty at a nearly constant rate while ``x ≫ xh``)."""
    delta = dose / (x + softness)
    for _ in range(iterations):
        decay = jnp.exp(-delta)
        g = dose - softness * delta + x * jnp.expm1(-delta)
        delta = delta + g / (softness + x * decay)
    return delta


def _reservoirs(film: NitrideFilm, st: MagnetoIonicState, dl: _DoubleLayer, h, k_e, k_inj, remanent: bool,
                exact_injection: bool = False, at=None) -> MagnetoIonicState:
    """Exponential-Euler step of the reservoirs ``a, c, e`` over ``h`` [s] given the double
    layers' averages ``dl`` (see :func:`_step`).  ``exact_injection``: the re-injection's
    loss ``κ·h`` from :func:`_injection_exposure` instead of the rate frozen at the start.
    ``at``: None (the reservoirs' own factors — pile-up ``1 − a/amax``, saturation θ(c),
    recovery's ``x`` and its blocking ``exp(−a/ab)`` — frozen at the start of the step), or
    the predicted end ``(a1, c1, e1)`` of the step: the factors are then taken at the mean
    of the start and that end (Heun's corrector)."""
    a, c, e = st.surface, st.interface, st.electrolyte
    x = c + e
    xmax = jnp.minimum(film.capacity * st.capacity_scale, 1.0 - film.a_max)
    amax = film.a_max
    if at is None:
        a_f, c_f, x_f = a, c, x
    else:
        a_f, c_f, x_f = 0.5 * (a + at[0]), 0.5 * (c + at[1]), 0.5 * (x + at[1] + at[2])
    k_x = k_e * dl.g_u * jnp.maximum(1.0 - a_f / amax, 0.0)
    je = k_x * jnp.maximum(1.0 - x / xmax, 0.0) * _phi1(-k_x * h / xmax)
    theta = _power(jnp.clip(c_f / film.c_sat, 0.0, 1.0), film.saturation_exponent)
    gamma = dl.gamma_u * jnp.exp(-a_f / film.a_block)
    if exact_injection:
        # the rate that removes exactly the step's exposure from x (0 for a step of no length)
        kappa = _injection_exposure(x, k_inj * dl.g_w * h, film.injection_softness) / jnp.maximum(h, 1e-30)
    else:
        kappa = k_inj * dl.g_w / (x_f + film.injection_softness)
    x = x_f

    # a: pile-up; source θ·JE, losses dissolution (→ c) and re-injection
    la_d = film.k_accum * (1.0 - theta) * (1.0 - dl.mean_u)
    la = la_d + kappa
    src_a = theta * je * h
    ea, pa = _exp_phi1(-la * h)
    a1 = jnp.clip(a * ea + src_a * pa, 0.0, amax)
    a_lost = jnp.maximum(src_a - (a1 - a), 0.0)
    jd_h = a_lost * jnp.where(la > 0, la_d / jnp.where(la > 0, la, 1.0), 0.0)

    # c: interfacial electrolyte; losses to e (kred), back into the film (recovery, injection)
    lc = film.k_red + film.k_rec * x * gamma + kappa
    src_c = (1.0 - theta) * je * h + jd_h
    ec, pc = _exp_phi1(-lc * h)
    c1 = c * ec + src_c * pc
    c_lost = jnp.maximum(src_c - (c1 - c), 0.0)
    to_e = c_lost * film.k_red / lc

    # e: bulk electrolyte; slow recovery and injection
    le = film.k_rec2 * x * gamma + kappa
    ee, pe = _exp_phi1(-le * h)
    e1 = e * ee + to_e * pe

    c1 = jnp.maximum(c1, 0.0)
    e1 = jnp.maximum(e1, 0.0)
    x1 = c1 + e1
    over = x1 > 1.0
    scale = jnp.where(over, 1.0 / jnp.where(over, x1, 1.0), 1.0)
    c1, e1 = c1 * scale, e1 * scale
    x1 = c1 + e1
    cond = jnp.minimum(st.conditioned, x1) if remanent else x1
    return dataclasses.replace(st, edl=dl.u1, edl_reverse=dl.w1, surface=a1, interface=c1, electrolyte=e1,
                               conditioned=cond)


def _step(film: NitrideFilm, st: MagnetoIonicState, s_neg, s_pos, h, k_e, k_inj, remanent: bool,
          static_drive=(None, None), exact_injection: bool = False):
    """Advance the state by ``h`` [s] (per cell) under constant drive.

    ``s_neg``/``s_pos`` ∈ [0, 1]: negative/positive gate on (per cell); ``k_e``/``k_inj``:
    this step's extraction and re-injection rates [s⁻¹] (per cell).

    Exponential Euler: every flux is frozen at the start of the step except (i) the
    double-layer states and the factors that depend on them (exact averages), (ii) each
    reservoir's own loss (exact exponential), and (iii) the capacity factor of the
    extraction ``(1 − x/xmax)``, integrated exactly under extraction alone
    (``x' = k·(1 − x/xmax)``), so that long steps approach xmax without overshoot.

    ``static_drive``: ``(s_neg, s_pos)`` as Python numbers where they are known at trace
    time (0 or 1; None: traced), so that the step evaluates only the branches it takes.
    ``exact_injection``: (iv) the re-injection solved exactly for the step
    (:func:`_injection_exposure`; the array-scale integrator), not frozen.
    """
    dl = _double_layer(film, st, s_neg, s_pos, h, static_drive)
    return _reservoirs(film, st, dl, h, k_e, k_inj, remanent, exact_injection)


# ----------------------------------------------------------------------------- device
#: Default step budget of one constant-drive phase (:attr:`MagnetoIonicSynapse.max_steps`):
#: a phase of up to ``(max_steps − ramp)·max_step`` seconds (about 4000 s at the targets'
#: 0.25 s, 16000 s at the array presets' 1 s) takes exactly the steps of the unbounded
#: schedule; a longer one takes ``max_steps`` steps.
DEFAULT_MAX_STEPS = 2**14

#: The array-scale integrator (``integrator="fast"``): the first steps of every pulse phase
#: of an update, as fractions of the double layer's time constant τE (each cut to what
#: remains of the phase; together 3.5·τE, the double layer's transient and the fast
#: back-injection that follows it) ...
FAST_RAMP = (0.5, 1.0, 2.0)
#: ... and the number of equal steps that integrate the rest of the phase.
FAST_TAIL_STEPS = 2
#: Gates (1: potentiation, 0: 0 V, −1: depression) whose tail steps take a Heun corrector.
FAST_CORRECTED = (1, 0, -1)
#: The largest pulse count per cell and train that the whole-train integrator takes: the range
#: over which its error is measured and stated (``tests/test_family_speed.py``).  An update
#: with a larger count anywhere runs the step-by-step integration: with a fixed number of
#: steps per phase the error grows with the train (at 1000–3000 pulses 3–20 % of the change).
FAST_MAX_COUNT = 64


class MagnetoIonicSynapse(AbstractDevice):
    """An electrolyte-gated nitride (CoN, CoFeN) synapse read through a transducer.

    The weight is the film's magnetisation: the saturation magnetisation ``M_S = M_sat·x``
    (``field="saturating"``: read in a saturating field, as the CoN paper measures) or the
    remanent magnetisation at zero field (``field="remanent"``, the CoFeN paper):
    ``M_R = M_sat·(q·x_c + η·(x − x_c))``, where ``x_c`` is what is left of the layer formed
    under the conditioning field (aligned to the remanence ratio ``q``) and everything grown
    at zero field aligns by exchange coupling with efficiency η (the paper's ΔM_R/ΔM_S).
    The planar migration front makes recovery remove the newest layer first, so a
    decrease removes moment at efficiency η while ``x > x_c`` and at ``q`` below.

    The conductance a crossbar sees is the read element's: the transducer's conductance
    ``G_T(M)`` on its nominal window ``(G_off, G_on) = transducer.conductance_range``,
    mapped linearly onto each cell's window ``[g_min, g_max]`` and clipped to it:
    ``G = g_min + (G_T(M) − G_off)/(G_on − G_off)·(g_max − g_min)``; a stuck element reads
    its bound.

    The device contract (:class:`~synaptax.devices.core.contract.AbstractDevice`): ``init``,
    ``apply_pulses``, ``evolve``, ``conductance``, ``read``, ``read_noise_std`` are the
    shared ones; this family adds :meth:`advance` (a constant gate for a time),
    :meth:`pulses` (gate pulses without the rest), :meth:`magnetisation`,
    :meth:`saturation_magnetisation`, :meth:`remove_field` and :meth:`with_pulse_protocol`.

    Args / attributes:
        film: :class:`NitrideFilm`.
        train: :class:`PulseTrain` — what one update pulse is.
        transducer: :class:`~synaptax.devices.core.readout.AbstractTransducer` (M → G).
        variability: :class:`MagnetoIonicVariability`: ``d2d_rate`` — relative spread of
            the rates (extraction and re-injection together), ``d2d_asymmetry`` — spread
            of β (``k_E·(1+β)``, ``k_inj·(1−β)``), ``d2d_capacity`` — relative spread of
            xmax, ``c2c_rate`` — relative rate noise per cell per train, ``d2d_bounds`` —
            relative spread of the read element's window, ``stuck_min``/``stuck_max`` —
            read elements stuck at ``g_min``/``g_max``, ``read_noise`` — relative read noise.
        energy: :class:`GateEnergy`.
        field: ``"saturating"`` or ``"remanent"`` (static).
        remanence_ratio: q = M_R/M_S when the conditioning field is removed, in [0, 1].
        exchange_efficiency: η in [0, 1] (remanent mode).
        conditioned_fraction: x_c of a freshly initialised remanent cell (the conditioning
            the preset describes), in [0, 1].
        max_step: longest integration step [s] (> 0; 0.25 s keeps the targets within
            1 % of a 1 ms-step solution).
        first_step: first step of every constant-drive phase, as a fraction of τE (> 0);
            later steps double up to ``max_step``.
        max_steps: step budget of one constant-drive phase (static int ≥ 1, default
            :data:`DEFAULT_MAX_STEPS`): a phase whose doubling schedule would need more
            steps takes exactly ``max_steps``, the step grown to ``remaining/(steps left)``
            once the budget would be exceeded (exponential Euler is stable for any step), so
            every operation returns in bounded time for any finite duration.  The pulse
            phases of an update share one such budget (each phase at least one step), the
            train's rest has its own; a train longer than ``max_steps`` periods is
            integrated as ``max_steps`` groups of ``g`` whole periods (``g·width`` at the
            gate, then ``g·(period − width)`` at 0 V).  The default changes no step of
            phases up to about 4000 s at ``max_step = 0.25`` s (or trains of up to a few
            hundred periods).
        integrator: ``"fast"`` (default) — an update of back-to-back pulses (duty cycle 1)
            is integrated as whole pulse trains, a fixed number of steps per phase
            (:data:`FAST_RAMP`, :data:`FAST_TAIL_STEPS`; ``max_step``, ``first_step`` and
            ``max_steps`` do not apply to it) when no count exceeds
            :data:`FAST_MAX_COUNT` (else step by step); ``"reference"`` — the step-by-step
            integration of every phase (static).  ``evolve``, ``advance`` and trains of duty
            cycle below 1 are step by step in both.
    """

    film: NitrideFilm = NitrideFilm()
    train: PulseTrain = PulseTrain()
    transducer: AbstractTransducer = LinearTransducer()
    variability: MagnetoIonicVariability = MagnetoIonicVariability()
    energy: GateEnergy = GateEnergy()
    field: Literal["saturating", "remanent"] = eqx.field(static=True, default="saturating")
    remanence_ratio: float = 0.8
    exchange_efficiency: float = 1.0
    conditioned_fraction: float = 0.0
    max_step: float = 0.25
    first_step: float = 0.125
    max_steps: int = eqx.field(static=True, default=DEFAULT_MAX_STEPS)
    integrator: Literal["fast", "reference"] = eqx.field(static=True, default="fast")

    def __check_init__(self):
        if self.integrator not in ("fast", "reference"):
            raise ValueError(f"integrator must be 'fast' or 'reference', got {self.integrator!r}")
        if self.field not in ("saturating", "remanent"):
            raise ValueError(f"field must be 'saturating' or 'remanent', got {self.field!r}")
        check_probability("remanence_ratio", self.remanence_ratio)
        check_probability("exchange_efficiency", self.exchange_efficiency)
        check_probability("conditioned_fraction", self.conditioned_fraction)
        check_positive("max_step", self.max_step)
        check_positive("first_step", self.first_step)
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, (int, np.integer)) or self.max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {self.max_steps!r}")
        if not isinstance(self.variability, MagnetoIonicVariability):
            raise TypeError(f"variability must be a MagnetoIonicVariability, got {type(self.variability).__name__}")

    # ------------------------------------------------------------------ readout
    def magnetisation(self, state: MagnetoIonicState) -> Array:
        """Magnetisation the weight is read from [emu cm⁻³] (×10³ for A m⁻¹), shape ``S``:
        ``M_S`` in saturating mode, ``M_R`` in remanent mode."""
        x = state.ferromagnetic_fraction
        m_sat = self.film.saturation_magnetisation
        if self.field == "saturating":
            return m_sat * x
        xc = jnp.minimum(state.conditioned, x)
        return m_sat * (self.remanence_ratio * xc + self.exchange_efficiency * (x - xc))

    def saturation_magnetisation(self, state: MagnetoIonicState) -> Array:
        """``M_S = M_sat·x`` [emu cm⁻³], shape ``S``, whatever the field mode."""
        return self.film.saturation_magnetisation * state.ferromagnetic_fraction

    def _read_element(self, state: MagnetoIonicState) -> Array:
        """Conductance [S] of each cell's read element at the state's magnetisation (see the
        class docstring): the transducer's nominal conductance mapped onto the cell's window,
        clipped to it (a post-stimulated rise that carries ``M`` a little above ``M_ref``
        shows in :meth:`magnetisation`, not in the conductance); stuck elements read their
        bound."""
        lo, hi = self.transducer.conductance_range
        fraction = (self.transducer.conductance(self.magnetisation(state)) - lo) / (hi - lo)
        g = jnp.clip(state.g_min + fraction * (state.g_max - state.g_min), state.g_min, state.g_max)
        return jnp.where(state.stuck == STUCK_MIN, state.g_min, jnp.where(state.stuck == STUCK_MAX, state.g_max, g))

    def _refresh(self, state: MagnetoIonicState) -> MagnetoIonicState:
        """``state`` with its ``conductance`` field recomputed (every operation ends here)."""
        return dataclasses.replace(state, conductance=self._read_element(state))

    @property
    def conductance_range(self) -> tuple[ArrayLike, ArrayLike]:
        """The transducer's nominal window ``(G_off, G_on)`` [S]."""
        return self.transducer.conductance_range

    # ------------------------------------------------------------------ contract hooks
    def _init(self, cells: CellSample, *, key: PRNGKeyArray, conductance: Array | None) -> MagnetoIonicState:
        """Relaxed cells (no field, no pile-up, all extracted N in the bulk electrolyte).

        ``conductance`` [S] (shape ``S``; clipped to each cell's window) sets the
        magnetisation through the cell's window and the transducer's inverse; by default a
        saturating-mode cell is as grown (x = 0) and a remanent-mode cell has just been
        conditioned (x = x_c = ``conditioned_fraction``).  The film's device-to-device
        samples come from ``key`` (:meth:`MagnetoIonicVariability.sample_film`), the read
        element's window and faults from ``cells``.
        """
        shape, dtype = cells.g_min.shape, cells.g_min.dtype
        rate_scale, inj_scale, cap_scale = self.variability.sample_film(key, shape, dtype)
        xmax = jnp.minimum(jnp.broadcast_to(self.film.capacity, shape) * cap_scale, 1.0 - self.film.a_max)
        m_sat = self.film.saturation_magnetisation
        x0 = jnp.minimum(jnp.full(shape, self.conditioned_fraction, dtype), xmax)
        if conductance is None:
            x = x0 if self.field == "remanent" else jnp.zeros(shape, dtype)
            xc = x
        else:
            lo, hi = self.transducer.conductance_range
            g = jnp.clip(conductance, cells.g_min, cells.g_max)
            nominal = lo + (g - cells.g_min) / (cells.g_max - cells.g_min) * (hi - lo)
            m = jnp.broadcast_to(self.transducer.magnetisation(nominal), shape) / m_sat
            if self.field == "saturating":
                x = jnp.clip(m, 0.0, xmax)
                xc = x
            else:
                q, eta = self.remanence_ratio, self.exchange_efficiency
                below = m <= q * x0
                xc = jnp.where(below, m / jnp.maximum(q, 1e-12), x0)
                x = jnp.where(below, xc, x0 + (m - q * x0) / jnp.maximum(eta, 1e-12))
                x = jnp.clip(x, 0.0, xmax)
                xc = jnp.minimum(xc, x)
        zeros = jnp.zeros(shape, dtype)
        state = MagnetoIonicState(zeros, zeros, zeros, zeros, x.astype(dtype), xc.astype(dtype), rate_scale,
                                  inj_scale, cap_scale, zeros, cells.g_min, cells.g_max, cells.stuck)
        return self._refresh(state)

    def _apply_counts(self, state: MagnetoIonicState, up: Array, down: Array, *,
                      key: PRNGKeyArray) -> MagnetoIonicState:
        """Potentiation train of ``up`` update pulses, depression train of ``down``, then the
        train's ``rest`` (each update pulse a burst of ``train.burst`` gate pulses); the
        cycle-to-cycle rate noise is one draw per cell per train from ``key``."""
        return _apply_counts_jit(self, state, up, down, key)

    def _evolve(self, state: MagnetoIonicState, duration: Array) -> MagnetoIonicState:
        """``duration`` [s] at 0 V (recovery, redistribution, post-stimulated rise)."""
        return _advance_jit(self, state, 0.0, duration, 1.0)

    # ------------------------------------------------------------------ family operations
    def advance(self, state: MagnetoIonicState, drive: ArrayLike, duration: ArrayLike, *,
                rate_multiplier: ArrayLike = 1.0) -> MagnetoIonicState:
        """Hold each cell at a constant gate for ``duration`` seconds.

        Args:
            state: :class:`MagnetoIonicState` of shape ``S``.
            drive: per cell (broadcastable to ``S``): 1 — the train's potentiation amplitude,
                −1 — its depression amplitude (positive gate), 0 — 0 V; values in between
                scale the double layer's target charge.
            duration: time [s], scalar or broadcastable to ``S``; finite and ≥ 0 (checked
                when concrete).  Under a trace a non-finite duration makes those cells' film
                variables NaN (never an endless loop), a negative one is 0.
            rate_multiplier: per cell (broadcastable to ``S``, ≥ 0): scales the extraction and
                re-injection rates.

        Returns:
            The new state (shape ``S``).  Steps start at ``first_step·τE`` (the double
            layer's transient decides when recovery is blocked) and double up to
            ``max_step``; at most ``max_steps`` steps (a while loop: ``duration`` may be
            traced).
        """
        check_duration(duration)
        return _advance_jit(self, state, drive, duration, rate_multiplier)

    def pulses(self, state: MagnetoIonicState, count: ArrayLike, *, direction: int = 1,
               rate_multiplier: ArrayLike = 1.0) -> MagnetoIonicState:
        """Apply ``count`` gate pulses of the train per cell, period by period, with no rest.

        Args:
            state: :class:`MagnetoIonicState` of shape ``S``.
            count: gate pulses per cell (broadcastable to ``S``, ≥ 0; a fractional count
                shortens the last pulse).  The array takes ``ceil(max(count))`` periods
                [s: × ``train.period``]; cells with fewer pulses sit at 0 V meanwhile.
            direction: 1 — potentiation (the train's negative amplitude), −1 — depression
                (static Python int).
            rate_multiplier: per cell (broadcastable to ``S``, ≥ 0), scales the rates.

        Returns:
            The new state (shape ``S``); see :meth:`apply_pulses` for update pulses (bursts,
            rate noise, the train's rest).
        """
        if direction not in (1, -1):
            raise ValueError(f"direction must be 1 or -1, got {direction!r}")
        return _pulses_jit(self, state, count, direction, rate_multiplier)

    def with_pulse_protocol(self, *, gate_voltage: float | None = None, pulse_frequency: float | None = None,
                            duty_cycle: float | None = None, burst: int | None = None) -> "MagnetoIonicSynapse":
        """A copy whose pulse train has another gate voltage [V] (< 0; a positive-gate
        depression pulse takes its magnitude), frequency [Hz] (> 0), duty cycle (in (0, 1];
        width = duty/frequency) or burst (gate pulses per update pulse); None keeps the
        present value.  What ``synaptax train --gate-voltage/--pulse-frequency/--duty-cycle
        /--burst`` use (concrete values only)."""
        t = self.train
        freq = t.frequency if pulse_frequency is None else pulse_frequency
        duty = t.duty_cycle if duty_cycle is None else duty_cycle
        check_positive("pulse_frequency", freq)
        _check_fraction("duty_cycle", duty, open_low=True)
        period = 1.0 / float(freq)
        changes = {"width": period * float(duty), "period": period}
        if gate_voltage is not None:
            check_finite("gate_voltage", gate_voltage)
            if float(gate_voltage) >= 0:
                raise ValueError(f"gate_voltage must be negative (a negative gate extracts N³⁻), got {gate_voltage!r}")
            changes.update(amplitude=float(gate_voltage), depression_amplitude=abs(float(gate_voltage)))
        if burst is not None:
            changes["burst"] = burst
        return eqx.tree_at(lambda d: d.train, self, dataclasses.replace(t, **changes))

    def remove_field(self, state: MagnetoIonicState, *,
                     reader: "MagnetoIonicSynapse | None" = None) -> MagnetoIonicState:
        """The conditioning field is switched off: the layer grown so far becomes the
        conditioned layer (``x_c = x``, shape ``S``).

        ``reader``: the device that reads the state from now on (typically a
        ``field="remanent"`` copy of this one); its readout refreshes ``state.conductance``.
        This device by default."""
        reader = self if reader is None else reader
        return reader._refresh(dataclasses.replace(state, conditioned=state.ferromagnetic_fraction))

    # ------------------------------------------------------------------ energy, steps
    def pulse_energy(self, state: MagnetoIonicState) -> PulseEnergy:
        """Gate energy [J] of one potentiation and one depression update pulse per cell
        (each of shape ``S``): ``train.burst`` gate pulses of :meth:`GateEnergy.pulse`; a
        ``"rest"`` depression pulse costs nothing."""
        shape, dtype = state.conductance.shape, state.conductance.dtype
        n = self.train.burst
        up = jnp.full(shape, n * self.energy.pulse(self.train.amplitude, self.train.width), dtype)
        if self.train.depression == "rest":
            down = jnp.zeros(shape, dtype)
        else:
            down = jnp.full(shape, n * self.energy.pulse(self.train.depression_amplitude, self.train.width), dtype)
        return PulseEnergy(up, down)

    @property
    def pulse_time(self) -> float:
        """Time [s] of one update pulse: a burst of ``train.burst`` gate pulses at the
        train's period."""
        return self.train.burst * self.train.period

    @property
    def nominal_step(self) -> ArrayLike:
        """Conductance change [S] that ``apply_pulses(1)`` (one potentiation update pulse,
        its period and the train's ``rest``) makes on a relaxed nominal cell at mid-range:
        what the crossbar's weight mapping divides by.

        Computed by the model's own one-pulse simulation (no spreads, no read noise), with
        every parameter as an array so that one compiled program serves every parameter
        set.  A Python float when the parameters are concrete (also inside an outer
        ``jax.jit``: evaluated at trace time, nothing cached); a traced scalar when they are
        traced (``jax.vmap`` over a stack of models, a model passed into ``jax.jit``).
        A longer ``rest`` calibrates the step to what is retained rather than to the
        transient change."""
        if is_concrete(self):
            # concrete parameters: evaluated now, even inside an outer trace (a training step
            # then divides by a constant instead of carrying the one-pulse simulation)
            with jax.ensure_compile_time_eval():
                return float(_nominal_step_jit(_with_array_leaves(self)))
        return _nominal_step_jit(_with_array_leaves(self))

    # ------------------------------------------------------------------ integrators
    def _rates(self, state, multiplier=1.0):
        k_e = self.film.extraction_rate(self.train.amplitude) * state.rate_scale * multiplier
        k_inj = (self.film.injection_ratio * self.film.extraction_rate(self.train.depression_amplitude)
                 * state.injection_scale * multiplier)
        return k_e, k_inj

    def _advance(self, state, drive, duration, rate_multiplier, budget=None):
        """:meth:`advance` without the check, the jit and the conductance refresh.

        The step schedule: ``h`` starts at ``min(first_step·τE, max_step)`` and doubles up
        to ``max_step`` (the last step cut to what remains).  With a budget of ``budget``
        iterations (``max_steps`` by default; may be traced, ≥ 1), a cell keeps that
        schedule while what remains fits into the steps left at ``max_step`` (not counting
        the steps still ramping up); once it would not, its step is
        ``max(h, remaining/(steps left))``, so the last iteration ends every cell's phase.
        Cells with a non-finite duration end with NaN film variables; a negative duration
        is 0.  A drive known at trace time (a Python number: ``evolve``'s 0 V) selects the
        step's branches then (:func:`_static_drive`); the values are the same."""
        static = _static_drive(drive)
        drive = jnp.asarray(drive)
        dtype = state.edl.dtype
        shape = state.edl.shape
        duration = jnp.broadcast_to(jnp.asarray(duration, dtype), shape)
        finite = jnp.isfinite(duration)
        remaining0 = jnp.where(finite, jnp.maximum(duration, 0.0), 0.0)
        s_neg = jnp.broadcast_to(jnp.clip(drive, 0.0, 1.0), shape).astype(dtype)
        s_pos = jnp.broadcast_to(jnp.clip(-drive, 0.0, 1.0), shape).astype(dtype)
        k_e, k_inj = self._rates(state, rate_multiplier)
        h0 = jnp.broadcast_to(jnp.minimum(self.first_step * jnp.asarray(self.film.time_constant, dtype), self.max_step),
                              shape)
        # steps still doubling at the start (a conservative count: never too few)
        ramp0 = jnp.where(h0 < self.max_step, jnp.ceil(jnp.log2(self.max_step / h0)), 0.0)
        budget = self.max_steps if budget is None else budget
        remanent = self.field == "remanent"

        def cond(carry):
            _, remaining, _, i = carry
            return (i < budget) & jnp.any(remaining > 0)

        def body(carry):
            st, remaining, h_try, i = carry
            h = jnp.minimum(h_try, remaining)
            left = (budget - i).astype(dtype)
            fits = remaining <= (left - jnp.maximum(ramp0 - i.astype(dtype), 0.0)) * self.max_step
            h = jnp.where(fits, h, jnp.maximum(h, remaining / left))
            st = _step(self.film, st, s_neg, s_pos, h, k_e, k_inj, remanent, static)
            return st, remaining - h, jnp.minimum(2.0 * h_try, self.max_step), i + 1

        st, _, _, _ = jax.lax.while_loop(cond, body, (state, remaining0, h0, jnp.zeros((), jnp.int32)))
        return _poison(st, ~finite)

    def _trains(self, state, up, down, m_up, m_down, rest):
        """Potentiation train of ``up`` pulses per cell, depression train of ``down``, then
        ``rest`` seconds at 0 V, as one loop over constant-drive phases (one copy of the
        integrator in the compiled program).

        A train of ``n`` pulses per cell takes ``K = ceil(max n)`` periods of the array:
        period ``k`` is ``width·clip(n − k, 0, 1)`` at the train's gate (a fractional count
        shortens the last pulse) and the rest of the period at 0 V.  Back-to-back pulses
        (duty cycle 1) are one phase of ``n·width`` at the gate and ``K·period − n·width``
        at 0 V.  A train of more than ``max_steps`` periods is integrated as at most
        ``max_steps`` groups of ``g = ceil(K/max_steps)`` periods each (the group's pulses
        merged into one phase at the gate).  The pulse phases of both trains share a
        budget of ``max_steps`` steps (each at least one step: at most
        ``4·max_steps`` in all) and the rest has its own, so the whole update
        takes at most ``5·max_steps`` steps.  Cells with a non-finite count end with NaN
        film variables.
        """
        train = self.train
        dtype = state.edl.dtype
        duty_one = train.width >= train.period
        concrete_duty = isinstance(duty_one, (bool, np.bool_))

        def pick(merged, per_period):
            if concrete_duty:
                return merged if duty_one else per_period
            return jnp.where(duty_one, merged, per_period)

        down_drive = 0.0 if train.depression == "rest" else -1.0
        cap = self.max_steps

        def layout(n):
            """Train length K [pulses], pulses per simulated period g, phases of the train."""
            k = jnp.ceil(jnp.max(n)) if n.size else jnp.zeros((), dtype)
            k = jnp.where(jnp.isfinite(k), jnp.maximum(k, 0.0), 0.0)
            g = jnp.maximum(1.0, jnp.ceil(k / cap))
            periods = jnp.ceil(k / g).astype(jnp.int32)
            return k, g, pick(jnp.minimum(periods, 1), periods)

        k_up, g_up, p_up = layout(up)
        k_down, g_down, p_down = layout(down)
        n_phases = 2 * (p_up + p_down) + 1
        phase_budget = jnp.maximum(cap // jnp.maximum(n_phases - 1, 1), 1)

        def body(p, st):
            first = p < 2 * p_up
            q = jnp.where(first, p, p - 2 * p_up)
            count = jnp.where(first, up, down)
            group = jnp.where(first, g_up, g_down)
            on_merged = count * train.width
            off_merged = jnp.where(first, k_up, k_down) * train.period - on_merged
            on_period = train.width * jnp.clip(count - (q // 2).astype(dtype) * group, 0.0, group)
            off_period = group * train.period - on_period
            on, off = pick(on_merged, on_period), pick(off_merged, off_period)
            is_on = q % 2 == 0
            last = p == n_phases - 1
            duration = jnp.where(last, jnp.asarray(rest, dtype), jnp.where(is_on, on, off))
            drive = jnp.where(is_on & ~last, jnp.where(first, 1.0, down_drive), 0.0).astype(dtype)
            multiplier = jnp.where(last, 1.0, jnp.where(first, m_up, m_down))
            return self._advance(st, drive, duration, multiplier, jnp.where(last, cap, phase_budget))

        st = jax.lax.fori_loop(0, n_phases, body, state)
        return _poison(st, ~(jnp.isfinite(up) & jnp.isfinite(down)))

    def _trains_fast(self, state, up, down, m_up, m_down, k_up, k_down):
        """The pulse phases of :meth:`_trains` for back-to-back pulses (duty cycle 1), each
        integrated as a whole (``integrator="fast"``): a fixed number of steps per phase,
        whatever the counts (see :data:`FAST_RAMP`).

        Per cell: the potentiation gate for ``up·width`` [s], 0 V for ``k_up·period − up·width``,
        the depression gate (or 0 V for ``depression="rest"``) for ``down·width``, 0 V for
        ``k_down·period − down·width`` (``k_up``, ``k_down``: the array's train lengths in
        pulses).  Each phase: steps of ``FAST_RAMP·τE`` (each cut to what remains of the
        phase: the double layer's transient and the fast back-injection that follows it),
        then what remains in :data:`FAST_TAIL_STEPS` equal steps; the step is :func:`_step`
        with the re-injection solved exactly (:func:`_injection_exposure`), its gate known at
        trace time; the tail steps with Heun's corrector (:data:`FAST_CORRECTED`).  The error
        against the step-by-step reference is stated in ``magnetoionic/README.md`` ("Speed at
        array scale") and checked by ``tests/test_family_speed.py``.
        """
        train = self.train
        dtype = state.edl.dtype
        tau = jnp.asarray(self.film.time_constant, dtype)
        remanent = self.field == "remanent"
        rest_depression = train.depression == "rest"
        ramp = jnp.asarray(FAST_RAMP, dtype)

        def phase(st, duration, gate, multiplier):
            static = {1: (1.0, 0.0), -1: (0.0, 1.0), 0: (0.0, 0.0)}[gate]
            s_neg = jnp.full_like(duration, static[0])
            s_pos = jnp.full_like(duration, static[1])
            k_e, k_inj = self._rates(st, multiplier)

            def step(st, h, corrected):
                dl = _double_layer(self.film, st, s_neg, s_pos, h, static)
                new = _reservoirs(self.film, st, dl, h, k_e, k_inj, remanent, exact_injection=True)
                if not corrected:
                    return new
                end = (new.surface, new.interface, new.electrolyte)
                return _reservoirs(self.film, st, dl, h, k_e, k_inj, remanent, exact_injection=True, at=end)

            def ramp_step(i, carry):
                st, remaining = carry
                h = jnp.minimum(ramp[i] * tau, remaining)
                return step(st, h, False), remaining - h

            # rolled loops: one copy of each step in the compiled program per phase
            st, remaining = jax.lax.fori_loop(0, len(FAST_RAMP), ramp_step, (st, duration))
            tail = remaining / FAST_TAIL_STEPS
            return jax.lax.fori_loop(0, FAST_TAIL_STEPS, lambda _, st: step(st, tail, gate in FAST_CORRECTED), st)

        on_up = up * train.width
        on_down = down * train.width
        st = phase(state, on_up, 1, m_up)
        st = phase(st, k_up * train.period - on_up, 0, m_up)
        st = phase(st, on_down, 0 if rest_depression else -1, m_down)
        st = phase(st, k_down * train.period - on_down, 0, m_down)
        return st


def _train_length(n, dtype):
    """``K = ceil(max n)`` [pulses] of a train of ``n`` pulses per cell (0 for none or no
    finite count): how long the whole array takes."""
    k = jnp.ceil(jnp.max(n)) if n.size else jnp.zeros((), dtype)
    return jnp.where(jnp.isfinite(k), jnp.maximum(k, 0.0), 0.0).astype(dtype)


#: Cells per block of the array-scale integrators: every operation on a state is run block by
#: block (``jax.lax.map``), so that the step's intermediate arrays stay in the CPU's cache
#: (about 2× faster at 1024² cells than whole-array operations; per cell the same values).
BLOCK_CELLS = 16384


def _by_blocks(fn, *cells):
    """``fn(*cells)`` over blocks of :data:`BLOCK_CELLS` cells (:func:`~synaptax.devices.core.blocks.by_blocks`;
    ``fn`` acts cell by cell)."""
    return by_blocks(fn, *cells, block=BLOCK_CELLS)


def _static_drive(drive):
    """``(s_neg, s_pos)`` as Python numbers when ``drive`` is a Python (or NumPy) number of
    −1, 0 or 1 (known at trace time), else ``(None, None)``."""
    if isinstance(drive, (bool, np.bool_)) or not isinstance(drive, (int, float, np.integer, np.floating)):
        return (None, None)
    d = float(drive)
    if d not in (-1.0, 0.0, 1.0):
        return (None, None)
    return (max(d, 0.0), max(-d, 0.0))


def _poison(state: MagnetoIonicState, bad: Array) -> MagnetoIonicState:
    """``state`` with the film variables of the cells where ``bad`` set to NaN."""
    def nan(a):
        return jnp.where(bad, jnp.nan, a)

    return dataclasses.replace(state, edl=nan(state.edl), edl_reverse=nan(state.edl_reverse),
                               surface=nan(state.surface), interface=nan(state.interface),
                               electrolyte=nan(state.electrolyte), conditioned=nan(state.conditioned))


def _with_array_leaves(tree):
    """``tree`` with every Python number leaf as an array of the default float dtype (so
    that a jitted function traces it instead of baking it in)."""
    dtype = jnp.result_type(float)

    def convert(v):
        if isinstance(v, (float, int)) and not isinstance(v, bool):
            return jnp.asarray(v, dtype)
        return v

    return jax.tree_util.tree_map(convert, tree)


# ----------------------------------------------------------------------------- jitted kernels
@eqx.filter_jit
def _advance_jit(device: MagnetoIonicSynapse, state, drive, duration, rate_multiplier):
    """:meth:`MagnetoIonicSynapse.advance` (and ``evolve`` at drive 0), compiled; block by
    block over the cells (:func:`_by_blocks`)."""
    shape, dtype = state.edl.shape, state.edl.dtype
    cells = {"duration": jnp.broadcast_to(jnp.asarray(duration, dtype), shape),
             "multiplier": jnp.broadcast_to(jnp.asarray(rate_multiplier, dtype), shape)}
    if _static_drive(drive) == (None, None):
        cells["drive"] = jnp.broadcast_to(jnp.asarray(drive, dtype), shape)

    def run(st, c):
        return device._advance(st, c.get("drive", drive), c["duration"], c["multiplier"])

    return device._refresh(_by_blocks(run, state, cells))


def _update(device: MagnetoIonicSynapse, state, up, down, m_up, m_down, rest):
    """Potentiation train, depression train and ``rest`` seconds at 0 V (the film variables;
    no refresh): the array-scale integrator for back-to-back pulses when
    ``device.integrator == "fast"`` and no count exceeds :data:`FAST_MAX_COUNT`, the
    step-by-step :meth:`MagnetoIonicSynapse._trains` otherwise (and for trains of duty cycle
    below 1).  Under ``vmap`` the ``lax.cond`` computes both."""
    if device.integrator == "reference":
        return device._trains(state, up, down, m_up, m_down, rest)
    shape, dtype = state.edl.shape, state.edl.dtype
    train = device.train

    def fast(state):
        k_up, k_down = _train_length(up, dtype), _train_length(down, dtype)
        cells = tuple(jnp.broadcast_to(jnp.asarray(v, dtype), shape)
                      for v in (jnp.maximum(up, 0.0), jnp.maximum(down, 0.0), m_up, m_down))
        st = _by_blocks(lambda s, c: device._trains_fast(s, *c, k_up, k_down), state, cells)
        if not (is_concrete(rest) and float(rest) == 0.0):
            st = _by_blocks(lambda s: device._advance(s, 0.0, jnp.asarray(rest, dtype), 1.0), st)
        return _poison(st, ~(jnp.isfinite(up) & jnp.isfinite(down)))

    def reference(st):
        return device._trains(st, up, down, m_up, m_down, rest)

    # the whole-train integrator only where its error is stated (FAST_MAX_COUNT); a NaN
    # count fails the test and takes the reference, which poisons its cells
    def most(n):
        n = jnp.asarray(n, dtype)
        return jnp.max(n) if n.size else jnp.zeros((), dtype)

    longest = jnp.maximum(most(up), most(down))
    use_fast = longest <= FAST_MAX_COUNT
    duty_one = train.width >= train.period
    if isinstance(duty_one, (bool, np.bool_)):
        if not duty_one:
            return reference(state)
    else:
        use_fast = use_fast & duty_one
    return jax.lax.cond(use_fast, fast, reference, state)


@eqx.filter_jit
def _pulses_jit(device: MagnetoIonicSynapse, state, count, direction, rate_multiplier):
    """:meth:`MagnetoIonicSynapse.pulses`, compiled (``direction`` static)."""
    dtype = state.edl.dtype
    count = jnp.broadcast_to(jnp.asarray(count, dtype), state.edl.shape)
    zero = jnp.zeros_like(count)
    up, down = (count, zero) if direction > 0 else (zero, count)
    multiplier = jnp.broadcast_to(jnp.asarray(rate_multiplier, dtype), state.edl.shape)
    return device._refresh(_update(device, state, up, down, multiplier, multiplier, 0.0))


@eqx.filter_jit
def _apply_counts_jit(device: MagnetoIonicSynapse, state, up, down, key):
    """The ``apply_pulses`` hook, compiled: bursts, rate noise, trains and the rest."""
    shape, dtype = state.edl.shape, state.edl.dtype
    up = up * device.train.burst
    down = down * device.train.burst
    c2c = device.variability.c2c_rate
    if is_concrete(c2c) and np.all(np.asarray(c2c) == 0):
        m_up = m_down = jnp.ones(shape, dtype)
    else:
        k_up, k_down = jax.random.split(key)
        m_up = jnp.maximum(1.0 + c2c * fast_random.normal(k_up, shape, dtype), 0.0)
        m_down = jnp.maximum(1.0 + c2c * fast_random.normal(k_down, shape, dtype), 0.0)
    return device._refresh(_update(device, state, up, down, m_up, m_down, device.train.rest))


@eqx.filter_jit
def _nominal_step_jit(device: MagnetoIonicSynapse):
    """One update pulse on a relaxed nominal cell at mid-range: ``|ΔG|`` [S], a scalar."""
    nominal = eqx.tree_at(lambda d: d.variability, device, MagnetoIonicVariability())
    g_lo, g_hi = nominal.conductance_range
    key = jax.random.key(0)
    state = nominal.init((1,), key=key, conductance=0.5 * (g_lo + g_hi))
    after = nominal.apply_pulses(state, jnp.ones((1,), state.conductance.dtype), key=key)
    return jnp.abs(after.conductance - state.conductance)[0]


def emu_per_cm3_to_a_per_m(m: ArrayLike) -> Array:
    """Magnetisation in emu cm⁻³ → A m⁻¹ (× 10³), any shape."""
    return jnp.asarray(m) * EMU_PER_CM3_IN_A_PER_M


__all__ = [
    "BLOCK_CELLS", "DEFAULT_MAX_STEPS", "EMU_PER_CM3_IN_A_PER_M", "FAST_MAX_COUNT", "FAST_RAMP", "FAST_TAIL_STEPS", "GateEnergy",
    "MagnetoIonicState", "MagnetoIonicSynapse", "MagnetoIonicVariability", "NitrideFilm", "PulseTrain",
    "emu_per_cm3_to_a_per_m",
]
