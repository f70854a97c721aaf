"""Parity with PyTorch.

1. Stored: tests/reference/torch_reference.npz (made by tests/reference/make_torch_reference.py) holds PyTorch's
   outputs and input gradients for several hundred cases; every case is replayed here, so CI compares
   against PyTorch without installing it.
2. Live: when torch is importable, hypothesis draws random cases and both libraries run them.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import broadcastable_pairs, shape_axis_keepdims
from hypothesis import given
from hypothesis import strategies as st
from make_torch_reference import PATH, decode_index, load_reference, run_torch

import tinygrad_sm
from tinygrad_sm import Tensor

TOLERANCES = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


def run_tinygrad(case: dict, arrays: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """tinygrad_sm's output and the gradient of ⟨cotangent, output⟩ for each input in ``case["grad_inputs"]``."""
    op, p = case["op"], case["params"]
    leaves = {name: Tensor(arrays[name], requires_grad=name in case["grad_inputs"]) for name in case["inputs"]}
    x = [leaves[name] for name in case["inputs"]]
    binary = {"add": lambda u, v: u + v, "sub": lambda u, v: u - v, "mul": lambda u, v: u * v,
              "div": lambda u, v: u / v, "pow": lambda u, v: u**v}

    if op == "unary":
        out = -x[0] if p["fn"] == "neg" else getattr(x[0], p["fn"])()
    elif op == "clip":
        out = x[0].clip(p["lo"], p["hi"])
    elif op == "binary":
        out = binary[p["fn"]](*x)
    elif op == "scalar":
        pair = (p["scalar"], x[0]) if p["side"] == "left" else (x[0], p["scalar"])
        out = binary[p["fn"]](*pair)
    elif op == "reduce":
        axis = tuple(p["axis"]) if isinstance(p["axis"], list) else p["axis"]
        out = getattr(x[0], p["fn"])(axis=axis, keepdims=p["keepdims"])
    elif op == "matmul":
        out = x[0] @ x[1]
    elif op in ("softmax", "log_softmax"):
        out = getattr(x[0], op)(axis=p["axis"])
    elif op == "logsumexp":
        axis = tuple(p["axis"]) if isinstance(p["axis"], list) else p["axis"]
        out = x[0].logsumexp(axis=axis, keepdims=p["keepdims"])
    elif op == "reshape":
        out = x[0].reshape(tuple(p["shape"]))
    elif op == "transpose":
        out = x[0].transpose(*p["perm"])
    elif op == "swapaxes":
        out = x[0].swapaxes(p["a"], p["b"])
    elif op == "broadcast_to":
        out = x[0].broadcast_to(tuple(p["shape"]))
    elif op == "getitem":
        out = x[0][decode_index(p["index"], arrays)]
    elif op == "concatenate":
        out = Tensor.concatenate(x, axis=p["axis"])
    elif op == "stack":
        out = Tensor.stack(x, axis=p["axis"])
    elif op == "astype":
        out = x[0].astype(np.dtype(p["dtype"]))
    elif op == "cross_entropy":
        out = x[0].cross_entropy(x[1], weight=arrays["weight"] if p["weight"] else None, ignore_index=p["ignore_index"],
                                 reduction=p["reduction"], label_smoothing=p["label_smoothing"])
    else:
        raise ValueError(f"unknown op {op}")

    wanted = [leaves[name] for name in case["grad_inputs"]]
    if not wanted:
        return out.data, {}
    grads = tinygrad_sm.grad(out, wanted, grad_outputs=arrays["cotangent"], allow_unused=True)
    return out.data, {
        name: np.zeros(leaf.shape, leaf.dtype) if g is None else g.data
        for name, g, leaf in zip(case["grad_inputs"], grads, wanted)
    }


def compare(case, arrays, out, grads, expected_out, expected_grads, tolerance=None):
    tolerance = tolerance or TOLERANCES[case["dtype"]]
    assert out.shape == expected_out.shape, (out.shape, expected_out.shape)
    assert out.dtype == expected_out.dtype, (out.dtype, expected_out.dtype)
    np.testing.assert_allclose(out, expected_out, err_msg=f"{case['name']}: output", **tolerance)
    for name in case["grad_inputs"]:
        got, want = grads[name], expected_grads[name]
        assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, got.dtype, want.shape, want.dtype)
        np.testing.assert_allclose(got, want, err_msg=f"{case['name']}: gradient of {name}", **tolerance)


