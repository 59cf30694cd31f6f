"""The IR-drop diagnostic (synaptax.arrays.diagnostics): what the wires do to a crossbar's reads.

float64 throughout (conftest enables it), so that comparisons with the independent dense
nodal solve and across wire resistances are made well above the solver's tolerance.
"""
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar, IRDropEffect, ir_drop_currents, ir_drop_effect, ir_drop_effect_report
from synaptax.circuits import ideal_adc, ideal_dac
from synaptax.devices import get_preset

IDEAL_IO = dict(dac=ideal_dac(), adc=ideal_adc(), input_scaling="none")
# most tests share one tile shape and batch (32×16 cells, 4 vectors): one compilation of the solve
ROWS, COLS, BATCH = 32, 16, 4
FIELDS = ("max_voltage_drop", "max_voltage_drop_fraction", "output_error_rms", "output_error_max",
          "relative_output_error")


def _crossbar(getkey, rows, cols, *, preset="ideal", mapping="differential", **kw):
    xb = Crossbar(get_preset(preset), rows, cols, mapping=mapping, **kw)
    w = jax.random.uniform(getkey(), (cols, rows), minval=-0.9, maxval=0.9)
    return xb, xb.init(key=getkey(), weights=w)


def _dense_nodal(g, v, r_row, r_col):
    """Independent reference: assemble the full nodal conductance matrix of one array's wire grid
    (row nodes u_ij, column nodes w_ij; row i driven at its column-0 end through one r_row segment,
    far end open; column j grounded at its last-row end through one r_col segment, top open) and
    solve it densely.  Returns (column currents (B, C) [A], max |V_i − (u_ij − w_ij)| (B,) [V])."""
    g = np.asarray(g, np.float64)
    R, C = g.shape
    n = 2 * R * C
    U = lambda i, j: i * C + j  # noqa: E731
    W = lambda i, j: R * C + i * C + j  # noqa: E731
    A = np.zeros((n, n))
    gr, gc = 1.0 / r_row, 1.0 / r_col

    def branch(a, b, y):  # conductance y between nodes a and b (b None: to a fixed potential)
        A[a, a] += y
        if b is not None:
            A[b, b] += y
            A[a, b] -= y
            A[b, a] -= y

    for i in range(R):
        for j in range(C):
            branch(U(i, j), W(i, j), g[i, j])
            if j + 1 < C:
                branch(U(i, j), U(i, j + 1), gr)
            if j == 0:
                branch(U(i, 0), None, gr)  # driver segment
            if i + 1 < R:
                branch(W(i, j), W(i + 1, j), gc)
            else:
                branch(W(i, j), None, gc)  # to the virtual ground
    currents, drops = [], []
    for vec in np.asarray(v, np.float64):
        b = np.zeros(n)
        b[[U(i, 0) for i in range(R)]] = gr * vec
        x = np.linalg.solve(A, b)
        u, w = x[: R * C].reshape(R, C), x[R * C:].reshape(R, C)
        currents.append(w[-1] * gc)
        drops.append(np.max(np.abs(vec[:, None] - (u - w))))
    return np.array(currents), np.array(drops)


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_matches_dense_nodal_solve(getkey, mapping):
    """4×3 cells, r·G ~ 0.03: the cell-voltage shortfall, the column currents of both arrays and
    every summary number equal those of a dense numpy solve of the whole wire grid."""
    r_row, r_col = 3e4, 5e4
    xb, state = _crossbar(getkey, 4, 3, mapping=mapping, **IDEAL_IO)
    x = jax.random.uniform(getkey(), (5, 4), minval=-1, maxval=1)
    cur = ir_drop_currents(xb, state, x, r_row=r_row, r_col=r_col)
    eff = ir_drop_effect(xb, state, x, r_row=r_row, r_col=r_col)

    v = np.asarray(x) * xb.read_voltage
    g_a, g_b = (np.asarray(a) for a in xb.mapping.arrays(xb.device, state, xb.g_ref))
    i_a, d_a = _dense_nodal(g_a, v, r_row, r_col)
    i_b, d_b = _dense_nodal(g_b, v, r_row, r_col)
    wires, ideal, drop = i_a - i_b, v @ (g_a - g_b), np.maximum(d_a, d_b)
    assert cur.wires.shape == cur.ideal.shape == (5, 1, 3)
    scale = np.max(np.abs(ideal))
    np.testing.assert_allclose(cur.wires[:, 0], wires, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(cur.ideal[:, 0], ideal, rtol=1e-12, atol=1e-15 * scale)
    np.testing.assert_allclose(cur.voltage_drop, drop, rtol=1e-8)
    assert np.max(drop) > 1e-3 * np.max(np.abs(v))  # a visible effect, not a test of zeros

    err, i_fs = wires - ideal, xb.full_scale_current
    expected = dict(max_voltage_drop=np.max(drop), max_voltage_drop_fraction=np.max(drop) / np.max(np.abs(v)),
                    output_error_rms=np.sqrt(np.mean(err**2)) / i_fs, output_error_max=np.max(np.abs(err)) / i_fs,
                    relative_output_error=np.linalg.norm(err) / np.linalg.norm(ideal))
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(eff, name), value, rtol=1e-7, err_msg=name)
    assert float(eff.r_row) == r_row and float(eff.r_col) == r_col
    assert eff.tile_shape == (4, 3) and eff.tile_grid == (1, 1)


