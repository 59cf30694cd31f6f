"""synaptax fit: round trips of every generic model, model choice, relaxation, device files,
the CLI and bad input."""
import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.devices import (ConstantStepDevice, ExpStepDevice, LinearStepDevice, PowStepDevice, SoftBoundsDevice,
                              StepVariability, get_preset)
from synaptax.devices.fitting import (DeviceFileError, MeasurementError, fit_measurements, load_device_file,
                                      read_measurements, simulate_measurements, write_device_file)
from synaptax.devices.fitting.example import example_path
from synaptax.devices.generic.relaxation import Relaxation

pytestmark = pytest.mark.timeout(600)

G0, G1 = 1e-6, 10e-6
VAR = StepVariability(d2d_step=0.2, d2d_asymmetry=0.05, d2d_bounds=0.1, c2c=0.3)


def true_devices():
    """One device per generic model, with device-to-device and cycle-to-cycle noise."""
    step = (G1 - G0) / 100
    return {
        "constant": ConstantStepDevice(g_min=G0, g_max=G1, step=step, asymmetry=0.05, variability=VAR),
        "linear": LinearStepDevice(g_min=G0, g_max=G1, step=step, asymmetry=0.05, gamma_up=0.5, gamma_down=0.3,
                                   variability=VAR),
        "soft-bounds": SoftBoundsDevice(g_min=G0, g_max=G1, step=step, asymmetry=0.05, variability=VAR),
        "exp": ExpStepDevice(levels=100, nl_up=2.0, nl_down=3.0, g_min=G0, g_max=G1, asymmetry=0.05,
                             variability=VAR),
        "pow": PowStepDevice(g_min=G0, g_max=G1, step=step, asymmetry=0.05, gamma_up=1.5, gamma_down=0.7,
                             variability=VAR),
    }


def truth(device) -> dict:
    """The parameters a fit should recover, by the names the fit reports."""
    out = {"g_min": device.g_min, "g_max": device.g_max, "step": device.step, "asymmetry": device.asymmetry}
    for name in ("gamma_up", "gamma_down"):
        if hasattr(device, name):
            out[name] = getattr(device, name)
    if isinstance(device, ExpStepDevice):
        out["nl_up"], out["nl_down"] = abs(device.nl_up), abs(device.nl_down)
    v = device.variability
    for name in ("d2d_step", "d2d_asymmetry", "d2d_bounds", "c2c", "c2c_range"):
        out[f"variability.{name}"] = float(getattr(v, name))
    return out


def simulate(device, seed, *, devices=40, cycles=3, pulses=250, **kw):
    with jax.enable_x64(True):
        return simulate_measurements(device, key=jax.random.key(seed), devices=devices, cycles=cycles,
                                     pulses=pulses, **kw)


# --------------------------------------------------------------------------- round trips
@pytest.mark.slow
@pytest.mark.parametrize("model", ["constant", "linear", "soft-bounds", "exp", "pow"])
def test_round_trip_recovers_every_parameter_within_its_uncertainty(model):
    """40 devices × 3 cycles, d2d spread of step, asymmetry and bounds, c2c noise: every
    parameter of the true model is within 3 of its stated standard errors (the constant
    model fits only c2c, the additive part being the same noise for a constant step)."""
    device = true_devices()[model]
    fit = fit_measurements(simulate(device, seed=1), model=model)
    assert fit.model == model and fit.goodness["converged"]
    found = {**fit.parameters, **{f"variability.{k}": p for k, p in fit.variability.items()}}
    for name, value in truth(device).items():
        if model == "constant" and name == "variability.c2c_range":
            continue
        p = found[name]
        assert p.se > 0 or p.value == value == 0.0, name
        assert abs(p.value - value) <= 3 * p.se + 1e-12 * abs(value), (name, p.value, value, p.se)
    # the built device is the model with the nominal parameters
    assert type(fit.device) is type(device)
    assert math.isclose(fit.device.conductance_range[1], fit.parameters["g_max"].value)


