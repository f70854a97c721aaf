"""cross_entropy (tinygrad_sm/operations/cross_entropy.py): every option of torch.nn.functional.cross_entropy, on (N, C), (C,)
and (N, C, d1, ..., dK) logits, and the SoftmaxTwiceWarning."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, seeds
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor, nn
from tinygrad_sm.nn import functional as F

inf = np.inf
N, C = 4, 3
WEIGHT = np.array([0.5, 2.0, 1.25])


def log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reference_cross_entropy(z, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """PyTorch's definition, written out directly (nll loss + label-smoothing term, each normalised as torch does)."""
    z = np.asarray(z, dtype=np.float64)
    classes = z.shape[-1]
    logp = log_softmax(z.reshape(-1, classes))
    w = np.ones(classes) if weight is None else np.asarray(weight, dtype=np.float64)
    eps = label_smoothing
    target = np.asarray(target)
    if target.dtype.kind == "f":
        q = target.reshape(-1, classes) * (1 - eps) + eps / classes
        losses = -(logp * w * q).sum(axis=1)
        result = {"none": losses, "sum": losses.sum(), "mean": losses.sum() / len(losses)}[reduction]
    else:
        y = target.reshape(-1)
        kept = y != ignore_index
        safe = np.where(kept, y, 0)
        rows = np.arange(len(y))
        nll = np.where(kept, -w[safe] * logp[rows, safe], 0.0)
        smooth = np.where(kept, -(logp * w).sum(axis=1), 0.0)
        if reduction == "none":
            result = (1 - eps) * nll + eps / classes * smooth
        elif reduction == "sum":
            result = (1 - eps) * nll.sum() + eps / classes * smooth.sum()
        else:
            total_weight = np.where(kept, w[safe], 0.0).sum()
            result = ((1 - eps) * nll.sum() + eps / classes * smooth.sum()) / total_weight
    return np.asarray(result).reshape(()) if z.ndim == 1 else result


def make_case(kind, ignored, one_d, seed=0):
    rng = np.random.default_rng(seed)
    shape = (C,) if one_d else (N, C)
    z = rng.standard_normal(shape)
    if kind == "probs":
        t = rng.random(shape)
        return z, t / t.sum(axis=-1, keepdims=True)
    if one_d:
        return z, np.array(-100 if ignored == "all" else 1)
    t = np.array([0, 2, 1, 2])
    if ignored == "some":
        t[[1, 3]] = -100
    elif ignored == "all":
        t[:] = -100
    return z, t


OPTIONS = [
    pytest.param(
        kind,
        weighted,
        ignored,
        reduction,
        smoothing,
        one_d,
        id=f"{kind}-{'w' if weighted else 'no_w'}-ign_{ignored}-{reduction}-ls{smoothing}-{'1d' if one_d else '2d'}",
    )
    for kind, weighted, ignored, reduction, smoothing, one_d in itertools.product(
        ["index", "probs"], [False, True], ["none", "some"], ["mean", "sum", "none"], [0.0, 0.25, 1.0], [False, True]
    )
    if not (kind == "probs" and ignored != "none") and not (one_d and ignored == "some")
]


@pytest.mark.parametrize("kind, weighted, ignored, reduction, smoothing, one_d", OPTIONS)
def test_values_and_gradcheck_for_every_option(kind, weighted, ignored, reduction, smoothing, one_d):
    z, t = make_case(kind, ignored, one_d)
    options = dict(weight=WEIGHT if weighted else None, reduction=reduction, label_smoothing=smoothing)
    out = Tensor(z).cross_entropy(t, **options)
    expected = reference_cross_entropy(z, t, **options)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    check_gradients(lambda logits: logits.cross_entropy(t, **options), z)
    if kind == "probs":  # the gradient with respect to probability targets too
        check_gradients(lambda logits, target: logits.cross_entropy(target, **options), z, t)


@pytest.mark.parametrize(
    "kind, weighted, ignored, reduction, smoothing, one_d", [p for p in OPTIONS if p.values[4] != 1.0 and not p.values[5]]
)
def test_second_derivatives_for_every_option(kind, weighted, ignored, reduction, smoothing, one_d):
    z, t = make_case(kind, ignored, one_d, seed=1)
    options = dict(weight=WEIGHT if weighted else None, reduction=reduction, label_smoothing=smoothing)
    if kind == "probs":
        check_second_derivatives(lambda logits, target: logits.cross_entropy(target, **options), z, t)
    else:
        check_second_derivatives(lambda logits: logits.cross_entropy(t, **options), z)


