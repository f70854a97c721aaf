"""Elementwise ops: arithmetic with NumPy broadcasting, and the usual unary functions.

Each backward returns the gradient for each input *before* broadcasting is
undone: the engine sums it back to the input's shape (``common.unbroadcast``),
so no rule here has to think about broadcasting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import register_op
from ..tensor import Tensor
from .common import Op, as_operand, log


@register_op("add")
class Add(Op):
    """z = a + b;  ∂z/∂a = 1, ∂z/∂b = 1."""

    rule = "∂a = g,  ∂b = g"

    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


@register_op("sub")
class Sub(Op):
    """z = a − b;  ∂z/∂a = 1, ∂z/∂b = −1."""

    rule = "∂a = g,  ∂b = −g"

    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


@register_op("mul")
class Mul(Op):
    """z = a · b;  ∂z/∂a = b, ∂z/∂b = a."""

    rule = "∂a = g·b,  ∂b = g·a"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a), as_operand(b)
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad * b if ctx.needs_input_grad[0] else None
        grad_b = grad * a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


@register_op("div")
class Div(Op):
    """z = a / b;  ∂z/∂a = 1/b, ∂z/∂b = −a/b²."""

    rule = "∂a = g/b,  ∂b = −g·a/b²"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a), as_operand(b)
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


@register_op("neg")
class Neg(Op):
    """z = −a;  ∂z/∂a = −1."""

    rule = "−g"

    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


@register_op("pow")
class Pow(Op):
    """z = aᵇ;  ∂z/∂a = b·aᵇ⁻¹, ∂z/∂b = aᵇ·ln a (taken as 0 where a = 0 and b ≥ 0, as PyTorch does)."""

    rule = "∂a = g·b·aᵇ⁻¹,  ∂b = g·z·ln a"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a), as_operand(b)
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        if ctx.needs_input_grad[0]:
            # 1 where b = 0: there ∂z/∂a = 0 (as PyTorch), and aᵇ⁻¹⁺¹ = 1 keeps 0·a⁻¹ from being nan at a = 0
            zero_exponent = np.asarray(b) == 0
            ctx.zero_exponent = zero_exponent.astype(out.dtype) if zero_exponent.ndim else float(zero_exponent)
        if ctx.needs_input_grad[1]:
            # 1 where ln(a) would be -inf but aᵇ is 0 (or 1): makes ln(a + zero_base) = 0 there
            ctx.zero_base = ((np.asarray(a) == 0) & (np.asarray(b) >= 0)).astype(out.dtype)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = grad * b * a ** (b - 1 + ctx.zero_exponent)
        if ctx.needs_input_grad[1]:
            grad_b = grad * out * log(a + ctx.zero_base)
        return grad_a, grad_b


@register_op("exp")
class Exp(Op):
    """z = eᵃ;  ∂z/∂a = eᵃ = z (the forward's output is reused)."""

    rule = "g·z  (z = eᵃ)"

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


@register_op("log")
class Log(Op):
    """z = ln a;  ∂z/∂a = 1/a."""

    rule = "g / a"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


@register_op("sqrt")
class Sqrt(Op):
    """z = √a;  ∂z/∂a = 1/(2√a) = 1/(2z)."""

    rule = "g / (2z)  (z = √a)"

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


@register_op("abs")
class Abs(Op):
    """z = |a|;  ∂z/∂a = sign(a) (0 at a = 0, as PyTorch)."""

    rule = "g·sign(a)"

    @staticmethod
    def forward(ctx, a):
        ctx.sign = np.sign(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.sign


@register_op("relu")
class ReLU(Op):
    """z = max(a, 0);  ∂z/∂a = 1 where a > 0, else 0."""

    rule = "g·[a > 0]"

    @staticmethod
    def forward(ctx, a):
        ctx.positive = a > 0
        return np.maximum(a, 0)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.positive


@register_op("tanh")
class Tanh(Op):
    """z = tanh a;  ∂z/∂a = 1 − z²."""

    rule = "g·(1 − z²)"

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


@register_op("sigmoid")
class Sigmoid(Op):
    """z = σ(a) = 1/(1 + e⁻ᵃ);  ∂z/∂a = z(1 − z)."""

    rule = "g·z·(1 − z)"

    @staticmethod
    def forward(ctx, a):
        # e^{-|a|} never overflows; pick the form of σ that divides by a number >= 1
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(e.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


@register_op("clip")
class Clip(Op):
    """z = min(max(a, lo), hi);  ∂z/∂a = 1 where lo ≤ a ≤ hi, else 0 (either bound may be None)."""

    rule = "g·[lo ≤ a ≤ hi]"

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: at least one of lo and hi must not be None")
        inside = np.ones(np.shape(a), dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.inside = inside
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.inside


@register_op("astype", method=False)
class Cast(Op):
    """z = a converted to another float dtype;  the gradient is converted back."""

    rule = "g cast back to the input's dtype"
    dtype_from_inputs = False

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.input_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.input_dtype), None


def astype(self: Tensor, dtype: Any) -> Tensor:
    """A copy converted to ``dtype``; differentiable between float dtypes, cut from the graph otherwise."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or self.data.dtype.kind != "f":
        return Tensor._make(self.data.astype(dtype))
    return Cast.apply(self, dtype)


Tensor.astype = astype
