"""The preset registry: every family's ``PRESETS`` merged under one name space.

A family lists its presets in its own ``presets`` module (``NAME: factory``); this module
only merges them, so adding a preset to an existing family touches that one file.  The CLI's
``--device`` choices and the conformance tests read :data:`PRESETS`; :func:`get_preset` also
takes a device file's path.
"""
from __future__ import annotations

from .electrochemical import PRESETS as _ELECTROCHEMICAL
from .generic import PRESETS as _GENERIC
from .magnetoionic import PRESETS as _MAGNETOIONIC
from .pcm import PRESETS as _PCM
from .spintronic import PRESETS as _SPINTRONIC


def _merge(*tables):
    merged = {}
    for table in tables:
        for name, factory in table.items():
            if name in merged:
                raise RuntimeError(f"preset name {name!r} is defined by two families")
            merged[name] = factory
    return merged


#: Name → factory (no arguments) of every preset of every family.
PRESETS = _merge(_GENERIC, _ELECTROCHEMICAL, _SPINTRONIC, _MAGNETOIONIC, _PCM)


def get_preset(name: str):
    """The preset device called ``name``, or the device of a device file when ``name``
    ends in ``.toml`` (:func:`synaptax.devices.fitting.load_device_file`; written by
    ``synaptax fit`` or by hand); ``ValueError`` listing the valid names otherwise."""
    from .fitting.devicefile import is_device_file, load_device_file

    if is_device_file(name):
        return load_device_file(name).device
    try:
        factory = PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown device {name!r}; valid names: {', '.join(sorted(PRESETS))}") from None
    return factory()


__all__ = ["PRESETS", "get_preset"]