def test_hessian_of_mean_loss_is_block_diagonal_softmax_jacobian_over_n():
    z = random_array(2, (N, C))
    t = np.array([0, 1, 2, 1])
    hessian = tinygrad_sm.hessian(lambda logits: logits.cross_entropy(t), z)
    assert hessian.shape == (N, C, N, C)
    p = np.exp(log_softmax(z))
    for i, j in itertools.product(range(N), range(N)):
        expected = (np.diag(p[i]) - np.outer(p[i], p[i])) / N if i == j else np.zeros((C, C))
        np.testing.assert_allclose(hessian[i, :, j, :], expected, atol=1e-12)


def test_hessian_vector_product():
    z = Tensor(random_array(3, (N, C)), requires_grad=True)
    v = random_array(4, (N, C))
    t = np.array([2, 0, 0, 1])
    (gradient,) = tinygrad_sm.grad(z.cross_entropy(t, reduction="sum"), z, create_graph=True)
    (hvp,) = tinygrad_sm.grad((gradient * v).sum(), z)
    p = np.exp(log_softmax(z.data))
    expected = p * v - p * (p * v).sum(axis=1, keepdims=True)  # row-wise (diag(p) − p pᵀ) v
    np.testing.assert_allclose(hvp.data, expected, rtol=1e-10)


def test_gradient_is_softmax_minus_onehot():
    z = random_array(5, (N, C))
    t = np.array([1, 0, 2, 2])
    logits = Tensor(z, requires_grad=True)
    logits.cross_entropy(t, reduction="sum").backward()
    np.testing.assert_allclose(logits.grad.data, np.exp(log_softmax(z)) - np.eye(C)[t], rtol=1e-12)


def test_fused_single_node():
    logits = Tensor(random_array(6, (N, C)), requires_grad=True)
    loss = logits.cross_entropy([0, 1, 2, 0])
    assert type(loss.grad_fn).__name__ == "CrossEntropy"
    assert loss.grad_fn.inputs[0] is logits  # one op between logits and loss: no separate softmax/log nodes
    assert repr(loss.grad_fn) == "<CrossEntropyBackward>"


@pytest.mark.parametrize(
    "target",
    [
        np.array([0, 2, 1, 2]),
        [0, 2, 1, 2],
        Tensor([0, 2, 1, 2]),
        np.array([0, 2, 1, 2], dtype=np.int32),
        np.array([0, 2, 1, 2], dtype=np.uint8),
    ],
    ids=["ndarray", "list", "Tensor", "int32", "uint8"],
)
def test_class_index_target_forms(target):
    z = random_array(7, (N, C))
    np.testing.assert_allclose(Tensor(z).cross_entropy(target).data, reference_cross_entropy(z, [0, 2, 1, 2]), rtol=1e-12)


@pytest.mark.parametrize("target", [2, np.array(2), np.int64(2), Tensor(2)], ids=["int", "0-d array", "np.int64", "0-d Tensor"])
def test_one_dimensional_logits(target):
    z = np.array([0.5, -1.0, 2.0])
    logits = Tensor(z, requires_grad=True)
    loss = logits.cross_entropy(target)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.data, -log_softmax(z)[2], rtol=1e-12)
    assert logits.cross_entropy(target, reduction="none").shape == ()
    loss.backward()
    np.testing.assert_allclose(logits.grad.data, np.exp(log_softmax(z)) - np.eye(3)[2], rtol=1e-12)


def test_probability_targets_as_tensor_get_a_gradient():
    z, t = make_case("probs", "none", False)
    logits, target = Tensor(z, requires_grad=True), Tensor(t, requires_grad=True)
    logits.cross_entropy(target, reduction="sum").backward()
    np.testing.assert_allclose(target.grad.data, -log_softmax(z), rtol=1e-12)
    np.testing.assert_allclose(logits.grad.data, np.exp(log_softmax(z)) - t, rtol=1e-12)


