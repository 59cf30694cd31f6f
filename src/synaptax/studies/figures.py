"""Figures of a parameter study: accuracy against energy and latency with the Pareto
front, heatmaps of two-axis grids, and lines across each numeric swept axis.

Like :mod:`synaptax.training.plots`, every figure is a :class:`matplotlib.figure.Figure`
drawn by :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` directly; nothing here
imports :mod:`matplotlib.pyplot` or changes the global backend.

The figures draw the *groups* of :func:`synaptax.studies.report.summarise` (one group per
combination of the study's axes other than ``seed``), each as the mean over its finished
seeds with the sample standard deviation as error bar.  A group is a mapping::

    {"label": "device=reram-sb, adc_bits=6",     # how the group is named in legends
     "values": {"device": "reram-sb", "adc_bits": 6},   # its value of each non-seed axis
     "metrics": {"test_accuracy": {"mean": 0.91, "std": 0.004, "n": 3}, ...}}

Two kinds of functions, as in :mod:`synaptax.training.plots`: ``figure_*`` return the
figure, ``save_*`` write it as a PNG file (atomically).  A figure with nothing to draw
(no group has the metrics it needs, no axis it can use) raises :class:`NothingToPlot`, a
ValueError whose one-line message says why; :func:`synaptax.studies.report.
write_study_outputs` records that message in the report instead of the figure.

Units: accuracies are fractions in the summary and plotted in %; energies in J, times in
s (log axes).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import NullLocator

from .._canvas import DPI, PlotFigure, png as _png, new_figure as _new_figure  # noqa: F401
from .._files import atomic_write_bytes

#: the accuracy metric every figure plots
ACCURACY = "test_accuracy"
#: the energy metric of :func:`figure_accuracy_energy`
ENERGY = "energy_per_update_J"
#: the latency metrics of :func:`figure_accuracy_latency`, the first present wins
LATENCIES = (("costs.inference_latency_s", "inference latency (one input through the network) [s]"),
             ("latency_per_update_s", "device time per training update [s]"))
#: the most groups labelled by a text beside their marker (beyond it only the Pareto front is)
MAX_LABELLED = 16
#: the most heatmap panels (values of a third axis) drawn
MAX_PANELS = 12
#: the most lines in one panel of :func:`figure_axis_lines` (others are left out and counted)
MAX_LINES = 12


class NothingToPlot(ValueError):
    """A figure has no data to draw; the message says why (one line)."""




# ----------------------------------------------------------------------------- Pareto front
def pareto_front(xs: Sequence, ys: Sequence, *, minimize_x: bool = True, maximize_y: bool = True) -> list[int]:
    """Indices of the non-dominated points of ``(xs[i], ys[i])``, in increasing order.

    A point is dominated when another point is at least as good in both coordinates and
    strictly better in one (better: smaller x when ``minimize_x``, larger y when
    ``maximize_y``).  Identical points do not dominate each other, so a tie on the front
    keeps every copy.  Points with a None or non-finite coordinate are never on the front
    (and dominate nothing).  An empty input gives ``[]``; one finite point is its own front.
    """
    if len(xs) != len(ys):
        raise ValueError(f"pareto_front: {len(xs)} x values but {len(ys)} y values")
    x = np.array([math.nan if v is None else float(v) for v in xs], dtype=float)
    y = np.array([math.nan if v is None else float(v) for v in ys], dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return []
    # signs so that smaller is better in both coordinates
    a = x if minimize_x else -x
    b = -y if maximize_y else y
    idx = np.flatnonzero(ok)
    a, b = a[idx], b[idx]
    no_worse = (a[None, :] <= a[:, None]) & (b[None, :] <= b[:, None])   # [i, j]: j no worse than i
    better = (a[None, :] < a[:, None]) | (b[None, :] < b[:, None])
    dominated = np.any(no_worse & better, axis=1)
    return [int(i) for i in idx[~dominated]]


# ----------------------------------------------------------------------------- helpers
def _stat(group: Mapping, metric: str) -> tuple[float, float]:
    """(mean, std) of ``metric`` in a group; NaN where absent or None (std 0 when the mean
    exists but the std does not: a single seed)."""
    m = (group.get("metrics") or {}).get(metric) or {}
    mean, std = m.get("mean"), m.get("std")
    mean = math.nan if mean is None else float(mean)
    std = (0.0 if math.isfinite(mean) else math.nan) if std is None else float(std)
    return mean, std


def _text(v) -> str:
    """An axis value as short text: lists comma-joined, booleans as in TOML."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _key(v):
    """A hashable form of an axis value (lists become tuples)."""
    return tuple(_key(x) for x in v) if isinstance(v, (list, tuple)) else v


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _axis_values(groups: Sequence[Mapping], axis: str) -> list:
    """The distinct values of ``axis`` over the groups: sorted when all numeric, else in
    order of first appearance."""
    seen = {}
    for g in groups:
        v = (g.get("values") or {}).get(axis)
        seen.setdefault(_key(v), v)
    values = list(seen.values())
    if values and all(_numeric(v) for v in values):
        values.sort()
    return values


