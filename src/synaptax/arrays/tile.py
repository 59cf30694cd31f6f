"""A tile: conductances → currents through the DAC, the array (ideal wires or the exact
IR-drop network), read noise and the ADC, with the energy of each read.

Orientation (kept throughout synaptax): a crossbar's **rows are its inputs** (driven by the
DAC voltages) and its **columns its outputs** (currents into the ADCs), so conductance
arrays have shape ``(rows, cols) = (in_features, out_features)`` and the column currents
are ``I = V @ G``.

Tiling: arrays larger than ``max_tile_size`` (default 512 × 512) are split into a grid of
equal physical tiles (padded with unused cells when the size does not divide); each tile
has its own converters, partial outputs are summed digitally.

A read (:meth:`Tile.read`) takes the conductances once — with IR drop the network of every
physical tile is *prepared* (factorised) once, see
:func:`synaptax.circuits.irdrop.prepare_crossbar` — and serves any number of MVMs: the
forward read ``y = W x`` (:meth:`Tile.mvm`), its energy, and the transposed read
``Wᵀ d`` of the backward pass (the same prepared network read the other way; by
reciprocity exactly its transpose).  Every tile of both arrays is prepared and solved
together (one stacked solve); a batch of at least ``TRANSFER_MIN_RATIO · min(tile rows,
tile cols)`` vectors (the test images) takes its outputs from the tiles' transfer
matrices, the energy still from the solve of every vector
(``Tile._ir_drop_currents``).

Forward MVM: per sample, inputs are scaled by their largest magnitude
(``input_scaling="abs_max"``, aihwkit's noise management) into [−1, 1], quantised by the
DAC and applied as line voltages ``V = x̂·read_voltage``; each tile's output currents are
computed; read noise is independent per cell and per read: with ideal wires it is applied
exactly as its Gaussian effect on each output current (variance ``Σ_i V_i²σ_ij²``, a fresh
draw per sample); with IR drop every cell's conductance is sampled once per read (shared by
the batch, and by the forward and transposed MVMs of that read).  The ADC saturates at its
full scale and quantises, tiles are summed and the result is scaled back to weight units.
Matrix products use ``precision=HIGHEST`` (true float32 on GPUs, not TF32).

Bound management (``bound_management="iterative"``, aihwkit's
``BoundManagementType.ITERATIVE``): every sample whose output saturated an ADC is read
again with its input halved, until it no longer saturates or an iteration limit is reached
(:meth:`Tile.mvm`).

Energy of a batch of MVMs (:class:`MVMEnergy`): cells and wires ``read_time ·`` the power
the drivers deliver — with ideal wires ``Σ_samples Σ_i V_i² Σ_j (G_a + G_b)_ij``, all of it
in the cells; with IR drop the power of the solved network split exactly into cells and
wires (from the read's own solution, no second solve); converters one DAC conversion per
driven line per tile it drives, one ADC conversion per output line per tile; the re-reads
of bound management add their own cell, wire and conversion energy.
"""
from __future__ import annotations

import math
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .. import _random as fast_random
from .._checks import check_finite, check_int, check_nonnegative, check_positive
from ..circuits.converters import ADC, DAC, AbstractADC, AbstractDAC

_HIGHEST = jax.lax.Precision.HIGHEST


class MVMEnergy(NamedTuple):
    """Energy [J] of a batch of MVMs, by component (each a scalar): cells, converters and
    (with IR drop) wires."""

    device: Array
    dac: Array
    adc: Array
    wire: Array

    @property
    def total(self) -> Array:
        return self.device + self.dac + self.adc + self.wire

    @classmethod
    def zeros(cls, dtype=jnp.float32) -> "MVMEnergy":
        z = jnp.zeros((), dtype)
        return cls(z, z, z, z)


