"""Networks of analog layers (any layer that follows the layer interface) with digital
operations between them, and their floating-point references.

:class:`AnalogNetwork` is a chain: a digital reshape of the flattened input, then analog
layers (:class:`~synaptax.training.layers.AnalogLinear`,
:class:`~synaptax.training.layers.AnalogConv2d`, or any other layer of the interface) with
digital operations after each (:class:`Activation`, :class:`MaxPool2d`,
:class:`AvgPool2d`, :class:`Flatten`).  The algorithms see only its analog ``layers`` (one
crossbar state per layer); the digital operations are static structure.
:class:`AnalogMLP` is the chain of linear layers with one activation between them.

:class:`FloatNetwork` is the same chain with ordinary weights (``FloatDense``,
``FloatConv2d``); :class:`FloatMLP` the multilayer perceptron (kept as its own class: the
float runs' checkpoints hold it).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..arrays import Crossbar, CrossbarState
from .layers import ACTIVATIONS, AbstractAnalogLayer, AnalogLinear, LayerProbe, LayerTrace


# ----------------------------------------------------------------------------- digital operations
@dataclasses.dataclass(frozen=True)
class Activation:
    """An elementwise activation by name (:data:`~synaptax.training.layers.ACTIVATIONS`)."""

    name: str

    def __post_init__(self):
        if self.name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.name!r}; valid: {', '.join(ACTIVATIONS)}")

    @property
    def needs_key(self) -> bool:
        return bool(getattr(ACTIVATIONS[self.name], "needs_key", False))

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def __call__(self, x, *, key=None):
        f = ACTIVATIONS[self.name]
        return f(x, key=key) if self.needs_key else f(x)

    def describe(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class _Pool:
    size: int
    stride: int | None = None

    def __post_init__(self):
        for name in ("size", "stride"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"pooling {name} must be an integer >= 1, got {v!r}")

    needs_key = False

    @property
    def step(self) -> int:
        return self.size if self.stride is None else self.stride

    def output_shape(self, in_shape):
        if len(in_shape) < 3:
            raise ValueError(f"pooling needs inputs (..., C, H, W), got shape {tuple(in_shape)}")
        h, w = ((n - self.size) // self.step + 1 for n in in_shape[-2:])
        if h < 1 or w < 1:
            raise ValueError(f"a {self.size}x{self.size} pool does not fit {in_shape[-2]}x{in_shape[-1]} pixels")
        return tuple(in_shape[:-2]) + (h, w)

    def _window(self, x):
        dims = (1,) * (x.ndim - 2) + (self.size, self.size)
        steps = (1,) * (x.ndim - 2) + (self.step, self.step)
        return dims, steps


@dataclasses.dataclass(frozen=True)
class MaxPool2d(_Pool):
    """Digital max pooling over ``size × size`` windows (stride = size unless given)."""

    def __call__(self, x, *, key=None):
        dims, steps = self._window(x)
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, steps, "VALID")

    def describe(self) -> str:
        return f"maxpool{self.size}" + ("" if self.stride is None else f"s{self.stride}")


@dataclasses.dataclass(frozen=True)
class AvgPool2d(_Pool):
    """Digital average pooling over ``size × size`` windows (stride = size unless given)."""

    def __call__(self, x, *, key=None):
        dims, steps = self._window(x)
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, steps, "VALID") / (self.size * self.size)

    def describe(self) -> str:
        return f"avgpool{self.size}" + ("" if self.stride is None else f"s{self.stride}")


@dataclasses.dataclass(frozen=True)
class Flatten:
    """``(batch, …) → (batch, features)``, C order (as ``jnp.ravel`` of a sample)."""

    needs_key = False

    def output_shape(self, in_shape):
        return (in_shape[0], math.prod(in_shape[1:]))

    def __call__(self, x, *, key=None):
        return x.reshape(x.shape[0], -1)

    def describe(self) -> str:
        return "flatten"


@dataclasses.dataclass(frozen=True)
class Reshape:
    """``(batch, features) → (batch, *shape)``: the flattened samples as images."""

    shape: tuple[int, ...]
    needs_key = False

    def output_shape(self, in_shape):
        if math.prod(in_shape[1:]) != math.prod(self.shape):
            raise ValueError(f"inputs of {math.prod(in_shape[1:])} features cannot be reshaped to {self.shape}")
        return (in_shape[0],) + tuple(self.shape)

    def __call__(self, x, *, key=None):
        return x.reshape((x.shape[0],) + tuple(self.shape))

    def describe(self) -> str:
        return "x".join(map(str, self.shape))


DIGITAL_OPS = (Activation, MaxPool2d, AvgPool2d, Flatten, Reshape)


def _as_op(e):
    if isinstance(e, str):
        return Activation(e)
    return e


def _is_op(e) -> bool:
    return isinstance(e, DIGITAL_OPS)


def _split_elements(elements, is_layer):
    """``(layers, ops)``: the layers in order, and the digital operations before the first
    layer and after each (``len(layers) + 1`` tuples)."""
    layers, ops, current = [], [], []
    for e in elements:
        e = _as_op(e)
        if _is_op(e):
            current.append(e)
        elif is_layer(e):
            ops.append(tuple(current))
            current = []
            layers.append(e)
        else:
            raise TypeError(f"a network element must be a layer or a digital operation "
                            f"({', '.join(c.__name__ for c in DIGITAL_OPS)}), got {type(e).__name__}")
    ops.append(tuple(current))
    if not layers:
        raise ValueError("layers must hold at least one layer")
    return tuple(layers), tuple(ops)


def _op_key(k_act, i: int, m: int):
    """Key of the ``m``-th digital operation after layer ``i`` (``i = -1``: before the
    first layer).  The first operation after layer ``i`` gets ``fold_in(k_act, i)``, the key
    the multilayer perceptron's activation has always had."""
    k = jax.random.fold_in(k_act, i if i >= 0 else 2**30)
    return k if m == 0 else jax.random.fold_in(k, m)


