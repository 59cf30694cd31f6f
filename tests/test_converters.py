"""Tests of the DAC/ADC converters (synaptax.circuits.converters): quantisation, the
stated straight-through gradients, the abstract interface and transformations."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.circuits.converters import (
    ADC,
    DAC,
    AbstractADC,
    AbstractDAC,
    UniformADC,
    UniformDAC,
    ideal_adc,
    ideal_dac,
    quantize,
)

GRID = np.linspace(-1.0, 1.0, 20001)


@pytest.mark.parametrize("bits", [2, 3, 5, 7, 9])
def test_quantisation_levels(bits):
    levels = 2 ** (bits - 1) - 1
    q = np.asarray(quantize(GRID, bits))
    values = np.unique(q)
    # levels per sign, plus zero
    assert (values > 0).sum() == levels and (values < 0).sum() == levels and 0.0 in values
    np.testing.assert_allclose(values, np.arange(-levels, levels + 1) / levels, rtol=0, atol=1e-15)
    # round to the nearest level
    np.testing.assert_allclose(q, np.round(GRID * levels) / levels, rtol=0, atol=1e-15)
    assert np.abs(q - GRID).max() <= 0.5 / levels + 1e-15


@pytest.mark.parametrize("bits", [4, None])
def test_saturation(bits):
    x = np.array([-7.0, -1.5, -1.0, 1.0, 1.0001, 3.0])
    np.testing.assert_array_equal(np.asarray(quantize(x, bits)), [-1, -1, -1, 1, 1, 1])
    # within range, bits=None passes values through
    if bits is None:
        np.testing.assert_array_equal(np.asarray(quantize(GRID, None)), GRID)


@pytest.mark.parametrize("bits", [3, 7, None])
def test_straight_through_gradient(bits):
    x = jnp.array([-2.0, -0.999, -0.3, 0.0, 0.123, 0.7, 1.5])
    g = np.asarray(jax.grad(lambda x: jnp.sum(quantize(x, bits) * jnp.arange(1.0, 8.0)))(x))
    # derivative 1 inside the range (times the weights), 0 where the converter saturates
    np.testing.assert_array_equal(g, np.array([0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]))


def test_quantise_keeps_dtype_and_jit_equals_eager():
    x32 = jnp.asarray(GRID[::7], dtype=jnp.float32)
    assert quantize(x32, 6).dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(jax.jit(quantize, static_argnums=1)(x32, 6)), np.asarray(quantize(x32, 6)))


def test_dac():
    dac = DAC(bits=5)
    np.testing.assert_array_equal(np.asarray(dac(GRID)), np.asarray(quantize(GRID, 5)))
    assert DAC().bits == 7
    assert DAC(bits=5).energy == pytest.approx(0.5e-15 * 2**5)
    assert DAC(bits=5, energy_per_conversion=2e-15).energy == 2e-15
    np.testing.assert_array_equal(np.asarray(ideal_dac()(np.array([-3.0, 0.25, 0.5]))), [-1.0, 0.25, 0.5])


def test_adc_quantises_and_saturates_at_full_scale():
    fs = 3e-6
    adc = ADC(bits=4)
    assert ADC().bits == 9
    currents = np.array([-1e-5, -fs, -1.1e-6, 0.0, 0.2e-6, 2.9e-6, fs, 4e-6])
    out = np.asarray(adc(currents, fs))
    want = np.round(np.clip(currents / fs, -1, 1) * 7) / 7 * fs
    np.testing.assert_allclose(out, want, rtol=1e-15, atol=0)
    assert np.abs(out).max() == pytest.approx(fs)
    # an ideal converter with saturation only clips; ideal_adc passes everything through
    np.testing.assert_allclose(np.asarray(ADC(bits=None)(currents, fs)), np.clip(currents, -fs, fs), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(ideal_adc()(currents, fs)), currents, rtol=1e-15)
    assert ADC(bits=9).energy == pytest.approx(10e-15 * 2**9)


def test_adc_noise_needs_key_and_has_the_stated_spread(getkey):
    fs = 2e-6
    noisy = ADC(bits=None, saturate=False, noise=0.05)
    with pytest.raises(ValueError, match="key is required"):
        noisy(np.zeros(4), fs)
    out = np.asarray(noisy(np.full(40000, 0.5e-6), fs, key=getkey()))
    m = out.size
    # additive Gaussian noise, std noise·full_scale
    assert abs(out.mean() - 0.5e-6) < 5 * 0.05 * fs / np.sqrt(m)
    assert abs(out.std() - 0.05 * fs) < 5 * 0.05 * fs / np.sqrt(2 * m)
    # another key, other noise
    a, b = (np.asarray(noisy(np.zeros(8), fs, key=getkey())) for _ in range(2))
    assert not np.array_equal(a, b)


def test_bits_and_parameters_are_validated():
    with pytest.raises(ValueError, match="dac bits must be >= 2"):
        DAC(bits=1)
    with pytest.raises(ValueError, match="adc bits must be >= 2"):
        ADC(bits=0)
    with pytest.raises(TypeError, match="dac bits must be an integer"):
        DAC(bits=4.5)
    with pytest.raises(TypeError, match="adc bits must be an integer"):
        ADC(bits=True)
    with pytest.raises(ValueError, match="adc full_scale must be positive"):
        ADC(full_scale=0.0)
    with pytest.raises(ValueError, match="adc noise must be non-negative"):
        ADC(noise=-0.1)
    with pytest.raises(ValueError, match="dac energy_per_conversion must be non-negative"):
        DAC(energy_per_conversion=-1e-15)
    with pytest.raises(ValueError, match="adc energy_per_conversion must be non-negative"):
        ADC(energy_per_conversion=float("nan"))


# --------------------------------------------------------------------------- the stated gradient
def _step_points(bits):
    """Points inside the range (including both sides of two rounding steps), outside it,
    and exactly on its ends; returns (points, expected STE gradient)."""
    levels = 2 ** (bits - 1) - 1
    steps = np.array([0.5, levels - 0.5]) / levels  # rounding steps k + 1/2 (normalised)
    eps = 1e-9
    inside = np.concatenate([[-0.999, -0.3, 0.0, 0.123, 0.7, 0.999],
                             steps - eps, steps + eps, -steps - eps, -steps + eps])
    outside = np.array([-7.0, -1.5, -1.0 - 1e-9, 1.0 + 1e-9, 1.5, 3.0])
    x = np.concatenate([inside, outside, [-1.0, 1.0]])
    want = np.concatenate([np.ones(inside.size), np.zeros(outside.size), [1.0, 1.0]])
    return x, want


def _grads(*fs):
    """Jitted elementwise derivatives of the scalar functions ``fs`` at the points ``x``."""
    return jax.jit(lambda x: jnp.stack([jax.vmap(jax.grad(f))(x) for f in fs]))


@pytest.mark.parametrize("bits", [2, 7])
def test_ste_gradient_of_quantize_and_dac(bits):
    x, want = _step_points(bits)
    levels = 2 ** (bits - 1) - 1
    # the chosen step points are real steps of the staircase: the level changes across them
    q = np.asarray(quantize(x, bits))
    np.testing.assert_allclose(q[8:10] - q[6:8], 1.0 / levels, rtol=1e-12)
    g = np.asarray(_grads(lambda x: quantize(x, bits), DAC(bits=bits), UniformDAC(bits=bits))(x))
    # 1 inside (on both sides of a step) and at ±1, 0 saturated
    np.testing.assert_array_equal(g, np.broadcast_to(want, g.shape))


@pytest.mark.parametrize("bits", [3, None])
def test_ste_gradient_of_adc_wrt_current(bits):
    fs = 3e-6
    x, want = _step_points(bits or 4)
    x, want = x[:-2], want[:-2]  # the ends: x·fs/fs need not round back to ±1
    adc = ADC(bits=bits)
    c = np.arange(1.0, x.size + 1.0)

    @jax.jit
    def grads(i):
        # elementwise, and as one gradient of a weighted sum (a diagonal Jacobian)
        return jax.vmap(jax.grad(lambda i: adc(i, fs)))(i), jax.grad(lambda i: jnp.dot(c, adc(i, fs)))(i)

    g, gc = (np.asarray(v) for v in grads(x * fs))
    # A per A: 1 inside ±full_scale (to rounding: the factor full_scale·(1/full_scale)), 0 where
    # saturated
    np.testing.assert_allclose(g, want, rtol=2e-16, atol=0)
    np.testing.assert_allclose(gc, c * want, rtol=2e-16, atol=0)


def test_adc_noise_adds_no_gradient_wrt_current(getkey):
    fs, key = 2e-6, getkey()
    noisy = ADC(bits=5, noise=0.01)
    u = np.array([-3.0, -1.3, -0.9, -0.4, 0.0, 0.25, 0.8, 1.25, 4.0])
    g = np.asarray(jax.jit(jax.grad(lambda i: jnp.sum(noisy(i, fs, key=key))))(u * fs))
    np.testing.assert_allclose(g, (np.abs(u) < 1).astype(float), rtol=2e-16, atol=0)


def _q_ref(u, bits):
    u = np.clip(u, -1.0, 1.0)
    if bits is None:
        return u
    levels = 2.0 ** (bits - 1) - 1.0
    return np.round(u * levels) / levels


@pytest.mark.parametrize("bits", [3, None])
def test_adc_gradient_wrt_full_scale_is_the_stated_formula(bits):
    fs, h = 3e-6, 3e-12
    rng = np.random.default_rng(3)
    u0 = np.concatenate([rng.uniform(-0.98, 0.98, 40), [-2.5, -1.2, 1.1, 3.0]])
    current = u0 * fs
    inside = np.abs(u0) < 1
    adc = ADC(bits=bits)

    @jax.jit
    def run(fs, current):
        g = jax.vmap(jax.grad(lambda f, i: adc(i, f)), in_axes=(None, 0))(fs, current)
        fd = (adc(current, fs + h) - adc(current, fs - h)) / (2 * h)
        # a full scale shared by the whole vector gets the sum
        return g, fd, jax.grad(lambda f: jnp.sum(adc(current, f)))(fs)

    g, fd, gs = (np.asarray(v) for v in run(fs, current))
    # stated: d out/d full_scale = quantize(u) − 1[|u| < 1]·current/full_scale
    want = _q_ref(u0, bits) - inside * current / fs
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-15)
    assert float(gs) == pytest.approx(want.sum(), rel=1e-12, abs=1e-14)
    # where saturated it is ±1, the true derivative of the clipped output ±full_scale
    np.testing.assert_array_equal(g[~inside], np.sign(u0[~inside]))
    # against central differences where the formula is the true derivative: saturated points,
    # and inside the range for the ideal clipping converter (derivative 0)
    np.testing.assert_allclose(g[~inside], fd[~inside], rtol=1e-8)
    if bits is None:
        np.testing.assert_allclose(fd[inside], 0.0, atol=1e-8)
        np.testing.assert_allclose(g[inside], 0.0, atol=1e-15)  # zero up to rounding
    else:
        # inside, the staircase's own derivative (away from the steps) is quantize(u), not
        # the STE gradient quantize(u) − u: the STE is not the derivative of the staircase
        np.testing.assert_allclose(fd[inside], _q_ref(u0, bits)[inside], rtol=1e-6, atol=1e-9)
        assert np.abs(g[inside] - fd[inside]).max() > 0.5


@pytest.mark.parametrize("bits, saturate", [(4, True), (None, False)])
def test_adc_gradient_wrt_full_scale_with_noise(bits, saturate, getkey):
    fs, sigma, key = 2e-6, 0.05, getkey()
    current = np.linspace(-1.6, 1.6, 33) * fs
    adc = ADC(bits=bits, saturate=saturate, noise=sigma)
    unit = ADC(bits=None, saturate=False, noise=1.0)

    @jax.jit
    def run(fs, current):
        # the noise sample z (same key and shape): an ideal unsaturated noisy ADC at zero current
        z = unit(jnp.zeros_like(current), fs, key=key) / fs
        return jax.jacrev(lambda f: adc(current, f, key=key))(fs), z

    g, z = (np.asarray(v) for v in run(fs, current))
    u = current / fs + sigma * z
    if saturate:
        want = _q_ref(u, bits) - (np.abs(u) < 1) * current / fs
        assert (np.abs(u) > 1).any() and (np.abs(u) < 1).any()
    else:
        want = sigma * z
    np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- forward values
def _old_quantize(x, bits):
    """The quantiser's formula before the subpackage, written out op by op in jax.numpy (the
    same primitives, so the same floating-point results: XLA turns a division by a scalar
    into a multiplication by its reciprocal, so a numpy reference agrees only to an ulp)."""
    x = jnp.asarray(x)
    clipped = jnp.clip(x, -1.0, 1.0)
    if bits is None:
        return clipped
    levels = 2.0 ** (bits - 1) - 1.0
    rounded = jnp.round(clipped * levels) / levels
    return clipped + (rounded - clipped)


def _old_adc(current, fs, bits, saturate=True):
    u = jnp.asarray(current) / fs
    if bits is None and not saturate:
        return u * fs
    return _old_quantize(u, bits) * fs


@pytest.mark.parametrize("bits", [3, 12, None])
def test_forward_values_are_bit_exact(bits):
    x = np.concatenate([GRID[::3], [-5.0, -1.0001, 1.0001, 5.0]])
    want = np.asarray(_old_quantize(x, bits))
    np.testing.assert_array_equal(np.asarray(quantize(x, bits)), want)
    np.testing.assert_array_equal(np.asarray(DAC(bits=bits)(x)), want)
    # and to within an ulp of the formula in numpy
    levels = 2.0 ** ((bits or 2) - 1) - 1.0
    ref = np.clip(x, -1, 1) if bits is None else np.round(np.clip(x, -1, 1) * levels) / levels
    np.testing.assert_allclose(want, ref, rtol=0, atol=2e-16)
    fs, cur = 3e-6, x * 1.7e-6
    for saturate in (True, False):
        adc = ADC(bits=bits, saturate=saturate)
        np.testing.assert_array_equal(np.asarray(adc(cur, fs)), np.asarray(_old_adc(cur, fs, bits, saturate)))
    x32 = jnp.asarray(x, dtype=jnp.float32)
    np.testing.assert_array_equal(np.asarray(quantize(x32, bits)), np.asarray(_old_quantize(x32, bits)))


def test_ideal_converters_have_unit_gradient():
    x = GRID[1:-1:37]
    np.testing.assert_array_equal(np.asarray(_grads(ideal_dac())(x)), 1.0)
    cur = np.concatenate([x, [-1e3, -5.0, 5.0, 1e3]]) * 1e-6
    adc = ideal_adc()
    g = _grads(lambda i: adc(i, 1e-6), lambda i: adc(i, 3e-7))(cur)
    np.testing.assert_array_equal(np.asarray(g), 1.0)
    np.testing.assert_allclose(np.asarray(adc(cur, 3e-7)), cur, rtol=1e-15)


# --------------------------------------------------------------------------- the interface
def test_incomplete_converters_cannot_be_instantiated():
    class NoCallDAC(AbstractDAC):
        bits: int | None = None

        @property
        def energy(self):
            return 0.0

    class NoEnergyADC(AbstractADC):
        bits: int | None = None
        full_scale: float | None = None

        def __call__(self, current, full_scale, *, key=None):
            return current

    class NoCallADC(AbstractADC):
        bits: int | None = None
        full_scale: float | None = None

        @property
        def energy(self):
            return 0.0

    class NoBitsDAC(AbstractDAC):
        @property
        def energy(self):
            return 0.0

        def __call__(self, x):
            return x

    for cls in (NoCallDAC, NoEnergyADC, NoCallADC, NoBitsDAC, AbstractDAC, AbstractADC):
        with pytest.raises(TypeError):
            cls()
    assert isinstance(DAC(), AbstractDAC) and isinstance(ADC(), AbstractADC)
    assert DAC is UniformDAC and ADC is UniformADC


class SignDAC(AbstractDAC):
    """A 1-bit-per-sign driver: applies sign(x) ∈ {−1, 0, +1}; straight-through gradient."""

    bits: int | None = eqx.field(default=2, static=True)
    energy_per_conversion: float = 0.1e-15

    @property
    def energy(self):
        return self.energy_per_conversion

    def __call__(self, x):
        clipped = jnp.clip(jnp.asarray(x), -1.0, 1.0)
        return clipped + jax.lax.stop_gradient(jnp.sign(clipped) - clipped)


class ClipADC(AbstractADC):
    """An ideal clipping ADC with a flat energy, written against the interface only."""

    bits: int | None = None
    full_scale: float | None = None

    @property
    def energy(self):
        return 1e-15

    def __call__(self, current, full_scale, *, key=None):
        return jnp.clip(jnp.asarray(current), -full_scale, full_scale)


def test_custom_converters_work_where_the_interface_is_expected():
    dac, adc = SignDAC(), ClipADC()
    x = np.array([[-0.7, 0.0, 0.2, 3.0], [0.5, -0.1, -2.0, 0.0]])
    # as a tile calls them: the driver level, the converted currents, the energies
    scale = np.abs(x).max(axis=-1, keepdims=True)
    drive = np.asarray(dac(x / scale))
    np.testing.assert_array_equal(drive, np.sign(x))
    np.testing.assert_array_equal(np.asarray(adc(x * 1e-6, 1e-6)), np.clip(x, -1, 1) * 1e-6)
    assert dac.energy * x.size == pytest.approx(0.8e-15) and adc.energy == 1e-15
    assert adc.full_scale is None and dac.bits == 2
    g = np.asarray(jax.vmap(jax.grad(dac))(jnp.array([-2.0, -0.3, 0.4, 1.5])))
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 0.0])
    # in a crossbar tile, in place of the uniform converters
    from synaptax.arrays import Crossbar
    from synaptax.devices import get_preset

    w = np.random.default_rng(4).uniform(-0.9, 0.9, size=(3, 4))
    xbar = Crossbar(get_preset("ideal"), 4, 3, dac=dac, adc=adc, input_scaling="none", out_bound=10.0)

    @eqx.filter_jit
    def run(xbar, x):
        state = xbar.init(key=jax.random.key(0), weights=w)
        return xbar.forward(state, x), xbar.mvm_energy(state, x)

    y, energy = run(xbar, x)
    np.testing.assert_allclose(np.asarray(y), np.sign(x) @ w.T, rtol=1e-10, atol=1e-12)
    assert float(energy.dac) == pytest.approx(2 * 4 * dac.energy)
    assert float(energy.adc) == pytest.approx(2 * 3 * adc.energy)


# --------------------------------------------------------------------------- transformations
def test_dac_jit_equals_eager_and_vmap_equals_loop():
    dac = DAC(bits=5)
    x = jnp.asarray(np.random.default_rng(5).uniform(-1.3, 1.3, size=(3, 7)))
    eager = np.asarray(dac(x))
    np.testing.assert_array_equal(np.asarray(eqx.filter_jit(lambda d, x: d(x))(dac, x)), eager)
    np.testing.assert_array_equal(np.asarray(jax.vmap(dac)(x)), np.stack([np.asarray(dac(r)) for r in x]))


def test_noisy_adc_jit_equals_eager_and_vmap_equals_loop(getkey):
    fs = 2e-6
    adc = ADC(bits=6, noise=0.03)
    cur = jnp.asarray(np.random.default_rng(6).uniform(-2.5e-6, 2.5e-6, size=(3, 9)))
    keys = jax.random.split(getkey(), 3)
    call = lambda a, c, k: a(c, fs, key=k)  # noqa: E731
    eager = np.stack([np.asarray(adc(c, fs, key=k)) for c, k in zip(cur, keys)])
    jitted = np.stack([np.asarray(eqx.filter_jit(call)(adc, c, k)) for c, k in zip(cur, keys)])
    np.testing.assert_allclose(jitted, eager, rtol=1e-15, atol=0)
    vmapped = np.asarray(eqx.filter_jit(jax.vmap(call, in_axes=(None, 0, 0)))(adc, cur, keys))
    np.testing.assert_allclose(vmapped, eager, rtol=1e-15, atol=0)
    # the noise is there: another key, another result
    assert not np.array_equal(np.asarray(adc(cur[0], fs, key=keys[1])), eager[0])
