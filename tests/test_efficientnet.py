"""EfficientNet-B0 against torchvision's published figures, a count by hand and a PyTorch definition.

``TorchEfficientNetB0`` below is torchvision's ``efficientnet_b0`` written out in ``torch.nn``
(torchvision is not installed): the same module tree and names, so the state dicts match key for
key. The B0 table here is the paper's (Tan and Le, 2019, table 1), typed in independently of
``strided.models.efficientnet.B0_SETTING``. Stochastic depth and dropout are compared in training
mode by mirroring their masks (torch's layers multiply by the masks strided's functions draw from a
generator in the same state), so the training step checks them too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from module_oracle import check_module_against_torch
from oracle import TorchModule, needs_torch, torch
from strided import nn
from strided.models import EfficientNet, MBConv, SqueezeExcitation, create_model
from strided.nn import StochasticDepth
from strided.nn.functional import stochastic_depth

if torch is not None:
    from torch_zoo import mirror_dropout
    tnn = torch.nn

PARAMS_B0 = 5_288_548            # torchvision's num_params
GFLOPS_B0 = 0.39                 # torchvision's "GFLOPS" (multiply-adds)
# stage: expand ratio, kernel, stride, in, out, repeats (the paper's table 1, stages 2-8)
TABLE = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
         (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]


# --------------------------------------------------------------------------------------------- by hand


def blocks_of(table):
    """(expand, kernel, stride, in, out) of every block: only a stage's first block strides or changes channels."""
    return [(e, k, s if i == 0 else 1, c_in if i == 0 else c_out, c_out)
            for e, k, s, c_in, c_out, n in table for i in range(n)]


def b0_by_hand(classes=1000, size=224):
    """Parameters and MACs of B0 from the table: conv k*k*C_in*C_out per output pixel (depthwise k*k*C),
    batch norm 2C parameters and no MACs, squeeze-excitation two 1x1 convolutions with bias on 1x1."""
    res = (size + 1) // 2                                               # the stem's 3x3/2 (padding 1)
    params, macs = 27 * 32 + 2 * 32, res * res * 27 * 32
    for e, k, s, c_in, c_out in blocks_of(TABLE):
        mid, sq = c_in * e, max(1, c_in // 4)
        out = (res - 1) // s + 1
        if e != 1:
            params += c_in * mid + 2 * mid
            macs += res * res * c_in * mid
        params += k * k * mid + 2 * mid + (mid * sq + sq) + (sq * mid + mid) + mid * c_out + 2 * c_out
        macs += out * out * k * k * mid + 2 * mid * sq + out * out * mid * c_out
        res = out
    params += 320 * 1280 + 2 * 1280 + 1280 * classes + classes
    macs += res * res * 320 * 1280 + 1280 * classes
    return params, macs


def test_b0_size_by_hand_and_published():
    params, macs = b0_by_hand()
    assert params == PARAMS_B0
    model = create_model("efficientnet_b0", seed=0)
    assert model.num_parameters() == PARAMS_B0
    s = st.summary(model, (1, 3, 224, 224))
    assert (s.params, s.macs, s.output_shape) == (PARAMS_B0, macs, (1, 1000))
    assert abs(s.macs / 1e9 / GFLOPS_B0 - 1) < 0.03
    assert create_model("efficientnet_b0", num_classes=10).num_parameters() == b0_by_hand(10)[0]


def test_compound_scaling_gives_torchvision_sizes():
    """Width and depth multipliers (B1, B2, B3) give torchvision's parameter counts: channels rounded to 8."""
    for width, depth, params in [(1.0, 1.1, 7_794_184), (1.1, 1.2, 9_109_994), (1.2, 1.4, 12_233_232)]:
        assert EfficientNet(width, depth, rng=0).num_parameters() == params


def test_summary_shapes_per_stage():
    model = create_model("efficientnet_b0", seed=0)
    s = st.summary(model, (1, 3, 224, 224))
    last = {}
    for row in s.rows:
        parts = row.name.split(".")
        if parts[0] == "features":
            last[int(parts[1])] = row.output_shape
    assert [last[i][1:] for i in range(9)] == [
        (32, 112, 112), (16, 112, 112), (24, 56, 56), (40, 28, 28), (80, 14, 14), (112, 14, 14), (192, 7, 7),
        (320, 7, 7), (1280, 7, 7)]
    assert [row.type for row in s.rows].count("DepthwiseConv2d") == 16
    assert [row.type for row in s.rows].count("StochasticDepth") == 9      # the blocks that keep their shape
    assert [row.type for row in s.rows].count("Sigmoid") == 16
    # the gate sees the whole map: every output of a block with squeeze-excitation sees all 224 pixels
    first_se = next(row for row in s.rows if row.name == "features.1.0.block.1.scale_activation")
    assert first_se.output_shape == (1, 32, 1, 1)
    after = next(row for row in s.rows if row.name == "features.1.0.block.2.0")
    assert all(size >= 2 * 224 - 1 for size in after.receptive_field.size)
    # a real forward pass at a small size gives what the summary declares
    x = np.random.default_rng(0).standard_normal((2, 3, 40, 56)).astype(np.float32)
    with st.no_grad():
        out = model.eval()(x)
    assert out.shape == st.summary(model, x.shape).output_shape == (2, 1000)


def test_initialisation_is_torchvision():
    model = create_model("efficientnet_b0", seed=0)
    state = model.state_dict()
    for key in ("features.0.0.weight", "features.6.0.block.0.0.weight", "features.6.0.block.1.0.weight",
                "features.8.0.weight"):
        w = state[key]
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]                 # torch's fan-out: out channels * kernel
        assert abs(w.std() / math.sqrt(2.0 / fan_out) - 1) < 0.05, key
    se = state["features.6.0.block.2.fc1.weight"]                        # (28, 672, 1, 1): fan-out 28
    assert abs(se.std() / math.sqrt(2.0 / 28) - 1) < 0.05
    for key in (k for k in state if k.endswith(("fc1.bias", "fc2.bias"))):
        assert not state[key].any(), key
    dense = state["classifier.1.weight"]
    bound = 1 / math.sqrt(1000)
    assert np.abs(dense).max() <= bound and np.abs(dense).max() > 0.99 * bound
    assert abs(dense.std() / (bound / math.sqrt(3)) - 1) < 0.01 and not state["classifier.1.bias"].any()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 49 and all((m.eps, m.momentum) == (1e-5, 0.1) for m in norms)
    assert all((m.weight.data == 1).all() and (m.bias.data == 0).all() for m in norms)
    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    assert [b.stochastic_depth.p for b in blocks] == [0.2 * i / 16 for i in range(16)]
    assert model.classifier[0].p == 0.2
    a, b = create_model("efficientnet_b0", seed=3).state_dict(), create_model("efficientnet_b0", seed=3).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------------- stochastic depth


