"""Presets of the nitrogen magneto-ionic synapses (CoN, CoFeN): plain factory functions.

Every number carries its provenance: [paper] stated in the source paper, [derived]
computed from tagged numbers, [fit] fitted by ``benchmarks/fit_magnetoionic.py`` (replace
when better data appear), [assumed] our choice where the papers give nothing (all readout
and array numbers: none of the papers builds a crossbar).

* CoN — Tan et al., Mater. Horiz. 10, 88 (2023): ``shared/papers/con-magnetoionics-
  frequency-post-stimulated-MaterHoriz2023.txt``.
* CoFeN — Martínez Armesto et al.: ``shared/papers/cofen-magnetoionics-field-free-
  remanence.txt``.
"""
from __future__ import annotations

import math

import numpy as np

from ..._checks import check_positive
from .model import (
    GateEnergy,
    MagnetoIonicSynapse,
    MagnetoIonicVariability,
    NitrideFilm,
    PulseTrain,
)
from ..core.readout import LinearTransducer

# ----------------------------------------------------------------------------- CoN
#: [fit] parameters of the CoN model, from ``benchmarks/fit_magnetoionic.py`` (its JSON
#: report ``benchmarks/fit_magnetoionic.json`` lists the loss terms).  Starting values were
#: device-physics.md §A's guesses; evolution-strategy refinements with the double layer's
#: field factor u^β (weights a3 = 2, a5 = 4, pile-up parameters free in the last round).
CON_FIT = {
    "tau_edl": 0.252565,
    "tau_exponent": 0.813115,
    "discharge_ratio": 1.0,
    "recovery_threshold": 0.362886,
    "saturation_exponent": 2.907793,
    "k_rec": 394.550816,
    "k_rec2": 0.003479,
    "k_red": 0.008341,
    "c_sat": 0.062276,
    "k_accum": 0.002133,
    "a_max": 0.070396,
    "a_block": 0.001981,
    "capacity_exponent": 0.100128,
}

#: Fixed CoN numbers (not fitted).
CON_FIXED = {
    "rate_ref": 0.8 / 1400.0,  # [paper] 0.8 emu cm⁻³ s⁻¹ at 200 nm, −25 V, over M_Co
    "thickness_ref": 200e-9,
    "voltage_ref": 25.0,  # [paper]
    "edl_thickness": 1e-9,  # [assumed] "less than 1 nm" (CoFeN paper)
    # [derived] 7.4-fold rate 200 nm → 5 nm [paper] with E = V/(t + d_EDL): β = ln 7.4 / ln(201/6)
    "field_exponent": math.log(7.4) / math.log(201.0 / 6.0),
    # [derived] the double layer's field factor u^β: the interfacial field ∝ its charge u, same β
    "edl_exponent": math.log(7.4) / math.log(201.0 / 6.0),
    "capacity_ref": 0.193,  # [paper] 248 emu cm⁻³ after 900 s at 200 nm (device-physics.md §A)
    "saturation_magnetisation": 1400.0,  # bulk Co, emu cm⁻³ (1.4 MA m⁻¹)
}


def con_film(thickness: float = 25e-9) -> NitrideFilm:
    """CoN film of ``thickness`` [m] (the paper: 5–200 nm) with the fitted parameters."""
    check_positive("thickness", thickness)
    return NitrideFilm(thickness=thickness, **CON_FIXED, **CON_FIT)


# ----------------------------------------------------------------------------- CoFeN
#: The CoFeN paper's Table 1 [paper]: conditioning time at −25 V [s] of each state, ΔM_S
#: under 10 kOe and ΔM_R at 0 Oe over 5.5 cycles after 3 min and after 1 h of relaxation
#: [emu cm⁻³], and η = ΔM_R/ΔM_S.
COFEN_TABLE = {
    "low": {"conditioning_s": 240.0, "delta_ms": 241.00, "delta_mr": {180.0: 98.10, 3600.0: 67.81},
            "eta": {180.0: 0.407, 3600.0: 0.281}},
    "mid": {"conditioning_s": 480.0, "delta_ms": 189.88, "delta_mr": {180.0: 139.65, 3600.0: 25.94},
            "eta": {180.0: 0.735, 3600.0: 0.137}},
    "high": {"conditioning_s": 960.0, "delta_ms": 285.31, "delta_mr": {180.0: 215.52, 3600.0: 137.41},
             "eta": {180.0: 0.755, 3600.0: 0.482}},
}


