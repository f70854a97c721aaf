"""draw_graph: a picture of the graph behind a tensor, before or after backward.

Tensors are boxes (name, shape, dtype, values, grad); ops are rounded boxes
(name and backward rule, taken from the op class). After ``backward()`` every
edge is drawn as thick and dark as the gradient that flows back along it, so
one sees where the gradient goes and where it vanishes. Graphs larger than
``max_nodes`` are summarised: module groups and long chains are folded into
boxes that say what they hold, never dropped silently.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .graph import Names, forward_order, op_name, rule_label, tensor_names
from .render import GraphPicture
from .trace import BackwardTrace, format_values, trace_backward

FONT = "Helvetica"  # both renderers know its metrics; dot's font fallback and SVG viewers supply ⊙ etc.
MONO = "Courier"

COLOURS = {
    "input": "#e6e6e6",         # a leaf that needs no gradient (data, targets)
    "parameter": "#d5ecc8",     # a leaf with requires_grad: gets .grad
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
CHAIN_KEEP = 2  # ops kept visible at each end of a folded chain


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


def _gradients_after_backward(root: Tensor, tensors: list[Tensor]) -> tuple[Gradients | None, BackwardTrace | None]:
    """Gradients for a picture drawn after ``backward()``, or None before it.

    The engine keeps only the leaves' ``.grad``; the others are recomputed by
    replaying the backward pass (``trace_backward``) while the graph still holds
    its saved values.
    """
    stored = {id(t): t.grad.data for t in tensors if isinstance(t.grad, Tensor)}
    if not stored:
        return None, None
    if root.requires_grad and root._node is not None and not any(t._node is not None and t._node.freed for t in tensors):
        seed = None if root.size == 1 else (root.grad.data if isinstance(root.grad, Tensor) else None)
        if root.size == 1 or seed is not None:
            trace = trace_backward(root, seed)
            known = Gradients.from_trace(trace)
            known.tensors.update(stored)  # what the user sees in .grad (it may hold several backward passes)
            return known, trace
    known = Gradients(tensors=dict(stored))
    consumers = Counter(id(p) for t in tensors if t._node is not None for p in t._node.inputs if p is not None)
    for tensor in tensors:
        if id(tensor) in stored:
            known.edges[("out", id(tensor))] = stored[id(tensor)]
        if tensor._node is not None:
            for position, parent in enumerate(tensor._node.inputs):
                if parent is not None and id(parent) in stored and consumers[id(parent)] == 1:
                    known.edges[("in", id(tensor), position)] = stored[id(parent)]
    if any(t._node is not None for t in tensors):
        known.note = ("backward() freed the graph, so only the leaves' .grad is known; "
                      "call backward(retain_graph=True) to see every gradient")
    return known, None


# ----- the graph as drawn: nodes, edges, folding ---------------------------------------------
@dataclass
class _Node:
    key: str
    kind: str  # "tensor", "op" or "box"
    order: int  # forward position: folding keeps this order
    tensor: Tensor | None = None  # for "tensor" (the tensor) and "op" (its output)
    module: str | None = None  # the module (parameter-name prefix) the node belongs to, if any
    label: str = ""  # for "box"
    members: list[_Node] = field(default_factory=list)

    @property
    def last(self) -> int:
        """The forward position of the node's last member: sorting by it respects the data flow."""
        return max(m.order for m in self.members) if self.kind == "box" else self.order


@dataclass
class _Edge:
    source: str
    target: str
    keys: list[tuple]


