"""Presets of electrochemical ionic synapses (ECRAM): Mg²⁺, H⁺ and O²⁻ in WO₃.

Source: Schwacke, Žguns, del Alamo, Li, Yildiz, *Electrochemical Ionic Synapses with Mg²⁺
as the Working Ion*, Adv. Electron. Mater. 2024, DOI 10.1002/aelm.202300577
(shared/papers/mg-ion-electrochemical-synapse-MgWO3-AdvElectronMater2024.txt, "the paper"),
and shared/docs/device-physics.md §C.  Tags: [paper] stated in the paper; [pub] a
publication the paper cites, with the paper's numbers; [derived] computed here from tagged
numbers (the formula is next to it); [fit] a free choice made to meet a stated behaviour —
replace it when better data appear; [assumed] a value chosen where no source gives one.

The material laws are written once, in the paper's film geometry (:data:`PAPER_FILM`), and
every other cell is obtained with :meth:`ECRAMDevice.scaled` (its docstring states the
scaling laws).  Training presets use a programming window of 10–100 µS (film geometry):
10× in conductance (the Gokmen–Vlasov requirement restated by the paper), centred on a log
scale near the zero-OCP conductance ``G_eq`` ≈ 40 µS so that the OCP, and with it the rest
drift and the voltage needed, stay small (|V_OCP| ≤ 66 mV) — the paper's advice to operate
where dσ/dx is large and dV_OCP/dx small.
"""
from __future__ import annotations

import dataclasses
import math

from .ecram import AJ_PER_UM2_PER_NS, ECRAMDevice, ECRAMGeometry
from ..core.variability import StepVariability

# ----------------------------------------------------------------------------- geometry
#: The paper's Mg-EIS: channel l × w = 100 µm × 500 µm between source and drain, WO₃ film
#: 80 nm thick covering L × W = 1 cm × 0.6 cm, the whole film in contact with the
#: electrolyte [paper, §2 and §7].
PAPER_FILM = ECRAMGeometry(channel_width=500e-6, channel_length=100e-6, thickness=80e-9,
                           exchange_area=1e-2 * 0.6e-2)

#: Conductance per conductivity of the film channel, ``w·t/l`` [m] [derived].
FILM_SHEET_FACTOR = PAPER_FILM.channel_width * PAPER_FILM.thickness / PAPER_FILM.channel_length

# ----------------------------------------------------------------------------- Mg law [paper]
MG_PULSE_CURRENT = 10e-6      # A, Figs. 3d, 4, 7 [paper]
MG_PULSE_WIDTH = 0.5          # s [paper]
MG_STEP_AT_5US = 0.3e-6       # S per pulse at G0 ≈ 4–6 µS, Fig. 3d [paper]
G_REF = 5e-6                  # S [paper]
#: κ = 0.3 µS / (10 µA × 0.5 s) = 0.06 µS per µC [paper Fig. 3d; device-physics.md §C]
MG_SENSITIVITY = MG_STEP_AT_5US / (MG_PULSE_CURRENT * MG_PULSE_WIDTH)
MG_EXPONENT = 0.5             # [derived]: ΔG(tens of µS) > 3 × ΔG(≈1 µS), Fig. 3e
OCP_SLOPE = 0.11              # V per decade: 10× in G within 110 mV, Fig. 3b [paper]
G_EQ = 40e-6                  # S, where open circuit and V_rest = 0 settle, Fig. 8a [paper]
#: σ_e / σ_ion of the PCE electrolyte: 1e-6 S cm⁻¹, ≈ 4 % of the ionic [paper §5]
MG_LEAK_RATIO = 0.04
G_FILM_MIN, G_FILM_MAX = 80e-9, 2.3e-3   # S, the range reached [paper §6]

#: Normalised pulse energies E/(A_ex·ΔG) [J m⁻² S⁻¹]: Mg 90, H 18 aJ µm⁻² nS⁻¹ and O 2 pJ
#: µm⁻² nS⁻¹ [paper §5; H from Yao et al. 2020, O from Kim et al. IEDM 2019, as cited]
MG_ENERGY_NORM = 90 * AJ_PER_UM2_PER_NS
H_ENERGY_NORM = 18 * AJ_PER_UM2_PER_NS
O_ENERGY_NORM = 2000 * AJ_PER_UM2_PER_NS

