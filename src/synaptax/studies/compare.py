"""``synaptax compare RUN_OR_STUDY_DIR...``: runs and studies side by side.

Each path is a run folder (it holds the run's ``report.json``: one row) or a study folder
(it holds ``summary.csv``, written by :func:`synaptax.studies.report.write_study_outputs`:
one row per group of points that differ only in their seed, labelled
``<study name>:<group>``, with mean ± std over the group's finished seeds).  The study's
name is the ``name`` in its ``study.json`` when there is one, else the folder's name; the
device, algorithm, network and epochs of a group come from the rows of ``results.csv``
beside the summary (when present).

:func:`compare` gives the header and the text cells, :func:`format_compare` the aligned
text table (``+---+`` borders, as the CLI's run summary) or CSV, :func:`compare_csv` the
CSV with raw SI numbers (a ``<metric>_std`` column beside each metric).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from .report import format_metric

#: the columns of the comparison: (title, metric key) after the descriptive ones
COLUMNS = (
    ("test accuracy", "test_accuracy"),
    ("energy/update", "energy_per_update_J"),
    ("energy/inference", "energy_per_inference_J"),
    ("latency/update", "latency_per_update_s"),
    ("inference latency", "costs.inference_latency_s"),
    ("area", "costs.area_m2"),
    ("TOPS/W", "costs.inference_tops_per_w"),
    ("wall time", "wall_time_s"),
)
#: the descriptive columns (title, entry key)
INFO = (("run / study group", "label"), ("status", "status"), ("device", "device"), ("algorithm", "algorithm"),
        ("network", "network"), ("epochs", "epochs"))


def _number(text):
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(path)!r} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid JSON (truncated or corrupt?): {err.msg} "
                         f"at line {err.lineno}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{str(path)!r} does not hold a JSON object")
    return obj


def _read_csv(path: Path) -> list[dict]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{str(path)!r} cannot be read: {getattr(err, 'strerror', None) or err}") from None


def _run_entry(folder: Path) -> dict:
    report = _read_json(folder / "report.json")
    costs = report.get("costs") if isinstance(report.get("costs"), dict) else {}

    def metric(key):
        v = costs.get(key[len("costs."):]) if key.startswith("costs.") else report.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        return (float(v) if ok else None, None)

    epochs, done = report.get("epochs"), report.get("epochs_finished")
    ep = "" if epochs is None else (str(epochs) if done in (None, epochs) else f"{done}/{epochs}")
    return {"label": folder.name or str(folder), "kind": "run", "status": str(report.get("status", "")),
            "device": str(report.get("device", "")), "algorithm": str(report.get("algorithm", "")),
            "network": str(report.get("network", "")), "epochs": ep, "n": 1,
            "metrics": {key: metric(key) for _, key in COLUMNS}}


def _study_name(folder: Path) -> str:
    meta = folder / "study.json"
    if meta.is_file():
        try:
            name = json.loads(meta.read_text(encoding="utf-8")).get("name")
            if name:
                return str(name)
        except (OSError, ValueError, AttributeError):
            pass
    return folder.resolve().name or str(folder)


def _joined(rows: Sequence[dict], column: str) -> str:
    seen: dict[str, None] = {}
    for r in rows:
        v = r.get(column)
        if v not in (None, ""):
            seen.setdefault(v, None)
    return "/".join(seen)


def _study_entries(folder: Path) -> list[dict]:
    summary = _read_csv(folder / "summary.csv")
    results = _read_csv(folder / "results.csv") if (folder / "results.csv").is_file() else []
    by_id = {r.get("id"): r for r in results}
    name = _study_name(folder)
    out = []
    for g in summary:
        ids = (g.get("points") or "").split()
        rows = [by_id[i] for i in ids if i in by_id]
        n, fin = int(_number(g.get("n_points")) or 0), int(_number(g.get("n_finished")) or 0)
        extra = [f"{int(_number(g.get(f'n_{s}')) or 0)} {s}" for s in ("diverged", "failed", "pending")
                 if _number(g.get(f"n_{s}"))]
        status = f"{fin}/{n} finished" + (f", {', '.join(extra)}" if extra else "")
        out.append({"label": f"{name}:{g.get('group', '')}", "kind": "study", "status": status,
                    "device": _joined(rows, "device"), "algorithm": _joined(rows, "algorithm"),
                    "network": _joined(rows, "network"), "epochs": _joined(rows, "epochs"), "n": fin,
                    "metrics": {key: (_number(g.get(f"{key}.mean")), _number(g.get(f"{key}.std")))
                                for _, key in COLUMNS}})
    return out


def _entries(paths: Sequence[str | os.PathLike]) -> list[dict]:
    if not paths:
        raise ValueError("compare: give at least one run or study folder")
    out = []
    for p in paths:
        folder = Path(p)
        if not folder.exists():
            raise ValueError(f"{str(p)!r} does not exist")
        if not folder.is_dir():
            raise ValueError(f"{str(p)!r} is not a folder (give a run folder with report.json or a study folder "
                             "with summary.csv)")
        if (folder / "report.json").is_file():
            out.append(_run_entry(folder))
        elif (folder / "summary.csv").is_file():
            out.extend(_study_entries(folder))
        else:
            raise ValueError(f"{str(p)!r} is neither a run folder (no report.json) nor a study folder "
                             "(no summary.csv)")
    return out


def compare(paths: Sequence[str | os.PathLike]) -> tuple[list[str], list[list[str]]]:
    """The comparison of runs and studies as text: ``(header, rows)``, one row per run
    and one per study group, in the order of ``paths``; metrics in engineering units,
    ``mean ± std`` for study groups with two or more finished seeds, ``—`` where absent.
    A metric column that no row has (e.g. area without a cost model) is left out.

    Raises ValueError (one line naming the path) for a path that does not exist or is
    neither a run folder (``report.json``) nor a study folder (``summary.csv``), or whose
    file cannot be read."""
    entries = _entries(paths)
    cols = [(t, k) for t, k in COLUMNS if any(e["metrics"][k][0] is not None for e in entries)]
    header = [t for t, _ in INFO] + [t for t, _ in cols]
    rows = []
    for e in entries:
        rows.append([str(e[k]) for _, k in INFO] +
                    [format_metric(k, *e["metrics"][k]) if k != "wall_time_s" else _seconds(*e["metrics"][k])
                     for _, k in cols])
    return header, rows


def _seconds(mean, std) -> str:
    if mean is None or not math.isfinite(mean):
        return "—"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None and math.isfinite(std) else "") + " s"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned text table with ``+---+`` borders: a rule, the header, a rule, the rows,
    a rule (the style of the CLI's run summary)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(header)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells):
        return "| " + " | ".join(f"{str(c):<{w}}" for c, w in zip(cells, widths)) + " |"

    return "\n".join([rule, line(header), rule, *(line(r) for r in rows), rule])


def compare_csv(paths: Sequence[str | os.PathLike]) -> str:
    """The comparison as CSV text with raw numbers in SI units: ``label``, ``kind`` (run
    or study), ``status``, ``device``, ``algorithm``, ``network``, ``epochs``, ``n``
    (finished seeds), then each metric of :data:`COLUMNS` by its key and ``<key>_std``
    (empty for a run or a single seed).  Errors as :func:`compare`."""
    entries = _entries(paths)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["label", "kind", "status", "device", "algorithm", "network", "epochs", "n"]
    for _, k in COLUMNS:
        head += [k, f"{k}_std"]
    w.writerow(head)
    for e in entries:
        row = [e[k] for k in head[:8]]
        for _, k in COLUMNS:
            mean, std = e["metrics"][k]
            row += ["" if mean is None else repr(mean), "" if std is None else repr(std)]
        w.writerow(row)
    return buf.getvalue()


def format_compare(paths: Sequence[str | os.PathLike], *, csv: bool = False) -> str:
    """The comparison as an aligned text table (:func:`compare`, :func:`format_table`), or
    with ``csv=True`` as :func:`compare_csv`."""
    if csv:
        return compare_csv(paths)
    return format_table(*compare(paths))


__all__ = ["COLUMNS", "compare", "compare_csv", "format_compare", "format_table"]
