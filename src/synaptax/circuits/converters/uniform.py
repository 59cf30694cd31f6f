"""Uniform symmetric quantisers: the default DAC and ADC of a tile.

Both quantise a signed signal symmetrically: ``bits`` bits give ``2^(bits−1) − 1`` levels
on each side of zero (a sign bit plus magnitude), values beyond the range saturate.
``bits=None`` makes a converter ideal (no quantisation, no saturation for the DAC; the ADC
still saturates when ``saturate=True``).

Gradient: the straight-through estimator (STE), stated exactly on :func:`quantize`,
:class:`UniformDAC` and :class:`UniformADC`.  It is *not* the derivative of the staircase
(zero almost everywhere): rounding is taken as the identity in the backward pass, clipping
keeps its own derivative.

Energy per conversion: ``energy_per_conversion`` [J].  Defaults [assumed]: an ADC at the
Walden figure of merit of 10 fJ per conversion step, ``10 fJ · 2^bits`` (Murmann, "ADC
Performance Survey 1997–2024" [pub], typical of SAR converters at 5–10 bit), and a DAC
(driver) at ``0.5 fJ · 2^bits`` [assumed].
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ... import _random as fast_random
from ..._checks import check_int, check_nonnegative, check_positive
from .base import AbstractADC, AbstractDAC


def quantize(x: ArrayLike, bits: int | None) -> Array:
    """Round ``x`` (normalised to [−1, 1]) to ``2^(bits−1) − 1`` levels per sign and clip.

    ``bits=None``: clip only.

    Gradient (straight-through estimator), elementwise: ``d out/d x = 1`` where
    ``|x| ≤ 1`` (the ends included: with ``abs_max`` input scaling the largest input of a
    sample sits exactly there) and ``0`` where ``|x| > 1`` (saturated).  This holds on both sides of every rounding
    step and is NOT the derivative of the staircase, which is zero almost everywhere and
    undefined at the steps: the rounding is the identity in the backward pass.
    """
    x = jnp.asarray(x)
    clipped = jnp.clip(x, -1.0, 1.0)
    # the identity inside the range, ends included (clip's own derivative is 1/2 at ±1)
    clipped = jnp.where(jnp.abs(x) <= 1.0, x, jax.lax.stop_gradient(clipped))
    if bits is None:
        return clipped
    levels = 2.0 ** (bits - 1) - 1.0
    rounded = jnp.round(clipped * levels) / levels
    return clipped + jax.lax.stop_gradient(rounded - clipped)


def _default_energy(bits, per_step):
    return per_step * 2.0 ** (bits if bits is not None else 0)


class UniformDAC(AbstractDAC):
    """Input digital-to-analogue converter: :func:`quantize` of the normalised input.

    Gradient (straight-through estimator): ``d out/d x = 1`` where ``|x| ≤ 1``, ``0`` where
    the DAC saturates (``|x| > 1``); the same with
    ``bits=None`` (a clip).  Not the derivative of the staircase (zero almost everywhere).

    Attributes:
        bits: resolution (≥ 2), or None for an ideal converter.
        energy_per_conversion: energy of one conversion [J]; default ``0.5 fJ · 2^bits``
            [assumed].
    """

    bits: int | None = 7
    energy_per_conversion: float | None = None

    def __check_init__(self):
        if self.bits is not None:
            check_int("dac bits", self.bits, minimum=2)
        if self.energy_per_conversion is not None:
            check_nonnegative("dac energy_per_conversion", self.energy_per_conversion)

    @property
    def energy(self) -> float:
        """Energy of one conversion [J]."""
        if self.energy_per_conversion is not None:
            return self.energy_per_conversion
        return _default_energy(self.bits, 0.5e-15)

    def __call__(self, x: ArrayLike) -> Array:
        """Quantise a normalised input ``x`` (any shape, range [−1, 1]); saturates outside."""
        return quantize(x, self.bits)


class UniformADC(AbstractADC):
    """Output analogue-to-digital converter of a tile's column (or row) currents.

    ``out = full_scale · quantize(u)`` with ``u = current/full_scale + noise·z``, ``z`` a
    standard normal drawn from ``key`` (``out = u·full_scale`` for ``bits=None`` without
    saturation).

    Gradient (straight-through estimator), elementwise:

    * with respect to ``current`` [A/A]: ``d out/d current = 1`` where ``|u| ≤ 1`` and
      ``0`` where the ADC saturates (``|u| > 1``, i.e. outside ±full_scale); the 1 is the product ``full_scale·(1/full_scale)``, exact or within
      an ulp.  The noise ``z`` depends only on the key and adds no term.  The ideal
      converter without saturation (``bits=None, saturate=False``) has gradient 1
      everywhere.  Not the derivative of the staircase (zero almost everywhere).
    * with respect to ``full_scale``: ``d out/d full_scale = quantize(u) − 1[|u| ≤ 1]·
      current/full_scale``.  Strictly inside the range this is
      ``quantize(u) − u + noise·z``: the rounding error in normalised units plus the noise
      sample (zero, to rounding, for an ideal noise-free converter); where saturated it is
      ``quantize(u) = ±1``, the true derivative of the clipped output ``±full_scale``.
      Without saturation (``bits=None, saturate=False``) it is ``noise·z``.  This is the
      step-size gradient of LSQ (Esser et al., "Learned Step Size Quantization", ICLR 2020
      [pub]) rescaled to the full scale; it is not the derivative of the staircase, which
      away from the steps is ``quantize(u)`` inside the range as well.  A full scale shared
      by several currents (broadcast) receives the sum of these.

    No gradient is defined with respect to the module's own fields (``noise`` is branched
    on in Python).

    Attributes:
        bits: resolution (≥ 2), or None for an ideal converter.
        full_scale: the current [A] at which the converter saturates, or None to let the
            tile choose it (``out_bound`` unit-weight columns at full input, see
            :class:`~synaptax.arrays.Crossbar`).
        noise: additive Gaussian output noise, standard deviation as a fraction of the full
            scale (drawn per conversion; needs a key when non-zero).
        saturate: clip at ±full scale (True for a real converter).
        energy_per_conversion: energy of one conversion [J]; default ``10 fJ · 2^bits``
            [assumed, Walden FOM].
    """

    bits: int | None = 9
    full_scale: float | None = None
    noise: float = 0.0
    saturate: bool = eqx.field(default=True, static=True)
    energy_per_conversion: float | None = None

    def __check_init__(self):
        if self.bits is not None:
            check_int("adc bits", self.bits, minimum=2)
        if self.full_scale is not None:
            check_positive("adc full_scale", self.full_scale)
        check_nonnegative("adc noise", self.noise)
        if self.energy_per_conversion is not None:
            check_nonnegative("adc energy_per_conversion", self.energy_per_conversion)

    @property
    def energy(self) -> float:
        """Energy of one conversion [J]."""
        if self.energy_per_conversion is not None:
            return self.energy_per_conversion
        return _default_energy(self.bits, 10e-15)

    def __call__(self, current: ArrayLike, full_scale: ArrayLike, *, key: PRNGKeyArray | None = None) -> Array:
        """Convert currents [A] (any shape) with saturation at ``full_scale`` [A]; returns A."""
        current = jnp.asarray(current)
        u = current / full_scale
        if self.noise:
            if key is None:
                raise ValueError("key is required for an ADC with noise > 0")
            u = u + self.noise * fast_random.box_muller_normal(key, u.shape, u.dtype)
        if self.bits is None and not self.saturate:
            return u * full_scale
        return quantize(u, self.bits) * full_scale


#: The default DAC of a tile (the name existing code uses): :class:`UniformDAC`.
DAC = UniformDAC
#: The default ADC of a tile (the name existing code uses): :class:`UniformADC`.
ADC = UniformADC


def ideal_dac() -> UniformDAC:
    """A DAC that passes inputs through unchanged within [−1, 1] (gradient 1 there)."""
    return UniformDAC(bits=None)


def ideal_adc() -> UniformADC:
    """An ADC that passes currents through unchanged (no quantisation, no saturation;
    gradient 1 everywhere)."""
    return UniformADC(bits=None, saturate=False)
