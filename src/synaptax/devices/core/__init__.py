"""The device contract every family keeps, the variability every family shares, and the
readout (read noise, magnetisation → conductance transducers)."""
from .contract import AbstractDevice, PulseCounts, split_pulses
from .readout import AbstractTransducer, LinearTransducer
from .variability import Variability

__all__ = ["AbstractDevice", "AbstractTransducer", "LinearTransducer", "PulseCounts", "Variability", "split_pulses"]
