"""Execute every notebook in notebooks/ headless, in fast mode (``SYNAPTAX_FAST=1``).

Notebooks demonstrate; they are never the only test of anything, but they must run.  The
kernel is the ``python3`` kernelspec, whose command ``python`` jupyter_client resolves to
this interpreter (``sys.executable``); the kernel inherits this process's environment, so
it imports synaptax from the installed copy (``pip install -e .``) or from ``src/`` (added
to ``PYTHONPATH`` here for runs from a checkout).

Figures must not vanish.  The kernel runs with its normal backend, ipykernel's inline
backend (``matplotlib_inline``, installed with ipykernel): ``MPLBACKEND`` is removed from
the environment, as a Jupyter user would have it (under ``MPLBACKEND=Agg`` ``plt.show()``
prints nothing and nothing fails).  After the run, every code cell that draws a figure
must have displayed at least one PNG (a ``display_data`` or ``execute_result`` output
with ``image/png``).  A cell draws a figure when its code (outside ``def`` bodies: a
definition draws nothing until called) calls

* a function of pyplot (``plt.<name>(...)``: ``plt.show``, ``plt.subplots``,
  ``plt.figure``, ``plt.plot``, ``plt.bar``, ...), except the few that draw nothing
  (:data:`PYPLOT_NOT_DRAWING`: ``plt.close``, ``plt.rc``, ...);
* the notebooks' own ``show(...)`` helper (``devices``, ``ferrimagnet``);
* ``display(fig...)``, i.e. ``display`` of a name starting with ``fig``;
* synaptax's ``figure_history(...)`` / ``figure_conductance_histogram(...)`` /
  ``figure_fit(...)``.

The rule reads the cell's syntax tree (:func:`draws_figure`); a cell whose figure comes
from a function defined elsewhere, or from methods of axes made in an earlier cell, is
not recognised (none of the notebooks does that; keep it so).
"""
import ast
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

PROBE = ("import sys, synaptax, matplotlib\nprint(sys.prefix)\nprint(synaptax.__file__)\n"
         "print(matplotlib.get_backend())")

#: pyplot functions that make or show no figure
PYPLOT_NOT_DRAWING = frozenset({
    "close", "ion", "ioff", "isinteractive", "rc", "rc_context", "rcdefaults", "get_fignums", "get_backend",
    "switch_backend", "style", "xkcd", "get_cmap", "colormaps",
})
#: synaptax functions that return a figure (synaptax.training.plots, synaptax.devices.fitting.plot)
FIGURE_FUNCTIONS = frozenset({"figure_history", "figure_conductance_histogram", "figure_fit"})


def _called_name(func: ast.expr) -> tuple[str | None, str | None]:
    """``(object, attribute)`` of a call ``object.attribute(...)``, ``(None, name)`` of
    ``name(...)``, ``(None, None)`` otherwise."""
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        return (func.value.id if isinstance(func.value, ast.Name) else None), func.attr
    return None, None


def draws_figure(source: str) -> bool:
    """Whether a code cell draws a figure (the rule in the module docstring)."""
    try:  # IPython syntax (magics, ``!cmd``) to Python, as the kernel runs it
        from IPython.core.inputtransformer2 import TransformerManager
        source = TransformerManager().transform_cell(source)
    except ImportError:
        pass
    tree = ast.parse(source)

    def visit(node) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(node, ast.Call):
            obj, name = _called_name(node.func)
            if obj == "plt" and name not in PYPLOT_NOT_DRAWING:
                return True
            if obj is None and name == "show":
                return True
            if name in FIGURE_FUNCTIONS:
                return True
            if obj is None and name == "display" and node.args and isinstance(node.args[0], ast.Name) \
                    and node.args[0].id.startswith("fig"):
                return True
        return any(visit(child) for child in ast.iter_child_nodes(node))

    return visit(tree)


def shows_png(cell) -> bool:
    return any(o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for o in cell.outputs)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPTAX_FAST", "1")
    # the kernel's own default backend (inline), as in Jupyter
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH"))
                                                     if p))
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    # run in a scratch folder: notebooks may write run folders and figures
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    probe = "".join(o.get("text", "") for o in nb.cells[0].outputs).split()
    # the kernel runs in this environment (not some other python3 kernelspec on the machine)
    assert Path(probe[0]).resolve() == Path(sys.prefix).resolve(), probe
    assert "inline" in probe[2], f"the kernel's matplotlib backend is {probe[2]!r}, not the inline backend"
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
    # figures must reach the notebook (0-based cell indices in the notebook file, markdown
    # cells counted, the probe not)
    missing = [i - 1 for i, cell in enumerate(nb.cells)
               if cell.cell_type == "code" and draws_figure(cell.source) and not shows_png(cell)]
    assert not missing, (f"{path.name}: code cell(s) {missing} draw a figure but displayed no image/png "
                         "output")


def test_draws_figure_rule():
    assert draws_figure("fig, ax = plt.subplots()\nax.plot([1, 2])")
    assert draws_figure("plt.plot([1, 2]); plt.xlabel('x'); plt.show()")
    assert draws_figure("x = 1\nshow(fig)")
    assert draws_figure("display(fig)")
    assert draws_figure("from synaptax.training.plots import figure_history\nfigure_history(h, title='t')")
    assert draws_figure("for i in range(3):\n    plt.semilogx([1], [i])")
    assert not draws_figure("import matplotlib.pyplot as plt\nimport numpy as np")
    assert not draws_figure("def show(fig):\n    plt.close(fig)\n    display(Image(b''))")
    assert not draws_figure("plt.close('all')  # plt.show()")
    assert not draws_figure("display(report)")
    assert not draws_figure("%matplotlib inline")
    assert draws_figure("%time x = 1\nplt.figure()")
    assert not draws_figure("colors = plt.cm.viridis([0.1, 0.5])")


def test_notebook_figures_are_recognised():
    """Every notebook has cells the rule counts as drawing (a rule that recognised nothing
    would pass vacuously)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any(draws_figure(c.source) for c in nb.cells if c.cell_type == "code"), path.name


def test_notebooks_found():
    assert any(p.name == "devices.ipynb" for p in NOTEBOOKS)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        # committed without outputs
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has stored outputs"
