"""Tests of the general data loaders (load_dataset / load_splits): IDX folders, EMNIST,
.npz files, content checksums, the SHA256SUMS manifest, and every structural error."""
import dataclasses
import gzip
import hashlib
import importlib.resources

import numpy as np
import pytest

from synaptax.training import datasets as ds
from synaptax.training.datasets import (
    Dataset,
    DatasetError,
    content_sha256,
    load_dataset,
    load_mnist,
    load_splits,
    split_validation,
    write_idx,
)

STD = ds.MNIST_FILES
BUNDLED = importlib.resources.files("synaptax") / "data"


def rng(seed=0):
    return np.random.default_rng(seed)


def write_pair(folder, images, labels, names, gz=True):
    """Write ``images``/``labels`` under ``names`` (image name, label name) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / (names[0] + suffix), images)
    write_idx(folder / (names[1] + suffix), labels)


def fake(n=12, shape=(5, 4), classes=4, seed=0, dtype=np.uint8):
    r = rng(seed)
    x = r.integers(0, 256, size=(n, *shape)).astype(dtype) if dtype == np.uint8 else \
        r.normal(size=(n, *shape)).astype(dtype)
    y = r.integers(0, classes, size=n).astype(np.uint8)
    y[0] = classes - 1
    return x, y


def message(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text, text
    return text


def gunzipped(name):
    return gzip.decompress((BUNDLED / name).read_bytes())


# --------------------------------------------------------------------------- Dataset


def test_dataset_fields_and_checks():
    x = np.zeros((3, 12), np.float32)
    d = Dataset(images=x, labels=np.array([0, 2, 1], np.int32), name="d", source="s", shape=[3, 2, 2], classes=3)
    assert d.shape == (3, 2, 2) and d.classes == 3 and d.num_classes == 3
    assert "shape=(3, 2, 2)" in repr(d) and "classes=3" in repr(d)
    # defaults keep old call sites valid: 784 -> MNIST shape, else a vector; >= 10 classes
    mn = Dataset(images=np.zeros((2, 784), np.float32), labels=np.array([0, 1], np.int32), name="m", source="")
    assert mn.shape == (1, 28, 28) and mn.classes == 10
    vec = Dataset(images=x, labels=np.array([0, 11, 1], np.int32), name="v", source="")
    assert vec.shape == (12,) and vec.classes == 12
    with pytest.raises(ValueError, match="prod"):
        Dataset(images=x, labels=np.zeros(3, np.int32), name="d", source="", shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        Dataset(images=x, labels=np.array([0, 3, 1], np.int32), name="d", source="", classes=3)
    with pytest.raises(ValueError, match="found -1"):
        Dataset(images=x, labels=np.array([0, -1, 1], np.int32), name="d", source="")
    train, val = split_validation(d, 1, key=np.array([0, 1], np.uint32))
    assert train.shape == val.shape == (3, 2, 2) and train.classes == val.classes == 3


# --------------------------------------------------------------------------- bundled


def test_bundled_through_load_dataset():
    train, test = load_splits()
    assert (train.name, test.name) == ("mnist-train-5k", "mnist-test")
    assert train.classes == test.classes == 10 and train.shape == (1, 28, 28)
    assert "bundled" in test.source and "content verified: MNIST" in test.source
    assert "content verified" in train.source
    assert "not verified: verify=False" in load_dataset(split="test", verify=False).source
    with pytest.raises(ValueError, match="split"):
        load_dataset(split="valid")


# --------------------------------------------------------------------------- IDX folders


@pytest.mark.parametrize(
    "shape, dtype, sample_shape",
    [((5, 4), np.uint8, (1, 5, 4)),            # idx3 (N, H, W)
     ((5, 4, 3), np.uint8, (3, 5, 4)),         # idx4 (N, H, W, C) -> channels first
     ((7,), np.float32, (7,)),                 # idx2 (N, D) of floats
     ((2, 3), np.float64, (1, 2, 3))],
)
def test_idx_folder_layouts(tmp_path, shape, dtype, sample_shape):
    folder = tmp_path / "toy"
    xtr, ytr = fake(12, shape, classes=3, seed=1, dtype=dtype)
    xte, yte = fake(8, shape, classes=5, seed=2, dtype=dtype)
    # names not in any checksum table: checked structurally only, even with verify on
    write_pair(folder, xtr, ytr, ("train-images.idx-ubyte", "train-labels.idx1-ubyte"))
    write_pair(folder, xte, yte, ("t10k-images.idx-ubyte", "t10k-labels.idx1-ubyte"), gz=False)
    train, test = load_splits(folder)
    assert (train.name, test.name) == ("toy-train", "toy-test")
    assert train.shape == test.shape == sample_shape
    assert train.classes == test.classes == 5          # from both splits
    assert load_dataset(folder, split="train").classes == 3
    assert "not verified: no known checksum" in train.source
    expect = xtr.transpose(0, 3, 1, 2) if len(shape) == 3 else xtr
    expect = expect.reshape(12, -1).astype(np.float32)
    if dtype == np.uint8:
        expect /= np.float32(255)
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int32
    np.testing.assert_array_equal(train.images, expect)
    np.testing.assert_array_equal(test.labels, yte)


def test_standard_names_gz_preferred_and_fake_content_refused(tmp_path):
    x, y = fake(6, (3, 3))
    write_pair(tmp_path, x, y, STD["test"], gz=True)
    write_pair(tmp_path, x[:2], y[:2], STD["test"], gz=False)  # plain twins: ignored
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path, split="test")
    text = message(info)
    assert "t10k-images-idx3-ubyte.gz" in text and "checksum mismatch" in text
    assert "MNIST, Fashion-MNIST" in text and "verify=False" in text and "--no-verify" in text
    data = load_dataset(tmp_path, split="test", verify=False)
    assert len(data) == 6 and data.source.endswith("(not verified: verify=False)")


def test_emnist_transposed_and_named(tmp_path):
    folder = tmp_path / "gzip"
    x, y = fake(5, (4, 6), classes=27)
    for split in ("train", "test"):
        write_pair(folder, x, y, (f"emnist-letters-{split}-images-idx3-ubyte",
                                  f"emnist-letters-{split}-labels-idx1-ubyte"))
    train, test = load_splits(folder)
    assert train.name == "emnist-letters-train" and test.name == "emnist-letters-test"
    assert train.shape == (1, 6, 4)
    np.testing.assert_array_equal(train.images.reshape(5, 6, 4), x.transpose(0, 2, 1) / np.float32(255))
    # a second subset in the folder is ambiguous
    write_pair(folder, x, y, ("emnist-digits-test-images-idx3-ubyte", "emnist-digits-test-labels-idx1-ubyte"))
    with pytest.raises(DatasetError) as info:
        load_dataset(folder, split="test")
    assert "2 subsets (digits, letters)" in message(info)
    # a subset missing a file
    other = tmp_path / "one"
    write_pair(other, x, y, ("emnist-mnist-train-images-idx3-ubyte", "emnist-mnist-train-labels-idx1-ubyte"))
    with pytest.raises(DatasetError, match=r"missing: emnist-mnist-test-images-idx3-ubyte\[\.gz\]"):
        load_splits(other)


def test_missing_and_ambiguous_files(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_splits(tmp_path)
    text = message(info)
    assert "expected 4 files" in text and "t10k-labels-idx1-ubyte[.gz]" in text and "found: nothing" in text
    x, y = fake()
    write_pair(tmp_path, x, y, ("my-train-images-a", "my-train-labels"), gz=False)
    write_idx(tmp_path / "my-train-images-b", x)
    with pytest.raises(DatasetError, match="several files could be the train images: my-train-images-a, "
                                           "my-train-images-b"):
        load_dataset(tmp_path, split="train")
    with pytest.raises(DatasetError, match="found: my-train-images-a, my-train-images-b, my-train-labels"):
        load_dataset(tmp_path, split="test")
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a folder of IDX files or a .npz file"):
        load_dataset(tmp_path / "my-train-labels")


def _idx(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes() + payload


def _gz_bad_crc(raw):
    data = bytearray(gzip.compress(raw, mtime=0))
    data[-8] ^= 0xFF
    return bytes(data)


GOOD_IMAGES = _idx(0x08, (4, 2, 2), bytes(16))
GOOD_LABELS = _idx(0x08, (4,), bytes([0, 1, 2, 1]))


@pytest.mark.parametrize(
    "images, labels, pattern",
    [
        (GOOD_IMAGES, _idx(0x08, (3,), bytes(3)), "holds 4 images but .* holds 3 labels"),
        (GOOD_IMAGES, GOOD_IMAGES, r"labels-x: wrong magic number 0x00000803 for a label file.*swapped"),
        (GOOD_LABELS, GOOD_LABELS, r"images-x: an IDX image file needs .*swapped"),
        (b"\x08\x03" + GOOD_IMAGES[2:], GOOD_LABELS, "images-x: bad IDX magic number 0x0803"),
        (GOOD_IMAGES[:2] + b"\x07" + GOOD_IMAGES[3:], GOOD_LABELS, "unsupported IDX data type code 0x07"),
        (GOOD_IMAGES[:-1], GOOD_LABELS, "images-x: truncated data"),
        (GOOD_IMAGES + b"\x00", GOOD_LABELS, "images-x: 1 unexpected trailing bytes"),
        (_gz_bad_crc(GOOD_IMAGES), GOOD_LABELS, "images-x: corrupt or truncated gzip data"),
        (gzip.compress(GOOD_IMAGES, mtime=0)[:-6], GOOD_LABELS, "images-x: corrupt or truncated gzip data"),
        (GOOD_IMAGES, _idx(0x0D, (4,), np.zeros(4, ">f4").tobytes()), "labels-x: labels must be integers"),
        (GOOD_IMAGES, _idx(0x09, (4,), bytes([0, 1, 255, 1])), "labels-x: labels must be >= 0, found -1"),
        (_idx(0x0D, (4, 2), np.array([0, 1, np.nan, 0, 0, 0, 0, 0], ">f4").tobytes()), GOOD_LABELS,
         "images-x: 1 pixel values are NaN or infinite .* sample 1"),
        (_idx(0x0B, (4, 2), bytes(16)), GOOD_LABELS, "images-x: pixels of type int16 are not supported"),
        (_idx(0x08, (0, 2, 2), b""), _idx(0x08, (0,), b""), "images-x: holds no samples"),
    ],
)
def test_idx_structural_errors(tmp_path, images, labels, pattern):
    (tmp_path / "test-images-x").write_bytes(images)
    (tmp_path / "test-labels-x").write_bytes(labels)
    for verify in (True, False):   # structural checks run with or without verification
        with pytest.raises(DatasetError, match=pattern) as info:
            load_dataset(tmp_path, split="test", verify=verify)
        message(info)


# --------------------------------------------------------------------------- checksums


@pytest.fixture()
def regzipped(tmp_path):
    """The bundled (official) MNIST test files, re-gzipped differently, also under train names."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split in ("test", "train"):   # train names hold test content: only split="test" is genuine
        for name, stem in zip(STD["test"], STD[split]):
            (folder / (stem + ".gz")).write_bytes(gzip.compress(gunzipped(name + ".gz"), compresslevel=1,
                                                                mtime=1234567890))
    assert (folder / "t10k-images-idx3-ubyte.gz").read_bytes() != (BUNDLED / "t10k-images-idx3-ubyte.gz").read_bytes()
    return folder


