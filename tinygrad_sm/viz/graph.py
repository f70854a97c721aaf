"""The graph behind a tensor as the pictures and the trace see it: its tensors,
their names, and each op's name and backward rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..function import Function
from ..tensor import Tensor

#: what ``names=`` accepts: a dict name -> Tensor (``locals()``,
#: ``dict(model.named_parameters())``), pairs ``(name, Tensor)``, or an object with
#: ``named_parameters()`` (a Module)
Names = Mapping[str, Any] | Iterable[tuple[str, Any]] | Any | None


def forward_order(root: Tensor) -> list[Tensor]:
    """Every tensor of the graph behind ``root``, each after its inputs, constants included.

    Not the engine's walk (``autograd.topological_order``), which visits only tensors that
    require grad: a picture also draws the inputs and targets that need no gradient, and the
    names ``t0, t1, ...`` of ``tensor_names`` count them, so ``draw_graph`` and
    ``trace_backward`` walk with this one (inputs in the order the ops take them). Iterative
    depth-first search, so a 10,000-op chain is no problem.
    """
    order: list[Tensor] = []
    visited: set[int] = {id(root)}
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:
        tensor, next_parent = stack.pop()
        parents = tensor._node.inputs if tensor._node is not None else ()
        while next_parent < len(parents):
            parent = parents[next_parent]
            next_parent += 1
            if parent is not None and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((tensor, next_parent))
                stack.append((parent, 0))
                break
        else:
            order.append(tensor)
    return order


def op_name(node: Function) -> str:
    """The registered name of a node's op (its class name for unregistered ops)."""
    cls = type(node)
    return cls.name or cls.__name__


def op_rule(node: Function) -> str:
    """The backward rule in words: the op class's ``rule``, else its docstring's first line."""
    cls = type(node)
    rule = getattr(cls, "rule", None)
    if isinstance(rule, str) and rule:
        return rule
    doc = cls.__doc__ or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def rule_label(node: Function) -> str:
    """The rule as the picture writes it: ``∂ = p ⊙ (g − Σ g·p)``."""
    rule = op_rule(node)
    if not rule or rule.startswith("∂") or not hasattr(type(node), "rule"):
        return rule
    return f"∂ = {rule}"


def given_names(names: Names) -> dict[int, str]:
    """Tensor id -> name from ``names=``; values that are not Tensors are ignored (as in
    ``locals()``)."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters") and callable(names.named_parameters):
        names = names.named_parameters()
    pairs = names.items() if isinstance(names, Mapping) else names
    result: dict[int, str] = {}
    fallback: dict[int, str] = {}
    for name, value in pairs:
        if not isinstance(value, Tensor):
            continue
        # in locals() of a notebook, `_`, `_3`, `__` are IPython's history: use them only if
        # nothing better
        target = fallback if str(name).startswith("_") else result
        target.setdefault(id(value), str(name))
    for key, name in fallback.items():
        result.setdefault(key, name)
    return result


def tensor_names(tensors: list[Tensor], names: Names) -> tuple[dict[int, str], set[int]]:
    """A name for every tensor: from ``names=``, else ``tensor.name``, else ``t0, t1, ...`` in
    forward order.

    Returns the names and the ids of tensors that were named by the user.
    """
    given = given_names(names)
    result: dict[int, str] = {}
    named: set[int] = set()
    counter = 0
    for tensor in tensors:
        name = given.get(id(tensor)) or getattr(tensor, "name", None)
        if name:
            result[id(tensor)] = str(name)
            named.add(id(tensor))
        else:
            result[id(tensor)] = f"t{counter}"
            counter += 1
    return result, named
