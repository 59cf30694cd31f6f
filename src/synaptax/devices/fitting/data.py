"""Pulse-response measurements: the CSV format ``synaptax fit`` reads, its strict reader, a
writer, and a simulator that produces such data from any synaptax device model.

The CSV format
==============

One row per **conductance read**.  A comma-separated text file (UTF-8; a byte-order mark
is allowed) whose first line that is neither blank nor a comment is the **header**, naming
the columns.  Lines whose first non-blank character is ``#`` are comments; blank lines (and
lines of nothing but commas, a spreadsheet's empty rows) are ignored; both may appear anywhere.  Fields may be quoted the usual CSV way (``"a,b"``);
spaces around a field are ignored.  Column names are case-sensitive; columns may come in
any order and other columns are ignored.

Required columns:

=================  ==========================================================================
column             meaning
=================  ==========================================================================
``device``         device id, any non-empty string (``d3``, ``wafer2-die7-cell12``).
``cycle``          cycle number, a whole number ≥ 0 (``3`` and ``3.0`` are both accepted).
``pulse``          position of this read in its cycle's sequence, a whole number ≥ 0,
                   strictly increasing down the file within one (device, cycle).  Rows of
                   different devices and cycles may be interleaved.
``direction``      what happened between the previous read of this (device, cycle) and this
                   one: ``up`` — one potentiation pulse; ``down`` — one depression pulse;
                   ``none`` — no pulse (the first read of a cycle, or a rest read while the
                   device relaxes).  Case-insensitive; also accepted: ``+``, ``set``,
                   ``potentiation`` (up); ``-``, ``reset``, ``depression`` (down); ``read``
                   or an empty field (none).
``conductance_S``  conductance read [S] (siemens, not µS), > 0.
=================  ==========================================================================

Optional columns:

=================  ==========================================================================
``time_s``         time stamp of the read [s] (any origin), non-decreasing down the file
                   within one (device, cycle); needed for retention (rest reads).  When the
                   column is present every row needs a value.
``amplitude_V``    pulse amplitude [V], as applied (either sign), **or** ``amplitude_A``
                   [A] for current pulses — not both.
``width_s``        pulse width [s], > 0.
=================  ==========================================================================

``amplitude_*`` and ``width_s`` describe the pulse of an ``up``/``down`` row: such a row
needs a value when the column is present; on a ``none`` row the field may be left empty.
Numbers are anything Python's ``float`` reads (``1.5e-6``, ``0.0000015``); NaN and infinite
values are refused.

**Increments.**  A fit uses the conductance change of single pulses: two consecutive rows of
one (device, cycle) whose ``pulse`` values differ by exactly 1 and whose later row is
``up`` or ``down`` give one increment (before → after).  A jump of more than 1 in ``pulse``
is a *gap* (a read that is missing, say a dropped measurement): it breaks the chain — the
rows on either side form no increment and no rest segment — and is counted
(:attr:`Increments.gaps`), not refused.

**Rest segments** (retention, with ``time_s`` only): in one (device, cycle), a maximal run of
consecutive ``none`` rows that directly follows an ``up``/``down`` row; the pulse row gives
the starting conductance and time.

Example::

    # measured 2024-05-01, probe station 2
    device,cycle,pulse,direction,conductance_S,time_s,amplitude_V,width_s
    d0,0,0,none,1.02e-06,0.0,,
    d0,0,1,up,1.07e-06,1e-06,1.5,1e-08
    d0,0,2,up,1.11e-06,2e-06,1.5,1e-08
    d0,0,3,down,1.08e-06,3e-06,-1.5,1e-08
    d0,0,4,none,1.07e-06,1.0,,

Errors
======

:func:`read_measurements` refuses a file it cannot read without guessing, with a
:class:`MeasurementError` whose message is one line naming the file, the data row (counted
from 1 after the header), the line in the file and the column, e.g.
``data.csv, row 7 (line 9), column conductance_S: 'abc' is not a number``; of several
problems it names the first one in the file.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
import re
import warnings
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from ..._files import atomic_write_bytes

#: Columns every file needs, in the order the writer puts them.
REQUIRED_COLUMNS = ("device", "cycle", "pulse", "direction", "conductance_S")
#: Optional columns the reader understands (``amplitude_V`` and ``amplitude_A`` exclude each other).
OPTIONAL_COLUMNS = ("time_s", "amplitude_V", "amplitude_A", "width_s")

#: Direction codes of :attr:`Measurements.direction`.
UP, DOWN, NONE = 1, -1, 0

#: Accepted spellings of a direction (lower case, stripped) → code.
DIRECTIONS = {
    "up": UP, "+": UP, "set": UP, "potentiation": UP,
    "down": DOWN, "-": DOWN, "reset": DOWN, "depression": DOWN,
    "none": NONE, "read": NONE, "": NONE,
}
_DIRECTION_NAMES = {UP: "up", DOWN: "down", NONE: "none"}
_DIRECTION_HELP = ("use up, down or none (also accepted, any case: +, set, potentiation; -, reset, depression; "
                   "read or an empty field)")


class MeasurementError(ValueError):
    """A measurement file (or a :class:`Measurements`) that cannot be used as it is.

    The message is always one line; where it applies it names the file, the data row, the
    line in the file and the column.  The pieces are also attributes (None where unknown):
    ``path``, ``row``, ``line``, ``column``.
    """

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 line: int | None = None, column: str | None = None):
        message = " ".join(str(message).splitlines())
        super().__init__(message)
        self.path, self.row, self.line, self.column = path, row, line, column

    @classmethod
    def at(cls, path, row: int | None = None, line: int | None = None, column: str | None = None,
           message: str = "") -> "MeasurementError":
        """The error ``"{path}, row {row} (line {line}), column {column}: {message}"``; each of
        ``row``, ``line`` (0 or None: not from a file), ``column`` left out when None.  For
        example ``MeasurementError.at("data.csv", message="device 'd3' has only 2 up
        increments (rows 10–12), fewer than the 4 needed to fit 'linear'")``."""
        where = [str(path)]
        row = None if row is None else int(row)
        line = None if not line else int(line)
        if row is not None:
            where.append(f"row {row}" + (f" (line {line})" if line else ""))
        elif line:
            where.append(f"line {line}")
        if column:
            where.append(f"column {column}")
        return cls(", ".join(where) + ": " + str(message), path=str(path), row=row, line=line, column=column)


class MeasurementWarning(UserWarning):
    """Something in a measurement file that is probably a mistake but not an error (a
    column that looks like an optional column under another name, values whose size
    suggests another unit)."""


# ------------------------------------------------------------------------- result types
class Trace(NamedTuple):
    """The reads of one (device, cycle), in pulse order (every array of shape (n,)).

    ``time``, ``amplitude`` and ``width`` are None when the file has no such column;
    ``amplitude`` and ``width`` are NaN on ``none`` rows whose field was empty."""

    device: str
    cycle: int
    pulse: np.ndarray
    direction: np.ndarray
    conductance: np.ndarray
    time: np.ndarray | None
    amplitude: np.ndarray | None
    width: np.ndarray | None
    row: np.ndarray
    line: np.ndarray


class Increments(NamedTuple):
    """Single-pulse conductance changes over the whole data set (every array of shape (K,),
    ordered by device — in :attr:`Measurements.devices` order —, cycle, pulse).

    Attributes:
        device_index: index into :attr:`Measurements.devices` (int64).
        g_before: conductance read before the pulse [S].
        g_after: conductance read after the pulse [S].
        direction: +1 (up) or −1 (down), int8.
        row: data row of the after-read (int64, for messages).
        cycle: cycle of the pair (int64).
        gaps: number of places where ``pulse`` jumps by more than 1 within a (device,
            cycle) (each breaks the chain of increments).
    """

    device_index: np.ndarray
    g_before: np.ndarray
    g_after: np.ndarray
    direction: np.ndarray
    row: np.ndarray
    cycle: np.ndarray
    gaps: int


class Rests(NamedTuple):
    """Retention segments: per (device, cycle), each maximal run of consecutive ``none`` rows
    that directly follows an ``up``/``down`` row (with time stamps only).

    Per segment (shape (S,)): ``device_index`` (into :attr:`Measurements.devices`),
    ``cycle``, ``g0`` [S] and ``t0`` [s], the conductance and time of the pulse row that
    starts the segment, and ``row0``, its data row.  Per rest read (shape (M,), flat, in
    segment order): ``segment`` (index into the per-segment arrays), ``time`` [s] (as in the
    file: the rest lasted ``time − t0[segment]``), ``conductance`` [S], ``row``.
    """

    device_index: np.ndarray
    cycle: np.ndarray
    g0: np.ndarray
    t0: np.ndarray
    row0: np.ndarray
    segment: np.ndarray
    time: np.ndarray
    conductance: np.ndarray
    row: np.ndarray

    @property
    def n_segments(self) -> int:
        """Number of rest segments ``S``."""
        return int(self.g0.shape[0])


# ------------------------------------------------------------------------- validation
class _Problems:
    """The first problem in file order (ties: the one added first)."""

    def __init__(self):
        self.best = None
        self._count = 0

    def add(self, index: int, column: str | None, message) -> None:
        key = (int(index), self._count)
        self._count += 1
        if self.best is None or key < self.best[0]:
            self.best = (key, column, message)

    def mask(self, mask, column, message) -> None:
        """Add the first True of ``mask``; ``message(i)`` makes its text (only when needed)."""
        if mask is not None and mask.size and mask.any():
            i = int(np.argmax(mask))
            self.add(i, column, functools.partial(message, i))

    def raise_first(self, source, row, line) -> None:
        if self.best is None:
            return
        (i, _), column, message = self.best
        text = message() if callable(message) else message
        raise MeasurementError.at(source, row[i] if row is not None else i + 1,
                                  line[i] if line is not None else None, column, text)


def _factorize(values) -> tuple[np.ndarray, list]:
    """Codes (int64) of ``values`` in first-appearance order, and the unique values."""
    codes: dict = {}
    index = np.fromiter((codes.setdefault(v, len(codes)) for v in values), dtype=np.int64, count=len(values))
    return index, list(codes)


def _group_order(device_index: np.ndarray, cycle: np.ndarray):
    """Stable order by (device, cycle, file position) and, for each adjacent pair of that
    order, whether both rows belong to the same (device, cycle)."""
    n = device_index.shape[0]
    order = np.lexsort((np.arange(n), cycle, device_index))
    d, c = device_index[order], cycle[order]
    same = (d[1:] == d[:-1]) & (c[1:] == c[:-1])
    return order, same


def _shower(texts, column, values):
    """``show(i)``: the field as the file wrote it (quoted), or the value's repr."""
    if texts is not None and column in texts:
        col = texts[column]
        return lambda i: repr(col[i].strip())
    return lambda i: repr(values[i].item() if hasattr(values[i], "item") else values[i])


def _check_rows(p: _Problems, f: dict, texts) -> None:
    """Per-row checks of the value arrays ``f`` (floats for the integer columns)."""
    direction = f["direction"]
    pulse_row = direction != NONE
    for column, key in (("cycle", "cycle"), ("pulse", "pulse")):
        v = f[key]
        show = _shower(texts, column, v)
        finite = np.isfinite(v)
        p.mask(~finite, column, lambda i, s=show: f"{s(i)} is not a finite number")
        p.mask(finite & (v != np.floor(v)), column, lambda i, s=show: f"{s(i)} is not a whole number")
        p.mask(finite & (v < 0), column, lambda i, s=show: f"{s(i)} is negative (must be >= 0)")
    g = f["conductance"]
    show = _shower(texts, "conductance_S", g)
    finite = np.isfinite(g)
    p.mask(~finite, "conductance_S", lambda i: f"{show(i)} is not a finite number")
    p.mask(finite & (g <= 0), "conductance_S",
           lambda i: f"{show(i)} is not > 0 (conductances are positive, in siemens)")
    if f["time"] is not None:
        t = f["time"]
        show_t = _shower(texts, "time_s", t)
        p.mask(~np.isfinite(t), "time_s", lambda i: f"{show_t(i)} is not a finite number")
    for column, key, positive in ((f"amplitude_{f['amplitude_unit']}", "amplitude", False), ("width_s", "width", True)):
        v = f[key]
        if v is None:
            continue
        show_v = _shower(texts, column, v)
        p.mask(np.isinf(v), column, lambda i, s=show_v: f"{s(i)} is not a finite number")

        def missing(i, s=show_v, c=column):
            if texts is not None and c in texts and not texts[c][i].strip():
                return (f"is empty on a pulse row (direction {_DIRECTION_NAMES[int(direction[i])]}); every up/down "
                        f"row needs its {c} (or leave the column out)")
            return f"{s(i)} is not a finite number"

        p.mask(np.isnan(v) & pulse_row, column, missing)
        if positive:
            p.mask(np.isfinite(v) & (v <= 0), column, lambda i, s=show_v: f"{s(i)} is not > 0")
    bad_dir = ~np.isin(direction, (UP, DOWN, NONE))
    p.mask(bad_dir, "direction", lambda i: f"{float(direction[i])!r} is not a direction code (+1 up, -1 down, 0 none)")
    dev = f["device"]
    empty = np.fromiter((not d for d in dev), dtype=bool, count=len(dev))
    p.mask(empty, "device", lambda i: "is empty (every row needs a device id)")


def _check_order(f: dict, texts, source, row, line) -> None:
    """Cross-row checks: ``pulse`` strictly increasing and ``time`` non-decreasing down the
    file within each (device, cycle)."""
    if f["cycle"].shape[0] < 2:
        return
    dev_index, ids = _factorize(f["device"].tolist())
    order, same = _group_order(dev_index, f["cycle"])
    before, after = order[:-1], order[1:]
    p = _Problems()

    def message(column, verb, rule, values, k):
        i, j = int(after[k]), int(before[k])
        show = _shower(texts, column, values)
        where = f"row {row[j]}" + (f" (line {line[j]})" if line is not None and line[j] else "")
        return (f"{show(i)} {verb} {show(j)} in {where}, the previous row of device {ids[dev_index[i]]!r} "
                f"cycle {int(f['cycle'][i])}: {rule}")

    pulse = f["pulse"]
    bad = same & (pulse[after] <= pulse[before])
    if bad.any():
        k = int(np.flatnonzero(bad)[np.argmin(after[bad])])
        p.add(after[k], "pulse", functools.partial(message, "pulse", "does not exceed",
                                                   "pulse must increase strictly within a device and cycle", pulse, k))
    if f["time"] is not None:
        t = f["time"]
        bad = same & (t[after] < t[before])
        if bad.any():
            k = int(np.flatnonzero(bad)[np.argmin(after[bad])])
            p.add(after[k], "time_s", functools.partial(
                message, "time_s", "is earlier than", "time_s must not decrease within a device and cycle", t, k))
    p.raise_first(source, row, line)


# ------------------------------------------------------------------------- the data set
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Measurements:
    """Pulse-response reads, one entry per row of the file, in file order (every array of
    shape (N,)); see the module docstring for the meaning of each column.

    Attributes:
        source: the file's path, or ``'<simulated>'``.
        device: device ids (object array of str).
        cycle: cycle numbers (int64).
        pulse: position of each read in its cycle (int64).
        direction: +1 up, −1 down, 0 none (int8; the constructor also takes the spellings
            of the file, ``'up'``, ``'down'``, ``'none'``, …).
        conductance: conductance read [S] (float64, > 0).
        time: time stamp [s] (float64) or None.
        amplitude: pulse amplitude (float64, in ``amplitude_unit``; NaN allowed on ``none``
            rows) or None.
        amplitude_unit: ``'V'``, ``'A'`` or None (None exactly when ``amplitude`` is).
        width: pulse width [s] (float64; NaN allowed on ``none`` rows) or None.
        row: data-row numbers (int64, from 1; default ``1 … N``).
        line: line numbers in the file (int64; default 0: not from a file).

    Construction checks every value as :func:`read_measurements` does (a
    :class:`MeasurementError` names the first bad row) and keeps read-only copies of the
    arrays.  Not hashable; compare arrays.
    """

    source: str
    device: np.ndarray
    cycle: np.ndarray
    pulse: np.ndarray
    direction: np.ndarray
    conductance: np.ndarray
    time: np.ndarray | None = None
    amplitude: np.ndarray | None = None
    amplitude_unit: str | None = None
    width: np.ndarray | None = None
    row: np.ndarray | None = None
    line: np.ndarray | None = None

    def __post_init__(self):
        self._prepare(None, None)

    @classmethod
    def _parsed(cls, fields: dict, texts: dict, problems: _Problems) -> "Measurements":
        """Construct from the reader's arrays, its parse problems and the file's texts (for
        messages quoting the fields as written)."""
        obj = cls.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(obj, name, value)
        obj._prepare(texts, problems)
        return obj

    def _prepare(self, texts, problems) -> None:
        put = functools.partial(object.__setattr__, self)
        put("source", str(self.source))
        device = self.device
        if not (isinstance(device, np.ndarray) and device.dtype == object and device.ndim == 1
                and all(type(d) is str for d in device.tolist())):
            device = np.asarray(device, dtype=object)
            if device.ndim != 1:
                raise ValueError(f"device must be a 1-D array of ids, got shape {device.shape}")
            device = np.array([str(d) for d in device.tolist()], dtype=object)
        n = device.shape[0]
        f = {"device": device}

        def column(name, dtype, optional=False):
            v = getattr(self, name)
            if v is None:
                if optional:
                    return None
                raise ValueError(f"{name} is required")
            v = np.asarray(v)
            if v.ndim != 1 or v.shape[0] != n:
                raise ValueError(f"{name} must have shape ({n},) like device, got {v.shape}")
            if v.dtype.kind not in "iufb":
                raise ValueError(f"{name} must be numeric, got dtype {v.dtype}")
            return v.astype(dtype, copy=False)

        f["cycle"] = column("cycle", np.float64)
        f["pulse"] = column("pulse", np.float64)
        if np.asarray(self.direction).dtype.kind in "UO":       # spelled out: 'up', 'down', 'none', …
            spelled = np.asarray(self.direction, dtype=object).ravel().tolist()
            codes = [DIRECTIONS.get(str(d).strip().lower()) for d in spelled]
            bad = [d for d, c in zip(spelled, codes) if c is None]
            if bad:
                raise ValueError(f"direction {bad[0]!r} is not a direction: {_DIRECTION_HELP}")
            put("direction", np.array(codes, dtype=np.int8))
        direction = column("direction", np.float64)
        f["direction"] = direction
        f["conductance"] = column("conductance", np.float64)
        f["time"] = column("time", np.float64, optional=True)
        f["amplitude"] = column("amplitude", np.float64, optional=True)
        f["width"] = column("width", np.float64, optional=True)
        unit = self.amplitude_unit
        if (f["amplitude"] is None) != (unit is None):
            raise ValueError("amplitude and amplitude_unit must be given together")
        if unit is not None and unit not in ("V", "A"):
            raise ValueError(f"amplitude_unit must be 'V' or 'A', got {unit!r}")
        f["amplitude_unit"] = unit
        row = np.arange(1, n + 1, dtype=np.int64) if self.row is None else column("row", np.int64)
        line = np.zeros(n, np.int64) if self.line is None else column("line", np.int64)

        p = problems if problems is not None else _Problems()
        _check_rows(p, f, texts)
        p.raise_first(self.source, row, line)
        f["cycle"] = f["cycle"].astype(np.int64)
        f["pulse"] = f["pulse"].astype(np.int64)
        f["direction"] = direction.astype(np.int8)
        _check_order(f, texts, self.source, row, line)
        f["row"], f["line"] = row, line
        for name in ("device", "cycle", "pulse", "direction", "conductance", "time", "amplitude", "width", "row",
                     "line"):
            value = f[name]
            if value is not None:
                value = np.array(value)            # an own, read-only copy: the data set does not change
                value.flags.writeable = False
            put(name, value)

    # --------------------------------------------------------------- properties
    def __repr__(self) -> str:
        extra = [c for c, v in (("time_s", self.time), (f"amplitude_{self.amplitude_unit}", self.amplitude),
                                ("width_s", self.width)) if v is not None]
        cycles = len(np.unique(self.cycle)) if self.n_rows else 0
        return (f"Measurements({self.source!r}: {self.n_rows} rows, {len(self.devices)} devices, {cycles} cycles"
                + (f"; {', '.join(extra)}" if extra else "") + ")")

    @property
    def n_rows(self) -> int:
        """Number of reads ``N``."""
        return int(self.conductance.shape[0])

    @functools.cached_property
    def _codes(self) -> tuple[np.ndarray, tuple[str, ...]]:
        index, ids = _factorize(self.device.tolist())
        return index, tuple(ids)

    @property
    def devices(self) -> tuple[str, ...]:
        """Device ids in order of first appearance."""
        return self._codes[1]

    @property
    def device_index(self) -> np.ndarray:
        """Index of each row's device in :attr:`devices` (int64, shape (N,))."""
        return self._codes[0]

    @functools.cached_property
    def _grouped(self):
        """(order, same): rows sorted by device (first-appearance order), cycle and pulse;
        whether adjacent sorted rows share a (device, cycle)."""
        return _group_order(self.device_index, self.cycle)

    # --------------------------------------------------------------- views
    def traces(self) -> list[Trace]:
        """One :class:`Trace` per (device, cycle), by device (in :attr:`devices` order), then
        cycle; each in pulse order."""
        order, same = self._grouped
        starts = np.concatenate([[0], np.flatnonzero(~same) + 1, [order.shape[0]]]) if order.size else np.array([0])
        out = []
        pick = lambda a, idx: None if a is None else a[idx]  # noqa: E731
        for a, b in zip(starts[:-1], starts[1:]):
            idx = order[a:b]
            first = int(idx[0])
            out.append(Trace(str(self.device[first]), int(self.cycle[first]), self.pulse[idx], self.direction[idx],
                             self.conductance[idx], pick(self.time, idx), pick(self.amplitude, idx),
                             pick(self.width, idx), self.row[idx], self.line[idx]))
        return out

    def _links(self):
        """Sorted order, and for each adjacent sorted pair: same (device, cycle) and pulse
        step exactly 1 (``link``), same (device, cycle) and a jump > 1 (``gap``)."""
        order, same = self._grouped
        dp = self.pulse[order[1:]] - self.pulse[order[:-1]]
        return order, same & (dp == 1), same & (dp > 1)

    def increments(self) -> Increments:
        """Single-pulse changes (see the module docstring and :class:`Increments`)."""
        order, link, gap = self._links()
        after, before = order[1:], order[:-1]
        ok = link & (self.direction[after] != NONE)
        a, b = after[ok], before[ok]
        return Increments(self.device_index[a], self.conductance[b], self.conductance[a], self.direction[a],
                          self.row[a], self.cycle[a], int(gap.sum()))

    def rests(self) -> Rests:
        """Retention segments (see :class:`Rests`); empty without time stamps."""
        empty_f, empty_i = np.zeros(0), np.zeros(0, np.int64)
        if self.time is None or self.n_rows == 0:
            return Rests(empty_i, empty_i, empty_f, empty_f, empty_i, empty_i, empty_f, empty_f, empty_i)
        order, link, _ = self._links()
        n = order.shape[0]
        d = self.direction[order]
        # a break before sorted position j unless j is a 'none' row linked to the row before it
        brk = np.ones(n, bool)
        brk[1:] = ~(link & (d[1:] == NONE))
        anchor = np.maximum.accumulate(np.where(brk, np.arange(n), 0))
        in_seg = ~brk & (d[anchor] != NONE)
        pos = np.flatnonzero(in_seg)
        anchors, segment = np.unique(anchor[pos], return_inverse=True)
        seg_rows, read_rows = order[anchors], order[pos]
        return Rests(self.device_index[seg_rows], self.cycle[seg_rows], self.conductance[seg_rows],
                     self.time[seg_rows], self.row[seg_rows], segment.astype(np.int64).ravel(),
                     self.time[read_rows], self.conductance[read_rows], self.row[read_rows])

    def subset(self, devices: str | Iterable[str] | None = None, cycles: int | Iterable[int] | None = None
               ) -> "Measurements":
        """The rows of the given device ids and/or cycles (file order, row and line numbers
        kept); ``ValueError`` naming any id or cycle that is not in the data."""
        keep = np.ones(self.n_rows, bool)
        if devices is not None:
            wanted = [devices] if isinstance(devices, str) else [str(d) for d in devices]
            unknown = [d for d in wanted if d not in self.devices]
            if unknown:
                shown = ", ".join(self.devices[:10]) + (", …" if len(self.devices) > 10 else "")
                raise ValueError(f"no device {', '.join(map(repr, unknown))} in {self.source}; devices: {shown}")
            codes = [self.devices.index(d) for d in wanted]
            keep &= np.isin(self.device_index, codes)
        if cycles is not None:
            wanted_c = [int(cycles)] if np.ndim(cycles) == 0 else [int(c) for c in cycles]
            present = set(np.unique(self.cycle).tolist())
            unknown_c = [c for c in wanted_c if c not in present]
            if unknown_c:
                raise ValueError(f"no cycle {', '.join(map(str, unknown_c))} in {self.source}; "
                                 f"cycles: {', '.join(map(str, sorted(present)))}")
            keep &= np.isin(self.cycle, wanted_c)
        pick = lambda a: None if a is None else a[keep]  # noqa: E731
        return Measurements(self.source, self.device[keep], self.cycle[keep], self.pulse[keep], self.direction[keep],
                            self.conductance[keep], pick(self.time), pick(self.amplitude), self.amplitude_unit,
                            pick(self.width), self.row[keep], self.line[keep])


# ------------------------------------------------------------------------- header hints
_UNITS = {"s", "sec", "seconds", "ms", "us", "µs", "μs", "ns", "ps", "min", "h", "siemens", "v", "mv", "kv", "a",
          "ma", "ua", "µa", "μa", "na", "ohm", "ohms", "kohm", "mohm", "Ω", "kω"}
_ALIASES = {
    "device": {"device", "deviceid", "devid", "dev", "cell", "cellid", "id", "sample", "devicename", "name"},
    "cycle": {"cycle", "cycles", "cycleid", "cycleindex", "cyclenumber", "cycleno", "cyc", "sweep", "run"},
    "pulse": {"pulse", "pulses", "pulseindex", "pulsenumber", "pulseno", "pulseid", "pulsecount", "n", "index",
              "idx", "step", "k"},
    "direction": {"direction", "dir", "polarity", "sign", "type", "mode", "operation", "pulsetype"},
    "conductance_S": {"conductance", "conductances", "cond", "g"},
    "time_s": {"time", "times", "t", "timestamp", "elapsed"},
    "amplitude_V": {"amplitude", "amp", "voltage", "v", "vpulse", "pulsevoltage", "pulseamplitude"},
    "amplitude_A": {"current", "i", "ipulse", "pulsecurrent"},
    "width_s": {"width", "pulsewidth", "duration", "pw", "pulseduration", "tpulse", "widths"},
}
_RESISTANCE = {"resistance", "r", "res"}
_WANTED_UNIT = {"conductance_S": ("s", "siemens"), "time_s": ("s",), "amplitude_V": ("v",), "amplitude_A": ("a",),
                "width_s": ("s",)}


def _split_name(name: str) -> tuple[str, str | None]:
    """(base, unit) of a column name: ``'Conductance (uS)'`` → ``('conductance', 'us')``."""
    tokens = [t for t in re.split(r"[\s_\-()\[\]/{}.:]+", name.strip().lower()) if t]
    if len(tokens) > 1 and tokens[-1] in _UNITS:
        return "".join(tokens[:-1]), tokens[-1]
    return "".join(tokens), None


_VOLT_UNITS = {"v", "mv", "kv"}
_AMP_UNITS = {"a", "ma", "ua", "µa", "μa", "na"}
_UNIT_WORDS = {"conductance_S": "siemens", "time_s": "seconds", "width_s": "seconds", "amplitude_V": "volts",
               "amplitude_A": "amperes"}


def _looks_like(found: str, wanted: str) -> str | None:
    """A hint when column ``found`` looks like ``wanted`` under another name or unit."""
    if found == wanted:
        return None
    base, unit = _split_name(found)
    if wanted == "conductance_S" and base in _RESISTANCE:
        return f"column {found!r} looks like a resistance: the format wants conductance_S = 1/R in siemens"
    if wanted in ("amplitude_V", "amplitude_A"):
        if base not in _ALIASES["amplitude_V"] | _ALIASES["amplitude_A"]:
            return None
        current = unit in _AMP_UNITS or (unit not in _VOLT_UNITS and base in _ALIASES["amplitude_A"])
        if wanted != ("amplitude_A" if current else "amplitude_V"):
            return None
    elif base not in _ALIASES[wanted]:
        return None
    good = _WANTED_UNIT.get(wanted)
    if good is None:
        return f"column {found!r} looks like {wanted}: name it {wanted}"
    if unit is not None and unit not in good:
        return (f"column {found!r} looks like {wanted} in another unit: convert the values to "
                f"{_UNIT_WORDS[wanted]} and name the column {wanted}")
    return f"column {found!r} looks like {wanted}: name it {wanted} (values in {_UNIT_WORDS[wanted]})"


# ------------------------------------------------------------------------- reader
def _parse_floats(texts: list[str]):
    """float64 values of ``texts`` (NaN where empty or not a number) and the masks of the
    unreadable and of the empty fields (None when there are none)."""
    try:
        return np.array(texts, dtype=np.float64), None, None
    except (ValueError, TypeError):
        pass
    n = len(texts)
    values = np.full(n, np.nan)
    bad = np.zeros(n, bool)
    empty = np.zeros(n, bool)
    for i, s in enumerate(texts):
        try:
            values[i] = float(s)
        except (ValueError, TypeError):
            if s.strip():
                bad[i] = True
            else:
                empty[i] = True
    return values, bad, empty


def _read_lines(name: str) -> list[str]:
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise MeasurementError.at(name, message="no such file") from None
    except IsADirectoryError:
        raise MeasurementError.at(name, message="is a folder, not a measurement file") from None
    except OSError as err:
        raise MeasurementError.at(name, message=f"cannot be read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise MeasurementError.at(name, line=line, message=f"is not UTF-8 text (byte 0x{raw[err.start]:02x}); "
                                  "save it as UTF-8 CSV") from None
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def read_measurements(path: str | os.PathLike) -> Measurements:
    """Read a pulse-response CSV file (format in the module docstring) and check it.

    Returns:
        The :class:`Measurements`, in file order, with each row's data-row and line number.

    Raises:
        MeasurementError: (a ``ValueError``) the file is missing or unreadable, or anything
            in it breaks the format; one line naming the file, row, line and column of the
            first problem.

    Warns:
        MeasurementWarning: a column that looks like an optional column under another name
            (ignored, as every unknown column), or conductances whose size suggests µS or
            ohms.
    """
    name = os.fspath(path)
    lines = _read_lines(name)
    # blank lines, comments, and lines of nothing but commas (a spreadsheet's empty rows) carry no data
    kept = [(i, s) for i, s in enumerate(lines, start=1)
            if s.replace(",", "").strip() and not s.lstrip().startswith("#")]
    if not kept:
        if not any(s.strip() for s in lines):
            raise MeasurementError.at(name, message=f"the file is empty; expected a header line naming the columns "
                                      f"{', '.join(REQUIRED_COLUMNS)}, then one row per read")
        raise MeasurementError.at(name, message=f"no header line: every line is a comment or blank; expected a "
                                  f"header naming the columns {', '.join(REQUIRED_COLUMNS)}")
    header_line, header_text = kept[0]
    try:
        header = [h.strip() for h in next(csv.reader([header_text], strict=True))]
    except csv.Error as err:
        raise MeasurementError.at(name, line=header_line, message=f"the header cannot be read as CSV: {err}") from None
    position = _header_positions(name, header_line, header, lines[:header_line - 1])
    unit = "V" if "amplitude_V" in position else ("A" if "amplitude_A" in position else None)

    # ---------------------------------------------------------------- records
    body = kept[1:]
    if not body:
        raise MeasurementError.at(name, line=header_line, message="no data rows after the header")
    records, line_numbers = [], np.fromiter((ln for ln, _ in body), dtype=np.int64, count=len(body))
    reader = csv.reader((s for _, s in body), strict=True)
    try:
        for count, record in enumerate(reader, start=1):
            if reader.line_num != count:
                raise MeasurementError.at(name, count, line_numbers[count - 1],
                                          message="a quoted field is not closed on its line")
            records.append(record)
    except csv.Error as err:
        k = len(records)
        what = ("a quoted field is not closed on its line" if reader.line_num > k + 1 or "end of data" in str(err)
                else f"cannot be read as CSV: {err}")
        raise MeasurementError.at(name, k + 1, line_numbers[k], message=what) from None
    n = len(records)
    rows = np.arange(1, n + 1, dtype=np.int64)
    p = _Problems()

    width = len(header)
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=n)
    if np.any(lengths != width):
        for i in np.flatnonzero(lengths != width):
            rec = records[i]
            if len(rec) > width and not any(s.strip() for s in rec[width:]):
                records[i] = rec[:width]          # trailing empty fields: harmless
                continue
            if len(rec) < width:
                p.add(i, header[len(rec)], f"the row has {len(rec)} field(s), the header {width}: "
                      f"this column and any after it are missing")
                records[i] = rec + [""] * (width - len(rec))
            else:
                p.add(i, f"{width + 1} (past the last header column {header[-1]!r})",
                      f"the row has {len(rec)} fields, the header {width} (a comma inside a value? quote the value)")
                records[i] = rec[:width]

    texts = {col: [r[j] for r in records] for col, j in position.items()}

    fields: dict = {"source": name, "row": rows, "line": line_numbers, "amplitude_unit": unit}
    device = [s.strip() for s in texts["device"]]
    fields["device"] = np.array(device, dtype=object)
    # direction
    spellings = {s: DIRECTIONS.get(s.strip().lower()) for s in set(texts["direction"])}
    codes = np.fromiter(((spellings[s] if spellings[s] is not None else 99) for s in texts["direction"]),
                        dtype=np.int64, count=n)
    unknown = codes == 99
    p.mask(unknown, "direction", lambda i: f"{texts['direction'][i].strip()!r} is not a direction: {_DIRECTION_HELP}")
    fields["direction"] = np.where(unknown, NONE, codes)
    # numbers
    numeric = (("cycle", "cycle", True), ("pulse", "pulse", True), ("conductance_S", "conductance", True),
               ("time_s", "time", True), (f"amplitude_{unit}", "amplitude", False), ("width_s", "width", False))
    for column, key, required in numeric:
        if column not in texts:
            fields[key] = None
            continue
        values, bad, empty = _parse_floats(texts[column])
        col_texts = texts[column]
        p.mask(bad, column, lambda i, c=col_texts: f"{c[i].strip()!r} is not a number")
        if required:
            p.mask(empty, column, lambda i: "is empty (a number is required)")
        fields[key] = values

    m = Measurements._parsed(fields, texts, p)
    _warn_units(m)
    return m


