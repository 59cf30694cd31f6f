"""Tests of the IR-drop solver (synaptax.circuits.irdrop; the prepared API is tested in
tests/test_irdrop_prepared.py).

The references are independent of the solver: a dense nodal analysis written in NumPy
from the circuit convention, the exact discrete solution of a uniform ladder line,
Kirchhoff's and Ohm's laws recomputed in NumPy from the returned voltages, and
central finite differences. float64 is on for the whole suite (conftest); float32 is
requested explicitly where it is tested.

Shapes are shared between tests on purpose: every new (shape, dtype, batch) costs a
JIT compilation of about a second.
"""
import doctest
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.circuits import irdrop
from synaptax.circuits.irdrop import (
    IRDropConvergenceError,
    IRDropStatus,
    crossbar_currents,
    solve_crossbar,
    wire_resistance_per_segment,
)

G_ON = 1e-3  # S; small arrays use large conductances so that r·G is large with r of a few Ω


# ----------------------------------------------------------------------------------
# Independent references
# ----------------------------------------------------------------------------------
def dense_nodal_solve(conductance, v_rows, r_row, r_col):
    """Dense nodal analysis of one input vector, written from the circuit convention.

    Nodes u(i, j) (row wire at cell i, j) and w(i, j) (column wire). Row i's driver is
    a fixed node at V_i joined to u(i, 0) by r_row; column j's last node joins the
    ground by r_col. A zero resistance merges the line's nodes with its driver (row)
    or the ground (column). Returns (column currents, u, w); the column current is the
    current in the ground segment (or, with r_col = 0, the sum of the cell currents).
    """
    g = np.asarray(conductance, np.float64)
    v = np.asarray(v_rows, np.float64)
    rows, cols = g.shape
    n = rows * cols

    def u_node(i, j):
        return ("drv", i) if r_row == 0 else i * cols + j

    def w_node(i, j):
        return ("gnd",) if r_col == 0 else n + i * cols + j

    branches = [(u_node(i, j), w_node(i, j), g[i, j]) for i in range(rows) for j in range(cols)]
    if r_row > 0:
        for i in range(rows):
            branches.append((("drv", i), u_node(i, 0), 1 / r_row))
            branches += [(u_node(i, j), u_node(i, j + 1), 1 / r_row) for j in range(cols - 1)]
    if r_col > 0:
        for j in range(cols):
            branches += [(w_node(i, j), w_node(i + 1, j), 1 / r_col) for i in range(rows - 1)]
            branches.append((w_node(rows - 1, j), ("gnd",), 1 / r_col))

    def fixed_voltage(node):
        return v[node[1]] if node[0] == "drv" else 0.0

    a = np.zeros((2 * n, 2 * n))
    b = np.zeros(2 * n)
    free = set()
    for p, q, gb in branches:
        for x, y in ((p, q), (q, p)):
            if isinstance(x, tuple):
                continue
            free.add(x)
            a[x, x] += gb
            if isinstance(y, tuple):
                b[x] += gb * fixed_voltage(y)
            else:
                a[x, y] -= gb
    idx = sorted(free)
    x = np.zeros(2 * n)
    if idx:
        x[idx] = np.linalg.solve(a[np.ix_(idx, idx)], b[idx])

    def volt(node):
        return fixed_voltage(node) if isinstance(node, tuple) else x[node]

    u = np.array([[volt(u_node(i, j)) for j in range(cols)] for i in range(rows)])
    w = np.array([[volt(w_node(i, j)) for j in range(cols)] for i in range(rows)])
    currents = w[-1] / r_col if r_col > 0 else (g * u).sum(axis=0)
    return currents, u, w


def numpy_kcl_imbalance(conductance, v_rows, r_row, r_col, u, w):
    """Current imbalance (A) at every row and column node, by Ohm's law on every branch."""
    g = np.asarray(conductance)
    cell = g * (u - w)
    u_left = np.concatenate([v_rows[:, None], u[:, :-1]], axis=1)
    j_row = (u_left - u) / r_row  # rightward current in the segment left of each node
    row = j_row - np.concatenate([j_row[:, 1:], np.zeros((u.shape[0], 1))], axis=1) - cell
    w_below = np.concatenate([w[1:], np.zeros((1, w.shape[1]))], axis=0)
    j_col = (w - w_below) / r_col  # downward current in the segment below each node
    col = cell + np.concatenate([np.zeros((1, w.shape[1])), j_col[:-1]], axis=0) - j_col
    return row, col


