"""Layers: Linear, the activations, Dropout, and the MLP built from them.

Every layer is written with Tensor methods only (``@``, ``+``, ``.relu()``, ...),
so the autograd engine differentiates it with no extra code.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._checks import positive_int
from ..random import as_generator
from ..tensor import Tensor
from .module import Module


class Linear(Module):
    """y = x Wᵀ + b, with W of shape ``(out_features, in_features)`` and b of shape
    ``(out_features,)``.

    Initialised as in PyTorch: ``kaiming_uniform_(W, a=√5)`` has gain √(2 / (1 + a²)) = √(1/3)
    and bound gain·√(3 / fan_in) = 1/√in_features, so W ~ U(−1/√in, 1/√in);
    b ~ U(−1/√in, 1/√in) too.
    W is drawn before b, from ``rng`` (an int seed, a Generator, or the default generator).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: int | np.random.Generator | None = None,
    ):
        self.in_features = positive_int("Linear: in_features", in_features)
        self.out_features = positive_int("Linear: out_features", out_features)
        generator = as_generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Tensor.uniform(
            shape, low=-bound, high=bound, rng=generator, requires_grad=True
        )
        self.bias = (
            Tensor.uniform(
                self.out_features, low=-bound, high=bound, rng=generator, requires_grad=True
            )
            if bias
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        # one fused op for x @ W.T + b (see operations/linalg.py): fewer nodes, same numbers
        return Tensor.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class ReLU(Module):
    """relu(x) = max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Tanh(Module):
    """tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Softmax(Module):
    """softmax(x)ᵢ = e^{xᵢ} / Σⱼ e^{xⱼ} along ``axis`` (computed stably)."""

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Dropout(Module):
    """Inverted dropout: in training, y = x ⊙ m / (1 − p) with mᵢ ~ Bernoulli(1 − p);
    in eval(), y = x.

    Dividing by 1 − p keeps E[y] = x, so nothing changes at evaluation time.
    The mask is drawn from ``rng`` (an int seed or Generator, kept by the layer)
    or, when ``rng`` is None, from the library's default generator at call time
    (so ``tinygrad_sm.manual_seed`` applies).
    """

    def __init__(self, p: float = 0.5, rng: int | np.random.Generator | None = None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.generator = None if rng is None else as_generator(rng)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        generator = as_generator(None) if self.generator is None else self.generator
        keep = generator.random(x.shape, dtype=np.float32) >= self.p
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP(Module):
    """A multi-layer perceptron: ``Linear(sizes[0], sizes[1])``, activation, ...,
    ``Linear(sizes[-2], sizes[-1])``.

    No activation after the last layer: the output is logits (feed them to
    ``CrossEntropyLoss``). Parameters are named ``layers.0.weight``, ``layers.0.bias``, ...
    ``activation`` is ``"relu"``, ``"tanh"``, ``"sigmoid"`` or a Module.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Module = "relu",
        rng: int | np.random.Generator | None = None,
    ):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        sizes = [positive_int("MLP: every size", size) for size in sizes]
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                choices = ", ".join(map(repr, _ACTIVATIONS))
                raise ValueError(
                    f"MLP: unknown activation {activation!r}; "
                    f"choose one of {choices} or pass a Module"
                )
            activation = _ACTIVATIONS[activation]()
        elif not isinstance(activation, Module):
            raise TypeError(
                f"MLP: activation must be a name or a Module, got {type(activation).__name__}"
            )
        generator = as_generator(rng)
        self.sizes = sizes
        self.layers = [
            Linear(n_in, n_out, rng=generator) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        ]
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