def _header_positions(name: str, header_line: int, header: list[str], before: list[str]) -> dict[str, int]:
    """Column → field index of the known columns in ``header``; MeasurementError for a
    missing required column, a duplicate, or both amplitude columns; warnings for columns
    that look like optional ones."""
    where = dict(line=header_line)
    position: dict[str, int] = {}
    for j, h in enumerate(header):
        if h in REQUIRED_COLUMNS or h in OPTIONAL_COLUMNS:
            if h in position:
                raise MeasurementError.at(name, column=h, message=f"appears twice in the header (fields "
                                          f"{position[h] + 1} and {j + 1})", **where)
            position[h] = j
    missing = [c for c in REQUIRED_COLUMNS if c not in position]
    if missing:
        found = ", ".join(repr(h) for h in header) or "none"
        hints = []
        if len(header) == 1:
            for sep, sep_name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
                if sep in header[0]:
                    hints.append(f"the header looks separated by {sep_name}: columns must be separated by commas")
                    break
        for wanted in missing:
            for h in header:
                hint = _looks_like(h, wanted)
                if hint:
                    hints.append(hint)
                    break
            else:
                for h in header:
                    if h != wanted and h.lower() == wanted.lower():
                        hints.append(f"column {h!r}: names are case-sensitive, name it {wanted}")
                        break
        for k, s in enumerate(before, start=1):
            if s.lstrip().startswith("#") and all(c in s for c in missing):
                hints.append(f"line {k} names the columns but starts with '#' (a comment)")
                break
        raise MeasurementError.at(
            name, column=missing[0], message=f"missing required column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)}; found: {found})" + "".join(f"; {h}" for h in hints), **where)
    if "amplitude_V" in position and "amplitude_A" in position:
        raise MeasurementError.at(name, column="amplitude_A", message="both amplitude_V and amplitude_A are given; "
                                  "a file holds one kind of pulse amplitude: keep one", **where)
    for wanted in ("time_s", "amplitude_V", "amplitude_A", "width_s"):
        if wanted in position or (wanted.startswith("amplitude") and ("amplitude_V" in position
                                                                      or "amplitude_A" in position)):
            continue
        for h in header:
            if h in position:
                continue
            hint = _looks_like(h, wanted)
            if hint:
                warnings.warn(f"{name}, line {header_line}: {hint}; as it is, the column is ignored",
                              MeasurementWarning, stacklevel=3)
                break
    return position