#: Gate resistance [Ω] [derived] from the energy figure.  A current pulse dissipates
#: ``Q·|V_OCP ± I·R|``, whose mean over a potentiation and a depression pulse is ``Q·I·R``
#: (for I·R > |V_OCP|), and moves G by ``κ·Q`` at G_ref, so ``E/(A·ΔG) = I·R/(A·κ)`` ⇒
#: ``R = 90 aJ µm⁻² nS⁻¹ × A_ex × κ / I`` = 32.4 kΩ (a mean gate voltage of 0.324 V;
#: device-physics.md's 5 µC × 0.32 V = 1.6 µJ check).  It also sets the rest time
#: constants: near G_eq, τ = ln10·R_path·G_eq/(κ·S·(G_eq/G_ref)^p) ≈ 160 s held at 0 V and
#: ≈ 26× that, ≈ 69 min, at open circuit — the ~1 h of device-physics.md [fit] follows.
MG_GATE_RESISTANCE = MG_ENERGY_NORM * PAPER_FILM.exchange_area * MG_SENSITIVITY / MG_PULSE_CURRENT

#: Charge per unit of inserted electrons per WO₃, γ, in the film [C] [derived]: a 10 µA ×
#: 0.5 s pulse is Δγ ≈ 1e-4 [paper §5].
FILM_CHARGE_PER_GAMMA = MG_PULSE_CURRENT * MG_PULSE_WIDTH / 1e-4

# ----------------------------------------------------------------------------- H law
#: Conductivities of H_γWO₃ [paper §5, Fig. 7b]: 1.9e-6 S cm⁻¹ before pulsing (γ ≈ 0) and
#: 5.5e-3 S cm⁻¹ (the Mg device's starting value) at γ = 0.03; in the film geometry [derived]:
H_G_UNDOPED = 1.9e-6 * 100 * FILM_SHEET_FACTOR     # 76 pS
H_G_AT_GAMMA_003 = 5.5e-3 * 100 * FILM_SHEET_FACTOR  # 0.22 µS
MG_G_START = 5.5e-3 * 100 * FILM_SHEET_FACTOR         # 0.22 µS, the Mg device's start [paper]
#: H sensitivity law [fit], film geometry: the exponent and κ (at G_ref) for which the law
#: runs through both H conductivities above *and* gives Δσ/Δγ 10³× smaller than Mg's at
#: γ = 0.03 (Mg law started at 0.22 µS) [paper Fig. 7c] — solved numerically (the test
#: suite re-derives both constraints).  At γ ≈ 0.15–0.3 H is then 27×–5× less sensitive
#: than Mg at equal γ, and within 2.5× at equal conductance (hundreds of µS); the paper
#: says "similar" there: the single power law cannot bend further.
H_EXPONENT = 0.780855
H_SENSITIVITY = 6.33384e-3    # S/C at G_REF, film geometry
#: The H-EIS compared in the paper (Yao et al., Nat. Commun. 2020, as cited): 0.5 µA × 5 ms
#: pulses give the same Δγ ≈ 1e-4 [paper], so its film holds 2.5 nC / 5 µC = 1/2000 of the
#: Mg film's WO₃: same thickness [assumed] ⇒ A_ex = 3e-8 m² [derived]; w/l = 5 [assumed].
H_PULSE_CURRENT, H_PULSE_WIDTH = 0.5e-6, 5e-3
H_DEVICE = ECRAMGeometry(channel_width=500e-6, channel_length=100e-6, thickness=80e-9,
                         exchange_area=PAPER_FILM.exchange_area * H_PULSE_CURRENT * H_PULSE_WIDTH
                         / (MG_PULSE_CURRENT * MG_PULSE_WIDTH))
