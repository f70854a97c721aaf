"""unfold, fold, conv2d and conv1d (tinygrad_sm/operations/convolution.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, seeds
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
# (PyTorch warns that padding="same" with an even kernel copies the input)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def torch_results(fn, *arrays, upstream_seed=99):
    """fn's value on float64 torch tensors and the gradient of ⟨g, fn⟩ for every array, g random."""
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    g = np.random.default_rng(upstream_seed).standard_normal(tuple(out.shape))
    out.backward(torch.tensor(g))
    return out.detach().numpy(), g, [None if t is None else t.grad.numpy() for t in leaves]


def assert_matches_torch(ours, theirs, *arrays, rtol=1e-10, atol=1e-12):
    value, g, grads = torch_results(theirs, *arrays)
    leaves = [None if a is None else Tensor(a, requires_grad=True) for a in arrays]
    out = ours(*leaves)
    assert out.shape == value.shape
    np.testing.assert_allclose(out.data, value, rtol=rtol, atol=atol)
    out.backward(g)
    for leaf, expected in zip(leaves, grads):
        if leaf is not None:
            np.testing.assert_allclose(leaf.grad.data, expected, rtol=rtol, atol=atol)


# ----- conv2d and conv1d: configurations --------------------------------------------------------
# (input shape, weight shape, bias?, keyword arguments)
CONFIGS = {
    "plain": ((2, 3, 5, 4), (4, 3, 3, 2), True, {}),
    "stride and padding": ((2, 2, 6, 5), (3, 2, 3, 3), True, {"stride": (2, 1), "padding": (1, 2)}),
    "dilation": ((1, 2, 7, 6), (2, 2, 3, 2), False, {"dilation": (2, 3), "padding": 1}),
    "groups": ((2, 4, 5, 5), (6, 2, 3, 3), True, {"groups": 2, "stride": 2, "padding": 1}),
    "depthwise": ((1, 3, 4, 4), (3, 1, 2, 2), True, {"groups": 3}),
    "same, odd kernel": ((1, 2, 5, 4), (3, 2, 3, 3), True, {"padding": "same"}),
    "same, even kernel": ((1, 2, 5, 4), (2, 2, 4, 2), True, {"padding": "same"}),
    "same, dilated even kernel": ((1, 2, 6, 5), (2, 2, 2, 2), False, {"padding": "same", "dilation": 2}),
    "valid": ((1, 2, 5, 4), (2, 2, 3, 3), True, {"padding": "valid"}),
    "unbatched": ((2, 5, 4), (3, 2, 3, 3), True, {"padding": 1}),
    "1x1 kernel": ((2, 3, 3, 3), (2, 3, 1, 1), True, {}),
    "stride > kernel, dilated": ((1, 2, 9, 8), (2, 2, 2, 3), True, {"stride": (3, 4), "padding": (2, 1), "dilation": (3, 1)}),
    "1-tuples stand for both axes": ((1, 2, 7, 6), (2, 2, 3, 2), True, {"stride": (2,), "padding": (1,), "dilation": (2,)}),
}
CONFIGS_1D = {
    "plain": ((2, 3, 7), (4, 3, 3), True, {}),
    "stride, padding, dilation": ((2, 2, 9), (3, 2, 3), True, {"stride": 2, "padding": 2, "dilation": 2}),
    "groups": ((1, 4, 6), (4, 2, 2), False, {"groups": 2, "padding": (1,)}),
    "same, even kernel": ((1, 2, 6), (3, 2, 4), True, {"padding": "same"}),
    "unbatched": ((3, 6), (2, 3, 3), True, {"padding": 1}),
}


def arrays_for(config, seed=0):
    input_shape, weight_shape, has_bias, _ = config
    bias = random_array(seed + 2, weight_shape[:1]) if has_bias else None
    return random_array(seed, input_shape), random_array(seed + 1, weight_shape), bias


def conv(conv_fn, kwargs):
    return lambda x, w, b=None: conv_fn(x, w, b, **kwargs)


@pytest.mark.parametrize("name", CONFIGS)
def test_conv2d_matches_torch(name):
    kwargs = CONFIGS[name][3]
    assert_matches_torch(conv(F.conv2d, kwargs), conv(TF.conv2d, kwargs), *arrays_for(CONFIGS[name]))


@pytest.mark.parametrize("name", CONFIGS_1D)
def test_conv1d_matches_torch(name):
    kwargs = CONFIGS_1D[name][3]
    assert_matches_torch(conv(F.conv1d, kwargs), conv(TF.conv1d, kwargs), *arrays_for(CONFIGS_1D[name]))