class TileRead(eqx.Module):
    """One read of a crossbar's conductance arrays, shared by the MVMs that use it.

    Attributes:
        delta_g: ideal wires: ``G_a − G_b`` [S], padded shape; None with IR drop.
        variance: ideal wires: summed read-noise variance [S²] of the cells of each
            cross-point, padded shape, or None (no read noise, or IR drop).
        row_load, col_load: ``Σ_j (G_a + G_b)`` per row ``(in_features,)`` and ``Σ_i`` per
            column ``(out_features,)`` [S] (energy with ideal wires).
        prepared: IR drop: the prepared networks of ``G_a`` and ``G_b`` on every tile, one
            :class:`~synaptax.circuits.irdrop.PreparedCrossbar` stacked over ``(2,
            n_row_tiles, n_col_tiles)`` (index 0: ``G_a``), read by one solve of all of
            them; None with ideal wires.
    """

    delta_g: Array | None
    variance: Array | None
    row_load: Array | None
    col_load: Array | None
    prepared: tuple | None


#: With IR drop, an MVM of at least this many times ``min(tile rows, tile cols)`` input
#: vectors takes its output currents from the tiles' transfer matrices (see
#: ``Tile._ir_drop_currents``).  Where the energy is used too, the transfer matrices
#: cost at most ``1/TRANSFER_MIN_RATIO`` of the per-vector solves on top of them.
TRANSFER_MIN_RATIO = 4


def vector_count(x) -> int:
    """Number of input vectors in ``x`` of shape ``(..., n)``: the product of its leading
    shape (what a read prepared for IR drop is laid out for)."""
    n = 1
    for s in jnp.shape(x)[:-1]:
        n *= s
    return n


def _grid(n: int, max_size: int) -> tuple[int, int]:
    tiles = max(1, math.ceil(n / max_size))
    return tiles, math.ceil(n / tiles)


