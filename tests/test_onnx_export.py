"""``st.onnx.export``: layers, graph forms, opsets, dynamic batch, the export protocol and its errors.

The oracle is onnxruntime running the exported file, compared with strided's own forward in
evaluation mode on the same input (relative difference ``max|ort - strided| / max|strided|``
below 1e-4), plus ``onnx.checker.check_model(full_check=True)`` and strict shape inference.
Where the form of the graph is the point (explicit pads, ``Pad`` modes, no node for dropout),
the nodes themselves are read back.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import nn

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install onnx onnxruntime")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install onnx onnxruntime")

import strided.onnx  # noqa: E402  (needs onnx only when export runs)
from strided.onnx import ExportError, export, export_rule  # noqa: E402
from strided.onnx.export import MIN_OPSET, default_opset, find_rule  # noqa: E402

RTOL = 1e-4
OPSETS = [13, 17, None]                     # None: the default opset


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def relative_difference(got, want) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


def export_and_run(model, shape, tmp_path, opset=None, x=None, **kwargs):
    """Export ``model`` for ``shape``, check the file, run it in onnxruntime; returns
    ``(onnxruntime's output, strided's output, the ModelProto)``."""
    model.eval()
    path = tmp_path / "model.onnx"
    proto = export(model, path, shape, opset=opset, **kwargs)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    if x is None:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = session(path).run(None, {"input": x})[0]
    with st.no_grad():
        want = model(x).data
    assert got.shape == want.shape
    return got, want, proto


def assert_matches(model, shape, tmp_path, opset=None, x=None):
    got, want, proto = export_and_run(model, shape, tmp_path, opset, x)
    assert relative_difference(got, want) < RTOL, (model, shape, opset)
    return proto


def ops(proto) -> list[str]:
    return [node.op_type for node in proto.graph.node]


def attribute(proto, op_type: str, name: str):
    node = next(n for n in proto.graph.node if n.op_type == op_type)
    return onnx.helper.get_attribute_value(next(a for a in node.attribute if a.name == name))


# ------------------------------------------------------------------------------------- every registered layer
def _example(name):
    module, shape = nn.registered_layers()[name]()
    return module, shape


@pytest.mark.parametrize("name", sorted(nn.registered_layers()))
def test_every_registered_layer_exports_and_matches(name, tmp_path):
    module, shape = _example(name)
    rng = np.random.default_rng(1)
    x = None
    if name == "Embedding":                                             # integer indices: an int64 graph input
        x = rng.integers(0, module.num_embeddings, size=shape)
    elif name.startswith("LPPool"):                                     # x^p of a negative x is NaN for p = 1.5
        x = np.abs(rng.standard_normal(shape)).astype(np.float32)
    assert_matches(module, shape, tmp_path, x=x)


# ------------------------------------------------------------------------------------- layer families, one case each
def _cases():
    cases = []

    def add(module, shape, positive=False):
        cases.append(pytest.param(module, shape, positive, id=f"{len(cases)}-{module._describe()[:60]}"))

    for pad in [0, 1, (1, 2), ((1, 0), (2, 1)), "same", "valid"]:
        add(nn.Conv2d(3, 4, 3, padding=pad, rng=0), (2, 3, 7, 6))
    add(nn.Conv2d(3, 4, 4, stride=3, padding="same", rng=0), (2, 3, 10, 9))      # asymmetric 'same' at stride 3
    add(nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, rng=0), (2, 4, 9, 8))
    for mode in ["reflect", "replicate", "circular"]:
        add(nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode, rng=0), (2, 3, 6, 5))
        add(nn.Conv1d(3, 4, 4, stride=2, padding="same", padding_mode=mode, rng=0), (2, 3, 9))
        add(nn.Conv3d(2, 3, 3, padding=(1, 0, 2), padding_mode=mode, rng=0), (1, 2, 4, 5, 6))
    add(nn.Conv1d(2, 3, 3, padding="causal", dilation=2, rng=0), (2, 2, 10))
    add(nn.Conv1d(2, 3, 5, stride=3, padding="same", rng=0), (2, 2, 11))
    add(nn.Conv3d(2, 3, (1, 2, 3), stride=(1, 2, 1), padding="same", rng=0), (1, 2, 3, 5, 6))
    add(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0), (2, 4, 4, 5))
    add(nn.ConvTranspose1d(2, 4, 3, padding=1, output_padding=1, dilation=2, rng=0), (2, 2, 6))   # op >= stride
    add(nn.ConvTranspose1d(2, 4, 3, padding=0, output_padding=1, dilation=2, rng=0), (2, 2, 6))   # ... past the crop
    add(nn.ConvTranspose2d(2, 4, 3, padding=(2, 0), output_padding=(1, 2), dilation=3, rng=0), (2, 2, 5, 4))
    add(nn.ConvTranspose3d(2, 3, 2, stride=2, padding=(0, 1, 0), rng=0), (1, 2, 3, 4, 3))
    add(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=((1, 0), (0, 2)), rng=0), (1, 2, 4, 4))
    add(nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 8, 7))
    add(nn.MaxPool1d(3, 2, padding=1, dilation=2, ceil_mode=True), (2, 3, 10))
    add(nn.MaxPool3d(2, ceil_mode=True), (1, 2, 4, 5, 3))
    add(nn.MaxPool2d(2, 2, ceil_mode=True), (1, 2, 5, 5))
    add(nn.MaxPool2d(2, 1, padding=1), (1, 2, 5, 5))
    add(nn.MaxPool1d(2, 2, padding=1, dilation=2, ceil_mode=True), (2, 3, 2))     # high pad >= kernel: a -inf Pad
    add(nn.MaxPool2d(3, 4, padding=1, dilation=3, ceil_mode=True), (1, 2, 7, 9))
    add(nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 6, 7))
    add(nn.AvgPool2d(3, 2, padding=1, count_include_pad=True), (2, 3, 6, 7))
    add(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=True), (2, 3, 6, 8))
    add(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), (2, 3, 6, 8))
    add(nn.AvgPool1d(3, 2, padding=1, ceil_mode=True), (2, 3, 8))
    add(nn.AvgPool3d((1, 2, 2), ceil_mode=True, divisor_override=3), (1, 2, 3, 5, 4))
    add(nn.AvgPool2d(2, divisor_override=3), (1, 2, 4, 4))
    add(nn.LPPool1d(2, 3, 2, ceil_mode=True), (2, 3, 8))
    add(nn.LPPool2d(4, (2, 3), (1, 2)), (2, 2, 5, 7))
    add(nn.LPPool2d(1.5, 2), (2, 2, 4, 4), positive=True)
    add(nn.GlobalAvgPool(), (2, 3, 4, 5))
    add(nn.GlobalMaxPool(keepdims=True), (2, 3, 6))
    add(nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 6))
    add(nn.AdaptiveAvgPool2d(7), (1, 3, 1, 1))                                   # VGG's pool after a 32x32 input
    add(nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5))
    add(nn.AdaptiveAvgPool1d(4), (2, 3, 8))
    add(nn.AdaptiveMaxPool2d((3, None)), (2, 3, 7, 4))
    add(nn.AdaptiveMaxPool3d((2, 1, 3)), (1, 2, 4, 3, 5))
    add(nn.AdaptiveAvgPool3d((2, 1, 3)), (1, 2, 4, 3, 3))
    add(nn.KMaxPool1d(3), (2, 3, 7))
    add(nn.BatchNorm2d(3), (2, 3, 4, 4))
    add(nn.BatchNorm1d(3), (4, 3))
    add(nn.BatchNorm3d(2, affine=False), (2, 2, 3, 3, 3))
    add(nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 4, 4))
    add(nn.InstanceNorm1d(3, affine=True), (4, 3, 5))
    add(nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4))
    add(nn.InstanceNorm3d(2), (2, 2, 3, 3, 3))
    add(nn.LayerNorm(5), (2, 3, 4, 5))
    add(nn.LayerNorm((4, 5), elementwise_affine=False), (2, 3, 4, 5))
    add(nn.LayerNorm(5, bias=False), (2, 5))
    add(nn.GroupNorm(2, 4), (2, 4, 3, 3))
    add(nn.GroupNorm(1, 4, affine=False), (2, 4, 5))
    add(nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0), (2, 5, 4))
    add(nn.LocalResponseNorm(5, alpha=0.5), (2, 7, 3, 3))
    add(nn.LocalResponseNorm(4, alpha=0.5, k=2.0), (2, 6, 3, 3))                  # even size: PyTorch's window
    add(nn.LocalResponseNorm.alexnet(), (2, 8, 3, 3))
    for act in [nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.Hardtanh(-2.0, 2.5), nn.ReLU6(), nn.LeakyReLU(0.1),
                nn.PReLU(3), nn.PReLU(), nn.Hardsigmoid(), nn.Hardswish(), nn.SiLU(), nn.Mish(), nn.GELU(),
                nn.GELU("tanh"), nn.Softplus(beta=2.0, threshold=1.0), nn.Softplus(), nn.ELU(alpha=0.5), nn.SELU(),
                nn.CELU(alpha=2.0), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1), nn.Identity(), nn.Dropout(0.5),
                nn.Dropout2d(0.3), nn.AlphaDropout(0.2), nn.StochasticDepth(0.5)]:
        add(act, (2, 3, 4, 5))
    add(nn.Flatten(), (2, 3, 4))
    add(nn.Flatten(2), (2, 3, 4, 5))
    add(nn.Unflatten(1, (2, -1)), (4, 6))
    add(nn.Linear(5, 3, rng=0), (2, 5))
    add(nn.Linear(5, 3, bias=False, rng=0), (2, 4, 5))
    add(nn.PixelShuffle(2), (2, 8, 3, 2))
    add(nn.PixelUnshuffle(2), (2, 2, 4, 6))
    for kw in [dict(scale_factor=2, mode="nearest"), dict(scale_factor=2, mode="bilinear"),
               dict(scale_factor=2, mode="bilinear", align_corners=True), dict(size=(5, 7), mode="bilinear"),
               dict(size=(5, 7), mode="nearest"), dict(scale_factor=1.5, mode="nearest"),
               dict(scale_factor=1.5, mode="bilinear"), dict(scale_factor=2, mode="nearest-exact"),
               dict(size=(7, 3), mode="nearest-exact"), dict(size=(2, 2), mode="area"),
               dict(scale_factor=0.5, mode="bilinear"),
               dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)]:
        add(nn.Upsample(**kw), (2, 3, 4, 5))
    add(nn.Upsample(scale_factor=3, mode="linear"), (2, 3, 4))
    add(nn.Upsample(size=(3, 4, 5), mode="trilinear"), (1, 2, 2, 3, 3))
    add(nn.UpsamplingNearest2d(scale_factor=2), (2, 3, 3, 4))
    add(nn.UpsamplingBilinear2d(size=(5, 7)), (2, 3, 3, 4))
    for layer in [nn.ConstantPad1d((2, -1), 1.5), nn.ConstantPad2d((1, 0, 2, 1), -0.5),
                  nn.ConstantPad3d((1, 0, 0, 1, 1, 1), 2.0), nn.ZeroPad2d((1, 2, 0, 1)), nn.ReflectionPad1d((3, 1)),
                  nn.ReflectionPad2d((1, 2, 2, 0)), nn.ReflectionPad3d((1, 0, 1, 1, 0, 1)), nn.ReplicationPad1d((2, 3)),
                  nn.ReplicationPad2d((0, 2, 3, 1)), nn.ReplicationPad3d((1, 2, 0, 1, 2, 0)),
                  nn.CircularPad1d((3, 2)), nn.CircularPad2d((1, 2, 3, 0)), nn.CircularPad3d((1, 1, 0, 2, 1, 0)),
                  nn.ReflectionPad1d((-1, 2)), nn.CircularPad1d((-1, 2))]:
        add(layer, {1: (2, 3, 5), 2: (2, 2, 4, 5), 3: (1, 2, 3, 4, 3)}[layer.ndim])
    add(nn.Concat(nn.Conv2d(2, 2, 3, padding=1, rng=0), nn.Conv2d(2, 3, 1, rng=1)), (2, 2, 5, 4))
    add(nn.MultiScaleBlock(4, 2, 2, 3, 1, 2, 2, rng=0), (2, 4, 6, 6))
    add(nn.SeparableConv2d(3, 4, 3, stride=2, padding="same", rng=0), (2, 3, 7, 6))
    add(nn.SeparableConv1d(3, 4, 3, stride=2, padding="same", depth_multiplier=2, rng=0), (2, 3, 9))
    add(nn.DepthwiseConv3d(2, (2, 1, 3), padding=(1, 0, 1), depth_multiplier=2, rng=0), (1, 2, 3, 4, 5))
    add(nn.LocallyConnected1d(2, 3, 9, 3, stride=2, padding=1, rng=0), (2, 2, 9))
    add(nn.LocallyConnected2d(2, 3, (6, 5), (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), rng=0), (2, 2, 6, 5))
    add(nn.LocallyConnected3d(1, 2, (3, 4, 4), 2, rng=0), (1, 1, 3, 4, 4))
    add(st.models.ZeroPadShortcut(3, 4, stride=2), (2, 3, 5, 6))
    return cases


CASES = _cases()


@pytest.mark.parametrize("module, shape, positive", CASES)
def test_layer_family_matches_onnxruntime(module, shape, positive, tmp_path):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    assert_matches(module, shape, tmp_path, x=np.abs(x) if positive else x)


@pytest.mark.slow
@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("module, shape, positive", CASES)
def test_layer_family_matches_onnxruntime_in_older_opsets(module, shape, positive, opset, tmp_path):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    assert_matches(module, shape, tmp_path, opset, x=np.abs(x) if positive else x)


# ------------------------------------------------------------------------------------- hand-built networks
def image_net():
    """A 2-D network through every 2-D family: pads, convolutions (each padding form), norms,
    activations, pools with options, branches, up-sampling, pixel shuffle, dense layers."""
    return nn.Sequential(
        nn.ReflectionPad2d((1, 0, 2, 1)),                                            # (2, 3, 15, 13)
        nn.Conv2d(3, 8, 3, stride=2, padding="same", padding_mode="reflect", rng=0),  # (2, 8, 8, 7)
        nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, padding_mode="circular", groups=2, rng=1),
        nn.GroupNorm(4, 8), nn.Hardswish(),
        nn.Conv2d(8, 8, 3, padding=((1, 1), (2, 0)), padding_mode="replicate", dilation=(1, 2), rng=2),
        nn.InstanceNorm2d(8, affine=True), nn.GELU(),
        nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),                                # (2, 8, 5, 4)
        nn.Concat(nn.Sequential(nn.Conv2d(8, 4, 1, rng=3), nn.Mish()),
                  nn.Sequential(nn.AvgPool2d(3, 1, padding=1, count_include_pad=False),
                                nn.Conv2d(8, 4, 3, padding=1, rng=4)),
                  nn.Sequential(nn.ZeroPad2d((0, 1, 1, 0)), nn.LPPool2d(2, 2, 1))),  # (2, 16, 5, 4)
        nn.LocalResponseNorm(3, alpha=0.1), nn.ELU(0.5),
        nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, rng=5),  # (2, 8, 10, 8)
        nn.SiLU(), nn.Upsample(scale_factor=2, mode="bilinear"),                      # (2, 8, 20, 16)
        nn.PixelUnshuffle(2), nn.Conv2d(32, 16, 1, rng=6), nn.PixelShuffle(2),        # (2, 4, 20, 16)
        nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), nn.CELU(1.5),                  # (2, 4, 11, 9)
        nn.ConstantPad2d((1, 1, 0, 1), 0.25), nn.Dropout2d(0.3),
        nn.AdaptiveAvgPool2d((3, 2)), nn.PReLU(4),                                   # (2, 4, 3, 2)
        nn.Flatten(), nn.Linear(24, 12, rng=7), nn.LayerNorm(12), nn.Softplus(beta=2.0), nn.Dropout(0.5),
        nn.Linear(12, 5, rng=8), nn.LogSoftmax(dim=1))


def sequence_net():
    """A 1-D network: causal and 'same' convolutions, k-max pooling, a locally-connected layer."""
    return nn.Sequential(
        nn.Conv1d(2, 6, 3, padding="causal", dilation=2, rng=0), nn.BatchNorm1d(6), nn.LeakyReLU(0.2),  # (2, 6, 20)
        nn.ReplicationPad1d((2, 1)), nn.Conv1d(6, 6, 4, stride=2, padding="same", rng=1), nn.Tanh(),  # (2, 6, 12)
        nn.KMaxPool1d(8), nn.CircularPad1d((1, 2)),                                    # (2, 6, 11)
        nn.LocallyConnected1d(6, 4, 11, 3, stride=2, padding=1, rng=2), nn.SELU(),    # (2, 4, 6)
        nn.Upsample(scale_factor=2, mode="linear", align_corners=True), nn.Hardtanh(-1.5, 1.5),   # (2, 4, 12)
        nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, rng=3), nn.Sigmoid(),         # (2, 3, 23)
        nn.LPPool1d(1.5, 3, 2, ceil_mode=True), nn.AdaptiveMaxPool1d(5),              # (2, 3, 5)
        nn.Flatten(), nn.Linear(15, 4, rng=4), nn.Softmax(dim=-1))


def volume_net():
    """A 3-D network: 'same' and replicate-padded convolutions, pools, transposed convolution."""
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding="same", rng=0), nn.BatchNorm3d(4), nn.ReLU6(),      # (1, 4, 4, 6, 5)
        nn.Conv3d(4, 4, (1, 3, 3), padding=(0, 1, 1), padding_mode="replicate", rng=1), nn.InstanceNorm3d(4),
        nn.MaxPool3d(2, ceil_mode=True), nn.Hardsigmoid(),                            # (1, 4, 2, 3, 3)
        nn.ConvTranspose3d(4, 3, 2, stride=2, rng=2),                                 # (1, 3, 4, 6, 6)
        nn.Upsample(size=(5, 6, 7), mode="trilinear"), nn.AvgPool3d(2, ceil_mode=True),   # (1, 3, 3, 3, 4)
        nn.AdaptiveMaxPool3d((2, 2, 3)), nn.GlobalAvgPool(), nn.Linear(3, 2, rng=3))


NETWORKS = {"image": (image_net, (2, 3, 12, 12)), "sequence": (sequence_net, (2, 2, 20)),
            "volume": (volume_net, (1, 2, 4, 6, 5))}


def _filled(model):
    """Running statistics and affine parameters away from 1 and 0, so batch norm is not the identity."""
    rng = np.random.default_rng(5)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            module.running_mean = rng.standard_normal(module.num_features).astype(np.float32) * 0.1
            module.running_var = rng.uniform(0.5, 1.5, module.num_features).astype(np.float32)
        for name, param in module._parameters.items():
            if param is not None and name in ("weight", "bias") and param.ndim == 1:
                param.data = param.data + rng.standard_normal(param.shape).astype(np.float32) * 0.1
    return model


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_hand_built_network_matches_onnxruntime(network, opset, tmp_path):
    build, shape = NETWORKS[network]
    proto = assert_matches(_filled(build()), shape, tmp_path, opset)
    assert proto.opset_import[0].version == (default_opset() if opset is None else opset)


def test_the_default_opset_is_the_newest_tested_the_installed_onnx_knows():
    assert default_opset() == min(21, onnx.defs.onnx_opset_version())
    assert MIN_OPSET == 13


# ------------------------------------------------------------------------------------- the form of the graph
def test_same_padding_at_stride_two_is_explicit_asymmetric_pads(tmp_path):
    layer = nn.Conv2d(3, 4, 4, stride=2, padding="same", rng=0)
    proto = assert_matches(layer, (1, 3, 9, 8), tmp_path)
    assert ops(proto) == ["Conv"]
    (lo_h, hi_h), (lo_w, hi_w) = layer.window((1, 3, 9, 8)).pads
    assert attribute(proto, "Conv", "pads") == [lo_h, lo_w, hi_h, hi_w] == [1, 1, 2, 1]
    assert attribute(proto, "Conv", "strides") == [2, 2]


def test_causal_padding_pads_the_left_side_only(tmp_path):
    proto = assert_matches(nn.Conv1d(1, 2, 3, padding="causal", dilation=3, rng=0), (2, 1, 9), tmp_path)
    assert attribute(proto, "Conv", "pads") == [6, 0]


@pytest.mark.parametrize("mode, onnx_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_padding_modes_become_a_pad_node(mode, onnx_mode, tmp_path):
    proto = assert_matches(nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode, rng=0), (1, 2, 5, 4), tmp_path)
    assert ops(proto) == ["Pad", "Conv"]
    assert attribute(proto, "Pad", "mode").decode() == onnx_mode
    assert attribute(proto, "Conv", "pads") == [0, 0, 0, 0]


def test_circular_padding_before_opset_19_is_a_gather_per_axis(tmp_path):
    proto = assert_matches(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular", rng=0), (1, 2, 5, 4), tmp_path,
                           opset=17)
    assert ops(proto) == ["Gather", "Gather", "Conv"]


def test_ceil_mode_overhang_becomes_high_pads_of_max_pool(tmp_path):
    pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
    proto = assert_matches(pool, (1, 1, 8, 7), tmp_path)
    window = pool.window((1, 1, 8, 7))
    assert window.overhang
    assert attribute(proto, "MaxPool", "pads") == [1, 1, window.pads[0][1], window.pads[1][1]]
    assert all(a.name != "ceil_mode" for a in proto.graph.node[0].attribute)   # the pads say it all


def test_an_overhang_past_the_kernel_is_an_explicit_minus_infinity_pad(tmp_path):
    pool = nn.MaxPool1d(2, 2, padding=1, dilation=2, ceil_mode=True)
    assert pool.window((1, 1, 2)).pads == ((1, 2),)
    proto = assert_matches(pool, (1, 1, 2), tmp_path)
    assert ops(proto) == ["Pad", "MaxPool"]
    fill = next(i for i in proto.graph.initializer if i.name.endswith("pad_value"))
    assert onnx.numpy_helper.to_array(fill) == -np.inf


def test_average_pool_keeps_count_include_pad_where_onnx_divides_alike(tmp_path):
    proto = assert_matches(nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (1, 2, 6, 7), tmp_path)
    assert ops(proto) == ["AveragePool"] and attribute(proto, "AveragePool", "count_include_pad") == 0
    proto = assert_matches(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), (1, 2, 6, 8), tmp_path)
    assert ops(proto) == ["Pad", "AveragePool", "Mul"]                  # the divisor of the partial windows


def test_evaluation_export_batch_norm_reads_running_statistics_and_dropout_is_no_node(tmp_path):
    model = _filled(nn.Sequential(nn.Conv2d(2, 3, 3, rng=0), nn.BatchNorm2d(3), nn.Dropout(0.5), nn.ReLU()))
    model.train()                                                       # the export is evaluation mode anyway
    path = tmp_path / "m.onnx"
    proto = export(model, path, (2, 2, 5, 5))
    assert ops(proto) == ["Conv", "BatchNormalization", "Relu"]
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    model.eval()
    assert relative_difference(session(path).run(None, {"input": x})[0], model(x).data) < RTOL


def test_initializers_are_the_state_dict_in_float32(tmp_path):
    model = _filled(st.models.create_model("lenet5", seed=0))
    proto = export(model, tmp_path / "m.onnx", (1, 1, 32, 32))
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = model.state_dict()
    assert set(weights) == set(state)
    for name, array in state.items():
        assert weights[name].dtype == np.float32
        np.testing.assert_array_equal(weights[name], array.astype(np.float32))


def test_a_float64_model_exports_float32_weights(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU()).double()
    proto = export(model, tmp_path / "m.onnx", (1, 1, 5, 5))
    assert {onnx.numpy_helper.to_array(i).dtype for i in proto.graph.initializer} == {np.dtype(np.float32)}


def test_graph_names_and_metadata(tmp_path):
    proto = export(st.models.create_model("lenet5", seed=0), tmp_path / "m.onnx", (1, 1, 32, 32),
                   input_names=("image",), output_names=("logits",))
    assert [i.name for i in proto.graph.input] == ["image"] and [o.name for o in proto.graph.output] == ["logits"]
    assert proto.producer_name == "strided" and proto.graph.name == "LeNet5"
    assert [n.name for n in proto.graph.node][:2] == ["features.0/Conv", "features.1/Relu"]


# ------------------------------------------------------------------------------------- dynamic batch
def test_dynamic_batch_runs_batches_of_one_and_three(tmp_path):
    model = st.models.create_model("lenet5", seed=0).eval()
    path = tmp_path / "m.onnx"
    proto = export(model, path, (2, 1, 32, 32))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = session(path)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 1, 32, 32)).astype(np.float32)
        got = sess.run(None, {"input": x})[0]
        assert got.shape == (n, 10)
        assert relative_difference(got, model(x).data) < RTOL


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_dynamic_batch_of_the_hand_built_networks(network, tmp_path):
    build, shape = NETWORKS[network]
    model = _filled(build()).eval()
    path = tmp_path / "m.onnx"
    export(model, path, shape)
    sess = session(path)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n,) + shape[1:]).astype(np.float32)
        assert relative_difference(sess.run(None, {"input": x})[0], model(x).data) < RTOL


def test_fixed_batch_refuses_another_batch_size(tmp_path):
    path = tmp_path / "m.onnx"
    proto = export(st.models.create_model("lenet5", seed=0), path, (2, 1, 32, 32), dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    with pytest.raises(Exception, match="dimension|Got invalid dimensions"):
        session(path).run(None, {"input": np.zeros((3, 1, 32, 32), np.float32)})


# ------------------------------------------------------------------------------------- the protocol
class Doubled(nn.Module):
    """A hand-written forward with its own export rule (the method of the protocol)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, rng=0)

    def forward(self, x):
        return self.conv(x) * 2.0

    def onnx_export(self, builder, x):
        return builder.op("Mul", builder.apply(self.conv, x), builder.const(np.float32(2.0), "two"))