# ----- 1. the stored reference --------------------------------------------------------------
DOCUMENT, CASES = load_reference()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case, arrays", [pytest.param(case, arrays, id=case["name"]) for case, arrays in CASES])
def test_matches_stored_pytorch_reference(case, arrays):
    out, grads = run_tinygrad(case, arrays)
    expected_grads = {name: arrays[f"grad/{name}"] for name in case["grad_inputs"]}
    compare(case, arrays, out, grads, arrays["out"], expected_grads)


def test_reference_file_covers_every_op_and_option():
    assert PATH.stat().st_size < 500_000
    ops = {case["op"] for case, _ in CASES}
    assert ops == {"unary", "clip", "binary", "scalar", "reduce", "matmul", "softmax", "log_softmax", "logsumexp",
                   "reshape", "transpose", "swapaxes", "broadcast_to", "getitem", "concatenate", "stack", "astype",
                   "cross_entropy"}
    ce = [case["params"] for case, _ in CASES if case["op"] == "cross_entropy"]
    assert {p["reduction"] for p in ce} == {"mean", "sum", "none"}
    assert {p["label_smoothing"] for p in ce} >= {0.0, 0.1, 1.0}
    assert {p["weight"] for p in ce} == {False, True}
    assert {p["ignore_index"] for p in ce} == {-100, 3}
    kinds = {(arrays["target"].dtype.kind, arrays["logits"].ndim) for case, arrays in CASES if case["op"] == "cross_entropy"}
    assert kinds == {("i", 1), ("i", 2), ("f", 1), ("f", 2)}
    assert {case["dtype"] for case, _ in CASES} == {"float32", "float64"}
    assert DOCUMENT["torch_version"].startswith("2.")


# ----- 2. live comparisons with hypothesis --------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


DTYPES = st.sampled_from(["float64", "float32"])


def live(case: dict, arrays: dict) -> None:
    """Run one case with both libraries and compare."""
    case = dict({"name": f"live {case['op']}", "params": {}}, **case)
    rng = np.random.default_rng(0)
    probe_out, _ = run_tinygrad(dict(case, grad_inputs=[]), arrays)
    arrays = dict(arrays, cotangent=rng.standard_normal(probe_out.shape).astype(case["dtype"]))
    expected_out, expected_grads = run_torch(case, arrays)
    out, grads = run_tinygrad(case, arrays)
    compare(case, arrays, out, grads, expected_out, expected_grads)


