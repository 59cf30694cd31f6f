"""Study files: a grid and/or zipped lists of training configurations (``synaptax sweep``).

A study file is TOML (read with the standard library's :mod:`tomllib`)::

    [study]
    name = "device-adc"             # default: the file's stem
    description = "..."            # one paragraph for the report
    seeds = 5                       # shorthand for  seed = [0, 1, 2, 3, 4]  in [grid]
    batch = "auto"                  # most points in one compiled program ("auto": as many
                                    # as memory allows; 1: no batching)
    vmap = "auto"                   # points of a batch stepped at once with jax.vmap ("auto" or
                                    # "all": all of them; 1: in turn, in the same program)
    plots = false                   # each point's own figures (history, conductances) too

    [base]                          # settings every point shares (any `synaptax train`
    epochs = 2                      # option, names as in TrainConfig or with dashes)
    train_samples = 1000

    [grid]                          # every combination of these lists
    device = ["reram-sb", "mg-wo3", "con-25nm"]
    adc_bits = [4, 6, 8, 10]
    "device.variability.c2c" = [0.1, 0.3]      # a device parameter (dotted path)

    [zip]                           # lists of one length, varied together (one axis)
    learning_rate = [0.5, 0.1]
    hidden = [[100], [256, 128]]

The points are the grid's combinations (first key slowest) times the zipped tuples; the
axes are the grid's keys, then the zip's.  A device parameter ``device.PATH`` sets
``TrainConfig.device_params`` (``synaptax devices show NAME`` lists a preset's parameters).

Errors (:class:`StudyError`) are one line naming the file and the line of the offending
key; every point is built and validated before any training, and the combinations that
cannot run are listed together (one line each).
"""
import dataclasses
import itertools
import re
import tomllib
from pathlib import Path

from ..training.loop import TrainConfig, TrainingError

#: Keys of the ``[study]`` table.
STUDY_KEYS = ("name", "description", "seeds", "batch", "vmap", "plots")
#: Tables a study file may have.
TABLES = ("study", "base", "grid", "zip")
#: The prefix of a device-parameter axis.
DEVICE_PARAM = "device."

EXAMPLE = '''\
# A synaptax study: `synaptax sweep THIS_FILE.toml` trains every point and writes
# results.csv, summary.csv, figures/ and report.html into the study folder
# (default: studies/<name>; --out DIR to choose).  Rerunning the same command resumes:
# finished points are never recomputed, an interrupted point restarts from its last
# finished epoch.

[study]
name = "device-adc"
description = """Three devices of different families, four ADC resolutions: how much
accuracy does each device keep, and what does each resolution cost in energy?"""
seeds = 5                # shorthand for seed = [0, 1, 2, 3, 4] in [grid]
batch = "auto"           # points per compiled program: "auto" (as memory allows) or a number
vmap = "auto"            # points stepped at once with jax.vmap: "auto"/"all", or N (1: in turn)
plots = false            # true: every point's run folder gets its own figures too (slower)

[base]                   # settings shared by every point: any `synaptax train` option
epochs = 2
train_samples = 1000     # a fast subset of the bundled 5k training images
test_samples = 1000
hidden = [100]

[grid]                   # every combination (first key varies slowest)
device = ["reram-sb", "mg-wo3", "h-wo3"]
adc_bits = [4, 6, 8, 10]
# r_wire = [0.5, 2.0]                     # wire resistance per segment [ohm] (with ir_drop = true)
# "device.variability.c2c" = [0.1, 0.3]   # a device parameter (synaptax devices show NAME)

# [zip]                  # lists of equal length varied together: one axis
# learning_rate = [0.5, 0.1]
# hidden = [[100], [256, 128]]
'''


class StudyError(ValueError):
    """A study file that cannot run (one line naming the file and the line)."""


