"""Transfer rules: the Tiki-Taka family — a fast array ``A`` takes the updates, and its
columns are transferred, a few at a time, into the slow weights ``W`` the network reads.

The rule :class:`Transfer` takes an :class:`~synaptax.arrays.updates.OuterProduct`
(``x``, ``d = −∂L/∂y``, the schedule's learning rate ``lr``) and writes the crossbar ``W``;
its state (:class:`TransferState`) holds the fast array's crossbar state and the digital
buffers.  One update (a mini-batch of ``B`` samples):

1. **Fast update.**  ``A`` (a crossbar of the same tile, of the same device or of
   ``fast_device``) receives the outer product by stochastic pulse coincidence
   (``bit_length`` slots, update and bit-length management) with the chopped inputs
   ``c ⊙ x`` (``c ∈ {±1}`` per input line, all +1 without choppers), at the learning rate
   ``fast_lr`` (× ``lr`` when ``scale_fast_lr``; with ``auto_scale`` divided by running
   averages of ``max|x|·max|d|`` and multiplied by ``bit_length·dw_min(A)``, so that the
   largest element receives about ``fast_lr·bit_length`` pulses whatever the gradient's
   size).
2. **Transfer schedule.**  Every ``transfer_every`` update cycles (samples, or mini-batches
   with ``units_in_mbatch``) a transfer reads ``columns_per_transfer`` consecutive columns
   of ``A`` (column ``i`` = the weights of input line ``i``), cycling through the columns.
   A column is read as the hardware reads it: a one-hot input through the tile (DAC,
   array, read noise, ADC).  All transfers due in one update read distinct columns of the
   updated ``A`` in one batched read; a schedule that asks for more columns than the array
   has is capped at one full sweep per update (a small layer then transfers less often than
   ``transfer_every`` says).
3. **Transfer write**, by variant:

   * *Tiki-Taka v1* (Gokmen & Haensch, Front. Neurosci. 14, 103 (2020) [pub];
     ``buffered=False``): the read column ``v`` is written into ``W`` by pulse
     coincidence, ``W[:, i] += transfer_lr·lr·v`` (one-hot row input, ``v`` the column
     errors, ``transfer_bit_length`` slots).
   * *TTv2* (Gokmen, Front. Artif. Intell. 4, 699148 (2021) [pub]; ``buffered=True``): a
     digital buffer ``H`` (dimensionless; 1 = one pulse on ``W``) accumulates
     ``c_i·v·transfer_lr·lr / g`` with the granularity ``g = buffer_threshold ·
     dw_min(A)`` (× ``auto_granularity / (in_features·transfer_every)`` when
     ``auto_granularity > 0``, so a full sweep over the columns is what fills it);
     wherever ``|H| ≥ 1``, ``n = trunc(H)`` (clipped to ``±transfer_bit_length``) pulses are
     programmed into ``W``, and ``H ← momentum·H`` (``forget_buffer``) or
     ``H ← H − (1 − momentum)·n``.
   * *Chopped TTv2* (Rasch, Carta, Fagbohungbe & Gokmen, "Fast and robust analog
     in-memory deep neural network training", Nat. Commun. 15, 7133 (2024) [pub,
     recalled; verify]): TTv2 with choppers —
     after its read, the chopper of column ``i`` flips with probability
     ``chopper_probability`` (``chopper_random``) or regularly every
     ``max(⌈1/chopper_probability⌉, 2)`` sweeps; the buffer de-chops (``c_i·v``), so a
     constant offset of ``A`` (its devices' symmetry points) averages out while the
     gradient, written with the chopper's sign, does not.
   * *AGAD* (Rasch et al., same reference [pub]; ``dynamic=True``): the reference is
     computed on the fly: each element keeps a running mean ``m`` of its reads
     (``m ← (1 − s)·m + s·v``, ``s = min(tail_weightening / n_chop, 1)``, ``n_chop`` the
     chopper period in sweeps) and, at the first read after its chopper switched, takes
     ``m`` as the past mean ``μ``; the buffer receives ``c_i·(v − μ)`` instead of
     ``c_i·v``; writes start after the first ``n_chop`` sweeps.

Energy and time of an update (:class:`~synaptax.arrays.updates.UpdateCost`, returned in the
:class:`~synaptax.arrays.updates.Written`): the fast array's write pulses (device physics),
the transfer reads (cells and wires as any MVM of the tile; converters: the ADC conversions
of the tile and one DAC conversion per read, since a one-hot read drives a single line) and
the transfer writes into ``W`` (the written crossbar's pulses).  Time: the fast array's trains
(``B × slots × pulse_time``), one ``read_time`` per transfer read and the transfer writes
(programmed one column at a time).

The names of the hyperparameters follow the papers; aihwkit's names, where they differ:
``columns_per_transfer`` = ``n_reads_per_transfer``, ``buffer_threshold`` =
``thres_scale``, ``chopper_probability`` = ``in_chop_prob``, ``chopper_random`` =
``in_chop_random``, ``transfer_bit_length`` = the transfer update's ``desired_bl``.
Known differences from aihwkit: the fast update of a mini-batch is one aggregate
coincidence update (aihwkit updates and transfers sample by sample, so a chopper flip acts
from the next sample, here from the next mini-batch); the effective weight seen by the
network is ``W`` alone (aihwkit's ``gamma = 0``, the default of all its Tiki-Taka presets).
"""
from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ... import _random as fast_random
from ..._checks import check_int, check_nonnegative, check_positive, is_concrete
from .base import AbstractUpdateRule, OuterProduct, UpdateCost, Written
from .coincidence import _check_pair, _coincidence
from .programmed import programming_time


