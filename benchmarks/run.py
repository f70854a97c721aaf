"""tinygrad_sm against hand-written NumPy and PyTorch eager: training steps, per-op overhead, memory.

    python benchmarks/run.py                  # the full run (25 short interleaved rounds, a few minutes)
    python benchmarks/run.py --quick          # 7 shorter rounds, about 20 seconds
    python benchmarks/run.py --smoke          # 1 round of tiny sizes, a few seconds (used by the tests)
    python benchmarks/run.py --json out.json  # also write every measurement as JSON

Each contender runs in its own process (``benchmarks/contenders.py``) with
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS=1 set before NumPy is imported,
on the same weights and data, generated here from a fixed seed and passed in a
temporary .npz. The contenders are measured round-robin: in every round each
benchmark is run by each contender in turn (the order rotates between rounds),
so drift of a shared machine hits all of them alike. A contender's time is the
median over rounds of its per-round median; a ratio is the median over rounds of
the per-round ratio (its quartiles over rounds are printed beside it).

Workloads: a training step (zero-grad, forward, mean cross-entropy, backward,
SGD with momentum 0.9, loss as a float) of three MLPs; a chain of tiny
elementwise ops, forward + backward (µs per op); softmax and cross_entropy
forward + backward on (1024, 1000); forward + backward, for a fixed random upstream
gradient, of conv2d (batch 64, 16→32 channels, 8×8, 3×3, padding 1, with bias),
max_pool2d(2) on (64, 32, 8, 8), layer_norm on (64·16, 64) with weight and bias, and
causal scaled-dot-product attention on q, k, v of (32, 4, 16, 16); a training step
(as the MLPs') of the digits CNN (batch 32 of 1×8×8: conv 1→16, ReLU, conv 16→32,
ReLU, max-pool 2, flatten, Linear 512→64, ReLU, Linear 64→10) and of the character
transformer (64 names of context 12, vocabulary 27, width 64, 4 heads, 2 pre-LayerNorm
blocks of causal self-attention and a GELU MLP, token and position embeddings, mean
cross-entropy over every token). The NumPy contender is hand-written throughout
(im2col/col2im convolution, attention and transformer backward by hand). The check
column compares gradient samples, or the losses after 5 steps, with NumPy's. Memory:
tracemalloc peak of one step of the medium MLP (tinygrad_sm and NumPy; PyTorch's
allocator is invisible to tracemalloc), and tracemalloc/RSS over 10,000 tiny steps
(flat or not).

Not part of the test suite: timings are never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(BLAS_ENV)

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
CHILD = HERE / "contenders.py"
REFERENCE = "numpy"
OURS = "tinygrad_sm"
LR, MOMENTUM = 0.01, 0.9
CHECK_TOLERANCE = 1e-4  # a check column above this (relative to the values' size) is flagged

FULL_WORKLOADS = [
    {"name": "mlp_tiny", "kind": "mlp", "sizes": [2, 16, 3], "batch": 32},
    {"name": "mlp_small", "kind": "mlp", "sizes": [64, 128, 10], "batch": 64},
    {"name": "mlp_medium", "kind": "mlp", "sizes": [784, 512, 256, 10], "batch": 256},
    {"name": "chain", "kind": "chain", "ops": 1000, "shape": [4]},
    {"name": "softmax", "kind": "softmax", "shape": [1024, 1000]},
    {"name": "cross_entropy", "kind": "cross_entropy", "shape": [1024, 1000]},
    {"name": "conv2d", "kind": "conv2d", "batch": 64, "channels": [16, 32], "size": 8, "kernel": 3, "padding": 1},
    {"name": "max_pool2d", "kind": "max_pool2d", "shape": [64, 32, 8, 8], "kernel": 2},
    {"name": "layer_norm", "kind": "layer_norm", "shape": [64 * 16, 64]},
    {"name": "attention", "kind": "attention", "shape": [32, 4, 16, 16]},
    {"name": "cnn", "kind": "cnn", "batch": 32},
    {"name": "transformer", "kind": "transformer", "batch": 64, "context": 12, "vocab": 27, "width": 64, "heads": 4, "blocks": 2},
]
SMOKE_WORKLOADS = [
    {"name": "mlp_tiny", "kind": "mlp", "sizes": [2, 16, 3], "batch": 32},
    {"name": "mlp_small", "kind": "mlp", "sizes": [8, 16, 4], "batch": 16},
    {"name": "mlp_medium", "kind": "mlp", "sizes": [32, 64, 32, 10], "batch": 16},
    {"name": "chain", "kind": "chain", "ops": 100, "shape": [4]},
    {"name": "softmax", "kind": "softmax", "shape": [64, 10]},
    {"name": "cross_entropy", "kind": "cross_entropy", "shape": [64, 10]},
    {"name": "conv2d", "kind": "conv2d", "batch": 4, "channels": [2, 3], "size": 5, "kernel": 3, "padding": 1},
    {"name": "max_pool2d", "kind": "max_pool2d", "shape": [2, 3, 4, 4], "kernel": 2},
    {"name": "layer_norm", "kind": "layer_norm", "shape": [16, 8]},
    {"name": "attention", "kind": "attention", "shape": [2, 2, 4, 4]},
    {"name": "cnn", "kind": "cnn", "batch": 4},
    {"name": "transformer", "kind": "transformer", "batch": 4, "context": 5, "vocab": 27, "width": 16, "heads": 2, "blocks": 1},
]
STEP_KINDS = ("mlp", "cnn", "transformer")  # training steps: compared by their losses after a few steps
MODES = {  # rounds, seconds per (benchmark, contender, round), minimum calls, steps of the flat-memory run, batches
    # many short rounds: this kind of shared machine switches between a fast and a ~1.8x slower state every
    # few seconds, and pairing contenders within short rounds keeps the ratios steady when it does
    "full": {"rounds": 25, "budget": 0.08, "min_calls": 5, "flat_steps": 10_000, "batches": 8},
    "quick": {"rounds": 7, "budget": 0.04, "min_calls": 3, "flat_steps": 2_000, "batches": 8},
    "smoke": {"rounds": 1, "budget": 0.005, "min_calls": 2, "flat_steps": 200, "batches": 2},
}
MAX_CALLS = 5_000
MEMORY_WORKLOAD, FLAT_WORKLOAD = "mlp_medium", "mlp_tiny"


def label(spec: dict) -> str:
    kind = spec["kind"]
    if kind == "mlp":
        return f"MLP {'-'.join(map(str, spec['sizes']))}, batch {spec['batch']} (step)"
    if kind == "chain":
        return f"elementwise op fwd+bwd (per op, chain of {spec['ops']})"
    if kind == "conv2d":
        (c_in, c_out), size, k = spec["channels"], spec["size"], spec["kernel"]
        return f"conv2d fwd+bwd {spec['batch']}x{c_in}->{c_out}, {size}x{size}, {k}x{k}, pad {spec['padding']}"
    if kind == "max_pool2d":
        return f"max_pool2d({spec['kernel']}) fwd+bwd {tuple(spec['shape'])}"
    if kind == "attention":
        return f"causal attention fwd+bwd q,k,v {tuple(spec['shape'])}"
    if kind == "cnn":
        return f"digits CNN, batch {spec['batch']} (step)"
    if kind == "transformer":
        return f"char transformer {spec['blocks']}x{spec['width']}, batch {spec['batch']}x{spec['context']} (step)"
    return f"{kind} fwd+bwd {tuple(spec['shape'])}"


# ----- data: generated once, here, for every contender --------------------------------------
def make_data(workloads: list[dict], batches: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for spec in workloads:
        name, kind = spec["name"], spec["kind"]
        if kind == "mlp":
            spec.update(lr=LR, momentum=MOMENTUM)
            sizes = spec["sizes"]
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                bound = 1.0 / np.sqrt(n_in)  # PyTorch's nn.Linear initialisation
                arrays[f"{name}/W{i}"] = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
                arrays[f"{name}/b{i}"] = rng.uniform(-bound, bound, n_out).astype(np.float32)
            arrays[f"{name}/x"] = rng.standard_normal((batches, spec["batch"], sizes[0])).astype(np.float32)
            arrays[f"{name}/y"] = rng.integers(0, sizes[-1], (batches, spec["batch"])).astype(np.int64)
        elif kind == "chain":
            arrays[f"{name}/x0"] = rng.standard_normal(spec["shape"]).astype(np.float32)
        elif kind in ("conv2d", "max_pool2d", "layer_norm", "attention"):
            arrays.update({f"{name}/{key}": value for key, value in _op_data(spec, rng).items()})
        elif kind in ("cnn", "transformer"):
            spec.update(lr=LR, momentum=MOMENTUM)
            params = _cnn_parameters(rng) if kind == "cnn" else _transformer_parameters(spec, rng)
            arrays.update({f"{name}/p/{key}": value for key, value in params.items()})
            if kind == "cnn":
                arrays[f"{name}/x"] = rng.standard_normal((batches, spec["batch"], 1, 8, 8)).astype(np.float32)
                arrays[f"{name}/y"] = rng.integers(0, 10, (batches, spec["batch"])).astype(np.int64)
            else:
                shape = (batches, spec["batch"], spec["context"])
                arrays[f"{name}/x"] = rng.integers(0, spec["vocab"], shape).astype(np.int64)
                arrays[f"{name}/y"] = rng.integers(0, spec["vocab"], shape).astype(np.int64)
        else:
            shape = tuple(spec["shape"])
            arrays[f"{name}/z"] = rng.standard_normal(shape).astype(np.float32)
            if kind == "softmax":
                arrays[f"{name}/g"] = rng.standard_normal(shape).astype(np.float32)
            else:
                arrays[f"{name}/y"] = rng.integers(0, shape[1], shape[0]).astype(np.int64)
    arrays["__spec__"] = np.array(json.dumps(workloads))
    return arrays


def _uniform(rng: np.random.Generator, fan_in: int, shape: tuple) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)  # PyTorch's initialisation of Linear and Conv2d weights and biases
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _op_data(spec: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs and a fixed random upstream gradient ``g`` of one op benchmark."""

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    kind = spec["kind"]
    if kind == "conv2d":
        (c_in, c_out), size, k, n = spec["channels"], spec["size"], spec["kernel"], spec["batch"]
        out = size + 2 * spec["padding"] - k + 1
        return {
            "x": normal(n, c_in, size, size),
            "weight": _uniform(rng, c_in * k * k, (c_out, c_in, k, k)),
            "bias": _uniform(rng, c_in * k * k, (c_out,)),
            "g": normal(n, c_out, out, out),
        }
    if kind == "max_pool2d":
        (n, c, h, w), k = spec["shape"], spec["kernel"]
        return {"x": normal(n, c, h, w), "g": normal(n, c, h // k, w // k)}
    if kind == "layer_norm":
        rows, width = spec["shape"]
        return {
            "x": normal(rows, width),
            "weight": 1 + 0.1 * normal(width),
            "bias": 0.1 * normal(width),
            "g": normal(rows, width),
        }
    shape = spec["shape"]
    return {"q": normal(*shape), "k": normal(*shape), "v": normal(*shape), "g": normal(*shape)}


def _cnn_parameters(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The digits CNN's parameters under nn.Sequential's names (modules 0, 2: Conv2d; 6, 8: Linear)."""
    params = {}
    for index, shape in ((0, (16, 1, 3, 3)), (2, (32, 16, 3, 3)), (6, (64, 512)), (8, (10, 64))):
        fan_in = int(np.prod(shape[1:]))
        params[f"{index}.weight"] = _uniform(rng, fan_in, shape)
        params[f"{index}.bias"] = _uniform(rng, fan_in, shape[:1])
    return params


def _transformer_parameters(spec: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The character transformer's parameters, named as its modules (PyTorch's initialisation)."""
    width, vocab = spec["width"], spec["vocab"]
    params = {
        "token.weight": rng.standard_normal((vocab, width)).astype(np.float32),
        "position.weight": rng.standard_normal((spec["context"], width)).astype(np.float32),
    }

    def linear(name: str, n_in: int, n_out: int) -> None:
        params[f"{name}.weight"] = _uniform(rng, n_in, (n_out, n_in))
        params[f"{name}.bias"] = _uniform(rng, n_in, (n_out,))

    def norm(name: str) -> None:
        params[f"{name}.weight"] = np.ones(width, dtype=np.float32)
        params[f"{name}.bias"] = np.zeros(width, dtype=np.float32)

    for i in range(spec["blocks"]):
        norm(f"blocks.{i}.norm1")
        linear(f"blocks.{i}.attention.qkv", width, 3 * width)
        linear(f"blocks.{i}.attention.out", width, width)
        norm(f"blocks.{i}.norm2")
        linear(f"blocks.{i}.mlp.0", width, 4 * width)
        linear(f"blocks.{i}.mlp.2", 4 * width, width)
    norm("norm")
    linear("head", width, vocab)
    return params


# ----- the contender processes --------------------------------------------------------------
class Contender:
    """A child process running ``contenders.py`` for one library; one JSON command and reply at a time."""

    def __init__(self, name: str, data_path: str, log_dir: str):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.stderr"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        env = {**os.environ, **BLAS_ENV, "PYTHONHASHSEED": "0"}
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), name, data_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=str(HERE.parent),
        )
        self.info: dict = {}

    def receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.log.flush()
            raise RuntimeError(
                f"the {self.name} process died (exit code {self.process.returncode}):\n{self.log_path.read_text()[-3000:]}"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
        self.log.close()


# ----- measuring ----------------------------------------------------------------------------
def run_checks(contenders: list[Contender], workloads: list[dict]) -> dict:
    """Same work? Max |difference| vs NumPy of the losses after a few steps (MLPs) or of gradient samples."""
    checks: dict[str, dict] = {}
    for spec in workloads:
        values = {c.name: np.array(c.ask(op="check", bench=spec["name"])["values"]) for c in contenders}
        reference = values[REFERENCE]
        scale = max(1.0, float(np.max(np.abs(reference))))
        checks[spec["name"]] = {
            name: {
                "values": v[:8].tolist(),
                "max_abs_diff": float(np.max(np.abs(v - reference))),
                "ok": bool(np.all(np.isfinite(v)) and np.max(np.abs(v - reference)) <= CHECK_TOLERANCE * scale),
            }
            for name, v in values.items()
        }
    return checks


def run_rounds(contenders: list[Contender], workloads: list[dict], mode: dict, progress) -> dict:
    times: dict[str, dict[str, list[float]]] = {spec["name"]: {c.name: [] for c in contenders} for spec in workloads}
    calls: dict[str, dict[str, list[int]]] = {spec["name"]: {c.name: [] for c in contenders} for spec in workloads}
    for r in range(mode["rounds"]):
        order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]  # rotate who goes first
        for spec in workloads:
            for c in order:
                reply = c.ask(
                    op="time", bench=spec["name"], budget=mode["budget"], min_calls=mode["min_calls"], max_calls=MAX_CALLS
                )
                times[spec["name"]][c.name].append(reply["median"])
                calls[spec["name"]][c.name].append(reply["calls"])
        progress(f"round {r + 1}/{mode['rounds']} done")
    return {"times": times, "calls": calls}


def summarise(workloads: list[dict], names: list[str], measured: dict) -> dict:
    results = {}
    for spec in workloads:
        per_call = spec["ops"] if spec["kind"] == "chain" else 1  # the chain is reported per op
        rounds = {c: np.array(measured["times"][spec["name"]][c]) / per_call for c in names}
        entry = {"label": label(spec), "spec": spec, "contenders": {}}
        for c in names:
            t = rounds[c]
            q1, q3 = np.percentile(t, [25, 75])
            entry["contenders"][c] = {
                "median_us": float(np.median(t) * 1e6),
                "rounds_us": (t * 1e6).tolist(),
                "calls_per_round": measured["calls"][spec["name"]][c],
                "iqr_percent": float((q3 - q1) / np.median(t) * 100),
                "ratio_vs_numpy": float(np.median(t / rounds[REFERENCE])),
                "ratio_vs_numpy_quartiles": np.percentile(t / rounds[REFERENCE], [25, 75]).tolist(),
                "ratio_vs_torch": float(np.median(t / rounds["torch"])) if "torch" in rounds else None,
            }
        results[spec["name"]] = entry
    return results


def measure_memory(contenders: list[Contender], mode: dict, progress) -> dict:
    memory: dict = {"step": {}, "flat": {}}
    for c in contenders:
        if c.name != "torch":  # tracemalloc does not see PyTorch's allocator
            memory["step"][c.name] = c.ask(op="memory_step", bench=MEMORY_WORKLOAD)
    progress("memory of one step done")
    for c in contenders:
        reply = c.ask(op="memory_flat", bench=FLAT_WORKLOAD, steps=mode["flat_steps"])
        points = reply["points"]
        first, last = points[0], points[-1]
        traced_growth = last["traced"] - first["traced"]
        rss_growth = (last["rss"] - first["rss"]) if first["rss"] is not None else None
        steps = last["step"] - first["step"]
        flat = traced_growth < 64 * 1024 and (rss_growth is None or rss_growth < 2 * 1024 * 1024)
        if c.name == "torch":  # tracemalloc sees only Python objects there: judge by RSS alone
            flat = rss_growth is None or rss_growth < 2 * 1024 * 1024
        memory["flat"][c.name] = {
            **reply,
            "traced_growth": traced_growth,
            "rss_growth": rss_growth,
            "steps_between": steps,
            "flat": bool(flat),
        }
        progress(f"flat memory ({c.name}) done")
    return memory


# ----- reporting ----------------------------------------------------------------------------
def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def format_table(results: dict, checks: dict, memory: dict, names: list[str], header: str) -> tuple[str, list[dict]]:
    lines = [header, ""]
    row = "{:<48} {:<12} {:>12} {:>9} {:>11} {:>9}  {}"
    titles = ("benchmark", "contender", "median µs", "vs numpy", "(quartiles)", "vs torch", "check: max|Δ| vs numpy")
    lines.append(row.format(*titles))
    lines.append("-" * 125)
    for name, entry in results.items():
        for i, c in enumerate(names):
            r = entry["contenders"][c]
            check = checks[name][c]
            note = "(reference)" if c == REFERENCE else f"{check['max_abs_diff']:.1e}" + ("" if check["ok"] else "  MISMATCH")
            what = "losses after 5 steps" if entry["spec"]["kind"] in STEP_KINDS else "gradient samples"
            if i == 0:
                note = f"{note} [{what}]"
            quartiles = "" if c == REFERENCE else "{:.2f}-{:.2f}".format(*r["ratio_vs_numpy_quartiles"])
            lines.append(
                row.format(
                    entry["label"] if i == 0 else "",
                    c,
                    f"{r['median_us']:,.2f}",
                    _ratio(r["ratio_vs_numpy"]),
                    quartiles,
                    _ratio(r["ratio_vs_torch"]),
                    note,
                )
            )
        lines.append("")

    step = memory["step"]
    spec = results[MEMORY_WORKLOAD]["label"].replace(" (step)", "")
    lines.append(f"peak memory of one {spec} step (tracemalloc: parameters, optimiser state, gradients, activations, temps)")
    mrow = "  {:<12} {:>14} {:>16} {:>20} {:>9}"
    lines.append(mrow.format("contender", "total peak", "held at step start", "peak above held", "vs numpy"))
    for c, m in step.items():
        lines.append(
            mrow.format(
                c,
                _mib(m["total_peak"]),
                _mib(m["held_between_steps"]),
                _mib(m["transient_peak"]),
                _ratio(m["total_peak"] / step[REFERENCE]["total_peak"]),
            )
        )
    lines.append("")
    flat = memory["flat"]
    first = next(iter(flat.values()))
    lines.append(
        f"memory over {first['points'][-1]['step']:,} {results[FLAT_WORKLOAD]['label'].replace(' (step)', '')} steps "
        f"(growth from step {first['points'][0]['step']:,} to the end, after gc.collect())"
    )
    frow = "  {:<12} {:>18} {:>14} {:>10} {:>8}"
    lines.append(frow.format("contender", "tracemalloc growth", "RSS growth", "s in loop", "verdict"))
    for c, f in flat.items():
        traced = f"{f['traced_growth'] / 1024:+.1f} KiB" if c != "torch" else "n/a"
        rss = f"{f['rss_growth'] / 1024:+.0f} KiB" if f["rss_growth"] is not None else "n/a"
        lines.append(frow.format(c, traced, rss, f"{f['seconds']:.1f}", "flat" if f["flat"] else "GROWS"))

    targets = evaluate_targets(results, memory, names)
    lines += ["", "targets (tinygrad_sm)"]
    for t in targets:
        status = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        lines.append(f"  [{status}] {t['target']:<62} {t['measured']}")
    return "\n".join(lines), targets


def evaluate_targets(results: dict, memory: dict, names: list[str]) -> list[dict]:
    targets = []

    def add(target: str, value: float | None, limit: float, fmt: str) -> None:
        met = None if value is None else bool(value <= limit)
        targets.append(
            {
                "target": target,
                "value": value,
                "limit": limit,
                "met": met,
                "measured": "torch not run" if value is None else fmt.format(value),
            }
        )

    for name, limit in (("mlp_tiny", 1.5), ("mlp_small", 1.5), ("mlp_medium", 1.1)):
        entry = results[name]
        add(
            f"{entry['label'].replace(' (step)', '')} step <= {limit}x NumPy",
            entry["contenders"][OURS]["ratio_vs_numpy"],
            limit,
            "{:.2f}x",
        )
    chain = results["chain"]["contenders"][OURS]
    add("elementwise op fwd+bwd <= 5 µs per op", chain["median_us"], 5.0, "{:.2f} µs")
    for name in ("softmax", "cross_entropy"):
        entry = results[name]
        add(f"{entry['label']} <= PyTorch", entry["contenders"][OURS]["ratio_vs_torch"], 1.0, "{:.2f}x PyTorch's time")
    for name in ("conv2d", "max_pool2d", "layer_norm", "attention"):
        entry = results[name]
        add(f"{entry['label']} <= 1.5x NumPy", entry["contenders"][OURS]["ratio_vs_numpy"], 1.5, "{:.2f}x")
    for name in ("cnn", "transformer"):
        entry = results[name]
        add(
            f"{entry['label'].replace(' (step)', '')} step <= PyTorch",
            entry["contenders"][OURS]["ratio_vs_torch"],
            1.0,
            "{:.2f}x PyTorch's time",
        )
    step = memory["step"]
    add(
        "peak memory of a medium step <= 1.3x NumPy (total peak)",
        step[OURS]["total_peak"] / step[REFERENCE]["total_peak"],
        1.3,
        "{:.2f}x",
    )
    flat = memory["flat"][OURS]
    rss_growth = (flat["rss_growth"] or 0) / 1024
    targets.append(
        {
            "target": f"flat memory over {flat['points'][-1]['step']:,} steps",
            "value": flat["traced_growth"],
            "limit": 64 * 1024,
            "met": flat["flat"],
            "measured": f"tracemalloc {flat['traced_growth'] / 1024:+.1f} KiB, RSS {rss_growth:+.0f} KiB",
        }
    )
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="7 short rounds and 2,000 flat-memory steps")
    size.add_argument("--smoke", action="store_true", help="1 round of tiny sizes, a few seconds (for the tests)")
    parser.add_argument("--json", metavar="PATH", help="write every measurement to this JSON file")
    parser.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    parser.add_argument("--budget", type=float, help="override the seconds per benchmark, contender and round")
    parser.add_argument("--flat-steps", type=int, help="override the number of steps of the flat-memory run")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    mode = dict(MODES[mode_name])
    for key in ("rounds", "budget", "flat_steps"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    workloads = json.loads(json.dumps(SMOKE_WORKLOADS if args.smoke else FULL_WORKLOADS))
    names = [REFERENCE, OURS]
    if not args.no_torch and importlib.util.find_spec("torch") is not None:
        names.append("torch")

    started = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="tinygrad_sm_bench_") as tmp:
        data_path = os.path.join(tmp, "data.npz")
        np.savez(data_path, **make_data(workloads, mode["batches"]))
        contenders = [Contender(name, data_path, tmp) for name in names]
        try:
            for c in contenders:
                c.info = c.receive()["info"]
            progress(f"contenders ready: {', '.join(names)}")
            checks = run_checks(contenders, workloads)
            measured = run_rounds(contenders, workloads, mode, progress)
            memory = measure_memory(contenders, mode, progress)
        finally:
            for c in contenders:
                c.close()

    results = summarise(workloads, names, measured)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    versions = ", ".join(f"{k} {v}" for c in contenders for k, v in c.info.items() if k in ("numpy", "torch") and c.name == k)
    header = (
        f"tinygrad_sm benchmarks ({mode_name}): {len(names)} contenders, {mode['rounds']} interleaved round(s), "
        f"1 BLAS thread, float32; {versions}; Python {platform.python_version()}, {os.cpu_count()} CPUs"
        + (f", load average {load[0]:.2f}" if load else "")
    )
    table, targets = format_table(results, checks, memory, names, header)
    print(table)
    if args.json:
        report = {
            "mode": mode_name,
            "settings": mode,
            "contenders": {c.name: c.info for c in contenders},
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_end": load,
            },
            "seconds": time.perf_counter() - started,
            "benchmarks": results,
            "checks": checks,
            "memory": memory,
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(report, indent=2))
        progress(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
