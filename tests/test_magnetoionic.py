"""Tests of the nitrogen magneto-ionic synapses (CoN, CoFeN): synaptax.devices.magnetoionic.

Expectations are computed independently of the code under test where possible: the exact
step averages against numerical quadrature, the integrator against scipy's Radau solution
of device-physics.md's equations written out here, the energy against its formula.  The
validation targets A1–A7 and B1–B5 are each a test.
"""
import dataclasses
import math
import pydoc
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synaptax.arrays import Crossbar
from synaptax.devices import PRESETS, get_preset
from synaptax.devices.core.contract import stack_models
from synaptax.devices.magnetoionic.model import (
    DEFAULT_MAX_STEPS,
    GateEnergy,
    MagnetoIonicSynapse,
    MagnetoIonicVariability,
    NitrideFilm,
    PulseTrain,
    _edl_means,
    _gamma_mean,
)
from synaptax.devices.magnetoionic.presets import (
    COFEN_TABLE,
    CON_FIT,
    con_film,
    exchange_efficiency,
)
from synaptax.devices.magnetoionic.protocols import dc, rest, run_protocol, square
from synaptax.devices.core.readout import AbstractTransducer, LinearTransducer
from synaptax.devices.core.variability import Variability
from synaptax.validation import TARGETS, run_target
from synaptax.validation import magnetoionic_targets as mt

MI_PRESETS = sorted(n for n in PRESETS if n.startswith(("con-", "cofen-")))
_apply = eqx.filter_jit(lambda d, s, n, k: d.apply_pulses(s, n, key=k))


# --------------------------------------------------------------------------- exact step averages
@pytest.mark.parametrize("u0,s", [(0.0, 1.0), (0.3, 1.0), (1.0, 0.0), (0.6, 0.0), (0.2, 0.0), (0.9, 1.0), (0.5, 0.3),
                                  (0.0, 0.4), (0.5, 0.5)])
