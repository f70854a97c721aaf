"""Shared test setup: hypothesis profiles and the optional PyTorch oracle."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The PyTorch-oracle tests skip where torch is not installed; CI sets this so that they cannot.
if os.environ.get("TINYGRAD_SM_REQUIRE_TORCH"):
    import torch  # noqa: F401  (fails the run at once if the oracle is missing)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
