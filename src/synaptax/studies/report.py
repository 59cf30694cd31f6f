"""What a parameter study leaves in its folder: the per-point table (``results.csv``), the
summary over seeds (``summary.csv``), the figures (``figures/*.png``) and one
self-contained ``report.html``.

The input is the study's list of *point records*, one dict per point in study order::

    {"id": "p0007",
     "status": "finished" | "diverged" | "failed" | "pending",
     "message": None or "one-line reason",
     "swept": {"device": "reram-sb", "adc_bits": 6, "seed": 2},   # the point's value of each axis
     "config": {...},          # TrainConfig.as_dict(), with "device_params": {"variability.c2c": 0.1}
     "report": {...} or None,  # the run's report.json (finished or diverged runs)
     "run_dir": "points/p0007-…",   # relative to the study folder
     "batch": 3}               # the compiled batch it ran in, or None

and the study's metadata (``name``, ``file``, ``description``, ``axes``, ``grid``, ``zip``,
``base``, ``created``, ``synaptax_version``, ``wall_time_s``, ``batches``).

Metrics
    Every numeric scalar of a report's top level (``test_accuracy``,
    ``energy_per_update_J``, …) and of its ``costs`` table (as ``costs.<key>``, nested
    tables as ``costs.<key>.<key>``), None kept as a missing value.  Booleans, strings,
    lists and other tables are not metrics, nor are top-level keys that are also
    configuration fields (``epochs``, ``train_samples``, ``test_samples``: settings, in the
    configuration columns).

Groups
    :func:`summarise` groups the points by every axis except ``seed``; a group's
    statistics are over its *finished* points (a diverged run's numbers describe a broken
    run and are not averaged; it is counted in ``n_diverged``), with the sample standard
    deviation (``ddof=1``; None with fewer than two values).  Non-finite values are left out.
"""
from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._files import atomic_write_bytes
from . import figures as _fig

#: the point statuses, in the order the report counts them
STATUSES = ("finished", "diverged", "failed", "pending")
#: the axis averaged over by the summary
SEED_AXIS = "seed"
#: report keys that come first among the metric columns (those present, in this order)
METRIC_ORDER = (
    "test_accuracy", "energy_per_update_J", "write_energy_per_update_J", "read_energy_per_update_J",
    "converter_energy_per_update_J", "energy_per_update_last_epoch_J", "energy_per_update_per_cell_J",
    "energy_per_inference_J", "total_training_energy_J", "pulses_per_update", "pulses_per_update_last_epoch",
    "total_pulses", "latency_per_update_s", "device_time_s", "updates", "cells", "epochs_finished",
    "wall_time_s",
)
#: top-level report keys that are settings, not results (also configuration fields)
NOT_METRICS = frozenset({"epochs", "train_samples", "test_samples"})
#: the metrics of the report's summary table and of ``synaptax compare``, those present
HEADLINE = (
    "test_accuracy", "energy_per_update_J", "energy_per_inference_J", "latency_per_update_s",
    "costs.inference_latency_s", "costs.area_m2", "costs.inference_tops_per_w", "costs.inference_edp_Js",
    "total_training_energy_J", "wall_time_s",
)

#: plain-words meaning of the metrics the report explains (others get a generic line)
GLOSSARY = {
    "test_accuracy": "fraction of the test images the trained network classifies correctly, after the last "
                     "epoch (shown in %). Higher is better.",
    "energy_per_update_J": "energy of one training update (one mini-batch): the forward and backward reads of "
                           "the arrays, the DAC/ADC conversions and the write pulses, averaged over the whole "
                           "run. Lower is better.",
    "write_energy_per_update_J": "the part of the energy per update spent on the programming pulses that change "
                                 "the devices' conductances.",
    "read_energy_per_update_J": "the part of the energy per update dissipated in the cells while they are read "
                                "(forward and backward passes).",
    "converter_energy_per_update_J": "the part of the energy per update spent in the digital-to-analog and "
                                     "analog-to-digital converters at the array's edges.",
    "energy_per_update_last_epoch_J": "energy per update averaged over the last epoch only.",
    "energy_per_update_per_cell_J": "energy per update divided by the number of devices in the arrays.",
    "energy_per_inference_J": "energy to classify one image with the trained arrays (one forward read).",
    "total_training_energy_J": "energy of the whole training run (all updates of all epochs).",
    "pulses_per_update": "mean number of programming pulses applied to all devices together in one update.",
    "pulses_per_update_last_epoch": "pulses per update averaged over the last epoch only.",
    "total_pulses": "programming pulses applied over the whole run.",
    "latency_per_update_s": "simulated device time of one update: the array reads plus the duration of the "
                            "write pulses (and any rest time). Lower is faster.",
    "device_time_s": "simulated device time of the whole training run (all updates).",
    "updates": "number of weight updates (mini-batches) in the run.",
    "cells": "number of devices (cells) in all the crossbar arrays.",
    "epochs_finished": "epochs completed (fewer than configured when the run stopped early).",
    "wall_time_s": "time the simulation took on the computer (not a property of the hardware).",
    "costs.area_m2": "chip area of the arrays and their periphery (shown in mm²).",
    "costs.inference_latency_s": "time to classify one image on the simulated hardware.",
    "costs.inference_edp_Js": "energy-delay product of one inference (energy × latency; lower is better).",
    "costs.inference_tops_per_w": "inference throughput per watt, in tera-operations per second per watt "
                                  "(higher is more efficient).",
    "costs.inference_tops_per_mm2": "inference throughput per chip area, in tera-operations per second per mm².",
    "costs.update_latency_s": "time of one training update on the simulated hardware.",
    "costs.update_edp_Js": "energy-delay product of one training update.",
    "costs.training_energy_J": "energy of the whole training run as estimated by the cost model.",
    "costs.training_device_time_s": "time of the whole training run on the simulated hardware.",
}

