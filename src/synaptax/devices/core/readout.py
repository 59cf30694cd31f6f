"""Readout: how a read sees a cell, shared by every family.

* :func:`read_conductance` / :func:`read_noise_std`: relative read noise (independent per
  cell and per read), the one implementation behind every family's ``read``.
* Magnetisation → conductance transducers: how a magnetic weight sits in a crossbar.

A magneto-ionic synapse stores its weight as a magnetisation ``M``; a crossbar needs a
conductance.  A *transducer* is the read element between the two (an anomalous-Hall bar or
a magnetoresistive stack whose signal follows the magneto-ionic layer's magnetisation).
None of the papers in ``shared/papers`` builds one, so every number here is an
assumption [assumed], kept in one replaceable object: pass any
:class:`AbstractTransducer` to :class:`~synaptax.devices.magnetoionic.MagnetoIonicSynapse`.

Units: magnetisation in emu cm⁻³ (the papers' unit; 1 emu cm⁻³ = 10³ A m⁻¹), conductance
in S.
"""
from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ..._checks import check_less, check_nonnegative, check_positive, is_concrete
from ... import _random as fast_random


def _noiseless(read_noise) -> bool:
    return is_concrete(read_noise) and not np.any(np.asarray(read_noise) != 0)


def read_conductance(conductance: Array, read_noise: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
    """One read of ``conductance`` [S] (any shape ``S``) with relative read noise:
    ``max(G·(1 + read_noise·ξ), 0)``, ``ξ`` standard normal per cell and per read.

    ``key`` is required unless ``read_noise`` is a concrete zero (traced values, e.g. under
    ``jax.vmap`` over a stack of models, always draw).
    """
    if _noiseless(read_noise):
        return conductance
    if key is None:
        raise ValueError("key is required to read a device with read_noise > 0 (pass key=...)")
    xi = fast_random.normal(key, conductance.shape, conductance.dtype)
    return jnp.maximum(conductance * (1.0 + read_noise * xi), 0.0)


def read_noise_std(conductance: Array, read_noise: ArrayLike) -> Array | None:
    """Standard deviation [S] of one read, ``read_noise·G`` (shape of ``conductance``), or
    None when ``read_noise`` is a concrete zero."""
    if _noiseless(read_noise):
        return None
    return read_noise * conductance


class AbstractTransducer(eqx.Module):
    """Maps magnetisation [emu cm⁻³] to conductance [S], elementwise, and back."""

    @abc.abstractmethod
    def conductance(self, magnetisation: ArrayLike) -> Array:
        """Conductance [S] of the read element at ``magnetisation`` [emu cm⁻³] (any shape)."""

    @abc.abstractmethod
    def magnetisation(self, conductance: ArrayLike) -> Array:
        """Inverse of :meth:`conductance` on the transducer's range (clipped to it)."""

    @property
    @abc.abstractmethod
    def conductance_range(self) -> tuple[float, float]:
        """Nominal ``(G_off, G_on)`` [S]: the conductance at ``M = 0`` and at ``M = M_ref``."""

    @property
    @abc.abstractmethod
    def slope(self) -> float:
        """``dG/dM`` [S per emu cm⁻³] at mid-range (for the nominal pulse step)."""


class LinearTransducer(AbstractTransducer):
    """``G = G_off + (G_on − G_off)·M/M_ref`` for ``M ≥ 0`` — an anomalous-Hall or MR read
    element whose signal is linear in the magnetisation [assumed].

    Linear without clipping above ``M_ref`` (a post-stimulated rise may carry ``M`` a little
    past it); ``M ≥ 0`` always, so ``G ≥ G_off ≥ 0``.

    Attributes:
        g_off: conductance at zero magnetisation [S], ≥ 0 [assumed].
        g_on: conductance at ``M = m_ref`` [S], > ``g_off`` [assumed].
        m_ref: magnetisation of full scale [emu cm⁻³] (= ``m_ref``·10³ A m⁻¹), > 0; the
            presets set it to the film's reachable magnetisation [derived].
    """

    g_off: float = 0.1e-6
    g_on: float = 1.0e-6
    m_ref: float = 250.0

    def __check_init__(self):
        check_nonnegative("g_off", self.g_off)
        check_positive("g_on", self.g_on)
        check_less("g_off", self.g_off, "g_on", self.g_on)
        check_positive("m_ref", self.m_ref)

    def conductance(self, magnetisation):
        m = jnp.maximum(jnp.asarray(magnetisation), 0.0)
        return self.g_off + (self.g_on - self.g_off) * m / self.m_ref

    def magnetisation(self, conductance):
        g = jnp.clip(jnp.asarray(conductance), self.g_off, self.g_on)
        return (g - self.g_off) / (self.g_on - self.g_off) * self.m_ref

    @property
    def conductance_range(self):
        return (self.g_off, self.g_on)

    @property
    def slope(self):
        return (self.g_on - self.g_off) / self.m_ref


__all__ = ["AbstractTransducer", "LinearTransducer", "read_conductance", "read_noise_std"]
