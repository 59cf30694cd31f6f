"""What every training algorithm shares: the train state, step metrics, and the analog step.

An algorithm is an object with ``init(*, key) -> TrainState`` and
``step(ts, x, y, *, key) -> (TrainState, StepMetrics)`` (plus ``predict`` and
``inference_energy``).  The analog algorithms differ only in their **update rule**
(:mod:`synaptax.arrays.updates`): :class:`AnalogAlgorithm` runs the forward and backward
passes through the analog layers, updates the digital biases with the optax optimiser,
hands each layer's :class:`~synaptax.arrays.updates.OuterProduct` (its row inputs ``x``,
its errors ``d = −∂L/∂y`` and the schedule's learning rate) to the rule, which writes the
crossbar, and lets the devices ``evolve`` for ``rest_time`` seconds (the time a device
spends between updates: pulse period and rest).

Energy of one update (training step), in joules: the write pulses (device physics,
:meth:`~synaptax.arrays.Crossbar.write_energy`), the forward reads of every layer and the
backward (transposed) reads of every layer but the first (cells ``V²·G·t``, wires when IR
drop is on, and converters), taken from the reads themselves (one read per layer and step
serves its forward MVM, backward MVM and their energies), plus what the update rule
reports beyond its own writes (:class:`~synaptax.arrays.updates.UpdateCost`: a Tiki-Taka
fast array's writes, the transfer reads).  Its simulated device time (``latency``): one
``read_time`` per input vector and read, layers one after another, plus the writes'
duration (:attr:`~synaptax.arrays.updates.Written.time`) and the rule's other work
(re-runs of bound management are not counted in the time).  ``rest_time`` is not part of
the latency.

Keys: the step's key is split into the forward/backward stream and the update stream; the
update stream is indexed by layer.
"""
from __future__ import annotations

from typing import Callable, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from ...arrays.updates import AbstractUpdateRule, OuterProduct, apply_rule


class TrainState(eqx.Module):
    """Everything that changes during training (a pytree; checkpointed as is).

    Attributes:
        params: trainable digital parameters (biases of an analog model, or the whole
            :class:`~synaptax.training.network.FloatMLP`).
        states: crossbar states, one per layer (empty for the float reference).
        opt_state: the optax optimiser's state (of ``params``).
        rule_states: the update rule's state, one per layer (e.g. mixed precision's χ).
        step: number of updates done.
    """

    params: object
    states: tuple
    opt_state: object
    rule_states: tuple
    step: Array


class StepMetrics(NamedTuple):
    """Per-step scalars: loss, correct predictions, write / read (cells + wires) / converter
    energy [J], pulses delivered, and the update's simulated device time [s] (its reads,
    layer after layer, and its writes)."""

    loss: Array
    correct: Array
    write_energy: Array
    read_energy: Array
    converter_energy: Array
    pulses: Array
    latency: Array


