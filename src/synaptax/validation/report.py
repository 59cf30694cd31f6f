"""A readable summary of a validation target's result (what ``synaptax reproduce ID`` prints).

:func:`format_result` turns the dict :func:`~synaptax.validation.registry.run_target`
returns into lines of plain Unicode text: the target and what it checks, each measured
number next to the expected one (with its unit where the key or the result names one), the
tolerance, the protocol's other numbers and notes, and a last line ``PASS``, ``FAIL`` or
``KNOWN FAILURE``.
"""
import math
import re
import textwrap
from collections.abc import Mapping

#: Verdict lines (the last line of :func:`format_result`).
PASS, FAIL, KNOWN_FAILURE = "PASS", "FAIL", "KNOWN FAILURE"

#: Key suffix → unit, longest first (``delta_g_at_5uS_S`` is in S, ``settle_time_s`` in s).
_UNIT_SUFFIXES = (
    ("_aJ_um2_nS", "aJ µm⁻² nS⁻¹"), ("_emu_cm3_s", "emu cm⁻³ s⁻¹"), ("_emu_cm3", "emu cm⁻³"),
    ("_S_per_C", "S/C"), ("_aJ_per_nS", "aJ/nS"), ("_per_s", "s⁻¹"),
    ("_mA", "mA"), ("_uA", "µA"), ("_ms", "ms"), ("_nm", "nm"), ("_Oe", "Oe"), ("_mV", "mV"),
    ("_S", "S"), ("_s", "s"), ("_V", "V"), ("_J", "J"), ("_A", "A"), ("_W", "W"), ("_K", "K"),
)
#: Units an SI prefix is put before (``3.08e-07 S`` → ``307.7 nS``).
_PREFIXABLE = {"S", "s", "V", "J", "A", "W"}
_PREFIXES = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G"}
#: Keys shown in their own place (not among "other values").
_MAIN_KEYS = ("target", "description", "source", "measured", "expected", "tolerance", "passed", "unit", "role",
              "known_failure", "note", "notes")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _pretty_unit(unit: str) -> str:
    """``emu cm^-3 s^-1`` → ``emu cm⁻³ s⁻¹``."""
    return re.sub(r"\^(-?\d+)", lambda m: m.group(1).translate(_SUPERSCRIPT), str(unit))


def _unit_of_key(key: str) -> str:
    for suffix, unit in _UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return unit
    return ""


def _number(x: float, unit: str = "") -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x} {unit}".rstrip()
    x = float(x)
    if not math.isfinite(x) or x == 0:
        return f"{x:g} {unit}".rstrip()
    if unit in _PREFIXABLE:
        exp = int(math.floor(math.log10(abs(x)) / 3.0)) * 3
        if exp in _PREFIXES:
            mant = x / 10.0**exp
            if abs(float(f"{mant:.4g}")) >= 1000 and exp + 3 in _PREFIXES:
                exp, mant = exp + 3, x / 10.0 ** (exp + 3)
            return f"{mant:.4g} {_PREFIXES[exp]}{unit}"
    return f"{x:.4g} {unit}".rstrip()


