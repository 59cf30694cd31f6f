"""Prepare once, solve many: the factorisation of one array's network, reused by every read.

:func:`prepare_crossbar` factorises the nodal system of one conductance array (line
pivots of every row and column, the row-voltage profile per unit drive, the coarse
space) for a given number of input vectors per solve. :func:`solve_prepared` reads it
forward (rows driven, column currents), :func:`solve_transposed` the other way
(columns driven from their read end, row currents at the driver end): both run CG on
the same Schur complement with the same factors, and each returns the power of its own
read from its own node voltages. The transposed read is the adjoint solve of the
implicit gradient (:mod:`.implicit`): by reciprocity the two transfers are transposes
of each other.

Every factorisation of the package goes through :func:`_factorise` (one call per
trace), so tests can count them.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from synaptax._checks import check_int, check_positive

from ._common import (
    _HIGHEST,
    DEFAULT_MAX_STEPS,
    Method,
    OnFailure,
    _check_conductance_shape,
    _check_drive_shape,
    _check_finite_drive,
    _check_float_dtype,
    _check_options,
    _check_resistances,
    _check_tol_steps,
)
from .cg import _CGOut, _schur_cg
from .lines import _IN_PLACE_MIN_BATCH, _modes
from .network import (
    _both_zero,
    _Factors,
    _factor,
    _from_layout,
    _g_scale,
    _network_power,
    _Ops,
    _parallel_mode,
    _per_vector,
    _stacked,
    _to_layout,
    _v_scale,
)
from .preconditioner import _coarse_modes
from .results import ForwardSolution, PowerBalance, TransposedSolution, _handle_failure

__all__ = ["PreparedCrossbar", "prepare_crossbar", "solve_prepared", "solve_transposed", "transfer_matrix"]


# ----------------------------------------------------------------------------------
# Internal pieces (scaled units)
# ----------------------------------------------------------------------------------
def _factorise(conductance, r_row, r_col, *, nbatch: int, parallel: bool, rows_in_place: bool,
               coarse: tuple[int, int]) -> tuple[_Factors, jax.Array]:
    """The one factorisation of the package: ``(factors, g_ref)`` of one array.

    ``conductance`` (R, C) S, ``r_row``/``r_col`` Ω (arrays of its dtype); the factors
    are in units of ``g_ref = max(G)`` (S). Every solve path (:func:`_solve_core`,
    :func:`prepare_crossbar`) calls it exactly once per trace.
    """
    g_ref = _g_scale(conductance)
    fac = _factor(conductance / g_ref, r_row * g_ref, r_col * g_ref, nbatch, parallel, rows_in_place, coarse)
    return fac, g_ref


def _forward(ops: _Ops, v_flat, tol, max_steps, stacked: bool = False):
    """Forward read of ``v_flat`` (B, R) V on factored ``ops``, scaled.

    Returns ``(v, v_ref, u, cg)``: ``v`` the scaled drive ``(R, 1) + bs``, ``v_ref``
    (B,) V, ``u`` the scaled row-node voltages and ``cg.w`` the column-node voltages,
    both ``(R, C) + bs`` in column layout (units of ``v_ref``). ``stacked``: a stack of
    arrays in the stacked layout (:func:`.network._stacked`), ``v_flat`` (K, B, R),
    ``v_ref`` (K, B), ``(K,) + bs`` in place of ``bs``.
    """
    fac = ops.fac
    v_ref = _v_scale(v_flat)
    v = _to_layout(v_flat / v_ref[..., None], stacked)[:, None]  # (R, 1) + bs
    # Row voltages with the columns held at 0 V: u0 = v A_r⁻¹ e_0 (per array); S w = ρ_c Ĝ u0.
    cg = _schur_cg(ops, fac.rho_col * fac.g_col * (v * fac.drive), tol, max_steps)
    # u = A_r⁻¹(v e_0 + ρ_r Ĝ w), with A_r⁻¹ Ĝ w from the final residual check.
    u = v * fac.drive + fac.rho_row * cg.yw
    return v, v_ref, u, cg


def _transposed(ops: _Ops, v_flat, tol, max_steps, stacked: bool = False):
    """Transposed read (= adjoint solve) of ``v_flat`` (B, C) on factored ``ops``, scaled.

    Columns driven at their read end by ``v_flat``, rows at 0 V at their driver end.
    With ``x`` the column-node and ``y`` the row-node voltages, ``S x = v e_{R−1}`` and
    ``y = ρ_r A_r⁻¹ Ĝ x``. Written as ``x = v̄ + λ`` (``v̄`` constant down each column,
    and ``S v̄ = v e_{R−1} − b`` exactly since ``L_c v̄ = v e_{R−1}``), CG solves
    ``S λ = b = −ρ_c Ĝ (v̄ − ρ_r A_r⁻¹ Ĝ v̄)`` and the cell voltage is
    ``φ = x − y = v̄ − ρ_r A_r⁻¹ Ĝ (v̄ + λ) + λ``: the same system and the same factors
    as the forward read, and the adjoint cell factor of :func:`.implicit._adjoint`.

    Returns ``(bar, bar_ref, phi, cg)``: ``bar`` the scaled drive ``(1, C) + bs``,
    ``bar_ref`` (B,) its scale, ``phi`` ``(R, C) + bs`` in column layout. ``stacked``:
    as for :func:`_forward`.
    """
    fac = ops.fac
    bar_ref = _v_scale(v_flat)
    bar = _to_layout(v_flat / bar_ref[..., None], stacked)[None]  # (1, C) + bs
    bar_full = jnp.broadcast_to(bar, fac.g_col.shape[:1] + bar.shape[1:])
    y_bar = ops.row_solve_g(bar_full)  # A_r⁻¹ Ĝ v̄: the one row solve besides the CG's
    b = -fac.rho_col * fac.g_col * (bar - fac.rho_row * y_bar)
    cg = _schur_cg(ops, b, tol, max_steps)
    lam = cg.w
    # A_r⁻¹ Ĝ (v̄ + λ) = y_bar + A_r⁻¹ Ĝ λ, the latter from the final residual check (cg.yw).
    phi = bar - fac.rho_row * (y_bar + cg.yw) + lam
    return bar, bar_ref, phi, cg


class _Core(NamedTuple):
    currents: jax.Array  # (B, C) A
    u: jax.Array  # row voltages: (R, C) + bs scaled (column layout), (B, R, C) V or None
    w: jax.Array  # column voltages, likewise (see _solve_core's ``voltages``)
    residual: jax.Array  # (B,)
    iterations: jax.Array  # (B,)
    status: jax.Array  # (B,)
    fac: _Factors
    g_ref: jax.Array  # () S
    v_ref: jax.Array  # (B,) V


def _forward_core(fac: _Factors, g_ref, v_flat, tol, max_steps, *, parallel: bool, rows_in_place: bool,
                  voltages: str) -> _Core:
    nvec = v_flat.shape[0]
    _, v_ref, u, cg = _forward(_Ops(fac, parallel, rows_in_place), v_flat, tol, max_steps)
    w = cg.w
    currents = _from_layout(jnp.sum(fac.g_col * (u - w), axis=0), nvec) * (g_ref * v_ref[:, None])
    if voltages == "volts":
        u, w = (_from_layout(x, nvec) * v_ref[:, None, None] for x in (u, w))
    elif voltages == "none":
        u = w = None
    return _Core(currents, u, w, _per_vector(cg.residual, nvec), _per_vector(cg.iterations, nvec),
                 _per_vector(cg.status, nvec), fac, g_ref, v_ref)


@partial(jax.jit, static_argnames=("parallel", "coarse", "voltages"))
def _solve_core(conductance, v_flat, r_row, r_col, tol, max_steps, *, parallel: bool,
                coarse: tuple[int, int] = (0, 0),
                voltages: Literal["internal", "volts", "none"] = "internal") -> _Core:
    """Factorise and solve for a flat batch ``v_flat`` (B, R) in one jitted call.

    All arguments but the keywords are arrays. ``coarse``: numbers of coarse modes
    along columns and rows. ``voltages``: node voltages returned scaled in the internal
    layout (``"internal"``, what :func:`.implicit._adjoint` needs), in volts as
    ``(B, R, C)`` (``"volts"``; the transpose is fused into the last pass over them) or
    not at all (``"none"``).
    """
    nvec = v_flat.shape[0]
    parallel, in_place = _modes(parallel, nvec)
    fac, g_ref = _factorise(conductance, r_row, r_col, nbatch=0 if nvec == 1 else 1, parallel=parallel,
                            rows_in_place=in_place, coarse=coarse)
    return _forward_core(fac, g_ref, v_flat, tol, max_steps, parallel=parallel, rows_in_place=in_place,
                         voltages=voltages)


@partial(jax.jit, static_argnames=("nbatch", "parallel", "rows_in_place", "coarse"))
def _prepare_core(conductance, r_row, r_col, *, nbatch, parallel, rows_in_place, coarse):
    return _factorise(conductance, r_row, r_col, nbatch=nbatch, parallel=parallel,
                      rows_in_place=rows_in_place, coarse=coarse)


# ----------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------
class PreparedCrossbar(eqx.Module):
    """The factorised network of one conductance array (a pytree; see :func:`prepare_crossbar`).

    Attributes:
        conductance: cell conductances, S, ``(rows, cols)``.
        r_row: row-wire resistance per segment, Ω, scalar.
        r_col: column-wire resistance per segment, Ω, scalar.
        g_ref: conductance scale of the factors, ``max(conductance)``, S, scalar.
        factors: line pivots, drive profile and coarse space in units of ``g_ref``
            (internal layout, batch last); ``None`` with zero wire resistance.
        tol: relative tolerance of every solve on it, scalar.
        max_steps: bound on the CG iterations of every solve on it, int32 scalar.
        batch: number of input vectors per solve the factor layout is made for (static).
        parallel: line solves by associative scans (accelerators) rather than
            sequential scans (static).
        rows_in_place: row lines solved in place, the CPU layout for 16 or more
            vectors (static).
        coarse: coarse modes ``(k_i, k_j)``, ``(0, 0)`` when off (static).
        ideal: zero wire resistance: solves are exact matrix products (static).
    """

    conductance: jax.Array
    r_row: jax.Array
    r_col: jax.Array
    g_ref: jax.Array
    factors: _Factors | None
    tol: jax.Array
    max_steps: jax.Array
    batch: int = eqx.field(static=True)
    parallel: bool = eqx.field(static=True)
    rows_in_place: bool = eqx.field(static=True)
    coarse: tuple[int, int] = eqx.field(static=True)
    ideal: bool = eqx.field(static=True)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the array."""
        return self.conductance.shape[-2:]


