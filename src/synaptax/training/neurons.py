"""A Co/Gd ferrimagnetic device as a sigmoid neuron (Li et al., Chin. Phys. B 31, 117106 (2022)).

Protocol [paper, Fig. 4(b)]: RESET the device (every region to −1), then apply one SET
pulse whose amplitude encodes the input ``X``; the switched fraction, read as the
normalised Hall resistance ``Y = (R_hall + R_AHE·cos θ_M)/(2·R_AHE·cos θ_M)``, is the
output.  With the nucleation model of :mod:`synaptax.devices.spintronic.cogd` its mean is

    F(I) = E_z[1 − exp(−λ(z, I))]          (a smoothed normal CDF of the regions' thresholds)

which the paper fits with the logistic ``Y = 1/(1 + exp(−(X − X0)/K))``
(:func:`fit_logistic`).  One read is a sum of ``N_r`` region outcomes: stochastic, with
variance ``Σ_i p_i(1 − p_i)/N_r² ≤ F(1 − F)/N_r``.

:class:`CoGdNeuron` maps a network pre-activation ``x`` to a SET current ``I = offset +
scale·x`` [A] (by default the logistic fit of the device, ``offset = X0``, ``scale = K``,
so that the device's mean response approximates ``sigmoid(x)``) and returns the mean
response (deterministic, differentiable: a table of ``F`` on a fine current grid,
interpolated) or, with a key, one noisy read: ``Binomial(N_r, F)/N_r`` (regions taken as
independent with the mean probability — an upper bound on the device's variance) with a
straight-through gradient.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from .._checks import check_positive
from ..devices.spintronic.cogd import CoGdDevice
from ..devices.spintronic.presets import cogd_hall_bar


class LogisticFit(NamedTuple):
    """Least-squares fit ``y = 1/(1 + exp(−(x − x0)/k))`` and its coefficient of determination."""

    x0: float
    k: float
    r2: float


def logistic(x: ArrayLike, x0: ArrayLike, k: ArrayLike) -> Array:
    """``1/(1 + exp(−(x − x0)/k))``."""
    return jax.nn.sigmoid((jnp.asarray(x) - x0) / k)


def fit_logistic(x: ArrayLike, y: ArrayLike) -> LogisticFit:
    """Fit the paper's modified sigmoid ``Y = 1/(1 + e^(−(X − X0)/K))`` to samples ``(x, y)``
    (1-D, same length) by least squares; returns ``(x0, k, r2)`` with
    ``r2 = 1 − SS_res/SS_tot``."""
    from scipy.optimize import curve_fit

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 3:
        raise ValueError(f"x and y must be 1-D of the same length >= 3, got shapes {x.shape} and {y.shape}")
    span = float(np.ptp(x)) or 1.0
    x0 = float(np.interp(0.5, np.maximum.accumulate(y), x)) if np.all(np.diff(y) >= -1.0) else float(np.median(x))
    f = lambda x, x0, k: 1.0 / (1.0 + np.exp(-np.clip((x - x0) / k, -60, 60)))  # noqa: E731
    (x0, k), _ = curve_fit(f, x, y, p0=(x0, span / 20), maxfev=20000)
    ss_res = float(np.sum((y - f(x, x0, k)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2)) or 1.0
    return LogisticFit(float(x0), float(k), 1.0 - ss_res / ss_tot)


class CoGdNeuron(eqx.Module):
    """Sigmoid activation realised by a Co/Gd device (module docstring).

    Attributes:
        device: the device (its ``n_regions`` sets the read noise).
        offset: SET current [A] for input 0 (along the SET polarity).
        scale: SET current per unit input [A].
        table_current: current grid [A] of the tabulated mean response, shape ``(K,)``.
        table_fraction: mean switched fraction on the grid, shape ``(K,)``.
    """

    device: CoGdDevice
    offset: float
    scale: float
    table_current: Array
    table_fraction: Array

    def __init__(self, device: CoGdDevice, *, offset: float | None = None, scale: float | None = None,
                 points: int = 1024):
        """Tabulate the device's mean single-pulse response; ``offset``/``scale`` default to
        the logistic fit of it (so the neuron approximates ``sigmoid``)."""
        self.device = device
        lo = device.current_for_fraction(1e-4)
        hi = device.current_for_fraction(1.0 - 1e-4)
        pad = hi - lo
        grid = np.linspace(max(lo - pad, 0.0), hi + pad, points)
        frac = np.asarray(device.expected_switched_fraction(grid), dtype=np.float64)
        if offset is None or scale is None:
            fit = fit_logistic(grid, frac)
            offset = fit.x0 if offset is None else offset
            scale = fit.k if scale is None else scale
        check_positive("scale", scale)
        self.offset = float(offset)
        self.scale = float(scale)
        self.table_current = jnp.asarray(grid)
        self.table_fraction = jnp.asarray(frac)

    def current(self, x: ArrayLike) -> Array:
        """SET current [A] (along the SET polarity) that encodes input ``x``: ``offset + scale·x``."""
        return self.offset + self.scale * jnp.asarray(x)

    def mean(self, x: ArrayLike) -> Array:
        """Mean output (switched fraction) for input ``x`` (any shape): deterministic and
        differentiable; 0 below the tabulated range, 1 above."""
        i = self.current(x)
        return jnp.interp(i, self.table_current.astype(i.dtype), self.table_fraction.astype(i.dtype),
                          left=0.0, right=1.0)

    def __call__(self, x: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
        """Mean output without ``key``; with ``key`` one noisy device read
        ``Binomial(N_r, F)/N_r`` whose gradient is the mean's (straight-through)."""
        f = self.mean(x)
        if key is None:
            return f
        n = self.device.n_regions
        sample = jax.random.binomial(key, n, jax.lax.stop_gradient(f), dtype=f.dtype) / n
        return f + jax.lax.stop_gradient(sample - f)

    def measure(self, currents: ArrayLike, *, key: PRNGKeyArray, repeats: int = 1) -> Array:
        """The paper's protocol on simulated devices: for each SET current [A] (1-D,
        along the SET polarity), RESET with a pulse of ``−1.5·I_c0``, apply one SET pulse,
        read the normalised Hall resistance ``Y``; averaged over ``repeats`` independent
        measurements of one device (the same regions, fresh thermal noise).  Returns ``Y``
        of the shape of ``currents``."""
        dev = self.device
        currents = jnp.asarray(currents)
        k_init, k_run = jax.random.split(key)
        state = dev.init(currents.shape, key=k_init)
        state = eqx.tree_at(lambda s: s.barrier_z, state,
                            jnp.broadcast_to(state.barrier_z[(0,) * currents.ndim], state.barrier_z.shape))
        r_sat = dev.anomalous_hall_resistance * jnp.cos(dev.tilt_angle)
        reset = -1.5 * dev.critical_current * dev.set_polarity

        def one(k):
            k1, k2 = jax.random.split(k)
            s = dev.apply_current(state, reset, key=k1)
            s = dev.apply_current(s, currents * dev.set_polarity, key=k2)
            return (dev.hall_resistance(s) + r_sat) / (2.0 * r_sat)

        return jnp.mean(jax.vmap(one)(jax.random.split(k_run, repeats)), axis=0)


@functools.lru_cache(maxsize=1)
def default_neuron() -> CoGdNeuron:
    """The paper's neuron device: 2 nm AlOx, ``H_x = −500 Oe``, 10 ms pulses, 256 regions
    (:func:`~synaptax.devices.spintronic.presets.cogd_hall_bar`), calibrated to ``sigmoid``."""
    with jax.ensure_compile_time_eval():  # built once, eagerly, even when first used inside a jit trace
        return CoGdNeuron(cogd_hall_bar(n_regions=256))


def cogd_sigmoid(x: ArrayLike) -> Array:
    """Activation: the mean response of :func:`default_neuron` (≈ ``sigmoid(x)``)."""
    return default_neuron().mean(x)


def cogd_sigmoid_noisy(x: ArrayLike, *, key: PRNGKeyArray) -> Array:
    """Activation: one noisy read of :func:`default_neuron` (straight-through gradient)."""
    return default_neuron()(x, key=key)


cogd_sigmoid_noisy.needs_key = True  # the network passes a PRNG key to this activation

__all__ = ["CoGdNeuron", "LogisticFit", "cogd_sigmoid", "cogd_sigmoid_noisy", "default_neuron", "fit_logistic",
           "logistic"]
