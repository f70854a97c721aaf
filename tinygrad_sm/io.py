"""save / load: state dicts as ``.npz`` files, never pickle.

An ``.npz`` file is a zip archive holding one ``.npy`` file per array. Plain
numeric arrays need no pickle, so loading runs no code from the file: each
entry's ``.npy`` header is parsed with NumPy's header readers, its dtype is
checked (numbers only, never objects) and its size compared with what the
header announces before any array is allocated; then exactly those bytes are
read. A file that holds pickled Python objects (an object array, or a pickle
instead of an archive) is refused with an error that says so, and any other
damage with one ``ValueError`` naming the file and the entry.
"""

from __future__ import annotations

import math
import os
import secrets
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .nn.module import Module, _as_array

PathLike = str | os.PathLike[str]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL_MARK = b"\x80"  # pickle protocols 2+ start with PROTO
_MAX_END_RECORD = 22 + 0xFFFF  # a zip's end record (22 bytes) plus its longest possible comment


def save(obj: Module | Mapping[str, Any], path: PathLike) -> None:
    """Write a module's ``state_dict()`` (or a state dict) to ``path`` as an ``.npz`` archive.

    The file is written exactly at ``path`` (no suffix is added) and replaced
    atomically, so an interrupted save never leaves a half-written checkpoint.
    Values may be NumPy arrays, Tensors, PyTorch tensors or numbers; anything that would need
    pickle (strings, Python objects) is refused.
    """
    if isinstance(obj, Module):
        state = obj.state_dict()
    elif isinstance(obj, Mapping):
        state = obj
    else:
        raise TypeError(
            "save: expected a Module or a state dict (a mapping of names to arrays), "
            f"got {type(obj).__name__}"
        )
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"save: state dict keys must be non-empty strings, got {key!r}")
        array = _as_array(value)  # (a PyTorch tensor that requires grad too)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"save: {key!r} holds {array.dtype} data; "
                "only numeric arrays can be saved (no pickle)"
            )
        arrays[key] = array

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"save: cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist"
        )
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with (
            open(temporary, "xb") as file,
            zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive,
        ):
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
    """Read a state dict written by :func:`save` (or by ``numpy.savez``) without unpickling
    anything.

    Raises ``FileNotFoundError`` (or ``IsADirectoryError``, ``PermissionError``)
    when ``path`` can't be opened, and one ``ValueError`` naming the file (and
    the entry, when one is to blame) for any file that is not an intact ``.npz``
    archive of numeric arrays: not a zip, truncated, corrupted, an entry that is
    not a ``.npy`` array or holds strings or pickled Python objects.
    """
    path = Path(path)
    name = f"load: {str(path)!r}"
    with open(path, "rb") as file:  # a missing file or a folder: the OSError is the right error
        _check_kind(name, file.read(8))
        file.seek(0)
        try:
            archive = zipfile.ZipFile(file)
        except MemoryError:
            raise
        except (
            Exception
        ) as error:  # BadZipFile, and whatever a mangled directory makes zipfile raise
            raise ValueError(
                f"{name} is a damaged .npz archive ({type(error).__name__}: {error})"
            ) from error
        state: dict[str, np.ndarray] = {}
        with archive:
            declared, listed = _declared_entries(file), len(archive.infolist())
            # e.g. a damaged length swallowed an entry
            if declared is not None and declared != listed:
                raise ValueError(
                    f"{name} is a damaged .npz archive (its end record declares {declared} "
                    f"entries, its directory lists {listed})"
                )
            if any(info.filename.endswith("data.pkl") for info in archive.infolist()):
                raise ValueError(  # (torch.save writes a zip holding a pickle, data.pkl)
                    f"{name} is a PyTorch checkpoint (torch.save), a pickle in a zip; "
                    "tinygrad_sm.load never unpickles: read it with torch.load and pass the "
                    "state dict to Module.load_state_dict, or save it with tinygrad_sm.save"
                )
            for info in archive.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if key in state:
                    raise ValueError(f"{name} holds entry {key!r} twice")
                state[key] = _read_entry(archive, info, f"{name} entry {key!r}")
    return state


