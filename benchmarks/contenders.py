"""One benchmark contender in its own process: hand-written NumPy, tinygrad_sm (eager or jitted),
PyTorch eager, or JAX's jit.

Started by ``benchmarks/run.py`` (never by hand) as::

    python benchmarks/contenders.py {numpy|tinygrad_sm|torch|tinygrad_sm_jit|jax} DATA.npz

with OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS=1 already in its
environment, so BLAS is single-threaded from the first NumPy import (JAX's XLA_FLAGS are
set here, before jax is imported). Its first reply says whether it can run at all (an
optional library missing, a tinygrad_sm without ``jit``). It loads the weights and data
the parent generated (the same for every contender), builds every workload, then answers
JSON commands, one per line on stdin, with one JSON line on stdout: ``time`` (median
seconds per call over a time budget), ``check`` (numbers to compare across contenders:
losses after a few steps, gradient samples; and the warnings of the first calls),
``memory_step`` (tracemalloc peak of one training step) and ``memory_flat``
(tracemalloc/RSS over many steps); a workload it cannot run answers ``skipped``, with the
reason. Only the contender's own library is imported.

Each contender's training step is written the way its users write it:
zero the gradients, forward, mean cross-entropy, backward, SGD momentum step,
and the loss as a Python float (outside the jitted function, for the two jits).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHECK_STEPS = 5  # training steps from the initial weights whose losses are compared across contenders
CHECK_WARM_UP = 3  # calls before the check, so that a jit has recorded, compiled and replayed (or warned)
SAMPLE_STRIDE = 1009  # every 1009th gradient entry is compared (a prime: no alignment with rows)


class Bench:
    """One workload for one contender: ``run()`` is the timed call, ``check()`` gives comparable numbers."""

    def __init__(self, run: Callable[[], object], check: Callable[[], list[float]]):
        self.run = run
        self.check = check
        self.warmed_up = False
        self.note = ""  # shown beside the contender's time, e.g. "fused" (XLA merged the chain of ops)


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
    if kind in OP_KINDS + STEP_KINDS:
        return numpy_extra_benches(spec, arrays)
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


# ----- hand-written NumPy: convolution, pooling, normalisation, attention, and two models -----
class NumpySGD:
    """SGD with momentum on named arrays, PyTorch's rule: b ← g on the first step, then
    b ← μ·b + g;  p ← p − η·b  (in place; the gradient is ours and is reused as scratch)."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.buffers: dict[str, np.ndarray] = {}

    def update(self, grads: dict[str, np.ndarray]) -> None:
        for name, grad in grads.items():
            buffer = self.buffers.get(name)
            if buffer is None:
                buffer = self.buffers[name] = grad.copy()
            else:
                buffer *= self.momentum
                buffer += grad
            np.multiply(buffer, self.lr, out=grad)
            self.params[name] -= grad


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of (n, classes) logits and its gradient (softmax − onehot)/n, in the logits' buffer."""
    n = len(y)
    rows = np.arange(n)
    logits -= logits.max(axis=1, keepdims=True)
    picked = logits[rows, y]
    np.exp(logits, out=logits)
    sums = logits.sum(axis=1)
    loss = float(np.mean(np.log(sums) - picked))
    logits *= (np.float32(1.0 / n) / sums)[:, None]
    logits[rows, y] -= np.float32(1.0 / n)
    return loss, logits


def im2col(x: np.ndarray, k: int, padding: int) -> np.ndarray:
    """(N, C, H, W) → columns (N, C·k·k, H'·W'): column p holds the k×k patch under output pixel p (stride 1)."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))  # (N, C, H', W', k, k), a view
    out_h, out_w = windows.shape[2], windows.shape[3]
    return np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c * k * k, out_h * out_w)


def col2im(grad_cols: np.ndarray, shape: tuple, k: int, padding: int) -> np.ndarray:
    """The adjoint of im2col: each kernel offset's slice of the columns is added back where it was read."""
    n, c, h, w = shape
    out_h, out_w = h + 2 * padding - k + 1, w + 2 * padding - k + 1
    grad_cols = grad_cols.reshape(n, c, k, k, out_h, out_w)
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=grad_cols.dtype)
    for i in range(k):
        for j in range(k):
            padded[:, :, i : i + out_h, j : j + out_w] += grad_cols[:, :, i, j]
    return padded[:, :, padding : padding + h, padding : padding + w]


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: int):
    """y[n] = W·cols(x)[n] + b, W the (C_out, C_in·k·k) weight matrix: one batched matmul."""
    k = weight.shape[-1]
    cols = im2col(x, k, padding)
    out = np.matmul(weight.reshape(len(weight), -1), cols)
    out += bias[:, None]
    out_h = x.shape[2] + 2 * padding - k + 1
    return out.reshape(len(x), len(weight), out_h, -1), cols


