"""Device files: a device model as TOML, written by ``synaptax fit`` or by hand, usable
wherever a preset name is (``--device DEVICE.toml``, ``get_preset("DEVICE.toml")``).

The format (``format = "synaptax-device-1"``; every value in SI units)::

    name = "my-device"                # optional; the file's stem otherwise
    model = "soft-bounds"             # constant | linear | soft-bounds | exp | pow | table
    description = "…"                 # optional, one paragraph

    [parameters]                      # the model's constructor arguments
    g_min = 1.0e-6                    # S       (every model)
    g_max = 1.0e-5                    # S       (every model)
    step = 4.5e-8                     # S, at mid-range   (not table; exp: or `levels`)
    asymmetry = 0.0                   # (step_up − step_down)/(step_up + step_down)  (not table)
    gamma_up = 0.5                    # linear, pow
    gamma_down = 0.5                  # linear, pow
    nl_up = 2.4                       # exp
    nl_down = 4.88                    # exp
    pulse_voltage = 1.0               # V   (optional; write energy V²·G·t)
    pulse_width = 1.0e-8              # s   (optional)

    [variability]                     # optional; StepVariability fields, all default 0
    d2d_step = 0.2                    # relative spread of the step
    d2d_asymmetry = 0.05              # spread of the asymmetry
    d2d_bounds = 0.1                  # spread of the bounds, relative to the half window
    c2c = 0.3                         # relative noise of one pulse's step
    c2c_range = 0.0                   # additive noise of one pulse, relative to the window
    read_noise = 0.0                  # relative noise of one read
    stuck_min = 0.0                   # probability a cell is stuck at g_min
    stuck_max = 0.0                   # … at g_max

    [relaxation]                      # optional; see synaptax.devices.generic.Relaxation
    law = "exp"                       # exp | pow
    tau = 1.0                         # s
    rest = 0.2                        # rest position, fraction of the window
    exponent = 1.0                    # pow only

    [table]                           # model "table" only (LookupTableDevice)
    conductance = [1e-6, …]           # S, increasing
    delta_up = […]                    # S per pulse, ≥ 0
    delta_down = […]                  # S per pulse (magnitude)

    [uncertainty]                     # optional: one standard error, same keys and units
    [provenance]                      # optional: key → "tag: note" (tags: pub, paper, derived, fit, assumed)
    [fit]                             # written by synaptax fit: source, date, goodness, BIC, …

Keys in ``[uncertainty]`` and ``[provenance]`` are field paths as ``synaptax devices show``
prints them (``g_min``, ``variability.c2c``, ``relaxation.tau``).  Any other key, a value of
the wrong type or a model that rejects its parameters is a :class:`DeviceFileError` naming
the file, the table and the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

FORMAT = "synaptax-device-1"

_COMMON = ("g_min", "g_max", "pulse_voltage", "pulse_width")
#: Parameter keys each model accepts (beyond :data:`_COMMON`); required ones first.
MODEL_KEYS = {
    "constant": (("step",), ("asymmetry",)),
    "linear": (("step",), ("asymmetry", "gamma_up", "gamma_down")),
    "soft-bounds": (("step",), ("asymmetry",)),
    "pow": (("step",), ("asymmetry", "gamma_up", "gamma_down")),
    "exp": ((), ("step", "levels", "asymmetry", "nl_up", "nl_down")),
    "table": ((), ()),
}
VARIABILITY_KEYS = ("d2d_step", "d2d_asymmetry", "d2d_bounds", "c2c", "c2c_range", "read_noise", "stuck_min",
                    "stuck_max")
RELAXATION_KEYS = ("law", "tau", "rest", "exponent")
TOP_KEYS = ("format", "name", "model", "description", "parameters", "variability", "relaxation", "table",
            "uncertainty", "provenance", "fit")


class DeviceFileError(ValueError):
    """A device file that cannot be read or used (one line naming the file and key)."""


@dataclasses.dataclass(frozen=True)
class DeviceFile:
    """A loaded device file.

    Attributes:
        path: the file.
        name: its ``name`` (the file's stem when absent).
        model: the model name.
        device: the synaptax device model.
        provenance: field path → ``(tag, note)`` for ``synaptax devices show``.
        uncertainty: field path → one standard error (SI).
        description: the file's description (or a line naming the model and source).
        fit: the ``[fit]`` table as written by ``synaptax fit`` (empty for a hand-written file).
        sha256: SHA-256 of the file's bytes.
    """

    path: str
    name: str
    model: str
    device: object
    provenance: dict
    uncertainty: dict
    description: str
    fit: dict
    sha256: str


def is_device_file(spec) -> bool:
    """True when ``spec`` names a device file (a string or path ending in ``.toml``)."""
    return isinstance(spec, (str, os.PathLike)) and os.fspath(spec).lower().endswith(".toml")


def _number(path, table, key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DeviceFileError(f"{path}: [{table}] {key}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise DeviceFileError(f"{path}: [{table}] {key}: expected a finite number, got {value!r}")
    return float(value)


def _numbers(path, table, key, value):
    if not isinstance(value, list) or not value:
        raise DeviceFileError(f"{path}: [{table}] {key}: expected a list of numbers")
    return np.asarray([_number(path, table, f"{key}[{i}]", v) for i, v in enumerate(value)])


def _unknown(path, table, mapping, allowed):
    for key in mapping:
        if key not in allowed:
            raise DeviceFileError(f"{path}: [{table}] {key}: unknown key; allowed: {', '.join(allowed)}")


def load_device_file(path) -> DeviceFile:
    """Read and check a device file; build its device (module docstring for the format)."""
    import tomllib

    path = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DeviceFileError(f"{path}: device file not found") from None
    except OSError as err:
        raise DeviceFileError(f"{path}: cannot read the device file: {err.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DeviceFileError(f"{path}: not a text (UTF-8) file") from None
    except tomllib.TOMLDecodeError as err:
        raise DeviceFileError(f"{path}: not valid TOML: {err}") from None
    _unknown(path, "top level", doc, TOP_KEYS)
    fmt = doc.get("format", FORMAT)
    if fmt != FORMAT:
        raise DeviceFileError(f"{path}: format: expected {FORMAT!r}, got {fmt!r}")
    model = doc.get("model")
    if model not in MODEL_KEYS:
        raise DeviceFileError(f"{path}: model: expected one of {', '.join(MODEL_KEYS)}, got {model!r}")
    params = doc.get("parameters")
    if not isinstance(params, dict):
        raise DeviceFileError(f"{path}: [parameters]: missing (the model's constructor arguments)")
    required, optional = MODEL_KEYS[model]
    allowed = _COMMON + required + optional
    _unknown(path, "parameters", params, allowed)
    must = required + (("g_min", "g_max") if model != "table" else ())
    for key in must:
        if key not in params:
            raise DeviceFileError(f"{path}: [parameters] {key}: missing (model {model!r} needs "
                                  f"{', '.join(must)})")
    p = {k: _number(path, "parameters", k, v) for k, v in params.items()}
    var_raw = doc.get("variability", {})
    if not isinstance(var_raw, dict):
        raise DeviceFileError(f"{path}: [variability]: expected a table")
    _unknown(path, "variability", var_raw, VARIABILITY_KEYS)
    var = {k: _number(path, "variability", k, v) for k, v in var_raw.items()}
    rel_raw = doc.get("relaxation")
    relaxation = None
    if rel_raw is not None:
        if not isinstance(rel_raw, dict):
            raise DeviceFileError(f"{path}: [relaxation]: expected a table")
        _unknown(path, "relaxation", rel_raw, RELAXATION_KEYS)
        law = rel_raw.get("law", "exp")
        if law not in ("exp", "pow"):
            raise DeviceFileError(f"{path}: [relaxation] law: expected 'exp' or 'pow', got {law!r}")
        relaxation = {"law": law, **{k: _number(path, "relaxation", k, v) for k, v in rel_raw.items() if k != "law"}}
    table = None
    if model == "table":
        t = doc.get("table")
        if not isinstance(t, dict):
            raise DeviceFileError(f"{path}: [table]: missing (model 'table' needs conductance, delta_up, delta_down)")
        _unknown(path, "table", t, ("conductance", "delta_up", "delta_down"))
        for key in ("conductance", "delta_up", "delta_down"):
            if key not in t:
                raise DeviceFileError(f"{path}: [table] {key}: missing")
        table = {k: _numbers(path, "table", k, t[k]) for k in ("conductance", "delta_up", "delta_down")}
    device = _build(path, model, p, var, relaxation, table)
    provenance = {}
    for key, entry in doc.get("provenance", {}).items():
        tag, _, note = str(entry).partition(":")
        tag = "fit" if tag.strip() == "fitted" else tag.strip()
        if tag not in ("pub", "paper", "derived", "fit", "assumed"):
            raise DeviceFileError(f"{path}: [provenance] {key}: unknown tag {tag!r}; "
                                  "tags: pub, paper, derived, fit, assumed (write 'tag: note')")
        provenance[key] = (tag, note.strip())
    uncertainty = {k: _number(path, "uncertainty", k, v) for k, v in doc.get("uncertainty", {}).items()}
    name = doc.get("name") or Path(path).stem
    fit = doc.get("fit", {})
    description = doc.get("description") or (f"{model} device fitted from {fit.get('source')} on {fit.get('date')}"
                                             if fit else f"{model} device from {Path(path).name}")
    return DeviceFile(path, str(name), model, device, provenance, uncertainty, str(description), fit,
                      hashlib.sha256(raw).hexdigest())


def _build(path, model, p, var, relaxation, table):
    from ..core.variability import StepVariability
    from ..generic import (ConstantStepDevice, ExpStepDevice, LinearStepDevice, LookupTableDevice, PowStepDevice,
                           SoftBoundsDevice)
    from ..generic.relaxation import Relaxation

    try:
        variability = StepVariability(**var)
        rel = None if relaxation is None else Relaxation(**relaxation)
        common = {k: p[k] for k in ("pulse_voltage", "pulse_width") if k in p}
        if model == "table":
            return LookupTableDevice(table["conductance"], table["delta_up"], table["delta_down"],
                                     variability=variability, relaxation=rel, **common)
        common.update(g_min=p["g_min"], g_max=p["g_max"], variability=variability, relaxation=rel)
        if "asymmetry" in p:
            common["asymmetry"] = p["asymmetry"]
        if model == "exp":
            if "levels" in p and "step" in p:
                raise DeviceFileError(f"{path}: [parameters] levels: give levels or step, not both")
            levels = p.get("levels") or ((p["g_max"] - p["g_min"]) / p["step"] if "step" in p else 100.0)
            return ExpStepDevice(levels=levels, nl_up=p.get("nl_up", 1.0), nl_down=p.get("nl_down", 1.0), **common)
        cls = {"constant": ConstantStepDevice, "linear": LinearStepDevice, "soft-bounds": SoftBoundsDevice,
               "pow": PowStepDevice}[model]
        extra = {k: p[k] for k in ("gamma_up", "gamma_down") if k in p}
        return cls(step=p["step"], **common, **extra)
    except DeviceFileError:
        raise
    except (ValueError, TypeError) as err:
        raise DeviceFileError(f"{path}: {str(err).splitlines()[0]}") from None


# --------------------------------------------------------------------------- writing
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _table(lines, name, mapping, comments=None):
    lines.append("")
    lines.append(f"[{name}]")
    for key, value in mapping.items():
        note = (comments or {}).get(key)
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}" + (f"  # {note}" if note else ""))


def device_file_text(fit, *, name: str, version: str) -> str:
    """The TOML text of a :class:`~synaptax.devices.fitting.fit.DeviceFit`."""
    prov = fit.provenance
    keys_needed = {"constant": ("step", "asymmetry"), "linear": ("step", "asymmetry", "gamma_up", "gamma_down"),
                   "soft-bounds": ("step", "asymmetry"), "pow": ("step", "asymmetry", "gamma_up", "gamma_down"),
                   "exp": ("step", "asymmetry", "nl_up", "nl_down"), "table": ()}[fit.model]
    param_keys = ("g_min", "g_max") + keys_needed + ("pulse_voltage", "pulse_width")
    params = {k: fit.parameters[k] for k in param_keys}
    lines = [f"# synaptax device file: {fit.model} model {prov} by synaptax {version} (synaptax fit).",
             "# Every value in SI units; [uncertainty] holds one standard error of each.",
             f"format = {_toml_value(FORMAT)}", f"name = {_toml_value(name)}", f"model = {_toml_value(fit.model)}",
             f"description = {_toml_value(f'{fit.model} device {prov}; model chosen by {fit.chosen_by}')}"]
    units = {k: p.unit for k, p in params.items()}
    _table(lines, "parameters", {k: p.value for k, p in params.items()},
           {k: u for k, u in units.items() if u})
    _table(lines, "variability", {k: max(p.value, 0.0) for k, p in fit.variability.items()})
    unc = {k: p.se for k, p in params.items()}
    unc.update({f"variability.{k}": p.se for k, p in fit.variability.items()})
    provenance = {}
    for k, p in params.items():
        tag = "assumed" if p.note.startswith("assumed") else ("derived" if p.note.startswith("derived") else "fit")
        note = p.note.split(": ", 1)[1] if tag != "fit" and ": " in p.note else p.note
        provenance[k] = f"{tag}: {note} ({prov})" if tag != "assumed" else f"{tag}: {note}"
    for k, p in fit.variability.items():
        provenance[f"variability.{k}"] = f"fit: {p.note} ({prov})"
    rel = fit.relaxation
    if rel is not None and rel.law != "none":
        r = {"law": rel.law, "tau": rel.tau.value, "rest": float(np.clip(rel.rest.value, 0, 1))}
        unc["relaxation.tau"], unc["relaxation.rest"] = rel.tau.se, rel.rest.se
        if rel.exponent is not None:
            r["exponent"] = rel.exponent.value
            unc["relaxation.exponent"] = rel.exponent.se
            provenance["relaxation.exponent"] = f"fit: {rel.exponent.note} ({prov})"
        provenance["relaxation.tau"] = f"fit: {rel.tau.note} ({prov})"
        provenance["relaxation.rest"] = f"fit: {rel.rest.note} ({prov})"
        provenance["relaxation.law"] = f"fit: chosen by BIC among none, exp, pow ({prov})"
        _table(lines, "relaxation", r, {"tau": "s"})
    if fit.model == "table":
        t = fit.device
        _table(lines, "table", {"conductance": np.asarray(t.table_conductance).tolist(),
                                "delta_up": np.asarray(t.table_delta_up).tolist(),
                                "delta_down": np.asarray(t.table_delta_down).tolist()})
    _table(lines, "uncertainty", unc)
    _table(lines, "provenance", provenance)
    g = fit.goodness
    fit_table = {"source": fit.source, "source_sha256": fit.source_sha256, "date": fit.date,
                 "synaptax_version": version, "chosen_by": fit.chosen_by, **fit.counts,
                 "rmse_S": g["rmse_S"], "r2": g["r2"], "reduced_chi2": g["reduced_chi2"], "converged": g["converged"],
                 "stuck": ", ".join(f"{k} ({v})" for k, v in fit.stuck.items())}
    _table(lines, "fit", fit_table)
    _table(lines, "fit.bic", dict(g["bic"]))
    if rel is not None:
        _table(lines, "fit.relaxation", {"law": rel.law, "reads": rel.reads, "segments": rel.segments,
                                         "rms": rel.rms, **{f"bic_{k}": v for k, v in rel.bic.items()}})
    if fit.spread_not_modelled:
        _table(lines, "fit.spread_not_modelled", dict(fit.spread_not_modelled))
    if fit.alternative:
        _table(lines, "fit.alternative", dict(fit.alternative))
    return "\n".join(lines) + "\n"


def write_device_file(fit, path, *, name: str | None = None, overwrite: bool = False) -> str:
    """Write ``fit`` as a device file at ``path`` (atomic; refuses an existing file unless
    ``overwrite``); returns the text.  The file is read back and checked before it replaces
    anything."""
    from ... import __version__
    from ..._files import atomic_write_bytes

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; choose another -o PATH or pass --overwrite")
    text = device_file_text(fit, name=name or path.stem, version=__version__)
    import tomllib

    tomllib.loads(text)  # a writer bug must not leave an unreadable file
    atomic_write_bytes(path, text.encode("utf-8"))
    return text


__all__ = ["DeviceFile", "DeviceFileError", "FORMAT", "device_file_text", "is_device_file", "load_device_file",
           "write_device_file"]
