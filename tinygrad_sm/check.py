"""Checking derivatives: gradcheck against central differences, full Jacobians and Hessians."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with the numeric one.

    Attributes: ``input_index``, ``element`` (index into that input),
    ``output_element``, ``analytic``, ``numeric``.
    """

    def __init__(
        self,
        message: str,
        input_index: int,
        element: tuple,
        output_element: tuple,
        analytic: float,
        numeric: float,
    ):
        super().__init__(message)
        self.input_index = input_index
        self.element = element
        self.output_element = output_element
        self.analytic = analytic
        self.numeric = numeric


def _outputs(result: Any, what: str) -> list[Tensor]:
    results = list(result) if isinstance(result, tuple | list) else [result]
    for r in results:
        if not isinstance(r, Tensor):
            raise TypeError(
                f"{what}: fn must return a Tensor (or a tuple of Tensors), got {type(r).__name__}"
            )
    return results


def _reverse_jacobians(outputs: list[Tensor], inputs: list[Tensor]) -> list[np.ndarray]:
    """For each input, d(all outputs, flattened)/d(input, flattened):
    one backward per output element."""
    total = sum(o.size for o in outputs)
    jacobians = [np.zeros((total, x.size), dtype=np.float64) for x in inputs]
    row = 0
    for output in outputs:
        for k in range(output.size):
            if output.requires_grad:
                seed = np.zeros(output.shape, dtype=output.dtype)
                seed[np.unravel_index(k, output.shape)] = 1  # by index: works for a 0-d output too
                grads = grad(
                    output, inputs, grad_outputs=seed, retain_graph=True, allow_unused=True
                )
                for jac, g in zip(jacobians, grads):
                    if g is not None:
                        jac[row] = g.data.reshape(-1)
            row += 1
    return jacobians


def _leaf(what: str, fn: Any, x: Any) -> Tensor:
    """A fresh leaf that requires grad, holding ``x``'s values (its shape kept, 0-d included)."""
    if not callable(fn):
        raise TypeError(f"{what}: fn must be callable, got {type(fn).__name__}")
    leaf = Tensor(x.data if isinstance(x, Tensor) else x)
    if leaf.dtype.kind != "f":
        raise TypeError(
            f"{what}: x must hold floating-point values, got dtype {leaf.dtype} "
            "(convert it first, e.g. Tensor(x, dtype=np.float64))"
        )
    return leaf.requires_grad_()


def jacobian(fn: Callable[[Tensor], Tensor], x: Any) -> np.ndarray:
    """The Jacobian of ``fn`` at ``x`` as an array of shape ``out.shape + x.shape`` (reverse mode,
    one backward per output element)."""
    leaf = _leaf("jacobian", fn, x)
    (output,) = _outputs(fn(leaf), "jacobian")
    (jac,) = _reverse_jacobians([output], [leaf])
    return jac.reshape(output.shape + leaf.shape)


