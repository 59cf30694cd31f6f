"""Human-readable descriptions of the device presets: what ``synaptax devices`` prints.

* :func:`plain_text` — reST docstring markup to plain text;
* :func:`summarise_preset` / :func:`preset_table` — one line per preset: family, conductance
  range, number of states, energy and time per pulse, a one-line description;
* :func:`preset_parameters` / :func:`describe_preset` — every parameter of one preset
  (every field of the device pytree, nested modules included) with its unit, where the
  class docstrings give one, and its provenance tag;
* :func:`pulse_response` / :func:`plot_pulse_response` — the conductance of one nominal
  device under a train of potentiation then depression pulses, and its plot (PNG).

Provenance tags.  Each family's ``presets`` module holds a ``PROVENANCE`` table, preset
name → ``{field path: "tag: note"}``, transcribed from the tags its docstrings and comments
give ([pub] a publication, [paper] the family's source paper, [derived] computed from
tagged numbers, [fit] fitted, [assumed] a value chosen where no source gives one).  A field
the table does not list takes the tag its class docstring gives the class default, when the
preset kept that default; any other field is listed as ``[untagged]`` — not guessed.
"""
import dataclasses
import io
import math
import re
import sys
import textwrap
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

#: Provenance tags, in the order the legend lists them (``fitted`` is read as ``fit``).
TAGS = ("pub", "paper", "derived", "fit", "assumed")
UNTAGGED = "untagged"
_TAG_MEANING = {
    "pub": "a publication",
    "paper": "the family's source paper",
    "derived": "computed from tagged numbers",
    "fit": "fitted to a source's data or trends",
    "assumed": "chosen where no source gives a value",
    UNTAGGED: "no tag found in the preset's source",
}

#: Family of a preset, from the package its factory lives in.
FAMILIES = {"generic": "generic", "electrochemical": "electrochemical", "magnetoionic": "magneto-ionic",
            "spintronic": "spintronic", "pcm": "pcm"}


# ----------------------------------------------------------------------------- reST → text
_ROLE = re.compile(r":(?:[\w-]+:)*[\w-]+:`([^`]*)`")
_LITERAL = re.compile(r"``(.+?)``", re.S)
_INTERPRETED = re.compile(r"`([^`]+)`_{0,2}")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
_EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![\w*])")


def _role_text(match: re.Match) -> str:
    content = match.group(1).strip()
    explicit = re.match(r"(.*?)\s*<[^<>]*>$", content, re.S)
    if explicit and explicit.group(1):
        return explicit.group(1)
    content = content.lstrip("!")
    if content.startswith("~"):
        return content[1:].rsplit(".", 1)[-1]
    return content


def plain_text(doc: str) -> str:
    """``doc`` (reST, as in the docstrings) as one line of plain text.

    ````x```` → ``x``; ``:func:`a.b``` → ``a.b``; ``:class:`~x.Y``` → ``Y``;
    ``:meth:`text <target>``` → ``text``; ```x``` → ``x``; ``*x*`` and ``**x**`` → ``x``;
    a trailing ``::`` → ``:``; whitespace, newlines included, collapsed to single spaces.
    """
    if not doc:
        return ""
    text = _ROLE.sub(_role_text, doc)
    literals: list[str] = []

    def keep(match: re.Match) -> str:
        literals.append(match.group(1))
        return f"\x00{len(literals) - 1}\x00"

    text = _LITERAL.sub(keep, text)  # literal text is not parsed for emphasis
    text = _INTERPRETED.sub(lambda m: m.group(1), text)
    text = _STRONG.sub(lambda m: m.group(1), text)
    text = _EMPHASIS.sub(lambda m: m.group(1), text)
    text = re.sub(r"::(?=\s|$)", ":", text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: literals[int(m.group(1))], text)
    return " ".join(text.split())


_TAG_BRACKET = re.compile(r"\s*\[(?:pub|paper|derived|assumed|fit|fitted)\b[^\[\]]*\]")


