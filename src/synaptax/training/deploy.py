"""Inference deployment: program a trained run's weights into fresh devices, let them drift,
and measure accuracy and inference energy over time (``synaptax evaluate``).

The workflow of an analog inference chip after training:

1. **Program** (:func:`program`, :func:`program_crossbar`).  Fresh devices (a new
   device-to-device sample: per-cell bounds, stuck cells) are set to the trained weights of
   every layer through the crossbar's mapping (:meth:`~synaptax.arrays.Crossbar.init`); a
   differential pair is placed one-sided by default (the device of the weight's sign at the
   bottom of its window plus ``|w|``, the other at the bottom, as inference chips and
   aihwkit program a pair; :func:`resolve_placement`), so drift scales the weight instead of
   turning the devices' spread on a shared mid-range offset into weight noise.
   With ``programming_noise`` each cell then lands at ``g_target + N(0, σ_prog(g_target))``
   (clipped to the cell's bounds), ``σ_prog`` being the device's
   ``programming_noise_std(g)`` [S].  A device that defines none (or returns zeros, the
   contract's default) is programmed *exactly*: every cell at its target conductance,
   clipped to its own window, stuck cells at their bound, and a family with discrete states
   (Co/Gd) at its nearest representable state (what its ``init`` does with a conductance).
   With ``verify = n > 0`` a program-and-verify loop follows: up to ``n`` times, read the
   weights (with the device's read noise), and give every weight whose error exceeds
   ``tolerance`` ``round(error / dw_min)`` pulses through the crossbar's mapping
   (:meth:`~synaptax.arrays.Crossbar.apply_pulses`: the device contract, so every family
   works, with its own nonlinearity and cycle-to-cycle noise) — with one-sided placement
   only the device of the weight's sign is pulsed (``round(error / (dw_min/2))`` pulses of
   one device), the other staying at the bottom of its window; weights within tolerance get
   no pulse and are left untouched.
2. **Drift** (:func:`accuracy_over_time`).  The devices ``evolve`` from one time to the next
   (times in seconds after programming, ascending: ``evolve(t_k − t_{k−1})``), what each
   family does at rest: generic devices relax only when they carry a
   :class:`~synaptax.devices.generic.relaxation.Relaxation` (none of the presets does);
   ECRAM relaxes through its rest path (open circuit with an electronic leak, or the gate
   held at ``rest_voltage``: the device's ``rest_condition``) and loses working ions;
   magneto-ionic films evolve at 0 V (recovery, redistribution, post-stimulated rise); the
   Co/Gd ferrimagnet does not relax.
3. **Measure** at every time: test accuracy and the mean energy of one inference, for
   ``repeats`` independent programmings; mean and sample standard deviation over repeats.
4. **Global drift compensation** (option, the idea of aihwkit's ``GlobalDriftCompensation``):
   right after programming each layer reads a fixed set of reference inputs (twice) and
   keeps its outputs; at time ``t`` it reads them again and scales its analog output
   digitally by the ratio (the layer's ``output_scale``; :func:`drift_scales`).  Two
   choices differ from aihwkit's: the reference inputs are random ±1 vectors, not one-hot
   vectors (their outputs sum a whole column, well above the ADC's resolution, so the ratio
   measures the global scale, not the quantiser), and the ratio is of signed inner products,
   not of mean magnitudes (zero-mean read noise does not count as signal).

:func:`evaluate_run` does all of it for a run folder and writes
``inference-<hash>.json`` and ``inference-<hash>.png`` there (the hash over the settings and
the checkpoint); a result with the same settings is never recomputed or overwritten.

Float-trained runs (``float``; a hardware-aware ``hwa`` run) hold digital weights: they are
converted to an analog network by ``synaptax.training.convert.to_analog`` and then deployed
the same way.

Keys: every function takes an explicit key and splits it once into named streams (programming,
evaluation, energy, compensation), indexed by repeat and time with ``fold_in``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ..arrays import Crossbar, CrossbarState
from .algorithms import TrainState
from .loop import TrainingError

#: Default evaluation times [s after programming]: 1 s, 1 min, 1 h, 1 day, 1 month, 1 year.
DEFAULT_TIMES = (1.0, 60.0, 3600.0, 86400.0, 2.6e6, 3.2e7)

#: Reference input vectors per layer for global drift compensation.
REFERENCE_VECTORS = 64


class DeployError(TrainingError):
    """A deployment cannot run (bad settings, not a run folder, no checkpoint); one line."""


# ---------------------------------------------------------------------------- programming
def trained_weights(alg, ts: TrainState) -> tuple[Array, ...]:
    """The weights ``(out_features, in_features)`` every analog layer of ``alg`` holds in
    ``ts`` (the devices' conductances, without read noise)."""
    _check_analog(alg)
    return tuple(layer.crossbar.weights(s) for layer, s in zip(alg.model.layers, ts.states))


def _check_analog(alg) -> None:
    if not getattr(alg, "analog", False):
        raise DeployError(f"algorithm {getattr(alg, 'name', type(alg).__name__)!r} has no analog layers to program; "
                          "convert its network first (evaluate_run does)")


def _select(mask: Array, new, old):
    """``new`` where ``mask`` (the arrays' shape) holds, ``old`` elsewhere, for every leaf of a
    device state (leaves of the array's shape plus trailing family axes)."""
    def pick(a, b):
        if a.ndim >= mask.ndim and a.shape[:mask.ndim] == mask.shape:
            return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim)), a, b)
        return a

    return jax.tree_util.tree_map(pick, new, old)


