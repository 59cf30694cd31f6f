"""The device contract, checked on every preset of every family (the conformance table).

Presets are discovered from the registry (``synaptax.devices.PRESETS``), so a new preset
joins this table without touching it.  Each row checks, on a small array: init;
apply_pulses with signed counts and with ``PulseCounts``; evolve for 0 s, 1 ms and 1e6 s
(and that ``inf`` is refused); conductance within each cell's bounds; read with and without
a key; pulse energy finite and ≥ 0; jit equals eager; vmap over keys equals a loop; vmap
over a stack of two models with different parameters equals a loop; no retrace on a
second call with new values; the state round-trips through the checkpoint format; a
gradient through a pulse update is finite.
"""
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.devices import PRESETS, AbstractDevice, AbstractDeviceState, PulseCounts, PulseEnergy, get_preset
from synaptax.devices.core.contract import stack_models
from synaptax.training.io import load_checkpoint, save_checkpoint

SHAPE = (3, 4)
NAMES = sorted(PRESETS)
COUNTS = np.array([[0, 1, 2, -1], [-2, 3, 0, 5], [1, -4, 2, 0]], dtype=float)


@pytest.fixture(scope="module")
def devices():
    """One model per preset, built once for the module."""
    return {name: get_preset(name) for name in NAMES}


def _mid(device):
    lo, hi = device.conductance_range
    return 0.5 * (float(lo) + float(hi))


def _g(device, state):
    return np.asarray(device.conductance(state))


def _in_bounds(device, state):
    g, lo, hi = _g(device, state), np.asarray(state.g_min), np.asarray(state.g_max)
    tol = 1e-9 * np.maximum(np.abs(hi), 1e-30)
    return np.all(np.isfinite(g)) and np.all(g >= lo - tol) and np.all(g <= hi + tol)


@jax.jit
def _keys(key):
    return jax.random.split(key, 3)


_apply = eqx.filter_jit(lambda d, s, n, key: d.apply_pulses(s, n, key=key))
_init = eqx.filter_jit(lambda d, key, g: d.init(SHAPE, key=key, conductance=g))


def _close(a, b, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=1e-12 * float(np.max(np.abs(b)) + 1e-30))


def _perturbed(device):
    """The same model with other parameter values: read noise and bound spread changed."""
    var = device.variability
    return eqx.tree_at(lambda d: (d.variability.read_noise, d.variability.d2d_bounds), device,
                       (float(var.read_noise) + 0.02, float(var.d2d_bounds) + 0.05))


@pytest.mark.parametrize("name", NAMES)
def test_init_apply_and_bounds(name, devices, getkey):
    device = devices[name]
    assert isinstance(device, AbstractDevice)
    state = device.init(SHAPE, key=getkey(), conductance=_mid(device))
    assert isinstance(state, AbstractDeviceState)
    for field in (state.conductance, state.g_min, state.g_max, state.stuck):
        assert np.shape(field) == SHAPE
    assert np.asarray(state.stuck).dtype == np.int8
    assert np.all(np.asarray(state.g_min) < np.asarray(state.g_max))
    assert _in_bounds(device, state)
    default = device.init(SHAPE, key=getkey())
    assert _in_bounds(device, default)

    signed = _apply(device, state, jnp.asarray(COUNTS), getkey())
    assert _in_bounds(device, signed)
    assert type(signed) is type(state)
    up, down = np.maximum(COUNTS, 0), np.maximum(-COUNTS, 0)
    counts = _apply(device, state, PulseCounts(jnp.asarray(up), jnp.asarray(down)), getkey())
    assert _in_bounds(device, counts)
    # PulseCounts with one direction empty is the signed count (same key, same noise)
    key = getkey()
    _close(_g(device, _apply(device, state, PulseCounts(jnp.asarray(up), jnp.zeros(SHAPE)), key)),
           _g(device, _apply(device, state, jnp.asarray(up), key)))
    with pytest.raises(TypeError, match="pulses"):
        device.apply_pulses(state, PulseEnergy(jnp.asarray(up), jnp.asarray(down)), key=key)


@pytest.mark.parametrize("name", NAMES)
def test_evolve_read_energy(name, devices, getkey):
    device = devices[name]
    state = device.init(SHAPE, key=getkey(), conductance=_mid(device))
    state = _apply(device, state, jnp.asarray(COUNTS), getkey())
    evolve = eqx.filter_jit(lambda d, s, t: d.evolve(s, t))
    g0 = _g(device, state)
    np.testing.assert_array_equal(_g(device, evolve(device, state, jnp.asarray(0.0))), g0)
    for duration in (jnp.asarray(1e-3), jnp.asarray(1e6)):
        start = time.perf_counter()
        later = evolve(device, state, duration)
        g = _g(device, later)
        assert np.all(np.isfinite(g)) and np.all(g >= 0), (name, duration)
        assert time.perf_counter() - start < 120, (name, duration)
    with pytest.raises(ValueError, match="duration"):
        device.evolve(state, float("inf"))
    with pytest.raises(ValueError, match="duration"):
        device.evolve(state, -1.0)

    read = device.read(state, key=getkey())
    assert np.shape(read) == SHAPE and np.all(np.isfinite(read)) and np.all(np.asarray(read) >= 0)
    if float(device.variability.read_noise) == 0:
        np.testing.assert_array_equal(np.asarray(device.read(state)), g0)
        assert device.read_noise_std(state) is None
    else:
        with pytest.raises(ValueError, match="key"):
            device.read(state)
        _close(device.read_noise_std(state), float(device.variability.read_noise) * g0)

    energy = device.pulse_energy(state)
    assert isinstance(energy, PulseEnergy)
    for e in energy:
        assert np.shape(e) == SHAPE and np.all(np.isfinite(e)) and np.all(np.asarray(e) >= 0)
    step = device.nominal_step
    assert np.isfinite(float(step)) and float(step) > 0


