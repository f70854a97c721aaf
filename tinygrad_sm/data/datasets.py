"""Small built-in datasets: synthetic ``spiral`` and ``blobs``, and ``digits``.

``digits`` is the test set of *Optical Recognition of Handwritten Digits*,
E. Alpaydin and C. Kaynak, UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49, licensed CC BY 4.0 (see DIGITS_LICENSE.txt).
"""

from __future__ import annotations

import numbers
from importlib import resources

import numpy as np

from .._checks import positive_int
from ..random import RngLike, as_generator

_DIGITS_FILE = "digits.npz"


def spiral(
    n_per_class: int = 100,
    n_classes: int = 3,
    noise: float = 0.2,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """2-D spiral arms, one per class (the classic CS231n toy problem).

    Along each arm the radius grows linearly from 0 to 1 while the angle grows
    from ``4 * k`` to ``4 * (k + 1)`` radians for class ``k``; Gaussian noise
    with standard deviation ``noise`` is added to the angle.

    Parameters
    ----------
    n_per_class : int
        Number of points per class.
    n_classes : int
        Number of classes (arms).
    noise : float
        Standard deviation of the Gaussian noise on the angle (radians).
    rng : None, int or numpy.random.Generator
        Randomness source; an int seed makes the result deterministic.

    Returns
    -------
    X : numpy.ndarray
        float32 array of shape ``(n_per_class * n_classes, 2)``.
    y : numpy.ndarray
        int64 class indices of shape ``(n_per_class * n_classes,)``, ordered
        class by class.
    """
    n_per_class = positive_int("spiral: n_per_class", n_per_class)
    n_classes = positive_int("spiral: n_classes", n_classes)
    noise = _check_non_negative("spiral: noise", noise)
    gen = as_generator(rng)

    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    start = 4.0 * np.arange(n_classes)
    angle = (start[:, None] + np.linspace(0.0, 4.0, n_per_class)[None, :]).ravel()
    angle = angle + gen.standard_normal(angle.shape) * noise

    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    return X.astype(np.float32), y


def blobs(
    n_per_class: int = 100,
    n_classes: int = 3,
    n_features: int = 2,
    spread: float = 1.0,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters, one per class.

    The cluster centres are drawn uniformly from ``[-5, 5] ** n_features``
    with ``rng``; each point is its centre plus Gaussian noise of standard
    deviation ``spread`` in every feature.

    Parameters
    ----------
    n_per_class : int
        Number of points per class.
    n_classes : int
        Number of classes (clusters).
    n_features : int
        Dimension of each point.
    spread : float
        Standard deviation of every cluster.
    rng : None, int or numpy.random.Generator
        Randomness source; an int seed makes the result deterministic.

    Returns
    -------
    X : numpy.ndarray
        float32 array of shape ``(n_per_class * n_classes, n_features)``.
    y : numpy.ndarray
        int64 class indices of shape ``(n_per_class * n_classes,)``, ordered
        class by class.
    """
    n_per_class = positive_int("blobs: n_per_class", n_per_class)
    n_classes = positive_int("blobs: n_classes", n_classes)
    n_features = positive_int("blobs: n_features", n_features)
    spread = _check_non_negative("blobs: spread", spread)
    gen = as_generator(rng)

    centres = gen.uniform(-5.0, 5.0, size=(n_classes, n_features))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    X = centres[y] + gen.normal(0.0, spread, size=(y.size, n_features))
    return X.astype(np.float32), y


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI 8x8 handwritten digits, shipped with the package.

    1,797 grey-scale images of the digits 0-9, each flattened row by row to
    64 features. The raw pixel counts 0..16 are divided by 16, so values lie
    in ``[0, 1]``.

    Source: *Optical Recognition of Handwritten Digits*, E. Alpaydin and
    C. Kaynak, UCI Machine Learning Repository,
    https://doi.org/10.24432/C50P49, licensed CC BY 4.0.

    Returns
    -------
    X : numpy.ndarray
        float32 array of shape ``(1797, 64)`` with values in ``[0, 1]``.
    y : numpy.ndarray
        int64 digit labels ``0..9`` of shape ``(1797,)``.
    """
    source = resources.files(__package__).joinpath(_DIGITS_FILE)
    with source.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
        images = data["images"]
        labels = data["labels"]
    X = images.astype(np.float32) / np.float32(16.0)
    y = labels.astype(np.int64)
    return X, y


def _check_non_negative(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise ValueError if it is not a real >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)
