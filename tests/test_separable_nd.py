"""Depthwise, pointwise and separable convolutions in 1-D and 3-D (issue 11), against a torch
``Conv1d``/``Conv3d`` (or a ``Sequential`` of two) with copied weights, and by hand.

The 2-D layers are tested in ``test_separable.py``; the three ranks share one N-d body.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import strided as st
from module_oracle import check_module_against_torch
from oracle import needs_torch, torch
from strided import nn


def torch_separable(d, c, c_out, k, stride=1, padding=0, dilation=1, bias=True, m=1):
    conv = {1: torch.nn.Conv1d, 3: torch.nn.Conv3d}[d]
    return torch.nn.Sequential(OrderedDict(
        depthwise=conv(c, c * m, k, stride, padding, dilation, groups=c, bias=False),
        pointwise=conv(c * m, c_out, 1, bias=bias)))


SEP_SHAPES = {1: (2, 3, 11), 3: (2, 3, 4, 5, 6)}


@needs_torch
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("args", [
    dict(k=3, padding=1),
    dict(k=3, stride=2, padding=1, bias=False, m=2),
    dict(k=2, dilation=2, padding="same"),
], ids=["same3", "strided-multiplier", "dilated"])
def test_separable_nd_matches_a_torch_sequential(d, args):
    args = dict(args)
    k, m = args.pop("k"), args.pop("m", 1)
    ours = {1: nn.SeparableConv1d, 3: nn.SeparableConv3d}[d](3, 4, k, rng=0, depth_multiplier=m, **args)
    check_module_against_torch(ours, torch_separable(d, 3, 4, k, m=m, **args), SEP_SHAPES[d])
    assert list(ours.state_dict()) == ["depthwise.weight", "pointwise.weight"] + (
        ["pointwise.bias"] if args.get("bias", True) else [])


@needs_torch
@pytest.mark.parametrize("d", [1, 3])
def test_depthwise_and_pointwise_nd_match_torch(d):
    conv = {1: torch.nn.Conv1d, 3: torch.nn.Conv3d}[d]
    depthwise = {1: nn.DepthwiseConv1d, 3: nn.DepthwiseConv3d}[d]
    pointwise = {1: nn.PointwiseConv1d, 3: nn.PointwiseConv3d}[d]
    check_module_against_torch(depthwise(3, 3, stride=2, padding=1, depth_multiplier=2, rng=0),
                               conv(3, 6, 3, stride=2, padding=1, groups=3), SEP_SHAPES[d])
    check_module_against_torch(pointwise(3, 5, bias=False, rng=0), conv(3, 5, 1, bias=False), SEP_SHAPES[d])


def test_separable_nd_static_rules_and_errors():
    sep = nn.SeparableConv3d(4, 8, 3, padding=1, rng=0)
    shape = (1, 4, 5, 6, 7)
    assert sep.cost(shape).macs == 5 * 6 * 7 * (4 * 27 + 4 * 8)
    assert sep.cost(shape).params == 4 * 27 + 4 * 8 + 8
    assert sep.output_shape(shape) == nn.Conv3d(4, 8, 3, padding=1, rng=0).output_shape(shape)
    assert repr(nn.DepthwiseConv1d(3, 5, padding=2, rng=0)) == "DepthwiseConv1d(3, kernel_size=(5,), padding=2)"
    with pytest.raises(st.ShapeError, match=r"SeparableConv1d\(3, 4, kernel_size=\(3,\)\): expected input "
                                            r"\(N, 3, L\), got \(2, 4, 9\)"):
        nn.SeparableConv1d(3, 4, 3, rng=0)(np.zeros((2, 4, 9)))
    with pytest.raises(TypeError, match="SeparableConv3d: depth_multiplier must be a positive int, got 1.5"):
        nn.SeparableConv3d(3, 4, 3, depth_multiplier=1.5)
    with pytest.raises(ValueError, match="SeparableConv1d: .*unknown padding mode 'sane'"):
        nn.SeparableConv1d(3, 8, 3, padding="sane")
