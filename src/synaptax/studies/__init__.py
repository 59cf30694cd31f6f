"""Studies: sweeps over the design space (``synaptax sweep STUDY.toml``), trained many
configurations per compiled program, with results tables, trade-off figures and a
self-contained HTML report.

* :mod:`.study` — the study file (TOML): ``[base]``, ``[grid]``, ``[zip]``, device
  parameters; :func:`read_study` validates every point before training.
* :mod:`.engine` — :func:`run_study`: batches of points in one ``jax.vmap``-ed program,
  resumable point by point.
* :mod:`.report`, :mod:`.figures` — ``results.csv``, ``summary.csv``, figures,
  ``report.html``; :mod:`.compare` — ``synaptax compare``.
"""
from .engine import StudyRunError, run_study
from .study import EXAMPLE, Point, Study, StudyError, read_study

__all__ = ["EXAMPLE", "Point", "Study", "StudyError", "StudyRunError", "read_study", "run_study"]
