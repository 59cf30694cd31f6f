"""Fit a compact device model to measured pulse responses (what ``synaptax fit`` runs).

The procedure, for one model (:mod:`.models` lists the laws):

1. **Per device**, the conductance is normalised to the lowest and highest value measured
   on it, ``y = (G − lo)/(hi − lo)``.  A device whose reads span less than 10⁻³ of the median
   device's range is *stuck* (counted at the bound it sits nearest and left out of the
   rest).  Increments that end on the device's highest or lowest read (the last pulse
   before, or any pulse at, a saturated bound) are *censored*: the bound clipped them, so
   what is known is only that the unclipped change would have reached it.
2. **The law** is fitted to every device's one-pulse increments ``Δy`` against ``y`` by
   maximum likelihood — weighted least squares for the observed changes and, for the
   hard-bounded laws, the probability of reaching the bound for the censored ones (a Tobit
   likelihood, written as residuals ``√(−2·log Φ(z))`` so that one least-squares solver
   serves both; a soft law's step vanishes at its bound, so its censored changes, cells
   sitting on the bound, are left out) — all devices at once (one ``jax.vmap``-ed Levenberg–Marquardt
   solve of optimistix, in float64).  optimistix rather than hand-written iterations: it is
   the JAX-native, maintained solver family of equinox (which synaptax already builds on),
   so the fit jit-compiles and vmaps over devices, and its Jacobian gives the covariance.
3. **The cycle-to-cycle noise** is read from the residuals: their variance is modelled as
   ``(c2c·Δ(y))² + (c2c_range·w)²`` — a part proportional to the law's step at the present
   conductance (so the noise depends on ``G`` where the data show it) and a constant part
   relative to the cell's window ``w`` — by least squares on the squared residuals of the
   changes that end more than 3σ inside the window (nearer a bound the clip truncates
   them), coefficients kept ≥ 0, corrected for the parameters fitted per device; steps 2 and 3
   are iterated three times with weights ``1/σ²``.  These are exactly the
   :class:`~synaptax.devices.core.variability.StepVariability` fields ``c2c`` and
   ``c2c_range``.
   A law with a *shape* (γ of linear and pow, NL of exp), one value for every simulated
   cell, is then refitted with the shape as one parameter shared by all devices, jointly
   with every device's steps and bounds (one Levenberg–Marquardt solve over all devices,
   normal equations by Cholesky), starting from the median of the per-device shapes; the
   per-device shapes' spread is reported, not simulated.
4. **Device-to-device spreads** come from the per-device estimates: the nominal step is the
   mean of the devices' steps ``(s_up + s_down)/2`` and ``d2d_step`` its relative spread; the
   up/down asymmetry ``β = (s_up − s_down)/(s_up + s_down)`` gives ``asymmetry`` (mean) and
   ``d2d_asymmetry`` (spread); the bounds give ``d2d_bounds`` (spread relative to the half
   window).  Every spread is corrected for the estimation noise of the per-device values
   (``var(estimates) − mean(se²)``).
5. **Uncertainties** are one standard error: of a per-device value or a shared shape, from
   the weighted Jacobian (scaled by the reduced χ² of the observed changes); of a nominal value, the standard error of the mean
   over devices (which includes the real spread); of a spread ``σ``, ``σ/√(2(N−1))``.
6. **Model choice** (``model="auto"``): the Bayesian information criterion over
   ``constant``, ``linear``, ``soft-bounds`` and ``pow`` with the Gaussian likelihood of step
   3's noise model over the observed (uncensored) changes, the same data for every law; the
   hard-bounded laws only when at least half the devices saturate at both bounds (:data:`.models.AUTO_CANDIDATES`; exp is the linear law in other
   coordinates, see :mod:`.models`).
7. **Relaxation** (with time stamps): the rest reads after a cycle's last pulse are fitted,
   pooled over devices, by ``x(t) = r + (x₀ − r)·φ(t)`` with ``φ = e^{−t/τ}`` (exp) or
   ``(1 + t/τ)^{−α}`` (pow), ``x`` the position in each cell's window; the BIC chooses among
   no relaxation, exp and pow.  The result is the device's
   :class:`~synaptax.devices.generic.relaxation.Relaxation`.

Everything returned is in SI units (S, s, V, J).
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .data import Measurements, MeasurementError
from .models import AUTO_CANDIDATES, LAWS, MODELS, table_delta

#: Fewest one-pulse increments per direction a device needs, beyond its parameters per direction.
MIN_EXTRA_POINTS = 2
#: An increment ending within this fraction of its device's range of the extreme read is censored.
CENSOR_TOLERANCE = 1e-9
#: A bound counts as saturated (its changes censored) where this many changes end on it.
SATURATED_READS = 2
#: A device whose reads span less than this fraction of the median device's range is stuck.
STUCK_FRACTION = 1e-3
#: A power-law relaxation fit whose exponent exceeds this is the exponential law (its limit).
POW_AS_EXP = 20.0
#: Parameters of a law's shape, one value for every simulated cell: pooled over devices.
SHAPE_PARAMETERS = ("gamma_up", "gamma_down", "nl_up", "nl_down")
#: The range each law allows its shape parameters (the device classes check it).
SHAPE_RANGE = {"linear": (0.0, 1.0), "pow": (0.0, math.inf), "exp": (0.0, math.inf)}
#: Largest joint Jacobian (residuals × parameters) of a law with shared shape parameters;
#: beyond it the shape is held at its pooled per-device estimate instead (float64 entries).
JOINT_JACOBIAN_LIMIT = 40_000_000
#: The noise model is read from changes ending at least this many σ inside the window.
NOISE_MARGIN = 3.0
#: Bins of the table model's pooled mean step (per direction).
TABLE_BINS = 24


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One fitted parameter: value, one standard error, unit, and how it was obtained."""

    value: float
    se: float
    unit: str
    note: str


