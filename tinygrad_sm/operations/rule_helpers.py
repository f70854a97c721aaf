"""What the rules share.

A built-in backward runs on ndarrays in a plain ``backward()`` and on Tensors in a
``backward(create_graph=True)``, where its own arithmetic is recorded so that it can be
differentiated again. Operators (``+ - * / **``, ``@``), ``.sum(axis, keepdims=...)``,
``.reshape``, ``.transpose``, ``.swapaxes`` and indexing mean the same thing on both; the
functions here (``exp``, ``log``, ``where``, ``broadcast_to``, ``scatter_add``) cover the rest.
``sum_of_products`` and ``exp_times`` are two of those with a faster NumPy path (they are the
softmax family's backward passes). The others serve forwards: ``shift_by_max`` (the
stable-softmax trick) and ``as_operand``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import get_op
from ..tensor import Tensor


def shift_by_max(z: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """z minus its max along ``axes`` (the stable-softmax trick), as a new ndarray that the
    forwards may overwrite; an empty z stays empty. (For a 0-d z the subtraction gives a NumPy
    scalar, which ``out=`` cannot write into: hence the asarray.)"""
    return np.asarray(z - z.max(axis=axes, keepdims=True)) if z.size else z.copy()


# ----- functions that work on ndarrays and on Tensors ---------------------------------------
def exp(x: Any) -> Any:
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def log(x: Any) -> Any:
    # (the op, not Tensor.log: a rule taking the log of a softmax output is no mistake to warn of)
    return get_op("log").apply(x) if isinstance(x, Tensor) else np.log(x)


def sum_of_products(a: Any, b: Any, axes: tuple[int, ...]) -> Any:
    """Σ a·b along ``axes``, keeping them as size 1 (the ⟨g, p⟩ of a softmax backward).

    Along the last axis of two ndarrays this is ``np.vecdot``: one pass, no (a·b) temporary;
    measured 2.3x faster than ``(a * b).sum(-1)`` on (1024, 1000) float32, 1.8x on (64, 10)."""
    if type(a) is np.ndarray and type(b) is np.ndarray and axes == (a.ndim - 1,) and a.size:
        return np.vecdot(a, b)[..., None]
    return (a * b).sum(axis=axes, keepdims=True)


def exp_times(x: Any, factor: Any) -> Any:
    """e^x · factor (the softmax(z)·Σg of a log_softmax backward, x being its output). On
    ndarrays of one dtype the product is written into the fresh e^x array: one temporary fewer
    than ``np.exp(x) * factor`` (measured 1.3x faster on (1024, 1000) float32)."""
    if type(x) is not np.ndarray or type(factor) is not np.ndarray:
        return exp(x) * factor
    product = np.exp(x)
    if type(product) is np.ndarray and factor.dtype == product.dtype:  # (0-d: a NumPy scalar)
        try:
            return np.multiply(product, factor, out=product)
        except ValueError:  # (factor broadcasts x to a larger shape)
            pass
    return product * factor


def array_of(x: Any) -> np.ndarray:
    """The numbers of an ndarray or a Tensor, for a mask a backward rule computes from a value."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def where(condition: Any, x: Any, y: Any) -> Any:
    """x where ``condition`` (a bool array) holds, else y. On Tensors it is the op ``where``, so
    that a ``create_graph`` backward records it; a rule that routes a gradient uses this, not a
    0/1 mask."""
    if isinstance(x, Tensor) or isinstance(y, Tensor):
        return get_op("where").apply(condition, x, y)
    if type(x) is np.ndarray and type(y) is int and y == 0:
        return _keep(condition, x)
    if type(y) is np.ndarray and type(x) is int and x == 0:
        return _keep(~condition, y)
    return np.where(condition, x, y)


def _keep(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` holds, exactly 0 elsewhere. ``np.where`` is much slower than a
    multiplication, so this multiplies, and selects only if a value is not finite (∞·0 = nan:
    checked first, so NumPy never warns about a product that is thrown away)."""
    return values * mask if np.isfinite(values).all() else np.where(mask, values, 0)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` repeated along broadcast axes to ``shape`` (a read-only view for ndarrays)."""
    return x.broadcast_to(shape) if isinstance(x, Tensor) else np.broadcast_to(x, shape)


def scatter_add(values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with ``values`` added at ``index`` (the adjoint of ``x[index]``)."""
    if isinstance(values, Tensor):
        return values.scatter_add(index, shape)
    return scatter_add_array(values, index, shape)


def scatter_add_array(values: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=values.dtype)
    if has_integer_array(index):
        np.add.at(out, index, values)  # repeated indices must accumulate
    else:
        out[index] = values  # basic indexing and masks never repeat an element
    return out


_NUMBERS = (int, float, np.number, np.bool_)


def as_operand(value: Any, op: str) -> Any:
    """An arithmetic operand: an ndarray or a Python/NumPy number as it is; a list or tuple
    (``x ** [2, 3]``) as an ndarray, so a backward rule can do arithmetic with it; anything else
    is a clear TypeError."""
    if type(value) is np.ndarray or isinstance(value, _NUMBERS):
        return value
    if isinstance(value, list | tuple):
        array = np.asarray(value)
        if array.dtype.kind in "fiub":
            return array
    raise TypeError(
        f"{op}: unsupported operand of type {type(value).__name__}: {value!r:.60} "
        "(expected a Tensor, an array or a number)"
    )


def has_integer_array(index: Any) -> bool:
    """True if ``index`` (as for ``x[index]``) contains an integer array or list
    (which may repeat)."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, list | np.ndarray) and np.asarray(part).dtype.kind in "iu":
            return True
    return False
