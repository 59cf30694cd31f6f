"""Analog layers: crossbar-backed layers usable inside equinox/JAX models, and the layer
interface the networks and training algorithms rely on.

A layer's *parameters* (digital bias) live in the Module; its *analog weights* are the
crossbar's device state, passed in and returned like any other mutable buffer.  The
forward pass is the crossbar's analog MVM; the backward pass (through
:func:`analog_matmul`'s custom VJP) is the crossbar's analog transposed MVM on the same
read, so errors are propagated by the hardware, with its converters and noise, as in
analog training.  **The gradient of a layer's output with respect to its input is
therefore the tile's backward read** (the error through the DAC, the transposed array,
IR drop when on, read noise and the ADC), not the exact ``Wᵀ g``: with ideal converters,
ideal wires and no noise the two agree to rounding; with the default 7-bit DAC / 9-bit ADC
they differ by the quantisation of the backward read.  Weight updates are not gradients of
this function: they are applied to the crossbar state by update rules
(:mod:`synaptax.arrays.updates`, driven by :mod:`synaptax.training.algorithms`).

The layer interface (:class:`AbstractAnalogLayer`):

* ``crossbar`` — the :class:`~synaptax.arrays.Crossbar` whose weights the algorithms train;
  ``bias`` — the digital bias or None;
* ``init_state(*, key)`` — the crossbar state;
* ``probe(in_shape)`` — a zero :class:`LayerProbe` for inputs of shape ``in_shape``;
* ``output_shape(in_shape)``;
* ``__call__(state, x, *, key, probe=None) -> (y, LayerTrace)`` — the trace holds the
  crossbar's row inputs as a ``(n, in_features)`` matrix (what a coincidence update needs)
  and the energy of the forward reads; the probe's output part is added to the crossbar's
  output (its gradient is the error ``∂L/∂y``, reshaped to ``(n, out_features)`` for the
  update) and its energy part receives, as its gradient, the energy [J] of the backward
  reads;
* ``output_scale`` — a digital scale multiplied into the crossbar's output before the bias
  (1 in training; global drift compensation sets it after deployment);
* ``vectors_per_sample(in_shape)`` — crossbar reads per sample (1 for a linear layer, the
  number of patches for a convolution).

:class:`AnalogLinear` and :class:`AnalogConv2d` implement it.
"""
from __future__ import annotations

import abc
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..arrays import Crossbar, CrossbarState, MVMEnergy
from ..arrays.tile import vector_count


class LayerProbe(NamedTuple):
    """Zero inputs whose gradients carry what a training step needs out of the backward pass.

    Attributes:
        output: added to the crossbar's output (its shape); gradient: ``∂L/∂y``.
        energy: zero :class:`~synaptax.arrays.MVMEnergy`; gradient: the energy [J] of the
            layer's backward (transposed) reads.
    """

    output: Array
    energy: MVMEnergy


class LayerTrace(NamedTuple):
    """What a layer's forward pass leaves for the update.

    Attributes:
        inputs: the crossbar's row inputs, ``(n, in_features)``.
        energy: energy [J] of the forward reads.
    """

    inputs: Array
    energy: MVMEnergy


@eqx.filter_custom_vjp
def _analog_matmul(vjp_arg, crossbar, state, key):
    x, _ = vjp_arg
    k_read, k_fwd, _ = jax.random.split(key, 3)
    read = crossbar.read(state, key=k_read, batch=vector_count(x))
    return crossbar.forward_read(read, x, key=k_fwd)


@_analog_matmul.def_fwd
def _analog_matmul_fwd(perturbed, vjp_arg, crossbar, state, key):
    x, _ = vjp_arg
    k_read, k_fwd, _ = jax.random.split(key, 3)
    read = crossbar.read(state, key=k_read, batch=vector_count(x))
    return crossbar.forward_read(read, x, key=k_fwd), read


