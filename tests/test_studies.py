"""Studies: the study file, batching over configurations, resuming, failures, the CLI.

The training studies here are tiny (8 hidden units, 64 training and 64 test images) so a
whole study compiles and trains in seconds; the benchmark (benchmarks/studies.py) measures
the real ones.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from synaptax.cli import main
from synaptax.studies import EXAMPLE, StudyError, read_study, run_study
from synaptax.studies.engine import Batched, compatible, plan, scan_points
from synaptax.training.loop import TrainConfig, build, train

TINY = """
[base]
epochs = 2
hidden = [8]
train_samples = 64
test_samples = 64
batch_size = 16
"""


def write(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- the file
def test_example_parses_into_the_promised_grid(tmp_path):
    study = read_study(write(tmp_path, EXAMPLE, "example.toml"))
    assert study.name == "device-adc"
    assert study.axes == ("device", "adc_bits", "seed")
    assert len(study.points) == 3 * 4 * 5
    first, last = study.points[0], study.points[-1]
    assert first.swept == {"device": "reram-sb", "adc_bits": 4, "seed": 0}
    assert last.swept == {"device": "h-wo3", "adc_bits": 10, "seed": 4}
    assert last.config.epochs == 2 and last.config.train_samples == 1000 and last.config.adc_bits == 10
    assert len({p.folder for p in study.points}) == 60


def test_grid_times_zip_and_device_parameters(tmp_path):
    study = read_study(write(tmp_path, TINY.replace("hidden = [8]\n", "") + """
[grid]
device = ["reram-sb", "ideal"]
"device.variability.c2c" = [0.0, 0.2]
[zip]
lr = [0.5, 0.1, 0.05]
hidden = [[8], [16], [8, 4]]
"""))
    assert study.axes == ("device", "device.variability.c2c", "lr", "hidden")
    assert len(study.points) == 2 * 2 * 3
    p = study.points[5]
    assert p.swept == {"device": "reram-sb", "device.variability.c2c": 0.2, "lr": 0.05, "hidden": [8, 4]}
    assert p.config.learning_rate == 0.05 and p.config.hidden == (8, 4)
    assert p.config.device_params == (("variability.c2c", 0.2),)
    alg = build(p.config, 10)
    assert alg.model.crossbars[0].device.variability.c2c == 0.2


@pytest.mark.parametrize("text, line, words", [
    ('[grid]\ndevce = ["ideal"]\n', 2, "unknown setting 'devce'"),
    ('[base]\nepochs = 1\n[grid]\nseed = [0]\ndevice = ["ideal", "nope"]\n', 5, "unknown device 'nope'"),
    ('[base]\nepochs = "two"\n', 2, "epochs must be int"),
    ('[zip]\nlr = [0.1, 0.2]\nseed = [1]\n', 2, "one length"),
    ('[grid]\nlr = 0.1\n', 2, "non-empty list"),
    ('[grid]\n"device.variability.cc" = [0.1]\n[base]\ndevice = "reram-sb"\n', 2, "not a numeric parameter"),
    ('[study]\nseeds = 0\n', 2, "seeds must be"),
    ('[study]\nvmap = 0\n', 2, "vmap must be"),
    ('[study]\nplots = "yes"\n', 2, "plots must be true or false"),
    ('[study]\nname = "a b"\n', 2, "folder-safe"),
    ('[sweep]\nx = 1\n', 1, "unknown table [sweep]"),
    ('[grid]\nadc_bits = [1, 4]\n', 2, "adc_bits = 1: adc_bits must be 0 (ideal) or >= 2"),
])
def test_bad_study_files_name_the_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(StudyError) as err:
        read_study(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}:"), msg
    assert words in msg and "\n" not in msg


def test_epochs_can_be_an_axis(tmp_path):
    study = read_study(write(tmp_path, TINY.replace("epochs = 2\n", "") + "[grid]\nepochs = [1, 2]\n"))
    a, b = study.points
    assert a.config.run_name() == b.config.run_name() and a.folder != b.folder


def test_a_setting_given_twice_is_refused(tmp_path):
    path = write(tmp_path, TINY + "[grid]\nepochs = [1, 2]\n")
    with pytest.raises(StudyError, match=rf"^{path}:9: 'epochs' is given twice \(also in \[base\]\)"):
        read_study(path)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(StudyError, match=r"not valid TOML.*line 2"):
        read_study(write(tmp_path, "[base]\nepochs = = 2\n"))
    with pytest.raises(StudyError, match="no such study file"):
        read_study(tmp_path / "missing.toml")


def test_incompatible_combinations_are_all_listed_before_training(tmp_path):
    path = write(tmp_path, TINY + """
