"""Digital transforms for update-rule chains: requests in, requests out, nothing written.

* :class:`OuterGradient` — an :class:`OuterProduct` as the dense gradient
  ``∂L/∂W = −Σ_b d_b x_bᵀ`` (its learning rate dropped: an optimiser downstream sets it).
* :class:`Optax` — any optax optimiser on the dense gradient: ``Gradient → WeightChange``.
* :class:`Accumulate` — the mixed-precision buffer χ (Nandakumar et al., Front. Neurosci.
  2020 [pub]): ``χ ← χ + ΔW``; the whole pulses ``trunc(χ/dw_min)·dw_min`` go on, the rest
  stays in χ.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from .base import AbstractUpdateRule, Gradient, OuterProduct, WeightChange

_HIGHEST = jax.lax.Precision.HIGHEST


class OuterGradient(AbstractUpdateRule):
    """``OuterProduct(x, d, lr) → Gradient(−dᵀ x)`` (``d = −∂L/∂y``, so this is ``∂L/∂W``)."""

    def update(self, request, state, crossbar, crossbar_state, *, key):
        self._expect(request, OuterProduct, "OuterGradient")
        x, d = jnp.atleast_2d(request.x), jnp.atleast_2d(request.d)
        return Gradient(-(d.T @ x)), state


class Optax(AbstractUpdateRule):
    """An optax optimiser on the dense weight gradient: ``Gradient → WeightChange``.

    Attributes:
        optimizer: the optax transformation (its state is this rule's state).
    """

    optimizer: optax.GradientTransformation

    def init(self, crossbar, *, key=None):
        return self.optimizer.init(jnp.zeros((crossbar.out_features, crossbar.in_features)))

    def update(self, request, state, crossbar, crossbar_state, *, key):
        self._expect(request, Gradient, "Optax")
        updates, state = self.optimizer.update(request.grad, state)
        return WeightChange(updates), state


class Accumulate(AbstractUpdateRule):
    """Mixed-precision accumulation: ``χ ← χ + ΔW``; passes on ``trunc(χ/dw_min)·dw_min``
    (whole pulses) and keeps the remainder.  State: χ, ``(out_features, in_features)``."""

    def init(self, crossbar, *, key=None):
        return jnp.zeros((crossbar.out_features, crossbar.in_features))

    def update(self, request, state, crossbar, crossbar_state, *, key):
        self._expect(request, WeightChange, "Accumulate")
        chi = state + request.delta
        n = jnp.trunc(chi / crossbar.dw_min)
        return WeightChange(n * crossbar.dw_min), chi - n * crossbar.dw_min


__all__ = ["Accumulate", "Optax", "OuterGradient"]
