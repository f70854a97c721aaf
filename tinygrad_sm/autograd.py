"""The engine: grad mode, reverse topological order, backward() and grad().

Reverse-mode autodiff in four steps:

1. order the graph so every tensor comes after all tensors computed from it
   (an iterative depth-first search, so a 10,000-op chain is no problem);
2. seed the output with its gradient (1 for a scalar);
3. walk that order; at each non-leaf tensor call its node's ``backward`` with
   the summed gradient of everything computed from it, undo broadcasting so
   each input's gradient has that input's shape and dtype, and add it to that
   input's running gradient;
4. at each leaf that requires grad, accumulate into ``.grad``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

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
        return f"<{self.op_name}BackwardBackward>"

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            f"{ctx.op_name}.backward is written in plain NumPy, so its result can be differentiated only once. "
            f"To differentiate it twice, write the backward with operations that also work on Tensors "
            f"(operators, .sum(), .reshape(), tinygrad_sm.operations.rule_helpers functions) and set "
            f"differentiable_backward = True on {ctx.op_name}."
        )


# ----- topological order ----------------------------------------------------------------
def topological_order(root: Tensor) -> list[Tensor]:
    """Tensors of the graph behind ``root`` that require grad, each after all of its inputs.

    Iterative post-order depth-first search: no recursion limit to hit.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        ctx = tensor._node
        if ctx is not None:
            for parent in ctx.inputs:
                if parent is not None and parent._requires_grad and id(parent) not in visited:
                    if parent._node is None:  # a leaf has no inputs to wait for: it can go in now
                        visited.add(id(parent))
                        order.append(parent)
                    else:
                        stack.append((parent, False))
    return order


# ----- backward -------------------------------------------------------------------------
def _as_gradient(value: Any, like: Tensor, create_graph: bool, what: str):
    """Check a user-given gradient and return it as an ndarray (or Tensor under create_graph)
    of the output's shape and dtype (a gradient always has its tensor's dtype, as in PyTorch)."""
    if isinstance(value, Tensor):
        tensor = value
    else:
        try:
            tensor = Tensor._make(np.asarray(value, dtype=like.dtype))
        except (TypeError, ValueError):
            raise TypeError(
                f"{what}: gradient must be a Tensor or an array of numbers of shape {like.shape}, "
                f"got {type(value).__name__} {value!r:.60}"
            ) from None
    if tensor.shape != like.shape:
        raise ValueError(f"{what}: gradient has shape {tensor.shape} but the output has shape {like.shape}")
    if tensor.dtype != like.dtype:
        if tensor.dtype.kind not in "fiub":
            raise TypeError(f"{what}: gradient must hold numbers, got dtype {tensor.dtype}")
        tensor = tensor.astype(like.dtype) if create_graph else Tensor._make(tensor.data.astype(like.dtype))
    return tensor if create_graph else tensor.data


