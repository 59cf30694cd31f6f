"""How well ``synaptax fit`` recovers the device that made the data: model choice, coverage of
the stated uncertainties, and training with a fitted device next to the original.

Every data set is simulated (:func:`synaptax.devices.fitting.simulate_measurements`, no read
noise) from a known device, so the truth is known.  Fits and simulations run in float64.

* **auto** — model choice: for each generic model (the devices of ``true_devices()`` in
  ``tests/test_fitting.py``: d2d spread of step, asymmetry and bounds, c2c noise) and
  ``--auto-seeds`` seeds (0, 1, …; full mode: 10, not 20, to bound the run time), 20
  devices × 2 cycles × 250 pulses per direction, fitted with ``model="auto"``.  Rate =
  picks of the true law / seeds (exp data: the true law is ``linear``, the same law in
  other coordinates; see ``synaptax.devices.fitting.models``).
* **coverage** — for each model, ``--coverage-seeds`` seeds of 40 devices × 3 cycles ×
  250 pulses fitted with the true model (seeds ``1000·k + s`` for the k-th model, so that
  no two models share their cells' device-to-device draws): the fraction of (parameter,
  seed) pairs whose fit lies within 1, 2 and 3 stated standard errors of the truth
  (parameters of ``truth()`` in ``tests/test_fitting.py``; ``variability.c2c_range``
  skipped for the constant model, which fits only one noise term).  A Gaussian estimate
  with a correct standard error gives 68.3 / 95.4 / 99.7 %.
* **training** — the ``reram-sb`` preset (soft bounds, 30 % d2d, 30 % c2c, 1 % read noise)
  simulated as 50 devices × 2 cycles × 2000 pulses per direction, fitted with
  ``model="auto"``, written to a device file; then ``synaptax train``'s default network on
  the bundled data is trained with the preset and with the file, same seeds (full: 5 epochs,
  seeds 0, 1, 2; ``--quick``: 1 epoch, 1000 training images, seeds 0, 1).  Training runs in
  float32, as ``synaptax train`` does.  The fitted device has no read noise: the simulated
  reads had none, so there was none to fit (the preset has ``read_noise`` 0.01).

Usage:
    python benchmarks/fit_device.py [--quick] [--out PATH] [--parts auto,coverage,training]
                                    [--auto-seeds 10] [--coverage-seeds 10]

Full mode writes ``benchmarks/fit_device.json`` (``--out`` elsewhere); ``--quick`` (fewer
seeds everywhere, a short training) writes only where ``--out`` says.  Wall times depend on
the machine's load: the load average at start and end is recorded.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_fitting import true_devices, truth  # noqa: E402  (the tests' devices, one definition)

import synaptax  # noqa: E402
from synaptax.devices import get_preset  # noqa: E402
from synaptax.devices.fitting import fit_measurements, simulate_measurements, write_device_file  # noqa: E402
from synaptax.training.io import atomic_write_json  # noqa: E402
from synaptax.training.loop import TrainConfig, train  # noqa: E402

MODELS = ("constant", "linear", "soft-bounds", "exp", "pow")
#: the law ``auto`` should choose for data of each model (exp and linear are one law)
TRUE_LAW = {"constant": "constant", "linear": "linear", "soft-bounds": "soft-bounds", "exp": "linear", "pow": "pow"}
#: fraction of a normal distribution within 1, 2, 3 σ
GAUSS = (0.6827, 0.9545, 0.9973)
DEFAULT_OUT = ROOT / "benchmarks" / "fit_device.json"
#: seeds per model in (a) in full mode (20 asked for; 10 bounds the run time, see the note it prints)
FULL_AUTO_SEEDS = 10
#: (b) draws model k's seed s as ``COVERAGE_SEED_STRIDE·k + s``: the same seed would draw the
#: same cells (d2d) for every model and repeat their errors across models
COVERAGE_SEED_STRIDE = 1000


def simulate(device, seed: int, *, devices: int, cycles: int, pulses: int):
    return simulate_measurements(device, key=jax.random.key(seed), devices=devices, cycles=cycles, pulses=pulses)


def machine() -> dict:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"machine": f"{platform.machine()}, {model or 'cpu'}, {sys.platform}", "cpus": os.cpu_count(),
            "python": platform.python_version(), "jax": jax.__version__, "synaptax": synaptax.__version__,
            "jax_backend": jax.default_backend(), "xla_flags": os.environ.get("XLA_FLAGS", "")}


def source_state() -> dict:
    """The code measured: git commit, and a hash of the device sources as they are on disk
    (the working tree may differ from the commit)."""
    import hashlib
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        head = None
    digest = hashlib.sha256()
    files = sorted((ROOT / "src" / "synaptax" / "devices").rglob("*.py"))
    for f in files:
        digest.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    newest = max(files, key=lambda f: f.stat().st_mtime) if files else None
    return {"git_head": head, "devices_sources_sha256": digest.hexdigest(),
            "newest_device_source": None if newest is None else {
                "path": str(newest.relative_to(ROOT)),
                "modified": datetime.datetime.fromtimestamp(newest.stat().st_mtime).isoformat(timespec="seconds")}}


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe(obj) -> str:
    """``Name(field=value, …)`` of a device (nested modules alike), one line."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = ", ".join(f"{f.name}={describe(getattr(obj, f.name))}" for f in dataclasses.fields(obj))
        return f"{type(obj).__name__}({fields})"
    if hasattr(obj, "shape") and getattr(obj, "shape", None) == ():
        obj = obj.item()
    return repr(obj)


