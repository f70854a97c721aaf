"""Elementwise ops (tinygrad_sm/operations/elementwise.py): values, gradients, broadcasting, second derivatives."""

from __future__ import annotations

import re

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


# ----- masked rules select: an infinite upstream gradient gives 0, not nan (as PyTorch) ------
INF = np.inf
SELECTING_RULES = {
    # name: (tinygrad fn, torch fn, input, upstream gradient)
    "relu": (lambda x: x.relu(), lambda x: x.relu(), [-1.0, 0.0, 4.0], [INF, INF, 1.0]),
    "clip": (lambda x: x.clip(0.0, 1.0), lambda x: x.clamp(0.0, 1.0), [-1.0, 0.5, 2.0], [INF, 1.0, -INF]),
    "clip lo": (lambda x: x.clip(0.0, None), lambda x: x.clamp(0.0, None), [-1.0, 0.5], [INF, 1.0]),
    "pow 0": (lambda x: x**0, lambda x: x**0, [0.0, 2.0, -3.0], [INF, INF, -INF]),
    "pow 0.0": (lambda x: x**0.0, lambda x: x**0.0, [0.0, 2.0], [INF, INF]),
    # at nan: relu passes the gradient (nan ≤ 0 is false), abs gives sign(nan) = 0, as PyTorch
    "relu nan": (lambda x: x.relu(), lambda x: x.relu(), [-0.5, 0.5, np.nan], [1.0, 1.0, 1.0]),
    "abs nan": (lambda x: x.abs(), lambda x: x.abs(), [-0.5, 0.5, np.nan], [1.0, 1.0, 1.0]),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (∞·0 in the unselected branch)
@pytest.mark.parametrize("name", SELECTING_RULES)
def test_masked_rules_select_instead_of_multiplying(name):
    fn, _, values, upstream = SELECTING_RULES[name]
    x = Tensor(np.array(values), requires_grad=True)
    fn(x).backward(np.array(upstream))
    assert not np.isnan(x.grad.data).any(), x.grad.data


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", SELECTING_RULES)
def test_masked_rules_match_pytorch_for_infinite_upstream_gradients(name):
    torch = pytest.importorskip("torch")
    fn, torch_fn, values, upstream = SELECTING_RULES[name]
    x = Tensor(np.array(values), requires_grad=True)
    fn(x).backward(np.array(upstream))
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    torch_fn(tx).backward(torch.tensor(upstream, dtype=torch.float64))
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())


def test_relu_then_sqrt_at_zero_is_zero_not_nan():
    x = Tensor([-1.0, 0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        x.relu().sqrt().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.25])  # PyTorch: [0, 0, 0.25]


# ----- pow at b = 0: the Hessian is symmetric ------------------------------------------------
def test_pow_mixed_second_partial_at_zero_exponent_is_one_over_a():
    a = np.array([2.0, 3.0, 0.5])

    def f(ab):
        return (ab[0] ** ab[1]).sum()

    hess = tinygrad_sm.hessian(f, np.stack([a, np.zeros(3)]))  # shape (2, 3, 2, 3)
    # ∂²(aᵇ)/∂a∂b = aᵇ⁻¹(1 + b ln a) = 1/a at b = 0, from both sides
    np.testing.assert_allclose(np.diag(hess[0, :, 1, :]), 1 / a, rtol=1e-12)
    np.testing.assert_allclose(np.diag(hess[1, :, 0, :]), 1 / a, rtol=1e-12)
    np.testing.assert_allclose(np.diag(hess[1, :, 1, :]), np.log(a) ** 2, rtol=1e-12)  # ∂²/∂b² = aᵇ ln²a
    np.testing.assert_allclose(np.diag(hess[0, :, 0, :]), 0.0, atol=1e-12)  # ∂²/∂a² = b(b−1)aᵇ⁻² = 0


def test_pow_second_derivative_of_a_constant_zero_exponent_is_zero():
    np.testing.assert_array_equal(tinygrad_sm.hessian(lambda t: (t**0).sum(), np.array([0.0, 2.0])), np.zeros((2, 2)))


