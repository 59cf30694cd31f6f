"""Fitting compact device models to measured pulse-response data (``synaptax fit``).

* :mod:`.data` — the measurement CSV format, its reader and writer, and a simulator that
  produces such data from any synaptax device model;
* :mod:`.example` — the simulated example file shipped with the package;
* :mod:`.models` — the per-pulse laws a fit can choose (constant, linear, exp, soft bounds,
  power step, table);
* :mod:`.fit` — the fit itself: per-device least squares, spreads, noise, relaxation, model
  choice (:func:`fit_measurements`);
* :mod:`.devicefile` — device files (TOML): written by a fit, loaded wherever a preset name
  is accepted (:func:`load_device_file`, ``get_preset("DEVICE.toml")``);
* :mod:`.plot` — the figure of data against the fitted model.
"""
from .data import (DIRECTIONS, DOWN, NONE, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, UP, Increments, MeasurementError,
                   MeasurementWarning, Measurements, Rests, Trace, read_measurements, simulate_measurements,
                   write_measurements)
from .devicefile import DeviceFile, DeviceFileError, is_device_file, load_device_file, write_device_file
from .fit import DeviceFit, Parameter, RelaxationFit, closest_presets, fit_measurements
from .models import AUTO_CANDIDATES, MODELS
from .plot import figure_fit, plot_fit

__all__ = [
    "DIRECTIONS", "DOWN", "NONE", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "UP", "Increments", "MeasurementError",
    "MeasurementWarning", "Measurements", "Rests", "Trace", "read_measurements", "simulate_measurements",
    "write_measurements",
    "DeviceFile", "DeviceFileError", "is_device_file", "load_device_file", "write_device_file",
    "DeviceFit", "Parameter", "RelaxationFit", "closest_presets", "fit_measurements",
    "AUTO_CANDIDATES", "MODELS", "figure_fit", "plot_fit",
]
