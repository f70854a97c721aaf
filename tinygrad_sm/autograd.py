"""The engine: backward() and grad().

Reverse-mode autodiff runs each node's rule once the gradient of its output is complete, that is,
once every node its output was handed to has run. PyTorch's engine finds that order without sorting
the graph, and so does this one: every node gets a creation number (``Function.apply``), and a node
is always created after the nodes of its inputs, so running the nodes that have a gradient newest
first (a heap on the creation numbers) runs each one after all of its consumers.

``backward()`` (``run_newest_first``), step by step:

1. seed each output with its gradient (1 for a scalar);
2. take the newest node whose output has a gradient: that gradient is complete. Run the node's rule
   and send each input its share, with broadcasting undone, added to what that input has so far
   (in arrival order); an input that gets its first gradient goes on the heap (a chain, where
   nothing else waits, runs its next node straight away);
3. when no node is left, the leaves' gradients are complete: the *sink* adds them to ``.grad``
   (``LeafSink``, which also keeps a ``retain_grad()`` tensor's gradient on the way).

``grad()`` and ``create_graph=True`` take the general walk (``run_in_order``): the graph in
topological order (an iterative depth-first search, so a 10,000-op chain is no problem), walked
backwards, with ``InputsSink`` keeping the gradients asked for and pruning the branches that lead
to none of them, and the rules' arithmetic recorded under ``create_graph``.

Everything mode-specific sits outside the loops: the sinks, ``send_to_inputs`` (the rule, its
``create_graph`` variant and the checks of what it returned), and ``seed_gradient``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

from . import function as _function
from .function import Function
from .grad_mode import grad_mode, hooks, no_grad
from .shapes import unbroadcast
from .tensor import Tensor


# ----- the once-differentiable marker ---------------------------------------------------
class BackwardOfNumpyRule(Function):
    """Stands for a gradient computed by a NumPy-only backward under ``create_graph``.

    The first derivative is right; differentiating it again is not possible,
    and this node says so instead of returning a silently wrong zero.
    """

    def __repr__(self) -> str:
        return f"<{self.name}BackwardBackward>"

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            f"{ctx.name}.backward is written in plain NumPy, so its result can be differentiated "
            "only once. To differentiate it twice, write the backward with operations that also "
            "work on Tensors (operators, .sum(), .reshape(), tinygrad_sm.operations.rule_helpers "
            f"functions) and set differentiable_backward = True on {ctx.name}."
        )


# ----- the loops ------------------------------------------------------------------------------
def run_backward(
    roots: Sequence[Tensor], seeds: Sequence[Any], retain_graph: bool, create_graph: bool, sink
) -> None:
    """The engine behind ``backward()`` and ``grad()``: newest node first for a plain backward(),
    the general walk for ``grad()`` and ``create_graph`` (the module docstring)."""
    # the rules' own arithmetic is recorded (create_graph) or not; this thread's mode only
    outer_mode, grad_mode.enabled = grad_mode.enabled, create_graph
    try:
        if isinstance(sink, LeafSink) and not create_graph:
            run_newest_first(roots, seeds, retain_graph, sink)
        else:
            run_in_order(roots, seeds, retain_graph, create_graph, sink)
    finally:
        grad_mode.enabled = outer_mode


def run_newest_first(
    roots: Sequence[Tensor], seeds: Sequence[Any], retain_graph: bool, sink: LeafSink
) -> None:
    """``backward()``: the nodes newest first, each once its output's gradient is complete."""
    pending: dict[Tensor, Any] = {}  # tensor -> the gradient summed so far (hashed by identity)
    waiting: list[tuple[int, Tensor]] = []  # a heap of (-creation number, tensor): newest first
    leaves: list[Tensor] = []  # the leaves that got a gradient, in order of arrival
    for root, seed in zip(roots, seeds):  # 1.
        if root._requires_grad:
            sink.owned_elsewhere(seed)  # the caller's own array: a leaf root's .grad gets a copy
            so_far = pending.get(root)
            pending[root] = seed if so_far is None else add_gradients(so_far, seed)
            if so_far is None:
                if root._node is None:
                    leaves.append(root)
                else:
                    heappush(waiting, (-root._node._sequence_nr, root))
    tensor = heappop(waiting)[1] if waiting else None
    grad = pending.pop(tensor, None)
    observer = hooks.observer  # (installed before a backward starts: anomaly mode, a trace, jit)
    while tensor is not None:  # 2.
        if tensor._retains_grad:
            sink.store(tensor, grad)
        node = tensor._node
        if node._saved is None:
            raise _freed_error(node)
        results = type(node).backward(node, grad)
        inputs = node.inputs
        if type(results) is not tuple or len(results) != len(inputs):
            results = _match_inputs(results, node)
        if observer is not None:
            observer.after_backward(node, grad, results)
        # the first input that gets its first gradient here: it runs next if nothing else waits
        # (a chain), without going through the heap and ``pending``
        follow = follow_grad = None
        for parent, parent_grad in zip(inputs, results):  # (send_to_inputs, written out)
            if parent_grad is None or parent is None or not parent._requires_grad:
                continue
            if type(parent_grad) is not _ndarray:
                parent_grad = _as_gradient_array(parent_grad, node)
            data = parent._data
            if parent_grad.shape != data.shape or parent_grad.dtype != data.dtype:
                parent_grad = fit_gradient_to_input(parent_grad, parent, node)
            if parent is follow:  # (one input twice: t * t)
                follow_grad = add_gradients(follow_grad, parent_grad)
                continue
            so_far = pending.get(parent)
            if so_far is not None:
                pending[parent] = add_gradients(so_far, parent_grad)
            elif parent._node is None:
                pending[parent] = parent_grad
                leaves.append(parent)
            elif follow is None:
                follow, follow_grad = parent, parent_grad
            else:
                pending[parent] = parent_grad
                heappush(waiting, (-parent._node._sequence_nr, parent))
        if not retain_graph and (node._saved or node.__dict__):  # (else nothing to free)
            node.release()
        if follow is not None and not waiting:
            tensor, grad = follow, follow_grad
            continue
        if follow is not None:
            pending[follow] = follow_grad
            heappush(waiting, (-follow._node._sequence_nr, follow))
        tensor = heappop(waiting)[1] if waiting else None
        grad = pending.pop(tensor, None)
    for leaf in leaves:  # 3.
        sink.store(leaf, pending.pop(leaf))


