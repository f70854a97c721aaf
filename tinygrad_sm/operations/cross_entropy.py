"""Cross-entropy of logits against targets: log-softmax and negative log-likelihood as one op.

The logits are rows (N, C), one row (C,), or (N, C, d1, …, dK) with the classes on axis 1 (as
PyTorch: one row per position, class-index targets (N, d1, …, dK)); the K-dim case moves the
class axis last and runs the row code on the N·d1·…·dK rows. Every option of
``torch.nn.functional.cross_entropy`` is folded into one *target distribution* q (rows, C), made
once in forward:

* class index yᵢ:   qᵢ = (1 − ε)·w[yᵢ]·onehot(yᵢ) + (ε/C)·w   (a zero row if yᵢ = ignore_index)
* probabilities tᵢ: qᵢ = w ⊙ ((1 − ε)·tᵢ + ε/C)

with w the class weights (all 1 by default) and ε the label smoothing. Then, with
p = softmax(z),

    lossᵢ = −Σ_c q_ic · log p_ic
    ∂lossᵢ/∂zᵢ = pᵢ · Σ_c q_ic − qᵢ          (= p − onehot(y) in the plain case)

for every kind of target; the reduction scales each row: "sum" by 1, "mean" by 1 / Σᵢ w[yᵢ]
over the rows not ignored (1 / the number of rows for probability targets), "none" by its own
upstream gradient.

Class targets never build the dense (N, C) q: ``ClassTargets`` keeps one number per row (the
mass at the true class) plus the smoothing term, which saves an (N, C) array and passes over
it. ``tests/operations/test_cross_entropy.py`` has the textbook version the op is checked
against (``reference_cross_entropy``).

Logits whose every row is already a probability distribution (softmax applied twice: the loss is
then nearly flat and training stalls) give a ``SoftmaxTwiceWarning``, once per line of user code.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import warnings
from typing import Any

import numpy as np

from .._checks import label_smoothing_value, reduction_name
from ..function import Op, register_op
from ..grad_mode import grad_mode
from ..tensor import Tensor
from .rule_helpers import where
from .softmax import exp_and_sums, row_max


class SoftmaxTwiceWarning(UserWarning):
    """cross_entropy was given logits whose rows are already probability distributions (every
    row non-negative and summing to 1): softmax applied twice. The loss is then nearly flat in
    the network's outputs and training silently stalls; pass the logits themselves.
    Silence it with ``warnings.simplefilter("ignore", tinygrad_sm.SoftmaxTwiceWarning)``."""


@register_op("cross_entropy")
class CrossEntropy(Op):
    """Cross-entropy of logits (N, C), (C,) or (N, C, d1, …, dK) against class indices or class
    probabilities, as ``torch.nn.functional.cross_entropy``; one fused op whose gradient is
    softmax(z)·Σq − q (see the module docstring for q and every option)."""

    rule = "(softmax(z)·Σq − q)·g/N   (q: the target distribution)"

    @staticmethod
    def check(
        ctx, input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
    ):
        ctx.reduction = reduction_name("cross_entropy", reduction)
        smoothing = label_smoothing_value("cross_entropy", label_smoothing)
        shape = ctx.logits_shape = _logits_shape(input)
        if _is_probabilities(target, shape):
            ctx.targets = ProbabilityTargets(shape, input.dtype, weight, smoothing, ignore_index)
        else:
            weight_needs_grad = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
            if weight_needs_grad and grad_mode.enabled:
                raise RuntimeError(
                    "cross_entropy: weight requires grad, but with class-index targets the loss "
                    "is not differentiable with respect to the class weights (as in PyTorch); "
                    "pass weight.detach()"
                )
            ctx.targets = ClassTargets(shape, input.dtype, weight, smoothing, ignore_index, target)

    @staticmethod
    def forward(
        ctx, input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
    ):
        targets, shape = ctx.targets, ctx.logits_shape
        z = input if len(shape) == 2 else as_rows(input, shape)
        targets.read(target, weight)  # (the class indices are checked here: they change)
        if z.size and 0.0 <= z.flat[0] <= 1.0:  # (one number decides for ordinary logits)
            _warn_if_probabilities(z)

        top = row_max(z)
        parts = targets.before_exp(z, top)  # what the loss needs of the shifted logits z − max
        exp_shifted, sum_exp = exp_and_sums(z, top)  # e^{z − max} and its row sums
        log_sum_exp = np.log(sum_exp[:, 0])
        losses = targets.losses(parts, log_sum_exp).astype(z.dtype, copy=False)

        ctx.save_for_backward(input, targets.given, exp_shifted, sum_exp, targets.given_weight)
        ctx.exps_taken = False  # (backward writes the gradient into exp_shifted)
        if ctx.reduction == "none":  # one loss per row: (N,), () for 1-D logits, (N, d1, …, dK)
            return losses if len(shape) == 2 else losses.reshape(loss_shape(shape))
        total = losses.sum()
        if ctx.reduction == "sum":
            return np.asarray(total)
        # a mean over no weight (every row ignored, or weights summing to 0) is 0/0: nan, as in
        # PyTorch
        if not targets.denominator:
            return np.array(np.nan, z.dtype)
        return np.asarray(total / z.dtype.type(targets.denominator))

    @staticmethod
    def backward(ctx, grad):
        logits, given_target, exp_shifted, sum_exp, given_weight = ctx.saved_tensors
        targets, shape, needs = ctx.targets, ctx.logits_shape, ctx.needs_input_grad
        scale = _row_scale(grad, ctx.reduction, targets)  # d(loss)/d(lossᵢ), shaped (rows, 1)
        grad_logits = grad_target = grad_weight = None
        if needs[0]:
            # Σ_c q_c · scale, (rows, 1)
            row_factor = targets.row_mass(given_target, given_weight) * scale
            if ctx.create_graph:  # p must be a recorded function of the logits: the softmax op
                grad_logits = as_rows(logits, shape).softmax(axis=1) * row_factor
            else:  # p · row_factor = e/Σe · row_factor, in one pass over (rows, C)
                factor = row_factor / sum_exp
                exps = _exps_to_overwrite(ctx, exp_shifted, logits)
                grad_logits = (
                    np.multiply(exps, factor, out=exps) if factor.dtype == exps.dtype
                    else exps * factor
                )
            # − q · scale
            grad_logits = targets.subtract_from(grad_logits, scale, given_target, given_weight)
            if len(shape) != 2:  # back from rows to (C,) or (N, C, d1, …, dK)
                grad_logits = from_rows(grad_logits, shape)
        weight_needs_grad = len(needs) > 2 and needs[2]
        if needs[1] or weight_needs_grad:  # (probability targets: q = w ⊙ r is linear in both)
            if ctx.create_graph:
                log_probs = as_rows(logits, shape).log_softmax(axis=1)
            else:
                log_probs = targets.log_probs
        if needs[1]:
            # probabilities that require grad: ∂lossᵢ/∂tᵢ = −(1 − ε)·w·log pᵢ
            weight = targets.recorded_weight(given_weight)
            grad_target = -(1 - targets.smoothing) * weight * log_probs * scale
            if len(shape) != 2:
                grad_target = from_rows(grad_target, shape)
        if weight_needs_grad:
            # class weights that require grad: ∂loss/∂w_c = −Σᵢ r_ic · log p_ic · scaleᵢ
            smoothed = targets.recorded_smoothed(given_target)
            grad_weight = -(smoothed * log_probs * scale).sum(axis=0)
        return grad_logits, grad_target, grad_weight


def _exps_to_overwrite(ctx: Any, exp_shifted: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """e^{z − max} for backward to turn into the gradient in place: forward's own array the first
    time (no new (rows, C) array: 2x faster on (1024, 1000)), made again for a later backward of
    the same graph (retain_graph=True), which finds the first one's gradient there."""
    if not ctx.exps_taken:
        ctx.exps_taken = True
        return exp_shifted
    z = logits if len(ctx.logits_shape) == 2 else as_rows(logits, ctx.logits_shape)
    return exp_and_sums(z, row_max(z))[0]


