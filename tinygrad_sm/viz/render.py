"""Turning DOT text into SVG or PNG, with or without a system Graphviz.

The ``graphviz`` Python package only writes DOT and runs the ``dot`` program;
without the system Graphviz it fails with ``ExecutableNotFound``. A
:class:`GraphPicture` is a ``graphviz.Digraph`` that looks for a renderer itself:

1. ``dot`` from the system Graphviz, when it is on PATH (the reference renderer);
2. otherwise ``graphviz-pure`` (installed with tinygrad_sm where it has wheels; else
   ``pip install graphviz-pure``), a self-contained port of ``dot`` that reads DOT on stdin;
3. with neither, the picture still exists (``.source`` is its DOT text),
   rendering raises :class:`RendererNotFoundError` naming the fixes, and
   Jupyter shows the DOT text instead of a traceback.

``TINYGRAD_SM_RENDERER=dot`` (or ``graphviz-pure``) in the environment picks one.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import graphviz

#: the renderers we know, in order of preference
RENDERERS = ("dot", "graphviz-pure")

#: raster formats: the text in them is drawn by the renderer, so its fonts must have every glyph
RASTER_FORMATS = {"png", "jpeg", "jpg", "gif", "bmp"}

# graphviz-pure draws raster text with its bundled Arimo font, which lacks these
# symbols; they become ASCII in its PNGs (dot falls back to another font by itself,
# and SVG text is drawn by the viewer).
ASCII_FALLBACK = {
    "⊙": "*",
    "∘": "o",
    "⊗": "(x)",
    "∗": "*",
    "⋅": "·",
    "⟨": "<",
    "⟩": ">",
    "∇": "grad ",
    "∈": " in ",
    "⌈": "ceil(",
    "⌉": ")",
    "⌊": "floor(",
    "⌋": ")",
    "⊤": "T",
    "▸": ">",
    "▶": ">",
    "⋯": "...",
}

INSTALL_HINT = (
    "install one of: the system Graphviz (apt-get install graphviz, or brew install graphviz on "
    "macOS), or the renderer that installs with pip: pip install graphviz-pure (a dependency of "
    "tinygrad_sm where it has wheels: Linux x86_64/aarch64, macOS, Windows x64)"
)


class RendererNotFoundError(graphviz.ExecutableNotFound):
    """No program to lay out and draw the graph: neither ``dot`` nor ``graphviz-pure`` was found.

    A subclass of ``graphviz.ExecutableNotFound`` (itself a ``RuntimeError``), so code
    written for the ``graphviz`` package catches it too.
    """

    def __init__(self, wanted: str | None = None) -> None:
        looked_for = f"{wanted!r}" if wanted else "'dot' (system Graphviz) or 'graphviz-pure'"
        RuntimeError.__init__(
            self,
            f"cannot render the graph: no renderer found (looked for {looked_for} on PATH and next "
            f"to Python). To fix it, {INSTALL_HINT}. The graph itself is fine: "
            "print(graph.source) shows its DOT text.",
        )


def _find_program(name: str) -> str | None:
    """Path of the executable ``name``: on PATH, or in this Python's scripts folder (an
    un-activated venv)."""
    found = shutil.which(name)
    if found:
        return found
    folders = {Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))}
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.exe"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def available_renderers() -> list[str]:
    """The renderers installed on this machine, best first (a sublist of
    ``("dot", "graphviz-pure")``)."""
    return [name for name in RENDERERS if _find_program(name) is not None]


def find_renderer(program: str | None = None) -> tuple[str, str]:
    """``(name, path)`` of the renderer to use: ``program`` if given, else the best one available.

    Raises :class:`RendererNotFoundError` when there is none.
    """
    if program is None:
        program = os.environ.get("TINYGRAD_SM_RENDERER") or None
    if program is not None:
        if program not in RENDERERS:
            expected = ", ".join(RENDERERS)
            raise ValueError(f"unknown renderer {program!r}; expected one of {expected}")
        path = _find_program(program)
        if path is None:
            raise RendererNotFoundError(program)
        return program, path
    for name in RENDERERS:
        path = _find_program(name)
        if path is not None:
            return name, path
    raise RendererNotFoundError()


def for_renderer(source: str, program: str, format: str) -> str:
    """The DOT text as ``program`` should get it for ``format`` (ASCII for glyphs its raster
    font lacks)."""
    if program == "graphviz-pure" and format in RASTER_FORMATS:
        return source.translate(str.maketrans(ASCII_FALLBACK))
    return source


def render_source(
    source: str, format: str = "svg", program: str | None = None, engine: str = "dot"
) -> bytes:
    """Lay out DOT text with ``engine`` and draw it as ``format``; returns the file's bytes."""
    name, path = find_renderer(program)
    text = for_renderer(source, name, format)
    command = [path, f"-K{engine}", f"-T{format}"]
    try:
        process = subprocess.run(
            command, input=text.encode("utf-8"), capture_output=True, check=False
        )
    except OSError as error:
        raise RendererNotFoundError(name) from error
    if process.returncode != 0 or not process.stdout:
        message = process.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(
            f"{name} failed to render the graph as {format} "
            f"(exit code {process.returncode}): {message}"
        )
    return process.stdout