@dataclasses.dataclass(frozen=True)
class LawFit:
    """The fit of one law to every device (normalised units, see :mod:`.models`).

    Attributes:
        model: model name.
        p: per-device parameters, shape ``(D, k)``.
        se: their standard errors, ``(D, k)``.
        c2c, c2c_range: the noise model's coefficients; ``c2c_se``, ``c2c_range_se`` their errors.
        loglik: Gaussian log-likelihood of the increments (normalised units).
        n: number of increments; k: number of free parameters (per-device × D + noise).
        bic: ``−2·loglik + k·ln n``.
        rms: root-mean-square residual per device (normalised), ``(D,)``.
        chi2: reduced χ² of the final weighted fit.
        converged: whether every device's solve reported success.
        table: the table model's grids and pooled steps (None for the others).
        shape: the law's shape parameters (γ, NL) held common to all devices in the final
            fit: name → ``(value, se, observed device-to-device spread)``.
    """

    model: str
    p: np.ndarray
    se: np.ndarray
    c2c: float
    c2c_se: float
    c2c_range: float
    c2c_range_se: float
    loglik: float
    n: int
    k: int
    bic: float
    rms: np.ndarray
    chi2: float
    converged: bool
    table: dict | None = None
    shape: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RelaxationFit:
    """The fitted relaxation: ``law`` ``"none"``, ``"exp"`` or ``"pow"``; parameters
    (``rest``: fraction of the window; ``tau`` [s]; ``exponent``) with standard errors; the
    BIC of each candidate; number of rest reads and segments; rms residual (fraction of the
    window)."""

    law: str
    rest: Parameter | None
    tau: Parameter | None
    exponent: Parameter | None
    bic: dict
    reads: int
    segments: int
    rms: float


@dataclasses.dataclass(frozen=True)
class DeviceFit:
    """Everything ``synaptax fit`` found (see the module docstring for the method).

    Attributes:
        model: the chosen model; ``chosen_by``: "BIC among …" or "--model".
        device: the synaptax device built from the nominal parameters.
        parameters: constructor argument → :class:`Parameter` (SI units).
        variability: StepVariability field → :class:`Parameter`.
        relaxation: :class:`RelaxationFit` or None (no time stamps / no rest reads).
        spread_not_modelled: observed device-to-device spread of parameters the simulator
            holds fixed (relative for steps, absolute for dimensionless ones).
        alternative: the same law in other coordinates (a linear fit's exp parameters).
        per_device: device id → parameter name → value (SI), the per-device estimates.
        fits: model name → :class:`LawFit` of every model fitted.
        goodness: numbers describing the fit (rmse in S, R² of the increments, χ²).
        counts: devices, stuck devices, increments used (censored ones included), censored,
            gaps, rows.
        source, source_sha256, date: provenance.
    """

    model: str
    chosen_by: str
    device: object
    parameters: dict
    variability: dict
    relaxation: RelaxationFit | None
    spread_not_modelled: dict
    alternative: dict
    per_device: dict
    fits: dict
    goodness: dict
    counts: dict
    source: str
    source_sha256: str
    date: str
    stuck: dict = dataclasses.field(default_factory=dict)

    @property
    def provenance(self) -> str:
        """``fitted from SOURCE on DATE``."""
        return f"fitted from {Path(self.source).name} on {self.date}"


# --------------------------------------------------------------------------- preparation
@dataclasses.dataclass(frozen=True)
class _Prepared:
    ids: list            # device ids (working devices)
    lo: np.ndarray       # (D,) lowest read [S]
    hi: np.ndarray       # (D,) highest read [S]
    y: np.ndarray        # (D, M) normalised conductance before the pulse
    dy: np.ndarray       # (D, M) normalised change
    up: np.ndarray       # (D, M) bool
    mask: np.ndarray     # (D, M) bool
    cens: np.ndarray     # (D, M) int8: +1 ends on the highest read, −1 on the lowest, 0 observed
    rows: list           # per device: data rows of its increments
    counts: dict
    stuck: dict          # id -> "min" | "max"


def _prepare(data: Measurements) -> _Prepared:
    ids = list(data.devices)
    if not ids:
        raise MeasurementError(f"{data.source}: no data rows")
    index = {d: i for i, d in enumerate(ids)}
    dev_of_row = np.array([index[d] for d in data.device])
    lo = np.full(len(ids), np.inf)
    hi = np.full(len(ids), -np.inf)
    np.minimum.at(lo, dev_of_row, data.conductance)
    np.maximum.at(hi, dev_of_row, data.conductance)
    span = hi - lo
    median = float(np.median(span))
    if median <= 0:
        raise MeasurementError(f"{data.source}, column conductance_S: no device's conductance changes; "
                               "nothing to fit")
    stuck_mask = span < STUCK_FRACTION * median
    inc = data.increments()
    keep_dev = ~stuck_mask
    mid = 0.5 * (np.mean(lo[keep_dev]) + np.mean(hi[keep_dev]))
    stuck = {ids[i]: ("min" if lo[i] < mid else "max") for i in np.flatnonzero(stuck_mask)}
    d = np.asarray(inc.device_index)
    g0, g1, direction = (np.asarray(a) for a in (inc.g_before, inc.g_after, inc.direction))
    rows_all = np.asarray(inc.row)
    tol = CENSOR_TOLERANCE * span[d]  # a saturated read may differ from the extreme by rounding
    at_hi = g1 >= hi[d] - tol
    at_lo = g1 <= lo[d] + tol
    # a bound is saturated where at least SATURATED_READS changes end on the extreme read
    n_hi = np.bincount(d[at_hi], minlength=len(ids))
    n_lo = np.bincount(d[at_lo], minlength=len(ids))
    sat_hi, sat_lo = n_hi >= SATURATED_READS, n_lo >= SATURATED_READS
    cens_all = np.where(at_hi & sat_hi[d], 1, np.where(at_lo & sat_lo[d], -1, 0)).astype(np.int8)
    censored = cens_all != 0
    use = keep_dev[d]
    work = [i for i in range(len(ids)) if keep_dev[i]]
    per = [np.flatnonzero(use & (d == i)) for i in work]
    m = max((len(p) for p in per), default=0)
    n_dev = len(work)
    y = np.zeros((n_dev, max(m, 1)))
    dy = np.zeros_like(y)
    up = np.zeros(y.shape, bool)
    mask = np.zeros(y.shape, bool)
    cens = np.zeros(y.shape, np.int8)
    rows = []
    for j, (i, sel) in enumerate(zip(work, per)):
        s = hi[i] - lo[i]
        y[j, :len(sel)] = (g0[sel] - lo[i]) / s
        dy[j, :len(sel)] = (g1[sel] - g0[sel]) / s
        up[j, :len(sel)] = direction[sel] > 0
        mask[j, :len(sel)] = True
        cens[j, :len(sel)] = cens_all[sel]
        rows.append(rows_all[sel])
    counts = {"devices": len(ids), "stuck_devices": int(stuck_mask.sum()), "increments": int(use.sum()),
              "censored_at_bounds": int((censored & keep_dev[d]).sum()), "gaps": int(inc.gaps),
              "saturated_devices": int((sat_hi & sat_lo & keep_dev).sum()),
              "rows": int(data.n_rows)}
    return _Prepared([ids[i] for i in work], lo[keep_dev], hi[keep_dev], y, dy, up, mask, cens, rows, counts, stuck)


