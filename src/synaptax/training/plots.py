"""Figures of a training run: accuracy, loss and energy per epoch, and the conductance
histograms of the trained arrays.

The figures are built with :class:`matplotlib.figure.Figure` and drawn by
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` directly; nothing here imports
:mod:`matplotlib.pyplot` or changes the global backend (``matplotlib.use``), so plotting
after a run leaves a notebook's inline backend, its open figures and ``plt.show()`` as
they were.

Two kinds of functions:

* ``plot_history`` / ``plot_conductance_histogram`` write a PNG file (atomically, with
  :func:`~synaptax.training.io.atomic_write_bytes`); :func:`~synaptax.training.loop.train`
  calls them at the end of a run.
* ``figure_history`` / ``figure_conductance_histogram`` return the figure.  In Jupyter a
  returned figure shows inline when it is the value of a cell or passed to
  ``IPython.display.display(fig)`` (the figure has a ``_repr_png_``; it works with or
  without ``matplotlib.pyplot`` imported).  It is not managed by pyplot: ``plt.show()``
  does not show it and ``plt.close`` is not needed; save it with ``fig.savefig(...)``.

Units: accuracies are fractions in the history and plotted in %; energies in J;
conductances in S in the input and plotted in µS.
"""
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._canvas import DPI, PlotFigure, png as _png, new_figure as _new_figure  # noqa: F401
from .._files import atomic_write_bytes


#: the history keys of the energy panel: (key, legend label, line style)
_ENERGY_KEYS = (
    ("energy_per_update_J", "total", "o-"),
    ("write_energy_per_update_J", "write", "s--"),
    ("read_energy_per_update_J", "cell reads", "^--"),
    ("converter_energy_per_update_J", "converters (DAC/ADC)", "v--"),
)




def _value(entry: Mapping, key: str) -> float:
    """``entry[key]`` as a float; NaN (a gap in the line) when absent or None."""
    v = entry.get(key)
    return math.nan if v is None else float(v)


def figure_history(history: Sequence[Mapping], *, title: str | None = None) -> PlotFigure:
    """The learning curves of a run as a figure; arguments and panels as in
    :func:`plot_history`.

    Returns a :class:`PlotFigure` (a matplotlib ``Figure``) whose ``axes`` are, in order,
    accuracy [%], training loss and, when energies are recorded, energy per update [J].
    In Jupyter it shows inline as a cell's value or with ``display(fig)``; ``fig.savefig``
    writes it elsewhere.  Raises ValueError for an empty history."""
    if not history:
        raise ValueError("figure_history: the history is empty (no epoch finished)")
    epochs = np.array([int(h["epoch"]) for h in history])
    energies = {}
    for key, label, style in _ENERGY_KEYS:
        e = np.array([_value(h, key) for h in history])
        # a series that is absent, None or zero in every epoch (the float algorithm records
        # 0 J: it has no analog energy model) is left out rather than drawn as a flat 0 J
        if np.any(np.isfinite(e) & (e != 0)):
            energies[key] = (label, style, e)

    n_panels = 3 if energies else 2
    fig = _new_figure((4.3 * n_panels, 3.6))
    axes = [fig.add_subplot(1, n_panels, i + 1) for i in range(n_panels)]

    ax = axes[0]
    ax.plot(epochs, [100 * _value(h, "test_accuracy") for h in history], "o-", label="test")
    ax.plot(epochs, [100 * _value(h, "train_accuracy") for h in history], "s--", label="train")
    last = _value(history[-1], "test_accuracy")
    ax.set_title(f"accuracy (last epoch: test {100 * last:.2f} %)" if math.isfinite(last) else "accuracy")
    ax.set_ylabel("accuracy [%]")
    ax.legend()

    ax = axes[1]
    ax.plot(epochs, [_value(h, "train_loss") for h in history], "o-")
    ax.set_title("training loss")
    ax.set_ylabel("mean loss per batch")

    if energies:
        ax = axes[2]
        for label, style, e in energies.values():
            ax.plot(epochs, e, style, label=label)
        values = np.concatenate([e for _, _, e in energies.values()])
        values = values[np.isfinite(values)]
        if np.all(values > 0):
            ax.set_yscale("log")
        ax.set_title("energy per update")
        ax.set_ylabel("energy per update [J]")
        ax.legend(fontsize=8)

    for ax in axes:
        ax.set_xlabel("epoch")
        # min_n_ticks=1: with fewer than two integers in view MaxNLocator would fall back to
        # fractional ticks (one epoch)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
        if len(epochs) == 1:  # one point: a window of one epoch around it, one tick
            ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
    if title:
        fig.suptitle(title)
    return fig


