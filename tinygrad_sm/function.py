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
  methods and the functions in ``operations/rule_helpers.py``, which work on both.
  A custom op keeps the default ``False``: its NumPy backward then gives a
  correct first derivative, and differentiating it a second time raises an
  error that says so.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import tensor as _tensor
from .grad_mode import grad_mode, hooks
from .shapes import accepts_pytorch_spellings, pytorch_spellings, respell
from .tensor import Tensor


class Function:
    """Base class of every op; an instance is a node of the graph (the ``ctx``)."""

    # The engine's fields are slots: cheap to set on every op, and kept out of ``__dict__``, which
    # a subclass gets as well, on purpose: forward may store anything on ctx (ctx.axis = ...), and
    # that is all ``release`` looks through.
    #   inputs            the argument Tensors (None for one that is not a Tensor), once recorded
    #   needs_input_grad  per argument, whether it requires grad
    #   _saved            what forward gave save_for_backward (None once released)
    #   _sequence_nr      the node's creation number, once recorded (PyTorch's ``sequence_nr``)
    __slots__ = ("inputs", "needs_input_grad", "_saved", "_sequence_nr")

    #: the name the op is registered under (set by ``register_op``)
    name: str = ""
    #: True when ``backward`` uses only operations that also work on Tensors,
    #: so that ``create_graph=True`` can record it (all built-in ops).
    differentiable_backward: bool = False
    #: True when the result's float dtype comes from the inputs' (PyTorch's promotion); False for
    #: an op that picks it itself (``astype``)
    dtype_from_inputs: bool = True
    #: True while a create_graph backward runs this node's differentiable rule
    create_graph: bool = False

    #: Optional, a static method ``check(ctx, *inputs, **settings)`` with forward's signature: the
    #: validation of the arguments and whatever depends only on their shapes, dtypes and settings
    #: (stored on ctx for forward). Eager runs it before every forward; a ``jit`` replay runs it
    #: once per record, so forward keeps the arithmetic and the checks that depend on the data.
    check: Any = None

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
                f"{type(self).__name__}Backward: its saved values were freed by an earlier "
                "backward(). To backward through the same graph twice, pass retain_graph=True "
                "to the first backward()."
            )
        if not self.create_graph:
            return saved
        return tuple(self._as_graph_tensor(value) for value in saved)

    def _as_graph_tensor(self, value: Any) -> Any:
        """The Tensor a saved array came from: the input it was handed to forward as, or the output.

        Matched by the argument, not by the array alone: in ``t * t.detach()`` both arguments
        hold one array, and only the first is ``t`` (``apply`` gave the second its own view).
        The output is the tensor whose gradient the engine is handing this rule (a node keeps no
        reference to its output: that would be a reference cycle, output → node → output).
        """
        if not isinstance(value, np.ndarray):
            return value
        state = self.__dict__
        handed = state.get("_forward_arrays")
        for i, parent in enumerate(self.inputs):
            if parent is not None and (parent._data if handed is None else handed[i]) is value:
                return parent
        output = state.get("_graph_output")
        if output is not None and output._data is value:
            return output
        return Tensor._make(value)  # an intermediate: a constant as far as the graph knows

    # ----- running an op ----------------------------------------------------------------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._apply = staticmethod(_applier(cls))

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run the op on Tensors (or plain values) and record the node if a gradient is needed."""
        return cls._apply(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"

    @property
    def freed(self) -> bool:
        """True once a backward without ``retain_graph`` has released the values this node needs."""
        return getattr(self, "_saved", ()) is None

    def release(self) -> None:
        """Free the arrays forward kept for backward (done by backward unless ``retain_graph``).

        As in PyTorch, the saved values go, and so does everything forward stored on ctx that
        holds an array (``ctx.mask``, an index tuple of arrays); small settings (axes, shapes,
        flags) stay. A node that kept no array (``add``, ``sum``, ``reshape``, ...) can
        therefore run its backward again; one that did is marked freed, and a second
        backward through it raises. Only what forward stored is looked at: the saved values,
        and ``__dict__``, which holds nothing else (the engine's own fields are slots).
        """
        saved = self._saved
        held = False
        if saved:
            for value in saved:
                if type(value) is _ndarray or _holds_array(value):
                    held = True
                    break
        state = self.__dict__
        if state:  # forward stored more on ctx (ctx.axes = ...)
            arrays = []
            for name, value in state.items():
                kind = type(value)
                if kind in _PLAIN_VALUES or name in _ENGINE_FIELDS:
                    continue
                if kind is tuple:  # (most often a shape or axes: no call needed to see that)
                    for part in value:
                        if type(part) not in _PLAIN_VALUES:
                            break
                    else:
                        continue
                if _holds_array(value):
                    arrays.append(name)
            for name in arrays:
                del state[name]
            held = held or bool(arrays)
        if held:
            self._saved = None


def _holds_array(value: Any) -> bool:
    """True for an ndarray or Tensor, or a tuple/list or an object of forward's own (cross_entropy's
    targets) with one inside (at any depth). Numbers, strings and the like are not looked into."""
    kind = type(value)
    if kind is _ndarray or kind is Tensor:
        return True
    if kind in _PLAIN_VALUES:
        return False
    if isinstance(value, np.ndarray | Tensor):
        return True
    if isinstance(value, tuple | list):
        parts = value
    else:
        attributes = getattr(value, "__dict__", None)
        if attributes is None or isinstance(value, type):
            return False
        parts = attributes.values()
    for part in parts:
        if type(part) is _ndarray or (type(part) not in _PLAIN_VALUES and _holds_array(part)):
            return True
    return False


def _applier(cls: type[Function], spellings: dict[str, str] | None = None) -> Any:
    """``cls.apply`` as a plain function of the op's arguments, closing over ``cls``: every class
    gets its own (``__init_subclass__``), and the operators and Tensor methods call it directly,
    with no bound method and no wrapper in between (``a * b`` is one call into mul's). With
    ``spellings`` it is a Tensor method, which also takes PyTorch's keyword names (``dim=``)."""

    def apply(*args: Any, **kwargs: Any) -> Tensor:
        if kwargs:
            if spellings:
                kwargs = respell(kwargs, spellings, cls.name)
            # a Tensor given by keyword (``target=probs``) is an input like a positional one
            for value in kwargs.values():
                if isinstance(value, Tensor):
                    args, kwargs = _bind_keywords(cls, args, kwargs)
                    break
        ctx = _new(cls)
        ctx._saved = ()
        # forward sees ndarrays: unwrap Tensors, pass other arguments (scalars, axes, ...) through;
        # a NumPy scalar becomes a Python scalar so that, as in PyTorch, it never upcasts a float32
        # tensor. This runs for every op, so the one- and two-argument cases (nearly all calls) are
        # written out; ``inputs`` is the Tensors, None for the other arguments.
        count = len(args)
        if count == 1 and isinstance(args[0], Tensor):
            (a,) = inputs = args
            arguments = (ctx, a._data)  # what forward and check are called with
            ctx.needs_input_grad = _NEEDS_ONE[a._requires_grad]
            recording = a._requires_grad and grad_mode.enabled
        elif count == 2:
            a, b = args
            if isinstance(a, Tensor):
                x, grad_a = a._data, a._requires_grad
            else:
                x, grad_a, a = a.item() if isinstance(a, np.generic) else a, False, None
            if isinstance(b, Tensor):
                y, grad_b = b._data, b._requires_grad
            else:
                y, grad_b, b = b.item() if isinstance(b, np.generic) else b, False, None
            arguments, inputs = (ctx, x, y), (a, b)
            ctx.needs_input_grad = _NEEDS_TWO[grad_a][grad_b]
            recording = (grad_a or grad_b) and grad_mode.enabled
            if recording and x is y and a is not b and type(x) is np.ndarray:
                arguments = (ctx, *_separate_aliases(ctx, [x, y], inputs))
        else:
            arrays, inputs, needs_grad = [], [], []
            for arg in args:
                if isinstance(arg, Tensor):
                    arrays.append(arg._data)
                    inputs.append(arg)
                    needs_grad.append(arg._requires_grad)
                else:
                    arrays.append(arg.item() if isinstance(arg, np.generic) else arg)
                    inputs.append(None)
                    needs_grad.append(False)
            inputs = tuple(inputs)
            ctx.needs_input_grad = needs_grad = tuple(needs_grad)
            recording = True in needs_grad and grad_mode.enabled
            if recording and _repeats_an_array(arrays):
                arrays = _separate_aliases(ctx, arrays, inputs)
            arguments = (ctx, *arrays)
        try:
            if kwargs:
                if cls.check is not None:
                    cls.check(*arguments, **kwargs)
                data = cls.forward(*arguments, **kwargs)
            else:  # (no keyword dict to build)
                if cls.check is not None:
                    cls.check(*arguments)
                data = cls.forward(*arguments)
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as error:
            # the message gains the op's name and the input shapes; the traceback keeps the line
            # that raised
            renamed = _name_the_op(cls, error, args)
            if renamed is error:
                raise
            raise renamed.with_traceback(error.__traceback__) from None
        if (
            type(data) is not _ndarray
            or data.dtype is not _FLOAT32
            or _tensor._default_dtype is not _FLOAT32
        ):
            data = _output_array(cls, ctx, data, arguments[1:])
        if hooks.observer is not None:
            hooks.observer.after_forward(cls, ctx, data, args, kwargs)
        # the output, as Tensor._make makes it (its fields written out here: one call fewer per op)
        out = _new(Tensor)
        out._data = data
        out._grad = None
        out._retains_grad = False
        out.name = None
        if recording:
            out._requires_grad = True
            out._node = ctx
            ctx.inputs = inputs
            ctx._sequence_nr = next(_sequence_numbers)
        else:
            out._requires_grad = False
            out._node = None
        return out

    return apply


def _overrides_apply(cls: type[Function]) -> bool:
    """True if ``cls`` (or a base below Function) defines its own ``apply``: then its methods and
    operators go through that, not the plain function."""
    return getattr(cls.apply, "__func__", None) is not Function.apply.__func__


_new = object.__new__
_ndarray = np.ndarray
#: the creation numbers of the nodes: a node is numbered after the nodes of its inputs, so running
#: nodes newest first runs each one after every node its output was handed to (the engine's order)
_sequence_numbers = itertools.count()
#: needs_input_grad of one- and two-argument ops: shared tuples, one fewer allocation per op
_NEEDS_ONE = ((False,), (True,))
_NEEDS_TWO = (((False, False), (False, True)), ((True, False), (True, True)))
#: settings that hold no array, whatever their value (what ``_holds_array`` need not look into)
_PLAIN_VALUES = frozenset((int, float, bool, str, type(None), slice))
_FLOAT32 = np.dtype(np.float32)
#: what the engine stores in a node's ``__dict__`` (never freed by ``release``)
_ENGINE_FIELDS = frozenset(("_forward_arrays", "_graph_output", "create_graph"))


Function._apply = staticmethod(_applier(Function))


class Op(Function):
    """A built-in op. Inside its ``backward`` it uses only operators, ``.sum``/``.reshape``/
    ``.transpose``/``.swapaxes``, indexing and the functions in ``operations/rule_helpers.py``,
    which work on ndarrays and on Tensors alike; so ``backward(create_graph=True)`` records the
    rule itself and higher derivatives are right."""

    differentiable_backward = True


def _repeats_an_array(arrays: list) -> bool:
    """True if one array object is handed to forward as two arguments (``t * t``,
    ``t * t.detach()``)."""
    if len(arrays) == 2:
        return arrays[0] is arrays[1]
    if len(arrays) == 3:  # (linear, clip, where)
        a, b, c = arrays
        return a is b or a is c or (b is c and b is not None)
    ids = [id(a) for a in arrays if type(a) is np.ndarray]
    return len(ids) != len(set(ids))


def _separate_aliases(ctx: Function, arrays: list, parents: Sequence) -> list:
    """``arrays``, each argument with its own array object where one array came in as two
    different arguments.

    ``t * t.detach()`` hands forward the same array twice, once as ``t`` and once as a constant.
    The second gets a view of it (same numbers, a distinct object), and the arrays forward saw are
    kept on ctx, so that a ``create_graph`` backward maps each saved array to its own argument.
    """
    first_use: dict[int, int] = {}
    for i, array in enumerate(arrays):
        if type(array) is not np.ndarray:
            continue
        j = first_use.setdefault(id(array), i)
        if j != i and parents[j] is not parents[i]:
            arrays[i] = array.view()
            ctx._forward_arrays = arrays
    return arrays


def _bind_keywords(cls: type[Function], args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Move keyword arguments of forward's positional parameters into ``args`` (defaults fill the
    gaps).

    Then ``z.cross_entropy(target=probs)`` is ``z.cross_entropy(probs)``: a Tensor given by keyword
    is an input of the graph too. A Tensor that remains a keyword argument (forward takes it as
    keyword-only) is passed on as its array, and may not require grad.
    """
    name = cls.name or cls.__name__
    parameters = _positional_parameters(cls)
    given = [i for i, (parameter, _) in enumerate(parameters) if parameter in kwargs]
    if given:
        kwargs = dict(kwargs)
        for i in given:
            if i < len(args):
                raise TypeError(f"{name}: got multiple values for argument {parameters[i][0]!r}")
        extra = []
        for parameter, default in parameters[len(args) : given[-1] + 1]:
            if parameter in kwargs:
                extra.append(kwargs.pop(parameter))
            elif default is inspect.Parameter.empty:
                raise TypeError(f"{name}: missing required argument {parameter!r}")
            else:
                extra.append(default)
        args = (*args, *extra)
    for key, value in kwargs.items():
        if isinstance(value, Tensor):
            if value._requires_grad:
                raise TypeError(
                    f"{name}: {key}= is a Tensor that requires grad, "
                    f"but {name} takes {key} as a setting, not as a differentiable input"
                )
            kwargs = {**kwargs, key: value.data}
    return args, kwargs


_POSITIONAL_PARAMETERS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _positional_parameters(cls: type[Function]) -> tuple[tuple[str, Any], ...]:
    """(name, default) of each parameter of ``cls.forward`` after ``ctx``
    that can be given by position."""
    parameters = _POSITIONAL_PARAMETERS.get(cls)
    if parameters is None:
        try:
            signature = list(inspect.signature(cls.forward).parameters.values())[1:]
        except (TypeError, ValueError):
            signature = []
        positional = []
        for parameter in signature:
            if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                break
            positional.append((parameter.name, parameter.default))
        parameters = _POSITIONAL_PARAMETERS[cls] = tuple(positional)
    return parameters


def _output_array(cls: type[Function], ctx: Function, data: Any, arrays: Sequence) -> np.ndarray:
    """forward's result as an ndarray of PyTorch's result dtype, or a clear error.

    NumPy gives scalars for 0-d results (``np.exp(np.array(1.0))`` is an ``np.float64``), and
    its float results follow other rules than PyTorch's: ints (or ints with float32) become
    float64, int8 and bool become float16. Where the result changes, a saved output is changed
    with it, so a ``create_graph`` backward still recognises it as the output.
    """
    name = cls.name or cls.__name__
    result = data
    if type(result) is not np.ndarray:
        if not isinstance(result, np.ndarray | np.generic | bool | int | float):
            raise TypeError(
                f"{name}: forward must return a numpy.ndarray, "
                f"got {type(result).__name__} {result!r:.60}"
            )
        result = np.asarray(result)
    if result.dtype.kind not in "fiub":
        raise TypeError(
            f"{name}: forward must return an array of numbers, got dtype {result.dtype}"
        )
    if result.dtype.kind == "f" and cls.dtype_from_inputs:
        dtype = float_result_dtype(arrays)
        if result.dtype != dtype:
            result = result.astype(dtype)
    if result is not data and ctx._saved and any(value is data for value in ctx._saved):
        ctx._saved = tuple(result if value is data else value for value in ctx._saved)
    return result


def float_result_dtype(arrays: Sequence) -> np.dtype:
    """The float dtype of an op's result, as PyTorch picks it: that of the float arrays that went in
    (float32 and float64 together give float64, NumPy's promotion, as API.md says), or the default
    dtype when only integers, bools and Python numbers did (int64 + 0.5 is float32,
    uint8.sqrt() too)."""
    dtype = None
    for a in arrays:
        if type(a) is np.ndarray and a.dtype.kind == "f":
            dtype = a.dtype if dtype is None else np.promote_types(dtype, a.dtype)
    return _tensor._default_dtype if dtype is None else dtype


def _name_the_op(cls: type[Function], error: Exception, args: tuple) -> Exception:
    """The error with the op's name and the input shapes in front of its message.

    Changed in place where its message is its argument, so its type and its traceback (with the
    line of forward that raised) stay; otherwise (NumPy's ufunc errors compute their message)
    a new error of the nearest built-in kind.
    """
    message = str(error)
    name = cls.name or cls.__name__
    if message.startswith(f"{name}:"):
        return error
    shapes = ", ".join(str(a.shape) for a in args if isinstance(a, Tensor | np.ndarray))
    message = f"{name}: {message} (input shapes: {shapes})"
    original_args = error.args
    error.args = (message,)
    if str(error) == message:
        return error
    error.args = original_args
    # a user's own exception class keeps its type and message
    if not type(error).__module__.startswith("numpy"):
        if hasattr(error, "add_note"):  # (Python 3.11+)
            error.add_note(f"(raised in the forward of {name}; input shapes: {shapes})")
        return error
    # the most specific kind first
    kinds = (np.exceptions.AxisError, IndexError, TypeError, ValueError, ZeroDivisionError)
    return next(kind for kind in kinds if isinstance(error, kind))(message)


# ----- the registry ---------------------------------------------------------------------
_REGISTRY: dict[str, type[Function]] = {}
_BUILT_IN = __name__.rpartition(".")[0] + ".operations"  # the module prefix of the built-in ops


def register_op(
    name: str,
    function: type[Function] | None = None,
    *,
    method: bool | Any = True,
    static: bool = False,
):
    """Register ``function`` under ``name`` and expose it as ``Tensor.<name>``.

    Usable directly, ``register_op("cube", Cube)``, or as a decorator,
    ``@register_op("cube")``. Re-registering a name raises unless it is the
    same class redefined in the same module (re-running a notebook cell); a
    built-in op is never replaced.

    ``method=False`` registers the op without a Tensor method; ``method=f`` attaches the function
    ``f`` instead of the plain ``apply`` wrapper (``astype`` checks its dtype first), with
    ``static=True`` as a static method (``Tensor.concatenate([a, b])``). Either way the method's
    help shows the op's rule.
    """

    def register(cls: type[Function]) -> type[Function]:
        if not (isinstance(cls, type) and issubclass(cls, Function)):
            raise TypeError(f"register_op: {name!r} must be a Function subclass, got {cls!r}")
        if not name.isidentifier():
            raise ValueError(f"register_op: {name!r} is not a valid method name")
        existing = _REGISTRY.get(name)
        redefined = existing is not None and (existing.__module__, existing.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        )
        if (
            existing is not None
            and existing is not cls
            and (not redefined or existing.__module__.startswith(_BUILT_IN))
        ):
            raise ValueError(
                f"register_op: an op named {name!r} is already registered "
                f"({existing.__module__}.{existing.__qualname__}); pick another name"
            )
        if existing is None and method and hasattr(Tensor, name):
            raise ValueError(f"register_op: Tensor already has an attribute {name!r}")
        cls.name = name
        _REGISTRY[name] = cls
        # (what the operators call: ``a * b`` is mul's)
        setattr(_tensor._ops, name, cls.apply if _overrides_apply(cls) else cls._apply)
        if callable(method):
            method.__doc__ = method_docstring(cls, method.__doc__)
            respelled = accepts_pytorch_spellings(method)
            setattr(Tensor, name, staticmethod(respelled) if static else respelled)
        elif method:
            setattr(Tensor, name, _make_method(cls))
        return cls

    return register if function is None else register(function)


def _make_method(cls: type[Function]):
    parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
    # (x.sum(dim=1, keepdim=True) is x.sum(axis=1, keepdims=True))
    spellings = pytorch_spellings(parameter.name for parameter in parameters)
    first = parameters[0] if parameters else None
    if (
        first is not None
        and first.kind is first.POSITIONAL_OR_KEYWORD
        and all(parameter.name != "input" for parameter in parameters)
    ):  # (F.softmax(input=x, dim=1): ``input`` is PyTorch's name for the tensor an op acts on)
        spellings["input"] = first.name
    if _overrides_apply(cls):
        apply, name = cls.apply, cls.name

        def method(*args, **kwargs):
            if kwargs:
                kwargs = respell(kwargs, spellings, name)
            return apply(*args, **kwargs)

    else:
        method = _applier(cls, spellings)  # (its own function object: the method's name and help)
    method.__name__ = cls.name
    method.__qualname__ = f"Tensor.{cls.name}"
    method.__doc__ = method_docstring(cls)
    try:
        method.__signature__ = inspect.Signature(
            [parameters[0].replace(name="self"), *parameters[1:]] if parameters else []
        )
    except (TypeError, ValueError):
        pass
    return method


def method_docstring(cls: type[Function], doc: str | None = None) -> str | None:
    """An op's docstring (or ``doc``) with its backward rule: ``rule`` is the one place the rule is
    written (the pictures label the op with it too), so ``help(Tensor.mul)`` shows both."""
    doc = cls.__doc__ if doc is None else doc
    rule = getattr(cls, "rule", None)
    if not rule:
        return doc
    return f"{(doc or '').rstrip()}\n\nbackward (g: the gradient of the output): {rule}"


def ops() -> list[str]:
    """The names of all registered ops, sorted."""
    return sorted(_REGISTRY)


def get_op(name: str) -> type[Function]:
    """The Function class registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; registered ops: {', '.join(ops())}") from None