_PREFIXES = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}


# ----------------------------------------------------------------------------- values
def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scalar(v) -> bool:
    """A metric value: a number (not a boolean) or None."""
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def text_value(v) -> str:
    """A configuration or axis value as text: None empty, booleans as in TOML, lists
    comma-joined, floats in their shortest exact form."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(text_value(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Mapping):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


def _short(v) -> str:
    """A value for display: like :func:`text_value` with floats in ``%g``."""
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_short(x) for x in v)
    return text_value(v) if v is not None else "—"


def _key(v):
    if isinstance(v, (list, tuple)):
        return tuple(_key(x) for x in v)
    if isinstance(v, Mapping):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def _flatten(prefix: str, table: Mapping, out: dict) -> None:
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            _flatten(name + ".", v, out)
        elif _scalar(v):
            out[name] = v


def point_metrics(point: Mapping) -> dict[str, float | None]:
    """The metrics of one point (see the module's docstring); ``{}`` without a report."""
    report = point.get("report")
    if not isinstance(report, Mapping):
        return {}
    out = {k: v for k, v in report.items() if _scalar(v) and k not in NOT_METRICS}
    costs = report.get("costs")
    if isinstance(costs, Mapping):
        _flatten("costs.", costs, out)
    return out


def metric_names(points: Sequence[Mapping]) -> list[str]:
    """The union of the points' metric names: :data:`METRIC_ORDER` first (those present),
    then the others in order of first appearance (``costs.*`` after the top level)."""
    seen: dict[str, None] = {}
    for p in points:
        for k in point_metrics(p):
            seen.setdefault(k, None)
    first = [k for k in METRIC_ORDER if k in seen]
    rest = [k for k in seen if k not in first]
    return first + [k for k in rest if not k.startswith("costs.")] + [k for k in rest if k.startswith("costs.")]


def config_columns(config: Mapping | None) -> dict[str, object]:
    """A point's configuration flattened to columns: every field by its name, lists as
    they are (written comma-joined), ``device_params`` as ``device.<path>`` (a dotted key
    or nested tables)."""
    out: dict[str, object] = {}
    for k, v in (config or {}).items():
        if k == "device_params":
            flat: dict = {}
            if isinstance(v, Mapping):
                _flatten_any("device.", v, flat)
            out.update(flat)
        else:
            out[k] = v
    return out


def _flatten_any(prefix: str, table: Mapping, out: dict) -> None:
    for k, v in table.items():
        if isinstance(v, Mapping):
            _flatten_any(f"{prefix}{k}.", v, out)
        else:
            out[f"{prefix}{k}"] = v


def study_axes(points: Sequence[Mapping]) -> list[str]:
    """The swept axes of the points, in the order of their ``swept`` dicts."""
    axes: dict[str, None] = {}
    for p in points:
        for a in p.get("swept") or {}:
            axes.setdefault(a, None)
    return list(axes)


# ----------------------------------------------------------------------------- results.csv
def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([text_value(v) if not isinstance(v, str) else v for v in r])
    return buf.getvalue().encode("utf-8")


def results_table(points: Sequence[Mapping]) -> tuple[list[str], list[list]]:
    """The header and the rows (raw values) of ``results.csv``, see :func:`write_results_csv`."""
    axes = study_axes(points)
    metrics = metric_names(points)
    configs = [config_columns(p.get("config")) for p in points]
    cfg_cols: dict[str, None] = {}
    for c in configs:
        for k in c:
            cfg_cols.setdefault(k, None)
    taken = {"id", "status", "message", "network", "run_dir", "batch", *axes, *metrics}
    cfg = [k for k in cfg_cols if k not in taken]
    header = ["id", "status", "message", *axes, *metrics, "network", *cfg, "run_dir", "batch"]
    rows = []
    for p, c in zip(points, configs):
        m = point_metrics(p)
        swept = p.get("swept") or {}
        report = p.get("report") if isinstance(p.get("report"), Mapping) else {}
        rows.append([p.get("id"), p.get("status"), p.get("message"), *(swept.get(a) for a in axes),
                     *(m.get(k) for k in metrics), report.get("network"), *(c.get(k) for k in cfg),
                     p.get("run_dir"), p.get("batch")])
    return header, rows


def write_results_csv(path: str | os.PathLike, points: Sequence[Mapping]) -> None:
    """Write ``results.csv``: one row per point, in study order (atomically, UTF-8).

    Columns: ``id``, ``status``, ``message`` (why a point failed; empty otherwise), one
    column per swept axis (its name), every metric (:func:`metric_names`: the union over
    the points; empty where a point has none, e.g. the energies of a float run or
    everything of a failed one), ``network`` (the report's ``784-100-10``), every
    configuration field not already an axis column (its name; lists comma-joined;
    ``device_params`` as ``device.<path>``), then ``run_dir`` and ``batch``.  Numbers are
    written exactly (``repr``), None as an empty cell, booleans as ``true``/``false``."""
    header, rows = results_table(points)
    atomic_write_bytes(Path(path), _csv_bytes(header, rows))


# ----------------------------------------------------------------------------- summary
def group_label(values: Mapping) -> str:
    """``device=reram-sb, adc_bits=6``; ``all points`` for no axis."""
    return ", ".join(f"{a}={_short(v)}" for a, v in values.items()) or "all points"


def _stats(values: list[float]) -> dict:
    vals = [float(v) for v in values if _finite(v)]
    n = len(vals)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


def summarise(points: Sequence[Mapping], axes: Sequence[str]) -> list[dict]:
    """The points grouped by every axis in ``axes`` except ``seed``, in order of first
    appearance.  One dict per group::

        {"label": "device=reram-sb, adc_bits=6", "values": {"device": "reram-sb", "adc_bits": 6},
         "points": ["p0001", ...], "seeds": [0, 1, 2],
         "n": 3, "n_finished": 3, "n_diverged": 0, "n_failed": 0, "n_pending": 0,
         "metrics": {"test_accuracy": {"mean": 0.91, "std": 0.004, "n": 3}, ...}}

    Statistics are over the group's finished points with a finite value: the mean and the
    sample standard deviation (``ddof=1``; None when fewer than two values, the mean None
    when none).  Every metric of :func:`metric_names` appears in every group."""
    keep = [a for a in axes if a != SEED_AXIS]
    names = metric_names(points)
    groups: dict[tuple, dict] = {}
    for p in points:
        swept = p.get("swept") or {}
        values = {a: swept.get(a) for a in keep}
        key = tuple(_key(v) for v in values.values())
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"label": group_label(values), "values": values, "points": [], "seeds": [],
                               "n": 0, **{f"n_{s}": 0 for s in STATUSES}, "_finished": []}
        g["points"].append(p.get("id"))
        if SEED_AXIS in swept:
            g["seeds"].append(swept[SEED_AXIS])
        g["n"] += 1
        status = p.get("status")
        g[f"n_{status if status in STATUSES else 'failed'}"] += 1
        if status == "finished":
            g["_finished"].append(point_metrics(p))
    out = []
    for g in groups.values():
        finished = g.pop("_finished")
        g["metrics"] = {k: _stats([m.get(k) for m in finished]) for k in names}
        out.append(g)
    return out


