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


def test_the_jit_listing_is_what_print_shows():
    import numpy as np

    from tinygrad_sm import Tensor, nn, optim

    model = nn.MLP([2, 16, 3], rng=0)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @tinygrad_sm.jit
    def train_step(x, y):
        loss = model(Tensor(x)).cross_entropy(y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(0)
    for _ in range(3):
        train_step(rng.standard_normal((32, 2)).astype(np.float32), rng.integers(0, 3, 32))
    block = re.search(r"```\n(jit\(train_step\).*?)```", README, flags=re.S)
    assert block, "README shows print(train_step)"

    def without_sites(text: str) -> list[str]:
        return [re.sub(r"\s+# \S+:\d+ .*$", "", line) for line in text.strip().splitlines()]

    assert without_sites(block.group(1)) == without_sites(str(train_step))
    source = train_step.source
    for line in re.search(r"```python\n(def replay\(inputs\):.*?)```", README, flags=re.S).group(1).splitlines():
        assert line.strip() == "..." or line in source, line