@pytest.mark.parametrize("name", NAMES)
def test_jit_equals_eager_and_no_retrace(name, devices, getkey):
    device = devices[name]
    key, k_apply, k_read = _keys(getkey())
    eager = device.init(SHAPE, key=key, conductance=_mid(device))
    jitted = _init(device, key, _mid(device))
    _close(_g(device, jitted), _g(device, eager))
    n = jnp.asarray(COUNTS)
    _close(_g(device, _apply(device, eager, n, k_apply)), _g(device, device.apply_pulses(eager, n, key=k_apply)))
    _close(eqx.filter_jit(lambda d, s, k: d.read(s, key=k))(device, eager, k_read), device.read(eager, key=k_read))

    traces = []

    @eqx.filter_jit
    def step(d, s, counts, k):
        traces.append(1)
        return d.apply_pulses(s, counts, key=k)

    step(device, eager, n, k_apply)
    step(device, jitted, 2.0 * n, k_read)  # new state, counts and key: same shapes, no retrace
    assert len(traces) == 1


def _as_arrays(model):
    """``model`` with every numeric parameter an array: models that differ only in values
    then share one compilation (as the slices of a stack do)."""
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v) if isinstance(v, (float, int)) else v, model)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_keys_and_models(name, devices, getkey):
    device = devices[name]
    keys = jax.random.split(getkey(), 2)
    n = jnp.asarray(COUNTS)
    g0 = _mid(device)

    def run(d, k):
        k_init, k_apply, k_read = jax.random.split(k, 3)
        s = d.init(SHAPE, key=k_init, conductance=g0)
        s = d.apply_pulses(s, n, key=k_apply)
        s = d.evolve(s, 1e-3)
        return d.conductance(s), d.read(s, key=k_read), d.pulse_energy(s).up, jnp.asarray(d.nominal_step)

    one = eqx.filter_jit(run)  # one compilation for every single-model call below
    models = [_as_arrays(device), _as_arrays(_perturbed(device))]
    # one batched call vmaps over the keys and over the stack of two models together
    batched = eqx.filter_jit(eqx.filter_vmap(run))(stack_models(models), keys)
    for i, (d, k) in enumerate(zip(models, keys)):
        for a, b in zip(batched, one(d, k)):
            _close(a[i], b, rtol=1e-5)
    # the same model under two keys: the keys alone make the difference
    same = eqx.filter_jit(eqx.filter_vmap(run))(stack_models([models[0], models[0]]), keys)
    for i, k in enumerate(keys):
        for a, b in zip(same, one(models[0], k)):
            _close(a[i], b)


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip_and_gradient(name, devices, getkey, tmp_path):
    device = devices[name]
    state = device.init(SHAPE, key=getkey(), conductance=_mid(device))
    state = _apply(device, state, jnp.asarray(COUNTS), getkey())
    path = tmp_path / "state.eqx"
    save_checkpoint(path, state, {"preset": name})
    like = device.init(SHAPE, key=getkey())
    loaded, meta = load_checkpoint(path, like)
    assert meta == {"preset": name}
    for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    key = getkey()

    def loss(counts):
        return jnp.sum(device.conductance(device.apply_pulses(state, counts, key=key)))

    # forward mode: the integrators of some families are while loops (no reverse mode)
    grad = eqx.filter_jit(jax.jacfwd(loss))(jnp.asarray(COUNTS) + 0.25)
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("name", [n for n in NAMES if get_preset(n).cellwise_pulses])
def test_cellwise_pulses_leave_cells_without_pulses_unchanged(name, devices, getkey):
    """A device that declares ``cellwise_pulses`` (so a crossbar may update only the cells
    that get pulses, :mod:`synaptax.arrays.sparse`): every field of a cell without pulses is
    exactly unchanged, and a cell's new state does not depend on the other cells."""
    device = devices[name]
    state = device.init(SHAPE, key=getkey(), conductance=_mid(device))
    counts = jnp.asarray(COUNTS)
    new = _apply(device, state, counts, getkey())
    idle = COUNTS == 0
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(new)):
        if np.shape(a)[:2] == SHAPE:
            np.testing.assert_array_equal(np.asarray(a)[idle], np.asarray(b)[idle])
    # a cell's update alone (one-cell state) equals its update in the array, noise aside
    quiet = eqx.tree_at(lambda d: d.variability, device, type(device.variability)())
    whole = _apply(quiet, state, counts, getkey())
    cell = jax.tree.map(lambda a: a[1:2, 3:4] if np.shape(a)[:2] == SHAPE else a, state)
    alone = _apply(quiet, cell, counts[1:2, 3:4], getkey())
    _close(_g(quiet, alone), _g(quiet, whole)[1:2, 3:4])


def test_every_preset_is_in_the_table():
    # the table reads the registry: every family's presets are there
    families = {type(get_preset(n)).__module__.split(".")[2] for n in NAMES}
    assert families == {"generic", "electrochemical", "magnetoionic", "spintronic", "pcm"}