def conv2d_backward(
    grad: np.ndarray, cols: np.ndarray, weight: np.ndarray, x_shape: tuple, padding: int, need_input: bool = True
):
    """∂W = Σₙ gₙ·colsₙᵀ,  ∂b = Σ g,  ∂x = col2im(Wᵀ·g)."""
    g = grad.reshape(grad.shape[0], grad.shape[1], -1)  # (N, C_out, H'·W')
    matrix = weight.reshape(len(weight), -1)
    grad_weight = np.tensordot(g, cols, axes=([0, 2], [0, 2])).reshape(weight.shape)
    grad_bias = grad.sum(axis=(0, 2, 3))
    grad_x = col2im(np.matmul(matrix.T, g), x_shape, weight.shape[-1], padding) if need_input else None
    return grad_x, grad_weight, grad_bias


def max_pool2d_forward(x: np.ndarray, k: int) -> np.ndarray:
    """The max of each k×k window (stride k; H and W multiples of k) over the k² strided views of x (no copies)."""
    views = [x[:, :, i::k, j::k] for i in range(k) for j in range(k)]
    out = np.maximum(views[0], views[1])
    for view in views[2:]:
        np.maximum(out, view, out=out)
    return out


def max_pool2d_backward(grad: np.ndarray, x: np.ndarray, out: np.ndarray, k: int) -> np.ndarray:
    """Each window's gradient goes to its first max in row-major order (PyTorch's tie rule), 0 to the others."""
    grad_x = np.empty_like(x)
    free = np.ones(out.shape, dtype=bool)  # the windows whose first max is still to come
    for i in range(k):
        for j in range(k):
            first = x[:, :, i::k, j::k] == out
            first &= free
            free ^= first
            np.multiply(grad, first, out=grad_x[:, :, i::k, j::k])
    return grad_x


def layer_norm_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5):
    """y = x̂·w + b,  x̂ = (x − mean)/√(var + ε) over the last axis (biased variance)."""
    centred = x - x.mean(axis=-1, keepdims=True)
    inverse_std = 1.0 / np.sqrt(np.mean(centred * centred, axis=-1, keepdims=True) + np.float32(eps))
    normed = centred * inverse_std
    return normed * weight + bias, (normed, inverse_std, weight)


def layer_norm_backward(grad: np.ndarray, cache: tuple):
    """∂x = (ĝ − mean ĝ − x̂·mean(ĝ·x̂))/σ with ĝ = g·w;  ∂w = Σ g·x̂,  ∂b = Σ g (over all but the last axis)."""
    normed, inverse_std, weight = cache
    width = grad.shape[-1]
    grad_weight = (grad * normed).reshape(-1, width).sum(axis=0)
    grad_bias = grad.reshape(-1, width).sum(axis=0)
    g = grad * weight
    grad_x = g - g.mean(axis=-1, keepdims=True)
    grad_x -= normed * np.mean(g * normed, axis=-1, keepdims=True)
    grad_x *= inverse_std
    return grad_x, grad_weight, grad_bias


def causal_mask(length: int) -> np.ndarray:
    """0 where position i may attend to j (j ≤ i), −inf above the diagonal: added to the scores."""
    return np.triu(np.full((length, length), -np.inf, dtype=np.float32), 1)


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray):
    """o = P·v,  P = softmax(q·kᵀ/√d + mask) over the keys."""
    scale = np.float32(1.0 / np.sqrt(q.shape[-1]))
    p = q @ k.swapaxes(-1, -2)
    p *= scale
    p += mask
    p -= p.max(axis=-1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    return p @ v, p


def attention_backward(grad: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, p: np.ndarray):
    """∂v = Pᵀg;  ∂S = P ⊙ (gvᵀ − rowsum(P ⊙ gvᵀ))/√d;  ∂q = ∂S·k,  ∂k = ∂Sᵀ·q."""
    grad_v = p.swapaxes(-1, -2) @ grad
    grad_scores = grad @ v.swapaxes(-1, -2)
    grad_scores -= np.sum(grad_scores * p, axis=-1, keepdims=True)
    grad_scores *= p
    grad_scores *= np.float32(1.0 / np.sqrt(q.shape[-1]))
    return grad_scores @ k, grad_scores.swapaxes(-1, -2) @ q, grad_v


# erfc x = t·exp(−x² + P(t)), t = 1/(1 + x/2), x ≥ 0: the Chebyshev fit of Numerical Recipes' erfcc, relative
# error below 1.2e-7 for every x, so erf = 1 − erfc is within 1.2e-7 of erf (float32's precision at Φ ≈ ½ in
# GELU); coefficients of P lowest power first.
_ERFC_EXPONENT = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
                  -0.82215223, 0.17087277)  # fmt: skip


def erf(x: np.ndarray) -> np.ndarray:
    """erf x = sign(x)·(1 − erfc|x|) with erfc from one exp of a polynomial in t = 1/(1 + |x|/2): no branches
    (boolean-mask gathers cost more than the whole polynomial), to float32's precision."""
    z = np.abs(x)
    t = 1 / (1 + 0.5 * z)
    exponent = np.full_like(t, _ERFC_EXPONENT[-1])
    for c in reversed(_ERFC_EXPONENT[:-1]):  # Horner's rule
        exponent *= t
        exponent += c
    exponent -= z * z
    erfc = np.exp(exponent, out=exponent)
    erfc *= t
    return np.copysign(1 - erfc, x)


def gelu_forward(u: np.ndarray):
    """z = u·Φ(u), Φ(u) = ½(1 + erf(u/√2)) (the exact form)."""
    cdf = erf(u * np.float32(np.sqrt(0.5)))
    cdf += 1
    cdf *= 0.5
    return u * cdf, cdf


