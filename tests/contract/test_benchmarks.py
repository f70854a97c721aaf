"""The benchmark harness runs: ``benchmarks/run.py --smoke`` exits 0 and prints its table (no timing is asserted),
with every workload in it and every contender computing the same numbers as the hand-written NumPy reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("MLP", "softmax", "cross_entropy", "conv2d", "max_pool2d", "layer_norm", "causal attention")
WORKLOADS += ("digits CNN", "char transformer")


def test_benchmark_smoke_run_prints_the_table():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for expected in ("benchmark", "contender", "median µs", "vs numpy", "tinygrad_sm", "peak memory", "targets"):
        assert expected in result.stdout, result.stdout
    for workload in WORKLOADS:
        assert workload in result.stdout, result.stdout
    # the check column: the same gradients (ops) or losses after 5 steps (training steps) as NumPy's
    assert "MISMATCH" not in result.stdout, result.stdout