def read_weights(crossbar: Crossbar, state: CrossbarState, *, key: PRNGKeyArray) -> Array:
    """The weights ``(out_features, in_features)`` as one read sees them: the conductances with
    the device's read noise (independent per cell; none for a noiseless device)."""
    w = crossbar.weights(state)
    stds = [crossbar.device.read_noise_std(s) for s in crossbar.mapping.device_states(state)]
    if stds[0] is None:
        return w
    std = jnp.sqrt(sum(s ** 2 for s in stds))
    std = crossbar.tile.trim(std).T / crossbar.g_per_w
    return w + std * jax.random.normal(key, w.shape, w.dtype)


def has_programming_noise(device) -> bool:
    """Whether ``device``'s family defines programming noise (overrides the contract's
    ``programming_noise_std``, whose default is zeros)."""
    from ..devices.core.contract import AbstractDevice

    method = getattr(type(device), "programming_noise_std", None)
    return method is not None and method is not getattr(AbstractDevice, "programming_noise_std", None)


def _programming_noise(crossbar: Crossbar, state: CrossbarState, k_cells: PRNGKeyArray,
                       k_noise: PRNGKeyArray) -> CrossbarState:
    """Each device array re-set to ``g_target + N(0, σ_prog(g_target))``, clipped to each
    cell's bounds.  The cells (bounds, faults, the family's own sample) are the same as
    ``crossbar.init``'s: the array is re-initialised with the key the mapping gave it (both
    mappings split the crossbar's key into one key per device array, in
    ``mapping.device_states`` order; ``tests/test_deploy.py`` checks it), so families whose
    conductance is a function of internal variables (magneto-ionic films, Co/Gd spins) get a
    consistent state."""
    device = crossbar.device
    if not has_programming_noise(device):
        return state
    std_fn = device.programming_noise_std
    arrays = crossbar.mapping.device_states(state)
    cell_keys = jax.random.split(k_cells)
    new = []
    for i, s in enumerate(arrays):
        g = device.conductance(s)
        std = jnp.broadcast_to(jnp.asarray(std_fn(g), g.dtype), g.shape)
        noisy = g + std * jax.random.normal(jax.random.fold_in(k_noise, i), g.shape, g.dtype)
        noisy = jnp.clip(noisy, s.g_min, s.g_max)
        new.append(device.init(g.shape, key=cell_keys[i], conductance=noisy))
    return CrossbarState(new[0], new[1] if len(new) > 1 else None)


def resolve_placement(crossbar: Crossbar, placement: str | None) -> str:
    """Where a weight's devices are put when it is programmed for inference
    (:meth:`~synaptax.arrays.Crossbar.init`): ``"one-sided"`` (the device of the weight's
    sign at the bottom of its window plus ``|w|``, the other at the bottom: how inference
    chips and aihwkit program a differential pair; the default for a pair) or
    ``"centred"`` (around mid-range, as in training; the only one for the reference mapping).
    With one-sided placement drift scales the weight (what global compensation undoes); with
    centred placement each device's own drift acts on the shared mid-range offset, which
    becomes weight noise no global scale removes."""
    if placement is None:
        return "one-sided" if crossbar.devices_per_weight == 2 else "centred"
    if placement not in ("centred", "one-sided"):
        raise DeployError(f"placement must be 'centred' or 'one-sided', got {placement!r}")
    if placement == "one-sided" and crossbar.devices_per_weight != 2:
        raise DeployError("placement 'one-sided' needs a differential pair (mapping 'differential')")
    return placement


def program_crossbar(crossbar: Crossbar, weights: ArrayLike, *, key: PRNGKeyArray, programming_noise: bool = True,
                     verify: int = 0, tolerance: float | None = None, placement: str | None = None) -> CrossbarState:
    """Fresh devices of ``crossbar`` programmed to ``weights`` ``(out_features, in_features)``.

    Args:
        crossbar: the crossbar (device, mapping, tile).
        weights: the target weights.
        key: PRNG key: split into the devices' sample, the programming noise and the verify
            loop (its reads and pulses, indexed by iteration).
        programming_noise: add the device's ``programming_noise_std(g)`` [S] per cell (module
            docstring); a device without one is programmed exactly.
        verify: program-and-verify iterations (0: none).
        tolerance: weight error [weight units] a verified weight may keep; default half the
            crossbar's nominal weight step ``dw_min`` (the error one pulse cannot reduce).
        placement: :func:`resolve_placement` (None: one-sided on a differential pair).

    Returns:
        The crossbar state.
    """
    verify = _check_count("verify", verify)
    tol = _check_tolerance(tolerance)
    noisy = bool(programming_noise) and has_programming_noise(crossbar.device)  # one program when it has none
    return _program_one(crossbar, jnp.asarray(weights), key, noisy, verify > 0,
                        jnp.asarray(verify), jnp.asarray(-1.0 if tol is None else tol),
                        resolve_placement(crossbar, placement))


