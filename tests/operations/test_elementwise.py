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


# ----- activations: leaky_relu, gelu (erf), silu, softplus, log1p -------------------------------
# name -> (tinygrad call, torch call (given torch), input domain as in UNARY)
ACTIVATIONS = {
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda torch, x: torch.nn.functional.leaky_relu(x, 0.1), [0.0]),
    "leaky_relu default": (lambda x: x.leaky_relu(), lambda torch, x: torch.nn.functional.leaky_relu(x), [0.0]),
    "elu": (lambda x: x.elu(), lambda torch, x: torch.nn.functional.elu(x), [0.0]),
    "elu alpha": (lambda x: x.elu(alpha=0.3), lambda torch, x: torch.nn.functional.elu(x, alpha=0.3), [0.0]),
    "gelu": (lambda x: x.gelu(), lambda torch, x: torch.nn.functional.gelu(x), "any"),
    "gelu tanh": (lambda x: x.gelu(approximate="tanh"), lambda torch, x: torch.nn.functional.gelu(x, approximate="tanh"), "any"),
    "erf": (lambda x: x.erf(), lambda torch, x: torch.erf(x), "any"),
    "silu": (lambda x: x.silu(), lambda torch, x: torch.nn.functional.silu(x), "any"),
    "softplus": (lambda x: x.softplus(), lambda torch, x: torch.nn.functional.softplus(x), "any"),
    # βa = 3 is the switch to the linear piece: a = 1.5 (β = 2) and a = -2 (β = -1.5)
    "softplus beta": (
        lambda x: x.softplus(beta=2.0, threshold=3.0),
        lambda torch, x: torch.nn.functional.softplus(x, beta=2.0, threshold=3.0),
        [1.5],
    ),
    "softplus negative beta": (
        lambda x: x.softplus(beta=-1.5, threshold=3.0),
        lambda torch, x: torch.nn.functional.softplus(x, beta=-1.5, threshold=3.0),
        [-2.0],
    ),
    "log1p": (lambda x: x.log1p(), lambda torch, x: torch.log1p(x), "above -1"),
}


def activation_input(name: str, seed: int, shape, low: float = -3.0, high: float = 3.0) -> np.ndarray:
    domain = ACTIVATIONS[name][2]
    if domain == "above -1":
        return random_array(seed, shape, -0.8, 3.0)
    x = random_array(seed, shape, low, high)
    return x if domain == "any" else away_from(x, domain)


@pytest.mark.parametrize("name", ACTIVATIONS)
@given(shape=shapes(max_dims=3, max_side=3), seed=seeds)
def test_activation_gradcheck(name, shape, seed):
    check_gradients(ACTIVATIONS[name][0], activation_input(name, seed, shape))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_second_derivatives(name):
    fn = ACTIVATIONS[name][0]
    check_second_derivatives(lambda x: fn(x) * x, activation_input(name, 2, (2, 3)))
    check_second_derivatives(fn, activation_input(name, 3, (4,)))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values_gradients_and_second_derivatives_match_pytorch(name):
    torch = pytest.importorskip("torch")
    fn, torch_fn, _ = ACTIVATIONS[name]
    x = activation_input(name, 4, (5, 7), -6.0, 6.0)
    g = random_array(5, (5, 7))
    t = Tensor(x, requires_grad=True)
    out = fn(t)
    (grad,) = tinygrad_sm.grad((out * Tensor(g)).sum(), [t], create_graph=True)
    # (a piecewise-linear function's gradient is a constant: its second derivative is 0)
    second = tinygrad_sm.grad(grad.sum(), [t])[0].data if grad.requires_grad else 0.0
    tx = torch.tensor(x, requires_grad=True)
    expected = torch_fn(torch, tx)
    (expected_grad,) = torch.autograd.grad((expected * torch.tensor(g)).sum(), [tx], create_graph=True)
    (expected_second,) = torch.autograd.grad(expected_grad.sum(), [tx], allow_unused=True)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad.data, expected_grad.detach().numpy(), rtol=1e-12, atol=1e-14)
    expected_second = 0.0 if expected_second is None else expected_second.numpy()
    np.testing.assert_allclose(second, expected_second, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_keeps_float32(name):
    x = Tensor(activation_input(name, 6, (3, 4)).astype(np.float32), requires_grad=True)
    out = ACTIVATIONS[name][0](x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu_second_derivative_at_zero_is_zero_as_pytorch(alpha):
    # the slope α·eᵃ of the negative piece is the constant α at a = 0 itself (elu(relu(x)) lands there)
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, -0.0, 0.0, 1.0])
    t = Tensor(x, requires_grad=True)
    (grad,) = tinygrad_sm.grad(t.elu(alpha=alpha).sum(), [t], create_graph=True)
    (second,) = tinygrad_sm.grad(grad.sum(), [t])
    tx = torch.tensor(x, requires_grad=True)
    (expected_grad,) = torch.autograd.grad(torch.nn.functional.elu(tx, alpha=alpha).sum(), [tx], create_graph=True)
    (expected_second,) = torch.autograd.grad(expected_grad.sum(), [tx])
    np.testing.assert_array_equal(grad.data, expected_grad.detach().numpy())
    np.testing.assert_allclose(second.data, expected_second.numpy(), rtol=1e-15, atol=0)


