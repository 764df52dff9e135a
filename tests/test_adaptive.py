"""Adaptive average pooling against PyTorch, its bin rule, static rules and errors."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from module_oracle import check_module_against_torch
from oracle import TF, check_against_torch, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField, adaptive_bins, adaptive_window

CASES_2D = [
    ((8, 8), (4, 4)),        # divides
    ((7, 7), (3, 3)),        # regular overlapping bins
    ((10, 9), (4, 5)),       # does not divide, bins of two sizes
    ((13, 11), (6, 6)),      # AlexNet-like
    ((5, 7), (7, 3)),        # more outputs than inputs on one axis
    ((6, 5), (1, 1)),        # global
    ((7, 7), (7, 7)),        # VGG at 224: the identity
    ((7, 9), (None, 4)),     # None keeps the input size
    ((9, 6), 4),             # an int for both axes
]


@needs_torch
@pytest.mark.parametrize("sizes,out", CASES_2D, ids=lambda v: str(v))
def test_adaptive_avg_pool2d_matches_torch(sizes, out):
    check_against_torch(F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, [(2, 3) + sizes],
                        kwargs=dict(output_size=out), seed=sum(sizes))


@needs_torch
@pytest.mark.parametrize("size,out", [(10, 4), (8, 8), (5, 9), (12, 1)])
def test_adaptive_avg_pool1d_matches_torch(size, out):
    check_against_torch(F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d, [(2, 3, size)], kwargs=dict(output_size=out))


@needs_torch
@pytest.mark.parametrize("sizes,out", [((5, 6, 7), (2, 4, 3)), ((4, 4, 4), (2, None, 1))])
def test_adaptive_avg_pool3d_matches_torch(sizes, out):
    check_against_torch(F.adaptive_avg_pool3d, TF.adaptive_avg_pool3d, [(1, 2) + sizes], kwargs=dict(output_size=out))


@needs_torch
@pytest.mark.parametrize("module,torch_module,shape", [
    (nn.AdaptiveAvgPool2d((6, 6)), lambda: torch.nn.AdaptiveAvgPool2d((6, 6)), (2, 4, 13, 15)),
    (nn.AdaptiveAvgPool2d(1), lambda: torch.nn.AdaptiveAvgPool2d(1), (2, 4, 5, 3)),
    (nn.AdaptiveAvgPool1d(3), lambda: torch.nn.AdaptiveAvgPool1d(3), (2, 4, 10)),
    (nn.AdaptiveAvgPool3d((1, 2, 3)), lambda: torch.nn.AdaptiveAvgPool3d((1, 2, 3)), (1, 2, 3, 5, 7)),
], ids=["alexnet", "global", "1d", "3d"])
def test_modules_match_torch(module, torch_module, shape):
    check_module_against_torch(module, torch_module(), shape)


def test_float32_stays_float32_and_identity_is_exact():
    x = np.random.default_rng(0).standard_normal((1, 512, 7, 7)).astype(np.float32)
    xs = st.Tensor(x, requires_grad=True)
    out = nn.AdaptiveAvgPool2d((7, 7))(xs)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, x)
    assert not np.shares_memory(out.data, x)
    out.backward(np.ones_like(x))
    np.testing.assert_array_equal(xs.grad, 1.0)


# --------------------------------------------------------------------------------------- the bin rule
@pytest.mark.parametrize("size", range(1, 15))
@pytest.mark.parametrize("out", range(1, 9))
def test_bins_follow_the_written_rule(size, out):
    starts, ends = adaptive_bins(size, out)
    assert starts == tuple(math.floor(Fraction(i * size, out)) for i in range(out))
    assert ends == tuple(math.ceil(Fraction((i + 1) * size, out)) for i in range(out))
    assert starts[0] == 0 and ends[-1] == size
    assert all(e > s for s, e in zip(starts, ends))
    assert all(b <= e for b, e in zip(starts[1:], ends))                # no pixel is left out


# --------------------------------------------------------------------------------------- static rules
def bin_centres(size, out):
    starts, ends = adaptive_bins(size, out)
    return [(s + e - 1) / 2 for s, e in zip(starts, ends)]


@pytest.mark.parametrize("size,out", [(12, 4), (7, 3), (9, 9), (6, 1), (224, 7)])
def test_receptive_field_is_exact_for_regular_bins(size, out):
    rf = nn.AdaptiveAvgPool1d(out).receptive_field(ReceptiveField.identity(1), (1, 1, size))
    starts, ends = adaptive_bins(size, out)
    assert rf.size == (ends[0] - starts[0],)
    assert [rf.start[0] + i * rf.jump[0] for i in range(out)] == bin_centres(size, out)


def test_global_bins_are_global_pooling():
    shape = (1, 3, 9, 6)
    rf = ReceptiveField(size=(3, 5), jump=(2, 1), start=(1.0, 0.5))
    expected = nn.GlobalAvgPool(keepdims=True).receptive_field(rf, shape)
    assert nn.AdaptiveAvgPool2d(1).receptive_field(rf, shape) == expected


@pytest.mark.parametrize("size,out", [(10, 4), (14, 6), (11, 6), (5, 7), (100, 7)])
def test_receptive_field_approximation_is_within_half_a_pixel(size, out):
    rf = nn.AdaptiveAvgPool1d(out).receptive_field(ReceptiveField.identity(1), (1, 1, size))
    starts, ends = adaptive_bins(size, out)
    assert len({b - a for a, b in zip(starts, starts[1:])}) > 1, "irregular bins: the approximate case"
    assert rf.size == (max(e - s for s, e in zip(starts, ends)),)
    assert rf.jump[0] == pytest.approx(size / out)
    for i, centre in enumerate(bin_centres(size, out)):
        assert abs(rf.start[0] + i * rf.jump[0] - centre) < 0.5
    assert adaptive_window(size, out)[0] == rf.size[0]


def test_output_shape_and_cost():
    layer = nn.AdaptiveAvgPool2d((None, 7))
    assert layer.output_shape((2, 512, 9, 12)) == (2, 512, 9, 7) == layer(np.zeros((2, 512, 9, 12))).shape
    assert layer.cost((2, 512, 9, 12)) == (0, 0)


def test_vgg_head_shapes_in_a_sequential():
    head = nn.Sequential(nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(512 * 49, 10, rng=0))
    assert head.output_shape((1, 512, 10, 13)) == (1, 10)


# --------------------------------------------------------------------------------------- errors
def test_wrong_rank_names_layer_and_shape():
    with pytest.raises(st.ShapeError, match=r"AdaptiveAvgPool2d\(output_size=\(6, 6\)\): expected input "
                                             r"\(N, C, H, W\) or \(C, H, W\).*, got \(2, 3, 13, 13, 1\)"):
        nn.AdaptiveAvgPool2d((6, 6))(np.zeros((2, 3, 13, 13, 1)))
    with pytest.raises(st.ShapeError, match=r"adaptive_avg_pool2d: expected input \(N, C, H, W\) or \(C, H, W\).*, "
                                             r"got \(3,\)"):
        F.adaptive_avg_pool2d(np.zeros((3,)), 2)


@pytest.mark.parametrize("bad,error", [(0, ValueError), ((6, -1), ValueError), ((6,), TypeError), (True, TypeError),
                                       ((6, 6, 6), TypeError), (2.0, TypeError), ("6", TypeError)])
def test_bad_output_size(bad, error):
    with pytest.raises(error, match=r"AdaptiveAvgPool2d: output_size must be"):
        nn.AdaptiveAvgPool2d(bad)
    with pytest.raises(error, match=r"adaptive_avg_pool2d: output_size must be"):
        F.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), bad)


@pytest.mark.parametrize("output_size", [(3, 4), (7, 7), (2, 9)])
def test_adaptive_avg_pool_keeps_a_batch_last_input_batch_last(output_size):
    """The output and the input gradient of a batch-last input (a convolution's output) stay
    batch-last, with the values of the C-order computation."""
    from strided.windows import batch_last, to_batch_last
    x = np.random.default_rng(5).standard_normal((4, 3, 9, 10))
    g = np.random.default_rng(6).standard_normal((4, 3) + output_size)
    results = []
    for given, grad in ((x, g), (to_batch_last(x), to_batch_last(g))):
        xs = st.Tensor(given, requires_grad=True)
        y = nn.AdaptiveAvgPool2d(output_size)(xs)
        y.backward(grad)
        results.append((y.data, xs.grad))
    (y_c, gx_c), (y_b, gx_b) = results
    assert batch_last(y_b) and batch_last(gx_b)
    np.testing.assert_allclose(y_b, y_c, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(gx_b, gx_c, rtol=1e-15, atol=1e-15)
