"""Selection (tinygrad_sm/operations/selection.py): where and masked_fill, whose gradients go to the chosen side only."""

from __future__ import annotations

import re

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


# ----- masked_fill ----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (∞·0 in the unselected branch)
def test_masked_fill_values_and_gradient():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = np.array([True, False, True])
    out = x.masked_fill(mask, -1.0)
    np.testing.assert_array_equal(out.data, [[-1.0, 1.0, -1.0], [-1.0, 4.0, -1.0]])
    out.backward(np.array([[np.inf, 2.0, -np.inf], [3.0, 4.0, 5.0]]))
    np.testing.assert_array_equal(x.grad.data, [[0.0, 2.0, 0.0], [0.0, 4.0, 0.0]])  # exactly 0 where filled


@given(shapes=broadcastable_pairs(), seed=seeds)
def test_masked_fill_gradcheck_with_a_tensor_value(shapes, seed):
    x_shape, mask_shape = shapes
    mask = np.random.default_rng(seed).random(mask_shape) < 0.5
    x = random_array(seed, x_shape)
    check_gradients(lambda a, v: a.masked_fill(mask, v), x, random_array(seed + 1, ()))
    check_gradients(lambda a: a.masked_fill(Tensor(mask), 0.5), x)


def test_masked_fill_second_derivatives():
    mask = np.array([[True, False, False], [False, True, False]])
    x, v = random_array(4, (2, 3)), random_array(5, ())
    check_second_derivatives(lambda a, b: (a * a).masked_fill(mask, b * b) * a, x, v)


def test_masked_fill_matches_pytorch_with_a_broadcast_mask_and_a_tensor_value():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    xs, mask, g = rng.standard_normal((3,)), rng.random((2, 3)) < 0.5, rng.standard_normal((2, 3))
    x, v = Tensor(xs, requires_grad=True), Tensor(np.array(0.25), requires_grad=True)
    out = x.masked_fill(mask, v)
    out.backward(g)
    tx, tv = torch.tensor(xs, requires_grad=True), torch.tensor(0.25, dtype=torch.float64, requires_grad=True)
    expected = tx.masked_fill(torch.tensor(mask), tv)
    expected.backward(torch.tensor(g))
    assert out.shape == tuple(expected.shape) == (2, 3)  # the mask may be the larger one, as in PyTorch
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(v.grad.data, tv.grad.numpy(), rtol=1e-15)


def test_masked_fill_keeps_the_input_dtype():
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    value = Tensor(np.array(-np.inf), requires_grad=True)  # float64
    out = x.masked_fill(np.array([False, True]), value)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [1.0, -np.inf])
    out.sum().backward()
    assert x.grad.dtype == np.float32 and value.grad.dtype == np.float64
    assert value.grad.data == 1.0
    assert "masked_fill" in tinygrad_sm.ops()


@pytest.mark.parametrize(
    ("mask", "value", "error", "message"),
    [
        (np.array([1, 0, 1]), 0.0, TypeError, "masked_fill: mask must be a bool array or Tensor, got dtype int64"),
        (np.ones(4, bool), 0.0, ValueError, "masked_fill: mask of shape (4,) does not broadcast with the input's shape (2, 3)"),
        (np.ones(3, bool), np.ones(3), ValueError, "masked_fill: value must be a number or a 0-d tensor, got one of shape (3,)"),
        (
            np.ones(3, bool),
            Tensor([1.0, 2.0]),
            ValueError,
            "masked_fill: value must be a number or a 0-d tensor, got one of shape (2,)",
        ),
        # (None filled nan, a string failed inside NumPy's float conversion)
        (np.ones(3, bool), None, TypeError, "masked_fill: value must be a number or a 0-d tensor, got None"),
        (np.ones(3, bool), "1", TypeError, "masked_fill: value must be a number or a 0-d tensor, got '1'"),
    ],
)
def test_masked_fill_bad_arguments_are_clear_errors(mask, value, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Tensor(np.zeros((2, 3)), requires_grad=True).masked_fill(mask, value)
