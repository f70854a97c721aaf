"""Pooling: max_pool2d and avg_pool2d over sliding windows (the windows of convolution.py), their
1-d forms, and the adaptive pools.

max_pool2d takes each window's largest element; only that element moves the output, so the
gradient goes to it alone: ∂x = fold(g placed at each window's max). When several elements tie,
the first (in reading order) gets all of it, as in PyTorch. avg_pool2d takes each window's mean,
(1 / count) Σ of the window, count = kh·kw by default (the padding zeros included, PyTorch's
count_include_pad=True), so every element of a window gets g / count:
∂x = fold(g / count copied to every position).
Both backwards are fold of a Tensor-compatible expression, so they can be differentiated again.

The 1-d pools (max_pool1d, avg_pool1d, adaptive_avg_pool1d, adaptive_max_pool1d) are the 2-d ops on
an image of height 1: (N, C, L) → (N, C, 1, L), pooled with a 1 x k kernel, and back.

The adaptive pools choose their windows from the sizes, as PyTorch: output row i of an input of
height H pooled to ``out`` rows covers rows ⌊i·H / out⌋ to ⌈(i + 1)·H / out⌉ (exclusive), likewise
the columns; neighbouring windows may overlap (and repeat, when out > H).
adaptive_avg_pool2d is linear and separable: out = A_h · x · A_wᵀ, A_h[i, r] = 1 / (its window's
length) for the rows r of window i, so ∂x = A_hᵀ · g · A_w (for output 1 x 1 a mean over H, W
and ∂x = g / (H·W) everywhere). Both products are computed as sums over the windows (indexing,
where, sum), never as products with the 0/1 matrices, so an ∞ stays in its windows as in PyTorch.
adaptive_max_pool2d sends g to each window's first max, ∂x = scatter_add(g at those positions):
overlapping windows that share a max add up. Both backwards work on Tensors (second derivatives).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor
from . import rule_helpers
from .convolution import (
    Windows,
    check_kernel_fits,
    check_not_empty,
    fold_windows,
    int_tuple,
    padded_array,
    unfold_array,
)


def _check_input(op: str, x: np.ndarray, spatial: int) -> None:
    """A clear error naming ``op`` unless ``x`` is a float (N, C, *size) or unbatched (C, *size)
    input with ``spatial`` (1 or 2) spatial axes, nothing empty but the batch (as PyTorch)."""
    if x.ndim not in (spatial + 1, spatial + 2):
        axes = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ValueError(
            f"{op}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input "
            f"{axes}, got a {x.ndim}-D input of shape {x.shape}"
        )
    if x.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point input, got dtype {x.dtype} "
            "(convert it with .astype(np.float32))"
        )
    check_not_empty(op, x.shape, x.ndim == spatial + 2)


def _pool_arguments(
    op: str, input: np.ndarray, kernel_size, stride, padding, dilation=1, ceil_mode=False
) -> Windows:
    """Check a pooling op's arguments (as PyTorch does) and return its Windows. With
    ``ceil_mode`` the last window may run past the padded input (it must start inside the input
    or its left padding, as PyTorch): the Windows pad that overhang too, after the padding."""
    _check_input(op, input, 2)
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


# The common case, windows that tile the image (stride = kernel, no padding or dilation, the
# kernel dividing the image): every offset (i, j) of every window is one strided view
# x[..., i::kh, j::kw], so the max is kh·kw − 1 np.maximum calls and the gradient kh·kw strided
# writes, with no im2col copy.
def _tile(shape: tuple[int, ...], windows: Windows) -> bool:
    """True if the windows tile an input of ``shape`` (..., H, W)."""
    (kh, kw), (dh, dw), (sh, sw) = windows.kernel, windows.dilation, windows.stride
    height, width = shape[-2:]
    tiled = (sh, sw, dh, dw) == (kh, kw, 1, 1) and height % kh == 0 and width % kw == 0
    return tiled and windows.padding == ((0, 0), (0, 0)) and math.prod(shape) > 0


def _tiles(x: np.ndarray, windows: Windows) -> list[np.ndarray]:
    """The kh·kw strided views of ``x`` (N, C, H, W), one per kernel offset."""
    kh, kw = windows.kernel
    return [x[:, :, i::kh, j::kw] for i in range(kh) for j in range(kw)]


def _tile_max(tiles: list[np.ndarray]):
    """(the max of the views, which view holds each window's first max, (kh·kw, N, C, h, w)
    bool), or (None, None) if a nan is among them (the general path keeps PyTorch's nan rule)."""
    out = tiles[0].copy()
    for tile in tiles[1:]:
        np.maximum(out, tile, out=out)
    if np.isnan(out).any():
        return None, None
    chosen = np.empty((len(tiles),) + out.shape, dtype=bool)
    taken = np.zeros(out.shape, dtype=bool)
    for k, tile in enumerate(tiles):
        np.equal(tile, out, out=chosen[k])
        chosen[k] &= ~taken  # (only the first max of a window)
        taken |= chosen[k]
    return out, chosen


def _spread_over_tiles(grad: np.ndarray, chosen: np.ndarray, shape: tuple, windows: Windows):
    """The input's gradient: g at each window's first max, 0 elsewhere."""
    kh, kw = windows.kernel
    g = grad if grad.ndim == 4 else grad[None]
    out = np.zeros(g.shape[:2] + tuple(shape[-2:]), dtype=g.dtype)
    finite = np.isfinite(g).all()  # (then a multiplication selects: inf · 0 would be nan)
    for k in range(kh * kw):
        share = g * chosen[k] if finite else np.where(chosen[k], g, 0)
        out[:, :, k // kw :: kh, k % kw :: kw] = share
    return out.reshape(shape)


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
    def check(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        windows = ctx.windows = _pool_arguments(
            "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
        )
        ctx.input_shape = input.shape
        ctx.tiled = _tile(input.shape, windows)
        ctx.out_shape = input.shape[:-2] + windows.output_size(*input.shape[-2:])

    @staticmethod
    def forward(ctx, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        x = input if input.ndim == 4 else input[None]
        # (the tiling path leaves windows with a nan to the general path, PyTorch's nan rule)
        out, ctx.chosen = _tile_max(_tiles(x, ctx.windows)) if ctx.tiled else (None, None)
        if out is None:
            out, ctx.first = _first_max(x, ctx.windows)
        return out.reshape(ctx.out_shape)

    @staticmethod
    def backward(ctx, grad):
        if ctx.chosen is not None:
            if not isinstance(grad, Tensor):  # each pixel is in one window: a strided write each
                return _spread_over_tiles(grad, ctx.chosen, ctx.input_shape, ctx.windows)
            ctx.first = np.argmax(ctx.chosen, axis=0).reshape(ctx.chosen.shape[1:3] + (1, -1))
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
    def check(
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
        ctx.divisors = divisors.astype(input.dtype)
        ctx.out_shape = input.shape[:-2] + (out_height, out_width)

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
        padded = padded_array(input, ctx.windows)
        # one strided add per kernel offset: Σ of each window
        out = np.zeros(ctx.out_shape, dtype=input.dtype)
        for _, _, rows, columns in ctx.windows.offsets(*ctx.out_shape[-2:]):
            out += padded[..., rows, columns]
        out /= ctx.divisors
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


# ----- the 1-d pools: the 2-d ops on an image of height 1 -----------------------------------------
def _as_tensor(input) -> Tensor:
    return input if isinstance(input, Tensor) else Tensor(input)


def _pool1d_arguments(op: str, x: np.ndarray, kernel_size, stride, padding, dilation=1):
    """The 1-d pool's arguments, checked (naming ``op``, as PyTorch checks them), as the 2-d op's
    (kernel_size, stride, padding, dilation) for an image of height 1: (1, k), (1, s), ..."""
    _check_input(op, x, 1)
    kernel = int_tuple(kernel_size, 1, "kernel_size", op, 1)
    empty = isinstance(stride, tuple | list) and len(stride) == 0  # PyTorch: () is the default
    stride = kernel if stride is None or empty else int_tuple(stride, 1, "stride", op, 1)
    pad = int_tuple(padding, 1, "padding", op, 0)
    dilation = int_tuple(dilation, 1, "dilation", op, 1)
    if 2 * pad[0] > kernel[0]:
        raise ValueError(
            f"{op}: padding must be at most half of kernel_size, got padding={padding!r} and "
            f"kernel_size={kernel_size!r}"
        )
    check_kernel_fits(op, kernel, dilation, ((pad[0], pad[0]),), x.shape[-1:])
    return (1, *kernel), (1, *stride), (0, *pad), (1, *dilation)


def _height_one(input: Tensor) -> Tensor:
    """(..., L) → (..., 1, L)."""
    return input.reshape(input.shape[:-1] + (1, input.shape[-1]))


def _drop_height(out: Tensor) -> Tensor:
    """(..., 1, L) → (..., L)."""
    return out.reshape(out.shape[:-2] + out.shape[-1:])


def max_pool1d(
    input: Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The max of each window of (N, C, L) or (C, L) (``torch.nn.functional.max_pool1d``): the
    op max_pool2d on the image (N, C, 1, L) with a 1 x kernel_size kernel. With
    ``return_indices``: also where each max is, as int64 positions along L."""
    input = _as_tensor(input)
    arguments = _pool1d_arguments("max_pool1d", input.data, kernel_size, stride, padding, dilation)
    result = max_pool2d(_height_one(input), *arguments, ceil_mode, return_indices)
    if return_indices:
        out, indices = result
        return _drop_height(out), _drop_height(indices)
    return _drop_height(result)


def avg_pool1d(
    input: Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """The mean of each window of (N, C, L) or (C, L), padding included by default
    (``torch.nn.functional.avg_pool1d``): the op avg_pool2d on the image (N, C, 1, L) with a
    1 x kernel_size kernel."""
    input = _as_tensor(input)
    kernel, stride, padding, _ = _pool1d_arguments(
        "avg_pool1d", input.data, kernel_size, stride, padding
    )
    out = avg_pool2d(_height_one(input), kernel, stride, padding, ceil_mode, count_include_pad)
    return _drop_height(out)


# ----- the adaptive pools: windows chosen from the sizes ------------------------------------------
def _output_size(op: str, output_size, count: int) -> tuple[int | None, ...]:
    """``output_size`` (an int, or ``count`` entries) as ``count`` entries, each a positive int,
    or, for the 2-d pools, None (keep that size), as PyTorch; else a clear error naming ``op``."""
    values = output_size if isinstance(output_size, tuple | list) else (output_size,) * count
    keep = " (or None: keep that size)" if count == 2 else ""
    if not all(
        (v is None and keep) or (isinstance(v, numbers.Integral) and not isinstance(v, bool))
        for v in values
    ):
        raise TypeError(
            f"{op}: output_size must be an int or a tuple of {count} ints{keep}, "
            f"got {output_size!r}"
        )
    if len(values) != count:
        raise ValueError(
            f"{op}: output_size must be an int or a tuple of {count} ints, got {output_size!r}"
        )
    if any(v is not None and v < 1 for v in values):
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return tuple(None if v is None else int(v) for v in values)


def _adaptive_arguments(op: str, input: np.ndarray, output_size) -> tuple[int, int]:
    """Check an adaptive 2-d pool's input (N, C, H, W) or (C, H, W) and return its output size,
    a None entry replaced by the input's size."""
    _check_input(op, input, 2)
    sizes = _output_size(op, output_size, 2)
    return tuple(n if out is None else out for n, out in zip(input.shape[-2:], sizes))


def _adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each of the ``out`` windows along an axis of ``size`` starts and ends (exclusive):
    start_i = ⌊i·size / out⌋, end_i = ⌈(i + 1)·size / out⌉ (PyTorch's rule)."""
    i = np.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _ranges(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(table, valid) for the ranges first[i] … last[i] (inclusive), as (len(first), the longest
    range's length): table[i, k] = first[i] + k, but at most last[i] (a shorter range repeats its
    last entry), valid[i, k] = whether first[i] + k is in the range."""
    wanted = first[:, None] + np.arange(int((last - first).max()) + 1)
    return np.minimum(wanted, last[:, None]), wanted <= last[:, None]


def _window_table(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """(table, valid) of the positions of each of the ``out`` windows along an axis of ``size``
    (a repeated last position changes neither a max nor which element it is)."""
    start, end = _adaptive_windows(size, out)
    return _ranges(start, end - 1)


def _windows_of_each_position(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """(table, valid) of the windows each of the ``size`` positions lies in: the transpose of
    :func:`_window_table` (window i holds position r iff start_i ≤ r < end_i)."""
    start, end = _adaptive_windows(size, out)
    r = np.arange(size)
    return _ranges(np.searchsorted(end, r, side="right"), np.searchsorted(start, r, "right") - 1)


def _sum_over(x, table: np.ndarray, valid: np.ndarray, axis: int):
    """out[..., i, ...] = Σ_k x[..., table[i, k], ...] over the valid k, along ``axis`` (−2: the
    rows, −1: the columns), on ndarrays and on Tensors (indexing, where, sum: recorded by a
    create_graph backward). Masked with where, never a 0/1 product, so an ∞ stays in its window."""
    if axis == -2:
        picked, valid = x[..., table, :], valid[:, :, None]  # (..., len(table), k, W)
    else:
        picked = x[..., table]  # (..., H, len(table), k)
    if not valid.all():
        picked = rule_helpers.where(np.broadcast_to(valid, picked.shape), picked, 0)
    return picked.sum(axis=axis)


def _window_areas(size: tuple[int, int], out: tuple[int, int], dtype) -> np.ndarray:
    """(out_h, out_w): how many pixels each adaptive window of an image of ``size`` holds."""
    heights, widths = (end - start for start, end in map(_adaptive_windows, size, out))
    return (heights[:, None] * widths).astype(dtype)


def _window_means(x, out: tuple[int, int]):
    """A_h · x · A_wᵀ: each adaptive window's sum over its rows, then over its columns (a window
    is a rectangle), divided by its area."""
    height, width = x.shape[-2:]
    sums = _sum_over(x, *_window_table(height, out[0]), axis=-2)
    sums = _sum_over(sums, *_window_table(width, out[1]), axis=-1)
    return sums / _window_areas((height, width), out, x.dtype)


def _spread_means(grad, size: tuple[int, int]):
    """A_hᵀ · g · A_w, the adjoint of :func:`_window_means` onto an image of ``size``: each pixel
    gets g / area of every window it lies in."""
    out = grad.shape[-2:]
    share = grad / _window_areas(size, out, grad.dtype)
    share = _sum_over(share, *_windows_of_each_position(size[0], out[0]), axis=-2)
    return _sum_over(share, *_windows_of_each_position(size[1], out[1]), axis=-1)


@register_op("adaptive_avg_pool2d", method=False)
class AdaptiveAvgPool2d(Op):
    """out[n, c, i, j] = the mean of x[n, c, start_i : end_i, start_j : end_j], start_i =
    ⌊i·H / out_h⌋, end_i = ⌈(i + 1)·H / out_h⌉, likewise the columns (as
    ``torch.nn.functional.adaptive_avg_pool2d``); = A_h · x · A_wᵀ with A_h[i, r] = 1 / (end_i −
    start_i) on window i's rows, computed as sums over the windows (so an ∞ stays in its
    windows). For a 1 x 1 output: the mean over H, W.

    input (N, C, H, W) or unbatched (C, H, W); ``output_size`` an int or a pair, None in it keeping
    that size.
    """

    rule = "A_hᵀ · g · A_w: g / (its window's area) to every pixel of the window"

    @staticmethod
    def check(ctx, input, output_size):
        ctx.out_size = _adaptive_arguments("adaptive_avg_pool2d", input, output_size)
        ctx.input_shape = input.shape

    @staticmethod
    def forward(ctx, input, output_size):
        out = ctx.out_size
        if out == (1, 1):  # the global pool: the mean over H, W, its sum as a (fast) dot product
            pixels = input.shape[-2] * input.shape[-1]
            sums = input.reshape(input.shape[:-2] + (pixels,)) @ np.ones(pixels, input.dtype)
            return (sums / pixels)[..., None, None]
        return _window_means(input, out)

    @staticmethod
    def backward(ctx, grad):
        height, width = ctx.input_shape[-2:]
        if grad.shape[-2:] == (1, 1):
            return rule_helpers.broadcast_to(grad / (height * width), ctx.input_shape)
        return _spread_means(grad, (height, width))


def _adaptive_first_max(x: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each adaptive window's max of ``x`` (N, C, H, W) as (N, C, out_h, out_w), and where in the
    (H, W) plane it is (the flat index row · W + column, the same shape): the first max in reading
    order, or the last nan, as PyTorch."""
    n, channels, height, width = x.shape
    (rows, _), (columns, _) = _window_table(height, size[0]), _window_table(width, size[1])
    # table[i, j, (k, l)] = rows[i, k] · W + columns[j, l]: every window's flat positions
    table = (rows[:, None, :, None] * width + columns[None, :, None, :]).reshape(*size, -1)
    values = x.reshape(n, channels, height * width)[..., table]  # (N, C, out_h, out_w, kh·kw)
    first = values.argmax(axis=-1)[..., None]
    out = np.take_along_axis(values, first, axis=-1)
    if np.isnan(out).any():  # a nan is the max; PyTorch's scan keeps a window's last nan
        last_nan = table.shape[-1] - 1 - np.isnan(values[..., ::-1]).argmax(axis=-1)[..., None]
        first = np.where(np.isnan(out), last_nan, first)
    positions = np.take_along_axis(np.broadcast_to(table, values.shape), first, axis=-1)
    return out[..., 0], positions[..., 0]


def _add_at(values, index: np.ndarray, size: int):
    """Zeros of length ``size`` with values[k] added at index[k] (repeats add up): np.bincount on
    ndarrays, the op scatter_add on Tensors (so a create_graph backward records it)."""
    if isinstance(values, Tensor):
        return rule_helpers.scatter_add(values, index, (size,))
    return np.bincount(index, weights=values, minlength=size).astype(values.dtype, copy=False)


@register_op("adaptive_max_pool2d", method=False)
class AdaptiveMaxPool2d(Op):
    """out[n, c, i, j] = max x[n, c, start_i : end_i, start_j : end_j], the windows of
    :class:`AdaptiveAvgPool2d` (as ``torch.nn.functional.adaptive_max_pool2d``). The first max in
    reading order gets the gradient; a nan is the max (the last nan gets it), as PyTorch.

    input (N, C, H, W) or unbatched (C, H, W); ``output_size`` an int or a pair, None in it keeping
    that size.
    """

    rule = "g to each window's max (the first, among ties), added up where windows share it"

    @staticmethod
    def check(ctx, input, output_size):
        ctx.out_size = _adaptive_arguments("adaptive_max_pool2d", input, output_size)
        ctx.input_shape = input.shape

    @staticmethod
    def forward(ctx, input, output_size):
        size = ctx.out_size
        x = input if input.ndim == 4 else input[None]
        out, positions = _adaptive_first_max(x, size)
        planes, plane = x.shape[0] * x.shape[1], x.shape[2] * x.shape[3]
        positions = positions.reshape(planes, math.prod(size))
        ctx.flat = (np.arange(planes)[:, None] * plane + positions).ravel()  # in the whole input
        return out if input.ndim == 4 else out[0]

    @staticmethod
    def backward(ctx, grad):
        size = math.prod(ctx.input_shape)
        return _add_at(grad.reshape(-1), ctx.flat, size).reshape(ctx.input_shape)


def adaptive_avg_pool2d(input: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """The mean of each adaptive window (``torch.nn.functional.adaptive_avg_pool2d``; see
    :class:`AdaptiveAvgPool2d`)."""
    return AdaptiveAvgPool2d.apply(input, output_size)


def adaptive_max_pool2d(
    input: Tensor, output_size: int | tuple[int | None, int | None], return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """The max of each adaptive window (``torch.nn.functional.adaptive_max_pool2d``; see
    :class:`AdaptiveMaxPool2d`). With ``return_indices``: also where each max is, as an int64
    Tensor of flat indices into each (H, W) input plane (as PyTorch's)."""
    out = AdaptiveMaxPool2d.apply(input, output_size)
    if not return_indices:
        return out
    x = np.asarray(input.data if isinstance(input, Tensor) else input)
    size = _adaptive_arguments("adaptive_max_pool2d", x, output_size)
    _, positions = _adaptive_first_max(x if x.ndim == 4 else x[None], size)
    return out, Tensor(positions.reshape(out.shape).astype(np.int64))


def _adaptive_1d_size(op: str, input: Tensor, output_size) -> tuple[int, int]:
    """The 2-d output size (1, out) of a 1-d adaptive pool of ``input``, checked naming ``op``."""
    _check_input(op, input.data, 1)
    return 1, _output_size(op, output_size, 1)[0]


def adaptive_avg_pool1d(input: Tensor, output_size: int) -> Tensor:
    """The mean of each adaptive window of (N, C, L) or (C, L)
    (``torch.nn.functional.adaptive_avg_pool1d``): the op adaptive_avg_pool2d on (N, C, 1, L)."""
    input = _as_tensor(input)
    size = _adaptive_1d_size("adaptive_avg_pool1d", input, output_size)
    return _drop_height(adaptive_avg_pool2d(_height_one(input), size))


def adaptive_max_pool1d(
    input: Tensor, output_size: int, return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """The max of each adaptive window of (N, C, L) or (C, L)
    (``torch.nn.functional.adaptive_max_pool1d``): the op adaptive_max_pool2d on (N, C, 1, L);
    ``return_indices``: also the max's positions along L."""
    input = _as_tensor(input)
    size = _adaptive_1d_size("adaptive_max_pool1d", input, output_size)
    result = adaptive_max_pool2d(_height_one(input), size, return_indices)
    if return_indices:
        return _drop_height(result[0]), _drop_height(result[1])
    return _drop_height(result)
