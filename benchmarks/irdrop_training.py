"""One epoch of the default training with and without the exact IR-drop solve
(``synaptax train`` against ``synaptax train --ir-drop``), phase by phase.

The default run: 784-100-10 analog MLP (sigmoid), batch 16, analog SGD, 7-bit DAC /
9-bit ADC, a differential pair of the ``ideal`` preset, 512 × 512 tiles (the first
layer is two 392 × 100 tiles), wires of 1.06 Ω per segment (NeuroSim's 22 nm cell),
the bundled 5k MNIST training subset (312 steps) and the 10k test set.  An epoch is
timed as the training loop runs it (``synaptax.training.loop``): the steps in compiled
chunks (``run_steps``, ``chunk_lengths``), then the test accuracy (``evaluate``, chunks
of 1000 samples); the end-of-run report's measurements (energy per inference on 1000
test samples, and with IR drop the wires' effect on 100) are timed apart.

Times are CPU seconds of this process (``time.process_time``: user + system, so the
page faults of large buffers count; XLA single-threaded, as the command line sets it
on small machines); pin it to one core (``taskset -c 1``) on a shared machine.  Each
phase's first call, which compiles, is reported apart from the steady state.

With IR drop it also reports, on the trained state: the solver iterations per solve
(first layer forward, second layer forward and backward, each over its input
vectors), and a breakdown of one step (prepare = the factorisation of every tile of
both arrays, forward / backward read = the tile's MVM on the prepared read, the rest
= the step's time minus those: ideal-wire work, the update), each timed as a scan over
the epoch's first batches so buffers are allocated once, as in training.

Usage: python benchmarks/irdrop_training.py [--label before|after] [--json PATH]
       [--skip-ideal] [--steps N]
With ``--json`` the result is stored under the label in that file (other labels kept).
Works against older trees of synaptax too (put the other tree's ``src`` first on
``PYTHONPATH``): ``before`` in ``benchmarks/results/irdrop_training.json`` is the tree
before the fixed-point start, the stacked solve, the chunks and the transfer matrices,
measured in the same session as ``after``.
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

from synaptax.training import loop  # noqa: E402


def cpu():
    return time.process_time()


def _timed(fn, *args):
    t = cpu()
    out = jax.block_until_ready(fn(*args))
    return out, cpu() - t


def epoch(config: loop.TrainConfig, train, test, steps: int) -> tuple[dict, object, object]:
    """Time one epoch of ``steps`` steps as ``loop._epochs`` runs it."""
    keys = loop.RunKeys.from_seed(config.seed)
    alg = loop.build(config, steps)
    ts = alg.init(key=keys.model)
    images, labels = jnp.asarray(train.images), jnp.asarray(train.labels)
    order = np.asarray(jax.random.permutation(jax.random.fold_in(keys.shuffle, 0), len(train.labels)))
    batches = order[:steps * config.batch_size].reshape(steps, config.batch_size)
    lengths = loop.chunk_lengths(steps)
    out = {"chunks": lengths}
    b, first, rest = 0, None, 0.0
    compiled = set()
    for length in lengths:
        (ts, _), dt = _timed(lambda: loop.run_steps(alg, ts, images, labels, batches[b:b + length],
                                                    key=keys.steps, first=b))
        if length not in compiled:  # a new chunk length compiles
            compiled.add(length)
            first = dt if first is None else first + dt
            # the compile-free time of this chunk, to split compile from steps
            _, dt = _timed(lambda: loop.run_steps(alg, ts, images, labels, batches[b:b + length],
                                                  key=keys.steps, first=b))
            first -= dt
        rest += dt
        b += length
    out["steps_s"] = rest
    out["ms_per_step"] = 1e3 * rest / steps
    out["steps_compile_s"] = first
    # test accuracy: evaluate's chunks of 1000; the first compiles
    x, y = test.images, test.labels
    ev_key = jax.random.fold_in(keys.evaluate, 0)
    t = cpu()
    jax.block_until_ready(loop._evaluate(alg, ts, jnp.asarray(x[:1000]), jnp.asarray(y[:1000]), ev_key))
    first_eval = cpu() - t
    t = cpu()
    acc = loop.evaluate(alg, ts, test, key=ev_key)
    out["evaluate_s"] = cpu() - t
    out["evaluate_compile_s"] = max(first_eval - out["evaluate_s"] / max(1, len(y) // 1000), 0.0)
    out["test_accuracy"] = acc
    out["epoch_s"] = out["steps_s"] + out["evaluate_s"]
    out["epoch_with_compile_s"] = out["epoch_s"] + out["steps_compile_s"] + out["evaluate_compile_s"]
    # the end-of-run report's measurements
    sample = jnp.asarray(test.images[:1000])
    _, dt1 = _timed(lambda: loop._inference_energy(alg, ts, sample, keys.report))
    _, dt2 = _timed(lambda: loop._inference_energy(alg, ts, sample, jax.random.fold_in(keys.report, 1)))
    out["inference_energy_s"], out["inference_energy_compile_s"] = dt2, max(dt1 - dt2, 0.0)
    if config.ir_drop:
        _, dt = _timed(lambda: loop._ir_drop_effects(alg, ts, sample[:100], keys.report))
        out["ir_drop_effect_with_compile_s"] = dt
    return out, (alg, ts, images, labels, batches), keys


def iteration_counts(alg, ts, images, batches) -> dict:
    """Solver iterations of every solve of one step's reads (per input vector)."""
    from synaptax.circuits.irdrop import solve_prepared, solve_transposed

    x = images[batches[0]]
    _, traces = eqx.filter_jit(alg.model)(ts.states, x, key=jax.random.key(0))
    res = {}
    for i, (layer, state, trace) in enumerate(zip(alg.model.layers, ts.states, traces)):
        cb = layer.crossbar
        tile = cb.tile
        read = cb.read(state, batch=trace.inputs.shape[0])
        d = jax.random.normal(jax.random.key(i), (trace.inputs.shape[0], cb.out_features))
        for name, inp, transposed in (("forward", trace.inputs, False), ("backward", d, True)):
            if i == 0 and transposed:
                continue  # the first layer's backward read does not run
            _, _, padded = tile._encode_padded(inp, transposed=transposed, name="x")
            (nr, nc), (tr, tc) = tile.tile_grid, tile.tile_shape
            # every tile of both arrays (G⁺, G⁻); the read holds them as one stack (2, nr, nc),
            # or (older trees) as a pair of (nr, nc) stacks. Solved under vmap (both trees).
            prepared = read.prepared
            if isinstance(prepared, tuple):
                prepared = jax.tree.map(lambda *xs: jnp.stack(xs), *prepared)
            solve = solve_transposed if transposed else solve_prepared
            one = lambda p, vt, solve=solve: solve(p, vt, on_failure="ignore")  # noqa: E731
            if not transposed:
                v = jnp.moveaxis(padded.reshape(padded.shape[:-1] + (nr, tr)), -2, 0)  # (nr, B, tr)
                run = jax.vmap(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, 0)), in_axes=(0, None))
            else:
                v = jnp.moveaxis(padded.reshape(padded.shape[:-1] + (nc, tc)), -2, 0)  # (nc, B, tc)
                run = jax.vmap(jax.vmap(jax.vmap(one, in_axes=(0, 0)), in_axes=(0, None)), in_axes=(0, None))
            its = np.asarray(run(prepared, v).iterations).ravel()
            res[f"layer{i + 1}_{name}"] = {"mean": float(its.mean()), "max": int(its.max()),
                                           "min": int(its.min()), "solves": int(its.size)}
    return res