def test_stochastic_depth_drops_whole_rows_from_its_generator():
    x = np.ones((4000, 3, 2), dtype=np.float32)
    layer = StochasticDepth(0.25, rng=7)
    y = layer(x).data
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert (y == y[:, :1, :1]).all()                                    # one draw per example
    assert abs((y[:, 0, 0] == 0).mean() - 0.25) < 0.03
    # the same generator state gives the same mask; the next call a new one
    np.testing.assert_array_equal(StochasticDepth(0.25, rng=7)(x).data, y)
    assert not np.array_equal(layer(x).data, y)
    # evaluation, p = 0: the identity (the very input); p = 1: every row dropped, nothing divided by 0
    layer.eval()
    assert layer(x).data is x or np.array_equal(layer(x).data, x)
    assert StochasticDepth(0.0, rng=0)(x).data is x
    assert not StochasticDepth(1.0, rng=0)(x).data.any()
    # "batch" mode: one draw for the whole batch
    z = StochasticDepth(0.5, "batch", rng=1)(x).data
    assert len(np.unique(z)) == 1
    # the gradient goes through the same mask
    t = st.Tensor(np.ones((6, 2)), requires_grad=True, dtype=np.float64)
    out = stochastic_depth(t, 0.5, "row", True, np.random.default_rng(2))
    out.sum().backward()
    np.testing.assert_array_equal(t.grad, out.data)
    with pytest.raises(ValueError, match=r"StochasticDepth: p must be in \[0, 1\], got 1.5"):
        StochasticDepth(1.5)
    with pytest.raises(ValueError, match=r"mode must be 'row' or 'batch', got 'rows'"):
        StochasticDepth(0.1, "rows")


# --------------------------------------------------------------------------------------------- PyTorch


