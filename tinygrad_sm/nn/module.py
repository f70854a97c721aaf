"""Module: a callable that owns parameters, found by walking its attributes.

A module needs no registration calls. Its parameters and sub-modules are
discovered by walking ``vars(self)`` in attribute definition order:

* a leaf ``Tensor`` with ``requires_grad=True`` is a parameter;
* a ``Module`` is a child;
* a list, tuple or dict is walked item by item (``self.layers = [Linear(...), ...]``
  gives the names ``layers.0.weight``, ``layers.1.weight``, ...).

Names are dotted attribute paths, as in PyTorch: a module's own parameters come
first, then each child's, recursively.

Buffers are the tensors a module keeps but does not train (BatchNorm's running
statistics): ``register_buffer(name, array)`` makes ``module.name`` a Tensor with
``requires_grad=False`` that ``state_dict()`` holds after the module's own
parameters (PyTorch's order) and ``load_state_dict`` fills, but that
``parameters()`` never lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..grad_mode import hooks
from ..replay import replayed_by_jit
from ..tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match (as PyTorch returns)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _as_array(value: Any) -> np.ndarray:
    """An array-like (an ndarray, a Tensor, a PyTorch tensor, nested lists, ...) as an ndarray,
    without importing PyTorch: anything with ``.detach()`` is detached (and moved to the CPU)
    first, since NumPy cannot read a tensor that requires grad."""
    if isinstance(value, Tensor):
        return value.data
    if callable(getattr(value, "detach", None)):
        value = value.detach()
        if callable(getattr(value, "cpu", None)):
            value = value.cpu()
    return np.asarray(value)


def _is_parameter(tensor: Tensor, was_parameter: bool = False) -> bool:
    """A leaf that requires grad, or that did when it was assigned (``was_parameter``: frozen
    since, with ``requires_grad = False``, it stays a parameter, as in PyTorch); a computed
    tensor kept on the module (e.g. a cached activation) is not one."""
    return tensor.is_leaf and (tensor.requires_grad or was_parameter)


def _walk_container(
    name: str, value: Any, parameter_names: Any = frozenset()
) -> list[tuple[str, Module | Tensor]]:
    """The modules and parameters inside ``value`` (a Module, or lists, tuples and dicts of them),
    with dotted names (``parameter_names``: those that held a parameter when assigned)."""
    if isinstance(value, Module):
        return [(name, value)]
    if isinstance(value, Tensor):
        return [(name, value)] if _is_parameter(value, name in parameter_names) else []
    if isinstance(value, list | tuple):
        items = [(f"{name}.{i}", item) for i, item in enumerate(value)]
    elif isinstance(value, dict):
        items = [(f"{name}.{key}", item) for key, item in value.items() if isinstance(key, str)]
    else:
        return []
    return [
        entry
        for item_name, item in items
        for entry in _walk_container(item_name, item, parameter_names)
    ]


def _check_attribute_name(what: str, name: Any) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{what}: name must be a non-empty str without '.', got {name!r}")


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        kind = "a non-leaf Tensor" if not value.is_leaf else "a Tensor that does not require grad"
        return f"{kind} of shape {value.shape}"
    return f"a {type(value).__name__}"


class Module:
    """Base class of every layer and model.

    Subclasses set attributes in ``__init__`` (no ``super().__init__()`` needed)
    and define ``forward``; calling the module calls ``forward``.

    Example::

        class TwoLayer(Module):
            def __init__(self):
                self.fc1 = Linear(4, 8)
                self.fc2 = Linear(8, 3)

            def forward(self, x):
                return self.fc2(self.fc1(x).relu())

        [name for name, _ in TwoLayer().named_parameters()]
        # ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    #: True in training mode (``train()``), False in evaluation mode (``eval()``).
    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if hooks.recorder is not None:  # a jit record replays only while this module's mode is kept
            hooks.recorder.module_called(self)
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        # remember the names that hold parameters when assigned, so that a parameter frozen
        # later (requires_grad = False) is still one: in parameters() and state_dict()
        if isinstance(value, Tensor | list | tuple | dict):
            entries = _walk_container(name, value)
            held = [entry for entry, item in entries if isinstance(item, Tensor)]
            if held:
                self.__dict__.setdefault("_parameter_names", set()).update(held)
        object.__setattr__(self, name, value)

    # ----- discovery ----------------------------------------------------------------
    def _members(self) -> Iterator[tuple[str, Any]]:
        """The (name, value) pairs to search for parameters and children:
        the instance attributes."""
        return iter(vars(self).items())

    def _split_members(self) -> tuple[list[tuple[str, Tensor]], list[tuple[str, Module | Tensor]]]:
        """This module's own parameters (Tensor attributes), then everything nested, in
        definition order.

        Nested entries are sub-modules and the parameters found inside lists,
        tuples and dicts (which play the part of PyTorch's ModuleList,
        ParameterList and ModuleDict), each with its dotted name.
        """
        own: list[tuple[str, Tensor]] = []
        nested: list[tuple[str, Module | Tensor]] = []
        parameter_names = vars(self).get("_parameter_names", frozenset())
        for name, value in self._members():
            if isinstance(value, Tensor):
                if _is_parameter(value, name in parameter_names):
                    own.append((name, value))
            else:
                nested.extend(_walk_container(name, value, parameter_names))
        return own, nested

    def _own_buffers(self, persistent_only: bool) -> list[tuple[str, Tensor]]:
        """This module's buffers that are not None, in registration order."""
        registered: dict[str, bool] = vars(self).get("_buffer_names", {})
        buffers = []
        for name, persistent in registered.items():
            value = getattr(self, name, None)
            if value is None or (persistent_only and not persistent):
                continue
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: buffer {name!r} holds a {type(value).__name__}; "
                    "assign a Tensor (or None) to a buffer"
                )
            buffers.append((name, value))
        return buffers

    def register_parameter(self, name: str, param: Tensor | None) -> None:
        """``self.<name> = param``, PyTorch's explicit form: ``param`` a leaf Tensor that requires
        grad, or None (a placeholder, as an absent bias: not in ``state_dict()``)."""
        _check_attribute_name("register_parameter", name)
        if param is not None and not (isinstance(param, Tensor) and _is_parameter(param)):
            raise TypeError(
                f"register_parameter: {name!r} must be a leaf Tensor that requires grad "
                f"(Tensor(data, requires_grad=True)) or None, got {_describe(param)}"
            )
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """``self.<name> = module``, PyTorch's explicit form (``register_module`` too)."""
        _check_attribute_name("add_module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"add_module: {name!r} must be a Module or None, got {_describe(module)}"
            )
        setattr(self, name, module)

    register_module = add_module

    def register_buffer(self, name: str, array: Any, persistent: bool = True) -> None:
        """Keep ``array`` as ``self.<name>``, a Tensor with ``requires_grad=False``, saved by
        ``state_dict()`` (unless ``persistent=False``) and filled by ``load_state_dict``, but
        not a parameter: an optimiser never sees it.

        ``array`` is any array-like or a Tensor that does not require grad (kept as it is), or
        None (a placeholder left out of the state dict, as PyTorch). Assigning a new Tensor to
        ``self.<name>`` later keeps it a buffer.
        """
        _check_attribute_name("register_buffer", name)
        registered: dict[str, bool] = vars(self).setdefault("_buffer_names", {})
        if name not in registered and hasattr(self, name):
            raise KeyError(f"register_buffer: attribute {name!r} already exists")
        if isinstance(array, Tensor):
            if array.requires_grad:
                raise ValueError(
                    f"register_buffer: buffer {name!r} requires grad (a buffer is not trained; "
                    "pass tensor.detach() or make it a parameter)"
                )
            tensor = array
        elif array is None:
            tensor = None
        else:
            tensor = Tensor(_as_array(array))
        registered[name] = bool(persistent)
        setattr(self, name, tensor)

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted_name, tensor)`` for every buffer (persistent or not), each tensor once,
        module by module as ``named_modules()`` (PyTorch's order); names start with ``prefix``,
        and ``recurse=False`` keeps this module's own buffers only."""
        return self._named_tensors(
            parameters=False, buffers=True, remove_duplicate=True, prefix=prefix, recurse=recurse
        )

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer once, in ``named_buffers()`` order."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules (also those inside lists, tuples and dicts) with their names,
        each once."""
        seen: set[int] = set()
        for name, value in self._split_members()[1]:
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and every sub-module, depth first in definition order,
        each once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module.named_children()
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_tensors(
        self,
        parameters: bool,
        buffers: bool,
        remove_duplicate: bool,
        persistent_only: bool = False,
        prefix: str = "",
        recurse: bool = True,
    ) -> Iterator[tuple[str, Tensor]]:
        """Each module's own parameters, then its own buffers, then the nested ones in definition
        order (PyTorch's order), keeping the kinds asked for; names start with ``prefix``, and
        ``recurse=False`` enters no sub-module.

        With ``remove_duplicate`` a tensor or module met twice is skipped the
        second time (``named_parameters``); without it, a shared one appears
        under every name (``state_dict``). A module is never entered inside itself.
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module | Tensor, frozenset[int]]] = [(prefix, self, frozenset())]
        while stack:
            name, value, ancestors = stack.pop()
            if remove_duplicate:
                if id(value) in seen:
                    continue
                seen.add(id(value))
            if isinstance(value, Tensor):
                yield name, value
                continue
            if id(value) in ancestors:
                continue
            inside = ancestors | {id(value)}
            own, nested = value._split_members()
            entries = [
                *(own if parameters else []),
                *(value._own_buffers(persistent_only) if buffers else []),
                *(
                    entry
                    for entry in nested
                    if (parameters or isinstance(entry[1], Module))
                    and (recurse or not isinstance(entry[1], Module))
                ),
            ]
            dotted = f"{name}." if name else ""
            stack.extend(
                (dotted + child_name, child, inside) for child_name, child in reversed(entries)
            )

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted_name, tensor)`` for every parameter, each tensor once (a shared one under its
        first name); names start with ``prefix``, and ``recurse=False`` keeps this module's own
        parameters (and those in its lists and dicts) only, as PyTorch."""
        return self._named_tensors(
            parameters=True, buffers=False, remove_duplicate=True, prefix=prefix, recurse=recurse
        )

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every parameter once, in ``named_parameters()`` order (what an optimiser takes)."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    # ----- modes and gradients ------------------------------------------------------
    @replayed_by_jit  # (inside a jitted step: called again on every replay)
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode
        on this module and all sub-modules."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``): e.g. ``Dropout`` becomes the identity."""
        return self.train(False)

    @replayed_by_jit  # (inside a jitted step: called again on every replay)
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``.grad = None`` (PyTorch's default), or with
        ``set_to_none=False`` fill the existing gradients with zeros, in place."""
        for parameter in self.parameters():
            if set_to_none or parameter.grad is None:
                parameter.grad = None
            elif parameter.grad.data.flags.writeable:
                parameter.grad.data[...] = 0
            else:
                parameter.grad = Tensor(np.zeros_like(parameter.grad.data))

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradients on or off for every parameter (freezing a module), as PyTorch."""
        for parameter in self.parameters():
            parameter.requires_grad = requires_grad
        return self

    def apply(self, fn: Any) -> Module:
        """Call ``fn(module)`` on every sub-module, then on this one (PyTorch's order: children
        first; e.g. a custom initialisation)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- state dict ---------------------------------------------------------------
    def _state_tensors(self) -> dict[str, Tensor]:
        """What a state dict holds: every parameter and persistent buffer under each of its
        names."""
        return dict(
            self._named_tensors(
                parameters=True, buffers=True, remove_duplicate=False, persistent_only=True
            )
        )

    def state_dict(self, *, prefix: str = "", keep_vars: bool = False) -> dict[str, Any]:
        """``{dotted_name: copy of the array}`` for every parameter and persistent buffer, each
        module's parameters before its buffers (PyTorch's keys and order); a shared tensor
        appears under each of its names. As PyTorch, ``prefix`` starts every name and
        ``keep_vars=True`` gives the Tensors themselves instead of copies."""
        return {
            prefix + name: tensor if keep_vars else tensor.data.copy()
            for name, tensor in self._state_tensors().items()
        }

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers, in place (an optimiser holding them keeps
        working), cast to their dtypes.

        Values are any array-likes: NumPy arrays, Tensors, PyTorch tensors (read
        with ``np.asarray(t.detach())``, PyTorch is never imported), nested lists.
        Every key must name a parameter or buffer and every one must be given
        (unless ``strict=False``); shapes must match exactly. Nothing is changed
        unless every check passes. Returns the missing and unexpected keys.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                "load_state_dict: expected a mapping of names to arrays, "
                f"got {type(state_dict).__name__}"
            )
        targets = self._state_tensors()
        missing = [name for name in targets if name not in state_dict]
        unexpected = [str(name) for name in state_dict if name not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        arrays = {}
        for name, target in targets.items():
            if name not in state_dict:
                continue
            array = _as_array(state_dict[name])
            if array.dtype.kind not in "biuf":
                problems.append(f"{name} holds {array.dtype} data, expected numbers")
            elif array.shape != target.shape:
                problems.append(
                    f"size mismatch for {name}: the state dict has shape {array.shape}, "
                    f"the model {target.shape}"
                )
            else:
                arrays[name] = array
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems))
        for name, array in arrays.items():
            np.copyto(targets[name].data, array, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ----- display ------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (e.g. ``in_features=2, ...``)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        if self.extra_repr():
            lines.append(f"  {self.extra_repr()}")
        for name, child in children:
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        lines.append(")")
        return "\n".join(lines)


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(f, g)(x) == g(f(x))``.

    Children are named by position, as in PyTorch: ``0.weight``, ``2.bias``, ...; or by the keys
    of one dict argument, ``Sequential(OrderedDict(fc=Linear(2, 3), act=ReLU()))`` gives
    ``fc.weight`` (and ``model.fc``). ``append(module)`` and ``add_module(name, module)`` add a
    last step; a slice keeps the names, as PyTorch.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]):
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            named = list(modules[0].items())
        else:
            named = [(str(i), module) for i, module in enumerate(modules)]
        for i, (name, module) in enumerate(named):
            if not isinstance(module, Module):
                which = f"argument {i}" if name == str(i) else f"the module {name!r}"
                raise TypeError(f"Sequential: {which} is a {type(module).__name__}, not a Module")
        self.steps: dict[str, Module] = {}
        for name, module in named:
            self.add_module(name, module)

    def add_module(self, name: str, module: Module) -> None:
        """Add ``module`` as the last step, named ``name``."""
        _check_attribute_name("Sequential.add_module", name)
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential.add_module: {name!r} is a {type(module).__name__}, not a Module"
            )
        self.steps[name] = module

    register_module = add_module

    def append(self, module: Module) -> Sequential:
        """Add ``module`` as the last step, named by its position."""
        self.add_module(str(len(self.steps)), module)
        return self

    def _members(self) -> Iterator[tuple[str, Any]]:
        yield from self.steps.items()
        yield from ((name, value) for name, value in vars(self).items() if name != "steps")

    def __getattr__(self, name: str) -> Any:  # (only for names that are not attributes)
        steps = vars(self).get("steps", {})
        if name in steps:
            return steps[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or step {name!r}")

    def forward(self, x: Any) -> Any:
        for module in self.steps.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(dict(list(self.steps.items())[index]))
        return list(self.steps.values())[index]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.steps.values())
