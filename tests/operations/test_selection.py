"""Selection (tinygrad_sm/operations/selection.py): where, whose gradient goes to the chosen side only."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import broadcastable_pairs, check_gradients, check_second_derivatives, random_array, seeds
from hypothesis import given

import tinygrad_sm
from tinygrad_sm import Tensor


def test_where_picks_and_routes_the_gradient():
    condition = np.array([True, False, True])
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = Tensor([10.0, 20.0, 30.0], requires_grad=True)
    out = tinygrad_sm.where(condition, x, y)
    np.testing.assert_array_equal(out.data, [1.0, 20.0, 3.0])
    out.backward(np.array([np.inf, 5.0, 6.0]))
    np.testing.assert_array_equal(x.grad.data, [np.inf, 0.0, 6.0])  # exactly 0 on the side not chosen
    np.testing.assert_array_equal(y.grad.data, [0.0, 5.0, 0.0])


@given(shapes=broadcastable_pairs(), seed=seeds)
def test_where_gradcheck_with_broadcasting(shapes, seed):
    x_shape, y_shape = shapes
    condition = np.random.default_rng(seed).random(np.broadcast_shapes(x_shape, y_shape)) < 0.5
    check_gradients(lambda x, y: tinygrad_sm.where(condition, x, y), random_array(seed, x_shape), random_array(seed + 1, y_shape))


def test_where_second_derivatives():
    condition = np.array([[True, False, True], [False, False, True]])
    x, y = random_array(2, (2, 3)), random_array(3, (3,))
    check_second_derivatives(lambda a, b: tinygrad_sm.where(condition, a * b, b * b), x, y)


def test_where_with_scalars_a_bool_tensor_and_dtypes():
    x = Tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    out = tinygrad_sm.where(x > 0, x, 0.0)
    assert out.dtype == np.float32 and out.requires_grad
    np.testing.assert_array_equal(out.data, [1.0, 0.0])
    assert tinygrad_sm.where(np.array([True, False]), 1.0, 2.0).dtype == tinygrad_sm.get_default_dtype()


def test_where_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    condition = rng.random((3, 4)) < 0.5
    xs, ys, g = rng.standard_normal((3, 1)), rng.standard_normal((4,)), rng.standard_normal((3, 4))
    x, y = Tensor(xs, requires_grad=True), Tensor(ys, requires_grad=True)
    out = tinygrad_sm.where(condition, x, y)
    out.backward(g)
    tx, ty = torch.tensor(xs, requires_grad=True), torch.tensor(ys, requires_grad=True)
    expected = torch.where(torch.tensor(condition), tx, ty)
    expected.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, ty.grad.numpy(), rtol=1e-12)


def test_where_errors():
    with pytest.raises(TypeError, match="where: condition must be boolean, got dtype float64"):
        tinygrad_sm.where(np.array([1.0]), Tensor([1.0]), 0.0)
    with pytest.raises(ValueError, match="where: .*broadcast"):
        tinygrad_sm.where(np.array([True, False, True]), Tensor([1.0, 2.0]), 0.0)
