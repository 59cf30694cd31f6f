"""Device families at array scale: one pulsed update and one second of ``evolve`` per preset.

For every preset of :data:`synaptax.devices.registry.PRESETS` (or ``--presets``), on one
device state of ``size × size`` cells (default 1024²):

* ``update``: a jitted ``apply_pulses(state, PulseCounts(up, down), key=...)`` with random
  whole counts ``up, down ∈ {0, …, 31}`` per cell (both signs in one call, as a batch of
  stochastic coincidences produces);
* ``evolve``: a jitted ``evolve(state, 1.0)`` (one second with no pulse);
* ``bytes/cell``: the sum of the state's leaves' ``nbytes`` over the number of cells.

A name ``preset:integrator`` (e.g. ``cogd:fast``) times a preset with another ``integrator``;
every preset runs with its default, and the default run adds ``cogd:fast`` (Co/Gd's opt-in
array-scale layout).

Times are CPU seconds (``time.process_time``: the machine may be shared; pin the process to
one core with ``taskset -c 1`` for single-core numbers), the median of ``--repeats`` runs
after one compiling run.  The table gives each time's ratio to ``reram-sb``'s update.
Results go to ``benchmarks/results/families.json`` (``--out``) with the machine; a JSON
already there keeps its ``before`` entry (the numbers measured before the array-scale
integrators of issue 21) unless ``--as-before`` replaces it with this run.

    taskset -c 1 python benchmarks/families.py                 # every preset, 1024²
    taskset -c 1 python benchmarks/families.py --presets con-25nm mg-wo3 reram-sb --repeats 5
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "families.json"
REFERENCE = "reram-sb"
MAX_COUNT = 31


def _timed(fn, repeats):
    """CPU seconds of one compiling call, and the median of ``repeats`` calls after it."""
    import jax

    t0 = time.process_time()
    jax.block_until_ready(fn())
    compile_s = time.process_time() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        jax.block_until_ready(fn())
        runs.append(time.process_time() - t0)
    return compile_s, statistics.median(runs), runs


def measure(name: str, size: int, repeats: int) -> dict:
    """Times [s] and state size of one preset at ``size × size``."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from synaptax.devices.core.contract import PulseCounts
    from synaptax.devices.registry import get_preset

    preset, _, integrator = name.partition(":")
    device = get_preset(preset)
    if integrator:  # "cogd:fast": a preset with another integrator
        import dataclasses

        device = dataclasses.replace(device, integrator=integrator)
    shape = (size, size)
    k_init, k_up, k_down, k_pulse = jax.random.split(jax.random.key(0), 4)
    state = device.init(shape, key=k_init)
    dtype = state.conductance.dtype
    up = jax.random.randint(k_up, shape, 0, MAX_COUNT + 1).astype(dtype)
    down = jax.random.randint(k_down, shape, 0, MAX_COUNT + 1).astype(dtype)
    counts = PulseCounts(up, down)

    update = eqx.filter_jit(lambda d, s, c, k: d.apply_pulses(s, c, key=k))
    evolve = eqx.filter_jit(lambda d, s, t: d.evolve(s, t))
    one_second = jnp.asarray(1.0, dtype)
    c_up, t_up, runs_up = _timed(lambda: update(device, state, counts, k_pulse), repeats)
    c_ev, t_ev, runs_ev = _timed(lambda: evolve(device, state, one_second), repeats)
    leaves = jax.tree_util.tree_leaves(state)
    nbytes = sum(int(getattr(leaf, "nbytes", 0)) for leaf in leaves)
    return {"family": type(device).__module__.split(".")[-2], "update_s": t_up, "evolve_s": t_ev,
            "update_runs_s": runs_up, "evolve_runs_s": runs_ev, "update_compile_s": c_up, "evolve_compile_s": c_ev,
            "bytes_per_cell": nbytes / (size * size), "dtype": str(dtype)}


def machine() -> dict:
    import jax

    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = None
    return {"cpu_count": os.cpu_count(), "affinity": affinity, "platform": platform.platform(),
            "processor": platform.processor(), "python": platform.python_version(), "jax": jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def table(results: dict, reference: float | None) -> str:
    head = f"{'preset':<16} {'family':<16} {'update ms':>10} {'x ref':>7} {'evolve ms':>10} {'x ref':>7} {'B/cell':>7}"
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        ru = r["update_s"] / reference if reference else float("nan")
        re_ = r["evolve_s"] / reference if reference else float("nan")
        lines.append(f"{name:<16} {r['family']:<16} {1e3 * r['update_s']:>10.1f} {ru:>7.2f} "
                     f"{1e3 * r['evolve_s']:>10.1f} {re_:>7.2f} {r['bytes_per_cell']:>7.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="rows = columns of the array (default 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the compiling one (median)")
    parser.add_argument("--presets", nargs="*", default=None, help="preset names (default: every preset)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON to write (default %(default)s)")
    parser.add_argument("--as-before", action="store_true",
                        help="store this run as the JSON's 'before' entry too")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    from synaptax.devices.registry import PRESETS

    names = list(PRESETS) + ["cogd:fast"] if not args.presets else list(args.presets)
    unknown = [n for n in names if n.partition(":")[0] not in PRESETS]
    if unknown:
        parser.error(f"unknown presets: {', '.join(unknown)}")
    if REFERENCE not in names:
        names.insert(0, REFERENCE)
    results = {}
    for name in names:
        results[name] = measure(name, args.size, args.repeats)
        r = results[name]
        print(f"{name}: update {1e3 * r['update_s']:.1f} ms, evolve {1e3 * r['evolve_s']:.1f} ms", file=sys.stderr,
              flush=True)
    reference = results[REFERENCE]["update_s"]
    for r in results.values():
        r["update_ratio"] = r["update_s"] / reference
        r["evolve_ratio"] = r["evolve_s"] / reference
    print(f"{args.size}x{args.size} cells, counts 0..{MAX_COUNT} up and down, CPU time, median of {args.repeats}")
    print(table(results, reference))
    if args.no_write:
        return 0
    run = {"size": args.size, "repeats": args.repeats, "max_count": MAX_COUNT, "reference": REFERENCE,
           "machine": machine(), "results": results}
    previous = {}
    if args.out.exists():
        previous = json.loads(args.out.read_text())
    out = {"description": "CPU seconds of one apply_pulses (counts 0..31 up and down per cell) and one "
                          "evolve(1 s) per preset on one size x size state; ratios to reram-sb's update "
                          "(benchmarks/families.py)"}
    before = run if args.as_before else previous.get("before")
    if before is not None:
        # the before entry keeps the presets it measured; a partial rerun merges in
        if args.as_before and previous.get("before") and previous["before"].get("size") == args.size:
            merged = dict(previous["before"]["results"])
            merged.update(results)
            before = dict(run, results=merged)
        out["before"] = before
    after = run
    if not args.as_before and previous.get("after") and previous["after"].get("size") == args.size:
        merged = dict(previous["after"]["results"])
        merged.update(results)
        after = dict(run, results=merged)
    for entry in (before, after):
        if entry is not None and REFERENCE in entry["results"]:
            ref = entry["results"][REFERENCE]["update_s"]
            for r in entry["results"].values():
                r["update_ratio"] = r["update_s"] / ref
                r["evolve_ratio"] = r["evolve_s"] / ref
    if not args.as_before:
        out["after"] = after
    elif "after" in previous:
        out["after"] = previous["after"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