def varied_axes(groups: Sequence[Mapping]) -> list[str]:
    """The non-seed axes that take at least two values over the groups, in axis order."""
    names = []
    for g in groups:
        for a in (g.get("values") or {}):
            if a not in names:
                names.append(a)
    return [a for a in names if len(_axis_values(groups, a)) >= 2]


def _colour_axis(groups: Sequence[Mapping]) -> str | None:
    """The axis whose values colour the markers: ``device`` when it varies, else the first
    varied categorical axis, else None."""
    varied = varied_axes(groups)
    if "device" in varied:
        return "device"
    for a in varied:
        if not all(_numeric(v) for v in _axis_values(groups, a)):
            return a
    return None


def _short_label(group: Mapping, skip: str | None) -> str:
    """A group's label without the colour axis (the legend names that)."""
    values = group.get("values") or {}
    parts = [f"{a}={_text(v)}" for a, v in values.items() if a != skip]
    return ", ".join(parts) if parts else ""


# ----------------------------------------------------------------------------- accuracy vs cost
def _figure_accuracy_vs(groups: Sequence[Mapping], metric: str, xlabel: str, what: str,
                        title: str | None) -> PlotFigure:
    """Accuracy [%] (mean ± std) against ``metric`` (mean ± std, log x when positive) with
    the Pareto front of the means; groups without ``metric`` but with an accuracy (the
    float reference) as horizontal dashed lines."""
    pts, refs = [], []
    for g in groups:
        acc, acc_s = _stat(g, ACCURACY)
        x, x_s = _stat(g, metric)
        if not math.isfinite(acc):
            continue
        if math.isfinite(x):
            pts.append((g, x, x_s, acc, acc_s))
        else:
            refs.append((g, acc))
    if not pts:
        raise NothingToPlot(f"no group has both a test accuracy and a value of {metric} "
                            f"({what}) to plot")
    fig = _new_figure((7.6, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    colour_axis = _colour_axis([p[0] for p in pts])
    colours = {}
    if colour_axis is not None:
        for v in _axis_values([p[0] for p in pts], colour_axis):
            colours[_key(v)] = f"C{len(colours) % 10}"
    labelled = set()
    for g, x, x_s, acc, acc_s in pts:
        v = (g.get("values") or {}).get(colour_axis) if colour_axis else None
        c = colours.get(_key(v), "C0")
        name = f"{colour_axis}={_text(v)}" if colour_axis else None
        ax.errorbar([x], [100 * acc], xerr=[x_s] if x_s > 0 else None, yerr=[100 * acc_s], fmt="o", color=c,
                    ms=6, capsize=3, lw=1, label=name if name not in labelled else None, zorder=3)
        labelled.add(name)
    xs = np.array([p[1] for p in pts])
    ys = np.array([p[3] for p in pts])
    front = pareto_front(xs, ys)
    order = sorted(front, key=lambda i: (xs[i], -ys[i]))
    ax.step(xs[order], 100 * ys[order], where="post", color="k", lw=1.3, ls="-", zorder=2,
            label="Pareto front (of the means)")
    ax.scatter(xs[order], 100 * ys[order], s=160, facecolors="none", edgecolors="k", lw=1.6, zorder=4)
    annotate = range(len(pts)) if len(pts) <= MAX_LABELLED else front
    for i in annotate:
        text = _short_label(pts[i][0], colour_axis) or (pts[i][0].get("label") if not colour_axis else "")
        if text:
            ax.annotate(text, (xs[i], 100 * ys[i]), xytext=(5, 4), textcoords="offset points", fontsize=7)
    for j, (g, acc) in enumerate(refs):
        ax.axhline(100 * acc, color="0.4", ls="--", lw=1, zorder=1,
                   label=f"no {what}: {g.get('label', '')}"[:60] if j < 4 else None)
    if np.all(xs > 0):
        ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)  # room for the labels beside the outermost markers
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy [%] (mean ± std over seeds)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or f"accuracy vs {what}", fontsize=11)
    return fig


