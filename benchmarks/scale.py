"""Large crossbars on one CPU: bytes of state per cell, the pulsed update against the
memory-bandwidth roofline, buffer donation, and a 16384 × 16384 differential pair.

    python benchmarks/scale.py [--sections bytes,bandwidth,roofline,profile,large,accuracy]
                               [--quick] [--large-n 16384] [--json benchmarks/results/scale.json]

Every measurement except ``bytes`` runs in a fresh subprocess (``--case``), so that its peak
RSS is its own; within the ``large`` case the peak of each phase is measured alone (the
process's high-water mark is reset between phases through ``/proc/self/clear_refs``, then
read with ``resource.getrusage(...).ru_maxrss``).  XLA runs single-threaded (the flags of
``tests/conftest.py``); run the script under ``taskset -c N`` on a shared machine.  Times
are wall and CPU time of the process: on a loaded machine the CPU time is the steadier
measure (a page fault's kernel time is CPU time too).

Sections:

* ``bytes``: bytes of device state per cell for every preset of the registry (the sum of
  the state's leaves' ``nbytes`` over the cells, float32), and for the generic family the
  compact state (:func:`synaptax.devices.generic.compact`, float16 cell parameters).
* ``bandwidth``: this machine's memory bandwidth: ``y = x + 1`` on a 1 GiB float32 array,
  bytes read + written over the time, into a fresh output buffer and in place (donated),
  with 4 KiB pages and with transparent huge pages for glibc's allocations
  (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``).
* ``roofline``: the pulsed update (``Crossbar.update_coincidence``: stochastic pulse
  coincidence, batch 64, bit length 31 with bit-length and update management, learning
  rate 0.01, inputs uniform in [−1, 1], errors 0.1·N(0, 1)) of ``reram-sb`` and ``ideal``
  on a differential pair at 2048² and 4096², in five configurations: the device law on
  the whole array (as before the blocked update), the blocked update, donated
  (``Crossbar.jitted_update``), donated with huge pages, and the compact state on top.
  Reported: cells per second (weights, both devices of the pair), page faults per call,
  XLA's temporary bytes per cell, and the fraction of the bandwidth bound: the bound is
  the in-place copy bandwidth over the bytes the update must read and write per cell
  (the state read once, the two conductances written once).
* ``profile``: the parts of one 2048² update (CPU time per cell): the coincidence counts,
  the device law with and without its cycle-to-cycle noise, the per-cell normal draws
  alone, the whole update.
* ``large``: a ``--large-n``² pair of ``reram-sb`` (compact state, huge pages): compiled
  init (``Crossbar.jitted_init``), one forward MVM of a batch of 64 and one donated
  pulsed update: time and peak RSS of each; and an 8192² pair with the full and the
  compact state for comparison.
* ``accuracy``: the compact state against the full one: the weights after 1 and 100
  coincidence updates from the same key (``reram-sb``, ``gokmen-vlasov``), and a short
  training run (``synaptax train``'s defaults: 784-100-10, ``reram-sb`` pair, analog SGD
  0.5, batch 16; 3 epochs on the bundled 5,000 training images, test accuracy on the
  bundled 10,000; two seeds).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("XLA_FLAGS", XLA_FLAGS)
HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb=1"
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, SRC)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

LEARNING_RATE = 0.01
BATCH = 64


# ----------------------------------------------------------------------------- process measures
def _status(field: str) -> float:
    """A ``/proc/self/status`` size in GB (0 where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return 0.0


def _mem_available_gb() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux ≥ 4.0); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _run(fn):
    """(result, wall s, CPU s, minor page faults) of ``fn()`` (blocked until ready)."""
    f0, c0, t0 = _faults(), time.process_time(), time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0, time.process_time() - c0, _faults() - f0


def _summary(runs) -> dict:
    walls, cpus, faults = zip(*runs)
    return {"wall_s": statistics.median(walls), "wall_min_s": min(walls), "cpu_s": min(cpus),
            "cpu_median_s": statistics.median(cpus), "faults_per_call": int(statistics.median(faults)),
            "repeats": len(runs)}


def _state_bytes(state) -> int:
    return sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(state))