@dataclasses.dataclass(frozen=True)
class Point:
    """One configuration of a study.

    Attributes:
        index: position in the study (0-based).
        swept: this point's value of every axis, in axis order.
        config: its complete training configuration.
    """

    index: int
    swept: dict
    config: TrainConfig

    @property
    def id(self) -> str:
        return f"p{self.index:04d}"

    @property
    def folder(self) -> str:
        """The point's run-folder name in a study: the run name and the number of epochs
        (a run name leaves epochs out, and a study may sweep them)."""
        return f"{self.config.run_name()}-{self.config.epochs}ep"

    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.swept.items())


@dataclasses.dataclass(frozen=True)
class Study:
    """A parsed study file.

    Attributes:
        name, description: from ``[study]``.
        path: the file; ``text``: its content (copied into the study folder).
        base, grid, zip: the tables as given (``seeds`` expanded into ``grid``).
        batch: most points per compiled program (None: as memory allows).
        vmap: points of a batch stepped at once (``"auto"``, None for all, or a number).
        plots: whether every point's run folder gets its own figures.
        axes: axis names (grid keys, then zip keys).
        points: every point, in order.
    """

    name: str
    description: str
    path: Path
    text: str
    base: dict
    grid: dict
    zip: dict
    batch: int | None
    axes: tuple
    points: tuple
    plots: bool = False
    vmap: int | str | None = "auto"

    def metadata(self) -> dict:
        """What a study folder records about its study (``study.json``)."""
        return {"name": self.name, "description": self.description, "file": str(self.path), "axes": list(self.axes),
                "base": self.base, "grid": self.grid, "zip": self.zip, "batch": self.batch or "auto",
                "plots": self.plots, "vmap": "all" if self.vmap is None else self.vmap,
                "points": len(self.points)}


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def line_of(text: str, table: str | None, key: str | None = None) -> int | None:
    """The line (1-based) of ``key`` in ``[table]`` of a TOML text (of the table header
    when ``key`` is None), or None."""
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        head = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
        if head:
            current = head.group(1).strip().strip('"')
            if key is None and current == table:
                return n
            continue
        if key is not None and (table is None or current == table):
            m = re.match(r'^("?)([^"=]+?)\1\s*=', stripped)
            if m and m.group(2).strip() == key:
                return n
    return None


def _canonical(key: str) -> str:
    """A setting's field name (dashes → underscores, ``lr`` → ``learning_rate``); device
    parameters keep their path."""
    if key.startswith(DEVICE_PARAM):
        return key
    name = key.replace("-", "_")
    return TrainConfig.ALIASES.get(name, name)