# ----- rows: the class axis last -----------------------------------------------------------------
def as_rows(x: Any, shape: tuple) -> Any:
    """An ndarray or Tensor of the logits' ``shape`` as rows (M, C): (C,) is one row, (N, C) is
    itself, (N, C, d1, …, dK) has its class axis moved last (M = N·d1·…·dK, in the order of the
    targets (N, d1, …, dK))."""
    if len(shape) > 2:
        x = x.transpose((0, *range(2, len(shape)), 1))
    return x.reshape(-1, shape[1] if len(shape) > 1 else shape[0])


def from_rows(rows: Any, shape: tuple) -> Any:
    """The inverse of ``as_rows``: rows (M, C) back to the logits' ``shape``."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = (shape[0], *shape[2:], shape[1])  # (N, d1, …, dK, C)
    return rows.reshape(moved).transpose((0, len(shape) - 1, *range(1, len(shape) - 1)))


def loss_shape(shape: tuple) -> tuple:
    """The shape of one loss per row: () for (C,), (N,) for (N, C), (N, d1, …, dK) for
    (N, C, d1, …, dK)."""
    return (shape[0], *shape[2:]) if len(shape) > 1 else ()


# ----- softmax applied twice ---------------------------------------------------------------------
#: how far from 1 a row of probabilities may sum (float16 softmax rows are within about 1e-3)
_SUM_TOLERANCE = 2e-3
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _warn_if_probabilities(z: np.ndarray) -> None:
    """Warn if every row of z (rows, C), C ≥ 2, is non-negative and sums to 1 (the first row
    decides for ordinary logits, without a pass over all of them: 250 µs on (1024, 1000))."""
    if z.shape[1] < 2 or not _are_distributions(z[:1]):
        return
    if _are_distributions(z):
        warn_at_user_line(
            "cross_entropy: every row of the logits is already a probability distribution "
            "(non-negative, summing to 1): was softmax applied before cross_entropy? "
            "cross_entropy applies log_softmax itself; pass the logits (the raw scores)",
            SoftmaxTwiceWarning,
        )


def _are_distributions(rows: np.ndarray) -> bool:
    """True if every row is non-negative and sums to 1 (within ``_SUM_TOLERANCE``)."""
    return bool(rows.min() >= 0.0 and np.abs(rows.sum(axis=1) - 1.0).max() <= _SUM_TOLERANCE)


def warn_at_user_line(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointing at the innermost line outside tinygrad_sm (the user's call, so
    Python's default filter shows it once per line of user code)."""
    frame, level = sys._getframe(1), 2  # (stacklevel 2 is the caller's line)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


