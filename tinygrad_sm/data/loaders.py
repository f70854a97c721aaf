"""Splitting and mini-batching of ``(X, y)`` arrays."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np

from .._checks import positive_int
from ..random import RngLike, as_generator


def train_test_split(
    X: np.ndarray,
    y: np.ndarray,
    test_size: float = 0.25,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split ``(X, y)`` into a training and a test part.

    Parameters
    ----------
    X : array_like
        Samples along the first axis.
    y : array_like
        Targets, same length as ``X``.
    test_size : float or int
        A float in ``(0, 1)`` is the fraction of samples put in the test set
        (``ceil(test_size * N)`` samples, as in scikit-learn); an int is the
        number of test samples. At least one sample must be left on each side.
    rng : None, int or numpy.random.Generator
        Randomness source for the shuffle.

    Returns
    -------
    X_train, X_test, y_train, y_test : numpy.ndarray
        In scikit-learn's order.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    n = _check_same_length(X, y, "train_test_split")
    n_test = _n_test(test_size, n)
    perm = as_generator(rng).permutation(n)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def batches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: RngLike = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate over ``(X_batch, y_batch)`` mini-batches.

    Every sample appears exactly once per call; all batches have
    ``batch_size`` samples except possibly the last, which is smaller.
    Arguments are checked when the function is called, not on first use.

    Parameters
    ----------
    X : array_like
        Samples along the first axis.
    y : array_like
        Targets, same length as ``X``.
    batch_size : int
        Number of samples per batch (>= 1).
    shuffle : bool
        Visit the samples in a random order (drawn from ``rng``); otherwise
        in their original order.
    rng : None, int or numpy.random.Generator
        Randomness source for the shuffle; unused when ``shuffle`` is False.

    Yields
    ------
    X_batch, y_batch : numpy.ndarray
    """
    X = np.asarray(X)
    y = np.asarray(y)
    n = _check_same_length(X, y, "batches")
    batch_size = positive_int("batches: batch_size", batch_size)
    order = as_generator(rng).permutation(n) if shuffle else None
    return _iter_batches(X, y, batch_size, order)


def _iter_batches(
    X: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(X), batch_size):
        if order is None:
            yield X[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield X[idx], y[idx]


def _check_same_length(X: np.ndarray, y: np.ndarray, owner: str) -> int:
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{owner}: X and y must be arrays with at least one dimension")
    if len(X) != len(y):
        raise ValueError(f"{owner}: X and y have different lengths: {len(X)} != {len(y)}")
    return len(X)


def _n_test(test_size: object, n: int) -> int:
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"train_test_split: test_size={n_test} must be between 1 and "
                f"n_samples - 1 = {n - 1}"
            )
        return n_test
    if isinstance(test_size, numbers.Real) and not isinstance(test_size, bool):
        if not 0.0 < test_size < 1.0:
            raise ValueError(
                f"train_test_split: a float test_size must be in (0, 1), got {test_size}"
            )
        n_test = math.ceil(test_size * n)
        if n_test >= n:
            raise ValueError(
                f"train_test_split: test_size={test_size} with {n} samples "
                "leaves no training samples"
            )
        return n_test
    raise ValueError(
        f"train_test_split: test_size must be a float in (0, 1) or an int count, got {test_size!r}"
    )
