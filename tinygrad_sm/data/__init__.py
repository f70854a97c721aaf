"""Datasets and data utilities (pure NumPy, independent of the rest of tinygrad_sm).

Every dataset returns ``(X, y)`` with ``X`` a float32 array of shape
``(N, features)`` and ``y`` int64 class indices.
"""

from .datasets import blobs, digits, spiral
from .idx import mnist
from .loaders import batches, train_test_split

__all__ = ["batches", "blobs", "digits", "mnist", "spiral", "train_test_split"]
