"""Tests of the device models (synaptax.devices).

Every expectation is computed independently of the code under test: per-pulse loops in
numpy, NeuroSim's G(P) written out, sample statistics compared with the stated law within
a few σ/√N.  Small tests use one array shape (``CELLS``) so that JAX compiles each
operation once for the whole file.
"""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synaptax.devices import (
    PRESETS,
    AbstractPulsedDevice,
    ConstantStepDevice,
    ExpStepDevice,
    LinearStepDevice,
    LookupTableDevice,
    MagnetoIonicSynapse,
    PowStepDevice,
    PulseCounts,
    SoftBoundsDevice,
    StepVariability,
    Variability,
    get_preset,
)

G_MIN, G_MAX = 0.1e-6, 1.0e-6
SPAN = G_MAX - G_MIN
CELLS = 8
BIG = (200, 200)
NOISY = StepVariability(d2d_step=0.2, d2d_asymmetry=0.05, d2d_bounds=0.1, c2c=0.3, c2c_range=0.01)
FAULTY = StepVariability(d2d_step=0.2, c2c=0.3, stuck_min=0.2, stuck_max=0.2)


def _table(n=21):
    """A small synthetic measured table: potentiation steps that shrink to zero at g_max,
    depression steps that shrink towards g_min."""
    g = np.linspace(G_MIN, G_MAX, n)
    x = (g - G_MIN) / SPAN
    up = SPAN / 60 * (1.0 - x) ** 0.8
    down = -(SPAN / 80) * (0.1 + x)
    return g, up, down


def _lut(**kw):
    return LookupTableDevice(*_table(), **kw)


def _noise_free(device):
    return eqx.tree_at(lambda d: d.variability, device, type(device.variability)())


#: Every device class (default parameters and with variability), every preset.
DEVICES = {
    "constant": lambda: ConstantStepDevice(step=SPAN / 200),
    "constant-faulty": lambda: ConstantStepDevice(step=SPAN / 200, asymmetry=0.1, variability=FAULTY),
    "linear": lambda: LinearStepDevice(step=SPAN / 200, gamma_up=0.3, gamma_down=0.8),
    "linear-noisy": lambda: LinearStepDevice(step=SPAN / 200, asymmetry=-0.2, variability=NOISY),
    "soft-bounds": lambda: SoftBoundsDevice(step=SPAN / 200, asymmetry=0.3),
    "exp": lambda: ExpStepDevice(levels=60, nl_up=3.0, nl_down=-5.0),
    "exp-linear-limit": lambda: ExpStepDevice(levels=60, nl_up=0.0, nl_down=0.0, variability=NOISY),
    "pow": lambda: PowStepDevice(step=SPAN / 200, gamma_up=0.5, gamma_down=2.0),
    "pow-noisy": lambda: PowStepDevice(step=SPAN / 200, gamma_up=1.5, gamma_down=0.7, variability=FAULTY),
    "lookup-table": _lut,
    "lookup-table-noisy": lambda: _lut(variability=NOISY),
    **{f"preset-{name}": factory for name, factory in PRESETS.items()},
}
NOISE_FREE = [n for n in sorted(DEVICES) if not n.endswith("noisy") and n != "constant-faulty"]
_DEVICES = {}


def _device(name):
    if name not in _DEVICES:
        _DEVICES[name] = DEVICES[name]()
    return _DEVICES[name]


def _init(device, g0, key):
    """``device.init`` at initial conductances ``g0`` [S] (its shape is the array's)."""
    g0 = jnp.asarray(g0, dtype=jnp.float64)
    return device.init(g0.shape, key=key, conductance=g0)


_jitted_apply = eqx.filter_jit(lambda device, state, n, key: device.apply_pulses(state, n, key=key))


def _pulse(device, state, n, key):
    """``device.apply_pulses``: eager for the closed-form generic devices (JAX caches each
    primitive, shared by every such device of the file), jitted for the others (the power
    step's ``while_loop``, other families' integrators: an eager call would trace and
    compile them anew every time)."""
    n = n if isinstance(n, PulseCounts) else jnp.asarray(n, dtype=jnp.float64)
    if isinstance(device, PowStepDevice) or not isinstance(device, AbstractPulsedDevice):
        return _jitted_apply(device, state, n, key)
    return device.apply_pulses(state, n, key=key)


def _x(device, state):
    """Normalised conductance of a nominal-bounds device."""
    g_lo, g_hi = device.conductance_range
    return (np.asarray(device.conductance(state)) - g_lo) / (g_hi - g_lo)


# --------------------------------------------------------------------------- bounds
pulse_rounds = st.lists(st.lists(st.integers(-3000, 3000), min_size=CELLS, max_size=CELLS), min_size=1, max_size=3)
start = st.lists(st.floats(0.0, 1.0), min_size=CELLS, max_size=CELLS)


#: Devices that integrate a rate law over the train's time (magneto-ionic cells): each
#: hypothesis example runs an adaptive integrator over up to 3000 pulse periods, so they
#: get fewer examples (the same properties; their own file checks the state with more).
INTEGRATED = sorted(n for n in DEVICES if isinstance(_device(n), MagnetoIonicSynapse))
CLOSED_FORM = sorted(set(DEVICES) - set(INTEGRATED))


@pytest.mark.parametrize("name", CLOSED_FORM)
@settings(max_examples=30, deadline=None)
@given(rounds=pulse_rounds, x0=start, seed=st.integers(0, 2**31 - 1))
def test_conductance_stays_within_bounds_and_stuck_cells_never_move(name, rounds, x0, seed):
    _check_bounds_and_stuck(name, rounds, x0, seed)