def ladder_line(n, r, g, v):
    """Exact node voltages of a uniform ladder: driver v, n segments r, n shunts g, open end.

    Interior nodes obey x_{k+1} − (2 + rg) x_k + x_{k−1} = 0, whose solutions are
    cosh(θk)-like with cosh θ = 1 + rg/2 (i.e. Chebyshev polynomials T_k(1 + rg/2) in k).
    The open end makes the profile symmetric about k = n − 1/2 and the driver fixes
    x_{−1} = v, so x_k = v cosh(θ (n − 1/2 − k)) / cosh(θ (n + 1/2)). As rg → 0 the
    far-end ratio tends to the continuum 1/cosh(√(rg) n) of device-physics.md §E.
    """
    theta = np.arccosh(1 + r * g / 2)
    k = np.arange(n)
    return v * np.cosh(theta * (n - 0.5 - k)) / np.cosh(theta * (n + 0.5))


def random_problem(rows, cols, nvec, seed, *, dtype=np.float64):
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.5, 1.0, (rows, cols)) * G_ON
    v = rng.uniform(-1.0, 1.0, (nvec, rows)) if nvec else rng.uniform(-1.0, 1.0, rows)
    return g.astype(dtype), v.astype(dtype)


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


RESISTANCES = [(1.0, 2.0), (50.0, 50.0), (0.0, 3.0), (2.0, 0.0)]


# ----------------------------------------------------------------------------------
# Agreement with the dense nodal solve
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 4), (8, 5), (16, 16)])
def test_matches_dense_nodal_solve(shape):
    """Batch of 2 random vectors (signed), random G; ≤ 1e-8 relative in float64."""
    g, v = random_problem(*shape, 2, seed=sum(shape))
    for r_row, r_col in RESISTANCES:
        sol = solve_crossbar(g, v, r_row=r_row, r_col=r_col)
        assert sol.column_currents.shape == (2, shape[1])
        assert sol.row_voltages.shape == sol.column_voltages.shape == (2,) + shape
        assert bool(jnp.all(sol.converged))
        for b in range(2):
            currents, u, w = dense_nodal_solve(g, v[b], r_row, r_col)
            assert rel_err(sol.column_currents[b], currents) <= 1e-8, (r_row, r_col)
            assert np.max(np.abs(np.asarray(sol.row_voltages[b]) - u)) <= 1e-8 * np.max(np.abs(v))
            assert np.max(np.abs(np.asarray(sol.column_voltages[b]) - w)) <= 1e-8 * np.max(np.abs(v))


def test_single_vector_and_leading_batch_shapes():
    """One vector (no batch axis) and a (1, 2, rows) batch both match the dense solve."""
    g, v = random_problem(8, 5, 2, seed=13)
    single = solve_crossbar(g, v[0], r_row=1.0, r_col=2.0)
    assert single.column_currents.shape == (5,) and single.residual.shape == ()
    assert rel_err(single.column_currents, dense_nodal_solve(g, v[0], 1.0, 2.0)[0]) <= 1e-8
    nested = solve_crossbar(g, v[None], r_row=1.0, r_col=2.0)
    assert nested.column_currents.shape == (1, 2, 5) and nested.iterations.shape == (1, 2)
    for b in range(2):
        assert rel_err(nested.column_currents[0, b], dense_nodal_solve(g, v[b], 1.0, 2.0)[0]) <= 1e-8


def test_single_zero_resistance_needs_no_iteration():
    """r_col = 0: rows are independent lines solved directly (0 CG iterations);
    r_row = 0: columns are independent lines, one CG iteration."""
    g, v = random_problem(8, 5, 2, seed=5)
    assert np.all(np.asarray(solve_crossbar(g, v, r_row=2.0, r_col=0.0).iterations) == 0)
    assert np.all(np.asarray(solve_crossbar(g, v, r_row=0.0, r_col=2.0).iterations) == 1)


