"""Constant-step device: every pulse changes the conductance by the same amount."""
from __future__ import annotations


from .pulsed import AbstractPulsedDevice
from ..core.variability import Variability


class ConstantStepDevice(AbstractPulsedDevice):
    """Constant step (aihwkit's ``ConstantStepDevice``).

    Update law, per pulse: ``G ← clip(G ± Δg, g_min, g_max)`` with ``Δg = step·(1 ± β)``
    (potentiation ``+``, depression ``−``).  For ``n`` pulses: ``G + n·Δg``, then clipped.

    Attributes: see :class:`~synaptax.devices.generic.pulsed.AbstractPulsedDevice`.
    """

    g_min: float = 0.1e-6
    g_max: float = 1.0e-6
    step: float = 1e-9
    asymmetry: float = 0.0
    variability: Variability = Variability()
    pulse_voltage: float = 1.0
    pulse_width: float = 1e-9

    def _potentiate(self, x, n, step, span):
        return x + n * step

    def _depress(self, x, n, step, span):
        return x - n * step


