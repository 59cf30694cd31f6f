"""Crossbar tile micro-benchmarks on the current JAX backend: pulsed updates and MVMs.

Sections (times are medians of ``--repeats`` runs after compilation, each ended by
``block_until_ready``):

* update: stochastic pulse coincidence (bit length 31) of a 512 × 512 tile at batch 64,
  presets ``reram-sb`` (soft bounds, all variability) and ``ideal`` (constant step),
  aggregate batch mode (and sequential for reference); with the default bit-length
  management (trains of ≤ 31 slots) and with fixed 31-slot trains.  Throughput:
  cells × batch / time.
* mvm: forward and transposed MVM of 512 × 512 at batch 64 (default 7-bit DAC, 9-bit ADC,
  ``reram-sb`` with read noise).  Throughput: cells × batch / time (multiply-accumulates
  per second).
* large (only with ``--large`` or on a GPU): pulsed update of a 4096 × 4096 array, the
  state donated (updated in place: ``Crossbar.jitted_update``); achieved memory bandwidth
  counting the bytes the update must move: the state read once and the two conductances
  written once (both devices of the differential pair), and its fraction of this machine's
  bandwidth measured with an in-place copy ``y = x + 1`` of 1 GiB (``benchmarks/scale.py``
  has the CPU roofline in full: page faults, huge pages, compact state).

Every update benchmark donates the state to the compiled update and threads it through the
repeats (``state = update(state, ...)``), as a training loop does.

Usage: python benchmarks/crossbar.py [--repeats 7] [--large] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from synaptax.arrays import Crossbar  # noqa: E402
from synaptax.devices import get_preset  # noqa: E402

LEARNING_RATE = 0.01


def timed(fn, *args, repeats: int, threaded: bool = False):
    """(median seconds, compile seconds) of ``fn(*args)`` after a first (compiling) call.
    ``threaded``: ``fn`` consumes its first argument (donated) and returns its successor,
    which the next call takes."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        if threaded:
            args = (out,) + tuple(args[1:])
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), compile_s


def _inputs(key, batch, n_in, n_out):
    kx, kd = jax.random.split(key)
    x = jax.random.uniform(kx, (batch, n_in), minval=-1.0, maxval=1.0)
    d = 0.1 * jax.random.normal(kd, (batch, n_out))
    return x, d


def bench_update(preset, size, batch, *, batch_mode, bl_management, repeats, key):
    xbar = Crossbar(get_preset(preset), size, size)
    state = xbar.init(key=key)
    x, d = _inputs(jax.random.fold_in(key, 1), batch, size, size)

    update = xbar.jitted_update(bit_length=31, batch_mode=batch_mode, bl_management=bl_management)
    state_bytes = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(state))
    moved = state_bytes + state.plus.conductance.nbytes + state.minus.conductance.nbytes
    seconds, compile_s = timed(update, state, x, d, LEARNING_RATE, jax.random.fold_in(key, 2), repeats=repeats,
                               threaded=True)
    return {"section": "update", "preset": preset, "shape": [size, size], "batch": batch,
            "batch_mode": batch_mode, "bit_length": 31, "bl_management": bl_management,
            "seconds": seconds, "compile_s": compile_s,
            "cells_per_s": size * size * batch / seconds, "state_bytes": state_bytes,
            "bytes_moved": moved, "bandwidth_GBps": moved / seconds / 1e9}


def bench_mvm(preset, size, batch, *, repeats, key):
    xbar = Crossbar(get_preset(preset), size, size)
    state = xbar.init(key=key)
    x, d = _inputs(jax.random.fold_in(key, 1), batch, size, size)
    forward = jax.jit(lambda s, x, k: xbar.forward(s, x, key=k))
    backward = jax.jit(lambda s, d, k: xbar.backward(s, d, key=k))
    both = jax.jit(lambda s, x, d, k: (xbar.forward(s, x, key=k), xbar.backward(s, d, key=jax.random.fold_in(k, 1))))
    k = jax.random.fold_in(key, 2)
    rows = []
    for name, fn, args in (("forward", forward, (state, x, k)), ("transposed", backward, (state, d, k)),
                           ("forward + transposed", both, (state, x, d, k))):
        seconds, compile_s = timed(fn, *args, repeats=repeats)
        macs = size * size * batch * (2 if name == "forward + transposed" else 1)
        rows.append({"section": "mvm", "what": name, "preset": preset, "shape": [size, size], "batch": batch,
                     "dac_bits": xbar.dac.bits, "adc_bits": xbar.adc.bits, "seconds": seconds,
                     "compile_s": compile_s, "cells_per_s": macs / seconds})
    return rows


