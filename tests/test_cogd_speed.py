"""The Co/Gd family's array-scale path (``integrator="fast"``: compact barrier seeds, the
update without ``expm1``) against the original one (``integrator="reference"``): the same
switching law, checked in distribution over many regions and exactly where the outcome is
deterministic; jit equals eager; ``evolve`` leaves the state bit-identical; both layouts
work with either integrator, under ``jit``/``vmap``/``grad``."""
import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.devices import PulseCounts, get_preset
from synaptax.devices.spintronic.cogd import SEED_WORDS, CoGdDevice, barrier_deviates, normal_quantiles

CELLS = (200, 100)  # 20 000 cells × 64 regions = 1.28 M region outcomes per comparison


@pytest.fixture(scope="module")
def fast():
    d = dataclasses.replace(get_preset("cogd"), integrator="fast")
    assert d.n_regions == 64
    return d


@pytest.fixture(scope="module")
def reference(fast):
    return dataclasses.replace(fast, integrator="reference")


def _expected(device, up, down):
    """Exact expected fractions (quadrature over the barrier distribution): a RESET region
    ends SET, a SET region ends RESET after ``up`` SET then ``down`` RESET pulses."""
    z = np.asarray(normal_quantiles(8192))
    delta = np.maximum(float(device.mean_barrier) + float(device.barrier_spread) * z, 0.0)
    drive = max(1.0 - float(device.set_current) / float(device.critical_current), 0.0)
    rate = np.exp(math.log(float(device.pulse_width) / float(device.attempt_time)) - delta * drive)
    p_up, p_down = -np.expm1(-up * rate), -np.expm1(-down * rate)
    return float(np.mean(p_up * (1.0 - p_down))), float(np.mean(p_down))


def _fractions(device, state, up, down, key):
    new = device.apply_pulses(state, PulseCounts(jnp.full(CELLS, up), jnp.full(CELLS, down)), key=key)
    before, after = np.asarray(state.spins), np.asarray(new.spins)
    reset, set_ = before < 0, before > 0
    return float(np.mean(after[reset] > 0)), int(reset.sum()), float(np.mean(after[set_] < 0)), int(set_.sum())


def test_layouts(fast, reference):
    key = jax.random.key(0)
    s_fast, s_ref = fast.init((3, 4), key=key), reference.init((3, 4), key=key)
    assert s_fast.barrier_z.shape == (3, 4, SEED_WORDS) and s_ref.barrier_z.shape == (3, 4, 64)
    words = np.asarray(s_fast.barrier_z)
    assert np.all(words == np.round(words)) and np.all((words >= 0) & (words < 2 ** 24))
    nbytes = lambda s: sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(s)) / 12  # noqa: E731
    f = s_fast.g_min.dtype.itemsize  # float64 under the tests' x64, float32 by default
    assert nbytes(s_fast) == 64 + f * (SEED_WORDS + 2) + 1 and nbytes(s_ref) == 64 + f * (64 + 2) + 1
    assert fast.deviates(s_fast).shape == (3, 4, 64)
    np.testing.assert_array_equal(np.asarray(fast.deviates(s_ref)), np.asarray(s_ref.barrier_z))
    # two regions or fewer: the deviates themselves are no larger than the seeds
    small = dataclasses.replace(fast, n_regions=2)
    assert small.init((3,), key=key).barrier_z.shape == (3, 2)
    with pytest.raises(ValueError, match="integrator"):
        dataclasses.replace(fast, integrator="euler")
    with pytest.raises(ValueError, match="last axis"):
        barrier_deviates(jnp.zeros((3, 5)), 64)