def summary_table(summary: Sequence[Mapping]) -> tuple[list[str], list[list]]:
    """The header and rows (raw values) of ``summary.csv``, see :func:`write_summary_csv`."""
    axes: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for g in summary:
        for a in g.get("values") or {}:
            axes.setdefault(a, None)
        for k in g.get("metrics") or {}:
            metrics.setdefault(k, None)
    header = ["group", *axes, "n_points", *(f"n_{s}" for s in STATUSES), "seeds", "points"]
    for k in metrics:
        header += [f"{k}.mean", f"{k}.std"]
    rows = []
    for g in summary:
        vals, ms = g.get("values") or {}, g.get("metrics") or {}
        row = [g.get("label"), *(vals.get(a) for a in axes), g.get("n"), *(g.get(f"n_{s}") for s in STATUSES),
               " ".join(text_value(s) for s in g.get("seeds") or []), " ".join(g.get("points") or [])]
        for k in metrics:
            row += [(ms.get(k) or {}).get("mean"), (ms.get(k) or {}).get("std")]
        rows.append(row)
    return header, rows


def write_summary_csv(path: str | os.PathLike, summary: Sequence[Mapping]) -> None:
    """Write ``summary.csv`` (atomically): one row per group of :func:`summarise`.

    Columns: ``group`` (the label), one column per non-seed axis, ``n_points``,
    ``n_finished``, ``n_diverged``, ``n_failed``, ``n_pending``, ``seeds`` and ``points``
    (space-separated), then ``<metric>.mean`` and ``<metric>.std`` for every metric
    (empty where undefined)."""
    header, rows = summary_table(summary)
    atomic_write_bytes(Path(path), _csv_bytes(header, rows))


# ----------------------------------------------------------------------------- units
def metric_unit(name: str) -> tuple[str, float, bool]:
    """``(unit, scale, prefixed)`` of a metric for display: the value times ``scale`` in
    ``unit``, with an SI prefix when ``prefixed``.  From the name's suffix: ``_J`` J,
    ``_s`` s, ``_Js`` J·s, ``_W`` W, ``_m`` m, ``_m2`` mm², ``_tops_per_w`` TOPS/W,
    ``_tops_per_mm2`` TOPS/mm², ``accuracy`` %; none otherwise (a count)."""
    base = name.rsplit(".", 1)[-1]
    if base.endswith("accuracy"):
        return "%", 100.0, False
    if base.endswith("_m2"):
        return "mm²", 1e6, False
    if base.endswith("_tops_per_w"):
        return "TOPS/W", 1.0, False
    if base.endswith("_tops_per_mm2"):
        return "TOPS/mm²", 1.0, False
    for suffix, unit in (("_Js", "J·s"), ("_J", "J"), ("_s", "s"), ("_W", "W"), ("_V", "V"), ("_A", "A"),
                         ("_S", "S"), ("_ohm", "Ω"), ("_m", "m")):
        if base.endswith(suffix):
            return unit, 1.0, True
    return "", 1.0, False


