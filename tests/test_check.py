"""gradcheck, jacobian and hessian (tinygrad_sm/check.py)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_array

import tinygrad_sm
from tinygrad_sm import Function, GradcheckError, Tensor


class WrongSquare(Function):
    """x² with a deliberately wrong backward: 3x instead of 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x * grad


# ----- gradcheck --------------------------------------------------------------------------
def test_gradcheck_passes_for_correct_gradients():
    x = Tensor(random_array(0, (2, 3)), requires_grad=True)
    assert tinygrad_sm.gradcheck(lambda t: (t.exp() * t).sum(), [x]) is True
    assert tinygrad_sm.gradcheck(lambda t: t.softmax(), x) is True  # a single Tensor; non-scalar output


def test_gradcheck_error_names_input_element_and_values():
    y = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x = Tensor(np.array([[0.5, -1.0], [2.0, 4.0]]), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        tinygrad_sm.gradcheck(lambda a, b: a.sum() + WrongSquare.apply(b), [y, x])
    error = info.value
    assert error.input_index == 1
    assert error.element == (0, 0)
    assert error.output_element == (0, 0)
    assert error.analytic == pytest.approx(1.5)  # 3 · 0.5
    assert error.numeric == pytest.approx(1.0, rel=1e-6)  # 2 · 0.5
    message = str(error)
    assert "input 1" in message and "(0, 0)" in message and "analytic 1.5" in message and "numeric 1" in message
    assert isinstance(error, RuntimeError)


def test_gradcheck_raise_exception_false_returns_false():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert tinygrad_sm.gradcheck(lambda t: WrongSquare.apply(t), [x], raise_exception=False) is False
    assert tinygrad_sm.gradcheck(lambda t: t * t, [x], raise_exception=False) is True


def test_gradcheck_checks_only_inputs_that_require_grad():
    wrong_but_unchecked = Tensor(np.array([1.0, 2.0]))
    checked = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    assert tinygrad_sm.gradcheck(lambda a, b: WrongSquare.apply(a) * b, [wrong_but_unchecked, checked])
    # with no input requiring grad, every floating-point input is checked
    with pytest.raises(GradcheckError) as info:
        tinygrad_sm.gradcheck(lambda a, b: WrongSquare.apply(a) * b, [Tensor(np.array([1.0])), Tensor(np.array([3.0]))])
    assert info.value.input_index == 0


def test_gradcheck_with_non_tensor_and_integer_inputs():
    logits = Tensor(random_array(1, (3, 4)), requires_grad=True)
    target = Tensor([0, 3, 1])
    assert tinygrad_sm.gradcheck(lambda z, t, w: z.cross_entropy(t, weight=w), [logits, target, np.ones(4)])


def test_gradcheck_works_in_float64_for_float32_inputs():
    x = Tensor(random_array(2, (3,)).astype(np.float32), requires_grad=True)
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return (t * t).tanh()

    assert tinygrad_sm.gradcheck(fn, [x], atol=1e-8, rtol=1e-6)
    assert set(seen) == {np.dtype(np.float64)}
    assert x.dtype == np.float32 and x.grad is None  # the caller's tensor is untouched


def test_gradcheck_of_a_non_contiguous_input():
    # regression: a transposed input was perturbed through a copy, so every numeric derivative was 0
    x = Tensor(random_array(3, (3, 2)).T, requires_grad=True)
    assert not x.data.flags.c_contiguous
    assert tinygrad_sm.gradcheck(lambda t: t.exp(), [x])


def test_gradcheck_of_multiple_outputs():
    x = Tensor(random_array(4, (3,)), requires_grad=True)
    assert tinygrad_sm.gradcheck(lambda t: (t.exp(), t.sum() * t), [x])
    with pytest.raises(GradcheckError) as info:
        tinygrad_sm.gradcheck(lambda t: (t.exp(), WrongSquare.apply(t)), [x])
    assert info.value.output_element[0] == 1  # the second output


def test_gradcheck_argument_errors():
    with pytest.raises(ValueError, match="no floating-point Tensor"):
        tinygrad_sm.gradcheck(lambda t: t, [Tensor([1, 2])])
    with pytest.raises(TypeError, match="must return a Tensor"):
        tinygrad_sm.gradcheck(lambda t: 3.0, [Tensor([1.0])])


def test_gradcheck_tolerances_are_used():
    x = Tensor(np.array([1.0]), requires_grad=True)
    # analytic 3, numeric 2: passes only with a tolerance of more than 1
    assert tinygrad_sm.gradcheck(lambda t: WrongSquare.apply(t), [x], atol=1.01, rtol=0.0)
    assert not tinygrad_sm.gradcheck(lambda t: WrongSquare.apply(t), [x], atol=0.99, rtol=0.0, raise_exception=False)


# ----- jacobian ---------------------------------------------------------------------------
def test_jacobian_shape_and_values():
    x = random_array(5, (4,))
    p = np.exp(x) / np.exp(x).sum()
    jac = tinygrad_sm.jacobian(lambda t: t.softmax(), x)
    assert jac.shape == (4, 4)
    np.testing.assert_allclose(jac, np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)


def test_jacobian_of_matrix_function():
    a = random_array(6, (3, 2))
    x = random_array(7, (2, 4))
    jac = tinygrad_sm.jacobian(lambda t: Tensor(a) @ t, x)
    assert jac.shape == (3, 4, 2, 4)
    expected = np.einsum("ik,jl->ijkl", a, np.eye(4))  # ∂(a x)_ij / ∂x_kl = a_ik δ_jl
    np.testing.assert_allclose(jac, expected, rtol=1e-12)
    scalar = tinygrad_sm.jacobian(lambda t: (t * t).sum(), x)
    assert scalar.shape == (2, 4)
    np.testing.assert_allclose(scalar, 2 * x)


def test_jacobian_accepts_tensors_and_constant_functions():
    x = Tensor(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(tinygrad_sm.jacobian(lambda t: t * 3, x), 3 * np.eye(2))
    np.testing.assert_array_equal(tinygrad_sm.jacobian(lambda t: Tensor(np.ones(3)), x), np.zeros((3, 2)))


# ----- hessian ----------------------------------------------------------------------------
def test_hessian_shape_and_values():
    a = random_array(8, (3, 3))
    x = random_array(9, (3,))
    hess = tinygrad_sm.hessian(lambda t: t @ Tensor(a) @ t, x)
    assert hess.shape == (3, 3)
    np.testing.assert_allclose(hess, a + a.T, rtol=1e-12)
    m = random_array(10, (2, 2))
    hess = tinygrad_sm.hessian(lambda t: (t**3).sum(), m)
    assert hess.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(hess.reshape(4, 4), np.diag(6 * m.reshape(-1)), rtol=1e-12)


def test_hessian_of_linear_and_constant_functions_is_zero():
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(tinygrad_sm.hessian(lambda t: (t * 3).sum(), x), np.zeros((2, 2)))
    np.testing.assert_array_equal(tinygrad_sm.hessian(lambda t: Tensor(5.0), x), np.zeros((2, 2)))


def test_hessian_of_log_sum_exp_matches_the_softmax_jacobian():
    x = random_array(11, (5,))
    p = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(tinygrad_sm.hessian(lambda t: t.logsumexp(), x), np.diag(p) - np.outer(p, p), atol=1e-14)


ZERO_D_SECOND_DERIVATIVES = {
    # op: (f''(x) in closed form) -- the ops whose forward saves its own output
    "exp": lambda x: np.exp(x),
    "tanh": lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
    "sigmoid": lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s),
    "sqrt": lambda x: -0.25 * x**-1.5,
    "log": lambda x: -1 / x**2,
}


@pytest.mark.parametrize("op", sorted(ZERO_D_SECOND_DERIVATIVES))
def test_hessian_of_ops_on_0d_tensors(op):
    # NumPy returns a scalar, not an array, for a 0-d result; the saved output must still be
    # recognised as the output in a create_graph backward (it once became a constant: f'' = 0).
    x = np.array(0.7)
    expected = ZERO_D_SECOND_DERIVATIVES[op](0.7)
    np.testing.assert_allclose(tinygrad_sm.hessian(lambda t: getattr(t, op)(), x), expected, rtol=1e-12)
    np.testing.assert_allclose(tinygrad_sm.hessian(lambda t: getattr(t.reshape(1), op)().sum(), x), expected, rtol=1e-12)


def test_hessian_needs_a_scalar():
    with pytest.raises(ValueError, match=r"scalar.*\(2,\)"):
        tinygrad_sm.hessian(lambda t: t * t, np.array([1.0, 2.0]))


# ----- 0-d inputs stay 0-d: gradcheck must check the function it was given ------------------
def test_gradcheck_hands_a_0d_input_to_fn_as_0d_and_perturbs_it():
    seen = []

    def cube(t):
        seen.append((t.shape, float(t.item())))
        return t * t * t

    x = Tensor(np.array(2.0), requires_grad=True)
    assert tinygrad_sm.gradcheck(cube, [x]) is True
    assert {shape for shape, _ in seen} == {()}  # never (1,)
    assert sorted({value for _, value in seen}) == pytest.approx([2.0 - 1e-6, 2.0, 2.0 + 1e-6])
    assert x.shape == () and x.item() == 2.0  # the caller's tensor is untouched


def test_gradcheck_of_a_function_whose_value_depends_on_the_rank():
    # t.ndim changes the function: as a (1,) tensor it would be 3t², as a 0-d one it is t³ (and a
    # wrong backward for the 0-d case must be caught, not hidden by checking another function)
    def fn(t):
        return t * t * t if t.ndim == 0 else 3 * t * t

    assert tinygrad_sm.gradcheck(fn, Tensor(1.5)) is True
    with pytest.raises(GradcheckError) as info:
        tinygrad_sm.gradcheck(lambda t: WrongSquare.apply(t) if t.ndim == 0 else t * t, [Tensor(1.5, dtype=np.float64)])
    assert info.value.element == () and info.value.analytic == pytest.approx(4.5)
    assert info.value.numeric == pytest.approx(3.0)


def test_gradcheck_with_0d_and_other_inputs_mixed():
    a, b = Tensor(0.5, requires_grad=True), Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]).T, requires_grad=True)
    assert tinygrad_sm.gradcheck(lambda s, m, k: (s * m).exp().sum() * s * k, [a, b, 3])