def exchange_efficiency(conditioning_time: float, relaxation_time: float) -> float:
    """η = ΔM_R/ΔM_S of a CoFeN film conditioned for ``conditioning_time`` [s] at −25 V and
    relaxed ``relaxation_time`` [s] at 0 V before the field was removed.

    The paper's table [paper] at 4/8/16 min and 3 min/1 h, interpolated piecewise-linearly
    in log(conditioning time) and log-linearly in relaxation time between 3 and 60 min
    [fit, device-physics.md §B]; clamped outside the measured ranges."""
    check_positive("conditioning_time", conditioning_time)
    check_positive("relaxation_time", relaxation_time)
    rows = [COFEN_TABLE[k] for k in ("low", "mid", "high")]
    log_tc = np.log([r["conditioning_s"] for r in rows])
    lt = np.clip(np.log(float(conditioning_time)), log_tc[0], log_tc[-1])
    eta_short = np.interp(lt, log_tc, [r["eta"][180.0] for r in rows])
    eta_long = np.interp(lt, log_tc, [r["eta"][3600.0] for r in rows])
    w = np.clip((np.log(float(relaxation_time)) - np.log(180.0)) / (np.log(3600.0) - np.log(180.0)), 0.0, 1.0)
    return float(eta_short + w * (eta_long - eta_short))


#: Electromagnet of the CoFeN paper's VSM at 10 kOe: 104 V × 6.5 A [paper].
ELECTROMAGNET_POWER = 104.0 * 6.5
#: The CoFeN paper's gated sample: 5 × 5 mm² [paper].
COFEN_SAMPLE_AREA = 25e-6
#: Remanence ratio M_R/M_S of the conditioned CoFe layer when the field is removed
#: [assumed: device-physics.md §B's 0.8; the paper shows loops, not the number].
COFEN_REMANENCE_RATIO = 0.8
#: The CoFeN paper's cycling at remanence: −25 V for 6 min [paper], then 0 V for 6 min
#: [assumed: "a periodicity of a few min"], 5.5 cycles (6 ON, 5 OFF segments) [paper].
COFEN_CYCLE_ON = 360.0
COFEN_CYCLE_OFF = 360.0
COFEN_CYCLE_COUNT = 5.5


#: [fit] CoFeN (50 nm Co₀.₃₅Fe₀.₆₅N) extraction rate, capacity, slow recovery and
#: redistribution, fitted by ``benchmarks/fit_magnetoionic.py --cofen`` to the magnetisation
#: after conditioning and 3 min of relaxation (Low ≈ 93, High ≈ 285 emu cm⁻³ [derived from
#: the paper's ΔM_S and its "factor ≈ 3.6" and "≈ 2" increases]), to ΔM_S over cycling
#: (Low 241, High 285, Mid 190 at lower weight [paper]) with targets B2–B4 as constraints;
#: everything else is the CoN set.
COFEN_FIT = {
    "rate_ref": 1.9648e-4,  # kE(50 nm) [s⁻¹]: 0.37 emu cm⁻³ s⁻¹ at −25 V
    "capacity_ref": 0.31935,  # xmax(50 nm)
    "k_rec2": 4.3465e-4,  # slow recovery from the bulk electrolyte [s⁻¹]
    "k_red": 0.12593,  # redistribution into the bulk electrolyte [s⁻¹]
}


def cofen_film() -> NitrideFilm:
    """50 nm Co₀.₃₅Fe₀.₆₅N film [paper] at −25 V.

    Re-uses the CoN model (device-physics.md §B) with the extraction rate and capacity at
    50 nm refitted (``COFEN_FIT`` [fit]: the paper's Low M state reaches ≈ 93 emu cm⁻³ after
    4 min and 3 min of relaxation, High M ≈ 285 after 16 min — from ΔM_S and the stated
    "factor ≈ 3.6" and "≈ 2" increases over cycling [derived]); CoN's thickness exponents
    [assumed]; saturation magnetisation of Fe₆₅Co₃₅, μ0·M_s ≈ 2.4 T → 1900 emu cm⁻³
    [pub, textbook Slater–Pauling value]."""
    params = dict(CON_FIXED, thickness_ref=50e-9, saturation_magnetisation=1900.0, **CON_FIT)
    params.update(COFEN_FIT)
    return NitrideFilm(thickness=50e-9, **params)