#: H operating point, Fig. 7a: γ ≈ 0.1 ⇒ G ≈ 30 µS with the law above [derived]
H_G_OPERATING = 29.5e-6
#: H gate resistance [Ω] [derived] from 18 aJ µm⁻² nS⁻¹ at the operating point, in the H
#: device: R = E_norm·A·κ·(G/G_ref)^p / I as for Mg (A·κ is the same in any geometry of the
#: same w/l, so the film values serve) = 55 kΩ
H_GATE_RESISTANCE = (H_ENERGY_NORM * PAPER_FILM.exchange_area * H_SENSITIVITY
                     * (H_G_OPERATING / G_REF) ** H_EXPONENT / H_PULSE_CURRENT)
#: H-EIS in air "rapidly loses programmed conductance states over a few seconds" (protons
#: oxidised to water) [paper §1, Fig. 8b]: ion-loss time 3 s [fit]; in Ar it retains like
#: Mg at OCP = 0 [paper], so no electronic leak [assumed].
H_ION_LOSS_TIME_AIR = 3.0

# ----------------------------------------------------------------------------- O
#: O-EIS: the channel response per donated electron is taken as Mg's [assumed]; O²⁻ needs
#: high gate voltages [paper §1], so it is voltage-driven at the V_p that gives the paper's
#: 2 pJ µm⁻² nS⁻¹ with Mg's law at G_ref: V_p = E_norm·A·κ [derived] = 7.2 V.
O_PULSE_VOLTAGE = O_ENERGY_NORM * PAPER_FILM.exchange_area * MG_SENSITIVITY
#: WO₃₋ₓ channels slowly re-oxidise in air even under HfO₂ [paper §1, ref. 35]: 1 day [assumed].
O_ION_LOSS_TIME = 86400.0

# ----------------------------------------------------------------------------- training
TRAIN_WINDOW = (10e-6, 100e-6)   # S, film geometry [assumed; module docstring]
#: Training current pulse, 2 µA × 0.5 s (one of the amplitudes of Fig. 4b's sweep, where
#: ΔG ∝ I_p holds) [assumed]: ≈ 0.2 µS per pulse at mid-window, ≈ 450 steps across it.
TRAIN_PULSE_CURRENT = 2e-6
TRAIN_VARIABILITY = StepVariability(d2d_step=0.1, d2d_asymmetry=0.02, c2c=0.1)   # [fit]
TRAIN_OCP_OFFSET_STD = 0.005    # V [fit]: cell-to-cell OCP offsets (the paper's Fig. 5 drift)


def _mg_law(**changes) -> ECRAMDevice:
    base = dict(
        g_min=G_FILM_MIN, g_max=G_FILM_MAX, g_undoped=G_FILM_MIN, sensitivity=MG_SENSITIVITY, g_ref=G_REF,
        exponent=MG_EXPONENT, ocp_slope=OCP_SLOPE, g_eq=G_EQ, gate_resistance=MG_GATE_RESISTANCE,
        geometry=PAPER_FILM, leak_ratio=MG_LEAK_RATIO, rest_condition="open-circuit",
        pulse_mode="current", pulse_current=MG_PULSE_CURRENT, pulse_width=MG_PULSE_WIDTH)
    base.update(changes)
    return ECRAMDevice(**base)


def mg_wo3_film(*, rest_condition: str = "open-circuit", rest_voltage: float = 0.0) -> ECRAMDevice:
    """Mg-EIS as measured: the paper's 1 × 0.6 cm² Mg_xWO₃ film device, full range.

    Channel 100 × 500 µm², film 80 nm, A_ex 0.6 cm² [paper]; 80 nS – 2.3 mS [paper];
    ``ΔG = κ·I_p·t_p·(G/5 µS)^0.5`` with κ = 0.06 µS µC⁻¹ [paper Fig. 3d; p derived];
    ±10 µA × 0.5 s current pulses [paper]; OCP 110 mV/decade [paper Fig. 3b], zero at
    40 µS [paper Fig. 8a]; leaky PCE electrolyte σ_e/σ_ion = 0.04 [paper]; gate resistance
    32.4 kΩ [derived from 90 aJ µm⁻² nS⁻¹]; rest at open circuit (or held at
    ``rest_voltage`` with ``rest_condition="held"``).  Small spreads: κ 5 % device to
    device ("consistent across devices", Fig. 4), 5 % cycle to cycle, OCP offsets 2 mV
    [fit].  The device of validation targets C1–C6.
    """
    return _mg_law(rest_condition=rest_condition, rest_voltage=rest_voltage,
                   variability=StepVariability(d2d_step=0.05, c2c=0.05), ocp_offset_std=0.002)


