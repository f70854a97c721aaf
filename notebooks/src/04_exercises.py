# %% [markdown]
# # Exercises: write the backward rule
#
# Five operations, each with its forward pass written. Your job is the backward pass: a function that
# receives `grad`, the gradient of the loss with respect to the op's output (same shape as the output),
# and returns the gradient with respect to each input (same shape as that input). The cell after yours
# grades it with `tinygrad_sm.gradcheck` and prints what is wrong, if anything.
#
# - In `notebooks/student/04_exercises_student.ipynb` the ✏️ cells are empty (they raise
#   `NotImplementedError`): work there, and run the cells in order.
# - This notebook, `notebooks/04_exercises.ipynb`, holds the reference solutions. The student version is
#   made from it by `python notebooks/make_student_version.py`.
#
# Notebooks 01 and 02 derive everything needed here.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # these arrays are small: one BLAS thread is the fastest

import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Function, Tensor

rng = np.random.default_rng(0)
results = {}  # exercise -> passed?


def check(name, fn, inputs, input_names=None, record=True):
    """Grade a backward rule with gradcheck: print ✓ or ✗ and what is wrong; never raise."""
    try:
        tg.gradcheck(fn, inputs)
    except NotImplementedError:
        verdict = f"✗ {name}: not written yet"
    except tg.GradcheckError as error:
        which = f" for {input_names[error.input_index]}" if input_names else ""
        verdict = (f"✗ {name}: gradient wrong{which} at element {error.element}: "
                   f"analytic {error.analytic:.6g}, numeric {error.numeric:.6g}")
        if error.output_element not in ((), error.element):
            verdict += f" (derivative of output element {error.output_element})"
    except Exception as error:  # a wrong shape, a typo, ...
        verdict = f"✗ {name}: the backward raised {type(error).__name__}: {error}"
    else:
        verdict = f"✓ {name}: gradient matches"
    if record:
        results[name] = verdict.startswith("✓")
    print(verdict)


# %% [markdown]
# ### What the check prints
#
# Here is a sigmoid whose backward forgot a factor, $\sigma(x)$ instead of $\sigma(x)(1 - \sigma(x))$,
# so you know what a wrong answer looks like. "analytic" is what the backward returned, "numeric" what
# central differences measure.