@pytest.mark.parametrize("x64", [True, False], ids=["float64", "float32"])
def test_regenerated_deviates_are_independent_standard_normals(fast, x64):
    with jax.enable_x64(x64):  # float32: the polynomial Box–Muller of the array-scale runs
        state = fast.init((400, 250), key=jax.random.key(1))
        assert state.barrier_z.dtype == (jnp.float64 if x64 else jnp.float32)
        z = np.asarray(fast.deviates(state), np.float64)  # 6.4 M deviates
    n = z.size
    assert abs(z.mean()) < 4.0 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 4.0 * math.sqrt(2.0 / n)
    # quantiles of N(0, 1) (the law, not just two moments)
    for p, q in ((0.001, -3.0902), (0.02275, -2.0), (0.1587, -1.0), (0.5, 0.0), (0.8413, 1.0), (0.97725, 2.0)):
        frac = np.mean(z < q)
        assert abs(frac - p) < 4.0 * math.sqrt(p * (1 - p) / n) + 2e-5, (q, frac, p)
    # no correlation between the regions of a cell, nor between neighbouring cells
    flat = z.reshape(-1, 64)
    for a, b in ((flat[:, :-1], flat[:, 1:]), (flat[:, :32], flat[:, 32:]), (flat[:-1], flat[1:])):
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(r) < 4.0 / math.sqrt(a.size)
    # every cell its own regions: no two cells share their deviates
    assert len(np.unique(flat[:, 0])) > 0.999 * flat.shape[0]


@pytest.mark.parametrize("up, down, x64", [(1, 0, True), (0, 2, True), (5, 3, True), (31, 31, True),
                                           (0.5, 7.25, True), (5, 3, False), (31, 0, False)])
def test_switched_fractions_match_the_reference_law(fast, reference, up, down, x64):
    g_mid = 0.5 * (fast.g_min + fast.g_max)
    want_set, want_reset = _expected(fast, up, down)
    results = []
    with jax.enable_x64(x64):
        for i, dev in enumerate((fast, reference)):
            k_init, k_pulse = jax.random.split(jax.random.key(10 + i))
            state = dev.init(CELLS, key=k_init, conductance=jnp.full(CELLS, g_mid))
            results.append(_fractions(dev, state, up, down, k_pulse))
    for (f_set, n_set, f_reset, n_reset) in results:  # each against the exact expectation
        for f, n, p in ((f_set, n_set, want_set), (f_reset, n_reset, want_reset)):
            assert abs(f - p) <= 4.0 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-4, (f, p, n)
    (a_set, na, a_reset, nr), (b_set, nb, b_reset, ns) = results  # and against each other
    assert abs(a_set - b_set) <= 4.0 * math.sqrt(want_set * (1 - want_set) * (1 / na + 1 / nb)) + 1e-4
    assert abs(a_reset - b_reset) <= 4.0 * math.sqrt(want_reset * (1 - want_reset) * (1 / nr + 1 / ns)) + 1e-4


@pytest.mark.parametrize("x64", [True, False], ids=["float64", "float32"])
def test_same_deviates_and_key_give_almost_the_same_outcomes(fast, reference, x64):
    """On one state (explicit deviates) with one key both integrators compare one uniform
    with the same probability up to float32 rounding: outcomes differ only where the uniform
    falls within that rounding of the probability."""
    with jax.enable_x64(x64):
        k_init, k_up, k_down, k_pulse = jax.random.split(jax.random.key(3), 4)
        state = reference.init(CELLS, key=k_init, conductance=jnp.full(CELLS, 0.5 * (fast.g_min + fast.g_max)))
        counts = PulseCounts(jax.random.randint(k_up, CELLS, 0, 32).astype(jnp.float32),
                             jax.random.randint(k_down, CELLS, 0, 32).astype(jnp.float32))
        a = np.asarray(fast.apply_pulses(state, counts, key=k_pulse).spins)
        b = np.asarray(reference.apply_pulses(state, counts, key=k_pulse).spins)
    assert np.mean(a != b) < 1e-5
    assert not np.all(a == np.asarray(state.spins))  # something switched


