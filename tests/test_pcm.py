"""The PCM family: aihwkit's PCMLikeNoiseModel laws against their closed forms, written out
here with aihwkit's literal constants (µS, normalised by g_max = 25 µS), and the pulsed
update.  The contract itself (jit, vmap, checkpoints, ...) is checked by
``test_conformance.py`` on both presets."""
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.devices import PRESETS, PCMDevice, PCMDrift, PCMProgrammingNoise, PCMReadNoise, PCMState, get_preset
from synaptax.devices.core.variability import StepVariability, Variability

G_MAX = 25e-6
T0 = 20.0
T_READ = 250e-9


def _aihwkit_prog_std(g_target):
    """σ_prog [S]: 0.26348 + 1.9650·x − 1.1731·x² µS (aihwkit prog_coeff, g_max = 25 µS)."""
    x = np.asarray(g_target) / G_MAX
    return (0.26348 + 1.9650 * x - 1.1731 * x**2) * 1e-6


def _aihwkit_nu_normal(g_target):
    """(μ, σ) of the normal that is folded to give ν (aihwkit generate_drift_coefficients)."""
    log_x = np.log(np.maximum(np.abs(np.asarray(g_target) / G_MAX), 1e-7))
    mu = np.clip(-0.0155 * log_x + 0.0244, 0.049, 0.1)
    sigma = np.clip(-0.0125 * log_x - 0.0059, 0.008, 0.045)
    return mu, sigma


def _aihwkit_read_rel(g_prog, t):
    """Relative 1/f std at time t since programming (aihwkit apply_drift_noise_to_conductance)."""
    q_s = np.minimum(0.0088 / np.maximum((np.asarray(g_prog) / G_MAX) ** 0.65, 1e-3), 0.2)
    return q_s * np.sqrt(np.maximum(np.log((t + T_READ) / (2 * T_READ)), 0.0))


def _folded_normal(mu, sigma):
    """Mean and standard deviation of |N(μ, σ²)|."""
    phi = 0.5 * (1 + math.erf(-mu / (sigma * math.sqrt(2))))  # Φ(−μ/σ)
    mean = sigma * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * sigma**2)) + mu * (1 - 2 * phi)
    return mean, math.sqrt(mu**2 + sigma**2 - mean**2)


#: Cells of every array here: one shape, so that each jitted operation compiles once per
#: test worker (eager JAX would compile every primitive alone, and each shape anew).
N = 40_000


def _arrays(device):
    """``device`` with every numeric parameter an array: models that differ only in values
    share one compilation."""
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v) if isinstance(v, (float, int)) else v, device)


@pytest.fixture(scope="module")
def pcm():
    return get_preset("pcm")


_init = eqx.filter_jit(lambda d, g, key: d.init(g.shape, key=key, conductance=g))
_evolve_jit = eqx.filter_jit(lambda d, s, t: d.evolve(s, t))
_std_jit = eqx.filter_jit(lambda d, s: d.read_noise_std(s))
_apply_jit = eqx.filter_jit(lambda d, s, n, k: d.apply_pulses(s, n, key=k))
_prog_jit = eqx.filter_jit(lambda d, g: d.programming_noise_std(g))


def _cells(values):
    """``values`` [S] repeated to fill the N cells."""
    return jnp.asarray(np.resize(np.asarray(values, np.float64), N))


def _programmed(device, g, key):
    return _init(_arrays(device), _cells(g), key)


def _evolve(device, state, t):
    return _evolve_jit(_arrays(device), state, jnp.broadcast_to(jnp.asarray(t, jnp.float64), (N,)))


def _std(device, state):
    return _std_jit(_arrays(device), state)


def _apply(device, state, counts, key):
    return _apply_jit(_arrays(device), state, _cells(counts), key)


def _prog(device, g):
    return np.asarray(_prog_jit(_arrays(device), _cells(g)))


# ----------------------------------------------------------------------------- constants
def test_presets_use_aihwkits_constants(pcm):
    assert set(PRESETS) >= {"pcm", "pcm-no-drift"}
    assert pcm.g_max == G_MAX and pcm.drift.t0 == T0 and pcm.read_1f.t_read == T_READ
    assert (pcm.programming.c0, pcm.programming.c1, pcm.programming.c2) == (0.26348e-6, 1.9650e-6, -1.1731e-6)
    assert get_preset("pcm-no-drift").drift.scale == 0.0
    # the mid-range SET step of aihwkit's PCM preset: dw_min·(1 + 27.235·e^(−2.5)) on a range of 2
    frac = 0.01 * (1 + 27.235 * math.exp(-2.5)) / 2
    assert pcm.nominal_step == pytest.approx(frac * (pcm.g_max - pcm.g_min), rel=1e-12)
    assert round((pcm.g_max - pcm.g_min) / pcm.nominal_step) == 62


