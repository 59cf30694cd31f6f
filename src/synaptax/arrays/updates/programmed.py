"""Programmed pulses: a desired weight change written as a signed pulse count per cell.

``n = ΔW / dw_min`` rounded (stochastically, so the expected count is exact, or to the
nearest integer) and clipped to ``±max_pulses``; the devices decide what is realised.
The rule :class:`ProgrammedPulses` takes a :class:`~synaptax.arrays.updates.WeightChange`
and writes the crossbar.
"""
from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ... import _random as fast_random
from ..._checks import check_finite, check_int
from ...devices.core.contract import PulseCounts
from ..sparse import apply_pulses_sparse
from .base import AbstractUpdateRule, WeightChange, Written


def programmed_update(crossbar, state, delta_w: ArrayLike, *, key: PRNGKeyArray,
                      stochastic_rounding: bool = True, max_pulses: int | None = None,
                      ) -> tuple[Any, PulseCounts]:
    """Program a desired weight change as a signed pulse count per cell.

    ``n = delta_w / dw_min`` rounded (stochastically, so the expected count is exact,
    or to nearest) and clipped to ``±max_pulses``; the devices decide what is realised.

    Args:
        delta_w: desired change, shape ``(out_features, in_features)``.
        key: PRNG key (rounding and cycle-to-cycle noise).

    Returns:
        ``(new_state, pulses)`` as for :meth:`update_coincidence`.
    """
    new, up, down = _programmed(crossbar, state, delta_w, key=key, stochastic_rounding=stochastic_rounding,
                                max_pulses=max_pulses)
    return new, crossbar.pulse_record(up, down)


def programming_time(crossbar, up: Array, down: Array) -> Array:
    """Duration [s] of programming the padded weight counts ``up``/``down``: rows one after
    another, the cells of a row in parallel, so a row takes its largest count of pulses."""
    return jnp.sum(jnp.max(up + down, axis=1)) * crossbar.device.pulse_time


def _programmed(crossbar, state, delta_w, *, key, stochastic_rounding=True, max_pulses=None):
    """:func:`programmed_update` returning ``(new_state, up, down)`` (padded weight counts)."""
    delta_w = jnp.asarray(delta_w)
    if delta_w.shape != (crossbar.out_features, crossbar.in_features):
        raise ValueError(f"delta_w must have shape (out_features, in_features) = "
                         f"{(crossbar.out_features, crossbar.in_features)}, got {delta_w.shape}")
    check_finite("delta_w", delta_w)
    k_round, k_dev = jax.random.split(key)
    n = delta_w.T / crossbar.dw_min
    if stochastic_rounding:
        n = jnp.floor(n + fast_random.uniform(k_round, n.shape, n.dtype))
    else:
        n = jnp.round(n)
    if max_pulses is not None:
        max_pulses = check_int("max_pulses", max_pulses, minimum=0)
        n = jnp.clip(n, -max_pulses, max_pulses)
    n = crossbar.pad(n)
    up, down = jnp.maximum(n, 0), jnp.maximum(-n, 0)
    return apply_pulses_sparse(crossbar, state, up, down, key=k_dev, max_count=max_pulses), up, down


class ProgrammedPulses(AbstractUpdateRule):
    """Programmed pulses from a :class:`WeightChange` (:func:`programmed_update`).

    Attributes:
        stochastic_rounding: round ``ΔW/dw_min`` stochastically (unbiased) or to nearest.
        max_pulses: largest pulse count per cell and update, or None.
    """

    stochastic_rounding: bool = eqx.field(default=True, static=True)
    max_pulses: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        if self.max_pulses is not None:
            check_int("max_pulses", self.max_pulses, minimum=0)

    def update(self, request, state, crossbar, crossbar_state, *, key):
        self._expect(request, WeightChange, "ProgrammedPulses")
        new, up, down = _programmed(crossbar, crossbar_state, request.delta, key=key,
                                    stochastic_rounding=self.stochastic_rounding, max_pulses=self.max_pulses)
        return Written(new, crossbar.pulse_record(up, down), programming_time(crossbar, up, down)), state


__all__ = ["ProgrammedPulses", "programmed_update", "programming_time"]
