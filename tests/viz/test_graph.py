"""tinygrad_sm/viz/graph.py: the graph as the pictures and the trace see it (every tensor in
forward order, their names, each op's name and backward rule)."""

from __future__ import annotations

import tinygrad_sm
from tinygrad_sm import Function, Tensor
from tinygrad_sm.autograd import topological_order
from tinygrad_sm.function import get_op, ops
from tinygrad_sm.viz import draw_graph
from tinygrad_sm.viz.graph import forward_order, op_name, op_rule, rule_label, tensor_names


# ----- the op classes carry their rule -------------------------------------------------------
def test_every_built_in_op_class_has_a_rule():
    built_in = [name for name in ops()
                if get_op(name).__module__.startswith("tinygrad_sm.operations")]
    assert len(built_in) >= 25
    missing = [name for name in built_in if not get_op(name).__dict__.get("rule")]
    assert missing == [], f"ops without a `rule = ...` line: {missing}"


def test_custom_op_falls_back_to_its_docstring():
    class Cube(Function):
        """z = a³;  ∂z/∂a = 3a²."""

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a**3

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return 3 * a**2 * grad

    x = Tensor([1.0, 2.0], requires_grad=True)
    source = draw_graph(Cube.apply(x).sum()).source
    assert "<b>Cube</b>" in source
    assert "z = a³;  ∂z/∂a = 3a²." in source


# ----- names ------------------------------------------------------------------------------------
def test_names_from_a_dict_match_by_identity_and_ignore_other_values():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([1.0, 2.0], requires_grad=True)  # equal values, different tensor
    out = (a * b).sum()
    source = draw_graph(out, names={"first": a, "n": 3, "text": "hello", "_": b, "out": out}).source
    assert "<b>first</b>" in source and "<b>out</b>" in source
    assert "<b>_</b>" in source  # an underscore name is used when it is the only one
    assert "<b>n</b>" not in source and "hello" not in source


def test_names_from_locals_and_from_a_module():
    weight = Tensor([[1.0, 2.0]], requires_grad=True)
    x = Tensor([[3.0, 4.0]])
    loss = (x @ weight.T).sum()
    source = draw_graph(loss, names=locals()).source
    for name in ("weight", "x", "loss"):
        assert f"<b>{name}</b>" in source

    model = tinygrad_sm.nn.MLP([2, 3, 2], rng=0)
    loss = model(Tensor([[1.0, -1.0]])).sum()
    source = draw_graph(loss, names=model).source
    for name in ("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"):
        assert f"<b>{name}</b>" in source
    assert draw_graph(loss, names=dict(model.named_parameters())).source == source


def test_created_names_are_used():
    x = Tensor([1.0], requires_grad=True, name="x_in")
    assert "<b>x_in</b>" in draw_graph(x.exp()).source


def test_tensor_names_count_unnamed_tensors_in_forward_order():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    c = Tensor([3.0, 4.0])
    out = (x * c).sum()
    tensors = forward_order(out)
    names, named = tensor_names(tensors, {"out": out})
    assert [names[id(t)] for t in tensors] == ["x", "t0", "t1", "out"]
    assert named == {id(x), id(out)}


# ----- the walk ---------------------------------------------------------------------------------
def test_forward_order_includes_what_the_engine_walk_leaves_out():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    data = Tensor([3.0, 4.0], name="data")  # needs no gradient
    out = (x * data + x).sum()
    walked = forward_order(out)
    engine = topological_order(out)
    ids = {id(t) for t in walked}
    assert id(data) in ids  # drawn and named by the picture
    assert id(data) not in {id(t) for t in engine}  # the engine sends it nothing
    assert ids - {id(data)} == {id(t) for t in engine}  # otherwise the same tensors
    position = {id(t): i for i, t in enumerate(walked)}
    for tensor in walked:  # every tensor after its inputs, each once
        if tensor._node is not None:
            assert all(position[id(p)] < position[id(tensor)] for p in tensor._node.inputs)
    assert len(position) == len(walked) and walked[-1] is out


def test_forward_order_walks_a_long_chain_without_recursion():
    h = Tensor([1.0], requires_grad=True)
    for _ in range(5000):
        h = h * 1.0
    assert len(forward_order(h)) == 5001


# ----- op names and rules -----------------------------------------------------------------------
def test_op_name_rule_and_rule_label():
    x = Tensor([1.0, 2.0], requires_grad=True)
    node = x.softmax().grad_fn
    assert op_name(node) == "softmax"
    assert op_rule(node) == "p ⊙ (g − Σ g·p)"
    assert rule_label(node) == "∂ = p ⊙ (g − Σ g·p)"


def test_an_op_without_a_rule_is_described_by_its_docstring_or_not_at_all():
    class Twice(Function):
        """z = 2a;  ∂z/∂a = 2.

        More text that the picture leaves out.
        """

        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad

    class Quiet(Twice):
        pass

    x = Tensor([1.0], requires_grad=True)
    node = Twice.apply(x).grad_fn
    assert op_name(node) == "Twice"
    assert op_rule(node) == rule_label(node) == "z = 2a;  ∂z/∂a = 2."  # no "∂ = " added
    assert op_rule(Quiet.apply(x).grad_fn) == ""