_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def read_study(path: str | Path) -> Study:
    """Read, expand and validate a study file; raise :class:`StudyError` (one line naming
    the file and line) for anything that cannot run."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StudyError(f"{path}: cannot read the study file: {getattr(err, 'strerror', None) or err}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise StudyError(f"{path}: not valid TOML: {err}") from None

    def fail(msg, table=None, key=None):
        n = line_of(text, table, key)
        where = f"{path}:{n}" if n else str(path)
        raise StudyError(f"{where}: {msg}")

    for t, v in doc.items():
        if t not in TABLES:
            fail(f"unknown table or key {t!r}; a study file has the tables {', '.join(f'[{x}]' for x in TABLES)}",
                 None, t) if not isinstance(v, dict) else fail(
                f"unknown table [{t}]; a study file has the tables {', '.join(f'[{x}]' for x in TABLES)}", t)
        if not isinstance(v, dict):
            fail(f"{t} must be a table [{t}]", None, t)
    meta = doc.get("study", {})
    for k in meta:
        if k not in STUDY_KEYS:
            fail(f"unknown key {k!r} in [study]; valid: {', '.join(STUDY_KEYS)}", "study", k)
    name = meta.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[\w.+-]+", name):
        fail(f"name must be a folder-safe text (letters, digits, . _ + -), got {name!r}", "study", "name")
    description = meta.get("description", "")
    if not isinstance(description, str):
        fail("description must be a text", "study", "description")
    batch = meta.get("batch", "auto")
    if batch == "auto":
        batch = None
    elif isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        fail(f"batch must be \"auto\" or an integer >= 1, got {batch!r}", "study", "batch")

    vmap = meta.get("vmap", "auto")
    if vmap == "all":
        vmap = None
    elif vmap != "auto" and (isinstance(vmap, bool) or not isinstance(vmap, int) or vmap < 1):
        fail(f"vmap must be \"auto\", \"all\" or an integer >= 1, got {vmap!r}", "study", "vmap")
    plots = meta.get("plots", False)
    if not isinstance(plots, bool):
        fail(f"plots must be true or false, got {plots!r}", "study", "plots")
    base = dict(doc.get("base", {}))
    grid = dict(doc.get("grid", {}))
    zipped = dict(doc.get("zip", {}))
    seeds = meta.get("seeds")
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            fail(f"seeds must be an integer >= 1, got {seeds!r}", "study", "seeds")
        if any(_canonical(k) == "seed" for k in (*grid, *zipped)):
            fail("seeds in [study] and seed in [grid]/[zip] exclude each other", "study", "seeds")
        grid["seed"] = list(range(seeds))

    # every key: a known setting (or device parameter), given once
    seen = {}
    for table, entries in (("base", base), ("grid", grid), ("zip", zipped)):
        for k in entries:
            c = _canonical(k)
            if not c.startswith(DEVICE_PARAM) and c not in _FIELDS:
                fail(f"unknown setting {k!r} in [{table}]; valid: {', '.join(sorted(_FIELDS))}, or "
                     f"device.PARAMETER (synaptax devices show NAME)", table, k)
            if c.startswith(DEVICE_PARAM) and len(c) == len(DEVICE_PARAM):
                fail(f"{k!r}: name the device parameter after 'device.'", table, k)
            if c in ("device_params",) and table != "base":
                fail("device_params cannot be swept as a whole; sweep device.PARAMETER keys", table, k)
            if c in seen:
                fail(f"{k!r} is given twice (also in [{seen[c]}])", table, k)
            seen[c] = table
    for table, entries in (("grid", grid), ("zip", zipped)):
        for k, v in entries.items():
            if not isinstance(v, list) or not v:
                fail(f"{k} in [{table}] must be a non-empty list of values, got {v!r}", table, k)
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        k = next(iter(zipped))
        fail("the lists in [zip] must have one length, got " + ", ".join(f"{k}: {len(v)}" for k, v in zipped.items()),
             "zip", k)

    # each value's type, at its line
    base_cfg, base_dev = _split(base)
    for table, entries in (("base", base), ("grid", grid), ("zip", zipped)):
        for k, v in entries.items():
            c = _canonical(k)
            for value in (v if table != "base" else [v]):
                if c.startswith(DEVICE_PARAM) or c == "device_params":
                    items = value.items() if c == "device_params" and isinstance(value, dict) else [(c, value)]
                    for pk, pv in items:
                        if isinstance(pv, bool) or not isinstance(pv, (int, float)):
                            fail(f"{pk}: a device parameter must be a number, got {pv!r}", table, k)
                    if c == "device_params" and not isinstance(value, dict):
                        fail(f"device_params must be a table of parameter = number, got {value!r}", table, k)
                    continue
                try:
                    TrainConfig.from_dict({c: value}, source="")
                except TrainingError as err:
                    fail(f"{k} = {_show(value)}: {str(err).lstrip(': ')}", table, k)
    # device parameters: a path every device of the study has
    devices = grid.get("device") or zipped.get("device") or [base_cfg.get("device", TrainConfig.device)]
    for table, entries in (("base", base), ("grid", grid), ("zip", zipped)):
        for k, v in entries.items():
            c = _canonical(k)
            paths = [c[len(DEVICE_PARAM):]] if c.startswith(DEVICE_PARAM) else (
                list(v) if c == "device_params" else [])
            for dp in paths:
                sample = v[0] if table != "base" and c.startswith(DEVICE_PARAM) else (
                    v[dp] if c == "device_params" else v)
                for dev in devices:
                    try:
                        TrainConfig(device=dev, device_params={dp: sample}).validate()
                    except TrainingError as err:
                        if "unknown device" not in str(err):
                            fail(f"{k}: {err}", table, k)

    # expand and validate every point
    grid_axes = list(grid.items())
    zip_rows = list(zip(*zipped.values())) if zipped else [()]
    points, bad = [], []
    for i, (combo, zrow) in enumerate(itertools.product(itertools.product(*[v for _, v in grid_axes]), zip_rows)):
        swept = {k: v for (k, _), v in zip(grid_axes, combo)} | dict(zip(zipped, zrow))
        cfg_d, dev_d = dict(base_cfg), dict(base_dev)
        for k, v in swept.items():
            c = _canonical(k)
            if c.startswith(DEVICE_PARAM):
                dev_d[c[len(DEVICE_PARAM):]] = v
            else:
                cfg_d[c] = v
        if dev_d:
            cfg_d["device_params"] = dev_d
        point = Point(i, swept, None)
        try:
            cfg = TrainConfig.from_dict(cfg_d, source=str(path))
            cfg.validate()
        except TrainingError as err:
            bad.append((point, str(err)))
            continue
        points.append(dataclasses.replace(point, config=cfg))
    if bad:
        _blame_one_value(bad, points, axes_order=[("grid", k) for k, _ in grid_axes] + [("zip", k) for k in zipped],
                         line=lambda t, k: line_of(text, t, k), path=path)
        bad = [f"{path}: point {p.id} ({p.label()}): {msg}" for p, msg in bad]
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise StudyError(f"{len(bad)} of the study's {len(bad) + len(points)} points cannot run{more}:\n"
                         + "\n".join(bad[:10]))
    names = {}
    for p in points:
        other = names.setdefault(p.folder, p)
        if other is not p:
            raise StudyError(f"{path}: points {other.id} ({other.label()}) and {p.id} ({p.label()}) are the same "
                             "configuration")
    return Study(name, description, path, text, base, grid, zipped, batch,
                 tuple(k for k, _ in grid_axes) + tuple(zipped), tuple(points), plots, vmap)


def _blame_one_value(bad: list, good: list, *, axes_order, line, path) -> None:
    """Raise a :class:`StudyError` at an axis value's line when the points that failed are
    exactly those with that value (the value, not a combination, is at fault); otherwise
    return (and the failing combinations are listed)."""
    failed = {p.index for p, _ in bad}
    everyone = sorted([*[p for p, _ in bad], *good], key=lambda p: p.index)
    culprits = []
    for table, k in axes_order:
        for v in {repr(p.swept[k]): p.swept[k] for p in everyone}.values():
            with_v = [p for p in everyone if p.swept[k] == v]
            if with_v and all(p.index in failed for p in with_v) and all(p.swept[k] == v for p, _ in bad):
                msg = next(m for p, m in bad if p.swept[k] == v)
                culprits.append((table, k, v, msg))
    if not culprits:
        return
    named = [c for c in culprits if _canonical(c[1]).split(".")[-1] in c[3] or repr(c[2]) in c[3]]
    table, k, v, msg = (named or culprits)[0]
    n = line(table, k)
    raise StudyError(f"{path}:{n}: {k} = {_show(v)}: {msg}" if n else f"{path}: {k} = {_show(v)}: {msg}")


def _split(table: dict) -> tuple[dict, dict]:
    """``(settings, device parameters)`` of a table (``device.X`` keys → ``{X: value}``)."""
    cfg, dev = {}, {}
    for k, v in table.items():
        c = _canonical(k)
        if c.startswith(DEVICE_PARAM):
            dev[c[len(DEVICE_PARAM):]] = v
        else:
            cfg[c] = v
    if "device_params" in cfg:
        given = cfg.pop("device_params")
        if not isinstance(given, dict):
            raise StudyError(f"device_params must be a table, got {given!r}")
        dev = {**given, **dev}
    return cfg, dev


__all__ = ["EXAMPLE", "Point", "Study", "StudyError", "line_of", "read_study"]