def mg_wo3_voltage() -> ECRAMDevice:
    """Mg-EIS film driven by ±1 V × 500 ms voltage pulses (the paper's Fig. 5 protocol).

    As :func:`mg_wo3_film` [paper/derived], but each pulse drives ``(±1 V − V_OCP)/R_gate``:
    the charge, and so ΔG, depends on the OCP, which gives the net upward drift of equal ±
    pulse trains below G_eq that the paper reports.  Pulse 1 V × 0.5 s [paper Fig. 5].
    """
    return dataclasses.replace(mg_wo3_film(), pulse_mode="voltage", pulse_voltage=1.0)


def mg_wo3(*, rest_condition: str = "open-circuit", rest_voltage: float = 0.0) -> ECRAMDevice:
    """Mg-EIS for training: the paper's film and materials in a 10–100 µS window.

    Mg law and geometry as :func:`mg_wo3_film` [paper/derived]; programming window
    10–100 µS around G_eq = 40 µS, ±2 µA × 0.5 s current pulses (≈ 0.2 µS, ≈ 450 steps
    across the window at mid-range) [assumed, module docstring]; κ 10 % and up/down
    asymmetry 2 % device to device, 10 % cycle to cycle, OCP offsets 5 mV [fit]; rest at
    open circuit (gates floating between updates, τ ≈ 1 h) unless ``rest_condition="held"``.
    """
    return _mg_law(g_min=TRAIN_WINDOW[0], g_max=TRAIN_WINDOW[1], pulse_current=TRAIN_PULSE_CURRENT,
                   rest_condition=rest_condition, rest_voltage=rest_voltage, variability=TRAIN_VARIABILITY,
                   ocp_offset_std=TRAIN_OCP_OFFSET_STD)


def mg_wo3_100nm() -> ECRAMDevice:
    """Mg-EIS training preset scaled to a 100 × 100 nm² cell (the paper's target size [paper]).

    :func:`mg_wo3` moved by :meth:`ECRAMDevice.scaled` to a square 100 nm cell whose whole
    channel exchanges ions, 80 nm thick [assumed]: window 2–20 µS (w/l = 1 instead of 5),
    κ × 1.2e9, 0.5 s pulses of 0.33 fA (the paper's PCE electrolyte scales to 1.9e14 Ω, so
    faster pulses would need a thinner electrolyte), ≈ 10 aJ per pulse — "on the order of
    attojoules" as the paper expects [derived].
    """
    return mg_wo3().scaled(ECRAMGeometry.square_cell(100e-9))


def _h_law(**changes) -> ECRAMDevice:
    base = dict(
        g_min=TRAIN_WINDOW[0], g_max=TRAIN_WINDOW[1], g_undoped=H_G_UNDOPED, sensitivity=H_SENSITIVITY, g_ref=G_REF,
        exponent=H_EXPONENT, ocp_slope=OCP_SLOPE, g_eq=H_G_OPERATING, geometry=PAPER_FILM,
        gate_resistance=MG_GATE_RESISTANCE, leak_ratio=0.0, pulse_mode="current",
        pulse_current=MG_PULSE_CURRENT, pulse_width=MG_PULSE_WIDTH)
    base.update(changes)
    film = ECRAMDevice(**base)
    # written in the film geometry, moved to the H-EIS device (κ × 2000, R_gate × 2000)
    dev = film.scaled(H_DEVICE, pulse_width=H_PULSE_WIDTH)
    return dataclasses.replace(dev, gate_resistance=H_GATE_RESISTANCE)


