"""Large arrays: the compact state of the generic devices, in-place (donated) updates, the
blocked update and init of big arrays, and the GPU benchmark script's dry run.

The compact state (:func:`synaptax.devices.generic.compact`) rounds each cell's sampled
steps and bound offsets to float16.  Stated bound on what that changes, checked here: the
conductance change of one update differs from the full state's (same key, same counts) by
at most ``2⁻⁹·|ΔG| + 0.2·step`` in every cell and by at most ``1e-3·step`` in RMS over the
array (the per-cell error is ≤ 2⁻¹¹ of the change where the law is smooth; the 0.2 step
covers the few cells whose rounded bound moves a saturating train's end point).
"""
import json
import os
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar, mapping
from synaptax.devices import get_preset
from synaptax.devices.core.contract import stack_models
from synaptax.devices.generic import CompactPulsedState, PulsedState, compact
from synaptax.training.io import load_checkpoint, save_checkpoint

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PRESETS = ("reram-sb", "gokmen-vlasov", "ag-asi")  # soft bounds, constant step, exponential; all spreads


def _in_window(state) -> bool:
    g, lo, hi = (np.asarray(a) for a in (state.conductance, state.g_min, state.g_max))
    return bool(np.all(g >= lo) and np.all(g <= hi))


@pytest.mark.parametrize("name", PRESETS)
def test_compact_state_bytes_bounds_and_update_error(name, getkey):
    full_device = get_preset(name)
    device = compact(full_device)
    assert device.cell_dtype == "float16" and full_device.cell_dtype is None
    shape = (48, 40)
    key = getkey()
    g0 = 0.5 * (full_device.g_min + full_device.g_max)
    full = full_device.init(shape, key=key, conductance=g0)
    small = device.init(shape, key=key, conductance=g0)
    assert isinstance(small, CompactPulsedState) and isinstance(full, PulsedState)
    # bytes per cell: the conductance in the float dtype, four float16 parameters, int8 faults
    itemsize = small.conductance.dtype.itemsize
    per_cell = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(small) if leaf.ndim == 2) / np.prod(shape)
    assert per_cell == itemsize + 4 * 2 + 1
    assert small.scale_up.dtype == jnp.float16 and small.low.dtype == jnp.float16
    # the decoded parameters are the full state's sample, rounded to 11 significant bits
    np.testing.assert_allclose(small.step_up, full.step_up, rtol=2.0**-11)
    np.testing.assert_allclose(small.step_down, full.step_down, rtol=2.0**-11)
    window = full_device.g_max - full_device.g_min
    for a, b, nominal in ((small.g_min, full.g_min, full_device.g_min), (small.g_max, full.g_max, full_device.g_max)):
        a, b = np.asarray(a), np.asarray(b)
        assert np.all(np.abs(a - b) <= 2.0**-11 * np.abs(b - nominal) + 1e-12 * window)
    assert np.array_equal(np.asarray(small.stuck), np.asarray(full.stuck))
    assert _in_window(small)

    counts = jnp.asarray(np.random.default_rng(0).integers(-12, 13, shape), small.conductance.dtype)
    k = getkey()
    after_full = full_device.apply_pulses(full, counts, key=k)
    after_small = device.apply_pulses(small, counts, key=k)
    assert type(after_small) is CompactPulsedState and _in_window(after_small)
    d_full = np.asarray(after_full.conductance - full.conductance)
    d_small = np.asarray(after_small.conductance - small.conductance)
    step = full_device.step
    err = np.abs(d_small - d_full)
    assert np.all(err <= 2.0**-9 * np.abs(d_full) + 0.2 * step)
    assert np.sqrt(np.mean(err**2)) <= 1e-3 * step * max(1.0, np.sqrt(np.mean((d_full / step) ** 2)))
    # a cell without pulses keeps its state exactly
    quiet = np.asarray(counts) == 0
    assert np.array_equal(np.asarray(after_small.conductance)[quiet], np.asarray(small.conductance)[quiet])


def test_compact_without_spread_is_exact(getkey):
    device = get_preset("ideal")  # no device-to-device spread: the compact state holds the same numbers
    key = getkey()
    full, small = device.init((8, 8), key=key), compact(device).init((8, 8), key=key)
    for field in ("conductance", "g_min", "g_max", "step_up", "step_down"):
        assert np.array_equal(np.asarray(getattr(full, field)), np.asarray(getattr(small, field)))


