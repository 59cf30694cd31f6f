"""Training algorithms: how a desired update becomes a realised one.

Each algorithm is one file here and one line in :data:`ALGORITHMS`:

* ``"float"`` — :class:`FloatReference`, the floating-point reference.
* ``"analog-sgd"`` — :class:`AnalogSGD`, stochastic pulse coincidence in every layer.
* ``"mixed-precision"`` — :class:`MixedPrecision`, digital optimiser + accumulator,
  programmed pulses.
* ``"sign-sgd"`` — :class:`SignSGD`, one pulse in the gradient's sign direction on the
  ``pulse_budget`` largest-gradient weights of each layer.
* ``"hwa"`` — :class:`HardwareAware`, float training with weight noise (and optionally
  the converters) injected, for networks programmed into devices afterwards.
* ``"tiki-taka"``, ``"ttv2"``, ``"c-ttv2"``, ``"agad"`` — the Tiki-Taka family
  (:mod:`~synaptax.training.algorithms.tiki_taka`): a fast array per layer, transfers into
  the weights.

An analog algorithm is an :class:`AnalogAlgorithm` with an ``update_rule``
(:mod:`synaptax.arrays.updates`); :func:`make_algorithm` builds one by name.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import optax

from .analog_sgd import AnalogSGD
from .base import AbstractAlgorithm, AnalogAlgorithm, StepMetrics, TrainState, cross_entropy
from .float_reference import FloatReference
from .hwa import HardwareAware
from .mixed_precision import MixedPrecision
from .optim import OPTIMIZERS, SCHEDULES, Optimizer, Schedule
from .sign_sgd import SignBudget, SignSGD
from .tiki_taka import AGAD, ChoppedTTv2, TikiTaka, TransferAlgorithm, TTv2

#: Algorithms by name.
ALGORITHMS: dict[str, type[AbstractAlgorithm]] = {
    AnalogSGD.name: AnalogSGD,
    MixedPrecision.name: MixedPrecision,
    SignSGD.name: SignSGD,
    TikiTaka.name: TikiTaka,
    TTv2.name: TTv2,
    ChoppedTTv2.name: ChoppedTTv2,
    AGAD.name: AGAD,
    FloatReference.name: FloatReference,
    HardwareAware.name: HardwareAware,
}


def make_algorithm(name: str, model, optimizer: optax.GradientTransformation, schedule: Callable,
                   **options) -> AbstractAlgorithm:
    """The algorithm ``name`` on ``model``; ``options`` (e.g. ``rest_time``,
    ``bit_length``, ``pulse_budget``) are passed to it where it has a field of that name
    and ignored otherwise (so one configuration serves every algorithm)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid names: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(model, optimizer, schedule, **{k: v for k, v in options.items() if k in fields})


#: The former constructor ``Algorithm(name, model, optimizer, schedule, **options)``.
Algorithm = make_algorithm


def build_optimizer(name: str, learning_rate: float, *, total_steps: int, schedule: str = "constant",
                    momentum: float = 0.9) -> tuple[Optimizer, Schedule]:
    """An optax optimiser by name (``sgd``, ``momentum``, ``adam``) with a learning-rate
    schedule (``constant``, ``cosine``, ``step`` — halved at 50 % and 75 % of training).
    Returns ``(optimizer, schedule)``: pytrees with the learning rate as a leaf
    (:mod:`~synaptax.training.algorithms.optim`), numerically the optax objects they wrap."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    sched = Schedule(learning_rate, schedule, total_steps)
    return Optimizer(name, sched, momentum), sched


__all__ = [
    "AGAD", "ALGORITHMS", "AbstractAlgorithm", "Algorithm", "AnalogAlgorithm", "AnalogSGD", "ChoppedTTv2",
    "FloatReference", "HardwareAware", "MixedPrecision", "SignBudget", "SignSGD", "TTv2", "TikiTaka", "TransferAlgorithm", "StepMetrics", "TrainState", "build_optimizer", "cross_entropy",
    "make_algorithm", "Optimizer", "Schedule",
]
