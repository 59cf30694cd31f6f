"""Stochastic pulse coincidence (Gokmen & Vlasov 2016; aihwkit's ``PulseType.StochasticCompressed``).

Row ``i`` of sample ``b`` fires each of ``bit_length`` slots with probability
``p_i = A|x_i|``, column ``j`` with ``q_j = B|d_j|``; a cell gets a pulse where both fire,
of sign ``sign(x_i d_j)``; ``A·B = learning_rate / (bit_length · dw_min)`` so the expected
change is the requested outer product while ``p, q ≤ 1``.  Update management (balanced
``A``, ``B``) and bit-length management (the shortest train that can deliver the update)
as in aihwkit.  The rule :class:`StochasticCoincidence` takes an
:class:`~synaptax.arrays.updates.OuterProduct` and writes the crossbar.
"""
from __future__ import annotations

from typing import Any, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ... import _random as fast_random
from ..._checks import check_finite, check_int, check_nonnegative
from ...devices.core.contract import PulseCounts
from ..sparse import apply_pulses_sparse
from .base import AbstractUpdateRule, OuterProduct, Written

_HIGHEST = jax.lax.Precision.HIGHEST


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


def coincidence_update(crossbar, state, x: ArrayLike, d: ArrayLike, *, learning_rate: ArrayLike,
                       key: PRNGKeyArray, bit_length: int = 31, update_management: bool = True,
                       batch_mode: Literal["aggregate", "sequential"] = "aggregate",
                       bl_management: bool = True) -> tuple[Any, PulseCounts]:
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
    new_state, up, down, _ = _coincidence(crossbar, state, x, d, learning_rate=learning_rate, key=key,
                                          bit_length=bit_length, update_management=update_management,
                                          batch_mode=batch_mode, bl_management=bl_management)
    return new_state, crossbar.pulse_record(up, down)


def _coincidence(crossbar, state, x, d, *, learning_rate, key, bit_length, update_management, batch_mode,
                 bl_management):
    """:func:`coincidence_update` returning ``(new_state, up, down, slots)``: the padded
    weight counts and the number of slots per sample of the train that ran."""
    bit_length = check_int("bit_length", bit_length, minimum=1)
    if batch_mode not in ("aggregate", "sequential"):
        raise ValueError(f"batch_mode must be 'aggregate' or 'sequential', got {batch_mode!r}")
    x, d = _check_pair(crossbar, x, d)
    check_nonnegative("learning_rate", learning_rate)
    k_bits, k_dev = jax.random.split(key)
    trains = _Trains.of(x, d, learning_rate, k_bits, update_management=update_management)
    lengths = _bit_lengths(bit_length, bl_management)
    # c = L·dw_min per train length L (rounded once, as a Python scalar would be)
    scales = tuple(jnp.asarray(n * crossbar.dw_min, trains.x.dtype) for n in lengths)
    index = None if len(lengths) == 1 else _train_index(trains, lengths, crossbar.dw_min, update_management)
    if batch_mode == "aggregate":
        # only the pulse counts depend on the train length: one device update after
        # them (a smaller program, and unchanged state fields pass straight through)
        up, down = _aggregate_counts(trains, lengths, scales, 0 if index is None else index)
        up, down = crossbar.pad(up), crossbar.pad(down)
        # counts are whole numbers of at most batch × longest train coincidences
        new_state = apply_pulses_sparse(crossbar, state, up, down, key=k_dev,
                                        max_count=trains.x.shape[0] * lengths[-1])
    else:
        runs = [_sequential(crossbar, trains, n, c, k_dev) for n, c in zip(lengths, scales)]
        new_state, up, down = runs[0](state) if index is None else jax.lax.switch(index, runs, state)
    slots = lengths[0] if index is None else jnp.asarray(lengths, jnp.int32)[index]
    return new_state, up, down, slots


