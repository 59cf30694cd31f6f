"""Crossbar tiles: signed weights in conductances, MVMs through converters, pulsed updates.

Orientation (kept throughout synaptax): a crossbar's **rows are its inputs** (driven by
the DAC voltages) and its **columns its outputs** (currents into the ADCs), so the
conductance array has shape ``(rows, cols) = (in_features, out_features)`` and the column
currents are ``I = V @ G``.  The weight matrix as a layer sees it has the usual shape
``(out_features, in_features)`` so that ``y = W @ x``.

Weight ↔ conductance mapping (``w_max`` the largest representable weight):

* ``"differential"`` (default): a pair of devices per weight, ``w = (G⁺ − G⁻)/g_per_w``
  with ``g_per_w = (g_max − g_min)/w_max``.  A positive update potentiates ``G⁺`` and
  depresses ``G⁻`` by the same pulse count (both devices move), so one coincidence moves
  the weight by ``2·step/g_per_w``.  Weights are initialised with the pair centred on
  mid-range: ``G± = (g_min + g_max)/2 ± w·g_per_w/2``.
* ``"reference"``: one bidirectional device per weight read against a fixed reference
  current of a mid-range conductance ``g_ref = (g_min + g_max)/2`` (aihwkit's default
  single-device picture), ``w = (G − g_ref)/g_per_w`` with
  ``g_per_w = (g_max − g_min)/(2·w_max)``.

Tiling: arrays larger than ``max_tile_size`` (default 512 × 512) are split into a grid of
equal physical tiles (padded with unused cells when the size does not divide); each tile
has its own converters, partial outputs are summed digitally.

Forward MVM ``y = W x``: per sample, inputs are scaled by their largest magnitude
(``input_scaling="abs_max"``, aihwkit's noise management) into [−1, 1], quantised by the
DAC and applied as row voltages ``V = x̂·read_voltage``; each tile's column currents are
computed (ideal wires, or the exact IR-drop network solve with ``ir_drop=True``).  Read
noise is independent per cell and per read: with ideal wires it is applied exactly as
its Gaussian effect on each output current (variance ``Σ_i V_i²σ_ij²``, a fresh draw per
sample); with IR drop every cell's conductance is sampled once per call (shared by the
batch).  The ADC saturates at its full scale and quantises, tiles are summed and the result is scaled back to weight units.
Matrix products use ``precision=HIGHEST`` (true float32 on GPUs, not TF32).
"""
from __future__ import annotations

import math
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from .._checks import check_finite, check_int, check_nonnegative, check_positive
from .. import _random as fast_random
from ..circuits.converters import ADC, DAC
from ..devices.core.contract import AbstractDevice, PulseCounts

_HIGHEST = jax.lax.Precision.HIGHEST


class CrossbarState(eqx.Module):
    """State of a crossbar: the device states of its conductance arrays.

    Attributes:
        plus: state of the ``G⁺`` devices (or the single devices for the ``"reference"``
            mapping), array shape ``(rows_padded, cols_padded)``.
        minus: state of the ``G⁻`` devices (``"differential"``), or None.
    """

    plus: object
    minus: object | None


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


def _bit_lengths(bit_length: int, managed: bool) -> tuple[int, ...]:
    if not managed:
        return (bit_length,)
    lengths = [n for n in (1, 2, 4, 8, 16, 32, 64, 128) if n < bit_length]
    return tuple(lengths) + (bit_length,)


