"""tinygrad_sm, eager and under its jit, against hand-written NumPy, PyTorch eager and JAX's jit.

    python benchmarks/run.py                  # the full run (25 short interleaved rounds, a few minutes)
    python benchmarks/run.py --quick          # 7 shorter rounds, under a minute
    python benchmarks/run.py --smoke          # 1 round of tiny sizes, a few seconds (used by the tests)
    python benchmarks/run.py --json out.json  # also write every measurement as JSON
    python benchmarks/run.py --no-torch --no-jax --no-jit   # leave optional contenders out

Contenders: hand-written NumPy (the reference), tinygrad_sm, PyTorch eager, tinygrad_sm
with each training step and each op's forward + backward wrapped in ``tinygrad_sm.jit``
(``tinygrad_sm_jit``), and JAX with each of them one ``jax.jit``-compiled function. The
last three are optional: one whose library is not installed (or a tinygrad_sm without
``jit``) is not run, and the report says why. Two tables come out of the one run: eager
(NumPy, tinygrad_sm, PyTorch; ratios to NumPy and to PyTorch) and jit (NumPy, tinygrad_sm
jit, JAX jit; ratios to NumPy and to JAX), followed by memory and the targets of both.

Each contender runs in its own process (``benchmarks/contenders.py``) with
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS=1 set before NumPy is imported
(and, for JAX, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
and JAX_PLATFORMS=cpu before jax is imported), on the same weights and data, generated
here from a fixed seed and passed in a temporary .npz. The contenders are measured
round-robin: in every round each benchmark is run by each contender in turn (the order
rotates between rounds), so drift of a shared machine hits all of them alike. A
contender's time is the median over rounds of its per-round median; a ratio is the median
over rounds of the per-round ratio (its quartiles over rounds are printed beside it).

Workloads: a training step (zero-grad, forward, mean cross-entropy, backward,
SGD with momentum 0.9, loss as a float) of three MLPs; a chain of tiny
elementwise ops, forward + backward (µs per op; XLA fuses JAX's chain, which is
marked "fused"); softmax and cross_entropy forward + backward on (64, 10) and
(1024, 1000); forward + backward, for a fixed random upstream
gradient, of conv2d (batch 64, 16→32 channels, 8×8, 3×3, padding 1, with bias),
max_pool2d(2) on (64, 32, 8, 8), layer_norm on (64·16, 64) with weight and bias, and
causal scaled-dot-product attention on q, k, v of (32, 4, 16, 16); a training step
(as the MLPs') of the digits CNN (batch 32 of 1×8×8: conv 1→16, ReLU, conv 16→32,
ReLU, max-pool 2, flatten, Linear 512→64, ReLU, Linear 64→10) and of the character
transformer (64 names of context 12, vocabulary 27, width 64, 4 heads, 2 pre-LayerNorm
blocks of causal self-attention and a GELU MLP, token and position embeddings, mean
cross-entropy over every token). The NumPy contender is hand-written throughout
(im2col/col2im convolution, attention and transformer backward by hand). The check
column compares gradient samples, or the losses after 5 steps, with NumPy's; the first
calls of every workload are made under a warnings filter, so a jit that runs eagerly
(JitWarning) is reported. Memory: tracemalloc peak of one step of the medium MLP after
3 warm-up steps (NumPy, tinygrad_sm and its jit, whose 4th call is a replay: what it
allocates above what it holds is what a replay allocates; the allocators of PyTorch and
XLA are invisible to tracemalloc), and tracemalloc/RSS over 10,000 tiny steps for every
contender (flat or not; PyTorch and JAX judged by RSS).

Not part of the test suite: timings are never asserted.
"""

from __future__ import annotations

