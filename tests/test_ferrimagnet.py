"""Co/Gd ferrimagnetic SOT devices: synapse, neuron, STDP, validation targets D1–D6.

Expectations are computed independently where possible: switching probabilities written
out from the stated law, Monte-Carlo means compared with the analytic expectation within
a few σ/√N, energies from I²·R·t.
"""
import inspect
import json
import math
import pydoc
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synaptax.arrays import Crossbar
from synaptax.cli import main
from synaptax.devices import (PRESETS, AbstractDevice, AbstractDeviceState, PulseCounts, PulseEnergy, StepVariability,
                              Variability, get_preset)
from synaptax.devices import spintronic
from synaptax.devices.core.contract import stack_models
from synaptax.devices.spintronic.cogd import (OE, SOT_EFFICIENCY, CoGdDevice, CoGdState, anisotropy_field,
                                             normal_quantiles)
from synaptax.devices.spintronic.presets import cogd_array, cogd_hall_bar, cogd_hall_bar_preset, scaled
from synaptax.training.neurons import CoGdNeuron, cogd_sigmoid, default_neuron, fit_logistic, logistic
from synaptax.training.stdp import hebbian_spikes, pair_waveform, paper_spikes, stdp_update
from synaptax.training.layers import ACTIVATIONS
from synaptax.training.network import AnalogMLP, FloatMLP
from synaptax.validation import run_target

COGD_PRESETS = sorted(n for n in PRESETS if n.startswith("cogd"))
SMALL = CoGdDevice(n_regions=32)  # the paper's device (2 nm AlOx, −500 Oe, 10 ms), 32 regions
CELLS = 6


def _traced(dev):
    """Numeric parameters as arrays: one compilation serves every device of the file."""
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v) if isinstance(v, float) else v, dev)


_APPLY = eqx.filter_jit(lambda dev, s, i, k, n: dev.apply_current(s, i, key=k, count=n))
_PULSES = eqx.filter_jit(lambda dev, s, p, k: dev.apply_pulses(s, p, key=k))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("hx_oe", [1600.0, 2000.0, -1700.0])
def test_in_plane_field_at_or_above_anisotropy_is_rejected(hx_oe):
    with pytest.raises(ValueError, match="h_x must be smaller than h_k"):
        CoGdDevice(h_x=hx_oe * OE, h_k=1600 * OE)


def test_in_plane_field_beyond_lee_threshold_and_zero_field_are_rejected():
    with pytest.raises(ValueError, match="h_x must satisfy"):
        CoGdDevice(h_x=1200 * OE, h_k=1600 * OE)  # 1200 > 1600/√2
    with pytest.raises(ValueError, match="h_x must be non-zero"):
        CoGdDevice(h_x=0.0)


@pytest.mark.parametrize("width", [0.0, -1e-3])
def test_non_positive_pulse_width_is_rejected(width):
    with pytest.raises(ValueError, match="pulse_width must be positive"):
        CoGdDevice(pulse_width=width)
    with pytest.raises(ValueError, match="pulse_width must be positive"):
        scaled(SMALL, width=1e-7, pulse_width=width)


def test_negative_barrier_spread_is_rejected():
    with pytest.raises(ValueError, match="barrier_spread must be non-negative"):
        CoGdDevice(barrier_spread=-1.0)
    CoGdDevice(barrier_spread=0.0)  # zero spread is allowed


@pytest.mark.parametrize("field,value,message", [
    ("h_k", 0.0, "h_k must be positive"), ("barrier", -5.0, "barrier must be positive"),
    ("set_current", 0.0, "set_current must be positive"), ("width", -1e-6, "width must be positive"),
    ("g_max", 1e-7, "g_min must be smaller than g_max"), ("attempt_time", 0.0, "attempt_time must be positive"),
])
def test_other_bad_parameters_name_the_parameter(field, value, message):
    with pytest.raises(ValueError, match=message):
        CoGdDevice(**{field: value})


def test_step_variability_is_rejected():
    # the shared Variability has no step or cycle-to-cycle spreads; a StepVariability's would be ignored
    with pytest.raises(TypeError, match="c2c"):
        CoGdDevice(variability=StepVariability(c2c=0.1))
    with pytest.raises(TypeError, match="variability must be a Variability"):
        CoGdDevice(variability=0.1)
    with pytest.raises(TypeError):
        Variability(c2c=0.1)
    with pytest.raises(ValueError, match="alox_thickness"):
        anisotropy_field(-1e-9)