def _delta_bic(fit) -> dict:
    bic = fit.goodness["bic"]
    best = min(bic.values())
    return {m: round(v - best, 2) for m, v in bic.items()}


# --------------------------------------------------------------------------- (a) auto
def study_auto(seeds: int, log) -> dict:
    devices = true_devices()
    picks = {m: {} for m in MODELS}
    runs = []
    for model in MODELS:
        for seed in range(seeds):
            t0 = time.perf_counter()
            fit = fit_measurements(simulate(devices[model], seed, devices=20, cycles=2, pulses=250), model="auto")
            picks[model][fit.model] = picks[model].get(fit.model, 0) + 1
            runs.append({"model": model, "seed": seed, "picked": fit.model, "delta_bic": _delta_bic(fit),
                         "wall_s": round(time.perf_counter() - t0, 2)})
            log(f"auto  {model:11s} seed {seed:2d}: picked {fit.model:11s} ΔBIC {runs[-1]['delta_bic']}")
    rate = {m: picks[m].get(TRUE_LAW[m], 0) / seeds for m in MODELS}
    # how close the runner-up was: ΔBIC between linear and soft-bounds (4 parameters per device each)
    # (absent where the data did not saturate and auto left the hard-bounded laws out)
    lin_sb = {m: [r["delta_bic"]["soft-bounds"] - r["delta_bic"]["linear"] for r in runs if r["model"] == m
                  and {"soft-bounds", "linear"} <= set(r["delta_bic"])] for m in MODELS}
    lin_sb = {m: v for m, v in lin_sb.items() if v}
    affine = ("linear", "soft-bounds")
    rate_affine = {m: sum(picks[m].get(a, 0) for a in affine) / seeds for m in ("linear", "soft-bounds", "exp")}
    return {"protocol": {"devices": 20, "cycles": 2, "pulses": 250, "seeds": seeds, "read_noise": False},
            "true_devices": {m: describe(d) for m, d in devices.items()}, "true_law": TRUE_LAW,
            "rate_linear_or_soft_bounds": rate_affine, "picks": picks, "rate": rate,
            "rate_overall": sum(picks[m].get(TRUE_LAW[m], 0) for m in MODELS) / (seeds * len(MODELS)),
            "bic_soft_bounds_minus_linear": {m: {"median": float(np.median(v)), "min": float(np.min(v)),
                                                 "max": float(np.max(v))} for m, v in lin_sb.items()},
            "runs": runs}