# ----- division: -g·(a/b)/b never under- or overflows where the result is representable ------
def test_division_gradient_in_float32_does_not_overflow():
    a = Tensor(np.array([1e-30], np.float32))
    b = Tensor(np.array([1e-23], np.float32), requires_grad=True)
    (a / b).sum().backward()
    np.testing.assert_allclose(b.grad.data, [-1e16], rtol=1e-6)  # PyTorch: -1e16 (a/b² would be -inf)
    a = Tensor(np.array([1e30], np.float32))
    b = Tensor(np.array([1e20], np.float32), requires_grad=True)
    (a / b).sum().backward()
    np.testing.assert_allclose(b.grad.data, [-1e-10], rtol=1e-6)  # b² overflows to inf


# ----- clip with Tensor bounds (PyTorch's clamp) ---------------------------------------------
def test_clip_with_tensor_bounds_gradcheck():
    a = away_from(random_array(8, (3, 4)), [-0.5, 0.5])
    lo = np.full((3, 1), -0.5)  # bounds of other shapes, broadcast
    hi = np.full((4,), 0.5)
    check_gradients(lambda x, l, h: x.clip(l, h), a, lo, hi)
    check_second_derivatives(lambda x, l, h: x.clip(l, h) * x, a, lo, hi)


def test_clip_with_tensor_bounds_matches_pytorch():
    torch = pytest.importorskip("torch")
    # below, inside, above, lo > hi (the result is hi), lo == hi, on a bound
    a, lo, hi = [-2.0, 0.5, 5.0, -2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 2.0, -1.0, 1.0, 3.0]
    g = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    ours = [Tensor(np.array(v), requires_grad=True) for v in (a, lo, hi)]
    ours[0].clip(ours[1], ours[2]).backward(np.array(g))
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, lo, hi)]
    out = torch.clamp(theirs[0], theirs[1], theirs[2])
    out.backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_array_equal(ours[0].clip(ours[1], ours[2]).data, out.detach().numpy())
    for mine, torch_tensor in zip(ours, theirs):
        np.testing.assert_array_equal(mine.grad.data, torch_tensor.grad.numpy())


def test_clip_bounds_of_a_wider_shape_broadcast():
    x = Tensor([0.5, 2.0], requires_grad=True)
    out = x.clip(np.zeros((3, 1)), np.ones((3, 2)))
    assert out.shape == (3, 2)  # as torch.clamp
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0])


# ----- operands --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: x + "a", "add: unsupported operand of type str: 'a'"),
        (lambda x: "a" - x, "sub: unsupported operand of type str"),
        (lambda x: x * {1: 2}, "mul: unsupported operand of type dict"),
        (lambda x: x / None, "div: unsupported operand of type NoneType"),
        (lambda x: x ** ["a"], "pow: unsupported operand of type list"),
        (lambda x: x @ "ab", "matmul: unsupported operand of type str"),
    ],
)
def test_a_non_numeric_operand_is_a_clear_error(call, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        call(Tensor([1.0, 2.0]))


def test_astype_with_a_bad_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="astype: 'foo' is not a dtype"):
        Tensor([1.0]).astype("foo")
    with pytest.raises(TypeError, match="astype: only numeric and bool dtypes"):
        Tensor([1.0]).astype(str)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("upstream", [1.0, np.inf, -np.inf])
@pytest.mark.parametrize(("base", "exponent"), [(0.0, 0.5), (0.0, 0.0), (2.0, 0.0), (2.0, 1.5), (0.0, -1.0), (-2.0, 2.0)])
def test_pow_gradients_at_zero_base_and_exponent_match_pytorch(base, exponent, upstream):
    torch = pytest.importorskip("torch")
    a, b = Tensor(np.array([base]), requires_grad=True), Tensor(np.array([exponent]), requires_grad=True)
    (a**b).backward(np.array([upstream]))
    ta = torch.tensor([base], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([exponent], dtype=torch.float64, requires_grad=True)
    (ta**tb).backward(torch.tensor([upstream], dtype=torch.float64))
    np.testing.assert_array_equal(a.grad.data, ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.data, tb.grad.numpy())