def test_activations_are_registered_with_functional_names():
    from tinygrad_sm.nn import functional as F

    assert {"leaky_relu", "elu", "gelu", "erf", "silu", "softplus", "log1p", "maximum", "minimum"} <= set(tinygrad_sm.ops())
    assert F.leaky_relu is Tensor.leaky_relu and F.gelu is Tensor.gelu and F.silu is Tensor.silu
    assert F.softplus is Tensor.softplus and F.log1p is Tensor.log1p and F.elu is Tensor.elu
    assert F.maximum is Tensor.maximum and F.minimum is Tensor.minimum
    x = Tensor([-1.0, 2.0])
    np.testing.assert_array_equal(F.leaky_relu(x, negative_slope=0.5).data, [-0.5, 2.0])
    np.testing.assert_array_equal(tinygrad_sm.maximum(x, 0.0).data, [0.0, 2.0])
    np.testing.assert_array_equal(tinygrad_sm.minimum(0.0, x).data, [-1.0, 0.0])


# ----- erf ----------------------------------------------------------------------------------
def test_erf_matches_math_erf_to_a_few_ulps():
    import math

    grid = np.concatenate(
        [
            np.linspace(-7.0, 7.0, 20_001),
            np.geomspace(1e-300, 40.0, 4_001),
            -np.geomspace(1e-300, 40.0, 4_001),
            [0.46875, -0.46875, 4.0, -4.0, np.nextafter(4.0, 5.0), 5.9, 26.5, 27.0, 1e300, 5e-324, -5e-324],
        ]
    )
    expected = np.array([math.erf(v) for v in grid])
    got = Tensor(grid).erf().data
    np.testing.assert_array_equal(got[expected == 0], expected[expected == 0])
    relative = np.abs(got - expected)[expected != 0] / np.abs(expected[expected != 0])
    assert relative.max() < 1e-15, grid[expected != 0][relative.argmax()]


def test_erf_special_values():
    out = Tensor([0.0, -0.0, np.inf, -np.inf, np.nan]).erf().data
    np.testing.assert_array_equal(out, [0.0, -0.0, 1.0, -1.0, np.nan])
    assert np.signbit(out[1]) and not np.signbit(out[0])
    assert Tensor(np.array([0.5, -3.0], np.float32)).erf().dtype == np.float32
    np.testing.assert_allclose(Tensor(np.array([0.5, -3.0], np.float32)).erf().data, [0.5204998778, -0.9999779095], rtol=1e-6)


def test_erf_backward_is_two_over_sqrt_pi_exp_minus_square():
    x = Tensor(np.array([-2.0, 0.0, 0.3, 5.0]), requires_grad=True)
    x.erf().sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 / np.sqrt(np.pi) * np.exp(-(x.data**2)), rtol=1e-15)


# ----- hostile input: PyTorch's values, no NumPy warnings -------------------------------------
HOSTILE = [-np.inf, -1e300, -1000.0, -40.0, -20.0, -0.0, 0.0, 1e-300, 19.9, 20.0, 20.1, 40.0, 1000.0, 1e300, np.inf, np.nan]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy's overflow and ∞·0 warnings; PyTorch is silent)
@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if n != "log1p"])
def test_activations_on_hostile_input_match_pytorch(name):
    torch = pytest.importorskip("torch")
    fn, torch_fn, _ = ACTIVATIONS[name]
    x = Tensor(np.array(HOSTILE), requires_grad=True)
    out = fn(x)
    out.sum().backward()
    tx = torch.tensor(HOSTILE, dtype=torch.float64, requires_grad=True)
    expected = torch_fn(torch, tx)
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=0)