def _prefix(x: float) -> int:
    if x == 0 or not math.isfinite(x):
        return 0
    exp = 3 * math.floor(math.log10(abs(x)) / 3)
    # 999.96 rounds to "1e+03" at 3 digits: take the next prefix
    if abs(x) / 10.0 ** exp >= 999.5:
        exp += 3
    return max(min(exp, 12), -18)


def format_metric(name: str, value, std=None, *, digits: int = 3) -> str:
    """A metric's value (and its standard deviation, when given) in engineering units:
    ``91.23 %``, ``26.4 nJ``, ``26.4 ± 1.2 nJ``, ``0.52 mm²``; ``—`` for None or NaN.
    The standard deviation takes the mean's prefix."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    unit, scale, prefixed = metric_unit(name)
    x = float(value) * scale
    s = None if std is None or not _finite(std) else float(std) * scale
    if unit == "%":
        text = f"{x:.2f}" + (f" ± {s:.2f}" if s is not None else "")
        return text + " %"
    if prefixed:
        exp = _prefix(x)
        m = x / 10.0 ** exp
        text = f"{m:.{digits}g}" + (f" ± {s / 10.0 ** exp:.2g}" if s is not None else "")
        return f"{text} {_PREFIXES[exp]}{unit}"
    if isinstance(value, int) and not isinstance(value, bool) and s is None and scale == 1:
        text = str(value)
    else:
        text = f"{x:.{digits}g}" + (f" ± {s:.2g}" if s is not None else "")
    return f"{text} {unit}".rstrip()


def metric_title(name: str) -> str:
    """A short column title: ``energy per update [J]``, ``costs: area [mm²]``."""
    unit = metric_unit(name)[0]
    base = name.rsplit(".", 1)[-1]
    for suffix in ("_tops_per_mm2", "_tops_per_w", "_Js", "_J", "_s", "_m2", "_W", "_V", "_A", "_S", "_ohm", "_m"):
        if base.endswith(suffix):
            base = base[: -len(suffix)] + {"_tops_per_w": "_TOPS/W", "_tops_per_mm2": "_TOPS/mm²"}.get(suffix, "")
            break
    words = base.replace("_", " ").strip()
    if name.startswith("costs."):
        words = "costs: " + words
    return f"{words} [{unit}]" if unit and "TOPS" not in words else words


def describe_metric(name: str) -> str:
    """Plain words for a metric (:data:`GLOSSARY`), or a generic line naming its unit."""
    if name in GLOSSARY:
        return GLOSSARY[name]
    unit = metric_unit(name)[0]
    where = "the cost model's " if name.startswith("costs.") else "the run report's "
    return f"{where}value {name!r}" + (f" (in {unit})." if unit else ".")


# ----------------------------------------------------------------------------- report.html
_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #446;padding-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #ccd;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#eef;position:sticky;top:0}tr:nth-child(even) td{background:#f8f8fc}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-height:40em;overflow-y:auto}
.finished{color:#176317}.diverged{color:#a65a00;font-weight:bold}.failed{color:#b00;font-weight:bold}
.pending{color:#666}.note{background:#fff6dd;border-left:4px solid #e0b000;padding:.5em 1em}
.bad{background:#fde8e8;border-left:4px solid #b00;padding:.5em 1em}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#333;max-width:60em}
pre{background:#f4f4f8;padding:.8em;overflow-x:auto;font-size:.85em}
dt{font-weight:bold;margin-top:.4em}dd{margin-left:1.5em}
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence], *, numeric: Sequence[bool] | None = None,
           classes: Sequence[str | None] | None = None, raw: bool = False) -> str:
    """An HTML table; cells escaped unless ``raw`` (then the caller escaped them)."""
    numeric = numeric or [False] * len(header)
    out = ['<div class="scroll"><table><thead><tr>', *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, r in enumerate(rows):
        cls = classes[i] if classes else None
        out.append(f'<tr class="{_e(cls)}">' if cls else "<tr>")
        for j, c in enumerate(r):
            text = c if raw else _e(c)
            out.append(f'<td class="num">{text}</td>' if j < len(numeric) and numeric[j] else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _status_counts(points: Sequence[Mapping]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for p in points:
        s = p.get("status")
        counts[s if s in STATUSES else "failed"] += 1
    return counts


def _distinct(points: Sequence[Mapping], axis: str) -> list:
    seen: dict = {}
    for p in points:
        v = (p.get("swept") or {}).get(axis)
        seen.setdefault(_key(v), v)
    return list(seen.values())


def _axis_groups(study: Mapping, kind: str) -> list[list[str]]:
    """The axes named by the study's ``grid`` or ``zip`` table, as lists (one per zipped set)."""
    spec = study.get(kind)
    if isinstance(spec, Mapping):
        return [list(spec)] if spec else []
    if isinstance(spec, (list, tuple)):
        return [list(s) for s in spec if isinstance(s, Mapping) and s]
    return []


def _constant_config(points: Sequence[Mapping]) -> tuple[dict, list[str]]:
    """The configuration fields with one value over every point, and those that vary."""
    configs = [config_columns(p.get("config")) for p in points if p.get("config")]
    if not configs:
        return {}, []
    keys: dict[str, None] = {}
    for c in configs:
        for k in c:
            keys.setdefault(k, None)
    const, varies = {}, []
    for k in keys:
        vals = {_key(c.get(k)) for c in configs}
        if len(vals) == 1:
            const[k] = configs[0].get(k)
        else:
            varies.append(k)
    return const, varies


