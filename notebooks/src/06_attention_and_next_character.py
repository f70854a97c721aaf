# %% [markdown]
# # Attention and the next character
#
# A language model gives, after each piece of text, a probability to every possible next token: a
# softmax over the vocabulary. Here the tokens are the 26 letters and an end marker, the texts are
# 5,000 first names, and we go the way makemore does:
#
# 1. a **bigram** model: counts of which letter follows which, the baseline;
# 2. an **MLP** on the last three letters, trained with cross-entropy;
# 3. what **temperature** and a **mask** do to a softmax;
# 4. **attention**: each position's softmax over the positions before it, checked by `gradcheck`;
# 5. a small **transformer**, which beats the bigram baseline, and the names it makes up.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small arrays: one BLAS thread is the fastest

import sys
import time

import matplotlib.pyplot as plt
import numpy as np

import tinygrad_sm as tg
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.data import names
from tinygrad_sm.nn import functional as F

words = names()
print(f"{len(words)} names, e.g. {', '.join(words[:8])}; the longest has {max(map(len, words))} letters")

ALPHABET = ".abcdefghijklmnopqrstuvwxyz"  # "." marks the start and the end of a name
index = {c: i for i, c in enumerate(ALPHABET)}
order = np.random.default_rng(0).permutation(len(words))
valid_words = [words[i] for i in order[: len(words) // 10]]
train_words = [words[i] for i in order[len(words) // 10 :]]


def pairs(ws):
    """Every (current character, next character) pair of ".name." for each name."""
    seq = [[index[c] for c in "." + w + "."] for w in ws]
    return np.array([(a, b) for s in seq for a, b in zip(s, s[1:])])


train_pairs, valid_pairs = pairs(train_words), pairs(valid_words)

# %% [markdown]
# ## 1. Bigram counts
#
# Count how often each character follows each other one in the training names, add one to every
# count (so nothing has probability 0), and normalise each row: row a is then the model's
# distribution of the character after a. Its loss is the mean of −log p(next | current) over the
# validation pairs, in nats per character.

# %%
counts = np.ones((27, 27))
np.add.at(counts, (train_pairs[:, 0], train_pairs[:, 1]), 1)
bigram = counts / counts.sum(axis=1, keepdims=True)
bigram_loss = -np.log(bigram[valid_pairs[:, 0], valid_pairs[:, 1]]).mean()
print(f"bigram validation loss: {bigram_loss:.3f} nats/char (uniform guessing: log 27 = {np.log(27):.3f})")

fig, ax = plt.subplots(figsize=(5.2, 5))
ax.imshow(bigram, cmap="Blues")
ax.set_xticks(range(27), list(ALPHABET))
ax.set_yticks(range(27), list(ALPHABET))
ax.set(xlabel="next character", ylabel="current character", title="bigram probabilities")
plt.show()

# %% [markdown]
# ## 2. An MLP on the last three characters
#
# Now the counts become parameters. Each of the last three characters is looked up in an embedding
# table (`nn.Embedding`: a row of 10 learned numbers per character), the three rows are concatenated
# and fed to an MLP whose 27 outputs are the logits of the next character. `F.cross_entropy` is
# log-softmax and the negative log-likelihood in one op; its gradient is softmax − onehot.

# %%
def windows(ws, size=3):
    """(the `size` previous characters, the next one) for every position of ".name."."""
    xs, ys = [], []
    for w in ws:
        seq = [0] * size + [index[c] for c in w] + [0]
        for t in range(size, len(seq)):
            xs.append(seq[t - size : t])
            ys.append(seq[t])
    return np.array(xs), np.array(ys)


X_train, Y_train = windows(train_words)
X_valid, Y_valid = windows(valid_words)


class ThreeCharacterMLP(nn.Module):
    def __init__(self, rng):
        self.embedding = nn.Embedding(27, 10, rng=rng)
        self.mlp = nn.Sequential(nn.Linear(30, 128, rng=rng), nn.Tanh(), nn.Linear(128, 27, rng=rng))

    def forward(self, x):
        return self.mlp(self.embedding(x).reshape(len(x), 30))


mlp = ThreeCharacterMLP(rng=0)
optimizer = optim.AdamW(mlp.parameters(), lr=1e-2, weight_decay=0.0)
batch_rng = np.random.default_rng(1)
start = time.perf_counter()
for _ in range(1500):
    rows = batch_rng.integers(0, len(X_train), size=128)
    loss = F.cross_entropy(mlp(X_train[rows]), Y_train[rows])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
with tg.no_grad():
    mlp_loss = F.cross_entropy(mlp(X_valid), Y_valid).item()
print(f"MLP validation loss: {mlp_loss:.3f} nats/char (bigram: {bigram_loss:.3f}); {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## 3. Temperature and masks
#
# Sampling divides the logits by a temperature T before the softmax: `softmax(z, temperature=T)`
# is softmax(z / T). T < 1 sharpens the distribution towards the most likely character, T > 1
# flattens it towards uniform; T → 0 is the argmax, T → ∞ the uniform distribution.

# %%
with tg.no_grad():
    logits = mlp(np.array([[0, 0, index["m"]]]))[0]  # after ".m"
top = np.argsort(-logits.numpy())[:8]
fig, ax = plt.subplots(figsize=(7, 2.8))
for k, temperature in enumerate([0.5, 1.0, 2.0]):
    p = logits.softmax(temperature=temperature).numpy()
    ax.bar(np.arange(8) + (k - 1) * 0.27, p[top], width=0.27, label=f"T = {temperature}")
ax.set_xticks(range(8), [ALPHABET[i] for i in top])
ax.set(ylabel="probability", title='the next character after ".m" at three temperatures')
ax.legend()
plt.show()

# %% [markdown]
# A `mask` (True = keep) removes entries from the softmax: they get probability exactly 0 and the
# rest renormalise. A row with nothing left to keep gives all zeros, not the NaN that
# `masked_fill(-inf)` followed by a softmax gives (0/0), and its gradient is zero too:

# %%
z = Tensor([[2.0, 1.0, 0.5], [0.3, -1.0, 4.0]], requires_grad=True)
mask = np.array([[True, False, True], [False, False, False]])
p = z.softmax(mask=mask)
print(p)
(p * Tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])).sum().backward()
print("gradient:", z.grad)

# %% [markdown]
# ## 4. Attention
#
# Self-attention lets each position look at the others. Every position t emits a query q_t, a key
# k_t and a value v_t (three linear maps of its vector); position t's weights over the positions s
# are a softmax of the scores q_t · k_s / √d, and its output is the weighted mean of the values:
#
# $$\mathrm{attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt d} + M\right) V .$$
#
# In a language model position t must not see the characters after it (they are what it predicts),
# so the mask M allows only s ≤ t: `is_causal=True`. Below, the weights of one head, by hand and by
# `F.scaled_dot_product_attention`:

# %%
rng = np.random.default_rng(0)
L, d = 6, 4
q, k, v = (rng.normal(size=(L, d)) for _ in range(3))
causal = np.tril(np.ones((L, L), dtype=bool))
weights = Tensor(q @ k.T / np.sqrt(d)).softmax(mask=causal).numpy()
by_hand = weights @ v
fused = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).numpy()
print("largest difference, by hand vs fused:", np.abs(by_hand - fused).max())

fig, ax = plt.subplots(figsize=(3.4, 3.2))
ax.imshow(weights, cmap="Greens")
ax.set(xlabel="attended position s", ylabel="query position t", title="causal attention weights")
plt.show()

# %% [markdown]
# The fused op's backward goes through the softmax by its own rule: with S the scores, P = softmax(S)
# and O = P V, for an upstream gradient dO,
#
# dV = Pᵀ dO,   dP = dO Vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),   dQ = dS K / √d,   dK = dSᵀ Q / √d.
#
# `gradcheck` compares all three gradients with central differences:

# %%
Q, K, V = (Tensor(rng.normal(size=(2, 5, 4)), requires_grad=True) for _ in range(3))
print("attention backward:", tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [Q, K, V]))

# %% [markdown]
# ## 5. A small transformer
#
# `examples/char_transformer.py` stacks two blocks of causal self-attention and an MLP, each behind a
# layer norm and a residual connection, over a token and a position embedding. We train it here for
# a few hundred steps and compare it with the bigram counts.

# %%
sys.path.insert(0, os.path.join("..", "examples"))
import char_transformer as ct  # noqa: E402

context = max(map(len, words)) + 1
train, valid = ct.encode(train_words, context), ct.encode(valid_words, context)
model = ct.CharTransformer(context, width=64, heads=4, blocks=2, rng=np.random.default_rng(0))
steps = 400
optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
batch_rng = np.random.default_rng(1)
# one step: loss, backward, gradient norm clipped at 1, AdamW, schedule; jit=True records it on the
# first two calls and replays it after (the same numbers as eager, with less Python per step)
train_step = ct.make_train_step(model, optimizer, schedule, jit=True)
curve = []
start = time.perf_counter()
for _ in range(steps):
    rows = batch_rng.integers(0, len(train[0]), size=64)
    curve.append(train_step(train[0][rows], train[1][rows]).item())
with tg.no_grad():
    model.eval()
    transformer_loss = ct.loss_of(model, *valid).item()
print(f"transformer validation loss: {transformer_loss:.3f} nats/char "
      f"(MLP: {mlp_loss:.3f}, bigram: {bigram_loss:.3f}); {time.perf_counter() - start:.1f} s")

fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(np.convolve(curve, np.ones(20) / 20, mode="valid"), label="transformer (training, smoothed)")
ax.axhline(bigram_loss, color="gray", linestyle="--", label="bigram (validation)")
ax.set(xlabel="step", ylabel="nats per character")
ax.legend()
plt.show()

# %% [markdown]
# Names it makes up, a character at a time from softmax(scores / T): at T = 0.5 common patterns,
# at T = 1.0 more variety (and more oddities).

# %%
sample_rng = np.random.default_rng(3)
for temperature in (0.5, 1.0):
    made_up = [ct.sample(model, context, temperature, sample_rng) for _ in range(10)]
    print(f"T = {temperature}: {', '.join(made_up)}")