def prepare_crossbar(conductance, *, r_row, r_col, batch: int = 1, tol: float | None = None,
                     max_steps: int = DEFAULT_MAX_STEPS, method: Method = "auto",
                     coarse_modes: int | tuple[int, int] | None = None) -> PreparedCrossbar:
    """Factorise the network of one crossbar once, for any number of later reads.

    Args:
        conductance: cell conductances, S, shape ``(rows, cols)``; positive and finite.
            Its dtype (float32 or float64) is the dtype of every solve.
        r_row: resistance of one row-wire segment, Ω, scalar ≥ 0.
        r_col: resistance of one column-wire segment, Ω, scalar ≥ 0.
        batch: number of input vectors each later solve carries (``prod`` of the
            leading shape of ``v_rows``/``v_cols``): the factor layout depends on it.
            A solve with another number of vectors works when it needs the same layout
            (one vector, or several on the same side of the CPU in-place threshold of
            16) and raises ``ValueError`` otherwise.
        tol: relative tolerance on the true preconditioned residual of every solve.
            Default: 1e-10 in float64, 1e-5 in float32.
        max_steps: bound on the total number of CG iterations of every solve.
        method: ``"sequential"``, ``"parallel"`` or ``"auto"``, as for
            :func:`solve_crossbar`.
        coarse_modes: coarse-space size, as for :func:`solve_crossbar` (chosen for
            ``batch`` vectors when ``None`` and the inputs are concrete; off when
            traced, so pass it explicitly under ``jit``/``vmap``).

    Returns:
        :class:`PreparedCrossbar`, a pytree: pass it to :func:`solve_prepared` (forward
        read) and :func:`solve_transposed` (transposed read), inside or outside ``jit``,
        stacked under ``vmap``. With ``r_row = r_col = 0`` (concrete) nothing is
        factorised and the solves are exact matrix products.

    >>> import jax.numpy as jnp
    >>> prep = prepare_crossbar(jnp.full((4, 3), 1e-6), r_row=1.0, r_col=1.0, batch=2)
    >>> solve_prepared(prep, jnp.ones((2, 4))).column_currents.shape
    (2, 3)
    >>> solve_transposed(prep, jnp.ones((2, 3))).row_currents.shape
    (2, 4)
    """
    _check_options(method=method)
    conductance = _check_conductance_shape(conductance)
    dtype = _check_float_dtype(jnp.result_type(conductance, jnp.float32), "conductance")
    _check_resistances(r_row, r_col)
    check_positive("conductance", conductance)
    tol, max_steps = _check_tol_steps(tol, max_steps, dtype)
    batch = check_int("batch", batch, minimum=1)
    conductance = conductance.astype(dtype)
    r_row, r_col = jnp.asarray(r_row, dtype), jnp.asarray(r_col, dtype)
    parallel, in_place = _modes(_parallel_mode(method), batch)
    ideal = _both_zero(r_row, r_col)
    if ideal:
        coarse, factors, g_ref = (0, 0), None, _g_scale(conductance)
    else:
        coarse = _coarse_modes(conductance, r_row, r_col, coarse_modes, batch)
        factors, g_ref = _prepare_core(conductance, r_row, r_col, nbatch=0 if batch == 1 else 1,
                                       parallel=parallel, rows_in_place=in_place, coarse=coarse)
    return PreparedCrossbar(conductance, r_row, r_col, g_ref, factors, tol, max_steps,
                            batch=batch, parallel=parallel, rows_in_place=in_place, coarse=coarse,
                            ideal=ideal)