def _inputs(n_in: int, n_out: int, batch: int = BATCH, seed: int = 1):
    kx, kd = jax.random.split(jax.random.key(seed))
    x = jax.random.uniform(kx, (batch, n_in), minval=-1.0, maxval=1.0)
    d = 0.1 * jax.random.normal(kd, (batch, n_out))
    return x, d


def _device(preset: str, compact_state: bool):
    from synaptax.devices import get_preset
    from synaptax.devices.generic import compact

    device = get_preset(preset)
    return compact(device) if compact_state else device


# ----------------------------------------------------------------------------- cases
def case_bandwidth(c: dict) -> dict:
    """``y = x + 1`` on ``c['gib']`` GiB of float32: fresh output and in place."""
    n = int(c.get("gib", 1.0) * 2**30) // 4
    x = jnp.zeros((n,), jnp.float32)
    out = {"bytes": 2 * x.nbytes}
    for mode in ("fresh", "in_place"):
        f = jax.jit(lambda a: a + 1, donate_argnums=(0,) if mode == "in_place" else ())
        warm = jax.block_until_ready(f(x))  # compiles
        if mode == "in_place":
            x = warm
        del warm
        runs = []
        for _ in range(c.get("repeats", 5)):
            y, wall, cpu, faults = _run(lambda: f(x))
            runs.append((wall, cpu, faults))
            if mode == "in_place":
                x = y
            del y
        s = _summary(runs)
        out[mode] = {**s, "GBps_wall": 2 * x.nbytes / s["wall_min_s"] / 1e9,
                     "GBps_wall_median": 2 * x.nbytes / s["wall_s"] / 1e9, "GBps_cpu": 2 * x.nbytes / s["cpu_s"] / 1e9}
    return out


def case_update(c: dict) -> dict:
    """One configuration of the roofline: repeated updates of one crossbar state."""
    from synaptax.arrays import Crossbar
    from synaptax.arrays import mapping

    if not c.get("blocked", True):
        mapping.BLOCKED_MIN_CELLS = 1 << 62  # the device law on the whole array, as before the blocked update
    n = c["n"]
    xbar = Crossbar(_device(c["preset"], c.get("compact", False)), n, n)
    state = xbar.jitted_init()(jax.random.key(0))
    x, d = _inputs(n, n)
    if c.get("donate", True):
        update = xbar.jitted_update()
    else:
        update = jax.jit(lambda s, x, d, lr, k: xbar.update_coincidence(s, x, d, learning_rate=lr, key=k)[0])
    key = jax.random.key(2)
    mem = update.lower(state, x, d, LEARNING_RATE, key).compile().memory_analysis()
    cells = n * n
    state_bytes = _state_bytes(state)
    written = sum(s.conductance.nbytes for s in (state.plus, state.minus) if s is not None)
    state = jax.block_until_ready(update(state, x, d, LEARNING_RATE, jax.random.fold_in(key, 0)))
    runs = []
    for i in range(c.get("repeats", 5)):
        state, wall, cpu, faults = _run(lambda: update(state, x, d, LEARNING_RATE, jax.random.fold_in(key, i + 1)))
        runs.append((wall, cpu, faults))
    s = _summary(runs)
    return {**s, "cells": cells, "state_bytes_per_cell": state_bytes / cells,
            "must_bytes_per_cell": (state_bytes + written) / cells,
            "temp_bytes_per_cell": mem.temp_size_in_bytes / cells if mem else None,
            "cells_per_s_wall": cells / s["wall_s"], "cells_per_s_cpu": cells / s["cpu_s"],
            "ns_per_cell_cpu": 1e9 * s["cpu_s"] / cells, "peak_rss_GB": _peak_gb()}


