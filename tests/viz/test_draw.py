"""tinygrad_sm/viz/draw.py: labels, colours and edge widths of draw_graph's pictures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from viz_helpers import needs_renderer, node_count, softmax_loss, tensor_labels

from tinygrad_sm import Tensor
from tinygrad_sm.viz import draw as draw_module
from tinygrad_sm.viz import draw_graph

PARAMETER_FILL = draw_module.COLOURS["parameter"]
OUTPUT_FILL = draw_module.COLOURS["output"]
INPUT_FILL = draw_module.COLOURS["input"]


def test_softmax_label_shows_name_and_rule():
    _, _, loss = softmax_loss()
    source = draw_graph(loss).source
    assert "<b>softmax</b>" in source
    assert "∂ = p ⊙ (g − Σ g·p)" in source
    assert "∂a = g·b,  ∂b = g·a" not in source  # only the ops in the graph


def test_tensor_nodes_show_name_shape_dtype_values_and_kind():
    logits, _, loss = softmax_loss()
    source = draw_graph(loss).source
    labels = tensor_labels(source)
    assert len(labels) == 5  # logits, p, p[0], log, loss
    logits_label = next(label for label in labels if "<b>logits</b>" in label)
    assert "(3,) float32" in logits_label
    assert "[2, 1, 0.1]" in logits_label
    assert f'fillcolor="{PARAMETER_FILL}"' in logits_label
    assert "grad" not in logits_label  # before backward
    output_label = next(label for label in labels if "output" in label)
    assert f'fillcolor="{OUTPUT_FILL}"' in output_label and "scalar float32" in output_label
    # softmax saves its output: double border
    saved = [label for label in labels if "peripheries=2" in label]
    assert saved and all("saved" in label for label in saved)
    # a legend tells the kinds apart
    for word in ("input", "parameter (gets .grad)", "intermediate", "output", "saved for backward"):
        assert word in source


def test_show_data_false_hides_values():
    _, _, loss = softmax_loss()
    assert "[2, 1, 0.1]" not in draw_graph(loss, show_data=False).source


def test_large_tensors_are_summarised_by_min_mean_max():
    x = Tensor(np.arange(100, dtype=np.float32).reshape(10, 10), name="big")
    w = Tensor(np.ones(10, dtype=np.float32), requires_grad=True, name="w")
    source = draw_graph((x @ w).sum()).source
    assert "min 0  mean 49.5  max 99" in source


def test_inputs_without_grad_are_grey():
    x = Tensor([1.0, 2.0], name="data")
    w = Tensor([3.0, 4.0], requires_grad=True, name="w")
    labels = tensor_labels(draw_graph((x * w).sum()).source)
    data_label = next(label for label in labels if "<b>data</b>" in label)
    assert f'fillcolor="{INPUT_FILL}"' in data_label and "input" in data_label


def test_a_leaf_alone_is_one_node():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    source = draw_graph(x).source
    assert node_count(source) == 1 and "<b>x</b>" in source


def test_bad_arguments_are_named():
    _, _, loss = softmax_loss()
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(loss, rankdir="sideways")
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(loss, max_nodes=1)
    with pytest.raises(TypeError, match="Tensor"):
        draw_graph(np.ones(3))


def test_after_backward_every_tensor_shows_its_grad_and_edges_are_coloured():
    logits, p, loss = softmax_loss()
    loss.backward(retain_graph=True)
    source = draw_graph(loss).source
    labels = tensor_labels(source)
    assert all("grad" in label for label in labels)
    expected = p.data - np.eye(3, dtype=np.float32)[0]
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-5)
    assert "grad [-0.341, 0.242, 0.0986]" in source
    # the gradient of p: an intermediate, recomputed by replay
    assert "grad [-1.52, 0, 0]" in source
    assert "grad 1" in source  # the output's seed
    edge_colours = set(re.findall(r'-> \w+ \[.*?color="(#[0-9a-f]{6})"', source))
    assert edge_colours and edge_colours <= set(draw_module.GRADIENT_SCALE)
    assert draw_module.GRADIENT_SCALE[-1] in edge_colours  # the largest gradient is the darkest
    assert "edge width and colour" in source  # the legend explains them
    assert "penwidth" in source


def test_zero_gradient_edges_are_dashed_and_the_graph_is_not_changed():
    x = Tensor([-1.0, -2.0], requires_grad=True, name="x")
    loss = x.relu().sum()
    loss.backward(retain_graph=True)
    source = draw_graph(loss).source
    assert re.search(r"t0 -> o1 \[.*style=dashed", source)  # relu of negatives: no gradient flows
    assert x.grad.data.tolist() == [0.0, 0.0]
    loss.backward()  # drawing neither freed the graph nor touched .grad beyond what backward did
    assert x.grad.data.tolist() == [0.0, 0.0]


def test_magnitudes_decide_the_edge_style():
    assert draw_module._edge_style(None, 1.0) == {}
    big, small = draw_module._edge_style(1.0, 1.0), draw_module._edge_style(1e-5, 1.0)
    assert float(big["penwidth"]) > float(small["penwidth"])
    assert big["color"] == draw_module.GRADIENT_SCALE[-1]
    assert small["color"] == draw_module.GRADIENT_SCALE[0]
    assert draw_module._edge_style(0.0, 1.0)["style"] == "dashed"
    assert draw_module._edge_style(float("nan"), 1.0)["label"] == "nan/inf"


def test_after_a_freeing_backward_the_leaf_grads_show_and_the_picture_says_why_others_do_not():
    logits, _, loss = softmax_loss()
    loss.backward()
    source = draw_graph(loss).source
    assert "grad [-0.341, 0.242, 0.0986]" in source
    assert "retain_graph=True" in source
    assert "grad [-1.52, 0, 0]" not in source


def test_retained_grads_are_shown():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x * 3
    h.retain_grad()
    loss = (h * h).sum()
    loss.backward()
    source = draw_graph(loss).source
    assert "grad [6, 12]" in source  # h's grad kept by retain_grad, though the graph is freed


def test_show_grad_false_hides_gradients():
    _, _, loss = softmax_loss()
    loss.backward(retain_graph=True)
    source = draw_graph(loss, show_grad=False).source
    assert "grad [" not in source
    assert not re.search(r"-> \w+ \[[^\]]*penwidth", source)  # edges keep the plain style


@needs_renderer
def test_example_script_writes_its_pictures(tmp_path):
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    script = root / "examples" / "draw_graph.py"
    result = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backward of loss: 5 steps" in result.stdout and "one SGD step" in result.stdout
    for name in ("softmax_cross_entropy_before.png", "softmax_cross_entropy.svg",
                 "softmax_cross_entropy.png", "mlp_step.svg", "mlp_step.png",
                 "softmax_cross_entropy_steps/steps.html"):
        assert f"wrote {tmp_path / name}" in result.stdout
        assert (tmp_path / name).stat().st_size > 1000
    mlp = (tmp_path / "mlp_step.svg").read_text(encoding="utf-8")
    assert "layers.0.weight" in mlp and "cross_entropy" in mlp and "grad [" in mlp


def test_an_edge_is_labelled_with_the_argument_it_feeds():
    """∂a = g·b: the arrows into a two-input op say which is a and which is b (linear's x, weight,
    bias); a one-input op's arrow needs no name."""
    from tinygrad_sm import nn

    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = Tensor([3.0, 4.0], requires_grad=True, name="b")
    loss = (a * b).exp().sum()
    loss.backward()
    edges = [line.strip() for line in draw_graph(loss).source.splitlines() if "->" in line]
    labelled = [line for line in edges if "label=" in line]
    assert sorted(line.split("label=")[1].split()[0].strip("]") for line in labelled) == ["a", "b"]
    assert len(labelled) == 2  # (exp and sum take one tensor: their arrows carry no name)
    model = nn.Linear(2, 3, rng=0)
    out = model(Tensor([[1.0, 2.0]])).sum()
    source = draw_graph(out, names=model).source
    for name in ("x", "weight", "bias"):
        assert f"label={name}" in source
