"""``tinygrad_sm.jit``: record a training step once, replay it as straight-line NumPy.

(The module is ``tinygrad_sm.replay``; ``tinygrad_sm.jit`` is its function ``jit``.)

    step = tinygrad_sm.jit(train_step)    # train_step(x, y): zero_grad, forward, backward, step
    loss = step(x, y)                      # 1st call: runs eagerly and records what it did
    loss = step(x, y)                      # 2nd call: eagerly again, and compared with the 1st
    loss = step(x, y)                      # later calls: the recorded program, no graph at all
    print(step)                            # the program, one line per op; step.source: its code

What a record holds, in the order it happened:

* every op's ``forward`` (from ``Function.apply``, through the engine's observer): its class, its
  arguments, as *slots* -- an input of the call, a parameter read afresh each call, an earlier op's
  output, or a constant -- and its settings;
* every ``backward()``: the rule of each node in the order the engine ran them, and where each
  gradient went (undoing broadcasting, summing the shares of a tensor, storing into ``.grad``);
* the changes made outside the graph by library code that says so (``replayed_by_jit``):
  ``optimizer.zero_grad()``, ``optimizer.step()``, ``clip_grad_norm_``, a dropout mask, a
  BatchNorm counter. They are called again on every replay, so an optimiser re-reads its
  ``param_groups`` (a learning-rate schedule keeps working) and its state each call.

The record is turned into the source of one Python function (``step.source``): one line per
op, calling the op's own ``forward`` and ``backward`` on ndarrays with a ctx kept from call to
call. An op's ``check`` (validation and what depends only on shapes) runs once, when the
function is made; its ``forward`` and ``backward`` run on every replay, so a replay computes
exactly what the eager call computes, with the same NumPy calls in the same order: the numbers
are bit-identical.

A record is kept per kind of call (at most ``MAX_RECORDS``): the shapes, dtypes and strides of
the Tensor and array arguments, the values of the other arguments, grad mode and the default
dtype. A replay runs only while its *guard* holds: every module called has the mode and the
plain settings (Dropout's ``p``, a LeakyReLU's slope) it had and holds the same parameters, each
tensor read from outside has its shape, dtype and ``requires_grad``, and the global and closure
names of the function still name the same modules, optimisers and tensors; else the call is
recorded again. The second call is compared with the first, and a replay is trusted for inputs
of other values only once two records made from different input values agree (an array made
with NumPy inside the function is a constant of the record: only the comparison can tell that
it came from an input).

What a record cannot hold makes it unsafe to replay: the function then runs eagerly each call,
after one warning (``JitWarning``) that names the file and line:

* a Python value read from a tensor inside the function (``.item()``, ``float()``, ``bool()``,
  ``.numpy()``, ``.tolist()``, ``.data``, printing it): what Python does with it is not in the
  record; so is library code that does the same (``Categorical.sample``, a MultiheadAttention
  mask given as an argument, BatchNorm with ``momentum=None``);
* ``backward(retain_graph=True)`` or ``create_graph=True``, ``tinygrad_sm.grad``,
  ``retain_grad()``, a ``requires_grad`` change, ``optimizer.step(closure)``, an input array
  changed in place, anomaly detection, a returned tensor whose graph a backward outside would
  need (the function ran no backward itself: a replay builds no graph);
* anything that differs between two records besides the inputs (a constant array computed
  with NumPy from an input, ``np.random`` numbers, a Python counter that changes the ops).

What no record can see stays the user's to keep: Python state that changes the ops only after
the calls that were compared (``if step % 100 == 0:`` inside the function), and state outside
the tensors, modules and optimisers named above. A replayed result is a Tensor with no graph.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import linecache
import os
import re
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import anomaly as _anomaly
from . import tensor as _tensor
from .autograd import (
    LeafSink,
    _as_gradient_array,
    add_gradients,
    fit_gradient_to_input,
    seed_gradient,
)
from .function import Function, _output_array
from .grad_mode import grad_mode, hooks
from .tensor import Tensor

__all__ = ["JitWarning", "jit"]

_FLOAT32 = np.dtype(np.float32)
_MISSING = object()
_BUILT_IN = __name__.rpartition(".")[0] + ".operations"  # the module prefix of the built-in ops
_replay_numbers = itertools.count(1)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


#: how many kinds of call one jitted function keeps records of (each holds its constants)
MAX_RECORDS = 8


class JitWarning(UserWarning):
    """A jitted function could not be replayed and runs eagerly (the message says why and where)."""


def jit(fn: Callable) -> Jitted:
    """Record ``fn`` on its first calls and replay the record on later calls (see the module
    docstring); the result has ``fn``'s signature, ``print(step)`` lists the recorded program and
    ``step.source`` shows its NumPy code."""
    if not callable(fn):
        raise TypeError(f"jit: expected a function, got {type(fn).__name__} {fn!r:.60}")
    return Jitted(fn)


class Jitted:
    """What ``jit(fn)`` returns: call it as ``fn``."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self._entries: dict[Any, list[_Entry]] = {}  # kind of call -> its records (by module modes)
        self._warned = False
        self._last: _Entry | None = None
        functools.update_wrapper(self, fn)

    # ----- calling --------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if hooks.recorder is not None or hooks.observer is not None:
            if hooks.recorder is None and _anomaly.is_anomaly_enabled():
                self._warn("anomaly detection is on: the function runs eagerly", None)
            return self.fn(*args, **kwargs)  # inside another record (or observed): eagerly
        leaves: list[Any] = []
        try:
            key = (_fast_structure(args, leaves) if not kwargs else None) or _structure(
                (args, kwargs), leaves
            )
            key = (key, grad_mode.enabled, _tensor._default_dtype)
            variants = self._entries.setdefault(key, [])
        except TypeError:  # an unhashable non-Tensor argument: nothing to key a record on
            self._warn("an argument is neither a Tensor, an array nor a hashable value", None)
            return self.fn(*args, **kwargs)
        for entry in variants:
            if entry.replay is not None and entry.guards_hold() and entry.may_replay(leaves):
                self._last = entry
                return entry.replay(leaves)
        entry = next((e for e in variants if e.guards_hold()), None)
        if entry is not None and entry.unsafe:
            return self.fn(*args, **kwargs)
        if entry is None and sum(map(len, self._entries.values())) >= MAX_RECORDS:
            self._warn(
                f"{MAX_RECORDS} kinds of call (shapes, dtypes, values of other arguments) are "
                "recorded already; a new kind",
                None,
            )
            return self.fn(*args, **kwargs)
        record = _record(self.fn, args, kwargs, leaves)
        if entry is None or record.unsafe is not None:
            if entry is not None:
                variants.remove(entry)
            entry = _Entry(record)
            variants.append(entry)
        else:
            entry.second(record)  # the second call: compared with the first, then compiled
        if record.unsafe is not None:
            entry.unsafe = True
            self._warn(*record.unsafe)
        self._last = entry
        return record.result

    def _warn(self, reason: str, site: Any) -> None:
        if self._warned:
            return
        self._warned = True
        where = f" at {site}" if site is not None else ""
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        warnings.warn(
            f"jit({name}): {reason}{where}; the function runs eagerly on every call "
            "(same results, no speed-up)",
            JitWarning,
            stacklevel=3,
        )

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """``@jit`` on a method: ``obj.step`` is the jitted function with ``obj`` bound first
        (``obj`` is a non-Tensor argument: each object has its own records)."""
        return self if instance is None else types.MethodType(self, instance)

    # ----- looking at the record ------------------------------------------------------------
    def _shown(self) -> _Entry | None:
        if self._last is not None:
            return self._last
        return next((e for variants in self._entries.values() for e in variants), None)

    def explain(self) -> str:
        """The recorded program, one line per op (forward, then backward, and the updates), with
        the line of the user's code that made each op."""
        entry = self._shown()
        name = getattr(self.fn, "__name__", repr(self.fn))
        if entry is None:
            return f"jit({name}): not called yet (the first call records the program)"
        state = (
            "runs eagerly (unsafe to replay: " + entry.record.unsafe[0] + ")"
            if entry.unsafe
            else "replayed"
            if entry.replay is not None
            else "recorded once; compiled after the second call"
        )
        record = entry.record
        counts = (
            f"{len(record.ops)} ops, {len(record.backwarded)} backward rules, "
            f"{record.effects} calls outside the graph"
        )
        lines = [f"jit({name}): {counts}; {state}"]
        lines += [f"  {line}" for line in entry.record.explained]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.explain()

    @property
    def source(self) -> str:
        """The generated NumPy source of the last record (straight-line code, one line per op)."""
        entry = self._shown()
        if entry is None:
            return ""
        return entry.record.source()

    @property
    def replaying(self) -> bool:
        """True if the last call was (or the next call of the same kind will be) a replay."""
        entry = self._shown()
        return entry is not None and entry.replay is not None and not entry.unsafe