_ndarray = np.ndarray  # (one global lookup, not two: the loop above checks every gradient)


def topological_order(*roots: Tensor) -> list[Tensor]:
    """Tensors of the graph behind ``roots`` that require grad, each after all of its inputs.

    Iterative post-order depth-first search: no recursion limit to hit.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        if node is not None:
            for parent in node.inputs:
                if parent is not None and parent._requires_grad and id(parent) not in visited:
                    if parent._node is None:  # a leaf has no inputs to wait for: it can go in now
                        visited.add(id(parent))
                        order.append(parent)
                    else:
                        stack.append((parent, False))
    return order


def run_in_order(
    roots: Sequence[Tensor], seeds: Sequence[Any], retain_graph: bool, create_graph: bool, sink
) -> None:
    """``grad()`` and ``create_graph``: the graph in topological order, walked backwards; the sink
    receives every tensor's finished gradient and says where to go on."""
    order = topological_order(*roots)
    pending: dict[int, Any] = {}  # id(tensor) -> the gradient summed so far
    for root, seed in zip(roots, seeds):
        if root._requires_grad:
            previous = pending.get(id(root))
            pending[id(root)] = seed if previous is None else add_gradients(previous, seed)
            sink.owned_elsewhere(seed)  # the caller's own array: a leaf root's .grad gets a copy
    prune = sink.needed(order)  # ids worth a gradient (None: every input that requires grad)
    for tensor in reversed(order):
        grad = pending.pop(id(tensor), None)
        if grad is None or not sink.receive(tensor, grad):
            continue
        node = tensor._node
        send_to_inputs(node, grad, pending, prune, create_graph, tensor)  # each input its share
        if not retain_graph:
            node.release()


def add_gradients(previous: Any, grad: Any) -> Any:
    """The sum of two gradients of one tensor (a sum of 0-d arrays stays an array, not a scalar)."""
    total = previous + grad
    return total if type(total) is np.ndarray or isinstance(total, Tensor) else np.asarray(total)


