"""The window copies of convolution (blocked im2col / col2im) on both paths, against PyTorch.

``windows.scatter_block`` / ``col2im`` run a compiled kernel (``strided/fast/windows.py``) on the
Numba path and NumPy otherwise (``gather_block`` is NumPy on both); every test here runs on both
(the ``compute_path`` fixture). The oracles are PyTorch's ``conv`` (forward and both gradients)
and ``unfold`` / ``fold`` (the column matrix and its adjoint), in float64 to 1e-10 and in float32
to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.geometry import resolve_window
from strided.nn import functional as F
from oracle import TF, assert_close, check_against_torch, needs_torch, torch

pytestmark = [needs_torch, pytest.mark.usefixtures("compute_path"),
              pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")]

CONV_CASES = [   # (x shape, weight shape, kwargs)
    ((3, 4, 9, 7), (5, 4, 3, 3), dict(padding=1)),                      # odd sizes, overlapping windows
    ((2, 3, 11, 10), (4, 3, 3, 3), dict(stride=2, padding=1)),          # stride 2 (ResNet's downsampling)
    ((1, 3, 15, 13), (4, 3, 7, 7), dict(stride=2, padding=3)),          # batch 1, the ResNet-18 stem
    ((1, 5, 8, 9), (3, 5, 3, 3), dict(padding=1)),                      # batch 1, stride 1
    ((2, 2, 8, 6), (3, 2, 2, 2), dict(stride=2)),                       # windows tile the grid: assignment
    ((2, 3, 9, 8), (4, 3, 3, 2), dict(stride=(2, 3), dilation=(2, 1), padding=(2, 1))),
    ((2, 4, 7, 6), (6, 2, 3, 3), dict(padding="same", groups=2)),
    ((2, 6, 7, 6), (4, 3, 2, 2), dict(padding="same", dilation=(3, 1), groups=2)),
    ((3, 1, 12, 12), (6, 1, 5, 5), dict(padding=2)),                    # LeNet-5's first layer
    ((2, 3, 13), (4, 3, 3), dict(stride=2, padding=1)),                 # 1-D
    ((2, 2, 11), (2, 2, 3), dict(dilation=2)),
    ((2, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(padding=(1, 0, 1), dilation=(1, 2, 1))),   # 3-D (NumPy)
]


def _conv(d):
    return getattr(F, f"conv{d}d"), getattr(TF, f"conv{d}d")


@pytest.mark.parametrize("block_bytes", [None, 64, 1 << 10])          # one block; positions; rows
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES)
def test_conv_against_torch_float64(monkeypatch, block_bytes, x_shape, w_shape, kwargs):
    if block_bytes is not None:
        monkeypatch.setattr(windows, "COLUMN_BLOCK_BYTES", block_bytes)
    st_conv, torch_conv = _conv(len(w_shape) - 2)
    check_against_torch(lambda x, w, b: st_conv(x, w, b, **kwargs), lambda x, w, b: torch_conv(x, w, b, **kwargs),
                        [x_shape, w_shape, (w_shape[0],)])


@pytest.mark.parametrize("batch_last_input", [False, True])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES[:6] + CONV_CASES[9:10])
def test_conv_against_torch_float32(monkeypatch, batch_last_input, x_shape, w_shape, kwargs):
    monkeypatch.setattr(windows, "COLUMN_BLOCK_BYTES", 1 << 10)
    st_conv, torch_conv = _conv(len(w_shape) - 2)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    xs = st.Tensor(windows.to_batch_last(x) if batch_last_input else x, requires_grad=True)
    ws = st.Tensor(w, requires_grad=True)
    y = st_conv(xs, ws, **kwargs)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch_conv(tx, tw, **kwargs)
    ty.backward(torch.tensor(g))
    assert y.dtype == np.float32 and xs.grad.dtype == np.float32
    assert windows.batch_last(y.data) and windows.batch_last(xs.grad)
    for got, want, what in ((y.data, ty, "forward"), (xs.grad, tx.grad, "gx"), (ws.grad, tw.grad, "gw")):
        want = want.detach().numpy()
        assert_close(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max(), what=what)


@pytest.mark.parametrize("x_shape, w_shape, kwargs", [CONV_CASES[0], CONV_CASES[1], CONV_CASES[9]])
def test_empty_batch(x_shape, w_shape, kwargs):
    st_conv, torch_conv = _conv(len(w_shape) - 2)
    check_against_torch(lambda x, w: st_conv(x, w, **kwargs), lambda x, w: torch_conv(x, w, **kwargs),
                        [(0,) + x_shape[1:], w_shape])


def test_nan_propagates_like_torch(monkeypatch):
    monkeypatch.setattr(windows, "COLUMN_BLOCK_BYTES", 1 << 10)
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 9))
    x[1, 2, 4, 5] = np.nan
    w = np.ones((2, 3, 3, 3))
    xs, ws = st.Tensor(x, requires_grad=True), st.Tensor(w, requires_grad=True)
    y = F.conv2d(xs, ws, stride=2, padding=1)
    y.backward(np.ones(y.shape))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = TF.conv2d(tx, tw, stride=2, padding=1)
    ty.backward(torch.ones(ty.shape, dtype=torch.float64))
    for got, want in ((y.data, ty), (xs.grad, tx.grad), (ws.grad, tw.grad)):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want.detach().numpy()))


def test_reversed_and_sliced_inputs():
    """Inputs with negative strides and gaps (a reversed, sliced array) give the same results."""
    base = np.random.default_rng(4).standard_normal((3, 4, 12, 11))
    x = base[::-1, :, ::-1][:, 1:, 1:10]                                 # (3, 3, 12, 9), negative strides
    check_against_torch(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
                        [np.ascontiguousarray(x), (2, 3, 3, 3)])
    cols = windows.window_columns(x, resolve_window(x.shape[2:], 3, 1, 1, 0))   # (C, KH, KW, OH, OW, N)
    blocks = windows.column_blocks(cols.shape[3:5], 3, 8, 1 << 10)
    buffer = np.empty(max(b.columns.stop - b.columns.start for b in blocks) * cols.shape[0] * 9)
    full = np.ascontiguousarray(cols).reshape(cols.shape[0] * 9, -1)
    for block in blocks:
        got = windows.gather_block(cols, block, buffer)
        np.testing.assert_array_equal(got[0], full[:, block.columns])


# ------------------------------------------------------------------------------------- im2col / col2im
def _torch_columns(x, kernel, stride, dilation):
    """torch ``unfold`` in im2col's column order ``(C*K, (*O, N))``."""
    u = TF.unfold(torch.from_numpy(x), kernel, dilation=dilation, stride=stride)   # (N, C*K, P)
    return u.permute(1, 2, 0).reshape(u.shape[1], -1).numpy()


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("size, kernel, stride, dilation", [
    ((9, 8), (3, 3), (1, 1), (1, 1)),
    ((9, 11), (3, 2), (2, 3), (2, 1)),
    ((8, 6), (2, 3), (2, 3), (1, 1)),                                   # tiles: assignment
    ((7, 7), (1, 1), (2, 2), (1, 1)),
])
def test_blocks_and_col2im_against_torch_unfold_fold(dtype, rtol, n, size, kernel, stride, dilation):
    rng = np.random.default_rng(5)
    x = windows.to_batch_last(rng.standard_normal((n, 3) + size).astype(dtype))
    window = resolve_window(size, kernel, stride, dilation, 0)
    rows = 3 * kernel[0] * kernel[1]
    want = _torch_columns(x, kernel, stride, dilation)                 # (C*K, P*N)
    grad = rng.standard_normal(want.shape).astype(dtype)
    positions = window.out_sizes[0] * window.out_sizes[1]
    tgrad = torch.from_numpy(grad.reshape(rows, positions, n).transpose(2, 0, 1).copy())   # (N, C*K, P)
    want_fold = TF.fold(tgrad, size, kernel, dilation=dilation, stride=stride).numpy()   # (N, C, *S)
    np.testing.assert_allclose(windows.col2im(grad[None], (n, 3), window), want_fold, rtol=rtol, atol=rtol)
    if n == 0:
        return
    cols = windows.window_columns(x, window)
    for budget in (1 << 20, 7 * rows * x.itemsize, 1):                 # one block; partial rows; positions
        blocks = windows.column_blocks(window.out_sizes, n, rows * x.itemsize, budget)
        buffer = np.full(rows * max(b.columns.stop - b.columns.start for b in blocks), np.nan, dtype)
        grid = np.zeros((3,) + size + (n,), dtype) if not window.tiles else np.full((3,) + size + (n,), np.nan, dtype)
        for block in blocks:
            got = windows.gather_block(cols, block, buffer, groups=3)  # (G, C/G*K, m)
            assert got.shape == (3, rows // 3, block.columns.stop - block.columns.start)
            np.testing.assert_array_equal(got.reshape(rows, -1), want[:, block.columns])
            windows.scatter_block(grid, grad[None, :, block.columns], block, window, not window.tiles)
        np.testing.assert_allclose(np.moveaxis(grid, -1, 0), want_fold, rtol=rtol, atol=rtol)


def test_col2im_of_strided_columns():
    """``col2im`` takes any array of the column layout (locally-connected layers pass a transposed
    product): the same values as from a contiguous copy."""
    rng = np.random.default_rng(8)
    window = resolve_window((6, 7), 3, 1, 1, 0)
    gcols_t = rng.standard_normal((20, 27, 2))                          # (P, R, N)
    strided_cols = gcols_t.transpose(1, 0, 2)                           # (R, P, N), not contiguous
    want = TF.fold(torch.from_numpy(strided_cols.transpose(2, 0, 1).copy()), (6, 7), 3).numpy()
    assert_close(windows.col2im(strided_cols, (2, 3), window), want)


def test_numba_path_runs_the_kernels(compute_path, monkeypatch):
    """On the Numba path the 2-D folds go through the compiled kernel; on NumPy never."""
    from strided.fast import windows as kernels
    calls = []
    original = kernels.scatter_windows
    monkeypatch.setattr(kernels, "scatter_windows", lambda *a: calls.append("scatter_windows") or original(*a))
    monkeypatch.setattr(windows, "COLUMN_BLOCK_BYTES", 1 << 10)
    x = st.Tensor(np.random.default_rng(1).standard_normal((2, 3, 9, 9)), requires_grad=True)
    w = st.Tensor(np.ones((4, 3, 3, 3)), requires_grad=True)
    F.conv2d(x, w, stride=2, padding=1).sum().backward()
    expected = {"scatter_windows"} if compute_path == "numba" else set()
    assert set(calls) == expected
    assert fast.path() == compute_path
