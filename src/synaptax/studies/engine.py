"""The study engine: train a study's points, many in one compiled program.

**Batching.**  Every point's algorithm is built as ``synaptax train`` would build it.  Two
points can share a compiled program when their algorithms have the same structure and
differ only in *numbers*: the same tree, the same shapes, equal non-numeric parts, and
the same data sizes, batch size, epochs and epoch to start from.  Seeds, learning rate,
rest time, wire resistance, converter resolution, noise and spread levels and any other
numeric device parameter qualify; tile size, network, device family, algorithm or
mapping change the structure and start another program.  A batch stacks the numbers that
differ into arrays with a leading axis and trains all its points with ``jax.vmap`` over
that axis: one compilation, one program per chunk of steps for the whole batch (``vmap``
sets how many points step at once; 1 steps them in turn through the same program, their
numbers traced).  With several devices (GPUs, or CPU cores as host devices) the batch is
split over them (:class:`Placement`).  A number the model branches on in Python cannot be
batched; then the batch falls back to one point after another, each its own program (the
log says why).  Before a batch starts, its memory is estimated (state size of one point
times a working factor) against the memory the system has free, and the batch is cut to
fit; the log states the size chosen.

**Same results as single runs.**  Each point uses the keys, data subsets and batch order
of ``synaptax train`` with its seed, so a point of a batch follows the same trajectory as
the run alone, to the rounding of the batched program.

**Resumable.**  Each point is a run folder under ``points/`` (named by
:meth:`~synaptax.training.TrainConfig.run_name` and its epochs, so a point keeps its
folder when the study file changes around it), with a verified checkpoint after every
epoch and ``report.json`` written atomically when it finishes.  Rerunning the study skips finished points, resumes
interrupted ones from their last checkpoint, and leaves failed ones failed (``retry_failed``
trains them again).  A point that diverges or fails is recorded with its message
(``report.json`` with status ``diverged``, or ``failure.json``) and the others go on.
"""
import dataclasses
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..training import loop
from ..training.io import CheckpointError, atomic_write_json, read_json
from .study import Point, Study

#: Working memory of a batched step, in multiples of the state it trains (temporaries of
#: the forward/backward reads and the pulsed update) [assumed; measured peak/state on the
#: default network: ~3].
WORK_FACTOR = 4.0
#: Fraction of the free memory a batch may plan to use.
MEMORY_FRACTION = 0.5


class StudyRunError(RuntimeError):
    """The study folder cannot be used (one line naming it)."""


@dataclasses.dataclass
class PointRun:
    """A point's progress in a study folder."""

    point: Point
    run_dir: Path
    status: str  # "finished", "diverged", "failed", "partial", "new"
    message: str | None = None
    start_epoch: int = 0
    batch: int | None = None

    def record(self, study_dir: Path) -> dict:
        """The point record the study's outputs are made from."""
        report = None
        if (self.run_dir / "report.json").exists():
            try:
                report = read_json(self.run_dir / "report.json")
            except CheckpointError:
                report = None
        status = self.status if self.status in ("finished", "diverged", "failed") else "pending"
        return {"id": self.point.id, "status": status, "message": self.message, "swept": self.point.swept,
                "config": self.point.config.as_dict(), "report": report,
                "run_dir": str(self.run_dir.relative_to(study_dir)), "batch": self.batch}


def point_state(run_dir: Path, config) -> PointRun:
    """Where a point stands in its run folder."""
    point = None
    report_path = run_dir / "report.json"
    if (run_dir / "failure.json").exists():
        try:
            failure = read_json(run_dir / "failure.json")
            return PointRun(point, run_dir, "failed", failure.get("message"))
        except CheckpointError:
            pass
    if report_path.exists():
        try:
            report = read_json(report_path)
        except CheckpointError:
            report = None
        if report is not None:
            if report.get("status") == "diverged":
                return PointRun(point, run_dir, "diverged", report.get("message"))
            if report.get("status", "finished") == "finished" and report.get("epochs") == config.epochs:
                return PointRun(point, run_dir, "finished")
    if loop.checkpoints(run_dir):
        return PointRun(point, run_dir, "partial")
    return PointRun(point, run_dir, "new")


