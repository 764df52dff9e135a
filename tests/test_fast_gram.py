"""The weight-gradient kernel ``fast/gram.py`` against NumPy's products, and the convolutions that
route their weight gradients through it against PyTorch on both paths."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from kernel_spy import spy_kernels
from oracle import needs_torch, torch

if not fast.available():
    pytest.skip('the compiled path needs Numba: pip install "strided[fast]"', allow_module_level=True)
from strided.fast import gram  # noqa: E402  (imports Numba)


@pytest.mark.parametrize("planes, k, c, t", [(1, 4, 4, 300), (3, 7, 9, 257), (36, 16, 16, 1792), (2, 1, 3, 5),
                                             (1, 6, 25, 1000), (2, 5, 4, 0)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_plane_gram_equals_the_product_float64(planes, k, c, t, accumulate):
    """Blocks of 4x4, the last rows and columns outside them, one row or column, an empty sum."""
    rng = np.random.default_rng(k * 100 + c)
    a, b = rng.standard_normal((planes, k, t)), rng.standard_normal((planes, c, t))
    out = rng.standard_normal((planes, k, c))
    expected = np.einsum("pkt,pct->pkc", a, b) + (out if accumulate else 0)
    gram.plane_gram(a, b, out, accumulate)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12 * max(t, 1))


def test_plane_gram_float32_to_float32_rounding():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((36, 64, 384)).astype(np.float32)
    b = rng.standard_normal((36, 64, 384)).astype(np.float32)
    out = np.empty((36, 64, 64), np.float32)
    gram.plane_gram(a, b, out, False)
    expected = np.einsum("pkt,pct->pkc", a.astype(np.float64), b.astype(np.float64))
    assert out.dtype == np.float32
    assert np.abs(out - expected).max() <= 2e-6 * np.abs(a).max() * np.abs(b).max() * 384


@pytest.mark.parametrize("k, c, t, fits", [(16, 27, 16384, True), (32, 144, 6144, True), (64, 64, 384, True),
                                           (64, 288, 2048, False), (64, 576, 6272, False), (13, 7, 100, False)])
def test_gram_fits_narrow_outputs_over_long_sums(k, c, t, fits):
    assert gram.gram_fits(k, c, t) is fits


@needs_torch
@pytest.mark.parametrize("name, layer, shape", [
    ("stride 2 (folding form)", dict(in_channels=16, out_channels=32, kernel_size=3, stride=2, padding=1), (8, 16, 16, 16)),
    ("stride 1 (flipped form)", dict(in_channels=6, out_channels=16, kernel_size=5), (16, 6, 14, 14)),
    ("stride 1, input frozen", dict(in_channels=3, out_channels=16, kernel_size=3, padding=1), (16, 3, 12, 12)),
    ("1x1 (pointwise form)", dict(in_channels=24, out_channels=16, kernel_size=1), (8, 24, 10, 10)),
    ("transposed", dict(in_channels=16, out_channels=8, kernel_size=2, stride=2), (8, 16, 8, 8)),
])
def test_weight_gradients_through_the_kernel_match_torch(monkeypatch, compute_path, name, layer, shape):
    """Each form's weight gradient equals PyTorch's, float64; on the compiled path it was the
    kernel that summed it."""
    calls = spy_kernels(monkeypatch, compute_path, "gram", ("plane_gram",))
    rng = np.random.default_rng(3)
    transposed = name == "transposed"
    ours = (st.nn.ConvTranspose2d if transposed else st.nn.Conv2d)(**layer).double()
    theirs = (torch.nn.ConvTranspose2d if transposed else torch.nn.Conv2d)(**layer).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = rng.standard_normal(shape)
    need_x = "frozen" not in name
    xs = st.Tensor(windows.to_batch_last(x), requires_grad=need_x)
    xt = torch.tensor(x, requires_grad=need_x)
    y, yt = ours(xs), theirs(xt)
    g = rng.standard_normal(yt.shape)
    y.backward(windows.to_batch_last(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
    if need_x:
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    assert (len(calls) > 0) == (compute_path == "numba"), calls
