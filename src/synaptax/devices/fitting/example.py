"""The example pulse-response file shipped with the package (``synaptax/data/
example_pulse_response.csv``): SIMULATED data in the measurement format of
:mod:`synaptax.devices.fitting.data`, for trying ``synaptax fit`` without a measurement.

:func:`make_example` regenerates it (float64, fixed seed): 12 soft-bounds cells with
device-to-device and cycle-to-cycle variation and an exponential relaxation, 2 cycles of
100 potentiation and 100 depression pulses (1 µs apart), then rest reads 1 ms … 10 s after
the last pulse; numbers rounded to 6 significant digits.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from .data import simulate_measurements, write_measurements

#: File name of the example in the package's data folder.
EXAMPLE_NAME = "example_pulse_response.csv"
#: Seed of the example's PRNG key (``jax.random.key(EXAMPLE_SEED)``).
EXAMPLE_SEED = 20240501
#: The example's protocol (keyword arguments of :func:`~.data.simulate_measurements`).
EXAMPLE_PROTOCOL = dict(devices=12, cycles=2, pulses=100, rest_times=(1e-3, 1e-2, 0.1, 1.0, 10.0), period=1e-6)
#: Significant digits of the numbers in the example file.
EXAMPLE_PRECISION = 6


def example_path() -> Path:
    """Path of the shipped example file (inside the installed package)."""
    return Path(__file__).resolve().parents[2] / "data" / EXAMPLE_NAME


def example_device():
    """The device model the example is simulated from: a soft-bounds cell, 1–10 µS, ≈200
    states at mid-range (step 45 nS), 1.5 V / 10 ns pulses, device-to-device spread of the
    step (20 %), the bounds (10 %) and the up/down asymmetry (5 %), cycle-to-cycle noise
    30 % of a step, and an exponential relaxation (τ = 1 s) toward 20 % of each cell's
    window.  Every value is [assumed]: chosen to make a readable example, not taken from
    any material."""
    from ..core.variability import StepVariability
    from ..generic import SoftBoundsDevice
    from ..generic.relaxation import Relaxation

    return SoftBoundsDevice(
        g_min=1e-6, g_max=10e-6, step=9e-9 * 5,
        variability=StepVariability(d2d_step=0.2, d2d_bounds=0.1, d2d_asymmetry=0.05, c2c=0.3),
        pulse_voltage=1.5, pulse_width=10e-9,
        relaxation=Relaxation(law="exp", tau=1.0, rest=0.2))


def _model_text(obj) -> str:
    """``Name(field=value, …)`` of an equinox module, nested modules alike, one line."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        parts = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            parts.append(f"{f.name}={_model_text(value)}")
        return f"{type(obj).__name__}({', '.join(parts)})"
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))
    return repr(obj)


def _wrap(text: str, width: int = 96, indent: str = "    ") -> list[str]:
    """``text`` broken after commas into lines of at most about ``width`` characters."""
    lines, current = [], ""
    for piece in text.replace(", ", ",\0").split("\0"):
        if current and len(current) + len(piece) + 1 > width:
            lines.append(current.rstrip())
            current = indent
        current += piece + " "
    lines.append(current.rstrip())
    return lines


def _comment(device) -> list[str]:
    protocol = ", ".join(f"{k}={v!r}" for k, v in EXAMPLE_PROTOCOL.items())
    p = EXAMPLE_PROTOCOL
    rests = ", ".join(f"{r:g}" for r in p["rest_times"])
    return [
        "synaptax example pulse-response data -- SIMULATED, NOT MEASURED.",
        "Use it to try `synaptax fit`; it says nothing about any real material.",
        "Made by synaptax.devices.fitting.example.make_example():",
        *_wrap(f"simulate_measurements(device, key=jax.random.key({EXAMPLE_SEED}), {protocol}),"),
        f"float64, numbers rounded to {EXAMPLE_PRECISION} significant digits, with the device model:",
        *_wrap(_model_text(device)),
        f"Protocol per cell and cycle: one read (pulse 0, direction none); {p['pulses']} potentiation pulses,",
        f"each followed by a read (up); {p['pulses']} depression pulses likewise (down); rest reads {rests} s",
        "after the last pulse (none). Cycles follow one another with no reset.",
        "Columns:",
        "  device         cell id",
        "  cycle          cycle number, from 0",
        "  pulse          position of the read in its cycle, from 0",
        "  direction      up/down: one pulse was applied just before this read; none: no pulse since the last read",
        "  conductance_S  conductance read [S]",
        "  time_s         time of the read since the start of the experiment [s]",
        "  amplitude_V    pulse amplitude [V] (empty on reads without a pulse)",
        "  width_s        pulse width [s] (empty on reads without a pulse)",
        "Format reference: the docstring of synaptax.devices.fitting.data.",
    ]


def make_example(path: str | os.PathLike | None = None, *, overwrite: bool = False, device=None) -> Path:
    """Simulate the example data set and write it (see the module docstring).

    Args:
        path: file to write; default the shipped file (:func:`example_path`).
        overwrite: replace an existing file (otherwise ``FileExistsError``).
        device: device model to simulate; default :func:`example_device`.

    Returns:
        The path written.  The simulation runs in float64 whatever the global setting, so
        the file is the same on every run.
    """
    import jax

    device = example_device() if device is None else device
    path = example_path() if path is None else Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    with jax.enable_x64(True):
        m = simulate_measurements(device, key=jax.random.key(EXAMPLE_SEED), **EXAMPLE_PROTOCOL)
    return write_measurements(m, path, overwrite=overwrite, comment=_comment(device), precision=EXAMPLE_PRECISION)


__all__ = ["EXAMPLE_NAME", "EXAMPLE_PRECISION", "EXAMPLE_PROTOCOL", "EXAMPLE_SEED", "example_device", "example_path",
           "make_example"]
