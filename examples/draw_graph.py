"""Pictures of backprop: the graph behind a loss, before and after backward().

    python examples/draw_graph.py                 # writes the pictures into docs/
    python examples/draw_graph.py --out /tmp/pics

(a) softmax + cross-entropy on three logits, written out as the textbook does
    (softmax, pick the target's probability, log, negate), drawn before and after
    backward(), plus a step-by-step flip-book of the backward pass;
(b) one training step of a small MLP, with the parameters' names.

Rendering uses the system Graphviz (`dot`) if installed, else graphviz-pure
(installed with tinygrad_sm; else pip install graphviz-pure).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.viz import available_renderers, draw_backward_steps, draw_graph, trace_backward


def softmax_cross_entropy(out: Path) -> list[str]:
    """(a) loss = −log softmax(logits)[target], before and after backward."""
    logits = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="logits")
    target = 0
    p = logits.softmax()
    p_target = p[target]
    log_p = p_target.log()
    loss = -log_p
    names = {"logits": logits, "p": p, "p_target": p_target, "log_p": log_p, "loss": loss}

    written = [draw_graph(loss, names=names).render(out / f"softmax_cross_entropy_before.{fmt}") for fmt in ("svg", "png")]
    print(trace_backward(loss, names=names))
    written += [str(path) for path in draw_backward_steps(loss, out / "softmax_cross_entropy_steps", names=names)]

    loss.backward(retain_graph=True)  # retain_graph: the picture replays backward to show every tensor's gradient
    # the fused op gives the same gradient, softmax(logits) − onehot(target), in one step
    fused = Tensor(logits.data, requires_grad=True)
    fused.cross_entropy(target).backward()
    print(f"grad of logits: {logits.grad.data} (fused cross_entropy: {fused.grad.data})")
    written += [draw_graph(loss, names=names).render(out / f"softmax_cross_entropy.{fmt}") for fmt in ("svg", "png")]
    return written


def mlp_step(out: Path) -> list[str]:
    """(b) one SGD step of a 2-4-3 MLP on four points: forward, loss, backward, update."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 2)).astype(np.float32), name="x")
    y = np.array([0, 2, 1, 2])
    try:
        from tinygrad_sm import nn, optim

        model = nn.MLP([2, 4, 3], rng=0)
        names = model  # draw_graph reads model.named_parameters(): layers.0.weight, ...
        parameters = model.parameters()
        logits = model(x)
    except ImportError:  # without tinygrad_sm.nn: the same network from plain tensors
        optim = None
        W1 = Tensor(rng.uniform(-0.7, 0.7, (4, 2)).astype(np.float32), requires_grad=True)
        b1 = Tensor(rng.uniform(-0.7, 0.7, (4,)).astype(np.float32), requires_grad=True)
        W2 = Tensor(rng.uniform(-0.5, 0.5, (3, 4)).astype(np.float32), requires_grad=True)
        b2 = Tensor(rng.uniform(-0.5, 0.5, (3,)).astype(np.float32), requires_grad=True)
        names = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
        parameters = list(names.values())
        logits = ((x @ W1.T + b1).relu() @ W2.T + b2)
    logits.name = "logits"
    loss = logits.cross_entropy(y)
    loss.name = "loss"
    loss.backward(retain_graph=True)
    written = [draw_graph(loss, names=names).render(out / f"mlp_step.{fmt}") for fmt in ("svg", "png")]
    before = loss.item()
    if optim is not None:
        optim.SGD(parameters, lr=0.5).step()
    else:
        for parameter in parameters:
            parameter.data -= 0.5 * parameter.grad.data
    after = (model(x) if optim is not None else ((x @ W1.T + b1).relu() @ W2.T + b2)).cross_entropy(y).item()
    print(f"one SGD step (lr 0.5): loss {before:.4f} -> {after:.4f}")
    return written


def main(argv: list[str] | None = None) -> list[str]:
    """Write the pictures; returns their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the pictures (default: docs/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tinygrad_sm.manual_seed(0)
    print(f"renderers on this machine: {', '.join(available_renderers()) or 'none'}")
    written = softmax_cross_entropy(args.out) + mlp_step(args.out)
    for path in written:
        print("wrote", path)
    return written


if __name__ == "__main__":
    main()
