"""Two JAX processes on this machine, one sharded crossbar MVM across both (loopback).

Run ``python benchmarks/multihost.py``: it starts two worker processes (``--rank 0`` and
``--rank 1``), each with ``JAX_NUM_CPU_DEVICES=2`` CPU devices and the gloo CPU
collectives, joined by ``jax.distributed.initialize`` over 127.0.0.1.  Each worker builds
the same crossbar and inputs from the same seeds, places them on a global mesh
``data=2 x tiles=2`` (:mod:`synaptax.sharding`: ``data`` spans the two processes, ``tiles``
the two devices of each), runs the forward and transposed reads (ideal wires, and IR drop
on a 2x2 tile grid) in one ``jax.jit``, gathers the outputs
(``multihost_utils.process_allgather``) and compares them with the same reads computed
by the process alone on one device.  The launcher prints each worker's line and exits
non-zero when a worker fails or a result differs.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(rank: int, port: int) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=rank,
                               initialization_timeout=120)
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import multihost_utils

    from synaptax import sharding
    from synaptax.arrays.crossbar import Crossbar
    from synaptax.devices import get_preset

    out = {"rank": rank, "process_count": jax.process_count(), "global_devices": len(jax.devices()),
           "local_devices": len(jax.local_devices())}
    mesh = sharding.make_mesh(data=2, tiles=2)
    for ir_drop in (False, True):
        cb = Crossbar(get_preset("reram-sb"), 32, 32, max_tile_size=(16, 16), ir_drop=ir_drop)
        w = 0.3 * jax.random.normal(jax.random.key(1), (32, 32))
        state = cb.init(key=jax.random.key(0), weights=w)
        x = jax.random.normal(jax.random.key(2), (8, 32))
        d = jax.random.normal(jax.random.key(3), (8, 32))
        key = jax.random.key(5)

        def reads(state, x, d, key):
            return cb.forward(state, x, key=key), cb.backward(state, d, key=key)

        # the process alone, on its first local device
        local = jax.device_put((state, x, d), jax.local_devices()[0])
        y0, b0 = jax.jit(reads)(*local, key)
        # the global mesh: cells split over "tiles" (within a process), the batch over "data" (across)
        t0 = time.perf_counter()
        y1, b1 = jax.jit(reads)(sharding.shard_states(state, mesh), sharding.shard_batch(x, mesh),
                                sharding.shard_batch(d, mesh), sharding.replicate(key, mesh))
        y1, b1 = multihost_utils.process_allgather((y1, b1), tiled=True)
        name = "ir_drop" if ir_drop else "ideal"
        out[name] = {"max_abs_diff_forward": float(np.max(np.abs(np.asarray(y1) - np.asarray(y0)))),
                     "max_abs_diff_backward": float(np.max(np.abs(np.asarray(b1) - np.asarray(b0)))),
                     "max_abs_forward": float(jnp.max(jnp.abs(y0))),
                     "seconds_sharded_with_compile": time.perf_counter() - t0}
    out["ok"] = all(out[n][f"max_abs_diff_{k}"] <= 1e-9 * max(1.0, out[n]["max_abs_forward"])
                    for n in ("ideal", "ir_drop") for k in ("forward", "backward"))
    jax.distributed.shutdown()
    return out


def launch(timeout: float) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"}
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "multihost.py"), "--rank", str(r),
                               "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in (0, 1)]
    ok = True
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
            print(f"worker timed out after {timeout:.0f} s", file=sys.stderr)
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            ok = False
            print(f"worker failed (exit {p.returncode}):\n{stderr[-3000:]}", file=sys.stderr)
            continue
        result = json.loads(lines[-1])
        ok &= bool(result["ok"])
        print(json.dumps(result))
    print("multihost: " + ("OK, two processes over loopback = one process" if ok else "FAILED"))
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for the workers")
    args = ap.parse_args()
    if args.rank is None:
        return launch(args.timeout)
    print(json.dumps(worker(args.rank, args.port)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
