"""Custom ops and the registry (tinygrad_sm/function.py): Function, apply, register_op, ops(), get_op."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import gradient_function, random_array, tensors

import tinygrad_sm
from tinygrad_sm import Function, Tensor, get_op, register_op
from tinygrad_sm.operations.rule_helpers import exp

BUILT_IN_OPS = {
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "relu", "tanh", "sigmoid", "clip",
    "matmul", "sum", "mean", "max", "min", "softmax", "log_softmax", "logsumexp", "cross_entropy",
    "reshape", "transpose", "swapaxes", "getitem", "concatenate", "stack",
}


class Cube(Function):
    """The example of API.md, verbatim."""

    @staticmethod
    def forward(ctx, x):  # x: numpy.ndarray
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):  # grad has the output's shape
        (x,) = ctx.saved_tensors
        return 3 * x**2 * grad  # one gradient per forward input (None: not differentiable)


class Softplus(Function):
    """softplus(x) = log(1 + eˣ); its derivative σ(x) = 1 − 1/(1 + eˣ) is written with Tensor-compatible ops."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (1 - 1 / (1 + exp(x)))


# ----- the Cube example -------------------------------------------------------------------
def test_cube_example_forward_backward_and_gradcheck():
    t = Tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = Cube.apply(t)
    np.testing.assert_array_equal(y.data, [1.0, -8.0, 0.125])
    assert y.grad_fn is not None and repr(y.grad_fn) == "<CubeBackward>"
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.data, [3.0, 12.0, 0.75])
    assert tinygrad_sm.gradcheck(lambda x: Cube.apply(x), tensors(random_array(0, (2, 3))))


def test_cube_composes_with_built_in_ops_and_broadcasting():
    x = Tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    (Cube.apply(x) * Tensor([1.0, 10.0])).sum().backward()  # broadcast (2, 1) * (2,) after the custom op
    np.testing.assert_array_equal(x.grad.data, [[33.0], [132.0]])


def test_custom_op_without_grad_records_nothing():
    y = Cube.apply(Tensor([2.0]))
    assert y.grad_fn is None and not y.requires_grad
    with tinygrad_sm.no_grad():
        z = Cube.apply(Tensor([2.0], requires_grad=True))
    assert z.grad_fn is None


def test_numpy_backward_is_differentiable_once():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (g,) = tinygrad_sm.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [3.0, 12.0])  # the first derivative is right
    with pytest.raises(RuntimeError, match=r"Cube\.backward.*only once.*differentiable_backward = True"):
        g.sum().backward()
    with pytest.raises(RuntimeError, match="only once"):
        tinygrad_sm.hessian(lambda t: Cube.apply(t).sum(), np.array([1.0, 2.0]))


def test_numpy_backward_gives_correct_first_derivatives_under_create_graph():
    # backward(create_graph=True) through a graph that contains a NumPy-only rule: the gradient is right,
    # only differentiating it again through that rule is refused
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (Cube.apply(x) + x * x).sum()
    loss.backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, [5.0, 16.0])
    gradient, x.grad = x.grad, None
    with pytest.raises(RuntimeError, match="only once"):
        gradient.sum().backward()


def test_differentiable_custom_op_has_correct_second_derivatives():
    x = random_array(1, (2, 3))
    assert tinygrad_sm.gradcheck(lambda t: Softplus.apply(t), tensors(x))
    assert tinygrad_sm.gradcheck(gradient_function(lambda t: Softplus.apply(t)), tensors(x))
    sigmoid = 1 / (1 + np.exp(-x[0]))
    hessian = tinygrad_sm.hessian(lambda t: Softplus.apply(t).sum(), x[0])
    np.testing.assert_allclose(hessian, np.diag(sigmoid * (1 - sigmoid)), rtol=1e-10, atol=1e-14)


class ScaledAdd(Function):
    """z = a + factor·b, with a non-Tensor argument after the Tensors."""

    @staticmethod
    def forward(ctx, a, b, factor):
        ctx.factor = factor
        assert ctx.needs_input_grad[2] is False  # a plain number never needs a gradient
        return a + factor * b

    @staticmethod
    def backward(ctx, grad):
        grad_b = grad * ctx.factor if ctx.needs_input_grad[1] else None
        return grad, grad_b  # the trailing None for ``factor`` may be left out