def gelu_backward(grad: np.ndarray, u: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """∂z/∂u = Φ(u) + u·φ(u),  φ(u) = e^{−u²/2}/√(2π)."""
    density = np.exp(u * u * np.float32(-0.5))
    density *= np.float32(1 / np.sqrt(2 * np.pi)) * u
    density += cdf
    density *= grad
    return density


class NumpyCNN:
    """The digits CNN step by hand: conv(1→16) → ReLU → conv(16→32) → ReLU → max-pool 2 → flatten →
    Linear(512, 64) → ReLU → Linear(64, 10), mean cross-entropy, backward, SGD with momentum."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float):
        self.params = {name: value.copy() for name, value in params.items()}
        self.optimizer = NumpySGD(self.params, lr, momentum)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        p = self.params
        h1, cols1 = conv2d_forward(x, p["0.weight"], p["0.bias"], 1)
        np.maximum(h1, 0, out=h1)
        h2, cols2 = conv2d_forward(h1, p["2.weight"], p["2.bias"], 1)
        np.maximum(h2, 0, out=h2)
        pooled = max_pool2d_forward(h2, 2)
        flat = pooled.reshape(len(x), -1)
        h3 = flat @ p["6.weight"].T
        h3 += p["6.bias"]
        np.maximum(h3, 0, out=h3)
        logits = h3 @ p["8.weight"].T
        logits += p["8.bias"]
        loss, grad = softmax_cross_entropy(logits, y)

        grads = {"8.weight": grad.T @ h3, "8.bias": grad.sum(axis=0)}
        grad = grad @ p["8.weight"]
        grad *= h3 > 0
        grads["6.weight"], grads["6.bias"] = grad.T @ flat, grad.sum(axis=0)
        grad = max_pool2d_backward((grad @ p["6.weight"]).reshape(pooled.shape), h2, pooled, 2)
        grad *= h2 > 0
        grad, grads["2.weight"], grads["2.bias"] = conv2d_backward(grad, cols2, p["2.weight"], h1.shape, 1)
        grad *= h1 > 0
        _, grads["0.weight"], grads["0.bias"] = conv2d_backward(grad, cols1, p["0.weight"], x.shape, 1, need_input=False)
        self.optimizer.update(grads)
        return loss


class NumpyCharTransformer:
    """The character transformer step by hand: token + position embeddings, blocks of
    x += attention(LN(x)), x += MLP(LN(x)) (Linear → exact GELU → Linear), a final LN and Linear to
    the vocabulary; mean cross-entropy over every token, the backward of each piece, SGD with momentum."""

    def __init__(self, params: dict[str, np.ndarray], spec: dict):
        self.params = {name: value.copy() for name, value in params.items()}
        self.optimizer = NumpySGD(self.params, spec["lr"], spec["momentum"])
        self.heads, self.blocks = spec["heads"], spec["blocks"]
        self.mask = causal_mask(spec["context"])
        self.identity = np.eye(spec["vocab"], dtype=np.float32)  # one-hot rows: the token embedding's backward

    def step(self, tokens: np.ndarray, targets: np.ndarray) -> float:
        p, heads = self.params, self.heads
        batch, length = tokens.shape
        width = p["token.weight"].shape[1]
        rows = batch * length

        def linear(h: np.ndarray, name: str) -> np.ndarray:
            out = h.reshape(-1, h.shape[-1]) @ p[name + ".weight"].T
            out += p[name + ".bias"]
            return out.reshape(*h.shape[:-1], -1)

        x = p["token.weight"][tokens] + p["position.weight"][:length]
        caches = []
        for i in range(self.blocks):
            block = f"blocks.{i}."
            h1, norm1 = layer_norm_forward(x, p[block + "norm1.weight"], p[block + "norm1.bias"])
            qkv = linear(h1, block + "attention.qkv").reshape(batch, length, 3, heads, width // heads)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (batch, heads, length, width/heads)
            mixed, weights = attention_forward(q, k, v, self.mask)
            mixed = mixed.transpose(0, 2, 1, 3).reshape(batch, length, width)
            x = x + linear(mixed, block + "attention.out")
            h2, norm2 = layer_norm_forward(x, p[block + "norm2.weight"], p[block + "norm2.bias"])
            u = linear(h2, block + "mlp.0")
            z, cdf = gelu_forward(u)
            x = x + linear(z, block + "mlp.2")
            caches.append((h1, norm1, q, k, v, weights, mixed, h2, norm2, u, cdf, z))
        hf, norm = layer_norm_forward(x, p["norm.weight"], p["norm.bias"])
        loss, grad = softmax_cross_entropy(linear(hf, "head").reshape(rows, -1), targets.reshape(rows))

        grads: dict[str, np.ndarray] = {}

        def linear_backward(grad: np.ndarray, h: np.ndarray, name: str) -> np.ndarray:
            """∂W = gᵀh, ∂b = Σ g over the rows; returns ∂h = g·W (with the weight before its update)."""
            g2 = grad.reshape(-1, grad.shape[-1])
            grads[name + ".weight"] = g2.T @ h.reshape(len(g2), -1)
            grads[name + ".bias"] = g2.sum(axis=0)
            return (g2 @ p[name + ".weight"]).reshape(*grad.shape[:-1], -1)

        def norm_backward(grad: np.ndarray, cache: tuple, name: str) -> np.ndarray:
            grad_x, grads[name + ".weight"], grads[name + ".bias"] = layer_norm_backward(grad, cache)
            return grad_x

        dx = norm_backward(linear_backward(grad, hf, "head").reshape(batch, length, width), norm, "norm")
        for i in reversed(range(self.blocks)):
            block = f"blocks.{i}."
            h1, norm1, q, k, v, weights, mixed, h2, norm2, u, cdf, z = caches[i]
            du = gelu_backward(linear_backward(dx, z, block + "mlp.2"), u, cdf)
            dx = dx + norm_backward(linear_backward(du, h2, block + "mlp.0"), norm2, block + "norm2")
            dmixed = linear_backward(dx, mixed, block + "attention.out")
            dmixed = dmixed.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3)
            dqkv = np.stack(attention_backward(dmixed, q, k, v, weights)).transpose(1, 3, 0, 2, 4)
            dh1 = linear_backward(dqkv.reshape(batch, length, 3 * width), h1, block + "attention.qkv")
            dx = dx + norm_backward(dh1, norm1, block + "norm1")
        grad_position = np.zeros_like(p["position.weight"])
        grad_position[:length] = dx.sum(axis=0)
        grads["position.weight"] = grad_position
        grads["token.weight"] = self.identity[tokens.reshape(rows)].T @ dx.reshape(rows, width)
        self.optimizer.update(grads)
        return loss


OP_KINDS = ("conv2d", "max_pool2d", "layer_norm", "attention")  # forward + backward of one op on fixed data
STEP_KINDS = ("cnn", "transformer")  # training steps of a model


def _samples(arrays) -> list[float]:
    """Gradient samples of every gradient, concatenated."""
    return [v for a in arrays for v in _sample(a)]


def _arrays_of(arrays: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """The arrays of one workload, under their names without the workload's prefix ("conv2d/x" -> "x")."""
    prefix = name + "/"
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def _params(arrays: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    prefix = f"{name}/p/"
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def numpy_extra_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    kind, name = spec["kind"], spec["name"]
    a = _arrays_of(arrays, name)
    if kind in STEP_KINDS:
        params, batches = _params(arrays, name), list(zip(a["x"], a["y"]))

        def make():
            if kind == "cnn":
                return NumpyCNN(params, spec["lr"], spec["momentum"]).step
            return NumpyCharTransformer(params, spec).step

        return Bench(_cycle_step(make(), batches), lambda: _losses(make(), batches))

    if kind == "conv2d":
        x, weight, bias, g, padding = a["x"], a["weight"], a["bias"], a["g"], spec["padding"]

        def run():
            _, cols = conv2d_forward(x, weight, bias, padding)
            return conv2d_backward(g, cols, weight, x.shape, padding)

    elif kind == "max_pool2d":
        x, g, k = a["x"], a["g"], spec["kernel"]

        def run():
            return (max_pool2d_backward(g, x, max_pool2d_forward(x, k), k),)

    elif kind == "layer_norm":
        x, weight, bias, g = a["x"], a["weight"], a["bias"], a["g"]

        def run():
            _, cache = layer_norm_forward(x, weight, bias)
            return layer_norm_backward(g, cache)

    else:
        q, k, v, g = a["q"], a["k"], a["v"], a["g"]
        mask = causal_mask(q.shape[-2])

        def run():
            _, weights = attention_forward(q, k, v, mask)
            return attention_backward(g, q, k, v, weights)

    return Bench(run, lambda: _samples(run()))


# ===== tinygrad_sm: eager, and under tinygrad_sm.jit ========================================
def tinygrad_benches(spec: dict, arrays: dict[str, np.ndarray], jitted: bool = False) -> Bench:
    """tinygrad_sm's workloads, written as functions of Tensors that return Tensors; with ``jitted``
    each one (a whole training step, or one op's forward + backward) is wrapped in ``tinygrad_sm.jit``,
    and the numbers are read outside it (``.item()``, ``.data``), as a jitted function must."""
    from tinygrad_sm import Tensor

    kind = spec["kind"]
    compile_ = _jit if jitted else _eager
    if kind in ("mlp",) + STEP_KINDS:
        make_step, batches = _tinygrad_training(spec, arrays)

        def make():
            step = compile_(make_step())
            return lambda x, y: step(Tensor.from_numpy(x), Tensor.from_numpy(y)).item()

        bench = Bench(_cycle_step(make(), batches), lambda: _losses(make(), batches))
        bench.make_fresh = lambda: _cycle_step(make(), batches)
        return bench

    fwd_bwd, inputs = _tinygrad_fwd_bwd(spec, arrays)
    run_fwd_bwd = compile_(fwd_bwd)

    def run_once():
        for t in inputs:  # (outside the jitted function: a replay does not repeat `t.grad = None`)
            t.grad = None
        return run_fwd_bwd(*inputs)

    if kind == "cross_entropy":  # the loss read as a float, as a training step does

        def run():
            loss = run_once().item()
            return loss, inputs[0].grad.data

        def check():
            loss, grad = run()
            return [loss, *_sample(grad)]

        return Bench(run, check)

    def run():
        run_once()
        return [t.grad.data for t in inputs]

    return Bench(run, lambda: _samples(run()))


def _chain(ops: int) -> Callable:
    """The chain benchmark's forward, for tinygrad_sm and JAX alike: ops/2 multiply-adds, then the sum."""

    def forward(x):
        for _ in range(ops // 2):
            x = x * 1.0001 + 0.001
        return x.sum()

    return forward


def _eager(fn: Callable) -> Callable:
    return fn


def _jit(fn: Callable) -> Callable:
    import tinygrad_sm

    return tinygrad_sm.jit(fn)


def _tinygrad_training(spec: dict, arrays: dict[str, np.ndarray]):
    """``make_step`` builds a fresh model and optimiser from the shared weights and returns its training
    step ``step(x, y) -> loss`` on Tensors; ``batches`` are the (x, y) arrays it is fed in turn."""
    from tinygrad_sm import nn, optim
    from tinygrad_sm.nn import functional as F  # noqa: N812 - the usual name

    kind, name = spec["kind"], spec["name"]
    if kind == "mlp":
        layers = len(spec["sizes"]) - 1
        weights, biases, xs, ys = _mlp_arrays(arrays, name, layers)
        params = {f"layers.{i}.weight": weights[i] for i in range(layers)}
        params.update({f"layers.{i}.bias": biases[i] for i in range(layers)})
        batches = list(zip(xs, ys))
    else:
        a = _arrays_of(arrays, name)
        params, batches = _params(arrays, name), list(zip(a["x"], a["y"]))

    def make_step():
        # the library's MLP and the examples' own CNN and transformer (the NumPy and PyTorch contenders' names)
        if kind == "mlp":
            model = nn.MLP(spec["sizes"], rng=0)
        elif kind == "cnn":
            model = _example("train_cnn").small_cnn(8, (16, 32), np.random.default_rng(0))
        else:
            assert spec["vocab"] == 27, "examples/char_transformer.py predicts 27 characters"
            model = _example("char_transformer").CharTransformer(
                spec["context"], spec["width"], spec["heads"], spec["blocks"], np.random.default_rng(0)
            )
        model.load_state_dict(params)
        optimizer = optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])

        def step(x, y):
            optimizer.zero_grad()
            scores = model(x)
            loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1))
            loss.backward()
            optimizer.step()
            return loss

        return step

    return make_step, batches


