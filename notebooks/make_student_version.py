"""Make the student version of the exercises: the same notebook with the solutions taken out.

    python notebooks/make_student_version.py

reads ``notebooks/04_exercises.ipynb`` and writes ``notebooks/student/04_exercises_student.ipynb``.
In every cell tagged ``solution`` each function keeps its signature and docstring, and its body
becomes ``raise NotImplementedError("write the backward rule for <exercise>")``, where
``<exercise>`` is the cell's ``exercise`` metadata. Outputs are cleared. The check cells catch
that error and print "✗ <exercise>: not written yet", so the student version runs top to bottom.
"""

from __future__ import annotations

import ast
import copy
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "04_exercises.ipynb"
TARGET = HERE / "student" / "04_exercises_student.ipynb"

NOTE = """\
> **Student version.** Made from `../04_exercises.ipynb` by `python notebooks/make_student_version.py`,
> which overwrites this file: save your work under another name. Fill in each ✏️ cell, then run the
> check cell below it."""


def stub(source: str, exercise: str) -> str:
    """The solution cell ``source`` with every function body replaced by a NotImplementedError."""
    tree = ast.parse(source)
    lines = source.splitlines()
    stubs = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            raise ValueError(
                f"exercise {exercise!r}: a solution cell may hold only function definitions, "
                f"found {type(node).__name__} on line {node.lineno}"
            )
        first = node.body[0]
        keep_until = first.end_lineno if ast.get_docstring(node) is not None else first.lineno - 1
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        indent = " " * first.col_offset
        stubs.append("\n".join([
            *lines[start - 1 : keep_until],
            f"{indent}# ✏️ your code here",
            f'{indent}raise NotImplementedError("write the backward rule for {exercise}")',
        ]))
    if not stubs:
        raise ValueError(f"exercise {exercise!r}: the solution cell defines no function")
    return "\n\n\n".join(stubs)


def student_version(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the exercises notebook with the solutions stubbed out and no outputs."""
    student = copy.deepcopy(notebook)
    solutions = 0
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        tags = cell.metadata.get("tags", [])
        if "solution" in tags:
            exercise = cell.metadata.get("exercise")
            if not exercise:
                raise ValueError(f"cell {cell.get('id')}: a solution cell needs 'exercise' in its metadata")
            cell.source = stub(cell.source, exercise)
            cell.metadata["tags"] = ["exercise" if tag == "solution" else tag for tag in tags]
            solutions += 1
    if not solutions:
        raise ValueError("no cell is tagged 'solution': nothing to take out")
    note = nbformat.v4.new_markdown_cell(NOTE, id="student-note")
    student.cells.insert(1, note)
    student.metadata.pop("language_info", None)
    student.metadata["language_info"] = {"name": "python"}
    return student


def write_student_version(source: Path = SOURCE, target: Path = TARGET) -> Path:
    student = student_version(nbformat.read(source, as_version=4))
    nbformat.validate(student)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, target)
    return target


if __name__ == "__main__":
    written = write_student_version()
    print(f"wrote {written}")
    sys.exit(0)