def _base_in_words(const: Mapping, varies: Sequence[str], network: str | None) -> str:
    def val(k, fmt=_short):
        return "(swept)" if k in varies else (fmt(const[k]) if k in const else None)

    parts = []
    hidden = val("hidden")
    if network and "hidden" not in varies:
        parts.append(f"a {network} network (a fully connected perceptron: input pixels, hidden layers, "
                     f"10 classes)")
    elif hidden:
        parts.append(f"a fully connected network with hidden layers {hidden}")
    alg = val("algorithm")
    if alg:
        parts.append(f"trained with the {alg} algorithm")
    dev = val("device")
    if dev:
        parts.append(f"on {dev} devices" if dev != "(swept)" else "on each device of the sweep")
    ep, bs, lr = val("epochs"), val("batch_size"), val("learning_rate")
    if ep:
        parts.append(f"for {ep} epochs")
    if bs:
        parts.append(f"in mini-batches of {bs}")
    if lr:
        parts.append(f"learning rate {lr}")
    sentence = "Each point is " + ", ".join(parts) + "." if parts else ""
    extra = []
    d, a = val("dac_bits"), val("adc_bits")
    if d or a:
        def bits(b):
            return "ideal" if b in ("0",) else (b if b == "(swept)" else f"{b} bit")
        extra.append(f"Converters: DAC {bits(d)}, ADC {bits(a)} (0 bit means an ideal converter).")
    ir = const.get("ir_drop")
    if "ir_drop" in varies:
        extra.append("The wires' IR drop is solved in some points and not in others (swept).")
    elif ir is True:
        extra.append(f"The wires' IR drop is solved in every read (wire resistance {val('r_wire')} Ω per "
                     f"cell segment, or that technology node).")
    elif ir is False:
        extra.append("The wires are ideal (no IR drop).")
    tr, te = val("train_samples"), val("test_samples")
    if tr or te:
        def n(x):
            return "all" if x == "0" else x
        extra.append(f"Data: {n(tr)} training and {n(te)} test images (MNIST).")
    return " ".join([sentence, *extra]).strip()


def _study_text(study: Mapping, study_dir: Path) -> tuple[str | None, str]:
    """The study file's text and where it came from: ``study['text']``, else a
    ``study.toml`` copy in the study folder, else the file ``study['file']`` names."""
    if isinstance(study.get("text"), str):
        return study["text"], "as recorded"
    tried = []
    candidates = [study_dir / "study.toml"]
    if study.get("file"):
        f = Path(str(study["file"]))
        candidates += [f] if f.is_absolute() else [f, study_dir / f]
    for c in candidates:
        tried.append(str(c))
        try:
            return c.read_text(encoding="utf-8"), str(c)
        except (OSError, UnicodeDecodeError):
            continue
    return None, "not found (looked in: " + ", ".join(tried) + ")"


def _img(fig: Mapping) -> str | None:
    png = fig.get("png")
    if png is None and fig.get("path"):
        try:
            png = Path(fig["path"]).read_bytes()
        except OSError:
            return None
    if not png:
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _headline(summary: Sequence[Mapping]) -> list[str]:
    have = {k for g in summary for k, m in (g.get("metrics") or {}).items() if m.get("mean") is not None}
    return [k for k in HEADLINE if k in have]


def pareto_groups(summary: Sequence[Mapping]) -> list[Mapping]:
    """The groups on the Pareto front of mean accuracy against mean energy per update
    (:func:`synaptax.studies.figures.pareto_front`), in order of increasing energy."""
    xs = [(g.get("metrics") or {}).get(_fig.ENERGY, {}).get("mean") for g in summary]
    ys = [(g.get("metrics") or {}).get(_fig.ACCURACY, {}).get("mean") for g in summary]
    front = _fig.pareto_front(xs, ys)
    return [summary[i] for i in sorted(front, key=lambda i: (xs[i], -ys[i]))]


def _fmt_duration(s) -> str:
    if not _finite(s):
        return "—"
    s = float(s)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min ({s:.0f} s)"
    return f"{s / 3600:.2f} h ({s:.0f} s)"


