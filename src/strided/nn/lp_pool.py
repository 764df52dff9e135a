"""Power-average (Lp) pooling in 1, 2 and 3 dimensions, with its backward pass (``LPPool*d``).

Each window gives ``(sum x^p)^(1/p)`` over its taps (PyTorch's definition: a sum, not a mean,
so ``p = 1`` is sum pooling and ``p -> inf`` tends to max pooling). PyTorch computes it as an
average pool of ``x^p`` times the kernel size, so with ``ceil_mode`` a last, partial window's sum
is scaled by ``prod(kernel) / (inputs it covers)``; this op does the same. No padding, as in
PyTorch. The window sums walk ``Window.taps`` like average pooling.

Backward: with ``T`` the window sum of ``x^p`` and ``y`` the output,
``dy/dx = x^(p-1) * y / T`` for every input in the window (the partial window's scale cancels).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import namespace
from ..checks import as_number
from ..geometry import ReceptiveField, Window, check_ceil_mode, check_window
from ..tensor import Tensor, as_tensor
from ..windows import empty_like_layout, pad, unpad
from .helpers import drop_batch_axis
from .module import Module
from .pool import check_pool_bytes, pool_window
from .registry import register_layer


def check_norm_type(norm_type, owner: str) -> float:
    """``norm_type`` (``p``) as a positive, finite float."""
    p = as_number(norm_type, "norm_type", owner)
    if not (math.isfinite(p) and p > 0):
        raise ValueError(f"{owner}: norm_type must be a positive finite number, got {norm_type!r}")
    return p


def _partial_scale(window: Window, in_sizes, dtype, xp=np):
    """``prod(kernel) / (input positions in the window)`` per output, ``(1, 1, *O)``, where
    ``ceil_mode`` left a partial last window; ``None`` when every window is whole. Made with the
    namespace ``xp`` (default NumPy), on the device of the input it will scale."""
    if not window.overhang:
        return None
    region = pad(xp.ones((1, 1) + tuple(in_sizes), dtype=dtype), window.pads)   # (1, 1, *Sp)
    count = sum(region[index] for index in window.tap_slices)           # (1, 1, *O)
    return float(math.prod(window.kernel)) / count


def lp_pool(x, ndim: int, norm_type, kernel_size, stride=None, ceil_mode: bool = False, *,
            owner: str | None = None) -> Tensor:
    """Lp pooling over the last ``ndim`` axes: ``(sum over the window of x^p)^(1/p)``.

    Args:
        x: the input ``(N, C, *S)`` or unbatched ``(C, *S)``.
        ndim: the number of pooled (spatial) axes, 1 to 3.
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, an int or ``ndim`` ints.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).
        owner: the layer name that error messages start with (keyword only; default ``lp_pool{ndim}d``).

    Shape: ``(N, C, *S) -> (N, C, *O)`` (or unbatched ``(C, *S) -> (C, *O)``),
    ``O = floor((S - K) / stride) + 1`` (``ceil`` with ``ceil_mode``). As in PyTorch, negative inputs
    with a non-integer ``p`` (or a negative window sum) give NaN.

    >>> lp_pool1d(np.array([[[3., 4., 1., 1.]]]), 2, 2).numpy().round(4).tolist()
    [[[5.0, 1.4142]]]
    """
    x = as_tensor(x)
    owner = owner or f"lp_pool{ndim}d"
    p = check_norm_type(norm_type, owner)
    if x.ndim == ndim + 1:                                              # unbatched (C, *S), as PyTorch
        return drop_batch_axis(lp_pool(x.unsqueeze(0), ndim, norm_type, kernel_size, stride, ceil_mode, owner=owner))
    window = pool_window(x.shape, ndim, kernel_size, stride, 0, 1, ceil_mode, owner)
    check_pool_bytes(owner, x, window, 2)                               # x^p and its padded copy
    xp = namespace(x.data)
    powered = xp.power(x.data, p)                                       # (N, C, *S)
    xpad = pad(powered, window.pads)                                    # (N, C, *Sp): zeros past a partial window
    total = empty_like_layout(xpad, x.shape[:2] + window.out_sizes)     # (N, C, *O), in the input's layout
    total[...] = 0
    for index in window.tap_slices:
        total += xpad[index]
    scale = _partial_scale(window, x.shape[2:], xpad.dtype, xp)
    out = xp.power(total if scale is None else total * scale, 1.0 / p)   # (N, C, *O)

    def backward(g):
        if p == 1:                                                      # y = scale * T
            share = g if scale is None else g * scale                   # (N, C, *O): dL/dT
        else:                                                           # dy/dT = y / (p T)
            share = g * out / total                                     # (N, C, *O): p * dL/dT
        gxp = xp.zeros_like(xpad, dtype=g.dtype)                        # (N, C, *Sp)
        for index in window.tap_slices:
            gxp[index] += share
        gx = unpad(gxp, window.pads)                                    # (N, C, *S)
        return (gx if p == 1 else gx * xp.power(x.data, p - 1),)
    return Tensor.from_op(out, (x,), backward, f"lp_pool{ndim}d")


def lp_pool1d(x, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """``torch.nn.functional.lp_pool1d``: ``(N, C, L) -> (N, C, L_out)``; see ``lp_pool``.

    Args:
        x: the input ``(N, C, L)`` or unbatched ``(C, L)``.
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, ``k``.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).

    Example:
        >>> lp_pool1d(np.array([[[3.0, 4.0, 0.0, 2.0]]]), 2, 2).numpy().tolist()
        [[[5.0, 2.0]]]
    """
    return lp_pool(x, 1, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """``torch.nn.functional.lp_pool2d``: ``(N, C, H, W) -> (N, C, H_out, W_out)``; see ``lp_pool``.

    Args:
        x: the input ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, ``k`` or ``(kh, kw)``.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).

    Example:
        >>> lp_pool2d(np.ones((1, 1, 4, 4)), 1, 2).numpy().tolist()
        [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    return lp_pool(x, 2, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(x, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """``torch.nn.functional.lp_pool3d``: ``(N, C, D, H, W) -> (N, C, *O)``; see ``lp_pool``.

    Args:
        x: the input ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``.
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, ``k`` or ``(kd, kh, kw)``.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).

    Example:
        >>> lp_pool3d(np.ones((1, 2, 4, 4, 4)), 2, 2).shape
        (1, 2, 2, 2, 2)
    """
    return lp_pool(x, 3, norm_type, kernel_size, stride, ceil_mode)


class _LPPoolNd(Module):
    """Shared body of ``LPPool1d/2d/3d``: ``(norm_type, kernel_size, stride=None, ceil_mode=False)``."""

    ndim = 0

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        name = type(self).__name__
        self.norm_type = check_norm_type(norm_type, name)
        self.kernel_size, self.stride, _ = check_window(self.ndim, kernel_size, stride, 1, 0, name)
        self.ceil_mode = check_ceil_mode(ceil_mode, name)

    def window(self, in_shape) -> Window:
        """The geometry this layer resolves to for an input of ``in_shape`` (checked as a forward pass would)."""
        return pool_window(tuple(in_shape), self.ndim, self.kernel_size, self.stride, 0, 1, self.ceil_mode,
                           self._describe())

    def forward(self, x) -> Tensor:
        return lp_pool(x, self.ndim, self.norm_type, self.kernel_size, self.stride, self.ceil_mode,
                       owner=self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim]) + self.window(in_shape).out_sizes   # (N, C, *O) or (C, *O)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def extra_repr(self) -> str:
        text = f"norm_type={self.norm_type:g}, kernel_size={self.kernel_size}, stride={self.stride}"
        return text + (", ceil_mode=True" if self.ceil_mode else "")


@register_layer(example=lambda: (LPPool1d(2, 3, 2, ceil_mode=True), (2, 3, 8)))
class LPPool1d(_LPPoolNd):
    """Lp pooling over ``(N, C, L)``: ``(sum x^p)^(1/p)`` per window.

    Args:
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, ``k``.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).

    Shape: ``(N, C, L) -> (N, C, L_out)``, ``L_out = floor((L - k) / s) + 1`` (``ceil`` with ``ceil_mode``).

    Example:
        >>> LPPool1d(2, 2)(np.array([[[3.0, 4.0, 0.0, 2.0]]])).numpy().tolist()
        [[[5.0, 2.0]]]
    """

    ndim = 1


@register_layer(example=lambda: (LPPool2d(4, (2, 3), (1, 2)), (2, 2, 5, 7)))
class LPPool2d(_LPPoolNd):
    """Lp pooling over ``(N, C, H, W)``; ``norm_type=2`` is the L2 (energy) pooling of Sermanet et al.

    Args:
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, ``k`` or ``(kh, kw)``.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``, ``H_out = floor((H - k) / s) + 1`` (``ceil`` with ``ceil_mode``).

    >>> import numpy as np
    >>> LPPool2d(2, 2)(np.full((1, 1, 4, 4), 3.0)).numpy().tolist()
    [[[[6.0, 6.0], [6.0, 6.0]]]]
    """

    ndim = 2


@register_layer(example=lambda: (LPPool3d(1, 2, ceil_mode=True), (1, 2, 3, 4, 5)))
class LPPool3d(_LPPoolNd):
    """Lp pooling over ``(N, C, D, H, W)``, with the output-size rule per axis.

    Args:
        norm_type: ``p``, a positive finite float (1: sum pooling; large ``p`` nears max pooling).
        kernel_size: the window size, ``k`` or ``(kd, kh, kw)``.
        stride: the step between two windows, per axis (default ``None``: the kernel size).
        ceil_mode: round the output size up, keeping a last partial window (default ``False``).

    Shape: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)``, ``floor((S - k) / s) + 1`` per axis
    (``ceil`` with ``ceil_mode``).

    Example:
        >>> LPPool3d(2, 2)(np.ones((1, 2, 4, 4, 4))).shape
        (1, 2, 2, 2, 2)
    """

    ndim = 3


__all__ = ["lp_pool", "lp_pool1d", "lp_pool2d", "lp_pool3d", "LPPool1d", "LPPool2d", "LPPool3d"]