def _pack_samples(fired: Array) -> Array:
    """Pack ``fired (batch, n)`` booleans into uint32 words ``(ceil(batch/32), n)``: bit
    ``k`` of word ``w`` of line ``i`` is sample ``32·w + k``."""
    batch, n = fired.shape
    words = -(-batch // 32)
    f = jnp.pad(fired, ((0, 32 * words - batch), (0, 0))).reshape(words, 32, n).astype(jnp.uint32)
    return jnp.sum(f << jnp.arange(32, dtype=jnp.uint32)[:, None], axis=1, dtype=jnp.uint32)


def _popcount_product(a: Array, b: Array) -> Array:
    """``Σ_w popcount(a[w, i] & b[w, j])`` as int32 ``(n_a, n_b)``: the product of two 0/1
    matrices whose rows are packed as bits."""
    both = a[:, :, None] & b[:, None, :]
    return jnp.sum(jax.lax.population_count(both).astype(jnp.int32), axis=0, dtype=jnp.int32)


def _grid(n: int, max_size: int) -> tuple[int, int]:
    tiles = max(1, math.ceil(n / max_size))
    return tiles, math.ceil(n / tiles)


class Crossbar(eqx.Module):
    """A weight matrix held in one or more crossbar tiles of a device.

    Args:
        device: the device model of every cell.
        in_features: number of inputs (rows).
        out_features: number of outputs (columns).
        w_max: weight represented by a full-range conductance difference (dimensionless).
        mapping: ``"differential"`` or ``"reference"`` (module docstring).
        dac, adc: input and output converters (:mod:`synaptax.circuits.converters`).
        read_voltage: full-scale read voltage of an input [V].
        read_time: duration of one MVM read [s] (for the read energy).
        out_bound: ADC full scale when ``adc.full_scale`` is None, in weight units at full
            input: ``I_fs = out_bound · read_voltage · g_per_w`` (aihwkit's ``out_bound``).
        input_scaling: ``"abs_max"`` (per-sample scaling by the largest input magnitude)
            or ``"none"`` (inputs must already lie in [−1, 1]; larger values saturate).
        max_tile_size: largest physical tile, ``(rows, cols)``.
        ir_drop: solve the wire network of each tile exactly (see
            :func:`synaptax.circuits.solve_crossbar`); False: ideal wires.
        r_row, r_col: wire resistance per cell segment along rows and columns [Ω];
            default 1.06 Ω, NeuroSim's cross-point cell at 22 nm [pub, device-physics §E].
    """

    device: AbstractDevice
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    w_max: float
    mapping: Literal["differential", "reference"] = eqx.field(static=True)
    dac: DAC
    adc: ADC
    read_voltage: float
    read_time: float
    out_bound: float
    input_scaling: Literal["abs_max", "none"] = eqx.field(static=True)
    max_tile_size: tuple[int, int] = eqx.field(static=True)
    ir_drop: bool = eqx.field(static=True)
    r_row: float
    r_col: float

    def __init__(self, device: AbstractDevice, in_features: int, out_features: int, *, w_max: float = 1.0,
                 mapping: str = "differential", dac: DAC | None = None, adc: ADC | None = None,
                 read_voltage: float = 0.2, read_time: float = 10e-9, out_bound: float = 12.0,
                 input_scaling: str = "abs_max", max_tile_size: tuple[int, int] = (512, 512),
                 ir_drop: bool = False, r_row: float = 1.06, r_col: float = 1.06):
        if not isinstance(device, AbstractDevice):
            raise TypeError(f"device must be a synaptax device model, got {type(device).__name__}")
        self.device = device
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        if mapping not in ("differential", "reference"):
            raise ValueError(f"mapping must be 'differential' or 'reference', got {mapping!r}")
        if input_scaling not in ("abs_max", "none"):
            raise ValueError(f"input_scaling must be 'abs_max' or 'none', got {input_scaling!r}")
        if len(tuple(max_tile_size)) != 2:
            raise ValueError(f"max_tile_size must be (rows, cols), got {max_tile_size!r}")
        self.max_tile_size = (check_int("max_tile_size[0]", max_tile_size[0], minimum=1),
                              check_int("max_tile_size[1]", max_tile_size[1], minimum=1))
        check_positive("w_max", w_max)
        check_positive("read_voltage", read_voltage)
        check_positive("read_time", read_time)
        check_positive("out_bound", out_bound)
        check_nonnegative("r_row", r_row)
        check_nonnegative("r_col", r_col)
        self.w_max = w_max
        self.mapping = mapping
        self.dac = DAC() if dac is None else dac
        self.adc = ADC() if adc is None else adc
        self.read_voltage = read_voltage
        self.read_time = read_time
        self.out_bound = out_bound
        self.input_scaling = input_scaling
        self.ir_drop = bool(ir_drop)
        self.r_row = r_row
        self.r_col = r_col

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
        (nr, nc), (tr, tc) = self.tile_grid, self.tile_shape
        return nr * tr, nc * tc

    @property
    def devices_per_weight(self) -> int:
        return 2 if self.mapping == "differential" else 1

    # ------------------------------------------------------------------ mapping
    @property
    def g_per_w(self) -> float:
        """Conductance [S] per unit weight."""
        g_min, g_max = self.device.conductance_range
        span = g_max - g_min
        return span / self.w_max if self.mapping == "differential" else span / (2.0 * self.w_max)

    @property
    def g_ref(self) -> float:
        """Mid-range conductance [S] (reference of the ``"reference"`` mapping)."""
        g_min, g_max = self.device.conductance_range
        return 0.5 * (g_min + g_max)

    @property
    def dw_min(self) -> float:
        """Nominal weight change of one coincidence or programming pulse at mid-range."""
        return self.devices_per_weight * self.device.nominal_step / self.g_per_w

    @property
    def full_scale_current(self) -> float:
        """ADC saturation current [A]."""
        if self.adc.full_scale is not None:
            return self.adc.full_scale
        return self.out_bound * self.read_voltage * self.g_per_w

    def _pad(self, a: Array) -> Array:
        rp, cp = self.padded_shape
        return jnp.pad(a, ((0, rp - a.shape[0]), (0, cp - a.shape[1])))

    def init(self, *, key: PRNGKeyArray, weights: ArrayLike | None = None) -> CrossbarState:
        """Initial state: device-to-device variation from ``key``, conductances programmed
        (ideally, without pulses) to ``weights`` of shape ``(out_features, in_features)``
        (clipped to what the cells can hold), zero by default."""
        shape = self.padded_shape
        k_plus, k_minus = jax.random.split(key)
        if weights is None:
            w = jnp.zeros(shape)
        else:
            w = jnp.asarray(weights)
            if w.shape != (self.out_features, self.in_features):
                raise ValueError(f"weights must have shape (out_features, in_features) = "
                                 f"{(self.out_features, self.in_features)}, got {w.shape}")
            check_finite("weights", w)
            w = self._pad(w.T)
        dg = w * self.g_per_w
        if self.mapping == "differential":
            plus = self.device.init(shape, key=k_plus, conductance=self.g_ref + 0.5 * dg)
            minus = self.device.init(shape, key=k_minus, conductance=self.g_ref - 0.5 * dg)
            return CrossbarState(plus, minus)
        return CrossbarState(self.device.init(shape, key=k_plus, conductance=self.g_ref + dg), None)

    def _trim(self, a: Array) -> Array:
        return a[..., : self.in_features, : self.out_features]

    def conductances(self, state: CrossbarState) -> tuple[Array, Array | None]:
        """``(G⁺, G⁻)`` [S], each of shape ``(in_features, out_features)`` (``G⁻`` None for
        the reference mapping)."""
        gp = self._trim(self.device.conductance(state.plus))
        gm = None if state.minus is None else self._trim(self.device.conductance(state.minus))
        return gp, gm

    def _delta_g(self, state: CrossbarState) -> Array:
        """Conductance difference [S] of each cross-point (noiseless), padded shape."""
        gp = self.device.conductance(state.plus)
        if state.minus is None:
            return gp - self.g_ref
        return gp - self.device.conductance(state.minus)

    def _read_variance(self, state: CrossbarState) -> Array | None:
        """Summed read-noise variance [S²] of the devices of each cross-point, or None."""
        sp = self.device.read_noise_std(state.plus)
        if sp is None:
            return None
        var = sp**2
        if state.minus is not None:
            var = var + self.device.read_noise_std(state.minus) ** 2
        return var

    def weights(self, state: CrossbarState) -> Array:
        """Weight matrix ``(out_features, in_features)`` the conductances represent (the
        cells' conductances, without read noise)."""
        gp, gm = self.conductances(state)
        return (gp - (self.g_ref if gm is None else gm)).T / self.g_per_w

    # ------------------------------------------------------------------ MVMs
    def _encode(self, x: Array, n: int, name: str):
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

    def _tile_currents(self, delta_g: Array, volts: Array, *, transposed: bool) -> Array:
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

    def _tile_stack(self, g: Array, volts: Array, *, transposed: bool):
        """Per-tile conductances ``(n_outer, n_inner, driven, read)`` and driving voltages
        ``(n_outer,) + batch + (driven,)``: forward, tiles are indexed (row tile, column
        tile) and driven by their rows; transposed, (column tile, row tile) and driven by
        their columns."""
        (nr, nc), (tr, tc) = self.tile_grid, self.tile_shape
        g4 = g.reshape(nr, tr, nc, tc).transpose(0, 2, 1, 3)  # (nr, nc, tr, tc)
        if transposed:
            # columns driven from their sense end (the last row), rows read at their driver end
            # (column 0): the solver's convention applied to the tile flipped both ways.  With
            # the same ports as the forward read the network is reciprocal, so the transposed
            # read is exactly the transpose of the forward one.
            g4 = jnp.swapaxes(g4, -1, -2).transpose(1, 0, 2, 3)[..., ::-1, ::-1]  # (nc, nr, tc, tr)
            v = volts.reshape(volts.shape[:-1] + (nc, tc))[..., ::-1]
        else:
            v = volts.reshape(volts.shape[:-1] + (nr, tr))
        return g4, jnp.moveaxis(v, -2, 0)

    def _wires(self, transposed: bool) -> tuple[float, float]:
        """(driven-line, read-line) wire resistance per segment [Ω]."""
        return (self.r_col, self.r_row) if transposed else (self.r_row, self.r_col)

    def _ir_drop_currents(self, state: CrossbarState, volts: Array, *, transposed: bool, key) -> Array:
        """Output currents [A] of every tile with the wire network solved exactly:
        forward ``batch + (n_tr, cols_p)``, transposed ``batch + (n_tc, rows_p)``."""
        from ..circuits.irdrop import crossbar_currents

        r_drive, r_read = self._wires(transposed)

        def per_array(g):
            g4, v = self._tile_stack(g, volts, transposed=transposed)
            solve = lambda gt, vt: crossbar_currents(gt, vt, r_row=r_drive, r_col=r_read)  # noqa: E731
            out = jax.vmap(jax.vmap(solve, in_axes=(0, None)), in_axes=(0, 0))(g4, v)  # (no, ni) + batch + (read,)
            if transposed:
                out = out[..., ::-1]  # rows were read in flipped order
            out = jnp.moveaxis(out, (0, 1), (-3, -2))  # batch + (no, ni, read)
            return out.reshape(out.shape[:-2] + (out.shape[-2] * out.shape[-1],))

        keys = (None, None) if key is None else tuple(jax.random.split(key))
        gp = self._read_cells(state.plus, keys[0])
        g_minus = jnp.full_like(gp, self.g_ref) if state.minus is None else self._read_cells(state.minus, keys[1])
        return per_array(gp) - per_array(g_minus)

    def _read_cells(self, device_state, key) -> Array:
        """Conductance [S] of each cell in one read (read noise sampled per cell when the
        device has it; shared by the batch of this call)."""
        if self.device.read_noise_std(device_state) is None:
            return self.device.conductance(device_state)
        if key is None:
            raise ValueError("key is required for an MVM on devices with read noise")
        return self.device.read(device_state, key=key)

    def _mvm(self, state, x, *, key, transposed: bool):
        n_in = self.out_features if transposed else self.in_features
        name = "d" if transposed else "x"
        volts, scale = self._encode(x, n_in, name)
        rp, cp = self.padded_shape
        pad = (cp if transposed else rp) - n_in
        volts = jnp.pad(volts, [(0, 0)] * (volts.ndim - 1) + [(0, pad)])
        k_read, k_adc = (None, None) if key is None else tuple(jax.random.split(key))
        if self.ir_drop:
            currents = self._ir_drop_currents(state, volts, transposed=transposed, key=k_read)
        else:
            currents = self._tile_currents(self._delta_g(state), volts, transposed=transposed)
            variance = self._read_variance(state)
            if variance is not None:
                # independent Gaussian read noise of every cell in every read (every sample):
                # exactly a Gaussian on each output current with variance Σ V²σ²
                if k_read is None:
                    raise ValueError("key is required for an MVM on devices with read noise")
                std = jnp.sqrt(self._tile_currents(variance, volts**2, transposed=transposed))
                currents = currents + std * fast_random.box_muller_normal(k_read, currents.shape, currents.dtype)
        currents = self.adc(currents, self.full_scale_current, key=k_adc)
        out = currents.sum(axis=-2)
        n_out = self.in_features if transposed else self.out_features
        out = out[..., :n_out]
        return out / (self.read_voltage * self.g_per_w) * scale

    def forward(self, state: CrossbarState, x: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
        """Analog ``y = W x``.

        Args:
            state: the crossbar state.
            x: inputs, shape ``(..., in_features)``.
            key: PRNG key for read noise and ADC noise (required when either is non-zero).

        Returns:
            ``y``, shape ``(..., out_features)``, in weight × input units.
        """
        return self._mvm(state, x, key=key, transposed=False)

    def backward(self, state: CrossbarState, d: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
        """Analog transposed MVM ``Wᵀ d`` (columns driven, row currents read), as used to
        back-propagate errors.  ``d``: shape ``(..., out_features)``; returns
        ``(..., in_features)``."""
        return self._mvm(state, d, key=key, transposed=True)

    def mvm_energy(self, state: CrossbarState, x: ArrayLike, *, transposed: bool = False) -> MVMEnergy:
        """Energy [J] of the MVMs of a batch of inputs ``x`` (shape ``(..., n)``).

        Cells and wires: ``read_time ·`` the power the drivers deliver.  With ideal wires
        that is ``Σ_samples Σ_i V_i² Σ_j (G⁺_ij + G⁻_ij)`` (every cell of a driven line sees
        ``V_i`` while the virtual-ground outputs sit at 0 V), all of it in the cells.  With
        ``ir_drop`` the network is solved (one more solve per tile and array) and the power
        is split exactly into cells and wires (``MVMEnergy.wire``).
        Converters: one DAC conversion per driven line per tile it drives, one ADC
        conversion per output line per tile.
        """
        n_in = self.out_features if transposed else self.in_features
        volts, _ = self._encode(x, n_in, "x")
        samples = math.prod(volts.shape[:-1])
        nr, nc = self.tile_grid
        n_out = self.in_features if transposed else self.out_features
        dac = samples * n_in * (nr if transposed else nc) * self.dac.energy
        adc = samples * n_out * (nc if transposed else nr) * self.adc.energy
        if self.ir_drop:
            device, wire = self._ir_drop_power(state, volts, transposed=transposed)
            device, wire = self.read_time * device, self.read_time * wire
        else:
            g = self.device.conductance(state.plus)
            g = g + (self.g_ref if state.minus is None else self.device.conductance(state.minus))
            g = self._trim(g)
            line_g = g.sum(axis=0) if transposed else g.sum(axis=1)  # conductance on each driven line
            device = self.read_time * jnp.sum(volts**2 * line_g)
            wire = jnp.zeros_like(device)
        return MVMEnergy(device, jnp.asarray(dac, device.dtype), jnp.asarray(adc, device.dtype), wire)

    def _ir_drop_power(self, state: CrossbarState, volts: Array, *, transposed: bool):
        """Summed (cell, wire) power [W] over the batch and all tiles and arrays."""
        from ..circuits.irdrop import solve_crossbar

        rp, cp = self.padded_shape
        pad = (cp if transposed else rp) - volts.shape[-1]
        volts = jnp.pad(volts, [(0, 0)] * (volts.ndim - 1) + [(0, pad)])
        r_drive, r_read = self._wires(transposed)

        def per_array(g):
            g4, v = self._tile_stack(g, volts, transposed=transposed)

            def solve(gt, vt):
                p = solve_crossbar(gt, vt, r_row=r_drive, r_col=r_read).power()
                return jnp.sum(p.device), jnp.sum(p.wire)

            dev, wire = jax.vmap(jax.vmap(solve, in_axes=(0, None)), in_axes=(0, 0))(g4, v)
            return jnp.sum(dev), jnp.sum(wire)

        g_arrays = [self.device.conductance(state.plus)]
        g_arrays.append(jnp.full_like(g_arrays[0], self.g_ref) if state.minus is None
                        else self.device.conductance(state.minus))
        dev = wire = 0.0
        for g in g_arrays:
            d, w = per_array(jax.lax.stop_gradient(g))
            dev, wire = dev + d, wire + w
        return dev, wire

    # ------------------------------------------------------------------ updates
    def _apply(self, state: CrossbarState, up: Array, down: Array, key: PRNGKeyArray,
               max_count: int | None = None) -> CrossbarState:
        """Apply ``up``/``down`` pulse counts (padded shape; the ``G⁻`` devices get them
        swapped).  ``max_count``: static bound of whole-number counts, when known."""
        k_plus, k_minus = jax.random.split(key)
        if state.minus is None:
            (plus,) = self.device.apply_pulses_many((state.plus,), (PulseCounts(up, down),), keys=(k_plus,),
                                                    max_count=max_count)
            return CrossbarState(plus, None)
        plus, minus = self.device.apply_pulses_many((state.plus, state.minus),
                                                    (PulseCounts(up, down), PulseCounts(down, up)),
                                                    keys=(k_plus, k_minus), max_count=max_count)
        return CrossbarState(plus, minus)

    def _pulse_record(self, up: Array, down: Array) -> PulseCounts:
        up, down = self._trim(up), self._trim(down)
        if self.mapping == "differential":
            return PulseCounts(jnp.stack([up, down]), jnp.stack([down, up]))
        return PulseCounts(up[None], down[None])

    def update_coincidence(self, state: CrossbarState, x: ArrayLike, d: ArrayLike, *, learning_rate: ArrayLike,
                           key: PRNGKeyArray, bit_length: int = 31, update_management: bool = True,
                           batch_mode: Literal["aggregate", "sequential"] = "aggregate",
                           bl_management: bool = True) -> tuple[CrossbarState, PulseCounts]:
        """Rank-1 (per sample) update by stochastic pulse coincidence.

        Realises on average ``ΔW ≈ learning_rate · Σ_b d_b x_bᵀ`` (pass ``d = −∂L/∂y`` for
        gradient descent).  Row ``i`` of sample ``b`` fires each of ``bit_length`` slots
        with probability ``p_i = A|x_i|``, column ``j`` with ``q_j = B|d_j|``; a cell gets a
        pulse where both fire, of sign ``sign(x_i d_j)``.  ``A·B = learning_rate /
        (bit_length · dw_min)`` so the expected change is exact while ``p, q ≤ 1``
        (probabilities are clipped at 1); with ``update_management`` ``A`` and ``B`` are
        balanced per sample so that ``max p = max q`` (aihwkit's update management).

        Args:
            state: crossbar state.
            x: row inputs, shape ``(batch, in_features)`` or ``(in_features,)``.
            d: column errors, shape ``(batch, out_features)`` or ``(out_features,)``.
            learning_rate: ≥ 0, scalar.
            key: PRNG key (pulse trains and cycle-to-cycle noise).
            bit_length: pulse slots per sample (the maximum with ``bl_management``).
            bl_management: use the shortest of the trains 1, 2, 4, 8, 16, … ≤ ``bit_length``
                slots that can still deliver the largest update requested in the batch
                (``max_b lr·max|x_b|·max|d_b| / dw_min`` coincidences with
                ``update_management``; without it ``max_b lr·max(max|x_b|, max|d_b|)² / dw_min``,
                so that neither probability exceeds 1): fewer slots, larger probabilities,
                the same expected update, less work (aihwkit's ``update_bl_management``).
                False: always ``bit_length`` slots.
            batch_mode: ``"aggregate"`` sums each cell's potentiation and depression
                coincidences over the batch and applies them in one device update
                (potentiation first; differs from pulse-by-pulse order only at second order
                in the step size), ``"sequential"`` applies sample after sample.

        Returns:
            ``(new_state, pulses)``: ``pulses.up``/``pulses.down`` count the potentiation and
            depression pulses each device received, shape
            ``(devices_per_weight, in_features, out_features)``.
        """
        bit_length = check_int("bit_length", bit_length, minimum=1)
        if batch_mode not in ("aggregate", "sequential"):
            raise ValueError(f"batch_mode must be 'aggregate' or 'sequential', got {batch_mode!r}")
        x = jnp.asarray(x)
        d = jnp.asarray(d)
        if x.ndim == 1:
            x = x[None]
        if d.ndim == 1:
            d = d[None]
        if x.ndim != 2 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), got {x.shape}")
        if d.ndim != 2 or d.shape[-1] != self.out_features:
            raise ValueError(f"d must have shape (batch, {self.out_features}), got {d.shape}")
        if x.shape[0] != d.shape[0]:
            raise ValueError(f"x and d must have the same batch size, got {x.shape[0]} and {d.shape[0]}")
        check_finite("x", x)
        check_finite("d", d)
        check_nonnegative("learning_rate", learning_rate)
        dtype = jnp.result_type(x.dtype, d.dtype, float)
        x = x.astype(dtype)
        d = d.astype(dtype)
        k_bits, k_dev = jax.random.split(key)
        lr = jnp.asarray(learning_rate, dtype)
        x_max = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
        d_max = jnp.max(jnp.abs(d), axis=-1, keepdims=True)
        if update_management:
            ok = (x_max > 0) & (d_max > 0)
            ratio = jnp.where(ok, jnp.sqrt(jnp.where(ok, d_max, 1.0) / jnp.where(ok, x_max, 1.0)), 1.0)
        else:
            ratio = jnp.ones_like(x_max)
        lengths = _bit_lengths(bit_length, bl_management)

        # c = L·dw_min per train length L (rounded once, as a Python scalar would be)
        slot_scale = {n: jnp.asarray(n * self.dw_min, dtype) for n in lengths}

        def firing(scale):
            """Per-slot firing probabilities of rows and columns for ``c = L·dw_min``, and
            the keys of their draws."""
            base = jnp.sqrt(lr / scale)
            p = jnp.clip(base * ratio * jnp.abs(x), 0.0, 1.0)
            q = jnp.clip(base / ratio * jnp.abs(d), 0.0, 1.0)
            return (p, q) + tuple(jax.random.split(k_bits))

        def bits_for(length):
            p, q, kx, kd = firing(slot_scale[length])
            bx = fast_random.uniform(kx, x.shape + (length,), dtype) < p[..., None]
            bd = fast_random.uniform(kd, d.shape + (length,), dtype) < q[..., None]
            return bx, bd  # (batch, n, length) booleans: which slots fire

        def pair_counts(sx, sd, bx, bd, contract):
            net = jnp.einsum(contract, sx, sd, precision=_HIGHEST)
            tot = jnp.einsum(contract, bx, bd, precision=_HIGHEST)
            return self._pad(0.5 * (tot + net)), self._pad(0.5 * (tot - net))

        def aggregate_counts(index):
            """Coincidence counts of the train ``lengths[index]`` (``index`` may be traced).

            Slot by slot (a loop of as many iterations as the train has slots, so one
            compiled body serves every length): the batch's firing of each row and column
            in the slot is one bit per sample in uint32 words, split by the sign of the
            row's input / column's error; a cell's coincidences of each sign are popcounts
            of ANDed words (exact integers, the 0/1 matrix product).  The pulse trains are
            the draws of ``bits_for`` (element (b, i, l) of a (batch, n, L) uniform draw)."""
            if isinstance(index, int):
                length, scale = lengths[index], slot_scale[lengths[index]]
            else:
                length = jnp.asarray(lengths, jnp.int32)[index]
                scale = jnp.stack([slot_scale[n] for n in lengths])[index]
            p, q, kx, kd = firing(scale)
            ix = jax.lax.iota(jnp.uint32, x.size).reshape(x.shape) * jnp.asarray(length, jnp.uint32)
            jd = jax.lax.iota(jnp.uint32, d.size).reshape(d.shape) * jnp.asarray(length, jnp.uint32)
            x_pos, x_neg, d_pos, d_neg = x > 0, x < 0, d > 0, d < 0

            def slot(l):
                l = jnp.asarray(l, jnp.uint32)
                bx = fast_random.uniform_at(kx, ix + l, dtype) < p
                bd = fast_random.uniform_at(kd, jd + l, dtype) < q
                xp, xn = _pack_samples(bx & x_pos), _pack_samples(bx & x_neg)
                dp, dn = _pack_samples(bd & d_pos), _pack_samples(bd & d_neg)
                up = _popcount_product(xp, dp) + _popcount_product(xn, dn)
                down = _popcount_product(xp, dn) + _popcount_product(xn, dp)
                return up.astype(dtype), down.astype(dtype)  # exact: counts <= batch x slots

            def more(l, counts):
                up, down = slot(l)
                return counts[0] + up, counts[1] + down

            # the first slot outside the loop: a one-slot train (the usual case with
            # bit-length management) runs no loop iteration and needs no zero-filled carry
            up, down = slot(0)
            if lengths[-1] > 1:
                up, down = jax.lax.fori_loop(1, length, more, (up, down))
            return self._pad(up), self._pad(down)

        def sequential_update(length):
            def run(state):
                bx, bd = bits_for(length)
                bx, bd = bx.astype(dtype), bd.astype(dtype)
                sx, sd = jnp.sign(x)[..., None] * bx, jnp.sign(d)[..., None] * bd

                def step(carry, inputs):
                    st, k = carry
                    k, k_step = jax.random.split(k)
                    u, dn = pair_counts(*inputs, "il,jl->ij")
                    return (self._apply(st, u, dn, k_step), k), (u, dn)

                (st, _), (ups, downs) = jax.lax.scan(step, (state, k_dev), (sx, sd, bx, bd))
                return st, ups.sum(0), downs.sum(0)
            return run

        if len(lengths) == 1:
            index = None
        else:
            # aihwkit's bit-length management: the shortest train whose firing probabilities
            # stay ≤ 1 for every sample.  With update management max p = max q and the bound
            # is p·q ≤ 1; without it p and q are bounded separately (lr·max|x|² and
            # lr·max|d|² over length·dw_min), else short trains would clip and bias the update
            if update_management:
                need = jnp.max(lr * x_max * d_max) / self.dw_min
            else:
                need = jnp.max(lr * jnp.maximum(x_max, d_max) ** 2) / self.dw_min
            index = jnp.sum(jnp.asarray(lengths[:-1], dtype) < need)
        if batch_mode == "aggregate":
            # only the pulse counts depend on the train length: one device update after
            # them (a smaller program, and unchanged state fields pass straight through)
            up, down = aggregate_counts(0 if index is None else index)
            # counts are whole numbers of at most batch × longest train coincidences
            new_state = self._apply(state, up, down, k_dev, max_count=x.shape[0] * lengths[-1])
        elif index is None:
            new_state, up, down = sequential_update(lengths[0])(state)
        else:
            new_state, up, down = jax.lax.switch(index, [sequential_update(n) for n in lengths], state)
        return new_state, self._pulse_record(up, down)

    def update_programmed(self, state: CrossbarState, delta_w: ArrayLike, *, key: PRNGKeyArray,
                          stochastic_rounding: bool = True, max_pulses: int | None = None,
                          ) -> tuple[CrossbarState, PulseCounts]:
        """Program a desired weight change as a signed pulse count per cell.

        ``n = delta_w / dw_min`` rounded (stochastically, so the expected count is exact,
        or to nearest) and clipped to ``±max_pulses``; the devices decide what is realised.

        Args:
            delta_w: desired change, shape ``(out_features, in_features)``.
            key: PRNG key (rounding and cycle-to-cycle noise).

        Returns:
            ``(new_state, pulses)`` as for :meth:`update_coincidence`.
        """
        delta_w = jnp.asarray(delta_w)
        if delta_w.shape != (self.out_features, self.in_features):
            raise ValueError(f"delta_w must have shape (out_features, in_features) = "
                             f"{(self.out_features, self.in_features)}, got {delta_w.shape}")
        check_finite("delta_w", delta_w)
        k_round, k_dev = jax.random.split(key)
        n = delta_w.T / self.dw_min
        if stochastic_rounding:
            n = jnp.floor(n + fast_random.uniform(k_round, n.shape, n.dtype))
        else:
            n = jnp.round(n)
        if max_pulses is not None:
            max_pulses = check_int("max_pulses", max_pulses, minimum=0)
            n = jnp.clip(n, -max_pulses, max_pulses)
        n = self._pad(n)
        up, down = jnp.maximum(n, 0), jnp.maximum(-n, 0)
        return (self._apply(state, up, down, k_dev, max_count=max_pulses),
                self._pulse_record(up, down))

    def write_energy(self, state: CrossbarState, pulses: PulseCounts) -> Array:
        """Energy [J] of the write pulses ``pulses`` (as returned by an update) given the
        state they were applied to."""
        states = [state.plus] if state.minus is None else [state.plus, state.minus]
        per_cell = 0.0
        for i, s in enumerate(states):
            e = self.device.pulse_energy(s)
            per_cell = per_cell + pulses.up[i] * self._trim(e.up) + pulses.down[i] * self._trim(e.down)
        return jnp.sum(per_cell)  # one pass over the cells

    def evolve(self, state: CrossbarState, duration: ArrayLike) -> CrossbarState:
        """Let ``duration`` [s] pass without pulses (device relaxation / retention)."""
        check_nonnegative("duration", duration)
        plus = self.device.evolve(state.plus, duration)
        minus = None if state.minus is None else self.device.evolve(state.minus, duration)
        return CrossbarState(plus, minus)


__all__ = ["Crossbar", "CrossbarState", "MVMEnergy"]