class _Picture:
    """The nodes and edges to draw, and the folding that keeps them under ``max_nodes``."""

    def __init__(self, root: Tensor, tensors: list[Tensor], names: dict[int, str], named: set[int]):
        self.root, self.names, self.named = root, names, named
        self.nodes: dict[str, _Node] = {}
        self.edges: list[_Edge] = []
        self.total = 0
        self.next_box = 0  # numbers the box keys
        index = {id(t): i for i, t in enumerate(tensors)}
        for i, tensor in enumerate(tensors):
            if tensor._node is not None:
                op = f"o{i}"
                self.nodes[op] = _Node(op, "op", 2 * i, tensor)
                for position, parent in enumerate(tensor._node.inputs):
                    if parent is not None:
                        self.edges.append(_Edge(f"t{index[id(parent)]}", op, [("in", id(tensor), position)]))
                self.edges.append(_Edge(op, f"t{i}", [("out", id(tensor))]))
            self.nodes[f"t{i}"] = _Node(f"t{i}", "tensor", 2 * i + 1, tensor)
        self.total = len(self.nodes)
        # parameters and what is computed from them alone (W.T): drawn beside the data path, not on it
        self.from_parameters: set[int] = set()
        for tensor in tensors:
            if tensor._node is None:
                if tensor.requires_grad:
                    self.from_parameters.add(id(tensor))
            elif all(id(p) in self.from_parameters for p in tensor._node.inputs if p is not None):
                self.from_parameters.add(id(tensor))

    # --- grouping by module: parameter names' prefixes (fc1.weight -> fc1) ---
    def assign_modules(self) -> None:
        """Put each named parameter, what is computed from it alone (W.T), and the ops that use
        them in the module of the parameter name's prefix (folded into one box when summarising)."""
        pure: dict[int, str] = {}  # tensor id -> prefix, for parameters and values computed from them alone
        for node in self.nodes.values():
            tensor = node.tensor
            if node.kind != "tensor" or tensor._node is not None or id(tensor) not in self.named:
                continue
            name = self.names[id(tensor)]
            if tensor.requires_grad and "." in name:
                pure[id(tensor)] = name.rsplit(".", 1)[0]
                node.module = pure[id(tensor)]
        if not pure:
            return
        for node in sorted(self.nodes.values(), key=lambda n: n.order):
            if node.kind != "op":
                continue
            parents = [p for p in node.tensor._node.inputs if p is not None]
            prefixes = [pure[id(p)] for p in parents if id(p) in pure]
            if not prefixes:
                continue
            node.module = prefixes[0]
            self.nodes[f"t{node.key[1:]}"].module = prefixes[0]
            if len(prefixes) == len(parents) and len(set(prefixes)) == 1:
                pure[id(node.tensor)] = prefixes[0]
        # a module's result stays outside its box, so the picture shows what flows between layers
        used_inside: set[str] = set()
        for edge in self.edges:
            source, target = self.nodes[edge.source], self.nodes[edge.target]
            if source.module is not None and source.module == target.module:
                used_inside.add(edge.source)
        for node in self.nodes.values():
            if node.kind == "tensor" and node.tensor._node is not None and node.key not in used_inside:
                node.module = None

    # --- folding ---
    def fold(self, groups: list[tuple[list[str], str]]) -> None:
        """Replace each group of node keys by one box node with the given label."""
        where: dict[str, str] = {}
        for members, label in groups:
            key = f"box{self.next_box}"
            self.next_box += 1
            nodes = [self.nodes.pop(m) for m in members]
            order = min(n.order for n in nodes)
            flat = [leaf for n in nodes for leaf in (n.members if n.kind == "box" else [n])]
            self.nodes[key] = _Node(key, "box", order, label=label, members=flat)
            for m in members:
                where[m] = key
        merged: dict[tuple[str, str], _Edge] = {}
        edges: list[_Edge] = []
        for edge in self.edges:
            source, target = where.get(edge.source, edge.source), where.get(edge.target, edge.target)
            if source == target:
                continue
            if source.startswith("box") or target.startswith("box"):
                if (source, target) in merged:
                    merged[(source, target)].keys.extend(edge.keys)
                    continue
                merged[(source, target)] = new = _Edge(source, target, list(edge.keys))
                edges.append(new)
            else:
                edges.append(_Edge(source, target, edge.keys))
        self.edges = edges
        self.nodes = dict(sorted(self.nodes.items(), key=lambda item: item[1].order))

    def fold_modules(self) -> None:
        groups: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.module is not None:
                groups.setdefault(node.module, []).append(node.key)
        self.fold([(members, prefix) for prefix, members in groups.items() if len(members) > 1])

    def fold_chains(self) -> None:
        """Fold the middle of every long chain of ops (or module boxes) linked by unnamed single-use
        intermediate tensors, keeping a few links visible at each end."""
        out_edges: dict[str, list[_Edge]] = {}
        in_edges: dict[str, list[_Edge]] = {}
        for edge in self.edges:
            out_edges.setdefault(edge.source, []).append(edge)
            in_edges.setdefault(edge.target, []).append(edge)
        parent = {key: key for key, node in self.nodes.items() if node.kind in ("op", "box")}

        def find(key: str) -> str:
            while parent[key] != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        produced_by: dict[str, str] = {}
        for key, node in self.nodes.items():
            if node.kind != "tensor" or node.tensor._node is None or node.tensor is self.root:
                continue
            if id(node.tensor) in self.named:
                continue
            outs, ins = out_edges.get(key, []), in_edges.get(key, [])
            if len(outs) != 1 or len(ins) != 1:
                continue
            producer, consumer = ins[0].source, outs[0].target
            if producer in parent and consumer in parent:
                parent[find(producer)] = find(consumer)
                produced_by[producer] = key
        chains: dict[str, list[str]] = {}
        for key in sorted(parent, key=lambda k: self.nodes[k].last):
            chains.setdefault(find(key), []).append(key)
        groups = []
        for ops in chains.values():
            middle = ops[CHAIN_KEEP:-CHAIN_KEEP]
            if len(middle) < 3:
                continue
            members = [m for op in middle for m in (op, produced_by[op])]
            groups.append((members, ""))
        self.fold(groups)

    def fold_far_nodes(self, max_nodes: int) -> None:
        """Keep the ``max_nodes - 1`` nodes nearest the output; fold all the others into one box."""
        inputs_of: dict[str, list[str]] = {}
        for edge in self.edges:
            inputs_of.setdefault(edge.target, []).append(edge.source)
        # the output is never folded: no module holds it and chains stop before it
        root_key = next(k for k, n in self.nodes.items() if n.kind == "tensor" and n.tensor is self.root)
        kept = {root_key: None}
        frontier = [root_key]
        while frontier and len(kept) < max_nodes - 1:
            next_frontier = []
            for key in frontier:
                for source in inputs_of.get(key, []):
                    if source not in kept and len(kept) < max_nodes - 1:
                        kept[source] = None
                        next_frontier.append(source)
            frontier = next_frontier
        rest = [key for key in self.nodes if key not in kept]
        if len(rest) > 1:
            self.fold([(rest, "further from the output")])

    def summarise(self, max_nodes: int) -> None:
        """Fold module groups, then long chains, then the nodes farthest from the output, until small enough."""
        if len(self.nodes) <= max_nodes:
            return
        self.fold_modules()
        if len(self.nodes) > max_nodes:
            self.fold_chains()
        if len(self.nodes) > max_nodes:
            self.fold_far_nodes(max_nodes)

    @property
    def folded(self) -> int:
        """How many original nodes are inside boxes."""
        return sum(len(n.members) for n in self.nodes.values() if n.kind == "box")

    @property
    def box_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.kind == "box")


