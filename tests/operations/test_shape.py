"""Shape ops (tinygrad_sm/operations/shape.py): reshape, transpose, swapaxes, broadcast_to, indexing, concatenate, stack,
pad and repeat, and PyTorch's shape habits built from them (view, unsqueeze, squeeze, flatten, expand, dim)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, seeds, shapes
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F  # noqa: N812  (PyTorch's name for it)

X = random_array(0, (3, 4))
X3 = random_array(1, (2, 3, 4))


def cube(f):
    """f followed by a cube, so that second derivatives flow through f's backward."""
    return lambda *xs: f(*xs) ** 3


# ----- reshape / flatten ------------------------------------------------------------------
@pytest.mark.parametrize("args", [((4, 3),), (4, 3), (-1,), (2, -1, 2), ((12,),), (1, 12, 1)])
def test_reshape(args):
    out = Tensor(X).reshape(*args)
    np.testing.assert_array_equal(out.data, X.reshape(*args))
    check_gradients(lambda t: t.reshape(*args), X)
    check_second_derivatives(cube(lambda t: t.reshape(*args)), X)


def test_flatten():
    x = Tensor(X3, requires_grad=True)
    out = x.flatten()
    assert out.shape == (24,)
    (out * np.arange(24.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.arange(24.0).reshape(2, 3, 4))


# ----- transpose / .T / swapaxes ----------------------------------------------------------
@pytest.mark.parametrize("perm", [(), (2, 0, 1), (1, 0, 2), (-1, 0, 1), ((2, 1, 0),), (0, 1, 2)])
def test_transpose(perm):
    out = Tensor(X3).transpose(*perm)
    expected = X3.transpose(*perm) if perm else X3.transpose()
    np.testing.assert_array_equal(out.data, expected)
    check_gradients(lambda t: t.transpose(*perm), X3)
    check_second_derivatives(cube(lambda t: t.transpose(*perm)), X3)


@given(shape=shapes(min_dims=1, max_dims=4, max_side=3), data=st.data())
def test_transpose_random_permutation(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    x = random_array(len(shape), shape)
    t = Tensor(x, requires_grad=True)
    out = t.transpose(*perm)
    np.testing.assert_array_equal(out.data, x.transpose(perm))
    weights = random_array(9, out.shape)
    (out * weights).sum().backward()
    np.testing.assert_array_equal(t.grad.data, weights.transpose(np.argsort(perm)))


def test_dot_t_reverses_axes():
    x = Tensor(X3, requires_grad=True)
    assert x.T.shape == (4, 3, 2)
    np.testing.assert_array_equal(x.T.data, X3.T)
    assert Tensor([1.0, 2.0]).T.shape == (2,)
    check_gradients(lambda t: t.T, X)


@given(shape=shapes(min_dims=1, max_dims=4, max_side=3), data=st.data())
def test_swapaxes(shape, data):
    ndim = len(shape)
    a = data.draw(st.integers(-ndim, ndim - 1))
    b = data.draw(st.integers(-ndim, ndim - 1))
    x = random_array(ndim, shape)
    np.testing.assert_array_equal(Tensor(x).swapaxes(a, b).data, x.swapaxes(a, b))
    check_gradients(lambda t: t.swapaxes(a, b), x)


def test_swapaxes_second_derivatives():
    check_second_derivatives(cube(lambda t: t.swapaxes(0, -1)), X3)


# ----- broadcast_to -----------------------------------------------------------------------
@pytest.mark.parametrize("shape_in, shape_out", [((3, 1), (2, 3, 4)), ((), (2, 2)), ((4,), (3, 4)), ((1, 1), (1, 1))])
def test_broadcast_to(shape_in, shape_out):
    x = random_array(2, shape_in)
    t = Tensor(x, requires_grad=True)
    out = t.broadcast_to(shape_out)
    np.testing.assert_array_equal(out.data, np.broadcast_to(x, shape_out))
    out.sum().backward()
    copies = int(np.prod(shape_out)) // max(int(np.prod(shape_in)), 1)
    np.testing.assert_array_equal(t.grad.data, np.full(shape_in, float(copies)))
    check_gradients(lambda u: u.broadcast_to(shape_out), x)
    check_second_derivatives(cube(lambda u: u.broadcast_to(shape_out)), x)


# ----- indexing ---------------------------------------------------------------------------
MASK = np.array([True, False, True])
INDICES = {
    "int": 1,
    "negative int": -1,
    "int pair": (2, 3),
    "slice": slice(1, None),
    "slice with negative step": slice(None, None, -2),
    "slice and int": (slice(None), 0),
    "int list with repeats": [0, 0, 2],
    "int array 2-D with repeats": np.array([[0, 1], [1, 1]]),
    "int arrays pairing repeats": ([0, 0, 2], [1, 1, 1]),
    "boolean mask": MASK,
    "boolean mask of all elements": (X > 0),
    "mask and int list": (MASK, [3, 3]),
    "ellipsis and newaxis": (Ellipsis, None, 1),
    "int tensor": Tensor([2, 2, 0]),
    "slice and int array": (slice(0, 2), np.array([3, 3, 0])),
}


@pytest.mark.parametrize("name", INDICES)
def test_getitem_values_and_gradcheck(name):
    index = INDICES[name]
    numpy_index = index.data if isinstance(index, Tensor) else index
    np.testing.assert_array_equal(Tensor(X)[index].data, X[numpy_index])
    check_gradients(lambda t: t[index], X)
    check_second_derivatives(cube(lambda t: t[index]), X)


@pytest.mark.parametrize("name", INDICES)
def test_getitem_gradient_counts_every_use(name):
    """Each element's gradient is the number of times the index picked it (repeats accumulate)."""
    index = INDICES[name]
    numpy_index = index.data if isinstance(index, Tensor) else index
    x = Tensor(X, requires_grad=True)
    x[index].sum().backward()
    counts = np.zeros(X.shape)
    np.add.at(counts, numpy_index, 1.0)
    np.testing.assert_array_equal(x.grad.data, counts)


def test_getitem_repeated_indices_accumulate():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x[[0, 0, 0, 2]] * Tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 0.0, 4.0])