@pytest.mark.parametrize("rows", [8, 37])
def test_in_place_and_parallel_line_solves_agree(rows):
    """≥ 16 vectors take the in-place row solve on the CPU (row blocks of 16; 37 rows:
    two blocks and a shifted, overlapping last one); method='parallel' the associative
    scans. Both agree with the dense solve; gradients agree too."""
    g, v = random_problem(rows, 5, 16, seed=21)
    sol = solve_crossbar(g, v, r_row=5.0, r_col=2.0)
    par = solve_crossbar(g, v, r_row=5.0, r_col=2.0, method="parallel")
    for b in (0, 15):
        ref = dense_nodal_solve(g, v[b], 5.0, 2.0)[0]
        assert rel_err(sol.column_currents[b], ref) <= 1e-8
        assert rel_err(par.column_currents[b], ref) <= 1e-8
    weights = np.random.default_rng(0).normal(size=(16, 5))

    def loss(g, method):
        return jnp.sum(crossbar_currents(g, v, r_row=5.0, r_col=2.0, method=method) * weights)

    grad_seq = jax.grad(loss)(jnp.asarray(g), "sequential")
    grad_par = jax.grad(loss)(jnp.asarray(g), "parallel")
    assert rel_err(grad_seq, grad_par) <= 1e-10


# ----------------------------------------------------------------------------------
# Analytic lines
# ----------------------------------------------------------------------------------
def test_row_line_matches_exact_ladder():
    """1 × 64 array with ideal columns (r_col = 0): the row is a uniform ladder.

    r·G = 1e-3, so √(rG)·N = 2 and the far end sees 27 % of the drive. The exact
    discrete solution (Chebyshev/cosh form) must hold to 1e-10; the continuum formula
    1/cosh(√(rG) N) of device-physics.md §E is only checked to its O(rG·N) accuracy.
    """
    n, r, g, v = 64, 1.0, G_ON, 0.7
    sol = solve_crossbar(np.full((1, n), g), np.array([v]), r_row=r, r_col=0.0)
    exact = ladder_line(n, r, g, v)
    np.testing.assert_allclose(np.asarray(sol.row_voltages[0]), exact, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(sol.column_currents), g * exact, rtol=1e-10)
    continuum = 1 / np.cosh(np.sqrt(r * g) * n)
    assert abs(exact[-1] / v - continuum) <= 2 * r * g * n * continuum


def test_column_line_matches_exact_ladder():
    """64 × 1 array with ideal rows (r_row = 0): every cell is driven at V, the column
    collects into the ground. With y = V − w the column is the same ladder, driven
    from the ground end, so y_i = V cosh(θ(i + 1/2)) / cosh(θ(N + 1/2)) and the
    output current is (V − y_{N−1}) / r."""
    n, r, g, v = 64, 1.0, G_ON, 0.7
    sol = solve_crossbar(np.full((n, 1), g), np.full(n, v), r_row=0.0, r_col=r)
    y = ladder_line(n, r, g, v)[::-1]
    np.testing.assert_allclose(v - np.asarray(sol.column_voltages[:, 0]), y, rtol=1e-10)
    np.testing.assert_allclose(float(sol.column_currents[0]), (v - y[-1]) / r, rtol=1e-10)


def test_doc_irdrop_scaling_numbers():
    """device-physics.md §E: 22 nm (1.06 Ω/cell), 1 µS, a 256-cell line loses 3.4 %."""
    r = wire_resistance_per_segment("22nm").r_row
    far = ladder_line(256, r, 1e-6, 1.0)[-1]
    assert abs((1 - far) - 0.034) < 0.001


