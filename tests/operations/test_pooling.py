"""max_pool2d, avg_pool2d, their 1-d forms and the adaptive pools (tinygrad_sm/operations/pooling.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, distinct_array, random_array, seeds
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

POOLS = {"max_pool2d": (F.max_pool2d, TF.max_pool2d), "avg_pool2d": (F.avg_pool2d, TF.avg_pool2d)}

# (input shape, kernel_size, stride, padding)
CASES = [
    ((2, 3, 6, 4), 2, None, 0),
    ((1, 2, 7, 6), 3, 2, 1),
    ((2, 2, 5, 5), (3, 2), (1, 2), (1, 1)),
    ((1, 1, 8, 8), 2, 2, 1),
    ((3, 5, 4), 2, 1, 0),  # unbatched
    ((1, 2, 5, 7), (2, 3), 3, (0, 1)),  # stride larger than the kernel: some pixels in no window
]


def compare_with_torch(name, x, kernel_size, stride, padding, upstream_seed=7):
    ours, theirs = POOLS[name]
    t = Tensor(x, requires_grad=True)
    out = ours(t, kernel_size, stride, padding)
    p = torch.tensor(x, requires_grad=True)
    expected = theirs(p, kernel_size, stride, padding)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(upstream_seed).standard_normal(out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(t.grad.data, p.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", POOLS)
@pytest.mark.parametrize("shape, kernel_size, stride, padding", CASES)
def test_matches_torch(name, shape, kernel_size, stride, padding):
    compare_with_torch(name, random_array(0, shape), kernel_size, stride, padding)


@pytest.mark.parametrize("name", POOLS)
@pytest.mark.parametrize("shape, kernel_size, stride, padding", CASES)
def test_gradcheck(name, shape, kernel_size, stride, padding):
    # distinct values: no ties, so the max is differentiable for central differences
    check_gradients(lambda t: POOLS[name][0](t, kernel_size, stride, padding), distinct_array(1, shape))


@pytest.mark.parametrize("name", POOLS)
def test_second_derivatives(name):
    # tanh after the pool: the recorded backward (where/broadcast and fold on Tensors) is
    # differentiated again
    check_second_derivatives(lambda t: POOLS[name][0](t, 3, 2, 1).tanh(), distinct_array(2, (1, 2, 5, 5)))


@st.composite
def pool_problems(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    shape = draw(st.sampled_from([(2,), (1, 2), (2, 1)])) + (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return shape, kernel, stride, padding


@pytest.mark.parametrize("name", POOLS)
@given(problem=pool_problems(), seed=seeds, ties=st.booleans())
def test_matches_torch_on_random_problems(name, problem, seed, ties):
    shape, kernel, stride, padding = problem
    assume(all(n + 2 * p >= k for n, p, k in zip(shape[-2:], padding, kernel)))
    x = random_array(seed, shape)
    if ties:  # few distinct values: windows with several maxima
        x = np.round(x)
    compare_with_torch(name, x, kernel, stride, padding)


# ----- max_pool2d: which element gets the gradient --------------------------------------------
def test_max_pool_ties_give_the_whole_gradient_to_the_first_max():
    x = Tensor(np.array([[[[1.0, 1.0], [1.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[5.0]]]]))
    np.testing.assert_array_equal(x.grad.data, [[[[5.0, 0.0], [0.0, 0.0]]]])
    # overlapping windows: each window sends its gradient to its own first max
    compare_with_torch("max_pool2d", np.zeros((1, 1, 4, 4)), 2, 1, 1)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_max_pool_nan_and_inf_as_torch():
    nan, inf = np.nan, np.inf
    # a nan is the window's max; among several nans PyTorch picks the last
    compare_with_torch("max_pool2d", np.array([[[[1.0, nan], [nan, 2.0]]]]), 2, None, 0)
    compare_with_torch("max_pool2d", np.array([[[[1.0, inf], [-inf, nan]]]]), 2, 1, 1)
    # an all -inf window: the gradient goes to its first pixel inside the image, not to padding
    compare_with_torch("max_pool2d", np.full((1, 1, 3, 3), -inf), 2, 2, 1)
    compare_with_torch("avg_pool2d", np.array([[[[1.0, inf], [-inf, nan]]]]), 2, 1, 1)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", POOLS)
def test_an_infinite_upstream_gradient_reaches_only_its_window(name):
    # max_pool2d selects (never multiplies by a 0/1 mask): the other pixels get 0, not inf·0 = nan
    x = random_array(3, (1, 1, 4, 4))
    t, p = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.array([[[[np.inf, 1.0], [-2.0, 0.5]]]])
    POOLS[name][0](t, 2).backward(g)
    POOLS[name][1](p, 2).backward(torch.tensor(g))
    np.testing.assert_array_equal(t.grad.data, p.grad.numpy())


def test_max_pool_padding_never_wins():
    x = Tensor(-np.ones((1, 1, 2, 2)), requires_grad=True)
    out = F.max_pool2d(x, 2, 1, 1)
    np.testing.assert_array_equal(out.data, -np.ones((1, 1, 3, 3)))


def test_avg_pool_counts_the_padding():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    out = F.avg_pool2d(x, 2, 1, 1)  # the corner windows hold one pixel and three padding zeros
    np.testing.assert_allclose(out.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.ones((1, 1, 2, 2)))  # four windows, 1/4 each


# ----- what the ops are ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", POOLS)
def test_registered_without_a_tensor_method_and_float32_kept(name):
    assert name in tinygrad_sm.ops() and not hasattr(Tensor, name)
    x = Tensor(random_array(0, (2, 3, 4, 4)).astype(np.float32), requires_grad=True)
    out = POOLS[name][0](x, 2)
    assert type(out.grad_fn).name == name and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


# ----- bad input ----------------------------------------------------------------------------------
# (input shape, kernel_size, keyword arguments, the message); a ValueError unless the message says TypeError
BAD = [
    ((4, 4), 2, {}, "expected a 3-D (unbatched) or 4-D (batched) input (N, C, H, W), got a 2-D input of shape (4, 4)"),
    ((1, 1, 4, 4), 2, {"padding": 2}, "padding must be at most half of kernel_size, got padding=2 and kernel_size=2"),
    ((1, 1, 4, 4), (3, 2), {"padding": (1, 2)}, "padding must be at most half of kernel_size"),
    ((1, 1, 4, 4), 2, {"stride": 0}, "stride must be positive, got 0"),
    ((1, 1, 4, 4), 0, {}, "kernel_size must be positive, got 0"),
    ((1, 1, 4, 4), 2, {"padding": -1}, "padding must be non-negative, got -1"),
    ((1, 1, 2, 2), 3, {}, "the kernel 3 x 3 (dilated: 3 x 3) is larger than the padded input 2 x 2"),
    ((1, 1, 4, 4), 2.0, {}, "TypeError: kernel_size must be an int or a tuple of 2 ints, got 2.0"),
    ((0, 2, 2), 1, {}, "every axis but the batch axis must be non-empty, got an input of shape (0, 2, 2)"),
    ((2, 1, 0, 2), 1, {}, "every axis but the batch axis must be non-empty, got an input of shape (2, 1, 0, 2)"),
]


@pytest.mark.parametrize("name", POOLS)
@pytest.mark.parametrize("shape, kernel_size, kwargs, message", BAD)
def test_bad_arguments_are_named(name, shape, kernel_size, kwargs, message):
    error, message = (TypeError, message[len("TypeError: ") :]) if message.startswith("TypeError") else (ValueError, message)
    with pytest.raises(error, match=re.escape(f"{name}: {message}")):
        POOLS[name][0](Tensor(np.zeros(shape)), kernel_size, **kwargs)


@pytest.mark.parametrize("name", POOLS)
def test_integer_input_is_a_type_error(name):
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point input, got dtype int64"):
        POOLS[name][0](Tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)


@pytest.mark.parametrize("name", POOLS)
def test_an_empty_batch_gives_an_empty_result(name):
    x = Tensor(np.zeros((0, 3, 4, 4)), requires_grad=True)
    out = POOLS[name][0](x, 2)
    assert out.shape == (0, 3, 2, 2)
    out.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4)


# ----- PyTorch's other pooling arguments: dilation, ceil_mode, count_include_pad, divisor_override,
# return_indices; 1-tuples and stride=() -----------------------------------------------------------
def assert_pool_matches_torch(ours, theirs, x):
    t, p = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(t), theirs(p)
    assert out.shape == tuple(expected.shape) and out.dtype == x.dtype
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(t.grad.data, p.grad.numpy(), rtol=1e-12, atol=1e-14)


MAX_CASES = [  # (input shape, kernel_size, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 6), 2, None, 0, 1, True),
    ((1, 2, 7, 6), (3, 2), 2, 1, (2, 1), True),
    ((2, 2, 8, 9), 3, (2, 3), (1, 0), (1, 3), False),
    ((1, 1, 4, 7), 3, 2, 0, 2, True),  # ceil_mode: one window although the dilated kernel overhangs
    ((3, 5, 5), (2, 3), 3, 1, 1, True),  # unbatched
]


@pytest.mark.parametrize("shape, kernel_size, stride, padding, dilation, ceil_mode", MAX_CASES)
def test_max_pool2d_dilation_and_ceil_mode_match_torch(shape, kernel_size, stride, padding, dilation, ceil_mode):
    arguments = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    x = random_array(0, shape)
    assert_pool_matches_torch(
        lambda t: F.max_pool2d(t, kernel_size, **arguments), lambda p: TF.max_pool2d(p, kernel_size, **arguments), x
    )
    out, indices = F.max_pool2d(Tensor(x), kernel_size, return_indices=True, **arguments)
    expected, expected_indices = TF.max_pool2d(torch.tensor(x), kernel_size, return_indices=True, **arguments)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())
    check_gradients(lambda t: F.max_pool2d(t, kernel_size, **arguments), distinct_array(1, shape))


def test_max_pool2d_indices_follow_the_tie_rule():
    x = np.round(random_array(4, (2, 2, 6, 7)))  # many ties
    _, indices = F.max_pool2d(Tensor(x), 3, 2, 1, 2, True, True)
    _, expected = TF.max_pool2d(torch.tensor(x), 3, 2, 1, 2, True, True)
    np.testing.assert_array_equal(indices.data, expected.numpy())


AVG_CASES = [  # (input shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    ((2, 3, 7, 6), 2, None, 0, True, True, None),
    ((1, 2, 7, 6), 3, 2, 1, False, False, None),
    ((1, 2, 7, 6), (3, 2), 2, 1, True, False, None),
    ((1, 2, 7, 6), (3, 2), 2, 1, True, True, None),  # the ceil_mode overhang never counts
    ((3, 5, 5), 3, 2, 1, True, True, 5),  # unbatched
    ((1, 1, 5, 5), 2, 1, 1, False, False, -2),
]


@pytest.mark.parametrize("shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override", AVG_CASES)
def test_avg_pool2d_ceil_mode_and_divisors_match_torch(
    shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    arguments = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    x = random_array(0, shape)
    assert_pool_matches_torch(lambda t: F.avg_pool2d(t, *arguments), lambda p: TF.avg_pool2d(p, *arguments), x)
    check_gradients(lambda t: F.avg_pool2d(t, *arguments), random_array(1, shape))
    check_second_derivatives(lambda t: F.avg_pool2d(t, *arguments).tanh(), random_array(2, shape))


def test_pool_second_derivatives_with_dilation_and_ceil_mode():
    check_second_derivatives(lambda t: F.max_pool2d(t, (3, 2), 2, 1, (2, 1), True).tanh(), distinct_array(2, (1, 2, 7, 6)))


@pytest.mark.parametrize("name", POOLS)
def test_one_tuples_and_an_empty_stride_as_torch(name):
    ours, theirs = POOLS[name]
    x = random_array(5, (1, 2, 7, 6))
    assert_pool_matches_torch(lambda t: ours(t, (3,), (2,), (1,)), lambda p: theirs(p, (3,), (2,), (1,)), x)
    assert_pool_matches_torch(lambda t: ours(t, 2, ()), lambda p: theirs(p, 2, ()), x)


def test_pool_extra_arguments_are_checked():
    x = Tensor(random_array(0, (1, 1, 4, 4)))
    with pytest.raises(ValueError, match="max_pool2d: dilation must be positive"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="avg_pool2d: divisor_override must be a non-zero int, got 0"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="max_pool2d: the kernel 3 x 3 \\(dilated: 7 x 7\\) is larger"):
        F.max_pool2d(x, 3, dilation=3, ceil_mode=True)


@given(
    problem=pool_problems(),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    seed=seeds,
)
def test_other_arguments_match_torch_on_random_problems(problem, dilation, ceil_mode, count_include_pad, seed):
    shape, kernel, stride, padding = problem
    x = np.round(random_array(seed, shape))  # ties
    max_arguments = (kernel, stride, padding, dilation, ceil_mode)
    try:
        expected, indices = TF.max_pool2d(torch.tensor(x), *max_arguments, return_indices=True)
    except RuntimeError:  # the output would be empty: ours is the ValueError naming the sizes
        with pytest.raises(ValueError, match="is larger than the padded input"):
            F.max_pool2d(Tensor(x), *max_arguments)
    else:
        np.testing.assert_array_equal(F.max_pool2d(Tensor(x), *max_arguments, return_indices=True)[1].data, indices.numpy())
        # (a window that dilation makes skip the image is all padding: PyTorch's backward writes
        # its gradient out of the window's plane, ours drops it)
        if not np.isinf(expected.numpy()).any():
            assert_pool_matches_torch(lambda t: F.max_pool2d(t, *max_arguments), lambda p: TF.max_pool2d(p, *max_arguments), x)
    assume(all(n + 2 * p >= k for n, p, k in zip(shape[-2:], padding, kernel)))
    avg_arguments = (kernel, stride, padding, ceil_mode, count_include_pad)
    assert_pool_matches_torch(lambda t: F.avg_pool2d(t, *avg_arguments), lambda p: TF.avg_pool2d(p, *avg_arguments), x)


def test_a_window_that_skips_the_image_has_pytorch_s_index_and_no_gradient():
    # width 1, padding 1, dilation 2: the window reads only the two padding pixels
    x = Tensor(np.array([[[1.0]], [[-1.0]]]), requires_grad=True)
    out, indices = F.max_pool2d(x, (1, 2), None, (0, 1), (1, 2), False, True)
    _, expected = TF.max_pool2d(torch.tensor(x.data), (1, 2), None, (0, 1), (1, 2), False, True)
    np.testing.assert_array_equal(out.data, np.full((2, 1, 1), -np.inf))
    np.testing.assert_array_equal(indices.data, expected.numpy())
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(x.grad.data, np.zeros(x.shape))


# ----- the 1-d pools: the 2-d ops on an image of height 1 ------------------------------------------
def hvp_matches_torch(ours, theirs, x, seed=0):
    """∂⟨v, ∂⟨w, f(x)⟩/∂x⟩/∂x through create_graph, ours against PyTorch's, for f = tanh ∘ pool."""
    rng = np.random.default_rng(seed)
    t, p = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(t).tanh(), theirs(p).tanh()
    w, v = rng.standard_normal(out.shape), rng.standard_normal(x.shape)
    (g,) = tinygrad_sm.grad((out * w).sum(), [t], create_graph=True)
    (expected_g,) = torch.autograd.grad((expected * torch.tensor(w)).sum(), [p], create_graph=True)
    np.testing.assert_allclose(g.data, expected_g.detach().numpy(), rtol=1e-12, atol=1e-14)
    (h,) = tinygrad_sm.grad((g * v).sum(), [t])
    (expected_h,) = torch.autograd.grad((expected_g * torch.tensor(v)).sum(), [p])
    np.testing.assert_allclose(h.data, expected_h.numpy(), rtol=1e-10, atol=1e-12)