def _check_pair(crossbar, x, d) -> tuple[Array, Array]:
    """``x (batch, in_features)``, ``d (batch, out_features)`` in a common float dtype;
    ValueError naming the argument otherwise."""
    x = jnp.asarray(x)
    d = jnp.asarray(d)
    if x.ndim == 1:
        x = x[None]
    if d.ndim == 1:
        d = d[None]
    if x.ndim != 2 or x.shape[-1] != crossbar.in_features:
        raise ValueError(f"x must have shape (batch, {crossbar.in_features}), got {x.shape}")
    if d.ndim != 2 or d.shape[-1] != crossbar.out_features:
        raise ValueError(f"d must have shape (batch, {crossbar.out_features}), got {d.shape}")
    if x.shape[0] != d.shape[0]:
        raise ValueError(f"x and d must have the same batch size, got {x.shape[0]} and {d.shape[0]}")
    check_finite("x", x)
    check_finite("d", d)
    dtype = jnp.result_type(x.dtype, d.dtype, float)
    return x.astype(dtype), d.astype(dtype)


class _Trains(NamedTuple):
    """What every pulse train of one update shares: the inputs, their per-sample largest
    magnitudes, the update-management ratio ``B/A`` (balanced so ``max p = max q``), the
    learning rate and the key of the trains' draws."""

    x: Array
    d: Array
    x_max: Array
    d_max: Array
    ratio: Array
    lr: Array
    key: PRNGKeyArray

    @classmethod
    def of(cls, x, d, learning_rate, key, *, update_management: bool) -> "_Trains":
        x_max = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
        d_max = jnp.max(jnp.abs(d), axis=-1, keepdims=True)
        if update_management:
            ok = (x_max > 0) & (d_max > 0)
            ratio = jnp.where(ok, jnp.sqrt(jnp.where(ok, d_max, 1.0) / jnp.where(ok, x_max, 1.0)), 1.0)
        else:
            ratio = jnp.ones_like(x_max)
        return cls(x, d, x_max, d_max, ratio, jnp.asarray(learning_rate, x.dtype), key)

    def firing(self, scale: Array) -> tuple[Array, Array, PRNGKeyArray, PRNGKeyArray]:
        """Per-slot firing probabilities of rows and columns for ``scale = L·dw_min``, and
        the keys of their draws."""
        base = jnp.sqrt(self.lr / scale)
        p = jnp.clip(base * self.ratio * jnp.abs(self.x), 0.0, 1.0)
        q = jnp.clip(base / self.ratio * jnp.abs(self.d), 0.0, 1.0)
        return (p, q) + tuple(jax.random.split(self.key))


def _train_index(trains: _Trains, lengths: tuple[int, ...], dw_min: float, update_management: bool) -> Array:
    """aihwkit's bit-length management: the index of the shortest train whose firing
    probabilities stay ≤ 1 for every sample.  With update management ``max p = max q`` and
    the bound is ``p·q ≤ 1``; without it ``p`` and ``q`` are bounded separately
    (``lr·max|x|²`` and ``lr·max|d|²`` over ``length·dw_min``), else short trains would
    clip and bias the update."""
    t = trains
    if update_management:
        need = jnp.max(t.lr * t.x_max * t.d_max) / dw_min
    else:
        need = jnp.max(t.lr * jnp.maximum(t.x_max, t.d_max) ** 2) / dw_min
    return jnp.sum(jnp.asarray(lengths[:-1], t.x.dtype) < need)


def _aggregate_counts(trains: _Trains, lengths: tuple[int, ...], scales: tuple[Array, ...], index) -> tuple[Array, Array]:
    """Coincidence counts ``(up, down)``, ``(in_features, out_features)``, of the train
    ``lengths[index]`` (``index`` may be traced).

    Slot by slot (a loop of as many iterations as the train has slots, so one compiled
    body serves every length): the batch's firing of each row and column in the slot is
    one bit per sample in uint32 words, split by the sign of the row's input / column's
    error; a cell's coincidences of each sign are popcounts of ANDed words (exact
    integers, the 0/1 matrix product).  The pulse trains are element (b, i, l) of a
    (batch, n, L) uniform draw, as in :func:`_slot_bits`."""
    x, d = trains.x, trains.d
    dtype = x.dtype
    if isinstance(index, int):
        length, scale = lengths[index], scales[index]
    else:
        length = jnp.asarray(lengths, jnp.int32)[index]
        scale = jnp.stack(scales)[index]
    p, q, kx, kd = trains.firing(scale)
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

    # the first slot outside the loop: a one-slot train (the usual case with bit-length
    # management) runs no loop iteration and needs no zero-filled carry
    up, down = slot(0)
    if lengths[-1] > 1:
        up, down = jax.lax.fori_loop(1, length, more, (up, down))
    return up, down