# --------------------------------------------------------------------------- physics
def test_derived_quantities_follow_the_stated_formulas():
    d = SMALL
    h = 500 / 1600
    assert d.field_ratio == pytest.approx(h)
    assert float(d.tilt_angle) == pytest.approx(math.asin(h))
    assert float(d.mean_barrier) == pytest.approx(240 * (1600 / 2000) * (1 - h) ** 2)
    j = (800 - 500 / math.sqrt(2)) * OE / SOT_EFFICIENCY  # A/m², χ = 25 Oe per 1e11 A/m²
    assert j == pytest.approx((800 - 500 / math.sqrt(2)) * 1e11 / 25)
    assert float(d.critical_current) == pytest.approx(10e-6 * 1.2e-9 * j)
    assert float(d.write_energy(20e-3)) == pytest.approx(20e-3**2 * 35.0 * 10e-3)
    # AlOx thickness table: H_k falls with the cap thickness
    hks = [anisotropy_field(t) / OE for t in (0, 0.5e-9, 1e-9, 1.5e-9, 2e-9)]
    assert hks == pytest.approx([2600, 2350, 2100, 1850, 1600]) and np.all(np.diff(hks) < 0)


def test_switching_probability_is_the_arrhenius_law():
    d = SMALL
    z = jnp.array([-2.0, 0.0, 1.5])
    i = 0.8 * float(d.critical_current)
    delta = np.maximum(float(d.mean_barrier) + 6.0 * np.asarray(z), 0)
    rate = 10e-3 / 1e-9 * np.exp(-delta * (1 - 0.8))
    for n in (1, 7):
        expect = 1 - np.exp(-n * rate)
        np.testing.assert_allclose(d.switching_probability(z, i, count=n), expect, rtol=1e-10)
    assert float(d.switching_probability(0.0, 0.0)) < 1e-20  # no current, no switching


def test_monte_carlo_mean_matches_expected_fraction(getkey):
    d = CoGdDevice(n_regions=512)
    state = d.init((40,), key=getkey())
    i = d.current_for_fraction(0.5)
    after = d.apply_current(state, i * float(d.set_polarity), key=getkey())
    frac = float(jnp.mean((after.spins > 0).astype(float)))
    # barriers are sampled per device; the expectation integrates the distribution
    assert frac == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / (40 * 512)) + 0.02)
    assert float(d.expected_switched_fraction(i)) == pytest.approx(0.5, abs=1e-3)


def test_n_pulses_in_one_call_equal_n_single_pulses_in_distribution(getkey):
    d = CoGdDevice(n_regions=512)
    state = d.init((20,), key=getkey())
    i = d.current_for_fraction(0.1) * float(d.set_polarity)
    once = d.apply_current(state, i, key=getkey(), count=5)
    seq = state
    for _ in range(5):
        seq = d.apply_current(seq, i, key=getkey())
    m1, m2 = float(jnp.mean(once.reduced_magnetisation)), float(jnp.mean(seq.reduced_magnetisation))
    assert abs(m1 - m2) < 4 * math.sqrt(2 / (20 * 512)) + 0.01


def test_target_direction_is_sign_of_current_times_field(getkey):
    big = 2.0 * float(SMALL.critical_current)
    for hx in (500 * OE, -500 * OE):
        d = eqx.tree_at(lambda d: d.h_x, SMALL, hx)
        state = d.init((3,), key=getkey())
        s = d.apply_current(state, big, key=getkey())
        assert np.all(np.asarray(s.spins) == np.sign(hx))
        s = d.apply_current(s, -big, key=getkey())
        assert np.all(np.asarray(s.spins) == -np.sign(hx))


def test_pulse_counts_apply_set_then_reset(getkey):
    d = SMALL
    state = d.init((4,), key=getkey())
    strong = eqx.tree_at(lambda d: d.set_current, d, 2.0 * float(d.critical_current))
    # SET train then RESET train of saturating pulses ends fully RESET, the reverse order cannot be expressed
    out = strong.apply_pulses(state, PulseCounts(jnp.ones(4), jnp.ones(4)), key=getkey())
    assert np.all(np.asarray(out.spins) == -1)
    out = strong.apply_pulses(state, PulseCounts(jnp.ones(4), jnp.zeros(4)), key=getkey())
    assert np.all(np.asarray(out.spins) == 1)
    # zero counts leave the state untouched
    same = d.apply_pulses(out, jnp.zeros(4), key=getkey())
    np.testing.assert_array_equal(np.asarray(same.spins), np.asarray(out.spins))


def test_hall_resistance_and_conductance_mapping(getkey):
    d = SMALL
    state = d.init((5,), key=getkey(), conductance=jnp.linspace(d.g_min, d.g_max, 5))
    m = np.asarray(state.spins, float).mean(-1)
    np.testing.assert_allclose(m, [-1, -0.5, 0, 0.5, 1], atol=1 / 32 + 1e-12)
    np.testing.assert_allclose(d.hall_resistance(state), d.anomalous_hall_resistance * math.cos(math.asin(500 / 1600)) * m,
                               rtol=1e-12)
    np.testing.assert_allclose(d.conductance(state), d.g_min + (d.g_max - d.g_min) * (1 + m) / 2, rtol=1e-12)
    np.testing.assert_allclose(d.hall_voltage(state), 1e-4 * d.hall_resistance(state), rtol=1e-12)
    assert d.evolve(state, 1e6) is state


