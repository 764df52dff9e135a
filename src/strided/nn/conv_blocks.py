"""The matrix products of a windowed convolution, in cache-sized blocks of columns.

``conv`` hands over the windows of its padded input (a strided view, ``windows.window_columns``)
and the split of its output positions into blocks (``windows.column_blocks``). Each block's
columns are copied into a small buffer and multiplied at once, so the ``prod(K)``-times larger
column matrix never exists whole, and the copy and the product meet in the cache.

Three backward forms, chosen by ``conv`` at forward time: ``blocked_weight_grad`` (windows of the
input again) with ``blocked_input_grad`` (fold back), or ``stride_one_backward`` (both gradients
from the windows of the output gradient, when ``transposed_taps_fit``).

The memory-bound copies stay on one thread while BLAS runs each product on all of its threads:
splitting the blocks between threads of our own (one BLAS thread each) was measured slower on
2 cores, because BLAS's idle threads keep spinning on the cores for a while after each product.
"""

from __future__ import annotations

import numpy as np

from ..windows import column_blocks, covers, gather_block, pad, scatter_block, window_columns


def blocked_product(w, windows, blocks, groups):
    """The forward product ``W @ im2col(xp)``, block by block of columns.

    Shape: ``w`` ``(G, Cout/G, Cin/G*K)``, ``windows`` ``(Cin, *K, *O, N)`` -> ``(G, Cout/G, P*N)``.
    """
    rows = w.shape[-1] * groups
    if len(blocks) == 1:                                                # all columns fit: one copy, one product
        return np.matmul(w, np.ascontiguousarray(windows).reshape(groups, rows // groups, -1))
    out_m = np.empty(w.shape[:2] + (blocks[-1].columns.stop,), dtype=np.result_type(w, windows))   # (G, Cout/G, P*N)
    buffer = np.empty(rows * _widest(blocks), dtype=windows.dtype)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cin/G*K, m)
        np.matmul(w, cols, out=out_m[..., block.columns])               # (G, Cout/G, m)
    return out_m


def blocked_weight_grad(gm, windows, blocks, groups, rows_per_group):
    """``gW = gY @ im2col(xp)^T``, unfolding the kept windows again block by block.

    Shape: ``gm`` ``(G, Cout/G, P*N)``, ``windows`` ``(Cin, *K, *O, N)`` -> ``(G, Cout/G, Cin/G*K)``.
    """
    buffer = np.empty(rows_per_group * groups * _widest(blocks), dtype=windows.dtype)
    gw = np.zeros(gm.shape[:2] + (rows_per_group,), dtype=np.result_type(gm, windows))   # (G, Cout/G, Cin/G*K)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cin/G*K, m)
        gw += np.matmul(gm[..., block.columns], cols.swapaxes(-1, -2))
    return gw


def blocked_input_grad(w, gm, blocks, padded_shape, kernel, stride, dilation, out_sizes, groups):
    """The padded input's gradient: ``W^T @ gY`` block by block, folded back onto the grid.

    Shape: ``w`` ``(G, Cout/G, Cin/G*K)``, ``gm`` ``(G, Cout/G, P*N)`` -> grid ``(Cin, *Sp, N)``
    (the batch-last buffer of ``(N, Cin, *Sp)``).
    """
    n, c = padded_shape[:2]
    dtype = np.result_type(w, gm)
    tiles = covers(padded_shape[2:], kernel, stride, dilation, out_sizes)
    grid_shape = (c,) + tuple(padded_shape[2:]) + (n,)
    grid = np.empty(grid_shape, dtype=dtype) if tiles else np.zeros(grid_shape, dtype=dtype)   # (Cin, *Sp, N)
    wt = w.swapaxes(-1, -2)                                             # (G, Cin/G*K, Cout/G)
    rows = wt.shape[0] * wt.shape[1]
    buffer = np.empty(rows * _widest(blocks), dtype=dtype)
    for block in blocks:
        m = block.columns.stop - block.columns.start
        gcols = np.matmul(wt, gm[..., block.columns], out=buffer[:rows * m].reshape(groups, rows // groups, m))
        scatter_block(grid, gcols, block, kernel, stride, dilation, accumulate=not tiles)   # (G, Cin/G*K, m)
    return grid


def _widest(blocks) -> int:
    """Columns in the largest block."""
    return max(b.columns.stop - b.columns.start for b in blocks)


def transposed_taps_fit(stride, pads, kernel, dilation, in_channels, out_channels) -> bool:
    """Whether ``stride_one_backward`` applies and is the faster way for this layer.

    It needs stride 1 and no side padded by more than ``dilation * (K - 1)``; it wins when the
    input has at least as many channels as the output (measured on ResNet-20's layers: 1.6x at
    32 and 64 channels, even at 16; LeNet's 6 -> 16 layer folds 2.4x faster).
    """
    return (all(s == 1 for s in stride) and in_channels >= out_channels
            and all(max(lo, hi) <= dl * (k - 1) for (lo, hi), k, dl in zip(pads, kernel, dilation)))


def stride_one_backward(weight, x_cols, g, pads, dilation, groups):
    """Both gradients of a stride-1 convolution from the windows of its output gradient.

    ``gX = conv(pad(gY, d(K-1) - lo, d(K-1) - hi), W flipped in space, in and out channels
    swapped per group)``: each window of ``gY`` gathers every output its input position fed, so
    there is no fold and ``gX`` lands contiguous in the batch-last layout. The same windows give
    the weight gradient, ``gW[o, i, k] = sum_q x[i, q] * window[o, K-1-k, q]``: one gather per
    block serves both products, and the input is multiplied as it is (no windows of it).

    Shape: ``weight`` ``(Cout, Cin/G, *K)``, ``x_cols`` ``(G, Cin/G, prod(S) * N)`` or ``None``
    (no weight gradient), ``g`` ``(N, Cout, *O)`` batch-last -> ``gX`` ``(G, Cin/G, prod(S) * N)``
    and ``gW`` ``(Cout, Cin/G, *K)`` or ``None``.
    """
    c_out, cin_g = weight.shape[:2]
    kernel = weight.shape[2:]
    d = len(kernel)
    flip = (slice(None), slice(None)) + (slice(None, None, -1),) * d
    wt = np.swapaxes(weight[flip].reshape((groups, c_out // groups, cin_g) + kernel), 1, 2)
    wt = np.ascontiguousarray(wt).reshape(groups, cin_g, -1)          # (G, Cin/G, Cout/G*K)
    reach = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
    gp = pad(g, [(r - lo, r - hi) for r, (lo, hi) in zip(reach, pads)])   # (N, Cout, *(S + d(K-1)))
    in_sizes = tuple(n - r for n, r in zip(gp.shape[2:], reach))
    windows = window_columns(gp, kernel, (1,) * d, dilation, in_sizes)   # (Cout, *K, *S, N)
    blocks = column_blocks(in_sizes, g.shape[0], wt.shape[-1] * groups * gp.itemsize)
    dtype = np.result_type(wt, gp)
    gx_m = np.empty((groups, cin_g, blocks[-1].columns.stop), dtype=dtype)   # (G, Cin/G, prod(S)*N)
    # the weight gradient accumulates as (G, Cout/G*K, Cin/G): that product order measured 10-15% faster
    gwt = None if x_cols is None else np.zeros((groups, wt.shape[-1], cin_g), dtype=dtype)
    buffer = np.empty(wt.shape[-1] * groups * _widest(blocks), dtype=gp.dtype)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cout/G*K, m)
        np.matmul(wt, cols, out=gx_m[..., block.columns])               # (G, Cin/G, m)
        if gwt is not None:
            gwt += np.matmul(cols, x_cols[..., block.columns].swapaxes(-1, -2))   # (G, Cout/G*K, Cin/G)
    gw = None
    if gwt is not None:
        taps_last = np.moveaxis(gwt.reshape((groups, c_out // groups) + kernel + (cin_g,)), -1, 2)
        gw = taps_last[(slice(None),) * 3 + (slice(None, None, -1),) * d]   # (G, Cout/G, Cin/G, *K), unflipped
        gw = np.ascontiguousarray(gw).reshape(weight.shape)            # (Cout, Cin/G, *K)
    return gx_m, gw
