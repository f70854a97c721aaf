"""Which nodes a picture shows: the graph as boxes and arrows, and the folding that keeps a large
one under ``max_nodes``.

A ``Layout`` holds one node per tensor (key ``t<i>``) and one per op (key ``o<i>``, the op that
made tensor ``i``), numbered in forward order, and an edge for each input of an op and from each
op to its output. When there are too many, ``summarise`` folds them into grey boxes (key
``box<n>``), in this order until the picture is small enough: the nodes of each module (the prefix
of dotted parameter names: ``fc1.weight`` → ``fc1``), the middle of every long chain, and finally
the nodes farthest from the output. Nothing is dropped: a box keeps its members, so its label can
say what it holds. How the nodes look is ``draw.py``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..tensor import Tensor

CHAIN_KEEP = 2  # ops kept visible at each end of a folded chain


@dataclass
class Node:
    """A box of the picture: a tensor, the op that made a tensor, or a fold of other nodes."""

    key: str
    kind: str  # "tensor", "op" or "box"
    order: int  # forward position (an op 2i, its tensor 2i + 1): folding keeps this order
    tensor: Tensor | None = None  # for "tensor" (the tensor) and "op" (its output)
    module: str | None = None  # the module (parameter-name prefix) the node belongs to, if any
    label: str = ""  # for "box": the module's name, "" for a chain, or "further from the output"
    members: list[Node] = field(default_factory=list)  # for "box": the tensor and op nodes inside

    @property
    def last(self) -> int:
        """The forward position of the node's last member: sorting by it respects the data flow."""
        return max(m.order for m in self.members) if self.kind == "box" else self.order


@dataclass
class Edge:
    """An arrow from node ``source`` to node ``target`` (their keys), in the forward direction.

    ``keys`` name the gradients that flow back along it: ``("in", id(t), i)`` for input ``i`` of
    ``t``'s op, ``("out", id(t))`` for the op to ``t``; an edge into or out of a box carries all
    the edges it stands for.
    """

    source: str
    target: str
    keys: list[tuple]


class Layout:
    """The nodes and edges to draw, and the folding that keeps them under ``max_nodes``.

    ``tensors`` is the graph behind ``root`` in forward order (``graph.forward_order``),
    ``names`` maps every tensor id to its name and ``named`` holds the ids the user named
    (a named tensor is never folded into a chain).
    """

    def __init__(self, root: Tensor, tensors: list[Tensor], names: dict[int, str], named: set[int]):
        self.root, self.names, self.named = root, names, named
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.total = 0
        self.next_box = 0  # numbers the box keys
        index = {id(t): i for i, t in enumerate(tensors)}
        for i, tensor in enumerate(tensors):
            if tensor._node is not None:
                op = f"o{i}"
                self.nodes[op] = Node(op, "op", 2 * i, tensor)
                for position, parent in enumerate(tensor._node.inputs):
                    if parent is not None:
                        key = ("in", id(tensor), position)
                        self.edges.append(Edge(f"t{index[id(parent)]}", op, [key]))
                self.edges.append(Edge(op, f"t{i}", [("out", id(tensor))]))
            self.nodes[f"t{i}"] = Node(f"t{i}", "tensor", 2 * i + 1, tensor)
        self.total = len(self.nodes)
        # parameters and what is computed from them alone (W.T): drawn beside the data path,
        # not on it
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
        # tensor id -> prefix, for parameters and values computed from them alone
        pure: dict[int, str] = {}
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
            computed = node.kind == "tensor" and node.tensor._node is not None
            if computed and node.key not in used_inside:
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
            self.nodes[key] = Node(key, "box", order, label=label, members=flat)
            for m in members:
                where[m] = key
        merged: dict[tuple[str, str], Edge] = {}
        edges: list[Edge] = []
        for edge in self.edges:
            source = where.get(edge.source, edge.source)
            target = where.get(edge.target, edge.target)
            if source == target:
                continue
            if source.startswith("box") or target.startswith("box"):
                if (source, target) in merged:
                    merged[(source, target)].keys.extend(edge.keys)
                    continue
                merged[(source, target)] = new = Edge(source, target, list(edge.keys))
                edges.append(new)
            else:
                edges.append(Edge(source, target, edge.keys))
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
        out_edges: dict[str, list[Edge]] = {}
        in_edges: dict[str, list[Edge]] = {}
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
        root_key = next(
            k for k, n in self.nodes.items() if n.kind == "tensor" and n.tensor is self.root
        )
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
        """Fold module groups, then long chains, then the nodes farthest from the output, until
        at most ``max_nodes`` are left."""
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
