"""Every zoo model exported to ONNX and run in onnxruntime equals strided's forward (evaluation mode),
and a file read back with ``st.onnx.load`` exports to the same graph again.

Inputs are the smallest each model takes comfortably (32x32 for the ImageNet networks with a
global or adaptive pool, 63x63 for torchvision's AlexNet, 71x71 for Xception, 227x227 for the
2012 AlexNet); the heavy models are in the slow lane, LeNet-5 and the small networks in the fast one.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided.models import create_model, list_models

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install onnx onnxruntime")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install onnx onnxruntime")

import strided.onnx  # noqa: E402
from strided.onnx import export  # noqa: E402

RTOL = 1e-4
SMALL = (2, 3, 32, 32)
INPUTS = {
    "lenet5": (2, 1, 32, 32), "lenet5_classic": (2, 1, 32, 32), "mnist1d_cnn": (2, 1, 40),
    "digits_cnn": (2, 1, 8, 8), "alexnet": (1, 3, 63, 63), "alexnet_2012": (1, 3, 227, 227),
    "googlenet": SMALL, "xception": (1, 3, 71, 71), "mobilenet_v2": SMALL, "mobilenet_v3_small": SMALL,
    "efficientnet_b0": SMALL, "unet": (2, 1, 32, 32),
    **{f"resnet{n}": SMALL for n in (18, 34, 50, 101, 152, 20, 32, 44, 56)},
    **{f"vgg{n}{bn}": SMALL for n in (11, 13, 16, 19) for bn in ("", "_bn")},
}
FAST = {"lenet5", "lenet5_classic", "mnist1d_cnn", "digits_cnn", "resnet20", "unet", "mobilenet_v3_small"}


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _with_statistics(model):
    """Batch-norm running statistics and affine parameters away from 0 and 1 (a freshly built model has
    the identity there), so the export of every normalisation is checked."""
    rng = np.random.default_rng(7)
    for module in model.modules():
        if hasattr(module, "running_var") and module.running_var is not None:
            module.running_mean = (rng.standard_normal(module.running_mean.shape) * 0.1).astype(np.float32)
            module.running_var = rng.uniform(0.5, 1.5, module.running_var.shape).astype(np.float32)
            if module.weight is not None:
                module.weight.data = rng.uniform(0.5, 1.5, module.weight.shape).astype(np.float32)
                module.bias.data = (rng.standard_normal(module.bias.shape) * 0.1).astype(np.float32)
    return model


def case(name):
    return pytest.param(name, marks=() if name in FAST else (pytest.mark.slow,))


def test_every_model_has_an_input():
    assert sorted(INPUTS) == list_models()


@pytest.mark.parametrize("name", [case(n) for n in list_models()])
def test_zoo_model_exports_and_matches_onnxruntime(name, tmp_path):
    shape = INPUTS[name]
    model = _with_statistics(create_model(name, seed=0)).eval()
    path = tmp_path / f"{name}.onnx"
    proto = export(model, path, shape)
    onnx.checker.check_model(str(path), full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    got = session(path).run(None, {"input": x})[0]
    with st.no_grad():
        want = model(x).data
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= RTOL * np.abs(want).max()


@pytest.mark.parametrize("opset", [13, 17])
def test_lenet5_and_resnet20_in_older_opsets(opset, tmp_path):
    for name in ("lenet5", "resnet20"):
        model = _with_statistics(create_model(name, seed=0)).eval()
        path = tmp_path / f"{name}.onnx"
        export(model, path, INPUTS[name], opset=opset)
        x = np.random.default_rng(4).standard_normal(INPUTS[name]).astype(np.float32)
        got = session(path).run(None, {"input": x})[0]
        assert np.abs(got - model(x).data).max() <= RTOL * np.abs(model(x).data).max()


# ------------------------------------------------------------------------------------- round trip through load
def _graph(proto):
    """The ops in order, and the initializer values in the order the nodes read them (names may differ)."""
    values = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    read = [values[name] for node in proto.graph.node for name in node.input if name in values]
    return [node.op_type for node in proto.graph.node], read


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "mobilenet_v3_small", "unet"])
def test_export_load_export_gives_the_same_graph(name, tmp_path):
    load = getattr(strided.onnx, "load", None)
    if load is None:
        pytest.skip("waits for st.onnx.load (the import half of issue 13)")
    shape = INPUTS[name]
    model = _with_statistics(create_model(name, seed=0)).eval()
    first = export(model, tmp_path / "first.onnx", shape)
    loaded = load(tmp_path / "first.onnx")
    second = export(loaded, tmp_path / "second.onnx", shape)
    ops_first, weights_first = _graph(first)
    ops_second, weights_second = _graph(second)
    assert ops_second == ops_first
    assert len(weights_second) == len(weights_first)
    for a, b in zip(weights_first, weights_second):
        np.testing.assert_array_equal(a, b)