# ----------------------------------------------------------------------------- devices
#: Training pulse train of the CoN presets [assumed]: −25 V [paper] pulses of 1 s back to
#: back (duty cycle 1), depression by +25 V pulses of the same width.
CON_TRAIN = PulseTrain(amplitude=-25.0, width=1.0, period=1.0, rest=0.0, depression_amplitude=25.0)
#: Training pulse train of the CoFeN presets [assumed], as for CoN.
COFEN_TRAIN = PulseTrain(amplitude=-25.0, width=1.0, period=1.0, rest=0.0, depression_amplitude=25.0)
#: Integration steps of the array presets: at most 1 s, the first step of each phase τE/2.
#: Per update of ≤ 10 pulses this stays within 0.8 nominal steps (con-25nm, of changes up to
#: 85 steps), 0.09 (con-200nm) and 0.11 (CoFeN) of a 10 ms-step solution; the targets use
#: 0.25 s and τE/8
#: (tests/test_magnetoionic.py checks both against finer steps).
ARRAY_MAX_STEP = 1.0
ARRAY_FIRST_STEP = 0.5
#: x_c of the conditioned CoFeN states after 3 min and 1 h at 0 V [derived: the conditioning
#: protocol integrated by the model; tests/test_magnetoionic.py recomputes it].
COFEN_CONDITIONED = {"low": {180.0: 0.04240, 3600.0: 0.03988}, "mid": {180.0: 0.08002, 3600.0: 0.07152},
                     "high": {180.0: 0.14004, 3600.0: 0.11591}}
#: Read element of every preset [assumed]: 0.1–1 µS linear in M over the film's reachable
#: magnetisation (a Hall or MR read element; no paper builds one).
READOUT_G_OFF = 0.1e-6
READOUT_G_ON = 1.0e-6
#: Array spreads [assumed]: the papers report single films, no device-to-device data.  10 %
#: rate spread, 5 % capacity spread, 5 % rate noise per train, 1 % read noise.
ARRAY_VARIABILITY = MagnetoIonicVariability(d2d_rate=0.1, d2d_capacity=0.05, c2c_rate=0.05, read_noise=0.01)


def con(thickness: float = 25e-9, *, train: PulseTrain | None = None, transducer=None,
        variability: MagnetoIonicVariability | None = None, energy: GateEnergy | None = None) -> MagnetoIonicSynapse:
    """A CoN synapse of ``thickness`` [m] read at saturation (the paper's weight is M_S).

    Default readout: :class:`LinearTransducer` from ``READOUT_G_OFF`` at M = 0 to
    ``READOUT_G_ON`` at ``M_Co·xmax(t)``, the steady magnetisation of field-driven
    extraction (a post-stimulated rise can carry a cell a little above it)
    [assumed/derived]; default train :data:`CON_TRAIN`; array spreads
    :data:`ARRAY_VARIABILITY`; gate energy :class:`GateEnergy` (100 × 100 nm² cells).
    """
    film = con_film(thickness)
    if transducer is None:
        m_ref = float(film.saturation_magnetisation * film.capacity)
        transducer = LinearTransducer(g_off=READOUT_G_OFF, g_on=READOUT_G_ON, m_ref=m_ref)
    return MagnetoIonicSynapse(film=film, train=CON_TRAIN if train is None else train, transducer=transducer,
                               variability=ARRAY_VARIABILITY if variability is None else variability,
                               energy=GateEnergy() if energy is None else energy, max_step=ARRAY_MAX_STEP,
                               first_step=ARRAY_FIRST_STEP)


def con_25nm() -> MagnetoIonicSynapse:
    """CoN 25 nm (thin: fast, post-stimulated rise), −25 V training pulses [paper/assumed]."""
    return con(25e-9)


def con_200nm() -> MagnetoIonicSynapse:
    """CoN 200 nm (thick: slow, no post-stimulated rise), −25 V training pulses [paper/assumed]."""
    return con(200e-9)


