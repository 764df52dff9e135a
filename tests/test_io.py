"""``st.save`` / ``st.load``: faithful round trips, no pickle anywhere, atomic writes, clear refusals.

Oracles: the objects written out by hand in each test, the zip format read with the standard
library's ``zipfile`` and NumPy's ``allow_pickle=False`` loader, and the bytes of the previous
file for the atomic-write test.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

import strided as st
from strided import nn, optim


def model_and_optimizer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 2 * 2, 3, rng=1))
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    x = np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32)
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 1])).backward()
        opt.step()
    return model, opt


def assert_same_tree(a, b, path="root"):
    """Deep equality with types: arrays by value and dtype, floats with nan == nan, tuples stay tuples."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert isinstance(b, dict), path
        assert list(a) == list(b), path
        for key in a:
            assert type(key) is type(list(b)[list(a).index(key)]), f"{path}: key type of {key!r}"
            assert_same_tree(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b), f"{path}: {type(a).__name__} became {type(b).__name__}"
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert type(b) is float, path
        assert (math.isnan(a) and math.isnan(b)) or a == b, path
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} != {b!r}"


def test_round_trip_of_a_nested_checkpoint(tmp_path):
    model, opt = model_and_optimizer()
    obj = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),                  # int keys, tuples (betas), floats, lists
        "epoch": 7,
        "big": 2 ** 70,
        "metrics": {"loss": [0.5, 0.25, float("inf"), float("-inf"), float("nan")], "best": -0.0},
        "name": "lenet5 \u2013 \u00e9t\u00e9",
        "note": None,
        "flags": [True, False],
        "shape": (1, (2, 3), []),
        "arrays": [np.arange(6, dtype=np.int32).reshape(2, 3), np.array([True, False]), np.float64(2.5),
                   np.zeros((0, 3), dtype=np.float32), np.array(3, dtype=np.uint8)],
        5: "an int key",
        "": {},
    }
    path = tmp_path / "ckpt.npz"
    st.save(obj, path)
    back = st.load(path)
    # numpy scalars come back as 0-d arrays; compare against that by hand
    expected = dict(obj)
    expected["arrays"] = obj["arrays"][:2] + [np.array(2.5)] + obj["arrays"][3:]
    assert_same_tree(expected, back)
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)
    assert sorted(back["optimizer"]["state"]) == [0, 1, 2, 3, 4, 5]
    assert math.copysign(1.0, back["metrics"]["best"]) == -1.0


def test_loaded_state_restores_model_and_optimizer(tmp_path):
    model, opt = model_and_optimizer()
    st.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "a.npz")
    saved = st.load(tmp_path / "a.npz")
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3, rng=5), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 2 * 2, 3, rng=6))
    fresh.load_state_dict(saved["model"])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key], value)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    fresh_opt.load_state_dict(saved["optimizer"])
    assert fresh_opt.param_groups[0]["lr"] == 0.01 and fresh_opt.param_groups[0]["betas"] == (0.8, 0.9)


def test_tensors_and_parameters_are_saved_as_arrays(tmp_path):
    p = nn.Parameter(np.arange(3.0))
    st.save({"p": p, "t": st.Tensor([1.0, 2.0])}, tmp_path / "t.npz")
    back = st.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back["p"], np.arange(3.0))
    assert back["p"].dtype == np.float64 and back["t"].dtype == np.float32


def test_path_may_be_a_string_and_folders_are_created(tmp_path):
    path = os.path.join(str(tmp_path), "deep", "er", "x.npz")
    st.save([1, 2], path)
    assert st.load(path) == [1, 2]


# --------------------------------------------------------------------------------------------- no pickle


