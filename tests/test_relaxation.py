"""Relaxation (retention) of the generic pulsed devices: ``evolve`` decays the conductance
toward a rest state, ``G(t) = G_rest + (G_0 − G_rest)·φ(t)`` (exp and power law)."""
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays.crossbar import Crossbar
from synaptax.devices import (ConstantStepDevice, ExpStepDevice, LookupTableDevice, PowStepDevice, PulseCounts,
                              PulsedState, Relaxation, SoftBoundsDevice, StepVariability, stack_models)

pytestmark = pytest.mark.timeout(120)

G_MIN, G_MAX = 0.1e-6, 1.0e-6
SPAN = G_MAX - G_MIN
N = 16
LAWS = ["exp", "pow"]
KINDS = ["constant", "soft", "pow", "exp", "lookup"]
#: starting positions in each cell's window: both bounds, both sides of rest = 0.3, rest itself
X0 = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0, 0.3, 0.45])


def _relaxation(law, tau=2.0, exponent=0.7, rest=0.3):
    return Relaxation(law=law, tau=tau, exponent=exponent, rest=rest)


def _device(kind, relaxation, variability=StepVariability(d2d_bounds=0.1)):
    if kind == "lookup":
        g = np.linspace(G_MIN, G_MAX, 11)
        return LookupTableDevice(g, np.full(11, SPAN / 50), np.full(11, SPAN / 40), variability=variability,
                                 relaxation=relaxation)
    if kind == "exp":
        return ExpStepDevice(levels=50, nl_up=2.0, nl_down=1.0, g_min=G_MIN, g_max=G_MAX, variability=variability,
                             relaxation=relaxation)
    cls = {"constant": ConstantStepDevice, "soft": SoftBoundsDevice, "pow": PowStepDevice}[kind]
    return cls(g_min=G_MIN, g_max=G_MAX, step=SPAN / 50, variability=variability, relaxation=relaxation)


def _state(device, key=0):
    """``N`` cells at the positions ``X0`` of their own (device-to-device) windows."""
    s = device.init((N,), key=jax.random.key(key))
    g = s.g_min + jnp.asarray(X0) * (s.g_max - s.g_min)
    return eqx.tree_at(lambda t: t.conductance, s, g)


def _rest(state, rest):
    return np.asarray(state.g_min) + rest * (np.asarray(state.g_max) - np.asarray(state.g_min))


def _g(state):
    return np.asarray(state.conductance)


# --------------------------------------------------------------------------- the law
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("law", LAWS)
def test_zero_duration_is_identity(law, kind):
    device = _device(kind, _relaxation(law))
    state = device.evolve(_state(device), 0.7)  # a pow state of non-zero age
    same = device.evolve(state, 0.0)
    np.testing.assert_array_equal(_g(same), _g(state))
    if law == "pow":
        np.testing.assert_array_equal(np.asarray(same.age), np.asarray(state.age))
    else:
        assert same.age is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("law", LAWS)
def test_evolving_twice_equals_evolving_for_the_sum(law, kind):
    device = _device(kind, _relaxation(law))
    state = _state(device)
    for a, b in ((0.3, 1.7), (5.0, 40.0), (1e-6, 3e-3)):
        two = device.evolve(device.evolve(state, a), b)
        one = device.evolve(state, a + b)
        np.testing.assert_allclose(_g(two), _g(one), rtol=1e-13, atol=1e-13 * SPAN)
        if law == "pow":
            np.testing.assert_allclose(np.asarray(two.age), np.asarray(one.age), rtol=1e-15)
    # per-cell durations (broadcast to the state's shape)
    a = jnp.linspace(0.0, 3.0, N)
    b = jnp.linspace(2.0, 0.5, N)
    np.testing.assert_allclose(_g(device.evolve(device.evolve(state, a), b)), _g(device.evolve(state, a + b)),
                               rtol=1e-13, atol=1e-13 * SPAN)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("law", LAWS)
