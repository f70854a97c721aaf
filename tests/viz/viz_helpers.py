"""What the tests of tinygrad_sm.viz share: a small graph, counting the nodes of DOT text, and
marks for tests that need a renderer. (pytest puts tests/viz/ on sys.path, so the test files
here import it as ``viz_helpers``.)"""

from __future__ import annotations

import re

import pytest

from tinygrad_sm import Tensor
from tinygrad_sm.viz import available_renderers
from tinygrad_sm.viz import render as render_module

RENDERERS = available_renderers()
needs_renderer = pytest.mark.skipif(
    not RENDERERS, reason="neither dot nor graphviz-pure is installed"
)
every_renderer = pytest.mark.parametrize(
    "program",
    [pytest.param(name, marks=pytest.mark.skipif(name not in RENDERERS,
                                                 reason=f"{name} not installed"))
     for name in render_module.RENDERERS],
)


def softmax_loss():
    logits = Tensor([2.0, 1.0, 0.1], requires_grad=True, name="logits")
    p = logits.softmax()
    loss = -p[0].log()
    return logits, p, loss


def node_count(source: str) -> int:
    """Nodes declared in DOT text written by draw_graph (one `key [label=...]` line each)."""
    return len(re.findall(r"^\s+\w+ \[label=", source, flags=re.MULTILINE))


def tensor_labels(source: str) -> list[str]:
    return re.findall(r"^\s+t\d+ \[label=(.*)$", source, flags=re.MULTILINE)
