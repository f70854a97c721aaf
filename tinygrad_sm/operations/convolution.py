"""Convolution: unfold / fold (im2col / col2im), conv2d and conv1d.

A convolution layer computes a cross-correlation (as PyTorch does): output pixel (o, y, x) is

    out[n, o, y, x] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x_pad[n, c, y·s + i·d, x·s + j·d]

for stride s, dilation d and the input zero-padded. ``unfold`` lays every window out as a column,
cols[n, (c, i, j), (y, x)] = x_pad[n, c, y·s + i·d, x·s + j·d], so the sum is one matrix product,
out = W · cols. ``fold`` is unfold's adjoint (col2im): it adds each column back onto the window it
came from, so overlapping windows accumulate. Each is the other's backward, and conv2d's backward
is written with them:

    ∂cols = Wᵀ · g,  ∂x = fold(∂cols)   (the correlation of g with the flipped kernel)
    ∂W = g · colsᵀ                      (the correlation of g with the input)
    ∂b = Σ g over the batch and the pixels

so a ``create_graph`` backward records unfold, fold and matmul, and second derivatives come free.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor


# ----- where the windows lie ------------------------------------------------------------------
class Windows(NamedTuple):
    """The sliding windows of a 2-D kernel: its size, dilation, zero padding
    ((top, bottom), (left, right)) and stride, each as (along the height, along the width)."""

    kernel: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    stride: tuple[int, int]

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        (top, bottom), (left, right) = self.padding
        return height + top + bottom, width + left + right

    def spans(self) -> tuple[int, int]:
        """How many input pixels one dilated kernel covers: d·(k − 1) + 1 along each axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The number of window positions along each axis: ⌊(padded − span) / s⌋ + 1."""
        padded = self.padded_size(height, width)
        return tuple((p - k) // s + 1 for p, k, s in zip(padded, self.spans(), self.stride))

    def check_fits(self, op: str, height: int, width: int) -> None:
        """A ValueError naming ``op`` unless the dilated kernel fits in the padded input."""
        check_kernel_fits(op, self.kernel, self.dilation, self.padding, (height, width))

    def offsets(self, out_height: int, out_width: int):
        """(i, j, rows, columns) for every kernel offset: ``x_pad[..., rows, columns]`` holds the
        pixel at offset (i, j) of every window, as an (out_height, out_width) strided slice."""
        (kh, kw), (dh, dw), (sh, sw) = self.kernel, self.dilation, self.stride
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (out_height - 1) + 1, sh)
            for j in range(kw):
                yield i, j, rows, slice(j * dw, j * dw + sw * (out_width - 1) + 1, sw)


def _by(size: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in size)


def check_kernel_fits(op: str, kernel, dilation, padding, size) -> None:
    """A ValueError naming ``op`` unless the kernel, dilated, fits in the padded input (along each
    of one or two axes; ``padding``: a (before, after) pair per axis)."""
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + before + after for n, (before, after) in zip(size, padding))
    if any(p < k for p, k in zip(padded, spans)):
        raise ValueError(
            f"{op}: the kernel {_by(kernel)} (dilated: {_by(spans)}) is larger than "
            f"the padded input {_by(padded)} (input {_by(size)})"
        )


def check_not_empty(op: str, shape: tuple[int, ...], batched: bool) -> None:
    """A ValueError naming ``op`` if an axis other than the batch axis has size 0 (as PyTorch)."""
    if 0 in shape[1 if batched else 0 :]:
        raise ValueError(
            f"{op}: every axis but the batch axis must be non-empty, got an input of shape {shape}"
        )


def padded_array(x: np.ndarray, windows: Windows, fill: float = 0.0) -> np.ndarray:
    """``x`` (..., H, W) with ``fill`` around it as ``windows.padding`` says (``x`` itself when
    there is no padding)."""
    (top, bottom), (left, right) = windows.padding
    if not (top or bottom or left or right):
        return x
    height, width = x.shape[-2:]
    out = np.full(x.shape[:-2] + windows.padded_size(height, width), fill, dtype=x.dtype)
    out[..., top : top + height, left : left + width] = x
    return out


def unfold_array(x: np.ndarray, windows: Windows, fill: float = 0.0) -> np.ndarray:
    """im2col on ndarrays: (N, C, H, W) → (N, C·kh·kw, L), L = the number of windows; the padding
    holds ``fill``. One strided copy per kernel offset into a preallocated buffer."""
    n, channels, height, width = x.shape
    out_height, out_width = windows.output_size(height, width)
    kh, kw = windows.kernel
    padded = padded_array(x, windows, fill)
    cols = np.empty((n, channels, kh, kw, out_height, out_width), dtype=x.dtype)
    for i, j, rows, columns in windows.offsets(out_height, out_width):
        cols[:, :, i, j] = padded[:, :, rows, columns]
    return cols.reshape(n, channels * kh * kw, out_height * out_width)


def fold_array(cols: np.ndarray, size: tuple[int, int], windows: Windows) -> np.ndarray:
    """col2im on ndarrays: (N, C·kh·kw, L) → (N, C, H, W), each column added onto its window (one
    strided add per kernel offset, never np.add.at), the padding cut off."""
    n = cols.shape[0]
    kh, kw = windows.kernel
    channels = cols.shape[1] // (kh * kw)
    out_height, out_width = windows.output_size(*size)
    cols = cols.reshape(n, channels, kh, kw, out_height, out_width)
    padded = np.zeros((n, channels) + windows.padded_size(*size), dtype=cols.dtype)
    for i, j, rows, columns in windows.offsets(out_height, out_width):
        padded[:, :, rows, columns] += cols[:, :, i, j]
    (top, _), (left, _) = windows.padding
    return padded[:, :, top : top + size[0], left : left + size[1]]


# ----- arguments --------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_tuple(value: Any, count: int, name: str, op: str, low: int) -> tuple[int, ...]:
    """An int or a tuple of ``count`` ints, each >= ``low``, as a tuple of ``count`` ints (a
    1-tuple, like an int, stands for every axis, as in PyTorch's convolutions and pools)."""
    if isinstance(value, tuple | list) and len(value) == 1:
        value = value[0]
    values = (value,) * count if _is_int(value) else value
    if not (isinstance(values, tuple | list) and all(_is_int(v) for v in values)):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {count} ints, got {value!r}")
    if len(values) != count:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {count} ints, got {value!r}")
    if any(v < low for v in values):
        what = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return tuple(int(v) for v in values)


def padding_pairs(padding: Any, count: int, op: str) -> tuple[tuple[int, int], ...]:
    """``padding`` as one (before, after) pair per spatial axis: an int, a tuple of ``count`` ints
    (the same on both sides), or already a tuple of ``count`` (before, after) pairs."""
    if (
        isinstance(padding, tuple | list)
        and padding
        and all(isinstance(p, tuple | list) for p in padding)
    ):
        flat = int_tuple(tuple(v for pair in padding for v in pair), 2 * count, "padding", op, 0)
        if len(padding) != count:
            raise ValueError(f"{op}: padding must have one (before, after) pair per axis")
        return tuple(zip(flat[::2], flat[1::2]))
    return tuple((p, p) for p in int_tuple(padding, count, "padding", op, 0))


def windows_of(kernel_size, dilation, padding, stride, op: str) -> Windows:
    """The Windows of the unfold/fold arguments (ints or pairs; padding also as pairs of pairs)."""
    return Windows(
        int_tuple(kernel_size, 2, "kernel_size", op, 1),
        int_tuple(dilation, 2, "dilation", op, 1),
        padding_pairs(padding, 2, op),
        int_tuple(stride, 2, "stride", op, 1),
    )


# ----- unfold and fold: each the other's backward ------------------------------------------------
def unfold_windows(x: Any, windows: Windows) -> Any:
    """unfold of an ndarray, or of a Tensor (recorded: what a create_graph backward calls)."""
    if isinstance(x, Tensor):
        return Unfold.apply(x, windows.kernel, windows.dilation, windows.padding, windows.stride)
    return unfold_array(x, windows)


def fold_windows(cols: Any, size: tuple[int, int], windows: Windows) -> Any:
    """fold of an ndarray, or of a Tensor (recorded: what a create_graph backward calls)."""
    if isinstance(cols, Tensor):
        return Fold.apply(
            cols, size, windows.kernel, windows.dilation, windows.padding, windows.stride
        )
    return fold_array(cols, size, windows)


@register_op("unfold", method=False)
class Unfold(Op):
    """cols[n, (c, i, j), (y, x)] = x_pad[n, c, y·s + i·d, x·s + j·d] (im2col, as
    ``torch.nn.functional.unfold``): (N, C, H, W) → (N, C·kh·kw, L), or (C, H, W) → (C·kh·kw, L).

    ``padding`` may also be ((top, bottom), (left, right)), which conv2d's padding="same" needs
    for an even kernel. Each input pixel appears in every window that covers it, so the backward
    adds all its copies' gradients up: that is ``fold``.
    """

    rule = "fold(g): each window's gradient added back where it came from"

    @staticmethod
    def check(ctx, input, kernel_size, dilation=1, padding=0, stride=1):
        ctx.windows = windows = windows_of(kernel_size, dilation, padding, stride, "unfold")
        if input.ndim not in (3, 4):
            raise ValueError(
                "unfold: expected a 3-D (unbatched) or 4-D (batched) input, "
                f"got a {input.ndim}-D input of shape {input.shape}"
            )
        check_not_empty("unfold", input.shape, input.ndim == 4)
        ctx.input_shape = input.shape
        windows.check_fits("unfold", *input.shape[-2:])

    @staticmethod
    def forward(ctx, input, kernel_size, dilation=1, padding=0, stride=1):
        batched = input if input.ndim == 4 else input[None]
        cols = unfold_array(batched, ctx.windows)
        return cols if input.ndim == 4 else cols[0]

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.input_shape
        grad = grad if len(shape) == 4 else grad.reshape((1,) + grad.shape)
        return fold_windows(grad, shape[-2:], ctx.windows).reshape(shape)


@register_op("fold", method=False)
class Fold(Op):
    """x[n, c, y·s + i·d, x·s + j·d] += cols[n, (c, i, j), (y, x)] over every window (col2im, as
    ``torch.nn.functional.fold``): (N, C·kh·kw, L) → (N, C, H, W) with (H, W) = ``output_size``,
    overlapping windows summed and the padding cut off; (C·kh·kw, L) → (C, H, W) unbatched.

    fold is unfold's adjoint (⟨fold(c), x⟩ = ⟨c, unfold(x)⟩), so its backward is unfold.
    """

    rule = "unfold(g): each window of g becomes a column again"

    @staticmethod
    def check(ctx, input, output_size, kernel_size, dilation=1, padding=0, stride=1):
        ctx.windows = windows = windows_of(kernel_size, dilation, padding, stride, "fold")
        size = ctx.size = int_tuple(output_size, 2, "output_size", "fold", 1)
        if input.ndim not in (2, 3):
            raise ValueError(
                "fold: expected a 2-D (unbatched) or 3-D (batched) input, "
                f"got a {input.ndim}-D input of shape {input.shape}"
            )
        check_not_empty("fold", input.shape, input.ndim == 3)
        window = windows.kernel[0] * windows.kernel[1]
        if input.shape[-2] % window:
            raise ValueError(
                f"fold: input.shape[{input.ndim - 2}] = {input.shape[-2]} must be divisible by "
                f"the kernel's size {_by(windows.kernel)} = {window}"
            )
        windows.check_fits("fold", *size)
        blocks = windows.output_size(*size)
        if input.shape[-1] != blocks[0] * blocks[1]:
            raise ValueError(
                f"fold: input.shape[{input.ndim - 1}] = {input.shape[-1]} does not match the "
                f"{blocks[0]} x {blocks[1]} = {blocks[0] * blocks[1]} windows of an output of size "
                f"{_by(size)}"
            )
        ctx.batched = input.ndim == 3

    @staticmethod
    def forward(ctx, input, output_size, kernel_size, dilation=1, padding=0, stride=1):
        out = fold_array(input if ctx.batched else input[None], ctx.size, ctx.windows)
        return out if ctx.batched else out[0]

    @staticmethod
    def backward(ctx, grad):
        if ctx.batched:
            return unfold_windows(grad, ctx.windows)
        return unfold_windows(grad.reshape((1,) + grad.shape), ctx.windows)[0]


# ----- conv2d and conv1d --------------------------------------------------------------------------
def _conv_arguments(op, input, weight, bias, stride, padding, dilation, groups, axes):
    """Check a convolution's arguments (``axes``: 2 for conv2d, 1 for conv1d) and return the shape
    of the batched 2-D problem they make, input (N, C, H, W), and its Windows (conv1d: a height-1
    image under a height-1 kernel)."""
    input, weight = np.asarray(input), np.asarray(weight)
    kind = "(N, C, H, W)" if axes == 2 else "(N, C, L)"
    if input.ndim not in (axes + 1, axes + 2):
        raise ValueError(
            f"{op}: expected a {axes + 1}-D (unbatched) or {axes + 2}-D (batched) input {kind}, "
            f"got a {input.ndim}-D input of shape {input.shape}"
        )
    if weight.ndim != axes + 2:
        spatial = "kH, kW" if axes == 2 else "kL"
        raise ValueError(
            f"{op}: weight must be {axes + 2}-D (out_channels, in_channels / groups, {spatial}), "
            f"got shape {weight.shape}"
        )
    for name, value in (("input", input), ("weight", weight)):
        if value.dtype.kind != "f":
            raise TypeError(
                f"{op}: expected a floating-point {name}, got dtype {value.dtype} "
                "(convert it with .astype(np.float32))"
            )
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    out_channels, channels = weight.shape[0], input.shape[-axes - 1]
    if out_channels == 0:
        raise ValueError(
            f"{op}: weight must have at least one output channel, got shape {weight.shape}"
        )
    if out_channels % groups:
        raise ValueError(
            f"{op}: out_channels (weight.shape[0] = {out_channels}) must be divisible by "
            f"groups ({groups})"
        )
    if channels != weight.shape[1] * groups:
        raise ValueError(
            f"{op}: input has {channels} channels but weight expects {weight.shape[1] * groups} "
            f"(weight.shape[1] * groups = {weight.shape[1]} * {groups})"
        )
    if bias is not None and np.shape(bias) != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {np.shape(bias)}")
    stride = int_tuple(stride, axes, "stride", op, 1)
    dilation = int_tuple(dilation, axes, "dilation", op, 1)
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            padding = ((0, 0),) * axes
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            # d·(k − 1) pixels in all; an odd total puts the extra one after, as PyTorch does
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            padding = tuple((t // 2, t - t // 2) for t in totals)
        else:
            raise ValueError(
                f"{op}: padding must be 'valid', 'same', an int or a tuple of ints, got {padding!r}"
            )
    else:
        padding = padding_pairs(padding, axes, op)
    check_kernel_fits(op, kernel, dilation, padding, input.shape[-axes:])
    image = input.shape
    if axes == 1:  # a height-1 image under a height-1 kernel
        image = image[:-1] + (1, image[-1])
        windows = Windows((1, kernel[0]), (1, dilation[0]), ((0, 0), padding[0]), (1, stride[0]))
    else:
        windows = Windows(tuple(kernel), dilation, padding, stride)
    return (image if len(image) == 4 else (1, *image)), windows


class _Convolution(Op):
    """conv2d and conv1d share one forward and one backward, on the (N, C, H, W) form
    (conv1d's is a height-1 image)."""

    #: the number of spatial axes (2 for conv2d, 1 for conv1d)
    axes = 2

    @staticmethod
    def check(ctx, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        op, axes = type(ctx).name, type(ctx).axes
        image, ctx.windows = _conv_arguments(
            op, input, weight, bias, stride, padding, dilation, groups, axes
        )
        ctx.groups, ctx.image_shape = groups, image
        ctx.input_shape, ctx.weight_shape = np.shape(input), np.shape(weight)
        n, channels, height, width = image
        out_channels = ctx.weight_shape[0]
        out_size = ctx.windows.output_size(height, width)
        ctx.shapes = (n, channels, height, width, out_channels) + out_size
        out_shape = (n, out_channels) + out_size  # (N, O, H', W'); conv1d: (N, O, L')
        if axes == 1:
            out_shape = out_shape[:2] + out_shape[3:]
        ctx.out_shape = out_shape if len(ctx.input_shape) == axes + 2 else out_shape[1:]

    @staticmethod
    def forward(ctx, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        n, _, _, _, out_channels, out_height, out_width = ctx.shapes
        x = np.reshape(input, ctx.image_shape)  # (N, C, H, W)
        cols = unfold_array(x, ctx.windows)  # (N, C·kh·kw, L)
        # out[n, g, o, l] = Σ_k W[g, o, k] cols[n, g, k, l]: one matrix product per group
        kernel_size = cols.shape[1] // groups
        out = np.reshape(weight, (groups, out_channels // groups, kernel_size)) @ cols.reshape(
            n, groups, kernel_size, cols.shape[2]
        )
        out = out.reshape(n, out_channels, out_height, out_width)
        if bias is not None:
            bias = np.asarray(bias).reshape(out_channels, 1, 1)
            if out.dtype == bias.dtype:
                out += bias
            else:
                out = out + bias
        ctx.save_for_backward(input, weight)
        if ctx.needs_input_grad[1]:
            ctx.cols = cols  # ∂W needs the columns; a create_graph backward unfolds again
        return out.reshape(ctx.out_shape)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        n, channels, height, width, out_channels, out_height, out_width = ctx.shapes
        groups, windows = ctx.groups, ctx.windows
        group_out, kernel_size = out_channels // groups, weight.size // out_channels
        length = out_height * out_width
        g = grad.reshape(n, groups, group_out, length)
        w = weight.reshape(groups, group_out, kernel_size)
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # ∂cols = Wᵀ g, folded back onto the image: the correlation with the flipped kernel
            grad_cols = (w.swapaxes(-1, -2) @ g).reshape(n, groups * kernel_size, length)
            grad_input = fold_windows(grad_cols, (height, width), windows).reshape(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            # ∂W = g colsᵀ summed over the batch: the correlation of g with the input
            if isinstance(grad, Tensor):
                cols = unfold_windows(input.reshape(n, channels, height, width), windows)
            else:
                cols = ctx.cols
            cols = cols.reshape(n, groups, kernel_size, length)
            grad_weight = (g @ cols.swapaxes(-1, -2)).sum(axis=0).reshape(ctx.weight_shape)
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            grad_bias = g.sum(axis=(0, 3)).reshape(out_channels)
        return grad_input, grad_weight, grad_bias


@register_op("conv2d", method=False)
class Conv2d(_Convolution):
    """out[n, o, y, x] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x_pad[n, c, y·s + i·d, x·s + j·d]
    (a cross-correlation, as ``torch.nn.functional.conv2d``), computed as W · unfold(x).

    input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_out, C_in / groups, kH, kW);
    bias (C_out,) or None. With groups > 1 the channels split into groups, each convolved with
    its own C_out / groups filters. ``padding``: an int, a pair, "valid" (none) or "same" (the
    output has the input's size; an even kernel gets the extra pixel at the bottom/right, as
    PyTorch; stride 1 only).
    """

    rule = "∂x = fold(Wᵀ·g),  ∂W = g·unfold(x)ᵀ,  ∂b = Σ g"
    axes = 2


@register_op("conv1d", method=False)
class Conv1d(_Convolution):
    """out[n, o, t] = b[o] + Σ_{c, j} W[o, c, j] · x_pad[n, c, t·s + j·d]
    (as ``torch.nn.functional.conv1d``): conv2d's computation on a height-1 image.

    input (N, C_in, L) or unbatched (C_in, L); weight (C_out, C_in / groups, kL); the other
    arguments as conv2d's, with ints or 1-tuples.
    """

    rule = "∂x = fold(Wᵀ·g),  ∂W = g·unfold(x)ᵀ,  ∂b = Σ g"
    axes = 1


# ----- the functional forms (F.unfold, F.fold, F.conv2d, F.conv1d) --------------------------------
IntOrPair = int | tuple[int, int]


def unfold(
    input: Tensor,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Tensor:
    """Every kernel_size window of ``input`` as a column (``torch.nn.functional.unfold``; see
    :class:`Unfold` for the math)."""
    return Unfold.apply(input, kernel_size, dilation, padding, stride)


def fold(
    input: Tensor,
    output_size: IntOrPair,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Tensor:
    """Columns added back onto the windows of an ``output_size`` image
    (``torch.nn.functional.fold``; see :class:`Fold` for the math)."""
    return Fold.apply(input, output_size, kernel_size, dilation, padding, stride)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution over (N, C, H, W) (``torch.nn.functional.conv2d``; see :class:`Conv2d` for
    the math)."""
    return Conv2d.apply(input, weight, bias, stride, padding, dilation, groups)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over (N, C, L) (``torch.nn.functional.conv1d``; see :class:`Conv1d` for
    the math)."""
    return Conv1d.apply(input, weight, bias, stride, padding, dilation, groups)