def random_values(seed, shape, dtype, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


@given(fn=st.sampled_from(["add", "sub", "mul", "div", "pow"]), pair=broadcastable_pairs(), dtype=DTYPES,
       seed=st.integers(0, 10**6))
def test_live_binary_broadcasting(torch, fn, pair, dtype, seed):
    a = random_values(seed, pair[0], dtype, 0.3, 2.0) if fn == "pow" else random_values(seed, pair[0], dtype)
    b = random_values(seed + 1, pair[1], dtype, 0.5, 2.0) if fn == "div" else random_values(seed + 1, pair[1], dtype)
    case = {"op": "binary", "params": {"fn": fn}, "inputs": ["a", "b"], "grad_inputs": ["a", "b"], "dtype": dtype}
    live(case, {"a": a, "b": b})


@given(fn=st.sampled_from(["neg", "exp", "log", "sqrt", "abs", "relu", "tanh", "sigmoid"]),
       shape=st.lists(st.integers(1, 4), max_size=3), dtype=DTYPES, seed=st.integers(0, 10**6))
def test_live_unary(torch, fn, shape, dtype, seed):
    x = random_values(seed, shape, dtype, 0.1, 3.0) if fn in ("log", "sqrt") else random_values(seed, shape, dtype, -10, 10)
    live({"op": "unary", "params": {"fn": fn}, "inputs": ["x"], "grad_inputs": ["x"], "dtype": dtype}, {"x": x})


@given(fn=st.sampled_from(["sum", "mean", "max", "min"]), case=shape_axis_keepdims(), dtype=DTYPES,
       seed=st.integers(0, 10**6), ties=st.booleans())
def test_live_reductions(torch, fn, case, dtype, seed, ties):
    shape, axis, keepdims = case
    x = random_values(seed, shape, dtype)
    if ties:  # few distinct values: many tied maxima and minima
        x = np.round(x).astype(dtype)
    axis = list(axis) if isinstance(axis, tuple) else axis
    live({"op": "reduce", "params": {"fn": fn, "axis": axis, "keepdims": keepdims}, "inputs": ["x"], "grad_inputs": ["x"],
          "dtype": dtype}, {"x": x})


@given(op=st.sampled_from(["softmax", "log_softmax", "logsumexp"]), case=shape_axis_keepdims(allow_tuple=False),
       dtype=DTYPES, seed=st.integers(0, 10**6), scale=st.sampled_from([1.0, 30.0, 500.0]))
def test_live_softmax_family(torch, op, case, dtype, seed, scale):
    shape, axis, keepdims = case
    axis = -1 if axis is None else axis
    params = {"axis": axis, "keepdims": keepdims} if op == "logsumexp" else {"axis": axis}
    x = random_values(seed, shape, dtype) * scale
    live({"op": op, "params": params, "inputs": ["x"], "grad_inputs": ["x"], "dtype": dtype}, {"x": x})


@given(n=st.integers(1, 5), c=st.integers(1, 5), kind=st.sampled_from(["index", "probs"]), one_d=st.booleans(),
       weighted=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]),
       smoothing=st.sampled_from([0.0, 0.05, 0.3, 1.0]), dtype=DTYPES, data=st.data())
def test_live_cross_entropy(torch, n, c, kind, one_d, weighted, reduction, smoothing, dtype, data):
    shape = (c,) if one_d else (n, c)
    seed = data.draw(st.integers(0, 10**6))
    logits = random_values(seed, shape, dtype, -4, 4)
    if kind == "probs":
        target = random_values(seed + 1, shape, dtype, 0.0, 1.0)
        target /= target.sum(axis=-1, keepdims=True)
        grad_inputs = ["logits", "target"]
    else:
        choices = st.integers(0, c - 1) | st.just(-100)
        target = np.array(data.draw(choices) if one_d else data.draw(st.lists(choices, min_size=n, max_size=n)), np.int64)
        grad_inputs = ["logits"]
    arrays = {"logits": logits, "target": target}
    if weighted:
        arrays["weight"] = random_values(seed + 2, (c,), dtype, 0.1, 2.0)
    params = {"weight": weighted, "reduction": reduction, "label_smoothing": smoothing, "ignore_index": -100}
    live({"op": "cross_entropy", "params": params, "inputs": ["logits", "target"], "grad_inputs": grad_inputs, "dtype": dtype},
         arrays)


@given(n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), batch=st.lists(st.integers(1, 2), max_size=2),
       vector_a=st.booleans(), vector_b=st.booleans(), dtype=DTYPES, seed=st.integers(0, 10**6))
def test_live_matmul(torch, n, k, m, batch, vector_a, vector_b, dtype, seed):
    shape_a = (k,) if vector_a else (*batch, n, k)
    shape_b = (k,) if vector_b else (k, m)
    live({"op": "matmul", "inputs": ["a", "b"], "grad_inputs": ["a", "b"], "dtype": dtype},
         {"a": random_values(seed, shape_a, dtype), "b": random_values(seed + 1, shape_b, dtype)})


@given(rows=st.lists(st.integers(-3, 2), min_size=1, max_size=6), mask=st.lists(st.booleans(), min_size=4, max_size=4),
       seed=st.integers(0, 10**6))
def test_live_indexing_with_repeats_and_masks(torch, rows, mask, seed):
    x = random_values(seed, (3, 4), "float64")
    case = {"op": "getitem", "inputs": ["x"], "grad_inputs": ["x"], "dtype": "float64"}
    live(dict(case, params={"index": [{"array": "i0"}]}), {"x": x, "i0": np.array(rows)})
    live(dict(case, params={"index": [{"slice": [None, None, None]}, {"array": "i0"}]}), {"x": x, "i0": np.array(mask)})
