"""Time per epoch of an analog MLP, the setting of aihwkit's figure in shared/docs/peers.md.

784-256-128-10 analog MLP, 10,000 samples, batch 64, soft-bounds device (``reram-sb``),
stochastic pulse update (bit length 31, update and bit-length management), 7-bit DAC /
9-bit ADC.  The 10,000 samples are the bundled test set used as training data (timing
only: the bundled training subset has 5,000 images).  aihwkit 1.1.0 measured 1.12 s for
the same epoch on this kind of CPU with one thread (peers.md).

Three configurations are timed (``--configs`` chooses):

``aihwkit``
    What aihwkit simulates in that epoch, the comparison the goal is about: one pulsed
    device per weight (aihwkit's ``SingleRPUConfig``; here the ``reference`` mapping),
    no per-cell read noise (aihwkit's ``IOParameters.w_noise = 0``, "no read noise by
    default" in its presets) and Gaussian output noise at the ADC instead (aihwkit's
    ``out_noise = 0.06`` at ``out_bound = 12``: 0.5 % of full scale).
``reference``
    ``reram-sb`` as shipped (exact per-cell read noise of 1 %: one more matrix product
    per MVM), one device per weight.
``differential``
    ``reram-sb`` as shipped on a differential pair (two pulsed devices per weight, the
    default of ``synaptax train``): twice the devices to update.

The epoch runs as the training loop runs it (``synaptax.training.loop.run_steps``: compiled
scans over chunks of the epoch).  Besides wall time, the CPU time of this process per epoch
is reported: with one XLA thread it is what the epoch costs, and it is less sensitive than
wall time to other processes sharing the cores.  ``--breakdown`` adds a table of the phases
of one step, each jitted alone at the benchmark's shapes (best of several runs; the sum
differs from a step inside the scan, where XLA fuses across phases).

Usage: python benchmarks/training.py [--epochs 3] [--configs aihwkit,reference,differential]
       [--breakdown] [--json PATH]
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

import equinox as eqx  # noqa: E402

from synaptax.arrays import Crossbar  # noqa: E402
from synaptax.circuits import ADC  # noqa: E402
from synaptax.devices import get_preset  # noqa: E402
from synaptax.training.algorithms import Algorithm, build_optimizer  # noqa: E402
from synaptax.training.datasets import load_mnist  # noqa: E402
from synaptax.training.loop import chunk_lengths, run_steps  # noqa: E402
from synaptax.training.network import AnalogMLP  # noqa: E402

AIHWKIT_EPOCH_S = 1.12


CONFIGS = ("aihwkit", "reference", "differential")


def crossbars(config: str, device_name: str, sizes):
    """The layers' crossbars of one benchmark configuration (module docstring)."""
    device = get_preset(device_name)
    kw = {}
    if config == "aihwkit":
        device = eqx.tree_at(lambda d: d.variability.read_noise, device, 0.0)
        kw = dict(mapping="reference", adc=ADC(noise=0.06 / 12.0))
    elif config == "reference":
        kw = dict(mapping="reference")
    elif config != "differential":
        raise SystemExit(f"unknown configuration {config!r}; valid: {', '.join(CONFIGS)}")
    return [Crossbar(device, a, b, **kw) for a, b in zip(sizes[:-1], sizes[1:])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="reram-sb")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    ap.add_argument("--breakdown", action="store_true", help="time the phases of one step (first configuration)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    data = load_mnist(split="test")
    images = jnp.asarray(data.images)
    labels = jnp.asarray(data.labels)
    results = {}
    print("| configuration | backend | epoch (best) | epoch (median) | per step | CPU time per epoch | compile | vs aihwkit 1.12 s |")
    print("|---|---|---|---|---|---|---|---|")
    for i, config in enumerate(configs):
        r, alg, ts, key = time_epochs(config, args, images, labels)
        results[config] = r
        print(f"| {config} | {r['backend']} | {r['best_epoch_s']:.3f} s | {r['median_epoch_s']:.3f} s | "
              f"{r['step_ms']:.2f} ms | {r['best_epoch_cpu_s']:.3f} s | {r['compile_s']:.1f} s | "
              f"{r['speedup_vs_aihwkit']:.2f}x |", flush=True)
        if i == 0:
            first = (alg, ts, key)
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    if args.breakdown:
        alg, ts, key = first
        results[configs[0]]["breakdown_ms"] = breakdown(alg, ts, images[:64], labels[:64], key)
    head = results[configs[0]]
    result = {"backend": head["backend"], "device_name": head["device_name"], "preset": args.device,
              "network": "784-256-128-10", "samples": head["samples"], "batch": head["batch"],
              "aihwkit_epoch_s": AIHWKIT_EPOCH_S, "compared_configuration": configs[0],
              "best_epoch_s": head["best_epoch_s"], "speedup_vs_aihwkit": head["speedup_vs_aihwkit"],
              "configurations": results}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


def time_epochs(config, args, images, labels):
    """Best/median time per epoch of one configuration; returns (result, alg, ts, key)."""
    sizes = [784, 256, 128, 10]
    batch = 64
    steps = len(labels) // batch
    opt, sched = build_optimizer("sgd", 0.1, total_steps=steps * args.epochs)
    model = AnalogMLP(crossbars(config, args.device, sizes))
    alg = Algorithm("analog-sgd", model, opt, sched)
    key = jax.random.key(0)
    ts = alg.init(key=key)
    # the training loop's path (synaptax.training.loop.train): the epoch runs as compiled
    # scans over chunks of at most 64 steps, batches gathered on the device
    lengths = chunk_lengths(steps)

    def epoch_batches(epoch):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), len(labels)))
        return order[:steps * batch].reshape(steps, batch)

    t0 = time.perf_counter()
    warm = epoch_batches(10_000)
    for n in sorted(set(lengths)):  # compile every chunk length once (and run it)
        _, m = run_steps(alg, ts, images, labels, warm[:n], key=key, first=0)
        jax.block_until_ready(m.loss)
    warm_s = time.perf_counter() - t0
    times, cpu_times = [], []
    for epoch in range(args.epochs):
        batches = epoch_batches(epoch)
        c0 = time.process_time()
        t0 = time.perf_counter()
        b = 0
        for n in lengths:
            ts, m = run_steps(alg, ts, images, labels, batches[b:b + n], key=key, first=1 + epoch * steps + b)
            b += n
        jax.block_until_ready(m.loss)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    # compile time: the warm-up calls less what running their steps takes
    compile_s = warm_s - sum(set(lengths)) * min(times) / steps
    best = min(times)
    result = {"backend": jax.default_backend(), "device_name": str(jax.devices()[0]),
              "mapping": model.crossbars[0].mapping,
              "read_noise": float(model.crossbars[0].device.variability.read_noise),
              "adc_noise": float(model.crossbars[0].adc.noise),
              "samples": steps * batch, "batch": batch,
              "epoch_times_s": times, "best_epoch_s": best, "median_epoch_s": float(np.median(times)),
              "epoch_cpu_times_s": cpu_times, "best_epoch_cpu_s": min(cpu_times),
              "compile_s": compile_s, "step_ms": 1e3 * best / steps,
              "speedup_vs_aihwkit": AIHWKIT_EPOCH_S / best}
    return result, alg, ts, key


