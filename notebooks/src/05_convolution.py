# %% [markdown]
# # Convolution: a sliding dot product, im2col, and its backward
#
# A convolutional layer slides one small set of weights, the *kernel*, over every position of its
# input and takes a dot product at each. This notebook
#
# 1. computes a convolution by hand and checks it against `F.conv2d`;
# 2. rewrites it as one matrix product over the image's patches (*im2col*, `F.unfold`), which is how
#    the library computes it;
# 3. derives the backward: the gradient of the input is a convolution of the upstream gradient with
#    the *flipped* kernel, the gradient of the kernel a correlation of the input with the upstream
#    gradient, and checks both against autodiff and `gradcheck`;
# 4. trains a small CNN on the 8×8 digits, draws its graph, and shows the filters it learned.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small arrays: one BLAS thread is the fastest

import time

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.data import batches, digits, train_test_split
from tinygrad_sm.nn import functional as F
from tinygrad_sm.viz import draw_graph

# %% [markdown]
# ## 1. A sliding dot product
#
# For an input x with C channels and a kernel w of shape (C, kH, kW), the output at position (i, j) is
#
# $$y_{ij} = b + \sum_{c}\sum_{u=0}^{kH-1}\sum_{v=0}^{kW-1} w_{cuv}\, x_{c,\,i+u,\,j+v}.$$
#
# (Strictly this is a *correlation*; deep-learning libraries call it convolution and do not flip the
# kernel.) Here is that sum as loops, for one 8×8 digit and a kernel that responds to vertical edges:

# %%
images, labels = digits()
image = images[0].reshape(1, 1, 8, 8)  # (batch N, channels C, height H, width W)
edge = np.array([[[[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]]], dtype=np.float32)  # (C_out, C_in, 3, 3)


def conv2d_by_loops(x, w):
    """The definition: a dot product of the kernel with each 3×3 window (no padding, stride 1)."""
    n, c, h, width = x.shape
    c_out, _, kh, kw = w.shape
    out = np.zeros((n, c_out, h - kh + 1, width - kw + 1), dtype=x.dtype)
    for i in range(h - kh + 1):
        for j in range(width - kw + 1):
            window = x[:, :, i : i + kh, j : j + kw]  # (N, C, kH, kW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


by_loops = conv2d_by_loops(image, edge)
by_library = F.conv2d(Tensor(image), Tensor(edge)).numpy()
print("output shape:", by_library.shape, "  largest difference from the loops:", np.abs(by_loops - by_library).max())

fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
axes[0].imshow(image[0, 0], cmap="gray_r")
axes[0].set_title(f"a digit {labels[0]}")
axes[1].imshow(edge[0, 0], cmap="RdBu_r", vmin=-2, vmax=2)
axes[1].set_title("vertical-edge kernel")
axes[2].imshow(by_library[0, 0], cmap="RdBu_r")
axes[2].set_title("conv2d output (6×6)")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. im2col: every window becomes a column
#
# The loops take the same dot product L = 6·6 = 36 times. Gather the 36 windows first, each
# flattened into a column of C·kH·kW = 9 numbers (`F.unfold`, "image to columns"), and the whole
# convolution is **one matrix product**: the kernel, flattened into a row per output channel,
# times the (9, 36) matrix of columns. That is how `F.conv2d` computes, and why convolutions run
# at the speed of matrix multiplication.

# %%
columns = F.unfold(Tensor(image), kernel_size=3)  # (N, C·kH·kW, L)
print("columns:", columns.shape)
as_matmul = (Tensor(edge.reshape(1, -1)) @ columns).reshape(1, 1, 6, 6)
print("largest difference from conv2d:", np.abs(as_matmul.numpy() - by_library).max())

# %% [markdown]
# `F.fold` is the opposite direction: it adds each column back onto the window it came from
# (overlapping windows add up). fold is the *adjoint* of unfold, ⟨unfold(x), c⟩ = ⟨x, fold(c)⟩,
# which makes each the other's backward:

# %%
rng = np.random.default_rng(0)
x = rng.normal(size=(2, 3, 5, 5))
c = rng.normal(size=(2, 3 * 3 * 3, 9))
left = np.sum(F.unfold(Tensor(x), 3).numpy() * c)
right = np.sum(x * F.fold(Tensor(c), output_size=(5, 5), kernel_size=3).numpy())
print(f"<unfold(x), c> = {left:.10f}\n<x, fold(c)>   = {right:.10f}")

# %% [markdown]
# ## 3. The backward of a convolution is a convolution
#
# Take y = conv2d(x, w) and an upstream gradient g = ∂L/∂y. Each input pixel x_{c,p,q} was multiplied
# by w_{o,c,u,v} to make y_{o,p−u,q−v}, so
#
# $$\frac{\partial L}{\partial x_{c,p,q}} = \sum_{o,u,v} g_{o,\,p-u,\,q-v}\; w_{o,c,u,v},$$
#
# a correlation of g (padded by kH − 1 on each side) with the kernel **flipped** in both spatial axes,
# its channel axes swapped. The kernel's gradient sums each weight's products over all positions:
#
# $$\frac{\partial L}{\partial w_{o,c,u,v}} = \sum_{n,i,j} g_{n,o,i,j}\; x_{n,c,\,i+u,\,j+v},$$
#
# a correlation of the input with g. In im2col terms: ∂columns = Wᵀ g and ∂x = fold(∂columns);
# ∂W = g · columnsᵀ. The library's `conv2d` backward is exactly that. Check both formulas,
# written as convolutions, against autodiff:

# %%
x = Tensor(rng.normal(size=(2, 3, 7, 7)), requires_grad=True)
w = Tensor(rng.normal(size=(4, 3, 3, 3)), requires_grad=True)
y = F.conv2d(x, w)
g = rng.normal(size=y.shape)
y.backward(Tensor(g))

flipped = np.ascontiguousarray(w.numpy()[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C_in, C_out, 3, 3)
grad_x = F.conv2d(F.pad(Tensor(g), (2, 2, 2, 2)), Tensor(flipped)).numpy()
# the input's gradient wrt w: batch and channel axes swap roles (sum over n, correlate over i, j)
grad_w = F.conv2d(Tensor(x.numpy().transpose(1, 0, 2, 3)), Tensor(g.transpose(1, 0, 2, 3))).numpy().transpose(1, 0, 2, 3)
print("∂x as a convolution with the flipped kernel:", np.abs(grad_x - x.grad.numpy()).max())
print("∂w as a correlation of the input with g:   ", np.abs(grad_w - w.grad.numpy()).max())

# %% [markdown]
# And `gradcheck` compares the whole rule with central differences, in float64, for a convolution
# with stride, padding and a bias, and for max-pooling, whose gradient goes to the largest element
# of each window (only that element changed the output):

# %%
x = Tensor(rng.normal(size=(2, 2, 6, 6)), requires_grad=True)
w = Tensor(rng.normal(size=(3, 2, 3, 3)), requires_grad=True)
b = Tensor(rng.normal(size=3), requires_grad=True)
print("conv2d:", tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [x, w, b]))
print("max_pool2d:", tg.gradcheck(lambda x: F.max_pool2d(x, 2), [x]))

# %% [markdown]
# ## 4. A CNN on the digits
#
# Two 3×3 convolutions (padding 1 keeps the 8×8 size), a 2×2 max-pool, and a two-layer classifier;
# AdamW with a cosine learning-rate schedule and label smoothing. The split is the one notebook 03's
# MLP used (it reached about 97.5% there).

# %%
X_train, X_test, y_train, y_test = train_test_split(images, labels, test_size=0.25, rng=0)
X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1, rng=0), nn.ReLU(),
    nn.Conv2d(16, 32, 3, padding=1, rng=1), nn.ReLU(),
    nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(32 * 4 * 4, 64, rng=2), nn.ReLU(),
    nn.Linear(64, 10, rng=3),
)
epochs, batch_size = 12, 32
optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * -(-len(X_train) // batch_size))
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
shuffle = np.random.default_rng(1)


@tg.no_grad()
def accuracy(model, X, y):
    model.eval()
    return float(np.mean(model(Tensor(X)).numpy().argmax(axis=1) == y))


start = time.perf_counter()
for epoch in range(1, epochs + 1):
    model.train()
    for xb, yb in batches(X_train, y_train, batch_size, rng=shuffle):
        loss = loss_fn(model(Tensor(xb)), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    if epoch % 3 == 0:
        print(f"epoch {epoch:2d}   test accuracy {100 * accuracy(model, X_test, y_test):.2f}%")
print(f"{epochs} epochs in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# The graph of one training step, each layer of the model in its own box: the convolutions are
# single `conv2d` nodes, the pooling one `max_pool2d` node, and the loss the fused `cross_entropy`.

# %%
loss = loss_fn(model(Tensor(X_train[:4])), y_train[:4])
loss.backward()
picture = draw_graph(loss, names=model)
model.zero_grad()
picture

# %% [markdown]
# ## The filters it learned
#
# The first layer's 16 kernels, each 3×3 (red: positive weights, blue: negative). Kernels this small,
# trained for a few seconds, are less tidy than textbook filters, but many put a positive side next to
# a negative one: they respond to a change of brightness in one direction, an edge of a stroke.

# %%
filters = model[0].weight.numpy()[:, 0]
fig, axes = plt.subplots(2, 8, figsize=(9, 2.6))
for ax, kernel in zip(axes.ravel(), filters):
    limit = np.abs(kernel).max()
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.axis("off")
fig.suptitle("first-layer filters of the digits CNN")
plt.show()
