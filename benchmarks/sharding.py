"""One training epoch on one device, split over ``data`` and over ``tiles`` (CPU devices).

The network of issue 21: 784-256-128-10 on ``reram-sb`` (analog SGD, differential pair,
ideal wires, 512x512 tiles), batch 64, the bundled 5k MNIST training subset (78 steps per
epoch), float32.  Each case runs in its own process with ``JAX_NUM_CPU_DEVICES`` set
before JAX starts and synaptax's single-threaded-Eigen XLA flags (what ``synaptax`` uses
on machines of <= 2 cores), so each CPU device is one thread:

* ``one device``: ``JAX_NUM_CPU_DEVICES=1``, no mesh (today's training);
* ``data=2``: two devices, each step's batch split in two (32 samples per device);
* ``tiles=2``: two devices, each layer's crossbar columns split in two (256 / 128 columns:
  128 / 64 each; the 10-column output layer divides too: 5 each).

Per case: the first epoch (compilation included), then ``--epochs`` more timed epochs
(the per-epoch time is their median, their minimum shown too; the speed-up is the
one-device median over the case's), the steps run as :func:`synaptax.training.loop.train`
runs them (``run_steps`` in chunks of at most 64 steps), and the first epoch's mean loss
(the same batches and keys in every case: how far sharding moves the result in float32).

    python benchmarks/sharding.py [--epochs 3] [--train-samples 0]

Writes ``benchmarks/results/sharding.json`` and prints a table.  On a 2-core machine
shared with other work the speed-ups are small and noisy; the numbers are what they are.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CASES = (("one device", 1, None), ("data=2", 2, "data=2"), ("tiles=2", 2, "tiles=2"))


def child(mesh_text: str | None, epochs: int, train_samples: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from synaptax import sharding
    from synaptax.training import loop

    config = loop.TrainConfig(device="reram-sb", hidden=(256, 128), batch_size=64, train_samples=train_samples,
                              epochs=1 + epochs, mesh=mesh_text)
    config.validate()
    keys = loop.RunKeys.from_seed(config.seed)
    train_full, _ = loop.load_data(config)
    data = loop._subset(train_full, config.train_samples, jax.random.fold_in(keys.data, 0))
    steps = len(data.labels) // config.batch_size
    alg = loop.build(config, steps * config.epochs, key=keys.model, data=data)
    ts = alg.init(key=keys.model)
    images, labels = jnp.asarray(data.images), jnp.asarray(data.labels)
    mesh = None
    if mesh_text is not None:
        mesh = sharding.mesh_from_text(mesh_text)
        ts = sharding.shard_train_state(ts, mesh)
        images, labels = sharding.replicate((images, labels), mesh)
    times, losses = [], []
    for epoch in range(config.epochs):
        order = loop._shuffled(len(data.labels), jax.random.fold_in(keys.shuffle, epoch))
        batches = order[:steps * config.batch_size].reshape(steps, config.batch_size)
        if mesh is not None:
            batches = sharding.shard_batch(batches, mesh, axis=1)
        t0 = time.perf_counter()
        b, epoch_loss = 0, []
        for length in loop.chunk_lengths(steps):
            ts, m = loop.run_steps(alg, ts, images, labels, batches[b:b + length], key=keys.steps,
                                   first=epoch * steps + b)
            epoch_loss.append(np.asarray(jax.device_get(m.loss)))  # the loop reads them every chunk
            b += length
        jax.block_until_ready(ts)
        times.append(time.perf_counter() - t0)
        losses.append(float(np.concatenate(epoch_loss).mean()))
    spec = sharding.placement_summary(ts)
    return {"mesh": mesh_text, "devices": len(jax.devices()), "steps_per_epoch": steps,
            "first_epoch_s": times[0], "epoch_s": sorted(times[1:])[len(times[1:]) // 2], "epoch_min_s": min(times[1:]),
            "epoch_times_s": times[1:],
            "first_epoch_loss": losses[0], "arrays_split": spec["split"], "arrays_replicated": spec["replicated"],
            "description": sharding.describe_mesh(mesh) if mesh is not None else "one device"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after the first (default: 3)")
    ap.add_argument("--train-samples", type=int, default=0, help="training samples (0: the 5k subset)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sharding.json"))
    args = ap.parse_args()
    if args.child is not None:
        mesh = None if args.child == "none" else args.child
        print(json.dumps(child(mesh, args.epochs, args.train_samples)), flush=True)
        return 0
    rows = []
    for name, devices, mesh in CASES:
        env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices), "JAX_PLATFORMS": "cpu", "XLA_FLAGS": XLA,
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [sys.executable, __file__, "--child", mesh or "none", "--epochs", str(args.epochs),
               "--train-samples", str(args.train_samples)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-3000:], file=sys.stderr)
            return 1
        row = json.loads(p.stdout.strip().splitlines()[-1]) | {"case": name, "process_s": time.perf_counter() - t0}
        rows.append(row)
        print(f"{name}: done in {row['process_s']:.0f} s", file=sys.stderr)
    base = rows[0]
    for r in rows:
        r["speedup"] = base["epoch_s"] / r["epoch_s"]
        r["loss_rel_diff"] = abs(r["first_epoch_loss"] - base["first_epoch_loss"]) / abs(base["first_epoch_loss"])
    head = (f"{'case':<11} {'devices':>7} {'epoch [s]':>9} {'min [s]':>7} {'speed-up':>8} {'1st epoch [s]':>13} "
            f"{'loss (1st)':>10} {'rel. diff':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['case']:<11} {r['devices']:>7} {r['epoch_s']:>9.2f} {r['epoch_min_s']:>7.2f} {r['speedup']:>8.2f} "
              f"{r['first_epoch_s']:>13.1f} {r['first_epoch_loss']:>10.5f} {r['loss_rel_diff']:>9.1e}")
    import jax

    result = {"network": "784-256-128-10", "device": "reram-sb", "batch_size": 64, "dtype": "float32",
              "timed_epochs": args.epochs, "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(),
              "machine": platform.platform(), "jax": jax.__version__, "xla_flags": XLA, "cases": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
