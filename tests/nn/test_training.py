"""A short, bounded end-to-end training run: MLP + SGD with momentum on the digits reaches >= 95% test accuracy."""

from __future__ import annotations

import time

import numpy as np

import tinygrad_sm
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.data import batches, digits, train_test_split


def train_digits(seed: int, epochs: int) -> tuple[nn.MLP, float, list[float]]:
    X, y = digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, rng=seed)
    model = nn.MLP([64, 128, 64, 10], rng=seed)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    shuffle = np.random.default_rng(seed)
    epoch_losses = []
    for _ in range(epochs):
        model.train()
        total = 0.0
        for x, target in batches(X_train, y_train, 32, rng=shuffle):
            loss = loss_fn(model(Tensor(x)), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
        epoch_losses.append(total / len(X_train))
    model.eval()
    with tinygrad_sm.no_grad():
        accuracy = float(np.mean(model(Tensor(X_test)).numpy().argmax(axis=1) == y_test))
    return model, accuracy, epoch_losses


def test_mlp_on_digits_reaches_95_percent_held_out_accuracy_in_a_few_seconds():
    start = time.perf_counter()
    # measured: 97.6% in about 0.2 s (seeds 0-7 give 96.7-99.1%)
    model, accuracy, losses = train_digits(seed=0, epochs=12)
    elapsed = time.perf_counter() - start
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f} after 12 epochs"
    assert losses[-1] < 0.35 * losses[0]  # with label smoothing 0.1 the loss cannot go much below 0.5
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert elapsed < 10, f"12 epochs took {elapsed:.1f} s"


def test_training_is_reproducible_from_its_seeds():
    first, accuracy_1, losses_1 = train_digits(seed=3, epochs=1)
    second, accuracy_2, losses_2 = train_digits(seed=3, epochs=1)
    assert losses_1 == losses_2 and accuracy_1 == accuracy_2
    assert all(np.array_equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