def h_wo3(*, environment: str = "air", rest_condition: str = "open-circuit", rest_voltage: float = 0.0
          ) -> ECRAMDevice:
    """H-EIS (H_xWO₃), the proton device the paper compares with, for training.

    The Yao et al. 2020 device as the paper describes it [pub, via the paper]: ±0.5 µA ×
    5 ms pulses, Δγ ≈ 1e-4 each [paper] (so A_ex = 3e-8 m² at the same thickness
    [derived]); sensitivity law ``p`` = 0.78 with Δσ/Δγ 10³× below Mg's at γ = 0.03 and
    76 pS undoped [fit to paper Fig. 7]; energy 18 aJ µm⁻² nS⁻¹ at its γ ≈ 0.1 operating
    point [paper] (gate resistance derived); window 10–100 µS around that point (≈ 700
    pulses across) [assumed]; OCP law as Mg's with zero at the operating point [assumed];
    electronically insulating electrolyte [assumed].  ``environment="air"``: protons are
    lost with a 3 s time constant [fit to "over a few seconds", paper Fig. 8b];
    ``"inert"`` (Ar, or encapsulated): no loss.  Variability as :func:`mg_wo3` [fit].
    """
    if environment not in ("air", "inert"):
        raise ValueError(f"environment must be 'air' or 'inert', got {environment!r}")
    return _h_law(ion_loss_time=H_ION_LOSS_TIME_AIR if environment == "air" else math.inf,
                  rest_condition=rest_condition, rest_voltage=rest_voltage, variability=TRAIN_VARIABILITY,
                  ocp_offset_std=TRAIN_OCP_OFFSET_STD)


def h_wo3_inert() -> ECRAMDevice:
    """H-EIS in an inert atmosphere (Ar) or encapsulated: :func:`h_wo3` without proton loss.

    In Ar the H-EIS retains like Mg-EIS at OCP = 0 [paper Fig. 8b]."""
    return h_wo3(environment="inert")


def o_wo3() -> ECRAMDevice:
    """O-EIS (WO₃₋ₓ with O²⁻ as the working ion), the paper's energy comparison, for training.

    Channel response per donated electron as Mg's [assumed], film geometry and window as
    :func:`mg_wo3`; driven by ±7.2 V × 0.5 s voltage pulses — the gate voltage at which
    the paper's 2 pJ µm⁻² nS⁻¹ [paper] (Kim et al. IEDM 2019, as cited) follows from the Mg law
    [derived] — through a gate resistance that passes the training preset's 1 µC per pulse
    (3.6 MΩ) [derived]; electronically insulating electrolyte [assumed]; slow re-oxidation
    in air, 1 day [assumed, paper §1 qualitative].  Variability as :func:`mg_wo3` [fit].
    """
    charge = TRAIN_PULSE_CURRENT * MG_PULSE_WIDTH
    return _mg_law(g_min=TRAIN_WINDOW[0], g_max=TRAIN_WINDOW[1], leak_ratio=0.0, pulse_mode="voltage",
                   pulse_voltage=O_PULSE_VOLTAGE, gate_resistance=O_PULSE_VOLTAGE * MG_PULSE_WIDTH / charge,
                   ion_loss_time=O_ION_LOSS_TIME, variability=TRAIN_VARIABILITY,
                   ocp_offset_std=TRAIN_OCP_OFFSET_STD)


#: Onen et al., Science 377, 539 (2022), as cited by the paper: 30 nm × 60 nm cells, 5 ns
#: pulses, ≈ 15 aJ of proton transfer and ≈ 2.7 fJ per pulse with dynamic dissipation [pub].
NS_GEOMETRY = ECRAMGeometry(channel_width=60e-9, channel_length=30e-9, thickness=10e-9,
                            exchange_area=30e-9 * 60e-9)   # w/l and 10 nm thickness [assumed]
