"""Electrochemical ionic synapse (EIS, ECRAM): channel conductance set by inserted ions.

A three-terminal cell: a gate pulse moves working ions (Mg²⁺, H⁺, O²⁻) through an
electrolyte between a reservoir and the channel (WO₃); each ion dopes the channel with
electrons and raises its conductance.  The physics follows Schwacke et al., *Electrochemical
Ionic Synapses with Mg²⁺ as the Working Ion*, Adv. Electron. Mater. 2024 (shared/papers/
mg-ion-electrochemical-synapse-MgWO3-AdvElectronMater2024.txt) and shared/docs/
device-physics.md §C.  Presets (with the provenance of every number) are in
:mod:`synaptax.devices.electrochemical.presets`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ..._checks import check_finite, check_less, check_nonnegative, check_positive, is_concrete
from ... import _random as fast_random
from ..core.blocks import by_blocks
from ..core.contract import AbstractDevice, AbstractDeviceState, PulseEnergy, hold_stuck
from ..core.variability import CellSample, StepVariability, geometric_contraction, step_noise_variance

_LN10 = math.log(10.0)

#: Exponents evaluated without a logarithm (a square root, products).
_CHEAP_POWERS = {0.5: jnp.sqrt, 1.0: lambda x: x, 1.5: lambda x: x * jnp.sqrt(x), 2.0: lambda x: x * x,
                 3.0: lambda x: x * x * x}


def _pow(x, exponent):
    """``x**exponent`` for ``x ≥ 0`` and ``exponent > 0``: a square root or products for a
    concrete 0.5, 1, 1.5, 2 or 3 (the Mg law's ``p = 1/2``), else ``exp(exponent·log x)``
    (XLA's general power costs about 4× as much on the CPU, even for 0.5; they agree to a
    few ulp)."""
    if is_concrete(exponent) and float(exponent) in _CHEAP_POWERS:
        return _CHEAP_POWERS[float(exponent)](x)
    return jnp.exp(exponent * jnp.log(x))


#: Gauss–Legendre nodes and weights on [0, 1] (4 points): the voltage-pulse quadrature.
_GL_NODES = tuple(float(v) for v in (np.polynomial.legendre.leggauss(4)[0] + 1.0) / 2.0)
_GL_WEIGHTS = tuple(float(v) for v in np.polynomial.legendre.leggauss(4)[1] / 2.0)
#: The same nodes in pairs ``(u, 1 − u)`` (``u < 1/2``) with their common weight: the pair's
#: terms share one exponential (``e^((1−u)ξ) = e^ξ/e^(uξ)``) and one division.
_GL_PAIRS = tuple((_GL_NODES[i], _GL_WEIGHTS[i]) for i in range(len(_GL_NODES)) if _GL_NODES[i] < 0.5)
assert len(_GL_PAIRS) == 2 and all(abs(n + _GL_NODES[-1 - i] - 1.0) < 1e-12 for i, (n, _) in enumerate(_GL_PAIRS))


def _gl_mean(xi, z0, e_xi):
    """``∫_0^1 e^(uξ)/(z0 − uξ) du`` by the 4-point Gauss–Legendre rule (``e_xi = e^ξ``,
    known to the caller): two exponentials and two divisions instead of four of each."""
    total = jnp.zeros_like(xi)
    for node, weight in _GL_PAIRS:
        p = jnp.exp(node * xi)
        near = z0 - node * xi             # z0 − uξ
        far = z0 - (1.0 - node) * xi      # z0 − (1 − u)ξ
        total = total + weight * (p * p * far + e_xi * near) / (p * near * far)
    return total


#: The whole-train voltage-pulse solution is used where a train covers at most this part of
#: the way to its target in ``ln s`` (far from it; the quadrature's error is then below
#: ~1e-6 of the change); closer cells take the step-by-step flow.
_FAR = 0.5
#: Halley iterations of the whole-train voltage-pulse solution (from a midpoint estimate).
_HALLEY_ITERATIONS = 1
#: ``evolve``'s substeps per cell: one per ``_NU_STEP`` of ``ν = rate·duration/s`` (the
#: flow's stiffness ``|f'(s)|·duration``), at most ``substeps``: the exponential-midpoint
#: error is ≈ 0.1·(ν/n)² of the change, so below 3e-5 of it.
_NU_STEP = 0.01
#: The flow's third-order Taylor series in time (:func:`_taylor_change`) is used where its
#: next term, at most ``ν³·(1 + 4|a| + 2a²)/24`` of the change, is below ``_TAYLOR_TOL``.
_TAYLOR_TOL = 1e-7


def _taylor_change(nu, a):
    """Relative change ``σ = s1/s0 − 1`` of the flow ``ds/dt = r·ln(s*/s)`` over ``T`` to third
    order in ``ν = r·T/s0`` (``a = ln(s*/s0)``): ``σ = ν·a·(1 − ν/2 + ν²·(1 + a)/6)``, from
    the second and third time derivatives ``−r·f/s`` and ``r·f·(r + f)/s²`` (``f = r·a``);
    the next term is ``−ν⁴·a·(1 + 4a + 2a²)/24``, so at most ``ν³·(1 + 4|a| + 2a²)/24`` of
    the change (:func:`_taylor_ok`)."""
    return nu * a * (1.0 - 0.5 * nu + nu * nu * (1.0 + a) / 6.0)


def _taylor_ok(nu, a, tol=_TAYLOR_TOL):
    """Where :func:`_taylor_change` is accurate to ``tol`` of the change."""
    abs_a = jnp.abs(a)
    return nu * nu * nu * (1.0 + abs_a * (4.0 + 2.0 * abs_a)) <= 24.0 * tol


def _check_positive_or_inf(name: str, value) -> None:
    """Raise ValueError unless ``value`` is > 0 (``inf`` allowed: "never")."""
    if is_concrete(value) and not float(value) > 0:
        raise ValueError(f"{name} must be positive (inf for none), got {float(value)!r}")


class ECRAMGeometry(eqx.Module):
    """Geometry of an electrochemical cell (SI units, all > 0).

    Attributes:
        channel_width: width ``w`` of the channel between source and drain [m].
        channel_length: length ``l`` between source and drain [m].
        thickness: channel film thickness ``t`` [m].
        exchange_area: ion-exchange area ``A_ex`` [m²]: the area of the channel film in
            contact with the electrolyte, through which ions enter (the whole WO₃ film in
            the paper's devices, larger than ``w·l``).
    """

    channel_width: float
    channel_length: float
    thickness: float
    exchange_area: float

    def __check_init__(self):
        for name in ("channel_width", "channel_length", "thickness", "exchange_area"):
            check_positive(name, getattr(self, name))

    @classmethod
    def square_cell(cls, size: float, *, thickness: float = 80e-9) -> "ECRAMGeometry":
        """A ``size × size`` cell whose whole channel is the ion-exchange area
        (``w = l = size``, ``A_ex = size²``); ``thickness`` [m], default the paper's 80 nm."""
        check_positive("size", size)
        return cls(channel_width=size, channel_length=size, thickness=thickness, exchange_area=size * size)

    @property
    def aspect(self) -> float:
        """``w / l`` (dimensionless): the number of squares of the channel, inverted."""
        return self.channel_width / self.channel_length

    @property
    def volume(self) -> float:
        """Volume of the ion-hosting film ``A_ex · t`` [m³]."""
        return self.exchange_area * self.thickness


class ECRAMState(AbstractDeviceState):
    """State of an array of electrochemical cells; every field has the array's shape.

    Attributes:
        conductance: channel conductance [S].
        scale_up: this cell's sensitivity ``κ`` relative to the model's, for potentiation
            (device-to-device sample, including the up/down asymmetry ``1 + β``).
        scale_down: the same for depression (``1 − β``).
        g_eq: this cell's conductance at zero open-circuit potential [S] (device-to-device
            OCP offset).
        g_min: this cell's lower programming bound [S].
        g_max: this cell's upper programming bound [S].
        stuck: int8 fault code: 0 working, 1 stuck at ``g_min``, 2 stuck at ``g_max``.
    """

    conductance: Array
    scale_up: Array
    scale_down: Array
    g_eq: Array
    g_min: Array
    g_max: Array
    stuck: Array


class GateVoltage(NamedTuple):
    """Gate voltage [V] during a potentiation (``up``) and a depression (``down``) pulse, per cell."""

    up: Array
    down: Array


class GateCurrent(NamedTuple):
    """Gate (ionic) current [A] during a potentiation (``up``) and a depression (``down``) pulse, per cell."""

    up: Array
    down: Array


class ECRAMDevice(AbstractDevice):
    """Electrochemical ionic synapse (ECRAM): conductance set by inserted charge.

    Physics (per cell; ``G`` the channel conductance, ``Q`` the inserted charge):

    * **Charge → conductance.**  ``dG/dQ = κ·(G/G_ref)^p`` (Schwacke 2024 Figs. 3d–e, 4:
      ``ΔG ∝ I_p·t_p`` at fixed ``G₀``, larger at larger ``G₀``).  Integrated exactly in the
      charge-linear coordinate ``s = (G/G_ref)^(1−p)``: ``Δs = (1−p)·κ·Q/G_ref``, so any
      (fractional) number of pulses is one closed-form step and equal charges in and out
      cancel exactly.
    * **Current pulses** (``pulse_mode="current"``) insert ``Q = ±I_p·t_p`` per pulse.
      **Voltage pulses** (``"voltage"``) drive an ionic current through the gate
      ``I = (±V_p − V_OCP(G))/R_gate``, so the charge depends on the state's OCP (the
      paper's explanation of Fig. 5's drift under voltage gating).
    * **Open-circuit potential.**  ``V_OCP = S·log10(G/G_eq)`` (Fig. 3b: 10× in ``G``
      within ``S`` = 110 mV; ``G_eq`` ≈ 40 µS where OCP = 0, Fig. 8a).
    * **Rest (``evolve``).**  Ions flow back through the electrolyte driven by the OCP:
      ``dQ/dt = (V_rest − V_OCP(G))/R_path`` with ``R_path = R_gate`` when the gate is
      held at ``V_rest`` (``rest_condition="held"``) and, at open circuit, through the
      electrolyte's electronic leak: ``R_path = R_gate·(1 + σ_ion/σ_e)`` (≈ 26·R_gate for
      the paper's PCE, ``σ_e/σ_ion`` = 0.04); ``V_rest`` = 0 then.  No leak
      (``leak_ratio = 0``) means no open-circuit drift.  Combined with the charge law, in
      ``s``: ``ds/dt = c·ln(s*/s)``, ``c = κ·S/(ln10·R_path·G_ref)``, ``s*`` the ``s`` of
      ``G* = G_eq·10^(V_rest/S)``: a monotonic approach to ``G*``, integrated by an
      exponential midpoint rule (``substeps`` per call) that never overshoots.  Voltage
      pulses follow the same flow toward ``G_eq·10^(±V_p/S)`` with ``R_gate``.
    * **Ion loss** (protons in air): the inserted charge above the undoped channel decays,
      ``s − s_undoped ∝ exp(−t/ion_loss_time)`` (exact), split with the OCP relaxation.
    * **Energy per pulse**: ``E = |I_p|·t_p·|V_G| + E_dyn`` with the gate voltage
      ``V_G = V_OCP(G) + I_p·R_gate`` (current pulses; ``V_G = ±V_p`` for voltage pulses)
      and ``E_dyn`` the dynamic (line-charging) energy per pulse.
    * **Variability** (:class:`~synaptax.devices.core.variability.StepVariability`): ``d2d_step`` scales ``κ`` per cell,
      ``d2d_asymmetry`` spreads ``β`` (``κ_up = κ(1+β)``, ``κ_down = κ(1−β)``),
      ``d2d_bounds`` the programming window, ``c2c``/``c2c_range`` the per-pulse noise
      (as for the generic pulsed devices), ``read_noise`` the read; ``ocp_offset_std``
      [V] offsets each cell's OCP (its ``G_eq``).
    * **Programming window.**  ``[g_min, g_max]`` is the window a program-and-verify
      controller keeps cells in: pulses never move a cell beyond it (a cell already outside,
      e.g. after ion loss, is not snapped back).  Rest and ion loss are physics and can
      leave it.

    Geometry (:class:`ECRAMGeometry`, see :meth:`scaled`): ``G = σ·w·t/l`` and a charge
    ``Q`` spreads over the film volume ``A_ex·t``, so ``κ ∝ (w/l)/A_ex`` and conductances
    ``∝ w·t/l``; the gate (ionic) resistance ``∝ 1/A_ex``.  All numbers of a model refer to
    its ``geometry``.

    Attributes (SI units):
        g_min, g_max: programming window [S], ``0 < g_min < g_max``.
        g_undoped: conductance with no working ions [S], ``0 < g_undoped ≤ g_min`` (the
            target of ion loss).
        sensitivity: ``κ``, the conductance change per inserted charge at ``g_ref`` [S/C].
        g_ref: reference conductance of the sensitivity law [S].
        exponent: ``p`` in ``(G/G_ref)^p``, ``0 ≤ p < 1``.
        asymmetry: mean up/down asymmetry ``β``, ``|β| < 1``.
        ocp_slope: ``S`` [V per decade of conductance], > 0.
        g_eq: conductance at zero OCP [S].
        gate_resistance: ``R_gate``, the ionic path resistance of the gate [Ω].
        leak_ratio: ``σ_e/σ_ion`` of the electrolyte (≥ 0; 0: electronically insulating).
        rest_condition: ``"open-circuit"`` or ``"held"`` (gate held at ``rest_voltage``).
        rest_voltage: gate voltage at rest when held [V].
        ion_loss_time: time constant of working-ion loss [s] (``inf``: none).
        pulse_mode: ``"current"`` or ``"voltage"``.
        pulse_current: current-pulse amplitude [A] (> 0; current mode).
        pulse_voltage: voltage-pulse amplitude [V] (> 0; voltage mode).
        pulse_width: pulse width [s], > 0.
        dynamic_energy: energy per pulse beyond the ionic work (charging lines) [J], ≥ 0.
        geometry: the cell's :class:`ECRAMGeometry`.
        variability: :class:`~synaptax.devices.core.variability.StepVariability`.
        ocp_offset_std: device-to-device standard deviation of the OCP offset [V].
        substeps: exponential-midpoint substeps per ``evolve`` call and per voltage-pulse
            update (static).
        integrator: ``"fast"`` (default: closed forms and whole-train solutions, evaluated
            block by block on large arrays; README "Speed at array scale") or
            ``"reference"`` (the step-by-step integration) (static).
    """

    g_min: float
    g_max: float
    g_undoped: float
    sensitivity: float
    g_ref: float
    exponent: float
    ocp_slope: float
    g_eq: float
    gate_resistance: float
    geometry: ECRAMGeometry
    asymmetry: float = 0.0
    leak_ratio: float = 0.0
    rest_condition: Literal["open-circuit", "held"] = eqx.field(static=True, default="open-circuit")
    rest_voltage: float = 0.0
    ion_loss_time: float = math.inf
    pulse_mode: Literal["current", "voltage"] = eqx.field(static=True, default="current")
    pulse_current: float = 10e-6
    pulse_voltage: float = 1.0
    pulse_width: float = 0.5
    dynamic_energy: float = 0.0
    variability: StepVariability = StepVariability()
    ocp_offset_std: float = 0.0
    substeps: int = eqx.field(static=True, default=8)
    integrator: Literal["fast", "reference"] = eqx.field(static=True, default="fast")

    def __check_init__(self):
        if self.integrator not in ("fast", "reference"):
            raise ValueError(f"integrator must be 'fast' or 'reference', got {self.integrator!r}")
        check_positive("g_undoped", self.g_undoped)
        check_positive("g_min", self.g_min)
        check_positive("g_max", self.g_max)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        if is_concrete((self.g_undoped, self.g_min)) and float(self.g_undoped) > float(self.g_min):
            raise ValueError(f"g_undoped must not exceed g_min, got g_undoped={float(self.g_undoped)!r} "
                             f"and g_min={float(self.g_min)!r}")
        check_positive("sensitivity", self.sensitivity)
        check_positive("g_ref", self.g_ref)
        if is_concrete(self.exponent) and not 0.0 <= float(self.exponent) < 1.0:
            raise ValueError(f"exponent must satisfy 0 <= exponent < 1, got {float(self.exponent)!r}")
        if is_concrete(self.asymmetry) and not abs(float(self.asymmetry)) < 1.0:
            raise ValueError(f"asymmetry must satisfy |asymmetry| < 1, got {float(self.asymmetry)!r}")
        check_positive("ocp_slope", self.ocp_slope)
        check_positive("g_eq", self.g_eq)
        check_positive("gate_resistance", self.gate_resistance)
        check_nonnegative("leak_ratio", self.leak_ratio)
        if self.rest_condition not in ("open-circuit", "held"):
            raise ValueError(f"rest_condition must be 'open-circuit' or 'held', got {self.rest_condition!r}")
        check_finite("rest_voltage", self.rest_voltage)
        _check_positive_or_inf("ion_loss_time", self.ion_loss_time)
        if self.pulse_mode not in ("current", "voltage"):
            raise ValueError(f"pulse_mode must be 'current' or 'voltage', got {self.pulse_mode!r}")
        if self.pulse_mode == "current":
            check_positive("pulse_current", self.pulse_current)
        else:
            check_positive("pulse_voltage", self.pulse_voltage)
        check_positive("pulse_width", self.pulse_width)
        check_nonnegative("dynamic_energy", self.dynamic_energy)
        check_nonnegative("ocp_offset_std", self.ocp_offset_std)
        if not isinstance(self.geometry, ECRAMGeometry):
            raise TypeError(f"geometry must be an ECRAMGeometry, got {type(self.geometry).__name__}")
        if not isinstance(self.variability, StepVariability):
            raise TypeError(f"variability must be a StepVariability, got {type(self.variability).__name__}")
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int) or self.substeps < 1:
            raise ValueError(f"substeps must be an integer >= 1, got {self.substeps!r}")

    # ------------------------------------------------------------------ laws (public)
    @property
    def pulse_charge(self) -> float:
        """Charge [C] of one nominal pulse: ``I_p·t_p`` (current mode) or ``V_p·t_p/R_gate``
        (voltage mode, at zero OCP)."""
        if self.pulse_mode == "current":
            return self.pulse_current * self.pulse_width
        return self.pulse_voltage * self.pulse_width / self.gate_resistance

    def _s(self, g):
        if self.integrator == "reference":
            return (g / self.g_ref) ** (1.0 - self.exponent)
        return _pow(g / self.g_ref, 1.0 - self.exponent)

    def _g(self, s):
        if self.integrator == "reference":
            return self.g_ref * jnp.maximum(s, 0.0) ** (1.0 / (1.0 - self.exponent))
        return self.g_ref * _pow(jnp.maximum(s, 0.0), 1.0 / (1.0 - self.exponent))

    def charge_to_conductance(self, conductance: ArrayLike, charge: ArrayLike) -> Array:
        """Conductance [S] after inserting ``charge`` [C] (signed, broadcastable) into a
        nominal cell at ``conductance`` [S]: the sensitivity law alone (no window, noise or
        variation); zero once all charge is removed."""
        g = jnp.asarray(conductance, jnp.result_type(float))
        return self._g(self._s(g) + (1.0 - self.exponent) * self.sensitivity * jnp.asarray(charge) / self.g_ref)

    def conductance_to_charge(self, conductance_from: ArrayLike, conductance_to: ArrayLike) -> Array:
        """Charge [C] that moves a nominal cell from ``conductance_from`` to
        ``conductance_to`` (both [S], > 0): the inverse of :meth:`charge_to_conductance`."""
        ds = self._s(jnp.asarray(conductance_to)) - self._s(jnp.asarray(conductance_from))
        return ds * self.g_ref / ((1.0 - self.exponent) * self.sensitivity)

    def open_circuit_potential(self, conductance: ArrayLike, g_eq: ArrayLike | None = None) -> Array:
        """``V_OCP = S·log10(G/G_eq)`` [V] at ``conductance`` [S] (``g_eq`` [S]: per-cell
        values, e.g. ``state.g_eq``; the model's by default)."""
        g_eq = self.g_eq if g_eq is None else g_eq
        return self.ocp_slope * jnp.log10(jnp.asarray(conductance) / g_eq)

    @property
    def rest_target_offset(self) -> float:
        """``V_rest`` [V] the cells relax to at rest (0 at open circuit)."""
        return self.rest_voltage if self.rest_condition == "held" else 0.0

    @property
    def rest_conductance(self) -> float:
        """Conductance [S] a nominal cell settles to at rest, ``G_eq·10^(V_rest/S)``, ignoring
        ion loss."""
        return self.g_eq * 10.0 ** (self.rest_target_offset / self.ocp_slope)

    @property
    def rest_path_conductance(self) -> float:
        """``1/R_path`` [S] of the ionic return path at rest (module docstring)."""
        if self.rest_condition == "held":
            return 1.0 / self.gate_resistance
        return self.leak_ratio / (self.gate_resistance * (1.0 + self.leak_ratio))

    # ------------------------------------------------------------------ geometry
    def scaled(self, geometry: ECRAMGeometry, *, pulse_width: float | None = None) -> "ECRAMDevice":
        """The same materials in another ``geometry``.

        With ``a = A_ex'/A_ex``, ``r = (w'/l')/(w/l)``, ``τ = t'/t`` (this model's geometry
        to the new one):

        * conductances (``g_min``, ``g_max``, ``g_undoped``, ``g_ref``, ``g_eq``) ``× r·τ``
          (``G = σ·w·t/l``);
        * sensitivity ``κ × r/a`` (a charge spreads over ``A_ex·t``; ``t`` cancels);
        * gate resistance ``× 1/a`` (ions cross the electrolyte over ``A_ex``);
        * current pulses carry ``× a·τ`` the charge, so one pulse moves ``G`` by the same
          fraction (the same number of states); the width is kept unless ``pulse_width``
          is given, the current follows (``I_p = Q/t_p``), and the gate overpotential
          ``I_p·R_gate`` scales ``× τ·t_p/t_p'`` — the energy per pulse
          ``× a·τ`` at the same width;
        * voltage pulses keep ``V_p``; the width is ``× τ`` unless given (same fraction);
        * dynamic energy ``× a`` (gate capacitance ∝ area) [assumed]; the OCP law,
          ``p``, ``β``, the leak ratio, the ion-loss time and the variability are material
          properties and are kept.

        So the normalised energy ``E/(A_ex·ΔG)`` is unchanged at fixed ``w/l`` and width,
        and ``∝ l/w`` otherwise; the rest relaxation rate is unchanged at fixed thickness.
        """
        if not isinstance(geometry, ECRAMGeometry):
            raise TypeError(f"geometry must be an ECRAMGeometry, got {type(geometry).__name__}")
        old = self.geometry
        a = geometry.exchange_area / old.exchange_area
        r = geometry.aspect / old.aspect
        tau = geometry.thickness / old.thickness
        gs = r * tau
        changes = dict(
            geometry=geometry, g_min=self.g_min * gs, g_max=self.g_max * gs, g_undoped=self.g_undoped * gs,
            g_ref=self.g_ref * gs, g_eq=self.g_eq * gs, sensitivity=self.sensitivity * r / a,
            gate_resistance=self.gate_resistance / a, dynamic_energy=self.dynamic_energy * a)
        if self.pulse_mode == "current":
            width = self.pulse_width if pulse_width is None else pulse_width
            check_positive("pulse_width", width)
            changes.update(pulse_width=width, pulse_current=self.pulse_charge * a * tau / width)
        else:
            width = self.pulse_width * tau if pulse_width is None else pulse_width
            check_positive("pulse_width", width)
            changes.update(pulse_width=width)
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ interface
    @property
    def conductance_range(self) -> tuple[float, float]:
        """The programming window ``(g_min, g_max)`` [S]."""
        return (self.g_min, self.g_max)

    @property
    def nominal_step(self) -> float:
        """``κ·Q_p·(G_mid/G_ref)^p`` [S] at ``G_mid = (g_min + g_max)/2``: the mean of a
        potentiation and a depression step of a nominal cell (``Q_p`` at zero OCP)."""
        g_mid = 0.5 * (self.g_min + self.g_max)
        return self.sensitivity * self.pulse_charge * (g_mid / self.g_ref) ** self.exponent

    def _init(self, cells: CellSample, *, key: PRNGKeyArray, conductance) -> ECRAMState:
        """Per-cell sensitivity scales (:meth:`StepVariability.sample_steps`) and OCP offsets
        from ``key`` (two streams).  By default each cell starts at its zero-OCP conductance
        ``G_eq`` (clipped to its window), the state a cell relaxes to after assembly."""
        shape, dtype = cells.g_min.shape, cells.g_min.dtype
        k_steps, k_ocp = jax.random.split(key)
        scale_up, scale_down = self.variability.sample_steps(k_steps, shape, self.asymmetry, dtype)
        g_eq = self.g_eq * 10.0 ** (self.ocp_offset_std * fast_random.normal(k_ocp, shape, dtype) / self.ocp_slope)
        g0 = g_eq if conductance is None else conductance
        return ECRAMState(cells.place(g0), scale_up, scale_down, g_eq, cells.g_min, cells.g_max, cells.stuck)

    def _relax(self, g, log_target, rate, amount, g_floor, substeps=None, g_target=None, adaptive=False):
        """Integrate the OCP-driven flow toward ``G* = exp(log_target)`` for ``amount``.

        In the charge-linear coordinate ``s = (G/G_ref)^(1−p)`` the flow is
        ``ds/dτ = rate·ln(s*/s)`` (``rate = κ·S/(ln10·R·G_ref)`` [1/s]).  Each substep is an
        exponential midpoint step of ``d(s − s*)/dτ = −rate·L(s)·(s − s*)`` with
        ``L(s) = ln(s/s*)/(s − s*) > 0`` frozen at the midpoint: ``s − s*`` is multiplied by
        a factor in (0, 1], so the approach is monotonic and never overshoots, for any
        ``amount``.  ``L`` varies only logarithmically when the target is far (voltage
        pulses), so a few substeps are accurate; written with ``expm1`` in log space so that
        far targets (``G*`` beyond the float range) are safe.  ``G`` never goes below
        ``g_floor`` [S] (the undoped channel: no ions left to remove).

        ``adaptive``: each cell takes ``n = ceil(ν/0.01)`` substeps, at least 1 and at most
        ``substeps``, with ``ν = rate·amount/s`` (the flow's stiffness ``|f'(s)|`` times the
        time: the exponential midpoint's error is ≈ 0.1·(ν/n)² of the change), instead of
        ``substeps`` for every cell: a cell that takes ``substeps`` gets exactly the fixed
        rule's values, one that takes fewer is within 3e-5 of the change of the exact flow.
        """
        substeps = self.substeps if substeps is None else substeps
        q = 1.0 - self.exponent
        h = amount / substeps
        log_s_star = q * (log_target - jnp.log(self.g_ref))
        s = self._s(g)
        if adaptive:
            nu = rate * amount / jnp.maximum(s, 1e-30)
            n = jnp.clip(jnp.ceil(nu / _NU_STEP), 1.0, float(substeps))
            n = jnp.where(jnp.isfinite(n), n, float(substeps))
            h = jnp.where(n == substeps, h, amount / n)
            a0 = log_s_star - jnp.log(jnp.maximum(s, 1e-30))
            taylor = _taylor_ok(nu, a0)
            s_taylor = s * (1.0 + _taylor_change(nu, a0))
            n = jnp.where(taylor, 0.0, n)

        def increment(s_from, s_eval, dt):
            a = log_s_star - jnp.log(s_eval)              # ln(s*/s_eval)
            small = jnp.abs(a) < 1e-6
            beta = jnp.where(small, 1.0 - 0.5 * a, a / jnp.where(small, 1.0, jnp.expm1(a)))  # a/expm1(a) ≥ 0
            z = rate * dt * beta / s_eval                  # rate·dt·L(s_eval) ≥ 0
            tiny = z < 1e-6
            phi = jnp.where(tiny, 1.0 - 0.5 * z, -jnp.expm1(-z) / jnp.where(tiny, 1.0, z))  # (1 − e^−z)/z
            # (s* − s_from)·L(s_eval) = a + (s_eval − s_from)·beta/s_eval
            return rate * dt * (a + (s_eval - s_from) * beta / s_eval) * phi

        s_star = jnp.exp(log_s_star)     # may over/underflow: only used as a bound
        s_floor = self._s(g_floor)

        def substep(_, s):
            # the exact flow never crosses s* nor leaves the doped range: clamp roundoff
            lo = jnp.maximum(jnp.minimum(s, s_star), s_floor)
            hi = jnp.maximum(s, s_star)
            s_half = jnp.clip(s + increment(s, s, 0.5 * h), lo, hi)
            return jnp.clip(s + increment(s, s_half, h), lo, hi)

        if adaptive:
            # short rests by the Taylor series; the other cells' substeps in a loop that runs
            # for the cell that needs most (no iteration when every cell is short)
            bounded = jnp.clip(s_taylor, jnp.maximum(jnp.minimum(s, s_star), s_floor), jnp.maximum(s, s_star))
            s = jax.lax.fori_loop(0, jnp.max(n).astype(jnp.int32) if n.size else 0,
                                  lambda i, s: jnp.where(i < n, substep(i, s), s), s)
            s = jnp.where(taylor, bounded, s)
        else:
            s = jax.lax.fori_loop(0, substeps, substep, s) if substeps > 1 else substep(0, s)
        # the same bounds in G: converting s back must not step across the target by roundoff
        g_star = jnp.exp(log_target) if g_target is None else g_target
        return jnp.clip(self._g(s), jnp.maximum(jnp.minimum(g, g_star), g_floor), jnp.maximum(g, g_star))

    def _voltage_train(self, g, log_target, rate, amount, g_floor, *, depression: bool, quick: bool = False,
                       g_target=None):
        """The flow of :meth:`_relax` (``ds/dτ = rate·ln(s*/s)``) for ``amount`` [s] as one
        whole-train solution, for cells far from their target (voltage pulses: the target is
        ``G_eq·10^(±V_p/S)``, decades away).

        With ``s = s0·e^ξ`` and ``z0 = ln(s*/s0)`` the flow's time to reach ξ is exact,
        ``rate·amount/s0 = ∫_0^ξ e^t/(z0 − t) dt``; the integral is evaluated by 4-point
        Gauss–Legendre (smooth while ``|ξ| ≤ |z0|/2``: error below 1e-4 of the change at that
        limit, far less below it) and solved for ``σ = e^ξ − 1`` by one Halley step
        (:data:`_HALLEY_ITERATIONS`) from the explicit-midpoint estimate of
        ``dσ/dν = z0 − ln(1 + σ)`` (``ν = rate·τ/s0``), ``σ = ν·(z0 − ln(1 + ν·z0/2))``.  In
        σ the equation ``F(σ) = ξ·I(ξ) − ν = 0`` has ``F' = 1/(z0 − ξ)`` and
        ``F''/F' = 1/((z0 − ξ)(1 + σ))`` in closed form, so the Halley step costs what a
        Newton step does (one ``log1p``, the quadrature's two exponentials); from that start it
        is as accurate as, or more than, the two Newton steps from the one-step estimate it
        replaced (tests/test_ecram_speed.py: within 2e-6 of the exact σ for ``|ξ| ≤ 2``,
        ``|z0| ≥ 8``, the presets' range).  A depression (static ``depression``) that empties
        the channel to ``g_floor`` within the train is found by the same quadrature at the
        floor (and one that stops short of it starts no lower than the floor).  Where the
        third-order Taylor series in time is accurate to 1e-7 of the change
        (:func:`_taylor_ok`; 1e-4 with ``quick``: a single pulse's step for the noise law) it
        replaces the solve.

        Returns ``(g, far)``: the conductance and where the solution applies (``|ξ| ≤ |z0|/2``
        or the floor reached); elsewhere the caller takes :meth:`_relax`.
        """
        q = 1.0 - self.exponent
        log_g = jnp.log(g)
        z0 = q * (log_target - log_g)
        s0 = self._s(g)
        b = rate * amount / s0
        g_star = jnp.exp(log_target) if g_target is None else g_target
        sigma0 = b * z0
        floored = jnp.zeros(g.shape, bool)
        lower = None
        if depression and not quick:
            # a depression that reaches the undoped floor within the train: the time to the
            # floor.  Only cells whose one-step estimate (which overshoots) passes the floor
            # can reach it; when there are none the test is skipped.
            xi_floor = q * (jnp.log(g_floor) - log_g)
            floor_sigma = jnp.expm1(xi_floor)

            def floor_test():
                to_floor = _gl_mean(xi_floor, z0, 1.0 + floor_sigma)
                floor_far = (z0 < 0) & (jnp.abs(xi_floor) <= _FAR * jnp.abs(z0))
                # a depression that stops above the floor ends above it: a bound for the start
                return floor_far & (b >= xi_floor * to_floor), jnp.where(floor_far, floor_sigma, -jnp.inf)

            passes = sigma0 <= floor_sigma
            floored, lower = jax.lax.cond(jnp.any(passes), floor_test,
                                          lambda: (floored, jnp.full_like(sigma0, -jnp.inf)))

        def solve():
            # the explicit midpoint (RK2) estimate of dσ/dν = z0 − ln(1 + σ), then Halley
            sigma = b * (z0 - jnp.log1p(jnp.maximum(0.5 * sigma0, -0.999)))
            if lower is not None:
                sigma = jnp.maximum(sigma, lower)
            for _ in range(_HALLEY_ITERATIONS):
                clamped = jnp.maximum(sigma, -0.999)
                xi = jnp.log1p(clamped)
                integral = _gl_mean(xi, z0, 1.0 + clamped)
                # F(σ) = ξ·I(ξ) − b, F' = 1/(z0 − ξ), F''/F' = 1/((z0 − ξ)(1 + σ))
                step = (xi * integral - b) * (z0 - xi)
                sigma = sigma - step / (1.0 - 0.5 * step / ((z0 - xi) * (1.0 + clamped)))
            return sigma

        # short trains (single pulses) by the Taylor series in time
        taylor = _taylor_ok(b, z0, 1e-4 if quick else _TAYLOR_TOL)
        sigma_t = _taylor_change(b, z0)
        sigma = jax.lax.cond(jnp.all(taylor), lambda: sigma_t, lambda: jnp.where(taylor, sigma_t, solve()))
        sigma = jnp.maximum(sigma, -0.999)
        g_new = jnp.where(floored, g_floor, g * _pow(1.0 + sigma, 1.0 / q))   # G ∝ s^(1/q)
        g_new = jnp.clip(g_new, jnp.maximum(jnp.minimum(g, g_star), g_floor), jnp.maximum(g, g_star))
        if quick:
            # a single pulse's step: accepted wherever it lands (bounded as above)
            return g_new, jnp.ones(g.shape, bool)
        # |ln(1 + σ)| ≤ _FAR·|z0| as bounds on σ (an exponential instead of a logarithm)
        bound = jnp.exp(_FAR * jnp.abs(z0))
        far = jnp.isfinite(sigma) & (sigma <= bound - 1.0) & ((1.0 + sigma) * bound >= 1.0)
        return g_new, far | floored

    def _pulse_det(self, g, state, n, *, potentiate: bool, quick: bool = False):
        """Deterministic conductance after ``n ≥ 0`` pulses of one direction (no window).
        ``quick``: a single pulse's step for the noise law (voltage pulses: the Taylor series
        wherever it is accurate to 1e-4 of the step)."""
        g_new, ok = self._pulse_det_checked(g, state, n, potentiate=potentiate, quick=quick)
        if ok is None:
            return g_new
        # the step-by-step flow only where some cell comes near its target (never for the presets)
        reference = dataclasses.replace(self, integrator="reference")
        return jax.lax.cond(jnp.all(ok), lambda: g_new, lambda: jnp.where(
            ok, g_new, reference._pulse_det(g, state, n, potentiate=potentiate)))

    def _pulse_det_checked(self, g, state, n, *, potentiate: bool, quick: bool = False):
        """:meth:`_pulse_det` and where its whole-train solution applies: ``(g, ok)``, ``ok``
        None for current pulses and the reference integrator (always)."""
        scale = state.scale_up if potentiate else state.scale_down
        if self.pulse_mode == "current":
            q = (1.0 if potentiate else -1.0) * n * self.pulse_charge
            ds = (1.0 - self.exponent) * self.sensitivity * scale * q / self.g_ref
            return self._g(self._s(g) + ds), None
        sign = 1.0 if potentiate else -1.0
        log_target = jnp.log(state.g_eq) + sign * self.pulse_voltage * _LN10 / self.ocp_slope
        rate = self.sensitivity * scale * self.ocp_slope / (_LN10 * self.gate_resistance * self.g_ref)
        g_floor = jnp.minimum(jnp.minimum(self.g_undoped, state.g_min), g)
        amount = n * self.pulse_width
        if self.integrator == "reference":
            return self._relax(g, log_target, rate, amount, g_floor), None
        # exp(log_target) with one scalar exponential (inf or 0 where beyond the float range)
        g_target = state.g_eq * jnp.exp(jnp.asarray(sign * self.pulse_voltage * _LN10 / self.ocp_slope, g.dtype))
        return self._voltage_train(g, log_target, rate, amount, g_floor, depression=not potentiate, quick=quick,
                                   g_target=g_target)

    def _windowed(self, g_new, g_old, state):
        lo = jnp.minimum(state.g_min, g_old)
        hi = jnp.maximum(state.g_max, g_old)
        return jnp.clip(g_new, lo, hi)

    def _apply_counts(self, state: ECRAMState, up: Array, down: Array, *, key: PRNGKeyArray) -> ECRAMState:
        """Nominal gate pulses: ``up`` potentiation then ``down`` depression pulses per cell
        (fractional counts: a fraction of a pulse's charge).  Pulses never move a cell beyond
        its programming window (a cell already outside stays where it is unless pulled back
        in); stuck cells do not move.  Noise: the per-pulse errors of
        :class:`StepVariability` carried along the charge law
        (:func:`~synaptax.devices.core.variability.step_noise_variance`, first order: the
        law is not affine in ``G``), drawn once per call."""
        return _apply_jit(self, state, up, down, key)

    def _one_pulse(self, g, state, *, potentiate: bool):
        """Magnitude [S] of the deterministic change of one pulse at ``g`` (no window); the
        noise law's step size (voltage pulses: accurate to 1e-4 of it, see :meth:`_pulse_det`)."""
        g_new, _ = self._pulse_det_checked(g, state, jnp.ones_like(g), potentiate=potentiate, quick=True)
        return jnp.abs(g_new - g)

    def _train_noise(self, g_from, g_to, n, surplus, state, *, potentiate: bool):
        """Variance [S²] of ``n`` pulses' summed error from ``g_from`` to ``g_to``, and ρⁿ; a
        train with a whole pulse or more to spare past the window (``surplus`` [S] ≥ one
        pulse) ends on the window's edge, without error."""
        var = self.variability
        d0 = self._one_pulse(g_from, state, potentiate=potentiate)
        d1 = self._one_pulse(g_to, state, potentiate=potentiate)
        if self.integrator == "reference":
            rho, rho_n = geometric_contraction(d0, d1, n)
        else:
            # geometric_contraction's (ρ, ρⁿ) with ρ = exp(ln(ρⁿ)/n) (no general power)
            rho_n = jnp.where(d0 > 0, d1 / jnp.where(d0 > 0, d0, 1.0), 1.0)
            rho = jnp.where(n > 0, jnp.exp(jnp.log(jnp.maximum(rho_n, 1e-30)) / jnp.maximum(n, 1e-30)), 1.0)
        n = jnp.where(surplus >= jnp.maximum(d1, 1e-300), 0.0, n)
        span = state.g_max - state.g_min
        return step_noise_variance(var.c2c, var.c2c_range, d1, rho, n, span, rho_n), rho_n

    def _apply_impl(self, state, up, down, key):
        g0 = state.conductance
        noisy = self.variability.has_step_noise
        if self.integrator == "reference" or not _blockable((state, up, down), g0.shape):
            z = fast_random.normal(key, g0.shape, g0.dtype) if noisy else None
            return eqx.tree_at(lambda s: s.conductance, state, self._apply_cells(state, up, down, z))
        # block by block (the intermediates stay in the cache); each block draws its own
        # elements of the whole array's draw (the same numbers)
        index = jax.lax.iota(jnp.uint32, g0.size).reshape(g0.shape)

        def cells(st, up, down, index):
            z = _normal_at(key, index, g0.dtype) if noisy else None
            return self._apply_cells(st, up, down, z)

        g = _by_blocks(cells, state, up, down, index)
        return eqx.tree_at(lambda s: s.conductance, state, g)

    def _apply_cells(self, state, up, down, z):
        """The new conductance of :meth:`_apply_counts`, ``z`` the standard normal draw per
        cell (None without step noise)."""
        g0 = state.conductance
        raw_up, ok_up = self._pulse_det_checked(g0, state, up, potentiate=True)
        g_up = jnp.where(up > 0, self._windowed(raw_up, g0, state), g0)
        raw_down, ok_down = self._pulse_det_checked(g_up, state, down, potentiate=False)
        g_det = jnp.where(down > 0, self._windowed(raw_down, g_up, state), g_up)
        g = g_det
        if self.variability.has_step_noise:
            v_up, _ = self._train_noise(g0, g_up, up, jnp.abs(raw_up - g_up), state, potentiate=True)
            v_dn, rn_dn = self._train_noise(g_up, g_det, down, jnp.abs(raw_down - g_det), state, potentiate=False)
            std = jnp.sqrt(v_up * jnp.where(down > 0, rn_dn * rn_dn, 1.0) + v_dn)
            g = self._windowed(g_det + std * z, g0, state)
        g = hold_stuck(g, g0, state.stuck)
        if ok_up is not None:
            # voltage pulses: cells that come near their target (never for the presets) take
            # the whole update step by step
            ok = ok_up & ok_down
            reference = dataclasses.replace(self, integrator="reference")
            g = jax.lax.cond(jnp.all(ok), lambda: g, lambda: jnp.where(
                ok, g, reference._apply_cells(state, up, down, z)))
        return g

    def _evolve(self, state: ECRAMState, duration: Array) -> ECRAMState:
        """Rest for ``duration`` [s] (scalar or broadcastable to the array): OCP-driven
        relaxation toward ``G_eq·10^(V_rest/S)`` through the rest path (``rest_condition``),
        then loss of working ions (``ion_loss_time``), split over ``substeps`` (a fixed
        number of steps: bounded time for any finite duration).  Stuck cells do not move.
        Without ion loss the approach is monotonic and never crosses the target.
        """
        lossy = not (is_concrete(self.ion_loss_time) and math.isinf(self.ion_loss_time))
        if self._sealed and not lossy:
            return state
        return _evolve_jit(self, state, duration)

    @property
    def _sealed(self) -> bool:
        """True for a sealed electrolyte at open circuit: no return path, no drift."""
        return self.rest_condition == "open-circuit" and is_concrete(self.leak_ratio) and self.leak_ratio == 0

    def _evolve_impl(self, state, duration):
        g0 = state.conductance
        if self.integrator == "reference" or not _blockable(state, g0.shape):
            return eqx.tree_at(lambda s: s.conductance, state, self._evolve_cells(state, duration))
        # block by block, as the update
        if jnp.ndim(duration) == 0:
            g = _by_blocks(lambda st: self._evolve_cells(st, duration), state)
        else:
            g = _by_blocks(self._evolve_cells, state, jnp.broadcast_to(duration, g0.shape))
        return eqx.tree_at(lambda s: s.conductance, state, g)

    def _evolve_cells(self, state, duration):
        """The new conductance of :meth:`_evolve`."""
        g0 = state.conductance
        duration = jnp.broadcast_to(duration, g0.shape)
        rate = self.sensitivity * 0.5 * (state.scale_up + state.scale_down) * self.ocp_slope \
            * self.rest_path_conductance / (_LN10 * self.g_ref)
        g_target = state.g_eq * 10.0 ** (self.rest_target_offset / self.ocp_slope)
        log_target = jnp.log(state.g_eq) + self.rest_target_offset * _LN10 / self.ocp_slope
        lossy = not (is_concrete(self.ion_loss_time) and math.isinf(self.ion_loss_time))
        sealed = self._sealed

        g_floor = jnp.minimum(jnp.minimum(self.g_undoped, state.g_min), g0)

        fast = self.integrator == "fast"

        def run(g):
            if not lossy:
                return self._relax(g, log_target, rate, duration, g_floor, g_target=g_target, adaptive=fast)
            s_u = self._s(jnp.minimum(self.g_undoped, state.g_min))
            if sealed and fast:
                # ion loss alone: s − s_undoped decays exactly, in one step for any duration
                return self._g(s_u + (self._s(g) - s_u) * jnp.exp(-duration / self.ion_loss_time))
            h = duration / self.substeps
            decay = jnp.exp(-h / self.ion_loss_time)

            def substep(_, g):
                if not sealed:
                    g = self._relax(g, log_target, rate, h, g_floor, substeps=1, g_target=g_target)
                s = self._s(g)
                return self._g(s_u + (s - s_u) * decay)

            return jax.lax.fori_loop(0, self.substeps, substep, g)

        if fast:
            return jnp.where((state.stuck == 0) & (duration != 0), run(g0), g0)
        g = jax.lax.cond(jnp.all(duration == 0), lambda g: g, run, g0)
        return jnp.where(state.stuck == 0, g, g0)

    def gate_voltage(self, state: ECRAMState) -> "GateVoltage":
        """Gate voltage [V] during a potentiation (``up``) and a depression (``down``) pulse
        per cell: ``V_OCP(G) ± I_p·R_gate`` (current mode) or ``±V_p`` (voltage mode)."""
        v_ocp = self.open_circuit_potential(state.conductance, state.g_eq)
        if self.pulse_mode == "current":
            drop = self.pulse_current * self.gate_resistance
            return GateVoltage(v_ocp + drop, v_ocp - drop)
        v = jnp.full_like(v_ocp, self.pulse_voltage)
        return GateVoltage(v, -v)

    def gate_current(self, state: ECRAMState) -> "GateCurrent":
        """Gate (ionic) current [A] during a potentiation and a depression pulse per cell:
        ``±I_p`` (current mode) or ``(±V_p − V_OCP)/R_gate`` (voltage mode)."""
        v_ocp = self.open_circuit_potential(state.conductance, state.g_eq)
        if self.pulse_mode == "current":
            i = jnp.full_like(v_ocp, self.pulse_current)
            return GateCurrent(i, -i)
        return GateCurrent((self.pulse_voltage - v_ocp) / self.gate_resistance,
                           (-self.pulse_voltage - v_ocp) / self.gate_resistance)

    def pulse_energy(self, state: ECRAMState) -> PulseEnergy:
        """Energy [J] of one potentiation and one depression pulse per cell:
        ``|I|·t_p·|V_G| + E_dyn`` (:meth:`gate_current`, :meth:`gate_voltage`), ≥ 0."""
        v, i = self.gate_voltage(state), self.gate_current(state)
        e = lambda vv, ii: jnp.abs(ii) * self.pulse_width * jnp.abs(vv) + self.dynamic_energy  # noqa: E731
        return PulseEnergy(e(v.up, i.up), e(v.down, i.down))


#: Cells per block of the fast integrator's update and ``evolve`` on large arrays: every
#: per-cell operation runs block by block (``jax.lax.map``), so that the intermediate arrays
#: stay in the CPU's cache (per cell the same values as on the whole array).
BLOCK_CELLS = 16384


def _blockable(cells, shape) -> bool:
    """True when every leaf of the pytree ``cells`` has ``shape`` and there is more than one
    block of cells."""
    size = math.prod(shape)
    return size > BLOCK_CELLS and all(tuple(jnp.shape(a)) == tuple(shape) for a in jax.tree_util.tree_leaves(cells))


def _by_blocks(fn, *cells):
    """``fn(*cells)`` over blocks of :data:`BLOCK_CELLS` cells (:func:`~synaptax.devices.core.blocks.by_blocks`)."""
    return by_blocks(fn, *cells, block=BLOCK_CELLS)


def _normal_at(key, index, dtype):
    """Elements ``index`` (flat numbers, uint32) of ``fast_random.normal(key, shape, dtype)``."""
    u = ((fast_random.random_bits_at(key, index) >> 9).astype(dtype) + 0.5) * (1.0 / 8388608.0)
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)


