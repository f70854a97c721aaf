"""Learning-rate schedulers: 50 epochs against PyTorch's, lr by lr, and state dicts both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_sm import Tensor, optim
from tinygrad_sm.optim import lr_scheduler

torch = pytest.importorskip("torch")
# (PyTorch warns when a scheduler steps without optimizer.step() in between; some tests do that on purpose)
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before:UserWarning")
TORCH_FLAGS = ("_is_initial", "_get_lr_called_within_step")


class Warmup:
    """A schedule function with state (a callable object: its __dict__ goes into the state dict)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.epochs)


CASES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10}),  # five periods: down, back up, down, ...
    ("CosineAnnealingLR", {"T_max": 17, "eta_min": 0.001}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.5, "total_iters": 20}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.95**epoch}),
    ("LambdaLR", {"lr_lambda": [lambda epoch: 1 / (epoch + 1), Warmup(8)]}),
]


def optimizers(lrs=(0.1, 0.03)):
    """Ours and PyTorch's SGD, with one group per learning rate."""
    ours = optim.SGD([{"params": [Tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in lrs], lr=1.0, momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.ones(2, requires_grad=True)], "lr": lr} for lr in lrs], lr=1.0, momentum=0.9)
    return ours, theirs


def schedulers(name, settings, lrs=(0.1, 0.03)):
    ours, theirs = optimizers(lrs)
    return getattr(lr_scheduler, name)(ours, **settings), getattr(torch.optim.lr_scheduler, name)(theirs, **settings)


@pytest.mark.parametrize(("name", "settings"), CASES)
def test_fifty_epochs_match_torch_lr_by_lr(name, settings):
    ours, theirs = schedulers(name, settings)
    for epoch in range(51):
        assert ours.last_epoch == theirs.last_epoch == epoch
        assert ours.get_last_lr() == theirs.get_last_lr()  # exactly: the same float operations in the same order
        assert [g["lr"] for g in ours.optimizer.param_groups] == ours.get_last_lr()
        ours.optimizer.step()
        theirs.optimizer.step()
        ours.step()
        theirs.step()


@pytest.mark.parametrize(("name", "settings"), [case for case in CASES if case[0] != "LambdaLR"])
def test_a_rate_changed_by_hand_carries_on_recursively_as_in_torch(name, settings):
    ours, theirs = schedulers(name, settings, lrs=(0.2,))
    for epoch in range(30):
        if epoch == 12:
            ours.optimizer.param_groups[0]["lr"] = theirs.optimizer.param_groups[0]["lr"] = 0.05
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr()


def test_cosine_annealing_follows_the_closed_form_within_rounding():
    ours, _ = schedulers("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}, lrs=(0.1,))
    for epoch in range(1, 10):
        ours.step()
        expected = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * epoch / 10)) / 2
        assert ours.get_last_lr()[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("name", "settings"), CASES)
def test_state_dicts_load_both_ways_and_the_schedules_continue_identically(name, settings):
    ours, theirs = schedulers(name, settings)
    for _ in range(13):
        ours.step()
        theirs.step()
    our_saved, their_saved = ours.state_dict(), theirs.state_dict()
    assert our_saved == {
        key: value for key, value in their_saved.items() if key not in ("_is_initial", "_get_lr_called_within_step")
    }
    assert our_saved["last_epoch"] == 13 and len(our_saved["base_lrs"]) == 2

    # resume each side from the other's state: optimiser first (it carries initial_lr), then the scheduler
    our_optimizer, their_optimizer = optimizers()
    our_optimizer.load_state_dict(theirs.optimizer.state_dict())
    their_optimizer.load_state_dict(ours.optimizer.state_dict())
    our_twin = getattr(lr_scheduler, name)(our_optimizer, **settings, last_epoch=12)
    their_twin = getattr(torch.optim.lr_scheduler, name)(their_optimizer, **settings, last_epoch=12)
    our_twin.load_state_dict(their_saved)
    their_twin.load_state_dict(our_saved)
    for _ in range(30):
        our_twin.step()
        their_twin.step()
        ours.step()
        assert our_twin.get_last_lr() == their_twin.get_last_lr() == ours.get_last_lr()


