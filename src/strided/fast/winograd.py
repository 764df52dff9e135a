"""3x3 convolution at stride 1 by Winograd's minimal filtering F(4x4, 3x3), compiled by Numba.

A 3x3 convolution computes each 4x4 tile of outputs from a 6x6 tile of inputs. Winograd's
F(4x4, 3x3) (Lavin and Gray, 2016) does it with 36 multiplications per input-output channel
pair instead of 144: with the published transform matrices ``B`` (6x6), ``G`` (6x3) and ``A``
(6x4), a tile's output is ``A^T [(G g G^T) * (B^T d B)] A``. Summed over input channels, the
elementwise product becomes 36 independent matrix products, one per point of the 6x6 transform
grid, each ``(C_out, C_in) @ (C_in, tiles)``: the convolution's arithmetic drops to a quarter
and stays in the BLAS, while the transforms (a few additions per value) run here.

The two gradients are the same three steps transposed, with the same transforms:

* weight: ``gW = G^T [sum over tiles (A gY A^T) (B^T d B)^T] G``: 36 products ``(C_out, tiles) @
  (tiles, C_in)`` of the transformed output gradient with the transformed input (``Gy @ V^T``);
* input: ``gX`` = the tiles ``B [U^T (A gY A^T)] B^T`` added back onto the input grid, where
  neighbouring 6x6 tiles overlap by two rows and columns (``U^T @ Gy``).

Every buffer is batch-last (``(C, H, W, N)``, see ``windows``), so the transforms run along the
batch, vectorised, one tile position at a time; the transformed arrays are ``(36, C, T)`` with
``T = tiles_h * tiles_w * N`` (tile row, tile column, example). Padding is never materialised:
a tile's values outside the input read as zero. F(4x4, 3x3) multiplies rounding errors by the
transforms' entries (up to 5 and 1/24): in float32 the output differs from the direct sum by
about 1e-6 of the values' scale, well inside the parity tests' float32 tolerance.

``winograd_form`` plugs into ``nn.conv.conv`` as one of its forms (``winograd_fits`` says when).
"""

from __future__ import annotations

import numba
import numpy as np

from ..windows import channel_buffer, from_channel_major

TILE = 4                                   # outputs per tile side: F(4x4, 3x3)
MIN_CHANNELS = 16                          # fewer: the transforms cost more than the products save
LONG_BATCH = 128                           # the batch (each transform's run) from which any layer gains
WIDE_CHANNELS = 128                        # the channels from which a shorter batch gains
SHORT_BATCH = 16                           # below it a run is shorter than a vector: never

# The transform matrices of F(4, 3) (Lavin and Gray, 2016); the kernels below spell them out.
B_T = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], dtype=np.float64)


def winograd_fits(x_shape, weight_shape, window, groups: int) -> bool:
    """Whether a 2-D convolution without gradients (``nn.conv`` asks only then) takes
    ``winograd_form``: a 3x3 kernel at stride 1 and dilation 1 in one group, where the measured
    forward is faster than the im2col form.

    The transforms run along the batch, so the batch decides: from ``LONG_BATCH`` examples every
    layer of at least ``MIN_CHANNELS`` channels whose outputs fill at least 90% of the 4x4 tiles
    gained (ResNet-20's layers at batch 128: 1.0-1.4x; VGG-11's at batch 256: 1.5-2.3x); from
    ``SHORT_BATCH``, only layers of at least ``WIDE_CHANNELS`` channels, 75% of the tiles filled
    and three tiles a side (ResNet-18 at batch 32: 1.1x at 128 channels and 28x28, 1.0-1.2x at
    256 and 14x14; 512 at 7x7 lost, 0.75-0.85x, and 64 at 56x56, 0.6x). Outputs of 2x2 fill a
    quarter of a tile and lose (0.5x).

    Training keeps the im2col forms (``nn.conv`` does not ask): its three transforms per layer and step cost more than the
    products save. ResNet-20's step (batch 128) took 279-315 ms keeping ``V`` for the weight
    gradient (peak memory 505 -> 680-750 MiB) and 341 ms transforming the input again, against
    307 ms; the U-Net's 147 -> 151 ms.
    """
    if not (groups == 1 and tuple(weight_shape[2:]) == (3, 3) and window.stride == (1, 1)
            and window.dilation == (1, 1) and len(x_shape) == 4):
        return False
    ho, wo = window.out_sizes
    filled = ho * wo / (TILE * tiles_along(ho) * TILE * tiles_along(wo))
    channels, batch = min(weight_shape[0], x_shape[1]), x_shape[0]
    if batch >= LONG_BATCH:
        return channels >= MIN_CHANNELS and filled >= 0.9
    return batch >= SHORT_BATCH and channels >= WIDE_CHANNELS and filled >= 0.75 and min(ho, wo) >= 3 * TILE