@pytest.mark.slow
def test_auto_picks_the_true_model():
    """``auto`` picks the law that generated the data (exp counts as linear: one law)."""
    picked = {}
    for model, device in true_devices().items():
        fit = fit_measurements(simulate(device, seed=3, devices=20, cycles=2), model="auto")
        picked[model] = fit.model
    expected = {"constant": "constant", "linear": "linear", "soft-bounds": "soft-bounds", "exp": "linear",
                "pow": "pow"}
    assert picked == expected
    # a linear pick reports the exp coordinates of the same law
    fit = fit_measurements(simulate(true_devices()["exp"], seed=3, devices=20, cycles=2), model="auto")
    assert fit.alternative["model"] == "exp"
    assert fit.alternative["nl_up"] == pytest.approx(2.0, rel=0.25)
    assert fit.alternative["nl_down"] == pytest.approx(3.0, rel=0.25)


def test_noise_free_constant_device_is_exact():
    device = ConstantStepDevice(g_min=G0, g_max=G1, step=(G1 - G0) / 50, asymmetry=0.1)
    fit = fit_measurements(simulate(device, seed=0, devices=3, cycles=1, pulses=80), model="constant")
    assert fit.parameters["step"].value == pytest.approx(device.step, rel=1e-9)
    assert fit.parameters["asymmetry"].value == pytest.approx(0.1, abs=1e-9)
    assert fit.parameters["g_min"].value == pytest.approx(G0, rel=1e-12)
    assert fit.parameters["g_max"].value == pytest.approx(G1, rel=1e-12)
    assert fit.variability["c2c"].value < 1e-6


def test_stuck_devices_are_counted_and_left_out():
    var = StepVariability(c2c=0.2, stuck_min=0.15, stuck_max=0.1)
    device = SoftBoundsDevice(g_min=G0, g_max=G1, step=(G1 - G0) / 100, variability=var)
    data = simulate(device, seed=2, devices=60, cycles=1, pulses=150)
    fit = fit_measurements(data, model="soft-bounds")
    n_stuck = fit.counts["stuck_devices"]
    assert n_stuck == len(fit.stuck) > 0
    smin, smax = fit.variability["stuck_min"], fit.variability["stuck_max"]
    assert abs(smin.value - 0.15) <= 3 * smin.se and abs(smax.value - 0.1) <= 3 * smax.se
    assert fit.parameters["step"].value == pytest.approx(device.step, rel=0.1)


def test_noise_dependence_on_conductance_is_found():
    """Multiplicative noise (∝ the step at G) and additive noise are told apart on a soft-bounds
    device, whose step varies with G."""
    base = dict(g_min=G0, g_max=G1, step=(G1 - G0) / 100)
    mult = fit_measurements(simulate(SoftBoundsDevice(**base, variability=StepVariability(c2c=0.4)), seed=4,
                                     devices=20, cycles=2), model="soft-bounds").variability
    add = fit_measurements(simulate(SoftBoundsDevice(**base, variability=StepVariability(c2c_range=0.004)),
                                    seed=4, devices=20, cycles=2), model="soft-bounds").variability
    assert mult["c2c"].value == pytest.approx(0.4, abs=3 * mult["c2c"].se)
    assert mult["c2c_range"].value < 3 * mult["c2c_range"].se + 1e-4
    assert add["c2c_range"].value == pytest.approx(0.004, abs=3 * add["c2c_range"].se)
    assert add["c2c"].value < 3 * add["c2c"].se + 0.02


# --------------------------------------------------------------------------- relaxation
@pytest.mark.parametrize("law", ["exp", "pow"])
def test_relaxation_law_and_time_constant_are_recovered(law):
    rel = Relaxation(law=law, tau=2.0, rest=0.3, exponent=0.5)
    device = SoftBoundsDevice(g_min=G0, g_max=G1, step=(G1 - G0) / 100, relaxation=rel,
                              variability=StepVariability(c2c=0.2, d2d_step=0.1))
    data = simulate(device, seed=5, devices=10, cycles=2, pulses=120,
                    rest_times=(0.01, 0.1, 0.3, 1, 3, 10, 30, 100), period=1e-6)
    fit = fit_measurements(data, model="soft-bounds")
    r = fit.relaxation
    assert r.law == law
    assert r.tau.value == pytest.approx(2.0, rel=0.1)
    assert r.rest.value == pytest.approx(0.3, abs=0.03)
    if law == "pow":
        assert r.exponent.value == pytest.approx(0.5, rel=0.1)
    assert fit.device.relaxation.law == law


