"""Probability distributions (PyTorch's ``torch.distributions``): ``Categorical``, and the
Gumbel-softmax relaxation of a categorical sample, ``gumbel_softmax`` (``F.gumbel_softmax``).

Everything differentiable here is built from registered ops (``log_softmax``, ``logsumexp``,
``softmax``, ``clip``, ``broadcast_to``, ``reshape``, indexing, arithmetic), so gradients, and
second derivatives with ``create_graph=True``, flow through their rules; sampling itself is
NumPy and has no gradient (a score-function estimator uses ``log_prob`` of the samples).
"""

from __future__ import annotations

import numbers
from functools import cached_property
from typing import Any

import numpy as np

from . import operations as _operations  # noqa: F401  (the ops register themselves on Tensor)
from .grad_mode import enable_grad
from .random import RngLike, as_generator
from .replay import mark_unsafe, replayed_by_jit
from .shapes import accepts_pytorch_spellings
from .tensor import Tensor, get_default_dtype


def _parameter(value: Any, name: str) -> Tensor:
    """``value`` as a floating-point Tensor of at least one axis (a Tensor is used as it is, so
    gradients reach it)."""
    if not isinstance(value, Tensor):
        value = Tensor(value)  # (a list of floats: the default dtype, as torch.tensor)
        if value.dtype.kind in "iub":
            value = Tensor(value.data, dtype=get_default_dtype())
    if value.dtype.kind != "f":
        raise TypeError(f"Categorical: {name} must be floating point, got dtype {value.dtype}")
    if value.ndim < 1 or value.shape[-1] == 0:
        raise ValueError(
            f"Categorical: {name} must have at least one axis with at least one category "
            f"(the last axis), got shape {value.shape}"
        )
    return value


class Categorical:
    """A categorical distribution over 0, ..., K − 1 along the last axis of ``probs`` or
    ``logits`` (exactly one given); the axes before it are the batch.

    ``probs`` are normalised to sum to 1 (p / Σp); ``logits`` to log-probabilities
    (z − logsumexp z), as in PyTorch; either one gives the other: probs = softmax(logits), and
    from probs, logits = log(clip(p, ε, 1 − ε)) with ε the dtype's machine epsilon (PyTorch's
    clamp, so that a zero probability has a finite logit). ``validate_args`` is PyTorch's
    switch for checking the arguments; it is accepted, and they are always checked.

    >>> d = Categorical(probs=[0.2, 0.3, 0.5])
    >>> d.sample((4,), rng=0).shape
    (4,)
    >>> round(float(d.log_prob(2).item()), 4)
    -0.6931
    """

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            given = "neither" if probs is None else "both"
            raise ValueError(f"Categorical: give exactly one of probs and logits, got {given}")
        if probs is not None:
            probs = _parameter(probs, "probs")
            values = probs.data
            if not (np.isfinite(values).all() and (values >= 0).all()):
                raise ValueError(
                    "Categorical: probs must be finite and non-negative, got values in "
                    f"[{np.nanmin(values)}, {np.nanmax(values)}]"
                    + (" and nan" if np.isnan(values).any() else "")
                )
            totals = values.sum(axis=-1)
            if (totals <= 0).any():
                raise ValueError(
                    f"Categorical: every row of probs must have a positive sum; "
                    f"{int((totals <= 0).sum())} row(s) of shape {probs.shape} sum to 0"
                )
            self.probs = probs / probs.sum(axis=-1, keepdims=True)
            shape = probs.shape
        else:
            logits = _parameter(logits, "logits")
            if np.isnan(logits.data).any():
                raise ValueError(f"Categorical: logits (shape {logits.shape}) contain nan")
            self.logits = logits - logits.logsumexp(axis=-1, keepdims=True)
            shape = logits.shape
        self.param_shape: tuple[int, ...] = shape
        self.batch_shape: tuple[int, ...] = shape[:-1]
        self.event_shape: tuple[int, ...] = ()
        self.num_categories = shape[-1]

    # the other parameterisation, computed when first asked for (an attribute from then on),
    # always with its graph, as PyTorch's lazy_property: a first use inside no_grad() (sampling)
    # must not leave a later log_prob or entropy without gradients
    @cached_property
    def probs(self) -> Tensor:
        """p = softmax(logits) along the last axis."""
        with enable_grad():
            return self.logits.softmax(axis=-1)

    @cached_property
    def logits(self) -> Tensor:
        """log p, with p clipped to [ε, 1 − ε] (PyTorch's ``probs_to_logits``)."""
        eps = float(np.finfo(self.probs.dtype).eps)
        with enable_grad():
            return self.probs.clip(eps, 1 - eps).log()

    def sample(self, sample_shape: int | tuple[int, ...] = (), rng: RngLike = None) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape`` (int64, no gradient), by inverting each
        row's cumulative distribution at a uniform u in (0, 1]: the first k with
        p₀ + … + p_k ≥ u·Σp (so a zero probability is never drawn)."""
        shape = (sample_shape,) if isinstance(sample_shape, numbers.Integral) else sample_shape
        shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in shape):
            raise ValueError(f"Categorical.sample: sample_shape must not be negative, got {shape}")
        mark_unsafe("Categorical.sample draws from the probabilities' values with NumPy")
        cumulative = np.cumsum(self.probs.data.astype(np.float64), axis=-1)
        u = 1.0 - as_generator(rng).random(shape + self.batch_shape)
        threshold = (u * cumulative[..., -1])[..., None]
        return Tensor((cumulative < threshold).sum(axis=-1).astype(np.int64))

    def log_prob(self, value: Any) -> Tensor:
        """log p(value): the normalised logits picked at ``value`` (integers in [0, K − 1], as a
        number, list, array or Tensor), broadcast against ``batch_shape`` as PyTorch does;
        differentiable with respect to the logits or probs."""
        mark_unsafe("Categorical.log_prob picks its values with NumPy")
        index = np.asarray(value.data if isinstance(value, Tensor) else value)
        categories = self.num_categories
        if index.dtype.kind not in "iuf" or (
            index.dtype.kind == "f" and not (np.isfinite(index) & (index % 1 == 0)).all()
        ):
            raise ValueError(
                f"Categorical.log_prob: value must hold integers (category indices), "
                f"got dtype {index.dtype}"
            )
        outside = (index < 0) | (index >= categories)
        if outside.any():
            raise ValueError(
                f"Categorical.log_prob: value must be in [0, {categories - 1}] "
                f"(there are {categories} categories), got {index[outside].ravel()[0]}"
            )
        try:
            shape = np.broadcast_shapes(index.shape, self.batch_shape)
        except ValueError:
            raise ValueError(
                f"Categorical.log_prob: value of shape {index.shape} does not broadcast with "
                f"batch_shape {self.batch_shape}"
            ) from None
        rows = self.logits.broadcast_to((*shape, categories)).reshape(-1, categories)
        picked = np.broadcast_to(index, shape).reshape(-1).astype(np.intp)
        return rows[np.arange(len(picked)), picked].reshape(shape)

    @property
    def mode(self) -> Tensor:
        """The most probable category of each batch entry (the first on a tie), int64, as
        PyTorch's ``Categorical.mode``."""
        mark_unsafe("Categorical.mode reads the probabilities' values with NumPy")
        return Tensor(self.probs.data.argmax(axis=-1).astype(np.int64))

    def entropy(self) -> Tensor:
        """H = −Σₖ pₖ log pₖ over the last axis, with 0·log 0 = 0: the logits are clipped to the
        dtype's most negative finite number first (PyTorch's rule), so a −inf logit contributes
        0 and no nan, to the value or the gradient."""
        lowest = float(np.finfo(self.logits.dtype).min)
        return -(self.logits.clip(lowest, None) * self.probs).sum(axis=-1)

    def __repr__(self) -> str:
        given = "probs" if "probs" in self.__dict__ else "logits"
        return f"Categorical({given}: shape {self.param_shape})"