def _warn_units(m: Measurements) -> None:
    median = float(np.median(m.conductance))
    if median > 1.0:
        warnings.warn(f"{m.source}: the median conductance_S is {median:.3g} S; conductances must be in siemens "
                      f"(µS values times 1e-6; a resistance R [ohm] as 1/R)", MeasurementWarning, stacklevel=3)


# ------------------------------------------------------------------------- writer
def _quote(s: str) -> str:
    if s and not any(c in s for c in ',"\r\n#') and s == s.strip():
        return s
    return '"' + s.replace('"', '""') + '"'


def _format_floats(values: np.ndarray, precision: int | None) -> list[str]:
    out = values.tolist()
    if precision is None:
        return ["" if math.isnan(v) else repr(v) for v in out]
    spec = f".{precision}g"
    return ["" if math.isnan(v) else format(v, spec) for v in out]


def write_measurements(m: Measurements, path: str | os.PathLike, *, overwrite: bool = False,
                       comment: str | Iterable[str] | None = None, precision: int | None = None) -> Path:
    """Write ``m`` in the CSV format of this module (atomically: a reader never sees a torn
    file).

    Args:
        m: the measurements.
        path: file to write.
        overwrite: replace an existing file (otherwise ``FileExistsError`` naming it).
        comment: text for ``# `` comment lines at the top (a string, its lines, or a list
            of lines).
        precision: significant digits of every float (1–17); None (default) writes the
            shortest text that reads back to the same float, so a round trip is exact.

    Columns: the required ones, then ``time_s``, ``amplitude_V``/``amplitude_A`` and
    ``width_s`` where ``m`` has them; NaN amplitudes and widths are written as empty fields.
    Returns the path.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if precision is not None and not (isinstance(precision, (int, np.integer)) and 1 <= precision <= 17):
        raise ValueError(f"precision must be a whole number of significant digits in 1..17 or None, got {precision!r}")
    out = []
    if comment is not None:
        text = comment if isinstance(comment, str) else "\n".join(str(c) for c in comment)
        out += [("# " + s).rstrip() for s in text.splitlines()]
    names = list(REQUIRED_COLUMNS)
    ids = {d: _quote(d) for d in m.devices}
    cols = [[ids[d] for d in m.device.tolist()], list(map(str, m.cycle.tolist())), list(map(str, m.pulse.tolist())),
            np.array(["none", "up", "down"], dtype=object)[m.direction.astype(np.int64)].tolist(),
            _format_floats(m.conductance, precision)]
    for name, values in (("time_s", m.time), (f"amplitude_{m.amplitude_unit}", m.amplitude), ("width_s", m.width)):
        if values is not None:
            names.append(name)
            cols.append(_format_floats(values, precision))
    out.append(",".join(names))
    out += [",".join(t) for t in zip(*cols)]
    atomic_write_bytes(path, ("\n".join(out) + "\n").encode("utf-8"))
    return path


# ------------------------------------------------------------------------- simulator
def _scalar(value) -> float | None:
    try:
        v = float(np.asarray(value))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _amplitude(device) -> tuple[float | None, str | None]:
    """The device's pulse amplitude and its unit: ``pulse_current`` [A] for a device in
    current mode, ``pulse_voltage`` [V] otherwise; (None, None) when it has neither."""
    if getattr(device, "pulse_mode", None) == "current":
        v = _scalar(getattr(device, "pulse_current", None))
        if v is not None:
            return v, "A"
    v = _scalar(getattr(device, "pulse_voltage", None))
    return (v, "V") if v is not None else (None, None)


def _pulse_time(device) -> float | None:
    try:
        return _scalar(device.pulse_time)
    except (NotImplementedError, AttributeError):
        return None


def _run_cycle_impl(device, state, key, pulses: int, rest: tuple, gap: float, period: float, read_noise: bool):
    """One cycle of :func:`simulate_measurements`: the new state and the reads, shape
    ``(1 + 2·pulses + len(rest), cells)``."""
    import jax
    import jax.numpy as jnp

    def read(s, k):
        return device.read(s, key=k) if read_noise else device.conductance(s)

    n_reads = 1 + 2 * pulses + len(rest)
    k_pulse, k_read = jax.random.split(key)
    pulse_keys = jax.random.split(k_pulse, 2 * pulses)
    read_keys = jax.random.split(k_read, n_reads)
    signs = jnp.concatenate([jnp.ones(pulses), -jnp.ones(pulses)]).astype(state.conductance.dtype)
    first = read(state, read_keys[0])

    def step(s, x):
        sign, kp, kr = x
        if gap > 0:
            s = device.evolve(s, gap)
        s = device.apply_pulses(s, sign, key=kp)
        return s, read(s, kr)

    state, trace = jax.lax.scan(step, state, (signs, pulse_keys, read_keys[1:2 * pulses + 1]))
    reads = [first[None], trace]
    elapsed = 0.0
    for j, r in enumerate(rest):
        state = device.evolve(state, r - elapsed)
        elapsed = r
        reads.append(read(state, read_keys[2 * pulses + 1 + j])[None])
    state = device.evolve(state, period)
    return state, jnp.concatenate(reads)


def _simulate_impl(device, key, devices: int, cycles: int, pulses: int, rest: tuple, gap: float, period: float,
                   read_noise: bool):
    """Every read of :func:`simulate_measurements`, shape ``(cycles, reads per cycle,
    devices)``: the cells' initial state, then a scan over the cycles."""
    import jax

    k_init, k_run = jax.random.split(key)
    state = device.init((devices,), key=k_init)

    def cycle(s, k):
        return _run_cycle_impl(device, s, k, pulses, rest, gap, period, read_noise)

    _, reads = jax.lax.scan(cycle, state, jax.random.split(k_run, cycles))
    return reads