class GraphPicture(graphviz.Digraph):
    """A ``graphviz.Digraph`` that renders with whichever renderer is installed.

    ``pipe``, ``render`` and the Jupyter display go through :func:`render_source`;
    everything else (``.source``, ``.save()``, ``.node()``, ``.edge()``, ...) is
    the ``graphviz`` package's.
    """

    def pipe(
        self,
        format: str | None = None,
        encoding: str | None = None,
        *,
        program: str | None = None,
        engine: str | None = None,
        **unsupported: Any,
    ) -> bytes | str:
        """The rendered graph as bytes (or ``str`` if ``encoding`` is given), as
        ``graphviz.Digraph.pipe``."""
        if any(value is not None and value is not False for value in unsupported.values()):
            raise TypeError(f"GraphPicture.pipe: unsupported arguments {sorted(unsupported)}")
        data = render_source(
            self.source, format or self.format or "svg", program, engine or self.engine or "dot"
        )
        return data.decode(encoding) if encoding else data

    def render(
        self,
        filename: str | os.PathLike | None = None,
        directory: str | os.PathLike | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,
        *,
        outfile: str | os.PathLike | None = None,
        program: str | None = None,
        engine: str | None = None,
        **unsupported: Any,
    ) -> str:
        """Write the picture to a file and return its path.

        As in the ``graphviz`` package, ``render("graph", format="svg")`` saves the
        DOT source as ``graph`` and the picture as ``graph.svg``. A ``filename``
        that already ends in the format (``"graph.png"``), or ``outfile=``, names
        the picture itself and writes no source file.
        """
        if any(value is not None and value is not False for value in unsupported.values()):
            raise TypeError(f"GraphPicture.render: unsupported arguments {sorted(unsupported)}")
        if outfile is None and filename is not None:
            suffix = Path(filename).suffix.lstrip(".").lower()
            if suffix and (suffix == format or (format is None and suffix in graphviz.FORMATS)):
                outfile = Path(directory, filename) if directory is not None else Path(filename)
        if outfile is not None:
            out_path = Path(outfile)
            format = format or out_path.suffix.lstrip(".").lower() or self.format or "svg"
            source_path = None
        else:
            format = format or self.format or "svg"
            source_path = Path(self.save(filename, directory=directory))
            out_path = source_path.with_name(f"{source_path.name}.{format}")
        data = self.pipe(format, program=program, engine=engine)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(data)
        if cleanup and source_path is not None:
            source_path.unlink(missing_ok=True)
        if view:
            graphviz.view(out_path)
        return str(out_path)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **_: Any
    ) -> dict[str, Any]:
        """Jupyter display: the SVG, or the DOT text and how to get a renderer when there is
        none."""
        wanted = set(include) if include is not None else {"image/svg+xml"}
        wanted -= set(exclude or ())
        try:
            bundle: dict[str, Any] = {}
            if "image/svg+xml" in wanted:
                bundle["image/svg+xml"] = self.pipe("svg", encoding="utf-8")
            if "image/png" in wanted:
                bundle["image/png"] = self.pipe("png")
            return bundle
        except RuntimeError as error:  # RendererNotFoundError, or the renderer failed
            note = f"{type(error).__name__}: {error}"
            return {
                "text/plain": f"{note}\n\n{self.source}",
                "text/html": (
                    f"<p><b>{html.escape(note)}</b></p><pre>{html.escape(self.source)}</pre>"
                ),
            }
