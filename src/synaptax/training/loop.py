"""The training loop behind ``synaptax train``: data, epochs, evaluation, energy, checkpoints.

A run folder holds ``config.json``, ``checkpoint.eqx`` (+ ``.json`` metadata, written after
every epoch, atomically), ``report.json`` and the plots.  ``resume=True`` continues from
the last finished epoch of a run folder made with the same configuration.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..arrays import Crossbar
from ..circuits.converters import ADC, DAC
from ..devices import PRESETS, get_preset
from .algorithms import ALGORITHMS, AbstractAlgorithm, build_optimizer, make_algorithm
from .datasets import Dataset, load_mnist
from .io import atomic_write_json, load_checkpoint, save_checkpoint
from .layers import ACTIVATIONS
from .network import AnalogMLP, FloatMLP


class TrainingError(RuntimeError):
    """A training run stopped (bad configuration, NaN loss, unusable run folder)."""


class RunKeys(NamedTuple):
    """The PRNG streams of a run, split structurally from the seed's key (no offsets):
    each stream is then indexed by what it serves (epoch, step, chunk).

    Attributes:
        data: subsets of the data (``fold_in(data, 0)`` train, ``1`` test).
        model: initial weights and device-to-device variation.
        shuffle: the batch order, ``fold_in(shuffle, epoch)``.
        steps: the training steps, ``fold_in(steps, global step)``.
        evaluate: the test reads, ``fold_in(evaluate, epoch)``.
        report: the end-of-run measurements (energy per inference).
    """

    data: jax.Array
    model: jax.Array
    shuffle: jax.Array
    steps: jax.Array
    evaluate: jax.Array
    report: jax.Array

    @classmethod
    def from_seed(cls, seed: int) -> "RunKeys":
        return cls(*jax.random.split(jax.random.key(seed), len(cls._fields)))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Configuration of a training run (all SI units).

    Attributes:
        device: device preset name (see ``synaptax.devices.PRESETS``); ignored by ``float``.
        algorithm: a name of :data:`~synaptax.training.algorithms.ALGORITHMS`
            (``analog-sgd``, ``mixed-precision``, ``sign-sgd``, ``float``).
        hidden: hidden layer sizes (784-…-10).
        activation: hidden activation.
        epochs, batch_size, learning_rate, optimizer, schedule, seed: as usual.
        bit_length: coincidence pulse slots (analog SGD).
        pulse_budget: most weights pulsed per layer and update (sign-SGD).
        rest_time: time [s] devices evolve between updates.
        dac_bits, adc_bits: converter resolutions (0 for ideal converters).
        w_max: weight of a full-range conductance difference.
        max_tile: largest tile (rows = cols).
        ir_drop: exact IR-drop solve in every MVM; r_wire: wire resistance per segment [Ω].
        train_samples, test_samples: use only the first N (0: all).
        data_dir: folder with the standard MNIST files (None: bundled subsets).
        mapping: weight mapping, ``differential`` or ``reference``.
        bound_management: ``none`` or ``iterative`` (re-run saturated MVMs with halved inputs).
        noise_management: ``abs-max`` (inputs scaled by their largest magnitude) or ``none``.
        transfer_every, transfer_lr, fast_lr, columns_per_transfer, buffer_threshold,
            chopper_probability, momentum, transfer_bit_length, zero_shift_pulses, fast_device: the
            Tiki-Taka family's
            hyperparameters (:class:`~synaptax.training.algorithms.TransferAlgorithm`;
            None keeps the algorithm's default; ``fast_device`` a preset name).
        gate_voltage, pulse_frequency, duty_cycle, burst: the gate-pulse protocol of the
            magneto-ionic devices (``con-*``, ``cofen-*``; None keeps the preset's):
            potentiation gate voltage [V] (< 0; depression pulses use its magnitude),
            pulse frequency [Hz] (> 0), duty cycle in (0, 1] (pulse width = duty /
            frequency), gate pulses per update pulse (≥ 1).  See
            :class:`synaptax.devices.magnetoionic.PulseTrain`.
    """

    device: str = "ideal"
    algorithm: str = "analog-sgd"
    hidden: tuple[int, ...] = (100,)
    activation: str = "sigmoid"
    epochs: int = 15
    batch_size: int = 16
    learning_rate: float = 0.5
    optimizer: str = "sgd"
    schedule: str = "constant"
    seed: int = 0
    bit_length: int = 31
    pulse_budget: int = 1000
    rest_time: float = 0.0
    dac_bits: int = 7
    adc_bits: int = 9
    w_max: float = 1.0
    max_tile: int = 512
    ir_drop: bool = False
    r_wire: float = 1.06
    train_samples: int = 0
    test_samples: int = 0
    data_dir: str | None = None
    mapping: str = "differential"
    bound_management: str = "none"
    noise_management: str = "abs-max"
    transfer_every: float | None = None
    transfer_lr: float | None = None
    fast_lr: float | None = None
    columns_per_transfer: int | None = None
    buffer_threshold: float | None = None
    chopper_probability: float | None = None
    momentum: float | None = None
    transfer_bit_length: int | None = None
    zero_shift_pulses: int | None = None
    fast_device: str | None = None
    gate_voltage: float | None = None
    pulse_frequency: float | None = None
    duty_cycle: float | None = None
    burst: int | None = None

    #: The Tiki-Taka family's options (fields of :class:`TransferAlgorithm`).
    TRANSFER_OPTIONS = ("transfer_every", "transfer_lr", "fast_lr", "columns_per_transfer", "buffer_threshold",
                        "chopper_probability", "momentum", "transfer_bit_length", "zero_shift_pulses",
                        "fast_device")

    @property
    def transfer_options(self) -> dict:
        """The Tiki-Taka options that were given (not None)."""
        return {n: getattr(self, n) for n in self.TRANSFER_OPTIONS if getattr(self, n) is not None}

    @property
    def pulse_protocol(self) -> dict:
        """The pulse-protocol settings that were given (not None)."""
        names = ("gate_voltage", "pulse_frequency", "duty_cycle", "burst")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise TrainingError(f"unknown algorithm {self.algorithm!r}; valid names: {', '.join(ALGORITHMS)}")
        if ALGORITHMS[self.algorithm].analog and self.device not in PRESETS:
            raise TrainingError(f"unknown device {self.device!r}; valid names: {', '.join(sorted(PRESETS))}")
        if self.activation not in ACTIVATIONS:
            raise TrainingError(f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")
        for name in ("epochs", "batch_size", "bit_length", "max_tile", "pulse_budget"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_samples", "test_samples", "dac_bits", "adc_bits"):
            if getattr(self, name) < 0:
                raise TrainingError(f"{name} must be >= 0, got {getattr(self, name)}")
        if any(b == 1 for b in (self.dac_bits, self.adc_bits)):
            raise TrainingError("converter bits must be 0 (ideal) or >= 2")
        if not self.learning_rate > 0 or not math.isfinite(self.learning_rate):
            raise TrainingError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.rest_time < 0:
            raise TrainingError(f"rest_time must be >= 0 s, got {self.rest_time}")
        if any(h < 1 for h in self.hidden):
            raise TrainingError(f"hidden layer sizes must be >= 1, got {self.hidden}")
        if self.gate_voltage is not None and not (math.isfinite(self.gate_voltage) and self.gate_voltage < 0):
            raise TrainingError(f"gate_voltage must be negative (V), got {self.gate_voltage}")
        if self.pulse_frequency is not None and not (math.isfinite(self.pulse_frequency) and self.pulse_frequency > 0):
            raise TrainingError(f"pulse_frequency must be positive (Hz), got {self.pulse_frequency}")
        if self.duty_cycle is not None and not 0 < self.duty_cycle <= 1:
            raise TrainingError(f"duty_cycle must lie in (0, 1], got {self.duty_cycle}")
        if self.burst is not None and self.burst < 1:
            raise TrainingError(f"burst must be >= 1, got {self.burst}")
        from .algorithms import TransferAlgorithm

        if self.transfer_options and not issubclass(ALGORITHMS[self.algorithm], TransferAlgorithm):
            family = ", ".join(n for n, c in ALGORITHMS.items() if issubclass(c, TransferAlgorithm))
            raise TrainingError(f"{', '.join(self.transfer_options)} set the Tiki-Taka family's transfers "
                                f"({family}), not {self.algorithm!r}")
        for name in ("transfer_every", "buffer_threshold"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise TrainingError(f"{name} must be positive, got {v}")
        for name in ("transfer_lr", "fast_lr"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise TrainingError(f"{name} must be >= 0, got {v}")
        for name, least in (("columns_per_transfer", 1), ("transfer_bit_length", 1), ("zero_shift_pulses", 0)):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < least):
                raise TrainingError(f"{name} must be an integer >= {least}, got {v!r}")
        if self.chopper_probability is not None and not 0 <= self.chopper_probability <= 1:
            raise TrainingError(f"chopper_probability must lie in [0, 1], got {self.chopper_probability}")
        if self.momentum is not None and not 0 <= self.momentum < 1:
            raise TrainingError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.fast_device is not None and self.fast_device not in PRESETS:
            raise TrainingError(f"unknown fast_device {self.fast_device!r}; valid names: {', '.join(sorted(PRESETS))}")
        from ..arrays.mapping import MAPPINGS

        if self.mapping not in MAPPINGS:
            raise TrainingError(f"unknown mapping {self.mapping!r}; valid: {', '.join(MAPPINGS)}")
        if self.bound_management not in ("none", "iterative"):
            raise TrainingError(f"bound_management must be 'none' or 'iterative', got {self.bound_management!r}")
        if self.noise_management not in ("abs-max", "none"):
            raise TrainingError(f"noise_management must be 'abs-max' or 'none', got {self.noise_management!r}")
        if self.pulse_protocol and ALGORITHMS[self.algorithm].analog:
            from ..devices.magnetoionic import PRESETS as MAGNETOIONIC_PRESETS

            if self.device not in MAGNETOIONIC_PRESETS:
                raise TrainingError(f"{', '.join(self.pulse_protocol)} set the gate-pulse protocol of the "
                                    f"magneto-ionic devices (con-*, cofen-*), not of {self.device!r}")

    @property
    def sizes(self) -> list[int]:
        return [784, *self.hidden, 10]


def build(config: TrainConfig, total_steps: int, *, key=None) -> AbstractAlgorithm:
    """The algorithm (model, optimiser, schedule) a configuration describes.  ``key``
    initialises the float reference's weights (default: ``jax.random.key(config.seed)``)."""
    opt, sched = build_optimizer(config.optimizer, config.learning_rate, total_steps=total_steps,
                                 schedule=config.schedule)
    sizes = config.sizes
    if not ALGORITHMS[config.algorithm].analog:
        model = FloatMLP(sizes, key=jax.random.key(config.seed) if key is None else key,
                         activation=config.activation)
    else:
        device = get_preset(config.device)
        if config.pulse_protocol:
            device = device.with_pulse_protocol(**config.pulse_protocol)
        dac = DAC(bits=config.dac_bits or None)
        adc = ADC(bits=config.adc_bits or None, saturate=bool(config.adc_bits))
        tile = {}
        if config.bound_management != "none":
            tile["bound_management"] = config.bound_management
        crossbars = [Crossbar(device, a, b, w_max=config.w_max, mapping=config.mapping, dac=dac, adc=adc,
                              max_tile_size=(config.max_tile, config.max_tile), ir_drop=config.ir_drop,
                              r_row=config.r_wire, r_col=config.r_wire,
                              input_scaling=config.noise_management.replace("-", "_"), **tile)
                     for a, b in zip(sizes[:-1], sizes[1:])]
        model = AnalogMLP(crossbars, activation=config.activation)
    options = dict(config.transfer_options)
    if "fast_device" in options:
        options["fast_device"] = get_preset(options["fast_device"])
    return make_algorithm(config.algorithm, model, opt, sched, bit_length=config.bit_length,
                          rest_time=config.rest_time, pulse_budget=config.pulse_budget, **options)


def _subset(ds: Dataset, n: int, key) -> Dataset:
    """A random subset of ``n`` samples (the bundled training set is sorted by class, so a
    prefix would hold only a few classes); the whole set when ``n`` is 0 or too large."""
    if n <= 0 or n >= len(ds.labels):
        return ds
    idx = np.sort(np.asarray(jax.random.permutation(key, len(ds.labels)))[:n])
    return dataclasses.replace(ds, images=ds.images[idx], labels=ds.labels[idx])


@eqx.filter_jit
def _step(alg, ts, x, y, key):
    return alg.step(ts, x, y, key=key)


@eqx.filter_jit
def _scan_steps(step_fn, alg, ts, images, labels, batches, key, first):
    def body(ts, inputs):
        b, idx = inputs
        return step_fn(alg, ts, images[idx], labels[idx], jax.random.fold_in(key, first + b))

    steps = jnp.arange(batches.shape[0], dtype=jnp.int32)
    return jax.lax.scan(body, ts, (steps, batches))


def run_steps(alg: AbstractAlgorithm, ts, images, labels, batches, *, key, first=0):
    """Several training steps in one compiled program (a ``lax.scan`` over the batches).

    Step ``b`` trains on ``images[batches[b]]``, ``labels[batches[b]]`` with the key
    ``fold_in(key, first + b)``; the result equals calling ``alg.step`` batch after batch
    with those keys, without a dispatch from Python per step.

    Args:
        alg: the training algorithm.
        ts: its :class:`~synaptax.training.algorithms.TrainState`.
        images: all samples, ``(n, features)`` (a device array: it is not copied per call).
        labels: integer labels ``(n,)``.
        batches: sample indices of every step, ``(steps, batch_size)`` integers.
        key: PRNG key the per-step keys are folded from.
        first: number folded into ``key`` for the first step.

    Returns:
        ``(ts, metrics)``: the state after the last step and the
        :class:`~synaptax.training.algorithms.StepMetrics` of every step, each field of
        shape ``(steps,)``.
    """
    return _scan_steps(_step, alg, ts, images, labels, jnp.asarray(batches, jnp.int32), key,
                       jnp.asarray(first, jnp.int32))


def chunk_lengths(steps: int, max_chunk: int = 64) -> list[int]:
    """Split an epoch of ``steps`` steps into near-equal compiled chunks of at most
    ``max_chunk`` steps (at most two distinct lengths, so at most two compilations).
    Progress is reported, and a NaN loss detected, once per chunk."""
    n = max(1, -(-steps // max_chunk))
    size = -(-steps // n)
    return [size] * (steps // size) + ([steps % size] if steps % size else [])


@eqx.filter_jit
def _evaluate(alg, ts, x, y, key):
    logits = alg.predict(ts, x, key=key)
    return jnp.sum(jnp.argmax(logits, -1) == y)


@eqx.filter_jit
def _inference_energy(alg, ts, x, key):
    return alg.inference_energy(ts, x, key=key)


def evaluate(alg: AbstractAlgorithm, ts, data: Dataset, *, key, chunk: int = 1000) -> float:
    """Test accuracy (fraction) of ``alg``'s model in state ``ts`` on ``data``."""
    correct = 0
    for i in range(0, len(data.labels), chunk):
        correct += int(_evaluate(alg, ts, jnp.asarray(data.images[i:i + chunk]), jnp.asarray(data.labels[i:i + chunk]),
                                 jax.random.fold_in(key, i)))
    return correct / len(data.labels)


def _shuffled(n: int, key) -> np.ndarray:
    return np.asarray(jax.random.permutation(key, n))


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False,
          progress: Callable[[int, int, int, float], None] | None = None,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Train, evaluating after every epoch; return the report (also written to
    ``run_dir/report.json``).

    Args:
        config: the run's configuration.
        run_dir: run folder (created).  Checkpoints and the report go there.
        resume: continue from ``run_dir``'s checkpoint (its configuration must match,
            except for a larger number of epochs; a learning-rate schedule then follows the
            new total).
        progress: called as ``progress(epoch, batch, batches, loss)`` after every batch.
        log: where one-line messages go.
    """
    config.validate()
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise TrainingError(f"run folder {str(run_dir)!r} is not writable: {err.strerror or err}") from None
    config_dict = dataclasses.asdict(config)
    config_dict["hidden"] = list(config.hidden)

    from .datasets import DatasetError

    keys = RunKeys.from_seed(config.seed)

    try:
        train_data = _subset(load_mnist(config.data_dir, split="train"), config.train_samples,
                             jax.random.fold_in(keys.data, 0))
        test_data = _subset(load_mnist(config.data_dir, split="test"), config.test_samples,
                            jax.random.fold_in(keys.data, 1))
    except DatasetError as err:
        raise TrainingError(f"cannot load the data: {err}") from None

    steps_per_epoch = len(train_data.labels) // config.batch_size
    if steps_per_epoch < 1:
        raise TrainingError(f"batch_size {config.batch_size} exceeds the {len(train_data.labels)} training samples")
    total_steps = steps_per_epoch * config.epochs
    alg = build(config, total_steps, key=keys.model)
    ts = alg.init(key=keys.model)
    history: list[dict] = []
    start_epoch = 0
    wall_before = 0.0
    ckpt = run_dir / "checkpoint.eqx"
    if resume:
        if not ckpt.exists():
            raise TrainingError(f"--resume: no checkpoint in {str(run_dir)!r}")
        ts, meta = load_checkpoint(ckpt, ts)
        same = {k: v for k, v in config_dict.items() if k != "epochs"}
        saved = meta.get("config") or {}
        # options added after a checkpoint was written count as their defaults
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        if {k: saved.get(k, defaults.get(k)) for k in same} != same:
            raise TrainingError("--resume: the checkpoint was made with a different configuration; "
                                f"its configuration: {json.dumps(meta.get('config'))}")
        start_epoch, history, wall_before = meta["epoch"], meta["history"], meta.get("wall_time_s", 0.0)
        if start_epoch > config.epochs:
            raise TrainingError(f"--resume: the checkpoint already has {start_epoch} epochs, more than --epochs "
                                f"{config.epochs}")
        log(f"resuming {run_dir} after epoch {start_epoch}")
    atomic_write_json(run_dir / "config.json", config_dict)

    t0 = time.perf_counter()
    images, labels = jnp.asarray(train_data.images), jnp.asarray(train_data.labels)
    n_used = steps_per_epoch * config.batch_size
    for epoch in range(start_epoch, config.epochs):
        order = _shuffled(len(train_data.labels), jax.random.fold_in(keys.shuffle, epoch))
        batches = order[:n_used].reshape(steps_per_epoch, config.batch_size)
        sums = np.zeros(7)
        b = 0
        for length in chunk_lengths(steps_per_epoch):
            # one compiled scan per chunk; step b of the epoch uses fold_in(keys.steps, epoch·steps + b)
            new_ts, m = run_steps(alg, ts, images, labels, batches[b:b + length], key=keys.steps,
                                  first=epoch * steps_per_epoch + b)
            m = jax.device_get(m)
            for i in range(length):
                loss = float(m.loss[i])
                if not math.isfinite(loss):
                    raise TrainingError(
                        f"loss became {loss} at epoch {epoch + 1}, batch {b + i + 1}; training stopped. "
                        f"The last good checkpoint (after epoch {epoch}) is kept in {str(run_dir)!r}; "
                        "try a smaller learning rate.")
                sums += np.array([loss, float(m.correct[i]), float(m.write_energy[i]), float(m.read_energy[i]),
                                  float(m.converter_energy[i]), float(m.pulses[i]), float(m.latency[i])])
                if progress is not None:
                    progress(epoch, b + i + 1, steps_per_epoch, sums[0] / (b + i + 1))
            ts = new_ts
            b += length
        acc = evaluate(alg, ts, test_data, key=jax.random.fold_in(keys.evaluate, epoch))
        n_seen = steps_per_epoch * config.batch_size
        history.append({
            "epoch": epoch + 1,
            "train_loss": sums[0] / steps_per_epoch,
            "train_accuracy": sums[1] / n_seen,
            "test_accuracy": acc,
            "energy_per_update_J": float(sums[2:5].sum() / steps_per_epoch),
            "write_energy_per_update_J": float(sums[2] / steps_per_epoch),
            "read_energy_per_update_J": float(sums[3] / steps_per_epoch),
            "converter_energy_per_update_J": float(sums[4] / steps_per_epoch),
            "pulses_per_update": float(sums[5] / steps_per_epoch),
            "latency_per_update_s": float(sums[6] / steps_per_epoch),
        })
        wall = wall_before + time.perf_counter() - t0
        save_checkpoint(ckpt, ts, {"epoch": epoch + 1, "history": history, "config": config_dict,
                                   "wall_time_s": wall})
        log(f"epoch {epoch + 1}/{config.epochs}: loss {history[-1]['train_loss']:.4f}, "
            f"test accuracy {100 * acc:.2f} %")

    report = _report(config, config_dict, alg, ts, train_data, test_data, history,
                     wall_before + time.perf_counter() - t0, keys.report)
    atomic_write_json(run_dir / "report.json", report)
    _plots(alg, ts, history, run_dir)
    return report


def _plots(alg, ts, history, run_dir: Path) -> None:
    from .plots import plot_conductance_histogram, plot_history

    plot_history(history, run_dir / "history.png")
    if alg.analog:
        conductances = {}
        for i, (c, s) in enumerate(zip(alg.model.crossbars, ts.states)):
            gp, gm = c.conductances(s)
            conductances[f"layer {i + 1} G+"] = np.asarray(gp)
            if gm is not None:
                conductances[f"layer {i + 1} G-"] = np.asarray(gm)
        plot_conductance_histogram(conductances, run_dir / "conductance_histogram.png")


def _algorithm_settings(alg) -> dict:
    """The algorithm's hyperparameters as run (numbers, strings and booleans; devices by
    class name)."""
    out = {}
    for f in dataclasses.fields(alg):
        if f.name in ("model", "optimizer", "schedule"):
            continue
        v = getattr(alg, f.name)
        if v is None or isinstance(v, (bool, int, float, str)):
            out[f.name] = v
        elif hasattr(v, "shape") and getattr(v, "shape", None) == ():
            out[f.name] = float(v)
        else:
            out[f.name] = type(v).__name__
    return out


def _report(config, config_dict, alg, ts, train_data, test_data, history, wall, key) -> dict:
    last = history[-1]
    n_cells = 0
    if alg.analog:
        n_cells = sum(c.in_features * c.out_features * c.devices_per_weight for c in alg.model.crossbars)
    sample = jnp.asarray(test_data.images[: min(1000, len(test_data.labels))])
    e_inf = float(_inference_energy(alg, ts, sample, key))
    analog = alg.analog
    extra = {}
    train = getattr(alg.model.crossbars[0].device, "train", None) if analog else None
    if train is not None:  # magneto-ionic devices: the gate-pulse protocol that ran
        extra["pulse_train"] = {"amplitude_V": float(train.amplitude), "width_s": float(train.width),
                                "period_s": float(train.period), "burst": int(train.burst),
                                "depression": train.depression,
                                "depression_amplitude_V": float(train.depression_amplitude),
                                "rest_after_train_s": float(train.rest)}
    return extra | {
        "test_accuracy": last["test_accuracy"],
        "energy_per_update_J": last["energy_per_update_J"] if analog else None,
        "energy_per_update_per_cell_J": last["energy_per_update_J"] / n_cells if analog else None,
        "write_energy_per_update_J": last["write_energy_per_update_J"] if analog else None,
        "read_energy_per_update_J": last["read_energy_per_update_J"] if analog else None,
        "converter_energy_per_update_J": last["converter_energy_per_update_J"] if analog else None,
        "pulses_per_update": last["pulses_per_update"] if analog else None,
        "latency_per_update_s": last.get("latency_per_update_s") if analog else None,
        "device_time_s": (sum(h.get("latency_per_update_s", 0.0) for h in history) * (len(train_data.labels)
                                                                                       // config.batch_size)
                          if analog else None),
        "algorithm_settings": _algorithm_settings(alg),
        "energy_per_inference_J": e_inf if analog else None,
        "device": config.device if analog else "float",
        "algorithm": config.algorithm,
        "network": "-".join(str(s) for s in config.sizes),
        "cells": n_cells,
        "epochs": config.epochs,
        "train_samples": len(train_data.labels),
        "test_samples": len(test_data.labels),
        "train_data": train_data.source,
        "wall_time_s": wall,
        "history": history,
        "config": config_dict,
        "backend": jax.default_backend(),
    }

__all__ = [
    "TrainConfig", "TrainingError", "build", "chunk_lengths", "evaluate", "run_steps", "train",
]