def figure_accuracy_energy(groups: Sequence[Mapping], *, title: str | None = None) -> PlotFigure:
    """Test accuracy [%] against energy per update [J] (log x), one marker per group with
    mean ± std error bars in both directions, coloured by ``device`` (or the first
    categorical axis) and labelled with the group's other axis values (every group up to
    :data:`MAX_LABELLED` groups, else the front only).  The Pareto front of the means
    (least energy for most accuracy) is a black step line through circled markers.
    Groups without an energy (the float reference) are horizontal dashed lines.
    Raises :class:`NothingToPlot` when no group has both numbers."""
    return _figure_accuracy_vs(groups, ENERGY, "energy per update [J] (mean ± std over seeds)",
                               "energy per update", title)


def latency_metric(groups: Sequence[Mapping]) -> tuple[str, str] | tuple[None, None]:
    """The latency metric :func:`figure_accuracy_latency` uses, and its axis label:
    ``costs.inference_latency_s`` when some group has it, else ``latency_per_update_s``
    (the simulated device time of one training update); ``(None, None)`` when neither."""
    for metric, label in LATENCIES:
        if any(math.isfinite(_stat(g, metric)[0]) for g in groups):
            return metric, label
    return None, None


def figure_accuracy_latency(groups: Sequence[Mapping], *, title: str | None = None) -> PlotFigure:
    """Test accuracy [%] against latency [s] (log x), laid out as
    :func:`figure_accuracy_energy`.  The latency is ``costs.inference_latency_s`` when the
    runs report it, else ``latency_per_update_s``; the x label says which.  Raises
    :class:`NothingToPlot` when no group has an accuracy and a latency."""
    metric, label = latency_metric(groups)
    if metric is None:
        raise NothingToPlot("no group has a latency (costs.inference_latency_s or latency_per_update_s) to plot")
    what = "inference latency" if metric.startswith("costs.") else "device time per update"
    return _figure_accuracy_vs(groups, metric, label.replace("[s]", "[s] (mean ± std over seeds)"), what, title)


# ----------------------------------------------------------------------------- heatmaps
def heatmap_axes(groups: Sequence[Mapping]) -> tuple[str, str, str | None, list[str]] | None:
    """The axes of :func:`figure_heatmap`: ``(rows, columns, panels, averaged)`` — the
    first two varied non-seed axes, the third (one panel per value) or None, and the rest
    (averaged over); None when fewer than two axes vary."""
    varied = varied_axes(groups)
    if len(varied) < 2:
        return None
    return varied[0], varied[1], (varied[2] if len(varied) > 2 else None), varied[3:]


