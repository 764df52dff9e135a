"""Max pooling in 1, 2 and 3 dimensions, with its backward pass (the shared window rules:
``pool.py``; global pooling: ``global_pool.py``).

The forward pass is ``np.maximum`` over ``prod(kernel)`` strided slices of the padded input
(``Window.taps``; its channels shared over strided's own threads, ``fast.split``), and the
backward pass adds the gradient back through the same slices. Overlapping windows (AlexNet's
3x3 stride 2) are fine. Ties go to the first maximum in scan order, as in PyTorch.

PyTorch's options: ``dilation`` (the taps ``dilation`` apart), ``ceil_mode`` (the output sizes
round up; the last window may then reach past the padded input, and the resolved ``Window`` pads
the data that far with -inf) and ``return_indices`` (the flat index of each maximum in its
channel's input plane, as ``MaxUnpool`` reads it; see ``unpool.py``).
"""

from __future__ import annotations

import numpy as np

from .. import fast
from ..backend import namespace
from ..fast.split import over_rows
from ..geometry import Window
from ..tensor import Tensor, as_tensor, is_grad_enabled
from ..windows import empty_like_layout, pad, unpad
from .helpers import drop_batch_axis
from .pool import _compiled_pays, _PoolNd, check_pool_bytes, pool_window
from .registry import register_layer
from .unpool import first_max_indices


def max_pool(x, ndim: int, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
             return_indices: bool = False, *, owner: str | None = None, window: Window | None = None):
    """Max pooling over the last ``ndim`` axes, with PyTorch's rule at every edge value.

    A window's maximum is NaN when it holds a NaN, and its gradient goes to the last NaN in scan
    order; otherwise to the first maximum. Padded positions never win: a window whose input is all
    ``-inf`` routes to its first input position, and a window that reads only padding (possible
    with dilation) gives ``-inf``, no gradient and index ``-1``.

    Returns the pooled tensor, or ``(pooled, indices)`` with ``return_indices`` (``indices``: an
    int64 NumPy array of the output's shape, each maximum's flat index in its channel's input
    plane, as ``torch.nn.functional.max_pool*d(..., return_indices=True)``).

    Args:
        x: the input ``(N, C, *S)`` or ``(C, *S)``.
        ndim: the number of pooled (spatial) axes, 1 to 3.
        kernel_size: the window size, an int or one per axis.
        stride: the step between windows (default ``None``: the kernel size, non-overlapping windows).
        padding: implicit ``-inf`` added at the borders, at most half the kernel: an int, one per
            axis, per-side pairs or a mode string (``'same'``, ...).
        dilation: the spacing between window taps.
        ceil_mode: round the output size up (a last, partial window).
        return_indices: also return the indices of the maxima (for ``max_unpool``).
        owner: the name error messages give (default ``'max_pool{ndim}d'``).
        window: the ``pool_window`` of exactly these arguments and this input shape, already checked
            (a layer remembers its own per input shape); ``None``: resolved here.

    Shape: ``(N, C, *S) -> (N, C, *O)`` (or unbatched ``(C, *S) -> (C, *O)``),
    ``O = floor((S + lo + hi - dilation*(K-1) - 1) / stride) + 1`` (``ceil`` with ``ceil_mode``,
    dropping a last window that would start in the high padding).

    Example:
        >>> max_pool(np.zeros((1, 2, 6, 6)), 2, 3).shape
        (1, 2, 2, 2)
    """
    x = as_tensor(x)
    owner = owner or f"max_pool{ndim}d"
    if x.ndim == ndim + 1:                                              # unbatched (C, *S), as PyTorch
        return drop_batch_axis(max_pool(x.unsqueeze(0), ndim, kernel_size, stride, padding, dilation, ceil_mode,
                                        return_indices, owner=owner, window=window))
    if window is None:
        window = pool_window(x.shape, ndim, kernel_size, stride, padding, dilation, ceil_mode, owner)
    if ndim == 2 and x.data.size and fast.applies(x.data) and (return_indices or _compiled_pays(x)):
        keep = return_indices or (x.requires_grad and is_grad_enabled())   # compiled; the winners are wanted
        check_pool_bytes(owner, x, window, 0)
        return _max_pool2d_compiled(x, window, keep, return_indices)
    check_pool_bytes(owner, x, window, 1 if window.padded else 0)
    xp = namespace(x.data)
    xpad = pad(x.data, window.pads, value=-np.inf)                      # (N, C, *Sp)
    slices = window.tap_slices                                          # one index per kernel offset
    out = empty_like_layout(xpad, x.shape[:2] + window.out_sizes)       # (N, C, *O), in the input's layout
    if xp is np:                                                        # channels shared over strided's own threads
        over_rows(_channels_maximum, out.shape[1], xpad[:, 0].size, xpad.swapaxes(0, 1), slices, out.swapaxes(0, 1))
    else:
        taps_maximum(xpad, slices, out)

    def backward(g):
        with np.errstate(invalid="ignore"):                             # inf + -inf upstream: NaN, as in PyTorch
            return (unpad(max_pool_backward(xpad, out, g, window), window.pads),)
    result = Tensor.from_op(out, (x,), backward, f"max_pool{ndim}d")
    if return_indices:
        return result, first_max_indices(xpad, out, window)
    return result