def test_getitem_with_comparison_mask():
    x = Tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    positive = x[x > 0]
    np.testing.assert_array_equal(positive.data, [2.0, 4.0])
    positive.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0, 1.0])


def test_iterating_a_tensor_gives_differentiable_rows():
    x = Tensor(X, requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and rows[1].shape == (4,)
    (rows[0] * 2 + rows[2]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0] * 4, [0.0] * 4, [1.0] * 4])


# ----- concatenate / stack ----------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_concatenate(axis):
    a, b = random_array(3, (2, 3)), random_array(4, (2, 3))
    c = random_array(5, (2, 1)) if axis in (1, -1) else random_array(5, (1, 3))
    out = Tensor.concatenate([Tensor(a), Tensor(b), Tensor(c)], axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate([a, b, c], axis=axis))
    check_gradients(lambda *ts: Tensor.concatenate(ts, axis=axis), a, b, c)
    check_second_derivatives(cube(lambda *ts: Tensor.concatenate(ts, axis=axis)), a, b, c)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack(axis):
    a, b, c = (random_array(i, (2, 3)) for i in range(3))
    out = Tensor.stack([Tensor(a), Tensor(b), Tensor(c)], axis=axis)
    np.testing.assert_array_equal(out.data, np.stack([a, b, c], axis=axis))
    check_gradients(lambda *ts: Tensor.stack(ts, axis=axis), a, b, c)
    check_second_derivatives(cube(lambda *ts: Tensor.stack(ts, axis=axis)), a, b, c)


@given(shape=shapes(min_dims=1, max_dims=3, max_side=3), count=st.integers(1, 3), data=st.data(), seed=seeds)
def test_concatenate_and_stack_hypothesis(shape, count, data, seed):
    ndim = len(shape)
    axis = data.draw(st.integers(-ndim, ndim - 1))
    arrays = [random_array(seed % 1000 + i, shape) for i in range(count)]
    check_gradients(lambda *ts: Tensor.concatenate(ts, axis=axis), *arrays)
    stack_axis = data.draw(st.integers(-ndim - 1, ndim))
    check_gradients(lambda *ts: Tensor.stack(ts, axis=stack_axis), *arrays)


def test_concatenate_mixed_dtypes_and_constant_inputs():
    a = Tensor(np.ones((1, 2), np.float32), requires_grad=True)
    b = Tensor(np.ones((2, 2), np.float64), requires_grad=True)
    constant = np.zeros((1, 2))
    out = Tensor.concatenate([a, constant, b])
    assert out.shape == (4, 2) and out.dtype == np.float64
    (out * np.arange(8.0).reshape(4, 2)).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.data, [[0.0, 1.0]])
    np.testing.assert_array_equal(b.grad.data, [[4.0, 5.0], [6.0, 7.0]])


