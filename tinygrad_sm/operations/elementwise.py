"""Elementwise ops: arithmetic with NumPy broadcasting, and the usual unary functions
(activations included: relu, leaky_relu, elu, gelu, silu, softplus; and erf, which gelu is made of).

Each backward returns the gradient for each input *before* broadcasting is
undone: the engine sums it back to the input's shape (``shapes.unbroadcast``),
so no rule here has to think about broadcasting.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor
from .rule_helpers import array_of, as_operand, exp, log, where
from .softmax import LogOfSoftmaxWarning, Softmax

_PLAIN_OPERANDS = frozenset((np.ndarray, float, int))


def _operands_check(op: str):
    """The ``check`` of a binary op: each operand an ndarray, a number or a list of numbers
    (``as_operand``'s rule; NumPy's ufuncs take the list as it is)."""

    def check(ctx, a, b):
        if type(a) not in _PLAIN_OPERANDS or type(b) not in _PLAIN_OPERANDS:
            as_operand(a, op), as_operand(b, op)

    return staticmethod(check)



@register_op("add")
class Add(Op):
    """z = a + b."""

    rule = "∂a = g,  ∂b = g"

    check = _operands_check("add")

    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


@register_op("sub")
class Sub(Op):
    """z = a − b."""

    rule = "∂a = g,  ∂b = −g"

    check = _operands_check("sub")

    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


@register_op("mul")
class Mul(Op):
    """z = a · b."""

    rule = "∂a = g·b,  ∂b = g·a"

    check = _operands_check("mul")

    @staticmethod
    def forward(ctx, a, b):
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

    check = _operands_check("div")

    @staticmethod
    def forward(ctx, a, b):
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


_log_apply = Log.apply


def log_method(self: Tensor) -> Tensor:
    """The natural logarithm, elementwise (``torch.log``).

    ``log`` of a softmax's output warns (``LogOfSoftmaxWarning``, once per line of user code):
    where a probability underflows to 0 the log is −inf, while ``log_softmax`` keeps it finite.
    """
    if type(self._node) is Softmax:
        warnings.warn(
            "log(softmax(x)) loses precision where p underflows; use log_softmax(x)",
            LogOfSoftmaxWarning,
            stacklevel=2,
        )
    return _log_apply(self)


register_op("log", Log, method=log_method)


@register_op("log1p")
class Log1p(Op):
    """z = ln(1 + a), exact for small a (where 1 + a would round)."""

    rule = "g / (1 + a)"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log1p(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 + a)


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


def _number(value: Any, op: str, name: str) -> float:
    """A number setting of an activation (a slope, α, β, a threshold) as a Python float, so that a
    NumPy scalar never changes the result's dtype; a clear TypeError for anything else."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {value!r:.60}")
    return float(value)


@register_op("leaky_relu")
class LeakyReLU(Op):
    """z = a where a > 0, s·a elsewhere (s: ``negative_slope``);  the gradient is selected.

    At a = 0 the derivative is s, and at a = nan the gradient is g·s, as PyTorch's (its rule
    passes g only where a > 0).
    """

    rule = "g where a > 0, g·s elsewhere"

    @staticmethod
    def check(ctx, a, negative_slope=0.01):
        ctx.negative_slope = _number(negative_slope, "leaky_relu", "negative_slope")

    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        ctx.positive = a > 0
        return np.where(ctx.positive, a, a * ctx.negative_slope)

    @staticmethod
    def backward(ctx, grad):
        return where(ctx.positive, grad, grad * ctx.negative_slope), None


@register_op("elu")
class ELU(Op):
    """z = a where a > 0, α(eᵃ − 1) elsewhere;  ∂z/∂a = 1 where a > 0, α·eᵃ elsewhere (α at a = 0).

    At a = nan the gradient is nan, as PyTorch's vectorised kernel gives (its scalar loop, used for
    the last few elements of a tensor, passes g there instead). The slope α·eᵃ is read as the
    constant α at a = 0 itself, so the second derivative there is 0, as PyTorch's.
    """

    rule = "g where a > 0, g·α·eᵃ elsewhere"

    @staticmethod
    def check(ctx, a, alpha=1.0):
        ctx.alpha = _number(alpha, "elu", "alpha")

    @staticmethod
    def forward(ctx, a, alpha=1.0):
        ctx.save_for_backward(a)
        ctx.positive = a > 0
        ctx.flat = a >= 0  # (where eᵃ is read as the constant e⁰ = 1)
        return np.where(ctx.positive, a, ctx.alpha * np.expm1(np.minimum(a, 0)))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        # (eᵃ of the negative part only: e¹⁰⁰⁰ = inf would make the second derivative 0·inf)
        negative_exp = exp(where(ctx.flat, 0, a))
        return where(ctx.positive, grad, grad * (ctx.alpha * negative_exp)), None


