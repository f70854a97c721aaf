"""Train a multi-class classifier end to end with tinygrad_sm.

    python examples/train_classifier.py                      # an MLP on the 8x8 digits (>= 96% test accuracy)
    python examples/train_classifier.py --dataset spiral --plot curves.png
    python examples/train_classifier.py --dataset mnist --data-dir ~/data/mnist
    python examples/train_classifier.py --save model.npz     # later: --load model.npz --epochs 0

Prints, per epoch, the mean training loss and the train/test accuracy, then the
test confusion matrix, and ends with ``final test accuracy: XX.XX%``.
The same ``--seed`` gives the same numbers: every random draw (data, split,
initialisation, shuffling) comes from a generator derived from the seed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

# These matrices are small: one BLAS thread is faster than several, and OpenBLAS threads busy-wait
# when the CPU is shared (measured 5-10x slower on a busy 2-core machine). A value already set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from tqdm import tqdm

import tinygrad_sm
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.data import batches, blobs, digits, mnist, spiral, train_test_split

# Per-dataset defaults, chosen by measuring several seeds (digits: >= 97% test accuracy; spiral: >= 99% training accuracy).
DEFAULTS = {
    "digits": {"hidden": [128, 64], "epochs": 25, "batch_size": 32, "optimizer": "sgd", "label_smoothing": 0.1,
               "print_every": 1},
    "spiral": {"hidden": [64, 64, 64], "epochs": 400, "batch_size": 32, "optimizer": "adam", "label_smoothing": 0.0,
               "print_every": 25},
    "blobs": {"hidden": [16], "epochs": 30, "batch_size": 32, "optimizer": "adam", "label_smoothing": 0.0, "print_every": 1},
    "mnist": {"hidden": [128, 64], "epochs": 5, "batch_size": 64, "optimizer": "adam", "label_smoothing": 0.0, "print_every": 1},
}
DEFAULT_LR = {
    "digits": {"sgd": 0.05, "adam": 1e-3},
    "spiral": {"sgd": 0.05, "adam": 3e-3},
    "blobs": {"sgd": 0.05, "adam": 1e-2},
    "mnist": {"sgd": 0.05, "adam": 1e-3},
}
EVAL_BATCH = 4096  # rows per forward pass when measuring accuracy (bounds memory on MNIST)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (no usage block) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description="Train an MLP classifier with tinygrad_sm.")
    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="digits", help="which data to learn (default: digits)")
    parser.add_argument("--data-dir", type=Path, help="folder with the MNIST IDX files (for --dataset mnist)")
    parser.add_argument("--hidden", type=int, nargs="*", metavar="N", help="hidden layer sizes (digits default: 128 64)")
    parser.add_argument("--epochs", type=int, help="passes over the training set (0: only evaluate, with --load)")
    parser.add_argument("--batch-size", type=int, help="samples per optimisation step")
    parser.add_argument("--lr", type=float, help="learning rate (> 0)")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], help="sgd (with --momentum) or adam")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty added to the gradient (default: 0)")
    parser.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing in [0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    parser.add_argument("--print-every", type=int, metavar="K", help="print one line every K epochs (and the last)")
    parser.add_argument("--save", type=Path, metavar="PATH", help="save the trained weights (.npz)")
    parser.add_argument("--load", type=Path, metavar="PATH", help="start from saved weights (.npz) to resume or evaluate")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="save loss/accuracy curves (+ decision boundary for 2-D data)")
    parser.add_argument("--graph", type=Path, metavar="PATH", help="save the graph of one training step's loss (e.g. graph.svg)")
    parser.add_argument("--jit", action="store_true", help="replay the training step with tinygrad_sm.jit (same numbers, faster)")
    return parser


def parse_args(parser: OneLineErrorParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, fill in the per-dataset defaults, and check every value (bad input: parser.error)."""
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.dataset]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.dataset][args.optimizer]

    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if args.epochs < 0:
        parser.error(f"--epochs must be >= 0, got {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if any(size < 1 for size in args.hidden):
        parser.error(f"--hidden sizes must be >= 1, got {' '.join(map(str, args.hidden))}")
    if not (math.isfinite(args.momentum) and args.momentum >= 0):
        parser.error(f"--momentum must be >= 0, got {args.momentum}")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        parser.error(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if not 0.0 <= args.label_smoothing <= 1.0:
        parser.error(f"--label-smoothing must be in [0, 1], got {args.label_smoothing}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.print_every < 1:
        parser.error(f"--print-every must be >= 1, got {args.print_every}")
    if args.dataset == "mnist" and args.data_dir is None:
        parser.error("--dataset mnist needs --data-dir (a folder with the MNIST IDX files)")
    if args.dataset != "mnist" and args.data_dir is not None:
        parser.error(f"--data-dir is only used with --dataset mnist, not {args.dataset}")
    for option in ("save", "plot", "graph"):
        path = getattr(args, option)
        if path is not None and not path.parent.is_dir():
            parser.error(f"--{option} {path}: folder {str(path.parent)!r} does not exist")
    return args


def load_data(args: argparse.Namespace, parser: OneLineErrorParser, data_rng: np.random.Generator,
              split_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, X_test, y_train, y_test`` for the chosen dataset (MNIST keeps its official test split)."""
    if args.dataset == "mnist":
        try:
            X_train, y_train = mnist(args.data_dir, split="train")
            X_test, y_test = mnist(args.data_dir, split="test")
        except (OSError, ValueError) as error:
            parser.error(f"--data-dir: {error}")
        return X_train, X_test, y_train, y_test
    if args.dataset == "digits":
        X, y = digits()
    elif args.dataset == "spiral":
        X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, rng=data_rng)
    else:
        X, y = blobs(n_per_class=100, n_classes=3, rng=data_rng)
    return train_test_split(X, y, test_size=0.25, rng=split_rng)


@tinygrad_sm.no_grad()
def predict(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Predicted class of every row of ``X`` (evaluation mode, no graph)."""
    model.eval()
    chunks = [model(Tensor(X[start : start + EVAL_BATCH])).data.argmax(axis=1) for start in range(0, len(X), EVAL_BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of class i predicted as class j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def format_confusion(counts: np.ndarray) -> str:
    width = max(4, len(str(counts.max())) + 1)
    lines = ["confusion matrix on the test set (rows: true class, columns: predicted):"]
    lines.append(" " * 6 + "".join(f"{j:>{width}}" for j in range(len(counts))))
    for i, row in enumerate(counts):
        lines.append(f"{i:>5} " + "".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)


def make_train_step(model: nn.Module, loss_fn: nn.Module, optimizer: optim.Optimizer, schedule=None, jit: bool = False):
    """One optimisation step as a function of a batch: forward, loss, zero-grad, backward, step, and the
    learning-rate ``schedule``'s step if given; it returns the loss (a Tensor). With ``jit=True`` it is
    ``tinygrad_sm.jit(train_step)``: recorded on its first two calls with each batch shape, replayed after."""
    def train_step(x: np.ndarray, y: np.ndarray) -> Tensor:
        loss = loss_fn(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        return loss

    return tinygrad_sm.jit(train_step) if jit else train_step


def train_epoch(model: nn.Module, train_step, epoch_batches, steps: int, desc: str) -> float:
    """One pass over ``epoch_batches`` with ``train_step`` (``make_train_step``) behind a progress bar;
    returns the mean training loss per sample."""
    model.train()
    total_loss, seen = 0.0, 0
    progress = tqdm(epoch_batches, total=steps, desc=desc, unit="batch", leave=False, disable=None)
    for x, y in progress:
        loss = train_step(x, y)
        total_loss += loss.item() * len(x)
        seen += len(x)
        if not progress.disable:
            progress.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    progress.close()
    return total_loss / max(seen, 1)


def draw_step_graph(args: argparse.Namespace, parser: OneLineErrorParser, model: nn.Module, loss_fn: nn.Module,
                    X_train: np.ndarray, y_train: np.ndarray) -> None:
    """Draw the graph of one training step's loss (gradients included) to ``args.graph``."""
    try:
        from tinygrad_sm.viz import draw_graph
    except ImportError as error:
        parser.error(f"--graph needs tinygrad_sm.viz, which could not be imported: {error}")
    x, y = X_train[: args.batch_size], y_train[: args.batch_size]
    loss = loss_fn(model(Tensor(x)), y)
    loss.backward()
    try:
        picture = draw_graph(loss, names=dict(model.named_parameters()))
        image = picture.pipe(format=args.graph.suffix.lstrip(".").lower() or "svg")
    except Exception as error:  # a missing renderer, an unknown format, ...: one line, not a traceback
        parser.error(f"--graph {args.graph}: could not draw the graph: {type(error).__name__}: {error}".replace("\n", " "))
    finally:
        model.zero_grad()
    args.graph.write_bytes(image)
    print(f"graph of one training step written to {args.graph}")


def save_plot(args: argparse.Namespace, history: dict[str, list[float]], model: nn.Module, X_train: np.ndarray,
              y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray) -> None:
    """Loss and accuracy per epoch; for 2-D inputs also the decision regions with the samples on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    two_d = X_train.shape[1] == 2
    fig, axes = plt.subplots(1, 3 if two_d else 2, figsize=(15 if two_d else 10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, history["loss"])
    axes[0].set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    axes[1].plot(epochs, 100 * np.array(history["train_acc"]), label="train")
    axes[1].plot(epochs, 100 * np.array(history["test_acc"]), label="test")
    axes[1].set(title="accuracy", xlabel="epoch", ylabel="%")
    axes[1].legend()
    if two_d:
        X_all = np.concatenate([X_train, X_test])
        low, high = X_all.min(axis=0) - 0.3, X_all.max(axis=0) + 0.3
        gx, gy = np.meshgrid(np.linspace(low[0], high[0], 300), np.linspace(low[1], high[1], 300))
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        regions = predict(model, grid).reshape(gx.shape)
        axes[2].contourf(gx, gy, regions, alpha=0.3, cmap="viridis", levels=np.arange(regions.max() + 2) - 0.5)
        points = {"cmap": "viridis", "edgecolors": "k", "linewidths": 0.3}
        axes[2].scatter(X_train[:, 0], X_train[:, 1], c=y_train, s=12, label="train", **points)
        axes[2].scatter(X_test[:, 0], X_test[:, 1], c=y_test, s=22, marker="^", label="test", **points)
        axes[2].set(title="decision boundary", xlabel="x₁", ylabel="x₂")
        axes[2].legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    plt.close(fig)
    print(f"curves written to {args.plot}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)

    # One seed, independent streams: the data, the split, the initial weights and the batch order.
    tinygrad_sm.manual_seed(args.seed)
    data_rng, split_rng, init_rng, shuffle_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(4))

    X_train, X_test, y_train, y_test = load_data(args, parser, data_rng, split_rng)
    n_features = X_train.shape[1]
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = nn.MLP([n_features, *args.hidden, n_classes], rng=init_rng)
    if args.load is not None:
        try:
            model.load_state_dict(tinygrad_sm.load(args.load))
        except (OSError, ValueError) as error:
            parser.error(f"--load {args.load}: {error}")
        except RuntimeError as error:  # names or shapes differ from this model
            parser.error(f"--load {args.load}: {error} (saved with other --hidden sizes or another --dataset?)")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    if args.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
        settings = f"sgd lr={args.lr:g} momentum={args.momentum:g}"
    else:
        optimizer = optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        settings = f"adam lr={args.lr:g}"
    if args.weight_decay:
        settings += f" weight_decay={args.weight_decay:g}"
    if args.label_smoothing:
        settings += f", label smoothing {args.label_smoothing:g}"

    n_parameters = sum(p.size for p in model.parameters())
    print(f"{args.dataset}: {len(X_train)} training / {len(X_test)} test samples, {n_features} features, {n_classes} classes")
    print(f"model: MLP {'-'.join(map(str, model.sizes))} ({n_parameters:,} parameters); {settings}; "
          f"{args.epochs} epoch{'s' if args.epochs != 1 else ''} of batches of {args.batch_size}; seed {args.seed}")

    if args.graph is not None:
        draw_step_graph(args, parser, model, loss_fn, X_train, y_train)

    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}
    if args.epochs:
        print(f"{'epoch':>7} {'loss':>9} {'train acc':>10} {'test acc':>9}")
    steps_per_epoch = math.ceil(len(X_train) / args.batch_size)
    train_step = make_train_step(model, loss_fn, optimizer, jit=args.jit)
    for epoch in range(1, args.epochs + 1):
        epoch_batches = batches(X_train, y_train, args.batch_size, rng=shuffle_rng)
        history["loss"].append(train_epoch(model, train_step, epoch_batches, steps_per_epoch, f"epoch {epoch}/{args.epochs}"))
        history["train_acc"].append(float(np.mean(predict(model, X_train) == y_train)))
        history["test_acc"].append(float(np.mean(predict(model, X_test) == y_test)))
        if epoch % args.print_every == 0 or epoch in (1, args.epochs):
            print(f"{epoch:>7} {history['loss'][-1]:>9.4f} {100 * history['train_acc'][-1]:>9.2f}% "
                  f"{100 * history['test_acc'][-1]:>8.2f}%")

    test_predictions = predict(model, X_test)
    train_accuracy = float(np.mean(predict(model, X_train) == y_train))
    test_accuracy = float(np.mean(test_predictions == y_test))
    print(format_confusion(confusion_matrix(y_test, test_predictions, n_classes)))
    if args.save is not None:
        tinygrad_sm.save(model, args.save)
        print(f"weights saved to {args.save}")
    if args.plot is not None:
        save_plot(args, history, model, X_train, y_train, X_test, y_test)
    print(f"final train accuracy: {100 * train_accuracy:.2f}%")
    print(f"final test accuracy: {100 * test_accuracy:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