def _check_batch(prepared: PreparedCrossbar, nvec: int, name: str) -> None:
    if prepared.ideal or nvec == prepared.batch:
        return
    same_layout = ((nvec > 1) == (prepared.batch > 1)
                   and _modes(prepared.parallel, nvec)[1] == prepared.rows_in_place)
    if not same_layout:
        raise ValueError(f"{name} holds {nvec} input vector(s) but the crossbar was prepared for "
                         f"batch={prepared.batch} (another factor layout); call prepare_crossbar(..., batch={nvec})")


def _drive(prepared: PreparedCrossbar, v, n: int, name: str, axis_name: str, max_chunk: int | None = None):
    """``(v, batch)``: ``v`` checked and cast, ``batch`` its shape between the stack of
    arrays (``prepared.conductance.shape[:-2]``, ``()`` for one array) and the last axis.
    The factor layout is checked against the number of vectors one solve carries (at
    most ``max_chunk``, see :func:`_chunked`)."""
    v = _check_drive_shape(v, n, name, axis_name)
    _check_finite_drive(v, name)
    stack = prepared.conductance.shape[:-2]
    if v.shape[:len(stack)] != stack:
        raise ValueError(f"{name} must have shape stack + batch + ({n},) with stack = {stack} (the "
                         f"stack of prepared arrays), got shape {v.shape}")
    batch = v.shape[len(stack):-1]
    _check_batch(prepared, _chunk_size(math.prod(batch), max_chunk)[1], name)
    return v.astype(prepared.conductance.dtype), batch


