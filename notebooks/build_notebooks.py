"""Build the teaching notebooks from the cells written below, run them, and save them with their outputs.

    python notebooks/build_notebooks.py                 # all four, then the student version of 04
    python notebooks/build_notebooks.py 02 04           # only the notebooks whose names start so

This file is the source of the notebooks: edit a cell here, run the script, commit both.
Each notebook is executed top to bottom in a fresh ``python3`` kernel whose working folder
is ``notebooks/`` (as ``tests/test_notebooks.py`` does), so every number and picture stored
in it was made by the library on this run. ``make_student_version.py`` then writes
``student/04_exercises_student.ipynb``: the exercises with the solutions taken out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KERNEL = "python3"
CELL_TIMEOUT = 120  # seconds per cell; every notebook runs in well under a minute

Cell = tuple[str, str, dict]


def md(text: str) -> Cell:
    return ("markdown", text.strip("\n"), {})


def code(text: str, **metadata) -> Cell:
    return ("code", text.strip("\n"), metadata)


SETUP = r'''
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # these arrays are small: one BLAS thread is the fastest
'''


# =====================================================================================================
# 01 — softmax and its gradient
# =====================================================================================================
SOFTMAX = [
    md(r'''
# Softmax and its gradient

A classifier's last layer produces one real number per class, the *logits*. Softmax turns them into
probabilities. This notebook computes softmax with `tinygrad_sm`, derives its Jacobian and checks it
against the library, shows why the backward pass never builds that Jacobian, and why every serious
implementation subtracts the maximum first and fuses softmax with the cross-entropy loss.

1. Softmax, computed
2. The Jacobian $\partial p_i / \partial z_j$, and the two-class case
3. Backward without the Jacobian: the vector–Jacobian product, timed
4. Numerical stability, and why cross-entropy is one fused op
5. A picture: logits and probabilities
'''),
    code(SETUP + r'''
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Tensor


def show(values, digits=3):
    """Numbers as a list with a fixed number of decimals."""
    return "[" + ", ".join(f"{v:.{digits}f}" for v in np.ravel(values)) + "]"
'''),
    md(r'''
## 1. Softmax, computed

For logits $z = (z_1, \dots, z_C)$,

$$p_i = \operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{C} e^{z_j}} .$$

Every $p_i$ is positive, they add up to 1, and a larger logit always gets a larger probability.
Only the *differences* between logits matter: adding a constant $c$ to every $z_i$ multiplies the
numerator and the denominator by the same $e^{c}$.
'''),
    code(r'''
z = Tensor([2.0, 1.0, 0.5])
p = z.softmax()
print("logits      ", show(z.numpy(), 1))
print("softmax     ", show(p.numpy()))
print("sum         ", f"{p.numpy().sum():.6f}")
print("logits + 100", show((z + 100).softmax().numpy()), "(the same: only differences matter)")
'''),
    md(r'''
### Checking a number that gets copied around

A popular explanation of softmax says that the logits `[2.0, 1.0, 0.5]` become "something like
`[0.665, 0.245, 0.090]`". The formula says otherwise (above: `[0.629, 0.231, 0.140]`). Those quoted
numbers are what you get when the last logit is `0` instead of `0.5`:
'''),
    code(r'''
quoted = np.array([0.665, 0.245, 0.090])
for logits in ([2.0, 1.0, 0.5], [2.0, 1.0, 0.0]):
    probs = Tensor(logits).softmax().numpy()
    verdict = "matches" if np.allclose(probs, quoted, atol=5e-4) else "does not match"
    print(f"softmax({logits}) = {show(probs)}  -> {verdict} the quoted [0.665, 0.245, 0.090]")
'''),
    md(r'''
### Step by step: logits `[1.5, 0.8, -0.2]`

Exponentiate, add up, divide. Here in NumPy, next to the library's answer:
'''),
    code(r'''
z = np.array([1.5, 0.8, -0.2])
exponentials = np.exp(z)
total = exponentials.sum()
print("e^z          ", show(exponentials))
print("sum          ", f"{total:.3f}")
print("e^z / sum    ", show(exponentials / total, 4))
print("tinygrad_sm  ", show(Tensor(z).softmax().numpy(), 4))
print("to 3 decimals", show(exponentials / total, 3))
'''),
    md(r'''
To four decimals the probabilities are `[0.5955, 0.2957, 0.1088]`. The first one is often quoted as
`0.596`, which is `0.5955` rounded a second time. Its value is 0.595497…, just below the halfway
point 0.5955, so to three decimals it is `0.595`; the three rounded numbers then add up to exactly 1.
'''),
    md(r'''
## 2. The Jacobian

How does $p_i$ change when one logit $z_j$ moves? Write $S = \sum_k e^{z_k}$, so $p_i = e^{z_i}/S$
and $\partial S/\partial z_j = e^{z_j}$. The quotient rule gives two cases.

**Same index** ($i = j$): the numerator depends on $z_i$ too,

$$\frac{\partial p_i}{\partial z_i} = \frac{e^{z_i} S - e^{z_i} e^{z_i}}{S^2} = p_i - p_i^2 = p_i\,(1 - p_i).$$

**Different indices** ($i \ne j$): only the denominator depends on $z_j$,

$$\frac{\partial p_i}{\partial z_j} = \frac{0 \cdot S - e^{z_i} e^{z_j}}{S^2} = -\,p_i\, p_j .$$

Both at once: $\dfrac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j)$, and as a matrix

$$J = \operatorname{diag}(p) - p\,p^{\mathsf T}.$$

$J$ is symmetric, and each of its rows adds up to 0: moving all logits together changes nothing.
`tinygrad_sm.jacobian` builds the Jacobian the way the library sees it, one backward pass per
output, so it must agree with the formula:
'''),
    code(r'''
z = np.array([1.5, 0.8, -0.2])
p = Tensor(z).softmax().numpy()

J_formula = np.diag(p) - np.outer(p, p)
J_library = tg.jacobian(lambda t: t.softmax(), z)

np.set_printoptions(precision=4, suppress=True)
print("diag(p) - p pᵀ:\n", J_formula)
print("tinygrad_sm.jacobian:\n", J_library)
print("the same:", np.allclose(J_formula, J_library))
print()
print("diagonal, p_i (1 - p_i):", show(p * (1 - p), 4))
print("J[0, 1] = -p_0 p_1     :", f"{-p[0] * p[1]:.4f}")
print("largest |row sum|      :", f"{np.abs(J_library.sum(axis=1)).max():.1e}  (zero, up to rounding)")
print("gradcheck of softmax   :", tg.gradcheck(lambda t: t.softmax(), [Tensor(z, requires_grad=True)]))
'''),
    md(r'''
### Two classes: softmax is the sigmoid of the difference

With $z = [z_1, z_2]$, divide numerator and denominator by $e^{z_1}$:

$$p_1 = \frac{e^{z_1}}{e^{z_1} + e^{z_2}} = \frac{1}{1 + e^{-(z_1 - z_2)}} = \sigma(z_1 - z_2),
\qquad p_2 = \sigma(z_2 - z_1) = 1 - p_1 .$$

So a two-class softmax is logistic regression on $d = z_1 - z_2$. Its Jacobian has a single number in it:
$p_1(1-p_1) = p_1 p_2 = \sigma(d)\,(1-\sigma(d)) = \sigma'(d)$, so

$$J = \sigma'(d)\begin{pmatrix} 1 & -1 \\ -1 & 1 \end{pmatrix}.$$
'''),
    code(r'''
z1, z2 = 0.7, -0.4
pair = Tensor(np.array([z1, z2])).softmax().numpy()
sigma = Tensor(np.array(z1 - z2)).sigmoid().item()
print(f"softmax([z1, z2])            = {show(pair, 4)}")
print(f"[σ(z1 - z2), 1 - σ(z1 - z2)] = {show([sigma, 1 - sigma], 4)}")
print("Jacobian from the library:\n", tg.jacobian(lambda t: t.softmax(), np.array([z1, z2])))
print("σ'(d) [[1, -1], [-1, 1]]:\n", sigma * (1 - sigma) * np.array([[1, -1], [-1, 1]]))

d = np.linspace(-6, 6, 121)
two_logits = Tensor(np.stack([d, np.zeros_like(d)], axis=1))  # rows [d, 0]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(d, Tensor(d).sigmoid().numpy(), lw=4, alpha=0.35, label="σ(d)")
ax.plot(d, two_logits.softmax(axis=1).numpy()[:, 0], "k--", lw=1.2, label="softmax([d, 0])₁")
ax.set(xlabel="d = z₁ − z₂", ylabel="p₁", title="two-class softmax = sigmoid of the difference")
ax.legend()
plt.show()
'''),
    md(r'''
## 3. Backward never builds $J$

During backpropagation the softmax node receives $g = \partial L/\partial p$ (one number per output)
and must hand back $\partial L/\partial z = J^{\mathsf T} g$. Writing the product out:

$$\left(J^{\mathsf T} g\right)_j = \sum_i g_i\, p_i(\delta_{ij} - p_j)
= p_j g_j - p_j \sum_i g_i p_i = p_j \left(g_j - \langle g, p\rangle\right).$$

This *vector–Jacobian product* $p \odot (g - \langle g, p\rangle)$ costs $O(C)$ per row: one dot
product and one elementwise update. Building $J$ first costs $O(C^2)$ memory and time per row. This is
the library's softmax op, forward and backward, as it is written in `tinygrad_sm/operations/softmax.py`:
'''),
    code(r'''
print(inspect.getsource(tg.get_op("softmax")))
'''),
    code(r'''
z = Tensor(np.array([1.5, 0.8, -0.2]), requires_grad=True)
p = z.softmax()
g = np.array([0.3, -1.0, 2.0])  # some gradient arriving from above
p.backward(g)

pv = p.numpy()
print("the library's backward:", show(z.grad.numpy(), 4))
print("gᵀ J, with J built    :", show(g @ (np.diag(pv) - np.outer(pv, pv)), 4))
print("p ⊙ (g − ⟨g, p⟩)      :", show(pv * (g - g @ pv), 4))
'''),
    md(r'''
### Timing both on a batch of 1,024 rows of 1,000 classes

The whole batch's Jacobians would be $1024 \times 1000 \times 1000$ numbers, 4 GB in float32, so the
"build $J$" side below builds one row's $1000 \times 1000$ Jacobian at a time. The library's backward
handles the whole batch in one go.
'''),
    code(r'''
N, C = 1024, 1000
rng = np.random.default_rng(0)
logits_batch = rng.standard_normal((N, C)).astype(np.float32)
upstream = rng.standard_normal((N, C)).astype(np.float32)

vjp_seconds = []
for _ in range(3):  # the best of three short runs
    z = Tensor(logits_batch, requires_grad=True)
    p = z.softmax(axis=1)
    start = time.perf_counter()
    p.backward(upstream)  # the library: p ⊙ (g − ⟨g, p⟩), all rows at once
    vjp_seconds.append(time.perf_counter() - start)

P = p.numpy()
start = time.perf_counter()
via_jacobian = np.empty_like(P)
for row in range(N):
    J = np.diag(P[row]) - np.outer(P[row], P[row])  # 1000 × 1000
    via_jacobian[row] = upstream[row] @ J
jacobian_seconds = time.perf_counter() - start

best = min(vjp_seconds)
print(f"vector–Jacobian product (the library's backward): {1000 * best:8.1f} ms")
print(f"build each row's J, then multiply              : {1000 * jacobian_seconds:8.1f} ms "
      f"({jacobian_seconds / best:.0f}× slower)")
print(f"largest difference between the two results     : {np.abs(via_jacobian - z.grad.numpy()).max():.1e}")
print(f"memory for one row's J: {J.nbytes / 1e6:.0f} MB; for all {N} rows: {N * J.nbytes / 1e9:.1f} GB")
'''),
    md(r'''
## 4. Numerical stability

`float32` overflows at about $3.4 \times 10^{38}$, that is $e^{z}$ for $z > 88.7$; `float64` at
$z > 709.8$. The textbook formula `exp(z) / sum(exp(z))` therefore breaks on large logits
(∞/∞ = nan), and on very negative ones too (every $e^{z_i}$ underflows to 0, and 0/0 = nan).

The fix uses the shift invariance of section 1: subtract $m = \max_i z_i$ first.
$\operatorname{softmax}(z - m) = \operatorname{softmax}(z)$, the largest exponent is then $e^0 = 1$,
so nothing overflows and the sum is at least 1. The library's softmax does exactly that.
'''),
    code(r'''
def naive_softmax(z):
    e = np.exp(z)
    return e / e.sum()


print(f"e^z overflows float32 above z = {np.log(np.finfo(np.float32).max):.1f}, "
      f"float64 above z = {np.log(np.finfo(np.float64).max):.1f}")
cases = {
    "large logits (float64)": np.array([1000.0, 999.0, 998.0]),
    "large logits (float32)": np.array([100.0, 99.0, 98.0], dtype=np.float32),
    "very negative (float64)": np.array([-1000.0, -1001.0, -1002.0]),
}
for label, z in cases.items():
    with np.errstate(over="ignore", invalid="ignore"):  # NumPy would warn; we want to see the values
        naive = naive_softmax(z)
    print(f"\n{label}: z = {z}")
    print("  naive exp(z)/sum(exp(z)):", naive)
    print("  naive on z - max(z)     :", naive_softmax(z - z.max()))
    print("  tinygrad_sm softmax     :", Tensor(z).softmax().numpy())
'''),
    md(r'''
All three stable answers are `[0.665, 0.245, 0.090]`: the logits differ by 1 each time, exactly as
in `[2, 1, 0]`.

### Why cross-entropy is one fused op

The loss for a sample of class $y$ is $L = -\log p_y$. Computed in two steps, softmax first and then
the log, a probability that underflows to 0 gives $\log 0 = -\infty$: an infinite loss and, in the
backward pass, $0 \cdot \infty$ = nan. Working with logs throughout avoids it:

$$\log p_i = z_i - m - \log \sum_j e^{z_j - m} \qquad(\text{log-softmax}),$$

which never takes the log of an underflowed number. The fused cross-entropy op uses log-softmax
forward, and its backward is just $\partial L/\partial z = p - \operatorname{onehot}(y)$, every entry
between −1 and 1.
'''),
    code(r'''
logits = [0.0, -200.0]  # class 1 is very unlikely: e^-200 underflows to 0 in float32
target = 1

two_steps = Tensor(logits, requires_grad=True)
with np.errstate(divide="ignore", invalid="ignore"):  # log(0) and 0·∞: NumPy would warn
    loss = -(two_steps.softmax()[target].log())
    loss.backward()
print(f"softmax, then log : loss {loss.item()}, gradient {two_steps.grad.numpy()}")

fused = Tensor(logits, requires_grad=True)
loss = fused.cross_entropy(target)
loss.backward()
print(f"fused cross_entropy: loss {loss.item()}, gradient {fused.grad.numpy()}")
print(f"log_softmax        : {Tensor(logits).log_softmax().numpy()}")
'''),
    md(r'''
## 5. Logits and probabilities, side by side

Softmax keeps the order of the logits but not their spacing: it exaggerates the lead of the largest
one, since a gap of $\Delta$ between two logits becomes a ratio of $e^{\Delta}$ between their
probabilities. Dividing the logits by a *temperature* $T$ before softmax makes this sharper
($T < 1$) or flatter ($T > 1$).
'''),
    code(r'''
logits = np.array([1.5, 0.8, -0.2])
classes = ["class 0", "class 1", "class 2"]
temperatures = [0.5, 1.0, 2.0]

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
bars = left.bar(classes, logits, color=["#4c72b0", "#55a868", "#c44e52"])
left.bar_label(bars, fmt="%.1f")
left.axhline(0, color="black", lw=0.8)
left.set(title="logits z", ylabel="z", ylim=(-0.6, 1.8))

width = 0.26
positions = np.arange(len(classes))
for k, temperature in enumerate(temperatures):
    probs = Tensor(logits / temperature).softmax().numpy()
    bars = right.bar(positions + (k - 1) * width, probs, width, label=f"T = {temperature:g}",
                     alpha=1.0 if temperature == 1.0 else 0.55)
    right.bar_label(bars, fmt="%.2f", fontsize=8)
right.set_xticks(positions, classes)
right.set(title="softmax(z / T)", ylabel="probability", ylim=(0, 1))
right.legend()
fig.tight_layout()
plt.show()
'''),
    md(r'''
## What to take away

- $\partial p_i/\partial z_j = p_i(\delta_{ij} - p_j)$, i.e. $J = \operatorname{diag}(p) - p p^{\mathsf T}$;
  `tinygrad_sm.jacobian` reproduces it.
- Backpropagation needs only $g^{\mathsf T} J = p \odot (g - \langle g, p\rangle)$: no $C \times C$ matrix.
- Subtract the max before exponentiating; compute $\log p$ as log-softmax, never as `log(softmax)`.
'''),
]


# =====================================================================================================
# 02 — autograd from the inside
# =====================================================================================================
AUTOGRAD = [
    md(r'''
# Autograd from the inside

What happens when you call `loss.backward()`? This notebook builds a small graph, looks at how it is
stored, draws it before and after the backward pass, replays the backward pass one node at a time and
redoes each step by hand. Then it adds a new operation to the library, checks its gradient with
`gradcheck`, breaks it on purpose, and reads the error.
'''),
    code(SETUP + r'''
import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Function, Tensor
from tinygrad_sm.viz import draw_graph, trace_backward
'''),
    md(r'''
## 1. A small graph: one neuron and a squared error

$$h = \sum_k w_k x_k + c, \qquad y = \tanh(h), \qquad \text{loss} = (y - t)^2 .$$

`x` is data (no gradient needed); the weights `w` and the bias `c` are parameters
(`requires_grad=True`); `t` is the target, a plain number. Every operation on them records a node, and
each intermediate result gets a name so the pictures can label it. (The pictures call an op's inputs
`a, b`, its output `z` and the gradient arriving at it `g`, so the tensors here use other letters.)
'''),
    code(r'''
x = Tensor([1.0, -2.0, 0.5], name="x")
w = Tensor([0.4, 0.3, -0.5], requires_grad=True, name="w")
c = Tensor(0.1, requires_grad=True, name="c")
t = 0.8

wx = w * x
s = wx.sum()
h = s + c
y = h.tanh()
err = y - t
loss = err ** 2

names = {"x": x, "w": w, "c": c, "wx": wx, "s": s, "h": h, "y": y, "err": err, "loss": loss}
print("h    =", h)
print("y    =", y)
print("loss =", loss)
'''),
    md(r'''
The graph is nothing but pointers. A tensor made by an op keeps that op's node in `grad_fn`; the node
keeps its inputs (`.inputs`) and whatever its forward saved for the backward pass. Following the
pointers from `loss` reaches every tensor that took part:
'''),
    code(r'''
label = {id(tensor): name for name, tensor in names.items()}


def walk(tensor, depth=0):
    pad = "    " * depth
    if tensor.grad_fn is None:
        kind = "parameter: gets .grad" if tensor.requires_grad else "data: no gradient"
        print(f"{pad}{label[id(tensor)]}  (leaf, {kind})")
        return
    print(f"{pad}{label[id(tensor)]}  made by {tensor.grad_fn}")
    for parent in tensor.grad_fn.inputs:
        if parent is not None:  # None: a plain number such as t or the exponent 2
            walk(parent, depth + 1)


walk(loss)
print()
print("the tanh node saved", [round(float(v), 4) for v in y.grad_fn.saved_tensors], "(its output y: tanh' = 1 - tanh²)")
print("the mul node saved ", [np.round(v, 4).tolist() for v in wx.grad_fn.saved_tensors],
      "(w and x: each one's gradient needs the other)")
'''),
    md(r'''
## 2. The picture before `backward()`

`draw_graph` draws the same graph: tensors as boxes (name, shape, values), ops as rounded boxes with
their backward rule, where `g` is the gradient arriving at the op's output. Arrows point forward;
gradients will flow back against them.
'''),
    code(r'''
draw_graph(loss, names=names, rankdir="TB")
'''),
    md(r'''
## 3. `backward()`, and the picture again

`backward()` fills `.grad` of the parameters. `retain_graph=True` keeps the values the nodes saved, so
the picture can replay the backward pass and show the gradient of *every* tensor, not only of the
leaves; edges are drawn as thick and dark as the gradient flowing along them.
'''),
    code(r'''
loss.backward(retain_graph=True)
print("w.grad =", w.grad)
print("c.grad =", c.grad)
draw_graph(loss, names=names, rankdir="TB")
'''),
    md(r'''
## 4. The backward pass, node by node

`trace_backward` runs the engine's backward pass again and records each step in the order the engine
takes them: which tensor's gradient is complete, the rule of the op that made it, and what that rule
sends to each input.
'''),
    code(r'''
trace = trace_backward(loss, names=names)
print(trace)
'''),
    md(r'''
Now the same steps by hand, with the chain rule, each using the gradient of the step before:

| tensor | $\partial\,\text{loss}/\partial(\text{tensor})$ | why |
| --- | --- | --- |
| loss | $1$ | where backward starts |
| err | $2\,\text{err}$ | $\frac{d}{du}u^2 = 2u$ |
| y | same as err | $\text{err} = y - t$ |
| h | $2\,\text{err}\,(1 - y^2)$ | $\tanh' = 1 - \tanh^2$ |
| s, c | same as h | a sum passes the gradient to both terms |
| wx | that number, once per entry | `sum` copies it back to every element |
| w | $\text{that number} \times x$ | $\partial (w_k x_k)/\partial w_k = x_k$ |
'''),
    code(r'''
g_err = 2 * err.item()
g_h = g_err * (1 - y.item() ** 2)
by_hand = {
    "loss": 1.0,
    "err": g_err,
    "y": g_err,
    "h": g_h,
    "s": g_h,
    "c": g_h,
    "wx": np.full(3, g_h),
    "w": g_h * x.numpy(),
}
for step in trace:
    engine = trace.grad_of(step.tensor)
    agree = np.allclose(engine, by_hand[step.name], rtol=1e-5)
    print(f"step {step.index + 1}: {step.name:>4} ({step.op:>4})  engine {np.round(engine, 4)!s:<26}"
          f" by hand {np.round(by_hand[step.name], 4)!s:<26} {'✓' if agree else '✗'}")
'''),
    md(r'''
Two more things the engine does, both easy to trip over:

- gradients **accumulate**: a second backward pass adds to `.grad` (that is why training loops call
  `zero_grad()`);
- without `retain_graph=True`, `backward()` frees the values the nodes saved, and a second backward
  pass through a node that needs them (here `tanh`, which saved its output) is an error that says so.
  As in PyTorch, nodes that saved nothing (`+`, `sum`, `reshape`) could run again.
'''),
    code(r'''
loss.backward(retain_graph=True)  # the graph is still there: the gradient is added a second time
print("w.grad after two backward passes:", w.grad, "(twice the value above)")
w.zero_grad()
c.zero_grad()

again = ((w * x).sum() + c).tanh()
again.backward()  # frees the graph
try:
    again.backward()
except RuntimeError as error:
    print("RuntimeError:", error)
'''),
    md(r'''
## 5. A new operation: softplus

$$\operatorname{softplus}(x) = \log(1 + e^{x}), \qquad \frac{d}{dx}\operatorname{softplus}(x) = \frac{e^x}{1+e^x} = \sigma(x).$$

An op is a `Function` with a `forward` on NumPy arrays and a `backward` that receives
`grad` $= \partial L/\partial(\text{output})$ and returns $\partial L/\partial(\text{input})$, here
`grad · σ(x)`. `forward` saves what `backward` needs with `ctx.save_for_backward`. The first line
of the docstring is what the pictures write in the op's box.
'''),
    code(r'''
class Softplus(Function):
    """softplus(x) = log(1 + eˣ);  ∂ = g · σ(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)  # log(e⁰ + eˣ), computed without overflow

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + np.exp(-x))  # grad · σ(x)


