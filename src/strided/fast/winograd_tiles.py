"""The tile transforms of Winograd's F(4x4, 3x3) (``winograd.py``), compiled by Numba.

Each 2-D transform is two passes of a 1-D one (down the tile's columns into a small buffer, then
along its rows), and every 1-D transform runs along the batch: the buffers are batch-last, so a
tile position's values for all ``N`` examples are one contiguous run.

**One output run per loop.** A loop that writes six runs at once (``v0[k] = ...; v1[k] = ...``)
is not vectorised: the runs are slices of one buffer at distances LLVM cannot prove, its run-time
overlap checks, hoisted out of the tile loops, fail, and the scalar loop runs (2.2-2.4 ns a value
and output here, in cache). Each row of a transform matrix is therefore its own loop over the
batch (``_input_row`` and the others take the row's index), reading the runs it needs and writing
one: LLVM vectorises it (16 float32 lanes on this AVX-512 machine). Two more rules, measured:

* a run chosen between two arrays (the input's, or a zero run in the padding) defeats the same
  checks; a column at the border is copied into a zero-padded buffer (``_edge_runs``) and the
  inside columns pass the input's own runs, from a second call site;
* the inlined row functions stay vectorised only while their output argument's name sorts
  before their inputs' (``dst`` against ``s0``, ``m0``, ``g0``, ``v0``): with ``d0``..``d5`` in and
  ``out`` out, the input transform of ResNet-20's 32-channel layers went 0.5 -> 2.4 ms. Keep the
  names when editing these functions, and time them (``benchmarks/profile_step.py``).

ResNet-20's input transforms at batch 128, six runs a loop against one: 3.3 -> 2.1 ms (16
channels, 32x32), 1.6 -> 0.68 ms (32, 16x16), 0.77 -> 0.38 ms (64, 8x8); the output transform
0.88 -> 0.32 ms at 32 channels.

Shape: runs are ``(N,)``; the arrays are ``(C, H, W, N)`` on the grid and ``(36, C, T)``
transformed, ``T = tiles_h * tiles_w * N`` (tile row, tile column, example).
"""

from __future__ import annotations

import numba
import numpy as np

TILE = 4                                   # outputs per tile side: F(4x4, 3x3)


@numba.njit(cache=True, inline="always")
def _constants(like):
    """2, 4 and 5 in ``like``'s dtype (a literal would turn float32 arithmetic into float64)."""
    one = like.dtype.type(1)
    two = one + one
    four = two + two
    return two, four, four + one


# ------------------------------------------------------------- one row of each transform matrix

@numba.njit(cache=True, inline="always")
def _input_row(j, s0, s1, s2, s3, s4, s5, dst):
    """``dst = (B^T @ d)[j]`` along the run."""
    two, four, five = _constants(dst)
    n = dst.shape[0]
    if j == 0:
        for k in range(n):
            dst[k] = four * s0[k] - five * s2[k] + s4[k]
    elif j == 1:
        for k in range(n):
            dst[k] = s4[k] + s3[k] - four * (s1[k] + s2[k])
    elif j == 2:
        for k in range(n):
            dst[k] = four * (s1[k] - s2[k]) - s3[k] + s4[k]
    elif j == 3:
        for k in range(n):
            dst[k] = two * (s3[k] - s1[k]) - s2[k] + s4[k]
    elif j == 4:
        for k in range(n):
            dst[k] = two * (s1[k] - s3[k]) - s2[k] + s4[k]
    else:
        for k in range(n):
            dst[k] = four * s1[k] - five * s3[k] + s5[k]


@numba.njit(cache=True, inline="always")
def _output_row(i, m0, m1, m2, m3, m4, m5, dst):
    """``dst = (A^T @ m)[i]`` along the run."""
    two, four, _ = _constants(dst)
    eight = four + four
    n = dst.shape[0]
    if i == 0:
        for k in range(n):
            dst[k] = m0[k] + (m1[k] + m2[k]) + (m3[k] + m4[k])
    elif i == 1:
        for k in range(n):
            dst[k] = (m1[k] - m2[k]) + two * (m3[k] - m4[k])
    elif i == 2:
        for k in range(n):
            dst[k] = (m1[k] + m2[k]) + four * (m3[k] + m4[k])
    else:
        for k in range(n):
            dst[k] = (m1[k] - m2[k]) + eight * (m3[k] - m4[k]) + m5[k]


