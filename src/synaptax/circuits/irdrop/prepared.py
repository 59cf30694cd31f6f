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
from .lines import _modes
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
    _to_layout,
    _v_scale,
)
from .preconditioner import _coarse_modes
from .results import ForwardSolution, PowerBalance, TransposedSolution, _handle_failure

__all__ = ["PreparedCrossbar", "prepare_crossbar", "solve_prepared", "solve_transposed"]


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


def _forward(ops: _Ops, v_flat, tol, max_steps):
    """Forward read of ``v_flat`` (B, R) V on factored ``ops``, scaled.

    Returns ``(v, v_ref, u, cg)``: ``v`` the scaled drive ``(R, 1) + bs``, ``v_ref``
    (B,) V, ``u`` the scaled row-node voltages and ``cg.w`` the column-node voltages,
    both ``(R, C) + bs`` in column layout (units of ``v_ref``).
    """
    fac = ops.fac
    v_ref = _v_scale(v_flat)
    v = _to_layout(v_flat / v_ref[:, None])[:, None]  # (R, 1) + bs
    # Row voltages with the columns held at 0 V: u0 = v A_r⁻¹ e_0 (per array); S w = ρ_c Ĝ u0.
    cg = _schur_cg(ops, fac.rho_col * fac.g_col * (v * fac.drive), tol, max_steps)
    # u = A_r⁻¹(v e_0 + ρ_r Ĝ w), with A_r⁻¹ Ĝ w from the final residual check.
    u = v * fac.drive + fac.rho_row * cg.yw
    return v, v_ref, u, cg


def _transposed(ops: _Ops, v_flat, tol, max_steps):
    """Transposed read (= adjoint solve) of ``v_flat`` (B, C) on factored ``ops``, scaled.

    Columns driven at their read end by ``v_flat``, rows at 0 V at their driver end.
    With ``x`` the column-node and ``y`` the row-node voltages, ``S x = v e_{R−1}`` and
    ``y = ρ_r A_r⁻¹ Ĝ x``. Written as ``x = v̄ + λ`` (``v̄`` constant down each column,
    and ``S v̄ = v e_{R−1} − b`` exactly since ``L_c v̄ = v e_{R−1}``), CG solves
    ``S λ = b = −ρ_c Ĝ (v̄ − ρ_r A_r⁻¹ Ĝ v̄)`` and the cell voltage is
    ``φ = x − y = v̄ − ρ_r A_r⁻¹ Ĝ (v̄ + λ) + λ``: the same system and the same factors
    as the forward read, and the adjoint cell factor of :func:`.implicit._adjoint`.

    Returns ``(bar, bar_ref, phi, cg)``: ``bar`` the scaled drive ``(1, C) + bs``,
    ``bar_ref`` (B,) its scale, ``phi`` ``(R, C) + bs`` in column layout.
    """
    fac = ops.fac
    bar_ref = _v_scale(v_flat)
    bar = _to_layout(v_flat / bar_ref[:, None])[None]  # (1, C) + bs
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


def _drive(prepared: PreparedCrossbar, v, n: int, name: str, axis_name: str):
    v = _check_drive_shape(v, n, name, axis_name)
    _check_finite_drive(v, name)
    batch = v.shape[:-1]
    _check_batch(prepared, math.prod(batch), name)
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


@jax.jit
def _solve_prepared_core(prepared: PreparedCrossbar, v_flat):
    fac, nvec = prepared.factors, v_flat.shape[0]
    ops = _Ops(fac, prepared.parallel, prepared.rows_in_place)
    v, v_ref, u, cg = _forward(ops, v_flat, prepared.tol, prepared.max_steps)
    cell_v = u - cg.w
    currents = _from_layout(jnp.sum(fac.g_col * cell_v, axis=0), nvec) * (prepared.g_ref * v_ref[:, None])
    scale = prepared.g_ref * v_ref**2
    power = tuple(p * scale for p in _network_power(fac, v, 1, cell_v, nvec))
    return currents, power, _per_vector_out(cg, nvec)


@jax.jit
def _solve_transposed_core(prepared: PreparedCrossbar, v_flat):
    fac, nvec = prepared.factors, v_flat.shape[0]
    ops = _Ops(fac, prepared.parallel, prepared.rows_in_place)
    bar, bar_ref, phi, cg = _transposed(ops, v_flat, prepared.tol, prepared.max_steps)
    currents = _from_layout(jnp.sum(fac.g_col * phi, axis=1), nvec) * (prepared.g_ref * bar_ref[:, None])
    scale = prepared.g_ref * bar_ref**2
    power = tuple(p * scale for p in _network_power(fac, bar, 0, phi, nvec))
    return currents, power, _per_vector_out(cg, nvec)


def _per_vector_out(cg: _CGOut, nvec: int):
    return tuple(_per_vector(x, nvec) for x in (cg.residual, cg.iterations, cg.status))


def solve_prepared(prepared: PreparedCrossbar, v_rows, *, on_failure: OnFailure = "raise") -> ForwardSolution:
    """Forward read of a prepared crossbar: rows driven, column currents, and its power.

    Args:
        prepared: from :func:`prepare_crossbar`.
        v_rows: driver voltages, V, shape ``batch + (rows,)`` with
            ``prod(batch) == prepared.batch`` (see :func:`prepare_crossbar` for other
            sizes); cast to the prepared dtype.
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
        prepared: from :func:`prepare_crossbar`.
        v_cols: column driver voltages, V, shape ``batch + (cols,)`` with
            ``prod(batch) == prepared.batch``; cast to the prepared dtype.
        on_failure: ``"raise"``, ``"warn"`` or ``"ignore"``, as for :func:`solve_crossbar`.

    Returns:
        :class:`TransposedSolution`: ``row_currents`` (A, ``batch + (rows,)``,
        ``v_cols @ conductance.T`` without wire resistance), ``power``
        (:class:`PowerBalance`, W, each ``batch``; ``source`` from the column drivers),
        ``residual``, ``iterations``, ``status`` (each ``batch``).
    """
    return _read(prepared, v_cols, on_failure, transposed=True)


def _read(prepared: PreparedCrossbar, v, on_failure, *, transposed: bool):
    """The forward (rows driven) or transposed (columns driven) read of ``v`` on the
    prepared network: the exact product without wire resistance, else the solve."""
    _check_options(on_failure)
    rows, cols = prepared.shape
    if transposed:
        n_in, n_out, cls, core = cols, rows, TransposedSolution, _solve_transposed_core
        v, batch = _drive(prepared, v, cols, "v_cols", "cols = conductance.shape[1]")
        g = prepared.conductance.T
    else:
        n_in, n_out, cls, core = rows, cols, ForwardSolution, _solve_prepared_core
        v, batch = _drive(prepared, v, rows, "v_rows", "rows = conductance.shape[0]")
        g = prepared.conductance
    if prepared.ideal:
        zeros = jnp.zeros(batch, jnp.int32)
        sol = cls(jnp.matmul(v, g, precision=_HIGHEST), _ideal_power(v, jnp.sum(g, axis=1)),
                  jnp.zeros(batch, v.dtype), zeros, zeros, prepared.tol)
    else:
        currents, power, out = core(prepared, v.reshape((-1, n_in)))
        sol = cls(*_outputs(prepared, currents, power, out, batch, n_out), prepared.tol)
    return _handle_failure(sol, on_failure)
