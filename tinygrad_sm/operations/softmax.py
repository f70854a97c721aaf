"""The softmax family: softmax, log_softmax, logsumexp (cross-entropy has its own file).

softmax(z)ᵢ = e^{zᵢ} / Σⱼ e^{zⱼ}.  Adding a constant to every zᵢ changes
nothing, so every forward here first subtracts the row maximum: the largest
exponent is then e⁰ = 1 and nothing overflows, whatever the logits.

The Jacobian of p = softmax(z) is ∂pᵢ/∂zⱼ = pᵢ(δᵢⱼ − pⱼ), i.e.
J = diag(p) − p pᵀ. A backward never builds J (C² numbers per row); it needs
only the vector–Jacobian product gᵀJ = p ⊙ (g − ⟨g, p⟩), which costs O(C).

softmax and log_softmax also take ``mask=`` (True = keep; a masked entry is a constant, 0 or
−inf, and a row with nothing kept gives zeros or −inf and a zero gradient, never nan) and
``temperature=`` T: softmax(z/T), whose gradient is the same product divided by T.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..shapes import keepdims_shape, normalize_axis
from .rule_helpers import exp, exp_times, shift_by_max, sum_of_products, where


class LogOfSoftmaxWarning(UserWarning):
    """``log()`` applied to a softmax's output: where a probability underflows to 0 its log is
    −inf (and its gradient inf), while ``log_softmax`` computes the same numbers stably.
    Silence it with ``warnings.filterwarnings("ignore", category=LogOfSoftmaxWarning)``."""


def _float_axes(z: np.ndarray, axis, op: str) -> tuple[int, ...]:
    """The normalised axes of a softmax-family op, whose input must be floating point
    (as in PyTorch)."""
    if z.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point tensor, got dtype {z.dtype} "
            "(convert it with .astype(np.float32))"
        )
    return normalize_axis(axis, z.ndim, op, z.shape)


def _check_temperature(temperature: Any, op: str) -> float:
    """``temperature`` (a Python or NumPy number, or a 0-d array or Tensor) as a float if it is
    finite and > 0, else a ValueError naming ``op``."""
    number = (
        isinstance(temperature, numbers.Real | np.ndarray)
        and not isinstance(temperature, bool | np.bool_)
        and np.ndim(temperature) == 0
        and np.asarray(temperature).dtype.kind in "iuf"
    )
    if not (number and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{op}: temperature must be a finite number > 0, got {temperature!r:.60}")
    return float(temperature)


def _check_mask(mask: Any, z: np.ndarray, op: str) -> np.ndarray:
    """The mask as a bool array of z's shape, or a clear error."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool array (True = keep), got dtype {mask.dtype}")
    try:
        return np.broadcast_to(mask, z.shape)
    except ValueError:
        raise ValueError(
            f"{op}: mask of shape {mask.shape} does not broadcast to the input's shape {z.shape}"
        ) from None


def _masked_shift(z: np.ndarray, mask: np.ndarray, axes: tuple[int, ...]):
    """(z − the max of the row's kept entries, with −inf where masked;  the rows that keep nothing).

    A row that keeps nothing is shifted by 0 (it stays all −inf); in a row whose kept entries are
    all −inf those become nan, as PyTorch's masked_fill(−inf) then softmax gives (and so would the
    masked ones: the callers put their constant back).
    """
    kept = np.where(mask, z, -np.inf)
    empty = ~mask.any(axis=axes, keepdims=True)
    top = kept.max(axis=axes, keepdims=True) if z.size else np.zeros(empty.shape, z.dtype)
    return kept - np.where(empty, 0, top).astype(z.dtype, copy=False), empty


