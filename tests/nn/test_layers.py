"""Layers and losses: Linear (shapes, PyTorch's init), activations, Dropout, MLP, CrossEntropyLoss."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor, nn
from tinygrad_sm.nn import functional as F


def test_linear_shapes_dtype_and_forward():
    layer = nn.Linear(5, 3, rng=0)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad and layer.bias.requires_grad
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    out = layer(Tensor(x))
    assert out.shape == (4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x @ layer.weight.numpy().T + layer.bias.numpy(), rtol=1e-6, atol=1e-6)


def test_linear_gradients_are_the_textbook_ones():
    layer = nn.Linear(4, 3, rng=0)
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    g = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    inputs = Tensor(x, requires_grad=True)
    layer(inputs).backward(g)
    np.testing.assert_allclose(layer.weight.grad.numpy(), g.T @ x, rtol=1e-5, atol=1e-5)  # ∂L/∂W = Gᵀ X
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(axis=0), rtol=1e-5, atol=1e-5)  # ∂L/∂b = Σ rows of G
    np.testing.assert_allclose(inputs.grad.numpy(), g @ layer.weight.numpy(), rtol=1e-5, atol=1e-5)  # ∂L/∂X = G W


def test_linear_gradcheck_in_float64():
    layer = nn.Linear(3, 2, rng=0)
    layer.weight = Tensor(layer.weight.numpy().astype(np.float64), requires_grad=True)
    layer.bias = Tensor(layer.bias.numpy().astype(np.float64), requires_grad=True)
    x = Tensor(np.random.default_rng(1).normal(size=(4, 3)), requires_grad=True)
    assert tinygrad_sm.gradcheck(lambda x, w, b: (layer(x) ** 2).sum(), [x, layer.weight, layer.bias])


def test_linear_initialisation_is_pytorchs_uniform_with_bound_one_over_sqrt_fan_in():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.numpy(), layer.bias.numpy()):
        assert np.abs(values).max() <= bound
        assert abs(values.mean()) < 0.1 * bound
    w = layer.weight.numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # the std of U(-a, a) is a / √3
    assert np.abs(w).max() > 0.99 * bound  # it fills the whole interval


def test_linear_init_distribution_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Linear(50, 2000)
    ours = nn.Linear(50, 2000, rng=0)
    bound = 1 / math.sqrt(50)
    for t, o in ((theirs.weight.detach().numpy(), ours.weight.numpy()), (theirs.bias.detach().numpy(), ours.bias.numpy())):
        for values in (t, o):
            assert 0.99 * bound < np.abs(values).max() <= bound
        assert abs(t.std() - o.std()) < 0.05 * t.std()


def test_linear_rng_controls_the_initial_weights():
    assert np.array_equal(nn.Linear(3, 2, rng=7).weight.numpy(), nn.Linear(3, 2, rng=7).weight.numpy())
    assert not np.array_equal(nn.Linear(3, 2, rng=7).weight.numpy(), nn.Linear(3, 2, rng=8).weight.numpy())
    generator = np.random.default_rng(0)
    first, second = nn.Linear(3, 2, rng=generator), nn.Linear(3, 2, rng=generator)  # one stream, advanced
    assert not np.array_equal(first.weight.numpy(), second.weight.numpy())
    tinygrad_sm.manual_seed(123)
    a = nn.Linear(3, 2).weight.numpy()
    tinygrad_sm.manual_seed(123)
    assert np.array_equal(a, nn.Linear(3, 2).weight.numpy())


def test_linear_without_bias_and_bad_sizes():
    layer = nn.Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None and [name for name, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_allclose(layer(Tensor.ones(1, 3)).numpy(), layer.weight.numpy().sum(axis=1, keepdims=True).T, rtol=1e-6)
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        nn.Linear(0, 2)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(2, 2.5)


def test_activation_modules():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(nn.ReLU()(Tensor(x)).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(nn.Tanh()(Tensor(x)).numpy(), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(Tensor(x)).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-6)
    for axis in (-1, 0):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        np.testing.assert_allclose(nn.Softmax(axis)(Tensor(x)).numpy(), e / e.sum(axis=axis, keepdims=True), rtol=1e-6)
    assert list(nn.ReLU().parameters()) == []


def test_dropout_in_training_zeroes_a_fraction_p_and_rescales_the_rest():
    p = 0.3
    layer = nn.Dropout(p, rng=0)
    x = Tensor(np.full((200, 500), 2.0, np.float32), requires_grad=True)
    out = layer(x)
    values = out.numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(values[kept], 2.0 / (1 - p), rtol=1e-6)
    assert abs(values.mean() - 2.0) < 0.02  # inverted dropout keeps the expectation
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / (1 - p), rtol=1e-6)  # gradient flows only through kept units


def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero():
    x = Tensor(np.ones((3, 4), np.float32))
    layer = nn.Dropout(0.5, rng=0)
    layer.eval()
    assert layer(x) is x
    assert nn.Dropout(0.0)(x) is x
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), np.zeros((3, 4)))


def test_dropout_masks_come_from_its_rng_or_the_seeded_default():
    x = Tensor(np.ones((10, 10), np.float32))
    assert np.array_equal(nn.Dropout(0.5, rng=1)(x).numpy(), nn.Dropout(0.5, rng=1)(x).numpy())
    layer = nn.Dropout(0.5, rng=1)
    assert not np.array_equal(layer(x).numpy(), layer(x).numpy())  # a new mask each call
    tinygrad_sm.manual_seed(5)
    a = nn.Dropout(0.5)(x).numpy()
    tinygrad_sm.manual_seed(5)
    assert np.array_equal(a, nn.Dropout(0.5)(x).numpy())


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True])
def test_dropout_rejects_bad_probabilities(p):
    with pytest.raises(ValueError, match="Dropout: p must be a probability"):
        nn.Dropout(p)


def test_mlp_structure_and_forward():
    model = nn.MLP([4, 8, 6, 3], activation="tanh", rng=0)
    assert [layer.weight.shape for layer in model.layers] == [(8, 4), (6, 8), (3, 6)]
    assert [name for name, _ in model.named_parameters()][:3] == ["layers.0.weight", "layers.0.bias", "layers.1.weight"]
    x = Tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    h = x
    for i, layer in enumerate(model.layers):
        h = layer(h)
        if i < 2:
            h = h.tanh()
    np.testing.assert_array_equal(model(x).numpy(), h.numpy())  # no activation after the last layer: logits
    assert (model(x).numpy() < 0).any()


def test_mlp_accepts_an_activation_module_and_rejects_bad_arguments():
    model = nn.MLP([2, 3, 2], activation=nn.Sigmoid(), rng=0)
    assert isinstance(model.activation, nn.Sigmoid)
    assert nn.MLP([2, 3], rng=0).layers[0].weight.shape == (3, 2)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.MLP([2, 2], activation="gelu")
    with pytest.raises(TypeError, match="activation must be a name or a Module"):
        nn.MLP([2, 2], activation=np.tanh)
    with pytest.raises(ValueError, match="at least an input and an output size"):
        nn.MLP([2])
    with pytest.raises(ValueError, match="every size"):
        nn.MLP([2, 0, 3])


def test_cross_entropy_loss_module_is_the_fused_op_with_its_options():
    rng = np.random.default_rng(0)
    logits = Tensor(rng.normal(size=(6, 4)).astype(np.float32))
    target = np.array([0, 3, 1, -100, 2, 2])
    weight = np.array([1.0, 2.0, 0.5, 1.0], np.float32)
    loss = nn.CrossEntropyLoss(weight=weight, ignore_index=-100, reduction="sum", label_smoothing=0.1)
    expected = logits.cross_entropy(target, weight=weight, ignore_index=-100, reduction="sum", label_smoothing=0.1)
    np.testing.assert_array_equal(loss(logits, target).numpy(), expected.numpy())
    assert list(loss.parameters()) == []
    with pytest.raises(ValueError, match="reduction must be"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=2)


def test_cross_entropy_loss_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])
    ours_logits = Tensor(z, requires_grad=True)
    ours = nn.CrossEntropyLoss(label_smoothing=0.2)(ours_logits, y)
    ours.backward()
    theirs_logits = torch.tensor(z, requires_grad=True)
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=0.2)(theirs_logits, torch.tensor(y))
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-6)
    np.testing.assert_allclose(ours_logits.grad.numpy(), theirs_logits.grad.numpy(), rtol=1e-5, atol=1e-7)


# ----- Identity, Flatten, GELU, LeakyReLU, SiLU, Embedding ------------------------------------
def test_identity_and_flatten():
    x = Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert nn.Identity(54, unused="anything")(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4) and nn.Flatten(start_dim=-2, end_dim=-1)(x).shape == (2, 12)
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.numpy().reshape(2, 12))
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    with pytest.raises(TypeError, match="both start_axis= and start_dim="):
        nn.Flatten(start_axis=1, start_dim=1)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: nn.GELU(), lambda torch: torch.nn.GELU()),
        (lambda: nn.GELU(approximate="tanh"), lambda torch: torch.nn.GELU(approximate="tanh")),
        (lambda: nn.LeakyReLU(), lambda torch: torch.nn.LeakyReLU()),
        (lambda: nn.LeakyReLU(0.2), lambda torch: torch.nn.LeakyReLU(0.2)),
        (lambda: nn.SiLU(), lambda torch: torch.nn.SiLU()),
        (lambda: nn.Flatten(), lambda torch: torch.nn.Flatten()),
        (lambda: nn.Identity(), lambda torch: torch.nn.Identity()),
    ],
)
def test_parameter_free_modules_match_pytorch(ours, theirs):
    torch = pytest.importorskip("torch")
    from nn_parity import assert_matches_torch

    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32) * 3
    assert_matches_torch(ours(), theirs(torch), [x])


def test_activation_module_arguments():
    assert (
        repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
        and repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    )
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'erf'"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="LeakyReLU: invalid negative_slope"):
        nn.LeakyReLU("0.1")


def test_embedding_parameters_init_and_padding_row():
    table = nn.Embedding(1000, 8, padding_idx=-1, rng=0)
    weight = table.weight.numpy()
    assert table.weight.shape == (1000, 8) and weight.dtype == np.float32 and table.weight.requires_grad
    assert table.padding_idx == 999 and not weight[999].any()
    assert abs(weight[:999].mean()) < 0.05 and abs(weight[:999].std() - 1.0) < 0.05  # N(0, 1), as PyTorch
    np.testing.assert_array_equal(nn.Embedding(1000, 8, padding_idx=-1, rng=0).weight.numpy(), weight)
    assert repr(table) == "Embedding(1000, 8, padding_idx=999)"


def test_embedding_matches_pytorch_and_the_padding_row_stays_zero():
    torch = pytest.importorskip("torch")
    from nn_parity import assert_matches_torch

    indices = np.array([[0, 2, 4, 2], [1, 3, 3, 0]])
    assert_matches_torch(nn.Embedding(5, 3, padding_idx=2), torch.nn.Embedding(5, 3, padding_idx=2), [indices])
    assert_matches_torch(nn.Embedding(5, 3), torch.nn.Embedding(5, 3), [indices[0]])
    table = nn.Embedding(5, 3, padding_idx=0, rng=0)
    table(indices).sum().backward()
    assert not table.weight.grad.numpy()[0].any() and table.weight.grad.numpy()[2].tolist() == [2.0] * 3


def test_embedding_from_pretrained_as_pytorch():
    torch = pytest.importorskip("torch")
    table = np.arange(12.0).reshape(4, 3)
    frozen, theirs = nn.Embedding.from_pretrained(table), torch.nn.Embedding.from_pretrained(torch.tensor(table))
    np.testing.assert_array_equal(frozen(np.array([[1, 3]])).numpy(), theirs(torch.tensor([[1, 3]])).numpy())
    assert list(frozen.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert [name for name, _ in frozen.named_parameters()] == ["weight"] and not frozen.weight.requires_grad  # frozen
    trained = nn.Embedding.from_pretrained(Tensor(table), freeze=False, padding_idx=1)
    assert trained.weight.numpy()[1].tolist() == [3.0, 4.0, 5.0]  # the padding row kept as given
    trained(np.array([1, 1, 2])).sum().backward()
    assert trained.weight.grad.numpy().tolist() == [[0.0] * 3, [0.0] * 3, [1.0] * 3, [0.0] * 3]
    assert repr(trained) == "Embedding(4, 3, padding_idx=1)"
    frozen_later = nn.Embedding(5, 3, rng=0)
    frozen_later.weight.requires_grad = False  # frozen, it stays a parameter (as every layer's)
    assert list(frozen_later.state_dict()) == ["weight"] and len(list(frozen_later.parameters())) == 1
    with pytest.raises(ValueError, match="Embedding.from_pretrained: embeddings must be 2-D"):
        nn.Embedding.from_pretrained(table[0])


def test_embedding_errors_name_the_index_and_the_table_size():
    table = nn.Embedding(5, 3, rng=0)
    with pytest.raises(IndexError, match="index 7 is out of range for a table of 5 rows"):
        table(np.array([1, 7]))
    with pytest.raises(ValueError, match="Embedding: padding_idx 5 is out of range for num_embeddings=5"):
        nn.Embedding(5, 3, padding_idx=5)
    with pytest.raises(ValueError, match="Embedding: embedding_dim must be a positive integer"):
        nn.Embedding(5, 0)


# ----- PyTorch's constructor habits: dim=, inplace= -----------------------------------------------
def test_softmax_modules_take_pytorchs_dim():
    import torch

    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(nn.Softmax(dim=0)(Tensor(x)).numpy(), torch.nn.Softmax(dim=0)(torch.tensor(x)).numpy())
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(Tensor(x)).numpy(), torch.nn.LogSoftmax(dim=1)(torch.tensor(x)).numpy())
    with pytest.raises(TypeError, match="both axis= and dim="):
        nn.Softmax(axis=0, dim=0)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: nn.ReLU(inplace=True), "ReLU(inplace=True)"),
        (lambda: nn.LeakyReLU(0.2, True), "LeakyReLU(0.2, True)"),
        (lambda: nn.SiLU(inplace=True), "SiLU(inplace=True)"),
        (lambda: nn.ELU(0.5, inplace=True), "ELU(0.5, inplace=True)"),
        (lambda: nn.Softplus(beta=2.0, threshold=5.0), "Softplus(beta=2.0, threshold=5.0)"),
    ],
)
def test_activation_modules_take_pytorchs_arguments(ours, theirs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(size=(4, 5)) * 4
    expected = eval(f"torch.nn.{theirs}")(torch.tensor(x)).numpy()
    before = x.copy()
    np.testing.assert_allclose(ours()(Tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, before)  # (inplace is accepted; the input is left alone)


def test_dropout_takes_inplace_in_pytorchs_place_and_uses_the_functional_form():
    x = Tensor(np.ones((100, 40)))
    a = nn.Dropout(0.5, True, rng=3)(x).numpy()
    b = F.dropout(x, 0.5, True, rng=3).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 2.0}