# ----------------------------------------------------------------------------------
# Ideal limit, Kirchhoff, power
# ----------------------------------------------------------------------------------
def test_zero_wire_resistance_is_exactly_ideal():
    g, v = random_problem(8, 5, 2, seed=3)
    sol = solve_crossbar(g, v, r_row=0.0, r_col=0.0)
    np.testing.assert_array_equal(np.asarray(sol.column_currents), v @ g)
    np.testing.assert_array_equal(np.asarray(crossbar_currents(g, v, r_row=0, r_col=0)), v @ g)
    assert np.all(np.asarray(sol.row_voltages) == v[:, :, None])
    assert np.all(np.asarray(sol.column_voltages) == 0) and np.all(np.asarray(sol.converged))
    # Traced zeros (no Python branch) reach the same answer through the general path.
    traced = jax.jit(lambda r: solve_crossbar(g, v, r_row=r, r_col=r).column_currents)(0.0)
    np.testing.assert_allclose(np.asarray(traced), v @ g, rtol=1e-13)


def test_kirchhoff_residual_verified_independently():
    """Reported residual ≤ tol; Kirchhoff recomputed in NumPy ≤ 1e-6 relative to the
    cell currents; the solution's own kirchhoff_residual agrees with NumPy's."""
    g, v = random_problem(16, 16, 2, seed=8)
    for r_row, r_col in [(1.0, 2.0), (50.0, 50.0)]:
        sol = solve_crossbar(g, v, r_row=r_row, r_col=r_col, tol=1e-10)
        assert np.all(np.asarray(sol.residual) <= 1e-10)
        own = np.asarray(sol.kirchhoff_residual())
        for b in range(2):
            row, col = numpy_kcl_imbalance(g, v[b], r_row, r_col, np.asarray(sol.row_voltages[b]),
                                           np.asarray(sol.column_voltages[b]))
            scale = np.linalg.norm(g * v[b][:, None])
            kirchhoff = np.sqrt(np.sum(row**2) + np.sum(col**2)) / scale
            assert kirchhoff <= 1e-6
            assert abs(own[b] - kirchhoff) <= 1e-6
            # The output current equals the current in each column's ground segment.
            ground = np.asarray(sol.column_voltages[b])[-1] / r_col
            assert rel_err(sol.column_currents[b], ground) <= 1e-8


def test_power_balance():
    """Sources deliver what cells and wires dissipate; the wire powers also match
    Ohm's law on the returned voltages (computed here in NumPy)."""
    g, v = random_problem(16, 16, 2, seed=9)
    r_row, r_col = 2.0, 3.0
    sol = solve_crossbar(g, v, r_row=r_row, r_col=r_col)
    power = sol.power()
    source, device, wire = (np.asarray(x) for x in (power.source, power.device, power.wire))
    np.testing.assert_allclose(source, device + wire, rtol=1e-9)
    assert np.all(device > 0) and np.all(np.asarray(power.row_wire) > 0)
    for b in range(2):
        u, w = np.asarray(sol.row_voltages[b]), np.asarray(sol.column_voltages[b])
        u_left = np.concatenate([v[b][:, None], u[:, :-1]], axis=1)
        row_wire = np.sum((u_left - u) ** 2) / r_row
        w_below = np.concatenate([w[1:], np.zeros((1, w.shape[1]))])
        col_wire = np.sum((w - w_below) ** 2) / r_col
        src = np.sum(v[b] * (v[b] - u[:, 0]) / r_row)
        np.testing.assert_allclose(float(power.row_wire[b]), row_wire, rtol=1e-8)
        np.testing.assert_allclose(float(power.column_wire[b]), col_wire, rtol=1e-8)
        np.testing.assert_allclose(float(power.source[b]), src, rtol=1e-8)
        np.testing.assert_allclose(float(power.device[b]), np.sum(g * (u - w) ** 2), rtol=1e-12)


# ----------------------------------------------------------------------------------
# float32
# ----------------------------------------------------------------------------------
def test_float32_matches_float64():
    """64 × 64 at wire/device ratios 1e-5 … 1e-3 (column currents lose 0.3 %–70 % to IR
    drop): float32 column currents within 1e-4 of float64, relative to the largest."""
    rng = np.random.default_rng(4)
    g = rng.uniform(0.5, 1.0, (64, 64)) * 1e-6
    v = rng.uniform(0.0, 0.5, (2, 64))
    for ratio in (1e-5, 1e-4, 1e-3):
        r = ratio / 1e-6
        ref = solve_crossbar(g, v, r_row=r, r_col=r)
        sol = solve_crossbar(g.astype(np.float32), v.astype(np.float32), r_row=r, r_col=r)
        assert sol.column_currents.dtype == jnp.float32 and sol.row_voltages.dtype == jnp.float32
        assert np.all(np.asarray(sol.converged))
        assert rel_err(sol.column_currents, ref.column_currents) <= 1e-4, ratio


