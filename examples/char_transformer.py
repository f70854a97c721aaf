"""A character-level transformer that learns to make up first names (makemore / nanoGPT style).

    python examples/char_transformer.py               # ends "validation loss: ... nats/char (bigram baseline: ...)"
    python examples/char_transformer.py --steps 300 --blocks 1

Each name becomes a sequence ``.name.`` where ``.`` marks both ends; the model reads the characters
so far and gives a score to each of the 27 possible next characters, and a softmax over that
alphabet turns the scores into the probabilities of the next character. Training minimises the
cross-entropy of the true next character, in nats per character: the number a count-based bigram
model (the next character's frequency after the current one) is compared with.

The model: a token embedding plus a position embedding, then ``--blocks`` transformer blocks

    x = x + attention(layer_norm(x))      (causal: position t looks only at positions ≤ t)
    x = x + mlp(layer_norm(x))            (Linear → GELU → Linear)

and a final layer norm and linear layer to the 27 scores. Attention is itself a softmax: each
position's query scores every earlier position's key, ``softmax(q·k / √d)`` weighs their values.
Trained with AdamW, a cosine learning-rate schedule and gradient-norm clipping. The names are the
1990 US Census first-name lists (``tinygrad_sm.data.names()``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Small matrices: one BLAS thread is faster than several (see train_classifier.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import tinygrad_sm
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.data import names
from tinygrad_sm.nn import functional as F
from tinygrad_sm.optim.lr_scheduler import CosineAnnealingLR

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (the one-line error parser of the MLP example)
from train_classifier import OneLineErrorParser  # noqa: E402

END = "."  # the start and end marker
ALPHABET = END + "abcdefghijklmnopqrstuvwxyz"
IGNORE = -100  # target of the padding after a name ends (cross_entropy's ignore_index)


def encode(words: list[str], context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``.name`` and targets ``name.`` as (len(words), context) index arrays, padded:
    the inputs with the marker, the targets with ``IGNORE`` (they contribute no loss)."""
    index = {c: i for i, c in enumerate(ALPHABET)}
    inputs = np.zeros((len(words), context), dtype=np.int64)
    targets = np.full((len(words), context), IGNORE, dtype=np.int64)
    for row, word in enumerate(words):
        sequence = [0] + [index[c] for c in word] + [0]
        inputs[row, : len(sequence) - 1] = sequence[:-1]
        targets[row, : len(sequence) - 1] = sequence[1:]
    return inputs, targets