ONE_D_CASES = [  # (input shape, kernel_size, stride, padding, dilation, ceil_mode)
    ((2, 3, 9), 3, None, 0, 1, False),
    ((2, 3, 9), 3, 2, 1, 1, True),
    ((1, 2, 10), (2,), (3,), (1,), 2, False),
    ((3, 8), 4, 1, 2, 1, True),  # unbatched
]


@pytest.mark.parametrize("shape, kernel_size, stride, padding, dilation, ceil_mode", ONE_D_CASES)
def test_max_pool1d_matches_torch(shape, kernel_size, stride, padding, dilation, ceil_mode):
    arguments = (kernel_size, stride, padding, dilation, ceil_mode)
    x = random_array(0, shape)
    assert_pool_matches_torch(lambda t: F.max_pool1d(t, *arguments), lambda p: TF.max_pool1d(p, *arguments), x)
    _, indices = F.max_pool1d(Tensor(np.round(x)), *arguments, return_indices=True)  # ties
    _, expected = TF.max_pool1d(torch.tensor(np.round(x)), *arguments, return_indices=True)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.data, expected.numpy())
    check_gradients(lambda t: F.max_pool1d(t, *arguments), distinct_array(1, shape))
    hvp_matches_torch(lambda t: F.max_pool1d(t, *arguments), lambda p: TF.max_pool1d(p, *arguments), distinct_array(2, shape))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape, kernel_size, stride, padding, dilation, ceil_mode", ONE_D_CASES)