# ----- the family's arithmetic on rows ---------------------------------------------------------
# Along the last axis of a C-contiguous float32/float64 array, the steps of a softmax (max, shift,
# exp, sum, scale) run on a block of rows that fits in a core's cache, and each step finds the
# block there: an element comes from memory once per op instead of once per step. The row sums
# are matrix-vector products with a vector of ones (BLAS beats np.sum along a row). Other axes
# take the same formulas on the whole array.
_BLOCK_ELEMENTS = 1 << 16  # 256 KiB of float32 per block (measured best of 2^14 .. 2^18)
_ROW_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def by_rows(z: Any, axes: tuple[int, ...]) -> bool:
    """True if the row kernels apply: a non-empty, C-contiguous float32/float64 ndarray reduced
    along its last axis."""
    return (
        type(z) is np.ndarray
        and axes == (z.ndim - 1,)
        and z.size > 0
        and z.dtype in _ROW_DTYPES
        and z.flags.c_contiguous
    )


def rows_per_block(columns: int) -> int:
    return max(1, _BLOCK_ELEMENTS // columns)


@functools.lru_cache(maxsize=32)
def ones_column(columns: int, dtype: np.dtype) -> np.ndarray:
    """A (columns, 1) column of ones: ``rows @ ones_column`` is each row's sum, as (rows, 1)."""
    ones = np.ones((columns, 1), dtype)
    ones.flags.writeable = False
    return ones


def row_max(rows: np.ndarray) -> np.ndarray:
    """Each row's max, (rows, 1) (0 for an empty row). NumPy reduces along a short row one row at a
    time (4.4 µs for (64, 10)); across the rows of the transposed copy it takes every row at once
    (1.5 µs)."""
    if rows.size == 0:
        return np.zeros((len(rows), 1), rows.dtype)
    if rows.shape[1] <= 64 and rows.shape[0] >= 16:
        return rows.T.copy().max(axis=0)[:, None]
    return rows.max(axis=1, keepdims=True)


def softmax_array(z: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """p = e^{z − max} / Σ e^{z − max} along ``axes``, as a new array (the max shift: the largest
    exponent is e⁰ = 1, so nothing overflows)."""
    if not by_rows(z, axes):
        p = shift_by_max(z, axes)  # (in place from here: p is ours)
        np.exp(p, out=p)
        p /= p.sum(axis=axes, keepdims=True)
        return p
    columns = z.shape[-1]
    p = np.empty_like(z)
    z_rows, p_rows = z.reshape(-1, columns), p.reshape(-1, columns)
    ones, step = ones_column(columns, z.dtype), rows_per_block(columns)
    for start in range(0, len(z_rows), step):
        block, out = z_rows[start : start + step], p_rows[start : start + step]
        np.subtract(block, row_max(block), out=out)
        np.exp(out, out=out)
        out *= 1 / (out @ ones)
    return p


def softmax_vjp(p: Any, grad: Any, axes: tuple[int, ...]) -> Any:
    """gᵀJ = p ⊙ (g − ⟨g, p⟩) along ``axes``, on ndarrays or (create_graph) Tensors. Large arrays
    go a block of rows at a time: the same arithmetic, each block in cache."""
    if not (by_rows(p, axes) and p.size > _BLOCK_ELEMENTS and _is_like(grad, p)):
        return p * (grad - sum_of_products(grad, p, axes))
    columns = p.shape[-1]
    out = np.empty_like(p)
    p_rows, g_rows = p.reshape(-1, columns), grad.reshape(-1, columns)
    out_rows = out.reshape(-1, columns)
    step = rows_per_block(columns)
    for start in range(0, len(p_rows), step):
        rows = slice(start, start + step)
        g, weights, result = g_rows[rows], p_rows[rows], out_rows[rows]
        np.subtract(g, sum_of_products(g, weights, (1,)), out=result)
        result *= weights
    return out


def log_softmax_array(z: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """y = (z − max) − log Σ e^{z − max} along ``axes``, as a new array."""
    if not by_rows(z, axes):
        out = shift_by_max(z, axes)  # (in place from here: out is ours)
        out -= np.log(np.sum(np.exp(out), axis=axes, keepdims=True))
        return out
    columns = z.shape[-1]
    out = np.empty_like(z)
    z_rows, out_rows = z.reshape(-1, columns), out.reshape(-1, columns)
    ones, step = ones_column(columns, z.dtype), rows_per_block(columns)
    exps = np.empty((min(len(z_rows), step), columns), z.dtype)  # (one block's e^{z − max})
    for start in range(0, len(z_rows), step):
        block, shifted = z_rows[start : start + step], out_rows[start : start + step]
        np.subtract(block, row_max(block), out=shifted)
        shifted -= np.log(np.exp(shifted, out=exps[: len(shifted)]) @ ones)
    return out


def log_softmax_vjp(out: Any, grad: Any, axes: tuple[int, ...]) -> Any:
    """g − softmax(z)·Σg = g − e^y·Σg along ``axes`` (y the output), on ndarrays or Tensors."""
    if not (by_rows(out, axes) and _is_like(grad, out)):
        return grad - exp_times(out, grad.sum(axis=axes, keepdims=True))
    columns = out.shape[-1]
    result = np.empty_like(out)
    y_rows, g_rows = out.reshape(-1, columns), grad.reshape(-1, columns)
    result_rows = result.reshape(-1, columns)
    ones, step = ones_column(columns, out.dtype), rows_per_block(columns)
    for start in range(0, len(y_rows), step):
        rows = slice(start, start + step)
        g, share = g_rows[rows], result_rows[rows]
        np.exp(y_rows[rows], out=share)
        share *= g @ ones
        np.subtract(g, share, out=share)
    return result


def exp_and_sums(rows: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e^{z − top}, its row sums (rows, 1)) for z = ``rows`` (rows, C) and ``top`` (rows, 1) (the
    row maxima: cross-entropy's first step), a block of rows at a time."""
    if not by_rows(rows, (1,)):
        e = np.exp(rows - top)
        return e, e.sum(axis=1, keepdims=True)
    columns = rows.shape[1]
    ones, step = ones_column(columns, rows.dtype), rows_per_block(columns)
    if len(rows) <= step:  # (one block: the same steps, with fewer calls)
        e = np.subtract(rows, top)
        return np.exp(e, out=e), e @ ones
    e, sums = np.empty_like(rows), np.empty((len(rows), 1), rows.dtype)
    for start in range(0, len(rows), step):
        block = slice(start, start + step)
        out = np.subtract(rows[block], top[block], out=e[block])
        np.matmul(np.exp(out, out=out), ones, out=sums[block])
    return e, sums


def _is_like(grad: Any, out: np.ndarray) -> bool:
    """True if ``grad`` is an ndarray of ``out``'s shape and dtype."""
    return type(grad) is np.ndarray and grad.shape == out.shape and grad.dtype == out.dtype


@register_op("softmax")
class Softmax(Op):
    """p = softmax(z / T) along ``axis``;  the backward is gᵀJ / T, J = diag(p) − p pᵀ (never
    built).

    With ``mask`` (bool, broadcastable to z, True = keep): pᵢ = 0 where masked, the rest is the
    softmax of the kept entries; a row that keeps nothing is all 0. The gradient arriving at a
    masked entry is dropped (it is a constant), so such a row's gradient is 0 too.
    """

    rule = "p ⊙ (g − Σ g·p)"  # (divided by T when a temperature is given)
    mask = None  # (forward sets these on ctx only when they are given)
    temperature = 1.0

    @staticmethod
    def check(ctx, z, axis=-1, *, mask=None, temperature=1.0):
        ctx.axes = _float_axes(z, axis, "softmax")
        if temperature != 1.0:
            ctx.temperature = _check_temperature(temperature, "softmax")
        if mask is not None:
            _check_mask(mask, z, "softmax")

    @staticmethod
    def forward(ctx, z, axis=-1, *, mask=None, temperature=1.0):
        if temperature != 1.0:
            z = z / temperature
        if mask is None:  # p = e^{z − max} / Σ e^{z − max} (shifted by the max: e ≤ 1, no overflow)
            p = softmax_array(z, ctx.axes)
        else:
            ctx.mask = np.broadcast_to(mask, z.shape)
            shifted, empty = _masked_shift(z, ctx.mask, ctx.axes)
            e = np.exp(shifted)  # (0 where masked)
            p = e / np.where(empty, 1, e.sum(axis=ctx.axes, keepdims=True))  # (a row of 0s stays 0)
            p = np.where(ctx.mask, p, 0).astype(p.dtype, copy=False)  # (0 even in a nan row)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        if ctx.mask is None:
            grad_z = softmax_vjp(p, grad, ctx.axes)  # p ⊙ (g − Σ g·p)
        else:  # (a masked pᵢ is 0, but 0·nan is nan when the row's Σ g·p is: select there)
            grad = where(ctx.mask, grad, 0)
            grad_z = where(ctx.mask, p * (grad - sum_of_products(grad, p, ctx.axes)), 0)
        return grad_z if ctx.temperature == 1.0 else grad_z / ctx.temperature


@register_op("log_softmax")
class LogSoftmax(Op):
    """y = log softmax(z / T) = z/T − logsumexp(z/T);  ∂yᵢ/∂zⱼ = (δᵢⱼ − softmax(z/T)ⱼ)/T, and
    softmax(z/T) = eʸ.

    With ``mask`` (bool, True = keep): yᵢ = −inf where masked, the rest is the log_softmax of
    the kept entries; a row that keeps nothing is all −inf. The gradient arriving at a masked
    entry is dropped, and the gradient there is 0.
    """

    rule = "g − softmax(z)·Σ g"  # (softmax(z/T), all divided by T, with a temperature)
    mask = None  # (forward sets these on ctx only when they are given)
    temperature = 1.0

    @staticmethod
    def check(ctx, z, axis=-1, *, mask=None, temperature=1.0):
        ctx.axes = _float_axes(z, axis, "log_softmax")
        if temperature != 1.0:
            ctx.temperature = _check_temperature(temperature, "log_softmax")
        if mask is not None:
            _check_mask(mask, z, "log_softmax")

    @staticmethod
    def forward(ctx, z, axis=-1, *, mask=None, temperature=1.0):
        if temperature != 1.0:
            z = z / temperature
        if mask is None:  # z − max − log Σ e^{z − max}
            out = log_softmax_array(z, ctx.axes)
        else:
            ctx.mask = np.broadcast_to(mask, z.shape)
            shifted, empty = _masked_shift(z, ctx.mask, ctx.axes)  # (−inf where masked)
            total = np.where(empty, 1, np.sum(np.exp(shifted), axis=ctx.axes, keepdims=True))
            out = np.where(ctx.mask, shifted - np.log(total), -np.inf).astype(z.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        if ctx.mask is None:
            grad_z = log_softmax_vjp(out, grad, ctx.axes)  # g − softmax(z)·Σg
        else:
            grad = where(ctx.mask, grad, 0)
            total = grad.sum(axis=ctx.axes, keepdims=True)
            grad_z = where(ctx.mask, grad - exp_times(out, total), 0)
        return grad_z if ctx.temperature == 1.0 else grad_z / ctx.temperature


@register_op("logsumexp")
class LogSumExp(Op):
    """y = log Σⱼ e^{zⱼ};  ∂y/∂zᵢ = e^{zᵢ − y} = softmax(z)ᵢ.

    An all −inf row gives −inf, and +inf entries give +inf, as in PyTorch.
    """

    rule = "g·softmax(z)"

    @staticmethod
    def check(ctx, z, axis=-1, keepdims=False):
        ctx.axes = axes = normalize_axis(axis, z.ndim, "logsumexp", z.shape)
        ctx.kept_shape = keepdims_shape(z.shape, axes)
        dropped = tuple(n for i, n in enumerate(z.shape) if i not in axes)
        ctx.out_shape = ctx.kept_shape if keepdims else dropped

    @staticmethod
    def forward(ctx, z, axis=-1, keepdims=False):
        axes = ctx.axes
        top = np.max(z, axis=axes, keepdims=True) if z.size else np.zeros(ctx.kept_shape, z.dtype)
        # an ±inf max would give inf - inf
        top = np.where(np.isfinite(top), top, 0).astype(z.dtype, copy=False)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(z - top), axis=axes, keepdims=True)) + top
        out = out.reshape(ctx.out_shape)
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        z, out = ctx.saved_tensors
        return grad.reshape(ctx.kept_shape) * exp(z - out.reshape(ctx.kept_shape))
