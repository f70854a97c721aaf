"""Function: one op, its forward and its hand-written backward; the op registry.

An op is a subclass of :class:`Function` with two static methods::

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):            # x: numpy.ndarray
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):        # grad has the output's shape
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * grad    # one gradient per forward input

``Cube.apply(t)`` runs ``forward`` on the ndarrays inside the tensors and, when
a gradient is needed, keeps an instance of ``Cube`` as the *node* of the graph:
it is the ``ctx`` both static methods receive, it remembers the inputs and the
saved values, and it is the output's ``grad_fn``.

Two ways of running ``backward``:

* a plain ``backward()`` hands the rule ndarrays and expects ndarrays back;
* ``backward(create_graph=True)`` hands a rule whose class says
  ``differentiable_backward = True`` Tensors instead (``grad``, and every
  saved input or output as the Tensor it came from), so the rule's own
  arithmetic is recorded and can be differentiated again. All built-in ops are
  written this way: they use only operators, ``.sum``/``.reshape``-style
  methods and the helpers in ``ops/common.py``, which work on both.
  A custom op keeps the default ``False``: its NumPy backward then gives a
  correct first derivative, and differentiating it a second time raises an
  error that says so.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

import numpy as np

from .tensor import Tensor, get_default_dtype

_make_tensor = Tensor._make


class _GradMode:
    """Whether ops record the graph (switched by ``no_grad``/``enable_grad``), and the
    anomaly checker that ``detect_anomaly()`` installs (None when off)."""

    enabled = True
    anomaly = None


grad_mode = _GradMode()


class Function:
    """Base class of every op; an instance is a node of the graph (the ``ctx``)."""

    #: the name the op is registered under (set by ``register_op``)
    name: str = ""
    #: True when ``backward`` uses only operations that also work on Tensors,
    #: so that ``create_graph=True`` can record it (all built-in ops).
    differentiable_backward: bool = False
    #: True when the result's float dtype comes from the inputs' (PyTorch's promotion); False for
    #: an op that picks it itself (``astype``)
    dtype_from_inputs: bool = True

    # Instances get a __dict__ on purpose: forward may store anything on ctx (ctx.axis = ...).
    _saved: tuple | None = ()
    #: True while a create_graph backward runs this node's differentiable rule
    create_graph: bool = False

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(ctx).__name__} must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Function, grad: Any) -> Any:
        raise NotImplementedError(f"{type(ctx).__name__} must define backward(ctx, grad)")

    # ----- what forward calls -----------------------------------------------------------
    def save_for_backward(self, *values: Any) -> None:
        """Keep values (usually ndarrays: inputs, the output, or intermediates) for ``backward``."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """The values given to ``save_for_backward``.

        During a ``create_graph`` backward of a differentiable rule, every saved
        array that is an input's or the output's data comes back as that Tensor,
        so the rule's arithmetic is recorded on the graph.
        """
        saved = self._saved
        if saved is None:
            raise RuntimeError(
                f"{type(self).__name__}Backward: its saved values were freed by an earlier backward(). "
                "To backward through the same graph twice, pass retain_graph=True to the first backward()."
            )
        if not self.create_graph:
            return saved
        return tuple(self._as_graph_tensor(value) for value in saved)

    def _as_graph_tensor(self, value: Any) -> Any:
        if not isinstance(value, np.ndarray):
            return value
        for parent in self.parents:
            if parent is not None and parent.data is value:
                return parent
        output = self._output()
        if output is not None and output.data is value:
            return output
        return Tensor._make(value)  # an intermediate: a constant as far as the graph knows

    # ----- running an op ----------------------------------------------------------------
    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run the op on Tensors (or plain values) and record the node if a gradient is needed."""
        ctx = cls.__new__(cls)
        # forward sees ndarrays: unwrap Tensors, pass other arguments (scalars, axes, ...) through;
        # a NumPy scalar becomes a Python scalar so that, as in PyTorch, it never upcasts a float32 tensor.
        # (One plain loop: this runs for every op, and it is cheaper than three comprehensions.)
        arrays, parents, needs_grad = [], [], []
        for arg in args:
            if isinstance(arg, Tensor):
                arrays.append(arg.data)
                parents.append(arg)
                needs_grad.append(arg._requires_grad)
            else:
                arrays.append(arg.item() if isinstance(arg, np.generic) else arg)
                parents.append(None)
                needs_grad.append(False)
        ctx.needs_input_grad = needs_grad = tuple(needs_grad)
        try:
            data = cls.forward(ctx, *arrays, **kwargs)
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as error:
            raise _op_error(cls, error, args) from None
        if type(data) is not np.ndarray:
            data = _as_output_array(ctx, data)
        if data.dtype is _FLOAT64 and cls.dtype_from_inputs and not any(
            type(a) is np.ndarray and a.dtype == _FLOAT64 for a in arrays
        ):
            data = _float_result(data, arrays)  # NumPy upcast ints (or ints with float32) to float64; PyTorch does not
        if grad_mode.anomaly is not None:
            grad_mode.anomaly.after_forward(cls, ctx, data, args)
        if not (grad_mode.enabled and True in needs_grad):
            return _make_tensor(data)
        out = _make_tensor(data, True, ctx)
        ctx.parents = tuple(parents)
        ctx._output = weakref.ref(out)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"

    @property
    def freed(self) -> bool:
        """True once a backward without ``retain_graph`` has released the values this node needs."""
        return self._saved is None

    def release(self) -> None:
        """Free the arrays forward kept for backward (done by backward unless ``retain_graph``).

        As in PyTorch, the saved values go, and so does everything forward stored on ctx that
        holds an array (``ctx.mask``, an index tuple of arrays); small settings (axes, shapes,
        flags) stay. A node that kept no array (``add``, ``sum``, ``reshape``, ...) can
        therefore run its backward again; one that did is marked freed, and a second
        backward through it raises.
        """
        state = self.__dict__
        saved = state.get("_saved", ())
        held = saved is not None and _holds_array(saved)
        if len(state) > 3 + ("_saved" in state):  # forward stored more on ctx (ctx.axes = ...)
            arrays = [name for name, value in state.items() if name != "parents" and _holds_array(value)]
            for name in arrays:
                del state[name]
            held = held or bool(arrays)
        if held:
            self._saved = None


