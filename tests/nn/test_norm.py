"""BatchNorm1d, BatchNorm2d, LayerNorm: PyTorch's parameters and buffers, train/eval, running
statistics step for step, outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from nn_parity import assert_matches_torch, same_layout

import tinygrad_sm
from tinygrad_sm import Tensor, nn

torch = pytest.importorskip("torch")


def random(*shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5).astype(np.float32)


BATCH_NORMS = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 2)),
]
OPTIONS = [dict(), dict(momentum=None), dict(momentum=0.3, eps=1e-3), dict(affine=False), dict(track_running_stats=False),
           dict(bias=False)]  # (PyTorch's keyword-only bias=False: γ alone)


def test_batch_norm_parameters_and_buffers_are_pytorchs():
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    same_layout(ours, theirs)
    assert list(ours.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [name for name, _ in ours.named_parameters()] == ["weight", "bias"]
    assert ours.num_batches_tracked.dtype == np.int64 and ours.num_batches_tracked.shape == ()
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], value.numpy())
    same_layout(
        nn.BatchNorm1d(3, affine=False, track_running_stats=False),
        torch.nn.BatchNorm1d(3, affine=False, track_running_stats=False),
    )
    assert nn.BatchNorm1d(3, affine=False).state_dict().keys() == {"running_mean", "running_var", "num_batches_tracked"}
    same_layout(nn.BatchNorm2d(3, bias=False), torch.nn.BatchNorm2d(3, bias=False))
    assert nn.BatchNorm2d(3, bias=False).bias is None


@pytest.mark.parametrize(
    ("ours", "theirs", "arguments"),
    [(nn.BatchNorm1d, torch.nn.BatchNorm1d, kw) for kw in (dict(), dict(bias=False), dict(affine=False, momentum=None))]
    + [(nn.LayerNorm, torch.nn.LayerNorm, kw) for kw in (dict(), dict(bias=False), dict(elementwise_affine=False))],
    ids=str,
)
def test_reprs_are_pytorchs(ours, theirs, arguments):
    assert repr(ours(3, **arguments)) == repr(theirs(3, **arguments))


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize(("ours", "theirs", "shape"), BATCH_NORMS, ids=["1d-2", "1d-3", "2d"])
def test_batch_norm_trains_and_evaluates_as_pytorch(ours, theirs, shape, options):
    ours, theirs = ours(shape[1], **options), theirs(shape[1], **options)
    if ours.affine:  # not the initial ones and zeros, so the affine part is tested
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    ours.load_state_dict(theirs.state_dict())
    for step in range(3):  # the running statistics follow PyTorch's step by step
        x = random(*shape, seed=step)
        np.testing.assert_allclose(ours(Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-6, atol=1e-6, err_msg=name)
    assert_matches_torch(ours, theirs, [random(*shape, seed=5)], rtol=1e-4, atol=1e-5)  # gradients in training
    ours.eval(), theirs.eval()
    assert_matches_torch(ours, theirs, [random(*shape, seed=9)], rtol=1e-4, atol=1e-5)
    for name, value in theirs.state_dict().items():  # eval() changed no buffer (ours were loaded from theirs)
        if name.startswith(("running", "num")):
            np.testing.assert_array_equal(ours.state_dict()[name], value.numpy(), err_msg=name)


def test_batch_norm_momentum_none_is_the_cumulative_average():
    layer = nn.BatchNorm1d(2, momentum=None)
    batches = [random(5, 2, seed=s) for s in range(4)]
    for batch in batches:
        layer(Tensor(batch))
    np.testing.assert_allclose(layer.running_mean.numpy(), np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var.numpy(), np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0), rtol=1e-5)
    layer.reset_running_stats()
    assert layer.num_batches_tracked.item() == 0 and layer.running_var.numpy().tolist() == [1.0, 1.0]


def test_batch_norm_running_statistics_are_saved_and_loaded(tmp_path):
    layer = nn.BatchNorm2d(3)
    layer(Tensor(random(2, 3, 4, 4)))
    tinygrad_sm.save(layer, tmp_path / "bn.npz")
    fresh = nn.BatchNorm2d(3)
    fresh.load_state_dict(tinygrad_sm.load(tmp_path / "bn.npz"))
    fresh.eval(), layer.eval()
    x = Tensor(random(2, 3, 4, 4, seed=1))
    np.testing.assert_array_equal(fresh(x).numpy(), layer(x).numpy())
    assert fresh.num_batches_tracked.item() == 1


def test_batch_norm_errors_change_no_state():
    layer = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-d input, got shape \(2, 3\)"):
        layer(Tensor(random(2, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2-d or 3-d input, got shape \(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(Tensor(random(2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"input has 4 channels \(axis 1 of shape \(2, 4, 2, 2\)\) but num_features=3"):
        layer(Tensor(random(2, 4, 2, 2)))
    with pytest.raises(
        ValueError, match=r"BatchNorm2d: expected more than 1 value per channel when training, got input of shape \(1, 3, 1, 1\)"
    ):
        layer(Tensor(random(1, 3, 1, 1)))
    with pytest.raises(TypeError, match="batch_norm: expected a floating-point input, got dtype int64"):
        layer(Tensor(np.ones((2, 3, 2, 2), dtype=np.int64)))  # refused by F.batch_norm itself
    assert layer.num_batches_tracked.item() == 0  # (PyTorch counts the failed batch; nothing changes here)
    assert layer.running_mean.numpy().tolist() == [0.0] * 3 and layer.running_var.numpy().tolist() == [1.0] * 3
    layer.eval()
    assert layer(Tensor(random(1, 3, 1, 1))).shape == (1, 3, 1, 1)  # running statistics: one value is fine
    with pytest.raises(ValueError, match="BatchNorm1d: invalid momentum 2"):
        nn.BatchNorm1d(3, momentum=2)
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        nn.BatchNorm2d(0)


@pytest.mark.parametrize(
    ("arguments", "shape"),
    [
        ((5,), (3, 5)),
        (((4, 5),), (2, 3, 4, 5)),
        ((5,), (2, 3, 5)),
        (dict(normalized_shape=5, bias=False), (3, 5)),
        (dict(normalized_shape=(3, 5), elementwise_affine=False, eps=1e-3), (2, 3, 5)),
    ],
    ids=str,
)
def test_layer_norm_matches_pytorch(arguments, shape):
    args, kwargs = (arguments, {}) if isinstance(arguments, tuple) else ((), arguments)
    ours, theirs = nn.LayerNorm(*args, **kwargs), torch.nn.LayerNorm(*args, **kwargs)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    assert_matches_torch(ours, theirs, [random(*shape)], rtol=1e-4, atol=1e-5)


def test_layer_norm_parameters_and_errors():
    layer = nn.LayerNorm(4)
    assert (
        layer.normalized_shape == (4,) and layer.weight.numpy().tolist() == [1.0] * 4 and layer.bias.numpy().tolist() == [0.0] * 4
    )
    assert nn.LayerNorm(4, bias=False).bias is None and nn.LayerNorm(4, elementwise_affine=False).state_dict() == {}
    for built in (nn.LayerNorm(4, rng=0), nn.BatchNorm1d(4, rng=np.random.default_rng(0))):  # rng= taken; nothing drawn
        assert all(np.array_equal(v, type(built)(4).state_dict()[k]) for k, v in built.state_dict().items())
    with pytest.raises(ValueError, match="LayerNorm: every size of normalized_shape must be a positive integer"):
        nn.LayerNorm((3, 0))
    with pytest.raises(ValueError):  # the op names the shapes
        layer(Tensor(random(2, 5)))


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 2, 2)),
        (lambda: nn.BatchNorm1d(3, affine=False), lambda: torch.nn.BatchNorm1d(3, affine=False), (5, 3)),
        (lambda: nn.LayerNorm((2, 3)), lambda: torch.nn.LayerNorm((2, 3)), (4, 2, 3)),
    ],
    ids=["batch_norm2d", "batch_norm1d", "layer_norm"],
)
def test_second_derivatives_match_pytorch(ours, theirs, shape):
    from nn_parity import assert_second_derivatives_match_torch

    theirs = theirs()
    for parameter in theirs.parameters():  # not the initial ones and zeros
        parameter.data.uniform_(0.5, 1.5)
    assert_second_derivatives_match_torch(ours, theirs, [random(*shape)])
    theirs.eval()
    assert_second_derivatives_match_torch(lambda: ours().eval(), theirs, [random(*shape)])
