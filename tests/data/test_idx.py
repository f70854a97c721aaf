"""Tests for tinygrad_sm/data/idx.py: data.mnist, the IDX file reader (plain or gzipped files
written by the tests, in a temporary folder)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tinygrad_sm.data import mnist

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
