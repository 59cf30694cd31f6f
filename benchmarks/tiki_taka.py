"""The Tiki-Taka family next to analog SGD and mixed precision, device by device.

Trains ``synaptax train``'s 784-…-10 MLP on the bundled data (5,000 training images, the
official 10,000 test images) for every (device, algorithm, seed) asked for, and writes one
JSON record per run (test accuracy, energy per update and its parts, pulses, simulated
device time per update and in all) plus a Markdown table.  Runs already in the JSON file
are kept and skipped (the file is rewritten atomically after every run), so a long study
can be stopped and continued.

Usage:
    python benchmarks/tiki_taka.py --devices reram-sb --algorithms analog-sgd,c-ttv2,agad \\
        --epochs 15 --seeds 0 [--lr 0.5] [--hidden 100] [--set c-ttv2:transfer_every=0.25] \\
        [--out benchmarks/tiki_taka_results.json]

``--set ALG:NAME=VALUE`` (repeatable) overrides a training option for one algorithm (a
field of :class:`~synaptax.training.loop.TrainConfig`), e.g. its learning rate or its
transfer schedule (``*:NAME=VALUE`` for every algorithm that has the option); the record
keeps the whole configuration.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

from synaptax.training.io import atomic_write_json  # noqa: E402
from synaptax.training.loop import TrainConfig, train  # noqa: E402

FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _value(name: str, text: str):
    if name not in FIELDS:
        raise SystemExit(f"--set: unknown option {name!r}")
    default = FIELDS[name].default
    if text == "None":
        return None
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    if isinstance(default, int) and not isinstance(default, bool):
        return int(text)
    if isinstance(default, float) or name in TrainConfig.TRANSFER_OPTIONS and name != "fast_device":
        return float(text) if name not in ("columns_per_transfer", "transfer_bit_length", "zero_shift_pulses") else int(text)
    if name == "hidden":
        return tuple(int(h) for h in text.split(","))
    return text


def _key(rec: dict) -> str:
    return json.dumps(rec["config"], sort_keys=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="reram-sb")
    p.add_argument("--algorithms", default="analog-sgd,mixed-precision,tiki-taka,ttv2,c-ttv2,agad")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", default="0")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--schedule", default="constant")
    p.add_argument("--hidden", default="100")
    p.add_argument("--set", action="append", default=[], metavar="ALG:NAME=VALUE")
    p.add_argument("--out", default="benchmarks/tiki_taka_results.json")
    args = p.parse_args(argv)

    overrides: dict[str, dict] = {}
    for item in args.set:
        alg, _, assignment = item.partition(":")
        name, _, text = assignment.partition("=")
        overrides.setdefault(alg, {})[name] = _value(name, text)
    out = Path(args.out)
    records = json.loads(out.read_text()) if out.exists() else []
    done = {_key(r) for r in records}
    hidden = tuple(int(h) for h in args.hidden.split(","))
    for device in args.devices.split(","):
        for alg in args.algorithms.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                cfg = TrainConfig(device=device, algorithm=alg, hidden=hidden, epochs=args.epochs, seed=seed,
                                  learning_rate=args.lr, schedule=args.schedule)
                opts = dict(overrides.get("*", {}))
                if alg not in ("tiki-taka", "ttv2", "c-ttv2", "agad"):
                    opts = {k: v for k, v in opts.items() if k not in TrainConfig.TRANSFER_OPTIONS}
                cfg = dataclasses.replace(cfg, **(opts | overrides.get(alg, {})))
                rec = {"config": cfg.as_dict()}
                if _key(rec) in done:
                    continue
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory() as run_dir:
                    report = train(cfg, run_dir, log=lambda s: print(f"  {device} {alg} seed {seed}: {s}",
                                                                     file=sys.stderr))
                rec |= {k: report.get(k) for k in (
                    "test_accuracy", "energy_per_update_J", "write_energy_per_update_J", "read_energy_per_update_J",
                    "converter_energy_per_update_J", "pulses_per_update", "latency_per_update_s", "device_time_s",
                    "energy_per_inference_J", "algorithm_settings")}
                rec["best_test_accuracy"] = max(h["test_accuracy"] for h in report["history"])
                rec["wall_time_s"] = time.perf_counter() - t0
                records.append(rec)
                done.add(_key(rec))
                atomic_write_json(out, records)
                print(f"{device:14s} {alg:16s} seed {seed}: {100 * rec['test_accuracy']:6.2f} %  "
                      f"{rec['energy_per_update_J']:.3e} J/update  {rec['latency_per_update_s']:.3e} s/update  "
                      f"({rec['wall_time_s']:.0f} s)", flush=True)
    print(table(records))
    return 0


def table(records: list[dict]) -> str:
    """A Markdown table of the records: device, algorithm, options changed, accuracy, energy
    and device time per update."""
    rows = ["| device | algorithm | options | seed | epochs | test accuracy | energy / update | device time / update |",
            "|---|---|---|---|---|---|---|---|"]
    defaults = {n: f.default for n, f in FIELDS.items()}
    for r in records:
        c = r["config"]
        opts = ", ".join(f"{k}={v}" for k, v in c.items()
                         if k not in ("device", "algorithm", "seed", "epochs") and v != defaults.get(k)
                         and not (k == "hidden" and tuple(v) == defaults["hidden"]))
        rows.append(f"| {c['device']} | {c['algorithm']} | {opts} | {c['seed']} | {c['epochs']} | "
                    f"{100 * r['test_accuracy']:.2f} % | {r['energy_per_update_J']:.3g} J | "
                    f"{r['latency_per_update_s']:.3g} s |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
