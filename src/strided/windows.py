"""The sliding-window primitive shared by convolution and every pooling op.

Spatial axes are the last ``d`` axes of an array ``(N, C, *spatial)``. A window position is
an output index ``o`` (per axis) and a kernel offset ``k``; it reads the padded input at
``o * stride + k * dilation``. Two ways of walking the windows are offered:

* ``im2col``: all windows copied into one matrix, for BLAS matrix products (convolution);
* ``offset_slices``: for each kernel offset, the strided slice of the padded input that it
  touches for every output at once, so pooling and ``col2im`` loop over the few kernel
  offsets, never over batch elements or output pixels.
"""

from __future__ import annotations

import itertools
from typing import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pads = Sequence[tuple[int, int]]


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the last ``len(pads)`` axes of ``x`` by ``(lo, hi)`` each with ``value``.

    Shape: ``(*lead, *S) -> (*lead, *(S + lo + hi))``. Returns ``x`` itself when nothing is padded.
    """
    if not any(lo or hi for lo, hi in pads):
        return x
    d = len(pads)
    shape = x.shape[:-d] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[-d:], pads))
    out = np.full(shape, value, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[-d:], pads))] = x
    return out


def unpad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Inverse of ``pad``: drop ``(lo, hi)`` from each of the last ``len(pads)`` axes (a view)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    d = len(pads)
    return x[(Ellipsis,) + tuple(slice(lo, n - hi) for n, (lo, hi) in zip(x.shape[-d:], pads))]


def offset_slices(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                  out_sizes: Sequence[int]) -> Iterator[tuple[tuple[int, ...], tuple]]:
    """For each kernel offset ``k``: ``(k, index)`` where ``xp[index]`` is ``(N, C, *out_sizes)``.

    ``xp[index][..., o] == xp[..., o * stride + k * dilation]`` for every output position ``o``.
    """
    for k in itertools.product(*(range(n) for n in kernel)):
        index = (Ellipsis,) + tuple(
            slice(ki * di, ki * di + si * (oi - 1) + 1, si)
            for ki, si, di, oi in zip(k, stride, dilation, out_sizes)
        )
        yield k, index


def window_view(xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                out_sizes: Sequence[int]) -> np.ndarray:
    """A read-only strided view of all windows of the padded input, without copying.

    Shape: ``(N, C, *Sp) -> (N, C, *K, *O)`` with ``view[n, c, *k, *o] == xp[n, c, *(o*s + k*d)]``.
    """
    d = len(kernel)
    lead_strides = xp.strides[:-d]
    axis_strides = xp.strides[-d:]
    shape = xp.shape[:-d] + tuple(kernel) + tuple(out_sizes)
    strides = lead_strides + tuple(a * di for a, di in zip(axis_strides, dilation)) + tuple(
        a * si for a, si in zip(axis_strides, stride))
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def im2col(xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
           out_sizes: Sequence[int], groups: int = 1) -> np.ndarray:
    """Copy every window into one column matrix per group: rows are kernel taps, columns are
    (example, output position) pairs, so a whole batch is one BLAS product per group.

    Shape: ``(N, C, *Sp) -> (G, C/G * prod(K), N * prod(O))``; row ``(c, *k)``, column
    ``(n, *o)`` holds ``xp[n, c, *(o*stride + k*dilation)]``.
    """
    n, c = xp.shape[:2]
    d = len(kernel)
    view = window_view(xp, kernel, stride, dilation, out_sizes)       # (N, C, *K, *O)
    channel_major = (1,) + tuple(range(2, 2 + d)) + (0,) + tuple(range(2 + d, 2 + 2 * d))
    cols = np.ascontiguousarray(view.transpose(channel_major))        # (C, *K, N, *O), one copy
    return cols.reshape(groups, (c // groups) * int(np.prod(kernel)), n * int(np.prod(out_sizes)))


def col2im(cols: np.ndarray, padded_shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
           dilation: Sequence[int], out_sizes: Sequence[int]) -> np.ndarray:
    """Adjoint of ``im2col``: add every window's values back onto the padded input grid.

    Shape: ``(G, C/G * prod(K), N * prod(O))`` (or any array of the same layout) -> ``(N, C, *Sp)``.
    Overlapping windows accumulate; one strided add per kernel offset.
    """
    n, c = padded_shape[:2]
    cols = cols.reshape((c,) + tuple(kernel) + (n,) + tuple(out_sizes))   # (C, *K, N, *O)
    out = np.zeros(tuple(padded_shape), dtype=cols.dtype)               # (N, C, *Sp)
    for k, index in offset_slices(kernel, stride, dilation, out_sizes):
        out[index] += cols[(slice(None),) + k].swapaxes(0, 1)           # (N, C, *O) onto a strided slice
    return out


def to_channel_major(x: np.ndarray, groups: int = 1) -> np.ndarray:
    """Group the channels first and merge example and position: the column layout of ``im2col``.

    Shape: ``(N, C, *S) -> (G, C/G, N * prod(S))`` (a copy).
    """
    n, c = x.shape[:2]
    return np.ascontiguousarray(x.reshape(n, c, -1).transpose(1, 0, 2)).reshape(groups, c // groups, -1)


def from_channel_major(m: np.ndarray, n: int, spatial: Sequence[int]) -> np.ndarray:
    """Inverse of ``to_channel_major``. Shape: ``(G, C/G, N * prod(S)) -> (N, C, *S)`` (a copy)."""
    c = m.shape[0] * m.shape[1]
    out = np.ascontiguousarray(m.reshape(c, n, -1).transpose(1, 0, 2))   # (N, C, P)
    return out.reshape((n, c) + tuple(spatial))


def grouped_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for stacks of per-group matrices; one plain 2-D BLAS product when there is one group.

    Shape: ``(G, m, k) @ (G, k, p) -> (G, m, p)``.
    """
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return np.matmul(a, b)