def test_log1p_is_exact_near_zero_and_matches_pytorch_at_minus_one():
    torch = pytest.importorskip("torch")
    values = [1e-20, -1e-17, 0.0, 3.0]
    x = Tensor(np.array(values), requires_grad=True)
    out = x.log1p()
    np.testing.assert_array_equal(out.data, np.log1p(values))
    assert out.data[0] == 1e-20  # log(1 + 1e-20) would be 0
    out.sum().backward()
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    torch.log1p(tx).sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-15)


def test_softplus_is_linear_above_the_threshold_as_pytorch():
    x = Tensor(np.array([10.0, 10.5, 11.0]), requires_grad=True)
    out = x.softplus(beta=2.0, threshold=21.0)  # βx = 20, 21, 22
    np.testing.assert_allclose(out.data[:2], np.log1p(np.exp(2 * x.data[:2])) / 2, rtol=1e-15)
    assert out.data[2] == 11.0
    out.sum().backward()
    sigmoid = 1 / (1 + np.exp(-2 * x.data[:2]))
    np.testing.assert_allclose(x.grad.data, [*sigmoid, 1.0], rtol=1e-15)


def test_leaky_relu_derivative_at_zero_and_nan_is_the_slope_as_pytorch():
    x = Tensor(np.array([-1.0, 0.0, 2.0, np.nan]), requires_grad=True)
    out = x.leaky_relu(negative_slope=0.2)
    np.testing.assert_array_equal(out.data, [-0.2, 0.0, 2.0, np.nan])
    out.backward(np.array([1.0, 1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [0.2, 0.2, 1.0, 0.2])
    # the gradient is selected: an infinite upstream gradient where a > 0 stays there (0·∞ where
    # a ≤ 0 and the slope is 0 is nan, as in PyTorch, whose rule multiplies by the slope there)
    x.zero_grad()
    with np.errstate(invalid="ignore"):
        x.leaky_relu(negative_slope=0.0).backward(np.array([np.inf, 1.0, np.inf, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [np.nan, 0.0, np.inf, 0.0])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: x.gelu(approximate="fast"), ValueError, "gelu: approximate must be 'none' or 'tanh', got 'fast'"),
        (lambda x: x.gelu(approximate=None), ValueError, "gelu: approximate must be 'none' or 'tanh', got None"),
        (lambda x: x.leaky_relu(negative_slope="0.1"), TypeError, "leaky_relu: negative_slope must be a number, got '0.1'"),
        (lambda x: x.softplus(beta=None), TypeError, "softplus: beta must be a number, got None"),
        (lambda x: x.elu(alpha="1"), TypeError, "elu: alpha must be a number, got '1'"),
        (lambda x: x.softplus(threshold="20"), TypeError, "softplus: threshold must be a number, got '20'"),
        (lambda x: tinygrad_sm.maximum(x, "a"), TypeError, "maximum: unsupported operand of type str"),
        (lambda x: tinygrad_sm.minimum(None, x), TypeError, "minimum: unsupported operand of type NoneType"),
        (lambda x: tinygrad_sm.maximum(x, np.ones(3)), ValueError, "maximum: "),
    ],
)
def test_activation_bad_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(Tensor([1.0, 2.0], requires_grad=True))


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda x: x.leaky_relu(negative_slope=np.float32(0.5)), lambda x: x.leaky_relu(negative_slope=0.5)),
        (lambda x: x.elu(alpha=np.float64(0.5)), lambda x: x.elu(alpha=0.5)),
        (lambda x: x.softplus(beta=np.float32(2.0), threshold=np.int64(1)), lambda x: x.softplus(beta=2.0, threshold=1)),
    ],
)
def test_activation_settings_may_be_numpy_numbers_and_keep_float32(call, expected):
    x = Tensor(np.array([-1.0, 0.25, 2.0], np.float32), requires_grad=True)
    out = call(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, expected(Tensor(x.data)).data)
    out.sum().backward()
    assert x.grad.dtype == np.float32


