"""Helpers every op shares: axis normalisation, undoing broadcasting, and the few
functions a backward rule calls that must work on both ndarrays (a plain
backward) and Tensors (a ``create_graph`` backward, where the rule's own
arithmetic is recorded so it can be differentiated again).

Operators (``+ - * / **``, ``@``), ``.sum(axis, keepdims=...)``, ``.reshape``,
``.transpose``, ``.swapaxes`` and indexing already mean the same thing on
both; the functions here cover the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function, get_op
from ..tensor import Tensor

Axis = int | tuple[int, ...] | list[int] | None


def normalize_axis(axis: Axis, ndim: int, op: str, shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """``None``/int/negative/tuple -> a sorted tuple of non-negative axes, or a clear error.

    >>> normalize_axis(-1, 3, "sum")
    (2,)
    """
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int | np.integer):
        axes = (axis,)
    elif isinstance(axis, tuple | list):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
    normalized = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int | np.integer):
            raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
        low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)  # a 0-d tensor accepts axis 0 or -1, as in PyTorch
        if not low <= a <= high:
            where = f" with shape {shape}" if shape is not None else ""
            raise np.exceptions.AxisError(
                f"{op}: axis {int(a)} is out of range for a tensor of {ndim} dimension(s){where} "
                f"(expected an axis in [{low}, {high}])"
            )
        if ndim:
            normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(normalized))


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a reduction over ``axes`` has with ``keepdims=True``."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``.

    If ``x`` of shape ``(3, 1)`` was broadcast to ``(2, 3, 4)``, each ``x[i, 0]``
    was used 2 * 4 times, so its gradient is the sum of those 8 gradients.
    The engine calls this for every input of every op.
    """
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"cannot unbroadcast a gradient of shape {grad.shape} to {shape}")
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    for i, n in enumerate(shape):
        if n != 1 and grad.shape[extra + i] != n:
            raise ValueError(f"cannot unbroadcast a gradient of shape {grad.shape} to {shape}")
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape) if grad.shape != shape else grad


# ----- functions that work on ndarrays and on Tensors ---------------------------------------
def exp(x: Any) -> Any:
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def log(x: Any) -> Any:
    return x.log() if isinstance(x, Tensor) else np.log(x)


def array_of(x: Any) -> np.ndarray:
    """The numbers of an ndarray or a Tensor, for a mask a backward rule computes from a value."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def where(condition: Any, x: Any, y: Any) -> Any:
    """x where ``condition`` (a bool array) holds, else y. On Tensors it is the op ``where``, so that
    a ``create_graph`` backward records it; a rule that routes a gradient uses this, not a 0/1 mask."""
    if isinstance(x, Tensor) or isinstance(y, Tensor):
        return get_op("where").apply(condition, x, y)
    if type(x) is np.ndarray and type(y) is int and y == 0:
        return _keep(condition, x)
    if type(y) is np.ndarray and type(x) is int and x == 0:
        return _keep(~condition, y)
    return np.where(condition, x, y)


def _keep(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` holds, exactly 0 elsewhere. ``np.where`` is about ten times slower
    than a multiplication, so this multiplies, and selects only if a value is not finite (∞·0 = nan)."""
    kept = values * mask
    return kept if np.isfinite(values).all() else np.where(mask, values, 0)


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
    """An arithmetic operand: an ndarray or a Python/NumPy number as it is; a list or tuple (``x ** [2, 3]``)
    as an ndarray, so a backward rule can do arithmetic with it; anything else is a clear TypeError."""
    if type(value) is np.ndarray or isinstance(value, _NUMBERS):
        return value
    if isinstance(value, list | tuple):
        array = np.asarray(value)
        if array.dtype.kind in "fiub":
            return array
    raise TypeError(
        f"{op}: unsupported operand of type {type(value).__name__}: {value!r:.60} (expected a Tensor, an array or a number)"
    )


def has_integer_array(index: Any) -> bool:
    """True if ``index`` (as for ``x[index]``) contains an integer array or list (which may repeat)."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, list | np.ndarray) and np.asarray(part).dtype.kind in "iu":
            return True
    return False


class Op(Function):
    """A built-in op: its backward uses only operations that also work on Tensors,
    so ``backward(create_graph=True)`` records it and higher derivatives are right."""

    differentiable_backward = True
