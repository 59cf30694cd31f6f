"""Fault injection: kill ``synaptax train`` with SIGKILL at random moments, resume, repeat.

Issue 22's fault test: a run is killed 20 times at random points (during start-up,
compilation, steps, evaluation and checkpoint writes); after every kill the run folder
must be resumable or cleanly reported, and no epoch whose "epoch k/N" line was printed
may be lost.  At the end the resumed run must equal an uninterrupted one, bit for bit.

    python benchmarks/kill_resume.py [--kills 20] [--epochs 3000] [--seed 0]

Writes ``benchmarks/results/kill_resume.json`` (one record per kill).  The same loop runs
with 3 kills in ``tests/test_runs.py``.
"""
import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_runs import kill_and_resume, train_command  # noqa: E402

from synaptax.training.io import atomic_write_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "kill_resume.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kill_resume_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run(train_command(tmp / "straight", args.epochs), check=True, capture_output=True, timeout=1800)
        t_straight = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = kill_and_resume(tmp / "run", kills=args.kills, seed=args.seed, epochs=args.epochs, timeout=1800)
        t_killed = time.perf_counter() - t0
        run, straight = (json.loads((tmp / d / "report.json").read_text()) for d in ("run", "straight"))
        identical = run["history"] == straight["history"]
    killed = [r for r in records if r["returncode"] == -9]
    out = {
        "command": " ".join(train_command(Path("RUN"), args.epochs)[1:]),
        "kills_asked": args.kills, "kills": len(killed),
        "killed_during_start_up": sum(r["phase"] == "start-up" for r in killed),
        "killed_while_training": sum(r["phase"] == "training" for r in killed),
        "killed_with_no_checkpoint_yet": sum(r["newest_checkpoint"] == 0 for r in killed),
        "records": records,
        "finished_epochs_lost": 0,  # kill_and_resume asserts newest checkpoint >= epochs logged after every kill
        "resumed_equals_straight": identical,
        "straight_wall_s": round(t_straight, 1), "killed_and_resumed_wall_s": round(t_killed, 1),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {sys.platform}",
    }
    atomic_write_json(args.out, out)
    print(json.dumps({k: v for k, v in out.items() if k != "records"}, indent=2))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