@pytest.mark.parametrize("name", CONFIGS)
def test_conv2d_gradcheck(name):
    x, w, b = arrays_for(CONFIGS[name])
    kwargs = CONFIGS[name][3]
    if b is None:
        check_gradients(conv(F.conv2d, kwargs), x, w)
    else:
        check_gradients(conv(F.conv2d, kwargs), x, w, b)


@pytest.mark.parametrize("name", CONFIGS_1D)
def test_conv1d_gradcheck(name):
    x, w, b = arrays_for(CONFIGS_1D[name])
    kwargs = CONFIGS_1D[name][3]
    if b is None:
        check_gradients(conv(F.conv1d, kwargs), x, w)
    else:
        check_gradients(conv(F.conv1d, kwargs), x, w, b)


@st.composite
def conv2d_problems(draw):
    groups = draw(st.integers(1, 2))
    channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    kwargs = {
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 2))),
        "padding": draw(st.sampled_from([0, 1, (2, 0), (0, 1)])),
        "dilation": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "groups": groups,
    }
    if draw(st.booleans()) and kwargs["stride"] == (1, 1):
        kwargs["padding"] = "same"
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return batch + (channels,) + size, (out_channels, channels // groups) + kernel, draw(st.booleans()), kwargs


def fits(input_shape, weight_shape, kwargs):
    padding = kwargs["padding"]
    if isinstance(padding, str):
        return True
    pads = (padding, padding) if isinstance(padding, int) else padding
    return all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in zip(input_shape[-2:], pads, kwargs["dilation"], weight_shape[-2:]))


@given(problem=conv2d_problems(), seed=seeds)
def test_conv2d_matches_torch_on_random_problems(problem, seed):
    input_shape, weight_shape, _, kwargs = problem
    assume(fits(input_shape, weight_shape, kwargs))
    arrays = arrays_for(problem, seed % 1000)
    assert_matches_torch(conv(F.conv2d, kwargs), conv(TF.conv2d, kwargs), *arrays)


# ----- second derivatives: the backward is recorded (unfold, fold and matmul on Tensors) -----------
@pytest.mark.parametrize("name", ["groups", "same, even kernel", "unbatched"])
def test_conv2d_second_derivatives(name):
    kwargs = CONFIGS[name][3]
    x, w, b = arrays_for(CONFIGS[name])
    # tanh makes the output's second derivative nonzero, so the mixed x-W terms are checked too
    fn = lambda x, w, b: conv(F.conv2d, kwargs)(x, w, b).tanh()  # noqa: E731
    check_second_derivatives(fn, x[..., :4, :4], w, b)


def test_conv1d_second_derivatives():
    x, w, b = arrays_for(CONFIGS_1D["stride, padding, dilation"])
    check_second_derivatives(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2, dilation=2).tanh(), x, w, b)


def test_hessian_vector_product_matches_torch():
    x, w, b = arrays_for(CONFIGS["groups"])
    v_x, v_w = random_array(5, x.shape), random_array(6, w.shape)

    def loss(conv_fn, x, w, b):
        return (conv_fn(x, w, b, stride=2, padding=1, groups=2) ** 2).sum() / 2

    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, w, b))
    gx, gw = tinygrad_sm.grad(loss(F.conv2d, tx, tw, tb), [tx, tw], create_graph=True)
    hvp = tinygrad_sm.grad((gx * Tensor(v_x)).sum() + (gw * Tensor(v_w)).sum(), [tx, tw])
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    qx, qw = torch.autograd.grad(loss(TF.conv2d, px, pw, pb), [px, pw], create_graph=True)
    expected = torch.autograd.grad((qx * torch.tensor(v_x)).sum() + (qw * torch.tensor(v_w)).sum(), [px, pw])
    for ours, theirs in zip(hvp, expected):
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10, atol=1e-12)


# ----- unfold and fold ------------------------------------------------------------------------------
UNFOLD_CASES = [
    ((2, 3, 5, 4), {"kernel_size": (2, 3)}),
    ((1, 2, 6, 6), {"kernel_size": 3, "dilation": 2, "padding": 1, "stride": 2}),
    ((2, 1, 4, 5), {"kernel_size": (1, 2), "padding": (1, 0), "stride": (1, 2)}),
    ((3, 4, 4), {"kernel_size": 2, "stride": 2}),  # unbatched
]


