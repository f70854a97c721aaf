"""Shape ops: they move numbers around without changing them, so each backward
moves the gradient back the same way (reshape back, transpose back, scatter back)."""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..shapes import accepts_pytorch_spellings, normalize_axis, shape_argument, unbroadcast
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
    def check(ctx, a, *shape):
        if not shape:
            raise TypeError(
                "reshape: missing the new shape (e.g. x.reshape(2, 3) or x.reshape(-1))"
            )
        ctx.input_shape = a.shape
        ctx.shape = shape_argument(shape)

    @staticmethod
    def forward(ctx, a, *shape):
        return a.reshape(ctx.shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape)


@register_op("transpose")
class Transpose(Op):
    """z = a with its axes permuted (NumPy's meaning; no argument reverses them)."""

    rule = "g transposed back"

    @staticmethod
    def check(ctx, a, *axes):
        axes = shape_argument(axes)
        if not axes:
            axes = tuple(range(a.ndim))[::-1]
        elif (
            sorted(normalize_axis(axes, a.ndim, "transpose", a.shape)) != list(range(a.ndim))
            or len(axes) != a.ndim
        ):
            hint = (
                f" (to exchange two axes, as torch.transpose does, use swapaxes{axes})"
                if len(axes) == 2
                else ""
            )
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {a.ndim} axes "
                f"of shape {a.shape}{hint}"
            )
        ctx.axes = axes = tuple(int(x) % a.ndim for x in axes)
        ctx.inverse = tuple(int(i) for i in np.argsort(axes))

    @staticmethod
    def forward(ctx, a, *axes):
        return a.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(ctx.inverse)


@register_op("swapaxes")
class SwapAxes(Op):
    """z = a with two axes exchanged."""

    rule = "g with the two axes swapped back"

    @staticmethod
    def check(ctx, a, axis1, axis2):
        normalize_axis((axis1,), a.ndim, "swapaxes", a.shape)
        normalize_axis((axis2,), a.ndim, "swapaxes", a.shape)
        ctx.axes = (axis1, axis2)

    @staticmethod
    def forward(ctx, a, axis1, axis2):
        # a 0-d tensor's only axis is 0 (or -1)
        return a.swapaxes(axis1, axis2) if a.ndim else a.view()

    @staticmethod
    def backward(ctx, grad):
        return (grad.swapaxes(*ctx.axes) if grad.ndim else grad), None, None


def expanded_shape(shape: tuple[int, ...], target: tuple, op: str, verb: str) -> tuple[int, ...]:
    """``target`` with PyTorch's ``-1`` (keep this axis's size) filled in, or a clear error: new
    axes go in front, and an existing axis either matches or has size 1."""
    for size in target:
        if not _is_int(size):
            raise TypeError(f"{op}: each size must be an int, got {size!r} in {target}")
    new = len(target) - len(shape)
    if new < 0:
        raise ValueError(
            f"{op}: cannot {verb} shape {shape} to {target}: the target has fewer axes "
            f"({len(target)}) than the tensor ({len(shape)})"
        )
    sizes = list(target)
    for i, size in enumerate(target):
        if size == -1 and i >= new:
            sizes[i] = shape[i - new]
        elif size < 0:
            where = "a new leading axis" if size == -1 else "a size"
            raise ValueError(f"{op}: {size} is not allowed as {where} (in {target}, axis {i})")
    for axis, (n, size) in enumerate(zip(shape, sizes[new:]), start=new):
        if n != size and n != 1:
            raise ValueError(
                f"{op}: cannot {verb} shape {shape} to {target}: axis {axis} has size {n}, "
                f"not 1, so it cannot become {size}"
            )
    return tuple(int(size) for size in sizes)


@register_op("broadcast_to")
class BroadcastTo(Op):
    """z = a repeated along new or size-1 axes (the backward is ``unbroadcast``). The shape is
    ``f(2, 3)`` or ``f((2, 3))``; ``-1`` keeps an axis's size, as in ``torch.broadcast_to``."""

    rule = "g summed over the broadcast axes"

    @staticmethod
    def forward(ctx, a, *shape):
        if not shape:
            raise TypeError("broadcast_to: missing the target shape (e.g. x.broadcast_to((2, 3)))")
        shape = shape_argument(shape)
        ctx.input_shape = a.shape
        try:
            return np.broadcast_to(a, shape)
        except (ValueError, TypeError):
            pass  # a -1 (keep this size) to fill in, or a mismatch to word (outside the except)
        return np.broadcast_to(a, expanded_shape(a.shape, shape, "broadcast_to", "broadcast"))

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.input_shape)


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


