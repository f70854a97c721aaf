"""layer_norm and batch_norm (tinygrad_sm/operations/normalization.py)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, tensors

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F  # noqa: N812  (PyTorch's habit)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def torch_tensors(*arrays):
    return [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]


def assert_same_values_and_gradients(ours, theirs, our_inputs, their_inputs, seed=0, rtol=1e-10, atol=1e-12):
    upstream = random_array(seed, ours.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=atol)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream, dtype=theirs.dtype))
    for a, b in zip(our_inputs, their_inputs):
        if a is not None:
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=rtol, atol=atol)


def our_tensors(*arrays):
    return [None if a is None else Tensor(a, requires_grad=True) for a in arrays]


def hessian_vector_products(fn_ours, fn_torch, arrays, seed=5):
    """∂²⟨w, f⟩/∂inputs² · v for both libraries, the second derivative through create_graph."""
    rng = np.random.default_rng(seed)
    directions = [rng.standard_normal(np.shape(a)) for a in arrays]
    ours = tensors(*arrays)
    out = fn_ours(*ours)
    weights = rng.standard_normal(out.shape)
    grads = tinygrad_sm.grad((out * weights).sum(), ours, create_graph=True)
    dot = sum((g * Tensor(d)).sum() for g, d in zip(grads, directions))
    our_hvp = tinygrad_sm.grad(dot, ours)
    theirs = torch_tensors(*arrays)
    their_out = fn_torch(*theirs)
    their_grads = torch.autograd.grad((their_out * torch.tensor(weights)).sum(), theirs, create_graph=True)
    their_dot = sum((g * torch.tensor(d)).sum() for g, d in zip(their_grads, directions))
    their_hvp = torch.autograd.grad(their_dot, theirs)
    for a, b in zip(our_hvp, their_hvp):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-9, atol=1e-11)


# ----- layer_norm ---------------------------------------------------------------------------------
LAYER_CASES = [((5,), 5), ((3, 5), 5), ((3, 5), (3, 5)), ((2, 3, 4), (3, 4)), ((2, 3, 4), [4])]


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("shape, normalized_shape", LAYER_CASES)
def test_layer_norm_gradcheck(shape, normalized_shape, affine):
    trailing = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x, w, b = random_array(1, shape), random_array(2, trailing), random_array(3, trailing)
    if affine == "both":
        check_gradients(lambda x, w, b: F.layer_norm(x, normalized_shape, w, b), x, w, b)
    elif affine == "weight":
        check_gradients(lambda x, w: F.layer_norm(x, normalized_shape, weight=w), x, w)
    else:
        check_gradients(lambda x: F.layer_norm(x, normalized_shape), x)


@pytest.mark.parametrize("shape, normalized_shape", [((3, 4), 4), ((2, 3, 2), (3, 2))])
def test_layer_norm_second_derivatives(shape, normalized_shape):
    trailing = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    arrays = random_array(4, shape), random_array(5, trailing), random_array(6, trailing)
    check_second_derivatives(lambda x, w, b: F.layer_norm(x, normalized_shape, w, b), *arrays)
    check_second_derivatives(lambda x: F.layer_norm(x, normalized_shape), arrays[0])


def test_layer_norm_hessian_vector_product_matches_pytorch():
    arrays = random_array(7, (3, 2, 4)), random_array(8, (2, 4)), random_array(9, (2, 4))
    hessian_vector_products(
        lambda x, w, b: F.layer_norm(x, (2, 4), w, b).tanh(),
        lambda x, w, b: TF.layer_norm(x, (2, 4), w, b).tanh(),
        arrays,
    )


@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_norm_matches_pytorch(eps):
    x, w, b = random_array(10, (4, 3, 6), -3, 3), random_array(11, (6,)), random_array(12, (6,))
    ours, theirs = our_tensors(x, w, b), torch_tensors(x, w, b)
    assert_same_values_and_gradients(
        F.layer_norm(ours[0], 6, ours[1], ours[2], eps=eps), TF.layer_norm(*theirs[:1], (6,), *theirs[1:], eps=eps), ours, theirs
    )


def test_layer_norm_float32_matches_pytorch_and_stays_float32():
    x = random_array(13, (64, 32), -4, 4).astype(np.float32)
    w = random_array(14, (32,)).astype(np.float32)
    ours = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    out = F.layer_norm(ours[0], 32, ours[1])
    assert out.dtype == np.float32
    theirs = torch_tensors(x, w)
    assert_same_values_and_gradients(out, TF.layer_norm(theirs[0], (32,), theirs[1]), ours, theirs, rtol=1e-4, atol=1e-6)
    assert ours[0].grad.dtype == np.float32 and ours[1].grad.dtype == np.float32


def test_layer_norm_constant_rows_give_zeros_and_a_finite_gradient_as_pytorch():
    x = np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 4.0]])
    ours, theirs = our_tensors(x), torch_tensors(x)
    assert_same_values_and_gradients(F.layer_norm(ours[0], 3), TF.layer_norm(theirs[0], (3,)), ours, theirs)
    assert np.isfinite(ours[0].grad.data).all()


def test_layer_norm_is_a_registered_op_without_a_tensor_method():
    assert "layer_norm" in tinygrad_sm.ops() and not hasattr(Tensor, "layer_norm")


@pytest.mark.parametrize(
    "normalized_shape, weight_shape, error, message",
    [
        (3, None, ValueError, r"layer_norm: normalized_shape \(3,\) does not match .* \(\.\.\., 3\), got \(4, 3, 2\)"),
        ((4, 3, 2, 1), None, ValueError, r"does not match the input's trailing axes"),
        ((), None, ValueError, r"layer_norm: normalized_shape must have at least one axis"),
        (2.0, None, TypeError, r"layer_norm: normalized_shape must be an int or a tuple of ints, got 2.0"),
        (2, (3,), ValueError, r"layer_norm: weight must have shape \(2,\), got \(3,\)"),
        (2, (1, 2), ValueError, r"layer_norm: weight must have shape \(2,\), got \(1, 2\)"),
    ],
)
def test_layer_norm_errors(normalized_shape, weight_shape, error, message):
    x = Tensor(random_array(15, (4, 3, 2)))
    weight = None if weight_shape is None else Tensor(np.ones(weight_shape))
    with pytest.raises(error, match=message):
        F.layer_norm(x, normalized_shape, weight)


def test_layer_norm_bias_shape_and_integer_input_errors():
    with pytest.raises(ValueError, match=r"layer_norm: bias must have shape \(2,\), got \(4,\)"):
        F.layer_norm(Tensor(np.ones((3, 2))), 2, bias=Tensor(np.ones(4)))
    with pytest.raises(TypeError, match="layer_norm: expected a floating-point input, got dtype int64"):
        F.layer_norm(Tensor(np.ones((3, 2), dtype=np.int64)), 2)


# ----- batch_norm ---------------------------------------------------------------------------------
BATCH_SHAPES = [(5, 3), (4, 2, 3), (3, 2, 2, 3)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_batch_norm_gradcheck(shape, affine, training):
    channels = shape[1]
    x = random_array(20, shape)
    stats = (random_array(21, (channels,)), random_array(22, (channels,), 0.5, 2.0)) if not training else (None, None)
    if affine:
        w, b = random_array(23, (channels,)), random_array(24, (channels,))
        check_gradients(lambda x, w, b: F.batch_norm(x, *stats, w, b, training=training), x, w, b)
    else:
        check_gradients(lambda x: F.batch_norm(x, *stats, training=training), x)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_second_derivatives(training):
    x, w, b = random_array(25, (4, 2, 3)), random_array(26, (2,)), random_array(27, (2,))
    stats = (None, None) if training else (random_array(28, (2,)), random_array(29, (2,), 0.5, 2.0))
    check_second_derivatives(lambda x, w, b: F.batch_norm(x, *stats, w, b, training=training), x, w, b)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_hessian_vector_product_matches_pytorch(training):
    x, w, b = random_array(30, (5, 3, 2)), random_array(31, (3,)), random_array(32, (3,))
    mean, var = random_array(33, (3,)), random_array(34, (3,), 0.5, 2.0)

    def ours(x, w, b):
        return F.batch_norm(x, np.copy(mean), np.copy(var), w, b, training=training).tanh()

    def theirs(x, w, b):
        return TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b, training=training).tanh()

    hessian_vector_products(ours, theirs, (x, w, b))


@pytest.mark.parametrize("buffer_kind", ["tensor", "ndarray"])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batch_norm_running_buffers_follow_pytorch_over_several_steps(shape, buffer_kind):
    channels = shape[1]
    running_mean, running_var = np.zeros(channels), np.ones(channels)
    if buffer_kind == "tensor":
        buffers = Tensor(running_mean), Tensor(running_var)
        running_mean, running_var = buffers[0].data, buffers[1].data
    else:
        buffers = running_mean, running_var
    their_mean, their_var = torch.zeros(channels, dtype=torch.float64), torch.ones(channels, dtype=torch.float64)
    w, b = random_array(40, (channels,)), random_array(41, (channels,))
    for step, momentum in enumerate([0.1, 0.1, 0.5, 1.0, 0.0]):
        x = random_array(42 + step, shape, -1, 3) * (step + 1)
        ours, theirs = our_tensors(x, w, b), torch_tensors(x, w, b)
        out = F.batch_norm(ours[0], *buffers, ours[1], ours[2], training=True, momentum=momentum)
        expected = TF.batch_norm(theirs[0], their_mean, their_var, theirs[1], theirs[2], training=True, momentum=momentum)
        assert_same_values_and_gradients(out, expected, ours, theirs, seed=step)
        np.testing.assert_allclose(running_mean, their_mean.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(running_var, their_var.numpy(), rtol=1e-12)
    # evaluation mode then uses the running statistics, and leaves them alone
    x = random_array(50, shape)
    ours, theirs = our_tensors(x, w, b), torch_tensors(x, w, b)
    before = running_mean.copy(), running_var.copy()
    out = F.batch_norm(ours[0], *buffers, ours[1], ours[2])
    assert_same_values_and_gradients(out, TF.batch_norm(theirs[0], their_mean, their_var, theirs[1], theirs[2]), ours, theirs)
    np.testing.assert_array_equal(running_mean, before[0])
    np.testing.assert_array_equal(running_var, before[1])


def test_batch_norm_cumulative_average_is_momentum_one_over_the_batch_count():
    # BatchNorm(momentum=None) passes momentum=1/num_batches_tracked, as torch.nn.BatchNorm does
    batches = [random_array(60 + i, (4, 2)) for i in range(3)]
    running_mean, running_var = np.zeros(2), np.ones(2)
    for count, x in enumerate(batches, start=1):
        F.batch_norm(Tensor(x), running_mean, running_var, training=True, momentum=1 / count)
    np.testing.assert_allclose(running_mean, np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(running_var, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0), rtol=1e-12)


def test_batch_norm_momentum_none_is_a_type_error_as_in_pytorch():
    # torch.nn.functional.batch_norm(momentum=None) is a TypeError too: the function keeps no count
    with pytest.raises(TypeError):
        TF.batch_norm(torch.ones(2, 3), torch.zeros(3), torch.ones(3), training=True, momentum=None)
    running_mean = np.zeros(3)
    with pytest.raises(TypeError, match=r"batch_norm: momentum must be a float, got None .*1/num_batches_tracked"):
        F.batch_norm(Tensor(random_array(61, (2, 3))), running_mean, np.ones(3), training=True, momentum=None)
    np.testing.assert_array_equal(running_mean, 0.0)


def test_batch_norm_training_without_buffers_uses_the_batch_statistics():
    x = random_array(62, (5, 2, 3))
    out = F.batch_norm(Tensor(x), None, None, training=True)
    expected = TF.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("shape", [(0, 2), (0, 3, 2)])
def test_batch_norm_training_on_an_empty_batch_is_empty_and_leaves_the_buffers_as_pytorch(shape):
    # PyTorch refuses exactly one value per channel, not none: the output is empty, the buffers unchanged
    x, weight = Tensor(np.zeros(shape), requires_grad=True), Tensor(np.ones(shape[1]), requires_grad=True)
    mean, var = np.zeros(shape[1]), np.ones(shape[1])
    tx, tweight = torch_tensors(np.zeros(shape), np.ones(shape[1]))
    tmean, tvar = torch.zeros(shape[1], dtype=torch.float64), torch.ones(shape[1], dtype=torch.float64)
    out = F.batch_norm(x, mean, var, weight=weight, training=True)
    TF.batch_norm(tx, tmean, tvar, weight=tweight, training=True).sum().backward()
    (grad_x, grad_weight) = tinygrad_sm.grad(out.sum(), [x, weight], create_graph=True)
    assert out.shape == shape and grad_x.shape == shape
    np.testing.assert_array_equal(grad_weight.data, tweight.grad.numpy())
    np.testing.assert_array_equal(mean, tmean.numpy())
    np.testing.assert_array_equal(var, tvar.numpy())


def test_batch_norm_float32_buffers_take_the_update_in_place():
    x = random_array(63, (8, 4)).astype(np.float32)
    running_mean, running_var = np.zeros(4, np.float32), np.ones(4, np.float32)
    out = F.batch_norm(Tensor(x), running_mean, running_var, training=True)
    assert out.dtype == np.float32 and running_mean.dtype == np.float32
    their_mean, their_var = torch.zeros(4), torch.ones(4)
    TF.batch_norm(torch.tensor(x), their_mean, their_var, training=True)
    np.testing.assert_allclose(running_mean, their_mean.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(running_var, their_var.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "shape, buffers, kwargs, error, message",
    [
        (
            (4, 3),
            (np.zeros(4), np.ones(4)),
            {"training": True},
            ValueError,
            r"batch_norm: running_mean has 4 elements \(shape \(4,\)\) but the input has 3 channels",
        ),
        (
            (4, 3),
            (np.zeros(3), np.ones(2)),
            {"training": True},
            ValueError,
            r"batch_norm: running_var has 2 elements .* 3 channels",
        ),
        (
            (1, 3),
            (np.zeros(3), np.ones(3)),
            {"training": True},
            ValueError,
            r"batch_norm: expected more than 1 value per channel when training, got input of shape \(1, 3\)",
        ),
        ((1, 3, 1), (np.zeros(3), np.ones(3)), {"training": True}, ValueError, r"more than 1 value per channel"),
        (
            (4, 3),
            (np.zeros(3), None),
            {"training": True},
            ValueError,
            r"batch_norm: running_mean and running_var must both be given or both be None",
        ),
        ((4, 3), (None, None), {"training": False}, ValueError, r"batch_norm: evaluation mode .* needs running_mean"),
        ((4,), (np.zeros(4), np.ones(4)), {}, ValueError, r"expected input of shape \(N, C\) or \(N, C, \*\), got \(4,\)"),
        (
            (4, 3),
            (np.zeros(3), np.ones(3)),
            {"training": True, "weight": Tensor(np.ones(4))},
            ValueError,
            r"batch_norm: weight must have shape \(3,\), got \(4,\)",
        ),
        (
            (4, 3),
            (np.zeros(3), np.ones(3)),
            {"training": True, "bias": Tensor(np.ones(2))},
            ValueError,
            r"batch_norm: bias must have shape \(3,\), got \(2,\)",
        ),
        (
            (4, 3),
            ([0.0] * 3, [1.0] * 3),
            {"training": True},
            TypeError,
            r"batch_norm: running_mean must be a Tensor, an ndarray or None, got list",
        ),
        (
            (4, 3),
            (np.zeros(3, np.int64), np.ones(3)),
            {"training": True},
            TypeError,
            r"batch_norm: running_mean must be floating point, got dtype int64",
        ),
        (
            (4, 3),
            (np.broadcast_to(np.zeros(1), (3,)), np.ones(3)),
            {"training": True},
            ValueError,
            r"batch_norm: running_mean is read-only",
        ),
    ],
)
def test_batch_norm_errors_come_before_any_buffer_changes(shape, buffers, kwargs, error, message):
    before = [None if b is None else np.array(b) for b in buffers]
    with pytest.raises(error, match=message):
        F.batch_norm(Tensor(random_array(70, shape)), *buffers, **kwargs)
    for b, kept in zip(buffers, before):
        if kept is not None:
            np.testing.assert_array_equal(b, kept)


def test_batch_norm_buffers_that_require_grad_are_an_error():
    with pytest.raises(TypeError, match="batch_norm: running_mean and running_var are buffers"):
        F.batch_norm(Tensor(np.ones((2, 3))), Tensor(np.zeros(3), requires_grad=True), Tensor(np.ones(3)))


# ----- numerically hostile input: PyTorch's values ---------------------------------------------------
def with_specials(seed, shape):
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2, 2, shape)
    specials = rng.choice([np.inf, -np.inf, np.nan, 1e-30, 100.0, 0.0], shape)
    return np.where(rng.random(shape) < 0.3, specials, values)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("hostile", ["input", "weight", "bias"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_hostile_values_match_pytorch(training, hostile, seed):
    arrays = {
        "input": random_array(seed, (3, 2, 2)),
        "weight": random_array(seed + 1, (2,)),
        "bias": random_array(seed + 2, (2,)),
    }
    arrays[hostile] = with_specials(seed, arrays[hostile].shape)
    mean, var = random_array(seed + 3, (2,)), random_array(seed + 4, (2,), 0.5, 2.0)
    ours, theirs = our_tensors(*arrays.values()), torch_tensors(*arrays.values())
    out = F.batch_norm(ours[0], mean.copy(), var.copy(), ours[1], ours[2], training=training)
    expected = TF.batch_norm(theirs[0], torch.tensor(mean), torch.tensor(var), theirs[1], theirs[2], training=training)
    upstream = random_array(seed, out.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("hostile", ["input", "bias"])
def test_layer_norm_hostile_values_match_pytorch(hostile, seed):
    # (an infinite *weight* is the one deviation: ∂x then mixes inf and nan where PyTorch's kernel,
    # which sums ĝ·x and μ·Σĝ apart, gives nan; both are meaningless)
    arrays = {"input": random_array(seed, (3, 4)), "weight": random_array(seed + 1, (4,)), "bias": random_array(seed + 2, (4,))}
    arrays[hostile] = with_specials(seed, arrays[hostile].shape)
    ours, theirs = our_tensors(*arrays.values()), torch_tensors(*arrays.values())
    out = F.layer_norm(ours[0], 4, ours[1], ours[2])
    expected = TF.layer_norm(theirs[0], (4,), theirs[1], theirs[2])
    upstream = random_array(seed, out.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10)
