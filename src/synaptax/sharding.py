"""Training on several devices with JAX's own engine: a two-axis mesh ``("data", "tiles")``.

Nothing here changes what is computed, only where: arrays are *placed* with
:class:`jax.sharding.NamedSharding` and ``jax.jit`` (GSPMD) partitions the existing
programs (the training step, the crossbar reads and updates, the IR-drop solves) by
propagating those placements, inserting the collectives it needs.  No step, layer or tile
knows about the mesh.

* **Tile parallel** (axis ``"tiles"``): every per-cell array of a crossbar's devices (a
  leaf whose trailing two dimensions are the crossbar's padded shape ``(rows, cols)``,
  :attr:`synaptax.arrays.tile.Tile.padded_shape`, the shapes taken from the
  :class:`~synaptax.arrays.mapping.CrossbarState` nodes of the tree — an update rule's
  own crossbars, such as a Tiki-Taka fast array, included) is split
  along its **columns** (the output lines): device ``k`` of the ``tiles`` axis holds the
  columns ``k·cols/n … (k+1)·cols/n``.  When the column tile grid ``n_col_tiles`` is a
  multiple of the axis size ``n`` these are whole physical tiles (each device owns its
  tiles' converters' worth of outputs); otherwise a tile's columns are spread over
  devices, which is still exact.  A leaf whose column count is not a multiple of ``n`` is
  **replicated** (every device holds all of it; e.g. a 10-class output layer on 4 devices).
  Reads: the forward MVM needs no communication (each device computes its columns' currents
  from the replicated inputs); the transposed read sums over columns (XLA adds the
  devices' partial row currents); pulsed updates are per cell.  Digital arrays in the
  weight layout ``(out_features, in_features)`` (mixed precision's χ, a Tiki-Taka
  buffer) are replicated like every other leaf.  With IR drop, each tile's network is
  prepared and solved where its columns live; the solver's failure check (equinox's
  ``error_if``, a host callback) runs on one device, so XLA warns of an "involuntary full
  rematerialization" when compiling (a copy to and from that device; results unchanged).
* **Data parallel** (axis ``"data"``): a batch's leading axis is split over ``"data"``
  (:func:`shard_batch`; replicated when the batch does not divide).  In training
  (:func:`synaptax.training.loop.train` with ``TrainConfig.mesh``) the data set itself is
  replicated — every device can gather any sample, batches are drawn at random — and the
  *index array* of each epoch's batches, ``(steps, batch_size)``, is split along the batch
  axis, so the gathered batch of every step is split over ``"data"`` and the step's
  batch sums (the loss, the outer products of the update) become all-reduces.
* Everything else — digital parameters, the optimiser's state, scalar device parameters,
  step counters, keys — is replicated over the whole mesh (:func:`replicate`).

Random numbers are the same sharded and unsharded: a ``jax.jit`` program's values do not
depend on how its arrays are placed, and both generators used are partitionable, so
XLA splits them without gathering: ``jax.random`` with
``jax.config.jax_threefry_partitionable`` (True by default since JAX 0.5, and in the
JAX 0.10 this was written with; :func:`rng_partitionable`, noted by :func:`describe_mesh`
when off), and synaptax's own per-cell
hash (:mod:`synaptax._random`), a function of each element's index (``iota``) and the
key.  Results then agree with a one-device run to floating-point rounding only: the
order of a sum split over devices differs (tests: below 1e-12 relative in float64).  A
quantiser whose input sits exactly on a rounding tie may round it either way under any
change of the compiled program, sharded or not: e.g. an ADC's output (already quantised)
fed back as the input of a DAC, whose ratios to their largest value can be exact ties;
it then moves by one converter level.

Meshes come from :func:`make_mesh` (``data × tiles`` of the first devices; ``tiles`` is the
inner axis, so with several hosts — :func:`jax.devices` is ordered by process — a tile
group stays on one host and ``data`` spans hosts) or from a command-line string
(:func:`parse_mesh`: ``"data=4,tiles=2"``, ``"data=8"``, ``"tiles=2"``, ``"auto"``).  On a
CPU, more devices than one come from ``JAX_NUM_CPU_DEVICES=N`` (or
``--xla_force_host_platform_device_count=N`` first in ``XLA_FLAGS``, or the CLI's
``SYNAPTAX_HOST_DEVICES=N``), set before JAX starts.

Multi-host (several processes, each with its local devices)::

    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU only
    jax.distributed.initialize(coordinator_address="10.0.0.1:1234",   # process 0's host:port
                               num_processes=2, process_id=RANK)      # RANK = 0, 1
    mesh = make_mesh(data=2, tiles=len(jax.local_devices()))          # over jax.devices(), all hosts

Every process runs the same program on the same host values (same seed, same
configuration); :func:`shard_states`, :func:`shard_batch` and :func:`replicate` then
build global arrays from them (:func:`jax.make_array_from_callback`: each process fills
only its own devices' shards), and reading a result back on the host needs
:func:`jax.experimental.multihost_utils.process_allgather` (or a replicated output).
``benchmarks/multihost.py`` runs two processes over loopback and checks a crossbar MVM
(ideal wires and IR drop) against one process.  :func:`synaptax.training.loop.train` is
single-process: its checkpoints, evaluation and reports read arrays back to the host,
which arrays spread over several processes do not allow; across hosts drive
:func:`synaptax.training.loop.run_steps` with placed arrays and gather the results.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: The mesh's axis names, outer to inner.
AXES = ("data", "tiles")


# ----------------------------------------------------------------------------- meshes
def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def make_mesh(*, data: int = 1, tiles: int = 1, devices=None) -> Mesh:
    """A mesh of axes ``("data", "tiles")``, shape ``(data, tiles)``, over the first
    ``data · tiles`` of ``devices`` (default :func:`jax.devices`, every process's)."""
    data, tiles = _count("data", data), _count("tiles", tiles)
    devices = list(jax.devices() if devices is None else devices)
    need = data * tiles
    if need > len(devices):
        raise ValueError(f"mesh data={data} x tiles={tiles} needs {need} devices, only {len(devices)} available "
                         "(on a CPU set JAX_NUM_CPU_DEVICES=N before JAX starts)")
    return Mesh(np.array(devices[:need], dtype=object).reshape(data, tiles), AXES)


def parse_mesh(text: str, *, devices=None) -> dict[str, int]:
    """The axis sizes ``{"data": d, "tiles": t}`` of a mesh string: comma-separated
    ``axis=N`` (``"data=4,tiles=2"``, ``"data=8"``, ``"tiles=2"``; a missing axis is 1) or
    ``"auto"`` (every device of ``devices``, default :func:`jax.devices`, on ``data``).
    A bad string raises a one-line :class:`ValueError` naming the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"mesh must be 'auto' or axis=N pairs such as 'data=4,tiles=2', got {text!r}")
    if text.strip().lower() == "auto":
        return {"data": len(jax.devices() if devices is None else devices), "tiles": 1}
    sizes: dict[str, int] = {}
    for part in text.split(","):
        name, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not name:
            raise ValueError(f"mesh: {part.strip()!r} is not axis=N (e.g. 'data=4,tiles=2')")
        if name not in AXES:
            raise ValueError(f"mesh: unknown axis {name!r} in {part.strip()!r}; axes: {', '.join(AXES)}")
        if name in sizes:
            raise ValueError(f"mesh: axis {name!r} given twice")
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"mesh: {part.strip()!r}: the size must be an integer >= 1")
        sizes[name] = int(value)
    return {"data": sizes.get("data", 1), "tiles": sizes.get("tiles", 1)}


def mesh_from_text(text: str, *, devices=None) -> Mesh:
    """:func:`make_mesh` of :func:`parse_mesh` ``(text)``."""
    return make_mesh(**parse_mesh(text, devices=devices), devices=devices)


def describe_mesh(mesh: Mesh) -> str:
    """``"data=2 x tiles=4 (8 cpu devices)"``, with a note when ``jax.random``'s draws
    cannot be split (:func:`rng_partitionable`)."""
    n = mesh.devices.size
    platform = mesh.devices.flat[0].platform
    text = " x ".join(f"{a}={mesh.shape[a]}" for a in mesh.axis_names) + f" ({n} {platform} device{'s' * (n != 1)})"
    if not rng_partitionable():
        text += ("; jax_threefry_partitionable is off: the same random numbers, but each draw is made whole on "
                 "every device")
    return text


def rng_partitionable() -> bool:
    """``jax.config.jax_threefry_partitionable`` (True by default since JAX 0.5): whether XLA
    can split a ``jax.random`` draw over devices.  Either way a draw's values do not depend
    on the placement (the flag changes the generator, i.e. which values a key gives, not
    their independence of sharding); off, every sharded draw is computed whole on every
    device and sliced."""
    return bool(jax.config.jax_threefry_partitionable)


# ----------------------------------------------------------------------------- placement
def _put(x, sharding: NamedSharding):
    """``x`` placed with ``sharding``; across processes, each fills its own shards from
    its (identical) host value."""
    if sharding.is_fully_addressable:
        return jax.device_put(x, sharding)
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(x)
        data = _put(jax.random.key_data(x), NamedSharding(sharding.mesh, PartitionSpec()))
        return jax.random.wrap_key_data(data, impl=impl)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _is_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def replicate(tree, mesh: Mesh):
    """``tree``'s arrays copied to every device of ``mesh`` (other leaves unchanged)."""
    rep = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda x: _put(x, rep) if _is_array(x) else x, tree)


