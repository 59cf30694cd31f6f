"""Training: layers, algorithms, the loop, the CLI and the accuracy targets of the issue."""
import json
import os
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from synaptax.arrays import Crossbar
from synaptax.circuits.converters import ideal_adc, ideal_dac
from synaptax.cli import main
from synaptax.devices import ConstantStepDevice, get_preset
from synaptax.training.algorithms import Algorithm, build_optimizer
from synaptax.training.layers import analog_matmul
from synaptax.training.loop import TrainConfig, TrainingError, chunk_lengths, run_steps, train
from synaptax.training.network import AnalogMLP

QUIET = dict(log=lambda s: None)


def test_analog_matmul_backward_is_transposed_mvm(getkey):
    """With ideal converters the custom VJP gives Wᵀg, as jax.grad of W@x would."""
    xb = Crossbar(get_preset("ideal"), 12, 5, dac=ideal_dac(), adc=ideal_adc())
    w = jax.random.uniform(getkey(), (5, 12), minval=-0.5, maxval=0.5)
    state = xb.init(key=getkey(), weights=w)
    w_real = xb.weights(state)
    x = jax.random.normal(getkey(), (3, 12))
    g = jax.random.normal(getkey(), (3, 5))
    key = getkey()
    dx = jax.grad(lambda x: jnp.sum(analog_matmul(xb, state, x, key)[0] * g))(x)
    np.testing.assert_allclose(dx, g @ w_real, rtol=1e-10, atol=1e-12)


def _alg(name, device="ideal", **kw):
    sizes = [784, 16, 10]
    opt, sched = build_optimizer("sgd", 0.5, total_steps=10)
    model = AnalogMLP([Crossbar(get_preset(device) if isinstance(device, str) else device, a, b)
                       for a, b in zip(sizes[:-1], sizes[1:])])
    return Algorithm(name, model, opt, sched, **kw)


def test_mixed_precision_accumulator_stays_below_one_step(getkey):
    alg = _alg("mixed-precision")
    ts = alg.init(key=getkey())
    x = jax.random.uniform(getkey(), (8, 784))
    y = jnp.arange(8) % 10
    for _ in range(3):
        ts, m = eqx.filter_jit(lambda a, t, k: a.step(t, x, y, key=k))(alg, ts, getkey())
    # the rule is chain(OuterGradient, Optax, Accumulate, ProgrammedPulses): χ is the third state
    for c, (_, _, chi, _) in zip(alg.model.crossbars, ts.rule_states):
        assert float(jnp.max(jnp.abs(chi))) < c.dw_min * (1 + 1e-9)
    assert float(m.pulses) > 0 and float(m.write_energy) > 0


class _Leaky(ConstantStepDevice):
    """Test device: conductance decays to g_min with a 1 s time constant at rest."""

    def evolve(self, state, duration):
        g = self.g_min + (state.conductance - self.g_min) * jnp.exp(-duration)
        return eqx.tree_at(lambda s: s.conductance, state, g)


@pytest.mark.parametrize("name", ["analog-sgd", "mixed-precision"])
def test_rest_time_reaches_device_evolution(getkey, name):
    device = _Leaky(g_min=0.1e-6, g_max=1e-6, step=1e-9)
    x = jax.random.uniform(getkey(), (4, 784))
    y = jnp.arange(4)
    k0, k1 = getkey(), getkey()
    out = []
    for rest in (0.0, 1.0):
        alg = _alg(name, device, rest_time=rest)
        ts = alg.init(key=k0)
        ts, _ = alg.step(ts, x, y, key=k1)
        out.append(alg.model.crossbars[0].conductances(ts.states[0])[0])
    g_min = device.g_min
    np.testing.assert_allclose(out[1] - g_min, (out[0] - g_min) * np.exp(-1.0), rtol=1e-9)


@pytest.mark.parametrize("name", ["analog-sgd", "float"])
def test_scanned_steps_equal_step_by_step(getkey, name):
    """run_steps (one compiled scan) gives the states and metrics of alg.step called batch
    after batch with the same keys."""
    if name == "float":
        from synaptax.training.network import FloatMLP

        opt, sched = build_optimizer("sgd", 0.5, total_steps=10)
        alg = Algorithm("float", FloatMLP([784, 16, 10], key=getkey()), opt, sched)
    else:
        alg = _alg(name, "reram-sb")
    ts0 = alg.init(key=getkey())
    images = jax.random.uniform(getkey(), (40, 784))
    labels = jnp.arange(40) % 10
    batches = np.asarray(jax.random.permutation(getkey(), 40))[:36].reshape(4, 9)
    key = getkey()
    step = eqx.filter_jit(lambda a, t, x, y, k: a.step(t, x, y, key=k))
    ts, losses = ts0, []
    for b in range(4):
        ts, m = step(alg, ts, images[batches[b]], labels[batches[b]], jax.random.fold_in(key, 7 + b))
        losses.append(m.loss)
    ts_scan, ms = run_steps(alg, ts0, images, labels, batches, key=key, first=7)
    assert ms.loss.shape == (4,)
    np.testing.assert_allclose(np.asarray(ms.loss), np.asarray(losses), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(ts), jax.tree.leaves(ts_scan)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=0)


