"""Learning-rate schedulers, computed exactly as PyTorch computes them (its ``lr_scheduler``).

A scheduler holds an optimiser and, on each ``step()`` (once per epoch, after the epoch's
``optimizer.step()`` calls), writes a new ``lr`` into every parameter group. The first value is
set when the scheduler is made (that is PyTorch's "initial step", epoch 0). Each group remembers
its starting rate as ``group["initial_lr"]``; ``base_lrs`` are those.

Like PyTorch, most schedules are *recursive*: the next rate is computed from the group's current
``lr`` (``lr · γ`` for ExponentialLR), so a rate changed by hand between steps carries on from the
new value; LambdaLR is the closed form ``base_lr · λ(epoch)``. CosineAnnealingLR uses PyTorch's
recursive cosine step, whose values agree with the closed form

    η_t = η_min + (η_base − η_min)·(1 + cos(π·t / T_max)) / 2

up to rounding while the rate is not changed by hand, and which climbs back after T_max.
"""

from __future__ import annotations

import math
import numbers
import types
import warnings
from collections.abc import Callable
from typing import Any

from .._checks import positive_int
from ..replay import replayed_by_jit
from .optimizer import Optimizer


class LRScheduler:
    """The base: ``initial_lr`` and ``base_lrs``, ``last_epoch`` (the epoch the current rates are
    for, 0 after construction), ``step()``, ``get_last_lr()`` and state dicts (every attribute but
    the optimiser, PyTorch's keys)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: {type(optimizer).__name__} is not an Optimizer")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an int >= -1, got {last_epoch!r}")
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: param_groups[{i}] has no 'initial_lr', needed to resume at "
                        f"last_epoch={last_epoch} (load the optimiser's state dict first)"
                    )
        self.optimizer = optimizer
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # the first step, made here: epoch 0's rates
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for epoch ``last_epoch``, one per parameter group."""
        raise NotImplementedError

    @replayed_by_jit  # (inside a jitted step: called again on every replay)
    def step(self, epoch: int | None = None) -> None:
        """Move to the next epoch and set every group's ``lr`` for it. PyTorch's deprecated
        ``step(epoch)`` jumps to ``epoch`` instead (with its warning), by the schedule's closed
        form where it has one."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            rates = self.get_lr()
        else:
            warnings.warn(
                f"{type(self).__name__}.step(epoch) is deprecated in PyTorch; call step() "
                "once per epoch instead",
                UserWarning,
                stacklevel=2,
            )
            self.last_epoch = epoch
            rates = self._closed_form_lr() if hasattr(self, "_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, rates):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    #: PyTorch's private flags in its scheduler state dicts: accepted on loading, not kept
    _torch_flags = frozenset({"_is_initial", "_get_lr_called_within_step"})

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimiser: the schedule's settings, ``base_lrs``,
        ``last_epoch``, ``_step_count``, ``_last_lr`` (PyTorch's keys)."""
        return {
            key: list(value) if isinstance(value, list) else value
            for key, value in self.__dict__.items()
            if key not in ("optimizer", "_is_initial")
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state of ``state_dict`` (from ``state_dict()`` here or in PyTorch)."""
        name = type(self).__name__
        known = set(self.state_dict())
        unknown = set(state_dict) - known - self._torch_flags
        if unknown:
            raise ValueError(
                f"{name}.load_state_dict: unknown entries {sorted(unknown)}; known: {sorted(known)}"
            )
        groups = len(self.optimizer.param_groups)
        if len(state_dict.get("base_lrs", self.base_lrs)) != groups:
            raise ValueError(
                f"{name}.load_state_dict: {len(state_dict['base_lrs'])} base_lrs for an "
                f"optimiser with {groups} parameter group(s)"
            )
        for key, value in state_dict.items():
            if key not in self._torch_flags:
                setattr(self, key, list(value) if isinstance(value, list) else value)


#: PyTorch's older name for the base class (still what much code subclasses)
_LRScheduler = LRScheduler


def _number(scheduler: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{scheduler}: {name} must be a finite number, got {value!r}")
    return value  # type: ignore[return-value]


class LambdaLR(LRScheduler):
    """lr = base_lr · λ(epoch), with ``lr_lambda`` one function or a list of one per group.

    The state dict saves what a function object carries in its ``__dict__`` (None for a plain
    function or lambda), as PyTorch does: the functions themselves are never saved.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ):
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        lambdas = list(lr_lambda) if isinstance(lr_lambda, list | tuple) else [lr_lambda] * groups
        if isinstance(lr_lambda, list | tuple) and len(lambdas) != groups:
            raise ValueError(
                f"LambdaLR: expected {groups} lr_lambdas (one per parameter group), "
                f"got {len(lambdas)}"
            )
        for i, function in enumerate(lambdas):
            if not callable(function):
                raise TypeError(
                    f"LambdaLR: lr_lambda {i} is a {type(function).__name__}, not callable"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [
            base * factor(self.last_epoch) for factor, base in zip(self.lr_lambdas, self.base_lrs)
        ]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["lr_lambdas"] = [
            None if isinstance(function, types.FunctionType) else dict(function.__dict__)
            for function in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = list(state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas)))
        if len(saved) != len(self.lr_lambdas):
            raise ValueError(
                f"LambdaLR.load_state_dict: {len(saved)} lr_lambdas for {len(self.lr_lambdas)}"
            )
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for function, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                function.__dict__.update(attributes)


