"""Depthwise, pointwise and separable convolutions, and conv's 1x1 fast path, against PyTorch."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from module_oracle import check_module_against_torch
from oracle import TF, check_against_torch, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField
from strided.nn import conv_forms

ST_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TH_CONV = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d} if torch is not None else {}
SPATIAL = {1: (7,), 2: (5, 6), 3: (3, 4, 5)}
pytestmark = pytest.mark.usefixtures("compute_path")                 # NumPy alone and the compiled kernels


# ------------------------------------------------------------------------------------ 1x1 fast path
@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_pointwise_conv_matches_torch(d, groups, bias):
    shapes = [(2, 8) + SPATIAL[d], (12, 8 // groups) + (1,) * d, (12,) if bias else None]
    check_against_torch(ST_CONV[d], TH_CONV[d], shapes, kwargs=dict(groups=groups), seed=10 * d + groups)


@needs_torch
def test_pointwise_conv_dilation_is_irrelevant():
    check_against_torch(F.conv2d, TF.conv2d, [(2, 4, 5, 6), (3, 4, 1, 1), (3,)], kwargs=dict(dilation=3))


@needs_torch
@pytest.mark.parametrize("case", [dict(stride=2), dict(padding=1), dict(stride=(1, 2)), dict(padding=(0, 1))],
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_1x1_kernels_off_the_fast_path_still_match_torch(case):
    check_against_torch(F.conv2d, TF.conv2d, [(2, 4, 5, 6), (6, 2, 1, 1), (6,)], kwargs=dict(groups=2, **case))


@needs_torch
def test_fast_path_uses_no_windows(monkeypatch):
    """Stride 1, no padding, 1x1: no window is unfolded or folded back, forward or backward."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the 1x1 fast path must not unfold windows")
    for name in ("window_columns", "blocked_product", "blocked_weight_grad", "blocked_fold"):
        monkeypatch.setattr(conv_forms, name, forbidden)
    check_against_torch(F.conv2d, TF.conv2d, [(2, 6, 4, 5), (8, 3, 1, 1), (8,)], kwargs=dict(groups=2))
    layer = nn.PointwiseConv2d(4, 3, rng=0)
    out = layer(st.Tensor(np.ones((1, 4, 2, 2), np.float32), requires_grad=True))
    out.sum().backward()
    assert layer.weight.grad.shape == (3, 4, 1, 1)


@needs_torch
def test_fast_path_on_a_non_contiguous_input():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 5, 6, 4))
    x = base.transpose(0, 1, 3, 2)                                     # (2, 5, 4, 6), not C-contiguous
    w = rng.standard_normal((3, 5, 1, 1))
    xs = st.Tensor(x, requires_grad=True, dtype=np.float64)
    out = F.conv2d(xs, st.Tensor(w, dtype=np.float64))
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    ref = TF.conv2d(xt, torch.from_numpy(w))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-12)


def test_fast_path_keeps_float32():
    out = F.conv2d(np.ones((1, 2, 3, 3), np.float32), np.ones((4, 2, 1, 1), np.float32))
    assert out.dtype == np.float32 and out.shape == (1, 4, 3, 3)
    np.testing.assert_array_equal(out.data, 2.0)


# ------------------------------------------------------------------------------------ layers vs torch
@needs_torch
@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3),
    dict(kernel_size=3, padding=1, depth_multiplier=2),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 0), dilation=(1, 2), bias=False),
    dict(kernel_size=5, padding="same", depth_multiplier=3),
], ids=["plain", "multiplier", "strided", "same"])
def test_depthwise_matches_torch_grouped_conv(kwargs):
    c, m = 3, kwargs.get("depth_multiplier", 1)
    ours = nn.DepthwiseConv2d(c, rng=0, **kwargs)
    torch_kwargs = {k: v for k, v in kwargs.items() if k != "depth_multiplier"}
    theirs = torch.nn.Conv2d(c, c * m, groups=c, **torch_kwargs)
    check_module_against_torch(ours, theirs, (2, c, 7, 8))
    assert list(ours.state_dict()) == (["weight", "bias"] if kwargs.get("bias", True) else ["weight"])


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_layer_matches_torch(bias):
    check_module_against_torch(nn.PointwiseConv2d(5, 7, bias=bias, rng=0), torch.nn.Conv2d(5, 7, 1, bias=bias),
                               (2, 5, 4, 3))


def torch_separable(c, c_out, k, stride=1, padding=0, dilation=1, bias=True, m=1):
    """Xception's separable convolution in torch, with Keras' bias convention."""
    return torch.nn.Sequential(OrderedDict(
        depthwise=torch.nn.Conv2d(c, c * m, k, stride, padding, dilation, groups=c, bias=False),
        pointwise=torch.nn.Conv2d(c * m, c_out, 1, bias=bias)))