NS_PULSE_WIDTH = 5e-9
NS_ION_ENERGY = 15e-18
NS_TOTAL_ENERGY = 2.7e-15
NS_STEPS = 500   # pulses across the window at mid-range [assumed]


def proton_ecram_ns() -> ECRAMDevice:
    """Proton ECRAM with nanosecond pulses (Onen et al., Science 2022, as the paper cites).

    30 × 60 nm² cell (channel 60 nm wide, 30 nm long, 10 nm WO₃ [assumed]), 5 ns pulses,
    15 aJ of ionic work and 2.7 fJ in total per pulse [pub] (so 2.685 fJ dynamic
    [derived]).  The H law of :func:`h_wo3` scaled to this geometry [derived]; window
    0.5–5 µS (the 10–100 µS film window scaled) [derived]; the pulse charge gives ≈ 500
    steps across the window [assumed], and the gate resistance makes the ionic work 15 aJ
    (a ≈ 0.9 V gate overpotential) [derived]; PSG electrolyte, electronically insulating,
    encapsulated: no leak, no proton loss [assumed].  No variability data: as
    :func:`mg_wo3` [assumed].
    """
    film = dataclasses.replace(_h_law(), ion_loss_time=math.inf, variability=TRAIN_VARIABILITY,
                               ocp_offset_std=TRAIN_OCP_OFFSET_STD, g_eq=math.sqrt(TRAIN_WINDOW[0] * TRAIN_WINDOW[1]))
    dev = film.scaled(NS_GEOMETRY, pulse_width=NS_PULSE_WIDTH)
    g_mid = 0.5 * (dev.g_min + dev.g_max)
    step = (dev.g_max - dev.g_min) / NS_STEPS
    charge = step / (dev.sensitivity * (g_mid / dev.g_ref) ** dev.exponent)
    current = charge / NS_PULSE_WIDTH
    overpotential = NS_ION_ENERGY / charge
    return dataclasses.replace(dev, pulse_current=current, gate_resistance=overpotential / current,
                               dynamic_energy=NS_TOTAL_ENERGY - NS_ION_ENERGY)


# ----------------------------------------------------------------------------- provenance
_FILM_GEOMETRY = {f"geometry.{k}": "paper: 100 × 500 µm² channel, 80 nm WO₃ film, 1 × 0.6 cm² in contact (§2, §7)"
                  for k in ("channel_width", "channel_length", "thickness", "exchange_area")}
#: The Mg law in the paper's film geometry (the constants above and their tags).
_MG_LAW = {
    "sensitivity": "paper: κ = 0.3 µS/(10 µA × 0.5 s) = 0.06 µS µC⁻¹, Fig. 3d",
    "g_ref": "paper: 5 µS, Fig. 3d",
    "exponent": "derived: ΔG(tens of µS) > 3 × ΔG(≈1 µS), Fig. 3e",
    "ocp_slope": "paper: 110 mV per decade, Fig. 3b",
    "g_eq": "paper: 40 µS, zero OCP, Fig. 8a",
    "gate_resistance": "derived: from 90 aJ µm⁻² nS⁻¹ [paper §5], 32.4 kΩ",
    "g_undoped": "paper: 80 nS, the bottom of the range reached (§6)",
    "leak_ratio": "paper: σ_e/σ_ion of the PCE electrolyte, §5",
    **_FILM_GEOMETRY,
}
_MG_FILM = {
    **_MG_LAW,
    "g_min": "paper: 80 nS – 2.3 mS, the range reached (§6)",
    "g_max": "paper: 80 nS – 2.3 mS, the range reached (§6)",
    "pulse_mode": "paper: current pulses",
    "pulse_current": "paper: ±10 µA, Figs. 3d, 4, 7",
    "pulse_width": "paper: 0.5 s",
    "variability.d2d_step": "fit: κ 5 % device to device (\"consistent across devices\", Fig. 4)",
    "variability.c2c": "fit: 5 % cycle to cycle",
    "ocp_offset_std": "fit: 2 mV",
}
_TRAIN_SPREADS = {
    "variability.d2d_step": "fit: κ 10 % device to device",
    "variability.d2d_asymmetry": "fit: up/down asymmetry 2 % device to device",
    "variability.c2c": "fit: 10 % cycle to cycle",
    "ocp_offset_std": "fit: 5 mV cell-to-cell OCP offsets (the paper's Fig. 5 drift)",
}
_TRAIN_WINDOW = {"g_min": "assumed: 10–100 µS training window around G_eq (module docstring)",
                 "g_max": "assumed: 10–100 µS training window around G_eq (module docstring)"}