u = Tensor([-2.0, 0.0, 3.0], requires_grad=True, name="u")
out = Softplus.apply(u)
total = out.sum()
total.backward(retain_graph=True)
print("softplus(u) =", out)
print("u.grad      =", u.grad, " (σ(u) =", Tensor([-2.0, 0.0, 3.0]).sigmoid(), ")")
draw_graph(total, names={"u": u, "softplus(u)": out, "total": total})
'''),
    md(r'''
`gradcheck` compares the backward rule with central differences
$\big(f(x + \varepsilon) - f(x - \varepsilon)\big)/2\varepsilon$, for every input element and every
output element, in float64. Use random inputs, not round numbers: many wrong rules happen to be right
at 0. `register_op` then makes the op a `Tensor` method, like the built-in ones.
'''),
    code(r'''
rng = np.random.default_rng(0)
print("gradcheck:", tg.gradcheck(Softplus.apply, [Tensor(rng.normal(size=(4, 3)), requires_grad=True)]))

tg.register_op("softplus", Softplus)
print("as a method:", Tensor([-2.0, 0.0, 3.0]).softplus())
'''),
    md(r'''
## 6. Breaking it on purpose

A sign slip: $\sigma(-x)$ instead of $\sigma(x)$. The forward pass is still right, so nothing looks
wrong until the gradient is checked.
'''),
    code(r'''
