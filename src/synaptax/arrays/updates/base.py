"""Update rules: how a desired change of a weight matrix reaches the cells of a crossbar.

Shaped like optax: an update rule is an object with ``init`` and ``update``; its state is
a pytree passed in and returned; rules compose with :func:`chain`.  What flows through a
chain is a *request*, and each rule turns one kind of request into another:

==========================  =====================================================
:class:`OuterProduct`        ``ΔW = learning_rate · Σ_b d_b x_bᵀ`` in factored form
                             (``x`` the layer's row inputs, ``d = −∂L/∂y`` its errors)
:class:`Gradient`            ``∂L/∂W``, dense ``(out_features, in_features)``
:class:`WeightChange`        a desired ``ΔW``, dense ``(out_features, in_features)``
:class:`Written`             terminal: the crossbar's new state and the pulses every
                             device received (:class:`~synaptax.devices.PulseCounts`)
==========================  =====================================================

A chain ends in a rule that writes (pulse coincidence from an :class:`OuterProduct`,
programmed pulses from a :class:`WeightChange`); digital transforms in front of it (an
optax optimiser, a mixed-precision accumulator, a pulse budget) turn one request into the
next.  Keys: ``update`` takes one key; :func:`chain` splits it into one per rule.

Where to add one: a subclass of :class:`AbstractUpdateRule` in one file of this package
(or next to the algorithm that uses it) and one line in
:data:`synaptax.arrays.updates.UPDATE_RULES`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ...devices.core.contract import PulseCounts


class OuterProduct(NamedTuple):
    """A desired update in factored form: ``ΔW = learning_rate · Σ_b d_b x_bᵀ``.

    Attributes:
        x: row inputs, ``(batch, in_features)``.
        d: column errors (``−∂L/∂y`` for gradient descent), ``(batch, out_features)``.
        learning_rate: scalar ≥ 0.
    """

    x: Array
    d: Array
    learning_rate: Array


class Gradient(NamedTuple):
    """``∂L/∂W``, shape ``(out_features, in_features)``."""

    grad: Array


class WeightChange(NamedTuple):
    """A desired weight change ``ΔW``, shape ``(out_features, in_features)``."""

    delta: Array


class UpdateCost(NamedTuple):
    """What an update costs beyond writing the crossbar's own cells: the writes of other
    arrays (a Tiki-Taka fast array) and the reads an update makes (transfer reads).

    Attributes:
        write_energy: energy [J] of those other writes.
        read_energy: energy [J] of the update's reads in the cells and wires.
        converter_energy: energy [J] of the update's DAC/ADC conversions.
        pulses: pulses delivered to those other arrays.
        time: duration [s] of the other writes and the reads (added to :attr:`Written.time`).
    """

    write_energy: Array
    read_energy: Array
    converter_energy: Array
    pulses: Array
    time: Array

    @classmethod
    def zeros(cls, dtype=None) -> "UpdateCost":
        z = jnp.zeros((), dtype)
        return cls(z, z, z, z, z)

    def __add__(self, other: "UpdateCost") -> "UpdateCost":  # type: ignore[override]
        return UpdateCost(*(a + b for a, b in zip(self, other)))


class Written(NamedTuple):
    """What a writing rule did.

    Attributes:
        state: the crossbar's new state.
        pulses: the pulses each device received, ``PulseCounts`` of shape
            ``(devices_per_weight, in_features, out_features)``.
        time: duration [s] of the crossbar's writes (pulse trains applied in parallel where
            the hardware can: a coincidence update takes ``samples × slots × pulse_time``,
            programmed pulses ``Σ_rows max(count) × pulse_time``, rows one after another).
        cost: an :class:`UpdateCost` of what else the update did (None: nothing).
    """

    state: Any
    pulses: PulseCounts
    time: Array = 0.0
    cost: UpdateCost | None = None


class AbstractUpdateRule(eqx.Module):
    """An update rule: ``init(crossbar) -> state``; ``update(request, state, crossbar,
    crossbar_state, *, key) -> (request, state)``."""

    def init(self, crossbar, *, key: PRNGKeyArray | None = None) -> Any:
        """The rule's state for one crossbar (a pytree; ``()`` when it has none).  ``key``:
        for rules whose state holds devices (device-to-device variation); others ignore it."""
        return ()

    def update(self, request, state, crossbar, crossbar_state, *, key: PRNGKeyArray):
        """Turn ``request`` into the next request (or a :class:`Written`)."""
        raise NotImplementedError

    def evolve(self, state, crossbar, duration) -> Any:
        """The rule's state after ``duration`` [s] without pulses (rules whose state holds
        devices let them relax; the others return it unchanged)."""
        return state

    @staticmethod
    def _expect(request, kind, rule) -> None:
        if not isinstance(request, kind):
            raise TypeError(f"{rule} takes a {kind.__name__} request, got {type(request).__name__}; "
                            "check the order of the rules in the chain")


class Chain(AbstractUpdateRule):
    """Rules applied one after the other (:func:`chain`)."""

    rules: tuple[AbstractUpdateRule, ...]

    def init(self, crossbar, *, key=None):
        keys = (None,) * len(self.rules) if key is None else tuple(jax.random.split(key, len(self.rules)))
        return tuple(rule.init(crossbar, key=k) for rule, k in zip(self.rules, keys))

    def update(self, request, state, crossbar, crossbar_state, *, key):
        keys = (key,) if len(self.rules) == 1 else tuple(jax.random.split(key, len(self.rules)))
        new_states = []
        for rule, s, k in zip(self.rules, state, keys):
            request, s = rule.update(request, s, crossbar, crossbar_state, key=k)
            new_states.append(s)
        return request, tuple(new_states)

    def evolve(self, state, crossbar, duration):
        return tuple(rule.evolve(s, crossbar, duration) for rule, s in zip(self.rules, state))


def chain(*rules: AbstractUpdateRule) -> Chain:
    """Compose update rules (as ``optax.chain``): the request flows through them in order,
    the state is the tuple of their states, the key is split into one per rule."""
    for r in rules:
        if not isinstance(r, AbstractUpdateRule):
            raise TypeError(f"chain takes update rules, got {type(r).__name__}")
    return Chain(tuple(rules))


def apply_rule(rule: AbstractUpdateRule, request, state, crossbar, crossbar_state, *, key: PRNGKeyArray):
    """Run ``rule`` on ``request`` and return ``(written, new_state)``; TypeError unless the
    rule ends in a writing rule."""
    out, state = rule.update(request, state, crossbar, crossbar_state, key=key)
    if not isinstance(out, Written):
        raise TypeError(f"an update rule must end in a rule that writes the crossbar (coincidence or "
                        f"programmed pulses); this one ends with a {type(out).__name__}")
    return out, state


__all__ = ["AbstractUpdateRule", "Chain", "Gradient", "OuterProduct", "UpdateCost", "WeightChange", "Written",
           "apply_rule", "chain"]
