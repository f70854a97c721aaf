"""Adam and AdamW: 20 steps against PyTorch for every combination of their options."""

from __future__ import annotations

import numpy as np
import pytest
from optim_helpers import run_both

from tinygrad_sm import Tensor, optim

torch = pytest.importorskip("torch")

SETTINGS = [
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1, "eps": 1e-3},
    {"lr": 0.02, "betas": (0.3, 0.9)},  # 1 − β₁ ≥ 0.5: PyTorch's lerp rounds from the other end
]


@pytest.mark.parametrize("optimizer_class", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_twenty_steps_match_torch(optimizer_class, settings, dtype):
    run_both(torch, optimizer_class, settings, dtype=dtype)


@pytest.mark.parametrize("optimizer_class", [optim.Adam, optim.AdamW])
def test_parameter_groups_with_their_own_options_match_torch(optimizer_class):
    groups = [{"lr": 0.05, "amsgrad": True}, {"betas": (0.5, 0.99), "weight_decay": 0.2}]
    run_both(torch, optimizer_class, {"lr": 0.01}, groups=groups)


def test_adamw_decouples_the_weight_decay_and_defaults_to_1e_2():
    # with a zero gradient Adam's step is 0, so only the decay moves p: p ← p·(1 − η·λ)
    p = Tensor(np.full(3, 2.0), requires_grad=True)
    optimizer = optim.AdamW([p], lr=0.1)
    assert optimizer.param_groups[0]["weight_decay"] == 1e-2
    p.grad = Tensor(np.zeros(3))
    optimizer.step()
    np.testing.assert_allclose(p.numpy(), 2.0 * (1 - 0.1 * 1e-2), rtol=1e-15)


def test_amsgrad_keeps_the_largest_second_moment():
    p = Tensor(np.zeros(1), requires_grad=True)
    optimizer = optim.Adam([p], amsgrad=True)
    for g in (3.0, 0.0, 0.0):
        p.grad = Tensor(np.array([g]))
        optimizer.step()
    state = optimizer.state[p]
    assert state["step"] == 3 and state["max_exp_avg_sq"][0] == pytest.approx(0.001 * 9)
    assert state["exp_avg_sq"][0] < state["max_exp_avg_sq"][0]