@_analog_matmul.def_bwd
def _analog_matmul_bwd(read, grad_obj, perturbed, vjp_arg, crossbar, state, key):
    x, probe = vjp_arg
    g_y = grad_obj[0]
    x_perturbed, probe_perturbed = perturbed
    no_energy = MVMEnergy(None, None, None, None)
    if not x_perturbed or g_y is None:
        # nothing needs the input's gradient (e.g. the first layer): no backward read runs
        return None, no_energy
    dx, energy = crossbar.backward_read(read, g_y, key=jax.random.split(key, 3)[2])
    energy = MVMEnergy(*(e.astype(p.dtype) if wanted else None
                         for e, p, wanted in zip(energy, probe, probe_perturbed)))
    return dx.astype(x.dtype), energy


def analog_matmul(crossbar: Crossbar, state: CrossbarState, x: Array, key: PRNGKeyArray, *,
                  energy_probe: MVMEnergy | None = None) -> tuple[Array, MVMEnergy]:
    """``y = W x`` on the crossbar, differentiable in ``x`` through the analog ``Wᵀ``.

    One read of the crossbar (:meth:`~synaptax.arrays.Crossbar.read`; with IR drop the
    tiles' networks prepared once) serves the forward MVM, its energy and the backward MVM.

    Args:
        crossbar: the crossbar configuration.
        state: its state (no gradient flows to it).
        x: inputs ``(..., in_features)``.
        key: PRNG key, split into the read's, the forward MVM's and the backward MVM's.
        energy_probe: optional zero :class:`~synaptax.arrays.MVMEnergy`; its gradient is the
            energy [J] of the backward read (zero when the input needs no gradient, as for
            a network's first layer, where no backward read runs).

    Returns:
        ``(y (..., out_features), energy of the forward read [J])``.  Gradient with respect
        to ``x``: the crossbar's transposed read of the cotangent (module docstring).
    """
    probe = MVMEnergy.zeros() if energy_probe is None else energy_probe
    return _analog_matmul((x, probe), crossbar, jax.lax.stop_gradient(state), key)


