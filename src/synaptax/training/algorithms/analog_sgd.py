"""Analog SGD: every layer updated in place by stochastic pulse coincidence.

Each layer's input ``x`` and back-propagated error ``d = −∂L/∂y`` drive the rows and
columns (:class:`~synaptax.arrays.updates.StochasticCoincidence`), scaled by the optax
schedule's learning rate.  Optax's full optimiser (momentum, Adam, …) updates the digital
biases; a coincidence update can only realise a scaled outer product, so the analog weights
take the plain SGD direction.
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx

from ...arrays.updates import StochasticCoincidence
from .base import AnalogAlgorithm


class AnalogSGD(AnalogAlgorithm):
    """Analog SGD by pulse coincidence.

    Attributes:
        bit_length: coincidence pulse slots per sample (the longest train).
    """

    name: ClassVar[str] = "analog-sgd"
    bit_length: int = eqx.field(default=31, static=True, kw_only=True)

    @property
    def update_rule(self):
        return StochasticCoincidence(bit_length=self.bit_length)


__all__ = ["AnalogSGD"]
