"""The counter-hash random numbers used for per-cell noise."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax import _random as fast_random


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_normal_is_finite_and_standard(dtype):
    z = np.concatenate([np.asarray(fast_random.normal(jax.random.key(i), (1_000_000,), dtype)) for i in range(4)])
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


def test_jit_and_vmap_match_eager():
    keys = jax.random.split(jax.random.key(3), 4)
    eager = np.stack([np.asarray(fast_random.normal(k, (5, 7))) for k in keys])
    np.testing.assert_array_equal(np.asarray(jax.vmap(lambda k: fast_random.normal(k, (5, 7)))(keys)), eager)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: fast_random.normal(k, (5, 7)))(keys[0])), eager[0])
