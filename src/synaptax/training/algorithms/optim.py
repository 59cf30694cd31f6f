"""The optimiser and learning-rate schedule of a run, as pytrees whose learning rate is a leaf.

:func:`~synaptax.training.algorithms.build_optimizer` returns a :class:`Optimizer` (an
optax optimiser of the digital parameters: ``sgd``, ``momentum``, ``adam``) and its
:class:`Schedule` (the learning rate as a function of the step; the analog update rules
scale the requested weight change by it).  Both behave exactly like the optax objects they
wrap (same state, same numbers); what they add is that the learning rate is a *leaf* of the
algorithm's pytree instead of a constant closed over by a function.  Two runs that differ
only in their learning rate then have algorithms of the same structure, so a study can
stack them and train them in one compiled program (``jax.vmap`` over configurations,
:mod:`synaptax.studies`), and two algorithms built from the same settings compare equal.
"""
from typing import Callable

import equinox as eqx
import optax

#: Schedule names.
SCHEDULES = ("constant", "cosine", "step")
#: Optimiser names.
OPTIMIZERS = ("sgd", "momentum", "adam")


class Schedule(eqx.Module):
    """Learning rate as a function of the step.

    Attributes:
        learning_rate: the peak (initial) learning rate (a leaf: a float or a traced value).
        kind: ``constant``; ``cosine`` (decay to 5 % over ``total_steps``); ``step``
            (halved at 50 % and again at 75 % of ``total_steps``).
        total_steps: the run's number of updates (for ``cosine`` and ``step``).
    """

    learning_rate: float
    kind: str = eqx.field(static=True, default="constant")
    total_steps: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; valid: {', '.join(SCHEDULES)}")

    def _optax(self) -> Callable:
        lr, n = self.learning_rate, self.total_steps
        if self.kind == "constant":
            return optax.constant_schedule(lr)
        if self.kind == "cosine":
            return optax.cosine_decay_schedule(lr, max(n, 1), alpha=0.05)
        return optax.piecewise_constant_schedule(lr, {int(n * 0.5): 0.5, int(n * 0.75): 0.5})

    def __call__(self, step):
        """The learning rate at ``step`` (updates done)."""
        return self._optax()(step)


class Optimizer(eqx.Module):
    """An optax optimiser by name, driven by a :class:`Schedule`; ``init`` and ``update``
    are those of ``optax.sgd`` / ``optax.sgd(momentum=…)`` / ``optax.adam``.

    Attributes:
        name: ``sgd``, ``momentum`` or ``adam``.
        schedule: the learning-rate schedule.
        momentum: the momentum of ``momentum`` (a leaf).
    """

    name: str = eqx.field(static=True)
    schedule: Schedule
    momentum: float = 0.9

    def __check_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; valid: {', '.join(OPTIMIZERS)}")

    def _optax(self) -> optax.GradientTransformation:
        if self.name == "sgd":
            return optax.sgd(self.schedule)
        if self.name == "momentum":
            return optax.sgd(self.schedule, momentum=self.momentum)
        return optax.adam(self.schedule)

    def init(self, params):
        """The optimiser state of ``params``."""
        return self._optax().init(params)

    def update(self, updates, state, params=None):
        """``(updates, state)`` as optax's ``update``."""
        return self._optax().update(updates, state, params)


__all__ = ["OPTIMIZERS", "Optimizer", "SCHEDULES", "Schedule"]
