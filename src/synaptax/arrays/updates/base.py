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


class Written(NamedTuple):
    """What a writing rule did: the crossbar's new state and the pulses each device
    received (``PulseCounts`` of shape ``(devices_per_weight, in_features, out_features)``)."""

    state: Any
    pulses: PulseCounts


class AbstractUpdateRule(eqx.Module):
    """An update rule: ``init(crossbar) -> state``; ``update(request, state, crossbar,
    crossbar_state, *, key) -> (request, state)``."""

    def init(self, crossbar) -> Any:
        """The rule's state for one crossbar (a pytree; ``()`` when it has none)."""
        return ()

    def update(self, request, state, crossbar, crossbar_state, *, key: PRNGKeyArray):
        """Turn ``request`` into the next request (or a :class:`Written`)."""
        raise NotImplementedError

    @staticmethod
    def _expect(request, kind, rule) -> None:
        if not isinstance(request, kind):
            raise TypeError(f"{rule} takes a {kind.__name__} request, got {type(request).__name__}; "
                            "check the order of the rules in the chain")


class Chain(AbstractUpdateRule):
    """Rules applied one after the other (:func:`chain`)."""

    rules: tuple[AbstractUpdateRule, ...]

    def init(self, crossbar):
        return tuple(rule.init(crossbar) for rule in self.rules)

    def update(self, request, state, crossbar, crossbar_state, *, key):
        keys = (key,) if len(self.rules) == 1 else tuple(jax.random.split(key, len(self.rules)))
        new_states = []
        for rule, s, k in zip(self.rules, state, keys):
            request, s = rule.update(request, s, crossbar, crossbar_state, key=k)
            new_states.append(s)
        return request, tuple(new_states)


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


__all__ = ["AbstractUpdateRule", "Chain", "Gradient", "OuterProduct", "WeightChange", "Written", "apply_rule",
           "chain"]
