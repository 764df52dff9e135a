"""ResNets: published sizes, torchvision's names and parity with a PyTorch definition of each network.

The PyTorch reference below is written here in torchvision's layout (torchvision itself is
not a dependency): ``TorchResNet`` with ``TorchBasicBlock`` / ``TorchBottleneck`` (stride on the
3x3 convolution, projection shortcuts named ``downsample``), and ``TorchCifarResNet`` with the
option-A shortcut ``F.pad(x[:, :, ::2, ::2], ...)``. Weights go torch -> NumPy -> strided through
``load_state_dict`` unchanged and strict, then outputs (float32, evaluation) and gradients plus one
SGD step (float64, training, batch norm on batch statistics) are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from oracle import TF, TorchModule, needs_torch, torch
from strided import nn
from strided.models import (BasicBlock, Bottleneck, ResNet, ZeroPadShortcut, create_model, list_models)
from strided.models.resnet import projection

tnn = None if torch is None else torch.nn


# --------------------------------------------------------------------------------------------- reference


class TorchBasicBlock(TorchModule):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchBottleneck(TorchModule):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchResNet(TorchModule):
    """torchvision.models.ResNet, without its options (groups, width, dilation)."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, tnn.Conv2d):
                tnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = tnn.Sequential(tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                        tnn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TorchPadShortcut(TorchModule):
    """Option A: ``x[:, :, ::2, ::2]`` with ``planes // 4`` zero channels on each side."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return TF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class TorchCifarResNet(TorchModule):
    def __init__(self, n, num_classes=10):
        super().__init__()
        self.inplanes = 16
        self.conv1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(16)
        self.relu = tnn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(64, num_classes)

    def _make_layer(self, planes, blocks, stride):
        downsample = TorchPadShortcut(planes) if stride != 1 or self.inplanes != planes else None
        layers = [TorchBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [TorchBasicBlock(planes, planes) for _ in range(1, blocks)]
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


REFERENCES = {
    "resnet18": lambda: TorchResNet(TorchBasicBlock, (2, 2, 2, 2)),
    "resnet34": lambda: TorchResNet(TorchBasicBlock, (3, 4, 6, 3)),
    "resnet50": lambda: TorchResNet(TorchBottleneck, (3, 4, 6, 3)),
    "resnet101": lambda: TorchResNet(TorchBottleneck, (3, 4, 23, 3)),
    "resnet152": lambda: TorchResNet(TorchBottleneck, (3, 8, 36, 3)),
    "resnet20": lambda: TorchCifarResNet(3),
    "resnet32": lambda: TorchCifarResNet(5),
    "resnet44": lambda: TorchCifarResNet(7),
    "resnet56": lambda: TorchCifarResNet(9),
}

# name: (parameters, GMACs at 224x224 or None, input for the forward check)
# torchvision's published parameter counts and GFLOPS (which are MACs); He et al.'s 0.27M for ResNet-20.
PUBLISHED = {
    "resnet18": (11_689_512, 1.81, (1, 3, 64, 64)),
    "resnet34": (21_797_672, 3.66, (1, 3, 64, 64)),
    "resnet50": (25_557_032, 4.09, (1, 3, 64, 64)),
    "resnet101": (44_549_160, 7.80, (1, 3, 32, 32)),
    "resnet152": (60_192_808, 11.51, (1, 3, 32, 32)),
    "resnet20": (269_722, None, (2, 3, 32, 32)),
    "resnet32": (464_154, None, (2, 3, 32, 32)),
    "resnet44": (658_586, None, (2, 3, 32, 32)),
    "resnet56": (853_018, None, (2, 3, 32, 32)),
}
CIFAR = {"resnet20", "resnet32", "resnet44", "resnet56"}


def test_every_resnet_is_registered():
    assert set(PUBLISHED) <= set(list_models())


@needs_torch
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in ("resnet101", "resnet152")
                                  else name for name in sorted(PUBLISHED)])
def test_sizes_summary_names_and_forward_shape(name):
    params, gmacs, small = PUBLISHED[name]
    model = create_model(name, seed=0)
    assert model.num_parameters() == params
    full = st.summary(model, (1, 3, 32, 32) if name in CIFAR else (1, 3, 224, 224))
    assert full.params == params
    assert full.output_shape == (1, 10 if name in CIFAR else 1000)
    if gmacs is not None:
        assert round(full.macs / 1e9, 2) == gmacs
    # the state_dict is torchvision's, key for key in the same order, shape for shape
    with torch.device("meta"):
        reference = REFERENCES[name]()
    ours = model.state_dict()
    assert list(ours) == list(reference.state_dict())
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in reference.state_dict().values()]
    # the static output shape is the one a real forward pass gives
    expected = st.summary(model, small).output_shape
    with st.no_grad():
        out = model.eval()(np.zeros(small, dtype=np.float32))
    assert out.shape == expected == model.output_shape(small)


def test_summary_runs_no_forward_pass(monkeypatch):
    def refuse(self, *args):
        raise AssertionError("summary must not run forward()")
    for cls in (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.GlobalAvgPool, nn.Linear, ZeroPadShortcut,
                BasicBlock, Bottleneck, ResNet):
        monkeypatch.setattr(cls, "forward", refuse)
    assert st.summary(create_model("resnet50"), (1, 3, 224, 224)).output_shape == (1, 1000)
    assert st.summary(create_model("resnet20"), (1, 3, 32, 32)).output_shape == (1, 10)


def last_row(result, prefix):
    return [row for row in result.rows if row.name.startswith(prefix)][-1]


def test_summary_rows_and_receptive_fields_through_the_residuals():
    r18 = st.summary(create_model("resnet18"), (1, 3, 224, 224))
    names = [row.name for row in r18.rows]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"] and names[-2:] == ["avgpool", "fc"]
    # a block lists its main path, then its shortcut, then the ReLU after the addition
    assert names[names.index("layer2.0.conv1"):names.index("layer2.1.conv1")] == [
        "layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu", "layer2.0.conv2", "layer2.0.bn2",
        "layer2.0.downsample.0", "layer2.0.downsample.1", "layer2.0.relu"]
    assert len([row for row in r18.rows if row.type == "Conv2d"]) == 20      # 17 + 3 projections
    # by hand: conv1 7 (jump 2); maxpool 7 + 2*2 = 11 (jump 4); layer1 four 3x3: 11 + 4*2*4 = 43;
    # layer2 43 + 2*4 = 51 (jump 8) + 3*2*8 = 99; layer3 99 + 16 = 115 (jump 16) + 96 = 211;
    # layer4 211 + 32 = 243 (jump 32) + 3*64 = 435
    rf = last_row(r18, "layer4").receptive_field
    assert rf.size == (435, 435) and rf.jump == (32, 32)
    assert last_row(r18, "layer4").output_shape == (1, 512, 7, 7)
    # ResNet-50 (one 3x3 per bottleneck, the stride on it): 11 + 3*8 = 35; 35 + 8 + 3*16 = 91;
    # 91 + 16 + 5*32 = 267; 267 + 32 + 2*64 = 427
    r50 = st.summary(create_model("resnet50"), (1, 3, 224, 224))
    assert last_row(r50, "layer4").receptive_field.size == (427, 427)
    # ResNet-20: 3 + 6*2 = 15; 15 + 2 + 5*4 = 37 (jump 2); 37 + 4 + 5*8 = 81 (jump 4)
    r20 = st.summary(create_model("resnet20"), (1, 3, 32, 32))
    assert last_row(r20, "layer3").receptive_field.size == (81, 81)
    assert last_row(r20, "layer3").output_shape == (1, 64, 8, 8)
    shortcut = [row for row in r20.rows if row.type == "ZeroPadShortcut"]
    assert [row.name for row in shortcut] == ["layer2.0.downsample", "layer3.0.downsample"]
    assert [(row.params, row.macs) for row in shortcut] == [(0, 0), (0, 0)]


@pytest.mark.parametrize("make, shape", [
    (lambda: BasicBlock(4, 6, 2, projection(4, 6, 2, rng=1), rng=0), (1, 4, 12, 12)),
    (lambda: Bottleneck(4, 2, 2, projection(4, 8, 2, rng=1), rng=0), (1, 4, 12, 12)),
    (lambda: BasicBlock(4, 8, 2, ZeroPadShortcut(4, 8, 2), rng=0), (1, 4, 12, 12)),
    (lambda: BasicBlock(4, 4, 1, None, rng=0), (1, 4, 9, 9)),
], ids=["basic-projection", "bottleneck-projection", "basic-option-a", "basic-identity"])
def test_block_receptive_field_equals_the_gradient_support(make, shape):
    """With every ReLU active (batch-norm biases large) a block is linear in its input, and the input
    positions with a non-zero gradient of one output are exactly its receptive field."""
    block = make().double().eval()
    for module in block.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.bias.data[:] = 100.0
    d = len(shape) - 2
    rf = block.receptive_field(st.geometry.ReceptiveField.identity(d), shape)
    out_shape = block.output_shape(shape)
    o = tuple(n // 2 for n in out_shape[2:])                         # an output well inside the map
    x = st.Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True, dtype=np.float64)
    out = block(x)
    assert out.shape == out_shape and (out.data > 0).all()
    upstream = np.zeros(out_shape)
    upstream[(0, slice(None)) + o] = 1.0                            # every channel of that output
    (out * st.Tensor(upstream, dtype=np.float64)).sum().backward()
    seen = np.argwhere(np.abs(x.grad[0]).sum(axis=0) > 0)            # (positions, d)
    for a in range(d):
        centre = rf.start[a] + o[a] * rf.jump[a]
        assert (seen[:, a].min(), seen[:, a].max()) == (centre - (rf.size[a] - 1) / 2,
                                                        centre + (rf.size[a] - 1) / 2)


# --------------------------------------------------------------------------------------------- init


def test_initialisation_is_torchvisions_and_seeded():
    a, b, c = create_model("resnet18", seed=3), create_model("resnet18", seed=3), create_model("resnet18", seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert not np.array_equal(sa["conv1.weight"], sc["conv1.weight"])
    for key in ("conv1.weight", "layer3.0.conv2.weight", "layer4.0.downsample.0.weight"):
        w = sa[key]
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]
        assert w.dtype == np.float32
        assert abs(w.std() / np.sqrt(2.0 / fan_out) - 1) < 0.05, key           # He normal, fan-out
    assert (sa["layer1.0.bn1.weight"] == 1).all() and (sa["layer1.0.bn1.bias"] == 0).all()
    assert (sa["bn1.running_var"] == 1).all() and sa["bn1.num_batches_tracked"] == 0
    bound = 1 / np.sqrt(512)                                                     # Linear's default
    assert np.abs(sa["fc.weight"]).max() <= bound and np.abs(sa["fc.weight"]).max() > 0.9 * bound
    zero = ResNet(Bottleneck, (1, 1, 1, 1), num_classes=5, zero_init_residual=True, rng=0)
    assert all((m.bn3.weight.data == 0).all() for m in zero.modules() if isinstance(m, Bottleneck))


def test_other_classes_and_channels():
    model = create_model("resnet18", num_classes=7, in_channels=1, seed=0)
    assert model.output_shape((2, 1, 64, 64)) == (2, 7)
    assert create_model("resnet20", num_classes=100, seed=0).output_shape((1, 3, 32, 32)) == (1, 100)
    with pytest.raises(st.ShapeError, match=r"Conv2d\(1, 64.*got \(2, 3, 64, 64\)"):
        model.output_shape((2, 3, 64, 64))
    with pytest.raises(ValueError, match="ResNet: layers must be 4"):
        ResNet(BasicBlock, (2, 2, 2))
    block = BasicBlock(4, 8, 1, None, rng=0)                       # a shape-changing block without a shortcut
    with pytest.raises(st.ShapeError, match=r"BasicBlock\(4, 8, stride=1\): .*\(1, 8, 6, 6\), \(1, 4, 6, 6\)"):
        block.output_shape((1, 4, 6, 6))
    with pytest.raises(st.ShapeError, match=r"BasicBlock\(4, 8, stride=1\): the main path gives \(1, 8, 6, 6\)"):
        block(np.zeros((1, 4, 6, 6), dtype=np.float32))


# --------------------------------------------------------------------------------------------- option A


@needs_torch
def test_zero_pad_shortcut_by_hand_and_against_torch():
    x = np.arange(2 * 4 * 5 * 6, dtype=np.float64).reshape(2, 4, 5, 6)
    layer = ZeroPadShortcut(4, 8, stride=2)
    t = st.Tensor(x, requires_grad=True, dtype=np.float64)
    out = layer(t)
    assert out.shape == (2, 8, 3, 3) == layer.output_shape(x.shape)
    np.testing.assert_array_equal(out.data[:, 2:6], x[:, :, ::2, ::2])
    assert (out.data[:, :2] == 0).all() and (out.data[:, 6:] == 0).all()
    g = np.random.default_rng(0).standard_normal(out.shape)
    (out * st.Tensor(g, dtype=np.float64)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ref = TorchPadShortcut(8)(tx)
    ref.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    np.testing.assert_array_equal(t.grad, tx.grad.numpy())
    assert layer.cost(x.shape) == (0, 0)
    assert ZeroPadShortcut(16, 16).output_shape((1, 16, 7, 7)) == (1, 16, 7, 7)


def test_zero_pad_shortcut_errors_name_the_layer():
    layer = ZeroPadShortcut(4, 8, stride=2)
    with pytest.raises(st.ShapeError, match=r"ZeroPadShortcut\(4, 8, stride=\(2, 2\)\): expected input "
                                            r"\(N, 4, H, W\), got \(2, 3, 5, 5\)"):
        layer(np.zeros((2, 3, 5, 5), dtype=np.float32))
    with pytest.raises(st.ShapeError, match=r"got \(2, 4, 5\)"):
        layer.output_shape((2, 4, 5))
    with pytest.raises(ValueError, match="out_channels .* at least in_channels"):
        ZeroPadShortcut(8, 4)


# --------------------------------------------------------------------------------------------- parity


def torch_reference(name, seed=0):
    """The reference with random (but reasonable) batch-norm affine parameters and running statistics."""
    torch.manual_seed(seed)
    ref = REFERENCES[name]()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(7)
    return ref


def calibrate(ref, x):
    """Running statistics of one real batch (so evaluation-mode activations stay at a sane scale)."""
    for m in ref.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None                      # cumulative average: after one batch, its statistics
    ref.train()
    with torch.no_grad():
        ref(x)
    for m in ref.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.momentum = 0.1


def loaded(name, ref):
    model = create_model(name, seed=123)
    missing, unexpected = model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    assert list(missing) == [] and list(unexpected) == []
    return model


PARITY = {"resnet18": (2, 64), "resnet50": (2, 64), "resnet20": (4, 32)}     # batch, image size


def parity_cases(slow):
    """The names of ``PARITY``, those in ``slow`` (a second or more here) in the slow lane."""
    return [pytest.param(name, marks=pytest.mark.slow) if name in slow else name for name in sorted(PARITY)]


@needs_torch
@pytest.mark.parametrize("name", parity_cases(slow={"resnet50"}))
def test_eval_outputs_equal_torch_float32(name):
    """Evaluation in float32 with running statistics of a real batch: strided equals torch to 1e-4 of
    the output's scale, and is as close as torch's own float32 result to the float64 one."""
    batch, size = PARITY[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    ref = torch_reference(name)
    calibrate(ref, torch.from_numpy(rng.standard_normal((8, 3, size, size)).astype(np.float32)))
    model = loaded(name, ref).eval()
    ref.eval()
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with st.no_grad():
        out = model(x)
    assert out.dtype == np.float32
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-4 * scale)
    # evaluation changes no state
    assert all(np.array_equal(v, ref.state_dict()[k].numpy()) for k, v in model.state_dict().items())
    # float32 rounding: ours is no further from the float64 result than torch's (a factor 3 of slack)
    with torch.no_grad():
        exact = ref.double()(torch.from_numpy(x).double()).numpy()
    assert np.abs(out.data - exact).max() <= 3 * np.abs(expected - exact).max() + 1e-7 * scale


@needs_torch
@pytest.mark.parametrize("name", parity_cases(slow={"resnet18", "resnet50"}))
def test_training_step_equals_torch_float64(name):
    """One SGD step in training mode: loss, every parameter's gradient, the updated parameters and the
    running statistics (including ``num_batches_tracked``) agree in float64."""
    batch, size = PARITY[name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 3, size, size))
    classes = 10 if name == "resnet20" else 1000
    labels = rng.integers(0, classes, batch)
    ref = torch_reference(name)
    model = loaded(name, ref).double().train()
    ref.double().train()

    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_ref = TF.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(labels))
    opt.zero_grad()
    loss_ref.backward()
    grads_ref = {k: p.grad.numpy().copy() for k, p in ref.named_parameters()}
    opt.step()

    ours = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss = nn.CrossEntropyLoss()(model(st.Tensor(x, dtype=np.float64)), labels)
    ours.zero_grad()
    loss.backward()
    grads = {k: p.grad.copy() for k, p in model.named_parameters()}
    ours.step()

    assert abs(loss.item() - loss_ref.item()) < 1e-10
    assert list(grads) == list(grads_ref)
    for key, g in grads.items():
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, grads_ref[key], rtol=1e-7, atol=1e-9 * np.abs(grads_ref[key]).max(),
                                   err_msg=f"{name}: gradient of {key}")
    state_ref = ref.state_dict()
    for key, value in model.state_dict().items():
        expected = state_ref[key].numpy()
        np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-9 * max(np.abs(expected).max(), 1),
                                   err_msg=f"{name}: {key} after the step")
    assert model.state_dict()["bn1.num_batches_tracked"] == 8
