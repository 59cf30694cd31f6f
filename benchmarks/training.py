"""Time per epoch of an analog MLP against aihwkit's, side by side on one pinned core.

784-256-128-10 analog MLP (sigmoid), 10,000 samples, batch 64, soft-bounds device
(``reram-sb``), stochastic pulse update (bit length 31, update and bit-length management),
7-bit DAC / 9-bit ADC, analog SGD at learning rate 0.1.  The 10,000 samples are the bundled
test set used as training data (timing only: the bundled training subset has 5,000 images).

Three configurations are timed (``--configs`` chooses):

``aihwkit``
    What aihwkit simulates in that epoch, the like-for-like comparison: one pulsed device
    per weight (aihwkit's ``SingleRPUConfig``; here the ``reference`` mapping), no per-cell
    read noise (aihwkit's ``IOParameters.w_noise = 0``, "no read noise by default" in its
    presets) and Gaussian output noise at the ADC instead (aihwkit's ``out_noise = 0.06`` at
    ``out_bound = 12``: 0.5 % of full scale).
``reference``
    ``reram-sb`` as shipped (exact per-cell read noise of 1 %: one more matrix product
    per MVM), one device per weight.
``differential``
    ``reram-sb`` as shipped on a differential pair (two pulsed devices per weight), the
    default of ``synaptax train``.

Protocol of the side-by-side run (``--aihwkit-python PATH --core N``): this process pins
itself to core ``N`` (``os.sched_setaffinity``) before JAX starts, so both simulators run on
that one core with one thread (XLA single-threaded; ``OMP_NUM_THREADS=1`` and
``torch.set_num_threads(1)`` for aihwkit) and neither borrows the other core.  aihwkit 1.1.0
runs in its own environment (``PATH`` is that environment's python; ``pip install
aihwkit==1.1.0 torch==2.10.0``) through ``benchmarks/aihwkit_epoch.py``, on the same images,
labels and batch order (written to a temporary ``.npz``), with ``reram-sb`` translated into
its units (:mod:`aihwkit_compare`), first, then every synaptax configuration; each side's
best epoch of ``--epochs`` is compared (wall time; CPU time is reported too).  Without
``--aihwkit-python`` no ratio is printed.

Modelling differences that remain between the two sides: synaptax aggregates a batch's
coincidences into one update per cell (``batch_mode="aggregate"``), evaluated only on the
chunks of cells that get pulses when they are few (:mod:`synaptax.arrays.sparse`), where
aihwkit applies the pulses sample by sample; aihwkit re-runs saturated MVMs only with bound
management, which is off on both sides here; synaptax also accounts every read's and
write's energy in the step (aihwkit has no energy).

The epoch runs as the training loop runs it (``synaptax.training.loop.run_steps``: compiled
scans over chunks of the epoch).  ``--breakdown`` adds a table of the phases of one step,
each jitted alone at the benchmark's shapes (best of several runs; the sum differs from a
step inside the scan, where XLA fuses across phases).

Usage: python benchmarks/training.py [--epochs 3] [--configs aihwkit,reference,differential]
       [--aihwkit-python /work/aihwkit-venv/bin/python] [--core 1] [--breakdown] [--json PATH]
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
from synaptax.arrays.sparse import apply_pulses_sparse  # noqa: E402
from synaptax.circuits import ADC  # noqa: E402
from synaptax.devices import get_preset  # noqa: E402
from synaptax.training.algorithms import Algorithm, build_optimizer  # noqa: E402
from synaptax.training.datasets import load_mnist  # noqa: E402
from synaptax.training.loop import chunk_lengths, run_steps  # noqa: E402
from synaptax.training.network import AnalogMLP  # noqa: E402


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


def run_aihwkit(python: str, images, labels, orders, epochs: int) -> dict:
    """aihwkit's epochs in its own environment (``benchmarks/aihwkit_epoch.py``), on this
    process's core; its JSON result."""
    import subprocess
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.npz")
        np.savez(data, images=np.asarray(images, np.float32), labels=np.asarray(labels), order=orders)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        done = subprocess.run([python, os.path.join(here, "aihwkit_epoch.py"), "--data", data,
                               "--epochs", str(epochs)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"aihwkit run failed ({python}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="reram-sb")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    ap.add_argument("--aihwkit-python", default=None,
                    help="python of an environment with aihwkit 1.1.0: time its epoch side by side")
    ap.add_argument("--core", type=int, default=None, help="pin this process (and aihwkit's) to this CPU core")
    ap.add_argument("--breakdown", action="store_true", help="time the phases of one step (first configuration)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    configs = [c for c in args.configs.split(",") if c]
    data = load_mnist(split="test")
    images = jnp.asarray(data.images)
    labels = jnp.asarray(data.labels)
    results = {}
    aihwkit = None
    if args.aihwkit_python:
        steps = len(labels) // 64
        orders = np.stack([np.asarray(epoch_order(jax.random.key(0), e, len(labels), steps, 64)).ravel()
                           for e in range(args.epochs)])
        aihwkit = run_aihwkit(args.aihwkit_python, data.images, data.labels, orders, args.epochs)
        aihwkit["best_epoch_s"] = min(aihwkit["epoch_wall_s"])
        aihwkit["best_epoch_cpu_s"] = min(aihwkit["epoch_cpu_s"])
        print(f"aihwkit {aihwkit['aihwkit']} (torch {aihwkit['torch']}, {aihwkit['threads']} thread, cores "
              f"{aihwkit['affinity']}): best epoch {aihwkit['best_epoch_s']:.3f} s wall, "
              f"{aihwkit['best_epoch_cpu_s']:.3f} s CPU; epochs {[round(t, 3) for t in aihwkit['epoch_wall_s']]}",
              flush=True)
    ref = None if aihwkit is None else aihwkit["best_epoch_s"]
    print("| configuration | backend | epoch (best) | epoch (median) | per step | CPU time per epoch | compile | "
          "aihwkit / synaptax |")
    print("|---|---|---|---|---|---|---|---|")
    for i, config in enumerate(configs):
        r, alg, ts, key = time_epochs(config, args, images, labels)
        r["speedup_vs_aihwkit"] = None if ref is None else ref / r["best_epoch_s"]
        results[config] = r
        ratio = "not measured" if ref is None else f"{r['speedup_vs_aihwkit']:.2f}x"
        print(f"| {config} | {r['backend']} | {r['best_epoch_s']:.3f} s | {r['median_epoch_s']:.3f} s | "
              f"{r['step_ms']:.2f} ms | {r['best_epoch_cpu_s']:.3f} s | {r['compile_s']:.1f} s | {ratio} |", flush=True)
        if i == 0:
            first = (alg, ts, key)
    print(f"\nload average {os.getloadavg()[0]:.2f}; affinity {sorted(os.sched_getaffinity(0))}")
    if args.breakdown:
        alg, ts, key = first
        results[configs[0]]["breakdown_ms"] = breakdown(alg, ts, images[:64], labels[:64], key)
    head = results[configs[0]]
    result = {"backend": head["backend"], "device_name": head["device_name"], "preset": args.device,
              "network": "784-256-128-10", "samples": head["samples"], "batch": head["batch"],
              "protocol": ("side by side, one pinned core (--core), aihwkit first" if aihwkit else "synaptax only"),
              "core": args.core, "load_average": os.getloadavg(), "aihwkit": aihwkit,
              "configurations": results, "date": time.strftime("%Y-%m-%d")}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


def epoch_order(key, epoch, n, steps, batch):
    """The sample indices of an epoch's steps, ``(steps, batch)``: the order both sides use."""
    order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
    return order[:steps * batch].reshape(steps, batch)


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
        return epoch_order(key, epoch, len(labels), steps, batch)

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
              "mapping": model.crossbars[0].mapping.name,
              "read_noise": float(model.crossbars[0].device.variability.read_noise),
              "adc_noise": float(model.crossbars[0].adc.noise),
              "samples": steps * batch, "batch": batch,
              "epoch_times_s": times, "best_epoch_s": best, "median_epoch_s": float(np.median(times)),
              "epoch_cpu_times_s": cpu_times, "best_epoch_cpu_s": min(cpu_times),
              "compile_s": compile_s, "step_ms": 1e3 * best / steps}
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
        probes = alg.model.probes(x.shape)

        def loss_fn(b, p):
            logits, traces = alg._with_params(b)(ts.states, x, key=k_fwd, probes=p)
            return cross_entropy(logits, y), tuple(t.inputs for t in traces)

        (_, inputs), (_, g) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(ts.params, probes)
        return inputs, tuple(p.output.reshape(-1, c.out_features) for p, c in zip(g, xbars))

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
            new = apply_pulses_sparse(c, s, u, d, key=k, max_count=64 * alg.bit_length)
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