class Residual(nn.Block):
    """A block whose rule is registered from outside (``export_rule``)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, rng=0), nn.Tanh())

    def forward(self, x):
        return self.body(x) + x

    def walk(self, in_shape, rf, visit):
        return self.join_add([self.body.walk(in_shape, rf, visit), (tuple(in_shape), rf)])


@export_rule(Residual)
def _residual(builder, block, x):
    return builder.op("Add", builder.apply(block.body, x), x)


class ResidualTwice(Residual):
    """Replaces the forward its parent's rule describes: the rule no longer applies."""

    def forward(self, x):
        return self.body(self.body(x) + x)


def test_a_module_method_onnx_export_is_used(tmp_path):
    model = nn.Sequential(Doubled(), nn.ReLU())
    proto = assert_matches(model, (2, 1, 6, 6), tmp_path)
    assert ops(proto) == ["Conv", "Mul", "Relu"]
    assert {i.name for i in proto.graph.initializer} >= {"0.conv.weight", "0.conv.bias"}


def test_a_registered_rule_is_used_for_its_block(tmp_path):
    proto = assert_matches(nn.Sequential(Residual(), Residual()), (2, 2, 5, 5), tmp_path)
    assert ops(proto) == ["Conv", "Tanh", "Add"] * 2


def test_a_subclass_that_replaces_forward_loses_the_rule(tmp_path):
    assert find_rule(Residual()) is _residual
    assert find_rule(ResidualTwice()) is None
    with pytest.raises(ExportError, match=r"'1' \(ResidualTwice\(\)\): ResidualTwice has a hand-written "
                                          r"forward\(\) and no ONNX export rule"):
        export(nn.Sequential(nn.Identity(), ResidualTwice()), tmp_path / "m.onnx", (1, 2, 4, 4))


