"""MultiheadAttention against torch.nn.MultiheadAttention: parameters, init, every mask kind,
batch_first and unbatched inputs, returned weights, outputs and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn_parity import assert_matches_torch, same_layout

from tinygrad_sm import Tensor, nn

torch = pytest.importorskip("torch")

E, HEADS, L, S, N = 8, 2, 3, 4, 2


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def pair(**options):
    return nn.MultiheadAttention(E, HEADS, rng=0, **options), torch.nn.MultiheadAttention(E, HEADS, **options)


def both_outputs(out):
    return [out[0], out[1]]


def test_parameters_names_shapes_and_init_are_pytorchs():
    ours, theirs = pair()
    same_layout(ours, theirs)
    assert [name for name, _ in ours.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert not ours.in_proj_bias.numpy().any() and not ours.out_proj.bias.numpy().any()
    big = nn.MultiheadAttention(64, 4, rng=0)
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier_uniform on (3E, E)
    assert bound * 0.95 < np.abs(big.in_proj_weight.numpy()).max() <= bound
    assert np.abs(big.out_proj.weight.numpy()).max() <= 1 / math.sqrt(64)  # Linear's init
    no_bias, theirs_no_bias = pair(bias=False)
    same_layout(no_bias, theirs_no_bias)
    assert no_bias.in_proj_bias is None and no_bias.out_proj.bias is None


@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_cross_attention_matches_pytorch(batch_first, average):
    ours, theirs = pair(batch_first=batch_first)
    shape = (N, L, E) if batch_first else (L, N, E)
    kv_shape = (N, S, E) if batch_first else (S, N, E)
    inputs = [random(*shape), random(*kv_shape, seed=1), random(*kv_shape, seed=2)]
    assert_matches_torch(ours, theirs, inputs, call=lambda m, xs: m(*xs, average_attn_weights=average), outputs=both_outputs)


def test_self_attention_one_projection_and_unbatched_input():
    ours, theirs = pair()
    assert_matches_torch(ours, theirs, [random(L, N, E)], call=lambda m, xs: m(xs[0], xs[0], xs[0]), outputs=both_outputs)
    ours, theirs = pair(batch_first=True)  # unbatched (L, E) ignores batch_first, as PyTorch
    assert_matches_torch(
        ours, theirs, [random(L, E), random(S, E, seed=1)], call=lambda m, xs: m(xs[0], xs[1], xs[1]), outputs=both_outputs
    )
    output, weights = ours(Tensor(random(L, E)), Tensor(random(S, E)), Tensor(random(S, E)), average_attn_weights=False)
    assert output.shape == (L, E) and weights.shape == (HEADS, L, S)


def test_without_biases_matches_pytorch():
    ours, theirs = pair(bias=False, batch_first=True)
    assert_matches_torch(ours, theirs, [random(N, L, E), random(N, S, E, seed=1), random(N, S, E, seed=2)], outputs=both_outputs)


def masks():
    rng = np.random.default_rng(3)
    padding = np.array([[False, False, True, False], [False, True, True, False]])  # True = ignore that key
    blocked = np.triu(np.ones((L, S), bool), 2)  # True = may not attend
    per_head = rng.random((N * HEADS, L, S)) < 0.3
    per_head[..., 0] = False  # every query keeps a key
    return [
        dict(key_padding_mask=padding),
        dict(attn_mask=blocked),
        dict(attn_mask=per_head),
        dict(attn_mask=rng.standard_normal((L, S)).astype(np.float32)),
        dict(key_padding_mask=padding, attn_mask=blocked),
        dict(key_padding_mask=padding, attn_mask=rng.standard_normal((N * HEADS, L, S)).astype(np.float32)),
        dict(key_padding_mask=np.where(padding, -1.5, 0.0).astype(np.float32), attn_mask=blocked),
        dict(attn_mask=np.where(blocked, -np.inf, rng.standard_normal((L, S))).astype(np.float32)),  # some -inf
    ]


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask and attn_mask is deprecated")
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask_arguments", masks(), ids=lambda d: "+".join(f"{k}:{v.dtype}{v.ndim}d" for k, v in d.items()))
def test_masks_have_pytorchs_meaning(mask_arguments, need_weights):
    ours, theirs = pair()
    inputs = [random(L, N, E), random(S, N, E, seed=1), random(S, N, E, seed=2)]

    def call(module, xs):
        if isinstance(module, torch.nn.Module):
            return module(*xs, need_weights=need_weights, **{k: torch.from_numpy(v) for k, v in mask_arguments.items()})
        return module(*xs, need_weights=need_weights, **mask_arguments)

    assert_matches_torch(ours, theirs, inputs, call=call, outputs=both_outputs)


def test_is_causal_is_pytorchs_hint_about_the_mask():
    ours, theirs = pair()
    x = random(L, N, E)
    causal = np.triu(np.ones((L, L), bool), 1)
    for need_weights in (True, False):
        expected = theirs(
            *[torch.from_numpy(x)] * 3, attn_mask=torch.from_numpy(causal), is_causal=True, need_weights=need_weights
        )
        ours.load_state_dict(theirs.state_dict())
        got = ours(*[Tensor(x)] * 3, attn_mask=causal, is_causal=True, need_weights=need_weights)
        np.testing.assert_allclose(got[0].numpy(), expected[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="is_causal=True is a hint that attn_mask is the causal mask"):
        ours(*[Tensor(x)] * 3, is_causal=True)


@pytest.mark.parametrize(
    "masks",
    [
        dict(key_padding_mask=np.array([[True] * L, [False] * L])),
        dict(key_padding_mask=np.array([[-np.inf] * L, [0.0] * L], dtype=np.float32)),  # float: -inf = ignore
        dict(key_padding_mask=np.array([[True] * L, [False] * L]), attn_mask=np.zeros((L, L), np.float32)),
    ],
    ids=["bool", "float", "bool-padding-float-attn"],
)
def test_a_query_with_no_key_left_gives_zeros_not_nan(masks):
    # (PyTorch gives NaN with need_weights=True and zeros without; ours is zeros either way)
    ours = nn.MultiheadAttention(E, HEADS, rng=0)
    x = Tensor(random(L, N, E), requires_grad=True)
    for need_weights in (True, False):  # batch 0 may attend to nothing
        output, weights = ours(x, x, x, need_weights=need_weights, **masks)
        assert np.isfinite(output.numpy()).all() and not output.numpy()[:, 0].any()  # out_proj.bias is 0
        if need_weights:
            assert not weights.numpy()[0].any() and np.allclose(weights.numpy()[1].sum(axis=-1), 1.0)
        output.sum().backward()
        assert np.isfinite(x.grad.numpy()).all()
        x.grad = None


def test_dropout_drops_weights_in_training_only():
    ours = nn.MultiheadAttention(E, HEADS, dropout=0.5, rng=0)
    x = Tensor(random(L, N, E))
    _, weights = ours(x, x, x)
    assert (weights.numpy() == 0).any() or not np.allclose(weights.numpy().sum(axis=-1), 1.0)
    ours.eval()
    _, weights = ours(x, x, x)
    np.testing.assert_allclose(weights.numpy().sum(axis=-1), 1.0, rtol=1e-6)
    again = nn.MultiheadAttention(E, HEADS, dropout=0.5, rng=0)
    a = again(x, x, x, need_weights=False)[0].numpy()
    b = nn.MultiheadAttention(E, HEADS, dropout=0.5, rng=0)(x, x, x, need_weights=False)[0].numpy()
    np.testing.assert_array_equal(a, b)  # the same rng, the same drops


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(10\) must be divisible by num_heads \(4\)"):
        nn.MultiheadAttention(10, 4)
    ours = nn.MultiheadAttention(E, HEADS, rng=0)
    x = Tensor(random(L, N, E))
    with pytest.raises(ValueError, match=r"query must be \(L, N, 8\).*got shape \(3, 2, 5\)"):
        ours(Tensor(random(L, N, 5)), x, x)
    with pytest.raises(ValueError, match=r"attn_mask has shape \(2, 2\), expected \(3, 3\) or \(4, 3, 3\)"):
        ours(x, x, x, attn_mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(3, 2\), expected \(2, 3\)"):
        ours(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(TypeError, match="attn_mask must be a bool or float mask, got int64"):
        ours(x, x, x, attn_mask=np.zeros((3, 3), np.int64))
    with pytest.raises(ValueError, match="query has batch size 2 but key and value 1"):
        ours(x, Tensor(random(S, 1, E)), Tensor(random(S, 1, E)))


@pytest.mark.parametrize("need_weights", [True, False])
def test_second_derivatives_match_pytorch(need_weights):
    from nn_parity import assert_second_derivatives_match_torch

    padding = np.array([[False, False, True, False], [False, True, False, False]])

    def call(module, xs):
        if isinstance(module, torch.nn.Module):  # PyTorch's fused attention has no double backward: its weights path
            return module(xs[0], xs[1], xs[1], key_padding_mask=torch.from_numpy(padding))
        return module(xs[0], xs[1], xs[1], need_weights=need_weights, key_padding_mask=padding)

    assert_second_derivatives_match_torch(
        lambda: nn.MultiheadAttention(E, HEADS, rng=0),
        torch.nn.MultiheadAttention(E, HEADS),
        [random(L, N, E), random(S, N, E, seed=1)],
        call=call,
    )
