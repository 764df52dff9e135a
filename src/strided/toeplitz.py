"""Where each weight sits in a windowed layer's explicit matrix (lecture 000, equation 6).

A convolution is a linear map from one example's ``(C_in, *S)`` values to its ``(C_out, *O)``
values, and its matrix is banded (Toeplitz; doubly block Toeplitz in 2-D). The layers that
have one (``Conv*``, ``ConvTranspose*``, ``LocallyConnected*``) answer ``matrix_entries``
with the rules below; ``analysis.conv_matrix`` fills in the values and draws it.

Every rule reads the same windowing primitive the ops use: the windows of an image of *input
indices* tell, for every output and kernel tap, which input it reads (``-1`` in the padding).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .geometry import TransposedWindow, Window
from .windows import pad, window_view


class MatrixEntries(NamedTuple):
    """The nonzeros of a layer's matrix: ``matrix[rows[i], cols[i]] += weight.ravel()[weight_index[i]]``
    (a position appears more than once only where a padding copies input pixels).

    Rows are the output's ``(C_out, *O)`` raveled, columns the input's ``(C_in, *S)``; ``shape``
    is ``(C_out * prod(O), C_in * prod(S))``. Bias is not part of the matrix.
    """

    rows: np.ndarray
    cols: np.ndarray
    weight_index: np.ndarray
    shape: tuple[int, int]


def window_taps(in_shape, window: Window, groups: int, sources=None) -> np.ndarray:
    """Input column read by every (group, channel-in-group, tap, output position); -1 in zero padding.

    ``sources``: for a padding that copies input pixels (reflect, replicate, circular), one array
    per spatial axis giving the input position each padded position copies; ``None`` for zeros.

    Shape: ``in_shape = (C, *S)`` -> ``(G, C/G * prod(K), prod(O))``.
    """
    c = in_shape[0]
    index = np.arange(math.prod(in_shape), dtype=np.int64).reshape((1,) + tuple(in_shape))   # (1, C, *S)
    if sources is None:
        padded = pad(index, window.pads, value=-1)                                          # (1, C, *Sp)
    else:
        padded = index[np.ix_([0], range(c), *sources)]                                      # (1, C, *Sp)
    view = window_view(padded, window)                                                      # (1, C, *K, *O)
    return view.reshape(groups, (c // groups) * math.prod(window.kernel), math.prod(window.out_sizes))


def conv_entries(weight_shape, in_shape, window: Window, groups: int, sources=None) -> MatrixEntries:
    """A convolution with weight ``(C_out, C_in/G, *K)`` over one example of ``in_shape = (C_in, *S)``.

    With ``sources`` (see ``window_taps``) a padded tap reads an input pixel, so one (row, column)
    may hold several weights: the matrix entry is their sum.
    """
    c_out = weight_shape[0]
    taps = window_taps(in_shape, window, groups, sources)                               # (G, Cg*K, P)
    g, r, p = taps.shape
    per_group = c_out // groups
    weight_index = np.arange(c_out * r).reshape(g, per_group, r, 1)                     # (G, Cout/G, Cg*K, 1)
    rows = np.arange(c_out * p).reshape(g, per_group, 1, p)                             # (G, Cout/G, 1, P)
    shape = (g, per_group, r, p)
    return _inside(np.broadcast_to(rows, shape), np.broadcast_to(taps[:, None], shape),
                   np.broadcast_to(weight_index, shape), (c_out * p, math.prod(in_shape)))


def local_entries(out_channels: int, in_shape, window: Window) -> MatrixEntries:
    """A locally-connected layer with weight ``(*O, C_out, C_in, *K)``: the band of a convolution,
    with a different weight at every output position."""
    taps = window_taps(in_shape, window, 1)[0]                                          # (R, P)
    r, p = taps.shape
    o = np.arange(out_channels)[:, None, None]
    weight_index = np.arange(p)[None, None, :] * (out_channels * r) + o * r + np.arange(r)[None, :, None]   # (Cout, R, P)
    cols = np.broadcast_to(taps[None], (out_channels, r, p))
    rows = np.broadcast_to(o * p + np.arange(p)[None, None, :], (out_channels, r, p))
    return _inside(rows, cols, weight_index, (out_channels * p, math.prod(in_shape)))


def transposed_entries(weight_shape, out_channels: int, in_shape, window: TransposedWindow,
                       groups: int) -> MatrixEntries:
    """A transposed convolution with weight ``(C_in, C_out/G, *K)``: the transpose of its adjoint
    convolution's matrix (from the uncropped grid back to the input), cropped to the output."""
    c_in, in_sizes = in_shape[0], tuple(in_shape[1:])
    grid, out_sizes = window.grid, window.out_sizes
    # the adjoint convolution: weight (C_in, C_out/G, *K) maps (C_out, *grid) -> (C_in, *S)
    rows, cols, weight_index, _ = conv_entries(weight_shape, (out_channels,) + grid, window.adjoint, groups)
    # transposed: rows of the result are grid positions; keep those inside the crop, renumbered
    channel, rest = np.divmod(cols, math.prod(grid))
    position = np.unravel_index(rest, grid)
    inside = np.ones(cols.shape, dtype=bool)
    out_position = []
    for axis, (lo, _) in enumerate(window.crop):
        shifted = position[axis] - lo
        inside &= (shifted >= 0) & (shifted < out_sizes[axis])
        out_position.append(shifted)
    out_rows = channel * math.prod(out_sizes) + np.ravel_multi_index(
        tuple(np.clip(p, 0, n - 1) for p, n in zip(out_position, out_sizes)), out_sizes)
    shape = (out_channels * math.prod(out_sizes), c_in * math.prod(in_sizes))
    return MatrixEntries(out_rows[inside], rows[inside], weight_index[inside], shape)


def _inside(rows, cols, weight_index, shape) -> MatrixEntries:
    """The entries whose input column is a real pixel (not padding)."""
    keep = cols >= 0
    return MatrixEntries(rows[keep], cols[keep], weight_index[keep], shape)
