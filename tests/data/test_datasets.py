"""Tests for tinygrad_sm/data/datasets.py (spiral, blobs, digits) and the rng argument they take
(tinygrad_sm/data/_rng.py)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from tinygrad_sm.data import blobs, digits, spiral
from tinygrad_sm.random import as_generator as _as_generator

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
