"""Build tests/reference/torch_reference.npz: PyTorch's outputs and input gradients for many cases.

    python tests/reference/make_torch_reference.py          (needs torch; the tests that read the file do not)

Each case is an op, its parameters, its input arrays and a cotangent (the upstream gradient of the
output). PyTorch computes the output and the vector-Jacobian product for every differentiable input.
The file holds arrays only, so ``np.load(path, allow_pickle=False)`` reads it:

* ``__manifest__``: a JSON document, as uint8 bytes, listing the cases: name, op, params, inputs,
  which inputs get gradients, dtype, and where each of its arrays is stored;
* ``float64``, ``float32``, ``int64``, ``bool``: every array of that dtype, flattened and concatenated
  (one buffer per dtype keeps the file small); the manifest gives each array's offset and shape.

A case's arrays are its inputs, ``cotangent`` (the upstream gradient), ``out`` and ``grad/<input>``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

PATH = Path(__file__).parent / "torch_reference.npz"
MANIFEST_KEY = "__manifest__"
inf = np.inf


# ----- running one case with PyTorch ------------------------------------------------------
def decode_index(spec: list, arrays: dict, to_tensor=None) -> tuple:
    """An index spec from the manifest -> an index for ``x[...]`` (arrays optionally converted by ``to_tensor``)."""
    parts = []
    for item in spec:
        if "int" in item:
            parts.append(item["int"])
        elif "slice" in item:
            parts.append(slice(*item["slice"]))
        elif "array" in item:
            array = arrays[item["array"]]
            parts.append(to_tensor(array) if to_tensor else array)
        elif "ellipsis" in item:
            parts.append(Ellipsis)
        elif "newaxis" in item:
            parts.append(None)
        else:
            raise ValueError(f"unknown index item {item}")
    return tuple(parts)


def torch_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(axis) if isinstance(axis, list) else axis


def run_torch(case: dict, arrays: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """PyTorch's output and the gradient of ⟨cotangent, output⟩ for every input in ``case["grad_inputs"]``."""
    import torch
    from torch.nn import functional

    op, p = case["op"], case["params"]
    leaves = {}
    for name in case["inputs"]:
        leaves[name] = torch.tensor(arrays[name], requires_grad=name in case["grad_inputs"])
    x = [leaves[name] for name in case["inputs"]]

    if op == "unary":
        out = {"neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
               "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[p["fn"]](x[0])
    elif op == "clip":
        out = torch.clamp(x[0], p["lo"], p["hi"])
    elif op == "binary":
        a, b = x
        out = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "pow": a**b}[p["fn"]]
    elif op == "scalar":
        s, t = p["scalar"], x[0]
        pair = (s, t) if p["side"] == "left" else (t, s)
        out = {"add": lambda u, v: u + v, "sub": lambda u, v: u - v, "mul": lambda u, v: u * v,
               "div": lambda u, v: u / v, "pow": lambda u, v: u**v}[p["fn"]](*pair)
    elif op == "reduce":
        fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin}[p["fn"]]
        out = fn(x[0], dim=torch_axis(p["axis"], x[0].ndim), keepdim=p["keepdims"])
    elif op == "matmul":
        out = x[0] @ x[1]
    elif op == "softmax":
        out = torch.softmax(x[0], dim=p["axis"])
    elif op == "log_softmax":
        out = torch.log_softmax(x[0], dim=p["axis"])
    elif op == "logsumexp":
        out = torch.logsumexp(x[0], dim=torch_axis(p["axis"], x[0].ndim), keepdim=p["keepdims"])
    elif op == "reshape":
        out = x[0].reshape(p["shape"])
    elif op == "transpose":
        out = x[0].permute(p["perm"] or list(range(x[0].ndim))[::-1])
    elif op == "swapaxes":
        out = torch.swapaxes(x[0], p["a"], p["b"])
    elif op == "broadcast_to":
        out = torch.broadcast_to(x[0], p["shape"])
    elif op == "getitem":
        out = x[0][decode_index(p["index"], arrays, torch.tensor)]
    elif op == "concatenate":
        out = torch.cat(x, dim=p["axis"])
    elif op == "stack":
        out = torch.stack(x, dim=p["axis"])
    elif op == "astype":
        out = x[0].to({"float32": torch.float32, "float64": torch.float64}[p["dtype"]])
    elif op == "cross_entropy":
        weight = torch.tensor(arrays["weight"]) if p["weight"] else None
        out = functional.cross_entropy(x[0], x[1], weight=weight, ignore_index=p["ignore_index"],
                              reduction=p["reduction"], label_smoothing=p["label_smoothing"])
    else:
        raise ValueError(f"unknown op {op}")

    wanted = [leaves[name] for name in case["grad_inputs"]]
    if not wanted:
        return out.detach().numpy(), {}
    grads = torch.autograd.grad(out, wanted, grad_outputs=torch.tensor(arrays["cotangent"]), allow_unused=True)
    result = {name: (np.zeros(arrays[name].shape, arrays[name].dtype) if g is None else g.numpy())
              for name, g in zip(case["grad_inputs"], grads)}
    return out.detach().numpy(), result


