"""``erfc`` (``strided.special``) in fused passes, compiled by Numba.

The NumPy form picks each value's expansion with a boolean mask: ``|z| < 1`` takes the Maclaurin
series of ``erf``, the rest Weideman's expansion of the scaled complement. Indexing by a mask of
random signs costs a branch per value on this kind of machine (the exact GELU's forward on 2M
float32 values: 27 ms). Here the two ``exp`` of the tail come from NumPy over the whole array
(its ``exp`` is vectorised; Numba's calls ``expf`` a value at a time), and the kernels do the
rest a block of values at a time: every Horner step is one vectorised loop over the block, both
expansions are evaluated for every value, and the last loop picks one per value.

The operations and their order are the NumPy form's (no fused multiply-add, constants in the
array's dtype), so both paths give the same bits; ``tests/test_special.py`` checks it.

Shape: every array ``(M,)``, the flat memory of the caller's arrays.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 512                                # values a block: the Horner accumulators stay in L1


@numba.njit(cache=True, error_model="numpy")
def tail_exponents(z, clip, t1, t2):
    """``a = min(|z|, clip)``, ``h = floor(16 a) / 16``; ``t1 = -h * h``, ``t2 = (h - a)(a + h)``: the
    exponents of ``exp(-a^2) = exp(-h^2) exp((h - a)(a + h))`` (``h^2`` is exact)."""
    sixteen = z.dtype.type(16)
    for i in range(z.shape[0]):
        a = abs(z[i])
        a = clip if a > clip else a                                     # NaN stays NaN, as np.minimum
        h = np.floor(a * sixteen) / sixteen
        t1[i] = -h * h
        t2[i] = (h - a) * (a + h)


@numba.njit(cache=True, error_model="numpy")
def erfc_from_exponentials(z, e1, e2, clip, maclaurin, length, weideman, inv_sqrt_pi, out):
    """``out = erfc(z)`` given ``e1 = exp(t1)``, ``e2 = exp(t2)`` (``tail_exponents``): ``1 - z P(z^2)``
    where ``|z| < 1``, else the tail ``T = e1 e2 r (2 p r + 1/sqrt(pi))``, ``r = 1 / (L + a)``,
    ``p = W((L - a) r)``, taken as ``T`` or ``2 - T`` by the sign of ``z``. ``maclaurin`` and
    ``weideman`` hold the coefficients, highest degree first, in ``z``'s dtype."""
    one = z.dtype.type(1)
    two = one + one
    n = z.shape[0]
    small = np.empty(BLOCK, dtype=z.dtype)                              # Maclaurin's accumulator
    large = np.empty(BLOCK, dtype=z.dtype)                              # Weideman's accumulator
    square = np.empty(BLOCK, dtype=z.dtype)                             # z^2
    ratio = np.empty(BLOCK, dtype=z.dtype)                              # Z = (L - a) r
    recip = np.empty(BLOCK, dtype=z.dtype)                              # r
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        zb, e1b, e2b, outb = z[start:start + m], e1[start:start + m], e2[start:start + m], out[start:start + m]
        for i in range(m):                                              # slices: unit-stride loops, vectorised
            zi = zb[i]
            a = abs(zi)
            a = clip if a > clip else a                                 # NaN stays NaN, as np.minimum
            r = one / (length + a)
            recip[i] = r
            ratio[i] = (length - a) * r
            square[i] = zi * zi
            small[i] = maclaurin[0]
            large[i] = weideman[0]
        for c in range(1, maclaurin.shape[0]):                           # Horner: one loop per step
            coefficient = maclaurin[c]
            for i in range(m):
                small[i] = small[i] * square[i] + coefficient
        for c in range(1, weideman.shape[0]):
            coefficient = weideman[c]
            for i in range(m):
                large[i] = large[i] * ratio[i] + coefficient
        for i in range(m):
            zi = zb[i]
            inner = one - small[i] * zi
            r = recip[i]
            tail = e1b[i] * e2b[i] * r * (two * large[i] * r + inv_sqrt_pi)
            outer = tail if zi > 0 else two - tail
            outb[i] = inner if abs(zi) < one else outer
