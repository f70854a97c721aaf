"""Pooling: max_pool2d and avg_pool2d over sliding windows (the windows of convolution.py).

max_pool2d takes each window's largest element; only that element moves the output, so the
gradient goes to it alone: ∂x = fold(g placed at each window's max). When several elements tie,
the first (in reading order) gets all of it, as in PyTorch. avg_pool2d takes each window's mean,
(1 / count) Σ of the window, count = kh·kw by default (the padding zeros included, PyTorch's
count_include_pad=True), so every element of a window gets g / count:
∂x = fold(g / count copied to every position).
Both backwards are fold of a Tensor-compatible expression, so they can be differentiated again.
"""

from __future__ import annotations

import numbers

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


def _pool_arguments(
    op: str, input: np.ndarray, kernel_size, stride, padding, dilation=1, ceil_mode=False
) -> Windows:
    """Check a pooling op's arguments (as PyTorch does) and return its Windows. With
    ``ceil_mode`` the last window may run past the padded input (it must start inside the input
    or its left padding, as PyTorch): the Windows pad that overhang too, after the padding."""
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
    empty = isinstance(stride, tuple | list) and len(stride) == 0  # PyTorch: () is the default
    stride = kernel if stride is None or empty else int_tuple(stride, 2, "stride", op, 1)
    pads = int_tuple(padding, 2, "padding", op, 0)
    dilation = int_tuple(dilation, 2, "dilation", op, 1)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise ValueError(
            f"{op}: padding must be at most half of kernel_size, got padding={padding!r} and "
            f"kernel_size={kernel_size!r}"
        )
    windows = Windows(kernel, dilation, tuple((p, p) for p in pads), stride)
    size = input.shape[-2:]
    if not ceil_mode:
        windows.check_fits(op, *size)
        return windows
    overhangs = []
    for n, p, span, s in zip(size, pads, windows.spans(), stride):
        count = (n + 2 * p - span + s - 1) // s + 1  # ⌈(n + 2p − span) / s⌉ + 1 windows, ...
        count -= (count - 1) * s >= n + p  # ... but none that starts in the right padding
        if count < 1:
            windows.check_fits(op, *size)  # the kernel is larger than the padded input
        overhangs.append(max(0, (count - 1) * s + span - (n + 2 * p)))
    return windows._replace(padding=tuple((p, p + o) for p, o in zip(pads, overhangs)))


def _route(spread, shape: tuple[int, ...], windows: Windows):
    """The gradient of the input (``shape``) from ``spread``, the gradient of each window
    position as (N, C, kh·kw, L): fold it back onto the image."""
    n, channels = (1, shape[0]) if len(shape) == 3 else shape[:2]
    kernel_size = windows.kernel[0] * windows.kernel[1]
    cols = spread.reshape(n, channels * kernel_size, spread.shape[-1])
    return fold_windows(cols, shape[-2:], windows).reshape(shape)