def test_long_time_limit_is_rest_monotone_and_within_bounds(law, kind):
    rest = 0.3
    device = _device(kind, _relaxation(law, exponent=1.0, rest=rest))
    state = _state(device)
    g_rest = _rest(state, rest)
    lo, hi = np.asarray(state.g_min), np.asarray(state.g_max)
    g_prev = _g(state)
    for dt in np.diff(np.concatenate([[0.0], np.logspace(-3, 12, 31)])):
        state = device.evolve(state, dt)
        g = _g(state)
        assert np.all(g >= lo) and np.all(g <= hi)
        # never past rest, never away from it
        assert np.all((g - g_rest) * (g_prev - g_rest) >= 0)
        assert np.all(np.abs(g - g_rest) <= np.abs(g_prev - g_rest))
        g_prev = g
    # after 1e12 s: φ = 1e-12 (pow, α = 1, τ = 2 s: 2e-12) or 0 (exp)
    np.testing.assert_allclose(g_prev, g_rest, rtol=0, atol=1e-11 * SPAN)


@pytest.mark.parametrize("law", LAWS)
def test_exact_values_against_the_closed_form(law):
    # no variability: every cell's window is [0.1, 1] µS; rest 0.25 → G_rest = 0.325 µS
    device = ConstantStepDevice(relaxation=Relaxation(law=law, tau=2.0, exponent=0.5, rest=0.25))
    state = device.init((3,), key=jax.random.key(0), conductance=jnp.array([0.9e-6, 0.325e-6, 0.1e-6]))
    # after 3 s: exp φ = e^(−1.5) = 0.22313016014842982; pow φ = (1 + 3/2)^(−0.5) = 0.6324555320336759
    phi = {"exp": 0.22313016014842982, "pow": 0.6324555320336759}[law]
    expected = 0.325e-6 + (np.array([0.9e-6, 0.325e-6, 0.1e-6]) - 0.325e-6) * phi
    np.testing.assert_allclose(_g(device.evolve(state, 3.0)), expected, rtol=1e-14)
    np.testing.assert_allclose(_g(device.evolve(device.evolve(state, 1.0), 2.0)), expected, rtol=1e-14)
    relax = device.relaxation
    np.testing.assert_allclose(float(relax.phi(3.0)), phi, rtol=1e-15)
    # decay(age, duration) = φ(age + duration)/φ(age)
    np.testing.assert_allclose(float(relax.decay(1.0, 2.0)), float(relax.phi(3.0) / relax.phi(1.0)), rtol=1e-15)
    if law == "exp":
        np.testing.assert_allclose(float(relax.decay(123.0, 2.0)), math.exp(-1.0), rtol=1e-15)
    else:
        np.testing.assert_allclose(float(relax.decay(1.0, 2.0)), (2.5 / 1.5) ** -0.5, rtol=1e-15)
    assert float(relax.phi(0.0)) == 1.0 and float(relax.decay(7.0, 0.0)) == 1.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("law", LAWS)
def test_stuck_cells_do_not_move(law, kind):
    device = _device(kind, _relaxation(law, rest=0.5),
                     StepVariability(d2d_bounds=0.1, stuck_min=0.3, stuck_max=0.3))
    state = device.init((64,), key=jax.random.key(3), conductance=0.8e-6)
    stuck = np.asarray(state.stuck) != 0
    assert 0 < stuck.sum() < 64
    later = device.evolve(state, 10.0)
    np.testing.assert_array_equal(_g(later)[stuck], _g(state)[stuck])
    assert np.all(_g(later)[~stuck] < _g(state)[~stuck])


