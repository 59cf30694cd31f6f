"""Relaxation (retention) of the generic pulsed devices: the conductance decays toward a rest
state while no pulse arrives.

A phenomenological retention term, the same for every generic law: with ``t`` [s] the time
since the cell's last pulse and ``G_0`` [S] its conductance just after that pulse::

    G(t) = G_rest + (G_0 − G_rest)·φ(t),   G_rest = g_min + rest·(g_max − g_min)

per cell (the cell's own bounds), with the decay function

* ``"exp"``: ``φ(t) = exp(−t/τ)`` — memoryless: a step of ``Δt`` multiplies the distance to
  rest by ``exp(−Δt/τ)`` whatever the age, so the state needs nothing more;
* ``"pow"``: ``φ(t) = (1 + t/τ)^(−α)`` — a slower, heavy-tailed decay that depends on the
  age: a step of ``Δt`` from age ``a`` multiplies the distance by
  ``φ(a + Δt)/φ(a) = (1 + Δt/(τ + a))^(−α)``, so the state carries the age since the last
  pulse (:attr:`~synaptax.devices.generic.pulsed.PulsedState.age`).

Both compose exactly: evolving for ``Δt₁`` then ``Δt₂`` is evolving for ``Δt₁ + Δt₂``.  The
parameters are a description of measured retention curves (fitted from data by
``synaptax fit``, or set by hand); they claim no mechanism of any material.
"""
from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..._checks import check_finite, check_positive, is_concrete

#: The decay laws :class:`Relaxation` knows.
LAWS = ("exp", "pow")


class Relaxation(eqx.Module):
    """Decay of a pulsed device's conductance toward a rest state (see the module docstring).

    Attributes:
        law: ``"exp"`` (``φ(t) = exp(−t/τ)``, no memory) or ``"pow"``
            (``φ(t) = (1 + t/τ)^(−α)``, needs the age since the last pulse); static.
        tau: time constant ``τ`` [s], > 0.
        exponent: power-law exponent ``α`` (dimensionless, law ``"pow"`` only), > 0.
        rest: rest position as a fraction of each cell's window ``[g_min, g_max]``
            (dimensionless), in [0, 1]: ``G_rest = g_min + rest·(g_max − g_min)``.

    Every numeric field may be traced (``jax.grad`` with respect to ``tau``, ``exponent``
    and ``rest``; ``jax.vmap`` over a stack of models).
    """

    law: str = eqx.field(static=True, default="exp")
    tau: float = 1.0
    exponent: float = 1.0
    rest: float = 0.0

    def __check_init__(self):
        if self.law not in LAWS:
            raise ValueError(f"law must be one of {', '.join(repr(k) for k in LAWS)}, got {self.law!r}")
        check_positive("tau", self.tau)
        check_positive("exponent", self.exponent)
        check_finite("rest", self.rest)
        if is_concrete(self.rest):
            r = np.asarray(self.rest, dtype=np.float64)
            if np.any((r < 0) | (r > 1)):
                raise ValueError(f"rest must lie in [0, 1] (a fraction of each cell's window), "
                                 f"got {float(r.ravel()[np.argmax((r < 0) | (r > 1))])!r}")

    @property
    def needs_age(self) -> bool:
        """True when the decay depends on the age since the last pulse (law ``"pow"``)."""
        return self.law == "pow"

    def _log_phi(self, t: Array, age: Array | None = None) -> Array:
        """``log(φ(age + t)/φ(age))`` (≤ 0 for ``t ≥ 0``); ``age`` None is 0."""
        if self.law == "exp":
            return -t / self.tau
        scale = self.tau if age is None else self.tau + age
        return -self.exponent * jnp.log1p(t / scale)

    def phi(self, t: Float[ArrayLike, "*S"]) -> Float[Array, "*S"]:
        """Decay function ``φ(t)`` (dimensionless, ``φ(0) = 1``) at time ``t`` [s] after a
        pulse, any shape."""
        return jnp.exp(self._log_phi(jnp.asarray(t)))

    def decay(self, age: Float[ArrayLike, "*#S"] | None, duration: Float[ArrayLike, "*#S"]) -> Float[Array, "*S"]:
        """Factor ``φ(age + duration)/φ(age)`` by which ``duration`` [s] multiplies the distance
        to rest of a cell whose last pulse was ``age`` [s] ago (broadcast shapes).  For
        ``"exp"`` it is ``exp(−duration/τ)`` whatever the age; ``age`` None is 0."""
        return jnp.exp(self._log_phi(jnp.asarray(duration), None if age is None else jnp.asarray(age)))

    def _approach(self, age: Array | None, duration: Array) -> Array:
        """``1 − decay(age, duration)``, accurate for short durations (exactly 0 for 0 s)."""
        return -jnp.expm1(self._log_phi(duration, age))


__all__ = ["LAWS", "Relaxation"]
