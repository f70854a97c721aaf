"""The softmax family: softmax, log_softmax, logsumexp (cross-entropy has its own file).

softmax(z)ᵢ = e^{zᵢ} / Σⱼ e^{zⱼ}.  Adding a constant to every zᵢ changes
nothing, so every forward here first subtracts the row maximum: the largest
exponent is then e⁰ = 1 and nothing overflows, whatever the logits.

The Jacobian of p = softmax(z) is ∂pᵢ/∂zⱼ = pᵢ(δᵢⱼ − pⱼ), i.e.
J = diag(p) − p pᵀ. A backward never builds J (C² numbers per row); it needs
only the vector–Jacobian product gᵀJ = p ⊙ (g − ⟨g, p⟩), which costs O(C).
"""

from __future__ import annotations

import numpy as np

from ..function import Op, register_op
from ..shapes import keepdims_shape, normalize_axis
from .rule_helpers import exp, shift_by_max


def _float_axes(z: np.ndarray, axis, op: str) -> tuple[int, ...]:
    """The normalised axes of a softmax-family op, whose input must be floating point
    (as in PyTorch)."""
    if z.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point tensor, got dtype {z.dtype} "
            "(convert it with .astype(np.float32))"
        )
    return normalize_axis(axis, z.ndim, op, z.shape)


@register_op("softmax")
class Softmax(Op):
    """p = softmax(z) along ``axis``;  the backward is gᵀJ, J = diag(p) − p pᵀ (never built)."""

    rule = "p ⊙ (g − Σ g·p)"

    @staticmethod
    def forward(ctx, z, axis=-1):
        ctx.axes = _float_axes(z, axis, "softmax")
        e = np.exp(shift_by_max(z, ctx.axes))
        p = e / e.sum(axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        return p * (grad - (grad * p).sum(axis=ctx.axes, keepdims=True))


@register_op("log_softmax")
class LogSoftmax(Op):
    """y = log softmax(z) = z − logsumexp(z);  ∂yᵢ/∂zⱼ = δᵢⱼ − softmax(z)ⱼ, and softmax(z) = eʸ."""

    rule = "g − softmax(z)·Σ g"

    @staticmethod
    def forward(ctx, z, axis=-1):
        ctx.axes = _float_axes(z, axis, "log_softmax")
        shifted = shift_by_max(z, ctx.axes)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=ctx.axes, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - exp(out) * grad.sum(axis=ctx.axes, keepdims=True)


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
