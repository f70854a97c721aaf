"""Argument helpers shared by the data package (the rng rules live in ``tinygrad_sm.random``)."""

from __future__ import annotations

import numbers

import numpy as np

from ..random import as_generator as _as_generator  # noqa: F401  (re-exported for the data modules)

RngLike = int | np.integer | np.random.Generator | None


def _check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise ValueError if it is not an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
