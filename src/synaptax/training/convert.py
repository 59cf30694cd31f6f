"""Put a trained digital network onto crossbars: :func:`to_analog`.

Accepts the float references (:class:`~synaptax.training.network.FloatMLP`,
:class:`~synaptax.training.network.FloatNetwork`) and equinox models: an ``eqx.nn.MLP``, an
``eqx.nn.Sequential`` or a list of ``eqx.nn.Linear``, ``eqx.nn.Conv2d`` (no dilation or
groups), ``eqx.nn.MaxPool2d`` / ``AvgPool2d`` (square windows, no padding),
``eqx.nn.Lambda`` of an activation (or the activation function itself: ``jax.nn.relu``,
``jax.nn.sigmoid``, ``jnp.tanh``) and flattening (``eqx.nn.Lambda(jnp.ravel)``; a flatten
is also put in before the first linear layer after a convolution).  Equinox layers work on
one sample (``(C, H, W)``); the analog network works on batches of flattened samples, so
the sample shape is needed for a convolutional model.

Every layer's weights are programmed into fresh devices of the chosen preset
(:meth:`~synaptax.arrays.Crossbar.init`); by default each layer's ``w_max`` is its largest
weight magnitude, so the weights use the devices' whole conductance range (the scale is
digital, as the crossbar's ``w_max`` always is).  Biases stay digital.
"""
from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from ..arrays import Crossbar
from .layers import AnalogConv2d, AnalogLinear
from .network import (Activation, AnalogNetwork, AvgPool2d, Flatten, FloatConv2d, FloatDense, FloatMLP,
                      FloatNetwork, MaxPool2d, Reshape)

_ACTIVATION_FUNCTIONS = {jax.nn.relu: "relu", jax.nn.sigmoid: "sigmoid", jnp.tanh: "tanh", jax.numpy.tanh: "tanh"}


class ConversionError(ValueError):
    """A model element that has no analog counterpart (the message names it)."""


def _is_identity(fn) -> bool:
    x = jnp.linspace(-2.0, 2.0, 7)
    try:
        return bool(jnp.all(fn(x) == x))
    except Exception:  # noqa: BLE001 - anything that is not elementwise is not the identity
        return False


def _activation(fn, where: str):
    if isinstance(fn, eqx.nn.Lambda):
        fn = fn.fn
    for f, name in _ACTIVATION_FUNCTIONS.items():
        if fn is f:
            return Activation(name)
    if fn is jnp.ravel:
        return Flatten()
    if _is_identity(fn):
        return None
    raise ConversionError(f"{where}: {getattr(fn, '__name__', type(fn).__name__)} has no analog counterpart "
                          f"(supported activations: {', '.join(sorted(set(_ACTIVATION_FUNCTIONS.values())))})")


def _pool(p, where: str):
    k, s = tuple(p.kernel_size), tuple(p.stride)
    if len(set(k)) != 1 or len(set(s)) != 1 or any(a or b for a, b in p.padding) or getattr(p, "use_ceil", False):
        raise ConversionError(f"{where}: only square pools without padding convert, got kernel {k}, stride {s}, "
                              f"padding {p.padding}")
    cls = MaxPool2d if isinstance(p, eqx.nn.MaxPool2d) else AvgPool2d
    return cls(k[0], None if s[0] == k[0] else s[0])


def _elements(model) -> list:
    """Float layers and digital operations of a supported model, input to output."""
    if isinstance(model, FloatMLP):
        out = []
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            out.append(FloatDense(w, b))
            if i < len(model.weights) - 1:
                out.append(Activation(model.activation))
        return out
    if isinstance(model, FloatNetwork):
        out = [op for op in model.ops[0] if not isinstance(op, Reshape)]
        for layer, after in zip(model.layers, model.ops[1:]):
            out.append(layer)
            out += list(after)
        return out
    if isinstance(model, eqx.nn.MLP):
        out = []
        for i, layer in enumerate(model.layers):
            out += _elements([layer])
            last = i == len(model.layers) - 1
            act = _activation(model.final_activation if last else model.activation, f"MLP layer {i + 1}")
            if act is not None:
                out.append(act)
        return out
    if isinstance(model, eqx.nn.Sequential):
        model = list(model.layers)
    if not isinstance(model, (list, tuple)):
        raise ConversionError(f"cannot convert a {type(model).__name__}: give a FloatMLP, FloatNetwork, eqx.nn.MLP, "
                              "eqx.nn.Sequential or a list of equinox layers")
    out = []
    for i, e in enumerate(model):
        where = f"element {i + 1} ({type(e).__name__})"
        if isinstance(e, eqx.nn.Linear):
            if e.in_features == "scalar" or e.out_features == "scalar":
                raise ConversionError(f"{where}: scalar Linear layers do not convert")
            b = e.bias if e.bias is not None else jnp.zeros((e.out_features,))
            out.append(FloatDense(e.weight, b))
        elif isinstance(e, eqx.nn.Conv2d):
            if tuple(e.dilation) != (1, 1) or e.groups != 1:
                raise ConversionError(f"{where}: dilated or grouped convolutions do not convert")
            b = e.bias.reshape(-1) if e.bias is not None else jnp.zeros((e.out_channels,))
            out.append(FloatConv2d(e.weight, b, tuple(e.stride), tuple(tuple(p) for p in e.padding)))
        elif isinstance(e, (eqx.nn.MaxPool2d, eqx.nn.AvgPool2d)):
            out.append(_pool(e, where))
        elif isinstance(e, (FloatDense, FloatConv2d, Activation, MaxPool2d, AvgPool2d, Flatten)):
            out.append(e)
        elif isinstance(e, (eqx.nn.MLP, eqx.nn.Sequential)):
            out += _elements(e)
        elif callable(e):
            act = _activation(e, where)
            if act is not None:
                out.append(act)
        else:
            raise ConversionError(f"{where} has no analog counterpart")
    return out