def _tinygrad_fwd_bwd(spec: dict, arrays: dict[str, np.ndarray]):
    """One op benchmark as ``fwd_bwd(*inputs)``, which leaves the inputs' gradients in their ``.grad``
    (for a fixed upstream gradient; cross_entropy returns the loss), and the input Tensors it is called on.
    The gradients are read outside: a jitted function that returns an input's ``.grad`` is not replayed
    (the jit takes the new gradient Tensor of each call for a different Tensor from outside), and they
    are cleared outside, before each call."""
    from tinygrad_sm import Tensor
    from tinygrad_sm.nn import functional as F  # noqa: N812 - the usual name

    kind, name = spec["kind"], spec["name"]
    a = _arrays_of(arrays, name)
    if kind == "cross_entropy":
        z, y = Tensor(a["z"], requires_grad=True), Tensor(a["y"])

        def mean_cross_entropy(z):
            loss = z.cross_entropy(y)
            loss.backward()
            return loss

        return mean_cross_entropy, [z]

    if kind == "chain":
        names, g, forward = ("x0",), None, _chain(spec["ops"])
    elif kind == "softmax":
        names, g, forward = ("z",), Tensor(a["g"]), lambda z: z.softmax(axis=-1)
    else:
        names, g, forward = OP_INPUTS[kind], Tensor(a["g"]), _op_forward(spec, F)

    def fwd_bwd(*inputs):
        forward(*inputs).backward(g)

    return fwd_bwd, [Tensor(a[n], requires_grad=True) for n in names]


