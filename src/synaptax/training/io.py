"""Atomic file writes and checkpoints: a run never loses finished work."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import equinox as eqx


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_checkpoint(path: str | os.PathLike, tree, meta: dict) -> None:
    """Save a pytree (``eqx.tree_serialise_leaves``) and its JSON metadata atomically.

    The metadata goes to ``path + '.json'`` after the leaves, so a metadata file always
    describes a complete checkpoint."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    eqx.tree_serialise_leaves(tmp, tree)
    os.replace(tmp, path)
    atomic_write_json(path.with_name(path.name + ".json"), meta)


def load_checkpoint(path: str | os.PathLike, like):
    """Load a checkpoint written by :func:`save_checkpoint` into the structure of ``like``.

    Returns ``(tree, meta)``."""
    path = Path(path)
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    return eqx.tree_deserialise_leaves(path, like), meta

__all__ = [
    "atomic_write_bytes", "atomic_write_json", "load_checkpoint", "save_checkpoint",
]