[grid]
device = ["con-25nm", "reram-sb", "ideal"]
gate_voltage = [-20.0]
""")
    with pytest.raises(StudyError) as err:
        read_study(path)
    msg = str(err.value)
    assert msg.startswith("2 of the study's 3 points cannot run")
    assert "p0001 (device=reram-sb, gate_voltage=-20)" in msg and "p0002 (device=ideal" in msg
    assert not (tmp_path / "studies").exists()


# ----------------------------------------------------------------------------- batching
def test_compatible_batches_numbers_not_structure():
    base = TrainConfig(device="reram-sb", hidden=(8,))
    a = build(base, 10)
    import dataclasses

    def with_(**kw):
        return build(dataclasses.replace(base, **kw), 10)

    for kw in ({"learning_rate": 0.1}, {"adc_bits": 5}, {"rest_time": 1.0}, {"r_wire": 2.0},
               {"device_params": (("variability.c2c", 0.1),)}, {"seed": 3}):
        assert compatible(a, with_(**kw)) is None, kw
    for kw in ({"hidden": (16,)}, {"device": "ideal"}, {"adc_bits": 0}, {"algorithm": "mixed-precision"}):
        assert compatible(a, with_(**kw)) is not None, kw
    b = Batched([a, with_(learning_rate=0.1), with_(adc_bits=5)])
    paths = b.varying_paths()
    assert any("learning_rate" in p for p in paths) and any("bits" in p for p in paths)
    assert b.size == 3


def test_memory_check_cuts_batches(tmp_path, monkeypatch):
    study = read_study(write(tmp_path, TINY + "[grid]\nseed = [0, 1, 2, 3, 4]\n"))
    runs = scan_points(study, tmp_path / "out", dry_run=True)
    import synaptax.studies.engine as engine

    logs = []
    assert [len(b) for b in plan(runs, data_steps=lambda c: 4, max_batch=None, log=logs.append)] == [5]
    assert [len(b) for b in plan(runs, data_steps=lambda c: 4, max_batch=2, log=logs.append)] == [2, 2, 1]
    monkeypatch.setattr(engine, "available_memory", lambda: 1)
    logs.clear()
    assert [len(b) for b in plan(runs, data_steps=lambda c: 4, max_batch=None, log=logs.append)] == [1] * 5
    assert logs and "batches of 1" in logs[0] and "MiB each" in logs[0]


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One study of three points in one batch (two seeds, two learning rates, two ADC
    resolutions), and the same configurations trained alone."""
    root = tmp_path_factory.mktemp("study")
    path = write(root, '[study]\nplots = true\n' + TINY + """device = "reram-sb"
[zip]
seed = [0, 1, 0]
lr = [0.5, 0.5, 0.2]
adc_bits = [9, 9, 6]
""")
    study = read_study(path)
    logs = []
    result = run_study(study, root / "out", log=logs.append)
    return study, root, result, logs


def test_points_train_in_one_batch_and_match_single_runs(trained, tmp_path):
    study, root, result, logs = trained
    assert result["trained"] == 3 and result["failed"] == 0
    assert [b["size"] for b in result["batches"]] == [1 * 3]
    assert all(p["status"] == "finished" for p in result["points"])
    for point, record in zip(study.points[::2], result["points"][::2]):
        alone = train(point.config, tmp_path / point.id, progress=None, log=lambda s: None)
        batched = record["report"]
        assert batched["study"]["batch_size"] == 3
        np.testing.assert_allclose([h["train_loss"] for h in batched["history"]],
                                   [h["train_loss"] for h in alone["history"]], rtol=1e-6)
        assert batched["test_accuracy"] == pytest.approx(alone["test_accuracy"], abs=1.5 / 64)
        np.testing.assert_allclose(batched["energy_per_update_J"], alone["energy_per_update_J"], rtol=1e-5)
        np.testing.assert_allclose(batched["energy_per_inference_J"], alone["energy_per_inference_J"], rtol=1e-5)
        assert batched["costs"]["area_m2"] == pytest.approx(alone["costs"]["area_m2"])


