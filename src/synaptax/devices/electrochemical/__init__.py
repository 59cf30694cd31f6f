"""Electrochemical ionic synapses (ECRAM: Mg²⁺, H⁺, O²⁻ in WO₃) and their presets."""
from .ecram import AJ_PER_UM2_PER_NS, ECRAMDevice, ECRAMGeometry, ECRAMState, normalized_pulse_energy
from .presets import PRESETS

__all__ = ["AJ_PER_UM2_PER_NS", "ECRAMDevice", "ECRAMGeometry", "ECRAMState", "PRESETS", "normalized_pulse_energy"]
