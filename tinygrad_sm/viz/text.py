"""Numbers and arrays as short text, for the trace's table, the pictures' labels and captions.

Plain text only: escaping it for a picture's HTML labels is ``draw.py``'s job.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def format_number(value: Any) -> str:
    """One number in at most three significant digits: ``0.0986``, ``-1.52``, ``1e-5``, ``3``.

    Integers are written whole and booleans as ``True``/``False``.
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    return text.replace("e-0", "e-").replace("e+0", "e+")


def format_values(values: np.ndarray | None, limit: int = 6) -> str:
    """A short text for an array: the values when at most ``limit``, else shape and min/mean/max.

    >>> format_values(np.array([2.0, 1.0, 0.1]))
    '[2, 1, 0.1]'
    >>> format_values(np.arange(10.0))
    '(10,): min 0, mean 4.5, max 9'
    """
    if values is None:
        return "—"
    values = np.asarray(values)
    if values.size <= limit:
        if values.ndim == 0:
            return format_number(values.item())
        body = np.array2string(
            values, separator=", ", formatter={"all": format_number}, max_line_width=10_000
        )
        return " ".join(body.split())
    if values.dtype.kind not in "fiub":
        return f"{values.shape} {values.dtype}"
    with np.errstate(all="ignore"):
        return (
            f"{values.shape}: min {format_number(np.min(values))}, "
            f"mean {format_number(np.mean(values))}, max {format_number(np.max(values))}"
        )


def value_lines(values: np.ndarray, prefix: str = "") -> list[str]:
    """Values as a picture writes them, after ``prefix``: all of them when few (a small matrix
    one row per line, its columns aligned), else ``min … mean … max`` on one line.

    >>> value_lines(np.array([[1.0, 2.0], [30.0, 4.0]]), "grad ")
    ['grad [[ 1, 2]', '      [30, 4]]']
    """
    values = np.asarray(values)
    if values.ndim == 2 and 1 < values.shape[0] <= 4 and values.size <= 12:
        cells = [[format_values(v) for v in row] for row in values]
        widths = [max(len(row[j]) for row in cells) for j in range(values.shape[1])]
        rows = [
            "[" + ", ".join(cell.rjust(width) for cell, width in zip(row, widths)) + "]"
            for row in cells
        ]
        indent = " " * (len(prefix) + 1)
        lines = [f"{prefix}[{rows[0]}", *(indent + row for row in rows[1:])]
        lines[-1] += "]"
        return lines
    if values.size <= 6:
        return [prefix + format_values(values)]
    with np.errstate(all="ignore"):
        low, mean, high = np.min(values), np.mean(values), np.max(values)
        # a mean that is float round-off next to the values' size (a sum of grads that cancel)
        # reads as ≈0
        tiny = bool(abs(mean) < 1e-6 * max(abs(low), abs(high)))
    middle = "≈0" if tiny else format_values(mean)
    return [f"{prefix}min {format_values(low)}  mean {middle}  max {format_values(high)}"]


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis if anything was cut.

    >>> fit("softmax", 5)
    'soft…'
    """
    return text if len(text) <= width else text[: width - 1] + "…"
