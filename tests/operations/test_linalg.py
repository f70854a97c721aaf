"""Matrix multiplication (tinygrad_sm/operations/linalg.py) with NumPy's @ semantics."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, seeds
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor

SHAPES = [
    ((4,), (4,)),  # vector · vector -> scalar
    ((4,), (4, 3)),  # row vector @ matrix
    ((3, 4), (4,)),  # matrix @ column vector
    ((3, 4), (4, 2)),
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((1, 3, 4), (2, 4, 5)),  # broadcast batch
    ((2, 3, 4), (4, 5)),  # batch @ matrix
    ((3, 4), (2, 4, 5)),  # matrix @ batch
    ((4,), (2, 4, 3)),  # vector @ batch
    ((2, 3, 4), (4,)),  # batch @ vector
    ((2, 1, 3, 4), (5, 4, 2)),  # two broadcast batch axes
]


@pytest.mark.parametrize("shape_a, shape_b", SHAPES)
def test_values_shapes_and_gradcheck(shape_a, shape_b):
    a, b = random_array(0, shape_a), random_array(1, shape_b)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = ta @ tb
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-12)
    assert out.shape == (a @ b).shape
    out.sum().backward()
    assert ta.grad.shape == shape_a and tb.grad.shape == shape_b
    check_gradients(lambda x, y: x @ y, a, b)


@pytest.mark.parametrize("shape_a, shape_b", SHAPES)
def test_second_derivatives(shape_a, shape_b):
    a, b = random_array(2, shape_a), random_array(3, shape_b)
    check_second_derivatives(lambda x, y: (x @ y) ** 2, a, b)


def test_matrix_gradients_are_g_bt_and_at_g():
    a, b = random_array(4, (3, 4)), random_array(5, (4, 2))
    g = random_array(6, (3, 2))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (ta @ tb).backward(g)
    np.testing.assert_allclose(ta.grad.data, g @ b.T, rtol=1e-12)
    np.testing.assert_allclose(tb.grad.data, a.T @ g, rtol=1e-12)


@st.composite
def matmul_shapes(draw):
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 2), max_size=2))
    batch_a = [draw(st.sampled_from([1, size])) for size in batch]
    batch_b = [draw(st.sampled_from([1, size])) for size in batch]
    batch_b = batch_b[draw(st.integers(0, len(batch_b))):]  # b may have fewer batch axes
    shape_a = (k,) if draw(st.booleans()) else (*batch_a, n, k)
    shape_b = (k,) if draw(st.booleans()) else (*batch_b, k, m)
    return tuple(shape_a), tuple(shape_b)


@given(pair=matmul_shapes(), seed=seeds)
def test_matmul_hypothesis(pair, seed):
    shape_a, shape_b = pair
    a, b = random_array(seed % 1000, shape_a), random_array(seed % 1000 + 1, shape_b)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b, rtol=1e-12)
    check_gradients(lambda x, y: x @ y, a, b)


def test_matmul_method_and_operands_that_are_not_tensors():
    a, b = random_array(7, (2, 3)), random_array(8, (3, 2))
    ta = Tensor(a, requires_grad=True)
    np.testing.assert_array_equal(ta.matmul(Tensor(b)).data, (ta @ Tensor(b)).data)
    # ndarray on the left defers to Tensor.__rmatmul__
    out = b @ ta
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_allclose(ta.grad.data, b.T @ np.ones((3, 3)), rtol=1e-12)


def test_list_operands():
    # regression: a list operand made the backward fail ("'list' object has no attribute 'ndim'")
    x = Tensor([1.0, 2.0], requires_grad=True)
    ([[1.0, 2.0], [3.0, 4.0]] @ x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 6.0])
    x.zero_grad()
    (x @ [[1.0], [2.0]]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0])


def test_hessian_vector_product_of_a_quadratic_form():
    # f(x) = xᵀ A x has Hessian A + Aᵀ; the gradient of ⟨∇f, v⟩ is (A + Aᵀ) v
    a = random_array(9, (4, 4))
    v = random_array(10, (4,))
    x = Tensor(random_array(11, (4,)), requires_grad=True)
    (gradient,) = tinygrad_sm.grad(x @ Tensor(a) @ x, x, create_graph=True)
    np.testing.assert_allclose(gradient.data, (a + a.T) @ x.data, rtol=1e-12)
    (hvp,) = tinygrad_sm.grad((gradient * v).sum(), x)
    np.testing.assert_allclose(hvp.data, (a + a.T) @ v, rtol=1e-12)
    np.testing.assert_allclose(tinygrad_sm.hessian(lambda t: t @ Tensor(a) @ t, x.data), a + a.T, rtol=1e-12)


@pytest.mark.parametrize(("x_shape", "w_shape"), [((3, 0), (2, 0)), ((3, 2), (0, 2)), ((0, 2), (4, 2)), ((2, 3, 0), (5, 0))])
def test_linear_with_a_zero_size_axis(x_shape, w_shape):
    x = Tensor(np.ones(x_shape), requires_grad=True)
    w = Tensor(np.ones(w_shape), requires_grad=True)
    b = Tensor(np.ones(w_shape[0]), requires_grad=True)
    out = x.linear(w, b)
    assert out.shape == x_shape[:-1] + w_shape[:1]
    out.sum().backward()
    assert x.grad.shape == x_shape and w.grad.shape == w_shape and b.grad.shape == w_shape[:1]
    np.testing.assert_array_equal(b.grad.data, np.full(w_shape[0], np.prod(x_shape[:-1])))


def test_linear_promotes_a_float64_bias_as_numpy():
    # API.md: mixed float32/float64 operands give float64 (PyTorch raises for this mix)
    x32, w32 = Tensor(np.ones((2, 3), np.float32), requires_grad=True), Tensor(np.ones((4, 3), np.float32))
    b64 = Tensor(np.ones(4), requires_grad=True)
    out = x32.linear(w32, b64)
    assert out.dtype == np.float64
    out.sum().backward()
    assert x32.grad.dtype == np.float32 and b64.grad.dtype == np.float64
    assert x32.linear(w32, Tensor(np.ones(4, np.float32))).dtype == np.float32
