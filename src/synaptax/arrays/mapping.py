"""Weight mapping: how a signed weight matrix lives in conductances, and how pulses reach them.

A mapping decides (1) the conductance arrays that hold one weight matrix and their signs in
the read-out, (2) the conductance per unit weight ``g_per_w`` [S], (3) how a weight's
potentiation/depression pulse counts reach each of its devices.  It holds no device and no
state: the crossbar passes them in.

* :class:`DifferentialPair` (``"differential"``, default): a pair of devices per weight,
  ``w = (G⁺ − G⁻)/g_per_w`` with ``g_per_w = (g_max − g_min)/w_max``.  A positive update
  potentiates ``G⁺`` and depresses ``G⁻`` by the same pulse count (both devices move), so
  one coincidence moves the weight by ``2·step/g_per_w``.  Weights are programmed with the
  pair centred on mid-range: ``G± = g_ref ± w·g_per_w/2``, ``g_ref = (g_min + g_max)/2``.
* :class:`ReferenceColumn` (``"reference"``): one bidirectional device per weight read
  against a fixed reference conductance ``g_ref = (g_min + g_max)/2`` (a reference column
  per tile; aihwkit's single-device picture), ``w = (G − g_ref)/g_per_w`` with
  ``g_per_w = (g_max − g_min)/(2·w_max)``.

Where to add one: a subclass of :class:`AbstractMapping` in this file (or a new one) and a
line in :data:`MAPPINGS`.
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..devices.core.contract import AbstractDevice, PulseCounts


class CrossbarState(eqx.Module):
    """State of a crossbar: the device states of its conductance arrays.

    Attributes:
        plus: state of the ``G⁺`` devices (or the single devices of a reference mapping),
            array shape ``(rows_padded, cols_padded)``.
        minus: state of the ``G⁻`` devices (differential pair), or None.
    """

    plus: object
    minus: object | None


class AbstractMapping(eqx.Module):
    """Weights ↔ conductances.  Subclasses set :attr:`name` and :attr:`devices_per_weight`."""

    name: ClassVar[str]
    devices_per_weight: ClassVar[int]

    def g_per_w(self, g_min: float, g_max: float, w_max: float) -> float:
        """Conductance [S] per unit weight for a device window ``[g_min, g_max]`` [S]."""
        raise NotImplementedError

    def init(self, device: AbstractDevice, shape: tuple[int, int], delta_g: Array, g_ref: float, *,
             key: PRNGKeyArray, g_low: float | None = None) -> CrossbarState:
        """Device states programmed (ideally) to the conductance differences ``delta_g`` [S]
        (``shape``) around the mid-range ``g_ref`` [S]; with ``g_low`` (a differential pair
        only) one-sided instead: the device of a weight's sign at ``g_low + |delta_g|``, the
        other at ``g_low`` (how inference chips program a pair)."""
        raise NotImplementedError

    def arrays(self, device: AbstractDevice, state: CrossbarState, g_ref: float) -> tuple[Array, Array]:
        """``(G_a, G_b)`` [S], padded shape: the read-out is ``G_a − G_b`` (``G_b`` the
        minus devices or the reference conductance)."""
        raise NotImplementedError

    def apply(self, device: AbstractDevice, state: CrossbarState, up: Array, down: Array, *, key: PRNGKeyArray,
              max_count: int | None = None) -> CrossbarState:
        """Apply a weight's ``up``/``down`` pulse counts (padded shape) to its devices.
        ``max_count``: static bound of whole-number counts, when known."""
        raise NotImplementedError

    def pulse_record(self, up: Array, down: Array) -> PulseCounts:
        """The pulses each device received, ``(devices_per_weight,) + up.shape``."""
        raise NotImplementedError

    def device_states(self, state: CrossbarState) -> tuple:
        """The device states of the arrays that hold cells, in :meth:`pulse_record` order."""
        return (state.plus,) if state.minus is None else (state.plus, state.minus)


class DifferentialPair(AbstractMapping):
    """Two devices per weight, ``w = (G⁺ − G⁻)/g_per_w`` (module docstring)."""

    name: ClassVar[str] = "differential"
    devices_per_weight: ClassVar[int] = 2

    def g_per_w(self, g_min, g_max, w_max):
        return (g_max - g_min) / w_max

    def init(self, device, shape, delta_g, g_ref, *, key, g_low=None):
        k_plus, k_minus = jax.random.split(key)
        if g_low is None:
            g_plus, g_minus = g_ref + 0.5 * delta_g, g_ref - 0.5 * delta_g
        else:
            g_plus, g_minus = g_low + jnp.maximum(delta_g, 0.0), g_low + jnp.maximum(-delta_g, 0.0)
        plus = device.init(shape, key=k_plus, conductance=g_plus)
        minus = device.init(shape, key=k_minus, conductance=g_minus)
        return CrossbarState(plus, minus)

    def arrays(self, device, state, g_ref):
        return device.conductance(state.plus), device.conductance(state.minus)

    def apply(self, device, state, up, down, *, key, max_count=None):
        k_plus, k_minus = jax.random.split(key)
        plus, minus = device.apply_pulses_many((state.plus, state.minus),
                                               (PulseCounts(up, down), PulseCounts(down, up)),
                                               keys=(k_plus, k_minus), max_count=max_count)
        return CrossbarState(plus, minus)

    def pulse_record(self, up, down):
        return PulseCounts(jnp.stack([up, down]), jnp.stack([down, up]))


class ReferenceColumn(AbstractMapping):
    """One device per weight read against the mid-range reference (module docstring)."""

    name: ClassVar[str] = "reference"
    devices_per_weight: ClassVar[int] = 1

    def g_per_w(self, g_min, g_max, w_max):
        return (g_max - g_min) / (2.0 * w_max)

    def init(self, device, shape, delta_g, g_ref, *, key, g_low=None):
        if g_low is not None:
            raise ValueError("one-sided placement needs a differential pair; the reference mapping reads "
                             "one device against the mid-range reference")
        k_plus, _ = jax.random.split(key)
        return CrossbarState(device.init(shape, key=k_plus, conductance=g_ref + delta_g), None)

    def arrays(self, device, state, g_ref):
        g = device.conductance(state.plus)
        return g, jnp.full_like(g, g_ref)

    def apply(self, device, state, up, down, *, key, max_count=None):
        k_plus, _ = jax.random.split(key)
        (plus,) = device.apply_pulses_many((state.plus,), (PulseCounts(up, down),), keys=(k_plus,),
                                           max_count=max_count)
        return CrossbarState(plus, None)

    def pulse_record(self, up, down):
        return PulseCounts(up[None], down[None])


#: Mappings by name (the ``mapping=`` argument of :class:`~synaptax.arrays.Crossbar`).
MAPPINGS: dict[str, type[AbstractMapping]] = {
    DifferentialPair.name: DifferentialPair,
    ReferenceColumn.name: ReferenceColumn,
}


def get_mapping(mapping: str | AbstractMapping) -> AbstractMapping:
    """A mapping from its name or instance; ValueError naming ``mapping`` otherwise."""
    if isinstance(mapping, AbstractMapping):
        return mapping
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(repr(m) for m in MAPPINGS)}, got {mapping!r}")
    return MAPPINGS[mapping]()


__all__ = ["AbstractMapping", "CrossbarState", "DifferentialPair", "MAPPINGS", "ReferenceColumn", "get_mapping"]
