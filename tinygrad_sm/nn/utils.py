"""Gradient clipping (PyTorch's ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``).

Both change the ``.grad`` of each parameter in place, outside the graph, between
``backward()`` and ``optimizer.step()``; parameters whose ``.grad`` is None are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .._checks import number_in_range
from ..replay import replayed_by_jit
from ..tensor import Tensor


def _gradients(parameters: Tensor | Iterable[Tensor], what: str) -> list[Tensor]:
    """The ``.grad`` Tensors of ``parameters`` (one Tensor or an iterable), None skipped."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{what}: parameter {i} is a {type(p).__name__}, not a Tensor")
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(x: np.ndarray, p: float) -> np.ndarray:
    """‖x‖_p of all the elements of x (``torch.linalg.vector_norm``): (Σ|xᵢ|ᵖ)^(1/p), the largest
    |xᵢ| for p = ∞, the smallest for p = −∞, and the number of non-zeros for p = 0."""
    magnitude = np.abs(x)
    if p == math.inf:
        return magnitude.max(initial=0)
    if p == -math.inf:
        return magnitude.min(initial=math.inf)
    if p == 0:
        return np.asarray(np.count_nonzero(x), x.dtype)
    if p == 2:
        return np.sqrt(np.vdot(x, x))
    return (magnitude**p).sum() ** (1 / p)


def _scale_in_place(grad: Tensor, factor: np.ndarray) -> None:
    values = grad.data
    if values.flags.writeable:
        values *= factor
    else:  # (a read-only array someone assigned: replaced, as in-place can't be done)
        grad.data = values * factor


@replayed_by_jit  # (inside a jitted step: called again on every replay)
def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale the gradients together so that their total norm is at most ``max_norm``:

        N = ‖(‖g₁‖_p, ‖g₂‖_p, …)‖_p   (the p-norm of all gradients as one vector)
        gᵢ ← gᵢ · min(1, max_norm / (N + 1e-6))

    and return N as a 0-d Tensor (of the gradients' dtype; 0.0 when no parameter has a gradient).
    ``norm_type`` may be ``math.inf`` (the largest |gradient|). A nan or inf N scales every gradient
    to nan, as in PyTorch, unless ``error_if_nonfinite=True``, which raises a RuntimeError first.
    ``foreach`` is PyTorch's choice of kernel; it is accepted and changes nothing here.

    >>> p = Tensor([3.0, 4.0], requires_grad=True)
    >>> p.grad = Tensor([3.0, 4.0])
    >>> clip_grad_norm_(p, max_norm=1.0).item()
    5.0
    >>> p.grad.numpy().round(3)
    array([0.6, 0.8], dtype=float32)
    """
    grads = _gradients(parameters, "clip_grad_norm_")
    number_in_range("clip_grad_norm_", "max_norm", max_norm, 0.0)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    dtype = np.result_type(*(g.dtype for g in grads))
    norms = np.array([_vector_norm(g.data, norm_type) for g in grads], dtype=dtype)
    total = _vector_norm(norms, norm_type).astype(dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
            "so it cannot be clipped (error_if_nonfinite=False scales by it anyway)"
        )
    factor = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    if factor != 1:  # (g · 1 is g: nothing to do)
        with np.errstate(invalid="ignore"):  # (an infinite N: factor 0, and ∞·0 = nan, as PyTorch)
            for g in grads:
                _scale_in_place(g, factor.astype(g.dtype))
    return Tensor(total)


@replayed_by_jit  # (inside a jitted step: called again on every replay)
def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clip every gradient element to [−clip_value, clip_value], in place (nan stays nan).
    ``foreach`` (PyTorch's choice of kernel) is accepted and changes nothing here."""
    grads = _gradients(parameters, "clip_grad_value_")
    number_in_range("clip_grad_value_", "clip_value", clip_value, 0.0)
    for g in grads:
        values = g.data
        if values.flags.writeable:
            np.clip(values, -clip_value, clip_value, out=values)
        else:
            g.data = np.clip(values, -clip_value, clip_value)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