def batch_spec(shape, mesh: Mesh, *, axis: int = 0) -> PartitionSpec:
    """``P(…, "data", …)`` on ``axis`` of ``shape`` when its size is a multiple of the mesh's
    ``data`` size (> 1), else ``P()`` (replicated)."""
    n = mesh.shape["data"]
    if len(shape) <= axis or n == 1 or shape[axis] % n:
        return PartitionSpec()
    return PartitionSpec(*([None] * axis), "data")


def shard_batch(x, mesh: Mesh, *, axis: int = 0):
    """``x`` (an array or a tree of them) split along ``axis`` (default the leading, batch,
    axis) over ``"data"``; an array whose axis does not divide is replicated.  For the
    index array of a run's batches, ``(steps, batch_size)``, use ``axis=1``."""
    def one(a):
        if not _is_array(a):
            return a
        return _put(a, NamedSharding(mesh, batch_spec(np.shape(a), mesh, axis=axis)))

    return jax.tree.map(one, x)


def crossbar_shapes(tree) -> set[tuple[int, int]]:
    """The padded shapes ``(rows, cols)`` of the crossbar states in ``tree`` (from each
    :class:`~synaptax.arrays.mapping.CrossbarState`'s device conductances)."""
    from .arrays.mapping import CrossbarState

    shapes = set()
    for node in jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, CrossbarState)):
        if isinstance(node, CrossbarState):
            g = getattr(node.plus, "conductance", None)
            if g is not None and np.ndim(g) >= 2:
                shapes.add(tuple(np.shape(g)[-2:]))
    return shapes


