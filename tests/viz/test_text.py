"""tinygrad_sm/viz/text.py: numbers and arrays as the short text of tables, labels and captions."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_sm.viz.text import fit, format_number, format_values, value_lines


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (-0.0, "0"), (1.0, "1"), (0.098566, "0.0986"), (-1.5197, "-1.52"),
     (1e-5, "1e-5"), (123456.0, "1.23e+5"), (np.float32(2.5), "2.5"), (7, "7"),
     (np.int64(-3), "-3"), (True, "True"), (np.bool_(False), "False"), (float("nan"), "nan"),
     (float("-inf"), "-inf")],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_values_writes_few_values_and_summarises_many():
    assert format_values(None) == "—"
    assert format_values(np.float32(1.5)) == "1.5"
    assert format_values(np.array([2.0, 1.0, 0.1], dtype=np.float32)) == "[2, 1, 0.1]"
    assert format_values(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1, 2], [3, 4]]"
    assert format_values(np.arange(10.0)) == "(10,): min 0, mean 4.5, max 9"
    assert format_values(np.arange(10.0), limit=10).startswith("[0, 1, 2")
    assert format_values(np.array(["a"] * 8)) == "(8,) <U1"  # no min/mean/max of text
    assert format_values([True, False]) == "[True, False]"


def test_value_lines_for_a_picture():
    assert value_lines(np.array([2.0, 1.0, 0.1])) == ["[2, 1, 0.1]"]
    assert value_lines(np.array(3.0), "grad ") == ["grad 3"]
    # a small matrix: one row per line, columns aligned under the prefix
    assert value_lines(np.array([[1.0, -2.0], [30.0, 4.0]]), "grad ") == [
        "grad [[ 1, -2]",
        "      [30,  4]]",
    ]
    assert value_lines(np.arange(100.0).reshape(10, 10)) == ["min 0  mean 49.5  max 99"]
    # a mean that is round-off next to the values' size reads as ≈0
    assert value_lines(np.array([1.0, -1.0] * 4) + [1e-12, 0] * 4) == ["min -1  mean ≈0  max 1"]


def test_fit_cuts_with_an_ellipsis():
    assert fit("softmax", 7) == "softmax"
    assert fit("softmax", 5) == "soft…"
    assert len(fit("x" * 100, 48)) == 48