# ----- PyTorch's shape habits: Tensor methods built from reshape and broadcast_to -------------
def _tensor_method(function: Any) -> Any:
    """Attach ``function`` as the Tensor method of the same name. It adds no op of its own (the
    graph shows the registered op it is built from); ``dim=`` is accepted for ``axis=``."""
    existing = getattr(Tensor, function.__name__, None)
    if existing is not None and getattr(existing, "__module__", None) != function.__module__:
        raise ValueError(f"Tensor already has an attribute {function.__name__!r}")
    setattr(Tensor, function.__name__, accepts_pytorch_spellings(function))
    return function


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def inferred_shape(sizes: tuple, shape: tuple[int, ...], op: str) -> tuple[int, ...]:
    """``sizes`` with its one ``-1`` (if any) worked out so that the element count stays that of
    ``shape``, or a clear error naming ``op``."""
    for size in sizes:
        if not _is_int(size):
            hint = " (view(dtype) is not supported: convert with astype)" if _is_dtype(size) else ""
            raise TypeError(f"{op}: each size must be an int, got {size!r} in {sizes}{hint}")
    if sizes.count(-1) > 1:
        raise ValueError(f"{op}: only one size can be -1 (inferred), got {sizes}")
    if any(size < -1 for size in sizes):
        raise ValueError(f"{op}: sizes must be non-negative (or -1), got {sizes}")
    count, known = math.prod(shape), math.prod(size for size in sizes if size != -1)
    if -1 in sizes and known and count % known == 0:
        return tuple(count // known if size == -1 else int(size) for size in sizes)
    if -1 not in sizes and known == count:
        return tuple(int(size) for size in sizes)
    ambiguous = " (-1 is ambiguous next to a size 0)" if -1 in sizes and not known else ""
    raise ValueError(
        f"{op}: shape {sizes} is invalid for a tensor of {count} elements "
        f"(shape {shape}){ambiguous}"
    )


def _is_dtype(value: Any) -> bool:
    try:
        np.dtype(value)
    except TypeError:
        return False
    return value is not None


@_tensor_method
def view(self: Tensor, *shape: int) -> Tensor:
    """``x.view(2, 3)`` or ``x.view((2, 3))``, one size may be ``-1``: ``reshape`` under PyTorch's
    name (built from reshape; an ndarray needs no contiguity, so it works wherever reshape does)."""
    if not shape:
        raise TypeError("view: missing the new shape (e.g. x.view(2, 3) or x.view(-1))")
    return self.reshape(inferred_shape(shape_argument(shape), self.shape, "view"))


@_tensor_method
def unsqueeze(self: Tensor, axis: int) -> Tensor:
    """A new axis of size 1 at position ``axis`` of the result, in [−ndim − 1, ndim] (negative
    counts from the end, as ``torch.unsqueeze``). Built from reshape."""
    ndim = self.ndim
    if not _is_int(axis):
        raise TypeError(f"unsqueeze: axis must be an int, got {axis!r}")
    if not -ndim - 1 <= axis <= ndim:
        raise np.exceptions.AxisError(
            f"unsqueeze: axis {axis} is out of range for a tensor of shape {self.shape} "
            f"(expected an axis in [{-ndim - 1}, {ndim}])"
        )
    axis = int(axis) % (ndim + 1)
    return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])