def test_weight_as_tensor_and_reduction_none_shape():
    z, t = make_case("index", "some", False)
    out = Tensor(z).cross_entropy(t, weight=Tensor(WEIGHT), reduction="none")
    assert out.shape == (N,)
    np.testing.assert_allclose(out.data, reference_cross_entropy(z, t, weight=WEIGHT, reduction="none"), rtol=1e-12)
    assert out.data[1] == 0.0 and out.data[3] == 0.0  # ignored rows contribute nothing


def test_custom_ignore_index_may_be_a_valid_class():
    z = random_array(8, (N, C))
    t = np.array([0, 2, 1, 2])
    logits = Tensor(z, requires_grad=True)
    loss = logits.cross_entropy(t, ignore_index=2)
    np.testing.assert_allclose(loss.data, reference_cross_entropy(z, t, ignore_index=2), rtol=1e-12)
    loss.backward()
    np.testing.assert_array_equal(logits.grad.data[[1, 3]], 0.0)


def test_float32_logits():
    z = random_array(9, (N, C)).astype(np.float32)
    logits = Tensor(z, requires_grad=True)
    loss = logits.cross_entropy([0, 1, 2, 0], weight=WEIGHT, label_smoothing=0.1)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.data, reference_cross_entropy(z, [0, 1, 2, 0], weight=WEIGHT, label_smoothing=0.1), rtol=1e-5)
    loss.backward()
    assert logits.grad.dtype == np.float32


# ----- numerically hostile input: PyTorch's values ------------------------------------------
def loss_and_grad(z, target, dtype=np.float64, **options):
    logits = Tensor(np.array(z, dtype=dtype), requires_grad=True)
    loss = logits.cross_entropy(target, **options)
    loss.sum().backward()
    return loss.data, logits.grad.data


def test_huge_logits():
    loss, grad = loss_and_grad([[1000.0, 1000.0, -1000.0]], [0])
    np.testing.assert_allclose(loss, np.log(2.0), rtol=1e-12)
    np.testing.assert_allclose(grad, [[-0.5, 0.5, 0.0]], atol=1e-15)