def _holds_array(value: Any) -> bool:
    """True for an ndarray or Tensor, or a tuple/list with one inside (at any depth)."""
    if isinstance(value, np.ndarray | Tensor):
        return True
    return isinstance(value, tuple | list) and any(_holds_array(part) for part in value)


_FLOAT64 = np.dtype(np.float64)


def _as_output_array(ctx: Function, data: Any) -> np.ndarray:
    """The output as an ndarray. NumPy gives scalars for 0-d results (``np.exp(np.array(1.0))``
    is an ``np.float64``); if forward saved that scalar, the saved value becomes the new
    array too, so a ``create_graph`` backward still recognises it as the output."""
    array = np.asarray(data)
    saved = ctx._saved
    if saved and any(value is data for value in saved):
        ctx._saved = tuple(array if value is data else value for value in saved)
    return array


def _float_result(data: np.ndarray, arrays: list) -> np.ndarray:
    """The float dtype PyTorch gives when no float64 array went in: float32 if a float32 array
    did (int64 + float32 is float32), else the default dtype (ints and Python floats only)."""
    if any(type(a) is np.ndarray and a.dtype == np.float32 for a in arrays):
        return data.astype(np.float32)
    default = get_default_dtype()
    return data if default == _FLOAT64 else data.astype(default)


def _op_error(cls: type[Function], error: Exception, args: tuple) -> Exception:
    """Re-raise a NumPy error as one that names the op and the input shapes."""
    message = str(error)
    name = cls.name or cls.__name__
    if message.startswith(f"{name}:"):
        return type(error)(message) if type(error) in (ValueError, IndexError, TypeError) else error
    shapes = ", ".join(str(a.shape) for a in args if isinstance(a, Tensor | np.ndarray))
    kind = type(error) if type(error) in (ValueError, IndexError, TypeError) else ValueError
    if isinstance(error, np.exceptions.AxisError):
        kind = np.exceptions.AxisError
    return kind(f"{name}: {message} (input shapes: {shapes})")


# ----- the registry ---------------------------------------------------------------------
_REGISTRY: dict[str, type[Function]] = {}


def register_op(name: str, function: type[Function] | None = None, *, method: bool = True):
    """Register ``function`` under ``name`` and expose it as ``Tensor.<name>``.

    Usable directly, ``register_op("cube", Cube)``, or as a decorator,
    ``@register_op("cube")``. Re-registering a name raises unless it is the
    same class redefined (re-running a notebook cell).
    """

    def register(cls: type[Function]) -> type[Function]:
        if not (isinstance(cls, type) and issubclass(cls, Function)):
            raise TypeError(f"register_op: {name!r} must be a Function subclass, got {cls!r}")
        if not name.isidentifier():
            raise ValueError(f"register_op: {name!r} is not a valid method name")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"register_op: an op named {name!r} is already registered ({existing.__qualname__})")
        if existing is None and method and hasattr(Tensor, name):
            raise ValueError(f"register_op: Tensor already has an attribute {name!r}")
        cls.name = name
        _REGISTRY[name] = cls
        if method:
            setattr(Tensor, name, _make_method(cls))
        return cls

    return register if function is None else register(function)


def _make_method(cls: type[Function]):
    apply = cls.apply

    def method(*args, **kwargs):
        return apply(*args, **kwargs)

    method.__name__ = cls.name
    method.__qualname__ = f"Tensor.{cls.name}"
    method.__doc__ = cls.__doc__
    try:
        parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
        method.__signature__ = inspect.Signature([parameters[0].replace(name="self"), *parameters[1:]] if parameters else [])
    except (TypeError, ValueError):
        pass
    return method


def ops() -> list[str]:
    """The names of all registered ops, sorted."""
    return sorted(_REGISTRY)


def get_op(name: str) -> type[Function]:
    """The Function class registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; registered ops: {', '.join(ops())}") from None
