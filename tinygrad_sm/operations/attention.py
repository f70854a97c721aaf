"""Scaled dot-product attention, one fused op: ``torch.nn.functional.scaled_dot_product_attention``.

For queries Q (..., L, E), keys K (..., S, E) and values V (..., S, Ev):

    S = scale·Q Kᵀ + M,   P = softmax(S) along the keys,   O = P V          (scale = 1/√E)

where M is the mask: a float mask itself, or for a bool mask (True = may attend) and
``is_causal`` (query i sees keys j ≤ i) 0 where attending is allowed and −∞ elsewhere (added, as
PyTorch does, so a NaN or +∞ score in a masked place still makes its row NaN). A query that may
attend to nothing (every key masked) gets a row of zeros in P, so its output and its gradients are
zeros, never NaN, as in PyTorch 2.13. With ``dropout_p`` = p > 0, O = (P ⊙ D/(1 − p)) V for a random
keep-mask D (each weight kept with probability 1 − p).

The backward goes through the softmax by its own rule (never a Jacobian), with P̃ = P ⊙ D/(1 − p):

    ∂V = P̃ᵀ ∂O,   ∂P = (∂O Vᵀ) ⊙ D/(1 − p),   ∂S = P ⊙ (∂P − Σ_keys ∂P ⊙ P),
    ∂Q = scale·∂S K,   ∂K = scale·∂Sᵀ Q,   ∂M = ∂S (a float mask that requires grad).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..function import Op, register_op
from ..random import RngLike, as_generator
from ..tensor import Tensor
from .rule_helpers import where

_OP = "scaled_dot_product_attention"


def _check_inputs(query: Any, key: Any, value: Any) -> tuple[int, ...]:
    """The broadcast batch shape of query, key and value, after checking that they fit."""
    shapes = {"query": np.shape(query), "key": np.shape(key), "value": np.shape(value)}
    for name, array in (("query", query), ("key", key), ("value", value)):
        if np.ndim(array) < 2:
            raise ValueError(
                f"{_OP}: query, key and value must have at least 2 dimensions (..., length, "
                f"features), got {name} of shape {shapes[name]}"
            )
        if np.asarray(array).dtype.kind != "f":
            raise TypeError(
                f"{_OP}: {name} must be floating point, got dtype {np.asarray(array).dtype}"
            )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"{_OP}: query has E={query.shape[-1]} features but key has {key.shape[-1]} "
            f"(query {query.shape}, key {key.shape})"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"{_OP}: key has S={key.shape[-2]} positions but value has {value.shape[-2]} "
            f"(key {key.shape}, value {value.shape})"
        )
    try:
        return np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{_OP}: the batch axes of query {query.shape}, key {key.shape} and value "
            f"{value.shape} cannot be broadcast together"
        ) from None


def _check_mask(attn_mask: Any, is_causal: bool, scores_shape: tuple[int, ...]) -> None:
    """A clear error unless the mask (if any) is bool or float and broadcasts to the scores."""
    if is_causal:
        if attn_mask is not None:
            raise ValueError(
                f"{_OP}: give either attn_mask or is_causal=True, not both (as PyTorch)"
            )
        return
    if attn_mask is None:
        return
    mask_shape, mask_dtype = np.shape(attn_mask), np.asarray(attn_mask).dtype
    if mask_dtype.kind not in "bf":
        raise TypeError(
            f"{_OP}: attn_mask must be bool (True = attend) or float, got dtype {mask_dtype}"
        )
    try:
        fits = np.broadcast_shapes(mask_shape, scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{_OP}: attn_mask of shape {mask_shape} cannot be broadcast to the attention "
            f"scores' shape {scores_shape} (..., L, S)"
        )


def _bias(allowed: Any, dtype: np.dtype) -> np.ndarray:
    """The scores' bias for a bool mask (or the causal one): 0 where attending is allowed, −∞
    elsewhere (added, as PyTorch does, so a NaN or +∞ score stays NaN there too)."""
    return np.where(allowed, dtype.type(0), dtype.type(-np.inf))


def _keep_scale(dropout_p: Any) -> float:
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, numbers.Real):
        raise TypeError(f"{_OP}: dropout_p must be a number in [0, 1], got {dropout_p!r}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{_OP}: dropout_p must be in [0, 1], got {dropout_p}")
    return 0.0 if dropout_p == 1.0 else 1.0 / (1.0 - dropout_p)


def _masked_softmax(scores: np.ndarray) -> tuple[np.ndarray, Any]:
    """(P, empty): softmax of the scores along the keys (overwrites ``scores``); ``empty`` marks
    the query rows whose scores are all −∞ (or that have no keys at all), which get P = 0 (or is
    None when there are none)."""
    top = scores.max(axis=-1, keepdims=True, initial=-np.inf)
    empty = top == -np.inf
    if not empty.any():
        empty = None
    else:
        top[empty] = 0  # then every entry of an empty row is e^−∞ = 0
    weights = np.exp(np.subtract(scores, top, out=scores), out=scores)
    total = weights.sum(axis=-1, keepdims=True)
    if empty is not None:
        total[empty] = 1  # 0/1: a row of zeros instead of 0/0
    weights /= total
    return weights, empty


def _recorded_weights(ctx, query: Tensor, key: Tensor, attn_mask: Any) -> Tensor:
    """P again, as a recorded function of the query, key and mask Tensors (for ``create_graph``)."""
    scores = (query * ctx.scale) @ key.swapaxes(-1, -2)
    bias = attn_mask if ctx.bool_bias is None else ctx.bool_bias
    if bias is not None:
        scores = scores + bias
    if ctx.empty is None:
        return scores.softmax(axis=-1)
    # an empty row's scores become zeros before the softmax (which would give 0/0) and its
    # weights zeros after it, so that no gradient reaches it
    weights = where(ctx.empty, 0.0, scores).softmax(axis=-1)
    return where(ctx.empty, 0.0, weights)


@register_op("scaled_dot_product_attention", method=False)
class ScaledDotProductAttention(Op):
    """O = softmax(scale·Q Kᵀ + M) V along the keys (see the module docstring for the mask, the
    fully masked rows and dropout)."""

    rule = (
        "∂V = Pᵀg,  ∂S = P ⊙ (gVᵀ − Σ gVᵀ⊙P),  ∂Q = scale·∂S K,  ∂K = scale·∂Sᵀ Q  "
        "(P = softmax(S), dropout mask applied to P and gVᵀ)"
    )

    @staticmethod
    def check(
        ctx,
        query,
        key,
        value,
        attn_mask=None,
        dropout_p=0.0,
        is_causal=False,
        scale=None,
        rng=None,
    ):
        batch = _check_inputs(query, key, value)
        length, keys = query.shape[-2], key.shape[-2]
        _check_mask(attn_mask, is_causal, (*batch, length, keys))
        ctx.causal_bias = None
        if is_causal:  # (top-left aligned: query i sees the keys j ≤ i)
            ctx.causal_bias = _bias(np.tri(length, keys, dtype=bool), query.dtype)
        ctx.keep_scale = _keep_scale(dropout_p)
        if scale is None:  # 1/√E (with no features, E = 0, every score is an empty sum: 0)
            scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else math.inf
        ctx.scale = float(scale)

    @staticmethod
    def forward(
        ctx,
        query,
        key,
        value,
        attn_mask=None,
        dropout_p=0.0,
        is_causal=False,
        scale=None,
        rng=None,
    ):
        if is_causal:
            ctx.bool_bias = ctx.causal_bias
        elif attn_mask is not None and np.asarray(attn_mask).dtype == bool:
            ctx.bool_bias = _bias(attn_mask, query.dtype)
        else:
            ctx.bool_bias = None
        scores = (query * query.dtype.type(ctx.scale)) @ key.swapaxes(-1, -2)
        bias = attn_mask if ctx.bool_bias is None else ctx.bool_bias  # (M: either kind, or None)
        if bias is not None:
            scores = scores + bias  # (a float64 mask promotes float32 scores, as elsewhere)
        weights, ctx.empty = _masked_softmax(scores)
        ctx.keep = None
        dropped = weights
        if dropout_p > 0.0:
            ctx.keep = as_generator(rng).random(weights.shape) >= dropout_p
            dropped = np.where(ctx.keep, weights * weights.dtype.type(ctx.keep_scale), 0)
        ctx.save_for_backward(query, key, value, attn_mask, weights, dropped)
        return dropped @ value

    @staticmethod
    def backward(ctx, grad):
        query, key, value, attn_mask, weights, dropped = ctx.saved_tensors
        if ctx.create_graph:  # P (and P̃) must be recorded functions of Q, K and the mask
            weights = _recorded_weights(ctx, query, key, attn_mask)
            dropped = weights
            if ctx.keep is not None:
                dropped = where(ctx.keep, weights * ctx.keep_scale, 0.0)
        needs = ctx.needs_input_grad
        grad_value = dropped.swapaxes(-1, -2) @ grad if needs[2] else None
        if not (needs[0] or needs[1] or (len(needs) > 3 and needs[3])):
            return None, None, grad_value
        grad_weights = grad @ value.swapaxes(-1, -2)
        if ctx.keep is not None:
            grad_weights = where(ctx.keep, grad_weights * ctx.keep_scale, 0)
        grad_scores = weights * (
            grad_weights - (grad_weights * weights).sum(axis=-1, keepdims=True)
        )
        grad_query = grad_scores @ key * ctx.scale if needs[0] else None
        grad_key = grad_scores.swapaxes(-1, -2) @ query * ctx.scale if needs[1] else None
        grad_mask = grad_scores if len(needs) > 3 and needs[3] else None
        return grad_query, grad_key, grad_value, grad_mask


def _repeat_heads(x: Any, heads: int, name: str) -> Any:
    """x (..., H, S, F) with each of its H heads repeated heads/H times in place (PyTorch's
    ``repeat_interleave`` on axis −3, for grouped-query attention); built from the registered
    ops reshape and broadcast_to (whose gradient sums over the copies)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 3 or heads % x.shape[-3]:
        raise ValueError(
            f"{_OP}: enable_gqa=True needs the heads (axis -3) of {name} to divide the query's "
            f"{heads}, got {name} of shape {x.shape}"
        )
    group = heads // x.shape[-3]
    if group == 1:
        return x
    *lead, length, features = x.shape
    grouped = x.unsqueeze(-3).expand(*lead, group, length, features)
    return grouped.reshape(*lead[:-1], heads, length, features)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | np.ndarray | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    rng: RngLike = None,
    *,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(scale·Q Kᵀ + mask) V (``torch.nn.functional.scaled_dot_product_attention``): query
    (..., L, E), key (..., S, E), value (..., S, Ev), batch axes broadcast. ``attn_mask``: bool
    (True = attend) or float (added to the scores); ``dropout_p > 0`` drops attention weights with
    ``rng`` (default: the library's generator) whenever given, since a function has no training
    flag. ``enable_gqa=True`` (grouped-query attention, as PyTorch): key and value may have fewer
    heads (axis −3) than the query, a divisor of its count; each is repeated for its group."""
    if enable_gqa and np.ndim(query) >= 3:
        heads = np.shape(query)[-3]
        key, value = _repeat_heads(key, heads, "key"), _repeat_heads(value, heads, "value")
    return ScaledDotProductAttention.apply(
        query, key, value, attn_mask, dropout_p, is_causal, scale, rng
    )