@pytest.mark.parametrize("h", [1e-4, 0.01, 0.05, 0.3, 5.0])
def test_step_averages_match_quadrature(u0, s, h):
    tau, beta, ur = 0.05, 0.57, 0.4
    t = np.linspace(0.0, h, 400001)
    u = s + (u0 - s) * np.exp(-t / tau)
    g = u**beta
    gam = np.maximum(1 - u / ur, 0.0) ** 2
    u1, mu, mg, decay = _edl_means(jnp.asarray(u0), jnp.asarray(s), jnp.asarray(h), tau, beta)
    mgam = _gamma_mean(jnp.asarray(u0), jnp.asarray(s), jnp.asarray(h), tau, ur)
    np.testing.assert_allclose(float(u1), u[-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(float(decay), np.exp(-h / tau), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(float(mu), np.trapezoid(u, t) / h, rtol=1e-6, atol=1e-9)
    # u^β by Gauss–Legendre (exact for a discharge to 0): 1e-4 against a fine trapezoid
    np.testing.assert_allclose(float(mg), np.trapezoid(g, t) / h, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(float(mgam), np.trapezoid(gam, t) / h, rtol=1e-5, atol=1e-9)


# --------------------------------------------------------------------------- integrator vs scipy
def _rhs(film: NitrideFilm, k_e, k_inj):
    """device-physics.md §A written out (x integrated separately, as in the document)."""
    beta, ur = film.field_exponent, film.recovery_threshold
    xmax, amax = float(film.capacity), film.a_max
    tau = float(film.time_constant)  # τE(t) = τE·((t_ref + d)/(t + d))^δ
    r = film.discharge_ratio  # discharging time constant r·τE

    def edl(v, s):
        return (s - v) / (tau if s > v else r * tau)

    def g(v):
        return max(v, 0.0) ** beta

    def rhs(t, y, s_neg, s_pos):
        u, w, x, a, c, e = y
        je = k_e * g(u) * max(1 - x / xmax, 0) * max(1 - a / amax, 0)
        theta = min(1.0, max(c, 0) / film.c_sat) ** film.saturation_exponent
        gam = max(1 - u / ur, 0) ** 2 * math.exp(-a / film.a_block)
        kap = k_inj * g(w) / (x + film.injection_softness)
        r1, r2 = film.k_rec * c * x * gam, film.k_rec2 * e * x * gam
        jd = film.k_accum * a * (1 - theta) * (1 - u)
        return [edl(u, s_neg), edl(w, s_pos),
                (1 - theta) * je + jd - r1 - r2 - kap * (c + e), theta * je - jd - kap * a,
                (1 - theta) * je + jd - film.k_red * c - r1 - kap * c, film.k_red * c - r2 - kap * e]

    return rhs


def _scipy_protocol(film, k_e, k_inj, phases, y0=None):
    from scipy.integrate import solve_ivp

    rhs = _rhs(film, k_e, k_inj)
    y = np.zeros(6) if y0 is None else np.asarray(y0, float)
    out = []
    for drive, duration in phases:
        sol = solve_ivp(rhs, (0.0, duration), y, method="Radau", rtol=1e-9, atol=1e-12,
                        args=(max(drive, 0.0), max(-drive, 0.0)))
        y = sol.y[:, -1]
        out.append(y[2])
    return np.asarray(out)


@pytest.mark.parametrize("thickness_nm", [25.0, 200.0])
def test_integrator_matches_radau_solution(thickness_nm):
    """DC, a 1 Hz train, a 100 Hz train, rests and a positive-gate depression: the
    exponential-Euler integrator with exact double-layer averages agrees with a stiff
    solver of the document's equations to 1 % of the magnetisation reached."""
    film = con_film(thickness_nm * 1e-9)
    dev = MagnetoIonicSynapse(film=film)
    k_e = float(film.extraction_rate(25.0))
    k_inj = film.injection_ratio * k_e
    phases = [(1.0, 60.0), (0.0, 30.0)]
    phases += [(1.0, 0.5), (0.0, 0.5)] * 10
    phases += [(1.0, 0.005), (0.0, 0.005)] * 100
    phases += [(0.0, 20.0), (-1.0, 5.0), (0.0, 100.0)]
    ref = _scipy_protocol(film, k_e, k_inj, phases)
    state = dev.init((1,), key=jax.random.key(0))
    advance = eqx.filter_jit(lambda d, s, drive, duration: d.advance(s, drive, duration))
    got = []
    for drive, duration in phases:
        state = advance(dev, state, jnp.asarray(drive, float), jnp.asarray(duration, float))
        got.append(float(state.ferromagnetic_fraction[0]))
    got = np.asarray(got)
    np.testing.assert_allclose(got, ref, atol=0.01 * ref.max())


def test_coarse_steps_converge_to_fine_steps():
    """The default 0.25 s step and a 2 ms step give the same protocol within 0.5 %."""
    film = con_film(25e-9)
    coarse = MagnetoIonicSynapse(film=film)
    fine = MagnetoIonicSynapse(film=film, max_step=0.002)
    segs = [dc(120.0), square(20.0, 0.1), rest(200.0)]
    st0 = coarse.init((1,), key=jax.random.key(0))
    a = run_protocol(coarse, st0, segs).saturation[:, 0]
    b = run_protocol(fine, st0, segs).saturation[:, 0]
    np.testing.assert_allclose(a, b, atol=0.005 * b.max())


@pytest.mark.parametrize("integrator", ["fast", "reference"])
@pytest.mark.parametrize("name,bound", [("con-25nm", 0.8), ("cofen-high-m", 0.15)])
def test_array_preset_steps_stay_close_to_fine_steps(name, bound, integrator):
    """The training presets integrate an update as whole pulse trains (``integrator="fast"``)
    or with 1 s steps (first step τE/2, ``"reference"``): an update of up to 10 pulses either
    way, from five conductances and a state that is not pristine, stays within ``bound``
    nominal steps of a 10 ms-step solution (magnetoionic/README.md)."""
    coarse = eqx.tree_at(lambda d: d.variability, get_preset(name), MagnetoIonicVariability())
    coarse = dataclasses.replace(coarse, integrator=integrator)
    fine = dataclasses.replace(eqx.tree_at(lambda d: (d.max_step, d.first_step), coarse, (0.01, 0.125)),
                               integrator="reference")
    lo, hi = coarse.conductance_range
    counts = jnp.array([1.0, 2.0, 3.0, 10.0, -1.0, -2.0, -3.0, -10.0])
    g0 = jnp.repeat(jnp.linspace(lo + 0.1 * (hi - lo), lo + 0.9 * (hi - lo), 5), len(counts))
    n = jnp.tile(counts, 5)
    out = []
    for d in (coarse, fine):
        st = _apply(d, d.init(g0.shape, key=jax.random.key(0), conductance=g0), jnp.where(n > 0, 2.0, -2.0),
                    jax.random.key(3))
        out.append(np.asarray(d.conductance(_apply(d, st, n, jax.random.key(1)))) - np.asarray(d.conductance(st)))
    assert np.max(np.abs(out[0] - out[1])) / coarse.nominal_step <= bound


# --------------------------------------------------------------------------- physical state
def _fractions(state):
    return [state.edl, state.edl_reverse, state.surface, state.interface, state.electrolyte, state.conditioned,
            state.ferromagnetic_fraction]


@jax.jit
def _jitted_apply(device, state, pulses, key):
    return device.apply_pulses(state, pulses, key=key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(thickness=st.floats(5.0, 200.0), width=st.floats(1e-3, 2.0), duty=st.floats(0.05, 1.0),
       amplitude=st.floats(-60.0, -1.0), dep=st.floats(1.0, 60.0), rest_s=st.floats(0.0, 100.0),
       up=st.lists(st.integers(0, 30), min_size=3, max_size=3), down=st.lists(st.integers(0, 30), min_size=3,
                                                                             max_size=3),
       remanent=st.booleans(), rounds=st.integers(1, 3))
def test_state_stays_physical_for_any_pulse_train(thickness, width, duty, amplitude, dep, rest_s, up, down,
                                                  remanent, rounds):
    film = con_film(thickness * 1e-9)
    train = PulseTrain(amplitude=amplitude, width=width * duty, period=width, rest=rest_s,
                       depression_amplitude=dep)
    device = MagnetoIonicSynapse(film=film, train=train, field="remanent" if remanent else "saturating",
                                 exchange_efficiency=0.5, conditioned_fraction=0.05,
                                 variability=MagnetoIonicVariability(d2d_rate=0.3, d2d_asymmetry=0.2, d2d_capacity=0.2,
                                                                     c2c_rate=0.3, d2d_bounds=0.2))
    state = device.init((3,), key=jax.random.key(1))
    key = jax.random.key(2)
    for r in range(rounds):
        state = _jitted_apply(device, state, jnp.asarray(up, float) - jnp.asarray(down, float),
                              jax.random.fold_in(key, r))
        for f in _fractions(state):
            f = np.asarray(f)
            assert np.all(np.isfinite(f)) and np.all(f >= 0) and np.all(f <= 1)
        assert np.all(np.asarray(state.surface) <= film.a_max + 1e-12)
        assert np.all(np.asarray(state.conditioned) <= np.asarray(state.ferromagnetic_fraction) + 1e-12)
        m = np.asarray(device.magnetisation(state))
        assert np.all(np.isfinite(m)) and np.all(m >= 0)


def test_evolve_keeps_state_physical_and_long_rests_relax():
    dev = MagnetoIonicSynapse(film=con_film(200e-9))
    state = dev.advance(dev.init((2,), key=jax.random.key(0)), 1.0, 300.0)
    later = dev.evolve(state, 1e5)
    for f in _fractions(later):
        assert np.all((np.asarray(f) >= 0) & (np.asarray(f) <= 1))
    assert np.all(np.asarray(later.interface) < np.asarray(state.interface))
    assert np.all(np.asarray(dev.magnetisation(later)) < np.asarray(dev.magnetisation(state)))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,name", [
    (dict(thickness=-25e-9), "thickness"), (dict(thickness=0.0), "thickness"), (dict(tau_edl=0.0), "tau_edl"),
    (dict(c_sat=-1.0), "c_sat"), (dict(recovery_threshold=1.5), "recovery_threshold"), (dict(a_max=0.0), "a_max"),
    (dict(k_rec=-1.0), "k_rec"), (dict(capacity_ref=0.99, thickness=200e-9), "capacity"),
])
def test_bad_film_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(con_film(), **kwargs)


@pytest.mark.parametrize("call,name", [
    (lambda: PulseTrain.square_wave(0.0), "frequency"),
    (lambda: PulseTrain.square_wave(-10.0), "frequency"),
    (lambda: PulseTrain.square_wave(10.0, duty_cycle=1.5), "duty_cycle"),
    (lambda: PulseTrain.square_wave(10.0, duty_cycle=0.0), "duty_cycle"),
    (lambda: PulseTrain(width=0.2, period=0.1), "duty_cycle"),
    (lambda: PulseTrain(amplitude=25.0), "amplitude"),
    (lambda: PulseTrain(width=-1.0), "width"),
    (lambda: PulseTrain(rest=-1.0), "rest"),
    (lambda: PulseTrain(depression_amplitude=-5.0), "depression_amplitude"),
    (lambda: PulseTrain(depression="negative"), "depression"),
    (lambda: square(10.0, -1.0), "frequency"),
    (lambda: square(10.0, 1.0, duty_cycle=2.0), "duty_cycle"),
    (lambda: dc(-5.0), "duration"),
    (lambda: con_film(-1e-9), "thickness"),
    (lambda: MagnetoIonicSynapse(field="sideways"), "field"),
    (lambda: MagnetoIonicSynapse(exchange_efficiency=1.2), "exchange_efficiency"),
    (lambda: LinearTransducer(g_off=2e-6, g_on=1e-6), "g_off"),
    (lambda: GateEnergy(cell_area=0.0), "cell_area"),
    (lambda: MagnetoIonicVariability(c2c_rate=-0.1), "c2c_rate"),
    (lambda: MagnetoIonicVariability(d2d_capacity=-0.1), "d2d_capacity"),
    (lambda: MagnetoIonicSynapse(max_steps=0), "max_steps"),
    (lambda: exchange_efficiency(-1.0, 180.0), "conditioning_time"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_protocol_off_grid_square_wave_is_rejected():
    dev = MagnetoIonicSynapse(film=con_film())
    with pytest.raises(ValueError, match="whole number of periods"):
        run_protocol(dev, dev.init((1,), key=jax.random.key(0)), [square(10.0, 1.5)], sample_interval=1.0)


# --------------------------------------------------------------------------- physics checks
def test_rate_law_reproduces_thickness_ratio_and_scales_with_voltage():
    film = con_film()
    r5 = float(dataclasses.replace(film, thickness=5e-9).extraction_rate(25.0))
    r200 = float(dataclasses.replace(film, thickness=200e-9).extraction_rate(25.0))
    assert r5 / r200 == pytest.approx(7.4, rel=1e-9)
    assert r200 * 1400.0 == pytest.approx(0.8, rel=1e-9)
    beta = film.field_exponent
    assert float(film.extraction_rate(50.0)) / float(film.extraction_rate(25.0)) == pytest.approx(2**beta)


def test_higher_voltage_potentiates_faster():
    dev = MagnetoIonicSynapse(film=con_film(), train=PulseTrain(amplitude=-25.0, width=1.0, period=1.0))
    st0 = dev.init((1,), key=jax.random.key(0))

    @jax.jit
    def after_train(v):  # the amplitude traced: one compilation for every voltage
        d = eqx.tree_at(lambda d: d.train.amplitude, dev, v)
        return d.magnetisation(d.apply_pulses(st0, 20.0, key=jax.random.key(1)))[0]

    out = [float(after_train(jnp.asarray(v))) for v in (-10.0, -25.0, -40.0)]
    assert out[0] < out[1] < out[2]


def test_positive_gate_depresses_and_rest_mode_acts_on_every_cell_alike():
    film = con_film()
    dev = MagnetoIonicSynapse(film=film)
    st0 = dev.advance(dev.init((2,), key=jax.random.key(0)), 1.0, 60.0)
    st0 = dev.evolve(st0, 600.0)
    down = dev.apply_pulses(st0, jnp.array([0.0, -20.0]), key=jax.random.key(1))
    m0, m1 = np.asarray(dev.magnetisation(st0)), np.asarray(dev.magnetisation(down))
    assert m1[1] < m1[0] - 1.0
    rest_dev = MagnetoIonicSynapse(film=film, train=PulseTrain(depression="rest"))
    down = rest_dev.apply_pulses(st0, jnp.array([-20.0, -20.0]), key=jax.random.key(1))
    m2 = np.asarray(rest_dev.magnetisation(down))
    np.testing.assert_allclose(m2[0], m2[1], rtol=1e-12)
    assert np.all(m2 <= m0 + 1e-9)
    assert np.all(np.asarray(rest_dev.pulse_energy(st0).down) == 0)


def test_cells_with_fewer_pulses_rest_while_others_are_pulsed():
    """An array takes max(n) periods; a cell with 0 pulses rests through each of them
    (the same integration as seven rests of one period), and a cell with 7 pulses is
    pulsed as seven on/off periods."""
    dev = MagnetoIonicSynapse(film=con_film(), train=PulseTrain.square_wave(2.0, 0.5))
    st0 = dev.advance(dev.init((2,), key=jax.random.key(0)), 1.0, 30.0)
    out = dev.apply_pulses(st0, jnp.array([0.0, 7.0]), key=jax.random.key(1))
    ref = st0
    for _ in range(7):
        ref = dev.evolve(ref, 0.5)
    np.testing.assert_allclose(float(dev.magnetisation(out)[0]), float(dev.magnetisation(ref)[0]), rtol=1e-9)
    on = st0
    for _ in range(7):
        on = dev.evolve(dev.advance(on, 1.0, 0.25), 0.25)
    np.testing.assert_allclose(float(dev.magnetisation(out)[1]), float(dev.magnetisation(on)[1]), rtol=1e-9)
    # and a rest as long as the whole train is within the integrator's accuracy of it
    one_rest = dev.evolve(st0, 3.5)
    np.testing.assert_allclose(float(dev.magnetisation(out)[0]), float(dev.magnetisation(one_rest)[0]), rtol=0.01)


def test_remanent_readout_follows_layer_model():
    """M_R = M_sat·(q·x_c + η·(x − x_c)); growth at zero field adds η per unit, recovery
    first removes the zero-field layer (η per unit), then the conditioned one (q)."""
    film = con_film(50e-9)
    sat = MagnetoIonicSynapse(film=film)
    rem = MagnetoIonicSynapse(film=film, field="remanent", remanence_ratio=0.8, exchange_efficiency=0.4)
    st0 = sat.remove_field(sat.advance(sat.init((1,), key=jax.random.key(0)), 1.0, 120.0))
    x0 = float(st0.ferromagnetic_fraction[0])
    assert float(rem.magnetisation(st0)[0]) == pytest.approx(0.8 * film.saturation_magnetisation * x0)
    up = rem.advance(st0, 1.0, 60.0)
    dx = float(up.ferromagnetic_fraction[0]) - x0
    assert dx > 0
    assert float(rem.magnetisation(up)[0]) == pytest.approx(film.saturation_magnetisation * (0.8 * x0 + 0.4 * dx))
    down = rem.advance(up, -1.0, 200.0)
    x2 = float(down.ferromagnetic_fraction[0])
    assert x2 < x0
    assert float(down.conditioned[0]) == pytest.approx(x2)
    assert float(rem.magnetisation(down)[0]) == pytest.approx(0.8 * film.saturation_magnetisation * x2)


def test_exchange_efficiency_interpolates_the_table():
    for name, row in COFEN_TABLE.items():
        for relax, eta in row["eta"].items():
            assert exchange_efficiency(row["conditioning_s"], relax) == pytest.approx(eta)
    mid = exchange_efficiency(960.0, math.sqrt(180.0 * 3600.0))
    assert mid == pytest.approx(0.5 * (0.755 + 0.482))
    assert exchange_efficiency(10.0, 1.0) == pytest.approx(0.407)  # clamped


def test_energy_per_pulse_formula():
    dev = MagnetoIonicSynapse(energy=GateEnergy(cell_area=2e-14, leakage_current_density=0.4, edl_capacitance=0.1),
                              train=PulseTrain(amplitude=-20.0, width=0.3, period=0.5, depression_amplitude=10.0))
    e = dev.pulse_energy(dev.init((2, 2), key=jax.random.key(0)))
    np.testing.assert_allclose(np.asarray(e.up), 20 * 0.4 * 2e-14 * 0.3 + 0.1 * 2e-14 * 400, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(e.down), 10 * 0.4 * 2e-14 * 0.3 + 0.1 * 2e-14 * 100, rtol=1e-12)


def test_transducer_is_replaceable():
    class Quadratic(AbstractTransducer):
        g_max: float = 2e-6
        m_ref: float = 100.0

        def conductance(self, m):
            return self.g_max * (jnp.maximum(m, 0) / self.m_ref) ** 2

        def magnetisation(self, g):
            return self.m_ref * jnp.sqrt(jnp.clip(g, 0, self.g_max) / self.g_max)

        @property
        def conductance_range(self):
            return (0.0, self.g_max)

        @property
        def slope(self):
            return self.g_max / self.m_ref

    dev = MagnetoIonicSynapse(film=con_film(), transducer=Quadratic())
    st0 = dev.init((3,), key=jax.random.key(0), conductance=jnp.array([0.5e-6, 1e-6, 1.5e-6]))
    np.testing.assert_allclose(np.asarray(dev.conductance(st0)), [0.5e-6, 1e-6, 1.5e-6], rtol=1e-9)
    assert dev.conductance_range == (0.0, 2e-6)


# --------------------------------------------------------------------------- presets, transformations
@pytest.mark.parametrize("name", MI_PRESETS)
def test_every_magnetoionic_preset_steps(name):
    device = get_preset(name)
    g_lo, g_hi = device.conductance_range
    assert 0 <= g_lo < g_hi
    nominal = eqx.tree_at(lambda d: d.variability, device, MagnetoIonicVariability())
    step = nominal.nominal_step
    assert isinstance(step, float) and isinstance(device.nominal_step, float)
    assert 0 < step < 0.2 * (g_hi - g_lo)
    # nominal cells: one pulse at mid-range is the nominal step; trains move G up and down
    s_nom = nominal.init((4, 3), key=jax.random.key(0), conductance=0.5 * (g_lo + g_hi))
    g0 = np.asarray(nominal.conductance(s_nom))
    np.testing.assert_allclose(g0, 0.5 * (g_lo + g_hi), rtol=1e-6)
    one = _apply(nominal, s_nom, jnp.ones((4, 3)), jax.random.key(4))
    # the step is a difference of two conductances: equal within their rounding (float32 too)
    ulp = float(np.spacing(g0.dtype.type(g_hi)))
    np.testing.assert_allclose(np.asarray(nominal.conductance(one)) - g0, step, rtol=1e-6, atol=4 * ulp)
    up = _apply(nominal, s_nom, jnp.full((4, 3), 10.0), jax.random.key(1))
    down = _apply(nominal, up, jnp.full((4, 3), -7.0), jax.random.key(2))
    assert np.all(np.asarray(nominal.conductance(up)) > g0 + 5 * step)
    assert np.all(np.asarray(nominal.conductance(down)) < np.asarray(nominal.conductance(up)) - 3 * step)
    # the preset as shipped (device-to-device and cycle-to-cycle spreads, read noise)
    state = device.init((4, 3), key=jax.random.key(0), conductance=0.5 * (g_lo + g_hi))
    np.testing.assert_allclose(np.asarray(device.conductance(state)), 0.5 * (g_lo + g_hi), rtol=0.02)
    noisy = _apply(device, state, jnp.array([[10.0, -10.0, 0.0]] * 4), jax.random.key(1))
    g1 = np.asarray(device.conductance(noisy))
    assert not np.allclose(g1[:, 0], g1[0, 0], rtol=1e-6, atol=0.0)  # spreads act
    later = device.evolve(noisy, 1.0)
    g = np.asarray(device.conductance(later))
    assert np.all(np.isfinite(g)) and np.all(g >= g_lo)
    r = np.asarray(device.read(later, key=jax.random.key(3)))
    assert r.shape == (4, 3) and np.all(np.isfinite(r)) and np.all(r >= 0) and not np.array_equal(r, g)
    for e in device.pulse_energy(later):
        assert np.asarray(e).shape == (4, 3) and np.all(np.asarray(e) >= 0)


@pytest.mark.parametrize("name", ["con-25nm", "cofen-high-m"])
def test_jit_equals_eager_and_vmap_equals_loop(name):
    device = get_preset(name)
    g_lo, g_hi = device.conductance_range
    state = device.init((2, 3), key=jax.random.key(0), conductance=0.5 * (g_lo + g_hi))
    n = jnp.array([[3.0, -2.0, 0.0], [5.0, 1.0, -4.0]])
    key = jax.random.key(5)
    eager = device.apply_pulses(state, n, key=key)
    jitted = jax.jit(lambda s, n, k: device.apply_pulses(s, n, key=k))(state, n, key)
    np.testing.assert_allclose(np.asarray(device.conductance(jitted)), np.asarray(device.conductance(eager)),
                               rtol=1e-12)
    keys = jax.random.split(jax.random.key(6), 3)
    batched = jax.vmap(lambda k: device.conductance(device.apply_pulses(state, n, key=k)))(keys)
    looped = jnp.stack([device.conductance(device.apply_pulses(state, n, key=k)) for k in keys])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-12)
    assert not np.array_equal(np.asarray(batched[0]), np.asarray(batched[1]))
    # vmap over a batch of states (several arrays) equals a loop over them
    states = jax.vmap(lambda k: device.init((2, 3), key=k))(keys)
    vm = jax.vmap(lambda s: device.conductance(device.apply_pulses(s, n, key=key)))(states)
    lp = jnp.stack([device.conductance(device.apply_pulses(jax.tree_util.tree_map(lambda a: a[i], states), n,
                                                           key=key)) for i in range(3)])
    np.testing.assert_allclose(np.asarray(vm), np.asarray(lp), rtol=1e-12)


def test_crossbar_of_magnetoionic_cells_updates_and_evolves():
    device = get_preset("con-25nm")
    xbar = Crossbar(device, 6, 4)
    state = xbar.init(key=jax.random.key(0), weights=0.2 * jnp.ones((4, 6)))
    np.testing.assert_allclose(np.asarray(xbar.weights(state)), 0.2, rtol=0.05)
    x = jnp.ones((2, 6))
    d = jnp.ones((2, 4))
    new, pulses = xbar.update_coincidence(state, x, d, learning_rate=0.05, key=jax.random.key(1))
    assert float(jnp.sum(pulses.up)) > 0
    assert float(jnp.mean(xbar.weights(new))) > float(jnp.mean(xbar.weights(state)))
    assert float(xbar.write_energy(state, pulses)) > 0
    later = xbar.evolve(new, 10.0)
    assert np.all(np.isfinite(np.asarray(xbar.weights(later))))


def test_burst_is_that_many_gate_pulses_per_update_pulse():
    base = MagnetoIonicSynapse(film=con_film(), train=PulseTrain.square_wave(10.0, 0.5))
    burst = base.with_pulse_protocol(burst=4)
    assert burst.train.burst == 4 and burst.train.period == base.train.period
    st0 = base.init((3,), key=jax.random.key(0))
    a = _apply(base, st0, jnp.array([4.0, 8.0, -4.0]), jax.random.key(1))
    b = _apply(burst, st0, jnp.array([1.0, 2.0, -1.0]), jax.random.key(1))
    np.testing.assert_allclose(np.asarray(burst.magnetisation(b)), np.asarray(base.magnetisation(a)), rtol=1e-12)
    e_base, e_burst = base.pulse_energy(st0), burst.pulse_energy(st0)
    np.testing.assert_allclose(np.asarray(e_burst.up), 4 * np.asarray(e_base.up), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(e_burst.down), 4 * np.asarray(e_base.down), rtol=1e-12)


def test_with_pulse_protocol_sets_the_train_and_checks_it():
    dev = get_preset("con-25nm").with_pulse_protocol(gate_voltage=-10.0, pulse_frequency=100.0, duty_cycle=0.25)
    t = dev.train
    assert (t.amplitude, t.depression_amplitude) == (-10.0, 10.0)
    assert t.period == pytest.approx(0.01) and t.width == pytest.approx(0.0025) and t.duty_cycle == pytest.approx(0.25)
    for kw, name in [(dict(gate_voltage=5.0), "gate_voltage"), (dict(pulse_frequency=0.0), "pulse_frequency"),
                     (dict(duty_cycle=1.5), "duty_cycle"), (dict(burst=0), "burst")]:
        with pytest.raises(ValueError, match=name):
            get_preset("con-25nm").with_pulse_protocol(**kw)


def test_pulse_protocol_in_the_training_configuration():
    from synaptax.training.loop import TrainConfig, TrainingError, build

    alg = build(TrainConfig(device="con-25nm", algorithm="mixed-precision", hidden=(4,), pulse_frequency=100.0,
                            duty_cycle=0.5, burst=3, gate_voltage=-20.0), total_steps=1)
    t = alg.model.crossbars[0].device.train
    assert (t.period, t.width, t.burst, t.amplitude) == (pytest.approx(0.01), pytest.approx(0.005), 3, -20.0)
    for kw, name in [(dict(device="reram-sb", burst=2), "magneto-ionic"), (dict(duty_cycle=0.0), "duty_cycle"),
                     (dict(pulse_frequency=-1.0), "pulse_frequency"), (dict(gate_voltage=1.0), "gate_voltage"),
                     (dict(burst=0), "burst")]:
        with pytest.raises(TrainingError, match=name):
            TrainConfig(**{"device": "con-25nm", **kw}).validate()


def test_tabulated_conditioned_layer_is_what_the_model_integrates():
    """COFEN_CONDITIONED (x_c of the CoFeN presets) is the paper's conditioning protocol run
    through the model itself: recompute one state."""
    from synaptax.devices.magnetoionic.presets import COFEN_CONDITIONED, simulate_conditioned_fraction

    assert simulate_conditioned_fraction("high", 180.0) == pytest.approx(COFEN_CONDITIONED["high"][180.0], rel=2e-3)


def test_training_a_crossbar_of_con_cells_end_to_end(tmp_path):
    """`synaptax train --device con-25nm` in miniature: the pulse protocol and the rest
    reach the devices, the report carries the train and a positive write energy."""
    from synaptax.training.loop import TrainConfig, train

    cfg = TrainConfig(device="con-25nm", algorithm="mixed-precision", learning_rate=0.1, hidden=(8,), epochs=1,
                      train_samples=64, test_samples=64, batch_size=16, rest_time=5.0, pulse_frequency=2.0,
                      duty_cycle=0.5)
    rep = train(cfg, tmp_path / "run", log=lambda s: None)
    assert rep["pulse_train"]["period_s"] == pytest.approx(0.5) and rep["pulse_train"]["width_s"] == pytest.approx(0.25)
    assert rep["write_energy_per_update_J"] > 0 and rep["pulses_per_update"] > 0
    assert 0.0 <= rep["test_accuracy"] <= 1.0 and rep["config"]["rest_time"] == 5.0


# --------------------------------------------------------------------------- the device contract
def _other(device):
    """The same model with another read noise and extraction rate (a two-model sweep)."""
    return eqx.tree_at(lambda d: (d.variability.read_noise, d.film.rate_ref), device,
                       (float(device.variability.read_noise) + 0.04, 2.0 * float(device.film.rate_ref)))


def test_variability_must_be_the_familys():
    with pytest.raises(TypeError, match="MagnetoIonicVariability"):
        MagnetoIonicSynapse(variability=Variability())


def test_evolve_for_a_billion_seconds_is_bounded_and_stays_in_bounds():
    device = get_preset("con-25nm")
    state = device.init((2, 3), key=jax.random.key(0), conductance=0.5e-6)
    state = _apply(device, state, jnp.array([[5.0, -3.0, 0.0], [10.0, 1.0, -10.0]]), jax.random.key(1))
    jax.block_until_ready(device.evolve(state, 1.0))  # compiled once for every duration
    start = time.perf_counter()
    later = jax.block_until_ready(device.evolve(state, 1e9))
    assert time.perf_counter() - start < 10.0
    for f in _fractions(later):
        f = np.asarray(f)
        assert np.all(np.isfinite(f)) and np.all(f >= 0) and np.all(f <= 1)
    g = np.asarray(device.conductance(later))
    assert np.all(g >= np.asarray(later.g_min)) and np.all(g <= np.asarray(later.g_max))
    # 1e9 s at 0 V: the film has relaxed
    assert np.all(np.asarray(device.magnetisation(later)) < np.asarray(device.magnetisation(state)))
    # the same under jit with a per-cell traced duration, and for a constant gate
    jitted = eqx.filter_jit(lambda d, s, t: d.evolve(s, t))(device, state, jnp.full((2, 3), 1e9))
    np.testing.assert_allclose(np.asarray(jitted.conductance), g, rtol=1e-6)
    gated = device.advance(state, 1.0, 1e9)
    assert np.all(np.isfinite(np.asarray(gated.conductance)))
    assert np.all(np.asarray(gated.ferromagnetic_fraction) <= 1.0)


def test_the_step_budget_changes_no_step_of_ordinary_durations():
    """Durations within the budget take exactly the steps of the unbounded schedule; a
    tiny budget still finishes any duration, in bounds."""
    dev = MagnetoIonicSynapse(film=con_film(25e-9))
    unbounded = dataclasses.replace(dev, max_steps=2**30)
    st0 = dev.advance(dev.init((2,), key=jax.random.key(0)), 1.0, 120.0)
    for duration in (0.3, 10.0, 1000.0):
        a, b = dev.evolve(st0, duration), unbounded.evolve(st0, duration)
        for u, v in zip(_fractions(a), _fractions(b)):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert dev.max_steps == DEFAULT_MAX_STEPS and DEFAULT_MAX_STEPS * dev.max_step > 4000.0
    tiny = dataclasses.replace(dev, max_steps=4)
    out = tiny.evolve(st0, 1e6)
    ref = dev.evolve(st0, 1e6)
    for f in _fractions(out):
        assert np.all((np.asarray(f) >= 0) & (np.asarray(f) <= 1))
    # both relaxed: the long-time state is reached whatever the steps
    np.testing.assert_allclose(np.asarray(tiny.magnetisation(out)), np.asarray(dev.magnetisation(ref)), atol=1.0)


def test_huge_pulse_counts_are_bounded():
    """A train of far more periods than the budget is integrated in groups of periods and
    returns in bounded time; counts within the budget are pulsed period by period."""
    dev = MagnetoIonicSynapse(film=con_film(), train=PulseTrain.square_wave(10.0, 0.5), max_steps=64)
    st0 = dev.init((3,), key=jax.random.key(0))
    start = time.perf_counter()
    out = dev.pulses(st0, jnp.array([0.0, 1e4, 1e9]))
    jax.block_until_ready(out)
    assert time.perf_counter() - start < 60.0
    for f in _fractions(out):
        f = np.asarray(f)
        assert np.all(np.isfinite(f)) and np.all(f >= 0) and np.all(f <= 1)
    # the cell given no pulse only rested; the others were pulsed (and then rested in the
    # array's long last period)
    np.testing.assert_array_equal(np.asarray(out.ferromagnetic_fraction[0]), 0.0)
    assert np.all(np.asarray(out.interface[1:] + out.electrolyte[1:] + out.surface[1:]) > 0)
    up = dev.apply_pulses(st0, jnp.array([1e12, 0.0, -1e12]), key=jax.random.key(1))
    assert np.all(np.isfinite(np.asarray(up.conductance)))
    # within the budget the grouping is the identity (g = 1)
    small = dev.pulses(st0, jnp.array([0.0, 3.0, 7.0]))
    wide = dataclasses.replace(dev, max_steps=DEFAULT_MAX_STEPS).pulses(st0, jnp.array([0.0, 3.0, 7.0]))
    np.testing.assert_allclose(np.asarray(small.ferromagnetic_fraction), np.asarray(wide.ferromagnetic_fraction),
                               rtol=1e-6)


def test_infinite_duration_is_refused_and_safe_under_trace():
    device = get_preset("cofen-high-m")
    state = device.init((3,), key=jax.random.key(0))
    for bad in (float("inf"), -1.0, float("nan")):
        with pytest.raises(ValueError, match="duration"):
            device.evolve(state, bad)
        with pytest.raises(ValueError, match="duration"):
            device.advance(state, 1.0, bad)
    # traced: no endless loop; the cells given a non-finite duration become NaN, the others evolve
    out = jax.jit(lambda s, t: device.evolve(s, t))(state, jnp.array([jnp.inf, 5.0, jnp.nan]))
    x = np.asarray(out.ferromagnetic_fraction)
    assert np.isnan(x[0]) and np.isnan(x[2]) and np.isfinite(x[1])
    np.testing.assert_allclose(x[1], np.asarray(device.evolve(state, 5.0).ferromagnetic_fraction)[1], rtol=1e-6)


@pytest.mark.parametrize("name", ["con-25nm", "cofen-low-m"])
def test_nominal_step_is_traceable_with_no_cache(name):
    from synaptax.devices.magnetoionic import model

    assert not hasattr(model, "_NOMINAL_STEP_CACHE")
    d1 = get_preset(name)
    d2 = _other(d1)
    eager = [d1.nominal_step, d2.nominal_step]
    assert all(isinstance(v, float) and v > 0 for v in eager)
    assert eager[1] > eager[0]  # a faster film steps further
    np.testing.assert_allclose(float(jax.jit(lambda d: d.nominal_step)(d1)), eager[0], rtol=1e-6)
    np.testing.assert_allclose(float(eqx.filter_jit(lambda d: jnp.asarray(d.nominal_step))(d2)), eager[1], rtol=1e-6)
    stacked = stack_models([d1, d2])
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda d: d.nominal_step)(stacked)), eager, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(lambda d: d.nominal_step))(stacked)), eager, rtol=1e-6)