def case_profile(c: dict) -> dict:
    """CPU time per cell of the parts of one update (module docstring)."""
    import equinox as eqx

    from synaptax import _random as fast_random
    from synaptax.arrays import Crossbar
    from synaptax.arrays.updates import coincidence

    n, repeats = c["n"], c.get("repeats", 5)
    cells = n * n
    out = {"n": n, "preset": c["preset"]}
    device = _device(c["preset"], False)
    xbar = Crossbar(device, n, n)
    state = xbar.jitted_init()(jax.random.key(0))
    x, d = _inputs(n, n)
    key = jax.random.key(3)

    def per_cell(fn, args, donate_first=False):
        """``fn(*args(i))`` timed; with ``donate_first`` its first argument is the previous
        call's result (a donated state)."""
        carry = jax.block_until_ready(fn(*args(0)))
        if not donate_first:
            carry = None
        runs = []
        for i in range(repeats):
            a = args(i + 1)
            if donate_first:
                a = (carry,) + tuple(a[1:])
            y, wall, cpu, faults = _run(lambda: fn(*a))
            runs.append((wall, cpu, faults))
            carry = y if donate_first else None
            del y
        s = _summary(runs)
        return {"ns_per_cell_cpu": 1e9 * s["cpu_s"] / cells, "ns_per_cell_wall": 1e9 * s["wall_s"] / cells,
                "faults_per_call": s["faults_per_call"]}

    # the coincidence counts (private functions of the rule: measured where they exist)
    try:
        def counts(x, d, k):
            trains = coincidence._Trains.of(x, d, LEARNING_RATE, k, update_management=True)
            lengths = coincidence._bit_lengths(31, True)
            scales = tuple(jnp.asarray(length * xbar.dw_min, x.dtype) for length in lengths)
            index = coincidence._train_index(trains, lengths, xbar.dw_min, True)
            return coincidence._aggregate_counts(trains, lengths, scales, index)

        counts = jax.jit(counts)
        out["counts"] = per_cell(counts, lambda i: (x, d, jax.random.fold_in(key, i)))
        up, down = counts(x, d, key)
        out["mean_pulses_per_device"] = float(jnp.mean(up + down))
    except (AttributeError, TypeError) as err:  # the rule's internals changed
        out["counts"] = {"error": f"{type(err).__name__}: {err}"}
        rng = np.random.default_rng(0)
        up = jnp.asarray(rng.poisson(6.0, (n, n)), jnp.float32)
        down = jnp.asarray(rng.poisson(6.0, (n, n)), jnp.float32)
    max_count = BATCH * 31
    quiet = eqx.tree_at(lambda m: m.variability.c2c, device, 0.0)
    for name, dev in (("law", device), ("law_without_c2c_noise", quiet)):
        xb = Crossbar(dev, n, n)
        apply = jax.jit(lambda s, u, v, k, xb=xb: xb.apply_pulses(s, u, v, key=k, max_count=max_count),
                        donate_argnums=0)
        st = xb.jitted_init()(jax.random.key(0))
        out[name] = per_cell(apply, lambda i, st=st: (st, up, down, jax.random.fold_in(key, i)), donate_first=True)
    normals = jax.jit(lambda k: jnp.sum(fast_random.box_muller_normal(k, (2, n, n), jnp.float32)))
    out["c2c_normals_two_arrays"] = per_cell(normals, lambda i: (jax.random.fold_in(key, i),))
    update = xbar.jitted_update()
    out["update"] = per_cell(update, lambda i: (state, x, d, LEARNING_RATE, jax.random.fold_in(key, i)),
                             donate_first=True)
    return out