def test_regzipped_mnist_verifies(regzipped, tmp_path):
    bundled = load_dataset(split="test")
    data = load_dataset(regzipped, split="test")
    assert data.name == "mnist-test"
    assert data.source == (f"{regzipped / 't10k-images-idx3-ubyte.gz'}, t10k-labels-idx1-ubyte.gz "
                           "(content verified: MNIST)")
    np.testing.assert_array_equal(data.images, bundled.images)
    np.testing.assert_array_equal(data.labels, bundled.labels)
    assert load_mnist(regzipped, split="test").source.endswith("(content verified: MNIST)")
    # gunzipped copies verify too
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in STD["test"]:
        (plain / name).write_bytes(gunzipped(name + ".gz"))
    assert "content verified: MNIST" in load_dataset(plain, split="test").source
    # the train names hold test content, which is not MNIST's training set
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: checksum mismatch"):
        load_dataset(regzipped, split="train")


def test_tampered_mnist_refused(tmp_path):
    raw = bytearray(gunzipped("t10k-images-idx3-ubyte.gz"))
    raw[16 + 5 * 784 + 400] ^= 0x01   # one pixel of one image
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gunzipped("t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path, split="test")
    text = message(info)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in text and "MNIST" in text and "verify=False" in text
    data = load_dataset(tmp_path, split="test", verify=False)
    assert len(data) == 10000 and "not verified" in data.source


def test_images_and_labels_of_different_known_sets(tmp_path, monkeypatch):
    fake_labels = _idx(0x08, (10000,), bytes(10000))
    monkeypatch.setitem(ds.KNOWN_CONTENT_MD5, "Other", {"t10k-labels-idx1-ubyte": hashlib.md5(fake_labels).hexdigest()})
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(gunzipped("t10k-images-idx3-ubyte.gz"))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(fake_labels)
    with pytest.raises(DatasetError, match="different data sets .*t10k-images-idx3-ubyte is MNIST, "
                                           "t10k-labels-idx1-ubyte is Other"):
        load_dataset(tmp_path, split="test")


def test_manifest(tmp_path):
    x, y = fake(6, (3, 3))
    write_pair(tmp_path, x, y, STD["test"])   # standard names, not MNIST content
    img, lab = (tmp_path / (n + ".gz") for n in STD["test"])
    assert content_sha256(img) == hashlib.sha256(gzip.decompress(img.read_bytes())).hexdigest()
    # listed under the plain name although the file is gzipped: the digest is of the content
    (tmp_path / "SHA256SUMS").write_text(f"# my data\n{content_sha256(img)}  t10k-images-idx3-ubyte\n"
                                         f"{content_sha256(lab).upper()} *t10k-labels-idx1-ubyte.gz\n\n")
    data = load_dataset(tmp_path, split="test")
    assert data.source.endswith("(content verified: SHA256SUMS)")
    (tmp_path / "SHA256SUMS").write_text(f"{content_sha256(img)}  t10k-images-idx3-ubyte.gz\n"
                                         f"{'0' * 64}  t10k-labels-idx1-ubyte.gz\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path, split="test")
    text = message(info)
    assert str(lab) in text and "SHA-256 checksum mismatch" in text and "0" * 64 in text
    assert len(load_dataset(tmp_path, split="test", verify=False)) == 6
    (tmp_path / "SHA256SUMS").write_text("not a digest  t10k-labels-idx1-ubyte.gz\n")
    with pytest.raises(DatasetError, match="SHA256SUMS, line 1: expected"):
        load_dataset(tmp_path, split="test")


# --------------------------------------------------------------------------- .npz


def test_npz_variants(tmp_path):
    r = rng(3)
    x8 = r.integers(0, 256, size=(10, 6, 5), dtype=np.uint8)
    np.savez(tmp_path / "grey.npz", x_train=x8, y_train=np.arange(10) % 4, x_test=x8[:3], y_test=np.array([0, 6, 1]))
    train, test = load_splits(tmp_path / "grey.npz")
    assert (train.name, test.name) == ("grey-train", "grey-test")
    assert train.shape == (1, 6, 5) and train.classes == test.classes == 7
    np.testing.assert_array_equal(train.images, x8.reshape(10, -1) / np.float32(255))
    assert "grey.npz [x_train, y_train] (not verified: no known checksum)" in train.source

    rgb = r.normal(size=(4, 3, 2, 3)).astype(np.float64)   # (N, H, W, C)
    np.savez_compressed(tmp_path / "rgb.npz", x_train=rgb, y_train=np.array([0, 1, 2, 1], np.int64),
                        x_test=rgb[:1], y_test=np.array([1], np.uint8))
    train = load_dataset(tmp_path / "rgb.npz")
    assert train.shape == (3, 3, 2) and train.classes == 3
    np.testing.assert_allclose(train.images.reshape(4, 3, 3, 2), rgb.transpose(0, 3, 1, 2), rtol=1e-6)

    vec = r.normal(size=(5, 9)).astype(np.float32)
    np.savez(tmp_path / "vec.npz", x_train=vec, y_train=np.zeros(5, np.int32), x_test=vec, y_test=np.ones(5, np.int32))
    train, test = load_splits(tmp_path / "vec.npz")
    assert train.shape == (9,) and train.classes == 2
    np.testing.assert_array_equal(test.images, vec)
    # a manifest next to the .npz covers the file itself
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256((tmp_path / 'vec.npz').read_bytes()).hexdigest()}  vec.npz\n")
    assert load_dataset(tmp_path / "vec.npz").source.endswith("(content verified: SHA256SUMS)")


def test_split_shapes_must_agree(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0, 1],
             x_test=np.zeros((2, 5, 5), np.uint8), y_test=[0, 1])
    with pytest.raises(DatasetError, match=r"train samples have shape \(1, 4, 4\) but test samples \(1, 5, 5\)"):
        load_splits(tmp_path / "d.npz")
    assert load_dataset(tmp_path / "d.npz", split="test").shape == (1, 5, 5)