_NO_CHANGE = contextlib.nullcontext()


# ----- the two kinds of target: one distribution q each, never built densely for class indices ---
class ClassTargets:
    """q for class indices: mass at (i, yᵢ) = (1 − ε)·w[yᵢ] on kept rows, plus (ε/C)·w on every
    kept row. Made by check (from the shapes and settings), filled in by ``read`` on every
    forward (from the indices and the weights)."""

    # (nothing to save for backward: neither the indices nor the weights are differentiable)
    given = given_weight = None

    def __init__(
        self,
        logits_shape: tuple,
        dtype: np.dtype,
        weight: Any,
        smoothing: float,
        ignore_index: int,
        target: Any,
    ):
        target = np.asarray(target)
        expected = loss_shape(logits_shape)
        if target.dtype.kind not in "iu":
            raise ValueError(
                f"cross_entropy: target must be integer class indices of shape {expected} "
                f"or float class probabilities of shape {logits_shape}; "
                f"got dtype {target.dtype} and shape {target.shape}"
            )
        if target.shape != expected:
            raise ValueError(
                f"cross_entropy: class-index target must have shape {expected} "
                f"for logits of shape {logits_shape}, got {target.shape}"
            )
        self.classes = logits_shape[1] if len(logits_shape) > 1 else logits_shape[0]
        _check_class_weights(weight, self.classes)
        self.count = math.prod(expected)  # (the rows)
        # where each row starts in the flat (rows · C) logits: row i's class yᵢ is element
        # starts[i] + yᵢ (a flat index is 3x faster than the pair (i, yᵢ))
        self.starts = _row_starts(self.count, self.classes)
        self.dtype, self.smoothing, self.ignore_index = dtype, smoothing, ignore_index
        # an ignore_index no class has cannot be confused with a class: then indices all in
        # 0..C − 1 mean that no row is ignored
        self.ignore_is_a_class = 0 <= ignore_index < self.classes

    def read(self, target: Any, weight: Any) -> None:
        """The indices (as rows, checked to be classes) and the weights of this forward."""
        target = np.asarray(target).reshape(self.count).astype(np.int64, copy=False)
        in_range = not target.size or (target.min() >= 0 and target.max() < self.classes)
        self.all_kept = in_range and not self.ignore_is_a_class
        if self.all_kept:
            self.kept, self.index = None, target
        else:
            self.kept = target != self.ignore_index
            self.all_kept = bool(self.kept.all())
            if not in_range:
                _check_class_range(target, self.kept, self.classes, self.ignore_index)
            # (ignored rows: any valid column)
            self.index = target if self.all_kept else np.where(self.kept, target, 0)
        self.flat = self.starts + self.index
        self.weight = None if weight is None else _as_weights(weight, self.dtype)
        if self.weight is not None:  # w[yᵢ] on kept rows, 0 on ignored ones
            target_weight = self.weight[self.index]
            if not self.all_kept:
                target_weight = np.where(self.kept, target_weight, 0).astype(self.dtype)
            self.denominator = target_weight.sum()
        elif self.all_kept:  # w[yᵢ] = 1 on every row: one number
            target_weight, self.denominator = 1.0, self.count
        else:
            target_weight = self.kept.astype(self.dtype)
            self.denominator = target_weight.sum()
        # q at (i, yᵢ), before smoothing
        self.mass = (1 - self.smoothing) * target_weight if self.smoothing else target_weight

    def weights(self) -> np.ndarray:
        """w, (C,) (all 1 if not given)."""
        return np.ones(self.classes, self.dtype) if self.weight is None else self.weight

    def before_exp(self, z: np.ndarray, top: np.ndarray) -> tuple:
        """−log pᵢ = lse_i − shifted[i, yᵢ] needs shifted[i, yᵢ] = z[i, yᵢ] − maxᵢ; the smoothing
        term needs Σ_c w_c·shifted_ic."""
        smooth = (z - top) @ self.weights() if self.smoothing else None
        return z.reshape(-1)[self.flat] - top[:, 0], smooth

    def losses(self, parts: tuple, log_sum_exp: np.ndarray) -> np.ndarray:
        """lossᵢ = −Σ_c q_ic log p_ic = mass_i·(lse_i − shifted[i, yᵢ])
        + (ε/C)·(lse_i·Σw − Σ_c w_c·shifted_ic)."""
        shifted_target, smooth = parts
        # (an ignored row's log p may be inf or nan: it adds 0 below, without a warning)
        with np.errstate(invalid="ignore") if not self.all_kept else _NO_CHANGE:
            losses = log_sum_exp - shifted_target
            if type(self.mass) is not float or self.mass != 1.0:  # (1: the plain case)
                losses *= self.mass
            if self.smoothing:
                losses = losses + self.smoothing / self.classes * (
                    log_sum_exp * self.weights().sum() - smooth
                )
        return losses if self.all_kept else np.where(self.kept, losses, 0)

    def row_mass(self, given_target: Any = None, given_weight: Any = None) -> Any:
        """Σ_c q_ic, shaped (N, 1) (or one number for every row)."""
        if not self.smoothing:
            return self.mass[:, None] if isinstance(self.mass, np.ndarray) else self.mass
        spread = self.smoothing / self.classes * self.weights().sum()
        mass = self.mass + (spread if self.all_kept else self.kept * spread)
        return mass[:, None] if isinstance(mass, np.ndarray) else mass

    def subtract_from(
        self, grad_logits: Any, scale: Any, given_target: Any, given_weight: Any = None
    ) -> Any:
        """grad_logits − q·scale: a scatter at (i, yᵢ), and the smoothing term on every kept row."""
        # (create_graph: q is a constant, so subtract it as a Tensor op)
        if isinstance(grad_logits, Tensor):
            return grad_logits - self.dense() * scale
        if not grad_logits.flags.c_contiguous:  # (then reshape(-1) below is a view)
            grad_logits = np.ascontiguousarray(grad_logits)
        grad_logits.reshape(-1)[self.flat] -= self.mass * scale[:, 0]
        if self.smoothing:
            kept_scale = scale if self.all_kept else self.kept[:, None] * scale
            grad_logits -= kept_scale * (self.smoothing / self.classes * self.weights())
        return grad_logits

    def dense(self) -> np.ndarray:
        """q as an (N, C) array (for create_graph, where the rule's arithmetic is recorded)."""
        q = np.zeros((self.count, self.classes), dtype=self.dtype)
        q.reshape(-1)[self.flat] = self.mass
        if self.smoothing:
            kept = 1.0 if self.all_kept else self.kept[:, None]
            q += kept * (self.smoothing / self.classes * self.weights())
        return q


