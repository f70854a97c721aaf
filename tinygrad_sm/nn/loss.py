"""Losses as modules."""

from __future__ import annotations

from typing import Any

from .._checks import label_smoothing_value, reduction_name
from ..tensor import Tensor
from .module import Module


class CrossEntropyLoss(Module):
    """``loss(logits, target) = logits.cross_entropy(target, ...)``:
    −Σ_c q_c log softmax(z)_c, averaged.

    The options are those of ``torch.nn.CrossEntropyLoss``; the work is done by
    the fused ``cross_entropy`` op (gradient ``softmax(z) − onehot(y)`` per row).
    """

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        reduction_name("CrossEntropyLoss", reduction)
        label_smoothing_value("CrossEntropyLoss", label_smoothing)
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