class _Entry:
    """One kind of call: its first record, then (after a second, equal one) the compiled replay.

    A constant of the record (an array made with NumPy inside the function) could have come from
    an input: two records agree on it whenever the two calls had equal inputs. So the replay is
    *verified* only once two records made from inputs of different values agree; until then it is
    used only for inputs equal to the records' (``inputs``), and a call with other values is
    recorded once more and compared.
    """

    def __init__(self, record: _Record):
        self.record = record
        self.replay: Callable | None = None
        self.unsafe = False
        self.verified = False

    def second(self, record: _Record) -> None:
        difference = self.record.differs_from(record)
        if difference is not None:
            record.unsafe = (difference, None)
            self.record, self.replay = record, None
            return
        # (with no array among its constants, nothing in a record can have come from an input)
        self.verified = (
            self.verified
            or not any(isinstance(value, np.ndarray) for _, value in record.constants)
            or not _same_values(self.record.inputs, record.inputs)
        )
        if self.replay is None or self.verified:
            self.record = record
            self.replay = record.compile()

    def may_replay(self, leaves: list) -> bool:
        return (
            self.replay is not None
            and not self.unsafe
            and (self.verified or _same_values(self.record.inputs, _values(leaves)))
        )

    def guards_hold(self) -> bool:
        return self.record.guard()


# ----- the argument structure (the key of a record) and its leaves -----------------------------
def _fast_structure(args: tuple, leaves: list) -> tuple | None:
    """``_structure`` of the common call, positional Tensors and arrays only, in one loop (this
    runs on every call); None for any other call."""
    parts = []
    for arg in args:
        kind = type(arg)
        if kind is Tensor:
            data = arg._data
            parts.append((data.shape, data.dtype, data.strides, arg._requires_grad))
        elif kind is np.ndarray:
            parts.append((arg.shape, arg.dtype, arg.strides))
        else:
            return None
    leaves.extend(args)
    return ("positional", *parts)


def _structure(value: Any, leaves: list) -> Any:
    """A hashable description of an argument tree; Tensors and arrays go into ``leaves``."""
    if type(value) is tuple and len(value) == 2 and type(value[1]) is dict and not value[1]:
        return tuple(_structure(v, leaves) for v in value[0])  # (the common call: no keywords)
    if isinstance(value, Tensor):
        leaves.append(value)
        data = value._data
        return ("T", data.shape, data.dtype, data.strides, value._requires_grad)
    if isinstance(value, np.ndarray):
        leaves.append(value)
        return ("A", value.shape, value.dtype, value.strides)
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(_structure(v, leaves) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _structure(v, leaves)) for k, v in value.items()))
    return ("V", type(value), value)