def test_stack_of_zero_dimensional_tensors():
    a, b = Tensor(1.0, requires_grad=True), Tensor(2.0, requires_grad=True)
    out = Tensor.stack([a, b])
    np.testing.assert_array_equal(out.data, [1.0, 2.0])
    (out * Tensor([3.0, 4.0])).sum().backward()
    assert a.grad.item() == 3.0 and b.grad.item() == 4.0


def test_empty_index_list_selects_nothing():
    # regression: x[[]] raised "arrays used as indices must be of integer (or boolean) type"; NumPy gives an empty array
    x = Tensor(X, requires_grad=True)
    empty = x[[]]
    assert empty.shape == X[[]].shape == (0, 4)
    (empty.sum() + x.sum()).backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(X.shape))


# ----- clone --------------------------------------------------------------------------------
def test_clone_copies_and_passes_the_gradient():
    x = Tensor(X, requires_grad=True)
    y = x.clone()
    assert y.data is not x.data and not np.shares_memory(y.data, x.data)
    np.testing.assert_array_equal(y.data, X)
    check_gradients(lambda t: t.clone(), X)
    check_second_derivatives(cube(lambda t: t.clone()), X)


# ----- argument errors and 0-d corners (as PyTorch) --------------------------------------------
def test_concatenate_and_stack_need_a_list_of_tensors():
    x = Tensor(X)
    with pytest.raises(TypeError, match=r"concatenate: expected a list or tuple of tensors, got Tensor \(write concatenate"):
        Tensor.concatenate(x)
    with pytest.raises(TypeError, match="stack: expected a list or tuple of tensors, got Tensor"):
        Tensor.stack(x)
    with pytest.raises(TypeError, match="concatenate: axis must be an int, got None"):
        Tensor.concatenate([x, x], axis=None)  # NumPy would flatten; PyTorch raises


def test_reshape_without_a_shape_is_an_error():
    with pytest.raises(TypeError, match="reshape: missing the new shape"):
        Tensor(X).reshape()


@pytest.mark.parametrize("axes", [(0, 0), (-1, 0), (0, -1)])
def test_swapaxes_of_a_zero_d_tensor(axes):
    x = Tensor(2.0, requires_grad=True)
    y = x.swapaxes(*axes)
    assert y.shape == () and y.item() == 2.0
    (y * 3).backward()
    assert x.grad.item() == 3.0


# ----- PyTorch's habits: view, unsqueeze, squeeze, flatten, expand, dim (built from reshape / broadcast_to) -----
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def same_outcome(torch, ours, theirs, x):
    """ours(Tensor(x)) and theirs(torch tensor of x) give the same values, or both raise (ours a ValueError,
    IndexError or TypeError naming the call, PyTorch any error)."""
    try:
        expected = theirs(torch.from_numpy(x)).numpy()
    except (RuntimeError, IndexError, TypeError, ValueError):
        with pytest.raises((ValueError, IndexError, TypeError)):
            ours(Tensor(x))
        return
    out = ours(Tensor(x))
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)


ZERO_D = np.array(1.5)
SHAPES = [(), (3,), (2, 0, 3), (1, 2, 1), (2, 3, 4)]


@pytest.mark.parametrize("args", [(4, 3), ((4, 3),), (-1,), (2, -1, 2), (1, 12, 1), [(-1, 4)], (5, -1), (-1, -1), (12, 0)])
def test_view_is_reshape_as_pytorch(torch, args):
    same_outcome(torch, lambda t: t.view(*args), lambda t: t.view(*args), X)


@pytest.mark.parametrize(
    "shape, args", [((), (1,)), ((), ((),)), ((), (-1,)), ((0, 3), (-1,)), ((0, 3), (3, 0)), ((0, 3), (-1, 0))]
)
def test_view_of_zero_d_and_empty_tensors(torch, shape, args):
    same_outcome(torch, lambda t: t.view(*args), lambda t: t.view(*args), np.zeros(shape))


