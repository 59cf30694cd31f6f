"""Multilayer perceptrons with weights in crossbars (or in floating point, the reference)."""
from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..arrays import Crossbar, CrossbarState
from .layers import ACTIVATIONS, AnalogLinear


class AnalogMLP(eqx.Module):
    """An MLP of :class:`AnalogLinear` layers with a digital activation between them.

    Attributes:
        layers: the layers, input to output.
        activation: name of the hidden activation (``sigmoid``, ``relu`` or ``tanh``); the
            output layer returns logits.
    """

    layers: tuple[AnalogLinear, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, crossbars: Sequence[Crossbar], *, activation: str = "sigmoid"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        for a, b in zip(crossbars[:-1], crossbars[1:]):
            if a.out_features != b.in_features:
                raise ValueError(f"layer sizes do not chain: {a.out_features} outputs feed {b.in_features} inputs")
        self.layers = tuple(AnalogLinear(c) for c in crossbars)
        self.activation = activation

    @property
    def crossbars(self) -> tuple[Crossbar, ...]:
        return tuple(layer.crossbar for layer in self.layers)

    def init_state(self, *, key: PRNGKeyArray) -> tuple[CrossbarState, ...]:
        keys = jax.random.split(key, len(self.layers))
        return tuple(layer.init_state(key=k) for layer, k in zip(self.layers, keys))

    def __call__(self, states, x: Array, *, key: PRNGKeyArray, probes=None):
        """Logits ``(batch, classes)`` and the input of every layer.

        ``probes`` (one zero array ``(batch, out)`` per layer, optional) are added to each
        layer's pre-activation; their gradient is the error ``∂L/∂y`` the pulsed updates
        need.
        """
        act = ACTIVATIONS[self.activation]
        inputs = []
        h = x
        for i, (layer, state) in enumerate(zip(self.layers, states)):
            inputs.append(h)
            h = layer(state, h, key=jax.random.fold_in(key, i))
            if probes is not None:
                h = h + probes[i]
            if i < len(self.layers) - 1:
                h = act(h, key=jax.random.fold_in(key, 1000 + i)) if getattr(act, "needs_key", False) else act(h)
        return h, tuple(inputs)


class FloatMLP(eqx.Module):
    """The floating-point reference: same architecture, weights as ordinary parameters."""

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, sizes: Sequence[int], *, key: PRNGKeyArray, activation: str = "sigmoid"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if getattr(ACTIVATIONS[activation], "needs_key", False):
            raise ValueError(f"activation {activation!r} draws device noise; it needs an analog algorithm "
                             "(analog-sgd or mixed-precision), not the floating-point reference")
        keys = jax.random.split(key, len(sizes) - 1)
        ws = []
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]):
            bound = 1.0 / jnp.sqrt(n_in)
            ws.append(jax.random.uniform(k, (n_out, n_in), minval=-bound, maxval=bound))
        self.weights = tuple(ws)
        self.biases = tuple(jnp.zeros((n,)) for n in sizes[1:])
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = act(h)
        return h

__all__ = [
    "AnalogMLP", "FloatMLP",
]