class SoftplusWrongSign(Function):
    """softplus with a sign slip in its backward: ∂ = g · σ(−x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + np.exp(x))  # the slip: σ(−x)


try:
    tg.gradcheck(SoftplusWrongSign.apply, [Tensor([-2.0, 0.0, 3.0], requires_grad=True)])
except tg.GradcheckError as error:
    print(error)
    print()
    print("input:", error.input_index, " element:", error.element, " output element:", error.output_element)
    print("analytic (your backward):", round(error.analytic, 6), " numeric (differences):", round(error.numeric, 6))
'''),
    md(r'''
How to read it: input 0, element `(0,)` is $x_0 = -2$. The backward said $\partial y_0/\partial x_0 = 0.881$,
differences say $0.119$. Those are $\sigma(2)$ and $\sigma(-2)$: the sign is wrong. At $x = 0$ both are
$\sigma(0) = 0.5$, so a check at 0 alone would have passed.

Another classic: forgetting to multiply by `grad`. A scalar test like `f(x).sum()` sends `grad = 1` and
cannot see it, but `gradcheck` seeds each output element separately (`grad` is 1 in one place and 0
elsewhere), so the mistake shows up as a gradient where there should be none:
'''),
    code(r'''
class SoftplusForgotGrad(Function):
    """softplus whose backward ignores g: ∂ = σ(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 1.0 / (1.0 + np.exp(-x))  # the slip: grad is ignored


inputs = [Tensor([-2.0, 0.5, 3.0], requires_grad=True)]
print("checked through .sum() only:", tg.gradcheck(lambda v: SoftplusForgotGrad.apply(v).sum(), inputs))
try:
    tg.gradcheck(SoftplusForgotGrad.apply, inputs)
except tg.GradcheckError as error:
    print(error)
'''),
    md(r'''
The output element is `(1,)` and the input element `(0,)`: output 1 does not depend on input 0 at all,
so the true derivative is 0, yet the broken rule reports $\sigma(-2) = 0.119$.

## What to take away

- The graph is a chain of nodes; each keeps its inputs and what its forward saved.
- `backward()` visits the nodes from the output back, in an order where every tensor's gradient is
  complete before its op's rule is applied; the rule sends one gradient to each input.
- A new op is two static methods; `gradcheck` on random inputs tells you whether the backward is right,
  and where it is not.
'''),
]


# =====================================================================================================
# 03 — train a classifier
# =====================================================================================================
TRAINING = [
    md(r'''
# Training a classifier

Two problems, both trained with the library's `nn`, `optim` and `data` modules:

1. **spiral**: three interleaved arms of points in the plane. No straight line separates them; we
   watch a small network bend its decision boundary around them as it trains;
2. **digits**: 1,797 handwritten digits of 8×8 pixels: loss and accuracy curves, the confusion matrix,
   and the digits it still gets wrong;
3. and the graph of one training step.
'''),
    code(SETUP + r'''
import time

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.data import batches, digits, spiral, train_test_split
from tinygrad_sm.viz import draw_graph, trace_backward


@tg.no_grad()
def predict(model, X):
    """The predicted class of every row of X (no graph is recorded)."""
    return model(Tensor(X)).numpy().argmax(axis=1)
'''),
    md(r'''
## 1. The spiral

300 points, 100 per class. The model is an MLP with two hidden layers of 64 ReLU units, trained with
Adam on mini-batches of 32. Every few epochs we keep the class the model predicts at each point of a
fine grid: those are the decision regions.
'''),
    code(r'''
X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, rng=0)
model = nn.MLP([2, 64, 64, 3], rng=1)
optimizer = optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
shuffle = np.random.default_rng(2)

