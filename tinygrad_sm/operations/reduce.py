"""Reductions: sum, mean, max, min over an axis, a tuple of axes, or everything."""

from __future__ import annotations

import math

import numpy as np

from ..function import Op, register_op
from ..shapes import keepdims_shape, normalize_axis
from .rule_helpers import broadcast_to


@register_op("sum")
class Sum(Op):
    """z = Σᵢ aᵢ over ``axis``;  ∂z/∂aᵢ = 1, so each summed element gets g (broadcast back)."""

    rule = "g copied back along the summed axes"

    @staticmethod
    def check(ctx, a, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, a.ndim, "sum", a.shape)
        ctx.input_shape = a.shape
        ctx.kept_shape = keepdims_shape(a.shape, ctx.axes)

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        if not ctx.axes:  # axis=(): nothing is summed (NumPy's a + 0 would turn -0.0 into 0.0)
            return np.array(a, copy=True)
        return a.sum(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_to(grad.reshape(ctx.kept_shape), ctx.input_shape)


@register_op("mean")
class Mean(Op):
    """z = (1/n) Σᵢ aᵢ over ``axis``."""

    rule = "g / n copied back along the averaged axes"

    @staticmethod
    def check(ctx, a, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, a.ndim, "mean", a.shape)
        ctx.input_shape = a.shape
        ctx.kept_shape = keepdims_shape(a.shape, ctx.axes)
        ctx.count = math.prod(a.shape[i] for i in ctx.axes)

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        if not ctx.axes:  # axis=(): each element is its own mean (keeping -0.0, as a / 1 does)
            return np.true_divide(a, 1)
        return np.mean(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_to(grad.reshape(ctx.kept_shape) / ctx.count, ctx.input_shape)


class _Extremum(Op):
    """Shared by max and min: the gradient goes to the extreme elements, split evenly among ties."""

    reduce = staticmethod(np.max)  # (each subclass names its own)

    @staticmethod
    def check(ctx, a, axis=None, keepdims=False):
        name = type(ctx).name
        ctx.axes = axes = normalize_axis(axis, a.ndim, name, a.shape)
        empty = [i for i in axes if a.shape[i] == 0]
        if empty:  # (reducing the other axes of an empty tensor is fine: the result is empty too)
            raise ValueError(
                f"{name}: cannot reduce over axis {empty[0]}, which has size 0 (shape {a.shape})"
            )
        ctx.kept_shape = keepdims_shape(a.shape, axes)
        dropped = tuple(n for i, n in enumerate(a.shape) if i not in axes)
        ctx.out_shape = ctx.kept_shape if keepdims else dropped

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = ctx.axes
        extreme = type(ctx).reduce(a, axis=axes, keepdims=True)
        if ctx.needs_input_grad[0]:  # (integer and bool tensors never need it)
            # (axis=() on a tensor with axes reduces nothing: every element wins, nan too; a 0-d
            # tensor's one element competes with itself, and nan loses, as in PyTorch)
            winners = (a == extreme) if axes or a.ndim == 0 else np.ones(a.shape, bool)
            ctx.share = np.divide(winners, winners.sum(axis=axes, keepdims=True), dtype=a.dtype)
        return extreme.reshape(ctx.out_shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.kept_shape) * ctx.share


@register_op("max")
class Max(_Extremum):
    """z = maxᵢ aᵢ over ``axis``;  with k tied maxima each gets 1/k of g (``torch.amax``'s rule)."""

    rule = "g to the maxima (split evenly among ties)"
    reduce = staticmethod(np.max)


@register_op("min")
class Min(_Extremum):
    """z = minᵢ aᵢ over ``axis``;  with k tied minima each gets 1/k of g."""

    rule = "g to the minima (split evenly among ties)"
    reduce = staticmethod(np.min)
