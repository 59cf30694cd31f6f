"""The outputs of a parameter study (synaptax.studies: report, figures, compare): the Pareto
front, results.csv and summary.csv, the figures, the self-contained report.html, studies
that failed, and ``compare`` over run and study folders."""
import base64
import copy
import csv
import json
import math
import re
import zlib

import numpy as np
import pytest

from synaptax.studies import compare as cmp
from synaptax.studies import figures as figs
from synaptax.studies import report as rep

DEVICES = ("reram-sb", "ecram-mg")
ADC = (4, 6, 8)
SEEDS = (0, 1, 2)
STUDY_TOML = '''name = "adc <script>alert(1)</script>"
[grid]
device = ["reram-sb", "ecram-mg"]
adc_bits = [4, 6, 8]
seed = [0, 1, 2]
'''


def fake_report(device, adc, seed, *, costs=True, analog=True):
    rng = np.random.default_rng(zlib.crc32(f"{device}/{adc}/{seed}".encode()))
    acc = 0.80 + 0.02 * adc / 2 + (0.03 if device == "ecram-mg" else 0.0) + 0.005 * rng.standard_normal()
    e = (2e-9 if device == "reram-sb" else 5e-9) * (1 + 0.3 * adc) * (1 + 0.01 * rng.standard_normal())
    report = {
        "status": "finished", "test_accuracy": float(acc),
        "energy_per_update_J": e if analog else None, "write_energy_per_update_J": 0.1 * e if analog else None,
        "read_energy_per_update_J": 0.05 * e if analog else None,
        "converter_energy_per_update_J": 0.85 * e if analog else None,
        "energy_per_inference_J": 0.05 * e if analog else None, "total_training_energy_J": 1000 * e if analog else None,
        "pulses_per_update": 3e4 if analog else None, "updates": 1000, "latency_per_update_s": 1e-6 * adc if analog
        else None, "device_time_s": 1e-3 * adc if analog else None, "cells": 159_000, "epochs": 2,
        "epochs_finished": 2, "train_samples": 5000, "test_samples": 1000, "wall_time_s": 12.5 + seed,
        "device": device if analog else "float", "algorithm": "analog-sgd" if analog else "float",
        "network": "784-100-10", "physical": {"adc_bits": adc}, "history": [], "backend": "cpu",
        "ir_drop_effect": [], "config": {},
    }
    if costs and analog:
        report["costs"] = {"area_m2": 2.5e-7 * (1 + adc / 8), "inference_latency_s": 2e-7 * adc,
                           "inference_tops_per_w": 12.0 / adc, "breakdown": {"adc_area_m2": 1e-7}, "note": "x"}
    return report


def fake_config(device, adc, seed, **extra):
    return {"device": device, "algorithm": "analog-sgd", "hidden": [100], "epochs": 2, "batch_size": 16,
            "learning_rate": 0.5, "seed": seed, "dac_bits": 7, "adc_bits": adc, "r_wire": 1.06, "rest_time": 0.0,
            "ir_drop": False, "train_samples": 5000, "test_samples": 1000, "data_dir": None,
            "device_params": {"variability.c2c": 0.1}, **extra}