def test_compact_checks():
    with pytest.raises(ValueError, match="cell_dtype"):
        compact(get_preset("reram-sb"), "int8")
    with pytest.raises(TypeError, match="generic pulsed"):
        compact(get_preset("mg-wo3"))
    assert type(compact(get_preset("reram-sb"), "bfloat16").init((2, 2), key=jax.random.key(0)).low.dtype) \
        is type(jnp.zeros((), jnp.bfloat16).dtype)
    assert compact(compact(get_preset("reram-sb")), None).cell_dtype is None


def test_compact_jit_vmap_checkpoint(getkey, tmp_path):
    device = compact(get_preset("reram-sb"))
    shape = (6, 5)
    counts = jnp.asarray(np.random.default_rng(1).integers(-4, 5, shape), float)

    def run(d, k):
        k_init, k_apply = jax.random.split(k)
        s = d.init(shape, key=k_init, conductance=5e-6)
        return d.apply_pulses(s, counts, key=k_apply).conductance

    key = getkey()
    one = eqx.filter_jit(run)
    np.testing.assert_allclose(one(device, key), run(device, key), rtol=1e-6)
    keys = jax.random.split(getkey(), 3)
    batched = eqx.filter_jit(eqx.filter_vmap(run, in_axes=(None, 0)))(device, keys)
    for i, k in enumerate(keys):
        np.testing.assert_allclose(batched[i], one(device, k), rtol=1e-6)
    def as_arrays(m):
        return jax.tree_util.tree_map(lambda v: jnp.asarray(v) if isinstance(v, float) else v, m)

    other = eqx.tree_at(lambda d: d.variability.c2c, device, 0.1)
    stacked = stack_models([as_arrays(device), as_arrays(other)])
    both = eqx.filter_jit(eqx.filter_vmap(run))(stacked, keys[:2])
    np.testing.assert_allclose(both[1], one(as_arrays(other), keys[1]), rtol=1e-6)
    # a stack of states (a leading axis on every leaf, nominal values included) decodes too
    init = jax.jit(lambda k: device.init(shape, key=k))
    states = jax.jit(jax.vmap(lambda k: device.init(shape, key=k)))(keys)
    assert states.g_min.shape == (3,) + shape
    np.testing.assert_array_equal(states.g_min[1], init(keys[1]).g_min)
    state = init(getkey())
    save_checkpoint(tmp_path / "s.eqx", state, {})
    loaded, _ = load_checkpoint(tmp_path / "s.eqx", init(getkey()))
    for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(state)):
        assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))