import argparse
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
OURS, OURS_JIT = "tinygrad_sm", "tinygrad_sm_jit"
CONTENDERS = (REFERENCE, OURS, "torch", OURS_JIT, "jax")  # the processes' names (contenders.py), in start order
OPTIONAL = ("torch", "jax", OURS_JIT)  # not run, with the reason printed, where the library (or the jit) is missing
MAY_SKIP = (OURS_JIT, "jax")  # may leave out a workload they cannot run (a dash in its row); others' errors stop the run
PEERS = ("torch", "jax")  # the ratio columns beside the one to NumPy
UNTRACED = ("torch", "jax")  # their allocators are invisible to tracemalloc: no step peak, flat memory by RSS
SECTIONS = (  # (title, contenders, the peer of the ratio column)
    ("eager: hand-written NumPy, tinygrad_sm and PyTorch eager", (REFERENCE, OURS, "torch"), "torch"),
    ("jit: hand-written NumPy, tinygrad_sm.jit and jax.jit", (REFERENCE, OURS_JIT, "jax"), "jax"),
)
GROUP_CONTENDER = {"eager": OURS, "jit": OURS_JIT}  # whose targets each group of targets is
DISPLAY = {OURS_JIT: "tinygrad_sm jit", "jax": "jax jit"}
MEMORY_WARM_UP = 3  # steps before the one whose peak is measured (contenders.memory_step's default)
LR, MOMENTUM = 0.01, 0.9
CHECK_TOLERANCE = 1e-4  # a check column above this (relative to the values' size) is flagged

FULL_WORKLOADS = [
    {"name": "mlp_tiny", "kind": "mlp", "sizes": [2, 16, 3], "batch": 32},
    {"name": "mlp_small", "kind": "mlp", "sizes": [64, 128, 10], "batch": 64},
    {"name": "mlp_medium", "kind": "mlp", "sizes": [784, 512, 256, 10], "batch": 256},
    {"name": "chain", "kind": "chain", "ops": 1000, "shape": [4]},
    {"name": "softmax_small", "kind": "softmax", "shape": [64, 10]},
    {"name": "cross_entropy_small", "kind": "cross_entropy", "shape": [64, 10]},
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
    {"name": "softmax_small", "kind": "softmax", "shape": [8, 5]},
    {"name": "cross_entropy_small", "kind": "cross_entropy", "shape": [8, 5]},
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


def start_contenders(names: list[str], data_path: str, log_dir: str) -> tuple[list[Contender], dict[str, str]]:
    """The contenders that could start (all started at once, so their imports overlap), and why the others
    could not (an optional library that is not installed, a tinygrad_sm without jit)."""
    started = [Contender(name, data_path, log_dir) for name in names]
    ready, skipped = [], {}
    for c in started:
        reply = c.receive()
        if reply.get("ready"):
            c.info = reply["info"]
            ready.append(c)
        else:
            skipped[c.name] = reply["skipped"]
            c.close()
    for name in skipped:
        if name not in OPTIONAL:
            raise RuntimeError(f"{name} could not start: {skipped[name]}")
    return ready, skipped


# ----- measuring ----------------------------------------------------------------------------
def run_checks(contenders: list[Contender], workloads: list[dict]) -> dict:
    """Same work? Max |difference| vs NumPy of the losses after a few steps (training steps) or of gradient
    samples. A contender of MAY_SKIP that cannot run a workload is left out of its row, with the reason."""
    checks: dict[str, dict] = {}
    for spec in workloads:
        name = spec["name"]
        replies = {c.name: c.ask(op="check", bench=name) for c in contenders}
        for c, reply in replies.items():
            if "skipped" in reply and c not in MAY_SKIP:
                raise RuntimeError(f"{c} cannot run {name}: {reply['skipped']}")
        reference = np.array(replies[REFERENCE]["values"])
        scale = max(1.0, float(np.max(np.abs(reference))))
        checks[name] = {}
        for c, reply in replies.items():
            if "skipped" in reply:
                checks[name][c] = {"skipped": reply["skipped"]}
                continue
            v = np.array(reply["values"])
            difference = float(np.max(np.abs(v - reference)))
            checks[name][c] = {
                "values": v[:8].tolist(),
                "max_abs_diff": difference,
                "ok": bool(np.all(np.isfinite(v)) and difference <= CHECK_TOLERANCE * scale),
                "note": reply.get("note", ""),
                "warnings": reply.get("warnings", []),
            }
    return checks


def ran(checks: dict, name: str) -> list[str]:
    """The contenders that run workload ``name`` (in the order they were started)."""
    return [c for c, check in checks[name].items() if "skipped" not in check]


def run_rounds(contenders: list[Contender], workloads: list[dict], checks: dict, mode: dict, progress) -> dict:
    times: dict[str, dict[str, list[float]]] = {spec["name"]: {c: [] for c in ran(checks, spec["name"])} for spec in workloads}
    calls: dict[str, dict[str, list[int]]] = {spec["name"]: {c: [] for c in ran(checks, spec["name"])} for spec in workloads}
    for r in range(mode["rounds"]):
        order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]  # rotate who goes first
        for spec in workloads:
            for c in order:
                if c.name not in times[spec["name"]]:
                    continue
                reply = c.ask(
                    op="time", bench=spec["name"], budget=mode["budget"], min_calls=mode["min_calls"], max_calls=MAX_CALLS
                )
                times[spec["name"]][c.name].append(reply["median"])
                calls[spec["name"]][c.name].append(reply["calls"])
        progress(f"round {r + 1}/{mode['rounds']} done")
    return {"times": times, "calls": calls}


