"""Backprop, one step at a time: replay the engine's backward pass and record each step.

``trace_backward(loss)`` runs the engine itself (``tinygrad_sm.grad`` with
``retain_graph=True``) and records every node it processes through the
engine's per-node hook, so the steps are exactly those of ``loss.backward()``:
same order, same rules, same gradients. It touches nothing: no ``.grad`` is
written and no saved value is freed, so ``backward()`` can still run afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from ..autograd import grad as engine_grad
from ..autograd import topological_order
from ..function import Function
from ..grad_mode import hooks
from ..shapes import unbroadcast
from ..tensor import Tensor
from .graph import Names, forward_order, op_name, op_rule, tensor_names


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

    def __init__(self, root: Tensor, steps: list[BackwardStep], names: dict[int, str], seed: np.ndarray):
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
        """Name -> gradient for every leaf that requires grad: what ``backward()`` adds to their ``.grad``."""
        return {step.name: step.grad for step in self.steps if step.is_leaf}

    def __repr__(self) -> str:
        return f"<BackwardTrace of {self.names.get(id(self.root), 'output')}: {len(self.steps)} steps>"

    def __str__(self) -> str:
        return format_table(self)


def trace_backward(loss: Tensor, gradient: Any = None, names: Names = None) -> BackwardTrace:
    """Replay ``loss.backward(gradient)`` step by step and return the steps.

    The steps are recorded from the engine itself: it runs as
    ``tinygrad_sm.grad(loss, leaves, retain_graph=True)`` with a recorder on
    the engine's per-node hook, so the order, the rules and the gradients are
    exactly those of ``loss.backward()``. Nothing is changed: no ``.grad`` is
    written and the graph is not freed, so ``backward()`` can still run
    afterwards. ``names`` labels tensors as in ``draw_graph``.

    >>> x = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="x")
    >>> trace = trace_backward(x.softmax()[0])
    >>> [step.op for step in trace]
    ['getitem', 'softmax', 'leaf']
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"trace_backward: expected a Tensor, got {type(loss).__name__}")
    if not loss.requires_grad:
        raise RuntimeError(
            "trace_backward: this tensor does not require grad and has no grad_fn "
            "(did you forget requires_grad=True on an input, or compute it under no_grad?)"
        )
    if gradient is None and loss.size != 1:
        raise RuntimeError(
            f"trace_backward: the output has shape {loss.shape}, so pass gradient= (as to backward()); "
            "it can be left out only for a scalar output"
        )
    seed = np.ones_like(loss.data) if gradient is None else np.asarray(
        gradient.data if isinstance(gradient, Tensor) else gradient, dtype=loss.dtype
    )
    if seed.shape != loss.shape:
        raise ValueError(f"trace_backward: gradient has shape {seed.shape} but the output has shape {loss.shape}")
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
        leaf_grads = engine_grad(loss, leaves, grad_outputs=seed, retain_graph=True, allow_unused=True)
    finally:
        hooks.observer = recorder.previous

    position = {id(t): i for i, t in enumerate(reversed(order))}  # the engine's order
    entries: list[tuple[int, Tensor, Function | None, np.ndarray, tuple]] = []
    for ctx, grad, input_grads in recorder.records:
        output = ctx._output()
        if output is not None:
            entries.append((position.get(id(output), len(position)), output, ctx, np.asarray(grad), input_grads))
    for leaf, grad in zip(leaves, leaf_grads):
        if grad is not None:
            entries.append((position[id(leaf)], leaf, None, np.asarray(grad.data), ()))
    entries.sort(key=lambda entry: entry[0])

    steps: list[BackwardStep] = []
    for _, tensor, ctx, grad, raw in entries:
        name = all_names.get(id(tensor), "?")
        if ctx is None:
            steps.append(BackwardStep(len(steps), tensor, name, None, "leaf", "accumulates into .grad", grad, (), (), ()))
            continue
        input_grads = tuple(
            None if parent is None or parent_grad is None or not parent.requires_grad else _shaped_like(parent_grad, parent)
            for parent, parent_grad in zip(ctx.inputs, raw)
        )
        steps.append(BackwardStep(
            len(steps), tensor, name, ctx, op_name(ctx), op_rule(ctx), grad, tuple(ctx.inputs),
            tuple(all_names.get(id(p), "?") if p is not None else None for p in ctx.inputs), input_grads,
        ))
    return BackwardTrace(loss, steps, all_names, seed)


