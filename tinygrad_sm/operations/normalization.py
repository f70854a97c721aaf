"""Normalisation: layer_norm and batch_norm.

Both standardise x over some axes (n elements each) and then scale and shift it:

    μ = mean(x),  σ² = mean((x − μ)²)  (the biased variance),  x̂ = (x − μ)/√(σ² + ε),
    y = γ·x̂ + β.

layer_norm normalises each sample over its trailing ``normalized_shape`` axes; batch_norm in
training normalises each channel (axis 1) over the batch and every other axis. The gradient
through the statistics is the same three-term rule for both: with ĝ = g·γ,

    ∂x = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),    ∂γ = Σ g·x̂,    ∂β = Σ g,

the two means taken over the normalised axes, the two sums over the axes γ is broadcast along.
The first term is the direct path, the second comes through μ, the third through σ.
In evaluation mode batch_norm uses fixed running statistics instead: y is then affine in x and
∂x = g·γ/√(σ²_running + ε).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor


def _moments(x: Any, axes: tuple[int, ...]) -> tuple[Any, Any, Any]:
    """(μ, x − μ, σ²) over ``axes``, on an ndarray or a Tensor (then every step is recorded, which
    is how a ``create_graph`` backward makes them functions of x)."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    return mean, centered, (centered * centered).mean(axis=axes, keepdims=True)


def _normalize(x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any]:
    """(x̂, 1/σ) over ``axes``, on an ndarray or a Tensor: x̂ = (x − μ)/σ, σ = √(σ² + ε)."""
    _, centered, variance = _moments(x, axes)
    inv_std = (variance + eps) ** -0.5
    return centered * inv_std, inv_std


def _normalization_grad(grad_xhat: Any, xhat: Any, inv_std: Any, axes: tuple[int, ...]) -> Any:
    """∂x from ĝ = ∂L/∂x̂: (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), the means over ``axes``."""
    mean_grad = grad_xhat.mean(axis=axes, keepdims=True)
    mean_grad_xhat = (grad_xhat * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (grad_xhat - mean_grad - xhat * mean_grad_xhat)


def _float_input(x: np.ndarray, op: str) -> None:
    if np.asarray(x).dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point input, got dtype {np.asarray(x).dtype} "
            "(convert it with .astype(np.float32))"
        )


def _check_parameter(value: Any, name: str, shape: tuple[int, ...], op: str) -> None:
    if value is not None and np.shape(value) != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {np.shape(value)}")


def _normalized_shape(normalized_shape: Any, x_shape: tuple[int, ...]) -> tuple[int, ...]:
    """``normalized_shape`` (an int or a tuple of ints) as a tuple, checked against x's trailing
    axes."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        shape = (int(normalized_shape),)
    elif isinstance(normalized_shape, tuple | list) and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in normalized_shape
    ):
        shape = tuple(int(n) for n in normalized_shape)
    else:
        raise TypeError(
            f"layer_norm: normalized_shape must be an int or a tuple of ints, "
            f"got {normalized_shape!r}"
        )
    if not shape:
        raise ValueError("layer_norm: normalized_shape must have at least one axis, got ()")
    if x_shape[len(x_shape) - len(shape) :] != shape or len(shape) > len(x_shape):
        expected = ", ".join(str(n) for n in shape)
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the input's trailing axes: "
            f"expected input of shape (..., {expected}), got {x_shape}"
        )
    return shape


@register_op("layer_norm", method=False)
class LayerNorm(Op):
    """y = γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε) with μ, σ² the mean and biased variance of each sample
    over its trailing ``normalized_shape`` axes (``torch.nn.functional.layer_norm``)."""

    rule = "∂x = (1/σ)(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), ĝ = g·γ;  ∂γ = Σ g·x̂,  ∂β = Σ g"

    @staticmethod
    def check(ctx, x, normalized_shape, weight=None, bias=None, eps=1e-5):
        _float_input(x, "layer_norm")
        shape = _normalized_shape(normalized_shape, np.shape(x))
        _check_parameter(weight, "weight", shape, "layer_norm")
        _check_parameter(bias, "bias", shape, "layer_norm")
        ctx.axes = tuple(range(x.ndim - len(shape), x.ndim))  # the normalised axes
        ctx.leading_axes = tuple(range(x.ndim - len(shape)))  # the axes γ and β are broadcast along
        ctx.eps = eps

    @staticmethod
    def forward(ctx, x, normalized_shape, weight=None, bias=None, eps=1e-5):
        xhat, inv_std = _normalize(x, ctx.axes, eps)
        ctx.save_for_backward(x, weight, xhat, inv_std)
        out = xhat if weight is None else xhat * weight
        return out if bias is None else out + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight, xhat, inv_std = ctx.saved_tensors
        if ctx.create_graph:  # x̂ and 1/σ must be recorded functions of x
            xhat, inv_std = _normalize(x, ctx.axes, ctx.eps)
        needs = ctx.needs_input_grad
        grad_x = grad_weight = grad_bias = None
        if needs[0]:
            grad_xhat = grad if weight is None else grad * weight
            grad_x = _normalization_grad(grad_xhat, xhat, inv_std, ctx.axes)
        if len(needs) > 2 and needs[2]:
            grad_weight = (grad * xhat).sum(axis=ctx.leading_axes)
        if len(needs) > 3 and needs[3]:
            grad_bias = grad.sum(axis=ctx.leading_axes)
        return grad_x, None, grad_weight, grad_bias


def layer_norm(
    input: Tensor,
    normalized_shape: int | tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes
    (``torch.nn.functional.layer_norm``; see :class:`LayerNorm` for the math)."""
    return LayerNorm.apply(input, normalized_shape, weight, bias, eps)


