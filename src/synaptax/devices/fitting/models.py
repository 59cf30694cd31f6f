"""The per-pulse laws ``synaptax fit`` fits: one conductance change per pulse as a
function of the conductance before it.

Every law is written on the *data-normalised* conductance of one device,
``y = (G − lo)/(hi − lo)`` with ``lo``, ``hi`` the lowest and highest conductance measured on
that device, so that every parameter is of order one and one optimiser setting serves every
device and every model.  A law gives the expected change ``Δy`` of one pulse at ``y``; its
parameters ``p`` (a vector per device) map one to one onto the constructor arguments of the
matching synaptax device (:meth:`Law.to_device_units`).

=============  =========================================  ========================  =============
model          Δy of one pulse (up / down)                 per-device parameters     bounds
=============  =========================================  ========================  =============
constant       ``+s_u`` / ``−s_d``                         s_u, s_d                  data (hard)
linear         ``+s_u(1+γ_u(1−2y))`` / ``−s_d(1+γ_d(2y−1))``  s_u, s_d, γ_u, γ_d        data (hard)
exp            ``c_u(1/D_u − y)`` / ``−c_d(1/D_d − 1 + y)``    s_u, s_d, NL_u, NL_d      data (hard)
soft-bounds    ``2s_u(1−x)`` / ``−2s_d·x``                  b_0, b_1, s_u, s_d        fitted (soft)
pow            ``s_u(2(1−x))^γ_u`` / ``−s_d(2x)^γ_d``       b_0, b_1, s_u, s_d, γ_u, γ_d  fitted (soft)
table          ``k_u·T_u(y)`` / ``−k_d·T_d(y)``             k_u, k_d                  data (hard)
=============  =========================================  ========================  =============

with ``x = (y − b_0)/(b_1 − b_0)`` the position in a soft-bounded cell's own window,
``c = 1 − e^{−NL·s}``, ``D = 1 − e^{−NL}`` (NeuroSim's exponential; see
:class:`~synaptax.devices.generic.exp_step.ExpStepDevice`) and ``T`` the pooled, binned mean
change of the table model.

**linear and exp are one law.**  Both make each direction's change affine in ``y`` with its
zero at or beyond the bound it moves to: one pulse is ``y ← y + a − c·y`` with
``a = s(1+γ)``, ``c = 2γs`` (linear) or ``a = c/D``, ``c = 1 − e^{−NL·s}`` (exp), so
``(s, γ)`` and ``(s, NL)`` are two coordinates of the same two-parameter family per
direction, and the device-to-device spread acts on both alike (a cell's step scales ``s``).
No pulse-response data can tell them apart; ``auto`` therefore chooses among
``constant``, ``linear``, ``soft-bounds`` and ``pow`` and reports the exp coordinates of a
``linear`` fit alongside.  ``constant`` (``γ = 0``) and ``soft-bounds`` (``γ = 1`` or the pow
law with ``γ = 1``) are nested in the others; an information criterion picks them when the
extra parameters do not pay for themselves.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np


class Law(NamedTuple):
    """One per-pulse law (see the module docstring).

    Attributes:
        name: model name as the CLI spells it.
        params: names of the per-device parameters ``p`` (normalised units).
        soft: True when the bounds ``b_0, b_1`` are parameters (``p[0]``, ``p[1]``); False
            when the cell's bounds are the lowest and highest conductance measured.
        delta: ``delta(p, y, up) -> Δy`` (JAX, elementwise in ``y``; ``up`` a boolean array).
        init: ``init(y, dy, up) -> p0`` (NumPy) a starting point from one device's data.
    """

    name: str
    params: tuple[str, ...]
    soft: bool
    delta: Callable
    init: Callable


def _split(y, dy, up):
    return (y[up], dy[up]), (y[~up], dy[~up])


def _mean_abs(dy):
    return float(np.mean(np.abs(dy))) if dy.size else 1e-3


def _affine(y, dy):
    """Least-squares ``dy ≈ a + b·y`` (``b = 0`` with fewer than three points)."""
    if y.size < 3 or np.ptp(y) == 0:
        return (float(np.mean(dy)) if dy.size else 0.0), 0.0
    b, a = np.polyfit(y, dy, 1)
    return float(a), float(b)


# ------------------------------------------------------------------------------- constant
def _constant_delta(p, y, up):
    return jnp.where(up, p[0], -p[1])


def _constant_init(y, dy, up):
    (yu, du), (yd, dd) = _split(y, dy, up)
    return np.array([_mean_abs(du), _mean_abs(dd)])


# ------------------------------------------------------------------------------- linear
def _linear_delta(p, y, up):
    su, sd, gu, gd = p[0], p[1], p[2], p[3]
    return jnp.where(up, su * (1.0 + gu * (1.0 - 2.0 * y)), -sd * (1.0 + gd * (2.0 * y - 1.0)))


def _linear_init(y, dy, up):
    (yu, du), (yd, dd) = _split(y, dy, up)
    a_u, b_u = _affine(yu, du)  # du = su(1+gu) − 2 gu su y
    a_d, b_d = _affine(yd, dd)  # dd = −sd(1−gd) − 2 gd sd y
    su = max(a_u + 0.5 * b_u, 1e-6)
    sd = max(-(a_d + 0.5 * b_d), 1e-6)
    gu = float(np.clip(-b_u / (2 * su), 0.0, 1.0))
    gd = float(np.clip(-b_d / (2 * sd), 0.0, 1.0))
    return np.array([su, sd, gu, gd])


# ------------------------------------------------------------------------------- exp
def _exp_coeffs(s, nl):
    """``(c, 1/D)`` of NeuroSim's exponential law, with the linear limit ``NL → 0``."""
    nl = jnp.abs(nl)
    small = nl < 1e-6
    nl_safe = jnp.where(small, 1.0, nl)
    c = -jnp.expm1(-nl_safe * s)
    inv_d = 1.0 / -jnp.expm1(-nl_safe)
    return c, inv_d, small


