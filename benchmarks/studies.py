"""Studies: one batched sweep against sequential runs, and a 60-point study with a kill.

Part A (issue 18's throughput target): N seeds of the default ``synaptax train``
configuration (784-100-10, ideal device on a differential pair, 15 epochs, the bundled
5k/10k MNIST subsets) trained three ways on this machine, one after the other in one
run of this script:

* ``sweep``: ``synaptax sweep`` of a study with ``seeds = N`` (one compiled program);
* ``cli``: N ``synaptax train --seed k`` commands, one after another (what a user does
  without a sweep: N processes, N start-ups, N compilations);
* ``loop``: N ``train()`` calls in one Python process (JAX started once; the compiled
  step is reused from the second run on).

Throughput = points per wall-clock second; the peak resident memory of each process is
read with ``/usr/bin/time``.  The accuracy of the sweep's points is compared with the sequential
runs' (mean ± std over seeds).

Part B: the 60-point study of ``synaptax sweep --example`` (3 devices × 4 ADC resolutions
× 5 seeds, 2 epochs, 1000/1000 images), killed with SIGKILL once its first batch has
finished and the next has written a checkpoint, then the same command again: its wall time in total and what the
rerun recomputed (nothing finished may be).

    python benchmarks/studies.py [--points 16] [--epochs 15] [--skip-a] [--skip-b]

Writes ``benchmarks/results/studies.json`` and prints a summary.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def run(cmd, *, env=None, timeout=7200, kill_when=None):
    """Run ``cmd``; return (wall seconds, peak RSS bytes, return code, stderr tail).
    ``kill_when()`` (polled every 0.5 s) sends SIGKILL when it returns True."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    if kill_when is not None:
        while p.poll() is None:
            if kill_when():
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.5)
    out, err = p.communicate(timeout=timeout)
    return time.perf_counter() - t0, p.returncode, err[-3000:], out


def timed(cmd, **kw):
    """``run`` under ``/usr/bin/time -f %M`` to read the child's peak resident memory [KiB]."""
    wall, rc, err, out = run(["/usr/bin/time", "-f", "PEAK_KIB %M", *cmd], **kw)
    peak = None
    for line in err.splitlines():
        if line.startswith("PEAK_KIB "):
            peak = int(line.split()[1]) * 1024
    return wall, peak, rc, err, out


def accuracies(folder: Path) -> list[float]:
    return [json.loads(p.read_text())["test_accuracy"] for p in sorted(folder.glob("**/report.json"))]


def stats(xs):
    import statistics

    return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def part_a(n: int, epochs: int, tmp: Path, env) -> dict:
    study = tmp / "seeds.toml"
    study.write_text(f'[study]\nname = "seeds"\nseeds = {n}\n[base]\nepochs = {epochs}\n')
    res = {"points": n, "epochs": epochs, "configuration": "synaptax train defaults (784-100-10, ideal, "
           "differential pair, batch 16, 5000/10000 images)"}
    wall, peak, rc, err, _ = timed([sys.executable, "-m", "synaptax", "sweep", str(study), "--out", str(tmp / "sweep")],
                                   env=env)
    assert rc == 0, err
    res["sweep"] = {"wall_s": wall, "peak_rss_bytes": peak, "accuracy": stats(accuracies(tmp / "sweep" / "points"))}
    print(f"sweep: {wall:.1f} s, peak {peak / 2**20:.0f} MiB", flush=True)
    code = (f"import sys, time\nfrom synaptax.training.loop import TrainConfig, train\n"
            f"for k in range({n}):\n"
            f"    train(TrainConfig(seed=k, epochs={epochs}), '{tmp}/loop/%d' % k, progress=None, log=lambda s: None)\n")
    wall, peak, rc, err, _ = timed([sys.executable, "-c", code], env=env)
    assert rc == 0, err
    res["loop"] = {"wall_s": wall, "peak_rss_bytes": peak, "accuracy": stats(accuracies(tmp / "loop"))}
    print(f"loop: {wall:.1f} s, peak {peak / 2**20:.0f} MiB", flush=True)
    walls, peaks = [], []
    for k in range(n):
        wall, peak, rc, err, _ = timed([sys.executable, "-m", "synaptax", "train", "--seed", str(k), "--epochs",
                                        str(epochs), "--run-dir", str(tmp / "cli" / str(k)), "--progress", "never"],
                                       env=env)
        assert rc == 0, err
        walls.append(wall)
        peaks.append(peak)
    res["cli"] = {"wall_s": sum(walls), "per_run_s": stats(walls), "peak_rss_bytes": max(peaks),
                  "accuracy": stats(accuracies(tmp / "cli"))}
    print(f"cli: {sum(walls):.1f} s, peak {max(peaks) / 2**20:.0f} MiB", flush=True)
    for name in ("loop", "cli"):
        res[f"speedup_vs_{name}"] = res[name]["wall_s"] / res["sweep"]["wall_s"]
    return res


