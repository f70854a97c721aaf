"""Reductions (tinygrad_sm/operations/reduce.py): sum, mean, max, min over None / int / negative / tuple axes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    check_gradients,
    check_second_derivatives,
    distinct_array,
    random_array,
    seeds,
    shape_axis_keepdims,
)
from hypothesis import given

from tinygrad_sm import Tensor

REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


def reduce(name, x, axis=None, keepdims=False):
    return getattr(x, name)(axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("name", REDUCTIONS)
@given(case=shape_axis_keepdims(), seed=seeds)
def test_values_match_numpy(name, case, seed):
    shape, axis, keepdims = case
    x = random_array(seed, shape)
    out = reduce(name, Tensor(x), axis, keepdims)
    expected = REDUCTIONS[name](x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)


@pytest.mark.parametrize("name", REDUCTIONS)
@given(case=shape_axis_keepdims(max_side=3), seed=seeds)
def test_gradcheck(name, case, seed):
    shape, axis, keepdims = case
    x = distinct_array(seed, shape)  # no ties: max/min are differentiable there
    check_gradients(lambda t: reduce(name, t, axis, keepdims), x)


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, True), (-1, False), ((0, 2), False), ((-3, -1), True)])
def test_second_derivatives(name, axis, keepdims):
    x = distinct_array(3, (2, 3, 2))
    check_second_derivatives(lambda t: reduce(name, t, axis, keepdims) ** 3, x)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_gradient_has_input_shape_and_dtype(name):
    for dtype in (np.float32, np.float64):
        x = Tensor(distinct_array(0, (2, 3, 4)).astype(dtype), requires_grad=True)
        reduce(name, x, axis=(0, -1)).sum().backward()
        assert x.grad.shape == (2, 3, 4) and x.grad.dtype == dtype


def test_sum_and_mean_gradients():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    weights = np.array([1.0, 2.0])
    (x.sum(axis=1) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1, 1, 1], [2, 2, 2]])
    x.zero_grad()
    x.mean(axis=(0, 1)).backward()
    np.testing.assert_allclose(x.grad.data, np.full((2, 3), 1 / 6))
    x.zero_grad()
    (x.mean(axis=0, keepdims=True) * np.array([[1.0, 2.0, 3.0]])).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0.5, 1.0, 1.5], [0.5, 1.0, 1.5]])


def test_max_splits_the_gradient_evenly_among_ties():
    # torch.amax: the gradient is shared equally by every element equal to the maximum
    x = Tensor([1.0, 3.0, 3.0], requires_grad=True)
    out = x.max()
    assert out.item() == 3.0
    out.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5])

    y = Tensor([[2.0, 2.0, 2.0, 1.0], [0.0, 5.0, -1.0, 5.0]], requires_grad=True)
    (y.max(axis=1) * np.array([3.0, 1.0])).sum().backward()
    np.testing.assert_allclose(y.grad.data, [[1.0, 1.0, 1.0, 0.0], [0.0, 0.5, 0.0, 0.5]])

    z = Tensor(np.ones((2, 2)), requires_grad=True)
    z.max(axis=(0, 1), keepdims=True).sum().backward()
    np.testing.assert_array_equal(z.grad.data, np.full((2, 2), 0.25))


def test_min_splits_the_gradient_evenly_among_ties():
    x = Tensor([[4.0, -1.0, -1.0], [0.0, 7.0, 8.0]], requires_grad=True)
    out = x.min(axis=-1)
    np.testing.assert_array_equal(out.data, [-1.0, 0.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_keepdims_shapes():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x.sum(axis=1, keepdims=True).shape == (2, 1, 4)
    assert x.mean(axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert x.max(keepdims=True).shape == (1, 1, 1)
    assert x.min(axis=-1).shape == (2, 3)
    assert x.sum().shape == ()


def test_zero_dimensional_tensor_accepts_axis_0_and_minus_1():
    x = Tensor(np.array(3.0), requires_grad=True)
    for axis in (None, 0, -1):
        out = x.sum(axis=axis)
        assert out.shape == () and out.item() == 3.0
    x.max(axis=0).backward()
    assert x.grad.item() == 1.0


def test_reductions_of_integer_and_bool_tensors():
    # regression: max/min of an integer tensor raised a TypeError from the tie-splitting divide
    x = Tensor([[1, 5, 3], [4, 2, 6]])
    np.testing.assert_array_equal(x.max(axis=1).data, [5, 6])
    np.testing.assert_array_equal(x.min(axis=0).data, [1, 2, 3])
    assert x.sum().item() == 21
    assert Tensor([True, False]).max().item() is True


def test_sum_over_all_axes_as_tuple_equals_none():
    x = random_array(1, (2, 3, 4))
    np.testing.assert_allclose(Tensor(x).sum(axis=(0, 1, 2)).data, Tensor(x).sum().data)
    np.testing.assert_allclose(Tensor(x).mean(axis=(-1, -2, -3)).data, x.mean())


@pytest.mark.parametrize("name", ["max", "min"])
def test_extremum_over_the_non_empty_axes_of_an_empty_tensor_is_empty(name):
    # as torch.amax(x, dim=1) on shape (0, 2): only reducing over an axis of size 0 is an error
    x = Tensor(np.zeros((0, 2)), requires_grad=True)
    out = getattr(x, name)(axis=1)
    assert out.shape == (0,)
    out.sum().backward()
    assert x.grad.shape == (0, 2)


def test_max_and_min_over_no_axis_are_the_identity_even_at_nan():
    for name in ("max", "min"):
        x = Tensor([np.nan, 1.0], requires_grad=True)
        getattr(x, name)(axis=()).sum().backward()
        np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_sum_and_mean_over_no_axis_keep_negative_zero():
    x = Tensor(np.array([-0.0, 1.0]))
    assert np.signbit(x.sum(axis=()).data[0]) and np.signbit(x.mean(axis=()).data[0])