def test_geometry_scaling_keeps_current_density_and_scales_energy():
    base = cogd_hall_bar(n_regions=32)
    nano = scaled(base, width=100e-9, length=300e-9, pulse_width=10e-9)
    assert float(nano.critical_current) / nano.width == pytest.approx(float(base.critical_current) / base.width)
    assert nano.channel_resistance == pytest.approx(35.0 * 3)
    # a 10 ns pulse needs a larger fraction of I_c0 than a 10 ms one (ln(t_p/τ0) smaller)
    assert nano.set_current / float(nano.critical_current) > base.set_current / float(base.critical_current)
    for dev in (base, nano):
        assert float(dev.expected_switched_fraction(dev.set_current)) == pytest.approx(0.03, rel=1e-3)
    e_base, e_nano = float(base.write_energy(base.set_current)), float(nano.write_energy(nano.set_current))
    assert e_base == pytest.approx(base.set_current**2 * 35.0 * 10e-3)
    assert e_nano < 1e-6 * e_base


def test_retention_of_presets_is_years(getkey):
    for name in COGD_PRESETS:
        d = get_preset(name)
        state = d.init((50,), key=getkey())
        assert float(jnp.min(d.retention_time(state))) > 10 * 3.16e7


# --------------------------------------------------------------------------- invariants
pulse_rounds = st.lists(st.tuples(st.lists(st.floats(-40e-3, 40e-3), min_size=CELLS, max_size=CELLS),
                                  st.integers(0, 50)), min_size=1, max_size=3)


@settings(max_examples=30, deadline=None)
@given(rounds=pulse_rounds, seed=st.integers(0, 2**31 - 1), g0=st.floats(0.0, 1.0))
def test_spins_stay_binary_and_readouts_stay_bounded(rounds, seed, g0):
    d = CoGdDevice(n_regions=32, variability=Variability(stuck_min=0.2, stuck_max=0.2, d2d_bounds=0.1))
    key = jax.random.key(seed)
    state = d.init((CELLS,), key=key, conductance=jnp.asarray(d.g_min + g0 * (d.g_max - d.g_min)))
    stuck = np.asarray(state.stuck) != 0
    start = np.asarray(state.spins)
    r_max = d.anomalous_hall_resistance * math.cos(float(d.tilt_angle))
    traced = _traced(d)
    for k, (currents, n) in enumerate(rounds):
        state = _APPLY(traced, state, jnp.asarray(currents), jax.random.fold_in(key, k), jnp.asarray(float(n)))
        spins = np.asarray(state.spins)
        assert set(np.unique(spins)) <= {-1, 1}
        r = np.asarray(d.hall_resistance(state))
        assert np.all(np.abs(r) <= r_max * (1 + 1e-12))
        g = np.asarray(d.conductance(state))
        assert np.all(g >= np.asarray(state.g_min) - 1e-18) and np.all(g <= np.asarray(state.g_max) + 1e-18)
        np.testing.assert_array_equal(spins[stuck], start[stuck])


@settings(max_examples=20, deadline=None)
@given(n=st.lists(st.integers(0, 300), min_size=CELLS, max_size=CELLS), seed=st.integers(0, 2**31 - 1))
def test_set_pulses_never_lower_and_reset_pulses_never_raise_conductance(n, seed):
    d = get_preset("cogd")
    key = jax.random.key(seed)
    state = d.init((CELLS,), key=key, conductance=0.5 * (d.g_min + d.g_max))
    g0 = np.asarray(state.conductance)
    n = jnp.asarray(n, dtype=float)
    assert np.all(np.asarray(_PULSES(_traced(d), state, n, key).conductance) >= g0)
    assert np.all(np.asarray(_PULSES(_traced(d), state, -n, key).conductance) <= g0)


def test_jit_equals_eager_and_vmap_over_keys_equals_loop(getkey):
    d = SMALL
    state = d.init((3, 4), key=getkey(), conductance=5e-6)
    n = jnp.array([[3.0, -2.0, 0.0, 7.0], [-5.0, 1.0, 40.0, -40.0], [2.5, -0.5, 1.0, 12.0]])
    key = getkey()
    eager = d.apply_pulses(state, n, key=key).spins
    jitted = jax.jit(lambda s, n, k: d.apply_pulses(s, n, key=k).spins)(state, n, key)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))
    i = jnp.full((3, 4), 0.8 * float(d.critical_current))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda s, k: d.apply_current(s, i, key=k).spins)(state, key)),
                                  np.asarray(d.apply_current(state, i, key=key).spins))
    keys = jax.random.split(getkey(), 4)
    batched = jax.jit(jax.vmap(lambda k: d.apply_pulses(state, n, key=k).spins))(keys)
    looped = jnp.stack([d.apply_pulses(state, n, key=k).spins for k in keys])
    np.testing.assert_array_equal(np.asarray(batched), np.asarray(looped))
    assert not np.array_equal(np.asarray(batched[0]), np.asarray(batched[1]))
    inits = jax.vmap(lambda k: d.init((2,), key=k).barrier_z)(keys)
    np.testing.assert_array_equal(np.asarray(inits[2]), np.asarray(d.init((2,), key=keys[2]).barrier_z))