def _first_max(x: np.ndarray, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Each window's max of ``x`` (N, C, H, W), as (N, C, 1, L), and where in the window it is
    (the kernel offset, (N, C, 1, L)): the first max, PyTorch's tie rule."""
    n, channels, height, width = x.shape
    kh, kw = windows.kernel
    out_height, out_width = windows.output_size(height, width)
    cols = unfold_array(x, windows, fill=-np.inf)
    cols = cols.reshape(n, channels, kh * kw, out_height * out_width)
    first = cols.argmax(axis=2)[:, :, None]
    out = np.take_along_axis(cols, first, axis=2)
    if np.isnan(out).any():  # a nan is the max; PyTorch's scan keeps a window's last nan
        last_nan = kh * kw - 1 - np.isnan(cols[:, :, ::-1]).argmax(axis=2)[:, :, None]
        first = np.where(np.isnan(out), last_nan, first)
    if windows.padding != ((0, 0), (0, 0)) and np.any(out == -np.inf):
        # an all −inf window: PyTorch's index is the window's first pixel past the top and left
        # padding (its first pixel inside the image, unless dilation makes it skip the image)
        (top, _), (left, _) = windows.padding
        past = np.zeros((1, 1) + windows.padded_size(height, width), dtype=bool)
        past[..., top:, left:] = True
        past = unfold_array(past, windows._replace(padding=((0, 0), (0, 0))))
        first = np.where(out == -np.inf, past.reshape(kh * kw, -1).argmax(axis=0), first)
    return out, first


def _input_positions(first: np.ndarray, windows: Windows, size: tuple[int, int]) -> np.ndarray:
    """The flat index row · W + column in the input of the kernel offset ``first`` of every
    window (what ``return_indices=True`` returns): row = y·s + i·d − top, likewise the column."""
    (_, kw), (dh, dw), (sh, sw) = windows.kernel, windows.dilation, windows.stride
    (top, _), (left, _) = windows.padding
    width = size[1]
    y, x = np.divmod(np.arange(first.shape[-1]), windows.output_size(*size)[1])
    i, j = np.divmod(first, kw)
    return (y * sh + i * dh - top) * width + (x * sw + j * dw - left)


@register_op("max_pool2d", method=False)
class MaxPool2d(Op):
    """out[n, c, y, x] = max_{i, j} x_pad[n, c, y·s + i·d, x·s + j·d] (as
    ``torch.nn.functional.max_pool2d``; the padding is −∞, so it never wins).

    input (N, C, H, W) or unbatched (C, H, W); ``stride`` defaults to ``kernel_size``; ``padding``
    at most half the kernel; ``dilation`` spreads the window; ``ceil_mode`` keeps a last, partial
    window. A nan in a window is its max (it propagates, and the last nan gets the gradient), as
    in PyTorch.
    """

    rule = "g to each window's max (the first, among ties)"

    @staticmethod
    def forward(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        windows = ctx.windows = _pool_arguments(
            "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
        )
        ctx.input_shape = input.shape
        x = input if input.ndim == 4 else input[None]
        out, ctx.first = _first_max(x, windows)
        out = out.reshape(x.shape[:2] + windows.output_size(*x.shape[-2:]))
        return out if input.ndim == 4 else out[0]

    @staticmethod
    def backward(ctx, grad):
        first = ctx.first  # (N, C, 1, L)
        kh, kw = ctx.windows.kernel
        chosen = first == np.arange(kh * kw).reshape(kh * kw, 1)  # (N, C, kh·kw, L)
        g = grad.reshape(first.shape)
        spread = rule_helpers.where(chosen, rule_helpers.broadcast_to(g, chosen.shape), 0)
        return _route(spread, ctx.input_shape, ctx.windows)


def _divisors(windows: Windows, size: tuple[int, int], count_include_pad: bool) -> np.ndarray:
    """How many pixels each window averages over, (out_height, out_width): those of the image
    and, with ``count_include_pad``, of its zero padding, but never of a ceil_mode overhang."""
    (top, _), (left, _) = windows.padding
    counted = np.zeros((1, 1) + windows.padded_size(*size))
    if count_include_pad:
        counted[..., : size[0] + 2 * top, : size[1] + 2 * left] = 1
    else:
        counted[..., top : top + size[0], left : left + size[1]] = 1
    cols = unfold_array(counted, windows._replace(padding=((0, 0), (0, 0))))
    return cols.sum(axis=1).reshape(windows.output_size(*size))


@register_op("avg_pool2d", method=False)
class AvgPool2d(Op):
    """out[n, c, y, x] = (1 / count) Σ_{i, j} x_pad[n, c, y·s + i, x·s + j] (as
    ``torch.nn.functional.avg_pool2d``): count = kh·kw by default (count_include_pad=True: the
    zero padding counts), the window's pixels inside the image with count_include_pad=False, or
    ``divisor_override``.

    input (N, C, H, W) or unbatched (C, H, W); ``stride`` defaults to ``kernel_size``; ``padding``
    at most half the kernel; ``ceil_mode`` keeps a last, partial window (its overhang past the
    padding never counts).
    """

    rule = "g / count to every element of each window"

    @staticmethod
    def forward(
        ctx,
        input,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        windows = ctx.windows = _pool_arguments(
            "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
        )
        if divisor_override is not None and (
            not isinstance(divisor_override, numbers.Integral)
            or isinstance(divisor_override, bool)
            or divisor_override == 0
        ):
            raise ValueError(
                f"avg_pool2d: divisor_override must be a non-zero int, got {divisor_override!r}"
            )
        ctx.input_shape = input.shape
        out_height, out_width = windows.output_size(*input.shape[-2:])
        if divisor_override is None:
            divisors = _divisors(windows, input.shape[-2:], count_include_pad)
        else:
            divisors = np.full((out_height, out_width), divisor_override)
        ctx.divisors = divisors = divisors.astype(input.dtype)
        padded = padded_array(input, windows)
        # one strided add per kernel offset: Σ of each window
        out = np.zeros(input.shape[:-2] + (out_height, out_width), dtype=input.dtype)
        for _, _, rows, columns in windows.offsets(out_height, out_width):
            out += padded[..., rows, columns]
        out /= divisors
        return out

    @staticmethod
    def backward(ctx, grad):
        kh, kw = ctx.windows.kernel
        n_c = grad.shape[:-2] if len(ctx.input_shape) == 4 else (1,) + grad.shape[:-2]
        length = grad.shape[-2] * grad.shape[-1]
        share = (grad / ctx.divisors).reshape(n_c + (1, length))
        spread = rule_helpers.broadcast_to(share, n_c + (kh * kw, length))
        return _route(spread, ctx.input_shape, ctx.windows)


# ----- the functional forms (F.max_pool2d, F.avg_pool2d) ------------------------------------------
IntOrPair = int | tuple[int, int]


def max_pool2d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The max of each window (``torch.nn.functional.max_pool2d``; see :class:`MaxPool2d`).
    With ``return_indices``: also where each max is, as an int64 Tensor of flat indices into
    each (H, W) input plane (as PyTorch's)."""
    out = MaxPool2d.apply(input, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return out
    x = np.asarray(input.data if isinstance(input, Tensor) else input)
    windows = _pool_arguments("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    _, first = _first_max(x if x.ndim == 4 else x[None], windows)
    indices = _input_positions(first, windows, x.shape[-2:]).reshape(out.shape)
    return out, Tensor(indices.astype(np.int64))


def avg_pool2d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each window, padding included by default (``torch.nn.functional.avg_pool2d``;
    see :class:`AvgPool2d`)."""
    return AvgPool2d.apply(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
