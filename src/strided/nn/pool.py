"""Max, average and global pooling in 1, 2 and 3 dimensions, with their backward passes.

Windowed pooling walks the kernel taps (``Window.taps``): the forward pass is
``np.maximum`` (or a sum) over ``prod(kernel)`` strided slices of the padded input, and the
backward pass adds the gradient back through the same slices. Overlapping windows (AlexNet's
3x3 stride 2) are fine. Max-pool ties go to the first maximum in scan order, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..errors import expected_input
from ..geometry import ReceptiveField, Window, check_window, explicit_padding, resolve_window
from ..tensor import Tensor, as_tensor
from ..windows import empty_like_layout, pad, unpad
from .helpers import expected_layout
from .module import Module
from .registry import register_layer


def pool_window(in_shape, ndim: int, kernel_size, stride, padding, owner: str) -> Window:
    """Check a pooling call against ``in_shape`` and resolve its (undilated) ``Window``.

    ``stride=None`` means the kernel size; no side may be padded by more than half the kernel.
    """
    if len(in_shape) != ndim + 2:
        raise expected_input(owner, expected_layout(ndim), in_shape)
    window = resolve_window(in_shape[2:], kernel_size, stride, 1, padding, owner=owner, in_shape=in_shape)
    _check_half_kernel(window.pads, window.kernel, padding, owner)
    return window


def _check_half_kernel(pads, kernel, padding, owner: str) -> None:
    if any(max(lo, hi) > k // 2 for (lo, hi), k in zip(pads, kernel)):
        raise ValueError(f"{owner}: padding must be at most half the kernel size {kernel}, got {padding!r}")


def max_pool(x, ndim: int, kernel_size, stride=None, padding=0, owner: str | None = None) -> Tensor:
    """Max pooling over the last ``ndim`` axes; padded positions never win (they hold -inf).

    Shape: ``(N, C, *S) -> (N, C, *O)``, ``O = floor((S + lo + hi - K) / stride) + 1``.
    """
    x = as_tensor(x)
    owner = owner or f"max_pool{ndim}d"
    window = pool_window(x.shape, ndim, kernel_size, stride, padding, owner)
    xp = pad(x.data, window.pads, value=-np.inf)                        # (N, C, *Sp)
    slices = window.tap_slices                                          # one index per kernel offset
    out = empty_like_layout(xp, x.shape[:2] + window.out_sizes)         # (N, C, *O), in the input's layout
    if len(slices) == 1:
        np.copyto(out, xp[slices[0]])
    else:
        np.maximum(xp[slices[0]], xp[slices[1]], out=out)
        for index in slices[2:]:
            np.maximum(out, xp[index], out=out)

    def backward(g):
        # windows that tile the input exactly get each gradient by assignment; others accumulate.
        # Every buffer takes the input's memory layout, so the loops below run over long contiguous runs.
        tiles = window.tiles
        gxp = empty_like_layout(xp, xp.shape, g.dtype) if tiles else np.zeros_like(xp, dtype=g.dtype)
        left = empty_like_layout(out, out.shape, g.dtype)               # (N, C, *O): gradient not routed yet
        np.copyto(left, g)
        routed = left if tiles else np.empty_like(left)
        for i, index in enumerate(slices):
            hit = np.equal(xp[index], out)                              # (N, C, *O)
            if tiles:
                routed = gxp[index]
            np.multiply(left, hit, out=routed)                          # the gradient of this offset's maxima
            if not tiles:
                gxp[index] += routed
            if i + 1 < len(slices):
                left -= routed                                          # first maximum wins ties
        return (unpad(gxp, window.pads),)
    return Tensor.from_op(out, (x,), backward, f"max_pool{ndim}d")


def avg_pool(x, ndim: int, kernel_size, stride=None, padding=0, count_include_pad: bool = True,
             owner: str | None = None) -> Tensor:
    """Average pooling over the last ``ndim`` axes.

    With ``count_include_pad`` (PyTorch's default) every window divides by ``prod(kernel)``;
    without it, by the number of real (unpadded) inputs in the window.

    Shape: ``(N, C, *S) -> (N, C, *O)``, ``O = floor((S + lo + hi - K) / stride) + 1``.
    """
    x = as_tensor(x)
    owner = owner or f"avg_pool{ndim}d"
    window = pool_window(x.shape, ndim, kernel_size, stride, padding, owner)
    xp = pad(x.data, window.pads)                                       # (N, C, *Sp)
    total = empty_like_layout(xp, x.shape[:2] + window.out_sizes)       # (N, C, *O), in the input's layout
    total[...] = 0
    for _, index in window.taps:
        total += xp[index]
    if count_include_pad:
        divisor = float(np.prod(window.kernel))
    else:
        mask = pad(np.ones((1, 1) + x.shape[2:], dtype=xp.dtype), window.pads)   # (1, 1, *Sp)
        divisor = sum(mask[index] for _, index in window.taps)                    # (1, 1, *O)
    out = total / divisor

    def backward(g):
        share = g / divisor                                             # (N, C, *O)
        gxp = np.zeros_like(xp, dtype=g.dtype)                          # (N, C, *Sp), in the input's layout
        for _, index in window.taps:
            gxp[index] += share
        return (unpad(gxp, window.pads),)
    return Tensor.from_op(out, (x,), backward, f"avg_pool{ndim}d")


def max_pool1d(x, kernel_size, stride=None, padding=0) -> Tensor:
    return max_pool(x, 1, kernel_size, stride, padding)


def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    return max_pool(x, 2, kernel_size, stride, padding)


def max_pool3d(x, kernel_size, stride=None, padding=0) -> Tensor:
    return max_pool(x, 3, kernel_size, stride, padding)


def avg_pool1d(x, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> Tensor:
    return avg_pool(x, 1, kernel_size, stride, padding, count_include_pad)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> Tensor:
    return avg_pool(x, 2, kernel_size, stride, padding, count_include_pad)


def avg_pool3d(x, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> Tensor:
    return avg_pool(x, 3, kernel_size, stride, padding, count_include_pad)


def _check_spatial(x: Tensor, owner: str) -> None:
    if x.ndim < 3:
        raise expected_input(owner, "(N, C, *spatial) with at least one spatial axis", x.shape)


def global_avg_pool(x, keepdims: bool = False) -> Tensor:
    """Mean over every spatial axis. Shape: ``(N, C, *S) -> (N, C)`` (or ``(N, C, 1, ...)`` with keepdims)."""
    x = as_tensor(x)
    _check_spatial(x, "global_avg_pool")
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=keepdims)


def global_max_pool(x, keepdims: bool = False) -> Tensor:
    """Maximum over every spatial axis; the gradient goes to the first maximum.

    Shape: ``(N, C, *S) -> (N, C)`` (or ``(N, C, 1, ...)`` with keepdims).
    """
    x = as_tensor(x)
    _check_spatial(x, "global_max_pool")
    n, c = x.shape[:2]
    flat = x.data.reshape(n, c, -1)                                     # (N, C, P)
    where = flat.argmax(axis=2)                                         # (N, C)
    out = np.take_along_axis(flat, where[..., None], axis=2)[..., 0]    # (N, C)
    out_shape = (n, c) + (1,) * (x.ndim - 2) if keepdims else (n, c)

    def backward(g):
        gflat = np.zeros(flat.shape, dtype=g.dtype)                     # (N, C, P)
        np.put_along_axis(gflat, where[..., None], g.reshape(n, c, 1), axis=2)
        return (gflat.reshape(x.shape),)
    return Tensor.from_op(out.reshape(out_shape), (x,), backward, "global_max_pool")


class _PoolNd(Module):
    """Shared body of the windowed pooling layers."""

    ndim = 0
    kind = "max"

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size, self.stride, _ = check_window(self.ndim, kernel_size, stride, 1, padding, name)
        if not isinstance(padding, str):                                # a mode's amounts depend on the input size
            _check_half_kernel(explicit_padding(padding, self.ndim, name), self.kernel_size, padding, name)
        self.padding = padding

    def window(self, in_shape) -> Window:
        """The geometry this layer resolves to for an input of ``in_shape`` (checked as a forward pass would)."""
        return pool_window(tuple(in_shape), self.ndim, self.kernel_size, self.stride, self.padding, self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:2]) + self.window(in_shape).out_sizes

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}"
        return text + (f", padding={self.padding!r}" if self.padding != 0 else "")


class _MaxPoolNd(_PoolNd):
    def forward(self, x) -> Tensor:
        return max_pool(x, self.ndim, self.kernel_size, self.stride, self.padding, self._describe())


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, x) -> Tensor:
        return avg_pool(x, self.ndim, self.kernel_size, self.stride, self.padding, self.count_include_pad,
                        self._describe())


@register_layer(example=lambda: (MaxPool1d(3, 2, padding=1), (2, 3, 9)))
class MaxPool1d(_MaxPoolNd):
    """Max pooling over ``(N, C, L)``. Shape: ``L_out = floor((L + lo + hi - k) / s) + 1``."""
    ndim = 1


@register_layer(example=lambda: (MaxPool2d(3, 2), (2, 3, 7, 7)))
class MaxPool2d(_MaxPoolNd):
    """Max pooling over ``(N, C, H, W)``; ``MaxPool2d(3, 2)`` is AlexNet's overlapping pool.

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``, ``H_out = floor((H + lo + hi - k) / s) + 1``.
    """
    ndim = 2


@register_layer(example=lambda: (MaxPool3d(2), (1, 2, 4, 4, 6)))
class MaxPool3d(_MaxPoolNd):
    """Max pooling over ``(N, C, D, H, W)``, with the output-size rule per axis."""
    ndim = 3


@register_layer(example=lambda: (AvgPool1d(2, 1), (2, 3, 5)))
class AvgPool1d(_AvgPoolNd):
    """Average pooling over ``(N, C, L)``. Shape: ``L_out = floor((L + lo + hi - k) / s) + 1``."""
    ndim = 1


@register_layer(example=lambda: (AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 6, 7)))
class AvgPool2d(_AvgPoolNd):
    """Average pooling over ``(N, C, H, W)`` (LeNet-5's subsampling).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``, ``H_out = floor((H + lo + hi - k) / s) + 1``.
    """
    ndim = 2


@register_layer(example=lambda: (AvgPool3d((1, 2, 2)), (1, 2, 3, 4, 4)))
class AvgPool3d(_AvgPoolNd):
    """Average pooling over ``(N, C, D, H, W)``, with the output-size rule per axis."""
    ndim = 3


class _GlobalPool(Module):
    def __init__(self, keepdims: bool = False):
        super().__init__()
        self.keepdims = keepdims

    def _check(self, in_shape):
        if len(in_shape) < 3:
            raise expected_input(self._describe(), "(N, C, *spatial)", in_shape)

    def output_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape[:2]) + ((1,) * (len(in_shape) - 2) if self.keepdims else ())

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return rf.through_global(tuple(in_shape[2:]))

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""


@register_layer(example=lambda: (GlobalAvgPool(), (2, 3, 4, 5)))
class GlobalAvgPool(_GlobalPool):
    """Average of each channel over all spatial positions. Shape: ``(N, C, *S) -> (N, C)``."""

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return global_avg_pool(x, self.keepdims)


@register_layer(example=lambda: (GlobalMaxPool(keepdims=True), (2, 3, 6)))
class GlobalMaxPool(_GlobalPool):
    """Maximum of each channel over all spatial positions. Shape: ``(N, C, *S) -> (N, C)``."""

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return global_max_pool(x, self.keepdims)
