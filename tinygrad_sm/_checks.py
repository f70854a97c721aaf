"""Argument checks shared across the package, so every module words its errors the same way."""

from __future__ import annotations

import numbers


def positive_int(what: str, value: object) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``what`` if it is not an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
