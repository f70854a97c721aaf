"""pytest's configuration for the whole checkout; the tests' own setup is tests/conftest.py.

pyproject.toml's ``--doctest-modules`` with ``testpaths = ["tests", "tinygrad_sm"]`` runs the
docstring examples of the package along with the tests. Every module of tinygrad_sm/viz/ imports
graphviz (viz/__init__.py imports the renderer), which ``import tinygrad_sm`` does not need: where
graphviz is not installed, viz's docstring examples are not collected instead of failing the run.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("graphviz") else ["tinygrad_sm/viz"]