# --------------------------------------------------------------------------- (b) coverage
def study_coverage(seeds: int, log) -> dict:
    devices = true_devices()
    records = []
    failures = []
    for k, model in enumerate(MODELS):
        true = truth(devices[model])
        for seed in range(COVERAGE_SEED_STRIDE * k, COVERAGE_SEED_STRIDE * k + seeds):
            t0 = time.perf_counter()
            fit = fit_measurements(simulate(devices[model], seed, devices=40, cycles=3, pulses=250), model=model)
            found = {**fit.parameters, **{f"variability.{k}": p for k, p in fit.variability.items()}}
            if not fit.goodness["converged"]:
                failures.append({"model": model, "seed": seed, "what": "not converged"})
            for name, value in true.items():
                if model == "constant" and name == "variability.c2c_range":
                    continue
                p = found[name]
                err = p.value - value
                tol = 1e-12 * abs(value)
                within = [bool(abs(err) <= k * p.se + tol) for k in (1, 2, 3)]
                records.append({"model": model, "seed": seed, "parameter": name, "true": value, "value": p.value,
                                "se": p.se, "z": err / p.se if p.se > 0 else (0.0 if abs(err) <= tol else math.inf),
                                "within": within, "at_zero": value == 0.0})
            log(f"cover {model:11s} seed {seed:2d}: "
                f"{sum(r['within'][1] for r in records if r['model'] == model and r['seed'] == seed)}/"
                f"{sum(1 for r in records if r['model'] == model and r['seed'] == seed)} within 2 se "
                f"({time.perf_counter() - t0:.1f} s)")

    def coverage(rows):
        n = len(rows)
        return {"n": n, **{f"within_{k}se": sum(r["within"][k - 1] for r in rows) / n for k in (1, 2, 3)}} if n else {}

    per_model = {m: coverage([r for r in records if r["model"] == m]) for m in MODELS}
    per_parameter = {}
    for m in MODELS:
        for name in dict.fromkeys(r["parameter"] for r in records if r["model"] == m):
            rows = [r for r in records if r["model"] == m and r["parameter"] == name]
            z = np.array([r["z"] for r in rows], dtype=float)
            rel = [(r["value"] - r["true"]) / abs(r["true"]) for r in rows if r["true"] != 0]
            per_parameter[f"{m}:{name}"] = {
                **coverage(rows), "true": rows[0]["true"],
                "mean_value": float(np.mean([r["value"] for r in rows])),
                "mean_se": float(np.mean([r["se"] for r in rows])),
                "mean_z": float(np.mean(z[np.isfinite(z)])) if np.isfinite(z).any() else None,
                "rms_z": float(np.sqrt(np.mean(z[np.isfinite(z)] ** 2))) if np.isfinite(z).any() else None,
                "mean_relative_error": float(np.mean(rel)) if rel else None}
    nonzero = [r for r in records if not r["at_zero"]]
    return {"protocol": {"devices": 40, "cycles": 3, "pulses": 250, "seeds": seeds, "read_noise": False,
                         "seed_values": {m: f"{COVERAGE_SEED_STRIDE * k} … {COVERAGE_SEED_STRIDE * k + seeds - 1}"
                                         for k, m in enumerate(MODELS)}},
            "true_devices": {m: describe(d) for m, d in devices.items()},
            "expected_gaussian": dict(zip(("within_1se", "within_2se", "within_3se"), GAUSS)),
            "overall": coverage(records), "overall_true_value_nonzero": coverage(nonzero),
            "per_model": per_model, "per_parameter": per_parameter, "failures": failures, "records": records}