def _program_crossbar(crossbar, weights, key, programming_noise, verifying, verify, tolerance, placement):
    """``verifying`` (static) compiles the loop; ``verify`` (its iterations) and ``tolerance``
    (< 0: half a step) are traced, so every count shares one program."""
    k_cells, k_noise, k_verify = jax.random.split(key, 3)
    state = crossbar.init(key=k_cells, weights=weights, placement=placement)
    if programming_noise:
        state = _programming_noise(crossbar, state, k_cells, k_noise)
    if not verifying:
        return state
    dw = crossbar.dw_min
    tol = jnp.where(tolerance < 0, 0.5 * dw, tolerance)

    def iteration(i, state):
        k_read, k_pulse = jax.random.split(jax.random.fold_in(k_verify, i))
        err = weights - read_weights(crossbar, state, key=k_read)
        if placement == "one-sided":
            # only the device of the weight's sign is corrected (the other stays at the bottom
            # of its window): one device's step is half the pair's dw_min
            n = jnp.where(jnp.abs(err) > tol, jnp.round(err / (0.5 * dw)), 0.0)
            positive = weights >= 0
            k_plus, k_minus = jax.random.split(k_pulse)
            plus = crossbar.device.apply_pulses(state.plus, crossbar.pad(jnp.where(positive, n, 0.0).T), key=k_plus)
            minus = crossbar.device.apply_pulses(state.minus, crossbar.pad(jnp.where(positive, 0.0, -n).T),
                                                 key=k_minus)
            pulsed = CrossbarState(plus, minus)
        else:
            n = jnp.where(jnp.abs(err) > tol, jnp.round(err / dw), 0.0)
            up, down = crossbar.pad(jnp.maximum(n, 0.0).T), crossbar.pad(jnp.maximum(-n, 0.0).T)
            pulsed = crossbar.apply_pulses(state, up, down, key=k_pulse)
        return _select(crossbar.pad((n != 0).T), pulsed, state)  # the others: no pulse, no rest

    return jax.lax.fori_loop(0, verify, iteration, state)


_program_one = eqx.filter_jit(_program_crossbar)


@eqx.filter_jit
def _program_all(model, weights, key, programming_noise, verifying, verify, tolerance, placement):
    return tuple(_program_crossbar(layer.crossbar, w, jax.random.fold_in(key, i), programming_noise, verifying,
                                   verify, tolerance, resolve_placement(layer.crossbar, placement))
                 for i, (layer, w) in enumerate(zip(model.layers, weights)))


def program(alg, ts: TrainState, *, key: PRNGKeyArray, weights: Sequence[ArrayLike] | None = None,
            programming_noise: bool = True, verify: int = 0, tolerance: float | None = None,
            placement: str | None = None) -> TrainState:
    """``ts`` with every analog layer's crossbar state replaced by fresh devices programmed to
    its weights (:func:`program_crossbar`; layer ``i`` with ``fold_in(key, i)``).

    Args:
        alg: an analog algorithm (its ``model`` has ``.layers``, each with a ``.crossbar``).
        ts: the train state whose digital parameters (biases) are kept.
        key: PRNG key.
        weights: the weights to program, one ``(out_features, in_features)`` array per layer;
            default: the weights ``ts``'s devices hold (:func:`trained_weights`).
        programming_noise, verify, tolerance, placement: as :func:`program_crossbar`.
    """
    _check_analog(alg)
    for layer in alg.model.layers:
        resolve_placement(layer.crossbar, placement)
    if weights is None:
        weights = trained_weights(alg, ts)
    weights = tuple(jnp.asarray(w) for w in weights)
    if len(weights) != len(alg.model.layers):
        raise DeployError(f"weights: {len(weights)} arrays for {len(alg.model.layers)} layers")
    for i, (layer, w) in enumerate(zip(alg.model.layers, weights)):
        shape = (layer.crossbar.out_features, layer.crossbar.in_features)
        if w.shape != shape:
            raise DeployError(f"weights of layer {i + 1} have shape {w.shape}, its crossbar holds {shape}")
    verify = _check_count("verify", verify)
    tol = _check_tolerance(tolerance)
    noisy = bool(programming_noise) and any(has_programming_noise(layer.crossbar.device) for layer in alg.model.layers)
    states = _program_all(alg.model, weights, key, noisy, verify > 0, jnp.asarray(verify),
                          jnp.asarray(-1.0 if tol is None else tol), placement)
    return eqx.tree_at(lambda t: t.states, ts, states)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise DeployError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_tolerance(tolerance):
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            math.isfinite(tolerance) and tolerance >= 0):
        raise DeployError(f"tolerance must be a finite weight error >= 0, got {tolerance!r}")
    return float(tolerance)


# ---------------------------------------------------------------------------- over time
def check_times(times) -> tuple[float, ...]:
    """``times`` [s after programming] as ascending unique floats; a :class:`DeployError`
    unless there is at least one and each is finite and >= 0."""
    try:
        values = [float(t) for t in times]
    except (TypeError, ValueError):
        raise DeployError(f"times must be numbers of seconds after programming, got {times!r}") from None
    if not values:
        raise DeployError("times: give at least one time (seconds after programming)")
    for t in values:
        if not (math.isfinite(t) and t >= 0):
            raise DeployError(f"times must be finite and >= 0 s after programming, got {t!r}")
    return tuple(sorted(set(values)))


def parse_times(text: str) -> tuple[float, ...]:
    """``"1,60,3600"`` → ``(1.0, 60.0, 3600.0)`` (:func:`check_times`); a one-line
    :class:`DeployError` for anything else."""
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise DeployError(f"--times must be a comma-separated list of seconds, got {text!r}")
    values = []
    for t in items:
        try:
            values.append(float(t))
        except ValueError:
            raise DeployError(f"--times must be a comma-separated list of seconds (e.g. 1,60,3600), got {t!r} "
                              f"in {text!r}") from None
    return check_times(values)


@eqx.filter_jit
def _evolve_all(model, states, duration):
    return tuple(layer.crossbar.evolve(s, duration) for layer, s in zip(model.layers, states))


def evolve(alg, ts: TrainState, duration: float) -> TrainState:
    """``ts`` after ``duration`` [s] at rest: every layer's devices ``evolve``."""
    _check_analog(alg)
    d = check_times([duration])[0]
    return eqx.tree_at(lambda t: t.states, ts, _evolve_all(alg.model, ts.states, jnp.asarray(d)))