def test_chunk_lengths_cover_the_epoch():
    for steps in (1, 50, 64, 65, 156, 312, 1000):
        lengths = chunk_lengths(steps)
        assert sum(lengths) == steps and max(lengths) <= 64 and len(set(lengths)) <= 2


def _cfg(**kw):
    base = dict(epochs=1, train_samples=800, test_samples=500, hidden=(32,))
    base.update(kw)
    return TrainConfig(**base)


def test_same_seed_same_result_and_resume_matches_straight_run(tmp_path):
    r1 = train(_cfg(epochs=2), tmp_path / "a", **QUIET)
    r2 = train(_cfg(epochs=2), tmp_path / "b", **QUIET)
    assert r1["history"] == r2["history"]
    train(_cfg(epochs=1), tmp_path / "c", **QUIET)
    r3 = train(_cfg(epochs=2), tmp_path / "c", resume=True, **QUIET)
    assert [h["test_accuracy"] for h in r3["history"]] == [h["test_accuracy"] for h in r1["history"]]
    assert r3["history"][-1]["train_loss"] == pytest.approx(r1["history"][-1]["train_loss"], rel=1e-12)


def test_report_has_required_keys_and_files(tmp_path):
    rep = train(_cfg(), tmp_path / "run", **QUIET)
    for key in ("test_accuracy", "energy_per_update_J", "energy_per_inference_J", "device", "algorithm",
                "epochs", "train_samples", "test_samples", "wall_time_s"):
        assert key in rep
    assert rep["energy_per_update_J"] > 0 and rep["energy_per_inference_J"] > 0
    assert rep["train_samples"] == 800 and rep["test_samples"] == 500
    on_disk = json.loads((tmp_path / "run" / "report.json").read_text())
    assert on_disk["test_accuracy"] == rep["test_accuracy"]
    for f in ("history.png", "conductance_histogram.png", "checkpoint-epoch0001.eqx", "config.json"):
        assert (tmp_path / "run" / f).stat().st_size > 0


def test_nan_loss_keeps_previous_epoch_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(_cfg(algorithm="float", epochs=1), run, **QUIET)
    ck = run / "checkpoint-epoch0001.eqx"
    before = ck.read_bytes()
    import synaptax.training.loop as loop

    real = loop._step

    def poisoned(alg, ts, x, y, key):
        ts, m = real(alg, ts, x, y, key)
        return ts, m._replace(loss=jnp.nan)

    monkeypatch.setattr(loop, "_step", poisoned)
    with pytest.raises(TrainingError, match="the loss became nan; stopped: the checkpoint after epoch 1"):
        train(_cfg(algorithm="float", epochs=2), run, resume=True, **QUIET)
    assert ck.read_bytes() == before
    assert json.loads((run / "checkpoint-epoch0001.eqx.json").read_text())["epoch"] == 1
    assert not (run / "checkpoint-epoch0002.eqx").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--device", "nope"], "valid names: ag-asi"),
    (["train", "--algorithm", "nope"], "valid names: analog-sgd"),
    (["train", "--data-dir", "/nonexistent-dir"], "/nonexistent-dir: no such file or folder"),
    (["train", "--run-dir", "/proc/forbidden/run"], "not writable"),
    (["train", "--hidden", "a,b"], "--hidden"),
])
def test_cli_errors_are_messages_not_tracebacks(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_corrupt_data_file(tmp_path, capsys):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"not an idx file")
    assert main(["train", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")]) == 1
    assert "synaptax: error" in capsys.readouterr().err


def test_cli_train_writes_json(tmp_path):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "synaptax", "train", "--epochs", "1", "--train-samples", "300",
                          "--test-samples", "200", "--hidden", "16", "--run-dir", str(tmp_path / "run"),
                          "--json", str(tmp_path / "r.json")], capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["device"] == "ideal" and rep["algorithm"] == "analog-sgd" and 0 <= rep["test_accuracy"] <= 1
    assert "test accuracy" in out.stdout


@pytest.mark.slow
def test_accuracy_targets_float_and_ideal_analog(tmp_path):
    """Issue targets on the bundled data (5,000 train, 10,000 test), 784-100-10, 15 epochs:
    floating point ≥ 92 %; idealised device with analog SGD within 1.5 points of it."""
    ref = train(TrainConfig(algorithm="float"), tmp_path / "float", **QUIET)
    ideal = train(TrainConfig(algorithm="analog-sgd", device="ideal"), tmp_path / "ideal", **QUIET)
    assert ref["test_accuracy"] >= 0.92
    assert ideal["test_accuracy"] >= ref["test_accuracy"] - 0.015


@pytest.mark.slow
def test_reram_with_variation_trains_clearly_above_chance(tmp_path):
    """Soft-bounds ReRAM-like device with 30 % device-to-device variation (short run)."""
    rep = train(TrainConfig(device="reram-sb", epochs=3, train_samples=2000, test_samples=2000), tmp_path / "r",
                **QUIET)
    assert rep["test_accuracy"] > 0.6