# --------------------------------------------------------------------------- (c) training
def study_training(epochs: int, seeds: list[int], train_samples: int, log) -> dict:
    preset = get_preset("reram-sb")
    protocol = {"devices": 50, "cycles": 2, "pulses": 2000, "seed": 0, "read_noise": False}
    t0 = time.perf_counter()
    data = simulate(preset, protocol["seed"], devices=50, cycles=2, pulses=2000)
    fit = fit_measurements(data, model="auto")
    fit_s = time.perf_counter() - t0
    log(f"train fit of reram-sb data: {fit.model} ({fit_s:.1f} s)")
    true = truth(preset)
    true["variability.read_noise"] = float(preset.variability.read_noise)
    found = {**fit.parameters, **{f"variability.{k}": p for k, p in fit.variability.items()}}
    parameters = {}
    for name in dict.fromkeys([*true, *found]):
        p = found.get(name)
        t = true.get(name)
        parameters[name] = {"preset": t, "fitted": None if p is None else p.value,
                            "se": None if p is None else p.se, "unit": None if p is None else p.unit,
                            "z": (p.value - t) / p.se if p is not None and t is not None and p.se > 0 else None}
    results = {"preset": [], "fitted": []}
    head = {"data_protocol": protocol, "preset": describe(preset), "fit_model": fit.model,
            "fit_chosen_by": fit.chosen_by, "fit_delta_bic": _delta_bic(fit), "fit_wall_s": round(fit_s, 1),
            "fit_counts": fit.counts, "parameters": parameters}
    with tempfile.TemporaryDirectory(prefix="fit_device_") as tmp:
        path = Path(tmp) / "reram-sb-fitted.toml"
        write_device_file(fit, path)
        head["device_file"] = path.read_text()
        try:
            get_preset(str(path))
        except ValueError as err:   # the file the fit wrote does not load: nothing to train
            log(f"train the fitted device file does not load: {err}")
            return head | {"error": f"the device file written by the fit does not load: {err}"}
        for seed in seeds:
            for label, device in (("preset", "reram-sb"), ("fitted", str(path))):
                cfg = TrainConfig(device=device, epochs=epochs, seed=seed, train_samples=train_samples)
                t1 = time.perf_counter()
                with jax.enable_x64(False):   # as synaptax train runs
                    report = train(cfg, Path(tmp) / f"{label}-{seed}", log=lambda *a: None)
                rec = {"seed": seed, "test_accuracy": report["test_accuracy"],
                       "energy_per_update_J": report["energy_per_update_J"],
                       "pulses_per_update": report["pulses_per_update"], "status": report.get("status"),
                       "wall_s": round(time.perf_counter() - t1, 1)}
                results[label].append(rec)
                log(f"train {label:6s} seed {seed}: {100 * rec['test_accuracy']:.2f} % ({rec['wall_s']:.0f} s)")

    def stats(rows):
        acc = [r["test_accuracy"] for r in rows]
        return {"mean": statistics.fmean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else None,
                "energy_per_update_J": statistics.fmean(r["energy_per_update_J"] for r in rows)}

    summary = {k: stats(v) for k, v in results.items()}
    diff = summary["fitted"]["mean"] - summary["preset"]["mean"]
    stds = [s["std"] for s in summary.values() if s["std"] is not None]
    pooled = math.sqrt(statistics.fmean(s**2 for s in stds)) if stds else None
    paired = [f["test_accuracy"] - p["test_accuracy"] for f, p in zip(results["fitted"], results["preset"])]
    return head | {
            "train": {"epochs": epochs, "seeds": seeds, "train_samples": train_samples or "all (5000)",
                      "network": "default (784-100-10, analog-sgd)", "dtype": "float32"},
            "runs": results, "summary": summary, "difference_fitted_minus_preset": diff,
            "paired_differences": paired, "pooled_seed_std": pooled,
            "difference_in_seed_stds": diff / pooled if pooled else None,
            "known_differences": ["read noise: the simulated reads had none, so the fitted device has read_noise 0 "
                                  f"(the preset: {float(preset.variability.read_noise)})"]}


# --------------------------------------------------------------------------- summary
def _pct(x):
    return "–" if x is None else f"{100 * x:5.1f} %"


