"""Shared helpers for the core tests: float64 gradient checks (first and second order),
arrays that keep away from kinks and ties, and hypothesis strategies for shapes and axes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_sm
from tinygrad_sm import Tensor

seeds = st.integers(0, 2**32 - 1)


# ----- arrays ---------------------------------------------------------------------------
def random_array(seed: int, shape: Sequence[int], low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """float64 uniform values in [low, high)."""
    return np.random.default_rng(seed).uniform(low, high, size=tuple(shape))


def away_from(x: np.ndarray, points: Sequence[float], gap: float = 0.1) -> np.ndarray:
    """Move every value closer than ``gap`` to one of ``points`` (kinks: 0 for relu/abs, clip bounds) to ``gap`` away."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + np.where(x[near] >= p, gap, -gap)
    return x


def distinct_array(seed: int, shape: Sequence[int]) -> np.ndarray:
    """Values at least 0.2 apart (no ties, so max/min are differentiable for central differences)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * 0.3 + rng.uniform(-0.05, 0.05, size)).reshape(tuple(shape))


def tensors(*arrays, requires_grad: bool = True) -> list[Tensor]:
    """float64 leaf tensors made from the arrays."""
    return [Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays]


# ----- gradient checks ------------------------------------------------------------------
def check_gradients(fn: Callable[..., Tensor], *arrays, **kwargs) -> None:
    """gradcheck ``fn`` in float64 with respect to every array."""
    assert tinygrad_sm.gradcheck(fn, tensors(*arrays), **kwargs) is True


def gradient_function(fn: Callable[..., Tensor], seed: int = 1234) -> Callable[..., tuple[Tensor, ...]]:
    """x ↦ ∂⟨w, fn(x)⟩/∂x recorded with create_graph=True, for fixed random weights w.

    gradcheck of this function compares the *second* derivatives of ``fn`` with
    central differences of its first derivatives.
    """

    def gradient(*xs: Tensor) -> tuple[Tensor, ...]:
        out = fn(*xs)
        weights = np.random.default_rng(seed).standard_normal(out.shape)
        grads = tinygrad_sm.grad((out * weights).sum(), list(xs), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(x.shape)) for g, x in zip(grads, xs))

    return gradient


def check_second_derivatives(fn: Callable[..., Tensor], *arrays, **kwargs) -> None:
    """The gradient recorded with create_graph=True equals the plain one, and gradcheck of it
    (second derivatives of ``fn``) passes, in float64."""
    recorded = gradient_function(fn)(*tensors(*arrays))
    plain_inputs = tensors(*arrays)
    out = fn(*plain_inputs)
    weights = np.random.default_rng(1234).standard_normal(out.shape)
    plain = tinygrad_sm.grad((out * weights).sum(), plain_inputs, allow_unused=True)
    for r, p in zip(recorded, plain):
        np.testing.assert_allclose(r.data, 0.0 if p is None else p.data, rtol=1e-12, atol=1e-12)
    assert tinygrad_sm.gradcheck(gradient_function(fn), tensors(*arrays), **kwargs) is True


def numeric_gradient(fn: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar NumPy function."""
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    flat, flat_out = x.reshape(-1), out.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        plus = fn(x)
        flat[i] = keep - eps
        minus = fn(x)
        flat[i] = keep
        flat_out[i] = (plus - minus) / (2 * eps)
    return out


# ----- strategies -----------------------------------------------------------------------
def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def axes_for(draw, ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    """An axis argument for a tensor of ``ndim`` dimensions: None, an int (maybe negative), or a tuple."""
    kinds = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none" or ndim == 0:
        return None if allow_none else draw(st.sampled_from([0, -1]))
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


@st.composite
def shape_axis_keepdims(draw, min_dims: int = 1, max_dims: int = 3, max_side: int = 4, allow_tuple: bool = True):
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side))
    axis = draw(axes_for(len(shape), allow_tuple=allow_tuple))
    return shape, axis, draw(st.booleans())


def broadcastable_pairs(max_dims: int = 3, max_side: int = 3) -> st.SearchStrategy:
    """Two shapes that broadcast together (either may be 0-d or have size-1 axes)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=max_side).map(
        lambda shapes: shapes.input_shapes
    )