def _ideal_power(v, line_g):
    """All power in the cells: ``Σ_k V_k² Σ G`` over the driven lines ``k``."""
    p = jnp.matmul(v**2, line_g, precision=_HIGHEST)
    zero = jnp.zeros_like(p)
    return PowerBalance(p, p, zero, zero)


def _outputs(prepared, currents, power, cg_like, batch, n_out):
    scaled = tuple(x.reshape(batch) for x in power)
    return (currents.reshape(batch + (n_out,)), PowerBalance(*scaled),
            cg_like[0].reshape(batch), cg_like[1].reshape(batch), cg_like[2].reshape(batch))


def _core_setup(prepared: PreparedCrossbar, v_flat):
    """``(ops, tol, max_steps, g_ref, nvec, stacked)`` of a solve of ``v_flat``: ``(B, n)``
    on one prepared array, or ``(K, B, n)`` on a stack of ``K`` (every leaf of
    ``prepared`` with a leading axis ``K``), solved together in the stacked layout."""
    stacked = v_flat.ndim == 3
    fac, nvec = prepared.factors, v_flat.shape[-2]
    tol, max_steps, g_ref = prepared.tol, prepared.max_steps, prepared.g_ref
    if stacked:
        nbatch = 0 if nvec == 1 else 1
        fac = _stacked(fac, nbatch)
        tol = jnp.reshape(tol, tol.shape[:1] + (1,) * nbatch)  # per array, against (K,) + bs
        max_steps = jnp.min(max_steps)  # the bound of the one loop (equal in a stack)
        g_ref = g_ref[:, None]  # against (K, B)
    return _Ops(fac, prepared.parallel, prepared.rows_in_place), tol, max_steps, g_ref, nvec, stacked