def reference_inputs(alg, *, key: PRNGKeyArray, count: int = REFERENCE_VECTORS) -> tuple[Array, ...]:
    """Fixed random ±1 input vectors ``(count, in_features)`` of every layer's crossbar, the
    reference reads of global drift compensation (module docstring)."""
    return tuple(jax.random.rademacher(jax.random.fold_in(key, i), (count, layer.crossbar.in_features),
                                       dtype=jnp.result_type(float))
                 for i, layer in enumerate(alg.model.layers))


@eqx.filter_jit
def _reference_reads(model, states, refs, key):
    return tuple(layer.crossbar.forward(s, x, key=jax.random.fold_in(key, i))
                 for i, (layer, s, x) in enumerate(zip(model.layers, states, refs)))


def reference_reads(alg, ts: TrainState, refs: Sequence[Array], *, key: PRNGKeyArray) -> tuple[Array, ...]:
    """Every layer's crossbar outputs ``W x`` on its reference inputs ``refs`` (one read: the
    converters and the devices' read noise), one ``(count, out_features)`` array per layer."""
    _check_analog(alg)
    return _reference_reads(alg.model, ts.states, tuple(refs), key)


@jax.jit
def _drift_scales(first, second, now):
    out = []
    for a, b, y in zip(first, second, now):
        num = jnp.maximum(jnp.sum(a * b), 1e-30)
        out.append(num / jnp.maximum(jnp.sum(a * y), 1e-4 * num))
    return jnp.stack(out)


def drift_scales(first: Sequence[Array], second: Sequence[Array], now: Sequence[Array]) -> Array:
    """Global drift compensation's factor per layer, ``(layers,)``: ``⟨y₁, y₂⟩ / ⟨y₁, y_t⟩``
    from two reads ``first``, ``second`` of the reference inputs right after programming and
    one read ``now`` (:func:`reference_reads`).

    For outputs that drifted by a global factor ``α`` (``y_t = α·y₀`` plus noise) this is
    ``1/α``.  The signed products make zero-mean read noise average out (the two baseline
    reads are independent, so their product carries no noise power); aihwkit's ratio of mean
    magnitudes ``mean|y₀| / mean|y_t|`` would count the noise as signal (with PCM's 1/f read
    noise it reads a scale of 0.6 one second after programming).  Capped at 10⁴."""
    return _drift_scales(tuple(first), tuple(second), tuple(now))


def with_output_scales(alg, scales: ArrayLike):
    """``alg`` with layer ``i``'s ``output_scale`` (the digital factor on the crossbar's output,
    before the bias) set to ``scales[i]``."""
    layers = alg.model.layers
    missing = [i + 1 for i, layer in enumerate(layers) if not hasattr(layer, "output_scale")]
    if missing:
        raise DeployError(f"layers {missing} have no output_scale: drift compensation needs it")
    scales = jnp.asarray(scales)
    new = tuple(jnp.asarray(scales[i], layer.output_scale.dtype) for i, layer in enumerate(layers))
    model = eqx.tree_at(lambda m: tuple(layer.output_scale for layer in m.layers), alg.model, new)
    return eqx.tree_at(lambda a: a.model, alg, model)


@eqx.filter_jit
def _weight_errors(model, states, targets):
    return jnp.stack([jnp.sqrt(jnp.mean((layer.crossbar.weights(s) - w) ** 2))
                      for layer, s, w in zip(model.layers, states, targets)])


@eqx.filter_jit
def _measure(alg, ts, x, y, key):
    # one key for both: the same reads, so the compiler shares the forward pass
    logits = alg.predict(ts, x, key=key)
    return jnp.sum(jnp.argmax(logits, -1) == y), alg.inference_energy(ts, x, key=key) * x.shape[0]


def measure(alg, ts: TrainState, data, *, key: PRNGKeyArray, chunk: int = 1000) -> tuple[float, float]:
    """``(accuracy, mean energy [J] of one inference)`` of ``alg`` in state ``ts`` on ``data``,
    in chunks of ``chunk`` samples (chunk ``i`` read with ``fold_in(key, i)``, as
    :func:`~synaptax.training.loop.evaluate`)."""
    correct, energy = 0, 0.0
    n = len(data.labels)
    for i in range(0, n, chunk):
        c, e = _measure(alg, ts, jnp.asarray(data.images[i:i + chunk]), jnp.asarray(data.labels[i:i + chunk]),
                        jax.random.fold_in(key, i))
        correct, energy = correct + int(c), energy + float(e)
    return correct / n, energy / n


def _stats(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else None)


