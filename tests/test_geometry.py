"""Integer shape arithmetic (``strided.geometry``) against hand computations, the lectures'
published examples, and the output sizes PyTorch's convolution really produces.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import strided as st
from oracle import TF, needs_torch, torch
from strided.geometry import (ReceptiveField, as_tuple, ceil_div, conv_output_size, explicit_padding,
                              resolve_padding, same_padding, window_output_shape)


pytestmark = pytest.mark.usefixtures("single_threaded_torch")


# --------------------------------------------------------------------------------------------- output size


@pytest.mark.parametrize("size, kernel, stride, pad, dilation, expected, source", [
    (227, 11, 4, 0, 1, 55, "AlexNet conv1: (227 - 11) / 4 + 1"),
    (55, 3, 2, 0, 1, 27, "AlexNet overlapping max pool 3/2"),
    (27, 5, 1, 2, 1, 27, "AlexNet conv2, pad 2"),
    (13, 3, 2, 0, 1, 6, "AlexNet pool5"),
    (32, 5, 1, 2, 1, 32, "CS231n: 32x32 input, 5x5 filters, pad 2 keeps 32"),
    (32, 5, 1, 0, 1, 28, "LeNet-5 C1: 32 - 5 + 1"),
    (28, 2, 2, 0, 1, 14, "LeNet-5 S2"),
    (10, 2, 2, 0, 1, 5, "LeNet-5 S4"),
    (7, 3, 1, 0, 1, 5, "CS231n: 7x7 input, 3x3 filter, stride 1"),
    (7, 3, 2, 0, 1, 3, "CS231n: 7x7 input, 3x3 filter, stride 2"),
    (224, 3, 1, 1, 1, 224, "VGG 3x3 pad 1"),
    (224, 7, 2, 3, 1, 112, "ResNet stem 7x7/2 pad 3"),
    (112, 3, 2, 1, 1, 56, "ResNet max pool 3x3/2 pad 1"),
    (7, 3, 1, 0, 2, 3, "dilation 2: effective kernel 5"),
    (5, 5, 1, 0, 1, 1, "kernel the size of the input"),
])
def test_conv_output_size_on_published_examples(size, kernel, stride, pad, dilation, expected, source):
    assert conv_output_size(size, kernel, stride, (pad, pad), dilation) == expected, source
    # and the formula itself, written out
    assert expected == math.floor((size - dilation * (kernel - 1) - 1 + 2 * pad) / stride) + 1, source


def test_conv_output_size_when_the_window_does_not_fit():
    assert conv_output_size(3, 5) < 1
    assert conv_output_size(4, 3, dilation=2) < 1
    assert conv_output_size(3, 5, padding=(1, 1)) == 1
    with pytest.raises(st.ShapeError, match="kernel extent"):
        window_output_shape((3,), (5,), (1,), ((0, 0),), (1,), "test")


def torch_conv_out(size, kernel, stride, lo, hi, dilation):
    """Length of torch's actual conv1d output, or None when torch refuses the geometry."""
    x = torch.zeros(1, 1, size, dtype=torch.float64)
    w = torch.zeros(1, 1, kernel, dtype=torch.float64)
    try:
        if lo == hi:
            return TF.conv1d(x, w, stride=stride, padding=lo, dilation=dilation).shape[-1]
        return TF.conv1d(TF.pad(x, (lo, hi)), w, stride=stride, dilation=dilation).shape[-1]
    except RuntimeError:
        return None


GRID = list(itertools.product(range(1, 11), range(1, 5), range(1, 4), [(0, 0), (1, 1), (2, 2), (0, 1), (2, 1)],
                              range(1, 4)))


