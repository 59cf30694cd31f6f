"""Validation targets D1–D6: the Co/Gd compensated-ferrimagnet SOT device.

Source: ``shared/papers/cogd-ferrimagnet-sot-switching-plasticity-ChinPhysB2022.txt``
(Li et al., Chin. Phys. B 31, 117106 (2022)); targets and tolerances from
``shared/docs/device-physics.md`` §D.  The paper's figures are described but their
numbers are not in the text, so D1–D5 are the qualitative trends it states, each made a
checkable criterion here (stated in every result's ``tolerance``); D6 is its MNIST
comparison, run on the data synaptax bundles.
"""
from __future__ import annotations

import math
import tempfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..devices.spintronic.cogd import OE, CoGdDevice, anisotropy_field
from .registry import Target, register

SOURCE = "cogd-ferrimagnet-sot-switching-plasticity-ChinPhysB2022.txt"
THICKNESSES = (0.0, 0.5e-9, 1.0e-9, 1.5e-9, 2.0e-9)  # AlOx [m], the paper's samples
HX_SERIES_OE = (200.0, 400.0, 600.0, 800.0, 1000.0)  # Fig. 2(a)/(d): AlOx 1 nm
HX_FIXED_OE = 800.0  # Fig. 2(b)/(e)


def _device(alox: float, h_x_oe: float, n_regions: int = 256) -> CoGdDevice:
    """The paper's Hall bar (10 µm, 10 ms) at AlOx thickness ``alox`` [m] and ``H_x`` [Oe]."""
    return CoGdDevice(n_regions=n_regions, h_x=h_x_oe * OE, h_k=anisotropy_field(alox))


def _traced(dev: CoGdDevice) -> CoGdDevice:
    """``dev`` with its numeric parameters as arrays, so one compilation serves all devices."""
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v) if isinstance(v, float) else v, dev)


@eqx.filter_jit
def _sweep(dev, state, currents, key):
    return dev.sweep(state, currents, key=key)


def _series():
    """The three series of Fig. 2: vs H_x (AlOx 1 nm), vs AlOx at 800 Oe, vs AlOx at h = 0.5."""
    return {
        "vs_hx_alox_1nm": [(1e-9, hx) for hx in HX_SERIES_OE],
        "vs_alox_hx_800oe": [(t, HX_FIXED_OE) for t in THICKNESSES],
        "vs_alox_h_0.5": [(t, 0.5 * anisotropy_field(t) / OE) for t in THICKNESSES],
    }


# ---------------------------------------------------------------------- D1
def run_d1() -> dict:
    """Full R_hall–I loops (0 → +I_max → −I_max → +I_max, 100 pulses per quarter, I_max = 1.2·I_c0)
    of one 256-region device per condition; ΔR_ratio = current-induced ΔR / field-induced
    ΔR (= 2·R_AHE, the untilted saturated film)."""
    out, ok = {}, True
    for name in ("vs_hx_alox_1nm", "vs_alox_hx_800oe"):
        rows = []
        for i, (t, hx) in enumerate(_series()[name]):
            dev = _device(t, hx)
            up = np.linspace(0.0, 1.2 * float(dev.critical_current), 100)
            loop = np.concatenate([up, up[::-1], -up, -up[::-1], up]) * float(dev.set_polarity)
            state = dev.init((), key=jax.random.key(10 + i))
            _, r = _sweep(_traced(dev), state, jnp.asarray(loop), jax.random.key(100 + i))
            r = np.asarray(r)
            ratio = float((r.max() - r.min()) / (2.0 * dev.anomalous_hall_resistance))
            rows.append({"alox_nm": t * 1e9, "h_x_oe": hx, "h": dev.field_ratio, "dR_ratio": ratio,
                         "cos_theta_M": math.cos(float(dev.tilt_angle))})
        below = all(r["dR_ratio"] <= r["cos_theta_M"] * (1 + 1e-6) for r in rows)  # float32 reads
        decreasing = all(b["dR_ratio"] < a["dR_ratio"] for a, b in zip(rows, rows[1:]))
        ok = ok and below and decreasing
        out[name] = rows
    return {
        "measured": {k: [round(r["dR_ratio"], 4) for r in v] for k, v in out.items()},
        "expected": {k: [f"<= {r['cos_theta_M']:.4f}, decreasing" for r in v] for k, v in out.items()},
        "tolerance": "ΔR_ratio ≤ cos θ_M at every point and strictly decreasing as h = |H_x|/H_k grows",
        "passed": ok,
        "details": out,
        "note": "all regions switch within ±1.2·I_c0, so ΔR_ratio = cos θ_M up to the last unswitched region; "
                "the paper's ratios also fall below cos θ_M, which this model does not try to reproduce",
    }


