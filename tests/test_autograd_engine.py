"""How the engine runs (tinygrad_sm/autograd.py, function.py): nodes newest first by creation number,
the same gradients as the ordered walk of grad() and as PyTorch, deep chains, shared nodes,
retain_graph, freeing, and the node's fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_sm
from tinygrad_sm import Function, Tensor
from tinygrad_sm.grad_mode import hooks


class RunOrder:
    """An engine observer that records the nodes in the order their rules ran."""

    def __init__(self):
        self.nodes: list = []

    def after_forward(self, cls, ctx, data, args, kwargs):
        pass

    def after_backward(self, node, grad, results):
        self.nodes.append(node)


def observed_backward(root: Tensor, **kwargs) -> list:
    order = RunOrder()
    hooks.observer = order
    try:
        root.backward(**kwargs)
    finally:
        hooks.observer = None
    return order.nodes


# ----- a random graph, built twice: tinygrad_sm and PyTorch --------------------------------------
UNARY = [
    ("tanh", lambda t: t.tanh()),
    ("exp", lambda t: (t * 0.3).exp()),
    ("square", lambda t: t * t),
    ("sigmoid", lambda t: t.sigmoid()),
]
BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1)),
]


def random_graph(seed: int, make, sizes=(3, 3), steps: int = 40):
    """Leaves and ``steps`` ops, each on one or two earlier tensors picked at random (so tensors are
    shared by several ops: diamonds, fans), and a scalar root that sums a few of them.
    ``make(array)`` makes a leaf of the framework; the same seed builds the same graph in both."""
    rng = np.random.default_rng(seed)
    leaves = [make(rng.uniform(-1, 1, sizes)) for _ in range(3)]
    values = list(leaves)
    for _ in range(steps):
        if rng.random() < 0.5:
            _, op = UNARY[rng.integers(len(UNARY))]
            values.append(op(values[rng.integers(len(values))]))
        else:
            _, op = BINARY[rng.integers(len(BINARY))]
            a, b = rng.integers(len(values), size=2)
            values.append(op(values[a], values[b]))
    picked = rng.choice(len(values), size=4, replace=False)
    root = sum(values[i].sum() for i in picked)
    return leaves, root


def tiny_leaf(array):
    return Tensor(array, requires_grad=True)


def torch_leaf(array):
    return torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("seed", range(12))
def test_newest_first_gives_pytorchs_gradients_on_random_graphs(seed):
    leaves, root = random_graph(seed, tiny_leaf)
    root.backward()
    expected_leaves, expected_root = random_graph(seed, torch_leaf)
    expected_root.backward()
    for leaf, expected in zip(leaves, expected_leaves):
        if expected.grad is None:
            assert leaf.grad is None
        else:
            np.testing.assert_allclose(leaf.grad.data, expected.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_backward_and_the_ordered_walk_of_grad_agree(seed):
    leaves, root = random_graph(seed, tiny_leaf)
    walked = tinygrad_sm.grad(root, leaves, retain_graph=True, allow_unused=True)
    root.backward()
    for leaf, expected in zip(leaves, walked):
        if expected is None:
            assert leaf.grad is None
        else:
            np.testing.assert_allclose(leaf.grad.data, expected.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_each_node_runs_once_and_after_every_node_its_output_was_handed_to(seed):
    _, root = random_graph(seed, tiny_leaf)
    consumers: dict[int, set[int]] = {}  # id(node) -> ids of the nodes that took its output
    stack, seen = [root], set()
    while stack:
        tensor = stack.pop()
        node = tensor._node
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for parent in node.inputs:
            if parent is not None and parent._node is not None:
                consumers.setdefault(id(parent._node), set()).add(id(node))
                stack.append(parent)
    ran = [id(node) for node in observed_backward(root)]
    assert sorted(ran) == sorted(seen)  # every node of the graph, once
    position = {node: i for i, node in enumerate(ran)}
    for node, takers in consumers.items():
        assert all(position[taker] < position[node] for taker in takers)


def test_a_diamond_sums_both_paths_exactly():
    x = Tensor(np.array([0.5, -1.25, 2.0]), requires_grad=True)
    y = x * 3.0
    z = (y.exp() + y * y).sum()  # dz/dx = 3·e^(3x) + 18x
    z.backward()
    y_torch = torch.tensor([0.5, -1.25, 2.0], dtype=torch.float64, requires_grad=True)
    (((y_torch * 3.0).exp() + (y_torch * 3.0) * (y_torch * 3.0)).sum()).backward()
    np.testing.assert_array_equal(x.grad.data, y_torch.grad.numpy())


def test_one_tensor_twice_in_a_chain_node():
    x = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    y = x.exp()
    (y * y).sum().backward()  # d/dx e^(2x) = 2·e^(2x), through a non-leaf used twice by one node
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(2 * x.data), rtol=1e-15)


def test_ten_thousand_op_chain_of_two_input_nodes():
    """No recursion anywhere: not in the engine, not when the graph is freed."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(5_000):
        y = y * 1.0001 + 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0001**5_000] * 2, rtol=1e-12)
    del y  # (freeing a 10,000-node graph)


def test_several_roots_and_a_node_shared_by_them():
    x = Tensor(np.array([0.2, 0.4, -0.6]), requires_grad=True)
    h = (x * 3).tanh()
    first, second = h.sum(), (h * h).sum()
    first.backward(retain_graph=True)
    second.backward()  # frees h's node: tanh keeps its output
    expected = 3 * (1 - np.tanh(3 * x.data) ** 2) * (1 + 2 * np.tanh(3 * x.data))
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)
    with pytest.raises(RuntimeError, match="second time"):
        first.backward()
    (g,) = tinygrad_sm.grad([h.detach().sum() + x.sum(), x.sum()], x)  # two roots in one grad()
    np.testing.assert_array_equal(g.data, [2.0, 2.0, 2.0])


