"""Reader for MNIST-style IDX files (MNIST, Fashion-MNIST, ...).

Nothing is downloaded: point :func:`mnist` at a folder holding the files.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension

_SPLITS = {"train": "train", "test": "t10k"}


def mnist(root: str | os.PathLike[str], split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from the IDX files in ``root``.

    For ``split="train"`` the files are ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte``; for ``split="test"`` they are
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``. Each may also
    carry a ``.gz`` suffix, or use the dotted spelling
    (``train-images.idx3-ubyte``); the plain undotted name wins when several
    are present.

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding the IDX files.
    split : {"train", "test"}
        Which pair of files to read.

    Returns
    -------
    X : numpy.ndarray
        float32 array of shape ``(N, rows * cols)`` (``(N, 784)`` for MNIST)
        with pixel values scaled to ``[0, 1]``.
    y : numpy.ndarray
        int64 labels of shape ``(N,)``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or one of the files does not exist.
    ValueError
        For an unknown ``split``, a malformed or truncated file, or image and
        label files with different counts.
    """
    if split not in _SPLITS:
        valid = ", ".join(repr(s) for s in _SPLITS)
        raise ValueError(f"unknown split {split!r}; valid values are {valid}")
    folder = Path(root)
    if not folder.exists():
        raise FileNotFoundError(f"MNIST folder not found: {str(folder)!r}")
    if not folder.is_dir():
        raise NotADirectoryError(f"MNIST root is not a folder: {str(folder)!r}")

    prefix = _SPLITS[split]
    images_path, images_tried = _find(folder, f"{prefix}-images", "idx3-ubyte")
    labels_path, labels_tried = _find(folder, f"{prefix}-labels", "idx1-ubyte")
    if images_path is None or labels_path is None:
        missing = [
            tried
            for path, tried in (
                (images_path, images_tried),
                (labels_path, labels_tried),
            )
            if path is None
        ]
        looked_for = "; ".join(" or ".join(tried) for tried in missing)
        raise FileNotFoundError(
            f"MNIST {split} files not found in {str(folder)!r}: looked for {looked_for}"
        )

    images = _read_idx(images_path, _IMAGES_MAGIC)
    labels = _read_idx(labels_path, _LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path.name} holds {images.shape[0]} images but "
            f"{labels_path.name} holds {labels.shape[0]} labels (in {str(folder)!r})"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    y = labels.astype(np.int64)
    return X, y


def _find(folder: Path, stem: str, kind: str) -> tuple[Path | None, list[str]]:
    """Return the first existing candidate file and the names that were tried."""
    names = []
    for base in (f"{stem}-{kind}", f"{stem}.{kind}"):
        names += [base, base + ".gz"]
    for name in names:
        path = folder / name
        if path.is_file():
            return path, names
    return None, names


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file, checking its magic number and size."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path.name}: not a readable gzip file ({exc})") from exc

    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(raw) < 4:
        raise ValueError(f"{path.name}: truncated IDX file ({len(raw)} bytes, no header)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path.name}: bad IDX magic number 0x{found:08X}, expected 0x{magic:08X}")
    if len(raw) < header_size:
        raise ValueError(f"{path.name}: truncated IDX header ({len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(raw) - header_size
    if payload < expected:
        raise ValueError(
            f"{path.name}: truncated IDX file, header says {dims} "
            f"({expected} bytes of data) but only {payload} bytes follow"
        )
    if payload > expected:
        raise ValueError(
            f"{path.name}: {payload - expected} unexpected bytes after the "
            f"{expected} bytes of data announced by the header {dims}"
        )
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header_size).reshape(dims)