class StepLR(LRScheduler):
    """lr ← lr · γ every ``step_size`` epochs (so lr = base_lr · γ^⌊epoch / step_size⌋)."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ):
        self.step_size = positive_int("StepLR: step_size", step_size)
        self.gamma = _number("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr ← lr · γ every epoch (so lr = base_lr · γ^epoch)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _number("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to ``eta_min`` over ``T_max`` epochs (SGDR without restarts),
    by PyTorch's recursive step: with c(t) = 1 + cos(π·t / T_max),

        η_t = η_min + (η_{t−1} − η_min)·c(t) / c(t − 1),

    and at the bottom of each period (t − 1 − T_max a multiple of 2·T_max), where c(t − 1) = 0,
    η_t = η_{t−1} + (base_lr − η_min)·(1 − cos(π / T_max)) / 2.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ):
        self.T_max = positive_int("CosineAnnealingLR: T_max", T_max)
        self.eta_min = _number("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, period, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and t > 0:  # resumed at last_epoch > 0: the closed form
            return [
                low + (base - low) * (1 + math.cos(t * math.pi / period)) / 2
                for base in self.base_lrs
            ]
        if (t - 1 - period) % (2 * period) == 0:
            return [
                lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                for base, lr in zip(self.base_lrs, self._group_lrs())
            ]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (lr - low) + low for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        t, period, low = self.last_epoch, self.T_max, self.eta_min
        return [
            low + (base - low) * (1 + math.cos(math.pi * t / period)) / 2 for base in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """The factor goes linearly from ``start_factor`` to ``end_factor`` over ``total_iters``
    epochs, then stays: lr = base_lr · (s + (e − s)·min(epoch, total_iters) / total_iters),
    computed recursively as PyTorch does (each step multiplies by the ratio of two factors)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        start_factor = _number("LinearLR", "start_factor", start_factor)
        end_factor = _number("LinearLR", "end_factor", end_factor)
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = positive_int("LinearLR: total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, start, end = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * start for lr in self._group_lrs()]
        if self._is_initial or t > self.total_iters:
            return self._group_lrs()
        ratio = 1.0 + (end - start) / (self.total_iters * start + (t - 1) * (end - start))
        return [lr * ratio for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        t, start, end = min(self.last_epoch, self.total_iters), self.start_factor, self.end_factor
        return [base * (start + (end - start) * t / self.total_iters) for base in self.base_lrs]


__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "StepLR"]