# ----- batch normalisation ----------------------------------------------------------------------
def _running_buffer(value: Any, name: str, channels: int) -> np.ndarray | None:
    """A running statistic as the ndarray to update in place (a Tensor's own .data), checked."""
    if value is None:
        return None
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"batch_norm: {name} must be a Tensor, an ndarray or None, got {type(value).__name__}"
        )
    if value.shape != (channels,):
        raise ValueError(
            f"batch_norm: {name} has {value.size} elements (shape {value.shape}) but the input has "
            f"{channels} channels (expected shape ({channels},))"
        )
    if value.dtype.kind != "f":
        raise TypeError(f"batch_norm: {name} must be floating point, got dtype {value.dtype}")
    return value


def _check_buffers(
    x: np.ndarray, running_mean: Any, running_var: Any, training: bool, momentum: Any
) -> None:
    """Every check batch_norm makes before it changes a running buffer."""
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            "batch_norm: running_mean and running_var must both be given or both be None"
        )
    if running_mean is None and not training:
        raise ValueError(
            "batch_norm: evaluation mode (training=False) needs running_mean and running_var"
        )
    channels = x.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        buffer = _running_buffer(value, name, channels)
        if buffer is not None and training and not buffer.flags.writeable:
            raise ValueError(f"batch_norm: {name} is read-only, so it cannot be updated in place")
    if momentum is None or isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(
            f"batch_norm: momentum must be a float, got {momentum!r} (as torch.nn.functional."
            "batch_norm: the functional form keeps no batch count; for a cumulative average pass "
            "momentum=1/num_batches_tracked, which is what BatchNorm(momentum=None) does)"
        )
    # (one value per channel is refused, none is not: an empty batch is fine, as in PyTorch)
    if training and math.prod((x.shape[0], *x.shape[2:])) == 1:
        raise ValueError(
            "batch_norm: expected more than 1 value per channel when training, "
            f"got input of shape {x.shape}"
        )


