"""Tests for tinygrad_sm.data (pure NumPy datasets and data utilities)."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_sm.data import batches, blobs, digits, mnist, spiral, train_test_split
from tinygrad_sm.data._rng import _as_generator

DIGITS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


# --------------------------------------------------------------------------- rng


def test_as_generator_int_generator_and_errors():
    g = np.random.default_rng(0)
    assert _as_generator(g) is g
    a = _as_generator(5).random(4)
    b = _as_generator(np.int64(5)).random(4)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match=r"rng"):
        _as_generator("seed")
    with pytest.raises(TypeError):
        _as_generator(1.5)
    with pytest.raises(TypeError):
        _as_generator(True)
    with pytest.raises(ValueError):
        _as_generator(-1)


def test_none_rng_follows_manual_seed():
    import tinygrad_sm

    tinygrad_sm.manual_seed(7)
    first = spiral(n_per_class=10, rng=None)[0]
    tinygrad_sm.manual_seed(7)
    again = spiral(n_per_class=10, rng=None)[0]
    np.testing.assert_array_equal(first, again)
    assert _as_generator(None) is tinygrad_sm.random.default_generator()


# ------------------------------------------------------------------------ spiral


def test_spiral_shapes_dtypes_ranges():
    X, y = spiral(n_per_class=50, n_classes=4, rng=0)
    assert X.shape == (200, 2) and X.dtype == np.float32
    assert y.shape == (200,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50] * 4)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1.0 + 1e-6
    # Radius goes 0..1 along each arm, whatever the angle noise.
    for k in range(4):
        r = radius[y == k]
        np.testing.assert_allclose(r, np.linspace(0, 1, 50), atol=1e-6)


def test_spiral_defaults_and_no_noise_geometry():
    X, y = spiral()
    assert X.shape == (300, 2) and set(np.unique(y)) == {0, 1, 2}
    X, y = spiral(n_per_class=5, n_classes=2, noise=0.0, rng=1)
    # Last point of class 0: radius 1, angle 4 rad.
    np.testing.assert_allclose(X[4], [np.sin(4.0), np.cos(4.0)], atol=1e-6)
    # Last point of class 1: radius 1, angle 8 rad.
    np.testing.assert_allclose(X[9], [np.sin(8.0), np.cos(8.0)], atol=1e-6)


def test_spiral_determinism():
    a = spiral(rng=7)
    b = spiral(rng=7)
    c = spiral(rng=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(
        spiral(rng=np.random.default_rng(3))[0], spiral(rng=3)[0]
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"n_per_class": 0}, {"n_classes": 0}, {"n_per_class": 2.5}, {"noise": -0.1}],
)
def test_spiral_bad_args(kwargs):
    with pytest.raises(ValueError):
        spiral(**kwargs)


# ------------------------------------------------------------------------- blobs


def test_blobs_shapes_dtypes_and_clusters():
    X, y = blobs(n_per_class=200, n_classes=4, n_features=3, spread=0.1, rng=0)
    assert X.shape == (800, 3) and X.dtype == np.float32
    assert y.shape == (800,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [200] * 4)
    means = np.stack([X[y == k].mean(axis=0) for k in range(4)])
    stds = np.stack([X[y == k].std(axis=0) for k in range(4)])
    assert np.all(np.abs(means) < 5.0 + 0.1)
    np.testing.assert_allclose(stds, 0.1, rtol=0.2)


def test_blobs_defaults_and_determinism():
    X, y = blobs()
    assert X.shape == (300, 2) and set(np.unique(y)) == {0, 1, 2}
    a, b, c = blobs(rng=1), blobs(rng=1), blobs(rng=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs",
    [{"n_features": 0}, {"n_classes": -1}, {"spread": -1.0}, {"spread": np.nan}],
)
def test_blobs_bad_args(kwargs):
    with pytest.raises(ValueError):
        blobs(**kwargs)


# ------------------------------------------------------------------------ digits


def test_digits():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # Raw values were integer counts 0..16.
    np.testing.assert_array_equal(X * 16, np.round(X * 16))
    np.testing.assert_array_equal(np.bincount(y), DIGITS_COUNTS)
    # First image of scikit-learn's copy is a zero.
    assert y[0] == 0 and X[0, 2] == 5 / 16
    # Fresh arrays on every call.
    X2, _ = digits()
    X2[0, 0] = 0.5
    assert digits()[0][0, 0] == 0.0


def test_digits_licence_shipped():
    text = (
        resources.files("tinygrad_sm.data").joinpath("DIGITS_LICENSE.txt").read_text()
    )
    assert "10.24432/C50P49" in text and "CC BY 4.0" in text
    assert "10.24432/C50P49" in digits.__doc__


# ------------------------------------------------------------------------- mnist


def _idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | arr.ndim
    header = magic.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in arr.shape
    )
    return header + arr.tobytes()


def _write(path: Path, data: bytes) -> None:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def _make_split(
    root: Path, prefix: str, n: int, seed: int, gz: bool = False, dotted: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    sep = "." if dotted else "-"
    suffix = ".gz" if gz else ""
    _write(root / f"{prefix}-images{sep}idx3-ubyte{suffix}", _idx_bytes(images))
    _write(root / f"{prefix}-labels{sep}idx1-ubyte{suffix}", _idx_bytes(labels))
    return images, labels


def _check(X, y, images, labels):
    assert X.dtype == np.float32 and X.shape == (len(images), 784)
    assert y.dtype == np.int64 and y.shape == (len(labels),)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X * 255, images.reshape(len(images), -1), atol=1e-4)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_train_and_test(tmp_path, gz):
    train = _make_split(tmp_path, "train", 6, seed=0, gz=gz)
    test = _make_split(tmp_path, "t10k", 3, seed=1, gz=gz)
    _check(*mnist(tmp_path), *train)
    _check(*mnist(str(tmp_path), split="train"), *train)
    _check(*mnist(tmp_path, split="test"), *test)


def test_mnist_dotted_names(tmp_path):
    test = _make_split(tmp_path, "t10k", 4, seed=2, dotted=True)
    _check(*mnist(tmp_path, split="test"), *test)


def test_mnist_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=r"nope"):
        mnist(missing)


def test_mnist_missing_file_names_it(tmp_path):
    _make_split(tmp_path, "train", 2, seed=0)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as info:
        mnist(tmp_path)
    msg = str(info.value)
    assert "train-labels-idx1-ubyte" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path) in msg
    assert "train-images" not in msg  # that one was found
    with pytest.raises(FileNotFoundError) as info:
        mnist(tmp_path, split="test")
    assert "t10k-images-idx3-ubyte" in str(info.value)
    assert "t10k-labels-idx1-ubyte" in str(info.value)


def test_mnist_unknown_split(tmp_path):
    with pytest.raises(ValueError, match=r"'train'.*'test'"):
        mnist(tmp_path, split="validation")


def test_mnist_bad_magic(tmp_path):
    _make_split(tmp_path, "train", 2, seed=0)
    labels = np.zeros(2, dtype=np.uint8)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(labels, magic=0x0803))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*magic"):
        mnist(tmp_path)


def test_mnist_truncated(tmp_path):
    _make_split(tmp_path, "train", 3, seed=0, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    _write(path, raw[:-10])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*truncated"):
        mnist(tmp_path)
    _write(path, raw[:10])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*truncated"):
        mnist(tmp_path)
    _write(path, raw + b"\x00")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz"):
        mnist(tmp_path)


def test_mnist_corrupt_gzip(tmp_path):
    _make_split(tmp_path, "train", 2, seed=0, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz"):
        mnist(tmp_path)


def test_mnist_count_mismatch(tmp_path):
    _make_split(tmp_path, "train", 4, seed=0)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match=r"4 images.*3 labels"):
        mnist(tmp_path)


# -------------------------------------------------------------- train_test_split


def test_train_test_split_sizes_order_and_coverage():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, rng=0)
    assert (len(X_train), len(X_test), len(y_train), len(y_test)) == (7, 3, 7, 3)
    assert X_train.shape[1] == 2 and X_train.dtype == np.float32
    # Rows stay paired with their labels.
    np.testing.assert_array_equal(X_train[:, 0], 2 * y_train)
    np.testing.assert_array_equal(X_test[:, 0], 2 * y_test)
    assert set(y_train).isdisjoint(y_test)
    assert sorted(np.concatenate([y_train, y_test])) == list(range(10))


def test_train_test_split_counts_and_determinism():
    X, y = np.zeros((10, 1)), np.arange(10)
    assert len(train_test_split(X, y, test_size=0.25, rng=0)[1]) == 3  # ceil(2.5)
    assert len(train_test_split(X, y, test_size=0.01, rng=0)[1]) == 1
    assert len(train_test_split(X, y, test_size=4, rng=0)[1]) == 4
    assert len(train_test_split(X, y, test_size=np.int64(9), rng=0)[1]) == 9
    a = train_test_split(X, y, rng=3)
    b = train_test_split(X, y, rng=3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    outs = {tuple(train_test_split(X, y, rng=s)[3]) for s in range(5)}
    assert len(outs) > 1


@pytest.mark.parametrize(
    "test_size", [0.0, 1.0, -0.5, 1.5, 0, 10, -1, True, "0.2", None]
)
def test_train_test_split_bad_test_size(test_size):
    with pytest.raises(ValueError, match=r"test_size"):
        train_test_split(np.zeros((10, 2)), np.zeros(10), test_size=test_size)


def test_train_test_split_too_few_samples_and_length_mismatch():
    with pytest.raises(ValueError, match=r"no training samples"):
        train_test_split(np.zeros((1, 2)), np.zeros(1), test_size=0.5)
    with pytest.raises(ValueError, match=r"lengths"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 200), frac=st.floats(0.01, 0.99), seed=st.integers(0, 2**32))
def test_train_test_split_property(n, frac, seed):
    y = np.arange(n)
    X = y[:, None] * 10
    n_test = int(np.ceil(frac * n))
    if n_test >= n:  # would leave no training sample: rejected
        with pytest.raises(ValueError, match=r"no training samples"):
            train_test_split(X, y, test_size=frac, rng=seed)
        return
    X_train, _, y_train, y_test = train_test_split(X, y, test_size=frac, rng=seed)
    assert len(y_test) == n_test and len(y_train) == n - n_test
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), y)
    np.testing.assert_array_equal(X_train[:, 0], 10 * y_train)


# ----------------------------------------------------------------------- batches


def test_batches_coverage_and_sizes():
    X = np.arange(23, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    y = np.arange(23)
    out = list(batches(X, y, batch_size=5, rng=0))
    assert [len(xb) for xb, _ in out] == [5, 5, 5, 5, 3]
    assert all(len(xb) == len(yb) for xb, yb in out)
    seen = np.concatenate([yb for _, yb in out])
    np.testing.assert_array_equal(np.sort(seen), y)
    assert not np.array_equal(seen, y)  # shuffled
    for xb, yb in out:
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_batches_no_shuffle_and_determinism():
    X, y = np.arange(10)[:, None], np.arange(10)
    out = list(batches(X, y, batch_size=4, shuffle=False))
    assert [yb.tolist() for _, yb in out] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    a = [yb.tolist() for _, yb in batches(X, y, 3, rng=1)]
    b = [yb.tolist() for _, yb in batches(X, y, 3, rng=1)]
    assert a == b
    # One generator across calls gives a new order each epoch, covering all samples.
    g = np.random.default_rng(0)
    e1 = np.concatenate([yb for _, yb in batches(X, y, 3, rng=g)])
    e2 = np.concatenate([yb for _, yb in batches(X, y, 3, rng=g)])
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(np.sort(e1), y)
    np.testing.assert_array_equal(np.sort(e2), y)


def test_batches_edge_cases():
    X, y = np.arange(4)[:, None], np.arange(4)
    assert [len(yb) for _, yb in batches(X, y, 100)] == [4]
    assert [len(yb) for _, yb in batches(X, y, 1)] == [1, 1, 1, 1]
    assert list(batches(np.zeros((0, 2)), np.zeros(0), 3)) == []


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_batches_bad_batch_size_raises_on_call(batch_size):
    with pytest.raises(ValueError, match=r"batch_size"):
        batches(np.zeros((4, 1)), np.zeros(4), batch_size)  # no iteration needed


def test_batches_length_mismatch():
    with pytest.raises(ValueError, match=r"lengths"):
        batches(np.zeros((4, 1)), np.zeros(5), 2)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 100), bs=st.integers(1, 30), shuffle=st.booleans())
def test_batches_property(n, bs, shuffle):
    y = np.arange(n)
    sizes, seen = [], []
    for xb, yb in batches(y[:, None], y, bs, shuffle=shuffle, rng=0):
        sizes.append(len(yb))
        seen.append(yb)
        np.testing.assert_array_equal(xb[:, 0], yb)
    assert len(sizes) == -(-n // bs)
    assert all(s == bs for s in sizes[:-1]) and all(1 <= s <= bs for s in sizes)
    got = np.concatenate(seen) if seen else np.zeros(0, dtype=int)
    np.testing.assert_array_equal(np.sort(got), y)
