"""Analog layers: a crossbar-backed linear layer usable inside equinox/JAX models.

The layer's *parameters* (digital bias) live in the Module; its *analog weights* are the
crossbar's device state, passed in and returned like any other mutable buffer.  The
forward pass is the crossbar's analog MVM; the backward pass (through
:func:`analog_matmul`'s custom VJP) is the crossbar's analog transposed MVM, so errors
are propagated by the hardware, with its converters and noise, as in analog training.
Weight updates are not gradients of this function: they are applied to the crossbar state
by pulsed updates (:mod:`synaptax.training.algorithms`).
"""
from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..arrays import Crossbar, CrossbarState


def analog_matmul(crossbar: Crossbar, state: CrossbarState, x: Array, key: PRNGKeyArray) -> Array:
    """``y = W x`` on the crossbar, differentiable in ``x`` through the analog ``Wᵀ``.

    Args:
        crossbar: the crossbar configuration.
        state: its state (no gradient flows to it).
        x: inputs ``(..., in_features)``.
        key: PRNG key; the forward pass uses ``fold_in(key, 0)``, the backward
            ``fold_in(key, 1)``.

    Returns:
        ``(..., out_features)``.
    """

    @jax.custom_vjp
    def matmul(state, x, key):
        return crossbar.forward(state, x, key=jax.random.fold_in(key, 0))

    def fwd(state, x, key):
        return matmul(state, x, key), (state, key)

    def bwd(residual, g):
        state, key = residual
        dx = crossbar.backward(state, g, key=jax.random.fold_in(key, 1))
        zero_state = jax.tree.map(_zero_cotangent, state)
        return zero_state, dx, _zero_cotangent(key)

    matmul.defvjp(fwd, bwd)
    return matmul(jax.lax.stop_gradient(state), x, key)


def _zero_cotangent(a):
    a = jnp.asarray(a) if not jnp.issubdtype(getattr(a, "dtype", jnp.float32), jax.dtypes.prng_key) else a
    if jnp.issubdtype(a.dtype, jnp.inexact):
        return jnp.zeros_like(a)
    import numpy as np

    return np.zeros(a.shape, dtype=jax.dtypes.float0)


class AnalogLinear(eqx.Module):
    """Linear layer whose weight matrix is held in a :class:`~synaptax.arrays.Crossbar`.

    Attributes:
        crossbar: configuration of the tile(s).
        bias: digital bias, shape ``(out_features,)``, or None.
    """

    crossbar: Crossbar
    bias: Array | None

    def __init__(self, crossbar: Crossbar, *, use_bias: bool = True):
        self.crossbar = crossbar
        self.bias = jnp.zeros((crossbar.out_features,)) if use_bias else None

    def init_state(self, *, key: PRNGKeyArray) -> CrossbarState:
        """Crossbar state programmed to uniform random weights in ``±1/√in_features``."""
        k_w, k_dev = jax.random.split(key)
        bound = 1.0 / jnp.sqrt(self.crossbar.in_features)
        w = jax.random.uniform(k_w, (self.crossbar.out_features, self.crossbar.in_features),
                               minval=-bound, maxval=bound)
        return self.crossbar.init(key=k_dev, weights=w)

    def __call__(self, state: CrossbarState, x: Array, *, key: PRNGKeyArray) -> Array:
        """``W x + b`` for ``x`` of shape ``(..., in_features)``."""
        y = analog_matmul(self.crossbar, state, x, key)
        return y if self.bias is None else y + self.bias


from ..training.neurons import cogd_sigmoid, cogd_sigmoid_noisy  # noqa: E402

#: Hidden activations by name.  A function with ``needs_key = True`` draws noise and is
#: called as ``f(x, key=key)`` (analog networks only).
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "cogd-neuron": cogd_sigmoid,  # Co/Gd ferrimagnetic device neuron, mean response (≈ sigmoid)
    "cogd-neuron-noisy": cogd_sigmoid_noisy,  # the same, one noisy device read per activation
}

__all__ = [
    "ACTIVATIONS", "AnalogLinear", "analog_matmul",
]
