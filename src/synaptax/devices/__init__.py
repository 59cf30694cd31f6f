"""Per-cell device physics: state, pulses, time, readout.

Every family implements :class:`AbstractDevice` (``init``, ``apply_pulses``, ``evolve``,
``conductance``, ``read``, ``pulse_energy``).  See ``README.md`` in this folder.
"""
from .base import AbstractDevice, PulseCounts, split_pulses
from .constant_step import ConstantStepDevice
from .ecram import ECRAMDevice, ECRAMGeometry, ECRAMState
from .exp_step import ExpStepDevice
from .ferrimagnet import OE, CoGdDevice, CoGdState, cogd_array, cogd_hall_bar
from .linear_step import LinearStepDevice, SoftBoundsDevice
from .lookup_table import LookupTableDevice
from .magnetoionic import MagnetoIonicState, MagnetoIonicSynapse, NitrideFilm, PulseTrain
from .pow_step import PowStepDevice
from .presets import PRESETS, get_preset
from .pulsed import AbstractPulsedDevice, PulsedState
from .variability import Variability

__all__ = [
    "OE", "CoGdDevice", "CoGdState", "cogd_array", "cogd_hall_bar",
    "ECRAMDevice", "ECRAMGeometry", "ECRAMState",
    "MagnetoIonicState", "MagnetoIonicSynapse", "NitrideFilm", "PulseTrain",
    "AbstractDevice", "AbstractPulsedDevice", "ConstantStepDevice", "ExpStepDevice", "LinearStepDevice",
    "LookupTableDevice", "PRESETS", "PowStepDevice", "PulseCounts", "PulsedState", "SoftBoundsDevice",
    "Variability", "get_preset", "split_pulses",
]
