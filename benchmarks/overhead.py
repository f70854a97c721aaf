"""Per-op overhead of tinygrad_sm next to the same arithmetic in plain NumPy, measured in one run.

    python benchmarks/overhead.py

Prints microseconds (median of several rounds) and the ratio tinygrad_sm / NumPy for
- a chain of 1,000 tiny elementwise ops, forward + backward (µs per op);
- softmax and cross_entropy, forward + backward, on (64, 10) and (1024, 1000).
Not part of the test suite: timings are never asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import functools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from tinygrad_sm import Tensor  # noqa: E402

CHAIN = 1000


def median_time(fn, rounds: int = 15, inner: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``rounds`` rounds of ``inner`` calls."""
    fn()  # warm up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


# ----- a chain of tiny elementwise ops -----------------------------------------------------
def chain_tinygrad(x0: np.ndarray) -> None:
    x = Tensor(x0, requires_grad=True)
    y = x
    for _ in range(CHAIN // 2):
        y = y * 1.0001 + 0.001
    y.sum().backward()


def chain_numpy(x0: np.ndarray) -> None:
    # the same arithmetic by hand: forward, then the backward rules (d(y*a)/dy = a, d(y+b)/dy = 1)
    y = x0
    for _ in range(CHAIN // 2):
        y = y * 1.0001 + 0.001
    grad = np.ones_like(y)
    for _ in range(CHAIN // 2):
        grad = grad * 1.0001
        grad = grad + 0  # the add's backward passes the gradient through (the engine adds it in)


# ----- softmax and cross-entropy -----------------------------------------------------------
def softmax_tinygrad(z: Tensor, g0: np.ndarray) -> None:
    z.grad = None
    z.softmax(axis=-1).backward(g0)


def softmax_numpy(z0: np.ndarray, g0: np.ndarray) -> None:
    e = np.exp(z0 - z0.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    p * (g0 - (g0 * p).sum(axis=-1, keepdims=True))


def cross_entropy_tinygrad(z: Tensor, y0: np.ndarray) -> None:
    z.grad = None
    z.cross_entropy(y0).backward()


def cross_entropy_numpy(z0: np.ndarray, y0: np.ndarray) -> None:
    n = len(y0)
    shifted = z0 - z0.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    float((np.log(s[:, 0]) - shifted[rows, y0]).mean())
    grad = e / s
    grad[rows, y0] -= 1
    grad /= n


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []

    x0 = rng.standard_normal(4).astype(np.float32)
    ours = median_time(lambda: chain_tinygrad(x0), rounds=11) / CHAIN
    numpy = median_time(lambda: chain_numpy(x0), rounds=11) / CHAIN
    rows.append((f"elementwise op, fwd+bwd, per op (chain of {CHAIN})", ours, numpy))

    for shape in [(64, 10), (1024, 1000)]:
        inner = 200 if shape == (64, 10) else 3
        z0 = rng.standard_normal(shape).astype(np.float32)
        g0 = rng.standard_normal(shape).astype(np.float32)
        y0 = rng.integers(0, shape[1], shape[0])
        z = Tensor(z0, requires_grad=True)
        rows.append((f"softmax fwd+bwd {shape}",
                     median_time(functools.partial(softmax_tinygrad, z, g0), inner=inner),
                     median_time(functools.partial(softmax_numpy, z0, g0), inner=inner)))
        rows.append((f"cross_entropy fwd+bwd {shape}",
                     median_time(functools.partial(cross_entropy_tinygrad, z, y0), inner=inner),
                     median_time(functools.partial(cross_entropy_numpy, z0, y0), inner=inner)))

    print(f"{'workload':<52} {'tinygrad_sm µs':>15} {'NumPy µs':>10} {'ratio':>7}")
    for name, ours, numpy in rows:
        print(f"{name:<52} {ours * 1e6:>15.2f} {numpy * 1e6:>10.2f} {ours / numpy:>7.2f}")


if __name__ == "__main__":
    main()
