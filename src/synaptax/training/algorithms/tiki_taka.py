"""The Tiki-Taka family: Tiki-Taka v1, TTv2, chopped TTv2 and AGAD.

Each is an :class:`~synaptax.training.algorithms.AnalogAlgorithm` whose update rule is a
:class:`~synaptax.arrays.updates.Transfer` (a fast array per layer, periodic transfers of
its columns into the weights; see :mod:`synaptax.arrays.updates.transfer` for the
recursions).  They differ only in their defaults, taken from the papers and from aihwkit's
ReRAM soft-bounds presets of the same algorithms (``TikiTakaReRamSBPreset``,
``TTv2ReRamSBPreset``, ``ChoppedTTv2ReRamSBPreset``, ``AGADReRamSBPreset``, aihwkit 1.1):

==============  ========  ===========  ========  =========  ========  ============
algorithm       buffer    choppers     fast_lr   auto       transfer  transfer
                                       (× lr?)   scale      every     bit length
==============  ========  ===========  ========  =========  ========  ============
``tiki-taka``   no        none         1 (yes)   no         1 batch   31 (coinc.)
``ttv2``        H, ≥ 1    none         0.5 (no)  yes        1 sample  1 pulse
``c-ttv2``      H, ≥ 1    p = 0.01     0.5 (no)  yes        1 sample  1 pulse
``agad``        H, ≥ 1    every 50     0.5 (no)  yes        1 sample  1 pulse
                          sweeps
==============  ========  ===========  ========  =========  ========  ============

The schedule's learning rate (``--learning-rate``) scales the transfers
(``scale_transfer_lr``) — and the fast update of Tiki-Taka v1 — and optax's optimiser
updates the digital biases.
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx

from ...arrays.updates import Transfer
from .base import AnalogAlgorithm

_KW = {"kw_only": True}


class TransferAlgorithm(AnalogAlgorithm):
    """An algorithm of the Tiki-Taka family; the fields are the
    :class:`~synaptax.arrays.updates.Transfer` rule's hyperparameters (same names and
    meanings), with each subclass's defaults.

    Attributes:
        transfer_every, columns_per_transfer, units_in_mbatch: the transfer schedule.
        fast_lr, scale_fast_lr, auto_scale, auto_momentum, bit_length: the fast update.
        transfer_lr, scale_transfer_lr, buffer_threshold, auto_granularity, momentum,
            forget_buffer, buffer_cap, transfer_bit_length: the transfer.
        chopper_probability, chopper_random, tail_weightening: choppers and AGAD.
        fast_device: the fast array's device (None: the weights' device).
        zero_shift_pulses: zero-shifting of the fast array at initialisation (0: off).
    """

    buffered: ClassVar[bool] = True
    dynamic: ClassVar[bool] = False
    transfer_every: float = eqx.field(default=1.0, static=True, **_KW)
    columns_per_transfer: int = eqx.field(default=1, static=True, **_KW)
    units_in_mbatch: bool = eqx.field(default=False, static=True, **_KW)
    fast_lr: float = eqx.field(default=0.5, **_KW)
    scale_fast_lr: bool = eqx.field(default=False, static=True, **_KW)
    auto_scale: bool = eqx.field(default=True, static=True, **_KW)
    auto_momentum: float = eqx.field(default=0.99, **_KW)
    bit_length: int = eqx.field(default=31, static=True, **_KW)
    transfer_lr: float = eqx.field(default=1.0, **_KW)
    scale_transfer_lr: bool = eqx.field(default=True, static=True, **_KW)
    buffer_threshold: float = eqx.field(default=1.0, **_KW)
    auto_granularity: float = eqx.field(default=1000.0, **_KW)
    momentum: float = eqx.field(default=0.0, **_KW)
    forget_buffer: bool = eqx.field(default=True, static=True, **_KW)
    buffer_cap: float = eqx.field(default=0.0, **_KW)
    transfer_bit_length: int = eqx.field(default=1, static=True, **_KW)
    chopper_probability: float = eqx.field(default=0.0, **_KW)
    chopper_random: bool = eqx.field(default=True, static=True, **_KW)
    tail_weightening: float = eqx.field(default=5.0, **_KW)
    fast_device: object = eqx.field(default=None, **_KW)
    zero_shift_pulses: int = eqx.field(default=0, static=True, **_KW)

    @property
    def update_rule(self) -> Transfer:
        names = ("transfer_every", "columns_per_transfer", "units_in_mbatch", "fast_lr", "scale_fast_lr",
                 "auto_scale", "auto_momentum", "bit_length", "transfer_lr", "scale_transfer_lr", "buffer_threshold",
                 "auto_granularity", "momentum", "forget_buffer", "buffer_cap", "transfer_bit_length",
                 "chopper_probability", "chopper_random", "tail_weightening", "fast_device", "zero_shift_pulses")
        return Transfer(buffered=self.buffered, dynamic=self.dynamic, **{n: getattr(self, n) for n in names})

    def __check_init__(self):
        self.update_rule  # validates the hyperparameters (ValueError naming the one at fault)


class TikiTaka(TransferAlgorithm):
    """Tiki-Taka v1 (Gokmen & Haensch, Front. Neurosci. 14, 103 (2020) [pub]): one column of
    the fast array per mini-batch, transferred by pulse coincidence (31 slots); the fast
    update at the schedule's learning rate."""

    name: ClassVar[str] = "tiki-taka"
    buffered: ClassVar[bool] = False
    units_in_mbatch: bool = eqx.field(default=True, static=True, **_KW)
    fast_lr: float = eqx.field(default=1.0, **_KW)
    scale_fast_lr: bool = eqx.field(default=True, static=True, **_KW)
    auto_scale: bool = eqx.field(default=False, static=True, **_KW)
    auto_granularity: float = eqx.field(default=0.0, **_KW)
    transfer_bit_length: int = eqx.field(default=31, static=True, **_KW)


class TTv2(TransferAlgorithm):
    """TTv2 (Gokmen, Front. Artif. Intell. 4, 699148 (2021) [pub]): a column per sample read
    into the digital buffer ``H``; one pulse where ``|H| ≥ 1``."""

    name: ClassVar[str] = "ttv2"


class ChoppedTTv2(TransferAlgorithm):
    """Chopped TTv2 (Rasch et al., Nat. Commun. 15, 7133 (2024) [pub, recalled]): TTv2 with
    random input choppers (flip probability 0.01 per read)."""

    name: ClassVar[str] = "c-ttv2"
    chopper_probability: float = eqx.field(default=0.01, **_KW)


class AGAD(TransferAlgorithm):
    """AGAD (Rasch et al., Nat. Commun. 15, 7133 (2024) [pub, recalled]): c-TTv2 with the
    reference computed on the fly from the reads of the last chopper period; regular
    choppers every ``⌈1/0.02⌉ = 50`` sweeps, tail weightening 5."""

    name: ClassVar[str] = "agad"
    dynamic: ClassVar[bool] = True
    chopper_probability: float = eqx.field(default=0.02, **_KW)
    chopper_random: bool = eqx.field(default=False, static=True, **_KW)


__all__ = ["AGAD", "ChoppedTTv2", "TTv2", "TikiTaka", "TransferAlgorithm"]