def _best_ms(f, *args, n=20, reps=7):
    """Best (wall, CPU) time per call [ms] of a jitted function."""
    jax.block_until_ready(f(*args))
    wall = cpu = float("inf")
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            out = f(*args)
        jax.block_until_ready(out)
        wall = min(wall, (time.perf_counter() - t0) / n)
        cpu = min(cpu, (time.process_time() - c0) / n)
    return 1e3 * wall, 1e3 * cpu


def breakdown(alg, ts, x, y, key):
    """Time the phases of one analog-SGD step, each jitted alone; prints a table."""
    from synaptax.training.algorithms import cross_entropy

    xbars = alg.model.crossbars
    k_fwd, k_upd = jax.random.split(key)

    def grads(ts, x, y):
        probes = tuple(jnp.zeros((x.shape[0], c.out_features), x.dtype) for c in xbars)

        def loss_fn(b, p):
            logits, inputs = alg._with_params(b)(ts.states, x, key=k_fwd, probes=p)
            return cross_entropy(logits, y), inputs

        (_, inputs), (_, g) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(ts.params, probes)
        return inputs, g

    inputs, g = jax.jit(grads)(ts, x, y)
    rows = {}
    rows["forward MVMs (DAC, read noise, ADC), all layers"] = _best_ms(
        jax.jit(lambda ts, x: alg.predict(ts, x, key=k_fwd)), ts, x)
    fb = _best_ms(jax.jit(grads), ts, x, y)
    rows["backward MVMs (transposed, layers 2-3)"] = tuple(a - b for a, b in zip(
        fb, rows["forward MVMs (DAC, read noise, ADC), all layers"]))

    def energy(ts, inputs, g):
        total = 0.0
        for i, (c, s, h, e) in enumerate(zip(xbars, ts.states, inputs, g)):
            total = total + c.mvm_energy(s, h).total
            if i > 0:
                total = total + c.mvm_energy(s, e, transposed=True).total
        return total

    rows["MVM energy accounting"] = _best_ms(jax.jit(energy), ts, inputs, g)
    lr = alg.schedule(ts.step)
    for i, (c, s, h, e) in enumerate(zip(xbars, ts.states, inputs, g)):
        # (each function returns only what the phase changes: returning the whole state
        # would time copies of its unchanged fields, which the scan does not make)
        counts = jax.jit(lambda s, h, e, k, c=c: c.update_coincidence(s, h, -e, learning_rate=lr, key=k,
                                                                       bit_length=alg.bit_length)[1])
        pulses = counts(s, h, e, k_upd)
        up, down = c.pad(pulses.up[0]), c.pad(pulses.down[0])
        def apply(s, u, d, k, c=c):
            new = c.apply_pulses(s, u, d, key=k)
            return [c.device.conductance(a) for a in (new.plus, new.minus) if a is not None]

        apply = jax.jit(apply)
        rows[f"layer {i + 1}: coincidence counts ({c.in_features}x{c.out_features})"] = _best_ms(
            counts, s, h, e, k_upd)
        rows[f"layer {i + 1}: device update, d2d/c2c ({c.devices_per_weight * c.in_features * c.out_features} cells)"] = _best_ms(
            apply, s, up, down, k_upd)
        rows[f"layer {i + 1}: write energy"] = _best_ms(
            jax.jit(lambda s, p, c=c: c.write_energy(s, p)), s, pulses)
    rows["whole step (inside the scan, per step)"] = tuple(
        a / 64 for a in _best_ms(lambda ts: run_steps(alg, ts, x, y, jnp.tile(jnp.arange(x.shape[0]), (64, 1)),
                                                       key=key, first=0)[1].loss, ts, n=2, reps=5))
    print("\n| phase | wall ms | CPU ms |")
    print("|---|---|---|")
    for name, (w, c) in rows.items():
        print(f"| {name} | {w:.3f} | {c:.3f} |")
    return {name: {"wall_ms": w, "cpu_ms": c} for name, (w, c) in rows.items()}


if __name__ == "__main__":
    main()
