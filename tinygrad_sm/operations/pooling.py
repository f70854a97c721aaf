"""Pooling: max_pool2d and avg_pool2d over sliding windows (the windows of convolution.py).

max_pool2d takes each window's largest element; only that element moves the output, so the
gradient goes to it alone: ∂x = fold(g placed at each window's max). When several elements tie,
the first (in reading order) gets all of it, as in PyTorch. avg_pool2d takes each window's mean,
(1 / (kh·kw)) Σ of the window, padding zeros included (PyTorch's count_include_pad=True), so every
element of a window gets g / (kh·kw): ∂x = fold(g / (kh·kw) copied to every position).
Both backwards are fold of a Tensor-compatible expression, so they can be differentiated again.
"""

from __future__ import annotations

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor
from . import rule_helpers
from .convolution import (
    Windows,
    check_not_empty,
    fold_windows,
    int_tuple,
    padded_array,
    unfold_array,
)


def _pool_arguments(op: str, input: np.ndarray, kernel_size, stride, padding) -> Windows:
    """Check a pooling op's arguments (as PyTorch does) and return its Windows."""
    if input.ndim not in (3, 4):
        raise ValueError(
            f"{op}: expected a 3-D (unbatched) or 4-D (batched) input (N, C, H, W), "
            f"got a {input.ndim}-D input of shape {input.shape}"
        )
    if input.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point input, got dtype {input.dtype} "
            "(convert it with .astype(np.float32))"
        )
    check_not_empty(op, input.shape, input.ndim == 4)
    kernel = int_tuple(kernel_size, 2, "kernel_size", op, 1)
    stride = kernel if stride is None else int_tuple(stride, 2, "stride", op, 1)
    pads = int_tuple(padding, 2, "padding", op, 0)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise ValueError(
            f"{op}: padding must be at most half of kernel_size, got padding={padding!r} and "
            f"kernel_size={kernel_size!r}"
        )
    windows = Windows(kernel, (1, 1), tuple((p, p) for p in pads), stride)
    windows.check_fits(op, *input.shape[-2:])
    return windows


def _route(spread, shape: tuple[int, ...], windows: Windows):
    """The gradient of the input (``shape``) from ``spread``, the gradient of each window
    position as (N, C, kh·kw, L): fold it back onto the image."""
    n, channels = (1, shape[0]) if len(shape) == 3 else shape[:2]
    kernel_size = windows.kernel[0] * windows.kernel[1]
    cols = spread.reshape(n, channels * kernel_size, spread.shape[-1])
    return fold_windows(cols, shape[-2:], windows).reshape(shape)


@register_op("max_pool2d", method=False)
class MaxPool2d(Op):
    """out[n, c, y, x] = max of x_pad over the window at (y·s, x·s) (as
    ``torch.nn.functional.max_pool2d``; the padding is −∞, so it never wins).

    input (N, C, H, W) or unbatched (C, H, W); ``stride`` defaults to ``kernel_size``; ``padding``
    at most half the kernel. A nan in a window is its max (it propagates, and the last nan gets
    the gradient), as in PyTorch.
    """

    rule = "g to each window's max (the first, among ties)"

    @staticmethod
    def forward(ctx, input, kernel_size, stride=None, padding=0):
        windows = ctx.windows = _pool_arguments("max_pool2d", input, kernel_size, stride, padding)
        ctx.input_shape = input.shape
        x = input if input.ndim == 4 else input[None]
        n, channels, height, width = x.shape
        kh, kw = windows.kernel
        out_size = windows.output_size(height, width)
        windows_count = out_size[0] * out_size[1]
        cols = unfold_array(x, windows, fill=-np.inf).reshape(n, channels, kh * kw, windows_count)
        first = cols.argmax(axis=2)[:, :, None]  # the first max of each window
        out = np.take_along_axis(cols, first, axis=2)
        if np.isnan(out).any():  # a nan is the max; PyTorch's scan keeps a window's last nan
            last_nan = kh * kw - 1 - np.isnan(cols[:, :, ::-1]).argmax(axis=2)[:, :, None]
            first = np.where(np.isnan(out), last_nan, first)
        if windows.padding != ((0, 0), (0, 0)) and np.any(out == -np.inf):
            # an all −inf window: PyTorch's index is the window's first pixel inside the image
            inside = np.ones((1, 1, height, width), dtype=bool)
            inside = unfold_array(inside, windows, fill=False).reshape(kh * kw, -1)
            first = np.where(out == -np.inf, inside.argmax(axis=0), first)
        ctx.first = first
        out = out.reshape((n, channels) + out_size)
        return out if input.ndim == 4 else out[0]

    @staticmethod
    def backward(ctx, grad):
        first = ctx.first  # (N, C, 1, L)
        kh, kw = ctx.windows.kernel
        chosen = first == np.arange(kh * kw).reshape(kh * kw, 1)  # (N, C, kh·kw, L)
        g = grad.reshape(first.shape)
        spread = rule_helpers.where(chosen, rule_helpers.broadcast_to(g, chosen.shape), 0)
        return _route(spread, ctx.input_shape, ctx.windows)


@register_op("avg_pool2d", method=False)
class AvgPool2d(Op):
    """out[n, c, y, x] = (1 / (kh·kw)) Σ_{i, j} x_pad[n, c, y·s + i, x·s + j] (as
    ``torch.nn.functional.avg_pool2d`` with count_include_pad=True: the zero padding counts).

    input (N, C, H, W) or unbatched (C, H, W); ``stride`` defaults to ``kernel_size``; ``padding``
    at most half the kernel.
    """

    rule = "g / (kh·kw) to every element of each window"

    @staticmethod
    def forward(ctx, input, kernel_size, stride=None, padding=0):
        windows = ctx.windows = _pool_arguments("avg_pool2d", input, kernel_size, stride, padding)
        ctx.input_shape = input.shape
        out_height, out_width = windows.output_size(*input.shape[-2:])
        padded = padded_array(input, windows)
        # one strided add per kernel offset: Σ of each window
        out = np.zeros(input.shape[:-2] + (out_height, out_width), dtype=input.dtype)
        for _, _, rows, columns in windows.offsets(out_height, out_width):
            out += padded[..., rows, columns]
        out /= windows.kernel[0] * windows.kernel[1]
        return out

    @staticmethod
    def backward(ctx, grad):
        kh, kw = ctx.windows.kernel
        n_c = grad.shape[:-2] if len(ctx.input_shape) == 4 else (1,) + grad.shape[:-2]
        length = grad.shape[-2] * grad.shape[-1]
        share = (grad / (kh * kw)).reshape(n_c + (1, length))
        spread = rule_helpers.broadcast_to(share, n_c + (kh * kw, length))
        return _route(spread, ctx.input_shape, ctx.windows)


# ----- the functional forms (F.max_pool2d, F.avg_pool2d) ------------------------------------------
IntOrPair = int | tuple[int, int]


def max_pool2d(
    input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Tensor:
    """The max of each window (``torch.nn.functional.max_pool2d``; see :class:`MaxPool2d`)."""
    return MaxPool2d.apply(input, kernel_size, stride, padding)


def avg_pool2d(
    input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Tensor:
    """The mean of each window, padding included (``torch.nn.functional.avg_pool2d``; see
    :class:`AvgPool2d`)."""
    return AvgPool2d.apply(input, kernel_size, stride, padding)