def to_analog(model, device, *, key: PRNGKeyArray, input_shape: Sequence[int] | None = None,
              w_max: float | Sequence[float] | None = None, **crossbar_options):
    """The analog counterpart of a digital network, its weights programmed into fresh devices.

    Args:
        model: a :class:`~synaptax.training.network.FloatMLP`,
            :class:`~synaptax.training.network.FloatNetwork`, ``eqx.nn.MLP``,
            ``eqx.nn.Sequential`` or list of equinox layers (module docstring).
        device: the device (an :class:`~synaptax.devices.AbstractDevice`) every crossbar holds.
        key: PRNG key (keyword-only) for the devices' variation when programming, split by layer.
        input_shape: shape of one sample, e.g. ``(1, 28, 28)`` (needed when the model starts
            with a convolution; a float network's own is used when not given).
        w_max: the weight of a full conductance difference per layer (a number for all, a
            sequence per layer); None: each layer's largest weight magnitude.
        **crossbar_options: passed to every :class:`~synaptax.arrays.Crossbar` (``mapping``,
            ``dac``, ``adc``, ``ir_drop``, ``max_tile_size``, …).

    Returns:
        ``(network, states)``: an :class:`~synaptax.training.network.AnalogNetwork` (biases
        copied, digital) and its crossbar states, one per layer, holding the weights.

    Raises:
        ConversionError: an element with no analog counterpart (named).
    """
    if input_shape is None and isinstance(model, FloatNetwork):
        input_shape = model.sample_shape
    elements = _elements(model)
    n_layers = sum(isinstance(e, (FloatDense, FloatConv2d)) for e in elements)
    if n_layers == 0:
        raise ConversionError("the model has no Linear or Conv2d layer to put on crossbars")
    if w_max is None or isinstance(w_max, (int, float)):
        w_maxes = [w_max] * n_layers
    else:
        w_maxes = list(w_max)
        if len(w_maxes) != n_layers:
            raise ConversionError(f"w_max gives {len(w_maxes)} values for {n_layers} layers")
    keys = iter(jax.random.split(key, n_layers))
    out, weights, seen_conv, spatial = [], [], False, False
    wm = iter(w_maxes)
    for e in elements:
        if isinstance(e, Flatten):
            spatial = False
        if isinstance(e, (FloatDense, FloatConv2d)):
            w = e.weight.reshape(e.weight.shape[0], -1)
            scale = next(wm)
            if scale is None:
                scale = float(jnp.max(jnp.abs(w)))
                scale = scale if scale > 0 else 1.0
            c = Crossbar(device, w.shape[1], w.shape[0], w_max=scale, **crossbar_options)
            if isinstance(e, FloatConv2d):
                layer = AnalogConv2d(c, e.weight.shape[1], e.kernel_size, stride=e.stride, padding=e.padding)
                seen_conv = spatial = True
            else:
                if spatial:  # a linear layer after a convolution reads the flattened maps
                    out.append(Flatten())
                    spatial = False
                layer = AnalogLinear(c)
            layer = eqx.tree_at(lambda l: l.bias, layer, jnp.asarray(e.bias))
            out.append(layer)
            weights.append(w)
        else:
            out.append(e)
    if seen_conv and input_shape is None:
        raise ConversionError("a convolutional model needs input_shape (the shape of one sample, e.g. (1, 28, 28))")
    network = AnalogNetwork(out, input_shape=input_shape)
    states = tuple(layer.crossbar.init(key=next(keys), weights=w) for layer, w in zip(network.layers, weights))
    return network, states


__all__ = ["ConversionError", "to_analog"]