class _Recorder:
    """Sits on the engine's per-node hook (``hooks.observer``) during a trace, passing every
    call on to the checker that was there (``detect_anomaly``), if any."""

    def __init__(self, previous: Any):
        self.previous = previous
        self.records: list[tuple[Function, Any, tuple]] = []

    def after_forward(self, cls: type, ctx: Function, data: np.ndarray, args: tuple) -> None:
        if self.previous is not None:
            self.previous.after_forward(cls, ctx, data, args)

    def after_backward(self, ctx: Function, grad: Any, input_grads: Any) -> None:
        self.records.append((ctx, grad, tuple(input_grads)))
        if self.previous is not None:
            self.previous.after_backward(ctx, grad, input_grads)


def _shaped_like(grad: Any, tensor: Tensor) -> np.ndarray:
    """An input's share of the gradient as the engine adds it up: broadcasting undone, the input's dtype."""
    grad = np.asarray(grad)
    if grad.shape != tensor.shape:
        grad = unbroadcast(grad, tensor.shape)
    return grad.astype(tensor.dtype, copy=False)


# ----- printing ----------------------------------------------------------------------------
def format_values(values: np.ndarray | None, limit: int = 6) -> str:
    """A short text for an array: the values when at most ``limit``, else shape and min/mean/max."""
    if values is None:
        return "—"
    values = np.asarray(values)
    if values.size <= limit:
        if values.ndim == 0:
            return _number(values.item())
        body = np.array2string(values, separator=", ", formatter={"all": _number}, max_line_width=10_000)
        return " ".join(body.split())
    if values.dtype.kind not in "fiub":
        return f"{values.shape} {values.dtype}"
    with np.errstate(all="ignore"):
        return (f"{values.shape}: min {_number(np.min(values))}, mean {_number(np.mean(values))}, "
                f"max {_number(np.max(values))}")


def _number(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    return text.replace("e-0", "e-").replace("e+0", "e+")


def format_table(trace: BackwardTrace) -> str:
    """``print(trace)``: one row per step, one line per outgoing gradient."""
    root_name = trace.names.get(id(trace.root), "output")
    header = ("step", "tensor", "op", "incoming g", "rule", "outgoing gradients")
    rows: list[tuple[str, ...]] = []
    for step in trace:
        incoming = format_values(step.grad)
        if step.is_leaf:
            rows.append((str(step.index + 1), step.name, "(leaf)", incoming, step.rule, f"{step.name}.grad += g"))
            continue
        outgoing = [f"→ {name}: {format_values(g)}" for name, g in zip(step.input_names, step.input_grads)
                    if name is not None and g is not None] or ["(no input needs a gradient)"]
        rows.append((str(step.index + 1), step.name, step.op, incoming, step.rule, outgoing[0]))
        rows.extend(("", "", "", "", "", more) for more in outgoing[1:])
    widths = [min(max(len(row[i]) for row in [header, *rows]), 48) for i in range(len(header) - 1)]
    lines = [f"backward of {root_name}: {len(trace)} steps (g = d{root_name}/d tensor, as it arrives at each tensor)"]

    def line(cells: tuple[str, ...]) -> str:
        parts = [_fit(cell, width).rjust(width) if i == 0 else _fit(cell, width).ljust(width)
                 for i, (cell, width) in enumerate(zip(cells, widths))]
        return "  ".join([*parts, cells[-1]]).rstrip()

    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    lines.extend(line(row) for row in rows)
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
