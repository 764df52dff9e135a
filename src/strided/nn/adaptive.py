"""Adaptive average and max pooling: a fixed output size whatever the input size, in 1, 2 and 3 dimensions.

Output bin ``i`` of an axis of size ``S`` pooled to ``O`` averages input
``[floor(i*S/O), ceil((i+1)*S/O))`` (``geometry.adaptive_bins``, PyTorch's rule), so the bins
cover the axis and neighbours may share a pixel when ``O`` does not divide ``S``. Bins are a
Cartesian product over axes, so the mean over a box is the mean over one axis of the means over
the next: the op pools one axis at a time, each with a loop over that axis' ``O`` bins (a
handful: torchvision's AlexNet and VGG pool to 6x6 and 7x7), vectorised over batch, channels
and the other axes. An axis whose output size equals its input size is left alone.

The maximum over a box is likewise the maximum over one axis of the maxima over the next:
adaptive max pooling reduces the last axis first, keeping each bin's first argmax (and the
coordinates found on the axes already reduced), so the winner is the box's first maximum in
row-major scan order, PyTorch's; a bin holding a NaN gives NaN, won by its last NaN in that
order (the last row with a NaN, its last NaN), as in PyTorch. Its backward pass adds each
output's gradient at that input position (``np.bincount``: overlapping bins may pick the same
pixel).

Both also take an unbatched ``(C, *S)``, as PyTorch does.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import namespace
from ..checks import is_int
from ..errors import expected_input
from ..geometry import ReceptiveField, adaptive_bins, adaptive_window
from ..tensor import Tensor, as_tensor
from ..windows import empty_like_layout
from .allocation import check_bytes
from .helpers import describe_layout, drop_batch_axis
from .module import Module
from .global_pool import last_nan_or_first_max
from .registry import register_layer


def adaptive_output_size(output_size, in_shape, ndim: int, owner: str) -> tuple[int, ...]:
    """Check ``in_shape`` is ``(N, C, *S)`` (or unbatched ``(C, *S)``) with ``ndim`` spatial axes,
    none empty, and resolve the output sizes.

    ``output_size`` is an int or ``ndim`` entries, each a positive int or ``None`` (keep that
    axis' input size), as in PyTorch.
    """
    in_shape = tuple(in_shape)
    if len(in_shape) not in (ndim + 1, ndim + 2) or 0 in in_shape[-ndim:]:
        layout = describe_layout(ndim, in_shape) + " with no empty spatial axis"
        raise expected_input(owner, layout, in_shape)
    sizes = check_output_size(output_size, ndim, owner)
    return tuple(s if o is None else o for o, s in zip(sizes, in_shape[-ndim:]))


def check_output_bytes(owner: str, x: Tensor, out_sizes) -> None:
    """Refuse an output ``(N, C, *out_sizes)`` that would not fit in memory (``allocation``)."""
    lead = x.shape[:x.ndim - len(out_sizes)]
    check_bytes(owner, math.prod(lead) * math.prod(out_sizes) * x.data.itemsize, f"its output {lead + out_sizes}",
                x.shape)


def check_output_size(output_size, ndim: int, owner: str) -> tuple:
    """``output_size`` as ``ndim`` entries (positive ints or ``None``), or a ``TypeError``/``ValueError``."""
    def ok(v):
        return v is None or is_int(v)

    values = (output_size,) * ndim if ok(output_size) else output_size
    if not isinstance(values, (tuple, list)) or len(values) != ndim or not all(ok(v) for v in values):
        raise TypeError(f"{owner}: output_size must be an int or a tuple of {ndim} ints (or None), "
                        f"got {output_size!r}")
    if any(v is not None and v < 1 for v in values):
        raise ValueError(f"{owner}: output_size must be >= 1, got {output_size!r}")
    return tuple(None if v is None else int(v) for v in values)


def _average_bins(x: np.ndarray, axis: int, starts, ends) -> np.ndarray:
    """Mean of every bin along ``axis``: ``(..., S, ...) -> (..., O, ...)``, in ``x``'s layout."""
    lead = (slice(None),) * axis
    out = empty_like_layout(x, x.shape[:axis] + (len(starts),) + x.shape[axis + 1:])   # (..., O, ...), x's layout
    for i, (s, e) in enumerate(zip(starts, ends)):
        out[lead + (slice(i, i + 1),)] = x[lead + (slice(s, e),)].mean(axis=axis, keepdims=True)
    return out


def _spread_bins(xp, g: np.ndarray, axis: int, size: int, starts, ends) -> np.ndarray:
    """Adjoint of ``_average_bins``: ``(..., O, ...) -> (..., S, ...)``, each bin's gradient shared
    equally over its pixels; pixels in two bins receive from both."""
    lead = (slice(None),) * axis
    shape = g.shape[:axis] + (size,) + g.shape[axis + 1:]
    out = xp.zeros_like(g, shape=shape)                                 # (..., S, ...), g's layout
    for i, (s, e) in enumerate(zip(starts, ends)):
        out[lead + (slice(s, e),)] += g[lead + (slice(i, i + 1),)] / (e - s)   # (..., 1, ...) broadcast
    return out


def adaptive_avg_pool(x, ndim: int, output_size, owner: str | None = None) -> Tensor:
    """Adaptive average pooling over the last ``ndim`` axes of ``(N, C, *S)``.

    Args:
        x: the input ``(N, C, *S)`` or ``(C, *S)``.
        ndim: the number of pooled axes, 1 to 3.
        output_size: the output's spatial size: an int, or one per axis (``None`` keeps that axis).
        owner: the name error messages give.

    Shape: ``(N, C, *S) -> (N, C, *O)`` with ``O = output_size`` (``None`` entries keep ``S``);
    output ``[..., i]`` averages input ``[..., floor(i*S/O) : ceil((i+1)*S/O)]`` on every axis.

    Example:
        >>> adaptive_avg_pool(np.zeros((1, 2, 7, 9)), 2, 3).shape
        (1, 2, 3, 3)
    """
    x = as_tensor(x)
    owner = owner or f"adaptive_avg_pool{ndim}d"
    out_sizes = adaptive_output_size(output_size, x.shape, ndim, owner)
    check_output_bytes(owner, x, out_sizes)
    if x.ndim == ndim + 1:                                              # unbatched (C, *S), as PyTorch
        return drop_batch_axis(adaptive_avg_pool(x.unsqueeze(0), ndim, output_size, owner))
    xp = namespace(x.data)
    in_sizes = x.shape[2:]
    axes = [(2 + a, s, adaptive_bins(s, o)) for a, (s, o) in enumerate(zip(in_sizes, out_sizes)) if s != o]
    out = x.data                                                        # (N, C, *S)
    for axis, _, (starts, ends) in axes:
        out = _average_bins(out, axis, starts, ends)                    # axis: S_a -> O_a
    if not axes:
        out = out.copy(order="K")                                       # (N, C, *O), O == S, same layout

    def backward(g):
        for axis, size, (starts, ends) in reversed(axes):
            g = _spread_bins(xp, g, axis, size, starts, ends)           # axis: O_a -> S_a
        return (g,)                                                     # (N, C, *S)
    return Tensor.from_op(out, (x,), backward, f"adaptive_avg_pool{ndim}d")


def _max_bins(xp, x: np.ndarray, coords: list, axis: int, starts, ends):
    """First maximum of every bin along ``axis``: ``(..., S, ...) -> (..., O, ...)``, with the input
    coordinates on the axes already reduced (``coords``, gathered at the winners) and on this one
    (``xp``: ``x``'s namespace)."""
    lead = (slice(None),) * axis
    values, found = [], [[] for _ in range(len(coords) + 1)]
    for s, e in zip(starts, ends):
        part = x[lead + (slice(s, e),)]                                 # (..., e - s, ...)
        at = xp.expand_dims(last_nan_or_first_max(part, axis, xp), axis)   # (..., 1, ...): first maximum
        values.append(xp.take_along_axis(part, at, axis))
        for c, kept in zip(coords, found):
            kept.append(xp.take_along_axis(c[lead + (slice(s, e),)], at, axis))
        found[-1].append(at + s)
    return xp.concatenate(values, axis=axis), [xp.concatenate(k, axis=axis) for k in found]


def adaptive_max_pool(x, ndim: int, output_size, return_indices: bool = False, *, owner: str | None = None):
    """Adaptive max pooling over the last ``ndim`` axes of ``(N, C, *S)``.

    Args:
        x: the input ``(N, C, *S)`` or ``(C, *S)``.
        ndim: the number of pooled axes, 1 to 3.
        output_size: the output's spatial size: an int, or one per axis (``None`` keeps that axis).
        return_indices: also return the indices of the maxima.
        owner: the name error messages give.

    Shape: ``(N, C, *S) -> (N, C, *O)``; output ``[..., i]`` is the maximum of input
    ``[..., floor(i*S/O) : ceil((i+1)*S/O)]`` on every axis (ties: the first in scan order). With
    ``return_indices``, also each maximum's flat index in its channel's input plane (int64 array).

    Example:
        >>> adaptive_max_pool(np.zeros((1, 2, 7, 9)), 2, 3).shape
        (1, 2, 3, 3)
    """
    x = as_tensor(x)
    owner = owner or f"adaptive_max_pool{ndim}d"
    out_sizes = adaptive_output_size(output_size, x.shape, ndim, owner)
    check_output_bytes(owner, x, out_sizes)
    if x.ndim == ndim + 1:                                              # unbatched (C, *S), as PyTorch
        return drop_batch_axis(adaptive_max_pool(x.unsqueeze(0), ndim, output_size, return_indices, owner=owner))
    xp = namespace(x.data)
    in_sizes = x.shape[2:]
    out, coords = x.data, []                                            # coords: input index per reduced axis
    for a in reversed(range(ndim)):                                     # last axis first: row-major first maximum
        out, coords = _max_bins(xp, out, coords, 2 + a, *adaptive_bins(in_sizes[a], out_sizes[a]))
    flat = xp.zeros(out.shape, dtype=np.int64)                          # (N, C, *O)
    for a, c in zip(reversed(range(ndim)), coords):
        flat += c * math.prod(in_sizes[a + 1:])
    n, c = x.shape[:2]
    plane = math.prod(in_sizes)

    def backward(g):
        rows = xp.arange(n * c).reshape(n, c, *(1,) * ndim) * plane     # (N, C, 1, ...): each plane's offset
        summed = xp.bincount((rows + flat).ravel(), weights=g.ravel(), minlength=n * c * plane)
        return (summed.reshape(x.shape).astype(g.dtype, copy=False),)   # (N, C, *S)
    result = Tensor.from_op(out, (x,), backward, f"adaptive_max_pool{ndim}d")
    return (result, flat) if return_indices else result


def adaptive_max_pool1d(x, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool1d``: ``(N, C, L) -> (N, C, output_size)``.

    Args:
        x: the input ``(N, C, L)`` or ``(C, L)``.
        output_size: the output length.
        return_indices: also return the indices of the maxima.

    Example:
        >>> adaptive_max_pool1d(np.array([[[1.0, 3.0, 5.0, 2.0]]]), 2).numpy().tolist()
        [[[3.0, 5.0]]]
    """
    return adaptive_max_pool(x, 1, output_size, return_indices)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool2d``: ``(N, C, H, W) -> (N, C, *output_size)``.

    Args:
        x: the input ``(N, C, H, W)`` or ``(C, H, W)``.
        output_size: an int or ``(O_h, O_w)`` (``None`` keeps the input's size).
        return_indices: also return the indices of the maxima.

    >>> adaptive_max_pool2d(np.arange(12.0).reshape(1, 1, 3, 4), (2, 2)).numpy().tolist()
    [[[[5.0, 7.0], [9.0, 11.0]]]]
    """
    return adaptive_max_pool(x, 2, output_size, return_indices)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool3d``: ``(N, C, D, H, W) -> (N, C, *output_size)``.

    Args:
        x: the input ``(N, C, D, H, W)``.
        output_size: an int or 3 sizes.
        return_indices: also return the indices of the maxima.

    Example:
        >>> adaptive_max_pool3d(np.zeros((1, 2, 4, 5, 6)), 1).shape
        (1, 2, 1, 1, 1)
    """
    return adaptive_max_pool(x, 3, output_size, return_indices)


def adaptive_avg_pool1d(x, output_size) -> Tensor:
    """``(N, C, L) -> (N, C, output_size)``; see ``adaptive_avg_pool``.

    Args:
        x: the input ``(N, C, L)`` or ``(C, L)``.
        output_size: the output length.

    Example:
        >>> adaptive_avg_pool1d(np.array([[[1.0, 3.0, 5.0, 7.0]]]), 2).numpy().tolist()
        [[[2.0, 6.0]]]
    """
    return adaptive_avg_pool(x, 1, output_size)


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """``(N, C, H, W) -> (N, C, *output_size)``, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Args:
        x: the input ``(N, C, H, W)`` or ``(C, H, W)``.
        output_size: an int or ``(O_h, O_w)`` (``None`` keeps the input's size).

    >>> adaptive_avg_pool2d(np.arange(12.0).reshape(1, 1, 3, 4), (2, 2)).numpy().tolist()
    [[[[2.5, 4.5], [6.5, 8.5]]]]
    """
    return adaptive_avg_pool(x, 2, output_size)


def adaptive_avg_pool3d(x, output_size) -> Tensor:
    """``(N, C, D, H, W) -> (N, C, *output_size)``; see ``adaptive_avg_pool``.

    Args:
        x: the input ``(N, C, D, H, W)``.
        output_size: an int or 3 sizes.

    Example:
        >>> adaptive_avg_pool3d(np.zeros((1, 2, 4, 5, 6)), (2, 1, 3)).shape
        (1, 2, 2, 1, 3)
    """
    return adaptive_avg_pool(x, 3, output_size)


class _AdaptivePoolNd(Module):
    """Shared body of the adaptive pooling layers (``ndim`` set by each subclass).

    Receptive field: exact when the bins form a regular sliding window (the output size divides
    the input size, the identity, global pooling, ``7 -> 3``); otherwise approximated by a
    window of the largest bin at the mean step ``S / O`` (a fractional jump) whose centres lie
    within half a pixel of the true bin centres (``geometry.adaptive_window``).
    """

    ndim = 0

    def __init__(self, output_size):
        super().__init__()
        check_output_size(output_size, self.ndim, type(self).__name__)
        self.output_size = output_size

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim]) + adaptive_output_size(self.output_size, in_shape, self.ndim,
                                                                   self._describe())

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        out = adaptive_output_size(self.output_size, in_shape, self.ndim, self._describe())
        kernel, stride, pad_lo = zip(*(adaptive_window(s, o) for s, o in zip(in_shape[-self.ndim:], out)))
        return rf.through_window(kernel, stride, pad_lo, (1,) * self.ndim)

    def extra_repr(self) -> str:
        text = f"output_size={self.output_size!r}"
        return text + (", return_indices=True" if getattr(self, "return_indices", False) else "")


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    def forward(self, x) -> Tensor:
        return adaptive_avg_pool(x, self.ndim, self.output_size, self._describe())


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """With ``return_indices`` the forward returns ``(output, indices)``; the static rules describe the output."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        if not isinstance(return_indices, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: return_indices must be a bool, got {return_indices!r}")
        self.return_indices = bool(return_indices)

    def forward(self, x):
        return adaptive_max_pool(x, self.ndim, self.output_size, self.return_indices, owner=self._describe())


@register_layer(example=lambda: (AdaptiveAvgPool1d(4), (2, 3, 8)))
class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Adaptive average pooling over ``(N, C, L)``. Shape: ``(N, C, L) -> (N, C, output_size)``.

    Args:
        output_size: the output length ``O``; bin ``i`` averages ``[floor(i*L/O), ceil((i+1)*L/O))``.

    Example:
        >>> AdaptiveAvgPool1d(2)(np.array([[[1.0, 3.0, 5.0, 7.0]]])).numpy().tolist()
        [[[2.0, 6.0]]]
    """

    ndim = 1


@register_layer(example=lambda: (AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 6)))
class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Adaptive average pooling over ``(N, C, H, W)``; torchvision's AlexNet pools to ``(6, 6)``, VGG to ``(7, 7)``.

    Args:
        output_size: the output's ``(O_h, O_w)``, or an int for a square; a ``None`` entry keeps that axis.

    Shape: ``(N, C, H, W) -> (N, C, O_h, O_w)``; ``output_size`` is an int, or a pair whose
    ``None`` entries keep the input size. No parameters, no MACs (pooling is not counted).

    >>> AdaptiveAvgPool2d((7, 7)).output_shape((1, 512, 9, 12))
    (1, 512, 7, 7)
    """

    ndim = 2


@register_layer(example=lambda: (AdaptiveAvgPool3d((2, 1, 3)), (1, 2, 4, 3, 3)))
class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Adaptive average pooling over ``(N, C, D, H, W)``. Shape: ``-> (N, C, O_d, O_h, O_w)``.

    Args:
        output_size: an int or ``(O_d, O_h, O_w)`` (``None`` keeps that axis).

    Example:
        >>> AdaptiveAvgPool3d(1)(np.zeros((1, 2, 4, 5, 6))).shape
        (1, 2, 1, 1, 1)
    """

    ndim = 3


@register_layer(example=lambda: (AdaptiveMaxPool1d(3), (2, 3, 7)))
class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Adaptive max pooling over ``(N, C, L)``. Shape: ``(N, C, L) -> (N, C, output_size)``.

    Args:
        output_size: the output length.
        return_indices: the forward returns ``(output, indices)``.

    Example:
        >>> AdaptiveMaxPool1d(2)(np.array([[[1.0, 3.0, 5.0, 2.0]]])).numpy().tolist()
        [[[3.0, 5.0]]]
    """

    ndim = 1


@register_layer(example=lambda: (AdaptiveMaxPool2d((3, None)), (2, 3, 7, 4)))
class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Adaptive max pooling over ``(N, C, H, W)``: the maximum of each of ``O_h x O_w`` bins.

    Args:
        output_size: the output's ``(O_h, O_w)``, or an int for a square; a ``None`` entry keeps that axis.
        return_indices: the forward returns ``(output, indices)``, each maximum's flat index in its
            input plane (an int64 array).

    Shape: ``(N, C, H, W) -> (N, C, O_h, O_w)``; the bins and the receptive field are adaptive
    average pooling's.

    >>> AdaptiveMaxPool2d((7, 7)).output_shape((1, 512, 9, 12))
    (1, 512, 7, 7)
    """

    ndim = 2


@register_layer(example=lambda: (AdaptiveMaxPool3d((2, 1, 3)), (1, 2, 4, 3, 5)))
class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Adaptive max pooling over ``(N, C, D, H, W)``. Shape: ``-> (N, C, O_d, O_h, O_w)``.

    Args:
        output_size: an int or ``(O_d, O_h, O_w)``.
        return_indices: the forward returns ``(output, indices)``.

    Example:
        >>> AdaptiveMaxPool3d(1)(np.zeros((1, 2, 4, 5, 6))).shape
        (1, 2, 1, 1, 1)
    """

    ndim = 3
