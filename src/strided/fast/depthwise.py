"""Depthwise 2-D convolution compiled by Numba: each output channel filters one input channel.

The NumPy path runs a depthwise layer (``groups == in_channels``) as ``C`` tiny matrix products
over copied windows (``(1, K) @ (K, P*N)`` per channel), where the copies and the per-group calls
cost far more than the arithmetic. Here each channel's ``kh * kw`` taps are applied straight to
the input: for every output row and tap, one multiply-add over a contiguous run of the
batch-last buffer (the batch, or the whole row of positions and batch at stride 1). Padding is
never materialised: each tap's run is clipped to the input. Channels go in parallel.

The forward of a kernel three or five columns wide at column stride 1 (every 3x3 depthwise layer
at stride 1, and a one-channel first layer such as LeNet-5's 5x5) fuses the taps: an output row's
interior, where every tap reads inside the input, is written in one pass of nine multiply-adds a
value for a 3x3 kernel inside the input, otherwise in one pass a kernel row, instead of one
read-modify-write pass a tap; only the clipped side columns go tap by tap. 64 channels at 32x32,
batch 32, float32: 1.15-1.36 -> 0.76-0.93 ms (PyTorch 0.67 ms on NCHW). A weight gradient alone
(the input frozen, as a first layer's is) sums a kernel row's taps in one pass over the output
gradient the same way. LeNet-5's first layer (one channel to six, 5x5, batch 256): forward
2.3 -> 1.1-1.3 ms, forward and weight gradient 4.8 -> 2.1-2.8 ms (PyTorch 1.2 and 2.2-2.4).
Where the input needs its gradient too, one pass per tap gives both gradients from one read of
the output gradient, which measured as fast as two fused passes (RESULTS, fifth session).

``depthwise_form`` plugs into ``nn.conv.conv`` as one of its forms (same contract: the forward
product ``(G, Cout/G, P*N)`` and a backward giving both gradients).
"""

from __future__ import annotations

import numba
import numpy as np

from . import PARALLEL
from ..windows import channel_buffer, from_channel_major

REDUCE = {"reassoc", "contract"}        # reductions may reorder (SIMD); NaN and inf still propagate


@numba.njit(cache=True, inline="always")
def _columns(tap_offset, stride, in_size, out_size):
    """The outputs ``o`` in ``[lo, hi)`` whose tap reads inside the input: ``0 <= o*stride + tap_offset < in_size``."""
    lo = 0 if tap_offset >= 0 else (-tap_offset + stride - 1) // stride
    hi = 0 if in_size - 1 - tap_offset < 0 else (in_size - 1 - tap_offset) // stride + 1
    return lo, max(lo, min(out_size, hi))


@numba.njit(cache=True, inline="always")
def _interior(kw, in_size, out_size, dw, pw):
    """The output columns ``[lo, hi)`` where all ``kw`` taps read inside the input (column stride 1)."""
    lo, hi = _columns(-pw, 1, in_size, out_size)
    for b in range(1, kw):
        lo_b, hi_b = _columns(b * dw - pw, 1, in_size, out_size)
        lo, hi = max(lo, lo_b), min(hi, hi_b)
    return lo, hi


@numba.njit(cache=True, inline="always")
def _axpy(y, a, x):
    """``y += a * x`` over two equal-length 1-D runs (indexed from 0, so the loop is SIMD)."""
    for k in range(y.shape[0]):
        y[k] += a * x[k]


@numba.njit(cache=True, inline="always", fastmath=REDUCE)
def _dot(x, y, zero):
    """``sum(x * y)`` over two equal-length 1-D runs, accumulated from ``zero`` (its dtype)."""
    total = zero
    for k in range(x.shape[0]):
        total += x[k] * y[k]
    return total