def test_view_gradient_and_errors():
    check_gradients(lambda t: t.view(2, -1), X)
    check_second_derivatives(cube(lambda t: t.view(-1)), X)
    with pytest.raises(ValueError, match=r"view: shape \(5, -1\) is invalid for a tensor of 12 elements \(shape \(3, 4\)\)"):
        Tensor(X).view(5, -1)
    with pytest.raises(ValueError, match="view: only one size can be -1"):
        Tensor(X).view(-1, -1)
    with pytest.raises(ValueError, match="-1 is ambiguous next to a size 0"):
        Tensor(np.zeros((0, 3))).view(-1, 0)
    with pytest.raises(TypeError, match="view: missing the new shape"):
        Tensor(X).view()
    with pytest.raises(TypeError, match=r"view\(dtype\) is not supported"):
        Tensor(X).view(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
def test_unsqueeze_every_axis_as_pytorch(torch, shape):
    x = random_array(0, shape)
    for axis in range(-len(shape) - 2, len(shape) + 2):  # one past each end of the valid range too
        same_outcome(torch, lambda t, a=axis: t.unsqueeze(a), lambda t, a=axis: t.unsqueeze(a), x)


def test_unsqueeze_gradient_keywords_and_errors():
    check_gradients(lambda t: t.unsqueeze(-1), X)
    check_second_derivatives(cube(lambda t: t.unsqueeze(1)), X)
    assert Tensor(X).unsqueeze(dim=0).shape == (1, 3, 4)
    with pytest.raises(
        IndexError, match=r"unsqueeze: axis 3 is out of range for a tensor of shape \(3, 4\) \(expected an axis in \[-3, 2\]\)"
    ):
        Tensor(X).unsqueeze(3)
    with pytest.raises(TypeError, match=r"unsqueeze: axis must be an int, got \(0, 1\)"):
        Tensor(X).unsqueeze((0, 1))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", [None, 0, -1, 1, 2, (0, 2), (), (0, -1), [0, 1], 3])
def test_squeeze_as_pytorch(torch, shape, axis):
    x = random_array(1, shape)
    theirs = (lambda t: t.squeeze()) if axis is None else (lambda t: t.squeeze(tuple(axis) if isinstance(axis, list) else axis))
    same_outcome(torch, lambda t: t.squeeze(axis), theirs, x)


def test_squeeze_leaves_axes_that_are_not_size_one_and_passes_the_gradient():
    x = random_array(2, (1, 3, 1))
    assert Tensor(x).squeeze(1).shape == (1, 3, 1)
    assert Tensor(x).squeeze(dim=(0, 1)).shape == (3, 1)
    check_gradients(lambda t: t.squeeze(), x)
    check_second_derivatives(cube(lambda t: t.squeeze(-1)), x)
    with pytest.raises(ValueError, match="squeeze: repeated axis"):
        Tensor(x).squeeze((0, -3))


@pytest.mark.parametrize("shape", SHAPES)
def test_flatten_every_axis_pair_as_pytorch(torch, shape):
    x = random_array(3, shape)
    axes = range(-len(shape) - 1, len(shape) + 1)
    for start in axes:
        for end in axes:
            flatten = lambda t, s=start, e=end: t.flatten(s, e)  # noqa: E731  (the same call on both)
            same_outcome(torch, flatten, flatten, x)


def test_flatten_spellings_gradient_and_errors():
    assert Tensor(X3).flatten(start_dim=1).shape == (2, 12)
    assert Tensor(X3).flatten(start_axis=0, end_dim=1).shape == (6, 4)
    assert Tensor(ZERO_D).flatten().shape == (1,)
    check_gradients(lambda t: t.flatten(1), X3)
    check_second_derivatives(cube(lambda t: t.flatten(0, 1)), X3)
    with pytest.raises(ValueError, match=r"flatten: start_axis 2 comes after end_axis 1 for a tensor of shape \(2, 3, 4\)"):
        Tensor(X3).flatten(2, 1)
    with pytest.raises(TypeError, match="flatten: got both start_axis= and start_dim="):
        Tensor(X3).flatten(start_axis=1, start_dim=1)
    with pytest.raises(TypeError, match="flatten: axis must be an int"):
        Tensor(X3).flatten((0, 1))


EXPANSIONS = [
    ((1, 3), (4, 3)),
    ((1, 3), (4, -1)),
    ((1, 3), (2, 4, -1)),
    ((), (2, 2)),
    ((), ()),
    ((2, 1), (2, 0)),
    ((1, 3), (0, 3)),
    ((2, 3), (2, 3)),
    ((2, 3), ((5, 2, 3),)),
    ((3, 1), [(-1, 2)]),
    # errors: a size that is not 1 changes, fewer axes, -1 for a new axis, other negative sizes
    ((2, 3), (4, 3)),
    ((2, 3), (3,)),
    ((2, 3), (-1, 2, 3)),
    ((1, 3), (-2, 3)),
]


@pytest.mark.parametrize("shape, sizes", EXPANSIONS)
def test_expand_and_broadcast_to_as_pytorch(torch, shape, sizes):
    x = random_array(4, shape)
    same_outcome(torch, lambda t: t.expand(*sizes), lambda t: t.expand(*sizes), x)
    same_outcome(torch, lambda t: t.broadcast_to(*sizes), lambda t: t.broadcast_to(*sizes), x)


@pytest.mark.parametrize("shape, sizes", [((1, 3), (4, -1)), ((), (2, 2)), ((3, 1), (2, -1, 5))])
def test_expand_gradient_sums_the_copies(torch, shape, sizes):
    x = random_array(5, shape)
    check_gradients(lambda t: t.expand(*sizes), x)
    check_second_derivatives(cube(lambda t: t.expand(*sizes)), x)
    t, reference = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    weights = random_array(6, reference.expand(*sizes).shape)
    (t.expand(*sizes) * weights).sum().backward()
    (reference.expand(*sizes) * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(t.grad.data, reference.grad.numpy(), rtol=1e-12)


def test_expand_errors_name_the_axis():
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\) to \(4, 3\): axis 0 has size 2, not 1"):
        Tensor(np.ones((2, 3))).expand(4, 3)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\) to \(3,\): the target has fewer axes"):
        Tensor(np.ones((2, 3))).expand(3)
    with pytest.raises(ValueError, match="expand: -1 is not allowed as a new leading axis"):
        Tensor(np.ones((2, 3))).expand(-1, 2, 3)
    with pytest.raises(TypeError, match="expand: missing the target shape"):
        Tensor(np.ones((2, 3))).expand()
    with pytest.raises(TypeError, match="broadcast_to: each size must be an int, got 2.0"):
        Tensor(np.ones((2, 3))).broadcast_to((2.0, 3))


