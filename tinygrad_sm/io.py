"""save / load: state dicts as ``.npz`` files, never pickle.

An ``.npz`` file is a zip archive holding one ``.npy`` file per array. Plain
numeric arrays need no pickle, so loading runs no code from the file:
``numpy.load(..., allow_pickle=False)`` is used, and a file that holds pickled
Python objects (an object array, or a pickle instead of an archive) is refused
with an error that says so.
"""

from __future__ import annotations

import os
import secrets
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .nn.module import Module
from .tensor import Tensor

PathLike = str | os.PathLike[str]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL_MARK = b"\x80"  # pickle protocols 2+ start with PROTO


def save(obj: Module | Mapping[str, Any], path: PathLike) -> None:
    """Write a module's ``state_dict()`` (or a state dict) to ``path`` as an ``.npz`` archive.

    The file is written exactly at ``path`` (no suffix is added) and replaced
    atomically, so an interrupted save never leaves a half-written checkpoint.
    Values may be NumPy arrays, Tensors or numbers; anything that would need
    pickle (strings, Python objects) is refused.
    """
    if isinstance(obj, Module):
        state = obj.state_dict()
    elif isinstance(obj, Mapping):
        state = obj
    else:
        raise TypeError(f"save: expected a Module or a state dict (a mapping of names to arrays), got {type(obj).__name__}")
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"save: state dict keys must be non-empty strings, got {key!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"save: {key!r} holds {array.dtype} data; only numeric arrays can be saved (no pickle)")
        arrays[key] = array

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"save: cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temporary, "xb") as file, zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            # What numpy.savez does, without its keyword arguments (a key named "file" would clash).
            for key, array in arrays.items():
                with archive.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load(path: PathLike) -> dict[str, np.ndarray]:
    """Read a state dict written by :func:`save` (or by ``numpy.savez``) without unpickling anything.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a
    file that is not an ``.npz`` archive of numeric arrays, in particular one
    that contains pickled objects.
    """
    path = Path(path)
    with open(path, "rb") as file:
        head = file.read(8)
    if not head.startswith(_ZIP_MAGICS):
        if head.startswith(_NPY_MAGIC):
            kind = "a single .npy array, not an .npz archive of named arrays"
        elif head.startswith(_PICKLE_PROTOCOL_MARK):
            kind = "a Python pickle; tinygrad_sm.load never unpickles (pickles can run arbitrary code)"
        else:
            kind = "not an .npz archive"
        raise ValueError(f"load: {str(path)!r} is {kind}")
    state = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    value = archive[key]
                except ValueError as error:
                    if "pickle" not in str(error).lower() and "object arrays" not in str(error).lower():
                        raise
                    raise ValueError(
                        f"load: {str(path)!r} entry {key!r} contains pickled Python objects; "
                        "tinygrad_sm.load never unpickles (pickles can run arbitrary code)"
                    ) from None
                if not isinstance(value, np.ndarray):
                    raise ValueError(f"load: {str(path)!r} entry {key!r} is not a .npy array")
                state[key] = value
    except zipfile.BadZipFile as error:
        raise ValueError(f"load: {str(path)!r} is a damaged .npz archive ({error})") from None
    return state