def test_avg_pool1d_matches_torch(shape, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad):
    arguments = (kernel_size, stride, padding, ceil_mode, count_include_pad)
    x = random_array(0, shape)
    assert_pool_matches_torch(lambda t: F.avg_pool1d(t, *arguments), lambda p: TF.avg_pool1d(p, *arguments), x)
    check_gradients(lambda t: F.avg_pool1d(t, *arguments), x)
    hvp_matches_torch(lambda t: F.avg_pool1d(t, *arguments), lambda p: TF.avg_pool1d(p, *arguments), x)


def test_1d_pools_are_the_2d_ops_on_a_height_1_image():
    x = Tensor(random_array(0, (2, 3, 8)), requires_grad=True)
    assert {type(F.max_pool1d(x, 2).grad_fn).name, type(F.avg_pool1d(x, 2).grad_fn).name} == {"reshape"}
    assert F.max_pool1d(x, 2).grad_fn.inputs[0].grad_fn.name == "max_pool2d"
    assert F.adaptive_avg_pool1d(x, 3).grad_fn.inputs[0].grad_fn.name == "adaptive_avg_pool2d"


@given(
    length=st.integers(1, 9),
    kernel=st.integers(1, 4),
    stride=st.one_of(st.none(), st.integers(1, 3)),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    unbatched=st.booleans(),
    seed=seeds,
)
def test_1d_pools_match_torch_on_random_problems(
    length, kernel, stride, padding, dilation, ceil_mode, count_include_pad, unbatched, seed
):
    assume(2 * padding <= kernel and length + 2 * padding >= dilation * (kernel - 1) + 1)
    x = np.round(random_array(seed, (3, length) if unbatched else (2, 2, length)))  # ties
    max_arguments = (kernel, stride, padding, dilation, ceil_mode)
    # (a window that dilation makes skip the input is all padding, -inf: PyTorch's backward then
    # writes out of bounds and can abort the process, so only its forward is compared there)
    if not np.isinf(TF.max_pool1d(torch.tensor(x), *max_arguments).numpy()).any():
        assert_pool_matches_torch(lambda t: F.max_pool1d(t, *max_arguments), lambda p: TF.max_pool1d(p, *max_arguments), x)
    _, indices = F.max_pool1d(Tensor(x), *max_arguments, return_indices=True)
    np.testing.assert_array_equal(indices.data, TF.max_pool1d(torch.tensor(x), *max_arguments, return_indices=True)[1].numpy())
    assume(length + 2 * padding >= kernel)
    avg_arguments = (kernel, stride, padding, ceil_mode, count_include_pad)
    assert_pool_matches_torch(lambda t: F.avg_pool1d(t, *avg_arguments), lambda p: TF.avg_pool1d(p, *avg_arguments), x)