# ---------------------------------------------------------------------- D2
def current_window(dev: CoGdDevice, *, lo: float = 0.05, hi: float = 0.95, points: int = 2000):
    """``(ΔI, I_50)`` [A] of the rising branch of an R_hall–I loop (pulses from 0 to
    1.2·I_c0 in ``points`` steps, from full RESET): ``ΔI = I(hi) − I(lo)`` of the expected
    switched fraction (the barrier distribution integrated, no sampling noise)."""
    currents = np.linspace(0.0, 1.2 * float(dev.critical_current), points)
    frac = np.asarray(dev.expected_sweep(currents), dtype=np.float64)
    q = lambda p: float(np.interp(p, frac, currents))  # noqa: E731
    return q(hi) - q(lo), q(0.5)


def run_d2() -> dict:
    measured, checks = {}, {}
    for name, conds in _series().items():
        rows = []
        for t, hx in conds:
            dev = _device(t, hx)
            di, i50 = current_window(dev)
            rows.append({"alox_nm": t * 1e9, "h_x_oe": round(hx, 1), "h": round(dev.field_ratio, 4),
                         "h_k_oe": round(float(dev.h_k) / OE, 1), "delta_I_mA": di * 1e3, "I50_mA": i50 * 1e3})
        di = np.array([r["delta_I_mA"] for r in rows])
        steps = np.diff(di)
        checks[name] = {"monotonic": bool(np.all(steps > 0)), "superlinear": bool(np.all(np.diff(steps) > 0))}
        measured[name] = rows
    small = _device(1e-9, 100.0)
    di_small, i50_small = current_window(small)
    big = measured["vs_hx_alox_1nm"][-1]
    rel_small = di_small / i50_small
    rel_big = big["delta_I_mA"] / big["I50_mA"]
    checks["near_binary_at_small_h"] = {"h": round(small.field_ratio, 4), "delta_I_over_I50": rel_small,
                                        "passed": bool(rel_small < 0.05 and rel_big > 3 * rel_small)}
    passed = all(c["monotonic"] and c["superlinear"] for k, c in checks.items() if k != "near_binary_at_small_h") \
        and checks["near_binary_at_small_h"]["passed"]
    return {
        "measured": {k: [round(r["delta_I_mA"], 3) for r in v] for k, v in measured.items()}
        | {"delta_I_over_I50_small_h": round(rel_small, 4), "delta_I_over_I50_h_0.48": round(rel_big, 4)},
        "expected": "ΔI increasing and convex along each series; ΔI/I50 < 0.05 at h = 0.05 and > 3× that at the "
                    "largest H_x",
        "tolerance": "strict: every step positive, every second difference positive",
        "passed": passed,
        "checks": checks,
        "details": measured,
        "definition": "ΔI: current range between 5 % and 95 % of the switched fraction on the rising branch of a "
                      "10 ms pulse sweep (the paper's 'current range covering full ΔR_hall'), mA",
        "note": "H_k(AlOx) is a [fit] line through the trend of Fig. 2(f); absolute ΔI (1–2.2 mA) is narrower "
                "than the paper's loops look: a thermally activated normal barrier distribution that is stable at "
                "rest cannot give much wider windows (see spintronic/README.md)",
    }