def hessian(fn: Callable[[Tensor], Tensor], x: Any) -> np.ndarray:
    """The Hessian of a scalar ``fn`` at ``x``, shape ``x.shape + x.shape``: the Jacobian of the
    gradient, which ``create_graph=True`` records as a differentiable graph."""
    leaf = _leaf("hessian", fn, x)
    (output,) = _outputs(fn(leaf), "hessian")
    if output.size != 1:
        raise ValueError(f"hessian: fn must return a scalar, got shape {output.shape}")
    if not output.requires_grad:
        return np.zeros(leaf.shape + leaf.shape)
    (gradient,) = grad(output, leaf, create_graph=True, allow_unused=True)
    if gradient is None:
        return np.zeros(leaf.shape + leaf.shape)
    (jac,) = _reverse_jacobians([gradient], [leaf])
    return jac.reshape(leaf.shape + leaf.shape)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any] | Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare the analytic gradients of ``fn(*inputs)`` with central differences, in float64.

    Every floating-point input with ``requires_grad=True`` is checked (every
    floating-point Tensor input if none requires grad); for a non-scalar
    output the whole Jacobian is compared, element by element:
    ``|analytic - numeric| <= atol + rtol * |numeric|``.
    Returns True, or raises :class:`GradcheckError` naming the input, the
    element, and both values (returns False with ``raise_exception=False``).
    """
    inputs = _check_gradcheck_arguments(fn, inputs, eps, atol, rtol, raise_exception)
    floating = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.dtype.kind == "f"]
    checked = [i for i in floating if inputs[i].requires_grad] or floating
    if not checked:
        raise ValueError("gradcheck: no floating-point Tensor among the inputs to check")
    args = list(inputs)
    for i in floating:
        # a float64 copy of the same shape (a 0-d input stays 0-d: fn must see what it would see)
        args[i] = Tensor(inputs[i].data.astype(np.float64), requires_grad=i in checked)
    leaves = [args[i] for i in checked]

    outputs = _outputs(fn(*args), "gradcheck")
    analytic = _reverse_jacobians(outputs, leaves)

    def evaluate() -> np.ndarray:
        values = _outputs(fn(*args), "gradcheck")  # with grad on: fn may itself call grad()
        return np.concatenate([v.data.astype(np.float64).reshape(-1) for v in values])

    out_shapes = [o.shape for o in outputs]
    for position, (i, leaf) in enumerate(zip(checked, leaves)):
        for j in range(leaf.size):
            # perturb the element by its index, in the tensor's own array (never a reshaped copy)
            index = np.unravel_index(j, leaf.shape)
            original = leaf.data[index]
            leaf.data[index] = original + eps
            plus = evaluate()
            leaf.data[index] = original - eps
            minus = evaluate()
            leaf.data[index] = original
            numeric = (plus - minus) / (2 * eps)
            column = analytic[position][:, j]
            bad = ~np.isclose(column, numeric, atol=atol, rtol=rtol, equal_nan=True)
            if bad.any():
                k = int(np.argmax(bad))
                element = tuple(int(e) for e in np.unravel_index(j, leaf.shape))
                output_element = _output_element(k, out_shapes)
                a, n = float(column[k]), float(numeric[k])
                message = (
                    f"gradcheck: gradient mismatch for input {i} (shape {leaf.shape}) "
                    f"at element {element}, "
                    f"output element {output_element}: analytic {a:.6g}, numeric {n:.6g} "
                    f"(|difference| {abs(a - n):.3g} > atol + rtol*|numeric| = "
                    f"{atol + rtol * abs(n):.3g})"
                )
                if raise_exception:
                    raise GradcheckError(message, i, element, output_element, a, n)
                return False
    return True


def _check_gradcheck_arguments(
    fn: Any, inputs: Any, eps: Any, atol: Any, rtol: Any, raise_exception: Any
) -> list:
    """The inputs as a list, after checking every argument of :func:`gradcheck` (clear errors,
    not NumPy's)."""
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be callable, got {type(fn).__name__}")
    if not isinstance(inputs, Tensor | tuple | list):
        raise TypeError(
            "gradcheck: inputs must be a Tensor or a tuple/list of inputs, "
            f"got {type(inputs).__name__}"
        )
    for name, value, low in (("eps", eps, "> 0"), ("atol", atol, ">= 0"), ("rtol", rtol, ">= 0")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"gradcheck: {name} must be a number, got {type(value).__name__} {value!r}"
            )
        if not math.isfinite(value) or value < 0 or (low == "> 0" and value == 0):
            raise ValueError(f"gradcheck: {name} must be a finite number {low}, got {value!r}")
    if not isinstance(raise_exception, bool):
        raise TypeError(
            f"gradcheck: raise_exception must be a bool, got {type(raise_exception).__name__}"
        )
    return [inputs] if isinstance(inputs, Tensor) else list(inputs)


def _output_element(k: int, shapes: list[tuple[int, ...]]) -> tuple:
    for index, shape in enumerate(shapes):
        size = int(np.prod(shape))
        if k < size:
            element = tuple(int(e) for e in np.unravel_index(k, shape))
            return element if len(shapes) == 1 else (index, element)
        k -= size
    raise IndexError(k)