def _losses(step: Callable, batches: list) -> list[float]:
    return [float(step(*batches[i % len(batches)])) for i in range(CHECK_STEPS)]


OP_INPUTS = {
    "conv2d": ("x", "weight", "bias"),
    "max_pool2d": ("x",),
    "layer_norm": ("x", "weight", "bias"),
    "attention": ("q", "k", "v"),
}


def _op_forward(spec: dict, F):  # noqa: N803 - the functional module: tinygrad_sm's and PyTorch's read the same
    """The forward of an op benchmark, written once against PyTorch's ``F`` API, which both libraries have."""
    kind = spec["kind"]
    if kind == "conv2d":
        return lambda x, weight, bias: F.conv2d(x, weight, bias, padding=spec["padding"])
    if kind == "max_pool2d":
        return lambda x: F.max_pool2d(x, spec["kernel"])
    if kind == "layer_norm":
        return lambda x, weight, bias: F.layer_norm(x, x.shape[-1:], weight, bias)
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _example(module: str):
    """A script of examples/ imported as a module."""
    import importlib

    folder = str(ROOT / "examples")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(module)


# ===== PyTorch =============================================================================
def torch_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    torch.set_num_threads(1)
    kind, name = spec["kind"], spec["name"]
    if kind in OP_KINDS + STEP_KINDS:
        return torch_extra_benches(spec, arrays)
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


