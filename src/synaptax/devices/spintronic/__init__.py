"""Spintronic synapses: the compensated Co/Gd ferrimagnet switched by spin-orbit torque.

:mod:`.cogd` is the device model (:class:`CoGdDevice`, :class:`CoGdState`);
:mod:`.presets` its factories and presets (``PRESETS``, merged into
``synaptax.devices.PRESETS``)."""
from .cogd import OE, CoGdDevice, CoGdState
from .presets import PRESETS, cogd_array, cogd_hall_bar, scaled

__all__ = ["OE", "CoGdDevice", "CoGdState", "PRESETS", "cogd_array", "cogd_hall_bar", "scaled"]