class TorchSqueezeExcitation(TorchModule):
    """torchvision.ops.SqueezeExcitation(c, s, activation=SiLU): x * sigmoid(fc2(silu(fc1(mean(x)))))."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.fc1 = tnn.Conv2d(channels, squeeze, 1)
        self.fc2 = tnn.Conv2d(squeeze, channels, 1)
        self.activation = tnn.SiLU()
        self.scale_activation = tnn.Sigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class TorchStochasticDepth(TorchModule):
    """torchvision.ops.StochasticDepth(p, "row"). With ``rng`` set (``mirror_stochastic_depth``) the mask is
    the one strided's ``stochastic_depth`` draws from that generator, else torch's own Bernoulli draw."""

    def __init__(self, p):
        super().__init__()
        self.p, self.rng = p, None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        if self.rng is not None:
            mask = stochastic_depth(np.ones(shape), self.p, "row", True, self.rng).data
            return x * torch.from_numpy(mask).to(x.dtype)
        noise = torch.empty(shape, dtype=x.dtype).bernoulli_(1 - self.p)
        return x * (noise / (1 - self.p) if self.p < 1 else noise)


def torch_conv_bn(c_in, c_out, kernel, stride=1, groups=1, activation=True):
    """torchvision's Conv2dNormActivation: 0 conv (no bias, padding (k - 1) // 2), 1 batch norm, 2 SiLU."""
    layers = [tnn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              tnn.BatchNorm2d(c_out)]
    return tnn.Sequential(*layers, *([tnn.SiLU()] if activation else []))