# ------------------------------------------------------------------------------------- what cannot export
class Handwritten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, rng=0)

    def forward(self, x):
        return nn.functional.relu(self.conv(x))


@pytest.mark.parametrize("model, shape, message", [
    (nn.Sequential(nn.Conv2d(1, 1, 1, rng=0), Handwritten()), (1, 1, 5, 5),
     r"'1' \(Handwritten\(\)\): Handwritten has a hand-written forward\(\) and no ONNX export rule; give the "
     r"class a method onnx_export"),
    (nn.Sequential(nn.MaxPool2d(2, return_indices=True)), (1, 1, 4, 4),
     r"'0' \(MaxPool2d\(.*return_indices=True\)\): MaxPool2d with return_indices=True has no ONNX form"),
    (nn.AdaptiveMaxPool2d(2, return_indices=True), (1, 1, 4, 4),
     r"the model \(AdaptiveMaxPool2d\(.*\)\): AdaptiveMaxPool2d with return_indices=True has no ONNX form"),
    (nn.MaxUnpool2d(2), (1, 1, 2, 2), r"MaxUnpool2d has no ONNX form here: its forward takes the indices"),
    (nn.Unflatten(0, (2, -1)), (4, 3), r"Unflatten on the batch axis has no ONNX form with a free batch size"),
    (nn.InstanceNorm1d(3), (3, 5), r"InstanceNorm1d exports batched inputs"),
])
def test_what_cannot_export_raises_an_error_naming_the_layer(model, shape, message, tmp_path):
    with pytest.raises(ExportError, match=message):
        export(model, tmp_path / "m.onnx", shape)
    assert not (tmp_path / "m.onnx").exists()


def test_a_shape_only_model_is_refused(tmp_path):
    with pytest.raises(ExportError, match="shape-only"):
        export(st.models.create_model("lenet5", meta=True), tmp_path / "m.onnx", (1, 1, 32, 32))


def test_an_input_the_model_refuses_is_a_shape_error(tmp_path):
    with pytest.raises(st.ShapeError, match=r"Conv2d\(1, 6"):
        export(st.models.create_model("lenet5", seed=0), tmp_path / "m.onnx", (1, 3, 32, 32))


@pytest.mark.parametrize("opset, error", [(12, ValueError), (10_000, ValueError), ("17", TypeError),
                                          (True, TypeError)])
def test_an_opset_out_of_range_is_refused(opset, error, tmp_path):
    with pytest.raises(error, match="opset"):
        export(nn.ReLU(), tmp_path / "m.onnx", (1, 2), opset=opset)


def test_every_registered_layer_has_a_rule():
    missing = [name for name, example in nn.registered_layers().items() if find_rule(example()[0]) is None]
    assert missing == []
