"""Normalisation layers: BatchNorm1d, BatchNorm2d (with running statistics) and LayerNorm.

Each holds PyTorch's parameters and buffers under PyTorch's names and calls ``F.batch_norm`` /
``F.layer_norm`` (``operations/`` computes them and their gradients).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .._checks import number_in_range, positive_int
from ..random import RngLike, as_generator
from ..replay import mark_unsafe, replayed_by_jit
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from .module import Module


class _BatchNorm(Module):
    """y = (x − μ) / √(σ² + eps) · γ + β per channel (axis 1), with μ, σ² the batch's mean and
    biased variance in training and the running estimates in eval().

    Buffers, as PyTorch: ``running_mean`` (zeros), ``running_var`` (ones) and
    ``num_batches_tracked`` (a 0-d int64), updated by each training step as
    r ← (1 − m)·r + m·batch statistic (the unbiased variance for ``running_var``), with
    m = ``momentum``, or m = 1 / num_batches_tracked (the cumulative average) when ``momentum``
    is None. Parameters ``weight`` γ (ones) and ``bias`` β (zeros) when ``affine`` (PyTorch's
    keyword-only ``bias=False``: γ alone). Without
    ``track_running_stats`` there are no buffers and batch statistics are used in eval() too.
    ``rng`` is taken like every layer that initialises parameters; these start as constants, so
    nothing is drawn from it.
    """

    #: the input ranks this layer accepts (BatchNorm1d: (N, C) or (N, C, L); BatchNorm2d: 4-d)
    input_ranks: tuple[int, ...]

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        rng: RngLike = None,
        *,
        bias: bool = True,
    ):
        name = type(self).__name__
        as_generator(rng)  # a bad rng= is refused as everywhere else
        self.num_features = positive_int(f"{name}: num_features", num_features)
        number_in_range(name, "eps", eps, 0.0)
        if momentum is not None:
            number_in_range(name, "momentum", momentum, 0.0, 1.0)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = get_default_dtype()
        self.weight = Tensor.ones(num_features, dtype=dtype, requires_grad=True) if affine else None
        self.bias = (
            Tensor.zeros(num_features, dtype=dtype, requires_grad=True)
            if affine and bias
            else None
        )
        tracking = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if tracking else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if tracking else None)
        self.register_buffer(
            "num_batches_tracked", np.array(0, dtype=np.int64) if tracking else None
        )

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0.0
            self.running_var.data[...] = 1.0
            self.num_batches_tracked.data[...] = 0

    def _check_input(self, input: Tensor) -> None:
        name = type(self).__name__
        if input.ndim not in self.input_ranks:
            ranks = " or ".join(f"{rank}-d" for rank in self.input_ranks)
            raise ValueError(f"{name}: expected {ranks} input, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: input has {input.shape[1]} channels (axis 1 of shape {input.shape}) "
                f"but num_features={self.num_features}"
            )
        if (self.training or not self.track_running_stats) and input.size == input.shape[1]:
            raise ValueError(
                f"{name}: expected more than 1 value per channel when training, got input of "
                f"shape {input.shape}"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)  # before any buffer changes
        counting = self.training and self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if counting and self.momentum is None:  # this batch's weight in the cumulative average
            mark_unsafe("BatchNorm with momentum=None reads its batch count into Python")
            momentum = 1.0 / (int(self.num_batches_tracked.data) + 1)
        # eval() without running statistics normalises with the batch's own, as PyTorch
        use_batch_statistics = self.training or not self.track_running_stats
        output = F.batch_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=use_batch_statistics,
            momentum=momentum,
            eps=self.eps,
        )
        if counting:  # counted once F.batch_norm accepted the input (a refused one changes nothing)
            _count_batch(self.num_batches_tracked)
        return output

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs over every axis but C."""

    input_ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` inputs over N, H and W."""

    input_ranks = (4,)


class LayerNorm(Module):
    """y = (x − μ) / √(σ² + eps) · γ + β, with μ, σ² the mean and biased variance over the last
    ``len(normalized_shape)`` axes, which must equal ``normalized_shape``.

    Parameters, as PyTorch: ``weight`` γ (ones) and ``bias`` β (zeros) of shape
    ``normalized_shape`` when ``elementwise_affine`` (``bias=False``: no β). ``rng`` is taken like
    every layer that initialises parameters; these start as constants, so nothing is drawn from it.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        rng: RngLike = None,
    ):
        as_generator(rng)  # a bad rng= is refused as everywhere else
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, numbers.Integral)
            else tuple(normalized_shape)
        )
        self.normalized_shape = tuple(
            positive_int("LayerNorm: every size of normalized_shape", n) for n in shape
        )
        number_in_range("LayerNorm", "eps", eps, 0.0)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = get_default_dtype()
        self.weight = (
            Tensor.ones(self.normalized_shape, dtype=dtype, requires_grad=True)
            if elementwise_affine
            else None
        )
        self.bias = (
            Tensor.zeros(self.normalized_shape, dtype=dtype, requires_grad=True)
            if elementwise_affine and bias
            else None
        )

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


@replayed_by_jit  # (inside a jitted step: counted on every replay)
def _count_batch(num_batches_tracked: Tensor) -> None:
    num_batches_tracked.data[...] += 1
