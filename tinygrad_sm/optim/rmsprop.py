"""RMSprop (Hinton's lecture 6e), with PyTorch's centred and momentum variants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .._checks import number_in_range
from ..tensor import Tensor
from .optimizer import Optimizer, lerp_, scratch


class RMSprop(Optimizer):
    """RMSprop with PyTorch's rules. With g = ∇p + λ·p, α = ``alpha``, μ = ``momentum``:

        s ← α·s + (1 − α)·g²
        ḡ ← α·ḡ + (1 − α)·g,   a = √(s − ḡ²) + ε     if centered
        a = √s + ε                                   otherwise
        b ← μ·b + g / a,   p ← p − η·b                if μ > 0
        p ← p − η·g / a                              otherwise

    State: ``step``, ``square_avg`` (s), ``momentum_buffer`` (b) when μ > 0, ``grad_avg`` (ḡ)
    when centred; all start at zero.
    """

    _state_keys = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ):
        settings = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps}
        settings.update(centered=centered, weight_decay=weight_decay)
        super().__init__(params, {**settings, "maximize": maximize, "foreach": foreach})

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        number_in_range("RMSprop", "learning rate (lr)", group["lr"], 0.0)
        number_in_range("RMSprop", "alpha", group["alpha"], 0.0)
        number_in_range("RMSprop", "eps", group["eps"], 0.0)
        number_in_range("RMSprop", "weight_decay", group["weight_decay"], 0.0)
        number_in_range("RMSprop", "momentum", group["momentum"], 0.0)

    def _update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        group: dict[str, Any],
        state: dict[str, Any],
        work: dict[str, np.ndarray],
    ) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        square_avg = state["square_avg"]
        temporary, average = scratch(work, "temporary", param), scratch(work, "average", param)

        g = grad
        if weight_decay != 0:
            g = np.multiply(param, weight_decay, out=scratch(work, "decayed_grad", param))
            g += grad
        square_avg *= alpha  # s ← α s + (1 − α) g²
        np.multiply(g, g, out=temporary)
        temporary *= 1 - alpha
        square_avg += temporary
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(param))
            lerp_(grad_avg, g, 1 - alpha, temporary)  # ḡ ← α ḡ + (1 − α) g
            np.multiply(grad_avg, grad_avg, out=average)  # a = √(s − ḡ²) + ε
            np.subtract(square_avg, average, out=average)
            np.sqrt(average, out=average)
        else:
            np.sqrt(square_avg, out=average)  # a = √s + ε
        average += eps
        np.divide(g, average, out=temporary)  # g / a
        if momentum > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(param))
            buffer *= momentum  # b ← μ b + g / a
            buffer += temporary
            temporary = buffer
        param -= np.multiply(temporary, lr, out=average)  # p ← p − η·(b or g / a)
