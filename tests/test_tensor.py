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


def test_argmax_argmin_take_dim_keepdim_and_name_themselves_in_errors():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.argmax(dim=-1, keepdim=True).shape == (2, 3, 1) and x.argmin(dim=0).shape == (3, 4)
    assert Tensor(3.0).argmax(dim=0).item() == 0  # (a 0-d tensor's axis 0 or -1, as PyTorch)
    with pytest.raises(np.exceptions.AxisError, match=r"argmax: axis 5 is out of range .* shape \(2, 3, 4\)"):
        x.argmax(dim=5)
    with pytest.raises(TypeError, match=r"argmin: axis must be an int or None, got \(0, 1\)"):
        x.argmin(axis=(0, 1))
    with pytest.raises(TypeError, match="argmax: got both axis= and dim="):
        x.argmax(axis=0, dim=0)


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


# ----- bad arguments to constructors and settings: clear errors naming the function -------
@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: Tensor.zeros(-1), ValueError, "Tensor.zeros: each size must be non-negative, got -1"),
    (lambda: Tensor.zeros(2, -3), ValueError, "Tensor.zeros: each size must be non-negative, got -3"),
    (lambda: Tensor.zeros(2.5), TypeError, "Tensor.zeros: each size must be an int, got float 2.5"),
    (lambda: Tensor.zeros((2, 2.5)), TypeError, "Tensor.zeros: each size must be an int, got float 2.5"),
    (lambda: Tensor.zeros(True), TypeError, "Tensor.zeros: each size must be an int, got bool"),
    (lambda: Tensor.zeros((2,), 3), TypeError, r"Tensor.zeros: each size must be an int, got tuple \(2,\)"),
    (lambda: Tensor.zeros(2, dtype="bogus"), TypeError, "Tensor.zeros: 'bogus' is not a dtype"),
    (lambda: Tensor.zeros(2, dtype=object), TypeError, "Tensor.zeros: expected a numeric or bool dtype, got object"),
    (lambda: Tensor.ones(-1), ValueError, "Tensor.ones: each size must be non-negative, got -1"),
    (lambda: Tensor.ones(2.5), TypeError, "Tensor.ones: each size must be an int, got float 2.5"),
    (lambda: Tensor.randn(-2), ValueError, "Tensor.randn: each size must be non-negative"),
    (lambda: Tensor.randn(2, dtype=np.int64), TypeError, "Tensor.randn: expected a floating-point dtype, got int64"),
    (lambda: Tensor.uniform(2, low=1, high=0), ValueError, "Tensor.uniform: low must be <= high, got low=1 > high=0"),
    (lambda: Tensor.uniform(2, high=float("inf")), ValueError, "Tensor.uniform: high must be finite, got inf"),
    (lambda: Tensor.uniform(2, low=float("nan")), ValueError, "Tensor.uniform: low must be finite, got nan"),
    (lambda: Tensor.uniform(2, low="a"), TypeError, "Tensor.uniform: low must be a number, got str 'a'"),
    (lambda: Tensor.uniform(2, low=-1e308, high=1e308), ValueError, "Tensor.uniform: the range high - low overflows"),
    (lambda: Tensor.uniform(-1), ValueError, "Tensor.uniform: each size must be non-negative"),
    (lambda: Tensor.arange(0, 10, 0), ValueError, "Tensor.arange: step must be nonzero, got 0"),
    (lambda: Tensor.arange(0.0, 1.0, 0.0), ValueError, "Tensor.arange: step must be nonzero"),
    (lambda: Tensor.arange(float("inf")), ValueError, "Tensor.arange: stop must be finite, got inf"),
    (lambda: Tensor.arange(0, "a"), TypeError, "Tensor.arange: stop must be a number, got str 'a'"),
    (lambda: Tensor.arange(), TypeError, r"Tensor.arange: expected 1 to 3 numbers \(start, stop, step\), got 0"),
    (lambda: Tensor.arange(1, 2, 3, 4), TypeError, "Tensor.arange: expected 1 to 3 numbers"),
    (lambda: Tensor.eye(-1), ValueError, "Tensor.eye: n must be non-negative, got -1"),
    (lambda: Tensor.eye(2, 2.5), TypeError, "Tensor.eye: m must be an int, got float 2.5"),
    (lambda: tinygrad_sm.manual_seed(-1), ValueError, "manual_seed: seed must be a non-negative int, got -1"),
    (lambda: tinygrad_sm.manual_seed("a"), TypeError, "manual_seed: seed must be a non-negative int, got str 'a'"),
    (lambda: tinygrad_sm.manual_seed(1.5), TypeError, "manual_seed: seed must be a non-negative int, got float"),
    (lambda: Tensor.randn(2, rng=-1), ValueError, "rng seed must be a non-negative int, got -1"),
    (lambda: tinygrad_sm.set_default_dtype("bogus"), TypeError, "set_default_dtype: only float32 and float64 .*got 'bogus'"),
    (lambda: tinygrad_sm.set_default_dtype(None), TypeError, "set_default_dtype: only float32 and float64 .*got None"),
    (lambda: tinygrad_sm.set_default_dtype(np.int32), TypeError, "set_default_dtype: only float32 and float64 .*got int32"),
    (lambda: Tensor([1.0], requires_grad="yes"), TypeError, "Tensor: requires_grad must be a bool .*got str 'yes'"),
    (lambda: Tensor([1.0], requires_grad=1), TypeError, "Tensor: requires_grad must be a bool .*got int 1"),
    (lambda: Tensor([1.0], requires_grad=None), TypeError, "Tensor: requires_grad must be a bool .*got NoneType"),
    (lambda: Tensor.zeros(2, requires_grad="no"), TypeError, "Tensor.zeros: requires_grad must be a bool"),
    (lambda: Tensor.randn(2, requires_grad=0), TypeError, "Tensor.randn: requires_grad must be a bool"),
])
def test_bad_constructor_and_setting_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
    assert tinygrad_sm.get_default_dtype() == np.float32  # a refused setting changes nothing


