"""Crossbars: a weight matrix held in tiles of a device — the composition of three pieces.

* the **device** (:mod:`synaptax.devices`): per-cell physics behind one contract;
* the **mapping** (:mod:`synaptax.arrays.mapping`): weights ↔ conductances (differential
  pair or reference column) and how a weight's pulses reach its devices;
* the **tile** (:mod:`synaptax.arrays.tile`): conductances → currents through the DAC,
  the array (ideal wires or the exact IR-drop network), read noise and the ADC.

How a desired update becomes pulses is an **update rule**
(:mod:`synaptax.arrays.updates`: stochastic pulse coincidence, programmed pulses, and the
digital transforms that chain in front of them); :meth:`Crossbar.update_coincidence` and
:meth:`Crossbar.update_programmed` are shortcuts to the two writing rules.

Large arrays: :meth:`Crossbar.jitted_update` compiles an update that writes the state in
place (its buffers donated: one copy of the state, no fresh output buffers);
:meth:`Crossbar.jitted_init` samples a large state block by block straight into its arrays;
big arrays are updated block by block on the CPU (:mod:`synaptax.arrays.mapping`); a generic
device's state shrinks from 21 to 13 bytes per cell with
:func:`synaptax.devices.generic.compact`.  On the CPU, glibc's transparent huge pages
(``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` in the environment of the process) make the
temporary buffers XLA allocates afresh at every call cheap to fault in
(``benchmarks/scale.py``).

The weight matrix as a layer sees it has shape ``(out_features, in_features)`` so that
``y = W x``; conductance arrays have shape ``(in_features, out_features)`` (rows are
inputs, columns outputs; see :mod:`synaptax.arrays.tile`).

Gradients: :meth:`Crossbar.forward` is an analog read; differentiating it with JAX
differentiates the quantisers' straight-through estimators and the matrix product.  The
analog layer (:func:`synaptax.training.layers.analog_matmul`) instead defines the
gradient with respect to the input as the tile's own transposed read
(:meth:`Crossbar.backward`, through its DAC, noise, IR drop and ADC), as the hardware
back-propagates errors; it is not the exact ``Wᵀ g``.
"""
from __future__ import annotations

from typing import Callable, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from .._checks import check_finite, check_nonnegative, check_positive
from ..circuits.converters import AbstractADC, AbstractDAC
from ..devices.core.contract import AbstractDevice, PulseCounts
from .mapping import BLOCK_CELLS, BLOCKED_MIN_CELLS, AbstractMapping, CrossbarState, get_mapping
from .tile import MVMEnergy, Tile, TileRead, vector_count


