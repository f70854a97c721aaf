"""nn.utils: clip_grad_norm_ and clip_grad_value_ (tinygrad_sm/nn/utils.py), against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (5,), ()]


def parameters_with_grads(scale=1.0, dtype=np.float32, seed=0, none_at=None):
    """Ours and PyTorch's parameters with the same gradients (``none_at``: that one has none)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, shape in enumerate(SHAPES):
        value, grad = np.asarray(rng.normal(size=shape), dtype), np.asarray(scale * rng.normal(size=shape), dtype)
        p, q = Tensor(value, requires_grad=True), torch.tensor(value, requires_grad=True)
        if i != none_at:
            p.grad, q.grad = Tensor(grad.copy()), torch.from_numpy(grad.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


def assert_same_grads(ours, theirs, rtol=1e-6):
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            assert p.grad.dtype == p.dtype
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, "inf", 0.0])
@pytest.mark.parametrize(("scale", "max_norm"), [(1.0, 1.0), (0.01, 1.0), (10.0, 0.5)])
@pytest.mark.parametrize("none_at", [None, 1])
def test_clip_grad_norm_matches_torch(norm_type, scale, max_norm, none_at):
    torch = pytest.importorskip("torch")
    ours, theirs = parameters_with_grads(scale, none_at=none_at)
    our_total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(our_total, Tensor) and our_total.shape == () and our_total.dtype == np.float32
    np.testing.assert_allclose(our_total.item(), their_total.item(), rtol=1e-6)
    assert_same_grads(ours, theirs)


def test_the_clipped_norm_is_max_norm_and_small_gradients_are_left_exactly_alone():
    ours, _ = parameters_with_grads(10.0, dtype=np.float64)
    before = clip_grad_norm_(ours, 2.0)
    assert before.item() > 2.0
    after = clip_grad_norm_(ours, 2.0)
    assert after.item() == pytest.approx(2.0, rel=1e-6)
    grads = [p.grad.numpy().copy() for p in ours]
    clip_grad_norm_(ours, 100.0)
    for p, g in zip(ours, grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_gradients_are_scaled_in_place_and_a_single_tensor_or_a_generator_is_accepted():
    p = Tensor(np.ones(2), requires_grad=True)
    p.grad = Tensor(np.array([3.0, 4.0]))
    grad, array = p.grad, p.grad.data
    assert clip_grad_norm_(p, 1.0).item() == 5.0
    assert p.grad is grad and p.grad.data is array
    np.testing.assert_allclose(array, [0.6, 0.8], rtol=1e-6)
    model = nn.Linear(3, 2, rng=0)
    model(Tensor(np.ones((4, 3), np.float32))).sum().backward()
    total = clip_grad_norm_(model.parameters(), 0.1)  # a generator: read once
    assert total.item() > 0.1 and clip_grad_norm_(model.parameters(), 1.0).item() == pytest.approx(0.1, rel=1e-5)


def test_no_gradients_give_a_zero_norm():
    p = Tensor(np.ones(2), requires_grad=True)
    total = clip_grad_norm_([p], 1.0)
    assert total.shape == () and total.item() == 0.0 and p.grad is None


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_nonfinite_total_norm_scales_to_nan_as_torch_or_raises_when_asked(bad):
    torch = pytest.importorskip("torch")
    ours, theirs = parameters_with_grads()
    ours[0].grad.data[0, 0] = bad
    theirs[0].grad[0, 0] = bad
    our_total, their_total = clip_grad_norm_(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    np.testing.assert_array_equal(our_total.numpy(), their_total.numpy())
    assert_same_grads(ours, theirs)
    ours, _ = parameters_with_grads()
    ours[2].grad.data[...] = bad
    before = [p.grad.numpy().copy() for p in ours]
    with pytest.raises(RuntimeError, match=f"clip_grad_norm_: the total norm of order 2.0 of the gradients is {bad}"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    for p, g in zip(ours, before):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_a_read_only_gradient_array_is_replaced_not_written():
    p = Tensor(np.ones(2), requires_grad=True)
    p.grad = Tensor(np.ones(2))
    p.grad.data = np.broadcast_to(np.array([3.0]), (2,))
    clip_grad_norm_(p, 1.0)
    clip_grad_value_(p, 0.5)
    np.testing.assert_allclose(p.grad.numpy(), [0.5, 0.5])


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 2.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch = pytest.importorskip("torch")
    ours, theirs = parameters_with_grads(none_at=0)
    ours[1].grad.data[0] = theirs[1].grad[0] = np.nan
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert_same_grads(ours, theirs)


def test_clipping_between_backward_and_step_trains_as_torch():
    torch = pytest.importorskip("torch")
    ours = nn.MLP([4, 8, 3], rng=0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for q, p in zip(theirs.parameters(), ours.parameters()):
            q.copy_(torch.from_numpy(p.numpy()))
    our_optimizer, their_optimizer = optim.SGD(ours.parameters(), lr=0.5), torch.optim.SGD(theirs.parameters(), lr=0.5)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 3, size=16)
        our_optimizer.zero_grad()
        ours(Tensor(x)).cross_entropy(y).backward()
        clip_grad_norm_(ours.parameters(), 0.05)
        our_optimizer.step()
        their_optimizer.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.05)
        their_optimizer.step()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda p: clip_grad_norm_(p, -1.0), ValueError, r"clip_grad_norm_: invalid max_norm -1.0 \(expected a number >= 0.0\)"),
        (lambda p: clip_grad_norm_(p, float("nan")), ValueError, "invalid max_norm nan"),
        (lambda p: clip_grad_norm_(p, 1.0, norm_type="two"), ValueError, "could not convert string to float"),
        (lambda p: clip_grad_norm_([p, np.ones(2)], 1.0), TypeError, "clip_grad_norm_: parameter 1 is a ndarray, not a Tensor"),
        (lambda p: clip_grad_value_(p, -0.5), ValueError, "clip_grad_value_: invalid clip_value -0.5"),
        (lambda p: clip_grad_value_([np.ones(2)], 1.0), TypeError, "clip_grad_value_: parameter 0 is a ndarray"),
    ],
)
def test_bad_arguments_raise_clear_errors_and_change_nothing(call, error, message):
    p = Tensor(np.ones(2), requires_grad=True)
    p.grad = Tensor(np.array([30.0, 40.0]))
    with pytest.raises(error, match=message):
        call(p)
    np.testing.assert_array_equal(p.grad.numpy(), [30.0, 40.0])


def test_nn_utils_is_reachable_as_torch_users_expect():
    import tinygrad_sm

    assert tinygrad_sm.nn.utils.clip_grad_norm_ is clip_grad_norm_ and nn.utils.clip_grad_value_ is clip_grad_value_


def test_pytorchs_foreach_keyword_is_accepted_and_changes_nothing():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = Tensor(np.array([3.0, 4.0]))
    norm = clip_grad_norm_(parameters=[p], max_norm=1.0, norm_type=2.0, error_if_nonfinite=False, foreach=None)
    assert norm.item() == 5.0
    clip_grad_value_([p], clip_value=0.7, foreach=False)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.7], rtol=1e-6)