def test_no_relaxation_without_time_stamps_and_none_without_drift():
    device = SoftBoundsDevice(g_min=G0, g_max=G1, step=(G1 - G0) / 100, variability=StepVariability(c2c=0.2))
    assert fit_measurements(simulate(device, seed=6, devices=5, cycles=1, pulses=100)).relaxation is None
    still = fit_measurements(simulate(device, seed=6, devices=5, cycles=1, pulses=100, rest_times=(1, 10, 100)))
    assert still.relaxation.law == "none" and still.device.relaxation is None


# --------------------------------------------------------------------------- device files
def test_device_file_round_trip_and_get_preset(tmp_path):
    data = read_measurements(example_path())
    fit = fit_measurements(data)
    path = tmp_path / "mine.toml"
    write_device_file(fit, path)
    df = load_device_file(path)
    assert df.model == fit.model and df.name == "mine"
    assert df.provenance["g_min"][0] == "fit" and "example_pulse_response.csv" in df.provenance["g_min"][1]
    assert df.uncertainty["g_min"] == pytest.approx(fit.parameters["g_min"].se)
    assert df.fit["source_sha256"] == fit.source_sha256
    # the loaded device equals the fitted one
    a, b = jax.tree_util.tree_leaves(df.device), jax.tree_util.tree_leaves(fit.device)
    assert len(a) == len(b) and all(np.allclose(x, y, rtol=1e-15) for x, y in zip(a, b))
    dev = get_preset(str(path))
    assert type(dev) is type(fit.device)
    with pytest.raises(FileExistsError, match="mine.toml"):
        write_device_file(fit, path)


def test_table_model_builds_a_lookup_table_device(tmp_path):
    device = true_devices()["pow"]
    fit = fit_measurements(simulate(device, seed=7, devices=15, cycles=2), model="table")
    from synaptax.devices import LookupTableDevice

    assert isinstance(fit.device, LookupTableDevice)
    write_device_file(fit, tmp_path / "t.toml")
    assert isinstance(load_device_file(tmp_path / "t.toml").device, LookupTableDevice)


def test_fitted_device_keeps_the_device_contract():
    """A device loaded from a file passes through jit, vmap and grad like a preset."""
    fit = fit_measurements(read_measurements(example_path()))
    dev = fit.device
    with jax.enable_x64(True):
        state = dev.init((4, 3), key=jax.random.key(0))
        n = jnp.arange(12.0).reshape(4, 3) - 5
        eager = dev.apply_pulses(state, n, key=jax.random.key(1))
        jitted = jax.jit(lambda s, n: dev.apply_pulses(s, n, key=jax.random.key(1)))(state, n)
        np.testing.assert_allclose(eager.conductance, jitted.conductance, rtol=1e-12)
        later = dev.evolve(eager, 1.0)
        assert not np.allclose(later.conductance, eager.conductance)  # the fitted relaxation acts
        g = jax.grad(lambda t: jnp.sum(dev.evolve(eager, t).conductance))(0.5)
        assert np.isfinite(g)


HAND_WRITTEN = """
model = "linear"
[parameters]
g_min = 1e-6
g_max = 5e-6
step = 2e-8
gamma_up = 0.4
gamma_down = 0.4
[variability]
c2c = 0.1
"""


@pytest.mark.parametrize("text, message", [
    ("model = 'linear'\n", r"\[parameters\]: missing"),
    ("model = 'cubic'\n[parameters]\n", r"model: expected one of"),
    (HAND_WRITTEN.replace("gamma_up = 0.4", "gama_up = 0.4"), r"\[parameters\] gama_up: unknown key"),
    (HAND_WRITTEN.replace("c2c = 0.1", "c2c = 'big'"), r"\[variability\] c2c: expected a number"),
    (HAND_WRITTEN.replace("g_max = 5e-6", "g_max = 5e-7"), r"g_min must be smaller than g_max"),
    (HAND_WRITTEN.replace("step = 2e-8\n", ""), r"\[parameters\] step: missing"),
    ("model = [", r"not valid TOML"),
])
def test_bad_device_files_name_file_table_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DeviceFileError, match=message) as err:
        load_device_file(path)
    assert "bad.toml" in str(err.value) and "\n" not in str(err.value)