# %%
class SigmoidMissingFactor(Function):
    @staticmethod
    def forward(ctx, x):
        s = 1.0 / (1.0 + np.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s  # missing (1 - s)


check("demo: a wrong sigmoid", SigmoidMissingFactor.apply, [Tensor(rng.normal(size=5), requires_grad=True)], record=False)


# %% [markdown]
# ## Exercise 1: sigmoid
#
# $s = \sigma(x) = \dfrac{1}{1 + e^{-x}}$, elementwise. Forward saves $s$.
#
# Hint: $\sigma'(x) = \sigma(x)\,(1 - \sigma(x))$, and the chain rule multiplies by `grad`.

# %%
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        s = 1.0 / (1.0 + np.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        return sigmoid_backward(ctx, grad)  # ✏️ written below


# %% tags=["solution"] exercise="sigmoid"
def sigmoid_backward(ctx, grad):
    """∂L/∂x, given grad = ∂L/∂s and the saved s = σ(x)."""
    (s,) = ctx.saved_tensors
    return grad * s * (1 - s)


# %%
check("sigmoid", Sigmoid.apply, [Tensor(rng.normal(size=5), requires_grad=True)])


# %% [markdown]
# ## Exercise 2: logsumexp
#
# For each row of $z$ (shape `(N, C)`): $y = \log \sum_j e^{z_j}$, shape `(N,)`. Forward saves $z$ and $y$.
#
# Hint: $\partial y/\partial z_i = e^{z_i}/\sum_j e^{z_j} = e^{z_i - y}$, which is softmax. `grad` has
# shape `(N,)`: give it an axis (`grad[:, None]`) so it multiplies whole rows.

# %%
class LogSumExp(Function):
    @staticmethod
    def forward(ctx, z):
        top = z.max(axis=1, keepdims=True)  # subtract the row max: no overflow
        y = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
        ctx.save_for_backward(z, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return logsumexp_backward(ctx, grad)  # ✏️ written below


# %% tags=["solution"] exercise="logsumexp"
def logsumexp_backward(ctx, grad):
    """∂L/∂z (N, C), given grad = ∂L/∂y (N,) and the saved z and y."""
    z, y = ctx.saved_tensors
    return grad[:, None] * np.exp(z - y[:, None])


# %%
check("logsumexp", LogSumExp.apply, [Tensor(rng.normal(size=(3, 4)), requires_grad=True)])


# %% [markdown]
# ## Exercise 3: softmax
#
# $p = \operatorname{softmax}(z)$ along the last axis, $z$ of shape `(N, C)`. Forward saves $p$.
#
# Hint: do not build the Jacobian $\operatorname{diag}(p) - pp^{\mathsf T}$. Each row's answer is
# $p \odot (g - \langle g, p\rangle)$ (notebook 01, section 3); `keepdims=True` keeps the row sums
# broadcastable.

# %%
class Softmax(Function):
    @staticmethod
    def forward(ctx, z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        return softmax_backward(ctx, grad)  # ✏️ written below


# %% tags=["solution"] exercise="softmax"
def softmax_backward(ctx, grad):
    """∂L/∂z, given grad = ∂L/∂p and the saved p."""
    (p,) = ctx.saved_tensors
    return p * (grad - (grad * p).sum(axis=-1, keepdims=True))


# %%
check("softmax", Softmax.apply, [Tensor(rng.normal(size=(3, 4)), requires_grad=True)])


# %% [markdown]
# ## Exercise 4: cross-entropy
#
# Logits $z$ of shape `(N, C)`, integer classes $y$ of shape `(N,)`; the loss is the mean over the rows of
# $-\log \operatorname{softmax}(z_n)_{y_n}$, a scalar. Forward saves the probabilities $p$ and the classes.
#
# Hint: for one row, $\partial L_n/\partial z_n = p_n - \operatorname{onehot}(y_n)$; the mean divides by
# $N$; `grad` is a scalar. The classes are not differentiable: return only the logits' gradient (or
# `grad_logits, None`).

# %%
class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, z, classes):
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log-softmax
        rows = np.arange(len(z))
        ctx.save_for_backward(np.exp(log_p), classes)
        return -log_p[rows, classes].mean()

    @staticmethod
    def backward(ctx, grad):
        return cross_entropy_backward(ctx, grad)  # ✏️ written below


# %% tags=["solution"] exercise="cross_entropy"
def cross_entropy_backward(ctx, grad):
    """∂L/∂z (N, C), given grad = ∂L/∂loss (a scalar) and the saved p and classes."""
    p, classes = ctx.saved_tensors
    n = len(p)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), classes] = 1.0
    return grad * (p - onehot) / n


# %%
classes = np.array([0, 2, 1, 2])
check("cross_entropy", lambda z: CrossEntropy.apply(z, classes), [Tensor(rng.normal(size=(4, 3)), requires_grad=True)])


# %% [markdown]
# ## Exercise 5: matrix multiplication
#
# $C = AB$ with $A$ of shape `(n, k)` and $B$ of shape `(k, m)`. Forward saves $A$ and $B$. Return two
# gradients, one for each input.
#
# Hint: $C_{ij} = \sum_r A_{ir} B_{rj}$, so $\partial L/\partial A_{ir} = \sum_j G_{ij} B_{rj}$. In
# matrix form: $\partial L/\partial A = G B^{\mathsf T}$ and $\partial L/\partial B = A^{\mathsf T} G$. The
# shapes tell you the order: $\partial L/\partial A$ must be `(n, k)`.

# %%
class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        return matmul_backward(ctx, grad)  # ✏️ written below


# %% tags=["solution"] exercise="matmul"
def matmul_backward(ctx, grad):
    """(∂L/∂A, ∂L/∂B), given grad = ∂L/∂C and the saved A and B."""
    a, b = ctx.saved_tensors
    return grad @ b.T, a.T @ grad


# %%
A = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
B = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
check("matmul", MatMul.apply, [A, B], input_names=["A", "B"])

# %% [markdown]
# ## Your ops, put to work
#
# When all five pass, this cell trains a softmax classifier on three clusters of points using *your*
# `MatMul` and `CrossEntropy`, and compares your gradients with the library's built-in ops on the same
# numbers.

# %%
from tinygrad_sm.data import blobs

passed = sum(results.values())
print(f"{passed} of {len(results)} exercises pass")
for name, ok in results.items():
    print(f"  {'✓' if ok else '✗'} {name}")

if passed == len(results) == 5:
    X, y = blobs(n_per_class=50, n_classes=3, rng=0)
    X = Tensor(X.astype(np.float64))
    W = Tensor(np.zeros((2, 3)), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    optimizer = tg.optim.SGD([W, b], lr=0.1)
    for step in range(101):
        loss = CrossEntropy.apply(MatMul.apply(X, W) + b, y)
        optimizer.zero_grad()
        loss.backward()
        if step % 25 == 0:
            accuracy = np.mean((MatMul.apply(X, W) + b).numpy().argmax(axis=1) == y)
            print(f"step {step:3d}: loss {loss.item():.4f}, accuracy {100 * accuracy:.0f}%")
        optimizer.step()

    W2 = Tensor(W.numpy(), requires_grad=True)
    (X @ W2 + b).cross_entropy(y).backward()
    W.zero_grad()
    CrossEntropy.apply(MatMul.apply(X, W) + b, y).backward()
    print("your gradient of W equals the library's:", np.allclose(W.grad.numpy(), W2.grad.numpy()))
else:
    print("Finish the exercises above, then run this cell again.")