gx, gy = np.meshgrid(np.linspace(-1.3, 1.3, 160), np.linspace(-1.3, 1.3, 160))
grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)

snapshot_epochs = [0, 5, 20, 50, 100, 300]
snapshots = {0: (predict(model, grid).reshape(gx.shape), np.mean(predict(model, X) == y))}
losses = []
start = time.perf_counter()
for epoch in range(1, snapshot_epochs[-1] + 1):
    total = 0.0
    for xb, yb in batches(X, y, batch_size=32, rng=shuffle):
        loss = loss_fn(model(Tensor(xb)), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    losses.append(total / len(X))
    if epoch in snapshot_epochs:
        accuracy = np.mean(predict(model, X) == y)
        snapshots[epoch] = (predict(model, grid).reshape(gx.shape), accuracy)
        print(f"epoch {epoch:3d}   loss {losses[-1]:.4f}   accuracy {100 * accuracy:5.1f}%")
print(f"{snapshot_epochs[-1]} epochs in {time.perf_counter() - start:.1f} s")
'''),
    code(r'''
colours = np.array(["#4c72b0", "#dd8452", "#55a868"])
fig, axes = plt.subplots(2, 3, figsize=(10, 6.6), sharex=True, sharey=True)
for ax, epoch in zip(axes.ravel(), snapshot_epochs):
    regions, accuracy = snapshots[epoch]
    ax.contourf(gx, gy, regions, levels=[-0.5, 0.5, 1.5, 2.5], colors=colours, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=colours[y], s=7, edgecolors="none")
    ax.set_title(f"epoch {epoch}: {100 * accuracy:.0f}% right", fontsize=10)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("decision regions of a 2-64-64-3 MLP while it trains on the spiral")
fig.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(6, 2.8))
ax.semilogy(np.arange(1, len(losses) + 1), losses)
ax.set(xlabel="epoch", ylabel="mean cross-entropy (log scale)", title="spiral: training loss")
plt.show()
'''),
    md(r'''