def _check_enough(prep: _Prepared, model: str, source: str) -> None:
    law = LAWS[model]
    per_direction = math.ceil(len(law.params) / 2)
    need = per_direction + MIN_EXTRA_POINTS
    for j, dev in enumerate(prep.ids):
        for flag, word in ((True, "up"), (False, "down")):
            n = int((prep.mask[j] & (prep.cens[j] == 0) & (prep.up[j] == flag)).sum())
            if n < need:
                rows = prep.rows[j]
                where = f"rows {rows.min()}–{rows.max()}" if rows.size else "no usable rows"
                raise MeasurementError(
                    f"{source}, {where}, column direction: device {dev!r} has {n} usable {word}-pulse increment"
                    f"{'s' if n != 1 else ''}, fewer than the {need} needed to fit {model!r} (consecutive reads "
                    f"one pulse apart, not ending on the device's extreme read)")


# --------------------------------------------------------------------------- least squares
def _residual(delta, p, args):
    """Weighted residuals whose sum of squares is −2·log-likelihood (up to a constant): an
    observed change ``(Δy − Δ)/σ``; a change that ended on the highest (lowest) read —
    *censored*: the cell hit its bound — ``√(−2·log Φ(z))`` with ``z`` the distance past the
    bound the unclipped change would have reached, in units of σ (a Tobit likelihood)."""
    from jax.scipy.stats import norm

    y, dy, up, mask, sigma, cens, free, fixed = args
    p = jnp.where(free, p, fixed)
    pred = delta(p, y, up)
    observed = (dy - pred) / sigma
    z = jnp.where(cens > 0, y + pred - 1.0, -(y + pred)) / sigma
    censored = jnp.sqrt(jnp.maximum(-2.0 * norm.logcdf(z), 1e-30))
    return jnp.where(mask, jnp.where(cens == 0, observed, censored), 0.0)


def _solve_one(delta, p0, y, dy, up, mask, sigma, cens, free):
    import optimistix as optx

    args = (y, dy, up, mask, sigma, cens, free, p0)
    fn = functools.partial(_residual, delta)
    sol = optx.least_squares(fn, optx.LevenbergMarquardt(rtol=1e-10, atol=1e-12), p0, args=args, throw=False,
                             max_steps=400)
    p = jnp.where(free, sol.value, p0)
    return p, jax.jacfwd(fn)(p, args), fn(p, args), sol.result == optx.RESULTS.successful


@functools.partial(jax.jit, static_argnums=0)
def _solve_all(delta, p0, y, dy, up, mask, sigma, cens, free):
    """Weighted Levenberg–Marquardt per device (vmapped over the leading axis): parameters,
    Jacobian of the weighted residuals, the residuals and whether each solve succeeded.
    Parameters where ``free`` (shape ``(k,)``) is False keep their starting values."""
    return jax.vmap(functools.partial(_solve_one, delta), in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
        p0, y, dy, up, mask, sigma, cens, free)


def _noise_model(r2, pred2, w2, mask, dof_scale, terms=(0, 1)):
    """Least squares of squared residuals on ``[Δ², w²]`` with weights ``1/σ⁴`` (kept ≥ 0;
    ``terms`` the regressors allowed: a constant-step law has one step per device, so its
    multiplicative and additive noise are one thing and only ``c2c`` is fitted).

    Returns ``(c2c², c2c_range², cov)``."""
    sel = mask.ravel()
    t = (r2 * dof_scale).ravel()[sel]
    x = np.stack([pred2.ravel()[sel], w2.ravel()[sel]], axis=1)
    coef = np.zeros(2)
    coef[terms[-1]] = max(float(np.mean(t / np.maximum(x[:, terms[-1]], 1e-300))), 1e-30)
    for _ in range(3):
        var = x @ coef
        var = np.maximum(var, 1e-3 * max(float(np.mean(var)), 1e-30))
        wt = 1.0 / (2.0 * var**2)
        active = list(terms)
        while True:
            xa = x[:, active]
            a = xa.T @ (xa * wt[:, None])
            b = xa.T @ (t * wt)
            sol = np.linalg.lstsq(a, b, rcond=None)[0]
            if np.all(sol >= 0) or len(active) == 1:
                break
            active = [active[int(np.argmax(sol))]]
        coef = np.zeros(2)
        coef[active] = np.maximum(sol, 0.0)
    if not np.any(coef > 0):
        coef[terms[-1]] = 1e-30
    # the covariance with the weights of the final coefficients
    var = np.maximum(x @ coef, 1e-3 * max(float(np.mean(x @ coef)), 1e-30))
    wt = 1.0 / (2.0 * var**2)
    active = [i for i in terms if coef[i] > 0] or [terms[-1]]
    xa = x[:, active]
    cov = np.zeros((2, 2))
    cov[np.ix_(active, active)] = np.linalg.pinv(xa.T @ (xa * wt[:, None]))
    return float(coef[0]), float(coef[1]), cov


