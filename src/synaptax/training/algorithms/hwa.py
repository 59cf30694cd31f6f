"""Hardware-aware training: float training with the hardware's imperfections injected, for
networks that will be programmed into devices afterwards (``synaptax evaluate``).

Every step draws fresh Gaussian noise on every weight matrix (additive, standard deviation
``weight_noise`` × the layer's largest weight magnitude, as aihwkit's ``ADD_NORMAL`` weight
modifier and Joshi et al., *Nat. Commun.* 11, 2473 (2020), who train with additive noise
relative to the largest weight), so the network learns weights whose accuracy survives
programming noise, drift and read noise.  Optionally the converters are in the loop:
each layer's inputs are quantised to ``dac_bits`` and its outputs to ``adc_bits``
(per-vector abs-max ranges, straight-through gradients) as a tile's DAC and ADC would.
The gradient is exact (it is float training); the forward pass sees the noise.

The weights stay digital (a float network); ``synaptax evaluate`` programs them into the
run's device (or another) and measures accuracy over time.
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .float_reference import FloatReference

#: Default relative weight noise of hardware-aware training [assumed: of the order of the
#: additive noise Joshi et al. (2020) train with, a few percent of the largest weight].
DEFAULT_WEIGHT_NOISE = 0.04


def _quantise(x, bits: int):
    """Symmetric uniform quantisation of each vector (last axis) to ``bits`` bits of its
    abs-max range, with a straight-through gradient; ``bits = 0``: unchanged."""
    if not bits:
        return x
    levels = 2 ** (bits - 1) - 1
    scale = jnp.max(jnp.abs(x), axis=-1, keepdims=True) / levels
    scale = jnp.where(scale > 0, scale, 1.0)
    q = jnp.round(x / scale) * scale
    return x + jax.lax.stop_gradient(q - x)


def _noisy(model, sigma, key):
    """``model`` with every weight matrix (arrays of ≥ 2 dimensions) perturbed by
    ``N(0, (sigma · max|W|)²)``, a fresh draw per matrix."""
    leaves, tree = jax.tree_util.tree_flatten(model)
    out = []
    for i, leaf in enumerate(leaves):
        if eqx.is_inexact_array(leaf) and leaf.ndim >= 2:
            noise = jax.random.normal(jax.random.fold_in(key, i), leaf.shape, leaf.dtype)
            leaf = leaf + jax.lax.stop_gradient(sigma * jnp.max(jnp.abs(leaf))) * noise
        out.append(leaf)
    return jax.tree_util.tree_unflatten(tree, out)


def _forward(model, x, dac_bits: int, adc_bits: int):
    """The float network's forward pass with its layers' inputs and outputs quantised."""
    from ..network import FloatMLP, FloatNetwork

    if not (dac_bits or adc_bits):
        return model(x)
    if isinstance(model, FloatMLP):
        from ..layers import ACTIVATIONS

        h = x
        for i, (w, b) in enumerate(zip(model.weights, model.biases)):
            h = _quantise(_quantise(h, dac_bits) @ w.T, adc_bits) + b
            if i < len(model.weights) - 1:
                h = ACTIVATIONS[model.activation](h)
        return h
    assert isinstance(model, FloatNetwork)
    from ..network import FloatConv2d

    h = x
    for op in model.ops[0]:
        h = op(h)
    for layer, after in zip(model.layers, model.ops[1:]):
        if isinstance(layer, FloatConv2d):
            # quantise per patch vector (channels of a pixel: the patch's values as a tile sees
            # them would be the DAC's; per pixel over channels is the close, cheap proxy)
            hq = jnp.moveaxis(_quantise(jnp.moveaxis(h, 1, -1), dac_bits), -1, 1)
            y = layer(hq) - layer.bias[:, None, None]
            y = jnp.moveaxis(_quantise(jnp.moveaxis(y, 1, -1), adc_bits), -1, 1) + layer.bias[:, None, None]
        else:
            y = _quantise(_quantise(h, dac_bits) @ layer.weight.T, adc_bits) + layer.bias
        h = y
        for op in after:
            h = op(h)
    return h


class HardwareAware(FloatReference):
    """Hardware-aware float training (module docstring).

    Attributes:
        weight_noise: relative standard deviation of the additive weight noise (of each
            layer's largest weight magnitude); 0 trains without noise.
        dac_bits, adc_bits: converter resolutions in the loop (0: not simulated).
    """

    name: ClassVar[str] = "hwa"
    analog: ClassVar[bool] = False
    weight_noise: float = eqx.field(default=DEFAULT_WEIGHT_NOISE, kw_only=True)
    dac_bits: int = eqx.field(default=0, kw_only=True, static=True)
    adc_bits: int = eqx.field(default=0, kw_only=True, static=True)

    def __check_init__(self):
        if not 0 <= float(self.weight_noise) < 10:
            raise ValueError(f"weight_noise must lie in [0, 10), got {self.weight_noise}")
        for name in ("dac_bits", "adc_bits"):
            v = getattr(self, name)
            if v == 1 or v < 0:
                raise ValueError(f"{name} must be 0 (off) or >= 2, got {v}")

    def _logits(self, model, x, *, key):
        """The forward pass through fresh noisy weights (and the converters, when in the loop);
        its gradient is taken at the noisy weights and applied to the clean ones."""
        return _forward(_noisy(model, self.weight_noise, key), x, self.dac_bits, self.adc_bits)


__all__ = ["DEFAULT_WEIGHT_NOISE", "HardwareAware"]
