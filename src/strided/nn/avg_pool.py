"""Average pooling in 1, 2 and 3 dimensions, with its backward pass (the shared window rules:
``pool.py``; global pooling: ``global_pool.py``).

The forward pass sums ``prod(kernel)`` strided slices of the zero-padded input
(``Window.taps``) and divides; the backward pass adds each window's share of the gradient back
through the same slices.

PyTorch's options: ``ceil_mode`` (the output sizes round up; the last window may then reach past
the padded input, and the resolved ``Window`` pads the data that far with zeros, whose divisor
counts what PyTorch counts), ``count_include_pad`` and ``divisor_override``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import fast
from ..backend import namespace
from ..checks import as_int
from ..geometry import Window
from ..tensor import Tensor, as_tensor
from ..windows import empty_like_layout, pad, unpad
from .helpers import drop_batch_axis
from .pool import _compiled_pays, _PoolNd, check_pool_bytes, pool_window
from .registry import register_layer


def check_divisor_override(divisor_override, owner: str):
    """``None`` or a positive int (PyTorch refuses 0; a negative divisor is refused here too)."""
    return None if divisor_override is None else as_int(divisor_override, "divisor_override", owner)


def _avg_divisor(window: Window, in_sizes, dtype, count_include_pad: bool, divisor_override, xp=np):
    """What each window's sum is divided by: a number, or ``(1, 1, *O)`` counts (PyTorch's rule).

    ``count_include_pad`` counts the window's positions inside the input and the padding asked
    for (never ``ceil_mode``'s overhang past it); otherwise only the input positions. The counts are
    made with the namespace ``xp`` (default NumPy), on the device of the input they will divide.
    """
    if divisor_override is not None:
        return float(divisor_override)
    if count_include_pad and not window.overhang:
        return float(math.prod(window.kernel))
    if count_include_pad:
        declared = tuple(n + lo + hi for n, (lo, hi) in zip(in_sizes, window.declared_pads))
        region = pad(xp.ones((1, 1) + declared, dtype=dtype), tuple((0, v) for v in window.overhang))
    else:
        region = pad(xp.ones((1, 1) + tuple(in_sizes), dtype=dtype), window.pads)   # (1, 1, *Sp)
    return sum(region[index] for index in window.tap_slices)            # (1, 1, *O)


def avg_pool(x, ndim: int, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
             count_include_pad: bool = True, divisor_override=None, *, owner: str | None = None) -> Tensor:
    """Average pooling over the last ``ndim`` axes.

    With ``count_include_pad`` (PyTorch's default) every window divides by the number of its
    positions inside the padded input (``prod(kernel)``, less for ``ceil_mode``'s last partial
    window); without it, by the number of real (unpadded) inputs in the window;
    ``divisor_override`` replaces either.

    Args:
        x: the input ``(N, C, *S)`` or ``(C, *S)``.
        ndim: the number of pooled (spatial) axes, 1 to 3.
        kernel_size: the window size, an int or one per axis.
        stride: the step between windows (default ``None``: the kernel size).
        padding: zeros added at the borders, at most half the kernel (int, per axis, pairs or a mode).
        ceil_mode: round the output size up (a last, partial window).
        count_include_pad: count padded zeros in the divisor.
        divisor_override: a positive int dividing every window's sum instead, or ``None``.
        owner: the name error messages give (default ``'avg_pool{ndim}d'``).

    Shape: ``(N, C, *S) -> (N, C, *O)`` (or unbatched ``(C, *S) -> (C, *O)``),
    ``O = floor((S + lo + hi - K) / stride) + 1`` (``ceil`` with ``ceil_mode``, dropping a last
    window that would start in the high padding).

    Example:
        >>> avg_pool(np.ones((1, 2, 6)), 1, 2).numpy().tolist()
        [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
    """
    x = as_tensor(x)
    owner = owner or f"avg_pool{ndim}d"
    if x.ndim == ndim + 1:                                              # unbatched (C, *S), as PyTorch
        return drop_batch_axis(avg_pool(x.unsqueeze(0), ndim, kernel_size, stride, padding, ceil_mode,
                                        count_include_pad, divisor_override, owner=owner))
    window = pool_window(x.shape, ndim, kernel_size, stride, padding, 1, ceil_mode, owner)
    divisor_override = check_divisor_override(divisor_override, owner)
    if ndim == 2 and x.data.size and fast.applies(x.data) and _compiled_pays(x):   # compiled: windows read in place
        check_pool_bytes(owner, x, window, 0)
        return _avg_pool2d_compiled(x, window, count_include_pad, divisor_override)
    check_pool_bytes(owner, x, window, 1 if window.padded else 0)
    xp = namespace(x.data)
    xpad = pad(x.data, window.pads)                                     # (N, C, *Sp)
    total = empty_like_layout(xpad, x.shape[:2] + window.out_sizes)     # (N, C, *O), in the input's layout
    total[...] = 0
    for index in window.tap_slices:
        total += xpad[index]
    divisor = _avg_divisor(window, x.shape[2:], xpad.dtype, count_include_pad, divisor_override, xp)
    out = total / divisor                                               # (N, C, *O)

    def backward(g):
        share = g / divisor                                             # (N, C, *O)
        gxp = xp.zeros_like(xpad, dtype=g.dtype)                        # (N, C, *Sp), in the input's layout
        for index in window.tap_slices:
            gxp[index] += share
        return (unpad(gxp, window.pads),)
    return Tensor.from_op(out, (x,), backward, f"avg_pool{ndim}d")


def _avg_pool2d_compiled(x: Tensor, window: Window, count_include_pad: bool, divisor_override) -> Tensor:
    """``avg_pool`` of a 2-D float NumPy input on the compiled kernels (``fast/pool.py``)."""
    divisor = _avg_divisor(window, x.shape[2:], x.data.dtype, count_include_pad, divisor_override)
    out, compiled_backward = fast.kernels("pool").avg_pool2d(x.data, window, divisor)

    def backward(g):
        if fast.applies(g):
            return (compiled_backward(g),)
        share = g / divisor                                             # an odd upstream: as the NumPy path
        gxp = np.zeros(x.shape[:2] + window.padded_sizes, dtype=share.dtype)
        for index in window.tap_slices:
            gxp[index] += share
        return (unpad(gxp, window.pads),)
    return Tensor.from_op(out, (x,), backward, "avg_pool2d")


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> Tensor:
    """``torch.nn.functional.avg_pool1d`` (no ``divisor_override``, as there); see ``avg_pool``.

    Args:
        x: the input ``(N, C, L)`` or ``(C, L)``.
        kernel_size: the window length.
        stride: the step (default ``None``: ``kernel_size``).
        padding: zeros at both ends, at most half the kernel.
        ceil_mode: round the output length up.
        count_include_pad: count padded zeros in the divisor.

    Example:
        >>> avg_pool1d(np.array([[[1.0, 3.0, 2.0, 6.0]]]), 2).numpy().tolist()
        [[[2.0, 4.0]]]
    """
    return avg_pool(x, 1, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """``torch.nn.functional.avg_pool2d``; see ``avg_pool``.

    Args:
        x: the input ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size: the window, ``k`` or ``(kh, kw)``.
        stride: the step (default ``None``: ``kernel_size``).
        padding: zeros at the borders, at most half the kernel.
        ceil_mode: round the output size up.
        count_include_pad: count padded zeros in the divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).numpy().tolist()
        [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    return avg_pool(x, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """``torch.nn.functional.avg_pool3d``; see ``avg_pool``.

    Args:
        x: the input ``(N, C, D, H, W)`` or ``(C, D, H, W)``.
        kernel_size: the window, an int or 3 ints.
        stride: the step (default ``None``: ``kernel_size``).
        padding: zeros at the borders.
        ceil_mode: round the output size up.
        count_include_pad: count padded zeros in the divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> avg_pool3d(np.zeros((1, 2, 4, 4, 4)), 2).shape
        (1, 2, 2, 2, 2)
    """
    return avg_pool(x, 3, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


class _AvgPoolNd(_PoolNd):
    """Average pooling with PyTorch's arguments (``AvgPool1d`` has no ``divisor_override``, as in PyTorch)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = check_divisor_override(divisor_override, type(self).__name__)

    def forward(self, x) -> Tensor:
        return avg_pool(x, self.ndim, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.count_include_pad, self.divisor_override, owner=self._describe())


@register_layer(example=lambda: (AvgPool1d(3, 2, padding=1, ceil_mode=True), (2, 3, 8)))
class AvgPool1d(_AvgPoolNd):
    """Average pooling over ``(N, C, L)``: the mean of each window, per channel.

    Args:
        kernel_size: the window length ``k``.
        stride: the step ``s`` (default ``None``: ``kernel_size``).
        padding: zeros at both ends, at most ``k // 2``.
        ceil_mode: round the output length up, keeping a last partial window.
        count_include_pad: divide by the window's positions including padding (PyTorch's default);
            ``False``: by the number of real inputs in the window.

    Shape: ``L_out = floor((L + lo + hi - k) / s) + 1`` (``ceil`` with ``ceil_mode``).

    Example:
        >>> import numpy as np
        >>> AvgPool1d(2)(np.array([[[1.0, 3.0, 2.0, 6.0]]])).numpy().tolist()
        [[[2.0, 4.0]]]
    """

    ndim = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


@register_layer(example=lambda: (AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 6, 7)))
class AvgPool2d(_AvgPoolNd):
    """Average pooling over ``(N, C, H, W)`` (LeNet-5's subsampling).

    Args:
        kernel_size: the window, ``k`` or ``(kh, kw)``.
        stride: the step ``s`` (default ``None``: ``kernel_size``).
        padding: zeros at the borders, at most half the kernel: an int, ``(ph, pw)`` or pairs.
        ceil_mode: round the output size up, keeping a last partial window.
        count_include_pad: divide by the window's positions including padding (PyTorch's default);
            ``False``: by the number of real inputs in the window.
        divisor_override: a positive int that divides every window's sum instead (``None``: off).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``, ``H_out = floor((H + lo + hi - k) / s) + 1``
    (``ceil`` with ``ceil_mode``).

    Example:
        >>> AvgPool2d(2)(np.ones((1, 6, 28, 28))).shape
        (1, 6, 14, 14)
    """

    ndim = 2


@register_layer(example=lambda: (AvgPool3d((1, 2, 2), ceil_mode=True, divisor_override=3), (1, 2, 3, 5, 4)))
class AvgPool3d(_AvgPoolNd):
    """Average pooling over ``(N, C, D, H, W)``, with the output-size rule per axis.

    Args:
        kernel_size: the window, an int or ``(kd, kh, kw)``.
        stride: the step (default ``None``: ``kernel_size``).
        padding: zeros at the borders, at most half the kernel.
        ceil_mode: round the output size up.
        count_include_pad: count padded zeros in the divisor.
        divisor_override: a positive int dividing every window's sum instead.

    Shape: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)`` (or unbatched ``(C, D, H, W)``), per axis
    ``O = floor((S + lo + hi - k) / s) + 1`` (``ceil`` with ``ceil_mode``).

    Example:
        >>> import numpy as np
        >>> AvgPool3d(2, stride=1)(np.zeros((1, 2, 4, 4, 4))).shape
        (1, 2, 3, 3, 3)
    """


    ndim = 3