@pytest.mark.parametrize("shape", SHAPES)
def test_dim_is_ndim(shape):
    assert Tensor(np.zeros(shape)).dim() == len(shape)


# ----- pad ------------------------------------------------------------------------------------------------------------
PADS = [
    ((3, 4), (1, 2)),
    ((3, 4), (1, 1, 2, 0)),
    ((3, 4), (-1, 2)),
    ((3, 4), (-1, -1, -1, 0)),
    ((2, 3, 4), (0, 0, 1, 1, 2, 2)),
    ((3, 4), (2, -3, 1, -2)),
    ((3, 4), ()),
    ((), ()),
    ((0, 3), (1, 1)),
    ((0, 3), (1, 1, 1, 0)),
    ((3,), (-3, 0)),
    ((3,), (-1, 5)),
    ((2, 3, 4), [1, 0]),
    ((3,), (-2, -1)),
]


@pytest.mark.parametrize("shape, pad", PADS)
@pytest.mark.parametrize("value", [0.0, 2.5, -np.inf, np.nan])
def test_pad_values_and_gradients_match_pytorch(torch, shape, pad, value):
    x = random_array(7, shape)
    t, reference = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = F.pad(t, pad, value=value), torch.nn.functional.pad(reference, pad, value=value)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    weights = random_array(8, expected.shape)
    out.backward(Tensor(weights))
    expected.backward(torch.from_numpy(weights))
    np.testing.assert_array_equal(t.grad.data, reference.grad.numpy())


