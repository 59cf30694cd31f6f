"""Validation targets C1–C6: the Mg-ion electrochemical synapse (device-physics.md §C).

Source: Schwacke et al., Adv. Electron. Mater. 2024 (shared/papers/
mg-ion-electrochemical-synapse-MgWO3-AdvElectronMater2024.txt).  Every protocol runs the
paper's film device, :func:`synaptax.devices.electrochemical.presets.mg_wo3_film`, as the paper ran
its devices: current pulses of ±10 µA × 0.5 s, each followed by a 10 s read with the gate
at open circuit, three devices (device-to-device samples) where the paper shows several.
Tolerances are those of device-physics.md where it gives one (C2: ±20 %); where it gives
none the protocol states its own in ``tolerance`` — chosen before running, never widened.
"""
from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..devices.electrochemical.ecram import AJ_PER_UM2_PER_NS, ECRAMDevice, ECRAMGeometry, normalized_pulse_energy
from ..devices.electrochemical import presets as P
from ..devices.core.variability import StepVariability
from .registry import Target, register

SOURCE = "mg-ion-electrochemical-synapse-MgWO3-AdvElectronMater2024.txt"
READ_TIME = 10.0      # s between pulses, the paper's read period [paper §7]
N_DEVICES = 3         # Fig. 4 shows three devices [paper]
SEED = 2024


def _init(device: ECRAMDevice, g0, *, seed: int = SEED, n: int = N_DEVICES):
    g0 = jnp.broadcast_to(jnp.asarray(g0, jnp.result_type(float)), (n,))
    return device.init((n,), key=jax.random.key(seed), conductance=g0)


def _set_conductance(state, g0):
    return eqx.tree_at(lambda s: s.conductance, state, jnp.broadcast_to(jnp.asarray(g0, state.conductance.dtype),
                                                                         state.conductance.shape))


@eqx.filter_jit
def _pulse_train(device: ECRAMDevice, state, signs, read_time, key):
    """Apply one pulse of each sign in ``signs`` (a 1-D array of +1/−1/0), each followed
    by ``read_time`` s at rest; return the final state and the conductance after every
    read, shape ``(len(signs), cells)``."""

    def step(st, inputs):
        s, i = inputs
        n = jnp.full(st.conductance.shape, s)
        st = device.apply_pulses(st, n, key=jax.random.fold_in(key, i))
        st = device.evolve(st, read_time)
        return st, st.conductance

    return jax.lax.scan(step, state, (signs, jnp.arange(signs.shape[0])))


@eqx.filter_jit
def _single_pulses(device: ECRAMDevice, state, currents, widths, key):
    """One potentiation and one depression pulse of each (current, width), each from
    ``state`` and followed by a read: conductances after the reads, shape
    ``(2, len(currents), cells)``."""

    def one(current, width, sign, k):
        dev = dataclasses.replace(device, pulse_current=current, pulse_width=width)
        st = dev.apply_pulses(state, jnp.full(state.conductance.shape, sign), key=k)
        return dev.evolve(st, READ_TIME).conductance

    keys = jax.random.split(key, 2 * currents.shape[0]).reshape(2, currents.shape[0])
    up = jax.vmap(lambda c, w, k: one(c, w, 1.0, k))(currents, widths, keys[0])
    down = jax.vmap(lambda c, w, k: one(c, w, -1.0, k))(currents, widths, keys[1])
    return jnp.stack([up, down])


def _charge_response(device: ECRAMDevice, state, settings, key):
    """Single pulses of each (current [A], width [s]) in ``settings`` from the state's
    conductance, each from the same start and followed by a 10 s read: (ΔG_up, |ΔG_down|)
    per setting and device, shape ``(len(settings), cells)`` each."""
    currents = jnp.asarray([c for c, _ in settings], state.conductance.dtype)
    widths = jnp.asarray([w for _, w in settings], state.conductance.dtype)
    g = np.asarray(_single_pulses(device, state, currents, widths, key))
    g0 = np.asarray(state.conductance)
    return g[0] - g0, g0 - g[1]


def _r2(x, y):
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    return 1.0 - float(np.sum(resid**2) / np.sum((y - y.mean()) ** 2)), float(slope)


# ----------------------------------------------------------------------------- C1
C1_G0 = 20e-6            # S: "G0 in the tens of µS" [paper Fig. 4]
C1_CYCLES = 1000         # 1000 × (10 up + 10 down) = 2×10⁴ pulses [paper Fig. 4, device 3]
C1_SLOPE_TOLERANCE = 0.10