# ----- the cases --------------------------------------------------------------------------
class Builder:
    def __init__(self) -> None:
        self.cases: list[tuple[dict, dict]] = []
        self.rng = np.random.default_rng(20240601)

    def normal(self, shape, dtype="float64", low=None, high=None):
        if low is not None:
            return self.rng.uniform(low, high, size=shape).astype(dtype)
        return self.rng.standard_normal(shape).astype(dtype)

    def add(self, name, op, params, inputs: dict, grad_inputs, dtype="float64", extra=None, cotangent_shape=None):
        arrays = {key: np.asarray(value) for key, value in inputs.items()}
        arrays.update(extra or {})
        case = {"name": f"{op}/{name}/{dtype}/{len(self.cases)}", "op": op, "params": params,
                "inputs": list(inputs), "grad_inputs": list(grad_inputs), "dtype": dtype}
        if cotangent_shape is None:  # run once without a cotangent to learn the output shape
            probe = dict(arrays, cotangent=np.zeros(()))
            cotangent_shape = _output_shape(case, probe)
        arrays["cotangent"] = self.normal(cotangent_shape, dtype)
        self.cases.append((case, arrays))


def _output_shape(case, arrays):
    import torch

    with torch.no_grad():
        case = dict(case, grad_inputs=[])
        out, _ = run_torch(case, arrays)
    return out.shape


