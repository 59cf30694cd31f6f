"""Every GPU measurement of synaptax in one run, written as JSON (driver of ``benchmarks/gpu.sh``).

    PYTHONPATH=src python benchmarks/gpu.py [--json benchmarks/results/gpu.json] [--dry-run] [--budget-s 450]

Needs only JAX (with CUDA for the real run), equinox, optax, numpy, jaxtyping and the
standard library: no package index, nothing installed.  ``--dry-run`` runs every section
end to end on the CPU with small sizes (under a minute), for CI.

Sections (each records its sizes, times, and the precision it ran at):

* ``bandwidth``: the card's copy bandwidth, ``y = x + 1`` on a 4 GiB float32 array (bytes
  read + written over the time), into a fresh buffer and in place (donated).
* ``update``: the pulsed update (stochastic pulse coincidence, batch 64, bit length 31 with
  bit-length and update management, learning rate 0.01) of a 4096² differential pair,
  ``reram-sb`` and ``ideal``, float32 state and compact state (float16 cell parameters),
  state donated (``Crossbar.jitted_update``): cells per second and the fraction of the
  bandwidth bound (in-place copy bandwidth over the bytes the update must read and write
  per weight: the state read once, the two conductances written once; goal ≥ 30 %), and
  the compact state's weights against the float32 state's after the same updates.
* ``irdrop``: one forward IR-drop solve (``solve_crossbar``) of a 1024² array at batch 64,
  wire/device ratio r·G = 1e-4 (cells uniform in [0.5, 1] µS, inputs in [0, 0.5] V, as
  ``benchmarks/irdrop.py``): time per solve (best of the repeats after compilation), CG
  iterations, and the float32 solve's error against a float64 solve of the first vectors
  (under ``jax.enable_x64``, or in a subprocess with x64 enabled on an older JAX).
* ``training``: one epoch of the 784-256-128-10 analog MLP (``reram-sb`` pair, batch 64,
  SGD 0.1, the bundled 10,000 test images as training data, ``benchmarks/training.py``'s
  setting) after compilation.
* ``largest``: the largest square crossbar (compact ``reram-sb`` pair) that fits on the
  card: N grows until init, a forward MVM (batch 64) and a donated update fail to allocate
  or 10⁹ cells are reached; cells and bytes of state reported.
* ``precision``: a crossbar-sized MVM (batch 64 × 4096 × 4096, float32) at matmul precision
  HIGHEST (true float32; what ``synaptax`` uses), HIGH and DEFAULT (TF32 on NVIDIA cards):
  time and error against float64; and the crossbar forward read's time.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
if "--dry-run" in sys.argv:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
sys.path.insert(0, SRC)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

LEARNING_RATE = 0.01
BATCH = 64
G_ON = 1e-6  # S, the IR-drop problem's on-state conductance

FULL = dict(copy_gib=4.0, update_n=4096, update_repeats=10, update_presets=("reram-sb", "ideal"),
            irdrop_n=1024, irdrop_batch=64, irdrop_repeats=5,
            reference_vectors=4, train_samples=10_000, sizes=[784, 256, 128, 10],
            largest_n=[16384, 23170, 31622], largest_cap=10**9, mvm=(64, 4096, 4096), mvm_repeats=10)
DRY = dict(copy_gib=1 / 64, update_n=256, update_repeats=2, update_presets=("reram-sb",),
           irdrop_n=64, irdrop_batch=4, irdrop_repeats=2,
           reference_vectors=2, train_samples=640, sizes=[784, 32, 10],
           largest_n=[128, 256], largest_cap=2**16, mvm=(8, 256, 256), mvm_repeats=2)  # 256: the update's


def _sync(x):
    return jax.block_until_ready(x)


def _best(fn, repeats: int):
    """(best s, median s, first-call s) of ``fn()``."""
    t0 = time.perf_counter()
    _sync(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _sync(fn())
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), first


def _device_info() -> dict:
    dev = jax.devices()[0]
    info = {"backend": jax.default_backend(), "device": getattr(dev, "device_kind", str(dev)),
            "device_count": jax.device_count(), "jax": jax.__version__, "python": platform.python_version(),
            "host": platform.node(), "platform": platform.platform(),
            "mem_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION")}
    try:
        stats = dev.memory_stats() or {}
        info["memory_bytes_limit"] = stats.get("bytes_limit")
    except Exception:  # noqa: BLE001 -- not every backend reports memory
        pass
    return info


_PROGRAMS: dict = {}


def _programs(preset: str, compact_state: bool, n: int):
    """``(crossbar, init, forward, update)`` of an ``n × n`` pair of ``preset``, compiled once
    per process: sections that use the same crossbar share their programs."""
    key = (preset, compact_state, n)
    if key not in _PROGRAMS:
        from synaptax.arrays import Crossbar
        from synaptax.devices import get_preset
        from synaptax.devices.generic import compact

        device = get_preset(preset)
        if compact_state:
            device = compact(device)
        xbar = Crossbar(device, n, n)
        _PROGRAMS[key] = (xbar, xbar.jitted_init(), jax.jit(lambda s, x, k: xbar.forward(s, x, key=k)),
                          xbar.jitted_update())
    return _PROGRAMS[key]


def _is_oom(err: Exception) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    return any(s in text for s in ("resource_exhausted", "out of memory", "oom", "allocat", "memoryerror"))


# ----------------------------------------------------------------------------- sections
def section_bandwidth(cfg) -> dict:
    n = int(cfg["copy_gib"] * 2**30) // 4
    x = jnp.zeros((n,), jnp.float32)
    out = {"bytes_per_call": 2 * x.nbytes, "dtype": "float32"}
    fresh = jax.jit(lambda a: a + 1)
    best, med, _ = _best(lambda x=x: fresh(x), 5)
    out["fresh_GBps"] = 2 * x.nbytes / best / 1e9
    inplace = jax.jit(lambda a: a + 1, donate_argnums=0)
    x = _sync(inplace(x))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        x = _sync(inplace(x))
        times.append(time.perf_counter() - t0)
    out["in_place_GBps"] = 2 * x.nbytes / min(times) / 1e9
    out["in_place_GBps_median"] = 2 * x.nbytes / statistics.median(times) / 1e9
    del x
    return out


def section_update(cfg, bandwidth: dict) -> dict:
    n = cfg["update_n"]
    cells = n * n
    kx, kd = jax.random.split(jax.random.key(1))
    x = jax.random.uniform(kx, (BATCH, n), minval=-1.0, maxval=1.0)
    d = 0.1 * jax.random.normal(kd, (BATCH, n))
    bw = bandwidth.get("in_place_GBps")
    rows, weights = [], {}
    for preset in cfg["update_presets"]:
        for state_kind in ("float32", "compact"):
            xbar, init, _, update = _programs(preset, state_kind == "compact", n)
            state = init(jax.random.key(0))
            state_bytes = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(state))
            written = state.plus.conductance.nbytes + state.minus.conductance.nbytes
            key = jax.random.key(2)
            t0 = time.perf_counter()
            state = _sync(update(state, x, d, LEARNING_RATE, jax.random.fold_in(key, 0)))
            compile_s = time.perf_counter() - t0
            times = []
            for i in range(cfg["update_repeats"]):
                t0 = time.perf_counter()
                state = _sync(update(state, x, d, LEARNING_RATE, jax.random.fold_in(key, i + 1)))
                times.append(time.perf_counter() - t0)
            weights[(preset, state_kind)] = np.asarray(xbar.weights(state), np.float64)
            must = (state_bytes + written) / cells
            best = min(times)
            row = {"preset": preset, "state": state_kind, "n": n, "mapping": "differential", "batch": BATCH,
                   "best_s": best, "median_s": statistics.median(times), "first_call_s": compile_s,
                   "cells_per_s": cells / best, "state_bytes_per_cell": state_bytes / cells,
                   "must_bytes_per_cell": must, "achieved_GBps": must * cells / best / 1e9,
                   "dw_min": float(xbar.dw_min)}
            if bw:
                row["fraction_of_bound"] = row["achieved_GBps"] / bw
                row["goal_0.30_met"] = row["fraction_of_bound"] >= 0.30
            rows.append(row)
            del state
            gc.collect()
    precision = {}
    for preset in cfg["update_presets"]:
        diff = weights[(preset, "compact")] - weights[(preset, "float32")]
        dw_min = next(r["dw_min"] for r in rows if r["preset"] == preset)
        precision[preset] = {"max_abs_over_dw_min": float(np.max(np.abs(diff)) / dw_min),
                             "rms_over_dw_min": float(np.sqrt(np.mean(diff**2)) / dw_min),
                             "after_updates": cfg["update_repeats"] + 1}
    return {"rows": rows, "compact_vs_float32_weights": precision,
            "bound": "in-place copy bandwidth / (state bytes + written conductance bytes) per weight",
            "precision": "state float32 (compact: float16 cell parameters, float32 conductance); update math float32"}


def _irdrop_problem(n, batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.0, (n, n)) * G_ON, rng.uniform(0.0, 0.5, (batch, n))


def section_irdrop(cfg, json_path: str) -> dict:
    from synaptax.circuits.irdrop import solve_crossbar

    n, batch, ratio = cfg["irdrop_n"], cfg["irdrop_batch"], 1e-4
    r = ratio / G_ON
    g, v = _irdrop_problem(n, batch)
    g32, v32 = jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32)
    sol = None

    def run():
        nonlocal sol
        sol = solve_crossbar(g32, v32, r_row=r, r_col=r, on_failure="ignore")
        return sol.column_currents

    best, med, first = _best(run, cfg["irdrop_repeats"])
    i32 = np.asarray(sol.column_currents, np.float64)
    out = {"n": n, "batch": batch, "ratio_rG": ratio, "r_ohm": r, "best_s": best, "median_s": med,
           "compile_s": max(first - best, 0.0), "per_vector_ms": 1e3 * best / batch,
           "iterations_max": int(np.max(np.asarray(sol.iterations))),
           "converged": bool(np.all(np.asarray(sol.converged))),
           "residual_max": float(np.max(np.asarray(sol.residual))), "precision": "float32 solve"}
    k = min(batch, cfg["reference_vectors"])
    i64 = _irdrop_reference_in_process(n, batch, k)
    if i64 is not None:
        out["err_f32_vs_f64"] = float(np.max(np.abs(i32[:k] - i64)) / np.max(np.abs(i64)))
        out["irdrop_effect"] = float(np.max(np.abs(i64 - v[:k] @ g)) / np.max(np.abs(v[:k] @ g)))
        out["reference_vectors"] = k
        return out
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = os.path.join(tmp, "ref.npy")
        env = dict(os.environ, JAX_ENABLE_X64="1", PYTHONPATH=os.pathsep.join(
            p for p in (SRC, os.environ.get("PYTHONPATH")) if p))
        cmd = [sys.executable, os.path.abspath(__file__), "--irdrop-reference", ref_path, "--n", str(n),
               "--batch", str(batch), "--vectors", str(k)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode == 0 and os.path.exists(ref_path):
            i64 = np.load(ref_path)
            out["err_f32_vs_f64"] = float(np.max(np.abs(i32[:k] - i64)) / np.max(np.abs(i64)))
            out["irdrop_effect"] = float(np.max(np.abs(i64 - v[:k] @ g)) / np.max(np.abs(v[:k] @ g)))
            out["reference_vectors"] = k
        else:
            out["reference_error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]
    return out


def _irdrop_reference_in_process(n: int, batch: int, vectors: int):
    """Float64 column currents of the first ``vectors`` inputs under ``jax.enable_x64``
    (JAX ≥ 0.6); None where this JAX has no such context (a subprocess then computes them)."""
    enable = getattr(jax, "enable_x64", None)
    if enable is None:
        return None
    try:
        ctx = enable(True)
    except TypeError:
        return None
    from synaptax.circuits.irdrop import solve_crossbar

    g, v = _irdrop_problem(n, batch)
    r = 1e-4 / G_ON
    with ctx:
        sol = solve_crossbar(jnp.asarray(g), jnp.asarray(v[:vectors]), r_row=r, r_col=r, on_failure="ignore")
        if sol.column_currents.dtype != jnp.float64:
            return None
        return np.asarray(sol.column_currents, np.float64)


def irdrop_reference(path: str, n: int, batch: int, vectors: int) -> None:
    """Float64 column currents of the first ``vectors`` inputs (run with JAX_ENABLE_X64=1)."""
    from synaptax.circuits.irdrop import solve_crossbar

    g, v = _irdrop_problem(n, batch)
    r = 1e-4 / G_ON
    sol = solve_crossbar(jnp.asarray(g), jnp.asarray(v[:vectors]), r_row=r, r_col=r, on_failure="ignore")
    np.save(path, np.asarray(sol.column_currents, np.float64))


def section_training(cfg) -> dict:
    from synaptax.arrays import Crossbar
    from synaptax.devices import get_preset
    from synaptax.training.algorithms import Algorithm, build_optimizer
    from synaptax.training.datasets import load_mnist
    from synaptax.training.loop import chunk_lengths, run_steps
    from synaptax.training.network import AnalogMLP

    data = load_mnist(split="test")
    n = min(cfg["train_samples"], len(data.labels))
    images, labels = jnp.asarray(data.images[:n]), jnp.asarray(data.labels[:n])
    sizes = cfg["sizes"]
    steps = n // BATCH
    opt, sched = build_optimizer("sgd", 0.1, total_steps=2 * steps)
    model = AnalogMLP([Crossbar(get_preset("reram-sb"), a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    alg = Algorithm("analog-sgd", model, opt, sched)
    key = jax.random.key(0)
    ts = alg.init(key=key)
    lengths = chunk_lengths(steps)

    def batches(epoch):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
        return order[:steps * BATCH].reshape(steps, BATCH)

    t0 = time.perf_counter()
    warm = batches(10_000)
    for m in sorted(set(lengths)):  # compile every chunk length once
        _, metrics = run_steps(alg, ts, images, labels, warm[:m], key=key, first=0)
        _sync(metrics.loss)
    compile_s = time.perf_counter() - t0
    order = batches(0)
    t0 = time.perf_counter()
    b = 0
    for m in lengths:
        ts, metrics = run_steps(alg, ts, images, labels, order[b:b + m], key=key, first=1 + b)
        b += m
    _sync(metrics.loss)
    epoch_s = time.perf_counter() - t0
    return {"network": "-".join(map(str, sizes)), "preset": "reram-sb", "mapping": "differential", "samples": n,
            "batch": BATCH, "steps": steps, "epoch_s": epoch_s, "step_ms": 1e3 * epoch_s / steps,
            "compile_and_warmup_s": compile_s, "final_loss": float(np.asarray(metrics.loss)[-1]),
            "precision": "float32 state and activations; MVMs at matmul precision HIGHEST"}


def section_largest(cfg) -> dict:
    tried, best = [], None
    for n in cfg["largest_n"]:
        cells = n * n
        if cells > cfg["largest_cap"]:
            n = int(np.floor(np.sqrt(cfg["largest_cap"])))
            cells = n * n
        xbar, init, forward, update = _programs("reram-sb", True, n)
        row = {"n": n, "cells": cells}
        t0 = time.perf_counter()
        state = None
        try:
            state = _sync(init(jax.random.key(0)))
            row["state_bytes"] = int(sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(state)))
            kx, kd = jax.random.split(jax.random.key(1))
            x = jax.random.uniform(kx, (BATCH, n), minval=-1.0, maxval=1.0)
            d = 0.1 * jax.random.normal(kd, (BATCH, n))
            y = _sync(forward(state, x, jax.random.key(3)))
            row["forward_finite"] = bool(jnp.all(jnp.isfinite(y)))
            del y
            state = _sync(update(state, x, d, LEARNING_RATE, jax.random.key(2)))
            row["fits"] = True
        except Exception as err:  # noqa: BLE001 -- an allocation failure ends the growth
            row["fits"] = False
            row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            row["out_of_memory"] = _is_oom(err)
        row["seconds"] = time.perf_counter() - t0
        tried.append(row)
        del state
        if n != cfg["update_n"]:
            _PROGRAMS.pop(("reram-sb", True, n), None)  # a huge crossbar's programs are not needed again
        gc.collect()
        if not row["fits"]:
            break
        best = row
        if cells >= cfg["largest_cap"]:
            break
    return {"preset": "reram-sb", "state": "compact (float16 cell parameters)", "mapping": "differential",
            "largest": best, "tried": tried, "cap_cells": cfg["largest_cap"],
            "bytes_per_cell": None if best is None else best["state_bytes"] / best["cells"]}


def section_precision(cfg) -> dict:
    batch, rows, cols = cfg["mvm"]
    rng = np.random.default_rng(0)
    v = rng.uniform(-0.2, 0.2, (batch, rows))
    dg = rng.normal(0.0, 2e-6, (rows, cols))
    ref = v @ dg
    v32, g32 = jnp.asarray(v, jnp.float32), jnp.asarray(dg, jnp.float32)
    out = {"shape": [batch, rows, cols], "reference": "float64 on the host (numpy)", "matmul": {}}
    for name in ("HIGHEST", "HIGH", "DEFAULT"):
        prec = getattr(jax.lax.Precision, name)
        f = jax.jit(lambda a, b, prec=prec: jnp.matmul(a, b, precision=prec))
        best, med, _ = _best(lambda: f(v32, g32), cfg["mvm_repeats"])
        y = np.asarray(f(v32, g32), np.float64)
        out["matmul"][name] = {"best_s": best, "max_rel_err": float(np.max(np.abs(y - ref)) / np.max(np.abs(ref))),
                               "rms_rel_err": float(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref**2)))}
    if rows == cols:
        xbar, init, fwd, _ = _programs("reram-sb", False, rows)
    else:
        from synaptax.arrays import Crossbar
        from synaptax.devices import get_preset

        xbar = Crossbar(get_preset("reram-sb"), rows, cols)
        init, fwd = xbar.jitted_init(), jax.jit(lambda s, x, k: xbar.forward(s, x, key=k))
    state = init(jax.random.key(0))
    x = jnp.asarray(rng.uniform(-1, 1, (batch, rows)), jnp.float32)
    best, med, first = _best(lambda: fwd(state, x, jax.random.key(1)), cfg["mvm_repeats"])
    out["crossbar_forward"] = {"best_s": best, "median_s": med, "compile_s": max(first - best, 0.0),
                               "precision": "HIGHEST (synaptax's tiles), 7-bit DAC, 9-bit ADC, read noise"}
    return out


SECTIONS = ("bandwidth", "update", "irdrop", "training", "largest", "precision")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "gpu.json"))
    ap.add_argument("--dry-run", action="store_true", help="every section on the CPU with small sizes")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--budget-s", type=float, default=450.0, help="skip the sections that start after this")
    ap.add_argument("--irdrop-reference", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--vectors", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.irdrop_reference:
        irdrop_reference(args.irdrop_reference, args.n, args.batch, args.vectors)
        return
    cfg = DRY if args.dry_run else FULL
    start = time.perf_counter()
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "dry_run": args.dry_run, "machine": _device_info(), "config": {k: v for k, v in cfg.items()},
           "sections": {}}
    if jax.default_backend() != "gpu" and not args.dry_run:
        out["warning"] = f"backend is {jax.default_backend()}, not gpu: sizes are the GPU's"
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)

    def save():
        out["total_s"] = time.perf_counter() - start
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=float)

    wanted = [s for s in args.sections.split(",") if s]
    bandwidth = {}
    for name in wanted:
        if time.perf_counter() - start > args.budget_s:
            out["sections"][name] = {"skipped": f"time budget of {args.budget_s:.0f} s spent"}
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            if name == "bandwidth":
                result = bandwidth = section_bandwidth(cfg)
            elif name == "update":
                result = section_update(cfg, bandwidth)
            elif name == "irdrop":
                result = section_irdrop(cfg, args.json)
            elif name == "training":
                result = section_training(cfg)
            elif name == "largest":
                result = section_largest(cfg)
            elif name == "precision":
                result = section_precision(cfg)
            else:
                raise SystemExit(f"unknown section {name!r}; valid: {', '.join(SECTIONS)}")
        except SystemExit:
            raise
        except Exception as err:  # noqa: BLE001 -- one failed section must not lose the others
            result = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"}
        result["section_s"] = time.perf_counter() - t0
        result["section_cpu_s"] = time.process_time() - c0
        out["sections"][name] = result
        print(f"[{time.perf_counter() - start:6.1f} s] {name}: {json.dumps(result, default=float)[:400]}", flush=True)
        save()
        gc.collect()
    save()
    print(f"wrote {args.json} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
