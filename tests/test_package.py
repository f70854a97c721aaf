"""The package as a newcomer imports it (tinygrad_sm/__init__.py): every module opens by its path."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import tinygrad_sm


def all_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(tinygrad_sm.__path__, prefix="tinygrad_sm.")]


def test_every_module_opens_as_import_a_b_as_m():
    # (a public name must never shadow a sub-module: tinygrad_sm.ops() once hid tinygrad_sm/ops/)
    names = all_modules()
    assert "tinygrad_sm.operations.softmax" in names and "tinygrad_sm.data.idx" in names
    for name in names:
        module = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        assert isinstance(getattr(sys.modules[parent], child), types.ModuleType), f"{name} is shadowed in {parent}"
        assert module is sys.modules[name]


def test_the_public_ops_function_lists_the_registered_ops():
    assert callable(tinygrad_sm.ops) and "softmax" in tinygrad_sm.ops()
    assert isinstance(tinygrad_sm.operations, types.ModuleType)


def test_import_needs_no_graphviz_until_a_picture_is_asked_for():
    code = (
        "import sys; sys.modules['graphviz'] = None\n"  # as if the graphviz package were not installed
        "import tinygrad_sm\n"
        "from tinygrad_sm import Tensor\n"
        "x = Tensor([1.0, 2.0], requires_grad=True); x.softmax().sum().backward()\n"
        "assert 'tinygrad_sm.viz' not in sys.modules\n"
        "try:\n    tinygrad_sm.viz\nexcept ImportError:\n    print('viz needs graphviz')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "viz needs graphviz"
