"""Exponential nonlinear update with separate potentiation and depression nonlinearity.

The NeuroSim form [pub: Chen et al., IEEE TCAD 37, 3067 (2018); device-physics.md §E]::

    G(P) = B·(1 − e^(−P/A)) + g_min,   B = (g_max − g_min)/(1 − e^(−P_max/A))

for the potentiation branch, ``P ∈ [0, P_max]`` the pulse number and ``P_max = levels``.
An update inverts ``G`` to the cell's present pulse number, adds ``n`` and evaluates
again, which in normalised form ``x = (G − g_min)/(g_max − g_min)`` is the closed form

    x ← x·e^(−n/A) + (1 − e^(−n/A))/D,   D = 1 − e^(−P_max/A).

Depression mirrors it from ``g_max`` with its own ``A``.

Nonlinearity labels: NeuroSim characterises devices by a label ``NL`` per direction; we
map it to ``A = P_max/|NL|`` ([derived]: the form used by NeuroSim's Python ports,
``G = g_min + span·(1 − e^(−NL·P/P_max))/(1 − e^(−NL))``; NeuroSim's C++ fits ``A`` from
``NL`` through its own table, so our curves for a given label are close to, not identical
with, NeuroSim's).  ``NL = 0`` is a linear device.
"""
from __future__ import annotations

import jax.numpy as jnp

from ..._checks import check_nonnegative, check_positive
from ..core.variability import StepVariability
from .pulsed import AbstractPulsedDevice
from .relaxation import Relaxation


class ExpStepDevice(AbstractPulsedDevice):
    """NeuroSim's exponential nonlinear device (see module docstring for the law).

    One pulse is affine in ``x`` (``x ← x·e^(−r) + (1 − e^(−r))/D`` with ``r = |NL|·step``
    per pulse, ``step`` normalised), so ``n`` pulses and their cycle-to-cycle noise are
    closed forms.

    Attributes:
        levels: number of pulses ``P_max`` that take the cell across its whole range.
        nl_up, nl_down: nonlinearity labels of potentiation and depression (their sign is
            ignored: NeuroSim labels depression negative by convention).
        g_min, g_max, variability, pulse_voltage, pulse_width, relaxation: see
            :class:`~synaptax.devices.generic.pulsed.AbstractPulsedDevice`.

    The inherited ``step`` is derived: ``(g_max − g_min)/levels`` (the mean step).
    Device-to-device step spread scales the cell's pulse count: a cell with a 10 % larger
    step moves as if it got 10 % more pulses.
    """

    levels: float = 100
    nl_up: float = 1.0
    nl_down: float = 1.0

    def __init__(self, *, levels: float = 100, nl_up: float = 1.0, nl_down: float = 1.0,
                 g_min: float = 0.1e-6, g_max: float = 1.0e-6, asymmetry: float = 0.0,
                 variability: StepVariability = StepVariability(), pulse_voltage: float = 1.0,
                 pulse_width: float = 1e-9, relaxation: Relaxation | None = None):
        check_positive("levels", levels)
        self.levels = levels
        self.nl_up = nl_up
        self.nl_down = nl_down
        self.g_min = g_min
        self.g_max = g_max
        self.step = (g_max - g_min) / levels
        self.asymmetry = asymmetry
        self.variability = variability
        self.pulse_voltage = pulse_voltage
        self.pulse_width = pulse_width
        self.relaxation = relaxation

    def __check_init__(self):
        check_nonnegative("|nl_up|", abs(self.nl_up))
        check_nonnegative("|nl_down|", abs(self.nl_down))

    def _affine(self, step, *, potentiate):
        # x(P) = (1 − e^(−ρP))/D, ρ = |NL|/P_max, D = 1 − e^(−|NL|); a pulse advances P by
        # step·P_max (the cell's normalised step times P_max): x ← x·e^(−r) + (1 − e^(−r))/D,
        # r = |NL|·step, i.e. a = c/D, c = 1 − e^(−r); depression mirrors it in 1 − x.
        nl = jnp.abs(self.nl_up if potentiate else self.nl_down)
        small = nl < 1e-9 * self.levels
        nl_safe = jnp.where(small, 1.0, nl)
        c = -jnp.expm1(-nl_safe * step)
        inv_d = 1.0 / -jnp.expm1(-nl_safe)
        if potentiate:
            a = jnp.where(small, step, c * inv_d)
        else:
            a = jnp.where(small, -step, c * (1.0 - inv_d))
        return a, jnp.where(small, 0.0, c)


__all__ = ["ExpStepDevice"]