def test_edge_cases_of_constructors_that_are_fine():
    assert Tensor.zeros().shape == () and Tensor.zeros([]).shape == () and Tensor.ones(0, 3).shape == (0, 3)
    assert Tensor.zeros(np.int64(2), np.int32(3)).shape == (2, 3)
    assert Tensor.ones(2, dtype=np.dtype("float64")).dtype == np.float64  # an np.dtype instance is used, not ignored
    assert Tensor.ones(2, dtype=np.int64).dtype == np.int64 and Tensor.zeros(2, dtype=bool).dtype == np.bool_
    np.testing.assert_array_equal(Tensor.uniform(3, low=2.0, high=2.0, rng=0).numpy(), [2.0, 2.0, 2.0])  # as torch
    assert Tensor.arange(0, 10, -1).shape == (0,)  # numpy's meaning (PyTorch raises)
    assert Tensor.arange(3, dtype=np.float64).dtype == np.float64
    assert Tensor.eye(0).shape == (0, 0)
    tinygrad_sm.manual_seed(np.int64(5))
    first = Tensor.randn(3).numpy()
    tinygrad_sm.manual_seed(5)
    np.testing.assert_array_equal(Tensor.randn(3).numpy(), first)
    assert Tensor([1.0], requires_grad=False).requires_grad is False


# ----- .data and .grad assignments are checked (as PyTorch) -----------------------------------
def test_grad_assignment_must_match_shape_and_dtype():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    x.grad = Tensor(np.full((2, 3), 2.0))
    x.grad = None
    with pytest.raises(RuntimeError, match=r"Tensor.grad: assigned grad has shape \(1, 3\), but the tensor has shape \(2, 3\)"):
        x.grad = Tensor(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match="assigned grad has dtype float32, but the tensor has dtype float64"):
        x.grad = Tensor(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="Tensor.grad must be a Tensor or None, got ndarray"):
        x.grad = np.ones((2, 3))
    assert x.grad is None  # a refused assignment changes nothing


def test_data_assignment_takes_arrays_only():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.data = np.array([3.0, 4.0, 5.0])  # as in PyTorch, the shape may change
    assert x.shape == (3,)
    x.data = np.float64(2.0)  # a NumPy scalar becomes a 0-d array
    assert type(x.data) is np.ndarray and x.shape == ()
    x.data = Tensor([7.0])
    assert type(x.data) is np.ndarray and x.data.tolist() == [7.0]
    with pytest.raises(TypeError, match="Tensor.data must be a numpy.ndarray, got list"):
        x.data = [1.0, 2.0]
    with pytest.raises(TypeError, match="a tensor that requires grad must hold floating-point data, got dtype int64"):
        x.data = np.array([1, 2])
    with pytest.raises(TypeError, match="Tensor.data must hold numbers or booleans, got dtype <U1"):
        x.data = np.array(["a"])
    assert x.data.tolist() == [7.0]


def test_requires_grad_attribute_takes_a_bool_only():
    x = Tensor([1.0])
    with pytest.raises(TypeError, match="requires_grad: requires_grad must be a bool"):
        x.requires_grad = "yes"
    with pytest.raises(TypeError, match="requires_grad must be a bool"):
        x.requires_grad_(1)
    assert x.requires_grad is False
    assert x.requires_grad_().requires_grad is True


def test_a_tensor_is_not_its_own_grad_and_numpy_array_copies():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be assigned as its own grad"):
        x.grad = x
    assert not np.shares_memory(np.array(x), x.data)  # np.array copies, as for any array
    assert np.asarray(x) is x.data  # np.asarray shares


def test_float_results_of_integer_and_bool_tensors_have_pytorchs_dtype():
    assert Tensor(np.array([1, 4], np.uint8)).sqrt().dtype == np.float32  # NumPy would give float16
    assert Tensor(np.array([True, False])).tanh().dtype == np.float32
    assert Tensor(np.array([1], np.int8)).exp().dtype == np.float32
    assert (Tensor(np.array([1, 2], np.int16)) / 2).dtype == np.float32
    tinygrad_sm.set_default_dtype(np.float64)
    try:
        assert Tensor(np.array([1], np.int16)).exp().dtype == np.float64
        assert Tensor(np.array([1.0], np.float32)).exp().dtype == np.float32
    finally:
        tinygrad_sm.set_default_dtype(np.float32)
