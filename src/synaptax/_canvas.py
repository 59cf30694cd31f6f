"""Figures drawn by Agg on their own canvas, never through pyplot (shared by the run plots,
:mod:`synaptax.training.plots`, and the study figures, :mod:`synaptax.studies.figures`).

A :class:`PlotFigure` has a ``_repr_png_``, so IPython displays it inline whether or not
pyplot's inline backend is active; nothing here imports :mod:`matplotlib.pyplot` or changes
the global backend.
"""
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: resolution [dots per inch] of the PNG files and of the inline images
DPI = 110


class PlotFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` drawn by Agg that IPython displays as a PNG
    (``_repr_png_``) whether or not pyplot's inline backend is active."""

    def _repr_png_(self) -> bytes:
        return png(self)


def new_figure(figsize: tuple[float, float]) -> PlotFigure:
    """A constrained-layout :class:`PlotFigure` with its own Agg canvas."""
    fig = PlotFigure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas; independent of pyplot's backend
    return fig


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes at :data:`DPI`."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
