"""distributions.Categorical and F.gumbel_softmax (tinygrad_sm/distributions.py), against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.distributions import Categorical, gumbel_softmax
from tinygrad_sm.nn import functional as F

inf = np.inf


def positive_array(seed, shape):
    return np.random.default_rng(seed).uniform(0.1, 2.0, size=shape)


# ----- parameters: exactly one, normalised as PyTorch ---------------------------------------
@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 1, 5)])
def test_probs_and_logits_are_normalised_as_torch(shape):
    torch = pytest.importorskip("torch")
    probs, logits = positive_array(0, shape), random_array(1, shape)
    for ours, theirs in [
        (Categorical(probs=probs), torch.distributions.Categorical(probs=torch.tensor(probs))),
        (Categorical(logits=logits), torch.distributions.Categorical(logits=torch.tensor(logits))),
    ]:
        np.testing.assert_allclose(ours.probs.numpy(), theirs.probs.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.logits.numpy(), theirs.logits.numpy(), rtol=1e-12)
        assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == ()
        assert ours.param_shape == shape


def test_lists_give_the_default_dtype_and_ints_are_probabilities_too():
    assert Categorical(probs=[1, 3]).probs.dtype == np.float32
    np.testing.assert_allclose(Categorical(probs=[1, 3]).probs.numpy(), [0.25, 0.75])
    assert Categorical(logits=[0.0, 1.0]).logits.dtype == np.float32


def test_a_zero_probability_has_pytorchs_clamped_finite_logit():
    torch = pytest.importorskip("torch")
    ours = Categorical(probs=np.array([0.0, 0.25, 0.75]))
    theirs = torch.distributions.Categorical(probs=torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64))
    np.testing.assert_allclose(ours.logits.numpy(), theirs.logits.numpy(), rtol=1e-12)
    assert np.isfinite(ours.logits.numpy()).all()


# ----- log_prob: values, broadcasting and gradients as PyTorch --------------------------------
@pytest.mark.parametrize(
    ("param_shape", "value"),
    [
        ((4,), 2),
        ((4,), [0, 3, 3, 1]),
        ((2, 3), [[0, 1], [2, 2], [1, 0]]),  # (3, 2) with the batch (2,)
        ((2, 3), [1, 0]),  # broadcasts against the batch (2,)
        ((2, 3), np.zeros((5, 1), np.int64)),  # (5, 1) with (2,): (5, 2)
        ((1, 3), [2, 0, 1, 1]),
        ((2, 3), np.array([[1.0], [2.0]])),  # integral floats, as torch
    ],
)
@pytest.mark.parametrize("by", ["probs", "logits"])
def test_log_prob_values_and_gradients_match_torch(param_shape, value, by):
    torch = pytest.importorskip("torch")
    array = positive_array(2, param_shape) if by == "probs" else random_array(2, param_shape)
    ours_param, theirs_param = Tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    ours = Categorical(**{by: ours_param}).log_prob(value)
    theirs = torch.distributions.Categorical(**{by: theirs_param}).log_prob(torch.as_tensor(np.asarray(value)))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    weights = np.random.default_rng(3).normal(size=ours.shape)
    (ours * weights).sum().backward()
    (theirs * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(ours_param.grad.numpy(), theirs_param.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_log_prob_takes_a_tensor_of_samples():
    d = Categorical(logits=random_array(4, (3, 5)))
    samples = d.sample((7,), rng=0)
    np.testing.assert_allclose(d.log_prob(samples).numpy(), d.log_prob(samples.numpy()).numpy())


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_log_prob_gradcheck_and_second_derivatives(shape):
    value = np.random.default_rng(5).integers(0, shape[-1], size=(3, *shape[:-1]))
    check_gradients(lambda z: Categorical(logits=z).log_prob(value), random_array(6, shape))
    check_gradients(lambda p: Categorical(probs=p).log_prob(value), positive_array(7, shape))
    check_second_derivatives(lambda z: Categorical(logits=z).log_prob(value), random_array(6, shape))
    check_second_derivatives(lambda p: Categorical(probs=p).log_prob(value), positive_array(7, shape))


# ----- entropy: differentiable, 0·log 0 = 0, −inf logits fine --------------------------------
@pytest.mark.parametrize(
    "logits",
    [
        random_array(8, (5,)),
        random_array(9, (2, 4)),
        np.array([[0.5, -inf, 1.0], [-inf, -inf, 2.0]]),
        np.array([300.0, -300.0, 0.0]),
    ],
)
def test_entropy_and_its_gradient_match_torch(logits):
    torch = pytest.importorskip("torch")
    ours_param, theirs_param = Tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    ours = Categorical(logits=ours_param).entropy()
    theirs = torch.distributions.Categorical(logits=theirs_param).entropy()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-300)
    ours.sum().backward()
    theirs.sum().backward()
    assert np.isfinite(ours_param.grad.numpy()).all()
    np.testing.assert_allclose(ours_param.grad.numpy(), theirs_param.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_entropy_from_probs_with_a_zero_matches_torch():
    torch = pytest.importorskip("torch")
    probs = np.array([[0.0, 0.4, 0.6], [0.2, 0.3, 0.5]])
    ours_param, theirs_param = Tensor(probs, requires_grad=True), torch.tensor(probs, requires_grad=True)
    ours, theirs = Categorical(probs=ours_param).entropy(), torch.distributions.Categorical(probs=theirs_param).entropy()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(ours_param.grad.numpy(), theirs_param.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("shape", [(3,), (2, 4)])
def test_entropy_gradcheck_and_second_derivatives(shape):
    check_gradients(lambda z: Categorical(logits=z).entropy(), random_array(10, shape))
    check_gradients(lambda p: Categorical(probs=p).entropy(), positive_array(11, shape))
    check_second_derivatives(lambda z: Categorical(logits=z).entropy(), random_array(10, shape))


# ----- sampling ------------------------------------------------------------------------------
def test_samples_have_the_shape_dtype_and_frequencies_of_the_distribution():
    probs = np.array([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.0, 1.0]])
    samples = Categorical(probs=probs).sample((20_000,), rng=0)
    assert samples.shape == (20_000, 2) and samples.dtype == np.int64 and not samples.requires_grad
    frequencies = np.stack([np.bincount(samples.numpy()[:, i], minlength=4) / 20_000 for i in range(2)])
    np.testing.assert_allclose(frequencies, probs, atol=0.015)
    assert (frequencies[probs == 0] == 0).all()  # a zero probability is never drawn


def test_sampling_follows_rng_and_takes_an_int_shape():
    d = Categorical(logits=random_array(12, (3, 6)))
    np.testing.assert_array_equal(d.sample((4, 2), rng=1).numpy(), d.sample((4, 2), rng=1).numpy())
    assert d.sample(rng=0).shape == (3,) and d.sample(5, rng=0).shape == (5, 3)
    tinygrad_sm.manual_seed(3)
    first = d.sample((10,)).numpy()
    tinygrad_sm.manual_seed(3)
    np.testing.assert_array_equal(first, d.sample((10,)).numpy())


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_a_first_use_inside_no_grad_keeps_the_other_parameterisation_differentiable(by):
    param = Tensor(positive_array(16, (2, 3)), requires_grad=True)
    d = Categorical(**{by: param})
    with tinygrad_sm.no_grad():
        d.sample((4,), rng=0)
        d.logits  # noqa: B018  (computed here first)
    d.entropy().sum().backward()
    assert param.grad is not None and np.abs(param.grad.numpy()).sum() > 0


# ----- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Categorical(), ValueError, "give exactly one of probs and logits, got neither"),
        (lambda: Categorical(probs=[0.5, 0.5], logits=[0.0, 0.0]), ValueError, "got both"),
        (lambda: Categorical(probs=0.5), ValueError, r"at least one axis .* got shape \(\)"),
        (lambda: Categorical(logits=np.zeros((2, 0))), ValueError, r"got shape \(2, 0\)"),
        (lambda: Categorical(probs=[0.5, -0.1]), ValueError, r"finite and non-negative, got values in \[-0.1"),
        (lambda: Categorical(probs=[0.5, inf]), ValueError, "finite and non-negative"),
        (lambda: Categorical(probs=[[0.0, 0.0], [1.0, 0.0]]), ValueError, r"1 row\(s\) of shape \(2, 2\) sum to 0"),
        (lambda: Categorical(logits=[0.0, np.nan]), ValueError, "logits .* contain nan"),
        (lambda: Categorical(logits=Tensor([1, 2])), TypeError, "logits must be floating point, got dtype int64"),
        (
            lambda: Categorical(logits=[0.0, 1.0]).log_prob(2),
            ValueError,
            r"value must be in \[0, 1\] \(there are 2 categories\)",
        ),
        (lambda: Categorical(logits=[0.0, 1.0]).log_prob([0, -1]), ValueError, "got -1"),
        (lambda: Categorical(logits=[0.0, 1.0]).log_prob(0.5), ValueError, "value must hold integers"),
        (lambda: Categorical(logits=[0.0, 1.0]).log_prob("a"), ValueError, "value must hold integers"),
        (
            lambda: Categorical(logits=np.zeros((2, 3))).log_prob([0, 1, 2]),
            ValueError,
            r"\(3,\) does not broadcast with batch_shape \(2,\)",
        ),
        (lambda: Categorical(logits=[0.0, 1.0]).sample((-1,)), ValueError, "must not be negative"),
    ],
)
def test_bad_input_raises_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ----- gumbel_softmax --------------------------------------------------------------------------
def expected_soft_sample(logits, tau, seed, axis=-1):
    noise = -np.log(np.random.default_rng(seed).standard_exponential(logits.shape))
    z = (logits + noise) / tau
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("tau", [0.3, 1.0, 5.0])
@pytest.mark.parametrize(("shape", "axis"), [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1)])
def test_the_noise_depends_only_on_rng_and_shape(tau, shape, axis):
    logits = random_array(13, shape)
    soft = F.gumbel_softmax(Tensor(logits), tau=tau, axis=axis, rng=4)
    np.testing.assert_allclose(soft.numpy(), expected_soft_sample(logits, tau, 4, axis), rtol=1e-12)
    hard = F.gumbel_softmax(Tensor(logits), tau=tau, hard=True, axis=axis, rng=4)
    assert set(np.unique(hard.numpy())) <= {0.0, 1.0} and (hard.numpy().sum(axis=axis) == 1.0).all()  # exactly one-hot
    np.testing.assert_array_equal(hard.numpy().argmax(axis=axis), soft.numpy().argmax(axis=axis))
    # the argmax is the same at every temperature: one draw of the noise
    other = F.gumbel_softmax(Tensor(logits), tau=2 * tau, hard=True, axis=axis, rng=4)
    np.testing.assert_array_equal(hard.numpy(), other.numpy())



def test_gumbel_softmax_takes_pytorchs_dim_for_axis():
    logits = random_array(16, (3, 4))
    by_axis = F.gumbel_softmax(Tensor(logits), tau=0.5, hard=True, axis=0, rng=7)
    by_dim = F.gumbel_softmax(Tensor(logits), tau=0.5, hard=True, dim=0, rng=7)
    np.testing.assert_array_equal(by_dim.numpy(), by_axis.numpy())
    with pytest.raises(TypeError, match="both axis= and dim="):
        F.gumbel_softmax(Tensor(logits), axis=0, dim=0)

def test_hard_samples_are_exactly_one_hot_with_the_soft_samples_gradient_as_torch_computes_it():
    torch = pytest.importorskip("torch")
    logits = random_array(14, (6, 5)).astype(np.float32)
    ours_logits = Tensor(logits, requires_grad=True)
    hard = gumbel_softmax(ours_logits, tau=0.7, hard=True, rng=5)
    assert hard.dtype == np.float32 and (hard.numpy().sum(axis=-1) == 1.0).all()
    weights = np.random.default_rng(6).normal(size=(6, 5)).astype(np.float32)
    (hard * weights).sum().backward()
    # PyTorch's own straight-through formula on the same noise
    noise = -np.log(np.random.default_rng(5).standard_exponential((6, 5))).astype(np.float32)
    theirs_logits = torch.tensor(logits, requires_grad=True)
    y_soft = ((theirs_logits + torch.from_numpy(noise)) / 0.7).softmax(-1)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, y_soft.argmax(-1, keepdim=True), 1.0)
    theirs = y_hard - y_soft.detach() + y_soft
    (theirs * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(hard.numpy(), theirs.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(ours_logits.grad.numpy(), theirs_logits.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_gumbel_softmax_gradcheck_and_second_derivatives():
    logits = random_array(15, (3, 4))
    check_gradients(lambda z: gumbel_softmax(z, tau=0.8, rng=7), logits)
    check_second_derivatives(lambda z: gumbel_softmax(z, tau=0.8, rng=7), logits)
    # hard: a step function forward (no finite differences to compare with), the soft gradient backward
    check_second_derivatives(lambda z: gumbel_softmax(z, tau=0.8, hard=True, rng=7), logits)
    grads = []
    for hard in (False, True):
        z = Tensor(logits, requires_grad=True)
        (gumbel_softmax(z, tau=0.8, hard=hard, rng=7) * np.arange(12.0).reshape(3, 4)).sum().backward()
        grads.append(z.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_hard_samples_are_drawn_with_the_softmax_probabilities():
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    draws = gumbel_softmax(Tensor(np.broadcast_to(logits, (20_000, 3)).copy()), hard=True, rng=8).numpy()
    np.testing.assert_allclose(draws.mean(axis=0), [0.1, 0.2, 0.7], atol=0.015)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"tau": 0.0}, ValueError, "tau must be a number > 0, got 0.0"),
        ({"tau": "1"}, ValueError, "tau must be"),
        ({"hard": 1}, TypeError, "hard must be a bool"),
    ],
)
def test_gumbel_softmax_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=f"gumbel_softmax: {message}"):
        gumbel_softmax(Tensor(np.zeros(3)), **kwargs)


def test_pytorchs_validate_args_keyword_is_accepted():
    d = Categorical(logits=Tensor(np.zeros(4)), validate_args=False)
    assert d.log_prob(1).item() == pytest.approx(-np.log(4))
    with pytest.raises(ValueError, match="Categorical.log_prob: value must be in"):
        d.log_prob(4)


def test_mode_is_the_most_probable_category_as_torch():
    torch = pytest.importorskip("torch")
    logits = random_array(44, (3, 2, 5))
    ours, theirs = Categorical(logits=Tensor(logits)).mode, torch.distributions.Categorical(logits=torch.tensor(logits)).mode
    assert ours.dtype == np.int64 and ours.shape == (3, 2)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert Categorical(probs=[0.2, 0.5, 0.3]).mode.item() == 1