def figure_heatmap(groups: Sequence[Mapping], *, metric: str = ACCURACY, title: str | None = None) -> PlotFigure:
    """Mean ``metric`` (test accuracy by default, in %) over a two-axis grid, each cell
    annotated with its value.

    The axes are those of :func:`heatmap_axes`: the first two non-seed axes with at least
    two values are the rows and the columns; a third varied axis gives one panel per
    value (at most :data:`MAX_PANELS`); further varied axes are averaged over (the mean
    of the groups' means, each group weighted equally; the title names them).  A cell
    without a finished point is blank and marked ``—``.  All panels share one colour
    scale.  Raises :class:`NothingToPlot` when fewer than two axes vary or no cell has a
    value."""
    spec = heatmap_axes(groups)
    if spec is None:
        raise NothingToPlot("a heatmap needs two non-seed axes with at least two values each; this study has "
                            f"{len(varied_axes(groups))}")
    row_axis, col_axis, panel_axis, averaged = spec
    rows, cols = _axis_values(groups, row_axis), _axis_values(groups, col_axis)
    panels = _axis_values(groups, panel_axis)[:MAX_PANELS] if panel_axis else [None]
    scale = 100.0 if metric.endswith("accuracy") else 1.0
    grids = []
    for p in panels:
        cells: dict[tuple, list[float]] = {}
        for g in groups:
            vals = g.get("values") or {}
            if panel_axis and _key(vals.get(panel_axis)) != _key(p):
                continue
            mean = _stat(g, metric)[0]
            if math.isfinite(mean):
                cells.setdefault((_key(vals.get(row_axis)), _key(vals.get(col_axis))), []).append(mean)
        z = np.full((len(rows), len(cols)), math.nan)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                got = cells.get((_key(r), _key(c)))
                if got:
                    z[i, j] = scale * float(np.mean(got))
        grids.append(z)
    finite = np.concatenate([z[np.isfinite(z)] for z in grids])
    if finite.size == 0:
        raise NothingToPlot(f"no finished point has a {metric} to put in the heatmap")
    norm = Normalize(vmin=float(finite.min()), vmax=float(finite.max()) if finite.max() > finite.min()
                     else float(finite.min()) + 1e-9)
    n = len(panels)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    w = max(3.6, 0.9 * len(cols) + 1.8)
    h = max(2.8, 0.5 * len(rows) + 1.6)
    fig = _new_figure((w * ncols + 1.0, h * nrows + (0.4 if title or averaged else 0)))
    image = None
    for k, (p, z) in enumerate(zip(panels, grids)):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        image = ax.imshow(np.ma.masked_invalid(z), cmap="viridis", norm=norm, aspect="auto",
                          interpolation="nearest")
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = z[i, j]
                if math.isfinite(v):
                    dark = norm(v) < 0.55
                    ax.text(j, i, f"{v:.1f}" if scale == 100 else f"{v:.3g}", ha="center", va="center",
                            fontsize=8, color="w" if dark else "k")
                else:
                    ax.text(j, i, "—", ha="center", va="center", fontsize=8, color="0.4")
        ax.set_xticks(range(len(cols)), [_text(c) for c in cols], rotation=30 if len(cols) > 4 else 0,
                      fontsize=8)
        ax.set_yticks(range(len(rows)), [_text(r) for r in rows], fontsize=8)
        ax.set_xlabel(col_axis)
        ax.set_ylabel(row_axis)
        if panel_axis:
            ax.set_title(f"{panel_axis} = {_text(p)}", fontsize=10)
    label = ("test accuracy [%]" if metric == ACCURACY else metric) + " (mean over seeds)"
    fig.colorbar(image, ax=fig.axes, label=label, shrink=0.9)
    sup = title or ""
    if averaged:
        sup = (sup + "; " if sup else "") + "averaged over " + ", ".join(averaged)
    if sup:
        fig.suptitle(sup, fontsize=10)
    return fig


# ----------------------------------------------------------------------------- lines across an axis
def line_axes(groups: Sequence[Mapping]) -> list[str]:
    """The axes :func:`figure_axis_lines` draws against: the varied non-seed axes whose
    values are all numbers."""
    return [a for a in varied_axes(groups) if all(_numeric(v) for v in _axis_values(groups, a))]


