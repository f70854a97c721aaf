"""The teaching notebooks run, top to bottom, in a fresh kernel, as a reader runs them.

Every ``notebooks/*.ipynb`` and the student version of the exercises is executed with nbclient
(kernel ``python3``, working folder the notebook's own). The committed files are checked too:
they carry their outputs, they match their sources (the jupytext scripts ``notebooks/src/*.py``,
as ``notebooks/build_notebooks.py`` converts them), and the student version is what
``notebooks/make_student_version.py`` makes from the exercises.
"""

from __future__ import annotations

import copy
import importlib.util
import time
from pathlib import Path

import pytest

NEEDS = 'the notebook tests need nbformat, nbclient, ipykernel and jupytext: pip install -e ".[test]" (or ".[notebooks]")'
nbformat = pytest.importorskip("nbformat", reason=NEEDS)
pytest.importorskip("nbclient", reason=NEEDS)
pytest.importorskip("ipykernel", reason=NEEDS)
pytest.importorskip("jupytext", reason=NEEDS)
from nbclient.exceptions import CellExecutionError  # noqa: E402  (after the skip)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student" / "04_exercises_student.ipynb"
EXERCISES = NOTEBOOKS / "04_exercises.ipynb"
SECONDS_PER_NOTEBOOK = 60  # each takes a few seconds; CI must stay fast
MAX_TOTAL_BYTES = 2_000_000


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"notebooks_{name}", NOTEBOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = load_script("build_notebooks")
student_maker = load_script("make_student_version")
COMMITTED = sorted(NOTEBOOKS.glob("*.ipynb"))


def read(path: Path):
    return nbformat.read(path, as_version=4)


def outputs(notebook, output_type: str | None = None):
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
            if output_type is None or o.output_type == output_type]


def mime_types(notebook) -> set[str]:
    return {kind for o in outputs(notebook) for kind in o.get("data", {})}


def stdout(notebook) -> str:
    return "".join(o.text for o in outputs(notebook, "stream") if o.name == "stdout")


def run(path: Path):
    """Execute a fresh copy of the notebook at ``path`` in its own folder; fail with the cell's error."""
    notebook = read(path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    try:
        builder.execute(notebook, path.parent)
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}")
    seconds = time.perf_counter() - start
    assert seconds < SECONDS_PER_NOTEBOOK, f"{path.name} took {seconds:.0f} s (budget: {SECONDS_PER_NOTEBOOK} s)"
    assert not outputs(notebook, "error")
    warnings = [o.text for o in outputs(notebook, "stream") if o.name == "stderr" and "Warning" in o.text]
    assert not warnings, f"{path.name} printed warnings:\n" + "\n".join(warnings)
    return notebook


def test_the_six_notebooks_are_there():
    assert [p.name for p in COMMITTED] == list(builder.NOTEBOOKS), "notebooks/*.ipynb and notebooks/src/*.py disagree"
    assert STUDENT.exists()


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_notebook_runs_top_to_bottom(path):
    executed = run(path)
    # what the committed notebook shows (figures, graph pictures) is still produced
    missing = mime_types(read(path)) - mime_types(executed)
    assert not missing, f"{path.name} no longer produces {sorted(missing)}"


def solution_exercises(notebook) -> list[str]:
    return [cell.metadata["exercise"] for cell in notebook.cells if "solution" in cell.metadata.get("tags", [])]


def test_exercises_with_solutions_all_pass():
    committed = read(EXERCISES)
    exercises = solution_exercises(committed)
    assert exercises == ["sigmoid", "logsumexp", "softmax", "cross_entropy", "matmul"]
    text = stdout(committed)
    for name in exercises:
        assert f"✓ {name}: gradient matches" in text
    assert "✗ demo: a wrong sigmoid: gradient wrong at element" in text  # what a wrong rule looks like
    assert f"{len(exercises)} of {len(exercises)} exercises pass" in text


def test_student_version_runs_and_names_every_unsolved_exercise():
    executed = run(STUDENT)
    text = stdout(executed)
    exercises = solution_exercises(read(EXERCISES))
    for name in exercises:
        assert f"✗ {name}: not written yet" in text, f"the student version does not report {name!r}:\n{text}"
        assert f"✓ {name}" not in text
    assert f"0 of {len(exercises)} exercises pass" in text
    assert "Finish the exercises above" in text


def test_committed_notebooks_carry_their_outputs():
    for path in COMMITTED:
        notebook = read(path)
        nbformat.validate(notebook)
        counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not run top to bottom in one go: {counts}"
        assert not outputs(notebook, "error"), f"{path.name} holds an error output"
        assert outputs(notebook), f"{path.name} has no outputs"
    assert "image/png" in mime_types(read(NOTEBOOKS / "01_softmax_and_its_gradient.ipynb"))
    assert "image/svg+xml" in mime_types(read(NOTEBOOKS / "02_autograd_from_the_inside.ipynb"))
    assert {"image/png", "image/svg+xml"} <= mime_types(read(NOTEBOOKS / "03_train_a_classifier.ipynb"))
    assert {"image/png", "image/svg+xml"} <= mime_types(read(NOTEBOOKS / "05_convolution.ipynb"))
    assert "image/png" in mime_types(read(NOTEBOOKS / "06_attention_and_next_character.ipynb"))
    total = sum(path.stat().st_size for path in [*COMMITTED, STUDENT])
    assert total < MAX_TOTAL_BYTES, f"the notebooks take {total:,} bytes; keep them under {MAX_TOTAL_BYTES:,}"


def cells(notebook) -> list[tuple]:
    return [(cell.cell_type, cell.source, cell.metadata.get("tags"), cell.metadata.get("exercise")) for cell in notebook.cells]


@pytest.mark.parametrize("name", list(builder.NOTEBOOKS))
def test_committed_notebook_matches_its_source(name):
    script = builder.NOTEBOOKS[name]
    built = builder.build(script)
    assert cells(read(NOTEBOOKS / name)) == cells(built), (
        f"notebooks/{name} differs from notebooks/src/{script.name}: run python notebooks/build_notebooks.py {name[:2]}"
    )


def test_student_version_is_up_to_date_and_has_no_outputs():
    committed = read(STUDENT)
    assert cells(committed) == cells(student_maker.student_version(read(EXERCISES))), (
        "the student version is stale: run python notebooks/make_student_version.py"
    )
    assert not outputs(committed)
    assert all(cell.execution_count is None for cell in committed.cells if cell.cell_type == "code")


def test_stub_keeps_the_signature_and_docstring_and_raises():
    solution = (
        'def sigmoid_backward(ctx, grad):\n    """The docstring."""\n'
        "    (s,) = ctx.saved_tensors\n    return grad * s * (1 - s)\n"
    )
    stub = student_maker.stub(solution, "sigmoid")
    assert stub.startswith('def sigmoid_backward(ctx, grad):\n    """The docstring."""\n')
    assert "saved_tensors" not in stub
    namespace: dict = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="write the backward rule for sigmoid"):
        namespace["sigmoid_backward"](None, None)


def test_solution_cells_may_hold_only_functions():
    with pytest.raises(ValueError, match="only function definitions"):
        student_maker.stub("import numpy as np\ndef f(ctx, grad):\n    return grad\n", "f")
    with pytest.raises(ValueError, match="needs 'exercise'"):
        notebook = copy.deepcopy(read(EXERCISES))
        next(c for c in notebook.cells if "solution" in c.metadata.get("tags", [])).metadata.pop("exercise")
        student_maker.student_version(notebook)
