"""One benchmark contender in its own process: tinygrad_sm, hand-written NumPy, or PyTorch.

Started by ``benchmarks/run.py`` (never by hand) as::

    python benchmarks/contenders.py {numpy|tinygrad_sm|torch} DATA.npz

with OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS=1 already in its
environment, so BLAS is single-threaded from the first NumPy import. It loads the
weights and data the parent generated (the same for every contender), builds every
workload, then answers JSON commands, one per line on stdin, with one JSON line on
stdout: ``time`` (median seconds per call over a time budget), ``check`` (numbers
to compare across contenders: losses after a few steps, gradient samples),
``memory_step`` (tracemalloc peak of one training step) and ``memory_flat``
(tracemalloc/RSS over many steps). Only the contender's own library is imported.

Each contender's training step is written the way its users write it:
zero the gradients, forward, mean cross-entropy, backward, SGD momentum step,
and the loss as a Python float.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHECK_STEPS = 5  # training steps from the initial weights whose losses are compared across contenders
SAMPLE_STRIDE = 1009  # every 1009th gradient entry is compared (a prime: no alignment with rows)


class Bench:
    """One workload for one contender: ``run()`` is the timed call, ``check()`` gives comparable numbers."""

    def __init__(self, run: Callable[[], object], check: Callable[[], list[float]]):
        self.run = run
        self.check = check
        self.warmed_up = False


def _sample(array: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(array, dtype=np.float64).ravel()[::SAMPLE_STRIDE][:1000]]


def _cycle(batches: list) -> Callable[[], object]:
    """A function returning the batches in turn, forever."""
    state = {"i": 0}
    count = len(batches)

    def next_batch():
        i = state["i"]
        state["i"] = (i + 1) % count
        return batches[i]

    return next_batch


def _mlp_arrays(arrays: dict[str, np.ndarray], name: str, layers: int):
    weights = [arrays[f"{name}/W{i}"] for i in range(layers)]
    biases = [arrays[f"{name}/b{i}"] for i in range(layers)]
    return weights, biases, arrays[f"{name}/x"], arrays[f"{name}/y"]


# ===== hand-written NumPy ==================================================================
class NumpyMLP:
    """The MLP step an expert writes by hand: forward keeping the activations, a fused
    softmax-cross-entropy, backward, SGD with momentum (PyTorch's rule), in place where it is natural."""

    def __init__(self, weights, biases, lr: float, momentum: float):
        self.params = [w.copy() for w in weights] + [b.copy() for b in biases]
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)
        self.layers = len(weights)
        self.lr, self.momentum = lr, momentum
        self.rows: dict[int, np.ndarray] = {}

    def _update(self, index: int, grad: np.ndarray) -> None:
        # b ← g on the first step, then b ← μ·b + g;  p ← p − η·b   (grad is ours: reused as scratch)
        buffer = self.buffers[index]
        if buffer is None:
            buffer = self.buffers[index] = grad.copy()
        else:
            buffer *= self.momentum
            buffer += grad
        np.multiply(buffer, self.lr, out=grad)
        self.params[index] -= grad

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        # (no zero-grad needed: the gradients are fresh arrays every step)
        layers = self.layers
        weights, biases = self.params[:layers], self.params[layers:]
        activations = [x]
        h = x
        for i in range(layers):
            h = h @ weights[i].T
            h += biases[i]
            if i < layers - 1:
                np.maximum(h, 0, out=h)
                activations.append(h)
        # softmax cross-entropy on the logits buffer, which then becomes the gradient
        n = len(y)
        rows = self.rows.get(n)
        if rows is None:
            rows = self.rows[n] = np.arange(n)
        h -= h.max(axis=1, keepdims=True)
        picked = h[rows, y]
        np.exp(h, out=h)
        sums = h.sum(axis=1)
        loss = float(np.mean(np.log(sums) - picked))
        h *= (np.float32(1.0 / n) / sums)[:, None]  # (softmax − onehot) / n, the 1/n folded into the row divisor
        h[rows, y] -= np.float32(1.0 / n)
        grad = h
        for i in range(layers - 1, -1, -1):
            a = activations[i]
            grad_weight = grad.T @ a
            grad_bias = grad.sum(axis=0)
            if i > 0:
                grad = grad @ weights[i]  # with the weight before its update
                grad *= a > 0  # relu'(z) = [relu(z) > 0]
            self._update(i, grad_weight)
            self._update(layers + i, grad_bias)
        return loss


