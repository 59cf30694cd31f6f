"""Phase-change memory (PCM): aihwkit's PCM inference model (programming noise, drift,
1/f read noise) with a gradual pulsed update.

:mod:`.model` is the device model (:class:`PCMDevice`, :class:`PCMState` and the three
noise laws); :mod:`.presets` its presets (``PRESETS``, merged into
``synaptax.devices.PRESETS``)."""
from .model import PCMDevice, PCMDrift, PCMProgrammingNoise, PCMReadNoise, PCMState
from .presets import PRESETS, pcm, pcm_no_drift

__all__ = ["PCMDevice", "PCMDrift", "PCMProgrammingNoise", "PCMReadNoise", "PCMState", "PRESETS", "pcm",
           "pcm_no_drift"]