def test_large_float32_logits():
    loss, grad = loss_and_grad([[88.0, 89.0, 90.0]], [0], dtype=np.float32)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss, 2.407606, rtol=1e-6)  # torch: 2.407606
    np.testing.assert_allclose(grad, [[-0.90996945, 0.24472849, 0.665241]], rtol=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_minus_inf_in_other_classes():
    # finite where PyTorch is finite: a −inf logit that is not the target has probability 0
    loss, grad = loss_and_grad([[0.0, -inf, 1.0]], [0])
    np.testing.assert_allclose(loss, 1.3132616875182228, rtol=1e-12)
    np.testing.assert_allclose(grad, [[-0.7310585786300049, 0.0, 0.7310585786300049]], rtol=1e-12)
    # with label smoothing PyTorch's loss is inf (the smoothing term includes −log p = inf), the gradient finite
    loss, grad = loss_and_grad([[0.0, -inf, 1.0]], [0], label_smoothing=0.1)
    assert loss == inf
    np.testing.assert_allclose(grad, [[-0.66439191, -0.03333333, 0.69772525]], rtol=1e-6)
    # the target itself at −inf: infinite loss, finite gradient
    loss, grad = loss_and_grad([[0.0, -inf, 1.0]], [1])
    assert loss == inf
    np.testing.assert_allclose(grad, [[0.26894142, -1.0, 0.73105858]], rtol=1e-6)
    # probability targets with zero mass on the −inf class: PyTorch gives nan (0 · −inf), gradient finite
    loss, grad = loss_and_grad([[0.0, -inf, 1.0]], np.array([[0.5, 0.0, 0.5]]))
    assert np.isnan(loss)
    np.testing.assert_allclose(grad, [[-0.23105858, 0.0, 0.23105858]], rtol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_row_ignored(smoothing, weighted):
    options = dict(weight=WEIGHT if weighted else None, label_smoothing=smoothing)
    z = random_array(10, (2, C))
    loss, grad = loss_and_grad(z, [-100, -100], **options)
    assert np.isnan(loss)
    np.testing.assert_array_equal(grad, 0.0)
    loss, grad = loss_and_grad(z, [-100, -100], reduction="sum", **options)
    assert loss == 0.0
    np.testing.assert_array_equal(grad, 0.0)
    loss, grad = loss_and_grad(z, [-100, -100], reduction="none", **options)
    np.testing.assert_array_equal(loss, [0.0, 0.0])
    np.testing.assert_array_equal(grad, 0.0)
    loss, grad = loss_and_grad(z[0], -100, **options)
    assert np.isnan(loss)
    np.testing.assert_array_equal(grad, 0.0)


def test_kept_rows_with_zero_total_weight_give_nan_gradients_as_pytorch():
    # regression: the gradient was silently 0; PyTorch divides by the total weight 0 and gives nan
    z = random_array(11, (3, C))
    loss, grad = loss_and_grad(z, [0, 0, -100], weight=[0.0, 1.0, 1.0])
    assert np.isnan(loss)
    assert np.isnan(grad[:2]).all()
    np.testing.assert_array_equal(grad[2], 0.0)  # the ignored row still gets exactly 0


def test_probability_targets_as_nested_lists():
    # regression: a list of lists as probability targets failed in backward ("'list' object has no attribute 'reshape'")
    z = np.array([[1.0, 2.0], [0.0, 0.0]])
    logits = Tensor(z, requires_grad=True)
    target = [[0.5, 0.5], [1.0, 0.0]]
    loss = logits.cross_entropy(target)
    np.testing.assert_allclose(loss.data, reference_cross_entropy(z, np.array(target)), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(logits.grad.data, (np.exp(log_softmax(z)) - np.array(target)) / 2, rtol=1e-12)


def test_probability_targets_with_a_class_ignore_index_are_an_error():
    # PyTorch: "ignore_index is not supported for floating point target" (a negative index is the default, fine)
    logits, probs = Tensor(np.zeros((2, 3))), np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="cross_entropy: ignore_index is not supported for probability targets"):
        logits.cross_entropy(probs, ignore_index=1)
    assert np.isfinite(logits.cross_entropy(probs, ignore_index=-1).item())


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("create_graph", [False, True])
def test_an_ignored_row_gets_zero_even_from_an_infinite_upstream_gradient(smoothing, create_graph):
    logits = Tensor(np.zeros((3, 4)), requires_grad=True)
    losses = logits.cross_entropy(np.array([1, -100, 2]), reduction="none", label_smoothing=smoothing)
    losses.backward(np.array([1.0, np.inf, 1.0]), create_graph=create_graph)
    np.testing.assert_array_equal(logits.grad.data[1], 0.0)  # PyTorch: 0, not nan
    assert np.isfinite(logits.grad.data).all()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # (∞ · 0 in the discarded rows)
@pytest.mark.parametrize("upstream", [np.nan, np.inf])
def test_every_row_ignored_gives_a_zero_gradient_whatever_arrives(reduction, upstream):
    # (the nan "mean" loss fed through max gave nan · 0 = nan before; PyTorch gives 0)
    logits = Tensor(np.array([0.5, -0.9]), requires_grad=True)
    logits.cross_entropy(0, ignore_index=0, reduction=reduction).backward(np.array(upstream))
    np.testing.assert_array_equal(logits.grad.data, [0.0, 0.0])


def test_cross_entropy_option_corners_match_pytorch():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    zeros = np.zeros((3, 4))
    cases = [
        # kept rows whose weights sum to 0: nan loss and nan gradient on kept rows, 0 on ignored ones
        dict(target=[0, 2, 3], weight=[0.0, 1.0, 0.0, 0.0]),
        dict(target=[0, 2, -100], weight=[0.0, 1.0, 0.0, 0.0], label_smoothing=0.1),
        dict(target=[-100, -100, -100]),
        dict(target=[1, 1, 3], weight=[1.0, 2.0, 3.0, 4.0], reduction="sum", label_smoothing=0.3),
    ]
    for case in cases:
        case = dict(case)
        target = np.array(case.pop("target"))
        weight = np.array(case.pop("weight")) if "weight" in case else None
        logits = Tensor(zeros + np.arange(4.0), requires_grad=True)
        loss = logits.cross_entropy(target, weight=weight, **case)
        loss.backward()
        torch_logits = torch.tensor(zeros + np.arange(4.0), requires_grad=True)
        torch_weight = None if weight is None else torch.tensor(weight)
        torch_loss = functional.cross_entropy(torch_logits, torch.tensor(target), weight=torch_weight, **case)
        torch_loss.backward()
        np.testing.assert_allclose(loss.data, torch_loss.detach().numpy(), rtol=1e-12, equal_nan=True, err_msg=str(case))
        np.testing.assert_allclose(
            logits.grad.data, torch_logits.grad.numpy(), rtol=1e-12, atol=1e-15, equal_nan=True, err_msg=str(case)
        )


def test_a_weight_that_requires_grad_is_a_clear_error():
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    weight = Tensor(np.ones(3), requires_grad=True)
    for call in (lambda: logits.cross_entropy([0, 1], weight), lambda: logits.cross_entropy([0, 1], weight=weight)):
        with pytest.raises(RuntimeError, match="cross_entropy: weight requires grad, but with class-index targets"):
            call()
    with tinygrad_sm.no_grad():
        assert np.isfinite(logits.cross_entropy([0, 1], weight=weight).item())



@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 2)])
def test_with_probability_targets_the_class_weights_are_differentiable_as_torch(shape, reduction, smoothing):
    # PyTorch's soft-target loss is −Σ w ⊙ r · log p, differentiable in w (class indices: not)
    torch = pytest.importorskip("torch")
    classes = shape[1] if len(shape) > 1 else shape[0]
    logits, target = random_array(40, shape), np.abs(random_array(41, shape))
    weight = random_array(42, (classes,), 0.5, 2.0)

    def loss(z, t, w):
        return F.cross_entropy(z, t, weight=w, reduction=reduction, label_smoothing=smoothing)

    check_gradients(loss, logits, target, weight)
    check_second_derivatives(loss, logits, target, weight)
    ours = [Tensor(a, requires_grad=True) for a in (logits, target, weight)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (logits, target, weight)]
    upstream = random_array(43, loss(*ours).shape)
    ours_grads = tinygrad_sm.grad(loss(*ours), ours, Tensor(upstream))
    theirs_grads = torch.autograd.grad(
        torch.nn.functional.cross_entropy(*theirs[:2], weight=theirs[2], reduction=reduction, label_smoothing=smoothing),
        theirs,
        torch.tensor(upstream),
    )
    for a, b in zip(ours_grads, theirs_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)