# ----------------------------------------------------------------------------- drift
def test_drift_follows_the_closed_form(pcm, getkey):
    targets = np.asarray(_cells(np.linspace(0.5e-6, G_MAX, 12)))
    state = _programmed(pcm, targets, getkey())
    g_prog, nu = np.asarray(state.g_programmed), np.asarray(state.drift_exponent)
    np.testing.assert_array_equal(g_prog, targets)
    np.testing.assert_array_equal(np.asarray(state.age), 0.0)
    for t in (0.0, 1e-3, 5.0, T0, 21.0, 3600.0, 86400.0, 3.15e7):
        later = _evolve(pcm, state, t)
        expected = g_prog * (t / T0) ** (-nu) if t >= T0 else g_prog  # no drift before the first read
        np.testing.assert_allclose(np.asarray(later.conductance), expected, rtol=1e-13, atol=0)
        np.testing.assert_array_equal(np.asarray(later.age), t)
    # aihwkit's t_inference counts from t0: its g_prog·((t_inf + t0)/t0)^−ν
    t_inf = 3600.0
    later = _evolve(pcm, state, pcm.age_at_inference(t_inf))
    np.testing.assert_allclose(np.asarray(later.conductance), g_prog * ((t_inf + T0) / T0) ** (-nu), rtol=1e-13)
    assert np.all(np.asarray(_evolve(pcm, state, 1e5).conductance) < g_prog)


def test_evolve_is_additive(pcm, getkey):
    state = _programmed(pcm, np.linspace(1e-6, G_MAX, 10), getkey())
    for a, b in ((3.0, 5.0), (10.0, 30.0), (25.0, 1e4), (1e-4, 1e6), (0.0, 40.0)):
        twice = _evolve(pcm, _evolve(pcm, state, a), b)
        once = _evolve(pcm, state, a + b)
        np.testing.assert_allclose(np.asarray(twice.conductance), np.asarray(once.conductance), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(twice.age), np.asarray(once.age), rtol=1e-15)
    # per-cell durations: each cell as if evolved alone
    d = _cells(np.linspace(0.0, 1e5, 7))
    per_cell = np.asarray(_evolve(pcm, state, d).conductance)
    for i in (0, 3, 6):
        alone = np.asarray(_evolve(pcm, state, float(d[i])).conductance)
        assert per_cell[i] == pytest.approx(alone[i], rel=1e-13)


def test_no_drift_preset_keeps_the_conductance_but_not_the_noise(getkey):
    device = get_preset("pcm-no-drift")
    state = _programmed(device, [10e-6], getkey())
    np.testing.assert_array_equal(np.asarray(state.drift_exponent), 0.0)
    later = _evolve(device, state, 1e6)
    np.testing.assert_array_equal(np.asarray(later.conductance), np.asarray(state.conductance))
    np.testing.assert_array_equal(np.asarray(_std(device, state)), 0.0)  # no 1/f noise at age 0
    np.testing.assert_allclose(np.asarray(_std(device, later)), 10e-6 * _aihwkit_read_rel(10e-6, 1e6), rtol=1e-12)


def test_drift_exponent_statistics(pcm, getkey):
    targets = np.array([0.1e-6, 1.25e-6, 7.5e-6, G_MAX])  # x = 0.004 … 1: both clips of μ and σ in play
    nu = np.asarray(_programmed(pcm, targets, getkey()).drift_exponent).reshape(-1, len(targets))
    n = nu.shape[0]
    assert np.all(nu >= 0)
    for j, target in enumerate(targets):
        mu, sigma = _aihwkit_nu_normal(target)
        mean, std = _folded_normal(float(mu), float(sigma))
        assert abs(nu[:, j].mean() - mean) < 5 * std / math.sqrt(n), (target, nu[:, j].mean(), mean)
        assert abs(nu[:, j].std() - std) < 5 * std / math.sqrt(2 * n), (target, nu[:, j].std(), std)


def test_drift_exponent_clips(pcm):
    x = jnp.asarray([1e-9, 1e-4, 0.01, 0.3, 1.0])
    mu, sigma = pcm.drift.exponent_mean_std(x)
    ref_mu, ref_sigma = _aihwkit_nu_normal(np.asarray(x) * G_MAX)
    np.testing.assert_allclose(np.asarray(mu), ref_mu, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(sigma), ref_sigma, rtol=1e-14)
    assert float(mu[0]) == 0.1 and float(mu[-1]) == 0.049  # both clips reached
    assert float(sigma[0]) == 0.045 and float(sigma[-1]) == 0.008