@register_op("batch_norm", method=False)
class BatchNorm(Op):
    """y = γ·x̂ + β per channel (axis 1 of (N, C) or (N, C, *)), ``torch.nn.functional.batch_norm``.

    Training: x̂ = (x − μ)/√(σ² + ε) with the batch's mean and biased variance over every axis but
    the channels; the running buffers are updated in place, r ← (1 − m)·r + m·s, with the unbiased
    variance σ²·n/(n − 1) for running_var. Evaluation: x̂ = (x − running_mean)/√(running_var + ε).

    As in PyTorch, y is computed as x·α + (β − μ·α) with α = γ/σ per channel, and γ, constant over
    the normalised axes, comes out of the three-term rule: ∂x = (γ/σ)·(g − mean g − x̂·mean(g·x̂)).
    (The same numbers; in this order even infinite weights give what PyTorch gives.)
    """

    rule = (
        "training: ∂x = (γ/σ)(g − mean g − x̂·mean(g·x̂));  eval: ∂x = g·γ/σ;  ∂γ = Σ g·x̂,  ∂β = Σ g"
    )

    @staticmethod
    def check(
        ctx,
        x,
        running_mean,
        running_var,
        weight=None,
        bias=None,
        training=False,
        momentum=0.1,
        eps=1e-5,
    ):
        _float_input(x, "batch_norm")
        if np.ndim(x) < 2:
            raise ValueError(
                f"batch_norm: expected input of shape (N, C) or (N, C, *), got {np.shape(x)}"
            )
        if any(ctx.needs_input_grad[1:3]):
            raise TypeError(
                "batch_norm: running_mean and running_var are buffers, not differentiable inputs; "
                "pass tensors that do not require grad"
            )
        _check_buffers(x, running_mean, running_var, training, momentum)
        channels = x.shape[1]
        _check_parameter(weight, "weight", (channels,), "batch_norm")
        _check_parameter(bias, "bias", (channels,), "batch_norm")
        ctx.axes = (0, *range(2, x.ndim))  # every axis but the channels
        ctx.channel_shape = (1, channels) + (1,) * (x.ndim - 2)  # γ, β and the statistics
        # an empty batch has no statistics: its (empty) output is x·1 + 0 and the buffers stay, as
        # in PyTorch
        ctx.training, ctx.eps = bool(training) and x.size > 0, eps
        ctx.count = x.size // channels  # (the values per channel)

    @staticmethod
    def forward(
        ctx,
        x,
        running_mean,
        running_var,
        weight=None,
        bias=None,
        training=False,
        momentum=0.1,
        eps=1e-5,
    ):
        if training and not ctx.training:
            mean = np.zeros(ctx.channel_shape, x.dtype)
            inv_std = np.ones(ctx.channel_shape, x.dtype)
        elif training:
            mean, _, variance = _moments(x, ctx.axes)
            inv_std = (variance + eps) ** -0.5
            if running_mean is not None:
                n = ctx.count
                running_mean *= 1 - momentum
                running_mean += momentum * mean.reshape(-1)
                running_var *= 1 - momentum
                running_var += momentum * n / (n - 1) * variance.reshape(-1)
        else:
            # (copies: a later training step changes the buffers in place)
            mean = np.array(running_mean, dtype=x.dtype).reshape(ctx.channel_shape)
            variance = np.array(running_var, dtype=x.dtype).reshape(ctx.channel_shape)
            inv_std = (variance + eps) ** -0.5
        ctx.save_for_backward(x, weight, mean, inv_std)
        scale = inv_std if weight is None else weight.reshape(ctx.channel_shape) * inv_std  # α
        shift = -mean * scale if bias is None else bias.reshape(ctx.channel_shape) - mean * scale
        return x * scale + shift

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, inv_std = ctx.saved_tensors
        if ctx.create_graph and ctx.training:  # μ and 1/σ must be recorded functions of x
            mean, _, variance = _moments(x, ctx.axes)
            inv_std = (variance + ctx.eps) ** -0.5
        needs = ctx.needs_input_grad
        needs_weight = len(needs) > 3 and needs[3]
        xhat = (x - mean) * inv_std if (needs[0] and ctx.training) or needs_weight else None
        gamma = None if weight is None else weight.reshape(ctx.channel_shape)
        grad_x = grad_weight = grad_bias = None
        if needs[0]:
            if ctx.training:
                grad_x = _normalization_grad(grad, xhat, inv_std, ctx.axes)
            else:
                grad_x = grad * inv_std
            if gamma is not None:
                grad_x = grad_x * gamma
        if needs_weight:
            grad_weight = (grad * xhat).sum(axis=ctx.axes)
        if len(needs) > 4 and needs[4]:
            grad_bias = grad.sum(axis=ctx.axes)
        return grad_x, None, None, grad_weight, grad_bias


def batch_norm(
    input: Tensor,
    running_mean: Tensor | np.ndarray | None,
    running_var: Tensor | np.ndarray | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over every axis but the channels (axis 1)
    (``torch.nn.functional.batch_norm``; see :class:`BatchNorm` for the math). In training the
    running buffers (Tensors, whose .data is changed, or ndarrays, or None) are updated in place.
    ``momentum=None`` is a TypeError, as in PyTorch's function, which keeps no batch count: the
    cumulative average of ``BatchNorm(momentum=None)`` is ``momentum=1/num_batches_tracked``."""
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training, momentum, eps)
