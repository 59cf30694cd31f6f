"""Sparse pulsed updates (synaptax.arrays.sparse): only the chunks of cells that get pulses
are evaluated; the result must be the dense update's (exactly without cycle-to-cycle
noise, in distribution with it), fall back to the dense update when too many cells are
pulsed, and keep jit, vmap and grad."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.arrays import sparse
from synaptax.devices import get_preset

pytestmark = pytest.mark.timeout(240)

ROWS, COLS = 256, 160  # 40960 cells: above MIN_CELLS, a multiple of CHUNK


def _counts(seed, density, *, max_count=3):
    rng = np.random.default_rng(seed)
    mask = rng.random((ROWS, COLS)) < density
    up = np.where(mask & (rng.random((ROWS, COLS)) < 0.6), rng.integers(1, max_count + 1, (ROWS, COLS)), 0)
    down = np.where(mask & (rng.random((ROWS, COLS)) < 0.6), rng.integers(1, max_count + 1, (ROWS, COLS)), 0)
    return jnp.asarray(up, float), jnp.asarray(down, float)


def _quiet(device):
    return eqx.tree_at(lambda d: (d.variability.c2c, d.variability.c2c_range), device, (0.0, 0.0))


def _xbar(device, mapping="differential"):
    return Crossbar(device, ROWS, COLS, mapping=mapping, max_tile_size=(512, 512))


def _leaves(state):
    return [np.asarray(a) for a in jax.tree.leaves(state)]


def _active_fraction(up, down):
    n = up.size // sparse.CHUNK
    return float(jnp.mean(jnp.any(((up > 0) | (down > 0)).reshape(n, sparse.CHUNK), axis=1)))


@pytest.mark.parametrize("preset,mapping", [("reram-sb", "differential"), ("reram-sb", "reference"),
                                            ("ag-asi", "differential"), ("ideal", "differential")])
def test_sparse_equals_dense_without_noise(preset, mapping, getkey):
    xbar = _xbar(_quiet(get_preset(preset)), mapping)
    assert sparse.sparse_applicable(xbar, xbar.padded_shape)
    state = xbar.init(key=getkey())
    up, down = _counts(0, 0.002)
    assert _active_fraction(up, down) <= sparse.CAPACITY  # the compact branch runs
    key = getkey()
    dense = jax.jit(lambda s, u, d: xbar.apply_pulses(s, u, d, key=key, max_count=8))(state, up, down)
    compact = jax.jit(lambda s, u, d: sparse.apply_pulses_sparse(xbar, s, u, d, key=key, max_count=8))(
        state, up, down)
    for a, b in zip(_leaves(compact), _leaves(dense)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    moved = np.asarray(xbar.mapping.device_states(compact)[0].conductance) != np.asarray(state.plus.conductance)
    assert moved.sum() > 0 and not moved[np.asarray((up + down) == 0)].any()


def test_too_many_pulsed_cells_take_the_dense_update(getkey):
    xbar = _xbar(get_preset("reram-sb"))
    state = xbar.init(key=getkey())
    up, down = _counts(1, 0.2)
    assert _active_fraction(up, down) > sparse.CAPACITY
    key = getkey()
    dense = jax.jit(lambda s: xbar.apply_pulses(s, up, down, key=key))(state)
    out = jax.jit(lambda s: sparse.apply_pulses_sparse(xbar, s, up, down, key=key))(state)
    for a, b in zip(_leaves(out), _leaves(dense)):  # the same key: the same noise
        np.testing.assert_array_equal(a, b)


def test_small_arrays_and_other_devices_are_dense(getkey):
    small = Crossbar(get_preset("reram-sb"), 16, 8)
    assert not sparse.sparse_applicable(small, small.padded_shape)
    con = get_preset("con-25nm")
    assert not con.cellwise_pulses
    assert not sparse.sparse_applicable(_xbar(con), (ROWS, COLS))


def test_noise_statistics_match_the_dense_update(getkey):
    """With cycle-to-cycle noise the compact update draws other normals: the changes of the
    pulsed cells have the dense update's mean and spread (within 4 σ/√N)."""
    device = eqx.tree_at(lambda d: d.variability.c2c, get_preset("reram-sb"), 0.3)
    xbar = _xbar(device, "reference")
    state = xbar.init(key=getkey())
    up, down = _counts(2, 0.005, max_count=1)
    up = jnp.where(up + down > 0, 1.0, 0.0)  # one potentiation pulse each
    down = jnp.zeros_like(up)
    pulsed = np.asarray(up) > 0
    g0 = np.asarray(state.plus.conductance)[pulsed]
    d_dense, d_sparse = [], []
    for i in range(6):
        key = jax.random.fold_in(getkey(), i)
        d_dense.append(np.asarray(xbar.apply_pulses(state, up, down, key=key).plus.conductance)[pulsed] - g0)
        d_sparse.append(np.asarray(sparse.apply_pulses_sparse(xbar, state, up, down, key=key).plus.conductance)[pulsed] - g0)
    a, b = np.concatenate(d_dense), np.concatenate(d_sparse)
    n = a.size
    assert n > 1000
    assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / n + b.var() / n)
    assert abs(a.std() / b.std() - 1) < 4 * np.sqrt(1 / n)
    assert b.std() > 0.1 * abs(b.mean())  # the noise is really there


def test_jit_equals_eager_vmap_and_grad(getkey):
    xbar = _xbar(get_preset("reram-sb"))
    state = xbar.init(key=getkey())
    up, down = _counts(3, 0.002)
    key = getkey()
    eager = sparse.apply_pulses_sparse(xbar, state, up, down, key=key)
    jitted = jax.jit(lambda s: sparse.apply_pulses_sparse(xbar, s, up, down, key=key))(state)
    for a, b in zip(_leaves(eager), _leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    keys = jax.random.split(key, 2)
    batched = jax.vmap(lambda k: sparse.apply_pulses_sparse(xbar, state, up, down, key=k).plus.conductance)(keys)
    for i in range(2):
        one = sparse.apply_pulses_sparse(xbar, state, up, down, key=keys[i]).plus.conductance
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(one), rtol=1e-12)

    def total(g):
        s = eqx.tree_at(lambda s: s.plus.conductance, state, g)
        return jnp.sum(sparse.apply_pulses_sparse(xbar, s, up, down, key=key).plus.conductance)

    grad = jax.grad(total)(state.plus.conductance)
    assert np.all(np.isfinite(np.asarray(grad)))
    idle = np.asarray(up + down) == 0
    np.testing.assert_array_equal(np.asarray(grad)[idle], 1.0)  # untouched cells pass straight through


def test_training_step_uses_the_sparse_update(getkey):
    """A coincidence update of a sparse batch (most inputs zero, as MNIST's first layer)
    changes only cells with pulses and keeps every conductance in its bounds."""
    xbar = _xbar(get_preset("reram-sb"))
    state = xbar.init(key=getkey())
    rng = np.random.default_rng(4)
    x = np.where(rng.random((16, ROWS)) < 0.05, rng.random((16, ROWS)), 0.0)
    d = 0.01 * rng.standard_normal((16, COLS))
    new, pulses = xbar.update_coincidence(state, x, d, learning_rate=0.05, key=getkey())
    got = np.asarray(pulses.up[0] + pulses.down[0])
    g0, g1 = np.asarray(state.plus.conductance), np.asarray(new.plus.conductance)
    assert got.sum() > 0
    np.testing.assert_array_equal(g1[got == 0], g0[got == 0])
    assert np.all(g1 >= np.asarray(state.plus.g_min)) and np.all(g1 <= np.asarray(state.plus.g_max))