def _default_gradient(output: Tensor, create_graph: bool, what: str):
    if output.data.size != 1:
        raise RuntimeError(
            f"{what}: grad can be implicitly created only for a scalar output, but the output has shape {output.shape}; "
            "pass gradient= (a tensor of that shape, e.g. ones) to backward()"
        )
    ones = np.ones(output.data.shape, output.data.dtype)  # (np.ones_like is a slower Python wrapper)
    return Tensor._make(ones) if create_graph else ones


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list[Any] | None:
    """The engine behind ``Tensor.backward`` and ``grad``.

    With ``inputs=None`` gradients are accumulated into ``.grad`` of leaves;
    otherwise the gradients of ``inputs`` are returned (None where unused) and
    ``.grad`` is left alone.
    """
    if len(roots) == 1:
        order = topological_order(roots[0])
    else:  # one order for all roots, each tensor once
        order, seen = [], set()
        for root in roots:
            for tensor in topological_order(root):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    order.append(tensor)

    wanted: dict[int, int] = {}
    needed: set[int] = set()
    if inputs is not None:
        wanted = {id(t): i for i, t in enumerate(inputs)}
        needed = _tensors_leading_to(order, wanted)
    results: dict[int, Any] = {}  # by id: an input listed twice gets its gradient twice

    grads: dict[int, Any] = {}
    handed_out: set[int] = set()  # arrays already stored somewhere: never reuse them as a leaf's .grad
    for root, grad in zip(roots, root_grads):
        if root._requires_grad:
            _accumulate(grads, id(root), grad)
            handed_out.add(id(grad))  # the caller's own gradient: a leaf root's .grad gets a copy

    previous_mode = grad_mode.enabled
    grad_mode.enabled = create_graph
    try:
        for tensor in reversed(order):
            grad = grads.pop(id(tensor), None)
            if grad is None:
                continue
            if type(grad) is not np.ndarray and not create_graph:
                grad = np.asarray(grad)  # a sum of 0-d arrays is a NumPy scalar; rules and .grad get arrays
            ctx = tensor._node
            if wanted:
                if id(tensor) in wanted:
                    results[id(tensor)] = grad if create_graph else Tensor._make(np.array(grad))
                if ctx is None or not any(p is not None and id(p) in needed for p in ctx.inputs):
                    continue
            elif ctx is None or tensor._retains_grad:
                _store_leaf_grad(tensor, grad, create_graph, handed_out)
                if ctx is None:
                    continue
            if ctx._saved is None:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time: the saved values of {type(ctx).__name__}Backward "
                    "were freed by the first backward(). Pass retain_graph=True to the first backward() to keep them."
                )
            if create_graph:
                input_grads = _call_backward_recorded(ctx, grad)
            else:
                input_grads = type(ctx).backward(ctx, grad)
                if type(input_grads) is not tuple or len(input_grads) != len(ctx.inputs):
                    input_grads = _match_inputs(input_grads, ctx)
            if hooks.observer is not None:
                hooks.observer.after_backward(ctx, grad, input_grads)
            for parent, parent_grad in zip(ctx.inputs, input_grads):
                if parent_grad is None or parent is None or not parent._requires_grad:
                    continue
                if wanted and id(parent) not in needed:
                    continue
                if type(parent_grad) is not np.ndarray and not create_graph:
                    parent_grad = _as_gradient_array(parent_grad, ctx)
                data = parent._data
                if parent_grad.shape != data.shape or parent_grad.dtype != data.dtype:
                    parent_grad = _fit_to(parent_grad, parent, ctx)
                key = id(parent)
                previous = grads.get(key)
                grads[key] = parent_grad if previous is None else previous + parent_grad
            if not retain_graph:
                ctx.release()
    finally:
        grad_mode.enabled = previous_mode
    return [results.get(id(t)) for t in inputs] if inputs is not None else None


def _tensors_leading_to(order: list[Tensor], wanted: dict[int, int]) -> set[int]:
    """Ids of tensors from which some wanted tensor can be reached going towards the inputs."""
    needed: set[int] = set()
    for tensor in order:  # inputs come first
        if id(tensor) in wanted:
            needed.add(id(tensor))
            continue
        ctx = tensor._node
        if ctx is not None and any(p is not None and id(p) in needed for p in ctx.inputs):
            needed.add(id(tensor))
    return needed


def _call_backward_recorded(ctx: Function, grad: Tensor) -> tuple:
    """Under create_graph: run one node's rule so that its own arithmetic is recorded on the graph."""
    cls = type(ctx)
    if cls.differentiable_backward:
        ctx.create_graph = True  # saved_tensors now hands out the Tensors the arrays came from
        try:
            result = cls.backward(ctx, grad)
        finally:
            ctx.create_graph = False
    else:
        with no_grad():
            result = cls.backward(ctx, grad.data)
    return tuple(_as_graph_gradient(g, ctx, grad, cls) for g in _match_inputs(result, ctx))


def _match_inputs(result: Any, ctx: Function) -> tuple:
    """One gradient per forward argument: a lone gradient becomes a 1-tuple; trailing ones may be omitted."""
    cls = type(ctx)
    if result is None and any(ctx.needs_input_grad):
        raise RuntimeError(
            f"{cls.__name__}.backward returned None (did it forget to `return`?): return one gradient per "
            "forward input, None for an input that needs none"
        )
    if isinstance(result, list):
        raise TypeError(
            f"{cls.__name__}.backward returned a list; return a tuple of gradients (one per forward input), "
            "or a single gradient for a single input"
        )
    if type(result) is not tuple:
        result = (result,)
    if len(result) != len(ctx.inputs):
        # gradients for trailing arguments that need none (shapes, axes, an omitted bias) may be
        # left out, or given as None for arguments that were not passed
        count = len(ctx.inputs)
        missing = ctx.inputs[len(result):]
        if any(p is not None and p._requires_grad for p in missing) or any(g is not None for g in result[count:]):
            raise RuntimeError(
                f"{cls.__name__}.backward returned {len(result)} gradient(s) but forward took {count} input(s)"
            )
        result = (result + (None,) * len(missing))[:count]
    return result


