"""The training loop behind ``synaptax train``: data, epochs, evaluation, energy, checkpoints.

A run folder holds ``config.json``, a verified checkpoint after every finished epoch
(``checkpoint-epochNNNN.eqx`` + ``.json`` metadata with its SHA-256; the newest two are
kept), ``report.json`` and the plots.  A folder that already holds a run is never written
into unless the call says how: ``resume=True`` continues from its newest good checkpoint
(same configuration, possibly more epochs), ``overwrite=True`` replaces it.  A run that
diverges (non-finite loss, or a loss far above its start for a sustained stretch) stops
with :class:`DivergenceError`, keeps the checkpoints of the epochs that finished and
writes the report and plots for them.  A start that fails leaves no folder behind.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
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
from .datasets import Dataset
from .._files import atomic_write_bytes
from .io import CheckpointError, atomic_write_json, load_checkpoint, meta_path, read_json, save_checkpoint
from .layers import ACTIVATIONS


class TrainingError(RuntimeError):
    """A training run stopped (bad configuration, unusable run folder or checkpoint)."""


class DivergenceError(TrainingError):
    """The loss diverged; the run stopped.  ``report`` is the report written for the
    epochs that finished (``status`` ``"diverged"``), ``checkpoint`` the path of the newest
    kept checkpoint, or None when no epoch finished."""

    def __init__(self, message: str, report: dict, checkpoint: Path | None):
        super().__init__(message)
        self.report = report
        self.checkpoint = checkpoint


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
        hidden: hidden layer sizes of the multilayer perceptron (inputs-…-classes).
        network: the architecture (:mod:`~synaptax.training.architectures`): None or
            ``"mlp"`` (the perceptron of ``hidden``), ``"mlp:256,128"``, ``"lenet5"``,
            ``"vgg-small"``, or a layer list such as ``"conv8k3same,pool2,fc64"``.  Input
            shape and class count come from the data.
        activation: hidden activation.
        epochs, batch_size, learning_rate, optimizer, schedule, seed: as usual.
        bit_length: coincidence pulse slots (analog SGD).
        pulse_budget: most weights pulsed per layer and update (sign-SGD).
        rest_time: time [s] devices evolve between updates.
        dac_bits, adc_bits: converter resolutions (0 for ideal converters).
        w_max: weight of a full-range conductance difference.
        max_tile: largest tile (rows = cols).
        ir_drop: exact IR-drop solve in every MVM.
        r_wire: wire resistance per cell segment of rows and columns [Ω], or a technology
            node of NeuroSim's cross-point wire table (``"45nm"``, ``"32nm"``, ``"22nm"``,
            ``"14nm"``: 0.49, 0.73, 1.06, 2.03 Ω; :data:`~synaptax.circuits.irdrop.
            WIRE_RESISTANCE_PER_SEGMENT`).  Used with ``ir_drop`` only.
        train_samples, test_samples: use only the first N (0: all).
        data_dir: the data: None (the bundled MNIST subsets), a folder of IDX files (MNIST,
            Fashion-MNIST, KMNIST or EMNIST layouts) or an ``.npz`` file with ``x_train``,
            ``y_train``, ``x_test``, ``y_test`` (:func:`~synaptax.training.datasets.load_splits`).
        verify_data: check known datasets' content checksums (structure is always checked).
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
        device_params: values that replace parameters of the device preset, as
            ``((path, value), ...)`` sorted by path (a mapping is accepted and sorted), each
            ``path`` a dotted field path of the device (``"step"``,
            ``"variability.c2c"``, ``"film.thickness"``; ``synaptax devices show NAME``
            lists them) whose value is a number; SI units as the field's.  Used by
            studies to sweep a device parameter.
        weight_noise: the hardware-aware algorithm's (``hwa``) relative weight noise (None:
            its default, :data:`~synaptax.training.algorithms.hwa.DEFAULT_WEIGHT_NOISE`).
        converters_in_loop: ``hwa`` quantises each layer's inputs and outputs to
            ``dac_bits`` / ``adc_bits`` in training.
        divergence_factor, divergence_patience: the run stops as diverged when the loss is
            not finite, when an epoch's mean loss exceeds ``divergence_factor`` times the
            loss at the start (the first step's, before any update), or when
            ``divergence_patience`` consecutive steps do.
        mesh: train on several devices (:mod:`synaptax.sharding`): ``"data=4,tiles=2"``,
            ``"data=8"``, ``"tiles=2"`` or ``"auto"`` (every device on ``data``); None: one
            device.  Where a run trains does not change it: not part of the run name, and a
            run may resume on another mesh.
    """

    device: str = "ideal"
    algorithm: str = "analog-sgd"
    hidden: tuple[int, ...] = (100,)
    network: str | None = None
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
    r_wire: float | str = 1.06
    train_samples: int = 0
    test_samples: int = 0
    data_dir: str | None = None
    verify_data: bool = True
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
    device_params: tuple = ()
    gate_voltage: float | None = None
    pulse_frequency: float | None = None
    duty_cycle: float | None = None
    burst: int | None = None
    weight_noise: float | None = None
    converters_in_loop: bool = False
    divergence_factor: float = 10.0
    divergence_patience: int = 20
    mesh: str | None = None

    #: Names accepted for fields (``--lr`` on the command line, ``lr`` in a config file).
    ALIASES = {"lr": "learning_rate"}

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

    def __post_init__(self):
        if isinstance(self.device_params, dict):
            object.__setattr__(self, "device_params", tuple(sorted(self.device_params.items())))

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise TrainingError(f"unknown algorithm {self.algorithm!r}; valid names: {', '.join(ALGORITHMS)}")
        if ALGORITHMS[self.algorithm].analog:
            _check_device("device", self.device)
        if self.activation not in ACTIVATIONS:
            raise TrainingError(f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")
        for name in ("epochs", "batch_size", "bit_length", "max_tile", "pulse_budget"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_samples", "test_samples", "dac_bits", "adc_bits"):
            if getattr(self, name) < 0:
                raise TrainingError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("dac_bits", "adc_bits"):
            if getattr(self, name) == 1:
                raise TrainingError(f"{name} must be 0 (ideal) or >= 2 (converter bits), got 1")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise TrainingError(f"learning_rate must be a finite positive number, got {self.learning_rate}")
        self.wire_resistance  # checks r_wire
        if not (math.isfinite(self.divergence_factor) and self.divergence_factor > 1):
            raise TrainingError(f"divergence_factor must be finite and > 1, got {self.divergence_factor}")
        if self.divergence_patience < 1:
            raise TrainingError(f"divergence_patience must be >= 1, got {self.divergence_patience}")
        if self.mesh is not None:
            from ..sharding import parse_mesh

            try:
                parse_mesh(self.mesh)  # its syntax; train() checks the devices
            except ValueError as err:
                raise TrainingError(str(err)) from None
        if self.rest_time < 0:
            raise TrainingError(f"rest_time must be >= 0 s, got {self.rest_time}")
        if self.algorithm != "hwa" and (self.weight_noise is not None or self.converters_in_loop):
            raise TrainingError("weight_noise and converters_in_loop set the hardware-aware training (algorithm "
                                f"'hwa'), not {self.algorithm!r}")
        if self.weight_noise is not None and not (math.isfinite(self.weight_noise) and 0 <= self.weight_noise < 10):
            raise TrainingError(f"weight_noise must lie in [0, 10), got {self.weight_noise}")
        if self.algorithm == "hwa":
            _check_device("device", self.device)  # the device the weights are programmed into later
        if any(h < 1 for h in self.hidden):
            raise TrainingError(f"hidden layer sizes must be >= 1, got {self.hidden}")
        self.layers  # checks network
        if self.network is not None and self.network.strip().lower() != "mlp" and self.hidden != (100,):
            raise TrainingError(f"hidden sets the sizes of the default perceptron; with network={self.network!r} "
                                "give the layers in the network description (e.g. 'mlp:256,128')")
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
        if self.fast_device is not None:
            _check_device("fast_device", self.fast_device)
        if self.device_params:
            if not ALGORITHMS[self.algorithm].analog:
                raise TrainingError("device_params set parameters of the device, which the float algorithm has not")
            apply_device_params(get_preset(self.device), self.device_params, name=self.device)
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
    def layers(self) -> tuple:
        """The parsed network description (without the output layer)."""
        from .architectures import NetworkSpecError, parse_network

        try:
            return parse_network("mlp" if self.network is None else self.network, self.hidden)
        except NetworkSpecError as err:
            raise TrainingError(str(err)) from None

    @property
    def sizes(self) -> list[int]:
        """Layer sizes of the perceptron on MNIST (784-…-10; a convolutional description's
        dense layers only); the built network's ``describe()`` gives any architecture."""
        return [784, *(d.out for d in self.layers), 10]

    @property
    def wire_resistance(self) -> tuple[float, float]:
        """``(r_row, r_col)`` per cell segment [Ω], from ``r_wire`` (a number or a node)."""
        r = self.r_wire
        if isinstance(r, str):
            from ..circuits.irdrop.wires import wire_resistance_per_segment

            try:
                w = wire_resistance_per_segment(r)
            except ValueError as err:
                raise TrainingError(f"r_wire: {err}") from None
            return float(w.r_row), float(w.r_col)
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not (math.isfinite(r) and r >= 0):
            raise TrainingError(f"r_wire must be a resistance >= 0 ohm or a node such as '22nm', got {r!r}")
        return float(r), float(r)

    def as_dict(self) -> dict:
        """The configuration as JSON-ready values (``hidden`` as a list)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["device_params"] = {k: v for k, v in self.device_params}
        return d

    @classmethod
    def from_dict(cls, values: dict, *, source: str = "configuration") -> "TrainConfig":
        """A configuration from a mapping of field names (``config.json`` of a run folder,
        a ``report.json``'s ``config``, or a TOML table).  Dashes in names count as
        underscores and ``lr`` as ``learning_rate``; an unknown name raises
        :class:`TrainingError` naming it and ``source``."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out = {}
        for k, v in values.items():
            name = str(k).replace("-", "_")
            name = cls.ALIASES.get(name, name)
            if name in ("device_sha256", "fast_device_sha256"):
                continue  # recorded by a run (config.json), not a setting
            if name not in fields:
                raise TrainingError(f"{source}: unknown setting {k!r}")
            if name == "hidden":
                if isinstance(v, str):
                    v = [int(h) for h in v.split(",") if h.strip()]
                if not isinstance(v, (list, tuple)) or not all(isinstance(h, int) for h in v):
                    raise TrainingError(f"{source}: hidden must be a list of integers, got {v!r}")
                v = tuple(v)
            if name == "device_params":
                if not isinstance(v, (dict, list, tuple)):
                    raise TrainingError(f"{source}: device_params must be a table of parameter = number, got {v!r}")
                items = v.items() if isinstance(v, dict) else v
                try:
                    v = tuple(sorted((str(p), q) for p, q in items))
                except (TypeError, ValueError):
                    raise TrainingError(f"{source}: device_params must be a table of parameter = number, "
                                        f"got {v!r}") from None
                for p, q in v:
                    if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q):
                        raise TrainingError(f"{source}: device_params: {p} must be a finite number, got {q!r}")
                out[name] = v
                continue
            out[name] = _check_type(name, v, fields[name].type, source)
        return cls(**out)

    def run_name(self) -> str:
        """Default run-folder name, unique per configuration:
        ``<device>-<algorithm>-seed<seed>-<hash>``, the hash (8 hex digits) over every
        setting except ``epochs`` (so a resumed run with more epochs keeps its folder)."""
        d = self.as_dict()
        d.pop("epochs")
        if not d["device_params"]:
            d.pop("device_params")  # configurations without them keep the names they had
        for name in ("network", "weight_noise"):
            if d[name] is None:
                d.pop(name)  # likewise the perceptron of ``hidden``, the algorithm's own noise
        if not d["converters_in_loop"]:
            d.pop("converters_in_loop")
        d.pop("verify_data")  # checking the data does not change the run
        d.pop("mesh")  # nor where it trains
        d.update(self.device_files())  # a device file's content, not only its path
        digest = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"{_device_label(self)}-{self.algorithm}-seed{self.seed}-{digest}"

    def device_files(self) -> dict:
        """``{"device_sha256": …, "fast_device_sha256": …}``: the SHA-256 of each device
        file the configuration names (``.toml``; empty for presets).  Recorded in the run's
        ``config.json`` and checked on ``--resume``, so a run never continues on a changed
        device."""
        from ..devices.fitting.devicefile import is_device_file

        out = {}
        for name in ("device", "fast_device"):
            spec = getattr(self, name)
            if spec is not None and is_device_file(spec) and (name == "fast_device" or self.algorithm != "float"):
                try:
                    out[f"{name}_sha256"] = hashlib.sha256(Path(spec).read_bytes()).hexdigest()
                except OSError as err:
                    raise TrainingError(f"{spec}: cannot read the device file: {err.strerror}") from None
        return out


def _device_label(config: TrainConfig) -> str:
    """The device's name in run names and titles: ``float``, the preset, or a device file's stem."""
    from ..devices.fitting.devicefile import is_device_file

    if config.algorithm == "float":
        return "float"
    return Path(config.device).stem if is_device_file(config.device) else config.device


def apply_device_params(device, params, *, name: str):
    """``device`` with ``params`` (``((path, value), ...)``) replaced
    (:func:`synaptax.devices.core.apply_device_params`); a :class:`TrainingError` naming
    the path otherwise."""
    from ..devices.core import apply_device_params as apply

    try:
        return apply(device, params, name=name)
    except ValueError as err:
        raise TrainingError(f"device_params: {err}") from None


def _check_device(option: str, spec: str) -> None:
    """A :class:`TrainingError` (one line) unless ``spec`` is a preset name or a readable,
    valid device file."""
    from ..devices.fitting.devicefile import DeviceFileError, is_device_file, load_device_file

    if is_device_file(spec):
        try:
            load_device_file(spec)
        except DeviceFileError as err:
            raise TrainingError(f"{option}: {err}") from None
        return
    if spec not in PRESETS:
        raise TrainingError(f"unknown {option} {spec!r}; valid names: {', '.join(sorted(PRESETS))}, "
                            "or a device file (DEVICE.toml, from 'synaptax fit')")


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _check_type(name: str, value, annotation: str, source: str):
    """``value`` if it fits the field's annotation (e.g. ``"float | None"``), else a
    :class:`TrainingError` naming the setting and the source."""
    kinds = [k.strip() for k in str(annotation).split("|")]
    if name == "hidden" or (value is None and "None" in kinds):
        return value
    ok = any(isinstance(value, _TYPES.get(k, ())) and not (isinstance(value, bool) and k != "bool") for k in kinds)
    if not ok:
        want = " or ".join(k for k in kinds if k != "None")
        raise TrainingError(f"{source}: {name} must be {want}, got {value!r}")
    return float(value) if kinds[0] == "float" and isinstance(value, int) and "int" not in kinds else value


#: Sample shape and class count of the bundled data (MNIST), what :func:`build` assumes
#: when it is not given the data.
MNIST_SHAPE, MNIST_CLASSES = (1, 28, 28), 10


def build(config: TrainConfig, total_steps: int, *, key=None, data: Dataset | None = None) -> AbstractAlgorithm:
    """The algorithm (model, optimiser, schedule) a configuration describes.  ``key``
    initialises the float reference's weights (default: ``jax.random.key(config.seed)``).
    ``data`` gives the sample shape and class count (its ``shape``, ``num_classes``);
    None: MNIST's (1×28×28, 10 classes)."""
    from .architectures import NetworkSpecError, build_analog, build_float

    opt, sched = build_optimizer(config.optimizer, config.learning_rate, total_steps=total_steps,
                                 schedule=config.schedule)
    shape = tuple(getattr(data, "shape", MNIST_SHAPE)) if data is not None else MNIST_SHAPE
    classes = int(data.num_classes) if data is not None else MNIST_CLASSES
    layers = config.layers
    if not ALGORITHMS[config.algorithm].analog:
        try:
            model = build_float(layers, shape, classes, activation=config.activation,
                                key=jax.random.key(config.seed) if key is None else key)
        except NetworkSpecError as err:
            raise TrainingError(str(err)) from None
    else:
        device = get_preset(config.device)
        if config.device_params:
            device = apply_device_params(device, config.device_params, name=config.device)
        if config.pulse_protocol:
            device = device.with_pulse_protocol(**config.pulse_protocol)
        dac = DAC(bits=config.dac_bits or None)
        adc = ADC(bits=config.adc_bits or None, saturate=bool(config.adc_bits))
        tile = {}
        if config.bound_management != "none":
            tile["bound_management"] = config.bound_management
        r_row, r_col = config.wire_resistance
        def crossbar(n_in, n_out):
            return Crossbar(device, n_in, n_out, w_max=config.w_max, mapping=config.mapping, dac=dac, adc=adc,
                            max_tile_size=(config.max_tile, config.max_tile), ir_drop=config.ir_drop,
                            r_row=r_row, r_col=r_col, input_scaling=config.noise_management.replace("-", "_"),
                            **tile)

        try:
            model = build_analog(layers, shape, classes, activation=config.activation, crossbar=crossbar)
        except NetworkSpecError as err:
            raise TrainingError(str(err)) from None
    options = dict(config.transfer_options)
    if config.weight_noise is not None:
        options["weight_noise"] = config.weight_noise
    if config.converters_in_loop:
        options.update(dac_bits=config.dac_bits, adc_bits=config.adc_bits)
    if "fast_device" in options:
        options["fast_device"] = get_preset(options["fast_device"])
    return make_algorithm(config.algorithm, model, opt, sched, bit_length=config.bit_length,
                          rest_time=config.rest_time, pulse_budget=config.pulse_budget, **options)


def load_data(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """The whole train and test sets a configuration names (``data_dir``, ``verify_data``;
    :func:`~synaptax.training.datasets.load_splits`); a :class:`TrainingError` naming the
    file when they cannot be loaded."""
    from .datasets import DatasetError, load_splits

    try:
        return load_splits(config.data_dir, verify=config.verify_data)
    except DatasetError as err:
        raise TrainingError(f"cannot load the data: {err}") from None


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


#: Files a run writes into its folder (what counts as "a run" there).
RUN_FILES = ("config.json", "report.json", "history.png", "conductance_histogram.png", "device.toml",
             "fast_device.toml")
_CHECKPOINT_GLOB = "checkpoint-epoch*.eqx"
_LEGACY_CHECKPOINT = "checkpoint.eqx"
#: Checkpoints kept in a run folder (the newest ones).
KEEP_CHECKPOINTS = 2


def checkpoint_path(run_dir: str | Path, epoch: int) -> Path:
    """Where the checkpoint after ``epoch`` finished epochs lives."""
    return Path(run_dir) / f"checkpoint-epoch{epoch:04d}.eqx"


def checkpoints(run_dir: str | Path) -> list[Path]:
    """The checkpoints in a run folder, newest first (by the epoch in the name; a
    checkpoint from an older synaptax, ``checkpoint.eqx``, comes last)."""
    run_dir = Path(run_dir)
    found = sorted(run_dir.glob(_CHECKPOINT_GLOB), reverse=True)
    if (run_dir / _LEGACY_CHECKPOINT).exists() or meta_path(run_dir / _LEGACY_CHECKPOINT).exists():
        found.append(run_dir / _LEGACY_CHECKPOINT)
    return found


def _run_files(run_dir: Path) -> list[Path]:
    if not run_dir.is_dir():
        return []
    files = [run_dir / f for f in RUN_FILES if (run_dir / f).exists()]
    for ck in checkpoints(run_dir):
        files += [f for f in (ck, meta_path(ck)) if f.exists()]
    return files


def load_latest_checkpoint(run_dir: str | Path, like, *,
                           log: Callable[[str], None] = lambda s: None) -> tuple[object, dict, Path]:
    """The newest usable checkpoint of a run folder, loaded into the structure of ``like``.

    A newer checkpoint that is corrupt (truncated, empty, garbage, its metadata missing or
    not JSON) is skipped with a ``log`` line naming it and what is wrong; when none is
    usable a :class:`TrainingError` names the newest and its fault.  Returns
    ``(tree, meta, path)``."""
    run_dir = Path(run_dir)
    found = checkpoints(run_dir)
    if not found:
        raise TrainingError(f"no checkpoint in {str(run_dir)!r} (nothing to resume)")
    first_error = None
    for ck in found:
        try:
            tree, meta = load_checkpoint(ck, like)
            if not isinstance(meta.get("epoch"), int) or not isinstance(meta.get("history"), list):
                raise CheckpointError(f"checkpoint metadata {str(meta_path(ck))!r} lacks its epoch or history")
        except CheckpointError as err:
            first_error = first_error or err
            log(f"skipping checkpoint: {err}")
            continue
        return tree, meta, ck
    raise TrainingError(str(first_error))


def _stale_temporaries(run_dir: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes of this folder's run files."""
    names = (*RUN_FILES, "checkpoint-epoch")
    return [f for f in run_dir.glob(".*.tmp") if any(f.name[1:].startswith(n) for n in names)]


def _existing_run(run_dir: Path) -> str | None:
    """A one-line description of the run in ``run_dir``, or None when it holds none."""
    files = [f for f in _run_files(run_dir) if f.name != "config.json"]
    if not files:  # nothing, or only the configuration of a run killed before its first epoch
        return None
    try:
        report = read_json(run_dir / "report.json")
        acc = report.get("test_accuracy")
        status = report.get("status", "finished")
        done, epochs = report.get("epochs_finished"), report.get("epochs", "?")
        length = f"{done} of {epochs} epochs" if status != "finished" and done is not None else f"{epochs} epochs"
        return (f"a {status} run of {length}"
                + (f" (test accuracy {100 * acc:.2f} %)" if isinstance(acc, (int, float)) else ""))
    except CheckpointError:
        cks = checkpoints(run_dir)
        if cks:
            return f"an unfinished run ({cks[0].name})"
        return "files of a run (" + ", ".join(f.name for f in files[:3]) + ")"


def _check_writable(run_dir: Path) -> None:
    """Raise unless ``run_dir`` exists as a writable folder or can be created."""
    probe = run_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise TrainingError(f"run folder {str(run_dir)!r}: {str(probe)!r} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise TrainingError(f"run folder {str(run_dir)!r} is not writable ({str(probe)!r} is read-only)")


def train(config: TrainConfig, run_dir: str | Path | None = None, *, resume: bool = False,
          overwrite: bool = False,
          progress: Callable[[int, int, int, float], None] | None = None,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Train, evaluating after every epoch; return the report (also written to
    ``run_dir/report.json``).

    Args:
        config: the run's configuration.
        run_dir: run folder (default ``runs/`` + :meth:`TrainConfig.run_name`).  Created
            when the run starts (not when it fails before); a folder that already holds a
            run is refused unless ``resume`` or ``overwrite``.
        resume: continue from ``run_dir``'s newest good checkpoint (its configuration must
            match, except for a larger number of epochs; a learning-rate schedule then
            follows the new total).
        overwrite: replace the run in ``run_dir`` (its files are removed once the new run
            has its data and model, just before the first step).
        progress: called as ``progress(epoch, batch, batches, loss)`` after every batch.
        log: where one-line messages go.

    Raises:
        TrainingError: bad configuration, data, run folder or checkpoint (nothing is
            written then).
        DivergenceError: the loss diverged; report and plots cover the finished epochs.
    """
    config.validate()
    if resume and overwrite:
        raise TrainingError("resume and overwrite exclude each other")
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / config.run_name()
    _check_writable(run_dir)
    existing = _existing_run(run_dir)
    if resume and existing is None:
        if (run_dir / "config.json").exists():
            raise TrainingError(f"--resume: no checkpoint in {str(run_dir)!r}: its run stopped before the first "
                                "epoch finished; start it again without --resume")
        raise TrainingError(f"--resume: no run to resume in {str(run_dir)!r}")
    if existing is not None and not (resume or overwrite):
        can_resume = "resume it (--resume), " if checkpoints(run_dir) else ""
        raise TrainingError(f"run folder {str(run_dir)!r} already holds {existing}; {can_resume}"
                            "replace it (--overwrite) or choose another folder (--run-dir)")
    config_dict = {**config.as_dict(), **config.device_files()}

    keys = RunKeys.from_seed(config.seed)

    train_full, test_full = load_data(config)
    train_data = _subset(train_full, config.train_samples, jax.random.fold_in(keys.data, 0))
    test_data = _subset(test_full, config.test_samples, jax.random.fold_in(keys.data, 1))

    steps_per_epoch = len(train_data.labels) // config.batch_size
    if steps_per_epoch < 1:
        raise TrainingError(f"batch_size {config.batch_size} exceeds the {len(train_data.labels)} training samples")
    total_steps = steps_per_epoch * config.epochs
    alg = build(config, total_steps, key=keys.model, data=train_data)
    ts = alg.init(key=keys.model)
    history: list[dict] = []
    start_epoch = 0
    wall_before = 0.0
    reference_loss = None
    ck = None
    if resume:
        ts, meta, ck = load_latest_checkpoint(run_dir, ts, log=log)
        same = {k: v for k, v in config_dict.items() if k not in ("epochs", "verify_data", "mesh")}
        saved = meta.get("config") or {}
        # options added after a checkpoint was written count as their defaults
        defaults = TrainConfig().as_dict()
        if {k: saved.get(k, defaults.get(k)) for k in same} != same:
            diff = [k for k in same if saved.get(k, defaults.get(k)) != same[k]]
            raise TrainingError(f"--resume: the checkpoint {str(ck)!r} was made with a different configuration "
                                f"({', '.join(f'{k}={saved.get(k, defaults.get(k))!r}' for k in diff)})")
        start_epoch, history, wall_before = meta["epoch"], meta["history"], meta.get("wall_time_s", 0.0)
        reference_loss = meta.get("reference_loss")
        if start_epoch > config.epochs:
            raise TrainingError(f"--resume: the checkpoint already has {start_epoch} epochs, more than --epochs "
                                f"{config.epochs}")
        log(f"resuming {run_dir} after epoch {start_epoch} ({ck.name})")

    if config.mesh is not None:  # crossbar cells split over "tiles", the rest replicated
        from ..sharding import describe_mesh, mesh_from_text, shard_train_state

        try:
            mesh = mesh_from_text(config.mesh)
        except ValueError as err:  # too few devices
            raise TrainingError(str(err)) from None
        ts = shard_train_state(ts, mesh)
        log(f"training on a mesh {describe_mesh(mesh)}")
    created = not run_dir.exists()
    wrote_checkpoint = False
    try:
        if overwrite and existing is not None:
            for f in _run_files(run_dir):
                f.unlink()
            log(f"replacing {existing} in {run_dir} (--overwrite)")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            for tmp in _stale_temporaries(run_dir):  # left by a run killed while writing
                tmp.unlink(missing_ok=True)
            write_run_config(run_dir, config, config_dict)
        except OSError as err:
            raise TrainingError(f"run folder {str(run_dir)!r} is not writable: {err.strerror or err}") from None
        result = _epochs(config, config_dict, alg, ts, train_data, test_data, keys, run_dir, history,
                         start_epoch, steps_per_epoch, wall_before, reference_loss, ck, progress, log)
        wrote_checkpoint = True
        return result
    except DivergenceError:
        wrote_checkpoint = True  # its report is kept
        raise
    except BaseException:
        # a start that failed before any epoch finished leaves nothing behind
        if not wrote_checkpoint and not checkpoints(run_dir) and not resume:
            for f in _run_files(run_dir):
                f.unlink(missing_ok=True)
            if created:
                try:
                    run_dir.rmdir()
                except OSError:
                    pass
        raise


def write_run_config(run_dir: Path, config: TrainConfig, config_dict: dict) -> None:
    """Write a run's ``config.json`` and, beside it, the device files it runs on."""
    atomic_write_json(run_dir / "config.json", config_dict)
    for name in ("device", "fast_device"):  # the device files as run, beside the config
        if f"{name}_sha256" in config_dict:
            atomic_write_bytes(run_dir / f"{name}.toml", Path(getattr(config, name)).read_bytes())


class DivergenceWatch:
    """The divergence rule of a run, fed its losses on the host: the run stops when a loss
    is not finite, when ``patience`` consecutive steps are above ``factor`` times the
    reference loss (the first finite step's, before any update: the untrained network's),
    or when an epoch's mean loss is.  :meth:`step` and :meth:`epoch_mean` return None, or
    the ``stopped`` record (``epoch``, ``batch``, ``loss``, ``reason``) of the report."""

    def __init__(self, factor: float, patience: int, reference_loss: float | None = None):
        self.factor, self.patience, self.reference_loss = factor, patience, reference_loss
        self.above = 0  # consecutive steps above the threshold

    @property
    def threshold(self) -> float | None:
        return None if self.reference_loss is None else self.factor * self.reference_loss

    def first(self, losses) -> None:
        """Take the reference from the first loss of ``losses`` if none is set yet."""
        if self.reference_loss is None and len(losses) and math.isfinite(losses[0]):
            self.reference_loss = float(losses[0])

    def new_epoch(self) -> None:
        self.above = 0

    def step(self, loss: float, *, epoch: int, batch: int) -> dict | None:
        if not math.isfinite(loss):
            return dict(epoch=epoch, batch=batch, loss=loss, reason=f"the loss became {loss}")
        threshold = self.threshold
        self.above = self.above + 1 if threshold is not None and loss > threshold else 0
        if self.above >= self.patience:
            return dict(epoch=epoch, batch=batch, loss=loss,
                        reason=(f"the loss ({loss:.4g}) stayed above {self.factor:g}x its "
                                f"start ({self.reference_loss:.4g}) for {self.above} steps"))
        return None

    def epoch_mean(self, mean: float, *, epoch: int, batch: int) -> dict | None:
        threshold = self.threshold
        if threshold is not None and mean > threshold:
            return dict(epoch=epoch, batch=batch, loss=float(mean),
                        reason=(f"the epoch's mean loss ({mean:.4g}) is above "
                                f"{self.factor:g}x its start ({self.reference_loss:.4g})"))
        return None


def divergence_message(stopped: dict, history: list, newest, run_dir: Path) -> str:
    """The one-line message of a run that diverged (``stopped`` from :class:`DivergenceWatch`)."""
    where = (f"the checkpoint after epoch {history[-1]['epoch']} ({str(newest)!r}) is kept, and the report "
             f"and plots cover the {len(history)} finished epoch{'s' if len(history) != 1 else ''}"
             if history and newest is not None else
             f"no epoch finished, so there is no checkpoint; the report is {str(run_dir / 'report.json')!r}")
    return (f"training diverged at epoch {stopped['epoch']}, batch {stopped['batch']}: {stopped['reason']}; "
            f"stopped: {where}. Try a smaller learning rate.")


def write_diverged(config, config_dict, alg, ts_like, train_data, test_data, history, wall, keys, run_dir: Path,
                   stopped: dict, newest) -> tuple[dict, str]:
    """Write the report (``status`` ``"diverged"``) and plots of a run that stopped, for the
    epochs that finished (the state of its newest checkpoint, loaded in the structure of
    ``ts_like``); return ``(report, message)``."""
    message = divergence_message(stopped, history, newest, run_dir)
    if history:
        # the report describes the state after the last finished epoch (the checkpoint's)
        ts_done, _, _ = load_latest_checkpoint(run_dir, ts_like)
        report = _report(config, config_dict, alg, ts_done, train_data, test_data, history, wall, keys.report)
    else:
        report = {"test_accuracy": None, "epochs": config.epochs, "epochs_finished": 0, "history": [],
                  "config": config_dict,
                  "device": config.device if alg.analog else "float", "algorithm": config.algorithm,
                  "wall_time_s": wall}
    report |= {"status": "diverged", "stopped": stopped, "message": message}
    atomic_write_json(run_dir / "report.json", report)
    if history:
        _plots(config, alg, ts_done, history, run_dir)
    return report, message


def epoch_record(epoch: int, steps: int, batch_size: int, sums, acc: float) -> dict:
    """The history entry of a finished epoch from its per-step sums (loss, correct, write,
    read and converter energy, pulses, latency) and its test accuracy."""
    return {
        "epoch": epoch,
        "updates": steps,
        "train_loss": sums[0] / steps,
        "train_accuracy": sums[1] / (steps * batch_size),
        "test_accuracy": acc,
        "energy_per_update_J": float(sums[2:5].sum() / steps),
        "write_energy_per_update_J": float(sums[2] / steps),
        "read_energy_per_update_J": float(sums[3] / steps),
        "converter_energy_per_update_J": float(sums[4] / steps),
        "pulses_per_update": float(sums[5] / steps),
        "latency_per_update_s": float(sums[6] / steps),
    }


def _save_epoch(run_dir: Path, ts, meta: dict) -> Path:
    """Write the checkpoint after ``meta['epoch']`` epochs beside the older ones, then
    remove all but the newest :data:`KEEP_CHECKPOINTS`."""
    path = checkpoint_path(run_dir, meta["epoch"])
    save_checkpoint(path, ts, meta)
    for old in checkpoints(run_dir)[KEEP_CHECKPOINTS:]:
        for f in (meta_path(old), old):  # metadata first: a leaves file without it is ignored
            f.unlink(missing_ok=True)
    return path


def _epochs(config, config_dict, alg, ts, train_data, test_data, keys, run_dir, history, start_epoch,
            steps_per_epoch, wall_before, reference_loss, newest, progress, log) -> dict:
    t0 = time.perf_counter()
    images, labels = jnp.asarray(train_data.images), jnp.asarray(train_data.labels)
    mesh = None
    if config.mesh is not None:  # the data on every device; each step's batch split over "data"
        from .. import sharding

        mesh = sharding.mesh_from_text(config.mesh)
        images, labels = sharding.replicate((images, labels), mesh)
    n_used = steps_per_epoch * config.batch_size
    compiled = False
    stopped = None  # newest: the checkpoint the run resumed from, then the last one written
    watch = DivergenceWatch(config.divergence_factor, config.divergence_patience, reference_loss)
    for epoch in range(start_epoch, config.epochs):
        order = _shuffled(len(train_data.labels), jax.random.fold_in(keys.shuffle, epoch))
        batches = order[:n_used].reshape(steps_per_epoch, config.batch_size)
        if mesh is not None:
            batches = sharding.shard_batch(batches, mesh, axis=1)
        sums = np.zeros(7)
        b = 0
        watch.new_epoch()
        for length in chunk_lengths(steps_per_epoch):
            if not compiled:
                log(f"compiling the training step ({alg.__class__.__name__}, "
                    f"{alg.model.describe()}); this takes a few seconds to a minute ...")
                t_compile = time.perf_counter()
            # one compiled scan per chunk; step b of the epoch uses fold_in(keys.steps, epoch·steps + b)
            new_ts, m = run_steps(alg, ts, images, labels, batches[b:b + length], key=keys.steps,
                                  first=epoch * steps_per_epoch + b)
            m = jax.device_get(m)
            if not compiled:
                compiled = True
                log(f"compiled and ran the first {length} steps in {time.perf_counter() - t_compile:.1f} s")
            losses = np.asarray(m.loss, dtype=np.float64)
            watch.first(losses)
            for i in range(length):
                loss = float(losses[i])
                stopped = watch.step(loss, epoch=epoch + 1, batch=b + i + 1)
                if stopped:
                    break
                sums += np.array([loss, float(m.correct[i]), float(m.write_energy[i]), float(m.read_energy[i]),
                                  float(m.converter_energy[i]), float(m.pulses[i]), float(m.latency[i])])
                if progress is not None:
                    progress(epoch, b + i + 1, steps_per_epoch, sums[0] / (b + i + 1))
            if stopped:
                break
            ts = new_ts
            b += length
        if not stopped:
            stopped = watch.epoch_mean(sums[0] / steps_per_epoch, epoch=epoch + 1, batch=steps_per_epoch)
        if stopped:
            break
        acc = evaluate(alg, ts, test_data, key=jax.random.fold_in(keys.evaluate, epoch))
        history.append(epoch_record(epoch + 1, steps_per_epoch, config.batch_size, sums, acc))
        wall = wall_before + time.perf_counter() - t0
        newest = _save_epoch(run_dir, ts, {"epoch": epoch + 1, "history": history, "config": config_dict,
                                           "wall_time_s": wall, "reference_loss": watch.reference_loss})
        log(f"epoch {epoch + 1}/{config.epochs}: loss {history[-1]['train_loss']:.4f}, "
            f"test accuracy {100 * acc:.2f} %")

    wall = wall_before + time.perf_counter() - t0
    if stopped:
        report, message = write_diverged(config, config_dict, alg, ts, train_data, test_data, history, wall, keys,
                                         run_dir, stopped, newest)
        raise DivergenceError(message, report, newest if history else None)

    report = _report(config, config_dict, alg, ts, train_data, test_data, history, wall, keys.report)
    atomic_write_json(run_dir / "report.json", report)
    _plots(config, alg, ts, history, run_dir)
    return report


def run_title(config: TrainConfig) -> str:
    """A figure title naming the run: device, algorithm, seed."""
    return f"{_device_label(config)} · {config.algorithm} · seed {config.seed}"


def _plots(config, alg, ts, history, run_dir: Path) -> None:
    from .plots import plot_conductance_histogram, plot_history

    plot_history(history, run_dir / "history.png", title=run_title(config))
    if alg.analog:
        layers = []
        for i, (c, s) in enumerate(zip(alg.model.crossbars, ts.states)):
            gp, gm = c.conductances(s)
            g = {"G+": np.asarray(gp)} if gm is not None else {"G": np.asarray(gp)}
            if gm is not None:
                g["G-"] = np.asarray(gm)
            g_min, g_max = c.device.conductance_range
            layers.append({"name": f"layer {i + 1} ({c.in_features}×{c.out_features})", "conductances": g,
                           "g_min": float(np.min(g_min)), "g_max": float(np.max(g_max))})
        plot_conductance_histogram(layers, run_dir / "conductance_histogram.png", title=run_title(config))


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


def _physical_settings(config: TrainConfig, alg) -> dict:
    """Every physical setting that shaped an analog run (SI units)."""
    c = alg.model.crossbars[0]
    tile = c.tile
    r_row, r_col = config.wire_resistance
    return {
        "ir_drop": bool(config.ir_drop),
        "wires": ("exact wire network in every MVM" if config.ir_drop else "ideal (not simulated)"),
        "r_row_ohm": r_row, "r_col_ohm": r_col,
        "wire_node": config.r_wire if isinstance(config.r_wire, str) else None,
        "tile_rows": tile.max_tile_size[0], "tile_cols": tile.max_tile_size[1],
        "tiles_per_layer": [int(np.prod(x.tile.tile_grid)) for x in alg.model.crossbars],
        "mapping": config.mapping, "devices_per_weight": int(c.devices_per_weight),
        "dac_bits": tile.dac.bits, "adc_bits": tile.adc.bits,
        "dac_energy_per_conversion_J": float(tile.dac.energy), "adc_energy_per_conversion_J": float(tile.adc.energy),
        "read_voltage_V": float(tile.read_voltage), "read_time_s": float(tile.read_time),
        "adc_out_bound": float(tile.out_bound),
        "input_scaling": tile.input_scaling, "bound_management": tile.bound_management,
        "rest_time_s": float(config.rest_time),
        "g_min_S": float(np.min(c.device.conductance_range[0])),
        "g_max_S": float(np.max(c.device.conductance_range[1])),
    }


def _ir_drop_effects(alg, ts, x, key) -> list[dict]:
    """What the wires did in each layer (largest voltage lost on the wires, output error
    against ideal wires), on the inputs each layer sees when the trained network reads
    the test images ``x``."""
    from ..arrays.diagnostics import ir_drop_effect, ir_drop_effect_report

    _, traces = eqx.filter_jit(alg.model)(ts.states, x, key=key)
    return [{"layer": i + 1} | ir_drop_effect_report(eqx.filter_jit(ir_drop_effect)(c, s, t.inputs))
            for i, (c, s, t) in enumerate(zip(alg.model.crossbars, ts.states, traces))]


def _report(config, config_dict, alg, ts, train_data, test_data, history, wall, key, *, e_inf=None,
            ir_effects=None) -> dict:
    last = history[-1]
    analog = alg.analog
    n_cells = 0
    if analog:
        n_cells = sum(c.in_features * c.out_features * c.devices_per_weight for c in alg.model.crossbars)
    sample = jnp.asarray(test_data.images[: min(1000, len(test_data.labels))])
    if e_inf is None:  # a study passes the energy it measured for all its points at once
        e_inf = float(_inference_energy(alg, ts, sample, key))
    steps = len(train_data.labels) // config.batch_size
    updates = sum(h.get("updates", steps) for h in history)

    def total(name):
        return float(sum(h.get(name, 0.0) * h.get("updates", steps) for h in history))

    extra = {}
    train = getattr(alg.model.crossbars[0].device, "train", None) if analog else None
    if train is not None:  # magneto-ionic devices: the gate-pulse protocol that ran
        extra["pulse_train"] = {"amplitude_V": float(train.amplitude), "width_s": float(train.width),
                                "period_s": float(train.period), "burst": int(train.burst),
                                "depression": train.depression,
                                "depression_amplitude_V": float(train.depression_amplitude),
                                "rest_after_train_s": float(train.rest)}
    if analog:
        extra["physical"] = _physical_settings(config, alg)
        if config.ir_drop:
            extra["ir_drop_effect"] = (ir_effects if ir_effects is not None else
                                       _ir_drop_effects(alg, ts, sample[:100], jax.random.fold_in(key, 1)))
    e_total = total("energy_per_update_J")
    report = extra | {
        "status": "finished",
        "test_accuracy": last["test_accuracy"],
        # run means over every update of every epoch; the last epoch's in *_last_epoch_*
        "energy_per_update_J": e_total / updates if analog else None,
        "energy_per_update_last_epoch_J": last["energy_per_update_J"] if analog else None,
        "energy_per_update_per_cell_J": e_total / updates / n_cells if analog else None,
        "write_energy_per_update_J": total("write_energy_per_update_J") / updates if analog else None,
        "read_energy_per_update_J": total("read_energy_per_update_J") / updates if analog else None,
        "converter_energy_per_update_J": total("converter_energy_per_update_J") / updates if analog else None,
        "total_training_energy_J": e_total if analog else None,
        "pulses_per_update": total("pulses_per_update") / updates if analog else None,
        "pulses_per_update_last_epoch": last["pulses_per_update"] if analog else None,
        "total_pulses": total("pulses_per_update") if analog else None,
        "updates": updates,
        "latency_per_update_s": total("latency_per_update_s") / updates if analog else None,
        "device_time_s": total("latency_per_update_s") if analog else None,
        "algorithm_settings": _algorithm_settings(alg),
        "energy_per_inference_J": e_inf if analog else None,
        "device": config.device if analog else "float",
        "algorithm": config.algorithm,
        "network": alg.model.describe(),
        "cells": n_cells,
        "epochs": config.epochs,
        "epochs_finished": len(history),
        "train_samples": len(train_data.labels),
        "test_samples": len(test_data.labels),
        "train_data": train_data.source,
        "wall_time_s": wall,
        "history": history,
        "config": config_dict,
        "backend": jax.default_backend(),
        "synaptax_version": _version(),
    }
    if analog:  # first-order latency, area and figures of merit (synaptax.circuits.costs)
        from ..circuits.costs import run_costs

        report["costs"] = run_costs(alg, report=report)
    return report


def _version() -> str:
    from .. import __version__

    return __version__

__all__ = [
    "DivergenceError", "KEEP_CHECKPOINTS", "RUN_FILES", "RunKeys", "TrainConfig", "TrainingError", "build",
    "checkpoint_path", "checkpoints", "chunk_lengths", "evaluate", "load_latest_checkpoint", "run_steps",
    "run_title", "train",
]