@pytest.mark.parametrize("name", INTEGRATED)
@settings(max_examples=8, deadline=None)
@given(rounds=pulse_rounds, x0=start, seed=st.integers(0, 2**31 - 1))
def test_integrated_conductance_stays_within_bounds_and_stuck_cells_never_move(name, rounds, x0, seed):
    _check_bounds_and_stuck(name, rounds, x0, seed)


def _check_bounds_and_stuck(name, rounds, x0, seed):
    device = _device(name)
    key = jax.random.key(seed)
    g_lo, g_hi = device.conductance_range
    state = _init(device, g_lo + np.asarray(x0) * (g_hi - g_lo), key)
    g_start = np.asarray(state.conductance)
    stuck = np.asarray(state.stuck) != 0
    for i, n in enumerate(rounds):
        state = _pulse(device, state, n, jax.random.fold_in(key, i))
        g = np.asarray(device.conductance(state))
        assert np.all(np.isfinite(g))
        assert np.all(g >= np.asarray(state.g_min)) and np.all(g <= np.asarray(state.g_max))
        assert np.all(np.asarray(state.g_min) >= 0)
        np.testing.assert_array_equal(g[stuck], g_start[stuck])


counts = st.lists(st.integers(0, 3000), min_size=CELLS, max_size=CELLS)


@pytest.mark.parametrize("name", [n for n in NOISE_FREE if n in CLOSED_FORM])
@settings(max_examples=30, deadline=None)
@given(n=counts, x0=start)
def test_potentiation_never_lowers_and_depression_never_raises_conductance(name, n, x0):
    _check_monotonic(name, n, x0)


@pytest.mark.parametrize("name", [n for n in NOISE_FREE if n in INTEGRATED])
@settings(max_examples=8, deadline=None)
@given(n=counts, x0=start)
def test_integrated_potentiation_never_lowers_and_depression_never_raises_conductance(name, n, x0):
    _check_monotonic(name, n, x0)


def _check_monotonic(name, n, x0):
    device = _noise_free(_device(name))
    key = jax.random.key(0)
    g_lo, g_hi = device.conductance_range
    state = _init(device, g_lo + np.asarray(x0) * (g_hi - g_lo), key)
    g0 = np.asarray(state.conductance)
    g_up = np.asarray(_pulse(device, state, n, key).conductance)
    g_down = np.asarray(_pulse(device, state, -np.asarray(n), key).conductance)
    tol = 0.0
    if isinstance(device, MagnetoIonicSynapse):
        # time passes during a magneto-ionic train (the array takes ceil(max n·burst)
        # periods, then the rest) and a cell recovers at 0 V: the reference is the same
        # time at 0 V, not the start (rounding of two integration step sequences allowed)
        train = device.train
        duration = np.ceil(max(n) * train.burst) * train.period + train.rest
        g0 = np.asarray(device.evolve(state, duration).conductance)
        tol = 1e-9 * (g_hi - g_lo)
        if device.integrator == "fast":
            # the whole-train integrator takes a cell without pulses through the train's
            # time in a few long steps, evolve in its own: they differ by the integrator's
            # error at zero count, up to FAST_MAX_COUNT pulses (magnetoionic/README.md,
            # "Speed at array scale": at most 0.25 nominal steps, tests/test_family_speed.py);
            # longer trains run the step-by-step integration
            tol = max(tol, 0.25 * device.nominal_step)
    assert np.all(g_up >= g0 - tol), (g0[g_up < g0 - tol], g_up[g_up < g0 - tol])
    assert np.all(g_down <= g0 + tol), (g0[g_down > g0 + tol], g_down[g_down > g0 + tol])


def test_lookup_table_cell_beyond_trajectory_end_is_not_pulled_back(getkey):
    # potentiation steps vanish above 0.75 of the range: the trajectory from g_min ends near
    # 0.8, but a cell programmed higher (or reached by depression from g_max) must not drop
    g = np.linspace(G_MIN, G_MAX, 11)
    device = LookupTableDevice(g, np.where(g < 0.75e-6, SPAN / 40, 0.0), np.full(11, SPAN / 40))
    g0 = np.linspace(0.85e-6, G_MAX, CELLS)
    state = _init(device, g0, getkey())
    after = _pulse(device, state, np.arange(1.0, CELLS + 1), getkey()).conductance
    np.testing.assert_array_equal(np.asarray(after), g0)


# --------------------------------------------------------------------------- laws vs per-pulse loops
def _loop(x0, n, delta):
    """Apply ``n`` pulses of the per-pulse law ``x ← clip(x + delta(x), 0, 1)`` (numpy)."""
    x = np.array(x0, dtype=np.float64)
    for _ in range(int(n)):
        x = np.clip(x + delta(x), 0.0, 1.0)
    return x


def _apply_from(device, x0, n, key):
    """Normalised conductance after ``n`` pulses from normalised ``x0``."""
    state = _init(device, G_MIN + np.asarray(x0) * SPAN, key)
    n = n if isinstance(n, PulseCounts) else np.broadcast_to(n, np.shape(x0))
    return _x(device, _pulse(device, state, n, key))