# ----- recording ---------------------------------------------------------------------------------
def _user_line() -> str | None:
    """'file.py:12 (the line)' of the innermost frame outside tinygrad_sm, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            line = linecache.getline(filename, frame.f_lineno).strip()
            return f"{os.path.basename(filename)}:{frame.f_lineno} ({line})"
        frame = frame.f_back
    return None


def _called_from_package(depth: int = 2) -> bool:
    return os.path.abspath(sys._getframe(depth).f_code.co_filename).startswith(_PACKAGE_DIR)


def _record(fn: Callable, args: tuple, kwargs: dict, leaves: list) -> _Record:
    """Run ``fn`` eagerly once with a recorder on the engine's hooks and Tensor's value reads."""
    record = _Record(leaves)
    record.fn = fn
    record.inputs = [array.copy() for array in _values(leaves)]  # (the values this record saw)
    previous_observer = hooks.observer
    hooks.observer = hooks.recorder = record
    patches = _patch_tensor(record)
    try:
        result = fn(*args, **kwargs)
    finally:
        for name, original in patches:
            if original is _MISSING:
                delattr(Tensor, name)
            else:
                setattr(Tensor, name, original)
        hooks.observer = previous_observer
        hooks.recorder = None
    for leaf, before in zip(leaves, record.inputs):
        if isinstance(leaf, np.ndarray) and not _equal(leaf, before):
            record.mark_unsafe("the function changed an input array in place")
    record.finish(result)
    return record


#: Tensor methods that hand a tensor's numbers to Python (what ``jit`` cannot replay)
_VALUE_READS = (
    "item",
    "tolist",
    "numpy",
    "__float__",
    "__int__",
    "__bool__",
    "__array__",
    "__repr__",
    "__format__",
    "__iter__",
    "__dlpack__",
)
#: Tensor methods computed on the arrays outside the ops (not differentiable): replayed as calls
_ARRAY_METHODS = (
    "argmax",
    "argmin",
    "astype",  # (to or from a non-float dtype: a copy outside the graph)
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__eq__",
    "__ne__",
)


def _patch_tensor(record: _Record) -> list[tuple[str, Any]]:
    """Wrap Tensor's value reads, ``.data``, its array methods, ``__init__`` and ``backward``
    for the duration of one record; returns what to put back."""
    names = (*_VALUE_READS, *_ARRAY_METHODS, "data", "grad", "requires_grad", "__init__")
    names += ("backward", "retain_grad")
    originals = [(name, Tensor.__dict__.get(name, _MISSING)) for name in names]

    def value_read(name, original):
        def read(self, *args, **kwargs):
            if hooks.recorder is record and not _called_from_package():
                record.mark_unsafe(f"{name.strip('_')}() reads a tensor's value into Python")
            return original(self, *args, **kwargs)

        return read

    for name in _VALUE_READS:
        setattr(Tensor, name, value_read(name, getattr(Tensor, name)))

    def array_method(name, original):
        def method(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            if hooks.recorder is record:
                record.array_method(original, self, args, kwargs, result)
            return result

        return method

    for name in _ARRAY_METHODS:
        setattr(Tensor, name, array_method(name, Tensor.__dict__[name]))

    data_property = Tensor.__dict__["data"]

    def get_data(self):
        if hooks.recorder is record and not _called_from_package():
            record.mark_unsafe(".data reads a tensor's array into Python")
        return self._data

    def set_data(self, value):
        if hooks.recorder is record and not _called_from_package():
            record.mark_unsafe(".data = ... changes a tensor outside the recorded ops")
        data_property.fset(self, value)

    Tensor.data = property(get_data, set_data)

    grad_property = Tensor.__dict__["grad"]

    def get_grad(self):
        grad = self._grad
        if grad is not None and hooks.recorder is record and not _called_from_package():
            record.grad_read(self, grad)
        return grad

    def set_grad(self, value):
        grad_property.fset(self, value)
        if hooks.recorder is record:
            record.grad_set(self, value)

    Tensor.grad = property(get_grad, set_grad)

    requires_grad_property = Tensor.__dict__["requires_grad"]

    def set_requires_grad(self, value):
        if hooks.recorder is record and all(self is not t for t in record.initializing):
            record.mark_unsafe("requires_grad is changed inside the function")
        requires_grad_property.fset(self, value)

    Tensor.requires_grad = property(requires_grad_property.fget, set_requires_grad)

    original_init = Tensor.__dict__["__init__"]

    def init(self, data, *args, **kwargs):
        record.initializing.append(self)  # (Tensor(x, requires_grad=True) sets it: not a change)
        try:
            original_init(self, data, *args, **kwargs)
        finally:
            record.initializing.pop()
        if hooks.recorder is record:
            record.tensor_made(self, data)

    Tensor.__init__ = init

    original_backward = Tensor.__dict__["backward"]

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        if hooks.recorder is not record:
            return original_backward(self, gradient, retain_graph, create_graph)
        record.begin_backward(self, gradient, retain_graph, create_graph)
        original_backward(self, gradient, retain_graph, create_graph)
        record.end_backward()

    Tensor.backward = backward

    original_retain = Tensor.__dict__["retain_grad"]

    def retain_grad(self):
        if hooks.recorder is record:
            record.mark_unsafe("retain_grad() keeps a gradient the replay does not make")
        original_retain(self)

    Tensor.retain_grad = retain_grad
    return originals


def _literal(value: Any) -> bool:
    """True for a value whose repr is itself in the generated source (numbers, strings, tuples)."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return bool(np.isfinite(value))
    if type(value) is tuple:
        return all(_literal(v) for v in value)
    return False


class _OpRecord:
    """One op of a record: its class (and its name in the code), the node the eager call made, and
    the arrays and settings forward got (what ``compile`` runs ``check`` on once)."""

    __slots__ = ("cls", "record_ctx", "kwargs", "arrays", "klass")

    def __init__(self, cls, record_ctx, kwargs, arrays):
        self.cls, self.record_ctx, self.kwargs, self.arrays = cls, record_ctx, kwargs, arrays
        self.klass = ""