def test_deterministic_outcomes_are_exact(fast, reference):
    k_init, k_pulse = jax.random.split(jax.random.key(4))
    shape = (50, 40)
    for dev in (fast, reference):
        state = dev.init(shape, key=k_init, conductance=jnp.full(shape, 0.5 * (fast.g_min + fast.g_max)))
        spins = np.asarray(state.spins)
        stuck = np.asarray(state.stuck)[..., None]
        working = stuck == 0
        zero = jnp.zeros(shape)
        big = jnp.full(shape, 1e12)  # P = 1 for every region
        same = dev.apply_pulses(state, PulseCounts(zero, zero), key=k_pulse)
        np.testing.assert_array_equal(np.asarray(same.spins), spins)
        up = np.asarray(dev.apply_pulses(state, PulseCounts(big, zero), key=k_pulse).spins)
        np.testing.assert_array_equal(up, np.where(working, 1, spins))
        down = np.asarray(dev.apply_pulses(state, PulseCounts(zero, big), key=k_pulse).spins)
        np.testing.assert_array_equal(down, np.where(working, -1, spins))
        both = np.asarray(dev.apply_pulses(state, PulseCounts(big, big), key=k_pulse).spins)
        np.testing.assert_array_equal(both, np.where(working, -1, spins))
        # a current far below threshold switches nothing; far above, everything
        np.testing.assert_array_equal(np.asarray(dev.apply_current(state, 1e-9, key=k_pulse).spins), spins)
        target = np.sign(float(fast.h_x))
        full = np.asarray(dev.apply_current(state, 3.0 * float(fast.critical_current), key=k_pulse, count=1e6).spins)
        np.testing.assert_array_equal(full, np.where(working, target, spins))


@pytest.mark.parametrize("x64", [True, False], ids=["float64", "float32"])
def test_jit_equals_eager(fast, reference, x64):
    with jax.enable_x64(x64):
        _jit_equals_eager(fast, reference)


def _jit_equals_eager(fast, reference):
    k_init, k_up, k_pulse = jax.random.split(jax.random.key(5), 3)
    shape = (30, 20)
    counts = jax.random.randint(k_up, shape, -31, 32).astype(jnp.float32)
    for dev in (fast, reference):
        state = dev.init(shape, key=k_init, conductance=jnp.full(shape, 4e-6))
        eager = dev.apply_pulses(state, counts, key=k_pulse)
        jitted = eqx.filter_jit(lambda d, s, n, k: d.apply_pulses(s, n, key=k))(dev, state, counts, k_pulse)
        for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        i = 0.9 * float(dev.critical_current)
        np.testing.assert_array_equal(
            np.asarray(dev.apply_current(state, i, key=k_pulse).spins),
            np.asarray(jax.jit(lambda s, k: dev.apply_current(s, i, key=k).spins)(state, k_pulse)))
        np.testing.assert_array_equal(np.asarray(dev.deviates(state)),
                                      np.asarray(jax.jit(dev.deviates)(state)))
        rtol = 1e-12 if state.g_min.dtype == jnp.float64 else 1e-4  # exp(min Δ_i) amplifies Δ's rounding
        np.testing.assert_allclose(np.asarray(dev.retention_time(state)),  # a continuous readout: rounding
                                   np.asarray(jax.jit(dev.retention_time)(state)), rtol=rtol)


@pytest.mark.parametrize("duration", [0.0, 1.0, 1e6])
def test_evolve_leaves_the_state_bit_identical(fast, reference, duration):
    for dev in (fast, reference):
        state = dev.init((6, 7), key=jax.random.key(6), conductance=jnp.full((6, 7), 5e-6))
        for out in (dev.evolve(state, duration), eqx.filter_jit(lambda d, s, t: d.evolve(s, t))(dev, state, duration)):
            for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(out)):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_either_integrator_takes_either_layout(fast, reference):
    k_init, k_pulse = jax.random.split(jax.random.key(7))
    s_fast = fast.init((5, 6), key=k_init, conductance=jnp.full((5, 6), 5e-6))
    explicit = eqx.tree_at(lambda s: s.barrier_z, s_fast, fast.deviates(s_fast))
    counts = jnp.full((5, 6), 3.0)
    # the same deviates in either layout, the same integrator and key: the same outcome
    for dev in (fast, reference):
        a = dev.apply_pulses(s_fast, counts, key=k_pulse)
        b = dev.apply_pulses(explicit, counts, key=k_pulse)
        np.testing.assert_array_equal(np.asarray(a.spins), np.asarray(b.spins))
        assert a.barrier_z.shape == s_fast.barrier_z.shape and b.barrier_z.shape == explicit.barrier_z.shape