@_tensor_method
def squeeze(self: Tensor, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """The size-1 axes removed: all of them, or those among ``axis`` (an int or a tuple); a named
    axis whose size is not 1 stays, as in ``torch.squeeze``. Built from reshape."""
    axes = normalize_axis(axis, self.ndim, "squeeze", self.shape)
    return self.reshape(tuple(n for i, n in enumerate(self.shape) if n != 1 or i not in axes))


@_tensor_method
def permute(self: Tensor, *axes: int) -> Tensor:
    """``x.permute(2, 0, 1)`` or ``x.permute((2, 0, 1))``: the axes in a new order, as
    ``torch.permute``. Built from transpose (which, as NumPy's, takes the same permutation)."""
    if not axes:
        raise TypeError("permute: missing the order of the axes (e.g. x.permute(2, 0, 1))")
    axes = shape_argument(axes)
    if len(axes) != self.ndim:
        raise ValueError(
            f"permute: {len(axes)} axes {axes} for a tensor of {self.ndim} dimension(s) with "
            f"shape {self.shape} (give each axis once)"
        )
    return self.transpose(*axes)


@_tensor_method
def expand(self: Tensor, *shape: int) -> Tensor:
    """``x.expand(4, -1)`` or ``x.expand((4, -1))``: size-1 axes repeated (as a view), new axes in
    front, ``-1`` keeping an axis's size, as ``torch.Tensor.expand``. Built from broadcast_to
    (the gradient sums over the copies)."""
    if not shape:
        raise TypeError("expand: missing the target shape (e.g. x.expand(4, -1))")
    return self.broadcast_to(expanded_shape(self.shape, shape_argument(shape), "expand", "expand"))


# ----- pad -----------------------------------------------------------------------------------
def pad_widths(pad: Any, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """PyTorch's flat ``pad`` (last axis first: left, right, top, bottom, ...) as one
    (before, after) pair per axis, first axis first, or a clear error."""
    if not isinstance(pad, tuple | list):
        raise TypeError(
            f"pad: pad must be a tuple of ints (before, after, ...), got {type(pad).__name__}"
        )
    for width in pad:
        if not _is_int(width):
            raise TypeError(f"pad: each width must be an int, got {width!r} in {tuple(pad)}")
    if len(pad) % 2:
        raise ValueError(
            f"pad: pad must hold pairs of widths (before, after), last axis first; "
            f"got an odd count of numbers, {len(pad)}: {tuple(pad)}"
        )
    pairs = len(pad) // 2
    if pairs > len(shape):
        raise ValueError(
            f"pad: {pairs} pairs of widths {tuple(pad)} for a tensor of {len(shape)} "
            f"dimension(s) with shape {shape} (at most one pair per axis)"
        )
    widths = [(0, 0)] * (len(shape) - pairs)
    widths += [(int(pad[2 * k]), int(pad[2 * k + 1])) for k in reversed(range(pairs))]
    for axis, (n, (before, after)) in enumerate(zip(shape, widths)):
        if n + min(before, 0) + min(after, 0) < 0:
            raise ValueError(
                f"pad: widths ({before}, {after}) crop more than axis {axis} holds "
                f"(size {n}, shape {shape})"
            )
    return tuple(widths)


def pad_array(a: np.ndarray, widths: tuple[tuple[int, int], ...], value: Any = 0) -> np.ndarray:
    """``a`` with ``before`` and ``after`` elements of ``value`` on each axis, cropped where a
    width is negative. Output index j holds input index j − before where that exists. Only
    crops: a view of ``a``."""
    source, target, shape = [], [], []
    for n, (before, after) in zip(a.shape, widths):
        start, stop = max(-before, 0), n - max(-after, 0)
        source.append(slice(start, stop))
        target.append(slice(max(before, 0), max(before, 0) + stop - start))
        shape.append(n + before + after)
    if all(before <= 0 and after <= 0 for before, after in widths):
        return a[tuple(source)]
    out = np.full(shape, value, dtype=a.dtype)
    out[tuple(target)] = a[tuple(source)]
    return out


def _fill_value(value: Any, dtype: np.dtype) -> Any:
    """``value`` as an element of ``dtype`` (None is 0, as in PyTorch), or a clear error where it
    does not fit (PyTorch refuses to overflow too)."""
    if value is None:
        return 0
    if not isinstance(value, numbers.Real):
        raise TypeError(f"pad: value must be a number, got {type(value).__name__} {value!r:.40}")
    try:
        with np.errstate(over="raise", invalid="raise"):
            return np.asarray(value).astype(dtype)
    except (FloatingPointError, OverflowError):
        raise ValueError(f"pad: value {value!r} does not fit in dtype {dtype}") from None


def _pad_like(x: Any, pad: tuple[int, ...], widths: tuple[tuple[int, int], ...]) -> Any:
    """``pad`` applied to an ndarray or a Tensor (the op, so that a create_graph backward
    records it)."""
    if isinstance(x, Tensor):
        return Pad.apply(x, pad, "constant", 0.0)
    return pad_array(x, widths)


class Pad(Op):
    """z = a surrounded by ``value`` (``F.pad`` with mode "constant"). ``pad`` lists (before, after)
    widths from the last axis backwards: (left, right, top, bottom, ...); a negative width crops.

    Each zⱼ is either a_{j − before} or the constant, so the gradient of a is the part of g that
    covers it, read back by the opposite pad: pad(g, −pad) crops g where the forward padded, and
    fills zeros where it cropped (those inputs never reached the output).
    """

    rule = "pad(g, −pad): g cropped back to the input, zeros where the forward cropped"

    @staticmethod
    def forward(ctx, a, pad, mode="constant", value=0.0):
        if mode != "constant":
            raise ValueError(
                f'pad: mode {mode!r} is not supported (only "constant"; '
                '"reflect", "replicate" and "circular" are not implemented)'
            )
        widths = pad_widths(pad, a.shape)
        ctx.undo = tuple(-width for width in pad)
        ctx.undo_widths = tuple((-before, -after) for before, after in widths)
        out = pad_array(a, widths, _fill_value(value, a.dtype))
        return out if any(before > 0 or after > 0 for before, after in widths) else out.copy()

    @staticmethod
    def backward(ctx, grad):
        return _pad_like(grad, ctx.undo, ctx.undo_widths), None, None, None


def pad(input: Tensor, pad: tuple[int, ...], mode: str = "constant", value: float = 0.0) -> Tensor:
    """``F.pad(input, (left, right, top, bottom, ...), mode="constant", value=0.0)``, as PyTorch's
    (last axis first; negative widths crop; ``value=None`` is 0). The op ``pad``."""
    return Pad.apply(input, pad, mode, value)


def _pad_method(self: Tensor, pad: tuple[int, ...], value: float = 0.0) -> Tensor:
    """``x.pad((left, right, top, bottom, ...), value=0.0)``: ``F.pad`` with mode "constant"
    (PyTorch's order, last axis first; negative widths crop)."""
    return Pad.apply(self, pad, "constant", value)


_pad_method.__name__, _pad_method.__qualname__ = "pad", "Tensor.pad"
register_op("pad", Pad, method=_pad_method)


# ----- repeat --------------------------------------------------------------------------------
@register_op("repeat")
class Repeat(Op):
    """z = a tiled ``repeats[i]`` times along axis i (``torch.Tensor.repeat``; more repeats than
    axes add leading axes). With z viewed as (r₀, n₀, r₁, n₁, ...), every copy z[k₀, :, k₁, :, ...]
    is a, so a's gradient is the sum of g over the copies: over the r axes of that view."""

    rule = "g viewed as (r₀, n₀, r₁, n₁, ...) summed over the r axes"

    @staticmethod
    def forward(ctx, a, *repeats):
        if not repeats:
            raise TypeError("repeat: missing the repeats (e.g. x.repeat(2, 1))")
        repeats = shape_argument(repeats)
        for r in repeats:
            if not _is_int(r) or r < 0:
                raise (ValueError if _is_int(r) else TypeError)(
                    f"repeat: each repeat count must be an int >= 0, got {r!r} in {repeats}"
                )
        if len(repeats) < a.ndim:
            raise ValueError(
                f"repeat: {len(repeats)} repeat count(s) {repeats} for a tensor of {a.ndim} "
                f"dimension(s) with shape {a.shape} (give at least one per axis)"
            )
        shape = (1,) * (len(repeats) - a.ndim) + a.shape
        ctx.input_shape = a.shape
        ctx.tiles = tuple(itertools.chain.from_iterable(zip(repeats, shape)))
        ctx.copy_axes = tuple(2 * i for i, r in enumerate(repeats) if r != 1)
        out_shape = [r * n for r, n in zip(repeats, shape)]
        if not ctx.copy_axes:  # (every count 1: a copy of its own, never a view, as PyTorch)
            return a.reshape(out_shape).copy()
        single = a.reshape(tuple(itertools.chain.from_iterable((1, n) for n in shape)))
        return np.broadcast_to(single, ctx.tiles).reshape(out_shape)  # (the one copy)

    @staticmethod
    def backward(ctx, grad):
        if ctx.copy_axes:
            grad = grad.reshape(ctx.tiles).sum(axis=ctx.copy_axes)
        return grad.reshape(ctx.input_shape)