def run_c1() -> dict:
    """ΔG linear in I_p·t_p at fixed G₀ (widths 0.1–0.5 s at 10 µA; currents 2–10 µA at
    0.5 s; potentiation and depression fitted separately, three devices pooled); again
    after 2×10⁴ pulses (1000 cycles of ten up and ten down, 10 s reads), with the cells
    programmed back to G₀."""
    device = P.mg_wo3_film()
    key = jax.random.key(SEED + 1)
    settings = [(10e-6, t) for t in (0.1, 0.2, 0.3, 0.4, 0.5)] + [(i, 0.5) for i in (2e-6, 4e-6, 6e-6, 8e-6)]
    q = np.array([i * t for i, t in settings])

    def fit(state, k):
        up, down = _charge_response(device, state, settings, k)
        x = np.repeat(q, up.shape[1])
        r_up, s_up = _r2(x, up.ravel())
        r_dn, s_dn = _r2(x, down.ravel())
        return min(r_up, r_dn), 0.5 * (s_up + s_dn)

    state = _init(device, C1_G0)
    r2_before, slope_before = fit(state, jax.random.fold_in(key, 0))
    cycle = jnp.concatenate([jnp.ones(10), -jnp.ones(10)])
    signs = jnp.tile(cycle, C1_CYCLES)
    worn, g_trace = _pulse_train(device, state, signs, READ_TIME, jax.random.fold_in(key, 1))
    g_trace = np.asarray(g_trace)
    r2_after, slope_after = fit(_set_conductance(worn, C1_G0), jax.random.fold_in(key, 2))
    ratio = slope_after / slope_before
    passed = r2_before > 0.95 and r2_after > 0.95 and abs(ratio - 1.0) < C1_SLOPE_TOLERANCE
    return {
        "measured": {"r2_before": r2_before, "r2_after_2e4_pulses": r2_after,
                     "slope_before_S_per_C": slope_before, "slope_after_S_per_C": slope_after,
                     "slope_ratio": ratio},
        "expected": {"r2": "> 0.95 before and after", "slope_ratio": "1 (unchanged)"},
        "tolerance": f"R² > 0.95; |slope ratio − 1| < {C1_SLOPE_TOLERANCE}",
        "passed": passed,
        "pulses_applied": int(signs.shape[0]),
        "conductance_range_during_cycling_S": [float(g_trace.min()), float(g_trace.max())],
        "note": "the model has no wear mechanism; the second fit checks that nothing accumulates in the state",
    }


# ----------------------------------------------------------------------------- C2
C2_TOLERANCE = 0.20


def _mean_step(device, g0, key):
    """Mean |ΔG| [S] of one +10 µA and one −10 µA × 0.5 s pulse from ``g0``, each followed
    by a 10 s read, over the devices (the read drift cancels in the mean)."""
    state = _init(device, g0)
    up, down = _charge_response(device, state, [(device.pulse_current, device.pulse_width)], key)
    return float(0.5 * (up.mean() + down.mean())), float(up.mean()), float(down.mean())


def run_c2() -> dict:
    """ΔG per ±10 µA × 0.5 s pulse at G₀ = 5 µS, and ΔG(30 µS)/ΔG(1 µS)."""
    device = P.mg_wo3_film()
    key = jax.random.key(SEED + 2)
    step5, up5, down5 = _mean_step(device, 5e-6, jax.random.fold_in(key, 0))
    step1, _, _ = _mean_step(device, 1e-6, jax.random.fold_in(key, 1))
    step30, _, _ = _mean_step(device, 30e-6, jax.random.fold_in(key, 2))
    ratio = step30 / step1
    passed = abs(step5 / 0.3e-6 - 1.0) <= C2_TOLERANCE and ratio > 3.0
    return {
        "measured": {"delta_g_at_5uS_S": step5, "ratio_30uS_to_1uS": ratio},
        "expected": {"delta_g_at_5uS_S": 0.3e-6, "ratio_30uS_to_1uS": "> 3"},
        "tolerance": "±20 % on ΔG(5 µS)",
        "passed": passed,
        "delta_g_up_down_at_5uS_S": [up5, down5],
        "delta_g_at_1uS_and_30uS_S": [step1, step30],
    }


# ----------------------------------------------------------------------------- C3
def _net_drift(device, g0, key):
    state = _init(device, g0)
    signs = jnp.concatenate([jnp.ones(10), -jnp.ones(10)])
    _, g = _pulse_train(device, state, signs, READ_TIME, key)
    return float(jnp.mean(g[-1] - state.conductance))


