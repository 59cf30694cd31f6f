"""Circuits at the edge of and around the array: converters, the IR-drop network solve and
the first-order latency and area model (``costs``)."""
from .converters import ADC, DAC, AbstractADC, AbstractDAC, UniformADC, UniformDAC, ideal_adc, ideal_dac, quantize
from .costs import (
    CellArea,
    CrossbarArea,
    Periphery,
    cell_area,
    crossbar_area,
    format_costs,
    mvm_latency,
    pulse_period,
    run_costs,
    write_latency,
)
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
    "ADC", "AbstractADC", "AbstractDAC", "DAC", "IRDropConvergenceError", "UniformADC", "UniformDAC", "IRDropSolution",
    "IRDropStatus", "PowerBalance", "crossbar_currents", "ideal_adc", "ideal_dac", "quantize", "solve_crossbar",
    "wire_resistance_per_segment",
    # costs: first-order latency and area
    "CellArea", "CrossbarArea", "Periphery", "cell_area", "crossbar_area", "format_costs", "mvm_latency",
    "pulse_period", "run_costs", "write_latency",
]