# ----- labels ---------------------------------------------------------------------------------
def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _values_html(values: np.ndarray, colour: str | None = None, prefix: str = "") -> str:
    """Values as picture text: all of them when few (a matrix row per line), else min / mean / max."""
    values = np.asarray(values)
    if values.ndim == 2 and 1 < values.shape[0] <= 4 and values.size <= 12:
        cells = [[format_values(v) for v in row] for row in values]
        widths = [max(len(row[j]) for row in cells) for j in range(values.shape[1])]
        rows = ["[" + ", ".join(cell.rjust(width) for cell, width in zip(row, widths)) + "]" for row in cells]
        indent = " " * (len(prefix) + 1)
        lines = [f"{prefix}[{rows[0]}", *(indent + row for row in rows[1:])]
        lines[-1] += "]"
        text = '<br align="left"/>'.join(_escape(line).replace(" ", "&#160;") for line in lines)
    elif values.size <= 6:
        text = _escape(prefix + format_values(values))
    else:
        with np.errstate(all="ignore"):
            low, mean, high = np.min(values), np.mean(values), np.max(values)
            # a mean that is float round-off next to the values' size (a sum of grads that cancel) reads as ≈0
            tiny = bool(abs(mean) < 1e-6 * max(abs(low), abs(high)))
        summary = f"min {format_values(low)}  mean {'≈0' if tiny else format_values(mean)}  max {format_values(high)}"
        text = _escape(prefix + summary)
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


def _tensor_label(tensor: Tensor, name: str, named: bool, kind: str, saved: bool,
                  show_data: bool, grad: np.ndarray | None) -> str:
    title = f"<b>{_escape(name)}</b>" if named else f'<font color="#777777">{_escape(name)}</font>'
    words = [w for w in (KIND_WORDS[kind], "saved" if saved else "") if w]
    tag = f'  <font point-size="9" color="#555555">{" · ".join(words)}</font>' if words else ""
    shape = "scalar" if tensor.ndim == 0 else str(tuple(tensor.shape))
    rows = [title + tag, f'<font point-size="9" color="#555555">{_escape(shape)} {tensor.dtype}</font>']
    if show_data:
        rows.append(_values_html(tensor.data))
    if grad is not None:
        rows.append(_values_html(grad, COLOURS["grad"], "grad "))
    return _table(rows)