def summarise(workloads: list[dict], checks: dict, measured: dict) -> dict:
    """Per workload and contender: the median time, and the median over rounds of the per-round ratios to
    NumPy and to each peer (PyTorch eager, JAX's jit) that ran it, with their quartiles."""
    results = {}
    for spec in workloads:
        per_call = spec["ops"] if spec["kind"] == "chain" else 1  # the chain is reported per op
        names = ran(checks, spec["name"])
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
            }
            for other in (REFERENCE, *PEERS):
                ratios = t / rounds[other] if other in rounds else None
                entry["contenders"][c][f"ratio_vs_{other}"] = None if ratios is None else float(np.median(ratios))
                quartiles = None if ratios is None else np.percentile(ratios, [25, 75]).tolist()
                entry["contenders"][c][f"ratio_vs_{other}_quartiles"] = quartiles
        results[spec["name"]] = entry
    return results


def measure_memory(contenders: list[Contender], checks: dict, mode: dict, progress) -> dict:
    memory: dict = {"step": {}, "flat": {}}
    for c in contenders:
        if c.name not in UNTRACED and c.name in ran(checks, MEMORY_WORKLOAD):
            memory["step"][c.name] = c.ask(op="memory_step", bench=MEMORY_WORKLOAD)
    progress("memory of one step done")
    for c in contenders:
        if c.name not in ran(checks, FLAT_WORKLOAD):
            continue
        reply = c.ask(op="memory_flat", bench=FLAT_WORKLOAD, steps=mode["flat_steps"])
        points = reply["points"]
        first, last = points[0], points[-1]
        traced_growth = last["traced"] - first["traced"]
        rss_growth = (last["rss"] - first["rss"]) if first["rss"] is not None else None
        steps = last["step"] - first["step"]
        flat = traced_growth < 64 * 1024 and (rss_growth is None or rss_growth < 2 * 1024 * 1024)
        if c.name in UNTRACED:  # tracemalloc sees only Python objects there: judge by RSS alone
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


def _quartiles(values: list[float] | None) -> str:
    return "" if values is None else "{:.2f}-{:.2f}".format(*values)


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def _kib(n: float) -> str:
    return f"{n / 1024:+.1f} KiB"