def _walk(layers, ops, in_shape, on_layer=None, on_op=None):
    """Propagate a shape through the chain; ``on_layer(i, layer, shape)`` sees each layer's
    input shape.  Returns the output shape.  Errors name the element."""
    shape = tuple(in_shape)
    for m, op in enumerate(ops[0]):
        shape = op.output_shape(shape)
    for i, layer in enumerate(layers):
        n_in = _linear_inputs(layer)
        if n_in is not None:
            if len(shape) != 2:
                raise ValueError(f"layer {i + 1} (linear) needs flat inputs (batch, features), got shape "
                                 f"{shape}: put a Flatten before it")
            if shape[-1] != n_in:
                raise ValueError(f"layer sizes do not chain: {shape[-1]} outputs feed {n_in} inputs")
        if on_layer is not None:
            on_layer(i, layer, shape)
        try:
            shape = tuple(layer.output_shape(shape))
        except ValueError as err:
            raise ValueError(f"layer {i + 1}: {err}") from None
        for op in ops[i + 1]:
            try:
                shape = op.output_shape(shape)
            except ValueError as err:
                raise ValueError(f"after layer {i + 1}: {err}") from None
    return shape


def _linear_inputs(layer) -> int | None:
    """Inputs of a linear layer (analog or float), None for any other layer."""
    if isinstance(layer, AnalogLinear):
        return layer.crossbar.in_features
    if isinstance(layer, FloatDense):
        return layer.weight.shape[1]
    return None


def _with_reshape(ops, input_shape):
    """``ops`` with a reshape of the flattened samples to ``input_shape`` first (if given)."""
    if input_shape is None:
        return ops
    return ((Reshape(tuple(int(n) for n in input_shape)),) + ops[0],) + ops[1:]


def _sample_shape(layers, ops) -> tuple[int, ...] | None:
    """Shape of one sample as the first operations see it: the reshape's, else a first
    linear layer's inputs, else None (unknown)."""
    for op in ops[0]:
        if isinstance(op, Reshape):
            return tuple(op.shape)
    n_in = _linear_inputs(layers[0])
    return None if n_in is None else (n_in,)


def _describe(layers, ops, sample_shape) -> str:
    parts = [op.describe() for op in ops[0]] or [str(math.prod(sample_shape or (0,)))]
    for layer, after in zip(layers, ops[1:]):
        parts.append(_describe_layer(layer))
        parts += [op.describe() for op in after]
    return " ".join(parts)


def _apply_ops(ops, h, k_act, i):
    for m, op in enumerate(ops):
        h = op(h, key=_op_key(k_act, i, m) if op.needs_key else None)
    return h