def summary_text(out: dict) -> str:
    lines = [f"# synaptax fit benchmark ({out['mode']}, {out['date']})",
             f"{out['machine']['machine']}, {out['machine']['cpus']} cpus, jax {out['machine']['jax']}; "
             f"load average {out['load_average_start']} → {out['load_average_end']}; "
             f"wall time {out['wall_s']:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in out['part_wall_s'].items())})"]
    src = out.get("source", {})
    newest = src.get("newest_device_source") or {}
    lines.append(f"code: git {str(src.get('git_head'))[:12]}, device sources sha256 "
                 f"{str(src.get('devices_sources_sha256'))[:12]} "
                 f"(newest: {newest.get('path')}, {newest.get('modified')})")
    for note in out.get("notes", []):
        lines.append(f"NOTE: {note}")
    for part, err in out.get("errors", {}).items():
        lines.append(f"FAILED: ({part}) {err}")
    a = out.get("auto")
    if a:
        n = a["protocol"]["seeds"]
        lines += ["", f"## (a) model choice, model=auto ({n} seeds of 20 devices × 2 cycles × 250 pulses)",
                  "| data | true law | picks | rate | ΔBIC soft-bounds − linear (median, min…max) |",
                  "|---|---|---|---|---|"]
        for m in MODELS:
            picks = ", ".join(f"{k} {v}" for k, v in sorted(a["picks"][m].items(), key=lambda t: -t[1]))
            d = a["bic_soft_bounds_minus_linear"].get(m)
            gap_text = (f"{d['median']:+.1f} ({d['min']:+.1f} … {d['max']:+.1f})" if d else
                        "– (no saturation: hard-bounded laws left out)")
            lines.append(f"| {m} | {TRUE_LAW[m]} | {picks} | {a['picks'][m].get(TRUE_LAW[m], 0)}/{n} = "
                         f"{100 * a['rate'][m]:.0f} % | {gap_text} |")
        lines.append(f"overall: {100 * a['rate_overall']:.0f} %")
        ra = a["rate_linear_or_soft_bounds"]
        lines.append("picked linear or soft-bounds: " + ", ".join(f"{m} data {100 * v:.0f} %" for m, v in ra.items()))
        gap = max((max(abs(d["min"]), abs(d["max"])) for m, d in a["bic_soft_bounds_minus_linear"].items()
                   if m in ra), default=float("inf"))
        if gap < 2:
            lines.append(f"On linear, soft-bounds and exp data the BICs of linear and soft-bounds differ by at most "
                         f"{gap:.1f}: a tie that noise decides.  Both laws make each direction's one-pulse change "
                         "affine in G (soft bounds: zeros at the fitted bounds; linear: at or beyond the measured "
                         "ones), with 4 parameters per device.")
    c = out.get("coverage")
    if c:
        lines += ["", f"## (b) coverage of the stated standard errors ({c['protocol']['seeds']} seeds of 40 devices "
                      "× 3 cycles × 250 pulses, true model)",
                  "| model | pairs | within 1 se | within 2 se | within 3 se |", "|---|---|---|---|---|"]
        for m in MODELS:
            r = c["per_model"][m]
            lines.append(f"| {m} | {r['n']} | {_pct(r['within_1se'])} | {_pct(r['within_2se'])} | "
                         f"{_pct(r['within_3se'])} |")
        for label, r in (("all", c["overall"]), ("all, true value ≠ 0", c["overall_true_value_nonzero"])):
            lines.append(f"| {label} | {r['n']} | {_pct(r['within_1se'])} | {_pct(r['within_2se'])} | "
                         f"{_pct(r['within_3se'])} |")
        lines.append("| Gaussian | | 68.3 % | 95.4 % | 99.7 % |")
        at_zero = [k for k, r in c["per_parameter"].items() if r["true"] == 0]
        if at_zero:
            lines.append(f"True value 0 ({', '.join(at_zero)}): on the boundary of a fit kept ≥ 0, so the estimate "
                         "is biased up and not Gaussian.")
        lines += ["", "per parameter (mean z = mean of (fit − true)/se; rms z should be ≈ 1):",
                  "| model:parameter | true | mean fit | mean se | mean rel. error | mean z | rms z | ≤1/2/3 se |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, r in c["per_parameter"].items():
            rel = "–" if r["mean_relative_error"] is None else f"{100 * r['mean_relative_error']:+.1f} %"
            mz = "–" if r["mean_z"] is None else f"{r['mean_z']:+.2f}"
            rz = "–" if r["rms_z"] is None else f"{r['rms_z']:.2f}"
            lines.append(f"| {key} | {r['true']:.4g} | {r['mean_value']:.4g} | {r['mean_se']:.2g} | {rel} | {mz} | "
                         f"{rz} | {100 * r['within_1se']:.0f}/{100 * r['within_2se']:.0f}/"
                         f"{100 * r['within_3se']:.0f} % |")
        if c["failures"]:
            lines.append(f"fits not converged: {c['failures']}")
    t = out.get("training")
    if t:
        lines += ["", "## (c) training: reram-sb preset vs the device fitted to its simulated data",
                  f"data: 50 devices × 2 cycles × 2000 pulses per direction, no read noise; fit: {t['fit_model']} "
                  f"({t['fit_chosen_by']}; ΔBIC {t['fit_delta_bic']}; {t['fit_wall_s']:.0f} s)",
                  "| parameter | preset | fitted ± se | (fitted − preset)/se |", "|---|---|---|---|"]
        for name, p in t["parameters"].items():
            pre = "–" if p["preset"] is None else f"{p['preset']:.4g}"
            fitted = "–" if p["fitted"] is None else f"{p['fitted']:.4g} ± {p['se']:.2g}"
            z = "–" if p["z"] is None else f"{p['z']:+.1f}"
            lines.append(f"| {name} | {pre} | {fitted} | {z} |")
        odd = [f"{k} ({p['z']:+.3g} se: {p['fitted']:.4g} ± {p['se']:.2g})" for k, p in t["parameters"].items()
               if p["z"] is not None and abs(p["z"]) > 5]
        if odd:
            lines.append(f"more than 5 standard errors from the preset: {', '.join(odd)}")
        if "error" in t:
            lines.append(f"FAILED: {t['error']}")
            return "\n".join(lines)
        tr = t["train"]
        lines += ["", f"training: {tr['network']}, {tr['epochs']} epochs, {tr['train_samples']} training images, "
                      f"seeds {tr['seeds']}, {tr['dtype']}",
                  "| seed | preset | fitted | fitted − preset |", "|---|---|---|---|"]
        for p, f, d in zip(t["runs"]["preset"], t["runs"]["fitted"], t["paired_differences"]):
            lines.append(f"| {p['seed']} | {100 * p['test_accuracy']:.2f} % | {100 * f['test_accuracy']:.2f} % | "
                         f"{100 * d:+.2f} pt |")
        s = t["summary"]
        for k in ("preset", "fitted"):
            std = "–" if s[k]["std"] is None else f"{100 * s[k]['std']:.2f}"
            lines.append(f"{k}: {100 * s[k]['mean']:.2f} ± {std} % (mean ± seed std), energy/update "
                         f"{s[k]['energy_per_update_J']:.3e} J")
        ratio = t["difference_in_seed_stds"]
        lines.append(f"difference fitted − preset: {100 * t['difference_fitted_minus_preset']:+.2f} pt"
                     + ("" if ratio is None else f" = {ratio:+.2f} × the pooled seed-to-seed std "
                                                 f"({100 * t['pooled_seed_std']:.2f} pt)"))
        for note in t["known_differences"]:
            lines.append(f"known difference: {note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 seeds in auto, 2 in coverage, training 1 epoch on 1000 images, seeds 0,1; "
                         "writes no JSON unless --out is given")
    ap.add_argument("--parts", default="auto,coverage,training")
    ap.add_argument("--auto-seeds", type=int, default=None, help=f"seeds per model in (a) (full: {FULL_AUTO_SEEDS})")
    ap.add_argument("--coverage-seeds", type=int, default=None, help="seeds per model in (b) (full: 10)")
    ap.add_argument("--out", default=None, help=f"JSON file (full mode default: {DEFAULT_OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"auto", "coverage", "training"}
    if unknown:
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    auto_seeds = args.auto_seeds or (3 if args.quick else FULL_AUTO_SEEDS)
    coverage_seeds = args.coverage_seeds or (2 if args.quick else 10)
    out_path = Path(args.out) if args.out else (None if args.quick else DEFAULT_OUT)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    out = {"mode": "quick" if args.quick else "full", "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": machine(), "source": source_state(), "load_average_start": load_average(), "parts": parts,
           "notes": [],
           "part_wall_s": {}}
    if auto_seeds < 20 and not args.quick:
        out["notes"].append(f"(a) uses {auto_seeds} seeds per model, not 20, to keep the full run near 25 minutes "
                            "on a 2-core machine (one auto fit takes seconds to minutes: 4 candidate laws, and data "
                            "with hard bounds give new array shapes, compiled anew); --auto-seeds 20 for all 20")
    t_all = time.perf_counter()
    for part in parts:
        t0 = time.perf_counter()
        try:
            if part == "auto":
                out["auto"] = study_auto(auto_seeds, log)
            elif part == "coverage":
                out["coverage"] = study_coverage(coverage_seeds, log)
            else:
                out["training"] = (study_training(1, [0, 1], 1000, log) if args.quick
                                   else study_training(5, [0, 1, 2], 0, log))
        except Exception as err:  # a failure is a result too: record it, go on with the other parts
            import traceback

            out.setdefault("errors", {})[part] = f"{type(err).__name__}: {err}"
            log(traceback.format_exc())
        out["part_wall_s"][part] = round(time.perf_counter() - t0, 1)
    out["wall_s"] = round(time.perf_counter() - t_all, 1)
    out["load_average_end"] = load_average()
    if out_path is not None:   # the numbers first, whatever happens to the summary
        atomic_write_json(out_path, out)
    text = summary_text(out)
    out["summary"] = text
    if out_path is not None:
        atomic_write_json(out_path, out)
    print(text)
    if out_path is not None:
        print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