@needs_torch
def test_conv_output_size_equals_torch_over_a_grid():
    checked = refused = 0
    for size, kernel, stride, (lo, hi), dilation in GRID:
        theirs = torch_conv_out(size, kernel, stride, lo, hi, dilation)
        ours = conv_output_size(size, kernel, stride, (lo, hi), dilation)
        case = (size, kernel, stride, (lo, hi), dilation)
        if theirs is None or theirs == 0:
            refused += 1
            assert ours < 1, case
            with pytest.raises(st.ShapeError):
                window_output_shape((size,), (kernel,), (stride,), ((lo, hi),), (dilation,), "test")
        else:
            checked += 1
            assert ours == theirs, case
            assert window_output_shape((size,), (kernel,), (stride,), ((lo, hi),), (dilation,), "test") == (theirs,)
    assert checked > 1000 and refused > 50          # both regimes really exercised


@needs_torch
def test_window_output_shape_in_3d_equals_torch():
    rng = np.random.default_rng(0)
    for _ in range(30):
        sizes = tuple(int(v) for v in rng.integers(4, 9, 3))
        kernel = tuple(int(v) for v in rng.integers(1, 4, 3))
        stride = tuple(int(v) for v in rng.integers(1, 3, 3))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 3))
        pad = tuple(int(v) for v in rng.integers(0, 2, 3))
        expected = TF.conv3d(torch.zeros((1, 1) + sizes), torch.zeros((1, 1) + kernel), stride=stride,
                             padding=pad, dilation=dilation).shape[2:]
        assert window_output_shape(sizes, kernel, stride, [(p, p) for p in pad], dilation, "t") == tuple(expected)


# --------------------------------------------------------------------------------------------- same padding