class AnalogNetwork(eqx.Module):
    """A chain of analog layers with digital operations between them (module docstring).

    Args:
        elements: input to output: analog layers (a :class:`~synaptax.arrays.Crossbar` is
            wrapped in an :class:`~synaptax.training.layers.AnalogLinear`), digital
            operations (:data:`DIGITAL_OPS`) and activation names (a ``str`` is an
            :class:`Activation`).
        input_shape: the shape of one sample (e.g. ``(1, 28, 28)``); the network's inputs are
            flattened samples ``(batch, prod(input_shape))``, reshaped to it first.  None:
            inputs are used as given.

    Attributes:
        layers: the analog layers (what the algorithms train: one crossbar state each).
        ops: the digital operations before the first layer and after each layer (static).
    """

    layers: tuple[AbstractAnalogLayer, ...]
    ops: tuple = eqx.field(static=True)

    def __init__(self, elements: Sequence, *, input_shape: Sequence[int] | None = None):
        elements = [AnalogLinear(e) if isinstance(e, Crossbar) else e for e in elements]
        layers, ops = _split_elements(elements, lambda e: isinstance(e, AbstractAnalogLayer))
        self.layers = layers
        self.ops = _with_reshape(ops, input_shape)
        if self.in_features is not None:
            _walk(self.layers, self.ops, (1, self.in_features))

    @property
    def crossbars(self) -> tuple[Crossbar, ...]:
        return tuple(layer.crossbar for layer in self.layers)

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """Shape of one sample as the first layer's operations see it (None if unknown)."""
        return _sample_shape(self.layers, self.ops)

    @property
    def in_features(self) -> int | None:
        """Features of a flattened input sample (None if the network does not fix it)."""
        shape = self.sample_shape
        return None if shape is None else math.prod(shape)

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return _walk(self.layers, self.ops, in_shape)

    def vectors_per_sample(self) -> tuple[int, ...]:
        """Crossbar reads (MVMs) per sample of every layer (1 for a linear layer, the
        patches of a convolution)."""
        out = []
        _walk(self.layers, self.ops, (1, self.in_features),
              on_layer=lambda i, layer, shape: out.append(layer.vectors_per_sample(shape[1:])))
        return tuple(out)

    def describe(self) -> str:
        """The architecture in one line, e.g. ``784-100-10`` or
        ``1x28x28 conv6k5 sigmoid maxpool2 … 10``."""
        return _describe(self.layers, self.ops, self.sample_shape)

    def init_state(self, *, key: PRNGKeyArray) -> tuple[CrossbarState, ...]:
        keys = jax.random.split(key, len(self.layers))
        return tuple(layer.init_state(key=k) for layer, k in zip(self.layers, keys))

    def probes(self, in_shape: tuple[int, ...]) -> tuple[LayerProbe, ...]:
        """Zero probes of every layer for inputs of shape ``in_shape``."""
        out = []
        _walk(self.layers, self.ops, in_shape, on_layer=lambda i, layer, shape: out.append(layer.probe(shape)))
        return tuple(out)

    def __call__(self, states, x: Array, *, key: PRNGKeyArray, probes=None) -> tuple[Array, tuple[LayerTrace, ...]]:
        """Logits ``(batch, classes)`` and every layer's :class:`~synaptax.training.layers.LayerTrace`.

        ``probes`` (from :meth:`probes`, optional): their gradients carry each layer's error
        ``∂L/∂y`` and the energy of its backward reads out of a ``jax.grad``.  Keys: one
        stream for the layers (indexed by layer), one for the digital operations that draw
        noise (:func:`_op_key`).
        """
        k_layers, k_act = jax.random.split(key)
        traces = []
        h = _apply_ops(self.ops[0], x, k_act, -1)
        for i, (layer, state) in enumerate(zip(self.layers, states)):
            h, trace = layer(state, h, key=jax.random.fold_in(k_layers, i),
                             probe=None if probes is None else probes[i])
            traces.append(trace)
            h = _apply_ops(self.ops[i + 1], h, k_act, i)
        return h, tuple(traces)


def _describe_layer(layer) -> str:
    from .layers import AnalogConv2d

    if isinstance(layer, (AnalogConv2d, FloatConv2d)):
        out = layer.out_channels
        kh, kw = layer.kernel_size
        s = f"conv{out}k{kh}" + ("" if kh == kw else f"x{kw}")
        if layer.stride != (1, 1):
            s += f"s{layer.stride[0]}"
        if layer.padding != ((0, 0), (0, 0)):
            s += f"p{layer.padding[0][0]}"
        return s
    if isinstance(layer, FloatDense):
        return str(layer.weight.shape[0])
    return str(layer.crossbar.out_features)


class AnalogMLP(AnalogNetwork):
    """A chain of analog layers with one digital activation between them.

    Args:
        layers: the layers, input to output: any :class:`~synaptax.training.layers.AbstractAnalogLayer`
            (a :class:`~synaptax.arrays.Crossbar` is wrapped in an
            :class:`~synaptax.training.layers.AnalogLinear`).
        activation: name of the hidden activation (:data:`~synaptax.training.layers.ACTIVATIONS`);
            the output layer returns logits.
    """

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
        elements = []
        for i, layer in enumerate(layers):
            elements.append(layer)
            if i < len(layers) - 1:
                elements.append(Activation(activation))
        self.activation = activation
        super().__init__(elements)

    def describe(self) -> str:
        sizes = [self.layers[0].crossbar.in_features] + [layer.crossbar.out_features for layer in self.layers]
        return "-".join(map(str, sizes))