# --------------------------------------------------------------------------- pulses and age
@pytest.mark.parametrize("kind", KINDS)
def test_pulses_restart_the_power_law_decay(kind):
    rest = 0.3
    device = _device(kind, _relaxation("pow", rest=rest), StepVariability())
    state = _state(device)
    np.testing.assert_array_equal(np.asarray(state.age), np.zeros(N))
    state = device.evolve(state, 5.0)
    np.testing.assert_array_equal(np.asarray(state.age), np.full(N, 5.0))
    pulsed = np.arange(N) % 3 != 0
    up = np.where(np.arange(N) % 3 == 1, 2.0, 0.0)
    down = np.where(np.arange(N) % 3 == 2, 1.0, 0.0)
    for after in (device.apply_pulses(state, PulseCounts(jnp.asarray(up), jnp.asarray(down)), key=jax.random.key(1)),
                  device.apply_pulses(state, jnp.asarray(up - down), key=jax.random.key(1)),
                  device.apply_pulses_many((state,), (jnp.asarray(up - down),), keys=(jax.random.key(1),),
                                           max_count=2)[0]):
        np.testing.assert_array_equal(np.asarray(after.age), np.where(pulsed, 0.0, 5.0))
        # the decay restarts from φ(0) where pulsed, goes on from φ(5 s) elsewhere
        relax = device.relaxation
        g_rest = _rest(after, rest)
        factor = np.where(pulsed, float(relax.phi(3.0)), float(relax.phi(8.0) / relax.phi(5.0)))
        np.testing.assert_allclose(_g(device.evolve(after, 3.0)), g_rest + (_g(after) - g_rest) * factor,
                                   rtol=1e-13, atol=1e-13 * SPAN)
        np.testing.assert_array_equal(np.asarray(device.evolve(after, 3.0).age), np.where(pulsed, 3.0, 8.0))


def test_exp_law_carries_no_age_and_pulses_do_not_add_one():
    device = _device("soft", _relaxation("exp"))
    state = _state(device)
    assert state.age is None
    after = device.apply_pulses(device.evolve(state, 2.0), jnp.ones(N), key=jax.random.key(0))
    assert after.age is None and device.evolve(after, 1.0).age is None


def test_pow_law_refuses_a_state_without_age():
    plain = _device("soft", None)
    device = _device("soft", _relaxation("pow"))
    with pytest.raises(ValueError, match="age"):
        device.evolve(_state(plain), 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_without_relaxation_nothing_changes(kind):
    plain = _device(kind, None)
    state = _state(plain)
    assert state.age is None
    assert len(jax.tree_util.tree_leaves(state)) == 6  # no age leaf
    assert plain.evolve(state, 5.0) is state  # the identity, the same object
    n = jnp.asarray(np.arange(N) % 5 - 2.0)
    after = plain.apply_pulses(state, n, key=jax.random.key(1))
    assert after.age is None
    assert jax.tree_util.tree_structure(after) == jax.tree_util.tree_structure(state)
    # the pulse path is the same with a relaxation (bit for bit)
    for law in LAWS:
        relaxed = _device(kind, _relaxation(law))
        other = relaxed.apply_pulses(_state(relaxed), n, key=jax.random.key(1))
        np.testing.assert_array_equal(_g(other), _g(after))


# --------------------------------------------------------------------------- transformations
@pytest.mark.parametrize("law", LAWS)
def test_jit_equals_eager(law):
    device = _device("soft", _relaxation(law))
    state = device.evolve(_state(device), 0.5)
    durations = jnp.linspace(0.0, 4.0, N)
    jitted = eqx.filter_jit(lambda d, s, t: d.evolve(s, t))(device, state, durations)
    eager = device.evolve(state, durations)
    np.testing.assert_allclose(_g(jitted), _g(eager), rtol=1e-14, atol=0)
    if law == "pow":
        np.testing.assert_array_equal(np.asarray(jitted.age), np.asarray(eager.age))


@pytest.mark.parametrize("law", LAWS)
def test_vmap_over_cells_and_keys_equals_loop(law):
    device = _device("exp", _relaxation(law), StepVariability(d2d_bounds=0.1, c2c=0.05))
    state = device.evolve(_state(device), 0.5)
    durations = jnp.linspace(0.0, 4.0, N)
    # over cells: each slice is a one-cell (shape ()) state
    per_cell = jax.vmap(lambda s, t: device.evolve(s, t))(state, durations)
    np.testing.assert_allclose(_g(per_cell), _g(device.evolve(state, durations)), rtol=1e-14, atol=0)

    def run(key):
        k_init, k_pulse = jax.random.split(key)
        s = device.init((N,), key=k_init, conductance=0.5e-6)
        s = device.apply_pulses(s, jnp.asarray(np.arange(N) % 5 - 2.0), key=k_pulse)
        return device.evolve(s, 1.5).conductance

    keys = jax.random.split(jax.random.key(7), 3)
    batched = jax.jit(jax.vmap(run))(keys)
    for i, k in enumerate(keys):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(run(k)), rtol=1e-13, atol=0)