def _first_paragraph(doc: str | None) -> str:
    doc = (doc or "").strip()
    return re.split(r"\n\s*\n", doc, maxsplit=1)[0] if doc else ""


def _one_line(doc: str | None) -> str:
    """The first paragraph of ``doc`` as plain text, without its provenance brackets."""
    text = _TAG_BRACKET.sub("", plain_text(_first_paragraph(doc)))
    return re.sub(r"\s+([.,;:)])", r"\1", text).strip()


# ----------------------------------------------------------------------------- number formats
_SI_PREFIXES = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}
#: Units an SI prefix may be put before (not squared or compound units).
_PREFIXABLE = {"S", "s", "V", "A", "m", "J", "Ω", "F", "C", "W", "Hz"}


def _eng_parts(x: float) -> tuple[float, int]:
    exp = int(math.floor(math.log10(abs(x)) / 3.0)) * 3
    mant = x / 10.0**exp
    if abs(float(f"{mant:.3g}")) >= 1000.0:  # 999.96 rounds to 1000: next group
        exp += 3
        mant = x / 10.0**exp
    return mant, exp


def eng(x: float | None, digits: int = 3) -> str:
    """``x`` in engineering notation (exponent a multiple of 3): ``5.4e-13`` → ``540e-15``,
    ``0.5`` → ``500e-3``, ``1.0`` → ``1``; ``"—"`` for None, ``inf``/``nan`` as such."""
    if x is None:
        return "—"
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    mant, exp = _eng_parts(x)
    return f"{mant:.{digits}g}" + (f"e{exp}" if exp else "")


def si(x: float, unit: str, digits: int = 4) -> str:
    """``x`` with ``unit``, an SI prefix for a plain unit (``1e-5, "S"`` → ``10 µS``),
    the number in ``%g`` form with the unit otherwise."""
    x = float(x)
    if unit in _PREFIXABLE and x != 0 and math.isfinite(x):
        mant, exp = _eng_parts(x)
        if exp in _SI_PREFIXES:
            return f"{mant:.{digits}g} {_SI_PREFIXES[exp]}{unit}"
    text = f"{x:.{digits + 2}g}"
    return f"{text} {unit}" if unit else text


# ----------------------------------------------------------------------------- docstring fields
_FIELD_LINE = re.compile(r"^(\s*)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:\s+(\S.*)$")
_BRACKET = re.compile(r"(?:(?<=\s)|^)\[([^\[\]]+)\]")
_TAG_WORD = re.compile(r"^(pub|paper|derived|assumed|fit|fitted)\b\s*[:,;]?\s*(.*)$", re.S)


def _field_docs(cls) -> dict[str, str]:
    """Field name → its description in the docstrings of ``cls`` and its bases (the
    class's own first): the text after ``name:`` (or ``name, other:``) in an
    Attributes-like list, continuation lines included."""
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    out: dict[str, str] = {}
    for klass in cls.__mro__:
        doc = klass.__dict__.get("__doc__")
        if not doc:
            continue
        lines = doc.expandtabs().splitlines()
        i = 0
        while i < len(lines):
            m = _FIELD_LINE.match(lines[i])
            keys = [k.strip() for k in m.group(2).split(",")] if m else []
            if not (m and keys and all(k in names for k in keys)):
                i += 1
                continue
            indent = len(m.group(1))
            text = [m.group(3)]
            i += 1
            while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent:
                text.append(lines[i].strip())
                i += 1
            for k in keys:
                out.setdefault(k, " ".join(text))
    return out


def _brackets(description: str) -> list[str]:
    return _BRACKET.findall(_LITERAL.sub("``", description))


def _unit_of(description: str) -> str:
    """The first bracket of a field description that is a unit (not a tag, not a range)."""
    for content in _brackets(description):
        c = content.strip()
        if _TAG_WORD.match(c) or re.fullmatch(r"[\d\s,.+\-−]+", c) or len(c) > 30 or "_" in c:
            continue
        return c.rsplit("=", 1)[-1].strip() if "=" in c else c
    return ""


