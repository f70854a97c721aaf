"""Optimisers: SGD (momentum, weight decay, Nesterov) and Adam, with PyTorch's update rules.

An optimiser holds parameters (leaf Tensors) and, on ``step()``, moves each one
that has a gradient. Updates are plain NumPy on ``p.data``, in place and outside
the graph: nothing is recorded, the array keeps its dtype, and the state an
update keeps (momentum buffers, moment estimates) is allocated once per
parameter, then updated in place. SGD keeps nothing else between steps: its few
temporaries live only during ``step()``, so a model's memory between steps is
parameters + gradients + momentum buffers, as in PyTorch.

As in PyTorch, ``params`` is an iterable of Tensors or of *parameter groups*
(dicts with a ``"params"`` list and any hyper-parameters to override), and
``optimizer.param_groups[i]["lr"]`` may be changed between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ._checks import number_in_range
from .grad_mode import enable_grad
from .tensor import Tensor


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
        #: per-parameter state (momentum buffers, moment estimates, ...), keyed by the parameter
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters;
        hyper-parameters it does not set take the optimiser's defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(
                f"{type(self).__name__}: a parameter group must be a dict with a 'params' entry, "
                f"got {group!r}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for existing in self.param_groups for p in existing["params"]}
        owner = type(self).__name__
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
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(
                f"{owner}: unknown hyper-parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        group = {**self.defaults, **group, "params": params}
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``, PyTorch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

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
            self._step_group(group, pairs)
        return loss

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
        all_state, update = self.state, self._update
        for p, grad in pairs:
            state = all_state.get(p)
            if state is None:
                state = all_state[p] = {}
            # (an ndarray: Tensor guarantees it, step() checked it)
            update(p._data, grad, group, state)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} parameter(s), {settings}")
        return "\n".join([*lines, ")"])


def _scratch(state: dict[str, Any], key: str, like: np.ndarray) -> np.ndarray:
    """A work array shaped like ``like``, allocated on first use and reused on every later step."""
    array = state.get(key)
    if array is None:
        array = state[key] = np.empty_like(like)
    return array


_BLOCK = 1 << 16  # elements per block of an SGD update (256 KiB in float32)


def _subtract_scaled(param: np.ndarray, scale: float, direction: np.ndarray) -> None:
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


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's rules (dampening 0).

    With g = ∇p + λ·p (``weight_decay`` λ), μ = ``momentum``, η = ``lr``:

        b ← g                 on the first step, then   b ← μ·b + g
        d = g + μ·b  if nesterov,  b  if μ ≠ 0,  g  otherwise
        p ← p − η·d
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(
            params,
            {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov},
        )

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        number_in_range("SGD", "learning rate (lr)", group["lr"], 0.0)
        number_in_range("SGD", "momentum", group["momentum"], 0.0)
        number_in_range("SGD", "weight_decay", group["weight_decay"], 0.0)
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError("SGD: nesterov=True requires a momentum > 0")

    def _step_group(self, group: dict[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        # One loop per group with the hyper-parameters read once: for a small model the
        # Python around the NumPy calls costs as much as the arithmetic.
        lr, momentum, weight_decay, nesterov = (
            group["lr"],
            group["momentum"],
            group["weight_decay"],
            group["nesterov"],
        )
        all_state = self.state
        for p, grad in pairs:
            param, g = p._data, grad
            state = all_state.get(p)
            if state is None:
                state = all_state[p] = {}
            if weight_decay != 0:
                # g + λ·p, in a temporary: the gradient itself is never changed
                g = param * weight_decay
                g += grad  # (for a 0-d parameter g is a NumPy scalar: fine for a temporary)
            if momentum != 0:
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    # b ← g on the first step; np.array, not g.copy(): the buffer is updated in
                    # place below, so it must be an ndarray even when g is a NumPy scalar
                    # (0-d parameter)
                    buffer = state["momentum_buffer"] = np.array(g, dtype=param.dtype)
                else:
                    buffer *= momentum  # b ← μ·b + g, in place
                    buffer += g
                if nesterov:
                    direction = buffer * momentum  # d = g + μ·b
                    direction += g
                    g = direction
                else:
                    g = buffer
            _subtract_scaled(param, lr, g)  # p ← p − η·d


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's rules (L2 ``weight_decay`` added to the gradient,
    not AdamW).

    With g = ∇p + λ·p, step t = 1, 2, ...:

        m ← β₁·m + (1 − β₁)·g          (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
        v ← β₂·v + (1 − β₂)·g²
        p ← p − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        )

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        number_in_range("Adam", "learning rate (lr)", group["lr"], 0.0)
        number_in_range("Adam", "eps", group["eps"], 0.0)
        number_in_range("Adam", "weight_decay", group["weight_decay"], 0.0)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        number_in_range("Adam", "beta1 (betas[0])", betas[0], 0.0, 1.0, high_open=True)
        number_in_range("Adam", "beta2 (betas[1])", betas[1], 0.0, 1.0, high_open=True)

    def _update(
        self, param: np.ndarray, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        work = _scratch(state, "work", param)

        g = grad
        if weight_decay != 0:
            g = np.multiply(param, weight_decay, out=_scratch(state, "decayed_grad", param))
            g += grad
        np.subtract(g, m, out=work)  # m ← m + (1 − β₁)(g − m)
        work *= 1 - beta1
        m += work
        v *= beta2  # v ← β₂ v + (1 − β₂) g²
        np.multiply(g, g, out=work)
        work *= 1 - beta2
        v += work

        step_size = lr / (1 - beta1**step)
        np.sqrt(v, out=work)  # denominator √v / √(1 − β₂ᵗ) + ε
        work /= math.sqrt(1 - beta2**step)
        work += eps
        np.divide(m, work, out=work)
        work *= step_size
        param -= work
