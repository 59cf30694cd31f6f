"""Tests of the crossbar tile (synaptax.arrays.Crossbar): MVMs against W @ x, tiling,
pulsed updates against their expectation, transformations, energy and validation."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.circuits.converters import ADC, ideal_adc, ideal_dac
from synaptax.devices import get_preset

MAPPINGS = ["differential", "reference"]

# Jitted entry points (one compilation per crossbar configuration and shape: far cheaper on
# the CPU than op-by-op eager dispatch).  Eager behaviour is tested separately.
_init = eqx.filter_jit(lambda xbar, key, weights=None: xbar.init(key=key, weights=weights))
_forward = eqx.filter_jit(lambda xbar, state, x, key=None: xbar.forward(state, x, key=key))
_weights_of = eqx.filter_jit(lambda xbar, state: xbar.weights(state))
_update = eqx.filter_jit(lambda xbar, state, x, d, lr, key, **kw: xbar.update_coincidence(
    state, x, d, learning_rate=lr, key=key, **kw))
_program = eqx.filter_jit(lambda xbar, state, delta_w, key, **kw: xbar.update_programmed(state, delta_w, key=key, **kw))


@eqx.filter_jit
def _mvms(xbar, state, x, d):
    """Forward of a batch and of its first sample, transposed MVM, and the weights."""
    return xbar.forward(state, x), xbar.forward(state, x[0]), xbar.backward(state, d), xbar.weights(state)


def ideal_crossbar(n_in, n_out, *, mapping="differential", max_tile_size=(512, 512), **kw):
    return Crossbar(get_preset("ideal"), n_in, n_out, mapping=mapping, dac=ideal_dac(), adc=ideal_adc(),
                    max_tile_size=max_tile_size, **kw)


def _weights(rng, n_out, n_in, w_max=1.0):
    return rng.uniform(-0.9 * w_max, 0.9 * w_max, size=(n_out, n_in))


# --------------------------------------------------------------------------- ideal MVMs
@pytest.mark.parametrize("n_in, n_out, tile, mapping", [
    (700, 30, (256, 16), "differential"),   # tiled 3 × 2, neither size divides
    (700, 30, (256, 16), "reference"),
    (64, 48, (32, 16), "differential"),     # tiled 2 × 3, sizes divide
    (13, 7, (512, 512), "reference"),       # one tile
])
def test_ideal_crossbar_reproduces_matmul_float64(n_in, n_out, tile, mapping, getkey):
    rng = np.random.default_rng(n_in + n_out)
    xbar = ideal_crossbar(n_in, n_out, mapping=mapping, max_tile_size=tile, w_max=2.0)
    w = _weights(rng, n_out, n_in, w_max=2.0)
    state = _init(xbar, getkey(), w)
    x = rng.normal(size=(5, n_in))
    d = rng.normal(size=(5, n_out))
    y, y0, z, w_held = (np.asarray(a) for a in _mvms(xbar, state, x, d))
    assert y.shape == (5, n_out) and z.shape == (5, n_in)
    np.testing.assert_allclose(y, x @ w.T, rtol=0, atol=1e-11 * (np.abs(x) @ np.abs(w).T).max())
    np.testing.assert_allclose(z, d @ w, rtol=0, atol=1e-11 * (np.abs(d) @ np.abs(w)).max())
    # unbatched input
    np.testing.assert_allclose(y0, y[0], rtol=0, atol=1e-12 * np.abs(y).max())
    # the state holds the weights
    np.testing.assert_allclose(w_held, w, rtol=0, atol=1e-12)


def test_tiling_geometry():
    xbar = ideal_crossbar(700, 30, max_tile_size=(256, 16))
    assert xbar.tile_grid == (3, 2)
    assert xbar.tile_shape == (234, 15)
    assert xbar.padded_shape == (702, 30)


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_ideal_crossbar_reproduces_matmul_float32(mapping):
    rng = np.random.default_rng(7)
    w = _weights(rng, 30, 700).astype(np.float32)
    x = rng.normal(size=(4, 700)).astype(np.float32)
    d = rng.normal(size=(4, 30)).astype(np.float32)
    with jax.enable_x64(False):
        xbar = ideal_crossbar(700, 30, mapping=mapping, max_tile_size=(256, 16))
        state = _init(xbar, jax.random.key(0), jnp.asarray(w, dtype=jnp.float32))
        assert state.plus.conductance.dtype == jnp.float32
        y, _, z, _ = _mvms(xbar, state, jnp.asarray(x, dtype=jnp.float32), jnp.asarray(d, dtype=jnp.float32))
        assert y.dtype == jnp.float32 and z.dtype == jnp.float32
    w64, x64, d64 = (a.astype(np.float64) for a in (w, x, d))
    # float32 precision: a few ulps of the magnitude of the sum of |terms|
    np.testing.assert_allclose(np.asarray(y), x64 @ w64.T, rtol=0, atol=2e-6 * (np.abs(x64) @ np.abs(w64).T).max())
    np.testing.assert_allclose(np.asarray(z), d64 @ w64, rtol=0, atol=2e-6 * (np.abs(d64) @ np.abs(w64)).max())


def test_weights_without_read_noise(getkey):
    # a preset with read noise: weights() is the noise-free value, with no key needed
    rng = np.random.default_rng(0)
    xbar = _noisy_crossbar()
    assert xbar.device.variability.read_noise > 0
    w = _weights(rng, 4, 6)
    state = _init(xbar, getkey(), w)
    gp, gm = xbar.conductances(state)
    np.testing.assert_allclose(np.asarray(_weights_of(xbar, state)), (np.asarray(gp) - np.asarray(gm)).T / xbar.g_per_w,
                               rtol=1e-12)


def _reference_mvm(xbar, gp, gm, x, *, dac_bits, adc_bits):
    """The documented converter chain written out in numpy (forward direction, ideal wires)."""
    levels = lambda b: 2.0 ** (b - 1) - 1  # noqa: E731
    scale = np.abs(x).max(-1, keepdims=True)
    v = np.round(np.clip(x / scale, -1, 1) * levels(dac_bits)) / levels(dac_bits) * xbar.read_voltage
    dg = gp - (xbar.g_ref if gm is None else gm)
    i_fs = xbar.out_bound * xbar.read_voltage * xbar.g_per_w
    (nr, _), (tr, _) = xbar.tile_grid, xbar.tile_shape
    out = 0.0
    for t in range(nr):
        rows = slice(t * tr, min((t + 1) * tr, x.shape[-1]))
        u = np.clip(v[:, rows] @ dg[rows] / i_fs, -1, 1)
        out = out + np.round(u * levels(adc_bits)) / levels(adc_bits) * i_fs
    return out / (xbar.read_voltage * xbar.g_per_w) * scale


def test_quantised_converter_chain_matches_reference(getkey):
    rng = np.random.default_rng(3)
    xbar = Crossbar(get_preset("ideal"), 40, 6, max_tile_size=(16, 512), out_bound=4.0)
    assert xbar.dac.bits == 7 and xbar.adc.bits == 9
    w = _weights(rng, 6, 40)
    state = _init(xbar, getkey(), w)
    x = rng.normal(size=(8, 40))
    gp, gm = (None if g is None else np.asarray(g) for g in xbar.conductances(state))
    want = _reference_mvm(xbar, gp, gm, x, dac_bits=7, adc_bits=9)
    np.testing.assert_allclose(np.asarray(_forward(xbar, state, x)), want, rtol=1e-9, atol=1e-12)
    # quantisation makes a visible difference from the exact product
    assert np.abs(want - x @ w.T).max() > 1e-3


def test_adc_saturates_per_tile(getkey):
    # two tiles of 5 rows; weights 0.9; the ADC clips each tile's output at out_bound = 2
    xbar = Crossbar(get_preset("ideal"), 10, 1, dac=ideal_dac(), adc=ADC(bits=None, saturate=True), out_bound=2.0,
                    max_tile_size=(5, 1))
    assert xbar.tile_grid == (2, 1)
    state = _init(xbar, getkey(), np.full((1, 10), 0.9))
    x = np.array([[1.0] * 10,             # exact 9: each tile 4.5, clipped to 2, summed: 4
                  [1.0] * 5 + [0.0] * 5,  # exact 4.5: one tile, clipped to 2
                  [0.2] * 10,             # exact 1.8: input scaled to 1 (abs-max), clipped per tile, rescaled
                  [0.4] * 2 + [0.0] * 8])  # exact 0.72: scaled to 1.8, within range
    np.testing.assert_allclose(np.asarray(_forward(xbar, state, x))[:, 0], [4.0, 2.0, 0.8, 0.72], rtol=1e-12)


def test_weights_clipped_to_what_cells_hold(getkey):
    xbar = Crossbar(get_preset("ideal"), 6, 4)  # w_max = 1
    w = np.linspace(-3.0, 3.0, 24).reshape(4, 6)
    state = _init(xbar, getkey(), w)
    np.testing.assert_allclose(np.asarray(_weights_of(xbar, state)), np.clip(w, -1.0, 1.0), atol=1e-12)


# --------------------------------------------------------------------------- pulsed updates
N_KEYS = 2000


def _check_moments(samples, mean, var, kappa4, z=5.0):
    """Sample mean and variance over the first axis agree with the law (``mean``, ``var``
    and fourth cumulant ``kappa4``) within ``z`` standard errors:
    SE(mean) = √(var/N), SE(sample variance) = √((κ₄ + 2·var²)/N)."""
    n = samples.shape[0]
    np.testing.assert_array_less(np.abs(samples.mean(0) - mean), z * np.sqrt(var / n) + 1e-15)
    np.testing.assert_array_less(np.abs(samples.var(0, ddof=1) - var), z * np.sqrt((kappa4 + 2 * var**2) / n) + 1e-30)


def _coincidence_setup(rng, *, management, bit_length, n_in=6, n_out=4, batch=3, dw_min=2e-3, p_max=0.8):
    """Inputs, errors and a learning rate whose largest firing probability with
    ``bit_length`` slots is ``p_max``."""
    x = rng.uniform(-1, 1, size=(batch, n_in))
    d = rng.uniform(-1, 1, size=(batch, n_out)) * 0.3
    x_max, d_max = np.abs(x).max(1), np.abs(d).max(1)
    # update management balances p and q per sample: max p = max q = base·sqrt(x_max·d_max);
    # without it max p = base·x_max and max q = base·d_max
    base = p_max / (np.sqrt(x_max * d_max).max() if management else max(x_max.max(), d_max.max()))
    return x, d, base**2 * bit_length * dw_min


def _slots(lr, x, d, dw_min, *, bit_length, management, bl_management):
    """Pulse slots used (documented bit-length management: the shortest of 1, 2, 4, … below
    ``bit_length`` that keeps every firing probability ≤ 1)."""
    if not bl_management:
        return bit_length
    x_max, d_max = np.abs(x).max(1), np.abs(d).max(1)
    need = (lr * (x_max * d_max if management else np.maximum(x_max, d_max) ** 2)).max() / dw_min
    return next((n for n in (1, 2, 4, 8, 16, 32, 64, 128) if n < bit_length and n >= need), bit_length)


@pytest.mark.parametrize("mapping, batch_mode, management, bl_management, bit_length, p_max", [
    ("differential", "aggregate", True, True, 8, 0.4),   # a short train is chosen
    ("differential", "sequential", True, False, 31, 0.8),
    ("reference", "aggregate", False, True, 8, 0.4),
    ("reference", "sequential", False, False, 31, 0.8),
])
def test_coincidence_update_expectation(mapping, batch_mode, management, bl_management, bit_length, p_max, getkey):
    rng = np.random.default_rng(11)
    xbar = Crossbar(get_preset("ideal"), 6, 4, mapping=mapping)
    assert xbar.dw_min == pytest.approx(2e-3, rel=1e-12)
    x, d, lr = _coincidence_setup(rng, management=management, bit_length=bit_length, p_max=p_max)
    state = _init(xbar, getkey())
    w0 = np.asarray(_weights_of(xbar, state))

    def one(key):
        new, pulses = xbar.update_coincidence(state, x, d, learning_rate=lr, key=key, bit_length=bit_length,
                                              batch_mode=batch_mode, update_management=management,
                                              bl_management=bl_management)
        return xbar.weights(new), pulses

    w, pulses = jax.jit(jax.vmap(one))(jax.random.split(getkey(), N_KEYS))
    dw = np.asarray(w) - w0
    want = lr * d.T @ x
    # coincidences of sample b at cell (j, i): binomial, L slots of probability p_i·q_j with
    # L·p_i·q_j = c = lr·|x_i||d_j|/dw_min whatever L
    c = lr / xbar.dw_min * np.abs(x)[:, None, :] * np.abs(d)[:, :, None]  # (batch, out, in)
    slots = _slots(lr, x, d, xbar.dw_min, bit_length=bit_length, management=management,
                   bl_management=bl_management)
    assert slots < bit_length if bl_management else slots == bit_length
    pi = c / slots
    assert pi.max() <= 1
    var = xbar.dw_min**2 * (slots * pi * (1 - pi)).sum(0)
    kappa4 = xbar.dw_min**4 * (slots * pi * (1 - pi) * (1 - 6 * pi * (1 - pi))).sum(0)
    _check_moments(dw, want, var, kappa4)
    # the record of pulses explains the realised change exactly (deterministic device)
    up, down = np.asarray(pulses.up), np.asarray(pulses.down)
    assert up.shape == (N_KEYS, xbar.devices_per_weight, 6, 4)
    np.testing.assert_allclose(dw, xbar.dw_min * np.swapaxes(up[:, 0] - down[:, 0], 1, 2), rtol=0, atol=1e-12)
    if mapping == "differential":
        np.testing.assert_array_equal(up[:, 1], down[:, 0])
        np.testing.assert_array_equal(down[:, 1], up[:, 0])
    assert up.min() >= 0 and (up + down).max() <= slots * x.shape[0]


def test_bit_length_management_without_update_management_keeps_expectation(getkey):
    # inputs and errors of very different sizes, no update management: the short train
    # chosen by bit-length management must not push a probability past 1 (which would bias
    # the update); the expectation stays lr·Σ d xᵀ
    rng = np.random.default_rng(21)
    xbar = Crossbar(get_preset("ideal"), 6, 4)
    x = rng.uniform(-1, 1, size=(2, 6))
    d = rng.uniform(-1, 1, size=(2, 4)) * 0.05
    # lr·max|x|²/dw_min = 6: a train of 8 slots keeps p ≤ √(6/8); one slot would need
    # p = √6·|x|/max|x| > 1
    lr = 6 * xbar.dw_min / np.abs(x).max() ** 2
    state = _init(xbar, getkey())
    w0 = np.asarray(_weights_of(xbar, state))
    one = lambda k: xbar.weights(xbar.update_coincidence(state, x, d, learning_rate=lr, key=k,  # noqa: E731
                                                         bit_length=8, update_management=False)[0])
    dw = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(getkey(), N_KEYS))) - w0
    c = lr / xbar.dw_min * np.abs(x)[:, None, :] * np.abs(d)[:, :, None]
    sigma_max = xbar.dw_min * np.sqrt(c.sum(0))  # Poisson bound on the binomial spread
    np.testing.assert_array_less(np.abs(dw.mean(0) - lr * d.T @ x), 5 * sigma_max / np.sqrt(N_KEYS))


@pytest.mark.parametrize("batch", [3, 32, 64, 33])
def test_packed_popcount_counts_equal_the_bit_matrix_product(batch):
    # the coincidence counts are popcounts of ANDed bit words: exactly the 0/1 product
    from synaptax.arrays.updates.coincidence import _pack_samples, _popcount_product

    rng = np.random.default_rng(batch)
    bx = rng.random((batch, 13)) < 0.3
    bd = rng.random((batch, 9)) < 0.5
    got = np.asarray(_popcount_product(_pack_samples(jnp.asarray(bx)), _pack_samples(jnp.asarray(bd))))
    np.testing.assert_array_equal(got, bx.T.astype(np.int64) @ bd.astype(np.int64))


def test_uniform_at_picks_elements_of_a_draw():
    from synaptax import _random as fast_random

    key = jax.random.key(5)
    full = np.asarray(fast_random.uniform(key, (4, 7, 3)))
    idx = jnp.asarray([[0, 5], [83, 40]], jnp.uint32)
    np.testing.assert_array_equal(np.asarray(fast_random.uniform_at(key, idx)), full.ravel()[np.asarray(idx)])


def test_coincidence_probabilities_saturate_at_one(getkey):
    # a huge learning rate: every slot of every active row and column fires
    xbar = Crossbar(get_preset("ideal"), 6, 4)
    x = np.array([[1.0, -0.5, 0.0, 0.3, -1.0, 0.01]])
    d = np.array([[0.2, -1.0, 0.0, 0.5]])
    _, pulses = _update(xbar, _init(xbar, getkey()), x, d, 1e6, getkey(), bit_length=7, bl_management=False)
    want_up = 7 * (np.outer(x[0], d[0]) > 0)
    want_down = 7 * (np.outer(x[0], d[0]) < 0)
    np.testing.assert_array_equal(np.asarray(pulses.up[0]), want_up)
    np.testing.assert_array_equal(np.asarray(pulses.down[0]), want_down)


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_programmed_update_expectation(mapping, getkey):
    rng = np.random.default_rng(5)
    xbar = Crossbar(get_preset("ideal"), 6, 4, mapping=mapping)
    state = _init(xbar, getkey(), _weights(rng, 4, 6) * 0.5)
    w0 = np.asarray(_weights_of(xbar, state))
    delta = rng.uniform(-6, 6, size=(4, 6)) * xbar.dw_min

    def one(key):
        new, _ = xbar.update_programmed(state, delta, key=key)
        return xbar.weights(new)

    dw = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(getkey(), N_KEYS))) - w0
    # stochastic rounding: one extra pulse with probability f, the fractional part (Bernoulli)
    f = delta / xbar.dw_min - np.floor(delta / xbar.dw_min)
    _check_moments(dw, delta, xbar.dw_min**2 * f * (1 - f), xbar.dw_min**4 * f * (1 - f) * (1 - 6 * f * (1 - f)))
    # every realised change is a whole number of pulses next to the requested count
    n = dw / xbar.dw_min
    np.testing.assert_allclose(n, np.round(n), atol=1e-9)
    assert np.all(np.abs(n - delta / xbar.dw_min) < 1)
    # rounding to nearest and a pulse cap
    new, pulses = _program(xbar, state, delta, getkey(), stochastic_rounding=False, max_pulses=3)
    want = np.clip(np.round(delta / xbar.dw_min), -3, 3)
    np.testing.assert_allclose((np.asarray(_weights_of(xbar, new)) - w0) / xbar.dw_min, want, atol=1e-9)
    np.testing.assert_array_equal(np.asarray(pulses.up[0] - pulses.down[0]), want.T)


def test_update_respects_device_bounds(getkey):
    # saturating updates leave every conductance within its cell's range (noisy preset)
    xbar = Crossbar(get_preset("gokmen-vlasov"), 6, 4)
    state = _init(xbar, getkey())
    program = jax.jit(lambda s, k: xbar.update_programmed(s, jnp.full((4, 6), 5.0), key=k)[0])
    for _ in range(3):
        state = program(state, getkey())
    for s in (state.plus, state.minus):
        g = np.asarray(s.conductance)
        assert np.all(g >= np.asarray(s.g_min)) and np.all(g <= np.asarray(s.g_max))
    # G+ driven to its top, G- to its bottom (to within the cycle-to-cycle error of the last,
    # clipped pulse, which is a fraction of one step)
    step = float(xbar.device.step)
    np.testing.assert_allclose(np.asarray(state.plus.conductance), np.asarray(state.plus.g_max), rtol=0, atol=step)
    np.testing.assert_allclose(np.asarray(state.minus.conductance), np.asarray(state.minus.g_min), rtol=0, atol=step)


# --------------------------------------------------------------------------- transformations
def _noisy_crossbar(mapping="differential"):
    # read noise, c2c and d2d variability, ADC noise, 2 × 2 tiles
    return Crossbar(get_preset("reram-sb"), 6, 4, mapping=mapping, max_tile_size=(4, 2), adc=ADC(noise=0.01))


def test_forward_and_update_jit_equal_eager(getkey):
    rng = np.random.default_rng(2)
    xbar = _noisy_crossbar()
    state = _init(xbar, getkey(), _weights(rng, 4, 6) * 0.5)
    x, d, key = rng.normal(size=(3, 6)), rng.normal(size=(3, 4)), getkey()
    eager = xbar.forward(state, x, key=key)
    np.testing.assert_allclose(np.asarray(_forward(xbar, state, x, key)), np.asarray(eager), rtol=1e-9, atol=1e-12)
    # (a short maximum train keeps the compilation of the bit-length switch small)
    new_e, pulses_e = xbar.update_coincidence(state, x, d, learning_rate=0.01, key=key, bit_length=4)
    new_j, pulses_j = _update(xbar, state, x, d, 0.01, key, bit_length=4)
    np.testing.assert_array_equal(np.asarray(pulses_j.up), np.asarray(pulses_e.up))
    np.testing.assert_array_equal(np.asarray(pulses_j.down), np.asarray(pulses_e.down))
    np.testing.assert_allclose(np.asarray(xbar.weights(new_j)), np.asarray(xbar.weights(new_e)), rtol=1e-12)
    assert np.asarray(pulses_e.up).sum() + np.asarray(pulses_e.down).sum() > 0


def test_vmap_over_keys_equals_loop(getkey):
    rng = np.random.default_rng(4)
    xbar = _noisy_crossbar()
    state = _init(xbar, getkey(), _weights(rng, 4, 6) * 0.5)
    x, d = rng.normal(size=(3, 6)), rng.normal(size=(3, 4))
    keys = jax.random.split(getkey(), 3)
    batched = jax.jit(jax.vmap(lambda k: xbar.forward(state, x, key=k)))(keys)
    looped = np.stack([_forward(xbar, state, x, k) for k in keys])
    np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(looped[0], looped[1])
    upd = lambda k: xbar.update_coincidence(state, x, d, learning_rate=0.01, key=k, bit_length=4)[0]  # noqa: E731
    batched = jax.jit(jax.vmap(upd))(keys)
    for i, k in enumerate(keys):
        one = _update(xbar, state, x, d, 0.01, k, bit_length=4)[0]
        for a, b in ((batched.plus, one.plus), (batched.minus, one.minus)):
            np.testing.assert_allclose(np.asarray(a.conductance[i]), np.asarray(b.conductance), rtol=1e-12)


def test_jitted_step_does_not_retrace(getkey):
    rng = np.random.default_rng(8)
    xbar = _noisy_crossbar()
    traces = []

    @jax.jit
    def step(state, x, key):
        traces.append(1)
        k_fwd, k_upd = jax.random.split(key)
        y = xbar.forward(state, x, key=k_fwd)
        state, _ = xbar.update_coincidence(state, x, -y, learning_rate=0.01, key=k_upd, bit_length=4)
        return state, y

    state = _init(xbar, getkey())
    for _ in range(3):
        state, y = step(state, rng.normal(size=(3, 6)), getkey())
    jax.block_until_ready(y)
    assert len(traces) == 1
    assert step._cache_size() == 1


def test_read_noise_spread_of_outputs(getkey):
    # each cell's read is independent with std read_noise·G: the output current of column j
    # has variance Σ_i V_i²·(σ⁺_ij² + σ⁻_ij²)
    rng = np.random.default_rng(14)
    device = get_preset("reram-sb")
    xbar = Crossbar(device, 6, 4, dac=ideal_dac(), adc=ideal_adc(), max_tile_size=(4, 2))
    state = _init(xbar, getkey(), _weights(rng, 4, 6) * 0.5)
    x = rng.normal(size=6)
    y = np.asarray(jax.jit(jax.vmap(lambda k: xbar.forward(state, x, key=k)))(jax.random.split(getkey(), N_KEYS)))
    gp, gm = (np.asarray(g) for g in xbar.conductances(state))
    sigma_read = device.variability.read_noise
    v = x / np.abs(x).max()  # in units of read_voltage
    std = np.sqrt((v[:, None] ** 2 * sigma_read**2 * (gp**2 + gm**2)).sum(0)) / xbar.g_per_w * np.abs(x).max()
    w = np.asarray(_weights_of(xbar, state))
    np.testing.assert_array_less(np.abs(y.mean(0) - w @ x), 5 * std / np.sqrt(N_KEYS))
    np.testing.assert_array_less(np.abs(y.std(0) - std), 5 * std / np.sqrt(2 * N_KEYS))


def test_grad_through_forward_matches_finite_differences(getkey):
    rng = np.random.default_rng(9)
    xbar = ideal_crossbar(12, 5, max_tile_size=(5, 2))
    w = _weights(rng, 5, 12)
    state = _init(xbar, getkey(), w)
    x, c = rng.normal(size=12), rng.normal(size=5)
    f = jax.jit(jax.value_and_grad(lambda x: jnp.dot(c, xbar.forward(state, x))))
    g = np.asarray(f(x)[1])
    h = 1e-6
    fd = np.array([(f(x + h * e)[0] - f(x - h * e)[0]) / (2 * h) for e in np.eye(12)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g, w.T @ c, rtol=1e-10)
    # through the transposed MVM as well
    b = lambda d: jnp.dot(x, xbar.backward(state, d))  # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(b))(c)), w @ x, rtol=1e-10)


def test_grad_through_quantising_converters_is_straight_through(getkey):
    # fixed input scale (input_scaling="none") and inputs within range: the straight-through
    # gradient of the quantised MVM is the gradient of the exact one
    rng = np.random.default_rng(10)
    xbar = Crossbar(get_preset("ideal"), 12, 5, input_scaling="none", out_bound=20.0, max_tile_size=(5, 2))
    w = _weights(rng, 5, 12)
    state = _init(xbar, getkey(), w)
    x, c = rng.uniform(-0.9, 0.9, size=12), rng.normal(size=5)
    grad = jax.jit(jax.grad(lambda x: jnp.dot(c, xbar.forward(state, x))))
    g = np.asarray(grad(x))
    np.testing.assert_allclose(g, w.T @ c, rtol=1e-10)
    # and zero for a saturated input
    x[3] = 1.5
    g = np.asarray(grad(x))
    assert g[3] == 0.0
    np.testing.assert_allclose(np.delete(g, 3), np.delete(w.T @ c, 3), rtol=1e-10)


# --------------------------------------------------------------------------- energy
@pytest.mark.parametrize("mapping", MAPPINGS)
def test_write_energy(mapping, getkey):
    rng = np.random.default_rng(12)
    xbar = _noisy_crossbar(mapping)
    device = xbar.device
    state = _init(xbar, getkey(), _weights(rng, 4, 6) * 0.5)
    x, d = rng.normal(size=(3, 6)), rng.normal(size=(3, 4))
    _, pulses = _update(xbar, state, x, d, 0.05, getkey(), bit_length=4)
    energy = float(eqx.filter_jit(lambda m, s, p: m.write_energy(s, p))(xbar, state, pulses))
    gs = [np.asarray(g) for g in xbar.conductances(state) if g is not None]
    up, down = np.asarray(pulses.up), np.asarray(pulses.down)
    assert up.shape == (len(gs), 6, 4)
    want = sum(((up[i] + down[i]) * device.pulse_voltage**2 * g * device.pulse_width).sum() for i, g in enumerate(gs))
    assert up.sum() > 0 and energy > 0
    assert energy == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_mvm_energy(transposed, getkey):
    rng = np.random.default_rng(13)
    xbar = _noisy_crossbar()
    nr, nc = xbar.tile_grid
    assert (nr, nc) == (2, 2)
    state = _init(xbar, getkey(), _weights(rng, 4, 6) * 0.5)
    n_in, n_out = (4, 6) if transposed else (6, 4)
    x = rng.normal(size=(5, n_in))
    e = eqx.filter_jit(lambda m, s, x: m.mvm_energy(s, x, transposed=transposed))(xbar, state, x)
    gp, gm = (np.asarray(g) for g in xbar.conductances(state))
    v = np.round(x / np.abs(x).max(-1, keepdims=True) * 63) / 63 * xbar.read_voltage  # 7-bit DAC
    line_g = (gp + gm).sum(0) if transposed else (gp + gm).sum(1)
    assert float(e.device) == pytest.approx(xbar.read_time * (v**2 * line_g).sum(), rel=1e-12)
    drives, reads = (nr, nc) if transposed else (nc, nr)
    assert float(e.dac) == pytest.approx(5 * n_in * drives * 0.5e-15 * 2**7, rel=1e-12)
    assert float(e.adc) == pytest.approx(5 * n_out * reads * 10e-15 * 2**9, rel=1e-12)
    assert float(e.total) == pytest.approx(sum(float(c) for c in e), rel=1e-12)
    assert all(float(c) >= 0 for c in e)


# --------------------------------------------------------------------------- validation
def test_bad_shapes_and_values_name_the_parameter(getkey):
    xbar = Crossbar(get_preset("ideal"), 6, 4)
    state = _init(xbar, getkey())
    with pytest.raises(ValueError, match=r"x must have last dimension 6, got shape \(2, 4\)"):
        xbar.forward(state, np.ones((2, 4)))
    with pytest.raises(ValueError, match="d must have last dimension 4"):
        xbar.backward(state, np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"weights must have shape \(out_features, in_features\) = \(4, 6\)"):
        xbar.init(key=getkey(), weights=np.zeros((6, 4)))
    with pytest.raises(ValueError, match=r"delta_w must have shape \(out_features, in_features\) = \(4, 6\)"):
        xbar.update_programmed(state, np.zeros((6, 4)), key=getkey())
    with pytest.raises(ValueError, match="x and d must have the same batch size, got 2 and 3"):
        xbar.update_coincidence(state, np.ones((2, 6)), np.ones((3, 4)), learning_rate=0.1, key=getkey())
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 6\)"):
        xbar.update_coincidence(state, np.ones((2, 5)), np.ones((2, 4)), learning_rate=0.1, key=getkey())
    with pytest.raises(ValueError, match=r"d must have shape \(batch, 4\)"):
        xbar.update_coincidence(state, np.ones((2, 6)), np.ones((2, 3)), learning_rate=0.1, key=getkey())
    nan_x = np.ones((2, 6))
    nan_x[1, 2] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        xbar.forward(state, nan_x)
    with pytest.raises(ValueError, match="x must be finite"):
        xbar.update_coincidence(state, nan_x, np.ones((2, 4)), learning_rate=0.1, key=getkey())
    with pytest.raises(ValueError, match="d must be finite"):
        xbar.backward(state, np.array([1.0, np.inf, 0.0, 0.0]))
    with pytest.raises(ValueError, match="weights must be finite"):
        xbar.init(key=getkey(), weights=np.full((4, 6), np.nan))
    with pytest.raises(ValueError, match="delta_w must be finite"):
        xbar.update_programmed(state, np.full((4, 6), np.nan), key=getkey())
    with pytest.raises(ValueError, match="learning_rate must be non-negative"):
        xbar.update_coincidence(state, np.ones(6), np.ones(4), learning_rate=-0.1, key=getkey())
    with pytest.raises(ValueError, match="bit_length must be >= 1"):
        xbar.update_coincidence(state, np.ones(6), np.ones(4), learning_rate=0.1, key=getkey(), bit_length=0)
    with pytest.raises(ValueError, match="batch_mode"):
        xbar.update_coincidence(state, np.ones(6), np.ones(4), learning_rate=0.1, key=getkey(), batch_mode="x")
    with pytest.raises(ValueError, match="duration must be non-negative"):
        xbar.evolve(state, -1.0)


def test_bad_configuration_names_the_parameter():
    device = get_preset("ideal")
    with pytest.raises(ValueError, match="mapping must be one of 'differential', 'reference'"):
        Crossbar(device, 4, 4, mapping="offset")
    with pytest.raises(ValueError, match="w_max must be positive"):
        Crossbar(device, 4, 4, w_max=0.0)
    with pytest.raises(ValueError, match="in_features must be >= 1"):
        Crossbar(device, 0, 4)
    with pytest.raises(ValueError, match=r"max_tile_size\[1\] must be >= 1"):
        Crossbar(device, 4, 4, max_tile_size=(4, 0))
    with pytest.raises(ValueError, match="input_scaling"):
        Crossbar(device, 4, 4, input_scaling="rms")
    with pytest.raises(TypeError, match="device must be a synaptax device model"):
        Crossbar("ideal", 4, 4)
    with pytest.raises(ValueError, match="read_voltage must be positive"):
        Crossbar(device, 4, 4, read_voltage=-0.2)


def test_noise_needs_a_key(getkey):
    xbar = _noisy_crossbar()
    state = _init(xbar, getkey())
    x = np.ones((3, 6))
    with pytest.raises(ValueError, match="key is required"):
        xbar.forward(state, x)
    with pytest.raises(ValueError, match="key is required"):
        Crossbar(get_preset("ideal"), 6, 4, adc=ADC(noise=0.01)).forward(state, x)
    # noise changes the output from key to key
    y1, y2 = (np.asarray(_forward(xbar, state, x, getkey())) for _ in range(2))
    assert not np.array_equal(y1, y2)