# ----- one node: its rule, and what it returned sent to its inputs ----------------------------
def send_to_inputs(
    node: Function,
    grad: Any,
    pending: dict[int, Any],
    prune: set[int] | None,
    create_graph: bool,
    output: Tensor,
) -> None:
    """Run ``node``'s rule on ``grad`` (the gradient of its output, ``output``) and add each input's
    share to what that input has so far: one gradient per input (None where an input needs none, or
    where ``prune`` says no sink wants it), each with its input's shape (broadcasting undone) and
    dtype. (``run_newest_first`` does the same, written out in its loop.)"""
    if node._saved is None:
        raise _freed_error(node)
    if create_graph:
        results = _call_backward_recorded(node, grad, output)
    else:
        results = type(node).backward(node, grad)
        if type(results) is not tuple or len(results) != len(node.inputs):
            results = _match_inputs(results, node)
    if hooks.observer is not None:
        hooks.observer.after_backward(node, grad, results)
    for parent, parent_grad in zip(node.inputs, results):
        if parent_grad is None or parent is None or not parent._requires_grad:
            continue
        if prune is not None and id(parent) not in prune:
            continue
        if type(parent_grad) is not np.ndarray and not create_graph:
            parent_grad = _as_gradient_array(parent_grad, node)
        data = parent._data
        if parent_grad.shape != data.shape or parent_grad.dtype != data.dtype:
            parent_grad = fit_gradient_to_input(parent_grad, parent, node)
        so_far = pending.get(id(parent))
        pending[id(parent)] = parent_grad if so_far is None else add_gradients(so_far, parent_grad)


def _freed_error(node: Function) -> RuntimeError:
    return RuntimeError(
        "Trying to backward through the graph a second time: the saved values of "
        f"{type(node).__name__}Backward were freed by the first backward(). "
        "Pass retain_graph=True to the first backward() to keep them."
    )


def _call_backward_recorded(ctx: Function, grad: Tensor, output: Tensor) -> tuple:
    """Under create_graph: run one node's rule
    so that its own arithmetic is recorded on the graph."""
    cls = type(ctx)
    if cls.differentiable_backward:
        # saved_tensors now hands out the Tensors the arrays came from, ``output`` among them
        ctx.create_graph = True
        ctx._graph_output = output
        try:
            result = cls.backward(ctx, grad)
        finally:
            del ctx.create_graph, ctx._graph_output
    else:
        with no_grad():
            result = cls.backward(ctx, grad.data)
    return tuple(_as_graph_gradient(g, ctx, grad, cls) for g in _match_inputs(result, ctx))


def _match_inputs(result: Any, ctx: Function) -> tuple:
    """One gradient per forward argument: a lone gradient becomes a 1-tuple;
    trailing ones may be omitted."""
    inputs = ctx.inputs
    if type(result) is _ndarray and len(inputs) == 1:  # (the usual one-input rule)
        return (result,)
    cls = type(ctx)
    if type(result) is not tuple:
        if result is None and True in ctx.needs_input_grad:
            raise RuntimeError(
                f"{cls.__name__}.backward returned None (did it forget to `return`?): "
                "return one gradient per forward input, None for an input that needs none"
            )
        if isinstance(result, list):
            raise TypeError(
                f"{cls.__name__}.backward returned a list; return a tuple of gradients "
                "(one per forward input), or a single gradient for a single input"
            )
        result = (result,)
    count = len(inputs)
    if len(result) != count:
        # gradients for trailing arguments that need none (shapes, axes, an omitted bias) may be
        # left out, or given as None for arguments that were not passed
        missing = inputs[len(result) :]
        for parent in missing:
            if parent is not None and parent._requires_grad:
                raise _count_error(cls, result, count)
        for extra in result[count:]:
            if extra is not None:
                raise _count_error(cls, result, count)
        result = (result + (None,) * len(missing))[:count]
    return result


def _count_error(cls: type[Function], result: tuple, count: int) -> RuntimeError:
    return RuntimeError(
        f"{cls.__name__}.backward returned {len(result)} gradient(s) "
        f"but forward took {count} input(s)"
    )