def case_large(c: dict) -> dict:
    """Init, forward and update of one large pair, each phase's time and peak RSS."""
    from synaptax.arrays import Crossbar
    from synaptax.arrays import mapping

    n = c["n"]
    cells = n * n
    before = c.get("before", False)  # eager init, whole-array law, update not donated
    if before:
        mapping.BLOCKED_MIN_CELLS = 1 << 62
    xbar = Crossbar(_device(c["preset"], c.get("compact", True)), n, n)
    key = jax.random.key(0)
    out = {"n": n, "cells": cells, "preset": c["preset"], "compact": c.get("compact", True), "before": before,
           "phases": {}, "peak_reset": _reset_peak()}
    margin = c.get("margin_GB", 1.5)

    def phase(name, fn, args, lowered):
        t0 = time.perf_counter()
        if lowered is None:  # eager: nothing to compile, no memory estimate
            compiled, mem = fn, None
        else:
            compiled = lowered.compile()
            mem = compiled.memory_analysis()
        compile_s = time.perf_counter() - t0
        need = 0.0 if mem is None else (mem.output_size_in_bytes + mem.temp_size_in_bytes
                                        - mem.alias_size_in_bytes) / 1e9
        available = _mem_available_gb()
        if need + margin > available:
            out["phases"][name] = {"skipped": f"needs {need:.1f} GB more, {available:.1f} GB available"}
            return None
        rss0 = _status("VmRSS")
        _reset_peak()
        result, wall, cpu, faults = _run(lambda: compiled(*args))
        out["phases"][name] = {"wall_s": wall, "cpu_s": cpu, "compile_s": compile_s, "faults": faults,
                               "peak_rss_GB": _peak_gb(), "rss_before_GB": rss0, "rss_after_GB": _status("VmRSS"),
                               "xla_temp_GB": None if mem is None else mem.temp_size_in_bytes / 1e9,
                               "xla_output_GB": None if mem is None else mem.output_size_in_bytes / 1e9,
                               "xla_alias_GB": None if mem is None else mem.alias_size_in_bytes / 1e9}
        return result

    if before:
        state = phase("init", lambda k: xbar.init(key=k), (key,), None)
    else:
        init = xbar.jitted_init()
        state = phase("init", init, (key,), init.lower(key))
    if state is None:
        return out
    out["state_bytes_per_cell"] = _state_bytes(state) / cells
    out["state_GB"] = _state_bytes(state) / 1e9
    x, d = _inputs(n, n)
    forward = jax.jit(lambda s, x, k: xbar.forward(s, x, key=k))
    k_fwd = jax.random.key(1)
    y = phase("forward", forward, (state, x, k_fwd), forward.lower(state, x, k_fwd))
    if y is not None:
        out["forward_output_finite"] = bool(jnp.all(jnp.isfinite(y)))
        del y
    if before:
        update = jax.jit(lambda s, x, d, lr, k: xbar.update_coincidence(s, x, d, learning_rate=lr, key=k)[0])
    else:
        update = xbar.jitted_update()
    k_up = jax.random.key(2)
    lowered = update.lower(state, x, d, LEARNING_RATE, k_up)
    w_before = None
    if c.get("check_weights", True):
        w_before = float(jnp.mean(xbar.weights(state)[:64, :64]))
    state = phase("update", update, (state, x, d, LEARNING_RATE, k_up), lowered)
    if state is not None:
        # a second update (no compile; donated: the first call's state buffers are reused)
        state = phase("update_again", update, (state, x, d, LEARNING_RATE, jax.random.fold_in(k_up, 1)), lowered)
        if state is not None and w_before is not None:
            out["weights_moved"] = bool(float(jnp.mean(xbar.weights(state)[:64, :64])) != w_before)
    out["process_peak_rss_GB"] = _peak_gb()
    return out


def case_accuracy(c: dict) -> dict:
    """Compact vs full state: update error and a short training run."""
    from synaptax.arrays import Crossbar

    out = {"update_error": {}, "training": {}}
    n = c.get("n", 512)
    x, d = _inputs(n, n)
    for preset in c.get("presets", ("reram-sb", "gokmen-vlasov")):
        rows = {}
        weights = {}
        for name in ("full", "compact"):
            xbar = Crossbar(_device(preset, name == "compact"), n, n)
            state = xbar.init(key=jax.random.key(0))
            update = xbar.jitted_update()
            w = [xbar.weights(state)]
            for i in range(c.get("updates", 100)):
                state = update(state, x, d, LEARNING_RATE, jax.random.fold_in(jax.random.key(5), i))
                if i == 0:
                    w.append(xbar.weights(state))
            w.append(xbar.weights(state))
            weights[name] = [np.asarray(a, np.float64) for a in w]
            rows["dw_min"] = float(xbar.dw_min)
        for label, k in (("init", 0), ("after_1_update", 1), (f"after_{c.get('updates', 100)}_updates", 2)):
            full, comp = weights["full"][k], weights["compact"][k]
            diff = comp - full
            change = full - weights["full"][0]
            rows[label] = {"max_abs_over_dw_min": float(np.max(np.abs(diff)) / rows["dw_min"]),
                           "rms_over_dw_min": float(np.sqrt(np.mean(diff**2)) / rows["dw_min"]),
                           "rms_over_rms_change": (float(np.sqrt(np.mean(diff**2)) / np.sqrt(np.mean(change**2)))
                                                   if k else None)}
        out["update_error"][preset] = rows
    if c.get("training", True):
        out["training"] = _training(c)
    return out