def fit_law(prep: _Prepared, model: str) -> LawFit:
    """Fit ``model`` to the prepared increments (see the module docstring)."""
    law = LAWS[model]
    table = None
    delta = law.delta
    if model == "table":
        table = _pooled_table(prep)
        delta = table_delta(table["y_up"], table["up"], table["y_down"], table["down"])
    n_dev, k = len(prep.ids), len(law.params)
    observed = prep.mask & (prep.cens == 0)
    p0 = np.stack([law.init(prep.y[j][observed[j]], prep.dy[j][observed[j]], prep.up[j][observed[j]])
                   for j in range(n_dev)])
    y, dy, up, mask, cens = (jnp.asarray(a) for a in (prep.y, prep.dy, prep.up, prep.mask, prep.cens))
    sigma = jnp.ones_like(y)
    n_per = observed.sum(axis=1)
    dof_scale = (n_per / np.maximum(n_per - k, 1))[:, None]
    terms = (0,) if model == "constant" else (0, 1)
    p = jnp.asarray(p0)
    use = observed
    shape_idx = tuple(i for i, name in enumerate(law.params) if name in SHAPE_PARAMETERS)
    k_free = k - len(shape_idx)
    joint = bool(shape_idx) and prep.y.size * (len(shape_idx) + n_dev * k_free) <= JOINT_JACOBIAN_LIMIT
    all_free = jnp.ones(k, bool)
    shape = {}
    for i in range(6 if shape_idx else 4):
        last = i == (5 if shape_idx else 3)
        if shape_idx and i == 3:
            # stage 2: the law's shape (γ, NL: one value for every simulated cell) becomes one
            # parameter shared by all devices, fitted jointly with each device's steps and bounds
            shape = _pooled_shape(law, np.asarray(p), _standard_errors(np.asarray(jac), res, observed, k),
                                  shape_idx)
            pn = np.asarray(p).copy()
            for j in shape_idx:
                pn[:, j] = shape[law.params[j]][0]
            p = jnp.asarray(pn)
        # the censored changes enter once σ is known (with σ = 1 they would dominate), and
        # only for a hard-bounded law: a soft law's step vanishes at its bound, where a cell
        # that reached it stays (no clip to speak of), so they carry no information there
        m = jnp.asarray(observed) if i == 0 or law.soft else mask
        if shape_idx and i >= 3 and joint:
            p_j, cov_j, res_j, ok_j = _solve_joint(delta, shape_idx, p, y, dy, up, m, sigma, cens)
            if bool(np.all(np.asarray(ok_j))) and np.all(np.isfinite(np.asarray(res_j))):
                p, cov_joint, res, ok = p_j, cov_j, res_j, ok_j
            else:  # the joint solve failed: the shape stays at its pooled per-device value
                joint = False
        if not (shape_idx and i >= 3 and joint):
            free = all_free if not (shape_idx and i >= 3) else jnp.asarray([j not in shape_idx for j in range(k)])
            p, jac, res, ok = _solve_all(delta, p, y, dy, up, m, sigma, cens, free)
        if last:
            break
        pred = np.asarray(jax.vmap(delta)(p, y, up))
        w = np.asarray(p[:, 1] - p[:, 0]) if law.soft else np.ones(n_dev)
        r2 = (np.asarray(dy) - pred) ** 2
        c2, cr2, cov = _noise_model(r2, pred**2, np.broadcast_to((w**2)[:, None], pred.shape), use, dof_scale, terms)
        var = c2 * pred**2 + cr2 * (w**2)[:, None]
        floor = 1e-12 + 1e-6 * float(np.mean(var[observed]))
        sd = np.sqrt(np.maximum(var, floor))
        sigma = jnp.asarray(sd)
        # the noise is read from changes that could not have been clipped (ending more than
        # NOISE_MARGIN σ inside the window): near a bound the clip truncates the residuals
        end = prep.y + pred
        far = observed & (np.minimum(1.0 - end, end) > NOISE_MARGIN * sd)
        use = far if far.sum() >= max(20, 2 * n_dev) else observed
    res = np.asarray(res)
    n = int(prep.mask.sum())
    chi2 = float((res[observed] ** 2).sum() / max(int(observed.sum()) - n_dev * k_free - len(shape_idx), 1))
    if shape_idx and joint:
        cov_joint = np.asarray(cov_joint) * chi2
        ks = len(shape_idx)
        diag = np.sqrt(np.abs(np.diag(cov_joint)))
        se = np.zeros((n_dev, k))
        free_idx = [j for j in range(k) if j not in shape_idx]
        se[:, free_idx] = diag[ks:].reshape(n_dev, k_free)
        for a, j in enumerate(shape_idx):
            value, _, spread = shape[law.params[j]]
            se[:, j] = diag[a]
            shape[law.params[j]] = (float(np.asarray(p)[0, j]), float(diag[a]), spread)
    else:
        se = _standard_errors(np.asarray(jac), res, observed, k, chi2=chi2)
        for j in shape_idx:
            se[:, j] = shape[law.params[j]][1]
    s_ = np.asarray(sigma)
    # over the observed changes only, so that every law is compared on the same data
    loglik = float(-0.5 * np.sum(np.where(observed, res**2 + np.log(2 * np.pi * s_**2), 0.0)))
    k_total = n_dev * k_free + len(shape_idx) + len(terms)
    pred = np.asarray(jax.vmap(delta)(p, y, up))
    rms = np.sqrt(np.where(observed, (np.asarray(dy) - pred) ** 2, 0.0).sum(1) / np.maximum(n_per, 1))
    return LawFit(model, np.asarray(p), se, math.sqrt(c2), _root_se(c2, cov[0, 0]), math.sqrt(cr2),
                  _root_se(cr2, cov[1, 1]), loglik, n, k_total, -2 * loglik + k_total * math.log(n), rms, chi2,
                  bool(np.all(np.asarray(ok))), table, shape)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _solve_joint(delta, shape_idx, p0, y, dy, up, mask, sigma, cens):
    """Levenberg–Marquardt over every device at once with the parameters at ``shape_idx``
    shared by all devices (one value each) and the others per device.  Returns the
    parameters ``(D, k)``, the unscaled covariance ``(JᵀJ)⁻¹`` of ``[shared, per-device
    free (row-major)]``, the residuals ``(D, M)`` and whether the solve succeeded."""
    import lineax as lx
    import optimistix as optx

    n_dev, k = p0.shape
    free_idx = tuple(j for j in range(k) if j not in shape_idx)
    ks, kf = len(shape_idx), len(free_idx)

    def assemble(theta):
        p = jnp.zeros((n_dev, k), theta.dtype)
        p = p.at[:, list(free_idx)].set(theta[ks:].reshape(n_dev, kf))
        return p.at[:, list(shape_idx)].set(jnp.broadcast_to(theta[:ks], (n_dev, ks)))

    everything = jnp.ones(k, bool)

    def residuals(theta, _):
        p = assemble(theta)
        one = lambda pd, *a: _residual(delta, pd, (*a, everything, pd))
        return jax.vmap(one)(p, y, dy, up, mask, sigma, cens).ravel()

    theta0 = jnp.concatenate([p0[0, list(shape_idx)], p0[:, list(free_idx)].ravel()])
    # the normal equations (a few dozen parameters, up to ~10⁵ residuals): far cheaper per
    # step than the default QR of the tall Jacobian
    solver = optx.LevenbergMarquardt(rtol=1e-9, atol=1e-12, linear_solver=lx.Normal(lx.Cholesky()))
    sol = optx.least_squares(residuals, solver, theta0, throw=False, max_steps=400)
    jac = jax.jacfwd(residuals)(sol.value, None)
    cov = jnp.linalg.pinv(jac.T @ jac)
    return (assemble(sol.value), cov, residuals(sol.value, None).reshape(y.shape),
            jnp.broadcast_to(sol.result == optx.RESULTS.successful, (n_dev,)))


