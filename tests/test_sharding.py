"""Sharding (:mod:`synaptax.sharding`): a mesh ``("data", "tiles")`` changes where, not what.

The test process has one device, so the claims that need several run in two subprocesses
(reads and updates; training), started together, each with eight simulated CPU devices
(``JAX_NUM_CPU_DEVICES=8``, float64), that return their measurements as JSON; each test
then checks its part.  Sizes are small: about 90 s of CPU time in all, mostly compilation.
"""
import json
import os
import subprocess
import sys
import textwrap
import types

import pytest

from synaptax import sharding
from synaptax.training.loop import TrainConfig, TrainingError, train

XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def start_on_devices(code: str, devices: int = 8) -> subprocess.Popen:
    """Start ``code`` in a fresh Python with ``devices`` CPU devices (:func:`result`)."""
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices), "JAX_PLATFORMS": "cpu", "XLA_FLAGS": XLA_FLAGS,
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen, timeout: float = 500) -> dict:
    """The JSON of the last stdout line of a :func:`start_on_devices` process."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, stderr[-4000:]
    return json.loads(stdout.strip().splitlines()[-1])


PRELUDE = r"""
import dataclasses, json, tempfile
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from synaptax import sharding as sh
from synaptax.arrays.crossbar import Crossbar
from synaptax.devices import get_preset
from synaptax.training import loop
from synaptax.training.layers import analog_matmul

def rel(a, b):
    # largest |a - b| over the leaves, relative to each leaf's largest |a|
    worst = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        top = max(float(np.max(np.abs(x), initial=0.0)), 1e-300)
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)) / top)
    return worst

out = {"devices": len(jax.devices()), "partitionable": sh.rng_partitionable()}
"""

READS = r"""
device = get_preset("reram-sb")
key = jax.random.key(5)

# reads: ideal wires on a 3x4 tile grid over tiles=4 (whole tiles per device), IR drop on 2x2 over tiles=2
for name, (n_in, n_out), ir_drop, (data, tiles) in (("ideal", (40, 64), False, (2, 4)),
                                                    ("ir_drop", (32, 32), True, (4, 2))):
    cb = Crossbar(device, n_in, n_out, max_tile_size=(16, 16), ir_drop=ir_drop)
    state = cb.init(key=jax.random.key(0), weights=0.3 * jax.random.normal(jax.random.key(1), (n_out, n_in)))
    x = jax.random.normal(jax.random.key(2), (8, n_in))
    d = jax.random.normal(jax.random.key(3), (8, n_out))

    @jax.jit
    def reads(state, x, d, key):
        y = cb.forward(state, x, key=key)
        # the training gradient, the analog layer's backward read of the cotangent d (ideal wires
        # only, to keep the test short: with IR drop it is the transposed solve of cb.backward).
        # d is not a quantised output: re-quantising one (e.g. d = 2y) puts DAC inputs on exact
        # rounding ties, which any change of the compiled program (sharded or not) may round
        # either way
        grad = y if ir_drop else jax.vjp(lambda x: analog_matmul(cb, state, x, key)[0], x)[1](d)[0]
        return y, cb.backward(state, d, key=key), grad

    mesh = sh.make_mesh(data=data, tiles=tiles)
    placed = sh.shard_states(state, mesh)
    one = reads(state, x, d, key)
    many = reads(placed, sh.shard_batch(x, mesh), sh.shard_batch(d, mesh), key)
    out[name] = {"grid": list(cb.tile_grid), "spec": str(placed.plus.conductance.sharding.spec),
                 "forward": rel(one[0], many[0]), "backward": rel(one[1], many[1]), "grad": rel(one[2], many[2]),
                 "scale": float(jnp.max(jnp.abs(one[0])))}
    if not ir_drop:  # a pulsed update (stochastic pulse coincidence), data=2 x tiles=4
        update = jax.jit(lambda s, x, d, k: cb.update_coincidence(s, x, d, learning_rate=0.1, key=k))
        s1, p1 = update(state, x, d, key)
        s2, p2 = update(placed, sh.shard_batch(x, mesh), sh.shard_batch(d, mesh), key)
        moved = float(jnp.sum(p1.up) + jnp.sum(p1.down))
        out["update"] = {"state": rel(s1, s2), "pulses": rel(p1, p2), "moved": moved,
                         "spec": str(s2.plus.conductance.sharding.spec)}
