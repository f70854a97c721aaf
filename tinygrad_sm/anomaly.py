"""detect_anomaly: stop at the first NaN or Inf, and say which op made it and where.

::

    with tinygrad_sm.detect_anomaly():
        loss = model(x).cross_entropy(y)
        loss.backward()

Inside the block every op is checked twice:

* after its forward, its output must be finite whenever its inputs are (a NaN
  that came in is not this op's fault: it was reported where it was made, or
  it came from outside the block);
* after its backward, the gradients it sends to its inputs must be finite
  whenever the gradient it received and its forward inputs are.

The first op that breaks this raises :class:`AnomalyError`, naming the op, the
shapes of its inputs, and the line of *your* code that created it (frames
inside tinygrad_sm are skipped). That line is recorded when the forward runs
inside the block; run the forward inside it too, not only ``backward()``.
PyTorch checks only the backward; checking the forward as well finds
``log(0)`` at the ``log``, not later at whatever its ``-inf`` breaks.
"""

from __future__ import annotations

import linecache
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .function import Function
from .grad_mode import Switch, hooks
from .tensor import Tensor

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@dataclass(frozen=True)
class CreationSite:
    """Where in the user's code an op was created: the innermost frame outside tinygrad_sm."""

    filename: str
    lineno: int
    function: str
    line: str

    def __str__(self) -> str:
        where = f"{self.filename}:{self.lineno} in {self.function}"
        return f"{where}\n      {self.line}" if self.line else where


class AnomalyError(RuntimeError):
    """A NaN or Inf appeared inside ``detect_anomaly()``.

    Attributes: ``op`` (the registered op name), ``phase`` (``"forward"`` or
    ``"backward"``), ``input_shapes``, and ``site`` (a :class:`CreationSite`,
    or None when the op was created outside ``detect_anomaly()``).
    """

    def __init__(
        self, message: str, op: str, phase: str, input_shapes: tuple, site: CreationSite | None
    ):
        super().__init__(message)
        self.op = op
        self.phase = phase
        self.input_shapes = input_shapes
        self.site = site


_code_in_package: dict[Any, bool] = {}


def _user_site() -> CreationSite | None:
    """The innermost frame of the call stack that is not inside the tinygrad_sm package."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        inside = _code_in_package.get(code)
        if inside is None:
            inside = _code_in_package[code] = os.path.abspath(code.co_filename).startswith(
                _PACKAGE_DIR
            )
        if not inside:
            line = linecache.getline(code.co_filename, frame.f_lineno).strip()
            return CreationSite(code.co_filename, frame.f_lineno, code.co_name, line)
        frame = frame.f_back
    return None


def _array(value: Any) -> np.ndarray | None:
    """The floating-point array inside a value (a Tensor, an ndarray, a float), or None."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray | np.generic | float):
        array = np.asarray(value)
        return array if array.dtype.kind in "fc" else None
    return None


def _finite(value: Any) -> bool:
    array = _array(value)
    return array is None or bool(np.isfinite(array).all())


def _describe(array: np.ndarray) -> str:
    """'2 nan and 1 -inf of 6 values (the first at index (1, 0))'."""
    counts = (
        (int(np.isnan(array).sum()), "nan"),
        (int(np.isposinf(array).sum()), "inf"),
        (int(np.isneginf(array).sum()), "-inf"),
    )
    kinds = " and ".join(f"{count} {kind}" for count, kind in counts if count)
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0]) if array.ndim else ()
    where = f" (the first at index {first})" if array.ndim else ""
    return f"{kinds} of {array.size} value{'s' if array.size != 1 else ''}{where}"


def _shapes(values: Any) -> tuple:
    return tuple(
        tuple(np.shape(v.data if isinstance(v, Tensor) else v))
        for v in values
        if isinstance(v, Tensor | np.ndarray)
    )


def _op_name(cls: type) -> str:
    return getattr(cls, "name", "") or cls.__name__


def _site_text(site: CreationSite | None) -> str:
    if site is None:
        return (
            "  created outside detect_anomaly(), so where is unknown: "
            "run the forward pass inside detect_anomaly() too to see the line"
        )
    return f"  created at {site}"


class AnomalyChecker:
    """The checker ``detect_anomaly()`` puts on the engine's hooks (``hooks.observer``)."""

    def after_forward(
        self, cls: type[Function], ctx: Function, data: np.ndarray, args: tuple, kwargs: dict
    ) -> None:
        """Remember where the op was created; raise if it made a NaN/Inf from finite inputs."""
        site = _user_site()
        ctx._anomaly_site = site
        if _finite(data) or not all(_finite(arg) for arg in args):
            return
        name = _op_name(cls)
        shapes = _shapes(args)
        message = (
            f"detect_anomaly: {name} produced {_describe(np.asarray(data))} in its output "
            "(forward pass) from finite inputs.\n"
            f"  op: {name}, input shapes: {', '.join(map(str, shapes)) or 'none'}, "
            f"output shape: {tuple(np.shape(data))}\n{_site_text(site)}"
        )
        raise AnomalyError(message, name, "forward", shapes, site)

    def after_backward(self, ctx: Function, grad: Any, input_grads: Any) -> None:
        """Raise if the op's backward made a NaN/Inf gradient
        from a finite gradient and finite inputs."""
        if not _finite(grad) or not all(_finite(parent) for parent in getattr(ctx, "inputs", ())):
            return
        for position, input_grad in enumerate(input_grads):
            if input_grad is None or _finite(input_grad):
                continue
            cls = type(ctx)
            name = _op_name(cls)
            parents = getattr(ctx, "inputs", ())
            shapes = tuple(tuple(p.shape) for p in parents if p is not None)
            rule = getattr(cls, "rule", "")
            rule_text = f" (its rule: {rule})" if rule else ""
            site = ctx.__dict__.get("_anomaly_site")
            message = (
                f"detect_anomaly: the backward of {name} produced "
                f"{_describe(_array(input_grad))} in the gradient "
                f"for its input {position} from a finite incoming gradient{rule_text}.\n"
                f"  op: {name}, input shapes: {', '.join(map(str, shapes)) or 'none'}\n"
                f"{_site_text(site)}"
            )
            raise AnomalyError(message, name, "backward", shapes, site)


class detect_anomaly(Switch):  # noqa: N801 - PyTorch's name
    """Inside this block (or decorated function), the first NaN or Inf made by an op raises
    :class:`AnomalyError` naming the op, its input shapes and the line that created it.

    Nestable; the previous checker (if any) is restored on exit.

    >>> from tinygrad_sm import Tensor, detect_anomaly
    >>> with detect_anomaly():  # doctest: +SKIP
    ...     Tensor([1.0, 0.0]).log()
    AnomalyError: detect_anomaly: log produced 1 inf of 2 values ...
    """

    def __init__(self) -> None:
        self._previous: list[Any] = []  # (the observer is process-wide, as PyTorch's anomaly mode)

    def current(self) -> Any:
        return hooks.observer

    def set(self, value: Any) -> None:
        hooks.observer = value

    def new_value(self) -> AnomalyChecker:
        return AnomalyChecker()

    def restore_stack(self) -> list:
        return self._previous


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return isinstance(hooks.observer, AnomalyChecker)
