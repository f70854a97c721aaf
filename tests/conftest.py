"""Shared test setup: hypothesis profiles, the optional PyTorch oracle, and the import path.

pytest puts this folder (tests/) on sys.path, so ``helpers`` imports from every subfolder; the
subfolders have no ``__init__.py``, so test file basenames must be unique across tests/.
"""

import os
import sys
from pathlib import Path

# The PyTorch oracle runs tiny ops: with its default thread pool on a shared 2-core machine a
# (4, 3) batch norm took ~140 ms instead of ~0.1 ms. torch reads this when it is first imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# tests/reference/ holds the generator of the stored PyTorch results (a script, not a test);
# the parity tests import it by its name, ``make_torch_reference``, from tests/contract/.
sys.path.insert(0, str(Path(__file__).parent / "reference"))

# The PyTorch-oracle tests skip where torch is not installed; CI sets this so that they cannot.
if os.environ.get("TINYGRAD_SM_REQUIRE_TORCH"):
    import torch  # noqa: F401  (fails the run at once if the oracle is missing)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def registry_cleanup():
    """Forget the ops a test registers, so tests stay independent."""
    import tinygrad_sm
    from tinygrad_sm import Tensor
    from tinygrad_sm import function as function_module

    before = set(tinygrad_sm.ops())
    yield
    for name in set(tinygrad_sm.ops()) - before:
        function_module._REGISTRY.pop(name)
        if name in vars(Tensor):
            delattr(Tensor, name)