print(json.dumps(out))
"""

TRAINING = r"""
# training: the steps of a run's first epoch on one device, then on meshes
config = loop.TrainConfig(device="reram-sb", hidden=(16,), batch_size=16, train_samples=256, test_samples=256,
                          epochs=1, mesh="data=2,tiles=4")
keys = loop.RunKeys.from_seed(config.seed)
train_full, _ = loop.load_data(config)
train_data = loop._subset(train_full, 256, jax.random.fold_in(keys.data, 0))
alg = loop.build(config, 16, key=keys.model, data=train_data)
ts = alg.init(key=keys.model)
batches = loop._shuffled(256, jax.random.fold_in(keys.shuffle, 0)).reshape(16, 16)
images, labels = jnp.asarray(train_data.images), jnp.asarray(train_data.labels)
ts0, m0 = loop.run_steps(alg, ts, images, labels, batches, key=keys.steps)
for data, tiles in ((8, 1), (1, 8)):
    mesh = sh.make_mesh(data=data, tiles=tiles)
    placed = sh.shard_train_state(ts, mesh)
    ts1, m1 = loop.run_steps(alg, placed, *sh.replicate((images, labels), mesh),
                             sh.shard_batch(batches, mesh, axis=1), key=keys.steps)
    out[f"data={data},tiles={tiles}"] = {"state": rel(ts0, ts1), "metrics": rel(m0, m1),
                                         "placed": sh.placement_summary(placed)}
logs = []
with tempfile.TemporaryDirectory() as tmp:
    report = loop.train(config, tmp, progress=None, log=logs.append)
    ts2, meta, _ = loop.load_latest_checkpoint(tmp, ts)
out["train"] = {"state": rel(ts0, ts2), "loss": abs(report["history"][0]["train_loss"] - float(np.mean(m0.loss))),
                "logs": [l for l in logs if "mesh" in l], "mesh": report["config"]["mesh"],
                "same_name": config.run_name() == dataclasses.replace(config, mesh=None).run_name()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def checks():
    """Both subprocesses at once (compilation is single-threaded: two use two cores)."""
    procs = [start_on_devices(PRELUDE + part) for part in (READS, TRAINING)]
    out = {}
    try:
        for proc in procs:
            out |= result(proc)
    finally:
        for proc in procs:  # a failed one's partner is not left running
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return out


@pytest.mark.timeout(600)
def test_reads_sharded_over_tiles_equal_one_device(checks):
    assert checks["devices"] == 8 and checks["partitionable"]
    ideal, ir = checks["ideal"], checks["ir_drop"]
    assert ideal["grid"] == [3, 4] and ir["grid"] == [2, 2]
    for r in (ideal, ir):
        assert r["spec"] == "P(None, 'tiles')"  # the cells' columns split
        assert r["scale"] > 0.5
        for what in ("forward", "backward", "grad"):
            assert r[what] < 1e-12, (what, r)


@pytest.mark.timeout(600)
def test_pulsed_update_sharded_equals_one_device(checks):
    u = checks["update"]
    assert u["moved"] > 0
    assert u["state"] < 1e-12 and u["pulses"] < 1e-12
    assert u["spec"] == "P(None, 'tiles')"


@pytest.mark.timeout(600)
def test_training_steps_on_meshes_equal_one_device(checks):
    for mesh, split in (("data=8,tiles=1", 0), ("data=1,tiles=8", 12)):
        r = checks[mesh]
        assert r["state"] < 1e-10 and r["metrics"] < 1e-10, (mesh, r)
        # tiles=8: the six per-cell arrays of both devices of the pair of the 784x16 layer; the
        # 16x10 layer's 10 columns do not divide by 8: replicated
        assert r["placed"]["split"] == split, (mesh, r)


@pytest.mark.timeout(600)
def test_train_with_mesh_equals_one_device(checks):
    t = checks["train"]
    assert t["state"] < 1e-10 and t["loss"] < 1e-10, t
    assert t["mesh"] == "data=2,tiles=4" and t["same_name"]
    assert any("data=2 x tiles=4 (8 cpu devices)" in line for line in t["logs"]), t["logs"]


# ----------------------------------------------------------------------------- one device
@pytest.mark.timeout(60)
@pytest.mark.parametrize("text, sizes", [("data=4,tiles=2", (4, 2)), ("data=8", (8, 1)), ("tiles=2", (1, 2)),
                                         (" tiles = 3 , data=1 ", (1, 3)), ("AUTO", (5, 1))])
def test_parse_mesh(text, sizes):
    assert sharding.parse_mesh(text, devices=range(5)) == {"data": sizes[0], "tiles": sizes[1]}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text, part", [("", "mesh must be"), ("data", "'data' is not axis=N"),
                                        ("data=2,cols=2", "unknown axis 'cols'"), ("data=0", "'data=0'"),
                                        ("data=x", "'data=x'"), ("data=2,data=2", "axis 'data' given twice"),
                                        ("=3", "'=3' is not axis=N")])
