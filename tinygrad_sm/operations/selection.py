"""Selection: take each element from one of two tensors, as a boolean condition says.

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
    def forward(ctx, condition, x, y):
        condition = np.asarray(condition)
        if condition.dtype != np.bool_:
            raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
        ctx.condition = condition
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