def _check_kind(name: str, head: bytes) -> None:
    """Refuse, by its first bytes, a file that is not a zip archive
    (saying what it looks like instead)."""
    if head.startswith(_ZIP_MAGICS):
        return
    if not head:
        kind = "empty, not an .npz archive"
    elif head.startswith(_NPY_MAGIC):
        kind = "a single .npy array, not an .npz archive of named arrays"
    elif head.startswith(_PICKLE_PROTOCOL_MARK):
        kind = "a Python pickle; tinygrad_sm.load never unpickles (pickles can run arbitrary code)"
    else:
        kind = "not an .npz archive"
    raise ValueError(f"{name} is {kind}")


def _declared_entries(file: Any) -> int | None:
    """The number of entries the zip's end record declares (None if it defers to a zip64 record).

    zipfile reads the central directory without comparing it with this count, so a
    damaged length field there can silently hide an entry; this is the cross-check.
    """
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - _MAX_END_RECORD))
    tail = file.read()
    end = tail.rfind(_ZIP_MAGICS[1])  # as zipfile finds it: the last end-record signature
    if end < 0 or len(tail) < end + 12:
        return None
    count = int.from_bytes(tail[end + 10 : end + 12], "little")
    return None if count == 0xFFFF else count


class _BadEntryError(ValueError):
    """An entry refused by a check below;
    its message is complete (load raises it as a plain ValueError)."""


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One entry as an array;
    any failure to decode it becomes a ValueError naming the file and entry."""
    try:
        with archive.open(info) as member:
            return _read_npy(member, info.file_size, where)
    except _BadEntryError as error:
        raise ValueError(str(error)) from None
    except MemoryError:
        raise
    except Exception as error:
        # Everything here decodes bytes from the file (zlib, bz2, lzma, NumPy's .npy header
        # parser, zipfile's CRC check), so whatever it raises means the content is damaged.
        raise ValueError(f"{where} is damaged ({type(error).__name__}: {error})") from error


_CHUNK = 1 << 20  # bytes read at a time: a damaged entry never costs more than its declared size


def _read_npy(member: Any, size: int, where: str) -> np.ndarray:
    """Parse one ``.npy`` stream of ``size`` bytes: check its header, then read exactly the data
    it announces."""
    head = member.read(8)
    if len(head) < 8 or not head.startswith(_NPY_MAGIC):
        raise _BadEntryError(f"{where} is not a .npy array")
    version = (head[6], head[7])
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise _BadEntryError(
            f"{where} is a .npy array of format version {version[0]}.{version[1]}; "
            "expected 1.0 or 2.0"
        )
    _check_dtype(dtype, where)
    if any(n < 0 for n in shape):
        raise _BadEntryError(f"{where} has an invalid shape {shape}")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if size - member.tell() != nbytes:
        raise _BadEntryError(
            f"{where}: its header announces shape {shape} of {dtype} ({nbytes} bytes of data), "
            f"but it holds {size - member.tell()} bytes of data"
        )
    array = np.empty(count, dtype=dtype)
    buffer = memoryview(array.view(np.uint8))
    filled = 0
    while filled < nbytes:
        read = member.readinto(buffer[filled : filled + _CHUNK])
        if not read:
            raise _BadEntryError(f"{where} ends after {filled} of its {nbytes} bytes of data")
        filled += read
    if member.read(1):  # reading to the end also makes zipfile check the entry's CRC
        raise _BadEntryError(f"{where} has bytes after its data")
    return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)


def _check_dtype(dtype: np.dtype, where: str) -> None:
    """Accept what :func:`save` writes: bool, integer, float and complex arrays."""
    if dtype.hasobject:
        raise _BadEntryError(
            f"{where} contains pickled Python objects; "
            "tinygrad_sm.load never unpickles (pickles can run arbitrary code)"
        )
    if dtype.kind not in "biufc" or dtype.fields is not None:
        raise _BadEntryError(
            f"{where} holds {dtype} data; "
            "only numeric arrays (bool, integer, float, complex) can be loaded"
        )
