"""Ops that check once (``Function.check``): the contract a ``jit`` replay relies on.

A replay makes one ctx per op, runs the op's ``check`` once on the record's arrays, and then, on every
call, only ``forward`` and ``backward`` with that ctx, on new arrays of the same shapes and dtypes. So
for every op with a check: forward and backward called twice with one checked ctx, on two new sets
of data, give exactly what ``apply`` and ``backward()`` give on the same data (bit for bit), and the
checks that depend on the data (class indices, embedding rows) still run in forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.function import _output_array
from tinygrad_sm.shapes import unbroadcast


@dataclass
class G:
    """An input Tensor that requires grad."""

    array: np.ndarray


@dataclass
class D:
    """An input Tensor that does not require grad (targets, indices, running buffers)."""

    array: np.ndarray


def normal(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def class_targets(rng, rows, classes, ignored=None):
    """Class indices; with ``ignored``, some rows are that index (more of them on later seeds)."""
    target = rng.integers(0, classes, rows)
    if ignored is not None:
        target[: rng.integers(1, rows)] = ignored
    return target


def probabilities(rng, *shape):
    p = rng.uniform(0.1, 1.0, shape)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def tiles_with_a_nan(rng):
    x = normal(rng, 2, 3, 4, 4)
    if rng.integers(2):  # (then the tiled max_pool2d takes its general path on this call)
        x[1, 2, 0, 1] = np.nan
    return x


# op name -> [(case id, make(rng) -> (args, kwargs))]
CASES: dict[str, list[tuple[str, Any]]] = {
    "matmul": [
        ("2d", lambda r: ([G(normal(r, 3, 4)), G(normal(r, 4, 5))], {})),
        ("batched-vector", lambda r: ([G(normal(r, 2, 3, 4)), G(normal(r, 4))], {})),
        ("list-operand", lambda r: ([G(normal(r, 2, 2)), [[1.0, 2.0], [3.0, 4.0]]], {})),
    ],
    "linear": [
        ("bias", lambda r: ([G(normal(r, 5, 3)), G(normal(r, 4, 3)), G(normal(r, 4))], {})),
        ("3d-no-bias", lambda r: ([G(normal(r, 2, 5, 3)), G(normal(r, 4, 3))], {})),
    ],
    "add": [("broadcast", lambda r: ([G(normal(r, 3, 4)), G(normal(r, 4))], {}))],
    "sub": [("number", lambda r: ([G(normal(r, 3, 4)), 0.5], {}))],
    "mul": [("list", lambda r: ([G(normal(r, 2, 3)), [1.0, 2.0, 3.0]], {}))],
    "div": [("broadcast", lambda r: ([G(normal(r, 3, 4)), G(positive(r, 3, 1))], {}))],
    "maximum": [("tensors", lambda r: ([G(normal(r, 3, 4)), G(normal(r, 3, 4))], {}))],
    "minimum": [("number", lambda r: ([G(normal(r, 3, 4)), 0.0], {}))],
    "leaky_relu": [("slope", lambda r: ([G(normal(r, 3, 4)), 0.2], {}))],
    "elu": [("alpha", lambda r: ([G(normal(r, 3, 4)), 0.5], {}))],
    "gelu": [("tanh", lambda r: ([G(normal(r, 3, 4))], {"approximate": "tanh"})), ("erf", lambda r: ([G(normal(r, 3, 4))], {}))],
    "softplus": [("beta-threshold", lambda r: ([G(normal(r, 3, 4) * 4), 2.0, 3.0], {}))],
    "where": [("broadcast", lambda r: ([r.uniform(size=(3, 4)) > 0.5, G(normal(r, 3, 4)), G(normal(r, 4))], {}))],
    "masked_fill": [("value", lambda r: ([G(normal(r, 3, 4)), D(r.uniform(size=(1, 4)) > 0.5), G(normal(r))], {}))],
    "softmax": [
        ("last-axis", lambda r: ([G(normal(r, 6, 5))], {})),
        ("axis-0", lambda r: ([G(normal(r, 6, 5))], {"axis": 0})),
        ("row-blocks", lambda r: ([G(normal(r, 300, 600))], {})),
        ("float64", lambda r: ([G(normal(r, 4, 7, dtype=np.float64))], {"axis": -1})),
        ("mask", lambda r: ([G(normal(r, 4, 5))], {"mask": r.uniform(size=(4, 5)) > 0.3})),
        ("temperature", lambda r: ([G(normal(r, 4, 5))], {"temperature": 2.5})),
    ],
    "log_softmax": [
        ("last-axis", lambda r: ([G(normal(r, 6, 5))], {})),
        ("row-blocks", lambda r: ([G(normal(r, 300, 600))], {})),
        ("axis-1-of-3d", lambda r: ([G(normal(r, 2, 5, 3))], {"axis": 1})),
        ("mask", lambda r: ([G(normal(r, 4, 5))], {"mask": r.uniform(size=(4, 5)) > 0.3})),
    ],
    "logsumexp": [("axes", lambda r: ([G(normal(r, 3, 4, 5))], {"axis": (0, 2), "keepdims": True}))],
    "cross_entropy": [
        ("classes", lambda r: ([G(normal(r, 64, 10)), D(class_targets(r, 64, 10))], {})),
        ("ignored-rows", lambda r: ([G(normal(r, 8, 5)), D(class_targets(r, 8, 5, ignored=-100))], {})),
        (
            "ignore-a-class",
            lambda r: ([G(normal(r, 8, 5)), D(class_targets(r, 8, 5, ignored=2))], {"ignore_index": 2}),
        ),
        (
            "weights-smoothing-sum",
            lambda r: (
                [G(normal(r, 8, 5)), D(class_targets(r, 8, 5, ignored=-100)), D(positive(r, 5))],
                {"label_smoothing": 0.1, "reduction": "sum"},
            ),
        ),
        ("none-k-dim", lambda r: ([G(normal(r, 2, 4, 3)), D(r.integers(0, 4, (2, 3)))], {"reduction": "none"})),
        ("probabilities", lambda r: ([G(normal(r, 6, 4)), G(probabilities(r, 6, 4)), G(positive(r, 4))], {})),
        ("row-blocks", lambda r: ([G(normal(r, 200, 500)), D(class_targets(r, 200, 500))], {})),
    ],
    "conv2d": [
        ("bias-padding", lambda r: ([G(normal(r, 2, 3, 5, 5)), G(normal(r, 4, 3, 3, 3)), G(normal(r, 4)), 1, 1], {})),
        (
            "groups-same-unbatched",
            lambda r: ([G(normal(r, 4, 6, 6)), G(normal(r, 6, 2, 2, 2)), None, 1, "same", 1, 2], {}),
        ),
    ],
    "conv1d": [("stride", lambda r: ([G(normal(r, 2, 3, 9)), G(normal(r, 5, 3, 3)), G(normal(r, 5)), 2], {}))],
    "unfold": [("padding", lambda r: ([G(normal(r, 2, 3, 5, 5)), 3, 1, 1, 2], {}))],
    "fold": [("overlap", lambda r: ([G(normal(r, 2, 12, 9)), (4, 4), 2], {}))],
    "max_pool2d": [
        ("tiles-maybe-nan", lambda r: ([G(tiles_with_a_nan(r)), 2], {})),
        ("padding-unbatched", lambda r: ([G(normal(r, 3, 5, 5)), 3, 2, 1], {})),
    ],
    "avg_pool2d": [("ceil-mode", lambda r: ([G(normal(r, 2, 3, 5, 5)), 2, 2, 1, True, False], {}))],
    "adaptive_avg_pool2d": [
        ("3x2", lambda r: ([G(normal(r, 2, 3, 7, 5)), (3, 2)], {})),
        ("global", lambda r: ([G(normal(r, 2, 3, 4, 4)), 1], {})),
    ],
    "adaptive_max_pool2d": [("3x2", lambda r: ([G(normal(r, 2, 3, 7, 5)), (3, 2)], {}))],
    "layer_norm": [("affine", lambda r: ([G(normal(r, 4, 3, 5)), (3, 5), G(normal(r, 3, 5)), G(normal(r, 3, 5))], {}))],
    "batch_norm": [
        (
            "training",
            lambda r: (
                [G(normal(r, 6, 3, 2)), D(normal(r, 3)), D(positive(r, 3)), G(normal(r, 3)), G(normal(r, 3)), True],
                {},
            ),
        ),
        ("eval", lambda r: ([G(normal(r, 6, 3)), D(normal(r, 3)), D(positive(r, 3)), G(normal(r, 3)), None, False], {})),
    ],
    "scaled_dot_product_attention": [
        ("causal", lambda r: ([G(normal(r, 2, 4, 3)), G(normal(r, 2, 5, 3)), G(normal(r, 2, 5, 2)), None, 0.0, True], {})),
        (
            "bool-mask",
            lambda r: ([G(normal(r, 4, 3)), G(normal(r, 5, 3)), G(normal(r, 5, 2)), D(r.uniform(size=(4, 5)) > 0.4)], {}),
        ),
        ("float-mask", lambda r: ([G(normal(r, 4, 3)), G(normal(r, 5, 3)), G(normal(r, 5, 2)), G(normal(r, 4, 5))], {})),
    ],
    "embedding": [
        ("padding-idx", lambda r: ([D(r.integers(0, 6, (3, 4))), G(normal(r, 6, 2)), 1], {})),
    ],
    "sum": [("axis", lambda r: ([G(normal(r, 3, 4))], {"axis": 1}))],
    "mean": [("axes-keepdims", lambda r: ([G(normal(r, 2, 3, 4))], {"axis": (0, 2), "keepdims": True}))],
    "max": [("all", lambda r: ([G(normal(r, 3, 4))], {}))],
    "min": [("axis", lambda r: ([G(normal(r, 3, 4))], {"axis": -1}))],
    "reshape": [("minus-one", lambda r: ([G(normal(r, 3, 4)), 2, -1], {}))],
    "transpose": [("permutation", lambda r: ([G(normal(r, 2, 3, 4)), 2, 0, 1], {}))],
    "swapaxes": [("negative", lambda r: ([G(normal(r, 2, 3, 4)), 0, -1], {}))],
}


def _arrays(args):
    return [a.array if isinstance(a, G | D) else a for a in args]


def _tensors(args):
    return [
        Tensor(a.array.copy(), requires_grad=True) if isinstance(a, G) else Tensor(a.array.copy()) if isinstance(a, D) else a
        for a in args
    ]


def _upstream(seed, out):
    return np.random.default_rng(1000 + seed).standard_normal(out.shape).astype(out.dtype)


def eager(cls, make, seed):
    """The output, the gradients of the inputs that require grad and the inputs after the call (a
    batch_norm updates its buffers), from ``apply`` and ``backward()``."""
    args, kwargs = make(np.random.default_rng(seed))
    inputs = _tensors(args)
    out = cls.apply(*inputs, **kwargs)
    out.backward(Tensor(_upstream(seed, out.data)))
    grads = [t.grad.data for t, a in zip(inputs, args) if isinstance(a, G)]
    return out.data, grads, [t.data for t in inputs if isinstance(t, Tensor)]


def replay(cls, make, seeds):
    """The same for each seed, from one ctx checked once on the data of seed 0 (as a replay does)."""
    record, kwargs = make(np.random.default_rng(0))
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = tuple(isinstance(a, G) for a in record)
    cls.check(ctx, *_arrays(record), **kwargs)
    results = []
    for seed in seeds:
        args, kwargs = make(np.random.default_rng(seed))
        arrays = [a.copy() if isinstance(a, np.ndarray) else a for a in _arrays(args)]
        out = _output_array(cls, ctx, cls.forward(ctx, *arrays, **kwargs), arrays)
        grads = cls.backward(ctx, _upstream(seed, out))
        grads = grads if isinstance(grads, tuple) else (grads,)
        grads = [unbroadcast(np.asarray(g), a.array.shape).astype(a.array.dtype) for g, a in zip(grads, args) if isinstance(a, G)]
        results.append((out, grads, [x for x, a in zip(arrays, args) if isinstance(a, G | D)]))
    return results


ALL_CASES = [(name, case, make) for name, cases in CASES.items() for case, make in cases]


@pytest.mark.parametrize(("name", "case", "make"), ALL_CASES, ids=[f"{n}-{c}" for n, c, _ in ALL_CASES])
def test_forward_and_backward_with_one_checked_ctx_equal_apply(name, case, make):
    cls = tinygrad_sm.get_op(name)
    assert cls.check is not None
    for seed, (out, grads, inputs) in zip((1, 2), replay(cls, make, (1, 2))):
        expected_out, expected_grads, expected_inputs = eager(cls, make, seed)
        np.testing.assert_array_equal(out, expected_out)
        assert out.dtype == expected_out.dtype
        assert len(grads) == len(expected_grads)
        for grad, expected in zip(grads, expected_grads):
            np.testing.assert_array_equal(grad, expected)
        for array, expected in zip(inputs, expected_inputs):  # (batch_norm's running buffers)
            np.testing.assert_array_equal(array, expected)


def test_every_op_with_a_check_is_replayed_here():
    checked = {name for name in tinygrad_sm.ops() if tinygrad_sm.get_op(name).check is not None}
    assert checked <= set(CASES), f"add a case for: {sorted(checked - set(CASES))}"


def _checked(name, *args, needs=(True, False), **kwargs):
    cls = tinygrad_sm.get_op(name)
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = needs
    cls.check(ctx, *args, **kwargs)
    return cls, ctx


def test_class_indices_are_checked_by_forward_on_every_call():
    z = np.zeros((3, 4), np.float32)
    cls, ctx = _checked("cross_entropy", z, np.array([0, 1, 2]))
    with pytest.raises(IndexError, match="target 4 is out of range for 4 classes"):
        cls.forward(ctx, z, np.array([0, 4, 2]))
    cls.forward(ctx, z, np.array([0, -100, 3]))  # (an ignored row is no class)
    assert ctx.targets.denominator == 2


def test_embedding_rows_are_checked_by_forward_on_every_call():
    table = np.zeros((5, 2), np.float32)
    cls, ctx = _checked("embedding", np.array([0, 1]), table, needs=(False, True))
    with pytest.raises(IndexError, match="index 5 is out of range for a table of 5 rows"):
        cls.forward(ctx, np.array([0, 5]), table)


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "error", "match"),
    [
        ("linear", (np.zeros((2, 3)), np.zeros((4, 2))), {}, ValueError, "does not fit weight"),
        ("matmul", (np.zeros((2, 3)), np.zeros((2, 3))), {}, ValueError, "do not align"),
        ("softmax", (np.zeros(3, int),), {}, TypeError, "floating-point"),
        ("cross_entropy", (np.zeros((2, 3)), np.zeros(3, int)), {}, ValueError, "must have shape"),
        ("conv2d", (np.zeros((1, 2, 4, 4)), np.zeros((3, 1, 2, 2))), {}, ValueError, "channels"),
        ("max_pool2d", (np.zeros((1, 1, 4, 4)), 2, 2, 2), {}, ValueError, "at most half"),
        ("layer_norm", (np.zeros((2, 3)), 4), {}, ValueError, "trailing axes"),
        ("embedding", (np.zeros(2), np.zeros((3, 2))), {}, TypeError, "integers"),
    ],
)
def test_check_does_the_validation(name, args, kwargs, error, match):
    """A replay validates once: the errors that depend only on shapes, dtypes and settings come
    from check (forward is never reached with such arguments)."""
    with pytest.raises(error, match=match):
        _checked(name, *args, **kwargs)