def cofen(state: str = "high", relaxation: float = 180.0, *, train: PulseTrain | None = None, transducer=None,
          variability: MagnetoIonicVariability | None = None,
          energy: GateEnergy | None = None) -> MagnetoIonicSynapse:
    """A 50 nm CoFeN synapse read at remanence (no field), conditioned like the paper's
    ``state`` ("low", "mid", "high": 4, 8, 16 min at −25 V under 10 kOe) and relaxed
    ``relaxation`` [s] before the field was removed.

    η from :func:`exchange_efficiency`, q = :data:`COFEN_REMANENCE_RATIO`; the conditioned
    layer x_c from :data:`COFEN_CONDITIONED` (the conditioning protocol integrated by the
    model; a test recomputes it).  Readout linear from ``READOUT_G_OFF`` at M_R = 0 to
    ``READOUT_G_ON`` at the M_R of a film grown to its capacity at zero field,
    M_sat·(q·x_c + η·(xmax − x_c)).
    """
    if state not in COFEN_TABLE:
        raise ValueError(f"state must be one of {', '.join(COFEN_TABLE)}, got {state!r}")
    check_positive("relaxation", relaxation)
    film = cofen_film()
    eta = exchange_efficiency(COFEN_TABLE[state]["conditioning_s"], relaxation)
    xc = cofen_conditioned_fraction(state, relaxation)
    q = COFEN_REMANENCE_RATIO
    if transducer is None:
        m_ref = float(film.saturation_magnetisation * (q * xc + eta * (float(film.capacity) - xc)))
        transducer = LinearTransducer(g_off=READOUT_G_OFF, g_on=READOUT_G_ON, m_ref=m_ref)
    return MagnetoIonicSynapse(film=film, train=COFEN_TRAIN if train is None else train, transducer=transducer,
                               variability=ARRAY_VARIABILITY if variability is None else variability,
                               energy=GateEnergy() if energy is None else energy, field="remanent",
                               remanence_ratio=q, exchange_efficiency=eta, conditioned_fraction=xc,
                               max_step=ARRAY_MAX_STEP, first_step=ARRAY_FIRST_STEP)


def cofen_high_m() -> MagnetoIonicSynapse:
    """CoFeN 50 nm at remanence, "High M" (16 min conditioning, 3 min relaxation) [paper/assumed]."""
    return cofen("high", 180.0)


def cofen_low_m() -> MagnetoIonicSynapse:
    """CoFeN 50 nm at remanence, "Low M" (4 min conditioning, 3 min relaxation) [paper/assumed]."""
    return cofen("low", 180.0)


def simulate_conditioned_fraction(state: str, relaxation: float) -> float:
    """x after the paper's conditioning of ``state`` (−25 V under 10 kOe) and ``relaxation``
    [s] at 0 V, integrated by the model (what :data:`COFEN_CONDITIONED` tabulates)."""
    import jax

    from .protocols import dc, rest, run_protocol

    dev = MagnetoIonicSynapse(film=cofen_film())
    tr = run_protocol(dev, dev.init((1,), key=jax.random.key(0)),
                      [dc(COFEN_TABLE[state]["conditioning_s"]), rest(relaxation)], sample_interval=10.0)
    return float(tr.state.ferromagnetic_fraction[0])


def cofen_conditioned_fraction(state: str, relaxation: float) -> float:
    """x_c after the paper's conditioning of ``state`` and ``relaxation`` [s] at 0 V:
    tabulated for 3 min and 1 h (:data:`COFEN_CONDITIONED`), interpolated log-linearly in
    between [derived]."""
    row = COFEN_CONDITIONED[state]
    w = np.clip((np.log(float(relaxation)) - np.log(180.0)) / (np.log(3600.0) - np.log(180.0)), 0.0, 1.0)
    return float(row[180.0] + w * (row[3600.0] - row[180.0]))


__all__ = [
    "ARRAY_FIRST_STEP", "ARRAY_MAX_STEP", "ARRAY_VARIABILITY", "COFEN_CONDITIONED", "COFEN_CYCLE_COUNT",
    "COFEN_CYCLE_OFF", "COFEN_CYCLE_ON", "COFEN_FIT", "COFEN_REMANENCE_RATIO", "COFEN_SAMPLE_AREA", "COFEN_TABLE",
    "COFEN_TRAIN", "CON_FIT", "CON_FIXED", "CON_TRAIN", "ELECTROMAGNET_POWER", "PRESETS", "PROVENANCE", "READOUT_G_OFF",
    "READOUT_G_ON", "cofen", "cofen_conditioned_fraction", "cofen_film", "cofen_high_m", "cofen_low_m", "con",
    "con_200nm", "con_25nm", "con_film", "exchange_efficiency", "simulate_conditioned_fraction",
]