class ProbabilityTargets:
    """q for class probabilities t (the logits' shape):
    qᵢ = w ⊙ rᵢ with rᵢ = (1 − ε)·tᵢ + ε/C, on every row (differentiable in t and in w, as
    PyTorch). Made by check, filled in by ``read`` on every forward."""

    all_kept = True

    def __init__(
        self, logits_shape: tuple, dtype: np.dtype, weight: Any, smoothing: float, ignore_index: int
    ):
        if ignore_index >= 0:  # (PyTorch's rule: the default -100, or any negative index, is fine)
            raise ValueError(
                "cross_entropy: ignore_index is not supported for probability targets, "
                f"got ignore_index={ignore_index}"
            )
        self.classes = logits_shape[1] if len(logits_shape) > 1 else logits_shape[0]
        _check_class_weights(weight, self.classes)
        self.dtype, self.smoothing, self.logits_shape = dtype, smoothing, logits_shape
        self.denominator = math.prod(loss_shape(logits_shape))  # (the rows)

    def read(self, target: Any, weight: Any) -> None:
        """The probabilities (as rows) and the weights of this forward."""
        # (saved: they may require grad)
        self.given = np.asarray(target) if isinstance(target, list | tuple) else target
        self.given_weight = weight if isinstance(weight, np.ndarray) else None
        self.weight = (
            np.ones(self.classes, self.dtype) if weight is None else _as_weights(weight, self.dtype)
        )
        rows = as_rows(np.asarray(target), self.logits_shape).astype(self.dtype, copy=False)
        self.smoothed = self.smooth(rows)
        self.q = self.weight * self.smoothed

    def smooth(self, target: Any) -> Any:
        """r = (1 − ε)·t + ε/C."""
        return (1 - self.smoothing) * target + self.smoothing / self.classes

    def before_exp(self, z: np.ndarray, top: np.ndarray) -> np.ndarray:
        return z - top  # (the loss needs every shifted logit)

    def losses(self, shifted: np.ndarray, log_sum_exp: np.ndarray) -> np.ndarray:
        """lossᵢ = −Σ_c q_ic · log p_ic = −Σ_c q_ic·(shifted_ic − lse_i)."""
        self.log_probs = shifted - log_sum_exp[:, None]  # (kept for the target's gradient)
        return -np.sum(self.q * self.log_probs, axis=1)

    def row_mass(self, given_target: Any = None, given_weight: Any = None) -> Any:
        return self.recorded_q(given_target, given_weight).sum(axis=1, keepdims=True)

    def subtract_from(
        self, grad_logits: Any, scale: Any, given_target: Any, given_weight: Any = None
    ) -> Any:
        if isinstance(grad_logits, Tensor):
            return grad_logits - self.recorded_q(given_target, given_weight) * scale
        grad_logits -= self.q * scale
        return grad_logits

    # under create_graph the saved target and weight are Tensors: q, r and w are then recorded
    # from them, so that the gradient is differentiable in them too
    def recorded_q(self, given_target: Any, given_weight: Any = None) -> Any:
        """q = w ⊙ r."""
        if isinstance(given_target, Tensor) or isinstance(given_weight, Tensor):
            return self.recorded_weight(given_weight) * self.recorded_smoothed(given_target)
        return self.q

    def recorded_smoothed(self, given_target: Any) -> Any:
        """r = (1 − ε)·t + ε/C, as rows."""
        if isinstance(given_target, Tensor):
            return self.smooth(as_rows(given_target, self.logits_shape))
        return self.smoothed

    def recorded_weight(self, given_weight: Any) -> Any:
        """w, (C,)."""
        return given_weight if isinstance(given_weight, Tensor) else self.weight


