"""The library's default random generator and the one way to turn an ``rng=`` argument into a
Generator."""

from __future__ import annotations

import numbers

import numpy as np

#: what every ``rng=`` argument accepts: an int seed, a Generator, or None (the default generator)
RngLike = int | np.integer | np.random.Generator | None

_default = np.random.default_rng()


def _seed(what: str, seed: object) -> int:
    """``seed`` as a non-negative Python int, or a clear error naming ``what`` (NumPy's generators
    need >= 0)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{what} must be a non-negative int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{what} must be a non-negative int, got {seed}")
    return int(seed)


def manual_seed(seed: int) -> None:
    """Seed the default generator used wherever ``rng=None`` (``seed``: an int >= 0)."""
    global _default
    _default = np.random.default_rng(_seed("manual_seed: seed", seed))


def default_generator() -> np.random.Generator:
    """The generator used when an ``rng=`` argument is None."""
    return _default


def as_generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    """None -> the default generator, an int -> a new seeded generator, a Generator -> itself."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(_seed("rng seed", rng))
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}"
    )
