"""The device contract every family keeps (:mod:`.contract`), the variability every family
shares (:mod:`.variability`) and the readout: read noise and magnetisation → conductance
transducers (:mod:`.readout`)."""
from .contract import (STUCK_MAX, STUCK_MIN, WORKING, AbstractDevice, AbstractDeviceState, PulseCounts, PulseEnergy,
                       check_duration, hold_stuck, split_pulses, stack_models)
from .parameters import apply_device_params, device_parameters
from .readout import AbstractTransducer, LinearTransducer, read_conductance, read_noise_std
from .variability import CellSample, StepVariability, Variability, step_noise_variance

__all__ = [
    "STUCK_MAX", "STUCK_MIN", "WORKING", "apply_device_params", "device_parameters", "AbstractDevice", "AbstractDeviceState", "AbstractTransducer", "CellSample",
    "LinearTransducer", "PulseCounts", "PulseEnergy", "StepVariability", "Variability", "check_duration", "hold_stuck",
    "read_conductance", "read_noise_std", "split_pulses", "stack_models", "step_noise_variance",
]