class TransferState(eqx.Module):
    """State of a :class:`Transfer` rule for one crossbar (a pytree).

    Attributes:
        fast: the fast array's crossbar state (:class:`~synaptax.arrays.CrossbarState`).
        buffer: the digital buffer ``H``, ``(out_features, in_features)``, dimensionless
            (1 = one pulse on the slow weights); zeros for Tiki-Taka v1.
        chopper: the input choppers ``c``, ``(in_features,)``, ±1.
        running_mean: AGAD's running mean of each element's reads, weight units,
            ``(out_features, in_features)``; zeros otherwise.
        past_mean: AGAD's reference ``μ`` (the running mean when the chopper last switched).
        switched: ``(in_features,)`` booleans: the column's chopper switched since its last read.
        cycles: update cycles counted (samples, or mini-batches with ``units_in_mbatch``), int32.
        reads: columns read so far, int32 (the next transfer reads column ``reads mod in_features``).
        x_max, d_max: running averages of the largest ``|x|`` and ``|d|`` per sample
            (``auto_scale``); 0 before the first update.
        reference: the fast array's symmetry-point weights found by zero-shifting,
            ``(out_features, in_features)``, subtracted from every transfer read; zeros
            without zero-shifting.
    """

    fast: object
    buffer: Array
    chopper: Array
    running_mean: Array
    past_mean: Array
    switched: Array
    cycles: Array
    reads: Array
    x_max: Array
    d_max: Array
    reference: Array