def _standard_errors(jac, res, observed, k, *, chi2=None):
    """Per-device standard errors ``(D, k)`` from the weighted Jacobians, scaled by the
    reduced χ² of the observed changes (columns of held parameters: 0)."""
    if chi2 is None:
        dof = max(int(observed.sum()) - observed.shape[0] * k, 1)
        chi2 = float((np.asarray(res)[observed] ** 2).sum() / dof)
    out = []
    for j in range(jac.shape[0]):
        jtj = jac[j].T @ jac[j]
        out.append(np.sqrt(np.abs(np.diag(np.linalg.pinv(jtj))) * chi2))
    return np.stack(out)


def _pooled_shape(law, p, se, shape_idx) -> dict:
    """The shape parameters pooled from independent per-device fits, ``name -> (value,
    se, spread)``: the median (robust to the devices whose estimate runs off), its error
    ``1.25·std/√N``, and the device-to-device spread corrected for estimation noise.  The
    start of the joint fit, and its result where the joint Jacobian would be too large."""
    out = {}
    for j in shape_idx:
        v, e = p[:, j], se[:, j]
        n = v.size
        spread, err = 0.0, float(e[0]) if n == 1 else 0.0
        if n > 1:
            var = float(np.var(v, ddof=1))
            spread = math.sqrt(max(var - float(np.mean(e**2)), 0.0))
            err = 1.25 * math.sqrt(var / n)
        out[law.params[j]] = (float(np.median(v)), err, spread)
    return out


def _root_se(square: float, var_square: float) -> float:
    """Standard error of ``√v`` from that of ``v`` (a bound where ``v`` is zero)."""
    se_sq = math.sqrt(max(var_square, 0.0))
    if square <= 0:
        return math.sqrt(se_sq)
    return se_sq / (2 * math.sqrt(square))


def _pooled_table(prep: _Prepared) -> dict:
    """Mean normalised step per bin of ``y``, pooled over devices, per direction."""
    out = {}
    edges = np.linspace(0.0, 1.0, TABLE_BINS + 1)
    for flag, name in ((True, "up"), (False, "down")):
        sel = prep.mask & (prep.cens == 0) & (prep.up == flag)
        y, dy = prep.y[sel], np.abs(prep.dy[sel])
        centres, means = [], []
        for a, b in zip(edges[:-1], edges[1:]):
            inside = (y >= a) & (y < b) if b < 1 else (y >= a) & (y <= b)
            if inside.sum() >= 3:
                centres.append(float(np.mean(y[inside])))
                means.append(float(np.mean(dy[inside])))
        if len(centres) < 2:
            raise MeasurementError("too few increments to tabulate the table model's steps "
                                   f"({int(sel.sum())} {name}-pulse increments)")
        out[f"y_{name}"] = np.asarray(centres)
        out[name] = np.maximum(np.asarray(means), 0.0)
    return out


# --------------------------------------------------------------------------- device units
def _spread(values, ses):
    """``(mean, se of mean, spread, se of spread)`` over devices, the spread corrected for
    estimation noise."""
    values = np.asarray(values, float)
    n = values.size
    mean = float(np.mean(values))
    if n < 2:
        return mean, float(ses[0]) if len(ses) else 0.0, 0.0, 0.0
    var = float(np.var(values, ddof=1))
    noise = float(np.mean(np.asarray(ses, float) ** 2))
    spread = math.sqrt(max(var - noise, 0.0))
    return mean, math.sqrt(var / n), spread, spread / math.sqrt(2 * (n - 1)) if spread > 0 else math.sqrt(
        max(noise, 0.0) / n)


def _per_device_si(fit: LawFit, prep: _Prepared) -> dict:
    """Per-device step_up, step_down [S], bounds [S], shape parameters, with errors."""
    law = LAWS[fit.model]
    span = prep.hi - prep.lo
    names = law.params
    col = {n: i for i, n in enumerate(names)}
    out = {}
    if law.soft:
        b0, b1 = fit.p[:, 0], fit.p[:, 1]
        out["g_min"] = (prep.lo + b0 * span, fit.se[:, 0] * span)
        out["g_max"] = (prep.lo + b1 * span, fit.se[:, 1] * span)
    else:
        out["g_min"] = (prep.lo.copy(), np.zeros_like(span))
        out["g_max"] = (prep.hi.copy(), np.zeros_like(span))
    if fit.model == "table":
        tu = float(np.interp(0.5, fit.table["y_up"], fit.table["up"]))
        td = float(np.interp(0.5, fit.table["y_down"], fit.table["down"]))
        out["step_up"] = (fit.p[:, 0] * tu * span, fit.se[:, 0] * tu * span)
        out["step_down"] = (fit.p[:, 1] * td * span, fit.se[:, 1] * td * span)
    else:
        for n in ("step_up", "step_down"):
            out[n] = (fit.p[:, col[n]] * span, fit.se[:, col[n]] * span)
    for n in names:
        if n not in ("b0", "b1", "step_up", "step_down", "scale_up", "scale_down"):
            out[n] = (fit.p[:, col[n]], fit.se[:, col[n]])
    return out