_MG_TRAIN = {
    **_MG_LAW, **_TRAIN_WINDOW, **_TRAIN_SPREADS,
    "pulse_mode": "assumed: ±2 µA × 0.5 s current pulses",
    "pulse_current": "assumed: 2 µA, one of the amplitudes of Fig. 4b's sweep",
    "pulse_width": "assumed: ±2 µA × 0.5 s training pulse (0.5 s the paper's width)",
}
_SCALED = "derived: ECRAMDevice.scaled to the new geometry"
_H_LAW = {
    "g_undoped": "derived: 1.9e-6 S cm⁻¹ before pulsing [paper §5, Fig. 7b] in the film geometry, 76 pS",
    "g_ref": "paper: 5 µS, the Mg law's reference",
    "exponent": "fit: p = 0.78, to paper Fig. 7 (Δσ/Δγ 10³× below Mg's at γ = 0.03, 76 pS undoped)",
    "ocp_slope": "assumed: the OCP law as Mg's",
}
_H_WO3 = {
    **_H_LAW, **_TRAIN_SPREADS,
    "g_min": "assumed: 10–100 µS window around the γ ≈ 0.1 operating point",
    "g_max": "assumed: 10–100 µS window around the γ ≈ 0.1 operating point",
    "sensitivity": "derived: the H law's κ [fit to paper Fig. 7] moved to the H-EIS geometry (× 2000)",
    "g_eq": "assumed: OCP zero at the γ ≈ 0.1 operating point, 29.5 µS [derived]",
    "gate_resistance": "derived: from 18 aJ µm⁻² nS⁻¹ at the operating point [paper], 55 kΩ",
    "geometry.channel_width": "assumed: w/l = 5, as the Mg film",
    "geometry.channel_length": "assumed: w/l = 5, as the Mg film",
    "geometry.thickness": "assumed: the Mg film's 80 nm",
    "geometry.exchange_area": "derived: 2.5 nC/5 µC of the Mg film's (the same Δγ ≈ 1e-4 per pulse [paper])",
    "leak_ratio": "assumed: electronically insulating electrolyte",
    "pulse_mode": "paper: ±0.5 µA × 5 ms current pulses (Yao et al. 2020, as cited)",
    "pulse_current": "paper: 0.5 µA, Δγ ≈ 1e-4 per pulse",
    "pulse_width": "paper: 5 ms",
}
_100NM = {
    **_MG_TRAIN,
    **{k: f"{_SCALED}: × (w/l)·t ratio (mg-wo3's value)" for k in ("g_min", "g_max", "g_undoped", "g_ref", "g_eq")},
    "sensitivity": f"{_SCALED}: κ × (w/l ratio)/(A_ex ratio) = × 1.2e9",
    "gate_resistance": f"{_SCALED}: × 1/(A_ex ratio)",
    "pulse_current": f"{_SCALED}: the same charge fraction per 0.5 s pulse, 0.33 fA",
    "geometry.channel_width": "paper: 100 nm, the paper's target cell size",
    "geometry.channel_length": "paper: 100 nm, the paper's target cell size",
    "geometry.thickness": "assumed: 80 nm",
    "geometry.exchange_area": "assumed: the whole 100 × 100 nm² channel exchanges ions",
}
_NS_SPREADS = {k: "assumed: no variability data, as mg-wo3" for k in _TRAIN_SPREADS}

