"""The softmax family and cross-entropy.

softmax(z)ᵢ = e^{zᵢ} / Σⱼ e^{zⱼ}.  Adding a constant to every zᵢ changes
nothing, so every forward here first subtracts the row maximum: the largest
exponent is then e⁰ = 1 and nothing overflows, whatever the logits.

The Jacobian of p = softmax(z) is ∂pᵢ/∂zⱼ = pᵢ(δᵢⱼ − pⱼ), i.e.
J = diag(p) − p pᵀ. A backward never builds J (C² numbers per row); it needs
only the vector–Jacobian product gᵀJ = p ⊙ (g − ⟨g, p⟩), which costs O(C).
"""

from __future__ import annotations

import functools

import numpy as np

from ..function import Op, register_op
from ..grad_mode import grad_mode
from ..shapes import keepdims_shape, normalize_axis
from ..tensor import Tensor
from .rule_helpers import exp, shift_by_max, where


def _float_axes(z: np.ndarray, axis, op: str) -> tuple[int, ...]:
    """The normalised axes of a softmax-family op, whose input must be floating point (as in PyTorch)."""
    if z.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {z.dtype} (convert it with .astype(np.float32))")
    return normalize_axis(axis, z.ndim, op, z.shape)


@register_op("softmax")
class Softmax(Op):
    """p = softmax(z) along ``axis``;  backward: p ⊙ (g − Σ g·p)  (= gᵀ(diag(p) − p pᵀ), never built)."""

    rule = "p ⊙ (g − Σ g·p)"

    @staticmethod
    def forward(ctx, z, axis=-1):
        ctx.axes = _float_axes(z, axis, "softmax")
        e = np.exp(shift_by_max(z, ctx.axes))
        p = e / e.sum(axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        return p * (grad - (grad * p).sum(axis=ctx.axes, keepdims=True))


@register_op("log_softmax")
class LogSoftmax(Op):
    """y = log softmax(z) = z − logsumexp(z);  backward: g − softmax(z) · Σ g  (softmax(z) = eʸ)."""

    rule = "g − softmax(z)·Σ g"

    @staticmethod
    def forward(ctx, z, axis=-1):
        ctx.axes = _float_axes(z, axis, "log_softmax")
        shifted = shift_by_max(z, ctx.axes)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=ctx.axes, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - exp(out) * grad.sum(axis=ctx.axes, keepdims=True)


@register_op("logsumexp")
class LogSumExp(Op):
    """y = log Σⱼ e^{zⱼ};  ∂y/∂zᵢ = e^{zᵢ − y} = softmax(z)ᵢ.

    An all −inf row gives −inf, and +inf entries give +inf, as in PyTorch.
    """

    rule = "g·softmax(z)"

    @staticmethod
    def forward(ctx, z, axis=-1, keepdims=False):
        axes = normalize_axis(axis, z.ndim, "logsumexp", z.shape)
        ctx.kept_shape = keepdims_shape(z.shape, axes)
        top = np.max(z, axis=axes, keepdims=True) if z.size else np.zeros(ctx.kept_shape, z.dtype)
        top = np.where(np.isfinite(top), top, 0).astype(z.dtype, copy=False)  # an ±inf max would give inf - inf
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(z - top), axis=axes, keepdims=True)) + top
        if not keepdims:
            out = out.reshape([n for i, n in enumerate(z.shape) if i not in axes])
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        z, out = ctx.saved_tensors
        return grad.reshape(ctx.kept_shape) * exp(z - out.reshape(ctx.kept_shape))


_REDUCTIONS = ("mean", "sum", "none")