def available_memory() -> int | None:
    """Bytes of memory the system has free for new allocations (Linux ``MemAvailable``;
    None where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _tree_bytes(tree) -> int:
    return int(sum(np.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)
                   if hasattr(x, "shape") and hasattr(x, "dtype") and not jax.dtypes.issubdtype(
                       x.dtype, jax.dtypes.prng_key)))


# ------------------------------------------------------------------- batching structure
def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, (jax.Array, np.ndarray)) or isinstance(b, (jax.Array, np.ndarray)):
        return False  # arrays are compared by shape, and stacked when they differ
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an object that cannot be compared is not the same
        return False


def _arrayish(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray))


def compatible(a, b) -> str | None:
    """None when the algorithms ``a`` and ``b`` can train in one batched program; else why not."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    if ta != tb:
        return "different structure"
    for x, y in zip(la, lb):
        if _arrayish(x) and _arrayish(y):
            if x.shape != y.shape or x.dtype != y.dtype:
                return "different array shapes"
        elif _is_number(x) and _is_number(y):
            if type(x) is not type(y) and not _same(x, y):
                return "a number of different type"
        elif not _same(x, y):
            return "different settings"
    return None


class Batched:
    """Algorithms of one structure, stacked: the leaves that differ between them carry a
    leading axis (``dynamic``, with ``axes`` 0 there and None elsewhere), the rest is shared
    (``static``)."""

    def __init__(self, algs: list):
        leaves = [jax.tree_util.tree_flatten(a)[0] for a in algs]
        self.treedef = jax.tree_util.tree_flatten(algs[0])[1]
        first = leaves[0]
        self.varying = []
        merged = []
        for i, x in enumerate(first):
            column = [l[i] for l in leaves]
            if _arrayish(x):
                same = all(c is x or (np.shape(c) == np.shape(x) and bool(np.array_equal(np.asarray(c),
                                                                                            np.asarray(x))))
                           for c in column[1:])
            else:
                same = all(_same(c, x) for c in column[1:])
            if same:
                merged.append(x)
            else:
                self.varying.append(i)
                merged.append(jnp.stack([jnp.asarray(c) for c in column]))
        template = jax.tree_util.tree_unflatten(self.treedef, merged)
        spec = jax.tree_util.tree_unflatten(self.treedef, [eqx.is_array(x) for x in merged])
        self.dynamic, self.static = eqx.partition(template, spec)
        axes = jax.tree_util.tree_unflatten(self.treedef, [0 if i in self.varying else None
                                                           for i in range(len(merged))])
        self.axes = eqx.filter(axes, spec)  # vmap's in_axes of ``dynamic``: 0 stacked, None shared
        self.size = len(algs)

    def _take(self, pick):
        return jax.tree.map(lambda a, x: x if (x is None or a is None) else pick(x), self.axes, self.dynamic,
                            is_leaf=lambda v: v is None)

    def point(self, i: int):
        """The dynamic part of point ``i`` alone (stacked leaves indexed: 0-d where a number)."""
        return self._take(lambda x: x[i])

    def slice(self, sl: slice):
        """The dynamic part of the points ``sl`` (stacked leaves sliced)."""
        return self._take(lambda x: x[sl])

    def varying_paths(self) -> list[str]:
        """The parameters that differ between the points (their paths in the algorithm)."""
        paths = jax.tree_util.tree_flatten_with_path(jax.tree_util.tree_unflatten(
            self.treedef, list(range(self.treedef.num_leaves))))[0]
        return [jax.tree_util.keystr(p) for p, i in paths if i in self.varying]


# ------------------------------------------------------------------- compiled programs
@eqx.filter_jit
def _init_batch(static, dynamic, axes, keys):
    return jax.vmap(lambda d, k: eqx.combine(d, static).init(key=k), in_axes=(axes, 0))(dynamic, keys)


@eqx.filter_jit
def _steps_batch(static, dynamic, axes, ts, images, labels, batches, keys, first):
    def one(d, ts, b, k):
        return loop._scan_steps(loop._step, eqx.combine(d, static), ts, images, labels, b, k, first)

    return jax.vmap(one, in_axes=(axes, 0, 0, 0))(dynamic, ts, batches, keys)


@eqx.filter_jit
def _evaluate_batch(static, dynamic, axes, ts, images, labels, idx, keys):
    def one(d, ts, i, k):
        return loop._evaluate(eqx.combine(d, static), ts, images[i], labels[i], k)

    return jax.vmap(one, in_axes=(axes, 0, 0, 0))(dynamic, ts, idx, keys)


@eqx.filter_jit
def _energy_batch(static, dynamic, axes, ts, images, idx, keys):
    def one(d, ts, i, k):
        return loop._inference_energy(eqx.combine(d, static), ts, images[i], k)

    return jax.vmap(one, in_axes=(axes, 0, 0, 0))(dynamic, ts, idx, keys)


