"""draw_graph: a picture of the graph behind a tensor, before or after backward.

Tensors are boxes (name, shape, dtype, values, grad); ops are rounded boxes
(name and backward rule, taken from the op class). After ``backward()`` every
edge is drawn as thick and dark as the gradient that flows back along it, so
one sees where the gradient goes and where it vanishes. Graphs larger than
``max_nodes`` are summarised: module groups and long chains are folded into
boxes that say what they hold, never dropped silently.

Here: what each node and edge looks like (labels, colours, edge widths) and
``draw_graph``. Which nodes there are, and the folding, is ``layout.py``'s job;
numbers and arrays become text in ``text.py``.
"""

from __future__ import annotations

import functools
import html
import inspect
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .graph import Names, forward_order, op_name, rule_label, tensor_names
from .layout import Layout, Node
from .render import GraphPicture
from .text import format_values, value_lines
from .trace import BackwardTrace, trace_backward

# both renderers know Helvetica's metrics; dot's font fallback and SVG viewers supply ⊙ etc.
FONT = "Helvetica"
MONO = "Courier"

COLOURS = {
    "input": "#e6e6e6",  # a leaf that needs no gradient (data, targets)
    "parameter": "#d5ecc8",  # a leaf with requires_grad: gets .grad
    "intermediate": "#ffffff",
    "output": "#ffd9a8",
    "op": "#dde8f7",
    "box": "#f4f4f4",
    "grad": "#b2182b",
    "highlight": "#d62728",
    "nonfinite": "#7b3294",
}
#: edge colours from a vanishing gradient (pale) to the largest one in the graph (dark)
GRADIENT_SCALE = ("#fdd9b5", "#fdbb84", "#fc8d59", "#e34a33", "#b30000", "#67000d")
KIND_WORDS = {"input": "input", "parameter": "parameter", "intermediate": "", "output": "output"}


# ----- gradients known to the picture ---------------------------------------------------------
@dataclass
class Gradients:
    """What the picture knows about gradients: per tensor, and per edge.

    Edge keys: ``("in", id(t), i)`` for the edge from input ``i`` of ``t``'s op
    (carrying that input's share of the gradient), ``("out", id(t))`` for the
    edge from the op to ``t`` (carrying ``t``'s gradient).
    """

    tensors: dict[int, np.ndarray] = field(default_factory=dict)
    edges: dict[tuple, np.ndarray] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def from_trace(cls, trace: BackwardTrace, steps: int | None = None) -> Gradients:
        """The gradients computed by the first ``steps`` steps of ``trace`` (all by default)."""
        known = cls()
        for step in trace.steps[: len(trace) if steps is None else steps]:
            known.tensors[id(step.tensor)] = step.grad
            known.edges[("out", id(step.tensor))] = step.grad
            for position, grad in enumerate(step.input_grads):
                if grad is not None:
                    known.edges[("in", id(step.tensor), position)] = grad
        return known


def _gradients_after_backward(
    root: Tensor, tensors: list[Tensor]
) -> tuple[Gradients | None, BackwardTrace | None]:
    """Gradients for a picture drawn after ``backward()``, or None before it.

    The engine keeps only the leaves' ``.grad``; the others are recomputed by
    replaying the backward pass (``trace_backward``) while the graph still holds
    its saved values.
    """
    stored = {id(t): t.grad.data for t in tensors if isinstance(t.grad, Tensor)}
    if not stored:
        return None, None
    freed = any(t._node is not None and t._node.freed for t in tensors)
    if root.requires_grad and root._node is not None and not freed:
        seed = None
        if root.size != 1 and isinstance(root.grad, Tensor):
            seed = root.grad.data
        if root.size == 1 or seed is not None:
            trace = trace_backward(root, seed)
            known = Gradients.from_trace(trace)
            # what the user sees in .grad (it may hold several backward passes)
            known.tensors.update(stored)
            return known, trace
    known = Gradients(tensors=dict(stored))
    consumers = Counter(
        id(p) for t in tensors if t._node is not None for p in t._node.inputs if p is not None
    )
    for tensor in tensors:
        if id(tensor) in stored:
            known.edges[("out", id(tensor))] = stored[id(tensor)]
        if tensor._node is not None:
            for position, parent in enumerate(tensor._node.inputs):
                if parent is not None and id(parent) in stored and consumers[id(parent)] == 1:
                    known.edges[("in", id(tensor), position)] = stored[id(parent)]
    if any(t._node is not None for t in tensors):
        known.note = (
            "backward() freed the graph, so only the leaves' .grad is known; "
            "call backward(retain_graph=True) to see every gradient"
        )
    return known, None


