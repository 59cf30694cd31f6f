"""Benchmark of the IR-drop solver against scipy's sparse direct solve (SuperLU).

    python benchmarks/irdrop.py [--quick] [--json PATH] [--scipy-all] [--no-scipy] [--no-hugepages]

Problem: a square crossbar, cell conductances uniform in [0.5, 1]·G_on with
G_on = 1 µS (a typical ReRAM/PCM on-state), input voltages uniform in [0, 0.5] V, the
same wire resistance r per segment on rows and columns. The wire/device ratio is
r·G_on: 1e-6 is r = 1 Ω (≈ NeuroSim's 22 nm cross-point wire, 1.06 Ω/cell, with 1 µS
cells), 1e-5 is 10 Ω; 1e-4 and 1e-3 are stress tests where most of the signal is lost
to IR drop (see the "IR drop" column: the relative deviation of the exact float64
currents from the ideal v @ G).

Reported per (size, batch, ratio):

* ``t_f32``: wall time of one float32 solve (``solve_crossbar``), the production path,
  best of the timed repeats after a warm-up call; ``compile``: first call minus that.
* ``iters``/``conv``: CG iterations (max over the batch) and whether all converged.
* ``err_f32``: max |I_f32 − I_f64| / max |I_f64| (for batch 64 at 1024², checked on the
  first 4 vectors in float64 to save time).
* ``t_scipy``: ``scipy.sparse.linalg.splu`` of the same 2·N²-node network (factor) plus
  the solve of all batch vectors as one multiple right-hand-side solve (Fortran-ordered;
  one factorisation per size and ratio serves both batch sizes; multi-vector solves
  best of two). Its currents are checked against ours in float64. At 1024² it is
  measured once, at ratio 1e-4, and reused for the other ratios (marked ``*``): the
  sparsity, hence the cost, does not depend on the ratio (see the measured rows at
  256² and 512²). ``--scipy-all`` measures every row.
* ``speedup``: t_scipy / t_f32.

The XLA CPU flags of tests/conftest.py are set (single-threaded XLA); scipy runs as
shipped. The machine's load average is printed: on a shared machine it inflates all
times.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

# glibc's malloc gives every allocation above 32 MiB its own fresh mapping, and XLA's CPU
# runtime allocates a solve's buffers per call: a 1024² batch-64 solve (268 MB per array)
# spent about a quarter of its time faulting in fresh 4 KiB pages.  With this tunable
# (glibc ≥ 2.35; older ones ignore it) those mappings are transparent huge pages.  It is a
# setting of the process, so the benchmark re-executes itself with it (scipy, measured in
# the same process, gets it too); --no-hugepages measures without.
HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb=1"
if "--no-hugepages" not in sys.argv and HUGEPAGE_TUNABLE not in os.environ.get("GLIBC_TUNABLES", ""):
    _env = dict(os.environ)
    _env["GLIBC_TUNABLES"] = ":".join(t for t in (_env.get("GLIBC_TUNABLES"), HUGEPAGE_TUNABLE) if t)
    os.execve(sys.executable, [sys.executable] + sys.argv, _env)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
from synaptax.circuits.irdrop import solve_crossbar  # noqa: E402

G_ON = 1e-6  # S
RATIOS = (1e-6, 1e-5, 1e-4, 1e-3)
BATCHES = (1, 64)


def problem(n: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.5, 1.0, (n, n)) * G_ON
    v = rng.uniform(0.0, 0.5, (batch, n))
    return g, v


def time_ours(g, v, r, repeats):
    g32, v32 = jnp.asarray(g, jnp.float32), jnp.asarray(v, jnp.float32)

    def run():
        t = time.perf_counter()
        sol = solve_crossbar(g32, v32, r_row=r, r_col=r, on_failure="ignore")
        sol.column_currents.block_until_ready()
        return time.perf_counter() - t, sol

    first, sol = run()
    times = [run()[0] for _ in range(repeats)]
    best = min(times)
    return dict(t_f32=best, compile=max(first - best, 0.0), iters=int(np.max(sol.iterations)),
                conv=bool(np.all(sol.converged)), residual=float(np.max(sol.residual))), sol


def accuracy(g, v, r, sol32, max_vectors):
    k = min(v.shape[0], max_vectors)
    ref = solve_crossbar(g, v[:k], r_row=r, r_col=r, on_failure="ignore")
    i64 = np.asarray(ref.column_currents)
    i32 = np.asarray(sol32.column_currents[:k], np.float64)
    ideal = v[:k] @ g
    return dict(err_f32=float(np.max(np.abs(i32 - i64)) / np.max(np.abs(i64))),
                irdrop=float(np.max(np.abs(i64 - ideal)) / np.max(np.abs(ideal))),
                f64_iters=int(np.max(ref.iterations)), f64_conv=bool(np.all(ref.converged)))


def network_matrix(g, r):
    """The 2·N² nodal conductance matrix (CSC), unknowns: row nodes then column nodes."""
    import scipy.sparse as sp

    rows, cols = g.shape
    n = rows * cols
    u = np.arange(n).reshape(rows, cols)
    w = u + n
    ii, jj, vals = [], [], []

    def branch(a, b, cond):
        cond = np.broadcast_to(cond, a.shape).ravel()
        a, b = a.ravel(), b.ravel()
        ii.extend([a, b, a, b])
        jj.extend([a, b, b, a])
        vals.extend([cond, cond, -cond, -cond])

    def to_fixed(a, cond):
        cond = np.broadcast_to(cond, a.shape).ravel()
        ii.append(a.ravel())
        jj.append(a.ravel())
        vals.append(cond)

    branch(u, w, g)
    branch(u[:, :-1], u[:, 1:], 1 / r)
    to_fixed(u[:, 0], 1 / r)  # driver segment
    branch(w[:-1], w[1:], 1 / r)
    to_fixed(w[-1], 1 / r)  # ground segment
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(ii), np.concatenate(jj))),
                         shape=(2 * n, 2 * n))


def time_scipy(g, v, r, batches):
    """SuperLU factorisation once, then the solve for the first ``batch`` vectors of ``v``.

    Returns ``{batch: {t_scipy, t_scipy_factor, t_scipy_solve}}`` and the currents of
    the largest batch. Multi-vector solves are timed twice (best kept): their time
    varied several-fold between identical calls on the shared test machine.
    """
    import scipy.sparse.linalg as spla

    rows, cols = g.shape
    a = network_matrix(g, r)
    t = time.perf_counter()
    lu = spla.splu(a)
    t_factor = time.perf_counter() - t
    out = {}
    for batch in batches:
        rhs = np.zeros((2 * rows * cols, batch), order="F")  # Fortran order: 4x faster solve
        rhs[np.arange(rows) * cols, :] = v[:batch].T / r
        times = []
        for _ in range(1 if batch == 1 else 2):
            t = time.perf_counter()
            x = lu.solve(rhs)
            times.append(time.perf_counter() - t)
        out[batch] = dict(t_scipy=t_factor + min(times), t_scipy_factor=t_factor, t_scipy_solve=min(times))
    currents = x[2 * rows * cols - cols:, :].T / r
    return out, currents


def device_description() -> str:
    dev = jax.devices()[0]
    text = f"{dev.platform}: {getattr(dev, 'device_kind', '')}"
    if dev.platform == "cpu":
        model = platform.processor() or ""
        try:
            with open("/proc/cpuinfo") as f:
                model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        text += f" ({model}, {os.cpu_count()} cores)"
    return text


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 256² and 512²")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="array sizes N (N × N)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--scipy-all", action="store_true", help="measure scipy at every 1024² ratio")
    parser.add_argument("--no-scipy", action="store_true", help="skip scipy")
    parser.add_argument("--no-hugepages", action="store_true",
                        help=f"run without GLIBC_TUNABLES={HUGEPAGE_TUNABLE} (see the comment at the top)")
    args = parser.parse_args(argv)
    sizes = (256, 512) if args.quick else tuple(args.sizes)

    print(f"# IR-drop solver benchmark\n\ndevice: {device_description()}")
    print(f"jax {jax.__version__}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}, "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')}")
    print(f"load average at start: {load_average()}\n", flush=True)
    results = []
    for n in sizes:
        g, v = problem(n, max(BATCHES))
        scipy_at_size = None
        for ratio in RATIOS:
            r = ratio / G_ON
            scipy_rows = None
            if not args.no_scipy and (n < 1024 or args.scipy_all or ratio == 1e-4):
                scipy_rows, sp_currents = time_scipy(g, v, r, BATCHES)
                check = solve_crossbar(g, v[:1], r_row=r, r_col=r).column_currents
                for row in scipy_rows.values():
                    row["scipy_vs_ours_f64"] = float(np.max(np.abs(sp_currents[:1] - check))
                                                     / np.max(np.abs(check)))
                    row["scipy_reused"] = False
                scipy_at_size = scipy_rows
            for batch in BATCHES:
                repeats = 2 if n * n * batch >= 1024 * 1024 * 16 else 3
                row = dict(n=n, batch=batch, ratio=ratio, r_ohm=r)
                ours, sol = time_ours(g, v[:batch], r, repeats)
                row.update(ours)
                row.update(accuracy(g, v[:batch], r, sol, 4 if n >= 1024 and batch > 4 else batch))
                if scipy_rows is not None:
                    row.update(scipy_rows[batch])
                elif not args.no_scipy:
                    row["scipy_pending"] = True
                results.append(row)
                print(f"  {n}² batch {batch:3d} ratio {ratio:.0e}: {_fmt_time(row['t_f32']):>9}, "
                      f"{row['iters']:3d} it, conv {row['conv']}, err {row['err_f32']:.1e}"
                      + (f", scipy {row['t_scipy']:.2f} s" if "t_scipy" in row else ""), flush=True)
        for row in results:
            if row.pop("scipy_pending", False) and scipy_at_size is not None:
                row.update(scipy_at_size[row["batch"]], scipy_reused=True)
    results.sort(key=lambda row: (row["n"], row["batch"], row["ratio"]))
    for row in results:
        if "t_scipy" in row:
            row["speedup"] = row["t_scipy"] / row["t_f32"]

    print(f"\nload average at end: {load_average()}\n")
    header = ("| N×N | batch | ratio r·G | IR drop | t_f32 | compile | iters | conv | err_f32 vs f64 "
              "| t_scipy (factor+solve) | speedup |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for row in results:
        scipy_txt = (f"{row['t_scipy']:.2f} s{'*' if row.get('scipy_reused') else ''}"
                     if "t_scipy" in row else "–")
        speed = f"{row['speedup']:.0f}×" if "speedup" in row else "–"
        print(f"| {row['n']}² | {row['batch']} | {row['ratio']:.0e} | {row['irdrop'] * 100:.1f} % "
              f"| {_fmt_time(row['t_f32'])} | {row['compile']:.1f} s | {row['iters']} | "
              f"{'yes' if row['conv'] else 'NO'} | {row['err_f32']:.1e} | {scipy_txt} | {speed} |")
    if any(row.get("scipy_reused") for row in results):
        print("\n\\* scipy time measured at ratio 1e-4 for this size and batch, reused (cost is ratio-independent).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=device_description(), jax=jax.__version__,
                           glibc_tunables=os.environ.get("GLIBC_TUNABLES", ""), results=results), f, indent=1)
        print(f"\nwrote {args.json}")
    return results


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
