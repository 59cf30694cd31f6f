"""Time of a training step with the exact IR-drop solve on (``synaptax train --ir-drop``).

784-100-10 analog MLP, batch 16, analog SGD, 7-bit DAC / 9-bit ADC, wires of 1.06 Ω per
segment (NeuroSim's 22 nm cross-point cell), a differential pair of the chosen preset
(default ``ideal``).  The steps run as the training loop runs them
(``synaptax.training.loop.run_steps``: one compiled scan over 20 steps); the best of three
timed scans after a first (compiling) call.  Inputs are uniform random (timing only).

In a step every layer's conductance arrays are read once: each tile's network is prepared
(factorised) once and serves the forward read, its wire power and the backward read.

Usage: python benchmarks/irdrop_training.py [--device ideal] [--steps 20] [--json PATH]
Works against any synaptax with ``Crossbar(ir_drop=True)`` and ``run_steps`` (put the
other tree first on ``PYTHONPATH`` to compare).
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from synaptax.arrays import Crossbar  # noqa: E402
from synaptax.devices import get_preset  # noqa: E402
from synaptax.training.algorithms import Algorithm, build_optimizer  # noqa: E402
from synaptax.training.loop import run_steps  # noqa: E402
from synaptax.training.network import AnalogMLP  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="ideal")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sizes, batch = [784, 100, 10], 16
    opt, sched = build_optimizer("sgd", 0.5, total_steps=100)
    device = get_preset(args.device)
    model = AnalogMLP([Crossbar(device, a, b, ir_drop=True) for a, b in zip(sizes[:-1], sizes[1:])])
    alg = Algorithm("analog-sgd", model, opt, sched)
    ts = alg.init(key=jax.random.key(0))
    n = args.steps * batch
    images = jax.random.uniform(jax.random.key(1), (n, 784))
    labels = jnp.arange(n) % 10
    batches = np.arange(n).reshape(args.steps, batch)
    t = time.perf_counter()
    jax.block_until_ready(run_steps(alg, ts, images, labels, batches, key=jax.random.key(2)))
    first = time.perf_counter() - t
    best = float("inf")
    for r in range(3):
        t = time.perf_counter()
        jax.block_until_ready(run_steps(alg, ts, images, labels, batches, key=jax.random.key(3 + r)))
        best = min(best, time.perf_counter() - t)
    result = {"device": args.device, "network": "784-100-10", "batch": batch, "steps": args.steps,
              "ms_per_step": 1e3 * best / args.steps, "first_call_s": first, "backend": jax.default_backend(),
              "load_average": os.getloadavg()[0]}
    print(f"IR-drop training step ({result['network']}, batch {batch}, {args.device}): "
          f"{result['ms_per_step']:.1f} ms per step (best of 3 scans of {args.steps}); first call {first:.1f} s; "
          f"load average {result['load_average']:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
