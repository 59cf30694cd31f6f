r"""IR drop in a passive crossbar array: exact nodal solve, fast and differentiable.

Circuit convention
------------------
A crossbar of ``rows × cols`` cells. ``conductance[i, j]`` (S) joins *row node* (i, j)
to *column node* (i, j).

* Row i is driven by an ideal voltage source ``v_rows[..., i]`` (V) at its column-0 end.
  One wire segment of resistance ``r_row`` (Ω) lies between the driver and cell (i, 0)
  and one between each pair of adjacent cells of the row; the row's far end
  (after cell (i, cols−1)) is open.
* Column j is read at its last-row end into a virtual ground at 0 V. One segment of
  resistance ``r_col`` (Ω) lies between adjacent cells of the column and one between
  cell (rows−1, j) and the ground; the column's top end (above cell (0, j)) is open.
* Rows are the inputs (driven lines), columns the outputs. With no wire resistance the
  answer is the ideal matrix–vector product ``column_currents = v_rows @ conductance``.

The output ``column_currents[..., j]`` is the current that column j delivers into the
virtual ground, evaluated by Kirchhoff's current law as the sum of its cell currents,
``Σ_i G_ij (V_row_ij − V_col_ij)`` (equal, at convergence, to the current in the last
column segment; this form stays finite in the zero-resistance limits).

Assumptions: linear (ohmic) cells, uniform wire resistance per segment, ideal drivers
and an ideal virtual ground, DC (no capacitance). Sneak paths are included exactly
since the whole network is solved.

Algorithm
---------
The nodal equations for the unknown row-node voltages ``u`` and column-node voltages
``w`` form a symmetric positive definite system

    [ T_r   −D ] [u]   [g_r V e_0]        T_r: row wires + cells, one tridiagonal block per row
    [ −D   T_c ] [w] = [    0    ],       T_c: column wires + cells, one per column,  D = diag(G).

Every line block is factorised once per conductance array (a cancellation-free
"ladder" elimination that starts at the line's open end, so all pivots are sums of
positive terms). The row voltages are eliminated exactly, ``u = T_r⁻¹(g_r V e_0 + D w)``,
and the Schur complement ``S w = D u₀`` with ``S = T_c − D T_r⁻¹ D`` is solved by
fixed-point steps, then conjugate gradients, preconditioned by ``T_c`` (exact solves of
every column line) plus a two-level (coarse-space) correction. Each iteration costs one tridiagonal solve
of every row line and one of every column line (scans along the lines, vectorised
across lines and across the batch of input vectors, which share the factorisation and
iterate together; sequential loops on CPUs, log-depth ``lax.associative_scan`` on
accelerators, see ``method``). ``T_c p`` is carried by recurrence instead of recomputed
(recomputing it in float32 loses digits). ``u₀ = V T_r⁻¹ e_0`` is a per-array profile,
and the final ``T_r⁻¹ D w`` comes from the last residual check, so the input vectors
cost no row solves besides the iterations and that check.

The fixed-point steps come first (:mod:`.cg`): ``w ← w + M r`` from ``w = 0``, each
followed by the true residual of the new iterate (the same row and column solves as a
CG step, with no separate check to follow). Their error shrinks per step by the
spectral radius of ``T_c⁻¹ D T_r⁻¹ D``, which is small when the wires are weak against
the cells over the array (``r G L²`` small: the realistic case, e.g. 1.6e-4 for the
392 × 100 tiles of a 784-100-10 MLP at 1.06 Ω and ~0.5 µS), so the solve ends after two
steps: three solves of the column lines and two of the row lines, against four and
three for two CG steps and their check. A vector whose residual does not shrink ten-fold
in a step goes on with CG from there (stiff arrays, where CG converges faster).

The line preconditioner alone leaves the smooth error modes slow — those longer than
the wire decay length ``1/√(r G)`` in both directions, where ``S`` is close to a 2-D
wire Laplacian — so iterations grew with ``N √(r G)`` (31 at 1024², r·G = 1e-3). The
coarse space ``Z = P ⊗ Q`` holds the products of the ``k_i`` lowest column-line and
``k_j`` lowest row-line Laplacian modes (cosines/sines, independent of ``G``); with the
exact Galerkin matrices ``E = Zᵀ S Z`` and ``F = Zᵀ T_c Z`` the preconditioner is
``M = T_c⁻¹ + Z (E⁻¹ − F⁻¹) Zᵀ``: symmetric positive definite (``E ≤ F``), equal to
``T_c⁻¹`` away from the coarse space and turning it into ``E⁻¹`` on it. ``E`` is built
from one row solve with ``k_j`` right-hand sides per conductance array, written
without cancellation (``S = L_c + ρ_c Ĝ T_r⁻¹ L_r``) and with the Laplacians applied to
the rounded bases, so it stays the Galerkin matrix of the iterated operator in float32;
each iteration adds three thin GEMMs (``Pᵀ r``, ``P c``, ``L_c P c``). (Deflated CG with
the same space converged equally in float64 but broke down in float32 once the
residual reached rounding level; this additive form does not.) The number of modes is
chosen per call (``coarse_modes``), more of them along the rows than along the columns.
Measured (float32, tol 1e-5, 1024², batch 64): 2 / 2 / 2 / 3 iterations at r·G = 1e-6 /
1e-5 / 1e-4 / 1e-3, against 3 / 5 / 12 / 31 with the line preconditioner alone (a
diagonal one needs thousands).

Everything is done in scaled, dimensionless units (conductances relative to
``max(G)``, voltages relative to ``max|V|`` per input vector, wire resistance as the
ratio ``ρ = r · max(G)``), with the row voltages assembled from two cancellation-free
terms (``V T_r⁻¹ e_0`` and ``ρ_r T_r⁻¹ Ĝ w``), so float32 is accurate (column currents within ~1e-6–5e-5 of the
float64 answer, relative to the largest, up to 1024² and r·G = 1e-3) and zero wire
resistance is an ordinary case (``ρ = 0``).

Convergence is measured by the *true* preconditioned residual, recomputed from the
iterate after every fixed-point step and at the end of each CG cycle (residual
replacement): ``residual =
‖T_c⁻¹(D u₀ − S w)‖₂ / ‖T_c⁻¹ D u₀‖₂``, the relative size of the column-voltage change
that one more exact block Gauss–Seidel sweep would make. If it exceeds ``tol`` CG is
restarted from the true residual; if a restart no longer reduces it (the tolerance is
below what the dtype can resolve) the solve stops with ``status = STAGNATED``.
Every loop of the solver is bounded: fixed-point steps, CG steps, restarts and cycles
together by ``max_steps`` (``iterations`` counts fixed-point and CG steps) (``status = MAX_ITERATIONS`` when it is reached), the line solves by the
line lengths. Every solution, the adjoint solve of the gradient included, carries the
per-vector :class:`IRDropStatus`. Kirchhoff's law can be checked independently with
:meth:`IRDropSolution.kirchhoff_residual`.

Matrix products (the coarse correction, the Galerkin matrices, the ideal MVM at zero
wire resistance) use ``precision=HIGHEST``: true float32 on GPUs, not TF32.

Gradients
---------
:func:`crossbar_currents` is differentiable with respect to ``conductance``,
``v_rows``, ``r_row`` and ``r_col`` by implicit differentiation (``jax.custom_vjp``):
the adjoint of the symmetric nodal system is one more solve with the same operator and
the same factorisation, never a backward pass through the iterations.

Prepare once, solve many
------------------------
The factorisation depends only on the conductance array, the wire resistances and the
number of input vectors per solve, so it can be kept and reused
(:mod:`.prepared`):

* :func:`prepare_crossbar` factorises one array's network (line pivots, drive profile,
  coarse space) into a :class:`PreparedCrossbar` pytree;
* :func:`solve_prepared` reads it forward (rows driven, column currents) and returns
  the :class:`PowerBalance` of that read, computed from the same solve's scaled node
  voltages (cells ``Σ G (u − w)²``, wires ``r Σ J²`` with the wire currents ``J`` the
  cumulative sums of the cell currents, source ``Σ V I``), not by a second solve;
* :func:`solve_transposed` reads it the other way: columns driven at their read end,
  rows held at 0 V at their driver end, row currents out. By reciprocity (the
  short-circuit admittance matrix of a passive linear network is symmetric) this is
  exactly the transpose of the forward transfer, and it is the adjoint solve of the
  gradient, so it needs the same factors and no new factorisation.

One preparation thus serves the forward read, its power and the transposed read (the
backward pass of analog training). :func:`solve_crossbar` and
:func:`crossbar_currents` are one-shot forms that factorise inside each call.

* A *stack* of prepared arrays of one shape (``jax.vmap`` of :func:`prepare_crossbar`,
  e.g. both arrays of a differential pair on every tile) is read by one call of
  :func:`solve_prepared` / :func:`solve_transposed` with ``v`` of shape ``stack + batch
  + (n,)``: the stack joins the batch axes of one solve (``network._stacked``), so one
  loop serves all the arrays (``vmap`` of the solve would run a loop per array, with
  batched loop predicates that select every carried array at every step).
* On the CPU a read of more than 64 vectors is solved in chunks of at most 64, one after
  another (``prepared._MAX_CHUNK``): its buffers stay small and in cache.
* :func:`transfer_matrix` returns the network's exact linear map ``T`` (reads of unit
  drives on the shorter side, ``min(rows, cols)`` solves): ``column_currents = v_rows @
  T`` and ``row_currents = v_cols @ T.T`` for any number of vectors. The tile reads
  large batches through it (test accuracy: 1000 images per call), see
  :meth:`synaptax.arrays.Tile._ir_drop_currents`.

Cost in training
----------------
``benchmarks/irdrop_training.py`` times one epoch of the default ``synaptax train``
(784-100-10, batch 16, 312 steps, then the 10k test images) with and without
``--ir-drop`` (CPU seconds on one shared core; ``benchmarks/results/
irdrop_training.json``, ``before`` and ``after`` in one session). Before, a step took
114 ms against 1.2 ms with ideal wires, 108 ms of it the first layer's forward solves
(2 iterations per vector; preparation 0.5 ms), and the test accuracy 117 s (batches of
1000 solved in one piece): an epoch 152 s (211 s with compilation) against 0.41 s
(10.8 s). What changed: the fixed-point start (two line solves fewer per read, same
stopping criterion), one stacked solve of every tile of both arrays (no batched loop
predicates, half the compiled solvers), the wire power by two sequential loops instead
of ``jnp.cumsum`` (about ten elementwise passes per axis on the CPU), chunks of 64
vectors, and large batches through the transfer matrices. After: 44 ms per step (43 ms
the first layer's reads), the test accuracy 3.2 s, an epoch 16.9 s (51 s with
compilation, of which 34 s compiling) against 0.42 s (10.3 s); the same test accuracy
(87.30 %) and iterations (2 per vector in the first layer, 1 in the second). The
whole ``synaptax train --epochs 1 --ir-drop`` (start-up, report and plots included)
took 207 CPU s before and 106 s after, against 24–25 s with ideal wires (8.5× → 4.2×).
What remains is the line solves themselves (five per read, memory-bound sequential
loops, ~6 ms each on the first layer's four 392 × 100 arrays × 16 vectors) and the
compilation of each solve (2–3 s per solver instance: three in the step, which the
training loop compiles twice, for its two chunk lengths).

Modules
-------
``wires`` (documented wire resistance), ``results`` (status codes, solutions, power,
failure handling), ``lines`` (ladder pivots and line solves), ``preconditioner``
(coarse space and its size rule), ``network`` (assembly of the factors, scales,
layouts, stacked layout, Kirchhoff residual, power), ``cg`` (the Schur-complement
solve: fixed-point steps, then CG), ``prepared`` (the factorisation, the forward and
transposed solves, stacks, chunks, the transfer matrix, the prepared API),
``implicit`` (the ``custom_vjp`` and its adjoint), ``solve`` (the one-shot API),
``_common`` (defaults, small helpers, argument validation).
"""
from __future__ import annotations