def numpy_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    kind, name = spec["kind"], spec["name"]
    if kind == "mlp":
        weights, biases, xs, ys = _mlp_arrays(arrays, name, len(spec["sizes"]) - 1)
        batches = list(zip(xs, ys))
        model = NumpyMLP(weights, biases, spec["lr"], spec["momentum"])
        next_batch = _cycle(batches)

        def run():
            return model.step(*next_batch())

        def check():
            fresh = NumpyMLP(weights, biases, spec["lr"], spec["momentum"])
            return [fresh.step(*batches[i % len(batches)]) for i in range(CHECK_STEPS)]

        bench = Bench(run, check)
        bench.make_fresh = lambda: _cycle_step(NumpyMLP(weights, biases, spec["lr"], spec["momentum"]).step, batches)
        return bench

    if kind == "chain":
        x0, half = arrays[f"{name}/x0"], spec["ops"] // 2

        def chain():
            # the same arithmetic by hand: forward, then the backward rules (d(y*a)/dy = a, d(y+b)/dy = 1)
            y = x0
            for _ in range(half):
                y = y * 1.0001 + 0.001
            grad = np.ones_like(y)
            for _ in range(half):
                grad = grad * 1.0001
                grad = grad + 0  # the add's backward passes the gradient on (an engine adds it in)
            return grad

        return Bench(chain, lambda: _sample(chain()))

    z, n = arrays[f"{name}/z"], spec["shape"][0]
    if kind == "softmax":
        g = arrays[f"{name}/g"]

        def softmax():
            p = z - z.max(axis=1, keepdims=True)
            np.exp(p, out=p)
            p /= p.sum(axis=1, keepdims=True)
            grad = g - np.einsum("ij,ij->i", g, p)[:, None]  # gᵀJ = p ⊙ (g − ⟨g, p⟩)
            grad *= p
            return grad

        return Bench(softmax, lambda: _sample(softmax()))

    y = arrays[f"{name}/y"]
    rows = np.arange(n)

    def cross_entropy():
        shifted = z - z.max(axis=1, keepdims=True)
        picked = shifted[rows, y]
        np.exp(shifted, out=shifted)
        sums = shifted.sum(axis=1)
        loss = float(np.mean(np.log(sums) - picked))
        shifted *= (np.float32(1.0 / n) / sums)[:, None]  # (softmax − onehot) / n in one pass over the rows
        shifted[rows, y] -= np.float32(1.0 / n)
        return loss, shifted

    def check():
        loss, grad = cross_entropy()
        return [loss, *_sample(grad)]

    return Bench(cross_entropy, check)


def _cycle_step(step: Callable, batches: list) -> Callable[[], object]:
    next_batch = _cycle(batches)
    return lambda: step(*next_batch())


# ===== tinygrad_sm =========================================================================
def tinygrad_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    from tinygrad_sm import Tensor, nn, optim

    kind, name = spec["kind"], spec["name"]
    if kind == "mlp":
        layers = len(spec["sizes"]) - 1
        weights, biases, xs, ys = _mlp_arrays(arrays, name, layers)
        batches = list(zip(xs, ys))

        def make():
            model = nn.MLP(spec["sizes"], rng=0)
            state = {f"layers.{i}.weight": weights[i] for i in range(layers)}
            state.update({f"layers.{i}.bias": biases[i] for i in range(layers)})
            model.load_state_dict(state)
            optimizer = optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])

            def step(x, y):
                optimizer.zero_grad()
                loss = model(Tensor(x)).cross_entropy(y)
                loss.backward()
                optimizer.step()
                return loss.item()

            return step

        step = make()
        bench = Bench(_cycle_step(step, batches), lambda: _losses(make(), batches))
        bench.make_fresh = lambda: _cycle_step(make(), batches)
        return bench

    if kind == "chain":
        x0, half = arrays[f"{name}/x0"], spec["ops"] // 2

        def chain():
            x = Tensor(x0, requires_grad=True)
            y = x
            for _ in range(half):
                y = y * 1.0001 + 0.001
            y.sum().backward()
            return x.grad.data

        return Bench(chain, lambda: _sample(chain()))

    z = Tensor(arrays[f"{name}/z"], requires_grad=True)
    if kind == "softmax":
        g = Tensor(arrays[f"{name}/g"])

        def softmax():
            z.grad = None
            z.softmax(axis=-1).backward(g)
            return z.grad.data

        return Bench(softmax, lambda: _sample(softmax()))

    y = arrays[f"{name}/y"]

    def cross_entropy():
        z.grad = None
        loss = z.cross_entropy(y)
        loss.backward()
        return loss.item()

    def check():
        loss = cross_entropy()
        return [loss, *_sample(z.grad.data)]

    return Bench(cross_entropy, check)


def _losses(step: Callable, batches: list) -> list[float]:
    return [float(step(*batches[i % len(batches)])) for i in range(CHECK_STEPS)]