def test_jitted_update_donates_and_matches(getkey):
    xbar = Crossbar(compact(get_preset("reram-sb")), 24, 16)
    key = getkey()
    x = jax.random.uniform(getkey(), (8, 24), minval=-1.0, maxval=1.0)
    d = 0.1 * jax.random.normal(getkey(), (8, 16))
    k = getkey()
    state = xbar.jitted_init()(key)
    reference = xbar.init(key=key)
    for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(reference)):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12)
    plain = jax.jit(lambda s: xbar.update_coincidence(s, x, d, learning_rate=0.05, key=k))
    expected, expected_pulses = plain(reference)
    new, pulses = xbar.jitted_update(pulses=True)(state, x, d, 0.05, k)
    assert state.plus.conductance.is_deleted()  # consumed: the update ran in place
    np.testing.assert_allclose(xbar.weights(new), xbar.weights(expected), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(pulses.up, expected_pulses.up)
    programmed = xbar.jitted_update("programmed")(new, 0.01 * jnp.ones((16, 24)), getkey())
    assert new.plus.conductance.is_deleted() and programmed.plus.conductance.shape == (24, 16)
    with pytest.raises(ValueError, match="rule"):
        xbar.jitted_update("hebbian")


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocked updates and inits from 600 cells on, 96 cells (a few rows) a block."""
    monkeypatch.setattr(mapping, "BLOCKED_MIN_CELLS", 600)
    monkeypatch.setattr(mapping, "BLOCK_CELLS", 96)
    import synaptax.arrays.crossbar as crossbar_module

    monkeypatch.setattr(crossbar_module, "BLOCKED_MIN_CELLS", 600)
    monkeypatch.setattr(crossbar_module, "BLOCK_CELLS", 96)


@pytest.mark.parametrize("mapping_name", ["differential", "reference"])
def test_blocked_update_is_the_law(small_blocks, mapping_name, getkey):
    # without per-pulse noise the blocked update is the whole-array update exactly (rows 37 =
    # 6 blocks of 6 rows + a tail of 1); with noise it is in the cells' windows, stuck cells hold
    base = eqx.tree_at(lambda d: d.variability.stuck_min, get_preset("reram-sb"), 0.1)
    quiet = eqx.tree_at(lambda d: d.variability.c2c, base, 0.0)
    for device, exact in ((quiet, True), (compact(base), False)):
        xbar = Crossbar(device, 37, 16, mapping=mapping_name)
        state = xbar.init(key=getkey())
        rng = np.random.default_rng(2)
        up = jnp.asarray(rng.integers(0, 6, (37, 16)), float)
        down = jnp.asarray(rng.integers(0, 6, (37, 16)), float)
        key = getkey()
        blocked = jax.jit(lambda s: xbar.apply_pulses(s, up, down, key=key, max_count=8))(state)
        dense = xbar.mapping.device_states(state)[0]
        whole = device.apply_pulses_many((dense,), (mapping.PulseCounts(up, down),), keys=(key,), max_count=8)[0]
        for s, s0 in zip(xbar.mapping.device_states(blocked), xbar.mapping.device_states(state)):
            assert _in_window(s)
            stuck = np.asarray(s.stuck) != 0
            assert stuck.any() and np.array_equal(np.asarray(s.conductance)[stuck], np.asarray(s0.conductance)[stuck])
        if exact:
            np.testing.assert_allclose(blocked.plus.conductance, whole.conductance, rtol=1e-12)
        else:
            moved = np.asarray(blocked.plus.conductance) != np.asarray(state.plus.conductance)
            assert moved.mean() > 0.5


def test_blocked_init(small_blocks, getkey):
    xbar = Crossbar(compact(get_preset("reram-sb")), 37, 20)
    w = 0.3 * np.ones((20, 37))
    state = xbar.jitted_init()(getkey(), w)
    assert state.plus.conductance.shape == (37, 20) and isinstance(state.plus, CompactPulsedState)
    assert _in_window(state.plus) and _in_window(state.minus)
    np.testing.assert_allclose(np.mean(xbar.weights(state)), 0.3, atol=0.05)
    rows = np.asarray(state.plus.low)
    assert not np.array_equal(rows[:6], rows[6:12])  # every block draws its own cells


def test_gpu_script_dry_run(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu.sh"), str(out), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["machine"]["backend"] == "cpu"
    sections = result["sections"]
    for name in ("bandwidth", "update", "irdrop", "training", "largest", "precision"):
        assert name in sections and "error" not in sections[name] and "skipped" not in sections[name], name
    assert sections["bandwidth"]["in_place_GBps"] > 0
    rows = sections["update"]["rows"]
    assert {r["state"] for r in rows} == {"float32", "compact"}
    for r in rows:
        assert r["cells_per_s"] > 0 and 0 < r["fraction_of_bound"] and r["must_bytes_per_cell"] > 0
    assert sorted(round(r["must_bytes_per_cell"]) for r in rows) == [34, 50]  # compact, float32 (pair)
    assert all(v["rms_over_dw_min"] < 0.05 for v in sections["update"]["compact_vs_float32_weights"].values())
    irdrop = sections["irdrop"]
    assert irdrop["converged"] and irdrop["best_s"] > 0 and irdrop["err_f32_vs_f64"] < 1e-3
    assert sections["training"]["epoch_s"] > 0 and np.isfinite(sections["training"]["final_loss"])
    largest = sections["largest"]
    assert largest["largest"]["fits"] and largest["largest"]["cells"] >= 128 * 128 and largest["bytes_per_cell"] > 0
    matmul = sections["precision"]["matmul"]
    assert set(matmul) == {"HIGHEST", "HIGH", "DEFAULT"} and matmul["HIGHEST"]["max_rel_err"] < 1e-5