@numba.njit(cache=True, inline="always")
def _grad_output_row(xi, g0, g1, g2, g3, dst):
    """``dst = (A @ g)[xi]`` along the run (A is ``A_T``'s transpose, 6x4)."""
    two, four, _ = _constants(dst)
    eight = four + four
    n = dst.shape[0]
    if xi == 0:
        for k in range(n):
            dst[k] = g0[k]
    elif xi == 1:
        for k in range(n):
            dst[k] = (g0[k] + g2[k]) + (g1[k] + g3[k])
    elif xi == 2:
        for k in range(n):
            dst[k] = (g0[k] + g2[k]) - (g1[k] + g3[k])
    elif xi == 3:
        for k in range(n):
            dst[k] = (g0[k] + four * g2[k]) + (two * g1[k] + eight * g3[k])
    elif xi == 4:
        for k in range(n):
            dst[k] = (g0[k] + four * g2[k]) - (two * g1[k] + eight * g3[k])
    else:
        for k in range(n):
            dst[k] = g3[k]


@numba.njit(cache=True, inline="always")
def _grad_input_row(a, v0, v1, v2, v3, v4, v5, dst):
    """``dst = (B @ v)[a]`` along the run (B is ``B_T``'s transpose)."""
    two, four, five = _constants(dst)
    n = dst.shape[0]
    if a == 0:
        for k in range(n):
            dst[k] = four * v0[k]
    elif a == 1:
        for k in range(n):
            dst[k] = four * (v2[k] - v1[k] + v5[k]) + two * (v4[k] - v3[k])
    elif a == 2:
        for k in range(n):
            dst[k] = -(five * v0[k] + four * (v1[k] + v2[k]) + v3[k] + v4[k])
    elif a == 3:
        for k in range(n):
            dst[k] = v1[k] - v2[k] + two * (v3[k] - v4[k]) - five * v5[k]
    elif a == 4:
        for k in range(n):
            dst[k] = v0[k] + v1[k] + v2[k] + v3[k] + v4[k]
    else:
        for k in range(n):
            dst[k] = v5[k]


@numba.njit(cache=True, inline="always")
def _edge_runs(x, c, r0, q, edge):
    """``edge[i] = x[c, r0 + i, q]``, zero where the position lies in the padding.

    Shape: ``x`` ``(C, H, W, N)``, ``edge`` ``(rows, N)``, filled whole.
    """
    for i in range(edge.shape[0]):
        if 0 <= r0 + i < x.shape[1] and 0 <= q < x.shape[2]:
            edge[i] = x[c, r0 + i, q]
        else:
            edge[i] = 0