def part_b(tmp: Path, env) -> dict:
    study = tmp / "example.toml"
    example = subprocess.run([sys.executable, "-m", "synaptax", "sweep", "--example"], capture_output=True, text=True,
                             env=env, check=True).stdout
    study.write_text(example)
    out = tmp / "example"
    cmd = [sys.executable, "-m", "synaptax", "sweep", str(study), "--out", str(out)]

    def first_checkpoint():  # a batch finished, the next one has a checkpoint
        points = list(out.glob("points/*"))
        return (any((p / "report.json").exists() for p in points)
                and any(not (p / "report.json").exists() and any(p.glob("checkpoint-epoch*.eqx.json")) for p in points))

    wall1, rc1, err1, _ = run(cmd, env=env, kill_when=first_checkpoint)
    killed = rc1 == -signal.SIGKILL
    finished_before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("points/*/report.json")}
    partial_before = [p.name for p in out.glob("points/*") if any(p.glob("checkpoint-epoch*.eqx"))
                      and not (p / "report.json").exists()]
    wall2, peak2, rc2, err2, stdout2 = timed(cmd, env=env)
    finished_after = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("points/*/report.json")}
    recomputed = [k for k, t in finished_before.items() if finished_after.get(k) != t]
    resumed_line = next((line for line in err2.splitlines() if line.startswith("study ")), "")
    summary = json.loads((out / "study.json").read_text())
    return {"points": summary["points"], "killed": killed, "wall_before_kill_s": wall1, "rerun_wall_s": wall2,
            "total_wall_s": wall1 + wall2, "rerun_peak_rss_bytes": peak2, "rerun_exit": rc2,
            "finished_before_kill": len(finished_before), "partial_at_kill": len(partial_before),
            "finished_points_recomputed": recomputed, "rerun_log": resumed_line,
            "batches": [{k: b[k] for k in ("batch", "size", "wall_time_s", "note")} for b in summary["batches"]],
            "status": summary["status"], "summary_table": stdout2.split("\n\n")[0],
            "summary_csv": (out / "summary.csv").read_text()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "studies.json"))
    args = ap.parse_args()
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", XLA), PYTHONPATH=str(ROOT / "src"))
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "date": time.strftime("%Y-%m-%d %H:%M"), "xla_flags": env["XLA_FLAGS"]}
    with tempfile.TemporaryDirectory(prefix="studies_bench_") as tmp:
        tmp = Path(tmp)
        if not args.skip_a:
            result["seeds"] = part_a(args.points, args.epochs, tmp, env)
            a = result["seeds"]
            print(f"\n{a['points']} seeds × {a['epochs']} epochs: sweep {a['sweep']['wall_s']:.0f} s, "
                  f"{a['points']} CLI runs {a['cli']['wall_s']:.0f} s ({a['speedup_vs_cli']:.2f}x), "
                  f"{a['points']} train() calls in one process {a['loop']['wall_s']:.0f} s "
                  f"({a['speedup_vs_loop']:.2f}x)", flush=True)
        if not args.skip_b:
            result["example_study"] = part_b(tmp, env)
            b = result["example_study"]
            print(f"\n60-point study: killed after {b['wall_before_kill_s']:.0f} s ({b['finished_before_kill']} "
                  f"finished, {b['partial_at_kill']} partial), rerun {b['rerun_wall_s']:.0f} s; total "
                  f"{b['total_wall_s']:.0f} s; finished points recomputed: {len(b['finished_points_recomputed'])}",
                  flush=True)
            print(b["summary_table"])
    if Path(args.out).exists():  # a part skipped keeps its last result
        old = json.loads(Path(args.out).read_text())
        for part in ("seeds", "example_study"):
            if part not in result and part in old:
                result[part] = old[part]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
