"""PCM presets: plain factory functions returning configured
:class:`~synaptax.devices.pcm.model.PCMDevice` models.

Sources.  The inference laws (programming noise, drift, 1/f read noise) and their constants
are aihwkit's ``PCMLikeNoiseModel`` (IBM analog hardware-acceleration kit,
``src/aihwkit/inference/noise/pcm.py``) [pub], fitted there to doped-Ge₂Sb₂Te₅ mushroom
cells: Nandakumar et al., ICECS 2019 (doi 10.1109/ICECS46596.2019.8964852) and Joshi et al.,
Nat. Commun. 11, 2473 (2020).  The pulsed update takes its mid-range SET step and its
spreads from aihwkit's ``PCMPresetDevice`` (``aihwkit/simulator/presets/devices.py``, after
Nandakumar et al., Front. Neurosci. 14, 406 (2020)) [pub], applied to this family's
soft-bounds law [assumed].  Tags: [pub] a publication or its released code, [derived]
computed from tagged numbers (the formula is next to it), [assumed] a value chosen where no
source gives one — replace it when better data appear.
"""
from __future__ import annotations

import math

import equinox as eqx

from ..core.variability import StepVariability
from .model import PCMDevice, PCMDrift

# ----------------------------------------------------------------------------- constants
#: aihwkit's ``PCMPresetDevice`` (an exponential-step device on weights ``w ∈ [0, 2]``):
#: ``dw_min`` = 0.01, ``a`` = −1, ``b`` = 0, ``γ_up`` = 2.5, ``A_up`` = −27.235 [pub].  Its SET
#: step at ``w`` is ``dw_min·(1 − A_up·exp(γ_up·z))``, ``z = 2·a·w/(w_max − w_min) + b``.
AIHWKIT_DW_MIN = 0.01
AIHWKIT_W_RANGE = 2.0
AIHWKIT_A_UP = -27.235
AIHWKIT_GAMMA_UP = 2.5
#: The SET step at mid-range (``w`` = 1, ``z`` = −1) as a fraction of the window [derived]:
#: 0.01·(1 + 27.235·e^(−2.5))/2 ≈ 0.0162, ≈ 62 steps across the window.
SET_STEP_FRACTION = AIHWKIT_DW_MIN * (1.0 - AIHWKIT_A_UP * math.exp(-AIHWKIT_GAMMA_UP)) / AIHWKIT_W_RANGE

#: Nominal window [S]: aihwkit's g_max = 25 µS [pub]; a RESET conductance of 0.1 µS
#: [assumed] (aihwkit maps weight 0 to 0 S; the contract needs g_min > 0 for its on/off
#: figures, and 0.1 µS is a ≈ 10 MΩ amorphous cell, 250× below g_max).
G_MAX = 25e-6
G_MIN = 0.1e-6

#: Spreads of the pulsed update [pub: aihwkit PCMPresetDevice]: ``dw_min_dtod`` = 0.2
#: (step, device to device), ``up_down_dtod`` = 0.05 (up/down asymmetry, device to device),
#: ``dw_min_std`` = 0.6 (per pulse, relative to the step).  Its extra per-pulse terms
#: (``dw_min_std_add``, ``dw_min_std_slope``) and its bound spread (``w_max_dtod`` = 0.1 on
#: the upper bound only) are not used: the contract spreads both bounds alike, and the
#: inference model this family reproduces has no bound spread [assumed].
UPDATE_SPREADS = StepVariability(d2d_step=0.2, d2d_asymmetry=0.05, c2c=0.6)


def pcm(**kwargs) -> PCMDevice:
    """PCM after aihwkit's PCMLikeNoiseModel: programming noise, drift (t/20 s)^−ν and 1/f read noise [pub].

    The inference laws and constants of aihwkit's ``PCMLikeNoiseModel`` (g_max = 25 µS,
    programming-noise polynomial 0.26348 + 1.9650·x − 1.1731·x² µS, drift exponent mean and
    spread clipped to [0.049, 0.1] and [0.008, 0.045], t₀ = 20 s, 1/f amplitude
    Q_s = min(0.0088/x^0.65, 0.2), t_read = 250 ns) [pub: Nandakumar et al., ICECS 2019;
    Joshi et al., Nat. Commun. 11, 2473 (2020)].  Pulsed updates: soft bounds with aihwkit's
    PCM preset's mid-range SET step (≈ 62 steps) and spreads (20 % step, 5 % asymmetry
    device to device, 60 % per pulse) [pub: aihwkit PCMPresetDevice], both directions
    gradual [assumed].  Window 0.1–25 µS [0.1 µS assumed]; 5 pJ SET and 20 pJ RESET pulses of
    50 ns [assumed].  ``kwargs``: any other :class:`PCMDevice` field.
    """
    fields = dict(g_min=G_MIN, g_max=G_MAX, step=SET_STEP_FRACTION * (G_MAX - G_MIN), variability=UPDATE_SPREADS,
                  set_energy=5e-12, reset_energy=20e-12, pulse_width=50e-9)
    fields.update(kwargs)
    return PCMDevice(**fields)


def pcm_no_drift() -> PCMDevice:
    """The pcm preset without conductance drift (ν = 0): programming noise and 1/f read noise only [derived].

    An ablation: aihwkit's ``drift_scale`` = 0; everything else as :func:`pcm`."""
    device = pcm()
    return eqx.tree_at(lambda d: d.drift, device, PCMDrift(scale=0.0))


