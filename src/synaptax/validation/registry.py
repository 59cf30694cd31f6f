"""Registry of validation targets (see the package docstring)."""
from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Callable

#: Modules that register targets when imported (one per device family).
TARGET_MODULES: tuple[str, ...] = ("synaptax.validation.ecram_targets", "synaptax.validation.ferrimagnet_targets", "synaptax.validation.magnetoionic_targets",)


@dataclasses.dataclass(frozen=True)
class Target:
    """One validation target.

    Attributes:
        id: short identifier, e.g. ``"C2"``.
        description: what is checked, in one line.
        source: the paper (file in shared/papers) and figure or table.
        run: the protocol; returns a dict with at least ``measured``, ``expected`` and
            ``passed`` (bool) and any extra keys (``tolerance``, details).
        known_failure: None, or the honest reason (with the measured number) why the model
            does not meet the target yet; such targets are reported as not passed.
    """

    id: str
    description: str
    source: str
    run: Callable[[], dict]
    known_failure: str | None = None


TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    """Add ``target`` to the registry (ids are unique)."""
    if target.id in TARGETS:
        raise ValueError(f"validation target {target.id!r} is registered twice")
    TARGETS[target.id] = target
    return target


def _load() -> None:
    for name in TARGET_MODULES:
        importlib.import_module(name)


def _key(tid: str):
    m = re.match(r"([A-Za-z]+)(\d+)$", tid)
    return (m.group(1), int(m.group(2))) if m else (tid, 0)


def target_ids() -> list[str]:
    """All registered target ids, sorted (A1, A2, …, B1, …)."""
    _load()
    return sorted(TARGETS, key=_key)


def run_target(tid: str) -> dict:
    """Run target ``tid``'s protocol; return ``{target, description, source, measured,
    expected, passed, …}``.  ``ValueError`` listing valid ids for an unknown id."""
    _load()
    tid = tid.upper()
    if tid not in TARGETS:
        raise ValueError(f"unknown validation target {tid!r}; valid: {', '.join(target_ids()) or 'none yet'}")
    t = TARGETS[tid]
    result = dict(t.run())
    for key in ("measured", "expected", "passed"):
        if key not in result:
            raise RuntimeError(f"target {tid}'s protocol did not return {key!r}")
    result["passed"] = bool(result["passed"])
    out = {"target": t.id, "description": t.description, "source": t.source}
    out.update(result)
    if t.known_failure:
        out["known_failure"] = t.known_failure
    return out

__all__ = [
    "Target", "register", "run_target", "target_ids",
]