class _Record:
    """The recorder (the engine's observer during one eager call) and what it recorded."""

    def __init__(self, leaves: list):
        self.code: list[str] = []  # the body of the replay function
        self.explained: list[str] = []  # print(step)
        self.namespace: dict[str, Any] = {
            "np": np,
            "_ndarray": np.ndarray,
            "_float32": _FLOAT32,
            "_tensor": _tensor,
            "_make": Tensor._make,
            "_output_array": _output_array,
            "_as_gradient_array": _as_gradient_array,
            "_add": add_gradients,
            "_fit": fit_gradient_to_input,
            "_LeafSink": LeafSink,
            "_view": _view,
            "_fresh_ctx": _fresh_ctx,
        }
        self.constants: list[tuple[str, Any]] = []  # (name, value) of what the code uses as it is
        self.snapshots: dict[
            str, Any
        ] = {}  # name -> a copy of its value, compared with a second call
        self.slot_of: dict[int, str] = {}  # id(array) -> its variable in the code
        self.keep: list[Any] = []  # every array seen, alive, so that ids stay unique
        self.ops: list[_OpRecord] = []
        self.op_of_ctx: dict[int, int] = {}  # id(ctx) -> index into self.ops
        self.module_settings: list[dict] = []  # each module's plain attributes when first called
        self.inputs: list[np.ndarray] = []  # copies of the arrays of the call's arguments
        self.guard: Callable[[], bool] = _always
        self.modes_set: set[int] = set()  # ids of modules whose mode the function sets itself
        self.modules: list[Any] = []  # every module called, the outermost first
        self.effects = 0  # calls of replayed_by_jit code
        self.backwarded: set[int] = set()  # the ops whose backward ran in the call
        self.parameters: dict[str, Tensor] = {}  # variable -> the Tensor from outside it reads
        self.unsafe: tuple[str, str | None] | None = None
        self.counter = 0
        self.backward_state: dict | None = None
        self.tensor_names: dict[int, str] = {}  # id(free Tensor) -> its name
        self.holders: dict[str, Tensor] = {}  # that name -> the Tensor (inputs[i] for an input)
        self.result: Any = None
        self.fn: Callable | None = None
        self.input_arrays: list[tuple[str, np.ndarray]] = []
        self.initializing: list[Tensor] = []  # the Tensors whose __init__ runs now
        # the variables that are an input's array or a view of it
        self.input_views: set[str] = set()
        self.return_code: str = "None"
        self._inputs(leaves)

    # ----- names ------------------------------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any, prefix: str = "C") -> str:
        """A name in the namespace for a value the code uses as it is."""
        if _literal(value):
            return repr(value)
        for name, existing in self.constants:
            if existing is value:
                return name
        name = self.fresh(prefix)
        self.namespace[name] = value
        self.keep.append(value)
        snapshot = value.copy() if isinstance(value, np.ndarray) else value
        self.constants.append((name, value))
        self.snapshots[name] = snapshot
        return name

    def _inputs(self, leaves: list) -> None:
        for i, leaf in enumerate(leaves):
            name = f"x{i}"
            if isinstance(leaf, Tensor):
                self.code.append(f"{name} = inputs[{i}]._data")
                self.tensor_names[id(leaf)] = f"inputs[{i}]"
                self.holders[f"inputs[{i}]"] = leaf
                self.slot_of[id(leaf._data)] = name
                self.keep.append(leaf._data)
            else:
                self.code.append(f"{name} = inputs[{i}]")
                self.slot_of[id(leaf)] = name
            self.keep.append(leaf)
            self.input_arrays.append((name, leaf._data if isinstance(leaf, Tensor) else leaf))
            self.input_views.add(name)

    def class_name(self, cls: type) -> str:
        """The op's class under its own name in the code (``Linear.forward(...)``)."""
        name = cls.__name__ if cls.__name__.isidentifier() else "Op"
        candidate, i = name, 1
        while self.namespace.get(candidate, cls) is not cls:
            i += 1
            candidate = f"{name}_{i}"
        self.namespace[candidate] = cls
        return candidate

    def mark_unsafe(self, reason: str) -> None:
        if self.unsafe is None:
            self.unsafe = (reason, _user_line())

    # ----- values: where each array an op reads comes from ------------------------------------
    def tensor(self, t: Tensor) -> str:
        """The variable holding a Tensor's array: an input's, an op's output, or a parameter
        (any Tensor from outside the call) read afresh on each replay."""
        name = self.slot_of.get(id(t._data))
        if name is not None:
            return name
        holder = self.tensor_name(t)
        name = self.fresh("p")
        self.code.append(f"{name} = {holder}._data")
        self.parameters[name] = t
        self.slot_of[id(t._data)] = name
        self.keep.append(t._data)
        return name

    def tensor_name(self, t: Tensor) -> str:
        name = self.tensor_names.get(id(t))
        if name is None:
            name = self.tensor_names[id(t)] = self.fresh("P")
            self.namespace[name] = t
            self.holders[name] = t
            self.keep.append(t)
        return name

    def value(self, value: Any) -> str:
        """The source text for one argument of an op or effect."""
        if isinstance(value, Tensor):
            return self.tensor(value)
        if isinstance(value, np.ndarray):
            name = self.slot_of.get(id(value))
            if name is None:
                name = self.view_of_input(value)
            return name if name is not None else self.constant(value)
        if type(value) in (tuple, list) and any(isinstance(v, Tensor | np.ndarray) for v in value):
            parts = ", ".join(self.value(v) for v in value)
            return f"({parts},)" if type(value) is tuple else f"[{parts}]"
        return self.constant(value)

    def view_of_input(self, array: np.ndarray) -> str | None:
        """A view of an input array made with NumPy inside the function (``targets.reshape(-1)``),
        as the same view of the new input (else the array would be a constant of the record)."""
        start = array.__array_interface__["data"][0]
        for name, source in self.input_arrays:
            if source.dtype != array.dtype or not source.flags.c_contiguous:
                continue
            offset = start - source.__array_interface__["data"][0]
            if not 0 <= offset < source.nbytes or not np.shares_memory(array, source):
                continue
            if offset == 0 and array.flags.c_contiguous and array.size == source.size:
                view = f"{name}.reshape({array.shape!r})"
            else:
                view = (
                    f"_view({name}, {offset // array.itemsize}, {array.shape!r}, {array.strides!r})"
                )
            out = self.output(array)
            self.code.append(f"{out} = {view}")
            self.input_views.add(out)
            return out
        return None

    def output(self, data: np.ndarray, prefix: str = "v") -> str:
        name = self.fresh(prefix)
        self.slot_of[id(data)] = name
        self.keep.append(data)
        return name

    # ----- the engine's observer: forward ------------------------------------------------------
    def after_forward(self, cls, ctx, data, args, kwargs) -> None:
        if self.backward_state is not None:
            self.mark_unsafe(f"{cls.name or cls.__name__} ran inside backward (create_graph)")
            return
        arguments = [self.value(a) for a in args]
        settings = [f"{key}={self.value(v)}" for key, v in kwargs.items()]
        arrays = [a._data if isinstance(a, Tensor) else a for a in args]
        self.keep.append(arrays)
        fix = data.ndim == 0 or data.dtype is not _FLOAT32 or _tensor._default_dtype is not _FLOAT32
        out = self.output(data)
        index = len(self.ops)
        name = cls.name or cls.__name__
        line = _user_line()
        op = _OpRecord(cls, ctx, dict(kwargs), arrays)
        self.ops.append(op)
        self.op_of_ctx[id(ctx)] = index
        op.klass = klass = self.class_name(cls)
        call = ", ".join([f"c{index}", *arguments, *settings])
        if not cls.__module__.startswith(_BUILT_IN):  # a user's op: a fresh ctx each call, as apply
            self.code.append(f"c{index} = _fresh_ctx(c{index}_checked)")
        self.code.append(f"{out} = {klass}.forward({call})  # {name}")
        if fix:  # (as apply: NumPy's scalars and its other float dtypes become PyTorch's result)
            self.code.append(
                f"if type({out}) is not _ndarray or {out}.dtype is not _float32 or "
                f"_tensor._default_dtype is not _float32: "
                f"{out} = _output_array({klass}, c{index}, {out}, [{', '.join(arguments)}])"
            )
        self.explained.append(
            f"{out} = {name}({', '.join([*arguments, *settings])})"
            + (f"    # {line}" if line else "")
        )

    def array_method(self, method, tensor: Tensor, args: tuple, kwargs: dict, result: Any) -> None:
        """argmax, a comparison: computed on arrays, replayed as the same call on the new ones."""
        if self.backward_state is not None or not isinstance(result, Tensor):
            return
        if id(result._data) in self.slot_of:  # (astype between floats is an op: recorded as one)
            return
        arguments = [self.tensor(tensor), *(self.value(a) for a in args)]
        settings = [f"{key}={self.value(v)}" for key, v in kwargs.items()]
        function = self.constant(method, "M")
        out = self.output(result._data)
        call = ", ".join([f"_make({arguments[0]})", *arguments[1:], *settings])
        self.code.append(f"{out} = {function}({call})._data  # {method.__name__}")
        self.explained.append(f"{out} = {method.__name__}({', '.join([*arguments, *settings])})")

    def tensor_made(self, t: Tensor, data: Any) -> None:
        """``Tensor(x)`` of an input or of an op's output copies it: the copy is that value."""
        source = data._data if isinstance(data, Tensor) else data
        name = None
        if isinstance(source, np.ndarray):
            name = self.slot_of.get(id(source)) or self.view_of_input(source)
        if name is None:  # made from numbers: a constant, compared with the second call's
            name = self.constant(t._data)
            self.slot_of[id(t._data)] = name
        elif t._data.dtype == source.dtype:
            self.slot_of[id(t._data)] = name
            self.keep.append(t._data)
        else:
            out = self.output(t._data)
            self.code.append(f"{out} = {name}.astype({self.constant(t._data.dtype)})")
            name = out
        if t._requires_grad:  # a leaf made inside the function: a new one on every replay
            holder = self.fresh("T")
            self.code.append(f"{holder} = _make({name}, True)")
            self.tensor_names[id(t)] = holder
            self.holders[holder] = t
            self.keep.append(t)

    def grad_read(self, t: Tensor, grad: Tensor) -> None:
        """``t.grad`` read inside the function (a gradient norm for the log): on a replay, the
        gradient ``t`` has at that point."""
        holder = self.tensor_names.get(id(t))
        if holder is None:
            if id(t._data) in self.slot_of and not self.slot_of[id(t._data)].startswith("p"):
                self.mark_unsafe(".grad of a tensor computed inside the function")
                return
            holder = self.tensor_name(t)
        name = self.fresh("p")
        self.code.append(f"{name} = {holder}._grad._data")
        self.slot_of[id(grad._data)] = name
        self.keep.append(grad._data)

    def grad_set(self, t: Tensor, value: Any) -> None:
        """``t.grad = None`` (or ``t.zero_grad()``) inside the function: done on every replay."""
        if value is not None:
            self.mark_unsafe(".grad = a tensor inside the function is not replayed")
            return
        holder = self.tensor_name(t)
        self.code.append(f"{holder}._grad = None")
        self.explained.append(f"{holder}.grad = None")

    def module_called(self, module: Any) -> None:
        """A replay is right only while the module is in the mode it was recorded in (Dropout,
        BatchNorm), unless the function itself sets the mode (``model.train()`` inside it)."""
        if all(m is not module for m in self.modules):
            self.modules.append(module)
            self.module_settings.append(_settings(module))

    # ----- changes outside the graph ------------------------------------------------------------
    def effect(
        self, function: Callable, args: tuple, kwargs: dict, replay: str | None = None
    ) -> Any:
        """Run a change outside the graph (``replayed_by_jit``) now, and on every replay."""
        args = tuple(list(a) if inspect.isgenerator(a) else a for a in args)
        for value in (*args, *kwargs.values()):
            if isinstance(value, Tensor) and id(value._data) in self.slot_of:
                if not self.slot_of[id(value._data)].startswith("p"):
                    self.mark_unsafe(
                        f"{function.__qualname__} was given a tensor computed inside the function"
                    )
        hooks.recorder, hooks.observer = None, None  # (its own ops and effects are its business)
        try:
            result = function(*args, **kwargs)
        finally:
            hooks.recorder = hooks.observer = self
        if function.__name__ == "train":  # Module.train: the replay sets these modules' mode too
            self.modes_set.update(id(module) for module in args[0].modules())
        if replay is not None:
            if kwargs or len(args) > 1:  # (optimizer.step(closure))
                self.mark_unsafe(f"{function.__qualname__} with arguments is not replayed")
            again = getattr(args[0], replay)
        else:
            again = functools.partial(function, *args, **kwargs)
        name = self.constant(again, "E")
        self.effects += 1
        label = function.__qualname__
        call = f"{name}()"
        if isinstance(result, Tensor):
            out = self.output(result._data)
            self.code.append(f"{out} = {call}._data  # {label}")
            self.explained.append(f"{out} = {label}(...)")
        elif isinstance(result, np.ndarray):
            out = self.output(result)
            self.code.append(f"{out} = {call}  # {label}")
            self.explained.append(f"{out} = {label}(...)")
        else:
            self.code.append(f"{call}  # {label}")
            self.explained.append(f"{label}(...)")
        return result

    # ----- backward -----------------------------------------------------------------------------
    def begin_backward(self, output: Tensor, gradient: Any, retain_graph: Any, create_graph: bool):
        if retain_graph or create_graph:
            self.mark_unsafe("backward(retain_graph=True / create_graph=True) is not replayed")
        if self.backward_state is not None or not isinstance(output, Tensor):
            self.mark_unsafe("backward() inside backward()")
            return
        if self.unsafe is not None or not output._requires_grad:
            self.backward_state = {"skip": True}
            return
        seed = seed_gradient(output, gradient, False, "backward")
        if gradient is None:
            shape, dtype = output._data.shape, self.constant(output._data.dtype)
            # (a fresh array each call, as seed_gradient makes; np.array(1) is 4x faster for 0-d)
            source = f"np.array(1, {dtype})" if shape == () else f"np.ones({shape!r}, {dtype})"
        else:
            given = gradient._data if isinstance(gradient, Tensor) else gradient
            source = self.value(gradient)
            if not (isinstance(given, np.ndarray) and given is seed):
                source = f"np.asarray({source}, {self.constant(seed.dtype)})"
        name = self.fresh("g")
        self.code.append(f"# backward of {self.slot_of.get(id(output._data), '?')}")
        self.code.append(f"{name} = {source}")
        # (the engine's sink stores the gradients: the same copies where an array is shared)
        sink = self.fresh("sink")
        self.code.append(f"{sink} = _LeafSink(False)")
        self.code.append(f"{sink}.owned_elsewhere({name})")
        self.explained.append(f"backward of {self.slot_of.get(id(output._data), '?')}")
        # key -> (variable, simulated value): ("op", index) for a node's output, ("leaf", id)
        pending: dict[Any, tuple[str, Any]] = {}
        self.backward_state = {"pending": pending, "leaves": {}, "sink": sink}
        pending[self.key(output)] = (name, seed)
        if output._retains_grad:
            self.mark_unsafe("retain_grad() keeps a gradient the replay does not make")

    def key(self, t: Tensor) -> Any:
        """Where a tensor's gradient is summed: its node's op, or the leaf itself."""
        if t._node is None:
            self.backward_state["leaves"][id(t)] = t
            return ("leaf", id(t))
        index = self.op_of_ctx.get(id(t._node))
        if index is None:
            self.mark_unsafe("backward() through a graph built before the function was called")
            return ("unknown", id(t))
        return ("op", index)

    def after_backward(self, node: Function, grad: Any, results: tuple) -> None:
        state = self.backward_state
        if state is None:
            self.mark_unsafe("a backward pass outside Tensor.backward() (tinygrad_sm.grad)")
            return
        if "skip" in state or self.unsafe is not None:
            return
        index = self.op_of_ctx.get(id(node))
        if index is None:
            self.mark_unsafe("backward() through a graph built before the function was called")
            return
        op = self.ops[index]
        pending = state["pending"]
        entry = pending.pop(("op", index), None)
        if entry is None or not _same(entry[1], grad):
            self.mark_unsafe("jit could not follow the engine's backward pass")
            return
        grad_name = entry[0]
        self.backwarded.add(index)
        label = op.cls.name or op.cls.__name__
        result_name = self.fresh("r")
        self.code.append(f"{result_name} = {op.klass}.backward(c{index}, {grad_name})  # {label}")
        # (the observer sees the rule's result matched to the inputs; a rule may return a lone
        # gradient, or leave out trailing Nones: the replay reads only the entries that were there)
        self.code.append(f"if type({result_name}) is not tuple: {result_name} = ({result_name},)")
        raw = results
        sent = []
        for i, (parent, value) in enumerate(zip(node.inputs, raw)):
            if value is None or parent is None or not parent._requires_grad:
                continue
            if parent._node is not None and parent._retains_grad:
                self.mark_unsafe("retain_grad() keeps a gradient the replay does not make")
            expression = f"{result_name}[{i}]"
            if type(value) is not np.ndarray:
                value = _as_gradient_array(value, node)
                expression = f"_as_gradient_array({expression}, c{index})"
            data = parent._data
            if value.shape != data.shape or value.dtype != data.dtype:
                value = fit_gradient_to_input(value, parent, node)  # (the engine's own step)
                expression = f"_fit({expression}, c{index}.inputs[{i}], c{index})"
            key = self.key(parent)
            so_far = pending.get(key)
            if so_far is None:
                name = self.fresh("g")
                self.code.append(f"{name} = {expression}")
                pending[key] = (name, value)
            else:
                name = so_far[0]
                self.code.append(f"{name} = _add({name}, {expression})")
                pending[key] = (name, add_gradients(so_far[1], value))
            sent.append(name)
        self.explained.append(f"  {label}.backward({grad_name}) -> {', '.join(sent) or 'nothing'}")

    def end_backward(self) -> None:
        state, self.backward_state = self.backward_state, None
        if state is None or "skip" in state or self.unsafe is not None:
            return
        for key, (name, _) in state["pending"].items():
            if key[0] != "leaf":
                self.mark_unsafe("jit could not follow the engine's backward pass")
                return
            leaf = state["leaves"][key[1]]
            if not leaf._requires_grad:
                continue
            holder = self.tensor_name(leaf)
            self.code.append(f"{state['sink']}.store({holder}, {name})")
            self.explained.append(f"  {holder}.grad += {name}")

    # ----- the end of the call -------------------------------------------------------------------
    def finish(self, result: Any) -> None:
        self.result = result
        if self.backward_state is not None:
            self.mark_unsafe("backward() did not finish")
        self.return_code = self.returned(result)
        self.name_the_parameters()
        self.guard = self.make_guard()

    def binding_conditions(self, namespace: dict) -> list[str]:
        """The function still sees the same modules, optimisers and tensors under the global and
        closure names it uses (a notebook cell that makes a new ``model`` records again)."""
        fn = getattr(self.fn, "__func__", self.fn)
        code, conditions = getattr(fn, "__code__", None), []
        if code is None:
            return conditions
        namespace["_globals"] = fn.__globals__
        for name in code.co_names:
            value = fn.__globals__.get(name)
            if _stateful(value):
                namespace[f"bound_{name}"] = value
                conditions.append(f"_globals.get({name!r}) is bound_{name}")
        for i, cell in enumerate(fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # (an empty cell)
                continue
            if _stateful(value):
                namespace[f"cell{i}"], namespace[f"cell{i}_value"] = cell, value
                conditions.append(f"cell{i}.cell_contents is cell{i}_value")
        return conditions

    def make_guard(self) -> Callable[[], bool]:
        """A function that says whether a replay is still right: every module called has the mode
        and plain settings (Dropout's p, a LeakyReLU's slope) it had, holds the same parameters,
        and every tensor read from outside has its shape, dtype and requires_grad."""
        conditions = []
        namespace = dict(self.namespace)
        for index, (module, before) in enumerate(zip(self.modules, self.module_settings)):
            name = f"module{index}"  # (not a constant of the record: it may be made in each call)
            namespace[name] = module
            after = _settings(module)
            for key, value in before.items():
                if value != value:  # (a nan setting equals nothing, itself included)
                    continue
                if key == "training" and id(module) in self.modes_set:
                    continue  # (the function sets it itself)
                if after.get(key, _MISSING) != value:
                    self.mark_unsafe(
                        f"the function changes {type(module).__name__}.{key}, which a replay "
                        "does not change"
                    )
                    return _always
                shown = self.constant(value)
                test = "is" if value is None or type(value) is bool else "=="
                conditions.append(f"{name}.{key} {test} {shown}")
            for key, value in module.__dict__.items():
                holder = self.tensor_names.get(id(value)) if isinstance(value, Tensor) else None
                if holder is not None and holder.startswith("P") and key.isidentifier():
                    conditions.append(f"{name}.{key} is {holder}")
        conditions += self.binding_conditions(namespace)
        for holder, t in self.holders.items():
            if holder.startswith("P"):
                data = t._data
                conditions.append(f"{holder}._requires_grad is {t._requires_grad}")
                conditions.append(f"{holder}._data.shape == {data.shape!r}")
                conditions.append(f"{holder}._data.dtype == {self.constant(data.dtype)}")
        if not conditions:
            return _always
        source = (
            "def guard():\n    return (\n"
            + "".join(f"        {c} and\n" for c in conditions)
            + "        True\n    )\n"
        )
        namespace.update(self.namespace)
        exec(compile(source, "<tinygrad_sm.jit guard>", "exec"), namespace)  # noqa: S102
        return namespace["guard"]

    def name_the_parameters(self) -> None:
        """Call the tensors read from outside by their names in the modules called
        (``layers.0.weight``), in the listing and in a comment of the code."""
        names: dict[int, str] = {}
        for module in self.modules:
            for name, tensor in (*module.named_parameters(), *module.named_buffers()):
                names.setdefault(id(tensor), name)
        shown = {var: names[id(t)] for var, t in self.parameters.items() if id(t) in names}
        holders = {var: names[key] for key, var in self.tensor_names.items() if key in names}
        if not shown:
            return
        listed = {**shown, **holders}
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, listed)) + r")\b")
        self.explained = [
            pattern.sub(lambda m: listed[m.group(1)], line) for line in self.explained
        ]
        self.code = [
            f"{line}  # {shown[line.split(' = ')[0]]}" if line.split(" = ")[0] in shown else line
            for line in self.code
        ]

    def returned(self, value: Any) -> str:
        if isinstance(value, Tensor):
            node = value._node
            if node is not None and not self.backwarded:
                self.mark_unsafe(
                    "the function returns a tensor with a graph and runs no backward() itself: "
                    "a replay builds none (jit the whole training step, or call it under no_grad)"
                )
            for holder, t in self.holders.items():  # a gradient the call stored: t.grad
                if t._grad is value:
                    return f"{holder}._grad"
            holder = self.tensor_names.get(id(value))
            if holder is not None and holder.startswith("T"):  # a leaf made inside the function
                return holder
            name = self.slot_of.get(id(value._data))
            if name is None or name.startswith("p"):
                return self.tensor_name(value)
            if (
                name in self.input_views
            ):  # (Tensor(x) copies x: a replay's result must not share it)
                return f"_make({name}.copy())"
            return f"_make({name})"
        if isinstance(value, np.ndarray):
            name = self.slot_of.get(id(value))
            return name if name is not None else self.constant(value)
        if type(value) in (tuple, list):
            parts = ", ".join(self.returned(v) for v in value)
            return f"({parts},)" if type(value) is tuple else f"[{parts}]"
        if type(value) is dict:
            return "{" + ", ".join(f"{k!r}: {self.returned(v)}" for k, v in value.items()) + "}"
        return self.constant(value)

    def source(self) -> str:
        body = [*self.code, f"return {self.return_code}"]
        return "def replay(inputs):\n" + "\n".join(f"    {line}" for line in body) + "\n"

    # ----- comparing two records; compiling ------------------------------------------------------
    def differs_from(self, other: _Record) -> str | None:
        """Why two records of one kind of call differ, or None if they are the same program."""
        if other.source() != self.source():
            mine, theirs = self.source().splitlines(), other.source().splitlines()
            for a, b in zip(mine, theirs):
                if a != b:
                    return f"two calls recorded different programs ({a.strip()!r} vs {b.strip()!r})"
            return "two calls recorded programs of different lengths"
        for name in self.tensor_names.values():
            if name.startswith("P") and self.namespace[name] is not other.namespace.get(name):
                return f"two calls used different tensors from outside the function ({name})"
        for name, value in self.constants:
            if not _equal(self.snapshots[name], other.snapshots.get(name)):
                kind = "an array" if isinstance(value, np.ndarray) else type(value).__name__
                return (
                    f"{kind} made inside the function ({name} in step.source) changed between two "
                    "calls (NumPy or random numbers outside the ops?)"
                )
        return None

    def compile(self) -> Callable:
        """The replay function: the generated code, with each op's ctx made and checked once."""
        for index, op in enumerate(self.ops):
            cls, record_ctx = op.cls, op.record_ctx
            ctx = cls.__new__(cls)  # (as apply makes it)
            ctx._saved = ()
            ctx.needs_input_grad = record_ctx.needs_input_grad
            inputs = getattr(record_ctx, "inputs", None)
            if (
                inputs is not None
            ):  # (stand-ins of the record's tensors: shape, dtype, requires_grad)
                ctx.inputs = tuple(None if t is None else _stand_in(t) for t in inputs)
            if cls.check is not None:
                cls.check(ctx, *op.arrays, **{k: _unwrap(v) for k, v in op.kwargs.items()})
            self.namespace[f"c{index}"] = self.namespace[f"c{index}_checked"] = ctx
        source = self.source()
        filename = f"<tinygrad_sm.jit replay {next(_replay_numbers)}>"
        # (in linecache, a traceback through the replay shows the generated line that raised)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), self.namespace)  # noqa: S102
        replay = self.namespace["replay"]
        # the record's own arrays are no longer needed: drop them
        self.keep = []
        self.slot_of = {}
        self.op_of_ctx = {}
        for op in self.ops:
            op.record_ctx = op.arrays = None
        return replay