class Tile(eqx.Module):
    """The electrical configuration of a crossbar's tiles (module docstring).

    Args:
        in_features, out_features: rows and columns of the whole weight matrix.
        dac, adc: input and output converters, any :class:`~synaptax.circuits.AbstractDAC` /
            :class:`~synaptax.circuits.AbstractADC` (default: the uniform 7-bit DAC, 9-bit ADC).
        read_voltage: full-scale read voltage of an input [V].
        read_time: duration of one MVM read [s] (for the read energy).
        out_bound: ADC full scale when ``adc.full_scale`` is None, in weight units at full
            input: ``I_fs = out_bound · read_voltage · g_per_w`` (aihwkit's ``out_bound``).
        input_scaling: ``"abs_max"`` (per-sample scaling by the largest input magnitude)
            or ``"none"`` (inputs must already lie in [−1, 1]; larger values saturate).
        max_tile_size: largest physical tile, ``(rows, cols)``.
        ir_drop: solve the wire network of each tile exactly; False: ideal wires.
        r_row, r_col: wire resistance per cell segment along rows and columns [Ω];
            default 1.06 Ω, NeuroSim's cross-point cell at 22 nm [pub, device-physics §E].
        bound_management: ``"none"`` or ``"iterative"``: re-read every sample whose output
            saturated an ADC with its input halved, repeatedly (aihwkit's iterative bound
            management; see :meth:`mvm`).  A no-op with an ADC that does not saturate
            (``adc.saturate`` False).
        max_bm_factor: largest input reduction factor of bound management (> 1,
            dimensionless): at most ``floor(log2(max_bm_factor))`` re-reads (aihwkit's
            ``IOParameters.max_bm_factor``).
        max_bm_res: largest effective input resolution of bound management (> 0, in units
            of the normalised input range [−1, 1]): a quantising DAC of step ``Δ`` (its
            resolution in normalised units, ``1/(2^(bits−1) − 1)``) is reduced by at most
            ``f`` with ``f·Δ ≤ max_bm_res`` (aihwkit's ``IOParameters.max_bm_res``).
    """

    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    dac: AbstractDAC
    adc: AbstractADC
    read_voltage: float
    read_time: float
    out_bound: float
    input_scaling: Literal["abs_max", "none"] = eqx.field(static=True)
    max_tile_size: tuple[int, int] = eqx.field(static=True)
    ir_drop: bool = eqx.field(static=True)
    r_row: float
    r_col: float
    bound_management: Literal["none", "iterative"] = eqx.field(static=True)
    max_bm_factor: float = eqx.field(static=True)
    max_bm_res: float = eqx.field(static=True)

    def __init__(self, in_features: int, out_features: int, *, dac: AbstractDAC | None = None,
                 adc: AbstractADC | None = None,
                 read_voltage: float = 0.2, read_time: float = 10e-9, out_bound: float = 12.0,
                 input_scaling: str = "abs_max", max_tile_size: tuple[int, int] = (512, 512),
                 ir_drop: bool = False, r_row: float = 1.06, r_col: float = 1.06,
                 bound_management: str = "none", max_bm_factor: float = 1000.0, max_bm_res: float = 0.25):
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        if input_scaling not in ("abs_max", "none"):
            raise ValueError(f"input_scaling must be 'abs_max' or 'none', got {input_scaling!r}")
        if len(tuple(max_tile_size)) != 2:
            raise ValueError(f"max_tile_size must be (rows, cols), got {max_tile_size!r}")
        self.max_tile_size = (check_int("max_tile_size[0]", max_tile_size[0], minimum=1),
                              check_int("max_tile_size[1]", max_tile_size[1], minimum=1))
        check_positive("read_voltage", read_voltage)
        check_positive("read_time", read_time)
        check_positive("out_bound", out_bound)
        check_nonnegative("r_row", r_row)
        check_nonnegative("r_col", r_col)
        if bound_management not in ("none", "iterative"):
            raise ValueError(f"bound_management must be 'none' or 'iterative', got {bound_management!r}")
        if not (math.isfinite(float(max_bm_factor)) and float(max_bm_factor) > 1):
            raise ValueError(f"max_bm_factor must be finite and > 1, got {max_bm_factor!r}")
        if not (math.isfinite(float(max_bm_res)) and float(max_bm_res) > 0):
            raise ValueError(f"max_bm_res must be finite and > 0, got {max_bm_res!r}")
        self.dac = DAC() if dac is None else dac
        self.adc = ADC() if adc is None else adc
        self.read_voltage = read_voltage
        self.read_time = read_time
        self.out_bound = out_bound
        self.input_scaling = input_scaling
        self.ir_drop = bool(ir_drop)
        self.r_row = r_row
        self.r_col = r_col
        self.bound_management = bound_management
        self.max_bm_factor = float(max_bm_factor)
        self.max_bm_res = float(max_bm_res)

    # ------------------------------------------------------------------ geometry
    @property
    def tile_grid(self) -> tuple[int, int]:
        """Number of physical tiles along rows and columns."""
        return _grid(self.in_features, self.max_tile_size[0])[0], _grid(self.out_features, self.max_tile_size[1])[0]

    @property
    def tile_shape(self) -> tuple[int, int]:
        """Shape ``(rows, cols)`` of one physical tile."""
        return _grid(self.in_features, self.max_tile_size[0])[1], _grid(self.out_features, self.max_tile_size[1])[1]

    @property
    def padded_shape(self) -> tuple[int, int]:
        """Shape of the conductance arrays, padded to whole tiles."""
        (nr, nc), (tr, tc) = self.tile_grid, self.tile_shape
        return nr * tr, nc * tc

    def pad(self, a: Array) -> Array:
        """``(in_features, out_features)`` → padded shape (zeros in unused cells)."""
        rp, cp = self.padded_shape
        return jnp.pad(a, ((0, rp - a.shape[0]), (0, cp - a.shape[1])))

    def trim(self, a: Array) -> Array:
        """Padded shape → ``(..., in_features, out_features)``."""
        return a[..., : self.in_features, : self.out_features]

    def full_scale_current(self, g_per_w: float) -> float:
        """ADC saturation current [A] for ``g_per_w`` [S] per unit weight."""
        if self.adc.full_scale is not None:
            return self.adc.full_scale
        return self.out_bound * self.read_voltage * g_per_w

    @property
    def bound_management_rounds(self) -> int:
        """Most re-reads bound management makes per MVM (static): the largest ``n`` with
        ``2^n ≤ max_bm_factor`` and, for a quantising DAC of step ``Δ = 1/(2^(bits−1) − 1)``,
        ``2^n·Δ ≤ max_bm_res``; 0 with ``bound_management="none"`` or an ADC that does not
        saturate."""
        if self.bound_management == "none" or not getattr(self.adc, "saturate", True):
            return 0
        step = None if self.dac.bits is None else 1.0 / (2.0 ** (self.dac.bits - 1) - 1.0)
        n = 0
        while 2.0 ** (n + 1) <= self.max_bm_factor and (step is None or 2.0 ** (n + 1) * step <= self.max_bm_res):
            n += 1
        return n

    # ------------------------------------------------------------------ reads
    def read(self, g_a: Array, g_b: Array, *, variance: Array | None = None, batch: int = 1) -> TileRead:
        """A read of the conductance arrays ``g_a``, ``g_b`` [S] (padded shape; the
        read-out is ``g_a − g_b``).

        Args:
            g_a, g_b: conductances as read (with IR drop: one read sample of each cell).
            variance: ideal wires: summed read-noise variance [S²] per cross-point, or None.
            batch: IR drop: the number of input vectors each MVM of this read carries (the
                layout of the prepared networks); every MVM on the read must carry as many.
        """
        if not self.ir_drop:
            load = self.trim(g_a + g_b)
            return TileRead(g_a - g_b, variance, load.sum(axis=1), load.sum(axis=0), None)
        from ..circuits.irdrop import prepare_crossbar

        (nr, nc), (tr, tc) = self.tile_grid, self.tile_shape
        g = jnp.stack([g_a, g_b]).reshape(2, nr, tr, nc, tc).transpose(0, 1, 3, 2, 4)  # (2, nr, nc, tr, tc)
        one = lambda gt: prepare_crossbar(gt, r_row=self.r_row, r_col=self.r_col, batch=batch)  # noqa: E731
        return TileRead(None, None, None, None, jax.vmap(jax.vmap(jax.vmap(one)))(g))

    def encode(self, x: Array, n: int, name: str) -> tuple[Array, Array]:
        """Line voltages [V] ``(..., n)`` of inputs ``x`` (scaled per sample, quantised by
        the DAC) and the per-sample scale ``(..., 1)``."""
        x = jnp.asarray(x)
        if x.ndim == 0 or x.shape[-1] != n:
            raise ValueError(f"{name} must have last dimension {n}, got shape {x.shape}")
        check_finite(name, x)
        if self.input_scaling == "abs_max":
            scale = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
            scale = jnp.where(scale > 0, scale, 1.0)
        else:
            scale = jnp.ones(x.shape[:-1] + (1,), x.dtype)
        return self.dac(x / scale) * self.read_voltage, scale

    def _ideal_currents(self, delta_g: Array, volts: Array, *, transposed: bool) -> Array:
        """Currents [A] of each physical tile: forward ``(..., n_tr, cols_p)`` or
        transposed ``(..., n_tc, rows_p)``.

        One plain matrix product per row tile (forward: its rows against all columns) or
        column tile (transposed), not one batched product over tiles: XLA's CPU backend
        transposes the conductances for a batched product, every call."""
        (nr, nc), (tr, tc) = self.tile_grid, self.tile_shape
        if not transposed:
            out = [jnp.matmul(volts[..., r * tr:(r + 1) * tr], delta_g[r * tr:(r + 1) * tr], precision=_HIGHEST)
                   for r in range(nr)]
        else:
            out = [jnp.matmul(volts[..., c * tc:(c + 1) * tc], delta_g[:, c * tc:(c + 1) * tc].T, precision=_HIGHEST)
                   for c in range(nc)]
        return jnp.stack(out, axis=-2)

    def _ir_drop_currents(self, prepared, volts: Array, *, transposed: bool):
        """Output currents [A] of every tile from the prepared networks, forward
        ``batch + (n_tr, cols_p)``, transposed ``batch + (n_tc, rows_p)``, and the (cell,
        wire) power [W] summed over the batch, the tiles and both arrays.

        Every tile of both arrays is solved in one stacked solve (one loop for all of
        them), which gives the currents and the power of every input vector.  A batch of
        at least :data:`TRANSFER_MIN_RATIO` times ``min(tile rows, tile cols)`` vectors
        takes its currents from the tiles' transfer matrices instead
        (:func:`~synaptax.circuits.irdrop.transfer_matrix`: that many solves of unit
        drives, then a matrix product); the power still comes from the solve of every
        vector, which XLA then drops where the energy is not used (test accuracy)."""
        from ..circuits.irdrop import solve_prepared, solve_transposed, transfer_matrix

        (nr, nc), (tr, tc) = self.tile_grid, self.tile_shape
        batch = volts.shape[:-1]
        if not transposed:
            v = jnp.moveaxis(volts.reshape(batch + (nr, tr)), -2, 0)[None, :, None]  # (1, nr, 1) + batch + (tr,)
            sol = solve_prepared(prepared, jnp.broadcast_to(v, (2, nr, nc) + v.shape[3:]), on_failure="raise")
            out = sol.column_currents  # (2, nr, nc) + batch + (tc,)
            out = jnp.moveaxis(out[0] - out[1], (0, 1), (-3, -2))  # batch + (nr, nc, tc)
        else:
            v = jnp.moveaxis(volts.reshape(batch + (nc, tc)), -2, 0)[None, None]  # (1, 1, nc) + batch + (tc,)
            sol = solve_transposed(prepared, jnp.broadcast_to(v, (2, nr, nc) + v.shape[3:]), on_failure="raise")
            out = sol.row_currents  # (2, nr, nc) + batch + (tr,)
            out = jnp.moveaxis(out[0] - out[1], (1, 0), (-3, -2))  # batch + (nc, nr, tr)
        if math.prod(batch) >= TRANSFER_MIN_RATIO * min(tr, tc):
            t = transfer_matrix(prepared, on_failure="raise")  # (2, nr, nc, tr, tc), S
            t = t[0] - t[1]
            if not transposed:
                out = jnp.einsum("...ri,rcio->...rco", volts.reshape(batch + (nr, tr)), t, precision=_HIGHEST)
            else:
                out = jnp.einsum("...co,rcio->...cri", volts.reshape(batch + (nc, tc)), t, precision=_HIGHEST)
        out = out.reshape(out.shape[:-2] + (out.shape[-2] * out.shape[-1],))
        power = sol.power
        return out, jnp.sum(power.device), jnp.sum(power.row_wire + power.column_wire)

    def _pad_input(self, volts: Array, *, transposed: bool) -> Array:
        """Line voltages ``(..., n)`` → padded to the driven side of the tile grid."""
        rp, cp = self.padded_shape
        return jnp.pad(volts, [(0, 0)] * (volts.ndim - 1) + [(0, (cp if transposed else rp) - volts.shape[-1])])

    def _encode_padded(self, x, *, transposed: bool, name: str | None):
        n_in = self.out_features if transposed else self.in_features
        volts, scale = self.encode(x, n_in, name or ("d" if transposed else "x"))
        return volts, scale, self._pad_input(volts, transposed=transposed)

    def _converter_energy(self, samples, *, transposed: bool, dtype) -> tuple[Array, Array]:
        """(DAC, ADC) energy [J] of ``samples`` input vectors (an int or a traced count):
        one conversion per driven line per tile it drives, one per output line per tile."""
        nr, nc = self.tile_grid
        n_in, n_out = (self.out_features, self.in_features) if transposed else (self.in_features, self.out_features)
        dac = samples * n_in * (nr if transposed else nc) * self.dac.energy
        adc = samples * n_out * (nc if transposed else nr) * self.adc.energy
        return jnp.asarray(dac, dtype), jnp.asarray(adc, dtype)

    def _ideal_cell_energy(self, read: TileRead, volts: Array, *, transposed: bool) -> Array:
        """Cell energy [J] with ideal wires: ``read_time · Σ V_i² Σ_j (G_a + G_b)_ij``."""
        load = read.col_load if transposed else read.row_load
        return self.read_time * jnp.sum(jax.lax.stop_gradient(volts) ** 2 * load)

    def _analog(self, read: TileRead, volts: Array, padded: Array, *, transposed: bool,
                key: PRNGKeyArray | None) -> tuple[Array, Array, Array]:
        """The analog part of an MVM: the output currents [A] of every physical tile before
        the ADC, forward ``(..., n_tr, cols_p)`` or transposed ``(..., n_tc, rows_p)``, and
        the cell and wire energy [J] (scalars) of the batch.  ``volts``: line voltages [V]
        ``(..., n)``, ``padded`` the same padded; ``key``: read noise (ideal wires)."""
        if self.ir_drop:
            currents, p_dev, p_wire = self._ir_drop_currents(read.prepared, padded, transposed=transposed)
            return currents, self.read_time * p_dev, self.read_time * p_wire
        currents = self._ideal_currents(read.delta_g, padded, transposed=transposed)
        if read.variance is not None:
            # independent Gaussian read noise of every cell in every read (every sample):
            # exactly a Gaussian on each output current with variance Σ V²σ²
            if key is None:
                raise ValueError("key is required for an MVM on devices with read noise")
            std = jnp.sqrt(self._ideal_currents(read.variance, padded**2, transposed=transposed))
            currents = currents + std * fast_random.box_muller_normal(key, currents.shape, currents.dtype)
        device = self._ideal_cell_energy(read, volts, transposed=transposed)
        return currents, device, jnp.zeros_like(device)

    def mvm(self, read: TileRead, x: Array, *, g_per_w: float, transposed: bool = False,
            key: PRNGKeyArray | None = None, name: str | None = None) -> tuple[Array, MVMEnergy]:
        """An MVM on a read: forward ``W x`` (``x (..., in_features)`` → ``(..., out_features)``)
        or transposed ``Wᵀ x`` (``x (..., out_features)`` → ``(..., in_features)``), in
        weight × input units, and its :class:`MVMEnergy` [J].

        ``key``: read noise (ideal wires) and ADC noise; required when either is non-zero.

        Bound management (``bound_management="iterative"``, following aihwkit's
        ``BoundManagementType.ITERATIVE``): after the read, every sample (input vector)
        for which any pre-ADC output current of any tile reached the full scale,
        ``|I| ≥ I_fs``, is read again with its input reduced by a factor ``f`` that doubles
        on each round (line voltages ``DAC(x/(scale·f))·read_voltage``, the output
        multiplied back by ``f``), until no output of it saturates or
        :attr:`bound_management_rounds` re-reads are done (the last read is kept even if
        still saturated).  Unlike aihwkit, which re-reads the whole batch, only the
        saturated samples are re-read (the others' inputs are zero in the re-read) and
        ``f`` never exceeds ``max_bm_factor`` nor makes ``f·Δ`` exceed ``max_bm_res``.
        Each round is a ``lax.cond`` taken only when a sample needs it (so reverse-mode
        differentiation works), with its own read-noise and ADC-noise keys (``key``
        folded with the round); with IR drop it reuses the read's prepared networks.  The
        energy includes the re-reads: their cells and wires, and the DAC and ADC
        conversions of the re-read samples only.  Without saturation the outputs and
        energy are those of ``bound_management="none"``, bit for bit.
        """
        n_out = self.in_features if transposed else self.out_features
        volts, scale, padded = self._encode_padded(x, transposed=transposed, name=name)
        k_noise, k_adc = (None, None) if key is None else tuple(jax.random.split(key))
        full_scale = self.full_scale_current(g_per_w)
        currents, device, wire = self._analog(read, volts, padded, transposed=transposed, key=k_noise)
        out = self.adc(currents, full_scale, key=k_adc).sum(axis=-2)[..., :n_out]
        dac, adc = self._converter_energy(math.prod(volts.shape[:-1]), transposed=transposed, dtype=device.dtype)
        energy = MVMEnergy(device, dac, adc, wire)
        if self.bound_management_rounds:
            out, energy = self._bound_management(read, jnp.asarray(x), scale, currents, out, energy,
                                                 full_scale=full_scale, transposed=transposed,
                                                 k_noise=k_noise, k_adc=k_adc)
        y = out / (self.read_voltage * g_per_w) * scale
        return y, energy

    def _bound_management(self, read: TileRead, x: Array, scale: Array, currents: Array, out: Array,
                          energy: MVMEnergy, *, full_scale, transposed: bool, k_noise, k_adc):
        """Iterative bound management (:meth:`mvm`): from the first read's pre-ADC
        ``currents`` [A] ``(..., n_tiles, len)`` and digitised, tile-summed outputs ``out``
        [A] ``(..., n_out)``, re-read the saturated samples of ``x`` ``(..., n)`` (per-sample
        ``scale`` ``(..., 1)``); returns ``out`` with each re-read sample's last output
        times its factor ``f``, and ``energy`` plus that of the re-reads."""
        n_out = out.shape[-1]
        dac_1, adc_1 = self._converter_energy(1, transposed=transposed, dtype=energy.dac.dtype)

        def saturated(cur):  # (...,): any used output of any tile at or beyond full scale
            return jnp.any(jnp.abs(cur[..., :n_out]) >= full_scale, axis=(-2, -1))

        def reread(i, carry):
            out, f, need, e = carry
            rerun = need[..., None]
            f = jnp.where(rerun, 2.0 * f, f)
            volts = self.dac(jnp.where(rerun, x / (scale * f), 0.0)) * self.read_voltage
            fold = lambda k: None if k is None else jax.random.fold_in(k, i)  # noqa: E731
            cur, device, wire = self._analog(read, volts, self._pad_input(volts, transposed=transposed),
                                             transposed=transposed, key=fold(k_noise))
            out_i = self.adc(cur, full_scale, key=fold(k_adc)).sum(axis=-2)[..., :n_out] * f
            count = jnp.sum(need)
            e = MVMEnergy(e.device + device, e.dac + count * dac_1, e.adc + count * adc_1, e.wire + wire)
            new = (jnp.where(rerun, out_i, out), f, need & saturated(cur), e)
            return jax.tree.map(lambda a, b: a.astype(b.dtype), new, carry)  # the dtypes lax.cond needs

        carry = (out, jnp.ones_like(out[..., :1]), saturated(currents), energy)
        for i in range(1, self.bound_management_rounds + 1):
            pred = jnp.any(carry[2])
            if isinstance(pred, jax.core.Tracer):
                carry = jax.lax.cond(pred, lambda c, i=i: reread(i, c), lambda c: c, carry)
            elif pred:  # eager: a Python branch (an eager lax.cond compiles its branches every call)
                carry = reread(i, carry)
        return carry[0], carry[3]

    def mvm_energy(self, read: TileRead, x: Array, *, transposed: bool = False) -> MVMEnergy:
        """The :class:`MVMEnergy` [J] of :meth:`mvm` on the same read and inputs, without
        computing its outputs (with IR drop the network is still solved: its power is the
        cells' and wires' energy).  Without bound management: the re-reads of
        ``bound_management="iterative"`` depend on the outputs and are not included (the
        energy of the first read only)."""
        volts, _, padded = self._encode_padded(x, transposed=transposed, name="x")
        if self.ir_drop:
            _, p_dev, p_wire = self._ir_drop_currents(read.prepared, padded, transposed=transposed)
            device, wire = self.read_time * p_dev, self.read_time * p_wire
        else:
            device = self._ideal_cell_energy(read, volts, transposed=transposed)
            wire = jnp.zeros_like(device)
        dac, adc = self._converter_energy(math.prod(volts.shape[:-1]), transposed=transposed, dtype=device.dtype)
        return MVMEnergy(device, dac, adc, wire)


__all__ = ["MVMEnergy", "Tile", "TileRead", "vector_count"]
