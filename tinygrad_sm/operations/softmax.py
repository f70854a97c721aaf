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
    def forward(ctx, z, axis=-1, *, mask=None, temperature=1.0):
        ctx.axes = _float_axes(z, axis, "softmax")
        if temperature != 1.0:
            ctx.temperature = _check_temperature(temperature, "softmax")
            z = z / temperature
        if mask is None:  # subtract the row max, exponentiate, normalise (in place: p is ours)
            p = shift_by_max(z, ctx.axes)
            np.exp(p, out=p)
            p /= p.sum(axis=ctx.axes, keepdims=True)
        else:
            ctx.mask = _check_mask(mask, z, "softmax")
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
            grad_z = p * (grad - sum_of_products(grad, p, ctx.axes))
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
    def forward(ctx, z, axis=-1, *, mask=None, temperature=1.0):
        ctx.axes = _float_axes(z, axis, "log_softmax")
        if temperature != 1.0:
            ctx.temperature = _check_temperature(temperature, "log_softmax")
            z = z / temperature
        if mask is None:  # z − max − log Σ e^{z − max}
            out = shift_by_max(z, ctx.axes)
            out -= np.log(np.sum(np.exp(out), axis=ctx.axes, keepdims=True))  # (in place: ours)
        else:
            ctx.mask = _check_mask(mask, z, "log_softmax")
            shifted, empty = _masked_shift(z, ctx.mask, ctx.axes)  # (−inf where masked)
            total = np.where(empty, 1, np.sum(np.exp(shifted), axis=ctx.axes, keepdims=True))
            out = np.where(ctx.mask, shifted - np.log(total), -np.inf).astype(z.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        if ctx.mask is None:
            grad_z = grad - exp_times(out, grad.sum(axis=ctx.axes, keepdims=True))  # softmax·Σg
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
    def forward(ctx, z, axis=-1, keepdims=False):
        axes = normalize_axis(axis, z.ndim, "logsumexp", z.shape)
        ctx.kept_shape = keepdims_shape(z.shape, axes)
        top = np.max(z, axis=axes, keepdims=True) if z.size else np.zeros(ctx.kept_shape, z.dtype)
        # an ±inf max would give inf - inf
        top = np.where(np.isfinite(top), top, 0).astype(z.dtype, copy=False)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(z - top), axis=axes, keepdims=True)) + top
        if not keepdims:
            out = out.reshape([n for i, n in enumerate(z.shape) if i not in axes])
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        z, out = ctx.saved_tensors
        return grad.reshape(ctx.kept_shape) * exp(z - out.reshape(ctx.kept_shape))
