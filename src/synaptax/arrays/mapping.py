"""Weight mapping: how a signed weight matrix lives in conductances, and how pulses reach them.

A mapping decides (1) the conductance arrays that hold one weight matrix and their signs in
the read-out, (2) the conductance per unit weight ``g_per_w`` [S], (3) how a weight's
potentiation/depression pulse counts reach each of its devices.  It holds no device and no
state: the crossbar passes them in.

* :class:`DifferentialPair` (``"differential"``, default): a pair of devices per weight,
  ``w = (G⁺ − G⁻)/g_per_w`` with ``g_per_w = (g_max − g_min)/w_max``.  A positive update
  potentiates ``G⁺`` and depresses ``G⁻`` by the same pulse count (both devices move), so
  one coincidence moves the weight by ``2·step/g_per_w``.  Weights are programmed with the
  pair centred on mid-range: ``G± = g_ref ± w·g_per_w/2``, ``g_ref = (g_min + g_max)/2``.
* :class:`ReferenceColumn` (``"reference"``): one bidirectional device per weight read
  against a fixed reference conductance ``g_ref = (g_min + g_max)/2`` (a reference column
  per tile; aihwkit's single-device picture), ``w = (G − g_ref)/g_per_w`` with
  ``g_per_w = (g_max − g_min)/(2·w_max)``.

Where to add one: a subclass of :class:`AbstractMapping` in this file (or a new one) and a
line in :data:`MAPPINGS`.

Large arrays on the CPU (:func:`apply_pulses_blocked`, both mappings): an array of at least
:data:`BLOCKED_MIN_CELLS` cells of a device whose pulses act cell by cell is updated block
by block of rows, so that the law's intermediate arrays are a block's (cache-sized, reused
from one block to the next) instead of the array's: a 2048² pair update of ``reram-sb``
twice as fast (no fresh pages to fault in), a 16384² one without gigabytes of temporaries.
Each block draws its cycle-to-cycle noise with the device key folded with the block's
number: the same law and noise distribution as the whole-array update, not the same draws.
Other backends (GPUs) take the whole array at once.
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..devices.core.contract import AbstractDevice, PulseCounts

#: Arrays of at least this many cells (per device array) are updated block by block on the
#: CPU (:func:`apply_pulses_blocked`).
BLOCKED_MIN_CELLS = 2**20
#: Cells per block of the blocked update (whole rows; the last block takes the remainder).
BLOCK_CELLS = 2**16


def _blocked(device, shape) -> bool:
    return (bool(getattr(device, "cellwise_pulses", False)) and len(shape) == 2
            and shape[0] > 1 and shape[0] * shape[1] >= BLOCKED_MIN_CELLS)


def apply_pulses_blocked(device: AbstractDevice, states: tuple, pulses: tuple, keys: tuple,
                         max_count: int | None = None) -> tuple:
    """``device.apply_pulses_many(states, pulses, keys=keys, max_count=max_count)``; on the
    CPU, for arrays of at least :data:`BLOCKED_MIN_CELLS` cells of a device whose pulses act
    cell by cell (``cellwise_pulses``), evaluated block by block of rows.

    A loop over blocks of about :data:`BLOCK_CELLS` cells slices every per-cell field of the
    states (fields whose leading axes are the counts' shape) and the counts, applies the
    pulses to the block (the device's own law; key ``i`` folded with the block's number)
    and writes back the fields the law changed; the fields it leaves alone stay where they
    are.  Only a block's intermediate arrays exist at a time, and the loop's carry is the
    state itself, so a donated state is updated in place.  Other backends, smaller arrays
    and other devices take ``apply_pulses_many`` on the whole array.
    """
    states, pulses, keys = tuple(states), tuple(pulses), tuple(keys)
    shape = tuple(jnp.shape(pulses[0].up))

    def dense(states, pulses, keys):
        return device.apply_pulses_many(states, pulses, keys=keys, max_count=max_count)

    if not _blocked(device, shape) or any(tuple(jnp.shape(n)) != shape for p in pulses for n in p):
        return dense(states, pulses, keys)
    rows = shape[0]
    per_block = max(1, min(rows, BLOCK_CELLS // max(1, shape[1])))
    n_blocks, tail = divmod(rows, per_block)
    leaves, treedef = jax.tree.flatten(states)
    cell = [i for i, leaf in enumerate(leaves) if hasattr(leaf, "shape") and tuple(leaf.shape[:2]) == shape]
    counts = [jnp.asarray(n) for p in pulses for n in p]

    def block(fields, start, size, index):
        """The new values of every leaf on rows ``start … start + size`` (``fields``: the
        per-cell leaves, in ``cell`` order) and the sub-states' leaves they came from."""
        cut = lambda a: jax.lax.dynamic_slice_in_dim(a, start, size, 0)  # noqa: E731
        sub = list(leaves)
        for j, i in enumerate(cell):
            sub[i] = cut(fields[j])
        sub_states = jax.tree.unflatten(treedef, sub)
        cut_counts = iter([cut(n) for n in counts])
        sub_pulses = tuple(PulseCounts(next(cut_counts), next(cut_counts)) for _ in pulses)
        sub_keys = tuple(jax.random.fold_in(k, index) for k in keys)
        return jax.tree.leaves(dense(sub_states, sub_pulses, sub_keys)), sub

    # which leaves the law changes (a leaf it returns as it got it is unchanged): traced
    # once on one row, abstractly; a law that changes a leaf that is not per cell runs dense
    changed: list = []

    def probe(states, pulses, keys):
        new, sub = block(tuple(leaves[i] for i in cell), 0, 1, 0)
        changed.extend(i for i in range(len(leaves)) if new[i] is not sub[i])

    jax.eval_shape(probe, states, pulses, keys)
    if not changed or any(i not in cell for i in changed):
        return dense(states, pulses, keys)

    def whole(states, pulses, keys):
        new = jax.tree.leaves(dense(states, pulses, keys))
        return tuple(new[i] for i in changed)

    def blocked(states, pulses, keys):
        def step(fields, start, size, index):
            new, _ = block(fields, start, size, index)
            return tuple(jax.lax.dynamic_update_slice_in_dim(f, new[i].astype(f.dtype), start, 0) if i in changed
                         else f for f, i in zip(fields, cell))

        fields = tuple(leaves[i] for i in cell)
        fields = jax.lax.fori_loop(0, n_blocks, lambda b, f: step(f, b * per_block, per_block, b), fields)
        if tail:
            fields = step(fields, n_blocks * per_block, tail, n_blocks)
        return tuple(fields[cell.index(i)] for i in changed)

    new = jax.lax.platform_dependent(states, pulses, keys, cpu=blocked, default=whole)
    out = list(leaves)
    for i, a in zip(changed, new):
        out[i] = a
    return jax.tree.unflatten(treedef, out)


class CrossbarState(eqx.Module):
    """State of a crossbar: the device states of its conductance arrays.

    Attributes:
        plus: state of the ``G⁺`` devices (or the single devices of a reference mapping),
            array shape ``(rows_padded, cols_padded)``.
        minus: state of the ``G⁻`` devices (differential pair), or None.
    """

    plus: object
    minus: object | None


class AbstractMapping(eqx.Module):
    """Weights ↔ conductances.  Subclasses set :attr:`name` and :attr:`devices_per_weight`."""

    name: ClassVar[str]
    devices_per_weight: ClassVar[int]

    def g_per_w(self, g_min: float, g_max: float, w_max: float) -> float:
        """Conductance [S] per unit weight for a device window ``[g_min, g_max]`` [S]."""
        raise NotImplementedError

    def init(self, device: AbstractDevice, shape: tuple[int, int], delta_g: Array, g_ref: float, *,
             key: PRNGKeyArray, g_low: float | None = None) -> CrossbarState:
        """Device states programmed (ideally) to the conductance differences ``delta_g`` [S]
        (``shape``) around the mid-range ``g_ref`` [S]; with ``g_low`` (a differential pair
        only) one-sided instead: the device of a weight's sign at ``g_low + |delta_g|``, the
        other at ``g_low`` (how inference chips program a pair)."""
        raise NotImplementedError

    def arrays(self, device: AbstractDevice, state: CrossbarState, g_ref: float) -> tuple[Array, Array]:
        """``(G_a, G_b)`` [S], padded shape: the read-out is ``G_a − G_b`` (``G_b`` the
        minus devices or the reference conductance)."""
        raise NotImplementedError

    def apply(self, device: AbstractDevice, state: CrossbarState, up: Array, down: Array, *, key: PRNGKeyArray,
              max_count: int | None = None) -> CrossbarState:
        """Apply a weight's ``up``/``down`` pulse counts (padded shape) to its devices.
        ``max_count``: static bound of whole-number counts, when known."""
        raise NotImplementedError

    def pulse_record(self, up: Array, down: Array) -> PulseCounts:
        """The pulses each device received, ``(devices_per_weight,) + up.shape``."""
        raise NotImplementedError

    def device_states(self, state: CrossbarState) -> tuple:
        """The device states of the arrays that hold cells, in :meth:`pulse_record` order."""
        return (state.plus,) if state.minus is None else (state.plus, state.minus)


class DifferentialPair(AbstractMapping):
    """Two devices per weight, ``w = (G⁺ − G⁻)/g_per_w`` (module docstring)."""

    name: ClassVar[str] = "differential"
    devices_per_weight: ClassVar[int] = 2

    def g_per_w(self, g_min, g_max, w_max):
        return (g_max - g_min) / w_max

    def init(self, device, shape, delta_g, g_ref, *, key, g_low=None):
        k_plus, k_minus = jax.random.split(key)
        if g_low is None:
            g_plus, g_minus = g_ref + 0.5 * delta_g, g_ref - 0.5 * delta_g
        else:
            g_plus, g_minus = g_low + jnp.maximum(delta_g, 0.0), g_low + jnp.maximum(-delta_g, 0.0)
        plus = device.init(shape, key=k_plus, conductance=g_plus)
        minus = device.init(shape, key=k_minus, conductance=g_minus)
        return CrossbarState(plus, minus)

    def arrays(self, device, state, g_ref):
        return device.conductance(state.plus), device.conductance(state.minus)

    def apply(self, device, state, up, down, *, key, max_count=None):
        k_plus, k_minus = jax.random.split(key)
        plus, minus = apply_pulses_blocked(device, (state.plus, state.minus),
                                           (PulseCounts(up, down), PulseCounts(down, up)), (k_plus, k_minus),
                                           max_count)
        return CrossbarState(plus, minus)

    def pulse_record(self, up, down):
        return PulseCounts(jnp.stack([up, down]), jnp.stack([down, up]))


class ReferenceColumn(AbstractMapping):
    """One device per weight read against the mid-range reference (module docstring)."""

    name: ClassVar[str] = "reference"
    devices_per_weight: ClassVar[int] = 1

    def g_per_w(self, g_min, g_max, w_max):
        return (g_max - g_min) / (2.0 * w_max)

    def init(self, device, shape, delta_g, g_ref, *, key, g_low=None):
        if g_low is not None:
            raise ValueError("one-sided placement needs a differential pair; the reference mapping reads "
                             "one device against the mid-range reference")
        k_plus, _ = jax.random.split(key)
        return CrossbarState(device.init(shape, key=k_plus, conductance=g_ref + delta_g), None)

    def arrays(self, device, state, g_ref):
        g = device.conductance(state.plus)
        return g, jnp.full_like(g, g_ref)

    def apply(self, device, state, up, down, *, key, max_count=None):
        k_plus, _ = jax.random.split(key)
        (plus,) = apply_pulses_blocked(device, (state.plus,), (PulseCounts(up, down),), (k_plus,), max_count)
        return CrossbarState(plus, None)

    def pulse_record(self, up, down):
        return PulseCounts(up[None], down[None])


#: Mappings by name (the ``mapping=`` argument of :class:`~synaptax.arrays.Crossbar`).
MAPPINGS: dict[str, type[AbstractMapping]] = {
    DifferentialPair.name: DifferentialPair,
    ReferenceColumn.name: ReferenceColumn,
}


def get_mapping(mapping: str | AbstractMapping) -> AbstractMapping:
    """A mapping from its name or instance; ValueError naming ``mapping`` otherwise."""
    if isinstance(mapping, AbstractMapping):
        return mapping
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(repr(m) for m in MAPPINGS)}, got {mapping!r}")
    return MAPPINGS[mapping]()


__all__ = ["AbstractMapping", "BLOCKED_MIN_CELLS", "BLOCK_CELLS", "CrossbarState", "DifferentialPair", "MAPPINGS",
           "ReferenceColumn", "apply_pulses_blocked", "get_mapping"]