def _training(c: dict) -> dict:
    """``synaptax train``'s defaults (784-100-10, reram-sb pair, analog SGD 0.5, batch 16),
    a few epochs: full and compact state, two seeds."""
    from synaptax.arrays import Crossbar
    from synaptax.training.algorithms import Algorithm, build_optimizer
    from synaptax.training.datasets import load_mnist
    from synaptax.training.loop import chunk_lengths, evaluate, run_steps
    from synaptax.training.network import AnalogMLP

    train = load_mnist(split="train")
    test = load_mnist(split="test")
    n_train = c.get("train_samples", len(train.labels))
    images, labels = jnp.asarray(train.images[:n_train]), jnp.asarray(train.labels[:n_train])
    if c.get("test_samples"):
        test = dataclasses.replace(test, images=test.images[:c["test_samples"]], labels=test.labels[:c["test_samples"]])
    sizes = c.get("sizes", [784, 100, 10])
    epochs = c.get("epochs", 3)
    batch, lr = c.get("batch", 16), c.get("lr", 0.5)
    steps = n_train // batch
    out = {"network": "-".join(map(str, sizes)), "train_samples": n_train, "test_samples": len(test.labels),
           "epochs": epochs, "batch": batch, "optimizer": f"sgd {lr}", "algorithm": "analog-sgd",
           "preset": "reram-sb", "mapping": "differential", "runs": []}
    for seed in c.get("seeds", (0, 1)):
        for name in ("full", "compact"):
            device = _device("reram-sb", name == "compact")
            opt, sched = build_optimizer("sgd", lr, total_steps=steps * epochs)
            model = AnalogMLP([Crossbar(device, a, b) for a, b in zip(sizes[:-1], sizes[1:])])
            alg = Algorithm("analog-sgd", model, opt, sched)
            key = jax.random.key(seed)
            ts = alg.init(key=key)
            t0 = time.perf_counter()
            for epoch in range(epochs):
                order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n_train))
                batches = order[:steps * batch].reshape(steps, batch)
                b = 0
                for m in chunk_lengths(steps):
                    ts, _ = run_steps(alg, ts, images, labels, batches[b:b + m], key=key, first=epoch * steps + b)
                    b += m
            acc = evaluate(alg, ts, test, key=jax.random.fold_in(key, 99))
            out["runs"].append({"seed": seed, "state": name, "test_accuracy": acc,
                                "state_bytes": _state_bytes(ts.states), "wall_s": time.perf_counter() - t0})
    for name in ("full", "compact"):
        accs = [r["test_accuracy"] for r in out["runs"] if r["state"] == name]
        out[f"mean_accuracy_{name}"] = float(np.mean(accs))
    out["accuracy_difference_compact_minus_full"] = out["mean_accuracy_compact"] - out["mean_accuracy_full"]
    return out


CASES = {"bandwidth": case_bandwidth, "update": case_update, "profile": case_profile, "large": case_large,
         "accuracy": case_accuracy}


