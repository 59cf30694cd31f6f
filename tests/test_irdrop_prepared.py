"""Tests of the prepare-once API of the IR-drop solver (synaptax.circuits.irdrop.prepared).

References: the one-shot :func:`solve_crossbar` (forward read and its power), the old
transposed read of ``Crossbar._tile_stack(transposed=True)`` (the tile flipped both
ways and swapped, solved forward with the wire resistances exchanged), the forward
transfer matrix built column by column, and the ideal matrix products. float64 is on
for the whole suite (conftest).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.circuits import irdrop
from synaptax.circuits.irdrop import (
    IRDropConvergenceError,
    IRDropStatus,
    PowerBalance,
    PreparedCrossbar,
    crossbar_currents,
    prepare_crossbar,
    solve_crossbar,
    solve_prepared,
    solve_transposed,
    transfer_matrix,
)

G_ON = 1e-3  # S: r·G is large with r of a few Ω on small arrays


def random_problem(rows, cols, nvec, seed):
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.5, 1.0, (rows, cols)) * G_ON
    v_rows = rng.uniform(-1.0, 1.0, (nvec, rows))
    v_cols = rng.uniform(-1.0, 1.0, (nvec, cols))
    return g, v_rows, v_cols


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def flipped_tile_read(g, v_cols, r_row, r_col, **kw):
    """The transposed read as arrays/crossbar.py did it: columns driven from their sense
    end, rows read at their driver end = the forward solve of the tile flipped both
    ways and swapped, with r_drive = r_col and r_read = r_row. Returns the row currents
    and the power with its wire terms relabelled to the physical rows and columns."""
    sol = solve_crossbar(np.asarray(g).T[::-1, ::-1], np.asarray(v_cols)[..., ::-1], r_row=r_col, r_col=r_row, **kw)
    p = sol.power()  # the flipped tile's rows are the physical columns
    return sol.column_currents[..., ::-1], PowerBalance(p.source, p.device, p.column_wire, p.row_wire)


def assert_power_close(p, q, rtol):
    for name in ("source", "device", "row_wire", "column_wire"):
        a, b = np.asarray(getattr(p, name)), np.asarray(getattr(q, name))
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(np.asarray(q.source))), err_msg=name)


def assert_balanced(p, rtol=1e-9):
    source, device, wire = (np.asarray(x) for x in (p.source, p.device, p.wire))
    np.testing.assert_allclose(source, device + wire, rtol=rtol)
    for x in (p.source, p.device, p.row_wire, p.column_wire):
        assert np.all(np.asarray(x) >= 0)


RESISTANCES = [(1.0, 2.0), (50.0, 50.0), (0.0, 3.0), (2.0, 0.0)]


# ----------------------------------------------------------------------------------
# Forward read
# ----------------------------------------------------------------------------------
def test_forward_matches_solve_crossbar_with_its_power():
    g, v, _ = random_problem(8, 5, 2, seed=1)
    for r_row, r_col in RESISTANCES:
        prep = prepare_crossbar(g, r_row=r_row, r_col=r_col, batch=2)
        assert isinstance(prep, PreparedCrossbar) and prep.batch == 2
        fwd = solve_prepared(prep, v)
        ref = solve_crossbar(g, v, r_row=r_row, r_col=r_col)
        assert fwd.column_currents.shape == (2, 5) and fwd.residual.shape == (2,)
        assert rel_err(fwd.column_currents, ref.column_currents) <= 1e-12, (r_row, r_col)
        np.testing.assert_array_equal(np.asarray(fwd.iterations), np.asarray(ref.iterations))
        assert np.all(np.asarray(fwd.status) == IRDropStatus.CONVERGED)
        assert_power_close(fwd.power, ref.power(), rtol=1e-9)
        assert_balanced(fwd.power)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_forward_and_transposed_with_coarse_space_and_in_place_layout(method):
    """24 × 20, 16 vectors (the CPU in-place row layout when sequential), 4 coarse modes:
    forward equals solve_crossbar, transposed equals the flipped-tile solve."""
    g, v, d = random_problem(24, 20, 16, seed=2)
    prep = prepare_crossbar(g, r_row=20.0, r_col=30.0, batch=16, method=method, coarse_modes=4)
    assert prep.coarse == (4, 4) and prep.rows_in_place == (method == "sequential")
    fwd = solve_prepared(prep, v)
    ref = solve_crossbar(g, v, r_row=20.0, r_col=30.0, method=method, coarse_modes=4)
    assert rel_err(fwd.column_currents, ref.column_currents) <= 1e-10
    assert_power_close(fwd.power, ref.power(), rtol=1e-9)
    tr = solve_transposed(prep, d)
    old, old_power = flipped_tile_read(g, d, 20.0, 30.0, method=method, coarse_modes=4)
    assert rel_err(tr.row_currents, old) <= 1e-9
    assert_power_close(tr.power, old_power, rtol=1e-9)
    assert_balanced(tr.power)


# ----------------------------------------------------------------------------------
# Transposed read
# ----------------------------------------------------------------------------------
def test_transposed_matches_flipped_tile_solve():
    g, _, d = random_problem(8, 5, 2, seed=3)
    for r_row, r_col in RESISTANCES:
        prep = prepare_crossbar(g, r_row=r_row, r_col=r_col, batch=2)
        tr = solve_transposed(prep, d)
        old, old_power = flipped_tile_read(g, d, r_row, r_col)
        assert tr.row_currents.shape == (2, 8) and tr.status.shape == (2,)
        assert np.all(np.asarray(tr.converged))
        assert rel_err(tr.row_currents, old) <= 1e-9, (r_row, r_col)
        assert_power_close(tr.power, old_power, rtol=1e-9)
        assert_balanced(tr.power)


def test_transposed_is_transpose_of_forward_transfer():
    """Reciprocity: with T the forward transfer (column_currents = v_rows @ T), built
    from one forward read per row, the transposed read is v_cols @ Tᵀ."""
    g, _, d = random_problem(8, 5, 3, seed=4)
    r_row, r_col = 40.0, 20.0
    transfer = np.asarray(solve_prepared(prepare_crossbar(g, r_row=r_row, r_col=r_col, batch=8),
                                         np.eye(8)).column_currents)  # (R, C)
    assert rel_err(transfer, g) > 0.05  # the wires matter here
    tr = solve_transposed(prepare_crossbar(g, r_row=r_row, r_col=r_col, batch=3), d)
    assert rel_err(tr.row_currents, d @ transfer.T) <= 1e-9


def test_single_vector_and_nested_batch_shapes():
    g, v, d = random_problem(8, 5, 2, seed=5)
    one = prepare_crossbar(g, r_row=1.0, r_col=2.0)
    fwd, tr = solve_prepared(one, v[0]), solve_transposed(one, d[0])
    assert fwd.column_currents.shape == (5,) and fwd.power.source.shape == () and fwd.status.shape == ()
    assert tr.row_currents.shape == (8,) and tr.power.device.shape == ()
    ref = solve_crossbar(g, v[0], r_row=1.0, r_col=2.0).column_currents
    assert rel_err(fwd.column_currents, ref) <= 1e-12
    two = prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=2)
    nested = solve_transposed(two, d[None])
    assert nested.row_currents.shape == (1, 2, 8) and nested.power.wire.shape == (1, 2)
    assert rel_err(nested.row_currents[0, 1], tr.row_currents) > 0  # another vector
    assert rel_err(nested.row_currents[0, 0], tr.row_currents) <= 1e-12


# ----------------------------------------------------------------------------------
# Zero wire resistance
# ----------------------------------------------------------------------------------
def test_zero_wire_resistance_is_exactly_ideal():
    g, v, d = random_problem(8, 5, 2, seed=6)
    prep = prepare_crossbar(g, r_row=0.0, r_col=0.0, batch=2)
    assert prep.ideal and prep.factors is None
    fwd, tr = solve_prepared(prep, v), solve_transposed(prep, d)
    np.testing.assert_array_equal(np.asarray(fwd.column_currents), v @ g)
    np.testing.assert_array_equal(np.asarray(tr.row_currents), d @ g.T)
    for sol in (fwd, tr):
        assert np.all(np.asarray(sol.iterations) == 0) and np.all(np.asarray(sol.converged))
        np.testing.assert_array_equal(np.asarray(sol.power.source), np.asarray(sol.power.device))
        assert np.all(np.asarray(sol.power.wire) == 0)
    np.testing.assert_allclose(np.asarray(fwd.power.device), np.sum(g * v[:, :, None] ** 2, axis=(1, 2)), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(tr.power.device), np.sum(g * d[:, None, :] ** 2, axis=(1, 2)), rtol=1e-13)
    assert_power_close(fwd.power, solve_crossbar(g, v, r_row=0.0, r_col=0.0).power(), rtol=1e-13)


# ----------------------------------------------------------------------------------
# Transformations
# ----------------------------------------------------------------------------------
def test_jit_equals_eager():
    g, v, d = random_problem(8, 5, 2, seed=7)

    def reads(g, v, d):
        prep = prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=2)
        return solve_prepared(prep, v), solve_transposed(prep, d)

    eager, jitted = reads(g, v, d), jax.jit(reads)(g, v, d)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-30)
    # A prepared crossbar is a pytree: it can cross a jit boundary.
    prep = prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=2)
    out = jax.jit(lambda p, d: solve_transposed(p, d).row_currents)(prep, d)
    np.testing.assert_allclose(np.asarray(out), np.asarray(eager[1].row_currents), rtol=1e-12)


def test_vmap_over_a_stack_of_arrays_equals_loop():
    rng = np.random.default_rng(8)
    gs = rng.uniform(0.5, 1.0, (3, 8, 5)) * G_ON
    vs = rng.uniform(-1, 1, (3, 2, 8))
    ds = rng.uniform(-1, 1, (3, 2, 5))

    def prepare(g):
        return prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=2, coarse_modes=(0, 0))

    fwd = jax.vmap(lambda g, v: solve_prepared(prepare(g), v))(gs, vs)
    stacked = jax.vmap(prepare)(gs)  # a stack of prepared arrays, then solved under vmap
    tr = jax.vmap(solve_transposed)(stacked, ds)
    for k in range(3):
        prep = prepare(gs[k])
        loop_f, loop_t = solve_prepared(prep, vs[k]), solve_transposed(prep, ds[k])
        np.testing.assert_allclose(np.asarray(fwd.column_currents[k]), np.asarray(loop_f.column_currents), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(fwd.power.wire[k]), np.asarray(loop_f.power.wire), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(tr.row_currents[k]), np.asarray(loop_t.row_currents), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(tr.power.source[k]), np.asarray(loop_t.power.source), rtol=1e-10)


@pytest.mark.parametrize("nvec", [1, 3, 20])
def test_a_stack_of_prepared_arrays_is_solved_in_one_solve(nvec):
    """solve_prepared / solve_transposed on a stack of prepared arrays (jax.vmap of
    prepare_crossbar, leaves with leading axes (2, 3)) solve all of them in one loop
    (the stacked layout) and agree with the same solves under vmap; 20 vectors take the
    CPU's in-place layout. jit works; a drive without the stack's axes is refused."""
    rng = np.random.default_rng(12)
    gs = rng.uniform(0.5, 1.0, (2, 3, 9, 7)) * G_ON
    vs = rng.uniform(-1, 1, (2, 3, nvec, 9))
    ds = rng.uniform(-1, 1, (2, 3, nvec, 7))

    def prepare(g):
        return prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=nvec)

    stacked = jax.vmap(jax.vmap(prepare))(gs)
    fwd, tr = solve_prepared(stacked, vs), solve_transposed(stacked, ds)
    ref_f = jax.vmap(jax.vmap(solve_prepared))(stacked, vs)
    ref_t = jax.vmap(jax.vmap(solve_transposed))(stacked, ds)
    assert fwd.column_currents.shape == (2, 3, nvec, 7) and fwd.iterations.shape == (2, 3, nvec)
    assert tr.row_currents.shape == (2, 3, nvec, 9) and tr.power.source.shape == (2, 3, nvec)
    for got, ref, name in ((fwd, ref_f, "column_currents"), (tr, ref_t, "row_currents")):
        assert rel_err(getattr(got, name), getattr(ref, name)) <= 1e-10
        assert_power_close(got.power, ref.power, rtol=1e-10)
        np.testing.assert_array_equal(np.asarray(got.iterations), np.asarray(ref.iterations))
        assert np.all(np.asarray(got.converged)) and np.all(np.asarray(got.residual) <= 1e-10)
    jitted = jax.jit(lambda p, v: solve_prepared(p, v).column_currents)(stacked, vs)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(fwd.column_currents), rtol=1e-12)
    with pytest.raises(ValueError, match="stack"):
        solve_prepared(stacked, vs[0])
    # zero wire resistance: the exact products, stacked too
    ideal = jax.vmap(jax.vmap(lambda g: prepare_crossbar(g, r_row=0.0, r_col=0.0, batch=nvec)))(gs)
    np.testing.assert_allclose(np.asarray(solve_prepared(ideal, vs).column_currents),
                               np.einsum("abki,abio->abko", vs, gs), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(solve_transposed(ideal, ds).power.source),
                               np.einsum("abko,abio->abk", ds**2, gs), rtol=1e-12)


def test_many_vectors_are_solved_in_chunks_with_the_same_answer(monkeypatch):
    """A read of more than _MAX_CHUNK vectors is solved in chunks (lax.map), padded with
    zero vectors: the same answers, iterations and statuses as in one piece, zero
    vectors included (0 iterations), for one array and for a stack."""
    from synaptax.circuits.irdrop import prepared as prepared_module

    g, v, d = random_problem(9, 7, 150, seed=13)
    v[3] = 0.0
    one = prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=150)
    stack = jax.vmap(lambda g: prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=150))(np.stack([g, 2 * g]))
    chunked = (solve_prepared(one, v), solve_transposed(one, d), solve_prepared(stack, np.stack([v, v])))
    monkeypatch.setattr(prepared_module, "_MAX_CHUNK", 10**6)
    whole = (solve_prepared(one, v), solve_transposed(one, d), solve_prepared(stack, np.stack([v, v])))
    for a, b in zip(chunked, whole):
        out = "row_currents" if hasattr(a, "row_currents") else "column_currents"
        assert rel_err(getattr(a, out), getattr(b, out)) <= 1e-12
        assert_power_close(a.power, b.power, rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(a.iterations), np.asarray(b.iterations))
        np.testing.assert_array_equal(np.asarray(a.status), np.asarray(b.status))
    assert int(chunked[0].iterations[3]) == 0 and bool(chunked[0].converged[3])


# ----------------------------------------------------------------------------------
# Transfer matrix
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, batch", [((9, 7), 2), ((7, 9), 2), ((9, 7), 1), ((30, 20), 40), ((20, 30), 40),
                                          ((40, 3), 16)])
def test_transfer_matrix_reads_any_drive(shape, batch):
    """T from unit drives on the shorter side (transposed reads when cols ≤ rows):
    v @ T is the forward read and d @ T.T the transposed one, for any prepared layout
    (one vector, a few, the in-place layout of 16 or more)."""
    rows, cols = shape
    g, v, d = random_problem(rows, cols, 5, seed=14)
    for r_row, r_col in RESISTANCES:
        prep = prepare_crossbar(g, r_row=r_row, r_col=r_col, batch=batch)
        t = transfer_matrix(prep)
        assert t.shape == shape
        ref_f = np.stack([solve_prepared(prepare_crossbar(g, r_row=r_row, r_col=r_col), x).column_currents
                          for x in v])
        ref_t = np.stack([solve_transposed(prepare_crossbar(g, r_row=r_row, r_col=r_col), x).row_currents
                          for x in d])
        assert rel_err(v @ np.asarray(t), ref_f) <= 1e-9, (r_row, r_col)
        assert rel_err(d @ np.asarray(t).T, ref_t) <= 1e-9, (r_row, r_col)
    ideal = prepare_crossbar(g, r_row=0.0, r_col=0.0, batch=batch)
    np.testing.assert_array_equal(np.asarray(transfer_matrix(ideal)), g)


def test_transfer_matrix_of_a_stack_under_jit():
    rng = np.random.default_rng(15)
    gs = rng.uniform(0.5, 1.0, (2, 2, 12, 5)) * G_ON
    stack = jax.vmap(jax.vmap(lambda g: prepare_crossbar(g, r_row=3.0, r_col=1.0, batch=20)))(gs)
    t = jax.jit(transfer_matrix)(stack)
    assert t.shape == (2, 2, 12, 5)
    v = rng.uniform(-1, 1, (2, 2, 20, 12))
    assert rel_err(np.einsum("abki,abio->abko", v, np.asarray(t)), solve_prepared(stack, v).column_currents) <= 1e-9


# ----------------------------------------------------------------------------------
# Batch layout, status, validation
# ----------------------------------------------------------------------------------
def test_batch_mismatch_raises_or_works():
    g, v, d = random_problem(8, 5, 3, seed=9)
    two = prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=2)
    with pytest.raises(ValueError, match=r"v_rows.*batch=2"):
        solve_prepared(two, v[0])
    with pytest.raises(ValueError, match=r"v_cols.*batch=2"):
        solve_transposed(two, d[:1])
    with pytest.raises(ValueError, match=r"v_rows.*batch=2"):
        solve_prepared(two, np.ones((16, 8)))  # the in-place layout on the CPU
    with pytest.raises(ValueError, match="v_cols"):
        solve_transposed(two, np.ones((2, 8)))  # rows, not cols
    # Three vectors need the same layout as two: it works.
    three = solve_prepared(two, v)
    ref = solve_crossbar(g, v, r_row=1.0, r_col=2.0).column_currents
    assert rel_err(three.column_currents, ref) <= 1e-12
    with pytest.raises(ValueError, match="batch"):
        prepare_crossbar(g, r_row=1.0, r_col=2.0, batch=0)
    with pytest.raises(ValueError, match="r_row"):
        prepare_crossbar(g, r_row=-1.0, r_col=2.0)
    with pytest.raises(ValueError, match="max_steps"):
        prepare_crossbar(g, r_row=1.0, r_col=2.0, max_steps=0)
    with pytest.raises(ValueError, match="v_rows"):
        solve_prepared(two, np.array([[1.0] * 7 + [np.inf]] * 2))


def test_status_codes_and_failure_handling():
    """max_steps = 1 with a tight tol on a hard ratio: MAX_ITERATIONS, for both reads."""
    g, v, d = random_problem(16, 16, 2, seed=10)
    prep = prepare_crossbar(g, r_row=10.0, r_col=10.0, batch=2, tol=1e-12, max_steps=1)
    fwd = solve_prepared(prep, v, on_failure="ignore")
    tr = solve_transposed(prep, d, on_failure="ignore")
    for sol in (fwd, tr):
        assert np.all(np.asarray(sol.status) == IRDropStatus.MAX_ITERATIONS)
        assert np.all(np.asarray(sol.iterations) == 1) and not np.any(np.asarray(sol.converged))
        with pytest.raises(IRDropConvergenceError, match="max_steps"):
            sol.check()
    with pytest.raises(IRDropConvergenceError, match="did not converge"):
        solve_prepared(prep, v)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        solve_transposed(prep, d, on_failure="warn")
    with pytest.raises(Exception, match="did not converge"):
        jax.jit(lambda p, d: solve_transposed(p, d).row_currents)(prep, d).block_until_ready()
    with pytest.raises(ValueError, match="on_failure"):
        solve_prepared(prep, v, on_failure="explode")


# ----------------------------------------------------------------------------------
# One factorisation per preparation
# ----------------------------------------------------------------------------------
def test_one_factorisation_serves_forward_power_and_transposed(monkeypatch):
    """Every factorisation goes through prepared._factorise: one per prepare_crossbar
    (then any number of forward and transposed reads), one per solve_crossbar, one per
    gradient of crossbar_currents (the adjoint reuses the forward factors)."""
    calls = []
    original = irdrop.prepared._factorise

    def counting(*args, **kwargs):
        calls.append(None)
        return original(*args, **kwargs)

    monkeypatch.setattr(irdrop.prepared, "_factorise", counting)
    jax.clear_caches()  # a cached trace would not call _factorise at all
    g, v, d = random_problem(9, 7, 2, seed=11)

    @jax.jit
    def reads(g, v, d):
        prep = prepare_crossbar(g, r_row=3.0, r_col=4.0, batch=2, coarse_modes=(2, 2))
        fwd, tr = solve_prepared(prep, v), solve_transposed(prep, d)
        again = solve_prepared(prep, 2 * v)
        return fwd.column_currents, fwd.power.wire, tr.row_currents, tr.power.source, again.column_currents

    out = reads(g, v, d)
    assert len(calls) == 1
    np.testing.assert_allclose(np.asarray(out[4]), 2 * np.asarray(out[0]), rtol=1e-12)

    calls.clear()
    solve_crossbar(g, v, r_row=3.0, r_col=4.0)
    assert len(calls) == 1

    calls.clear()
    jax.grad(lambda g: jnp.sum(crossbar_currents(g, v, r_row=3.0, r_col=4.0) ** 2))(jnp.asarray(g))
    assert len(calls) == 1
