"""Spintronic synapses: the compensated Co/Gd ferrimagnet switched by spin-orbit torque."""
from .cogd import COGD_PRESETS as PRESETS
from .cogd import OE, CoGdDevice, CoGdState, cogd_array, cogd_hall_bar

__all__ = ["OE", "CoGdDevice", "CoGdState", "PRESETS", "cogd_array", "cogd_hall_bar"]