def test_jitted_update_does_not_retrace(getkey):
    traces = []

    @jax.jit
    def update(state, n, key):
        traces.append(1)
        return SMALL.apply_pulses(state, n, key=key)

    state = SMALL.init((CELLS,), key=getkey())
    state = update(state, jnp.arange(CELLS, dtype=float), getkey())
    state = update(state, -jnp.arange(CELLS, dtype=float), getkey())
    jax.block_until_ready(state)
    assert len(traces) == 1


# --------------------------------------------------------------------------- the device contract
FINAL = ("init", "apply_pulses", "apply_pulses_many", "evolve", "conductance", "read", "read_noise_std")


def test_family_implements_the_hooks_not_the_final_methods(getkey):
    for name in FINAL:
        assert name not in CoGdDevice.__dict__, name
    for name in ("_init", "_apply_counts", "pulse_energy", "conductance_range", "nominal_step"):
        assert name in CoGdDevice.__dict__, name
    assert issubclass(CoGdDevice, AbstractDevice) and issubclass(CoGdState, AbstractDeviceState)
    state = SMALL.init((2, 3), key=getkey())
    assert isinstance(state, AbstractDeviceState)
    assert state.conductance.shape == state.g_min.shape == state.g_max.shape == state.stuck.shape == (2, 3)
    a, b = SMALL.apply_pulses_many((state, state), (jnp.ones((2, 3)), -jnp.ones((2, 3))), keys=(getkey(), getkey()))
    assert isinstance(a, CoGdState) and isinstance(b, CoGdState)


def test_bounds_and_faults_come_from_the_shared_sampler(getkey):
    var = Variability(d2d_bounds=0.2, stuck_min=0.15, stuck_max=0.15, read_noise=0.03)
    d = CoGdDevice(n_regions=16, variability=var)
    key = getkey()
    state = d.init((50,), key=key, conductance=5e-6)
    cells = var.sample_cells(jax.random.split(key)[0], (50,), d.conductance_range, state.g_min.dtype)
    np.testing.assert_array_equal(np.asarray(state.g_min), np.asarray(cells.g_min))
    np.testing.assert_array_equal(np.asarray(state.g_max), np.asarray(cells.g_max))
    np.testing.assert_array_equal(np.asarray(state.stuck), np.asarray(cells.stuck))
    # the shared convention: the bounds spread around the nominal window centre
    centre = 0.5 * (d.g_min + d.g_max)
    assert float(jnp.mean(state.g_min)) < centre < float(jnp.mean(state.g_max))
    assert np.std(np.asarray(state.g_min)) > 0 and np.std(np.asarray(state.g_max)) > 0
    stuck = np.asarray(state.stuck)
    assert 0 < np.sum(stuck == 1) and 0 < np.sum(stuck == 2)
    np.testing.assert_allclose(np.asarray(state.conductance)[stuck == 1], np.asarray(state.g_min)[stuck == 1])
    np.testing.assert_allclose(np.asarray(state.conductance)[stuck == 2], np.asarray(state.g_max)[stuck == 2])
    # read noise is the contract's: relative, per read
    np.testing.assert_allclose(d.read_noise_std(state), 0.03 * state.conductance)
    with pytest.raises(ValueError, match="key"):
        d.read(state)


def test_renamed_api_reduced_magnetisation_and_demagnetise(getkey):
    state = SMALL.init((4,), key=getkey(), conductance=jnp.array([1e-6, 4e-6, 7e-6, 10e-6]))
    m = np.asarray(state.spins, float).mean(-1)
    np.testing.assert_allclose(state.reduced_magnetisation, m)
    np.testing.assert_allclose(SMALL.reduced_magnetisation(state), m)
    assert np.all(np.abs(m) <= 1)
    demag = SMALL.demagnetise(SMALL.init((64,), key=getkey()), key=getkey())
    assert abs(float(jnp.mean(demag.reduced_magnetisation))) < 0.05
    # one vocabulary: the old American spellings are gone
    for owner, name in ((CoGdState, "magnetization"), (CoGdDevice, "magnetization"), (CoGdDevice, "demagnetize"),
                        (CoGdDevice, "magnetisation"), (CoGdState, "magnetisation")):
        assert not hasattr(owner, name), (owner.__name__, name)


def test_demagnetise_traced_sequence_equals_the_concrete_one(getkey):
    state = SMALL.init((16,), key=getkey())
    key = getkey()
    eager = SMALL.demagnetise(state, key=key)
    traced = eqx.filter_jit(lambda d, s, k: d.demagnetise(s, key=k))(SMALL, state, key)  # parameters traced
    np.testing.assert_array_equal(np.asarray(traced.spins), np.asarray(eager.spins))
    explicit = SMALL.demagnetise(state, key=key, start=1.3 * float(SMALL.critical_current),
                                 decrement=1.3 * float(SMALL.critical_current) / 200)
    np.testing.assert_array_equal(np.asarray(explicit.spins), np.asarray(eager.spins))
    with pytest.raises(ValueError, match="steps, not decrement"):
        eqx.filter_jit(lambda d, s, k: d.demagnetise(s, key=k, decrement=1e-4))(SMALL, state, key)