def _as_gradient_array(value: Any, ctx: Function) -> np.ndarray:
    """A backward rule's gradient as an ndarray: a NumPy scalar (a 0-d result), a Python number or
    a Tensor is accepted; anything else is an error that names the rule."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.ndarray) or (
        isinstance(value, np.generic | int | float) and not isinstance(value, bool)
    ):
        return np.asarray(value)
    raise TypeError(
        f"{type(ctx).__name__}.backward returned a {type(value).__name__} ({value!r:.40}) "
        "as a gradient; return a numpy array (or None) for each input"
    )


def _as_graph_gradient(value: Any, ctx: Function, grad: Tensor, cls: type[Function]) -> Any:
    """Under create_graph every gradient is a Tensor;
    a NumPy rule's result is marked once-differentiable."""
    if value is None or (isinstance(value, Tensor) and cls.differentiable_backward):
        return value
    # (a Tensor from a NumPy rule has no graph: its array is taken)
    value = _as_gradient_array(value, ctx)
    depends_on = tuple(t for t in (grad, *ctx.inputs) if t is not None and t._requires_grad)
    if cls.differentiable_backward or not depends_on:
        return Tensor._make(value)
    marker = BackwardOfNumpyRule.__new__(BackwardOfNumpyRule)
    marker.name = cls.__name__
    marker.inputs = depends_on
    marker.needs_input_grad = (True,) * len(depends_on)
    marker._saved = ()
    marker._sequence_nr = next(_function._sequence_numbers)  # (after its inputs' nodes)
    out = Tensor._make(value, True, marker)
    return out


def fit_gradient_to_input(grad: Any, parent: Tensor, ctx: Function) -> Any:
    """Give a gradient its input's shape (undoing broadcasting) and dtype."""
    if grad.shape != parent._data.shape:
        try:
            grad = unbroadcast(grad, parent._data.shape)
        except ValueError:
            raise RuntimeError(
                f"{type(ctx).__name__}.backward returned a gradient of shape {grad.shape} "
                f"for an input of shape {parent._data.shape}"
            ) from None
    if grad.dtype != parent._data.dtype:
        grad = grad.astype(parent._data.dtype)
    return grad


# ----- the sinks: what a finished gradient is for ---------------------------------------------
class LeafSink:
    """``backward()``: add each leaf's gradient to its ``.grad`` (and a ``retain_grad()`` tensor's).

    Every ``.grad`` is its own Tensor with its own buffer, because optimisers and users change it
    in place: a gradient object already stored elsewhere (``a + b`` hands one gradient to both
    inputs; a leaf root would get the caller's own ``gradient``), or a view of one, is copied first.
    """

    def __init__(self, create_graph: bool):
        self.create_graph = create_graph
        self.stored: set[int] = set()  # ids of gradient objects already stored somewhere

    def owned_elsewhere(self, grad: Any) -> None:
        self.stored.add(id(grad))

    def needed(self, order: list[Tensor]) -> None:
        return None  # every input that requires grad

    def receive(self, tensor: Tensor, grad: Any) -> bool:
        """Store a leaf's (or retained) gradient;
        True if backpropagation goes on through its node."""
        if tensor._node is None or tensor._retains_grad:
            self.store(tensor, grad)
        return tensor._node is not None

    def store(self, tensor: Tensor, grad: Any) -> None:
        previous = tensor._grad
        if previous is not None:
            if self.create_graph:
                tensor._grad = previous + grad
            else:
                previous.data = previous._data + grad
            return
        array = grad._data if self.create_graph else grad
        flags = array.flags
        if (
            id(grad) in self.stored
            or array is tensor._data
            or not flags.owndata
            or not flags.writeable
        ):
            # (clone: a recorded copy, the graph stays)
            grad = grad.clone() if self.create_graph else grad.copy()
        self.stored.add(id(grad))
        tensor._grad = grad if self.create_graph else Tensor._make(grad)


class InputsSink:
    """``grad()``: keep the gradients of the tensors asked about, touch no ``.grad``, and send
    gradients only towards tensors from which one of them can be reached."""

    def __init__(self, inputs: list[Tensor], create_graph: bool):
        self.wanted = {id(t) for t in inputs}
        self.create_graph = create_graph
        self.results: dict[int, Any] = {}

    def owned_elsewhere(self, grad: Any) -> None:
        pass  # (results are copied anyway)

    def needed(self, order: list[Tensor]) -> set[int]:
        """Ids of the tensors from which a wanted tensor can be reached going towards the inputs."""
        needed: set[int] = set()
        for tensor in order:  # inputs come first
            node = tensor._node
            if id(tensor) in self.wanted or (
                node is not None and any(id(p) in needed for p in node.inputs if p is not None)
            ):
                needed.add(id(tensor))
        self.prune = needed
        return needed

    def receive(self, tensor: Tensor, grad: Any) -> bool:
        if id(tensor) in self.wanted:
            self.results[id(tensor)] = grad if self.create_graph else Tensor._make(np.array(grad))
        node = tensor._node
        return node is not None and any(p is not None and id(p) in self.prune for p in node.inputs)

    def gradients_of(self, inputs: list[Tensor]) -> list[Any]:
        """One result per input, in order
        (an input listed twice gets its gradient twice; None if unused)."""
        return [self.results.get(id(t)) for t in inputs]