def _slot_bits(trains: _Trains, length: int, scale: Array) -> tuple[Array, Array]:
    """Which slots of a ``length``-slot train fire: ``(batch, n, length)`` booleans of
    the rows and of the columns."""
    p, q, kx, kd = trains.firing(scale)
    dtype = trains.x.dtype
    bx = fast_random.uniform(kx, trains.x.shape + (length,), dtype) < p[..., None]
    bd = fast_random.uniform(kd, trains.d.shape + (length,), dtype) < q[..., None]
    return bx, bd


def _sequential(crossbar, trains: _Trains, length: int, scale: Array, key: PRNGKeyArray):
    """``state -> (state, up, down)``: the samples' coincidences applied one sample after
    the other (a scan over the batch; counts padded)."""

    def run(state):
        dtype = trains.x.dtype
        bx, bd = _slot_bits(trains, length, scale)
        bx, bd = bx.astype(dtype), bd.astype(dtype)
        sx, sd = jnp.sign(trains.x)[..., None] * bx, jnp.sign(trains.d)[..., None] * bd

        def step(carry, inputs):
            st, k = carry
            k, k_step = jax.random.split(k)
            sxi, sdi, bxi, bdi = inputs
            net = jnp.einsum("il,jl->ij", sxi, sdi, precision=_HIGHEST)
            tot = jnp.einsum("il,jl->ij", bxi, bdi, precision=_HIGHEST)
            u, dn = crossbar.pad(0.5 * (tot + net)), crossbar.pad(0.5 * (tot - net))
            return (crossbar.apply_pulses(st, u, dn, key=k_step), k), (u, dn)

        (st, _), (ups, downs) = jax.lax.scan(step, (state, key), (sx, sd, bx, bd))
        return st, ups.sum(0), downs.sum(0)

    return run


class StochasticCoincidence(AbstractUpdateRule):
    """Pulse coincidence from an :class:`OuterProduct` (:func:`coincidence_update`).

    Attributes:
        bit_length: pulse slots per sample (the longest train with ``bl_management``).
        update_management: balance the row and column probabilities per sample.
        bl_management: shortest sufficient train (1, 2, 4, … ≤ ``bit_length`` slots).
        batch_mode: ``"aggregate"`` or ``"sequential"``.
    """

    bit_length: int = eqx.field(default=31, static=True)
    update_management: bool = eqx.field(default=True, static=True)
    bl_management: bool = eqx.field(default=True, static=True)
    batch_mode: Literal["aggregate", "sequential"] = eqx.field(default="aggregate", static=True)

    def __check_init__(self):
        check_int("bit_length", self.bit_length, minimum=1)
        if self.batch_mode not in ("aggregate", "sequential"):
            raise ValueError(f"batch_mode must be 'aggregate' or 'sequential', got {self.batch_mode!r}")

    def update(self, request, state, crossbar, crossbar_state, *, key):
        self._expect(request, OuterProduct, "StochasticCoincidence")
        new, up, down, slots = _coincidence(crossbar, crossbar_state, request.x, request.d,
                                            learning_rate=request.learning_rate, key=key,
                                            bit_length=self.bit_length, update_management=self.update_management,
                                            batch_mode=self.batch_mode, bl_management=self.bl_management)
        samples = jnp.atleast_2d(jnp.asarray(request.x)).shape[0]
        time = samples * slots * crossbar.device.pulse_time
        return Written(new, crossbar.pulse_record(up, down), time), state


__all__ = ["StochasticCoincidence", "coincidence_update"]
