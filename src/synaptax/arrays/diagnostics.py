"""What IR drop does to a crossbar's reads: a diagnostic for reports.

A run with ``ir_drop=True`` solves the wire network of every tile exactly in every MVM,
but nothing it records says what the wires did.  :func:`ir_drop_effect` measures it
directly: for the same DAC-encoded input voltages it computes every tile's output
currents with the exact wire network and with ideal wires and reports how far the cells'
voltages and the outputs moved (:class:`IRDropEffect`; :func:`ir_drop_effect_report` for
a JSON report).

What is compared (and what is left out, so that the difference is the wires only):

* inputs: ``x`` encoded exactly as :meth:`Crossbar.forward` does (per-sample input
  scaling, DAC quantisation, ``× read_voltage``; :meth:`~synaptax.arrays.Tile.encode`),
  the *same* voltages for both cases;
* conductances: the cells' programmed conductances, without read noise (as
  :meth:`Crossbar.mvm_energy` takes them); both arrays of the mapping (the differential
  pair's ``G⁺`` and ``G⁻``, or the reference mapping's cells and its reference array, each
  a network of its own, as :meth:`~synaptax.arrays.Tile.read` solves them);
* outputs: the analog column currents of every physical tile, ``I_a − I_b`` [A], before the
  ADC (no ADC quantisation, saturation or noise), no bound management (the first read).

The exact network is solved with :func:`synaptax.circuits.irdrop.solve_crossbar`, the same
solver (and nodal model) as the training reads, whose :class:`IRDropSolution` exposes the
row- and column-node voltages ``u``, ``w`` of every cell; the voltage across cell
``(i, j)`` is ``u_ij − w_ij``, the voltage it would see with ideal wires the applied row
voltage ``V_i`` (the column held at its virtual ground, 0 V).  The reads of training
(:func:`~synaptax.circuits.irdrop.solve_prepared`, a ``ForwardSolution``) keep only the
currents and the power, not the node voltages, so a call solves every array of every tile
once more: about the cost of one IR-drop forward read of the batch.

Measured (float32, CPU): the first layer of a 784-100-10 MLP on ``reram-sb`` as training
initialises it (two 392 × 100 tiles, conductances 4.3–7.3 µS), 100 MNIST test images:
at 1.06 Ω per segment the largest cell-voltage shortfall is 30 mV (15 % of the 0.2 V
read voltage) and the layer's analog output is off by 29 % (relative, mostly a loss of
gain: the outputs shrink by ~28 %); 0.49 Ω: 16 mV, 16 %; 2.03 Ω: 47 mV, 43 %; 10 Ω:
98 mV, 77 %.  In units of the ADC full scale the error is small (RMS 0.3 %, max 1.7 % at
1.06 Ω), as the outputs are a small part of it.

The crossbar's own ``ir_drop`` setting is not used: a crossbar simulated with ideal wires
can be asked what its wires would have done (``r_row``/``r_col`` default to its tile's
wire resistances).
"""
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._checks import is_concrete
from ..circuits.irdrop import IRDropConvergenceError, IRDropStatus, solve_crossbar
from .crossbar import Crossbar
from .mapping import CrossbarState

_HIGHEST = jax.lax.Precision.HIGHEST


class IRDropCurrents(eqx.Module):
    """Every tile's output currents with and without wire resistance, for a batch of inputs.

    Shapes: ``batch`` is the leading shape of the inputs ``x`` (``()`` for one vector);
    ``n_row_tiles = crossbar.tile_grid[0]`` (the tiles along the inputs, whose partial
    outputs are summed digitally after their ADCs).

    Attributes:
        wires: output currents [A] with the exact wire network, ``I_a − I_b`` of each
            physical tile, ``batch + (n_row_tiles, out_features)`` (the column tiles laid
            side by side, padding columns dropped): what each ADC would digitise.
        ideal: the same with ideal wires, ``V @ G_a − V @ G_b`` per tile, same shape.
        voltage_drop: largest shortfall [V] of the voltage across a cell relative to the
            applied voltage, ``max |V_i − (u_ij − w_ij)|`` over all tiles, both arrays and
            all cells (padding cells of a padded tile included: they are part of its
            network), per input vector, ``batch``.
        applied: largest applied line voltage [V], ``max_i |V_i|``, per input vector, ``batch``.
        r_row, r_col: wire resistance per segment [Ω] used, scalars.
    """

    wires: Array
    ideal: Array
    voltage_drop: Array
    applied: Array
    r_row: Array
    r_col: Array