def write_report_html(path: str | os.PathLike, study: Mapping, points: Sequence[Mapping],
                      figures: Sequence[Mapping] = ()) -> None:
    """Write the study's report as one self-contained HTML file (atomically).

    No external resource and no script: the CSS is inline and the figures are embedded
    as base64 PNG.  Every text from the study (names, values, messages, the study file)
    is HTML-escaped.  Sections: title and status; what was studied (axes with their values,
    the shared configuration in words and as a table); how to read this (each metric in
    plain words with its unit); the summary table (mean ± std over seeds, engineering
    units); the Pareto-optimal designs (accuracy against energy per update); failures
    with their messages (and pending points); the figures with captions (or a note why a
    figure is absent); every point; the provenance (version, dates, wall time, the study
    file verbatim, the compiled batches).

    Args:
        path: the file to write; its folder must exist.
        study: the study's metadata (see the module's docstring; missing keys are shown
            as unknown).
        points: the point records.
        figures: one mapping per figure, in order: ``title``, ``caption``, and either
            ``png`` (bytes), ``path`` (a PNG file) or ``note`` (why it is absent).
    """
    path = Path(path)
    name = str(study.get("name") or path.parent.name or "study")
    axes = list(study.get("axes") or study_axes(points))
    summary = summarise(points, axes)
    counts = _status_counts(points)
    n = len(points)
    finished_any = counts["finished"] > 0
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_e(name)} — synaptax study report</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>Parameter study: {_e(name)}</h1>"]
    if study.get("description"):
        out.append(f"<p>{_e(study['description'])}</p>")
    status = ", ".join(f'<span class="{s}">{counts[s]} {s}</span>' for s in STATUSES if counts[s])
    out.append(f"<p><b>{n} point{'s' * (n != 1)}</b>: {status or 'none'}. "
               f"Simulated with synaptax {_e(study.get('synaptax_version') or '(version unknown)')}; "
               f"created {_e(study.get('created') or '(date unknown)')}; "
               f"wall time {_e(_fmt_duration(study.get('wall_time_s')))}.</p>")
    if n == 0:
        out.append('<p class="bad">This study has no points.</p>')
    elif not finished_any:
        why = []
        if counts["failed"]:
            why.append(f"{counts['failed']} failed")
        if counts["diverged"]:
            why.append(f"{counts['diverged']} diverged")
        if counts["pending"]:
            why.append(f"{counts['pending']} not run yet (pending)")
        out.append(f'<p class="bad">No point has finished ({_e(", ".join(why))}): there are no results to '
                   "compare. The failures and their messages are listed below.</p>")
    elif counts["finished"] < n:
        out.append(f'<p class="note">Only {counts["finished"]} of {n} points finished; the statistics use the '
                   "finished points only (a diverged run is counted, not averaged).</p>")

    # --- what was studied
    out.append("<h2>What was studied</h2>")
    grid_sets, zip_sets = _axis_groups(study, "grid"), _axis_groups(study, "zip")
    in_grid = {a for s in grid_sets for a in s}
    zipped = {a: s for s in zip_sets for a in s}
    rows = []
    for a in axes:
        vals = _distinct(points, a)
        how = ("every value with every other axis (grid)" if a in in_grid else
               "varied together with " + ", ".join(x for x in zipped[a] if x != a) + " (zipped)"
               if a in zipped and len(zipped[a]) > 1 else "zipped" if a in zipped else "")
        if a == SEED_AXIS:
            how = (how + "; " if how else "") + "repeats with different random seeds, averaged in the summary"
        rows.append([a, str(len(vals)), ", ".join(_short(v) for v in vals), how])
    if axes:
        out.append("<p>The study varies these settings (its <i>axes</i>); every other setting is the same for "
                   "all points.</p>")
        out.append(_table(["axis", "count", "values", "how it is varied"], rows, numeric=[False, True, False, False]))
    const, varies = _constant_config(points)
    network = next((p["report"].get("network") for p in points
                    if isinstance(p.get("report"), Mapping) and p["report"].get("network")), None)
    words = _base_in_words(const, varies, network)
    if words:
        out.append(f"<p>{_e(words)}</p>")
    if const:
        shown = [(k, _short(v)) for k, v in const.items() if v is not None]
        out.append("<details><summary>All settings shared by every point</summary>")
        out.append(_table(["setting", "value"], shown))
        out.append("</details>")
    other = [k for k in varies if k not in axes]
    if other:
        out.append(f"<p>Settings that differ between points although they are not axes (set by the engine or a "
                   f"zipped axis): {_e(', '.join(other))}.</p>")

    # --- how to read this
    names = metric_names(points)
    headline = _headline(summary)
    out.append("<h2>How to read this</h2>")
    out.append("<p>Each <i>point</i> is one training run of a simulated analog crossbar network. Points that "
               "differ only in their random seed form a <i>group</i>; the summary shows each group's mean ± "
               "sample standard deviation over its finished seeds (no ± with one seed). Energies and times are "
               "those of the simulated hardware, in engineering units (pJ = 10⁻¹² J, nJ = 10⁻⁹ J, "
               "µJ = 10⁻⁶ J; ns, µs, ms). A dash (—) means not available: a failed run, or a float "
               "(digital reference) run, which has no device energy.</p>")
    if names:
        shown = [k for k in names if k in headline] + [k for k in names if k not in headline]
        out.append("<dl>" + "".join(f"<dt>{_e(metric_title(k))} <code>{_e(k)}</code></dt>"
                                    f"<dd>{_e(describe_metric(k))}</dd>" for k in shown) + "</dl>")

    # --- summary
    out.append("<h2>Summary (mean ± std over seeds)</h2>")
    group_axes = [a for a in axes if a != SEED_AXIS]
    if summary and finished_any:
        header = [*group_axes, "finished / points", *(metric_title(k) for k in headline)]
        rows, classes = [], []
        for g in summary:
            ms = g["metrics"]
            fin = f"{g['n_finished']} / {g['n']}"
            rest = [f"{g[f'n_{s}']} {s}" for s in ("diverged", "failed", "pending") if g[f"n_{s}"]]
            rows.append([*(_short(g["values"].get(a)) for a in group_axes),
                         fin + (" (" + ", ".join(rest) + ")" if rest else ""),
                         *(format_metric(k, ms[k]["mean"], ms[k]["std"]) for k in headline)])
            classes.append(None if g["n_finished"] else "failed")
        out.append(_table(header, rows, numeric=[False] * len(group_axes) + [True] * (1 + len(headline)),
                          classes=classes))
        out.append("<p>Every metric of every point is in <code>results.csv</code>; the groups with every "
                   "metric's mean and std are in <code>summary.csv</code> (both beside this file).</p>")
    else:
        out.append('<p class="note">No finished point: nothing to summarise.</p>')

    # --- Pareto
    out.append("<h2>Pareto-optimal designs</h2>")
    front = pareto_groups(summary)
    if front:
        out.append("<p>A group is Pareto-optimal when no other group reaches at least its mean test accuracy "
                   "with at most its mean energy per update (and is better in one of the two). These are the "
                   "designs worth considering: every other group is matched or beaten on both counts by one of them. "
                   "Groups without an energy (float reference runs) take no part. In order of increasing "
                   "energy:</p>")
        cols = [k for k in ("test_accuracy", "energy_per_update_J", "energy_per_inference_J",
                            "latency_per_update_s", "costs.area_m2") if k in headline]
        rows = [[g["label"], f"{g['n_finished']}", *(format_metric(k, g["metrics"][k]["mean"], g["metrics"][k]["std"])
                                                     for k in cols)] for g in front]
        out.append(_table(["group", "finished seeds", *(metric_title(k) for k in cols)], rows,
                          numeric=[False] + [True] * (1 + len(cols))))
    else:
        out.append('<p class="note">No group has both a test accuracy and an energy per update (no finished '
                   "analog run), so there is no front.</p>")

    # --- failures
    out.append("<h2>Failures</h2>")
    bad = [p for p in points if p.get("status") in ("failed", "diverged") or p.get("status") not in STATUSES]
    if bad:
        rows = [[p.get("id"), p.get("status"), group_label(p.get("swept") or {}), p.get("message") or "(no message)",
                 p.get("run_dir")] for p in bad]
        out.append(_table(["point", "status", "settings", "message", "run folder"], rows,
                          classes=[p.get("status") if p.get("status") in STATUSES else "failed" for p in bad]))
    else:
        out.append("<p>No point failed or diverged.</p>")
    pending = [p for p in points if p.get("status") == "pending"]
    if pending:
        out.append(f'<p class="note">{len(pending)} point{"s" * (len(pending) != 1)} not run yet (pending): '
                   f'{_e(", ".join(str(p.get("id")) for p in pending))}.</p>')

    # --- figures
    out.append("<h2>Figures</h2>")
    if not figures:
        out.append('<p class="note">No figures.</p>')
    for f in figures:
        src = _img(f)
        title = _e(f.get("title") or "")
        if src:
            out.append(f'<figure><img src="{src}" alt="{title}"><figcaption><b>{title}.</b> '
                       f"{_e(f.get('caption') or '')}</figcaption></figure>")
        else:
            out.append(f'<p class="note"><b>{title}</b>: not drawn — {_e(f.get("note") or "no image")}.</p>')

    # --- all points
    out.append("<h2>Every point</h2>")
    pcols = [k for k in ("test_accuracy", "energy_per_update_J", "energy_per_inference_J", "latency_per_update_s",
                         "costs.inference_latency_s", "costs.area_m2", "wall_time_s") if k in names]
    rows = []
    for p in points:
        m = point_metrics(p)
        rows.append([p.get("id"), p.get("status"), *(_short((p.get("swept") or {}).get(a)) for a in axes),
                     *(format_metric(k, m.get(k)) for k in pcols), _short(p.get("batch")),
                     p.get("message") or "", p.get("run_dir") or ""])
    out.append(_table(["point", "status", *axes, *(metric_title(k) for k in pcols), "batch", "message",
                       "run folder"], rows,
                      numeric=[False, False] + [False] * len(axes) + [True] * len(pcols),
                      classes=[p.get("status") if p.get("status") in STATUSES else "failed" for p in points]))

    # --- provenance
    out.append("<h2>Provenance</h2><ul>")
    out.append(f"<li>synaptax version: {_e(study.get('synaptax_version') or 'unknown')}</li>")
    out.append(f"<li>study created: {_e(study.get('created') or 'unknown')}</li>")
    out.append(f"<li>report written: {_e(_dt.datetime.now().astimezone().isoformat(timespec='seconds'))}</li>")
    out.append(f"<li>wall time of the study: {_e(_fmt_duration(study.get('wall_time_s')))}</li>")
    out.append(f"<li>study file: <code>{_e(study.get('file') or 'unknown')}</code></li></ul>")
    batches = study.get("batches") or []
    if batches:
        out.append("<p>Points with the same array shapes and program run together, vectorised in one compiled "
                   "program (a <i>batch</i>):</p>")
        rows = []
        for i, b in enumerate(batches):
            b = b if isinstance(b, Mapping) else {}
            ids = [str(x) for x in b.get("points") or []]
            rows.append([str(i), _short(b.get("size", len(ids))), _short(b.get("compiled_programs")),
                         ", ".join(ids), b.get("note") or ""])
        out.append(_table(["batch", "points", "compiled programs", "point ids", "note"], rows,
                          numeric=[True, True, True, False, False]))
    text, where = _study_text(study, path.parent)
    out.append(f"<p>The study file ({_e(where)}), verbatim:</p>")
    out.append(f"<pre>{_e(text)}</pre>" if text is not None else '<p class="note">(not available)</p>')
    out.append("</body></html>\n")
    atomic_write_bytes(path, "\n".join(out).encode("utf-8"))


