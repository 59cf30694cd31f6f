"""Inference deployment (synaptax.training.deploy, `synaptax evaluate`): programming a run's
weights into fresh devices, drift over time, drift compensation, result files, the CLI."""
import dataclasses
import json
import math
import os
import shutil
import sys
import time
import types
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.cli import main
from synaptax.devices import get_preset
from synaptax.devices.generic.relaxation import Relaxation
from synaptax.training.deploy import (DeployError, accuracy_over_time, check_times, evaluate_run, evolve,
                                      load_deployment, parse_times, program, program_crossbar, run_test_data,
                                      trained_weights)
from synaptax.training.loop import TrainConfig, train


def with_programming_noise(device, std):
    """``device`` (any family) with ``programming_noise_std(g) = std(g)`` [S] (until the
    contract has the method, a subclass adds it)."""
    cls = type(device)
    sub = type(f"Noisy{cls.__name__}", (cls,), {"programming_noise_std": lambda self, g: std(g)})
    return sub(**{f.name: getattr(device, f.name) for f in dataclasses.fields(device)})


def relaxing_ideal(law="exp", tau=1000.0, rest=0.0):
    """The ideal device with a relaxation toward ``rest`` of each cell's window: with
    ``rest=0`` and a differential pair every weight decays by the same factor φ(t)."""
    return eqx.tree_at(lambda d: d.relaxation, get_preset("ideal"), Relaxation(law, tau=tau, rest=rest),
                       is_leaf=lambda x: x is None)