class IRDropEffect(eqx.Module):
    """Summary of :class:`IRDropCurrents` over a batch (all scalars, SI units).

    Attributes:
        max_voltage_drop: ``max |V_applied − (V_row − V_col)|`` [V] over all tiles, both
            arrays, all cells and all input vectors: the largest shortfall of a cell's
            voltage from the voltage it would see with ideal wires.
        max_voltage_drop_fraction: ``max_voltage_drop`` divided by the largest applied
            read voltage ``max |V_i|`` of the batch (dimensionless; 0 for an all-zero batch).
        output_error_rms: RMS over input vectors, tiles and outputs of the per-tile analog
            output error ``I_wires − I_ideal`` [A], divided by the ADC full-scale current
            ``full_scale_current`` (dimensionless, fraction of full scale).  Per tile,
            because each tile has its own ADCs, whose full scale is the natural unit.
        output_error_max: the largest ``|I_wires − I_ideal|`` of any tile output and input
            vector, divided by ``full_scale_current`` (dimensionless).
        relative_output_error: ``‖Σ_t I_wires − Σ_t I_ideal‖ / ‖Σ_t I_ideal‖`` (Frobenius
            norms over the batch and the outputs) of the layer's analog outputs, the tiles'
            currents summed over the row tiles ``t`` as the layer sums them (dimensionless;
            0 when both are zero, inf when only the ideal output is).
        r_row, r_col: wire resistance per segment [Ω] used, scalars.
        full_scale_current: the ADC full-scale current [A] of the normalisation
            (:attr:`Crossbar.full_scale_current`), scalar.
        tile_shape: ``(rows, cols)`` of one physical tile (static).
        tile_grid: number of tiles along rows and columns (static).
    """

    max_voltage_drop: Array
    max_voltage_drop_fraction: Array
    output_error_rms: Array
    output_error_max: Array
    relative_output_error: Array
    r_row: Array
    r_col: Array
    full_scale_current: Array
    tile_shape: tuple[int, int] = eqx.field(static=True)
    tile_grid: tuple[int, int] = eqx.field(static=True)


@partial(jax.jit, static_argnames="ideal_wires")
def _solve_array(g, v, r_row, r_col, ideal_wires: bool):
    """One array of one tile, for line voltages ``v`` (B, rows) [V]: its column currents
    with wires and with ideal wires (B, cols) [A], the largest cell-voltage shortfall (B,)
    [V] and the solver's status (B,).  One compilation per tile shape, whatever the
    resistances (traced); the coarse space of the solver is off (as in the training
    reads, where the conductances are traced too)."""
    ideal = jnp.matmul(v, g, precision=_HIGHEST)
    if ideal_wires:
        return ideal, ideal, jnp.zeros(v.shape[:1], v.dtype), jnp.zeros(v.shape[:1], jnp.int32)
    sol = solve_crossbar(g, v, r_row=r_row, r_col=r_col, on_failure="ignore")
    drop = jnp.max(jnp.abs(v[:, :, None] - (sol.row_voltages - sol.column_voltages)), axis=(-2, -1))
    return sol.column_currents, ideal, drop, sol.status


def _check_converged(status, payload):
    """Raise :class:`IRDropConvergenceError` if a solve did not converge (``equinox.error_if``
    under ``jit``); returns ``payload``."""
    if is_concrete(status):
        if np.any(np.asarray(status) != IRDropStatus.CONVERGED):
            raise IRDropConvergenceError("IR-drop solve of the diagnostic did not converge for "
                                         f"{int(np.sum(np.asarray(status) != 0))} (tile, array, vector) case(s)")
        return payload
    return eqx.error_if(payload, jnp.any(status != IRDropStatus.CONVERGED),
                        "IR-drop solve of the diagnostic did not converge")


def _resistances(crossbar: Crossbar, r_row, r_col):
    r_row = crossbar.tile.r_row if r_row is None else r_row
    r_col = crossbar.tile.r_col if r_col is None else r_col
    return r_row, r_col


