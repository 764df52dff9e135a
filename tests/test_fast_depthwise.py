"""Depthwise 2-D convolution (``groups == in_channels``) against PyTorch on both paths.

On the compiled path (``strided.fast``) a depthwise layer runs ``fast/depthwise.py``'s kernels
instead of ``conv``'s windowed forms; on the NumPy path the same calls run the windowed forms.
Both must give PyTorch's forward and gradients: float64 to 1e-10, float32 to float32 rounding,
for strides, dilations, asymmetric and oversized padding, depth multipliers, batch 1, an empty
batch, batch-last and plain inputs, and frozen inputs or weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.nn import functional as F
from oracle import TF, assert_close, check_against_torch, needs_torch, torch

pytestmark = [needs_torch, pytest.mark.usefixtures("compute_path")]

GEOMETRIES = [  # (N, C, multiplier, H, W, kernel, stride, padding, dilation)
    (3, 4, 1, 7, 6, 3, 1, 1, 1),
    (2, 3, 2, 9, 8, 3, 2, 1, 1),
    (2, 5, 1, 6, 7, (3, 2), (2, 1), (2, 0), (1, 2)),
    (1, 5, 1, 6, 7, (3, 2), (2, 1), (2, 0), (1, 2)),   # batch 1: the windowed forms on both paths
    (4, 2, 3, 10, 10, 5, 3, 2, 2),
    (2, 3, 1, 4, 5, 3, 1, 3, 1),             # padding wider than the kernel reaches: empty taps
    (2, 2, 1, 5, 5, 2, 2, 0, 1),             # windows that tile the input
    (2, 6, 1, 1, 1, 3, 1, 1, 1),             # a single pixel
    # three kernel columns at column stride 1: the forward's fused taps (nine, or three a kernel row)
    (2, 3, 1, 9, 8, 3, (2, 1), 1, (1, 2)),   # row stride 2, column dilation 2
    (2, 4, 2, 7, 9, (5, 3), 1, (2, 1), 1),   # five kernel rows, depth multiplier 2
    (3, 2, 1, 6, 10, (1, 3), 1, (0, 2), (1, 3)),   # one kernel row, dilation 3
    (2, 3, 1, 3, 4, 3, 1, 2, 1),             # every output row and column near an edge
    # five kernel columns at column stride 1: the forward's fused taps, five a kernel row
    (3, 1, 6, 12, 11, 5, 1, 2, 1),           # a one-channel first layer (LeNet-5's, smaller)
    (2, 2, 1, 9, 13, (2, 5), (2, 1), (1, 3), (1, 2)),   # column dilation 2, padding past the reach
    (2, 2, 1, 4, 3, 5, 1, 2, 1),             # narrower than the kernel: no interior column
]

# (N, C, multiplier, H, W, kernel, stride, padding, dilation), the input frozen: the weight gradient
# alone, a kernel row's taps summed in one pass where three or five columns wide at column stride 1
WEIGHT_ONLY = [
    (3, 1, 6, 12, 11, 5, 1, 2, 1),
    (2, 2, 2, 9, 10, 3, 1, 1, 1),
    (2, 2, 1, 9, 13, (3, 5), 1, (0, 3), (2, 2)),
    (2, 2, 1, 4, 3, 5, 1, 2, 1),
    (2, 2, 1, 11, 9, 5, (2, 1), (1, 2), 1),  # row stride 2
    (2, 3, 1, 7, 8, (2, 4), 1, 1, 1),        # four columns: tap by tap
    (2, 3, 1, 9, 9, 3, 2, 1, 1),             # column stride 2: tap by tap
]


@pytest.mark.parametrize("n, c, m, h, w, kernel, stride, padding, dilation", GEOMETRIES)
def test_depthwise_matches_torch_float64(n, c, m, h, w, kernel, stride, padding, dilation):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    check_against_torch(lambda x, wt, b: F.conv2d(x, wt, b, stride, padding, dilation, groups=c),
                        lambda x, wt, b: TF.conv2d(x, wt, b, stride, padding, dilation, groups=c),
                        inputs=[(n, c, h, w), (c * m, 1) + k, (c * m,)])


def test_asymmetric_padding_matches_torch_on_a_padded_input():
    pads = ((1, 0), (2, 1))
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5))
    check_against_torch(lambda a, wt: F.conv2d(a, wt, padding=pads, groups=3),
                        lambda a, wt: TF.conv2d(TF.pad(a, (2, 1, 1, 0)), wt, groups=3),
                        inputs=[x, (3, 1, 3, 3)])


@pytest.mark.parametrize("layout", ["batch_last", "plain"])
def test_float32_matches_torch_to_float32_rounding(layout):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    wt = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((8, 16, 6, 6)).astype(np.float32)
    if layout == "batch_last":
        x = windows.to_batch_last(x)
    xs, ws = st.Tensor(x, requires_grad=True), st.Tensor(wt, requires_grad=True)
    y = F.conv2d(xs, ws, stride=2, padding=1, groups=16)
    y.backward(g)
    xt, wtt = (torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=True) for a in (x, wt))
    yt = TF.conv2d(xt, wtt, stride=2, padding=1, groups=16)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    assert y.dtype == np.float32 and xs.grad.dtype == np.float32 and ws.grad.dtype == np.float32
    assert_close(y.data, yt.detach().numpy(), rtol=1e-5, atol=1e-5, what="forward")
    assert_close(xs.grad, xt.grad.numpy(), rtol=1e-5, atol=1e-5, what="input gradient")
    assert_close(ws.grad, wtt.grad.numpy(), rtol=1e-4, atol=1e-4, what="weight gradient")


@pytest.mark.parametrize("frozen", ["input", "weight"])
def test_one_side_frozen_gives_the_other_gradient(frozen):
    rng = np.random.default_rng(2)
    x, wt = rng.standard_normal((3, 4, 6, 6)), rng.standard_normal((4, 1, 3, 3))
    xs, ws = st.Tensor(x, requires_grad=frozen != "input"), st.Tensor(wt, requires_grad=frozen != "weight")
    y = F.conv2d(xs, ws, padding=1, groups=4)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    xt = torch.tensor(x, requires_grad=frozen != "input")
    wtt = torch.tensor(wt, requires_grad=frozen != "weight")
    TF.conv2d(xt, wtt, padding=1, groups=4).backward(torch.tensor(g))
    if frozen == "input":
        assert xs.grad is None
        assert_close(ws.grad, wtt.grad.numpy(), what="weight gradient")
    else:
        assert ws.grad is None
        assert_close(xs.grad, xt.grad.numpy(), what="input gradient")


@pytest.mark.parametrize("n, c, m, h, w, kernel, stride, padding, dilation", WEIGHT_ONLY)
def test_weight_gradient_alone_matches_torch(n, c, m, h, w, kernel, stride, padding, dilation):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(3)
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((c * m, 1) + k)
    ws = st.Tensor(wt, requires_grad=True)
    y = F.conv2d(st.Tensor(x), ws, stride=stride, padding=padding, dilation=dilation, groups=c)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    wtt = torch.tensor(wt, requires_grad=True)
    TF.conv2d(torch.tensor(x), wtt, stride=stride, padding=padding, dilation=dilation,
              groups=c).backward(torch.tensor(g))
    assert_close(ws.grad, wtt.grad.numpy(), what="weight gradient")


def test_empty_batch_gives_empty_output_and_zero_weight_gradient():
    xs = st.Tensor(np.zeros((0, 3, 5, 5)), requires_grad=True)
    ws = st.Tensor(np.ones((3, 1, 3, 3)), requires_grad=True)
    y = F.conv2d(xs, ws, padding=1, groups=3)
    assert y.shape == (0, 3, 5, 5)
    y.backward(np.zeros(y.shape))
    assert xs.grad.shape == (0, 3, 5, 5)
    assert_close(ws.grad, np.zeros((3, 1, 3, 3)), what="weight gradient")


def test_nan_in_the_input_reaches_only_the_outputs_that_read_it():
    x = np.ones((1, 2, 5, 5))
    x[0, 1, 2, 2] = np.nan
    y = F.conv2d(x, np.ones((2, 1, 3, 3)), padding=1, groups=2).data
    expected = TF.conv2d(torch.tensor(x), torch.ones(2, 1, 3, 3, dtype=torch.float64), padding=1, groups=2).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    assert_close(y[~np.isnan(y)], expected[~np.isnan(expected)], what="finite outputs")


def test_the_compiled_path_runs_the_kernel(compute_path, monkeypatch):
    """On the compiled path a depthwise layer runs ``depthwise_form``; on NumPy it never does."""
    calls = []
    if compute_path == "numba":
        kernels = fast.kernels("depthwise")
        real = kernels.depthwise_form
        monkeypatch.setattr(kernels, "depthwise_form", lambda *a: calls.append(1) or real(*a))
    st.nn.DepthwiseConv2d(4, 3, padding=1, rng=0)(np.zeros((2, 4, 6, 6), dtype=np.float32))
    assert len(calls) == (1 if compute_path == "numba" else 0)
    assert fast.path() == compute_path


def test_a_single_image_takes_the_windowed_form(monkeypatch):
    """The kernel vectorises along the batch: a batch of one runs the NumPy forms on either path."""
    if not fast.available():
        pytest.skip("the compiled path needs Numba (strided[fast])")
    calls = []
    kernels = fast.kernels("depthwise")
    real = kernels.depthwise_form
    monkeypatch.setattr(kernels, "depthwise_form", lambda *a: calls.append(a[0].shape[0]) or real(*a))
    layer = st.nn.DepthwiseConv2d(4, 3, padding=1, rng=0)
    with fast.using(True):
        layer(np.zeros((1, 4, 6, 6), dtype=np.float32))
        layer(np.zeros((2, 4, 6, 6), dtype=np.float32))
    assert calls == [2]
