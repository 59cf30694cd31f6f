"""The converter interface a tile relies on: :class:`AbstractDAC` and :class:`AbstractADC`.

A tile (:class:`~synaptax.arrays.Crossbar`) uses a DAC as ``dac(x)`` on inputs normalised
to [−1, 1] and reads ``dac.energy``; it uses an ADC as ``adc(currents, full_scale, key=k)``
on currents in A and reads ``adc.energy`` and ``adc.full_scale``.  Nothing else is assumed,
so any subclass that provides these works wherever a converter is expected.

Implementations must be pure JAX functions of their inputs (traceable under ``jit``,
``vmap`` and ``grad``: no Python branching on input values) and must provide a useful
gradient, as stated on each ``__call__``.  No ``from __future__ import annotations`` here:
it would turn the ``AbstractVar`` annotations into strings that equinox cannot read.
"""
import abc

import equinox as eqx
from jaxtyping import Array, ArrayLike, PRNGKeyArray


class AbstractDAC(eqx.Module):
    """Interface of an input digital-to-analogue converter (the row/column driver).

    Attributes:
        bits: resolution, or None for an ideal converter (abstract: a subclass declares it
            as a field or class attribute).
    """

    bits: eqx.AbstractVar[int | None]

    @property
    @abc.abstractmethod
    def energy(self) -> float:
        """Energy of one conversion [J] (one driven line, one sample)."""

    @abc.abstractmethod
    def __call__(self, x: ArrayLike) -> Array:
        """Convert a normalised input ``x`` (any shape, nominal range [−1, 1]) to the
        normalised level the driver applies (same shape; the tile multiplies it by its read
        voltage).

        Gradient contract: implementations must be differentiable in ``x`` with a gradient
        that carries information through the converter, i.e. a surrogate and not the
        derivative of the transfer staircase (zero almost everywhere, which would stop every
        gradient through the tile).  The reference is the straight-through estimator:
        ``d out/d x = 1`` where ``x`` lies strictly inside the range the converter
        represents and ``0`` where it saturates.  Document the gradient actually provided.
        """


class AbstractADC(eqx.Module):
    """Interface of an output analogue-to-digital converter (a tile's column or row read).

    Attributes:
        bits: resolution, or None for an ideal converter (abstract).
        full_scale: the current [A] at which the converter saturates, or None to let the
            tile choose it (abstract; the tile passes its choice to ``__call__``).
    """

    bits: eqx.AbstractVar[int | None]
    full_scale: eqx.AbstractVar[float | None]

    @property
    @abc.abstractmethod
    def energy(self) -> float:
        """Energy of one conversion [J] (one read line, one sample)."""

    @abc.abstractmethod
    def __call__(self, current: ArrayLike, full_scale: ArrayLike, *,
                 key: PRNGKeyArray | None = None) -> Array:
        """Convert currents [A] (any shape) to the digitised currents [A] (same shape),
        saturating at ``±full_scale`` [A].

        ``key`` is needed only by converters that draw noise; a converter that needs one
        and gets None must raise ``ValueError``.

        Gradient contract: with respect to ``current``, in A per A, a surrogate (not the
        derivative of the staircase, zero almost everywhere): the reference is the
        straight-through estimator, ``d out/d current = 1`` strictly inside
        ``±full_scale`` and ``0`` where the converter saturates.  Noise drawn from ``key``
        must add no term to this gradient.  ``full_scale`` may be a traced value: the
        gradient with respect to it must be defined (finite) and documented.
        """