def fake_points(*, fail=("p0004",), diverge=("p0010",), pending=("p0017",)):
    points = []
    i = 0
    for device in DEVICES:
        for adc in ADC:
            for seed in SEEDS:
                pid = f"p{i:04d}"
                status = ("failed" if pid in fail else "diverged" if pid in diverge else
                          "pending" if pid in pending else "finished")
                report = fake_report(device, adc, seed) if status in ("finished", "diverged") else None
                if status == "diverged":
                    report["status"] = "diverged"
                    report["test_accuracy"] = 0.1
                points.append({
                    "id": pid, "status": status,
                    "message": "out of memory <in batch 2> & retried" if status == "failed" else
                               "loss not finite at epoch 1" if status == "diverged" else None,
                    "swept": {"device": device, "adc_bits": adc, "seed": seed},
                    "config": fake_config(device, adc, seed),
                    "report": report, "run_dir": f"points/{pid}-{device}-analog-sgd-seed{seed}",
                    "batch": i // 9 if status != "pending" else None})
                i += 1
    return points


def fake_study(points, name="adc sweep"):
    return {"name": name, "file": "nowhere/study.toml", "text": STUDY_TOML, "description": "ADC resolution & devices",
            "axes": ["device", "adc_bits", "seed"], "grid": {"device": list(DEVICES), "adc_bits": list(ADC),
                                                             "seed": list(SEEDS)},
            "zip": {}, "base": {"epochs": 2}, "created": "2025-01-01T00:00:00", "synaptax_version": "0.1.0",
            "wall_time_s": 321.0,
            "batches": [{"points": [p["id"] for p in points[k:k + 9]], "size": 9, "compiled_programs": 1,
                         "note": "vmapped over seeds"} for k in range(0, len(points), 9)]}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def drawn(fig):
    """Whether every axis of a figure with data has something drawn on it."""
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    return data_axes and all(ax.lines or ax.collections or ax.images for ax in data_axes)


# ----------------------------------------------------------------------------- Pareto front
@pytest.mark.parametrize("xs, ys, kw, expected", [
    ([1.0], [0.5], {}, [0]),                                        # a single point is its own front
    ([], [], {}, []),
    ([1, 2, 3], [0.5, 0.7, 0.9], {}, [0, 1, 2]),                    # a trade-off: all on the front
    ([1, 2, 3], [0.9, 0.7, 0.5], {}, [0]),                          # the cheapest is also the best
    ([1, 1, 2], [0.8, 0.8, 0.7], {}, [0, 1]),                       # identical points: both kept
    ([1, 1, 2], [0.8, 0.9, 0.95], {}, [1, 2]),                      # same x, lower y: dominated
    ([1, 2, 2], [0.8, 0.8, 0.9], {}, [0, 2]),                       # same y, higher x: dominated
    ([1, None, math.nan, 0.5], [0.5, 1.0, 1.0, 0.4], {}, [0, 3]),  # missing values are never on it
    ([1, 2, 3], [0.9, 0.7, 0.5], {"minimize_x": False}, [0, 1, 2]),
    ([1, 2, 3], [0.5, 0.7, 0.9], {"maximize_y": False}, [0]),
])
def test_pareto_front_hand_cases(xs, ys, kw, expected):
    assert figs.pareto_front(xs, ys, **kw) == expected


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 6, 40).astype(float), rng.integers(0, 6, 40).astype(float)   # many ties
    brute = [i for i in range(40) if not any(x[j] <= x[i] and y[j] >= y[i] and (x[j] < x[i] or y[j] > y[i])
                                             for j in range(40))]
    assert figs.pareto_front(x, y) == brute
    with pytest.raises(ValueError, match="2 x values but 1"):
        figs.pareto_front([1, 2], [1])


# ----------------------------------------------------------------------------- CSVs and summary
def test_results_csv_round_trip(tmp_path):
    points = fake_points()
    path = tmp_path / "results.csv"
    rep.write_results_csv(path, points)
    rows = read_csv(path)
    assert [r["id"] for r in rows] == [p["id"] for p in points]
    header = list(rows[0])
    assert header[:6] == ["id", "status", "message", "device", "adc_bits", "seed"]
    metrics = rep.metric_names(points)
    assert {"test_accuracy", "energy_per_update_J", "costs.area_m2", "costs.breakdown.adc_area_m2"} <= set(metrics)
    assert "epochs" not in metrics and "costs.note" not in metrics       # a setting, a string
    assert header[6:6 + len(metrics)] == metrics                         # axes, then metrics, then config
    for col in ("learning_rate", "hidden", "device.variability.c2c", "dac_bits", "run_dir", "batch", "network"):
        assert col in header
    assert header.count("device") == 1 and header.count("adc_bits") == 1   # the axis is the config column
    by_id = {r["id"]: r for r in rows}
    assert by_id["p0004"]["status"] == "failed"
    assert by_id["p0004"]["message"] == "out of memory <in batch 2> & retried"
    assert by_id["p0004"]["test_accuracy"] == "" and by_id["p0004"]["batch"] == "0"
    assert by_id["p0017"]["batch"] == ""
    first = points[0]
    assert float(by_id["p0000"]["test_accuracy"]) == first["report"]["test_accuracy"]   # exact
    assert float(by_id["p0000"]["costs.area_m2"]) == first["report"]["costs"]["area_m2"]
    assert by_id["p0000"]["hidden"] == "100" and by_id["p0000"]["device.variability.c2c"] == "0.1"
    assert by_id["p0000"]["ir_drop"] == "false" and by_id["p0000"]["data_dir"] == ""
    assert int(by_id["p0005"]["adc_bits"]) == 6


def test_summary_statistics_against_numpy(tmp_path):
    points = fake_points()
    summary = rep.summarise(points, ["device", "adc_bits", "seed"])
    assert len(summary) == 6
    assert [g["label"] for g in summary[:2]] == ["device=reram-sb, adc_bits=4", "device=reram-sb, adc_bits=6"]
    for g in summary:
        members = [p for p in points if p["id"] in g["points"]]
        fin = [p["report"] for p in members if p["status"] == "finished"]
        assert g["n"] == 3 and g["n_finished"] == len(fin)
        for key in ("test_accuracy", "energy_per_update_J"):
            vals = np.array([r[key] for r in fin])
            assert g["metrics"][key]["mean"] == pytest.approx(vals.mean(), rel=1e-12)
            if len(vals) >= 2:
                assert g["metrics"][key]["std"] == pytest.approx(vals.std(ddof=1), rel=1e-12)
            else:
                assert g["metrics"][key]["std"] is None
        area = np.array([r["costs"]["area_m2"] for r in fin])
        assert g["metrics"]["costs.area_m2"]["mean"] == pytest.approx(area.mean())
    g = summary[1]      # reram-sb, adc 6: p0003 p0004 (failed) p0005
    assert (g["n_finished"], g["n_failed"], g["seeds"]) == (2, 1, [0, 1, 2])
    assert [x["n_diverged"] for x in summary][3] == 1       # p0010: ecram-mg, adc 4; not averaged
    assert summary[3]["metrics"]["test_accuracy"]["mean"] > 0.5
    one = rep.summarise(points[:1], ["device", "adc_bits", "seed"])
    assert one[0]["metrics"]["test_accuracy"]["std"] is None and one[0]["metrics"]["test_accuracy"]["n"] == 1

    path = tmp_path / "summary.csv"
    rep.write_summary_csv(path, summary)
    rows = read_csv(path)
    assert len(rows) == 6 and rows[1]["n_failed"] == "1" and rows[1]["points"] == "p0003 p0004 p0005"
    assert float(rows[0]["test_accuracy.mean"]) == summary[0]["metrics"]["test_accuracy"]["mean"]
    assert float(rows[0]["test_accuracy.std"]) == summary[0]["metrics"]["test_accuracy"]["std"]


def test_format_metric_engineering_units():
    assert rep.format_metric("test_accuracy", 0.91234, 0.004) == "91.23 ± 0.40 %"
    assert rep.format_metric("energy_per_update_J", 2.64e-8, 1.2e-9) == "26.4 ± 1.2 nJ"
    assert rep.format_metric("latency_per_update_s", 3e-6) == "3 µs"
    assert rep.format_metric("costs.area_m2", 5.2e-7) == "0.52 mm²"
    assert rep.format_metric("energy_per_update_J", None) == "—"
    assert rep.format_metric("updates", 1000) == "1000"
    assert rep.format_metric("energy_per_update_J", 999.7e-12) == "1 nJ"


# ----------------------------------------------------------------------------- figures
def test_figures_draw_data():
    points = fake_points()
    # a float reference group (no energy) beside the analog ones
    ref = copy.deepcopy(points[0])
    ref.update(id="p9999", swept={"device": "float", "adc_bits": 4, "seed": 0},
               report=fake_report("ideal", 4, 0, analog=False))
    summary = rep.summarise(points + [ref], ["device", "adc_bits", "seed"])
    for fig in (figs.figure_accuracy_energy(summary), figs.figure_accuracy_latency(summary),
                figs.figure_heatmap(summary), figs.figure_axis_lines(summary)):
        assert drawn(fig)
        assert figs.png_bytes(fig).startswith(b"\x89PNG")
    lat = figs.figure_accuracy_latency(summary)
    assert "inference latency" in lat.axes[0].get_xlabel()
    no_costs = [{**g, "metrics": {k: v for k, v in g["metrics"].items() if not k.startswith("costs.")}}
                for g in summary]
    assert "training update" in figs.figure_accuracy_latency(no_costs).axes[0].get_xlabel()
    assert figs.figure_accuracy_energy(summary).axes[0].get_xscale() == "log"
    # three varied axes: one heatmap panel per value of the third
    pts3 = [dict(p, swept={**p["swept"], "dac_bits": d}, id=f"{p['id']}-{d}") for p in points for d in (4, 8)]
    s3 = rep.summarise(pts3, ["device", "adc_bits", "dac_bits", "seed"])
    heat = figs.figure_heatmap(s3)
    assert len([ax for ax in heat.axes if ax.images]) == 2 and drawn(heat)
    assert len(figs.figure_axis_lines(s3).axes) == 2          # adc_bits and dac_bits


def test_figures_with_nothing_to_plot():
    one_axis = rep.summarise(fake_points(), ["device", "seed"])      # grouped by device only
    with pytest.raises(figs.NothingToPlot, match="two non-seed axes"):
        figs.figure_heatmap(one_axis)
    with pytest.raises(figs.NothingToPlot, match="numeric"):
        figs.figure_axis_lines(one_axis)
    failed = rep.summarise(fake_points(fail=[f"p{i:04d}" for i in range(18)]), ["device", "adc_bits", "seed"])
    for f in (figs.figure_accuracy_energy, figs.figure_accuracy_latency, figs.figure_heatmap,
              figs.figure_axis_lines):
        with pytest.raises(figs.NothingToPlot):
            f(failed)


# ----------------------------------------------------------------------------- report.html
def test_study_outputs_and_self_contained_html(tmp_path):
    points = fake_points()
    study = fake_study(points, name="adc <script>alert(1)</script>")
    out = rep.write_study_outputs(tmp_path, study, points)
    assert set(out["figures"]) == {"accuracy_vs_energy", "accuracy_vs_latency", "heatmap_accuracy",
                                   "accuracy_across_axes"} and not out["skipped_figures"]
    for p in out["figures"].values():
        assert p.parent == tmp_path / "figures" and p.read_bytes().startswith(b"\x89PNG")
    assert len(read_csv(out["results_csv"])) == 18 and len(read_csv(out["summary_csv"])) == 6
    text = out["report_html"].read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text) and "http" not in text.replace("http-equiv", "")
    assert text.count("data:image/png;base64,") == 4
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG")
    for needle in ("out of memory &lt;in batch 2&gt; &amp; retried", "loss not finite", "p0017", "Pareto",
                   "mm²", "nJ", "± ", "[grid]", "vmapped over seeds", "0.1.0", "Every point", "How to read this",
                   "ADC resolution &amp; devices", "energy per update [J]"):
        assert needle in text, needle


