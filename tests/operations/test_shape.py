"""Shape ops (tinygrad_sm/operations/shape.py): reshape, transpose, swapaxes, broadcast_to, indexing, concatenate, stack."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, seeds, shapes
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_sm import Tensor

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