@jax.jit
def _solve_prepared_core(prepared: PreparedCrossbar, v_flat):
    ops, tol, max_steps, g_ref, nvec, stacked = _core_setup(prepared, v_flat)
    fac = ops.fac
    v, v_ref, u, cg = _forward(ops, v_flat, tol, max_steps, stacked)
    cell_v = u - cg.w
    currents = _from_layout(jnp.sum(fac.g_col * cell_v, axis=0), nvec, stacked) * (g_ref * v_ref)[..., None]
    scale = g_ref * v_ref**2
    power = tuple(p * scale for p in _network_power(fac, v, 1, cell_v, nvec, stacked))
    return currents, power, _per_vector_out(cg, nvec, stacked)


@jax.jit
def _solve_transposed_core(prepared: PreparedCrossbar, v_flat):
    ops, tol, max_steps, g_ref, nvec, stacked = _core_setup(prepared, v_flat)
    fac = ops.fac
    bar, bar_ref, phi, cg = _transposed(ops, v_flat, tol, max_steps, stacked)
    currents = _from_layout(jnp.sum(fac.g_col * phi, axis=1), nvec, stacked) * (g_ref * bar_ref)[..., None]
    scale = g_ref * bar_ref**2
    power = tuple(p * scale for p in _network_power(fac, bar, 0, phi, nvec, stacked))
    return currents, power, _per_vector_out(cg, nvec, stacked)


#: Most input vectors one solve carries on the CPU path: a read of more is solved in
#: near-equal chunks of at most this many, one after another (``lax.map``; every vector
#: is solved on its own anyway). Measured on the default training's first layer (two
#: 392 × 100 tiles of two arrays, float32, this CPU): a read of 1000 vectors took 1.7 s
#: in chunks of 50, 1.8 s of 100, 2.3 s of 250 and 3.7–3.9 s in one piece (whose
#: buffers, ~0.3 GB each, no longer stay in cache and are page-faulted in every call).
_MAX_CHUNK = 64