class Transfer(AbstractUpdateRule):
    """The Tiki-Taka family's update rule (module docstring).

    Attributes:
        buffered: TTv2's digital buffer ``H`` with threshold (False: Tiki-Taka v1, the
            columns written by pulse coincidence).
        dynamic: AGAD's on-the-fly reference (needs ``buffered``).
        transfer_every: update cycles between transfers (> 0; below 1: several per cycle).
        units_in_mbatch: count ``transfer_every`` in mini-batches (else in samples).
        columns_per_transfer: consecutive columns read and written per transfer.
        fast_lr: learning rate of the fast array's update.
        scale_fast_lr: multiply ``fast_lr`` by the schedule's learning rate.
        auto_scale: normalise the fast update by running averages of ``max|x|·max|d|``.
        auto_momentum: momentum of those running averages, in [0, 1).
        transfer_lr: learning rate of the transfers.
        scale_transfer_lr: multiply ``transfer_lr`` by the schedule's learning rate.
        buffer_threshold: threshold of ``H`` in units of ``dw_min(A)`` (with
            ``auto_granularity``: per sweep), > 0.
        auto_granularity: scale the threshold by ``auto_granularity / (in_features ·
            transfer_every)`` (0: off).
        momentum: fraction of ``H`` kept after a transfer, in [0, 1).
        forget_buffer: after a transfer ``H ← momentum·H`` (else ``H ← H − (1−momentum)·n``).
        buffer_cap: AGAD without ``forget_buffer``: ``|H| ≤ buffer_cap·transfer_bit_length``
            (0: no cap).
        transfer_bit_length: slots of a v1 transfer's coincidence trains; most pulses per
            element and transfer of the buffered variants.
        chopper_probability: chopper flip probability per read (or frequency, regular
            choppers), in [0, 1].
        chopper_random: flip at random (else regularly every ``max(⌈1/p⌉, 2)`` sweeps).
        tail_weightening: AGAD's weight of the end of a chopper period in the running mean.
        bit_length: slots of the fast update's coincidence trains.
        fast_device: the fast array's device (None: the crossbar's own).
        zero_shift_pulses: zero-shifting (Kim et al., "Zero-shifting technique for deep
            neural network training on resistive cross-point arrays", arXiv:1907.10228
            (2019) [pub, recalled]): at initialisation the fast array receives this many
            alternating potentiation/depression pulse pairs, which bring every device to
            its symmetry point (where up and down steps are equal), and the weights read
            there are kept as a digital reference that every transfer read subtracts —
            aihwkit's presets assume this calibration (``subtract_symmetry_point``).
            0: off (the fast array starts programmed to zero weight).
    """

    buffered: bool = eqx.field(default=True, static=True, kw_only=True)
    dynamic: bool = eqx.field(default=False, static=True, kw_only=True)
    transfer_every: float = eqx.field(default=1.0, static=True, kw_only=True)
    units_in_mbatch: bool = eqx.field(default=False, static=True, kw_only=True)
    columns_per_transfer: int = eqx.field(default=1, static=True, kw_only=True)
    fast_lr: float = eqx.field(default=1.0, kw_only=True)
    scale_fast_lr: bool = eqx.field(default=True, static=True, kw_only=True)
    auto_scale: bool = eqx.field(default=False, static=True, kw_only=True)
    auto_momentum: float = eqx.field(default=0.99, kw_only=True)
    transfer_lr: float = eqx.field(default=1.0, kw_only=True)
    scale_transfer_lr: bool = eqx.field(default=True, static=True, kw_only=True)
    buffer_threshold: float = eqx.field(default=1.0, kw_only=True)
    auto_granularity: float = eqx.field(default=0.0, kw_only=True)
    momentum: float = eqx.field(default=0.0, kw_only=True)
    forget_buffer: bool = eqx.field(default=True, static=True, kw_only=True)
    buffer_cap: float = eqx.field(default=0.0, kw_only=True)
    transfer_bit_length: int = eqx.field(default=1, static=True, kw_only=True)
    chopper_probability: float = eqx.field(default=0.0, kw_only=True)
    chopper_random: bool = eqx.field(default=True, static=True, kw_only=True)
    tail_weightening: float = eqx.field(default=5.0, kw_only=True)
    bit_length: int = eqx.field(default=31, static=True, kw_only=True)
    fast_device: object = eqx.field(default=None, kw_only=True)
    zero_shift_pulses: int = eqx.field(default=0, static=True, kw_only=True)

    def __check_init__(self):
        check_positive("transfer_every", self.transfer_every)
        check_int("columns_per_transfer", self.columns_per_transfer, minimum=1)
        check_int("transfer_bit_length", self.transfer_bit_length, minimum=1)
        check_int("bit_length", self.bit_length, minimum=1)
        check_int("zero_shift_pulses", self.zero_shift_pulses, minimum=0)
        for name in ("fast_lr", "transfer_lr", "auto_granularity", "buffer_cap", "tail_weightening"):
            check_nonnegative(name, getattr(self, name))
        check_positive("buffer_threshold", self.buffer_threshold)
        for name in ("momentum", "auto_momentum"):
            v = getattr(self, name)
            if is_concrete(v) and not 0.0 <= float(v) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {float(v)!r}")
        if is_concrete(self.chopper_probability) and not 0.0 <= float(self.chopper_probability) <= 1.0:
            raise ValueError(f"chopper_probability must lie in [0, 1], got {float(self.chopper_probability)!r}")
        if self.dynamic and not self.buffered:
            raise ValueError("dynamic (AGAD) transfer needs buffered=True")
        if self.fast_device is not None:
            from ...devices.core.contract import AbstractDevice

            if not isinstance(self.fast_device, AbstractDevice):
                raise TypeError(f"fast_device must be a synaptax device model, got {type(self.fast_device).__name__}")

    # ------------------------------------------------------------------ pieces
    def fast_crossbar(self, crossbar):
        """The fast array ``A``: the crossbar's tile and mapping with ``fast_device``."""
        if self.fast_device is None:
            return crossbar
        return eqx.tree_at(lambda c: c.device, crossbar, self.fast_device)

    def columns_per_update(self, batch: int) -> int:
        """Most columns the schedule asks for in one update of ``batch`` samples (static;
        capped at the array's columns when the update runs)."""
        cycles = 1 if self.units_in_mbatch else batch
        return math.ceil(cycles / self.transfer_every - 1e-12) * self.columns_per_transfer

    def init(self, crossbar, *, key: PRNGKeyArray | None = None) -> TransferState:
        """The fast array programmed (ideally) to zero weight, empty buffers, choppers +1.
        ``key``: the fast array's device-to-device variation (required)."""
        if key is None:
            raise ValueError("key is required to initialise a transfer rule (the fast array's devices)")
        k_init, k_shift = jax.random.split(key)
        fast_crossbar = self.fast_crossbar(crossbar)
        fast = fast_crossbar.init(key=k_init)
        shape = (crossbar.out_features, crossbar.in_features)
        zeros = jnp.zeros(shape)
        reference = zeros
        if self.zero_shift_pulses:
            fast = _zero_shift(fast_crossbar, fast, self.zero_shift_pulses, k_shift)
            reference = fast_crossbar.weights(fast)
        zero = jnp.zeros((), jnp.int32)
        return TransferState(fast, zeros, jnp.ones((crossbar.in_features,)), zeros, zeros,
                             jnp.zeros((crossbar.in_features,), bool), zero, zero, jnp.zeros(()), jnp.zeros(()),
                             reference)

    def chopper_period(self) -> Array:
        """``n_chop = max(⌈1/chopper_probability⌉, 2)`` sweeps (2 when the probability is 0)."""
        p = jnp.asarray(self.chopper_probability, jnp.float32)
        return jnp.where(p > 0, jnp.maximum(jnp.ceil(1.0 / jnp.where(p > 0, p, 1.0)), 2.0), 2.0).astype(jnp.int32)

    def evolve(self, state: TransferState, crossbar, duration) -> TransferState:
        """The fast array relaxes for ``duration`` [s] too."""
        return eqx.tree_at(lambda s: s.fast, state, self.fast_crossbar(crossbar).evolve(state.fast, duration))

    # ------------------------------------------------------------------ the update
    def update(self, request, state: TransferState, crossbar, crossbar_state, *, key):
        self._expect(request, OuterProduct, "Transfer")
        x, d = _check_pair(crossbar, request.x, request.d)
        check_nonnegative("learning_rate", request.learning_rate)
        lr = jnp.asarray(request.learning_rate, x.dtype)
        batch, n_in = x.shape[0], crossbar.in_features
        fast = self.fast_crossbar(crossbar)
        k_fast, k_read, k_write, k_chop = jax.random.split(key, 4)

        # 1. the fast update, chopped
        count_lr, x_max, d_max = self._fast_lr(state, x, d, lr, fast.dw_min)
        a_new, a_up, a_down, slots = _coincidence(
            fast, state.fast, x * state.chopper.astype(x.dtype), d, learning_rate=count_lr, key=k_fast,
            bit_length=self.bit_length, update_management=True, batch_mode="aggregate", bl_management=True)
        a_pulses = fast.pulse_record(a_up, a_down)
        cost = UpdateCost(fast.write_energy(state.fast, a_pulses),
                          *(jnp.zeros((), x.dtype),) * 2,
                          jnp.sum(a_pulses.up) + jnp.sum(a_pulses.down),
                          batch * slots * fast.device.pulse_time)

        # 2. the columns due this update, read from the updated fast array
        cols = min(self.columns_per_update(batch), n_in)  # each column read at most once per update
        inc = 1 if self.units_in_mbatch else batch
        te = self.transfer_every
        due = (jnp.floor((state.cycles + inc) / te + 1e-9) - jnp.floor(state.cycles / te + 1e-9)).astype(jnp.int32)
        n_cols = jnp.minimum(due * self.columns_per_transfer, cols)
        t = jnp.arange(cols)
        active = t < n_cols
        index = (state.reads + t) % n_in
        sweeps = (state.reads + t) // n_in  # sweeps finished before each read
        onehot = ((index[:, None] == jnp.arange(n_in)) & active[:, None]).astype(x.dtype)
        kr1, kr2 = jax.random.split(k_read)
        v, e = fast.forward_read(fast.read(a_new, key=kr1, batch=cols), onehot, key=kr2)  # (cols, out)
        if self.zero_shift_pulses:
            v = v - jnp.where(active[:, None], state.reference[:, index].T, 0.0)
        # converters: the ADCs of the reads that ran, as the tile counts them; of the DACs
        # only the one driving the read's row (a one-hot read drives a single line)
        share = n_cols.astype(x.dtype) / cols
        converters = e.adc * share + n_cols * fast.dac.energy
        cost = cost + UpdateCost(jnp.zeros((), x.dtype), e.device + e.wire, converters,
                                 jnp.zeros((), x.dtype), n_cols * crossbar.read_time)

        # 3. the transfer write
        c = state.chopper[index].astype(x.dtype)
        if not self.buffered:
            lr_t = self.transfer_lr * (lr if self.scale_transfer_lr else 1.0)
            w_new, up, down, w_slots = _coincidence(
                crossbar, crossbar_state, onehot, v * c[:, None], learning_rate=lr_t, key=k_write,
                bit_length=self.transfer_bit_length, update_management=True, batch_mode="aggregate",
                bl_management=True)
            w_time = n_cols * w_slots * crossbar.device.pulse_time
            new_state = state
        else:
            w_new, up, down, new_state = self._buffered_write(state, crossbar, crossbar_state, v, c, index, sweeps,
                                                              active, lr, fast.dw_min, k_write)
            w_time = programming_time(crossbar, up, down)

        # 4. choppers flip after their read; counters advance
        chopper, switched = self._flip(state, index, sweeps, active, k_chop)
        new_state = TransferState(a_new, new_state.buffer, chopper, new_state.running_mean, new_state.past_mean,
                                  switched, state.cycles + inc, state.reads + n_cols, x_max, d_max,
                                  state.reference)
        return Written(w_new, crossbar.pulse_record(up, down), w_time, cost), new_state

    def _fast_lr(self, state, x, d, lr, dw_min):
        """The fast update's learning rate and the updated running maxima."""
        x_max, d_max = state.x_max, state.d_max
        count_lr = jnp.asarray(self.fast_lr, x.dtype)
        if self.auto_scale:
            mom = self.auto_momentum
            xm = jnp.mean(jnp.max(jnp.abs(x), axis=-1))
            dm = jnp.mean(jnp.max(jnp.abs(d), axis=-1))
            x_max = jnp.where(state.x_max > 0, mom * state.x_max + (1 - mom) * xm, xm)
            d_max = jnp.where(state.d_max > 0, mom * state.d_max + (1 - mom) * dm, dm)
            norm = x_max * d_max
            count_lr = count_lr * jnp.where(norm > 0, self.bit_length * dw_min / jnp.where(norm > 0, norm, 1.0), 1.0)
        if self.scale_fast_lr:
            count_lr = count_lr * lr
        return count_lr, x_max, d_max

    def _buffered_write(self, state, crossbar, crossbar_state, v, c, index, sweeps, active, lr, dw_min, key):
        """TTv2 / c-TTv2 / AGAD: the buffer, its threshold, the pulses into ``W``."""
        n_in = crossbar.in_features
        granularity = self.buffer_threshold * dw_min
        granularity = granularity * jnp.where(self.auto_granularity > 0,
                                              self.auto_granularity / (n_in * self.transfer_every), 1.0)
        lr_scale = self.transfer_lr * (lr if self.scale_transfer_lr else 1.0) / granularity
        v = v.T  # (out, cols): the columns read
        h = state.buffer[:, index]
        running, past = state.running_mean, state.past_mean
        if self.dynamic:
            mu = jnp.where(state.switched[index], running[:, index], past[:, index])
            signal = (v - mu) * c
            n_chop = self.chopper_period()
            s = jnp.minimum(self.tail_weightening / n_chop, 1.0).astype(v.dtype)
            past = past.at[:, index].set(jnp.where(active, mu, past[:, index]))
            running = running.at[:, index].set(jnp.where(active, running[:, index] * (1 - s) + v * s,
                                                         running[:, index]))
        else:
            signal = v * c
        h = h + jnp.where(active, signal * lr_scale, 0.0)
        limit = self.transfer_bit_length
        steps = jnp.where((jnp.abs(h) >= 1.0) & active, jnp.clip(jnp.trunc(h), -limit, limit), 0.0)
        if self.forget_buffer:
            h = jnp.where(steps != 0, self.momentum * h, h)
        else:
            h = h - (1.0 - self.momentum) * steps
            if self.dynamic:
                cap = self.buffer_cap * limit
                h = jnp.where(cap > 0, jnp.clip(h, -cap, cap), h)
        write = steps
        if self.dynamic:
            write = jnp.where(sweeps > self.chopper_period(), steps, 0.0)  # warm-up: no writes
        buffer = state.buffer.at[:, index].set(jnp.where(active, h, state.buffer[:, index]))
        counts = jnp.zeros((n_in, crossbar.out_features), v.dtype).at[index].set(write.T)
        up, down = crossbar.pad(jnp.maximum(counts, 0)), crossbar.pad(jnp.maximum(-counts, 0))
        w_new = _write_rows(crossbar, crossbar_state, index, up, down, key=key, max_count=limit)
        new_state = eqx.tree_at(lambda st: (st.buffer, st.running_mean, st.past_mean), state,
                                (buffer, running, past))
        return w_new, up, down, new_state

    def _flip(self, state, index, sweeps, active, key):
        """The choppers after this update's reads, and which columns switched."""
        p = jnp.asarray(self.chopper_probability)
        if self.chopper_random:
            flip = fast_random.uniform(key, index.shape, jnp.float32) < p
        else:
            n_chop = self.chopper_period()
            flip = ((sweeps % n_chop) + 1 == n_chop) & (p > 0)
        if self.dynamic:
            n_chop = self.chopper_period()
            flip = flip | ((sweeps % n_chop) + 1 == n_chop)
        flip = flip & active
        c = state.chopper[index]
        chopper = state.chopper.at[index].set(jnp.where(flip, -c, c))
        switched = state.switched.at[index].set(jnp.where(active, flip, state.switched[index]))
        return chopper, switched


