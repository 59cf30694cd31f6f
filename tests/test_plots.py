"""The run figures (synaptax.training.plots): PNG files, panels, ticks, titles, and no
interference with pyplot or the global matplotlib backend (an earlier version switched the
backend to Agg, after which ``plt.show()`` in a notebook showed nothing)."""
import os
import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pytest
from matplotlib.ticker import MaxNLocator

from synaptax.training import plots

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
TITLE = "reram-sb · analog-sgd · seed 0"
ENERGY_KEYS = ("energy_per_update_J", "write_energy_per_update_J", "read_energy_per_update_J",
               "converter_energy_per_update_J")


def analog_history(epochs=4):
    return [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.6 + 0.05 * e, "test_accuracy": 0.55 + 0.05 * e,
             "energy_per_update_J": 3e-9 / e, "write_energy_per_update_J": 1e-9 / e,
             "read_energy_per_update_J": 1.5e-9 / e, "converter_energy_per_update_J": 0.5e-9 / e}
            for e in range(1, epochs + 1)]


def float_history(epochs=3, energy=0.0):
    """The float algorithm records 0 J (its loop sums no analog energy); other sources None."""
    return [{"epoch": e, "train_loss": 0.5 / e, "train_accuracy": 0.8, "test_accuracy": 0.82,
             **{k: energy for k in ENERGY_KEYS}} for e in range(1, epochs + 1)]


def layers(n=2, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(784, 100), (100, 10), (10, 5)][:n]
    out = []
    for i, (a, b) in enumerate(shapes):
        g = {"G+": rng.uniform(0.1e-6, 1e-6, (a, b))}
        if i != 1:
            g["G-"] = rng.normal(0.4e-6, 0.1e-6, (a, b))
        out.append({"name": f"layer {i + 1} ({a}×{b})", "conductances": g, "g_min": 0.1e-6, "g_max": 1e-6})
    return out


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_HEADER)
    # written atomically: no temporary file left beside it
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("history", [analog_history(), analog_history(1), float_history(), float_history(1)],
                         ids=["analog", "analog-one-epoch", "float", "float-one-epoch"])
def test_plot_history_writes_png(tmp_path, history):
    path = tmp_path / "history.png"
    plots.plot_history(history, path, title=TITLE)
    assert_png(path)


def test_plot_conductance_histogram_writes_png(tmp_path):
    path = tmp_path / "conductance_histogram.png"
    plots.plot_conductance_histogram(layers(), path, title=TITLE)
    assert_png(path)


def test_backend_and_pyplot_state_unchanged(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    own = plt.figure()
    try:
        backend, fignums = matplotlib.get_backend(), plt.get_fignums()
        plots.plot_history(analog_history(), tmp_path / "h.png", title=TITLE)
        plots.plot_conductance_histogram(layers(), tmp_path / "c.png", title=TITLE)
        plots.figure_history(analog_history())
        plots.figure_conductance_histogram(layers())
        assert matplotlib.get_backend() == backend
        assert plt.get_fignums() == fignums  # none left open, none closed
    finally:
        plt.close(own)


def test_non_agg_backend_is_kept(tmp_path):
    """The earlier version called ``matplotlib.use("Agg")``: a session on another backend
    (here the headless "svg"; in Jupyter the inline backend) was switched to Agg."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        plots.plot_history(analog_history(), tmp_path / "h.png", title=TITLE)
        plots.plot_conductance_histogram(layers(), tmp_path / "c.png", title=TITLE)
        assert matplotlib.get_backend().lower() == "svg"
    finally:
        matplotlib.use(before)


def test_pyplot_is_never_imported(tmp_path):
    """In a fresh interpreter, plotting neither imports pyplot nor selects a backend."""
    code = textwrap.dedent(f"""
        import sys
        import matplotlib
        from synaptax.training import plots
        h = [{{"epoch": 1, "train_loss": 0.3, "train_accuracy": 0.9, "test_accuracy": 0.9,
               "energy_per_update_J": 1e-9}}]
        plots.plot_history(h, {str(tmp_path / "h.png")!r}, title="t")
        g = {{"name": "layer 1", "conductances": {{"G+": [1e-7, 5e-7]}}, "g_min": 1e-7, "g_max": 1e-6}}
        plots.plot_conductance_histogram([g], {str(tmp_path / "c.png")!r}, title="t")
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        assert matplotlib.rcParams._get_backend_or_none() is None, matplotlib.rcParams._get_backend_or_none()
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert (tmp_path / "h.png").read_bytes().startswith(PNG_HEADER)
    assert (tmp_path / "c.png").read_bytes().startswith(PNG_HEADER)


def test_history_panels_with_energy():
    fig = plots.figure_history(analog_history(), title=TITLE)
    assert len(fig.axes) == 3
    acc, loss, energy = fig.axes
    assert acc.get_title().startswith("accuracy") and acc.get_ylabel() == "accuracy [%]"
    np.testing.assert_allclose(acc.lines[0].get_ydata(), [100 * h["test_accuracy"] for h in analog_history()])
    assert [t.get_text() for t in acc.get_legend().get_texts()] == ["test", "train"]
    assert loss.get_title() == "training loss"
    assert energy.get_title() == "energy per update" and "[J]" in energy.get_ylabel()
    assert energy.get_yscale() == "log"
    assert [t.get_text() for t in energy.get_legend().get_texts()] == ["total", "write", "cell reads",
                                                                     "converters (DAC/ADC)"]
    np.testing.assert_allclose(energy.lines[0].get_ydata(), [h["energy_per_update_J"] for h in analog_history()])
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)


