"""MobileNetV2 and MobileNetV3-Small: published sizes, torchvision's names, and parity with PyTorch.

The PyTorch references below are written here in torchvision's layout with ``torch.nn`` only
(torchvision is not a dependency): ``TorchConvNormAct`` (its ``Conv2dNormActivation``),
``TorchInvertedResidual`` (MobileNetV2's block, layers in ``conv``), ``TorchSqueezeExcitation``
(``ops.SqueezeExcitation``: ``avgpool``, ``fc1``, ``fc2``, ``activation``, ``scale_activation``),
``TorchInvertedResidualV3`` (layers in ``block``), ``TorchMobileNetV2`` and ``TorchMobileNetV3``,
built from torchvision's tables (``TV_V2_SETTING``, ``TV_V3_SMALL``) and its ``_make_divisible``,
written out independently of ``strided.models.mobilenet``.

Weights go strided -> NumPy -> torch through a strict ``load_state_dict`` (every name matched one
to one), then blocks are compared in float64 (training mode), and the whole networks in float32
(evaluation, 224x224) and in float64 (one training step, gradients of every parameter).
Published figures (torchvision): 3,504,872 parameters and 0.301 GFLOPS (MACs) for MobileNetV2,
2,542,856 and 0.057 for MobileNetV3-Small.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from module_oracle import check_module_against_torch
from oracle import TF, TorchModule, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField
from strided.models import create_model, list_models
from strided.models.blocks import ConvNormActivation, SqueezeExcitation, make_divisible
from strided.models.mobilenet import InvertedResidual, InvertedResidualV3, MobileNetV3

tnn = None if torch is None else torch.nn
pytestmark = pytest.mark.usefixtures("single_threaded_torch")

# torchvision's published figures: parameters, GFLOPS (its "_ops", multiply-accumulates) at 224x224
PUBLISHED = {"mobilenet_v2": (3_504_872, 0.301), "mobilenet_v3_small": (2_542_856, 0.057)}


# --------------------------------------------------------------------------------------------- reference

# torchvision.models.mobilenetv2: t, c, n, s
TV_V2_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                 [6, 320, 1, 1]]
# torchvision.models.mobilenetv3, "mobilenet_v3_small": input, kernel, expanded, out, use_se, activation, stride
TV_V3_SMALL = [[16, 3, 16, 16, True, "RE", 2], [16, 3, 72, 24, False, "RE", 2], [24, 3, 88, 24, False, "RE", 1],
               [24, 5, 96, 40, True, "HS", 2], [40, 5, 240, 40, True, "HS", 1], [40, 5, 240, 40, True, "HS", 1],
               [40, 5, 120, 48, True, "HS", 1], [48, 5, 144, 48, True, "HS", 1], [48, 5, 288, 96, True, "HS", 2],
               [96, 5, 576, 96, True, "HS", 1], [96, 5, 576, 96, True, "HS", 1]]


def tv_make_divisible(v, divisor=8):
    """torchvision.models._utils._make_divisible (from the TensorFlow MobileNet code)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def tv_bn(eps, momentum):
    return lambda c: tnn.BatchNorm2d(c, eps=eps, momentum=momentum)


class TorchConvNormAct(tnn.Sequential if torch is not None else object):
    def __init__(self, cin, cout, k=3, stride=1, groups=1, act=None, norm=None):
        layers = [tnn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), norm(cout)]
        super().__init__(*(layers + ([act(inplace=True)] if act is not None else [])))


