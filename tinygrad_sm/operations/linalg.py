"""Matrix multiplication with NumPy's ``@`` semantics (1-D vectors, batched stacks)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..function import Op, register_op
from .rule_helpers import as_operand


@register_op("matmul")
class MatMul(Op):
    """Z = A @ B.

    A 1-D ``A`` is treated as a row (1, k) and a 1-D ``B`` as a column (k, 1),
    exactly as NumPy does; batch axes broadcast, and the engine sums their
    gradients back to each input's shape.
    """

    rule = "∂A = g @ Bᵀ,  ∂B = Aᵀ @ g"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a, "matmul"), as_operand(b, "matmul")
        a_shape, b_shape = np.shape(a), np.shape(b)
        if len(a_shape) == 0 or len(b_shape) == 0:
            raise ValueError(
                "matmul: both operands need at least one dimension, "
                f"got shapes {a_shape} and {b_shape}"
            )
        k_a = a_shape[-1]
        k_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
        if k_a != k_b:
            raise ValueError(f"matmul: shapes {a_shape} and {b_shape} do not align: {k_a} != {k_b}")
        ctx.save_for_backward(a, b)
        try:
            return np.matmul(a, b)
        except ValueError:
            raise ValueError(
                f"matmul: batch shapes of {a_shape} and {b_shape} cannot be broadcast together"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_is_vector, b_is_vector = a.ndim == 1, b.ndim == 1
        a2 = a.reshape(1, -1) if a_is_vector else a
        b2 = b.reshape(-1, 1) if b_is_vector else b
        # give grad the shape of the 2-D product (put back the axes the 1-D operands dropped)
        grad2 = grad
        if a_is_vector:
            grad2 = (
                grad2.reshape(grad2.shape[:-1] + (1,) + grad2.shape[-1:])
                if not b_is_vector
                else grad2.reshape(1, 1)
            )
        if b_is_vector and not a_is_vector:
            grad2 = grad2.reshape(grad2.shape + (1,))
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = grad2 @ b2.swapaxes(-1, -2)
            if a_is_vector:
                grad_a = grad_a.reshape(grad_a.shape[:-2] + grad_a.shape[-1:])
        if ctx.needs_input_grad[1]:
            grad_b = a2.swapaxes(-1, -2) @ grad2
            if b_is_vector:
                grad_b = grad_b.reshape(grad_b.shape[:-1])
        return grad_a, grad_b


@register_op("linear")
class Linear(Op):
    """y = x Wᵀ + b (a fully connected layer in one op, as ``torch.nn.functional.linear``).

    x has shape (..., in), W (out, in), b (out,) or None. One op instead of
    transpose + matmul + add: fewer nodes, and no broadcast to undo for b.
    """

    rule = "∂x = g W,  ∂W = gᵀ x,  ∂b = Σ_rows g"

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        x, weight = np.asarray(x), np.asarray(weight)
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                f"(expected input (..., {weight.shape[-1] if weight.ndim else '?'}))"
            )
        if bias is not None and np.shape(bias) != weight.shape[:1]:
            raise ValueError(
                f"linear: bias must have shape ({weight.shape[0]},), got {np.shape(bias)}"
            )
        ctx.save_for_backward(x, weight)
        out = _rowwise_matmul(x, weight.T)
        if bias is not None:
            if type(bias) is np.ndarray and bias.dtype == out.dtype:
                out += bias  # in place: no second (rows, out) array
            else:
                out = out + bias  # (a float64 bias promotes a float32 product, as NumPy does)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        # (not reshape(-1, ...): that fails when a feature axis has size 0)
        rows = math.prod(x.shape[:-1])
        rows_grad = grad.reshape(rows, grad.shape[-1])  # (rows, out)
        grad_x = _rowwise_matmul(grad, weight) if ctx.needs_input_grad[0] else None
        grad_weight = (
            rows_grad.T @ x.reshape(rows, x.shape[-1]) if ctx.needs_input_grad[1] else None
        )
        grad_bias = (
            rows_grad.sum(axis=0)
            if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
            else None
        )
        return grad_x, grad_weight, grad_bias


def _rowwise_matmul(a: Any, b: Any) -> Any:
    """a @ b for a of shape (..., k) and a matrix b, as one (rows, k) @ (k, n) product: NumPy runs
    a 3-D a as one small product per leading index, several times slower (a transformer's
    (batch, length, width) activations)."""
    if a.ndim <= 2:
        return a @ b
    leading = a.shape[:-1]
    return (a.reshape(math.prod(leading), a.shape[-1]) @ b).reshape(*leading, b.shape[-1])