class AbstractAnalogLayer(eqx.Module):
    """The layer interface (module docstring)."""

    crossbar: eqx.AbstractVar[Crossbar]
    bias: eqx.AbstractVar[Array | None]
    output_scale: eqx.AbstractVar[Array]

    @abc.abstractmethod
    def init_state(self, *, key: PRNGKeyArray) -> CrossbarState:
        """The crossbar state, weights initialised."""

    @abc.abstractmethod
    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output for an input of shape ``in_shape``."""

    @abc.abstractmethod
    def probe(self, in_shape: tuple[int, ...]) -> LayerProbe:
        """A zero probe for inputs of shape ``in_shape``."""

    @abc.abstractmethod
    def __call__(self, state: CrossbarState, x: Array, *, key: PRNGKeyArray,
                 probe: LayerProbe | None = None) -> tuple[Array, LayerTrace]:
        """``(output, trace)`` of inputs ``x``."""

    def vectors_per_sample(self, in_shape: tuple[int, ...]) -> int:
        """Input vectors the crossbar reads (MVMs) per sample of shape ``in_shape`` (one
        sample, no batch axis); 1 unless a layer says otherwise."""
        return 1


class AnalogLinear(AbstractAnalogLayer):
    """Linear layer whose weight matrix is held in a :class:`~synaptax.arrays.Crossbar`.

    Attributes:
        crossbar: configuration of the tile(s).
        bias: digital bias, shape ``(out_features,)``, or None.
    """

    crossbar: Crossbar
    bias: Array | None
    output_scale: Array

    def __init__(self, crossbar: Crossbar, *, use_bias: bool = True, output_scale: float = 1.0):
        self.crossbar = crossbar
        self.bias = jnp.zeros((crossbar.out_features,)) if use_bias else None
        self.output_scale = jnp.asarray(output_scale, dtype=float)

    def init_state(self, *, key: PRNGKeyArray) -> CrossbarState:
        """Crossbar state programmed to uniform random weights in ``±1/√in_features``."""
        k_w, k_dev = jax.random.split(key)
        bound = 1.0 / jnp.sqrt(self.crossbar.in_features)
        w = jax.random.uniform(k_w, (self.crossbar.out_features, self.crossbar.in_features),
                               minval=-bound, maxval=bound)
        return self.crossbar.init(key=k_dev, weights=w)

    def output_shape(self, in_shape):
        return tuple(in_shape[:-1]) + (self.crossbar.out_features,)

    def probe(self, in_shape):
        return LayerProbe(jnp.zeros(self.output_shape(in_shape)), MVMEnergy.zeros())

    def __call__(self, state: CrossbarState, x: Array, *, key: PRNGKeyArray,
                 probe: LayerProbe | None = None) -> tuple[Array, LayerTrace]:
        """``(W x + b, trace)`` for ``x`` of shape ``(..., in_features)``."""
        y, energy = analog_matmul(self.crossbar, state, x, key,
                                  energy_probe=None if probe is None else probe.energy)
        if probe is not None:
            y = y + probe.output
        y = y * self.output_scale
        if self.bias is not None:
            y = y + self.bias
        return y, LayerTrace(x.reshape(-1, self.crossbar.in_features), energy)

    def vectors_per_sample(self, in_shape: tuple[int, ...]) -> int:
        """Input vectors (crossbar MVMs) per sample: 1."""
        return 1




def _pair(v, name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or any(isinstance(a, bool) or not isinstance(a, int) for a in t):
        raise ValueError(f"{name} must be an integer or a pair of integers, got {v!r}")
    return t


class AnalogConv2d(AbstractAnalogLayer):
    """2-D convolution on a crossbar: every input patch is one analog MVM.

    The kernel ``(out_channels, in_channels, kh, kw)`` is held as an
    ``(out_channels, in_channels·kh·kw)`` weight matrix in the crossbar (rows: the patch's
    values, channel-major as ``eqx.nn.Conv2d`` flattens its weight).  A batch's patches are
    read together — the same tile read serves them all, with the tile's DAC, ADC, read
    noise and, when on, the IR-drop network — and the backward pass is the transposed read
    of the patches' errors (summed back onto the input by the patch extraction's
    transpose).  Updates see the patches as the rows of the outer product: a batch of
    ``n`` images with ``P`` patches each is ``n·P`` rows (aihwkit's convolution does the
    same).

    Layout: inputs ``(batch, in_channels, H, W)``, outputs ``(batch, out_channels, H', W')``
    (NCHW, as equinox).

    Attributes:
        crossbar: ``in_features = in_channels·kh·kw``, ``out_features = out_channels``.
        bias: digital bias ``(out_channels,)`` or None.
        output_scale: digital scale of the crossbar output (1; see the module docstring).
        in_channels, kernel_size, stride, padding: as ``jax.lax.conv_general_dilated``
            (``padding`` a pair of ``(low, high)`` pairs).
    """

    crossbar: Crossbar
    bias: Array | None
    output_scale: Array
    in_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: tuple[tuple[int, int], tuple[int, int]] = eqx.field(static=True)

    def __init__(self, crossbar: Crossbar, in_channels: int, kernel_size, *, stride=1, padding=0,
                 use_bias: bool = True, output_scale: float = 1.0):
        """``padding``: an integer (both sides of both axes), a pair (per axis), a pair of
        ``(low, high)`` pairs, or ``"same"`` (odd kernels, stride 1: output size = input
        size)."""
        kh, kw = _pair(kernel_size, "kernel_size")
        if kh < 1 or kw < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be an integer >= 1, got {in_channels!r}")
        if crossbar.in_features != in_channels * kh * kw:
            raise ValueError(f"the crossbar has {crossbar.in_features} inputs; a {kh}x{kw} kernel over "
                             f"{in_channels} channels needs {in_channels * kh * kw}")
        sh, sw = _pair(stride, "stride")
        if sh < 1 or sw < 1:
            raise ValueError(f"stride must be >= 1, got {stride!r}")
        if padding == "same":
            if kh % 2 == 0 or kw % 2 == 0 or (sh, sw) != (1, 1):
                raise ValueError("padding='same' needs an odd kernel and stride 1")
            pad = ((kh // 2, kh // 2), (kw // 2, kw // 2))
        elif isinstance(padding, int) and not isinstance(padding, bool):
            pad = ((padding, padding), (padding, padding))
        else:
            try:
                pad = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
            except TypeError:
                raise ValueError(f"padding must be an integer, pairs or 'same', got {padding!r}") from None
            if len(pad) != 2 or any(len(p) != 2 for p in pad):
                raise ValueError(f"padding must be an integer, pairs or 'same', got {padding!r}")
        if any(isinstance(a, bool) or not isinstance(a, int) or a < 0 for p in pad for a in p):
            raise ValueError(f"padding must be integers >= 0, got {padding!r}")
        self.crossbar = crossbar
        self.bias = jnp.zeros((crossbar.out_features,)) if use_bias else None
        self.output_scale = jnp.asarray(output_scale, dtype=float)
        self.in_channels = in_channels
        self.kernel_size = (kh, kw)
        self.stride = (sh, sw)
        self.padding = (tuple(pad[0]), tuple(pad[1]))

    @property
    def out_channels(self) -> int:
        return self.crossbar.out_features

    def init_state(self, *, key: PRNGKeyArray) -> CrossbarState:
        """Crossbar state programmed to uniform random weights in ``±1/√fan_in``
        (``fan_in = in_channels·kh·kw``)."""
        k_w, k_dev = jax.random.split(key)
        bound = 1.0 / jnp.sqrt(self.crossbar.in_features)
        w = jax.random.uniform(k_w, (self.crossbar.out_features, self.crossbar.in_features),
                               minval=-bound, maxval=bound)
        return self.crossbar.init(key=k_dev, weights=w)

    def _spatial(self, in_shape) -> tuple[int, int]:
        if len(in_shape) < 3 or in_shape[-3] != self.in_channels:
            raise ValueError(f"a convolution over {self.in_channels} channels needs inputs (..., "
                             f"{self.in_channels}, H, W), got shape {tuple(in_shape)}")
        out = []
        for n, k, s, (lo, hi) in zip(in_shape[-2:], self.kernel_size, self.stride, self.padding):
            m = (n + lo + hi - k) // s + 1
            if m < 1:
                raise ValueError(f"a {self.kernel_size[0]}x{self.kernel_size[1]} kernel does not fit inputs of "
                                 f"{in_shape[-2]}x{in_shape[-1]} pixels (padding {self.padding})")
            out.append(m)
        return out[0], out[1]

    def output_shape(self, in_shape):
        h, w = self._spatial(in_shape)
        return tuple(in_shape[:-3]) + (self.out_channels, h, w)

    def vectors_per_sample(self, in_shape) -> int:
        """Patches per sample: ``H'·W'``."""
        h, w = self._spatial(in_shape)
        return h * w

    def probe(self, in_shape):
        h, w = self._spatial(in_shape)
        return LayerProbe(jnp.zeros(tuple(in_shape[:-3]) + (h, w, self.out_channels)), MVMEnergy.zeros())

    def patches(self, x: Array) -> Array:
        """The patches of ``x (batch, C, H, W)`` as ``(batch, H', W', C·kh·kw)``."""
        p = jax.lax.conv_general_dilated_patches(x, self.kernel_size, self.stride, self.padding,
                                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return jnp.moveaxis(p, 1, -1)

    def __call__(self, state: CrossbarState, x: Array, *, key: PRNGKeyArray,
                 probe: LayerProbe | None = None) -> tuple[Array, LayerTrace]:
        """``(conv(W, x) + b, trace)`` for ``x`` of shape ``(batch, in_channels, H, W)``;
        the trace's inputs are the patches ``(batch·H'·W', in_channels·kh·kw)``."""
        self._spatial(x.shape)
        if x.ndim != 4:
            raise ValueError(f"AnalogConv2d needs inputs (batch, C, H, W), got shape {x.shape}")
        p = self.patches(x)
        y, energy = analog_matmul(self.crossbar, state, p, key,
                                  energy_probe=None if probe is None else probe.energy)
        if probe is not None:
            y = y + probe.output  # (batch, H', W', out): the layout the update reshapes
        y = y * self.output_scale
        if self.bias is not None:
            y = y + self.bias
        return jnp.moveaxis(y, -1, 1), LayerTrace(p.reshape(-1, self.crossbar.in_features), energy)


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
    "ACTIVATIONS", "AbstractAnalogLayer", "AnalogConv2d", "AnalogLinear", "LayerProbe", "LayerTrace", "analog_matmul",
]
