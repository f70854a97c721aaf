"""The benchmark harness runs: ``benchmarks/run.py --smoke`` exits 0 and prints its tables (no timing is asserted),
with every workload in them and every contender computing the same numbers as the hand-written NumPy reference;
the optional contenders (PyTorch, JAX, tinygrad_sm's jit) are left out cleanly, with the reason, when missing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("MLP", "softmax", "cross_entropy", "conv2d", "max_pool2d", "layer_norm", "causal attention")
WORKLOADS += ("digits CNN", "char transformer")


def smoke_run(*options: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--quiet", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_benchmark_smoke_run_prints_the_tables():
    out = smoke_run()
    for expected in ("benchmark", "contender", "median µs", "vs numpy", "tinygrad_sm", "peak memory", "targets"):
        assert expected in out, out
    # two tables from the one run: eager (ratios to PyTorch) and jit (ratios to JAX), and the targets of both
    for expected in ("eager:", "jit:", "vs torch", "vs jax", "tinygrad_sm jit", "targets, eager", "targets, jit"):
        assert expected in out, out
    if importlib.util.find_spec("jax") is not None:
        assert "jax jit (fused)" in out, out  # XLA fuses the chain of elementwise ops: labelled so
    for workload in WORKLOADS:
        assert workload in out, out
    # the check column: the same gradients (ops) or losses after 5 steps (training steps) as NumPy's
    assert "MISMATCH" not in out, out


def test_benchmark_smoke_run_without_the_optional_contenders(tmp_path):
    # a jax that cannot be imported (shadowing an installed one), PyTorch and the jit left out by option
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "__init__.py").write_text('raise ImportError("no jax here (a test)")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(tmp_path), os.environ.get("PYTHONPATH"))))}
    out = smoke_run("--no-torch", "--no-jit", env=env)
    assert "jax jit not run: jax is not installed" in out, out
    assert "tinygrad_sm jit not run: left out" in out, out
    assert "torch not run: left out" in out, out
    for workload in WORKLOADS:
        assert workload in out, out
    assert "MISMATCH" not in out, out
