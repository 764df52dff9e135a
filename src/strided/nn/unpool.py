"""Max unpooling: the partial inverse of max pooling, in 1, 2 and 3 dimensions (``MaxUnpool*d``).

``max_pool(..., return_indices=True)`` says where each maximum came from: its flat index in the
channel's input plane. Unpooling puts every value back at that index of a zero plane and leaves
the rest zero (Zeiler and Fergus' "switches", SegNet's decoder). The forward pass is one
``put_along_axis`` per call, the backward one ``take_along_axis``: both vectorised over batch,
channels and positions, never a loop.

The output size defaults to the input size of the pooling that could have produced the
indices, ``(in - 1) * stride - 2 * padding + kernel_size`` per axis (a transposed window's
size, ``geometry.resolve_transposed_window``); ``output_size`` picks another one within a
stride of it, as PyTorch allows (pooling drops the remainder of an axis, so several input sizes
pool to the same output).

``first_max_indices`` computes those indices for ``max_pool(..., return_indices=True)``: per
kernel tap, the windows whose maximum sits there and was not found at an earlier tap.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import backend_of, namespace
from ..checks import is_int
from ..errors import ShapeError, expected_input, shape_str
from ..geometry import ReceptiveField, TransposedWindow, Window, check_window, resolve_transposed_window
from ..tensor import Tensor, as_tensor
from .allocation import check_bytes
from .helpers import describe_layout, drop_batch_axis
from .module import Module


def first_max_indices(xpad: np.ndarray, out: np.ndarray, window: Window) -> np.ndarray:
    """PyTorch's ``indices``: for every window, the flat index of its first maximum (scan order)
    in its channel's unpadded input plane, int64; a padded position never wins, a window whose
    maximum is NaN names its last NaN, and a window that reads only padding gets ``-1``.

    Shape: ``xpad (N, C, *Sp)``, ``out (N, C, *O)`` -> ``(N, C, *O)``.
    """
    xp = namespace(xpad)
    d = window.ndim
    plane = [math.prod(window.in_sizes[a + 1:]) for a in range(d)]     # element stride of each input axis
    base = xp.zeros(window.out_sizes, dtype=np.int64)                   # (*O): input index of each window's tap 0
    for a, (o, s, lo) in enumerate(zip(window.out_sizes, window.stride, window.pad_lo)):
        shape = [1] * d
        shape[a] = o
        base = base + ((xp.arange(o) * s - lo) * plane[a]).reshape(shape)
    index = xp.full(out.shape, -1, dtype=np.int64)                      # (N, C, *O)
    found = xp.zeros(out.shape, dtype=bool)                             # (N, C, *O): first maximum seen
    nan = xp.isnan(out)                                                 # (N, C, *O): windows that hold a NaN
    for (k, taps), inside in zip(window.taps, window.tap_inside):
        offset = sum(ki * di * pa for ki, di, pa in zip(k, window.dilation, plane))
        value = xpad[taps]                                              # (N, C, *O)
        hit = xp.equal(value, out)
        if inside is not None:
            hit &= xp.asarray(inside)                                   # (*O): padding never wins
        hit &= ~found
        found |= hit
        hit |= nan & xp.isnan(value)                                    # a later NaN replaces an earlier one
        xp.copyto(index, base + offset, where=hit)                      # (*O) broadcast over (N, C)
    return index


def unpool_window(in_shape, ndim: int, kernel_size, stride, padding, owner: str) -> TransposedWindow:
    """Check an unpooling input's rank (``(N, C, *S)`` or unbatched ``(C, *S)``) and resolve the default
    geometry (``stride=None``: the kernel)."""
    if len(in_shape) not in (ndim + 1, ndim + 2):
        raise expected_input(owner, describe_layout(ndim, in_shape), in_shape)
    return resolve_transposed_window(tuple(in_shape[-ndim:]), kernel_size, stride, 1, padding, 0, owner=owner,
                                     in_shape=in_shape)


def unpool_output_size(window: TransposedWindow, output_size, owner: str) -> tuple[int, ...]:
    """The spatial output sizes: the default, or ``output_size`` (``ndim`` ints, or a whole shape of
    ``ndim + 2`` whose last ``ndim`` count), each strictly within a stride of the default."""
    default = window.out_sizes
    if output_size is None:
        return default
    d = window.ndim
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
    if sizes is not None and len(sizes) == d + 2:
        sizes = sizes[2:]
    if sizes is None or len(sizes) != d or not all(is_int(n) for n in sizes):
        raise TypeError(f"{owner}: output_size must be a tuple of {d} ints (or a whole shape of {d + 2}), "
                        f"got {output_size!r}")
    for n, m, s in zip(sizes, default, window.stride):
        if not m - s < n < m + s:
            raise ValueError(f"{owner}: output_size {tuple(sizes)} must lie strictly between "
                             f"{tuple(m - s for m, s in zip(default, window.stride))} and "
                             f"{tuple(m + s for m, s in zip(default, window.stride))} (the default "
                             f"{default} within one stride)")
    return tuple(int(n) for n in sizes)


def max_unpool(x, indices, ndim: int, kernel_size, stride=None, padding=0, output_size=None, *,
               owner: str | None = None) -> Tensor:
    """Scatter ``x`` into zero planes at ``indices`` (as ``max_pool(..., return_indices=True)`` gives them).

    Args:
        x: the pooled values ``(N, C, *S)`` or unbatched ``(C, *S)``.
        indices: integers of ``x``'s shape, the flat index of each value in its output plane.
        ndim: the number of spatial axes, 1 to 3.
        kernel_size: the kernel size of the max pooling being inverted, an int or ``ndim`` ints.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).
        output_size: the spatial output size, ``ndim`` ints (or a whole shape whose last ``ndim`` count), each
            within one stride above the default, to recover a size the pooling rounded down (default ``None``).
        owner: the layer name that error messages start with (keyword only; default ``max_unpool{ndim}d``).

    Shape: ``(N, C, *S)`` with ``indices`` of the same shape (integers in ``[0, prod(O))``) ->
    ``(N, C, *O)`` (or unbatched ``(C, *S) -> (C, *O)``), ``O = (S - 1) * stride - 2 * padding + kernel_size``
    or ``output_size``.
    Where two inputs name the same index, the later one (in C order) is kept, as in PyTorch on
    the CPU; the backward pass gives each input the gradient at its index.

    Example:
        >>> y, indices = np.array([[[3.0, 5.0]]]), np.array([[[1, 3]]])
        >>> max_unpool(y, indices, 1, 2).numpy().tolist()
        [[[0.0, 3.0, 0.0, 5.0]]]
    """
    x = as_tensor(x)
    owner = owner or f"max_unpool{ndim}d"
    window = unpool_window(x.shape, ndim, kernel_size, stride, padding, owner)
    out_sizes = unpool_output_size(window, output_size, owner)
    xp = namespace(x.data)
    where = xp.asarray(getattr(indices, "data", indices))
    if where.shape != x.shape:
        raise ShapeError(f"{owner}: expected indices of the input's shape {shape_str(x.shape)}, got "
                         f"{shape_str(where.shape)}")
    if x.ndim == ndim + 1:                                              # unbatched (C, *S), as PyTorch
        return drop_batch_axis(max_unpool(x.unsqueeze(0), where[None], ndim, kernel_size, stride, padding,
                                          output_size, owner=owner))
    check_bytes(owner, x.shape[0] * x.shape[1] * math.prod(out_sizes) * x.data.itemsize,
                f"its output {x.shape[:2] + out_sizes}", x.shape)
    if not np.issubdtype(where.dtype, np.integer):
        raise TypeError(f"{owner}: indices must be integers (max pooling's return_indices), got {where.dtype}")
    n, c = x.shape[:2]
    plane = math.prod(out_sizes)
    where = where.reshape(n, c, math.prod(x.shape[2:]))                 # (N, C, P_in)
    if where.size and (where.min() < 0 or where.max() >= plane):
        raise ValueError(f"{owner}: indices must lie in [0, {plane}) for the output {out_sizes}, got values "
                         f"in [{int(where.min())}, {int(where.max())}]")
    out = xp.zeros((n, c, plane), dtype=x.dtype)                        # (N, C, P_out)
    backend_of(out).put_along_axis(out, where, x.data.reshape(where.shape), 2)   # a repeated index: the last wins

    def backward(g):
        gflat = g.reshape((n, c, plane))                                # (N, C, P_out)
        return (xp.take_along_axis(gflat, where, axis=2).reshape(x.shape),)   # (N, C, *S)
    return Tensor.from_op(out.reshape((n, c) + out_sizes), (x,), backward, f"max_unpool{ndim}d")


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """``torch.nn.functional.max_unpool1d``: ``(N, C, L) -> (N, C, L_out)``; see ``max_unpool``.

    Args:
        x: the pooled values ``(N, C, L)`` or unbatched ``(C, L)``.
        indices: integers of ``x``'s shape, as ``max_pool1d(..., return_indices=True)`` gives them.
        kernel_size: the kernel size of the max pooling being inverted, ``k``.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).
        output_size: the spatial output size, one int (or a whole shape whose last ``1`` count), each
            within one stride above the default, to recover a size the pooling rounded down (default ``None``).

    Example:
        >>> y, indices = np.array([[[3.0, 5.0]]]), np.array([[[1, 3]]])
        >>> max_unpool1d(y, indices, 2).numpy().tolist()
        [[[0.0, 3.0, 0.0, 5.0]]]
    """
    return max_unpool(x, indices, 1, kernel_size, stride, padding, output_size)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """``torch.nn.functional.max_unpool2d``: ``(N, C, H, W) -> (N, C, H_out, W_out)``; see ``max_unpool``.

    Args:
        x: the pooled values ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
        indices: integers of ``x``'s shape, as ``max_pool2d(..., return_indices=True)`` gives them.
        kernel_size: the kernel size of the max pooling being inverted, ``k`` or ``(kh, kw)``.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).
        output_size: the spatial output size, ``2`` ints (or a whole shape whose last ``2`` count), each
            within one stride above the default, to recover a size the pooling rounded down (default ``None``).

    Example:
        >>> y, indices = np.array([[[[4.0]]]]), np.array([[[[3]]]])
        >>> max_unpool2d(y, indices, 2).numpy().tolist()
        [[[[0.0, 0.0], [0.0, 4.0]]]]
    """
    return max_unpool(x, indices, 2, kernel_size, stride, padding, output_size)


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """``torch.nn.functional.max_unpool3d``: ``(N, C, D, H, W) -> (N, C, *O)``; see ``max_unpool``.

    Args:
        x: the pooled values ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``.
        indices: integers of ``x``'s shape, as ``max_pool3d(..., return_indices=True)`` gives them.
        kernel_size: the kernel size of the max pooling being inverted, ``k`` or ``(kd, kh, kw)``.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).
        output_size: the spatial output size, ``3`` ints (or a whole shape whose last ``3`` count), each
            within one stride above the default, to recover a size the pooling rounded down (default ``None``).

    Example:
        >>> from strided.nn.functional import max_pool3d
        >>> y, indices = max_pool3d(np.arange(64.0).reshape(1, 1, 4, 4, 4), 2, return_indices=True)
        >>> max_unpool3d(y, indices, 2).shape
        (1, 1, 4, 4, 4)
    """
    return max_unpool(x, indices, 3, kernel_size, stride, padding, output_size)


class _MaxUnpoolNd(Module):
    """Shared body of ``MaxUnpool1d/2d/3d``: ``forward(x, indices, output_size=None)``.

    Not in the layer registry: its forward takes a second input (the indices), so the contract
    test's one-input checks do not apply; ``tests/test_pool_options.py`` checks its rules.
    Static rules: the default output size; no parameters; the receptive field of a transposed
    window (an envelope: which input lands where depends on the indices).
    """

    ndim = 0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size, self.stride, _ = check_window(self.ndim, kernel_size, stride, 1, padding, name,
                                                        transposed=True)
        self.padding = padding

    def window(self, in_shape) -> TransposedWindow:
        """The default geometry for an input of ``in_shape`` (checked as a forward pass would)."""
        return unpool_window(tuple(in_shape), self.ndim, self.kernel_size, self.stride, self.padding,
                             self._describe())

    def forward(self, x, indices, output_size=None) -> Tensor:
        return max_unpool(x, indices, self.ndim, self.kernel_size, self.stride, self.padding, output_size,
                          owner=self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim]) + self.window(in_shape).out_sizes   # (N, C, *O) or (C, *O)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}"
        return text + (f", padding={self.padding!r}" if self.padding != 0 else "")


class MaxUnpool1d(_MaxUnpoolNd):
    """Inverse of ``MaxPool1d`` where the maxima were: ``(N, C, L) -> (N, C, (L-1)*s - 2p + k)``.

    Called as ``layer(x, indices, output_size=None)``, with ``indices`` from ``MaxPool1d(return_indices=True)``.

    Args:
        kernel_size: the kernel size of the max pooling being inverted, ``k``.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).

    Shape: ``(N, C, L) -> (N, C, L_out)`` (or unbatched ``(C, L)``), ``L_out = (L - 1) * s - 2p + k``
    (or ``output_size``); ``indices`` has the input's shape.

    Example:
        >>> import numpy as np
        >>> from strided.nn import MaxPool1d
        >>> y, indices = MaxPool1d(2, return_indices=True)(np.array([[[1.0, 3.0, 2.0, 5.0]]]))
        >>> MaxUnpool1d(2)(y, indices).numpy().tolist()
        [[[0.0, 3.0, 0.0, 5.0]]]
    """

    ndim = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Inverse of ``MaxPool2d`` where the maxima were, zero elsewhere.

    Called as ``layer(x, indices, output_size=None)``, with ``indices`` from ``MaxPool2d(return_indices=True)``.

    Args:
        kernel_size: the kernel size of the max pooling being inverted, ``k`` or ``(kh, kw)``.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``, ``H_out = (H - 1) * s - 2p + k`` (or ``output_size``).

    >>> import numpy as np
    >>> from strided.nn import MaxPool2d
    >>> x = np.array([[[[1., 2.], [3., 4.]]]])
    >>> y, i = MaxPool2d(2, return_indices=True)(x)
    >>> MaxUnpool2d(2)(y, i).numpy().tolist()
    [[[[0.0, 0.0], [0.0, 4.0]]]]
    """

    ndim = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Inverse of ``MaxPool3d`` where the maxima were: ``(N, C, D, H, W) -> (N, C, *O)``.

    Called as ``layer(x, indices, output_size=None)``, with ``indices`` from ``MaxPool3d(return_indices=True)``.

    Args:
        kernel_size: the kernel size of the max pooling being inverted, ``k`` or ``(kd, kh, kw)``.
        stride: its stride, per axis (default ``None``: the kernel size).
        padding: its padding, per axis (default 0).

    Shape: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)`` (or unbatched ``(C, D, H, W)``), per axis
    ``O = (S - 1) * s - 2p + k`` (or ``output_size``); ``indices`` has the input's shape.

    Example:
        >>> import numpy as np
        >>> from strided.nn import MaxPool3d
        >>> y, indices = MaxPool3d(2, return_indices=True)(np.arange(64.0).reshape(1, 1, 4, 4, 4))
        >>> MaxUnpool3d(2)(y, indices).shape
        (1, 1, 4, 4, 4)
    """

    ndim = 3


__all__ = ["first_max_indices", "max_unpool", "max_unpool1d", "max_unpool2d", "max_unpool3d", "MaxUnpool1d",
           "MaxUnpool2d", "MaxUnpool3d"]
