"""Network descriptions: what ``--network`` accepts, and the networks they build.

A description is a name or a comma-separated list of layers (the output layer, one unit
per class, is always added):

* ``mlp`` (the hidden sizes of ``TrainConfig.hidden``), ``mlp:256,128`` (hidden sizes);
* ``lenet5``: conv 5×5×6, max-pool 2, conv 5×5×16, max-pool 2, 120, 84 (LeCun et al.
  1998, without the 32×32 padding: on 28×28 MNIST the second pool leaves 16×4×4);
* ``vgg-small``: two 3×3 convolutions of 16 channels ('same' padding), max-pool 2, two of
  32, max-pool 2, 128 (a VGG-like network small enough for a CPU);
* a list: ``conv<OUT>k<K>[s<S>][p<P>|same]`` (convolution, stride ``S``, padding ``P``),
  ``pool<K>`` (max), ``avgpool<K>``, ``fc<N>`` (fully connected), e.g.
  ``conv8k3same,pool2,fc64``.

The hidden activation follows every convolution and every hidden fully connected layer; a
flatten is put before the first fully connected layer after a convolution.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable

import jax

#: Named architectures as layer lists.
NAMED = {
    "lenet5": "conv6k5,pool2,conv16k5,pool2,fc120,fc84",
    "vgg-small": "conv16k3same,conv16k3same,pool2,conv32k3same,conv32k3same,pool2,fc128",
}


class NetworkSpecError(ValueError):
    """A network description that does not parse (the message names it)."""


@dataclasses.dataclass(frozen=True)
class Conv:
    out: int
    kernel: int
    stride: int = 1
    padding: int | str = 0


@dataclasses.dataclass(frozen=True)
class Pool:
    size: int
    kind: str = "max"


@dataclasses.dataclass(frozen=True)
class Dense:
    out: int


_CONV = re.compile(r"conv(\d+)k(\d+)(?:s(\d+))?(?:p(\d+)|(same))?")
_POOL = re.compile(r"(avg)?pool(\d+)")
_FC = re.compile(r"fc(\d+)")


def parse_network(spec: str, hidden: tuple[int, ...] = (100,)) -> tuple:
    """The layers of a description (module docstring), without the output layer.

    Raises:
        NetworkSpecError: one line naming the description and the part that does not parse.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise NetworkSpecError(f"network must be a description such as 'mlp:256,128' or 'lenet5', got {spec!r}")
    text = spec.strip().lower()
    if text == "mlp":
        return tuple(Dense(h) for h in hidden)
    if text.startswith("mlp:"):
        sizes = text[4:].split(",")
        try:
            values = [int(v) for v in sizes]
        except ValueError:
            raise NetworkSpecError(f"network {spec!r}: 'mlp:' takes hidden sizes as integers, e.g. 'mlp:256,128'"
                                   ) from None
        if any(v < 1 for v in values):
            raise NetworkSpecError(f"network {spec!r}: hidden sizes must be >= 1")
        return tuple(Dense(v) for v in values)
    text = NAMED.get(text, text)
    layers = []
    for part in text.split(","):
        part = part.strip()
        if m := _CONV.fullmatch(part):
            out, k, s, p, same = m.groups()
            layer = Conv(int(out), int(k), int(s or 1), "same" if same else int(p or 0))
            if layer.out < 1 or layer.kernel < 1 or layer.stride < 1:
                raise NetworkSpecError(f"network {spec!r}: {part!r} needs channels, kernel and stride >= 1")
            if same and (layer.kernel % 2 == 0 or layer.stride != 1):
                raise NetworkSpecError(f"network {spec!r}: {part!r}: 'same' padding needs an odd kernel and stride 1")
            layers.append(layer)
        elif m := _POOL.fullmatch(part):
            if int(m.group(2)) < 1:
                raise NetworkSpecError(f"network {spec!r}: {part!r} needs a size >= 1")
            layers.append(Pool(int(m.group(2)), "avg" if m.group(1) else "max"))
        elif m := _FC.fullmatch(part):
            if int(m.group(1)) < 1:
                raise NetworkSpecError(f"network {spec!r}: {part!r} needs a size >= 1")
            layers.append(Dense(int(m.group(1))))
        else:
            raise NetworkSpecError(
                f"network {spec!r}: cannot read {part!r}; use mlp, mlp:N,N, {', '.join(NAMED)}, or a list of "
                "conv<OUT>k<K>[s<S>][p<P>|same], pool<K>, avgpool<K>, fc<N>")
    return tuple(layers)


def is_mlp(layers) -> bool:
    return all(isinstance(layer, Dense) for layer in layers)