# ----- arguments ---------------------------------------------------------------------------------
def _logits_shape(logits: np.ndarray) -> tuple:
    """The logits' shape, checked: (N, C), (C,) or (N, C, d1, …, dK), floating point."""
    if logits.ndim == 0:
        raise ValueError(
            "cross_entropy: input must have shape (N, C), (C,) or (N, C, d1, ..., dK), got ()"
        )
    if logits.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, got {logits.dtype}")
    return logits.shape


@functools.lru_cache(maxsize=32)
def _row_starts(rows: int, classes: int) -> np.ndarray:
    """0, C, 2C, ...: where each of ``rows`` rows of C classes starts in the flat logits (kept
    from call to call: read-only)."""
    starts = np.arange(rows) * classes
    starts.flags.writeable = False
    return starts


def _check_class_weights(weight: Any, classes: int) -> None:
    if weight is not None and np.shape(weight) != (classes,):
        raise ValueError(
            f"cross_entropy: weight must have shape ({classes},) (one per class), "
            f"got {np.shape(weight)}"
        )


def _as_weights(weight: Any, dtype: np.dtype) -> np.ndarray:
    """The per-class weights w as a (C,) array of the logits' dtype."""
    return np.asarray(weight.data if isinstance(weight, Tensor) else weight).astype(dtype)


