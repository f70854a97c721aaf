"""The ground floor, tinygrad_sm/shapes.py, tested directly: normalize_axis, keepdims_shape,
unbroadcast and shape_argument (the ops and the engine exercise them too, but only indirectly)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_sm import Tensor
from tinygrad_sm.shapes import keepdims_shape, normalize_axis, shape_argument, unbroadcast


# ----- normalize_axis -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "axis, ndim, expected",
    [
        (None, 3, (0, 1, 2)),
        (None, 0, ()),
        (1, 3, (1,)),
        (np.int64(1), 3, (1,)),
        (-1, 3, (2,)),
        (-3, 3, (0,)),
        ((2, 0), 3, (0, 2)),  # sorted
        ([-1, 0], 3, (0, 2)),
        ((), 3, ()),
        ((np.int32(0), -2), 3, (0, 1)),
    ],
)
def test_normalize_axis_gives_a_sorted_tuple_of_non_negative_axes(axis, ndim, expected):
    result = normalize_axis(axis, ndim, "sum")
    assert result == expected
    assert type(result) is tuple and all(type(a) is int for a in result)


@pytest.mark.parametrize("axis", [0, -1, (0,), [-1]])
def test_a_zero_d_tensor_accepts_axis_0_and_minus_1_as_in_pytorch(axis):
    assert normalize_axis(axis, 0, "sum") == ()


@pytest.mark.parametrize("axis, ndim", [(3, 2), (-3, 2), (1, 0), (-2, 0), ((0, 5), 2)])
def test_an_axis_out_of_range_is_an_axis_error_naming_the_op_and_shape(axis, ndim):
    shape = (2,) * ndim
    with pytest.raises(np.exceptions.AxisError, match=r"^mean: axis -?\d+ is out of range") as info:
        normalize_axis(axis, ndim, "mean", shape)
    message = str(info.value)
    assert f"{ndim} dimension(s) with shape {shape}" in message
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    assert f"(expected an axis in [{low}, {high}])" in message


def test_the_axis_error_message_without_a_shape():
    with pytest.raises(np.exceptions.AxisError) as info:
        normalize_axis(2, 2, "max")
    assert str(info.value) == "max: axis 2 is out of range for a tensor of 2 dimension(s) (expected an axis in [-2, 1])"


@pytest.mark.parametrize("axis", [(0, 0), (1, -1), [0, 1, 0]])
def test_a_repeated_axis_is_a_value_error(axis):
    with pytest.raises(ValueError, match=r"^sum: repeated axis in"):
        normalize_axis(axis, 2, "sum")


def test_a_repeated_axis_of_a_zero_d_tensor_is_a_value_error():  # (PyTorch: "dim 0 appears multiple times")
    with pytest.raises(ValueError, match="repeated axis"):
        normalize_axis((0, -1), 0, "sum")


@pytest.mark.parametrize("axis", [True, False, (True,), (0, False), 1.0, (1.0,), "0", {0}])
def test_bools_floats_and_other_types_are_refused(axis):
    with pytest.raises(TypeError, match=r"^sum: axis must be an int, a tuple of ints or None, got "):
        normalize_axis(axis, 2, "sum")


# ----- keepdims_shape ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, axes, expected",
    [((2, 3, 4), (0, 2), (1, 3, 1)), ((2, 3, 4), (), (2, 3, 4)), ((2, 3), (0, 1), (1, 1)), ((), (), ())],
)
def test_keepdims_shape(shape, axes, expected):
    assert keepdims_shape(shape, axes) == expected


@given(shape=st.lists(st.integers(1, 4), max_size=4).map(tuple), data=st.data())
def test_keepdims_shape_is_what_numpy_keeps(shape, data):
    axis = data.draw(st.none() | st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a: a % len(shape))
                     if shape else st.none())
    axes = normalize_axis(axis if axis is None else tuple(axis), len(shape), "sum")
    assert keepdims_shape(shape, axes) == np.ones(shape).sum(axis=axes, keepdims=True).shape


# ----- unbroadcast ----------------------------------------------------------------------------
@st.composite
def broadcast_pairs(draw):
    """(x, target shape): x broadcasts to the target (leading axes added, size-1 axes stretched)."""
    target = tuple(draw(st.lists(st.integers(1, 4), max_size=4)))
    dropped = draw(st.integers(0, len(target)))
    kept = target[dropped:]
    ones = draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
    x_shape = tuple(1 if one else n for one, n in zip(ones, kept, strict=True))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).integers(-5, 6, size=x_shape).astype(np.float64)  # integers: sums are exact
    return x, target


@given(broadcast_pairs())
def test_unbroadcast_of_a_broadcast_is_x_times_the_number_of_copies(pair):
    x, target = pair
    copies = int(np.prod(target)) // x.size
    result = unbroadcast(np.broadcast_to(x, target), x.shape)
    assert result.shape == x.shape
    np.testing.assert_array_equal(result, x * copies)


def test_unbroadcast_sums_added_and_stretched_axes():
    grad = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1)), grad.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(unbroadcast(grad, ()), grad.sum())
    np.testing.assert_array_equal(unbroadcast(grad, (4,)), grad.sum(axis=(0, 1)))
    np.testing.assert_array_equal(unbroadcast(grad, (2, 3, 4)), grad)
    assert unbroadcast(grad, ()).shape == ()


def test_unbroadcast_works_on_tensors_and_keeps_the_graph():
    # under create_graph the engine passes Tensors: the sum must be recorded
    g = Tensor(np.ones((2, 3)), requires_grad=True)
    result = unbroadcast(g * 1.0, (3,))
    assert isinstance(result, Tensor) and result.requires_grad and result.shape == (3,)
    np.testing.assert_array_equal(result.data, [2.0, 2.0, 2.0])
    result.sum().backward()
    np.testing.assert_array_equal(g.grad.data, np.ones((2, 3)))


@pytest.mark.parametrize("grad_shape, shape", [((3,), (2, 3)), ((2, 3), (4,)), ((2, 3), (2,)), ((2, 3), (3, 3))])
def test_unbroadcast_to_an_impossible_shape_is_a_value_error(grad_shape, shape):
    message = f"cannot unbroadcast a gradient of shape {grad_shape} to {shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        unbroadcast(np.ones(grad_shape), shape)


# ----- shape_argument --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, expected",
    [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([2, 3],), (2, 3)), ((5,), (5,)), ((), ()), (((),), ()), (([],), ())],
)
def test_shape_argument_reads_f_2_3_and_f_of_a_tuple_alike(args, expected):
    result = shape_argument(args)
    assert result == expected and type(result) is tuple


def test_shape_argument_keeps_numpy_integers_and_leaves_checking_to_the_caller():
    assert shape_argument((np.int64(2), 3)) == (2, 3)
    assert shape_argument(((2, -1),)) == (2, -1)  # -1 is the reshape's business


# ----- PyTorch's spellings ---------------------------------------------------------------------
def test_dim_and_keepdim_are_pytorchs_names_for_axis_and_keepdims():
    import tinygrad_sm as tg

    x = tg.Tensor(np.arange(6.0).reshape(2, 3))
    for method in ("sum", "mean", "max", "min", "logsumexp"):
        ours = getattr(x, method)(axis=1, keepdims=True).data
        np.testing.assert_array_equal(getattr(x, method)(dim=1, keepdim=True).data, ours)
    np.testing.assert_array_equal(x.softmax(dim=0).data, x.softmax(axis=0).data)
    np.testing.assert_array_equal(x.argmax(dim=1).data, [2, 2])
    assert tg.Tensor.stack([x, x], dim=1).shape == (2, 2, 3)


def test_both_spellings_at_once_is_a_type_error():
    import tinygrad_sm as tg

    x = tg.Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"sum: got both axis= and dim="):
        x.sum(axis=1, dim=1)
    with pytest.raises(TypeError, match=r"keepdims= and keepdim="):
        x.mean(keepdims=True, keepdim=True)


def test_an_op_with_a_dim_parameter_of_its_own_keeps_it():
    from tinygrad_sm.shapes import pytorch_spellings

    assert pytorch_spellings(["x", "dim", "axis"]) == {}
    assert pytorch_spellings(["x", "axis", "keepdims"]) == {"dim": "axis", "keepdim": "keepdims"}
