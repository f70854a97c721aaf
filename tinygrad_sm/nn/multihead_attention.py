"""MultiheadAttention, with PyTorch's parameters, masks and shapes.

    head_i = softmax(Q_i K_iᵀ / √d + M) V_i,   Q_i = query W_qᵢᵀ + b_qᵢ, ... (d = embed_dim / heads)
    output = concat(head_1, ..., head_h) W_oᵀ + b_o

Built from registered ops: ``linear``, ``reshape``, ``swapaxes``, ``matmul``, ``softmax`` (its
``mask=``) and ``F.dropout`` when the weights are returned, ``F.scaled_dot_product_attention``
when they are not (``need_weights=False``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import number_in_range, positive_int
from ..random import RngLike, as_generator
from ..replay import mark_unsafe
from ..tensor import Tensor
from . import functional as F
from .layers import Linear
from .module import Module


class MultiheadAttention(Module):
    """Attention of ``num_heads`` heads of size ``embed_dim / num_heads`` (PyTorch's
    ``nn.MultiheadAttention`` with ``kdim = vdim = embed_dim``).

    Parameters, in PyTorch's order: ``in_proj_weight`` (3E, E), the query, key and value
    projections stacked (xavier_uniform: U(±√(6 / (E + 3E)))), ``in_proj_bias`` (3E, zeros),
    ``out_proj.weight`` (E, E, Linear's init) and ``out_proj.bias`` (E, zeros); no biases with
    ``bias=False``. Inputs are ``(L, N, E)`` (``batch_first=True``: ``(N, L, E)``) or unbatched
    ``(L, E)``. ``dropout`` drops attention weights in training, from ``rng`` when given (the
    generator that also drew the initial weights), else from the default generator.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
        rng: RngLike = None,
    ):
        self.embed_dim = positive_int("MultiheadAttention: embed_dim", embed_dim)
        self.num_heads = positive_int("MultiheadAttention: num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                f"num_heads ({num_heads})"
            )
        number_in_range("MultiheadAttention", "dropout", dropout, 0.0, 1.0)
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        generator = as_generator(rng)
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))
        self.in_proj_weight = Tensor.uniform(
            (3 * embed_dim, embed_dim), low=-bound, high=bound, rng=generator, requires_grad=True
        )
        self.in_proj_bias = Tensor.zeros(3 * embed_dim, requires_grad=True) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, rng=generator)
        if bias:
            self.out_proj.bias.data[...] = 0.0
        self.generator = None if rng is None else generator

    # ----- masks ------------------------------------------------------------------------
    def _mask(
        self, name: str, mask: Any, expected: tuple[tuple[int, ...], ...], dtype: np.dtype
    ) -> Tensor | np.ndarray | None:
        """A mask in PyTorch's MultiheadAttention meaning as SDPA's: a bool array True = may
        attend (PyTorch's True = may not, inverted), or a float Tensor/array to add."""
        if mask is None:
            return None
        mark_unsafe(f"MultiheadAttention's {name} is turned into SDPA's mask with NumPy", mask)
        array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if array.shape not in expected:
            shapes = " or ".join(str(shape) for shape in expected)
            raise ValueError(
                f"MultiheadAttention: {name} has shape {array.shape}, expected {shapes}"
            )
        if array.dtype == np.bool_:
            return ~array
        if array.dtype.kind != "f":
            raise TypeError(
                f"MultiheadAttention: {name} must be a bool or float mask, got {array.dtype}"
            )
        return mask if isinstance(mask, Tensor) else array.astype(dtype, copy=False)

    @staticmethod
    def _combine(
        first: Tensor | np.ndarray | None, second: Tensor | np.ndarray | None
    ) -> Tensor | np.ndarray | None:
        """Both masks at once: bool masks are and-ed; with a float mask, a bool one becomes
        0 / −∞ and they are added (as PyTorch)."""
        if first is None or second is None:
            return first if second is None else second
        if isinstance(first, np.ndarray) and isinstance(second, np.ndarray):
            if first.dtype == np.bool_ and second.dtype == np.bool_:
                return first & second
        dtype = next(m.dtype for m in (first, second) if m.dtype != np.bool_)
        as_float = [
            np.where(m, 0.0, -np.inf).astype(dtype) if m.dtype == np.bool_ else m
            for m in (first, second)
        ]
        return as_float[0] + as_float[1]

    # ----- forward ----------------------------------------------------------------------
    def _heads(self, x: Tensor) -> Tensor:
        """(N, L, E) -> (N, heads, L, head_dim)."""
        n, length, _ = x.shape
        return x.reshape(n, length, self.num_heads, self.head_dim).swapaxes(1, 2)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> list[Tensor]:
        """The query, key and value projections (one matmul when the three are one tensor)."""
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            packed = F.linear(query, w, b)
            return [packed[..., i * e : (i + 1) * e] for i in range(3)]
        return [
            F.linear(x, w[i * e : (i + 1) * e], None if b is None else b[i * e : (i + 1) * e])
            for i, x in enumerate((query, key, value))
        ]

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``(output, weights)``: output shaped like ``query``; weights ``(N, L, S)`` averaged over
        heads (``average_attn_weights=False``: ``(N, heads, L, S)``; unbatched: no N), or None
        with ``need_weights=False``.

        ``key_padding_mask`` ``(N, S)``: True (bool) = ignore that key, or floats added.
        ``attn_mask`` ``(L, S)`` or ``(N·heads, L, S)``: True (bool) = may **not** attend, or
        floats added. ``is_causal`` is PyTorch's hint that ``attn_mask`` is the causal mask
        (which must then be given); the mask given is what is applied.
        """
        e = self.embed_dim
        if query.ndim not in (2, 3) or query.shape[-1] != e:
            raise ValueError(
                f"MultiheadAttention: query must be (L, N, {e}), (N, L, {e}) with batch_first "
                f"or unbatched (L, {e}), got shape {query.shape}"
            )
        if key.ndim != query.ndim or value.ndim != query.ndim or key.shape != value.shape:
            raise ValueError(
                "MultiheadAttention: key and value must have the same shape and as many axes "
                f"as query, got query {query.shape}, key {key.shape}, value {value.shape}"
            )
        if key.shape[-1] != e:
            raise ValueError(
                f"MultiheadAttention: key and value must have {e} features, got {key.shape}"
            )
        if is_causal and attn_mask is None:
            raise ValueError(
                "MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask; "
                "give the mask too (as PyTorch), e.g. np.triu(np.ones((L, L), bool), 1)"
            )
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (x.reshape(1, *x.shape) for x in (query, key, value))
        elif not self.batch_first:
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        n, length, _ = query.shape
        if key.shape[0] != n:
            raise ValueError(
                f"MultiheadAttention: query has batch size {n} but key and value {key.shape[0]}"
            )
        source = key.shape[1]

        h = self.num_heads
        padding_shapes = ((source,),) if unbatched else ((n, source),)
        padding = self._mask("key_padding_mask", key_padding_mask, padding_shapes, query.dtype)
        if padding is not None:
            padding = padding.reshape(n, 1, 1, source)
        attention = self._mask(
            "attn_mask", attn_mask, ((length, source), (n * h, length, source)), query.dtype
        )
        if attention is not None and attention.ndim == 3:
            attention = attention.reshape(n, h, length, source)
        mask = self._combine(attention, padding)

        q, k, v = (self._heads(x) for x in self._project(query, key, value))
        dropout = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * (1.0 / math.sqrt(self.head_dim))) @ k.swapaxes(-1, -2)
            keep = None  # the keys each query may attend to, for softmax's mask=
            if isinstance(mask, np.ndarray) and mask.dtype == np.bool_:
                keep = mask
            elif mask is not None:
                scores = scores + mask
                # a −∞ in a float mask rules that key out as False does, so a query with no key
                # left gets zero weights here too, as from SDPA (need_weights=False), not NaN
                keep = (mask.data if isinstance(mask, Tensor) else mask) != -np.inf
            weights = scores.softmax(axis=-1, mask=keep)
            if dropout > 0.0:
                weights = F.dropout(weights, dropout, rng=self.generator)
            heads = weights @ v
        else:
            heads = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout, rng=self.generator
            )
            weights = None
        output = self.out_proj(heads.swapaxes(1, 2).reshape(n, length, e))

        if unbatched:
            output = output.reshape(length, e)
        elif not self.batch_first:
            output = output.swapaxes(0, 1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(axis=1)
            if unbatched:
                weights = weights.reshape(weights.shape[1:])
        return output, weights

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
            f"batch_first={self.batch_first}"
        )
