"""Networks of analog layers (any layer that follows the layer interface), and the
floating-point reference."""
from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..arrays import Crossbar, CrossbarState
from .layers import ACTIVATIONS, AbstractAnalogLayer, AnalogLinear, LayerProbe, LayerTrace


class AnalogMLP(eqx.Module):
    """A chain of analog layers with a digital activation between them.

    Args:
        layers: the layers, input to output: any :class:`~synaptax.training.layers.AbstractAnalogLayer`
            (a :class:`~synaptax.arrays.Crossbar` is wrapped in an
            :class:`~synaptax.training.layers.AnalogLinear`).
        activation: name of the hidden activation (:data:`~synaptax.training.layers.ACTIVATIONS`);
            the output layer returns logits.
    """

    layers: tuple[AbstractAnalogLayer, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, layers: Sequence[AbstractAnalogLayer | Crossbar], *, activation: str = "sigmoid"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        layers = tuple(AnalogLinear(c) if isinstance(c, Crossbar) else c for c in layers)
        if not layers:
            raise ValueError("layers must hold at least one layer")
        for layer in layers:
            if not isinstance(layer, AbstractAnalogLayer):
                raise TypeError(f"layers must be analog layers or crossbars, got {type(layer).__name__}")
        for a, b in zip(layers[:-1], layers[1:]):
            if a.crossbar.out_features != b.crossbar.in_features:
                raise ValueError(f"layer sizes do not chain: {a.crossbar.out_features} outputs feed "
                                 f"{b.crossbar.in_features} inputs")
        self.layers = layers
        self.activation = activation

    @property
    def crossbars(self) -> tuple[Crossbar, ...]:
        return tuple(layer.crossbar for layer in self.layers)

    def init_state(self, *, key: PRNGKeyArray) -> tuple[CrossbarState, ...]:
        keys = jax.random.split(key, len(self.layers))
        return tuple(layer.init_state(key=k) for layer, k in zip(self.layers, keys))

    def probes(self, in_shape: tuple[int, ...]) -> tuple[LayerProbe, ...]:
        """Zero probes of every layer for inputs of shape ``in_shape``."""
        out = []
        shape = tuple(in_shape)
        for layer in self.layers:
            out.append(layer.probe(shape))
            shape = layer.output_shape(shape)
        return tuple(out)

    def __call__(self, states, x: Array, *, key: PRNGKeyArray, probes=None) -> tuple[Array, tuple[LayerTrace, ...]]:
        """Logits ``(batch, classes)`` and every layer's :class:`~synaptax.training.layers.LayerTrace`.

        ``probes`` (from :meth:`probes`, optional): their gradients carry each layer's error
        ``∂L/∂y`` and the energy of its backward reads out of a ``jax.grad``.  Keys: one
        stream for the layers, one for noisy activations, indexed by layer.
        """
        act = ACTIVATIONS[self.activation]
        k_layers, k_act = jax.random.split(key)
        traces = []
        h = x
        for i, (layer, state) in enumerate(zip(self.layers, states)):
            h, trace = layer(state, h, key=jax.random.fold_in(k_layers, i),
                             probe=None if probes is None else probes[i])
            traces.append(trace)
            if i < len(self.layers) - 1:
                h = act(h, key=jax.random.fold_in(k_act, i)) if getattr(act, "needs_key", False) else act(h)
        return h, tuple(traces)


class FloatMLP(eqx.Module):
    """The floating-point reference: same architecture, weights as ordinary parameters."""

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, sizes: Sequence[int], *, key: PRNGKeyArray, activation: str = "sigmoid"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if getattr(ACTIVATIONS[activation], "needs_key", False):
            raise ValueError(f"activation {activation!r} draws device noise; it needs an analog algorithm, "
                             "not the floating-point reference")
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