def _nominal(fit: LawFit, prep: _Prepared, data: Measurements):
    """Nominal parameters, variability and unmodelled spreads (SI) from per-device values."""
    per = _per_device_si(fit, prep)
    su, su_se = per["step_up"]
    sd, sd_se = per["step_down"]
    step = 0.5 * (su + sd)
    step_se = 0.5 * np.hypot(su_se, sd_se)
    beta = (su - sd) / (su + sd)
    beta_se = np.hypot(2 * sd / (su + sd) ** 2 * su_se, 2 * su / (su + sd) ** 2 * sd_se)
    params, var, extra = {}, {}, {}
    m, m_se, s, s_se = _spread(step, step_se)
    params["step"] = Parameter(m, m_se, "S", "mean over devices of (step_up + step_down)/2 at mid-range")
    var["d2d_step"] = Parameter(s / m if m > 0 else 0.0, s_se / m if m > 0 else 0.0, "",
                                "relative device-to-device spread of the step")
    m, m_se, s, s_se = _spread(beta, beta_se)
    params["asymmetry"] = Parameter(m, m_se, "", "mean over devices of (step_up − step_down)/(step_up + step_down)")
    var["d2d_asymmetry"] = Parameter(s, s_se, "", "device-to-device spread of the asymmetry")
    gmin, gmin_se = per["g_min"]
    gmax, gmax_se = per["g_max"]
    lo_m, lo_se, lo_s, lo_s_se = _spread(gmin, gmin_se)
    hi_m, hi_se, hi_s, hi_s_se = _spread(gmax, gmax_se)
    how = "fitted zero of the law" if LAWS[fit.model].soft else "lowest/highest conductance measured"
    params["g_min"] = Parameter(lo_m, lo_se, "S", f"mean over devices of the lower bound ({how})")
    params["g_max"] = Parameter(hi_m, hi_se, "S", f"mean over devices of the upper bound ({how})")
    half = 0.5 * (hi_m - lo_m)
    pooled = math.sqrt(0.5 * (lo_s**2 + hi_s**2))
    var["d2d_bounds"] = Parameter(pooled / half, math.hypot(lo_s_se, hi_s_se) / 2 / half, "",
                                  "device-to-device spread of both bounds relative to the half window")
    for name, (value, err, spread) in fit.shape.items():
        note = "one value for all devices, fitted jointly with each device's steps and bounds"
        lo_ok, hi_ok = SHAPE_RANGE[fit.model]
        if not lo_ok <= value <= hi_ok:
            note += f" (fitted {value:.4g}, clipped to the law's range [{lo_ok:g}, {hi_ok:g}])"
            value = min(max(value, lo_ok), hi_ok)
        params[name] = Parameter(value, err, "", note)
        extra[name] = spread
    var["c2c"] = Parameter(fit.c2c, fit.c2c_se, "",
                           "relative standard deviation of one pulse's step (residual variance ∝ step²)")
    var["c2c_range"] = Parameter(fit.c2c_range, fit.c2c_range_se, "",
                                 "standard deviation of one pulse's additive error, relative to the window")
    n_all = len(data.devices)
    n_min = sum(1 for v in prep.stuck.values() if v == "min")
    n_max = sum(1 for v in prep.stuck.values() if v == "max")
    for key, k in (("stuck_min", n_min), ("stuck_max", n_max)):
        p = k / n_all
        var[key] = Parameter(p, math.sqrt(max(p * (1 - p), 1.0 / n_all) / n_all), "",
                             f"{k} of {n_all} devices did not move")
    per_device = {dev: {name: float(v[0][j]) for name, v in per.items()} for j, dev in enumerate(prep.ids)}
    return params, var, extra, per_device


def _pulse_settings(data: Measurements, params: dict) -> None:
    """Pulse amplitude and width from the data when given (medians), else assumed."""
    if data.amplitude is not None and data.amplitude_unit == "V":
        v = float(np.median(np.abs(data.amplitude[data.direction != 0])))
        params["pulse_voltage"] = Parameter(v, 0.0, "V", "median |amplitude_V| of the pulses in the data")
    elif data.amplitude is not None and data.amplitude_unit == "A":
        sel = data.direction != 0
        v = float(np.median(np.abs(data.amplitude[sel]) / data.conductance[sel]))
        params["pulse_voltage"] = Parameter(v, 0.0, "V", "derived: median of |amplitude_A|/G over the pulses "
                                                         "(the voltage across the cell)")
    else:
        params["pulse_voltage"] = Parameter(1.0, 0.0, "V", "assumed: the data give no pulse amplitude")
    if data.width is not None:
        w = float(np.median(data.width[data.direction != 0]))
        params["pulse_width"] = Parameter(w, 0.0, "s", "median width_s of the pulses in the data")
    else:
        params["pulse_width"] = Parameter(1e-9, 0.0, "s", "assumed: the data give no pulse width")


# --------------------------------------------------------------------------- relaxation
def _relax_model(law, theta, t, y0, dev, n_dev):
    """``y(t) = r_d + (y₀ − r_d)·φ(t)``: ``theta = [r_0 … r_{D−1}, ln τ(, ln α)]``."""
    r = theta[:n_dev][dev]
    tt = t / jnp.exp(theta[n_dev])
    phi = jnp.exp(-tt) if law == "exp" else (1.0 + tt) ** (-jnp.exp(theta[n_dev + 1]))
    return r + (y0 - r) * phi


@functools.partial(jax.jit, static_argnums=(0, 1))
def _relax_solve(law, n_dev, theta0, t, y, y0, dev):
    """Least squares of the relaxation law from several starts (vmapped over ``theta0``'s
    leading axis): parameters, residual sum of squares and Jacobian of each start."""
    import optimistix as optx

    def res(theta, _):
        return _relax_model(law, theta, t, y0, dev, n_dev) - y

    def one(th0):
        sol = optx.least_squares(res, optx.LevenbergMarquardt(rtol=1e-10, atol=1e-12), th0, throw=False,
                                 max_steps=500)
        r = res(sol.value, None)
        return sol.value, jnp.sum(r * r), jax.jacfwd(res)(sol.value, None)

    return jax.vmap(one)(theta0)


