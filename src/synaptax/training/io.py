"""Atomic file writes and verified checkpoints: a run never loses finished work.

Every file is written to a temporary file in the same folder and renamed over its name,
so a reader sees the old content or the new, never a torn one.  Files are created with
the permissions the user's umask allows (``0o666 & ~umask``), as ``open()`` would.

A checkpoint is two files: the pytree's leaves (``eqx.tree_serialise_leaves``) and a
JSON metadata file beside it (``<name>.json``), written after the leaves and holding
their size and SHA-256.  :func:`load_checkpoint` checks both and reports a truncated,
empty or foreign file as one :class:`CheckpointError` line naming the file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import equinox as eqx

from .._files import atomic_write_bytes


class CheckpointError(ValueError):
    """A checkpoint or its metadata cannot be used; the message names the file and why."""


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON (UTF-8, non-ASCII characters kept), atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode())


def read_json(path: str | os.PathLike, what: str = "file") -> dict:
    """Read a JSON object from ``path``; a missing, unreadable, truncated or non-object
    file raises :class:`CheckpointError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{what} {str(path)!r} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    if not text.strip():
        raise CheckpointError(f"{what} {str(path)!r} is empty")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{what} {str(path)!r} is not valid JSON (truncated or corrupt?): "
                              f"{err.msg} at line {err.lineno}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} {str(path)!r} does not hold a JSON object")
    return obj


def meta_path(path: str | os.PathLike) -> Path:
    """The metadata file of the checkpoint at ``path`` (``path + '.json'``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_checkpoint(path: str | os.PathLike, tree, meta: dict) -> None:
    """Save a pytree (``eqx.tree_serialise_leaves``) and its JSON metadata atomically.

    The metadata (``meta`` plus ``checkpoint_bytes`` and ``checkpoint_sha256`` of the
    leaves) goes to ``path + '.json'`` after the leaves, so a metadata file always
    describes a complete checkpoint, and a leaves file replaced or truncated later is
    detected on load."""
    path = Path(path)
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    full = dict(meta) | {"checkpoint_bytes": len(data), "checkpoint_sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_json(meta_path(path), full)


def load_checkpoint(path: str | os.PathLike, like):
    """Load a checkpoint written by :func:`save_checkpoint` into the structure of ``like``.

    Returns ``(tree, meta)``, ``meta`` as it was saved (the integrity fields removed).  Raises :class:`CheckpointError` (one line, naming the file)
    when the metadata is missing, empty or not JSON, when the leaves file is missing or
    its size or SHA-256 differ from the metadata's (truncated or replaced), or when its
    arrays do not fit ``like`` (a checkpoint of another model)."""
    path = Path(path)
    meta = read_json(meta_path(path), "checkpoint metadata")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist (its metadata does)") from None
    except OSError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {err.strerror or err}") from None
    if not data:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty")
    size, digest = meta.pop("checkpoint_bytes", None), meta.pop("checkpoint_sha256", None)
    if size is not None and size != len(data):
        raise CheckpointError(f"checkpoint {str(path)!r} has {len(data)} bytes, its metadata says {size} "
                              "(truncated or replaced)")
    if digest is not None and digest != hashlib.sha256(data).hexdigest():
        raise CheckpointError(f"checkpoint {str(path)!r} does not match the SHA-256 in its metadata (corrupt)")
    try:
        tree = eqx.tree_deserialise_leaves(io.BytesIO(data), like)
    except Exception as err:  # equinox/numpy raise assorted errors on foreign or garbage bytes
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit this model (another configuration, "
                              f"or corrupt): {reason[:160]}") from None
    return tree, meta

__all__ = [
    "CheckpointError", "atomic_write_bytes", "atomic_write_json", "load_checkpoint", "meta_path", "read_json",
    "save_checkpoint",
]