At epoch 0 the untrained network gives the same answer almost everywhere, so one point in three is
right. After 5 epochs it cuts the plane with nearly straight lines; by epoch 20 the regions curl along
the arms, and from epoch 50 on each arm sits in a region of its own.

## 2. Handwritten digits

Each image is 8×8 pixels scaled to [0, 1], flattened into 64 numbers. A quarter of the images are held
out as a test set the model never trains on.
'''),
    code(r'''
images, labels = digits()
X_train, X_test, y_train, y_test = train_test_split(images, labels, test_size=0.25, rng=0)
print(f"{len(images)} images: {len(X_train)} for training, {len(X_test)} for testing")

fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for ax, digit in zip(axes, range(10)):
    ax.imshow(X_train[y_train == digit][0].reshape(8, 8), cmap="gray_r")
    ax.set_title(str(digit))
    ax.axis("off")
plt.show()
'''),
    md(r'''
An MLP 64-128-64-10, SGD with momentum, mini-batches of 32, and label smoothing 0.1 (the target puts
0.9 on the right class and spreads 0.1 over all ten, which keeps the model from growing overconfident).
'''),
    code(r'''
model = nn.MLP([64, 128, 64, 10], rng=0)
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
shuffle = np.random.default_rng(1)

history = {"loss": [], "train": [], "test": []}
start = time.perf_counter()
for epoch in range(1, 21):
    model.train()
    total = 0.0
    for xb, yb in batches(X_train, y_train, batch_size=32, rng=shuffle):
        loss = loss_fn(model(Tensor(xb)), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    model.eval()
    history["loss"].append(total / len(X_train))
    history["train"].append(np.mean(predict(model, X_train) == y_train))
    history["test"].append(np.mean(predict(model, X_test) == y_test))
    if epoch in (1, 2, 5, 10, 15, 20):
        print(f"epoch {epoch:2d}   loss {history['loss'][-1]:.4f}   "
              f"train {100 * history['train'][-1]:5.1f}%   test {100 * history['test'][-1]:5.1f}%")
print(f"20 epochs in {time.perf_counter() - start:.1f} s")
'''),
    code(r'''
# the lowest loss possible with smoothed targets: the model's probabilities equal the targets' q
q = np.full(10, 0.1 / 10)
q[0] += 0.9
floor = Tensor(np.log(q)).cross_entropy(0, label_smoothing=0.1).item()

epochs = np.arange(1, len(history["loss"]) + 1)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
left.plot(epochs, history["loss"], marker="o", ms=3)
left.axhline(floor, color="grey", ls="--", lw=1)
left.annotate(f"lowest possible: {floor:.3f}", (len(epochs), floor), xytext=(0, -4), textcoords="offset points",
              ha="right", va="top", fontsize=9, color="grey")
left.set_ylim(floor - 0.2, None)
left.set(xlabel="epoch", ylabel="cross-entropy (smoothed targets)", title="training loss")
right.plot(epochs, 100 * np.array(history["train"]), marker="o", ms=3, label="train")
right.plot(epochs, 100 * np.array(history["test"]), marker="o", ms=3, label="test")
right.set(xlabel="epoch", ylabel="% correct", title="accuracy", ylim=(50, 101))
right.legend()
for ax in (left, right):
    ax.set_xticks(range(2, len(epochs) + 1, 2))
fig.tight_layout()
plt.show()
'''),
    md(r'''
With label smoothing the loss cannot reach 0: the best a model can do is give exactly the target's
probabilities (0.91 to the right class, 0.01 to each other one), and the loss is then the entropy of
that target, the dashed line. The confusion matrix shows which digits the test set still confuses (rows: the true
digit; columns: the model's answer; the diagonal is right).
'''),
    code(r'''
predicted = predict(model, X_test)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
print(f"test accuracy: {100 * np.mean(predicted == y_test):.2f}% ({np.sum(predicted != y_test)} of {len(y_test)} wrong)")

fig, ax = plt.subplots(figsize=(5.2, 4.6))
ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=8,
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true", title="confusion matrix (test set)")
plt.show()
'''),
    code(r'''
wrong = np.flatnonzero(predicted != y_test)
with tg.no_grad():
    probabilities = model(Tensor(X_test[wrong])).softmax(axis=1).numpy()

columns = 6
rows = max(1, -(-len(wrong) // columns))
fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
for ax in axes.ravel():
    ax.axis("off")
for ax, index, probs in zip(axes.ravel(), wrong, probabilities):
    ax.imshow(X_test[index].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"true {y_test[index]}, said {predicted[index]}\n({100 * probs.max():.0f}% sure)", fontsize=8)
fig.suptitle("every test digit the model gets wrong", y=1.0)
fig.tight_layout()
plt.show()
'''),
    md(r'''
## 3. The graph of one training step

One mini-batch of 32 digits through the trained network: three `linear` ops (each is $xW^{\mathsf T} + b$
in one node), two ReLUs and the fused cross-entropy. Passing the model as `names` labels its
parameters. Values and gradients are summarised as min / mean / max when they have many entries.
'''),
    code(r'''
xb, yb = X_train[:32], y_train[:32]
loss = loss_fn(model(Tensor(xb, name="images")), yb)
loss.name = "loss"
for step in trace_backward(loss, names=model):  # the backward pass, step by step (notebook 02)
    size = np.abs(step.grad).mean()
    print(f"{step.index + 1:2d}. {step.name:<16} {step.op:<14} gradient {str(step.grad.shape):<10} mean |g| {size:.2e}")
loss.backward(retain_graph=True)
picture = draw_graph(loss, names=model, rankdir="TB")
model.zero_grad()  # this step was only for the picture
picture
'''),
]


# =====================================================================================================
# 04 — exercises
# =====================================================================================================
EXERCISES = [
    md(r'''
# Exercises: write the backward rule

Five operations, each with its forward pass written. Your job is the backward pass: a function that
receives `grad`, the gradient of the loss with respect to the op's output (same shape as the output),
and returns the gradient with respect to each input (same shape as that input). The cell after yours
grades it with `tinygrad_sm.gradcheck` and prints what is wrong, if anything.

- In `notebooks/student/04_exercises_student.ipynb` the ✏️ cells are empty (they raise
  `NotImplementedError`): work there, and run the cells in order.
- This notebook, `notebooks/04_exercises.ipynb`, holds the reference solutions. The student version is
  made from it by `python notebooks/make_student_version.py`.

Notebooks 01 and 02 derive everything needed here.
'''),
    code(SETUP + r'''
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
'''),
    md(r'''
### What the check prints

Here is a sigmoid whose backward forgot a factor, $\sigma(x)$ instead of $\sigma(x)(1 - \sigma(x))$,
so you know what a wrong answer looks like. "analytic" is what the backward returned, "numeric" what
central differences measure.
'''),
    code(r'''
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
'''),
    md(r'''
## Exercise 1: sigmoid

$s = \sigma(x) = \dfrac{1}{1 + e^{-x}}$, elementwise. Forward saves $s$.

Hint: $\sigma'(x) = \sigma(x)\,(1 - \sigma(x))$, and the chain rule multiplies by `grad`.
'''),
    code(r'''
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        s = 1.0 / (1.0 + np.exp(-x))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        return sigmoid_backward(ctx, grad)  # ✏️ written below
'''),
    code(r'''
def sigmoid_backward(ctx, grad):
    """∂L/∂x, given grad = ∂L/∂s and the saved s = σ(x)."""
    (s,) = ctx.saved_tensors
    return grad * s * (1 - s)
''', tags=["solution"], exercise="sigmoid"),
    code(r'''
check("sigmoid", Sigmoid.apply, [Tensor(rng.normal(size=5), requires_grad=True)])
'''),
    md(r'''
## Exercise 2: logsumexp

For each row of $z$ (shape `(N, C)`): $y = \log \sum_j e^{z_j}$, shape `(N,)`. Forward saves $z$ and $y$.

Hint: $\partial y/\partial z_i = e^{z_i}/\sum_j e^{z_j} = e^{z_i - y}$, which is softmax. `grad` has
shape `(N,)`: give it an axis (`grad[:, None]`) so it multiplies whole rows.
'''),
    code(r'''
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
'''),
    code(r'''
def logsumexp_backward(ctx, grad):
    """∂L/∂z (N, C), given grad = ∂L/∂y (N,) and the saved z and y."""
    z, y = ctx.saved_tensors
    return grad[:, None] * np.exp(z - y[:, None])
''', tags=["solution"], exercise="logsumexp"),
    code(r'''
check("logsumexp", LogSumExp.apply, [Tensor(rng.normal(size=(3, 4)), requires_grad=True)])
'''),
    md(r'''
## Exercise 3: softmax

$p = \operatorname{softmax}(z)$ along the last axis, $z$ of shape `(N, C)`. Forward saves $p$.

Hint: do not build the Jacobian $\operatorname{diag}(p) - pp^{\mathsf T}$. Each row's answer is
$p \odot (g - \langle g, p\rangle)$ (notebook 01, section 3); `keepdims=True` keeps the row sums
broadcastable.
'''),
    code(r'''
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
'''),
    code(r'''
def softmax_backward(ctx, grad):
    """∂L/∂z, given grad = ∂L/∂p and the saved p."""
    (p,) = ctx.saved_tensors
    return p * (grad - (grad * p).sum(axis=-1, keepdims=True))
''', tags=["solution"], exercise="softmax"),
    code(r'''
check("softmax", Softmax.apply, [Tensor(rng.normal(size=(3, 4)), requires_grad=True)])
'''),
    md(r'''
## Exercise 4: cross-entropy

Logits $z$ of shape `(N, C)`, integer classes $y$ of shape `(N,)`; the loss is the mean over the rows of
$-\log \operatorname{softmax}(z_n)_{y_n}$, a scalar. Forward saves the probabilities $p$ and the classes.

Hint: for one row, $\partial L_n/\partial z_n = p_n - \operatorname{onehot}(y_n)$; the mean divides by
$N$; `grad` is a scalar. The classes are not differentiable: return only the logits' gradient (or
`grad_logits, None`).
'''),
    code(r'''
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
'''),
    code(r'''
def cross_entropy_backward(ctx, grad):
    """∂L/∂z (N, C), given grad = ∂L/∂loss (a scalar) and the saved p and classes."""
    p, classes = ctx.saved_tensors
    n = len(p)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), classes] = 1.0
    return grad * (p - onehot) / n
''', tags=["solution"], exercise="cross_entropy"),
    code(r'''
classes = np.array([0, 2, 1, 2])
check("cross_entropy", lambda z: CrossEntropy.apply(z, classes), [Tensor(rng.normal(size=(4, 3)), requires_grad=True)])
'''),
    md(r'''
## Exercise 5: matrix multiplication

$C = AB$ with $A$ of shape `(n, k)` and $B$ of shape `(k, m)`. Forward saves $A$ and $B$. Return two
gradients, one for each input.

Hint: $C_{ij} = \sum_r A_{ir} B_{rj}$, so $\partial L/\partial A_{ir} = \sum_j G_{ij} B_{rj}$. In
matrix form: $\partial L/\partial A = G B^{\mathsf T}$ and $\partial L/\partial B = A^{\mathsf T} G$. The
shapes tell you the order: $\partial L/\partial A$ must be `(n, k)`.
'''),
    code(r'''
class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        return matmul_backward(ctx, grad)  # ✏️ written below
'''),
    code(r'''
def matmul_backward(ctx, grad):
    """(∂L/∂A, ∂L/∂B), given grad = ∂L/∂C and the saved A and B."""
    a, b = ctx.saved_tensors
    return grad @ b.T, a.T @ grad
''', tags=["solution"], exercise="matmul"),
    code(r'''
A = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
B = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
check("matmul", MatMul.apply, [A, B], input_names=["A", "B"])
'''),
    md(r'''
## Your ops, put to work

When all five pass, this cell trains a softmax classifier on three clusters of points using *your*
`MatMul` and `CrossEntropy`, and compares your gradients with the library's built-in ops on the same
numbers.
'''),
    code(r'''
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
'''),
]


NOTEBOOKS = {
    "01_softmax_and_its_gradient.ipynb": SOFTMAX,
    "02_autograd_from_the_inside.ipynb": AUTOGRAD,
    "03_train_a_classifier.ipynb": TRAINING,
    "04_exercises.ipynb": EXERCISES,
}


# =====================================================================================================
# building and running
# =====================================================================================================
def build(cells: list[Cell], stem: str) -> nbformat.NotebookNode:
    """A notebook (without outputs) from the cells; cell ids are fixed, so rebuilding changes no id."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, (kind, source, metadata) in enumerate(cells):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(source, id=f"{stem[:2]}-{index:02d}")
        cell.metadata.update(metadata)
        notebook.cells.append(cell)
    return notebook


def kernel_environment() -> dict[str, str]:
    """The kernel's environment: this checkout importable first, one BLAS thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend draws the figures into the notebook
    return env


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a fresh ``python3`` kernel started in ``cwd``; raises at the first failing cell."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=kernel_environment())
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="build only the notebooks whose file names start with these")
    args = parser.parse_args(argv)
    chosen = [name for name in NOTEBOOKS if not args.only or any(name.startswith(prefix) for prefix in args.only)]
    if not chosen:
        parser.error(f"no notebook matches {args.only}; the notebooks are {', '.join(NOTEBOOKS)}")
    for name in chosen:
        start = time.perf_counter()
        notebook = execute(build(NOTEBOOKS[name], name), HERE)
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / name)
        size = (HERE / name).stat().st_size
        print(f"{name}: executed in {time.perf_counter() - start:.1f} s, {size / 1024:.0f} KiB")
    if "04_exercises.ipynb" in chosen:
        sys.path.insert(0, str(HERE))
        from make_student_version import write_student_version

        print(f"wrote {write_student_version().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