def accuracy_over_time(alg, source, data, times, *, key: PRNGKeyArray, repeats: int = 5,
                       drift_compensation: bool = False, programming_noise: bool = True, verify: int = 0,
                       tolerance: float | None = None, weights: Sequence[ArrayLike] | None = None,
                       placement: str | None = None) -> dict:
    """Accuracy and inference energy of a programmed network over time.

    For each of ``repeats`` repeats: program (a fresh key: new devices, new programming
    noise), then evolve incrementally through ``times`` (ascending: ``evolve(t_k − t_{k−1})``
    from programming at 0 s) and measure at each time the test accuracy on ``data`` and the
    mean energy [J] of one inference over it (:func:`measure`).

    Args:
        alg: an analog algorithm (its ``predict``, ``inference_energy``, ``model.layers``).
        source: a :class:`TrainState` (trained: its weights, or ``weights``, are programmed
            with :func:`program` and the options below), or a function ``key -> TrainState``
            returning freshly programmed states.
        data: the test :class:`~synaptax.training.datasets.Dataset`.
        times: seconds after programming (:func:`check_times`).
        key: PRNG key; split into programming, evaluation and compensation streams, each
            indexed by repeat (then time).
        repeats: independent programmings (>= 1).
        drift_compensation: global drift compensation (module docstring).
        programming_noise, verify, tolerance, weights, placement: as :func:`program` (with a
            TrainState ``source``).

    Returns:
        ``{"times_s", "repeats", "accuracy" (per time, per repeat), "accuracy_mean",
        "accuracy_std", "energy_per_inference_J", "energy_per_inference_J_mean",
        "energy_per_inference_J_std", "weight_error_rms" (per time, per layer, mean over
        repeats: rms of held − target weights), "programming_weight_error_rms" (per layer,
        right after programming), "compensation_scale" (per time, per layer, mean over
        repeats; None without compensation)}``; the standard deviations are sample ones
        (None for one repeat).
    """
    _check_analog(alg)
    times = check_times(times)
    if _check_count("repeats", repeats) < 1:
        raise DeployError(f"repeats must be >= 1, got {repeats}")
    if len(data.labels) < 1:
        raise DeployError("the test data hold no sample")
    k_program, k_eval, k_comp = jax.random.split(key, 3)
    if callable(source) and not isinstance(source, TrainState):
        make = source
    else:
        def make(k):
            return program(alg, source, key=k, weights=weights, programming_noise=programming_noise, verify=verify,
                           tolerance=tolerance, placement=placement)
    refs = reference_inputs(alg, key=jax.random.fold_in(k_comp, 0)) if drift_compensation else None
    acc = np.zeros((len(times), repeats))
    energy = np.zeros((len(times), repeats))
    errors = np.zeros((len(times), repeats, len(alg.model.layers)))
    scales = np.ones((len(times), repeats, len(alg.model.layers)))
    first_errors = np.zeros((repeats, len(alg.model.layers)))
    for r in range(repeats):
        ts = make(jax.random.fold_in(k_program, r))
        if weights is not None:
            targets = tuple(jnp.asarray(w) for w in weights)
        elif isinstance(source, TrainState):
            targets = trained_weights(alg, source)
        else:
            targets = trained_weights(alg, ts)  # the programmed weights: errors are the drift
        first_errors[r] = np.asarray(_weight_errors(alg.model, ts.states, targets))
        k_comp_r = jax.random.fold_in(jax.random.fold_in(k_comp, 1), r)  # reads 0, 1: baseline; 2 + i: time i
        if refs:
            first, second = (reference_reads(alg, ts, refs, key=jax.random.fold_in(k_comp_r, j)) for j in (0, 1))
        now = 0.0
        for i, t in enumerate(times):
            if t > now:
                ts = eqx.tree_at(lambda s: s.states, ts, _evolve_all(alg.model, ts.states, jnp.asarray(t - now)))
                now = t
            a = alg
            if refs:
                scale = drift_scales(first, second,
                                     reference_reads(alg, ts, refs, key=jax.random.fold_in(k_comp_r, 2 + i)))
                scales[i, r] = np.asarray(scale)
                a = with_output_scales(alg, scale)
            errors[i, r] = np.asarray(_weight_errors(alg.model, ts.states, targets))
            acc[i, r], energy[i, r] = measure(a, ts, data, key=jax.random.fold_in(jax.random.fold_in(k_eval, r), i))
    acc_stats = [_stats(row) for row in acc]
    e_stats = [_stats(row) for row in energy]
    return {
        "times_s": list(times),
        "repeats": int(repeats),
        "accuracy": acc.tolist(),
        "accuracy_mean": [m for m, _ in acc_stats],
        "accuracy_std": [s for _, s in acc_stats],
        "energy_per_inference_J": energy.tolist(),
        "energy_per_inference_J_mean": [m for m, _ in e_stats],
        "energy_per_inference_J_std": [s for _, s in e_stats],
        "weight_error_rms": errors.mean(axis=1).tolist(),
        "programming_weight_error_rms": first_errors.mean(axis=0).tolist(),
        "compensation_scale": scales.mean(axis=1).tolist() if drift_compensation else None,
    }


# ---------------------------------------------------------------------------- run folders
class Deployment(NamedTuple):
    """A finished run made ready to program.

    Attributes:
        alg: the analog algorithm whose network receives the weights (the run's own, the run's
            with another device, or a float run's network converted to analog).
        ts: a train state of ``alg`` holding the trained digital parameters (biases); its
            crossbar states are the run's trained devices, or (another device, a converted
            float network) the target's devices set ideally to the weights.
        weights: the weights to program, one ``(out_features, in_features)`` array per layer
            (the trained devices' weights, or the float network's): pass them to
            :func:`program` and :func:`accuracy_over_time`.
        config: the run's :class:`~synaptax.training.loop.TrainConfig`.
        device: the target device's name (preset or device file; a model's class name).
        checkpoint: the checkpoint loaded.
        meta: its metadata (``epoch``, ``history``, ...).
        data: the test set (:func:`run_test_data`).
    """

    alg: object
    ts: TrainState
    weights: tuple
    config: object
    device: str
    checkpoint: Path
    meta: dict
    data: object


