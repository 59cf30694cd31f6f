"""Cell-by-cell device operations evaluated block by block over a large array.

A family whose update or ``evolve`` builds dozens of per-cell intermediates (the
electrochemical and magneto-ionic integrators) runs them over blocks of cells with
``jax.lax.map``, so that the intermediates stay in the CPU's cache instead of streaming
whole-array temporaries through memory once per fused loop.  The values are those of the
whole-array evaluation: ``fn`` acts cell by cell.
"""
import jax
import jax.numpy as jnp


def by_blocks(fn, *cells, block: int):
    """``fn(*cells)`` for pytrees ``cells`` whose every leaf has one shape ``S`` (states,
    per-cell arrays), evaluated over blocks of ``block`` cells with ``jax.lax.map`` (the last
    block padded with copies of the last cell); returns ``fn``'s pytree of leaves of shape
    ``S``.  An array of at most ``block`` cells is one call.  ``fn`` must act cell by cell,
    apart from reductions that only choose how to compute (``lax.cond`` on "all cells …")."""
    leaves, treedef = jax.tree_util.tree_flatten(cells)
    shape = leaves[0].shape
    size = leaves[0].size
    if size <= block:
        return fn(*cells)
    n_blocks = -(-size // block)
    pad = n_blocks * block - size

    def split(a):
        a = a.reshape(-1)
        if pad:
            a = jnp.pad(a, (0, pad), mode="edge")
        return a.reshape(n_blocks, block)

    blocked = jax.tree_util.tree_unflatten(treedef, [split(a) for a in leaves])
    out = jax.lax.map(lambda args: fn(*args), blocked)
    return jax.tree_util.tree_map(lambda a: a.reshape(-1)[:size].reshape(shape), out)


__all__ = ["by_blocks"]
