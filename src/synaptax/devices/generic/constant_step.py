"""Constant-step device: every pulse changes the conductance by the same amount."""
from __future__ import annotations

from .pulsed import AbstractPulsedDevice


class ConstantStepDevice(AbstractPulsedDevice):
    """Constant step (aihwkit's ``ConstantStepDevice``).

    Update law, per pulse: ``G ← clip(G ± Δg, g_min, g_max)`` with ``Δg = step·(1 ± β)``
    (potentiation ``+``, depression ``−``).  For ``n`` pulses: ``G + n·Δg``, then clipped.
    Affine with ``c = 0``: the ``n``-pulse noise is exactly ``c2c·Δg·√n``.

    Attributes: see :class:`~synaptax.devices.generic.pulsed.AbstractPulsedDevice`.
    """

    def _affine(self, step, *, potentiate):
        return (step if potentiate else -step), 0.0


__all__ = ["ConstantStepDevice"]
