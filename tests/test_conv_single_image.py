"""A convolution layer called on one image without a graph (``conv_forms.single_image_inference``)
against PyTorch's, and the cases that must keep ``conv``'s forms.

* 1-D, 2-D and 3-D layers, padding (numbers, per-side, ``'same'``), stride, dilation, no bias, a
  1x1 kernel, float32 and float64, an input that is not C-contiguous: equal to PyTorch (float64
  1e-12, float32 1e-5);
* the shortcut runs for a batch of one under ``no_grad()`` and for a frozen layer, and does not
  for a batch of two, grouped layers, inputs or weights that need a gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.nn import conv, conv_forms
from oracle import needs_torch, torch

CASES = [
    (nn.Conv1d, 1, dict(in_channels=3, out_channels=4, kernel_size=5, stride=2, padding=1), (3, 17)),
    (nn.Conv2d, 2, dict(in_channels=1, out_channels=6, kernel_size=5, padding=2), (1, 28, 28)),
    (nn.Conv2d, 2, dict(in_channels=6, out_channels=16, kernel_size=5), (6, 14, 14)),
    (nn.Conv2d, 2, dict(in_channels=4, out_channels=5, kernel_size=3, padding="same", dilation=2), (4, 9, 11)),
    (nn.Conv2d, 2, dict(in_channels=4, out_channels=5, kernel_size=(2, 3), stride=(2, 1), padding=((1, 0), (2, 1)),
                        bias=False), (4, 8, 7)),
    (nn.Conv2d, 2, dict(in_channels=8, out_channels=3, kernel_size=1), (8, 5, 6)),
    (nn.Conv3d, 3, dict(in_channels=2, out_channels=3, kernel_size=3, padding=1), (2, 5, 6, 4)),
]
TORCH_CONV = {1: "Conv1d", 2: "Conv2d", 3: "Conv3d"}


def torch_twin(layer, ndim: int, kwargs: dict):
    """The same layer in PyTorch, with this layer's weights (per-side padding applied by F.pad)."""
    args = dict(kwargs)
    pads = args.pop("padding", 0)
    per_side = isinstance(pads, tuple) and isinstance(pads[0], tuple)
    twin = getattr(torch.nn, TORCH_CONV[ndim])(**args, padding=0 if per_side else pads).double()
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.weight.data))
        if layer.bias is not None:
            twin.bias.copy_(torch.tensor(layer.bias.data))
    if not per_side:
        return twin
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]              # F.pad wants the last axis first
    return lambda t: twin(torch.nn.functional.pad(t, flat))


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}{c[3]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("contiguous", [True, False], ids=["C", "strided"])
def test_one_image_without_a_graph_equals_torch(monkeypatch, case, dtype, contiguous):
    cls, ndim, kwargs, shape = case
    layer = cls(**kwargs, rng=0)
    if dtype == np.float64:
        layer = layer.double()
    x = np.random.default_rng(1).standard_normal((1,) + shape)
    if not contiguous:
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    taken = []
    monkeypatch.setattr(conv, "single_image_inference",
                        lambda *a, _real=conv_forms.single_image_inference: taken.append(1) or _real(*a))
    with st.no_grad():
        ours = layer(st.Tensor(x.astype(dtype))).data
    theirs = torch_twin(layer, ndim, kwargs)(torch.tensor(np.ascontiguousarray(x)))
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tolerance, atol=tolerance)
    assert ours.dtype == dtype and taken == [1]


@pytest.mark.parametrize("situation", ["batch_of_two", "grouped", "input_needs_grad", "weight_needs_grad"])
def test_the_shortcut_keeps_off_where_conv_must_decide(monkeypatch, situation):
    """Batches and groups (even without a graph) and graphs go through ``conv``."""
    def forbidden(*args):
        raise AssertionError("single_image_inference must not be taken here")
    monkeypatch.setattr(conv, "single_image_inference", forbidden)
    layer = nn.Conv2d(4, 6, 3, padding=1, groups=2 if situation == "grouped" else 1, rng=0)
    x = np.random.default_rng(2).standard_normal((2 if situation == "batch_of_two" else 1, 4, 5, 5)).astype(np.float32)
    if situation in ("batch_of_two", "grouped"):
        with st.no_grad():
            assert layer(st.Tensor(x)).shape[:2] == (x.shape[0], 6)
        return
    if situation == "input_needs_grad":
        layer.requires_grad_(False)
    xs = st.Tensor(x, requires_grad=situation == "input_needs_grad")
    out = layer(xs)
    assert out.requires_grad
    out.sum().backward()
    assert (xs.grad if situation == "input_needs_grad" else layer.weight.grad) is not None


def test_a_frozen_layer_takes_the_shortcut_and_matches_conv(monkeypatch):
    """No graph is needed when no parameter and no input asks for a gradient, even outside no_grad."""
    layer = nn.Conv2d(3, 5, 3, stride=2, padding=1, rng=0).requires_grad_(False)
    x = np.random.default_rng(3).standard_normal((1, 3, 9, 9)).astype(np.float32)
    expected = conv.conv(st.Tensor(x), layer.weight, layer.bias, 2, 1).data     # conv's own forms
    taken = []
    monkeypatch.setattr(conv, "single_image_inference",
                        lambda *a, _real=conv_forms.single_image_inference: taken.append(1) or _real(*a))
    out = layer(st.Tensor(x))
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-6)
    assert taken == [1] and not out.requires_grad
