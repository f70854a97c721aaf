"""The base of every optimiser: parameter groups, per-parameter state, a checked ``step()``, and
state dicts in PyTorch's format.

An optimiser holds parameters (leaf Tensors) and, on ``step()``, moves each one
that has a gradient. Updates are plain NumPy on ``p.data``, in place and outside
the graph: nothing is recorded, the array keeps its dtype, and the state an
update keeps (momentum buffers, moment estimates) is allocated once per
parameter, then updated in place. ``optimizer.state[p]`` holds only that state, under
PyTorch's keys; work arrays an update reuses between steps live apart, in ``_work``, so a
state dict never carries them.

As in PyTorch, ``params`` is an iterable of Tensors or of *parameter groups*
(dicts with a ``"params"`` list and any hyper-parameters to override), and
``optimizer.param_groups[i]["lr"]`` may be changed between steps (a scheduler of
``optim.lr_scheduler`` does exactly that).
Every optimiser also takes PyTorch's keyword-only ``maximize=False`` (``True`` ascends: the
gradient is negated before the update) and ``foreach=None`` (accepted; there is one NumPy
implementation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..grad_mode import enable_grad
from ..replay import replayed_by_jit
from ..tensor import Tensor


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad()`` and ``step()``."""

    def __init__(
        self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]
    ):
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors "
                "(model.parameters()), not one Tensor"
            )
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        #: per-parameter state (momentum buffers, moment estimates, ...), keyed by the parameter;
        #: ``self.state[p]`` is ``{}`` until ``p`` has state (a defaultdict, as PyTorch's)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        #: per-parameter work arrays reused from step to step (never part of a state dict)
        self._work: dict[Tensor, dict[str, np.ndarray]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters (Tensors, or ``(name, tensor)`` pairs as
        ``named_parameters()`` gives, kept as the group's ``param_names``, as PyTorch);
        hyper-parameters it does not set take the optimiser's defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(
                f"{type(self).__name__}: a parameter group must be a dict with a 'params' entry, "
                f"got {group!r}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        owner = type(self).__name__
        names = [
            p[0] for p in params if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
        ]
        if names:
            if len(names) != len(params):
                raise ValueError(
                    f"{owner}: give every parameter of a group with its name (the (name, tensor) "
                    "pairs of named_parameters()) or none"
                )
            params = [p[1] for p in params]
        if self.param_groups and ("param_names" in self.param_groups[0]) != bool(names):
            raise ValueError(
                f"{owner}: every parameter group must come with names (named_parameters()) "
                "or every one without"
            )
        known = {id(p) for existing in self.param_groups for p in existing["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{owner}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(
                    f"{owner}: can't optimize a non-leaf Tensor (parameter {i}, shape {p.shape})"
                )
            if p.dtype.kind != "f":
                raise TypeError(
                    f"{owner}: parameter {i} has dtype {p.dtype}; "
                    "only floating-point tensors can be optimised"
                )
            if id(p) in known:
                raise ValueError(f"{owner}: parameter {i} (shape {p.shape}) appears more than once")
            known.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params", "param_names", "initial_lr"}
        if unknown:
            raise TypeError(
                f"{owner}: unknown hyper-parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        group = {**self.defaults, **group, "params": params}
        if names:
            group["param_names"] = names
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Raise a clear error for a bad hyper-parameter of ``group``; each optimiser here checks
        its own (an optimiser subclassed as in PyTorch, with its own ``step()``, need not)."""

    @replayed_by_jit  # (inside a jitted step: called again on every replay)
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``.grad = None`` (PyTorch's default), or with
        ``set_to_none=False`` fill the existing gradients with zeros, in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                elif p.grad.data.flags.writeable:
                    p.grad.data[...] = 0
                else:
                    p.grad = Tensor(np.zeros_like(p.grad.data))

    @replayed_by_jit(replay="_replay_step")  # (inside a jitted step: replayed, see _replay_step)
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes and
        returns the loss first.

        Every group and every gradient is checked before anything changes, so a bad
        gradient on the last parameter never leaves the earlier ones half-updated.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        checked = [
            (group, self._checked_gradients(index, group))
            for index, group in enumerate(self.param_groups)
        ]
        for group, pairs in checked:
            self._step_group(group, _ascending(group, pairs))
        return loss

    def _replay_step(self) -> None:
        """``step()`` as a ``tinygrad_sm.jit`` replay calls it: the same update, reading
        ``param_groups`` (a schedule's new lr) and the state afresh, on the gradients the replay has
        just stored; what ``step()`` checks was checked when the step was recorded."""
        for group in self.param_groups:
            self._check_hyperparameters(group)  # (a schedule, or the user, may have changed them)
            pairs = [(p, p._grad._data) for p in group["params"] if p._grad is not None]
            self._step_group(group, _ascending(group, pairs))

    def _checked_gradients(
        self, group_index: int, group: dict[str, Any]
    ) -> list[tuple[Tensor, np.ndarray]]:
        """The ``(parameter, gradient array)`` pairs of one group that have a gradient, each
        checked."""
        self._check_hyperparameters(group)  # they may have been changed since the group was added
        all_state = self.state
        pairs = []
        for i, p in enumerate(group["params"]):
            param, grad = p._data, p._grad  # (the slots: this runs for every parameter, every step)
            if grad is None:
                continue
            g = grad._data if isinstance(grad, Tensor) else None
            # the common case in one combined test; _checked_gradient explains what is wrong
            # otherwise
            usable = (
                type(param) is np.ndarray
                and isinstance(g, np.ndarray)
                and g.shape == param.shape
                and g.dtype == param.dtype
                and param.dtype.kind == "f"
                and param.flags.writeable
            )
            state = all_state.get(p)
            if state is not None and usable:
                shape, dtype = param.shape, param.dtype
                for value in state.values():
                    if type(value) is np.ndarray and (value.shape != shape or value.dtype != dtype):
                        usable = False
            if not usable:
                g = self._checked_gradient(p, group_index, i)
            pairs.append((p, g))
        return pairs

    def _checked_gradient(self, p: Tensor, group_index: int, i: int) -> np.ndarray:
        """``p.grad`` as an ndarray, or a clear error if it (or ``p``, or its state) can't be used
        for an update."""
        where = f"{type(self).__name__}: parameter {i}" + (
            f" of group {group_index}" if len(self.param_groups) > 1 else ""
        )
        param, grad = p.data, p.grad
        if not isinstance(param, np.ndarray | np.generic) or param.dtype.kind != "f":
            raise TypeError(
                f"{where} holds {type(param).__name__} data "
                f"of dtype {getattr(param, 'dtype', None)}; "
                "only floating-point arrays can be optimised"
            )
        if isinstance(param, np.ndarray) and not param.flags.writeable:
            raise ValueError(
                f"{where} (shape {param.shape}) has read-only data; it can't be updated in place"
            )
        if not isinstance(grad, Tensor):
            raise TypeError(
                f"{where} (shape {param.shape}) has a .grad of type {type(grad).__name__}; "
                "expected a Tensor or None"
            )
        g = np.asarray(grad.data)
        if g.shape != param.shape:
            raise ValueError(
                f"{where} has shape {param.shape} but its gradient has shape {g.shape}; "
                "they must match exactly (no broadcasting)"
            )
        if g.dtype != param.dtype:
            raise TypeError(
                f"{where} (shape {param.shape}) has dtype {param.dtype} but its gradient has "
                f"dtype {g.dtype}; they must match"
            )
        for key, value in self.state.get(p, {}).items():
            if isinstance(value, np.ndarray) and (value.shape, value.dtype) != (
                param.shape,
                param.dtype,
            ):
                raise ValueError(
                    f"{where} has shape {param.shape} and dtype {param.dtype} but its state "
                    f"{key!r} has shape {value.shape} and dtype {value.dtype}; was the parameter's "
                    "data replaced after the optimiser started?"
                )
        return g  # a NumPy scalar parameter or gradient (0-d): usable, as an ndarray

    def _step_group(self, group: dict[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        """Update the checked ``(parameter, gradient)`` pairs of one group (``_update`` on each)."""
        all_state, all_work, update = self.state, self._work, self._update
        for p, grad in pairs:
            state, work = all_state.get(p), all_work.get(p)
            if state is None:
                state = all_state[p] = {}
            if work is None:
                work = all_work[p] = {}
            # (an ndarray: Tensor guarantees it, step() checked it)
            update(p._data, grad, group, state, work)

    def _update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        group: dict[str, Any],
        state: dict[str, Any],
        work: dict[str, np.ndarray],
    ) -> None:
        raise NotImplementedError

    # ----- state dicts, in PyTorch's format ---------------------------------------------------
    #: the keys ``state[p]`` may hold (PyTorch's names)
    _state_keys: frozenset[str] = frozenset()
    #: PyTorch's group flags that have no counterpart here, with the values that mean
    #: "behave as this library does" (a saved PyTorch state dict carries them)
    _torch_flags: dict[str, tuple[Any, ...]] = {
        "foreach": (None, False, True),
        "capturable": (False,),
        "differentiable": (False,),
        "fused": (None, False),
    }

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {key: value}}, "param_groups": [{hyper-parameters, "params":
        [index, ...]}]}``, PyTorch's format: the parameters are numbered 0, 1, ... in group order,
        the state arrays are copies, and ``step`` is an int."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index[id(p)] = len(index)
            settings = {key: value for key, value in group.items() if key != "params"}
            groups.append({**settings, "params": [index[id(p)] for p in group["params"]]})
        state = {
            index[id(p)]: {
                key: value.copy() if isinstance(value, np.ndarray) else value
                for key, value in entries.items()
            }
            for p, entries in self.state.items()
            if entries
        }
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state and hyper-parameters of ``state_dict`` (from ``state_dict()`` here or
        in PyTorch: arrays or tensors). The saved parameters are matched to this optimiser's in
        order, group by group, as PyTorch does. Everything is checked before anything changes."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{owner}: expected a dict with 'state' and 'param_groups' entries")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{owner}: the state dict has {len(saved_groups)} parameter group(s), "
                f"this optimiser has {len(self.param_groups)}"
            )
        parameters: dict[Any, Tensor] = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            saved_params = list(saved["params"])
            if len(saved_params) != len(group["params"]):
                raise ValueError(
                    f"{owner}: group {i} has {len(group['params'])} parameter(s) "
                    f"but the saved group has {len(saved_params)}"
                )
            parameters.update(zip(saved_params, group["params"]))
            new_groups.append({**group, **self._saved_settings(owner, i, saved)})
        new_state = {}
        for index, entries in state_dict["state"].items():
            if index not in parameters:
                raise ValueError(f"{owner}: the state of parameter {index!r} matches no parameter")
            new_state[parameters[index]] = self._saved_state(
                owner, index, entries, parameters[index]
            )
        for group, new in zip(self.param_groups, new_groups):
            group.update(new)  # (the same dicts: a scheduler holding the optimiser sees them)
        self.state = defaultdict(dict, new_state)
        self._work = {p: {} for p in new_state}

    def _saved_settings(self, owner: str, i: int, saved: dict[str, Any]) -> dict[str, Any]:
        """The hyper-parameters of saved group ``i``, checked; PyTorch's extra flags must have
        the values this library implements."""
        settings = {}
        for key, value in saved.items():
            if key in self.defaults or key in ("initial_lr", "param_names"):
                settings[key] = tuple(value) if key == "betas" else value
            elif key in self._torch_flags:
                if not any(value is allowed for allowed in self._torch_flags[key]):
                    raise ValueError(
                        f"{owner}: group {i} has {key}={value!r}, "
                        f"which {type(self).__name__} does not implement"
                    )
            elif key != "params":
                raise ValueError(
                    f"{owner}: group {i} has an unknown hyper-parameter {key!r}; "
                    f"known: {sorted(self.defaults)}"
                )
        self._check_hyperparameters({**self.defaults, **settings})
        return settings

    def _saved_state(
        self, owner: str, index: Any, entries: dict[str, Any], p: Tensor
    ) -> dict[str, Any]:
        """The saved state of one parameter as this optimiser keeps it: arrays of the parameter's
        shape and dtype (copies), ``step`` an int; PyTorch's ``None`` buffers are left out."""
        state: dict[str, Any] = {}
        for key, value in entries.items():
            if self._state_keys and key not in self._state_keys:  # (empty: a user's optimiser)
                raise ValueError(
                    f"{owner}: parameter {index} has an unknown state entry {key!r}; "
                    f"{type(self).__name__} keeps {sorted(self._state_keys)}"
                )
            if value is None:
                continue
            if key == "step":
                state[key] = int(np.asarray(value).item())
                continue
            array = np.asarray(value).astype(p.dtype, copy=True)  # (a torch tensor too)
            if array.shape != p.shape:
                raise ValueError(
                    f"{owner}: parameter {index} has shape {p.shape} but its saved {key!r} has "
                    f"shape {array.shape}"
                )
            state[key] = array
        return state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} parameter(s), {settings}")
        return "\n".join([*lines, ")"])


def scratch(work: dict[str, np.ndarray], key: str, like: np.ndarray) -> np.ndarray:
    """A work array shaped like ``like``, allocated on first use and reused on every later step."""
    array = work.get(key)
    if array is None:
        array = work[key] = np.empty_like(like)
    return array


_BLOCK = 1 << 16  # elements per block of an SGD update (256 KiB in float32)


def _ascending(group: dict[str, Any], pairs: list) -> list:
    """``maximize=True`` ascends: PyTorch negates the gradient before the update."""
    return [(p, -grad) for p, grad in pairs] if group.get("maximize") else pairs


def subtract_scaled(param: np.ndarray, scale: float, direction: np.ndarray) -> None:
    """``param -= scale * direction``, in blocks of rows when the arrays are big, so the temporary
    ``scale * direction`` is one block, not one more parameter-sized array
    at the step's memory peak."""
    rows = len(direction) if direction.ndim else 1
    if direction.size <= _BLOCK or rows == 1:
        param -= scale * direction
        return
    block = max(1, _BLOCK * rows // direction.size)  # rows per block
    for start in range(0, rows, block):
        param[start : start + block] -= scale * direction[start : start + block]


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, work: np.ndarray) -> None:
    """``start ← start + weight·(end − start)`` in place, rounded as PyTorch's ``lerp_``
    (from the nearer end: ``end − (1 − weight)·(end − start)`` when weight ≥ 0.5);
    ``work`` is a scratch array of the same shape."""
    np.subtract(end, start, out=work)
    if weight < 0.5:
        work *= weight
        start += work
    else:
        work *= 1 - weight
        np.subtract(end, work, out=start)