def _tag_of(description: str) -> tuple[str, str] | None:
    """The first provenance bracket of a field description, as ``(tag, note)``."""
    for content in _brackets(description):
        m = _TAG_WORD.match(content.strip())
        if m:
            tag = "fit" if m.group(1) == "fitted" else m.group(1)
            return tag, " ".join(m.group(2).split())
    return None


# ----------------------------------------------------------------------------- presets
def _presets() -> dict:
    from .registry import PRESETS

    return PRESETS


def _factory(name: str):
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown device {name!r}; valid names: {', '.join(sorted(presets))}")
    return presets[name]


def preset_family(name: str) -> str:
    """Family of preset ``name`` (generic, electrochemical, magneto-ionic, spintronic, pcm): the
    package its factory is defined in."""
    module = _factory(name).__module__
    for part in module.split("."):
        if part in FAMILIES:
            return FAMILIES[part]
    return module


def preset_provenance(name: str) -> dict[str, tuple[str, str]]:
    """Field path → ``(tag, note)`` of preset ``name`` from its family's ``PROVENANCE``
    table (see the module docstring); empty when the family has none."""
    module = sys.modules[_factory(name).__module__]
    table = getattr(module, "PROVENANCE", {}).get(name, {})
    out = {}
    for path, entry in table.items():
        tag, _, note = entry.partition(":")
        tag = tag.strip()
        tag = "fit" if tag == "fitted" else tag
        if tag not in TAGS:
            raise ValueError(f"PROVENANCE[{name!r}][{path!r}]: unknown tag {tag!r}; tags: {', '.join(TAGS)}")
        out[path] = (tag, note.strip())
    return out


class Parameter(NamedTuple):
    """One leaf parameter of a device.

    Attributes:
        path: field path in the device pytree (``"variability.c2c"``).
        value: the value (a Python scalar, string, or array).
        unit: unit from the owning class's docstring (``""`` when it gives none).
        tag: provenance tag (one of :data:`TAGS`, or ``"untagged"``).
        note: the provenance note (where it comes from; ``"class default"`` when the tag is
            the class docstring's for a default the preset kept).
        description: the owning class's docstring for the field, as plain text.
    """

    path: str
    value: Any
    unit: str
    tag: str
    note: str
    description: str


