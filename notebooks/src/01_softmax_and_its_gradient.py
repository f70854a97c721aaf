# %% [markdown]
# # Softmax and its gradient
#
# A classifier's last layer produces one real number per class, the *logits*. Softmax turns them into
# probabilities. This notebook computes softmax with `tinygrad_sm`, derives its Jacobian and checks it
# against the library, shows why the backward pass never builds that Jacobian, and why every serious
# implementation subtracts the maximum first and fuses softmax with the cross-entropy loss.
#
# 1. Softmax, computed
# 2. The Jacobian $\partial p_i / \partial z_j$, and the two-class case
# 3. Backward without the Jacobian: the vector–Jacobian product, timed
# 4. Numerical stability, and why cross-entropy is one fused op
# 5. A picture: logits and probabilities

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # these arrays are small: one BLAS thread is the fastest

import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Tensor


def show(values, digits=3):
    """Numbers as a list with a fixed number of decimals."""
    return "[" + ", ".join(f"{v:.{digits}f}" for v in np.ravel(values)) + "]"


# %% [markdown]
# ## 1. Softmax, computed
#
# For logits $z = (z_1, \dots, z_C)$,
#
# $$p_i = \operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{C} e^{z_j}} .$$
#
# Every $p_i$ is positive, they add up to 1, and a larger logit always gets a larger probability.
# Only the *differences* between logits matter: adding a constant $c$ to every $z_i$ multiplies the
# numerator and the denominator by the same $e^{c}$.

# %%
z = Tensor([2.0, 1.0, 0.5])
p = z.softmax()
print("logits      ", show(z.numpy(), 1))
print("softmax     ", show(p.numpy()))
print("sum         ", f"{p.numpy().sum():.6f}")
print("logits + 100", show((z + 100).softmax().numpy()), "(the same: only differences matter)")

# %% [markdown]
# ### Checking a number that gets copied around
#
# A popular explanation of softmax says that the logits `[2.0, 1.0, 0.5]` become "something like
# `[0.665, 0.245, 0.090]`". The formula says otherwise (above: `[0.629, 0.231, 0.140]`). Those quoted
# numbers are what you get when the last logit is `0` instead of `0.5`:

# %%
quoted = np.array([0.665, 0.245, 0.090])
for logits in ([2.0, 1.0, 0.5], [2.0, 1.0, 0.0]):
    probs = Tensor(logits).softmax().numpy()
    verdict = "matches" if np.allclose(probs, quoted, atol=5e-4) else "does not match"
    print(f"softmax({logits}) = {show(probs)}  -> {verdict} the quoted [0.665, 0.245, 0.090]")

# %% [markdown]
# ### Step by step: logits `[1.5, 0.8, -0.2]`
#
# Exponentiate, add up, divide. Here in NumPy, next to the library's answer:

# %%
z = np.array([1.5, 0.8, -0.2])
exponentials = np.exp(z)
total = exponentials.sum()
print("e^z          ", show(exponentials))
print("sum          ", f"{total:.3f}")
print("e^z / sum    ", show(exponentials / total, 4))
print("tinygrad_sm  ", show(Tensor(z).softmax().numpy(), 4))
print("to 3 decimals", show(exponentials / total, 3))

# %% [markdown]
# To four decimals the probabilities are `[0.5955, 0.2957, 0.1088]`. The first one is often quoted as
# `0.596`, which is `0.5955` rounded a second time. Its value is 0.595497…, just below the halfway
# point 0.5955, so to three decimals it is `0.595`; the three rounded numbers then add up to exactly 1.

# %% [markdown]
# ## 2. The Jacobian
#
# How does $p_i$ change when one logit $z_j$ moves? Write $S = \sum_k e^{z_k}$, so $p_i = e^{z_i}/S$
# and $\partial S/\partial z_j = e^{z_j}$. The quotient rule gives two cases.
#
# **Same index** ($i = j$): the numerator depends on $z_i$ too,
#
# $$\frac{\partial p_i}{\partial z_i} = \frac{e^{z_i} S - e^{z_i} e^{z_i}}{S^2} = p_i - p_i^2 = p_i\,(1 - p_i).$$
#
# **Different indices** ($i \ne j$): only the denominator depends on $z_j$,
#
# $$\frac{\partial p_i}{\partial z_j} = \frac{0 \cdot S - e^{z_i} e^{z_j}}{S^2} = -\,p_i\, p_j .$$
#
# Both at once: $\dfrac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j)$, and as a matrix
#
# $$J = \operatorname{diag}(p) - p\,p^{\mathsf T}.$$
#
# $J$ is symmetric, and each of its rows adds up to 0: moving all logits together changes nothing.
# `tinygrad_sm.jacobian` builds the Jacobian the way the library sees it, one backward pass per
# output, so it must agree with the formula:

# %%
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