def format_value(value, unit: str = "", *, limit: int = 100) -> str:
    """One value as text: numbers to 4 significant digits with ``unit`` (SI-prefixed for
    S, s, V, J, A, W), strings as they are, lists inline, mappings as ``key: value`` pairs;
    cut to ``limit`` characters with ``…``."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)) or (hasattr(value, "__float__") and not hasattr(value, "__len__")):
        try:
            text = _number(value if isinstance(value, (bool, int)) else float(value), unit)
        except (TypeError, ValueError):
            text = str(value)
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {format_value(v, _unit_of_key(str(k)) or unit, limit=limit)}"
                               for k, v in value.items()) + "}"
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        if not isinstance(items, list):
            return format_value(items, unit, limit=limit)
        numeric = items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)
        if numeric and unit in _PREFIXABLE:
            text = "[" + ", ".join(_number(v, unit) for v in items) + "]"
        elif numeric and unit:
            text = "[" + ", ".join(_number(v) for v in items) + f"] {unit}"
        else:
            # strings such as "<= 0.9, decreasing" hold commas: separate them by semicolons
            sep = "; " if any(isinstance(v, str) for v in items) else ", "
            text = "[" + sep.join(format_value(v, unit, limit=limit) for v in items) + "]"
    elif value is None:
        text = "—"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    """``(dotted key, leaf)`` pairs of nested mappings; a non-mapping is one pair with key
    ``prefix``."""
    if isinstance(value, Mapping):
        out = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, value)]


def _verdict(result: Mapping) -> str:
    if result.get("passed"):
        return PASS
    return KNOWN_FAILURE if result.get("known_failure") else FAIL


def format_result(result: Mapping, *, width: int = 100) -> str:
    """A readable multi-line summary of a :func:`~synaptax.validation.run_target` result.

    Lines: ``ID — description``, the source, each measured number next to the expected one
    (nested dicts flattened to dotted keys; units from the key's suffix — ``_S``, ``_s``,
    ``_V``, ``_J``, ``_emu_cm3``, … — or the result's ``unit``), the tolerance, the role
    and the known-failure reason where present, the protocol's other values (one line each,
    cut to ``width``) and notes, and last a line ``PASS``, ``FAIL`` or ``KNOWN FAILURE``
    (not passed and marked as a known failure).  Plain Unicode, never ``\\u`` escapes.
    """
    unit = _pretty_unit(result.get("unit", "")) if result.get("unit") else ""
    out = []
    tid = result.get("target", "?")
    desc = result.get("description", "")
    out += textwrap.wrap(f"{tid} — {desc}" if desc else str(tid), width=width, subsequent_indent="    ")
    if result.get("source"):
        out += textwrap.wrap(f"source:    {result['source']}", width=width, subsequent_indent=" " * 11)

    measured = result.get("measured")
    expected = result.get("expected")
    m_pairs = _flatten(measured) if measured is not None else []
    e_pairs = _flatten(expected) if isinstance(expected, Mapping) else []
    e_map = dict(e_pairs)
    single = len(m_pairs) == 1 and m_pairs[0][0] == ""
    rows = []
    for key, value in m_pairs:
        u = _unit_of_key(key.rsplit(".", 1)[-1]) if key else ""
        u = u or (unit if "," not in unit else "")
        exp = e_map.get(key, expected if single and not isinstance(expected, Mapping) else None)
        rows.append((key or "value", value, exp, u))
    shown = {k for k, _ in m_pairs}
    for key, value in e_pairs:  # expected entries with no measured counterpart
        if key not in shown:
            rows.append((key, None, value, _unit_of_key(key.rsplit(".", 1)[-1]) or (unit if "," not in unit else "")))
    if rows:
        big = 10 * width
        w0 = max(len("quantity"), *(len(r[0]) for r in rows))
        cell = max((width - w0 - 6) // 2, 16)
        texts = [(k, "" if m is None else format_value(m, u, limit=big),
                  "" if e is None else format_value(e, u, limit=big)) for k, m, e, u in rows]
        w1 = max(len("measured"), *(len(t[1]) for t in texts if len(t[1]) <= cell))
        room = max(width - w0 - w1 - 6, 16)
        tabular = [len(m) <= w1 and len(e) <= room for _, m, e in texts]
        out.append("")
        if any(tabular):
            out.append(f"  {'quantity':<{w0}}  {'measured':<{w1}}  expected")
        for (k, m, e), row in zip(texts, tabular):
            if row:
                out.append(f"  {k:<{w0}}  {m:<{w1}}  {e}".rstrip())
            else:  # too long for the table: measured and expected on lines of their own
                out.append(f"  {k}")
                for label, text in (("measured", m), ("expected", e)):
                    if text:
                        out += textwrap.wrap(f"{label}: {text}", width=width, initial_indent="    ",
                                             subsequent_indent=" " * 14, break_on_hyphens=False)
    if expected is not None and not isinstance(expected, Mapping) and not single:
        out += textwrap.wrap(f"expected:  {format_value(expected, unit, limit=10 * width)}", width=width,
                             subsequent_indent=" " * 11)
    out.append("")
    if unit:
        out.append(f"unit:      {unit}")
    if result.get("tolerance") is not None:
        out += textwrap.wrap(f"tolerance: {format_value(result['tolerance'], unit, limit=10 * width)}", width=width,
                             subsequent_indent=" " * 11)
    if result.get("role"):
        out += textwrap.wrap(f"role:      {format_value(result['role'], limit=10 * width)}", width=width,
                             subsequent_indent=" " * 11)
    others = [(k, v) for k, v in result.items() if k not in _MAIN_KEYS]
    if others:
        out.append("other values:")
        w = max(len(str(k)) for k, _ in others)
        for k, v in others:
            line = f"  {str(k):<{w}}  {format_value(v, _unit_of_key(str(k)), limit=max(width - w - 4, 20))}"
            out.append(line)
    for key in ("note", "notes"):
        if result.get(key):
            out += textwrap.wrap(f"{key}: {format_value(result[key], limit=10 * width)}", width=width,
                                 subsequent_indent="  ")
    if result.get("known_failure"):
        out += textwrap.wrap(f"known failure: {result['known_failure']}", width=width, subsequent_indent="  ")
    out.append(_verdict(result))
    return "\n".join(out)


__all__ = ["FAIL", "KNOWN_FAILURE", "PASS", "format_result", "format_value"]
