"""tinygrad_sm/viz/trace.py: the backward pass replayed step by step, from the engine itself."""

from __future__ import annotations

import html

import numpy as np
import pytest
from viz_helpers import softmax_loss

from tinygrad_sm import Tensor, detect_anomaly
from tinygrad_sm.grad_mode import hooks
from tinygrad_sm.viz import BackwardStep, BackwardTrace, trace_backward


def test_trace_matches_the_engine():
    rng = np.random.default_rng(1)
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True, name="w")
    b = Tensor(rng.standard_normal(3), requires_grad=True, name="b")  # broadcast over the batch
    x = Tensor(rng.standard_normal((5, 4)), name="x")
    h = (x @ w.T + b).tanh()
    h.retain_grad()
    loss = (h * h).cross_entropy(np.array([0, 1, 2, 0, 1]))  # h used twice
    trace = trace_backward(loss, names=locals())
    assert w.grad is None and b.grad is None  # the trace writes no .grad
    loss.backward()
    assert set(trace.leaf_grads) == {"w", "b"}
    np.testing.assert_allclose(trace.leaf_grads["w"], w.grad.data, rtol=1e-12)
    np.testing.assert_allclose(trace.leaf_grads["b"], b.grad.data, rtol=1e-12)
    np.testing.assert_allclose(trace.grad_of(h), h.grad.data, rtol=1e-12)
    assert trace[0].op == "cross_entropy" and trace[0].name == "loss"
    assert trace.grad_of(x) is None  # x needs no gradient
    add_step = next(step for step in trace if step.op == "add")
    # broadcasting undone, as the engine does
    assert [g.shape for g in add_step.input_grads] == [(5, 3), (3,)]
    mul_step = next(step for step in trace if step.op == "mul")
    np.testing.assert_allclose(sum(mul_step.input_grads), trace.grad_of(h))


def test_trace_order_is_the_engine_order_and_prints_as_a_table():
    logits, p, loss = softmax_loss()
    trace = trace_backward(loss, names={"logits": logits, "p": p, "loss": loss})
    assert [step.op for step in trace] == ["neg", "log", "getitem", "softmax", "leaf"]
    softmax_step = trace[3]
    assert softmax_step.rule == "p ⊙ (g − Σ g·p)" and softmax_step.node is p.grad_fn
    assert softmax_step.name == "p" and softmax_step.input_names == ("logits",)
    np.testing.assert_allclose(softmax_step.grad, [-1 / p.data[0], 0, 0], rtol=1e-6)
    table = str(trace)
    assert "backward of loss: 5 steps" in table
    for text in ("step", "incoming g", "rule", "outgoing gradients", "softmax", "p ⊙ (g − Σ g·p)",
                 "→ logits: [-0.341, 0.242, 0.0986]", "logits.grad += g"):
        assert text in table
    assert repr(trace) == "<BackwardTrace of loss: 5 steps>"


def test_trace_keeps_the_graph_and_explains_a_freed_one():
    _, _, loss = softmax_loss()
    trace_backward(loss)
    trace_backward(loss)
    loss.backward()  # still possible: the trace did not free anything
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        trace_backward(loss)


def test_trace_of_a_non_scalar_needs_a_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x * x
    with pytest.raises(RuntimeError, match="gradient="):
        trace_backward(y)
    trace = trace_backward(y, gradient=[1.0, 0.5])
    np.testing.assert_allclose(trace.leaf_grads["x"], [2.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        trace_backward(Tensor([1.0]))


def test_trace_checks_its_arguments_as_backward_does():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x * x
    with pytest.raises(TypeError, match="trace_backward: expected a Tensor"):
        trace_backward(np.ones(2))
    with pytest.raises(ValueError, match=r"trace_backward: gradient has shape \(3,\)"):
        trace_backward(y, gradient=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="trace_backward: gradient must be"):
        trace_backward(y, gradient=["a", object()])
    with pytest.raises(RuntimeError, match="trace_backward: grad can be implicitly created only"):
        trace_backward(y)


def test_trace_seed_has_the_output_dtype_and_steps_are_what_backward_gets():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True, name="x")
    b = Tensor(np.array([0.5], dtype=np.float32), requires_grad=True, name="b")  # broadcast
    y = x * 3.0 + b
    trace = trace_backward(y, gradient=np.array([1, 2]))  # integers, cast as backward() casts
    assert isinstance(trace, BackwardTrace) and all(isinstance(s, BackwardStep) for s in trace)
    assert trace.seed.dtype == np.float32 and trace.seed.tolist() == [1.0, 2.0]
    add = trace[0]
    assert add.op == "add" and add.input_names == ("t0", "b")
    assert [g.shape for g in add.input_grads] == [(2,), (1,)]  # broadcasting undone
    assert all(g.dtype == np.float32 for g in add.input_grads)
    y.backward(np.array([1.0, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(trace.leaf_grads["b"], b.grad.data)
    np.testing.assert_array_equal(trace.leaf_grads["x"], x.grad.data)


def test_trace_is_the_observer_only_while_it_runs_and_passes_calls_on():
    _, _, loss = softmax_loss()
    assert hooks.observer is None
    trace_backward(loss)
    assert hooks.observer is None
    with detect_anomaly():
        checker = hooks.observer
        trace = trace_backward(loss)
        assert hooks.observer is checker
    assert len(trace) == 5


def test_a_trace_at_the_end_of_a_notebook_cell_shows_its_table():
    x = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="x")
    trace = trace_backward(x.softmax()[0])
    page = trace._repr_html_()
    assert page.startswith("<pre>") and page.endswith("</pre>")
    table = str(trace)
    assert "softmax" in table and html.escape(table) in page

    class Printer:
        def __init__(self):
            self.shown = ""

        def text(self, value):
            self.shown += value

    printer = Printer()
    trace._repr_pretty_(printer, cycle=False)
    assert printer.shown == table
