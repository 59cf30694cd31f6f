"""The counter-hash random numbers used for per-cell noise."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax import _random as fast_random


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("name", ["normal", "box_muller_normal"])
def test_normal_is_finite_and_standard(dtype, name):
    draw = getattr(fast_random, name)
    z = np.concatenate([np.asarray(draw(jax.random.key(i), (1_000_000,), dtype)) for i in range(4)])
    n = z.size
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs((z**4).mean() - 3) < 5 * np.sqrt(96 / n)
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / np.sqrt(n)


def test_uniform_range_moments_and_key_dependence():
    u = np.asarray(fast_random.uniform(jax.random.key(0), (1_000_000,), jnp.float32))
    v = np.asarray(fast_random.uniform(jax.random.key(1), (1_000_000,), jnp.float32))
    n = u.size
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * 0.0745 / np.sqrt(n)
    assert abs(np.corrcoef(u, v)[0, 1]) < 5 / np.sqrt(n)
    np.testing.assert_array_equal(u, np.asarray(fast_random.uniform(jax.random.key(0), (1_000_000,), jnp.float32)))


@pytest.mark.parametrize("name", ["normal", "box_muller_normal"])
def test_jit_and_vmap_match_eager(name):
    draw = getattr(fast_random, name)
    keys = jax.random.split(jax.random.key(3), 4)
    eager = np.stack([np.asarray(draw(k, (5, 7))) for k in keys])
    np.testing.assert_array_equal(np.asarray(jax.vmap(lambda k: draw(k, (5, 7)))(keys)), eager)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: draw(k, (5, 7)))(keys[0])), eager[0])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_box_muller_distribution_and_pairs(dtype):
    # Kolmogorov–Smirnov against the standard normal, tail mass, and independence of the
    # two halves (the cosine and sine of one Box–Muller pair), odd sizes included
    from scipy import stats

    z = np.asarray(fast_random.box_muller_normal(jax.random.key(9), (1_000_001,), dtype))
    n = z.size
    assert stats.kstest(z, "norm").pvalue > 1e-4
    tail = np.mean(np.abs(z) > 3.0)
    p3 = 2 * stats.norm.sf(3.0)
    assert abs(tail - p3) < 5 * np.sqrt(p3 / n)
    half = (n + 1) // 2
    a, b = z[: n - half], z[half:]
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(a.size)
    assert abs(np.corrcoef(a**2, b**2)[0, 1]) < 5 / np.sqrt(a.size)
    assert np.abs(z).max() < 5.8
