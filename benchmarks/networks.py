"""Networks beyond the MLP: LeNet-5 accuracy per device family, its epoch time, and
accuracy over time after deployment on the PCM-like preset.

Parts (each writes its section of ``benchmarks/results/networks.json``; run them in one
process or split over several with ``--part`` / ``--only``):

* ``accuracy``: LeNet-5 (``--network lenet5``, ReLU, batch 16, SGD, bundled 5k/10k MNIST,
  seed 0) trained as ``synaptax train`` would (:func:`synaptax.training.train`): the float
  reference, the ``ideal`` device with analog SGD (both at a constant learning rate of
  0.1, 15 epochs), ``reram-sb`` with analog SGD and with the best algorithms of the MLP
  study (mixed precision; AGAD with a cosine schedule), and one preset of every
  other family (fewer epochs where the device is slow to simulate; stated per row).
  Run folders go to ``--out`` (default ``benchmarks/results/networks_runs``; a finished
  run is read back, not retrained).
* ``epoch``: the steady-state time of one LeNet-5 training epoch (312 steps of 16 images,
  compiled, after a warm-up epoch) for the float reference, ``ideal`` and ``reram-sb``
  with analog SGD, and the MLP default for scale; the test-set evaluation is timed
  separately.
* ``drift``: LeNet-5 trained with hardware-aware training (``--algorithm hwa``) and
  without (``float``), each programmed into the ``pcm`` preset and evaluated at 1 s, 1 h,
  1 day, 1 month and 1 year after programming (``synaptax evaluate``), with and without
  global drift compensation, ``--repeats`` programmings each.

    python benchmarks/networks.py [--part accuracy,epoch,drift] [--only NAME,...] [--epochs 15]
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

RESULTS = ROOT / "benchmarks" / "results" / "networks.json"

#: name -> (TrainConfig settings, epochs: None = --epochs)
ACCURACY = {
    "float": (dict(algorithm="float", learning_rate=0.1), None),
    "ideal-analog-sgd": (dict(device="ideal", algorithm="analog-sgd", learning_rate=0.1), None),
    "reram-sb-analog-sgd": (dict(device="reram-sb", algorithm="analog-sgd", learning_rate=0.1), None),
    "reram-sb-mixed-precision": (dict(device="reram-sb", algorithm="mixed-precision", learning_rate=0.1), None),
    "reram-sb-agad": (dict(device="reram-sb", algorithm="agad", learning_rate=0.1, schedule="cosine"), None),
    "mg-wo3-100nm-mixed-precision": (dict(device="mg-wo3-100nm", algorithm="mixed-precision", learning_rate=0.1), 5),
    "cogd-mixed-precision": (dict(device="cogd", algorithm="mixed-precision", learning_rate=0.1), 5),
    "con-25nm-mixed-precision": (dict(device="con-25nm", algorithm="mixed-precision", learning_rate=0.1), 5),
    "con-25nm-mixed-precision-lr0.03": (dict(device="con-25nm", algorithm="mixed-precision", learning_rate=0.03), 5),
    "pcm-mixed-precision": (dict(device="pcm", algorithm="mixed-precision", learning_rate=0.1), 5),
}
TIMES = (1.0, 3600.0, 86400.0, 2.6e6, 3.2e7)


def _merge(section: str, values) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    data["machine"] = f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, RESULTS)


def _run(name, settings, epochs, out: Path):
    from synaptax.training.loop import TrainConfig, train

    run_dir = out / name
    report_file = run_dir / "report.json"
    if report_file.exists():
        return json.loads(report_file.read_text())
    config = TrainConfig(network="lenet5", activation="relu", epochs=epochs, **settings)
    t0 = time.perf_counter()
    report = train(config, run_dir, resume=run_dir.exists(), progress=None, log=lambda s: print(f"  {s}", flush=True))
    print(f"{name}: {report['test_accuracy']:.4f} in {time.perf_counter() - t0:.0f} s", flush=True)
    return report


def accuracy(args, names):
    out = Path(args.out)
    for name in names:
        settings, epochs = ACCURACY[name]
        report = _run(name, settings, epochs or args.epochs, out)
        _merge("accuracy", {name: {
            "settings": settings, "epochs": report["epochs_finished"], "seed": report["config"]["seed"],
            "test_accuracy": report["test_accuracy"],
            "test_accuracy_by_epoch": [h["test_accuracy"] for h in report["history"]],
            "energy_per_update_J": report.get("energy_per_update_J"),
            "energy_per_inference_J": report.get("energy_per_inference_J"),
            "wall_time_s": report.get("wall_time_s"), "network": report["network"], "run_dir": str(out / name)}})


def epoch_time(args):
    import jax
    import numpy as np

    from synaptax.training.datasets import load_splits
    from synaptax.training.loop import TrainConfig, build, evaluate, run_steps

    train_data, test_data = load_splits()
    images, labels = jax.numpy.asarray(train_data.images), jax.numpy.asarray(train_data.labels)
    cases = {"lenet5 float": dict(network="lenet5", algorithm="float"),
             "lenet5 ideal analog-sgd": dict(network="lenet5", device="ideal"),
             "lenet5 reram-sb analog-sgd": dict(network="lenet5", device="reram-sb"),
             "784-100-10 ideal analog-sgd (default)": dict()}
    out = {}
    for name, kw in cases.items():
        config = TrainConfig(activation="relu" if "network" in kw else "sigmoid", **kw)
        steps = len(labels) // config.batch_size
        alg = build(config, steps, data=train_data)
        ts = alg.init(key=jax.random.key(0))
        order = np.random.default_rng(0).permutation(len(labels))[:steps * config.batch_size]
        batches = order.reshape(steps, config.batch_size)
        times = []
        for epoch in range(3):
            t0 = time.perf_counter()
            for b in range(0, steps, 64):
                ts, m = run_steps(alg, ts, images, labels, batches[b:b + 64], key=jax.random.key(epoch), first=b)
            jax.block_until_ready(m)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        acc = evaluate(alg, ts, test_data, key=jax.random.key(9))
        t_eval = time.perf_counter() - t0
        out[name] = {"first_epoch_s_with_compile": times[0], "epoch_s": min(times[1:]), "epochs_s": times,
                     "test_eval_10k_s": t_eval, "steps": steps, "after_3_epochs_accuracy": acc}
        print(f"{name}: epoch {min(times[1:]):.1f} s (first {times[0]:.1f} s), test eval {t_eval:.1f} s", flush=True)
    _merge("epoch", out)


def drift(args):
    from synaptax.training.deploy import evaluate_run

    out = Path(args.out)
    section = {}
    for name, settings in {"hwa": dict(algorithm="hwa", device="pcm", learning_rate=0.1),
                           "float": dict(algorithm="float", device="pcm", learning_rate=0.1)}.items():
        run_name = f"drift-{name}"
        report = _run(run_name, settings, args.epochs, out)
        for comp in (False, True):
            t0 = time.perf_counter()
            res = evaluate_run(out / run_name, TIMES, repeats=args.repeats, seed=0, device="pcm",
                               drift_compensation=comp)
            rows = res["results"] if "results" in res else res
            section[f"{name} compensation={comp}"] = {
                "trained_test_accuracy": report["test_accuracy"], "times_s": list(TIMES), "result": rows,
                "wall_s": time.perf_counter() - t0}
            print(f"{name} compensation={comp}: {json.dumps(rows)[:400]}", flush=True)
    _merge("drift", section)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", default="accuracy,epoch,drift")
    p.add_argument("--only", default=None, help="accuracy runs to do (comma-separated names)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "networks_runs"))
    args = p.parse_args(argv)
    parts = args.part.split(",")
    if "accuracy" in parts:
        names = args.only.split(",") if args.only else list(ACCURACY)
        unknown = [n for n in names if n not in ACCURACY]
        if unknown:
            p.error(f"--only: unknown runs {unknown}; valid: {', '.join(ACCURACY)}")
        accuracy(args, names)
    if "epoch" in parts:
        epoch_time(args)
    if "drift" in parts:
        drift(args)


if __name__ == "__main__":
    main()