#: Provenance of every parameter each preset sets, by field path: ``"tag: note"``
#: transcribed from the docstrings and comments above (the module docstring defines the
#: tags).  Read by :func:`synaptax.devices.describe.describe_preset`; a field not listed is
#: shown ``[untagged]``.
PROVENANCE = {
    "mg-wo3-film": _MG_FILM,
    "mg-wo3-voltage": {
        **_MG_FILM,
        "pulse_mode": "paper: ±1 V × 500 ms voltage pulses, Fig. 5",
        "pulse_voltage": "paper: 1 V, Fig. 5",
    },
    "mg-wo3": _MG_TRAIN,
    "mg-wo3-100nm": _100NM,
    "h-wo3": {**_H_WO3, "ion_loss_time": "fit: 3 s, to \"over a few seconds\" in air, paper Fig. 8b"},
    "h-wo3-inert": {**_H_WO3, "ion_loss_time": "paper: no proton loss in Ar (retains like Mg-EIS), Fig. 8b"},
    "o-wo3": {
        **_TRAIN_WINDOW, **_TRAIN_SPREADS, **{k: "paper: the Mg film's geometry, as mg-wo3" for k in _FILM_GEOMETRY},
        **{k: "assumed: channel response per donated electron as Mg's"
           for k in ("sensitivity", "g_ref", "exponent", "g_undoped")},
        "pulse_mode": "paper: O²⁻ needs high gate voltages (§1): voltage pulses",
        "pulse_voltage": "derived: the V_p at which the paper's 2 pJ µm⁻² nS⁻¹ follows from the Mg law, 7.2 V",
        "gate_resistance": "derived: passes mg-wo3's 1 µC per 0.5 s pulse, 3.6 MΩ",
        "leak_ratio": "assumed: electronically insulating electrolyte",
        "ion_loss_time": "assumed: 1 day, slow re-oxidation in air (paper §1, qualitative)",
    },
    "proton-ecram-ns": {
        **_H_LAW, **_NS_SPREADS,
        "ocp_slope": "assumed: the OCP law as Mg's (the H law of h-wo3)",
        **{k: f"{_SCALED}: the H law of h-wo3 in the 30 × 60 nm² cell" for k in ("g_undoped", "g_ref", "sensitivity")},
        "g_min": f"{_SCALED}: the 10–100 µS film window, 0.5–5 µS",
        "g_max": f"{_SCALED}: the 10–100 µS film window, 0.5–5 µS",
        "geometry.channel_width": "pub: 30 × 60 nm² cells (Onen et al., Science 377, 539 (2022)); w/l [assumed]",
        "geometry.channel_length": "pub: 30 × 60 nm² cells (Onen et al., Science 377, 539 (2022)); w/l [assumed]",
        "geometry.thickness": "assumed: 10 nm WO₃",
        "pulse_width": "pub: 5 ns (Onen et al. 2022)",
        "pulse_current": "derived: the charge of ≈ 500 steps across the window [assumed] in 5 ns",
        "gate_resistance": "derived: makes the ionic work per pulse 15 aJ [pub] (≈ 0.9 V overpotential)",
        "dynamic_energy": "derived: 2.7 fJ in total − 15 aJ ionic [pub], 2.685 fJ",
        "leak_ratio": "assumed: PSG electrolyte, electronically insulating",
        "ion_loss_time": "assumed: encapsulated, no proton loss",
    },
}

#: Name → factory of the ECRAM presets (merged into :data:`synaptax.devices.PRESETS`).
PRESETS = {
    "mg-wo3": mg_wo3,
    "mg-wo3-film": mg_wo3_film,
    "mg-wo3-voltage": mg_wo3_voltage,
    "mg-wo3-100nm": mg_wo3_100nm,
    "h-wo3": h_wo3,
    "h-wo3-inert": h_wo3_inert,
    "o-wo3": o_wo3,
    "proton-ecram-ns": proton_ecram_ns,
}

__all__ = ["PRESETS", "PROVENANCE", "PAPER_FILM", "h_wo3", "h_wo3_inert", "mg_wo3", "mg_wo3_100nm", "mg_wo3_film",
           "mg_wo3_voltage", "o_wo3", "proton_ecram_ns"]