def _same(a, b) -> bool:
    try:
        if np.ndim(a) or np.ndim(b):
            return False
        if isinstance(a, str) or isinstance(b, str):
            return a == b
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _is_node(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _leaves(obj, prefix: str = ""):
    """``(path, owner, field, value)`` of every leaf field of a dataclass / equinox module,
    recursing into fields that are themselves dataclasses or modules."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = prefix + f.name
        if _is_node(value):
            yield from _leaves(value, path + ".")
        else:
            yield path, obj, f, value


def device_parameters(device, provenance: dict[str, tuple[str, str]] | None = None) -> list[Parameter]:
    """Every leaf parameter of ``device`` (a device model; any dataclass works) with its
    unit and provenance: ``provenance`` (path → ``(tag, note)``) first, then the tag the
    owning class's docstring gives its default where the value is that default, else
    ``"untagged"``."""
    provenance = provenance or {}
    docs_cache: dict[type, dict[str, str]] = {}
    out = []
    for path, owner, field, value in _leaves(device):
        cls = type(owner)
        if cls not in docs_cache:
            docs_cache[cls] = _field_docs(cls)
        desc = docs_cache[cls].get(field.name, "")
        unit = _unit_of(desc)
        if path in provenance:
            tag, note = provenance[path]
        else:
            tag, note = UNTAGGED, ""
            default = field.default
            if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            found = _tag_of(desc)
            if found and default is not dataclasses.MISSING and _same(value, default):
                tag, note = found[0], ("class default: " + found[1]) if found[1] else "class default"
        out.append(Parameter(path, value, unit, tag, note, plain_text(desc)))
    return out


def preset_parameters(name: str) -> list[Parameter]:
    """Every leaf parameter of preset ``name`` (:func:`device_parameters` with the
    family's ``PROVENANCE`` table)."""
    return device_parameters(_factory(name)(), preset_provenance(name))


def _format_value(value, unit: str) -> str:
    if isinstance(value, (str, bool)) or value is None:
        return repr(value) if isinstance(value, str) else str(value)
    if np.ndim(value):
        arr = np.asarray(value)
        if arr.size == 0:
            return f"array{arr.shape} (empty)"
        lo, hi = float(np.min(arr)), float(np.max(arr))
        rng = f"{si(lo, unit)} … {si(hi, unit)}" if unit else f"{lo:.4g} … {hi:.4g}"
        return f"array{tuple(arr.shape)} {arr.dtype}, {rng}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value)} {unit}".strip()
    return si(float(value), unit)


# ----------------------------------------------------------------------------- summaries
class PresetSummary(NamedTuple):
    """What ``synaptax devices`` shows of one preset.

    Attributes:
        name: preset name.
        family: generic, electrochemical, magneto-ionic, spintronic or pcm.
        g_min, g_max: the nominal conductance range [S] (the contract's
            ``conductance_range``; for magneto-ionic cells the read element's window).
        states: ``round((g_max − g_min)/nominal_step)`` with the contract's
            ``nominal_step``, the conductance change of one potentiation pulse at mid-range
            (the step the crossbar's weight mapping divides by): the number of mid-range
            steps across the window, at least 1; None when the step is not a positive
            finite number.  For a soft-bounds device the step at mid-range is the
            symmetry-point step, so this is aihwkit's ``(w_max − w_min)/dw_min``.
        energy_per_pulse: mean energy [J] of one potentiation and one depression pulse
            (the contract's ``pulse_energy``) of one nominal cell (no device-to-device
            spread, no OCP offset) programmed to mid-range, ``(g_min + g_max)/2``.
        pulse_time: time [s] one update pulse occupies (the contract's ``pulse_time``;
            None when the device defines none).
        description: first paragraph of the preset's docstring, plain text, without its
            provenance brackets.
        nominal_step: the contract's ``nominal_step`` [S] (None when not finite).
    """

    name: str
    family: str
    g_min: float
    g_max: float
    states: int | None
    energy_per_pulse: float
    pulse_time: float | None
    description: str
    nominal_step: float | None = None


def nominal_device(device):
    """``device`` without variability: its ``variability`` replaced by the same class's
    all-zero default (no device-to-device or cycle-to-cycle spread, no stuck cells, no read
    noise) and an ECRAM's OCP offset spread set to 0.  The model's own physics (a Co/Gd
    cell's stochastic switching, say) stays."""
    # tree_at rather than dataclasses.replace: some families have their own __init__
    if getattr(device, "variability", None) is not None:
        device = eqx.tree_at(lambda d: d.variability, device, type(device.variability)())
    if getattr(device, "ocp_offset_std", None) is not None:
        device = eqx.tree_at(lambda d: d.ocp_offset_std, device, 0.0)
    return device


def _mid_energy(device) -> float:
    nominal = nominal_device(device)
    lo, hi = (float(v) for v in nominal.conductance_range)
    state = nominal.init((1,), key=jax.random.key(0), conductance=jnp.asarray([0.5 * (lo + hi)]))
    energy = nominal.pulse_energy(state)
    return float(0.5 * (np.asarray(energy.up)[0] + np.asarray(energy.down)[0]))


def _step_and_states(device) -> tuple[float, float]:
    """The contract's ``nominal_step`` [S] (NaN when undefined) and the window in such
    steps, ``(g_max − g_min)/step`` (NaN unless the step is positive and finite)."""
    lo, hi = (float(v) for v in device.conductance_range)
    try:
        step = float(device.nominal_step)
    except (NotImplementedError, TypeError, ValueError):
        step = math.nan
    return step, ((hi - lo) / step if math.isfinite(step) and step > 0 else math.nan)


def summarise_device(device, *, name: str = "", family: str = "", description: str = "") -> PresetSummary:
    """:class:`PresetSummary` of a device model (see its attributes for what each number is)."""
    lo, hi = (float(v) for v in device.conductance_range)
    step, steps = _step_and_states(device)
    states = max(1, int(round(steps))) if math.isfinite(steps) else None
    try:
        pulse_time = float(device.pulse_time)
    except NotImplementedError:
        pulse_time = None
    return PresetSummary(name=name or type(device).__name__, family=family, g_min=lo, g_max=hi, states=states,
                         energy_per_pulse=_mid_energy(device), pulse_time=pulse_time, description=description,
                         nominal_step=step if math.isfinite(step) else None)


def summarise_preset(name: str) -> PresetSummary:
    """:class:`PresetSummary` of preset ``name`` (``ValueError`` for an unknown name)."""
    factory = _factory(name)
    return summarise_device(factory(), name=name, family=preset_family(name),
                            description=_one_line(factory.__doc__))


def _g_range_us(s: PresetSummary) -> str:
    def us(g):
        v = g * 1e6
        return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"

    return f"{us(s.g_min)}–{us(s.g_max)}"


def preset_table(names=None, *, width: int = 120) -> str:
    """An aligned text table of the presets (all of them by default, sorted by name): name,
    family, conductance range [µS], states, energy per pulse [J] and pulse time [s] in
    engineering notation, and the description truncated so that a line fits ``width``
    columns.  A header line and a rule, then one line per preset."""
    names = sorted(_presets()) if names is None else list(names)
    rows = []
    for n in names:
        s = summarise_preset(n)
        rows.append([s.name, s.family, _g_range_us(s), "—" if s.states is None else str(s.states),
                     eng(s.energy_per_pulse), eng(s.pulse_time), s.description])
    header = ["name", "family", "G range [µS]", "states", "E/pulse [J]", "pulse [s]", "description"]
    right = {3, 4, 5}
    cols = len(header) - 1
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(cols)]
    lead = sum(widths) + 2 * cols
    room = max(width - lead, 12)

    def line(cells):
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells[:cols], widths))]
        desc = cells[cols]
        if len(desc) > room:
            desc = desc[:room - 1].rstrip() + "…"
        return ("  ".join(out) + "  " + desc).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths) + "  " + "-" * min(room, 11)]
    lines += [line(r) for r in rows]
    return "\n".join(lines)


