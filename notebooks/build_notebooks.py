"""Build the teaching notebooks from their sources in ``src/``, run them, and save them with their outputs.

    python notebooks/build_notebooks.py                 # all of them, then the student version of 04
    python notebooks/build_notebooks.py 02 04           # only the notebooks whose names start so

The source of ``notebooks/NAME.ipynb`` is ``notebooks/src/NAME.py``, a jupytext "percent" script:
``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell (its lines commented with ``# ``),
and ``# %% tags=["solution"] exercise="sigmoid"`` gives a cell its metadata. Edit the script, run
this file, commit both. jupytext turns each script into a notebook, which is executed top to bottom
in a fresh ``python3`` kernel whose working folder is ``notebooks/`` (as ``tests/test_notebooks.py``
does), so every number and picture stored in it was made by the library on this run.
``make_student_version.py`` then writes ``student/04_exercises_student.ipynb``: the exercises with
the solutions taken out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCES = HERE / "src"
KERNEL = "python3"
CELL_TIMEOUT = 120  # seconds per cell; every notebook runs in well under a minute

# notebook file name -> its source script, in order
NOTEBOOKS = {f"{script.stem}.ipynb": script for script in sorted(SOURCES.glob("*.py"))}


def build(script: Path) -> nbformat.NotebookNode:
    """The notebook (without outputs) that the percent script ``script`` describes.

    Cell ids are numbered by position (``01-00``, ``01-01``, ...), so rebuilding changes no id;
    the notebook's metadata names the kernel and nothing else (no jupytext header).
    """
    notebook = jupytext.read(script, fmt="py:percent")
    notebook.metadata = nbformat.from_dict({
        "kernelspec": {"name": KERNEL, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{script.stem[:2]}-{index:02d}"
    return notebook


def kernel_environment() -> dict[str, str]:
    """The kernel's environment: this checkout importable first, one BLAS thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend draws the figures into the notebook
    return env


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a fresh ``python3`` kernel started in ``cwd``; raises at the first failing cell."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=kernel_environment())
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="build only the notebooks whose file names start with these")
    args = parser.parse_args(argv)
    chosen = [name for name in NOTEBOOKS if not args.only or any(name.startswith(prefix) for prefix in args.only)]
    if not chosen:
        parser.error(f"no notebook matches {args.only}; the notebooks are {', '.join(NOTEBOOKS)}")
    for name in chosen:
        start = time.perf_counter()
        notebook = execute(build(NOTEBOOKS[name]), HERE)
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / name)
        size = (HERE / name).stat().st_size
        print(f"{name}: executed in {time.perf_counter() - start:.1f} s, {size / 1024:.0f} KiB")
    if "04_exercises.ipynb" in chosen:
        sys.path.insert(0, str(HERE))
        from make_student_version import write_student_version

        print(f"wrote {write_student_version().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
