"""Layers: Linear, Embedding, Identity, Flatten, the activations, Dropout, and the MLP.

Every layer is written with Tensor methods and ``F.`` ops only (``@``, ``+``, ``.relu()``,
``F.gelu``, ...), so the autograd engine differentiates it with no extra code.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._checks import number_in_range, positive_int
from ..random import RngLike, as_generator
from ..shapes import accepts_pytorch_spellings
from ..tensor import Tensor
from . import functional as F
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


class Embedding(Module):
    """A lookup table: y[...] = W[index[...]], W of shape ``(num_embeddings, embedding_dim)``.

    Initialised as in PyTorch: W ~ N(0, 1), drawn from ``rng``; the ``padding_idx`` row (a
    negative one counts from the end) is zeroed and gets no gradient, so it stays zero.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        rng: RngLike = None,
    ):
        self.num_embeddings = positive_int("Embedding: num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("Embedding: embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
                raise TypeError(f"Embedding: padding_idx must be an int, got {padding_idx!r}")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} is out of range for "
                    f"num_embeddings={num_embeddings}"
                )
            padding_idx = int(padding_idx) % num_embeddings
        self.padding_idx = padding_idx
        self.weight = Tensor.randn(
            num_embeddings, embedding_dim, rng=as_generator(rng), requires_grad=True
        )
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0.0

    @classmethod
    def from_pretrained(
        cls, embeddings: Tensor | np.ndarray, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding whose table is ``embeddings`` (2-D: (num_embeddings, embedding_dim)), as
        ``torch.nn.Embedding.from_pretrained``: ``weight`` requires grad only with
        ``freeze=False`` (frozen, it stays a parameter, as PyTorch), and the ``padding_idx`` row is
        kept as given (it gets no gradient)."""
        table = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if table.ndim != 2:
            raise ValueError(
                "Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, "
                f"embedding_dim), got shape {table.shape}"
            )
        layer = cls(*table.shape, padding_idx=padding_idx, rng=0)  # (rng=0: no default draws)
        layer.weight = Tensor(table, requires_grad=not freeze)
        return layer

    def forward(self, input: Tensor | np.ndarray) -> Tensor:
        return F.embedding(input, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


class Identity(Module):
    """y = x (any constructor arguments are ignored, as PyTorch)."""

    def __init__(self, *args: object, **kwargs: object):
        pass

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Axes ``start_axis`` to ``end_axis`` merged into one (``x.flatten(start_axis, end_axis)``);
    by default every axis but the batch axis. ``start_dim=``/``end_dim=`` are accepted."""

    @accepts_pytorch_spellings
    def __init__(self, start_axis: int = 1, end_axis: int = -1):
        self.start_axis = start_axis
        self.end_axis = end_axis

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(start_axis=self.start_axis, end_axis=self.end_axis)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_axis}, end_dim={self.end_axis}"


class ReLU(Module):
    """relu(x) = max(x, 0). (``inplace`` is accepted for PyTorch code; the result is a new
    tensor.)"""

    def __init__(self, inplace: bool = False):
        self.inplace = inplace

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


class GELU(Module):
    """gelu(x) = x·Φ(x) (``approximate="none"``) or its tanh approximation
    (``approximate="tanh"``)."""

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class LeakyReLU(Module):
    """leaky_relu(x) = x for x > 0, ``negative_slope``·x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        number_in_range("LeakyReLU", "negative_slope", negative_slope, -math.inf)
        self.negative_slope = float(negative_slope)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class SiLU(Module):
    """silu(x) = x·σ(x)."""

    def __init__(self, inplace: bool = False):
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class ELU(Module):
    """elu(x) = x for x > 0, α(eˣ − 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        number_in_range("ELU", "alpha", alpha, -math.inf)
        self.alpha = float(alpha)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """softplus(x) = log(1 + e^{βx}) / β, linear where βx > ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, beta=self.beta, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """softmax(x)ᵢ = e^{xᵢ} / Σⱼ e^{xⱼ} along ``axis`` (computed stably; ``dim=`` is accepted)."""

    @accepts_pytorch_spellings
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """log softmax(x) = x − logsumexp(x) along ``axis`` (one stable op; ``dim=`` is accepted)."""

    @accepts_pytorch_spellings
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.log_softmax(axis=self.axis)

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

    def __init__(self, p: float = 0.5, inplace: bool = False, rng: RngLike = None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = inplace  # (accepted for PyTorch code; the result is a new tensor)
        self.generator = None if rng is None else as_generator(rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, rng=self.generator)

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
