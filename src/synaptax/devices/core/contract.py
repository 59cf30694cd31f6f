"""The one interface shared by every device family.

A device *model* (an :class:`AbstractDevice`, an ``equinox.Module``) holds parameters;
its *state* is a separate pytree created by :meth:`AbstractDevice.init`, passed in and
returned by every operation.  Each operation works per cell and is vectorised over an
array of any shape, so the same model serves one cell, a crossbar tile or a stack of
tiles (``jax.vmap`` works too).

The four operations:

``init(shape, *, key, conductance=None) -> state``
    State of an array of devices, device-to-device variation sampled from ``key``.
``apply_pulses(state, pulses, *, key) -> state``
    Apply pulses.  ``pulses`` is either a signed pulse count per cell (positive:
    potentiation, negative: depression) or a :class:`PulseCounts` of separate
    potentiation and depression counts, applied potentiation first.  Cycle-to-cycle noise
    is drawn from ``key``.  The pulse shape (amplitude, width) is a parameter of the
    device model.
``evolve(state, duration) -> state``
    Let ``duration`` seconds pass with no pulse (relaxation, retention, drift); the
    identity for devices without time dependence.
``conductance(state) -> Array``
    The cells' conductance in siemens, shape ``shape``.

Plus ``read(state, *, key)`` (conductance with read noise) and
``pulse_energy(state) -> PulseCounts`` (energy of one potentiation and one depression
pulse per cell, in joules).
"""
from __future__ import annotations

import abc
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray


class PulseCounts(NamedTuple):
    """Potentiation and depression pulse counts per cell (non-negative, same shape).

    Also used for per-pulse quantities split by direction (for example the energy of one
    potentiation and one depression pulse, in J).
    """

    up: Array
    down: Array


def split_pulses(pulses) -> PulseCounts:
    """Return ``pulses`` as :class:`PulseCounts`.

    A signed array ``n`` becomes ``PulseCounts(up=max(n, 0), down=max(-n, 0))``; a
    :class:`PulseCounts` is returned with its counts as arrays.
    """
    if isinstance(pulses, PulseCounts):
        return PulseCounts(jnp.asarray(pulses.up), jnp.asarray(pulses.down))
    n = jnp.asarray(pulses)
    return PulseCounts(jnp.maximum(n, 0), jnp.maximum(-n, 0))


class AbstractDevice(eqx.Module):
    """Interface of a device family.  See the module docstring for the contract."""

    @abc.abstractmethod
    def init(self, shape: tuple[int, ...], *, key: PRNGKeyArray, conductance: ArrayLike | None = None):
        """State of an array of devices of shape ``shape``.

        Args:
            shape: array shape, e.g. ``(rows, cols)``.
            key: PRNG key for device-to-device variation (keyword-only).
            conductance: optional initial conductance [S], broadcastable to ``shape``,
                clipped to each cell's range; the family's default otherwise.
        """

    @abc.abstractmethod
    def apply_pulses(self, state, pulses, *, key: PRNGKeyArray):
        """Apply a signed pulse count per cell (or :class:`PulseCounts`); return the new state."""

    def evolve(self, state, duration: ArrayLike):
        """Let ``duration`` [s] pass with no pulse applied.  Identity by default."""
        return state

    @abc.abstractmethod
    def conductance(self, state) -> Array:
        """Conductance [S] of every cell, shape of the state's array."""

    def read(self, state, *, key: PRNGKeyArray | None = None) -> Array:
        """Conductance [S] as a read sees it (with read noise where the family has it)."""
        return self.conductance(state)

    def read_noise_std(self, state) -> Array | None:
        """Standard deviation [S] of one read of each cell's conductance (independent per cell
        and per read), or None for a noiseless read.  Lets a crossbar apply read noise as
        its exact Gaussian effect on output currents without sampling every cell."""
        return None

    @abc.abstractmethod
    def pulse_energy(self, state) -> PulseCounts:
        """Energy [J] of one potentiation (``up``) and one depression (``down``) pulse per cell."""

    @property
    @abc.abstractmethod
    def conductance_range(self) -> tuple[float, float]:
        """Nominal (minimum, maximum) conductance [S] of the family's cells."""

    @property
    @abc.abstractmethod
    def nominal_step(self) -> float:
        """Nominal conductance change [S] of one pulse at mid-range.

        The crossbar's weight mapping uses it to turn a desired weight change into a pulse
        count.
        """