def describe_device(device, *, name: str = "", family: str = "", doc: str = "", origin: str = "",
                    provenance: dict[str, tuple[str, str]] | None = None, width: int = 120) -> str:
    """Everything about a device model: ``doc`` as plain text, the summary numbers
    (:class:`PresetSummary`) and every leaf parameter (:func:`device_parameters`, with
    ``provenance``) with its value, unit, provenance tag and note (wrapped to ``width``)."""
    s = summarise_device(device, name=name, family=family, description=_one_line(doc))
    params = device_parameters(device, provenance)
    title = f"{s.name} — {f'{family} preset: ' if family else ''}{type(device).__name__}"
    out = [title + (f", from {origin}" if origin else ""), ""]
    text = plain_text(doc)
    if text:
        out += textwrap.wrap(text, width=min(width, 100), initial_indent="  ", subsequent_indent="  ",
                             break_on_hyphens=False) + [""]
    states = "—" if s.states is None else str(s.states)
    step = "" if s.nominal_step is None else f" (nominal step {si(s.nominal_step, 'S')} at mid-range)"
    pulse = "—" if s.pulse_time is None else si(s.pulse_time, "s")
    out += [f"  conductance range   {si(s.g_min, 'S')} – {si(s.g_max, 'S')}",
            f"  states              {states}{step}",
            f"  energy per pulse    {si(s.energy_per_pulse, 'J')} (nominal cell at mid-range, mean of up and down)",
            f"  pulse time          {pulse}",
            "", "Parameters:"]
    rows = [(p.path, _format_value(p.value, p.unit), f"[{p.tag}]", p.note) for p in params]
    w0, w1, w2 = (max(len(r[i]) for r in rows) for i in range(3))
    indent = 2 + w0 + 2 + w1 + 2 + w2 + 2
    for path, value, tag, note in rows:
        head = f"  {path:<{w0}}  {value:<{w1}}  {tag:<{w2}}  "
        lines = textwrap.wrap(note, width=max(width - indent, 30), break_on_hyphens=False) or [""]
        out.append((head + lines[0]).rstrip())
        out += [" " * indent + more for more in lines[1:]]
    used = {p.tag for p in params}
    legend = "Tags: " + "; ".join(f"[{t}] {_TAG_MEANING[t]}" for t in (*TAGS, UNTAGGED) if t in used) + "."
    out += [""] + textwrap.wrap(legend, width=width, subsequent_indent="  ")
    return "\n".join(out)


