"""The XLA CPU setting synaptax applies before JAX starts its CPU backend.

With JAX 0.10 on 2-core CPUs, programs looping around ``lax.linalg.tridiagonal_solve``
(which synaptax's IR-drop solver once used) sometimes hung inside XLA's multi-threaded
Eigen runtime.  The workaround is single-threaded Eigen in XLA's CPU runtime::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

It affects only the CPU backend (GPU programs are untouched).  :func:`apply_cpu_workaround`
adds it to ``XLA_FLAGS`` for the ``synaptax`` command on machines with at most
:data:`MAX_CPUS` cores, unless the user's ``XLA_FLAGS`` already sets
``xla_cpu_multi_thread_eigen`` or ``SYNAPTAX_XLA_WORKAROUND=0``.  XLA reads its flags
once, when the first computation starts its backend; after that the call changes nothing
(and says so).  Library users set the variable themselves (see the README); the test
suite sets it in ``tests/conftest.py``.
"""
from __future__ import annotations

import os

#: The flags of the workaround.
FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
#: Largest core count the CLI applies the workaround on (where the hang was seen).
MAX_CPUS = 2


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # pragma: no cover - private API moved
        return False


def apply_cpu_workaround(*, environ=None, cpus: int | None = None) -> bool:
    """Add :data:`FLAGS` to ``XLA_FLAGS`` where the hang was seen; True if added.

    Args:
        environ: the environment to change (default ``os.environ``).
        cpus: the machine's core count (default ``os.cpu_count()``).
    """
    env = os.environ if environ is None else environ
    cpus = os.cpu_count() or 1 if cpus is None else cpus
    current = env.get("XLA_FLAGS", "")
    if env.get("SYNAPTAX_XLA_WORKAROUND", "1") == "0" or "xla_cpu_multi_thread_eigen" in current:
        return False
    if cpus > MAX_CPUS or (environ is None and _backend_started()):
        return False
    env["XLA_FLAGS"] = f"{current} {FLAGS}".strip()
    return True



#: Most host (CPU) devices :func:`apply_host_devices` asks XLA for.
MAX_HOST_DEVICES = 8


def apply_host_devices(*, environ=None, cpus: int | None = None) -> int:
    """Expose the CPU cores to XLA as separate devices (``--xla_force_host_platform_device_count``)
    when ``SYNAPTAX_HOST_DEVICES=N`` asks for it (``N`` ≥ 2, or ``all``: one per core, at
    most :data:`MAX_HOST_DEVICES`), so a study splits its batched configurations over them
    (each device runs its share on its own thread; GPUs are not affected).  Off by default:
    on the 2-vCPU machine this was measured on, two host devices (or two processes) trained
    no more points per second than one.  Nothing changes when ``XLA_FLAGS`` already sets the
    count or JAX's backend has started.  Returns the count asked for (1: nothing changed)."""
    env = os.environ if environ is None else environ
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    current = env.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in current or (environ is None and _backend_started()):
        return 1
    wanted = env.get("SYNAPTAX_HOST_DEVICES", "1").strip().lower()
    try:
        n = min(cpus, MAX_HOST_DEVICES) if wanted == "all" else int(wanted)
    except ValueError:
        n = 1
    if n < 2:
        return 1
    # a flag after a bare token (the workaround's ``intra_op_parallelism_threads=1``) is
    # ignored by XLA's parser, so the count goes first
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n} {current}".strip()
    return n


__all__ = ["FLAGS", "MAX_CPUS", "MAX_HOST_DEVICES", "apply_cpu_workaround", "apply_host_devices"]