from ._common import DEFAULT_MAX_ITER, DEFAULT_MAX_STEPS, DEFAULT_TOL, Method, OnFailure

# Internal names of the former single module, kept importable from here for old callers
# (new code: from their modules). The factorisation to count or patch is
# ``prepared._factorise`` (a name bound here would not be the one the solves call).
from .implicit import _adjoint, _currents
from .network import _kirchhoff_residual
from .preconditioner import _coarse_modes
from .prepared import (
    PreparedCrossbar,
    _solve_core,
    prepare_crossbar,
    solve_prepared,
    solve_transposed,
    transfer_matrix,
)
from .results import (
    ForwardSolution,
    IRDropConvergenceError,
    IRDropSolution,
    IRDropStatus,
    PowerBalance,
    TransposedSolution,
)
from .solve import crossbar_currents, solve_crossbar
from .wires import WIRE_RESISTANCE_PER_SEGMENT, WireResistance, wire_resistance_per_segment

__all__ = [
    "DEFAULT_MAX_STEPS",
    "ForwardSolution",
    "IRDropConvergenceError",
    "IRDropSolution",
    "IRDropStatus",
    "PowerBalance",
    "PreparedCrossbar",
    "TransposedSolution",
    "WIRE_RESISTANCE_PER_SEGMENT",
    "WireResistance",
    "crossbar_currents",
    "prepare_crossbar",
    "solve_crossbar",
    "solve_prepared",
    "solve_transposed",
    "transfer_matrix",
    "wire_resistance_per_segment",
]