# ----------------------------------------------------------------------------- float reference
class FloatDense(eqx.Module):
    """A float linear layer: ``x Wᵀ + b``; ``weight (out, in)``, ``bias (out,)``."""

    weight: Array
    bias: Array

    @classmethod
    def create(cls, n_in: int, n_out: int, *, key: PRNGKeyArray) -> "FloatDense":
        """Weights uniform in ``±1/√n_in`` (as :class:`~synaptax.training.layers.AnalogLinear`), zero bias."""
        bound = 1.0 / jnp.sqrt(n_in)
        return cls(jax.random.uniform(key, (n_out, n_in), minval=-bound, maxval=bound), jnp.zeros((n_out,)))

    def output_shape(self, in_shape):
        return tuple(in_shape[:-1]) + (self.weight.shape[0],)

    def __call__(self, x):
        return x @ self.weight.T + self.bias


class FloatConv2d(eqx.Module):
    """A float 2-D convolution (NCHW): ``weight (out, in, kh, kw)``, ``bias (out,)``;
    ``stride``, ``padding`` as :class:`~synaptax.training.layers.AnalogConv2d`."""

    weight: Array
    bias: Array
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[tuple[int, int], tuple[int, int]] = eqx.field(static=True)

    @classmethod
    def create(cls, in_channels: int, out_channels: int, kernel_size: int, *, key: PRNGKeyArray,
               stride: int = 1, padding=((0, 0), (0, 0))) -> "FloatConv2d":
        """Weights uniform in ``±1/√fan_in`` (as the analog convolution), zero bias."""
        fan_in = in_channels * kernel_size * kernel_size
        bound = 1.0 / jnp.sqrt(fan_in)
        w = jax.random.uniform(key, (out_channels, in_channels, kernel_size, kernel_size), minval=-bound,
                               maxval=bound)
        return cls(w, jnp.zeros((out_channels,)), (stride, stride), tuple(tuple(p) for p in padding))

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    @property
    def kernel_size(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:])

    def output_shape(self, in_shape):
        if len(in_shape) < 3 or in_shape[-3] != self.weight.shape[1]:
            raise ValueError(f"a convolution over {self.weight.shape[1]} channels needs inputs (..., "
                             f"{self.weight.shape[1]}, H, W), got shape {tuple(in_shape)}")
        hw = [(n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in
              zip(in_shape[-2:], self.kernel_size, self.stride, self.padding)]
        if min(hw) < 1:
            raise ValueError(f"a {self.kernel_size[0]}x{self.kernel_size[1]} kernel does not fit inputs of "
                             f"{in_shape[-2]}x{in_shape[-1]} pixels")
        return tuple(in_shape[:-3]) + (self.out_channels, *hw)

    def __call__(self, x):
        dtype = jnp.result_type(x, self.weight)
        y = jax.lax.conv_general_dilated(x.astype(dtype), self.weight.astype(dtype), self.stride, self.padding,
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + self.bias[:, None, None]


class FloatNetwork(eqx.Module):
    """The float reference of an :class:`AnalogNetwork`: the same chain with ordinary
    weights (``FloatDense``, ``FloatConv2d``) and the same digital operations.

    Args:
        elements: float layers, digital operations and activation names, input to output.
        input_shape: shape of one sample; inputs are flattened samples reshaped to it.
    """

    layers: tuple
    ops: tuple = eqx.field(static=True)

    def __init__(self, elements: Sequence, *, input_shape: Sequence[int] | None = None):
        layers, ops = _split_elements(elements, lambda e: isinstance(e, (FloatDense, FloatConv2d)))
        for op in (o for group in ops for o in group):
            if isinstance(op, Activation) and op.needs_key:
                raise ValueError(f"activation {op.name!r} draws device noise; it needs an analog algorithm, "
                                 "not the floating-point reference")
        self.layers = layers
        self.ops = _with_reshape(ops, input_shape)
        shape = self.sample_shape
        if shape is not None:
            _walk(self.layers, self.ops, (1, math.prod(shape)))

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """Shape of one sample as the first layer's operations see it (None if unknown)."""
        return _sample_shape(self.layers, self.ops)

    def describe(self) -> str:
        return _describe(self.layers, self.ops, self.sample_shape)

    def __call__(self, x: Array) -> Array:
        h = x
        for op in self.ops[0]:
            h = op(h)
        for layer, after in zip(self.layers, self.ops[1:]):
            h = layer(h)
            for op in after:
                h = op(h)
        return h


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

    def describe(self) -> str:
        return "-".join(map(str, [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]))

    def __call__(self, x: Array) -> Array:
        act = ACTIVATIONS[self.activation]
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = act(h)
        return h


__all__ = [
    "DIGITAL_OPS", "Activation", "AnalogMLP", "AnalogNetwork", "AvgPool2d", "Flatten", "FloatConv2d", "FloatDense",
    "FloatMLP", "FloatNetwork", "MaxPool2d", "Reshape",
]