def _chunk_size(nvec: int, max_chunk: int | None) -> tuple[int, int]:
    """``(chunks, size)``: ``nvec`` vectors in near-equal chunks of at most ``max_chunk``
    (None: one chunk)."""
    if max_chunk is None or nvec <= max_chunk:
        return 1, nvec
    chunks = -(-nvec // max_chunk)
    return chunks, -(-nvec // chunks)


def _default_chunk(prepared: PreparedCrossbar) -> int | None:
    """:data:`_MAX_CHUNK` on the CPU path, None (one piece) on accelerators."""
    return None if prepared.parallel else _MAX_CHUNK


def _chunked(core, prepared: PreparedCrossbar, v_flat, max_chunk: int | None):
    """``core(prepared, v_flat)`` for ``v_flat`` ``(B, n)`` or ``(K, B, n)``, in near-equal
    chunks of at most ``max_chunk`` vectors (padded with zero vectors, which converge
    with no iteration, and trimmed again)."""
    nvec = v_flat.shape[-2]
    chunks, size = _chunk_size(nvec, max_chunk)
    if chunks == 1:
        return core(prepared, v_flat)
    lead = v_flat.ndim - 2  # 1 with a stack of arrays
    v = jnp.pad(v_flat, [(0, 0)] * lead + [(0, chunks * size - nvec), (0, 0)])
    v = jnp.moveaxis(v.reshape(v.shape[:lead] + (chunks, size, v.shape[-1])), lead, 0)
    out = lax.map(lambda vc: core(prepared, vc), v)  # every leaf (chunks,) + lead + (size,) + tail

    def merge(x):
        x = jnp.moveaxis(x, 0, lead)
        x = x.reshape(x.shape[:lead] + (chunks * size,) + x.shape[lead + 2:])
        return lax.slice_in_dim(x, 0, nvec, axis=lead)

    return jax.tree.map(merge, out)


def _per_vector_out(cg: _CGOut, nvec: int, stacked: bool = False):
    return tuple(_per_vector(x, nvec, stacked) for x in (cg.residual, cg.iterations, cg.status))


def solve_prepared(prepared: PreparedCrossbar, v_rows, *, on_failure: OnFailure = "raise") -> ForwardSolution:
    """Forward read of a prepared crossbar: rows driven, column currents, and its power.

    Args:
        prepared: from :func:`prepare_crossbar`, or a stack of them (``jax.vmap`` of
            :func:`prepare_crossbar`, every leaf with leading axes ``stack``), all read
            in one solve (package docstring).
        v_rows: driver voltages, V, shape ``batch + (rows,)`` (a stack: ``stack + batch
            + (rows,)``) with ``prod(batch) == prepared.batch`` (see
            :func:`prepare_crossbar` for other sizes); cast to the prepared dtype. On
            the CPU more than 64 vectors are solved in chunks of at most 64.
        on_failure: ``"raise"``, ``"warn"`` or ``"ignore"``, as for :func:`solve_crossbar`.

    Returns:
        :class:`ForwardSolution`: ``column_currents`` (A, ``batch + (cols,)``, equal to
        :func:`solve_crossbar`'s), ``power`` (:class:`PowerBalance`, W, each ``batch``,
        from this solve's own node voltages: no second solve), ``residual``,
        ``iterations``, ``status`` (each ``batch``). No factorisation happens here.
    """
    return _read(prepared, v_rows, on_failure, transposed=False)


def solve_transposed(prepared: PreparedCrossbar, v_cols, *, on_failure: OnFailure = "raise") -> TransposedSolution:
    """Transposed read of a prepared crossbar: columns driven, row currents, and its power.

    The same physical network read the other way: column ``j`` driven by ``v_cols[..., j]``
    at its read end (below the last row, through one ``r_col`` segment), every row held
    at 0 V at its driver end (before column 0, through one ``r_row`` segment), the
    current out of each row's driver end read. By reciprocity this is the exact
    transpose of the forward transfer (``row_currents = v_cols @ Tᵀ`` where
    ``column_currents = v_rows @ T``); it is the backward pass of analog training, and
    it reuses the prepared factors (no factorisation here).

    Args:
        prepared: from :func:`prepare_crossbar`, or a stack of them (as for
            :func:`solve_prepared`).
        v_cols: column driver voltages, V, shape ``batch + (cols,)`` (a stack: ``stack +
            batch + (cols,)``) with ``prod(batch) == prepared.batch``; cast to the
            prepared dtype.
        on_failure: ``"raise"``, ``"warn"`` or ``"ignore"``, as for :func:`solve_crossbar`.

    Returns:
        :class:`TransposedSolution`: ``row_currents`` (A, ``batch + (rows,)``,
        ``v_cols @ conductance.T`` without wire resistance), ``power``
        (:class:`PowerBalance`, W, each ``batch``; ``source`` from the column drivers),
        ``residual``, ``iterations``, ``status`` (each ``batch``).
    """
    return _read(prepared, v_cols, on_failure, transposed=True)


def transfer_matrix(prepared: PreparedCrossbar, *, on_failure: OnFailure = "raise") -> jax.Array:
    """The transfer matrix ``T`` of a prepared crossbar's network, S: the forward read of
    any ``v_rows`` is ``column_currents = v_rows @ T`` and, by reciprocity, the
    transposed read of any ``v_cols`` is ``row_currents = v_cols @ T.T``.

    The network is linear, so ``T`` is its reads of unit drives: ``min(rows, cols)``
    solves, each to the prepared tolerance relative to its own drive (transposed reads
    of every column when ``cols ≤ rows``, else forward reads of every row), on the
    prepared factors. Worth it when more input vectors than that are read on one
    conductance array and their power is not needed (a read of ``v`` through ``T`` has
    errors up to ``tol`` relative to ``|v| @ |T|``, a solve of ``v`` up to ``tol``
    relative to its own answer). ``prepared`` may be a stack (``jax.vmap`` of
    :func:`prepare_crossbar`): ``T`` then has shape ``stack + (rows, cols)``. Without
    wire resistance ``T`` is the conductance array.

    >>> import jax.numpy as jnp
    >>> prep = prepare_crossbar(jnp.full((4, 3), 1e-6), r_row=1.0, r_col=1.0, batch=2)
    >>> t = transfer_matrix(prep)
    >>> bool(jnp.allclose(jnp.ones((2, 4)) @ t, solve_prepared(prep, jnp.ones((2, 4))).column_currents, rtol=1e-5))
    True
    """
    _check_options(on_failure)
    rows, cols = prepared.shape
    stack = prepared.conductance.shape[:-2]
    if prepared.ideal:
        return prepared.conductance
    transposed = cols <= rows
    n = cols if transposed else rows
    # the unit drives, padded with zero vectors to a number of vectors per solve whose
    # factor layout is the prepared one (one at a time when prepared for one vector)
    if prepared.batch == 1:
        nb, max_chunk = n, 1
    elif prepared.rows_in_place:
        nb, max_chunk = max(n, _IN_PLACE_MIN_BATCH), _default_chunk(prepared)
    else:
        nb, max_chunk = max(n, 2), None if prepared.parallel else _IN_PLACE_MIN_BATCH - 1
    eye = jnp.broadcast_to(jnp.eye(nb, n, dtype=prepared.conductance.dtype), stack + (nb, n))
    sol = _read(prepared, eye, on_failure, transposed=transposed, max_chunk=max_chunk)
    if transposed:  # row j of the transposed reads: the currents of every row for column j
        return jnp.swapaxes(sol.row_currents[..., :n, :], -1, -2)
    return sol.column_currents[..., :n, :]


def _read(prepared: PreparedCrossbar, v, on_failure, *, transposed: bool, max_chunk: int | None | str = "default"):
    """The forward (rows driven) or transposed (columns driven) read of ``v`` on the
    prepared network: the exact product without wire resistance, else the solve (in
    chunks of at most ``max_chunk`` vectors, by default :func:`_default_chunk`)."""
    _check_options(on_failure)
    rows, cols = prepared.shape
    max_chunk = _default_chunk(prepared) if max_chunk == "default" else max_chunk
    if transposed:
        n_in, n_out, cls, core = cols, rows, TransposedSolution, _solve_transposed_core
        v, batch = _drive(prepared, v, cols, "v_cols", "cols = conductance.shape[1]", max_chunk)
        g = jnp.swapaxes(prepared.conductance, -1, -2)
    else:
        n_in, n_out, cls, core = rows, cols, ForwardSolution, _solve_prepared_core
        v, batch = _drive(prepared, v, rows, "v_rows", "rows = conductance.shape[0]", max_chunk)
        g = prepared.conductance
    stack = prepared.conductance.shape[:-2]
    if stack:  # a stack of arrays (jax.vmap of prepare_crossbar): one solve of all of them
        k, nvec = math.prod(stack), math.prod(batch)
        flat = jax.tree.map(lambda x: jnp.reshape(x, (k,) + x.shape[len(stack):]), prepared)
        v_flat = v.reshape((k, nvec, n_in))
        if prepared.ideal:
            g = jnp.swapaxes(flat.conductance, -1, -2) if transposed else flat.conductance
            currents = jnp.einsum("kbi,kio->kbo", v_flat, g, precision=_HIGHEST)
            p = jnp.einsum("kbi,ki->kb", v_flat**2, jnp.sum(g, axis=-1), precision=_HIGHEST)
            zeros = jnp.zeros((k, nvec), jnp.int32)
            power, out = (p, p, jnp.zeros_like(p), jnp.zeros_like(p)), (jnp.zeros_like(p), zeros, zeros)
        else:
            currents, power, out = _chunked(core, flat, v_flat, max_chunk)
        sol = cls(*_outputs(prepared, currents, power, out, stack + batch, n_out), prepared.tol)
    elif prepared.ideal:
        zeros = jnp.zeros(batch, jnp.int32)
        sol = cls(jnp.matmul(v, g, precision=_HIGHEST), _ideal_power(v, jnp.sum(g, axis=1)),
                  jnp.zeros(batch, v.dtype), zeros, zeros, prepared.tol)
    else:
        currents, power, out = _chunked(core, prepared, v.reshape((-1, n_in)), max_chunk)
        sol = cls(*_outputs(prepared, currents, power, out, batch, n_out), prepared.tol)
    return _handle_failure(sol, on_failure)