def run_c3() -> dict:
    """Ten potentiation then ten depression pulses, 10 s reads at open circuit: the net
    change points toward G_eq (up from 5 µS, down from 200 µS); no drift without the leak."""
    device = P.mg_wo3_film()
    key = jax.random.key(SEED + 3)
    below = _net_drift(device, 5e-6, jax.random.fold_in(key, 0))
    above = _net_drift(device, 200e-6, jax.random.fold_in(key, 1))
    sealed = dataclasses.replace(device, leak_ratio=0.0, variability=dataclasses.replace(device.variability, c2c=0.0))
    control = _net_drift(sealed, 5e-6, jax.random.fold_in(key, 2))
    return {
        "measured": {"net_delta_g_from_5uS_S": below, "net_delta_g_from_200uS_S": above},
        "expected": {"net_delta_g_from_5uS_S": "> 0 (G < G_eq = 40 µS)", "net_delta_g_from_200uS_S": "< 0"},
        "tolerance": "sign",
        "passed": below > 0 and above < 0,
        "control_no_electronic_leak_from_5uS_S": control,
    }


# ----------------------------------------------------------------------------- C4
C4_G_START = 1e-3
C4_TOLERANCE = 0.20       # "settle near 40 µS": within ±20 %
C4_DURATION = 48 * 3600.0


@eqx.filter_jit
def _relax_trace(device, state, dts):
    def step(st, dt):
        st = device.evolve(st, dt)
        return st, st.conductance

    return jax.lax.scan(step, state, dts)


def retention_trace(device: ECRAMDevice, g_start: float, times) -> np.ndarray:
    """Mean conductance [S] of the protocol's devices at ``times`` [s] (increasing, from 0)
    after being left at rest from ``g_start`` [S] (the device's own rest condition)."""
    times = np.asarray(times, float)
    dts = jnp.asarray(np.diff(np.concatenate([[0.0], times])))
    _, g = _relax_trace(device, _init(device, g_start), dts)
    return np.asarray(g).mean(axis=1)


def run_c4() -> dict:
    """From ≈ 1 mS, left at open circuit and held at V_rest = 0 V for 48 h: both settle
    near G_eq = 40 µS, open circuit more slowly."""
    g_eq = P.G_EQ
    times = np.concatenate([np.linspace(0, 600, 61)[1:], np.linspace(600, C4_DURATION, 2000)[1:]])
    out = {}
    for name, cond in (("open_circuit", "open-circuit"), ("held_0V", "held")):
        g = retention_trace(P.mg_wo3_film(rest_condition=cond, rest_voltage=0.0), C4_G_START, times)
        inside = np.abs(g / g_eq - 1.0) <= C4_TOLERANCE
        settle = float(times[np.argmax(inside)]) if inside.any() else math.inf
        out[name] = (float(g[-1]), settle)
    (g_oc, t_oc), (g_0v, t_0v) = out["open_circuit"], out["held_0V"]
    passed = (abs(g_oc / g_eq - 1) <= C4_TOLERANCE and abs(g_0v / g_eq - 1) <= C4_TOLERANCE and t_oc > t_0v)
    return {
        "measured": {"final_g_open_circuit_S": g_oc, "final_g_held_0V_S": g_0v,
                     "settle_time_open_circuit_s": t_oc, "settle_time_held_0V_s": t_0v,
                     "settle_time_ratio": t_oc / t_0v if t_0v > 0 else math.inf},
        "expected": {"final_g_S": g_eq, "settle_time_ratio": "> 1 (≈ 1 + σ_ion/σ_e = 26 near G_eq)"},
        "tolerance": "final conductances within ±20 % of 40 µS after 48 h; settle = first time within ±20 %",
        "passed": passed,
    }


# ----------------------------------------------------------------------------- C5
def run_c5() -> dict:
    """Galvanostatic intercalation at 1 nA through the film's whole range (Fig. 3a–b):
    the smallest cell-voltage change spanning a 10× change in conductance."""
    device = dataclasses.replace(P.mg_wo3_film(), variability=StepVariability(), ocp_offset_std=0.0)
    current = 1e-9
    g_lo, g_hi = device.g_min, device.g_max
    charge_total = float(device.conductance_to_charge(g_lo, g_hi))
    t = np.linspace(0.0, charge_total / current, 20001)
    g = np.asarray(device.charge_to_conductance(g_lo, current * t))
    ir = current * device.gate_resistance
    v = np.asarray(device.open_circuit_potential(g)) + ir
    # voltage needed for 10× from every sampled start with 10·G still in range
    logg = np.log10(g)
    ok = logg + 1.0 <= logg[-1]
    dv = np.interp(logg[ok] + 1.0, logg, v) - v[ok]
    measured = round(float(dv.min()), 4)   # the paper's precision, 0.1 mV
    return {
        "measured": {"ocp_change_for_10x_V": measured},
        "expected": {"ocp_change_for_10x_V": "<= 0.110"},
        "tolerance": "<= 110 mV (measured rounded to 0.1 mV)",
        "passed": measured <= 0.110,
        "ocp_window_V": [float(v[0] - ir), float(v[-1] - ir)],
        "paper_ocp_window_V": [-0.13, 0.23],
        "note": ("V_OCP = S·log10(G/G_eq) with S from Fig. 3b, so the decade takes S everywhere; over the whole "
                 "80 nS–2.3 mS range the law spans a wider window than the paper's galvanostatic −0.13…+0.23 V"),
    }


