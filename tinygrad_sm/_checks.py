"""Argument checks shared across the package, so every module words its errors the same way."""

from __future__ import annotations

import math
import numbers


def positive_int(what: str, value: object) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``what`` if it is not an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


REDUCTIONS = ("mean", "sum", "none")


def reduction_name(what: str, value: object) -> str:
    """A loss's ``reduction``: "mean", "sum" or "none", or a ValueError naming ``what``."""
    if value not in REDUCTIONS:
        raise ValueError(f"{what}: reduction must be 'mean', 'sum' or 'none', got {value!r}")
    return value  # type: ignore[return-value]


def label_smoothing_value(what: str, value: object) -> float:
    """``label_smoothing`` as a float in [0, 1], or a ValueError naming ``what``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(f"{what}: label_smoothing must be a number in [0, 1], got {value!r}")
    return float(value)


def number_in_range(
    what: str, name: str, value: object, low: float, high: float = math.inf, high_open: bool = False
) -> None:
    """Raise a ValueError naming ``what`` and ``name`` unless ``value`` is a real number
    (not a bool) in [low, high] (or [low, high) with ``high_open``)."""
    if type(value) is float and low <= value < high:  # the usual case (optimisers check every step)
        return
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number and low <= value and (value < high if high_open else value <= high)):  # type: ignore[operator]
        interval = (
            f"[{low}, {high})"
            if high_open
            else (f">= {low}" if high == math.inf else f"[{low}, {high}]")
        )
        raise ValueError(f"{what}: invalid {name} {value!r} (expected a number {interval})")