def test_jacobian_and_hessian_of_0d_inputs():
    np.testing.assert_allclose(tinygrad_sm.jacobian(lambda t: t * t * t, Tensor(2.0)), 12.0)
    assert tinygrad_sm.jacobian(lambda t: t * t, Tensor(3.0)).shape == ()
    jac = tinygrad_sm.jacobian(lambda t: t * Tensor([1.0, 2.0]), np.array(3.0))
    assert jac.shape == (2,)
    np.testing.assert_allclose(jac, [1.0, 2.0])
    np.testing.assert_allclose(tinygrad_sm.jacobian(lambda t: t.sum(), np.ones((2, 3))), np.ones((2, 3)))
    hess = tinygrad_sm.hessian(lambda t: t * t * t, 2.0)
    assert hess.shape == ()
    np.testing.assert_allclose(hess, 12.0, rtol=1e-6)


def check(*args, **kwargs):
    """gradcheck of the identity, with the given inputs and settings."""
    return tinygrad_sm.gradcheck(lambda t: t, *args, **kwargs)


ONE = Tensor(1.0)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: check(3.0), TypeError, "gradcheck: inputs must be a Tensor or a tuple/list of inputs, got float"),
    (lambda: check(np.ones(2)), TypeError, "inputs must be a Tensor or a tuple/list.*got ndarray"),
    (lambda: tinygrad_sm.gradcheck("f", [Tensor(1.0)]), TypeError, "gradcheck: fn must be callable, got str"),
    (lambda: check(ONE, eps=0), ValueError, "gradcheck: eps must be a finite number > 0, got 0"),
    (lambda: check(ONE, eps=-1e-6), ValueError, "gradcheck: eps must be a finite number > 0"),
    (lambda: check(ONE, eps=float("nan")), ValueError, "eps must be a finite number > 0, got nan"),
    (lambda: check(ONE, atol="a"), TypeError, "gradcheck: atol must be a number, got str 'a'"),
    (lambda: check(ONE, atol=-1), ValueError, "gradcheck: atol must be a finite number >= 0"),
    (lambda: check(ONE, rtol="a"), TypeError, "gradcheck: rtol must be a number, got str 'a'"),
    (lambda: check(ONE, rtol=float("inf")), ValueError, "gradcheck: rtol must be a finite number >= 0"),
    (lambda: check(ONE, raise_exception="no"), TypeError, "raise_exception must be a bool"),
    (lambda: tinygrad_sm.jacobian(lambda t: t, 3), TypeError, "jacobian: x must hold floating-point values, got dtype int64"),
    (lambda: tinygrad_sm.hessian(lambda t: t, np.array([1, 2])), TypeError, "hessian: x must hold floating-point values"),
    (lambda: tinygrad_sm.jacobian(None, 3.0), TypeError, "jacobian: fn must be callable"),
])
def test_bad_arguments_to_checkers_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