def _every_numeric_method(d, key):
    """Every public numeric method of a Co/Gd device on a small array."""
    k_init, k_pulse, k_current, k_read, k_sweep, k_demag = jax.random.split(key, 6)
    s = d.init((3, 2), key=k_init, conductance=5e-6)
    s = d.apply_pulses(s, jnp.array([[3.0, -2.0], [0.0, 7.0], [-5.0, 1.0]]), key=k_pulse)
    s = d.evolve(s, 1e-3)
    s = d.apply_current(s, 0.9 * d.critical_current * d.set_polarity, key=k_current, count=2.0)
    swept, r_hall = d.sweep(s, jnp.linspace(-1.0, 1.0, 5) * d.critical_current, key=k_sweep)
    demag = d.demagnetise(swept, key=k_demag, steps=20)
    lo, hi = d.conductance_range
    return {
        "spins": s.spins, "conductance": d.conductance(s), "read": d.read(s, key=k_read),
        "energy": d.pulse_energy(s).up, "step": jnp.asarray(d.nominal_step), "lo": jnp.asarray(lo),
        "hi": jnp.asarray(hi), "hall": d.hall_resistance(s), "hall_voltage": d.hall_voltage(s),
        "m": d.reduced_magnetisation(s), "r_sweep": r_hall, "demag": demag.spins,
        "retention": d.retention_time(s), "i_c0": d.critical_current, "tilt": d.tilt_angle,
        "esf": d.expected_switched_fraction(jnp.array([0.5, 0.8]) * d.critical_current),
        "esweep": d.expected_sweep(jnp.linspace(0.0, 1.2, 8) * d.critical_current),
        "i50": d.current_for_fraction(0.5), "p": d.switching_probability(0.3, 0.8 * d.critical_current),
    }


def test_vmap_over_a_stack_of_two_models_equals_a_loop(getkey):
    other = eqx.tree_at(lambda d: (d.h_x, d.variability), SMALL, (400.0 * OE, Variability(read_noise=0.05)))
    models = (SMALL, other)
    key = getkey()
    batched = eqx.filter_jit(eqx.filter_vmap(lambda d: _every_numeric_method(d, key)))(stack_models(models))
    for i, d in enumerate(models):
        one = eqx.filter_jit(_every_numeric_method)(d, key)
        for name, value in one.items():
            if np.asarray(value).dtype == np.int8:
                np.testing.assert_array_equal(np.asarray(batched[name][i]), np.asarray(value), err_msg=name)
            else:
                np.testing.assert_allclose(np.asarray(batched[name][i]), np.asarray(value), rtol=1e-9, err_msg=name)
    # the two models differ where their parameters do
    assert float(batched["read"][1].std()) > 0 and not np.allclose(batched["i50"][0], batched["i50"][1])
    np.testing.assert_allclose(batched["read"][0], batched["conductance"][0])  # read_noise 0: the conductance


def test_vmap_over_keys_and_states_equals_a_loop(getkey):
    keys = jax.random.split(getkey(), 3)
    batched = eqx.filter_jit(eqx.filter_vmap(lambda k: _every_numeric_method(SMALL, k)))(keys)
    for i, k in enumerate(keys):
        one = eqx.filter_jit(_every_numeric_method)(SMALL, k)
        for name, value in one.items():
            np.testing.assert_allclose(np.asarray(batched[name][i]), np.asarray(value), rtol=1e-9, err_msg=name)
    states = jax.vmap(lambda k: SMALL.init((4,), key=k, conductance=5e-6))(keys)
    key = getkey()
    current = 0.9 * float(SMALL.critical_current)

    def step(s):
        s = SMALL.apply_current(s, current, key=key)
        s = SMALL.apply_pulses(s, jnp.full((4,), 3.0), key=key)
        return SMALL.hall_resistance(s), SMALL.read(s), SMALL.pulse_energy(s).down

    batched = jax.jit(jax.vmap(step))(states)
    for i in range(3):
        one = step(jax.tree_util.tree_map(lambda x: x[i], states))
        for a, b in zip(batched, one):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-9)