def copy_bandwidth(repeats):
    """Bytes per second of ``y = x + 1`` in place (donated) on a 1 GiB float32 array (read +
    write)."""
    x = jnp.zeros((256 * 1024 * 1024,), jnp.float32)
    add = jax.jit(lambda x: x + 1, donate_argnums=0)
    seconds, _ = timed(add, x, repeats=repeats, threaded=True)
    return 2 * x.nbytes / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--large", action="store_true", help="also run the 4096 × 4096 update (always on a GPU)")
    ap.add_argument("--large-size", type=int, default=4096)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    dev = jax.devices()[0]
    backend = jax.default_backend()
    device_name = f"{dev.platform}: {getattr(dev, 'device_kind', str(dev))}"
    print(f"# synaptax crossbar benchmark — backend {backend}, device {device_name}, jax {jax.__version__}\n")
    key = jax.random.key(0)
    rows = []
    for preset in ("reram-sb", "ideal"):
        for batch_mode, blm in (("aggregate", True), ("aggregate", False), ("sequential", False)):
            rows.append(bench_update(preset, args.size, args.batch, batch_mode=batch_mode, bl_management=blm,
                                     repeats=args.repeats, key=key))
    rows += bench_mvm("reram-sb", args.size, args.batch, repeats=args.repeats, key=key)

    print(f"## Pulsed update, {args.size} × {args.size}, batch {args.batch}, bit length 31, "
          f"learning rate {LEARNING_RATE}\n")
    print("| preset | batch mode | trains | time | cells × batch / s | compile |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["section"] == "update":
            trains = "≤ 31 slots (bit-length management)" if r["bl_management"] else "31 slots"
            print(f"| {r['preset']} | {r['batch_mode']} | {trains} | {1e3 * r['seconds']:.2f} ms | "
                  f"{r['cells_per_s']:.3g} | {r['compile_s']:.1f} s |")
    print(f"\n## MVM, {args.size} × {args.size}, batch {args.batch}, 7-bit DAC, 9-bit ADC, reram-sb\n")
    print("| MVM | time | cells × batch / s | compile |")
    print("|---|---|---|---|")
    for r in rows:
        if r["section"] == "mvm":
            print(f"| {r['what']} | {1e3 * r['seconds']:.3f} ms | {r['cells_per_s']:.3g} | {r['compile_s']:.1f} s |")

    if args.large or backend == "gpu":
        n = args.large_size
        peak = copy_bandwidth(args.repeats)
        large = [bench_update(preset, n, args.batch, batch_mode="aggregate", bl_management=False,
                              repeats=max(3, args.repeats // 2), key=key) for preset in ("reram-sb", "ideal")]
        for r in large:
            r["section"] = "large"
            r["copy_bandwidth_GBps"] = None if peak is None else peak / 1e9
        rows += large
        print(f"\n## Pulsed update, {n} × {n}, batch {args.batch}, aggregate, 31 slots\n")
        if peak is not None:
            print(f"Measured copy bandwidth (y = x + 1 in place, 1 GiB float32): {peak / 1e9:.0f} GB/s\n")
        print("| preset | time | cells × batch / s | state (both devices) | bandwidth (state read, conductances "
              "written) | of measured copy bandwidth |")
        print("|---|---|---|---|---|---|")
        for r in large:
            frac = "—" if peak is None else f"{r['bandwidth_GBps'] * 1e9 / peak:.0%}"
            print(f"| {r['preset']} | {1e3 * r['seconds']:.1f} ms | {r['cells_per_s']:.3g} | "
                  f"{r['state_bytes'] / 2**20:.0f} MiB | {r['bandwidth_GBps']:.1f} GB/s | {frac} |")

    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"backend": backend, "device": device_name, "jax": jax.__version__, "rows": rows}, fh,
                      indent=2)


if __name__ == "__main__":
    main()
