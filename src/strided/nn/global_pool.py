"""Global pooling: the mean or the maximum of each channel over every spatial position.

``global_max_pool`` follows PyTorch's ``adaptive_max_pool*d(x, 1)`` at edge values: the gradient
goes to the first maximum, or to the last NaN where a channel holds one
(``last_nan_or_first_max``, which adaptive max pooling uses too).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import backend_of, namespace
from ..errors import expected_input
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .helpers import expected_batched_input
from .module import Module
from .registry import register_layer


def _check_spatial(x: Tensor, owner: str) -> None:
    if x.ndim < 3:
        raise expected_input(owner, "(N, C, *spatial) with at least one spatial axis", x.shape)
    if math.prod(x.shape[2:]) == 0:
        raise expected_input(owner, "(N, C, *spatial) with no empty spatial axis", x.shape)


def last_nan_or_first_max(a: np.ndarray, axis: int, xp=None) -> np.ndarray:
    """Index along ``axis`` of the first maximum, or of the last NaN where there is one (PyTorch's
    CPU rule for max pooling: a NaN replaces the running maximum, nothing replaces a NaN but a NaN).

    ``xp``: ``a``'s namespace, when the caller has it at hand (default: looked up).

    Shape: ``a`` with ``axis`` removed, int64.
    """
    xp = namespace(a) if xp is None else xp
    first = a.argmax(axis=axis)                                         # NumPy: the first NaN, else the first max
    best = xp.take_along_axis(a, xp.expand_dims(first, axis), axis)
    if not xp.isnan(best).any():
        return first
    size = a.shape[axis]
    last_nan = size - 1 - xp.flip(xp.isnan(a), axis=axis).argmax(axis=axis)
    return xp.where(xp.isnan(xp.squeeze(best, axis)), last_nan, first)


def global_avg_pool(x, keepdims: bool = False) -> Tensor:
    """Mean over every spatial axis. Shape: ``(N, C, *S) -> (N, C)`` (or ``(N, C, 1, ...)`` with keepdims).

    Args:
        x: the input ``(N, C, *S)``.
        keepdims: keep the spatial axes, of size 1.

    Example:
        >>> global_avg_pool(np.arange(8.0).reshape(1, 2, 2, 2)).numpy().tolist()
        [[1.5, 5.5]]
    """
    x = as_tensor(x)
    _check_spatial(x, "global_avg_pool")
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=keepdims)


def global_max_pool(x, keepdims: bool = False) -> Tensor:
    """Maximum over every spatial axis; the gradient goes to the first maximum, or to the last NaN
    where there is one (PyTorch's ``adaptive_max_pool*d(x, 1)``).

    Args:
        x: the input ``(N, C, *S)``.
        keepdims: keep the spatial axes, of size 1.

    Shape: ``(N, C, *S) -> (N, C)`` (or ``(N, C, 1, ...)`` with keepdims).

    Example:
        >>> global_max_pool(np.arange(8.0).reshape(1, 2, 2, 2)).numpy().tolist()
        [[3.0, 7.0]]
    """
    x = as_tensor(x)
    _check_spatial(x, "global_max_pool")
    xp = namespace(x.data)
    n, c = x.shape[:2]
    flat = x.data.reshape(n, c, math.prod(x.shape[2:]))                 # (N, C, P)
    where = last_nan_or_first_max(flat, 2, xp)                          # (N, C)
    out = xp.take_along_axis(flat, where[..., None], axis=2)[..., 0]    # (N, C)
    out_shape = (n, c) + (1,) * (x.ndim - 2) if keepdims else (n, c)

    def backward(g):
        gflat = xp.zeros(flat.shape, dtype=g.dtype)                     # (N, C, P)
        backend_of(gflat).put_along_axis(gflat, where[..., None], g.reshape(n, c, 1), 2)
        return (gflat.reshape(x.shape),)
    return Tensor.from_op(out.reshape(out_shape), (x,), backward, "global_max_pool")



class _GlobalPool(Module):
    def __init__(self, keepdims: bool = False):
        super().__init__()
        self.keepdims = keepdims

    def _check(self, in_shape):
        if len(in_shape) < 3:                                           # (C, L) is one axis short: hint x[None]
            raise expected_batched_input(self._describe(), "(N, C, *spatial)", in_shape, 3)

    def output_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape[:2]) + ((1,) * (len(in_shape) - 2) if self.keepdims else ())

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return rf.through_global(tuple(in_shape[2:]))

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""


@register_layer(example=lambda: (GlobalAvgPool(), (2, 3, 4, 5)))
class GlobalAvgPool(_GlobalPool):
    """Average of each channel over all spatial positions. Shape: ``(N, C, *S) -> (N, C)``.

    Args:
        keepdims: keep the spatial axes, of size 1: ``(N, C, 1, ..., 1)`` (default off).

    Example:
        >>> GlobalAvgPool()(np.arange(8.0).reshape(1, 2, 2, 2)).numpy().tolist()
        [[1.5, 5.5]]
    """

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return global_avg_pool(x, self.keepdims)


@register_layer(example=lambda: (GlobalMaxPool(keepdims=True), (2, 3, 6)))
class GlobalMaxPool(_GlobalPool):
    """Maximum of each channel over all spatial positions. Shape: ``(N, C, *S) -> (N, C)``.

    Args:
        keepdims: keep the spatial axes, of size 1: ``(N, C, 1, ..., 1)`` (default off).

    Example:
        >>> GlobalMaxPool(keepdims=True)(np.arange(8.0).reshape(1, 2, 2, 2)).shape
        (1, 2, 1, 1)
    """

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return global_max_pool(x, self.keepdims)