def test_retain_graph_twice_then_a_last_backward():
    x = Tensor(np.array([1.5, -0.5]), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.data.copy()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 3 * once, rtol=1e-15)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    np.testing.assert_allclose(x.grad.data, 3 * once, rtol=1e-15)  # the failed call added nothing


def test_a_freed_node_in_the_middle_stops_the_backward_before_any_leaf_changes():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    h = (x * w).exp()
    h.sum().backward()  # frees mul and exp
    x.grad = w.grad = None
    loss = (h * 2.0).sum()  # new nodes on top of the freed ones
    with pytest.raises(RuntimeError, match=r"second time.*ExpBackward|ExpBackward.*second time"):
        loss.backward()
    assert x.grad is None and w.grad is None


def test_a_retained_gradient_on_the_way_and_a_leaf_root():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, 2 * y.data)
    np.testing.assert_array_equal(x.grad.data, 8 * x.data)
    gradient = np.array([1.0, 1.0])
    x.grad = None
    x.backward(gradient)  # a leaf as the root: its .grad is a copy of the caller's array
    assert x.grad.data is not gradient
    np.testing.assert_array_equal(x.grad.data, gradient)


# ----- the node's fields -------------------------------------------------------------------------
def test_a_nodes_creation_number_comes_after_its_inputs_nodes():
    x = Tensor(np.array([1.0]), requires_grad=True)
    a = x.exp()
    b = a * x
    c = b + a
    assert a.grad_fn._sequence_nr < b.grad_fn._sequence_nr < c.grad_fn._sequence_nr


def test_an_ops_output_has_every_field_a_made_tensor_has():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    fields = [name for name in Tensor.__slots__ if name != "__weakref__"]
    made = Tensor._make(x.data)
    for out, recorded in [(x * 2.0, True), (x.detach() * 2.0, False), (x.exp(), True)]:
        for name in fields:
            getattr(out, name)  # every slot is set
        assert out.requires_grad is recorded and (out.grad_fn is not None) is recorded
        assert out.grad is None and out.name is None and out._retains_grad is False
        assert type(out.data) is type(made.data)


def test_the_node_keeps_inputs_and_needs_input_grad_and_no_reference_to_its_output():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([3.0, 4.0]))
    out = x * c
    node = out.grad_fn
    assert node.inputs == (x, c) and node.needs_input_grad == (True, False)
    out2 = x * 2.0
    assert out2.grad_fn.inputs == (x, None) and out2.grad_fn.needs_input_grad == (True, False)
    assert vars(node) == {}  # mul stores nothing on ctx beyond its saved values: the engine's are slots
    assert all(value is not out for value in (*node.inputs, *node._saved))


class KeepsThings(Function):
    """A custom op that stores settings and arrays on ctx, but saves nothing."""

    @staticmethod
    def forward(ctx, x):
        ctx.axis = 0
        ctx.shape = x.shape
        ctx.name_of_it = "keeps"
        ctx.mask = x > 0
        ctx.pair = (x.shape, np.arange(2))
        return x * ctx.mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask


class KeepsSettings(Function):
    """A custom op that stores only settings on ctx: it can backward again."""

    @staticmethod
    def forward(ctx, x):
        ctx.scale = 2.0
        ctx.shape = x.shape
        ctx.axes = (0,)
        return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale


def test_release_frees_what_forward_stored_and_keeps_the_settings():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = KeepsThings.apply(x)
    node = y.grad_fn
    y.sum().backward()
    assert node.freed
    assert set(vars(node)) == {"axis", "shape", "name_of_it"}  # the mask and the tuple with an array went
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()
    z = KeepsSettings.apply(x)
    z.sum().backward()
    z.sum().backward()  # nothing held an array: it runs again and accumulates, as in PyTorch
    assert not z.grad_fn.freed
    np.testing.assert_array_equal(x.grad.data, [1.0 + 4.0, 4.0 + 0.0])


def test_create_graph_sees_the_output_a_rule_saved():
    """exp's rule reuses its saved output; under create_graph that output is the Tensor itself,
    so the second derivative of exp is exp (the engine hands the node its output: no weakref)."""
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = x.exp()
    (g,) = tinygrad_sm.grad(y.sum(), x, create_graph=True)
    (gg,) = tinygrad_sm.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, np.exp(x.data), rtol=1e-15)
    assert vars(y.grad_fn) == {}  # the engine took back what it lent the rule (create_graph, the output)


# ----- dispatch: operators and methods call the op's own apply function ----------------------------
def test_a_subclass_of_an_op_records_nodes_of_its_own_class():
    mul = tinygrad_sm.get_op("mul")

    class LoudMul(mul):
        calls = 0

        @classmethod
        def apply(cls, *args, **kwargs):
            cls.calls += 1
            return super().apply(*args, **kwargs)

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = LoudMul.apply(x, 3.0)
    assert type(out.grad_fn) is LoudMul and LoudMul.calls == 1
    assert type((x * 3.0).grad_fn) is mul  # the operator still makes mul's own node


def test_a_registered_op_with_its_own_apply_is_called_through_it_by_its_method(registry_cleanup):
    class Twice(Function):
        seen: list = []

        @classmethod
        def apply(cls, x, axis=0):
            cls.seen.append(axis)
            return super().apply(x, axis=axis)

        @staticmethod
        def forward(ctx, x, axis=0):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    tinygrad_sm.register_op("twice_engine_test", Twice)
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.twice_engine_test(dim=0).sum().backward()  # (PyTorch's dim= for axis=, through the method)
    assert Twice.seen == [0]
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
