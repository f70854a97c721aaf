"""Datasets and data utilities (pure NumPy, independent of the rest of tinygrad_sm).

Every dataset returns ``(X, y)`` with ``X`` a float32 array of shape
``(N, features)`` and ``y`` int64 class indices.
``names()`` is text instead: 5,163 first names for a character-level language model.
"""

from .datasets import blobs, digits, spiral
from .first_names import names
from .idx import mnist
from .loaders import batches, train_test_split

__all__ = ["batches", "blobs", "digits", "mnist", "names", "spiral", "train_test_split"]
