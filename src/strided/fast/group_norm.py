"""Group normalisation (and instance normalisation, one channel a group) of a batch-last input,
compiled by Numba.

``nn.layer_norm.grouped_norm`` normalises one row per ``(example, group)``, ``(N*G, C/G * P)``: on a
batch-last input (memory ``(C, *S, N)``, see ``windows``) forming those rows is a transposing
copy, and their C-order output is copied back by the next convolution. Here the memory is seen as
``(G, K, N)``, ``K = C/G * P``: each ``(group, example)`` is a column reduced down the middle
axis, a group's ``K`` rows of ``N`` values added into ``N`` running sums (a vectorised loop along
the batch), and the output stays batch-last (``nn/norm_batch_last.py``). NumPy's broadcasting
over the same view ran slower than the rows (9.4 against 7.5 ms): its inner loops are the ``N``
values of one row.

Sums accumulate in ``acc``'s dtype (float64 for a float32 input too, as the batch norm kernels);
``mean`` and ``inv_std`` are stored in the input's dtype, as ``normalize_rows`` leaves them.

Shape: ``x3``, ``xhat``, ``gxhat``, ``gx`` ``(G, K, N)``; ``mean``, ``var``, ``inv_std``, ``acc``,
``acc2`` ``(G, N)`` or ``(N,)`` as named.
"""

from __future__ import annotations

import math

import numba

from .norm import REDUCE


@numba.njit(cache=True, fastmath=REDUCE, error_model="numpy")
def group_norm_forward(x3, eps, acc, mean, var, inv_std, xhat):
    """``mean = sum_k x / K``; ``var = sum_k (x - mean)^2 / K`` (biased); ``inv_std = 1 / sqrt(var +
    eps)``; ``xhat = (x - mean) * inv_std``, per column ``(g, :, n)``. ``acc`` ``(N,)`` is scratch
    in the accumulator's dtype."""
    groups, k, n = x3.shape
    zero = acc.dtype.type(0)
    for g in range(groups):
        acc[:] = zero
        for row in range(k):
            x_row = x3[g, row]                                          # (N,)
            for i in range(n):
                acc[i] += x_row[i]
        mu = mean[g]                                                    # (N,)
        for i in range(n):
            mu[i] = acc[i] / k                                          # rounded to x's dtype
        acc[:] = zero
        for row in range(k):
            x_row = x3[g, row]
            for i in range(n):
                d = zero + x_row[i] - mu[i]                             # centred, in the accumulator's dtype
                acc[i] += d * d
        inv = inv_std[g]                                                # (N,)
        for i in range(n):
            var[g, i] = acc[i] / k
            inv[i] = 1.0 / math.sqrt(var[g, i] + eps)
        for row in range(k):
            x_row = x3[g, row]
            out_row = xhat[g, row]                                      # (N,)
            for i in range(n):
                out_row[i] = (x_row[i] - mu[i]) * inv[i]


@numba.njit(cache=True, fastmath=REDUCE, error_model="numpy")
def group_norm_backward(gxhat, xhat, inv_std, acc, acc2, gx):
    """``gx = inv_std * (gxhat - mean_k(gxhat) - xhat * mean_k(gxhat * xhat))`` per column, the
    means taken down the middle axis; ``acc``, ``acc2`` ``(N,)`` are scratch."""
    groups, k, n = gxhat.shape
    zero = acc.dtype.type(0)
    for g in range(groups):
        acc[:] = zero
        acc2[:] = zero
        for row in range(k):
            g_row = gxhat[g, row]                                       # (N,)
            h_row = xhat[g, row]
            for i in range(n):
                acc[i] += g_row[i]
                acc2[i] += zero + g_row[i] * h_row[i]
        inv = inv_std[g]                                                # (N,)
        for i in range(n):
            acc[i] = acc[i] / k                                         # mean of gxhat
            acc2[i] = acc2[i] / k                                       # mean of gxhat * xhat
        for row in range(k):
            g_row = gxhat[g, row]
            h_row = xhat[g, row]
            out_row = gx[g, row]
            for i in range(n):
                out_row[i] = (g_row[i] - acc[i] - h_row[i] * acc2[i]) * inv[i]