def test_non_tensor_arguments_and_needs_input_grad():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0])
    out = ScaledAdd.apply(a, b, 10.0)
    np.testing.assert_array_equal(out.data, [31.0, 42.0])
    assert out.grad_fn.needs_input_grad == (True, False, False)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])
    b.requires_grad = True
    ScaledAdd.apply(a, b, 10.0).sum().backward()
    np.testing.assert_array_equal(b.grad.data, [10.0, 10.0])


def test_none_gradient_means_not_differentiable():
    class FirstOnly(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * 2 + b

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, None

    a, b = Tensor([1.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    FirstOnly.apply(a, b).sum().backward()
    assert a.grad.item() == 2.0 and b.grad is None


def test_backward_returning_too_many_or_too_few_gradients_is_an_error():
    class TooMany(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(RuntimeError, match=r"TooMany\.backward returned 2 gradient\(s\) but forward took 1 input"):
        TooMany.apply(Tensor([1.0], requires_grad=True)).sum().backward()
    with pytest.raises(RuntimeError, match=r"TooFew\.backward returned 1 gradient\(s\) but forward took 2 input"):
        TooFew.apply(Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)).sum().backward()


def test_backward_returning_a_wrong_shape_is_an_error():
    class WrongShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum()

        @staticmethod
        def backward(ctx, grad):
            return np.ones(5)

    message = r"WrongShape\.backward returned a gradient of shape \(5,\) for an input of shape \(2, 3\)"
    with pytest.raises(RuntimeError, match=message):
        WrongShape.apply(Tensor(np.ones((2, 3)), requires_grad=True)).backward()


def test_forward_errors_name_the_op():
    class Picky(Function):
        @staticmethod
        def forward(ctx, a):
            raise ValueError("needs a positive input")

    with pytest.raises(ValueError, match=r"Picky: needs a positive input \(input shapes: \(2,\)\)"):
        Picky.apply(Tensor([1.0, 2.0]))


# ----- the registry -----------------------------------------------------------------------
def test_register_op_directly(registry_cleanup):
    assert register_op("cube_direct", Cube) is Cube
    assert "cube_direct" in tinygrad_sm.ops()
    assert get_op("cube_direct") is Cube
    x = Tensor([2.0], requires_grad=True)
    y = x.cube_direct()
    assert y.item() == 8.0
    y.backward()
    assert x.grad.item() == 12.0
    assert Tensor.cube_direct.__name__ == "cube_direct"
    assert Tensor.cube_direct.__doc__ == Cube.__doc__


def test_register_op_as_decorator_with_arguments(registry_cleanup):
    @register_op("scaled_add_test")
    class Registered(ScaledAdd):
        pass

    assert Registered.name == "scaled_add_test" and get_op("scaled_add_test") is Registered
    a = Tensor([1.0], requires_grad=True)
    out = a.scaled_add_test(Tensor([2.0]), 3.0)
    assert out.item() == 7.0
    out.backward()
    assert a.grad.item() == 1.0


def test_register_op_without_method(registry_cleanup):
    register_op("cube_function_only", Cube, method=False)
    assert "cube_function_only" in tinygrad_sm.ops()
    assert not hasattr(Tensor, "cube_function_only")


def test_register_op_errors(registry_cleanup):
    with pytest.raises(ValueError, match="'exp' is already registered"):
        register_op("exp", Cube)
    with pytest.raises(ValueError, match="Tensor already has an attribute 'shape'"):
        register_op("shape", Cube)
    with pytest.raises(TypeError, match="must be a Function subclass"):
        register_op("not_a_function", object)
    with pytest.raises(ValueError, match="not a valid method name"):
        register_op("has space", Cube)
    # the same class registered again (re-running a notebook cell) is fine
    register_op("cube_again", Cube)
    register_op("cube_again", Cube)
    assert tinygrad_sm.ops().count("cube_again") == 1


def test_get_op_unknown_name_lists_the_ops():
    with pytest.raises(KeyError, match=r"no op named 'nope'.*cross_entropy"):
        get_op("nope")


def test_built_in_ops_are_registered_and_differentiable_twice():
    names = tinygrad_sm.ops()
    assert names == sorted(names)
    assert BUILT_IN_OPS <= set(names)
    for name in BUILT_IN_OPS:
        op = get_op(name)
        assert issubclass(op, Function) and op.name == name
        assert op.differentiable_backward, name


# ----- create_graph: a saved array belongs to the argument it came in as -------------------
@pytest.mark.parametrize(
    ("name", "fn", "expected"),
    [
        ("t * t.detach()", lambda t: (t * t.detach()).sum(), lambda x: np.zeros((x.size, x.size))),
        ("t.detach() * t", lambda t: (t.detach() * t).sum(), lambda x: np.zeros((x.size, x.size))),
        ("t * t.data", lambda t: (t * t.data).sum(), lambda x: np.zeros((x.size, x.size))),
        ("t * t", lambda t: (t * t).sum(), lambda x: 2 * np.eye(x.size)),
        ("t / t.detach()", lambda t: (t / t.detach()).sum(), lambda x: np.zeros((x.size, x.size))),
        ("t.detach() ** t", lambda t: (t.detach() ** t).sum(), lambda x: np.diag(x**x * np.log(x) ** 2)),
        ("t ** t.detach()", lambda t: (t ** t.detach()).sum(), lambda x: np.diag(x * (x - 1) * x ** (x - 2))),
    ],
)
def test_hessian_of_a_tensor_with_its_own_detached_copy(name, fn, expected):
    x = np.array([1.5, 2.0, 3.0])
    np.testing.assert_allclose(tinygrad_sm.hessian(fn, x), expected(x), rtol=1e-12, atol=1e-12, err_msg=name)


def test_two_leaves_sharing_one_array_are_two_inputs():
    data = np.array([1.5, 2.0])
    a = Tensor(data, requires_grad=True)
    b = Tensor._make(a.data, requires_grad=True)  # the same buffer, another leaf
    (ga,) = tinygrad_sm.grad((a * b).sum(), [a], create_graph=True)  # ∂/∂a (a·b) = b
    (gb,) = tinygrad_sm.grad(ga.sum(), [b])
    np.testing.assert_array_equal(gb.data, [1.0, 1.0])


def test_a_cast_output_keeps_its_second_derivative():
    # int64 ** float32 is computed in float64 by NumPy, then cast to float32 (PyTorch's dtype)
    t = Tensor([1.0, 2.0], requires_grad=True)
    out = Tensor([3, 3]) ** t
    assert out.dtype == np.float32
    (g,) = tinygrad_sm.grad(out.sum(), t, create_graph=True)
    (h,) = tinygrad_sm.grad(g.sum(), t)
    np.testing.assert_allclose(h.data, 3.0 ** np.array([1.0, 2.0]) * np.log(3.0) ** 2, rtol=1e-6)  # PyTorch: [3.62, 10.86]


# ----- keyword arguments mean what positional ones mean --------------------------------------
def test_a_tensor_given_by_keyword_is_an_input():
    probs = Tensor([[0.2, 0.8], [0.5, 0.5]], requires_grad=True)
    by_keyword = Tensor([[1.0, 2.0], [0.0, 1.0]], requires_grad=True)
    by_position = Tensor(by_keyword.data, requires_grad=True)
    probs_too = Tensor(probs.data, requires_grad=True)
    by_keyword.cross_entropy(target=probs).backward()
    by_position.cross_entropy(probs_too).backward()
    np.testing.assert_array_equal(by_keyword.grad.data, by_position.grad.data)
    np.testing.assert_array_equal(probs.grad.data, probs_too.grad.data)
    x = Tensor([1.0, 2.0], requires_grad=True)
    lo = Tensor([1.5, 0.0], requires_grad=True)
    x.clip(lo=lo).sum().backward()
    np.testing.assert_array_equal(lo.grad.data, [1.0, 0.0])


def test_keyword_argument_errors_name_the_op():
    x = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="cross_entropy: .*got multiple values for argument 'target'"):
        Tensor.cross_entropy(x, 0, target=1)
    with pytest.raises(TypeError, match="mul: missing required argument 'a'"):
        get_op("mul").apply(b=x)
    with pytest.raises(TypeError, match="concatenate: axis= is a Tensor that requires grad"):
        Tensor.concatenate([x, x], axis=Tensor(0.0, requires_grad=True))


# ----- what a custom op may return ----------------------------------------------------------
def _custom_op(forward_result=None, backward_result=None):
    class Custom(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2 if forward_result is None else forward_result(a)

        @staticmethod
        def backward(ctx, grad):
            return backward_result(grad)

    return Custom


def test_a_custom_backward_may_return_a_number_or_a_tensor():
    x = Tensor(2.0, requires_grad=True)
    _custom_op(backward_result=lambda g: 2.0).apply(x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.item() == 2.0
    y = Tensor([1.0, 2.0], requires_grad=True)
    _custom_op(backward_result=lambda g: Tensor(g * 2)).apply(y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [2.0, 2.0])


@pytest.mark.parametrize(
    ("result", "kind", "message"),
    [
        (lambda g: None, RuntimeError, r"Custom\.backward returned None \(did it forget to `return`\?\)"),
        (lambda g: [g], TypeError, r"Custom\.backward returned a list; return a tuple"),
        (lambda g: "abc", TypeError, r"Custom\.backward returned a str \('abc'\) as a gradient"),
    ],
)
def test_a_bad_custom_backward_result_is_a_clear_error(result, kind, message):
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(kind, match=message):
        _custom_op(backward_result=result).apply(x).sum().backward()


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (lambda a: "abc", "Custom: forward must return a numpy.ndarray, got str"),
        (lambda a: [1.0, 2.0], "Custom: forward must return a numpy.ndarray, got list"),
        (lambda a: np.array(["x"]), "Custom: forward must return an array of numbers, got dtype <U1"),
    ],
)
def test_a_custom_forward_must_return_an_array_of_numbers(result, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        _custom_op(forward_result=result).apply(Tensor([1.0, 2.0], requires_grad=True))


def test_an_error_in_a_users_forward_keeps_the_users_line():
    import traceback

    class Buggy(Function):
        @staticmethod
        def forward(ctx, a):
            return a.reshape(7)  # the bug: the line the traceback must show

    with pytest.raises(ValueError, match=r"Buggy: cannot reshape .* \(input shapes: \(2,\)\)") as info:
        Buggy.apply(Tensor([1.0, 2.0]))
    lines = "".join(traceback.format_exception(info.value))
    assert "return a.reshape(7)  # the bug" in lines
    assert "During handling" not in lines


def test_register_op_never_replaces_a_built_in_op(registry_cleanup):
    class Exp(Function):  # the built-in's own class name, in another module
        @staticmethod
        def forward(ctx, a):
            return a

    with pytest.raises(ValueError, match=r"op named .exp. is already registered \(tinygrad_sm\.operations\.elementwise\.Exp\)"):
        register_op("exp", Exp)
    assert get_op("exp").__module__ == "tinygrad_sm.operations.elementwise"
    np.testing.assert_allclose(Tensor([1.0]).exp().data, [np.e], rtol=1e-6)


def test_a_numpy_rule_returning_a_tensor_is_still_differentiable_only_once():
    x = Tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    out = _custom_op(backward_result=lambda g: Tensor(g * 2)).apply(x)
    (g,) = tinygrad_sm.grad((out * out).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [8.0, 16.0])  # (2·out)·2 with out = 2x
    with pytest.raises(RuntimeError, match="can be differentiated only once"):
        g.sum().backward()


def test_a_users_own_exception_class_keeps_its_type_and_message():
    class MyError(ValueError):
        def __str__(self):
            return "custom text"

    class Raising(Function):
        @staticmethod
        def forward(ctx, a):
            raise MyError()

    with pytest.raises(MyError, match="custom text"):
        Raising.apply(Tensor([1.0]))


def test_each_rule_is_written_once_and_shown_in_the_method_help():
    for name in BUILT_IN_OPS:
        op = get_op(name)
        assert op.rule, f"{name} has no rule"
        if hasattr(Tensor, name):
            assert getattr(Tensor, name).__doc__.endswith(f"backward (g: the gradient of the output): {op.rule}")
