"""The example scripts, run as a user runs them: in a subprocess, with few epochs."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import nn

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "examples" / "train_classifier.py"
FINAL_LINE = re.compile(r"final test accuracy: (\d+\.\d\d)%")


def run(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def final_accuracy(stdout: str) -> float:
    match = FINAL_LINE.fullmatch(stdout.strip().splitlines()[-1])
    assert match, f"last line is not 'final test accuracy: XX.XX%':\n{stdout}"
    return float(match.group(1))


def test_digits_few_epochs_prints_epochs_confusion_matrix_and_final_accuracy(tmp_path):
    result = run(TRAIN, "--epochs", "3", "--save", "model.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    epoch_lines = [line for line in lines if re.fullmatch(r"\s+\d+\s+\d+\.\d{4}\s+\d+\.\d\d%\s+\d+\.\d\d%", line)]
    assert len(epoch_lines) == 3
    start = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix on the test set"))
    rows = [line.split() for line in lines[start + 2 : start + 12]]
    assert [int(row[0]) for row in rows] == list(range(10))
    assert sum(int(count) for row in rows for count in row[1:]) == 450  # every test sample counted once
    assert final_accuracy(result.stdout) >= 85.0  # three epochs already give about 93%

    # --load with --epochs 0 evaluates the saved weights: the same accuracy
    evaluated = run(TRAIN, "--load", "model.npz", "--epochs", "0", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert final_accuracy(evaluated.stdout) == final_accuracy(result.stdout)


def test_same_seed_same_numbers_and_another_seed_other_numbers(tmp_path):
    args = ("--dataset", "spiral", "--epochs", "5", "--print-every", "1")
    first = run(TRAIN, *args, "--seed", "3", cwd=tmp_path)
    second = run(TRAIN, *args, "--seed", "3", cwd=tmp_path)
    other = run(TRAIN, *args, "--seed", "4", cwd=tmp_path)
    assert first.returncode == second.returncode == other.returncode == 0, first.stderr + other.stderr
    assert first.stdout == second.stdout
    assert first.stdout != other.stdout


def test_plot_and_graph_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("tinygrad_sm.viz")
    result = run(TRAIN, "--dataset", "blobs", "--epochs", "2", "--plot", "curves.png", "--graph", "graph.svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "graph.svg").read_bytes()
    final_accuracy(result.stdout)


def test_spiral_defaults_reach_97_percent_training_accuracy(tmp_path):
    result = run(TRAIN, "--dataset", "spiral", cwd=tmp_path)  # measured: 99.11% in about 2 s
    assert result.returncode == 0, result.stderr
    train_line = result.stdout.strip().splitlines()[-2]
    assert re.fullmatch(r"final train accuracy: \d+\.\d\d%", train_line)
    assert float(train_line.split()[-1].rstrip("%")) >= 97.0


def test_graph_without_the_viz_module_is_a_one_line_error(tmp_path):
    hide_viz = (
        "import runpy, sys, tinygrad_sm; sys.modules['tinygrad_sm.viz'] = None; "  # None there makes the import fail
        f"sys.argv = ['train_classifier.py', '--epochs', '1', '--graph', 'graph.svg']; "
        f"runpy.run_path({str(TRAIN)!r}, run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", hide_viz], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "--graph needs tinygrad_sm.viz, which could not be imported" in result.stderr
    assert not (tmp_path / "graph.svg").exists()


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = (0x0800 | array.ndim).to_bytes(4, "big")
    header = magic + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_mnist_from_a_folder_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 40)):
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 50, size=(n, 28, 28))
        images[np.arange(n), 2 * labels, :] = 255  # a learnable stripe: the label is the row
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    result = run(TRAIN, "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "2", "--hidden", "16", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mnist: 120 training / 40 test samples, 784 features, 10 classes")
    final_accuracy(result.stdout)


@pytest.fixture
def small_model_file(tmp_path):
    path = tmp_path / "small.npz"
    tinygrad_sm.save(nn.MLP([64, 8, 10], rng=0), path)
    return path.name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
        (["--lr", "0"], "--lr must be a positive number, got 0.0"),
        (["--lr", "-0.5"], "--lr must be a positive number, got -0.5"),
        (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--dataset", "mnist"], "--dataset mnist needs --data-dir"),
        (["--dataset", "mnist", "--data-dir", "."], "MNIST train files not found in '.'"),
        (["--load", "{model}"], "size mismatch for layers.0.weight: the state dict has shape (8, 64), the model (128, 64)"),
        (["--load", "missing.npz"], "No such file or directory"),
        (["--save", "no/such/folder/model.npz"], "folder 'no/such/folder' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, small_model_file, args, message):
    args = [arg.replace("{model}", small_model_file) for arg in args]
    result = run(TRAIN, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("train_classifier.py: error: ")
    assert message in lines[0]


def test_softmax_regression_shows_agreement_and_overflow(tmp_path):
    result = run(ROOT / "examples" / "softmax_regression.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "composed: loss inf" in result.stdout and "nan" in result.stdout
    assert re.search(r"fused: +loss 42\.5000", result.stdout)
    accuracies = re.findall(r"test accuracy +(\d+\.\d\d)%", result.stdout)
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1] and float(accuracies[0]) > 90
    assert "Warning" not in result.stderr


# ----- the networks softmax lives in: a CNN, a character transformer, a softmax policy ---------
def test_cnn_few_epochs_prints_epochs_and_final_accuracy(tmp_path):
    result = run(ROOT / "examples" / "train_cnn.py", "--epochs", "2", "--channels", "8", "16", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    epoch_lines = [line for line in result.stdout.splitlines()
                   if re.fullmatch(r"\s+\d+\s+\d+\.\d{4}\s+\d+\.\d\d%\s+\d+\.\d\d%\s+\d+\.\d", line)]
    assert len(epoch_lines) == 2
    assert final_accuracy(result.stdout) >= 85.0  # two epochs already give about 95%


def test_cnn_bad_input_is_one_line(tmp_path):
    result = run(ROOT / "examples" / "train_cnn.py", "--dataset", "mnist", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("train_cnn.py: error: --dataset mnist needs --data-dir")
    assert len(result.stderr.splitlines()) == 1


def test_cnn_on_mnist_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 32)):
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 50, size=(n, 28, 28))
        images[np.arange(n), 2 * labels, :] = 255
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    result = run(ROOT / "examples" / "train_cnn.py", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                 "--channels", "4", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mnist: 64 training / 32 test images of 28x28 pixels, 10 classes")
    final_accuracy(result.stdout)


def test_char_transformer_beats_uniform_and_prints_samples_and_the_summary_line(tmp_path):
    result = run(ROOT / "examples" / "char_transformer.py", "--steps", "40", "--blocks", "1", "--width", "32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    match = re.fullmatch(r"validation loss: (\d+\.\d\d) nats/char \(bigram baseline: (\d+\.\d\d)\)", lines[-1])
    assert match, lines[-1]
    assert float(match.group(1)) < np.log(27)  # better than guessing uniformly among 27 characters
    assert 2.2 < float(match.group(2)) < 2.5  # the count-based bigram model on this split
    for temperature, line in zip(("0.5", "1.0"), lines[-3:-1]):
        assert line.startswith(f"samples at temperature {temperature}: ")
        samples = line.split(": ", 1)[1].split(", ")
        assert len(samples) == 10 and all(re.fullmatch(r"[a-z]*", s) for s in samples)


def test_reinforce_solves_cartpole_and_prints_the_random_baseline(tmp_path):
    result = run(ROOT / "examples" / "reinforce.py", cwd=tmp_path)  # measured: solved after about 600 episodes, 1-2 s
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"mean return over the last 100 episodes: (\d+\.\d) \(random policy: (\d+\.\d)\)",
                         result.stdout.strip().splitlines()[-1])
    assert match, result.stdout
    assert float(match.group(1)) >= 195.0
    assert 15.0 < float(match.group(2)) < 30.0


def _without_seconds(stdout: str) -> list[str]:
    """The printed lines, without the elapsed-seconds column of the CNN and transformer tables."""
    return [re.sub(r"\s+\d+\.\d$", "", line) for line in stdout.splitlines()]


@pytest.mark.parametrize(
    "script, args",
    [
        ("train_classifier.py", ("--dataset", "spiral", "--epochs", "3", "--print-every", "1")),
        ("train_cnn.py", ("--epochs", "2", "--channels", "4", "8")),
        ("char_transformer.py", ("--steps", "20", "--blocks", "1", "--width", "16", "--heads", "2")),
    ],
)
def test_jit_gives_the_same_numbers_as_eager(tmp_path, script, args):
    eager = run(ROOT / "examples" / script, *args, cwd=tmp_path)
    jitted = run(ROOT / "examples" / script, *args, "--jit", cwd=tmp_path)
    assert eager.returncode == 0 and jitted.returncode == 0, eager.stderr + jitted.stderr
    assert "JitWarning" not in jitted.stderr, jitted.stderr
    assert _without_seconds(jitted.stdout) == _without_seconds(eager.stdout)