@accepts_pytorch_spellings
def gumbel_softmax(
    logits: Tensor,
    tau: float = 1.0,
    hard: bool = False,
    axis: int = -1,
    rng: RngLike = None,
) -> Tensor:
    """A differentiable sample of the categorical distribution softmax(logits) (Jang et al.,
    Maddison et al.; ``torch.nn.functional.gumbel_softmax``):

        y = softmax((logits + g) / τ)  along ``axis``,  g = −log e,  e ~ Exp(1) (Gumbel noise)

    The noise depends only on ``rng`` and the shape (never on ``tau`` or ``hard``), so one seed
    gives the same draw at every temperature. ``hard=True`` returns the one-hot vector of
    argmax y, exactly, with the soft sample's gradient (straight-through): it is computed as
    y_hard + (y − detach(y)), whose value is y_hard + 0. Built from ``add``, ``div``, ``softmax``
    and ``sub``.
    """
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not tau > 0:
        raise ValueError(f"gumbel_softmax: tau must be a number > 0, got {tau!r}")
    if not isinstance(hard, bool | np.bool_):
        raise TypeError(f"gumbel_softmax: hard must be a bool, got {type(hard).__name__}")
    noise = -np.log(_exponential_noise(logits.shape, rng))
    soft = ((logits + noise.astype(logits.dtype, copy=False)) / tau).softmax(axis=axis)
    if not hard:
        return soft
    mark_unsafe("gumbel_softmax(hard=True) picks the winners with NumPy")
    one_hot = np.zeros(soft.shape, soft.dtype)
    winners = np.expand_dims(soft.data.argmax(axis=axis), axis)
    np.put_along_axis(one_hot, winners, 1.0, axis=axis)
    return one_hot + (soft - soft.detach())


@replayed_by_jit  # (inside a jitted step: new noise on every replay)
def _exponential_noise(shape: tuple, rng: RngLike) -> np.ndarray:
    """Standard exponential draws: −log of them is Gumbel noise."""
    return as_generator(rng).standard_exponential(shape)


__all__ = ["Categorical", "gumbel_softmax"]