def torch_extra_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    torch.set_num_threads(1)
    kind, name = spec["kind"], spec["name"]
    a = _arrays_of(arrays, name)
    if kind in STEP_KINDS:
        params, batches = _params(arrays, name), list(zip(a["x"], a["y"]))
        nn = torch.nn

        def make():
            if kind == "cnn":
                model = nn.Sequential(
                    nn.Conv2d(1, 16, 3, padding=1),
                    nn.ReLU(),
                    nn.Conv2d(16, 32, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Flatten(),
                    nn.Linear(512, 64),
                    nn.ReLU(),
                    nn.Linear(64, 10),
                )
            else:
                model = _torch_char_transformer(spec)
            model.load_state_dict({key: torch.from_numpy(value) for key, value in params.items()})
            optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])

            def step(x, y):
                optimizer.zero_grad()
                scores = model(torch.from_numpy(x))
                loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), torch.from_numpy(y).reshape(-1))
                loss.backward()
                optimizer.step()
                return loss.item()

            return step

        return Bench(_cycle_step(make(), batches), lambda: _losses(make(), batches))

    names = OP_INPUTS[kind]
    inputs = [torch.tensor(a[n], requires_grad=True) for n in names]
    g = torch.from_numpy(a["g"])
    forward = _op_forward(spec, F)

    def run():
        for t in inputs:
            t.grad = None
        forward(*inputs).backward(g)
        return [t.grad.numpy() for t in inputs]

    return Bench(run, lambda: _samples(run()))


