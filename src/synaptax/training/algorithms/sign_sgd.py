"""Sign-SGD with a pulse budget: at most ``pulse_budget`` pulses per layer and update.

Each update, the ``pulse_budget`` weights of a layer with the largest gradient magnitude
``|∂L/∂W|`` get one programming pulse each, in the direction ``−sign(∂L/∂W)``; every other
weight is left alone.  The weight step is the device's own (``dw_min`` at mid-range), the
energy of the writes is bounded by the budget, and the learning rate scales only the
digital biases.  A demonstration of an algorithm added in one file
(``chain(OuterGradient(), SignBudget(pulse_budget), ProgrammedPulses(stochastic_rounding=False))``).
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from ..._checks import check_int
from ...arrays.updates import AbstractUpdateRule, Gradient, OuterGradient, ProgrammedPulses, WeightChange, chain
from .base import AnalogAlgorithm


class SignBudget(AbstractUpdateRule):
    """``Gradient → WeightChange``: ``−sign(g)·dw_min`` on the ``budget`` weights of largest
    ``|g|`` (ties broken by position), zero elsewhere and where ``g = 0``."""

    budget: int = eqx.field(static=True)

    def __check_init__(self):
        check_int("pulse_budget", self.budget, minimum=1)

    def update(self, request, state, crossbar, crossbar_state, *, key):
        self._expect(request, Gradient, "SignBudget")
        g = request.grad
        flat = jnp.abs(g).ravel()
        k = min(self.budget, flat.size)
        top, index = jax.lax.top_k(flat, k)
        chosen = jnp.zeros(flat.shape, g.dtype).at[index].set((top > 0).astype(g.dtype)).reshape(g.shape)
        return WeightChange(-jnp.sign(g) * chosen * crossbar.dw_min), state


class SignSGD(AnalogAlgorithm):
    """Sign-SGD with a pulse budget (module docstring).

    Attributes:
        pulse_budget: most weights pulsed per layer and update (one pulse each).
    """

    name: ClassVar[str] = "sign-sgd"
    pulse_budget: int = eqx.field(default=1000, static=True, kw_only=True)

    @property
    def update_rule(self):
        return chain(OuterGradient(), SignBudget(self.pulse_budget), ProgrammedPulses(stochastic_rounding=False))


__all__ = ["SignBudget", "SignSGD"]