def tile_spec(shape, mesh: Mesh, shapes) -> PartitionSpec:
    """How a leaf of ``shape`` is placed: ``P(…, None, "tiles")`` (its last axis, the
    columns, split) when its trailing two dimensions are one of the crossbar ``shapes`` and
    the columns divide by the mesh's ``tiles`` size (> 1); else ``P()`` (replicated)."""
    n = mesh.shape["tiles"]
    if n == 1 or len(shape) < 2 or tuple(shape[-2:]) not in shapes or shape[-1] % n:
        return PartitionSpec()
    return PartitionSpec(*([None] * (len(shape) - 1)), "tiles")


def shard_states(tree, mesh: Mesh, *, shapes=None):
    """``tree`` (crossbar states, a train state, any pytree) placed on ``mesh``: per-cell
    arrays of the crossbars split over ``"tiles"`` by columns (:func:`tile_spec`; module
    docstring), every other array replicated.  ``shapes``: the crossbars' padded shapes
    (default: those of the ``CrossbarState`` nodes found in ``tree``)."""
    shapes = crossbar_shapes(tree) if shapes is None else {tuple(s) for s in shapes}

    def one(x):
        if not _is_array(x):
            return x
        return _put(x, NamedSharding(mesh, tile_spec(np.shape(x), mesh, shapes)))

    return jax.tree.map(one, tree)


def shard_train_state(ts, mesh: Mesh):
    """A :class:`~synaptax.training.algorithms.TrainState` placed on ``mesh``
    (:func:`shard_states`: crossbar cells split over ``"tiles"``; parameters, optimiser and
    everything else replicated)."""
    return shard_states(ts, mesh)


def placement_summary(tree) -> dict[str, int]:
    """How many array leaves of ``tree`` are split over some mesh axis and how many are
    replicated (or on one device): ``{"split": …, "replicated": …}``."""
    out = {"split": 0, "replicated": 0}
    for x in jax.tree.leaves(tree):
        if isinstance(x, jax.Array):
            sharding = x.sharding
            split = isinstance(sharding, NamedSharding) and any(p is not None for p in sharding.spec)
            out["split" if split else "replicated"] += 1
    return out


__all__ = ["AXES", "batch_spec", "crossbar_shapes", "describe_mesh", "make_mesh",
           "mesh_from_text", "parse_mesh", "placement_summary", "replicate", "rng_partitionable", "shard_batch",
           "shard_states", "shard_train_state", "tile_spec"]