@pytest.mark.parametrize("shape, kwargs", UNFOLD_CASES)
def test_unfold_and_fold_match_torch(shape, kwargs):
    x = random_array(0, shape)
    assert_matches_torch(lambda t: F.unfold(t, **kwargs), lambda t: TF.unfold(t, **kwargs), x)
    cols = TF.unfold(torch.tensor(x), **kwargs).numpy()
    cols = random_array(1, cols.shape)
    size = shape[-2:]
    assert_matches_torch(lambda t: F.fold(t, size, **kwargs), lambda t: TF.fold(t, size, **kwargs), cols)


@pytest.mark.parametrize("shape, kwargs", UNFOLD_CASES)
def test_fold_is_the_adjoint_of_unfold(shape, kwargs):
    # ⟨fold(c), x⟩ = ⟨c, unfold(x)⟩ for every x and c: each is the other's backward
    x = random_array(2, shape)
    unfolded = F.unfold(Tensor(x), **kwargs).data
    c = random_array(3, unfolded.shape)
    folded = F.fold(Tensor(c), shape[-2:], **kwargs).data
    np.testing.assert_allclose((folded * x).sum(), (c * unfolded).sum(), rtol=1e-12)


@pytest.mark.parametrize("shape, kwargs", UNFOLD_CASES[:3])
def test_unfold_and_fold_gradcheck_and_second_derivatives(shape, kwargs):
    x = random_array(4, shape)
    cols = random_array(5, F.unfold(Tensor(x), **kwargs).shape)
    check_gradients(lambda t: F.unfold(t, **kwargs), x)
    check_gradients(lambda t: F.fold(t, shape[-2:], **kwargs), cols)
    check_second_derivatives(lambda t: F.unfold(t, **kwargs).tanh(), x)
    check_second_derivatives(lambda t: F.fold(t, shape[-2:], **kwargs).tanh(), cols)


def test_fold_checks_the_number_of_windows():
    with pytest.raises(ValueError, match=r"fold: input.shape\[2\] = 5 does not match the 2 x 2 = 4 windows"):
        F.fold(Tensor(np.zeros((1, 4, 5))), (3, 3), 2)
    with pytest.raises(ValueError, match=r"fold: input.shape\[1\] = 6 must be divisible by the kernel's size 2 x 2"):
        F.fold(Tensor(np.zeros((1, 6, 4))), (3, 3), 2)
    with pytest.raises(ValueError, match="unfold: expected a 3-D .* or 4-D .* got a 2-D input"):
        F.unfold(Tensor(np.zeros((3, 3))), 2)
    with pytest.raises(ValueError, match=re.escape("unfold: every axis but the batch axis must be non-empty")):
        F.unfold(Tensor(np.zeros((1, 0, 3, 3))), 2)
    with pytest.raises(ValueError, match=re.escape("fold: every axis but the batch axis must be non-empty")):
        F.fold(Tensor(np.zeros((1, 0, 4))), (3, 3), 2)
    assert F.unfold(Tensor(np.zeros((0, 2, 3, 3))), 2).shape == (0, 8, 4)
    assert F.fold(Tensor(np.zeros((0, 8, 4))), (3, 3), 2).shape == (0, 2, 3, 3)


# ----- what the ops are ---------------------------------------------------------------------------
def test_the_ops_are_registered_without_tensor_methods():
    assert {"conv2d", "conv1d", "unfold", "fold"} <= set(tinygrad_sm.ops())
    assert not any(hasattr(Tensor, name) for name in ("conv2d", "conv1d", "unfold", "fold"))
    x, w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True), Tensor(np.ones((1, 1, 2, 2)))
    assert type(F.conv2d(x, w).grad_fn).name == "conv2d"