def ir_drop_currents(crossbar: Crossbar, state: CrossbarState, x: ArrayLike, *, r_row: float | None = None,
                     r_col: float | None = None) -> IRDropCurrents:
    """Every tile's analog output currents for inputs ``x`` with the exact wire network and
    with ideal wires (module docstring: what is compared).

    Args:
        crossbar: the crossbar (any tiling, either mapping; its ``ir_drop`` flag is not used).
        state: its :class:`~synaptax.arrays.CrossbarState`.
        x: inputs ``batch + (in_features,)`` in the layer's input units (what
            :meth:`Crossbar.forward` takes).
        r_row, r_col: wire resistance per cell segment [Ω]; default the tile's.

    Returns:
        :class:`IRDropCurrents`.  Solves every tile's networks once (both arrays) with
        :func:`~synaptax.circuits.irdrop.solve_crossbar`, raising
        :class:`~synaptax.circuits.irdrop.IRDropConvergenceError` (``equinox.error_if``
        under ``jit``) if a solve does not converge.  Works under
        ``eqx.filter_jit`` (the crossbar static).  Each tile's solve is compiled once per
        tile shape and batch size (the resistances are traced), without the solver's
        coarse space (as in the training reads).  With ``r_row = r_col = 0`` (concrete)
        nothing is solved: the wire currents are the ideal ones exactly.
    """
    tile = crossbar.tile
    r_row, r_col = _resistances(crossbar, r_row, r_col)
    volts, _ = tile.encode(x, tile.in_features, "x")
    batch = volts.shape[:-1]
    padded = tile._pad_input(volts, transposed=False).reshape((-1, tile.padded_shape[0]))  # (B, rows_p)
    g_a, g_b = crossbar.mapping.arrays(crossbar.device, state, crossbar.g_ref)
    dtype = jnp.result_type(g_a, g_b, padded, jnp.float32)
    g_a, g_b, padded = g_a.astype(dtype), g_b.astype(dtype), padded.astype(dtype)
    (nr, nc), (tr, tc) = tile.tile_grid, tile.tile_shape

    r_row_a, r_col_a = jnp.asarray(r_row, dtype), jnp.asarray(r_col, dtype)
    ideal_wires = is_concrete((r_row_a, r_col_a)) and float(r_row_a) == 0.0 and float(r_col_a) == 0.0
    wires, ideal, drops, status = [], [], [], []
    for r in range(nr):
        v = padded[:, r * tr:(r + 1) * tr]  # (B, tr)
        w_row, i_row = [], []
        for c in range(nc):
            cells = (slice(r * tr, (r + 1) * tr), slice(c * tc, (c + 1) * tc))
            (wa, ia, da, sa), (wb, ib, db, sb) = (_solve_array(g[cells], v, r_row_a, r_col_a, ideal_wires)
                                                  for g in (g_a, g_b))
            # each array's current, then the difference (as the ADC of a differential read
            # sees it): exactly the wire currents when the resistances are zero
            w_row.append(wa - wb)
            i_row.append(ia - ib)
            drops += [da, db]
            status += [sa, sb]
        wires.append(jnp.concatenate(w_row, axis=-1)[:, : tile.out_features])
        ideal.append(jnp.concatenate(i_row, axis=-1)[:, : tile.out_features])
    wires, ideal = _check_converged(jnp.stack(status), (jnp.stack(wires, axis=1), jnp.stack(ideal, axis=1)))

    def shape(a):  # (B, ...) -> batch + (...)
        return a.reshape(batch + a.shape[1:])

    applied = jnp.max(jnp.abs(padded), axis=-1)
    return IRDropCurrents(shape(wires), shape(ideal), shape(jnp.max(jnp.stack(drops), axis=0)), shape(applied),
                          r_row_a, r_col_a)


def summarise_ir_drop(currents: IRDropCurrents, *, full_scale_current, tile_shape: tuple[int, int],
                      tile_grid: tuple[int, int]) -> IRDropEffect:
    """The :class:`IRDropEffect` of :class:`IRDropCurrents` (``full_scale_current`` [A]:
    the ADC full scale of the normalisation)."""
    i_fs = jnp.asarray(full_scale_current, currents.wires.dtype)
    err = currents.wires - currents.ideal  # batch + (n_tr, out)
    max_drop = jnp.max(currents.voltage_drop)
    v_max = jnp.max(currents.applied)
    fraction = jnp.where(v_max > 0, max_drop / jnp.where(v_max > 0, v_max, 1), 0.0)
    out_err = jnp.sum(err, axis=-2)
    num = jnp.sqrt(jnp.sum(out_err**2))
    den = jnp.sqrt(jnp.sum(jnp.sum(currents.ideal, axis=-2) ** 2))
    relative = jnp.where(den > 0, num / jnp.where(den > 0, den, 1), jnp.where(num > 0, jnp.inf, 0.0))
    return IRDropEffect(max_voltage_drop=max_drop, max_voltage_drop_fraction=fraction,
                        output_error_rms=jnp.sqrt(jnp.mean(err**2)) / i_fs,
                        output_error_max=jnp.max(jnp.abs(err)) / i_fs,
                        relative_output_error=relative, r_row=currents.r_row, r_col=currents.r_col,
                        full_scale_current=i_fs, tile_shape=tuple(tile_shape), tile_grid=tuple(tile_grid))