BAD_1D = [
    ((4,), 2, {}, "expected a 2-D (unbatched) or 3-D (batched) input (N, C, L), got a 1-D input of shape (4,)"),
    ((1, 2, 2, 4), 2, {}, "expected a 2-D (unbatched) or 3-D (batched) input (N, C, L), got a 4-D input of shape (1, 2, 2, 4)"),
    ((1, 1, 3), 5, {}, "the kernel 5 (dilated: 5) is larger than the padded input 3 (input 3)"),
    ((1, 1, 3), 2, {"padding": 2}, "padding must be at most half of kernel_size, got padding=2 and kernel_size=2"),
    ((1, 1, 4), (2, 2), {}, "kernel_size must be an int or a tuple of 1 ints, got (2, 2)"),
    ((1, 1, 4), 2, {"stride": 0}, "stride must be positive, got 0"),
    ((1, 0, 4), 2, {}, "every axis but the batch axis must be non-empty, got an input of shape (1, 0, 4)"),
]


@pytest.mark.parametrize("name", ["max_pool1d", "avg_pool1d"])
@pytest.mark.parametrize("shape, kernel_size, kwargs, message", BAD_1D)
def test_1d_bad_arguments_are_named(name, shape, kernel_size, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"{name}: {message}")):
        getattr(F, name)(Tensor(np.zeros(shape)), kernel_size, **kwargs)
    with pytest.raises(RuntimeError):  # PyTorch refuses it too
        getattr(TF, name)(torch.zeros(shape), kernel_size, **kwargs)