def _plan(layers, input_shape, classes):
    """``[(kind, args, in_shape)]`` with flatten and the output layer in place; checks that
    every layer fits the shape it gets."""
    shape = tuple(input_shape)
    out = []
    for layer in tuple(layers) + (Dense(classes),):
        if isinstance(layer, Conv):
            if len(shape) != 3:
                raise NetworkSpecError(f"a convolution needs image inputs (C, H, W); the data's samples have "
                                       f"shape {shape}")
            pad = layer.kernel // 2 if layer.padding == "same" else layer.padding
            hw = [(n + 2 * pad - layer.kernel) // layer.stride + 1 for n in shape[1:]]
            if min(hw) < 1:
                raise NetworkSpecError(f"conv{layer.out}k{layer.kernel} does not fit {shape[1]}x{shape[2]} inputs")
            out.append(("conv", layer, shape, pad))
            shape = (layer.out, *hw)
        elif isinstance(layer, Pool):
            if len(shape) != 3:
                raise NetworkSpecError("pooling needs image inputs (C, H, W); put it after a convolution")
            hw = [(n - layer.size) // layer.size + 1 for n in shape[1:]]
            if min(hw) < 1:
                raise NetworkSpecError(f"pool{layer.size} does not fit {shape[1]}x{shape[2]} inputs")
            out.append(("pool", layer, shape, None))
            shape = (shape[0], *hw)
        else:
            if len(shape) != 1:
                out.append(("flatten", None, shape, None))
                shape = (math.prod(shape),)
            out.append(("dense", layer, shape, None))
            shape = (layer.out,)
    return out


def build_analog(layers, input_shape, classes: int, *, activation: str,
                 crossbar: Callable[[int, int], object]):
    """The :class:`~synaptax.training.network.AnalogNetwork` of parsed ``layers`` for samples
    of ``input_shape`` and ``classes`` outputs; ``crossbar(in_features, out_features)``
    makes each layer's crossbar.  An all-dense description builds an
    :class:`~synaptax.training.network.AnalogMLP` (inputs flat)."""
    from .layers import AnalogConv2d, AnalogLinear
    from .network import Activation, AnalogMLP, AnalogNetwork, AvgPool2d, Flatten, MaxPool2d

    flat = math.prod(input_shape)
    if is_mlp(layers):
        sizes = [flat, *(d.out for d in layers), classes]
        return AnalogMLP([crossbar(a, b) for a, b in zip(sizes[:-1], sizes[1:])], activation=activation)
    plan = _plan(layers, input_shape, classes)
    elements = []
    for i, (kind, layer, shape, pad) in enumerate(plan):
        last = i == len(plan) - 1
        if kind == "conv":
            c = crossbar(shape[0] * layer.kernel ** 2, layer.out)
            elements += [AnalogConv2d(c, shape[0], layer.kernel, stride=layer.stride, padding=pad),
                         Activation(activation)]
        elif kind == "pool":
            elements.append(MaxPool2d(layer.size) if layer.kind == "max" else AvgPool2d(layer.size))
        elif kind == "flatten":
            elements.append(Flatten())
        else:
            elements.append(AnalogLinear(crossbar(shape[0], layer.out)))
            if not last:
                elements.append(Activation(activation))
    return AnalogNetwork(elements, input_shape=input_shape)


def build_float(layers, input_shape, classes: int, *, activation: str, key):
    """The float reference of the same description (a
    :class:`~synaptax.training.network.FloatMLP` for an all-dense one, else a
    :class:`~synaptax.training.network.FloatNetwork`); weights initialised from ``key``."""
    from .network import (Activation, AvgPool2d, Flatten, FloatConv2d, FloatDense, FloatMLP, FloatNetwork,
                          MaxPool2d)

    flat = math.prod(input_shape)
    if is_mlp(layers):
        return FloatMLP([flat, *(d.out for d in layers), classes], key=key, activation=activation)
    plan = _plan(layers, input_shape, classes)
    keys = iter(jax.random.split(key, len(plan)))
    elements = []
    for i, (kind, layer, shape, pad) in enumerate(plan):
        last = i == len(plan) - 1
        if kind == "conv":
            elements += [FloatConv2d.create(shape[0], layer.out, layer.kernel, key=next(keys), stride=layer.stride,
                                            padding=((pad, pad), (pad, pad))), Activation(activation)]
        elif kind == "pool":
            elements.append(MaxPool2d(layer.size) if layer.kind == "max" else AvgPool2d(layer.size))
        elif kind == "flatten":
            elements.append(Flatten())
        else:
            elements.append(FloatDense.create(shape[0], layer.out, key=next(keys)))
            if not last:
                elements.append(Activation(activation))
    return FloatNetwork(elements, input_shape=input_shape)


__all__ = ["NAMED", "NetworkSpecError", "build_analog", "build_float", "is_mlp", "parse_network"]