@numba.njit(cache=True, inline="always")
def _three_taps(dst, x, start, step, w0, w1, w2, add):
    """``dst (+)= w0 * x[start:] + w1 * x[start + step:] + w2 * x[start + 2*step:]`` over ``dst``'s
    length: a kernel row's three taps in one pass (one read and write of ``dst``, not three)."""
    length = dst.shape[0]
    x0 = x[start:start + length]                                        # each run indexed from 0: SIMD
    x1 = x[start + step:start + step + length]
    x2 = x[start + 2 * step:start + 2 * step + length]
    if add:
        for k in range(length):
            dst[k] += w0 * x0[k] + w1 * x1[k] + w2 * x2[k]
    else:
        for k in range(length):
            dst[k] = w0 * x0[k] + w1 * x1[k] + w2 * x2[k]


@numba.njit(cache=True, inline="always")
def _five_taps(dst, x, start, step, w_row, add):
    """``dst (+)= sum over b < 5 of w_row[b] * x[start + b*step:]`` over ``dst``'s length: a kernel
    row's five taps in one pass."""
    length = dst.shape[0]
    x0 = x[start:start + length]                                        # each run indexed from 0: SIMD
    x1 = x[start + step:start + step + length]
    x2 = x[start + 2 * step:start + 2 * step + length]
    x3 = x[start + 3 * step:start + 3 * step + length]
    x4 = x[start + 4 * step:start + 4 * step + length]
    w0, w1, w2, w3, w4 = w_row[0], w_row[1], w_row[2], w_row[3], w_row[4]
    if add:
        for k in range(length):
            dst[k] += w0 * x0[k] + w1 * x1[k] + w2 * x2[k] + w3 * x3[k] + w4 * x4[k]
    else:
        for k in range(length):
            dst[k] = w0 * x0[k] + w1 * x1[k] + w2 * x2[k] + w3 * x3[k] + w4 * x4[k]


@numba.njit(cache=True, inline="always")
def _row_taps(dst, x, start, step, w_row, add):
    """One kernel row's taps (three or five) onto ``dst`` in one pass."""
    if w_row.shape[0] == 3:
        _three_taps(dst, x, start, step, w_row[0], w_row[1], w_row[2], add)
    else:
        _five_taps(dst, x, start, step, w_row, add)


@numba.njit(cache=True, inline="always", fastmath=REDUCE)
def _row_dots(g, x, start, step, sums_row, zero):
    """``sums_row[b] += sum(g * x[start + b*step:])`` for the three or five taps of a kernel row in
    one pass over ``g`` (each sum in ``zero``'s dtype, added to the float64 ``sums_row``)."""
    length = g.shape[0]
    x0 = x[start:start + length]                                        # each run indexed from 0: SIMD
    x1 = x[start + step:start + step + length]
    x2 = x[start + 2 * step:start + 2 * step + length]
    t0, t1, t2, t3, t4 = zero, zero, zero, zero, zero
    if sums_row.shape[0] == 3:
        for k in range(length):
            t0 += g[k] * x0[k]
            t1 += g[k] * x1[k]
            t2 += g[k] * x2[k]
    else:
        x3 = x[start + 3 * step:start + 3 * step + length]
        x4 = x[start + 4 * step:start + 4 * step + length]
        for k in range(length):
            t0 += g[k] * x0[k]
            t1 += g[k] * x1[k]
            t2 += g[k] * x2[k]
            t3 += g[k] * x3[k]
            t4 += g[k] * x4[k]
        sums_row[3] += t3
        sums_row[4] += t4
    sums_row[0] += t0
    sums_row[1] += t1
    sums_row[2] += t2


@numba.njit(cache=True, inline="always")
def _nine_taps(dst, r0, r1, r2, start, step, w):
    """``dst = sum over a, b of w[a, b] * ra[start + b*step:]``: a 3x3 kernel's nine taps in one
    pass over three input rows."""
    length = dst.shape[0]
    s1, s2 = start + step, start + 2 * step
    a0, a1, a2 = r0[start:start + length], r0[s1:s1 + length], r0[s2:s2 + length]
    b0, b1, b2 = r1[start:start + length], r1[s1:s1 + length], r1[s2:s2 + length]
    c0, c1, c2 = r2[start:start + length], r2[s1:s1 + length], r2[s2:s2 + length]
    w00, w01, w02, w10, w11, w12 = w[0, 0], w[0, 1], w[0, 2], w[1, 0], w[1, 1], w[1, 2]
    w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
    for k in range(length):
        dst[k] = (w00 * a0[k] + w01 * a1[k] + w02 * a2[k] + w10 * b0[k] + w11 * b1[k] + w12 * b2[k]
                  + w20 * c0[k] + w21 * c1[k] + w22 * c2[k])


