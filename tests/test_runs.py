"""Run folders, checkpoints, divergence, reports and the CLI a new user meets (issue 22).

Each test here failed on the main before the issue (9fa05dd … a268c34): runs overwrote each
other, corrupt checkpoints gave tracebacks, divergence exited 0, the report's energy was the
last epoch's, the CLI lacked --version/--config/--overwrite, files were created 0600."""
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax.numpy as jnp
import pytest

from synaptax.cli import _Progress, _summary, main
from synaptax.training.io import CheckpointError, atomic_write_json, load_checkpoint, save_checkpoint
from synaptax.training.loop import (DivergenceError, TrainConfig, TrainingError, checkpoint_path, checkpoints,
                                    train)

QUIET = dict(log=lambda s: None)
pytestmark = pytest.mark.timeout(600)


def _cfg(**kw):
    base = dict(algorithm="float", epochs=1, train_samples=320, test_samples=200, hidden=(16,))
    base.update(kw)
    return TrainConfig(**base)


def _analog(**kw):
    return _cfg(**({"algorithm": "analog-sgd", "device": "reram-sb"} | kw))


# ---------------------------------------------------------------- run folders
def test_a_finished_run_is_never_overwritten(tmp_path):
    run = tmp_path / "run"
    train(_cfg(), run, **QUIET)
    before = {f.name: f.read_bytes() for f in run.iterdir()}
    with pytest.raises(TrainingError, match=r"already holds a finished run of 1 epochs .*--resume.*--overwrite"):
        train(_cfg(learning_rate=0.1), run, **QUIET)
    assert {f.name: f.read_bytes() for f in run.iterdir()} == before
    rep = train(_cfg(learning_rate=0.1), run, overwrite=True, **QUIET)
    assert json.loads((run / "report.json").read_text())["config"]["learning_rate"] == 0.1 == rep["config"][
        "learning_rate"]
    assert [p.name for p in checkpoints(run)] == ["checkpoint-epoch0001.eqx"]