_SIMULATE = None


def _simulate(*args):
    """:func:`_simulate_impl` compiled once per device model and protocol (equinox's
    filter_jit: the Python numbers of the model and of the protocol are static)."""
    global _SIMULATE
    if _SIMULATE is None:
        import equinox as eqx
        _SIMULATE = eqx.filter_jit(_simulate_impl)
    return _SIMULATE(*args)


def simulate_measurements(device, *, key, devices: int = 20, cycles: int = 3, pulses: int = 100,
                          rest_times=(), period: float | None = None, read_noise: bool = False) -> Measurements:
    """Pulse-response data as a measurement of ``devices`` cells of ``device`` would give.

    Protocol per cycle, for every cell at once: one read with no pulse (``pulse`` 0,
    direction ``none``); ``pulses`` potentiation pulses, each one
    ``device.apply_pulses(state, +1, key=…)`` with its own key and followed by a read
    (direction ``up``); ``pulses`` depression pulses likewise (``down``); then, for each of
    ``rest_times`` [s] (increasing, counted from the last pulse), ``device.evolve`` to that
    time and a read (``none``).  The cells start where ``device.init`` puts them, with
    device-to-device variation drawn from ``key``; the cycles follow one another with no
    reset.

    Time: the read of pulse ``k`` of a cycle is at ``T_c + k·period``, the rest reads at
    ``T_c + 2·pulses·period + rest_time``, and the next cycle starts one ``period`` after
    the last read of the one before (``T_0 = 0``).  The state follows the same clock:
    between two pulses the device evolves for ``period − pulse_time`` (the time a pulse does
    not occupy; ``device.pulse_time``, the pulse width for most families) and between a
    cycle's last read and the next cycle for ``period`` — which changes nothing for a device
    without time dependence.  ``period`` defaults to ``10·device.pulse_time``, or 1e-3 s
    for a device that defines none.  The ``time_s`` column is written when ``period`` is
    given or ``rest_times`` is not empty.

    Args:
        device: any synaptax device model (its nominal conductance range must start above
            0 S: the format needs conductances > 0).
        key: PRNG key (keyword-only).
        devices: number of cells (ids ``d000``, ``d001``, …).
        cycles: number of cycles.
        pulses: pulses per direction per cycle.
        rest_times: times [s] after the last pulse of each cycle of the rest reads.
        period: time between two pulses [s] (see above).
        read_noise: reads with the device's read noise (``device.read``), else the exact
            conductance (``device.conductance``).

    Returns:
        :class:`Measurements` with ``source='<simulated>'``, ordered by device, cycle,
        pulse; ``amplitude`` the device's ``pulse_voltage`` [V] (or ``pulse_current`` [A] in
        current mode) and ``width`` its ``pulse_width`` [s] on every pulse row, where the
        device has them (NaN on ``none`` rows).
    """
    for label, value, low in (("devices", devices, 1), ("cycles", cycles, 1), ("pulses", pulses, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{label} must be a whole number >= {low}, got {value!r}")
    rest = np.asarray(rest_times, dtype=np.float64).ravel()
    if rest.size and (not np.all(np.isfinite(rest)) or np.any(rest <= 0) or np.any(np.diff(rest) <= 0)):
        raise ValueError(f"rest_times must be finite, > 0 s and strictly increasing, got {rest.tolist()!r}")
    g_lo = np.asarray(device.conductance_range[0], dtype=np.float64)
    if not np.all(g_lo > 0):
        raise ValueError(f"{type(device).__name__}'s conductance range starts at g_min = {float(np.min(g_lo))!r} S; "
                         f"measurement data need conductances > 0 S: give the device a g_min > 0")
    pulse_time = _pulse_time(device)
    with_time = period is not None or rest.size > 0
    if period is None:
        period = 10.0 * pulse_time if pulse_time is not None else 1e-3
    period = _scalar(period)
    if period is None or period <= 0:
        raise ValueError(f"period must be a finite time > 0 s, got {period!r}")
    gap = period - (pulse_time or 0.0)
    if gap < 0:
        raise ValueError(f"period ({period!r} s) is shorter than the device's pulse time ({pulse_time!r} s)")
    n_reads = 1 + 2 * pulses + rest.size

    g = np.asarray(_simulate(device, key, int(devices), int(cycles), int(pulses), tuple(rest.tolist()), gap, period,
                             bool(read_noise)), dtype=np.float64)   # (cycles, n_reads, devices)
    g = np.transpose(g, (2, 0, 1)).ravel()                   # device-major file order
    width_digits = max(3, len(str(devices - 1)))
    ids = np.array([f"d{i:0{width_digits}d}" for i in range(devices)], dtype=object)
    bad = ~(np.isfinite(g) & (g > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the simulated conductance of {ids[i // (cycles * n_reads)]} reached {g[i]!r} S; "
                         f"measurement data need conductances > 0 S"
                         + (" (read noise clipped at zero: lower the device's read_noise)" if read_noise else ""))

    template_dir = np.concatenate([[NONE], np.full(pulses, UP), np.full(pulses, DOWN), np.full(rest.size, NONE)])
    n_per_device = cycles * n_reads
    fields = dict(
        device=np.repeat(ids, n_per_device),
        cycle=np.tile(np.repeat(np.arange(cycles, dtype=np.int64), n_reads), devices),
        pulse=np.tile(np.arange(n_reads, dtype=np.int64), devices * cycles),
        direction=np.tile(template_dir.astype(np.int8), devices * cycles),
        conductance=g,
    )
    is_pulse = fields["direction"] != NONE
    if with_time:
        offsets = np.concatenate([np.arange(2 * pulses + 1) * period, 2 * pulses * period + rest])
        starts = np.arange(cycles) * (offsets[-1] + period)
        times = (starts[:, None] + offsets[None, :]).ravel()
        times = np.array([float(f"{t:.12g}") for t in times.tolist()])   # clean decimal time stamps
        fields["time"] = np.tile(times, devices)
    amplitude, unit = _amplitude(device)
    if amplitude is not None:
        fields["amplitude"] = np.where(is_pulse, amplitude, np.nan)
        fields["amplitude_unit"] = unit
    pulse_width = _scalar(getattr(device, "pulse_width", None))
    if pulse_width is not None:
        fields["width"] = np.where(is_pulse, pulse_width, np.nan)
    return Measurements("<simulated>", **fields)


__all__ = [
    "DIRECTIONS", "DOWN", "NONE", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "UP", "Increments", "MeasurementError",
    "MeasurementWarning", "Measurements", "Rests", "Trace", "read_measurements", "simulate_measurements",
    "write_measurements",
]
