"""Pulsed updates that touch only the cells that get pulses.

A training step's pulses are sparse: with stochastic pulse coincidence on MNIST's first
layer, under 1 % of the cells get a pulse in a step (most input pixels are zero, and a row
fires only in some slots), yet a dense update evaluates the device law, its cycle-to-cycle
noise and the bounds on every cell.  :func:`apply_pulses_sparse` applies a crossbar's pulse
counts to the cells that get any, in whole chunks of :data:`CHUNK` neighbouring cells:

1. the cells (padded shape, row-major) are grouped in chunks of :data:`CHUNK`; a chunk is
   *active* when any of its cells gets a pulse;
2. when at most a fraction :data:`CAPACITY` of the chunks are active, the active chunks'
   per-cell state and counts are gathered into a compact array of fixed size (a static
   shape: ``ceil(CAPACITY · chunks)`` chunks), the device applies its pulses there through
   the mapping (every family's own law, unchanged), and the cells its law changed are
   scattered back; otherwise the dense update runs (a ``lax.switch``, so every step costs
   what its own sparsity allows);
3. every other cell is untouched — exactly what the dense update does to a cell without
   pulses, for a device whose pulses act cell by cell
   (:attr:`~synaptax.devices.core.contract.AbstractDevice.cellwise_pulses`; devices that do
   not declare it always take the dense update).

The result is the dense update's in distribution, not to the bit: the device's
cycle-to-cycle noise is drawn for the compact array, so a cell's draw depends on its
position there (the same independent normal law).  Everything is deterministic for a given
key, and jit, vmap and grad work as for the dense update.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

#: Cells per chunk: neighbouring cells of a row (row-major over the padded shape).
CHUNK = 8
#: Largest fraction of active chunks updated sparsely (the compact array's size).
CAPACITY = 0.1
#: Fewer cells than this: always dense (gathering would cost more than it saves).
MIN_CELLS = 32768


def _per_cell(leaf, shape) -> bool:
    return hasattr(leaf, "shape") and tuple(leaf.shape[:len(shape)]) == tuple(shape)


def sparse_applicable(crossbar, shape) -> bool:
    """Whether :func:`apply_pulses_sparse` takes the sparse path for counts of ``shape``."""
    n = math.prod(shape)
    return (bool(getattr(crossbar.device, "cellwise_pulses", False)) and len(shape) == 2
            and n >= MIN_CELLS and n % CHUNK == 0)


def apply_pulses_sparse(crossbar, state, up: Array, down: Array, *, key: PRNGKeyArray,
                        max_count: int | None = None):
    """``crossbar.apply_pulses(state, up, down, key=key, max_count=max_count)``, evaluated
    only on the chunks of cells that get pulses when they are few (module docstring).

    Args:
        crossbar: the :class:`~synaptax.arrays.Crossbar`.
        state: its :class:`~synaptax.arrays.mapping.CrossbarState`.
        up, down: non-negative pulse counts per weight, padded shape ``(rows, cols)``.
        key: PRNG key of the devices' noise.
        max_count: static bound of whole-number counts, when known.

    Returns:
        The new crossbar state.
    """
    shape = tuple(up.shape)
    if not sparse_applicable(crossbar, shape):
        return crossbar.apply_pulses(state, up, down, key=key, max_count=max_count)
    n_chunks = math.prod(shape) // CHUNK
    capacity = max(1, math.ceil(CAPACITY * n_chunks))
    active = jnp.any(((up > 0) | (down > 0)).reshape(n_chunks, CHUNK), axis=1)
    leaves, treedef = jax.tree.flatten(state)
    cell = [i for i, leaf in enumerate(leaves) if _per_cell(leaf, shape)]
    changed: list = []  # indices into `cell` of the leaves the law changes (set at first trace)

    def chunked(a):
        return a.reshape((n_chunks, CHUNK) + a.shape[len(shape):])

    def record(new_leaves, old_leaves):
        diff = [j for j, i in enumerate(cell) if new_leaves[i] is not old_leaves[i]]
        if not changed:
            changed.extend(diff) if diff else changed.append(None)
        elif set(diff) - set(changed):
            raise AssertionError("the sparse and dense updates changed different state fields")

    def dense(_):
        new = crossbar.apply_pulses(state, up, down, key=key, max_count=max_count)
        new_leaves = jax.tree.leaves(new)
        record(new_leaves, leaves)
        return tuple(new_leaves[cell[j]] for j in changed if j is not None)

    def compact(_):
        idx = jnp.nonzero(active, size=capacity, fill_value=n_chunks)[0]
        safe = jnp.minimum(idx, n_chunks - 1)
        valid = (idx < n_chunks)[:, None]
        sub_leaves = list(leaves)
        for i in cell:
            sub_leaves[i] = chunked(leaves[i])[safe]
        sub_state = jax.tree.unflatten(treedef, sub_leaves)
        sub_up = jnp.where(valid, chunked(up)[safe], 0)
        sub_down = jnp.where(valid, chunked(down)[safe], 0)
        new = crossbar.apply_pulses(sub_state, sub_up, sub_down, key=key, max_count=max_count)
        new_leaves = jax.tree.leaves(new)
        record(new_leaves, sub_leaves)
        out = []
        for j in changed:
            if j is None:
                continue
            i = cell[j]
            full = chunked(leaves[i]).at[idx].set(new_leaves[i], mode="drop")
            out.append(full.reshape(leaves[i].shape))
        return tuple(out)

    # the branch traced first records which fields the law changes; the other must agree
    index = (jnp.sum(active) > capacity).astype(jnp.int32)
    outs = jax.lax.switch(index, [compact, dense], None)
    new_leaves = list(leaves)
    for j, a in zip([j for j in changed if j is not None], outs):
        new_leaves[cell[j]] = a
    return jax.tree.unflatten(treedef, new_leaves)


__all__ = ["CAPACITY", "CHUNK", "apply_pulses_sparse", "sparse_applicable"]