def test_gradients_of_the_continuous_quantities():
    d = SMALL
    i = 0.85 * float(d.critical_current)
    grad = jax.grad(lambda i: d.expected_switched_fraction(i))(i)
    h = 1e-7 * i
    fd = (float(d.expected_switched_fraction(i + h)) - float(d.expected_switched_fraction(i - h))) / (2 * h)
    assert float(grad) > 0 and float(grad) == pytest.approx(fd, rel=1e-4)
    g_sweep = jax.grad(lambda c: jnp.sum(d.expected_sweep(c)))(jnp.linspace(0.8, 0.9, 4) * float(d.critical_current))
    # a larger pulse never switches less; once every region has switched, later pulses do not matter
    assert np.all(np.isfinite(np.asarray(g_sweep))) and np.all(np.asarray(g_sweep) >= 0) and float(g_sweep[0]) > 0
    g_p = jax.grad(lambda i: d.switching_probability(0.0, i))(i)
    assert np.isfinite(float(g_p)) and float(g_p) > 0
    # with respect to a parameter: a larger |H_x| lowers the barriers and switches more
    g_dev = eqx.filter_grad(lambda dev: dev.expected_switched_fraction(i))(_traced(d))
    assert float(g_dev.h_x) < 0  # h_x < 0 here: more negative is a larger field


def test_checks_skip_tracers_and_run_elementwise_on_arrays():
    def build(hx):
        return CoGdDevice(n_regions=8, h_x=hx).critical_current

    np.testing.assert_allclose(jax.jit(build)(-500.0 * OE), SMALL.critical_current)
    np.testing.assert_allclose(jax.vmap(build)(jnp.array([-500.0, 300.0]) * OE)[0], SMALL.critical_current)
    with pytest.raises(ValueError, match="h_x must be smaller than h_k"):
        CoGdDevice(h_x=jnp.array([-500.0, 1700.0]) * OE, h_k=1600.0 * OE)
    with pytest.raises(ValueError, match="h_x must be non-zero"):
        CoGdDevice(h_x=np.array([-500.0, 0.0]) * OE)


def test_help_shows_each_methods_own_docstring_and_signature(getkey):
    d = SMALL
    names = ("apply_current", "sweep", "demagnetise", "expected_switched_fraction", "expected_sweep",
             "current_for_fraction", "hall_resistance", "hall_voltage", "reduced_magnetisation", "retention_time",
             "switching_probability", "write_energy", "barriers", "pulse_energy") + FINAL
    for name in names:
        method = getattr(type(d), name)
        own = inspect.getdoc(method)
        assert own, name
        bound = getattr(d, name)
        # the signature is the method's own (the jit wrapper carries it), without self
        signature = inspect.signature(bound)
        assert list(signature.parameters) == list(inspect.signature(method).parameters)[1:], name
        text = pydoc.render_doc(bound, renderer=pydoc.plaintext)
        assert f"{name}{signature}" in text, name  # help(device.method): signature line, then the docstring
        assert own.splitlines()[0] in text and "Partial" not in text and "BoundMethod(" not in text, name
        assert pydoc.render_doc(method, renderer=pydoc.plaintext).count(f"{name}(self") == 1, name
    assert "currents" in inspect.signature(d.sweep).parameters
    # a bound method is still a pytree holding the device: jit traces its parameters
    state = d.init((3,), key=getkey())
    sweep = jax.jit(lambda f, s, c, k: f(s, c, key=k)[1])
    r = sweep(d.sweep, state, jnp.full((4,), 0.9 * float(d.critical_current)), getkey())
    assert r.shape == (4, 3)
    assert len(jax.tree_util.tree_leaves(_traced(d).sweep)) == len(jax.tree_util.tree_leaves(_traced(d)))


# --------------------------------------------------------------------------- presets module
def test_presets_live_in_their_module_and_are_exported():
    assert set(spintronic.PRESETS) == {"cogd", "cogd-hallbar"}
    assert spintronic.PRESETS["cogd"] is cogd_array and spintronic.PRESETS["cogd-hallbar"] is cogd_hall_bar_preset
    for name in ("OE", "CoGdDevice", "CoGdState", "PRESETS", "cogd_array", "cogd_hall_bar"):
        assert name in spintronic.__all__ and hasattr(spintronic, name)
    assert PRESETS["cogd"] is cogd_array


def test_presets_are_not_cached_and_build_quickly():
    for fn in (cogd_array, cogd_hall_bar_preset, normal_quantiles):
        assert not hasattr(fn, "cache_info") and not hasattr(fn, "__wrapped__"), fn.__name__
    for name, factory in (("cogd", cogd_array), ("cogd-hallbar", cogd_hall_bar_preset)):
        factory()  # the first call in a process also compiles the calibration
        start = time.perf_counter()
        a = factory()
        elapsed = time.perf_counter() - start
        b = get_preset(name)
        assert a is not b and eqx.tree_equal(a, b) is True, name
        assert elapsed < 2.0, (name, elapsed)  # ≈ 10–25 ms measured
    z = normal_quantiles(8)
    z[:] = 0.0
    assert np.all(normal_quantiles(8) != 0.0)


