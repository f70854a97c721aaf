"""Shape ops: they move numbers around without changing them, so each backward
moves the gradient back the same way (reshape back, transpose back, scatter back)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..shapes import normalize_axis, shape_argument, unbroadcast
from ..tensor import Tensor
from .rule_helpers import scatter_add, scatter_add_array


@register_op("clone")
class Clone(Op):
    """z = a copy of a (its own buffer)."""

    rule = "g"

    @staticmethod
    def forward(ctx, a):
        return np.array(a, copy=True)

    @staticmethod
    def backward(ctx, grad):
        return grad


@register_op("reshape")
class Reshape(Op):
    """z = a viewed with another shape."""

    rule = "g reshaped back to the input's shape"

    @staticmethod
    def forward(ctx, a, *shape):
        if not shape:
            raise TypeError(
                "reshape: missing the new shape (e.g. x.reshape(2, 3) or x.reshape(-1))"
            )
        ctx.input_shape = a.shape
        return a.reshape(shape_argument(shape))

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape)


@register_op("transpose")
class Transpose(Op):
    """z = a with its axes permuted (NumPy's meaning; no argument reverses them)."""

    rule = "g transposed back"

    @staticmethod
    def forward(ctx, a, *axes):
        axes = shape_argument(axes)
        if not axes:
            axes = tuple(range(a.ndim))[::-1]
        elif (
            sorted(normalize_axis(axes, a.ndim, "transpose", a.shape)) != list(range(a.ndim))
            or len(axes) != a.ndim
        ):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {a.ndim} axes "
                f"of shape {a.shape}"
            )
        axes = tuple(int(x) % a.ndim for x in axes)
        ctx.inverse = tuple(np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(ctx.inverse)


@register_op("swapaxes")
class SwapAxes(Op):
    """z = a with two axes exchanged."""

    rule = "g with the two axes swapped back"

    @staticmethod
    def forward(ctx, a, axis1, axis2):
        normalize_axis((axis1,), a.ndim, "swapaxes", a.shape)
        normalize_axis((axis2,), a.ndim, "swapaxes", a.shape)
        ctx.axes = (axis1, axis2)
        # a 0-d tensor's only axis is 0 (or -1)
        return a.swapaxes(axis1, axis2) if a.ndim else a.view()

    @staticmethod
    def backward(ctx, grad):
        return (grad.swapaxes(*ctx.axes) if grad.ndim else grad), None, None


@register_op("broadcast_to")
class BroadcastTo(Op):
    """z = a repeated along new or size-1 axes (the backward is ``unbroadcast``)."""

    rule = "g summed over the broadcast axes"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.input_shape = a.shape
        try:
            return np.broadcast_to(a, tuple(shape))
        except ValueError:
            raise ValueError(
                f"broadcast_to: cannot broadcast shape {a.shape} to {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.input_shape), None


def _plain_index(index: Any) -> Any:
    """Tensors inside an index become their arrays; lists of ints become arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        # x[[]] selects nothing, as in NumPy
        return np.asarray(index) if index else np.zeros(0, dtype=np.intp)
    return index


@register_op("getitem")
class GetItem(Op):
    """z = a[index] (ints, slices, integer arrays, boolean masks); an element picked twice gets
    both gradients."""

    rule = "g added back at a[index]"

    @staticmethod
    def forward(ctx, a, index):
        index = _plain_index(index)
        ctx.index = index
        ctx.input_shape = a.shape
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        return scatter_add(grad, ctx.index, ctx.input_shape), None


@register_op("scatter_add")
class ScatterAdd(Op):
    """z = zeros(shape) with ``values`` added at ``index`` — the adjoint of indexing,
    used by getitem's backward; its own backward is indexing again."""

    rule = "g[index]"

    @staticmethod
    def forward(ctx, values, index, shape):
        ctx.index = _plain_index(index)
        return scatter_add_array(values, ctx.index, tuple(shape))

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.index], None, None


class Concatenate(Op):
    """z = the inputs joined along ``axis``."""

    rule = "∂ᵢ = the i-th slice of g"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("concatenate: need at least one tensor")
        arrays = [np.asarray(a) for a in arrays]
        if any(a.ndim == 0 for a in arrays):
            raise ValueError(
                "concatenate: zero-dimensional tensors cannot be concatenated (use Tensor.stack)"
            )
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise TypeError(
                f"concatenate: axis must be an int, got {axis!r} "
                "(NumPy's axis=None, flattening, is not supported)"
            )
        ctx.axis = normalize_axis(axis, arrays[0].ndim, "concatenate", arrays[0].shape)[0]
        try:
            out = np.concatenate(arrays, axis=ctx.axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}") from None
        # where each input starts
        ctx.bounds = list(itertools.accumulate([a.shape[ctx.axis] for a in arrays], initial=0))
        return out

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.axis
        return tuple(
            grad[before + (slice(int(start), int(stop)),)]
            for start, stop in zip(ctx.bounds[:-1], ctx.bounds[1:])
        )


class Stack(Op):
    """z = the inputs stacked along a new ``axis``."""

    rule = "∂ᵢ = g[i] along the stacked axis"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("stack: need at least one tensor")
        arrays = [np.asarray(a) for a in arrays]
        ctx.axis = normalize_axis(axis, arrays[0].ndim + 1, "stack")[0]
        if len({a.shape for a in arrays}) != 1:
            raise ValueError(
                "stack: all tensors must have the same shape, "
                f"got {', '.join(str(a.shape) for a in arrays)}"
            )
        return np.stack(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.axis
        return tuple(grad[before + (i,)] for i in range(grad.shape[ctx.axis]))


def _sequence_of_tensors(tensors: Any, op: str) -> Any:
    """``concatenate``/``stack`` take a list or tuple of tensors; one Tensor (which iterates over
    its rows) is a mistake."""
    if isinstance(tensors, Tensor | np.ndarray) or not isinstance(tensors, list | tuple):
        raise TypeError(
            f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__} "
            f"(write {op}([a, b]))"
        )
    return tensors


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``numpy.concatenate``)."""
    return Concatenate.apply(*_sequence_of_tensors(tensors, "concatenate"), axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors along a new axis (``numpy.stack``)."""
    return Stack.apply(*_sequence_of_tensors(tensors, "stack"), axis=axis)


register_op("concatenate", Concatenate, method=concatenate, static=True)
register_op("stack", Stack, method=stack, static=True)
