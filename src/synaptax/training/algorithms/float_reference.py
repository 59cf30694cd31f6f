"""The floating-point reference: an optax optimiser updates ordinary weights."""
from __future__ import annotations

from typing import Callable, ClassVar

import equinox as eqx
import jax.numpy as jnp
import optax

from .base import AbstractAlgorithm, StepMetrics, TrainState, cross_entropy


class FloatReference(AbstractAlgorithm):
    """Floating-point training of a :class:`~synaptax.training.network.FloatMLP` or
    :class:`~synaptax.training.network.FloatNetwork`.

    Attributes:
        model: the float network.
        optimizer: optax transformation.
        schedule: learning rate as a function of the step (for the record; the optimiser
            holds its own).
    """

    name: ClassVar[str] = "float"
    analog: ClassVar[bool] = False
    model: object
    optimizer: optax.GradientTransformation
    schedule: Callable

    def __check_init__(self):
        from ..network import FloatMLP, FloatNetwork

        if not isinstance(self.model, (FloatMLP, FloatNetwork)):
            raise ValueError(f"algorithm {self.name!r} needs a FloatMLP or FloatNetwork, got {type(self.model).__name__}")

    def init(self, *, key):
        opt_state = self.optimizer.init(eqx.filter(self.model, eqx.is_inexact_array))
        return TrainState(self.model, (), opt_state, (), jnp.zeros((), jnp.int32))

    def predict(self, ts, x, *, key):
        return ts.params(x)

    def inference_energy(self, ts, x, *, key):
        """Zero: the reference has no hardware."""
        return jnp.zeros(())

    def _logits(self, model, x, *, key):
        """The training forward pass (the float network itself; hardware-aware training
        perturbs it)."""
        return model(x)

    def step(self, ts, x, y, *, key):
        def loss_fn(model):
            logits = self._logits(model, x, key=key)
            return cross_entropy(logits, y), logits

        (loss, logits), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(ts.params)
        updates, opt_state = self.optimizer.update(grads, ts.opt_state, eqx.filter(ts.params, eqx.is_inexact_array))
        params = eqx.apply_updates(ts.params, updates)
        zero = jnp.zeros(())
        metrics = StepMetrics(loss, jnp.sum(jnp.argmax(logits, -1) == y), zero, zero, zero, zero, zero)
        return TrainState(params, (), opt_state, (), ts.step + 1), metrics


__all__ = ["FloatReference"]
