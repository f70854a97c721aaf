"""Softmax (multinomial logistic) regression, with the loss written two ways.

    python examples/softmax_regression.py

The model is z = x W + b (one logit per class). Its loss, the mean cross-entropy,
is written

* *composed*, from ``exp``, ``sum`` and ``log`` exactly as the textbook formula
  reads:  loss = (1/N) Σᵢ [ log Σⱼ exp(zᵢⱼ) − z_{i,yᵢ} ],
  so autograd differentiates it op by op; and
* *fused*, as the single ``cross_entropy`` op, whose backward is the closed form
  ∂loss/∂zᵢ = (softmax(zᵢ) − onehot(yᵢ)) / N and whose forward subtracts the row
  maximum first.

On ordinary logits both give the same loss and the same gradients (to float32
rounding). On large logits the composed form overflows: float32 exp(z) is inf
from z ≈ 88.7, so the loss becomes inf and the gradient nan (inf / inf), while
the fused op is unaffected, because log Σ exp(z) = m + log Σ exp(z − m) with
m = max z never exponentiates anything above 0.
"""

from __future__ import annotations

import numpy as np

from tinygrad_sm import Tensor, optim
from tinygrad_sm.data import digits, train_test_split


def composed_cross_entropy(logits: Tensor, onehot: np.ndarray) -> Tensor:
    """(1/N) Σᵢ [log Σⱼ exp(zᵢⱼ) − Σⱼ onehotᵢⱼ zᵢⱼ], built from exp, sum and log only (no max subtraction)."""
    n = logits.shape[0]
    return (logits.exp().sum(axis=1).log() - (logits * onehot).sum(axis=1)).sum() / n


def fused_cross_entropy(logits: Tensor, y: np.ndarray) -> Tensor:
    return logits.cross_entropy(y)


def gradients(loss_fn, X: np.ndarray, target: np.ndarray, W: Tensor, b: Tensor) -> tuple[float, np.ndarray, np.ndarray]:
    """The loss and its gradients with respect to W and b."""
    W.grad = b.grad = None
    loss = loss_fn(Tensor(X) @ W + b, target)
    loss.backward()
    return loss.item(), W.grad.numpy().copy(), b.grad.numpy().copy()


def train(loss_name: str, X: np.ndarray, y: np.ndarray, W0: np.ndarray, epochs: int = 200,
          lr: float = 0.5) -> tuple[Tensor, Tensor]:
    """Full-batch gradient descent on the composed or the fused loss, from the same start W0, b = 0."""
    W = Tensor(W0, requires_grad=True)
    b = Tensor.zeros(W0.shape[1], requires_grad=True)
    onehot = np.eye(W0.shape[1], dtype=np.float32)[y]
    optimizer = optim.SGD([W, b], lr=lr, momentum=0.9)
    for _ in range(epochs):
        logits = Tensor(X) @ W + b
        loss = composed_cross_entropy(logits, onehot) if loss_name == "composed" else fused_cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return W, b


def accuracy(X: np.ndarray, y: np.ndarray, W: Tensor, b: Tensor) -> float:
    return float(np.mean((X @ W.numpy() + b.numpy()).argmax(axis=1) == y))


def main() -> None:
    X, y = digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, rng=0)
    n_classes = int(y.max()) + 1
    onehot_train = np.eye(n_classes, dtype=np.float32)[y_train]
    W0 = np.random.default_rng(1).normal(0.0, 0.01, size=(X.shape[1], n_classes)).astype(np.float32)

    print("1. Ordinary logits: the composed and the fused loss agree")
    W = Tensor(W0, requires_grad=True)
    b = Tensor.zeros(n_classes, requires_grad=True)
    loss_c, dW_c, db_c = gradients(composed_cross_entropy, X_train, onehot_train, W, b)
    loss_f, dW_f, db_f = gradients(fused_cross_entropy, X_train, y_train, W, b)
    print(f"   loss      composed {loss_c:.7f}   fused {loss_f:.7f}   |difference| {abs(loss_c - loss_f):.1e}")
    print(f"   dloss/dW  max |composed - fused| = {np.abs(dW_c - dW_f).max():.1e}   (max |dloss/dW| = {np.abs(dW_f).max():.1e})")
    print(f"   dloss/db  max |composed - fused| = {np.abs(db_c - db_f).max():.1e}")
    assert np.allclose(dW_c, dW_f, atol=1e-6) and np.allclose(db_c, db_f, atol=1e-6)

    print("\n2. Training softmax regression (200 steps of full-batch SGD, momentum 0.9) from the same start")
    for loss_name in ("composed", "fused"):
        W, b = train(loss_name, X_train, y_train, W0)
        print(f"   {loss_name:8s} loss: train accuracy {100 * accuracy(X_train, y_train, W, b):6.2f}%, "
              f"test accuracy {100 * accuracy(X_test, y_test, W, b):6.2f}%")

    print("\n3. Large logits: the composed form overflows, the fused op does not")
    logits_data = np.array([[100.0, 0.0, -100.0], [50.0, 95.0, 10.0]], dtype=np.float32)
    target = np.array([0, 2])
    print(f"   logits {logits_data.tolist()}, targets {target.tolist()}")
    with np.errstate(over="ignore", invalid="ignore"):  # NumPy would warn: exp overflows, then inf - inf and inf / inf
        logits = Tensor(logits_data, requires_grad=True)
        composed = composed_cross_entropy(logits, np.eye(3, dtype=np.float32)[target])
        composed.backward()
        composed_grad = logits.grad.numpy().copy()
    logits = Tensor(logits_data, requires_grad=True)
    fused = fused_cross_entropy(logits, target)
    fused.backward()
    print(f"   composed: loss {composed.item()}, gradient {composed_grad.tolist()}")
    print(f"   fused:    loss {fused.item():.4f}, gradient {np.round(logits.grad.numpy(), 4).tolist()}")
    print("   the fused gradient is (softmax(z) - onehot(y)) / N; the composed one needed exp(100), which is inf in float32")
    assert not np.isfinite(composed.item()) and np.isnan(composed_grad).any()
    assert np.isfinite(fused.item()) and np.isfinite(logits.grad.numpy()).all()


if __name__ == "__main__":
    main()
