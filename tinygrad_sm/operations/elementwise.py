"""Elementwise ops: arithmetic with NumPy broadcasting, and the usual unary functions.

Each backward returns the gradient for each input *before* broadcasting is
undone: the engine sums it back to the input's shape (``shapes.unbroadcast``),
so no rule here has to think about broadcasting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor
from .rule_helpers import array_of, as_operand, log, where


@register_op("add")
class Add(Op):
    """z = a + b."""

    rule = "∂a = g,  ∂b = g"

    @staticmethod
    def forward(ctx, a, b):
        return np.add(as_operand(a, "add"), as_operand(b, "add"))

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


@register_op("sub")
class Sub(Op):
    """z = a − b."""

    rule = "∂a = g,  ∂b = −g"

    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(as_operand(a, "sub"), as_operand(b, "sub"))

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


@register_op("mul")
class Mul(Op):
    """z = a · b."""

    rule = "∂a = g·b,  ∂b = g·a"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a, "mul"), as_operand(b, "mul")
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
    """z = a / b;  ∂z/∂b = −a/b² = −(a/b)/b.

    ∂b is computed as −g·((a/b)/b), as PyTorch does: a/b² would under- or overflow in
    float32 where (a/b)/b does not (a = 1e-30, b = 1e-23: b² is 0, a/b² is inf).
    """

    rule = "∂a = g/b,  ∂b = −g·(a/b)/b"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a, "div"), as_operand(b, "div")
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * (a / b / b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


@register_op("neg")
class Neg(Op):
    """z = −a."""

    rule = "−g"

    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


@register_op("pow")
class Pow(Op):
    """z = aᵇ.

    Two places need care, as in PyTorch:

    * where b = 0, aᵇ = 1 does not depend on a, so ∂a is 0 whatever g is: selected, not
      computed (b·aᵇ⁻¹ is 0·∞ at a = 0, and g·0 is nan for g = ∞);
    * where a = 0 and b ≥ 0, ln a = −∞ is replaced by 0: ∂b = g·0 (PyTorch multiplies here,
      so an infinite g still gives nan, as it does there).

    The masked places get the base 1 inside the formulas, so the values a mask throws away
    stay finite and a second derivative through them is 0, not nan. When b is differentiable,
    ∂a keeps the formula at b = 0 wherever it is finite (b·aᵇ⁻¹ = 0 there): its derivative
    ∂/∂b = aᵇ⁻¹ = 1/a is the mixed second partial, so the Hessian is symmetric (PyTorch's
    selection gives 0 on one side).
    """

    rule = "∂a = g·b·aᵇ⁻¹,  ∂b = g·z·ln a"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_operand(a, "pow"), as_operand(b, "pow")
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        if ctx.needs_input_grad[0]:
            ctx.exponent_zero = np.equal(b, 0)
            ctx.base_one_a = ctx.exponent_zero & np.equal(a, 0)  # where aᵇ⁻¹ would be 0⁻¹
        if ctx.needs_input_grad[1]:
            ctx.base_one_b = np.equal(a, 0) & np.greater_equal(b, 0)  # where ln a would be ln 0
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = grad * b * (a + ctx.base_one_a) ** (b - 1)
            zero = ctx.exponent_zero
            if ctx.needs_input_grad[
                1
            ]:  # keep the formula's own 0 (and its ∂/∂b) where it is not 0·∞
                zero = zero & np.isnan(array_of(grad_a))
            grad_a = where(zero, 0, grad_a)
        if ctx.needs_input_grad[1]:
            # (the added mask has the result's dtype, so a float32 base's ln a is taken in float64
            # when z is)
            grad_b = grad * where(
                ctx.base_one_b, 0, out * log(a + ctx.base_one_b.astype(out.dtype))
            )
        return grad_a, grad_b


@register_op("exp")
class Exp(Op):
    """z = eᵃ; its own derivative, so backward reuses the forward's output."""

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
    """z = ln a."""

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
    """z = √a;  ∂z/∂a = 1/(2√a) = 1/(2z), so backward reuses the output."""

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
    """z = |a|;  sign(a) is 0 at a = 0 and at a = nan, as PyTorch's sign."""

    rule = "g·sign(a)"

    @staticmethod
    def forward(ctx, a):
        ctx.sign = np.where(np.isnan(a), 0, np.sign(a))  # (NumPy's sign(nan) is nan)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.sign


@register_op("relu")
class ReLU(Op):
    """z = max(a, 0);  the gradient is selected: exactly 0 where a ≤ 0, whatever g is.

    At a = nan, z is nan and the gradient passes, as in PyTorch (its rule zeroes it where z ≤ 0).
    """

    rule = "g·[a > 0]"

    @staticmethod
    def forward(ctx, a):
        ctx.passes = ~(a <= 0)
        return np.maximum(a, 0)

    @staticmethod
    def backward(ctx, grad):
        return where(ctx.passes, grad, 0)


@register_op("tanh")
class Tanh(Op):
    """z = tanh a;  ∂z/∂a = 1 − tanh² a = 1 − z², so backward reuses the output."""

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
    """z = σ(a) = 1/(1 + e⁻ᵃ);  ∂z/∂a = σ(a)(1 − σ(a)) = z(1 − z), so backward reuses the output."""

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
    """z = min(max(a, lo), hi) (PyTorch's ``clamp``; either bound may be None, a number, or a
    Tensor, and all three broadcast);  the gradient is selected, as PyTorch does:

        ∂a = g where lo ≤ a ≤ hi,   ∂lo = g where a < lo < hi,   ∂hi = g where a > hi or hi < lo

    (with lo > hi every element is hi, so the gradient goes to hi).
    """

    rule = "∂a = g·[lo ≤ a ≤ hi],  ∂lo = g·[a < lo],  ∂hi = g·[a > hi]"

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: at least one of lo and hi must not be None")
        out = np.clip(a, lo, hi)
        inside = np.ones(out.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.inside = inside
        needs = (*ctx.needs_input_grad, False, False)  # (lo and hi may not have been passed)
        if needs[1]:
            ctx.to_lo = (a < lo) & (lo < hi) if hi is not None else a < lo
        if needs[2]:
            ctx.to_hi = (a > hi) | (hi < lo) if lo is not None else a > hi
        return out

    @staticmethod
    def backward(ctx, grad):
        needs = (*ctx.needs_input_grad, False, False)
        grad_a = where(ctx.inside, grad, 0) if needs[0] else None
        grad_lo = where(ctx.to_lo, grad, 0) if needs[1] else None
        grad_hi = where(ctx.to_hi, grad, 0) if needs[2] else None
        return grad_a, grad_lo, grad_hi


class Cast(Op):
    """z = a converted to another float dtype."""

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
    """A copy converted to ``dtype``;
    differentiable between float dtypes, cut from the graph otherwise."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"astype: {dtype!r} is not a dtype (try np.float32, np.float64, np.int64 or bool)"
        ) from None
    if dtype.kind not in "fiub":
        raise TypeError(f"astype: only numeric and bool dtypes are supported, got {dtype}")
    if dtype.kind != "f" or self.data.dtype.kind != "f":
        return Tensor._make(self.data.astype(dtype))
    return Cast.apply(self, dtype)


register_op("astype", Cast, method=astype)