@pytest.mark.parametrize("energy", [0.0, None, "absent"])
def test_history_without_energy_has_two_panels(energy):
    history = float_history() if energy != "absent" else [
        {k: v for k, v in h.items() if k not in ENERGY_KEYS} for h in float_history()]
    if energy is None:
        history = float_history(energy=None)
    fig = plots.figure_history(history, title=TITLE)
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes][1] == "training loss"


def test_history_energy_parts_zero_or_missing():
    """A part that is zero throughout is omitted; an older checkpoint's epochs without the
    energy keys are gaps (NaN), not zeros; a zero value anywhere makes the axis linear."""
    history = analog_history(4)
    for h in history:
        h["write_energy_per_update_J"] = 0.0
    for h in history[:2]:
        for k in ENERGY_KEYS:
            del h[k]
    energy = plots.figure_history(history).axes[2]
    assert [t.get_text() for t in energy.get_legend().get_texts()] == ["total", "cell reads",
                                                                     "converters (DAC/ADC)"]
    y = np.asarray(energy.lines[0].get_ydata(), dtype=float)
    assert np.isnan(y[:2]).all() and np.isfinite(y[2:]).all()
    assert energy.get_yscale() == "log"
    history[3]["read_energy_per_update_J"] = 0.0
    assert plots.figure_history(history).axes[2].get_yscale() == "linear"


@pytest.mark.parametrize("epochs", [1, 2, 3, 25])
def test_epoch_ticks_are_integers(epochs):
    fig = plots.figure_history(analog_history(epochs))
    fig.canvas.draw()
    for ax in fig.axes:
        locator = ax.xaxis.get_major_locator()
        assert isinstance(locator, MaxNLocator) and locator._integer
        lo, hi = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert shown and all(float(t).is_integer() for t in shown), shown
        if epochs <= 10:
            assert {1, epochs} <= set(shown), shown


def test_single_epoch_window():
    fig = plots.figure_history(analog_history(1))
    for ax in fig.axes:
        assert ax.get_xlim() == (0.5, 1.5)


def suptitle(fig):
    # Figure.get_suptitle is matplotlib >= 3.8; the project allows 3.7
    return fig._suptitle.get_text() if fig._suptitle is not None else None


def test_suptitle():
    assert suptitle(plots.figure_history(analog_history(), title=TITLE)) == TITLE
    assert suptitle(plots.figure_conductance_histogram(layers(), title=TITLE)) == TITLE
    assert suptitle(plots.figure_history(analog_history())) is None


def test_conductance_histogram_one_axis_per_layer():
    ls = layers(3)
    fig = plots.figure_conductance_histogram(ls, title=TITLE)
    assert len(fig.axes) == 3
    for ax, layer in zip(fig.axes, ls):
        assert ax.get_title() == layer["name"]
        assert ax.get_xlabel() == "conductance [µS]"
        # G_min and G_max as vertical lines, in µS
        xs = [tuple(line.get_xdata()) for line in ax.lines]
        assert xs == [(1e6 * layer["g_min"],) * 2, (1e6 * layer["g_max"],) * 2], xs
        assert [line.get_label() for line in ax.lines] == ["G_min = 0.1 µS", "G_max = 1 µS"]
        # one step histogram per array (G- absent for layer 2), all cells counted
        assert len(ax.patches) == len(layer["conductances"])
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        for name, g in layer["conductances"].items():
            assert f"{name} ({g.size} cells)" in labels
    # own y scales: layer 2 (1000 cells) is not flattened by layer 1 (78 400 per array)
    assert fig.axes[1].get_ylim()[1] < 0.1 * fig.axes[0].get_ylim()[1]
    assert not fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1])


def test_conductance_histogram_non_finite_and_no_window():
    g = np.array([1e-7, 2e-7, np.nan, np.inf, 5e-7])
    fig = plots.figure_conductance_histogram([{"name": "layer 1", "conductances": {"G+": g, "G-": None},
                                               "g_min": None, "g_max": None}])
    ax = fig.axes[0]
    assert ax.get_title() == "layer 1: 2 non-finite values not shown"
    assert not ax.lines and len(ax.patches) == 1


def test_empty_inputs_raise():
    with pytest.raises(ValueError, match="empty"):
        plots.figure_history([])
    with pytest.raises(ValueError, match="no layers"):
        plots.figure_conductance_histogram([])


def test_figures_display_in_notebooks():
    """The returned figure renders as a PNG through IPython's display machinery, whether
    or not pyplot's inline backend registered its own formatter."""
    fig = plots.figure_history(analog_history(), title=TITLE)
    assert fig._repr_png_().startswith(PNG_HEADER)
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(plots.figure_conductance_histogram(layers()))
    assert data["image/png"].startswith(PNG_HEADER)
