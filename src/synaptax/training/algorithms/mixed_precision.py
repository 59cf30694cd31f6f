"""Mixed precision (Nandakumar et al., Front. Neurosci. 2020 [pub]).

The optax optimiser computes the desired update of every weight digitally from the outer
product; it is accumulated in a digital buffer ``χ`` and, wherever ``|χ| ≥ dw_min``,
programmed as ``trunc(χ/dw_min)`` pulses, which are subtracted from ``χ``:
``chain(OuterGradient(), Optax(optimizer), Accumulate(), ProgrammedPulses(stochastic_rounding=False))``.
"""
from __future__ import annotations

from typing import ClassVar

from ...arrays.updates import Accumulate, Optax, OuterGradient, ProgrammedPulses, chain
from .base import AnalogAlgorithm


class MixedPrecision(AnalogAlgorithm):
    """Mixed-precision training: digital optimiser and accumulator, programmed pulses."""

    name: ClassVar[str] = "mixed-precision"

    @property
    def update_rule(self):
        return chain(OuterGradient(), Optax(self.optimizer), Accumulate(), ProgrammedPulses(stochastic_rounding=False))


__all__ = ["MixedPrecision"]
