"""Tests of pc_analog.io.data.

Oracles: IDX files are written here byte by byte with ``struct`` (independently of
the reader), the digits split is checked against scikit-learn's own arrays, and the
Fashion-MNIST reader against a direct gzip + ``numpy.frombuffer`` decode.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from pc_analog.errors import InvalidInputError
from pc_analog.io.data import (
    FASHION_MNIST_DIR,
    Dataset,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_idx_dataset,
    one_hot,
    read_idx,
    standardize,
)

# struct format character and type code for each element type in the IDX spec
_STRUCT_CODES = {
    "uint8": ("B", 0x08),
    "int8": ("b", 0x09),
    "int16": ("h", 0x0B),
    "int32": ("i", 0x0C),
    "float32": ("f", 0x0D),
    "float64": ("d", 0x0E),
}


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX with struct, element by element (independent of the reader)."""
    fmt, code = _STRUCT_CODES[array.dtype.name]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    flat = array.ravel().tolist()
    return header + struct.pack(f">{len(flat)}{fmt}", *flat)


def _write(path: Path, payload: bytes) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path


# ---------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10,
        np.array([5, 0, 9, 3, 255], dtype=np.uint8),
        np.array([[-128, 0, 127]], dtype=np.int8),
        np.array([-32768, -1, 2, 32767], dtype=np.int16),
        np.array([[-(2**31), 7], [123456, 2**31 - 1]], dtype=np.int32),
        np.array([1.5, -0.25, 3.0e38], dtype=np.float32),
        np.array([[np.pi, -1e-300], [2.0**60, 0.1]], dtype=np.float64),
    ],
    ids=["u8-3d", "u8-1d", "i8", "i16", "i32", "f32", "f64"],
)
def test_read_idx_round_trip(tmp_path, array, suffix):
    path = _write(tmp_path / f"a.idx{suffix}", _idx_bytes(array))
    got = read_idx(path)
    assert got.shape == array.shape
    assert got.dtype == array.dtype  # native byte order, same element type
    np.testing.assert_array_equal(got, array)


def test_read_idx_accepts_str_path_and_returns_writable(tmp_path):
    array = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    path = _write(tmp_path / "b.idx", _idx_bytes(array))
    got = read_idx(str(path))
    got[0, 0] = 9  # not a read-only view of the file buffer
    assert got[0, 0] == 9


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_count(tmp_path, suffix):
    array = np.arange(5 * 2 * 3, dtype=np.int16).reshape(5, 2, 3) - 7
    path = _write(tmp_path / f"c{suffix}", _idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path, count=2), array[:2])
    np.testing.assert_array_equal(read_idx(path, count=0), array[:0])
    np.testing.assert_array_equal(read_idx(path, count=99), array)
    with pytest.raises(InvalidInputError, match="count"):
        read_idx(path, count=-1)


