"""Spike-timing-dependent plasticity (STDP) with Co/Gd ferrimagnetic synapses.

Protocol [paper: Li et al., Chin. Phys. B 31, 117106 (2022), Fig. 3]: the pre-neuron sends
a current spike ``I_pre(t)`` into the synapse and the post-neuron a spike ``I_post(t)``
from the other terminal, so the device carries ``I_pre(t) − I_post(t − Δt)``.  Each spike
alone stays below the switching threshold; where they overlap their sum exceeds it, so
the change of the Hall resistance depends on the delay ``Δt``.  Before each pair the
device is demagnetised by pulses of decaying amplitude and alternating polarity
(:meth:`~synaptax.devices.spintronic.cogd.CoGdDevice.demagnetise`).

Time is discretised into bins of width ``dt``; each bin is one pulse of the bin's current
(the nucleation rates of consecutive bins add, so a constant current over ``k`` bins acts
as one pulse of ``k·dt``).  Waveform amplitudes are along the device's SET polarity.

Two spike designs, both from the device's switching window for a 1 ms pulse
(``I_lo``/``I_hi``: 2 % / ``max_fraction`` (98 %) switched):

* :func:`paper_spikes` (the paper's Fig. 3 scheme; a symmetric window): the pre spike is
  a step ``a + b`` decaying linearly to ``a`` over ``T`` = 12 ms, the post spike the same
  inverted, so the device sees ``f(t) + f(t − Δt)``, whose peak ``2a + b(2 − |Δt|/T)``
  falls linearly from ``I_hi`` at ``Δt = 0`` to ``I_lo`` at ``|Δt| = T``: ``|ΔR|`` peaks at
  zero delay and vanishes beyond 12 ms, symmetric in ``Δt`` [derived].
* :func:`hebbian_spikes` (an antisymmetric, Bi–Poo-like window for learning): identical
  bipolar spikes (a short positive peak, then a negative ramp), so ``f(t) − f(t − Δt)``
  SETs for ``Δt < 0`` and RESETs for ``Δt > 0`` [derived].

:func:`stdp_update` is the learning rule on an array of synapses: given pre and post spike
trains it superposes the spike currents on every synapse and applies them, physically, to
the devices.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from .._checks import check_positive
from ..devices.spintronic.cogd import CoGdDevice, CoGdState


class SpikePair(NamedTuple):
    """Pre- and post-synaptic spike waveforms [A] on a time grid of step ``dt`` [s].

    ``pre`` and ``post``: shape ``(K,)``; the device carries ``pre(t) − post(t − Δt)``
    (amplitudes along the SET polarity)."""

    pre: np.ndarray
    post: np.ndarray
    dt: float


def _window(device: CoGdDevice, width: float, max_fraction: float) -> tuple[float, float]:
    if not 0.02 < max_fraction < 1.0:
        raise ValueError(f"max_fraction must lie in (0.02, 1), got {max_fraction!r}")
    return (device.current_for_fraction(0.02, pulse_width=width),
            device.current_for_fraction(max_fraction, pulse_width=width))


def paper_spikes(device: CoGdDevice, *, dt: float = 0.1e-3, duration: float = 12e-3,
                 reference_width: float = 1e-3, max_fraction: float = 0.98) -> SpikePair:
    """Symmetric-window spikes (module docstring): pre ``f(t) = a + b·(1 − t/T)`` for
    ``0 ≤ t < T``, post ``−f``, with ``b = I_hi − I_lo``, ``a = (2·I_lo − I_hi)/2`` from the
    device's 2 % and ``max_fraction`` switching currents for a ``reference_width`` pulse
    (``max_fraction`` sets roughly how much one coincident pair switches)."""
    check_positive("dt", dt)
    check_positive("duration", duration)
    i_lo, i_hi = _window(device, reference_width, max_fraction)
    b = i_hi - i_lo
    a = 0.5 * (2.0 * i_lo - i_hi)
    t = np.arange(int(round(duration / dt))) * dt
    f = a + b * (1.0 - t / duration)
    return SpikePair(f, -f, dt)


def hebbian_spikes(device: CoGdDevice, *, dt: float = 0.1e-3, duration: float = 12e-3, peak: float = 1e-3,
                   reference_width: float = 1e-3, max_fraction: float = 0.98) -> SpikePair:
    """Antisymmetric-window spikes: identical bipolar spikes ``f``: ``+q`` for ``peak``
    seconds, then ``−(a + b·(1 − s/T))`` for ``T = duration`` (``s`` the time since the
    peak ended), with ``q = a = I_lo/2`` and ``b = I_hi − I_lo``: each part alone is below
    threshold; a post spike ``Δt > 0`` after a pre spike meets its negative ramp and RESETs
    (depression), the reverse order SETs (potentiation).  ``I_lo``/``I_hi``: the 2 % and
    ``max_fraction`` switching currents (a smaller ``max_fraction`` makes each pair a smaller,
    graded weight change)."""
    check_positive("dt", dt)
    i_lo, i_hi = _window(device, reference_width, max_fraction)
    q = a = 0.5 * i_lo
    b = i_hi - i_lo
    n_peak = int(round(peak / dt))
    s = np.arange(int(round(duration / dt))) * dt
    f = np.concatenate([np.full(n_peak, q), -(a + b * (1.0 - s / duration))])
    return SpikePair(f, f.copy(), dt)


def _trains_to_currents(spikes: Array, waveform: Array) -> Array:
    """Causal convolution of spike trains ``(T, n)`` (0/1 per bin) with ``waveform (K,)``:
    the summed current of every neuron in every bin, ``(T, n)``."""
    t = spikes.shape[0]
    k = waveform.shape[0]
    idx = jnp.arange(t)[:, None] - jnp.arange(t)[None, :]  # bin − spike bin
    kernel = jnp.where((idx >= 0) & (idx < k), waveform[jnp.clip(idx, 0, k - 1)], 0.0)
    return kernel @ spikes


def stdp_update(device: CoGdDevice, state: CoGdState, pre_spikes: ArrayLike, post_spikes: ArrayLike, *,
                key: PRNGKeyArray, spikes: SpikePair) -> CoGdState:
    """STDP learning rule on an array of synapses: apply the superposed spike currents.

    Args:
        device: the synapse model.
        state: synapse states, array shape ``(n_pre, n_post)`` (pre-neuron ``i`` drives row
            ``i``, post-neuron ``j`` column ``j``).
        pre_spikes: pre-synaptic spike trains, shape ``(T, n_pre)``: 1 where neuron ``i``
            fires in time bin ``t`` (bins of ``spikes.dt`` seconds), else 0.
        post_spikes: post-synaptic spike trains, shape ``(T, n_post)``.
        key: PRNG key (thermal switching).
        spikes: the waveforms (:func:`paper_spikes`, :func:`hebbian_spikes` or your own).

    Returns:
        The new state after ``T`` bins: synapse ``(i, j)`` carried
        ``Σ_spikes pre(t − t_i) − Σ_spikes post(t − t_j)`` [A] (along the SET polarity).
        Spikes closer than a waveform length to the end of the trains are cut off there.
    """
    pre_spikes = jnp.asarray(pre_spikes)
    post_spikes = jnp.asarray(post_spikes)
    if pre_spikes.ndim != 2 or post_spikes.ndim != 2 or pre_spikes.shape[0] != post_spikes.shape[0]:
        raise ValueError(f"pre_spikes and post_spikes must be (T, n_pre) and (T, n_post) with the same T, got "
                         f"{pre_spikes.shape} and {post_spikes.shape}")
    if state.spins.shape[:-1] != (pre_spikes.shape[1], post_spikes.shape[1]):
        raise ValueError(f"state must have array shape (n_pre, n_post) = {(pre_spikes.shape[1], post_spikes.shape[1])}, "
                         f"got {state.spins.shape[:-1]}")
    dtype = state.barrier_z.dtype
    i_pre = _trains_to_currents(pre_spikes.astype(dtype), jnp.asarray(spikes.pre, dtype))
    i_post = _trains_to_currents(post_spikes.astype(dtype), jnp.asarray(spikes.post, dtype))
    keys = jax.random.split(key, pre_spikes.shape[0])

    def step(s, inputs):
        a, b, k = inputs
        current = (a[:, None] - b[None, :]) * device.set_polarity
        return device.apply_current(s, current, key=k, pulse_width=spikes.dt), None

    return jax.lax.scan(step, state, (i_pre, i_post, keys))[0]


def pair_waveform(spikes: SpikePair, delay: float) -> np.ndarray:
    """The current ``pre(t) − post(t − Δt)`` [A] the device carries for one spike pair with
    delay ``Δt = delay`` [s] (post after pre when positive), on the grid of ``spikes.dt``,
    starting at the earlier spike; shape ``(K + |Δt|/dt,)``."""
    shift = int(round(delay / spikes.dt))
    k = max(spikes.pre.size, spikes.post.size) + abs(shift)
    out = np.zeros(k)
    start_pre, start_post = (0, shift) if shift >= 0 else (-shift, 0)
    out[start_pre:start_pre + spikes.pre.size] += spikes.pre
    out[start_post:start_post + spikes.post.size] -= spikes.post
    return out


def stdp_window(device: CoGdDevice, delays: ArrayLike, *, key: PRNGKeyArray, spikes: SpikePair,
                repeats: int = 16) -> Array:
    """The paper's STDP measurement: for each delay [s], demagnetise a fresh device, record
    ``R_hall``, apply one spike pair, record again; ``ΔR_hall`` [Ω] averaged over
    ``repeats`` devices (independent barrier samples and thermal noise).  Returns ``ΔR`` of
    shape ``(len(delays),)``."""
    delays = np.asarray(delays, dtype=np.float64)
    waves = [pair_waveform(spikes, float(d)) for d in delays]
    length = max(w.size for w in waves)
    currents = np.stack([np.pad(w, (0, length - w.size)) for w in waves], axis=1)  # (K, D)
    k_init, k_demag, k_pair = jax.random.split(key, 3)
    state = device.init((delays.size, repeats), key=k_init)
    state = device.demagnetise(state, key=k_demag)
    r0 = device.hall_resistance(state)
    currents = jnp.asarray(currents)[:, :, None] * device.set_polarity
    state, _ = device.sweep(state, jnp.broadcast_to(currents, currents.shape[:2] + (repeats,)), key=k_pair,
                            pulse_width=spikes.dt)
    return jnp.mean(device.hall_resistance(state) - r0, axis=-1)


__all__ = ["SpikePair", "hebbian_spikes", "pair_waveform", "paper_spikes", "stdp_update", "stdp_window"]
