"""SGD: 20 steps against PyTorch for every combination of its options, groups included."""

from __future__ import annotations

import numpy as np
import pytest
from optim_helpers import run_both

from tinygrad_sm import Tensor, optim

torch = pytest.importorskip("torch")

SETTINGS = [
    {"lr": 0.1},
    {"lr": 0.1, "weight_decay": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05, "dampening": 0.5},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_twenty_steps_match_torch(settings, dtype):
    run_both(torch, optim.SGD, settings, dtype=dtype)


def test_parameter_groups_with_their_own_options_match_torch():
    groups = [{"lr": 0.2, "nesterov": True}, {"momentum": 0.5, "dampening": 0.1, "weight_decay": 0.1}]
    ours, theirs, _, _ = run_both(torch, optim.SGD, {"lr": 0.05, "momentum": 0.9}, groups=groups)
    for our_group, their_group in zip(ours.param_groups, theirs.param_groups):
        for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov"):
            assert our_group[key] == their_group[key]


def test_dampening_is_the_last_argument_and_defaults_to_zero():
    p = Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.SGD([p], 0.1, 0.9, 0.01, True)
    assert optimizer.param_groups[0]["dampening"] == 0.0 and optimizer.param_groups[0]["nesterov"] is True


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "nesterov": True},
            "nesterov=True requires a momentum > 0 and dampening 0",
        ),
        ({"lr": 0.1, "dampening": 1.5}, r"invalid dampening 1.5 \(expected a number \[0.0, 1.0\]\)"),
    ],
)
def test_bad_options_raise_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        optim.SGD([Tensor(np.ones(2), requires_grad=True)], **settings)
