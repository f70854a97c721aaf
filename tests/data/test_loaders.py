"""Tests for tinygrad_sm/data/loaders.py: train_test_split and batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_sm.data import batches, train_test_split

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