def _run_config(run_dir: Path):
    from .io import CheckpointError, read_json
    from .loop import TrainConfig

    if not run_dir.exists():
        raise DeployError(f"run folder {str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise DeployError(f"{str(run_dir)!r} is not a folder (give a run folder of 'synaptax train')")
    path = run_dir / "config.json"
    if not path.exists():
        raise DeployError(f"{str(run_dir)!r} is not a run folder (no config.json)")
    try:
        values = read_json(path, "run configuration")
    except CheckpointError as err:
        raise DeployError(str(err)) from None
    config = TrainConfig.from_dict(values, source=str(path))
    from ..devices.fitting.devicefile import is_device_file

    for name in ("device", "fast_device"):  # a device file moved away: the run's own copy
        spec = getattr(config, name)
        copy = run_dir / f"{name}.toml"
        if spec is not None and is_device_file(spec) and not Path(spec).exists() and copy.exists():
            config = dataclasses.replace(config, **{name: str(copy)})
    return config


def crossbar_options(config) -> dict:
    """The crossbar settings of a configuration (what ``loop.build`` gives every crossbar),
    as keyword arguments of :class:`~synaptax.arrays.Crossbar`."""
    from ..circuits.converters import ADC, DAC

    r_row, r_col = config.wire_resistance
    options = dict(w_max=config.w_max, mapping=config.mapping, dac=DAC(bits=config.dac_bits or None),
                   adc=ADC(bits=config.adc_bits or None, saturate=bool(config.adc_bits)),
                   max_tile_size=(config.max_tile, config.max_tile), ir_drop=config.ir_drop, r_row=r_row,
                   r_col=r_col, input_scaling=config.noise_management.replace("-", "_"))
    if config.bound_management != "none":
        options["bound_management"] = config.bound_management
    return options


def _target_device(config, device):
    """``(device model, name)`` of the deployment target: ``device`` (a name, or a model), else
    the run's."""
    from ..devices import get_preset
    from ..devices.core.contract import AbstractDevice
    from .loop import _check_device, apply_device_params

    if isinstance(device, AbstractDevice):
        return device, type(device).__name__
    name = config.device if device is None else str(device)
    _check_device("device", name)
    model = get_preset(name)
    if name == config.device and config.device_params:
        model = apply_device_params(model, config.device_params, name=name)
    if name == config.device and config.pulse_protocol:
        model = model.with_pulse_protocol(**config.pulse_protocol)
    return model, name


def _with_device(alg, device):
    """``alg`` with every layer's crossbar on ``device``."""
    return eqx.tree_at(lambda a: tuple(layer.crossbar.device for layer in a.model.layers), alg,
                       tuple(device for _ in alg.model.layers))


def _float_weights(model, states, network) -> tuple:
    """The digital weights of a float network, one ``(out, in)`` matrix per layer (a
    convolution's kernel flattened as its crossbar holds it); what ``to_analog`` programmed
    when its elements cannot be listed."""
    try:
        from .convert import _elements
        from .network import FloatConv2d, FloatDense

        found = tuple(jnp.asarray(e.weight).reshape(e.weight.shape[0], -1) for e in _elements(model)
                      if isinstance(e, (FloatDense, FloatConv2d)))
        if len(found) == len(network.layers):
            return found
    except (ImportError, AttributeError, TypeError, ValueError):
        pass
    return tuple(layer.crossbar.weights(s) for layer, s in zip(network.layers, states))


def run_test_data(config, *, test_samples: int | None = None):
    """The test set a run was evaluated on, loaded as ``loop.train`` loads it (its data
    source, and its subset of ``config.test_samples`` drawn with the run's data key), or a
    subset of ``test_samples`` (0: all) drawn with the same key.  The one place that knows
    how a run loads its test data."""
    from . import loop

    keys = loop.RunKeys.from_seed(config.seed)
    n = config.test_samples if test_samples is None else test_samples
    _, test = loop.load_data(config)
    return loop._subset(test, n, jax.random.fold_in(keys.data, 1))


def load_deployment(run_dir: str | Path, *, device=None, test_samples: int | None = None) -> Deployment:
    """A finished (or stopped) run's newest good checkpoint, ready to program.

    Args:
        run_dir: the run folder of ``synaptax train``.
        device: the target device: a preset name, a device file, or a device model; default
            the run's ``config.device`` (with its ``device_params`` and pulse protocol).  An
            analog run's trained weights are programmed into it; a float run's network is
            converted to it (:func:`synaptax.training.convert.to_analog`: each layer's
            ``w_max`` its largest weight, the run's other crossbar settings).
        test_samples: as :func:`run_test_data`.

    Raises:
        DeployError (a :class:`~synaptax.training.loop.TrainingError`): no such folder, not a
            run, no checkpoint, an unknown device; one line naming the folder or the setting.
    """
    from .loop import RunKeys, build, checkpoints, load_latest_checkpoint

    run_dir = Path(run_dir)
    config = _run_config(run_dir)
    config.validate()
    if not checkpoints(run_dir):
        raise DeployError(f"no checkpoint in {str(run_dir)!r}: no epoch of its run finished")
    target, name = _target_device(config, device)
    data = run_test_data(config, test_samples=test_samples)
    keys = RunKeys.from_seed(config.seed)
    alg = build(config, 1, key=keys.model, data=data)
    ts, meta, ck = load_latest_checkpoint(run_dir, alg.init(key=keys.model))
    if alg.analog:
        weights = trained_weights(alg, ts)
        if device is not None:  # the states of the new devices, programmed ideally (a state of alg)
            alg = _with_device(alg, target)
            ts = program(alg, ts, key=keys.model, weights=weights, programming_noise=False)
        return Deployment(alg, ts, weights, config, name, ck, meta, data)
    try:
        from .convert import to_analog
    except ImportError:
        raise DeployError(f"{str(run_dir)!r} holds a {config.algorithm!r} run (digital weights): deploying it needs "
                          "synaptax.training.convert.to_analog, which this version lacks") from None
    from .algorithms import build_optimizer, make_algorithm

    options = crossbar_options(config)
    options.pop("w_max")  # each layer's own largest weight (to_analog's default)
    try:
        network, states = to_analog(ts.params, target, key=keys.model, **options)
    except ValueError as err:  # convert.ConversionError
        raise DeployError(f"{str(run_dir)!r}: its network cannot be put on crossbars: {err}") from None
    opt, sched = build_optimizer(config.optimizer, config.learning_rate, total_steps=1, schedule=config.schedule)
    analog = make_algorithm("analog-sgd", network, opt, sched)
    template = eqx.tree_at(lambda t: t.states, analog.init(key=keys.model), tuple(states))
    return Deployment(analog, template, _float_weights(ts.params, states, network), config, name, ck, meta, data)


def _settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]