# ----- the public entry points ------------------------------------------------------------------
def seed_gradient(output: Tensor, gradient: Any, create_graph: bool, what: str) -> Any:
    """The gradient a backward pass starts from at ``output``: the given ``gradient`` (checked, and
    cast to the output's dtype: a gradient always has its tensor's dtype, as in PyTorch), or 1 for
    a scalar output. An ndarray, or a Tensor under ``create_graph``."""
    if not isinstance(output, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(output).__name__}")
    if not output._requires_grad:
        raise RuntimeError(
            f"{what}: this tensor does not require grad and has no grad_fn "
            "(did you forget requires_grad=True on an input, or compute it under no_grad?)"
        )
    if gradient is None:
        if output._data.size != 1:
            raise RuntimeError(
                f"{what}: grad can be implicitly created only for a scalar output, "
                f"but the output has shape {output.shape}; "
                f"pass {'grad_outputs' if what == 'grad' else 'gradient'}= "
                f"(a tensor of that shape, e.g. ones) to {what}()"
            )
        shape, dtype = output._data.shape, output._data.dtype
        ones = np.array(1, dtype) if shape == () else np.ones(shape, dtype)  # (0-d: 4x faster)
        return Tensor._make(ones) if create_graph else ones
    if isinstance(gradient, Tensor):
        tensor = gradient
    else:
        try:
            tensor = Tensor._make(np.asarray(gradient, dtype=output.dtype))
        except (TypeError, ValueError):
            raise TypeError(
                f"{what}: gradient must be a Tensor or an array of numbers "
                f"of shape {output.shape}, got {type(gradient).__name__} {gradient!r:.60}"
            ) from None
    if tensor.shape != output.shape:
        raise ValueError(
            f"{what}: gradient has shape {tensor.shape} but the output has shape {output.shape}"
        )
    if tensor.dtype != output.dtype:
        if tensor.dtype.kind not in "fiub":
            raise TypeError(f"{what}: gradient must hold numbers, got dtype {tensor.dtype}")
        tensor = (
            tensor.astype(output.dtype)
            if create_graph
            else Tensor._make(tensor.data.astype(output.dtype))
        )
    return tensor if create_graph else tensor.data


def backward(
    output: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """``output.backward(...)``: accumulate d(output)/d(leaf) into every leaf's ``.grad``."""
    seed = seed_gradient(output, gradient, create_graph, "backward")
    retain_graph = create_graph if retain_graph is None else retain_graph
    run_backward([output], [seed], retain_graph, create_graph, LeafSink(create_graph))


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    As ``torch.autograd.grad``: returns a tuple with one Tensor per input
    (``None`` for an input the outputs do not depend on, if ``allow_unused``).
    """
    outputs = _tensor_list(outputs, "outputs")
    inputs = _tensor_list(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor | np.ndarray) or not isinstance(grad_outputs, Iterable):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    seeds = [
        seed_gradient(output, given, create_graph, "grad")
        for output, given in zip(outputs, grad_outputs)
    ]
    retain_graph = create_graph if retain_graph is None else retain_graph
    sink = InputsSink(inputs, create_graph)
    run_backward(outputs, seeds, retain_graph, create_graph, sink)
    results = sink.gradients_of(inputs)
    for i, result in enumerate(results):
        if result is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(results)


def _tensor_list(value: Any, what: str) -> list[Tensor]:
    """``grad``'s outputs or inputs: a Tensor or a non-empty sequence of Tensors."""
    values = [value] if isinstance(value, Tensor) else value
    if (
        not isinstance(values, list | tuple)
        or not values
        or not all(isinstance(v, Tensor) for v in values)
    ):
        shown = (
            type(value).__name__
            if not isinstance(value, list | tuple)
            else f"{type(value).__name__} {value!r:.60}"
        )
        raise TypeError(
            f"grad: {what} must be a Tensor or a non-empty list of Tensors, got {shown}"
        )
    return list(values)