# ---------------------------------------------------------------------- D3
def run_d3() -> dict:
    """Minor loops of one 256-region device (AlOx 2 nm, H_x = −500 Oe, 10 ms pulses): from
    full RESET, sweep up (0.1 mA steps) to I_max (where the rising branch reaches 10/30/50/
    70 %), back down through zero to just short of the reverse threshold, then all the way
    to full RESET."""
    dev = _device(2e-9, -500.0)
    state = dev.init((4,), key=jax.random.key(3))
    state = eqx.tree_at(lambda s: s.barrier_z, state,
                        jnp.broadcast_to(state.barrier_z[0], state.barrier_z.shape))  # one device, four runs
    step = 0.1e-3
    grid = np.arange(0.0, 1.2 * float(dev.critical_current), step)
    swept = np.asarray(dev.expected_sweep(grid), dtype=np.float64)
    i_max = np.interp([0.1, 0.3, 0.5, 0.7], swept, grid)  # rising branch reaches 10/30/50/70 %
    i_hold = dev.current_for_fraction(0.001)  # below this a pulse switches (almost) nothing
    i_back = 0.9 * i_hold  # the reverse branch: same window, opposite polarity
    ups = [np.arange(0.0, m + step / 2, step) for m in i_max]
    downs = [np.arange(m, -i_back, -step) for m in i_max]
    n_up, n_down = max(u.size for u in ups), max(d.size for d in downs)
    pad = lambda a, n: np.concatenate([np.zeros(n - a.size), a])  # noqa: E731  (zero current: no pulse)
    up = np.stack([pad(u, n_up) for u in ups], 1)
    down = np.stack([np.concatenate([d, np.full(n_down - d.size, d[-1])]) for d in downs], 1)
    pol = float(dev.set_polarity)
    state = dev.apply_current(state, -1.5 * float(dev.critical_current) * pol, key=jax.random.key(4))
    state, r_up = dev.sweep(state, up * pol, key=jax.random.key(5))
    state, r_down = dev.sweep(state, down * pol, key=jax.random.key(6))
    retention = np.asarray(dev.retention_time(state))
    state, r_final = dev.sweep(state, -np.linspace(0, 1.5 * float(dev.critical_current), 200)[:, None]
                               * np.ones((1, 4)) * pol, key=jax.random.key(7))
    r_sat = dev.anomalous_hall_resistance * math.cos(float(dev.tilt_angle))
    r_down = np.asarray(r_down)
    # the level a minor loop holds: R once the current has dropped below the switching window
    below = down < i_hold
    first = np.argmax(below, axis=0)
    held = r_down[first, np.arange(4)]
    drift = np.max(np.where(below, np.abs(r_down - held[None, :]), 0.0), axis=0) / (2 * r_sat)
    levels = (held + r_sat) / (2 * r_sat)
    distinct = bool(np.all(np.diff(levels) > 0.05) and levels[0] > 0.02 and levels[-1] < 0.98)
    flat = bool(np.all(drift <= 0.01))
    years = float(retention.min()) / 3.15576e7
    closed = bool(np.allclose(np.asarray(r_final)[-1], -r_sat, rtol=1e-5))
    return {
        "measured": {"levels_normalised": [round(float(v), 4) for v in levels],
                     "max_drift_on_return_fraction_of_full_dR": [round(float(v), 5) for v in drift],
                     "weakest_region_retention_years": years, "loops_close_at_full_reset": closed},
        "expected": {"levels": "4 distinct intermediate levels", "drift": "≤ 0.01", "retention_years": "≥ 10"},
        "tolerance": "levels separated by > 0.05 of the full ΔR; once the current is below the switching window "
                     "(0.1 % current) the return branch stays within 1 % of the full ΔR down to −0.9× that current; "
                     "τ0·exp(min Δ_i) ≥ 10 years; full RESET closes every loop",
        "passed": distinct and flat and years >= 10.0 and closed,
        "i_max_mA": [round(float(v) * 1e3, 3) for v in i_max],
        "hold_current_mA": round(i_hold * 1e3, 3),
        "reverse_current_reached_mA": round(-i_back * 1e3, 3),
    }


# ---------------------------------------------------------------------- D4
def run_d4() -> dict:
    """The neuron: one device (256 regions), for each current from −5 to 30 mA (0.25 mA
    steps), RESET then one SET pulse, read once; logistic fit of Y(I)."""
    from ..training.neurons import CoGdNeuron, fit_logistic

    dev = _device(2e-9, -500.0)
    neuron = CoGdNeuron(dev)
    currents = np.arange(-5e-3, 30e-3 + 1e-9, 0.25e-3)
    y = np.asarray(neuron.measure(currents, key=jax.random.key(4)), dtype=np.float64)
    fit = fit_logistic(currents, y)
    mean_fit = fit_logistic(np.asarray(neuron.table_current), np.asarray(neuron.table_fraction))
    x = np.linspace(-6, 6, 241)
    dev_sigmoid_err = float(np.max(np.abs(np.asarray(neuron.mean(x)) - 1 / (1 + np.exp(-x)))))
    return {
        "measured": {"r2": fit.r2, "X0_mA": fit.x0 * 1e3, "K_mA": fit.k * 1e3},
        "expected": {"r2": "> 0.99"},
        "tolerance": "R² > 0.99",
        "passed": fit.r2 > 0.99,
        "points_in_transition": int(np.sum((y > 0.02) & (y < 0.98))),
        "mean_response_fit": {"X0_mA": mean_fit.x0 * 1e3, "K_mA": mean_fit.k * 1e3, "r2": mean_fit.r2},
        "max_abs_difference_mean_response_vs_sigmoid": dev_sigmoid_err,
        "note": "the rise spans ≈ 1.5 mA around 17.5 mA (K ≈ 0.2 mA): sigmoid-like but sharper than the paper's "
                "figure appears",
    }


