"""``st.io.load_safetensors`` / ``save_safetensors``: weights to and from PyTorch through safetensors files.

Oracles: PyTorch models written out in the tests (LeNet-5 from ``torch_zoo``, ResNet-20 from
``test_resnet``), saved and read with ``safetensors.torch``, the reference implementation of the
format, and the outputs of the PyTorch models.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided.models import create_model

pytest.importorskip("safetensors")

if torch is not None:
    import safetensors.torch as safetensors_torch
    from test_resnet import torch_reference as resnet_reference
    from torch_zoo import TorchLeNet5


def trained_lenet5():
    """A torch LeNet-5 after a few SGD steps (so the weights are not just an initialisation)."""
    torch.manual_seed(0)
    ref = TorchLeNet5()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        opt.step()
    return ref.eval()


def outputs(model, x):
    with st.no_grad():
        return model.eval()(x).data


@needs_torch
@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_torch_file_loads_into_strided(name, tmp_path):
    ref = trained_lenet5() if name == "lenet5" else resnet_reference("resnet20").eval()   # random BN statistics
    path = tmp_path / f"{name}.safetensors"
    safetensors_torch.save_file(ref.state_dict(), str(path))
    state = st.io.load_safetensors(path)
    assert sorted(state) == sorted(ref.state_dict())
    model = create_model(name, seed=1)
    assert model.load_state_dict(state) == ([], [])
    x = np.random.default_rng(0).standard_normal((3, 1 if name == "lenet5" else 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(outputs(model, x), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    if name == "resnet20":
        assert model.state_dict()["bn1.num_batches_tracked"] == 7 and state["bn1.num_batches_tracked"].dtype == np.int64


@needs_torch
def test_strided_file_loads_into_torch(tmp_path):
    model = create_model("resnet20", seed=3)
    model.train()(np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32))   # move the BN stats
    path = tmp_path / "sub" / "resnet20.safetensors"                                              # folder created
    st.io.save_safetensors(model.state_dict(), path, metadata={"model": "resnet20"})
    loaded = safetensors_torch.load_file(str(path))
    ours = model.state_dict()
    assert sorted(loaded) == sorted(ours)
    for key, value in ours.items():
        assert loaded[key].numpy().dtype == value.dtype and np.array_equal(loaded[key].numpy(), value), key
    ref = resnet_reference("resnet20")
    ref.load_state_dict(loaded, strict=True)
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = ref.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(outputs(model, x), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    from safetensors import safe_open
    with safe_open(str(path), "np") as handle:
        metadata = handle.metadata()
    assert metadata.pop("strided.sha256") and metadata == {"model": "resnet20"}   # the checksums, and the user's
    # a module is accepted too (its state_dict is saved), and strided reads its own files back
    st.io.save_safetensors(model, path)
    again = st.io.load_safetensors(path)
    assert all(np.array_equal(again[k], ours[k]) and again[k].dtype == ours[k].dtype for k in ours)
    # non-contiguous views and 0-d arrays keep their values and shapes
    view = np.arange(6, dtype=np.float64).reshape(2, 3).T
    st.io.save_safetensors({"t": view, "s": np.array(2.5, dtype=np.float32)}, path)
    back = st.io.load_safetensors(path)
    assert np.array_equal(back["t"], view) and back["s"].shape == () and back["s"] == 2.5


@needs_torch
def test_mismatched_files_are_reported_by_name_and_load_nothing(tmp_path):
    ref = trained_lenet5()
    model = create_model("lenet5", seed=1)
    before = model.state_dict()

    renamed = dict(ref.state_dict())
    renamed["classifier.5.offset"] = renamed.pop("classifier.5.bias")
    safetensors_torch.save_file(renamed, str(tmp_path / "renamed.safetensors"))
    with pytest.raises(ValueError, match=r"missing keys: classifier\.5\.bias.*unexpected keys: classifier\.5\.offset"):
        model.load_state_dict(st.io.load_safetensors(tmp_path / "renamed.safetensors"))

    wrong = dict(ref.state_dict())
    wrong["features.0.weight"] = torch.zeros(6, 3, 5, 5)
    safetensors_torch.save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(st.ShapeError, match=r"features\.0\.weight: expected \(6, 1, 5, 5\), got \(6, 3, 5, 5\)"):
        model.load_state_dict(st.io.load_safetensors(tmp_path / "wrong.safetensors"))

    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)      # nothing half-loaded


@needs_torch
def test_unreadable_files_are_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError):
        st.io.load_safetensors(tmp_path / "absent.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match=r"garbage\.safetensors is not a readable safetensors file"):
        st.io.load_safetensors(garbage)
    half = tmp_path / "half.safetensors"
    safetensors_torch.save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, str(half))
    with pytest.raises(ValueError, match=r"half\.safetensors holds arrays NumPy cannot represent.*float32"):
        st.io.load_safetensors(half)
    with pytest.raises(TypeError, match=r"save_safetensors: 'w' has dtype object"):
        st.io.save_safetensors({"w": np.array([object()])}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="expected a mapping"):
        st.io.save_safetensors([np.zeros(2)], tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="metadata must map str to str"):
        st.io.save_safetensors({"w": np.zeros(2)}, tmp_path / "x.safetensors", metadata={"epoch": 3})


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "weights.safetensors"
    st.io.save_safetensors({"w": np.arange(3, dtype=np.float32)}, path)
    previous = path.read_bytes()
    import safetensors.numpy as backend

    def crash(arrays, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(backend, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        st.io.save_safetensors({"w": np.zeros(3, dtype=np.float32)}, path)
    assert path.read_bytes() == previous
    assert os.listdir(tmp_path) == ["weights.safetensors"]                # no temporary file left behind


def test_missing_package_names_the_extra(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "safetensors" or m.startswith("safetensors.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "safetensors", None)                # import safetensors -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'strided\[interop\]'"):
        st.io.load_safetensors(tmp_path / "w.safetensors")
    with pytest.raises(ImportError, match="safetensors"):
        st.io.save_safetensors({"w": np.zeros(2)}, tmp_path / "w.safetensors")