def taps_maximum(xpad, slices, out) -> None:
    """``out`` = the elementwise maximum of ``xpad`` at every tap's slice (NaN propagates, as in
    PyTorch).

    Shape: ``xpad`` ``(N, C, *Sp)``, each ``xpad[slice]`` ``(N, C, *O)`` like ``out``, written whole.
    """
    xp = namespace(out)
    if len(slices) == 1:
        xp.copyto(out, xpad[slices[0]])
        return
    xp.maximum(xpad[slices[0]], xpad[slices[1]], out=out)
    for index in slices[2:]:
        xp.maximum(out, xpad[index], out=out)


def _channels_maximum(xpad_cn, slices, out_cn) -> None:
    """``taps_maximum`` of a block of channels given channels-first, as ``split.over_rows`` cuts
    them: NumPy's maximum releases the GIL, so blocks run at once, and each value is the same
    maximum of the same taps. ResNet-18's stem pool at batch 1 (3x3, stride 2, 64 channels at
    112x112) took 1.06 ms on one thread, 0.75-0.92 on two; a 2x2 pool of 64 channels at 224x224
    2.9-4.6 and 1.2-2.1.

    Shape: ``xpad_cn`` ``(Cb, N, *Sp)`` -> ``out_cn`` ``(Cb, N, *O)``, written whole.
    """
    taps_maximum(xpad_cn.swapaxes(0, 1), slices, out_cn.swapaxes(0, 1))


def _max_pool2d_compiled(x: Tensor, window: Window, keep: bool, return_indices: bool):
    """``max_pool`` of a 2-D float NumPy input on the compiled kernels (``fast/pool.py``): the
    winners are recorded in the forward pass when ``keep`` (a gradient or the indices are wanted)."""
    kernels = fast.kernels("pool")
    out, index = kernels.max_pool2d(x.data, window, keep)               # (N, C, Ho, Wo); (P, Ho, Wo, M)
    layout = kernels.takes_batch_last(x.data)

    def backward(g):
        if not fast.applies(g):                                         # an odd upstream: as the NumPy path
            return (unpad(max_pool_backward(pad(x.data, window.pads, value=-np.inf), out, g, window), window.pads),)
        return (kernels.max_pool2d_backward(g, index, x.shape, layout),)
    result = Tensor.from_op(out, (x,), backward, "max_pool2d")
    if return_indices:
        return result, kernels.from_planes(index, x.shape[0], layout).astype(np.int64)
    return result


def edge_values(out: np.ndarray, window: Window):
    """What the max-pool backward must handle besides plain maxima: ``(masks, nan)``.

    ``masks`` are ``window.tap_inside`` when a padded position could tie (the input is padded and
    some maximum is ``-inf``), else ``None``; ``nan`` is whether some maximum is NaN. One
    reduction of ``out`` answers both in the usual case (finite maxima, or no padding).
    """
    if out.size == 0:
        return None, False
    xp = namespace(out)
    lowest = out.min()                                                  # NaN when any maximum is NaN
    nan = bool(xp.isnan(lowest))
    neg_inf = lowest == -np.inf if not nan else bool(xp.isneginf(out).any())
    return (window.tap_inside if neg_inf and window.padded else None), nan