RUN = TrainConfig(algorithm="mixed-precision", hidden=(8,), activation="relu", epochs=1, train_samples=200,
                  test_samples=200, batch_size=8, learning_rate=0.1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny finished analog run on the ideal device (deterministic reads), trained once per
    session: the first test worker trains it, the others wait for it.  Tests that write into
    a run folder copy it first (:func:`copy_of`)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    run_dir, done, failed = root / "deploy-run", root / "deploy-run.done", root / "deploy-run.failed"
    try:
        os.close(os.open(root / "deploy-run.lock", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        for _ in range(6000):
            if done.exists() or failed.exists():
                break
            time.sleep(0.1)
        assert done.exists(), "the worker training the shared run failed"
        return run_dir
    try:
        train(RUN, run_dir, progress=None, log=lambda s: None)
    except BaseException:
        failed.touch()
        raise
    done.touch()
    return run_dir


def copy_of(run, tmp_path):
    return Path(shutil.copytree(run, tmp_path / "run"))


@pytest.fixture(scope="module")
def deployment(run):
    dep = load_deployment(run)
    return dep, run_test_data(dep.config)


def _trained_accuracy(run):
    return json.loads((run / "report.json").read_text())["test_accuracy"]


# ---------------------------------------------------------------------------- programming
def test_programming_without_noise_reproduces_the_run_and_ideal_devices_stay_flat(run, deployment):
    dep, data = deployment
    ts = program(dep.alg, dep.ts, key=jax.random.key(1), programming_noise=False)
    for w, target in zip(trained_weights(dep.alg, ts), dep.weights):
        np.testing.assert_allclose(w, target, atol=1e-12)  # the ideal device: no d2d spread, no clipping
    r = accuracy_over_time(dep.alg, dep.ts, data, [0, 1, 3.2e7], key=jax.random.key(2), repeats=2)
    assert r["accuracy_mean"] == [_trained_accuracy(run)] * 3  # no read noise: exactly the run's accuracy
    assert r["accuracy_std"] == [0.0] * 3
    assert np.ptp(r["energy_per_inference_J_mean"]) == 0 and r["energy_per_inference_J_mean"][0] > 0
    assert np.max(r["weight_error_rms"]) < 1e-12


def test_programming_noise_has_the_devices_statistics():
    rel = 0.05
    device = with_programming_noise(get_preset("ideal"), lambda g: rel * g)
    for mapping in ("differential",):
        c = Crossbar(device, 60, 40, mapping=mapping)
        w = jax.random.uniform(jax.random.key(0), (40, 60), minval=-0.6, maxval=0.6)
        exact = program_crossbar(c, w, key=jax.random.key(3), programming_noise=False)
        noisy = program_crossbar(c, w, key=jax.random.key(3))
        for g_exact, g_noisy in zip(c.conductances(exact), c.conductances(noisy)):
            if g_exact is None:
                continue
            z = np.ravel((g_noisy - g_exact) / (rel * g_exact))
            lo, hi = device.conductance_range
            inside = np.ravel((g_exact > lo + 4 * rel * g_exact) & (g_exact < hi - 4 * rel * g_exact))
            z = z[inside]  # away from the clipped window edges
            assert abs(z.mean()) < 4 / math.sqrt(z.size)
            assert abs(z.std() - 1) < 0.08
            g_all = np.concatenate([np.ravel(g) for g in c.conductances(noisy) if g is not None])
            assert g_all.min() >= lo and g_all.max() <= hi  # clipped to the cells' bounds


@pytest.mark.parametrize("name, mapping", [("reram-sb", "differential"), ("reram-sb", "reference"),
                                           ("con-25nm", "differential")])
def test_zero_programming_noise_keeps_the_crossbars_cells(name, mapping):
    """Programming noise re-sets each device array with the key the mapping gave it: with zero
    noise the state is crossbar.init's exactly (bounds, faults, the family's own variables)."""
    c = Crossbar(with_programming_noise(get_preset(name), jnp.zeros_like), 5, 3, mapping=mapping)
    w = jax.random.uniform(jax.random.key(0), (3, 5), minval=-0.5, maxval=0.5)
    placement = "one-sided" if mapping == "differential" else "centred"  # deployment's default
    a = c.init(key=jax.random.split(jax.random.key(4), 3)[0], weights=w, placement=placement)
    b = program_crossbar(c, w, key=jax.random.key(4))
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-30)


def test_program_and_verify_reduces_the_weight_error():
    device = with_programming_noise(get_preset("reram-sb"), lambda g: 0.05 * g)  # soft bounds, read and c2c noise
    c = Crossbar(device, 50, 30)
    w = jax.random.uniform(jax.random.key(0), (30, 50), minval=-0.3, maxval=0.3)
    errors = {}
    for placement in ("centred", "one-sided"):
        errors[placement] = []
        for n in (0, 1, 3):
            s = program_crossbar(c, w, key=jax.random.key(5), verify=n, placement=placement)
            errors[placement].append(float(jnp.sqrt(jnp.mean((c.weights(s) - w) ** 2))))
    e = errors["centred"]
    assert e[0] > 2 * e[1] and e[1] > 1.3 * e[2], errors
    # one-sided: one device of the pair corrects the weight (its soft-bounds step and c2c
    # noise alone), so each round removes less of the error, but every round removes some
    e = errors["one-sided"]
    assert e[0] > 1.5 * e[1] and e[1] > 1.3 * e[2], errors
    # the ideal device reaches its pulse resolution in one iteration and then stops pulsing
    ideal = with_programming_noise(get_preset("ideal"), lambda g: 0.05 * g)
    c = Crossbar(ideal, 50, 30)
    s1 = program_crossbar(c, w, key=jax.random.key(5), verify=1)
    s3 = program_crossbar(c, w, key=jax.random.key(5), verify=3)
    assert float(jnp.max(jnp.abs(c.weights(s1) - w))) <= 0.5 * c.dw_min * (1 + 1e-6)
    np.testing.assert_array_equal(c.weights(s1), c.weights(s3))


def test_float_runs_go_through_convert_to_analog(tmp_path, monkeypatch):
    from synaptax.training.io import save_checkpoint
    from synaptax.training.loop import RunKeys, build, checkpoint_path
    config = TrainConfig(algorithm="float", hidden=(8,), test_samples=50)
    run_dir = tmp_path / "float"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(config.as_dict()))
    keys = RunKeys.from_seed(0)
    ts = build(config, 1, key=keys.model).init(key=keys.model)  # an untrained float network will do
    save_checkpoint(checkpoint_path(run_dir, 1), ts, {"epoch": 1, "history": [{"epoch": 1, "test_accuracy": 0.1}],
                                                      "config": config.as_dict()})
    monkeypatch.setitem(sys.modules, "synaptax.training.convert", types.ModuleType("synaptax.training.convert"))
    with pytest.raises(DeployError, match="convert.to_analog"):
        load_deployment(run_dir)

    monkeypatch.undo()
    dep = load_deployment(run_dir, device="ideal")  # synaptax.training.convert.to_analog
    assert dep.device == "ideal" and dep.alg.analog
    programmed = program(dep.alg, dep.ts, key=jax.random.key(0), weights=dep.weights, programming_noise=False)
    for w, target in zip(trained_weights(dep.alg, programmed), ts.params.weights):
        np.testing.assert_allclose(w, target, rtol=1e-9, atol=1e-12)  # each layer's w_max: its largest weight


def test_program_checks_its_arguments(deployment):
    dep, _ = deployment
    with pytest.raises(DeployError, match="verify must be an integer >= 0"):
        program(dep.alg, dep.ts, key=jax.random.key(0), verify=-1)
    with pytest.raises(DeployError, match="tolerance"):
        program(dep.alg, dep.ts, key=jax.random.key(0), tolerance=float("nan"))
    with pytest.raises(DeployError, match="shape"):
        program(dep.alg, dep.ts, key=jax.random.key(0), weights=[w.T for w in dep.weights])


# ---------------------------------------------------------------------------- over time
def test_evolving_through_the_times_equals_one_evolve_to_the_end(deployment):
    dep, data = deployment
    alg = eqx.tree_at(lambda a: tuple(l.crossbar.device for l in a.model.layers), dep.alg,
                      tuple(relaxing_ideal("pow", tau=50.0) for _ in dep.alg.model.layers))  # age-dependent
    ts = program(alg, dep.ts, key=jax.random.key(0), weights=dep.weights)
    steps = ts
    for dt in (10.0, 90.0, 900.0):
        steps = evolve(alg, steps, dt)
    once = evolve(alg, ts, 1000.0)
    for a, b in zip(jax.tree_util.tree_leaves(steps.states), jax.tree_util.tree_leaves(once.states)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-20)
    kw = dict(key=jax.random.key(1), repeats=1, weights=dep.weights)
    several = accuracy_over_time(alg, dep.ts, data, [10, 100, 1000], **kw)
    one = accuracy_over_time(alg, dep.ts, data, [1000], **kw)
    np.testing.assert_allclose(several["weight_error_rms"][-1], one["weight_error_rms"][0], rtol=1e-9)
    assert several["accuracy_mean"][-1] == one["accuracy_mean"][0]


@pytest.fixture(scope="module")
def decaying(run, deployment):
    """Every weight decays by φ(t) = exp(−t/1000 s); accuracy with and without compensation."""
    _, data = deployment
    dep = load_deployment(run, device=relaxing_ideal("exp", tau=1000.0, rest=0.0))
    times = [0, 700, 1500]
    out = {comp: accuracy_over_time(dep.alg, dep.ts, data, times, key=jax.random.key(0), repeats=1,
                                    drift_compensation=comp, weights=dep.weights) for comp in (False, True)}
    return times, out


def test_a_relaxing_devices_accuracy_changes_over_time(run, decaying):
    times, out = decaying
    plain = out[False]
    assert plain["accuracy_mean"][0] == _trained_accuracy(run)
    assert plain["accuracy_mean"][2] < plain["accuracy_mean"][0] - 0.15  # the weights fell to 22 %
    assert np.all(np.diff(np.asarray(plain["weight_error_rms"]), axis=0) > 0)
    assert plain["compensation_scale"] is None


def test_drift_compensation_restores_a_global_scale(run, decaying):
    times, out = decaying
    comp = out[True]
    scale = np.asarray(comp["compensation_scale"])
    expected = np.exp(np.asarray(times) / 1000.0)
    np.testing.assert_allclose(scale[:, 0], expected, rtol=0.02)  # measured through the 9-bit ADC
    np.testing.assert_allclose(scale[:, 1], expected, rtol=0.02)
    assert comp["accuracy_mean"][2] >= _trained_accuracy(run) - 0.03
    assert comp["accuracy_mean"][2] > out[False]["accuracy_mean"][2] + 0.15


@pytest.mark.parametrize("times, message", [([], "at least one"), ([1, -1], ">= 0"), ([float("inf")], "finite"),
                                            (["abc"], "numbers")])
def test_bad_times_are_refused(times, message):
    with pytest.raises(DeployError, match=message):
        check_times(times)


def test_times_are_sorted_and_parsed():
    assert parse_times("3600, 1,60,1") == (1.0, 60.0, 3600.0)
    assert check_times([2.6e6, 0]) == (0.0, 2.6e6)


# ---------------------------------------------------------------------------- run folders
def test_results_are_written_once_and_reused(run, tmp_path):
    run = copy_of(run, tmp_path)
    logs = []
    r = evaluate_run(run, [1, 60], repeats=2, log=logs.append)
    js, png = run / r["files"]["json"], run / r["files"]["png"]
    assert js.exists() and png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads(js.read_text())
    assert stored == json.loads(json.dumps(r))
    assert stored["settings"]["checkpoint_sha256"] and stored["settings_hash"] in js.name
    assert stored["accuracy_mean"] == [_trained_accuracy(run)] * 2 and stored["repeats"] == 2
    assert stored["trained"]["test_accuracy"] == _trained_accuracy(run)
    assert not logs
    mtime = js.stat().st_mtime_ns
    png.unlink()
    again = evaluate_run(run, [60, 1], repeats=2, log=logs.append)  # the same settings, in another order
    assert again == stored and js.stat().st_mtime_ns == mtime and png.exists()
    assert len(logs) == 1 and "already there" in logs[0] and js.name in logs[0]
    other = evaluate_run(run, [1, 60], repeats=2, seed=1, log=logs.append)
    assert other["files"]["json"] != js.name


def test_cli_evaluate_prints_the_table_and_the_files(run, tmp_path, capsys):
    run = copy_of(run, tmp_path)
    argv = ["evaluate", str(run), "--times", "1,86400", "--repeats", "2", "--no-programming-noise",
            "--drift-compensation", "--test-samples", "100"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1 d" in out and "accuracy" in out and "±" in out and "inference-" in out
    written = [line for line in out.splitlines() if "inference-" in line]
    assert any(".json" in line for line in written) and any(".png" in line for line in written)
    code = main(argv)
    out2, err2 = capsys.readouterr()
    assert code == 0 and "already there" in err2


def _no_checkpoint_run(tmp_path):
    d = tmp_path / "started"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(TrainConfig(hidden=(8,)).as_dict()))
    return d


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty", "not a run folder"),
    ("no-checkpoint", "no checkpoint"),
    ("times=-1", ">= 0"),
    ("times=abc", "comma-separated"),
    ("times=", "comma-separated"),
    ("device", "unknown device 'nope'"),
    ("repeats", "repeats must be >= 1"),
    ("verify", "--program-verify must be >= 0"),
])
def test_cli_evaluate_bad_input_is_one_line(case, message, run, tmp_path, capsys):
    target = {"missing": tmp_path / "nope", "empty": tmp_path, "no-checkpoint": _no_checkpoint_run(tmp_path)}
    argv = ["evaluate", str(target.get(case, run))]
    if case.startswith("times="):
        argv.append(f"--times={case[6:]}")
    if case == "device":
        argv += ["--device", "nope"]
    if case == "repeats":
        argv += ["--repeats", "0"]
    if case == "verify":
        argv += ["--program-verify", "-1"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1
    lines = [line for line in err.strip().splitlines() if line != "synaptax: loading JAX ..."]
    assert len(lines) == 1 and lines[0].startswith("synaptax: error:") and message in lines[0], err
    assert "Traceback" not in err
    if case in ("missing", "empty", "no-checkpoint"):
        assert str(target[case]) in lines[0]


# ---------------------------------------------------------------------------- placement
def test_one_sided_placement_puts_the_other_device_at_the_bottom():
    c = Crossbar(get_preset("ideal"), 3, 2)
    w = jnp.array([[0.5, -0.25, 0.0], [0.1, 0.0, -0.9]])
    s = c.init(key=jax.random.key(0), weights=w, placement="one-sided")
    gp, gm = c.conductances(s)
    g_min, _ = c.device.conductance_range
    np.testing.assert_allclose(c.weights(s), w, atol=1e-12)
    np.testing.assert_allclose(jnp.minimum(gp, gm), g_min, rtol=1e-12)
    centred = c.init(key=jax.random.key(0), weights=w)
    np.testing.assert_allclose(c.weights(centred), w, atol=1e-12)
    assert float(jnp.min(jnp.minimum(*c.conductances(centred)))) > float(g_min)
    with pytest.raises(ValueError, match="placement"):
        c.init(key=jax.random.key(0), placement="left")
    ref = Crossbar(get_preset("ideal"), 3, 2, mapping="reference")
    with pytest.raises(DeployError, match="differential pair"):
        program_crossbar(ref, w, key=jax.random.key(0), placement="one-sided")
    program_crossbar(ref, w, key=jax.random.key(0))  # the reference mapping: centred by default


def test_pcm_drift_is_compensated_only_with_one_sided_placement(run):
    """PCM drift g(t) = g0 (t/t0)^-ν: one-sided placement makes it (nearly) a global scale, which
    compensation removes; centred placement turns the devices' spread of ν on the shared
    mid-range offset into weight noise that no global scale removes."""
    dep = load_deployment(run, device="pcm")
    data = run_test_data(dep.config)
    out = {p: accuracy_over_time(dep.alg, dep.ts, data, [1.0, 3.2e7], key=jax.random.key(3), repeats=2,
                                 drift_compensation=True, placement=p, weights=dep.weights)
           for p in ("one-sided", "centred")}
    one, cen = out["one-sided"], out["centred"]
    trained = _trained_accuracy(run)
    assert one["accuracy_mean"][1] >= trained - 0.08
    assert one["accuracy_mean"][1] > cen["accuracy_mean"][1] + 0.05
