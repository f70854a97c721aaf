"""RMSprop: 20 steps against PyTorch for every combination of its options."""

from __future__ import annotations

import numpy as np
import pytest
from optim_helpers import run_both

from tinygrad_sm import Tensor, optim

torch = pytest.importorskip("torch")

SETTINGS = [
    {},
    {"weight_decay": 0.1},
    {"centered": True},
    {"momentum": 0.9},
    {"momentum": 0.9, "centered": True},
    {"lr": 0.001, "alpha": 0.3, "eps": 1e-4, "weight_decay": 0.05, "momentum": 0.5, "centered": True},
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_twenty_steps_match_torch(settings, dtype):
    run_both(torch, optim.RMSprop, settings, dtype=dtype)


def test_parameter_groups_with_their_own_options_match_torch():
    run_both(torch, optim.RMSprop, {}, groups=[{"centered": True, "lr": 0.003}, {"momentum": 0.7, "alpha": 0.9}])


def test_the_state_has_pytorchs_keys_for_the_options_used():
    p = Tensor(np.ones(2), requires_grad=True)
    plain, full = optim.RMSprop([p]), optim.RMSprop([p], momentum=0.9, centered=True)
    p.grad = Tensor(np.ones(2))
    plain.step()
    full.step()
    assert list(plain.state[p]) == ["step", "square_avg"]
    assert list(full.state[p]) == ["step", "square_avg", "momentum_buffer", "grad_avg"]


@pytest.mark.parametrize("name", ["lr", "alpha", "eps", "weight_decay", "momentum"])
def test_negative_hyperparameters_are_refused(name):
    with pytest.raises(ValueError, match=f"RMSprop: invalid .*{name}.* -1"):
        optim.RMSprop([Tensor(np.ones(2), requires_grad=True)], **{name: -1})