def test_float32_too_small_tol_is_reported_not_silently_wrong():
    """tol = 1e-10 is below float32's resolution: the solve must say so (STAGNATED),
    not claim convergence."""
    rng = np.random.default_rng(4)
    g = (rng.uniform(0.5, 1.0, (64, 64)) * 1e-6).astype(np.float32)
    v = rng.uniform(0.0, 0.5, (2, 64)).astype(np.float32)
    sol = solve_crossbar(g, v, r_row=100.0, r_col=100.0, tol=1e-10, on_failure="ignore")
    assert not np.any(np.asarray(sol.converged))
    assert np.all(np.asarray(sol.status) == IRDropStatus.STAGNATED)


# ----------------------------------------------------------------------------------
# Gradients and transformations
# ----------------------------------------------------------------------------------
def central_difference(f, x, step):
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = step
        grad[idx] = (f(x + e) - f(x - e)) / (2 * step)
    return grad


@pytest.mark.parametrize("r_row, r_col", [(1.0, 2.0), (40.0, 20.0), (0.0, 2.0), (3.0, 0.0)])
def test_gradients_match_finite_differences(r_row, r_col):
    """Implicit-differentiation gradients w.r.t. conductance, v_rows, r_row and r_col
    against central differences (float64), including the zero-resistance limits."""
    g, v = random_problem(8, 5, 2, seed=17)
    weights = np.random.default_rng(1).normal(size=(2, 5))

    def loss(g, v, r_row, r_col):
        return jnp.sum(crossbar_currents(g, v, r_row=r_row, r_col=r_col) * weights)

    grads = jax.grad(loss, argnums=(0, 1, 2, 3))(jnp.asarray(g), jnp.asarray(v),
                                                 jnp.asarray(r_row), jnp.asarray(r_col))
    fd_g = central_difference(lambda x: float(loss(x, v, r_row, r_col)), g, 1e-9)
    fd_v = central_difference(lambda x: float(loss(g, x, r_row, r_col)), v, 1e-6)
    assert rel_err(grads[0], fd_g) <= 1e-6
    assert rel_err(grads[1], fd_v) <= 1e-6
    for k, (r, fd) in enumerate([(r_row, lambda x: float(loss(g, v, float(x), r_col))),
                                 (r_col, lambda x: float(loss(g, v, r_row, float(x))))]):
        if r > 0:
            assert rel_err(grads[2 + k], central_difference(fd, r, 1e-5 * r)) <= 1e-6


def test_jit_equals_eager_and_no_retrace():
    g, v = random_problem(8, 5, 2, seed=2)
    eager = solve_crossbar(g, v, r_row=1.0, r_col=2.0)
    jitted = jax.jit(lambda g, v: solve_crossbar(g, v, r_row=1.0, r_col=2.0))(g, v)
    for field in ("column_currents", "row_voltages", "column_voltages"):
        np.testing.assert_allclose(np.asarray(getattr(jitted, field)),
                                   np.asarray(getattr(eager, field)), rtol=1e-10, atol=1e-16)
    np.testing.assert_array_equal(np.asarray(jitted.status), np.asarray(eager.status))

    traces = []

    @jax.jit
    def grad_step(g, v):
        traces.append(None)
        return jax.grad(lambda g: jnp.sum(crossbar_currents(g, v, r_row=1.0, r_col=2.0) ** 2))(g)

    first = grad_step(g, v)
    second = grad_step(g * 1.1, v * 0.9)
    assert len(traces) == 1
    assert not np.allclose(np.asarray(first), np.asarray(second))
    # Eager calls with new resistance values reuse the compiled core (arguments are arrays).
    size = irdrop.prepared._solve_core._cache_size()
    solve_crossbar(g, v, r_row=7.0, r_col=0.5)
    assert irdrop.prepared._solve_core._cache_size() == size


