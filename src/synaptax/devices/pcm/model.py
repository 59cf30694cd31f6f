"""Phase-change memory (PCM) cells: programming noise, conductance drift and 1/f read noise
after aihwkit's ``PCMLikeNoiseModel``, and a gradual pulsed update so that the cells train.

The inference statistics are those of IBM's analog hardware-acceleration kit (aihwkit,
``aihwkit/inference/noise/pcm.py``, class ``PCMLikeNoiseModel``) [pub], fitted there to
measurements of doped-Ge₂Sb₂Te₅ mushroom cells: Nandakumar et al., *Phase-change memory
models for deep learning training and inference*, ICECS 2019, and Joshi et al., *Accurate
deep neural network inference using computational phase-change memory*, Nat. Commun. 11,
2473 (2020).  Their constants are in µS there, normalised by ``g_max`` = 25 µS; here every
conductance at the public boundary is in S.  With ``x = g/g_max`` (``g_max`` the model's
nominal maximum):

* programming noise (:class:`PCMProgrammingNoise`), the error of programming a target
  ``g_T``: Gaussian, ``σ_prog(g_T) = c₀ + c₁·x_T + c₂·x_T²`` (scaled by ``g_max/g_ref``);
* drift (:class:`PCMDrift`): ``g(t) = g_prog·(t/t₀)^(−ν)`` for ``t ≥ t₀``, ``ν`` drawn per
  cell when it is programmed, ``ν = |μ_ν(x_T) + σ_ν(x_T)·ξ|`` with
  ``μ_ν = clip(−0.0155·ln x_T + 0.0244, 0.049, 0.1)``,
  ``σ_ν = clip(−0.0125·ln x_T − 0.0059, 0.008, 0.045)``;
* 1/f read noise (:class:`PCMReadNoise`): relative standard deviation
  ``Q_s·√(ln((t + t_read)/(2·t_read)))`` of the drifted conductance, with
  ``Q_s = min(0.0088/x_prog^0.65, 0.2)``, ``t_read`` = 250 ns.

``t`` is the time since the cell was programmed (the state's ``age``).  aihwkit counts its
``t_inference`` from the first read, ``t₀`` = 20 s after programming, and evaluates both
laws at ``t = t_inference + t₀``: aihwkit's ``t_inference`` is this model's age minus ``t₀``
(:meth:`PCMDevice.age_at_inference`).  In the first ``t₀`` seconds the conductance is
``g_prog`` (no drift: ``g_prog`` is what the first read sees, programming noise included);
the 1/f noise formula holds from programming on and is zero until ``t = t_read``
(where its logarithm turns positive).

Simplifications [assumed], stated once here and in the README:

* The pulsed update is a soft-bounds law on ``x = (G − g_min)/(g_max − g_min)``:
  SET (potentiation) ``ΔG = 2·step_up·(g_max − G)/span``, RESET (depression)
  ``ΔG = −2·step_down·(G − g_min)/span`` (aihwkit's ``SoftBoundsDevice`` convention, the
  exact geometric closed form for ``n`` pulses).  aihwkit's ``PCMPresetDevice`` is an
  exponential-step device used one-directionally (SET only, a pair with occasional
  refresh); a real RESET is abrupt (melt-quench).  Here both directions are gradual so that
  a differential pair of PCM cells trains like every other family's; the mid-range SET
  step is aihwkit's preset's (:mod:`.presets`).
* Every pulse re-programs its cell: the drift clock restarts (``age = 0``),
  ``g_prog`` becomes the new conductance and ``ν`` is drawn anew from it.
* The 1/f noise is drawn per read (the contract's read), independently per cell; aihwkit
  draws it once per ``drift_analog_weights(t)`` and keeps it for every read at that time
  (one :meth:`~synaptax.devices.core.contract.AbstractDevice.read` used as the weights is
  the equivalent).  The drift exponent is drawn from the programmed conductance
  (aihwkit: from the target, before programming noise; the same where the caller programs
  noise-free targets, a second-order difference otherwise).
* Drift may carry a cell below its ``g_min`` (the RESET state drifts too); the window
  bounds pulses and programming, and a pulse starts from the drifted conductance clipped
  to the window.
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int8, PRNGKeyArray

from ..._checks import check_less, check_nonnegative, check_positive
from ... import _random as fast_random
from ..core.contract import WORKING, AbstractDevice, AbstractDeviceState, PulseEnergy, hold_stuck
from ..core.variability import CellSample, StepVariability, check_step_device, step_noise_variance

#: Smallest normalised target conductance the drift-exponent law takes the log of
#: (aihwkit's ``_ZERO_CLIP``) [pub].
ZERO_CLIP = 1e-7


def _safe_sqrt(v: Array) -> Array:
    """``√v`` for ``v ≥ 0`` with a zero (not infinite) derivative at 0."""
    pos = v > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, 1.0)), 0.0)


class PCMProgrammingNoise(eqx.Module):
    """Programming error of a PCM cell: Gaussian with a standard deviation polynomial in the
    normalised target (aihwkit ``PCMLikeNoiseModel.prog_coeff``; Nandakumar et al., ICECS
    2019).

    ``σ_prog(g_T) = scale·max(c0 + c1·x + c2·x², 0)·g_max/g_ref`` with ``x = g_T/g_max``,
    ``g_T`` clipped to ``[0, g_max]``.

    Attributes:
        c0: constant coefficient [S] [pub: aihwkit prog_coeff[0] = 0.26348 µS].
        c1: linear coefficient [S] [pub: aihwkit prog_coeff[1] = 1.9650 µS].
        c2: quadratic coefficient [S] [pub: aihwkit prog_coeff[2] = −1.1731 µS].
        g_ref: the maximum conductance the coefficients were fitted for [S] [pub: aihwkit
            prog_coeff_g_max_reference = 25 µS].
        scale: multiplier of the standard deviation (aihwkit ``prog_noise_scale``; 0 turns
            programming noise off) [pub: 1].
    """

    c0: float = 0.26348e-6
    c1: float = 1.9650e-6
    c2: float = -1.1731e-6
    g_ref: float = 25e-6
    scale: float = 1.0

    def __check_init__(self):
        check_positive("programming.g_ref", self.g_ref)
        check_nonnegative("programming.scale", self.scale)

    def std(self, target: Array, g_max) -> Array:
        """Standard deviation [S] of programming ``target`` [S] (any shape) on cells of
        nominal maximum ``g_max`` [S]."""
        x = jnp.clip(target, 0.0, g_max) / g_max
        poly = self.c0 + (self.c1 + self.c2 * x) * x
        return self.scale * jnp.maximum(poly, 0.0) * (g_max / self.g_ref)


class PCMDrift(eqx.Module):
    """Conductance drift ``g(t) = g_prog·(max(t, t0)/t0)^(−ν)`` with a drift exponent ``ν``
    per cell that depends on its programmed conductance (aihwkit
    ``PCMLikeNoiseModel.generate_drift_coefficients``; Joshi et al., Nat. Commun. 11, 2473
    (2020)).

    ``ν = scale·|μ + σ·ξ|`` (``ξ`` standard normal, a folded normal), with ``x`` the
    normalised programmed conductance (at least ``ZERO_CLIP``)::

        μ = clip(mean_slope·ln x + mean_offset, mean_min, mean_max)
        σ = clip(std_slope·ln x + std_offset, std_min, std_max)

    Attributes:
        t0: time after programming of the first read, from which the conductance drifts [s]
            [pub: aihwkit t_0 = 20 s].
        scale: multiplier of ``ν`` (aihwkit ``drift_scale``; 0 turns drift off) [pub: 1].
        mean_slope: slope of ``μ`` in ``ln x`` [pub: aihwkit −0.0155].
        mean_offset: ``μ`` at ``x = 1`` before clipping [pub: aihwkit 0.0244].
        mean_min: lower clip of ``μ`` [pub: aihwkit 0.049].
        mean_max: upper clip of ``μ`` [pub: aihwkit 0.1].
        std_slope: slope of ``σ`` in ``ln x`` [pub: aihwkit −0.0125].
        std_offset: ``σ`` at ``x = 1`` before clipping [pub: aihwkit −0.0059].
        std_min: lower clip of ``σ`` [pub: aihwkit 0.008].
        std_max: upper clip of ``σ`` [pub: aihwkit 0.045].
    """

    t0: float = 20.0
    scale: float = 1.0
    mean_slope: float = -0.0155
    mean_offset: float = 0.0244
    mean_min: float = 0.049
    mean_max: float = 0.1
    std_slope: float = -0.0125
    std_offset: float = -0.0059
    std_min: float = 0.008
    std_max: float = 0.045

    def __check_init__(self):
        check_positive("drift.t0", self.t0)
        check_nonnegative("drift.scale", self.scale)
        check_nonnegative("drift.mean_min", self.mean_min)
        check_less("drift.mean_min", self.mean_min, "drift.mean_max", self.mean_max)
        check_nonnegative("drift.std_min", self.std_min)
        check_less("drift.std_min", self.std_min, "drift.std_max", self.std_max)

    def exponent_mean_std(self, x: Array) -> tuple[Array, Array]:
        """``(μ, σ)`` of the unfolded normal of ``ν`` (before ``scale``) at normalised
        programmed conductance ``x`` (any shape)."""
        log_x = jnp.log(jnp.maximum(jnp.abs(x), ZERO_CLIP))
        mu = jnp.clip(self.mean_slope * log_x + self.mean_offset, self.mean_min, self.mean_max)
        sigma = jnp.clip(self.std_slope * log_x + self.std_offset, self.std_min, self.std_max)
        return mu, sigma

    def sample_exponent(self, key: PRNGKeyArray, x: Array) -> Array:
        """Drift exponents ``ν`` (≥ 0, dimensionless) of cells programmed to normalised
        conductance ``x`` (one draw per element)."""
        mu, sigma = self.exponent_mean_std(x)
        z = fast_random.normal(key, x.shape, x.dtype)
        return self.scale * jnp.abs(mu + sigma * z)

    def factor(self, age: Array, exponent: Array) -> Array:
        """``(max(age, t0)/t0)^(−ν)``: the drifted fraction of the programmed conductance
        (exactly 1 up to ``t0``)."""
        ratio = jnp.maximum(age, self.t0) / self.t0
        return jnp.exp(-exponent * jnp.log(ratio))


class PCMReadNoise(eqx.Module):
    """1/f read noise accumulated since programming (aihwkit
    ``PCMLikeNoiseModel.apply_drift_noise_to_conductance``; Nandakumar et al., ICECS 2019).

    Relative standard deviation of one read at age ``t``::

        scale·Q_s·√(max(ln((t + t_read)/(2·t_read)), 0)),
        Q_s = min(q0/max(x^exponent, 1e-3), q_max)

    with ``x = g_prog/g_max`` (the programmed conductance, normalised); zero until
    ``t = t_read``.

    Attributes:
        q0: amplitude of ``Q_s`` at ``x = 1`` (dimensionless) [pub: aihwkit 0.0088].
        exponent: power of ``x`` in ``Q_s`` [pub: aihwkit 0.65].
        q_max: upper clip of ``Q_s`` [pub: aihwkit 0.2].
        t_read: time constant of the 1/f fit [s] [pub: aihwkit t_read = 250 ns].
        scale: multiplier of the 1/f noise (aihwkit ``read_noise_scale``; 0 turns it off)
            [pub: 1].
    """

    q0: float = 0.0088
    exponent: float = 0.65
    q_max: float = 0.2
    t_read: float = 250e-9
    scale: float = 1.0

    def __check_init__(self):
        check_nonnegative("read_1f.q0", self.q0)
        check_nonnegative("read_1f.exponent", self.exponent)
        check_nonnegative("read_1f.q_max", self.q_max)
        check_positive("read_1f.t_read", self.t_read)
        check_nonnegative("read_1f.scale", self.scale)

    def q_s(self, x: Array) -> Array:
        """``Q_s`` at normalised programmed conductance ``x`` (any shape)."""
        power = jnp.maximum(jnp.maximum(jnp.abs(x), 1e-12) ** self.exponent, 1e-3)
        return jnp.minimum(self.q0 / power, self.q_max)

    def variance(self, x: Array, age: Array) -> Array:
        """Squared relative standard deviation of one read at normalised programmed
        conductance ``x`` and age ``age`` [s] (broadcast)."""
        log_term = jnp.log((age + self.t_read) / (2.0 * self.t_read))
        return (self.scale * self.q_s(x)) ** 2 * jnp.maximum(log_term, 0.0)

    def relative_std(self, x: Array, age: Array) -> Array:
        """Relative standard deviation of one read (see the class docstring)."""
        return _safe_sqrt(self.variance(x, age))


class PCMState(AbstractDeviceState):
    """State of an array of PCM cells; every field has the array's shape ``S``.

    Attributes:
        conductance: present (drifted) conductance [S]:
            ``g_programmed·(max(age, t0)/t0)^(−drift_exponent)``, or the pulsed value.
        g_programmed: conductance the cell was last programmed to [S] (by ``init`` or by
            its last pulse), from which it drifts.
        drift_exponent: the cell's drift exponent ``ν`` (dimensionless, ≥ 0), drawn when it
            was programmed.
        age: time since the cell was last programmed [s] (its drift clock; 0 after a pulse).
        step_up: this cell's SET step at mid-range [S] (device-to-device sample).
        step_down: this cell's RESET step magnitude at mid-range [S].
        g_min: this cell's lower bound [S].
        g_max: this cell's upper bound [S].
        stuck: int8 fault code: 0 working, 1 stuck at ``g_min``, 2 stuck at ``g_max``.
    """

    conductance: Float[Array, "..."]
    g_programmed: Float[Array, "..."]
    drift_exponent: Float[Array, "..."]
    age: Float[Array, "..."]
    step_up: Float[Array, "..."]
    step_down: Float[Array, "..."]
    g_min: Float[Array, "..."]
    g_max: Float[Array, "..."]
    stuck: Int8[Array, "..."]


class PCMDevice(AbstractDevice):
    """PCM cell after aihwkit's ``PCMLikeNoiseModel`` (module docstring: the laws, the
    constants' sources and what is simplified).

    Attributes:
        g_min: nominal RESET (lowest) conductance [S] [assumed: 0.1 µS].
        g_max: nominal SET (highest) conductance, the normalisation of every law [S]
            [pub: aihwkit g_max = 25 µS].
        step: SET step at mid-range [S] (soft bounds: ``2·step·(g_max − G)/span`` per
            pulse), > 0.
        asymmetry: mean up/down asymmetry ``β``: ``step_up = step·(1 + β)``,
            ``step_down = step·(1 − β)``; ``|β| < 1``.
        variability: :class:`~synaptax.devices.core.variability.StepVariability`: bounds,
            stuck cells and an extra relative (white) read noise added to the 1/f noise in
            quadrature; device-to-device step spreads and per-pulse noise of the update.
        programming: :class:`PCMProgrammingNoise` (:meth:`programming_noise_std`).
        drift: :class:`PCMDrift`.
        read_1f: :class:`PCMReadNoise`.
        set_energy: energy of one SET (potentiation) pulse [J].
        reset_energy: energy of one RESET (depression) pulse [J].
        pulse_width: programming-pulse width [s].
    """

    g_min: float = 0.1e-6
    g_max: float = 25e-6
    step: float = 0.4e-6
    asymmetry: float = 0.0
    variability: StepVariability = StepVariability()
    programming: PCMProgrammingNoise = PCMProgrammingNoise()
    drift: PCMDrift = PCMDrift()
    read_1f: PCMReadNoise = PCMReadNoise()
    set_energy: float = 5e-12
    reset_energy: float = 20e-12
    pulse_width: float = 50e-9

    def __check_init__(self):
        check_step_device(self)
        check_nonnegative("set_energy", self.set_energy)
        check_nonnegative("reset_energy", self.reset_energy)
        check_positive("pulse_width", self.pulse_width)
        for name, cls in (("programming", PCMProgrammingNoise), ("drift", PCMDrift), ("read_1f", PCMReadNoise)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")

    # ----------------------------------------------------------------- contract
    @property
    def conductance_range(self) -> tuple[float, float]:
        """``(g_min, g_max)`` [S]."""
        return (self.g_min, self.g_max)

    @property
    def nominal_step(self) -> float:
        """``step`` [S]: the SET step at mid-range."""
        return self.step

    def programming_noise_std(self, conductance) -> Array:
        """Standard deviation [S] of programming the target ``conductance`` [S] (any shape):
        aihwkit's polynomial (:class:`PCMProgrammingNoise`), the target clipped to
        ``[0, g_max]``.  The contract's :meth:`init` programs a target exactly; a deployment
        draws ``g_target + N(0, σ)`` first."""
        g = jnp.asarray(conductance)
        g = g.astype(jnp.result_type(g.dtype, float))
        return self.programming.std(g, self.g_max)

    def age_at_inference(self, t_inference):
        """The age [s] (time since programming) at which aihwkit's ``t_inference`` [s]
        evaluates its drift and 1/f laws: ``t_inference + t0`` (aihwkit counts
        ``t_inference`` from the first read, ``t0`` after programming).  Evolving a freshly
        programmed state by this duration compares with aihwkit at ``t_inference``."""
        return jnp.asarray(t_inference) + self.drift.t0

    def _init(self, cells: CellSample, *, key: PRNGKeyArray, conductance) -> PCMState:
        """Cells programmed to ``conductance`` [S] (clipped to their bounds; ``g_min``, the
        RESET state, by default), exactly (programming noise is the caller's: see
        :meth:`programming_noise_std`), at age 0, with a drift exponent drawn per cell from
        its programmed conductance and per-cell steps (:meth:`StepVariability.sample_steps`)."""
        dtype = cells.g_min.dtype
        shape = cells.g_min.shape
        k_steps, k_drift = jax.random.split(key)
        scale_up, scale_down = self.variability.sample_steps(k_steps, shape, self.asymmetry, dtype)
        g = cells.place(cells.g_min if conductance is None else conductance)
        nu = self.drift.sample_exponent(k_drift, g / self.g_max)
        return PCMState(conductance=g, g_programmed=g, drift_exponent=nu, age=jnp.zeros(shape, dtype),
                        step_up=self.step * scale_up, step_down=self.step * scale_down,
                        g_min=cells.g_min, g_max=cells.g_max, stuck=cells.stuck)

    def _apply_counts(self, state: PCMState, up: Array, down: Array, *, key: PRNGKeyArray) -> PCMState:
        """``up`` SET then ``down`` RESET pulses: the soft-bounds closed form from the
        present (drifted) conductance clipped to the cell's window, plus Gaussian noise with
        the variance of both trains' per-pulse errors carried along the law
        (:func:`~synaptax.devices.core.variability.step_noise_variance`: exact for this
        affine law), clipped to the window.  A cell that got a pulse is re-programmed: its
        ``g_programmed`` becomes the new conductance, its age 0 and its drift exponent a new
        draw.  Cells without pulses and stuck cells do not change."""
        k_noise, k_drift = jax.random.split(key)
        g0 = state.conductance
        lo, hi = state.g_min, state.g_max
        span = hi - lo
        x0 = jnp.clip((g0 - lo) / span, 0.0, 1.0)
        a_up = jnp.clip(2.0 * state.step_up / span, 0.0, 0.999)
        a_dn = jnp.clip(2.0 * state.step_down / span, 0.0, 0.999)
        rho_up_n = jnp.exp(up * jnp.log1p(-a_up))     # (1 − a)^n, exact for fractional n
        rho_dn_n = jnp.exp(down * jnp.log1p(-a_dn))
        x_up = 1.0 - (1.0 - x0) * rho_up_n
        x_det = x_up * rho_dn_n
        g = lo + x_det * span
        var = self.variability
        if var.has_step_noise:
            # the step one more pulse would make at each train's end point, the contraction
            # 1 − a per pulse; the SET train's error is carried through the RESET train
            v_up = step_noise_variance(var.c2c, var.c2c_range, a_up * (1.0 - x_up) * span, 1.0 - a_up, up, span,
                                       rho_up_n)
            v_dn = step_noise_variance(var.c2c, var.c2c_range, a_dn * x_det * span, 1.0 - a_dn, down, span,
                                       rho_dn_n)
            std = _safe_sqrt(v_up * rho_dn_n * rho_dn_n + v_dn)
            g = g + std * fast_random.box_muller_normal(k_noise, g0.shape, g0.dtype)
        g = jnp.clip(g, lo, hi)
        programmed = (up + down > 0) & (state.stuck == WORKING)
        new_g = jnp.where(programmed, g, g0)
        nu = self.drift.sample_exponent(k_drift, new_g / self.g_max)
        return eqx.tree_at(
            lambda s: (s.conductance, s.g_programmed, s.drift_exponent, s.age), state,
            (new_g, jnp.where(programmed, new_g, state.g_programmed), jnp.where(programmed, nu, state.drift_exponent),
             jnp.where(programmed, jnp.zeros_like(state.age), state.age)))

    def _evolve(self, state: PCMState, duration: Array) -> PCMState:
        """Advance every cell's age by ``duration`` [s] and drift from its programmed
        conductance: ``g = g_programmed·(max(age, t0)/t0)^(−ν)`` (exactly composable:
        ``evolve(a)`` then ``evolve(b)`` is ``evolve(a + b)``).  Stuck cells do not move."""
        age = jnp.broadcast_to(state.age + duration, state.age.shape).astype(state.age.dtype)
        g = state.g_programmed * self.drift.factor(age, state.drift_exponent)
        g = hold_stuck(g, state.conductance, state.stuck).astype(state.conductance.dtype)
        return eqx.tree_at(lambda s: (s.conductance, s.age), state, (g, age))

    def _relative_read_noise(self, state: PCMState) -> Array:
        """The 1/f noise at each cell's age (:class:`PCMReadNoise`) and the white
        ``variability.read_noise``, added in quadrature (independent Gaussians)."""
        var = self.read_1f.variance(state.g_programmed / self.g_max, state.age)
        return _safe_sqrt(self.variability.read_noise**2 + var)

    def pulse_energy(self, state: PCMState) -> PulseEnergy:
        """``set_energy`` per SET and ``reset_energy`` per RESET pulse [J], every cell
        (shape ``S``): PCM programming energy does not depend on the state to first order."""
        shape, dtype = state.conductance.shape, state.conductance.dtype
        return PulseEnergy(jnp.full(shape, self.set_energy, dtype), jnp.full(shape, self.reset_energy, dtype))


__all__ = ["PCMDevice", "PCMDrift", "PCMProgrammingNoise", "PCMReadNoise", "PCMState", "ZERO_CLIP"]