def result_paths(out: Path, digest: str) -> tuple[Path, Path]:
    """The JSON and PNG files of a deployment result."""
    return out / f"inference-{digest}.json", out / f"inference-{digest}.png"


def evaluate_run(run_dir: str | Path, times: Sequence[float] = DEFAULT_TIMES, *, repeats: int = 5, seed: int = 0,
                 device: str | None = None, programming_noise: bool = True, verify: int = 0,
                 tolerance: float | None = None, drift_compensation: bool = False, test_samples: int | None = None,
                 placement: str | None = None, out: str | Path | None = None,
                 log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Program a run's trained weights into fresh devices, let them drift, and record accuracy
    and inference energy at ``times`` [s after programming] (:func:`accuracy_over_time`).

    Writes ``inference-<hash>.json`` (the record returned) and ``inference-<hash>.png``
    (accuracy against time, log axis, ±1 std band; energy per inference) into ``out``
    (default: the run folder), atomically; ``<hash>`` covers every setting and the checkpoint
    (its SHA-256).  A result with the same hash is never recomputed: it is logged as there
    and returned (its figure redrawn if missing).

    Args:
        run_dir: the run folder.
        times, repeats, drift_compensation, programming_noise, verify, tolerance, placement: as
            :func:`accuracy_over_time` (``placement`` recorded resolved: None becomes the
            pair's ``"one-sided"``).
        seed: the deployment's PRNG seed (``jax.random.key(seed)``).
        device: target preset name or device file (default: the run's device).
        test_samples: test samples to evaluate (0: all; default: the run's).
        out: the folder to write into (default: ``run_dir``).
        log: where one-line messages go.

    Raises:
        DeployError: bad settings, no such folder, not a run, no checkpoint; TrainingError:
        unknown device.
    """
    run_dir = Path(run_dir)
    times = check_times(times)
    if _check_count("repeats", repeats) < 1:
        raise DeployError(f"repeats must be >= 1, got {repeats}")
    verify = _check_count("verify", verify)
    tolerance = _check_tolerance(tolerance)
    if test_samples is not None:
        _check_count("test_samples", test_samples)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DeployError(f"seed must be an integer, got {seed!r}")
    if device is not None and not isinstance(device, str):
        raise DeployError("evaluate_run takes a device name or device file; pass a device model to "
                          "load_deployment and accuracy_over_time")
    from .io import atomic_write_json, meta_path, read_json

    t0 = time.perf_counter()
    dep = load_deployment(run_dir, device=device, test_samples=test_samples)
    config = dep.config
    ck_meta = read_json(meta_path(dep.checkpoint), "checkpoint metadata")
    settings = {
        "times_s": list(times), "repeats": int(repeats), "seed": int(seed), "device": dep.device,
        "programming_noise": bool(programming_noise), "program_verify": verify, "tolerance": tolerance,
        "drift_compensation": bool(drift_compensation),
        "placement": resolve_placement(dep.alg.model.layers[0].crossbar, placement),
        "test_samples": config.test_samples if test_samples is None else int(test_samples),
        "checkpoint": dep.checkpoint.name, "checkpoint_sha256": ck_meta.get("checkpoint_sha256"),
    }
    from ..devices.fitting.devicefile import is_device_file

    if is_device_file(dep.device) and Path(dep.device).exists():  # a device file: its content counts
        settings["device_sha256"] = hashlib.sha256(Path(dep.device).read_bytes()).hexdigest()
    digest = _settings_hash(settings)
    out = run_dir if out is None else Path(out)
    json_path, png_path = result_paths(out, digest)
    if json_path.exists():
        record = read_json(json_path, "deployment result")
        log(f"already there: {json_path} (the same settings and checkpoint); not recomputed")
        if not png_path.exists():
            plot_accuracy_over_time(record, png_path)
        return record
    if not out.is_dir():
        raise DeployError(f"output folder {str(out)!r} does not exist")

    data = dep.data
    noisy = has_programming_noise(dep.alg.model.layers[0].crossbar.device)
    result = accuracy_over_time(dep.alg, dep.ts, data, times, key=jax.random.key(seed), repeats=repeats,
                                drift_compensation=drift_compensation, programming_noise=programming_noise,
                                verify=verify, tolerance=tolerance, weights=dep.weights,
                                placement=settings["placement"])
    history = dep.meta.get("history") or [{}]
    from .algorithms import ALGORITHMS
    from .loop import _version

    analog_run = ALGORITHMS[config.algorithm].analog

    record = {
        "kind": "synaptax inference deployment",
        "status": "finished",
        "run_dir": str(run_dir),
        "settings": settings,
        "settings_hash": digest,
        "trained": {"algorithm": config.algorithm, "device": config.device if analog_run or config.algorithm != "float" else "float",
                    "network": dep.alg.model.describe(), "epoch": dep.meta.get("epoch"),
                    "test_accuracy": history[-1].get("test_accuracy")},
        "device": dep.device,
        "programming_noise_model": ("the device's programming_noise_std(g)" if programming_noise and noisy
                                    else "none: cells set exactly to their targets (clipped to each cell's window)"),
        "test_samples": len(data.labels),
        "test_data": data.source,
        **result,
        "files": {"json": json_path.name, "png": png_path.name},
        "wall_time_s": time.perf_counter() - t0,
        "backend": jax.default_backend(),
        "synaptax_version": _version(),
    }
    plot_accuracy_over_time(record, png_path)
    atomic_write_json(json_path, record)  # last: a JSON file means a finished result
    return record


# ---------------------------------------------------------------------------- figure
def _time_axis(ax, times):
    positive = [t for t in times if t > 0]
    if len(positive) < len(times):  # 0 s on the axis: linear below the smallest positive time
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    else:
        ax.set_xscale("log")
    ax.set_xlabel("time after programming [s]")
    ax.grid(alpha=0.3)


def _energy_unit(values) -> tuple[str, float]:
    """An SI-prefixed unit of joules for ``values`` and the factor into it."""
    top = max((abs(float(v)) for v in values), default=0.0)
    for prefix, exp in (("", 0), ("m", -3), ("µ", -6), ("n", -9), ("p", -12), ("f", -15), ("a", -18)):
        if top >= 10.0 ** exp:
            return f"{prefix}J", 10.0 ** -exp
    return "J", 1.0


def figure_accuracy_over_time(record: dict):
    """The figure of a deployment record (:func:`evaluate_run`): accuracy [%] against time
    (log axis) with a ±1 standard-deviation band over repeats and the trained accuracy as a
    dashed line; energy per inference [J] against time.  A
    :class:`~synaptax._canvas.PlotFigure` (never pyplot)."""
    from .._canvas import new_figure

    t = np.asarray(record["times_s"], dtype=float)
    fig = new_figure((9.0, 3.6))
    ax, ax_e = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    e_unit, e_scale = _energy_unit(record["energy_per_inference_J_mean"])
    for a, key, scale, label in ((ax, "accuracy", 100.0, "accuracy [%]"),
                                 (ax_e, "energy_per_inference_J", e_scale, f"energy per inference [{e_unit}]")):
        mean = scale * np.asarray(record[f"{key}_mean"], dtype=float)
        std = record[f"{key}_std"]
        a.plot(t, mean, "o-", label="mean over repeats")
        if all(s is not None for s in std):
            s = scale * np.asarray(std, dtype=float)
            a.fill_between(t, mean - s, mean + s, alpha=0.25, label="± 1 std")
        a.set_ylabel(label)
        a.ticklabel_format(axis="y", useOffset=False, style="plain")
        _time_axis(a, t)
    trained = (record.get("trained") or {}).get("test_accuracy")
    if isinstance(trained, (int, float)):
        ax.axhline(100 * trained, color="C3", ls="--", lw=1, label=f"trained ({100 * trained:.2f} %)")
    s = record.get("settings", {})
    extras = [f"{record.get('repeats')} repeats"]
    if s.get("program_verify"):
        extras.append(f"verify {s['program_verify']}")
    if s.get("drift_compensation"):
        extras.append("drift compensation")
    if not s.get("programming_noise", True):
        extras.append("no programming noise")
    ax.set_title(f"{record.get('device')} · " + ", ".join(extras), fontsize=10)
    ax.legend(fontsize=8)
    ax_e.set_title("energy per inference", fontsize=10)
    return fig


def plot_accuracy_over_time(record: dict, path: str | Path) -> None:
    """Write :func:`figure_accuracy_over_time` to ``path`` as a PNG, atomically."""
    from .._canvas import png
    from .._files import atomic_write_bytes

    atomic_write_bytes(Path(path), png(figure_accuracy_over_time(record)))


# ---------------------------------------------------------------------------- text
def format_time(seconds: float) -> str:
    """A time in the largest unit that keeps it >= 1: ``3600`` → ``"1 h"``."""
    for unit, size in (("y", 365.25 * 86400), ("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def format_result(record: dict) -> str:
    """The table ``synaptax evaluate`` prints: time, accuracy mean ± std, energy per inference."""
    rows = [("time [s]", "", "accuracy [%]", "energy / inference")]
    for i, t in enumerate(record["times_s"]):
        m, s = record["accuracy_mean"][i], record["accuracy_std"][i]
        em, es = record["energy_per_inference_J_mean"][i], record["energy_per_inference_J_std"][i]
        acc = f"{100 * m:6.2f} ± {100 * s:.2f}" if s is not None else f"{100 * m:6.2f}"
        unit, scale = _energy_unit([em])
        e = f"{em * scale:.4g}" + (f" ± {es * scale:.2g}" if es is not None else "") + f" {unit}"
        rows.append((f"{t:g}", format_time(t), acc, e))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    trained = (record.get("trained") or {}).get("test_accuracy")
    head = (f"{record.get('device')}: {record.get('repeats')} programmings, {record.get('test_samples')} test samples"
            + (f"; trained test accuracy {100 * trained:.2f} %" if isinstance(trained, (int, float)) else ""))
    return "\n".join([head, *lines])


__all__ = [
    "DEFAULT_TIMES", "DeployError", "Deployment", "REFERENCE_VECTORS", "accuracy_over_time", "check_times",
    "crossbar_options", "drift_scales", "evaluate_run", "evolve", "figure_accuracy_over_time", "format_result",
    "format_time", "has_programming_noise", "resolve_placement", "load_deployment", "measure", "parse_times", "plot_accuracy_over_time",
    "program", "program_crossbar", "read_weights", "reference_inputs", "reference_reads", "result_paths",
    "run_test_data", "trained_weights", "with_output_scales",
]
