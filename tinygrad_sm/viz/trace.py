"""Backprop, one step at a time: replay the engine's backward pass and record each step.

``trace_backward(loss)`` runs the engine itself (``tinygrad_sm.grad`` with
``retain_graph=True``) and records every node it processes through the
engine's observer (``grad_mode.hooks.observer``, which ``detect_anomaly()``
uses too), so the steps are exactly those of ``loss.backward()``: same order,
same rules, same gradients. The seed and the gradients handed to each input
come from the engine's own ``seed_gradient`` and ``fit_gradient_to_input``.
It touches nothing: no ``.grad`` is written and no saved value is freed, so
``backward()`` can still run afterwards.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from ..autograd import fit_gradient_to_input, seed_gradient, topological_order
from ..autograd import grad as engine_grad
from ..function import Function
from ..grad_mode import hooks
from ..tensor import Tensor
from .graph import Names, forward_order, op_name, op_rule, tensor_names
from .text import fit, format_values


@dataclass(frozen=True)
class BackwardStep:
    """One step of the backward pass: the gradient of ``tensor`` is complete and is passed on.

    For a non-leaf tensor, its op's rule turns the incoming gradient ``grad``
    into one gradient per input (``input_grads``, already summed back to each
    input's shape; None for inputs that need none). For a leaf, ``grad`` is
    what ``backward()`` adds to its ``.grad``.
    """

    index: int
    tensor: Tensor
    name: str
    node: Function | None
    op: str
    rule: str
    grad: np.ndarray
    inputs: tuple[Tensor | None, ...]
    input_names: tuple[str | None, ...]
    input_grads: tuple[np.ndarray | None, ...]

    @property
    def is_leaf(self) -> bool:
        """True when this step only delivers a gradient to a leaf's ``.grad``."""
        return self.node is None


class BackwardTrace(Sequence[BackwardStep]):
    """The steps of one backward pass, in the order the engine runs them.

    ``print(trace)`` shows them as a table; ``trace.grad_of(t)`` is the gradient
    of the output with respect to any tensor ``t`` of the graph (None if it
    gets none); ``trace.names`` maps tensor ids to the names used in the table.
    """

    def __init__(
        self, root: Tensor, steps: list[BackwardStep], names: dict[int, str], seed: np.ndarray
    ):
        self.root = root
        self.steps = steps
        self.names = names
        self.seed = seed
        self._grads = {id(step.tensor): step.grad for step in steps}

    @overload
    def __getitem__(self, index: int) -> BackwardStep: ...

    @overload
    def __getitem__(self, index: slice) -> list[BackwardStep]: ...

    def __getitem__(self, index):
        return self.steps[index]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[BackwardStep]:
        return iter(self.steps)

    def grad_of(self, tensor: Tensor) -> np.ndarray | None:
        """d(output)/d(tensor) as the backward pass computed it (None if no gradient reaches it)."""
        return self._grads.get(id(tensor))

    @property
    def leaf_grads(self) -> dict[str, np.ndarray]:
        """Name -> gradient for every leaf that requires grad: what ``backward()`` adds to their
        ``.grad``."""
        return {step.name: step.grad for step in self.steps if step.is_leaf}

    def __repr__(self) -> str:
        root_name = self.names.get(id(self.root), "output")
        return f"<BackwardTrace of {root_name}: {len(self.steps)} steps>"

    def __str__(self) -> str:
        return format_table(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text display: the table, not the one-line repr."""
        printer.text(str(self) if not cycle else repr(self))

    def _repr_html_(self) -> str:
        """Jupyter: ``trace_backward(loss)`` at the end of a cell shows the table."""
        return f"<pre>{html.escape(str(self))}</pre>"


def trace_backward(loss: Tensor, gradient: Any = None, names: Names = None) -> BackwardTrace:
    """Replay ``loss.backward(gradient)`` step by step and return the steps.

    The steps are recorded from the engine itself: it runs as
    ``tinygrad_sm.grad(loss, leaves, retain_graph=True)`` with a recorder as
    the engine's observer, so the order, the rules and the gradients are
    exactly those of ``loss.backward()``. Nothing is changed: no ``.grad`` is
    written and the graph is not freed, so ``backward()`` can still run
    afterwards. ``names`` labels tensors as in ``draw_graph``.

    >>> x = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="x")
    >>> trace = trace_backward(x.softmax()[0])
    >>> [step.op for step in trace]
    ['getitem', 'softmax', 'leaf']
    """
    # the engine's own checks and seed: a Tensor that requires grad; gradient= of its shape
    # (cast to its dtype), which only a scalar output may leave out
    seed = seed_gradient(loss, gradient, create_graph=False, what="trace_backward")
    order = topological_order(loss)
    freed = [t._node for t in order if t._node is not None and t._node.freed]
    if freed:
        raise RuntimeError(
            f"trace_backward: the graph behind this tensor was freed by an earlier backward() "
            f"({op_name(freed[0])} lost its saved values); call backward(retain_graph=True), "
            "or trace (and draw) before calling backward()"
        )
    all_names, _ = tensor_names(forward_order(loss), names)
    leaves = [t for t in order if t._node is None]
    recorder = _Recorder(hooks.observer)
    hooks.observer = recorder
    try:
        leaf_grads = engine_grad(
            loss, leaves, grad_outputs=seed, retain_graph=True, allow_unused=True
        )
    finally:
        hooks.observer = recorder.previous

    position = {id(t): i for i, t in enumerate(reversed(order))}  # the engine's order
    entries: list[tuple[int, Tensor, Function | None, np.ndarray, tuple]] = []
    output_of = {id(t._node): t for t in order if t._node is not None}  # (a node keeps no output)
    for ctx, grad, input_grads in recorder.records:
        output = output_of.get(id(ctx))
        if output is not None:
            at = position.get(id(output), len(position))
            entries.append((at, output, ctx, np.asarray(grad), input_grads))
    for leaf, grad in zip(leaves, leaf_grads):
        if grad is not None:
            entries.append((position[id(leaf)], leaf, None, np.asarray(grad.data), ()))
    entries.sort(key=lambda entry: entry[0])

    steps: list[BackwardStep] = []
    for _, tensor, ctx, grad, raw in entries:
        name = all_names.get(id(tensor), "?")
        if ctx is None:
            steps.append(
                BackwardStep(
                    len(steps),
                    tensor,
                    name,
                    None,
                    "leaf",
                    "accumulates into .grad",
                    grad,
                    (),
                    (),
                    (),
                )
            )
            continue
        input_grads = tuple(
            _as_input_gradient(parent_grad, parent, ctx)
            for parent, parent_grad in zip(ctx.inputs, raw)
        )
        input_names = tuple(
            all_names.get(id(p), "?") if p is not None else None for p in ctx.inputs
        )
        steps.append(
            BackwardStep(
                len(steps),
                tensor,
                name,
                ctx,
                op_name(ctx),
                op_rule(ctx),
                grad,
                tuple(ctx.inputs),
                input_names,
                input_grads,
            )
        )
    return BackwardTrace(loss, steps, all_names, seed)


class _Recorder:
    """The engine's observer (``hooks.observer``) during a trace: records every node's rule
    result, and passes every call on to the observer that was there before (the checker of
    ``detect_anomaly()``), if any."""

    def __init__(self, previous: Any):
        self.previous = previous
        self.records: list[tuple[Function, Any, tuple]] = []

    def after_forward(
        self, cls: type, ctx: Function, data: np.ndarray, args: tuple, kwargs: dict
    ) -> None:
        if self.previous is not None:
            self.previous.after_forward(cls, ctx, data, args, kwargs)

    def after_backward(self, ctx: Function, grad: Any, input_grads: Any) -> None:
        self.records.append((ctx, grad, tuple(input_grads)))
        if self.previous is not None:
            self.previous.after_backward(ctx, grad, input_grads)


def _as_input_gradient(grad: Any, tensor: Tensor | None, node: Function) -> np.ndarray | None:
    """An input's share of a rule's result as the engine adds it up (``fit_gradient_to_input``:
    broadcasting undone, the input's dtype); None where the input needs no gradient."""
    if tensor is None or grad is None or not tensor.requires_grad:
        return None
    return fit_gradient_to_input(np.asarray(grad), tensor, node)


# ----- printing ----------------------------------------------------------------------------
def format_table(trace: BackwardTrace) -> str:
    """``print(trace)``: one row per step, one line per outgoing gradient."""
    root_name = trace.names.get(id(trace.root), "output")
    header = ("step", "tensor", "op", "incoming g", "rule", "outgoing gradients")
    rows: list[tuple[str, ...]] = []
    for step in trace:
        incoming = format_values(step.grad)
        if step.is_leaf:
            rows.append(
                (
                    str(step.index + 1),
                    step.name,
                    "(leaf)",
                    incoming,
                    step.rule,
                    f"{step.name}.grad += g",
                )
            )
            continue
        outgoing = [
            f"→ {name}: {format_values(g)}"
            for name, g in zip(step.input_names, step.input_grads)
            if name is not None and g is not None
        ] or ["(no input needs a gradient)"]
        rows.append((str(step.index + 1), step.name, step.op, incoming, step.rule, outgoing[0]))
        rows.extend(("", "", "", "", "", more) for more in outgoing[1:])
    widths = [min(max(len(row[i]) for row in [header, *rows]), 48) for i in range(len(header) - 1)]
    lines = [
        f"backward of {root_name}: {len(trace)} steps "
        f"(g = d{root_name}/d tensor, as it arrives at each tensor)"
    ]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            fit(cell, width).rjust(width) if i == 0 else fit(cell, width).ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "  ".join([*parts, cells[-1]]).rstrip()

    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    lines.extend(line(row) for row in rows)
    return "\n".join(lines)