def _is_probabilities(target: Any, logits_shape: tuple) -> bool:
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    return target.dtype.kind == "f" and target.shape == logits_shape


def _check_class_range(
    target: np.ndarray, kept: np.ndarray, classes: int, ignore_index: int
) -> None:
    """Raise if a kept row's class index is outside 0..classes − 1."""
    bad = kept & ((target < 0) | (target >= classes))
    if bad.any():
        value = int(target[bad][0])
        raise IndexError(
            f"cross_entropy: target {value} is out of range for {classes} classes "
            f"(expected 0..{classes - 1}, or ignore_index={ignore_index})"
        )


def _row_scale(grad: Any, reduction: str, targets: Any) -> Any:
    """d(loss)/d(lossᵢ) for each row, shaped (N, 1): the upstream gradient, divided by the mean's
    denominator for "mean"; exactly 0 on an ignored row (selected, so even a nan or infinite g
    adds 0)."""
    if reduction == "none":
        scale = grad.reshape(-1, 1)
    elif reduction == "sum":
        scale = grad.reshape(1, 1)
    else:  # (a zero denominator gives nan on the kept rows, as PyTorch's 0/0)
        scale = grad.reshape(1, 1) * (1 / targets.denominator if targets.denominator else np.nan)
    return scale if targets.all_kept else where(targets.kept[:, None], scale, 0)