def fit_relaxation(data: Measurements, prep: _Prepared, law_fit: LawFit) -> RelaxationFit | None:
    """Fit the retention law to the rest reads (module docstring, step 7); None without
    time-stamped rest reads.

    Each device relaxes toward its own rest level (a parameter per device, which also
    absorbs the error of its fitted window); the time constant (and exponent) is one for
    all.  The rest fraction reported is the mean of the devices' rest levels as positions in
    their windows."""
    if data.time is None:
        return None
    rests = data.rests()
    if rests.n_segments == 0:
        return None
    ids_all = list(data.devices)
    work = {dev: j for j, dev in enumerate(prep.ids)}
    span = prep.hi - prep.lo
    seg = np.asarray(rests.segment)
    ys, y0s, ts, devs = [], [], [], []
    for s in range(rests.n_segments):
        dev = ids_all[int(rests.device_index[s])]
        if dev not in work:
            continue
        j = work[dev]
        sel = seg == s
        ys.append((np.asarray(rests.conductance, float)[sel] - prep.lo[j]) / span[j])
        y0s.append(np.full(int(sel.sum()), (float(rests.g0[s]) - prep.lo[j]) / span[j]))
        ts.append(np.asarray(rests.time, float)[sel] - float(rests.t0[s]))
        devs.append(np.full(int(sel.sum()), j))
    if not ys:
        return None
    y, y0, t, dev = (np.concatenate(a) for a in (ys, y0s, ts, devs))
    used = np.unique(dev)
    remap = np.zeros(len(prep.ids), int)
    remap[used] = np.arange(used.size)
    dev = remap[dev]
    n_dev, n = used.size, y.size
    if n < n_dev + 4:
        return None
    bic = {}
    rss_none = float(np.sum((y - y0) ** 2))
    bic["none"] = n * math.log(max(rss_none / n, 1e-300))
    positive = t[t > 0]
    scales = np.quantile(positive, [0.1, 0.5, 0.9]) if positive.size else np.array([1.0, 1.0, 1.0])
    last = np.array([float(np.mean(y[dev == i][np.argmax(t[dev == i])])) for i in range(n_dev)])
    fits = {}
    for law, extra in (("exp", 1), ("pow", 2)):
        theta0 = np.stack([np.concatenate([last, [math.log(tau0)], [0.0] * (extra - 1)]) for tau0 in scales])
        th, rss, jac = (np.asarray(a) for a in _relax_solve(law, n_dev, jnp.asarray(theta0), jnp.asarray(t),
                                                              jnp.asarray(y), jnp.asarray(y0), jnp.asarray(dev)))
        ok = np.isfinite(rss)
        if not np.any(ok):
            continue
        i = int(np.argmin(np.where(ok, rss, np.inf)))
        k = n_dev + extra
        cov = np.linalg.pinv(jac[i].T @ jac[i]) * float(rss[i]) / max(n - k, 1)
        fits[law] = (th[i], cov, float(rss[i]))
        bic[law] = n * math.log(max(float(rss[i]) / n, 1e-300)) + k * math.log(n)
    if "pow" in fits and fits["pow"][0][n_dev + 1] > math.log(POW_AS_EXP):
        # (1 + t/τ)^−α → e^{−αt/τ} as τ, α → ∞: a fit that runs off there is the exp law
        bic.pop("pow")
        fits.pop("pow")
    chosen = min(bic, key=bic.get)
    if chosen == "none":
        return RelaxationFit("none", None, None, None, bic, n, rests.n_segments, math.sqrt(rss_none / n))
    th, cov, rss = fits[chosen]
    se = np.sqrt(np.abs(np.diag(cov)))
    soft = LAWS[law_fit.model].soft
    j_of = used  # prepared-device index of each relaxation device
    b0 = law_fit.p[j_of, 0] if soft else np.zeros(n_dev)
    b1 = law_fit.p[j_of, 1] if soft else np.ones(n_dev)
    rest_pos = (th[:n_dev] - b0) / (b1 - b0)
    rest_se = math.sqrt(float(np.var(rest_pos, ddof=1)) / n_dev) if n_dev > 1 else float(se[0] / (b1 - b0)[0])
    tau = math.exp(th[n_dev])
    rest = Parameter(float(np.mean(rest_pos)), rest_se, "", "rest position as a fraction of the cell's window "
                                                            "(mean over devices)")
    tau_p = Parameter(tau, tau * float(se[n_dev]), "s", "relaxation time constant")
    exponent = None
    if chosen == "pow":
        a = math.exp(th[n_dev + 1])
        exponent = Parameter(a, a * float(se[n_dev + 1]), "", "power-law exponent")
    return RelaxationFit(chosen, rest, tau_p, exponent, bic, n, rests.n_segments, math.sqrt(rss / n))


# --------------------------------------------------------------------------- the device
def build_device(model: str, params: dict, var: dict, relaxation: RelaxationFit | None, table: dict | None = None):
    """The synaptax device of a fit (nominal values; bounds on the shape parameters
    enforced: ``γ`` of the linear law in [0, 1], exponents ≥ 0)."""
    from ..core.variability import StepVariability
    from ..generic import (ConstantStepDevice, ExpStepDevice, LinearStepDevice, LookupTableDevice, PowStepDevice,
                           SoftBoundsDevice)
    from ..generic.relaxation import Relaxation

    v = {k: max(float(p.value), 0.0) for k, p in var.items()}
    v["stuck_min"] = min(v["stuck_min"], 1.0)
    v["stuck_max"] = min(v["stuck_max"], 1.0 - v["stuck_min"])
    variability = StepVariability(**v)
    rel = None
    if relaxation is not None and relaxation.law != "none":
        rel = Relaxation(law=relaxation.law, tau=relaxation.tau.value,
                         exponent=relaxation.exponent.value if relaxation.exponent else 1.0,
                         rest=float(np.clip(relaxation.rest.value, 0.0, 1.0)))
    val = {k: float(p.value) for k, p in params.items()}
    common = dict(g_min=val["g_min"], g_max=val["g_max"], variability=variability,
                  pulse_voltage=val["pulse_voltage"], pulse_width=val["pulse_width"], relaxation=rel)
    asym = float(np.clip(val["asymmetry"], -0.99, 0.99))
    if model == "constant":
        return ConstantStepDevice(step=val["step"], asymmetry=asym, **common)
    if model == "linear":
        return LinearStepDevice(step=val["step"], asymmetry=asym, gamma_up=float(np.clip(val["gamma_up"], 0, 1)),
                                gamma_down=float(np.clip(val["gamma_down"], 0, 1)), **common)
    if model == "soft-bounds":
        return SoftBoundsDevice(step=val["step"], asymmetry=asym, **common)
    if model == "pow":
        return PowStepDevice(step=val["step"], asymmetry=asym, gamma_up=max(val["gamma_up"], 0.0),
                             gamma_down=max(val["gamma_down"], 0.0), **common)
    if model == "exp":
        levels = (val["g_max"] - val["g_min"]) / val["step"]
        return ExpStepDevice(levels=levels, nl_up=abs(val["nl_up"]), nl_down=abs(val["nl_down"]), asymmetry=asym,
                             **common)
    if model == "table":
        g = np.asarray(table["conductance"], float)
        return LookupTableDevice(g, table["delta_up"], table["delta_down"], variability=variability,
                                 pulse_voltage=val["pulse_voltage"], pulse_width=val["pulse_width"], relaxation=rel)
    raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")


