"""Elementwise ops (tinygrad_sm/ops/elementwise.py): values, gradients, broadcasting, second derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    away_from,
    broadcastable_pairs,
    check_gradients,
    check_second_derivatives,
    random_array,
    seeds,
    shapes,
)
from hypothesis import given

import tinygrad_sm
from tinygrad_sm import Tensor


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (tinygrad call, NumPy reference, input domain: "any", "positive", or kinks to keep away from)
UNARY = {
    "neg": (lambda x: -x, np.negative, "any"),
    "exp": (lambda x: x.exp(), np.exp, "any"),
    "log": (lambda x: x.log(), np.log, "positive"),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, "positive"),
    "abs": (lambda x: x.abs(), np.abs, [0.0]),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), [0.0]),
    "tanh": (lambda x: x.tanh(), np.tanh, "any"),
    "sigmoid": (lambda x: x.sigmoid(), sigmoid, "any"),
    "clip_both": (lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), [-0.5, 0.7]),
    "clip_low_only": (lambda x: x.clip(-0.5, None), lambda x: np.maximum(x, -0.5), [-0.5]),
    "clip_high_only": (lambda x: x.clip(None, 0.7), lambda x: np.minimum(x, 0.7), [0.7]),
}


def unary_input(name: str, seed: int, shape) -> np.ndarray:
    domain = UNARY[name][2]
    if domain == "positive":
        return random_array(seed, shape, 0.2, 3.0)
    x = random_array(seed, shape)
    return x if domain == "any" else away_from(x, domain)


@pytest.mark.parametrize("name", UNARY)
def test_unary_values_match_numpy(name):
    fn, reference, _ = UNARY[name]
    x = unary_input(name, 0, (3, 4))
    for dtype in (np.float32, np.float64):
        out = fn(Tensor(x.astype(dtype)))
        assert out.dtype == dtype
        np.testing.assert_allclose(out.data, reference(x.astype(dtype)), rtol=1e-6)


@pytest.mark.parametrize("name", UNARY)
@given(shape=shapes(max_dims=3, max_side=3), seed=seeds)
def test_unary_gradcheck(name, shape, seed):
    check_gradients(UNARY[name][0], unary_input(name, seed, shape))


@pytest.mark.parametrize("name", UNARY)
def test_unary_second_derivatives(name):
    fn = UNARY[name][0]
    # x * f(x) makes the second derivative nonzero even for piecewise-linear f (relu, abs, clip)
    check_second_derivatives(lambda x: fn(x) * x, unary_input(name, 1, (2, 3)))


def test_kinks_take_pytorch_subgradients():
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])  # relu'(0) = 0
    x.zero_grad()
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])  # sign(0) = 0
    x.zero_grad()
    # clamp passes the gradient where lo <= x <= hi, bounds included (torch.clamp)
    x.clip(0.0, 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0])


def test_clip_with_one_bound():
    x = Tensor([-2.0, -0.5, 0.5, 2.0], requires_grad=True)
    np.testing.assert_array_equal(x.clip(-1.0, None).data, [-1.0, -0.5, 0.5, 2.0])
    np.testing.assert_array_equal(x.clip(None, 1.0).data, [-2.0, -0.5, 0.5, 1.0])
    x.clip(None, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 1.0, 0.0])


def test_sigmoid_and_tanh_saturate_without_nan():
    x = Tensor(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], np.float32), requires_grad=True)
    s = x.sigmoid()
    assert s.dtype == np.float32
    np.testing.assert_allclose(s.data, [0.0, 9.357623e-14, 0.5, 1.0, 1.0], rtol=1e-6)
    s.sum().backward()
    assert np.all(np.isfinite(x.grad.data))
    np.testing.assert_allclose(x.grad.data, [0.0, 9.357623e-14, 0.25, 0.0, 0.0], rtol=1e-5, atol=1e-30)
    np.testing.assert_array_equal(Tensor([-1000.0, 1000.0]).tanh().data, [-1.0, 1.0])


# ----- binary ops and broadcasting --------------------------------------------------------
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
BROADCAST_SHAPES = [
    ((), (3,)),
    ((3,), ()),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 3, 4)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 2)),
    ((2, 3), (2, 3)),
]


def binary_inputs(name: str, seed: int, shape_a, shape_b):
    a = random_array(seed, shape_a)
    b = random_array(seed + 1, shape_b)
    if name == "div":
        b = away_from(b, [0.0], 0.3)
    if name == "pow":
        a = random_array(seed, shape_a, 0.3, 2.0)  # a positive base: aᵇ and ln a are smooth
    return a, b


@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_SHAPES)
@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcasting_values_and_gradcheck(name, shape_a, shape_b):
    a, b = binary_inputs(name, 0, shape_a, shape_b)
    out = BINARY[name](Tensor(a), Tensor(b))
    np.testing.assert_allclose(out.data, BINARY[name](a, b), rtol=1e-12)
    check_gradients(BINARY[name], a, b)


@pytest.mark.parametrize("name", BINARY)
@given(pair=broadcastable_pairs(), seed=seeds)
def test_binary_broadcasting_hypothesis(name, pair, seed):
    a, b = binary_inputs(name, seed % 1000, *pair)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    BINARY[name](ta, tb).sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    check_gradients(BINARY[name], a, b)


@pytest.mark.parametrize("name", BINARY)
def test_binary_second_derivatives_with_broadcasting(name):
    a, b = binary_inputs(name, 3, (3, 1), (1, 4))
    check_second_derivatives(lambda x, y: BINARY[name](x, y) * x, a, b)


@pytest.mark.parametrize("name", BINARY)
def test_python_scalar_on_either_side(name):
    x = np.array([0.5, 1.5, 2.5], np.float32)
    fn = BINARY[name]
    for left, right in ((Tensor(x, requires_grad=True), 1.5), (1.5, Tensor(x, requires_grad=True))):
        out = fn(left, right)
        assert isinstance(out, Tensor) and out.dtype == np.float32  # a Python scalar takes the tensor's dtype
        expected = fn(left.data if isinstance(left, Tensor) else left, right.data if isinstance(right, Tensor) else right)
        np.testing.assert_allclose(out.data, expected, rtol=1e-6)
        out.sum().backward()
        leaf = left if isinstance(left, Tensor) else right
        assert leaf.grad.dtype == np.float32
    # spot-check the gradients of the reflected forms against the calculus
    t = Tensor(x.astype(np.float64), requires_grad=True)
    (2.0 / t).sum().backward()
    np.testing.assert_allclose(t.grad.data, -2.0 / x**2, rtol=1e-6)
    t.zero_grad()
    (2.0**t).sum().backward()
    np.testing.assert_allclose(t.grad.data, 2.0**x * np.log(2.0), rtol=1e-6)
    t.zero_grad()
    (1.0 - t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [-1.0, -1.0, -1.0])


def test_ndarray_on_the_left_defers_to_the_tensor():
    x = Tensor([1.0, 2.0], requires_grad=True)
    out = np.array([3.0, 4.0]) * x
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


def test_list_operands_are_differentiated_like_arrays():
    # regression: x ** [2, 3] used to fail in backward ("unsupported operand type(s) for -: 'list' and 'int'")
    x = Tensor([2.0, 3.0], requires_grad=True)
    (x ** [2, 3]).sum().backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 27.0])
    x.zero_grad()
    ([1.0, 2.0] / x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [-1.0 / 4, -2.0 / 9])
    x.zero_grad()
    ([5.0, 7.0] * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 7.0])


# ----- pow ------------------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, 0.5, -2.5])
def test_pow_scalar_exponent(exponent):
    x = random_array(4, (2, 3), 0.3, 2.0)
    np.testing.assert_allclose((Tensor(x) ** exponent).data, x**exponent)
    check_gradients(lambda t: t**exponent, x)
    check_second_derivatives(lambda t: t**exponent, x)


def test_pow_negative_base_integer_exponent():
    x = Tensor([-2.0, -0.5], requires_grad=True)
    (x**3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [12.0, 0.75])


def test_pow_tensor_exponent_gradcheck():
    a = random_array(5, (3, 4), 0.3, 2.0)
    b = random_array(6, (3, 4), -2.0, 2.0)
    check_gradients(lambda x, y: x**y, a, b)
    check_second_derivatives(lambda x, y: x**y, a, b)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_pow_zero_exponent_and_zero_base_match_pytorch():
    # regression: 0 ** 0 with a tensor exponent gave a nan gradient for the base (0 * 0⁻¹); PyTorch gives 0
    a = Tensor(np.array([0.0, 0.0, 2.0, 0.0]), requires_grad=True)
    b = Tensor(np.array([0.0, 2.0, 0.0, 0.5]), requires_grad=True)
    out = a**b
    np.testing.assert_array_equal(out.data, [1.0, 0.0, 1.0, 0.0])
    out.sum().backward()
    # torch: a.grad = [0, 0, 0, inf], b.grad = [0, 0, ln 2, 0]
    np.testing.assert_array_equal(a.grad.data, [0.0, 0.0, 0.0, np.inf])
    np.testing.assert_allclose(b.grad.data, [0.0, 0.0, np.log(2.0), 0.0])
    # a Python-scalar exponent 0 as well
    c = Tensor([0.0, 3.0], requires_grad=True)
    (c**0).sum().backward()
    np.testing.assert_array_equal(c.grad.data, [0.0, 0.0])


# ----- astype ---------------------------------------------------------------------------
def test_astype_float32_to_float64():
    x32 = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x32.astype(np.float64)
    assert y.dtype == np.float64 and y.grad_fn is not None
    (y * Tensor(np.array([3.0, 4.0]))).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad.data, [3.0, 4.0])


def test_astype_float64_to_float32():
    x64 = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    z = x64.astype(np.float32)
    assert z.dtype == np.float32 and z.grad_fn is not None
    (z * z).sum().backward()
    assert x64.grad.dtype == np.float64
    np.testing.assert_array_equal(x64.grad.data, [2.0, 4.0])


def test_astype_to_integer_leaves_the_graph():
    x = Tensor([1.7, -2.2], requires_grad=True)
    y = x.astype(np.int64)
    assert y.dtype == np.int64 and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.data, [1, -2])


def test_astype_gradcheck_and_second_derivatives():
    x = random_array(7, (2, 3))
    check_gradients(lambda t: t.astype(np.float64) * t, x)
    check_second_derivatives(lambda t: t.astype(np.float64) ** 3, x)


def test_astype_float32_round_trip_gradient_is_exact():
    x = Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    (x.astype(np.float32).astype(np.float64) * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])


def test_mixed_float32_float64_promotes():
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float64), requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_elementwise_ops_are_registered():
    names = set(tinygrad_sm.ops())
    assert {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "relu", "tanh", "sigmoid", "clip"} <= names