def test_vmap_over_arrays_equals_loop():
    rng = np.random.default_rng(6)
    gs = rng.uniform(0.5, 1.0, (3, 8, 5)) * G_ON
    v = rng.uniform(-1, 1, (2, 8))
    batched = jax.vmap(lambda g: solve_crossbar(g, v, r_row=1.0, r_col=2.0).column_currents)(gs)
    grads = jax.vmap(jax.grad(lambda g: jnp.sum(crossbar_currents(g, v, r_row=1.0, r_col=2.0))))(gs)
    for k in range(3):
        loop = solve_crossbar(gs[k], v, r_row=1.0, r_col=2.0).column_currents
        np.testing.assert_allclose(np.asarray(batched[k]), np.asarray(loop), rtol=1e-10)
        loop_grad = jax.grad(lambda g: jnp.sum(crossbar_currents(g, v, r_row=1.0, r_col=2.0)))(gs[k])
        np.testing.assert_allclose(np.asarray(grads[k]), np.asarray(loop_grad), rtol=1e-9)


# ----------------------------------------------------------------------------------
# Two-level (coarse-space) preconditioner
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize("coarse", [4, (4, 8), (8, 4)])
def test_coarse_space_matches_dense_nodal_solve(coarse):
    """The coarse correction changes the iterations, not the answer: ≤ 1e-8 against the
    dense solve, for 2 vectors and for 16 (the CPU in-place path), including the
    zero-resistance limits."""
    g, v = random_problem(24, 20, 16, seed=31)
    for r_row, r_col in [(2.0, 3.0), (50.0, 50.0), (0.0, 3.0), (2.0, 0.0)]:
        for batch in (v[:2], v):
            sol = solve_crossbar(g, batch, r_row=r_row, r_col=r_col, coarse_modes=coarse)
            assert bool(jnp.all(sol.converged))
            for b in (0, 1):
                currents, u, w = dense_nodal_solve(g, batch[b], r_row, r_col)
                assert rel_err(sol.column_currents[b], currents) <= 1e-8, (coarse, r_row, r_col)
                assert np.max(np.abs(np.asarray(sol.row_voltages[b]) - u)) <= 1e-8
                assert np.max(np.abs(np.asarray(sol.column_voltages[b]) - w)) <= 1e-8


def test_coarse_space_bounds_iterations():
    """128², r·G = 1e-2 (the far end of a line sees ~1e-5 of the drive): the line
    preconditioner alone needs 23 (float64) / 16 (float32) iterations, with 8 × 8 coarse
    modes at most 10 / 5, and the currents agree (float32 within 1e-4 of float64)."""
    rng = np.random.default_rng(4)
    g = rng.uniform(0.5, 1.0, (128, 128)) * 1e-6
    v = rng.uniform(0.0, 0.5, (2, 128))
    r = 1e4
    line = solve_crossbar(g, v, r_row=r, r_col=r, coarse_modes=0)
    two = solve_crossbar(g, v, r_row=r, r_col=r, coarse_modes=8)
    assert int(np.max(line.iterations)) >= 20 and int(np.max(two.iterations)) <= 10
    assert rel_err(two.column_currents, line.column_currents) <= 1e-8
    assert np.all(np.asarray(two.residual) <= 1e-10)
    f32 = solve_crossbar(g.astype(np.float32), v.astype(np.float32), r_row=r, r_col=r, coarse_modes=8)
    assert int(np.max(f32.iterations)) <= 5
    assert rel_err(f32.column_currents, line.column_currents) <= 1e-4


def test_coarse_space_float32_too_small_tol_still_reported():
    """With the coarse correction, too small a float32 tol is still STAGNATED, not
    claimed converged."""
    rng = np.random.default_rng(4)
    g = (rng.uniform(0.5, 1.0, (64, 64)) * 1e-6).astype(np.float32)
    v = rng.uniform(0.0, 0.5, (2, 64)).astype(np.float32)
    sol = solve_crossbar(g, v, r_row=100.0, r_col=100.0, tol=1e-10, on_failure="ignore", coarse_modes=8)
    assert not np.any(np.asarray(sol.converged))
    assert np.all(np.asarray(sol.status) == IRDropStatus.STAGNATED)