def test_backward_frees_the_target_description_too():
    logits = Tensor(np.zeros((3, 4)), requires_grad=True)
    loss = logits.cross_entropy(np.full((3, 4), 0.25))
    loss.backward()
    assert loss.grad_fn.freed and not hasattr(loss.grad_fn, "targets")  # (the (N, C) q goes with it)


def test_probability_target_gradient_is_finite_where_a_probability_underflows():
    torch = pytest.importorskip("torch")
    logits = np.array([100.0, 0.0], np.float32)  # p[1] = e^-100 underflows in float32
    target = Tensor(np.array([0.7, 0.3], np.float32), requires_grad=True)
    Tensor(logits).cross_entropy(target).backward()
    torch_target = torch.tensor(target.data, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(logits), torch_target).backward()
    np.testing.assert_allclose(target.grad.data, torch_target.grad.numpy(), rtol=1e-6)


# ----- K-dimensional logits (N, C, d1, ..., dK): the class axis is 1, as PyTorch -------------------
K_DIM_OPTIONS = [
    pytest.param(kind, weighted, reduction, smoothing, id=f"{kind}-{'w' if weighted else 'no_w'}-{reduction}-ls{smoothing}")
    for kind, weighted, reduction, smoothing in itertools.product(
        ["index", "probs"], [False, True], ["mean", "sum", "none"], [0.0, 0.3]
    )
]


def k_dim_case(kind, shape=(2, C, 3, 2), seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape)
    if kind == "probs":
        t = rng.random(shape)
        return z, t / t.sum(axis=1, keepdims=True)
    t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    t.flat[::3] = -100
    return z, t