X0 = np.array([0.0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_geometric_steps_integer_path_equals_transcendental_form(dtype):
    # whole counts take the binary-splitting path, which must equal -expm1(n·log1p(-c))/c
    from synaptax.devices.generic import pulsed

    rng = np.random.default_rng(3)
    c = jnp.asarray(np.concatenate([[0.0, 1e-9, 0.5, 0.999], rng.uniform(1e-4, 0.05, 60)]), dtype)
    c64 = np.float64(c)
    big = c64 > 0
    want = lambda n: np.where(big, -np.expm1(np.float64(n) * np.log1p(-c64)) / np.where(big, c64, 1), n)  # noqa: E731
    tol = 1e-5 if dtype == jnp.float32 else 1e-12
    for top in (1, 3, 15, 200, 65535):
        n = jnp.asarray(rng.integers(0, top + 1, c.shape), dtype).at[-1].set(top)
        for f in (pulsed.geometric_steps, jax.jit(pulsed.geometric_steps)):
            got = np.asarray(f(c, n))
            exact = c64 >= 1e-7  # below: the second-order series in c (relative error (n·c)²/12)
            np.testing.assert_allclose(got[exact], want(n)[exact], rtol=tol * max(1.0, np.log2(top + 1)), atol=0)
            np.testing.assert_allclose(got[~exact], want(n)[~exact], rtol=max(tol, 1e-8), atol=0)
    # fractional and very large counts: the general form
    n = jnp.asarray(rng.uniform(0, 5, c.shape), dtype)
    np.testing.assert_allclose(np.asarray(jax.jit(pulsed.geometric_steps)(c, n)), want(n), rtol=tol)


def test_whole_count_range_switch_picks_the_shortest_range():
    from synaptax.devices.generic import pulsed

    def seen(n, **kw):
        f = jax.jit(lambda n: pulsed.by_whole_count_range(lambda bits: jnp.asarray(bits), n, **kw))
        return int(f(jnp.asarray(n)))

    for n, bits in (([0.0, 1.0], 4), ([3.0, 15.0], 4), ([16.0], 16), ([65535.0], 16),
                    ([65536.0], 0), ([0.5], 0), ([-1.0], 0)):
        assert seen(n) == bits, n
    # a static bound on whole counts: ranges up to its bit length, no general branch
    for n, bits in (([0.0, 15.0], 4), ([16.0], 11), ([1984.0], 11)):
        assert seen(n, max_count=1984) == bits, n
    assert seen([3.0], max_count=3) == 2


@pytest.mark.parametrize("n", [1, 7, 150, 900])
def test_soft_bounds_closed_form_equals_per_pulse_loop(n, getkey):
    beta, step = 0.3, SPAN / 300
    device = SoftBoundsDevice(g_min=G_MIN, g_max=G_MAX, step=step, asymmetry=beta)
    a_up, a_down = step * (1 + beta) / SPAN, step * (1 - beta) / SPAN
    up = _loop(X0, n, lambda x: 2 * a_up * (1 - x))
    down = _loop(X0, n, lambda x: -2 * a_down * x)
    np.testing.assert_allclose(_apply_from(device, X0, n, getkey()), up, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_apply_from(device, X0, -n, getkey()), down, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 150, 900])
def test_linear_step_closed_form_equals_per_pulse_loop(n, getkey):
    beta, step, gu, gd = -0.15, SPAN / 300, 0.3, 0.8
    device = LinearStepDevice(g_min=G_MIN, g_max=G_MAX, step=step, asymmetry=beta, gamma_up=gu, gamma_down=gd)
    a_up, a_down = step * (1 + beta) / SPAN, step * (1 - beta) / SPAN
    up = _loop(X0, n, lambda x: a_up * (1 + gu * (1 - 2 * x)))
    down = _loop(X0, n, lambda x: -a_down * (1 + gd * (2 * x - 1)))
    np.testing.assert_allclose(_apply_from(device, X0, n, getkey()), up, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_apply_from(device, X0, -n, getkey()), down, rtol=0, atol=1e-12)


def test_pulse_counts_apply_potentiation_then_depression(getkey):
    device = LinearStepDevice(g_min=G_MIN, g_max=G_MAX, step=SPAN / 100, gamma_up=0.6, gamma_down=0.2)
    a = SPAN / 100 / SPAN
    x = _loop(X0, 40, lambda x: a * (1 + 0.6 * (1 - 2 * x)))
    x = _loop(x, 25, lambda x: -a * (1 + 0.2 * (2 * x - 1)))
    got = _apply_from(device, X0, PulseCounts(jnp.full(CELLS, 40.0), jnp.full(CELLS, 25.0)), getkey())
    np.testing.assert_allclose(got, x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 13, 200])
def test_pow_step_equals_per_pulse_loop(n, getkey):
    beta, step, gu, gd = 0.1, SPAN / 150, 0.5, 2.0
    device = PowStepDevice(g_min=G_MIN, g_max=G_MAX, step=step, asymmetry=beta, gamma_up=gu, gamma_down=gd)
    a_up, a_down = step * (1 + beta) / SPAN, step * (1 - beta) / SPAN
    up = _loop(X0, n, lambda x: a_up * (2 * (1 - x)) ** gu)
    down = _loop(X0, n, lambda x: -a_down * (2 * x) ** gd)
    np.testing.assert_allclose(_apply_from(device, X0, n, getkey()), up, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_apply_from(device, X0, -n, getkey()), down, rtol=0, atol=1e-12)


def test_pow_step_fractional_count_applies_fraction_of_last_step(getkey):
    step, gu = SPAN / 150, 1.5
    device = PowStepDevice(g_min=G_MIN, g_max=G_MAX, step=step, gamma_up=gu)
    rate = lambda x: step / SPAN * (2 * (1 - x)) ** gu  # noqa: E731
    x = _loop(X0, 6, rate)
    x = np.clip(x + 0.25 * rate(x), 0, 1)
    np.testing.assert_allclose(_apply_from(device, X0, 6.25, getkey()), x, rtol=0, atol=1e-12)


