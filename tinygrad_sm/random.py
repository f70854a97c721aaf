"""The library's default random generator and the one way to turn an ``rng=`` argument into a Generator."""

from __future__ import annotations

import numpy as np

_default = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the default generator used wherever ``rng=None``."""
    global _default
    _default = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The generator used when an ``rng=`` argument is None."""
    return _default


def as_generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    """None -> the default generator, an int -> a new seeded generator, a Generator -> itself."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be non-negative, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")