@pytest.mark.parametrize("kind, weighted, reduction, smoothing", K_DIM_OPTIONS)
def test_k_dim_logits_match_torch_with_gradcheck_and_second_derivatives(kind, weighted, reduction, smoothing):
    torch = pytest.importorskip("torch")
    z, t = k_dim_case(kind)
    options = dict(weight=WEIGHT if weighted else None, reduction=reduction, label_smoothing=smoothing)
    logits = Tensor(z, requires_grad=True)
    target = Tensor(t, requires_grad=True) if kind == "probs" else t
    out = logits.cross_entropy(target, **options)
    out.sum().backward()
    torch_logits = torch.tensor(z, requires_grad=True)
    torch_target = torch.tensor(t, requires_grad=kind == "probs")
    torch_options = dict(options, weight=None if options["weight"] is None else torch.tensor(WEIGHT))
    torch_out = torch.nn.functional.cross_entropy(torch_logits, torch_target, **torch_options)
    torch_out.sum().backward()
    assert out.shape == tuple(torch_out.shape)
    np.testing.assert_allclose(out.data, torch_out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(logits.grad.data, torch_logits.grad.numpy(), rtol=1e-12, atol=1e-15)
    if kind == "probs":
        np.testing.assert_allclose(target.grad.data, torch_target.grad.numpy(), rtol=1e-12, atol=1e-15)
        check_gradients(lambda a, b: a.cross_entropy(b, **options), z, t)
        check_second_derivatives(lambda a, b: a.cross_entropy(b, **options), z, t)
    else:
        check_gradients(lambda a: a.cross_entropy(t, **options), z)
        check_second_derivatives(lambda a: a.cross_entropy(t, **options), z)


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    batch=st.integers(1, 3),
    classes=st.integers(1, 4),
    extra=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    smoothing=st.sampled_from([0.0, 0.1]),
    ignore_index=st.sampled_from([-100, 0]),
    weighted=st.booleans(),
)
def test_k_dim_class_targets_match_torch(seed, batch, classes, extra, reduction, smoothing, ignore_index, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batch, classes, *extra)).astype(np.float32)
    t = rng.integers(0, classes, (batch, *extra))
    weight = rng.uniform(0.1, 2, classes).astype(np.float32) if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore_index)
    logits = Tensor(z, requires_grad=True)
    out = logits.cross_entropy(t, weight=weight, **options)
    out.sum().backward()
    torch_logits = torch.tensor(z, requires_grad=True)
    torch_weight = None if weight is None else torch.tensor(weight)
    torch_out = torch.nn.functional.cross_entropy(torch_logits, torch.tensor(t), weight=torch_weight, **options)
    torch_out.sum().backward()
    assert out.dtype == np.float32 and out.shape == tuple(torch_out.shape)
    np.testing.assert_allclose(out.data, torch_out.detach().numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(logits.grad.data, torch_logits.grad.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)


def test_k_dim_is_the_row_loss_with_the_class_axis_moved_last():
    z, t = k_dim_case("index", shape=(2, C, 4))
    rows = np.moveaxis(z, 1, -1).reshape(-1, C)
    np.testing.assert_allclose(
        Tensor(z).cross_entropy(t, weight=WEIGHT, label_smoothing=0.2).data,
        reference_cross_entropy(rows, t.reshape(-1), weight=WEIGHT, label_smoothing=0.2),
        rtol=1e-12,
    )


def test_k_dim_target_shape_errors_name_both_shapes():
    logits = Tensor(np.zeros((2, 3, 4)))
    expected = r"cross_entropy: class-index target must have shape \(2, 4\) for logits of shape \(2, 3, 4\), got \(2, 3\)"
    with pytest.raises(ValueError, match=expected):
        logits.cross_entropy(np.zeros((2, 3), np.int64))
    expected = r"float class probabilities of shape \(2, 3, 4\); got dtype float64 and shape \(2, 4, 3\)"
    with pytest.raises(ValueError, match=expected):
        logits.cross_entropy(np.full((2, 4, 3), 1 / 3))
    expected = r"cross_entropy: input must have shape \(N, C\), \(C,\) or \(N, C, d1, ..., dK\), got \(\)"
    with pytest.raises(ValueError, match=expected):
        Tensor(1.0).cross_entropy(0)


# ----- softmax applied twice: SoftmaxTwiceWarning -----------------------------------------------------
def test_probabilities_as_logits_warn_once_per_line_and_can_be_silenced():
    z = Tensor(random_array(12, (N, C)))
    target = [0, 1, 2, 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            z.softmax(axis=1).cross_entropy(target)  # one line: one warning
        F.cross_entropy(z.softmax(axis=1), target)  # another line: another
        nn.CrossEntropyLoss()(z.softmax(axis=1), target)  # (through Module.__call__: still this line)
    assert [w.category for w in caught] == [tinygrad_sm.SoftmaxTwiceWarning] * 3
    assert issubclass(tinygrad_sm.SoftmaxTwiceWarning, UserWarning)
    assert {w.filename for w in caught} == {__file__}  # the user's line, not the library's
    assert "softmax applied before cross_entropy" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", tinygrad_sm.SoftmaxTwiceWarning)
        z.softmax(axis=1).cross_entropy(target)


@pytest.mark.parametrize(
    "logits",
    [
        pytest.param(lambda: random_array(13, (N, C)), id="ordinary logits"),
        pytest.param(lambda: random_array(14, (N, C), 0.0, 1.0), id="in [0, 1] without summing to 1"),
        pytest.param(lambda: np.ones((N, 1)), id="one class"),
        pytest.param(
            lambda: np.abs(random_array(15, (N, C), 0.0, 1.0)) + np.array([[0.0, 0.0, 0.0]] * 3 + [[5.0, 0, 0]]),
            id="one row not a distribution",
        ),
    ],
)
def test_no_warning_for_logits_that_are_not_probability_rows(logits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Tensor(logits()).cross_entropy([0, 0, 0, 0])


def test_k_dim_probabilities_along_the_class_axis_warn_too():
    z = Tensor(random_array(16, (2, C, 5)))
    with pytest.warns(tinygrad_sm.SoftmaxTwiceWarning):
        z.softmax(axis=1).cross_entropy(np.zeros((2, 5), np.int64))


def test_k_dim_hessian_vector_product_matches_torch():
    torch = pytest.importorskip("torch")
    z, t = k_dim_case("index", shape=(2, C, 3))
    v = random_array(17, z.shape)
    logits = Tensor(z, requires_grad=True)
    (gradient,) = tinygrad_sm.grad(logits.cross_entropy(t, weight=WEIGHT, label_smoothing=0.2), logits, create_graph=True)
    (hvp,) = tinygrad_sm.grad((gradient * v).sum(), logits)
    torch_logits = torch.tensor(z, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(
        torch_logits, torch.tensor(t), weight=torch.tensor(WEIGHT), label_smoothing=0.2
    )
    (torch_gradient,) = torch.autograd.grad(torch_loss, torch_logits, create_graph=True)
    (torch_hvp,) = torch.autograd.grad((torch_gradient * torch.tensor(v)).sum(), torch_logits)
    np.testing.assert_allclose(hvp.data, torch_hvp.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(
    ("shape", "target", "kwargs"),
    [
        ((6, 5), np.array([0, 4, 2, 1, 3, 0]), {}),
        ((2, 4, 3), np.array([[0, 3, 1], [2, -100, 1]]), {"reduction": "none"}),
        ((3, 4), None, {"label_smoothing": 0.2}),  # (probability targets)
    ],
)
def test_a_second_backward_with_retain_graph_gives_the_same_gradient(shape, target, kwargs):
    """The first backward writes the gradient into the forward's e^{z − max}; a second one (retain_graph)
    makes e^{z − max} again, so both add the same gradient."""
    z = random_array(40, shape).astype(np.float32)
    if target is None:
        target = random_array(41, shape).astype(np.float32) ** 2
        target /= target.sum(axis=1, keepdims=True)
    x = Tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, Tensor(target), **kwargs)
    upstream = Tensor(random_array(42, loss.shape).astype(np.float32))
    loss.backward(upstream, retain_graph=True)
    first = x.grad.data.copy()
    loss.backward(upstream)
    np.testing.assert_array_equal(x.grad.data, 2 * first)


def test_logits_taken_a_block_of_rows_at_a_time_give_the_reference():
    """Large logits go a cache-sized block of rows at a time (several blocks, a partial last one)."""
    rows, classes = 300, 400
    z = (random_array(43, (rows, classes)) * 8).astype(np.float32)
    target = np.random.default_rng(44).integers(0, classes, rows)
    target[::7] = -100
    x = Tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, Tensor(target))
    loss.backward()
    np.testing.assert_allclose(loss.data, reference_cross_entropy(z, target), rtol=1e-5)
    kept = target != -100
    p = np.exp(log_softmax(z.astype(np.float64)))
    expected = p.copy()
    expected[np.arange(rows), np.where(kept, target, 0)] -= 1
    expected = np.where(kept[:, None], expected, 0) / kept.sum()
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-4, atol=1e-8)
