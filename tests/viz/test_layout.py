"""tinygrad_sm/viz/layout.py: which nodes a picture shows, and the folding of modules, long
chains and far nodes that keeps a large graph under max_nodes."""

from __future__ import annotations

import re

import numpy as np
from viz_helpers import node_count

from tinygrad_sm import Tensor
from tinygrad_sm.viz import draw_graph, trace_backward
from tinygrad_sm.viz.graph import forward_order, tensor_names
from tinygrad_sm.viz.layout import CHAIN_KEEP, Edge, Layout, Node


def layout_of(root: Tensor, names=None) -> Layout:
    tensors = forward_order(root)
    all_names, named = tensor_names(tensors, names)
    return Layout(root, tensors, all_names, named)


def chain(length: int) -> tuple[Tensor, Tensor]:
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x
    for _ in range(length):
        h = h.tanh()
    return x, h


# ----- the nodes and edges of a graph -------------------------------------------------------------
def test_one_node_per_tensor_and_op_and_one_edge_per_input():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    x = Tensor([3.0, 4.0], name="x")
    loss = (x * w).sum()
    layout = layout_of(loss)  # forward order: w, x, x*w, loss
    assert list(layout.nodes) == ["t0", "t1", "o2", "t2", "o3", "t3"]
    assert [(n.kind, n.order) for n in layout.nodes.values()] == [
        ("tensor", 1), ("tensor", 3), ("op", 4), ("tensor", 5), ("op", 6), ("tensor", 7)]
    product = layout.nodes["t2"].tensor
    assert layout.nodes["o2"].tensor is product  # an op node holds the tensor it made
    assert [(e.source, e.target) for e in layout.edges] == [
        ("t0", "o2"), ("t1", "o2"), ("o2", "t2"), ("t2", "o3"), ("o3", "t3")]
    assert layout.edges[1].keys == [("in", id(product), 1)]  # x is input 1 of the mul
    assert layout.edges[2].keys == [("out", id(product))]
    assert layout.total == 6 and layout.folded == 0 and layout.box_count == 0
    # a parameter and what is computed from it alone hang beside the data path
    assert id(w) in layout.from_parameters and id(x) not in layout.from_parameters
    assert id(product) not in layout.from_parameters


def test_a_small_graph_is_not_folded():
    _, h = chain(10)
    layout = layout_of(h)
    layout.assign_modules()
    layout.summarise(max_nodes=200)
    assert layout.folded == 0 and len(layout.nodes) == layout.total == 21


def test_node_last_is_the_last_member_of_a_box():
    members = [Node("t0", "tensor", 1), Node("o1", "op", 2), Node("t1", "tensor", 3)]
    box = Node("box0", "box", 1, members=members)
    assert box.last == 3 and members[1].last == 2
    assert Edge("t0", "o1", [("in", 1, 0)]).keys == [("in", 1, 0)]


# ----- folding ----------------------------------------------------------------------------------
def test_fold_replaces_nodes_by_a_box_and_merges_its_edges():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = Tensor([3.0, 4.0], requires_grad=True, name="y")
    loss = (x * y).sum()  # t0 x, t1 y, o2 mul, t2 x*y, o3 sum, t3 loss
    layout = layout_of(loss)
    layout.fold([(["t0", "t1", "o2"], "inputs")])
    # the box stands where its first member was
    assert list(layout.nodes) == ["box0", "t2", "o3", "t3"]
    box = layout.nodes["box0"]
    assert box.kind == "box" and box.label == "inputs"
    assert [m.key for m in box.members] == ["t0", "t1", "o2"]
    edges = [(e.source, e.target) for e in layout.edges]
    assert edges == [("box0", "t2"), ("t2", "o3"), ("o3", "t3")]
    assert layout.folded == 3 and layout.box_count == 1
    layout.fold([(["box0", "t2"], "more")])  # a box folded again keeps the original members
    assert [m.key for m in layout.nodes["box1"].members] == ["t0", "t1", "o2", "t2"]


def test_fold_chains_keeps_both_ends_of_a_chain():
    x, h = chain(20)
    layout = layout_of(h)
    layout.fold_chains()
    assert layout.box_count == 1
    box = next(n for n in layout.nodes.values() if n.kind == "box")
    ops = [m for m in box.members if m.kind == "op"]
    assert len(ops) == 20 - 2 * CHAIN_KEEP  # CHAIN_KEEP ops stay visible at each end
    assert all(m.tensor is not h for m in box.members)  # the output is never folded
    kept_ops = [n for n in layout.nodes.values() if n.kind == "op"]
    assert len(kept_ops) == 2 * CHAIN_KEEP


def test_fold_chains_leaves_short_chains_and_named_tensors_alone():
    _, h = chain(2 * CHAIN_KEEP + 2)  # a middle of 2 ops: not worth a box
    layout = layout_of(h)
    layout.fold_chains()
    assert layout.folded == 0
    x = Tensor([1.0], requires_grad=True)
    h = x
    names = {}
    for i in range(20):
        h = h.tanh()
        if i == 10:
            names["middle"] = h  # a named tensor cuts the chain in two
    layout = layout_of(h, names)
    layout.fold_chains()
    assert layout.box_count == 2
    assert any(n.kind == "tensor" and n.tensor is names["middle"] for n in layout.nodes.values())