# ----------------------------------------------------------------------------- C6
C6_TOLERANCE = 0.20


def run_c6() -> dict:
    """Energy of ±10 µA × 0.5 s pulses at G₀ = 5 µS (|I|·t_p·|V_G| with V_G = V_OCP ± I·R),
    per ion-exchange area (0.6 cm²) and per conductance change, against 90 aJ µm⁻² nS⁻¹."""
    device = P.mg_wo3_film()
    state = _init(device, 5e-6)
    energy = device.pulse_energy(state)
    e_mean = float(jnp.mean(0.5 * (energy.up + energy.down)))
    noiseless = dataclasses.replace(device, variability=dataclasses.replace(device.variability, c2c=0.0))
    up = noiseless.apply_pulses(state, jnp.ones(N_DEVICES), key=jax.random.key(0)).conductance - state.conductance
    down = state.conductance - noiseless.apply_pulses(state, -jnp.ones(N_DEVICES), key=jax.random.key(0)).conductance
    dg = float(jnp.mean(0.5 * (up + down)))
    norm = e_mean / (device.geometry.exchange_area * dg) / AJ_PER_UM2_PER_NS
    cell = P.mg_wo3_film().scaled(ECRAMGeometry.square_cell(100e-9))
    cell_per_ns = float(normalized_pulse_energy(cell, cell.g_ref)) * cell.geometry.exchange_area * 1e-9 / 1e-18
    same_aspect = P.mg_wo3_film().scaled(ECRAMGeometry(channel_width=100e-9, channel_length=20e-9,
                                                       thickness=80e-9, exchange_area=1e-14))
    return {
        "measured": {"energy_per_area_per_conductance_aJ_um2_nS": norm},
        "expected": {"energy_per_area_per_conductance_aJ_um2_nS": 90.0},
        "tolerance": "±20 %",
        "passed": abs(norm / 90.0 - 1.0) <= C6_TOLERANCE,
        "energy_per_pulse_J": e_mean,
        "delta_g_per_pulse_S": dg,
        "mean_gate_voltage_V": e_mean / device.pulse_charge,
        "cell_100nm_square_aJ_per_nS": cell_per_ns,
        "cell_100nm_w_over_l_5_aJ_per_nS": float(normalized_pulse_energy(same_aspect, same_aspect.g_ref))
        * 1e-14 * 1e-9 / 1e-18,
        "note": ("the gate resistance is derived from this figure (E = Q·I·R on average), so the check confirms "
                 "the energy law, geometry and sensitivity are consistent; the 100×100 nm² cell needs 0.9 aJ/nS at "
                 "the film's w/l = 5 and 5× that for a square channel (E/(A·ΔG) ∝ l/w)"),
    }


register(Target("C1", "Mg-EIS: ΔG linear in I_p·t_p (R² > 0.95 at fixed G₀), unchanged after 2×10⁴ pulses",
                f"{SOURCE}, Fig. 4", run_c1))
register(Target("C2", "Mg-EIS: ΔG = 0.3 µS ± 20 % per ±10 µA × 0.5 s pulse at 5 µS; ΔG(30 µS)/ΔG(1 µS) > 3",
                f"{SOURCE}, Fig. 3d–e", run_c2))
register(Target("C3", "Mg-EIS: equal ± pulses with 10 s open-circuit reads drift toward G_eq = 40 µS",
                f"{SOURCE}, Figs. 3d–e and §5 (leaky electrolyte)", run_c3))
register(Target("C4", "Mg-EIS: from 1 mS, open circuit and V_rest = 0 both settle near 40 µS, open circuit slower",
                f"{SOURCE}, Fig. 8a", run_c4))
register(Target("C5", "Mg-EIS: a 10× conductance change needs <= 110 mV of OCP",
                f"{SOURCE}, Fig. 3b", run_c5))
register(Target("C6", "Mg-EIS: energy per pulse = 90 aJ µm⁻² nS⁻¹ ± 20 % of ion-exchange area and ΔG",
                f"{SOURCE}, §5", run_c6))

__all__ = [
    "C1_CYCLES", "C1_G0", "C1_SLOPE_TOLERANCE", "C2_TOLERANCE", "C4_DURATION", "C4_G_START", "C4_TOLERANCE",
    "C6_TOLERANCE", "N_DEVICES", "READ_TIME", "SEED", "SOURCE", "retention_trace", "run_c1", "run_c2",
    "run_c3", "run_c4", "run_c5", "run_c6",
]
