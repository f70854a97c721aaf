"""Random-number-generator handling shared by the data package.

Kept free of any other ``tinygrad_sm`` import so that the data package works
on its own; the global default generator is looked up lazily.
"""

from __future__ import annotations

import numbers

import numpy as np

RngLike = int | np.integer | np.random.Generator | None


def _as_generator(rng: RngLike = None) -> np.random.Generator:
    """Turn ``rng`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        ``None`` uses the library-wide default generator
        (``tinygrad_sm.random.default_generator()``, so that
        ``tinygrad_sm.manual_seed`` applies) or, when that module is not
        available, a fresh ``np.random.default_rng()``. An int is used as a
        seed for a new generator. A Generator is returned unchanged (and is
        advanced by whoever draws from it).

    Returns
    -------
    numpy.random.Generator
    """
    if rng is None:
        try:
            from tinygrad_sm.random import default_generator
        except ImportError:
            return np.random.default_rng()
        return default_generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be non-negative, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        "rng must be None, an int seed or a numpy.random.Generator, "
        f"got {type(rng).__name__}"
    )


def _check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise ValueError if it is not an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
