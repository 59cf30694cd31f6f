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
  reads.

A convolution (issue: networks beyond the MLP) is one more class implementing it.
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


class AnalogLinear(AbstractAnalogLayer):
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
        if self.bias is not None:
            y = y + self.bias
        return y, LayerTrace(x.reshape(-1, self.crossbar.in_features), energy)


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
    "ACTIVATIONS", "AbstractAnalogLayer", "AnalogLinear", "LayerProbe", "LayerTrace", "analog_matmul",
]