@needs_torch
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
def test_same_padding_gives_ceil_size_over_stride(stride):
    for size, kernel, dilation in itertools.product(range(1, 13), range(1, 6), range(1, 3)):
        lo, hi = same_padding(size, kernel, stride, dilation)
        out = math.ceil(size / stride)
        # hand rule (TensorFlow's): the least total padding giving `out` outputs, extra at the end
        total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
        assert (lo, hi) == (total // 2, total - total // 2), (size, kernel, stride, dilation)
        assert torch_conv_out(size, kernel, stride, lo, hi, dilation) == out, (size, kernel, stride, dilation)


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_matches_torch_same_at_stride_1():
    """Output *values*, not just sizes: even kernels pad asymmetrically, and the side must match."""
    rng = np.random.default_rng(0)
    for size, kernel, dilation in itertools.product([5, 6, 9], [1, 2, 3, 4, 5], [1, 2, 3]):
        x = torch.from_numpy(rng.standard_normal((1, 2, size)))
        w = torch.from_numpy(rng.standard_normal((3, 2, kernel)))
        expected = TF.conv1d(x, w, padding="same", dilation=dilation)
        lo, hi = same_padding(size, kernel, 1, dilation)
        got = TF.conv1d(TF.pad(x, (lo, hi)), w, dilation=dilation)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
        # and strided's own conv with padding='same' gives the same numbers
        ours = st.nn.functional.conv1d(st.Tensor(x.numpy(), dtype=np.float64), st.Tensor(w.numpy(), dtype=np.float64),
                                       padding="same", dilation=dilation)
        np.testing.assert_allclose(ours.data, expected.numpy(), rtol=1e-10, atol=1e-10)


def test_same_padding_hand_examples():
    assert same_padding(32, 3, 1, 1) == (1, 1)
    assert same_padding(32, 4, 1, 1) == (1, 2)          # odd total: the extra goes at the end
    assert same_padding(32, 3, 2, 1) == (0, 1)          # out 16: (15 * 2 + 3) - 32 = 1
    assert same_padding(224, 7, 2, 1) == (2, 3)         # out 112: 111 * 2 + 7 - 224 = 5
    assert same_padding(5, 1, 4, 1) == (0, 0)           # out 2: 4 + 1 - 5 = 0
    assert same_padding(7, 3, 1, 2) == (2, 2)           # effective kernel 5


# --------------------------------------------------------------------------------------------- resolve_padding


def test_resolve_padding_every_mode():
    args = dict(sizes=(10, 9), kernel=(3, 4), stride=(1, 2), dilation=(2, 1), owner="T")
    assert resolve_padding("valid", **args) == ((0, 0), (0, 0))
    # same: axis 0 effective kernel 5 at stride 1 -> total 4; axis 1: out ceil(9/2)=5, 4*2+4-9=3
    assert resolve_padding("same", **args) == ((2, 2), (1, 2))
    assert resolve_padding("SAME", **args) == ((2, 2), (1, 2))
    # full: every partial overlap, d*(k-1) on both sides
    assert resolve_padding("full", **args) == ((4, 4), (3, 3))
    assert resolve_padding(1, **args) == ((1, 1), (1, 1))
    assert resolve_padding(0, **args) == ((0, 0), (0, 0))
    assert resolve_padding((2, 0), **args) == ((2, 2), (0, 0))
    assert resolve_padding([1, 3], **args) == ((1, 1), (3, 3))
    assert resolve_padding(((1, 0), (0, 2)), **args) == ((1, 0), (0, 2))
    one_d = dict(sizes=(10,), kernel=(3,), stride=(1,), dilation=(2,), owner="T")
    assert resolve_padding("causal", **one_d) == ((4, 0),)
    assert resolve_padding(((0, 3),), **one_d) == ((0, 3),)


@needs_torch
def test_full_padding_gives_size_plus_kernel_minus_one():
    for size, kernel, dilation in itertools.product(range(1, 8), range(1, 5), range(1, 3)):
        (lo, hi), = resolve_padding("full", (size,), (kernel,), (1,), (dilation,), "T")
        assert torch_conv_out(size, kernel, 1, lo, hi, dilation) == size + dilation * (kernel - 1)


@needs_torch
def test_causal_padding_sees_only_the_past():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 12))
    w = st.Tensor(rng.standard_normal((1, 1, 3)), dtype=np.float64)
    base = st.nn.functional.conv1d(st.Tensor(x, dtype=np.float64), w, padding="causal", dilation=2).data
    assert base.shape == (1, 1, 12)
    for t in range(12):
        future = x.copy()
        future[..., t] += 10.0
        moved = st.nn.functional.conv1d(st.Tensor(future, dtype=np.float64), w, padding="causal", dilation=2).data
        changed = np.flatnonzero(~np.isclose(moved[0, 0], base[0, 0]))
        # input t reaches outputs t, t+2, t+4 (dilation 2, kernel 3) and nothing earlier
        assert set(changed) == {s for s in (t, t + 2, t + 4) if s < 12}, t
    # the same numbers as torch with the padding on the left only
    expected = TF.conv1d(TF.pad(torch.from_numpy(x), (4, 0)), torch.from_numpy(w.data), dilation=2).numpy()
    np.testing.assert_allclose(base, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding, error, fragment", [
    ("bogus", ValueError, "unknown padding mode 'bogus'"),
    ("causal", ValueError, "padding='causal' is defined for 1-D input only, got 2-D"),
    (-1, ValueError, "non-negative"),
    (((1, -2), (0, 0)), ValueError, "non-negative"),
    (True, TypeError, "padding must be"),
    (1.0, TypeError, "padding must be"),
    ((1, 2, 3), TypeError, "a tuple of 2 ints"),
    (((1, 2, 3), (0, 0)), TypeError, "(lo, hi) pairs"),
    ((1, (0, 1)), TypeError, "padding must be"),
    (None, TypeError, "padding must be"),
])
def test_resolve_padding_refuses(padding, error, fragment):
    with pytest.raises(error) as info:
        resolve_padding(padding, (8, 8), (3, 3), (1, 1), (1, 1), "Owner")
    assert str(info.value).startswith("Owner: ") and fragment in str(info.value)


def test_explicit_padding_forms():
    assert explicit_padding(2, 3, "T") == ((2, 2),) * 3
    assert explicit_padding((0, 1, 2), 3, "T") == ((0, 0), (1, 1), (2, 2))
    assert explicit_padding(((0, 1),), 1, "T") == ((0, 1),)