@eqx.filter_jit
def _ir_effects_batch(static, dynamic, axes, ts, images, idx, keys):
    from ..arrays.diagnostics import ir_drop_effect

    def one(d, ts, i, k):
        model = eqx.combine(d, static).model
        _, traces = model(ts.states, images[i], key=k)
        return [ir_drop_effect(c, s, t.inputs) for c, s, t in zip(model.crossbars, ts.states, traces)]

    return jax.vmap(one, in_axes=(axes, 0, 0, 0))(dynamic, ts, idx, keys)


def _index(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def _slice(tree, sl):
    return jax.tree.map(lambda x: x[sl], tree)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _subset_indices(n_all: int, n: int, key) -> np.ndarray:
    """The indices :func:`synaptax.training.loop._subset` picks (all when ``n`` is 0 or too large)."""
    if n <= 0 or n >= n_all:
        return np.arange(n_all)
    return np.sort(np.asarray(jax.random.permutation(key, n_all))[:n])


class _Data:
    """The full train/test sets of a data folder, loaded once."""

    def __init__(self, config):
        self.train, self.test = loop.load_data(config)
        self.train_images = jnp.asarray(self.train.images)
        self.train_labels = jnp.asarray(self.train.labels)
        self.test_images = jnp.asarray(self.test.images)
        self.test_labels = jnp.asarray(self.test.labels)


class Placement:
    """Where a batch's arrays live: with several devices (``jax.devices()``: GPUs, or CPU
    cores exposed as host devices, :func:`synaptax._xla.apply_host_devices`), the batch
    axis is split over a one-axis mesh ``("config",)`` (``NamedSharding``); each device
    trains its share of the points and nothing crosses between them.  With one device,
    arrays stay where they are."""

    def __init__(self, points: int):
        devices = jax.devices()
        self.count = min(len(devices), points)
        self.mesh = None
        if self.count > 1:
            from jax.sharding import Mesh

            self.mesh = Mesh(np.array(devices[:self.count]), ("config",))

    def padded(self, n: int) -> int:
        return -(-n // self.count) * self.count

    def _sharding(self, axis):
        from jax.sharding import NamedSharding, PartitionSpec

        return NamedSharding(self.mesh, PartitionSpec("config") if axis == 0 else PartitionSpec())

    def batch(self, tree):
        """``tree``'s arrays (leading axis: the points) split over the devices."""
        return tree if self.mesh is None else jax.device_put(tree, self._sharding(0))

    def replicated(self, tree):
        """``tree``'s arrays copied to every device."""
        return tree if self.mesh is None else jax.device_put(tree, self._sharding(None))

    def dynamic(self, dynamic, axes):
        """A :class:`Batched`'s arrays: stacked ones split, shared ones copied."""
        if self.mesh is None:
            return dynamic
        return jax.tree.map(lambda a, x: None if x is None else jax.device_put(x, self._sharding(a)),
                            axes, dynamic, is_leaf=lambda v: v is None)


# ------------------------------------------------------------------- one batch
def default_vmap() -> int | None:
    """How many points of a batch step at once by default: all of them (None).  On this
    project's 2-vCPU test machine, 16 seeds of the default network stepped together and the
    same 16 stepped in turn in one compiled program ran at the same speed per point within
    the machine's ±20 % run-to-run noise (1-2 ms per point and step either way; under
    ``jax.vmap`` the update's data-dependent ``lax.switch`` runs every branch, which costs
    what batching saves there).  ``vmap = 1`` in a study file, or ``--vmap 1``, steps them in
    turn."""
    return None


def train_batch(runs: list[PointRun], data: _Data, *, study_dir: Path, batch_no: int,
                log: Callable[[str], None], plots: bool = False, vmap: int | None = None) -> None:
    """Train the points ``runs`` (one structure, one start epoch) with one compiled program;
    update each :class:`PointRun`'s status.  Checkpoints and reports are written per point
    (with ``plots``, each point's training history and conductance histogram too).

    ``vmap``: points stepped at once (``jax.vmap`` over their stacked numbers; None: all);
    with 1 the points take turns, chunk by chunk, in the same compiled program, their
    numbers passed as traced values (one compilation for the whole batch either way)."""
    together = len(runs) if vmap is None else max(1, min(vmap, len(runs)))
    configs = [r.point.config for r in runs]
    c0 = configs[0]
    n_train_all, n_test_all = len(data.train.labels), len(data.test.labels)
    keys = [loop.RunKeys.from_seed(c.seed) for c in configs]
    train_idx = [_subset_indices(n_train_all, c.train_samples, jax.random.fold_in(k.data, 0))
                 for c, k in zip(configs, keys)]
    test_idx = [_subset_indices(n_test_all, c.test_samples, jax.random.fold_in(k.data, 1))
                for c, k in zip(configs, keys)]
    n_train = len(train_idx[0])
    steps = n_train // c0.batch_size
    if steps < 1:
        raise loop.TrainingError(f"batch_size {c0.batch_size} exceeds the {n_train} training samples")
    total = steps * c0.epochs
    algs = [loop.build(c, total, key=k.model, data=data.train) for c, k in zip(configs, keys)]
    config_dicts = [{**c.as_dict(), **c.device_files()} for c in configs]
    # spread over the devices (CPU cores as host devices, or GPUs): the batch is padded with
    # copies of its first point to a multiple of their number; the copies' results are dropped
    place = Placement(len(runs) if together > 1 else 1)
    pad = place.padded(len(runs)) - len(runs)
    keys_c, algs_c = keys + [keys[0]] * pad, algs + [algs[0]] * pad
    train_idx_c, test_idx_c = train_idx + [train_idx[0]] * pad, test_idx + [test_idx[0]] * pad
    bat = Batched(algs_c)
    bat.dynamic = place.dynamic(bat.dynamic, bat.axes)
    stacked_keys = {f: place.batch(jnp.stack([getattr(k, f) for k in keys_c])) for f in loop.RunKeys._fields}
    train_images, train_labels = place.replicated(data.train_images), place.replicated(data.train_labels)
    if place.mesh is not None:
        log(f"  spread over {place.count} devices ({len(runs)} points"
            + (f" + {pad} padding" if pad else "") + ")")
    t0 = time.perf_counter()
    ts = _init_batch(bat.static, bat.dynamic, bat.axes, stacked_keys["model"])
    histories = [[] for _ in runs]
    refs = [None] * len(runs)
    start = runs[0].start_epoch
    wall_before = [0.0] * len(runs)
    if start:
        loaded = []
        for i, r in enumerate(runs):
            like = _index(ts, i)
            tree, meta, _ = loop.load_latest_checkpoint(r.run_dir, like, log=log)
            loaded.append(tree)
            histories[i], refs[i] = meta["history"], meta.get("reference_loss")
            wall_before[i] = meta.get("wall_time_s", 0.0)
        ts = place.batch(_stack(loaded + [loaded[0]] * pad))
    for r, c, cd in zip(runs, configs, config_dicts):
        r.run_dir.mkdir(parents=True, exist_ok=True)
        loop.write_run_config(r.run_dir, c, cd)
    watches = [loop.DivergenceWatch(c.divergence_factor, c.divergence_patience, ref) for c, ref in zip(configs, refs)]
    stopped = [None] * len(runs)
    newest = [loop.checkpoints(r.run_dir)[0] if loop.checkpoints(r.run_dir) else None for r in runs]
    n_used = steps * c0.batch_size
    compiled = False
    for epoch in range(start, c0.epochs):
        batches = np.stack([
            idx[loop._shuffled(n_train, jax.random.fold_in(k.shuffle, epoch))[:n_used]].reshape(steps, c0.batch_size)
            for idx, k in zip(train_idx_c, keys_c)])
        sums = np.zeros((len(runs), 7))
        b = 0
        for w in watches:
            w.new_epoch()
        for length in _chunks(steps):
            t_c = time.perf_counter()
            first = jnp.asarray(epoch * steps + b, jnp.int32)
            if together > 1 and together >= len(batches):
                new_ts, m = _steps_batch(bat.static, bat.dynamic, bat.axes, ts, train_images, train_labels,
                                         place.batch(jnp.asarray(batches[:, b:b + length], jnp.int32)),
                                         stacked_keys["steps"], first)
            else:  # groups of `together` points in turn (1: no vmap), one compiled program
                outs = []
                for g in range(0, len(batches), together):
                    sl = slice(g, g + together)
                    if together == 1:
                        outs.append(jax.tree.map(lambda x: x[None], loop._scan_steps(
                            loop._step, eqx.combine(bat.point(g), bat.static), _index(ts, g), train_images,
                            train_labels, jnp.asarray(batches[g, b:b + length], jnp.int32),
                            stacked_keys["steps"][g], first)))
                    else:
                        outs.append(_steps_batch(bat.static, bat.slice(sl), bat.axes, _slice(ts, sl), train_images,
                                                 train_labels, jnp.asarray(batches[sl, b:b + length], jnp.int32),
                                                 stacked_keys["steps"][sl], first))
                new_ts, m = jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)
            m = jax.device_get(m)
            if not compiled:
                compiled = True
                log(f"  compiled and ran the first {length} steps of {len(runs)} points in "
                    f"{time.perf_counter() - t_c:.1f} s")
            losses = np.asarray(m.loss, dtype=np.float64)
            for p in range(len(runs)):
                if stopped[p]:
                    continue
                watches[p].first(losses[p])
                for i in range(length):
                    s = watches[p].step(float(losses[p, i]), epoch=epoch + 1, batch=b + i + 1)
                    if s:
                        stopped[p] = s
                        break
                    sums[p] += [losses[p, i], m.correct[p, i], m.write_energy[p, i], m.read_energy[p, i],
                                m.converter_energy[p, i], m.pulses[p, i], m.latency[p, i]]
            ts = new_ts
            b += length
        for p in range(len(runs)):
            if not stopped[p]:
                stopped[p] = watches[p].epoch_mean(sums[p, 0] / steps, epoch=epoch + 1, batch=steps)
        active = [p for p in range(len(runs)) if not stopped[p]]
        if not active:
            break
        accs = _evaluate_all(bat, ts, data, test_idx_c, [jax.random.fold_in(k.evaluate, epoch) for k in keys_c],
                             place)
        wall = time.perf_counter() - t0
        for p in active:
            histories[p].append(loop.epoch_record(epoch + 1, steps, c0.batch_size, sums[p], accs[p]))
            newest[p] = loop._save_epoch(runs[p].run_dir, _index(ts, p), {
                "epoch": epoch + 1, "history": histories[p], "config": config_dicts[p],
                "wall_time_s": wall_before[p] + wall / len(runs), "reference_loss": watches[p].reference_loss,
                "study_batch_size": len(runs)})
        log(f"  epoch {epoch + 1}/{c0.epochs}: test accuracy "
            + _span([100 * accs[p] for p in active], "%")
            + (f"; {len(runs) - len(active)} stopped" if len(active) < len(runs) else ""))
    wall = time.perf_counter() - t0
    # reports
    e_inf = _energy_all(bat, ts, data, test_idx_c, [k.report for k in keys_c], place)
    ir_effects = [None] * len(runs)
    if c0.ir_drop and algs[0].analog:  # what the wires did, as the report of a single run measures it
        from ..arrays.diagnostics import ir_drop_effect_report

        n = min(100, len(test_idx[0]))
        effects = _ir_effects_batch(bat.static, bat.dynamic, bat.axes, ts, place.replicated(data.test_images),
                                    place.batch(jnp.asarray(np.stack([t[:n] for t in test_idx_c]))),
                                    place.batch(jnp.stack([jax.random.fold_in(k.report, 1) for k in keys_c])))
        ir_effects = [[{"layer": i + 1} | ir_drop_effect_report(_index(e, p)) for i, e in enumerate(effects)]
                      for p in range(len(runs))]
    for p, r in enumerate(runs):
        train_data = dataclasses.replace(data.train, images=data.train.images[train_idx[p]],
                                         labels=data.train.labels[train_idx[p]])
        test_data = dataclasses.replace(data.test, images=data.test.images[test_idx[p]],
                                        labels=data.test.labels[test_idx[p]])
        share = wall_before[p] + wall / len(runs)
        if stopped[p]:
            report, message = loop.write_diverged(configs[p], config_dicts[p], algs[p], _index(ts, p), train_data,
                                                  test_data, histories[p], share, keys[p], r.run_dir, stopped[p],
                                                  newest[p])
            r.status, r.message = "diverged", message
            log(f"  {r.point.id} ({r.point.label()}) diverged: {stopped[p]['reason']}")
            continue
        report = loop._report(configs[p], config_dicts[p], algs[p], _index(ts, p), train_data, test_data,
                              histories[p], share, keys[p].report, e_inf=float(e_inf[p]), ir_effects=ir_effects[p])
        report["study"] = {"batch": batch_no, "batch_size": len(runs), "batch_wall_time_s": wall,
                           "batched_parameters": bat.varying_paths()}
        atomic_write_json(r.run_dir / "report.json", report)
        if plots:
            loop._plots(configs[p], algs[p], _index(ts, p), histories[p], r.run_dir)
        r.status = "finished"


def _chunks(steps: int, max_chunk: int = 64) -> list[int]:
    """An epoch's steps in compiled chunks of one length where a divisor of ``steps``
    allows it (one compilation; else :func:`synaptax.training.loop.chunk_lengths`, at most
    two).  The chunking does not change the results: each step's key is folded from its
    global step number."""
    first = max(1, -(-steps // max_chunk))
    for n in range(first, 4 * first + 1):
        if steps % n == 0 and steps // n >= min(steps, 8):
            return [steps // n] * n
    return loop.chunk_lengths(steps, max_chunk)


def _span(values, unit) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f} {unit}" if abs(hi - lo) < 5e-3 else f"{lo:.2f}–{hi:.2f} {unit}"


def _evaluate_all(bat, ts, data, test_idx, keys, place, chunk: int = 1000) -> list[float]:
    """Test accuracy of every point, as :func:`synaptax.training.loop.evaluate` computes it."""
    n = len(test_idx[0])
    correct = np.zeros(len(test_idx))
    idx = np.stack(test_idx)
    images, labels = place.replicated(data.test_images), place.replicated(data.test_labels)
    for i in range(0, n, chunk):
        k = place.batch(jnp.stack([jax.random.fold_in(key, i) for key in keys]))
        correct += np.asarray(_evaluate_batch(bat.static, bat.dynamic, bat.axes, ts, images, labels,
                                              place.batch(jnp.asarray(idx[:, i:i + chunk])), k))
    return list(correct / n)


def _energy_all(bat, ts, data, test_idx, keys, place) -> np.ndarray:
    n = min(1000, len(test_idx[0]))
    idx = place.batch(jnp.asarray(np.stack([t[:n] for t in test_idx])))
    return np.asarray(_energy_batch(bat.static, bat.dynamic, bat.axes, ts, place.replicated(data.test_images), idx,
                                    place.batch(jnp.stack(keys))))


# ------------------------------------------------------------------- the study
def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:500]


def plan(runs: list[PointRun], *, data_steps: Callable, max_batch: int | None,
         log: Callable[[str], None], data_for: Callable | None = None) -> list[list[PointRun]]:
    """Group the points to train into batches: same structure (:func:`compatible`), same
    data, batch size, epochs and start epoch; each batch cut to ``max_batch`` and to the
    free memory."""
    groups: list[tuple[tuple, object, list]] = []
    for r in runs:
        c = r.point.config
        key = (c.epochs, c.batch_size, c.train_samples, c.test_samples, c.data_dir, c.verify_data, r.start_epoch)
        try:
            alg = loop.build(c, data_steps(c) * c.epochs, data=None if data_for is None else data_for(c).train)
        except Exception as err:  # noqa: BLE001 - recorded as the point's failure
            groups.append((("unbuildable", r.point.id), None, [r]))
            r.message = _one_line(err)
            continue
        for gkey, galg, members in groups:
            if gkey == key and galg is not None and compatible(galg, alg) is None:
                members.append(r)
                break
        else:
            groups.append((key, alg, [r]))
    batches = []
    free = available_memory()
    for _, alg, members in groups:
        size = len(members)
        if max_batch is not None:
            size = min(size, max_batch)
        if alg is not None and size > 1 and free is not None:
            state = jax.eval_shape(lambda: alg.init(key=jax.random.key(0)))
            per_point = max(1, int(_tree_bytes(state) * WORK_FACTOR))
            fits = max(1, int(free * MEMORY_FRACTION // per_point))
            log(f"memory: {len(members)} points of one structure, {per_point / 2**20:.1f} MiB each (state × "
                f"{WORK_FACTOR:g}); {free / 2**30:.1f} GiB free: up to {fits} per program"
                + (f", batches of {min(size, fits)}" if fits < size else ""))
            size = min(size, fits)
        for i in range(0, len(members), size):
            batches.append(members[i:i + size])
    return batches


def scan_points(study: Study, study_dir: Path, *, retry_failed: bool = False, dry_run: bool = False) -> list:
    """Where every point of ``study`` stands in ``study_dir`` (a :class:`PointRun` each);
    with ``retry_failed`` the files of failed points are removed (not when ``dry_run``)."""
    runs = []
    for p in study.points:
        run_dir = study_dir / "points" / p.folder
        r = point_state(run_dir, p.config)
        r.point = p
        if r.status == "partial":
            try:
                meta = read_json(loop.meta_path(loop.checkpoints(run_dir)[0]))
                r.start_epoch = int(meta.get("epoch", 0))
                if r.start_epoch > p.config.epochs:
                    r.status, r.message = "failed", (f"its checkpoint has {r.start_epoch} epochs, more than the "
                                                     f"study's {p.config.epochs}")
            except (CheckpointError, ValueError, TypeError):
                r.start_epoch = 0
        if retry_failed and r.status in ("failed", "diverged"):
            if not dry_run:
                for f in [*loop._run_files(run_dir), run_dir / "failure.json"]:
                    f.unlink(missing_ok=True)
            r.status, r.message, r.start_epoch = "new", None, 0
        runs.append(r)
    return runs


def _data_helpers():
    datasets: dict = {}

    def data_for(c):
        if (c.data_dir, c.verify_data) not in datasets:
            datasets[c.data_dir, c.verify_data] = _Data(c)
        return datasets[c.data_dir, c.verify_data]

    def steps_of(c):
        n_all = len(data_for(c).train.labels)
        n = c.train_samples if 0 < c.train_samples < n_all else n_all
        return max(1, n // c.batch_size)

    return data_for, steps_of


def plan_study(study: Study, study_dir: str | Path, *, max_batch: int | None = None) -> str:
    """What ``run_study`` would do, as text: each point's state and the batches (points,
    the parameters batched, start epoch).  Trains nothing, writes nothing."""
    study_dir = Path(study_dir)
    runs = scan_points(study, study_dir, dry_run=True)
    todo = [r for r in runs if r.status in ("partial", "new")]
    data_for, steps_of = _data_helpers()
    lines = [f"study {study.name}: {len(runs)} points over {', '.join(study.axes) or 'no axes'}; folder {study_dir}"]
    for r in runs:
        if r.status not in ("partial", "new"):
            lines.append(f"  {r.point.id} {r.point.label()}: {r.status}")
    batches = plan(todo, data_steps=steps_of, max_batch=max_batch if max_batch is not None else study.batch,
                   log=lines.append, data_for=data_for)
    for i, members in enumerate(batches, 1):
        what = ""
        if len(members) > 1:
            configs = [r.point.config for r in members]
            algs = [loop.build(c, steps_of(c) * c.epochs, data=data_for(c).train) for c in configs]
            paths = Batched(algs).varying_paths()
            seeds = len({c.seed for c in configs}) > 1
            what = "; batched: " + (", ".join(["seed (keys, data order)"] * seeds + paths) or "nothing")
        start = f", from epoch {members[0].start_epoch}" if members[0].start_epoch else ""
        lines.append(f"batch {i}: {len(members)} point{'s' if len(members) != 1 else ''}{start}{what}")
        lines += [f"  {r.point.id} {r.point.label()}" for r in members]
    return "\n".join(lines)


def run_study(study: Study, study_dir: str | Path, *, max_batch: int | None = None, retry_failed: bool = False,
              vmap: int | str | None = "auto",
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Train every point of ``study`` into ``study_dir`` (resuming what is there) and write
    the study's outputs.  Returns ``{"points": [records], "outputs": {name: path},
    "trained": n, "skipped": n, "failed": n, "wall_time_s": s}``.

    ``max_batch`` overrides the study file's ``batch`` (None: the file's, else as memory
    allows).  ``vmap``: points of a batch stepped at once (``"auto"``: the study file's
    ``vmap``, else :func:`default_vmap`; None: all)."""
    study_dir = Path(study_dir)
    if study_dir.exists() and not study_dir.is_dir():
        raise StudyRunError(f"study folder {str(study_dir)!r} is a file")
    meta_path = study_dir / "study.json"
    if meta_path.exists():
        try:
            old = read_json(meta_path)
        except CheckpointError as err:
            raise StudyRunError(f"study folder {str(study_dir)!r}: {err}") from None
        if old.get("name") != study.name:
            raise StudyRunError(f"study folder {str(study_dir)!r} holds the study {old.get('name')!r}, not "
                                f"{study.name!r}; choose another folder (--out)")
    elif study_dir.exists() and any(study_dir.iterdir()):
        raise StudyRunError(f"study folder {str(study_dir)!r} is not empty and holds no study; choose another "
                            "folder (--out)")
    try:
        (study_dir / "points").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudyRunError(f"study folder {str(study_dir)!r} is not writable: {err.strerror or err}") from None
    t0 = time.perf_counter()
    max_batch = max_batch if max_batch is not None else study.batch
    if vmap == "auto":
        vmap = study.vmap if study.vmap != "auto" else default_vmap()

    runs = scan_points(study, study_dir, retry_failed=retry_failed)
    done = [r for r in runs if r.status in ("finished", "diverged", "failed")]
    todo = [r for r in runs if r.status in ("partial", "new")]
    log(f"study {study.name}: {len(study.points)} points; {len(done)} already done"
        + (f" ({sum(r.status != 'finished' for r in done)} failed)" if any(r.status != "finished" for r in done) else "")
        + f", {len(todo)} to train ({sum(r.status == 'partial' for r in todo)} resumed)")
    _write_meta(study_dir, study, runs, [], time.perf_counter() - t0)

    data_for, steps_of = _data_helpers()
    batches = plan(todo, data_steps=steps_of, max_batch=max_batch, log=log, data_for=data_for) if todo else []
    batch_log = []
    for bi, members in enumerate(batches, 1):
        ids = ", ".join(r.point.id for r in members[:4]) + (" …" if len(members) > 4 else "")
        how = ("" if len(members) == 1 else ", stepped together (vmap)" if vmap is None or vmap >= len(members)
               else ", in turn" if vmap == 1 else f", {vmap} at a time")
        log(f"batch {bi}/{len(batches)}: {len(members)} point{'s' if len(members) != 1 else ''} ({ids}) in one "
            f"compiled program{how}" + (f", from epoch {members[0].start_epoch}" if members[0].start_epoch else ""))
        entry = {"batch": bi, "points": [r.point.id for r in members], "size": len(members), "note": "",
                 "vmap": len(members) if vmap is None else min(vmap, len(members))}
        t_b = time.perf_counter()
        for r in members:
            r.batch = bi
        if len(members) == 1 and members[0].message is not None:  # its model could not be built (plan)
            _fail(members[0], members[0].message, log)
            entry["note"] = "could not be built"
        else:
            try:
                train_batch(members, data_for(members[0].point.config), study_dir=study_dir, batch_no=bi, log=log,
                            plots=study.plots, vmap=vmap)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - a failed batch must not stop the study
                if len(members) == 1:
                    _fail(members[0], _one_line(err), log)
                else:
                    why = _one_line(err)
                    log(f"  cannot train these {len(members)} points together ({why}); training them one by one")
                    entry["note"] = f"batched program failed ({why}); points trained one by one"
                    for r in members:
                        try:
                            train_batch([r], data_for(r.point.config), study_dir=study_dir, batch_no=bi,
                                        log=log, plots=study.plots)
                        except KeyboardInterrupt:
                            raise
                        except Exception as err1:  # noqa: BLE001
                            _fail(r, _one_line(err1), log)
        entry["wall_time_s"] = time.perf_counter() - t_b
        batch_log.append(entry)
        _write_meta(study_dir, study, runs, batch_log, time.perf_counter() - t0)
        _write_results(study_dir, study, runs)
    wall = time.perf_counter() - t0
    meta = _write_meta(study_dir, study, runs, batch_log, wall)
    records = [r.record(study_dir) for r in runs]
    outputs = _write_outputs(study_dir, meta, records)
    n_failed = sum(r.status in ("failed", "diverged") for r in runs)
    return {"points": records, "outputs": outputs, "trained": len(todo), "skipped": len(done), "failed": n_failed,
            "wall_time_s": wall, "batches": batch_log}


def _fail(r: PointRun, message: str, log) -> None:
    r.status, r.message = "failed", message
    r.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(r.run_dir / "failure.json", {"status": "failed", "message": message,
                                                   "config": r.point.config.as_dict()})
    log(f"  {r.point.id} ({r.point.label()}) failed: {message}")


def _write_meta(study_dir: Path, study: Study, runs, batch_log, wall) -> dict:
    from .. import __version__

    meta = study.metadata() | {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "synaptax_version": __version__, "wall_time_s": wall, "batches": batch_log,
        "backend": jax.default_backend(),
        "status": {s: sum(r.status == s for r in runs) for s in ("finished", "diverged", "failed", "partial", "new")},
    }
    if (study_dir / "study.json").exists():
        try:
            meta["created"] = read_json(study_dir / "study.json").get("created", meta["created"])
        except CheckpointError:
            pass
    atomic_write_json(study_dir / "study.json", meta)
    from .._files import atomic_write_bytes

    atomic_write_bytes(study_dir / "study.toml", study.text.encode("utf-8"))
    return meta


def _write_results(study_dir: Path, study: Study, runs) -> None:
    from .report import write_results_csv

    write_results_csv(study_dir / "results.csv", [r.record(study_dir) for r in runs])


def _write_outputs(study_dir: Path, meta: dict, records: list) -> dict:
    from .report import write_study_outputs

    meta = meta | {"text": (study_dir / "study.toml").read_text(encoding="utf-8")}
    return write_study_outputs(study_dir, meta, records)


__all__ = ["Batched", "Placement", "PointRun", "StudyRunError", "available_memory", "compatible", "plan", "plan_study", "point_state", "scan_points",
           "run_study", "train_batch"]
