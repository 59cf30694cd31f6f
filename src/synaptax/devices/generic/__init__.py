"""Generic pulsed devices: one conductance per cell moved by a per-pulse law (constant,
linear, soft-bounds, exponential, power step, measured lookup table), an optional
relaxation toward a rest state (:class:`Relaxation`), and their presets."""
from .constant_step import ConstantStepDevice
from .exp_step import ExpStepDevice
from .linear_step import LinearStepDevice, SoftBoundsDevice
from .lookup_table import LookupTableDevice
from .pow_step import PowStepDevice
from .presets import PRESETS
from .pulsed import AbstractPulsedDevice, PulsedState
from .relaxation import Relaxation

__all__ = ["AbstractPulsedDevice", "ConstantStepDevice", "ExpStepDevice", "LinearStepDevice", "LookupTableDevice",
           "PRESETS", "PowStepDevice", "PulsedState", "Relaxation", "SoftBoundsDevice"]