@pytest.mark.parametrize("name", ["con-25nm", "cofen-high-m"])
def test_every_public_method_under_jit_and_vmap_over_stacked_models(name):
    """The contract's methods and the family's own, under ``jax.vmap`` over a stack of two
    models, equal each model run alone (``jax.jit`` traces every parameter, as vmap does:
    one compilation serves both models).  ``nominal_step`` has its own test."""
    d1 = get_preset(name)
    d2 = _other(d1)
    n = jnp.array([[3.0, -2.0, 0.0], [1.5, 1.0, -4.0]])

    def run(d, key):
        k_init, k_apply, k_read = jax.random.split(key, 3)
        lo, hi = d.conductance_range
        s = d.init((2, 3), key=k_init, conductance=0.5 * (lo + hi))
        s = d.apply_pulses(s, n, key=k_apply)
        s = d.evolve(s, 2.5)
        s = d.advance(s, 1.0, 0.5)
        s = d.pulses(s, jnp.ones((2, 3)), direction=-1)
        energy = d.pulse_energy(s)
        return (d.conductance(s), d.read(s, key=k_read), d.read_noise_std(s), energy.up, energy.down,
                d.magnetisation(s), d.saturation_magnetisation(s), jnp.asarray(hi))

    key = jax.random.key(7)
    batched = jax.jit(jax.vmap(run, in_axes=(0, None)))(stack_models([d1, d2]), key)
    single = jax.jit(run)
    for i, d in enumerate((d1, d2)):
        for a, b in zip(batched, single(d, key)):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-9, atol=1e-30)
    assert not np.allclose(np.asarray(batched[0][0]), np.asarray(batched[0][1]), rtol=1e-6, atol=0.0)  # they differ
    # vmap over states of one model (and over read keys)
    keys = jax.random.split(key, 3)
    states = jax.vmap(lambda k: d1.init((2, 3), key=k))(keys)
    evolved = jax.vmap(lambda s: d1.evolve(s, 3.0))(states)
    one = d1.evolve(jax.tree_util.tree_map(lambda a: a[2], states), 3.0)
    np.testing.assert_allclose(np.asarray(evolved.conductance[2]), np.asarray(one.conductance), rtol=1e-9)
    reads = jax.vmap(lambda k: d1.read(one, key=k))(keys)
    np.testing.assert_allclose(np.asarray(reads[1]), np.asarray(d1.read(one, key=keys[1])), rtol=1e-12)


