"""The U-Net against a PyTorch U-Net with the same weights, a count by hand, its forward shapes and
a receptive field worked out by hand for a depth-2 network.

``TorchUNet`` below is the same network written in ``torch.nn`` (double 3x3 conv + batch norm +
ReLU blocks, 2x2 max pooling, 2x2/2 transposed convolutions, ``torch.cat([skip, up], 1)``, a 1x1
head), under the same module names, so the state dicts match key for key.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from module_oracle import check_module_against_torch
from oracle import TorchModule, needs_torch, torch
from strided import nn
from strided.models import UNet, create_model

if torch is not None:
    tnn = torch.nn


# --------------------------------------------------------------------------------------------- by hand


def unet_by_hand(in_channels, classes, base, depth, size=None):
    """Parameters (and MACs at ``size x size``): a double conv is two 3x3 convolutions without bias, each
    with batch norm (2C); an up-sampling 2x2 transposed convolution has a bias; the head is 1x1 with bias."""
    widths = [base * 2 ** i for i in range(depth + 1)]

    def double(c_in, c_out, res):
        return 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out, res * res * 9 * c_out * (c_in + c_out)

    parts = [double(in_channels if i == 0 else widths[i - 1], widths[i], (size or 0) >> i) for i in range(depth)]
    parts.append(double(widths[depth - 1], widths[depth], (size or 0) >> depth))
    for i in range(depth):
        low = (size or 0) >> (i + 1)                                    # the transposed conv reads the lower level
        parts.append((4 * widths[i + 1] * widths[i] + widths[i], low * low * widths[i + 1] * widths[i] * 4))
        parts.append(double(2 * widths[i], widths[i], (size or 0) >> i))
    parts.append((widths[0] * classes + classes, (size or 0) ** 2 * widths[0] * classes))
    params, macs = (sum(column) for column in zip(*parts))
    return params if size is None else (params, macs)


def test_size_by_hand():
    assert unet_by_hand(1, 2, 16, 4) == 1_942_306
    assert round(unet_by_hand(1, 2, 64, 4) / 1e6, 1) == 31.0            # the paper's widths: the familiar 31M
    model = create_model("unet", in_channels=1, num_classes=2, base_channels=16, depth=4, seed=0)
    assert model.num_parameters() == 1_942_306
    s = st.summary(model, (1, 1, 256, 256))
    assert (s.params, s.macs, s.output_shape) == ((1_942_306,) + (unet_by_hand(1, 2, 16, 4, 256)[1],)
                                                  + ((1, 2, 256, 256),))
    for args in [(3, 5, 8, 2), (2, 3, 4, 3), (1, 1, 6, 1)]:
        assert UNet(*args, rng=0).num_parameters() == unet_by_hand(*args)


def test_summary_shapes_equal_the_forward_pass():
    """Every layer application the summary lists, in order, against the shapes a real forward pass gives
    (forward hooks on every leaf layer; the shared ``pool`` appears once per level on both sides)."""
    model = UNet(3, 4, base_channels=4, depth=3, rng=0).eval()
    shapes = []
    for module in model.modules():
        if not module._modules:
            module.register_forward_hook(lambda m, args, out: shapes.append((id(m), args[0].shape, out.shape)))
    x = np.random.default_rng(0).standard_normal((2, 3, 24, 40)).astype(np.float32)
    with st.no_grad():
        out = model(x)
    s = st.summary(model, x.shape)
    names = {id(m): name for name, m in model.named_modules()}
    assert [(row.name, row.input_shape, row.output_shape) for row in s.rows] == [
        (names[i], a, b) for i, a, b in shapes]
    assert out.shape == s.output_shape == model.output_shape(x.shape) == (2, 4, 24, 40)
    assert [row.name for row in s.rows].count("pool") == 3
    assert [row.output_shape for row in s.rows if row.type == "ConvTranspose2d"] == [
        (2, 16, 6, 10), (2, 8, 12, 20), (2, 4, 24, 40)]
    # the decoders read the concatenation: skip channels + up-sampled channels
    assert [row.input_shape[1] for row in s.rows if row.name.startswith("decoder.") and row.name.endswith(".0")] == [
        32, 16, 8]


def exact_field(o, depth=2):
    """Input columns that output column ``o`` depends on, by interval arithmetic through the network
    (independent of the receptive-field code): a 3x3 conv (padding 1) widens by 1 on each side, a
    2x2/2 max pool maps level positions ``[a, b]`` to ``[2a, 2b + 1]`` one level up, a 2x2/2 transposed
    convolution reads position ``floor(p / 2)`` one level down."""
    def down(lo, hi, level):
        """Input columns behind positions [lo, hi] of the encoder output at ``level``."""
        lo, hi = lo - 2, hi + 2                                          # the level's double conv
        return (lo, hi) if level == 0 else down(2 * lo, 2 * hi + 1, level - 1)

    def up(lo, hi, level):
        """Input columns behind positions [lo, hi] of the decoder output at ``level``."""
        lo, hi = lo - 2, hi + 2                                          # the level's double conv (on the concat)
        skip = down(lo, hi, level)
        below = (lo // 2, hi // 2)                                       # the transposed conv's inputs
        if level + 1 < depth:
            deep = up(*below, level + 1)
        else:                                                            # the bottleneck: double conv, then encoder
            deep = down(2 * (below[0] - 2), 2 * (below[1] + 2) + 1, depth - 1)
        return min(skip[0], deep[0]), max(skip[1], deep[1])
    return up(o, o, 0)


def positive_unet(depth=2):
    """A depth-2 U-Net whose weights and biases are positive: with batch norm in evaluation (statistics 0
    and 1) every activation of a positive input is positive, no ReLU is ever zero, and each input that
    an output depends on moves it."""
    model = UNet(1, 1, base_channels=2, depth=depth, rng=0).double().eval()
    for name, p in model.named_parameters():
        p.data = np.abs(p.data) + (0.5 if name.endswith("bias") else 0.0)
    return model


def test_receptive_field_of_depth_2_by_hand():
    """Araujo et al.'s recurrence by hand along one axis, (size, jump, start):
    input (1, 1, 0); encoder 0, two 3x3 convs (5, 1, 0) = skip 0; pool 2/2 (6, 2, 0.5); encoder 1 (14, 2, 0.5)
    = skip 1; pool (16, 4, 1.5); bottleneck (32, 4, 1.5); up 2x2/2: size + (2-1)/2 * 4, jump 4/2, start
    1.5 - 0.5/2 * 4 = (34, 2, 0.5); concat with skip 1 (the larger field: 34, 2, 0.5); decoder (42, 2, 0.5);
    up (43, 1, 0); concat with skip 0 (43, 1, 0); decoder (47, 1, 0); 1x1 head (47, 1, 0)."""
    model = positive_unet()
    s = st.summary(model, (1, 1, 4, 64))
    rf = {row.name: row.receptive_field for row in s.rows}
    assert (rf["encoder.0.5"].size[1], rf["encoder.1.5"].size[1], rf["bottleneck.5"].size[1]) == (5, 14, 32)
    assert (rf["upsample.0"].size[1], rf["upsample.0"].jump[1], rf["upsample.0"].start[1]) == (34, 2, 0.5)
    assert (rf["upsample.1"].size[1], rf["upsample.1"].jump[1], rf["upsample.1"].start[1]) == (43, 1, 0)
    head = s.rows[-1].receptive_field
    assert (head.size, head.jump, head.start) == ((47, 47), (1, 1), (0, 0))
    # measured: bump one input column at a time and see which columns move output column o (all rows bumped,
    # so only the horizontal axis is measured); the exact dependency is 44 or 47 wide depending on o mod 4,
    # and always inside the declared window of 47 centred on o
    base = np.random.default_rng(0).uniform(0.1, 1.0, (1, 1, 4, 64))
    batch = np.repeat(base, 65, axis=0)
    for c in range(64):
        batch[1 + c, :, :, c] += 1000.0
    with st.no_grad():
        out = model(batch).data                                           # (65, 1, 4, 64)
    for o in (32, 33, 34, 35):
        moved = [c for c in range(64) if not np.isclose(out[1 + c, 0, 1, o], out[0, 0, 1, o], rtol=0, atol=1e-9)]
        lo, hi = exact_field(o)
        assert moved == list(range(lo, hi + 1)), o
        assert o - 23 <= lo and hi <= o + 23
    assert exact_field(32) == (10, 53) and exact_field(34) == (14, 57)


def test_input_size_and_argument_errors():
    model = create_model("unet", in_channels=1, num_classes=2, base_channels=4, depth=3, seed=0)
    message = (r"UNet\(in_channels=1, num_classes=2, base_channels=4, depth=3\): expected input \(N, 1, H, W\) "
               r"with H and W divisible by 2\*\*3 = 8, got \(1, 1, 20, 16\)")
    with pytest.raises(st.ShapeError, match=message):
        model(np.zeros((1, 1, 20, 16), dtype=np.float32))
    with pytest.raises(st.ShapeError, match=message):
        st.summary(model, (1, 1, 20, 16))
    with pytest.raises(st.ShapeError, match=r"expected input \(N, 1, H, W\).*got \(1, 3, 16, 16\)"):
        model.output_shape((1, 3, 16, 16))
    with pytest.raises(st.ShapeError, match=r"got \(16, 16\)"):
        model.output_shape((16, 16))
    with pytest.raises(TypeError, match="depth"):
        UNet(depth=2.0)
    with pytest.raises(ValueError, match="base_channels"):
        UNet(base_channels=0)


def test_initialisation_is_the_papers():
    model = create_model("unet", seed=0)
    state = model.state_dict()
    w = state["decoder.0.0.weight"]                                      # (128, 256, 3, 3): 2304 inputs per output
    assert abs(w.std() / math.sqrt(2 / 2304) - 1) < 0.02
    w = state["upsample.0.weight"]                                       # (256, 128, 2, 2): 256 inputs per output
    assert abs(w.std() / math.sqrt(2 / 256) - 1) < 0.02
    assert not state["upsample.0.bias"].any() and not state["head.bias"].any()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 2 * 9 and all((m.weight.data == 1).all() and not m.bias.data.any() for m in norms)
    a, b = create_model("unet", seed=4).state_dict(), create_model("unet", seed=4).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------------- PyTorch


class TorchDoubleConv(tnn.Sequential if torch is not None else object):
    def __init__(self, c_in, c_out):
        super().__init__(tnn.Conv2d(c_in, c_out, 3, padding=1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU(),
                         tnn.Conv2d(c_out, c_out, 3, padding=1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU())


class TorchUNet(TorchModule):
    def __init__(self, in_channels=1, num_classes=2, base_channels=16, depth=4):
        super().__init__()
        w = [base_channels * 2 ** i for i in range(depth + 1)]
        self.encoder = tnn.ModuleList([TorchDoubleConv(in_channels if i == 0 else w[i - 1], w[i]) for i in range(depth)])
        self.pool = tnn.MaxPool2d(2)
        self.bottleneck = TorchDoubleConv(w[depth - 1], w[depth])
        self.upsample = tnn.ModuleList([tnn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(depth))])
        self.decoder = tnn.ModuleList([TorchDoubleConv(2 * w[i], w[i]) for i in reversed(range(depth))])
        self.head = tnn.Conv2d(w[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, level, skip in zip(self.upsample, self.decoder, reversed(skips)):
            x = level(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


def randomise(model, rng):
    """Biases and batch-norm values and statistics away from their initial 0s and 1s."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean = rng.normal(0, 0.1, c).astype(np.float32)
            m.running_var = rng.uniform(0.5, 1.5, c).astype(np.float32)
            m.weight.data = rng.uniform(0.8, 1.2, c).astype(np.float32)
            m.bias.data = rng.normal(0, 0.1, c).astype(np.float32)
        elif getattr(m, "bias", None) is not None and isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.bias.data = rng.normal(0, 0.1, m.bias.shape).astype(np.float32)