def test_coarse_space_gradients_and_vmap():
    """Gradients through the coarse-space path (explicit modes: conductance traced under
    vmap) match finite differences and the path without it."""
    g, v = random_problem(8, 5, 2, seed=17)
    weights = np.random.default_rng(1).normal(size=(2, 5))

    def loss(g, coarse):
        return jnp.sum(crossbar_currents(g, v, r_row=40.0, r_col=20.0, coarse_modes=coarse) * weights)

    grad = jax.grad(loss)(jnp.asarray(g), (4, 2))
    fd = central_difference(lambda x: float(loss(x, (4, 2))), g, 1e-9)
    assert rel_err(grad, fd) <= 1e-6
    assert rel_err(grad, jax.grad(loss)(jnp.asarray(g), 0)) <= 1e-9
    gs = np.stack([g, 1.2 * g])
    batched = jax.vmap(lambda g: solve_crossbar(g, v, r_row=40.0, r_col=20.0, coarse_modes=(4, 2)).column_currents)(gs)
    for k in range(2):
        ref = solve_crossbar(gs[k], v, r_row=40.0, r_col=20.0, coarse_modes=0).column_currents
        assert rel_err(batched[k], ref) <= 1e-9


def test_coarse_modes_rule():
    """Auto sizes: off for small or traced arrays and for a zero resistance; grows with
    the wire/device ratio; capped by the batch size (set-up is per array)."""
    g = np.full((1024, 1024), 0.75e-6)
    rule = irdrop.preconditioner._coarse_modes
    # r·G = 7.5e-4: ~9 smooth modes per line; capped at (32, 48), half as many along columns
    assert rule(g, 1e3, 1e3, None, 64) == (24, 48)
    assert rule(g, 1e2, 1e2, None, 64) == (12, 32)
    assert rule(g, 1.0, 1.0, None, 64) == (4, 12)
    assert rule(g, 1e3, 1e3, None, 1) == (4, 4) and rule(g, 1e3, 1e3, None, 16) == (12, 24)
    assert rule(g, 1e3, 1e3, None, 4) == (8, 12)
    assert rule(g, 1e3, 0.0, None, 64) == (0, 0)
    assert rule(np.full((8, 64), 1e-6), 1e3, 1e3, None, 64) == (0, 0)
    assert rule(g, 1e3, 1e3, (6, 0), 64) == (0, 0) and rule(g, 1e3, 1e3, (6, 2000), 64) == (6, 1024)
    seen = []
    jax.jit(lambda g: seen.append(rule(g, 1e3, 1e3, None, 64)) or g)(jnp.asarray(g[:16, :16]))
    assert seen == [(0, 0)]


# ----------------------------------------------------------------------------------
# Failure reporting and validation
# ----------------------------------------------------------------------------------
def test_unconverged_solve_is_reported():
    """max_steps = 1 at a hard ratio (r·G ≈ 1e-2 on 16 × 16): converged=False, and
    raise/warn when asked, eagerly and under jit."""
    g, v = random_problem(16, 16, 2, seed=8)
    kwargs = dict(r_row=10.0, r_col=10.0, max_steps=1)
    sol = solve_crossbar(g, v, on_failure="ignore", **kwargs)
    assert not np.any(np.asarray(sol.converged))
    assert np.all(np.asarray(sol.status) == IRDropStatus.MAX_ITERATIONS)
    assert np.all(np.asarray(sol.residual) > 1e-10)
    with pytest.raises(IRDropConvergenceError, match="did not converge"):
        solve_crossbar(g, v, **kwargs)
    with pytest.raises(IRDropConvergenceError, match="did not converge"):
        sol.check()
    with pytest.raises(IRDropConvergenceError):
        crossbar_currents(g, v, **kwargs)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        solve_crossbar(g, v, on_failure="warn", **kwargs)
    with pytest.raises(Exception, match="did not converge"):
        jax.jit(lambda g: solve_crossbar(g, v, **kwargs).column_currents)(g).block_until_ready()
    # Enough iterations: converged, and check() passes the solution through.
    assert solve_crossbar(g, v, r_row=10.0, r_col=10.0).check().converged.all()