# ----------------------------------------------------------------------------- everything
#: the figure files of a study folder: (name, title, caption)
FIGURES = (
    ("accuracy_vs_energy", "Accuracy vs energy per update",
     "Test accuracy against the energy of one training update (log scale), one marker per group with the "
     "mean and the standard deviation over seeds as error bars. The black step line and the circled markers are "
     "the Pareto front: the groups no other group beats on both accuracy and energy. Dashed horizontal lines are "
     "runs without an energy model (float reference)."),
    ("accuracy_vs_latency", "Accuracy vs latency",
     "Test accuracy against latency (log scale; the axis label says whether this is the inference latency of "
     "the cost model or the simulated device time of one training update), with the Pareto front as in the "
     "previous figure."),
    ("heatmap_accuracy", "Accuracy over a two-axis grid",
     "Mean test accuracy (over seeds) for each combination of the first two swept axes with two or more values; "
     "a third such axis gives one panel per value, further axes are averaged over (named in the title). Blank "
     "cells (—) have no finished point."),
    ("accuracy_across_axes", "Accuracy across each numeric axis",
     "Mean test accuracy ± std over seeds against each numeric swept axis, one line per combination of the other "
     "swept axes (e.g. one line per device)."),
)


def write_study_outputs(study_dir: str | os.PathLike, study: Mapping, points: Sequence[Mapping]) -> dict:
    """Write every output of a study into ``study_dir``: ``results.csv``, ``summary.csv``,
    ``figures/*.png`` (:data:`FIGURES`, those with something to draw) and ``report.html``.

    Works with any mix of statuses (all failed or pending included: the CSVs have the rows,
    the figures are skipped with their reason in the report).  A figure that fails to draw
    for another reason is skipped the same way, its error in the report, rather than
    losing the tables.

    Returns ``{"results_csv": Path, "summary_csv": Path, "report_html": Path,
    "figures": {name: Path}, "skipped_figures": {name: reason}}``."""
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    axes = list(study.get("axes") or study_axes(points))
    results = study_dir / "results.csv"
    summary_path = study_dir / "summary.csv"
    write_results_csv(results, points)
    summary = summarise(points, axes)
    write_summary_csv(summary_path, summary)
    fig_dir = study_dir / "figures"
    drawers = {
        "accuracy_vs_energy": _fig.figure_accuracy_energy,
        "accuracy_vs_latency": _fig.figure_accuracy_latency,
        "heatmap_accuracy": _fig.figure_heatmap,
        "accuracy_across_axes": _fig.figure_axis_lines,
    }
    written, skipped, entries = {}, {}, []
    for key, title, caption in FIGURES:
        try:
            fig = drawers[key](summary)
            png = _fig.png_bytes(fig)
        except _fig.NothingToPlot as err:
            skipped[key] = str(err)
            entries.append({"title": title, "note": str(err)})
            continue
        except Exception as err:  # a drawing bug must not cost the tables and the report
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            reason = f"drawing failed ({type(err).__name__}{': ' + first if first else ''})"
            skipped[key] = reason
            entries.append({"title": title, "note": reason})
            continue
        fig_dir.mkdir(exist_ok=True)
        out = fig_dir / f"{key}.png"
        atomic_write_bytes(out, png)
        written[key] = out
        entries.append({"title": title, "caption": caption, "png": png})
    report = study_dir / "report.html"
    write_report_html(report, study, points, entries)
    return {"results_csv": results, "summary_csv": summary_path, "report_html": report, "figures": written,
            "skipped_figures": skipped}


