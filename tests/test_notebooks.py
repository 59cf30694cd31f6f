"""Execute every notebook in notebooks/ headless, in fast mode (``SYNAPTAX_FAST=1``).

Notebooks demonstrate; they are never the only test of anything, but they must run.  The
kernel is the ``python3`` kernelspec, whose command ``python`` jupyter_client resolves to
this interpreter (``sys.executable``); the kernel inherits this process's environment, so
it imports synaptax from the installed copy (``pip install -e .``) or from ``src/`` (added
to ``PYTHONPATH`` here for runs from a checkout).
"""
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

PROBE = "import sys, synaptax\nprint(sys.prefix)\nprint(synaptax.__file__)"


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPTAX_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
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
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors


def test_notebooks_found():
    assert any(p.name == "devices.ipynb" for p in NOTEBOOKS)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        # committed without outputs
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has stored outputs"
