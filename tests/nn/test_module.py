"""Module: parameter discovery, names, modes, state_dict / load_state_dict."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor, nn, optim


class Net(nn.Module):
    def __init__(self):
        self.encoder = nn.Linear(4, 3, rng=0)
        self.scale = Tensor.ones(3, requires_grad=True)
        self.blocks = [nn.Linear(3, 3, rng=1), nn.ReLU(), nn.Linear(3, 2, rng=2)]
        self.constant = Tensor.ones(3)  # no requires_grad: not a parameter
        self.note = "not a tensor"
        self.last_hidden = None

    def forward(self, x):
        x = self.encoder(x) * self.scale
        self.last_hidden = x  # a computed (non-leaf) tensor kept on the module: not a parameter
        for block in self.blocks:
            x = block(x)
        return x


NET_NAMES = ["scale", "encoder.weight", "encoder.bias", "blocks.0.weight", "blocks.0.bias", "blocks.2.weight", "blocks.2.bias"]


def test_named_parameters_are_dotted_paths_own_parameters_first_then_children_in_definition_order():
    # as in PyTorch: a module's own parameters, then each child's, in the order the attributes were set
    assert [name for name, _ in Net().named_parameters()] == NET_NAMES


def test_parameters_are_the_attribute_tensors_themselves():
    net = Net()
    net(Tensor.ones(1, 4))
    assert net.last_hidden.requires_grad
    expected = [
        net.scale,
        net.encoder.weight,
        net.encoder.bias,
        net.blocks[0].weight,
        net.blocks[0].bias,
        net.blocks[2].weight,
        net.blocks[2].bias,
    ]
    assert all(a is b for a, b in zip(net.parameters(), expected, strict=True))
    assert next(net.parameters()) is net.scale  # an iterator, as in PyTorch


def test_tuples_dicts_and_deep_nesting_are_walked():
    class Inner(nn.Module):
        def __init__(self):
            self.pair = (nn.Linear(2, 2, rng=0), Tensor.zeros(2, requires_grad=True))

    class Outer(nn.Module):
        def __init__(self):
            self.heads = {"a": Inner(), "b": nn.Linear(2, 1, bias=False, rng=1)}
            self.weights = [Tensor.ones(1, requires_grad=True)]

    names = [name for name, _ in Outer().named_parameters()]
    # containers play the part of ModuleList / ParameterList / ModuleDict: walked in definition order
    assert names == ["heads.a.pair.0.weight", "heads.a.pair.0.bias", "heads.a.pair.1", "heads.b.weight", "weights.0"]
    assert [name for name, _ in Outer().named_modules()] == ["", "heads.a", "heads.a.pair.0", "heads.b"]


def test_a_shared_parameter_is_listed_once_but_saved_under_each_name():
    class Tied(nn.Module):
        def __init__(self):
            self.first = nn.Linear(3, 3, rng=0)
            self.second = nn.Linear(3, 3, rng=1)
            self.second.weight = self.first.weight

    tied = Tied()
    assert [name for name, _ in tied.named_parameters()] == ["first.weight", "first.bias", "second.bias"]
    assert list(tied.state_dict()) == ["first.weight", "first.bias", "second.weight", "second.bias"]


def test_a_reference_cycle_between_modules_does_not_loop():
    parent = nn.Sequential(nn.Linear(2, 2, rng=0))
    parent[0].owner = parent
    assert [name for name, _ in parent.named_parameters()] == ["0.weight", "0.bias"]
    assert list(parent.state_dict()) == ["0.weight", "0.bias"]
    assert len(list(parent.modules())) == 2


def test_sequential_names_by_position_and_composes():
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.ReLU(), nn.Linear(4, 3, rng=1))
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = Tensor(np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32))
    expected = model[2](model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())
    assert len(model) == 3 and isinstance(model[:2], nn.Sequential) and len(model[:2]) == 2
    model.temperature = Tensor.ones(1, requires_grad=True)  # an attribute added to a Sequential is found too
    assert [name for name, _ in model.named_parameters()] == ["temperature", "0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), "relu")


def test_names_match_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 3))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()), torch.nn.Linear(4, 3)
    )
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not net.training and not net.blocks[1].training and not net.encoder.training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(TypeError):
        net.train("no")


def test_zero_grad_clears_every_parameter_gradient():
    net = Net()
    net(Tensor.ones(2, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        type("Empty", (nn.Module,), {})()(1)


def test_state_dict_holds_independent_copies():
    net = Net()
    state = net.state_dict()
    assert list(state) == NET_NAMES
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in state.values())
    state["encoder.weight"][...] = 0
    assert np.abs(net.encoder.weight.numpy()).sum() > 0


def test_load_state_dict_copies_in_place_so_an_optimiser_keeps_working():
    source, target = Net(), Net()
    for p in source.parameters():
        p.data[...] = np.random.default_rng(0).normal(size=p.shape)
    arrays_before = [p.data for p in target.parameters()]
    optimizer = optim.SGD(target.parameters(), lr=0.1)
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert all(p.data is a for p, a in zip(target.parameters(), arrays_before))
    x = Tensor(np.ones((2, 4), np.float32))
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())
    assert optimizer.param_groups[0]["params"][1] is target.encoder.weight


def test_load_state_dict_accepts_tensors_and_keeps_the_parameter_dtype():
    layer = nn.Linear(2, 2, rng=0)
    layer.load_state_dict({"weight": Tensor(np.eye(2)), "bias": np.array([1, 2])})  # float64 and int64 given
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.numpy(), np.eye(2))
    np.testing.assert_array_equal(layer.bias.numpy(), [1.0, 2.0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("encoder.bias"), r"missing keys \['encoder.bias'\]"),
        (lambda s: s.update({"decoder.weight": np.zeros(3)}), r"unexpected keys \['decoder.weight'\]"),
        (
            lambda s: s.update({"blocks.2.weight": np.zeros((3, 3), np.float32)}),
            r"size mismatch for blocks.2.weight: the state dict has shape \(3, 3\), the model \(2, 3\)",
        ),
        (lambda s: s.update({"scale": np.array(["a", "b", "c"])}), r"scale holds <U1 data"),
    ],
)
def test_load_state_dict_errors_are_clear_and_change_nothing(change, message):
    net = Net()
    before = net.state_dict()
    state = Net().state_dict()
    for value in state.values():
        value += 1.0
    change(state)
    with pytest.raises(RuntimeError, match=message) as error:
        net.load_state_dict(state)
    assert str(error.value).startswith("load_state_dict for Net:") and "\n" not in str(error.value)
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_non_strict_reports_keys_but_still_checks_shapes():
    layer = nn.Linear(2, 3, rng=0)
    result = layer.load_state_dict({"weight": np.ones((3, 2)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        layer.load_state_dict({"weight": np.ones((2, 3))}, strict=False)
    with pytest.raises(TypeError, match="mapping"):
        layer.load_state_dict([("weight", np.ones((3, 2)))])


def test_a_pytorch_state_dict_loads_and_gives_the_same_outputs():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ours = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-6, atol=1e-6)


def test_repr_shows_the_tree():
    text = repr(nn.MLP([2, 3, 1], rng=0))
    assert text.splitlines()[0] == "MLP("
    assert "(layers.0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(activation): ReLU()" in text


# ----- buffers --------------------------------------------------------------------------
class WithBuffers(nn.Module):
    def __init__(self):
        self.scale = Tensor.ones(2, requires_grad=True)
        self.register_buffer("count", np.array(0, dtype=np.int64))
        self.inner = nn.Linear(2, 2, rng=0)
        self.inner.register_buffer("stats", np.zeros(2, np.float32))
        self.register_buffer("scratch", np.zeros(3), persistent=False)
        self.register_buffer("absent", None)


def test_buffers_are_tensors_without_grad_in_the_state_dict_but_not_parameters():
    model = WithBuffers()
    assert isinstance(model.count, Tensor) and not model.count.requires_grad and model.count.dtype == np.int64
    assert [name for name, _ in model.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    # PyTorch's order: each module's parameters, then its buffers, then its children; non-persistent and None left out
    assert list(model.state_dict()) == ["scale", "count", "inner.weight", "inner.bias", "inner.stats"]
    assert [name for name, _ in model.named_buffers()] == ["count", "scratch", "inner.stats"]
    assert [b is model.count for b in model.buffers()] == [True, False, False]
    assert model.state_dict()["count"].shape == () and model.state_dict()["count"].dtype == np.int64


def test_buffer_order_matches_pytorch():
    torch = pytest.importorskip("torch")

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.register_buffer("count", torch.tensor(0))
            self.inner = torch.nn.Linear(2, 2)
            self.inner.register_buffer("stats", torch.zeros(2))
            self.register_buffer("scratch", torch.zeros(3), persistent=False)
            self.register_buffer("absent", None)

    theirs, ours = Theirs(), WithBuffers()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    ours.load_state_dict(theirs.state_dict())  # PyTorch tensors load as they are
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})


def test_buffers_load_in_place_and_reassignment_keeps_a_buffer():
    model = WithBuffers()
    stats = model.inner.stats
    state = model.state_dict()
    state["count"] = np.array(7)
    state["inner.stats"] = [1.0, 2.0]  # any array-like
    model.load_state_dict(state)
    assert model.count.item() == 7 and model.count.dtype == np.int64
    assert model.inner.stats is stats
    np.testing.assert_array_equal(stats.numpy(), [1.0, 2.0])
    model.inner.stats = Tensor(np.full(2, 5.0, np.float32))
    assert model.state_dict()["inner.stats"].tolist() == [5.0, 5.0]
    with pytest.raises(RuntimeError, match=r"size mismatch for inner.stats: the state dict has shape \(3,\), the model \(2,\)"):
        model.load_state_dict({**state, "inner.stats": np.zeros(3)})
    with pytest.raises(RuntimeError, match=r"missing keys \['count'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "count"})


def test_buffers_are_saved_and_loaded(tmp_path):
    model = WithBuffers()
    model.count.data[...] = 3
    tinygrad_sm.save(model, tmp_path / "model.npz")
    loaded = tinygrad_sm.load(tmp_path / "model.npz")
    assert loaded["count"].dtype == np.int64 and loaded["count"].item() == 3
    fresh = WithBuffers()
    fresh.load_state_dict(loaded)
    assert fresh.count.item() == 3


def test_register_buffer_errors():
    model = WithBuffers()
    with pytest.raises(KeyError, match="attribute 'scale' already exists"):
        model.register_buffer("scale", np.zeros(2))
    with pytest.raises(KeyError, match="without '.'"):
        model.register_buffer("a.b", np.zeros(2))
    with pytest.raises(ValueError, match="buffer 'grad_buffer' requires grad"):
        model.register_buffer("grad_buffer", Tensor.ones(2, requires_grad=True))
    model.register_buffer("count", np.array(1))  # registering again replaces it, as PyTorch
    assert model.count.item() == 1
    model.count = np.array(2)
    with pytest.raises(TypeError, match="WithBuffers: buffer 'count' holds a ndarray; assign a Tensor"):
        model.state_dict()


def test_load_state_dict_reads_pytorch_tensors_that_require_grad():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(2, 3, rng=0)
    theirs = torch.nn.Linear(2, 3)
    layer.load_state_dict(dict(theirs.named_parameters()))  # Parameters require grad: detached first
    np.testing.assert_array_equal(layer.weight.numpy(), theirs.weight.detach().numpy())


# ----- PyTorch habits: freezing, recurse=/prefix=, apply, zero_grad(set_to_none) -------------
class _Frozen(nn.Module):
    def __init__(self):
        self.scale = Tensor(np.ones(2), requires_grad=True)
        self.extra = [Tensor(np.zeros(2), requires_grad=True)]
        self.constant = Tensor(np.ones(2))  # (never a parameter: it did not require grad)
        self.body = nn.Linear(2, 2, rng=0)


def test_a_frozen_parameter_stays_a_parameter_in_state_dict_and_parameters_as_torch():
    model = _Frozen()
    names = ["scale", "extra.0", "body.weight", "body.bias"]
    model.body.requires_grad_(False)
    model.extra[0].requires_grad = False
    assert list(model.state_dict()) == names and [n for n, _ in model.named_parameters()] == names
    assert [p.requires_grad for p in model.parameters()] == [True, False, False, False]
    model.requires_grad_(True)
    assert all(p.requires_grad for p in model.parameters())
    # a torch model frozen for fine-tuning saves every parameter; it loads
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    theirs[0].requires_grad_(False)
    ours = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    ours[0].requires_grad_(False)
    assert ours.load_state_dict(theirs.state_dict()) == ([], [])
    np.testing.assert_array_equal(ours[0].weight.numpy(), theirs[0].weight.detach().numpy())


def test_recurse_and_prefix_as_torch():
    model = _Frozen()
    assert [n for n, _ in model.named_parameters(recurse=False)] == ["scale", "extra.0"]
    assert len(list(model.parameters(recurse=False))) == 2
    assert [n for n, _ in model.named_parameters(prefix="m")][-1] == "m.body.bias"
    torch = pytest.importorskip("torch")
    bn, theirs = nn.BatchNorm1d(2), torch.nn.Sequential(torch.nn.BatchNorm1d(2))
    ours = nn.Sequential(bn)
    bn.register_buffer("own", np.zeros(1))
    theirs[0].register_buffer("own", torch.zeros(1))
    assert [n for n, _ in ours.named_buffers(prefix="x")] == [n for n, _ in theirs.named_buffers(prefix="x")]
    assert list(ours.buffers(recurse=False)) == [] and len(list(bn.buffers(recurse=False))) == 4


def test_apply_visits_children_first_and_zero_grad_can_keep_zeros():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]  # (torch's order)
    model(Tensor(np.ones((1, 2), np.float32))).sum().backward()
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_prefix_and_keep_vars_as_torch():
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    assert list(model.state_dict(prefix="net.")) == ["net.0.weight", "net.0.bias"]
    kept = model.state_dict(keep_vars=True)
    assert kept["0.weight"] is model[0].weight
    assert model.state_dict()["0.weight"] is not model[0].weight.data  # (a copy by default)


def test_sequential_of_an_ordered_dict_add_module_append_and_slices_keep_names_as_torch():
    from collections import OrderedDict

    model = nn.Sequential(OrderedDict([("fc", nn.Linear(1, 2, rng=0)), ("act", nn.ReLU())]))
    model.add_module("out", nn.Linear(2, 3, rng=1))
    model.append(nn.Tanh())
    assert [name for name, _ in model.named_children()] == ["fc", "act", "out", "3"]
    assert list(model.state_dict()) == ["fc.weight", "fc.bias", "out.weight", "out.bias"]
    assert model.fc is model[0] and isinstance(model[-1], nn.Tanh)
    assert model(Tensor(np.ones((4, 1), np.float32))).shape == (4, 3)
    assert list(model[1:].state_dict()) == ["out.weight", "out.bias"]  # (names kept)
    plain = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    assert list(plain[1:].state_dict()) == ["2.weight", "2.bias"]
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(1, 2), act=torch.nn.ReLU(), out=torch.nn.Linear(2, 3)))
    theirs.append(torch.nn.Tanh())
    assert model.load_state_dict(theirs.state_dict()) == ([], [])
    with pytest.raises(AttributeError, match="no attribute or step 'nope'"):
        _ = model.nope


def test_register_parameter_and_add_module_as_torch():
    model = nn.Module()
    model.register_parameter("scale", Tensor(np.ones(2), requires_grad=True))
    model.register_parameter("bias", None)
    model.add_module("body", nn.Linear(2, 2, rng=0))
    model.register_module("head", nn.Linear(2, 1, rng=1))
    assert list(model.state_dict()) == ["scale", "body.weight", "body.bias", "head.weight", "head.bias"]
    with pytest.raises(TypeError, match="register_parameter: 'w' must be a leaf Tensor that requires grad"):
        model.register_parameter("w", Tensor(np.ones(2)))
    with pytest.raises(TypeError, match="add_module: 'm' must be a Module or None, got a int"):
        model.add_module("m", 3)
    with pytest.raises(KeyError, match="register_parameter: name must be a non-empty str without '.'"):
        model.register_parameter("a.b", None)