@numba.njit(cache=True, inline="always")
def _side_columns(lo, hi, wo):
    """The columns outside the interior ``[lo, hi)``: ``[0, left)`` and ``[right, wo)`` (all of
    them when there is no interior)."""
    if hi <= lo:
        return wo, wo
    return lo, hi


@numba.njit(cache=True, inline="always")
def _side_taps(out_row, x_row, w_row, left, right, wo, wi, n, dw, pw):
    """Add one kernel row's taps onto the side columns ``[0, left)`` and ``[right, wo)``, each tap
    clipped to the input."""
    for first, last in ((0, left), (right, wo)):
        for j in range(first, last):
            for b in range(w_row.shape[0]):
                col = j + b * dw - pw
                if 0 <= col < wi:
                    _axpy(out_row[j * n:j * n + n], w_row[b], x_row[col * n:col * n + n])


@numba.njit(cache=True, inline="always")
def _forward_rows(x_c, w_o, out_o, ho, h, wi, wo, n, sh, dh, dw, ph, pw):
    """One channel at column stride 1 with three or five kernel columns: each output row's interior
    (every tap inside the input) in one pass of nine taps (a 3x3 kernel inside the input), or in
    one pass a kernel row; the clipped columns at the sides tap by tap.

    Shape: ``x_c`` ``(H, W*N)``, ``w_o`` ``(KH, KW)`` -> ``out_o`` ``(Ho, Wo*N)``, written whole.
    """
    kh, kw = w_o.shape
    lo, hi = _interior(kw, wi, wo, dw, pw)                              # the columns every tap reads inside
    for i in range(ho):
        out_row = out_o[i]                                              # (Wo*N,)
        first = i * sh - ph                                             # the input row of kernel row 0
        inside = first >= 0 and first + (kh - 1) * dh < h
        if hi > lo:
            interior = out_row[lo * n:hi * n]                           # ((hi - lo)*N,)
            start = (lo - pw) * n                                       # where tap b = 0 reads in an input row
            if inside and kh == 3 and kw == 3:
                _nine_taps(interior, x_c[first], x_c[first + dh], x_c[first + 2 * dh], start, dw * n, w_o)
            else:
                added = False
                for a in range(kh):
                    row = first + a * dh
                    if 0 <= row < h:
                        _row_taps(interior, x_c[row], start, dw * n, w_o[a], added)
                        added = True
                if not added:
                    interior[:] = 0
        left, right = _side_columns(lo, hi, wo)
        out_row[:left * n] = 0                                          # the side columns start from 0
        out_row[right * n:] = 0
        for a in range(kh):
            row = first + a * dh
            if 0 <= row < h:
                _side_taps(out_row, x_c[row], w_o[a], left, right, wo, wi, n, dw, pw)


@numba.njit(cache=True, inline="always")
def _weight_rows(x_c, g_o, sums, ho, h, wi, wo, n, sh, dh, dw, ph, pw, zero):
    """The weight gradient of one channel at column stride 1 with three or five kernel columns:
    each kernel row's taps summed in one pass over the output row's interior (every tap inside
    the input), the clipped side columns tap by tap.

    Shape: ``x_c`` ``(H, W*N)``, ``g_o`` ``(Ho, Wo*N)`` -> ``sums`` ``(KH, KW)`` float64, added to.
    """
    kh, kw = sums.shape
    lo, hi = _interior(kw, wi, wo, dw, pw)                              # the columns every tap reads inside
    left, right = _side_columns(lo, hi, wo)                             # sides [0, left), [right, Wo)
    for i in range(ho):
        for a in range(kh):
            row = i * sh + a * dh - ph
            if row < 0 or row >= h:
                continue
            x_row = x_c[row]                                            # (W*N,)
            if hi > lo:
                _row_dots(g_o[i, lo * n:hi * n], x_row, (lo - pw) * n, dw * n, sums[a], zero)
            for b in range(kw):
                lo_b, hi_b = _columns(b * dw - pw, 1, wi, wo)
                partial = zero
                for first, last in ((lo_b, min(hi_b, left)), (max(lo_b, right), hi_b)):   # tap b's side runs
                    if last > first:
                        src = (first + b * dw - pw) * n
                        partial += _dot(g_o[i, first * n:last * n], x_row[src:src + (last - first) * n], zero)
                sums[a, b] += partial


