"""nll_loss, mse_loss, binary_cross_entropy_with_logits (tinygrad_sm/operations/losses.py): values and gradients as PyTorch's."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, seeds
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def torch_run(fn, *arrays, requires_grad=(True,)):
    """fn on torch tensors of the arrays; returns the output and the gradients of output.sum() (None where not asked)."""
    tensors = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, requires_grad)]
    out = fn(*tensors)
    out.sum().backward()
    return out.detach().numpy(), [t.grad.numpy() if r else None for t, r in zip(tensors, requires_grad)]


def ours_run(fn, *arrays, requires_grad=(True,)):
    tensors = [Tensor(a, requires_grad=r) for a, r in zip(arrays, requires_grad)]
    out = fn(*tensors)
    out.sum().backward()
    return out.data, [t.grad.data if r else None for t, r in zip(tensors, requires_grad)]


def assert_same(ours, theirs, rtol=1e-12, atol=1e-14):
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=atol, equal_nan=True)
    for a, b in zip(ours[1], theirs[1]):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# ----- nll_loss ---------------------------------------------------------------------------------
NLL_SHAPES = [((5, 4), (5,)), ((4,), ()), ((2, 4, 3, 2), (2, 3, 2)), ((3, 4, 5), (3, 5))]


def nll_case(input_shape, target_shape, ignored, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape)
    y = rng.integers(0, input_shape[1] if len(input_shape) > 1 else input_shape[0], target_shape)
    if ignored and y.ndim:
        y.flat[::2] = -100
    return x, y


@pytest.mark.parametrize(
    "shapes, weighted, ignored, reduction",
    [
        pytest.param(s, w, i, r, id=f"{s[0]}-{'w' if w else 'no_w'}-{'ign' if i else 'all'}-{r}")
        for s, w, i, r in itertools.product(NLL_SHAPES, [False, True], [False, True], ["mean", "sum", "none"])
    ],
)
def test_nll_loss_values_gradients_and_second_derivatives(shapes, weighted, ignored, reduction):
    x, y = nll_case(*shapes, ignored)
    weight = np.array([0.5, 2.0, 1.25, 0.75]) if weighted else None
    options = dict(weight=weight, reduction=reduction)
    ours = ours_run(lambda t: F.nll_loss(t, y, **options), x)
    theirs = torch_run(
        lambda t: TF.nll_loss(t, torch.tensor(y), weight=None if weight is None else torch.tensor(weight), reduction=reduction), x
    )
    assert ours[0].shape == theirs[0].shape
    assert_same(ours, theirs)
    check_gradients(lambda t: t.nll_loss(y, **options), x)
    check_second_derivatives(lambda t: t.nll_loss(y, **options), x)


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    batch=st.integers(1, 4),
    classes=st.integers(1, 5),
    extra=st.lists(st.integers(1, 3), max_size=2),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    ignore_index=st.sampled_from([-100, 0, 1]),
)
def test_nll_loss_matches_torch(seed, batch, classes, extra, reduction, ignore_index):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, classes, *extra)).astype(np.float32)
    y = rng.integers(0, classes, (batch, *extra))
    weight = rng.uniform(0.1, 2.0, classes).astype(np.float32)
    options = dict(ignore_index=ignore_index, reduction=reduction)
    ours = ours_run(lambda t: t.nll_loss(y, weight=weight, **options), x)
    theirs = torch_run(lambda t: TF.nll_loss(t, torch.tensor(y), weight=torch.tensor(weight), **options), x)
    assert ours[0].dtype == np.float32
    assert_same(ours, theirs, rtol=1e-5, atol=1e-6)


def test_nll_loss_every_target_ignored_is_nan_with_a_zero_gradient_as_torch():
    x = Tensor(random_array(1, (3, 4)), requires_grad=True)
    loss = x.nll_loss(np.array([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, 0.0)
    assert F.nll_loss(Tensor(np.zeros((0, 3))), np.zeros(0, np.int64)).item() != 0  # (nan: an empty mean, as torch)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # (∞ · 0 in the discarded entries)
def test_nll_loss_ignored_entry_gets_zero_even_from_an_infinite_upstream_gradient():
    for create_graph in (False, True):
        x = Tensor(np.zeros((3, 4)), requires_grad=True)
        x.nll_loss(np.array([1, -100, 2]), reduction="none").backward(np.array([1.0, np.inf, 1.0]), create_graph=create_graph)
        np.testing.assert_array_equal(x.grad.data, [[0, -1, 0, 0], [0, 0, 0, 0], [0, 0, -1, 0]])


def test_nll_loss_of_log_softmax_is_cross_entropy():
    z = Tensor(random_array(2, (2, 5, 3)), requires_grad=True)
    y = np.array([[0, 4, 2], [1, 1, -100]])
    (via_nll,) = tinygrad_sm.grad(z.log_softmax(axis=1).nll_loss(y), z)
    (fused,) = tinygrad_sm.grad(z.cross_entropy(y), z)
    np.testing.assert_allclose(via_nll.data, fused.data, rtol=1e-12, atol=1e-15)


def test_nll_loss_bad_input_errors():
    x = Tensor(np.zeros((2, 3, 4)))
    expected = r"nll_loss: target must have shape \(2, 4\) for input of shape \(2, 3, 4\), got \(2, 3\)"
    with pytest.raises(ValueError, match=expected):
        x.nll_loss(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="nll_loss: target must be integer class indices"):
        x.nll_loss(np.zeros((2, 4)))
    with pytest.raises(IndexError, match=r"nll_loss: target 3 is out of range for 3 classes \(expected 0..2"):
        x.nll_loss(np.array([[0, 1, 2, 3], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"nll_loss: weight must have shape \(3,\)"):
        x.nll_loss(np.zeros((2, 4), np.int64), weight=np.ones(4))
    with pytest.raises(ValueError, match="nll_loss: reduction must be"):
        x.nll_loss(np.zeros((2, 4), np.int64), reduction="avg")
    with pytest.raises(ValueError, match="nll_loss: input must have shape"):
        Tensor(1.0).nll_loss(0)
    with pytest.raises(TypeError, match="nll_loss: input must be floating point, got int64"):
        Tensor([[1, 2]]).nll_loss([0])
    with pytest.raises(RuntimeError, match="nll_loss: weight requires grad"):
        Tensor(np.zeros((2, 3)), requires_grad=True).nll_loss([0, 1], weight=Tensor(np.ones(3), requires_grad=True))


# ----- mse_loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_mse_loss_values_gradients_to_both_and_second_derivatives(shape, reduction):
    x, t = random_array(3, shape), random_array(4, shape)
    both = (True, True)
    ours = ours_run(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, t, requires_grad=both)
    theirs = torch_run(lambda a, b: TF.mse_loss(a, b, reduction=reduction), x, t, requires_grad=both)
    assert_same(ours, theirs)
    check_gradients(lambda a, b: a.mse_loss(b, reduction=reduction), x, t)
    check_second_derivatives(lambda a, b: a.mse_loss(b, reduction=reduction), x, t)


def test_mse_loss_hessian_is_two_over_n_identity():
    x, t = random_array(5, (2, 3)), random_array(6, (2, 3))
    hessian = tinygrad_sm.hessian(lambda a: a.mse_loss(t), x)
    np.testing.assert_allclose(hessian.reshape(6, 6), 2 / 6 * np.eye(6), atol=1e-14)


@pytest.mark.parametrize("x_shape, t_shape", [((3, 1), (3,)), ((4,), (2, 4)), ((2, 1, 3), (5, 1))])
def test_mse_loss_broadcasts_with_pytorch_warning_and_values(x_shape, t_shape):
    x, t = random_array(7, x_shape), random_array(8, t_shape)
    with pytest.warns(UserWarning, match=r"mse_loss: using a target shape .* different from the input shape"):
        ours = ours_run(lambda a, b: a.mse_loss(b), x, t, requires_grad=(True, True))
    with pytest.warns(UserWarning, match="different to the input size"):
        theirs = torch_run(lambda a, b: TF.mse_loss(a, b), x, t, requires_grad=(True, True))
    assert_same(ours, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Tensor(x).mse_loss(Tensor(x))  # same shapes: no warning


def test_mse_loss_bad_input_errors_and_empty_mean():
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(4,\) does not broadcast with input shape \(3,\)"):
        Tensor(np.zeros(3)).mse_loss(np.zeros(4))
    with pytest.raises(ValueError, match="mse_loss: reduction must be"):
        Tensor(np.zeros(3)).mse_loss(np.zeros(3), reduction="avg")
    assert np.isnan(Tensor(np.zeros(0)).mse_loss(np.zeros(0)).item())  # as torch


# ----- binary_cross_entropy_with_logits ---------------------------------------------------------
BCE_OPTIONS = [
    dict(),
    dict(weight=np.array([0.5, 2.0, 1.0])),
    dict(pos_weight=np.array([3.0, 0.5, 1.0])),
    dict(weight=np.array([[0.5], [2.0]]), pos_weight=np.array([3.0, 0.5, 1.0]), reduction="sum"),
    dict(pos_weight=np.array(2.0), reduction="none"),
]


@pytest.mark.parametrize("options", BCE_OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_bce_with_logits_values_gradients_to_both_and_second_derivatives(options):
    x, t = random_array(9, (2, 3), -3, 3), random_array(10, (2, 3), 0, 1)
    both = (True, True)
    ours = ours_run(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **options), x, t, requires_grad=both)
    torch_options = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    theirs = torch_run(lambda a, b: TF.binary_cross_entropy_with_logits(a, b, **torch_options), x, t, requires_grad=both)
    assert_same(ours, theirs)
    check_gradients(lambda a, b: a.binary_cross_entropy_with_logits(b, **options), x, t)
    check_second_derivatives(lambda a, b: a.binary_cross_entropy_with_logits(b, **options), x, t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_bce_with_logits_is_finite_for_huge_logits_as_torch(dtype, with_pos_weight):
    x = np.array([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4], dtype)
    t = np.array([1.0, 0.0, 0.3, 1.0, 0.0, 0.7, 0.0], dtype)
    options = dict(pos_weight=np.full(7, 2.5, dtype)) if with_pos_weight else {}
    both = (True, True)
    ours = ours_run(lambda a, b: a.binary_cross_entropy_with_logits(b, reduction="none", **options), x, t, requires_grad=both)
    torch_options = {k: torch.tensor(v) for k, v in options.items()}
    theirs = torch_run(
        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none", **torch_options), x, t, requires_grad=both
    )
    assert np.isfinite(ours[0]).all() and all(np.isfinite(g).all() for g in ours[1])
    assert ours[0].dtype == dtype
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    assert_same(ours, theirs, rtol=tolerance, atol=tolerance)


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    weighted=st.booleans(),
    pos_axes=st.sampled_from(["none", "last", "scalar", "full"]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_bce_with_logits_matches_torch_with_broadcast_weights(seed, shape, weighted, pos_axes, reduction):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 5, shape)
    t = rng.random(shape)
    options = dict(reduction=reduction)
    if weighted:
        options["weight"] = rng.random(shape[-1:])
    if pos_axes != "none":
        options["pos_weight"] = rng.uniform(0.1, 4, {"last": shape[-1:], "scalar": (), "full": shape}[pos_axes])
    both = (True, True)
    ours = ours_run(lambda a, b: a.binary_cross_entropy_with_logits(b, **options), x, t, requires_grad=both)
    torch_options = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    theirs = torch_run(lambda a, b: TF.binary_cross_entropy_with_logits(a, b, **torch_options), x, t, requires_grad=both)
    assert_same(ours, theirs, rtol=1e-10, atol=1e-12)


def test_bce_with_logits_bad_input_errors():
    x = Tensor(np.zeros((3, 1)), requires_grad=True)
    name = "binary_cross_entropy_with_logits"
    with pytest.raises(ValueError, match=rf"{name}: target shape \(3,\) must be the same as input shape \(3, 1\)"):
        x.binary_cross_entropy_with_logits(np.zeros(3))
    with pytest.raises(ValueError, match=rf"{name}: pos_weight of shape \(2,\) does not broadcast to the input's shape \(3, 1\)"):
        x.binary_cross_entropy_with_logits(np.zeros((3, 1)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=rf"{name}: weight of shape \(4, 1\) does not broadcast"):
        x.binary_cross_entropy_with_logits(np.zeros((3, 1)), weight=np.ones((4, 1)))
    for keyword in ("weight", "pos_weight"):
        with pytest.raises(RuntimeError, match=rf"{name}: {keyword} requires grad"):
            x.binary_cross_entropy_with_logits(np.zeros((3, 1)), **{keyword: Tensor(np.ones(1), requires_grad=True)})


def test_losses_are_registered_ops_and_tensor_methods():
    for name in ("nll_loss", "mse_loss", "binary_cross_entropy_with_logits"):
        assert name in tinygrad_sm.ops()
        assert getattr(F, name) is getattr(Tensor, name)
    assert type(Tensor(np.zeros(2), requires_grad=True).mse_loss(np.ones(2)).grad_fn).__name__ == "MSELoss"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("loss", ["bce", "bce-pos_weight", "nll", "mse"])
def test_infinite_and_nan_input_give_torchs_values_and_gradients(loss):
    if loss.startswith("bce"):
        x = np.array([np.inf, -np.inf, np.nan, 1e38, -1e38, 0.0, np.inf, -np.inf])
        t = np.array([0.0, 0.0, 0.5, 1.0, 0.0, 1.0, 1.0, 1.0])
        options = {"pos_weight": np.full(8, 2.0)} if "pos_weight" in loss else {}
        torch_options = {k: torch.tensor(v) for k, v in options.items()}
        both = (True, True)
        ours = ours_run(lambda a, b: a.binary_cross_entropy_with_logits(b, reduction="none", **options), x, t, requires_grad=both)
        theirs = torch_run(
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none", **torch_options), x, t, requires_grad=both
        )
    else:
        x = np.array([[np.inf, 0.0, -np.inf], [np.nan, 1.0, 2.0]])
        if loss == "nll":
            ours = ours_run(lambda a: a.nll_loss([0, 2], reduction="none"), x)
            theirs = torch_run(lambda a: TF.nll_loss(a, torch.tensor([0, 2]), reduction="none"), x)
        else:
            ours = ours_run(lambda a: a.mse_loss(np.zeros((2, 3)), reduction="none"), x)
            theirs = torch_run(lambda a: TF.mse_loss(a, torch.zeros(2, 3, dtype=torch.float64), reduction="none"), x)
    assert_same(ours, theirs)


@pytest.mark.parametrize("loss", ["bce", "mse", "nll"])
def test_hessian_vector_products_match_torch(loss):
    x, t, v = random_array(20, (3, 4)), random_array(21, (3, 4), 0, 1), random_array(22, (3, 4))
    pos_weight = np.array([0.5, 1.0, 2.0, 3.0])
    y = np.array([0, 3, -100])
    ours_fn = {
        "bce": lambda a, b: a.binary_cross_entropy_with_logits(b, pos_weight=pos_weight),
        "mse": lambda a, b: a.mse_loss(b, reduction="sum"),
        "nll": lambda a, b: (a * b).nll_loss(y),
    }[loss]
    torch_fn = {
        "bce": lambda a, b: TF.binary_cross_entropy_with_logits(a, b, pos_weight=torch.tensor(pos_weight)),
        "mse": lambda a, b: TF.mse_loss(a, b, reduction="sum"),
        "nll": lambda a, b: TF.nll_loss(a * b, torch.tensor(y)),
    }[loss]
    a, b = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    grads = tinygrad_sm.grad(ours_fn(a, b), [a, b], create_graph=True)
    hvp = tinygrad_sm.grad(sum((g * v).sum() for g in grads), [a, b])
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    torch_grads = torch.autograd.grad(torch_fn(ta, tb), [ta, tb], create_graph=True)
    torch_hvp = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g in torch_grads), [ta, tb])
    for ours, theirs in zip(hvp, torch_hvp):
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12, atol=1e-14)