@register_op("cross_entropy")
class CrossEntropy(Op):
    """Cross-entropy of logits z (N, C) against targets, fused: log-softmax + negative log-likelihood.

    Every option of ``torch.nn.functional.cross_entropy`` is folded into one
    *target distribution* q (N, C):

    * class index yᵢ:  qᵢ = (1 − ε)·w[yᵢ]·onehot(yᵢ) + (ε/C)·w   (a zero row if yᵢ = ignore_index)
    * probabilities tᵢ: qᵢ = w ⊙ ((1 − ε)·tᵢ + ε/C)

    with w the class weights (all 1 by default) and ε the label smoothing. Then

        lossᵢ = −Σ_c q_ic · log softmax(zᵢ)_c
        ∂lossᵢ/∂zᵢ = softmax(zᵢ) · Σ_c q_ic − qᵢ      (= p − onehot(y) in the plain case)

    and the reduction scales each row: "sum" by 1, "mean" by 1/Σᵢ w[yᵢ] over
    rows not ignored (1/N for probability targets), "none" keeps the rows.
    """

    rule = "(softmax(z) − q)·g/N   (q: the target distribution)"

    @staticmethod
    def forward(ctx, logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2] and grad_mode.enabled:
            raise RuntimeError(
                "cross_entropy: weight requires grad, but the loss is not differentiable with respect to the "
                "class weights (as in PyTorch); pass weight.detach()"
            )
        # probabilities given as nested lists: an array for backward
        given_target = np.asarray(target) if isinstance(target, (list, tuple)) else target
        z, target, weight = _check_cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing)
        n, classes = z.shape
        smoothing = float(label_smoothing)
        class_weight = _ones(classes, z.dtype) if weight is None else weight
        shifted = shift_by_max(z, (1,))
        ctx.soft_targets = target.dtype.kind == "f"
        ctx.smoothing, ctx.reduction, ctx.logits_shape = smoothing, reduction, np.shape(logits)
        ctx.class_weight = class_weight

        if ctx.soft_targets:
            exp_shifted = np.exp(shifted)
            sum_exp = np.sum(exp_shifted, axis=1, keepdims=True)
            log_probs = shifted - np.log(sum_exp)
            dist = class_weight * ((1 - smoothing) * target + smoothing / classes)
            losses = -np.sum(dist * log_probs, axis=1)
            denominator = n
            ctx.save_for_backward(logits, given_target, exp_shifted, sum_exp, log_probs)
        else:
            # q is sparse here: (1 − ε)·w[yᵢ] at (i, yᵢ), plus (ε/C)·w on every kept row
            rows = _row_indices(n)
            # (as unsigned numbers negative targets are huge, so one max checks both ends of the range)
            in_range = target.size == 0 or target.view(np.uint64).max() < classes
            if in_range and weight is None and not 0 <= ignore_index < classes:
                # the usual case: every row kept, every weight 1 (fewer NumPy calls: this runs every step)
                kept, all_kept, safe_target = _ones(n, np.dtype(bool)), True, target
                target_weight, denominator = _ones(n, z.dtype), n
            else:
                kept = target != ignore_index
                all_kept = bool(kept.all())
                if not in_range:
                    _check_class_range(target, kept, classes, ignore_index)
                safe_target = target if all_kept else np.where(kept, target, 0)
                if weight is None:
                    target_weight = kept.astype(z.dtype)
                else:
                    target_weight = np.where(kept, class_weight[safe_target], 0).astype(z.dtype)
                denominator = target_weight.sum()
            shifted_target = shifted[rows, safe_target]
            if smoothing > 0:
                shifted_weighted = shifted @ class_weight
            exp_shifted = np.exp(shifted, out=shifted)  # shifted is not needed any more: reuse its buffer
            sum_exp = exp_shifted.sum(axis=1, keepdims=True)
            log_sum_exp = np.log(sum_exp[:, 0])
            losses = log_sum_exp - shifted_target  # −log p[i, yᵢ]
            if weight is not None or not all_kept:
                losses *= target_weight  # −w[yᵢ]·log p[i, yᵢ]
            if not all_kept:
                losses = np.where(kept, losses, 0)  # an ignored row's log p may be nan or inf: it still adds 0
            if smoothing > 0:
                with np.errstate(invalid="ignore"):
                    smooth = log_sum_exp * class_weight.sum() - shifted_weighted  # −Σ_c w_c log p_ic
                losses = (1 - smoothing) * losses + np.where(kept, smoothing / classes * smooth, 0)
            ctx.rows, ctx.kept, ctx.all_kept, ctx.target = rows, kept, all_kept, safe_target
            ctx.target_mass = (1 - smoothing) * target_weight if smoothing else target_weight  # q at (i, yᵢ), before smoothing
            ctx.save_for_backward(logits, exp_shifted, sum_exp)

        losses = losses.astype(z.dtype, copy=False)
        if denominator:
            ctx.inverse_denominator = 1.0 / denominator
        elif ctx.soft_targets or not kept.any():
            ctx.inverse_denominator = 0.0  # every row ignored: the "mean" loss is nan, the gradient zero (PyTorch)
        else:
            # rows kept but with weights summing to 0: "mean" divides by 0, so (as in PyTorch) the
            # gradient is nan on those rows and 0 on ignored ones
            ctx.inverse_denominator = np.where(kept, np.nan, 0.0).astype(z.dtype)[:, None]
        if reduction == "none":
            return losses if np.ndim(logits) == 2 else losses.reshape(())
        total = losses.sum()
        if reduction == "sum":
            return total
        if denominator:
            return total / z.dtype.type(denominator)
        # a mean over no weight is 0/0, whatever the smoothing term adds (PyTorch divides each term: nan)
        return np.array(np.nan, dtype=z.dtype)

    @staticmethod
    def backward(ctx, grad):
        classes = ctx.logits_shape[-1]
        if ctx.soft_targets:
            logits, target, exp_shifted, sum_exp, log_probs = ctx.saved_tensors
            target = target.reshape(-1, classes)
        else:
            logits, exp_shifted, sum_exp = ctx.saved_tensors
        # the per-row factor d(loss)/d(lossᵢ), shaped (N, 1)
        if ctx.reduction == "none":
            scale = grad.reshape(-1, 1)
        elif ctx.reduction == "sum":
            scale = grad.reshape(1, 1)
        else:
            scale = grad.reshape(1, 1) * ctx.inverse_denominator
        if not ctx.soft_targets and not ctx.all_kept:  # an ignored row gets exactly 0, even from g = ∞ or nan
            scale = where(ctx.kept[:, None], scale, 0)

        grad_target = None
        if ctx.soft_targets and ctx.needs_input_grad[1]:
            log_probs = logits.reshape(-1, classes).log_softmax(axis=1) if ctx.create_graph else log_probs
            grad_target = (-(1 - ctx.smoothing) * ctx.class_weight * log_probs * scale).reshape(ctx.logits_shape)
        if not ctx.needs_input_grad[0]:
            return None, grad_target

        if ctx.create_graph:
            # the probabilities must be a recorded function of the logits: use the softmax op
            probs = logits.reshape(-1, classes).softmax(axis=1)
            dist = _target_distribution(ctx, target if ctx.soft_targets else None)
            grad_logits = (probs * dist.sum(axis=1, keepdims=True) - dist) * scale
            return grad_logits.reshape(ctx.logits_shape), grad_target

        # The same formula, (p · Σ_c q_c − q) · scale, on one (N, C) buffer; the first term,
        # e/Σe · Σ_c q_c · scale, is one pass over (N, C) with the per-row factors combined first.
        if ctx.soft_targets:
            dist = _target_distribution(ctx, target)
            grad_logits = exp_shifted * (dist.sum(axis=1, keepdims=True) * scale / sum_exp)
            grad_logits -= dist * scale
        else:
            row_scale = scale.reshape(-1)  # (N,) or (1,)
            row_mass = ctx.target_mass
            if ctx.smoothing > 0:
                row_mass = row_mass + ctx.kept * (ctx.smoothing / classes * ctx.class_weight.sum())
            grad_logits = exp_shifted * ((row_mass * row_scale)[:, None] / sum_exp)
            grad_logits[ctx.rows, ctx.target] -= ctx.target_mass * row_scale
            if ctx.smoothing > 0:
                grad_logits -= np.outer(ctx.kept * row_scale, ctx.smoothing / classes * ctx.class_weight)
        if grad_logits.shape != ctx.logits_shape:  # (a reshape to the same shape would be a view: the engine would copy it)
            grad_logits = grad_logits.reshape(ctx.logits_shape)
        return grad_logits, grad_target


