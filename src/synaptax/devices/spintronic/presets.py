"""Co/Gd ferrimagnet factories and presets: plain functions returning configured
:class:`~synaptax.devices.spintronic.cogd.CoGdDevice` models.

Each call builds a new model (nothing is cached): the nominal SET current of a preset is
calibrated by :meth:`~synaptax.devices.spintronic.cogd.CoGdDevice.current_for_fraction`
(≈ 10–20 ms per preset once its evaluation is compiled; the first call in a process also
compiles it).  Numbers are tagged: [paper] the Co/Gd paper (Li et al., Chin. Phys. B 31,
117106 (2022)), [fit] fitted to its trends, [derived] computed from tagged numbers,
[assumed] our choice where the source gives none.
"""
from __future__ import annotations

import dataclasses

from ..._checks import check_positive
from .cogd import OE, CoGdDevice, anisotropy_field


def cogd_hall_bar(*, alox_thickness: float = 2e-9, h_x_oe: float = -500.0, n_regions: int = 256,
                  pulse_width: float = 10e-3, set_current: float | None = None,
                  step_probability: float = 0.03, **kwargs) -> CoGdDevice:
    """The paper's device: Ta/Pt/[Co/Gd]₆/Pt/AlOx(t) Hall bar, 10 µm wide, 10 ms pulses [paper].

    Args:
        alox_thickness: AlOx cap thickness [m] (0–2 nm in the paper); sets ``h_k`` through
            :func:`~synaptax.devices.spintronic.cogd.anisotropy_field` [fit].
        h_x_oe: in-plane field in Oe (the paper's unit; −500 Oe for Figs. 3–4) [paper].
        n_regions: nucleation regions per device [fit].
        pulse_width: write-pulse width [s].
        set_current: nominal SET/RESET amplitude [A]; by default the current at which a
            nominal pulse SETs a fraction ``step_probability`` of the RESET regions, so that
            repeated nominal pulses step the conductance gradually [derived].
        step_probability: that fraction (0–1) when ``set_current`` is not given.
        **kwargs: any other :class:`~synaptax.devices.spintronic.cogd.CoGdDevice` field.
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
    hence the threshold current *density*.  Changed: currents scale with ``width`` [m]; the
    channel resistance with ``length/width`` (``length`` [m] defaults to the same aspect
    ratio); a shorter ``pulse_width`` [s] raises the switching current through
    ``ln(t_p/τ0)``.  The nominal SET current is recomputed for the same per-pulse switching
    fraction ``step_probability`` (None: scaled with the width).  The barrier distribution
    is that of the nucleation volume, not of the device area, and is kept [assumed]; the
    model is thermally activated, so pulses much shorter than ~10·τ0 (precessional
    switching) are outside it.  Concrete parameters only (a factory, not a traced op).
    """
    check_positive("width", width)
    length = device.length * width / device.width if length is None else length
    check_positive("length", length)
    pulse_width = device.pulse_width if pulse_width is None else pulse_width
    check_positive("pulse_width", pulse_width)
    changes = dict(width=width, length=length, pulse_width=pulse_width,
                   set_current=device.set_current * width / device.width)
    if n_regions is not None:
        changes["n_regions"] = n_regions
    out = dataclasses.replace(device, **changes)
    if step_probability is not None:
        out = dataclasses.replace(out, set_current=out.current_for_fraction(step_probability))
    return out


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


def cogd_hall_bar_preset() -> CoGdDevice:
    """Co/Gd Hall bar as measured: 10 µm, 10 ms pulses, 2 nm AlOx, −500 Oe, N_r = 64 [paper/fit].

    The nominal pulse (≈ 16.6 mA) SETs 3 % of the RESET regions per pulse [derived]; write
    energy ≈ 96 µJ per pulse.  Conductance mapping 1–10 µS [assumed]."""
    return cogd_hall_bar(n_regions=64)


# ----------------------------------------------------------------------------- provenance
_STACK = {
    "h_x": "paper: −500 Oe, Figs. 3–4",
    "h_k": "fit: anisotropy_field(2 nm AlOx), Fig. 2(f) trend",
    "g_min": "assumed: conductance mapping 1–10 µS",
    "g_max": "assumed: conductance mapping 1–10 µS",
    "set_current": "derived: the current whose nominal pulse SETs 3 % of the RESET regions",
}

#: Provenance of the parameters each preset sets, by field path: ``"tag: note"``
#: transcribed from the docstrings above (the module docstring defines the tags).  Fields
#: the presets keep at the class default take the tags of the
#: :class:`~synaptax.devices.spintronic.cogd.CoGdDevice` docstring; a field neither lists
#: is shown ``[untagged]`` (the array preset's 200 nm × 400 nm and 10 ns: its docstring's
#: first line tags the scaled device as a whole [derived], the sizes themselves not).
PROVENANCE = {
    "cogd-hallbar": {
        **_STACK,
        "n_regions": "fit: N_r = 64",
        "width": "paper: 10 µm Hall bar",
        "pulse_width": "paper: 10 ms",
    },
    "cogd": {
        **_STACK,
        "n_regions": "assumed: N_r = 64 regions",
    },
}

#: Name → factory (no arguments) of this family's presets (merged into
#: ``synaptax.devices.PRESETS``).
PRESETS = {"cogd": cogd_array, "cogd-hallbar": cogd_hall_bar_preset}

__all__ = ["PRESETS", "PROVENANCE", "cogd_array", "cogd_hall_bar", "cogd_hall_bar_preset", "scaled"]