# ----- labels ---------------------------------------------------------------------------------
def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _values_html(values: np.ndarray, colour: str | None = None, prefix: str = "") -> str:
    """Values as picture text (``text.value_lines``) in a monospaced font; the lines of a matrix
    keep their spaces, so that its columns stay aligned."""
    lines = value_lines(values, prefix)
    if len(lines) == 1:
        text = _escape(lines[0])
    else:
        text = '<br align="left"/>'.join(_escape(line).replace(" ", "&#160;") for line in lines)
    text = f'<font face="{MONO}" point-size="10">{text}</font>'
    return f'<font color="{colour}">{text}</font>' if colour else text


def _table(rows: list[str]) -> str:
    cells = "".join(f'<tr><td align="left" balign="left">{row}</td></tr>' for row in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>>'


def _tensor_kind(tensor: Tensor, root: Tensor) -> str:
    if tensor is root:
        return "output"
    if tensor._node is None:
        return "parameter" if tensor.requires_grad else "input"
    return "intermediate"


def _tensor_label(
    tensor: Tensor,
    name: str,
    named: bool,
    kind: str,
    saved: bool,
    show_data: bool,
    grad: np.ndarray | None,
) -> str:
    title = f"<b>{_escape(name)}</b>" if named else f'<font color="#777777">{_escape(name)}</font>'
    words = [w for w in (KIND_WORDS[kind], "saved" if saved else "") if w]
    tag = f'  <font point-size="9" color="#555555">{" · ".join(words)}</font>' if words else ""
    shape = "scalar" if tensor.ndim == 0 else str(tuple(tensor.shape))
    details = f'<font point-size="9" color="#555555">{_escape(shape)} {tensor.dtype}</font>'
    rows = [title + tag, details]
    if show_data:
        rows.append(_values_html(tensor.data))
    if grad is not None:
        rows.append(_values_html(grad, COLOURS["grad"], "grad "))
    return _table(rows)


def _input_label(edge: Any, by_id: dict[int, Tensor]) -> str | None:
    """The name of the argument an edge feeds (``a``/``b`` of mul, ``weight`` of linear), so a rule
    such as ``∂a = g·b`` can be read off the arrows; None for an op of one tensor input, or for an
    edge into a folded box (it stands for several)."""
    if len(edge.keys) != 1 or edge.keys[0][0] != "in":
        return None
    _, tensor_id, position = edge.keys[0]
    tensor = by_id.get(tensor_id)
    node = tensor._node if tensor is not None else None
    if node is None or sum(parent is not None for parent in node.inputs) < 2:
        return None
    names = _forward_parameters(type(node))
    return names[position] if position < len(names) else None


@functools.cache
def _forward_parameters(cls: type) -> tuple[str, ...]:
    """The names of an op's forward arguments after ctx."""
    try:
        parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return ()
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return ()  # (concatenate's *tensors: no names to give)
    return tuple(p.name for p in parameters)


def _op_label(node: Function) -> str:
    rows = [f"<b>{_escape(op_name(node))}</b>"]
    rule = rule_label(node)
    if rule:
        rows.append(f'<font point-size="10">{_escape(rule)}</font>')
    return _table(rows)


def _box_label(
    box: Node, names: dict[int, str], named: set[int], gradients: Gradients | None
) -> str:
    ops = Counter(op_name(n.tensor._node) for n in box.members if n.kind == "op")
    tensors = [n.tensor for n in box.members if n.kind == "tensor"]
    module = box.label and box.label != "further from the output"
    title = f"module {box.label}" if module else "⋯ folded"
    rows = [f"<b>{_escape(title)}</b>: {len(box.members):,} nodes"]
    if box.label == "further from the output":
        rows.append(_escape("(the nodes farthest from the output)"))
    if ops:
        listed = ", ".join(f"{name} ×{count:,}" for name, count in ops.most_common(4))
        rows.append(_escape(f"ops: {listed}" + (", …" if len(ops) > 4 else "")))
    params = [names[id(t)] for t in tensors if id(t) in named]
    if params:
        more = f", … (+{len(params) - 4})" if len(params) > 4 else ""
        rows.append(_escape("tensors: " + ", ".join(params[:4]) + more))
    shapes = Counter(str(tuple(t.shape)) for t in tensors)
    if shapes:
        listed = ", ".join(shape for shape, _ in shapes.most_common(3))
        rows.append(f'<font point-size="9" color="#555555">{_escape("shapes " + listed)}</font>')
    if gradients is not None:
        known = [gradients.tensors[id(t)] for t in tensors if id(t) in gradients.tensors]
        sizes = [s for s in map(_magnitude, known) if s is not None and math.isfinite(s)]
        if sizes:
            low = format_values(np.float64(min(sizes)))
            high = format_values(np.float64(max(sizes)))
            text = f"mean |grad| {low}" if low == high else f"mean |grad| from {low} to {high}"
            rows.append(f'<font color="{COLOURS["grad"]}" point-size="10">{_escape(text)}</font>')
    return _table(rows)


def _legend(show_grad: bool, has_grads: bool) -> str:
    def swatch(colour: str, text: str, extra: str = "") -> str:
        return f'<td bgcolor="{colour}" {extra}><font point-size="9">{_escape(text)}</font></td>'

    cells = [
        swatch(COLOURS["input"], "input"),
        swatch(COLOURS["parameter"], "parameter (gets .grad)"),
        swatch(COLOURS["intermediate"], "intermediate"),
        swatch(COLOURS["output"], "output"),
        swatch(COLOURS["op"], "op · its backward rule", 'style="rounded"'),
        swatch("#ffffff", "double border: saved for backward"),
    ]
    rows = [f"<tr>{''.join(cells)}</tr>"]
    notes = [
        "g: the gradient arriving at the op's output · a, b: its inputs · z: its output · "
        "arrows point forward; gradients flow back against them"
    ]
    if show_grad and has_grads:
        scale = "".join(f'<font color="{c}">■</font>' for c in GRADIENT_SCALE)
        notes.append(
            f"edge width and colour: mean |gradient| on a log scale, pale {scale} dark = "
            "largest; dashed grey: exactly zero"
        )
    for note in notes:
        text = note if note.startswith("edge") else _escape(note)
        rows.append(
            f'<tr><td colspan="{len(cells)}" align="left">'
            f'<font point-size="9">{text}</font></td></tr>'
        )
    return (
        '<table border="0" cellborder="1" cellspacing="2" cellpadding="3" color="#999999">'
        f"{''.join(rows)}</table>"
    )


# ----- edges ----------------------------------------------------------------------------------
def _magnitude(grad: np.ndarray | None) -> float | None:
    if grad is None:
        return None
    grad = np.asarray(grad)
    if grad.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        return float(np.mean(np.abs(grad)))


def _edge_style(size: float | None, largest: float) -> dict[str, str]:
    """Width and colour for a gradient of mean absolute value ``size`` (``largest``: the largest
    in the graph)."""
    if size is None:
        return {}
    if not math.isfinite(size):
        return {
            "color": COLOURS["nonfinite"],
            "penwidth": "3",
            "label": "nan/inf",
            "fontcolor": COLOURS["nonfinite"],
            "tooltip": "the gradient here is not finite",
        }
    if size == 0:
        return {"color": "#aaaaaa", "style": "dashed", "tooltip": "zero gradient"}
    # how many times 10x smaller than the largest
    decades = math.log10(largest / size) if largest > 0 else 0.0
    level = 5 - sum(decades >= threshold for threshold in (0.5, 1, 2, 3, 4))
    return {
        "color": GRADIENT_SCALE[level],
        "penwidth": f"{0.8 + 0.55 * level:.2f}",
        "tooltip": f"mean |gradient| = {size:.3g}",
    }


# ----- the public function ----------------------------------------------------------------------
def draw_graph(
    tensor: Tensor,
    show_data: bool = True,
    show_grad: bool = True,
    rankdir: str = "LR",
    names: Names = None,
    max_nodes: int = 200,
) -> GraphPicture:
    """A picture of the graph that computed ``tensor``, as a ``graphviz.Digraph``.

    Parameters
    ----------
    tensor: the output (usually the loss).
    show_data: write each tensor's values (min / mean / max when it has many).
    show_grad: after ``backward()``, write each tensor's gradient and draw each edge as
        wide and dark as the gradient flowing along it. Gradients of intermediate tensors
        are recomputed by replaying the backward pass (``trace_backward``), which needs
        the graph: call ``backward(retain_graph=True)`` to see them all.
    rankdir: ``"LR"`` (inputs on the left) or ``"TB"`` (inputs on top), as in Graphviz.
    names: names for tensors: a dict name -> Tensor such as ``locals()`` or
        ``dict(model.named_parameters())`` (other values are ignored), or a Module.
        Tensors created with ``name=`` are named too. Dotted parameter names
        (``fc1.weight``) group their module's nodes in a frame.
    max_nodes: larger graphs are summarised: module groups, long chains and finally the
        nodes farthest from the output are folded into boxes saying what they hold.

    In Jupyter the result displays as SVG; ``.render("graph", format="png")`` writes a file.

    >>> x = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="logits")
    >>> picture = draw_graph(x.log_softmax()[0])
    """
    return _draw(
        tensor,
        show_data=show_data,
        show_grad=show_grad,
        rankdir=rankdir,
        names=names,
        max_nodes=max_nodes,
    )


def _draw(
    tensor: Tensor,
    *,
    show_data: bool = True,
    show_grad: bool = True,
    rankdir: str = "LR",
    names: Names = None,
    max_nodes: int = 200,
    gradients: Gradients | None = None,
    trace: BackwardTrace | None = None,
    highlight: Tensor | None = None,
    caption: list[str] | None = None,
    scale: Gradients | None = None,
) -> GraphPicture:
    """``draw_graph`` with the gradients given (for the frames of ``draw_backward_steps``).

    ``highlight`` marks one tensor and its op, ``caption`` (HTML lines) goes on top, and edge
    colours are relative to the largest gradient in ``scale`` (default: in ``gradients``).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    if not isinstance(max_nodes, int) or max_nodes < 3:
        raise ValueError(f"draw_graph: max_nodes must be an int >= 3, got {max_nodes!r}")
    tensors = forward_order(tensor)
    all_names, named = tensor_names(tensors, names)
    if show_grad and gradients is None:
        gradients, trace = _gradients_after_backward(tensor, tensors)
    if not show_grad:
        gradients = None

    layout = Layout(tensor, tensors, all_names, named)
    layout.assign_modules()
    layout.summarise(max_nodes)

    saved = _saved_tensor_ids(tensors)
    graph = GraphPicture(name="tinygrad_sm", format="svg")
    graph.attr(
        rankdir=rankdir,
        fontname=FONT,
        fontsize="11",
        nodesep="0.25",
        ranksep="0.4",
        bgcolor="white",
    )
    graph.attr(
        "node",
        fontname=FONT,
        fontsize="11",
        shape="box",
        style="filled",
        color="#444444",
        margin="0.08,0.04",
    )
    graph.attr("edge", fontname=FONT, fontsize="9", color="#666666", arrowsize="0.7")

    grads_of = gradients.tensors if gradients is not None else {}
    _emit_nodes(graph, layout, show_data, grads_of, gradients, highlight, saved)

    edge_sizes: dict[int, float] = {}
    if gradients is not None:
        for edge in layout.edges:
            known = [gradients.edges[key] for key in edge.keys if key in gradients.edges]
            sizes = [_magnitude(grad) for grad in known]
            if sizes:
                edge_sizes[id(edge)] = max(sizes, key=lambda s: s if math.isfinite(s) else math.inf)
    finite = [s for s in edge_sizes.values() if math.isfinite(s)]
    if scale is not None:
        finite = [
            s for s in map(_magnitude, scale.edges.values()) if s is not None and math.isfinite(s)
        ]
    largest = max(finite) if finite else 0.0
    highlighted_keys = set()
    if highlight is not None and highlight._node is not None:
        inputs = range(len(highlight._node.inputs))
        highlighted_keys = {("out", id(highlight))} | {("in", id(highlight), i) for i in inputs}
    by_id = {id(t): t for t in tensors}
    for edge in layout.edges:
        style = _edge_style(edge_sizes.get(id(edge)), largest)
        if highlighted_keys.intersection(edge.keys) and id(edge) in edge_sizes:
            style["arrowsize"] = "1.0"
        label = _input_label(edge, by_id)
        if label:
            style["label"] = label
        graph.edge(edge.source, edge.target, **style)

    # 12 pt: at 13-14 pt the renderer's hinting draws "=" and "−" twice as thick as the letters
    lines = [f'<font point-size="12">{line}</font>' for line in caption or ()]
    tensor_count = len(tensors)
    op_count = sum(1 for t in tensors if t._node is not None)
    summary = f"{tensor_count:,} tensors, {op_count:,} ops"
    if layout.folded:
        boxes = layout.box_count
        summary += (
            f" — {layout.folded:,} of {layout.total:,} nodes are folded into {boxes} "
            f"grey box{'es' if boxes != 1 else ''} to stay under max_nodes={max_nodes}"
        )
    lines.append(_escape(summary))
    if gradients is not None and gradients.note:
        lines.append(f'<font color="{COLOURS["grad"]}">{_escape(gradients.note)}</font>')
    rows = "".join(f'<tr><td align="left">{line}</td></tr>' for line in lines)
    has_grads = gradients is not None and (bool(gradients.edges) or scale is not None)
    legend = f'<tr><td align="left">{_legend(show_grad, has_grads)}</td></tr>'
    graph.attr(
        label=f'<<table border="0" cellspacing="2">{rows}{legend}</table>>',
        labelloc="t" if caption else "b",
        labeljust="l",
    )
    graph.trace = trace
    graph.folded = layout.folded
    return graph


def _saved_tensor_ids(tensors: list[Tensor]) -> set[int]:
    """Ids of tensors whose values an op keeps for its backward (``save_for_backward``)."""
    by_data: dict[int, list[Tensor]] = {}
    for tensor in tensors:
        by_data.setdefault(id(tensor.data), []).append(tensor)
    saved: set[int] = set()
    for tensor in tensors:
        ctx = tensor._node
        if ctx is None or ctx._saved is None:
            continue
        candidates = {id(p) for p in ctx.inputs if p is not None} | {id(tensor)}
        for value in ctx._saved:
            for owner in by_data.get(id(value), ()):
                if id(owner) in candidates:
                    saved.add(id(owner))
    return saved


def _emit_nodes(
    graph: GraphPicture,
    layout: Layout,
    show_data: bool,
    grads_of: dict[int, np.ndarray],
    gradients: Gradients | None,
    highlight: Tensor | None,
    saved: set[int],
) -> None:
    root, names, named = layout.root, layout.names, layout.named
    for node in layout.nodes.values():
        attributes: dict[str, str] = {}
        if node.kind == "tensor":
            tensor = node.tensor
            kind = _tensor_kind(tensor, root)
            label = _tensor_label(
                tensor,
                names[id(tensor)],
                id(tensor) in named,
                kind,
                id(tensor) in saved,
                show_data,
                grads_of.get(id(tensor)),
            )
            attributes = {"fillcolor": COLOURS[kind]}
            if id(tensor) in saved:
                attributes["peripheries"] = "2"
            if kind == "output":
                attributes["penwidth"] = "2"
            if tensor is highlight:
                attributes.update(color=COLOURS["highlight"], penwidth="3")
        elif node.kind == "op":
            label = _op_label(node.tensor._node)
            attributes = {"fillcolor": COLOURS["op"], "style": "rounded,filled"}
            if node.tensor is highlight:
                attributes.update(color=COLOURS["highlight"], penwidth="3", fillcolor="#fff3b0")
        else:
            label = _box_label(node, names, named, gradients)
            attributes = {
                "fillcolor": COLOURS["box"],
                "style": "rounded,dashed,filled",
                "color": "#777777",
            }
        computed = node.kind != "box" and node.tensor._node is not None
        if computed and id(node.tensor) not in layout.from_parameters:
            # keeps the data path on one straight line; parameters hang beside it
            attributes["group"] = "data"
        graph.node(node.key, label=label, **attributes)