class TorchMBConv(TorchModule):
    def __init__(self, expand, kernel, stride, c_in, c_out, p):
        super().__init__()
        mid = c_in * expand
        layers = [torch_conv_bn(c_in, mid, 1)] if expand != 1 else []
        layers += [torch_conv_bn(mid, mid, kernel, stride, groups=mid), TorchSqueezeExcitation(mid, max(1, c_in // 4)),
                   torch_conv_bn(mid, c_out, 1, activation=False)]
        self.block = tnn.Sequential(*layers)
        self.stochastic_depth = TorchStochasticDepth(p)
        self.use_res_connect = stride == 1 and c_in == c_out

    def forward(self, x):
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class TorchEfficientNetB0(TorchModule):
    """torchvision.models.efficientnet_b0 (features 0-8, avgpool, classifier), written out in torch.nn."""

    def __init__(self, num_classes=1000, dropout=0.2, stochastic_depth_prob=0.2):
        super().__init__()
        blocks = blocks_of(TABLE)
        layers, index = [torch_conv_bn(3, 32, 3, stride=2)], 0
        for e, k, s, c_in, c_out, n in TABLE:
            stage = []
            for e_, k_, s_, c_in_, c_out_ in blocks[index:index + n]:
                stage.append(TorchMBConv(e_, k_, s_, c_in_, c_out_, stochastic_depth_prob * index / len(blocks)))
                index += 1
            layers.append(tnn.Sequential(*stage))
        layers.append(torch_conv_bn(320, 1280, 1))
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.classifier = tnn.Sequential(tnn.Dropout(dropout), tnn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def mirror_stochastic_depth(torch_model, strided_model, seed=11) -> int:
    """One fresh generator for strided's StochasticDepth layers, another seeded alike shared by torch's."""
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    mine = [m for m in strided_model.modules() if isinstance(m, StochasticDepth)]
    others = [m for m in torch_model.modules() if isinstance(m, TorchStochasticDepth)]
    assert len(mine) == len(others)
    for m in mine:
        m.rng = ours
    for m in others:
        m.rng = theirs
    return len(mine)


def randomise_norms(model, rng):
    """Batch-norm statistics and affine values away from 1 and 0, so evaluation tests eps and the buffers."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean = rng.normal(0, 0.1, c).astype(m.running_mean.dtype)
            m.running_var = rng.uniform(0.5, 1.5, c).astype(m.running_var.dtype)
            m.weight.data = rng.uniform(0.8, 1.2, c).astype(m.weight.data.dtype)
            m.bias.data = rng.normal(0, 0.1, c).astype(m.bias.data.dtype)


def pair(num_classes=1000, seed=0):
    model = create_model("efficientnet_b0", num_classes=num_classes, seed=seed)
    randomise_norms(model, np.random.default_rng(seed + 1))
    ref = TorchEfficientNetB0(num_classes)
    state = model.state_dict()
    assert list(state) == list(ref.state_dict()), "state-dict keys (and their order) differ from torchvision's"
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    return model, ref


@needs_torch
def test_state_dict_is_torchvision_layout():
    with torch.device("meta"):
        ref = TorchEfficientNetB0()
    theirs = ref.state_dict()
    ours = create_model("efficientnet_b0", seed=0).state_dict()
    assert list(ours) == list(theirs) and len(ours) == 360
    assert [v.shape for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]
    assert sum(p.numel() for p in ref.parameters()) == PARAMS_B0


@needs_torch
def test_eval_float32_equals_torch_at_224():
    model, ref = pair()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    ref.eval()
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with st.no_grad():
        out = model.eval()(x)
    assert out.dtype == np.float32 and out.shape == expected.shape == (1, 1000)
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@needs_torch
def test_training_step_float64_equals_torch():
    """Batch statistics, stochastic depth (p raised to 0.5 so that rows are dropped) and dropout with the same
    masks, cross-entropy, backward and one SGD step: loss, every gradient and every parameter after the step."""
    model, ref = pair(num_classes=10)
    for m in model.modules():
        if isinstance(m, StochasticDepth) and m.p > 0:
            m.p = 0.5
    for m in ref.modules():
        if isinstance(m, TorchStochasticDepth) and m.p > 0:
            m.p = 0.5
    model.double().train()
    ref.double().train()
    assert mirror_dropout(ref, model) == 1 and mirror_stochastic_depth(ref, model) == 16
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((4, 3, 64, 64)), rng.integers(0, 10, 4)
    # the masks the 9 residual blocks will draw: some examples are dropped, some kept
    masks = stochastic_depth(np.ones((9 * 4, 1)), 0.5, "row", True, np.random.default_rng(11)).data
    assert 0 < (masks == 0).sum() < masks.size

    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    loss_ref = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(labels))
    opt.zero_grad()
    loss_ref.backward()
    opt.step()

    ours = st.optim.SGD(model.parameters(), lr=0.05)
    loss = nn.CrossEntropyLoss()(model(st.Tensor(x, dtype=np.float64)), labels)
    ours.zero_grad()
    loss.backward()
    ours.step()

    assert abs(loss.item() - loss_ref.item()) < 1e-10
    theirs = dict(ref.named_parameters())
    assert [k for k, _ in model.named_parameters()] == list(theirs)
    for key, p in model.named_parameters():
        expected = theirs[key].grad.numpy()
        np.testing.assert_allclose(p.grad, expected, rtol=1e-7, atol=1e-8 * np.abs(expected).max() + 1e-13,
                                   err_msg=f"gradient of {key}")
        np.testing.assert_allclose(p.data, theirs[key].detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=key)
    buffers = dict(ref.named_buffers())
    for key, value in model.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            np.testing.assert_allclose(value, buffers[key].numpy(), rtol=1e-9, atol=1e-12, err_msg=key)


@needs_torch
@pytest.mark.parametrize("args, shape", [((16, 24, 6, 3, 1), (3, 16, 9, 8)), ((24, 24, 6, 5, 1), (2, 24, 7, 7)),
                                         ((8, 8, 1, 3, 2), (2, 8, 9, 6))], ids=["expand", "residual", "stride2"])
def test_mbconv_equals_torch(args, shape):
    """One block in training mode (batch statistics), float64: output, input and parameter gradients."""
    c_in, c_out, e, k, s = args
    ours = MBConv(c_in, c_out, e, k, s, stochastic_depth_prob=0.0, rng=0)
    for m in ours.modules():                        # gates away from 1/2 and biases away from 0
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.data = np.random.default_rng(1).normal(0, 0.5, m.bias.shape).astype(np.float32)
    check_module_against_torch(ours, TorchMBConv(e, k, s, c_in, c_out, 0.0), shape)
    assert ours.use_res_connect == (s == 1 and c_in == c_out)


@needs_torch
def test_squeeze_excitation_equals_torch():
    ours = SqueezeExcitation(6, 3, nn.SiLU, nn.Sigmoid, rng=0)
    check_module_against_torch(ours, TorchSqueezeExcitation(6, 3), (2, 6, 5, 4))