# ----------------------------------------------------------------------------- parent
def run_case(case: dict, *, hugepages: bool, timeout: float = 3600) -> dict:
    """``case`` in a fresh subprocess (with or without glibc's huge-page tunable)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", XLA_FLAGS)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and t != HUGEPAGE_TUNABLE]
    if hugepages:
        tunables.append(HUGEPAGE_TUNABLE)
    if tunables:
        env["GLIBC_TUNABLES"] = ":".join(tunables)
    else:
        env.pop("GLIBC_TUNABLES", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", json.dumps(case)], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "hugepages": hugepages, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"case": case, "hugepages": hugepages, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    result = json.loads(lines[-1])
    return {"case": case, "hugepages": hugepages, "subprocess_s": time.perf_counter() - t0, **result}


def section_bytes() -> list[dict]:
    """Bytes of state per cell of every preset (float32), and the generic compact state."""
    from synaptax.devices import PRESETS, get_preset
    from synaptax.devices.generic import AbstractPulsedDevice, compact

    shape = (32, 32)
    rows = []
    for name in sorted(PRESETS):
        device = get_preset(name)
        state = jax.eval_shape(lambda k, device=device: device.init(shape, key=k), jax.random.key(0))
        leaves = jax.tree_util.tree_leaves(state)
        per_cell = sum(np.prod(leaf.shape) * leaf.dtype.itemsize for leaf in leaves) / np.prod(shape)
        row = {"preset": name, "family": type(device).__module__.split(".")[2], "class": type(device).__name__,
               "bytes_per_cell": float(per_cell), "pair_bytes_per_weight": float(2 * per_cell),
               "fields": [f"{leaf.dtype}{list(leaf.shape[2:]) if leaf.ndim > 2 else ''}" for leaf in leaves]}
        if isinstance(device, AbstractPulsedDevice):
            small = jax.eval_shape(lambda k, device=device: compact(device).init(shape, key=k), jax.random.key(0))
            cells = np.prod(shape)
            per = sum(np.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(small)
                      if leaf.ndim >= 2) / cells
            row["compact_bytes_per_cell"] = float(per)
            row["compact_pair_bytes_per_weight"] = float(2 * per)
        rows.append(row)
    return rows


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "jax": jax.__version__,
            "backend": jax.default_backend(), "device": str(jax.devices()[0]), "cores": os.cpu_count(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "glibc": " ".join(platform.libc_ver()), "xla_flags": os.environ.get("XLA_FLAGS"),
            "load_average": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), None)
        with open("/proc/meminfo") as fh:
            info["memory_GB"] = int(fh.readline().split()[1]) * 1024 / 1e9
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            info["transparent_hugepage"] = fh.read().strip()
    except (OSError, StopIteration):
        pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
        info["git"] = rev.stdout.strip()
    except OSError:
        pass
    return info


def roofline_rows(results: dict, bandwidth: dict | None) -> list[dict]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append(r)
            continue
        bw_wall = bw_cpu = None
        if bandwidth:
            bw_wall = bandwidth["in_place"]["GBps_wall"] * 1e9
            bw_cpu = bandwidth["in_place"]["GBps_cpu"] * 1e9
        bound = lambda bw: None if bw is None else bw / r["must_bytes_per_cell"]  # noqa: E731
        r["bound_cells_per_s"] = bound(bw_wall)
        r["fraction_of_bound_wall"] = None if bw_wall is None else r["cells_per_s_wall"] / bound(bw_wall)
        r["fraction_of_bound_cpu"] = None if bw_cpu is None else r["cells_per_s_cpu"] / bound(bw_cpu)
        rows.append(r)
    return rows


CONFIGS = (  # label, blocked, donate, hugepages, compact
    ("whole-array law, not donated (as before)", False, False, False, False),
    ("blocked law, not donated", True, False, False, False),
    ("blocked, donated", True, True, False, False),
    ("blocked, donated, huge pages", True, True, True, False),
    ("compact, blocked, donated, huge pages", True, True, True, True),
)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sections", default="bytes,bandwidth,roofline,profile,large,accuracy")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke test)")
    ap.add_argument("--large-n", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.case:
        case = json.loads(args.case)
        print(json.dumps(CASES[case["kind"]](case)), flush=True)
        return
    sections = [s for s in args.sections.split(",") if s]
    quick = args.quick
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine_info(), "learning_rate": LEARNING_RATE, "batch": BATCH}
    if args.json and os.path.exists(args.json):
        with open(args.json) as fh:
            previous = json.load(fh)
        out = {**previous, **{k: v for k, v in out.items() if k in ("date", "machine")}}

    def save():
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(out, fh, indent=1, default=float)

    if "bytes" in sections:
        out["bytes_per_cell"] = section_bytes()
        save()
        print("| preset | family | bytes/cell | pair bytes/weight | compact bytes/cell |\n|---|---|---|---|---|")
        for r in out["bytes_per_cell"]:
            print(f"| {r['preset']} | {r['family']} | {r['bytes_per_cell']:.0f} | {r['pair_bytes_per_weight']:.0f} | "
                  f"{r.get('compact_bytes_per_cell', float('nan')):.0f} |", flush=True)
    if "bandwidth" in sections:
        gib = 0.0625 if quick else 1.0
        out["bandwidth"] = {("huge_pages" if hp else "4k_pages"): run_case(
            {"kind": "bandwidth", "gib": gib, "repeats": args.repeats}, hugepages=hp) for hp in (False, True)}
        save()
        for name, r in out["bandwidth"].items():
            if "error" in r:
                print(name, r["error"])
                continue
            print(f"copy bandwidth ({name}): fresh output {r['fresh']['GBps_wall']:.1f} GB/s "
                  f"({r['fresh']['faults_per_call']} faults per call), in place {r['in_place']['GBps_wall']:.1f} GB/s "
                  f"(CPU time: {r['in_place']['GBps_cpu']:.1f} GB/s)", flush=True)
    bandwidth = (out.get("bandwidth") or {}).get("huge_pages")
    if bandwidth and "error" in bandwidth:
        bandwidth = None
    if "roofline" in sections:
        sizes = (256, 512) if quick else (2048, 4096)
        results = []
        for preset in ("reram-sb", "ideal"):
            for n in sizes:
                for label, blocked, donate, hp, comp in CONFIGS:
                    r = run_case({"kind": "update", "n": n, "preset": preset, "blocked": blocked, "donate": donate,
                                  "compact": comp, "repeats": args.repeats}, hugepages=hp)
                    r["config"] = label
                    results.append(r)
                    print(_roofline_line(roofline_rows([r], bandwidth)[0]), flush=True)
        out["roofline"] = roofline_rows(results, bandwidth)
        out["roofline_bound"] = ("bound = in-place copy bandwidth (y = x + 1, huge pages, best of the repeats) / "
                                 "bytes the update must read and write per weight: the pair's state read once and "
                                 "its two conductances written once")
        save()
    if "profile" in sections:
        n = 512 if quick else 2048
        out["profile"] = [run_case({"kind": "profile", "n": n, "preset": p, "repeats": args.repeats}, hugepages=True)
                          for p in ("reram-sb", "ideal")]
        save()
        for r in out["profile"]:
            print(json.dumps(r), flush=True)
    if "large" in sections:
        cases = ([{"n": 1024, "compact": False, "before": True}, {"n": 1024, "compact": False},
                  {"n": 1024, "compact": True}] if quick else
                 [{"n": 8192, "compact": False, "before": True}, {"n": 8192, "compact": False},
                  {"n": 8192, "compact": True}, {"n": args.large_n, "compact": True}])
        out["large"] = []
        for c in cases:
            r = run_case({"kind": "large", "preset": "reram-sb", **c}, hugepages=not c.get("before"), timeout=3600)
            out["large"].append(r)
            save()
            print(json.dumps(r), flush=True)
    if "accuracy" in sections:
        c = {"kind": "accuracy"}
        if quick:
            c.update(n=128, updates=10, train_samples=640, test_samples=500, epochs=1, seeds=[0], sizes=[784, 32, 10])
        out["accuracy"] = run_case(c, hugepages=True, timeout=7200)
        save()
        print(json.dumps(out["accuracy"]), flush=True)
    out["machine"]["load_average_end"] = os.getloadavg()
    save()


def _roofline_line(r: dict) -> str:
    c = r["case"]
    if "error" in r:
        return f"| {c['preset']} | {c['n']} | {r.get('config')} | error: {r['error']} |"
    frac = r.get("fraction_of_bound_cpu")
    frac_wall = r.get("fraction_of_bound_wall")
    return (f"| {c['preset']} | {c['n']}² | {r['config']} | {r['cells_per_s_cpu']:.3g} (CPU) / "
            f"{r['cells_per_s_wall']:.3g} (wall) | {r['ns_per_cell_cpu']:.1f} ns | {r['faults_per_call']} | "
            f"{r['temp_bytes_per_cell']:.1f} | {r['must_bytes_per_cell']:.0f} | "
            f"{'—' if frac is None else f'{frac:.1%}'} / {'—' if frac_wall is None else f'{frac_wall:.1%}'} |")


if __name__ == "__main__":
    main()