@numba.njit(cache=True, inline="always")
def _taps_both(x_c, gx_c, g_o, w_o, sums, ho, h, wi, wo, n, sh, sw, dh, dw, ph, pw, need_x, need_w, zero):
    """Both gradients of one output channel tap by tap, from one read of ``g_o`` per tap: ``g_o``
    scattered back onto ``gx_c`` (when ``need_x``), the weight gradient added to ``sums`` (when
    ``need_w``).

    Shape: ``x_c``, ``gx_c`` ``(H, W*N)``, ``g_o`` ``(Ho, Wo*N)``, ``w_o`` ``(KH, KW)`` -> ``sums``
    ``(KH, KW)`` float64, added to.
    """
    kh, kw = w_o.shape
    for i in range(ho):
        for a in range(kh):
            row = i * sh + a * dh - ph
            if row < 0 or row >= h:
                continue
            for b in range(kw):
                weight = w_o[a, b]
                lo, hi = _columns(b * dw - pw, sw, wi, wo)
                partial = zero                                          # in g's dtype
                if sw == 1:                                             # one contiguous run of (Wo, N)
                    start = (lo * sw + b * dw - pw) * n
                    runs, step = 1, (hi - lo) * n
                else:
                    start, runs, step = (lo * sw + b * dw - pw) * n, hi - lo, n
                for r in range(runs):                                   # runs of the batch (or one of the row)
                    src = start + r * sw * n
                    dst = lo * n + r * n
                    if need_x:
                        _axpy(gx_c[row, src:src + step], weight, g_o[i, dst:dst + step])
                    if need_w:
                        partial += _dot(g_o[i, dst:dst + step], x_c[row, src:src + step], zero)
                sums[a, b] += partial


@numba.njit(cache=True, parallel=PARALLEL)
def depthwise_forward(x, w, sh, sw, dh, dw, ph, pw, out):
    """``out[o, i, j, n] = sum_{a, b} w[o, 0, a, b] * x[o // m, i*sh + a*dh - ph, j*sw + b*dw - pw, n]``.

    Shape: ``x`` ``(C, H, W, N)`` batch-last buffer, ``w`` ``(C*m, 1, KH, KW)``, ``out``
    ``(C*m, Ho, Wo, N)`` (written whole).
    """
    c_out, ho, wo, n = out.shape
    h, wi = x.shape[1], x.shape[2]
    m = c_out // x.shape[0]
    for o in numba.prange(c_out):
        c = o // m
        out_o = out[o].reshape(ho, wo * n)                              # (Ho, Wo*N)
        x_c = x[c].reshape(h, wi * n)                                   # (H, W*N)
        if sw == 1 and (w.shape[3] == 3 or w.shape[3] == 5):
            _forward_rows(x_c, w[o, 0], out_o, ho, h, wi, wo, n, sh, dh, dw, ph, pw)
            continue
        out_o[:] = 0
        for i in range(ho):
            for a in range(w.shape[2]):
                row = i * sh + a * dh - ph
                if row < 0 or row >= h:
                    continue
                for b in range(w.shape[3]):
                    weight = w[o, 0, a, b]
                    lo, hi = _columns(b * dw - pw, sw, wi, wo)
                    if sw == 1:                                         # one contiguous run of (Wo, N)
                        start = (lo * sw + b * dw - pw) * n
                        _axpy(out_o[i, lo * n:hi * n], weight, x_c[row, start:start + (hi - lo) * n])
                    else:
                        for j in range(lo, hi):
                            src = (j * sw + b * dw - pw) * n
                            _axpy(out_o[i, j * n:j * n + n], weight, x_c[row, src:src + n])
    return out


