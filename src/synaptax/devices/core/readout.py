"""Magnetisation → conductance transducers: how a magnetic weight sits in a crossbar.

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
from jaxtyping import Array, ArrayLike

from ..._checks import check_less, check_nonnegative, check_positive


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


__all__ = ["AbstractTransducer", "LinearTransducer"]