def test_file_is_a_zip_of_plain_npy_entries(tmp_path):
    model, opt = model_and_optimizer()
    path = tmp_path / "ckpt.npz"
    st.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    assert zipfile.is_zipfile(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names and all(name.endswith(".npy") for name in names)
        assert not any(name.endswith((".pkl", ".pickle")) for name in names)
        for name in names:
            raw = archive.read(name)
            assert raw.startswith(b"\x93NUMPY")                  # the .npy magic, not a pickle stream
            array = np.load(io.BytesIO(raw), allow_pickle=False)
            assert array.dtype != object
    with np.load(path, allow_pickle=False) as archive:          # the whole file loads without pickle
        for name in archive.files:
            assert archive[name].dtype.kind in "biuf"
        tree = json.loads(archive["__tree__"].tobytes().decode("utf-8"))
    assert isinstance(tree, dict)


class Boom:
    """Unpickling this object records that it happened: a load must never do it."""
    unpickled = []

    def __reduce__(self):
        return (Boom.unpickled.append, ("unpickled!",))


def test_a_pickled_entry_is_refused_not_executed(tmp_path):
    path = tmp_path / "evil.npz"
    tree = json.dumps({"format": "strided-state/1", "root": {"__array__": "a0"}}).encode()
    np.savez(path, __tree__=np.frombuffer(tree, dtype=np.uint8),
             a0=np.array([Boom()], dtype=object))                # numpy pickles object arrays
    Boom.unpickled.clear()
    with pytest.raises(ValueError, match="not a readable strided state file"):
        st.load(path)
    assert Boom.unpickled == []


def test_a_pickle_file_is_refused_not_executed(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Boom()))
    Boom.unpickled.clear()
    with pytest.raises(ValueError, match="not a readable strided state file"):
        st.load(path)
    assert Boom.unpickled == []


@pytest.mark.parametrize("value", [
    np.array([1, "a"], dtype=object),
    np.array(["a", "b"]),
    np.array([1 + 2j]),
    {"nested": [np.array([None], dtype=object)]},
    {1.5: "float key"},
    {(1, 2): "tuple key"},
    {"x": object()},
    {"x": {1, 2}},
    {"x": b"bytes"},
])
def test_unsupported_values_are_refused_and_nothing_is_written(value, tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="save: "):
        st.save(value, path)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_file_intact(failure, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    st.save({"epoch": 1, "w": np.arange(5.0)}, path)
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, *args, **kwargs):
        file.write(b"PK\x03\x04 partial data")          # something reached the disk...
        real_savez(io.BytesIO(), *args, **kwargs)
        raise failure                                   # ...then the write died

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(type(failure)):
        st.save({"epoch": 2, "w": np.arange(500.0)}, path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]   # no temporary file left behind
    back = st.load(path)
    assert back["epoch"] == 1
    np.testing.assert_array_equal(back["w"], np.arange(5.0))


def test_a_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="no space"):
        st.save({"a": 1}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_a_successful_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "ckpt.npz"
    st.save({"epoch": 1}, path)
    st.save({"epoch": 2}, path)
    assert st.load(path) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


# --------------------------------------------------------------------------------------------- refusals


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        st.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("content", [b"", b"garbage \x00\x01\x02" * 20, b"PK\x03\x04 truncated zip",
                                     b"\x80\x04K\x01."])
def test_garbage_raises_value_error(content, tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        st.load(path)
    message = str(info.value)
    assert message.startswith("load: ") and str(path) in message and "strided state file" in message


def test_a_plain_npz_is_not_a_strided_file(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match=r"is not a strided state file \(no __tree__ entry\)"):
        st.load(path)


def test_a_single_npy_array_is_not_a_strided_file(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="is not a strided state file"):
        st.load(path)


def test_a_zip_of_something_else_is_not_a_strided_file(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="strided state file"):
        st.load(path)


@pytest.mark.parametrize("tree", [
    b'{"format": "strided-state/99", "root": 1}',
    b'{"root": 1}',
    b'[1, 2, 3]',
    b'not json at all',
    b'\xff\xfe',
    b'{"format": "strided-state/1", "root": {"__array__": "a7"}}',
    b'{"format": "strided-state/1", "root": {"__mystery__": 1}}',
])
def test_a_wrong_or_corrupt_tree_raises_value_error(tree, tmp_path):
    path = tmp_path / "tree.npz"
    np.savez(path, __tree__=np.frombuffer(tree, dtype=np.uint8))
    with pytest.raises(ValueError) as info:
        st.load(path)
    assert str(info.value).startswith("load: ") and str(path) in str(info.value)
