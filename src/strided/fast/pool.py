"""2-D max and average pooling compiled by Numba: each window read once, straight from the input.

The NumPy path pads the input (with ``-inf`` or zeros), then runs one ``np.maximum`` (or add) per
kernel tap over the whole tensor, and its max-pool backward compares every tap with the output
again to find the winners. Here each window's taps are read in place (padding is never
materialised: a tap outside the input is skipped), the max-pool forward records each window's
winner (its flat position in the input plane, as ``return_indices`` gives it), and the backward
adds each output gradient at its winner. Planes (channels) go one after the other (``fast.PARALLEL``).

The kernels work on "plane buffers" ``(P, H, W, M)``, C-contiguous: a batch-last input is its
``(C, H, W, N)`` buffer (``P = C``, ``M = N``, the batch innermost), any other input is its plain
C-order array seen as ``(N*C, H, W, 1)`` (``P = N*C``, ``M = 1``); ``planes`` makes one.

PyTorch's rules, as the NumPy path: a window's maximum is the first one in scan order, NaN wins
(the last NaN, so the gradient goes to it), a tap in the padding never wins, and a window that
reads only padding gives ``-inf`` and index ``-1``. The average divides by a per-window
``divisor`` computed by ``nn.avg_pool`` (``count_include_pad``, ``ceil_mode``, ``divisor_override``).
"""

from __future__ import annotations

import numba
import numpy as np

from . import PARALLEL
from ..windows import batch_last

