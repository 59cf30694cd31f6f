"""Per-cell device physics: state, pulses, time, readout.

Every family implements :class:`AbstractDevice` (``init``, ``apply_pulses``, ``evolve``,
``conductance``, ``read``, ``pulse_energy``).  Layout (see ``ARCHITECTURE.md``):

* :mod:`.core` — the contract, the shared variability, the readout;
* :mod:`.generic` — generic pulsed devices (constant, linear, soft bounds, exponential,
  power step, lookup table) and their presets;
* :mod:`.electrochemical` — ECRAM (Mg-ion, proton, oxygen-ion WO₃);
* :mod:`.magnetoionic` — CoN / CoFeN nitride films, with their lab protocols;
* :mod:`.spintronic` — the Co/Gd ferrimagnet;
* :mod:`.pcm` — phase-change memory: aihwkit's PCM inference model (programming noise,
  drift, 1/f read noise) with a gradual pulsed update;
* :mod:`.registry` — every family's presets under one name space;
* :mod:`.describe` — what ``synaptax devices`` prints: the preset table, one preset's
  parameters with their provenance tags, its pulse-response plot.
"""
from .core import (AbstractDevice, AbstractDeviceState, AbstractTransducer, LinearTransducer, PulseCounts, PulseEnergy,
                   StepVariability, Variability, split_pulses, stack_models)
from .electrochemical import ECRAMDevice, ECRAMGeometry, ECRAMState
from .generic import (AbstractPulsedDevice, ConstantStepDevice, ExpStepDevice, LinearStepDevice, LookupTableDevice,
                      PowStepDevice, PulsedState, Relaxation, SoftBoundsDevice)
from .magnetoionic import MagnetoIonicState, MagnetoIonicSynapse, NitrideFilm, PulseTrain
from .pcm import PCMDevice, PCMDrift, PCMProgrammingNoise, PCMReadNoise, PCMState
from .registry import PRESETS, get_preset
from .describe import (PresetSummary, describe_preset, plain_text, plot_pulse_response, preset_table,
                       pulse_response, summarise_preset)
from .spintronic import OE, CoGdDevice, CoGdState, cogd_array, cogd_hall_bar

__all__ = [
    "OE", "CoGdDevice", "CoGdState", "cogd_array", "cogd_hall_bar",
    "ECRAMDevice", "ECRAMGeometry", "ECRAMState",
    "MagnetoIonicState", "MagnetoIonicSynapse", "NitrideFilm", "PulseTrain",
    "PCMDevice", "PCMDrift", "PCMProgrammingNoise", "PCMReadNoise", "PCMState",
    "AbstractDevice", "AbstractDeviceState", "AbstractPulsedDevice", "AbstractTransducer", "ConstantStepDevice", "ExpStepDevice",
    "LinearStepDevice", "LinearTransducer", "LookupTableDevice", "PRESETS", "PowStepDevice", "PulseCounts",
    "PulseEnergy", "PulsedState", "Relaxation", "SoftBoundsDevice", "StepVariability", "Variability", "get_preset", "split_pulses", "stack_models",
    "PresetSummary", "describe_preset", "plain_text", "plot_pulse_response", "preset_table", "pulse_response",
    "summarise_preset",
]
