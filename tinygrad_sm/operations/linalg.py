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
    def check(ctx, a, b):
        a_shape = np.asarray(as_operand(a, "matmul")).shape
        b_shape = np.asarray(as_operand(b, "matmul")).shape
        if len(a_shape) == 0 or len(b_shape) == 0:
            raise ValueError(
                "matmul: both operands need at least one dimension, "
                f"got shapes {a_shape} and {b_shape}"
            )
        k_a = a_shape[-1]
        k_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
        if k_a != k_b:
            raise ValueError(f"matmul: shapes {a_shape} and {b_shape} do not align: {k_a} != {k_b}")
        batch_a, batch_b = a_shape[:-2], b_shape[:-2]
        try:
            if batch_a and batch_b and batch_a != batch_b:
                np.broadcast_shapes(batch_a, batch_b)
        except ValueError:
            raise ValueError(
                f"matmul: batch shapes of {a_shape} and {b_shape} cannot be broadcast together"
            ) from None

    @staticmethod
    def forward(ctx, a, b):
        if type(a) is not np.ndarray or type(b) is not np.ndarray:  # (a list operand, checked)
            a, b = np.asarray(a), np.asarray(b)
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

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
    def check(ctx, x, weight, bias=None):
        x_shape, weight_shape = np.asarray(x).shape, np.asarray(weight).shape
        if len(weight_shape) != 2 or not x_shape or x_shape[-1] != weight_shape[1]:
            raise ValueError(
                f"linear: input of shape {x_shape} does not fit weight of shape {weight_shape} "
                f"(expected input (..., {weight_shape[-1] if weight_shape else '?'}))"
            )
        if bias is not None and np.shape(bias) != weight_shape[:1]:
            raise ValueError(
                f"linear: bias must have shape ({weight_shape[0]},), got {np.shape(bias)}"
            )

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if type(x) is not np.ndarray or type(weight) is not np.ndarray:  # (a list, checked)
            x, weight = np.asarray(x), np.asarray(weight)
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