# ===== PyTorch =============================================================================
def torch_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    torch.set_num_threads(1)
    kind, name = spec["kind"], spec["name"]
    if kind == "mlp":
        layers = len(spec["sizes"]) - 1
        weights, biases, xs, ys = _mlp_arrays(arrays, name, layers)
        batches = list(zip(xs, ys))

        def make():
            modules = []
            for i, (n_in, n_out) in enumerate(zip(spec["sizes"][:-1], spec["sizes"][1:])):
                linear = torch.nn.Linear(n_in, n_out)
                with torch.no_grad():
                    linear.weight.copy_(torch.from_numpy(weights[i]))
                    linear.bias.copy_(torch.from_numpy(biases[i]))
                modules.append(linear)
                if i < layers - 1:
                    modules.append(torch.nn.ReLU())
            model = torch.nn.Sequential(*modules)
            optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])

            def step(x, y):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
                loss.backward()
                optimizer.step()
                return loss.item()

            return step

        bench = Bench(_cycle_step(make(), batches), lambda: _losses(make(), batches))
        bench.make_fresh = lambda: _cycle_step(make(), batches)
        return bench

    if kind == "chain":
        x0, half = arrays[f"{name}/x0"], spec["ops"] // 2

        def chain():
            x = torch.tensor(x0, requires_grad=True)
            y = x
            for _ in range(half):
                y = y * 1.0001 + 0.001
            y.sum().backward()
            return x.grad.numpy()

        return Bench(chain, lambda: _sample(chain()))

    z = torch.tensor(arrays[f"{name}/z"], requires_grad=True)
    if kind == "softmax":
        g = torch.from_numpy(arrays[f"{name}/g"])

        def softmax():
            z.grad = None
            torch.softmax(z, dim=-1).backward(g)
            return z.grad.numpy()

        return Bench(softmax, lambda: _sample(softmax()))

    y = torch.from_numpy(arrays[f"{name}/y"])

    def cross_entropy():
        z.grad = None
        loss = F.cross_entropy(z, y)
        loss.backward()
        return loss.item()

    def check():
        loss = cross_entropy()
        return [loss, *_sample(z.grad.numpy())]

    return Bench(cross_entropy, check)


FACTORIES = {"numpy": numpy_benches, "tinygrad_sm": tinygrad_benches, "torch": torch_benches}


# ===== measuring ===========================================================================
def time_bench(bench: Bench, budget: float, min_calls: int, max_calls: int) -> dict:
    """Median seconds per call of ``bench.run`` over about ``budget`` seconds (after a short warm-up)."""
    run, clock = bench.run, time.perf_counter
    if not bench.warmed_up:
        start = clock()
        for _ in range(3):
            run()
        while clock() - start < budget / 4:
            run()
        bench.warmed_up = True
    times = []
    spent = 0.0
    while len(times) < max_calls and (len(times) < min_calls or spent < budget):
        start = clock()
        run()
        elapsed = clock() - start
        times.append(elapsed)
        spent += elapsed
    return {"median": statistics.median(times), "calls": len(times)}


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def memory_step(bench: Bench) -> dict:
    """tracemalloc over a fresh model: the peak during one (second) training step.

    ``total_peak`` counts everything allocated since the model was built (parameters,
    optimiser state, gradients, activations, temporaries); ``transient_peak`` is the
    peak above what was held when the step started.
    """
    gc.collect()
    tracemalloc.start()
    step = bench.make_fresh()
    built = tracemalloc.get_traced_memory()[0]
    step()  # the first step allocates the momentum buffers (and whatever else is kept)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    step()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"model": built, "held_between_steps": held, "total_peak": peak, "transient_peak": peak - held,
            "held_after": current}


def memory_flat(bench: Bench, steps: int, samples: int = 10) -> dict:
    """tracemalloc current and RSS every steps/samples steps (after a garbage collection), over ``steps`` steps."""
    step = bench.make_fresh()
    for _ in range(100):  # warm up: optimiser state, caches
        step()
    gc.collect()
    tracemalloc.start()
    points = []
    every = max(1, steps // samples)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        loss = step()
        if i % every == 0 or i == steps:
            gc.collect()
            points.append({"step": i, "traced": tracemalloc.get_traced_memory()[0], "rss": _rss()})
    seconds = time.perf_counter() - start
    tracemalloc.stop()
    return {"points": points, "final_loss": float(loss), "seconds": seconds}


def main() -> None:
    contender, data_path = sys.argv[1], sys.argv[2]
    reply_stream = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not garble the replies
    if contender == "tinygrad_sm":
        sys.path.insert(0, str(ROOT))

    def reply(message: dict) -> None:
        reply_stream.write(json.dumps(message) + "\n")
        reply_stream.flush()

    with np.load(data_path) as data:
        arrays = {key: data[key] for key in data.files}  # read everything now: NpzFile reads lazily
    specs = json.loads(str(arrays.pop("__spec__")))
    factory = FACTORIES[contender]
    benches = {spec["name"]: factory(spec, arrays) for spec in specs}
    info = {"numpy": np.__version__, "pid": os.getpid(),
            "blas_threads": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    if contender == "torch":
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    elif contender == "tinygrad_sm":
        import tinygrad_sm

        info.update(tinygrad_sm=tinygrad_sm.__version__, tinygrad_sm_path=str(Path(tinygrad_sm.__file__).parent))
    reply({"ready": True, "info": info})

    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            break
        bench = benches[command["bench"]]
        try:
            if op == "time":
                result = time_bench(bench, command["budget"], command["min_calls"], command["max_calls"])
            elif op == "check":
                result = {"values": bench.check()}
            elif op == "memory_step":
                result = memory_step(bench)
            elif op == "memory_flat":
                result = memory_flat(bench, command["steps"])
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as error:  # report it to the parent instead of dying silently
            result = {"error": f"{type(error).__name__}: {error}"}
        reply(result)


if __name__ == "__main__":
    main()
