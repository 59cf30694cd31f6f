"""Training algorithms: how a desired update becomes a realised one.

* ``"float"`` — the floating-point reference: an optax optimiser updates ordinary weights.
* ``"analog-sgd"`` — analog SGD: every layer is updated in place by stochastic pulse
  coincidence straight from its input ``x`` and back-propagated error ``d = −∂L/∂y``
  (:meth:`~synaptax.arrays.Crossbar.update_coincidence`), with the learning rate of the
  optax schedule.  Optax's full optimiser (momentum, Adam, …) updates the digital biases;
  a coincidence update can only realise a scaled outer product, so the analog weights
  take the plain SGD direction.
* ``"mixed-precision"`` — mixed precision (Nandakumar et al., Front. Neurosci. 2020 [pub]):
  the optax optimiser computes the desired update of every weight digitally from the
  outer product; it is accumulated in a digital buffer ``χ`` and, wherever
  ``|χ| ≥ dw_min``, programmed as ``trunc(χ/dw_min)`` pulses, which are subtracted from
  ``χ``.

After every update the crossbars ``evolve`` for ``rest_time`` seconds (the time a device
spends between updates: pulse period and rest), so devices with relaxation or retention
loss change their state during training.

Energy of one update (training step), in joules: the write pulses (device physics,
:meth:`~synaptax.arrays.Crossbar.write_energy`), the forward MVMs of every layer and the
transposed MVMs of every layer but the first (cells ``V²·G·t``, wires when IR drop is
on, and converters, :meth:`~synaptax.arrays.Crossbar.mvm_energy`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from .network import AnalogMLP, FloatMLP

ALGORITHMS = ("analog-sgd", "mixed-precision", "float")


class TrainState(eqx.Module):
    """Everything that changes during training (a pytree; checkpointed as is).

    Attributes:
        params: trainable digital parameters (biases of an analog model, or the whole
            :class:`FloatMLP`).
        states: crossbar states, one per layer (empty for ``"float"``).
        opt_state: the optax optimiser's state.
        accumulators: mixed-precision buffers ``χ`` per layer (empty otherwise).
        step: number of updates done.
    """

    params: object
    states: tuple
    opt_state: object
    accumulators: tuple
    step: Array


class StepMetrics(NamedTuple):
    """Per-step scalars."""

    loss: Array
    correct: Array
    write_energy: Array
    read_energy: Array
    converter_energy: Array
    pulses: Array


def cross_entropy(logits: Array, labels: Array) -> Array:
    """Mean softmax cross-entropy of ``logits (batch, classes)`` against integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class Algorithm(eqx.Module):
    """A training algorithm bound to a model and an optimiser.

    Attributes:
        name: one of :data:`ALGORITHMS`.
        model: an :class:`AnalogMLP` (analog algorithms) or :class:`FloatMLP`.
        optimizer: optax transformation.
        schedule: learning rate as a function of the step (analog SGD's pulse scale).
        bit_length: coincidence pulse slots per sample (analog SGD).
        rest_time: time [s] the devices evolve after each update.
    """

    name: str = eqx.field(static=True)
    model: object
    optimizer: optax.GradientTransformation = eqx.field(static=True)
    schedule: Callable = eqx.field(static=True)
    bit_length: int = eqx.field(static=True, default=31)
    rest_time: float = 0.0

    def __check_init__(self):
        if self.name not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.name!r}; valid names: {', '.join(ALGORITHMS)}")
        if (self.name == "float") != isinstance(self.model, FloatMLP):
            raise ValueError(f"algorithm {self.name!r} needs a {'FloatMLP' if self.name == 'float' else 'AnalogMLP'}")

    # ------------------------------------------------------------------ state
    def _digital(self):
        if self.name == "float":
            return self.model
        return tuple(layer.bias for layer in self.model.layers)

    def init(self, *, key: PRNGKeyArray) -> TrainState:
        params = self._digital()
        if self.name == "float":
            states, acc = (), ()
            opt_state = self.optimizer.init(eqx.filter(params, eqx.is_inexact_array))
        else:
            states = self.model.init_state(key=key)
            acc = tuple(jnp.zeros((c.out_features, c.in_features)) for c in self.model.crossbars) \
                if self.name == "mixed-precision" else ()
            opt_state = self.optimizer.init((params, acc) if acc else params)
        return TrainState(params, states, opt_state, acc, jnp.zeros((), jnp.int32))

    def _with_params(self, params):
        if self.name == "float":
            return params
        layers = tuple(eqx.tree_at(lambda l: l.bias, layer, b) for layer, b in zip(self.model.layers, params))
        return eqx.tree_at(lambda m: m.layers, self.model, layers)

    # ------------------------------------------------------------------ inference
    def predict(self, ts: TrainState, x: Array, *, key: PRNGKeyArray) -> Array:
        """Logits ``(batch, classes)`` of inputs ``x (batch, features)``."""
        model = self._with_params(ts.params)
        if self.name == "float":
            return model(x)
        return model(ts.states, x, key=key)[0]

    def inference_energy(self, ts: TrainState, x: Array, *, key: PRNGKeyArray) -> Array:
        """Mean energy [J] of one inference (forward MVMs of all layers, with converters)
        over the samples ``x``; zero for the floating-point reference."""
        if self.name == "float":
            return jnp.zeros(())
        _, inputs = self._with_params(ts.params)(ts.states, x, key=key)
        total = sum(c.mvm_energy(s, h).total for c, s, h in zip(self.model.crossbars, ts.states, inputs))
        return total / x.shape[0]

    # ------------------------------------------------------------------ training
    def step(self, ts: TrainState, x: Array, y: Array, *, key: PRNGKeyArray) -> tuple[TrainState, StepMetrics]:
        """One update on the batch ``x (batch, features)``, ``y (batch,)`` integer labels."""
        if self.name == "float":
            return self._float_step(ts, x, y)
        return self._analog_step(ts, x, y, key)

    def _float_step(self, ts, x, y):
        def loss_fn(model):
            logits = model(x)
            return cross_entropy(logits, y), logits

        (loss, logits), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(ts.params)
        updates, opt_state = self.optimizer.update(grads, ts.opt_state, eqx.filter(ts.params, eqx.is_inexact_array))
        params = eqx.apply_updates(ts.params, updates)
        zero = jnp.zeros(())
        metrics = StepMetrics(loss, jnp.sum(jnp.argmax(logits, -1) == y), zero, zero, zero, zero)
        return TrainState(params, (), opt_state, (), ts.step + 1), metrics

    def _analog_step(self, ts, x, y, key):
        crossbars = self.model.crossbars
        k_fwd, k_upd = jax.random.split(key)
        probes = tuple(jnp.zeros((x.shape[0], c.out_features), x.dtype) for c in crossbars)

        def loss_fn(biases, probes):
            logits, inputs = self._with_params(biases)(ts.states, x, key=k_fwd, probes=probes)
            return cross_entropy(logits, y), (logits, inputs)

        (loss, (logits, inputs)), (g_bias, g_probe) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True)(ts.params, probes)

        # energy of this step's MVMs: forward of every layer, transposed for layers 2..L
        read = conv = jnp.zeros(())
        for i, (c, s, h, g) in enumerate(zip(crossbars, ts.states, inputs, g_probe)):
            e = c.mvm_energy(s, h)
            read, conv = read + e.device + e.wire, conv + e.dac + e.adc
            if i > 0:
                e = c.mvm_energy(s, g, transposed=True)
                read, conv = read + e.device + e.wire, conv + e.dac + e.adc

        lr = self.schedule(ts.step)
        write = pulses = jnp.zeros(())
        new_states, accumulators = [], []
        if self.name == "analog-sgd":
            updates, opt_state = self.optimizer.update(g_bias, ts.opt_state, ts.params)
            params = optax.apply_updates(ts.params, updates)
            for i, (c, s, h, g) in enumerate(zip(crossbars, ts.states, inputs, g_probe)):
                s_new, p = c.update_coincidence(s, h, -g, learning_rate=lr, bit_length=self.bit_length,
                                                key=jax.random.fold_in(k_upd, i))
                write = write + c.write_energy(s, p)
                pulses = pulses + sum(jnp.sum(u) + jnp.sum(dn) for u, dn in zip(p.up, p.down))
                new_states.append(s_new)
        else:  # mixed precision
            g_w = tuple(g.T @ h for g, h in zip(g_probe, inputs))
            (updates_b, updates_w), opt_state = self.optimizer.update((g_bias, g_w), ts.opt_state,
                                                                      (ts.params, ts.accumulators))
            params = optax.apply_updates(ts.params, updates_b)
            for i, (c, s, chi, u) in enumerate(zip(crossbars, ts.states, ts.accumulators, updates_w)):
                chi = chi + u
                n = jnp.trunc(chi / c.dw_min)
                s_new, p = c.update_programmed(s, n * c.dw_min, stochastic_rounding=False,
                                               key=jax.random.fold_in(k_upd, i))
                write = write + c.write_energy(s, p)
                pulses = pulses + sum(jnp.sum(u) + jnp.sum(dn) for u, dn in zip(p.up, p.down))
                new_states.append(s_new)
                accumulators.append(chi - n * c.dw_min)
        new_states = tuple(c.evolve(s, self.rest_time) for c, s in zip(crossbars, new_states))
        metrics = StepMetrics(loss, jnp.sum(jnp.argmax(logits, -1) == y), write, read, conv, pulses)
        return TrainState(params, new_states, opt_state, tuple(accumulators), ts.step + 1), metrics


