"""Selection: take each element from one of two tensors, as a boolean condition says
(``where``), or fill the places a mask marks with one value (``masked_fill``).

Its backward *selects* too: the gradient goes to the side that was chosen and is exactly 0
on the other, never a multiplication by a 0/1 mask (∞·0 would be nan where the upstream
gradient is infinite). relu, clip and pow route their gradients the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor
from . import rule_helpers


@register_op("where", method=False)
class Where(Op):
    """z = x where the condition holds, y elsewhere
    (all three broadcast; the condition gets no gradient)."""

    rule = "∂x = g·[c],  ∂y = g·[¬c]"

    @staticmethod
    def check(ctx, condition, x, y):
        dtype = np.asarray(condition).dtype
        if dtype != np.bool_:
            raise TypeError(f"where: condition must be boolean, got dtype {dtype}")

    @staticmethod
    def forward(ctx, condition, x, y):
        ctx.condition = condition = np.asarray(condition)
        return np.where(condition, x, y)

    @staticmethod
    def backward(ctx, grad):
        grad_x = rule_helpers.where(ctx.condition, grad, 0) if ctx.needs_input_grad[1] else None
        grad_y = rule_helpers.where(ctx.condition, 0, grad) if ctx.needs_input_grad[2] else None
        return None, grad_x, grad_y


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Elements of ``x`` where ``condition`` is True, of ``y`` elsewhere (``torch.where``; x and y
    may be Python scalars; the condition is a bool array or bool Tensor)."""
    return Where.apply(condition, x, y)


@register_op("masked_fill")
class MaskedFill(Op):
    """z = value where the mask is True, x elsewhere (``Tensor.masked_fill``: the mask is a bool
    array or Tensor broadcastable with x, value a number or a 0-d Tensor; z keeps x's dtype);
    the filled places do not depend on x, so ∂x is exactly 0 there."""

    rule = "∂x = g·[¬mask],  ∂value = Σ g·[mask]"
    dtype_from_inputs = False  # (a float64 value fills a float32 x: z stays float32, as PyTorch)

    @staticmethod
    def check(ctx, x, mask, value):
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(
                f"masked_fill: mask must be a bool array or Tensor, got dtype {mask.dtype}"
            )
        if np.asarray(value).dtype.kind not in "fiub":
            raise TypeError(
                f"masked_fill: value must be a number or a 0-d tensor, got {value!r:.60}"
            )
        if np.ndim(value) != 0:
            raise ValueError(
                "masked_fill: value must be a number or a 0-d tensor, "
                f"got one of shape {np.shape(value)}"
            )
        try:
            np.broadcast_shapes(x.shape, mask.shape)
        except ValueError:
            raise ValueError(
                f"masked_fill: mask of shape {mask.shape} does not broadcast with the input's "
                f"shape {x.shape}"
            ) from None

    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.mask = mask = np.asarray(mask)
        return np.where(mask, value, x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        grad_x = rule_helpers.where(ctx.mask, 0, grad) if ctx.needs_input_grad[0] else None
        grad_value = rule_helpers.where(ctx.mask, grad, 0) if ctx.needs_input_grad[2] else None
        return grad_x, None, grad_value