# ----------------------------------------------------------------------------- programming noise
def test_programming_noise_std_is_aihwkits_polynomial(pcm, getkey):
    g = np.linspace(0.0, G_MAX, 11)
    np.testing.assert_allclose(_prog(pcm, g)[:11], _aihwkit_prog_std(g), rtol=1e-13)
    assert _prog(pcm, [0.0])[0] == pytest.approx(0.26348e-6, rel=1e-14)
    assert _prog(pcm, [G_MAX])[0] == pytest.approx((0.26348 + 1.9650 - 1.1731) * 1e-6, rel=1e-14)
    assert _prog(pcm, [2 * G_MAX])[0] == _prog(pcm, [G_MAX])[0]  # the target is clipped to [0, g_max]
    # scaled with g_max/g_ref when the window differs from aihwkit's 25 µS
    wide = eqx.tree_at(lambda d: d.g_max, pcm, 50e-6)
    assert _prog(wide, [50e-6])[0] == pytest.approx(2 * (0.26348 + 1.9650 - 1.1731) * 1e-6, rel=1e-14)
    # a deployment's draw g_T + N(0, σ) then init: the programmed cells spread by σ
    target = 12.5e-6
    sigma = _prog(pcm, [target])[0]
    g = target + sigma * np.asarray(jax.random.normal(getkey(), (N,), jnp.float64))
    spread = np.asarray(_programmed(pcm, g, getkey()).conductance).std()
    assert abs(spread - sigma) < 5 * sigma / math.sqrt(2 * N)


def test_programming_noise_std_shape_and_other_families(pcm):
    assert pcm.programming_noise_std(jnp.zeros((2, 3))).shape == (2, 3)
    for name in ("reram-sb", "mg-wo3", "cogd"):  # the contract's default: none known
        std = get_preset(name).programming_noise_std(jnp.full((2, 2), 1e-6))
        assert std.shape == (2, 2) and np.all(np.asarray(std) == 0)


# ----------------------------------------------------------------------------- read noise
def test_read_noise_std_follows_the_1f_law(pcm, getkey):
    targets = np.asarray(_cells([0.1e-6, 1e-6, 5e-6, 12.5e-6, G_MAX]))
    state = _programmed(pcm, targets, getkey())
    for t in (1e-7, T_READ, 1e-6, 1.0, T0, 3600.0, 1e6):
        later = _evolve(pcm, state, t)
        std = np.asarray(_std(pcm, later))
        if t <= T_READ:  # nothing accumulated yet
            np.testing.assert_array_equal(std, 0.0)
        else:
            expected = np.asarray(later.conductance) * _aihwkit_read_rel(targets, t)
            np.testing.assert_allclose(std, expected, rtol=1e-12)
    assert float(pcm.read_1f.q_s(jnp.asarray(1e-4))) == 0.2  # Q_s's ceiling at small conductances
    # white read noise adds in quadrature
    noisy = eqx.tree_at(lambda d: d.variability, pcm, StepVariability(read_noise=0.01))
    later = _evolve(noisy, state, 3600.0)
    rel = np.sqrt(0.01**2 + _aihwkit_read_rel(targets, 3600.0) ** 2)
    np.testing.assert_allclose(np.asarray(_std(noisy, later)), rel * np.asarray(later.conductance), rtol=1e-12)


def test_reads_spread_as_stated(pcm, getkey):
    state = _evolve(pcm, _programmed(pcm, [5e-6], getkey()), 86400.0)
    with pytest.raises(ValueError, match="key"):
        pcm.read(state)
    reads = np.asarray(eqx.filter_jit(lambda d, s, k: d.read(s, key=k))(_arrays(pcm), state, getkey()))
    z = (reads - np.asarray(state.conductance)) / np.asarray(_std(pcm, state))
    assert abs(z.mean()) < 5 / math.sqrt(N) and abs(z.std() - 1) < 5 / math.sqrt(2 * N)