def test_hand_written_device_file_loads(tmp_path):
    path = tmp_path / "hand.toml"
    path.write_text(HAND_WRITTEN)
    dev = load_device_file(path).device
    assert isinstance(dev, LinearStepDevice) and dev.gamma_up == 0.4 and float(dev.variability.c2c) == 0.1


# --------------------------------------------------------------------------- bad data
def _write(tmp_path, body: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("device,cycle,pulse,direction,conductance_S\n" + body)
    return path


def test_too_few_points_names_file_rows_and_column(tmp_path):
    rows = ["a,0,0,none,1e-6"] + [f"a,0,{k},up,{1e-6 + k * 1e-8}" for k in range(1, 4)]
    rows += [f"a,0,{k},down,{1e-6 + (6 - k) * 1e-8}" for k in range(4, 6)]
    path = _write(tmp_path, "\n".join(rows) + "\n")
    with pytest.raises(MeasurementError) as err:
        fit_measurements(read_measurements(path), model="linear")
    msg = str(err.value)
    assert "data.csv" in msg and "rows" in msg and "column direction" in msg and "'a'" in msg and "\n" not in msg


@pytest.mark.parametrize("body, column", [
    ("a,0,0,none,-1e-6\n", "conductance_S"),
    ("a,0,0,none,nan\n", "conductance_S"),
    ("a,0,0,none,abc\n", "conductance_S"),
])
def test_bad_values_name_row_and_column(tmp_path, body, column):
    with pytest.raises(MeasurementError) as err:
        read_measurements(_write(tmp_path, body))
    msg = str(err.value)
    assert "data.csv" in msg and "row 1" in msg and column in msg


# --------------------------------------------------------------------------- CLI
def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "synaptax", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_cli_fit_writes_device_file_and_figure_and_refuses_to_overwrite(tmp_path):
    data = tmp_path / "meas.csv"
    data.write_bytes(example_path().read_bytes())
    r = _cli("fit", str(data), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "model: soft-bounds" in r.stdout and "relaxation:" in r.stdout
    toml, png = tmp_path / "meas.toml", tmp_path / "meas.png"
    assert toml.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = toml.read_bytes()
    r = _cli("fit", str(data), cwd=tmp_path)
    assert r.returncode == 1 and "exists" in r.stderr and "Traceback" not in r.stderr
    assert toml.read_bytes() == before
    r = _cli("devices", "show", str(toml), cwd=tmp_path)
    assert r.returncode == 0 and "[fit]" in r.stdout and "Uncertainties" in r.stdout, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("device,cycle,pulse,direction\n")
    r = _cli("fit", str(bad), cwd=tmp_path)
    assert r.returncode == 1 and "conductance_S" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()[-1]) > 0


@pytest.mark.slow
def test_train_accepts_a_device_file(tmp_path):
    """--device FILE.toml trains, records the file's SHA-256 and keeps a copy in the run."""
    from synaptax.training import TrainConfig, train

    fit = fit_measurements(read_measurements(example_path()))
    path = tmp_path / "dev.toml"
    write_device_file(fit, path)
    config = TrainConfig(device=str(path), epochs=1, train_samples=256, test_samples=128, hidden=(16,),
                         batch_size=16)
    name = config.run_name()
    assert name.startswith("dev-analog-sgd-seed")
    report = train(config, tmp_path / "run", progress=None, log=lambda *_: None)
    assert 0.0 <= report["test_accuracy"] <= 1.0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["device_sha256"] == load_device_file(path).sha256
    assert (tmp_path / "run" / "device.toml").read_bytes() == path.read_bytes()
    # a changed device file is a different configuration
    path.write_text(path.read_text().replace("format =", "# changed\nformat ="))
    assert TrainConfig(device=str(path), epochs=1, train_samples=256, test_samples=128, hidden=(16,),
                       batch_size=16).run_name() != name
