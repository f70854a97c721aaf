"""ModuleList and ModuleDict: PyTorch's container API, names and state dicts."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_sm import Tensor, nn


def test_module_list_is_a_list_of_modules_named_by_position():
    layers = nn.ModuleList([nn.Linear(2, 3, rng=0), nn.ReLU()])
    layers.append(nn.Linear(3, 1, rng=1))
    assert len(layers) == 3 and isinstance(layers[0], nn.Linear) and layers[-1] is layers[2]
    assert [name for name, _ in layers.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [type(m).__name__ for m in layers] == ["Linear", "ReLU", "Linear"]
    assert isinstance(layers[1:], nn.ModuleList) and list(layers[1:]) == list(layers)[1:]
    layers.insert(0, nn.Tanh())
    assert [name for name, _ in layers.named_parameters()] == ["1.weight", "1.bias", "3.weight", "3.bias"]
    del layers[0]
    assert [name for name, _ in layers.named_parameters()][0] == "0.weight"  # renumbered, as PyTorch
    layers.extend([nn.Sigmoid()])
    layers += [nn.Identity()]
    assert len(layers) == 5 and len(layers + [nn.ReLU()]) == 6 and len(layers) == 5
    assert isinstance(layers.pop(), nn.Identity) and len(layers) == 4
    layers[1] = nn.Tanh()
    assert isinstance(layers[1], nn.Tanh)
    x = Tensor(np.ones((1, 2), np.float32))
    for layer in layers:
        x = layer(x)
    assert x.shape == (1, 1)


def test_module_list_inside_a_model_gives_pytorch_names():
    torch = pytest.importorskip("torch")

    class Ours(nn.Module):
        def __init__(self):
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)])
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 3)})

    ours, theirs = Ours(), Theirs()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    assert not ours.blocks[1].training and not ours.heads["b"].training


def test_module_dict_is_an_ordered_dict_of_modules():
    heads = nn.ModuleDict([("classify", nn.Linear(4, 3, rng=0)), ("act", nn.ReLU())])
    heads["regress"] = nn.Linear(4, 1, rng=1)
    assert list(heads) == ["classify", "act", "regress"] == list(heads.keys())
    assert "act" in heads and "missing" not in heads and len(heads) == 3
    names = ["classify.weight", "classify.bias", "regress.weight", "regress.bias"]
    assert [name for name, _ in heads.named_parameters()] == names
    assert [k for k, _ in heads.items()] == list(heads) and all(isinstance(m, nn.Module) for m in heads.values())
    heads.update({"act": nn.Tanh()})
    assert isinstance(heads["act"], nn.Tanh) and list(heads)[1] == "act"
    assert isinstance(heads.pop("act"), nn.Tanh) and list(heads) == ["classify", "regress"]
    del heads["regress"]
    assert list(heads) == ["classify"]
    heads.clear()
    assert len(heads) == 0 and list(heads.parameters()) == []


def test_container_errors_are_clear():
    with pytest.raises(TypeError, match="ModuleList.append: expected a Module, got int"):
        nn.ModuleList().append(3)
    with pytest.raises(TypeError, match="ModuleList.extend: expected a Module, got str"):
        nn.ModuleList(["relu"])
    with pytest.raises(TypeError, match="expected an iterable of Modules, got ReLU"):
        nn.ModuleList().extend(nn.ReLU())
    with pytest.raises(IndexError, match="index 2 is out of range for 2 modules"):
        nn.ModuleList([nn.ReLU(), nn.ReLU()])[2]
    with pytest.raises(KeyError, match=r"no module named 'c' \(keys: \['a'\]\)"):
        nn.ModuleDict({"a": nn.ReLU()})["c"]
    with pytest.raises(KeyError, match="without '.'"):
        nn.ModuleDict({"a.b": nn.ReLU()})
    with pytest.raises(TypeError, match="the value for key 'a'"):
        nn.ModuleDict({"a": 1})
    with pytest.raises(ValueError, match="element 0 should be a"):
        nn.ModuleDict(["ab"])
    with pytest.raises(NotImplementedError):
        nn.ModuleList([nn.ReLU()])(Tensor.ones(1))


def test_repr_lists_children_by_position():
    assert repr(nn.ModuleList([nn.ReLU(), nn.Identity()])) == "ModuleList(\n  (0): ReLU()\n  (1): Identity()\n)"


def test_a_module_dicts_entries_are_attributes_too_as_torch():
    layers = nn.ModuleDict({"encoder": nn.Linear(2, 2)})
    assert layers.encoder is layers["encoder"]
    with pytest.raises(AttributeError, match="no attribute or key 'decoder'"):
        _ = layers.decoder
