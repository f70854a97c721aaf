"""The backward helpers with a faster NumPy path (tinygrad_sm/operations/rule_helpers.py): sum_of_products and
exp_times give what their plain formulas give, on ndarrays (fast path or not) and on Tensors (recorded)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_second_derivatives, random_array

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.operations.rule_helpers import exp_times, sum_of_products


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((4, 5), (1,)), ((2, 3, 4), (2,)), ((4, 5), (0,)), ((2, 3, 4), (0, 2)), ((3, 0), (1,)), ((0, 3), (1,)), ((5,), (0,))],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_sum_of_products_is_the_sum_of_the_products(shape, axes, dtype):
    a, b = random_array(1, shape).astype(dtype), random_array(2, shape).astype(dtype)
    out = sum_of_products(a, b, axes)
    expected = (a * b).sum(axis=axes, keepdims=True)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-3 if dtype == np.float16 else 1e-6, atol=1e-6)


def test_sum_of_products_of_non_contiguous_arrays_and_of_nan_and_inf():
    a = random_array(3, (5, 4)).T  # (a view with strides)
    b = random_array(4, (4, 5))
    np.testing.assert_allclose(sum_of_products(a, b, (1,)), (a * b).sum(axis=1, keepdims=True))
    a = np.array([[1.0, np.inf], [np.nan, 1.0], [np.inf, 1.0]])
    b = np.array([[1.0, 2.0], [1.0, 1.0], [0.0, 1.0]])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(sum_of_products(a, b, (1,)), (a * b).sum(axis=1, keepdims=True))


def test_sum_of_products_of_tensors_is_recorded():
    a, b = random_array(5, (3, 4)), random_array(6, (3, 4))
    check_second_derivatives(lambda x, y: sum_of_products(x, y, (1,)).sum(), a, b)
    x = Tensor(a, requires_grad=True)
    out = sum_of_products(x, b, (1,))
    assert isinstance(out, Tensor) and out.shape == (3, 1)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, b)


@pytest.mark.parametrize(
    ("x_dtype", "factor_shape", "factor_dtype"),
    [
        (np.float32, (4, 1), np.float32),  # (the in-place path)
        (np.float64, (1, 5), np.float64),
        (np.float32, (4, 1), np.float64),  # (promotes, as np.exp(x) * factor)
        (np.float64, (3, 4, 1), np.float64),  # (broadcasts x to a larger shape)
        (np.float64, (), np.float64),
    ],
)
def test_exp_times_is_exp_times_the_factor(x_dtype, factor_shape, factor_dtype):
    x = random_array(7, (4, 5)).astype(x_dtype)
    factor = np.asarray(random_array(8, factor_shape)).astype(factor_dtype)
    out = exp_times(x, factor)
    expected = np.exp(x) * factor
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_array_equal(x, random_array(7, (4, 5)).astype(x_dtype))  # (its input is left alone)


def test_exp_times_of_a_python_number_and_of_tensors():
    x = random_array(9, (2, 3))
    np.testing.assert_allclose(exp_times(x, 2.0), 2.0 * np.exp(x))
    check_second_derivatives(lambda a, b: exp_times(a, b).sum(), x, random_array(10, (2, 1)))
    assert isinstance(exp_times(Tensor(x), np.ones((2, 1))), Tensor)
    assert isinstance(exp_times(x, Tensor(np.ones((2, 1)))), Tensor)


def test_softmax_family_forwards_leave_their_input_unchanged():
    z = random_array(11, (3, 4)).astype(np.float32)
    before = z.copy()
    for fn in (
        lambda t: t.softmax(axis=1),
        lambda t: t.softmax(axis=0, temperature=2.0),
        lambda t: t.log_softmax(axis=1),
        lambda t: t.log_softmax(axis=(0, 1)),
        lambda t: t.cross_entropy([0, 1, 2]),
    ):
        x = Tensor(z, requires_grad=True)
        fn(x).sum().backward()
        np.testing.assert_array_equal(z, before)
    assert tinygrad_sm.Tensor(np.zeros((2, 0), np.float32)).softmax(axis=1).shape == (2, 0)