def test_lambda_lr_saves_a_callable_objects_attributes_never_a_function():
    warmup = Warmup(8)
    ours, _ = optimizers()
    scheduler = lr_scheduler.LambdaLR(ours, [lambda epoch: 1.0, warmup])
    assert scheduler.state_dict()["lr_lambdas"] == [None, {"epochs": 8}]
    saved = scheduler.state_dict()
    saved["lr_lambdas"] = [None, {"epochs": 2}]
    scheduler.load_state_dict(saved)
    assert warmup.epochs == 2


def test_the_first_rates_are_set_when_the_scheduler_is_made_and_initial_lr_is_kept():
    ours, _ = optimizers()
    scheduler = lr_scheduler.LinearLR(ours, start_factor=0.5)
    assert scheduler.get_last_lr() == [0.05, 0.015] and scheduler.base_lrs == [0.1, 0.03]
    assert [g["initial_lr"] for g in ours.param_groups] == [0.1, 0.03]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda o: lr_scheduler.StepLR("sgd", 3), TypeError, "StepLR: str is not an Optimizer"),
        (lambda o: lr_scheduler.StepLR(o, 0), ValueError, "StepLR: step_size must be a positive integer, got 0"),
        (lambda o: lr_scheduler.ExponentialLR(o, gamma=float("nan")), ValueError, "ExponentialLR: gamma must be a finite number"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=2.5), ValueError, "T_max must be a positive integer"),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError, r"start_factor must be in \(0, 1\], got 0"),
        (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError, r"end_factor must be in \[0, 1\], got 1.5"),
        (
            lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]),
            ValueError,
            r"expected 2 lr_lambdas \(one per parameter group\), got 1",
        ),
        (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, "lr_lambda 0 is a float, not callable"),
        (lambda o: lr_scheduler.StepLR(o, 3, last_epoch=4), KeyError, r"param_groups\[0\] has no 'initial_lr'"),
        (lambda o: lr_scheduler.StepLR(o, 3).load_state_dict({"gama": 0.5}), ValueError, r"unknown entries \['gama'\]"),
        (
            lambda o: lr_scheduler.StepLR(o, 3).load_state_dict({"base_lrs": [0.1]}),
            ValueError,
            r"1 base_lrs for an optimiser with 2",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, message):
    ours, _ = optimizers()
    with pytest.raises(error, match=message):
        make(ours)


def test_a_scheduler_subclassed_from_pytorchs_old_base_name_works():
    class Halving(optim.lr_scheduler._LRScheduler):
        def get_lr(self):
            return [base * 0.5**self.last_epoch for base in self.base_lrs]

    optimizer = optim.SGD([Tensor(np.zeros(2), requires_grad=True)], lr=0.4)
    scheduler = Halving(optimizer)
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(0.1)] and scheduler.last_epoch == 2


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("StepLR", {"step_size": 3, "gamma": 0.5}),
        ("ExponentialLR", {"gamma": 0.9}),
        ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
        ("LinearLR", {"start_factor": 0.2, "total_iters": 4}),
        ("LambdaLR", {"lr_lambda": lambda epoch: 1 / (epoch + 1)}),
    ],
)
def test_the_deprecated_step_with_an_epoch_jumps_by_the_closed_form_as_torch(name, settings):
    rates = {}
    for library, make_optimizer, schedulers, parameter in (
        ("torch", torch.optim.SGD, torch.optim.lr_scheduler, torch.zeros(1, requires_grad=True)),
        ("ours", optim.SGD, lr_scheduler, Tensor(np.zeros(1), requires_grad=True)),
    ):
        optimizer = make_optimizer([parameter], lr=0.1)
        scheduler = getattr(schedulers, name)(optimizer, **settings)
        seen = []
        for epoch in [1, 2, 7, 3, 10, 0]:
            optimizer.step()
            with pytest.warns(UserWarning):
                scheduler.step(epoch)
            seen.append(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()  # (and on from there, recursively)
            seen.append(scheduler.get_last_lr()[0])
        rates[library] = seen
    np.testing.assert_allclose(rates["ours"], rates["torch"], rtol=1e-12)