__all__ = [
    "FIGURES", "GLOSSARY", "HEADLINE", "METRIC_ORDER", "STATUSES", "config_columns", "describe_metric",
    "format_metric", "group_label", "metric_names", "metric_title", "metric_unit", "pareto_groups",
    "point_metrics", "results_table", "study_axes", "summarise", "summary_table", "text_value",
    "write_report_html", "write_results_csv", "write_study_outputs", "write_summary_csv",
]


#: Columns of the table ``synaptax sweep`` prints at the end.
CONSOLE_METRICS = ("test_accuracy", "energy_per_update_J", "energy_per_inference_J", "costs.inference_latency_s",
                   "costs.update_latency_s", "costs.area_m2", "costs.inference_tops_per_w")


def format_study_summary(points: Sequence[Mapping], axes: Sequence[str]) -> str:
    """The study's summary as a text table (one row per group of seeds: finished/total,
    mean ± std of the headline metrics, ``*`` on the Pareto front of accuracy against
    energy per update)."""
    from .compare import format_table

    summary = summarise(points, axes)
    front = {id(g) for g in pareto_groups(summary)}
    have = {k for g in summary for k, m in g["metrics"].items() if m.get("mean") is not None}
    cols = [k for k in CONSOLE_METRICS if k in have]
    header = ["group", "done", *[metric_title(k) for k in cols], "Pareto"]
    rows = []
    for g in summary:
        m = g["metrics"]
        rows.append([g["label"], f"{g['n_finished']}/{g['n']}",
                     *[format_metric(k, m[k]["mean"], m[k]["std"]) for k in cols],
                     "*" if id(g) in front else ""])
    return format_table(header, rows)
