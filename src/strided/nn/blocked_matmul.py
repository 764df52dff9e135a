"""The matrix products of a windowed convolution, in cache-sized blocks of columns.

A convolution hands over the windows of its padded input (a strided view,
``windows.window_columns``) and the split of its output positions into blocks
(``windows.column_blocks``). Each block's columns are copied into a small buffer and
multiplied at once, so the ``prod(K)``-times larger column matrix never exists whole, and the
copy and the product meet in the cache. Three products, each the building block of a
convolution's forward or backward (``conv``) and of a transposed convolution's
(``conv_transpose``, where their roles swap):

* ``blocked_product``: ``W @ im2col(padded)``;
* ``blocked_weight_grad``: ``gY @ im2col(padded)^T``, unfolding the windows again;
* ``blocked_product_and_weight_grad``: both of the above from one unfolding;
* ``blocked_fold``: ``W^T @ gY``, folded back onto the padded grid (``col2im`` by blocks).

The memory-bound copies stay on one thread while BLAS runs each product on all of its threads:
splitting the blocks between threads of our own (one BLAS thread each) was measured slower on
2 cores, because BLAS's idle threads keep spinning on the cores for a while after each product.
"""

from __future__ import annotations

from .. import fast
from ..backend import namespace
from ..geometry import Window
from ..windows import gather_block, grouped_matmul, scatter_block


def blocked_product(w, windows, blocks, groups):
    """The product ``W @ im2col(padded)``, block by block of columns.

    Shape: ``w`` ``(G, Cout/G, Cin/G*K)``, ``windows`` ``(Cin, *K, *O, N)`` -> ``(G, Cout/G, P*N)``.
    """
    xp = namespace(windows)
    rows = w.shape[-1] * groups
    if len(blocks) == 1:                                                # all columns fit: one copy, one product
        return xp.matmul(w, xp.ascontiguousarray(windows).reshape(groups, rows // groups, -1))
    out_m = xp.empty(w.shape[:2] + (blocks[-1].columns.stop,), dtype=xp.result_type(w, windows))   # (G, Cout/G, P*N)
    buffer = xp.empty(rows * widest(blocks), dtype=windows.dtype)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cin/G*K, m)
        xp.matmul(w, cols, out=out_m[..., block.columns])               # (G, Cout/G, m)
    return out_m


def blocked_weight_grad(gm, windows, blocks, groups, rows_per_group):
    """``gW = gY @ im2col(padded)^T``, unfolding the kept windows again block by block.

    Shape: ``gm`` ``(G, Cout/G, P*N)``, ``windows`` ``(Cin, *K, *O, N)`` -> ``(G, Cout/G, Cin/G*K)``.
    """
    xp = namespace(windows)
    buffer = xp.empty(rows_per_group * groups * widest(blocks), dtype=windows.dtype)
    gw = xp.zeros(gm.shape[:2] + (rows_per_group,), dtype=xp.result_type(gm, windows))   # (G, Cout/G, Cin/G*K)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cin/G*K, m)
        add_gram(gw, gm[..., block.columns], cols)
    return gw


def add_gram(out, a, b) -> None:
    """``out += a @ b^T``, a weight gradient's sum over positions: by ``fast.gram.plane_gram``
    where that beats the BLAS (``gram_fits``: a narrow output over long sums), else by the BLAS.

    Shape: ``a`` ``(G, K, T)``, ``b`` ``(G, C, T)`` -> ``out`` ``(G, K, C)``, in place.
    """
    xp = namespace(out)
    if fast.applies(out, a, b) and out.dtype == a.dtype == b.dtype and out.flags.c_contiguous:
        gram = fast.kernels("gram")
        if gram.gram_fits(a.shape[-2], b.shape[-2], a.shape[-1]):
            gram.plane_gram(xp.ascontiguousarray(a), xp.ascontiguousarray(b), out, True)
            return
    out += grouped_matmul(a, b.swapaxes(-1, -2))                      # one 2-D product for one group


def blocked_product_and_weight_grad(w, gm, windows, blocks, groups):
    """``blocked_product(w, windows, ...)`` and ``blocked_weight_grad(gm, windows, ...)`` from one
    copy of each block's columns (a transposed convolution's backward needs both of the same
    windows).

    Shape: ``w`` ``(G, Cout/G, Cin/G*K)``, ``gm`` ``(G, Cw/G, P*N)``, ``windows`` ``(Cin, *K, *O,
    N)`` -> ``(G, Cout/G, P*N)`` and ``(G, Cw/G, Cin/G*K)``.
    """
    xp = namespace(windows)
    rows = w.shape[-1]
    out_m = xp.empty(w.shape[:2] + (blocks[-1].columns.stop,), dtype=xp.result_type(w, windows))   # (G, Cout/G, P*N)
    gw = xp.zeros(gm.shape[:2] + (rows,), dtype=xp.result_type(gm, windows))   # (G, Cw/G, Cin/G*K)
    buffer = xp.empty(rows * groups * widest(blocks), dtype=windows.dtype)
    for block in blocks:
        cols = gather_block(windows, block, buffer, groups)              # (G, Cin/G*K, m)
        xp.matmul(w, cols, out=out_m[..., block.columns])               # (G, Cout/G, m)
        add_gram(gw, gm[..., block.columns], cols)
    return out_m, gw


def blocked_fold(w, gm, blocks, lead, window: Window, groups):
    """``W^T @ gY`` block by block, each block's columns folded back onto the padded grid.

    Shape: ``w`` ``(G, Cout/G, Cin/G*K)``, ``gm`` ``(G, Cout/G, P*N)``, ``lead = (N, Cin)`` ->
    grid ``(Cin, *Sp, N)`` (the batch-last buffer of ``(N, Cin, *window.padded_sizes)``).
    """
    n, c = lead
    xp = namespace(gm)
    dtype = xp.result_type(w, gm)
    grid_shape = (c,) + window.padded_sizes + (n,)
    tiles = window.tiles
    grid = xp.empty(grid_shape, dtype=dtype) if tiles else xp.zeros(grid_shape, dtype=dtype)   # (Cin, *Sp, N)
    wt = w.swapaxes(-1, -2)                                             # (G, Cin/G*K, Cout/G)
    rows = wt.shape[0] * wt.shape[1]
    buffer = xp.empty(rows * widest(blocks), dtype=dtype)
    for block in blocks:
        m = block.columns.stop - block.columns.start
        gcols = xp.matmul(wt, gm[..., block.columns], out=buffer[:rows * m].reshape(groups, rows // groups, m))
        scatter_block(grid, gcols, block, window, accumulate=not tiles)  # (G, Cin/G*K, m)
    return grid


def widest(blocks) -> int:
    """Columns in the largest block."""
    return max(b.columns.stop - b.columns.start for b in blocks)
