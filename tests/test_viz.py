"""tinygrad_sm.viz: graph pictures, the backward trace, the step-by-step frames and the renderers."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import graphviz
import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Function, Tensor
from tinygrad_sm.function import get_op, ops
from tinygrad_sm.viz import (
    GraphPicture,
    RendererNotFoundError,
    available_renderers,
    draw_backward_steps,
    draw_graph,
    trace_backward,
)
from tinygrad_sm.viz import draw as draw_module
from tinygrad_sm.viz import render as render_module

RENDERERS = available_renderers()
needs_renderer = pytest.mark.skipif(not RENDERERS, reason="neither dot nor graphviz-pure is installed")
every_renderer = pytest.mark.parametrize(
    "program", [pytest.param(name, marks=pytest.mark.skipif(name not in RENDERERS, reason=f"{name} not installed"))
                for name in render_module.RENDERERS]
)
PARAMETER_FILL = draw_module.COLOURS["parameter"]
OUTPUT_FILL = draw_module.COLOURS["output"]
INPUT_FILL = draw_module.COLOURS["input"]


def softmax_loss():
    logits = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="logits")
    p = logits.softmax()
    loss = -p[0].log()
    return logits, p, loss


def node_count(source: str) -> int:
    """Nodes declared in DOT text written by draw_graph (one `key [label=...]` line each)."""
    return len(re.findall(r"^\s+\w+ \[label=", source, flags=re.MULTILINE))


def tensor_labels(source: str) -> list[str]:
    return re.findall(r"^\s+t\d+ \[label=(.*)$", source, flags=re.MULTILINE)


# ----- the op classes carry their rule ----------------------------------------------------------
def test_every_built_in_op_class_has_a_rule():
    built_in = [name for name in ops() if get_op(name).__module__.startswith("tinygrad_sm.operations")]
    assert len(built_in) >= 25
    missing = [name for name in built_in if not get_op(name).__dict__.get("rule")]
    assert missing == [], f"ops without a `rule = ...` line: {missing}"


def test_softmax_label_shows_name_and_rule():
    _, _, loss = softmax_loss()
    source = draw_graph(loss).source
    assert "<b>softmax</b>" in source
    assert "∂ = p ⊙ (g − Σ g·p)" in source
    assert "∂a = g·b,  ∂b = g·a" not in source  # only the ops in the graph


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


# ----- tensor nodes ---------------------------------------------------------------------------------
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


# ----- gradients in the picture ----------------------------------------------------------------
def test_after_backward_every_tensor_shows_its_grad_and_edges_are_coloured():
    logits, p, loss = softmax_loss()
    loss.backward(retain_graph=True)
    source = draw_graph(loss).source
    labels = tensor_labels(source)
    assert all("grad" in label for label in labels)
    expected = p.data - np.eye(3, dtype=np.float32)[0]
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-5)
    assert "grad [-0.341, 0.242, 0.0986]" in source
    assert "grad [-1.52, 0, 0]" in source  # the gradient of p: an intermediate, recomputed by replay
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
    assert big["color"] == draw_module.GRADIENT_SCALE[-1] and small["color"] == draw_module.GRADIENT_SCALE[0]
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


# ----- large graphs ---------------------------------------------------------------------------------
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
    assert "<b>x</b>" in source and "grad [1.65, 1.65, 1.65]" in source  # the input end is kept, with its grad
    trace = trace_backward(loss)
    assert len(trace) == 10_002
    np.testing.assert_allclose(trace.leaf_grads["x"], x.grad.data)


@needs_renderer
def test_ten_thousand_op_chain_renders_quickly():
    h = Tensor([1.0], requires_grad=True)
    for _ in range(10_000):
        h = h.tanh()
    svg = draw_graph(h.sum(), max_nodes=30).pipe("svg", encoding="utf-8")
    assert svg.count('class="node"') <= 30


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
        weight = names[f"layers.{layer}.weight"] = Tensor(rng.uniform(-1, 1, (4, fan_in)), requires_grad=True)
        bias = names[f"layers.{layer}.bias"] = Tensor(rng.uniform(-1, 1, 4), requires_grad=True)
        h = (h @ weight.T + bias).relu()
    loss = h.sum()
    loss.backward(retain_graph=True)
    source = draw_graph(loss, names=names, max_nodes=60).source
    assert node_count(source) <= 60
    assert "module layers.0</b>" in source  # the first layer, folded into one box named after it
    assert "⋯ folded</b>" in source and "tensors: layers.1.weight, layers.1.bias" in source  # the repeated middle
    assert "ops: transpose ×1, matmul ×1, add ×1" in source
    assert "mean |grad|" in source


# ----- trace_backward -------------------------------------------------------------------------------
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
    assert [g.shape for g in add_step.input_grads] == [(5, 3), (3,)]  # broadcasting undone, as the engine does
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


# ----- rendering --------------------------------------------------------------------------------
@every_renderer
def test_svg_has_labels_grads_rules_and_colours(program):
    logits, p, loss = softmax_loss()
    loss.backward(retain_graph=True)
    picture = draw_graph(loss, names={"logits": logits, "p": p, "loss": loss})
    assert isinstance(picture, graphviz.Digraph)
    svg = picture.pipe("svg", encoding="utf-8", program=program)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    text = html.unescape(svg).replace("\xa0", " ")
    for label in (">logits<", ">softmax<", "∂ = p ⊙ (g − Σ g·p)", "grad [-0.341, 0.242, 0.0986]",
                  "grad [-1.52, 0, 0]", "(3,) float32", "parameter (gets .grad)"):
        assert label in text, label
    assert f'fill="{PARAMETER_FILL}"' in svg and f'fill="{OUTPUT_FILL}"' in svg
    assert draw_module.GRADIENT_SCALE[-1] in svg  # edge colour by gradient size


@every_renderer
def test_png_render_and_file_outputs(program, tmp_path):
    _, _, loss = softmax_loss()
    picture = draw_graph(loss)
    png = picture.pipe("png", program=program)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    written = picture.render(tmp_path / "graph", format="png", program=program)
    assert written == str(tmp_path / "graph.png") and Path(written).read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "graph").read_text(encoding="utf-8").startswith("digraph")  # the DOT source, as graphviz does
    written = picture.render(tmp_path / "direct.svg", program=program)
    assert written == str(tmp_path / "direct.svg") and "<svg" in Path(written).read_text(encoding="utf-8")
    assert not (tmp_path / "direct").exists()
    written = picture.render(tmp_path / "clean", format="svg", cleanup=True, program=program)
    assert Path(written).exists() and not (tmp_path / "clean").exists()


@every_renderer
def test_jupyter_shows_svg(program, monkeypatch):
    monkeypatch.setenv("TINYGRAD_SM_RENDERER", program)
    _, _, loss = softmax_loss()
    bundle = draw_graph(loss)._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]
    assert "Generated by graphviz" in bundle["image/svg+xml"]


@pytest.mark.skipif("graphviz-pure" not in RENDERERS, reason="graphviz-pure not installed")
def test_graphviz_pure_pngs_have_a_glyph_for_every_character():
    """graphviz-pure draws PNG text with its own fonts; anything they lack must have become ASCII."""
    path = render_module.find_renderer("graphviz-pure")[1]
    x = Tensor([[1.0, 2.0]], requires_grad=True, name="x")
    everything = [get_op(name).rule for name in ops() if get_op(name).__module__.startswith("tinygrad_sm.operations")]
    loss = (x @ x.T).sum()
    loss.backward(retain_graph=True)
    chain = x
    for _ in range(20):
        chain = chain.tanh() * 0.5
    folded = draw_graph(chain.sum(), max_nodes=10).source  # a folded box and its "⋯"
    text = draw_graph(loss).source + folded + "".join(everything)
    text = render_module.for_renderer(text, "graphviz-pure", "png")
    characters = sorted({c for c in text if ord(c) > 127})

    def png_of(character: str) -> bytes:
        source = f'digraph {{ node [shape=plaintext fontname=Helvetica fontsize=28]; a [label="{character}"] }}'
        return subprocess.run([path, "-Tpng"], input=source.encode(), capture_output=True, check=True).stdout

    missing_glyph = png_of("\ue000")  # a private-use character: no font has it
    assert png_of("⊙") == missing_glyph  # the probe works: this one is known to be missing
    lacking = [c for c in characters if png_of(c) == missing_glyph]
    assert lacking == [], f"graphviz-pure has no glyph for {lacking}; add them to render.ASCII_FALLBACK"


@pytest.mark.skipif("dot" not in RENDERERS or shutil.which("fc-list") is None, reason="needs dot and fontconfig")
def test_dot_has_a_font_with_the_math_symbols():
    fonts = subprocess.run(["fc-list", ":charset=2299 3a3 2202 2212"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no installed font has ⊙ Σ ∂ −: apt-get install fonts-dejavu-core"


def test_without_a_renderer_the_graph_still_exists_and_errors_say_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(render_module, "_find_program", lambda name: None)
    monkeypatch.delenv("TINYGRAD_SM_RENDERER", raising=False)
    assert available_renderers() == []
    _, _, loss = softmax_loss()
    picture = draw_graph(loss)
    assert isinstance(picture, GraphPicture) and "digraph" in picture.source
    with pytest.raises(RendererNotFoundError) as caught:
        picture.pipe("svg")
    message = str(caught.value)
    for fix in ("apt-get install graphviz", "brew install graphviz", 'pip install "tinygrad_sm[render]"'):
        assert fix in message
    assert isinstance(caught.value, graphviz.ExecutableNotFound) and isinstance(caught.value, RuntimeError)
    with pytest.raises(RendererNotFoundError):
        picture.render(tmp_path / "graph.svg")
    bundle = picture._repr_mimebundle_()  # Jupyter: the DOT text and the fix, no traceback
    assert "image/svg+xml" not in bundle
    assert "digraph" in bundle["text/plain"] and "apt-get install graphviz" in bundle["text/plain"]
    assert "digraph" in bundle["text/html"]


def test_a_named_renderer_must_exist(monkeypatch):
    monkeypatch.setattr(render_module, "_find_program", lambda name: "/bin/x" if name == "dot" else None)
    assert render_module.find_renderer() == ("dot", "/bin/x")
    with pytest.raises(RendererNotFoundError, match="graphviz-pure"):
        render_module.find_renderer("graphviz-pure")
    with pytest.raises(ValueError, match="unknown renderer"):
        render_module.find_renderer("neato")
    monkeypatch.setenv("TINYGRAD_SM_RENDERER", "graphviz-pure")
    with pytest.raises(RendererNotFoundError):
        render_module.find_renderer()


def test_ascii_fallback_only_for_graphviz_pure_rasters():
    text = "∂ = p ⊙ (g − Σ g·p)"
    assert render_module.for_renderer(text, "graphviz-pure", "png") == "∂ = p * (g − Σ g·p)"
    assert render_module.for_renderer(text, "graphviz-pure", "svg") == text
    assert render_module.for_renderer(text, "dot", "png") == text


# ----- step by step -------------------------------------------------------------------------------
@needs_renderer
def test_draw_backward_steps_writes_frames_a_page_and_a_gif(tmp_path):
    x = Tensor([1.0, -2.0], requires_grad=True, name="x")
    w = Tensor([0.5, 0.3], requires_grad=True, name="w")
    y = ((x * w).relu() + x).sum()
    written = draw_backward_steps(y, tmp_path / "steps", names={"x": x, "w": w, "y": y})
    steps = trace_backward(y)
    frames = sorted((tmp_path / "steps").glob("step_*.svg"))
    assert len(frames) == len(steps) + 1 == 7
    first, relu_frame = frames[0].read_text(encoding="utf-8"), frames[3].read_text(encoding="utf-8")
    assert "before backward" in first and "grad [" not in first
    assert "step 3 of 6" in relu_frame and ">relu<" in relu_frame
    assert draw_module.COLOURS["highlight"] in relu_frame  # the node being processed
    assert "grad [1, 1]" in relu_frame and "t0 gets [1, 0]" in relu_frame
    page = (tmp_path / "steps" / "steps.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 7 and 'type="range"' in page and "<?xml" not in page
    assert x.grad is None  # nothing was changed
    pil = pytest.importorskip("PIL.Image")
    gif = tmp_path / "steps" / "backward.gif"
    assert gif in written
    with pil.open(gif) as image:
        assert image.n_frames == 7


def test_draw_backward_steps_refuses_too_many_frames(tmp_path):
    h = Tensor([1.0], requires_grad=True)
    for _ in range(200):
        h = h * 1.5
    with pytest.raises(ValueError, match="max_frames=100"):
        draw_backward_steps(h.sum(), tmp_path)


# ----- the example -------------------------------------------------------------------------------
@needs_renderer
def test_example_script_writes_its_pictures(tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(root / "examples" / "draw_graph.py"), "--out", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backward of loss: 5 steps" in result.stdout and "one SGD step" in result.stdout
    for name in ("softmax_cross_entropy_before.png", "softmax_cross_entropy.svg", "softmax_cross_entropy.png",
                 "mlp_step.svg", "mlp_step.png", "softmax_cross_entropy_steps/steps.html"):
        assert f"wrote {tmp_path / name}" in result.stdout and (tmp_path / name).stat().st_size > 1000
    mlp = (tmp_path / "mlp_step.svg").read_text(encoding="utf-8")
    assert "layers.0.weight" in mlp and "cross_entropy" in mlp and "grad [" in mlp