def test_one_device_broadcast_over_the_array(fast):
    """``eqx.tree_at`` with one cell's row broadcast (as the neuron and validation code do)
    gives every cell the same regions, in the compact layout too."""
    state = fast.init((4,), key=jax.random.key(8))
    shared = eqx.tree_at(lambda s: s.barrier_z, state, jnp.broadcast_to(state.barrier_z[0], state.barrier_z.shape))
    z = np.asarray(fast.deviates(shared))
    assert np.all(z == z[0]) and not np.all(np.asarray(fast.deviates(state)) == z[0])


def test_sweep_keeps_the_layout_and_equals_stepping(fast):
    state = fast.init((3, 5), key=jax.random.key(9))
    currents = jnp.linspace(0.5, 1.1, 12) * fast.critical_current * fast.set_polarity
    key = jax.random.key(10)
    final, r_hall = fast.sweep(state, currents, key=key)
    assert final.barrier_z.shape == state.barrier_z.shape
    np.testing.assert_array_equal(np.asarray(final.barrier_z), np.asarray(state.barrier_z))
    s = state
    for i, k in zip(currents, jax.random.split(key, currents.shape[0])):
        s = fast.apply_current(s, i, key=k)
    np.testing.assert_array_equal(np.asarray(final.spins), np.asarray(s.spins))
    np.testing.assert_allclose(np.asarray(r_hall[-1]), np.asarray(fast.hall_resistance(s)), rtol=1e-6)


def test_vmap_and_grad_with_the_compact_layout(fast):
    keys = jax.random.split(jax.random.key(11), 3)
    state = fast.init((4, 5), key=keys[0])
    counts = jnp.full((4, 5), 6.0)
    batched = jax.vmap(lambda k: fast.apply_pulses(state, counts, key=k).spins)(keys)
    looped = jnp.stack([fast.apply_pulses(state, counts, key=k).spins for k in keys])
    np.testing.assert_array_equal(np.asarray(batched), np.asarray(looped))

    # the barriers stay differentiable in the device's parameters
    def log_retention(barrier):
        dev = dataclasses.replace(fast, barrier=barrier)
        return jnp.mean(jnp.log(dev.retention_time(state)))

    g = jax.grad(log_retention)(jnp.asarray(float(fast.barrier)))
    h = float(fast.field_ratio)
    want = float(fast.h_k / fast.h_k_ref) * (1 - h) ** 2  # d(min Δ_i)/d(barrier) when no barrier is clipped
    np.testing.assert_allclose(float(g), want, rtol=1e-5)


def test_stuck_cells_hold(fast):
    dev = dataclasses.replace(fast, variability=dataclasses.replace(fast.variability, stuck_min=0.2, stuck_max=0.2))
    state = dev.init((40, 30), key=jax.random.key(12), conductance=jnp.full((40, 30), 5e-6))
    stuck = np.asarray(state.stuck) != 0
    assert stuck.any()
    out = dev.apply_pulses(state, jnp.full((40, 30), 20.0), key=jax.random.key(13))
    np.testing.assert_array_equal(np.asarray(out.spins)[stuck], np.asarray(state.spins)[stuck])


def test_default_is_the_reference_layout():
    # the default keeps the published Co/Gd numbers reproducible to the byte; "fast" is opt-in
    assert CoGdDevice().integrator == "reference"
    assert get_preset("cogd").integrator == "reference"
    assert get_preset("cogd").init((2, 3), key=jax.random.key(0)).barrier_z.shape == (2, 3, 64)
