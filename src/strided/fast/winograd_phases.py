"""Winograd's tile transforms (``winograd_tiles``) for a short batch, along whole rows of tiles.

The kernels of ``winograd_tiles`` run along the batch, one tile at a time: with a batch of 16
each run is a single 16-lane vector, and the loops' set-up costs as much as their work (per
value, the input transform took 1.7x, the output transform 2.5x the time they take at batch
128). Here the grids are copied first into a layout whose runs span a whole row of tiles
(``split_phases``): a grid row ``(W, N)`` becomes ``(4, W / 4, N)``, its columns grouped by their
position in a tile. Column ``b`` of every tile of a tile row is then one run, ``(tiles_w, N)``
long, and so is every transformed row: both passes of each transform run along a segment of
the tile row (``SEGMENT_VALUES``), and the input transform's first pass, down whole grid rows,
computes the two columns that neighbouring tiles share once. ``merge_phases`` copies back.

Measured against ``winograd_tiles`` (float32, the kernels with their copies, ms): the U-Net's
16 channels at 64x64, batch 16: input 1.40 -> 0.68-0.73, output 1.03-1.09 -> 0.79-0.85, output
gradient 0.99-1.02 -> 0.84-0.95, input gradient 1.87-2.02 -> 1.21-1.38; batch 32, 16 channels at
32x32: 0.56 -> 0.37, 0.53 -> 0.44, 0.33 -> 0.44, 0.66 -> 0.62; at batch 128 the copies cost more
than the longer runs save (16 channels at 32x32: the four 5.1 -> 6.3), and with one or two tiles
a row there is nothing to gain. ``winograd.phase_runs`` says when the form takes these kernels.

Shape: the phase-grouped grids are ``(C, R, 4, B, N)`` (``R`` rows, ``B`` blocks of four
columns); the transformed arrays ``(36, C, T)``, ``T = tiles_h * tiles_w * N`` (tile row, tile
column, example), as in ``winograd_tiles``.
"""

from __future__ import annotations

import numba
import numpy as np

from .winograd_tiles import BatchRuns, _grad_input_row, _grad_output_row, _input_row, _output_row

SEGMENT_VALUES = 1024                      # a run's values per pass (``_segment``)


@numba.njit(cache=True)
def split_phases(x, ph, pw, grid):
    """Copy ``x`` onto a zero-padded grid whose columns are grouped by their position in a tile:
    ``grid[c, r + ph, (q + pw) % 4, (q + pw) // 4] = x[c, r, q]``, zero everywhere else.

    Shape: ``x`` ``(C, H, W, N)`` -> ``grid`` ``(C, R, 4, B, N)`` (``R`` rows, ``B`` blocks of
    four columns), written whole.
    """
    c_in, h, w, n = x.shape
    for c in range(c_in):
        for r in range(grid.shape[1]):
            for p in range(4):
                for blk in range(grid.shape[3]):
                    q = 4 * blk + p - pw
                    dst = grid[c, r, p, blk]
                    if 0 <= r - ph < h and 0 <= q < w:
                        src = x[c, r - ph, q]
                        for k in range(n):
                            dst[k] = src[k]
                    else:
                        for k in range(n):
                            dst[k] = 0
    return grid


