"""Convolution and pooling layers: Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d and
the adaptive pools AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d.

Each holds PyTorch's parameters and arguments and calls the op of the same name in ``F``
(``operations/`` computes it and its gradient).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .._checks import positive_int
from ..random import RngLike, as_generator
from ..tensor import Tensor
from . import functional as F
from .module import Module

#: PyTorch's padding modes other than 'zeros', as np.pad's modes
_PADDING_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _tuple(what: str, value: Any, n: int, low: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, each >= ``low``, as an ``n``-tuple (PyTorch's
    ``_pair``), or a ValueError naming ``what``."""
    values = (value,) * n if isinstance(value, numbers.Integral) else value
    if (
        not isinstance(values, tuple | list)
        or len(values) != n
        or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low for v in values
        )
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
        if padding_mode not in ("zeros", *_PADDING_MODES):
            raise ValueError(
                f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                f"got {padding_mode!r}"
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

    def _padded(self, input: Tensor) -> tuple[Tensor, tuple[int, ...] | str | int]:
        """(input, padding) for the op: with padding_mode 'zeros' the op pads; otherwise the input
        is padded here, each spatial axis by reading its positions reflected, replicated or
        wrapped around (as ``F.pad`` in PyTorch's layers), and the op pads nothing."""
        if self.padding_mode == "zeros":
            return input, self.padding
        name, n = type(self).__name__, self.spatial_axes
        if self.padding == "same":  # d·(k − 1) in all, the odd one after, as the op does
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            pairs = [(t // 2, t - t // 2) for t in totals]
        else:
            pairs = [(p, p) for p in (self.padding if self.padding != "valid" else (0,) * n)]
        for axis, (before, after) in zip(range(input.ndim - n, input.ndim), pairs):
            size = input.shape[axis]
            limit = size - 1 if self.padding_mode == "reflect" else size
            if self.padding_mode != "replicate" and max(before, after) > limit:
                raise ValueError(
                    f"{name}: padding_mode={self.padding_mode!r} needs a padding of at most "
                    f"{limit} on an axis of size {size}, got {max(before, after)}"
                )
            positions = np.pad(np.arange(size), (before, after), _PADDING_MODES[self.padding_mode])
            input = input[(slice(None),) * axis + (positions,)]
        return input, 0

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self.spatial_axes:
            text += f", padding={self.padding}"  # PyTorch's: padding=same, unquoted
        if self.dilation != (1,) * self.spatial_axes:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv1d(_ConvNd):
    """1-d convolution of ``(N, C_in, L)`` (or unbatched ``(C_in, L)``) inputs with ``F.conv1d``;
    weight ``(out_channels, in_channels / groups, k)``."""

    spatial_axes = 1

    def forward(self, input: Tensor) -> Tensor:
        input, padding = self._padded(input)
        return F.conv1d(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )


class Conv2d(_ConvNd):
    """2-d convolution of ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``) inputs with
    ``F.conv2d``; weight ``(out_channels, in_channels / groups, kH, kW)``."""

    spatial_axes = 2

    def forward(self, input: Tensor) -> Tensor:
        input, padding = self._padded(input)
        return F.conv2d(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )


class _Pool(Module):
    """A pooling window over ``spatial_axes`` axes: ``kernel_size``, ``stride`` (default: the
    kernel size), ``padding`` (ints or tuples, kept as given, as PyTorch), checked here so a bad
    one fails at construction."""

    spatial_axes = 2

    def __init__(self, kernel_size, stride, padding, ceil_mode: bool):
        name, axes = type(self).__name__, self.spatial_axes
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        kernel = _tuple(f"{name}: kernel_size", _one(kernel_size), axes, 1)
        if not (isinstance(stride, tuple | list) and len(stride) == 0):  # (): the kernel size
            _tuple(f"{name}: stride", _one(self.stride), axes, 1)
        pads = _tuple(f"{name}: padding", _one(padding), axes, 0)
        _check_pool_padding(name, kernel, pads, padding, kernel_size)


def _one(value: Any) -> Any:
    """A 1-tuple's element (it stands for both axes, as in PyTorch's pools)."""
    return value[0] if isinstance(value, tuple | list) and len(value) == 1 else value


class _MaxPool(_Pool):
    """y = the maximum of each ``kernel_size`` window (padding counts as −∞); the gradient goes
    to the first maximum of each window, as PyTorch. ``return_indices``: forward returns
    (y, indices), as the functional form."""

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] | None = None,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        _tuple(f"{type(self).__name__}: dilation", _one(dilation), self.spatial_axes, 1)
        self.dilation = dilation
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        pool = F.max_pool2d if self.spatial_axes == 2 else F.max_pool1d
        return pool(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPool):
    """Max pooling of (N, C, H, W) or (C, H, W) with ``F.max_pool2d``."""

    spatial_axes = 2


class AvgPool2d(_Pool):
    """y = the mean of each ``kernel_size`` window, zero padding included in the count by default
    (PyTorch's ``count_include_pad=True``); ``divisor_override`` replaces the count."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_MaxPool):
    """Max pooling of (N, C, L) or (C, L) with ``F.max_pool1d``; the arguments are kept as
    given, as PyTorch."""

    spatial_axes = 1


class AvgPool1d(Module):
    """y = the mean of each ``kernel_size`` window of (N, C, L) or (C, L), zero padding included
    in the count by default, with ``F.avg_pool1d``; kernel_size, stride and padding are kept as
    1-tuples, as PyTorch."""

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ):
        name = type(self).__name__
        self.kernel_size = _tuple(f"{name}: kernel_size", _one(kernel_size), 1, 1)
        empty = stride is None or (isinstance(stride, tuple | list) and len(stride) == 0)
        self.stride = self.kernel_size if empty else _tuple(f"{name}: stride", _one(stride), 1, 1)
        self.padding = _tuple(f"{name}: padding", _one(padding), 1, 0)
        _check_pool_padding(name, self.kernel_size, self.padding, padding, kernel_size)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_pool_padding(
    name: str, kernel: tuple, pads: tuple, padding: Any, kernel_size: Any
) -> None:
    """A ValueError naming the pool unless each padding is at most half its kernel (PyTorch's)."""
    for k, p in zip(kernel, pads):
        if p > k // 2:
            raise ValueError(
                f"{name}: padding {padding} must be at most half the kernel size {kernel_size}"
            )


class _AdaptivePool(Module):
    """An adaptive pool: ``output_size`` (an int, or one entry per spatial axis, None keeping that
    size), kept as given and checked here so a bad one fails at construction."""

    spatial_axes: int

    def __init__(self, output_size):
        _check_output_size(type(self).__name__, output_size, self.spatial_axes)
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def _check_output_size(name: str, output_size: Any, n: int) -> None:
    """A ValueError naming the module unless ``output_size`` is a positive int or ``n`` of them
    (the 2-d pools: None keeps that size)."""
    values = output_size if isinstance(output_size, tuple | list) else (output_size,) * n
    if len(values) != n or not all(
        (v is None and n == 2)
        or (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1)
        for v in values
    ):
        keep = " (None: keep that size)" if n == 2 else ""
        raise ValueError(
            f"{name}: output_size must be a positive int or {n} of them{keep}, got {output_size!r}"
        )


class AdaptiveAvgPool1d(_AdaptivePool):
    """y = the mean of each adaptive window of (N, C, L) or (C, L), ``output_size`` windows
    (PyTorch's rule: window i covers ⌊i·L / out⌋ to ⌈(i + 1)·L / out⌉), with
    ``F.adaptive_avg_pool1d``."""

    spatial_axes = 1

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """y = the mean of each adaptive window of (N, C, H, W) or (C, H, W), ``output_size`` (an
    int, or a pair, None keeping that size) windows, with ``F.adaptive_avg_pool2d``;
    ``AdaptiveAvgPool2d(1)`` is the global average pool."""

    spatial_axes = 2

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveMaxPool1d(_AdaptivePool):
    """y = the maximum of each adaptive window of (N, C, L) or (C, L), with
    ``F.adaptive_max_pool1d``; ``return_indices``: forward returns (y, indices)."""

    spatial_axes = 1

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptivePool):
    """y = the maximum of each adaptive window of (N, C, H, W) or (C, H, W), with
    ``F.adaptive_max_pool2d``; the gradient goes to the first maximum of each window, as PyTorch.
    ``return_indices``: forward returns (y, indices)."""

    spatial_axes = 2

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)