def _op_label(node: Function) -> str:
    rows = [f"<b>{_escape(op_name(node))}</b>"]
    rule = rule_label(node)
    if rule:
        rows.append(f'<font point-size="10">{_escape(rule)}</font>')
    return _table(rows)


def _box_label(box: _Node, names: dict[int, str], named: set[int], gradients: Gradients | None) -> str:
    ops = Counter(op_name(n.tensor._node) for n in box.members if n.kind == "op")
    tensors = [n.tensor for n in box.members if n.kind == "tensor"]
    title = f"module {box.label}" if box.label and box.label != "further from the output" else "⋯ folded"
    rows = [f"<b>{_escape(title)}</b>: {len(box.members):,} nodes"]
    if box.label == "further from the output":
        rows.append(_escape("(the nodes farthest from the output)"))
    if ops:
        listed = ", ".join(f"{name} ×{count:,}" for name, count in ops.most_common(4))
        rows.append(_escape(f"ops: {listed}" + (", …" if len(ops) > 4 else "")))
    params = [names[id(t)] for t in tensors if id(t) in named]
    if params:
        rows.append(_escape("tensors: " + ", ".join(params[:4]) + (f", … (+{len(params) - 4})" if len(params) > 4 else "")))
    shapes = Counter(str(tuple(t.shape)) for t in tensors)
    if shapes:
        listed = ", ".join(shape for shape, _ in shapes.most_common(3))
        rows.append(f'<font point-size="9" color="#555555">{_escape("shapes " + listed)}</font>')
    if gradients is not None:
        sizes = [_magnitude(gradients.tensors[id(t)]) for t in tensors if id(t) in gradients.tensors]
        sizes = [s for s in sizes if s is not None and math.isfinite(s)]
        if sizes:
            low, high = format_values(np.float64(min(sizes))), format_values(np.float64(max(sizes)))
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
    rows = [f'<tr>{"".join(cells)}</tr>']
    notes = ["g: the gradient arriving at the op's output · a, b: its inputs · z: its output · "
             "arrows point forward; gradients flow back against them"]
    if show_grad and has_grads:
        scale = "".join(f'<font color="{c}">■</font>' for c in GRADIENT_SCALE)
        notes.append(f"edge width and colour: mean |gradient| on a log scale, pale {scale} dark = largest; "
                     "dashed grey: exactly zero")
    for note in notes:
        text = note if note.startswith("edge") else _escape(note)
        rows.append(f'<tr><td colspan="{len(cells)}" align="left"><font point-size="9">{text}</font></td></tr>')
    return f'<table border="0" cellborder="1" cellspacing="2" cellpadding="3" color="#999999">{"".join(rows)}</table>'


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
    """Width and colour for a gradient of mean absolute value ``size`` (largest in the graph: ``largest``)."""
    if size is None:
        return {}
    if not math.isfinite(size):
        return {"color": COLOURS["nonfinite"], "penwidth": "3", "label": "nan/inf", "fontcolor": COLOURS["nonfinite"],
                "tooltip": "the gradient here is not finite"}
    if size == 0:
        return {"color": "#aaaaaa", "style": "dashed", "tooltip": "zero gradient"}
    decades = math.log10(largest / size) if largest > 0 else 0.0  # how many times 10x smaller than the largest
    level = 5 - sum(decades >= threshold for threshold in (0.5, 1, 2, 3, 4))
    return {"color": GRADIENT_SCALE[level], "penwidth": f"{0.8 + 0.55 * level:.2f}",
            "tooltip": f"mean |gradient| = {size:.3g}"}


