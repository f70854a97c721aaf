"""Argument helpers shared by the data package (the rng rules live in ``tinygrad_sm.random``)."""

from __future__ import annotations

import numpy as np

from ..random import as_generator as _as_generator  # noqa: F401  (re-exported for the data modules)

RngLike = int | np.integer | np.random.Generator | None