def _fresh_ctx(checked: Function) -> Function:
    """A new ctx for a user's op, as ``apply`` makes one for every call: what check stored, and the
    engine's fields; nothing a forward of an earlier call left on it."""
    ctx = type(checked).__new__(type(checked))
    ctx._saved = ()
    ctx.needs_input_grad = checked.needs_input_grad
    inputs = getattr(checked, "inputs", None)
    if inputs is not None:
        ctx.inputs = inputs
    ctx.__dict__.update(checked.__dict__)
    return ctx


def _stand_in(t: Tensor) -> Tensor:
    """A tensor of ``t``'s shape, dtype and requires_grad that holds no memory."""
    return Tensor._make(
        np.broadcast_to(np.zeros((), t._data.dtype), t._data.shape), t._requires_grad
    )


def _stateful(value: Any) -> bool:
    """A module, an optimiser or a tensor: what a jitted function reads state from."""
    return (
        isinstance(value, Tensor)
        or hasattr(value, "param_groups")
        or (hasattr(value, "named_parameters") and hasattr(value, "training"))
    )


def _always() -> bool:
    return True


def _settings(module: Any) -> dict:
    """A module's plain settings: its public attributes that hold a number, a string, None or a
    tuple of those (``training``, ``p``, ``eps``, ``negative_slope``, ...)."""
    settings = {
        key: value
        for key, value in vars(module).items()
        if not key.startswith("_") and key.isidentifier() and _plain(value)
    }
    settings["training"] = module.training  # (a class attribute until train() or eval() sets it)
    return settings


