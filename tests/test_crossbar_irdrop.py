"""The crossbar tile with IR drop switched on: integration of the exact network solve."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.circuits import ideal_adc, ideal_dac, solve_crossbar
from synaptax.devices import get_preset
from synaptax.training.layers import analog_matmul

KW = dict(dac=ideal_dac(), adc=ideal_adc(), max_tile_size=(32, 16))


def _setup(getkey, mapping, **kw):
    ideal = Crossbar(get_preset("ideal"), 70, 30, mapping=mapping, **KW)
    wired = Crossbar(get_preset("ideal"), 70, 30, mapping=mapping, ir_drop=True, **KW, **kw)
    w = jax.random.uniform(getkey(), (30, 70), minval=-0.9, maxval=0.9)
    state = ideal.init(key=getkey(), weights=w)
    x = jax.random.normal(getkey(), (3, 70))
    d = jax.random.normal(getkey(), (3, 30))
    return ideal, wired, state, x, d


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_zero_wire_resistance_reproduces_ideal_mvm(getkey, mapping):
    ideal, wired, state, x, d = _setup(getkey, mapping, r_row=0.0, r_col=0.0)
    np.testing.assert_allclose(wired.forward(state, x), ideal.forward(state, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wired.backward(state, d), ideal.backward(state, d), rtol=1e-12, atol=1e-12)


def test_single_tile_matches_direct_network_solve(getkey):
    """One tile, differential pair: output = (I(G⁺) − I(G⁻)) scaled, each from solve_crossbar."""
    r = 500.0
    xb = Crossbar(get_preset("ideal"), 12, 7, dac=ideal_dac(), adc=ideal_adc(), input_scaling="none",
                  ir_drop=True, r_row=r, r_col=2 * r)
    w = jax.random.uniform(getkey(), (7, 12), minval=-0.9, maxval=0.9)
    state = xb.init(key=getkey(), weights=w)
    x = jax.random.uniform(getkey(), (4, 12), minval=-1, maxval=1)
    v = x * xb.read_voltage
    gp, gm = xb.conductances(state)
    i_p = solve_crossbar(gp, v, r_row=r, r_col=2 * r).column_currents
    i_m = solve_crossbar(gm, v, r_row=r, r_col=2 * r).column_currents
    expected = (i_p - i_m) / (xb.read_voltage * xb.g_per_w)
    np.testing.assert_allclose(xb.forward(state, x), expected, rtol=1e-9, atol=1e-12)
    # transposed read: columns driven from their sense end, rows read at their driver end, i.e.
    # the solver's convention on the tile transposed and flipped both ways
    dvec = jax.random.uniform(getkey(), (4, 7), minval=-1, maxval=1)
    vd = dvec * xb.read_voltage
    j_p = solve_crossbar(gp.T[::-1, ::-1], vd[:, ::-1], r_row=2 * r, r_col=r).column_currents[:, ::-1]
    j_m = solve_crossbar(gm.T[::-1, ::-1], vd[:, ::-1], r_row=2 * r, r_col=r).column_currents[:, ::-1]
    np.testing.assert_allclose(xb.backward(state, dvec), (j_p - j_m) / (xb.read_voltage * xb.g_per_w),
                               rtol=1e-9, atol=1e-12)


def test_ir_drop_shrinks_outputs_and_energy_balances(getkey):
    ideal, wired, state, x, _ = _setup(getkey, "differential", r_row=1000.0, r_col=1000.0)
    x = jnp.abs(x)
    y0, y1 = ideal.forward(state, x), wired.forward(state, x)
    assert float(jnp.max(jnp.abs(y1 - y0)) / jnp.max(jnp.abs(y0))) > 0.01
    e0, e1 = ideal.mvm_energy(state, x), wired.mvm_energy(state, x)
    assert float(e1.wire) > 0 and float(e1.device) > 0
    # resistive wires lower the power drawn from the same voltage sources
    assert float(e1.device + e1.wire) < float(e0.device)
    assert float(e0.wire) == 0.0


def test_gradient_through_ir_drop_forward_matches_finite_differences(getkey):
    """d/dx of Σ d·y through the analog layer is the IR-drop transposed MVM; it equals finite
    differences of the IR-drop forward because the transposed read uses the same ports
    (reciprocity makes the transfer matrix of the reverse read the exact transpose)."""
    _, wired, state, x, d = _setup(getkey, "differential", r_row=300.0, r_col=300.0)
    wired = Crossbar(get_preset("ideal"), 70, 30, mapping="differential", ir_drop=True, r_row=300.0, r_col=300.0,
                     input_scaling="none", **KW)
    x, d = 0.5 * jnp.tanh(x), 0.5 * jnp.tanh(d)  # within the DAC range: no clipping
    key = getkey()
    f = lambda x: jnp.sum(analog_matmul(wired, state, x, key)[0] * d)  # noqa: E731
    grad = jax.grad(f)(x)
    eps = 1e-6
    e = jnp.zeros_like(x).at[1, 5].set(eps)
    fd = (f(x + e) - f(x - e)) / (2 * eps)
    np.testing.assert_allclose(grad[1, 5], fd, rtol=1e-5)


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_large_batches_read_through_the_transfer_matrices(getkey, mapping):
    """A batch of at least TRANSFER_MIN_RATIO · min(tile rows, cols) vectors takes its
    outputs from the tiles' transfer matrices: the same outputs (to the solver's
    tolerance) and the same energy as the solve of every vector (batches read below the
    threshold), forward and transposed, also under jit where only the outputs are used."""
    from synaptax.arrays.tile import TRANSFER_MIN_RATIO

    _, wired, state, _, _ = _setup(getkey, mapping, r_row=300.0, r_col=300.0)
    tr, tc = wired.tile.tile_shape
    n = TRANSFER_MIN_RATIO * min(tr, tc)
    x = jax.random.normal(getkey(), (n, 70))
    d = jax.random.normal(getkey(), (n, 30))
    for v, transposed in ((x, False), (d, True)):
        read_big = wired.read(state, batch=n)
        read_small = wired.read(state, batch=n // 4)
        mvm = wired.backward_read if transposed else wired.forward_read
        y_big, e_big = mvm(read_big, v)
        parts = [mvm(read_small, v[k:k + n // 4]) for k in range(0, n, n // 4)]
        y_small = jnp.concatenate([p[0] for p in parts])
        np.testing.assert_allclose(y_big, y_small, rtol=1e-8, atol=1e-8 * float(jnp.max(jnp.abs(y_small))))
        np.testing.assert_allclose(float(e_big.total), float(sum(p[1].total for p in parts)), rtol=1e-10)
        only_y = jax.jit(lambda s, v, mvm=mvm: mvm(wired.read(s, batch=n), v)[0])(state, v)
        np.testing.assert_allclose(only_y, y_big, rtol=1e-10, atol=1e-12)


def _jitted_calls(jaxpr, counts=None):
    """Names of the jitted functions called in a (closed) jaxpr, with multiplicity,
    recursively through sub-jaxprs (scan, cond, custom_vjp, vmap'd pjit...)."""
    import collections

    counts = collections.Counter() if counts is None else counts
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("pjit", "jit"):
            counts[eqn.params.get("name")] += 1
        for param in eqn.params.values():
            for sub in (param if isinstance(param, (tuple, list)) else [param]):
                inner = getattr(sub, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    _jitted_calls(inner, counts)
                elif hasattr(sub, "eqns"):
                    _jitted_calls(sub, counts)
    return counts


def test_one_preparation_per_array_serves_forward_power_and_gradient(monkeypatch):
    """In one training step with IR drop, each conductance array's networks are prepared
    (factorised) once: the forward read, its wire power, the backward (transposed) read and
    its power all reuse that preparation.  Counted in the step's program: every
    factorisation is the jitted ``_prepare_core`` (``_factorise`` is its only caller's
    body, and the one-shot ``_solve_core`` must not appear)."""
    from synaptax.circuits.irdrop import prepared as prepared_module
    from synaptax.training.algorithms import build_optimizer, make_algorithm
    from synaptax.training.network import AnalogMLP

    traced = []
    factorise = prepared_module._factorise

    def counting(*args, **kwargs):
        traced.append(args[0].shape)
        return factorise(*args, **kwargs)

    monkeypatch.setattr(prepared_module, "_factorise", counting)
    sizes = [23, 11, 5]
    # layer 1 on a 2 × 2 grid of tiles (vmapped), layer 2 on one tile
    crossbars = [Crossbar(get_preset("reram-sb"), a, b, ir_drop=True, max_tile_size=(12, 6))
                 for a, b in zip(sizes[:-1], sizes[1:])]
    opt, sched = build_optimizer("sgd", 0.1, total_steps=1)
    alg = make_algorithm("analog-sgd", AnalogMLP(crossbars), opt, sched)
    ts = alg.init(key=jax.random.key(0))
    x = jax.random.uniform(jax.random.key(1), (3, 23))
    y = jnp.arange(3)
    step = lambda t, k: alg.step(t, x, y, key=k)  # noqa: E731
    calls = _jitted_calls(jax.make_jaxpr(step)(ts, jax.random.key(2)).jaxpr)
    # one preparation per layer, of both arrays (G⁺, G⁻) and every tile at once (vmapped),
    # where a solve per forward read, its power, the backward read and its power would
    # factorise 2·2·4 = 16 times
    assert calls["_prepare_core"] == 2, calls
    assert calls["_solve_core"] == 0, calls
    # and the factorisation is traced only inside them (one shape per layer's tiles)
    assert sorted(traced) == [(11, 5), (12, 6)]
    ts_new, m = eqx.filter_jit(lambda a, t, k: a.step(t, x, y, key=k))(alg, ts, jax.random.key(2))
    assert float(m.read_energy) > 0 and np.isfinite(float(m.loss)) and int(ts_new.step) == 1
