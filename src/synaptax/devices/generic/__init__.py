"""Generic pulsed devices: one conductance per cell moved by a per-pulse law (constant,
linear, soft-bounds, exponential, power step, measured lookup table), an optional
relaxation toward a rest state (:class:`Relaxation`), their presets, and a compact state
(:func:`compact`: the cells' sampled steps and bounds in 16 bits)."""
from .constant_step import ConstantStepDevice
from .exp_step import ExpStepDevice
from .linear_step import LinearStepDevice, SoftBoundsDevice
from .lookup_table import LookupTableDevice
from .pow_step import PowStepDevice
from .presets import PRESETS
from .pulsed import CELL_DTYPES, AbstractPulsedDevice, CompactPulsedState, PulsedState, compact
from .relaxation import Relaxation

__all__ = ["AbstractPulsedDevice", "CELL_DTYPES", "CompactPulsedState", "ConstantStepDevice", "ExpStepDevice",
           "LinearStepDevice", "LookupTableDevice", "PRESETS", "PowStepDevice", "PulsedState", "Relaxation",
           "SoftBoundsDevice", "compact"]