def _table_in_si(fit: LawFit, params: dict) -> dict:
    """The table model's law on a common grid in S (nominal window)."""
    t = fit.table
    grid = np.unique(np.concatenate([[0.0, 1.0], t["y_up"], t["y_down"]]))
    span = params["g_max"].value - params["g_min"].value
    up = np.interp(grid, t["y_up"], t["up"]) * span * float(np.mean(fit.p[:, 0]))
    down = np.interp(grid, t["y_down"], t["down"]) * span * float(np.mean(fit.p[:, 1]))
    return {"conductance": params["g_min"].value + grid * span, "delta_up": up, "delta_down": down}


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def fit_measurements(data: Measurements, *, model: str = "auto", date: str | None = None) -> DeviceFit:
    """Fit ``model`` (or choose one with ``"auto"``) to ``data`` and build the device.

    Args:
        data: the measurements (:func:`~synaptax.devices.fitting.data.read_measurements`).
        model: ``"auto"`` or one of ``constant``, ``linear``, ``soft-bounds``, ``exp``,
            ``pow``, ``table``.
        date: ISO date for the provenance (today by default).

    Returns:
        A :class:`DeviceFit`.  Raises :class:`MeasurementError` (one line naming the file,
        rows and column) when a device has too few usable increments.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    date = date or datetime.date.today().isoformat()
    with jax.enable_x64(True):
        prep = _prepare(data)
        if not prep.ids:
            raise MeasurementError(f"{data.source}, column conductance_S: every device is stuck "
                                   "(its conductance never changes); nothing to fit")
        candidates = AUTO_CANDIDATES if model == "auto" else (model,)
        saturating = prep.counts["saturated_devices"] >= 0.5 * len(prep.ids)
        if model == "auto" and not saturating:
            # a hard-bounded law takes the extremes measured as the bounds: only meaningful
            # when the devices were driven into saturation
            candidates = tuple(m for m in candidates if LAWS[m].soft)
        _check_enough(prep, candidates[0] if model != "auto" else "constant", data.source)
        fits = {}
        for name in candidates:
            if model == "auto":
                try:
                    _check_enough(prep, name, data.source)
                except MeasurementError:
                    continue
            fits[name] = fit_law(prep, name)
        chosen = min(fits, key=lambda m: fits[m].bic) if model == "auto" else model
        best = fits[chosen]
        params, var, extra, per_device = _nominal(best, prep, data)
        _pulse_settings(data, params)
        relaxation = fit_relaxation(data, prep, best)
        table = _table_in_si(best, params) if chosen == "table" else None
        alternative = {}
        if chosen == "linear":
            su, gu = params["step"].value * (1 + params["asymmetry"].value), params["gamma_up"].value
            sd, gd = params["step"].value * (1 - params["asymmetry"].value), params["gamma_down"].value
            span = params["g_max"].value - params["g_min"].value
            from .models import _exp_from_linear

            s_u, nl_u = _exp_from_linear(su / span, max(gu, 0.0))
            s_d, nl_d = _exp_from_linear(sd / span, max(gd, 0.0))
            alternative = {"model": "exp", "nl_up": nl_u, "nl_down": nl_d,
                           "levels": 2.0 / (s_u + s_d) if s_u + s_d > 0 else float("inf")}
        device = build_device(chosen, params, var, relaxation, table)
        span = prep.hi - prep.lo
        pred = np.asarray(jax.vmap(_delta_of(best))(jnp.asarray(best.p), jnp.asarray(prep.y), jnp.asarray(prep.up)))
        resid_s = (prep.dy - pred) * span[:, None]
        obs_s = prep.dy * span[:, None]
        sel = prep.mask & (prep.cens == 0)
        ss_res = float(np.sum(resid_s[sel] ** 2))
        ss_tot = float(np.sum((obs_s[sel] - obs_s[sel].mean()) ** 2))
        goodness = {"rmse_S": math.sqrt(ss_res / max(sel.sum(), 1)), "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
                    "reduced_chi2": best.chi2, "converged": best.converged,
                    "bic": {m: f.bic for m, f in fits.items()}}
    chosen_by = ("BIC among " + ", ".join(fits)) if model == "auto" else "--model"
    if model == "auto" and not saturating:
        chosen_by += (" (the hard-bounded laws were left out: fewer than half the devices were driven into "
                      "saturation at both bounds)")
    elif not LAWS[chosen].soft and not saturating:
        chosen_by += (" (warning: fewer than half the devices saturate at both bounds, so this law's bounds, the "
                      "extremes measured, are not the devices' bounds)")
    return DeviceFit(chosen, chosen_by, device, params, var, relaxation, extra, alternative, per_device, fits,
                     goodness, prep.counts, data.source, _sha256(data.source), date, dict(prep.stuck))


def _delta_of(fit: LawFit):
    if fit.model == "table":
        t = fit.table
        return table_delta(t["y_up"], t["up"], t["y_down"], t["down"])
    return LAWS[fit.model].delta




# --------------------------------------------------------------------------- closest preset
def closest_presets(device, *, count: int = 3) -> list[tuple[str, float]]:
    """The generic pulsed presets nearest to ``device``, as ``(name, distance)`` sorted by
    distance: the rms over the window (21 points, both directions) of the natural log of
    the ratio of the nominal cells' one-pulse changes in units of their windows (so a
    distance of 0.69 is a factor 2 in step size everywhere).  Only presets of the generic
    family (laws of the same kind) are compared."""
    from ..generic.pulsed import AbstractPulsedDevice
    from ..registry import PRESETS

    def curves(dev):
        g_min, g_max = (float(v) for v in dev.conductance_range)
        span = g_max - g_min
        x = jnp.linspace(0.025, 0.975, 21)
        beta = float(getattr(dev, "asymmetry", 0.0))
        s = float(dev.nominal_step) / span
        up = dev._step_at(x, s * (1 + beta), span, potentiate=True)
        down = dev._step_at(x, s * (1 - beta), span, potentiate=False)
        return np.abs(np.concatenate([np.asarray(up), np.asarray(down)]))

    with jax.enable_x64(True):
        mine = curves(device)
        out = []
        for name, factory in PRESETS.items():
            preset = factory()
            if not isinstance(preset, AbstractPulsedDevice):
                continue
            theirs = curves(preset)
            eps = 1e-9
            out.append((name, float(np.sqrt(np.mean(np.log((mine + eps) / (theirs + eps)) ** 2)))))
    return sorted(out, key=lambda t: t[1])[:count]


__all__ = ["DeviceFit", "LawFit", "Parameter", "RelaxationFit", "build_device", "closest_presets", "fit_law",
           "fit_measurements", "fit_relaxation"]