def figure_axis_lines(groups: Sequence[Mapping], *, metric: str = ACCURACY, title: str | None = None) -> PlotFigure:
    """Mean ``metric`` (test accuracy by default, in %) ± std against each numeric swept
    axis, one panel per such axis (:func:`line_axes`).

    In the panel of axis ``x`` there is one line per combination of the other non-seed
    axes that vary (e.g. one line per device; with two devices and two ADC resolutions
    in a sweep of the DAC, four lines), each point one group with its standard deviation
    over seeds as error bar; at most :data:`MAX_LINES` lines (the rest counted in the
    panel's title).  A log x scale when the axis's values are positive and span more than
    a factor 20.  Raises :class:`NothingToPlot` when no numeric axis varies or nothing
    has a value."""
    axes_x = line_axes(groups)
    if not axes_x:
        raise NothingToPlot("no numeric non-seed axis takes two or more values, so there is no line to draw")
    varied = varied_axes(groups)
    n = len(axes_x)
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig = _new_figure((5.6 * ncols, 4.0 * nrows))
    scale = 100.0 if metric.endswith("accuracy") else 1.0
    drawn = 0
    for k, x_axis in enumerate(axes_x):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        others = [a for a in varied if a != x_axis]
        lines: dict[tuple, list] = {}
        for g in groups:
            vals = g.get("values") or {}
            mean, std = _stat(g, metric)
            if not math.isfinite(mean):
                continue
            key = tuple(_key(vals.get(a)) for a in others)
            lines.setdefault(key, []).append((float(vals[x_axis]), scale * mean, scale * std,
                                              ", ".join(f"{a}={_text(vals.get(a))}" for a in others)))
        left = max(0, len(lines) - MAX_LINES)
        for j, pts in enumerate(list(lines.values())[:MAX_LINES]):
            pts.sort()
            x = [p[0] for p in pts]
            ax.errorbar(x, [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-", capsize=3, ms=4, lw=1.2,
                        color=f"C{j % 10}", label=pts[0][3] or None)
            drawn += 1
        values = [float(v) for v in _axis_values(groups, x_axis)]
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_xscale("log")
        if len(values) <= MAX_LINES:  # the swept values themselves as ticks
            ax.set_xticks(values, [_text(v) for v in _axis_values(groups, x_axis)])
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(x_axis)
        ax.set_ylabel(("test accuracy [%]" if metric == ACCURACY else metric) + " (mean ± std)")
        ax.grid(alpha=0.3)
        t = f"{'accuracy' if metric == ACCURACY else metric} vs {x_axis}"
        if left:
            t += f" ({left} more line{'s' * (left != 1)} not shown)"
        ax.set_title(t, fontsize=10)
        if others and lines:
            ax.legend(fontsize=7)
    if not drawn:
        raise NothingToPlot(f"no finished point has a {metric} to draw across the swept axes")
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- files
def _write(fig, path: str | Path) -> None:
    atomic_write_bytes(Path(path), _png(fig))


def save_accuracy_energy(groups: Sequence[Mapping], path: str | Path, *, title: str | None = None) -> None:
    """Write :func:`figure_accuracy_energy` to ``path`` as a PNG (atomically)."""
    _write(figure_accuracy_energy(groups, title=title), path)


def save_accuracy_latency(groups: Sequence[Mapping], path: str | Path, *, title: str | None = None) -> None:
    """Write :func:`figure_accuracy_latency` to ``path`` as a PNG (atomically)."""
    _write(figure_accuracy_latency(groups, title=title), path)


def save_heatmap(groups: Sequence[Mapping], path: str | Path, *, metric: str = ACCURACY,
                 title: str | None = None) -> None:
    """Write :func:`figure_heatmap` to ``path`` as a PNG (atomically)."""
    _write(figure_heatmap(groups, metric=metric, title=title), path)


def save_axis_lines(groups: Sequence[Mapping], path: str | Path, *, metric: str = ACCURACY,
                    title: str | None = None) -> None:
    """Write :func:`figure_axis_lines` to ``path`` as a PNG (atomically)."""
    _write(figure_axis_lines(groups, metric=metric, title=title), path)


def png_bytes(fig) -> bytes:
    """A figure as PNG bytes (the resolution of the run figures, :data:`DPI`)."""
    return _png(fig)


__all__ = [
    "ACCURACY", "DPI", "ENERGY", "LATENCIES", "NothingToPlot", "PlotFigure", "figure_accuracy_energy",
    "figure_accuracy_latency",
    "figure_axis_lines", "figure_heatmap", "heatmap_axes", "latency_metric", "line_axes", "pareto_front",
    "png_bytes", "save_accuracy_energy", "save_accuracy_latency", "save_axis_lines", "save_heatmap",
    "varied_axes",
]
