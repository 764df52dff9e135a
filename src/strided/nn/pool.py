"""Max and average pooling in 1, 2 and 3 dimensions, with their backward passes (global pooling:
``global_pool.py``).

Windowed pooling walks the kernel taps (``Window.taps``): the forward pass is
``np.maximum`` (or a sum) over ``prod(kernel)`` strided slices of the padded input, and the
backward pass adds the gradient back through the same slices. Overlapping windows (AlexNet's
3x3 stride 2) are fine. Max-pool ties go to the first maximum in scan order, as in PyTorch.

PyTorch's options: ``dilation`` (max pooling: the taps ``dilation`` apart), ``ceil_mode`` (the
output sizes round up; the last window may then reach past the padded input, and the resolved
``Window`` pads the data that far: with -inf for the maximum, with zeros for the average, whose
divisor counts what PyTorch counts), ``count_include_pad``, ``divisor_override`` and
``return_indices`` (the flat index of each maximum in its channel's input plane, as
``MaxUnpool`` reads it; see ``unpool.py``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import fast
from ..backend import namespace
from ..checks import as_int
from ..errors import expected_input
from ..geometry import ReceptiveField, Window, check_ceil_mode, check_window, explicit_padding, resolve_window
from ..tensor import Tensor, as_tensor, is_grad_enabled
from ..windows import batch_last, empty_like_layout, pad, unpad
from . import allocation
from .allocation import check_bytes
from .helpers import check_spatial_sizes, describe_layout, drop_batch_axis
from .module import Module
from .registry import register_layer
from .unpool import first_max_indices


def pool_window(in_shape, ndim: int, kernel_size, stride, padding, dilation, ceil_mode, owner: str) -> Window:
    """Check a pooling call against ``in_shape`` (``(N, C, *S)`` or unbatched ``(C, *S)``) and
    resolve its ``Window``.

    ``stride=None`` means the kernel size; no side may be padded by more than half the kernel
    (the padding asked for: ``ceil_mode``'s overhang is not counted).
    """
    if len(in_shape) not in (ndim + 1, ndim + 2):
        raise expected_input(owner, describe_layout(ndim, in_shape), in_shape)
    check_spatial_sizes(owner, in_shape, ndim)
    window = resolve_window(in_shape[-ndim:], kernel_size, stride, dilation, padding, ceil_mode, owner=owner,
                            in_shape=in_shape)
    _check_half_kernel(window.declared_pads, window.kernel, padding, owner)
    return window


def check_pool_bytes(owner: str, x, window: Window, copies: int) -> None:
    """Refuse a pooling whose ``copies`` padded-size buffers and output would not fit in memory."""
    planes = x.data.size // max(1, math.prod(window.in_sizes))          # N * C
    nbytes = planes * (copies * math.prod(window.padded_sizes) + math.prod(window.out_sizes)) * x.data.itemsize
    if nbytes > allocation.CHECK_ABOVE_BYTES:                          # below it nothing to check: no message built
        check_bytes(owner, nbytes, f"its padded input {x.shape[:2] + window.padded_sizes} and output "
                    f"{x.shape[:2] + window.out_sizes}", x.shape)


def _check_half_kernel(pads, kernel, padding, owner: str) -> None:
    if any(max(lo, hi) > k // 2 for (lo, hi), k in zip(pads, kernel)):
        raise ValueError(f"{owner}: padding must be at most half the kernel size {kernel}, got {padding!r}")


def check_divisor_override(divisor_override, owner: str):
    """``None`` or a positive int (PyTorch refuses 0; a negative divisor is refused here too)."""
    return None if divisor_override is None else as_int(divisor_override, "divisor_override", owner)


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
    if len(slices) == 1:
        xp.copyto(out, xpad[slices[0]])
    else:
        xp.maximum(xpad[slices[0]], xpad[slices[1]], out=out)           # NaN propagates, as in PyTorch
        for index in slices[2:]:
            xp.maximum(out, xpad[index], out=out)

    def backward(g):
        with np.errstate(invalid="ignore"):                             # inf + -inf upstream: NaN, as in PyTorch
            return (unpad(max_pool_backward(xpad, out, g, window), window.pads),)
    result = Tensor.from_op(out, (x,), backward, f"max_pool{ndim}d")
    if return_indices:
        return result, first_max_indices(xpad, out, window)
    return result


def _compiled_pays(x: Tensor) -> bool:
    """Whether a 2-D pooling of ``x`` gains from the compiled kernels: in training (the backward
    pass gains most) and on a batch-last buffer with ``N > 1``; an inference in C order (batch 1)
    stays on NumPy's strided maxima and sums, as fast there (measured on ResNet's stem)."""
    return (x.requires_grad and is_grad_enabled()) or (x.shape[0] > 1 and batch_last(x.data))


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


class _PoolNd(Module):
    """Shared body of the windowed pooling layers (``ndim`` set by each subclass)."""

    ndim = 0

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size, self.stride, self.dilation = check_window(self.ndim, kernel_size, stride, dilation,
                                                                    padding, name)
        if not isinstance(padding, str):                                # a mode's amounts depend on the input size
            _check_half_kernel(explicit_padding(padding, self.ndim, name), self.kernel_size, padding, name)
        self.padding = padding
        self.ceil_mode = check_ceil_mode(ceil_mode, name)

    def window(self, in_shape) -> Window:
        """The geometry this layer resolves to for an input of ``in_shape`` (checked as a forward pass would)."""
        return pool_window(tuple(in_shape), self.ndim, self.kernel_size, self.stride, self.padding, self.dilation,
                           self.ceil_mode, self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim]) + self.window(in_shape).out_sizes   # (N, C, *O) or (C, *O)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def extra_repr(self) -> str:
        defaults = {"padding": 0, "dilation": (1,) * self.ndim, "ceil_mode": False, "return_indices": False,
                    "count_include_pad": True, "divisor_override": None}
        return ", ".join([f"kernel_size={self.kernel_size}", f"stride={self.stride}"] + [
            f"{key}={getattr(self, key)!r}" for key, default in defaults.items()
            if key in self.__dict__ and getattr(self, key) != default])


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
