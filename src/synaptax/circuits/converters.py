"""Digital-to-analogue and analogue-to-digital converters at the edge of a tile.

Both quantise a signed signal symmetrically: ``bits`` bits give ``2^(bits−1) − 1`` levels
on each side of zero (a sign bit plus magnitude), values beyond the range saturate.
``bits=None`` makes a converter ideal (no quantisation, no saturation for the DAC; the ADC
still saturates when ``saturate=True``).  Quantisation uses a straight-through gradient
(the derivative of rounding is taken as 1 inside the range, 0 where it saturates), so
hardware-aware training can differentiate through the converters.

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

from .. import _random as fast_random
from .._checks import check_int, check_nonnegative, check_positive


def quantize(x: ArrayLike, bits: int | None) -> Array:
    """Round ``x`` (normalised to [−1, 1]) to ``2^(bits−1) − 1`` levels per sign and clip.

    Straight-through gradient: ``d/dx = 1`` for ``|x| < 1``, else 0.  ``bits=None``: clip
    only.
    """
    x = jnp.asarray(x)
    clipped = jnp.clip(x, -1.0, 1.0)
    if bits is None:
        return clipped
    levels = 2.0 ** (bits - 1) - 1.0
    rounded = jnp.round(clipped * levels) / levels
    return clipped + jax.lax.stop_gradient(rounded - clipped)


def _default_energy(bits, per_step):
    return per_step * 2.0 ** (bits if bits is not None else 0)


class DAC(eqx.Module):
    """Input digital-to-analogue converter.

    Attributes:
        bits: resolution (≥ 2), or None for an ideal converter.
        energy_per_conversion: energy of one conversion [J]; default ``0.5 fJ · 2^bits``
            [assumed].
    """

    bits: int | None = eqx.field(default=7, static=True)
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


class ADC(eqx.Module):
    """Output analogue-to-digital converter of a tile's column (or row) currents.

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

    bits: int | None = eqx.field(default=9, static=True)
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


def ideal_dac() -> DAC:
    """A DAC that passes inputs through unchanged within [−1, 1]."""
    return DAC(bits=None)


def ideal_adc() -> ADC:
    """An ADC that passes currents through unchanged (no quantisation, no saturation)."""
    return ADC(bits=None, saturate=False)

__all__ = [
    "ADC", "DAC", "ideal_adc", "ideal_dac", "quantize",
]
