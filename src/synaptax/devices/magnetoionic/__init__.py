"""Nitrogen magneto-ionic synapses (CoN, CoFeN), their presets and gate-voltage lab protocols."""
from .model import (DEFAULT_MAX_STEPS, EMU_PER_CM3_IN_A_PER_M, GateEnergy, MagnetoIonicState, MagnetoIonicSynapse,
                    MagnetoIonicVariability, NitrideFilm, PulseTrain, emu_per_cm3_to_a_per_m)
from .presets import PRESETS

__all__ = [
    "DEFAULT_MAX_STEPS", "EMU_PER_CM3_IN_A_PER_M", "GateEnergy", "MagnetoIonicState", "MagnetoIonicSynapse",
    "MagnetoIonicVariability", "NitrideFilm", "PRESETS", "PulseTrain", "emu_per_cm3_to_a_per_m",
]
