"""Validation targets A1–A7 (CoN) and B1–B5 (CoFeN at remanence), device-physics.md §A–B.

Each ``measure_*`` function runs one target's protocol on a :class:`NitrideFilm` whose
parameters may be arrays (a population of parameter sets: the fitting script
``benchmarks/fit_magnetoionic.py`` evaluates many at once); the registered targets run
them on the presets.  Protocol conventions (from the paper's text, where it gives them):

* −25 V, 50 % duty cycle, magnetisation sampled every 1 s (the VSM's time resolution).
* 200 nm films: 900 s of DC or pulsing, then 0 V ("M_S(960 s)" is read 60 s after the
  voltage is removed; the paper gates "around 900 s" and quotes the values at 960 s).
* 25 nm (and 50 nm) films: gating until 620 s, then 0 V (Fig. 2c, "after t = 620 s");
  at 0.01 Hz six whole periods (600 s), so that the last half-period is an OFF one.
* A "rise" (or "fall") is a change larger than 0.5 emu cm⁻³; ratios must lie within ±30 %.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..devices.magnetoionic.model import MagnetoIonicSynapse, NitrideFilm
from ..devices.magnetoionic.protocols import dc, rest, run_protocol, square
from .registry import Target, register

RISE = 0.5  # emu cm⁻³: smallest change that counts as a rise or a fall
RATIO_TOL = 0.30
SOURCE_CON = "con-magnetoionics-frequency-post-stimulated-MaterHoriz2023.txt"
SOURCE_COFEN = "cofen-magnetoionics-field-free-remanence.txt"


# ----------------------------------------------------------------------------- helpers
def _cells(film: NitrideFilm, thicknesses_nm) -> tuple[MagnetoIonicSynapse, object]:
    """A device of ``film`` at the given thicknesses (last axis) and its as-grown state.

    Parameter arrays of ``film`` of shape ``(P, 1)`` give states of shape ``(P, T)``."""
    th = jnp.asarray(thicknesses_nm, dtype=jnp.result_type(float)) * 1e-9
    film = dataclasses.replace(film, thickness=th)
    shapes = [jnp.shape(leaf) for leaf in jax.tree_util.tree_leaves(film)]
    shape = jnp.broadcast_shapes(*shapes)
    device = MagnetoIonicSynapse(film=film)
    return device, device.init(shape, key=jax.random.key(0))


def _post(m: np.ndarray, i_off: int, dt: float = 1.0):
    """Rise after switch-off (max − value at switch-off) [emu cm⁻³] and the time of the
    maximum after switch-off [s], along axis 0."""
    post = m[i_off:]
    rise = post.max(axis=0) - post[0]
    turn = post.argmax(axis=0) * dt
    return rise, turn


def _within(measured, expected, tol=RATIO_TOL) -> bool:
    return bool(np.all(np.abs(np.asarray(measured) / expected - 1.0) <= tol))


def _f(x):
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else [float(v) for v in x.ravel()]


# ----------------------------------------------------------------------------- CoN (§A)
A1_THICKNESSES = (5.0, 25.0, 50.0, 200.0)


def measure_a1(film: NitrideFilm) -> dict:
    """Initial dM_S/dt [emu cm⁻³ s⁻¹] (largest 1-s difference in the first 30 s of DC) and
    the magnetisation generated in the first second (the paper's ΔM in 1 s, Table S1) at
    5, 25, 50 and 200 nm; arrays ``(..., 4)``."""
    dev, st = _cells(film, A1_THICKNESSES)
    m = run_protocol(dev, st, [dc(30.0)]).saturation
    return {"rate": np.diff(m, axis=0).max(axis=0), "m_1s": m[1], "thickness_nm": np.asarray(A1_THICKNESSES)}


def measure_a2(film: NitrideFilm) -> dict:
    """200 nm: M_S at 900 s of DC; the largest rise and the decay over 600 s after it."""
    dev, st = _cells(film, [200.0])
    m = run_protocol(dev, st, [dc(900.0), rest(600.0)]).saturation[..., 0]
    rise, _ = _post(m, 900)
    return {"m900": m[900], "rise": rise, "m960": m[960], "m1500": m[1500]}


def measure_a3(film: NitrideFilm, frequencies=(1.0, 10.0, 100.0)) -> dict:
    """200 nm, 50 % duty: M_S(960 s) after 900 s of pulsing at each frequency; ``(..., F)``."""
    dev, st = _cells(film, [200.0])
    out = []
    for f in frequencies:
        m = run_protocol(dev, st, [square(900.0, f), rest(60.0)]).saturation[..., 0]
        out.append(m[960])
    return {"m960": np.stack(out, axis=-1), "frequency": np.asarray(frequencies)}


A4_THICKNESSES = (5.0, 25.0, 50.0, 100.0, 200.0)


def measure_a4(film: NitrideFilm) -> dict:
    """Steady M_S (after 1800 s of DC) at 5, 25, 50, 100, 200 nm; ``(..., 5)``."""
    dev, st = _cells(film, A4_THICKNESSES)
    m = run_protocol(dev, st, [dc(1800.0)], sample_interval=10.0).saturation
    return {"m_steady": m[-1], "thickness_nm": np.asarray(A4_THICKNESSES)}


def measure_a5(film: NitrideFilm) -> dict:
    """DC for 620 s at 25, 50, 200 nm, then 0 V for 1500 s: rise and turnover time after
    switch-off; ``(..., 3)``."""
    dev, st = _cells(film, [25.0, 50.0, 200.0])
    m = run_protocol(dev, st, [dc(620.0), rest(1500.0)]).saturation
    rise, turn = _post(m, 620)
    return {"rise": rise, "turnover_s": turn, "m620": m[620]}


def measure_a6(film: NitrideFilm) -> dict:
    """25 nm at 0.01 Hz for 600 s, then 0 V for 1200 s: change of M_S over each 50-s OFF
    half-period ``(..., 6)`` and the rise after switch-off."""
    dev, st = _cells(film, [25.0])
    m = run_protocol(dev, st, [square(600.0, 0.01), rest(1200.0)]).saturation[..., 0]
    starts = np.arange(50, 600, 100)
    change = np.stack([m[s + 50] - m[s] for s in starts], axis=-1)
    rise, _ = _post(m, 600)
    return {"off_change": change, "rise": rise}


def measure_a7(film: NitrideFilm, frequencies=(1.0, 10.0, 100.0)) -> dict:
    """25 nm, 50 % duty for 620 s, then 0 V for 1500 s: rise after switch-off at each
    frequency; ``(..., F)``."""
    dev, st = _cells(film, [25.0])
    rises, turns = [], []
    for f in frequencies:
        m = run_protocol(dev, st, [square(620.0, f), rest(1500.0)]).saturation[..., 0]
        r, t = _post(m, 620)
        rises.append(r)
        turns.append(t)
    return {"rise": np.stack(rises, -1), "turnover_s": np.stack(turns, -1), "frequency": np.asarray(frequencies)}


# ----------------------------------------------------------------------------- CoFeN (§B)
def cofen_cycling(film: NitrideFilm, conditioning: float, relaxation: float, eta: float, *,
                  q: float | None = None) -> dict:
    """The CoFeN paper's protocol on a 50 nm film: −25 V for ``conditioning`` [s] under
    10 kOe (saturating), 0 V for ``relaxation`` [s] under the field, field removed
    (``M → q·M_S``), then 5.5 cycles of −25 V 6 min / 0 V 6 min at zero field.

    The ion dynamics do not depend on the field, so the same run gives both the
    field-on ``M_S`` trace (the paper's 10 kOe cycling) and the remanent ``M_R`` trace.
    Returns magnetisations [emu cm⁻³] (arrays of the film's batch shape) and the traces.
    """
    from ..devices.magnetoionic.presets import (COFEN_CYCLE_COUNT, COFEN_CYCLE_OFF, COFEN_CYCLE_ON,
                                                COFEN_REMANENCE_RATIO)

    q = COFEN_REMANENCE_RATIO if q is None else q
    shapes = [jnp.shape(leaf) for leaf in jax.tree_util.tree_leaves(film)]
    shape = jnp.broadcast_shapes(*shapes)
    saturating = MagnetoIonicSynapse(film=film)
    state = saturating.init(shape, key=jax.random.key(0))
    cond = run_protocol(saturating, state, [dc(conditioning), rest(relaxation)])
    remanent = MagnetoIonicSynapse(film=film, field="remanent", remanence_ratio=q, exchange_efficiency=eta)
    n_on = int(math.ceil(COFEN_CYCLE_COUNT))
    segments = []
    for k in range(n_on):
        segments.append(dc(COFEN_CYCLE_ON))
        if k < n_on - 1:
            segments.append(rest(COFEN_CYCLE_OFF))
    cyc = run_protocol(remanent, saturating.remove_field(cond.state, reader=remanent), segments)
    i_end_cond = int(round(conditioning))
    bounds = np.cumsum([0] + [int(round(s.duration)) for s in segments])
    mr, ms = cyc.magnetisation, cyc.saturation
    seg_change = np.stack([mr[b1] - mr[b0] for b0, b1 in zip(bounds[:-1], bounds[1:])], axis=-1)
    cycle_starts = bounds[:-1:2]
    return {
        "ms_end_conditioning": cond.saturation[i_end_cond],
        "ms_start": ms[0], "ms_final": ms[-1], "mr_start": mr[0], "mr_final": mr[-1],
        "delta_ms": ms[-1] - ms[0], "delta_mr": mr[-1] - mr[0],
        "on_change": seg_change[..., 0::2], "off_change": seg_change[..., 1::2],
        "cycle_gain": np.stack([mr[b1] - mr[b0] for b0, b1 in zip(cycle_starts[:-1], cycle_starts[1:])], -1),
        "conditioning_trace": cond, "cycling_trace": cyc,
    }


def measure_cofen(film: NitrideFilm | None = None) -> dict:
    """:func:`cofen_cycling` for the paper's six cases (Low/Mid/High M × 3 min/1 h), keyed
    ``(state, relaxation_s)``; η from :func:`~synaptax.devices.magnetoionic.presets.exchange_efficiency`."""
    from ..devices.magnetoionic.presets import COFEN_TABLE, cofen_film, exchange_efficiency

    film = cofen_film() if film is None else film
    out = {}
    for name, row in COFEN_TABLE.items():
        for relax in (180.0, 3600.0):
            eta = exchange_efficiency(row["conditioning_s"], relax)
            out[(name, relax)] = cofen_cycling(film, row["conditioning_s"], relax, eta)
    return out


def energy_ratio_without_field() -> dict:
    """Energy of a 6-min −25 V gate pulse on the paper's 5 × 5 mm² sample with and without
    the 10 kOe electromagnet (:class:`GateEnergy` with the sample's area)."""
    from ..devices.magnetoionic.model import GateEnergy
    from ..devices.magnetoionic.presets import COFEN_CYCLE_ON, COFEN_SAMPLE_AREA, ELECTROMAGNET_POWER

    gate = float(GateEnergy(cell_area=COFEN_SAMPLE_AREA).pulse(-25.0, COFEN_CYCLE_ON))
    magnet = ELECTROMAGNET_POWER * COFEN_CYCLE_ON
    return {"gate_J": gate, "magnet_J": magnet, "ratio": (gate + magnet) / gate}


# ----------------------------------------------------------------------------- targets
def _con():
    from ..devices.magnetoionic.presets import con_film

    return con_film()


def _run_a1():
    r = measure_a1(_con())
    rate = r["rate"][[0, -1]]
    ratio = rate[0] / rate[1]
    ok = _within(ratio, 7.4) and _within(rate[0], 5.9) and _within(rate[1], 0.8)
    return {"measured": {"rate_5nm": float(rate[0]), "rate_200nm": float(rate[1]), "ratio": float(ratio)},
            "expected": {"rate_5nm": 5.9, "rate_200nm": 0.8, "ratio": 7.4},
            "tolerance": "each within ±30 %", "unit": "emu cm^-3 s^-1", "passed": ok,
            "delta_m_first_second": dict(zip([f"{t:g}nm" for t in A1_THICKNESSES], _f(r["m_1s"])))}


def _run_a2():
    r = measure_a2(_con())
    m900, rise, m960, m1500 = (float(r[k]) for k in ("m900", "rise", "m960", "m1500"))
    decay60, decay = (m900 - m960) / m900, (m900 - m1500) / m900
    ok = abs(m900 / 248.0 - 1.0) <= 0.10 and rise < RISE and 0.0 < decay60 < 0.05 and decay < 0.10
    return {"measured": {"m900": m900, "rise_after_switch_off": rise, "relative_decay_60s": decay60,
                         "relative_decay_600s": decay},
            "expected": {"m900": 248.0, "rise_after_switch_off": f"< {RISE}", "relative_decay_60s": "(0, 0.05)",
                         "relative_decay_600s": "< 0.10"},
            "tolerance": "M_S(900 s) within ±10 %; no rise; slight monotonic decay", "unit": "emu cm^-3",
            "passed": ok}


def _run_a3():
    m = measure_a3(_con())["m960"]
    ratio = m[2] / m[0]
    ok = _within(ratio, 168.2 / 17.6) and _within(m[0], 17.6) and _within(m[2], 168.2) and m[0] < m[1] < m[2]
    return {"measured": {"m960_1Hz": float(m[0]), "m960_10Hz": float(m[1]), "m960_100Hz": float(m[2]),
                         "ratio_100_1": float(ratio)},
            "expected": {"m960_1Hz": 17.6, "m960_100Hz": 168.2, "ratio_100_1": 168.2 / 17.6,
                         "order": "1 Hz < 10 Hz < 100 Hz"},
            "tolerance": "values and ratio within ±30 %; monotonic", "unit": "emu cm^-3", "passed": ok}


def _run_a4():
    r = measure_a4(_con())
    m = r["m_steady"]
    ok = bool(np.all(np.diff(m) > 0))
    return {"measured": dict(zip([f"{t:g}nm" for t in A4_THICKNESSES], _f(m))),
            "expected": "steady M_S increases with thickness (5 → 200 nm)", "unit": "emu cm^-3", "passed": ok}


def _run_a5():
    r = measure_a5(_con())
    rise, turn = r["rise"], r["turnover_s"]
    ok = (rise[0] > RISE and rise[1] > RISE and rise[1] < rise[0] and rise[2] < RISE
          and _within(turn[0], 695.0) and _within(turn[1], 170.0))
    return {"measured": {"rise_25nm": float(rise[0]), "rise_50nm": float(rise[1]), "rise_200nm": float(rise[2]),
                         "turnover_25nm_s": float(turn[0]), "turnover_50nm_s": float(turn[1])},
            "expected": {"rise_25nm": f"> {RISE}", "rise_50nm": f"> {RISE} and < rise_25nm",
                         "rise_200nm": f"< {RISE}", "turnover_25nm_s": 695.0, "turnover_50nm_s": 170.0},
            "tolerance": "turnover times within ±30 %", "unit": "emu cm^-3, s", "passed": ok}


def _run_a6():
    r = measure_a6(_con())
    ok = bool(np.all(r["off_change"] < -RISE)) and float(r["rise"]) < RISE
    return {"measured": {"off_half_period_change": _f(r["off_change"]), "rise_after_switch_off": float(r["rise"])},
            "expected": {"off_half_period_change": f"each < -{RISE}", "rise_after_switch_off": f"< {RISE}"},
            "unit": "emu cm^-3", "passed": ok}


def _run_a7():
    r = measure_a7(_con())
    ok = bool(np.all(r["rise"] > RISE))
    return {"measured": {f"rise_{f:g}Hz": float(v) for f, v in zip(r["frequency"], r["rise"])}
            | {f"turnover_{f:g}Hz_s": float(v) for f, v in zip(r["frequency"], r["turnover_s"])},
            "expected": {"rise_1Hz": f"> {RISE}", "rise_10Hz": f"> {RISE}", "rise_100Hz": f"> {RISE}"},
            "unit": "emu cm^-3, s", "passed": ok}


_COFEN_CACHE: dict = {}


def _cofen_results():
    if "r" not in _COFEN_CACHE:
        _COFEN_CACHE["r"] = measure_cofen()
    return _COFEN_CACHE["r"]


def _case(name, relax):
    return f"{name}_{'3min' if relax == 180.0 else '1h'}"


def _run_b1():
    from ..devices.magnetoionic.presets import COFEN_TABLE

    res = _cofen_results()
    measured, expected, ok = {}, {}, True
    for (name, relax), r in res.items():
        ratio = float(r["delta_mr"] / r["delta_ms"])
        measured[_case(name, relax)] = ratio
        expected[_case(name, relax)] = COFEN_TABLE[name]["eta"][relax]
        ok = ok and abs(ratio / COFEN_TABLE[name]["eta"][relax] - 1.0) <= 0.10
    info = {_case(n, r): {"delta_ms_model": float(v["delta_ms"]), "delta_ms_paper": COFEN_TABLE[n]["delta_ms"],
                          "delta_mr_model": float(v["delta_mr"]), "delta_mr_paper": COFEN_TABLE[n]["delta_mr"][r]}
            for (n, r), v in res.items()}
    return {"measured": measured, "expected": expected, "tolerance": "each within ±10 %", "passed": ok,
            "absolute_changes_emu_cm3": info,
            "note": "largely by construction: eta = dM_R/dM_S is the paper's table, an input of the remanent "
                    "readout; the model keeps the ratio as long as recovery does not remove zero-field growth "
                    "below the conditioned layer.  The absolute dM_S are a fit (absolute_changes_emu_cm3)."}


def _run_b2():
    res = _cofen_results()
    measured, ok = {}, True
    for (name, relax), r in res.items():
        on, off, gain = r["on_change"], r["off_change"], r["cycle_gain"]
        measured[_case(name, relax)] = {"min_on_change": float(on.min()), "max_off_change": float(off.max()),
                                        "min_cycle_gain": float(gain.min())}
        ok = ok and float(on.min()) > RISE and float(off.max()) < -RISE and float(gain.min()) > 0
    return {"measured": measured, "expected": {"on_change": f"> {RISE}", "off_change": f"< -{RISE}",
                                               "cycle_gain": "> 0"}, "unit": "emu cm^-3", "passed": ok}


def _run_b3():
    r = _cofen_results()[("high", 180.0)]
    final, ms = float(r["mr_final"]), float(r["ms_end_conditioning"])
    return {"measured": {"mr_final": final, "ms_end_conditioning": ms},
            "expected": "mr_final > ms_end_conditioning", "unit": "emu cm^-3", "passed": final > ms}


def _run_b4():
    res = _cofen_results()
    measured, ok = {}, True
    for name in ("low", "mid", "high"):
        short, long = float(res[(name, 180.0)]["delta_mr"]), float(res[(name, 3600.0)]["delta_mr"])
        measured[name] = {"delta_mr_3min": short, "delta_mr_1h": long}
        ok = ok and long < short
    return {"measured": measured, "expected": "delta_mr_1h < delta_mr_3min for every state", "unit": "emu cm^-3",
            "passed": ok}


def _run_b5():
    r = energy_ratio_without_field()
    return {"measured": r["ratio"], "expected": 2.7e6, "tolerance": "±30 %", "gate_J": r["gate_J"],
            "magnet_J": r["magnet_J"], "passed": _within(r["ratio"], 2.7e6)}


_A = [
    ("A1", "CoN initial dM_S/dt at 5 and 200 nm (-25 V DC), ratio 7.4", "Fig. 1d and text", _run_a1),
    ("A2", "CoN 200 nm DC: M_S(900 s) = 248 emu/cm3, slight monotonic decay after switch-off", "Fig. 2b",
     _run_a2),
    ("A3", "CoN 200 nm pulsed 50 % duty: M_S(960 s) 17.6 (1 Hz) and 168.2 (100 Hz), monotonic", "Fig. 2b, S6",
     _run_a3),
    ("A4", "CoN steady M_S increases with film thickness", "Table S1 trend", _run_a4),
    ("A5", "CoN post-stimulated rise after 620 s DC: 25 nm (turnover 695 s), 50 nm weaker (170 s), 200 nm none",
     "Fig. 2c, S7", _run_a5),
    ("A6", "CoN 25 nm at 0.01 Hz: falls in every OFF half-period, no rise after switch-off", "Fig. 2c-e", _run_a6),
    ("A7", "CoN 25 nm at 1, 10, 100 Hz: rise after switch-off", "Fig. 2c", _run_a7),
]
_B = [
    ("B1", "CoFeN exchange efficiency dM_R/dM_S reproduces Table 1 (6 cases) within 10 %", "Table 1", _run_b1),
    ("B2", "CoFeN at H = 0: each -25 V segment raises M_R, each 0 V lowers it, net gain per cycle", "Fig. 3",
     _run_b2),
    ("B3", "CoFeN High M, 3-min relaxation: final M_R exceeds M_S at the end of conditioning", "Fig. 2a",
     _run_b3),
    ("B4", "CoFeN: 1 h relaxation gives smaller dM_R than 3 min (every state)", "Table 1, Fig. 3", _run_b4),
    ("B5", "CoFeN: energy ratio with / without the 10 kOe electromagnet = 2.7e6", "text", _run_b5),
]

#: Targets the model does not meet yet: id → honest reason with the measured number.
KNOWN_FAILURES: dict[str, str] = {
    "A5": ("turnover times not met: the post-stimulated rise is there in the right order (25 nm +34 > 50 nm +20 > "
           "200 nm 0 emu/cm3) but turns over about 430 s after switch-off at 25 nm (paper 695 s, tolerance 487-903 s) "
           "and about 310 s at 50 nm (paper 170 s, 119-221 s); every fit that met these times lost A3 "
           "(benchmarks/fit_magnetoionic.json)"),
}

for _id, _desc, _where, _run in _A:
    register(Target(_id, _desc, f"{SOURCE_CON}, {_where}", _run, known_failure=KNOWN_FAILURES.get(_id)))
for _id, _desc, _where, _run in _B:
    register(Target(_id, _desc, f"{SOURCE_COFEN}, {_where}", _run, known_failure=KNOWN_FAILURES.get(_id)))