# ----------------------------------------------------------------------------- provenance
_AIHWKIT_NOISE = "aihwkit PCMLikeNoiseModel (src/aihwkit/inference/noise/pcm.py)"
_PAPERS = "Nandakumar et al., ICECS 2019; Joshi et al., Nat. Commun. 11, 2473 (2020)"
_AIHWKIT_PRESET = "aihwkit PCMPresetDevice (after Nandakumar et al., Front. Neurosci. 14, 406 (2020))"
_ENERGY = ("assumed: order of magnitude of mushroom-cell PCM programming (≈ 100 µA × ≈ 1 V × 50 ns ≈ 5 pJ for a "
           "partial SET; a RESET melts the cell: a few times more); replace with a measured figure")

_BASE = {
    "g_min": "assumed: 0.1 µS RESET conductance (aihwkit maps weight 0 to 0 S)",
    "g_max": f"pub: 25 µS, the g_max of {_AIHWKIT_NOISE}",
    "step": (f"derived: SET_STEP_FRACTION × (g_max − g_min), the mid-range SET step of {_AIHWKIT_PRESET}: "
             "dw_min·(1 − A_up·e^(−γ_up))/2 = 0.0162 of the window; its soft-bounds law [assumed]"),
    "asymmetry": "assumed: up and down steps equal at mid-range (aihwkit's PCM preset is SET-only)",
    "variability.d2d_step": f"pub: dw_min_dtod = 0.2, {_AIHWKIT_PRESET}",
    "variability.d2d_asymmetry": f"pub: up_down_dtod = 0.05, {_AIHWKIT_PRESET}",
    "variability.c2c": f"pub: dw_min_std = 0.6, {_AIHWKIT_PRESET} (its extra additive and slope terms not used)",
    "variability.c2c_range": "assumed: 0, aihwkit's dw_min_std_add not modelled",
    "variability.d2d_bounds": "assumed: 0, as aihwkit's inference model (no bound spread)",
    "variability.stuck_min": "assumed: no stuck cells",
    "variability.stuck_max": "assumed: no stuck cells",
    "variability.read_noise": "assumed: 0 white read noise beyond the 1/f law",
    "programming.c0": f"pub: prog_coeff[0] = 0.26348 µS, {_AIHWKIT_NOISE}; {_PAPERS}",
    "programming.c1": f"pub: prog_coeff[1] = 1.9650 µS, {_AIHWKIT_NOISE}; {_PAPERS}",
    "programming.c2": f"pub: prog_coeff[2] = −1.1731 µS, {_AIHWKIT_NOISE}; {_PAPERS}",
    "programming.g_ref": f"pub: prog_coeff_g_max_reference = 25 µS, {_AIHWKIT_NOISE}",
    "programming.scale": f"pub: prog_noise_scale = 1, {_AIHWKIT_NOISE}",
    "drift.t0": f"pub: t_0 = 20 s, {_AIHWKIT_NOISE}; {_PAPERS}",
    "drift.scale": f"pub: drift_scale = 1, {_AIHWKIT_NOISE}",
    "drift.mean_slope": f"pub: −0.0155 (μ_ν = −0.0155·ln x + 0.0244), {_AIHWKIT_NOISE}; {_PAPERS}",
    "drift.mean_offset": f"pub: 0.0244, {_AIHWKIT_NOISE}",
    "drift.mean_min": f"pub: 0.049, {_AIHWKIT_NOISE}",
    "drift.mean_max": f"pub: 0.1, {_AIHWKIT_NOISE}",
    "drift.std_slope": f"pub: −0.0125 (σ_ν = −0.0125·ln x − 0.0059), {_AIHWKIT_NOISE}; {_PAPERS}",
    "drift.std_offset": f"pub: −0.0059, {_AIHWKIT_NOISE}",
    "drift.std_min": f"pub: 0.008, {_AIHWKIT_NOISE}",
    "drift.std_max": f"pub: 0.045, {_AIHWKIT_NOISE}",
    "read_1f.q0": f"pub: Q_s = 0.0088/x^0.65, {_AIHWKIT_NOISE}; {_PAPERS}",
    "read_1f.exponent": f"pub: 0.65, {_AIHWKIT_NOISE}",
    "read_1f.q_max": f"pub: Q_s clipped at 0.2, {_AIHWKIT_NOISE}",
    "read_1f.t_read": f"pub: t_read = 250 ns, {_AIHWKIT_NOISE}; {_PAPERS}",
    "read_1f.scale": f"pub: read_noise_scale = 1, {_AIHWKIT_NOISE}",
    "set_energy": _ENERGY,
    "reset_energy": _ENERGY,
    "pulse_width": "assumed: 50 ns programming pulses, the order of PCM SET/RESET pulse widths",
}

#: Provenance of every parameter of each preset, by field path: ``"tag: note"`` (the
#: module docstring defines the tags).  Read by
#: :func:`synaptax.devices.describe.describe_preset`.
PROVENANCE = {
    "pcm": _BASE,
    "pcm-no-drift": {**_BASE, "drift.scale": "derived: 0, the ablation without drift (aihwkit drift_scale = 0)"},
}

#: Name → factory (no arguments) of this family's presets (merged into
#: ``synaptax.devices.PRESETS``).
PRESETS = {"pcm": pcm, "pcm-no-drift": pcm_no_drift}

__all__ = ["AIHWKIT_A_UP", "AIHWKIT_DW_MIN", "AIHWKIT_GAMMA_UP", "AIHWKIT_W_RANGE", "G_MAX", "G_MIN", "PRESETS",
           "PROVENANCE", "SET_STEP_FRACTION", "UPDATE_SPREADS", "pcm", "pcm_no_drift"]