# --------------------------------------------------------------------------------------------- small helpers


def test_as_tuple():
    assert as_tuple(3, 2, "k", "T") == (3, 3)
    assert as_tuple((1, 2, 3), 3, "k", "T") == (1, 2, 3)
    assert as_tuple([4], 1, "k", "T") == (4,)
    assert as_tuple(0, 2, "padding", "T", minimum=0) == (0, 0)
    with pytest.raises(ValueError, match=r"T: k must be >= 1, got 0"):
        as_tuple(0, 2, "k", "T")
    with pytest.raises(TypeError, match=r"T: k must be an int or a tuple of 2 ints, got \(1, 2, 3\)"):
        as_tuple((1, 2, 3), 2, "k", "T")
    with pytest.raises(TypeError):
        as_tuple(False, 2, "k", "T")
    with pytest.raises(TypeError):
        as_tuple((1, 2.0), 2, "k", "T")


def test_ceil_div():
    for a, b in itertools.product(range(0, 30), range(1, 7)):
        assert ceil_div(a, b) == math.ceil(a / b)


# --------------------------------------------------------------------------------------------- receptive field


def test_identity_field():
    rf = ReceptiveField.identity(2)
    assert rf.size == (1, 1) and rf.jump == (1, 1) and rf.start == (0.0, 0.0)


def test_two_3x3_convs_see_5x5():
    # by hand: r1 = 1 + (3-1)*1 = 3, r2 = 3 + (3-1)*1 = 5; jump stays 1
    # start without padding: 0 + 1 = 1, then 1 + 1 = 2 (the first output's centre is input pixel 2)
    rf = ReceptiveField.identity(2).through_window((3, 3), (1, 1), (0, 0), (1, 1)).through_window(
        (3, 3), (1, 1), (0, 0), (1, 1))
    assert rf.size == (5, 5) and rf.jump == (1, 1) and rf.start == (2.0, 2.0)
    # with padding 1 each, the first output is centred on pixel 0
    rf = ReceptiveField.identity(1).through_window((3,), (1,), (1,), (1,)).through_window((3,), (1,), (1,), (1,))
    assert rf.size == (5,) and rf.start == (0.0,)


def test_strided_conv_then_conv():
    # conv3 stride 2: r = 3, j = 2, start = 1; then conv3: r = 3 + 2*2 = 7, j = 2, start = 1 + 1*2 = 3
    rf = ReceptiveField.identity(1).through_window((3,), (2,), (0,), (1,))
    assert (rf.size, rf.jump, rf.start) == ((3,), (2,), (1.0,))
    rf = rf.through_window((3,), (1,), (0,), (1,))
    assert (rf.size, rf.jump, rf.start) == ((7,), (2,), (3.0,))
    # with padding 1 on both: start 0 - 1 + 1 = 0, then 0 + (1 - 1) * 2 = 0
    rf = ReceptiveField.identity(1).through_window((3,), (2,), (1,), (1,)).through_window((3,), (1,), (1,), (1,))
    assert (rf.size, rf.jump, rf.start) == ((7,), (2,), (0.0,))


def test_dilated_and_even_kernels():
    # dilation 2, kernel 3: effective 5 -> size 5, start 2
    rf = ReceptiveField.identity(1).through_window((3,), (1,), (0,), (2,))
    assert (rf.size, rf.start) == ((5,), (2.0,))
    # kernel 2: the centre is between pixels 0 and 1
    rf = ReceptiveField.identity(1).through_window((2,), (2,), (0,), (1,))
    assert (rf.size, rf.jump, rf.start) == ((2,), (2,), (0.5,))
    # a padding larger than half the kernel puts the first centre before the first pixel
    rf = ReceptiveField.identity(1).through_window((3,), (1,), (2,), (1,))
    assert rf.start == (-1.0,)