def test_1d_dilation_too_large_and_integer_input():
    with pytest.raises(ValueError, match=re.escape("max_pool1d: the kernel 3 (dilated: 7) is larger than the padded input 6")):
        F.max_pool1d(Tensor(np.zeros((1, 1, 4))), 3, padding=1, dilation=3)
    with pytest.raises(TypeError, match="avg_pool1d: expected a floating-point input, got dtype int64"):
        F.avg_pool1d(Tensor(np.zeros((1, 1, 4), np.int64)), 2)


# ----- the adaptive pools ---------------------------------------------------------------------------
ADAPTIVE = {
    "adaptive_avg_pool2d": (F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d),
    "adaptive_max_pool2d": (F.adaptive_max_pool2d, TF.adaptive_max_pool2d),
}
ADAPTIVE_1D = {
    "adaptive_avg_pool1d": (F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d),
    "adaptive_max_pool1d": (F.adaptive_max_pool1d, TF.adaptive_max_pool1d),
}
ADAPTIVE_CASES = [  # (input shape, output_size)
    ((2, 3, 6, 4), 1),  # the global pool
    ((2, 3, 6, 4), (3, 2)),  # windows that tile the image
    ((1, 2, 7, 5), (3, 2)),  # overlapping windows
    ((1, 2, 3, 5), (5, 7)),  # more outputs than pixels: windows repeat
    ((3, 7, 5), (None, 3)),  # unbatched; None keeps the height
    ((2, 1, 5, 5), (1, 4)),
]