@eqx.filter_jit
def _apply_jit(device: ECRAMDevice, state: ECRAMState, up: Array, down: Array, key: PRNGKeyArray) -> ECRAMState:
    # jitted so that eager calls reuse one compiled kernel per device and shape
    return device._apply_impl(state, up, down, key)


@eqx.filter_jit
def _evolve_jit(device: ECRAMDevice, state: ECRAMState, duration: Array) -> ECRAMState:
    return device._evolve_impl(state, duration)


def normalized_pulse_energy(device: ECRAMDevice, conductance: ArrayLike) -> Array:
    """The paper's figure of merit ``E/(A_ex·|ΔG|)`` [J m⁻² S⁻¹] of a nominal cell at
    ``conductance`` [S] (any shape; result of the same shape): the mean energy of one
    potentiation and one depression pulse over ``A_ex`` times the mean magnitude of their
    conductance changes (no window, noise or variation).  Divide by
    :data:`AJ_PER_UM2_PER_NS` (= 1e3) to read it in aJ µm⁻² nS⁻¹.
    """
    g = jnp.asarray(conductance, jnp.result_type(float))
    nominal = dataclasses.replace(device, variability=StepVariability(), ocp_offset_std=0.0, asymmetry=0.0)
    state = nominal.init(g.shape, key=jax.random.key(0), conductance=g)
    # a window wide enough never to clip the one-pulse change
    state = eqx.tree_at(lambda s: (s.g_min, s.g_max), state, (g * 1e-3, g * 1e3))
    up = nominal._pulse_det(g, state, jnp.ones_like(g), potentiate=True) - g
    down = g - nominal._pulse_det(g, state, jnp.ones_like(g), potentiate=False)
    e = nominal.pulse_energy(state)
    return 0.5 * (e.up + e.down) / (device.geometry.exchange_area * 0.5 * (up + down))


#: ``1 aJ µm⁻² nS⁻¹`` in J m⁻² S⁻¹.
AJ_PER_UM2_PER_NS = 1e-18 / (1e-12 * 1e-9)

__all__ = ["AJ_PER_UM2_PER_NS", "ECRAMDevice", "ECRAMGeometry", "ECRAMState", "GateCurrent", "GateVoltage",
           "normalized_pulse_energy"]