def format_section(title: str, names: list[str], peer: str, results: dict, checks: dict, absent: dict) -> list[str]:
    """One table: each workload's row per contender of ``names``, its time, and its ratios to NumPy and to ``peer``."""
    lines = [title]
    for c in names:
        if c in absent:
            lines.append(f"  ({DISPLAY.get(c, c)} not run: {absent[c]})")
    lines.append("")
    row = "{:<48} {:<16} {:>12} {:>9} {:>11} {:>9} {:>11}  {}"
    lines.append(
        row.format(
            "benchmark",
            "contender",
            "median µs",
            "vs numpy",
            "(quartiles)",
            f"vs {peer}",
            "(quartiles)",
            "check: max|Δ| vs numpy",
        )
    )
    lines.append("-" * 150)
    shown = [c for c in names if c not in absent]
    for name, entry in results.items():
        for i, c in enumerate(shown):
            check = checks[name][c]
            what = "losses after 5 steps" if entry["spec"]["kind"] in STEP_KINDS else "gradient samples"
            first = entry["label"] if i == 0 else ""
            if "skipped" in check:
                lines.append(row.format(first, DISPLAY.get(c, c), "-", "", "", "", "", f"not run: {check['skipped'][:80]}"))
                continue
            r = entry["contenders"][c]
            note = "(reference)" if c == REFERENCE else f"{check['max_abs_diff']:.1e}" + ("" if check["ok"] else "  MISMATCH")
            if i == 0:
                note = f"{note} [{what}]"
            notes = [check["note"]] if check["note"] else []
            if any(w.startswith("JitWarning") for w in check["warnings"]):
                notes.append("eager")  # the jit could not replay it: see the warnings below the tables
            contender = DISPLAY.get(c, c) + (f" ({', '.join(notes)})" if notes else "")
            lines.append(
                row.format(
                    first,
                    contender,
                    f"{r['median_us']:,.2f}",
                    _ratio(r[f"ratio_vs_{REFERENCE}"]),
                    "" if c == REFERENCE else _quartiles(r[f"ratio_vs_{REFERENCE}_quartiles"]),
                    _ratio(r[f"ratio_vs_{peer}"]),
                    "" if c == peer else _quartiles(r[f"ratio_vs_{peer}_quartiles"]),
                    note,
                )
            )
        lines.append("")
    return lines


def format_memory(results: dict, memory: dict) -> list[str]:
    lines = []
    step = memory["step"]
    if step:
        spec = results[MEMORY_WORKLOAD]["label"].replace(" (step)", "")
        lines.append(
            f"peak memory of one {spec} step after {MEMORY_WARM_UP} warm-up steps "
            "(tracemalloc: parameters, optimiser state, gradients, activations, temps, a jit's record and buffers)"
        )
        mrow = "  {:<16} {:>14} {:>18} {:>16} {:>16} {:>9}"
        lines.append(
            mrow.format("contender", "total peak", "held at step start", "peak above held", "kept by the step", "vs numpy")
        )
        for c, m in step.items():
            lines.append(
                mrow.format(
                    DISPLAY.get(c, c),
                    _mib(m["total_peak"]),
                    _mib(m["held_between_steps"]),
                    _kib(m["transient_peak"]),
                    _kib(m["kept"]),
                    _ratio(m["total_peak"] / step[REFERENCE]["total_peak"]),
                )
            )
        lines.append("")
    flat = memory["flat"]
    if flat:
        first = next(iter(flat.values()))
        lines.append(
            f"memory over {first['points'][-1]['step']:,} {results[FLAT_WORKLOAD]['label'].replace(' (step)', '')} steps "
            f"(growth from step {first['points'][0]['step']:,} to the end, after gc.collect())"
        )
        frow = "  {:<16} {:>18} {:>14} {:>10} {:>8}"
        lines.append(frow.format("contender", "tracemalloc growth", "RSS growth", "s in loop", "verdict"))
        for c, f in flat.items():
            traced = _kib(f["traced_growth"]) if c not in UNTRACED else "n/a"
            rss = f"{f['rss_growth'] / 1024:+.0f} KiB" if f["rss_growth"] is not None else "n/a"
            lines.append(frow.format(DISPLAY.get(c, c), traced, rss, f"{f['seconds']:.1f}", "flat" if f["flat"] else "GROWS"))
    return lines