# --------------------------------------------------------------------------- presets and arrays
@pytest.mark.parametrize("name", COGD_PRESETS)
def test_every_cogd_preset_steps(name, getkey):
    d = get_preset(name)
    g_lo, g_hi = d.conductance_range
    state = d.init((400,), key=getkey(), conductance=0.5 * (g_lo + g_hi))
    g0 = np.asarray(d.conductance(state))
    up = d.apply_pulses(state, jnp.ones(400), key=getkey())
    down = d.apply_pulses(state, -jnp.ones(400), key=getkey())
    step_up = float(np.mean(np.asarray(d.conductance(up)) - g0))
    step_down = float(np.mean(g0 - np.asarray(d.conductance(down))))
    # nominal_step is the expected change of one pulse at mid-range (±4σ of the region sampling)
    sigma = (g_hi - g_lo) / d.n_regions * math.sqrt(d.n_regions / 2 * 0.03 / 400)
    for step in (step_up, step_down):
        assert abs(step - d.nominal_step) < 4 * sigma + 0.15 * d.nominal_step
    e = d.pulse_energy(state)
    assert isinstance(e, PulseEnergy)
    np.testing.assert_allclose(e.up, d.set_current**2 * d.channel_resistance * d.pulse_width, rtol=1e-12)
    np.testing.assert_allclose(e.down, e.up)
    r = np.asarray(d.read(state, key=getkey()))
    assert r.shape == (400,) and np.all(r >= 0)
    assert d.read_noise_std(state) is None or np.all(np.asarray(d.read_noise_std(state)) >= 0)


def test_crossbar_with_cogd_devices(getkey):
    d = get_preset("cogd")
    xb = Crossbar(d, 8, 4)
    w = 0.4 * jax.random.uniform(getkey(), (4, 8), minval=-1, maxval=1)
    state = xb.init(key=getkey(), weights=w)
    # programmed to the nearest of N_r levels per device, two devices per weight
    assert float(jnp.max(jnp.abs(xb.weights(state) - w))) <= 2 * (1 / d.n_regions) * xb.w_max + 1e-9
    x = jax.random.uniform(getkey(), (16, 8))
    dd = jax.random.normal(getkey(), (16, 4))
    update = eqx.filter_jit(lambda xb, s, x, d, k: xb.update_coincidence(s, x, d, learning_rate=0.05, key=k))
    new, pulses = update(xb, state, x, dd, getkey())
    n = float(pulses.up.sum() + pulses.down.sum())
    assert n > 0
    e = float(xb.write_energy(state, pulses))
    assert e == pytest.approx(n * d.set_current**2 * d.channel_resistance * d.pulse_width, rel=1e-9)
    # on average the weights move along the requested outer product
    dw = np.asarray(xb.weights(new) - xb.weights(state))
    assert np.sum(dw * np.asarray(dd.T @ x)) > 0


# --------------------------------------------------------------------------- neuron
def test_logistic_fit_recovers_parameters():
    x = np.linspace(-5, 25, 121)
    fit = fit_logistic(x, np.asarray(logistic(x, 11.0, 1.7)))
    assert fit.x0 == pytest.approx(11.0, rel=1e-6) and fit.k == pytest.approx(1.7, rel=1e-6)
    assert fit.r2 == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same length"):
        fit_logistic(x, x[:-1])


def test_device_neuron_approximates_sigmoid_and_its_noise(getkey):
    n = default_neuron()
    x = jnp.linspace(-6, 6, 121)
    assert float(jnp.max(jnp.abs(n.mean(x) - jax.nn.sigmoid(x)))) < 0.05
    np.testing.assert_allclose(cogd_sigmoid(x), n.mean(x))
    assert np.all(np.diff(np.asarray(n.mean(x))) >= 0)
    y = n(jnp.zeros(4000), key=getkey())
    y = np.asarray(y)
    np.testing.assert_allclose(y * n.device.n_regions, np.round(y * n.device.n_regions), atol=1e-9)
    f = float(n.mean(0.0))
    assert y.mean() == pytest.approx(f, abs=4 * math.sqrt(f * (1 - f) / (256 * 4000)))
    assert y.std() == pytest.approx(math.sqrt(f * (1 - f) / 256), rel=0.1)
    # straight-through: the gradient of a noisy read is the mean's
    g_noisy = jax.jit(jax.grad(lambda x: jnp.sum(n(x, key=jax.random.key(0)))))(jnp.array([0.3, -1.0]))
    g_mean = jax.jit(jax.grad(lambda x: jnp.sum(n.mean(x))))(jnp.array([0.3, -1.0]))
    np.testing.assert_allclose(g_noisy, g_mean)


def test_neuron_measurement_is_reset_then_one_set_pulse(getkey):
    n = CoGdNeuron(SMALL)
    y = np.asarray(n.measure(jnp.array([-5e-3, 0.0, 1e-3, 40e-3]), key=getkey()))
    np.testing.assert_allclose(y, [0, 0, 0, 1], atol=1e-12)