def _as_gradient_array(value: Any, ctx: Function) -> np.ndarray:
    """A backward rule's gradient as an ndarray: a NumPy scalar (a 0-d result), a Python number or
    a Tensor is accepted; anything else is an error that names the rule."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.ndarray) or (isinstance(value, np.generic | int | float) and not isinstance(value, bool)):
        return np.asarray(value)
    raise TypeError(
        f"{type(ctx).__name__}.backward returned a {type(value).__name__} ({value!r:.40}) as a gradient; "
        "return a numpy array (or None) for each input"
    )


def _as_graph_gradient(value: Any, ctx: Function, grad: Tensor, cls: type[Function]) -> Any:
    """Under create_graph every gradient is a Tensor; a NumPy rule's result is marked once-differentiable."""
    if value is None or (isinstance(value, Tensor) and cls.differentiable_backward):
        return value
    value = _as_gradient_array(value, ctx)  # (a Tensor from a NumPy rule has no graph: its array is taken)
    depends_on = tuple(t for t in (grad, *ctx.inputs) if t is not None and t._requires_grad)
    if cls.differentiable_backward or not depends_on:
        return Tensor._make(value)
    marker = BackwardOfNumpyRule.__new__(BackwardOfNumpyRule)
    marker.op_name = cls.__name__
    marker.inputs = depends_on
    marker.needs_input_grad = (True,) * len(depends_on)
    out = Tensor._make(value, True, marker)
    return out


def _fit_to(grad: Any, parent: Tensor, ctx: Function) -> Any:
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


def _accumulate(grads: dict[int, Any], key: int, grad: Any) -> None:
    previous = grads.get(key)
    grads[key] = grad if previous is None else previous + grad


def _store_leaf_grad(tensor: Tensor, grad: Any, create_graph: bool, handed_out: set[int]) -> None:
    """Add ``grad`` to ``tensor.grad``. A gradient object already stored elsewhere (``a + b`` hands
    one gradient to both; a leaf root gets the caller's own ``gradient``) is copied first: every
    ``.grad`` is its own Tensor with its own buffer, because optimisers and users change it in place."""
    previous = tensor._grad
    if previous is not None:
        if create_graph:
            tensor._grad = previous + grad
        else:
            previous.data = previous._data + grad
        return
    # (a view, e.g. a slice of another input's gradient, or the same gradient given to two inputs by `add`)
    array = grad._data if create_graph else grad
    if id(grad) in handed_out or not array.flags.owndata or not array.flags.writeable or array is tensor._data:
        grad = grad.clone() if create_graph else grad.copy()  # (clone: a recorded copy, the graph stays)
    handed_out.add(id(grad))
    tensor._grad = grad if create_graph else Tensor._make(grad)


def backward(output: Tensor, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """``output.backward(...)``: accumulate d(output)/d(leaf) into every leaf's ``.grad``."""
    if not output._requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no grad_fn "
            "(did you forget requires_grad=True on an input, or compute it under no_grad?)"
        )
    if gradient is None:
        seed = _default_gradient(output, create_graph, "backward")
    else:
        seed = _as_gradient(gradient, output, create_graph, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    run_backward([output], [seed], retain_graph, create_graph)


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
    seeds = []
    for output, given in zip(outputs, grad_outputs):
        if not output.requires_grad:
            raise RuntimeError("grad: an output does not require grad and has no grad_fn")
        if given is None:
            seeds.append(_default_gradient(output, create_graph, "grad"))
        else:
            seeds.append(_as_gradient(given, output, create_graph, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs)
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
    if not isinstance(values, list | tuple) or not values or not all(isinstance(v, Tensor) for v in values):
        shown = type(value).__name__ if not isinstance(value, list | tuple) else f"{type(value).__name__} {value!r:.60}"
        raise TypeError(f"grad: {what} must be a Tensor or a non-empty list of Tensors, got {shown}")
    return list(values)