def max_pool_backward(xpad: np.ndarray, out: np.ndarray, g: np.ndarray, window: Window) -> np.ndarray:
    """The gradient on the padded grid ``(N, C, *Sp)``: each window's ``g`` at its winner.

    The winner is the first tap (scan order) equal to the maximum that reads the input, or the
    last NaN of a window whose maximum is NaN (PyTorch's CPU rule). Windows that tile the input get
    each gradient by assignment; others accumulate. Every buffer takes the input's memory layout,
    so the loops below run over long contiguous runs. A non-finite ``g`` is routed by masked
    copies instead of products, so that ``inf * 0`` never reaches the positions that did not win.
    """
    xp = namespace(xpad)
    masks, nan = edge_values(out, window)
    slices = window.tap_slices
    tiles = window.tiles
    finite = g.size == 0 or bool(xp.isfinite(g.sum()))                 # inf or NaN anywhere: not finite
    gxp = empty_like_layout(xpad, xpad.shape, g.dtype) if tiles else xp.zeros_like(xpad, dtype=g.dtype)
    left = empty_like_layout(out, out.shape, g.dtype)                   # (N, C, *O): gradient not routed yet
    xp.copyto(left, g)
    routed = left if tiles else xp.empty_like(left)
    for i, index in enumerate(slices):
        hit = xp.equal(xpad[index], out)                                # (N, C, *O)
        if masks is not None and masks[i] is not None:
            hit &= xp.asarray(masks[i])                                 # (*O): a padded tap never wins
        if tiles:
            routed = gxp[index]
        if finite:
            xp.multiply(left, hit, out=routed)                          # the gradient of this offset's maxima
        else:
            routed[...] = 0
            xp.copyto(routed, left, where=hit)
        if not tiles:
            gxp[index] += routed
        if i + 1 < len(slices):                                         # first maximum wins ties
            if finite:
                left -= routed
            else:
                left[hit] = 0
    if nan:                                                             # NaN maxima: to the last NaN
        pending = xp.isnan(out)                                         # (N, C, *O)
        for index in reversed(slices):
            hit = xp.isnan(xpad[index])
            hit &= pending
            xp.copyto(gxp[index], gxp[index] + g, where=hit)            # a masked add (CuPy's add has no where=)
            pending &= ~hit
    return gxp


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool1d``: ``(N, C, L) -> (N, C, L_out)``; see ``max_pool``.

    Args:
        x: the input ``(N, C, L)`` or ``(C, L)``.
        kernel_size: the window length.
        stride: the step (default ``None``: ``kernel_size``).
        padding: implicit ``-inf`` at both ends, at most half the kernel.
        dilation: the spacing between window taps.
        ceil_mode: round the output length up.
        return_indices: also return the indices of the maxima.

    Example:
        >>> max_pool1d(np.array([[[1.0, 3.0, 2.0, 5.0]]]), 2).numpy().tolist()
        [[[3.0, 5.0]]]
    """
    return max_pool(x, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool2d`` (note: ``ceil_mode`` before ``return_indices``, as there).

    Args:
        x: the input ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size: the window, ``k`` or ``(kh, kw)``.
        stride: the step (default ``None``: ``kernel_size``).
        padding: implicit ``-inf`` at the borders, at most half the kernel.
        dilation: the spacing between window taps.
        ceil_mode: round the output size up.
        return_indices: also return the indices of the maxima.

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``, as ``MaxPool2d``.

    Example:
        >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).numpy().tolist()
        [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return max_pool(x, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool3d``: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)``.

    Args:
        x: the input ``(N, C, D, H, W)`` or ``(C, D, H, W)``.
        kernel_size: the window, an int or 3 ints.
        stride: the step (default ``None``: ``kernel_size``).
        padding: implicit ``-inf`` at the borders.
        dilation: the tap spacing.
        ceil_mode: round the output size up.
        return_indices: also return the indices of the maxima.

    Example:
        >>> max_pool3d(np.zeros((1, 2, 4, 4, 4)), 2).shape
        (1, 2, 2, 2, 2)
    """
    return max_pool(x, 3, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


class _MaxPoolNd(_PoolNd):
    """Max pooling with PyTorch's arguments; with ``return_indices`` the forward returns
    ``(output, indices)`` (the static rules describe the output)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        if not isinstance(return_indices, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: return_indices must be a bool, got {return_indices!r}")
        self.return_indices = bool(return_indices)

    def forward(self, x):
        # the window, resolved once per input shape (the pooled axes are the last ndim: batched or not)
        window = self._resolved_for(x.data.shape, lambda: self.window(x.data.shape)) if isinstance(x, Tensor) else None
        return max_pool(x, self.ndim, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                        self.return_indices, owner=self._describe(), window=window)


@register_layer(example=lambda: (MaxPool1d(3, 2, padding=1, dilation=2, ceil_mode=True), (2, 3, 10)))
class MaxPool1d(_MaxPoolNd):
    """Max pooling over ``(N, C, L)``: the largest value of each window, per channel.

    Args:
        kernel_size: the window length ``k``.
        stride: the step ``s`` (default ``None``: ``kernel_size``, non-overlapping windows).
        padding: implicit ``-inf`` at both ends (never the maximum), at most ``k // 2``.
        dilation: the spacing between window taps.
        return_indices: the forward returns ``(output, indices)``, for ``MaxUnpool1d``.
        ceil_mode: round the output length up, keeping a last partial window.

    Shape: ``L_out = floor((L + lo + hi - dilation*(k-1) - 1) / s) + 1`` (``ceil`` with ``ceil_mode``).

    Example:
        >>> import numpy as np
        >>> MaxPool1d(2)(np.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]])).numpy().tolist()
        [[[3.0, 5.0]]]
    """

    ndim = 1


@register_layer(example=lambda: (MaxPool2d(3, 2), (2, 3, 7, 7)))
class MaxPool2d(_MaxPoolNd):
    """Max pooling over ``(N, C, H, W)``; ``MaxPool2d(3, 2)`` is AlexNet's overlapping pool.

    A per-axis argument is an int or a ``(height, width)`` tuple.

    Args:
        kernel_size: the window, ``k`` or ``(kh, kw)``.
        stride: the step ``s`` (default ``None``: ``kernel_size``, non-overlapping windows).
        padding: implicit ``-inf`` at the borders (never the maximum), at most half the kernel: an
            int, ``(ph, pw)``, per-side pairs or a mode string such as ``'same'``.
        dilation: the spacing between window taps.
        return_indices: the forward returns ``(output, indices)``: each maximum's flat index in its
            input plane (an int64 array), as ``MaxUnpool2d`` takes it.
        ceil_mode: round the output size up, keeping a last partial window (never one that starts
            in the high padding).

    Shape: ``(N, C, H, W) -> (N, C, H_out, W_out)``,
    ``H_out = floor((H + lo + hi - dilation*(k-1) - 1) / s) + 1`` (``ceil`` with ``ceil_mode``).

    Example:
        >>> import numpy as np
        >>> x = np.arange(25.0).reshape(1, 1, 5, 5)
        >>> MaxPool2d(2, ceil_mode=True)(x).shape, MaxPool2d(2)(x).shape
        ((1, 1, 3, 3), (1, 1, 2, 2))
        >>> out, indices = MaxPool2d(2, return_indices=True)(x)
        >>> indices
        array([[[[ 6,  8],
                 [16, 18]]]])
    """

    ndim = 2


@register_layer(example=lambda: (MaxPool3d(2, ceil_mode=True), (1, 2, 4, 5, 3)))
class MaxPool3d(_MaxPoolNd):
    """Max pooling over ``(N, C, D, H, W)``, with the output-size rule per axis.

    Args:
        kernel_size: the window, an int or ``(kd, kh, kw)``.
        stride: the step (default ``None``: ``kernel_size``).
        padding: implicit ``-inf`` at the borders, at most half the kernel.
        dilation: the spacing between window taps.
        return_indices: the forward returns ``(output, indices)``.
        ceil_mode: round the output size up.

    Shape: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)`` (or unbatched ``(C, D, H, W)``), per axis
    ``O = floor((S + lo + hi - dilation*(k-1) - 1) / s) + 1`` (``ceil`` with ``ceil_mode``).

    Example:
        >>> import numpy as np
        >>> MaxPool3d(2)(np.zeros((1, 2, 4, 4, 4))).shape
        (1, 2, 2, 2, 2)
    """

    ndim = 3