def _zero_shift(crossbar, state, pairs: int, key):
    """``pairs`` alternating potentiation/depression pulses on every device of the array."""
    ones = jnp.ones(crossbar.padded_shape)
    zeros = jnp.zeros_like(ones)

    def pair(i, st):
        k_up, k_down = jax.random.split(jax.random.fold_in(key, i))
        st = crossbar.apply_pulses(st, ones, zeros, key=k_up, max_count=1)
        return crossbar.apply_pulses(st, zeros, ones, key=k_down, max_count=1)

    return jax.lax.fori_loop(0, pairs, pair, state)


def _write_rows(crossbar, state, rows: Array, up: Array, down: Array, *, key, max_count: int):
    """Apply the padded counts ``up``/``down``, which are zero outside the distinct ``rows``.

    For a device without time dependence (its ``evolve`` is the identity) only those rows'
    cells are updated — the same result in distribution as the whole array, at the cost of
    the rows; a device that evolves in time gets the whole array, since every cell sits
    through the write pulses."""
    from ...devices.core.contract import AbstractDevice

    if type(crossbar.device)._evolve is not AbstractDevice._evolve:
        return crossbar.apply_pulses(state, up, down, key=key, max_count=max_count)
    sub = jax.tree.map(lambda a: a[rows], state)
    sub = crossbar.mapping.apply(crossbar.device, sub, up[rows], down[rows], key=key, max_count=max_count)
    return jax.tree.map(lambda a, b: a.at[rows].set(b), state, sub)


__all__ = ["Transfer", "TransferState"]