def test_all_failed_or_pending_study_does_not_crash(tmp_path):
    points = fake_points(fail=[f"p{i:04d}" for i in range(10)], diverge=(),
                         pending=[f"p{i:04d}" for i in range(10, 18)])
    for p in points[:3]:
        p["message"] = None
    out = rep.write_study_outputs(tmp_path, fake_study(points), points)
    assert out["figures"] == {} and len(out["skipped_figures"]) == 4
    text = out["report_html"].read_text(encoding="utf-8")
    assert "No point has finished" in text and "(no message)" in text and "data:image/png" not in text
    rows = read_csv(out["results_csv"])
    assert len(rows) == 18 and "test_accuracy" not in rows[0]       # no point has a metric
    empty = rep.write_study_outputs(tmp_path / "empty", {"name": "nothing"}, [])
    assert "no points" in empty["report_html"].read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One short real training run (the only one in this file)."""
    from synaptax.training.loop import TrainConfig, train

    run_dir = tmp_path_factory.mktemp("runs") / "ideal-run"
    report = train(TrainConfig(epochs=1, train_samples=200, test_samples=200, hidden=(16,)), run_dir,
                   progress=None, log=lambda s: None)
    return run_dir, report


@pytest.mark.slow
def test_compare_runs_and_study(tmp_path, real_run):
    run_dir, report = real_run
    other = tmp_path / "reram-run"
    other.mkdir()
    (other / "report.json").write_text(json.dumps(fake_report("reram-sb", 6, 0)))
    study_dir = tmp_path / "study"
    points = fake_points()
    # the real run as one point of the study, its report as written by train
    points[0]["report"] = json.loads((run_dir / "report.json").read_text())
    rep.write_study_outputs(study_dir, fake_study(points, name="adcs"), points)
    header, rows = cmp.compare([run_dir, other, study_dir])
    assert header[:6] == ["run / study group", "status", "device", "algorithm", "network", "epochs"]
    assert "area" in header and "TOPS/W" in header
    assert len(rows) == 2 + 6
    assert rows[0][0] == "ideal-run" and rows[0][2] == "ideal" and rows[0][4] == "784-16-10"
    acc = header.index("test accuracy")
    assert rows[0][acc] == f"{100 * report['test_accuracy']:.2f} %"
    area = (report.get("costs") or {}).get("area_m2")      # the cost model, where it reports one
    assert rows[0][header.index("area")] == ("—" if area is None else rep.format_metric("costs.area_m2", area))
    assert rows[1][header.index("area")].endswith("mm²")
    assert rows[2][0] == "study:device=reram-sb, adc_bits=4"       # no study.json: the folder's name
    assert " ± " in rows[2][acc] and rows[3][1] == "2/3 finished, 1 failed"
    assert rows[2][2] == "reram-sb" and rows[2][4] == "784-16-10/784-100-10"
    (study_dir / "study.json").write_text(json.dumps({"name": "adcs"}))
    text = cmp.format_compare([run_dir, study_dir])
    lines = text.splitlines()
    assert lines[0].startswith("+-") and lines[0] == lines[2] == lines[-1]
    assert len({len(line) for line in lines}) == 1 and "adcs:device=ecram-mg, adc_bits=8" in text
    table = list(csv.DictReader(cmp.format_compare([run_dir, other, study_dir], csv=True).splitlines()))
    assert len(table) == 8 and float(table[0]["test_accuracy"]) == report["test_accuracy"]
    assert table[0]["test_accuracy_std"] == "" and float(table[2]["test_accuracy_std"]) > 0
    assert table[1]["costs.area_m2"] != "" and table[0]["kind"] == "run" and table[2]["kind"] == "study"


def test_compare_bad_paths(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"'.*empty' is neither a run folder \(no report.json\) nor a study folder "
                                         r"\(no summary.csv\)"):
        cmp.compare([tmp_path / "empty"])
    with pytest.raises(ValueError, match="does not exist"):
        cmp.compare([tmp_path / "missing"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "report.json").write_text('{"status": ')
    with pytest.raises(ValueError, match="not valid JSON"):
        cmp.compare([tmp_path / "broken"])
    with pytest.raises(ValueError, match="at least one"):
        cmp.compare([])


def test_no_pyplot(tmp_path):
    """Drawing a study's figures leaves pyplot and the global backend alone (a fresh
    interpreter: another test may have imported pyplot)."""
    import subprocess
    import sys

    # rcParams read raw: matplotlib.get_backend() itself imports pyplot
    code = ("import sys, matplotlib; b = dict.__getitem__(matplotlib.rcParams, 'backend'); "
            "from synaptax.studies import report, compare; "
            "report.write_study_outputs(sys.argv[1], {'name': 's'}, [{'id': 'p0', 'status': 'finished', "
            "'swept': {'adc_bits': 4}, 'config': {}, 'report': {'test_accuracy': 0.9, "
            "'energy_per_update_J': 1e-9}}, {'id': 'p1', 'status': 'finished', 'swept': {'adc_bits': 6}, "
            "'config': {}, 'report': {'test_accuracy': 0.95, 'energy_per_update_J': 2e-9}}]); "
            "print(compare.format_compare([sys.argv[1]])); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
            "assert dict.__getitem__(matplotlib.rcParams, 'backend') == b")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ":adc_bits=6" in out.stdout and (tmp_path / "figures" / "accuracy_across_axes.png").is_file()
