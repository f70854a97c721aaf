"""Embedding: a lookup table, y = W[i] for integer indices i of any shape.

Row W[r] appears in the output once for every index equal to r, so its gradient is the sum of
the upstream gradients at those places: ∂W = scatter_add(g, i), the adjoint of the lookup (repeated
indices accumulate). The ``padding_idx`` row, when given, gets no gradient at all, as in PyTorch:
it stays whatever it was (usually zeros) while training.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..tensor import Tensor
from .rule_helpers import scatter_add


def _check_dtype(indices: Any) -> None:
    dtype = np.asarray(indices).dtype
    if dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {dtype}")


def _indices(indices: Any, rows: int) -> np.ndarray:
    """The indices as an integer ndarray, each checked to be a row of the table (they change from
    batch to batch: forward checks them)."""
    indices = np.asarray(indices)
    if indices.size:
        outside = (indices < 0) | (indices >= rows)
        if outside.any():
            index = indices[outside].flat[0]
            raise IndexError(
                f"embedding: index {index} is out of range for a table of {rows} rows "
                f"(indices must be in [0, {rows}))"
            )
    return indices


def _padding_row(padding_idx: Any, rows: int) -> int | None:
    """``padding_idx`` as a row number (negative counts from the end, as PyTorch), or None."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise TypeError(f"embedding: padding_idx must be an int or None, got {padding_idx!r}")
    if not -rows <= padding_idx < rows:
        raise ValueError(
            f"embedding: padding_idx {padding_idx} is out of range for a table of {rows} rows "
            f"(expected -{rows} <= padding_idx < {rows})"
        )
    return int(padding_idx) % rows


@register_op("embedding", method=False)
class Embedding(Op):
    """y = W[i]: row i of the table W (rows, dim) for every integer index i; y has shape
    i.shape + (dim,) (``torch.nn.functional.embedding``)."""

    rule = "∂W = g added back at the rows i (repeats accumulate; none to padding_idx)"

    @staticmethod
    def check(ctx, indices, weight, padding_idx=None):
        if np.ndim(weight) != 2:
            raise ValueError(
                f"embedding: weight must be a 2-D table (rows, dim), got shape {np.shape(weight)}"
            )
        _check_dtype(indices)
        ctx.padding_row = _padding_row(padding_idx, weight.shape[0])
        ctx.weight_shape = weight.shape

    @staticmethod
    def forward(ctx, indices, weight, padding_idx=None):
        ctx.indices = _indices(indices, ctx.weight_shape[0])
        return np.take(weight, ctx.indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[1]:
            return None, None
        indices = ctx.indices
        if ctx.padding_row is None:
            rows_grad = grad.reshape(indices.size, ctx.weight_shape[1])
            indices = indices.reshape(-1)
        else:  # only the places that look up another row give their gradient
            used = indices != ctx.padding_row
            rows_grad, indices = grad[used], indices[used]
        return None, scatter_add(rows_grad, indices, ctx.weight_shape)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` looked up by the integer indices ``input`` (any shape; a list, an ndarray
    or an integer Tensor), as ``torch.nn.functional.embedding``."""
    return Embedding.apply(input, weight, padding_idx)