def _torch_char_transformer(spec: dict):
    """The same character transformer in PyTorch (the same parameter names)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    nn = torch.nn

    class CausalSelfAttention(nn.Module):
        def __init__(self, width: int, heads: int):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(width, 3 * width)
            self.out = nn.Linear(width, width)

        def forward(self, x):
            batch, length, width = x.shape
            qkv = self.qkv(x).reshape(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
            mixed = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
            return self.out(mixed.transpose(1, 2).reshape(batch, length, width))

    class Block(nn.Module):
        def __init__(self, width: int, heads: int):
            super().__init__()
            self.norm1 = nn.LayerNorm(width)
            self.attention = CausalSelfAttention(width, heads)
            self.norm2 = nn.LayerNorm(width)
            self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

        def forward(self, x):
            x = x + self.attention(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class CharTransformer(nn.Module):
        def __init__(self, vocab: int, context: int, width: int, heads: int, blocks: int):
            super().__init__()
            self.token = nn.Embedding(vocab, width)
            self.position = nn.Embedding(context, width)
            self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(blocks)])
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, vocab)

        def forward(self, tokens):
            x = self.token(tokens) + self.position(torch.arange(tokens.shape[1]))
            return self.head(self.norm(self.blocks(x)))

    return CharTransformer(spec["vocab"], spec["context"], spec["width"], spec["heads"], spec["blocks"])


# ===== JAX, every workload under jax.jit ===================================================
JAX_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"  # one CPU thread


def jax_benches(spec: dict, arrays: dict[str, np.ndarray]) -> Bench | None:
    """Each workload as one ``jax.jit``-compiled function on arrays placed on the device once (as a JAX
    input pipeline keeps them); the timed call waits for its result (``float(loss)``, ``block_until_ready``).

    A training step is ``(params, momentum buffers, x, y) -> (params, buffers, loss)`` with the params and
    buffers donated (XLA updates them in place: about 20% faster on the tiny MLP); the buffers start at
    zero, so the first step's μ·0 + g is PyTorch's b ← g exactly. An op benchmark is the jitted
    ``jax.vjp`` of its forward with the fixed upstream gradient (cross_entropy: ``value_and_grad`` of the
    mean). The chain of elementwise ops is one jitted forward + backward, which XLA fuses into a few
    passes: its time per op is what the table reports, marked "fused"."""
    import jax
    import jax.numpy as jnp

    kind, name = spec["kind"], spec["name"]
    if kind in ("mlp",) + STEP_KINDS:
        return _jax_training(spec, arrays)
    a = {key: jnp.asarray(value) for key, value in _arrays_of(arrays, name).items() if key != "y"}

    if kind == "cross_entropy":
        fwd_bwd = jax.jit(jax.value_and_grad(_jax_cross_entropy))
        z, y = a["z"], jnp.asarray(arrays[f"{name}/y"].astype(np.int32))

        def run():
            loss, grad = fwd_bwd(z, y)
            return float(loss), grad.block_until_ready()

        def check():
            loss, grad = run()
            return [loss, *_sample(grad)]

        return Bench(run, check)

    if kind == "chain":
        forward, names, g = _chain(spec["ops"]), ("x0",), None
    elif kind == "softmax":
        forward, names, g = (lambda z: jax.nn.softmax(z, axis=-1)), ("z",), a["g"]
    else:
        forward, names, g = _jax_op_forward(spec), OP_INPUTS[kind], a["g"]
    inputs = [a[n] for n in names]

    @jax.jit
    def fwd_bwd(*inputs):
        value, pullback = jax.vjp(forward, *inputs)
        return pullback(jnp.ones_like(value) if g is None else g)

    def run():
        return jax.block_until_ready(fwd_bwd(*inputs))

    bench = Bench(run, lambda: _samples(run()))
    if kind == "chain":
        bench.note = "fused"
    return bench


def _jax_cross_entropy(logits, y):
    """Mean cross-entropy of (n, classes) logits and integer classes: mean(logsumexp(z) − z[y]) (max-shifted)."""
    import jax
    import jax.numpy as jnp

    picked = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def _jax_linear(p: dict, name: str, h):
    return h @ p[name + ".weight"].T + p[name + ".bias"]


def _jax_conv2d(x, weight, bias, padding: int):
    from jax import lax

    out = lax.conv_general_dilated(x, weight, (1, 1), [(padding, padding)] * 2, dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out + bias[None, :, None, None]


def _jax_max_pool2d(x, k: int):
    import jax.numpy as jnp
    from jax import lax

    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, k, k), (1, 1, k, k), "VALID")


def _jax_layer_norm(x, weight, bias, eps: float = 1e-5):
    import jax.numpy as jnp

    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / jnp.sqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + eps) * weight + bias


def _jax_causal_attention(q, k, v):
    import jax
    import jax.numpy as jnp

    length = q.shape[-2]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1]).astype(np.float32)
    scores = jnp.where(jnp.tril(jnp.ones((length, length), dtype=bool)), scores, -jnp.inf)
    return jax.nn.softmax(scores, axis=-1) @ v


def _jax_op_forward(spec: dict):
    kind = spec["kind"]
    if kind == "conv2d":
        return lambda x, weight, bias: _jax_conv2d(x, weight, bias, spec["padding"])
    if kind == "max_pool2d":
        return lambda x: _jax_max_pool2d(x, spec["kernel"])
    if kind == "layer_norm":
        return _jax_layer_norm
    return _jax_causal_attention


def _jax_model(spec: dict):
    """The forward ``scores(params, x)`` of the MLP, the digits CNN or the character transformer, on
    parameters named as the NumPy and PyTorch contenders name them; the last axis of scores is the classes."""
    import jax

    kind = spec["kind"]
    if kind == "mlp":
        layers = len(spec["sizes"]) - 1

        def mlp(p, h):
            for i in range(layers):
                h = _jax_linear(p, f"layers.{i}", h)
                if i < layers - 1:
                    h = jax.nn.relu(h)
            return h

        return mlp

    if kind == "cnn":

        def cnn(p, x):
            h = jax.nn.relu(_jax_conv2d(x, p["0.weight"], p["0.bias"], 1))
            h = jax.nn.relu(_jax_conv2d(h, p["2.weight"], p["2.bias"], 1))
            h = _jax_max_pool2d(h, 2).reshape(len(x), -1)
            return _jax_linear(p, "8", jax.nn.relu(_jax_linear(p, "6", h)))

        return cnn

    heads = spec["heads"]

    def transformer(p, tokens):
        batch, length = tokens.shape
        x = p["token.weight"][tokens] + p["position.weight"][:length]
        width = x.shape[-1]
        for i in range(spec["blocks"]):
            block = f"blocks.{i}."
            h = _jax_layer_norm(x, p[block + "norm1.weight"], p[block + "norm1.bias"])
            qkv = _jax_linear(p, block + "attention.qkv", h).reshape(batch, length, 3, heads, width // heads)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)
            mixed = _jax_causal_attention(q, k, v).transpose(0, 2, 1, 3).reshape(batch, length, width)
            x = x + _jax_linear(p, block + "attention.out", mixed)
            h = _jax_layer_norm(x, p[block + "norm2.weight"], p[block + "norm2.bias"])
            h = jax.nn.gelu(_jax_linear(p, block + "mlp.0", h), approximate=False)
            x = x + _jax_linear(p, block + "mlp.2", h)
        return _jax_linear(p, "head", _jax_layer_norm(x, p["norm.weight"], p["norm.bias"]))

    return transformer


def _jax_training(spec: dict, arrays: dict[str, np.ndarray]) -> Bench:
    """A jitted SGD-with-momentum training step of the workload's model (PyTorch's rule, see jax_benches)."""
    import jax
    import jax.numpy as jnp

    kind, name = spec["kind"], spec["name"]
    lr, momentum = spec["lr"], spec["momentum"]
    if kind == "mlp":
        weights, biases, xs, ys = _mlp_arrays(arrays, name, len(spec["sizes"]) - 1)
        params = {f"layers.{i}.weight": w for i, w in enumerate(weights)}
        params.update({f"layers.{i}.bias": b for i, b in enumerate(biases)})
    else:
        params, xs, ys = _params(arrays, name), arrays[f"{name}/x"], arrays[f"{name}/y"]
    scores = _jax_model(spec)

    def loss_of(p, x, y):
        s = scores(p, x)
        return _jax_cross_entropy(s.reshape(-1, s.shape[-1]), y.reshape(-1))

    def step(p, buffers, x, y):
        loss, grads = jax.value_and_grad(loss_of)(p, x, y)
        buffers = {key: momentum * buffers[key] + grads[key] for key in p}  # b ← μ·b + g
        return {key: p[key] - lr * buffers[key] for key in p}, buffers, loss  # p ← p − η·b

    update = jax.jit(step, donate_argnums=(0, 1))
    int_type = np.int32  # JAX's default integer (64-bit types need jax_enable_x64)
    batches = [(jnp.asarray(x if x.dtype.kind == "f" else x.astype(int_type)), jnp.asarray(y.astype(int_type)))
               for x, y in zip(xs, ys)]  # fmt: skip

    def make():
        state = {"p": {key: jnp.asarray(value) for key, value in params.items()}}
        state["b"] = {key: jnp.zeros_like(value) for key, value in state["p"].items()}

        def train_step(x, y):
            state["p"], state["b"], loss = update(state["p"], state["b"], x, y)
            return float(loss)

        return train_step

    bench = Bench(_cycle_step(make(), batches), lambda: _losses(make(), batches))
    bench.make_fresh = lambda: _cycle_step(make(), batches)
    return bench


FACTORIES = {
    "numpy": numpy_benches,
    "tinygrad_sm": tinygrad_benches,
    "torch": torch_benches,
    "tinygrad_sm_jit": functools.partial(tinygrad_benches, jitted=True),
    "jax": jax_benches,
}


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


def memory_step(bench: Bench, warm_up: int = 3) -> dict:
    """tracemalloc over a fresh model: the peak during one training step after ``warm_up`` steps (the first
    allocates the momentum buffers; a jit records on the first and replays from the second on).

    ``total_peak`` counts everything allocated since the model was built (parameters,
    optimiser state, gradients, activations, temporaries, a jit's record and buffers);
    ``transient_peak`` is the peak above what was held when the step started (for a replay
    that writes into buffers it keeps, only Python's small objects), ``kept`` what the step
    left held that was not held before it.
    """
    gc.collect()
    tracemalloc.start()
    step = bench.make_fresh()
    built = tracemalloc.get_traced_memory()[0]
    for _ in range(warm_up):
        step()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    step()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "model": built,
        "held_between_steps": held,
        "total_peak": peak,
        "transient_peak": peak - held,
        "held_after": current,
        "kept": current - held,
    }


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


def unavailable(contender: str) -> str | None:
    """Why an optional contender cannot run here (its library is not installed, or has no jit yet), or None."""
    if contender in ("torch", "jax"):
        try:
            __import__(contender)
        except ImportError as error:
            return f"{contender} is not installed ({error})"
    elif contender == "tinygrad_sm_jit":
        import tinygrad_sm

        if not hasattr(tinygrad_sm, "jit"):
            return "tinygrad_sm has no jit yet"
    return None


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def main() -> None:
    contender, data_path = sys.argv[1], sys.argv[2]
    reply_stream = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not garble the replies
    if contender.startswith("tinygrad_sm"):
        sys.path.insert(0, str(ROOT))
    if contender == "jax":  # before jax is imported: XLA reads these once
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {JAX_XLA_FLAGS}".strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")

    def reply(message: dict) -> None:
        reply_stream.write(json.dumps(message) + "\n")
        reply_stream.flush()

    reason = unavailable(contender)
    if reason is not None:
        reply({"ready": False, "skipped": reason})
        return
    with np.load(data_path) as data:
        arrays = {key: data[key] for key in data.files}  # read everything now: NpzFile reads lazily
    specs = json.loads(str(arrays.pop("__spec__")))
    factory = FACTORIES[contender]
    benches: dict[str, Bench] = {}
    broken: dict[str, str] = {}  # workloads this contender cannot run, and why (the parent decides what that means)
    for spec in specs:
        try:
            benches[spec["name"]] = factory(spec, arrays)
        except Exception as error:
            broken[spec["name"]] = _describe(error)
    info = {
        "numpy": np.__version__,
        "pid": os.getpid(),
        "blas_threads": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    }
    if contender == "torch":
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    elif contender.startswith("tinygrad_sm"):
        import tinygrad_sm

        info.update(tinygrad_sm=tinygrad_sm.__version__, tinygrad_sm_path=str(Path(tinygrad_sm.__file__).parent))
    elif contender == "jax":
        import jax

        info.update(jax=jax.__version__, devices=[str(d) for d in jax.devices()], xla_flags=os.environ["XLA_FLAGS"])
    reply({"ready": True, "info": info})

    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            break
        name = command["bench"]
        if name in broken:
            reply({"skipped": broken[name]})
            continue
        bench = benches[name]
        try:
            if op == "time":
                result = time_bench(bench, command["budget"], command["min_calls"], command["max_calls"])
            elif op == "check":  # the first runs of every workload: a jit's warnings (running eagerly) show here
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    for _ in range(CHECK_WARM_UP):
                        bench.run()
                    values = bench.check()
                messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
                result = {"values": values, "note": bench.note, "warnings": messages}
            elif op == "memory_step":
                result = memory_step(bench)
            elif op == "memory_flat":
                result = memory_flat(bench, command["steps"])
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as error:  # report it to the parent instead of dying silently
            if op == "check":  # not run from here on: the workload's row shows why
                broken[name] = _describe(error)
                result = {"skipped": broken[name]}
            else:
                result = {"error": _describe(error)}
        reply(result)


if __name__ == "__main__":
    main()
