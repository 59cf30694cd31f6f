"""Circuits at the edge of and around the array: converters and the IR-drop network solve."""
from .converters import ADC, DAC, AbstractADC, AbstractDAC, UniformADC, UniformDAC, ideal_adc, ideal_dac, quantize
from .irdrop import (
    IRDropConvergenceError,
    IRDropSolution,
    IRDropStatus,
    PowerBalance,
    crossbar_currents,
    solve_crossbar,
    wire_resistance_per_segment,
)

__all__ = [
    "ADC", "AbstractADC", "AbstractDAC", "DAC", "IRDropConvergenceError", "UniformADC", "UniformDAC", "IRDropSolution", "IRDropStatus", "PowerBalance",
    "crossbar_currents", "ideal_adc", "ideal_dac", "quantize", "solve_crossbar", "wire_resistance_per_segment",
]