@needs_torch
@pytest.mark.parametrize("args", [
    dict(k=3, padding=1),
    dict(k=3, stride=2, padding=1, bias=False),
    dict(k=(3, 5), dilation=2, padding="same"),
    dict(k=3, m=2),
], ids=["same3", "strided-nobias", "dilated", "multiplier"])
def test_separable_matches_torch(args):
    c, c_out = 4, 6
    args = dict(args)                                                    # the parameter is shared by both paths
    k, m = args.pop("k"), args.pop("m", 1)
    ours = nn.SeparableConv2d(c, c_out, k, rng=0, depth_multiplier=m, **args)
    check_module_against_torch(ours, torch_separable(c, c_out, k, m=m, **args), (2, c, 9, 8))
    expected = ["depthwise.weight", "pointwise.weight"] + (["pointwise.bias"] if args.get("bias", True) else [])
    assert list(ours.state_dict()) == expected


# ------------------------------------------------------------------------------------ counts by hand
def test_parameter_counts_by_hand():
    assert nn.DepthwiseConv2d(32, 3, depth_multiplier=2, rng=0).num_parameters() == 32 * 2 * 9 + 64
    assert nn.PointwiseConv2d(64, 16, rng=0).num_parameters() == 64 * 16 + 16
    sep = nn.SeparableConv2d(64, 128, 3, rng=0)
    assert sep.depthwise.bias is None and sep.pointwise.bias is not None
    assert sep.num_parameters() == 64 * 9 + 64 * 128 + 128 == sep.cost((1, 64, 8, 8)).params


def test_separable_cost_is_depthwise_plus_pointwise():
    shape = (1, 64, 56, 56)
    sep = nn.SeparableConv2d(64, 128, 3, padding=1, rng=0)
    full = nn.Conv2d(64, 128, 3, padding=1, rng=0)
    dw, pw = 56 * 56 * 64 * 9, 56 * 56 * 64 * 128
    assert sep.cost(shape).macs == dw + pw == 27_496_448
    assert full.cost(shape).macs == 56 * 56 * 128 * 64 * 9
    assert full.cost(shape).macs / sep.cost(shape).macs == pytest.approx(1 / (1 / 128 + 1 / 9))
    assert nn.DepthwiseConv2d(64, 3, padding=1, rng=0).cost(shape).macs == dw
    assert nn.PointwiseConv2d(64, 128, rng=0).cost(shape).macs == pw


def test_separable_static_rules_match_a_full_conv_of_that_geometry():
    shape = (2, 4, 11, 9)
    kwargs = dict(stride=2, padding="same", dilation=(2, 1))
    sep, full = nn.SeparableConv2d(4, 6, 3, rng=0, **kwargs), nn.Conv2d(4, 6, 3, rng=0, **kwargs)
    rf = ReceptiveField.identity(2)
    assert sep.output_shape(shape) == full.output_shape(shape) == sep(np.zeros(shape)).shape
    assert sep.receptive_field(rf, shape) == full.receptive_field(rf, shape)


def test_summary_lists_both_steps():
    s = st.summary(nn.SeparableConv2d(8, 16, 3, padding=1, rng=0), (1, 8, 10, 10))
    assert [row.name for row in s.rows] == ["depthwise", "pointwise"]
    assert s.macs == 100 * 8 * 9 + 100 * 8 * 16 and s.params == 8 * 9 + 8 * 16 + 16


# ------------------------------------------------------------------------------------ errors
def test_depthwise_wrong_channels_names_layer_and_shapes():
    with pytest.raises(st.ShapeError, match=r"DepthwiseConv2d\(3, kernel_size=\(3, 3\)\): expected input "
                                             r"\(N, 3, H, W\), got \(1, 4, 8, 8\)"):
        nn.DepthwiseConv2d(3, 3, rng=0)(np.zeros((1, 4, 8, 8)))


def test_separable_errors_name_the_separable_layer():
    sep = nn.SeparableConv2d(3, 8, 5, rng=0)
    with pytest.raises(st.ShapeError, match=r"SeparableConv2d\(3, 8, kernel_size=\(5, 5\)\): expected input "
                                             r"\(N, 3, H, W\), got \(2, 4, 9, 9\)"):
        sep(np.zeros((2, 4, 9, 9)))
    with pytest.raises(st.ShapeError, match=r"SeparableConv2d\(3, 8.*DepthwiseConv2d.*kernel extent"):
        sep.output_shape((2, 3, 4, 9))
    with pytest.raises(ValueError, match="SeparableConv2d: .*unknown padding mode 'sane'"):
        nn.SeparableConv2d(3, 8, 3, padding="sane")


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_depth_multiplier(bad, error):
    with pytest.raises(error, match=f"DepthwiseConv2d: depth_multiplier must be a positive int, got {bad!r}"):
        nn.DepthwiseConv2d(3, 3, depth_multiplier=bad)
    with pytest.raises(error, match="SeparableConv2d: depth_multiplier"):
        nn.SeparableConv2d(3, 4, 3, depth_multiplier=bad)
