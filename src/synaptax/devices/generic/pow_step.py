"""Power-law step device: the step follows a power of the distance to the bound."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..._checks import check_nonnegative
from .pulsed import AbstractPulsedDevice


class PowStepDevice(AbstractPulsedDevice):
    """Power step (after aihwkit's ``PowStepDevice``).

    Update law, per pulse, on ``x = (G − g_min)/(g_max − g_min)``::

        potentiation: ΔG = +step_up  ·(2·(1 − x))^γ_up
        depression:   ΔG = −step_down·(2·x)^γ_down

    so ``step`` is the step at mid-range and the step vanishes at the bound it moves to.
    Not affine: the ``n``-pulse noise is the first-order estimate of
    :func:`~synaptax.devices.core.variability.step_noise_variance` (error in the tests).
    No closed form exists for ``n`` pulses, so pulses are applied one at a time (exactly),
    in a loop of ``ceil(max n)`` iterations over the array, each pulse starting inside the
    window (the last one's end is clipped with its noise); a fractional count applies the
    fraction of one step last.

    Attributes:
        gamma_up, gamma_down: exponents ``γ ≥ 0`` (dimensionless).
    """

    gamma_up: float = 1.0
    gamma_down: float = 1.0

    def __check_init__(self):
        check_nonnegative("gamma_up", self.gamma_up)
        check_nonnegative("gamma_down", self.gamma_down)

    def _loop(self, x, n, rate):
        def cond(carry):
            _, remaining = carry
            return jnp.any(remaining > 0)

        def body(carry):
            x, remaining = carry
            frac = jnp.clip(remaining, 0.0, 1.0)
            start = jnp.clip(x, 0.0, 1.0)  # each pulse starts inside the window
            return start + frac * rate(start), remaining - frac

        # the last pulse's end is left unclipped: the caller clips it after adding the
        # pulse's noise, as for every law (AbstractPulsedDevice._direction)
        x, _ = jax.lax.while_loop(cond, body, (x, n))
        return x

    def _step_at(self, x, step, span, *, potentiate):
        if potentiate:
            return step * (2.0 * (1.0 - x)) ** self.gamma_up
        return -step * (2.0 * x) ** self.gamma_down

    def _law(self, x, n, step, span, *, potentiate, bits):
        return self._loop(x, n, lambda x: self._step_at(x, step, span, potentiate=potentiate))


__all__ = ["PowStepDevice"]
