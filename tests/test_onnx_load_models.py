"""Whole networks exported by ``torch.onnx.export`` and imported by ``st.onnx.load``.

Each PyTorch network (the zoo's references from the other test modules, and a small
MobileNet-style depthwise-separable network defined here) gets random weights and batch-norm
statistics, is exported by the TorchScript exporter (``dynamo=False``, with a dynamic batch
axis) and, for some, by the dynamo exporter, and runs in strided, in onnxruntime and in
PyTorch: strided's output equals onnxruntime's and torch's within 1e-4 of the output's scale, at
the exported batch size and at another one. Fine-tuning: the gradients of an imported model's
parameters equal PyTorch's for the same loss. VGG-11 and AlexNet at 224x224 are in the slow lane.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle import TORCH_REASON

torch = pytest.importorskip("torch", reason=TORCH_REASON)
onnx = pytest.importorskip("onnx", reason="needs the onnx package: pip install onnx")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (the oracle): pip install onnxruntime")

import strided as st  # noqa: E402
from torch_zoo import TorchAlexNet, TorchLeNet5, TorchVGG  # noqa: E402

tnn = torch.nn
pytestmark = pytest.mark.usefixtures("single_threaded_torch")
TOLERANCE = 1e-4                                                         # of the output's largest magnitude


class TorchDepthwiseSeparable(tnn.Module):
    """A MobileNet(v1)-style network: 3x3 depthwise + 1x1 pointwise convolutions, BN, ReLU6."""

    def __init__(self, num_classes=10):
        super().__init__()
        def block(c_in, c_out, stride):
            return tnn.Sequential(tnn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), tnn.BatchNorm2d(c_in),
                                  tnn.ReLU6(), tnn.Conv2d(c_in, c_out, 1, bias=False), tnn.BatchNorm2d(c_out),
                                  tnn.ReLU6())
        self.features = tnn.Sequential(tnn.Conv2d(3, 16, 3, 2, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU6(),
                                       block(16, 32, 1), block(32, 64, 2), block(64, 64, 1), block(64, 128, 2))
        self.pool = tnn.AdaptiveAvgPool2d(1)
        self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def randomise_norms(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model.eval()


def _resnet18():
    from test_resnet import torch_reference
    return torch_reference("resnet18")


def _mobilenet(name):
    def make():
        from test_mobilenet import REFERENCES
        torch.manual_seed(0)
        return REFERENCES[name](num_classes=10)
    return make


def _efficientnet():
    from test_efficientnet import TorchEfficientNetB0
    torch.manual_seed(0)
    return TorchEfficientNetB0(num_classes=10)


def _unet():
    from test_unet import TorchUNet
    torch.manual_seed(0)
    return TorchUNet(in_channels=1, num_classes=2, base_channels=8, depth=3)


def _alexnet():
    torch.manual_seed(0)
    return TorchAlexNet(num_classes=10)


def _vgg11():
    torch.manual_seed(0)
    return TorchVGG("A", num_classes=10)


def _lenet():
    torch.manual_seed(0)
    return TorchLeNet5()


def _separable():
    torch.manual_seed(0)
    return TorchDepthwiseSeparable()


# name: (factory, input shape (C, H, W), slow)
MODELS = {
    "lenet5": (_lenet, (1, 32, 32), False),
    "depthwise_separable": (_separable, (3, 64, 64), False),
    "resnet18": (_resnet18, (3, 64, 64), False),
    "mobilenet_v2": (_mobilenet("mobilenet_v2"), (3, 64, 64), False),
    "mobilenet_v3_small": (_mobilenet("mobilenet_v3_small"), (3, 64, 64), False),
    "efficientnet_b0": (_efficientnet, (3, 64, 64), True),
    "unet": (_unet, (1, 32, 32), False),
    "alexnet": (_alexnet, (3, 224, 224), True),
    "vgg11": (_vgg11, (3, 224, 224), True),
}


def export(model, shape, path, dynamo=False, batch=2):
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((batch,) + shape).astype(np.float32))
    if dynamo:
        batch_dim = torch.export.Dim("batch", min=1, max=64)
        torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["input"], output_names=["output"],
                          dynamic_shapes={"x": {0: batch_dim}}, verbose=False)
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17)
    return path


def largest_difference(got, want) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


def compare(name, path, model, shape, batches=(2, 3)):
    """strided vs onnxruntime vs torch at each batch size; returns the largest relative difference to onnxruntime."""
    imported = st.onnx.load(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in batches:
        x = np.random.default_rng(batch).standard_normal((batch,) + shape).astype(np.float32)
        with st.no_grad():
            ours = imported(x).data
        theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            reference = model(torch.from_numpy(x)).numpy()
        assert ours.shape == theirs.shape == reference.shape
        worst = max(worst, largest_difference(ours, theirs))
        assert largest_difference(ours, theirs) < TOLERANCE, f"{name}: strided vs onnxruntime"
        assert largest_difference(ours, reference) < TOLERANCE, f"{name}: strided vs torch"
    return worst


def _case(name):
    return pytest.param(name, marks=pytest.mark.slow) if MODELS[name][2] else name


@pytest.mark.parametrize("name", [_case(n) for n in MODELS])
def test_torchscript_export_runs_like_onnxruntime_and_torch(name, tmp_path):
    factory, shape, _ = MODELS[name]
    model = randomise_norms(factory())
    path = export(model, shape, tmp_path / f"{name}.onnx")
    compare(name, path, model, shape)


def _dynamo_works() -> bool:
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _dynamo_works(), reason="the dynamo exporter needs onnxscript: pip install onnxscript")
@pytest.mark.parametrize("name", ["lenet5", pytest.param("resnet18", marks=pytest.mark.slow),
                                  pytest.param("mobilenet_v2", marks=pytest.mark.slow),
                                  pytest.param("unet", marks=pytest.mark.slow)])
def test_dynamo_export_runs_like_onnxruntime_and_torch(name, tmp_path):
    factory, shape, _ = MODELS[name]
    model = randomise_norms(factory())
    path = export(model, shape, tmp_path / f"{name}.onnx", dynamo=True)
    compare(name, path, model, shape)


def test_state_dict_keeps_pytorchs_names_and_loads_back(tmp_path):
    model = randomise_norms(_lenet())
    imported = st.onnx.load(export(model, (1, 32, 32), tmp_path / "lenet.onnx"))
    state = imported.state_dict()
    torch_state = model.state_dict()
    for key in ("features.3.weight", "classifier.1.weight", "classifier.5.bias"):
        np.testing.assert_array_equal(state[key], torch_state[key].numpy())
    assert {n: p.shape for n, p in imported.named_parameters()} == {k: tuple(v.shape) for k, v in torch_state.items()
                                                                    if k in state}
    assert imported.input_names == ["input"] and imported.output_names == ["output"]
    zeroed = {k: np.zeros_like(v) for k, v in state.items()}
    imported.load_state_dict(zeroed)
    assert np.all(imported(np.ones((1, 1, 32, 32), np.float32)).data == 0)


def test_fine_tuning_gradients_equal_torch(tmp_path):
    """An imported model's parameters get the gradients PyTorch computes for the same loss."""
    torch.manual_seed(0)
    model = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                           tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), tnn.Tanh(),
                           tnn.Flatten(), tnn.Linear(6 * 2 * 2, 5), tnn.LogSoftmax(dim=1)).eval()
    path = export(model, (2, 8, 8), tmp_path / "small.onnx")
    imported = st.onnx.load(path)
    x = np.random.default_rng(0).standard_normal((3, 2, 8, 8)).astype(np.float32)
    target = np.array([1, 4, 0])
    loss = st.nn.functional.nll_loss(imported(x), target)
    loss.backward()
    tx = torch.from_numpy(x)
    torch_loss = tnn.functional.nll_loss(model(tx), torch.from_numpy(target))
    torch_loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-5)
    grads = dict(imported.named_parameters())
    compared = 0
    for key, param in model.named_parameters():
        onnx_name = next(n for n, k in imported.initializer_names.items() if k == key)
        assert onnx_name == key
        np.testing.assert_allclose(grads[key].grad, param.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=key)
        compared += 1
    assert compared == 6
    opt = st.optim.SGD(imported.parameters(), lr=0.1)                 # and a step changes the imported weights
    before = imported.state_dict()["6.weight"].copy()
    opt.step()
    assert not np.allclose(imported.state_dict()["6.weight"], before)


def test_batch_norm_graph_kept_unfused_trains_and_updates_its_buffers(tmp_path):
    """With BatchNormalization left in the graph (exported without constant folding), eval equals
    torch, and in train() the batch statistics normalise and the running buffers move."""
    torch.manual_seed(0)
    model = randomise_norms(tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4), tnn.ReLU()))
    x = torch.randn(2, 3, 6, 6)
    path = tmp_path / "bn.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"], output_names=["output"],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, opset_version=15)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" in ops
    imported = st.onnx.load(path)
    with torch.no_grad():
        np.testing.assert_allclose(imported(x.numpy()).data, model(x).numpy(), rtol=1e-4, atol=1e-5)
    imported.train()
    model.train()
    before = {k: v.copy() for k, v in imported.state_dict().items() if "running" in k}
    assert before
    out = imported(x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(out.data, model(x).numpy(), rtol=1e-4, atol=1e-5)
    after = imported.state_dict()
    for key, value in before.items():
        np.testing.assert_allclose(after[key], model.state_dict()[key].numpy(), rtol=1e-5, atol=1e-6)
        assert not np.allclose(after[key], value)