class Crossbar(eqx.Module):
    """A weight matrix held in one or more crossbar tiles of a device.

    Args:
        device: the device model of every cell.
        in_features: number of inputs (rows).
        out_features: number of outputs (columns).
        w_max: weight represented by a full-range conductance difference (dimensionless).
        mapping: ``"differential"``, ``"reference"`` or an
            :class:`~synaptax.arrays.mapping.AbstractMapping`.
        dac, adc, read_voltage, read_time, out_bound, input_scaling, max_tile_size, ir_drop,
        r_row, r_col, bound_management, max_bm_factor, max_bm_res: the tile's electrical
            configuration (:class:`~synaptax.arrays.tile.Tile`); ``bound_management=
            "iterative"`` re-reads samples that saturated the ADC with their input halved
            (aihwkit's iterative bound management), in :meth:`forward` and :meth:`backward`.
    """

    device: AbstractDevice
    mapping: AbstractMapping
    tile: Tile
    w_max: float

    def __init__(self, device: AbstractDevice, in_features: int, out_features: int, *, w_max: float = 1.0,
                 mapping: str | AbstractMapping = "differential", dac: AbstractDAC | None = None,
                 adc: AbstractADC | None = None,
                 read_voltage: float = 0.2, read_time: float = 10e-9, out_bound: float = 12.0,
                 input_scaling: str = "abs_max", max_tile_size: tuple[int, int] = (512, 512),
                 ir_drop: bool = False, r_row: float = 1.06, r_col: float = 1.06,
                 bound_management: str = "none", max_bm_factor: float = 1000.0, max_bm_res: float = 0.25):
        if not isinstance(device, AbstractDevice):
            raise TypeError(f"device must be a synaptax device model, got {type(device).__name__}")
        self.device = device
        self.mapping = get_mapping(mapping)
        self.tile = Tile(in_features, out_features, dac=dac, adc=adc, read_voltage=read_voltage,
                         read_time=read_time, out_bound=out_bound, input_scaling=input_scaling,
                         max_tile_size=max_tile_size, ir_drop=ir_drop, r_row=r_row, r_col=r_col,
                         bound_management=bound_management, max_bm_factor=max_bm_factor, max_bm_res=max_bm_res)
        check_positive("w_max", w_max)
        self.w_max = w_max

    # ------------------------------------------------------------------ the tile's settings
    in_features = property(lambda self: self.tile.in_features, doc="Number of inputs (rows).")
    out_features = property(lambda self: self.tile.out_features, doc="Number of outputs (columns).")
    dac = property(lambda self: self.tile.dac, doc="Input converter.")
    adc = property(lambda self: self.tile.adc, doc="Output converter.")
    read_voltage = property(lambda self: self.tile.read_voltage, doc="Full-scale read voltage [V].")
    read_time = property(lambda self: self.tile.read_time, doc="Duration of one MVM read [s].")
    out_bound = property(lambda self: self.tile.out_bound, doc="ADC full scale in weight units.")
    input_scaling = property(lambda self: self.tile.input_scaling, doc="Input scaling mode.")
    max_tile_size = property(lambda self: self.tile.max_tile_size, doc="Largest physical tile (rows, cols).")
    ir_drop = property(lambda self: self.tile.ir_drop, doc="Exact IR-drop solve on every read.")
    r_row = property(lambda self: self.tile.r_row, doc="Row wire resistance per segment [Ω].")
    r_col = property(lambda self: self.tile.r_col, doc="Column wire resistance per segment [Ω].")
    bound_management = property(lambda self: self.tile.bound_management,
                                doc="Bound management mode: 'none' or 'iterative'.")
    max_bm_factor = property(lambda self: self.tile.max_bm_factor,
                             doc="Largest input reduction factor of bound management.")
    max_bm_res = property(lambda self: self.tile.max_bm_res,
                          doc="Largest effective input resolution of bound management (normalised units).")
    tile_grid = property(lambda self: self.tile.tile_grid, doc="Number of physical tiles along rows and columns.")
    tile_shape = property(lambda self: self.tile.tile_shape, doc="Shape (rows, cols) of one physical tile.")
    padded_shape = property(lambda self: self.tile.padded_shape, doc="Conductance-array shape, padded to tiles.")

    @property
    def devices_per_weight(self) -> int:
        return self.mapping.devices_per_weight

    # ------------------------------------------------------------------ mapping
    @property
    def g_per_w(self) -> float:
        """Conductance [S] per unit weight."""
        g_min, g_max = self.device.conductance_range
        return self.mapping.g_per_w(g_min, g_max, self.w_max)

    @property
    def g_ref(self) -> float:
        """Mid-range conductance [S] (the reference of the ``"reference"`` mapping)."""
        g_min, g_max = self.device.conductance_range
        return 0.5 * (g_min + g_max)

    @property
    def dw_min(self) -> float:
        """Nominal weight change of one coincidence or programming pulse at mid-range."""
        return self.devices_per_weight * self.device.nominal_step / self.g_per_w

    @property
    def full_scale_current(self) -> float:
        """ADC saturation current [A]."""
        return self.tile.full_scale_current(self.g_per_w)

    def pad(self, a: Array) -> Array:
        """``(in_features, out_features)`` → the padded conductance-array shape."""
        return self.tile.pad(a)

    def _trim(self, a: Array) -> Array:
        return self.tile.trim(a)

    def init(self, *, key: PRNGKeyArray, weights: ArrayLike | None = None,
             placement: str = "centred") -> CrossbarState:
        """Initial state: device-to-device variation from ``key``, conductances programmed
        (ideally, without pulses) to ``weights`` of shape ``(out_features, in_features)``
        (clipped to what the cells can hold), zero by default.

        ``placement``: ``"centred"`` (training: a pair around mid-range, so either device
        can move both ways) or ``"one-sided"`` (deployment on a differential pair: the
        device of the weight's sign at the bottom of the window plus ``|w|·g_per_w``, the
        other at the bottom, as inference chips and aihwkit program a pair)."""
        shape, delta_g, g_low = self._programmed(weights, placement)
        return self.mapping.init(self.device, shape, delta_g, self.g_ref, key=key, g_low=g_low)

    def _programmed(self, weights, placement: str):
        """``(padded shape, conductance differences [S], g_low)`` of :meth:`init`'s arguments."""
        if placement not in ("centred", "one-sided"):
            raise ValueError(f"placement must be 'centred' or 'one-sided', got {placement!r}")
        shape = self.padded_shape
        if weights is None:
            w = jnp.zeros(shape)
        else:
            w = jnp.asarray(weights)
            if w.shape != (self.out_features, self.in_features):
                raise ValueError(f"weights must have shape (out_features, in_features) = "
                                 f"{(self.out_features, self.in_features)}, got {w.shape}")
            check_finite("weights", w)
            w = self.pad(w.T)
        g_low = None
        if placement == "one-sided":
            g_min, g_max = self.device.conductance_range
            g_low = g_min
        return shape, w * self.g_per_w, g_low

    def conductances(self, state: CrossbarState) -> tuple[Array, Array | None]:
        """``(G⁺, G⁻)`` [S], each of shape ``(in_features, out_features)`` (``G⁻`` None for
        the reference mapping)."""
        gp = self._trim(self.device.conductance(state.plus))
        gm = None if state.minus is None else self._trim(self.device.conductance(state.minus))
        return gp, gm

    def weights(self, state: CrossbarState) -> Array:
        """Weight matrix ``(out_features, in_features)`` the conductances represent (the
        cells' conductances, without read noise)."""
        g_a, g_b = self.mapping.arrays(self.device, state, self.g_ref)
        return self._trim(g_a - g_b).T / self.g_per_w

    # ------------------------------------------------------------------ reads and MVMs
    def read(self, state: CrossbarState, *, key: PRNGKeyArray | None = None, batch: int = 1) -> TileRead:
        """Read the conductance arrays once (:class:`~synaptax.arrays.tile.TileRead`) for
        any number of MVMs (:meth:`forward_read`, :meth:`backward_read`).

        With ideal wires the read is noiseless (read noise is drawn per MVM and sample);
        with IR drop every cell is sampled once here (``key`` required for devices with
        read noise) and each tile's network is prepared once for MVMs of ``batch`` input
        vectors."""
        g_a, g_b = self.mapping.arrays(self.device, state, self.g_ref)
        if self.ir_drop:
            if self.device.read_noise_std(state.plus) is not None:
                if key is None:
                    raise ValueError("key is required for an MVM on devices with read noise")
                k_a, k_b = jax.random.split(key)
                g_a = self.device.read(state.plus, key=k_a)
                if state.minus is not None:
                    g_b = self.device.read(state.minus, key=k_b)
            return self.tile.read(g_a, g_b, batch=batch)
        variance = None
        std = [self.device.read_noise_std(s) for s in self.mapping.device_states(state)]
        if std[0] is not None:
            variance = sum(s**2 for s in std)
        return self.tile.read(g_a, g_b, variance=variance)

    def forward_read(self, read: TileRead, x: ArrayLike, *, key: PRNGKeyArray | None = None
                     ) -> tuple[Array, MVMEnergy]:
        """``y = W x`` on a read: ``x (..., in_features)`` → ``(..., out_features)``, and the
        energy [J] of the MVMs."""
        return self.tile.mvm(read, x, g_per_w=self.g_per_w, key=key, name="x")

    def backward_read(self, read: TileRead, d: ArrayLike, *, key: PRNGKeyArray | None = None
                      ) -> tuple[Array, MVMEnergy]:
        """``Wᵀ d`` on a read (columns driven, row currents read): ``d (..., out_features)``
        → ``(..., in_features)``, and the energy [J] of the MVMs."""
        return self.tile.mvm(read, d, g_per_w=self.g_per_w, key=key, transposed=True, name="d")

    def forward(self, state: CrossbarState, x: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
        """Analog ``y = W x``.

        Args:
            state: the crossbar state.
            x: inputs, shape ``(..., in_features)``.
            key: PRNG key for read noise and ADC noise (required when either is non-zero).

        Returns:
            ``y``, shape ``(..., out_features)``, in weight × input units.
        """
        k_read, k_mvm = (None, None) if key is None else tuple(jax.random.split(key))
        return self.forward_read(self.read(state, key=k_read, batch=vector_count(x)), x, key=k_mvm)[0]

    def backward(self, state: CrossbarState, d: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
        """Analog transposed MVM ``Wᵀ d`` (columns driven, row currents read), as used to
        back-propagate errors.  ``d``: shape ``(..., out_features)``; returns
        ``(..., in_features)``."""
        k_read, k_mvm = (None, None) if key is None else tuple(jax.random.split(key))
        return self.backward_read(self.read(state, key=k_read, batch=vector_count(d)), d, key=k_mvm)[0]

    def mvm_energy(self, state: CrossbarState, x: ArrayLike, *, transposed: bool = False) -> MVMEnergy:
        """Energy [J] of the MVMs of a batch of inputs ``x`` (shape ``(..., n)``): cells and
        wires (``read_time ·`` the power the drivers deliver; with ``ir_drop`` from the
        network solve, split into cells and wires) and converters (one DAC conversion per
        driven line per tile it drives, one ADC conversion per output line per tile).  The
        cells are taken without read noise, and without the re-reads of bound management
        (which depend on the outputs; :meth:`forward_read` returns the energy with them)."""
        g_a, g_b = self.mapping.arrays(self.device, state, self.g_ref)
        return self.tile.mvm_energy(self.tile.read(g_a, g_b, batch=vector_count(x)), x, transposed=transposed)

    # ------------------------------------------------------------------ updates
    def apply_pulses(self, state: CrossbarState, up: Array, down: Array, *, key: PRNGKeyArray,
                     max_count: int | None = None) -> CrossbarState:
        """Apply each weight's ``up``/``down`` pulse counts (padded shape) to its devices
        through the mapping.  ``max_count``: static bound of whole-number counts, when known."""
        return self.mapping.apply(self.device, state, up, down, key=key, max_count=max_count)

    def pulse_record(self, up: Array, down: Array) -> PulseCounts:
        """The pulses each device received for weight counts ``up``/``down`` (padded shape):
        ``(devices_per_weight, in_features, out_features)``."""
        return self.mapping.pulse_record(self._trim(up), self._trim(down))

    def update_coincidence(self, state: CrossbarState, x: ArrayLike, d: ArrayLike, *, learning_rate: ArrayLike,
                           key: PRNGKeyArray, bit_length: int = 31, update_management: bool = True,
                           batch_mode: Literal["aggregate", "sequential"] = "aggregate",
                           bl_management: bool = True) -> tuple[CrossbarState, PulseCounts]:
        """Stochastic pulse coincidence: on average ``ΔW ≈ learning_rate · Σ_b d_b x_bᵀ``.
        See :func:`synaptax.arrays.updates.coincidence_update` (arguments and returns)."""
        from .updates.coincidence import coincidence_update

        return coincidence_update(self, state, x, d, learning_rate=learning_rate, key=key, bit_length=bit_length,
                                  update_management=update_management, batch_mode=batch_mode,
                                  bl_management=bl_management)

    def update_programmed(self, state: CrossbarState, delta_w: ArrayLike, *, key: PRNGKeyArray,
                          stochastic_rounding: bool = True, max_pulses: int | None = None,
                          ) -> tuple[CrossbarState, PulseCounts]:
        """Program ``delta_w`` ``(out_features, in_features)`` as a signed pulse count per
        cell.  See :func:`synaptax.arrays.updates.programmed_update`."""
        from .updates.programmed import programmed_update

        return programmed_update(self, state, delta_w, key=key, stochastic_rounding=stochastic_rounding,
                                 max_pulses=max_pulses)

    def jitted_update(self, rule: Literal["coincidence", "programmed"] = "coincidence", *, pulses: bool = False,
                      **options) -> Callable:
        """A compiled update that writes the crossbar state **in place** (the input state's
        buffers are donated to it).

        ``rule="coincidence"``: ``f(state, x, d, learning_rate, key)``, the arguments of
        :meth:`update_coincidence`; ``rule="programmed"``: ``f(state, delta_w, key)``, those
        of :meth:`update_programmed`.  ``options`` are the rule's other keyword arguments
        (``bit_length``, ``batch_mode``, …; ``stochastic_rounding``, ``max_pulses``).
        ``f`` returns the new state, or ``(new_state, pulses)`` with ``pulses=True`` (the
        pulse record: ``2 × devices_per_weight`` more arrays of the weights' shape).

        The state passed in is consumed: its arrays are deleted, and the new state lives in
        the same memory (on a backend that honours donation; the CPU and GPU backends do),
        so an update holds one copy of the state, not two, and allocates no fresh output
        buffers (on the CPU, every fresh buffer above 32 MiB is a new mapping whose pages
        fault in at first touch).  Use ``state = f(state, ...)``; the same pattern with any
        jitted step: ``jax.jit(step, donate_argnums=...)`` on the argument holding the
        state.  The crossbar's parameters are constants of the compiled update."""
        crossbar = self
        if rule == "coincidence":
            def run(state, x, d, learning_rate, key):
                new, record = crossbar.update_coincidence(state, x, d, learning_rate=learning_rate, key=key,
                                                          **options)
                return (new, record) if pulses else new
        elif rule == "programmed":
            def run(state, delta_w, key):
                new, record = crossbar.update_programmed(state, delta_w, key=key, **options)
                return (new, record) if pulses else new
        else:
            raise ValueError(f"rule must be 'coincidence' or 'programmed', got {rule!r}")
        return jax.jit(run, donate_argnums=0)

    def jitted_init(self, *, placement: str = "centred") -> Callable:
        """:meth:`init` compiled: ``f(key, weights=None) -> CrossbarState``, without the
        eager intermediate arrays of the state's size (an eager :meth:`init` holds several
        at once).

        An array of fewer than :data:`~synaptax.arrays.mapping.BLOCKED_MIN_CELLS` cells is
        :meth:`init`'s, sample for sample (to the rounding of fused operations).  A larger
        one is sampled block by block of rows (about
        :data:`~synaptax.arrays.mapping.BLOCK_CELLS` cells; block ``b`` with ``key`` folded
        with ``b``) straight into the state's arrays, so the compiled init needs little
        more memory than the state itself (sampling the whole array at once needs about
        32 more bytes per cell at float32): the same distributions as :meth:`init`, not
        the same samples."""
        if placement not in ("centred", "one-sided"):
            raise ValueError(f"placement must be 'centred' or 'one-sided', got {placement!r}")
        crossbar = self

        def run(key, weights=None):
            shape, delta_g, g_low = crossbar._programmed(weights, placement)
            if shape[0] < 2 or shape[0] * shape[1] < BLOCKED_MIN_CELLS:
                return crossbar.mapping.init(crossbar.device, shape, delta_g, crossbar.g_ref, key=key, g_low=g_low)
            return _init_blocked(crossbar, shape, delta_g, g_low, key)

        return jax.jit(run)

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



def _init_blocked(crossbar: Crossbar, shape, delta_g: Array, g_low, key: PRNGKeyArray) -> CrossbarState:
    """The crossbar state of :meth:`Crossbar.jitted_init` for a large array: each block of
    rows initialised by the mapping with ``key`` folded with the block's number and written
    into the state's arrays (a loop whose carry is the state)."""
    rows, cols = shape
    per_block = max(1, min(rows, BLOCK_CELLS // max(1, cols)))
    n_blocks, tail = divmod(rows, per_block)
    delta_g = jnp.broadcast_to(delta_g, shape)

    def block(start, size, index):
        part = jax.lax.dynamic_slice_in_dim(delta_g, start, size, 0)
        return crossbar.mapping.init(crossbar.device, (size, cols), part, crossbar.g_ref,
                                     key=jax.random.fold_in(key, index), g_low=g_low)

    first = block(0, per_block, 0)
    leaves, treedef = jax.tree.flatten(first)
    cell = [i for i, leaf in enumerate(leaves) if jnp.ndim(leaf) >= 2 and jnp.shape(leaf)[:2] == (per_block, cols)]

    def write(fields, part, start):
        new = jax.tree.leaves(part)
        return tuple(jax.lax.dynamic_update_slice_in_dim(f, new[i].astype(f.dtype), start, 0)
                     for f, i in zip(fields, cell))

    fields = tuple(jnp.zeros(shape + jnp.shape(leaves[i])[2:], leaves[i].dtype) for i in cell)
    fields = write(fields, first, 0)
    fields = jax.lax.fori_loop(1, n_blocks, lambda b, f: write(f, block(b * per_block, per_block, b), b * per_block),
                               fields)
    if tail:
        fields = write(fields, block(n_blocks * per_block, tail, n_blocks), n_blocks * per_block)
    out = list(leaves)  # fields that are not per cell (a compact state's nominal values) as the first block's
    for f, i in zip(fields, cell):
        out[i] = f
    return jax.tree.unflatten(treedef, out)


__all__ = ["Crossbar", "CrossbarState", "MVMEnergy"]
