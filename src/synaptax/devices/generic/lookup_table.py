"""Lookup-table device: measured (conductance, Δconductance per pulse) curves.

The user gives, on a grid of conductances, the measured conductance change of one
potentiation pulse and of one depression pulse.  At construction the per-pulse law is
iterated once from ``g_min`` upwards (and from ``g_max`` downwards) to tabulate the
conductance *trajectory* ``G_k`` after ``k`` pulses; an update of ``n`` pulses then
looks up the cell's fractional pulse index on the trajectory, adds ``n`` and reads the
trajectory back (NeuroSim's method).  This costs two table look-ups per cell whatever
``n`` is, and is exact for the discrete per-pulse law at trajectory points (linear
interpolation between them).

CSV format (:meth:`LookupTableDevice.from_csv`): a header line naming the columns
``conductance_S``, ``delta_up_S`` and ``delta_down_S`` (any order, other columns
ignored), then one row per conductance, strictly increasing.  ``delta_down_S`` may be
given with either sign (its magnitude is used).  Lines starting with ``#`` are comments.
"""
from __future__ import annotations

import csv
import os

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..core.variability import StepVariability
from .pulsed import AbstractPulsedDevice
from .relaxation import Relaxation

REQUIRED_COLUMNS = ("conductance_S", "delta_up_S", "delta_down_S")


def _trajectory(x_grid: np.ndarray, dx: np.ndarray, max_pulses: int) -> np.ndarray:
    """Normalised positions after k = 0, 1, … pulses of the law ``x ← x + interp(x)``,
    starting at 0, until the position reaches 1, stops moving, or ``max_pulses``."""
    xs = [0.0]
    x = 0.0
    for _ in range(max_pulses):
        step = float(np.interp(x, x_grid, dx))
        if step <= 1e-12:
            break
        x = min(x + step, 1.0)
        xs.append(x)
        if x >= 1.0:
            break
    return np.asarray(xs)


class LookupTableDevice(AbstractPulsedDevice):
    """Device whose update law is interpolated from measured data.

    Args:
        conductance: measured conductances [S], shape (K,), strictly increasing; its first
            and last values are the device's ``g_min`` and ``g_max``.
        delta_up: conductance change of one potentiation pulse at each conductance [S],
            shape (K,), ≥ 0.
        delta_down: conductance change of one depression pulse [S], shape (K,), either sign.
        variability, pulse_voltage, pulse_width, relaxation: as for every pulsed device
            (:class:`~synaptax.devices.generic.pulsed.AbstractPulsedDevice`).
        max_pulses: cap on the tabulated trajectory length.

    Device-to-device step spread scales the cell's pulse count; device-to-device bound
    spread stretches the (normalised) curves to each cell's bounds.
    """

    table_conductance: Array
    table_delta_up: Array
    table_delta_down: Array
    trajectory_up: Array
    trajectory_down: Array

    def __init__(self, conductance, delta_up, delta_down, *, variability: StepVariability = StepVariability(),
                 pulse_voltage: float = 1.0, pulse_width: float = 1e-9, max_pulses: int = 100_000,
                 relaxation: Relaxation | None = None):
        g = np.asarray(conductance, dtype=np.float64)
        up = np.asarray(delta_up, dtype=np.float64)
        down = np.abs(np.asarray(delta_down, dtype=np.float64))
        if g.ndim != 1 or g.size < 2:
            raise ValueError("conductance must be a 1-D table with at least two entries")
        if up.shape != g.shape or down.shape != g.shape:
            raise ValueError(f"delta_up and delta_down must have the shape of conductance {g.shape}, "
                             f"got {up.shape} and {down.shape}")
        for name, arr in (("conductance", g), ("delta_up", up), ("delta_down", down)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains non-finite values")
        if np.any(np.diff(g) <= 0):
            i = int(np.argmax(np.diff(g) <= 0))
            raise ValueError(f"conductance must be strictly increasing (monotonic); entry {i + 1} "
                             f"({g[i + 1]!r} S) does not exceed entry {i} ({g[i]!r} S)")
        if g[0] < 0:
            raise ValueError("conductance must be non-negative")
        if np.any(up < 0):
            raise ValueError("delta_up must be non-negative (potentiation raises the conductance)")
        if not (np.any(up > 0) and np.any(down > 0)):
            raise ValueError("delta_up and delta_down must each have a positive entry")
        span = g[-1] - g[0]
        x = (g - g[0]) / span
        self.g_min = float(g[0])
        self.g_max = float(g[-1])
        self.step = float(np.interp(0.5, x, up))
        if self.step <= 0:
            self.step = float(up[up > 0].mean())
        self.asymmetry = 0.0
        self.variability = variability
        self.pulse_voltage = pulse_voltage
        self.pulse_width = pulse_width
        self.relaxation = relaxation
        self.table_conductance = jnp.asarray(g)
        self.table_delta_up = jnp.asarray(up)
        self.table_delta_down = jnp.asarray(down)
        self.trajectory_up = jnp.asarray(_trajectory(x, up / span, max_pulses))
        # depression: distance from the top, y = 1 − x, grows with each pulse
        y_grid = (1.0 - x)[::-1]
        self.trajectory_down = jnp.asarray(_trajectory(y_grid, (down / span)[::-1], max_pulses))

    @classmethod
    def from_csv(cls, path: str | os.PathLike, **kwargs) -> "LookupTableDevice":
        """Load measured data from a CSV file (format in the module docstring)."""
        path = os.fspath(path)
        try:
            with open(path, newline="") as fh:
                rows = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
        except OSError as err:
            raise ValueError(f"cannot read lookup-table CSV {path!r}: {err.strerror}") from err
        reader = csv.DictReader(rows)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"lookup-table CSV {path!r} is missing column(s) {', '.join(missing)}; "
                             f"required: {', '.join(REQUIRED_COLUMNS)}; found: {', '.join(header) or 'none'}")
        cols = {c: [] for c in REQUIRED_COLUMNS}
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): v for k, v in row.items() if k is not None}
            for c in REQUIRED_COLUMNS:
                try:
                    cols[c].append(float(row[c]))
                except (TypeError, ValueError):
                    raise ValueError(f"lookup-table CSV {path!r}, data row {lineno - 1}: column {c} "
                                     f"is not a number: {row.get(c)!r}") from None
        try:
            return cls(cols["conductance_S"], cols["delta_up_S"], cols["delta_down_S"], **kwargs)
        except ValueError as err:
            raise ValueError(f"lookup-table CSV {path!r}: {err}") from None

    @property
    def max_pulses_up(self) -> int:
        """Number of potentiation pulses that take a nominal cell from ``g_min`` to its end point."""
        return int(self.trajectory_up.shape[0] - 1)

    def _along(self, trajectory, x, n_eff):
        k = jnp.arange(trajectory.shape[0], dtype=x.dtype)
        p = jnp.interp(x, trajectory.astype(x.dtype), k)
        # a cell beyond the trajectory's end (where the measured step vanishes) stays put
        # rather than being pulled back to the end point
        return jnp.maximum(jnp.interp(p + n_eff, k, trajectory.astype(x.dtype)), x)

    def _n_eff(self, n, step):
        return n * step * (self.g_max - self.g_min) / self.step

    def _law(self, x, n, step, span, *, potentiate, bits):
        if potentiate:
            return jnp.where(n > 0, self._along(self.trajectory_up, x, self._n_eff(n, step)), x)
        return jnp.where(n > 0, 1.0 - self._along(self.trajectory_down, 1.0 - x, self._n_eff(n, step)), x)



__all__ = [
    "LookupTableDevice", "REQUIRED_COLUMNS",
]
