"""Iterative bound management of the tile's MVMs (``bound_management="iterative"``, aihwkit's
``BoundManagementType.ITERATIVE``): samples that saturate the ADC are re-read with their
input halved until they fit or the iteration limit is reached."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.circuits.converters import ADC, DAC, ideal_adc, ideal_dac
from synaptax.devices import get_preset

ADC_LEVELS = 2**8 - 1  # the default 9-bit ADC: 255 levels per sign
DAC_STEP = 1 / (2**6 - 1)  # the default 7-bit DAC: step 1/63 of the normalised range

_forward_read = eqx.filter_jit(lambda xb, read, x, key=None: xb.forward_read(read, x, key=key))
_backward_read = eqx.filter_jit(lambda xb, read, d, key=None: xb.backward_read(read, d, key=key))


def _pair(n_in, n_out, weights, *, key, device="ideal", **kw):
    """The same crossbar and state without and with bound management."""
    plain = Crossbar(get_preset(device), n_in, n_out, **kw)
    managed = Crossbar(get_preset(device), n_in, n_out, bound_management="iterative", **kw)
    return plain, managed, plain.init(key=key, weights=weights)


def _factor(exact, out_bound):
    """Smallest power of two that brings every |output| of a sample below the full scale."""
    need = np.max(np.abs(exact), axis=-1, keepdims=True) / out_bound
    return 2.0 ** np.maximum(0, np.floor(np.log2(np.maximum(need, 1e-3))) + 1)


def _saturating_weights():
    w = np.full((4, 32), 0.9)  # Σ|w| = 28.8 at full input: needs f = 4 under out_bound = 12
    w[1] *= 0.3                 # 8.64: fits
    w[2] *= -1                  # −28.8
    w[3] = 0.5                  # 16: needs f = 2
    return w


# --------------------------------------------------------------------------- (1) saturation
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("dac", ["7-bit", "ideal"])
def test_saturating_input_recovered(getkey, transposed, dac):
    w = _saturating_weights()                     # (out, in) = (4, 32)
    if transposed:                                # Wᵀ d: a (4 in, 32 out) crossbar holding wᵀ
        w = w.T
    n_out, n_in = w.shape
    converter = DAC() if dac == "7-bit" else ideal_dac()
    plain, managed, state = _pair(n_in, n_out, w, key=getkey(), dac=converter)
    x = np.ones((2, 32))
    x[1, ::2] = -1.0
    x[1, 1::4] = 0.5
    if transposed:
        run = lambda xb: _backward_read(xb, xb.read(state), x)  # noqa: E731
        exact = x @ w
    else:
        run = lambda xb: _forward_read(xb, xb.read(state), x)  # noqa: E731
        exact = x @ w.T
    y_plain, y_bm = (np.asarray(run(xb)[0]) for xb in (plain, managed))
    # without bound management the saturated outputs are clipped at ±out_bound (×scale = 1)
    clipped = np.abs(exact) > 12
    assert clipped.any()
    np.testing.assert_allclose(np.abs(y_plain[clipped]), 12.0, rtol=1e-6)
    # with it every output is W x within the converters' resolution at the factor used
    f = _factor(exact, 12.0)
    assert f.max() >= 4
    res = (0.5 * DAC_STEP * np.abs(x) @ np.abs(w if transposed else w.T) if dac == "7-bit" else 0.0)
    tol = f * (res + 0.5 * 12.0 / ADC_LEVELS) + 1e-5
    assert np.all(np.abs(y_bm - exact) <= tol), (y_bm, exact, tol)
    assert np.abs(y_bm - exact).max() < 0.05 * np.abs(exact).max()


# --------------------------------------------------------------------------- (2) bit-identical
def test_no_saturation_bit_identical(getkey):
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.3, 0.3, size=(5, 32))  # |W x̂| ≤ 9.6 < out_bound = 12: never saturates
    adc = ADC(noise=0.01)
    plain, managed, state = _pair(32, 5, w, key=getkey(), device="reram-sb", adc=adc)
    x = rng.normal(size=(6, 32))
    d = rng.normal(size=(6, 5)) * 0.1
    key = getkey()
    for run, inp in ((_forward_read, x), (_backward_read, d)):
        (y0, e0), (y1, e1) = (run(xb, xb.read(state), inp, key) for xb in (plain, managed))
        np.testing.assert_array_equal(np.asarray(y1), np.asarray(y0))
        for a, b in zip(e1, e0):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    jaxpr = str(jax.make_jaxpr(lambda x: managed.forward_read(managed.read(state), x, key=key)[0])(x))
    assert "cond" in jaxpr
    jaxpr = str(jax.make_jaxpr(lambda x: plain.forward_read(plain.read(state), x, key=key)[0])(x))
    assert "cond" not in jaxpr


# --------------------------------------------------------------------------- (3) per sample
def test_only_saturated_samples_rerun_and_energy(getkey):
    w = np.full((2, 32), 0.9)
    w[1] *= 0.5
    plain, managed, state = _pair(32, 2, w, key=getkey())
    x = np.zeros((4, 32))
    x[0] = np.where(np.arange(32) % 2, 1.0, -1.0)        # W x = 0: fits
    x[1, :16], x[1, 16:] = 1.0, 0.1                       # 15.84: re-read once (f = 2)
    x[2] = 1.0                                            # 28.8: re-read twice (f = 4)
    x[3] = np.linspace(-1, 1, 32)                         # fits
    read = plain.read(state)
    (y0, e0), (y1, e1) = (_forward_read(xb, read, x) for xb in (plain, managed))
    y0, y1 = np.asarray(y0), np.asarray(y1)
    np.testing.assert_array_equal(y1[[0, 3]], y0[[0, 3]])
    assert np.all(y1[[1, 2], 0] != y0[[1, 2], 0])
    np.testing.assert_allclose(y1, x @ w.T, atol=4 * (0.5 * DAC_STEP * 28.8 + 0.5 * 12 / ADC_LEVELS))
    # converters: 2 samples in the first re-read, 1 in the second, none in the third
    tile = managed.tile
    assert tile.bound_management_rounds == 3
    rereads = 3
    np.testing.assert_allclose(e0.dac, 4 * 32 * tile.dac.energy, rtol=1e-12)
    np.testing.assert_allclose(e1.dac, (4 + rereads) * 32 * tile.dac.energy, rtol=1e-12)
    np.testing.assert_allclose(e1.adc, (4 + rereads) * 2 * tile.adc.energy, rtol=1e-12)
    np.testing.assert_allclose(e1.dac - e0.dac, rereads * 32 * tile.dac.energy, rtol=1e-9)
    np.testing.assert_allclose(e1.adc - e0.adc, rereads * 2 * tile.adc.energy, rtol=1e-9)
    # cells: read_time · Σ V² Σ_j(G_a + G_b) of each re-read sample at its reduced input
    volts = lambda xs, f: np.asarray(tile.dac(xs / f)) * tile.read_voltage  # noqa: E731
    v = np.stack([volts(x[1], 2), volts(x[2], 2), volts(x[2], 4)])
    extra = tile.read_time * np.sum(v**2 * np.asarray(read.row_load))
    np.testing.assert_allclose(e1.device - e0.device, extra, rtol=1e-9)
    assert float(e1.wire) == 0.0


# --------------------------------------------------------------------------- (4) the limit
def test_iteration_limit():
    dev = get_preset("ideal")

    def rounds(**kw):
        return Crossbar(dev, 4, 4, bound_management="iterative", **kw).tile.bound_management_rounds

    assert rounds() == 3                                   # 2³/63 ≤ 0.25 < 2⁴/63
    assert rounds(max_bm_res=1.0) == 5                     # 2⁵/63 ≤ 1 < 2⁶/63
    assert rounds(max_bm_res=0.07) == 2
    assert rounds(dac=ideal_dac()) == 9                    # 2⁹ ≤ 1000 < 2¹⁰
    assert rounds(dac=ideal_dac(), max_bm_factor=4) == 2
    assert rounds(dac=ideal_dac(), max_bm_factor=1.5) == 0
    assert rounds(adc=ideal_adc()) == 0                    # the ADC does not saturate: a no-op
    assert Crossbar(dev, 4, 4).tile.bound_management_rounds == 0


@pytest.mark.parametrize("kw, f_last", [
    (dict(dac=ideal_dac(), max_bm_factor=4.0), 4),
    (dict(dac=ideal_dac(), max_bm_factor=8.0), 8),
    (dict(dac=ideal_dac()), 16),                           # fits at f = 16
    (dict(max_bm_res=0.07), 4),                            # 7-bit DAC: 2 rounds
    (dict(), 8),                                           # 7-bit DAC, default: 3 rounds
])
def test_iteration_limit_in_outputs(getkey, kw, f_last):
    w = np.full((1, 128), 0.9)                             # Σ|w| = 115.2: needs f = 16
    xb = Crossbar(get_preset("ideal"), 128, 1, bound_management="iterative", **kw)
    state = xb.init(key=getkey(), weights=w)
    y = float(_forward_read(xb, xb.read(state), np.ones(128))[0][0])
    if f_last < 16:   # still saturated at the last factor: the clipped output of that read
        assert y == pytest.approx(12.0 * f_last, rel=1e-6)
    else:
        assert y == pytest.approx(115.2, abs=16 * 0.5 * 12 / ADC_LEVELS + 1e-4)


# --------------------------------------------------------------------------- (5) transformations
def test_jit_vmap_grad(getkey):
    w = _saturating_weights()
    plain, managed, state = _pair(32, 4, w, key=getkey(), device="reram-sb", adc=ADC(noise=0.002))
    x = jnp.asarray(np.ones((3, 32), np.float32))
    x = x.at[1].multiply(0.1 * jnp.sign(jnp.arange(32) - 15.5))
    key = getkey()
    fwd = lambda xb, x, key: xb.forward(state, x, key=key)  # noqa: E731
    eager = managed.forward(state, x, key=key)
    fwd = eqx.filter_jit(fwd)
    jitted = fwd(managed, x, key)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, atol=1e-5)
    held = np.asarray(managed.weights(state))   # the cells vary device to device
    np.testing.assert_allclose(np.asarray(eager), np.asarray(x) @ held.T, atol=1.0)
    keys = jax.random.split(getkey(), 3)
    batched = jax.vmap(lambda k: fwd(managed, x, k))(keys)
    assert batched.shape == (3, 3, 4)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(fwd(managed, x, keys[i])),
                                   rtol=1e-6, atol=1e-5)
    grad = jax.jit(jax.grad(lambda x: jnp.sum(managed.forward(state, x, key=key))))(x)
    assert grad.shape == x.shape and bool(jnp.all(jnp.isfinite(grad)))
    # the gradient of the managed read still follows W (the plain one is zero where clipped)
    np.testing.assert_allclose(np.asarray(grad[0]), held.sum(axis=0), rtol=0.1, atol=0.1)


# --------------------------------------------------------------------------- (6) IR drop
@pytest.mark.parametrize("transposed", [False, True])
def test_ir_drop(getkey, transposed):
    w = np.full((6, 8), 0.9)   # Σ|w| over a row 7.2, over a column 4.15, out_bound = 2: f = 4
    w[1] *= 0.5
    w[2] = 0.1
    kw = dict(out_bound=2.0, bound_management="iterative", max_bm_factor=4)
    ideal = Crossbar(get_preset("ideal"), 8, 6, **kw)
    wired = Crossbar(get_preset("ideal"), 8, 6, ir_drop=True, **kw)
    assert wired.tile.bound_management_rounds == 2
    state = ideal.init(key=getkey(), weights=w)
    x = np.ones((3, 6 if transposed else 8))
    x[1] = np.linspace(-1, 1, x.shape[1])
    x[2, 3:] = -1
    run = _backward_read if transposed else _forward_read
    y_w, e_w = run(wired, wired.read(state, batch=3), x)
    y_i, e_i = run(ideal, ideal.read(state), x)
    exact = x @ w if transposed else x @ w.T
    assert np.abs(exact).max() > 4.0   # saturates the ADC at f = 1 and f = 2
    # IR drop of 1 Ω wires against µS cells is far below one ADC step at f = 4
    np.testing.assert_allclose(np.asarray(y_w), np.asarray(y_i), atol=4 * 2.0 / ADC_LEVELS)
    np.testing.assert_allclose(np.asarray(y_w), exact, atol=4 * (0.5 * DAC_STEP * 7.2 + 0.5 * 2.0 / ADC_LEVELS))
    # the re-reads' energy: cells as with ideal wires (to IR-drop accuracy), wires > 0, the
    # same conversions
    np.testing.assert_allclose(float(e_w.device), float(e_i.device), rtol=1e-3)
    assert float(e_w.wire) > 0
    np.testing.assert_allclose([float(e_w.dac), float(e_w.adc)], [float(e_i.dac), float(e_i.adc)], rtol=1e-12)


# --------------------------------------------------------------------------- (7) validation
@pytest.mark.parametrize("kw, name", [
    (dict(bound_management="foo"), "bound_management"),
    (dict(bound_management="iterative", max_bm_factor=1.0), "max_bm_factor"),
    (dict(max_bm_factor=0.5), "max_bm_factor"),
    (dict(max_bm_factor=float("inf")), "max_bm_factor"),
    (dict(max_bm_res=0.0), "max_bm_res"),
    (dict(max_bm_res=-0.1), "max_bm_res"),
])
def test_bad_values(kw, name):
    with pytest.raises(ValueError, match=name):
        Crossbar(get_preset("ideal"), 4, 3, **kw)


def test_settings_exposed():
    xb = Crossbar(get_preset("ideal"), 4, 3, bound_management="iterative", max_bm_factor=64, max_bm_res=0.5)
    assert (xb.bound_management, xb.max_bm_factor, xb.max_bm_res) == ("iterative", 64.0, 0.5)
    xb = Crossbar(get_preset("ideal"), 4, 3)
    assert (xb.bound_management, xb.max_bm_factor, xb.max_bm_res) == ("none", 1000.0, 0.25)
