"""Gate-voltage protocols for magneto-ionic cells, sampled like a magnetometer.

A protocol is a list of :class:`Segment` s (DC gate, square-wave pulsing, rest at 0 V,
positive-gate depression); :func:`run_protocol` integrates a cell (or an array of cells)
through it and samples the magnetisation every ``sample_interval`` seconds, as the papers'
VSM does (1 s resolution).  Each segment is one jitted scan over samples, compiled once
per segment shape; square waves faster than the sampling are integrated period by period
inside each sample (no averaging of the drive).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..._checks import check_nonnegative, check_positive
from .model import MagnetoIonicState, MagnetoIonicSynapse, _check_fraction


@dataclasses.dataclass(frozen=True)
class Segment:
    """One part of a protocol.

    Attributes:
        duration: length [s], ≥ 0 (rounded to whole samples, and for square waves slower
            than the sampling to whole phases of the sampling grid).
        voltage: gate voltage [V]: < 0 potentiates (N extraction), 0 rests, > 0 is a
            positive-gate depression.
        frequency: square-wave frequency [Hz] (> 0), or None for a constant gate.
        duty_cycle: on-fraction of each period, in (0, 1].
    """

    duration: float
    voltage: float = -25.0
    frequency: float | None = None
    duty_cycle: float = 0.5

    def __post_init__(self):
        check_nonnegative("duration", self.duration)
        if self.frequency is not None:
            check_positive("frequency", self.frequency)
        _check_fraction("duty_cycle", self.duty_cycle, open_low=True)


def dc(duration: float, voltage: float = -25.0) -> Segment:
    """A constant gate of ``voltage`` [V] for ``duration`` [s]."""
    return Segment(duration, voltage)


def rest(duration: float) -> Segment:
    """0 V for ``duration`` [s]."""
    return Segment(duration, 0.0)


def square(duration: float, frequency: float, duty_cycle: float = 0.5, voltage: float = -25.0) -> Segment:
    """A square wave between 0 V and ``voltage`` [V] at ``frequency`` [Hz]."""
    return Segment(duration, voltage, frequency, duty_cycle)


class Trace(NamedTuple):
    """Sampled result of a protocol.

    Attributes:
        time: sample times [s], shape ``(n,)`` (the first sample is the initial state).
        magnetisation: the readout magnetisation [emu cm⁻³] (``M_S`` or ``M_R`` by the
            device's field mode), shape ``(n,) + state shape``.
        saturation: ``M_S`` [emu cm⁻³], same shape.
        voltage: gate voltage during the interval ending at each sample [V] (the
            segment's amplitude for pulsed segments), shape ``(n,)``.
        state: the final state.
    """

    time: np.ndarray
    magnetisation: np.ndarray
    saturation: np.ndarray
    voltage: np.ndarray
    state: MagnetoIonicState


def _with_voltage(device: MagnetoIonicSynapse, voltage: float) -> MagnetoIonicSynapse:
    """The device with its train amplitudes set so that ``voltage`` is reachable."""
    t = device.train
    if voltage < 0:
        t = dataclasses.replace(t, amplitude=float(voltage))
    elif voltage > 0:
        t = dataclasses.replace(t, depression="positive-gate", depression_amplitude=float(voltage))
    return eqx.tree_at(lambda d: d.train, device, t)


#: samples per kernel call (longer segments are run in chunks)
_CHUNK = 2048


@eqx.filter_jit
def _segment_kernel(device, state, drives, n, periods, on_time, off_time):
    """``n`` samples (dynamic); sample ``i`` is ``periods`` periods of ``drives[i]`` for
    ``on_time`` then 0 V for ``off_time`` [s].  Returns the state and ``(_CHUNK,) + shape``
    buffers of the readout and saturation magnetisation."""
    shape, dtype = state.edl.shape, state.edl.dtype
    buf = jnp.zeros((_CHUNK,) + shape, dtype)

    def sample(i, carry):
        st, bm, bs = carry
        d = drives[i]

        def period(_, st):
            st = device.advance(st, d, on_time)
            return device.advance(st, 0.0, off_time)

        st = jax.lax.fori_loop(0, periods, period, st)
        return st, bm.at[i].set(device.magnetisation(st)), bs.at[i].set(device.saturation_magnetisation(st))

    return jax.lax.fori_loop(0, n, sample, (state, buf, buf))


def run_protocol(device: MagnetoIonicSynapse, state: MagnetoIonicState, segments: Sequence[Segment], *,
                 sample_interval: float = 1.0) -> Trace:
    """Integrate ``state`` through ``segments`` and sample the magnetisation.

    Args:
        device: the cell model (its train's amplitudes are replaced by each segment's).
        state: initial state (any shape).
        segments: the protocol.
        sample_interval: sampling period [s] (> 0).  A square wave whose period is at most
            the interval must fit a whole number of periods into it; a slower one must have
            both phases on the sampling grid.

    Returns:
        :class:`Trace`.
    """
    check_positive("sample_interval", sample_interval)
    dt = float(sample_interval)
    times, mags, sats, volts = [0.0], [np.asarray(device.magnetisation(state))], \
        [np.asarray(device.saturation_magnetisation(state))], [0.0]
    t = 0.0
    for seg in segments:
        n = int(round(seg.duration / dt))
        if n == 0:
            continue
        dev = _with_voltage(device, seg.voltage)
        direction = 1.0 if seg.voltage < 0 else (-1.0 if seg.voltage > 0 else 0.0)
        drives = np.full(n, direction)
        periods, on_time, off_time = 1, dt, 0.0
        if seg.frequency is not None and direction != 0 and seg.duty_cycle < 1.0:
            period = 1.0 / seg.frequency
            if period <= dt * (1 + 1e-9):
                per = dt / period
                if abs(per - round(per)) > 1e-6:
                    raise ValueError(f"a {seg.frequency} Hz square wave does not fit a whole number of periods "
                                     f"into sample_interval={dt} s")
                periods, on_time, off_time = int(round(per)), period * seg.duty_cycle, period * (1 - seg.duty_cycle)
            else:
                on_steps, per_steps = period * seg.duty_cycle / dt, period / dt
                if abs(on_steps - round(on_steps)) > 1e-6 or abs(per_steps - round(per_steps)) > 1e-6:
                    raise ValueError(f"the phases of a {seg.frequency} Hz square wave at duty cycle "
                                     f"{seg.duty_cycle} are not on the {dt} s sampling grid")
                drives = np.where(np.arange(n) % int(round(per_steps)) < int(round(on_steps)), direction, 0.0)
        for c0 in range(0, n, _CHUNK):
            k = min(_CHUNK, n - c0)
            chunk = np.zeros(_CHUNK)
            chunk[:k] = drives[c0:c0 + k]
            dtype = state.edl.dtype
            state, bm, bs = _segment_kernel(dev, state, jnp.asarray(chunk, dtype), jnp.asarray(k),
                                            jnp.asarray(periods), jnp.asarray(on_time, dtype),
                                            jnp.asarray(off_time, dtype))
            mags.extend(np.asarray(bm[:k]))
            sats.extend(np.asarray(bs[:k]))
        times.extend(t + dt * np.arange(1, n + 1))
        volts.extend([seg.voltage] * n)
        t += n * dt
    return Trace(np.asarray(times), np.stack(mags), np.stack(sats), np.asarray(volts), state)


__all__ = ["Segment", "Trace", "dc", "rest", "run_protocol", "square"]

