"""save / load: .npz round trips, and files that would need unpickling are refused without running them."""

from __future__ import annotations

import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor, nn


class WritesAFileWhenUnpickled:
    """A pickle payload: unpickling it calls Path.touch(marker), which the tests check never happens."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_round_trip_of_a_module(tmp_path):
    model = nn.MLP([4, 5, 3], rng=0)
    path = tmp_path / "model.npz"
    tinygrad_sm.save(model, path)
    state = tinygrad_sm.load(path)
    assert list(state) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert state[key].dtype == np.float32
        np.testing.assert_array_equal(state[key], value)
    restored = nn.MLP([4, 5, 3], rng=1)
    restored.load_state_dict(state)
    x = Tensor(np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32))
    np.testing.assert_array_equal(restored(x).numpy(), model(x).numpy())


def test_round_trip_of_a_state_dict_keeps_dtypes_shapes_and_awkward_keys(tmp_path):
    state = {
        "file": np.arange(6, dtype=np.float64).reshape(2, 3),  # "file" and "allow_pickle" are numpy.savez's own argument names
        "allow_pickle": Tensor([1.0, 2.0]),
        "layers.0.weight": np.float32(3.5),
        "count": np.array([1, 2], dtype=np.int64),
    }
    path = tmp_path / "state.npz"
    tinygrad_sm.save(state, path)
    loaded = tinygrad_sm.load(path)
    assert list(loaded) == list(state)
    assert loaded["file"].dtype == np.float64 and loaded["file"].shape == (2, 3)
    assert loaded["allow_pickle"].dtype == np.float32
    assert loaded["layers.0.weight"].shape == () and loaded["count"].dtype == np.int64


def test_save_writes_exactly_the_given_path_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "weights.bin"
    tinygrad_sm.save(nn.Linear(2, 2, rng=0), path)
    tinygrad_sm.save(nn.Linear(2, 2, rng=1), path)  # overwriting is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]
    np.testing.assert_array_equal(tinygrad_sm.load(str(path))["weight"], nn.Linear(2, 2, rng=1).weight.numpy())


def test_files_written_by_numpy_savez_load(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones((2, 2), np.float32))
    np.savez_compressed(tmp_path / "small.npz", w=np.zeros(3))
    assert tinygrad_sm.load(tmp_path / "plain.npz")["w"].shape == (2, 2)
    assert tinygrad_sm.load(tmp_path / "small.npz")["w"].dtype == np.float64


def test_an_npz_holding_a_pickled_object_is_refused_without_unpickling_it(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = WritesAFileWhenUnpickled(marker)
    np.savez(path, weight=np.ones(2, np.float32), payload=payload)  # numpy pickles object arrays
    with pytest.raises(ValueError, match=r"entry 'payload' contains pickled Python objects; tinygrad_sm.load never unpickles"):
        tinygrad_sm.load(path)
    assert not marker.exists()
    # the payload is real: unpickling it (what load refuses to do) does run it
    with np.load(path, allow_pickle=True) as archive:
        archive["payload"]
    assert marker.exists()


def test_a_pickle_file_is_refused_without_unpickling_it(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weight": WritesAFileWhenUnpickled(marker)}))
    with pytest.raises(ValueError, match="is a Python pickle; tinygrad_sm.load never unpickles"):
        tinygrad_sm.load(path)
    assert not marker.exists()


def test_other_bad_files(tmp_path):
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match="single .npy array, not an .npz archive"):
        tinygrad_sm.load(tmp_path / "single.npy")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="is not an .npz archive"):
        tinygrad_sm.load(tmp_path / "notes.txt")
    tinygrad_sm.save({"w": np.ones(1000)}, tmp_path / "whole.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:500])
    with pytest.raises(ValueError, match="damaged .npz archive"):
        tinygrad_sm.load(tmp_path / "cut.npz")
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as archive:
        archive.writestr("readme.txt", "not an array")
    with pytest.raises(ValueError, match="entry 'readme.txt' is not a .npy array"):
        tinygrad_sm.load(tmp_path / "odd.npz")
    with pytest.raises(FileNotFoundError):
        tinygrad_sm.load(tmp_path / "missing.npz")


def test_save_refuses_what_would_need_pickle_and_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="'names' holds <U1 data; only numeric arrays can be saved"):
        tinygrad_sm.save({"names": np.array(["a", "b"])}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="holds object data"):
        tinygrad_sm.save({"thing": {"nested": 1}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be non-empty strings"):
        tinygrad_sm.save({1: np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="expected a Module or a state dict"):
        tinygrad_sm.save([np.ones(1)], tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tinygrad_sm.save({"w": np.ones(1)}, tmp_path / "no" / "such" / "folder.npz")
    assert not list(tmp_path.iterdir())


# ----- hostile files: every malformed file is one ValueError naming the file (and entry) ----
def saved_archive(tmp_path: Path, compressed: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """A small valid archive (stored by save, or deflated by numpy.savez_compressed) and its contents."""
    state = {"weight": np.arange(12, dtype=np.float32).reshape(3, 4), "bias": np.array([0.5, -1.0])}
    path = tmp_path / ("compressed.npz" if compressed else "stored.npz")
    if compressed:
        np.savez_compressed(path, **state)
    else:
        tinygrad_sm.save(state, path)
    return path, state


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def archive_of(tmp_path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    """An .npz archive with exactly these member bytes (possibly not valid .npy data)."""
    path = tmp_path / "hostile.npz"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def assert_refused(path: Path, *patterns: str) -> None:
    with pytest.raises(ValueError) as info:
        tinygrad_sm.load(path)
    assert type(info.value) is ValueError  # one plain ValueError, not zlib.error, EOFError, TokenError, ...
    message = str(info.value)
    assert message.startswith(f"load: {str(path)!r}"), message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)


@pytest.mark.parametrize("compressed", [False, True])
def test_every_truncation_of_an_archive_is_a_value_error(tmp_path, compressed):
    path, _ = saved_archive(tmp_path, compressed)
    whole = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in range(len(whole)):
        cut.write_bytes(whole[:length])
        assert_refused(cut)


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("mask", [0xFF, 0x01, 0x80])
def test_every_flipped_byte_is_a_value_error_or_changes_nothing(tmp_path, compressed, mask):
    # A flip inside an entry breaks its CRC (or its deflate stream, or its .npy header); one in
    # a zip header breaks the archive. Bytes zipfile never checks (timestamps, the local copy of
    # the CRC, attributes) can change and load must then return the original arrays (a flip in
    # a name stored in the central directory can only rename an entry).
    path, state = saved_archive(tmp_path, compressed)
    whole = bytearray(path.read_bytes())
    hostile = tmp_path / "flipped.npz"
    for position in range(len(whole)):
        flipped = whole.copy()
        flipped[position] ^= mask
        hostile.write_bytes(flipped)
        try:
            loaded = tinygrad_sm.load(hostile)
        except ValueError as error:
            assert type(error) is ValueError and str(error).startswith(f"load: {str(hostile)!r}")
            continue
        assert len(loaded) == len(state)
        for value, expected in zip(loaded.values(), state.values()):
            assert value.dtype == expected.dtype
            np.testing.assert_array_equal(value, expected)


def test_flipped_bytes_inside_an_entry_name_the_entry(tmp_path):
    path, _ = saved_archive(tmp_path)
    data = bytearray(path.read_bytes())
    data[data.index(np.arange(12, dtype=np.float32).tobytes()) + 5] ^= 0xFF  # inside weight's values
    path.write_bytes(data)
    assert_refused(path, "entry 'weight' is damaged", "CRC")


def test_corrupted_deflate_data_in_a_compressed_archive(tmp_path):
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, weight=np.random.default_rng(0).normal(size=200))
    data = bytearray(path.read_bytes())
    start = data.index(b"weight.npy") + len("weight.npy")  # the deflate stream follows the local header's name
    for offset in range(10, 30):
        data[start + offset] ^= 0x5A
    path.write_bytes(data)
    assert_refused(path, "entry 'weight' is damaged")


GOOD_NPY = npy_bytes(np.ones(4))
HEADER_END = GOOD_NPY.index(b"\n") + 1


def with_header(header: bytes, payload: bytes = np.ones(4).tobytes()) -> bytes:
    """A version 1.0 .npy stream with this header text (padded as NumPy pads it)."""
    header = header.ljust(HEADER_END - 11) + b"\n"
    return GOOD_NPY[:8] + len(header).to_bytes(2, "little") + header + payload


DAMAGED_NPY = {
    "wrong keys": (with_header(b"{'dxscr': '<f8', 'fortran_order': False, 'shape': (4,), }"), "damaged.*correct keys"),
    "not a literal": (with_header(b"{'descr': '<f8', 'fortran_order': Maybe, 'shape': (4,), }"), "damaged"),
    "unbalanced": (with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': ((((4,), }"), "damaged"),
    "bad descr": (with_header(b"{'descr': '<q9', 'fortran_order': False, 'shape': (4,), }"), "damaged.*descr"),
    "shape too big": (with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (9,), }"),
                      r"announces shape \(9,\) of float64 \(72 bytes of data\), but it holds 32 bytes"),
    "huge shape": (with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }"),
                   "announces shape"),  # refused before any allocation
    "negative shape": (with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (-4,), }"), "shape"),
    "truncated data": (GOOD_NPY[:-5], "announces shape .* holds 27 bytes"),
    "extra data": (GOOD_NPY + b"\x00" * 8, "announces shape .* holds 40 bytes"),
    "header cut": (GOOD_NPY[:20], "damaged"),
    "header length past the end": (GOOD_NPY[:8] + b"\xff\xff" + GOOD_NPY[10:], "damaged"),
    "bad magic": (b"\x93NUMPX" + GOOD_NPY[6:], "is not a .npy array"),
    "empty entry": (b"", "is not a .npy array"),
    "unknown version": (GOOD_NPY[:6] + b"\x09\x00" + GOOD_NPY[8:], "format version 9.0; expected 1.0 or 2.0"),
}


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("case", sorted(DAMAGED_NPY))
def test_an_entry_with_a_damaged_npy_header_or_size(tmp_path, case, compression):
    payload, pattern = DAMAGED_NPY[case]
    path = archive_of(tmp_path, {"fine.npy": GOOD_NPY, "w.npy": payload}, compression)
    assert_refused(path, "entry 'w'", pattern)


@pytest.mark.parametrize(("array", "shown"), [
    (np.array(["a", "bc"]), "<U2"),
    (np.array([b"a"]), r"\|S1"),
    (np.zeros(2, dtype="V4"), r"\|V4"),
    (np.zeros(2, dtype=[("a", "<f8")]), r"\[\('a', '<f8'\)\]"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), r"datetime64\[D\]"),
])
def test_entries_that_are_not_numeric_arrays_are_refused(tmp_path, array, shown):
    path = tmp_path / "strings.npz"
    np.savez(path, weight=np.ones(2), names=array)
    assert_refused(path, f"entry 'names' holds {shown} data; only numeric arrays")


def test_an_object_array_is_refused_whatever_its_name(tmp_path):
    path = archive_of(tmp_path, {"payload": npy_bytes(np.array([None, 1], dtype=object))})
    assert_refused(path, "entry 'payload' contains pickled Python objects")


def test_zip_level_damage(tmp_path):
    path, _ = saved_archive(tmp_path)
    whole = path.read_bytes()
    directory = whole.index(b"PK\x01\x02")  # the first central directory record
    encrypted = bytearray(whole)
    encrypted[directory + 8] |= 0x01  # "encrypted" flag: zipfile wants a password (RuntimeError)
    path.write_bytes(encrypted)
    assert_refused(path, "entry 'weight' is damaged")
    unknown_method = bytearray(whole)
    unknown_method[directory + 10] = 99  # compression method 99: zipfile's NotImplementedError
    path.write_bytes(unknown_method)
    assert_refused(path, "entry 'weight' is damaged")
    moved = bytearray(whole)
    moved[-6] ^= 0x40  # the end record's offset of the central directory
    path.write_bytes(moved)
    assert_refused(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        twice = archive_of(tmp_path, {"w.npy": GOOD_NPY, "w": GOOD_NPY})
    assert_refused(twice, "holds entry 'w' twice")


def test_empty_files_and_paths_that_are_not_files(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    assert_refused(tmp_path / "empty.npz", "is empty, not an .npz archive")
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError):  # a path problem keeps its OSError, as torch.load
        tinygrad_sm.load(tmp_path / "folder.npz")
    with pytest.raises(FileNotFoundError):
        tinygrad_sm.load(tmp_path / "missing.npz")


def test_valid_awkward_arrays_load_as_numpy_loads_them(tmp_path):
    path = tmp_path / "awkward.npz"
    np.savez(path, fortran=np.asfortranarray(np.arange(6.0).reshape(2, 3)), big_endian=np.arange(3, dtype=">f8"),
             scalar=np.array(2.5), empty=np.zeros((0, 3), np.float32), complex=np.array([1 + 2j]),
             flags=np.array([True, False]), ints=np.arange(4, dtype=np.int16))
    np.savez_compressed(tmp_path / "awkward_compressed.npz", **dict(np.load(path)))
    for file in (path, tmp_path / "awkward_compressed.npz"):
        loaded = tinygrad_sm.load(file)
        with np.load(file) as expected:
            assert list(loaded) == list(expected.files)
            for key, value in loaded.items():
                assert value.dtype == expected[key].dtype and value.shape == expected[key].shape, key
                np.testing.assert_array_equal(value, expected[key])
                assert value.flags.writeable
    assert tinygrad_sm.load(path)["fortran"][1, 2] == 5.0


def test_a_state_dict_of_pytorch_tensors_saves_even_those_that_require_grad(tmp_path):
    torch = pytest.importorskip("torch")
    weight = torch.ones(2, 3, requires_grad=True)
    tinygrad_sm.save({"weight": weight, "count": torch.tensor(4)}, tmp_path / "torch.npz")
    loaded = tinygrad_sm.load(tmp_path / "torch.npz")
    np.testing.assert_array_equal(loaded["weight"], np.ones((2, 3), np.float32))
    assert loaded["weight"].dtype == np.float32 and loaded["count"].dtype == np.int64


def test_a_pytorch_checkpoint_is_refused_with_a_hint_and_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"weight": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"is a PyTorch checkpoint \(torch.save\).*read it with torch.load"):
        tinygrad_sm.load(tmp_path / "model.pt")