def breakdown(alg, ts, images, batches, steps: int = 16) -> dict:
    """ms per step of the IR-drop parts of a step, each timed as a scan over ``steps``
    batches (buffers allocated once, as in training): the preparation of a layer's read
    (every tile of both arrays), its forward read (the tile's MVM: DAC, solve with its
    power, ADC) and the second layer's backward read, on the inputs the layers see."""
    xs = images[jnp.asarray(batches[:steps])]  # (steps, 16, 784)
    _, traces = eqx.filter_jit(jax.vmap(lambda x: alg.model(ts.states, x, key=jax.random.key(0))))(xs)
    key = jax.random.key(3)

    def scan_ms(body, state, inputs):
        @eqx.filter_jit
        def run(state, inputs):
            def step(c, a):
                # a state that depends on the step (as in training), so XLA does not hoist
                # the preparation out of the loop
                s = jax.tree.map(lambda x: x * (1 + 1e-30 * jnp.sum(a)) if eqx.is_inexact_array(x) else x, state)
                return c + body(s, a), None

            return jax.lax.scan(step, jnp.zeros(()), inputs)[0]

        jax.block_until_ready(run(state, inputs))
        best = float("inf")
        for _ in range(3):
            _, dt = _timed(run, state, inputs)
            best = min(best, dt)
        return 1e3 * best / steps

    out, total = {}, {"prepare": 0.0, "forward": 0.0, "backward": 0.0}
    for i, (layer, state, trace) in enumerate(zip(alg.model.layers, ts.states, traces)):
        cb, inp = layer.crossbar, trace.inputs  # (steps, 16, n)
        n = inp.shape[1]

        def prep(state, a, cb=cb, n=n):
            r = cb.read(state, key=key, batch=n)
            return sum(jnp.sum(leaf) for leaf in jax.tree.leaves(r.prepared)) * 0 + jnp.sum(a) * 0

        def read(state, a, cb=cb, n=n, transposed=False):
            r = cb.read(state, key=key, batch=n)
            y, e = (cb.backward_read if transposed else cb.forward_read)(r, a, key=key)
            return jnp.sum(y) * 0 + e.total * 0

        ms = {"prepare": scan_ms(prep, state, inp)}
        ms["forward"] = scan_ms(read, state, inp) - ms["prepare"]
        if i > 0:  # the first layer's backward read does not run
            d = jax.random.normal(jax.random.key(5), inp.shape[:2] + (cb.out_features,))
            ms["backward"] = scan_ms(lambda s, a, f=read: f(s, a, transposed=True), state, d) - ms["prepare"]
        for k, v in ms.items():
            out[f"layer{i + 1}_{k}_ms"] = v
            total[k] += v
    out.update({f"{k}_ms": v for k, v in total.items()})
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="run")
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-ideal", action="store_true")
    ap.add_argument("--steps", type=int, default=None, help="steps per epoch (default: the full 312)")
    args = ap.parse_args(argv)
    base = loop.TrainConfig(epochs=1)
    train, test = loop.load_data(base)
    steps = args.steps or len(train.labels) // base.batch_size
    result = {"network": "784-100-10", "batch": base.batch_size, "steps": steps, "backend": jax.default_backend(),
              "load_average_start": os.getloadavg()[0]}
    if not args.skip_ideal:
        result["ideal"], _, _ = epoch(base, train, test, steps)
        print("ideal wires:", json.dumps(result["ideal"], indent=1))
    ir = loop.TrainConfig(epochs=1, ir_drop=True)
    result["ir_drop"], (alg, ts, images, labels, batches), _ = epoch(ir, train, test, steps)
    print("IR drop:", json.dumps(result["ir_drop"], indent=1))
    result["ir_drop"]["iterations"] = iteration_counts(alg, ts, images, batches)
    result["ir_drop"]["step_breakdown"] = bd = breakdown(alg, ts, images, batches)
    bd["rest_ms"] = result["ir_drop"]["ms_per_step"] - bd["prepare_ms"] - bd["forward_ms"] - bd["backward_ms"]
    print("iterations:", json.dumps(result["ir_drop"]["iterations"]))
    print("breakdown (ms per step):", json.dumps(bd))
    if "ideal" in result:
        i, r = result["ideal"], result["ir_drop"]
        result["ratio_epoch"] = r["epoch_s"] / i["epoch_s"]
        result["ratio_epoch_with_compile"] = r["epoch_with_compile_s"] / i["epoch_with_compile_s"]
        result["ratio_steps"] = r["steps_s"] / i["steps_s"]
        print(f"epoch: ideal {i['epoch_s']:.1f} s, IR drop {r['epoch_s']:.1f} s "
              f"({result['ratio_epoch']:.1f}×); with compilation {i['epoch_with_compile_s']:.1f} s vs "
              f"{r['epoch_with_compile_s']:.1f} s ({result['ratio_epoch_with_compile']:.1f}×)")
    result["load_average_end"] = os.getloadavg()[0]
    if args.json:
        stored = {}
        if os.path.exists(args.json):
            with open(args.json) as f:
                stored = json.load(f)
        stored[args.label] = result
        with open(args.json, "w") as f:
            json.dump(stored, f, indent=2)
    return result


if __name__ == "__main__":
    main()