def test_alexnet_feature_stack_receptive_field_is_195():
    """Araujo et al. (Distill 2019) list AlexNet's receptive field as 195; by hand:
    conv11/4: 11, j4; pool3/2: 19, j8; conv5: 51; pool3/2: 67, j16; conv3 x3: 99, 131, 163; pool3/2: 195, j32."""
    stack = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
    sizes = [11, 19, 51, 67, 99, 131, 163, 195]
    rf = ReceptiveField.identity(2)
    for (k, s, p), size in zip(stack, sizes):
        rf = rf.through_window((k, k), (s, s), (p, p), (1, 1))
        assert rf.size == (size, size)
    assert rf.jump == (32, 32)


def test_vgg16_receptive_field_is_212():
    """Araujo et al. list VGG-16's receptive field as 212 (13 convs 3x3/1, 5 pools 2x2/2, before the head)."""
    rf = ReceptiveField.identity(1)
    for block in (2, 2, 3, 3, 3):
        for _ in range(block):
            rf = rf.through_window((3,), (1,), (1,), (1,))
        rf = rf.through_window((2,), (2,), (0,), (1,))
    assert rf.size == (212,) and rf.jump == (32,)


def test_through_global_sees_everything():
    rf = ReceptiveField.identity(2).through_window((3, 3), (2, 2), (1, 1), (1, 1))   # size 3, jump 2, start 0
    g = rf.through_global((7, 5))
    # window of 7 (resp. 5) outputs with jump 2: 3 + 6*2 = 15, 3 + 4*2 = 11; centre of outputs 3 and 2
    assert g.size == (15, 11) and g.jump == (14, 10) and g.start == (6.0, 4.0)


def test_merge_takes_the_largest_field():
    a = ReceptiveField((3, 5), (2, 2), (1.0, 0.0))
    b = ReceptiveField((7, 1), (2, 2), (0.0, 2.0))
    m = ReceptiveField.merge([a, b])
    assert m.size == (7, 5) and m.jump == (2, 2) and m.start == (0.0, 0.0)


def test_layers_use_the_same_recurrence_as_a_hand_stack():
    """A Sequential's declared field equals the hand-computed one (start included, with 'same' padding)."""
    net = st.nn.Sequential(st.nn.Conv2d(1, 2, 3, stride=2, padding=1, rng=0), st.nn.ReLU(),
                           st.nn.MaxPool2d(2), st.nn.Conv2d(2, 2, 3, padding="same", rng=0))
    rf = net.receptive_field(ReceptiveField.identity(2), (1, 1, 16, 16))
    # conv3/2 pad 1: size 3, jump 2, start 0; pool 2/2: size 3 + 1*2 = 5, jump 4, start 0 + 0.5*2 = 1;
    # conv3 same (pad 1): size 5 + 2*4 = 13, jump 4, start 1 + (1 - 1)*4 = 1
    assert rf.size == (13, 13) and rf.jump == (4, 4) and rf.start == (1.0, 1.0)


def test_remembered_geometry_keeps_validating():
    """The per-call cache of the layers' geometry: the same answers, and arguments that differ
    only in type (True for 1, 2.0 for 2) are still rejected after the int version was cached."""
    from strided.nn import functional as F
    x = np.zeros((1, 2, 8, 8), dtype=np.float32)
    w = np.zeros((3, 2, 3, 3), dtype=np.float32)
    assert F.conv2d(x, w, stride=2).shape == (1, 3, 3, 3)
    assert F.conv2d(x, w, stride=2).shape == (1, 3, 3, 3)             # from the cache
    with pytest.raises(TypeError, match="stride must be an int"):
        F.conv2d(x, w, stride=2.0)
    with pytest.raises(TypeError, match="stride must be an int"):
        F.conv2d(x, w, stride=(2, True))
    F.max_pool2d(x, 2)
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        F.max_pool2d(x, 2.0)
    with pytest.raises(st.ShapeError):                                  # errors are raised every time
        F.conv2d(np.zeros((1, 2, 2, 2)), w)
    with pytest.raises(st.ShapeError):
        F.conv2d(np.zeros((1, 2, 2, 2)), w)