def tiles_along(size: int) -> int:
    """How many 4x4 tiles cover ``size`` outputs along one axis (the last one may be partial)."""
    return -(-size // TILE)


# ------------------------------------------------------------------------- the 1-D transforms
# Each reads six (or four) equal-length runs along the batch and writes six (or four) runs; the
# loops index from 0 so that LLVM vectorises them.

@numba.njit(cache=True, inline="always")
def _constants(like):
    """2, 4 and 5 in ``like``'s dtype (a literal would turn float32 arithmetic into float64)."""
    one = like.dtype.type(1)
    two = one + one
    four = two + two
    return two, four, four + one


@numba.njit(cache=True, inline="always")
def _input_1d(d0, d1, d2, d3, d4, d5, v0, v1, v2, v3, v4, v5):
    """``v = B^T @ d`` run by run."""
    two, four, five = _constants(v0)
    for k in range(v0.shape[0]):
        a, b, c, e = d1[k], d2[k], d3[k], d4[k]
        v0[k] = four * d0[k] - five * b + e
        v1[k] = e + c - four * (a + b)
        v2[k] = four * (a - b) - c + e
        v3[k] = two * (c - a) - b + e
        v4[k] = two * (a - c) - b + e
        v5[k] = four * a - five * c + d5[k]


@numba.njit(cache=True, inline="always")
def _output_1d(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3):
    """``y = A^T @ m`` run by run."""
    two, four, _ = _constants(y0)
    eight = four + four
    for k in range(y0.shape[0]):
        p12, d12 = m1[k] + m2[k], m1[k] - m2[k]
        p34, d34 = m3[k] + m4[k], m3[k] - m4[k]
        y0[k] = m0[k] + p12 + p34
        y1[k] = d12 + two * d34
        y2[k] = p12 + four * p34
        y3[k] = d12 + eight * d34 + m5[k]


@numba.njit(cache=True, inline="always")
def _grad_output_1d(g0, g1, g2, g3, a0, a1, a2, a3, a4, a5):
    """``a = A @ g`` run by run (the transpose of ``_output_1d``)."""
    two, four, _ = _constants(a0)
    eight = four + four
    for k in range(a0.shape[0]):
        p02, p13 = g0[k] + g2[k], g1[k] + g3[k]
        q02, q13 = g0[k] + four * g2[k], two * g1[k] + eight * g3[k]
        a0[k] = g0[k]
        a1[k] = p02 + p13
        a2[k] = p02 - p13
        a3[k] = q02 + q13
        a4[k] = q02 - q13
        a5[k] = g3[k]


@numba.njit(cache=True, inline="always")
def _grad_input_1d(v0, v1, v2, v3, v4, v5, d0, d1, d2, d3, d4, d5):
    """``d = B @ v`` run by run (the transpose of ``_input_1d``)."""
    two, four, five = _constants(d0)
    for k in range(d0.shape[0]):
        a, b, c, e, f = v1[k], v2[k], v3[k], v4[k], v5[k]
        d0[k] = four * v0[k]
        d1[k] = four * (b - a + f) + two * (e - c)
        d2[k] = -(five * v0[k] + four * (a + b) + c + e)
        d3[k] = a - b + two * (c - e) - five * f
        d4[k] = v0[k] + a + b + c + e
        d5[k] = f


@numba.njit(cache=True, inline="always")
def _run(x, c, row, col, zero):
    """The batch run ``x[c, row, col]``, or ``zero`` where the position lies in the padding."""
    if row < 0 or row >= x.shape[1] or col < 0 or col >= x.shape[2]:
        return zero
    return x[c, row, col]


# ------------------------------------------------------------------------------------- the 2-D transforms

@numba.njit(cache=True, inline="always")
def _origin(t, tiles_w, ph, pw):
    """Tile ``t``'s first row and column on the unpadded grid (negative inside the padding)."""
    return (t // tiles_w) * TILE - ph, (t % tiles_w) * TILE - pw


@numba.njit(cache=True)
def input_transform(x, ph, pw, tiles_w, v):
    """``V[6*xi + nu, c, t] = (B^T d B)[xi, nu]`` for the 6x6 input tile ``d`` of every tile ``t``.

    Shape: ``x`` ``(C, H, W, N)`` (the unpadded input; ``ph``, ``pw`` its top and left padding)
    -> ``v`` ``(36, C, T)``, ``T = tiles_h * tiles_w * N``, written whole.
    """
    c_in, n = x.shape[0], x.shape[3]
    if n == 0:                                                          # an empty batch
        return v
    tiles = v.shape[2] // n
    zero = np.zeros(n, dtype=x.dtype)
    tmp = np.empty((6, 6, n), dtype=x.dtype)                            # (column b, xi, N)
    for c in range(c_in):
        for t in range(tiles):
            r0, q0 = _origin(t, tiles_w, ph, pw)
            for b in range(6):                                          # down each column: B^T d
                q = q0 + b
                _input_1d(_run(x, c, r0, q, zero), _run(x, c, r0 + 1, q, zero), _run(x, c, r0 + 2, q, zero),
                          _run(x, c, r0 + 3, q, zero), _run(x, c, r0 + 4, q, zero), _run(x, c, r0 + 5, q, zero),
                          tmp[b, 0], tmp[b, 1], tmp[b, 2], tmp[b, 3], tmp[b, 4], tmp[b, 5])
            s = t * n
            for xi in range(6):                                         # along each row: (B^T d) B
                o = 6 * xi
                _input_1d(tmp[0, xi], tmp[1, xi], tmp[2, xi], tmp[3, xi], tmp[4, xi], tmp[5, xi],
                          v[o, c, s:s + n], v[o + 1, c, s:s + n], v[o + 2, c, s:s + n],
                          v[o + 3, c, s:s + n], v[o + 4, c, s:s + n], v[o + 5, c, s:s + n])
    return v


@numba.njit(cache=True)
def output_transform(m, tiles_w, y):
    """``y``'s 4x4 tile ``t`` of channel ``k`` = ``A^T M[:, k, t] A`` (the 36 values as 6x6).

    Shape: ``m`` ``(36, K, T)`` -> ``y`` ``(K, Ho, Wo, N)``, written whole (a tile's part past
    ``Ho`` or ``Wo`` is dropped).
    """
    k_out, ho, wo, n = y.shape
    if n == 0:
        return y
    tiles = m.shape[2] // n
    tmp = np.empty((6, 4, n), dtype=y.dtype)                            # (nu, i, N)
    row = np.empty((4, n), dtype=y.dtype)                               # (j, N)
    for k in range(k_out):
        for t in range(tiles):
            i0, j0 = _origin(t, tiles_w, 0, 0)
            s = t * n
            for nu in range(6):                                         # down each column: A^T M
                _output_1d(m[nu, k, s:s + n], m[6 + nu, k, s:s + n], m[12 + nu, k, s:s + n],
                           m[18 + nu, k, s:s + n], m[24 + nu, k, s:s + n], m[30 + nu, k, s:s + n],
                           tmp[nu, 0], tmp[nu, 1], tmp[nu, 2], tmp[nu, 3])
            for i in range(min(TILE, ho - i0)):                         # along each row: (A^T M) A
                _output_1d(tmp[0, i], tmp[1, i], tmp[2, i], tmp[3, i], tmp[4, i], tmp[5, i],
                           row[0], row[1], row[2], row[3])
                for j in range(min(TILE, wo - j0)):
                    y[k, i0 + i, j0 + j] = row[j]
    return y


@numba.njit(cache=True)
def grad_output_transform(g, tiles_w, gy):
    """``Gy[6*xi + nu, k, t] = (A gY A^T)[xi, nu]`` for the 4x4 output-gradient tile of every ``t``.

    Shape: ``g`` ``(K, Ho, Wo, N)`` -> ``gy`` ``(36, K, T)``, written whole.
    """
    k_out, n = g.shape[0], g.shape[3]
    if n == 0:
        return gy
    tiles = gy.shape[2] // n
    zero = np.zeros(n, dtype=g.dtype)
    tmp = np.empty((4, 6, n), dtype=g.dtype)                            # (column j, xi, N)
    for k in range(k_out):
        for t in range(tiles):
            i0, j0 = _origin(t, tiles_w, 0, 0)
            for j in range(4):                                          # down each column: A gY
                _grad_output_1d(_run(g, k, i0, j0 + j, zero), _run(g, k, i0 + 1, j0 + j, zero),
                                _run(g, k, i0 + 2, j0 + j, zero), _run(g, k, i0 + 3, j0 + j, zero),
                                tmp[j, 0], tmp[j, 1], tmp[j, 2], tmp[j, 3], tmp[j, 4], tmp[j, 5])
            s = t * n
            for xi in range(6):                                         # along each row: (A gY) A^T
                o = 6 * xi
                _grad_output_1d(tmp[0, xi], tmp[1, xi], tmp[2, xi], tmp[3, xi],
                                gy[o, k, s:s + n], gy[o + 1, k, s:s + n], gy[o + 2, k, s:s + n],
                                gy[o + 3, k, s:s + n], gy[o + 4, k, s:s + n], gy[o + 5, k, s:s + n])
    return gy


@numba.njit(cache=True)
def grad_input_transform(dv, ph, pw, tiles_w, gx):
    """Add each tile's ``B dV[:, c, t] B^T`` (6x6) back onto the input grid; overlapping tiles add.

    Shape: ``dv`` ``(36, C, T)`` -> ``gx`` ``(C, H, W, N)``, written whole (the part of a tile in
    the padding is dropped).
    """
    c_in, h, w, n = gx.shape
    if n == 0:
        return gx
    tiles = dv.shape[2] // n
    tmp = np.empty((6, 6, n), dtype=gx.dtype)                           # (nu, a, N)
    row = np.empty((6, n), dtype=gx.dtype)                              # (b, N)
    for c in range(c_in):
        gx[c] = 0
        for t in range(tiles):
            r0, q0 = _origin(t, tiles_w, ph, pw)
            s = t * n
            for nu in range(6):                                         # down each column: B dV
                _grad_input_1d(dv[nu, c, s:s + n], dv[6 + nu, c, s:s + n], dv[12 + nu, c, s:s + n],
                               dv[18 + nu, c, s:s + n], dv[24 + nu, c, s:s + n], dv[30 + nu, c, s:s + n],
                               tmp[nu, 0], tmp[nu, 1], tmp[nu, 2], tmp[nu, 3], tmp[nu, 4], tmp[nu, 5])
            for a in range(6):                                          # along each row: (B dV) B^T
                r = r0 + a
                if r < 0 or r >= h:
                    continue
                _grad_input_1d(tmp[0, a], tmp[1, a], tmp[2, a], tmp[3, a], tmp[4, a], tmp[5, a],
                               row[0], row[1], row[2], row[3], row[4], row[5])
                for b in range(max(0, -q0), min(6, w - q0)):
                    dst = gx[c, r, q0 + b]
                    src = row[b]
                    for k in range(n):
                        dst[k] += src[k]
    return gx


# ------------------------------------------------------------------------------------------ the form

def weight_transform(w: np.ndarray) -> np.ndarray:
    """``U[6*xi + nu] = (G g G^T)[xi, nu]`` per filter pair, computed in float64, in ``w``'s dtype.

    Shape: ``w`` ``(K, C, 3, 3)`` -> ``(36, K, C)``.
    """
    k, c = w.shape[:2]
    taps = w.astype(np.float64).reshape(k * c, 9).T.reshape(3, 3 * k * c)        # (a, b*K*C... ) rows a
    taps = (G @ taps).reshape(6, 3, k * c)                                          # (xi, b, K*C)
    u = np.matmul(G, taps)                                                          # (xi, nu, K*C)
    return u.reshape(36, k, c).astype(w.dtype)


def weight_grad_transform(du: np.ndarray) -> np.ndarray:
    """``gW = G^T dU G`` per filter pair (the transpose of ``weight_transform``).

    Shape: ``du`` ``(36, K, C)`` -> ``(K, C, 3, 3)``.
    """
    k, c = du.shape[1:]
    d6 = du.astype(np.float64).reshape(6, 6, k * c)                                 # (xi, nu, K*C)
    left = np.matmul(G.T, d6)                                                       # (xi, b, K*C)
    g = (G.T @ left.reshape(6, 3 * k * c)).reshape(3, 3, k * c)                     # (a, b, K*C)
    return g.reshape(9, k * c).T.reshape(k, c, 3, 3).astype(du.dtype)


def winograd_form(x, weight, window, groups: int):
    """``nn.conv``'s form for a 3x3 convolution at stride 1 by F(4x4, 3x3) (``winograd_fits``).

    Returns the forward product ``(1, C_out, P*N)`` and its backward ``(g, gm) -> (gx, gw)``.
    Keeps the batch-last input (a view) only when the weight needs a gradient, and transforms
    it again for ``gW``: keeping ``V`` (2.25 times the input) instead took ResNet-20's peak
    memory from 505 to 680-750 MiB at batch 128, for 10% of the step.
    """
    n, c_in = x.shape[:2]
    (ph, _), (pw, _) = window.pads
    ho, wo = window.out_sizes
    tiles_w = tiles_along(wo)
    tiles = tiles_along(ho) * tiles_w
    x_buf = channel_buffer(x.data)                                      # (C, H, W, N), a view if batch-last
    u = weight_transform(weight.data)                                   # (36, K, C)
    v = input_transform(x_buf, ph, pw, tiles_w, np.empty((36, c_in, tiles * n), dtype=x_buf.dtype))
    m = np.matmul(u, v)                                                 # (36, K, T)
    c_out = u.shape[1]
    out_shape = (c_out, ho, wo, n)
    out = output_transform(m, tiles_w, np.empty(out_shape, dtype=x_buf.dtype))   # (K, Ho, Wo, N)
    del m, v                                                            # V is recomputed for gW: memory
    kept = x_buf if weight.requires_grad else None

    def backward(g, gm):
        g_buf = np.ascontiguousarray(gm).reshape(out_shape)            # (K, Ho, Wo, N), a view
        gy = grad_output_transform(g_buf, tiles_w, np.empty((36, c_out, tiles * n), dtype=g_buf.dtype))
        gx = gw = None
        if kept is not None:
            v = input_transform(kept, ph, pw, tiles_w, np.empty((36, c_in, tiles * n), dtype=kept.dtype))
            gw = weight_grad_transform(np.matmul(gy, v.transpose(0, 2, 1)))   # (K, C, 3, 3)
            del v
        if x.requires_grad:
            dv = np.matmul(u.transpose(0, 2, 1), gy)                    # (36, C, T)
            gx_buf = grad_input_transform(dv, ph, pw, tiles_w, np.empty(x_buf.shape, dtype=g_buf.dtype))
            gx = from_channel_major(gx_buf.reshape(1, c_in, -1), n, window.in_sizes)   # (N, C, H, W), batch-last
        return gx, gw
    return out.reshape(1, c_out, -1), backward
