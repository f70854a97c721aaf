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


def module_level_imports() -> dict[str, set[str]]:
    """For each module of the package, the package modules it imports at module level (not inside functions)."""
    import ast
    from pathlib import Path

    root = Path(tinygrad_sm.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for statement in ast.parse(path.read_text()).body:  # (top level only: a late import inside a function is allowed)
            if isinstance(statement, ast.ImportFrom) and statement.level:
                base = package.rsplit(".", statement.level - 1)[0] if statement.level > 1 else package
                module = f"{base}.{statement.module}" if statement.module else base
                for alias in statement.names:
                    candidate = f"{module}.{alias.name}"
                    targets.add(candidate if candidate in all_modules() else module)
        graph[name] = {t for t in targets if t != name and t != "tinygrad_sm"}
    return graph


def test_imports_run_one_way_with_no_circle():
    # ground floor -> tensor -> function -> engine -> operations -> nn / optim / viz (docs/ARCHITECTURE.md)
    graph = module_level_imports()
    floor = {"tinygrad_sm.shapes", "tinygrad_sm.grad_mode", "tinygrad_sm.random", "tinygrad_sm._checks"}
    for module in floor:
        assert not graph[module], f"{module} is on the ground floor but imports {graph[module]}"
    assert "tinygrad_sm.operations" not in {t.rsplit(".", 1)[0] for t in graph["tinygrad_sm.autograd"]}
    visiting, done = set(), set()

    def visit(module, path):
        assert module not in visiting, f"import circle: {' -> '.join([*path, module])}"
        if module in done:
            return
        visiting.add(module)
        for target in graph.get(module, ()):
            visit(target, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])


def test_the_pure_pip_renderer_is_a_dependency_where_it_has_wheels():
    """pip install alone gives a renderer: graphviz-pure is a dependency, with the platforms its
    wheels exist for (Linux x86_64/aarch64, macOS, Windows x64) as its environment marker."""
    from pathlib import Path

    import tomllib
    from packaging.requirements import Requirement

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    renderer = next(Requirement(r) for r in project["dependencies"] if r.startswith("graphviz-pure"))
    where = {
        ("linux", "x86_64"): True,
        ("linux", "aarch64"): True,
        ("darwin", "arm64"): True,
        ("darwin", "x86_64"): True,
        ("win32", "AMD64"): True,
        ("linux", "armv7l"): False,
        ("win32", "ARM64"): False,
    }
    for (platform, machine), expected in where.items():
        assert renderer.marker.evaluate({"sys_platform": platform, "platform_machine": machine}) is expected
