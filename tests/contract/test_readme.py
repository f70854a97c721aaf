"""README.md is for a newcomer: the op it quotes is the library's source, and every path it names opens."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import tinygrad_sm

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_quoted_op_is_the_source():
    blocks = re.findall(r"```python\n(@register_op\(\"softmax\"\)\n.*?)```", README, flags=re.S)
    assert blocks, "README quotes the softmax op"
    assert blocks[0] == inspect.getsource(tinygrad_sm.get_op("softmax")), (
        "README's softmax excerpt differs from tinygrad_sm/operations/softmax.py: copy the class again"
    )


def test_every_path_named_in_readme_and_docs_opens():
    texts = {"README.md": README, "docs/ARCHITECTURE.md": (ROOT / "docs" / "ARCHITECTURE.md").read_text()}
    for name, text in texts.items():
        for path in re.findall(r"`((?:tinygrad_sm|examples|notebooks|docs|benchmarks|tests)/[\w./-]+)`", text):
            assert (ROOT / path).exists(), f"{name} names {path}, which does not exist"
        for path in re.findall(r"\]\(((?:docs|notebooks)/[\w./-]+)\)", text):
            assert (ROOT / path).exists(), f"{name} links {path}, which does not exist"
