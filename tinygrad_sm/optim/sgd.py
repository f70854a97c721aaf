"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .._checks import number_in_range
from ..tensor import Tensor
from .optimizer import Optimizer, subtract_scaled


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's rules.

    With g = ∇p + λ·p (``weight_decay`` λ), μ = ``momentum``, τ = ``dampening``, η = ``lr``:

        b ← g                 on the first step, then   b ← μ·b + (1 − τ)·g
        d = g + μ·b  if nesterov,  b  if μ ≠ 0,  g  otherwise
        p ← p − η·d

    State: ``momentum_buffer`` (b), only when μ ≠ 0. ``dampening`` comes last, after PyTorch's
    other arguments, so that ``SGD(params, lr, momentum, weight_decay, nesterov)`` keeps its order.
    """

    _state_keys = frozenset({"momentum_buffer"})

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ):
        settings = {"lr": lr, "momentum": momentum, "dampening": dampening}
        settings.update(weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, {**settings, "maximize": maximize, "foreach": foreach})

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        number_in_range("SGD", "learning rate (lr)", group["lr"], 0.0)
        number_in_range("SGD", "momentum", group["momentum"], 0.0)
        number_in_range("SGD", "dampening", group["dampening"], 0.0, 1.0)
        number_in_range("SGD", "weight_decay", group["weight_decay"], 0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov=True requires a momentum > 0 and dampening 0")

    def _step_group(self, group: dict[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        # One loop per group with the hyper-parameters read once: for a small model the
        # Python around the NumPy calls costs as much as the arithmetic.
        lr, momentum, dampening, weight_decay, nesterov = (
            group["lr"],
            group["momentum"],
            group["dampening"],
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
                    buffer *= momentum  # b ← μ·b + (1 − τ)·g, in place
                    buffer += g if dampening == 0 else (1 - dampening) * g
                if nesterov:
                    direction = buffer * momentum  # d = g + μ·b
                    direction += g
                    g = direction
                else:
                    g = buffer
            subtract_scaled(param, lr, g)  # p ← p − η·d
