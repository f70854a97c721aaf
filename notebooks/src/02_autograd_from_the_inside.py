# %% [markdown]
# # Autograd from the inside
#
# What happens when you call `loss.backward()`? This notebook builds a small graph, looks at how it is
# stored, draws it before and after the backward pass, replays the backward pass one node at a time and
# redoes each step by hand. Then it adds a new operation to the library, checks its gradient with
# `gradcheck`, breaks it on purpose, and reads the error.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # these arrays are small: one BLAS thread is the fastest

import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Function, Tensor
from tinygrad_sm.viz import draw_graph, trace_backward

# %% [markdown]
# ## 1. A small graph: one neuron and a squared error
#
# $$h = \sum_k w_k x_k + c, \qquad y = \tanh(h), \qquad \text{loss} = (y - t)^2 .$$
#
# `x` is data (no gradient needed); the weights `w` and the bias `c` are parameters
# (`requires_grad=True`); `t` is the target, a plain number. Every operation on them records a node, and
# each intermediate result gets a name so the pictures can label it. (The pictures call an op's inputs
# `a, b`, its output `z` and the gradient arriving at it `g`, so the tensors here use other letters.)

# %%
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

# %% [markdown]
# The graph is nothing but pointers. A tensor made by an op keeps that op's node in `grad_fn`; the node
# keeps its inputs (`.inputs`) and whatever its forward saved for the backward pass. Following the
# pointers from `loss` reaches every tensor that took part:

# %%
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

# %% [markdown]
# ## 2. The picture before `backward()`
#
# `draw_graph` draws the same graph: tensors as boxes (name, shape, values), ops as rounded boxes with
# their backward rule, where `g` is the gradient arriving at the op's output. Arrows point forward;
# gradients will flow back against them.

# %%
draw_graph(loss, names=names, rankdir="TB")

# %% [markdown]
# ## 3. `backward()`, and the picture again
#
# `backward()` fills `.grad` of the parameters. `retain_graph=True` keeps the values the nodes saved, so
# the picture can replay the backward pass and show the gradient of *every* tensor, not only of the
# leaves; edges are drawn as thick and dark as the gradient flowing along them.

# %%
loss.backward(retain_graph=True)
print("w.grad =", w.grad)
print("c.grad =", c.grad)
draw_graph(loss, names=names, rankdir="TB")

# %% [markdown]
# ## 4. The backward pass, node by node
#
# `trace_backward` runs the engine's backward pass again and records each step in the order the engine
# takes them: which tensor's gradient is complete, the rule of the op that made it, and what that rule
# sends to each input.

# %%
trace = trace_backward(loss, names=names)
print(trace)

# %% [markdown]
# Now the same steps by hand, with the chain rule, each using the gradient of the step before:
#
# | tensor | $\partial\,\text{loss}/\partial(\text{tensor})$ | why |
# | --- | --- | --- |
# | loss | $1$ | where backward starts |
# | err | $2\,\text{err}$ | $\frac{d}{du}u^2 = 2u$ |
# | y | same as err | $\text{err} = y - t$ |
# | h | $2\,\text{err}\,(1 - y^2)$ | $\tanh' = 1 - \tanh^2$ |
# | s, c | same as h | a sum passes the gradient to both terms |
# | wx | that number, once per entry | `sum` copies it back to every element |
# | w | $\text{that number} \times x$ | $\partial (w_k x_k)/\partial w_k = x_k$ |

# %%
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

# %% [markdown]
# Two more things the engine does, both easy to trip over:
#
# - gradients **accumulate**: a second backward pass adds to `.grad` (that is why training loops call
#   `zero_grad()`);
# - without `retain_graph=True`, `backward()` frees the values the nodes saved, and a second backward
#   pass through a node that needs them (here `tanh`, which saved its output) is an error that says so.
#   As in PyTorch, nodes that saved nothing (`+`, `sum`, `reshape`) could run again.

# %%
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


# %% [markdown]
# ## 5. A new operation: softplus
#
# $$\operatorname{softplus}(x) = \log(1 + e^{x}), \qquad \frac{d}{dx}\operatorname{softplus}(x) = \frac{e^x}{1+e^x} = \sigma(x).$$
#
# An op is a `Function` with a `forward` on NumPy arrays and a `backward` that receives
# `grad` $= \partial L/\partial(\text{output})$ and returns $\partial L/\partial(\text{input})$, here
# `grad · σ(x)`. `forward` saves what `backward` needs with `ctx.save_for_backward`. The first line
# of the docstring is what the pictures write in the op's box.

# %%
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

# %% [markdown]
# `gradcheck` compares the backward rule with central differences
# $\big(f(x + \varepsilon) - f(x - \varepsilon)\big)/2\varepsilon$, for every input element and every
# output element, in float64. Use random inputs, not round numbers: many wrong rules happen to be right
# at 0. `register_op` then makes the op a `Tensor` method, like the built-in ones. (The library has a
# built-in `softplus` of its own, so ours is registered under another name, and the two agree.)

# %%
rng = np.random.default_rng(0)
print("gradcheck:", tg.gradcheck(Softplus.apply, [Tensor(rng.normal(size=(4, 3)), requires_grad=True)]))

tg.register_op("my_softplus", Softplus)
print("as a method:", Tensor([-2.0, 0.0, 3.0]).my_softplus())
print("built-in:   ", Tensor([-2.0, 0.0, 3.0]).softplus())


# %% [markdown]
# ## 6. Breaking it on purpose
#
# A sign slip: $\sigma(-x)$ instead of $\sigma(x)$. The forward pass is still right, so nothing looks
# wrong until the gradient is checked.

# %%
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


# %% [markdown]
# How to read it: input 0, element `(0,)` is $x_0 = -2$. The backward said $\partial y_0/\partial x_0 = 0.881$,
# differences say $0.119$. Those are $\sigma(2)$ and $\sigma(-2)$: the sign is wrong. At $x = 0$ both are
# $\sigma(0) = 0.5$, so a check at 0 alone would have passed.
#
# Another classic: forgetting to multiply by `grad`. A scalar test like `f(x).sum()` sends `grad = 1` and
# cannot see it, but `gradcheck` seeds each output element separately (`grad` is 1 in one place and 0
# elsewhere), so the mistake shows up as a gradient where there should be none:

# %%
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

# %% [markdown]
# The output element is `(1,)` and the input element `(0,)`: output 1 does not depend on input 0 at all,
# so the true derivative is 0, yet the broken rule reports $\sigma(-2) = 0.119$.
#
# ## What to take away
#
# - The graph is a chain of nodes; each keeps its inputs and what its forward saved.
# - `backward()` visits the nodes from the output back, in an order where every tensor's gradient is
#   complete before its op's rule is applied; the rule sends one gradient to each input.
# - A new op is two static methods; `gradcheck` on random inputs tells you whether the backward is right,
#   and where it is not.
