"""3x3 convolution by Winograd's F(4x4, 3x3) (``fast/winograd.py``) against PyTorch and a direct sum.

The form's forward and both gradients are checked on their own (the layer picks the form only
for inference, ``winograd_fits``), float64 to 1e-10 of the values' scale and float32 to float32
rounding, over output sizes that do and do not fill the 4x4 tiles, zero, one-sided and wide
padding, batch-last and plain inputs, an empty batch, and frozen inputs or weights. Then the
layer itself: inference through ``Conv2d`` on both paths equals PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.nn import conv as conv_module
from oracle import TF, needs_torch, torch

pytestmark = needs_torch
if not fast.available():
    pytest.skip('the compiled path needs Numba: pip install "strided[fast]"', allow_module_level=True)
from strided.fast import winograd  # noqa: E402  (imports Numba)

GEOMETRIES = [  # (N, C_in, C_out, H, W, padding)
    (3, 5, 4, 8, 8, 1),                      # outputs fill the tiles exactly
    (2, 3, 6, 9, 7, 1),                      # partial tiles at the bottom and the right
    (4, 2, 3, 6, 5, 0),                      # no padding: 4x3 outputs
    (2, 4, 2, 5, 6, ((1, 0), (0, 1))),       # one-sided padding
    (1, 3, 3, 3, 3, 2),                      # padding wider than the kernel reaches
    (2, 2, 2, 1, 1, 1),                      # a single pixel
    (0, 3, 4, 8, 8, 1),                      # an empty batch
]


def torch_conv(x, w, padding):
    """PyTorch's convolution of ``x`` (float64 tensor) with ``padding`` given as ours."""
    if isinstance(padding, int):
        return TF.conv2d(x, w, padding=padding)
    (top, bottom), (left, right) = padding
    return TF.conv2d(TF.pad(x, (left, right, top, bottom)), w)


def run_form(x, wt, g, padding, layout="batch_last", need_x=True, need_w=True):
    """The form's output ``(N, C_out, Ho, Wo)`` and gradients for an output gradient ``g``."""
    if layout == "batch_last":
        x = windows.to_batch_last(x)
    xs, ws = st.Tensor(x, requires_grad=need_x), st.Tensor(wt, requires_grad=need_w)
    window = conv_module.conv_window(x.shape, wt.shape, 1, padding, 1, 1, "conv2d")
    out_m, backward = winograd.winograd_form(xs, ws, window, 1)
    out = windows.from_channel_major(out_m, x.shape[0], window.out_sizes)
    gb = windows.to_batch_last(g)
    gx, gw = backward(gb, windows.to_channel_major(gb))
    return out, gx, gw


def torch_reference(x, wt, g, padding):
    xt, wtt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, wt))
    y = torch_conv(xt, wtt, padding)
    y.backward(torch.tensor(g, dtype=torch.float64))
    return y.detach().numpy(), xt.grad.numpy(), wtt.grad.numpy()


def scaled_error(actual, expected):
    """The largest difference as a share of the largest expected magnitude (0 for empty arrays)."""
    if expected.size == 0:
        assert actual.shape == expected.shape
        return 0.0
    return float(np.abs(np.asarray(actual, dtype=np.float64) - expected).max() / max(np.abs(expected).max(), 1e-300))


def test_the_transforms_compute_a_correlation_in_one_dimension():
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(6), rng.standard_normal(3)
    direct = np.array([sum(d[i + k] * g[k] for k in range(3)) for i in range(4)])   # the naive loop
    via_transforms = winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d))
    np.testing.assert_allclose(via_transforms, direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, c_in, c_out, h, w, padding", GEOMETRIES)
def test_forward_and_gradients_match_torch_float64(n, c_in, c_out, h, w, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c_in, h, w))
    wt = rng.standard_normal((c_out, c_in, 3, 3))
    y_shape = tuple(torch_conv(torch.tensor(x), torch.tensor(wt), padding).shape)
    g = rng.standard_normal(y_shape)
    expected = torch_reference(x, wt, g, padding)
    for actual, want, what in zip(run_form(x, wt, g, padding), expected, ("output", "input gradient", "weight gradient")):
        assert actual.shape == want.shape, what
        assert scaled_error(actual, want) < 1e-10, what