def test_device_neuron_is_a_network_activation(getkey):
    assert {"cogd-neuron", "cogd-neuron-noisy"} <= set(ACTIVATIONS)
    model = FloatMLP([12, 5, 3], key=getkey(), activation="cogd-neuron")
    assert eqx.filter_jit(lambda m, x: m(x))(model, jnp.ones((2, 12))).shape == (2, 3)
    with pytest.raises(ValueError, match="needs an analog algorithm"):
        FloatMLP([12, 5, 3], key=getkey(), activation="cogd-neuron-noisy")
    mlp = AnalogMLP([Crossbar(get_preset("ideal"), 12, 5), Crossbar(get_preset("ideal"), 5, 3)],
                    activation="cogd-neuron-noisy")
    states = mlp.init_state(key=getkey())
    forward = eqx.filter_jit(lambda m, s, x, k: m(s, x, key=k)[0])
    a = forward(mlp, states, jnp.ones((2, 12)), jax.random.key(1))
    b = forward(mlp, states, jnp.ones((2, 12)), jax.random.key(2))
    assert a.shape == (2, 3) and not np.allclose(a, b)  # a fresh device read per call


# --------------------------------------------------------------------------- STDP
def test_one_spike_alone_does_not_switch_and_a_pair_does(getkey):
    d = CoGdDevice(n_regions=128)
    spikes = paper_spikes(d)
    state = d.demagnetise(d.init((8,), key=getkey()), key=getkey())
    r0 = d.hall_resistance(state)
    alone, _ = d.sweep(state, jnp.asarray(spikes.pre) * d.set_polarity, key=getkey(), pulse_width=spikes.dt)
    assert float(jnp.max(jnp.abs(d.hall_resistance(alone) - r0))) < 0.02 * d.anomalous_hall_resistance
    pair, _ = d.sweep(state, jnp.asarray(pair_waveform(spikes, 0.0)) * d.set_polarity, key=getkey(),
                      pulse_width=spikes.dt)
    assert float(jnp.mean(d.hall_resistance(pair) - r0)) > 0.3 * d.anomalous_hall_resistance


def test_demagnetise_leaves_a_near_zero_reduced_magnetisation(getkey):
    state = SMALL.demagnetise(SMALL.init((64,), key=getkey()), key=getkey())
    assert abs(float(jnp.mean(state.reduced_magnetisation))) < 0.05


def test_pair_waveform_superposes_pre_minus_delayed_post():
    d = SMALL
    spikes = paper_spikes(d)
    w = pair_waveform(spikes, 3e-3)
    k = spikes.pre.size
    np.testing.assert_allclose(w[:30], spikes.pre[:30])
    np.testing.assert_allclose(w[30:k], spikes.pre[30:] - spikes.post[:k - 30])
    np.testing.assert_allclose(pair_waveform(spikes, -3e-3), w)  # the symmetric design


def test_stdp_rule_on_an_array_follows_spike_order(getkey):
    d = CoGdDevice(n_regions=128)
    spikes = hebbian_spikes(d)
    state = d.demagnetise(d.init((3, 2), key=getkey()), key=getkey())
    pre = np.zeros((300, 3))
    post = np.zeros((300, 2))
    pre[10, 0], post[30, 0] = 1, 1  # pre 2 ms before post on synapse (0, 0): depression
    pre[100, 1], post[80, 1] = 1, 1  # post 2 ms before pre on synapse (1, 1): potentiation
    new = stdp_update(d, state, pre, post, key=getkey(), spikes=spikes)
    dr = np.asarray(d.hall_resistance(new) - d.hall_resistance(state))
    assert dr[0, 0] < -0.3 and dr[1, 1] > 0.3
    np.testing.assert_array_equal(dr[2], 0.0)  # a silent pre-neuron's synapses do not move
    with pytest.raises(ValueError, match="array shape"):
        stdp_update(d, state, pre[:, :2], post, key=getkey(), spikes=spikes)


# --------------------------------------------------------------------------- targets and CLI
@pytest.mark.parametrize("tid", ["D1", "D2", "D3", "D4", "D5", "D6"])
def test_validation_target(tid):
    result = run_target(tid)
    assert result["target"] == tid and "measured" in result and "expected" in result
    assert result["passed"], json.dumps(result["measured"], default=str)


def test_reproduce_cli_writes_json(tmp_path, capsys):
    path = tmp_path / "d2.json"
    assert main(["reproduce", "D2", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["passed"] is True


def test_train_cli_with_cogd_synapses_and_device_neuron(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["train", "--device", "cogd", "--activation", "cogd-neuron-noisy", "--epochs", "1", "--hidden", "4",
            "--train-samples", "32", "--test-samples", "32", "--bit-length", "1", "--dac-bits", "0", "--adc-bits", "0",
            "--run-dir", str(tmp_path / "run"), "--json", str(out), "--progress", "never"]
    assert main(argv) == 0
    rep = json.loads(out.read_text())
    assert rep["device"] == "cogd" and 0 <= rep["test_accuracy"] <= 1
    assert rep["write_energy_per_update_J"] > 0 and rep["energy_per_update_J"] > 0


def test_grid_of_quantiles_is_symmetric():
    z = normal_quantiles(64)
    np.testing.assert_allclose(z, -z[::-1], atol=1e-12)
