"""The loss modules (tinygrad_sm/nn/loss.py): NLLLoss, MSELoss, BCEWithLogitsLoss — each its op with PyTorch's constructor
arguments, weights as buffers."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_sm import Tensor, nn
from tinygrad_sm.nn import functional as F
from tinygrad_sm.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)
X = rng.normal(size=(5, 4)).astype(np.float32)
Y = np.array([0, 3, 1, -100, 2])
T = rng.random((5, 4)).astype(np.float32)
W = np.array([1.0, 2.0, 0.5, 1.5], np.float32)


def run(module, x, target):
    x = Tensor(x, requires_grad=True)
    loss = module(x, target)
    loss.sum().backward()
    return loss.numpy(), x.grad.numpy()


def run_torch(module, x, target):
    x = torch.tensor(x, requires_grad=True)
    loss = module(x, target)
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("case", ["nll", "nll-weighted-sum", "mse", "mse-none", "bce", "bce-weights"])
def test_loss_modules_match_torch(case):
    if case.startswith("nll"):
        options = dict(weight=W, reduction="sum") if "weighted" in case else {}
        ours = run(NLLLoss(**options), X, Y)
        torch_options = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
        theirs = run_torch(torch.nn.NLLLoss(**torch_options), X, torch.tensor(Y))
    elif case.startswith("mse"):
        reduction = "none" if "none" in case else "mean"
        ours = run(MSELoss(reduction), X, T)
        theirs = run_torch(torch.nn.MSELoss(reduction=reduction), X, torch.tensor(T))
    else:
        options = dict(weight=W, pos_weight=W[::-1].copy()) if "weights" in case else {}
        ours = run(BCEWithLogitsLoss(**options), X, T)
        theirs = run_torch(torch.nn.BCEWithLogitsLoss(**{k: torch.tensor(v) for k, v in options.items()}), X, torch.tensor(T))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_modules_are_the_ops_with_their_options():
    x = Tensor(X)
    np.testing.assert_array_equal(
        NLLLoss(weight=W, ignore_index=1, reduction="none")(x, abs(Y) % 4).numpy(),
        F.nll_loss(x, abs(Y) % 4, weight=W, ignore_index=1, reduction="none").numpy(),
    )
    np.testing.assert_array_equal(MSELoss("sum")(x, T).numpy(), F.mse_loss(x, T, reduction="sum").numpy())
    np.testing.assert_array_equal(
        BCEWithLogitsLoss(weight=W, reduction="none", pos_weight=W)(x, T).numpy(),
        F.binary_cross_entropy_with_logits(x, T, weight=W, reduction="none", pos_weight=W).numpy(),
    )


def test_weights_are_buffers_in_the_state_dict_as_torch():
    WT = torch.tensor(W)
    for ours, theirs in [
        (BCEWithLogitsLoss(pos_weight=W), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(W))),
        (BCEWithLogitsLoss(weight=W, pos_weight=W), torch.nn.BCEWithLogitsLoss(weight=WT, pos_weight=WT)),
        (NLLLoss(weight=W), torch.nn.NLLLoss(weight=torch.tensor(W))),
        (NLLLoss(), torch.nn.NLLLoss()),
        (CrossEntropyLoss(weight=W), torch.nn.CrossEntropyLoss(weight=torch.tensor(W))),
        (MSELoss(), torch.nn.MSELoss()),
    ]:
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert list(ours.parameters()) == []
    loss = NLLLoss(weight=W)
    assert isinstance(loss.weight, Tensor) and not loss.weight.requires_grad
    loss.load_state_dict({"weight": np.ones(4, np.float32)})
    np.testing.assert_array_equal(loss.weight.numpy(), 1.0)


def test_reprs_and_bad_reductions():
    assert repr(NLLLoss()) == "NLLLoss(ignore_index=-100, reduction='mean')"
    assert repr(MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    assert repr(BCEWithLogitsLoss()) == "BCEWithLogitsLoss(reduction='mean')"
    for module in (NLLLoss, MSELoss, BCEWithLogitsLoss):
        with pytest.raises(ValueError, match=f"{module.__name__}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
            module(reduction="avg")


def test_exported_from_nn():
    assert (nn.NLLLoss, nn.MSELoss, nn.BCEWithLogitsLoss) == (NLLLoss, MSELoss, BCEWithLogitsLoss)


def test_training_a_logistic_regression_with_bce_with_logits():
    data = np.random.default_rng(1).normal(size=(64, 2))
    labels = (data[:, :1] + data[:, 1:] > 0).astype(np.float64)
    layer = nn.Linear(2, 1)
    loss_fn = BCEWithLogitsLoss()
    first = None
    for _ in range(50):
        loss = loss_fn(layer(Tensor(data)), labels)
        first = loss.item() if first is None else first
        layer.zero_grad()
        loss.backward()
        for p in layer.parameters():
            p.data -= 0.5 * p.grad.data
    assert loss.item() < first / 2