def format_report(results: dict, checks: dict, memory: dict, absent: dict, header: str) -> tuple[str, list[dict]]:
    lines = [header, ""]
    for title, names, peer in SECTIONS:
        lines += format_section(title, list(names), peer, results, checks, absent)
    lines += format_memory(results, memory)
    warned = [(name, c, w) for name, row in checks.items() for c, check in row.items() for w in check.get("warnings", [])]
    if warned:
        lines += ["", "warnings on the first run (the check):"]
        lines += [f"  {DISPLAY.get(c, c)}, {name}: {w[:200]}" for name, c, w in warned]
    targets = evaluate_targets(results, memory)
    for group in ("eager", "jit"):
        lines += ["", f"targets, {group} ({DISPLAY.get(GROUP_CONTENDER[group], GROUP_CONTENDER[group])})"]
        for t in targets:
            if t["group"] == group:
                status = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
                lines.append(f"  [{status}] {t['target']:<66} {t['measured']}")
    return "\n".join(lines), targets


def evaluate_targets(results: dict, memory: dict) -> list[dict]:
    """Issue 15's targets (eager and jit), and the earlier ones they do not replace (ops, models, memory)."""
    targets = []

    def add(group: str, target: str, value: float | None, limit: float, fmt: str, missing: str) -> None:
        targets.append(
            {
                "group": group,
                "target": target,
                "value": value,
                "limit": limit,
                "met": None if value is None else bool(value <= limit),
                "measured": missing if value is None else fmt.format(value),
            }
        )

    def measured(name: str, contender: str, key: str) -> float | None:
        return results[name]["contenders"].get(contender, {}).get(key)

    def step_label(name: str) -> str:
        return results[name]["label"].replace(" (step)", "")

    add("eager", "elementwise op fwd+bwd <= 3.0 µs per op", measured("chain", OURS, "median_us"), 3.0, "{:.2f} µs", "")
    add(
        "eager",
        "elementwise op fwd+bwd <= 0.5x PyTorch",
        measured("chain", OURS, "ratio_vs_torch"),
        0.5,
        "{:.2f}x PyTorch's time",
        "torch not run",
    )
    for name, limit in (("mlp_tiny", 2.0), ("mlp_small", 1.5), ("mlp_medium", 1.05)):
        add("eager", f"{step_label(name)} step <= {limit}x NumPy", measured(name, OURS, "ratio_vs_numpy"), limit, "{:.2f}x", "")
    for name in ("mlp_tiny", "mlp_small", "mlp_medium", "cnn", "transformer"):
        add(
            "eager",
            f"{step_label(name)} step <= PyTorch",
            measured(name, OURS, "ratio_vs_torch"),
            1.0,
            "{:.2f}x PyTorch's time",
            "torch not run",
        )
    for name in ("softmax_small", "cross_entropy_small", "softmax", "cross_entropy"):
        limit = 1.5 if name == "softmax" else 1.0  # the large softmax may trail PyTorch's, by at most 1.5x
        add(
            "eager",
            f"{results[name]['label']} <= {limit}x PyTorch",
            measured(name, OURS, "ratio_vs_torch"),
            limit,
            "{:.2f}x PyTorch's time",
            "torch not run",
        )
    for name in ("conv2d", "max_pool2d", "layer_norm", "attention"):
        add("eager", f"{results[name]['label']} <= 1.5x NumPy", measured(name, OURS, "ratio_vs_numpy"), 1.5, "{:.2f}x", "")
    step = memory["step"]
    add(
        "eager",
        "peak memory of a medium step <= 1.3x NumPy (total peak)",
        step[OURS]["total_peak"] / step[REFERENCE]["total_peak"],
        1.3,
        "{:.2f}x",
        "",
    )

    for peer, limit, unit in (("numpy", 1.1, "x"), ("jax", 1.0, "x JAX's time")):
        for name in ("mlp_tiny", "mlp_small", "mlp_medium"):
            target = f"{step_label(name)} step <= " + ("1.1x NumPy" if peer == "numpy" else "JAX's jit")
            ratio = measured(name, OURS_JIT, f"ratio_vs_{peer}")
            add("jit", target, ratio, limit, "{:.2f}" + unit, f"tinygrad_sm jit{' or jax' if peer == 'jax' else ''} not run")
    # a replay that allocates an array allocates at least one activation of the step (batch x narrowest layer)
    spec = results[MEMORY_WORKLOAD]["spec"]
    smallest = spec["batch"] * min(spec["sizes"][1:]) * 4
    replay = step.get(OURS_JIT)
    add(
        "jit",
        f"a replayed {step_label(MEMORY_WORKLOAD)} step allocates no arrays (peak above held < {smallest / 1024:.1f} KiB)",
        None if replay is None else replay["transient_peak"],
        smallest,
        "{:,.0f} B above held",
        "tinygrad_sm jit not run",
    )

    for group, contender in GROUP_CONTENDER.items():
        flat = memory["flat"].get(contender)
        if flat is None:
            add(group, "flat memory", None, 0, "", f"{DISPLAY.get(contender, contender)} not run")
            continue
        rss_growth = (flat["rss_growth"] or 0) / 1024
        targets.append(
            {
                "group": group,
                "target": f"flat memory over {flat['points'][-1]['step']:,} steps",
                "value": flat["traced_growth"],
                "limit": 64 * 1024,
                "met": flat["flat"],
                "measured": f"tracemalloc {_kib(flat['traced_growth'])}, RSS {rss_growth:+.0f} KiB",
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
    parser.add_argument("--no-jax", action="store_true", help="leave JAX out even if it is installed")
    parser.add_argument("--no-jit", action="store_true", help="leave the tinygrad_sm jit contender out")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    mode = dict(MODES[mode_name])
    for key in ("rounds", "budget", "flat_steps"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    workloads = json.loads(json.dumps(SMOKE_WORKLOADS if args.smoke else FULL_WORKLOADS))
    left_out = {"torch": args.no_torch, "jax": args.no_jax, OURS_JIT: args.no_jit}
    names = [c for c in CONTENDERS if not left_out.get(c)]

    started = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="tinygrad_sm_bench_") as tmp:
        data_path = os.path.join(tmp, "data.npz")
        np.savez(data_path, **make_data(workloads, mode["batches"]))
        contenders, skipped = start_contenders(names, data_path, tmp)
        absent = {**{c: "left out (--no-...)" for c, out in left_out.items() if out}, **skipped}
        try:
            progress(f"contenders ready: {', '.join(c.name for c in contenders)}")
            for c, reason in skipped.items():
                progress(f"{c} skipped: {reason}")
            checks = run_checks(contenders, workloads)
            measured = run_rounds(contenders, workloads, checks, mode, progress)
            memory = measure_memory(contenders, checks, mode, progress)
        finally:
            for c in contenders:
                c.close()

    results = summarise(workloads, checks, measured)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    versions = ", ".join(f"{c.name} {c.info[c.name]}" for c in contenders if c.name in ("numpy", "torch", "jax"))
    header = (
        f"tinygrad_sm benchmarks ({mode_name}): {len(contenders)} contenders, {mode['rounds']} interleaved round(s), "
        f"1 BLAS thread, float32; {versions}; Python {platform.python_version()}, {os.cpu_count()} CPUs"
        + (f", load average {load[0]:.2f}" if load else "")
    )
    table, targets = format_report(results, checks, memory, absent, header)
    print(table)
    if args.json:
        report = {
            "mode": mode_name,
            "settings": mode,
            "contenders": {c.name: c.info for c in contenders},
            "not_run": absent,
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