def test_float32_stays_float32():
    x = Tensor(random_array(0, (2, 3, 5, 5)).astype(np.float32), requires_grad=True)
    w = Tensor(random_array(1, (4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, np.float32), requires_grad=True)
    out = F.conv2d(x, w, b, padding=1)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_only_the_needed_gradients_are_computed():
    x, w = random_array(0, (1, 2, 4, 4)), random_array(1, (3, 2, 3, 3))
    tx, tw = Tensor(x, requires_grad=True), Tensor(w)
    F.conv2d(tx, tw).sum().backward()
    assert tw.grad is None and tx.grad.shape == x.shape
    tx, tw = Tensor(x), Tensor(w, requires_grad=True)
    F.conv2d(tx, tw).sum().backward()
    assert tx.grad is None and tw.grad.shape == w.shape


def test_an_empty_batch_gives_an_empty_result():
    x, w = Tensor(np.zeros((0, 3, 5, 5)), requires_grad=True), Tensor(np.ones((2, 3, 3, 3)), requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    assert out.shape == (0, 2, 5, 5)
    out.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad.data, np.zeros((2, 3, 3, 3)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_inf_and_nan_spread_as_in_torch():
    x = random_array(0, (1, 1, 4, 4))
    x[0, 0, 1, 1], x[0, 0, 3, 0] = np.inf, np.nan
    w = random_array(1, (2, 1, 2, 2))
    assert_matches_torch(lambda a, b: F.conv2d(a, b), lambda a, b: TF.conv2d(a, b), x, w)


# ----- bad input ----------------------------------------------------------------------------------
# (input shape, weight shape, keyword arguments, the message); a ValueError unless the message says TypeError
BAD = [
    ((1, 4, 5, 5), (6, 2, 3, 3), {}, "conv2d: input has 4 channels but weight expects 2 (weight.shape[1] * groups = 2 * 1)"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"groups": 2}, "input has 4 channels but weight expects 8 (weight.shape[1] * groups = 4 * 2)"),
    ((1, 4, 5, 5), (5, 2, 3, 3), {"groups": 2}, "conv2d: out_channels (weight.shape[0] = 5) must be divisible by groups (2)"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"groups": 0}, "conv2d: groups must be a positive integer, got 0"),
    ((1, 4, 5, 5), (6, 4, 7, 3), {}, "conv2d: the kernel 7 x 3 (dilated: 7 x 3) is larger than the padded input 5 x 5"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"dilation": 3}, "kernel 3 x 3 (dilated: 7 x 7) is larger than the padded input 5 x 5"),
    ((1, 4, 2, 2), (6, 4, 5, 5), {"padding": 1}, "kernel 5 x 5 (dilated: 5 x 5) is larger than the padded input 4 x 4"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"stride": 0}, "conv2d: stride must be positive, got 0"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"dilation": (1, 0)}, "conv2d: dilation must be positive, got (1, 0)"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"padding": -1}, "conv2d: padding must be non-negative, got -1"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"padding": (1, 2, 3)}, "conv2d: padding must be an int or a tuple of 2 ints, got (1, 2, 3)"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"stride": 1.5}, "TypeError: conv2d: stride must be an int or a tuple of 2 ints, got 1.5"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"padding": "full"}, "padding must be 'valid', 'same', an int or a tuple of ints, got 'full'"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"padding": "same", "stride": 2}, "padding='same' is not supported for strided convolutions"),
    (
        (4, 5),
        (6, 4, 3, 3),
        {},
        "conv2d: expected a 3-D (unbatched) or 4-D (batched) input (N, C, H, W), got a 2-D input of shape (4, 5)",
    ),
    ((1, 4, 5, 5), (6, 4, 3), {}, "conv2d: weight must be 4-D (out_channels, in_channels / groups, kH, kW), got shape (6, 4, 3)"),
    ((1, 4, 5, 5), (6, 4, 3, 3), {"bias": np.zeros(5)}, "conv2d: bias must have shape (6,), got (5,)"),
    ((1, 4, 5, 5), (0, 4, 3, 3), {}, "conv2d: weight must have at least one output channel, got shape (0, 4, 3, 3)"),
]


@pytest.mark.parametrize("input_shape, weight_shape, kwargs, message", BAD)
def test_bad_conv2d_arguments_are_named(input_shape, weight_shape, kwargs, message):
    error, message = (TypeError, message[len("TypeError: ") :]) if message.startswith("TypeError") else (ValueError, message)
    with pytest.raises(error, match=re.escape(message)):
        F.conv2d(Tensor(np.zeros(input_shape)), Tensor(np.zeros(weight_shape)), **kwargs)


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="conv2d: expected a floating-point input, got dtype int64"):
        F.conv2d(Tensor(np.zeros((1, 4, 5, 5), np.int64)), Tensor(np.zeros((6, 4, 3, 3))))


def test_bad_conv1d_arguments_are_named():
    x = Tensor(np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match=r"conv1d: input has 3 channels but weight expects 2"):
        F.conv1d(x, Tensor(np.zeros((2, 2, 3))))
    with pytest.raises(ValueError, match=r"conv1d: weight must be 3-D \(out_channels, in_channels / groups, kL\)"):
        F.conv1d(x, Tensor(np.zeros((2, 3, 3, 3))))
    with pytest.raises(ValueError, match=r"conv1d: expected a 2-D \(unbatched\) or 3-D \(batched\) input \(N, C, L\), got a 4-D"):
        F.conv1d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3))))
    with pytest.raises(ValueError, match=r"conv1d: the kernel 7 \(dilated: 7\) is larger than the padded input 5"):
        F.conv1d(x, Tensor(np.zeros((2, 3, 7))))