def ir_drop_effect(crossbar: Crossbar, state: CrossbarState, x: ArrayLike, *, r_row: float | None = None,
                   r_col: float | None = None) -> IRDropEffect:
    """What the wires do to a crossbar's reads of ``x``: the :class:`IRDropEffect`.

    Args:
        crossbar: a :class:`~synaptax.arrays.Crossbar`, tiled or not, either mapping (its
            ``ir_drop`` flag is not used: ideal-wire runs can be asked too).
        state: its :class:`~synaptax.arrays.CrossbarState`.
        x: a batch of inputs ``(batch, in_features)`` (any leading shape) in the layer's
            input units, as :meth:`Crossbar.forward` takes them.
        r_row, r_col: wire resistance per cell segment [Ω]; default the crossbar's tile's.

    Returns:
        :class:`IRDropEffect`: the largest cell-voltage shortfall [V] and its fraction of
        the largest applied voltage, the per-tile output error relative to the ADC full
        scale (RMS and max) and the relative error of the layer's analog output, for the
        same DAC-encoded voltages with the exact wire network and with ideal wires (see
        the module docstring for what is left out).  Works under ``eqx.filter_jit``.

    >>> from synaptax.arrays import Crossbar
    >>> from synaptax.devices import get_preset
    >>> import jax
    >>> xb = Crossbar(get_preset("ideal"), 8, 4)
    >>> state = xb.init(key=jax.random.key(0))
    >>> e = ir_drop_effect(xb, state, jax.numpy.ones((2, 8)), r_row=0.0, r_col=0.0)
    >>> float(e.max_voltage_drop), float(e.output_error_max)
    (0.0, 0.0)
    """
    currents = ir_drop_currents(crossbar, state, x, r_row=r_row, r_col=r_col)
    return summarise_ir_drop(currents, full_scale_current=crossbar.full_scale_current,
                             tile_shape=crossbar.tile_shape, tile_grid=crossbar.tile_grid)


def _plain(value) -> float:
    """A scalar as a Python float, written with the fewest digits that identify it in its
    own dtype (a float32 ``1.06`` reports as ``1.06``, not ``1.059999942779541``)."""
    return float(str(np.asarray(value)[()]))


def ir_drop_effect_report(effect: IRDropEffect) -> dict:
    """Plain floats with unit-suffixed keys, for a JSON report: ``max_voltage_drop_V``,
    ``max_voltage_drop_fraction``, ``output_error_rms_fs`` and ``output_error_max_fs``
    (fractions of the ADC full scale), ``relative_output_error``, ``r_row_ohm``,
    ``r_col_ohm``, ``full_scale_current_A``, and the tiling as ``tile_rows``,
    ``tile_cols``, ``n_row_tiles``, ``n_col_tiles`` (ints).  Each float is written with
    the fewest digits that identify it in the dtype it was computed in."""
    return {
        "max_voltage_drop_V": _plain(effect.max_voltage_drop),
        "max_voltage_drop_fraction": _plain(effect.max_voltage_drop_fraction),
        "output_error_rms_fs": _plain(effect.output_error_rms),
        "output_error_max_fs": _plain(effect.output_error_max),
        "relative_output_error": _plain(effect.relative_output_error),
        "r_row_ohm": _plain(effect.r_row),
        "r_col_ohm": _plain(effect.r_col),
        "full_scale_current_A": _plain(effect.full_scale_current),
        "tile_rows": int(effect.tile_shape[0]),
        "tile_cols": int(effect.tile_shape[1]),
        "n_row_tiles": int(effect.tile_grid[0]),
        "n_col_tiles": int(effect.tile_grid[1]),
    }


__all__ = ["IRDropCurrents", "IRDropEffect", "ir_drop_currents", "ir_drop_effect", "ir_drop_effect_report",
           "summarise_ir_drop"]