# ----------------------------------------------------------------------------- pulses
def test_pulses_move_toward_the_bounds_and_reprogram(pcm, getkey):
    nominal = eqx.tree_at(lambda d: d.variability, pcm, StepVariability())
    state = _evolve(nominal, _programmed(nominal, [10e-6], getkey()), 3600.0)  # drifted, age 3600 s
    drifted = np.asarray(state.conductance)
    counts = np.asarray(_cells([5.0, 50.0, 3000.0, -5.0, -3000.0, 0.0]))
    after = _apply(nominal, state, counts, getkey())
    g = np.asarray(after.conductance)
    up, big_up, down, big_down, none = (counts == v for v in (5.0, 50.0, -5.0, -3000.0, 0.0))
    assert np.all(g[up] > drifted[up]) and np.all(g[big_up] > g[up][0])
    np.testing.assert_allclose(g[counts == 3000.0], pcm.g_max, rtol=1e-9)
    assert np.all(g[down] < drifted[down])
    np.testing.assert_allclose(g[big_down], pcm.g_min, rtol=1e-9)
    np.testing.assert_array_equal(g[none], drifted[none])
    # the soft-bounds closed form: 1 − x_n = (1 − x_0)(1 − a)^n up, x_n = x_0·(1 − a)^n down
    span = pcm.g_max - pcm.g_min
    a = 2 * pcm.step / span
    x0, x = (drifted - pcm.g_min) / span, (g - pcm.g_min) / span
    np.testing.assert_allclose(x[up], 1 - (1 - x0[up]) * (1 - a) ** 5, rtol=1e-12)
    np.testing.assert_allclose(x[big_up], 1 - (1 - x0[big_up]) * (1 - a) ** 50, rtol=1e-12)
    np.testing.assert_allclose(x[down], x0[down] * (1 - a) ** 5, rtol=1e-12)
    # pulsed cells are re-programmed: clock reset, g_prog the new value, a new ν
    pulsed = ~none
    np.testing.assert_array_equal(np.asarray(after.age)[pulsed], 0.0)
    np.testing.assert_array_equal(np.asarray(after.age)[none], 3600.0)
    np.testing.assert_array_equal(np.asarray(after.g_programmed)[pulsed], g[pulsed])
    np.testing.assert_array_equal(np.asarray(after.g_programmed)[none], 10e-6)
    nu_before, nu_after = np.asarray(state.drift_exponent), np.asarray(after.drift_exponent)
    assert np.all(nu_after[pulsed] != nu_before[pulsed])
    np.testing.assert_array_equal(nu_after[none], nu_before[none])
    # drift restarts from the new programming
    later = np.asarray(_evolve(nominal, after, 100.0).conductance)
    np.testing.assert_allclose(later[pulsed], g[pulsed] * 5.0 ** (-nu_after[pulsed]), rtol=1e-13)


def test_noisy_pulses_stay_in_bounds_and_energy_is_nonnegative(pcm, getkey):
    var = StepVariability(d2d_step=0.2, d2d_asymmetry=0.05, c2c=0.6, c2c_range=0.02, d2d_bounds=0.1,
                          stuck_min=0.05, stuck_max=0.05)
    device = eqx.tree_at(lambda d: d.variability, pcm, var)
    state = _programmed(device, [12e-6], getkey())
    start, stuck = np.asarray(state.conductance), np.asarray(state.stuck) != 0
    for i in range(3):
        counts = np.asarray(jax.random.randint(jax.random.fold_in(getkey(), i), (N,), -40, 40), np.float64)
        state = _evolve(device, _apply(device, state, counts, getkey()), 10.0)
        g = np.asarray(state.conductance)
        assert np.all(g <= np.asarray(state.g_max) * (1 + 1e-12)) and np.all(g > 0)
        np.testing.assert_array_equal(g[stuck], start[stuck])
    energy = device.pulse_energy(state)
    assert energy.up.shape == (N,)
    assert np.all(np.asarray(energy.up) == 5e-12) and np.all(np.asarray(energy.down) == 20e-12)


def test_default_init_is_the_reset_state_read_without_a_key(pcm, getkey):
    state = eqx.filter_jit(lambda d, k: d.init((3, 2), key=k))(pcm, getkey())
    assert isinstance(state, PCMState)
    np.testing.assert_array_equal(np.asarray(state.conductance), pcm.g_min)
    for field in (state.g_programmed, state.drift_exponent, state.age, state.step_up, state.step_down):
        assert field.shape == (3, 2)
    # just programmed, no 1/f noise yet: the contract's noiseless read (no key needed)
    assert pcm.read_noise_std(state) is None
    np.testing.assert_array_equal(np.asarray(pcm.read(state)), pcm.g_min)


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs_are_refused(pcm, getkey):
    state = _programmed(pcm, [5e-6], getkey())
    with pytest.raises(ValueError, match="duration"):
        pcm.evolve(state, -1.0)
    with pytest.raises(ValueError, match="duration"):
        pcm.evolve(state, float("inf"))
    with pytest.raises(ValueError, match="t0"):
        PCMDrift(t0=0.0)
    with pytest.raises(ValueError, match="mean_min"):
        PCMDrift(mean_min=0.2)
    with pytest.raises(ValueError, match="t_read"):
        PCMReadNoise(t_read=-1.0)
    with pytest.raises(ValueError, match="scale"):
        PCMProgrammingNoise(scale=-1.0)
    with pytest.raises(ValueError, match="g_min"):
        PCMDevice(g_min=30e-6)
    with pytest.raises(ValueError, match="asymmetry"):
        PCMDevice(asymmetry=1.0)
    with pytest.raises(TypeError, match="StepVariability"):
        PCMDevice(variability=Variability())
    with pytest.raises(TypeError, match="drift"):
        PCMDevice(drift=PCMReadNoise())
