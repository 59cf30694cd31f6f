"""A device's numeric parameters by dotted path: list them, replace some.

A study sweeps device parameters (``"device.variability.c2c" = [0.1, 0.3]`` in a study
file) through :func:`apply_device_params`, which returns a copy of the device with the
named fields replaced.  A path names a field of the device module, or of a module it holds
(``"step"``, ``"variability.c2c"``, ``"film.thickness"``); its value must be a number
(a Python int or float, or a 0-d array), and the replacement keeps the field's kind (an
int field takes an integral value).  After the replacement, every module on the path
re-runs its own checks (``__check_init__``), so a value the model refuses (a negative
spread, say) is refused here too, in one line naming the path.
"""
import dataclasses
import math

import equinox as eqx
import numpy as np


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return hasattr(v, "shape") and getattr(v, "shape") == () and np.issubdtype(np.asarray(v).dtype, np.number)


def device_parameters(device, prefix: str = "") -> dict[str, float]:
    """Every numeric parameter of ``device`` (nested modules included) as
    ``{dotted path: value}``, in field order."""
    out = {}
    for f in dataclasses.fields(device):
        v = getattr(device, f.name, None)
        path = f"{prefix}{f.name}"
        if isinstance(v, eqx.Module):
            out |= device_parameters(v, path + ".")
        elif _is_number(v):
            out[path] = float(v) if not isinstance(v, int) else v
    return out


def apply_device_params(device, params, *, name: str = "the device"):
    """``device`` with the parameters ``params`` (``{path: value}`` or ``((path, value), ...)``)
    replaced; a :class:`ValueError` (one line naming the path and ``name``) for a path that
    is not a numeric parameter of the device, a value that is not a finite number, or a
    value the model refuses."""
    items = params.items() if isinstance(params, dict) else params
    for path, value in items:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"device parameter {path}: must be a finite number, got {value!r}")
        parts = str(path).split(".")
        chain = [device]
        for part in parts[:-1]:
            nxt = getattr(chain[-1], part, None) if part in _field_names(chain[-1]) else None
            if not isinstance(nxt, eqx.Module):
                raise ValueError(_unknown(path, device, name))
            chain.append(nxt)
        if parts[-1] not in _field_names(chain[-1]) or not _is_number(getattr(chain[-1], parts[-1])):
            raise ValueError(_unknown(path, device, name))
        old = getattr(chain[-1], parts[-1])
        if isinstance(old, int) and not isinstance(old, bool):
            if float(value) != int(value):
                raise ValueError(f"device parameter {path} of {name} is an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)

        def where(d, parts=parts):
            for part in parts:
                d = getattr(d, part)
            return d

        device = eqx.tree_at(where, device, value)
        node = device
        for part in [None, *parts[:-1]]:  # re-run the checks of every module on the path
            node = node if part is None else getattr(node, part)
            check = getattr(node, "__check_init__", None)
            if check is not None:
                try:
                    check()
                except (ValueError, TypeError) as err:
                    raise ValueError(f"device parameter {path} = {value!r}: {err}") from None
    return device


def _field_names(module) -> set[str]:
    return {f.name for f in dataclasses.fields(module)}


def _unknown(path: str, device, name: str) -> str:
    known = ", ".join(device_parameters(device))
    return f"device parameter {path!r} is not a numeric parameter of {name} ({type(device).__name__}); its parameters: {known}"


__all__ = ["apply_device_params", "device_parameters"]