# ---------------------------------------------------------------------- D5
def run_d5() -> dict:
    """STDP window: Δt from −12 to +12 ms (1 ms steps), 16 devices (128 regions each) per
    delay, demagnetised before each pair, paper-style spikes (:func:`paper_spikes`)."""
    from ..training.stdp import paper_spikes, stdp_window

    dev = _device(2e-9, -500.0, n_regions=128)
    delays = np.arange(-12, 13) * 1e-3
    spikes = paper_spikes(dev)
    dr = np.asarray(stdp_window(dev, delays, key=jax.random.key(5), spikes=spikes, repeats=16), dtype=np.float64)
    mag = np.abs(dr)
    peak = float(mag.max())
    peak_at = float(delays[int(np.argmax(mag))])
    edge = float(max(mag[0], mag[-1]) / peak)
    asym = float(np.max(np.abs(mag - mag[::-1])) / peak)
    return {
        "measured": {"peak_at_ms": peak_at * 1e3, "edge_over_peak": edge, "asymmetry_over_peak": asym,
                     "dR_ohm": [round(v, 4) for v in dr.tolist()]},
        "expected": {"peak_at_ms": "|Δt| ≤ 1", "edge_over_peak": "≤ 0.05", "asymmetry_over_peak": "≤ 0.1"},
        "tolerance": "peak of |ΔR| within 1 ms of Δt = 0; |ΔR(±12 ms)| ≤ 5 % of the peak; "
                     "max |ΔR(Δt)| − |ΔR(−Δt)| ≤ 10 % of the peak (sampling noise of 16 × 128 regions ≈ 2 %)",
        "passed": abs(peak_at) <= 1e-3 + 1e-12 and edge <= 0.05 and asym <= 0.1,
        "delays_ms": (delays * 1e3).tolist(),
        "spike_amplitudes_mA": {"pre_start": float(spikes.pre[0]) * 1e3, "pre_end": float(spikes.pre[-1]) * 1e3,
                                "duration_ms": spikes.pre.size * spikes.dt * 1e3},
    }


# ---------------------------------------------------------------------- D6
D6_EPOCHS = 10


def run_d6(epochs: int = D6_EPOCHS) -> dict:
    """784-100-10, floating-point weights, SGD (lr 0.5, batch 16), ``epochs`` epochs on the
    bundled 5,000 training images, tested on the 10,000 test images: ideal sigmoid vs the
    Co/Gd device neuron's mean response (``cogd-neuron``), same seed, initialisation and
    data order."""
    from ..training.loop import TrainConfig, train

    acc = {}
    for act in ("sigmoid", "cogd-neuron"):
        with tempfile.TemporaryDirectory() as run:
            rep = train(TrainConfig(algorithm="float", activation=act, epochs=epochs), run, log=lambda s: None)
        acc[act] = rep["test_accuracy"]
    gap = 100.0 * (acc["sigmoid"] - acc["cogd-neuron"])
    return {
        "measured": {"ideal_sigmoid_accuracy": acc["sigmoid"], "device_neuron_accuracy": acc["cogd-neuron"],
                     "gap_percentage_points": gap},
        "expected": {"gap_percentage_points": "≤ 0.3 (paper: 97.8 % vs 97.7 %, full 60k training set)"},
        "tolerance": "ideal − device ≤ 0.3 percentage points",
        "passed": gap <= 0.3,
        "epochs": epochs,
        "train_samples": 5000,
        "test_samples": 10000,
    }


register(Target("D1", "Co/Gd: ΔR_ratio ≤ cos θ_M and decreasing with h = |H_x|/H_k",
                f"{SOURCE}, Fig. 2(a)–(b)", run_d1))
register(Target("D2", "Co/Gd: current window ΔI grows monotonically and superlinearly with H_x and with "
                      "decreasing H_k; near-binary at small h", f"{SOURCE}, Fig. 2(d)–(f)", run_d2))
register(Target("D3", "Co/Gd: minor loops are non-volatile (distinct levels, flat return branches, retention)",
                f"{SOURCE}, Fig. 4(a)", run_d3))
register(Target("D4", "Co/Gd neuron: logistic fit to the RESET+SET R_hall(I) curve has R² > 0.99",
                f"{SOURCE}, Fig. 4(b)", run_d4))
register(Target("D5", "Co/Gd STDP: |ΔR| peaks at Δt = 0, ≈ 0 at |Δt| = 12 ms, symmetric",
                f"{SOURCE}, Fig. 3(b)–(d)", run_d5))
register(Target("D6", "Co/Gd neuron in MNIST 784-100-10: within 0.3 pp of the ideal sigmoid",
                f"{SOURCE}, Fig. 4(c)–(e)", run_d6))

__all__ = ["D6_EPOCHS", "HX_FIXED_OE", "HX_SERIES_OE", "SOURCE", "THICKNESSES", "current_window", "run_d1", "run_d2",
           "run_d3", "run_d4", "run_d5", "run_d6"]