def build_cases() -> list[tuple[dict, dict]]:
    b = Builder()
    domains = {"log": (0.2, 3.0), "sqrt": (0.2, 3.0)}
    for dtype in ("float64", "float32"):
        # elementwise
        for fn in ("neg", "exp", "log", "sqrt", "abs", "relu", "tanh", "sigmoid"):
            low, high = domains.get(fn, (-3.0, 3.0))
            b.add(fn, "unary", {"fn": fn}, {"x": b.normal((3, 4), dtype, low, high)}, ["x"], dtype)
        b.add("saturated", "unary", {"fn": "sigmoid"}, {"x": np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype)}, ["x"], dtype)
        b.add("kinks", "unary", {"fn": "relu"}, {"x": np.array([-1.0, 0.0, 2.0], dtype)}, ["x"], dtype)
        b.add("kinks", "unary", {"fn": "abs"}, {"x": np.array([-1.0, 0.0, 2.0], dtype)}, ["x"], dtype)
        for lo, hi in ((-0.5, 0.5), (None, 0.3), (-0.2, None), (0.0, 2.0)):
            x = np.concatenate([b.normal((6,), dtype), np.array([0.0, 2.0, -0.5, 0.5], dtype)])
            b.add(f"{lo}_{hi}", "clip", {"lo": lo, "hi": hi}, {"x": x}, ["x"], dtype)
        for fn in ("add", "sub", "mul", "div", "pow"):
            for shape_a, shape_b in (((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((4,), (2, 3, 1))):
                a = b.normal(shape_a, dtype, 0.3, 2.0) if fn == "pow" else b.normal(shape_a, dtype)
                other = b.normal(shape_b, dtype, 0.5, 2.0) if fn == "div" else b.normal(shape_b, dtype)
                b.add(f"{shape_a}x{shape_b}", "binary", {"fn": fn}, {"a": a, "b": other}, ["a", "b"], dtype)
            for side in ("left", "right"):
                for scalar in (2.0, 0.5, -1.5):
                    if fn == "pow" and side == "left" and scalar < 0:
                        continue
                    x = b.normal((3,), dtype, 0.3, 2.0) if fn in ("pow", "div") else b.normal((3,), dtype)
                    b.add(f"{side}{scalar}", "scalar", {"fn": fn, "side": side, "scalar": scalar}, {"x": x}, ["x"], dtype)
        b.add("zero_base", "binary", {"fn": "pow"},
              {"a": np.array([0.0, 0.0, 2.0, 0.0, 1.5], dtype), "b": np.array([0.0, 2.0, 0.0, 1.0, -1.0], dtype)},
              ["a", "b"], dtype)
        # reductions
        for fn in ("sum", "mean", "max", "min"):
            for axis, keepdims in ((None, False), (None, True), (0, False), (-1, True), ([0, 2], False), ([-1, -2], True)):
                b.add(f"{axis}_{keepdims}", "reduce", {"fn": fn, "axis": axis, "keepdims": keepdims},
                      {"x": b.normal((2, 3, 4), dtype)}, ["x"], dtype)
        for fn in ("max", "min"):
            ties = np.array([[1.0, 3.0, 3.0, -2.0], [-2.0, -2.0, 0.0, 3.0], [5.0, 5.0, 5.0, 5.0]], dtype)
            for axis in (None, 0, 1):
                b.add(f"ties_{axis}", "reduce", {"fn": fn, "axis": axis, "keepdims": False}, {"x": ties}, ["x"], dtype)
        # matmul
        for shape_a, shape_b in (((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)),
                                 ((1, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2))):
            b.add(f"{shape_a}@{shape_b}", "matmul", {}, {"a": b.normal(shape_a, dtype), "b": b.normal(shape_b, dtype)},
                  ["a", "b"], dtype)
        # softmax family
        for axis in (0, 1, -1):
            for op in ("softmax", "log_softmax"):
                b.add(f"axis{axis}", op, {"axis": axis}, {"x": b.normal((3, 5), dtype) * 3}, ["x"], dtype)
        for axis, keepdims in ((-1, False), (0, True), ([0, 2], False), (None, False), (1, True)):
            b.add(f"{axis}_{keepdims}", "logsumexp", {"axis": axis, "keepdims": keepdims},
                  {"x": b.normal((2, 3, 4), dtype) * 3}, ["x"], dtype)
        hostile = np.array([[1000.0, 1000.0, -1000.0], [0.0, -inf, 1.0], [-inf, -inf, -inf], [88.0, 89.0, 90.0]], dtype)
        for op in ("softmax", "log_softmax"):
            b.add("hostile", op, {"axis": -1}, {"x": hostile}, ["x"], dtype)
        b.add("hostile", "logsumexp", {"axis": -1, "keepdims": False}, {"x": hostile}, ["x"], dtype)
        b.add("plus_inf", "logsumexp", {"axis": -1, "keepdims": False}, {"x": np.array([[inf, 0.0, 1.0]], dtype)}, ["x"], dtype)
        # shape ops
        x34 = b.normal((3, 4), dtype)
        for shape in ((4, 3), (12,), (2, 2, 3), (1, 12)):
            b.add(str(shape), "reshape", {"shape": list(shape)}, {"x": x34}, ["x"], dtype)
        for perm in ([], [2, 0, 1], [1, 0, 2]):
            b.add(str(perm), "transpose", {"perm": perm}, {"x": b.normal((2, 3, 4), dtype)}, ["x"], dtype)
        for axes in ((0, 2), (-1, 0), (1, 1)):
            b.add(str(axes), "swapaxes", {"a": axes[0], "b": axes[1]}, {"x": b.normal((2, 3, 4), dtype)}, ["x"], dtype)
        for shape_in, shape_out in (((3, 1), (2, 3, 4)), ((), (2, 2)), ((4,), (3, 4))):
            b.add(f"{shape_in}to{shape_out}", "broadcast_to", {"shape": list(shape_out)}, {"x": b.normal(shape_in, dtype)},
                  ["x"], dtype)
        indices = {
            "int": ([{"int": 1}], {}),
            "negative_int": ([{"int": -1}, {"int": 2}], {}),
            "slices": ([{"slice": [1, None, None]}, {"slice": [0, 4, 2]}], {}),
            "repeated_ints": ([{"array": "i0"}], {"i0": np.array([0, 0, 2, 0])}),
            "paired_arrays": ([{"array": "i0"}, {"array": "i1"}], {"i0": np.array([0, 0, 2]), "i1": np.array([3, 3, 1])}),
            "mask": ([{"array": "i0"}], {"i0": np.array([True, False, True])}),
            "mask_2d": ([{"array": "i0"}], {"i0": x34 > 0}),
            "ellipsis_newaxis": ([{"ellipsis": True}, {"newaxis": True}, {"int": 1}], {}),
            "slice_and_array": ([{"slice": [None, None, None]}, {"array": "i0"}], {"i0": np.array([[1, 1], [0, 3]])}),
        }
        for name, (spec, extra) in indices.items():
            b.add(name, "getitem", {"index": spec}, {"x": x34}, ["x"], dtype, extra=extra)
        for axis in (0, 1, -1, -2):
            parts = [b.normal((2, 3), dtype), b.normal((2, 3), dtype), b.normal((2, 3), dtype)]
            b.add(f"axis{axis}", "concatenate", {"axis": axis}, {"a": parts[0], "b": parts[1], "c": parts[2]}, ["a", "b", "c"],
                  dtype)
        for axis in (0, 1, 2, -1, -3):
            parts = [b.normal((2, 3), dtype), b.normal((2, 3), dtype)]
            b.add(f"axis{axis}", "stack", {"axis": axis}, {"a": parts[0], "b": parts[1]}, ["a", "b"], dtype)
        other = "float32" if dtype == "float64" else "float64"
        b.add(f"to_{other}", "astype", {"dtype": other}, {"x": b.normal((3,), dtype)}, ["x"], dtype, cotangent_shape=(3,))
        # cross_entropy: every combination of options
        add_cross_entropy_cases(b, dtype)
    return b.cases


def add_cross_entropy_cases(b: Builder, dtype: str) -> None:
    n, c = 5, 4
    weight = np.array([0.5, 2.0, 1.0, 1.5], dtype)
    for weighted, reduction, smoothing in itertools.product([False, True], ["mean", "sum", "none"], [0.0, 0.1, 1.0]):
        common = {"weight": weighted, "reduction": reduction, "label_smoothing": smoothing}
        extra = {"weight": weight} if weighted else {}
        tag = f"{'w' if weighted else 'no_w'}_{reduction}_ls{smoothing}"
        # class indices: none / some / every row ignored, the default and a custom ignore_index
        for ignored, targets, ignore_index in (
            ("none", [0, 3, 1, 2, 3], -100),
            ("some", [0, -100, 1, -100, 3], -100),
            ("all", [-100] * 5, -100),
            ("custom", [0, 3, 1, 2, 3], 3),
        ):
            b.add(f"index_{ignored}_{tag}", "cross_entropy", dict(common, ignore_index=ignore_index),
                  {"logits": b.normal((n, c), dtype) * 2, "target": np.array(targets, np.int64)}, ["logits"], dtype, extra)
        # 1-D logits with a 0-d class index, kept and ignored
        for target in (2, -100):
            b.add(f"index_1d_{target}_{tag}", "cross_entropy", dict(common, ignore_index=-100),
                  {"logits": b.normal((c,), dtype), "target": np.array(target, np.int64)}, ["logits"], dtype, extra)
        # class probabilities, with a gradient for the targets too
        for one_d in (False, True):
            shape = (c,) if one_d else (n, c)
            probs = b.rng.random(shape).astype(dtype)
            probs /= probs.sum(axis=-1, keepdims=True)
            b.add(f"probs_{'1d' if one_d else '2d'}_{tag}", "cross_entropy", dict(common, ignore_index=-100),
                  {"logits": b.normal(shape, dtype), "target": probs}, ["logits", "target"], dtype, extra)
    # hostile logits
    hostile = [
        ("huge", [[1000.0, 1000.0, -1000.0]], [0], 0.0),
        ("large_f32", [[88.0, 89.0, 90.0]], [0], 0.0),
        ("minus_inf_other", [[0.0, -inf, 1.0], [2.0, 1.0, -inf]], [0, 1], 0.0),
        ("minus_inf_other_smoothed", [[0.0, -inf, 1.0], [2.0, 1.0, -inf]], [0, 1], 0.1),
        ("minus_inf_target", [[0.0, -inf, 1.0]], [1], 0.0),
        ("minus_inf_ignored_row", [[-inf, -inf, -inf], [0.0, 1.0, 2.0]], [-100, 2], 0.0),
    ]
    for name, logits, targets, smoothing in hostile:
        for reduction in ("mean", "sum", "none"):
            b.add(f"hostile_{name}_{reduction}", "cross_entropy",
                  {"weight": False, "reduction": reduction, "label_smoothing": smoothing, "ignore_index": -100},
                  {"logits": np.array(logits, dtype), "target": np.array(targets, np.int64)}, ["logits"], dtype)


# ----- writing the file -------------------------------------------------------------------
def pack(arrays: dict[str, np.ndarray], buffers: dict[str, list], sizes: dict[str, int]) -> dict[str, list]:
    """Append each array to the buffer of its dtype; return where each one went: {key: [dtype, offset, shape]}."""
    where = {}
    for key, value in arrays.items():
        value = np.asarray(value)
        dtype = value.dtype.name
        where[key] = [dtype, sizes.get(dtype, 0), list(value.shape)]
        buffers.setdefault(dtype, []).append(value.reshape(-1))
        sizes[dtype] = sizes.get(dtype, 0) + value.size
    return where


def main() -> None:
    import torch

    torch.manual_seed(0)
    buffers: dict[str, list] = {}
    sizes: dict[str, int] = {}
    manifest = []
    for case, arrays in build_cases():
        out, grads = run_torch(case, arrays)
        stored = dict(arrays, out=out, **{f"grad/{key}": value for key, value in grads.items()})
        manifest.append(dict(case, arrays=pack(stored, buffers, sizes)))
    document = {"torch_version": torch.__version__, "numpy_version": np.__version__, "cases": manifest}
    store = {dtype: np.concatenate(parts) for dtype, parts in buffers.items()}
    store[MANIFEST_KEY] = np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)
    PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(PATH, **store)
    print(f"wrote {len(manifest)} cases ({sum(sizes.values())} numbers) to {PATH}")


def load_reference(path: Path = PATH) -> tuple[dict, list[tuple[dict, dict[str, np.ndarray]]]]:
    """Read the file back: (document without cases, [(case, {key: array})])."""
    with np.load(path, allow_pickle=False) as data:
        document = json.loads(data[MANIFEST_KEY].tobytes().decode())
        buffers = {key: data[key] for key in data.files if key != MANIFEST_KEY}
    cases = []
    for case in document.pop("cases"):
        arrays = {}
        for key, (dtype, offset, shape) in case.pop("arrays").items():
            size = int(np.prod(shape))
            arrays[key] = buffers[dtype][offset:offset + size].reshape(shape)
        cases.append((case, arrays))
    return document, cases


if __name__ == "__main__":
    main()
