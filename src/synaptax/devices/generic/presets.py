"""Device presets: plain factory functions returning configured device models.

Each preset cites its source and tags its numbers: [pub] from a named publication,
[derived] computed from tagged numbers, [assumed] a value we chose where the source gives
none (replace it when better data appear).
"""
from __future__ import annotations

from .constant_step import ConstantStepDevice
from .exp_step import ExpStepDevice
from .linear_step import SoftBoundsDevice
from ..core.variability import StepVariability


def idealized(*, levels: int = 1000) -> ConstantStepDevice:
    """Idealised many-state symmetric device: ``levels`` equal steps, no variability.

    The Gokmen & Vlasov requirement of ≈1000 states over the range [pub: Front. Neurosci.
    10, 333 (2016); device-physics.md §E]; 0.1–1 µS range, 1 V, 1 ns pulses [assumed].
    """
    g_min, g_max = 0.1e-6, 1.0e-6
    return ConstantStepDevice(g_min=g_min, g_max=g_max, step=(g_max - g_min) / levels,
                              pulse_voltage=1.0, pulse_width=1e-9)


def gokmen_vlasov() -> ConstantStepDevice:
    """The Gokmen & Vlasov (2016) resistive processing unit specification [pub].

    ``Δw_min = 0.001`` of a ±0.6 weight range (≈1200 states), device-to-device spread of
    the step 30 %, cycle-to-cycle 30 %, up/down asymmetry spread 2 %, bounds spread 30 %
    [pub: device-physics.md §E].  0.1–1 µS, 1 V, 1 ns pulses [assumed].
    """
    g_min, g_max = 0.1e-6, 1.0e-6
    span = g_max - g_min
    return ConstantStepDevice(
        g_min=g_min, g_max=g_max, step=0.001 / 1.2 * span,
        variability=StepVariability(d2d_step=0.3, c2c=0.3, d2d_asymmetry=0.02, d2d_bounds=0.3),
        pulse_voltage=1.0, pulse_width=1e-9)


def reram_soft_bounds(*, d2d: float = 0.3) -> SoftBoundsDevice:
    """Soft-bounds ReRAM-like device (aihwkit's ``ReRamSBPreset`` in spirit).

    Soft bounds with ≈1000 steps at mid-range, device-to-device spread ``d2d`` of the step
    and bounds (default 30 %), up/down asymmetry spread 10 %, cycle-to-cycle noise 30 % of
    a step, read noise 1 % [assumed, after aihwkit's ReRAM-SB preset: Gong et al., Nat.
    Commun. 9, 2102 (2018) pub].  1–10 µS, 1.5 V, 10 ns write pulses [assumed].
    """
    g_min, g_max = 1e-6, 10e-6
    return SoftBoundsDevice(
        g_min=g_min, g_max=g_max, step=(g_max - g_min) / 1000,
        variability=StepVariability(d2d_step=d2d, d2d_bounds=d2d, d2d_asymmetry=0.1, c2c=0.3, read_noise=0.01),
        pulse_voltage=1.5, pulse_width=10e-9)


def _neurosim(levels, nl_up, nl_down, c2c, on_off):
    g_max = 1e-6  # [assumed] absolute scale; NeuroSim benchmarks quote on/off ratios
    return ExpStepDevice(levels=levels, nl_up=nl_up, nl_down=nl_down, g_min=g_max / on_off, g_max=g_max,
                         variability=StepVariability(c2c_range=c2c), pulse_voltage=1.0, pulse_width=1e-6)


def ag_asi() -> ExpStepDevice:
    """Ag:a-Si synapse, NeuroSim benchmark: 97 levels, NL 2.4/−4.88, C2C 3.5 % of range
    [pub: device-physics.md §E, after Jo et al., Nano Lett. 10, 1297 (2010)].
    On/off ratio 12.5 [pub: NeuroSim+ device table, recalled; verify], 1 µS maximum,
    1 V × 1 µs pulses [assumed]."""
    return _neurosim(97, 2.4, -4.88, 0.035, 12.5)


def taox_hfox() -> ExpStepDevice:
    """TaOx/HfOx synapse, NeuroSim benchmark: 128 levels, NL 0.04/−0.63, C2C 3.7 % of range
    [pub: device-physics.md §E, after Wu et al., VLSI 2017].  On/off 10 [pub, recalled;
    verify], 1 µS maximum, 1 V × 1 µs pulses [assumed]."""
    return _neurosim(128, 0.04, -0.63, 0.037, 10.0)


def pcmo() -> ExpStepDevice:
    """PCMO synapse, NeuroSim benchmark: 50 levels, NL 3.68/−6.76, C2C < 1 % (0.5 % used)
    [pub: device-physics.md §E, after Park et al., IEDM 2013].  On/off 6.84 [pub, recalled;
    verify], 1 µS maximum, 1 V × 1 µs pulses [assumed]."""
    return _neurosim(50, 3.68, -6.76, 0.005, 6.84)