#: Presets registered in ``synaptax.devices.PRESETS`` (``synaptax train --device NAME``).
PRESETS = {
    "con-25nm": con_25nm,
    "con-200nm": con_200nm,
    "cofen-high-m": cofen_high_m,
    "cofen-low-m": cofen_low_m,
}

# ----------------------------------------------------------------------------- provenance
_ARRAY = {
    "train.amplitude": "paper: −25 V",
    "train.width": "assumed: 1 s pulses",
    "train.period": "assumed: back to back (duty cycle 1)",
    "train.rest": "assumed: no rest after a train",
    "train.depression": "assumed: depression by positive-gate pulses",
    "train.depression_amplitude": "assumed: +25 V, the same width",
    "transducer.g_off": "assumed: read element 0.1–1 µS linear in M (no paper builds one)",
    "transducer.g_on": "assumed: read element 0.1–1 µS linear in M (no paper builds one)",
    "variability.d2d_rate": "assumed: 10 % rate spread (the papers report single films)",
    "variability.d2d_capacity": "assumed: 5 % capacity spread",
    "variability.c2c_rate": "assumed: 5 % rate noise per train",
    "variability.read_noise": "assumed: 1 % read noise",
    "energy.cell_area": "assumed: 100 nm × 100 nm cells",
    "energy.leakage_current_density": "derived: the CoFeN paper's 10 µA at 25 V on its 5 × 5 mm² sample",
    "energy.edl_capacitance": "assumed: 10 µF cm⁻², a typical Helmholtz-layer value",
}
_CON_FILM = {
    **{f"film.{k}": "fit: benchmarks/fit_magnetoionic.py" for k in CON_FIT},
    "film.rate_ref": "paper: 0.8 emu cm⁻³ s⁻¹ at 200 nm, −25 V, over M_Co",
    "film.voltage_ref": "paper: 25 V",
    "film.edl_thickness": "assumed: \"less than 1 nm\" (CoFeN paper)",
    "film.field_exponent": "derived: the 7.4-fold rate 200 nm → 5 nm [paper]",
    "film.edl_exponent": "derived: = field_exponent (the interfacial field ∝ the double layer's charge)",
    "film.capacity_ref": "paper: 248 emu cm⁻³ after 900 s at 200 nm",
}
_CON_READOUT = {"transducer.m_ref": "derived: M_Co·xmax(t), the steady magnetisation of field-driven extraction"}
_COFEN_FILM = {
    **_CON_FILM,
    **{f"film.{k}": "fit: the CoN set (benchmarks/fit_magnetoionic.py), reused" for k in CON_FIT},
    **{f"film.{k}": "assumed: CoN's thickness exponent"
       for k in ("field_exponent", "capacity_exponent", "tau_exponent")},
    **{f"film.{k}": "fit: benchmarks/fit_magnetoionic.py --cofen" for k in COFEN_FIT},
    "film.thickness": "paper: 50 nm Co₀.₃₅Fe₀.₆₅N",
    "film.saturation_magnetisation": "pub: Fe₆₅Co₃₅, μ0·M_s ≈ 2.4 T (textbook Slater–Pauling value)",
    "remanence_ratio": "assumed: q = 0.8 (device-physics.md §B; the paper shows loops, not the number)",
    "exchange_efficiency": "paper: η = ΔM_R/ΔM_S of Table 1",
    "conditioned_fraction": "derived: the paper's conditioning protocol integrated by the model",
    "transducer.m_ref": "derived: M_sat·(q·x_c + η·(xmax − x_c)), a film grown to capacity at zero field",
}

#: Provenance of the parameters each preset sets, by field path: ``"tag: note"``
#: transcribed from the tags of the comments and docstrings above.  Read by
#: :func:`synaptax.devices.describe.describe_preset`; a field not listed takes the tag of its
#: class docstring when the preset keeps the class default, else it is shown ``[untagged]``.
PROVENANCE = {
    "con-25nm": {**_ARRAY, **_CON_FILM, **_CON_READOUT, "film.thickness": "paper: 25 nm (the paper's films: 5–200 nm)"},
    "con-200nm": {**_ARRAY, **_CON_FILM, **_CON_READOUT,
                  "film.thickness": "paper: 200 nm (the paper's films: 5–200 nm)"},
    "cofen-high-m": {**_ARRAY, **_COFEN_FILM},
    "cofen-low-m": {**_ARRAY, **_COFEN_FILM},
}
