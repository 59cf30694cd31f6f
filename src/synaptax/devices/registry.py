"""The preset registry: every family's ``PRESETS`` merged under one name space.

A family lists its presets in its own ``presets`` module (``NAME: factory``); this module
only merges them, so adding a preset to an existing family touches that one file.  The CLI's
``--device`` choices and the conformance tests read :data:`PRESETS`.
"""
from __future__ import annotations

from .electrochemical import PRESETS as _ELECTROCHEMICAL
from .generic import PRESETS as _GENERIC
from .magnetoionic import PRESETS as _MAGNETOIONIC
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
PRESETS = _merge(_GENERIC, _ELECTROCHEMICAL, _SPINTRONIC, _MAGNETOIONIC)


def get_preset(name: str):
    """The preset device called ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        factory = PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown device {name!r}; valid names: {', '.join(sorted(PRESETS))}") from None
    return factory()


__all__ = ["PRESETS", "get_preset"]
