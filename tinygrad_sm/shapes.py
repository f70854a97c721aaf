"""Shapes and axes: the ground floor that the Tensor, the engine and the ops all stand on.

Pure NumPy, importing nothing of the package: normalising an ``axis`` argument, the shape a
reduction keeps, undoing broadcasting (the engine calls ``unbroadcast`` for every input of
every op), and reading a shape given as ``f(2, 3)`` or ``f((2, 3))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Axis = int | tuple[int, ...] | list[int] | None


def normalize_axis(
    axis: Axis, ndim: int, op: str, shape: tuple[int, ...] | None = None
) -> tuple[int, ...]:
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
        # a 0-d tensor accepts axis 0 or -1, as in PyTorch
        low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
        if not low <= a <= high:
            where = f" with shape {shape}" if shape is not None else ""
            raise np.exceptions.AxisError(
                f"{op}: axis {int(a)} is out of range for a tensor of {ndim} dimension(s){where} "
                f"(expected an axis in [{low}, {high}])"
            )
        if ndim:
            normalized.append(int(a) % ndim)
    # (0 and -1: one axis twice)
    if len(set(normalized)) != len(normalized) or (ndim == 0 and len(axes) > 1):
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


def shape_argument(shape: tuple) -> tuple:
    """A shape given as separate numbers or as one tuple or list: ``f(2, 3)`` and ``f((2, 3))``
    both give ``(2, 3)``."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return tuple(shape)


# ----- PyTorch's spellings: dim= for axis=, keepdim= for keepdims= ---------------------------
PYTORCH_SPELLINGS = {
    "dim": "axis",
    "keepdim": "keepdims",
    "start_dim": "start_axis",
    "end_dim": "end_axis",
    "min": "lo",  # (x.clip(min=0), as torch.clip and ndarray.clip)
    "max": "hi",
}


def pytorch_spellings(parameter_names: Any) -> dict[str, str]:
    """Which of PyTorch's keyword names stand for which of these parameters (``dim`` -> ``axis``
    when there is an ``axis`` and no ``dim`` of its own)."""
    names = set(parameter_names)
    return {
        torch_name: name
        for torch_name, name in PYTORCH_SPELLINGS.items()
        if name in names and torch_name not in names
    }


def respell(kwargs: dict, spellings: dict[str, str], op: str) -> dict:
    """``kwargs`` with PyTorch's names turned into ours; both spellings at once is a TypeError.

    >>> respell({"dim": 1, "keepdim": True}, pytorch_spellings(["axis", "keepdims"]), "sum")
    {'axis': 1, 'keepdims': True}
    """
    for torch_name, name in spellings.items():
        if torch_name in kwargs:
            if name in kwargs:
                raise TypeError(
                    f"{op}: got both {name}= and {torch_name}= (PyTorch's name for {name}); "
                    "give one"
                )
            kwargs[name] = kwargs.pop(torch_name)
    return kwargs


def accepts_pytorch_spellings(function: Any) -> Any:
    """Decorator: ``function`` also accepts ``dim=``/``keepdim=`` (and ``start_dim=``/``end_dim=``,
    ``min=``/``max=``) for its ``axis``/``keepdims`` (``start_axis``/``end_axis``, ``lo``/``hi``)
    parameters."""
    import functools
    import inspect

    spellings = pytorch_spellings(inspect.signature(function).parameters)
    if not spellings:
        return function
    name = function.__name__

    @functools.wraps(function)
    def respelled(*args, **kwargs):
        if kwargs:
            kwargs = respell(kwargs, spellings, name)
        return function(*args, **kwargs)

    return respelled