def bigram_loss(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray]) -> float:
    """Validation nats/char of the count-based bigram model (add-one smoothed counts of the training pairs)."""
    counts = np.ones((len(ALPHABET), len(ALPHABET)))
    (inputs, targets), (valid_inputs, valid_targets) = train, valid
    used = targets != IGNORE
    np.add.at(counts, (inputs[used], targets[used]), 1)
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    used = valid_targets != IGNORE
    return float(-np.log(probabilities[valid_inputs[used], valid_targets[used]]).mean())


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions ≤ t."""

    def __init__(self, width: int, heads: int, rng: np.random.Generator):
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, rng=rng)  # queries, keys and values in one matmul
        self.out = nn.Linear(width, width, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        # (batch, length, 3·width) → three (batch, heads, length, width/heads) tensors
        qkv = self.qkv(x).reshape(batch, length, 3, self.heads, width // self.heads).transpose(2, 0, 3, 1, 4)
        mixed = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        return self.out(mixed.transpose(0, 2, 1, 3).reshape(batch, length, width))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, rng: np.random.Generator):
        self.norm1 = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, rng)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width, rng=rng), nn.GELU(), nn.Linear(4 * width, width, rng=rng))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CharTransformer(nn.Module):
    def __init__(self, context: int, width: int, heads: int, blocks: int, rng: np.random.Generator):
        self.token = nn.Embedding(len(ALPHABET), width, rng=rng)
        self.position = nn.Embedding(context, width, rng=rng)
        self.blocks = nn.Sequential(*[Block(width, heads, rng) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, len(ALPHABET), rng=rng)

    def forward(self, indices: np.ndarray) -> Tensor:
        """(batch, length) character indices → (batch, length, 27) next-character scores."""
        x = self.token(indices) + self.position(np.arange(indices.shape[1]))
        return self.head(self.norm(self.blocks(x)))


def loss_of(model: CharTransformer, inputs: np.ndarray, targets: np.ndarray) -> Tensor:
    scores = model(inputs)
    return F.cross_entropy(scores.reshape(-1, len(ALPHABET)), targets.reshape(-1), ignore_index=IGNORE)


def make_train_step(model: CharTransformer, optimizer: optim.Optimizer, schedule, jit: bool = False):
    """One step as a function of a batch: the loss of the batch, its gradients, the norm of all of
    them clipped to 1, an AdamW step and a learning-rate step; it returns the loss (a Tensor). With
    ``jit=True`` it is ``tinygrad_sm.jit(train_step)``: recorded on its first two calls, replayed after."""
    def train_step(inputs: np.ndarray, targets: np.ndarray) -> Tensor:
        model.train()
        loss = loss_of(model, inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        return loss

    return tinygrad_sm.jit(train_step) if jit else train_step


@tinygrad_sm.no_grad()
def sample(model: CharTransformer, context: int, temperature: float, rng: np.random.Generator) -> str:
    """One name, a character at a time from softmax(scores / temperature)."""
    model.eval()
    sequence = [0]
    while len(sequence) <= context:
        scores = model(np.array([sequence]))[0, -1]
        p = scores.softmax(temperature=temperature).numpy().astype(np.float64)
        nxt = int(rng.choice(len(ALPHABET), p=p / p.sum()))
        if nxt == 0:
            break
        sequence.append(nxt)
    return "".join(ALPHABET[i] for i in sequence[1:])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description="Train a character-level transformer on first names.")
    parser.add_argument("--steps", type=int, default=1000, help="optimisation steps (default: 1000)")
    parser.add_argument("--batch-size", type=int, default=64, help="names per step (default: 64)")
    parser.add_argument("--width", type=int, default=64, help="embedding width (default: 64)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default: 4)")
    parser.add_argument("--blocks", type=int, default=2, help="transformer blocks (default: 2)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (default: 0.003)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    parser.add_argument("--jit", action="store_true", help="replay the training step with tinygrad_sm.jit (same numbers, faster)")
    args = parser.parse_args(argv)
    if min(args.steps, args.batch_size, args.width, args.heads, args.blocks) < 1 or not args.lr > 0:
        parser.error("--steps, --batch-size, --width, --heads and --blocks must be >= 1, --lr > 0")
    if args.width % args.heads:
        parser.error(f"--width {args.width} must be a multiple of --heads {args.heads}")

    tinygrad_sm.manual_seed(args.seed)
    split_rng, init_rng, batch_rng, sample_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(4))
    words = names()
    order = split_rng.permutation(len(words))
    n_valid = len(words) // 10
    valid_words = [words[i] for i in order[:n_valid]]
    train_words = [words[i] for i in order[n_valid:]]
    context = max(map(len, words)) + 1  # the longest name and its end marker
    train, valid = encode(train_words, context), encode(valid_words, context)
    baseline = bigram_loss(train, valid)

    model = CharTransformer(context, args.width, args.heads, args.blocks, init_rng)
    optimizer = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    schedule = CosineAnnealingLR(optimizer, T_max=args.steps)
    n_parameters = sum(p.size for p in model.parameters())
    print(f"names: {len(train_words)} training / {len(valid_words)} validation, alphabet of {len(ALPHABET)} "
          f"(with the end marker '{END}'), context {context}")
    print(f"model: {args.blocks} block(s), width {args.width}, {args.heads} heads, {n_parameters:,} parameters; "
          f"AdamW lr={args.lr:g} (cosine schedule), gradient norm clipped at 1; {args.steps} steps of {args.batch_size} names")
    print(f"{'step':>6} {'train loss':>11} {'valid loss':>11} {'seconds':>8}   (nats per character)")

    start = time.perf_counter()
    report_every = max(1, args.steps // 10)
    train_step = make_train_step(model, optimizer, schedule, jit=args.jit)
    recent: list[float] = []
    for step in range(1, args.steps + 1):
        rows = batch_rng.integers(0, len(train[0]), size=args.batch_size)
        recent.append(train_step(train[0][rows], train[1][rows]).item())
        if step % report_every == 0 or step == args.steps:
            with tinygrad_sm.no_grad():
                model.eval()
                valid_loss = loss_of(model, *valid).item()
            print(f"{step:>6} {np.mean(recent):>11.4f} {valid_loss:>11.4f} {time.perf_counter() - start:>8.1f}")
            recent = []

    for temperature in (0.5, 1.0):
        samples = [sample(model, context, temperature, sample_rng) for _ in range(10)]
        print(f"samples at temperature {temperature}: {', '.join(samples)}")
    print(f"validation loss: {valid_loss:.2f} nats/char (bigram baseline: {baseline:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