def test_default_run_folder_is_unique_per_configuration(tmp_path, monkeypatch, capsys):
    a, b = _cfg(), _cfg(learning_rate=0.1)
    assert a.run_name() != b.run_name()
    assert a.run_name() == _cfg().run_name()  # stable
    assert a.run_name() == _cfg(epochs=5).run_name()  # a resume with more epochs keeps its folder
    assert re.fullmatch(r"float-float-seed0-[0-9a-f]{8}", a.run_name())
    assert _cfg(seed=3, r_wire="22nm").run_name() != _cfg(seed=3).run_name()
    monkeypatch.chdir(tmp_path)
    common = ["train", "--algorithm", "float", "--epochs", "1", "--train-samples", "320", "--test-samples", "200",
              "--hidden", "16", "--progress", "never"]
    assert main(common) == 0
    assert main(common + ["--lr", "0.1"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([a.run_name(), b.run_name()])
    assert main(common) == 1  # the same configuration again: refused, not overwritten
    assert "already holds" in capsys.readouterr().err


def test_failed_starts_leave_no_folder(tmp_path, monkeypatch):
    with pytest.raises(TrainingError, match="cannot load the data"):
        train(_cfg(data_dir=str(tmp_path / "nowhere")), tmp_path / "a", **QUIET)
    with pytest.raises(TrainingError, match="no run to resume"):
        train(_cfg(), tmp_path / "b", resume=True, **QUIET)
    import synaptax.training.loop as loop

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "run_steps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(), tmp_path / "c", **QUIET)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------- checkpoints
CORRUPTIONS = {
    "truncated": lambda ck: ck.write_bytes(ck.read_bytes()[:1000]),
    "empty": lambda ck: ck.write_bytes(b""),
    "garbage": lambda ck: ck.write_bytes(os.urandom(len(ck.read_bytes()))),
    "metadata-truncated": lambda ck: Path(f"{ck}.json").write_text(Path(f"{ck}.json").read_text()[:40]),
    "metadata-empty": lambda ck: Path(f"{ck}.json").write_text(""),
    "metadata-missing": lambda ck: Path(f"{ck}.json").unlink(),
}


@pytest.mark.parametrize("fault", list(CORRUPTIONS))
def test_resume_from_a_corrupt_checkpoint_is_one_line_naming_the_file(fault, tmp_path, capsys):
    run = tmp_path / "run"
    train(_cfg(), run, **QUIET)
    ck = checkpoint_path(run, 1)
    CORRUPTIONS[fault](ck)
    argv = ["train", "--algorithm", "float", "--epochs", "2", "--train-samples", "320", "--test-samples", "200",
            "--hidden", "16", "--run-dir", str(run), "--resume", "--progress", "never"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("synaptax: error: ") and "checkpoint" in last and ck.name in last, err
    assert len(err.strip().splitlines()) <= 3, err


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    straight = train(_cfg(epochs=3), tmp_path / "straight", **QUIET)
    run = tmp_path / "run"
    train(_cfg(epochs=2), run, **QUIET)
    assert [p.name for p in checkpoints(run)] == ["checkpoint-epoch0002.eqx", "checkpoint-epoch0001.eqx"]
    CORRUPTIONS["truncated"](checkpoint_path(run, 2))
    lines = []
    rep = train(_cfg(epochs=3), run, resume=True, log=lines.append)
    assert any("skipping checkpoint" in s and "checkpoint-epoch0002.eqx" in s for s in lines), lines
    assert any("after epoch 1" in s for s in lines)
    assert rep["history"] == straight["history"]  # epoch 2 trained again, bit for bit
    # only the newest two are kept
    assert [p.name for p in checkpoints(run)] == ["checkpoint-epoch0003.eqx", "checkpoint-epoch0002.eqx"]


def test_checkpoint_of_another_model_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "ck.eqx"
    save_checkpoint(path, {"w": jnp.ones(3)}, {"epoch": 1})
    with pytest.raises(CheckpointError, match="ck.eqx.*does not fit"):
        load_checkpoint(path, {"w": jnp.ones(4)})
    tree, meta = load_checkpoint(path, {"w": jnp.zeros(3)})
    assert meta == {"epoch": 1}
    on_disk = json.loads(Path(f"{path}.json").read_text())
    assert on_disk["checkpoint_bytes"] == path.stat().st_size and len(on_disk["checkpoint_sha256"]) == 64


def test_files_are_created_with_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        train(_cfg(), tmp_path / "run", **QUIET)
    finally:
        os.umask(old)
    files = [tmp_path / "a.json"] + list((tmp_path / "run").iterdir())
    assert {f.name for f in files} >= {"report.json", "config.json", "history.png", "checkpoint-epoch0001.eqx"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


# ---------------------------------------------------------------- divergence
def test_divergence_from_the_start_is_an_error_with_a_report(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(DivergenceError) as info:
        train(_cfg(learning_rate=1e6, epochs=3), run, **QUIET)
    msg = str(info.value)
    assert re.search(r"diverged at epoch 1, batch \d+", msg) and "no epoch finished" in msg
    assert "checkpoint-epoch" not in msg and info.value.checkpoint is None
    rep = json.loads((run / "report.json").read_text())
    assert rep["status"] == "diverged" and rep["stopped"]["epoch"] == 1 and rep["history"] == []
    assert not checkpoints(run)


def _blow_up_after(monkeypatch, epoch_steps):
    """Make the loss explode (×1e4) from the given global step on."""
    import synaptax.training.loop as loop

    real = loop._step

    def exploding(alg, ts, x, y, key):
        ts, m = real(alg, ts, x, y, key)
        return ts, m._replace(loss=jnp.where(ts.step > epoch_steps, m.loss * 1e4, m.loss))

    monkeypatch.setattr(loop, "_step", exploding)


@pytest.mark.parametrize("poison", ["large", "nan"])
def test_divergence_keeps_the_finished_epochs(poison, tmp_path, monkeypatch):
    run = tmp_path / "run"
    steps = 320 // 16
    import synaptax.training.loop as loop

    if poison == "large":
        _blow_up_after(monkeypatch, steps)
    else:
        real = loop._step
        monkeypatch.setattr(loop, "_step", lambda alg, ts, x, y, key: (
            lambda r: (r[0], r[1]._replace(loss=jnp.where(r[0].step > steps + 3, jnp.nan, r[1].loss))))(
            real(alg, ts, x, y, key)))
    with pytest.raises(DivergenceError) as info:
        train(_cfg(epochs=3), run, **QUIET)
    msg = str(info.value)
    assert "epoch 2, batch" in msg and "checkpoint-epoch0001.eqx" in msg, msg
    assert ("nan" in msg) == (poison == "nan")
    assert info.value.checkpoint == checkpoint_path(run, 1) and info.value.checkpoint.exists()
    assert [p.name for p in checkpoints(run)] == ["checkpoint-epoch0001.eqx"]
    rep = json.loads((run / "report.json").read_text())
    assert rep["status"] == "diverged" and len(rep["history"]) == 1 and rep["epochs_finished"] == 1
    assert (run / "history.png").stat().st_size > 0


def test_cli_divergence_exits_nonzero_without_traceback(tmp_path, capsys):
    code = main(["train", "--algorithm", "float", "--lr", "1e6", "--epochs", "2", "--train-samples", "320",
                 "--test-samples", "200", "--hidden", "16", "--run-dir", str(tmp_path / "r"), "--progress", "never"])
    err = capsys.readouterr()
    assert code == 4 and "diverged at epoch 1" in err.err and "Traceback" not in err.err
    assert "test accuracy" not in err.out  # no success summary


# ---------------------------------------------------------------- report
@pytest.fixture(scope="module")
def analog_run(tmp_path_factory):
    """One short analog run (reram-sb, 2 epochs of 10 updates) shared by the report tests."""
    run = tmp_path_factory.mktemp("analog") / "run"
    return train(_analog(epochs=2, hidden=(8,), train_samples=160, test_samples=100), run, **QUIET), run


def test_report_gives_run_means_totals_and_physical_settings(analog_run):
    rep, _ = analog_run
    h = rep["history"]
    assert rep["updates"] == 2 * 10 == sum(e["updates"] for e in h)
    mean = sum(e["energy_per_update_J"] for e in h) / 2
    assert rep["energy_per_update_J"] == pytest.approx(mean, rel=1e-12)
    assert rep["energy_per_update_last_epoch_J"] == h[-1]["energy_per_update_J"]
    assert h[0]["energy_per_update_J"] != h[1]["energy_per_update_J"]  # the two differ: the mean is not the last
    assert rep["total_training_energy_J"] == pytest.approx(mean * 20, rel=1e-12)
    assert rep["total_pulses"] == pytest.approx(sum(e["pulses_per_update"] * 10 for e in h), rel=1e-12)
    assert rep["device_time_s"] == pytest.approx(rep["latency_per_update_s"] * 20, rel=1e-12)
    parts = sum(rep[k] for k in ("write_energy_per_update_J", "read_energy_per_update_J",
                                 "converter_energy_per_update_J"))
    assert parts == pytest.approx(rep["energy_per_update_J"], rel=1e-9)
    phys = rep["physical"]
    assert phys["ir_drop"] is False and "ideal" in phys["wires"] and "ir_drop_effect" not in rep
    assert phys["dac_bits"] == 7 and phys["adc_bits"] == 9 and phys["tiles_per_layer"] == [2, 1]
    assert phys["g_min_S"] == pytest.approx(1e-6) and phys["g_max_S"] == pytest.approx(10e-6)


def test_report_says_what_ir_drop_did(tmp_path):
    rep = train(_analog(hidden=(8,), train_samples=32, test_samples=50, ir_drop=True, r_wire="14nm"),
                tmp_path / "run", **QUIET)
    phys = rep["physical"]
    assert phys["ir_drop"] is True and phys["r_row_ohm"] == 2.03 and phys["wire_node"] == "14nm"
    effect = rep["ir_drop_effect"]
    assert [e["layer"] for e in effect] == [1, 2]
    for e in effect:
        assert e["max_voltage_drop_V"] > 0 and 0 < e["max_voltage_drop_fraction"] < 1
        assert e["relative_output_error"] > 0 and e["r_row_ohm"] == 2.03
    # the 392-row tiles of layer 1 lose more on their wires than the 8-row tile of layer 2
    assert effect[0]["max_voltage_drop_V"] > effect[1]["max_voltage_drop_V"]


def test_summary_table_border_holds_for_long_values(analog_run, tmp_path, capsys):
    rep, _ = analog_run
    _summary(rep, tmp_path / ("a-very-long-folder-name-" * 6) / "run")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len({len(s) for s in lines}) == 1, lines
    text = "\n".join(lines)
    for row in ("energy per update (run mean)", "energy per update, last epoch", "total training energy",
                "total pulses", "total device time", "converters", "wires"):
        assert row in text


def test_run_figures_are_titled_and_per_layer(analog_run, monkeypatch, tmp_path):
    import synaptax.training.plots as plots
    from synaptax.training.loop import _plots, build

    _, run = analog_run
    for name in ("history.png", "conductance_histogram.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calls = {}
    monkeypatch.setattr(plots, "plot_history", lambda h, path, **kw: calls.setdefault("history", kw))
    monkeypatch.setattr(plots, "plot_conductance_histogram",
                        lambda layers, path, **kw: calls.setdefault("hist", (layers, kw)))
    cfg = _analog(hidden=(8,), seed=3)
    alg = build(cfg, 1)
    import jax

    _plots(cfg, alg, alg.init(key=jax.random.key(0)), [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5,
                                                        "test_accuracy": 0.5}], tmp_path)
    assert calls["history"]["title"] == "reram-sb · analog-sgd · seed 3"
    layers, kw = calls["hist"]
    assert kw["title"] == "reram-sb · analog-sgd · seed 3"
    assert [layer["name"] for layer in layers] == ["layer 1 (784×8)", "layer 2 (8×10)"]
    assert all(layer["g_min"] == pytest.approx(1e-6) and layer["g_max"] == pytest.approx(10e-6) for layer in layers)
    assert set(layers[0]["conductances"]) == {"G+", "G-"}


# ---------------------------------------------------------------- CLI
def test_version(capsys):
    from synaptax import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"synaptax {__version__}"


@pytest.mark.parametrize("lr", ["inf", "nan", "-1", "0"])
def test_learning_rate_must_be_finite_and_positive(lr, capsys):
    assert main(["train", f"--lr={lr}"]) == 1
    err = capsys.readouterr().err
    assert "learning_rate must be a finite positive number" in err
    assert err.startswith("synaptax: loading JAX")  # said before the seconds of imports


def test_r_wire_takes_a_technology_node(capsys):
    assert TrainConfig(r_wire="45nm").wire_resistance == (0.49, 0.49)
    assert TrainConfig(r_wire=2.5).wire_resistance == (2.5, 2.5)
    with pytest.raises(TrainingError, match="r_wire"):
        TrainConfig(r_wire="7nm").validate()
    with pytest.raises(SystemExit) as info:  # argparse: usage line and exit status 2, no traceback
        main(["train", "--r-wire", "fast"])
    assert info.value.code == 2 and "--r-wire" in capsys.readouterr().err


def test_config_file_reruns_a_saved_configuration(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "--algorithm", "float", "--epochs", "1", "--train-samples", "320", "--test-samples", "200",
                 "--hidden", "16", "--lr", "0.3", "--seed", "2", "--run-dir", str(first), "--progress", "never"]) == 0
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "config.json"), "--run-dir", str(again), "--progress", "never"]) == 0
    a, b = (json.loads((d / "report.json").read_text()) for d in (first, again))
    assert a["config"] == b["config"] and a["history"] == b["history"]
    # options on the command line win over the file; a report.json works too
    assert main(["train", "--config", str(first / "report.json"), "--seed", "5", "--run-dir", str(tmp_path / "s5"),
                 "--progress", "never"]) == 0
    c = json.loads((tmp_path / "s5" / "report.json").read_text())["config"]
    assert c["seed"] == 5 and c["learning_rate"] == 0.3 and c["hidden"] == [16]
    toml = tmp_path / "study.toml"
    toml.write_text('[train]\nalgorithm = "float"\nepochs = 1\ntrain-samples = 320\ntest_samples = 200\n'
                    'hidden = [16]\nlr = 0.3\nseed = 2\n')
    assert main(["train", "--config", str(toml), "--run-dir", str(tmp_path / "t"), "--progress", "never"]) == 0
    assert json.loads((tmp_path / "t" / "report.json").read_text())["history"] == a["history"]
    capsys.readouterr()


@pytest.mark.parametrize("content, message", [
    ('[train]\nlearning_rat = 0.1\n', "unknown setting 'learning_rat'"),
    ('[train]\nepochs = "3"\n', "epochs must be int"),
    ('epochs = \n', "not valid TOML"),
])
def test_bad_config_files_are_one_line_errors(content, message, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    assert main(["train", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and str(path) in err
    assert main(["train", "--config", str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err


def test_progress_bar_has_an_eta():
    p = _Progress(epochs=2, enabled=False)
    assert p.eta(0, 10, 100, now=5.0) is None  # first report: compile time is not a rate
    assert p.eta(0, 20, 100, now=6.0) == pytest.approx(0.1 * 180)


def test_compile_line_is_logged_before_the_first_step(tmp_path):
    lines = []
    train(_cfg(), tmp_path / "r", log=lines.append)
    assert lines[0].startswith("compiling the training step") and lines[1].startswith("compiled")


def test_training_exports_the_public_names():
    import synaptax.training as t

    for name in ("AnalogMLP", "FloatMLP", "AnalogLinear", "TrainConfig", "train", "DivergenceError", "load_mnist",
                 "make_algorithm", "ALGORITHMS"):
        assert hasattr(t, name) and name in t.__all__


def test_xla_cpu_workaround_is_applied_where_needed():
    from synaptax._xla import FLAGS, apply_cpu_workaround

    env = {}
    assert apply_cpu_workaround(environ=env, cpus=2) and env["XLA_FLAGS"] == FLAGS
    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert apply_cpu_workaround(environ=env, cpus=1) and env["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {FLAGS}"
    for env, cpus in (({}, 16), ({"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"}, 2),
                      ({"SYNAPTAX_XLA_WORKAROUND": "0"}, 2)):
        before = dict(env)
        assert not apply_cpu_workaround(environ=env, cpus=cpus) and env == before


def test_devices_is_a_table_without_markup(capsys):
    from synaptax.devices import PRESETS

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["name", "family", "G", "range"] and "E/pulse [J]" in lines[0]
    assert len(lines) == 2 + len(PRESETS)
    assert "``" not in out and ":func:" not in out and ":class:" not in out
    row = next(r for r in lines if r.startswith("reram-sb "))
    assert "generic" in row and "1–10" in row and "1000" in row


def test_devices_show_lists_parameters_with_tags_and_plots(tmp_path, capsys):
    png = tmp_path / "pulses.png"
    assert main(["devices", "show", "reram-sb", "--plot", str(png), "--pulses", "5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"g_min\s+1 µS\s+\[assumed\]", out) and "variability.c2c" in out and "[derived]" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["devices", "show", "nope"]) == 1
    assert "unknown device 'nope'" in capsys.readouterr().err


def test_reproduce_prints_a_readable_summary_and_json_on_request(tmp_path, capsys):
    assert main(["reproduce", "B5"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "PASS" and "\\u" not in out and out.startswith("B5 — ")
    assert main(["reproduce", "B5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    path = tmp_path / "b5.json"
    assert main(["reproduce", "B5", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["passed"] is True and capsys.readouterr().out.strip().endswith("PASS")


# ---------------------------------------------------------------- fault injection: SIGKILL
def _epochs_logged(stderr: str) -> int:
    done = [int(m) for m in re.findall(r"^epoch (\d+)/\d+: loss", stderr, flags=re.M)]
    return max(done, default=0)


def _newest_complete_epoch(run_dir: Path) -> int:
    """The epoch of the newest checkpoint whose metadata was written (a kill between the
    leaves and the metadata leaves leaves that the loader skips)."""
    for ck in checkpoints(run_dir):
        try:
            return json.loads(Path(f"{ck}.json").read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            continue
    return 0


def train_command(run_dir: Path, epochs: int = 6) -> list[str]:
    """The ``synaptax train`` command of the fault-injection runs (float, small, fast)."""
    return [sys.executable, "-m", "synaptax", "train", "--algorithm", "float", "--epochs", str(epochs),
            "--train-samples", "640", "--test-samples", "200", "--hidden", "16", "--run-dir", str(run_dir),
            "--progress", "never"]


def kill_and_resume(run_dir: Path, *, kills: int, seed: int, epochs: int = 6, timeout: float = 300) -> list[dict]:
    """Kill a training run with SIGKILL at random moments ``kills`` times, resuming each
    time; return one record per kill.  Asserts after every kill that the folder is
    resumable or cleanly reported and that no finished epoch was lost, and at the end that
    the resumed run equals an uninterrupted one (checked by the caller)."""
    import random

    rng = random.Random(seed)
    base = train_command(run_dir, epochs)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    records = []
    for i in range(kills):
        resume = bool(checkpoints(run_dir))
        proc = subprocess.Popen(base + (["--resume"] if resume else []), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        lines, compiled = [], threading.Event()

        def read(stream=proc.stderr, lines=lines, compiled=compiled):
            for line in stream:
                lines.append(line)
                if line.startswith("compiled"):
                    compiled.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        t0 = time.perf_counter()
        if i % 4 == 0:  # every fourth kill (the first too) during start-up: imports, data, compilation
            phase, delay = "start-up", rng.uniform(0.3, 4.0)
            time.sleep(delay)
        else:  # while training: steps, evaluation, checkpoint writes
            compiled.wait(timeout=timeout)
            phase, delay = "training", rng.uniform(0.0, 3.0)
            time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=timeout)
        reader.join(timeout=timeout)
        proc.stdout.close()
        err = "".join(lines)
        delay = time.perf_counter() - t0
        logged = _epochs_logged(err)
        newest = _newest_complete_epoch(run_dir)
        records.append({"kill": i, "phase": phase, "killed_after_s": round(delay, 2), "resumed": resume,
                        "returncode": proc.returncode,
                        "epochs_logged": logged, "newest_checkpoint": newest})
        assert newest >= logged, records[-1]  # an epoch announced as finished is on disk
        assert "Traceback" not in err, err
        if proc.returncode == 0:
            break
    # after the last kill: resume (or report) cleanly to the end
    final = subprocess.run(base + (["--resume"] if checkpoints(run_dir) else []), capture_output=True, text=True,
                           env=env, timeout=timeout)
    assert final.returncode == 0, final.stderr
    return records


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_finished_epochs(tmp_path):
    """Three kills here; ``benchmarks/kill_resume.py`` runs twenty."""
    # the straight run in a process of its own too (the test process runs float64).  1000
    # epochs (about 10 s after compilation on an idle 2-core VM, 10 ms each) outlast the
    # largest delay of a kill during training (3 s): with 300 a fast idle machine finished the
    # run before the second kill
    subprocess.run(train_command(tmp_path / "straight", 1000), check=True, capture_output=True, timeout=300)
    records = kill_and_resume(tmp_path / "run", kills=3, seed=0, epochs=1000)
    assert sum(r["returncode"] == -signal.SIGKILL for r in records) >= 2, records
    rep, straight = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("run", "straight"))
    assert rep["history"] == straight["history"]  # resumed after the kills: bit for bit the straight run