@numba.njit(cache=True)
def merge_phases(grid, ph, pw, y):
    """The inverse of ``split_phases``: ``y[c, r, q] = grid[c, r + ph, (q + pw) % 4, (q + pw) // 4]``.

    Shape: ``grid`` ``(C, R, 4, B, N)`` -> ``y`` ``(C, H, W, N)``, written whole.
    """
    c_out, h, w, n = y.shape
    for c in range(c_out):
        for r in range(h):
            for q in range(w):
                src = grid[c, r + ph, (q + pw) % 4, (q + pw) // 4]
                dst = y[c, r, q]
                for k in range(n):
                    dst[k] = src[k]
    return y


# ------------------------------------------------------------------------- the 2-D transforms

@numba.njit(cache=True, inline="always")
def _segment(tiles_w, n):
    """Tiles in a segment of a tile row: about ``SEGMENT_VALUES`` values a run, or the whole row.
    Longer segments measured faster even past the L1 cache (batch 128, 16 channels at 32x32, the
    four transforms on whole arrays: 256 values 11.5 ms, 1,024 9.0 ms)."""
    return max(1, min(tiles_w, SEGMENT_VALUES // max(n, 1)))


@numba.njit(cache=True, nogil=True)
def input_transform(grid, first_row, v):
    """``V[6*xi + nu, c, t] = (B^T d B)[xi, nu]`` for the 6x6 input tile ``d`` of every tile in the
    tile rows ``first_row``, ``first_row + 1``, ... (as many as ``v`` holds).

    Tile row ``i`` reads grid rows ``4i .. 4i + 5``; its tile ``j`` reads columns ``4j .. 4j + 5``,
    which are the runs ``(b % 4, j + b // 4)`` of the phase-grouped grid: for one ``b`` they are
    consecutive over ``j``, so both passes run along a segment of tiles at once.

    Shape: ``grid`` ``(C, 4 * tiles_h + 2, 4, tiles_w + 1, N)`` (``split_phases`` of the input with
    its padding) -> ``v`` ``(36, C, T)``, written whole.
    """
    c_in, rows, _, blocks, n = grid.shape
    tiles_w = blocks - 1
    stride = blocks * n                                                 # between two phases of a grid row
    flat = grid.reshape(c_in, rows, 4 * stride)                         # (C, R, 4 * B * N)
    seg = _segment(tiles_w, n)
    pitch = (seg + 1) * n                                               # between two phases of tmp
    tmp = np.empty((6, 4 * pitch), dtype=grid.dtype)                    # (xi, 4 * (seg + 1) * N): B^T d
    for c in range(c_in):
        for t in range(v.shape[2] // max(tiles_w * n, 1)):
            r0 = 4 * (first_row + t)
            for j0 in range(0, tiles_w, seg):
                width = min(seg, tiles_w - j0) * n                      # the segment's values in a run
                for xi in range(6):                                     # down each column: B^T d
                    for p in range(4):
                        a, e = p * stride + j0 * n, p * stride + j0 * n + width + n
                        _input_row(xi, flat[c, r0, a:e], flat[c, r0 + 1, a:e], flat[c, r0 + 2, a:e],
                                   flat[c, r0 + 3, a:e], flat[c, r0 + 4, a:e], flat[c, r0 + 5, a:e],
                                   tmp[xi, p * pitch:p * pitch + width + n])
                s = (t * tiles_w + j0) * n
                for xi in range(6):                                     # along each row: (B^T d) B
                    row = tmp[xi]
                    for nu in range(6):
                        _input_row(nu, row[0:width], row[pitch:pitch + width], row[2 * pitch:2 * pitch + width],
                                   row[3 * pitch:3 * pitch + width], row[n:n + width],
                                   row[pitch + n:pitch + n + width], v[6 * xi + nu, c, s:s + width])
    return v


@numba.njit(cache=True, nogil=True)
def output_transform(m, first_row, grid):
    """The 4x4 output tiles ``A^T M[:, k, t] A`` of the tile rows ``first_row``, ... that ``m``
    holds, written to the phase-grouped output grid (``merge_phases`` puts them in place).

    Shape: ``m`` ``(36, K, T)`` -> ``grid`` ``(K, 4 * tiles_h, 4, tiles_w, N)``, written at those
    tile rows.
    """
    k_out, _, _, tiles_w, n = grid.shape
    seg = _segment(tiles_w, n)
    tmp = np.empty((4, 6, seg * n), dtype=grid.dtype)                   # (i, nu, seg * N): A^T M
    for k in range(k_out):
        for t in range(m.shape[2] // max(tiles_w * n, 1)):
            r0 = 4 * (first_row + t)
            for j0 in range(0, tiles_w, seg):
                width = min(seg, tiles_w - j0) * n
                s = (t * tiles_w + j0) * n
                e = s + width
                for nu in range(6):                                     # down each column: A^T M
                    for i in range(4):
                        _output_row(i, m[nu, k, s:e], m[6 + nu, k, s:e], m[12 + nu, k, s:e], m[18 + nu, k, s:e],
                                    m[24 + nu, k, s:e], m[30 + nu, k, s:e], tmp[i, nu, :width])
                for i in range(4):                                      # along each row: (A^T M) A
                    for j in range(4):
                        _output_row(j, tmp[i, 0, :width], tmp[i, 1, :width], tmp[i, 2, :width], tmp[i, 3, :width],
                                    tmp[i, 4, :width], tmp[i, 5, :width],
                                    grid[k, r0 + i, j].reshape(tiles_w * n)[j0 * n:j0 * n + width])
    return grid


@numba.njit(cache=True, nogil=True)
def grad_output_transform(grid, first_row, gy):
    """``Gy[6*xi + nu, k, t] = (A gY A^T)[xi, nu]`` for the 4x4 output-gradient tiles of the tile
    rows ``first_row``, ... (as many as ``gy`` holds).

    Shape: ``grid`` ``(K, 4 * tiles_h, 4, tiles_w, N)`` (``split_phases`` of the gradient, zeros
    past its last row and column) -> ``gy`` ``(36, K, T)``, written whole.
    """
    k_out, rows, _, tiles_w, n = grid.shape
    stride = tiles_w * n
    flat = grid.reshape(k_out, rows, 4 * stride)                        # (K, R, 4 * tiles_w * N)
    seg = _segment(tiles_w, n)
    pitch = seg * n
    tmp = np.empty((6, 4 * pitch), dtype=grid.dtype)                    # (xi, 4 * seg * N): A gY
    for k in range(k_out):
        for t in range(gy.shape[2] // max(stride, 1)):
            r0 = 4 * (first_row + t)
            for j0 in range(0, tiles_w, seg):
                width = min(seg, tiles_w - j0) * n
                for xi in range(6):                                     # down each column: A gY
                    for p in range(4):
                        a, e = p * stride + j0 * n, p * stride + j0 * n + width
                        _grad_output_row(xi, flat[k, r0, a:e], flat[k, r0 + 1, a:e], flat[k, r0 + 2, a:e],
                                         flat[k, r0 + 3, a:e], tmp[xi, p * pitch:p * pitch + width])
                s = (t * tiles_w + j0) * n
                for xi in range(6):                                     # along each row: (A gY) A^T
                    row = tmp[xi]
                    for nu in range(6):
                        _grad_output_row(nu, row[0:width], row[pitch:pitch + width], row[2 * pitch:2 * pitch + width],
                                         row[3 * pitch:3 * pitch + width], gy[6 * xi + nu, k, s:s + width])
    return gy


@numba.njit(cache=True, nogil=True)
def grad_input_transform(dv, first_row, grid):
    """Add each tile's ``B dV[:, c, t] B^T`` (6x6) of the tile rows ``first_row``, ... that ``dv``
    holds onto the phase-grouped input grid (zeroed by the caller before the first rows);
    overlapping tiles add. ``merge_phases`` then drops the padding.

    Shape: ``dv`` ``(36, C, T)`` -> ``grid`` ``(C, 4 * tiles_h + 2, 4, tiles_w + 1, N)``.
    """
    c_in, rows, _, blocks, n = grid.shape
    tiles_w = blocks - 1
    stride = blocks * n
    flat = grid.reshape(c_in, rows, 4 * stride)                         # (C, R, 4 * B * N)
    seg = _segment(tiles_w, n)
    tmp = np.empty((6, 6, seg * n), dtype=grid.dtype)                   # (a, nu, seg * N): B dV
    part = np.empty(seg * n, dtype=grid.dtype)                          # (seg * N,)
    for c in range(c_in):
        for t in range(dv.shape[2] // max(tiles_w * n, 1)):
            r0 = 4 * (first_row + t)
            for j0 in range(0, tiles_w, seg):
                width = min(seg, tiles_w - j0) * n
                s = (t * tiles_w + j0) * n
                e = s + width
                for nu in range(6):                                     # down each column: B dV
                    for a in range(6):
                        _grad_input_row(a, dv[nu, c, s:e], dv[6 + nu, c, s:e], dv[12 + nu, c, s:e],
                                        dv[18 + nu, c, s:e], dv[24 + nu, c, s:e], dv[30 + nu, c, s:e],
                                        tmp[a, nu, :width])
                for a in range(6):                                      # along each row: (B dV) B^T
                    row = flat[c, r0 + a]
                    for b in range(6):
                        _grad_input_row(b, tmp[a, 0, :width], tmp[a, 1, :width], tmp[a, 2, :width],
                                        tmp[a, 3, :width], tmp[a, 4, :width], tmp[a, 5, :width], part[:width])
                        start = (b % 4) * stride + (j0 + b // 4) * n
                        dst = row[start:start + width]
                        for k in range(width):
                            dst[k] += part[k]
    return grid


class PhaseRuns(BatchRuns):
    """``BatchRuns``' interface on the kernels above: phase-grouped copies of the grids, the
    transforms along rows of tiles, chunks of whole tile rows.

    Shape: grids ``(C, H, W, N)`` copied to ``(C, 4 * tiles_h + 2, 4, tiles_w + 1, N)`` (the
    input and its gradient, with the padding) or ``(K, 4 * tiles_h, 4, tiles_w, N)`` (the output
    and its gradient); transformed ``(36, C, T)``.
    """

    def __init__(self, pads, tiles_h: int, tiles_w: int, n: int):
        super().__init__(pads, tiles_h, tiles_w, n)
        self.units, self.tiles_per_unit = tiles_h, tiles_w

    def _input_shape(self, c: int):
        return (c, 4 * self.tiles_h + 2, 4, self.tiles_w + 1, self.n)

    def _output_shape(self, k: int):
        return (k, 4 * self.tiles_h, 4, self.tiles_w, self.n)

    def input_grid(self, x):
        return split_phases(x, self.ph, self.pw, np.empty(self._input_shape(x.shape[0]), dtype=x.dtype))

    def input(self, grid, first, v):
        return input_transform(grid, first // self.tiles_w, v)

    def output_grid(self, shape, dtype):
        return np.empty(self._output_shape(shape[0]), dtype=dtype)

    def output(self, m, first, grid):
        output_transform(m, first // self.tiles_w, grid)

    def output_result(self, grid, shape):
        return merge_phases(grid, 0, 0, np.empty(shape, dtype=grid.dtype))

    def grad_output_grid(self, g):
        return split_phases(g, 0, 0, np.empty(self._output_shape(g.shape[0]), dtype=g.dtype))

    def grad_output(self, grid, first, gy):
        return grad_output_transform(grid, first // self.tiles_w, gy)

    def grad_input_grid(self, shape, dtype):
        return np.zeros(self._input_shape(shape[0]), dtype=dtype)

    def grad_input(self, dv, first, grid):
        grad_input_transform(dv, first // self.tiles_w, grid)

    def grad_input_result(self, grid, shape):
        return merge_phases(grid, self.ph, self.pw, np.empty(shape, dtype=grid.dtype))