class TorchInvertedResidual(TorchModule):
    def __init__(self, inp, oup, stride, expand_ratio, norm=None):
        super().__init__()
        norm = norm or tnn.BatchNorm2d
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers = [] if expand_ratio == 1 else [TorchConvNormAct(inp, hidden, 1, act=tnn.ReLU6, norm=norm)]
        layers += [TorchConvNormAct(hidden, hidden, 3, stride, groups=hidden, act=tnn.ReLU6, norm=norm),
                   tnn.Conv2d(hidden, oup, 1, 1, 0, bias=False), norm(oup)]
        self.conv = tnn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TorchSqueezeExcitation(TorchModule):
    def __init__(self, input_channels, squeeze_channels, activation=None, scale_activation=None):
        super().__init__()
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.fc1 = tnn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = tnn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = (activation or tnn.ReLU)()
        self.scale_activation = (scale_activation or tnn.Sigmoid)()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class TorchInvertedResidualV3(TorchModule):
    def __init__(self, cin, kernel, expanded, cout, use_se, activation, stride, norm=None):
        super().__init__()
        norm = norm or tv_bn(0.001, 0.01)
        act = tnn.Hardswish if activation == "HS" else tnn.ReLU
        self.use_res_connect = stride == 1 and cin == cout
        layers = [] if expanded == cin else [TorchConvNormAct(cin, expanded, 1, act=act, norm=norm)]
        layers.append(TorchConvNormAct(expanded, expanded, kernel, stride, groups=expanded, act=act, norm=norm))
        if use_se:
            layers.append(TorchSqueezeExcitation(expanded, tv_make_divisible(expanded // 4, 8),
                                                 scale_activation=tnn.Hardsigmoid))
        layers.append(TorchConvNormAct(expanded, cout, 1, act=None, norm=norm))
        self.block = tnn.Sequential(*layers)

    def forward(self, x):
        result = self.block(x)
        if self.use_res_connect:
            result = result + x
        return result


class TorchMobileNetV2(TorchModule):
    def __init__(self, num_classes=1000):
        super().__init__()
        input_channel, last_channel = 32, 1280
        features = [TorchConvNormAct(3, input_channel, stride=2, act=tnn.ReLU6, norm=tnn.BatchNorm2d)]
        for t, c, n, s in TV_V2_SETTING:
            for i in range(n):
                features.append(TorchInvertedResidual(input_channel, c, s if i == 0 else 1, t))
                input_channel = c
        features.append(TorchConvNormAct(input_channel, last_channel, 1, act=tnn.ReLU6, norm=tnn.BatchNorm2d))
        self.features = tnn.Sequential(*features)
        self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = TF.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class TorchMobileNetV3(TorchModule):
    def __init__(self, setting=TV_V3_SMALL, last_channel=1024, num_classes=1000):
        super().__init__()
        norm = tv_bn(0.001, 0.01)
        layers = [TorchConvNormAct(3, setting[0][0], 3, 2, act=tnn.Hardswish, norm=norm)]
        layers += [TorchInvertedResidualV3(*row, norm=norm) for row in setting]
        last_in = setting[-1][3]
        layers.append(TorchConvNormAct(last_in, 6 * last_in, 1, act=tnn.Hardswish, norm=norm))
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.classifier = tnn.Sequential(tnn.Linear(6 * last_in, last_channel), tnn.Hardswish(inplace=True),
                                         tnn.Dropout(p=0.2, inplace=True), tnn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


REFERENCES = {"mobilenet_v2": TorchMobileNetV2, "mobilenet_v3_small": TorchMobileNetV3}


class ExactHardsigmoid(TorchModule):
    """``relu6(x + 3) / 6``: ``nn.Hardsigmoid``'s values, with an exact float64 gradient. PyTorch's own
    float64 backward multiplies by ``1/6`` rounded to float32 (a relative error of 3e-8, see
    ``test_activations.TORCH_GRAD_RTOL``), too coarse for the float64 comparisons here."""

    def forward(self, x):
        return TF.relu6(x + 3) / 6


def exact_hardsigmoid(ref):
    """Replace every ``nn.Hardsigmoid`` of a PyTorch reference by ``ExactHardsigmoid``, in place."""
    for parent in list(ref.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, tnn.Hardsigmoid):
                setattr(parent, name, ExactHardsigmoid())
    return ref


def to_torch(model, ref):
    """Copy strided's state into the torch reference: strict, every name matched one to one, in order."""
    state = model.state_dict()
    assert list(state) == list(ref.state_dict()), "state-dict names differ from torchvision's"
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    return ref


# --------------------------------------------------------------------------------------------- sizes


def v2_macs_by_hand(size=224, classes=1000):
    """Multiply-accumulates of MobileNetV2 from the paper's table: stem, per block expand + depthwise +
    project, last 1x1, classifier (biases, batch norm, activations and pooling not counted)."""
    h = math.ceil(size / 2)
    macs, c_in = h * h * 32 * 3 * 9, 32
    for t, c, n, s in TV_V2_SETTING:
        for i in range(n):
            h_out = math.ceil(h / (s if i == 0 else 1))
            hidden = c_in * t
            macs += (h * h * c_in * hidden if t != 1 else 0) + h_out * h_out * hidden * 9 + h_out * h_out * hidden * c
            h, c_in = h_out, c
    return macs + h * h * 320 * 1280 + 1280 * classes


def v3_small_macs_by_hand(size=224, classes=1000):
    """The same for MobileNetV3-Small; a squeeze-and-excitation adds its two 1x1 convolutions on 1x1 maps."""
    h = math.ceil(size / 2)
    macs = h * h * 16 * 3 * 9
    for c_in, k, e, c, se, _, s in TV_V3_SMALL:
        h_out = math.ceil(h / s)
        squeeze = tv_make_divisible(e // 4)
        macs += (h * h * c_in * e if e != c_in else 0) + h_out * h_out * e * k * k
        macs += (2 * e * squeeze if se else 0) + h_out * h_out * e * c
        h = h_out
    return macs + h * h * 96 * 576 + 576 * 1024 + 1024 * classes


def test_both_are_registered():
    assert set(PUBLISHED) <= set(list_models())


@pytest.mark.parametrize("name, by_hand", [("mobilenet_v2", v2_macs_by_hand),
                                           ("mobilenet_v3_small", v3_small_macs_by_hand)])
def test_published_parameters_and_macs(name, by_hand):
    params, gflops = PUBLISHED[name]
    model = create_model(name, seed=0)
    assert model.num_parameters() == params
    s = st.summary(model, (1, 3, 224, 224))
    assert s.params == params and s.output_shape == (1, 1000)
    assert s.macs == by_hand()
    assert abs(s.macs / 1e9 / gflops - 1) < 0.02, f"{s.macs / 1e9:.4f} GMACs against torchvision's {gflops}"
    assert round(s.macs / 1e9, 2) == round(gflops, 2)
    # other classes and input channels change only the stem and the last layer
    small = create_model(name, num_classes=10, in_channels=1, seed=0)
    assert small.output_shape((2, 1, 64, 64)) == (2, 10)
    assert st.summary(small, (1, 1, 224, 224)).macs == by_hand(classes=10) - 112 * 112 * 2 * 9 * (
        32 if name == "mobilenet_v2" else 16)


def test_make_divisible_is_torchvisions_rounding():
    for v in list(range(1, 400)) + [32 * 0.35, 1280 * 1.4, 96 * 0.75, 576 * 0.5, 7.2, 9.1]:
        assert make_divisible(v) == tv_make_divisible(v), v
    assert [make_divisible(e // 4) for e in (16, 96, 240, 120, 144, 288, 576)] == [8, 24, 64, 32, 40, 72, 144]


@needs_torch
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_state_dict_is_torchvisions(name):
    model = create_model(name, seed=0)
    with torch.device("meta"):
        reference = REFERENCES[name]()
    ours = model.state_dict()
    assert list(ours) == list(reference.state_dict())
    assert [tuple(v.shape) for v in ours.values()] == [tuple(v.shape) for v in reference.state_dict().values()]
    assert [k for k, _ in model.named_parameters()] == [k for k, _ in reference.named_parameters()]


def test_names_and_layers_by_hand():
    v2 = create_model("mobilenet_v2", seed=0)
    names = [k for k, _ in v2.named_parameters()]
    assert names[:3] == ["features.0.0.weight", "features.0.1.weight", "features.0.1.bias"]
    assert "features.1.conv.0.0.weight" in names and "features.1.conv.1.weight" in names   # t = 1: no expansion
    assert "features.2.conv.3.weight" in names and names[-2:] == ["classifier.1.weight", "classifier.1.bias"]
    assert len(v2.features) == 19 and v2.features[18][0].weight.shape == (1280, 320, 1, 1)
    blocks = list(v2.features)[1:18]
    assert [b.use_res_connect for b in blocks].count(True) == 10
    assert [b.conv[-3][0].groups for b in blocks][:3] == [32, 96, 144]
    v3 = create_model("mobilenet_v3_small", seed=0)
    assert len(v3.features) == 13 and v3.features[12][0].weight.shape == (576, 96, 1, 1)
    se = [m for m in v3.modules() if isinstance(m, SqueezeExcitation)]
    assert [m.fc1.out_channels for m in se] == [8, 24, 64, 64, 32, 40, 72, 144, 144]
    bns = [m for m in v3.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all((m.eps, m.momentum) == (0.001, 0.01) for m in bns)
    assert all((m.eps, m.momentum) == (1e-5, 0.1) for m in v2.modules() if isinstance(m, nn.BatchNorm2d))
    assert [type(m).__name__ for m in v3.classifier] == ["Linear", "Hardswish", "Dropout", "Linear"]
    assert v3.classifier[0].weight.shape == (1024, 576) and v3.classifier[2].p == 0.2 == v2.classifier[0].p


def test_initialisation_is_torchvisions_and_seeded():
    a, b, c = (create_model("mobilenet_v3_small", seed=s) for s in (3, 3, 4))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert not np.array_equal(sa["features.0.0.weight"], sc["features.0.0.weight"])
    for key in ("features.4.block.0.0.weight", "features.4.block.1.0.weight", "features.9.block.3.0.weight",
                "features.12.0.weight"):
        w = sa[key]
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]                  # depthwise too: out_channels * k * k
        assert w.dtype == np.float32 and abs(w.std() / np.sqrt(2.0 / fan_out) - 1) < 0.1, key
    assert (sa["features.4.block.2.fc1.bias"] == 0).all() and (sa["features.4.block.2.fc2.bias"] == 0).all()
    assert (sa["features.4.block.1.1.weight"] == 1).all() and (sa["features.4.block.1.1.bias"] == 0).all()
    for key in ("classifier.0", "classifier.3"):
        assert abs(sa[key + ".weight"].std() - 0.01) < 5e-4 and (sa[key + ".bias"] == 0).all()
    v2 = create_model("mobilenet_v2", seed=0).state_dict()
    assert abs(v2["classifier.1.weight"].std() - 0.01) < 5e-4 and (v2["classifier.1.bias"] == 0).all()


# --------------------------------------------------------------------------------------------- summary


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_summary_rows_are_the_layers_a_forward_pass_runs(name):
    """Every row of ``summary`` (name and output shape, in order) is a layer the forward pass calls, with
    the output shape it really gives (forward hooks on every layer are the oracle)."""
    model = create_model(name, seed=0).eval()
    shape = (1, 3, 64, 64)
    calls = []
    for key, module in model.named_modules():
        if not module._modules:
            module.register_forward_hook(lambda m, args, out, key=key: calls.append((key, out.shape)))
    with st.no_grad():
        out = model(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    s = st.summary(model, shape)
    assert [(row.name, row.output_shape) for row in s.rows] == calls
    assert out.shape == s.output_shape == (1, 1000)
    # each row reads the previous row's output, except after a gate: the product reads the block's input
    for prev, row in zip(s.rows, s.rows[1:]):
        if row.input_shape != prev.output_shape:
            assert prev.name.endswith("scale_activation"), row.name
            pool = next(r for r in s.rows if r.name == prev.name.replace("scale_activation", "avgpool"))
            assert row.input_shape == pool.input_shape


def test_squeeze_excitation_rows_macs_and_receptive_field():
    se = SqueezeExcitation(12, 8, scale_activation=nn.Hardsigmoid, rng=0)
    s = st.summary(se, (2, 12, 7, 5))
    assert [row.name for row in s.rows] == ["avgpool", "fc1", "activation", "fc2", "scale_activation"]
    assert [row.output_shape for row in s.rows] == [(2, 12, 1, 1), (2, 8, 1, 1), (2, 8, 1, 1), (2, 12, 1, 1),
                                                    (2, 12, 1, 1)]
    assert s.output_shape == (2, 12, 7, 5) and s.macs == 2 * 12 * 8       # the product with the gate costs none
    assert s.params == se.num_parameters() == 12 * 8 + 8 + 8 * 12 + 12
    # the gate sees the whole 7x5 input: a window of 2S - 1 centred on each output covers it from any
    # output; jump and start stay the input's. After a 3x3/2 convolution (3, jump 2) on a 4x4 map: 3 + 6 * 2
    rf = se.receptive_field(ReceptiveField.identity(2), (2, 12, 7, 5))
    assert rf == ReceptiveField((13, 9), (1, 1), (0.0, 0.0))
    chain = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1, rng=0), se)
    assert chain.receptive_field(ReceptiveField.identity(2), (1, 3, 8, 8)) == ReceptiveField((15, 15), (2, 2),
                                                                                              (0.0, 0.0))
    # the oracle: each output's input gradient reaches every input position, and the corner output's
    # declared window ends exactly at the far corner
    x = st.Tensor(np.random.default_rng(0).standard_normal((1, 12, 7, 5)), requires_grad=True, dtype=np.float64)
    se.double()
    for o in ((0, 0), (3, 2), (6, 4)):
        x.grad = None
        se(x)[0, :, o[0], o[1]].sum().backward()
        assert (np.abs(x.grad[0]).sum(axis=0) > 0).all()
        for a in range(2):
            centre = rf.start[a] + o[a] * rf.jump[a]
            assert centre - (rf.size[a] - 1) / 2 <= 0 and centre + (rf.size[a] - 1) / 2 >= x.shape[2 + a] - 1
    assert ((rf.size[0] - 1) / 2, (rf.size[1] - 1) / 2) == (7 - 1, 5 - 1)     # from output (0, 0) to the far corner
    for bad in ((2, 6, 7, 5), (2, 12, 7)):
        with pytest.raises(st.ShapeError, match=r"SqueezeExcitation\(12, 8\): expected input \(N, 12, H, W\), got "):
            se.output_shape(bad)
    with pytest.raises(st.ShapeError, match=r"SqueezeExcitation\(12, 8\): .*got \(1, 6, 3, 3\)"):
        se(np.zeros((1, 6, 3, 3), dtype=np.float32))


def test_receptive_field_of_mobilenet_v2_by_hand():
    """Without gates, the recurrence: the stem 3 (jump 2); each depthwise 3x3 adds 2 * jump, with the jump
    doubling at the stride-2 blocks (2 -> 4 -> 8 -> 16 -> 32)."""
    s = st.summary(create_model("mobilenet_v2"), (1, 3, 224, 224))
    size, jump = 3, 2
    for t, c, n, stride in TV_V2_SETTING:
        for i in range(n):
            size += 2 * jump
            jump *= stride if i == 0 else 1
    row = next(r for r in s.rows if r.name == "features.18.2")
    assert row.receptive_field.size == (size, size) == (491, 491) and row.receptive_field.jump == (32, 32)


# --------------------------------------------------------------------------------------------- blocks


BLOCKS = {
    "v2-t1": (lambda: InvertedResidual(8, 6, 1, 1, rng=0), lambda: TorchInvertedResidual(8, 6, 1, 1), (2, 8, 7, 6)),
    "v2-residual": (lambda: InvertedResidual(6, 6, 1, 6, rng=0), lambda: TorchInvertedResidual(6, 6, 1, 6),
                    (2, 6, 6, 5)),
    "v2-stride2": (lambda: InvertedResidual(4, 8, 2, 6, rng=0), lambda: TorchInvertedResidual(4, 8, 2, 6),
                   (2, 4, 9, 8)),
    "se": (lambda: SqueezeExcitation(12, 8, scale_activation=nn.Hardsigmoid, rng=0),
           lambda: TorchSqueezeExcitation(12, 8, scale_activation=tnn.Hardsigmoid), (2, 12, 5, 4)),
    "v3-first": (lambda: InvertedResidualV3(16, 3, 16, 16, True, "RE", 2, rng=0),
                 lambda: TorchInvertedResidualV3(16, 3, 16, 16, True, "RE", 2), (2, 16, 8, 7)),
    "v3-relu": (lambda: InvertedResidualV3(8, 3, 24, 8, False, "RE", 1, rng=0),
                lambda: TorchInvertedResidualV3(8, 3, 24, 8, False, "RE", 1), (2, 8, 6, 6)),
    "v3-hardswish-se": (lambda: InvertedResidualV3(8, 5, 40, 8, True, "HS", 1, rng=0),
                        lambda: TorchInvertedResidualV3(8, 5, 40, 8, True, "HS", 1), (2, 8, 7, 7)),
}


@needs_torch
@pytest.mark.usefixtures("compute_path")
@pytest.mark.parametrize("case", sorted(BLOCKS))
def test_block_equals_torch_float64(case):
    """A block in training mode (batch statistics) against the PyTorch block: output, input gradient and
    every parameter's gradient, float64, weights copied by name."""
    make, make_torch, shape = BLOCKS[case]
    ours = make()
    for m in ours.modules():                     # batch norm affine parameters away from 1 and 0
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = np.linspace(0.5, 1.5, m.num_features, dtype=np.float32)
            m.bias.data = np.linspace(-0.3, 0.4, m.num_features, dtype=np.float32)
    check_module_against_torch(ours, exact_hardsigmoid(make_torch()), shape)
    assert ours.output_shape(shape) == tuple(make_torch()(torch.zeros(shape)).shape)


def test_batch_norm_relu_fusion_is_kept_in_relu_blocks(monkeypatch):
    """MobileNetV3's "RE" blocks run each batch norm + ReLU as one op: ReLU's own forward never runs."""
    block = InvertedResidualV3(8, 3, 24, 8, False, "RE", 1, rng=0)
    assert [type(m).__name__ for m in block.block[0]] == ["Conv2d", "BatchNorm2d", "ReLU"]

    def refuse(self, x):
        raise AssertionError("ReLU ran on its own: the batch norm + ReLU fusion was lost")
    monkeypatch.setattr(nn.ReLU, "forward", refuse)
    out = block(np.random.default_rng(0).standard_normal((2, 8, 6, 6)).astype(np.float32))
    assert out.shape == (2, 8, 6, 6)
    with pytest.raises(AssertionError, match="fusion was lost"):   # the gate's ReLU follows a convolution
        SqueezeExcitation(8, 8, rng=0)(np.zeros((1, 8, 3, 3), dtype=np.float32))


def test_errors_name_the_block():
    with pytest.raises(ValueError, match="InvertedResidual: stride must be 1 or 2, got 3"):
        InvertedResidual(4, 4, 3, 6)
    with pytest.raises(ValueError, match="InvertedResidualV3: activation must be 'RE' or 'HS'"):
        InvertedResidualV3(4, 3, 8, 4, False, "SILU", 1)
    with pytest.raises(ValueError, match="MobileNetV3: setting must list at least one block"):
        MobileNetV3([])
    block = ConvNormActivation(3, 8, 3, 2, rng=0)
    with pytest.raises(st.ShapeError, match=r"Conv2d\(3, 8.*got \(1, 4, 9, 9\)"):
        block.output_shape((1, 4, 9, 9))


# --------------------------------------------------------------------------------------------- networks


def calibrated(model, x):
    """Running statistics of one real batch (momentum 1 for one training-mode pass), so that evaluation
    keeps the activations at a sane scale; batch-norm affine parameters spread away from 1 and 0."""
    rng = np.random.default_rng(5)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0
        m.weight.data = (rng.random(m.num_features) + 0.5).astype(np.float32)
        m.bias.data = (0.1 * rng.standard_normal(m.num_features)).astype(np.float32)
    with st.no_grad():
        model.train()(x)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    return model.eval()


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_eval_output_equals_torch_float32(name):
    rng = np.random.default_rng(0)
    model = calibrated(create_model(name, seed=1), rng.standard_normal((4, 3, 224, 224)).astype(np.float32))
    ref = to_torch(model, REFERENCES[name]()).eval()
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with st.no_grad():
        out = model(x)
    assert out.dtype == np.float32 and out.shape == expected.shape == (1, 1000)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-4 * scale)
    with torch.no_grad():                        # ours is no further from float64 than torch's float32
        exact = ref.double()(torch.from_numpy(x).double()).numpy()
    assert np.abs(out.data - exact).max() <= 3 * np.abs(expected - exact).max() + 1e-6 * scale


@needs_torch
@pytest.mark.slow
@pytest.mark.usefixtures("compute_path")
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_training_step_equals_torch_float64(name):
    """Training mode, 10 classes, batch 2 at 64x64: the loss, every parameter's gradient, the parameters
    after an SGD step and the running statistics agree; dropout draws the same mask on both sides."""
    from torch_zoo import mirror_dropout
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((2, 3, 64, 64)), rng.integers(0, 10, 2)
    model = create_model(name, num_classes=10, seed=2)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = (rng.random(m.num_features) + 0.5).astype(np.float32)
            m.bias.data = (0.1 * rng.standard_normal(m.num_features)).astype(np.float32)
    ref = exact_hardsigmoid(to_torch(model, REFERENCES[name](num_classes=10))).double().train()
    model.double().train()
    assert mirror_dropout(ref, model) == 1

    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    loss_ref = TF.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(labels))
    opt.zero_grad()
    loss_ref.backward()
    opt.step()
    ours = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = nn.CrossEntropyLoss()(model(st.Tensor(x, dtype=np.float64)), labels)
    ours.zero_grad()
    loss.backward()
    grads = {k: p.grad.copy() for k, p in model.named_parameters()}
    ours.step()

    assert abs(loss.item() - loss_ref.item()) < 1e-10
    theirs = dict(ref.named_parameters())
    assert list(grads) == list(theirs)
    # the scale for the absolute tolerance is the network's largest gradient: a batch norm followed by
    # another (through a convolution) has a bias gradient of 0 up to rounding on both sides
    scale = max(np.abs(p.grad.numpy()).max() for p in theirs.values())
    for key, g in grads.items():
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, theirs[key].grad.numpy(), rtol=1e-8, atol=1e-12 * scale,
                                   err_msg=f"{name}: gradient of {key}")
    state_ref = ref.state_dict()
    for key, value in model.state_dict().items():
        expected = state_ref[key].numpy()
        np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-12 * max(np.abs(expected).max(), 1),
                                   err_msg=f"{name}: {key} after the step")
