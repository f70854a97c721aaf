"""What the optimiser tests share: a few parameters of different shapes, a fixed stream of
gradients, and the same run in PyTorch, so that every option is compared step for step."""

from __future__ import annotations

import numpy as np

from tinygrad_sm import Tensor

SHAPES = [(3, 4), (5,), ()]


def starting_values(dtype=np.float64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.normal(size=shape), dtype) for shape in SHAPES]


def gradient_stream(steps: int, dtype=np.float64, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[np.asarray(rng.normal(size=shape), dtype) for shape in SHAPES] for _ in range(steps)]


def grouped(params: list, groups: list[dict] | None):
    """``params`` as the optimiser takes them: a list, or groups (params split 2 + 1) with
    ``groups``' overrides."""
    if groups is None:
        return params
    return [{"params": params[:2], **groups[0]}, {"params": params[2:], **groups[1]}]


def run_both(torch, our_class, settings: dict, groups=None, steps: int = 20, dtype=np.float64, check=None):
    """Our optimiser and PyTorch's, on the same parameters and gradients, for ``steps`` steps;
    ``check(ours, theirs)`` after each step (default: the parameters agree)."""
    ours = [Tensor(v.copy(), requires_grad=True) for v in starting_values(dtype)]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in starting_values(dtype)]
    our_optimizer = our_class(grouped(ours, groups), **settings)
    their_optimizer = getattr(torch.optim, our_class.__name__)(grouped(theirs, groups), **settings)
    for grads in gradient_stream(steps, dtype):
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = Tensor(g.copy()), torch.from_numpy(g.copy())
        our_optimizer.step()
        their_optimizer.step()
        assert_same_parameters(ours, theirs, dtype)
    return our_optimizer, their_optimizer, ours, theirs


def assert_same_parameters(ours, theirs, dtype=np.float64) -> None:
    tolerance = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for p, q in zip(ours, theirs):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), **tolerance)


def to_torch_state_dict(torch, state_dict: dict) -> dict:
    """Our state dict with its arrays as torch tensors (what ``torch.save`` of ours would hold)."""
    state = {
        index: {
            key: torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value for key, value in entries.items()
        }
        for index, entries in state_dict["state"].items()
    }
    return {"state": state, "param_groups": [dict(group) for group in state_dict["param_groups"]]}


def assert_state_dicts_agree(ours: dict, theirs: dict) -> None:
    """Same indices, same state keys and values, same hyper-parameters where both have them."""
    assert ours["state"].keys() == theirs["state"].keys()
    for index, entries in ours["state"].items():
        their_entries = {key: value for key, value in theirs["state"][index].items() if value is not None}
        assert entries.keys() == their_entries.keys()
        for key, value in entries.items():
            np.testing.assert_allclose(np.asarray(value, float), np.asarray(their_entries[key], float), rtol=1e-12, atol=1e-14)
    for our_group, their_group in zip(ours["param_groups"], theirs["param_groups"], strict=True):
        assert our_group["params"] == their_group["params"]
        for key, value in our_group.items():
            assert value == their_group[key], key