@numba.njit(cache=True, parallel=PARALLEL, fastmath=REDUCE)
def depthwise_backward(x, w, g, sh, sw, dh, dw, ph, pw, gx, gw, need_x, need_w, zero):
    """Both gradients of ``depthwise_forward`` in one pass over ``g`` and ``x`` per channel.

    ``gx[c] = sum over its m outputs and taps of w * g`` (scattered back along each tap's run);
    ``gw[o, 0, a, b] = sum_{i, j, n} g[o, i, j, n] * x[c, row, col, n]`` (summed per output row in
    the input's dtype, starting from ``zero`` of that dtype, across rows in float64). ``x`` is read
    only when ``need_w`` (without it any array of its shape, ``gx`` for one, will do).

    Shape: ``x`` ``(C, H, W, N)``, ``w`` ``(C*m, 1, KH, KW)``, ``g`` ``(C*m, Ho, Wo, N)`` ->
    ``gx`` ``(C, H, W, N)`` (written whole when ``need_x``), ``gw`` ``(C*m, 1, KH, KW)`` (when ``need_w``).
    """
    c_in, h, wi, n = x.shape
    c_out, ho, wo = g.shape[0], g.shape[1], g.shape[2]
    kh, kw = w.shape[2], w.shape[3]
    m = c_out // c_in
    for c in numba.prange(c_in):
        x_c = x[c].reshape(h, wi * n)                                   # (H, W*N)
        gx_c = gx[c].reshape(h, wi * n)                                 # (H, W*N)
        if need_x:
            gx_c[:] = 0
        for o in range(c * m, c * m + m):
            g_o = g[o].reshape(ho, wo * n)                              # (Ho, Wo*N)
            sums = np.zeros((kh, kw), dtype=np.float64)                 # the weight gradient of output o
            if need_w and not need_x and sw == 1 and (kw == 3 or kw == 5):    # a kernel row a pass
                _weight_rows(x_c, g_o, sums, ho, h, wi, wo, n, sh, dh, dw, ph, pw, zero)
            else:
                _taps_both(x_c, gx_c, g_o, w[o, 0], sums, ho, h, wi, wo, n, sh, sw, dh, dw, ph, pw,
                           need_x, need_w, zero)
            if need_w:
                for a in range(kh):
                    for b in range(kw):
                        gw[o, 0, a, b] = sums[a, b]


def depthwise_form(x, weight, window, groups: int):
    """``nn.conv``'s form for a 2-D depthwise convolution on the compiled kernels.

    Returns the forward product ``(G, Cout/G, P*N)`` (``G = C_in``) and its backward ``(g, gm) ->
    (gx, gw)``; keeps the batch-last input (a view) only when the weight needs a gradient.
    """
    (sh, sw), (dh, dw) = window.stride, window.dilation
    (ph, _), (pw, _) = window.pads
    n, c_in = x.shape[:2]
    x_buf = channel_buffer(x.data)                                      # (C, H, W, N), a view if batch-last
    w = np.ascontiguousarray(weight.data)                               # (C*m, 1, KH, KW)
    c_out = w.shape[0]
    out = np.empty((c_out,) + window.out_sizes + (n,), dtype=x_buf.dtype)   # (C*m, Ho, Wo, N)
    depthwise_forward(x_buf, w, sh, sw, dh, dw, ph, pw, out)
    kept = x_buf if weight.requires_grad else None

    def backward(g, gm):
        g_buf = np.ascontiguousarray(gm).reshape(out.shape)            # (C*m, Ho, Wo, N), a view
        gx = np.empty(x_buf.shape, dtype=g_buf.dtype)                   # (C, H, W, N)
        gw = np.empty(w.shape, dtype=g_buf.dtype)                       # (C*m, 1, KH, KW)
        source = kept if kept is not None else gx                       # x is read only for gw
        depthwise_backward(source, w, g_buf, sh, sw, dh, dw, ph, pw, gx, gw, x.requires_grad,
                           kept is not None, g_buf.dtype.type(0))
        gx_out = from_channel_major(gx.reshape(1, c_in, -1), n, window.in_sizes) if x.requires_grad else None
        return gx_out, (gw if kept is not None else None)
    return out.reshape(groups, c_out // groups, -1), backward
