# %% [markdown]
# # Training a classifier
#
# Two problems, both trained with the library's `nn`, `optim` and `data` modules:
#
# 1. **spiral**: three interleaved arms of points in the plane. No straight line separates them; we
#    watch a small network bend its decision boundary around them as it trains;
# 2. **digits**: 1,797 handwritten digits of 8×8 pixels: loss and accuracy curves, the confusion matrix,
#    and the digits it still gets wrong;
# 3. and the graph of one training step.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # these arrays are small: one BLAS thread is the fastest

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


# %% [markdown]
# ## 1. The spiral
#
# 300 points, 100 per class. The model is an MLP with two hidden layers of 64 ReLU units, trained with
# Adam on mini-batches of 32. Every few epochs we keep the class the model predicts at each point of a
# fine grid: those are the decision regions.

# %%
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

# %%
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

# %% [markdown]
# At epoch 0 the untrained network gives the same answer almost everywhere, so one point in three is
# right. After 5 epochs it cuts the plane with nearly straight lines; by epoch 20 the regions curl along
# the arms, and from epoch 50 on each arm sits in a region of its own.
#
# ## 2. Handwritten digits
#
# Each image is 8×8 pixels scaled to [0, 1], flattened into 64 numbers. A quarter of the images are held
# out as a test set the model never trains on.

# %%
images, labels = digits()
X_train, X_test, y_train, y_test = train_test_split(images, labels, test_size=0.25, rng=0)
print(f"{len(images)} images: {len(X_train)} for training, {len(X_test)} for testing")

fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for ax, digit in zip(axes, range(10)):
    ax.imshow(X_train[y_train == digit][0].reshape(8, 8), cmap="gray_r")
    ax.set_title(str(digit))
    ax.axis("off")
plt.show()

# %% [markdown]
# An MLP 64-128-64-10, SGD with momentum, mini-batches of 32, and label smoothing 0.1 (the target puts
# 0.9 on the right class and spreads 0.1 over all ten, which keeps the model from growing overconfident).

# %%
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

# %%
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

# %% [markdown]
# With label smoothing the loss cannot reach 0: the best a model can do is give exactly the target's
# probabilities (0.91 to the right class, 0.01 to each other one), and the loss is then the entropy of
# that target, the dashed line. The confusion matrix shows which digits the test set still confuses (rows: the true
# digit; columns: the model's answer; the diagonal is right).

# %%
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

# %%
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

# %% [markdown]
# ## 3. The graph of one training step
#
# One mini-batch of 32 digits through the trained network: three `linear` ops (each is $xW^{\mathsf T} + b$
# in one node), two ReLUs and the fused cross-entropy. Passing the model as `names` labels its
# parameters. Values and gradients are summarised as min / mean / max when they have many entries.

# %%
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
