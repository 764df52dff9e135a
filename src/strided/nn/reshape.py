"""Layers that only move values: pixel (un)shuffle, unflatten and the identity.

``pixel_shuffle`` turns ``r * r`` channels into an ``r x r`` block of pixels (the sub-pixel
convolution of Shi et al., 2016, for super-resolution) and ``pixel_unshuffle`` is its inverse;
each is a reshape, a transpose and a reshape, and each is the other's backward (a permutation's
adjoint is its inverse).
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import as_int, is_int
from ..errors import expected_input
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .helpers import describe_layout
from .module import Module
from .registry import register_layer


def _shuffle(a: np.ndarray, r: int) -> np.ndarray:
    """``(*, C*r*r, H, W) -> (*, C, H*r, W*r)``: ``out[..., c, h*r + i, w*r + j] = a[..., c*r*r + i*r + j, h, w]``."""
    *lead, c, h, w = a.shape
    m = len(lead)
    blocks = a.reshape(*lead, c // (r * r), r, r, h, w)                 # (*, C, i, j, H, W)
    moved = blocks.transpose(*range(m), m, m + 3, m + 1, m + 4, m + 2)  # (*, C, H, i, W, j)
    return moved.reshape(*lead, c // (r * r), h * r, w * r)             # (*, C, H*r, W*r)


def _unshuffle(a: np.ndarray, r: int) -> np.ndarray:
    """The inverse of ``_shuffle``: ``(*, C, H*r, W*r) -> (*, C*r*r, H, W)``."""
    *lead, c, hr, wr = a.shape
    m = len(lead)
    blocks = a.reshape(*lead, c, hr // r, r, wr // r, r)                # (*, C, H, i, W, j)
    moved = blocks.transpose(*range(m), m, m + 2, m + 4, m + 1, m + 3)  # (*, C, i, j, H, W)
    return moved.reshape(*lead, c * r * r, hr // r, wr // r)            # (*, C*r*r, H, W)


def _check_shuffle(shape, r: int, owner: str, up: bool) -> None:
    if len(shape) < 3:
        raise expected_input(owner, "(*, C, H, W)", shape)
    if up and shape[-3] % (r * r):
        raise expected_input(owner, f"(*, C, H, W) with C divisible by upscale_factor**2 = {r * r}", shape)
    if not up and (shape[-2] % r or shape[-1] % r):
        raise expected_input(owner, f"(*, C, H, W) with H and W divisible by downscale_factor = {r}", shape)


def pixel_shuffle(x, upscale_factor: int, owner: str = "pixel_shuffle") -> Tensor:
    """Rearrange ``(*, C * r^2, H, W)`` into ``(*, C, H * r, W * r)``, ``r = upscale_factor``.

    Args:
        x: the input ``(*, C * r^2, H, W)``, at least 3-D, its channels divisible by ``r^2``.
        upscale_factor: ``r``, the factor that multiplies height and width (and divides the channels by ``r^2``).
        owner: the layer name that error messages start with (default ``pixel_shuffle``).

    Shape: ``(*, C r^2, H, W) -> (*, C, H r, W r)``.

    >>> pixel_shuffle(np.arange(4.0).reshape(1, 4, 1, 1), 2).data[0, 0].tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    x = as_tensor(x)
    r = as_int(upscale_factor, "upscale_factor", owner)
    _check_shuffle(x.shape, r, owner, up=True)
    return Tensor.from_op(_shuffle(x.data, r), (x,), lambda g: (_unshuffle(g, r),), "pixel_shuffle")


def pixel_unshuffle(x, downscale_factor: int, owner: str = "pixel_unshuffle") -> Tensor:
    """Rearrange ``(*, C, H * r, W * r)`` into ``(*, C * r^2, H, W)``, ``r = downscale_factor``.

    Args:
        x: the input ``(*, C, H * r, W * r)``, at least 3-D, its height and width divisible by ``r``.
        downscale_factor: ``r``, the factor that divides height and width (and multiplies the channels by ``r^2``).
        owner: the layer name that error messages start with (default ``pixel_unshuffle``).

    Shape: ``(*, C, H r, W r) -> (*, C r^2, H, W)``.

    Example:
        >>> pixel_unshuffle(np.zeros((1, 3, 4, 6)), 2).shape
        (1, 12, 2, 3)
    """
    x = as_tensor(x)
    r = as_int(downscale_factor, "downscale_factor", owner)
    _check_shuffle(x.shape, r, owner, up=False)
    return Tensor.from_op(_unshuffle(x.data, r), (x,), lambda g: (_shuffle(g, r),), "pixel_unshuffle")