# ----- erf, and the activations made of smooth functions -------------------------------------
# Under backward(create_graph=True) a value cached by forward (Φ, σ, tanh) would come back as a
# constant, so those rules recompute it from their input on the graph; a plain backward reuses
# the cache.
_SQRT_HALF = math.sqrt(0.5)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_ONE_OVER_SQRT_TWO_PI = 1 / math.sqrt(2 * math.pi)

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
# as in Netlib SPECFUN's CALERF: each numerator and denominator, highest power first.
_ERF_NEAR_NUMERATOR = (
    1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
    3.77485237685302021e02, 3.20937758913846947e03,
)  # fmt: skip
_ERF_NEAR_DENOMINATOR = (
    1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
    2.84423683343917062e03,
)  # fmt: skip
_ERFC_MIDDLE_NUMERATOR = (
    2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
    6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
    1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
)  # fmt: skip
_ERFC_MIDDLE_DENOMINATOR = (
    1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
    1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
    3.43936767414372164e03, 1.23033935480374942e03,
)  # fmt: skip
_ERFC_FAR_NUMERATOR = (
    1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
    1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4,
)  # fmt: skip
_ERFC_FAR_DENOMINATOR = (
    1.0, 2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
    6.05183413124413191e-2, 2.33520497626869185e-3,
)  # fmt: skip


def _polynomial(coefficients: tuple, t: np.ndarray) -> np.ndarray:
    """c₀tⁿ + ... + cₙ by Horner's rule, in place (coefficients highest power first)."""
    value = coefficients[0] * t + coefficients[1]
    for c in coefficients[2:]:
        value *= t
        value += c
    return value


def _rational(numerator: tuple, denominator: tuple, t: np.ndarray) -> np.ndarray:
    """P(t)/Q(t) by Horner's rule (coefficients highest power first)."""
    p = _polynomial(numerator, t)
    p /= _polynomial(denominator, t)
    return p


# float32: one odd/even rational on [−4, 4] (beyond, erf rounds to ±1 in float32), the fast float
# erf of Eigen and TensorFlow; against math.erf its error is at most 4.2e-7 (7 float32 ulps near
# |x| = 3.3, relative error below 4.2e-7 everywhere, tiny x included), and it costs a tenth of
# Cody's three ranges on a (64, 12, 256) GELU input.
_ERF32_NUMERATOR = (
    -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
)  # fmt: skip
_ERF32_DENOMINATOR = (
    -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
    -1.42647390514189e-02,
)  # fmt: skip


def _erf_float32(x: np.ndarray) -> np.ndarray:
    """erf of a float32 array: x·P(x²)/Q(x²) with x clipped to [−4, 4] (nan stays nan)."""
    x = np.clip(x, -4.0, 4.0)
    square = x * x
    p = _polynomial(_ERF32_NUMERATOR, square)
    p *= x
    p /= _polynomial(_ERF32_DENOMINATOR, square)
    return p


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf x = 2/√π ∫₀ˣ e^{−t²} dt of an ndarray, to about 1e-16 relative in float64 (float32:
    ``_erf_float32``, to float32's precision).

    Cody's three rational approximations of |x|: erf = x·R(x²) up to 0.46875; beyond,
    erfc = e^{−x²}·R(|x|) up to 4 and e^{−x²}·(1/√π − R(1/x²)/x²)/|x| after that (erfc is
    below 2e-8 there, and 0 from |x| = 27 on), with erf = 1 − erfc. The sign is x's (so
    erf(−0) = −0); nan stays nan. (Cody's e^{−u²}·e^{−(x−u)(x+u)} split of e^{−x²} keeps erfc
    accurate for large x; erf does not need it: the error it avoids is relative to erfc,
    which 1 − erfc makes negligible.)
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.dtype == np.float32:
        return _erf_float32(x)
    y = np.abs(x)
    out = np.empty_like(y)
    near = y <= 0.46875
    far = ~(y <= 4.0)  # (nan included: it stays nan)
    middle = ~(near | far)
    t = y[near]
    out[near] = t * _rational(_ERF_NEAR_NUMERATOR, _ERF_NEAR_DENOMINATOR, t * t)
    t = y[middle]
    ratio = _rational(_ERFC_MIDDLE_NUMERATOR, _ERFC_MIDDLE_DENOMINATOR, t)
    out[middle] = 1 - np.exp(-t * t) * ratio
    if far.any():
        t = np.minimum(y[far], 27.0)  # erfc(27) rounds 1 − erfc to 1 (and ∞ would give ∞ − ∞)
        inverse_square = 1 / (t * t)
        ratio = _rational(_ERFC_FAR_NUMERATOR, _ERFC_FAR_DENOMINATOR, inverse_square)
        erfc = np.exp(-t * t) * (1 / math.sqrt(math.pi) - inverse_square * ratio) / t
        out[far] = 1 - erfc
    return np.copysign(out, x, out=out)