def test_read_idx_count_still_detects_truncation(tmp_path):
    payload = _idx_bytes(np.zeros((4, 3), dtype=np.uint8))[:-2]  # 3 full rows + 1 byte
    path = _write(tmp_path / "short", payload)
    assert read_idx(path, count=3).shape == (3, 3)
    with pytest.raises(InvalidInputError, match="truncated"):
        read_idx(path, count=4)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_truncated_payload(tmp_path, suffix):
    payload = _idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))[:-1]
    path = _write(tmp_path / f"short{suffix}", payload)
    with pytest.raises(InvalidInputError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_idx_truncated_header(tmp_path):
    path = _write(tmp_path / "hdr", bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2))
    with pytest.raises(InvalidInputError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_empty_file(tmp_path):
    path = _write(tmp_path / "empty", b"")
    with pytest.raises(InvalidInputError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_trailing_bytes(tmp_path):
    path = _write(tmp_path / "long", _idx_bytes(np.zeros(4, dtype=np.uint8)) + b"\x00")
    with pytest.raises(InvalidInputError, match="trailing") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_bad_magic(tmp_path):
    good = _idx_bytes(np.zeros(4, dtype=np.uint8))
    path = _write(tmp_path / "magic", b"\x12\x34" + good[2:])
    with pytest.raises(InvalidInputError, match="magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_unknown_dtype_code(tmp_path):
    good = _idx_bytes(np.zeros(4, dtype=np.uint8))
    path = _write(tmp_path / "code", good[:2] + b"\x0a" + good[3:])
    with pytest.raises(InvalidInputError, match="dtype code 0x0A") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_not_gzip(tmp_path):
    path = _write(tmp_path / "plain.gz.tmp", _idx_bytes(np.zeros(4, dtype=np.uint8)))
    gz = path.rename(tmp_path / "plain.gz")  # named .gz but not compressed
    with pytest.raises(InvalidInputError) as info:
        read_idx(gz)
    assert str(gz) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(InvalidInputError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- IDX datasets


def _make_idx_folder(folder: Path, n_train=6, n_test=4, rows=3, cols=2, gz=True, seed=1):
    """Write a synthetic MNIST-style folder; return the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 3, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 3, n_test).astype(np.uint8),
    }
    arrays["train-labels-idx1-ubyte"][0] = 4  # so 1 + max label = 5 classes
    folder.mkdir(parents=True, exist_ok=True)
    for i, (stem, array) in enumerate(arrays.items()):
        # mix plain and gzip files when gz=True
        suffix = ".gz" if gz and i % 2 == 0 else ""
        _write(folder / f"{stem}{suffix}", _idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_load_idx_dataset(tmp_path, gz):
    arrays = _make_idx_folder(tmp_path / "synth", gz=gz)
    ds = load_idx_dataset(tmp_path / "synth", name="synth")
    assert isinstance(ds, Dataset)
    assert ds.name == "synth"
    assert ds.n_classes == 5
    assert ds.x_train.shape == (6, 6) and ds.x_test.shape == (4, 6)
    assert ds.x_train.dtype == np.float64
    # pixel (k, r, c) becomes feature (k, r*cols + c) = pixel / 255
    ti = arrays["train-images-idx3-ubyte"]
    for k, r, c in [(0, 0, 0), (5, 2, 1), (3, 1, 0)]:
        assert ds.x_train[k, r * 2 + c] == ti[k, r, c] / 255.0
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert np.issubdtype(ds.y_train.dtype, np.integer)


def test_load_idx_dataset_limits_and_spec(tmp_path):
    arrays = _make_idx_folder(tmp_path / "synth")
    ds = load_dataset(f"idx:{tmp_path / 'synth'}", limit_train=2, limit_test=3)
    assert ds.x_train.shape == (2, 6) and ds.x_test.shape == (3, 6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"][:3])
    assert ds.name == "synth"


def test_load_idx_dataset_missing_folder(tmp_path):
    folder = tmp_path / "absent"
    with pytest.raises(InvalidInputError) as info:
        load_idx_dataset(folder)
    assert str(folder) in str(info.value)


def test_load_idx_dataset_missing_file(tmp_path):
    _make_idx_folder(tmp_path / "synth", gz=False)
    (tmp_path / "synth" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InvalidInputError, match="missing") as info:
        load_idx_dataset(tmp_path / "synth")
    assert str(tmp_path / "synth" / "t10k-labels-idx1-ubyte") in str(info.value)


def test_load_idx_dataset_count_mismatch(tmp_path):
    arrays = _make_idx_folder(tmp_path / "synth", gz=False)
    labels = arrays["train-labels-idx1-ubyte"][:-1]
    _write(tmp_path / "synth" / "train-labels-idx1-ubyte", _idx_bytes(labels))
    with pytest.raises(InvalidInputError, match="labels"):
        load_idx_dataset(tmp_path / "synth")


# ---------------------------------------------------------------- one_hot, specs


def test_one_hot():
    y = one_hot([2, 0, 1, 2], 4)
    assert y.dtype == np.float64
    expected = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], float)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(y.argmax(axis=1), [2, 0, 1, 2])


@pytest.mark.parametrize("labels", [[0, 4], [-1, 0], [[0, 1]], [0.5, 1.0]])
def test_one_hot_rejects(labels):
    with pytest.raises(InvalidInputError):
        one_hot(labels, 4)


@pytest.mark.parametrize("spec", ["mnist", "idx:", "", "Digits"])
def test_load_dataset_unknown_spec(spec):
    with pytest.raises(InvalidInputError) as info:
        load_dataset(spec)
    if spec != "idx:":
        for valid in ("digits", "fashion-mnist", "idx:PATH"):
            assert valid in str(info.value)


# ---------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def sk_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_digits()


@pytest.fixture(scope="module")
def digits(sk_digits):
    return load_digits(test_fraction=0.2, seed=0)


def test_digits_shapes_and_range(digits):
    assert digits.name == "digits" and digits.n_classes == 10
    n_train, n_test = len(digits.y_train), len(digits.y_test)
    assert n_train + n_test == 1797
    assert digits.x_train.shape == (n_train, 64) and digits.x_test.shape == (n_test, 64)
    assert digits.x_train.dtype == np.float64
    for x in (digits.x_train, digits.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert digits.x_train.max() == 1.0  # full scale 16 maps to 1
    assert abs(n_test - 0.2 * 1797) <= 10  # per-class rounding only


def test_digits_split_is_a_partition_of_sklearn_data(digits, sk_digits):
    x_all = np.vstack([digits.x_train, digits.x_test]) * 16.0
    y_all = np.concatenate([digits.y_train, digits.y_test])
    # every sklearn row appears exactly once, with its label
    key = lambda x, y: sorted(map(tuple, np.column_stack([x, y]).tolist()))  # noqa: E731
    assert key(x_all, y_all) == key(sk_digits.data.astype(float), sk_digits.target)


def test_digits_stratified(digits, sk_digits):
    counts = np.bincount(sk_digits.target, minlength=10)
    test_counts = np.bincount(digits.y_test, minlength=10)
    assert np.all(test_counts >= 1)
    np.testing.assert_array_less(np.abs(test_counts - 0.2 * counts), 1.0)


def test_digits_deterministic(digits, sk_digits):
    again = load_digits(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again.x_train, digits.x_train)
    np.testing.assert_array_equal(again.y_test, digits.y_test)
    other = load_digits(test_fraction=0.2, seed=1)
    assert not np.array_equal(other.x_test, digits.x_test)


def test_digits_via_spec_and_bad_fraction(sk_digits):
    ds = load_dataset("digits", test_fraction=0.5, seed=3)
    assert abs(len(ds.y_test) - 1797 / 2) <= 10
    with pytest.raises(InvalidInputError, match="test_fraction"):
        load_digits(test_fraction=1.0)


# ---------------------------------------------------------------- fashion-mnist


def _require_fashion():
    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip(
            f"{FASHION_MNIST_DIR} missing: apt-get install dataset-fashion-mnist (Debian package)"
        )


def test_fashion_mnist_small():
    _require_fashion()
    ds = load_fashion_mnist(limit_train=50, limit_test=20)
    assert ds.name == "fashion-mnist" and ds.n_classes == 10
    assert ds.x_train.shape == (50, 784) and ds.x_test.shape == (20, 784)
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    for y in (ds.y_train, ds.y_test):
        assert y.min() >= 0 and y.max() <= 9
    # independent decode: labels file = 8-byte header then one uint8 per label
    with gzip.open(Path(FASHION_MNIST_DIR) / "train-labels-idx1-ubyte.gz", "rb") as fh:
        raw = fh.read(8 + 50)
    assert raw[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(ds.y_train, np.frombuffer(raw, np.uint8, offset=8))
    # first training image: 16-byte header then 28*28 uint8 pixels
    with gzip.open(Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz", "rb") as fh:
        raw = fh.read(16 + 784)
    pixels = np.frombuffer(raw, np.uint8, offset=16)
    np.testing.assert_array_equal(ds.x_train[0], pixels.astype(np.float64) / 255.0)


def test_fashion_mnist_via_spec():
    _require_fashion()
    ds = load_dataset("fashion-mnist", limit_train=3, limit_test=0)
    assert ds.x_train.shape == (3, 784) and ds.x_test.shape == (0, 784)


def test_fashion_mnist_missing_default_names_package(monkeypatch, tmp_path):
    monkeypatch.setattr("pc_analog.io.data.FASHION_MNIST_DIR", str(tmp_path / "none"))
    with pytest.raises(InvalidInputError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "dataset-fashion-mnist" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "\n" not in message


# ------------------------------------------------------------------ standardize
def test_standardize_uses_one_offset_and_gain_from_the_training_data():
    rng = np.random.default_rng(0)
    x_tr = rng.uniform(0, 1, size=(50, 7)) * np.arange(1, 8)
    x_te = rng.uniform(0, 1, size=(20, 7))
    a, b, m, s = standardize(x_tr, x_te)
    assert abs(a.mean()) < 1e-12 and abs(a.std() - 1) < 1e-12
    assert m == pytest.approx(x_tr.mean()) and s == pytest.approx(x_tr.std())
    # the test data gets the training map: an affine map with the same two scalars
    np.testing.assert_allclose(b * s + m, x_te, rtol=0, atol=1e-12)
    # per-feature structure is kept (scalars, not per-feature statistics)
    np.testing.assert_allclose(np.diff(a, axis=1), np.diff(x_tr, axis=1) / s, atol=1e-12)


def test_standardize_rejects_empty_or_constant_data():
    with pytest.raises(InvalidInputError, match="empty"):
        standardize(np.zeros((0, 3)))
    with pytest.raises(InvalidInputError, match="constant"):
        standardize(np.ones((4, 3)))