def describe_preset(name: str, *, width: int = 120) -> str:
    """Everything about preset ``name`` (:func:`describe_device` with the preset's
    docstring, family and ``PROVENANCE`` table); ``ValueError`` for an unknown name."""
    factory = _factory(name)
    return describe_device(factory(), name=name, family=preset_family(name), doc=factory.__doc__ or "",
                           origin=f"{factory.__module__}.{factory.__qualname__}",
                           provenance=preset_provenance(name), width=width)


# ----------------------------------------------------------------------------- pulse response
class PulseResponse(NamedTuple):
    """Conductance of one device under a pulse train.

    Attributes:
        pulse: pulse number, 0 (the start) to ``2·pulses``, shape ``(2·pulses + 1,)``.
        conductance: conductance [S] after each pulse (no read noise), same shape.
        pulses: potentiation pulses, followed by as many depression pulses.
    """

    pulse: np.ndarray
    conductance: np.ndarray
    pulses: int


@eqx.filter_jit
def _trace(device, state, signs, key):
    """Conductance of cell 0 after each pulse of ``signs`` (+1/−1), one pulse per step."""

    def step(st, inputs):
        sign, i = inputs
        st = device.apply_pulses(st, jnp.full(st.conductance.shape, sign), key=jax.random.fold_in(key, i))
        return st, device.conductance(st)[0]

    return jax.lax.scan(step, state, (signs, jnp.arange(signs.shape[0])))[1]


def _resolve(name_or_device):
    from .fitting.devicefile import is_device_file, load_device_file

    if is_device_file(name_or_device):
        df = load_device_file(name_or_device)
        return df.device, df.name
    if isinstance(name_or_device, str):
        return _factory(name_or_device)(), name_or_device
    return name_or_device, type(name_or_device).__name__


def default_pulses(device) -> int:
    """Pulses per direction that :func:`pulse_response` applies by default: the number of
    states (:attr:`PresetSummary.states`), at least 10 and at most 500."""
    _, states = _step_and_states(device)
    return 100 if not math.isfinite(states) else int(min(max(math.ceil(states), 10), 500))