@numba.njit(cache=True, inline="always")
def _origin(t, tiles_w, ph, pw):
    """Tile ``t``'s first row and column on the unpadded grid (negative inside the padding)."""
    return (t // tiles_w) * TILE - ph, (t % tiles_w) * TILE - pw


# ------------------------------------------------------------------------- the 2-D transforms

@numba.njit(cache=True, nogil=True)
def input_transform(x, ph, pw, tiles_w, first, v):
    """``V[6*xi + nu, c, t] = (B^T d B)[xi, nu]`` for the 6x6 input tile ``d`` of tiles ``first``,
    ``first + 1``, ... (as many as ``v`` holds).

    Shape: ``x`` ``(C, H, W, N)`` (the unpadded input; ``ph``, ``pw`` its top and left padding)
    -> ``v`` ``(36, C, T)``, written whole.
    """
    c_in, h, w, n = x.shape
    if n == 0:                                                          # an empty batch
        return v
    tiles = v.shape[2] // n
    edge = np.empty((6, n), dtype=x.dtype)                              # (row, N): a column at the border
    tmp = np.empty((6, 6, n), dtype=x.dtype)                            # (column b, xi, N)
    for c in range(c_in):
        for t in range(tiles):
            r0, q0 = _origin(first + t, tiles_w, ph, pw)
            for b in range(6):                                          # down each column: B^T d
                q = q0 + b
                if r0 >= 0 and r0 + 6 <= h and 0 <= q < w:              # inside: the input's own runs
                    for xi in range(6):
                        _input_row(xi, x[c, r0, q], x[c, r0 + 1, q], x[c, r0 + 2, q], x[c, r0 + 3, q],
                                   x[c, r0 + 4, q], x[c, r0 + 5, q], tmp[b, xi])
                else:                                                   # at the border: a zero-padded copy
                    _edge_runs(x, c, r0, q, edge)
                    for xi in range(6):
                        _input_row(xi, edge[0], edge[1], edge[2], edge[3], edge[4], edge[5], tmp[b, xi])
            s = t * n
            for xi in range(6):                                         # along each row: (B^T d) B
                for nu in range(6):
                    _input_row(nu, tmp[0, xi], tmp[1, xi], tmp[2, xi], tmp[3, xi], tmp[4, xi], tmp[5, xi],
                               v[6 * xi + nu, c, s:s + n])
    return v


@numba.njit(cache=True, nogil=True)
def output_transform(m, tiles_w, first, y):
    """``y``'s 4x4 tile ``first + t`` of channel ``k`` = ``A^T M[:, k, t] A`` (36 values as 6x6).

    Shape: ``m`` ``(36, K, T)`` -> ``y`` ``(K, Ho, Wo, N)``, written at those tiles (a tile's
    part past ``Ho`` or ``Wo`` is dropped).
    """
    k_out, ho, wo, n = y.shape
    if n == 0:
        return y
    tiles = m.shape[2] // n
    tmp = np.empty((6, 4, n), dtype=y.dtype)                            # (nu, i, N)
    for k in range(k_out):
        for t in range(tiles):
            i0, j0 = _origin(first + t, tiles_w, 0, 0)
            s = t * n
            for nu in range(6):                                         # down each column: A^T M
                for i in range(4):
                    _output_row(i, m[nu, k, s:s + n], m[6 + nu, k, s:s + n], m[12 + nu, k, s:s + n],
                                m[18 + nu, k, s:s + n], m[24 + nu, k, s:s + n], m[30 + nu, k, s:s + n],
                                tmp[nu, i])
            for i in range(min(TILE, ho - i0)):                         # along each row: (A^T M) A
                for j in range(min(TILE, wo - j0)):
                    _output_row(j, tmp[0, i], tmp[1, i], tmp[2, i], tmp[3, i], tmp[4, i], tmp[5, i],
                                y[k, i0 + i, j0 + j])
    return y


@numba.njit(cache=True, nogil=True)
def grad_output_transform(g, tiles_w, first, gy):
    """``Gy[6*xi + nu, k, t] = (A gY A^T)[xi, nu]`` for the 4x4 output-gradient tile ``first + t``.

    Shape: ``g`` ``(K, Ho, Wo, N)`` -> ``gy`` ``(36, K, T)``, written whole.
    """
    k_out, ho, wo, n = g.shape
    if n == 0:
        return gy
    tiles = gy.shape[2] // n
    edge = np.empty((4, n), dtype=g.dtype)                              # (row, N): a column past the edge
    tmp = np.empty((4, 6, n), dtype=g.dtype)                            # (column j, xi, N)
    for k in range(k_out):
        for t in range(tiles):
            i0, j0 = _origin(first + t, tiles_w, 0, 0)
            for j in range(4):                                          # down each column: A gY
                q = j0 + j
                if i0 + 4 <= ho and q < wo:                             # inside: the gradient's own runs
                    for xi in range(6):
                        _grad_output_row(xi, g[k, i0, q], g[k, i0 + 1, q], g[k, i0 + 2, q], g[k, i0 + 3, q],
                                         tmp[j, xi])
                else:                                                   # past the last row or column
                    _edge_runs(g, k, i0, q, edge)
                    for xi in range(6):
                        _grad_output_row(xi, edge[0], edge[1], edge[2], edge[3], tmp[j, xi])
            s = t * n
            for xi in range(6):                                         # along each row: (A gY) A^T
                for nu in range(6):
                    _grad_output_row(nu, tmp[0, xi], tmp[1, xi], tmp[2, xi], tmp[3, xi],
                                     gy[6 * xi + nu, k, s:s + n])
    return gy


@numba.njit(cache=True, nogil=True)
def grad_input_transform(dv, ph, pw, tiles_w, first, gx):
    """Add tile ``first + t``'s ``B dV[:, c, t] B^T`` (6x6) onto the input grid ``gx`` (zeroed by
    the caller before the first tiles); overlapping tiles add.

    Shape: ``dv`` ``(36, C, T)`` -> ``gx`` ``(C, H, W, N)`` (the part of a tile in the padding is
    dropped).
    """
    c_in, h, w, n = gx.shape
    if n == 0:
        return gx
    tiles = dv.shape[2] // n
    tmp = np.empty((6, 6, n), dtype=gx.dtype)                           # (nu, a, N)
    row = np.empty(n, dtype=gx.dtype)                                   # (N,)
    for c in range(c_in):
        for t in range(tiles):
            r0, q0 = _origin(first + t, tiles_w, ph, pw)
            s = t * n
            for nu in range(6):                                         # down each column: B dV
                for a in range(6):
                    _grad_input_row(a, dv[nu, c, s:s + n], dv[6 + nu, c, s:s + n], dv[12 + nu, c, s:s + n],
                                    dv[18 + nu, c, s:s + n], dv[24 + nu, c, s:s + n], dv[30 + nu, c, s:s + n],
                                    tmp[nu, a])
            for a in range(6):                                          # along each row: (B dV) B^T
                r = r0 + a
                if r < 0 or r >= h:
                    continue
                for b in range(max(0, -q0), min(6, w - q0)):
                    _grad_input_row(b, tmp[0, a], tmp[1, a], tmp[2, a], tmp[3, a], tmp[4, a], tmp[5, a], row)
                    dst = gx[c, r, q0 + b]
                    for k in range(n):
                        dst[k] += row[k]
    return gx


class BatchRuns:
    """The grids and transforms ``winograd.winograd_form`` uses: the kernels above, on the
    batch-last arrays themselves, along the batch one tile at a time. Its chunks hold any number of
    tiles (``units`` of ``tiles_per_unit`` tiles).

    Shape: grids ``(C, H, W, N)``; transformed ``(36, C, T)``.
    """

    def __init__(self, pads, tiles_h: int, tiles_w: int, n: int):
        self.ph, self.pw = pads
        self.tiles_h, self.tiles_w, self.n = tiles_h, tiles_w, n
        self.units, self.tiles_per_unit = tiles_h * tiles_w, 1

    def input_grid(self, x):                                            # (C, H, W, N) as it is
        return x

    def input(self, grid, first, v):
        return input_transform(grid, self.ph, self.pw, self.tiles_w, first, v)

    def output_grid(self, shape, dtype):                                # (K, Ho, Wo, N)
        return np.empty(shape, dtype=dtype)

    def output(self, m, first, grid):
        output_transform(m, self.tiles_w, first, grid)

    def output_result(self, grid, shape):
        return grid

    def grad_output_grid(self, g):
        return g

    def grad_output(self, grid, first, gy):
        return grad_output_transform(grid, self.tiles_w, first, gy)

    def grad_input_grid(self, shape, dtype):                            # (C, H, W, N), zeros
        return np.zeros(shape, dtype=dtype)

    def grad_input(self, dv, first, grid):
        grad_input_transform(dv, self.ph, self.pw, self.tiles_w, first, grid)

    def grad_input_result(self, grid, shape):
        return grid
