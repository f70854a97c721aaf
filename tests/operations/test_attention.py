"""scaled_dot_product_attention (tinygrad_sm/operations/attention.py)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array, tensors

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F  # noqa: N812  (PyTorch's habit)

torch = pytest.importorskip("torch")
sdpa = F.scaled_dot_product_attention
torch_sdpa = torch.nn.functional.scaled_dot_product_attention

# (query, key, value) shapes: 2-D, batched, and batch axes that broadcast
SHAPES = [((3, 4), (5, 4), (5, 2)), ((2, 3, 4), (2, 5, 4), (2, 5, 6)), ((2, 1, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3))]


def qkv(shapes, seed=0):
    return [random_array(seed + i, shape) for i, shape in enumerate(shapes)]


def bool_mask(shape, seed=10, empty_row=None):
    mask = np.random.default_rng(seed).random(shape) < 0.6
    mask[..., 0] |= ~mask.any(axis=-1)  # every row attends somewhere ...
    if empty_row is not None:
        mask[..., empty_row, :] = False  # ... but this one, which attends to nothing
    return mask


def float_mask(shape, seed=11, empty_row=None):
    mask = random_array(seed, shape)
    mask[np.random.default_rng(seed).random(shape) < 0.3] = -np.inf
    mask[..., 0] = 0.0
    if empty_row is not None:
        mask[..., empty_row, :] = -np.inf
    return mask


MASKS = {
    "no mask": {},
    "bool": {"attn_mask": bool_mask((3, 5))},
    "bool with an empty row": {"attn_mask": bool_mask((3, 5), empty_row=1)},
    "float with -inf": {"attn_mask": float_mask((3, 5))},
    "float with an empty row": {"attn_mask": float_mask((3, 5), empty_row=2)},
    "causal": {"is_causal": True},
    "scale": {"scale": 0.3},
}


@pytest.mark.parametrize("options", MASKS.values(), ids=MASKS.keys())
@pytest.mark.parametrize("shapes", SHAPES, ids=["2-d", "batched", "broadcast"])
def test_gradcheck(shapes, options):
    check_gradients(lambda q, k, v: sdpa(q, k, v, **options), *qkv(shapes))


@pytest.mark.parametrize("mask_shape", [(3, 5), (2, 1, 5), (2, 3, 5)])
def test_gradcheck_of_a_float_mask(mask_shape):
    # a float mask is added to the scores, so it has a gradient (∂S), broadcast back to its shape
    shapes = SHAPES[1]
    check_gradients(lambda q, k, v, m: sdpa(q, k, v, attn_mask=m), *qkv(shapes), random_array(12, mask_shape))


@pytest.mark.parametrize("length, keys", [(3, 5), (5, 3), (4, 4)])
def test_causal_is_top_left_aligned_as_pytorch(length, keys):
    q, k, v = random_array(1, (2, length, 4)), random_array(2, (2, keys, 4)), random_array(3, (2, keys, 3))
    expected = torch_sdpa(torch.tensor(q), torch.tensor(k), torch.tensor(v), is_causal=True)
    np.testing.assert_allclose(sdpa(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data, expected.numpy(), rtol=1e-12)
    same_as_mask = sdpa(Tensor(q), Tensor(k), Tensor(v), attn_mask=np.tril(np.ones((length, keys), bool)))
    np.testing.assert_array_equal(sdpa(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data, same_as_mask.data)


@pytest.mark.parametrize("options", list(MASKS.values())[1:], ids=list(MASKS.keys())[1:])
def test_second_derivatives(options):
    check_second_derivatives(lambda q, k, v: sdpa(q, k, v, **options), *qkv(SHAPES[1], seed=20))


def test_second_derivatives_with_dropout_and_a_float_mask():
    arrays = *qkv(SHAPES[1], seed=30), random_array(33, (3, 5))
    check_second_derivatives(lambda q, k, v, m: sdpa(q, k, v, attn_mask=m, dropout_p=0.3, rng=7), *arrays)


def torch_options(options):
    return {name: torch.tensor(value) if isinstance(value, np.ndarray) else value for name, value in options.items()}


@pytest.mark.parametrize("options", MASKS.values(), ids=MASKS.keys())
def test_hessian_vector_product_matches_pytorch(options):
    arrays = qkv(SHAPES[1], seed=40)
    rng = np.random.default_rng(41)
    directions = [rng.standard_normal(a.shape) for a in arrays]
    weights = rng.standard_normal((2, 3, 6))
    ours = tensors(*arrays)
    grads = tinygrad_sm.grad((sdpa(*ours, **options) * Tensor(weights)).sum(), ours, create_graph=True)
    our_hvp = tinygrad_sm.grad(sum((g * Tensor(d)).sum() for g, d in zip(grads, directions)), ours)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    their_out = torch_sdpa(*theirs, **torch_options(options))
    their_grads = torch.autograd.grad((their_out * torch.tensor(weights)).sum(), theirs, create_graph=True)
    their_hvp = torch.autograd.grad(sum((g * torch.tensor(d)).sum() for g, d in zip(their_grads, directions)), theirs)
    for a, b in zip(our_hvp, their_hvp):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("options", MASKS.values(), ids=MASKS.keys())
@pytest.mark.parametrize("shapes", SHAPES, ids=["2-d", "batched", "broadcast"])
def test_values_and_gradients_match_pytorch(shapes, options):
    arrays = qkv(shapes, seed=50)
    ours = tensors(*arrays)
    out = sdpa(*ours, **options)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_sdpa(*theirs, **torch_options(options))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    upstream = random_array(51, out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_float_mask_gradient_matches_pytorch():
    arrays = *qkv(SHAPES[1], seed=60), float_mask((2, 1, 5), empty_row=0)
    ours = tensors(*arrays)
    out = sdpa(*ours[:3], attn_mask=ours[3])
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_sdpa(*theirs[:3], attn_mask=theirs[3])
    upstream = random_array(61, out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_a_query_with_nothing_to_attend_to_gives_zeros_and_zero_gradients_as_pytorch(kind):
    q, k, v = qkv(SHAPES[1], seed=70)
    mask = bool_mask((2, 3, 5), empty_row=1) if kind == "bool" else float_mask((2, 3, 5), empty_row=1)
    ours = tensors(q, k, v)
    out = sdpa(*ours, attn_mask=mask)
    np.testing.assert_array_equal(out.data[:, 1], 0.0)
    out.sum().backward()
    np.testing.assert_array_equal(ours[0].grad.data[:, 1], 0.0)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch_sdpa(*theirs, attn_mask=torch.tensor(mask))
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    for a, b in zip(ours, theirs):
        assert np.isfinite(a.grad.data).all()
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "shapes",
    [((2, 3, 4), (2, 0, 4), (2, 0, 5)), ((2, 3, 0), (2, 4, 0), (2, 4, 5))],
    ids=["no-keys", "no-features"],
)
def test_size_zero_key_or_feature_axes_match_pytorch(shapes):
    # S = 0: every query has nothing to attend to (softmax over an empty axis): zeros, not a crash;
    # E = 0: every score is an empty sum, 0, so each query averages the values (no 1/√0 error)
    q, k, v = qkv(shapes, seed=72)
    ours = tensors(q, k, v)
    out = sdpa(*ours)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch_sdpa(*theirs)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert out.shape == (2, 3, 5)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(ours, theirs):
        assert a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("options", list(MASKS.values())[1:], ids=list(MASKS.keys())[1:])
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_inputs_give_what_pytorch_gives(options, special):
    # a masked place is biased by -inf, not overwritten (as PyTorch): a NaN or +inf score there makes
    # the row NaN in both libraries
    q, k, v = qkv(SHAPES[1], seed=75)
    k[0, 3, 1], q[1, 2, 0], v[1, 4, 1] = special, special, special
    ours = tensors(q, k, v)
    out = sdpa(*ours, **options)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch_sdpa(*theirs, **torch_options(options))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_float32_matches_pytorch_and_stays_float32():
    arrays = [a.astype(np.float32) for a in qkv(((4, 2, 16, 8), (4, 2, 16, 8), (4, 2, 16, 8)), seed=80)]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    out = sdpa(*ours, is_causal=True)
    assert out.dtype == np.float32
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_sdpa(*theirs, is_causal=True)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(ours, theirs):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-4, atol=1e-5)


# ----- dropout --------------------------------------------------------------------------------------
def reference_attention(q, k, v, keep=None, p=0.0):
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    if keep is not None:
        weights = np.where(keep, weights / (1 - p), 0.0)
    return weights @ v


def test_dropout_drops_attention_weights_with_the_given_rng():
    q, k, v = qkv(SHAPES[1], seed=90)
    out = sdpa(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.4, rng=np.random.default_rng(3))
    keep = np.random.default_rng(3).random((2, 3, 5)) >= 0.4
    np.testing.assert_allclose(out.data, reference_attention(q, k, v, keep, 0.4), rtol=1e-12)
    # an int seed is a fresh generator each call: the same mask
    np.testing.assert_array_equal(sdpa(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.4, rng=3).data, out.data)


def test_dropout_without_rng_uses_the_library_generator():
    q, k, v = qkv(SHAPES[1], seed=91)
    tinygrad_sm.manual_seed(5)
    out = sdpa(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.5)
    tinygrad_sm.manual_seed(5)
    keep = tinygrad_sm.random.as_generator(None).random((2, 3, 5)) >= 0.5
    np.testing.assert_allclose(out.data, reference_attention(q, k, v, keep, 0.5), rtol=1e-12)


def test_dropout_gradcheck_with_a_fixed_mask():
    check_gradients(lambda q, k, v: sdpa(q, k, v, dropout_p=0.3, rng=11), *qkv(SHAPES[1], seed=92))


def test_dropout_of_every_weight_gives_zeros():
    ours = tensors(*qkv(SHAPES[1], seed=93))
    out = sdpa(*ours, dropout_p=1.0, rng=0)
    np.testing.assert_array_equal(out.data, 0.0)
    out.sum().backward()
    for tensor in ours:
        np.testing.assert_array_equal(tensor.grad.data, 0.0)


@pytest.mark.parametrize(
    "shapes",
    [((2, 4, 3, 5), (2, 2, 6, 5), (2, 2, 6, 7)), ((2, 4, 3, 5), (2, 1, 6, 5), (2, 2, 6, 7)), ((4, 3, 5), (2, 6, 5), (2, 6, 7))],
    ids=["4-over-2", "key-1-value-2", "3-d"],
)
def test_grouped_query_attention_matches_pytorch(shapes):
    # enable_gqa=True (keyword-only, after rng): each key/value head serves a group of query heads
    q, k, v = qkv(shapes, seed=90)
    ours = tensors(q, k, v)
    out = sdpa(*ours, is_causal=True, enable_gqa=True)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = torch_sdpa(*theirs, is_causal=True, enable_gqa=True)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    upstream = random_array(91, out.shape)
    out.backward(Tensor(upstream))
    expected.backward(torch.tensor(upstream))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_grouped_query_attention_needs_a_divisor_of_the_query_heads():
    q, k, v = qkv(((2, 4, 3, 5), (2, 3, 6, 5), (2, 3, 6, 7)))
    with pytest.raises(ValueError, match=r"enable_gqa=True needs the heads \(axis -3\) of key to divide the query's 4"):
        sdpa(*tensors(q, k, v), enable_gqa=True)


def test_sdpa_is_a_registered_op():
    assert "scaled_dot_product_attention" in tinygrad_sm.ops()


# ----- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shapes, options, error, message",
    [
        (
            ((2, 3, 4), (2, 5, 3), (2, 5, 6)),
            {},
            ValueError,
            r"query has E=4 features but key has 3 \(query \(2, 3, 4\), key \(2, 5, 3\)\)",
        ),
        (
            ((2, 3, 4), (2, 5, 4), (2, 4, 6)),
            {},
            ValueError,
            r"key has S=5 positions but value has 4 \(key \(2, 5, 4\), value \(2, 4, 6\)\)",
        ),
        (((2, 3, 4), (3, 5, 4), (3, 5, 6)), {}, ValueError, r"the batch axes of query \(2, 3, 4\), key \(3, 5, 4\) .* cannot be"),
        (((4,), (5, 4), (5, 6)), {}, ValueError, r"at least 2 dimensions .* got query of shape \(4,\)"),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            {"attn_mask": np.ones((4, 5), bool)},
            ValueError,
            r"attn_mask of shape \(4, 5\) cannot be broadcast to the attention scores' shape \(2, 3, 5\)",
        ),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            {"attn_mask": np.ones((3, 3, 5), bool)},
            ValueError,
            r"attn_mask of shape \(3, 3, 5\) cannot be broadcast",
        ),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            {"attn_mask": np.ones((3, 5), bool), "is_causal": True},
            ValueError,
            r"give either attn_mask or is_causal=True, not both",
        ),
        (
            ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
            {"attn_mask": np.ones((3, 5), np.int64)},
            TypeError,
            r"attn_mask must be bool \(True = attend\) or float, got dtype int64",
        ),
        (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"dropout_p": 1.5}, ValueError, r"dropout_p must be in \[0, 1\], got 1.5"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"dropout_p": None}, TypeError, r"dropout_p must be a number"),
    ],
)
def test_errors_name_the_op_and_the_shapes(shapes, options, error, message):
    with pytest.raises(error, match=message) as info:
        sdpa(*(Tensor(a) for a in qkv(shapes)), **options)
    assert str(info.value).startswith("scaled_dot_product_attention: ")


def test_integer_inputs_are_a_type_error():
    with pytest.raises(TypeError, match="scaled_dot_product_attention: key must be floating point, got dtype int64"):
        sdpa(Tensor(np.ones((3, 4))), Tensor(np.ones((5, 4), np.int64)), Tensor(np.ones((5, 2))))