def pair(args, seed=0):
    ours = UNet(*args, rng=seed)
    randomise(ours, np.random.default_rng(seed + 1))
    ref = TorchUNet(*args)
    state = ours.state_dict()
    assert list(state) == list(ref.state_dict())
    assert [v.shape for v in state.values()] == [tuple(v.shape) for v in ref.state_dict().values()]
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    return ours, ref


def check_training_step(ours, ref, shape, classes, seed=1):
    """float64, batch statistics: per-pixel cross-entropy, backward, one SGD step; the loss, every parameter
    gradient, every parameter after the step and the running statistics against PyTorch."""
    ours.double().train()
    ref.double().train()
    rng = np.random.default_rng(seed)
    x, labels = rng.standard_normal(shape), rng.integers(0, classes, (shape[0],) + shape[2:])
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    loss_ref = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(labels))
    opt.zero_grad()
    loss_ref.backward()
    opt.step()
    opt_ours = st.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    loss = nn.CrossEntropyLoss()(ours(st.Tensor(x, dtype=np.float64)), labels)
    opt_ours.zero_grad()
    loss.backward()
    opt_ours.step()
    assert abs(loss.item() - loss_ref.item()) < 1e-12
    theirs = dict(ref.named_parameters())
    assert [k for k, _ in ours.named_parameters()] == list(theirs)
    for key, p in ours.named_parameters():
        expected = theirs[key].grad.numpy()
        np.testing.assert_allclose(p.grad, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max(), err_msg=key)
        np.testing.assert_allclose(p.data, theirs[key].detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=key)
    buffers = dict(ref.named_buffers())
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, buffers[key].numpy() if key in buffers else theirs[key].detach().numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=key)


@needs_torch
def test_equals_torch_small():
    """Depth 2: evaluation in float32, then the float64 block check (output, input gradient and every parameter
    gradient for a random upstream gradient, batch statistics), then a training step."""
    ours, ref = pair((3, 4, 4, 2))
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 12)).astype(np.float32)
    with torch.no_grad():
        expected = ref.eval()(torch.from_numpy(x)).numpy()
    with st.no_grad():
        out = ours.eval()(x)
    assert out.dtype == np.float32 and out.shape == expected.shape == (2, 4, 16, 12)
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    ours.train()
    ref.train()
    check_module_against_torch(ours, ref, (2, 3, 8, 12))
    ours, ref = pair((3, 4, 4, 2), seed=5)
    check_training_step(ours, ref, (2, 3, 16, 8), classes=4)


@needs_torch
@pytest.mark.slow
def test_default_unet_training_step_equals_torch():
    """The registered default (base 16, depth 4, 1.9M parameters) at 64x64, batch 2, float64."""
    ours, ref = pair((1, 2, 16, 4))
    check_training_step(ours, ref, (2, 1, 64, 64), classes=2)