def test_zero_wire_resistance_is_exactly_ideal_and_small_resistance_scales_linearly(getkey):
    xb, state = _crossbar(getkey, ROWS, COLS, preset="reram-sb")
    x = jax.random.uniform(getkey(), (BATCH, ROWS))
    zero = ir_drop_effect(xb, state, x, r_row=0.0, r_col=0.0)
    for name in FIELDS:
        assert float(getattr(zero, name)) == 0.0, name
    small = [ir_drop_effect(xb, state, x, r_row=r, r_col=r) for r in (1e-2, 1e-3)]
    for name in FIELDS:
        a, b = (float(getattr(e, name)) for e in small)
        assert 0 < b < a, name
        # first order in r: tenfold less resistance, tenfold less effect (to O(r·G) = 1e-7)
        np.testing.assert_allclose(a / b, 10.0, rtol=1e-3, err_msg=name)


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_effect_grows_with_wire_resistance(getkey, mapping):
    xb, state = _crossbar(getkey, ROWS, COLS, preset="reram-sb", mapping=mapping)
    x = jax.random.uniform(getkey(), (BATCH, ROWS))  # MNIST-like inputs in [0, 1]
    effects = [ir_drop_effect(xb, state, x, r_row=r, r_col=r) for r in (0.5, 1.06, 2.03, 10.0)]
    for name in FIELDS:
        values = [float(getattr(e, name)) for e in effects]
        assert all(b > a > 0 for a, b in zip(values, values[1:])), (name, values)
    assert [float(e.r_row) for e in effects] == [0.5, 1.06, 2.03, 10.0]


