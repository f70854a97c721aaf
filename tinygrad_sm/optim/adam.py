"""Adam and AdamW, with PyTorch's rules (bias correction, AMSGrad, L2 or decoupled weight decay)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._checks import number_in_range
from ..tensor import Tensor
from .optimizer import Optimizer, lerp_, scratch


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's rules (L2 ``weight_decay`` added to the gradient;
    ``AdamW`` decouples it).

    With g = ∇p + λ·p, step t = 1, 2, ...:

        m ← β₁·m + (1 − β₁)·g          (computed as PyTorch's lerp of m towards g)
        v ← β₂·v + (1 − β₂)·g²
        v̂ = max(v̂, v) with ``amsgrad``, else v
        p ← p − (η / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

    State: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), and ``max_exp_avg_sq`` with amsgrad.
    """

    _state_keys = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
    _torch_flags = {**Optimizer._torch_flags, "decoupled_weight_decay": (False,)}
    #: AdamW: p ← p·(1 − η·λ) before the step, instead of adding λ·p to the gradient
    decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ):
        settings = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        settings.update(amsgrad=amsgrad, maximize=maximize, foreach=foreach)
        super().__init__(params, settings)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        number_in_range(name, "learning rate (lr)", group["lr"], 0.0)
        number_in_range(name, "eps", group["eps"], 0.0)
        number_in_range(name, "weight_decay", group["weight_decay"], 0.0)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        number_in_range(name, "beta1 (betas[0])", betas[0], 0.0, 1.0, high_open=True)
        number_in_range(name, "beta2 (betas[1])", betas[1], 0.0, 1.0, high_open=True)

    def _update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        group: dict[str, Any],
        state: dict[str, Any],
        work: dict[str, np.ndarray],
    ) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        temporary = scratch(work, "temporary", param)

        g = grad
        if weight_decay != 0 and self.decoupled_weight_decay:
            param *= 1 - lr * weight_decay  # AdamW: p ← p·(1 − η·λ)
        elif weight_decay != 0:
            g = np.multiply(param, weight_decay, out=scratch(work, "decayed_grad", param))
            g += grad
        lerp_(m, g, 1 - beta1, temporary)  # m ← β₁ m + (1 − β₁) g
        v *= beta2  # v ← β₂ v + (1 − β₂) g²
        np.multiply(g, g, out=temporary)
        temporary *= 1 - beta2
        v += temporary
        if group["amsgrad"]:
            v = state.setdefault("max_exp_avg_sq", np.zeros_like(param))
            np.maximum(v, state["exp_avg_sq"], out=v)  # v̂ ← max(v̂, v)

        step_size = lr / (1 - beta1**step)
        np.sqrt(v, out=temporary)  # denominator √v̂ / √(1 − β₂ᵗ) + ε
        temporary /= math.sqrt(1 - beta2**step)
        temporary += eps
        np.divide(m, temporary, out=temporary)
        temporary *= step_size
        param -= temporary


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's ``AdamW``:

        p ← p·(1 − η·λ), then Adam's step without weight decay in the gradient.

    The same state as Adam; the default ``weight_decay`` is 1e-2.
    """

    _torch_flags = {**Optimizer._torch_flags, "decoupled_weight_decay": (True,)}
    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ):
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach
        )