def _plain(value: Any) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    return type(value) is tuple and all(_plain(v) for v in value)


def _values(leaves: list) -> list:
    """The arrays of a call's Tensor and array arguments."""
    return [leaf._data if isinstance(leaf, Tensor) else leaf for leaf in leaves]


def _same_values(a: list, b: list) -> bool:
    return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))


def _unwrap(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


def _same(simulated: Any, grad: Any) -> bool:
    """The gradient the engine handed a rule is the one the record computed for it."""
    grad = grad._data if isinstance(grad, Tensor) else grad
    return (
        isinstance(simulated, np.ndarray)
        and isinstance(grad, np.ndarray)
        and simulated.shape == grad.shape
        and simulated.dtype == grad.dtype
        and np.array_equal(simulated, grad, equal_nan=True)
    )


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return (
            a.func == b.func
            and len(a.args) == len(b.args)
            and all(x is y or _equal(x, y) for x, y in zip(a.args, b.args))
        )
    try:
        return a is b or bool(a == b)
    except Exception:  # (an object whose == is not a bool)
        return False


# ----- the helpers the generated code calls ------------------------------------------------------
def _view(array: np.ndarray, start: int, shape: tuple, strides: tuple) -> np.ndarray:
    """The view of ``array``'s elements from ``start`` on with ``shape`` and ``strides``."""
    return np.lib.stride_tricks.as_strided(array.reshape(-1)[start:], shape, strides)


# ----- what library code outside the ops uses ----------------------------------------------------
def replayed_by_jit(method: Callable | None = None, *, replay: str | None = None) -> Callable:
    """Decorator for library code that changes state outside the graph (an optimiser's step,
    ``zero_grad``, a dropout mask, a running counter): inside a function that ``jit`` records, the
    call is recorded whole and called again on every replay -- or, with ``replay="name"``, the
    method of that name of the same object (``step`` replays as ``_replay_step``: no re-checks),
    with no arguments."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            recorder = hooks.recorder
            if recorder is None:
                return method(*args, **kwargs)
            return recorder.effect(method, args, kwargs, replay)

        return wrapper

    return decorate if method is None else decorate(method)


def mark_unsafe(reason: str, value: Any = _MISSING) -> None:
    """Library code that hands a tensor's value to Python inside a recorded function says so;
    with ``value``, only if that tensor or array is one the call computed or was given (an
    argument's mask), not a constant from outside it."""
    recorder = hooks.recorder
    if recorder is None:
        return
    if value is not _MISSING:
        array = value._data if isinstance(value, Tensor) else value
        if not isinstance(array, np.ndarray) or (
            id(array) not in recorder.slot_of
            and not any(np.shares_memory(array, a) for _, a in recorder.input_arrays)
        ):
            return
    recorder.mark_unsafe(reason)
