"""The benchmark harness runs: ``benchmarks/run.py --smoke`` exits 0 and prints its table (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_smoke_run_prints_the_table():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for expected in ("benchmark", "contender", "median µs", "vs numpy", "tinygrad_sm", "peak memory", "targets"):
        assert expected in result.stdout, result.stdout
