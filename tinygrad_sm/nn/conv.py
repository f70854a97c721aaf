"""Convolution and pooling layers: Conv1d, Conv2d, MaxPool2d, AvgPool2d.

Each holds PyTorch's parameters and arguments and calls the op of the same name in ``F``
(``operations/`` computes it and its gradient).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .._checks import positive_int
from ..random import RngLike, as_generator
from ..tensor import Tensor
from . import functional as F
from .module import Module


def _tuple(what: str, value: Any, n: int, low: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, each >= ``low``, as an ``n``-tuple (PyTorch's
    ``_pair``), or a ValueError naming ``what``."""
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low for v in values
    ):
        raise ValueError(f"{what} must be an int >= {low} or {n} of them, got {value!r}")
    return tuple(int(v) for v in values)


class _ConvNd(Module):
    """y = conv(x, W) + b over ``n`` spatial axes; W has shape
    ``(out_channels, in_channels / groups, *kernel_size)``.

    Initialised as in PyTorch's ``reset_parameters``: ``kaiming_uniform_(W, a=√5)`` is
    U(−1/√fan_in, 1/√fan_in) with fan_in = in_channels / groups · ∏ kernel_size, and
    b ~ U(−1/√fan_in, 1/√fan_in); W is drawn before b, from ``rng``.
    """

    spatial_axes: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        rng: RngLike = None,
    ):
        name, n = type(self).__name__, self.spatial_axes
        self.in_channels = positive_int(f"{name}: in_channels", in_channels)
        self.out_channels = positive_int(f"{name}: out_channels", out_channels)
        self.groups = positive_int(f"{name}: groups", groups)
        for what, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups:
                raise ValueError(
                    f"{name}: {what} ({channels}) must be divisible by groups ({groups})"
                )
        if padding_mode != "zeros":
            raise ValueError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        self.kernel_size = _tuple(f"{name}: kernel_size", kernel_size, n, 1)
        self.stride = _tuple(f"{name}: stride", stride, n, 1)
        self.dilation = _tuple(f"{name}: dilation", dilation, n, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: padding must be 'same', 'valid', an int or {n} ints, got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = _tuple(f"{name}: padding", padding, n, 0)
        self.padding_mode = padding_mode

        generator = as_generator(rng)
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Tensor.uniform(
            shape, low=-bound, high=bound, rng=generator, requires_grad=True
        )
        self.bias = (
            Tensor.uniform(out_channels, low=-bound, high=bound, rng=generator, requires_grad=True)
            if bias
            else None
        )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self.spatial_axes:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.spatial_axes:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv1d(_ConvNd):
    """1-d convolution of ``(N, C_in, L)`` (or unbatched ``(C_in, L)``) inputs with ``F.conv1d``;
    weight ``(out_channels, in_channels / groups, k)``."""

    spatial_axes = 1

    def forward(self, input: Tensor) -> Tensor:
        return F.conv1d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class Conv2d(_ConvNd):
    """2-d convolution of ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``) inputs with
    ``F.conv2d``; weight ``(out_channels, in_channels / groups, kH, kW)``."""

    spatial_axes = 2

    def forward(self, input: Tensor) -> Tensor:
        return F.conv2d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class _Pool2d(Module):
    """A 2-d pooling window: ``kernel_size``, ``stride`` (default: the kernel size), ``padding``
    (ints or pairs, as PyTorch)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ):
        name = type(self).__name__
        self.kernel_size = _tuple(f"{name}: kernel_size", kernel_size, 2, 1)
        self.stride = (
            self.kernel_size if stride is None else _tuple(f"{name}: stride", stride, 2, 1)
        )
        self.padding = _tuple(f"{name}: padding", padding, 2, 0)
        for k, p in zip(self.kernel_size, self.padding):
            if p > k // 2:
                raise ValueError(
                    f"{name}: padding {self.padding} must be at most half the kernel size "
                    f"{self.kernel_size}"
                )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y = the maximum of each ``kernel_size`` window (padding counts as −∞); the gradient goes
    to the first maximum of each window, as PyTorch."""

    def forward(self, input: Tensor) -> Tensor:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """y = the mean of each ``kernel_size`` window, zero padding included in the count (PyTorch's
    ``count_include_pad=True``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding)