def test_bad_mesh_strings(text, part):
    with pytest.raises(ValueError, match=part) as err:
        sharding.parse_mesh(text)
    assert "\n" not in str(err.value)


@pytest.mark.timeout(60)
def test_too_many_devices(tmp_path):
    with pytest.raises(ValueError, match=r"data=2 x tiles=2 needs 4 devices, only 1 available") as err:
        sharding.make_mesh(data=2, tiles=2)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="tiles must be an integer >= 1"):
        sharding.make_mesh(tiles=0)
    config = TrainConfig(device="reram-sb", hidden=(8,), batch_size=16, train_samples=64, test_samples=64,
                         epochs=1, mesh="data=4")
    config.validate()  # the string is fine; the devices are counted when training starts
    with pytest.raises(TrainingError, match="mesh data=4 x tiles=1 needs 4 devices, only 1 available"):
        train(config, tmp_path / "run", progress=None, log=lambda s: None)
    assert not (tmp_path / "run").exists()  # nothing written
    with pytest.raises(TrainingError, match="unknown axis"):
        TrainConfig(mesh="rows=2").validate()
    mesh = sharding.make_mesh()
    assert mesh.axis_names == ("data", "tiles") and mesh.devices.shape == (1, 1)
    TrainConfig(mesh="auto").validate()


@pytest.mark.timeout(60)
def test_placement_rules():
    mesh = types.SimpleNamespace(shape={"data": 2, "tiles": 4})
    shapes = {(42, 64), (16, 10)}
    assert sharding.tile_spec((42, 64), mesh, shapes) == sharding.PartitionSpec(None, "tiles")
    assert sharding.tile_spec((3, 42, 64), mesh, shapes) == sharding.PartitionSpec(None, None, "tiles")
    assert sharding.tile_spec((16, 10), mesh, shapes) == sharding.PartitionSpec()  # 10 columns over 4: replicated
    assert sharding.tile_spec((64, 64), mesh, shapes) == sharding.PartitionSpec()  # not a crossbar's cells
    assert sharding.tile_spec((), mesh, shapes) == sharding.PartitionSpec()
    assert sharding.batch_spec((16, 784), mesh) == sharding.PartitionSpec("data")
    assert sharding.batch_spec((16, 8), mesh, axis=1) == sharding.PartitionSpec(None, "data")
    assert sharding.batch_spec((15, 784), mesh) == sharding.PartitionSpec()  # odd batch: replicated


@pytest.mark.timeout(60)
def test_mesh_keeps_run_names():
    base = TrainConfig(device="reram-sb")
    assert TrainConfig(device="reram-sb", mesh="data=2").run_name() == base.run_name()
    assert TrainConfig.from_dict({"device": "reram-sb", "mesh": "tiles=2"}).mesh == "tiles=2"
    with pytest.raises(TrainingError, match="mesh must be str"):
        TrainConfig.from_dict({"mesh": 2})


@pytest.mark.timeout(120)
def test_cli_bad_mesh_exits_without_traceback():
    env = {**os.environ, "XLA_FLAGS": XLA_FLAGS, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "synaptax", "train", "--mesh", "data=2,cols=2", "--epochs", "1"],
                          env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("synaptax: error: mesh: unknown axis 'cols' in 'cols=2'; "
                                                    "axes: data, tiles")


def test_importing_the_package_leaves_the_backend_unstarted():
    """``synaptax train --mesh`` / ``sweep`` set XLA's host-device count after importing the
    CLI (``apply_host_devices``): that works only if no import starts JAX's backend (a
    module-level default instance once did, through a check that computed in JAX)."""
    code = textwrap.dedent("""
        import os
        import synaptax.cli, synaptax.devices, synaptax.training.loop, synaptax.studies  # noqa: F401
        from synaptax._xla import apply_host_devices
        os.environ["SYNAPTAX_HOST_DEVICES"] = "3"
        print(apply_host_devices(cpus=4))
        import jax
        print(jax.device_count())
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "SYNAPTAX_HOST_DEVICES")}
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "3"], done.stdout