def pulse_response(name_or_device, *, pulses: int | None = None, start: float | str = "min",
                   seed: int = 0) -> PulseResponse:
    """Apply ``pulses`` potentiation pulses, then ``pulses`` depression pulses, one at a time
    (the contract's ``apply_pulses`` with a count of +1 or −1, no time between pulses beyond
    what the device's pulse itself takes) to one nominal cell (:func:`nominal_device`: no
    variability) and record its conductance after every pulse.

    Args:
        name_or_device: a preset name or a device model.
        pulses: pulses per direction, ≥ 1; :func:`default_pulses` when None.
        start: initial conductance: ``"min"`` (the window's lower bound, default),
            ``"default"`` (the family's own initial state, e.g. an ECRAM cell at its
            zero-OCP conductance, a conditioned CoFeN cell) or a conductance [S].
        seed: PRNG seed of the cell's initialisation and of the pulses' keys (a family whose
            switching is stochastic, Co/Gd, gives one fixed realisation).
    """
    device, _ = _resolve(name_or_device)
    if pulses is None:
        pulses = default_pulses(device)
    if isinstance(pulses, bool) or int(pulses) != pulses or pulses < 1:
        raise ValueError(f"pulses must be an integer >= 1, got {pulses!r}")
    pulses = int(pulses)
    device = nominal_device(device)
    lo, hi = (float(v) for v in device.conductance_range)
    if isinstance(start, str):
        if start not in ("min", "default"):
            raise ValueError(f"start must be 'min', 'default' or a conductance in S, got {start!r}")
        g0 = None if start == "default" else jnp.asarray([lo])
    else:
        g0 = jnp.asarray([float(start)])
    key_init, key_pulses = jax.random.split(jax.random.key(seed))
    state = device.init((1,), key=key_init, conductance=g0)
    signs = jnp.concatenate([jnp.ones(pulses), -jnp.ones(pulses)]).astype(state.conductance.dtype)
    # numbers as arrays: one compiled trace per device class, not per parameter value
    traced = jax.tree_util.tree_map(
        lambda v: jnp.asarray(v, state.conductance.dtype) if isinstance(v, (float, int)) and not isinstance(v, bool)
        else v, device)
    trace = np.asarray(_trace(traced, state, signs, key_pulses), dtype=np.float64)
    g = np.concatenate([[float(np.asarray(device.conductance(state))[0])], trace])
    return PulseResponse(np.arange(2 * pulses + 1), g, pulses)


def plot_pulse_response(name_or_device, path, *, pulses: int | None = None, start: float | str = "min",
                        seed: int = 0, title: str | None = None) -> PulseResponse:
    """Plot :func:`pulse_response` — conductance [µS] against pulse number, potentiation and
    depression in two colours, the nominal window dashed — to a PNG at ``path``, written
    atomically.  Uses :class:`matplotlib.figure.Figure` and its Agg canvas directly:
    matplotlib's global backend and pyplot are left alone.  Returns the response."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .._files import atomic_write_bytes

    device, label = _resolve(name_or_device)
    resp = pulse_response(device, pulses=pulses, start=start, seed=seed)
    n = resp.pulses
    lo, hi = (float(v) for v in device.conductance_range)
    fig = Figure(figsize=(6.4, 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    g_us = resp.conductance * 1e6
    marker = "." if n <= 200 else None
    ax.plot(resp.pulse[:n + 1], g_us[:n + 1], marker=marker, color="tab:red", label=f"{n} potentiation pulses")
    ax.plot(resp.pulse[n:], g_us[n:], marker=marker, color="tab:blue", label=f"{n} depression pulses")
    for g in (lo, hi):
        ax.axhline(g * 1e6, color="0.6", linestyle="--", linewidth=0.8)
    ax.set_xlabel("pulse number")
    ax.set_ylabel("conductance [µS]")
    if title is None:
        try:
            pt = si(float(device.pulse_time), "s", 3)
        except NotImplementedError:
            pt = "?"
        title = f"{label}: pulse response ({type(device).__name__}, {pt} pulses, no variability)"
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return resp


__all__ = [
    "FAMILIES", "TAGS", "Parameter", "PresetSummary", "PulseResponse", "default_pulses", "describe_device",
    "describe_preset",
    "device_parameters", "eng", "nominal_device", "plain_text", "plot_pulse_response", "preset_family",
    "preset_parameters", "preset_provenance", "preset_table", "pulse_response", "si", "summarise_device",
    "summarise_preset",
]