def _exp_delta(p, y, up):
    su, sd, nu, nd = p[0], p[1], p[2], p[3]
    cu, iu, small_u = _exp_coeffs(su, nu)
    cd, id_, small_d = _exp_coeffs(sd, nd)
    d_up = jnp.where(small_u, su, cu * (iu - y))
    d_dn = jnp.where(small_d, -sd, -cd * (id_ - 1.0 + y))
    return jnp.where(up, d_up, d_dn)


def _exp_from_linear(su, gu):
    """NeuroSim's ``(s, NL)`` of the linear law's ``(s, γ)`` (same affine coefficients):
    ``c = 2γs = 1 − e^{−NL·s}`` and ``a = s(1+γ) = c/D``."""
    c = 2.0 * gu * su
    if c <= 0:
        return su, 0.0
    inv_d = su * (1.0 + gu) / c
    nl = -np.log1p(-1.0 / inv_d) if inv_d > 1.0 else 50.0
    s = -np.log1p(-min(c, 0.999)) / nl
    return float(s), float(nl)


def _exp_init(y, dy, up):
    """From the linear law's start (same law), with ``NL`` kept in [0.1, 10]: outside it the
    law's gradient in ``NL`` vanishes and the solver would not move."""
    su, sd, gu, gd = _linear_init(y, dy, up)
    out = []
    for s, g in ((su, gu), (sd, gd)):
        s_e, nl = _exp_from_linear(s, float(np.clip(g, 0.05, 0.95)))
        if not (np.isfinite(nl) and 0.1 <= nl <= 10.0):
            nl = float(np.clip(nl if np.isfinite(nl) else 1.0, 0.1, 10.0))
            s_e = s  # the step at mid-range is close to the exp law's s for moderate NL
        out.append((s_e, nl))
    return np.array([out[0][0], out[1][0], out[0][1], out[1][1]])


# ------------------------------------------------------------------------------- soft bounds
def _position(p, y):
    return (y - p[0]) / (p[1] - p[0])


def _soft_delta(p, y, up):
    x = _position(p, y)
    su, sd = p[2], p[3]
    return jnp.where(up, 2.0 * su * (1.0 - x), -2.0 * sd * x)


def _soft_init(y, dy, up):
    (yu, du), (yd, dd) = _split(y, dy, up)
    a_u, b_u = _affine(yu, du)  # du = 2 su (b1 − y)/(b1 − b0)
    a_d, b_d = _affine(yd, dd)  # dd = −2 sd (y − b0)/(b1 − b0)
    b1 = a_u / -b_u if b_u < 0 else 1.0
    b0 = -a_d / b_d if b_d < 0 else 0.0
    if not (np.isfinite(b0) and np.isfinite(b1) and b1 - b0 > 0.2):
        b0, b1 = 0.0, 1.0
    w = b1 - b0
    su = max(-b_u * w / 2, 1e-6) if b_u < 0 else _mean_abs(du)
    sd = max(-b_d * w / 2, 1e-6) if b_d < 0 else _mean_abs(dd)
    return np.array([b0, b1, su, sd])


# ------------------------------------------------------------------------------- pow
def _pow_delta(p, y, up):
    x = _position(p, y)
    su, sd, gu, gd = p[2], p[3], p[4], p[5]
    base_u = jnp.maximum(2.0 * (1.0 - x), 1e-12)
    base_d = jnp.maximum(2.0 * x, 1e-12)
    return jnp.where(up, su * base_u**gu, -sd * base_d**gd)


def _pow_init(y, dy, up):
    return np.concatenate([_soft_init(y, dy, up), [1.0, 1.0]])


# ------------------------------------------------------------------------------- table
def table_delta(grid_up, table_up, grid_down, table_down):
    """The table law's ``delta`` for pooled tables ``T(y)`` on their grids (normalised)."""
    gu, tu, gd, td = (jnp.asarray(a) for a in (grid_up, table_up, grid_down, table_down))

    def delta(p, y, up):
        return jnp.where(up, p[0] * jnp.interp(y, gu, tu), -p[1] * jnp.interp(y, gd, td))

    return delta


def _table_init(y, dy, up):
    return np.array([1.0, 1.0])


LAWS: dict[str, Law] = {
    "constant": Law("constant", ("step_up", "step_down"), False, _constant_delta, _constant_init),
    "linear": Law("linear", ("step_up", "step_down", "gamma_up", "gamma_down"), False, _linear_delta, _linear_init),
    "exp": Law("exp", ("step_up", "step_down", "nl_up", "nl_down"), False, _exp_delta, _exp_init),
    "soft-bounds": Law("soft-bounds", ("b0", "b1", "step_up", "step_down"), True, _soft_delta, _soft_init),
    "pow": Law("pow", ("b0", "b1", "step_up", "step_down", "gamma_up", "gamma_down"), True, _pow_delta, _pow_init),
    "table": Law("table", ("scale_up", "scale_down"), False, None, _table_init),
}

#: The models ``--model auto`` chooses among (exp is the linear law in other coordinates;
#: the table has no fixed number of parameters).
AUTO_CANDIDATES = ("constant", "linear", "soft-bounds", "pow")

#: Every model name the fit accepts.
MODELS = ("auto",) + tuple(LAWS)

__all__ = ["AUTO_CANDIDATES", "LAWS", "Law", "MODELS", "table_delta"]