def _target_distribution(ctx, target):
    """The dense (N, C) target distribution q of the class docstring."""
    classes = ctx.logits_shape[-1]
    if ctx.soft_targets:
        return ctx.class_weight * ((1 - ctx.smoothing) * target + ctx.smoothing / classes)
    dist = np.zeros((len(ctx.rows), classes), dtype=ctx.class_weight.dtype)
    dist[ctx.rows, ctx.target] = ctx.target_mass
    dist += np.outer(ctx.kept, ctx.smoothing / classes * ctx.class_weight).astype(dist.dtype)
    return dist


def _check_cross_entropy(logits, target, weight, ignore_index, reduction, label_smoothing):
    """Validate the arguments; return logits as (N, C), targets as (N,) or (N, C), weight as (C,) or None."""
    logits = np.asarray(logits)
    shape = logits.shape
    if len(shape) not in (1, 2):
        raise ValueError(f"cross_entropy: logits must have shape (N, C) or (C,), got {shape}")
    if logits.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, got {logits.dtype}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, int | float | np.floating | np.integer) \
            or not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    classes = shape[-1]
    z = logits if len(shape) == 2 else logits.reshape(1, classes)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target.dtype.kind == "f" and target.shape == shape:
        if ignore_index >= 0:  # (PyTorch's rule: the default -100, or any negative index, is fine)
            raise ValueError(
                f"cross_entropy: ignore_index is not supported for probability targets, got ignore_index={ignore_index}"
            )
        target = target.reshape(z.shape).astype(z.dtype, copy=False)
    elif target.dtype.kind in "iu":
        expected = (shape[0],) if len(shape) == 2 else ()
        if target.shape != expected:
            raise ValueError(
                f"cross_entropy: class-index target must have shape {expected} for logits of shape {shape}, "
                f"got {target.shape}"
            )
        target = target.reshape(-1).astype(np.int64, copy=False)
    else:
        raise ValueError(
            f"cross_entropy: target must be integer class indices of shape {(shape[0],) if len(shape) == 2 else ()} "
            f"or float class probabilities of shape {shape}; got dtype {target.dtype} and shape {target.shape}"
        )
    if weight is not None:
        weight = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
        if weight.shape != (classes,):
            raise ValueError(f"cross_entropy: weight must have shape ({classes},) (one per class), got {weight.shape}")
        weight = weight.astype(z.dtype)
    return z, target, weight


@functools.lru_cache(maxsize=32)
def _ones(length: int, dtype: np.dtype) -> np.ndarray:
    """Ones (e.g. the default class weights), cached and read-only."""
    ones = np.ones(length, dtype)
    ones.flags.writeable = False
    return ones


@functools.lru_cache(maxsize=32)
def _row_indices(n: int) -> np.ndarray:
    """0, 1, ..., n − 1 (cached and read-only): with the targets, indexes each row's true class."""
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


def _check_class_range(target, kept, classes, ignore_index):
    """Raise if a kept row's class index is outside 0..classes − 1."""
    bad = kept & ((target < 0) | (target >= classes))
    if bad.any():
        value = int(target[bad][0])
        raise IndexError(
            f"cross_entropy: target {value} is out of range for {classes} classes "
            f"(expected 0..{classes - 1}, or ignore_index={ignore_index})"
        )