def build_optimizer(name: str, learning_rate: float, *, total_steps: int, schedule: str = "constant",
                    momentum: float = 0.9) -> tuple[optax.GradientTransformation, Callable]:
    """An optax optimiser by name (``sgd``, ``momentum``, ``adam``) with a learning-rate
    schedule (``constant``, ``cosine``, ``step`` — halved at 50 % and 75 % of training).
    Returns ``(optimizer, schedule)``."""
    if schedule == "constant":
        sched = optax.constant_schedule(learning_rate)
    elif schedule == "cosine":
        sched = optax.cosine_decay_schedule(learning_rate, max(total_steps, 1), alpha=0.05)
    elif schedule == "step":
        sched = optax.piecewise_constant_schedule(learning_rate, {int(total_steps * 0.5): 0.5,
                                                                  int(total_steps * 0.75): 0.5})
    else:
        raise ValueError(f"unknown schedule {schedule!r}; valid: constant, cosine, step")
    if name == "sgd":
        opt = optax.sgd(sched)
    elif name == "momentum":
        opt = optax.sgd(sched, momentum=momentum)
    elif name == "adam":
        opt = optax.adam(sched)
    else:
        raise ValueError(f"unknown optimizer {name!r}; valid: sgd, momentum, adam")
    return opt, sched

__all__ = [
    "ALGORITHMS", "Algorithm", "StepMetrics", "TrainState", "build_optimizer", "cross_entropy",
]