@pytest.mark.parametrize("law", LAWS)
def test_vmap_over_a_stack_of_models_with_different_tau(law):
    models = [_device("constant", _relaxation(law, tau=tau)) for tau in (0.5, 2.0, 8.0)]
    state = _state(models[0])
    run = lambda d: d.evolve(state, 1.5).conductance  # noqa: E731
    batched = eqx.filter_vmap(run)(stack_models(models))
    for i, d in enumerate(models):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(run(d)), rtol=1e-14, atol=0)
    assert not np.allclose(np.asarray(batched[0]), np.asarray(batched[2]))


@pytest.mark.parametrize("law", LAWS)
def test_gradient_wrt_tau_and_rest_matches_finite_differences(law):
    device = _device("soft", _relaxation(law))
    state = device.evolve(_state(device), 0.5)

    def total(tau, rest):
        d = eqx.tree_at(lambda m: (m.relaxation.tau, m.relaxation.rest), device, (tau, rest))
        return jnp.sum(d.evolve(state, 1.3).conductance) / SPAN

    tau, rest = 2.0, 0.3
    g_tau, g_rest = jax.grad(total, argnums=(0, 1))(jnp.asarray(tau), jnp.asarray(rest))
    h = 1e-6
    fd_tau = (total(tau + h, rest) - total(tau - h, rest)) / (2 * h)
    fd_rest = (total(tau, rest + h) - total(tau, rest - h)) / (2 * h)
    assert abs(float(g_tau)) > 0 and abs(float(g_rest)) > 0
    np.testing.assert_allclose(float(g_tau), float(fd_tau), rtol=1e-6)
    np.testing.assert_allclose(float(g_rest), float(fd_rest), rtol=1e-6)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, name", [({"law": "lin"}, "law"), ({"tau": 0.0}, "tau"), ({"tau": -1.0}, "tau"),
                                          ({"exponent": -1.0}, "exponent"), ({"exponent": 0.0}, "exponent"),
                                          ({"rest": 1.5}, "rest"), ({"rest": -0.1}, "rest"),
                                          ({"rest": float("nan")}, "rest")])
def test_bad_relaxation_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Relaxation(**kwargs)


def test_relaxation_must_be_a_relaxation():
    with pytest.raises(TypeError, match="relaxation"):
        ConstantStepDevice(relaxation="exp")
    assert isinstance(ExpStepDevice(relaxation=Relaxation()).relaxation, Relaxation)
    assert isinstance(PulsedState.__dataclass_fields__["age"].default, type(None))


# --------------------------------------------------------------------------- crossbar
def test_crossbar_weights_decay_with_the_device():
    # rest at mid-range: both devices of a differential pair relax to g_ref, w → w·e^(−t/τ)
    device = ConstantStepDevice(relaxation=Relaxation(law="exp", tau=4.0, rest=0.5))
    xbar = Crossbar(device, 5, 3)
    w0 = jnp.asarray(np.linspace(-0.8, 0.8, 15).reshape(3, 5))
    state = xbar.init(key=jax.random.key(0), weights=w0)
    np.testing.assert_allclose(np.asarray(xbar.weights(state)), np.asarray(w0), rtol=1e-12, atol=1e-12)
    later = xbar.evolve(state, 2.0)
    np.testing.assert_allclose(np.asarray(xbar.weights(later)), np.asarray(w0) * math.exp(-0.5), rtol=1e-10,
                               atol=1e-12)
