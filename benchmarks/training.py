"""Time per epoch of an analog MLP, the setting of aihwkit's figure in shared/docs/peers.md.

784-256-128-10 analog MLP, 10,000 samples, batch 64, soft-bounds device (``reram-sb``),
stochastic pulse update (bit length 31), 7-bit DAC / 9-bit ADC.  The 10,000 samples are
the bundled test set used as training data (timing only: the bundled training subset has
5,000 images).  aihwkit 1.1.0 measured 1.12 s for the same epoch on this kind of CPU with
one thread (peers.md).

Usage: python benchmarks/training.py [--epochs 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from synaptax.arrays import Crossbar  # noqa: E402
from synaptax.devices import get_preset  # noqa: E402
from synaptax.training.algorithms import Algorithm, build_optimizer  # noqa: E402
from synaptax.training.datasets import load_mnist  # noqa: E402
from synaptax.training.network import AnalogMLP  # noqa: E402

AIHWKIT_EPOCH_S = 1.12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="reram-sb")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = load_mnist(split="test")
    sizes = [784, 256, 128, 10]
    batch = 64
    steps = len(data.labels) // batch
    opt, sched = build_optimizer("sgd", 0.1, total_steps=steps * args.epochs)
    model = AnalogMLP([Crossbar(get_preset(args.device), a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    alg = Algorithm("analog-sgd", model, opt, sched)
    key = jax.random.key(0)
    ts = alg.init(key=key)
    step = eqx.filter_jit(lambda a, t, x, y, k: a.step(t, x, y, key=k))
    images = jnp.asarray(data.images)
    labels = jnp.asarray(data.labels)
    t0 = time.perf_counter()
    ts, m = step(alg, ts, images[:batch], labels[:batch], key)
    jax.block_until_ready(m.loss)
    compile_s = time.perf_counter() - t0
    times = []
    for epoch in range(args.epochs):
        order = jax.random.permutation(jax.random.fold_in(key, epoch), len(labels))
        t0 = time.perf_counter()
        for b in range(steps):
            idx = order[b * batch:(b + 1) * batch]
            ts, m = step(alg, ts, images[idx], labels[idx], jax.random.fold_in(key, 1000 * epoch + b))
        jax.block_until_ready(m.loss)
        times.append(time.perf_counter() - t0)
    best = min(times)
    result = {"backend": jax.default_backend(), "device_name": str(jax.devices()[0]), "preset": args.device,
              "network": "784-256-128-10", "samples": steps * batch, "batch": batch,
              "epoch_times_s": times, "best_epoch_s": best, "median_epoch_s": float(np.median(times)),
              "compile_s": compile_s, "step_ms": 1e3 * best / steps,
              "aihwkit_epoch_s": AIHWKIT_EPOCH_S, "speedup_vs_aihwkit": AIHWKIT_EPOCH_S / best}
    print("| backend | network | samples | batch | epoch (best) | epoch (median) | per step | compile | vs aihwkit 1.12 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {result['backend']} | 784-256-128-10 | {result['samples']} | {batch} | {best:.3f} s | "
          f"{result['median_epoch_s']:.3f} s | {result['step_ms']:.2f} ms | {compile_s:.1f} s | "
          f"{result['speedup_vs_aihwkit']:.2f}x |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
