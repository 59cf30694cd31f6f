"""The figure of a fit: data against the fitted model with its noise band.

Panels:

1. **One-pulse change against conductance.**  Every usable increment, ``ΔG`` [µS] against
   ``G`` before the pulse [µS], up and down; the nominal model's law and its ±1σ
   cycle-to-cycle band (``c2c`` and ``c2c_range``).  The scatter is wider than the band by
   the device-to-device spread.
2. **Pulse response.**  A few devices' first cycle (conductance against pulse number) and
   the nominal model's noiseless response from each device's starting conductance.
3. **Relaxation** (when fitted): the rest reads, as the position in the cell's window
   against the time since the last pulse, and the fitted law.

Built like :mod:`synaptax.training.plots` (no pyplot; the figure shows inline in Jupyter).
"""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ...training.plots import PlotFigure, _new_figure, _write


def figure_fit(fit, data, *, devices: int = 4, title: str | None = None) -> PlotFigure:
    """The figure of ``fit`` (a :class:`~synaptax.devices.fitting.fit.DeviceFit`) on
    ``data`` (its :class:`~synaptax.devices.fitting.data.Measurements`)."""
    has_rel = fit.relaxation is not None and fit.relaxation.law != "none"
    ncols = 3 if has_rel else 2
    fig = _new_figure((4.6 * ncols, 4.0))
    axes = fig.subplots(1, ncols)
    _panel_law(axes[0], fit, data)
    _panel_response(axes[1], fit, data, devices)
    if has_rel:
        _panel_relaxation(axes[2], fit, data)
    fig.suptitle(title or f"{Path(fit.source).name}: {fit.model} model ({fit.chosen_by.split(' (')[0]})")
    return fig


def plot_fit(fit, data, path, *, title: str | None = None) -> None:
    """Write :func:`figure_fit` to ``path`` (PNG, atomically)."""
    _write(figure_fit(fit, data, title=title), path)


def _nominal_law(device, g):
    """Signed one-pulse change [S] of the nominal cell at conductances ``g`` (up, down)."""
    g_min, g_max = device.conductance_range
    span = g_max - g_min
    x = jnp.clip((jnp.asarray(g) - g_min) / span, 0.0, 1.0)
    beta = float(getattr(device, "asymmetry", 0.0))
    step = float(device.nominal_step)
    up = device._step_at(x, step * (1 + beta) / span, span, potentiate=True) * span
    down = device._step_at(x, step * (1 - beta) / span, span, potentiate=False) * span
    return np.asarray(up), np.asarray(down)


def _panel_law(ax, fit, data):
    inc = data.increments()
    g0, g1 = np.asarray(inc.g_before), np.asarray(inc.g_after)
    d = np.asarray(inc.direction)
    for flag, colour, label in ((1, "tab:red", "up (potentiation)"), (-1, "tab:blue", "down (depression)")):
        sel = d == flag
        ax.plot(g0[sel] * 1e6, (g1[sel] - g0[sel]) * 1e6, ".", ms=1.5, alpha=0.25, color=colour, label=label)
    dev = fit.device
    g_min, g_max = (float(v) for v in dev.conductance_range)
    g = np.linspace(g_min, g_max, 200)
    with jax.enable_x64(True):
        up, down = _nominal_law(dev, g)
    var = dev.variability
    span = g_max - g_min
    for mean, colour in ((up, "tab:red"), (down, "tab:blue")):
        sd = np.sqrt((float(var.c2c) * mean) ** 2 + (float(var.c2c_range) * span) ** 2)
        ax.plot(g * 1e6, mean * 1e6, "-", color="k", lw=1.2)
        ax.fill_between(g * 1e6, (mean - sd) * 1e6, (mean + sd) * 1e6, color=colour, alpha=0.25, lw=0)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel("conductance before the pulse G [µS]")
    ax.set_ylabel("change of one pulse ΔG [µS]")
    ax.set_title("data, fitted law (black) and ±1σ noise", fontsize=9)
    ax.legend(fontsize=7, markerscale=6, loc="best")


def _panel_response(ax, fit, data, devices):
    traces = [t for t in data.traces() if np.any(t.direction != 0)]
    shown = []
    for t in traces:
        if t.device not in shown and len(shown) < devices:
            shown.append(t.device)
    dev = fit.device
    quiet = _noiseless(dev)
    step = jax.jit(lambda s, n: quiet.apply_pulses(s, n, key=jax.random.key(0)))
    with jax.enable_x64(True):
        for i, name in enumerate(shown):
            t = next(tr for tr in traces if tr.device == name)
            pulses = t.direction[t.direction != 0]
            g = t.conductance
            colour = f"C{i}"
            ax.plot(np.arange(g.size), g * 1e6, ".", ms=2, color=colour, label=f"device {name}")
            # the nominal model's deterministic response from this device's first read
            state = quiet.init((1,), key=jax.random.key(0), conductance=float(g[0]))
            model = [float(g[0])]
            for n in pulses:
                state = step(state, jnp.asarray([float(n)]))
                model.append(float(state.conductance[0]))
            ax.plot(np.arange(len(model)), np.asarray(model) * 1e6, "-", color=colour, lw=1)
    ax.set_xlabel("read number in the cycle")
    ax.set_ylabel("conductance G [µS]")
    ax.set_title("first cycle: data (dots), nominal model (lines)", fontsize=9)
    ax.legend(fontsize=7, markerscale=3)


def _noiseless(device):
    """``device`` without variability (the nominal cell's deterministic law)."""
    import equinox as eqx

    from ..core.variability import StepVariability

    return eqx.tree_at(lambda d: d.variability, device, StepVariability())


def _panel_relaxation(ax, fit, data):
    rel = fit.relaxation
    rests = data.rests()
    dev = fit.device
    g_min, g_max = (float(v) for v in dev.conductance_range)
    seg = np.asarray(rests.segment)
    elapsed = [np.asarray(rests.time)[seg == s] - float(rests.t0[s]) for s in range(rests.n_segments)]
    for s, t in enumerate(elapsed):
        gs = np.asarray(rests.conductance)[seg == s]
        ax.plot(t, (gs - g_min) / (g_max - g_min), ".", ms=3, color="tab:gray", alpha=0.6)
    everything = np.concatenate(elapsed)
    positive = everything[everything > 0]
    t = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 100)
    tau, rest = rel.tau.value, rel.rest.value
    phi = np.exp(-t / tau) if rel.law == "exp" else (1 + t / tau) ** (-rel.exponent.value)
    for x0 in (0.0, 1.0):
        ax.plot(t, rest + (x0 - rest) * phi, "k-", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("time since the last pulse [s]")
    ax.set_ylabel("position in the window (G − g_min)/(g_max − g_min)")
    extra = f", α = {rel.exponent.value:.3g}" if rel.exponent else ""
    ax.set_title(f"relaxation ({rel.law}: τ = {tau:.3g} s, rest {rest:.2f}{extra})", fontsize=9)


__all__ = ["figure_fit", "plot_fit"]