@st.composite
def shape_and_pad(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    pairs = draw(st.integers(1, len(shape)))
    pad = []
    for n in reversed(shape[len(shape) - pairs :]):  # last axis first, each crop leaves at least one element
        before = draw(st.integers(-(n - 1), 2))
        pad += [before, draw(st.integers(-(n - 1 + min(before, 0)), 2))]
    return shape, tuple(pad)


@given(case=shape_and_pad(), seed=seeds)
def test_pad_gradcheck(case, seed):
    shape, pad = case
    check_gradients(lambda t: t.pad(pad, value=0.5), random_array(seed, shape))


@pytest.mark.parametrize(
    "shape, pad", [((3, 4), (1, 2)), ((3, 4), (-1, 1, 2, -1)), ((2, 3, 4), (1, 0, 0, 1, -1, 1)), ((3,), (-2, 0))]
)
def test_pad_second_derivatives(shape, pad):
    check_second_derivatives(cube(lambda t: t.pad(pad, value=-1.0)), random_array(9, shape))


def test_pad_backward_is_a_pad_so_create_graph_records_it(torch):
    """The gradient of pad is pad with the widths negated (it crops; a crop's is a zero pad), recorded as an op."""
    x = random_array(10, (3, 4))
    t = Tensor(x, requires_grad=True)
    (g,) = tinygrad_sm.grad((t.pad((1, -1, 2, 0)) ** 3).sum(), [t], create_graph=True)
    assert "pad" in {type(node).name for node in graph_nodes(g)}
    (hvp,) = tinygrad_sm.grad((g * x).sum(), [t])
    reference = torch.tensor(x, requires_grad=True)
    (expected,) = torch.autograd.grad(
        (torch.nn.functional.pad(reference, (1, -1, 2, 0)) ** 3).sum(), [reference], create_graph=True
    )
    (expected_hvp,) = torch.autograd.grad((expected * torch.from_numpy(x)).sum(), [reference])
    np.testing.assert_allclose(hvp.data, expected_hvp.numpy(), rtol=1e-12)


def graph_nodes(tensor):
    """Every node behind ``tensor``."""
    seen, todo = [], [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and all(node is not other for other in seen):
            seen.append(node)
            todo += [parent.grad_fn for parent in node.inputs if parent is not None]
    return seen


def test_pad_method_functional_form_and_dtypes(torch):
    x = Tensor(X)
    np.testing.assert_array_equal(x.pad((1, 1), 3.0).data, F.pad(x, (1, 1), "constant", 3.0).data)
    assert F.pad(x, (1, 1), value=None).data[0, 0] == 0.0  # PyTorch's default value is None, meaning 0
    assert F.pad(Tensor(X.astype(np.float32)), (1, 1)).dtype == np.float32
    ints = np.arange(3)
    for value in (0.7, -2, True):
        np.testing.assert_array_equal(
            Tensor(ints).pad((1, 1), value=value).data,
            torch.nn.functional.pad(torch.from_numpy(ints), (1, 1), value=value).numpy(),
        )
    flags = np.array([True, False])
    np.testing.assert_array_equal(Tensor(flags).pad((1, 0), value=True).data, [True, True, False])


def test_pad_output_owns_its_memory_even_when_it_only_crops():
    x = Tensor(X)
    cropped = x.pad((-1, -1))
    assert not np.shares_memory(cropped.data, x.data)  # as PyTorch: F.pad returns a new tensor


def test_pad_errors():
    x = Tensor(X, requires_grad=True)
    cases = [
        (
            lambda: x.pad((1,)),
            ValueError,
            r"pad: pad must hold pairs of widths \(before, after\), last axis first; got an odd count of numbers, 1",
        ),
        (
            lambda: x.pad((1, 1, 1, 1, 1, 1)),
            ValueError,
            r"pad: 3 pairs of widths \(1, 1, 1, 1, 1, 1\) for a tensor of 2 dimension\(s\) with shape \(3, 4\)",
        ),
        (lambda: x.pad((-3, -2)), ValueError, r"pad: widths \(-3, -2\) crop more than axis 1 holds \(size 4, shape \(3, 4\)\)"),
        (lambda: F.pad(x, (1, 1), mode="reflect"), ValueError, "pad: mode 'reflect' is not supported"),
        (lambda: x.pad((1.5, 1)), TypeError, r"pad: each width must be an int, got 1.5"),
        (lambda: x.pad(np.array([1, 1])), TypeError, "pad: pad must be a tuple of ints"),
        (lambda: x.pad((True, 1)), TypeError, "pad: each width must be an int, got True"),
        (lambda: x.pad((1, 1), value="0"), TypeError, "pad: value must be a number, got str"),
        (
            lambda: Tensor(X.astype(np.float32)).pad((1, 1), value=1e300),
            ValueError,
            r"pad: value 1e\+300 does not fit in dtype float32",
        ),
        (lambda: Tensor(np.arange(3)).pad((1, 1), value=np.nan), ValueError, "pad: value nan does not fit in dtype int64"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message):
            call()
    assert x.grad is None


# ----- repeat ---------------------------------------------------------------------------------------------------------
REPEATS = [
    ((2, 3), (2, 1)),
    ((2, 3), (1, 1)),
    ((2, 3), (3, 2, 1)),
    ((), (2,)),
    ((), ((),)),
    ((), (2, 3)),
    ((2, 3), (0, 2)),
    ((0, 2), (3, 1)),
    ((2, 3), ((2, 2),)),
    ((3,), ([2, 2],)),
    ((1, 2, 1), (2, 1, 3)),
]


@pytest.mark.parametrize("shape, repeats", REPEATS)
def test_repeat_values_and_gradients_match_pytorch(torch, shape, repeats):
    x = random_array(11, shape)
    t, reference = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = t.repeat(*repeats), reference.repeat(*repeats)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    weights = random_array(12, expected.shape)
    (out * weights).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(t.grad.data, reference.grad.numpy(), rtol=1e-12, atol=1e-15)


@st.composite
def shape_and_repeats(draw):
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=3))
    extra = draw(st.integers(0, 2))
    return shape, tuple(draw(st.integers(1, 3)) for _ in range(len(shape) + extra))


@given(case=shape_and_repeats(), seed=seeds)
def test_repeat_gradcheck(case, seed):
    shape, repeats = case
    check_gradients(lambda t: t.repeat(repeats), random_array(seed, shape))


@pytest.mark.parametrize("shape, repeats", [((2, 3), (2, 1)), ((3,), (2, 1, 2)), ((), (3,)), ((2, 1), (1, 4))])
def test_repeat_second_derivatives(shape, repeats):
    check_second_derivatives(cube(lambda t: t.repeat(*repeats)), random_array(13, shape))


@pytest.mark.parametrize("repeats", [(1, 1), (1, 1, 1), (2, 1)])
def test_repeat_output_owns_writable_memory(repeats):
    array = random_array(14, (2, 3))
    out = Tensor.from_numpy(array).repeat(*repeats).data
    assert out.flags.writeable and not np.shares_memory(out, array)  # as PyTorch: repeat always copies


def test_repeat_errors():
    x = Tensor(X, requires_grad=True)
    with pytest.raises(
        ValueError, match=r"repeat: 1 repeat count\(s\) \(2,\) for a tensor of 2 dimension\(s\) with shape \(3, 4\)"
    ):
        x.repeat(2)
    with pytest.raises(ValueError, match=r"repeat: each repeat count must be an int >= 0, got -1 in \(-1, 2\)"):
        x.repeat(-1, 2)
    with pytest.raises(TypeError, match="repeat: each repeat count must be an int >= 0, got 2.0"):
        x.repeat(2.0, 2)
    with pytest.raises(TypeError, match="repeat: missing the repeats"):
        x.repeat()
    assert x.grad is None


# ----- permute (PyTorch's name for a full permutation) ----------------------------------------
def test_permute_is_transpose_by_pytorchs_name():
    torch = pytest.importorskip("torch")
    x = random_array(21, (2, 3, 4))
    for axes in [(2, 0, 1), ((1, 0, 2),), (-1, 0, 1)]:
        out = Tensor(x).permute(*axes)
        np.testing.assert_array_equal(out.data, torch.tensor(x).permute(*axes).numpy())
    assert Tensor(1.0).permute(()).shape == ()
    check_gradients(lambda t: t.permute(2, 0, 1), x)
    check_second_derivatives(lambda t: t.permute(1, 2, 0) * t.permute(1, 2, 0), x)


def test_permute_and_transpose_errors_say_what_pytorch_users_meant():
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match=r"permute: missing the order of the axes"):
        x.permute()
    with pytest.raises(ValueError, match=r"permute: 2 axes \(0, 1\) for a tensor of 3 dimension"):
        x.permute(0, 1)
    with pytest.raises(ValueError, match=r"as torch.transpose does, use swapaxes\(1, 2\)"):
        x.transpose(1, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: x.expand("a"), "expand: each size must be an int, got 'a' in ('a',)"),
        (lambda x: x.broadcast_to(None), "broadcast_to: each size must be an int, got None in (None,)"),
        (lambda x: x.expand(2.0, 3), "expand: each size must be an int, got 2.0 in (2.0, 3)"),
    ],
)
def test_expand_and_broadcast_to_check_the_sizes_first(call, message):
    # (a size that is no int was reported as a target with too few axes)
    with pytest.raises(TypeError, match=re.escape(message)):
        call(Tensor(np.zeros((2, 3))))