def _erf(x: Any) -> Any:
    return x.erf() if isinstance(x, Tensor) else erf_array(x)


def _sigmoid_array(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1/(1 + e⁻ᵃ) through e^{−|a|}, which never overflows."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(e.dtype, copy=False)


@register_op("erf")
class Erf(Op):
    """z = erf a = 2/√π ∫₀ᵃ e^{−t²} dt (``torch.erf``);  ∂z/∂a = 2/√π · e^{−a²}."""

    rule = "g · 2/√π · e^{−a²}"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return erf_array(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (_TWO_OVER_SQRT_PI * exp(-(a * a)))


_GELU_TANH_SCALE = math.sqrt(2 / math.pi)
_GELU_TANH_CUBIC = 0.044715


@register_op("gelu")
class GELU(Op):
    """z = a·Φ(a), Φ the standard normal CDF: Φ(a) = ½(1 + erf(a/√2));
    ∂z/∂a = Φ(a) + a·φ(a), φ(a) = e^{−a²/2}/√(2π).

    ``approximate="tanh"``: z = ½a(1 + tanh u), u = √(2/π)(a + 0.044715a³), and
    ∂z/∂a = ½(1 + tanh u) + ½a(1 − tanh² u)·√(2/π)(1 + 3·0.044715a²), as PyTorch.
    """

    rule = "g·(Φ(a) + a·φ(a))  (the tanh form: its own derivative)"

    @staticmethod
    def check(ctx, a, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r:.60}")
        ctx.approximate = approximate

    @staticmethod
    def forward(ctx, a, approximate="none"):
        ctx.save_for_backward(a)
        if approximate == "tanh":
            ctx.tanh = np.tanh(_GELU_TANH_SCALE * (a + _GELU_TANH_CUBIC * (a * a * a)))
            return 0.5 * a * (1 + ctx.tanh)
        ctx.cdf = 0.5 * (1 + erf_array(a * _SQRT_HALF))
        return a * ctx.cdf

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            if ctx.create_graph:
                tanh = (_GELU_TANH_SCALE * (a + _GELU_TANH_CUBIC * (a * a * a))).tanh()
            else:
                tanh = ctx.tanh
            inner_slope = _GELU_TANH_SCALE * (1 + 3 * _GELU_TANH_CUBIC * (a * a))
            return grad * (0.5 * (1 + tanh) + 0.5 * a * (1 - tanh * tanh) * inner_slope), None
        cdf = 0.5 * (1 + _erf(a * _SQRT_HALF)) if ctx.create_graph else ctx.cdf
        pdf = _ONE_OVER_SQRT_TWO_PI * exp(-0.5 * (a * a))
        return grad * (cdf + a * pdf), None


@register_op("silu")
class SiLU(Op):
    """z = a·σ(a) (also called swish);  ∂z/∂a = σ(a) + a·σ(a)(1 − σ(a)) = σ(a)(1 + a(1 − σ(a)))."""

    rule = "g·σ(a)·(1 + a·(1 − σ(a)))"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        ctx.sigmoid = _sigmoid_array(a)
        return a * ctx.sigmoid

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        sigmoid = a.sigmoid() if ctx.create_graph else ctx.sigmoid
        return grad * (sigmoid * (1 + a * (1 - sigmoid)))


@register_op("softplus")
class Softplus(Op):
    """z = ln(1 + e^{βa})/β, computed as (max(βa, 0) + ln(1 + e^{−|βa|}))/β, which never
    overflows; z = a where βa > ``threshold`` (linear there, as PyTorch);  ∂z/∂a = σ(βa)."""

    rule = "g·σ(βa), g where βa > threshold"

    @staticmethod
    def check(ctx, a, beta=1.0, threshold=20.0):
        ctx.beta = _number(beta, "softplus", "beta")
        ctx.threshold = _number(threshold, "softplus", "threshold")

    @staticmethod
    def forward(ctx, a, beta=1.0, threshold=20.0):
        ctx.save_for_backward(a)
        beta, threshold = ctx.beta, ctx.threshold
        scaled = a * beta if beta != 1 else a
        ctx.linear = scaled > threshold
        e = np.exp(-np.abs(scaled))
        ctx.sigmoid = np.where(scaled >= 0, 1 / (1 + e), e / (1 + e))
        smooth = np.maximum(scaled, 0) + np.log1p(e)
        return np.where(ctx.linear, a, smooth / beta if beta != 1 else smooth)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        sigmoid = (a * ctx.beta).sigmoid() if ctx.create_graph else ctx.sigmoid
        return where(ctx.linear, grad, grad * sigmoid), None, None


@register_op("clip")
class Clip(Op):
    """z = min(max(a, lo), hi) (PyTorch's ``clamp``, also ``x.clamp``; the bounds also by PyTorch's
    names, ``min=``/``max=``; either may be None, a number, or a Tensor, and all three broadcast);
    the gradient is selected, as PyTorch does:

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


Tensor.clamp = Tensor.clip  # (PyTorch's name; x.clamp(min=0) too)


class _Extremum(Op):
    """What maximum and minimum share: the gradient goes to the operand that was picked; where
    a = b it is split evenly, and where either is nan (so is z) both get all of it, as PyTorch."""

    @staticmethod
    def record(ctx, a, b, a_loses, b_loses) -> None:
        """Keep where each operand gets the gradient (not where it loses: nan included) and the
        ties, if there are any (a float input rarely has one, and g then needs no halving)."""
        tie = np.equal(a, b)
        ctx.tie = tie if tie.any() else None
        if ctx.needs_input_grad[0]:
            ctx.a_gets = ~a_loses
        if ctx.needs_input_grad[1]:
            ctx.b_gets = ~b_loses

    @staticmethod
    def backward(ctx, grad):
        share = grad if ctx.tie is None else where(ctx.tie, grad * 0.5, grad)
        grad_a = where(ctx.a_gets, share, 0) if ctx.needs_input_grad[0] else None
        grad_b = where(ctx.b_gets, share, 0) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


@register_op("maximum")
class Maximum(_Extremum):
    """z = max(a, b) elementwise (``torch.maximum``; a and b broadcast; nan wins);
    ∂a = g where a > b, g/2 where a = b, 0 where a < b (∂b the mirror image)."""

    rule = "∂a = g·[a > b] + ½g·[a = b],  ∂b = g·[b > a] + ½g·[a = b]"

    check = _operands_check("maximum")

    @staticmethod
    def forward(ctx, a, b):
        Maximum.record(ctx, a, b, a_loses=np.less(a, b), b_loses=np.greater(a, b))
        return np.maximum(a, b)


@register_op("minimum")
class Minimum(_Extremum):
    """z = min(a, b) elementwise (``torch.minimum``; a and b broadcast; nan wins);
    ∂a = g where a < b, g/2 where a = b, 0 where a > b (∂b the mirror image)."""

    rule = "∂a = g·[a < b] + ½g·[a = b],  ∂b = g·[b < a] + ½g·[a = b]"

    check = _operands_check("minimum")

    @staticmethod
    def forward(ctx, a, b):
        Minimum.record(ctx, a, b, a_loses=np.greater(a, b), b_loses=np.less(a, b))
        return np.minimum(a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """The elementwise maximum of a and b (``torch.maximum``; Tensors, arrays or numbers,
    broadcast; ties split the gradient evenly)."""
    return Maximum.apply(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """The elementwise minimum of a and b (``torch.minimum``; Tensors, arrays or numbers,
    broadcast; ties split the gradient evenly)."""
    return Minimum.apply(a, b)


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