GOOD_X = np.zeros((3, 2, 2), np.uint8)
GOOD_Y = np.array([0, 1, 2])


@pytest.mark.parametrize(
    "arrays, pattern",
    [
        ({"x_train": GOOD_X, "y_train": GOOD_Y, "y_test": GOOD_Y},
         r"x_test missing from .*d\.npz \(keys: x_train, y_train, y_test\)"),
        ({"y_test": GOOD_Y.astype(float)}, r"y_test in .*d\.npz: labels must be integers, got float64"),
        ({"y_test": np.eye(3, dtype=np.int64)}, r"y_test in .*: labels have shape \(3, 3\).*argmax"),
        ({"y_test": np.array([0, -2, 1])}, "y_test in .*: labels must be >= 0, found -2"),
        ({"y_test": np.array([0, 1])}, "x_test in .* holds 3 images but y_test in .* holds 2 labels"),
        ({"x_test": np.array([[0, np.nan], [0, 1], [np.inf, 0]])},
         "x_test in .*: 2 pixel values are NaN or infinite"),
        ({"x_test": np.zeros((3, 2, 2, 5), np.uint8)}, r"x_test in .*: 4-D images must be channels last"),
        ({"x_test": np.zeros((3, 2), np.int64)}, "x_test in .*: pixels of type int64 are not supported"),
        ({"x_test": np.zeros(3, np.uint8)}, r"x_test in .*: samples must be"),
        ({"x_test": np.zeros((0, 2), np.uint8), "y_test": np.zeros(0, np.uint8)}, "x_test in .*: holds no samples"),
        ({"x_test": np.array([None, None, None])}, "x_test in .*: cannot read .*allow_pickle"),
    ],
)
def test_npz_errors(tmp_path, arrays, pattern):
    full = {"x_train": GOOD_X, "y_train": GOOD_Y, "x_test": GOOD_X, "y_test": GOOD_Y}
    full.update(arrays)
    if "x_test" not in arrays and "x_train" in arrays:
        del full["x_test"]
    np.savez(tmp_path / "d.npz", **full)
    with pytest.raises(DatasetError, match=pattern) as info:
        load_dataset(tmp_path / "d.npz", split="test", verify=False)
    message(info)


def test_npz_not_an_archive(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="junk.npz: cannot read as a .npz archive"):
        load_dataset(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", GOOD_X)
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(DatasetError, match="single.npz: holds a single array"):
        load_dataset(tmp_path / "single.npz")


def test_replace_keeps_fields():
    d = load_dataset(split="test")
    sub = dataclasses.replace(d, images=d.images[:5], labels=d.labels[:5])
    assert sub.shape == (1, 28, 28) and sub.classes == 10