def alox_hfo2() -> ExpStepDevice:
    """AlOx/HfO2 synapse, NeuroSim benchmark: 40 levels, NL 1.94/−0.61, C2C 5 % of range
    [pub: device-physics.md §E, after Woo et al., EDL 2016].  On/off 4.43 [pub, recalled;
    verify], 1 µS maximum, 1 V × 1 µs pulses [assumed]."""
    return _neurosim(40, 1.94, -0.61, 0.05, 4.43)


def epiram() -> ExpStepDevice:
    """EpiRAM synapse, NeuroSim benchmark: 64 levels, NL 0.5/−0.5, C2C 2 % of range
    [pub: device-physics.md §E, after Choi et al., Nat. Mater. 17, 335 (2018)].  On/off 50.2
    [pub, recalled; verify], 1 µS maximum, 1 V × 1 µs pulses [assumed]."""
    return _neurosim(64, 0.5, -0.5, 0.02, 50.2)


# ----------------------------------------------------------------------------- provenance
_WRITE_PULSE = {"pulse_voltage": "assumed: write-pulse amplitude (docstring)",
                "pulse_width": "assumed: write-pulse width (docstring)"}
_WINDOW_0P1_1 = {"g_min": "assumed: 0.1–1 µS range", "g_max": "assumed: 0.1–1 µS range"}
_GV = "Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016); device-physics.md §E"
_AIHWKIT = "after aihwkit's ReRAM-SB preset (Gong et al., Nat. Commun. 9, 2102 (2018))"


def _neurosim_provenance(after: str, c2c: str = "") -> dict:
    pub = f"pub: NeuroSim benchmark, device-physics.md §E, after {after}"
    return {
        "levels": pub, "nl_up": pub, "nl_down": pub,
        "variability.c2c_range": f"{pub}{c2c}",
        "g_max": "assumed: 1 µS absolute scale (NeuroSim benchmarks quote on/off ratios)",
        "g_min": "derived: g_max / on-off ratio (the ratio [pub: NeuroSim+ device table, recalled; verify])",
        "step": "derived: (g_max − g_min)/levels, the mean step",
        **_WRITE_PULSE,
    }


#: Provenance of the parameters each preset sets, by field path: ``"tag: note"``
#: transcribed from the preset's docstring and comments (the module docstring defines the
#: tags).  Read by :func:`synaptax.devices.describe.describe_preset`; a field not listed is
#: shown ``[untagged]`` (or with the tag its class docstring gives an unchanged default).
PROVENANCE = {
    "ideal": {
        **_WINDOW_0P1_1,
        "step": f"derived: (g_max − g_min)/levels, ≈1000 states [pub: {_GV}]",
        **_WRITE_PULSE,
    },
    "gokmen-vlasov": {
        **_WINDOW_0P1_1,
        "step": f"derived: Δw_min = 0.001 of a ±0.6 weight range [pub: {_GV}] × (g_max − g_min)",
        "variability.d2d_step": f"pub: 30 % device-to-device spread of the step, {_GV}",
        "variability.c2c": f"pub: 30 % cycle to cycle, {_GV}",
        "variability.d2d_asymmetry": f"pub: 2 % up/down asymmetry spread, {_GV}",
        "variability.d2d_bounds": f"pub: 30 % bounds spread, {_GV}",
        **_WRITE_PULSE,
    },
    "reram-sb": {
        "g_min": "assumed: 1–10 µS", "g_max": "assumed: 1–10 µS",
        "step": f"derived: (g_max − g_min)/1000, ≈1000 steps at mid-range [assumed, {_AIHWKIT}]",
        "variability.d2d_step": f"assumed: 30 % (the d2d argument), {_AIHWKIT}",
        "variability.d2d_bounds": f"assumed: 30 % (the d2d argument), {_AIHWKIT}",
        "variability.d2d_asymmetry": f"assumed: 10 %, {_AIHWKIT}",
        "variability.c2c": f"assumed: 30 % of a step, {_AIHWKIT}",
        "variability.read_noise": f"assumed: 1 %, {_AIHWKIT}",
        **_WRITE_PULSE,
    },
    "ag-asi": _neurosim_provenance("Jo et al., Nano Lett. 10, 1297 (2010)"),
    "taox-hfox": _neurosim_provenance("Wu et al., VLSI 2017"),
    "pcmo": _neurosim_provenance("Park et al., IEDM 2013", "; C2C < 1 %, 0.5 % used"),
    "alox-hfo2": _neurosim_provenance("Woo et al., EDL 2016"),
    "epiram": _neurosim_provenance("Choi et al., Nat. Mater. 17, 335 (2018)"),
}

#: Presets of the generic pulsed family (merged into :data:`synaptax.devices.PRESETS`).
PRESETS = {
    "ideal": idealized,
    "gokmen-vlasov": gokmen_vlasov,
    "reram-sb": reram_soft_bounds,
    "ag-asi": ag_asi,
    "taox-hfox": taox_hfox,
    "pcmo": pcmo,
    "alox-hfo2": alox_hfo2,
    "epiram": epiram,
}

__all__ = ["PRESETS", "PROVENANCE", "ag_asi", "alox_hfo2", "epiram", "gokmen_vlasov", "idealized", "pcmo",
           "reram_soft_bounds", "taox_hfox"]