# ----- maximum, minimum ---------------------------------------------------------------------
EXTREMA = {"maximum": (tinygrad_sm.maximum, np.maximum), "minimum": (tinygrad_sm.minimum, np.minimum)}


@pytest.mark.parametrize("name", EXTREMA)
@given(shapes=broadcastable_pairs(), seed=seeds)
def test_extremum_gradcheck_with_broadcasting(name, shapes, seed):
    fn, reference = EXTREMA[name]
    a_shape, b_shape = shapes
    # values on a grid of step 0.3, shifted by 0.1: a and b never tie
    a = np.round(random_array(seed, a_shape) / 0.3) * 0.3
    b = np.round(random_array(seed + 1, b_shape) / 0.3) * 0.3 + 0.1
    np.testing.assert_array_equal(fn(Tensor(a), Tensor(b)).data, reference(a, b))
    check_gradients(fn, a, b)


@pytest.mark.parametrize("name", EXTREMA)
def test_extremum_second_derivatives(name):
    fn = EXTREMA[name][0]
    a, b = random_array(7, (3, 4)), random_array(8, (4,))
    check_second_derivatives(lambda x, y: fn(x * y, y * y) * x, a, b)


@pytest.mark.parametrize("name", EXTREMA)
def test_extremum_ties_nan_and_broadcasting_match_pytorch(name):
    torch = pytest.importorskip("torch")
    nan = np.nan
    a_values = np.array([[1.0, 2.0, nan, 1.0, nan, -np.inf], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    b_values = np.array([1.0, 1.0, 1.0, nan, nan, -np.inf])
    g = random_array(9, (2, 6))
    a, b = Tensor(a_values, requires_grad=True), Tensor(b_values, requires_grad=True)
    out = EXTREMA[name][0](a, b)
    out.backward(g)
    ta, tb = torch.tensor(a_values, requires_grad=True), torch.tensor(b_values, requires_grad=True)
    expected = getattr(torch, name)(ta, tb)
    expected.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(b.grad.data, tb.grad.numpy(), rtol=1e-15)


def test_maximum_tie_splits_the_gradient_evenly_and_keeps_float32():
    a = Tensor(np.array([3.0, 1.0], np.float32), requires_grad=True)
    b = Tensor(np.array([3.0, 2.0], np.float32), requires_grad=True)
    out = a.maximum(b)
    assert out.dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0])
    assert a.grad.dtype == np.float32


def test_clip_takes_pytorchs_min_max_keywords_and_its_clamp_name():
    torch = pytest.importorskip("torch")
    x = np.array([-2.0, 0.5, 3.0])
    t, bound = Tensor(x, requires_grad=True), Tensor(np.array(1.0), requires_grad=True)
    out = t.clamp(min=Tensor(np.array(0.0)), max=bound)
    out.sum().backward()
    tx, tb = torch.tensor(x, requires_grad=True), torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    expected = tx.clamp(min=torch.tensor(0.0, dtype=torch.float64), max=tb)
    expected.sum().backward()
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    np.testing.assert_array_equal(t.grad.data, tx.grad.numpy())
    assert bound.grad.item() == tb.grad.item()
    np.testing.assert_array_equal(Tensor(x).clip(max=1.0).data, np.clip(x, None, 1.0))
    assert Tensor.clamp is Tensor.clip
    with pytest.raises(TypeError, match=r"clip: got both lo= and min= \(PyTorch's name for lo\)"):
        t.clip(lo=0.0, min=0.0)


def test_float32_erf_is_accurate_to_float32_precision_everywhere():
    import math

    from tinygrad_sm.operations.elementwise import erf_array

    x = np.concatenate([np.linspace(-6, 6, 40001), np.logspace(-30, 1, 4000), -np.logspace(-30, 1, 4000)]).astype(np.float32)
    exact = np.array([math.erf(float(v)) for v in x])
    ours = erf_array(x)
    assert ours.dtype == np.float32
    error = np.abs(ours.astype(np.float64) - exact)
    assert error.max() < 5e-7
    assert (error / np.maximum(np.abs(exact), 1e-38)).max() < 5e-7  # relative too: tiny x keeps its digits
    special = erf_array(np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float32))
    assert np.isnan(special[0]) and special[1] == 1 and special[2] == -1 and np.signbit(special[3])
