"""The convolution as its explicit matrix: ``M @ x.ravel() == layer(x).ravel()`` for one example.

A convolution is a linear map, and lecture 000 (equation 6) writes it as a banded (Toeplitz;
doubly block Toeplitz in 2-D) matrix. ``conv_matrix`` builds that matrix for any convolution
(1-D/2-D/3-D, stride, padding, dilation, groups), for locally-connected layers (the same band
structure with unshared values) and for transposed convolution (the transpose of the matching
convolution's matrix). Bias is excluded: the layer computes ``M @ x + b``.

The matrix is assembled from the same windowing primitive the ops use: the windows of an
image of *input indices* tell, for every output and kernel tap, which input it reads.
Rows are the output's ``(C_out, *O)`` raveled, columns the input's ``(C_in, *S)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, shape_str
from ..windows import pad, window_view


def _taps(in_shape, kernel, stride, pads, dilation, out_sizes, groups):
    """Input column read by every (group, channel-in-group, tap, output position); -1 in padding.

    Shape: ``(G, C/G * prod(K), prod(O))``.
    """
    c = in_shape[0]
    index = np.arange(int(np.prod(in_shape)), dtype=np.int64).reshape((1,) + tuple(in_shape))   # (1, C, *S)
    padded = pad(index, pads, value=-1)                                                     # (1, C, *Sp)
    view = window_view(padded, kernel, stride, dilation, out_sizes)                         # (1, C, *K, *O)
    return view.reshape(groups, (c // groups) * int(np.prod(kernel)), int(np.prod(out_sizes)))


def _entries(layer, in_shape):
    """``(rows, cols, weight_index, matrix_shape)`` of every nonzero of the layer's matrix.

    ``weight_index`` is the flat index into ``layer.weight`` that the entry holds.
    """
    from ..nn.conv import _ConvNd
    from ..nn.conv_transpose import _ConvTransposeNd
    from ..nn.local import _LocallyConnectedNd

    batch_shape = (1,) + tuple(in_shape)
    if isinstance(layer, _ConvTransposeNd):
        return _transposed_entries(layer, batch_shape)
    if isinstance(layer, _LocallyConnectedNd):
        c_out = layer.out_channels
        stride, pads, dilation, out_sizes = layer_geometry(layer, batch_shape)
        taps = _taps(in_shape, layer.kernel_size, stride, pads, dilation, out_sizes, 1)[0]      # (R, P)
        r, p = taps.shape
        o = np.arange(c_out)[:, None, None]
        weight_index = (np.arange(p)[None, None, :] * (c_out * r) + o * r
                        + np.arange(r)[None, :, None])                                      # (Cout, R, P)
        cols = np.broadcast_to(taps[None], (c_out, r, p))
        rows = np.broadcast_to(o * p + np.arange(p)[None, None, :], (c_out, r, p))
        return _keep(rows, cols, weight_index, (c_out * p, int(np.prod(in_shape))))
    if isinstance(layer, _ConvNd):
        stride, pads, dilation, out_sizes = layer._geometry(batch_shape)
        return _conv_entries(layer.weight.shape, in_shape, stride, pads, dilation, out_sizes, layer.groups)
    raise TypeError(f"conv_matrix: expected a convolution, transposed convolution or locally-connected layer, "
                    f"got {type(layer).__name__}")


def layer_geometry(layer, batch_shape):
    """``(stride, pads, dilation, out_sizes)`` of a locally-connected layer for ``batch_shape``."""
    from ..nn.conv import conv_geometry
    c_out = layer.out_channels
    return conv_geometry(batch_shape, (c_out, layer.in_channels) + layer.kernel_size, layer.stride,
                         layer.padding, layer.dilation, 1, layer._describe())


def _conv_entries(weight_shape, in_shape, stride, pads, dilation, out_sizes, groups):
    c_out = weight_shape[0]
    taps = _taps(in_shape, weight_shape[2:], stride, pads, dilation, out_sizes, groups)   # (G, Cg*K, P)
    g, r, p = taps.shape
    per_group = c_out // groups
    weight_index = np.arange(c_out * r).reshape(g, per_group, r, 1)                     # (G, Cout/G, Cg*K, 1)
    rows = np.arange(c_out * p).reshape(g, per_group, 1, p)                             # (G, Cout/G, 1, P)
    shape = (g, per_group, r, p)
    return _keep(np.broadcast_to(rows, shape), np.broadcast_to(taps[:, None], shape),
                 np.broadcast_to(weight_index, shape), (c_out * p, int(np.prod(in_shape))))


def _transposed_entries(layer, batch_shape):
    """A transposed convolution is the adjoint of a convolution from its output grid to its input.

    The footprints land on a grid of the full extent (``(S-1)*stride + dilation*(K-1) + 1``,
    or more where ``output_padding`` reaches past it); ``padding`` then crops that grid.
    """
    stride, pads, output_padding, dilation, out_sizes = layer._geometry(batch_shape)
    kernel, c_in = layer.kernel_size, batch_shape[1]
    in_sizes = batch_shape[2:]
    full = tuple((s - 1) * st + dl * (k - 1) + 1 for s, st, dl, k in zip(in_sizes, stride, dilation, kernel))
    grid = tuple(max(f, lo + o) for f, (lo, _), o in zip(full, pads, out_sizes))
    c_out = layer.out_channels
    # the matching convolution: weight (C_in, C_out/G, *K) maps (C_out, *grid) -> (C_in, *S)
    rows, cols, weight_index, _ = _conv_entries(layer.weight.shape, (c_out,) + grid, stride,
                                                ((0, 0),) * len(kernel), dilation, in_sizes, layer.groups)
    # transpose: rows of the result are grid positions; keep those inside the crop, renumbered
    channel, rest = np.divmod(cols, int(np.prod(grid)))
    position = np.unravel_index(rest, grid)
    inside = np.ones(cols.shape, dtype=bool)
    out_position = []
    for axis, (lo, _) in enumerate(pads):
        shifted = position[axis] - lo
        inside &= (shifted >= 0) & (shifted < out_sizes[axis])
        out_position.append(shifted)
    out_rows = channel * int(np.prod(out_sizes)) + np.ravel_multi_index(
        tuple(np.clip(p, 0, n - 1) for p, n in zip(out_position, out_sizes)), out_sizes)
    shape = (c_out * int(np.prod(out_sizes)), c_in * int(np.prod(in_sizes)))
    return out_rows[inside], rows[inside], weight_index[inside], shape


def _keep(rows, cols, weight_index, shape):
    inside = cols >= 0
    return rows[inside], cols[inside], weight_index[inside], shape


def _check_input(layer, input_shape):
    shape = tuple(int(v) for v in input_shape)
    if len(shape) >= 1 and shape[0] == 1 and len(shape) == layer.ndim + 2:
        shape = shape[1:]
    if len(shape) != layer.ndim + 1:
        raise ShapeError(f"conv_matrix: {layer._describe()} takes one example of shape (C, *spatial) with "
                         f"{layer.ndim} spatial axes, got {shape_str(tuple(input_shape))}")
    return shape


def conv_matrix(layer, input_shape, sparse: bool | None = None):
    """The matrix ``M`` with ``M @ x.ravel() == (layer(x) - bias).ravel()`` for one example ``x``.

    ``input_shape`` is ``(C, *S)`` (or ``(1, C, *S)``). Returns a ``scipy.sparse`` CSR matrix
    when SciPy is installed (``sparse=None``) or asked for (``sparse=True``), else a dense array.

    Shape: ``(C_out * prod(O), C_in * prod(S))``.

    >>> from strided import nn
    >>> conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)
    >>> conv_matrix(conv, (1, 4), sparse=False).shape
    (4, 4)
    """
    rows, cols, weight_index, shape = _entries(layer, _check_input(layer, input_shape))
    values = layer.weight.data.ravel()[weight_index]
    if sparse is None or sparse:
        try:
            from scipy.sparse import csr_matrix
        except ImportError:
            if sparse:
                raise ImportError("conv_matrix(sparse=True) needs SciPy: pip install scipy") from None
        else:
            return csr_matrix((values, (rows, cols)), shape=shape)
    dense = np.zeros(shape, dtype=layer.weight.data.dtype)
    dense[rows, cols] = values
    return dense


def conv_matrix_labels(layer, input_shape, name: str = "W") -> np.ndarray:
    """The matrix with symbolic entries: ``'W1'`` ... for the weight taps, ``'0'`` elsewhere.

    Weights are numbered 1, 2, ... in the order of ``layer.weight.ravel()``.

    >>> from strided import nn
    >>> print(format_matrix(conv_matrix_labels(nn.Conv1d(1, 1, 3, padding=1), (1, 4))))
    [W2 W3 0  0 ]
    [W1 W2 W3 0 ]
    [0  W1 W2 W3]
    [0  0  W1 W2]
    """
    rows, cols, weight_index, shape = _entries(layer, _check_input(layer, input_shape))
    labels = np.full(shape, "0", dtype=object)
    labels[rows, cols] = [f"{name}{i + 1}" for i in weight_index]
    return labels


def format_matrix(labels) -> str:
    """A matrix of strings or numbers as aligned rows in brackets."""
    cells = [[str(v) for v in row] for row in np.asarray(labels, dtype=object)]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join("[" + " ".join(c.ljust(width) for c in row) + "]" for row in cells)
