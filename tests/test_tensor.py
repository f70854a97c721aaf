"""Tensor (tinygrad_sm/tensor.py): construction and dtype rules, attributes, conversions, constructors, repr."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor


@pytest.fixture
def float64_default():
    tinygrad_sm.set_default_dtype(np.float64)
    try:
        yield
    finally:
        tinygrad_sm.set_default_dtype(np.float32)


# ----- construction and dtypes ------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.0], np.float32),
    ([[1.0], [2.5]], np.float32),
    ([1, 2], np.int64),
    (3, np.int64),
    ([True, False], np.bool_),
    (np.array([1.0, 2.0]), np.float64),
    (np.array([1.0], np.float32), np.float32),
    (np.array([1, 2], np.int32), np.int32),
    (np.float64(2.0), np.float64),
])
def test_dtype_rules(data, dtype):
    t = Tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, np.asarray(data))


@pytest.mark.parametrize("make, dtype", [
    (lambda: Tensor([1, 2]) + Tensor(np.ones(2, np.float32)), np.float32),  # NumPy says float64; PyTorch float32
    (lambda: Tensor(np.ones(2, np.float32)) * Tensor([2, 3]), np.float32),
    (lambda: Tensor([1, 2]) / Tensor([2, 2]), np.float32),  # ints only: the default dtype
    (lambda: Tensor([1, 2]) + 0.5, np.float32),
    (lambda: Tensor([1, 4]).sqrt(), np.float32),
    (lambda: Tensor([1, 2]) + Tensor(np.ones(2)), np.float64),  # a float64 operand keeps float64
    (lambda: Tensor(np.ones(2, np.float32)) + Tensor(np.ones(2)), np.float64),  # float32 with float64: NumPy's rule
    (lambda: Tensor(np.ones(2, np.float32)) * np.float64(2.0), np.float32),  # a NumPy scalar acts as a Python one
    (lambda: Tensor([1, 2]) * Tensor([2, 2]), np.int64),
])
def test_result_dtypes_follow_pytorch(make, dtype):
    assert make().dtype == dtype


def test_explicit_dtype_and_default_dtype(float64_default):
    assert tinygrad_sm.get_default_dtype() == np.float64
    assert Tensor([1.0, 2.0]).dtype == np.float64
    assert Tensor.zeros(2).dtype == np.float64
    assert Tensor([1.0], dtype=np.float32).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_default_dtype_is_float32_and_only_floats_allowed():
    assert tinygrad_sm.get_default_dtype() == np.float32
    with pytest.raises(TypeError, match="float32 and float64"):
        tinygrad_sm.set_default_dtype(np.int64)
    assert tinygrad_sm.get_default_dtype() == np.float32


def test_tensor_from_tensor_and_from_array_copies():
    source = np.array([1.0, 2.0])
    t = Tensor(source)
    source[0] = 99.0
    assert t.data[0] == 1.0
    u = Tensor(t)
    t.data[1] = -5.0
    assert u.data[1] == 2.0 and u.dtype == np.float64


def test_only_floating_point_tensors_require_grad():
    with pytest.raises(TypeError, match="int64"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="bool"):
        Tensor([True], requires_grad=True)
    t = Tensor([1, 2])
    with pytest.raises(TypeError, match="floating-point"):
        t.requires_grad = True
    assert not t.requires_grad
    x = Tensor([1.0]).requires_grad_()
    assert x.requires_grad and x.is_leaf


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = Tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    assert y.requires_grad


# ----- attributes and conversions ---------------------------------------------------------
def test_attributes():
    x = Tensor(np.zeros((2, 3, 4)), requires_grad=True)
    assert (x.shape, x.ndim, x.size, x.dtype) == ((2, 3, 4), 3, 24, np.float64)
    assert x.is_leaf and x.grad_fn is None and x.grad is None and x.requires_grad
    y = x.exp()
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    assert x.T.shape == (4, 3, 2)


def test_numpy_shares_memory_and_item_tolist():
    x = Tensor([[1.5, 2.5]])
    assert x.numpy() is x.data
    assert x.tolist() == [[1.5, 2.5]]
    assert Tensor([[7.0]]).item() == 7.0 and isinstance(Tensor([[7.0]]).item(), float)
    assert Tensor(3).item() == 3 and isinstance(Tensor(3).item(), int)
    assert float(Tensor(2.5)) == 2.5 and int(Tensor(4)) == 4
    with pytest.raises(ValueError, match=r"one-element.*\(1, 2\)"):
        x.item()


def test_detach_shares_data_without_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    z = x.detach()
    z.data[0] = 10.0
    assert x.data[0] == 10.0  # shares memory, as torch.Tensor.detach


def test_zero_grad():
    x = Tensor([1.0], requires_grad=True)
    (x * 3).sum().backward()
    assert x.grad.item() == 3.0
    x.zero_grad()
    assert x.grad is None


def test_len_iter_bool():
    x = Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(x) == 3
    assert [row.tolist() for row in x] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    assert bool(Tensor([1.0])) is True and bool(Tensor(0.0)) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_comparisons_give_boolean_tensors_outside_the_graph():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x > Tensor([0.0, 5.0, 1.0]), [True, False, True]),
        (x >= 3, [False, False, True]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
    ]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    assert {x: "usable as a dict key"}[x] == "usable as a dict key"  # hashable by identity despite elementwise ==


def test_argmax_argmin():
    x = Tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    np.testing.assert_array_equal(x.argmax(axis=1).data, [1, 0])
    np.testing.assert_array_equal(x.argmin(axis=0).data, [0, 1, 0])
    assert x.argmax().item() == 3


def test_integer_tensor_with_python_float_gives_default_float():
    out = Tensor([1, 2]) * 0.5
    assert out.dtype == np.float32  # as torch: an int tensor times a Python float is the default float dtype
    np.testing.assert_array_equal(out.data, [0.5, 1.0])


# ----- constructors -----------------------------------------------------------------------
def test_zeros_ones_eye_arange():
    assert Tensor.zeros(2, 3).shape == (2, 3) and Tensor.zeros((2, 3)).dtype == np.float32
    np.testing.assert_array_equal(Tensor.ones(2).data, [1.0, 1.0])
    assert Tensor.ones(2, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(Tensor.eye(3).data, np.eye(3))
    assert Tensor.eye(2, 3).shape == (2, 3)
    assert Tensor.arange(5).dtype == np.int64
    np.testing.assert_array_equal(Tensor.arange(0.0, 1.0, 0.25).data, [0.0, 0.25, 0.5, 0.75])
    assert Tensor.arange(0.0, 1.0, 0.25).dtype == np.float32
    z = Tensor.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf


def test_random_constructors_are_reproducible():
    a = Tensor.randn(3, 4, rng=7)
    b = Tensor.randn(3, 4, rng=np.random.default_rng(7))
    assert a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a.data, b.data)
    u = Tensor.uniform(1000, low=-2.0, high=3.0, rng=1, dtype=np.float64)
    assert u.dtype == np.float64 and u.data.min() >= -2.0 and u.data.max() < 3.0
    assert u.data.min() < -1.5 and u.data.max() > 2.5  # actually spread over the interval
    tinygrad_sm.manual_seed(123)
    first = Tensor.randn(5).data
    tinygrad_sm.manual_seed(123)
    np.testing.assert_array_equal(Tensor.randn(5).data, first)
    assert not np.array_equal(Tensor.randn(5).data, first)
    assert Tensor.randn(2, requires_grad=True).requires_grad


# ----- repr -------------------------------------------------------------------------------
def test_repr_like_pytorch():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    assert repr(Tensor([1.0, 2.0], requires_grad=True)) == "Tensor([1., 2.], requires_grad=True)"
    assert repr(Tensor(np.array([1.5]))) == "Tensor([1.5], dtype=float64)"
    assert repr(Tensor([1, 2])) == "Tensor([1, 2])"
    x = Tensor([2.0, 1.0, 0.5], requires_grad=True)
    assert repr(x.softmax()) == "Tensor([0.6285, 0.2312, 0.1402], grad_fn=<SoftmaxBackward>)"
    assert repr(x * 2) == "Tensor([4., 2., 1.], grad_fn=<MulBackward>)"
