"""Digital-to-analogue and analogue-to-digital converters at the edge of a tile.

:mod:`.base` holds the interface a tile relies on (:class:`AbstractDAC`,
:class:`AbstractADC`: ``__call__``, ``energy``, ``bits``, and the ADC's ``full_scale``),
:mod:`.uniform` the default uniform symmetric quantisers (:class:`UniformDAC`,
:class:`UniformADC`, also named :data:`DAC` and :data:`ADC`).  To add a converter model,
write one file here with a subclass of the abstract class and export it below: e.g. a SAR
ADC with its own energy law, a ramp (single-slope) ADC, or bit-sliced inputs.

Gradients through the converters are straight-through (see :func:`quantize`).  In an
analog layer, though, the gradient of the layer output with respect to its input is not
the gradient through these converters at all: the layer's custom VJP
(:func:`~synaptax.training.layers.analog_matmul`) runs the tile's transposed (backward)
read, which passes the error through the tile's own DAC and ADC again, so
``grad(sum(forward))`` equals the analog backward read of a vector of ones, not the exact
``Wᵀ·1``.
"""
from .base import AbstractADC, AbstractDAC
from .uniform import ADC, DAC, UniformADC, UniformDAC, ideal_adc, ideal_dac, quantize

__all__ = [
    "ADC", "AbstractADC", "AbstractDAC", "DAC", "UniformADC", "UniformDAC",
    "ideal_adc", "ideal_dac", "quantize",
]
