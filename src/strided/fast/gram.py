"""Weight-gradient products ``A @ B^T`` with a short output and a long sum, compiled by Numba.

A convolution's weight gradient is ``gY @ cols^T``: the output is small (``C_out`` by ``C_in``
times the kernel taps, or per Winograd point ``C_out`` by ``C_in``) and the sum runs over every
output position of the batch. Both operands' rows are contiguous along that sum, so each output
value is a dot product of two rows. OpenBLAS packs and blocks such a product as any other and
loses on narrow outputs; here a 4x4 block of outputs is summed at once (16 accumulators, each a
vector of lanes under ``fastmath``'s reassociation: eight loads feed sixteen multiply-adds), on
one thread. Measured against NumPy's OpenBLAS on two threads (float32, ms, same process):

* Winograd's 36 planes, 64 by 64 over 384 columns (ResNet-20's 64-channel chunks) 1.17 against
  1.87; 32 by 64 over 896 1.31 against 2.34; 128 by 128 over 64 1.32 against 1.68; 16 by 16 over
  1,792 and 32 by 32 over 896 even (0.34, 0.64);
* im2col's weight gradients: ResNet-20's stem (16 by 27 over 16,384) 0.20 against 0.43, its
  stride-2 layer (32 by 144 over 6,144) 0.64 against 0.77, LeNet-5's first layer (6 by 25 over
  12,544) 0.084 against 0.23; but 64 by 288 over 2,048 0.88 against 0.64 and 64 by 576 over
  6,272 5.5 against 3.4: wide outputs stay with the BLAS (``gram_fits``).

The sums are reassociated (lane by lane, then across lanes), so they differ from the BLAS's in
the last bits: within the parity tests' float32 and float64 tolerances.

Shape: ``a`` ``(P, K, T)``, ``b`` ``(P, C, T)`` -> ``out`` ``(P, K, C)``.
"""

from __future__ import annotations

import numba

MAX_OUTPUTS = 4_608                        # a plane's K * C up to which the kernel takes an im2col product
MIN_SUM = 256                              # ... and the sum's length from which it does


def gram_fits(k: int, c: int, t: int) -> bool:
    """Whether an im2col weight gradient ``(K, T) @ (T, C)`` is faster here than in the BLAS."""
    return k * c <= MAX_OUTPUTS and t >= MIN_SUM


@numba.njit(fastmath=True, cache=True, inline="always")
def _dot(x, y):
    """``sum(x * y)`` along two runs of equal length."""
    s = x.dtype.type(0)
    for t in range(x.shape[0]):
        s += x[t] * y[t]
    return s


@numba.njit(fastmath=True, cache=True, nogil=True)
def plane_gram(a, b, out, accumulate):
    """``out[p] = a[p] @ b[p]^T`` for every plane ``p``, or ``+=`` when ``accumulate``.

    Shape: ``a`` ``(P, K, T)``, ``b`` ``(P, C, T)`` (rows contiguous) -> ``out`` ``(P, K, C)``.
    """
    planes, k_out, t_len = a.shape
    c_in = b.shape[1]
    k4, c4 = k_out - k_out % 4, c_in - c_in % 4
    zero = out.dtype.type(0)
    for p in range(planes):
        o = out[p]
        if not accumulate:
            o[:] = zero
        for k0 in range(0, k4, 4):
            a0, a1, a2, a3 = a[p, k0], a[p, k0 + 1], a[p, k0 + 2], a[p, k0 + 3]
            for c0 in range(0, c4, 4):
                b0, b1, b2, b3 = b[p, c0], b[p, c0 + 1], b[p, c0 + 2], b[p, c0 + 3]
                s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
                s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
                for t in range(t_len):                                  # one step of 16 sums: 8 loads, 16 FMAs
                    x0, x1, x2, x3 = a0[t], a1[t], a2[t], a3[t]
                    y0, y1, y2, y3 = b0[t], b1[t], b2[t], b3[t]
                    s00 += x0 * y0
                    s01 += x0 * y1
                    s02 += x0 * y2
                    s03 += x0 * y3
                    s10 += x1 * y0
                    s11 += x1 * y1
                    s12 += x1 * y2
                    s13 += x1 * y3
                    s20 += x2 * y0
                    s21 += x2 * y1
                    s22 += x2 * y2
                    s23 += x2 * y3
                    s30 += x3 * y0
                    s31 += x3 * y1
                    s32 += x3 * y2
                    s33 += x3 * y3
                o[k0, c0] += s00
                o[k0, c0 + 1] += s01
                o[k0, c0 + 2] += s02
                o[k0, c0 + 3] += s03
                o[k0 + 1, c0] += s10
                o[k0 + 1, c0 + 1] += s11
                o[k0 + 1, c0 + 2] += s12
                o[k0 + 1, c0 + 3] += s13
                o[k0 + 2, c0] += s20
                o[k0 + 2, c0 + 1] += s21
                o[k0 + 2, c0 + 2] += s22
                o[k0 + 2, c0 + 3] += s23
                o[k0 + 3, c0] += s30
                o[k0 + 3, c0 + 1] += s31
                o[k0 + 3, c0 + 2] += s32
                o[k0 + 3, c0 + 3] += s33
            for c in range(c4, c_in):                                   # the last C % 4 columns
                for k in range(k0, k0 + 4):
                    o[k, c] += _dot(a[p, k], b[p, c])
        for k in range(k4, k_out):                                      # the last K % 4 rows
            for c in range(c_in):
                o[k, c] += _dot(a[p, k], b[p, c])
    return out
