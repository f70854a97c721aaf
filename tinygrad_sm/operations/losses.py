"""The other losses of ``torch.nn.functional``: nll_loss, mse_loss and
binary_cross_entropy_with_logits, one op each.

Each reduces elementwise losses ℓ the same way: "none" keeps them, "sum" adds them, "mean"
divides the sum by the number of elements (by the total weight of the targets that are not
ignored, for nll_loss), so the backward scales each element's gradient by g, g or g / count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import reduction_name
from ..function import Op, register_op
from ..grad_mode import grad_mode
from ..tensor import Tensor
from .cross_entropy import loss_shape, warn_at_user_line
from .rule_helpers import array_of, exp, log, scatter_add, where


@register_op("nll_loss")
class NLLLoss(Op):
    """Negative log-likelihood of log-probabilities x (N, C), (C,) or (N, C, d1, …, dK) (classes on
    axis 1) at class indices y (N,), () or (N, d1, …, dK), as ``torch.nn.functional.nll_loss``:

        ℓᵢ = −w[yᵢ]·x[i, yᵢ]   (0 where yᵢ = ignore_index)

    "mean" divides Σᵢ ℓᵢ by Σᵢ w[yᵢ] over the targets not ignored (0/0 = nan, as PyTorch)."""

    rule = "−w[y]·g at the target entries (/ Σ w[y] for the mean), 0 elsewhere"

    @staticmethod
    def forward(ctx, input, target, weight=None, ignore_index=-100, reduction="mean"):
        _no_grad_for("nll_loss", ctx, {2: "weight"})
        reduction = reduction_name("nll_loss", reduction)
        x = np.asarray(input)
        if x.ndim == 0:
            raise ValueError(
                "nll_loss: input must have shape (N, C), (C,) or (N, C, d1, ..., dK), got ()"
            )
        if x.dtype.kind != "f":
            raise TypeError(f"nll_loss: input must be floating point, got {x.dtype}")
        classes = x.shape[1] if x.ndim > 1 else x.shape[0]
        y = _class_indices(target, x.shape, ignore_index, classes)
        kept = y != ignore_index
        all_kept = bool(kept.all())
        safe = y if all_kept else np.where(kept, y, 0)  # (an ignored position reads class 0)
        index = _target_entries(safe, x.ndim)
        if weight is None:
            target_weight = kept.astype(x.dtype)
        else:
            weight = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
            if weight.shape != (classes,):
                raise ValueError(
                    f"nll_loss: weight must have shape ({classes},) (one per class), "
                    f"got {weight.shape}"
                )
            target_weight = np.where(kept, weight.astype(x.dtype)[safe], 0).astype(x.dtype)
        losses = -target_weight * x[index]
        if not all_kept:  # (selected: an ignored position's x may be infinite)
            losses = np.where(kept, losses, 0).astype(x.dtype, copy=False)
        ctx.index, ctx.shape, ctx.reduction = index, x.shape, reduction
        ctx.kept = None if all_kept else kept
        ctx.target_weight, ctx.denominator = target_weight, target_weight.sum()
        return _reduce(losses, reduction, ctx.denominator)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return (None,)
        scale = _scale(grad, ctx.reduction, ctx.denominator)
        values = -ctx.target_weight * scale
        if ctx.kept is not None:  # selected: an ignored entry gets 0 whatever arrives (∞ too)
            values = where(ctx.kept, values, 0)
        if isinstance(values, Tensor):
            return (scatter_add(values, ctx.index, ctx.shape),)
        grad_input = np.zeros(ctx.shape, values.dtype)
        grad_input[ctx.index] = values  # (one entry per position: no index repeats)
        return (grad_input,)


@register_op("mse_loss")
class MSELoss(Op):
    """Mean squared error, as ``torch.nn.functional.mse_loss``: ℓ = (x − t)² elementwise, x and t
    broadcast together (a UserWarning when their shapes differ, as PyTorch), then reduced."""

    rule = "2·(x − t)·g (/ the count for the mean) to x, the negative to t"

    @staticmethod
    def forward(ctx, input, target, reduction="mean"):
        reduction = reduction_name("mse_loss", reduction)
        x_shape, t_shape = np.shape(input), np.shape(target)
        if x_shape != t_shape:
            _check_broadcast("mse_loss", x_shape, t_shape)
            warn_at_user_line(
                f"mse_loss: using a target shape {t_shape} that is different from the input "
                f"shape {x_shape}; they broadcast together, which is likely not what you meant "
                "(as PyTorch warns)",
                UserWarning,
            )
        difference = np.subtract(input, target)
        losses = np.square(difference)
        ctx.reduction, ctx.count = reduction, losses.size
        ctx.save_for_backward(input, target, difference)
        return _reduce(losses, reduction, losses.size)

    @staticmethod
    def backward(ctx, grad):
        x, t, difference = ctx.saved_tensors
        if ctx.create_graph:  # x − t recorded, so that the second derivative reaches x and t
            difference = x - t
        grad_difference = 2 * difference * _scale(grad, ctx.reduction, ctx.count)
        return (
            grad_difference if ctx.needs_input_grad[0] else None,
            -grad_difference if ctx.needs_input_grad[1] else None,
        )


@register_op("binary_cross_entropy_with_logits")
class BinaryCrossEntropyWithLogits(Op):
    """Binary cross-entropy of logits x against targets t (x's shape), as
    ``torch.nn.functional.binary_cross_entropy_with_logits``, with weight w and positive-class
    weight p (each broadcast to x's shape; p along the last axis, one per class):

        ℓ = w·((1 − t)·x − (1 + (p − 1)·t)·log σ(x)),   −log σ(x) = log1p(e^(−|x|)) + max(−x, 0)

    (the log-sum-exp form: finite for any finite x). ∂ℓ/∂x = w·((1 + (p − 1)·t)·σ(x) − p·t)
    (= w·(σ(x) − t) without p), ∂ℓ/∂t = −w·(x + (p − 1)·log σ(x))."""

    rule = "w·((1 + (p − 1)t)·σ(x) − p·t)·g to x, −w·(x + (p − 1)·log σ(x))·g to t"

    @staticmethod
    def forward(ctx, input, target, weight=None, reduction="mean", pos_weight=None):
        name = "binary_cross_entropy_with_logits"
        _no_grad_for(name, ctx, {2: "weight", 4: "pos_weight"})
        reduction = reduction_name(name, reduction)
        x, t = np.asarray(input), np.asarray(target)
        if t.shape != x.shape:
            raise ValueError(
                f"{name}: target shape {t.shape} must be the same as input shape {x.shape}"
            )
        weight = _broadcast_weight(name, "weight", weight, x)
        pos_weight = _broadcast_weight(name, "pos_weight", pos_weight, x)
        log_sigmoid = _log_sigmoid(x)
        if pos_weight is None:
            losses = (1 - t) * x - log_sigmoid
        else:
            losses = (1 - t) * x - (1 + (pos_weight - 1) * t) * log_sigmoid
        if weight is not None:
            losses = losses * weight
        ctx.reduction, ctx.count = reduction, losses.size
        ctx.weight, ctx.pos_weight = weight, pos_weight
        ctx.save_for_backward(input, target, log_sigmoid)
        return _reduce(losses, reduction, losses.size)

    @staticmethod
    def backward(ctx, grad):
        x, t, log_sigmoid = ctx.saved_tensors
        scale = _scale(grad, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            scale = scale * ctx.weight
        pos_weight, grad_x, grad_t = ctx.pos_weight, None, None
        if ctx.needs_input_grad[0]:
            sigmoid = _sigmoid(x)
            if pos_weight is None:
                grad_x = (sigmoid - t) * scale
            else:
                grad_x = ((1 + (pos_weight - 1) * t) * sigmoid - pos_weight * t) * scale
        if ctx.needs_input_grad[1]:
            if ctx.create_graph:  # log σ(x) recorded from x
                log_sigmoid = _log_sigmoid(x)
            if pos_weight is None:
                grad_t = -x * scale
            else:
                grad_t = -(x + (pos_weight - 1) * log_sigmoid) * scale
        return grad_x, grad_t


# ----- shared pieces -----------------------------------------------------------------------------
def _reduce(losses: np.ndarray, reduction: str, denominator: Any) -> np.ndarray:
    """The elementwise losses kept ("none"), added ("sum"), or added and divided by
    ``denominator`` ("mean"; 0/0 = nan, as PyTorch)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    if not denominator:
        return np.array(np.nan, losses.dtype)
    return total / losses.dtype.type(denominator)


def _scale(grad: Any, reduction: str, denominator: Any) -> Any:
    """d(loss)/dℓ for every element: g for "none" and "sum", g / denominator for "mean"."""
    if reduction != "mean":
        return grad
    return grad * (1 / denominator if denominator else np.nan)


def _no_grad_for(name: str, ctx: Any, settings: dict[int, str]) -> None:
    """A clear error if an argument that is a setting (class weights) requires grad, as
    PyTorch."""
    for position, argument in settings.items():
        needs = ctx.needs_input_grad
        if len(needs) > position and needs[position] and grad_mode.enabled:
            raise RuntimeError(
                f"{name}: {argument} requires grad, but the loss is not differentiable with "
                f"respect to {argument} (as in PyTorch); pass {argument}.detach()"
            )


def _class_indices(target: Any, shape: tuple, ignore_index: int, classes: int) -> np.ndarray:
    """The integer targets, checked: shape (N,), () or (N, d1, …, dK), each in 0..C − 1 or
    ignore_index."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    expected = loss_shape(shape)
    if y.dtype.kind not in "iu":
        raise ValueError(
            f"nll_loss: target must be integer class indices of shape {expected}, "
            f"got dtype {y.dtype} and shape {y.shape}"
        )
    if y.shape != expected:
        raise ValueError(
            f"nll_loss: target must have shape {expected} for input of shape {shape}, got {y.shape}"
        )
    y = y.astype(np.int64, copy=False)
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = (y != ignore_index) & ((y < 0) | (y >= classes))
        if bad.any():
            raise IndexError(
                f"nll_loss: target {int(y[bad][0])} is out of range for {classes} classes "
                f"(expected 0..{classes - 1}, or ignore_index={ignore_index})"
            )
    return y


def _target_entries(y: np.ndarray, ndim: int) -> tuple:
    """The index of x[n, y[n, d…], d…] for every position: (C,) → (y,), (N, C) → (n, y), (N, C, d1,
    …, dK) → (n, y, d1, …, dK) with open ranges that broadcast against y."""
    if ndim == 1:
        return (y,)
    positions = [
        np.arange(side).reshape([side if axis == i else 1 for axis in range(y.ndim)])
        for i, side in enumerate(y.shape)
    ]
    return (positions[0], y, *positions[1:])


def _check_broadcast(name: str, x_shape: tuple, t_shape: tuple) -> None:
    try:
        np.broadcast_shapes(x_shape, t_shape)
    except ValueError:
        raise ValueError(
            f"{name}: target shape {t_shape} does not broadcast with input shape {x_shape}"
        ) from None


def _broadcast_weight(name: str, argument: str, weight: Any, x: np.ndarray) -> Any:
    """A weight (None, an array, a Tensor, a number) that broadcasts to x's shape, in x's dtype."""
    if weight is None:
        return None
    weight = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    try:
        fits = np.broadcast_shapes(weight.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name}: {argument} of shape {weight.shape} does not broadcast to the input's "
            f"shape {x.shape}"
        )
    return weight.astype(x.dtype, copy=False) if x.dtype.kind == "f" else weight


def _log_sigmoid(x: Any) -> Any:
    """log σ(x) = min(x, 0) − log(1 + e^(−|x|)), finite for every finite x (ndarray or Tensor)."""
    if isinstance(x, Tensor):
        negative = array_of(x) < 0
        return where(negative, x, 0) - log(1 + exp(where(negative, x, -x)))
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: Any) -> Any:
    """σ(x) (ndarray or Tensor); the registered sigmoid on Tensors, so it is recorded."""
    if isinstance(x, Tensor):
        return x.sigmoid()
    positive = x >= 0
    e = np.exp(-np.abs(x))  # σ(x) = 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) below, never overflowing
    return np.where(positive, 1, e) / (1 + e)