@pytest.mark.parametrize("layout", ["batch_last", "plain"])
def test_float32_matches_torch_to_float32_rounding(layout):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 24, 13, 11)).astype(np.float32)
    wt = rng.standard_normal((20, 24, 3, 3)).astype(np.float32)
    g = rng.standard_normal((16, 20, 13, 11)).astype(np.float32)
    actual = run_form(x, wt, g, 1, layout)
    for a, want, what in zip(actual, torch_reference(x, wt, g, 1), ("output", "input gradient", "weight gradient")):
        assert a.dtype == np.float32, what
        assert scaled_error(a, want) < 2e-5, what


@pytest.mark.parametrize("need_x, need_w", [(True, False), (False, True)])
def test_a_frozen_side_gets_no_gradient_and_the_other_is_right(need_x, need_w):
    rng = np.random.default_rng(3)
    x, wt, g = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 6, 6))
    _, gx, gw = run_form(x, wt, g, 1, need_x=need_x, need_w=need_w)
    _, gx_t, gw_t = torch_reference(x, wt, g, 1)
    assert (gx is None) == (not need_x) and (gw is None) == (not need_w)
    if need_x:
        assert scaled_error(gx, gx_t) < 1e-10
    if need_w:
        assert scaled_error(gw, gw_t) < 1e-10


def window_of(n, c_in, c_out, size, padding=1, stride=1, dilation=1):
    return conv_module.conv_window((n, c_in, size, size), (c_out, c_in, 3, 3), stride, padding, dilation, 1, "conv2d")


@pytest.mark.parametrize("n, c_in, c_out, size, chosen", [
    (128, 16, 16, 32, True),     # a long batch: any layer of 16 channels whose tiles are filled
    (128, 8, 16, 32, False),     # too few channels
    (256, 512, 512, 2, False),   # 2x2 outputs fill a quarter of a tile
    (32, 128, 128, 28, True),    # a short batch: wide layers with three tiles a side
    (32, 64, 64, 56, False),     # a short batch, 64 channels
    (32, 512, 512, 7, False),    # a short batch, two tiles a side
    (8, 256, 256, 16, False),    # runs shorter than a vector
])
def test_winograd_fits_follows_the_measured_rule(n, c_in, c_out, size, chosen):
    window = window_of(n, c_in, c_out, size)
    assert winograd.winograd_fits((n, c_in, size, size), (c_out, c_in, 3, 3), window, 1) is chosen


@pytest.mark.parametrize("kernel, stride, dilation, groups", [(5, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 1), (3, 1, 1, 2)])
def test_other_geometries_never_take_the_form(kernel, stride, dilation, groups):
    shape, weight = (128, 32, 16, 16), (32, 32 // groups, kernel, kernel)
    window = conv_module.conv_window(shape, weight, stride, 1, dilation, groups, "conv2d")
    assert not winograd.winograd_fits(shape, weight, window, groups)


@pytest.fixture
def form_calls(monkeypatch):
    """A list that gets one entry per call ``nn.conv`` makes to ``winograd_form``."""
    calls = []
    form = winograd.winograd_form
    monkeypatch.setattr(winograd, "winograd_form", lambda *args: calls.append(1) or form(*args))
    return calls


def test_conv2d_inference_matches_torch_on_both_paths(compute_path, form_calls):
    """A layer the rule sends to the form on the compiled path (batch 128, 16 channels, 16x16)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((128, 16, 16, 16)).astype(np.float32)
    layer = st.nn.Conv2d(16, 24, 3, padding=1, rng=np.random.default_rng(5))
    layer.eval()
    with st.no_grad():
        y = layer(st.Tensor(x)).data
    w, b = (torch.tensor(p.data, dtype=torch.float64) for p in (layer.weight, layer.bias))
    expected = TF.conv2d(torch.tensor(x, dtype=torch.float64), w, b, padding=1).numpy()
    assert y.dtype == np.float32 and scaled_error(y, expected) < 2e-5
    assert len(form_calls) == (1 if compute_path == "numba" else 0)


def test_training_never_takes_the_form(compute_path, form_calls):
    """The same layer with gradients: the im2col forms, and PyTorch's gradients."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((128, 16, 16, 16)).astype(np.float32)
    layer = st.nn.Conv2d(16, 24, 3, padding=1, rng=np.random.default_rng(5))
    y = layer(st.Tensor(x))
    y.sum().backward()
    wt = torch.tensor(layer.weight.data, dtype=torch.float64, requires_grad=True)
    TF.conv2d(torch.tensor(x, dtype=torch.float64), wt, torch.tensor(layer.bias.data, dtype=torch.float64),
              padding=1).sum().backward()
    assert scaled_error(layer.weight.grad, wt.grad.numpy()) < 2e-5
    assert form_calls == []