def test_study_folder_holds_the_outputs(trained):
    study, root, result, logs = trained
    out = root / "out"
    for name in ("results.csv", "summary.csv", "report.html", "study.json", "study.toml"):
        assert (out / name).is_file(), name
    assert (out / "study.toml").read_text() == study.text
    meta = json.loads((out / "study.json").read_text())
    assert meta["status"]["finished"] == 3 and meta["batches"][0]["size"] == 3
    import csv

    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["id"] for r in rows] == ["p0000", "p0001", "p0002"]
    assert all(r["status"] == "finished" for r in rows)
    for p in (out / "points").iterdir():
        assert {"config.json", "report.json", "history.png"} <= {f.name for f in p.iterdir()}


def test_rerun_recomputes_nothing_and_resumes_an_interrupted_point(trained):
    study, root, result, logs = trained
    out = root / "out"
    stamps = {p: (p / "report.json").stat().st_mtime_ns for p in (out / "points").iterdir()}
    again = run_study(study, out, log=lambda s: None)
    assert again["trained"] == 0 and again["skipped"] == 3
    assert {p: (p / "report.json").stat().st_mtime_ns for p in (out / "points").iterdir()} == stamps
    # interrupt one point after its first epoch: its report and last checkpoint go
    victim = out / result["points"][1]["run_dir"]
    before = json.loads((victim / "report.json").read_text())
    (victim / "report.json").unlink()
    newest = sorted(victim.glob("checkpoint-epoch*.eqx"))[-1]
    assert newest.name == "checkpoint-epoch0002.eqx"
    newest.unlink()
    Path(str(newest) + ".json").unlink()
    logs = []
    resumed = run_study(study, out, log=logs.append)
    assert resumed["trained"] == 1 and resumed["skipped"] == 2
    assert any("1 resumed" in line for line in logs) and any("from epoch 1" in line for line in logs)
    after = json.loads((victim / "report.json").read_text())
    assert after["history"][0] == before["history"][0]  # epoch 1 was not recomputed
    np.testing.assert_allclose(after["history"][1]["train_loss"], before["history"][1]["train_loss"], rtol=1e-6)


def test_a_failing_point_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    import synaptax.training.loop as loop

    real = loop._report

    def report(config, *a, **kw):
        if config.seed == 1:
            raise RuntimeError("simulated failure\nsecond line")
        return real(config, *a, **kw)

    monkeypatch.setattr(loop, "_report", report)
    study = read_study(write(tmp_path, TINY.replace("epochs = 2", "epochs = 1") + "[grid]\nseed = [0, 1]\n"))
    logs = []
    result = run_study(study, tmp_path / "out", log=logs.append)
    status = {p["swept"]["seed"]: (p["status"], p["message"]) for p in result["points"]}
    assert status[0] == ("finished", None)
    assert status[1] == ("failed", "RuntimeError: simulated failure")
    assert result["failed"] == 1
    assert any("one by one" in line for line in logs)
    finished = tmp_path / "out" / result["points"][0]["run_dir"]
    assert (finished / "report.json").exists() and not (finished / "history.png").exists()  # plots: off by default
    failure = json.loads((tmp_path / "out" / result["points"][1]["run_dir"] / "failure.json").read_text())
    assert failure["message"] == "RuntimeError: simulated failure"
    # a failed point stays failed on a rerun, unless asked to retry
    monkeypatch.setattr(loop, "_report", real)
    assert run_study(study, tmp_path / "out", log=lambda s: None)["trained"] == 0
    retried = run_study(study, tmp_path / "out", retry_failed=True, log=lambda s: None)
    assert retried["trained"] == 1 and retried["failed"] == 0


