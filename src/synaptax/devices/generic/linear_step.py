"""Linear-step and soft-bounds devices: the step depends linearly on the conductance.

Both have an exact closed form for ``n`` pulses, since one pulse is an affine map of the
normalised conductance ``x = (G − g_min)/(g_max − g_min)``:
``x ← x + a − c·x``  ⇒  ``x_n = x_0 + (a − c·x_0)·(1 − (1 − c)^n)/c``.
"""
from __future__ import annotations

from ..._checks import check_nonnegative
from .pulsed import AbstractPulsedDevice


def _linear(step, gamma, potentiate):
    """``(a, c)`` of one pulse ``x ← x + a − c·x``: potentiation ``step·(1 + γ(1 − 2x))``
    (``a = step(1+γ)``), depression ``−step·(1 + γ(2x − 1))`` (``a = −step(1−γ)``);
    ``c = 2γ·step`` both ways."""
    a = step * (1.0 + gamma) if potentiate else -step * (1.0 - gamma)
    return a, 2.0 * gamma * step


class LinearStepDevice(AbstractPulsedDevice):
    """Linear step: the step shrinks linearly as the conductance nears the bound it moves to.

    Update law, per pulse, on ``x = (G − g_min)/(g_max − g_min)``::

        potentiation: ΔG = +step_up  ·(1 + γ_up  ·(1 − 2x))
        depression:   ΔG = −step_down·(1 + γ_down·(2x − 1))

    so ``step`` is the step at mid-range, ``γ = 0`` is a constant step and ``γ = 1`` a soft
    bound (step zero at the bound).  ``n`` pulses follow the exact geometric closed form.

    Attributes:
        gamma_up, gamma_down: slopes ``γ`` in [0, 1] (dimensionless).
        others: see :class:`~synaptax.devices.generic.pulsed.AbstractPulsedDevice`.
    """

    gamma_up: float = 0.5
    gamma_down: float = 0.5

    def __check_init__(self):
        check_nonnegative("gamma_up", self.gamma_up)
        check_nonnegative("gamma_down", self.gamma_down)
        check_nonnegative("1 - gamma_up", 1.0 - self.gamma_up)
        check_nonnegative("1 - gamma_down", 1.0 - self.gamma_down)

    def _affine(self, step, *, potentiate):
        return _linear(step, self.gamma_up if potentiate else self.gamma_down, potentiate)


class SoftBoundsDevice(AbstractPulsedDevice):
    """Soft bounds: the step shrinks to zero at the bound it moves towards.

    Update law, per pulse (aihwkit's ``SoftBoundsDevice`` with bounds ``±b`` mapped to
    ``[g_min, g_max]``; [pub] Gokmen & Vlasov 2016 / Fusi & Abbott 2007)::

        potentiation: ΔG = +2·step_up  ·(g_max − G)/(g_max − g_min)
        depression:   ΔG = −2·step_down·(G − g_min)/(g_max − g_min)

    ``step`` is the step at mid-range.  With ``step_up ≠ step_down`` the symmetry point,
    where up and down steps are equal, is ``x* = step_up/(step_up + step_down)``.
    ``n`` pulses follow the exact closed form
    ``G_max − (G_max − G)(1 − 2·step_up/span)^n`` (and its mirror for depression).
    """

    def _affine(self, step, *, potentiate):
        return _linear(step, 1.0, potentiate)


__all__ = ["LinearStepDevice", "SoftBoundsDevice"]
