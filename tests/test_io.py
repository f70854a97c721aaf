"""save / load: .npz round trips, and files that would need unpickling are refused without running them."""

from __future__ import annotations

import pickle
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