def cross_entropy(logits: Array, labels: Array) -> Array:
    """Mean softmax cross-entropy of ``logits (batch, classes)`` against integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class AbstractAlgorithm(eqx.Module):
    """A training algorithm bound to a model and an optimiser.

    Class attributes: ``name`` (its registry name) and ``analog`` (whether it trains an
    :class:`~synaptax.training.network.AnalogMLP` or the float reference).
    """

    name: ClassVar[str]
    analog: ClassVar[bool]
    model: eqx.AbstractVar[object]
    optimizer: eqx.AbstractVar[optax.GradientTransformation]
    schedule: eqx.AbstractVar[Callable]

    def init(self, *, key: PRNGKeyArray) -> TrainState:
        raise NotImplementedError

    def step(self, ts: TrainState, x: Array, y: Array, *, key: PRNGKeyArray) -> tuple[TrainState, StepMetrics]:
        """One update on the batch ``x (batch, features)``, ``y (batch,)`` integer labels."""
        raise NotImplementedError

    def predict(self, ts: TrainState, x: Array, *, key: PRNGKeyArray) -> Array:
        """Logits ``(batch, classes)`` of inputs ``x (batch, features)``."""
        raise NotImplementedError

    def inference_energy(self, ts: TrainState, x: Array, *, key: PRNGKeyArray) -> Array:
        """Mean energy [J] of one inference over the samples ``x``."""
        raise NotImplementedError


class AnalogAlgorithm(AbstractAlgorithm):
    """The analog training step, parameterised by an update rule (module docstring).

    Subclasses define :attr:`update_rule` (a property or a field) and their options.

    Attributes:
        model: an :class:`~synaptax.training.network.AnalogNetwork` (e.g. an
            :class:`~synaptax.training.network.AnalogMLP`).
        optimizer: optax transformation of the digital biases.
        schedule: learning rate as a function of the step (the scale of the requested
            weight update).
        rest_time: time [s] the devices evolve after each update.
    """

    analog: ClassVar[bool] = True
    model: object
    optimizer: optax.GradientTransformation
    schedule: Callable
    rest_time: float = eqx.field(default=0.0, kw_only=True)

    @property
    def update_rule(self) -> AbstractUpdateRule:
        raise NotImplementedError

    def __check_init__(self):
        from ..network import AnalogNetwork

        if not isinstance(self.model, AnalogNetwork):
            raise ValueError(f"algorithm {self.name!r} needs an AnalogNetwork (e.g. an AnalogMLP), "
                             f"got {type(self.model).__name__}")

    def _with_params(self, biases):
        layers = tuple(layer if b is None else eqx.tree_at(lambda l: l.bias, layer, b)
                       for layer, b in zip(self.model.layers, biases))
        return eqx.tree_at(lambda m: m.layers, self.model, layers)

    def init(self, *, key: PRNGKeyArray) -> TrainState:
        params = tuple(layer.bias for layer in self.model.layers)
        states = self.model.init_state(key=key)
        rule = self.update_rule
        k_rules = jax.random.split(jax.random.fold_in(key, 1), len(self.model.crossbars))
        rule_states = tuple(rule.init(c, key=k) for c, k in zip(self.model.crossbars, k_rules))
        return TrainState(params, states, self.optimizer.init(params), rule_states, jnp.zeros((), jnp.int32))

    def predict(self, ts, x, *, key):
        return self._with_params(ts.params)(ts.states, x, key=key)[0]

    def inference_energy(self, ts, x, *, key):
        """Mean energy [J] of one inference (forward reads of all layers, converters
        included) over the samples ``x``."""
        _, traces = self._with_params(ts.params)(ts.states, x, key=key)
        return sum(t.energy.total for t in traces) / x.shape[0]

    def step(self, ts, x, y, *, key):
        k_pass, k_update = jax.random.split(key)
        probes = self.model.probes(x.shape)

        def loss_fn(biases, probes):
            logits, traces = self._with_params(biases)(ts.states, x, key=k_pass, probes=probes)
            return cross_entropy(logits, y), (logits, traces)

        (loss, (logits, traces)), (g_bias, g_probe) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True)(ts.params, probes)

        # energy of this step's reads: forward of every layer, backward of layers 2..L;
        # their time: one read_time per input vector, layer after layer
        read = conv = latency = jnp.zeros(())
        for i, (layer, trace, g) in enumerate(zip(self.model.layers, traces, g_probe)):
            for e in (trace.energy, g.energy):
                read, conv = read + e.device + e.wire, conv + e.dac + e.adc
            latency = latency + (1 if i == 0 else 2) * trace.inputs.shape[0] * layer.crossbar.read_time

        updates, opt_state = self.optimizer.update(g_bias, ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        lr = self.schedule(ts.step)
        rule = self.update_rule
        write = pulses = jnp.zeros(())
        new_states, rule_states = [], []
        for i, (layer, s, rs, trace, g) in enumerate(zip(self.model.layers, ts.states, ts.rule_states, traces,
                                                         g_probe)):
            c = layer.crossbar
            request = OuterProduct(trace.inputs, -g.output.reshape(-1, c.out_features), lr)
            written, rs = apply_rule(rule, request, rs, c, s, key=jax.random.fold_in(k_update, i))
            write = write + c.write_energy(s, written.pulses)
            pulses = pulses + jnp.sum(written.pulses.up) + jnp.sum(written.pulses.down)
            latency = latency + written.time
            if written.cost is not None:  # e.g. a fast array's writes and the transfer reads
                write, read = write + written.cost.write_energy, read + written.cost.read_energy
                conv, pulses = conv + written.cost.converter_energy, pulses + written.cost.pulses
                latency = latency + written.cost.time
            new_states.append(c.evolve(written.state, self.rest_time))
            rule_states.append(rule.evolve(rs, c, self.rest_time))
        metrics = StepMetrics(loss, jnp.sum(jnp.argmax(logits, -1) == y), write, read, conv, pulses, latency)
        return TrainState(params, tuple(new_states), opt_state, tuple(rule_states), ts.step + 1), metrics


__all__ = ["AbstractAlgorithm", "AnalogAlgorithm", "StepMetrics", "TrainState", "cross_entropy"]
