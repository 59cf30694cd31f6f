"""Tests of the DAC/ADC converters (synaptax.circuits.converters)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.circuits.converters import ADC, DAC, ideal_adc, ideal_dac, quantize

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