def test_d2d_bounds_spreads_the_read_elements_window():
    """``d2d_bounds`` spreads each cell's read-element window around the transducer's; the
    nominal conductance maps linearly onto it (the film is untouched); stuck elements read
    their bound."""
    film = con_film()
    transducer = LinearTransducer(g_off=0.1e-6, g_on=1.0e-6, m_ref=float(film.saturation_magnetisation * film.capacity))
    base = MagnetoIonicSynapse(film=film, transducer=transducer)
    spread = eqx.tree_at(lambda d: d.variability, base, MagnetoIonicVariability(d2d_bounds=0.2))
    key, k_pulse = jax.random.key(0), jax.random.key(1)
    st_n, st_s = base.init((256,), key=key), spread.init((256,), key=key)
    np.testing.assert_allclose(np.asarray(st_n.g_min), 0.1e-6, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(st_n.g_max), 1.0e-6, rtol=1e-6)
    lo, hi = np.asarray(st_s.g_min), np.asarray(st_s.g_max)
    half = 0.45e-6
    assert 0.1 < np.std(hi - 0.55e-6) / half < 0.3 and 0.1 < np.std(0.55e-6 - lo) / half < 0.3
    assert abs(np.mean(hi) - 1.0e-6) < 0.05 * half and np.all(hi > lo)
    np.testing.assert_allclose(np.asarray(spread.conductance(st_s)), lo, rtol=1e-6)  # as grown: M = 0 → g_min
    a = _apply(base, st_n, jnp.full((256,), 20.0), k_pulse)
    b = _apply(spread, st_s, jnp.full((256,), 20.0), k_pulse)
    np.testing.assert_array_equal(np.asarray(base.magnetisation(a)), np.asarray(spread.magnetisation(b)))
    fraction = (np.asarray(base.conductance(a)) - 0.1e-6) / 0.9e-6
    np.testing.assert_allclose(np.asarray(spread.conductance(b)), np.clip(lo + fraction * (hi - lo), lo, hi),
                               rtol=1e-5)
    # programming a conductance: each cell's window, clipped to it
    target = 0.5 * (lo + hi)
    np.testing.assert_allclose(np.asarray(spread.init((256,), key=key, conductance=target).conductance), target,
                               rtol=1e-5)
    clipped = spread.init((256,), key=key, conductance=2e-6)
    np.testing.assert_allclose(np.asarray(clipped.conductance), hi, rtol=1e-6)
    # stuck read elements read their bound while the film moves
    faulty = eqx.tree_at(lambda d: d.variability, base,
                         MagnetoIonicVariability(d2d_bounds=0.2, stuck_min=0.3, stuck_max=0.3))
    st_f = faulty.init((256,), key=key, conductance=target)
    moved = _apply(faulty, st_f, jnp.full((256,), 20.0), k_pulse)
    codes = np.asarray(st_f.stuck)
    assert np.any(codes == 1) and np.any(codes == 2)
    g_f = np.asarray(moved.conductance)
    np.testing.assert_array_equal(g_f[codes == 1], np.asarray(st_f.g_min)[codes == 1])
    np.testing.assert_array_equal(g_f[codes == 2], np.asarray(st_f.g_max)[codes == 2])
    assert np.all(np.asarray(moved.ferromagnetic_fraction) > np.asarray(st_f.ferromagnetic_fraction))


