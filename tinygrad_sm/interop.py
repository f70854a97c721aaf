"""Zero-copy exchange with other array libraries through DLPack.

``from_dlpack(obj)`` is the receiving side: any object with ``__dlpack__`` (a PyTorch, JAX or
CuPy CPU tensor, an ndarray, a Tensor of this library) becomes a Tensor on the same memory. The
sending side is ``Tensor.__dlpack__``/``__dlpack_device__`` in ``tensor.py``, and
``Tensor.from_numpy`` shares an ndarray's memory directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor


def from_dlpack(obj: Any) -> Tensor:
    """A Tensor sharing ``obj``'s memory (``torch.from_dlpack``; NumPy's ``np.from_dlpack`` does the
    exchange): writing to either changes both. The dtype is kept; ``requires_grad`` is False.
    Only CPU memory can be shared (NumPy's rule)."""
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(
            f"from_dlpack: expected an object with __dlpack__ (a PyTorch, JAX or CuPy tensor, "
            f"an ndarray), got {type(obj).__name__}"
        )
    try:
        array = np.from_dlpack(obj)
    except (BufferError, RuntimeError, TypeError, ValueError) as error:
        # (a PyTorch tensor that requires grad refuses to export; a GPU one cannot be shared)
        error.args = (f"from_dlpack: {error}",)
        raise
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"from_dlpack: the data must be numbers or booleans, got dtype {array.dtype}"
        )
    return Tensor._make(array)