def test_effect_grows_with_array_size(getkey):
    effects = []
    for n in (8, 16, 32):
        xb, state = _crossbar(getkey, n, n // 2, preset="reram-sb")
        x = jnp.ones((BATCH, n)).at[1].set(jnp.linspace(0.2, 1.0, n))
        effects.append(ir_drop_effect(xb, state, x, r_row=10.0, r_col=10.0))
    for name in ("max_voltage_drop", "max_voltage_drop_fraction", "output_error_max"):
        values = [float(getattr(e, name)) for e in effects]
        assert all(b > a > 0 for a, b in zip(values, values[1:])), (name, values)


def test_zero_input_has_no_drop_and_no_error(getkey):
    xb, state = _crossbar(getkey, ROWS, COLS, preset="reram-sb")
    eff = ir_drop_effect(xb, state, jnp.zeros((BATCH, ROWS)), r_row=2.03, r_col=2.03)
    for name in FIELDS:
        assert float(getattr(eff, name)) == 0.0, name


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_tiled_crossbar_matches_its_ir_drop_forward(getkey, mapping):
    """63×31 in tiles of at most 32×16: a 2×2 grid of 32×16 tiles, padded with a row and a column
    of unused cells.  The wire currents summed over the row tiles are the crossbar's own IR-drop forward read
    (ideal converters), the ideal ones its ideal-wire forward read."""
    kw = dict(dac=ideal_dac(), adc=ideal_adc(), input_scaling="none", max_tile_size=(32, 16))
    r = 2e3  # r·G up to 2e-3 with the ideal preset: a clear effect
    xb, state = _crossbar(getkey, 63, 31, mapping=mapping, **kw)
    wired = Crossbar(get_preset("ideal"), 63, 31, mapping=mapping, ir_drop=True, r_row=r, r_col=r, **kw)
    x = jax.random.uniform(getkey(), (BATCH, 63), minval=-1, maxval=1)
    cur = ir_drop_currents(xb, state, x, r_row=r, r_col=r)
    assert xb.tile_grid == (2, 2) and xb.padded_shape == (64, 32) and cur.wires.shape == (BATCH, 2, 31)
    to_weight_units = 1.0 / (xb.read_voltage * xb.g_per_w)
    y_wired, y_ideal = wired.forward(state, x), xb.forward(state, x)
    np.testing.assert_allclose(cur.wires.sum(axis=1) * to_weight_units, y_wired, rtol=1e-8,
                               atol=1e-9 * float(jnp.max(jnp.abs(y_wired))))
    np.testing.assert_allclose(cur.ideal.sum(axis=1) * to_weight_units, y_ideal, rtol=1e-10, atol=1e-12)
    eff = ir_drop_effect(wired, state, x)  # default resistances: the tile's
    assert float(eff.r_row) == r and eff.tile_shape == (32, 16) and eff.tile_grid == (2, 2)
    assert float(eff.relative_output_error) > 1e-3
    np.testing.assert_allclose(eff.relative_output_error,
                               np.linalg.norm(y_wired - y_ideal) / np.linalg.norm(y_ideal), rtol=1e-6)


@pytest.mark.parametrize("mapping", ["differential", "reference"])
def test_jit_equals_eager(getkey, mapping):
    xb, state = _crossbar(getkey, 63, 31, preset="reram-sb", mapping=mapping, max_tile_size=(32, 16),
                          r_row=2.03, r_col=2.03)
    x = jax.random.uniform(getkey(), (BATCH, 63))
    eager = ir_drop_effect(xb, state, x)
    jitted = eqx.filter_jit(ir_drop_effect)(xb, state, x)
    assert isinstance(jitted, IRDropEffect) and jitted.tile_grid == (2, 2)
    for name in FIELDS + ("r_row", "r_col", "full_scale_current"):
        np.testing.assert_allclose(getattr(jitted, name), getattr(eager, name), rtol=1e-9, err_msg=name)


def test_report_is_plain_json(getkey):
    xb, state = _crossbar(getkey, ROWS, COLS, preset="reram-sb", r_row=1.06, r_col=0.49)
    eff = ir_drop_effect(xb, state, jax.random.uniform(getkey(), (BATCH, ROWS)))
    report = ir_drop_effect_report(eff)
    for key in ("max_voltage_drop_V", "max_voltage_drop_fraction", "output_error_rms_fs", "output_error_max_fs",
                "relative_output_error", "r_row_ohm", "r_col_ohm"):
        assert type(report[key]) is float, key
    assert report["r_row_ohm"] == 1.06 and report["r_col_ohm"] == 0.49
    assert report["max_voltage_drop_V"] == float(eff.max_voltage_drop) > 0
    assert json.loads(json.dumps(report)) == report
    # computed in float32 (as in training): the resistances still report as given
    report32 = ir_drop_effect_report(jax.tree.map(lambda a: a.astype(jnp.float32), eff))
    assert report32["r_row_ohm"] == 1.06 and report32["r_col_ohm"] == 0.49