# %% [markdown]
# ### Two classes: softmax is the sigmoid of the difference
#
# With $z = [z_1, z_2]$, divide numerator and denominator by $e^{z_1}$:
#
# $$p_1 = \frac{e^{z_1}}{e^{z_1} + e^{z_2}} = \frac{1}{1 + e^{-(z_1 - z_2)}} = \sigma(z_1 - z_2),
# \qquad p_2 = \sigma(z_2 - z_1) = 1 - p_1 .$$
#
# So a two-class softmax is logistic regression on $d = z_1 - z_2$. Its Jacobian has a single number in it:
# $p_1(1-p_1) = p_1 p_2 = \sigma(d)\,(1-\sigma(d)) = \sigma'(d)$, so
#
# $$J = \sigma'(d)\begin{pmatrix} 1 & -1 \\ -1 & 1 \end{pmatrix}.$$

# %%
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

# %% [markdown]
# ## 3. Backward never builds $J$
#
# During backpropagation the softmax node receives $g = \partial L/\partial p$ (one number per output)
# and must hand back $\partial L/\partial z = J^{\mathsf T} g$. Writing the product out:
#
# $$\left(J^{\mathsf T} g\right)_j = \sum_i g_i\, p_i(\delta_{ij} - p_j)
# = p_j g_j - p_j \sum_i g_i p_i = p_j \left(g_j - \langle g, p\rangle\right).$$
#
# This *vector–Jacobian product* $p \odot (g - \langle g, p\rangle)$ costs $O(C)$ per row: one dot
# product and one elementwise update. Building $J$ first costs $O(C^2)$ memory and time per row. This is
# the library's softmax op, forward and backward, as it is written in `tinygrad_sm/operations/softmax.py`:

# %%
print(inspect.getsource(tg.get_op("softmax")))

# %%
z = Tensor(np.array([1.5, 0.8, -0.2]), requires_grad=True)
p = z.softmax()
g = np.array([0.3, -1.0, 2.0])  # some gradient arriving from above
p.backward(g)

pv = p.numpy()
print("the library's backward:", show(z.grad.numpy(), 4))
print("gᵀ J, with J built    :", show(g @ (np.diag(pv) - np.outer(pv, pv)), 4))
print("p ⊙ (g − ⟨g, p⟩)      :", show(pv * (g - g @ pv), 4))

# %% [markdown]
# ### Timing both on a batch of 1,024 rows of 1,000 classes
#
# The whole batch's Jacobians would be $1024 \times 1000 \times 1000$ numbers, 4 GB in float32, so the
# "build $J$" side below builds one row's $1000 \times 1000$ Jacobian at a time. The library's backward
# handles the whole batch in one go.

# %%
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


# %% [markdown]
# ## 4. Numerical stability
#
# `float32` overflows at about $3.4 \times 10^{38}$, that is $e^{z}$ for $z > 88.7$; `float64` at
# $z > 709.8$. The textbook formula `exp(z) / sum(exp(z))` therefore breaks on large logits
# (∞/∞ = nan), and on very negative ones too (every $e^{z_i}$ underflows to 0, and 0/0 = nan).
#
# The fix uses the shift invariance of section 1: subtract $m = \max_i z_i$ first.
# $\operatorname{softmax}(z - m) = \operatorname{softmax}(z)$, the largest exponent is then $e^0 = 1$,
# so nothing overflows and the sum is at least 1. The library's softmax does exactly that.

# %%
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

# %% [markdown]
# All three stable answers are `[0.665, 0.245, 0.090]`: the logits differ by 1 each time, exactly as
# in `[2, 1, 0]`.
#
# ### Why cross-entropy is one fused op
#
# The loss for a sample of class $y$ is $L = -\log p_y$. Computed in two steps, softmax first and then
# the log, a probability that underflows to 0 gives $\log 0 = -\infty$: an infinite loss and, in the
# backward pass, $0 \cdot \infty$ = nan. Working with logs throughout avoids it:
#
# $$\log p_i = z_i - m - \log \sum_j e^{z_j - m} \qquad(\text{log-softmax}),$$
#
# which never takes the log of an underflowed number. The fused cross-entropy op uses log-softmax
# forward, and its backward is just $\partial L/\partial z = p - \operatorname{onehot}(y)$, every entry
# between −1 and 1.

# %%
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

# %% [markdown]
# ## 5. Logits and probabilities, side by side
#
# Softmax keeps the order of the logits but not their spacing: it exaggerates the lead of the largest
# one, since a gap of $\Delta$ between two logits becomes a ratio of $e^{\Delta}$ between their
# probabilities. Dividing the logits by a *temperature* $T$ before softmax makes this sharper
# ($T < 1$) or flatter ($T > 1$).

# %%
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

# %% [markdown]
# ## What to take away
#
# - $\partial p_i/\partial z_j = p_i(\delta_{ij} - p_j)$, i.e. $J = \operatorname{diag}(p) - p p^{\mathsf T}$;
#   `tinygrad_sm.jacobian` reproduces it.
# - Backpropagation needs only $g^{\mathsf T} J = p \odot (g - \langle g, p\rangle)$: no $C \times C$ matrix.
# - Subtract the max before exponentiating; compute $\log p$ as log-softmax, never as `log(softmax)`.