@pytest.mark.parametrize("name", ADAPTIVE)
@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES)
def test_adaptive_pools_match_torch(name, shape, output_size):
    ours, theirs = ADAPTIVE[name]
    x = random_array(0, shape)
    assert_pool_matches_torch(lambda t: ours(t, output_size), lambda p: theirs(p, output_size), x)
    check_gradients(lambda t: ours(t, output_size), distinct_array(1, shape))
    hvp_matches_torch(lambda t: ours(t, output_size), lambda p: theirs(p, output_size), distinct_array(2, shape))


@pytest.mark.parametrize("name", ADAPTIVE)
def test_adaptive_second_derivatives(name):
    check_second_derivatives(lambda t: ADAPTIVE[name][0](t, (3, 2)).tanh(), distinct_array(2, (1, 2, 7, 5)))
    check_second_derivatives(lambda t: ADAPTIVE[name][0](t, 1).tanh(), distinct_array(3, (2, 2, 3, 4)))


@st.composite
def adaptive_problems(draw):
    shape = draw(st.sampled_from([(2,), (1, 2), (2, 1)])) + (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    output_size = draw(st.one_of(st.integers(1, 8), st.tuples(*[st.one_of(st.none(), st.integers(1, 8))] * 2)))
    return shape, output_size


@given(problem=adaptive_problems(), seed=seeds, ties=st.booleans())
def test_adaptive_pools_match_torch_on_random_problems(problem, seed, ties):
    # sizes where the windows tile, overlap (H not a multiple of the output) and repeat (output > H)
    shape, output_size = problem
    x = random_array(seed, shape)
    if ties:  # few distinct values: windows with several maxima
        x = np.round(x)
    for ours, theirs in ADAPTIVE.values():
        assert_pool_matches_torch(lambda t, f=ours: f(t, output_size), lambda p, f=theirs: f(p, output_size), x)
    _, indices = F.adaptive_max_pool2d(Tensor(x), output_size, return_indices=True)
    _, expected = TF.adaptive_max_pool2d(torch.tensor(x), output_size, return_indices=True)
    np.testing.assert_array_equal(indices.data, expected.numpy())


@pytest.mark.parametrize("name", ADAPTIVE_1D)
@pytest.mark.parametrize("shape, output_size", [((2, 3, 7), 3), ((2, 3, 4), 1), ((3, 4), (6,)), ((1, 2, 5), 5)])
def test_adaptive_1d_pools_match_torch(name, shape, output_size):
    ours, theirs = ADAPTIVE_1D[name]
    x = random_array(0, shape)
    assert_pool_matches_torch(lambda t: ours(t, output_size), lambda p: theirs(p, output_size), x)
    check_gradients(lambda t: ours(t, output_size), distinct_array(1, shape))
    hvp_matches_torch(lambda t: ours(t, output_size), lambda p: theirs(p, output_size), distinct_array(2, shape))
    if name == "adaptive_max_pool1d":
        _, indices = ours(Tensor(np.round(x)), output_size, True)
        _, expected_indices = theirs(torch.tensor(np.round(x)), output_size, True)
        np.testing.assert_array_equal(indices.data, expected_indices.numpy())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_adaptive_max_pool_nan_and_inf_as_torch():
    nan, inf = np.nan, np.inf
    x = np.array([[[[1.0, nan, 3.0], [nan, 2.0, 0.0], [5.0, -1.0, 2.0]]]])  # the last nan of a window wins
    assert_pool_matches_torch(lambda t: F.adaptive_max_pool2d(t, 2), lambda p: TF.adaptive_max_pool2d(p, 2), x)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(Tensor(x), 2, True)[1].data, [[[[3, 1], [3, 4]]]])
    x = np.full((1, 1, 3, 3), -inf)  # all -inf windows: their first element
    np.testing.assert_array_equal(F.adaptive_max_pool2d(Tensor(x), 2, True)[1].data, [[[[0, 1], [3, 4]]]])
    x = np.array([[[[1.0, inf], [-inf, nan]]]])
    for ours, theirs in ADAPTIVE.values():
        assert_pool_matches_torch(lambda t, f=ours: f(t, (2, 1)), lambda p, f=theirs: f(p, (2, 1)), x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", ADAPTIVE)
def test_adaptive_infinite_upstream_gradient_reaches_only_its_windows(name):
    x = random_array(3, (1, 1, 5, 4))
    t, p = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.array([[[[np.inf, 1.0], [-2.0, 0.5]]]])
    ADAPTIVE[name][0](t, 2).backward(g)
    ADAPTIVE[name][1](p, 2).backward(torch.tensor(g))
    np.testing.assert_array_equal(t.grad.data, p.grad.numpy())


@pytest.mark.parametrize("name", ADAPTIVE)
def test_adaptive_registered_without_a_tensor_method_float32_and_empty_batch(name):
    assert name in tinygrad_sm.ops() and not hasattr(Tensor, name)
    x = Tensor(random_array(0, (2, 3, 5, 4)).astype(np.float32), requires_grad=True)
    out = ADAPTIVE[name][0](x, (2, 3))
    assert type(out.grad_fn).name == name and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
    empty = Tensor(np.zeros((0, 3, 4, 4)), requires_grad=True)
    out = ADAPTIVE[name][0](empty, 2)
    assert out.shape == (0, 3, 2, 2)
    out.sum().backward()
    assert empty.grad.shape == (0, 3, 4, 4)


def test_global_average_pool_is_a_mean():
    x = random_array(0, (2, 3, 4, 5))
    t = Tensor(x, requires_grad=True)
    out = F.adaptive_avg_pool2d(t, 1)
    np.testing.assert_allclose(out.data, x.mean(axis=(2, 3), keepdims=True), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(t.grad.data, np.full(x.shape, 1 / 20))


BAD_ADAPTIVE = [  # (input shape, output_size, the message); a ValueError unless the message says TypeError
    ((1, 1, 4, 4), 0, "output_size must be positive, got 0"),
    ((1, 1, 4, 4), (2, -1), "output_size must be positive, got (2, -1)"),
    ((1, 1, 4, 4), (2,), "output_size must be an int or a tuple of 2 ints, got (2,)"),
    ((1, 1, 4, 4), 2.0, "TypeError: output_size must be an int or a tuple of 2 ints (or None: keep that size), got 2.0"),
    ((4, 4), 2, "expected a 3-D (unbatched) or 4-D (batched) input (N, C, H, W), got a 2-D input of shape (4, 4)"),
    ((2, 1, 0, 4), 2, "every axis but the batch axis must be non-empty, got an input of shape (2, 1, 0, 4)"),
]


@pytest.mark.parametrize("name", ADAPTIVE)
@pytest.mark.parametrize("shape, output_size, message", BAD_ADAPTIVE)
def test_adaptive_bad_arguments_are_named(name, shape, output_size, message):
    error, message = (TypeError, message[len("TypeError: ") :]) if message.startswith("TypeError") else (ValueError, message)
    with pytest.raises(error, match=re.escape(f"{name}: {message}")):
        ADAPTIVE[name][0](Tensor(np.zeros(shape)), output_size)


@pytest.mark.parametrize("name", ADAPTIVE_1D)
def test_adaptive_1d_bad_arguments_are_named(name):
    ours = ADAPTIVE_1D[name][0]
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected a 2-D (unbatched) or 3-D (batched) input (N, C, L)")):
        ours(Tensor(np.zeros((1, 1, 4, 4))), 2)
    with pytest.raises(ValueError, match=re.escape(f"{name}: output_size must be an int or a tuple of 1 ints, got (2, 2)")):
        ours(Tensor(np.zeros((1, 1, 4))), (2, 2))
    with pytest.raises(ValueError, match=f"{name}: output_size must be positive, got -1"):
        ours(Tensor(np.zeros((1, 1, 4))), -1)
    with pytest.raises(TypeError, match=re.escape(f"{name}: output_size must be an int or a tuple of 1 ints, got None")):
        ours(Tensor(np.zeros((1, 1, 4))), None)  # as PyTorch's 1-d forms (the 2-d ones take None)
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point input, got dtype int64"):
        ours(Tensor(np.zeros((1, 4), np.int64)), 2)


def test_tiling_windows_after_relu_send_the_gradient_to_the_first_zero_as_pytorch():
    torch = pytest.importorskip("torch")
    x = np.maximum(np.random.default_rng(5).normal(size=(3, 4, 6, 8)), 0)  # many all-zero windows (ties)
    g = np.random.default_rng(6).normal(size=(3, 4, 3, 4))
    ours = Tensor(x, requires_grad=True)
    F.max_pool2d(ours, 2).backward(g)
    theirs = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(theirs, 2).backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    # the recorded backward (create_graph) takes the general path and agrees
    t = Tensor(x, requires_grad=True)
    (grad,) = tinygrad_sm.grad(F.max_pool2d(t, 2), [t], grad_outputs=[Tensor(g)], create_graph=True)
    np.testing.assert_array_equal(grad.numpy(), theirs.grad.numpy())
