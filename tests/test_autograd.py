"""The engine (tinygrad_sm/autograd.py): accumulation, broadcasting, retain_graph/create_graph,
grad(), deep graphs, and freeing the graph. (Grad mode's own tests are in test_grad_mode.py.)"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from helpers import random_array

import tinygrad_sm
from tinygrad_sm import Tensor, no_grad


# ----- accumulation and broadcasting ------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 7.0])
    x.zero_grad()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_a_tensor_used_several_times_sums_its_gradients():
    x = Tensor([3.0], requires_grad=True)
    y = x * 2
    z = y * y + y + x  # dz/dx = 8x + 2 + 1
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [27.0])
    a = Tensor([1.0, 2.0], requires_grad=True)
    (a + a).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [2.0, 2.0])


@pytest.mark.parametrize("shape_a, shape_b", [((3, 1), (1, 4)), ((), (2, 3)), ((2, 3, 4), (4,)), ((1, 1), (5,))])
@pytest.mark.parametrize("dtype_a, dtype_b", [(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)])
def test_gradient_has_the_input_shape_and_dtype(shape_a, shape_b, dtype_a, dtype_b):
    a = Tensor(random_array(0, shape_a).astype(dtype_a), requires_grad=True)
    b = Tensor(random_array(1, shape_b).astype(dtype_b), requires_grad=True)
    out = a * b + a
    assert out.dtype == np.result_type(dtype_a, dtype_b)
    out.sum().backward()
    assert a.grad.shape == a.shape and a.grad.dtype == dtype_a
    assert b.grad.shape == b.shape and b.grad.dtype == dtype_b
    broadcast = np.broadcast_shapes(shape_a, shape_b)
    ones = np.ones(broadcast)
    np.testing.assert_allclose(a.grad.data, sum_to(ones * (b.data.astype(np.float64) + 1), shape_a), rtol=1e-6)
    np.testing.assert_allclose(b.grad.data, sum_to(ones * a.data.astype(np.float64), shape_b), rtol=1e-6)


def sum_to(x, shape):
    """Sum x down to shape (the reverse of broadcasting), written independently of the library."""
    x = x.sum(axis=tuple(range(x.ndim - len(shape))))
    return x.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


def test_leaf_grad_owns_its_buffer():
    # a + b hands the same gradient to both inputs; changing one .grad in place must not change the other
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])
    c = Tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([5.0, 6.0])
    c.backward(seed)
    seed[0] = -1.0
    np.testing.assert_array_equal(c.grad.data, [5.0, 6.0])


def test_only_leaves_that_require_grad_get_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    constant = Tensor([5.0, 6.0])
    y = x * constant
    z = y.sum()
    z.backward()
    assert constant.grad is None
    assert y.grad is None and z.grad is None  # non-leaf grads are not kept
    np.testing.assert_array_equal(x.grad.data, [5.0, 6.0])


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [4.0, 8.0])
    np.testing.assert_array_equal(x.grad.data, [8.0, 16.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).retain_grad()


# ----- backward() arguments ---------------------------------------------------------------
def test_backward_on_non_scalar_needs_a_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match=r"scalar.*shape \(2,\)"):
        y.backward()
    y.backward(np.array([1.0, 0.5]))
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    x.zero_grad()
    (x * x).backward(Tensor([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    x.zero_grad()
    (x * x).backward([3.0, 0.0])
    np.testing.assert_array_equal(x.grad.data, [6.0, 0.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * x).backward(np.ones(3))


def test_backward_of_a_size_one_non_scalar():
    x = Tensor([[2.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.data, [[4.0]])


def test_backward_on_a_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


# ----- retain_graph / create_graph ----------------------------------------------------------
def test_second_backward_without_retain_graph_raises_clearly():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])  # the failed call added nothing


# What PyTorch 2.13 does on a second backward() without retain_graph: ops that saved no tensor
# (only sizes) run again and accumulate; ops that saved one raise.
SECOND_BACKWARD = [
    ("add", lambda x: x + 1, [2.0, 2.0]),
    ("sub", lambda x: 1 - x, [-2.0, -2.0]),
    ("neg", lambda x: -x, [-2.0, -2.0]),
    ("reshape", lambda x: x.reshape(2, 1), [2.0, 2.0]),
    ("transpose", lambda x: x.reshape(1, 2).T, [2.0, 2.0]),
    ("mean", lambda x: x.mean(), [1.0, 1.0]),
    ("slice", lambda x: x[0:2], [2.0, 2.0]),
    ("concatenate", lambda x: Tensor.concatenate([x, x]), [4.0, 4.0]),
    ("mul by a constant", lambda x: x * 2.0, None),
    ("div by a constant", lambda x: x / 2.0, None),
    ("mul", lambda x: x * x, None),
    ("exp", lambda x: x.exp(), None),
    ("relu", lambda x: x.relu(), None),
    ("max", lambda x: x.max(), None),
    ("integer index", lambda x: x[[0, 0, 1]], None),
    ("index tuple of arrays", lambda x: x.reshape(1, 2)[np.array([0, 0]), np.array([1, 0])], None),
]


@pytest.mark.parametrize("name, make, twice", SECOND_BACKWARD, ids=[case[0] for case in SECOND_BACKWARD])
def test_second_backward_runs_again_exactly_where_pytorch_does(name, make, twice):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = make(x).sum()
    y.backward()
    if twice is None:
        with pytest.raises(RuntimeError, match="second time"):
            y.backward()
    else:
        y.backward()
        np.testing.assert_array_equal(x.grad.data, twice)


def test_backward_frees_saved_values_unless_retained():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    loss = x.cross_entropy([0, 1, 2, 0])
    node = loss.grad_fn
    # the arrays forward computed and kept (not the input itself)
    saved = [weakref.ref(v) for v in node.saved_tensors if isinstance(v, np.ndarray) and v is not x.data]
    assert saved
    loss.backward(retain_graph=True)
    assert not node.freed and all(r() is not None for r in saved)
    loss.backward()
    assert node.freed
    assert all(r() is None for r in saved)  # gone, although the loss tensor and its node are still alive


def test_backward_works_inside_no_grad():
    # as in PyTorch, grad mode affects recording in forward, not backward()
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with no_grad():
        y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_retain_graph_allows_a_second_backward():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_create_graph_retains_the_graph_by_default():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x**3).sum()
    y.backward(create_graph=True)
    assert x.grad.grad_fn is not None  # the gradient 3x² is itself differentiable
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0])
    y.backward()  # retain_graph defaulted to create_graph=True, so this works
    np.testing.assert_array_equal(x.grad.data, [6.0, 24.0])


def test_create_graph_gradient_can_be_differentiated():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    gradient = x.grad
    x.grad = None
    gradient.sum().backward()  # d/dx Σ 3x² = 6x
    np.testing.assert_array_equal(x.grad.data, [6.0, 12.0])


def test_third_derivative():
    x = Tensor(np.array(2.0), requires_grad=True)
    (d1,) = tinygrad_sm.grad(x**4, x, create_graph=True)
    (d2,) = tinygrad_sm.grad(d1, x, create_graph=True)
    (d3,) = tinygrad_sm.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == (32.0, 48.0, 48.0)


def test_gradient_penalty():
    # d/dw ‖∂L/∂x‖² for L = Σ tanh(w x): the WGAN-GP pattern
    w = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (gx,) = tinygrad_sm.grad((w * x).tanh().sum(), x, create_graph=True)
    penalty = (gx * gx).sum()
    penalty.backward()

    def numpy_penalty(w_values):
        return np.sum((w_values * (1 - np.tanh(w_values * x.data) ** 2)) ** 2)

    eps = 1e-6
    numeric = [(numpy_penalty(w.data + eps * e) - numpy_penalty(w.data - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(w.grad.data, numeric, rtol=1e-6)


def test_detach_cuts_the_graph():
    x = Tensor([2.0], requires_grad=True)
    y = x * x.detach()  # the detached factor is a constant
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0])


# ----- grad() -----------------------------------------------------------------------------
def test_grad_returns_gradients_without_touching_dot_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor([3.0, 4.0], requires_grad=True)
    gx, gy = tinygrad_sm.grad((x * y).sum(), [x, y])
    np.testing.assert_array_equal(gx.data, [3.0, 4.0])
    np.testing.assert_array_equal(gy.data, [1.0, 2.0])
    assert x.grad is None and y.grad is None
    (only,) = tinygrad_sm.grad((x * x).sum(), x)
    np.testing.assert_array_equal(only.data, [2.0, 4.0])
    assert isinstance(tinygrad_sm.grad((x * x).sum(), x), tuple)


def test_grad_outputs_and_multiple_outputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    a, b = x * 2, x * x
    (g,) = tinygrad_sm.grad([a, b], x, grad_outputs=[np.array([1.0, 1.0]), np.array([0.5, 2.0])])
    np.testing.assert_array_equal(g.data, [2.0 + 1.0, 2.0 + 8.0])
    (g,) = tinygrad_sm.grad(x * 3, x, grad_outputs=Tensor([1.0, -1.0]))
    np.testing.assert_array_equal(g.data, [3.0, -3.0])
    with pytest.raises(ValueError, match="grad_outputs"):
        tinygrad_sm.grad([x * 2, x * 3], x, grad_outputs=[np.ones(2)])


def test_grad_allow_unused():
    x = Tensor([1.0], requires_grad=True)
    unused = Tensor([5.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"input 1.*allow_unused=True"):
        tinygrad_sm.grad((x * 2).sum(), [x, unused])
    gx, gu = tinygrad_sm.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None and gx.item() == 2.0


def test_grad_with_respect_to_an_intermediate_tensor():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = (y * y).sum()
    gy, gx = tinygrad_sm.grad(z, [y, x])
    np.testing.assert_array_equal(gy.data, 2 * y.data)
    np.testing.assert_array_equal(gx.data, 6 * y.data)


def test_grad_errors():
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        tinygrad_sm.grad((x * 2).sum(), Tensor([1.0]))
    with pytest.raises(RuntimeError, match="scalar"):
        tinygrad_sm.grad(x * Tensor([1.0, 2.0]), x)
    with pytest.raises(RuntimeError, match="does not require grad"):
        tinygrad_sm.grad(Tensor([1.0]).sum(), x)


def test_grad_frees_the_graph_unless_retained():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    tinygrad_sm.grad(y, x, retain_graph=True)
    tinygrad_sm.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        tinygrad_sm.grad(y, x)


# ----- deep graphs and memory -------------------------------------------------------------
def test_ten_thousand_op_chain():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()  # no RecursionError
    np.testing.assert_allclose(x.grad.data, 1.0001**10_000, rtol=1e-9)


def test_deep_chain_second_derivative():
    x = Tensor(np.array(0.5), requires_grad=True)
    y = x
    for _ in range(2_000):
        y = y + x * 0.001
    (g,) = tinygrad_sm.grad(y * y, x, create_graph=True)  # d/dx (3x)² = 18x
    np.testing.assert_allclose(g.data, 18 * 0.5, rtol=1e-9)
    (h,) = tinygrad_sm.grad(g, x)
    np.testing.assert_allclose(h.data, 18.0, rtol=1e-9)


def _training_step(w, refs, create_graph=False):
    x = Tensor(np.random.default_rng(len(refs)).standard_normal((5, 4)))
    hidden = (x @ w).tanh()
    loss = hidden.cross_entropy([0, 1, 2, 0, 1])
    refs += [weakref.ref(hidden), weakref.ref(hidden.grad_fn), weakref.ref(loss), weakref.ref(loss.grad_fn), weakref.ref(x)]
    loss.backward(create_graph=create_graph)
    w.data -= 0.1 * w.grad.data
    w.grad = None


def test_the_graph_is_freed_by_reference_counting_alone():
    """After backward and dropping the references, every intermediate tensor and node dies
    even with the garbage collector off: the graph holds no reference cycles."""
    gc.collect()
    gc.disable()
    try:
        w = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
        refs: list = []
        for _ in range(30):
            _training_step(w, refs)
        assert refs and all(r() is None for r in refs)
        # retain_graph keeps saved values only as long as the graph itself is referenced
        refs.clear()
        y = (w * w).sum()
        refs.append(weakref.ref(y.grad_fn))
        y.backward(retain_graph=True)
        del y
        assert refs[0]() is None
    finally:
        gc.enable()


def test_create_graph_gradients_are_freed_once_dot_grad_is_cleared():
    gc.collect()
    gc.disable()
    try:
        w = Tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
        refs: list = []
        for _ in range(5):
            _training_step(w, refs, create_graph=True)  # w.grad (with its graph) is set to None in the step
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


# ----- 0-d tensors: .data and .grad.data are ndarrays --------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_d_gradients_are_ndarrays(dtype):
    x = Tensor(np.array(2.0, dtype), requires_grad=True)
    (x * x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.shape == () and x.grad.dtype == dtype
    (x * x).backward()  # accumulated
    assert type(x.grad.data) is np.ndarray and float(x.grad.data) == 8.0
    y = x.exp()
    y.retain_grad()
    (y * 3).backward()
    assert type(y.grad.data) is np.ndarray
    (g,) = tinygrad_sm.grad(x.exp() * x, x)
    assert type(g.data) is np.ndarray


def test_a_custom_backward_receives_an_ndarray_for_a_zero_d_output():
    seen = []

    class Square(tinygrad_sm.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            seen.append(type(grad))
            (a,) = ctx.saved_tensors
            return 2 * a * grad

    x = Tensor(3.0, requires_grad=True)
    (Square.apply(x) * 2 + Square.apply(x)).backward()  # the grad of a 0-d output is a sum of 0-d arrays
    assert seen == [np.ndarray, np.ndarray]
    assert float(x.grad.data) == 18.0


def test_comparisons_and_argmax_of_zero_d_give_ndarrays():
    assert type((Tensor(1.0) < 2).data) is np.ndarray
    assert type(Tensor([1.0, 3.0]).argmax().data) is np.ndarray
    assert type(Tensor([1.0, 3.0]).argmin().data) is np.ndarray
    assert type(Tensor(np.float64(2.0)).data) is np.ndarray


# ----- every .grad is its own object -------------------------------------------------------
def test_create_graph_gives_each_leaf_its_own_grad():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad and a.grad.data is not b.grad.data
    (a * 5).sum().backward()  # a later backward into a changes a.grad only (PyTorch: b.grad stays [1, 1])
    np.testing.assert_array_equal(a.grad.data, [6.0, 6.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])
    a.grad.data *= 0
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_leaf_root_never_gets_the_callers_gradient_object(create_graph):
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = Tensor([5.0, 6.0])
    x.backward(seed, create_graph=create_graph)
    assert x.grad is not seed and x.grad.data is not seed.data
    np.testing.assert_array_equal(x.grad.data, [5.0, 6.0])
    x.grad.data[0] = 0
    assert seed.data[0] == 5.0


def test_create_graph_grads_stay_differentiable_after_the_copy():
    a = Tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    b = Tensor([3.0, 4.0], dtype=np.float64, requires_grad=True)
    ((a * b) + (a * b)).sum().backward(create_graph=True)  # a.grad = 2b, b.grad = 2a
    (hessian_row,) = tinygrad_sm.grad(a.grad.sum(), [b])
    np.testing.assert_array_equal(hessian_row.data, [2.0, 2.0])


# ----- user-given gradients ------------------------------------------------------------------
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_gradient_of_another_dtype_is_cast_to_the_outputs(create_graph):
    x = Tensor([1.0, 2.0], requires_grad=True)  # float32
    (x * 2).backward(Tensor(np.ones(2, np.float64)), create_graph=create_graph)
    assert x.grad.dtype == np.float32
    (x * 2).backward(np.ones(2, np.float64))
    assert x.grad.dtype == np.float32
    (g,) = tinygrad_sm.grad(x * 2, x, grad_outputs=np.ones(2, np.float64))
    assert g.dtype == np.float32


def test_bad_gradients_and_grad_arguments_are_clear_errors():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="backward: gradient must be a Tensor or an array of numbers of shape \\(2,\\), got str"):
        (x * 2).backward(gradient="abc")
    with pytest.raises(TypeError, match="grad: outputs must be a Tensor or a non-empty list of Tensors, got int"):
        tinygrad_sm.grad(5, x)
    with pytest.raises(TypeError, match="grad: inputs must be a Tensor or a non-empty list of Tensors"):
        tinygrad_sm.grad((x * 2).sum(), [])
    with pytest.raises(TypeError, match="grad: inputs must be"):
        tinygrad_sm.grad((x * 2).sum(), [x, 3])


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_leaf_grad_never_shares_a_buffer_with_another(create_graph):
    # stack's backward hands x0 a view of the gradient that add hands x1
    x0 = Tensor([0.5, -0.9], requires_grad=True)
    x1 = Tensor([[-1.8, -1.9]], requires_grad=True)
    (x1 + Tensor.stack([x0], axis=0)).sum().backward(create_graph=create_graph)
    assert not np.shares_memory(x0.grad.data, x1.grad.data)
    x0.grad.data *= 0
    np.testing.assert_array_equal(x1.grad.data, [[1.0, 1.0]])


def test_grad_with_an_input_listed_twice_returns_its_gradient_twice():
    x = Tensor([1.0, 2.0], requires_grad=True)
    first, second = tinygrad_sm.grad((x * x).sum(), [x, x])
    np.testing.assert_array_equal(first.data, [2.0, 4.0])
    np.testing.assert_array_equal(second.data, [2.0, 4.0])


def test_a_custom_backward_returning_the_input_itself_gives_a_copy_as_grad():
    class Identity(tinygrad_sm.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a.copy()

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return a  # (a wrong rule, but its result must not become the leaf's own buffer)

    p = Tensor([1.0, 2.0], requires_grad=True)
    Identity.apply(p).sum().backward()
    assert p.grad.data is not p.data and not np.shares_memory(p.grad.data, p.data)


# ----- topological_order, directly ---------------------------------------------------------
def test_topological_order_puts_every_tensor_after_its_inputs():
    from tinygrad_sm.autograd import topological_order

    x = Tensor([1.0, 2.0], requires_grad=True)
    constant = Tensor([3.0, 4.0])
    a = x.exp()
    b = x * constant
    c = a + b  # a diamond: x feeds a and b, both feed c
    d = c.sum()
    order = topological_order(d)
    position = {id(t): i for i, t in enumerate(order)}
    assert {id(t) for t in order} == {id(x), id(a), id(b), id(c), id(d)}  # the constant needs no gradient
    for tensor in order:
        for parent in tensor.grad_fn.inputs if tensor.grad_fn else ():
            if parent is not None and parent.requires_grad:
                assert position[id(parent)] < position[id(tensor)]
    assert order[-1] is d and len(order) == len(set(map(id, order)))


def test_topological_order_of_several_roots_lists_each_tensor_once():
    from tinygrad_sm.autograd import topological_order

    x = Tensor([1.0], requires_grad=True)
    shared = x * 2
    first, second = shared.exp(), shared.log()
    order = topological_order(first, second)
    assert [id(t) for t in order].count(id(shared)) == 1
    assert {id(first), id(second), id(shared), id(x)} == {id(t) for t in order}