def test_modules_group_a_layers_parameters_and_the_ops_that_use_them():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3)))
    weight = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    bias = Tensor(rng.standard_normal(4), requires_grad=True)
    result = x @ weight.T + bias
    loss = result.relu().sum()
    layout = layout_of(loss, {"fc1.weight": weight, "fc1.bias": bias})
    layout.assign_modules()
    grouped = [n for n in layout.nodes.values() if n.module == "fc1"]
    assert {n.module for n in layout.nodes.values()} == {"fc1", None}
    # weight, bias, W.T and its op, the matmul's op and result (used inside, by the add), the
    # add's op; the layer's result stays outside, so the picture shows what leaves the layer
    assert len(grouped) == 7
    assert [n.kind for n in grouped].count("op") == 3
    assert not any(n.tensor is result and n.kind == "tensor" for n in grouped)
    layout.fold_modules()
    box = next(n for n in layout.nodes.values() if n.kind == "box")
    assert box.label == "fc1" and len(box.members) == 7


def test_fold_far_nodes_keeps_those_nearest_the_output():
    _, h = chain(30)
    layout = layout_of(h)
    layout.fold_far_nodes(max_nodes=10)
    assert len(layout.nodes) == 10 and layout.box_count == 1
    box = next(n for n in layout.nodes.values() if n.kind == "box")
    assert box.label == "further from the output"
    assert layout.nodes[next(iter(layout.nodes))] is box  # the far end, first in forward order
    assert layout.folded == layout.total - 9


def test_summarise_folds_until_small_enough():
    _, h = chain(300)
    for max_nodes in (5, 20, 100):
        layout = layout_of(h)
        layout.assign_modules()
        layout.summarise(max_nodes)
        assert len(layout.nodes) <= max_nodes
        assert layout.folded + len(layout.nodes) - layout.box_count == layout.total


# ----- through draw_graph -------------------------------------------------------------------------
def test_ten_thousand_op_chain_draws_summarised_and_backpropagates():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    h = x
    for _ in range(5000):
        h = h * 1.0001 + 0.0001  # two ops per turn: 10,000 ops
    loss = h.sum()
    loss.backward(retain_graph=True)  # iterative engine: no RecursionError
    np.testing.assert_allclose(x.grad.data, np.full(3, 1.0001**5000), rtol=1e-3)
    picture = draw_graph(loss)
    source = picture.source
    assert node_count(source) <= 200
    assert picture.folded > 19_000
    assert "folded" in source and "19,9" in source  # the picture says how much it folded
    assert "mul ×4,99" in source and "add ×4,99" in source
    # the input end is kept, with its grad
    assert "<b>x</b>" in source and "grad [1.65, 1.65, 1.65]" in source
    trace = trace_backward(loss)
    assert len(trace) == 10_002
    np.testing.assert_allclose(trace.leaf_grads["x"], x.grad.data)


def test_every_large_graph_stays_under_max_nodes_and_says_so():
    rng = np.random.default_rng(0)
    leaves = [Tensor(rng.standard_normal(2), requires_grad=True) for _ in range(150)]
    total = leaves[0]
    for leaf in leaves[1:]:
        total = total * 0.5 + leaf.tanh()  # wide: every step has a leaf input
    for max_nodes in (10, 50, 200):
        source = draw_graph(total.sum(), max_nodes=max_nodes).source
        assert node_count(source) <= max_nodes
        match = re.search(r"([\d,]+) of ([\d,]+) nodes are folded", source)
        assert match and int(match.group(2).replace(",", "")) == 150 + 149 * 3 * 2 + 2


def test_modules_fold_into_named_boxes():
    rng = np.random.default_rng(0)
    names = {}
    h = Tensor(np.ones((2, 3)))
    for layer in range(31):  # dotted names as named_parameters() gives them: layers.7.weight
        fan_in = h.shape[1]
        weight = names[f"layers.{layer}.weight"] = Tensor(rng.uniform(-1, 1, (4, fan_in)),
                                                          requires_grad=True)
        bias = names[f"layers.{layer}.bias"] = Tensor(rng.uniform(-1, 1, 4), requires_grad=True)
        h = (h @ weight.T + bias).relu()
    loss = h.sum()
    loss.backward(retain_graph=True)
    source = draw_graph(loss, names=names, max_nodes=60).source
    assert node_count(source) <= 60
    assert "module layers.0</b>" in source  # the first layer, folded into one box named after it
    # the repeated middle
    assert "⋯ folded</b>" in source and "tensors: layers.1.weight, layers.1.bias" in source
    assert "ops: transpose ×1, matmul ×1, add ×1" in source
    assert "mean |grad|" in source