@numba.njit(cache=True, inline="always")
def _taps_inside(o, stride, dilation, pad, kernel, size):
    """The taps ``a`` in ``[lo, hi)`` of output ``o`` that read the input: ``0 <= o*stride - pad + a*dilation < size``."""
    start = o * stride - pad
    lo = 0 if start >= 0 else (-start + dilation - 1) // dilation
    hi = 0 if size - 1 - start < 0 else min(kernel, (size - 1 - start) // dilation + 1)
    return lo, max(lo, hi)


@numba.njit(cache=True, inline="always")
def _outputs_inside(tap_offset, stride, size, out_size):
    """The outputs ``o`` in ``[lo, hi)`` whose tap at ``tap_offset`` reads the input: ``0 <= o*stride + tap_offset < size``."""
    lo = 0 if tap_offset >= 0 else (-tap_offset + stride - 1) // stride
    hi = 0 if size - 1 - tap_offset < 0 else (size - 1 - tap_offset) // stride + 1
    return lo, max(lo, min(out_size, hi))


@numba.njit(cache=True, parallel=PARALLEL)
def max_pool_forward(x, kh, kw, sh, sw, dh, dw, ph, pw, out, index, keep_index):
    """Each window's maximum and, with ``keep_index``, the flat position ``row * W + col`` of its
    winner in the plane (without it, for inference, ``index`` is never touched).

    One output row at a time, tap by tap: each tap updates the whole row ``(Wo, M)`` (no chain of
    dependent comparisons, no branch on the data), skipping the outputs whose tap is padding.

    Shape: ``x`` ``(P, H, W, M)`` -> ``out`` ``(P, Ho, Wo, M)`` and ``index`` ``(P, Ho, Wo, M)``
    (int32 or int64), both written whole.
    """
    planes, h, w, m = x.shape
    ho, wo = out.shape[1], out.shape[2]
    for p in numba.prange(planes):
        for i in range(ho):
            out[p, i] = -np.inf                                         # (Wo, M): padding only stays -inf
            if keep_index:
                index[p, i] = -1                                        # and names no position
            a_lo, a_hi = _taps_inside(i, sh, dh, ph, kh, h)
            for a in range(a_lo, a_hi):
                row = i * sh - ph + a * dh
                for b in range(kw):
                    j_lo, j_hi = _outputs_inside(b * dw - pw, sw, w, wo)
                    for j in range(j_lo, j_hi):
                        col = j * sw + b * dw - pw
                        for k in range(m):                              # later ties lose; a NaN always wins
                            v = x[p, row, col, k]
                            take = (v > out[p, i, j, k]) | (v != v)
                            if keep_index:                              # the first tap inside takes the window
                                take |= index[p, i, j, k] < 0
                                index[p, i, j, k] = row * w + col if take else index[p, i, j, k]
                            out[p, i, j, k] = v if take else out[p, i, j, k]
    return out


@numba.njit(cache=True, parallel=PARALLEL)
def max_pool_backward(g, index, gx):
    """Each output gradient added at its window's winner (overlapping windows add up).

    Shape: ``g`` ``(P, Ho, Wo, M)``, ``index`` ``(P, Ho, Wo, M)`` -> ``gx`` ``(P, H, W, M)``, written whole.
    """
    planes, ho, wo, m = g.shape
    for p in numba.prange(planes):
        grad = gx[p].reshape(-1)                                        # (H*W*M,)
        grad[:] = 0
        for i in range(ho):
            for j in range(wo):
                for k in range(m):
                    position = index[p, i, j, k]
                    if position >= 0:
                        grad[position * m + k] += g[p, i, j, k]
    return gx


@numba.njit(cache=True, parallel=PARALLEL, error_model="numpy")    # see avg_pool_backward
def avg_pool_forward(x, kh, kw, sh, sw, ph, pw, divisor, out):
    """Each window's sum over its taps inside the input (padding adds zeros), over ``divisor``.

    One output row at a time, tap by tap, as ``max_pool_forward`` (each window still sums its taps
    in scan order, as the NumPy path does).

    Shape: ``x`` ``(P, H, W, M)``, ``divisor`` ``(Ho, Wo)`` in ``x``'s dtype -> ``out``
    ``(P, Ho, Wo, M)``, written whole.
    """
    planes, h, w, m = x.shape
    ho, wo = out.shape[1], out.shape[2]
    for p in numba.prange(planes):
        for i in range(ho):
            out[p, i] = 0                                               # (Wo, M)
            a_lo, a_hi = _taps_inside(i, sh, 1, ph, kh, h)
            for a in range(a_lo, a_hi):
                row = i * sh - ph + a
                for b in range(kw):
                    j_lo, j_hi = _outputs_inside(b - pw, sw, w, wo)
                    for j in range(j_lo, j_hi):
                        for k in range(m):
                            out[p, i, j, k] += x[p, row, j * sw + b - pw, k]
            for j in range(wo):
                for k in range(m):
                    out[p, i, j, k] = out[p, i, j, k] / divisor[i, j]
    return out


@numba.njit(cache=True, parallel=PARALLEL, error_model="numpy")
def avg_pool_backward(g, kh, kw, sh, sw, ph, pw, divisor, gx):
    """Each output gradient over its window's divisor, added at every tap inside the input.

    Both kernels divide under NumPy's error model: Python's checks every division for a zero
    divisor, a branch that keeps the loop scalar (the forward on 2,048 planes of 32x32 by 32, 2x2
    windows: 19.4 -> 11.3 ms; the backward 24.4 -> 20.8 ms). The divisor is never 0 (a window
    counts at least one tap; ``divisor_override`` is a positive int).

    Shape: ``g`` ``(P, Ho, Wo, M)``, ``divisor`` ``(Ho, Wo)`` -> ``gx`` ``(P, H, W, M)``, written whole.
    """
    planes, h, w, m = gx.shape
    ho, wo = g.shape[1], g.shape[2]
    for p in numba.prange(planes):
        gx[p] = 0                                                       # (H, W, M)
        share = np.empty((wo, m), dtype=gx.dtype)                       # (Wo, M): one row of g / divisor
        for i in range(ho):
            for j in range(wo):
                for k in range(m):
                    share[j, k] = g[p, i, j, k] / divisor[i, j]         # divided once, added at every tap
            a_lo, a_hi = _taps_inside(i, sh, 1, ph, kh, h)
            for a in range(a_lo, a_hi):
                row = i * sh - ph + a
                for b in range(kw):
                    j_lo, j_hi = _outputs_inside(b - pw, sw, w, wo)
                    for j in range(j_lo, j_hi):
                        for k in range(m):
                            gx[p, row, j * sw + b - pw, k] += share[j, k]
    return gx


# ------------------------------------------------------------------------------ plane buffers
def planes(a: np.ndarray, batch_last_layout: bool) -> np.ndarray:
    """``a`` ``(N, C, H, W)`` as a C-contiguous plane buffer: ``(C, H, W, N)`` when
    ``batch_last_layout`` (a view when ``a`` is batch-last, else one copy), else ``(N*C, H, W, 1)``
    (a view when ``a`` is C-contiguous)."""
    n, c, h, w = a.shape
    if batch_last_layout:
        return np.ascontiguousarray(a.transpose(1, 2, 3, 0))           # (C, H, W, N)
    return np.ascontiguousarray(a).reshape(n * c, h, w, 1)              # (N*C, H, W, 1)


def from_planes(buf: np.ndarray, n: int, batch_last_layout: bool) -> np.ndarray:
    """Inverse of ``planes`` as a view: ``(P, H', W', M) -> (N, C, H', W')``."""
    if batch_last_layout:
        return buf.transpose(3, 0, 1, 2)                                # (N, C, H', W'), batch-last
    return buf.reshape((n, buf.shape[0] // n) + buf.shape[1:3])         # (N, C, H', W'), C order


def takes_batch_last(x: np.ndarray) -> bool:
    """Whether the kernels should run on ``x``'s batch-last buffer (``N > 1`` and ``x`` lies that way)."""
    return x.shape[0] > 1 and batch_last(x)


def max_pool2d(x: np.ndarray, window, keep_index: bool):
    """The pooled array and, with ``keep_index``, the winners' plane buffer (``None`` without).

    Shape: ``(N, C, H, W) -> (N, C, Ho, Wo)`` in ``x``'s layout (batch-last or C order; any other
    layout gives C order); the winners ``(P, Ho, Wo, M)`` int32 (int64 for planes of 2**31 or more).
    """
    layout = takes_batch_last(x)
    buf = planes(x, layout)                                             # (P, H, W, M)
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.stride, window.dilation
    (ph, _), (pw, _) = window.pads
    shape = (buf.shape[0],) + window.out_sizes + (buf.shape[3],)        # (P, Ho, Wo, M)
    out = np.empty(shape, dtype=buf.dtype)
    index = np.empty(shape if keep_index else (0, 0, 0, 0), dtype=np.int32 if x.shape[2] * x.shape[3] < 2**31
                     else np.int64)
    max_pool_forward(buf, kh, kw, sh, sw, dh, dw, ph, pw, out, index, keep_index)
    return from_planes(out, x.shape[0], layout), (index if keep_index else None)


def max_pool2d_backward(g: np.ndarray, index: np.ndarray, in_shape, batch_last_layout: bool) -> np.ndarray:
    """The input gradient ``(N, C, H, W)`` (in the layout the forward ran in) of ``g`` ``(N, C, Ho, Wo)``."""
    g_buf = planes(g, batch_last_layout)                                # (P, Ho, Wo, M)
    gx = np.empty((g_buf.shape[0],) + tuple(in_shape[2:]) + (g_buf.shape[3],), dtype=g_buf.dtype)
    max_pool_backward(g_buf, index, gx)                                 # (P, H, W, M)
    return from_planes(gx, in_shape[0], batch_last_layout)


def avg_pool2d(x: np.ndarray, window, divisor):
    """The averaged array ``(N, C, Ho, Wo)`` (in ``x``'s layout, as ``max_pool2d``) and its backward
    ``g -> gx``; ``divisor`` is a number or ``(*, Ho, Wo)`` counts."""
    layout = takes_batch_last(x)
    buf = planes(x, layout)                                             # (P, H, W, M)
    (kh, kw), (sh, sw) = window.kernel, window.stride
    (ph, _), (pw, _) = window.pads
    counts = np.asarray(divisor, dtype=x.dtype)                         # a number or (1, 1, Ho, Wo)
    divisor = np.ascontiguousarray(np.broadcast_to(counts.reshape(counts.shape[-2:]) if counts.ndim else counts,
                                                   window.out_sizes))  # (Ho, Wo)
    out = np.empty((buf.shape[0],) + window.out_sizes + (buf.shape[3],), dtype=buf.dtype)
    avg_pool_forward(buf, kh, kw, sh, sw, ph, pw, divisor, out)        # (P, Ho, Wo, M)

    def backward(g):
        g_buf = planes(g, layout)                                       # (P, Ho, Wo, M)
        gx = np.empty(buf.shape, dtype=g_buf.dtype)                     # (P, H, W, M)
        avg_pool_backward(g_buf, kh, kw, sh, sw, ph, pw, divisor.astype(g_buf.dtype, copy=False), gx)
        return from_planes(gx, x.shape[0], layout)
    return from_planes(out, x.shape[0], layout), backward