# ----- the public function ----------------------------------------------------------------------
def draw_graph(tensor: Tensor, show_data: bool = True, show_grad: bool = True, rankdir: str = "LR",
               names: Names = None, max_nodes: int = 200) -> GraphPicture:
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
    >>> picture = draw_graph(x.softmax().log()[0])
    """
    return _draw(tensor, show_data=show_data, show_grad=show_grad, rankdir=rankdir, names=names, max_nodes=max_nodes)


def _draw(tensor: Tensor, *, show_data: bool = True, show_grad: bool = True, rankdir: str = "LR",
          names: Names = None, max_nodes: int = 200, gradients: Gradients | None = None, trace: BackwardTrace | None = None,
          highlight: Tensor | None = None, caption: list[str] | None = None, scale: Gradients | None = None) -> GraphPicture:
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

    picture = _Picture(tensor, tensors, all_names, named)
    picture.assign_modules()
    picture.summarise(max_nodes)

    saved = _saved_tensor_ids(tensors)
    graph = GraphPicture(name="tinygrad_sm", format="svg")
    graph.attr(rankdir=rankdir, fontname=FONT, fontsize="11", nodesep="0.25", ranksep="0.4", bgcolor="white")
    graph.attr("node", fontname=FONT, fontsize="11", shape="box", style="filled", color="#444444", margin="0.08,0.04")
    graph.attr("edge", fontname=FONT, fontsize="9", color="#666666", arrowsize="0.7")

    grads_of = gradients.tensors if gradients is not None else {}
    _emit_nodes(graph, picture, show_data, grads_of, gradients, highlight, saved)

    edge_sizes: dict[int, float] = {}
    if gradients is not None:
        for edge in picture.edges:
            sizes = [_magnitude(gradients.edges.get(key)) for key in edge.keys if key in gradients.edges]
            if sizes:
                edge_sizes[id(edge)] = max(sizes, key=lambda s: s if math.isfinite(s) else math.inf)
    finite = [s for s in edge_sizes.values() if math.isfinite(s)]
    if scale is not None:
        finite = [s for s in map(_magnitude, scale.edges.values()) if s is not None and math.isfinite(s)]
    largest = max(finite) if finite else 0.0
    highlighted_keys = set()
    if highlight is not None and highlight._node is not None:
        highlighted_keys = {("out", id(highlight))} | {("in", id(highlight), i) for i in range(len(highlight._node.inputs))}
    for edge in picture.edges:
        style = _edge_style(edge_sizes.get(id(edge)), largest)
        if highlighted_keys.intersection(edge.keys) and id(edge) in edge_sizes:
            style["arrowsize"] = "1.0"
        graph.edge(edge.source, edge.target, **style)

    # 12 pt: at 13-14 pt the renderer's hinting draws "=" and "−" twice as thick as the letters
    lines = [f'<font point-size="12">{line}</font>' for line in caption or ()]
    tensor_count = len(tensors)
    op_count = sum(1 for t in tensors if t._node is not None)
    summary = f"{tensor_count:,} tensors, {op_count:,} ops"
    if picture.folded:
        boxes = picture.box_count
        summary += (f" — {picture.folded:,} of {picture.total:,} nodes are folded into {boxes} "
                    f"grey box{'es' if boxes != 1 else ''} to stay under max_nodes={max_nodes}")
    lines.append(_escape(summary))
    if gradients is not None and gradients.note:
        lines.append(f'<font color="{COLOURS["grad"]}">{_escape(gradients.note)}</font>')
    rows = "".join(f'<tr><td align="left">{line}</td></tr>' for line in lines)
    legend = _legend(show_grad, gradients is not None and (bool(gradients.edges) or scale is not None))
    graph.attr(label=f'<<table border="0" cellspacing="2">{rows}<tr><td align="left">{legend}</td></tr></table>>',
               labelloc="t" if caption else "b", labeljust="l")
    graph.trace = trace
    graph.folded = picture.folded
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


def _emit_nodes(graph: GraphPicture, picture: _Picture, show_data: bool, grads_of: dict[int, np.ndarray],
                gradients: Gradients | None, highlight: Tensor | None, saved: set[int]) -> None:
    root, names, named = picture.root, picture.names, picture.named
    for node in picture.nodes.values():
        attributes: dict[str, str] = {}
        if node.kind == "tensor":
            tensor = node.tensor
            kind = _tensor_kind(tensor, root)
            label = _tensor_label(tensor, names[id(tensor)], id(tensor) in named, kind, id(tensor) in saved,
                                  show_data, grads_of.get(id(tensor)))
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
            attributes = {"fillcolor": COLOURS["box"], "style": "rounded,dashed,filled", "color": "#777777"}
        if node.kind != "box" and node.tensor._node is not None and id(node.tensor) not in picture.from_parameters:
            attributes["group"] = "data"  # keeps the data path on one straight line; parameters hang beside it
        graph.node(node.key, label=label, **attributes)