@register_layer(example=lambda: (PixelShuffle(2), (2, 8, 3, 2)))
class PixelShuffle(Module):
    """Sub-pixel up-sampling: ``(N, C * r^2, H, W) -> (N, C, H * r, W * r)``, ``r = upscale_factor``.

    Args:
        upscale_factor: ``r``, the factor that multiplies height and width; the input's channels must be
            divisible by ``r^2``.

    Shape: ``(N, C r^2, H, W) -> (N, C, H r, W r)``. Receptive field: output pixel ``o`` copies
    input pixel ``floor(o / r)``, the footprint of a transposed window of kernel ``r`` and stride
    ``r`` (``ReceptiveField.through_transposed_window``: jump ``1/r``, an envelope).

    >>> PixelShuffle(3).output_shape((1, 18, 4, 5))
    (1, 2, 12, 15)
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = as_int(upscale_factor, "upscale_factor", "PixelShuffle")

    def _check(self, shape):
        if len(shape) not in (3, 4):
            raise expected_input(self._describe(), describe_layout(2, shape), shape)
        _check_shuffle(shape, self.upscale_factor, self._describe(), up=True)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return pixel_shuffle(x, self.upscale_factor, self._describe())

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        *n, c, h, w = in_shape                                          # (N, C, H, W) or unbatched (C, H, W)
        r = self.upscale_factor
        return (*n, c // (r * r), h * r, w * r)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        self._check(tuple(in_shape))
        r = (self.upscale_factor,) * 2
        return rf.through_transposed_window(r, r, (0, 0), (1, 1))

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


@register_layer(example=lambda: (PixelUnshuffle(2), (2, 2, 4, 6)))
class PixelUnshuffle(Module):
    """The inverse of ``PixelShuffle``: ``(N, C, H * r, W * r) -> (N, C * r^2, H, W)``, ``r = downscale_factor``.

    Args:
        downscale_factor: ``r``, the factor that divides height and width; the input's height and width
            must be divisible by ``r``.

    Shape: ``(N, C, H r, W r) -> (N, C r^2, H, W)``. Receptive field: each output pixel gathers an
    ``r x r`` block, a window of kernel ``r`` and stride ``r`` (exact).

    Example:
        >>> PixelUnshuffle(2)(np.zeros((1, 3, 4, 6))).shape
        (1, 12, 2, 3)
    """

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = as_int(downscale_factor, "downscale_factor", "PixelUnshuffle")

    def _check(self, shape):
        if len(shape) not in (3, 4):
            raise expected_input(self._describe(), describe_layout(2, shape), shape)
        _check_shuffle(shape, self.downscale_factor, self._describe(), up=False)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return pixel_unshuffle(x, self.downscale_factor, self._describe())

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        *n, c, h, w = in_shape                                          # (N, C, H, W) or unbatched (C, H, W)
        r = self.downscale_factor
        return (*n, c * r * r, h // r, w // r)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        self._check(tuple(in_shape))
        r = (self.downscale_factor,) * 2
        return rf.through_window(r, r, (0, 0), (1, 1))

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


@register_layer(example=lambda: (Unflatten(1, (2, -1)), (4, 6)))
class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (one entry may be -1, inferred), as ``torch.nn.Unflatten``.

    Args:
        dim: the axis to split (negative counts from the end).
        unflattened_size: the sizes it splits into, a tuple of positive ints with at most one -1 (inferred).

    Shape: ``(*, S_dim, *) -> (*, U_1, ..., U_k, *)`` with ``prod(U) = S_dim``; the usual use is
    ``(N, C*H*W) -> (N, C, H, W)`` after a dense layer. Receptive field: an input without spatial
    axes has none to track (unchanged); when the rank changes, an input with spatial axes is taken
    as wholly seen (the convention of ``Flatten``), and a split into one axis changes nothing.

    >>> Unflatten(1, (16, 7, 7)).output_shape((8, 784))
    (8, 16, 7, 7)
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        name = "Unflatten"
        if not is_int(dim):
            raise TypeError(f"{name}: dim must be an int, got {dim!r}")
        sizes = unflattened_size
        if not isinstance(sizes, (tuple, list)) or not sizes or not all(is_int(v) for v in sizes):
            raise TypeError(f"{name}: unflattened_size must be a tuple of ints, got {unflattened_size!r}")
        if sum(v == -1 for v in sizes) > 1 or any(v < 1 and v != -1 for v in sizes):
            raise ValueError(f"{name}: unflattened_size must hold positive ints and at most one -1, "
                             f"got {unflattened_size!r}")
        self.dim = int(dim)
        self.unflattened_size = tuple(int(v) for v in sizes)

    def _out_shape(self, shape) -> tuple[int, ...]:
        shape = tuple(shape)
        dim = self.dim + len(shape) if self.dim < 0 else self.dim
        if not 0 <= dim < len(shape):
            raise expected_input(self._describe(), f"an axis dim={self.dim}", shape)
        known = int(math.prod(v for v in self.unflattened_size if v != -1))
        n = shape[dim]
        if n % known or (-1 not in self.unflattened_size and n != known):
            raise expected_input(self._describe(), f"axis {self.dim} of a size that unflattens into "
                                                   f"{self.unflattened_size}", shape)
        sizes = tuple(n // known if v == -1 else v for v in self.unflattened_size)
        return shape[:dim] + sizes + shape[dim + 1:]

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        return x.reshape(self._out_shape(x.shape))

    def output_shape(self, in_shape):
        return self._out_shape(in_shape)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        out = self._out_shape(in_shape)
        if len(in_shape) <= 2 or len(out) == len(in_shape):
            return rf
        return rf.through_global(tuple(in_shape[2:]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


@register_layer(example=lambda: (Identity(54, unused_argument=0.1), (2, 3, 4)))
class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments, as PyTorch's.

    Args:
        *args: ignored (so that it can stand in for any layer's constructor call).
        **kwargs: ignored.

    Shape: any, unchanged. A placeholder where a layer is optional (a removed classifier head).

    Example:
        >>> Identity(54, unused=True)(np.array([1.0, 2.0])).numpy().tolist()
        [1.0, 2.0]
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x) -> Tensor:
        return as_tensor(x)