def test_remove_field_refreshes_the_readers_conductance():
    film = con_film(50e-9)
    sat = MagnetoIonicSynapse(film=film)
    rem = MagnetoIonicSynapse(film=film, field="remanent", remanence_ratio=0.8, exchange_efficiency=0.4)
    grown = sat.advance(sat.init((2,), key=jax.random.key(0)), 1.0, 120.0)
    st = sat.remove_field(grown, reader=rem)
    np.testing.assert_allclose(np.asarray(st.conductance), np.asarray(rem.evolve(st, 0.0).conductance), rtol=1e-12)
    assert np.all(np.asarray(st.conductance) < np.asarray(grown.conductance))  # M_R = q·M_S < M_S
    np.testing.assert_array_equal(np.asarray(sat.remove_field(grown).conductance), np.asarray(grown.conductance))


def test_help_shows_the_real_docstrings():
    device = get_preset("con-25nm")
    for name, phrase in [("evolve", "Let ``duration`` seconds pass"), ("apply_pulses", "Apply pulses per cell"),
                         ("advance", "Hold each cell at a constant gate"), ("pulses", "gate pulses of the train"),
                         ("magnetisation", "emu cm⁻³"), ("init", "State of an array of devices")]:
        text = pydoc.render_doc(getattr(device, name), renderer=pydoc.plaintext)
        assert phrase in text, (name, text[:400])
        assert "Partial" not in text and "filter_jit" not in text, name
    assert "Conductance change [S]" in (type(device).nominal_step.__doc__ or "")
    assert "d2d_bounds" in MagnetoIonicSynapse.__doc__ and "d2d_step" not in MagnetoIonicSynapse.__doc__


# --------------------------------------------------------------------------- validation targets
TARGET_IDS = ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "B1", "B2", "B3", "B4", "B5"]


def _target_param(tid):
    t = TARGETS.get(tid) if tid in TARGETS else None
    reason = mt.KNOWN_FAILURES.get(tid)
    if reason:
        return pytest.param(tid, marks=pytest.mark.xfail(strict=True, reason=reason))
    return tid


@pytest.mark.parametrize("tid", [_target_param(t) for t in TARGET_IDS])
def test_validation_target(tid):
    result = run_target(tid)
    assert result["target"] == tid
    for key in ("measured", "expected", "passed", "description", "source"):
        assert key in result
    assert result["passed"], result
