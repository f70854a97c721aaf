"""Losses as modules: each is its op with the options fixed at construction, as ``torch.nn``.

Class weights (``weight``) and ``pos_weight`` are buffers, as in PyTorch: Tensors that do not
require grad, in ``state_dict()`` when given, never parameters.
"""

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
        self.register_buffer("weight", weight)
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


class NLLLoss(Module):
    """``loss(log_probs, target) = log_probs.nll_loss(target, ...)``: −w[y]·x[y], averaged over
    the total weight of the targets not ignored (``torch.nn.NLLLoss``; input (N, C), (C,) or
    (N, C, d1, …, dK), usually from ``log_softmax(axis=1)``)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        reduction_name("NLLLoss", reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return input.nll_loss(
            target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MSELoss(Module):
    """``loss(input, target) = input.mse_loss(target, ...)``: (x − t)², averaged
    (``torch.nn.MSELoss``)."""

    def __init__(self, reduction: str = "mean"):
        reduction_name("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return input.mse_loss(target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """``loss(logits, target) = logits.binary_cross_entropy_with_logits(target, ...)``: sigmoid
    and binary cross-entropy in one stable op (``torch.nn.BCEWithLogitsLoss``; ``pos_weight``
    weighs the positive term, one number per class along the last axis)."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        reduction_name("BCEWithLogitsLoss", reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return input.binary_cross_entropy_with_logits(
            target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
