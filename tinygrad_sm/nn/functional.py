"""The functional forms of the ops under PyTorch's names: ``from tinygrad_sm.nn import functional
as F``, then ``F.relu(x)``, ``F.softmax(x, dim=-1)``, ``F.conv2d(x, w, padding=1)``.

Each name here is the same op as the Tensor method (``F.softmax(x)`` is ``x.softmax()``): one op,
one rule, in ``tinygrad_sm/operations/``. Every ``axis=`` also accepts PyTorch's ``dim=``, every
``keepdims=`` also ``keepdim=``, and the tensor an op acts on may be given as ``input=``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import distributions as _distributions
from .. import operations as _operations  # noqa: F401  (the ops register themselves on Tensor)
from ..operations import attention as _attention
from ..operations import convolution as _convolution
from ..operations import embedding as _embedding
from ..operations import normalization as _normalization
from ..operations import pooling as _pooling
from ..operations import selection as _selection
from ..operations import shape as _shape
from ..random import RngLike, as_generator
from ..replay import replayed_by_jit
from ..tensor import Tensor

# ----- activations and elementwise functions (also Tensor methods) --------------------------
relu = Tensor.relu
tanh = Tensor.tanh
sigmoid = Tensor.sigmoid
leaky_relu = Tensor.leaky_relu
elu = Tensor.elu
gelu = Tensor.gelu
silu = Tensor.silu
softplus = Tensor.softplus
log1p = Tensor.log1p
erf = Tensor.erf
maximum = Tensor.maximum
minimum = Tensor.minimum
where = _selection.where
masked_fill = Tensor.masked_fill

# ----- the softmax family and the losses ----------------------------------------------------
softmax = Tensor.softmax
log_softmax = Tensor.log_softmax
logsumexp = Tensor.logsumexp
cross_entropy = Tensor.cross_entropy

# ----- losses (also Tensor methods) ---------------------------------------------------------
nll_loss = Tensor.nll_loss
mse_loss = Tensor.mse_loss
binary_cross_entropy_with_logits = Tensor.binary_cross_entropy_with_logits

# ----- layers -------------------------------------------------------------------------------
linear = Tensor.linear

# ----- convolution and pooling --------------------------------------------------------------
conv1d = _convolution.conv1d
conv2d = _convolution.conv2d
unfold = _convolution.unfold
fold = _convolution.fold
max_pool2d = _pooling.max_pool2d
avg_pool2d = _pooling.avg_pool2d
max_pool1d = _pooling.max_pool1d
avg_pool1d = _pooling.avg_pool1d
adaptive_avg_pool2d = _pooling.adaptive_avg_pool2d
adaptive_max_pool2d = _pooling.adaptive_max_pool2d
adaptive_avg_pool1d = _pooling.adaptive_avg_pool1d
adaptive_max_pool1d = _pooling.adaptive_max_pool1d

# ----- normalisation, embedding, attention --------------------------------------------------
layer_norm = _normalization.layer_norm
batch_norm = _normalization.batch_norm
embedding = _embedding.embedding
scaled_dot_product_attention = _attention.scaled_dot_product_attention

# ----- shape (pad is also a Tensor method, without mode) ------------------------------------
pad = _shape.pad
repeat = Tensor.repeat

# ----- sampling -----------------------------------------------------------------------------
gumbel_softmax = _distributions.gumbel_softmax


def dropout(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, rng: RngLike = None
) -> Tensor:
    """Inverted dropout (``torch.nn.functional.dropout``): in training each element is zeroed
    with probability ``p`` and the rest are scaled by 1/(1 − p), so E[y] = x; ``training=False``
    returns the input. Built from ``mul``. The mask comes from ``rng`` (default: the library's
    generator). ``inplace`` is accepted for PyTorch code; the result is always a new tensor (the
    graph keeps the input)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    return input * _dropout_scale(input.shape, input.dtype, p, rng)


@replayed_by_jit  # (inside a jitted step: a new mask on every replay)
def _dropout_scale(shape: tuple, dtype: np.dtype, p: float, rng: RngLike) -> np.ndarray:
    """1/(1 − p) where an element is kept (with probability 1 − p), 0 where it is dropped."""
    keep = as_generator(rng).random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))