def test_max_iter_is_a_deprecated_alias_of_max_steps():
    g, v = random_problem(16, 16, 2, seed=8)
    with pytest.warns(DeprecationWarning, match="max_steps"):
        old = solve_crossbar(g, v, r_row=10.0, r_col=10.0, max_iter=1, on_failure="ignore")
    new = solve_crossbar(g, v, r_row=10.0, r_col=10.0, max_steps=1, on_failure="ignore")
    np.testing.assert_array_equal(np.asarray(old.status), np.asarray(new.status))
    np.testing.assert_array_equal(np.asarray(old.column_currents), np.asarray(new.column_currents))
    with pytest.warns(DeprecationWarning), pytest.raises(IRDropConvergenceError):
        crossbar_currents(g, v, r_row=10.0, r_col=10.0, max_iter=1)
    with pytest.raises(TypeError, match="not both"):
        solve_crossbar(g, v, r_row=10.0, r_col=10.0, max_steps=5, max_iter=5)


@pytest.mark.parametrize("kwargs, name", [
    (dict(conductance=-np.ones((3, 4))), "conductance"),
    (dict(conductance=np.zeros((3, 4))), "conductance"),
    (dict(conductance=np.full((3, 4), np.nan)), "conductance"),
    (dict(conductance=np.ones(4)), "conductance"),
    (dict(v_rows=np.ones(4)), "v_rows"),
    (dict(v_rows=np.array([1.0, np.inf, 0.0])), "v_rows"),
    (dict(r_row=-1.0), "r_row"),
    (dict(r_col=np.nan), "r_col"),
    (dict(r_col=np.ones(2)), "r_col"),
    (dict(tol=0.0), "tol"),
    (dict(max_iter=0), "max_iter"),
    (dict(max_steps=0), "max_steps"),
    (dict(on_failure="explode"), "on_failure"),
    (dict(method="magic"), "method"),
    (dict(coarse_modes=-1), "coarse_modes"),
    (dict(coarse_modes=(1, 2, 3)), "coarse_modes"),
])
@pytest.mark.filterwarnings("ignore:max_iter is deprecated:DeprecationWarning")
def test_bad_inputs_raise_value_error(kwargs, name):
    args = dict(conductance=np.full((3, 4), 1e-6), v_rows=np.ones(3), r_row=1.0, r_col=1.0)
    args.update(kwargs)
    conductance, v_rows = args.pop("conductance"), args.pop("v_rows")
    for fn in (solve_crossbar, crossbar_currents):
        with pytest.raises(ValueError, match=name):
            fn(conductance, v_rows, **args)


def test_shape_checks_apply_under_jit():
    with pytest.raises(ValueError, match="v_rows"):
        jax.jit(lambda g, v: crossbar_currents(g, v, r_row=1.0, r_col=1.0))(jnp.ones((3, 4)), jnp.ones(4))


def test_wire_resistance_table():
    assert wire_resistance_per_segment("45nm") == (0.49, 0.49)
    assert wire_resistance_per_segment(14).r_col == 2.03
    assert wire_resistance_per_segment("14 nm", cell="1T1R") == (4.06, 12.2)
    with pytest.raises(ValueError, match="node"):
        wire_resistance_per_segment("22nm", cell="1t1r")  # not documented
    with pytest.raises(ValueError, match="cell"):
        wire_resistance_per_segment("22nm", cell="sram")


def test_docstring_examples():
    """The examples of every module of the subpackage (testmod on the package alone
    would only see objects defined in its __init__)."""
    attempted = 0
    for module in (irdrop, irdrop.wires, irdrop.results, irdrop.prepared, irdrop.solve):
        failures, tried = doctest.testmod(module, verbose=False, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__
        attempted += tried
    assert attempted >= 4
