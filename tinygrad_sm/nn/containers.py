"""ModuleList and ModuleDict: sub-modules held by position or by name, with PyTorch's API.

A plain list or dict attribute is already walked for parameters (see module.py); these
classes add what PyTorch code expects of its containers: type checks on every insertion,
``append``/``extend``/``insert`` and the dict methods, and a module of their own, so
``isinstance(layers, nn.Module)`` holds and ``layers.train()`` works. Children are named as in
PyTorch: ``0``, ``1``, ... (renumbered after a deletion or insertion) or by their keys.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .module import Module


def _checked_module(where: str, module: Any) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected a Module, got {type(module).__name__}")
    return module


class ModuleList(Module):
    """A list of modules: ``ModuleList([Linear(2, 2), ReLU()])[0]``, ``len``, iteration,
    ``append``, ``extend``, ``insert``, ``pop``, ``+``/``+=``, indexing by int or slice (a slice
    is a new ModuleList holding the same modules). Parameters are named ``0.weight``, ...
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        self.items: list[Module] = []
        if modules is not None:
            self.extend(modules)

    def _members(self) -> Iterator[tuple[str, Any]]:
        yield from ((str(i), module) for i, module in enumerate(self.items))
        yield from ((name, value) for name, value in vars(self).items() if name != "items")

    def _index(self, index: Any) -> int:
        """``index`` as a position in range, or PyTorch's IndexError."""
        position = operator.index(index)
        if not -len(self.items) <= position < len(self.items):
            raise IndexError(
                f"ModuleList: index {position} is out of range for {len(self.items)} modules"
            )
        return position % len(self.items)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(self.items[index])
        return self.items[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.items[self._index(index)] = _checked_module("ModuleList: item assignment", module)

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            del self.items[index]
        else:
            del self.items[self._index(index)]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.items)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self.items, *other])

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.items.append(_checked_module("ModuleList.append", module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, Iterable):
            raise TypeError(
                f"ModuleList.extend: expected an iterable of Modules, got {type(modules).__name__}"
            )
        new = [_checked_module("ModuleList.extend", module) for module in modules]
        self.items.extend(new)
        return self

    def insert(self, index: int, module: Module) -> None:
        self.items.insert(operator.index(index), _checked_module("ModuleList.insert", module))

    def pop(self, index: int = -1) -> Module:
        return self.items.pop(self._index(index))


class ModuleDict(Module):
    """An ordered dict of modules: ``ModuleDict({"encoder": Linear(4, 2)})["encoder"]``, ``len``,
    iteration over keys, ``in``, ``keys``, ``values``, ``items``, ``update``, ``pop``, ``clear``.
    Parameters are named by key: ``encoder.weight``. Keys are non-empty strings without ``.``.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        self.entries: dict[str, Module] = {}
        if modules is not None:
            self.update(modules)

    def _members(self) -> Iterator[tuple[str, Any]]:
        yield from self.entries.items()
        yield from ((name, value) for name, value in vars(self).items() if name != "entries")

    def __getattr__(self, name: str) -> Any:  # (only for names that are not attributes)
        entries = vars(self).get("entries", {})
        if name in entries:  # ModuleDict({"encoder": ...}).encoder, as in PyTorch
            return entries[name]
        raise AttributeError(f"ModuleDict has no attribute or key {name!r}")

    def _check_key(self, key: object) -> None:
        if key not in self.entries:
            raise KeyError(f"ModuleDict: no module named {key!r} (keys: {list(self.entries)})")

    def __getitem__(self, key: str) -> Module:
        self._check_key(key)
        return self.entries[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: a key must be a non-empty str without '.', got {key!r}")
        self.entries[key] = _checked_module(f"ModuleDict: the value for key {key!r}", module)

    def __delitem__(self, key: str) -> None:
        self._check_key(key)
        del self.entries[key]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def keys(self) -> Any:
        return self.entries.keys()

    def values(self) -> Any:
        return self.entries.values()

    def items(self) -> Any:
        return self.entries.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from (key, module) pairs, in their order."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for i, pair in enumerate(pairs):
            if isinstance(pair, str) or len(pair) != 2:
                raise ValueError(
                    f"ModuleDict.update: element {i} should be a (key, module) pair, got {pair!r}"
                )
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        module = self[key]
        del self.entries[key]
        return module

    def clear(self) -> None:
        self.entries.clear()
