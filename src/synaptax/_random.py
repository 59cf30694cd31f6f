"""Fast keyed random numbers for per-cell noise in hot loops.

JAX's default threefry generator costs ~7 ns per 32-bit word on a CPU core; pulsed updates
need one or more random numbers per cell per step, which made them the bottleneck of
training.  Here each number is a counter-based hash (two rounds of Wellons' ``lowbias32``
integer mixer) of the element's index and the two seed words of an ordinary JAX key:
about 4× cheaper on the CPU, still deterministic, explicitly keyed and independent of how
a run is chunked.  Statistical quality is ample for Monte-Carlo noise (tested: moments,
neighbour correlation); the keys themselves are still split with ``jax.random``.
:func:`normal` transforms one uniform by the inverse error function;
:func:`box_muller_normal`, for the hottest loops, uses the Box–Muller transform.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp


def _mix(h):
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x7FEB352D)
    h = h ^ (h >> 15)
    h = h * jnp.uint32(0x846CA68B)
    return h ^ (h >> 16)


def _words(key):
    data = jax.random.key_data(key).astype(jnp.uint32).ravel()
    return data[0], data[-1]


def random_bits(key, shape) -> jax.Array:
    """uint32 random words of ``shape`` from ``key``."""
    shape = tuple(shape)
    n = math.prod(shape)
    idx = jax.lax.iota(jnp.uint32, n).reshape(shape) if n else jnp.zeros(shape, jnp.uint32)
    return random_bits_at(key, idx)


def random_bits_at(key, index) -> jax.Array:
    """The words of chosen elements of a draw: ``random_bits_at(key, i)`` equals
    ``random_bits(key, shape).ravel()[i]`` for any shape with more than ``i`` elements
    (``index``: uint32 array of flat element numbers, any shape)."""
    k0, k1 = _words(key)
    return _mix(_mix(jnp.asarray(index, jnp.uint32) * jnp.uint32(0x9E3779B9) + k0) ^ k1)


def uniform(key, shape, dtype=float) -> jax.Array:
    """Uniform numbers in [0, 1) of ``shape`` (24 random bits each)."""
    dtype = jnp.result_type(dtype)
    return (random_bits(key, shape) >> 8).astype(dtype) * (1.0 / 16777216.0)


def uniform_at(key, index, dtype=float) -> jax.Array:
    """Chosen elements of a :func:`uniform` draw, as :func:`random_bits_at`."""
    dtype = jnp.result_type(dtype)
    return (random_bits_at(key, index) >> 8).astype(dtype) * (1.0 / 16777216.0)


def _sin_half_period(a):
    """``sin(a)`` for float32 ``|a| ≤ π/2``: odd Taylor polynomial to ``a¹¹`` (error below
    6e-8, under float32 rounding)."""
    a2 = a * a
    p = -2.5052108385441720e-08
    for c in (2.7557319223985893e-06, -1.9841269841269841e-04, 8.3333333333333333e-03, -1.6666666666666667e-01, 1.0):
        p = c + p * a2
    return p * a


def normal(key, shape, dtype=float) -> jax.Array:
    """Standard normal numbers of ``shape`` (inverse error function of a uniform)."""
    dtype = jnp.result_type(dtype)
    # 23 bits: (k + 0.5)/2^23 is exact in float32, so u stays strictly inside (0, 1) and the
    # inverse error function finite (|z| < 5.3)
    u = ((random_bits(key, shape) >> 9).astype(dtype) + 0.5) * (1.0 / 8388608.0)
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)


def box_muller_normal(key, shape, dtype=float) -> jax.Array:
    """Standard normal numbers of ``shape`` (Box–Muller transform of two hashed words),
    about half the CPU cost of :func:`normal`; used for the per-update noise of pulsed
    devices and the read noise of crossbar MVMs.

    Element ``i`` of the first half of the flattened array and element ``i + ⌈n/2⌉`` of the
    second are the cosine and sine of one Box–Muller pair, ``√(−2 ln u₁)·(cos, sin)(2πu₂)``
    with ``u₁`` (23 bits, in (0, 1)) and ``u₂`` (24 bits) the words ``2i`` and ``2i + 1``
    of the key: independent standard normals, ``|z| < 5.8``.  In float32 the sine and
    cosine are a polynomial on the reduced angle (the transform costs about half of an
    inverse error function on the CPU); float64 uses ``jnp.sin``/``jnp.cos``.
    """
    return _box_muller(key, tuple(shape), jnp.result_type(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _box_muller(key, shape, dtype):
    # jitted even when called eagerly: op-by-op evaluation would round the polynomial
    # differently (no fused multiply-adds) from the same code inside a jitted caller
    n = math.prod(shape)
    if n == 0:
        return jnp.zeros(shape, dtype)
    half = -(-n // 2)
    i = jax.lax.iota(jnp.uint32, n).reshape(shape)
    second = i >= half
    j = jnp.where(second, i - jnp.uint32(half), i)
    u1 = ((random_bits_at(key, 2 * j) >> 9).astype(dtype) + 0.5) * (1.0 / 8388608.0)
    u2 = ((random_bits_at(key, 2 * j + 1) >> 8).astype(dtype) + 0.5) * (1.0 / 16777216.0)
    radius = jnp.sqrt(-2.0 * jnp.log(u1))
    angle = (2.0 * math.pi) * u2 - math.pi  # (−π, π)
    if dtype == jnp.float32:
        # cos(a) = sin(π/2 − |a|); then fold into [−π/2, π/2]: sin(a) = sin(±π − a)
        a = jnp.where(second, angle, 0.5 * math.pi - jnp.abs(angle))
        a = jnp.where(a > 0.5 * math.pi, math.pi - a, jnp.where(a < -0.5 * math.pi, -math.pi - a, a))
        return radius * _sin_half_period(a)
    return radius * jnp.where(second, jnp.sin(angle), jnp.cos(angle))