def _neurosim_g(p, levels, nl, g_min, g_max):
    """NeuroSim's G(P) = B(1 − e^(−P/A)) + G_min with B = span/(1 − e^(−P_max/A)), A = P_max/NL."""
    a = levels / abs(nl)
    b = (g_max - g_min) / (1 - np.exp(-levels / a))
    return b * (1 - np.exp(-p / a)) + g_min


UP, DOWN = slice(0, CELLS // 2), slice(CELLS // 2, CELLS)
SIGNS = np.where(np.arange(CELLS) < CELLS // 2, 1.0, -1.0)  # first half potentiated, second depressed


@pytest.mark.parametrize("preset", ["ag-asi", "taox-hfox", "pcmo", "alox-hfo2", "epiram"])
def test_exp_step_follows_neurosim_curve(preset, getkey):
    device = _noise_free(get_preset(preset))
    g_min, g_max = device.conductance_range
    chunks = [1, 4, 12, int(device.levels) // 2]
    p = np.cumsum(chunks)
    # potentiation from g_min, depression from g_max, in chunks of pulses
    state = _init(device, np.where(SIGNS > 0, g_min, g_max), getkey())
    got = []
    for n in chunks:
        state = _pulse(device, state, SIGNS * n, getkey())
        got.append(np.asarray(state.conductance))
    got = np.array(got)
    want_up = _neurosim_g(p, device.levels, device.nl_up, g_min, g_max)
    want_down = g_max - (_neurosim_g(p, device.levels, device.nl_down, g_min, g_max) - g_min)
    np.testing.assert_allclose(got[:, UP], np.repeat(want_up[:, None], CELLS // 2, 1), rtol=1e-10)
    np.testing.assert_allclose(got[:, DOWN], np.repeat(want_down[:, None], CELLS // 2, 1), rtol=1e-10)
    # P_max pulses span the whole range
    state = _pulse(device, _init(device, np.where(SIGNS > 0, g_min, g_max), getkey()), SIGNS * device.levels,
                   getkey())
    np.testing.assert_allclose(np.asarray(state.conductance), np.where(SIGNS > 0, g_max, g_min), rtol=1e-10)


def _trajectory_loop(delta, n_pulses):
    """Normalised positions 0, 1, …, n_pulses of the per-pulse law ``x ← min(x + delta(x), 1)``."""
    xs = [0.0]
    for _ in range(n_pulses):
        xs.append(min(xs[-1] + delta(xs[-1]), 1.0))
    return np.array(xs)


def test_lookup_table_is_exact_at_trajectory_points(getkey):
    g, up, down = _table()
    xg = (g - G_MIN) / SPAN
    device = LookupTableDevice(g, up, down)
    traj_up = _trajectory_loop(lambda x: np.interp(x, xg, up / SPAN), 200)
    traj_down = 1 - _trajectory_loop(lambda y: np.interp(1 - y, xg, np.abs(down) / SPAN), 200)
    chunks = [1, 3, 10, 25]
    idx = np.cumsum(chunks)
    state = _init(device, np.where(SIGNS > 0, G_MIN, G_MAX), getkey())
    got = []
    for n in chunks:
        state = _pulse(device, state, SIGNS * n, getkey())
        got.append(_x(device, state))
    got = np.array(got)
    np.testing.assert_allclose(got[:, UP], np.repeat(traj_up[idx, None], CELLS // 2, 1), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[:, DOWN], np.repeat(traj_down[idx, None], CELLS // 2, 1), rtol=0, atol=1e-9)
    # starting mid-trajectory (at its 7th point), 11 more pulses land on the 18th
    state = _init(device, np.full(CELLS, G_MIN + traj_up[7] * SPAN), getkey())
    state = _pulse(device, state, np.full(CELLS, 11.0), getkey())
    np.testing.assert_allclose(_x(device, state), traj_up[18], rtol=0, atol=1e-9)


def test_lookup_table_csv_round_trip(tmp_path, getkey):
    g, up, down = _table()
    path = tmp_path / "device.csv"
    lines = ["# synthetic device", "note, delta_down_S, conductance_S, delta_up_S"]
    lines += [f"row{i}, {d:.17g}, {c:.17g}, {u:.17g}" for i, (c, u, d) in enumerate(zip(g, up, down))]
    path.write_text("\n".join(lines) + "\n")
    loaded = LookupTableDevice.from_csv(path)
    direct = LookupTableDevice(g, up, down)
    assert loaded.conductance_range == (G_MIN, G_MAX)
    np.testing.assert_array_equal(np.asarray(loaded.trajectory_up), np.asarray(direct.trajectory_up))
    np.testing.assert_array_equal(np.asarray(loaded.trajectory_down), np.asarray(direct.trajectory_down))
    state = _init(loaded, np.where(SIGNS > 0, G_MIN, G_MAX), getkey())
    state = _pulse(loaded, state, np.where(SIGNS > 0, 5.0, -4.0), getkey())
    xg = (g - G_MIN) / SPAN
    want_up = _loop(0.0, 5, lambda x: np.interp(x, xg, up / SPAN))
    want_down = _loop(1.0, 4, lambda x: -np.interp(x, xg, np.abs(down) / SPAN))
    np.testing.assert_allclose(_x(loaded, state), np.where(SIGNS > 0, want_up, want_down), rtol=0, atol=1e-9)


def test_lookup_table_csv_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("conductance_S,delta_up_S\n1e-7,1e-9\n1e-6,1e-9\n")
    with pytest.raises(ValueError, match="missing column.*delta_down_S"):
        LookupTableDevice.from_csv(path)


def test_lookup_table_non_monotonic_conductance(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("conductance_S,delta_up_S,delta_down_S\n1e-7,1e-9,1e-9\n5e-7,1e-9,1e-9\n4e-7,1e-9,1e-9\n")
    with pytest.raises(ValueError, match="conductance must be strictly increasing"):
        LookupTableDevice.from_csv(path)
    with pytest.raises(ValueError, match="conductance must be strictly increasing"):
        LookupTableDevice([1e-7, 1e-7, 1e-6], [1e-9] * 3, [1e-9] * 3)


def test_lookup_table_non_numeric_entry(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("conductance_S,delta_up_S,delta_down_S\n1e-7,abc,1e-9\n1e-6,1e-9,1e-9\n")
    with pytest.raises(ValueError, match="delta_up_S"):
        LookupTableDevice.from_csv(path)



# --------------------------------------------------------------------------- statistics
N_KEYS = 4000


def _many_keys(device, state, n, key, n_keys=N_KEYS):
    """Conductances after applying ``n`` pulses to ``state`` with each of ``n_keys`` keys."""
    keys = jax.random.split(key, n_keys)
    return np.asarray(jax.jit(jax.vmap(lambda k: device.apply_pulses(state, n, key=k).conductance))(keys))


def _check_mean_std(samples, mean, std, z=5.0):
    """Sample mean and standard deviation (per column) of Gaussian samples agree with
    ``mean``/``std`` within ``z`` standard errors (σ/√N and σ/√(2(N−1)))."""
    n = samples.shape[0]
    np.testing.assert_array_less(np.abs(samples.mean(0) - mean), z * std / np.sqrt(n))
    np.testing.assert_array_less(np.abs(samples.std(0, ddof=1) - std), z * std / np.sqrt(2 * (n - 1)))


def test_constant_step_c2c_mean_and_spread(getkey):
    step, c2c = SPAN / 1000, 0.3
    device = ConstantStepDevice(g_min=G_MIN, g_max=G_MAX, step=step, variability=StepVariability(c2c=c2c))
    n = np.array([1.0, 4.0, 25.0, 2.5, -1.0, -9.0, -30.0, -0.5])
    state = _init(device, np.full(CELLS, 0.5 * (G_MIN + G_MAX)), getkey())
    dg = _many_keys(device, state, jnp.asarray(n), getkey()) - np.asarray(state.conductance)
    # n pulses: mean n·step, std c2c·n·step/√n (n independent per-pulse errors); a
    # fractional count below one is one pulse scaled
    _check_mean_std(dg, n * step, c2c * np.abs(n) * step / np.sqrt(np.maximum(np.abs(n), 1.0)))


def test_soft_bounds_c2c_mean_and_spread(getkey):
    beta, step, c2c = 0.2, SPAN / 500, 0.3
    device = SoftBoundsDevice(g_min=G_MIN, g_max=G_MAX, step=step, asymmetry=beta, variability=StepVariability(c2c=c2c))
    x0 = np.array([0.2, 0.5, 0.7, 0.1, 0.3, 0.5, 0.9, 0.6])
    n = np.array([3.0, 10.0, 40.0, 1.0, -3.0, -10.0, -40.0, -1.0])
    state = _init(device, G_MIN + x0 * SPAN, getkey())
    a_up, a_down = step * (1 + beta) / SPAN, step * (1 - beta) / SPAN
    want = np.array([
        _loop(x, abs(k), (lambda x: 2 * a_up * (1 - x)) if k > 0 else (lambda x: -2 * a_down * x))
        for x, k in zip(x0, n)
    ])
    dg_det = (want - x0) * SPAN
    dg = _many_keys(device, state, jnp.asarray(n), getkey()) - np.asarray(state.conductance)
    # each pulse: y ← y·(1 − c − c·c2c·ξ) with y the distance to the bound it moves to and
    # c = 2·step/span, so Var(y_n) = y_0²·[((1 − c)² + c²c2c²)^n − (1 − c)^{2n}] exactly
    c = np.where(n > 0, 2 * a_up, 2 * a_down)
    y0 = np.where(n > 0, 1 - x0, x0) * SPAN
    k = np.abs(n)
    var = y0**2 * (((1 - c) ** 2 + (c * c2c) ** 2) ** k - (1 - c) ** (2 * k))
    _check_mean_std(dg, dg_det, np.sqrt(var))


def test_exp_step_c2c_range_mean_and_spread(getkey):
    device = get_preset("epiram")
    g_min, g_max = device.conductance_range
    sigma = device.variability.c2c_range
    n = np.array([1.0, 4.0, 2.0, 6.0, -2.0, -5.0, -1.0, -3.0])
    g0 = 0.5 * (g_min + g_max)
    state = _init(device, np.full(CELLS, g0), getkey())
    a_up, a_down = device.levels / abs(device.nl_up), device.levels / abs(device.nl_down)
    # NeuroSim: invert G(P) for the present pulse number, add n, evaluate
    p_up = -a_up * np.log(1 - (g0 - g_min) / (g_max - g_min) * (1 - np.exp(-device.levels / a_up)))
    p_down = -a_down * np.log(1 - (g_max - g0) / (g_max - g_min) * (1 - np.exp(-device.levels / a_down)))
    want = np.where(
        n > 0,
        _neurosim_g(p_up + np.abs(n), device.levels, device.nl_up, g_min, g_max),
        g_max - (_neurosim_g(p_down + np.abs(n), device.levels, device.nl_down, g_min, g_max) - g_min),
    )
    g = _many_keys(device, state, jnp.asarray(n), getkey())
    # NeuroSim's cycle-to-cycle noise N(0, σ·(G_max − G_min)) after every pulse; a later pulse
    # carries an earlier error on times its contraction ρ = dx_{k+1}/dx_k = e^{−|NL|/P_max}
    rho = np.exp(-np.where(n > 0, abs(device.nl_up), abs(device.nl_down)) / device.levels)
    k = np.abs(n)
    _check_mean_std(g, want, sigma * (g_max - g_min) * np.sqrt((1 - rho ** (2 * k)) / (1 - rho**2)))


#: Generic laws with per-pulse noise: n pulses in one call against n calls of one pulse.
#: Affine laws are exact; the power step's and the lookup table's n-pulse noise is the
#: first-order estimate along a geometric step profile (measured with 25,000 cells per
#: group: within 2.4 % in std here, like the affine laws' sampling scatter).
N_IN_ONE = {
    "constant": (lambda v: ConstantStepDevice(step=SPAN / 200, asymmetry=0.1, variability=v), 0.0),
    "linear": (lambda v: LinearStepDevice(step=SPAN / 150, gamma_up=0.7, gamma_down=0.3, variability=v), 0.0),
    "soft-bounds": (lambda v: SoftBoundsDevice(step=SPAN / 100, asymmetry=-0.2, variability=v), 0.0),
    "exp": (lambda v: ExpStepDevice(levels=60, nl_up=3.0, nl_down=-2.0, variability=v), 0.0),
    "pow": (lambda v: PowStepDevice(step=SPAN / 120, gamma_up=2.0, gamma_down=0.5, variability=v), 0.02),
    "lookup": (lambda v: _lut(variability=v), 0.02),
}


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["c2c", "c2c_range"])
@pytest.mark.parametrize("law", sorted(N_IN_ONE))
def test_n_pulses_in_one_call_match_n_single_pulse_calls_in_distribution(law, noise, getkey):
    factory, approx = N_IN_ONE[law]
    variability = StepVariability(c2c=0.5) if noise == "c2c" else StepVariability(c2c_range=0.01)
    device = factory(variability)
    cells = 40_000  # 10,000 per group: a 6 % error in the spread is 4.5 standard errors
    x0 = np.tile([0.3, 0.6, 0.45, 0.5], cells // 4)
    n = np.tile([12.0, -12.0, 25.0, -25.0], cells // 4)
    state = _init(device, G_MIN + x0 * SPAN, getkey())

    one_call = np.asarray(_jitted_apply(device, state, jnp.asarray(n), getkey()).conductance)

    def single(carry, key):
        return _jitted_apply(device, carry, jnp.asarray(np.sign(n)), key), None

    many, _ = jax.lax.scan(single, state, jax.random.split(getkey(), 25))
    # cells that got fewer than 25 pulses: run those with the matching count only
    loop = np.asarray(many.conductance)
    state12 = jax.lax.scan(single, state, jax.random.split(getkey(), 12))[0]
    loop = np.where(np.abs(n) == 12, np.asarray(state12.conductance), loop)
    for k in range(4):  # one group of cells per (x0, n): compare their distributions
        a, b = one_call[k::4], loop[k::4]
        z = 4.5
        sa, sb = a.std(ddof=1), b.std(ddof=1)
        se_mean = np.sqrt((sa**2 + sb**2) / a.size)
        assert abs(a.mean() - b.mean()) < z * se_mean + 1e-3 * abs(b.mean() - G_MIN - x0[k] * SPAN), (law, k)
        se_std = sb * np.sqrt(2.0 / a.size)
        assert abs(sa - sb) < z * se_std + approx * sb, (law, k, sa, sb)


def test_d2d_spreads_match_requested(getkey):
    step = SPAN / 1000
    device = ConstantStepDevice(g_min=G_MIN, g_max=G_MAX, step=step, asymmetry=0.05,
                                variability=StepVariability(d2d_step=0.1, d2d_asymmetry=0.03, d2d_bounds=0.05))
    state = _init(device, np.full(BIG, G_MIN), getkey())
    m = BIG[0] * BIG[1]
    z = 5.0
    # step scale and asymmetry are sampled independently: step_up + step_down = 2·step·scale
    scale = (np.asarray(state.step_up) + np.asarray(state.step_down)) / (2 * step)
    assert abs(scale.mean() - 1.0) < z * 0.1 / np.sqrt(m)
    assert abs(scale.std() - 0.1) < z * 0.1 / np.sqrt(2 * m)
    beta = (np.asarray(state.step_up) - np.asarray(state.step_down)) / (2 * step * scale)
    assert abs(beta.mean() - 0.05) < z * 0.03 / np.sqrt(m)
    assert abs(beta.std() - 0.03) < z * 0.03 / np.sqrt(2 * m)
    # the weight bounds (distance of each bound from the window's centre) spread by 5 % each
    centre, half = 0.5 * (G_MIN + G_MAX), 0.5 * SPAN
    for bound in ((np.asarray(state.g_max) - centre) / half, (centre - np.asarray(state.g_min)) / half):
        assert abs(bound.mean() - 1.0) < z * 0.05 / np.sqrt(m)
        assert abs(bound.std() - 0.05) < z * 0.05 / np.sqrt(2 * m)
    # with only a step spread, step_up itself has the requested relative spread
    device = ConstantStepDevice(g_min=G_MIN, g_max=G_MAX, step=step, variability=StepVariability(d2d_step=0.1))
    up = np.asarray(_init(device, np.full(BIG, G_MIN), getkey()).step_up) / step
    assert abs(up.mean() - 1.0) < z * 0.1 / np.sqrt(m)
    assert abs(up.std() - 0.1) < z * 0.1 / np.sqrt(2 * m)


def test_stuck_fractions_and_stuck_cells_never_move(getkey):
    p_min, p_max = 0.1, 0.05
    device = SoftBoundsDevice(g_min=G_MIN, g_max=G_MAX, step=SPAN / 100,
                              variability=StepVariability(stuck_min=p_min, stuck_max=p_max, c2c=0.5))
    state = _init(device, np.full(BIG, 0.5e-6), getkey())
    stuck = np.asarray(state.stuck)
    m = stuck.size
    for code, p in ((1, p_min), (2, p_max)):
        assert abs((stuck == code).mean() - p) < 5 * np.sqrt(p * (1 - p) / m)
    g = np.asarray(state.conductance)
    np.testing.assert_array_equal(g[stuck == 1], np.asarray(state.g_min)[stuck == 1])
    np.testing.assert_array_equal(g[stuck == 2], np.asarray(state.g_max)[stuck == 2])
    pulses = np.asarray(jax.random.randint(getkey(), BIG, -50, 51), dtype=float)
    new = np.asarray(_pulse(device, state, pulses, getkey()).conductance)
    np.testing.assert_array_equal(new[stuck != 0], g[stuck != 0])
    moved = (stuck == 0) & (pulses != 0)
    assert np.all(new[moved] != g[moved])


def test_read_noise_spread_and_key_required(getkey):
    device = get_preset("reram-sb")
    state = _init(device, np.full(BIG, 5e-6), getkey())
    rel = np.asarray(device.read(state, key=getkey())) / np.asarray(state.conductance) - 1.0
    sigma, m = device.variability.read_noise, rel.size
    assert abs(rel.mean()) < 5 * sigma / np.sqrt(m)
    assert abs(rel.std() - sigma) < 5 * sigma / np.sqrt(2 * m)
    with pytest.raises(ValueError, match="key"):
        device.read(state)
    np.testing.assert_array_equal(np.asarray(device.conductance(state)), np.asarray(state.conductance))
    np.testing.assert_allclose(np.asarray(device.read_noise_std(state)), sigma * np.asarray(state.conductance))


# --------------------------------------------------------------------------- presets
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_steps(name, getkey):
    device = get_preset(name)
    g_lo, g_hi = device.conductance_range
    assert 0 <= g_lo < g_hi
    assert device.nominal_step > 0
    mid = np.full(CELLS, 0.5 * (g_lo + g_hi))
    # nominal cells (variability off) move up, then down, from mid-range
    nominal = _noise_free(device)
    state = _init(nominal, mid, getkey())
    up = _pulse(nominal, state, np.full(CELLS, 10.0), getkey())
    down = _pulse(nominal, up, np.full(CELLS, -7.0), getkey())
    assert np.all(np.asarray(nominal.conductance(up)) > mid)
    assert np.all(np.asarray(nominal.conductance(down)) < np.asarray(nominal.conductance(up)))
    # the preset itself, with its variability
    state = _init(device, mid, getkey())
    up = _pulse(device, state, np.full(CELLS, 10.0), getkey())
    down = _pulse(device, up, np.full(CELLS, -7.0), getkey())
    g = np.asarray(device.conductance(down))
    assert not np.array_equal(g, np.asarray(device.conductance(state)))
    assert np.all(g >= np.asarray(down.g_min)) and np.all(g <= np.asarray(down.g_max))
    later = device.evolve(down, 1.0)
    g_later = np.asarray(device.conductance(later))
    assert g_later.shape == (CELLS,) and np.all(np.isfinite(g_later)) and np.all(g_later >= 0)
    r = np.asarray(device.read(later, key=getkey()))
    assert r.shape == (CELLS,) and np.all(np.isfinite(r)) and np.all(r >= 0)
    energy = device.pulse_energy(later)
    for e in energy:
        e = np.asarray(e)
        assert e.shape == (CELLS,) and np.all(np.isfinite(e)) and np.all(e >= 0)
    if isinstance(device, AbstractPulsedDevice):
        # the generic pulsed devices' write energy: V²·G·t per pulse
        for e in energy:
            np.testing.assert_allclose(np.asarray(e), device.pulse_voltage**2 * g_later * device.pulse_width,
                                       rtol=1e-12)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown device 'nope'; valid names: ") as err:
        get_preset("nope")
    for name in PRESETS:
        assert name in str(err.value)


# --------------------------------------------------------------------------- transformations
@pytest.mark.parametrize("name", ["constant-faulty", "linear-noisy", "exp-linear-limit", "pow-noisy",
                                  "lookup-table-noisy", "preset-reram-sb"])
def test_jit_equals_eager_and_vmap_equals_loop(name, getkey):
    device = _device(name)
    g_lo, g_hi = device.conductance_range
    state = _init(device, np.full(CELLS, 0.5 * (g_lo + g_hi)), getkey())
    n = jnp.array([3.0, -2.0, 0.0, 7.0, -5.0, 40.0, -40.0, 2.5])
    key = getkey()
    eager = device.apply_pulses(state, n, key=key).conductance
    jitted = jax.jit(lambda s, n, k: device.apply_pulses(s, n, key=k).conductance)(state, n, key)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12, atol=0)
    keys = jax.random.split(getkey(), 4)
    batched = jax.jit(jax.vmap(lambda k: device.apply_pulses(state, n, key=k).conductance))(keys)
    looped = jnp.stack([device.apply_pulses(state, n, key=k).conductance for k in keys])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-12, atol=0)
    # different keys give different noise
    assert not np.array_equal(np.asarray(batched[0]), np.asarray(batched[1]))


def test_vmap_over_initial_states(getkey):
    device = _device("linear-noisy")
    keys = jax.random.split(getkey(), 3)
    states = jax.jit(jax.vmap(lambda k: device.init((CELLS,), key=k)))(keys)
    for i, k in enumerate(keys):
        one = _init(device, np.full(CELLS, G_MIN), k)
        np.testing.assert_allclose(np.asarray(states.step_up[i]), np.asarray(one.step_up), rtol=1e-14)
    assert not np.array_equal(np.asarray(states.step_up[0]), np.asarray(states.step_up[1]))


def test_jitted_update_does_not_retrace(getkey):
    device = _device("linear-noisy")
    traces = []

    @jax.jit
    def update(state, n, key):
        traces.append(1)
        return device.apply_pulses(state, n, key=key)

    state = _init(device, np.full(CELLS, 0.5e-6), getkey())
    state = update(state, jnp.arange(CELLS, dtype=float) - 3, getkey())
    state = update(state, 5 - jnp.arange(CELLS, dtype=float), getkey())
    jax.block_until_ready(state)
    assert len(traces) == 1
    assert update._cache_size() == 1


def test_a_parameter_can_be_vmapped():
    # parameters are pytree leaves: vmap over the step size of a device
    base = ConstantStepDevice(g_min=G_MIN, g_max=G_MAX, step=SPAN / 100)
    steps = np.array([SPAN / 100, SPAN / 50, SPAN / 25])

    def moved(step):
        device = eqx.tree_at(lambda d: d.step, base, step)
        state = device.init((CELLS,), key=jax.random.key(0), conductance=0.5e-6)
        return device.apply_pulses(state, jnp.ones(CELLS), key=jax.random.key(1)).conductance

    g = np.asarray(jax.jit(jax.vmap(moved))(jnp.asarray(steps)))
    np.testing.assert_allclose(g - 0.5e-6, np.repeat(steps[:, None], CELLS, 1), rtol=1e-9)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("cls", [ConstantStepDevice, LinearStepDevice, SoftBoundsDevice, PowStepDevice])
def test_bad_device_parameters_name_the_parameter(cls):
    with pytest.raises(ValueError, match="g_min must be smaller than g_max"):
        cls(g_min=1e-6, g_max=1e-7)
    with pytest.raises(ValueError, match="g_min must be smaller than g_max"):
        cls(g_min=1e-6, g_max=1e-6)
    with pytest.raises(ValueError, match="step must be positive"):
        cls(step=0.0)
    with pytest.raises(ValueError, match="step must be positive"):
        cls(step=-1e-9)
    with pytest.raises(ValueError, match="asymmetry"):
        cls(asymmetry=1.0)
    with pytest.raises(ValueError, match="g_min must be non-negative"):
        cls(g_min=-1e-7)


def test_bad_exp_step_parameters():
    with pytest.raises(ValueError, match="g_min must be smaller than g_max"):
        ExpStepDevice(g_min=2e-6, g_max=1e-6)
    with pytest.raises(ValueError, match="levels must be positive"):
        ExpStepDevice(levels=0)


@pytest.mark.parametrize("field", ["stuck_min", "stuck_max"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_probability_outside_unit_interval(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a probability in \\[0, 1\\]"):
        Variability(**{field: value})


def test_stuck_probabilities_sum_at_most_one():
    with pytest.raises(ValueError, match="stuck_min \\+ stuck_max must be a probability"):
        Variability(stuck_min=0.6, stuck_max=0.6)


@pytest.mark.parametrize("field", ["d2d_step", "d2d_asymmetry", "c2c", "c2c_range", "read_noise", "d2d_bounds"])
def test_negative_spread_rejected(field):
    with pytest.raises(ValueError, match=f"{field} must be non-negative"):
        StepVariability(**{field: -0.1})
    if field in ("read_noise", "d2d_bounds"):  # the spreads every family shares
        with pytest.raises(ValueError, match=f"{field} must be non-negative"):
            Variability(**{field: -0.1})


def test_linear_step_gamma_range():
    with pytest.raises(ValueError, match="gamma_up"):
        LinearStepDevice(gamma_up=1.5)
    with pytest.raises(ValueError, match="gamma_down"):
        LinearStepDevice(gamma_down=-0.5)


def test_lookup_table_bad_arrays():
    with pytest.raises(ValueError, match="delta_up and delta_down must have the shape"):
        LookupTableDevice([1e-7, 1e-6], [1e-9], [1e-9, 1e-9])
    with pytest.raises(ValueError, match="delta_up must be non-negative"):
        LookupTableDevice([1e-7, 1e-6], [-1e-9, 1e-9], [1e-9, 1e-9])
    with pytest.raises(ValueError, match="conductance contains non-finite"):
        LookupTableDevice([1e-7, np.nan], [1e-9, 1e-9], [1e-9, 1e-9])