def test_divergence_is_recorded_per_point(tmp_path):
    study = read_study(write(tmp_path, TINY.replace("epochs = 2", "epochs = 1")
                             + "divergence_factor = 1.0001\ndivergence_patience = 1\n"
                             + "[zip]\nlr = [0.5, 50.0]\nalgorithm = ['float', 'float']\n"))
    result = run_study(study, tmp_path / "out", log=lambda s: None)
    states = [p["status"] for p in result["points"]]
    assert "diverged" in states
    diverged = [p for p in result["points"] if p["status"] == "diverged"][0]
    assert "diverged" in diverged["message"] and diverged["report"]["status"] == "diverged"


def test_other_study_in_the_folder_is_refused(trained, tmp_path):
    from synaptax.studies import StudyRunError

    study, root, result, logs = trained
    other = read_study(write(tmp_path, '[study]\nname = "other"\n' + TINY + "[grid]\nseed = [0]\n"))
    with pytest.raises(StudyRunError, match="holds the study"):
        run_study(other, root / "out", log=lambda s: None)


# ----------------------------------------------------------------------------- the CLI
def test_cli_sweep_example_bad_file_and_compare(tmp_path, capsys, trained):
    assert main(["sweep", "--example"]) == 0
    text = capsys.readouterr().out
    assert read_study(write(tmp_path, text, "ex.toml")).name == "device-adc"
    bad = write(tmp_path, '[grid]\ndevice = ["nope"]\n', "bad.toml")
    assert main(["sweep", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"synaptax: error: {bad}:2:") and "Traceback" not in "".join(err)
    assert main(["sweep"]) == 1
    assert main(["sweep", str(bad), "--batch", "0"]) == 1
    study, root, result, logs = trained
    assert main(["sweep", str(study.path), "--out", str(root / "out"), "--dry-run"]) == 0
    assert "finished" in capsys.readouterr().out
    table = tmp_path / "compare.csv"
    assert main(["compare", str(root / "out"), str(root / "out" / result["points"][0]["run_dir"]),
                 "--csv", str(table)]) == 0
    assert "reram-sb" in capsys.readouterr().out
    import csv

    rows = list(csv.DictReader(open(table)))
    assert len(rows) == 2 + 1 and rows[-1]["kind"] == "run"  # two groups of seeds, one run


# ----------------------------------------------------------------------------- pieces
def test_device_params_round_trip_and_run_names():
    c = TrainConfig(device="reram-sb", device_params={"variability.c2c": 0.1, "step": 1e-8})
    assert c.device_params == (("step", 1e-8), ("variability.c2c", 0.1))
    assert TrainConfig.from_dict(c.as_dict()) == c
    assert c.run_name() != TrainConfig(device="reram-sb").run_name()
    # a configuration without device parameters keeps the name it had before they existed
    assert TrainConfig().run_name() == "ideal-analog-sgd-seed0-7802c9f8"
    from synaptax.training.loop import TrainingError

    with pytest.raises(TrainingError, match="device_params: variability.c2c must be a finite number"):
        TrainConfig.from_dict({"device_params": {"variability.c2c": "x"}})
    with pytest.raises(TrainingError, match="is not a numeric parameter of ideal"):
        TrainConfig(device_params={"nope": 1.0}).validate()


@pytest.mark.parametrize("name, schedule", [("sgd", "constant"), ("momentum", "cosine"), ("adam", "step")])
def test_optimizer_pytrees_match_optax(name, schedule):
    import jax
    import jax.numpy as jnp
    import optax

    from synaptax.training.algorithms import build_optimizer

    opt, sched = build_optimizer(name, 0.3, total_steps=20, schedule=schedule)
    ref_sched = {"constant": optax.constant_schedule(0.3),
                 "cosine": optax.cosine_decay_schedule(0.3, 20, alpha=0.05),
                 "step": optax.piecewise_constant_schedule(0.3, {10: 0.5, 15: 0.5})}[schedule]
    ref = {"sgd": optax.sgd(ref_sched), "momentum": optax.sgd(ref_sched, momentum=0.9),
           "adam": optax.adam(ref_sched)}[name]
    params = {"b": jnp.arange(3.0)}
    s1, s2 = opt.init(params), ref.init(params)
    for step in range(20):
        g = {"b": jnp.sin(jnp.arange(3.0) + step)}
        u1, s1 = opt.update(g, s1, params)
        u2, s2 = ref.update(g, s2, params)
        np.testing.assert_array_equal(u1["b"], u2["b"])
        assert float(sched(step)) == float(ref_sched(step))
    # the learning rate is a leaf: two builds compare equal, and it can be traced
    assert build_optimizer(name, 0.3, total_steps=20, schedule=schedule)[0] == opt
    lr_leaf = jax.jit(lambda o: o.schedule(3))(opt)
    assert float(lr_leaf) == pytest.approx(float(ref_sched(3)))


def test_ir_drop_study_matches_single_runs(tmp_path):
    study = read_study(write(tmp_path, TINY.replace("epochs = 2", "epochs = 1")
                             + 'device = "reram-sb"\nir_drop = true\nmax_tile = 64\n[grid]\nr_wire = [1.0, 20.0]\n'))
    result = run_study(study, tmp_path / "out", log=lambda s: None)
    assert [b["size"] for b in result["batches"]] == [2]
    point, record = study.points[1], result["points"][1]
    alone = train(point.config, tmp_path / "alone", progress=None, log=lambda s: None)
    batched = record["report"]
    assert batched["study"]["batched_parameters"] and "r_row" in " ".join(batched["study"]["batched_parameters"])
    for b, a in zip(batched["ir_drop_effect"], alone["ir_drop_effect"]):
        assert b["r_row_ohm"] == a["r_row_ohm"] == 20.0
        np.testing.assert_allclose(b["max_voltage_drop_V"], a["max_voltage_drop_V"], rtol=1e-6)
        np.testing.assert_allclose(b["relative_output_error"], a["relative_output_error"], rtol=1e-5)
    np.testing.assert_allclose([h["train_loss"] for h in batched["history"]],
                               [h["train_loss"] for h in alone["history"]], rtol=1e-6)


def test_sharded_over_two_host_devices_equals_one_device(trained, tmp_path):
    """The same study with the points split over two CPU devices (three points: one
    padding copy) gives the reports of the one-device run."""
    import subprocess
    import sys

    study, root, result, logs = trained
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_NUM_CPU_DEVICES="2",
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    code = ("import jax, sys\nassert len(jax.devices()) == 2\n"
            "from synaptax.studies import read_study, run_study\n"
            f"run_study(read_study({str(study.path)!r}), {str(tmp_path / 'out')!r}, log=lambda s: print(s))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "spread over 2 devices (3 points + 1 padding)" in out.stdout
    for record in result["points"]:
        one = record["report"]
        two = json.loads((tmp_path / "out" / record["run_dir"] / "report.json").read_text())
        np.testing.assert_allclose([h["train_loss"] for h in two["history"]],
                                   [h["train_loss"] for h in one["history"]], rtol=1e-9)
        assert two["test_accuracy"] == one["test_accuracy"]


def test_points_in_turn_equal_points_together(trained, tmp_path):
    """vmap = 1 (the points take turns in the same compiled program, their numbers traced)
    gives the reports of the batch stepped together."""
    study, root, result, logs = trained
    logs2 = []
    turn = run_study(study, tmp_path / "out", vmap=1, log=logs2.append)
    assert turn["batches"][0]["vmap"] == 1 and any("in turn" in line for line in logs2)
    for one, two in zip(result["points"], turn["points"]):
        np.testing.assert_allclose([h["train_loss"] for h in two["report"]["history"]],
                                   [h["train_loss"] for h in one["report"]["history"]], rtol=1e-9)
        assert two["report"]["test_accuracy"] == one["report"]["test_accuracy"]


def test_cli_device_param_option(capsys):
    assert main(["train", "--device-param", "c2c"]) == 1
    assert "--device-param must be PATH=NUMBER" in capsys.readouterr().err
    assert main(["train", "--device", "reram-sb", "--device-param", "nope=1"]) == 1
    assert "device parameter 'nope' is not a numeric parameter of reram-sb" in capsys.readouterr().err