def plot_history(history: Sequence[Mapping], path: str | Path, *, title: str | None = None) -> None:
    """Write the learning curves of a run to ``path`` as a PNG.

    Args:
        history: one dict per finished epoch, in order (``report["history"]``), with keys

            * ``epoch``: the epoch number (int, 1-based);
            * ``train_loss``: mean training loss per batch;
            * ``train_accuracy``, ``test_accuracy``: fractions in [0, 1] (plotted in %);
            * optionally ``energy_per_update_J`` and its parts ``write_energy_per_update_J``,
              ``read_energy_per_update_J``, ``converter_energy_per_update_J``: mean energy
              [J] per update (one batch) in that epoch.  Absent or None values (the float
              algorithm, reports written before these keys existed) are gaps.

        path: the PNG file to write (atomically); its folder must exist.
        title: the figure's title (e.g. ``"reram-sb · analog-sgd · seed 0"``); None for none.

    Panels: accuracy [%] (test and train), training loss, and, when some energy is recorded
    (a finite, nonzero value), the energy per update [J] (total and the three parts; log
    scale when every value is positive; series that are zero or absent throughout are
    omitted).  The epoch axes have integer ticks; a single epoch works.
    """
    _write(figure_history(history, title=title), path)


def figure_conductance_histogram(layers: Sequence[Mapping], *, title: str | None = None) -> PlotFigure:
    """Histograms of each layer's conductances as a figure; arguments and layout as in
    :func:`plot_conductance_histogram`.

    Returns a :class:`PlotFigure` (a matplotlib ``Figure``) with one axis per layer, in
    the order of ``layers``; x in µS.  In Jupyter it shows inline as a cell's value or with
    ``display(fig)``.  Raises ValueError for an empty list."""
    if not layers:
        raise ValueError("figure_conductance_histogram: no layers")
    n = len(layers)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig = _new_figure((4.4 * ncols, 3.4 * nrows))
    for i, layer in enumerate(layers):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        g_min, g_max = layer.get("g_min"), layer.get("g_max")
        bounds = [1e6 * float(g) for g in (g_min, g_max) if g is not None]
        arrays = {k: 1e6 * np.ravel(np.asarray(v, dtype=float))
                  for k, v in layer["conductances"].items() if v is not None}
        finite = {k: g[np.isfinite(g)] for k, g in arrays.items()}
        lost = sum(g.size for g in arrays.values()) - sum(g.size for g in finite.values())
        values = np.concatenate([*finite.values(), np.asarray(bounds)])
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
        pad = 0.03 * (hi - lo)  # the G_min/G_max lines clear of the frame
        lo, hi = lo - pad, hi + pad
        for k, g in finite.items():
            ax.hist(g, bins=80, range=(lo, hi), histtype="step", lw=1.2, label=f"{k} ({g.size} cells)")
        for g, name, ls in ((g_min, "G_min", "--"), (g_max, "G_max", "-.")):
            if g is not None:
                ax.axvline(1e6 * float(g), color="C3", lw=1.1, ls=ls, zorder=3,
                           label=f"{name} = {1e6 * float(g):.4g} µS")
        name = layer.get("name", f"layer {i + 1}")
        ax.set_title(name if not lost else f"{name}: {lost} non-finite value{'s' * (lost != 1)} not shown",
                     fontsize=10)
        ax.set_xlabel("conductance [µS]")
        ax.set_ylabel("cells")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_conductance_histogram(layers: Sequence[Mapping], path: str | Path, *,
                               title: str | None = None) -> None:
    """Write histograms of each layer's conductances to ``path`` as a PNG.

    Args:
        layers: one dict per layer, in order::

                {"name": "layer 1 (784×100)",          # axis title
                 "conductances": {"G+": G_plus,        # arrays [S], any shape
                                  "G-": G_minus},      # absent or None: one device per weight
                 "g_min": 0.1e-6, "g_max": 1.0e-6}     # the device's window [S]

            ``g_min``/``g_max`` may be None (or absent) to draw no line.
        path: the PNG file to write (atomically); its folder must exist.
        title: the figure's title; None for none.

    One axis per layer, each with its own y scale (a small layer is not flattened by a
    large one), up to three per row; the conductances in µS as step histograms (80 bins
    spanning the data and the window), G_min and G_max as red dashed and dash-dotted vertical
    lines.  Non-finite conductances are left out and counted in the axis title.
    """
    _write(figure_conductance_histogram(layers, title=title), path)


def _write(fig: Figure, path: str | Path) -> None:
    atomic_write_bytes(Path(path), _png(fig))

__all__ = [
    "DPI", "PlotFigure", "figure_conductance_histogram", "figure_history", "plot_conductance_histogram",
    "plot_history",
]
