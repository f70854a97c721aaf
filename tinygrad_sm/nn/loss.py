"""Losses as modules."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyLoss(Module):
    """``loss(logits, target) = logits.cross_entropy(target, ...)``: −Σ_c q_c log softmax(z)_c, averaged.

    The options are those of ``torch.nn.CrossEntropyLoss``; the work is done by
    the fused ``cross_entropy`` op (gradient ``softmax(z) − onehot(y)`` per row).
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, int | float) or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
        self.weight = weight
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return logits.cross_entropy(
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
