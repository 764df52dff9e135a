"""Convolution in 1, 2 and 3 dimensions: the op, its three backward forms, the layers and their rules.

One N-d implementation serves ``conv1d``, ``conv2d`` and ``conv3d``. The forward multiplies the
weight matrix of each group by the windows of the padded input, in im2col's column order
``(C/G * prod(K), prod(O) * N)``, for the whole batch at once; the columns are copied one
cache-sized block of output positions at a time (``blocked_matmul``) and each block's product
lands in its columns of ``(C_out, prod(O) * N)``. The output is that buffer seen as
``(N, C_out, *O)`` (a batch-last view, see ``windows``), never transposed, and a gradient
arriving in the same layout is the backward's matrix as it is. Strictly speaking this is
cross-correlation, as in every deep-learning framework.

``conv`` picks one *form* for each call (``conv_forms.py``: pointwise, folding, flipped; on the
compiled path also depthwise and Winograd's); a form runs the forward product and returns its
backward, which holds only what it reads. A layer called on a single image without gradients
takes ``single_image_inference`` instead, the same product without the per-call bookkeeping.
"""

from __future__ import annotations

import math

import numpy as np  # noqa: F401  (the doctests use np)

from .. import fast
from ..backend import namespace
from ..checks import as_int
from ..errors import expected_input
from ..geometry import ReceptiveField, Window, check_window, resolve_window
from ..tensor import Tensor, as_tensor, is_grad_enabled
from ..toeplitz import conv_entries
from ..windows import COLUMN_BLOCK_BYTES, from_channel_major, to_batch_last, to_channel_major
from . import allocation
from .allocation import check_bytes
from .conv_forms import (depthwise_fits, flipped_form, flipped_form_fits, folding_form, pointwise_form,
                         single_image_inference)
from .helpers import (add_batch_axis, as_batched, check_channels, check_param_shape, check_spatial_sizes,
                      check_weight_rank, describe_layout, describe_settings, drop_batch_axis)
from .draws import make_rng, weight_and_bias
from .module import Cost, Module
from .padding import CONV_PADDING_MODES, check_mode, pad_axes, pad_index
from .registry import register_layer


def conv_window(in_shape, weight_shape, stride, padding, dilation, groups, owner: str) -> Window:
    """Check a convolution's arguments against ``in_shape`` (``(N, C_in, *S)``, or unbatched
    ``(C_in, *S)`` as PyTorch accepts) and resolve its ``Window``."""
    d = len(weight_shape) - 2
    out_channels, cin_g = weight_shape[:2]
    groups = as_int(groups, "groups", owner)
    batched = as_batched(in_shape, d)
    if len(batched) != d + 2 or batched[1] != cin_g * groups:
        raise expected_input(owner, describe_layout(d, in_shape, cin_g * groups), in_shape)
    if out_channels % groups:
        raise ValueError(f"{owner}: out_channels ({out_channels}) must be divisible by groups ({groups})")
    check_spatial_sizes(owner, in_shape, d, cin_g * groups)
    return resolve_window(batched[2:], weight_shape[2:], stride, dilation, padding, owner=owner, in_shape=in_shape)


def check_conv_bytes(owner: str, x_shape, c_out: int, window: Window, rows: int, itemsize: int) -> None:
    """Refuse a convolution whose output, padded input and column buffer (``rows`` per column)
    would not fit in memory (``allocation``), before any of them is allocated."""
    n, c_in = x_shape[:2]
    positions = math.prod(window.out_sizes)
    columns = min(positions * n * rows, max(COLUMN_BLOCK_BYTES // itemsize, n * rows))   # the widest block
    padded = n * c_in * math.prod(window.padded_sizes) if window.padded else 0
    nbytes = (n * c_out * positions + padded + columns) * itemsize
    if nbytes > allocation.CHECK_ABOVE_BYTES:                          # below it nothing to check: no message built
        check_bytes(owner, nbytes, f"its output {(n, c_out) + window.out_sizes}, padded input and column buffer",
                    x_shape)


def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, owner: str | None = None, *,
         window: Window | None = None) -> Tensor:
    """N-d convolution (cross-correlation) with PyTorch's semantics; ``d`` = ``weight.ndim - 2``.

    Args:
        x: ``(N, C_in, *S)``.
        weight: ``(C_out, C_in / groups, *K)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the step between windows, an int or one per spatial axis.
        padding: int, tuple, per-side pairs, or ``'valid' | 'same' | 'full' | 'causal'``.
        dilation: the spacing between kernel taps, an int or one per spatial axis.
        groups: independent channel groups; divides ``C_in`` and ``C_out``.
        owner: the name error messages give (default ``'conv{d}d'``).
        window: the ``conv_window`` of exactly these arguments and shapes, already checked (a layer
            remembers its own per input shape); ``None``: resolved here.

    Shape:
        ``O_i = floor((S_i + lo_i + hi_i - dilation_i * (K_i - 1) - 1) / stride_i) + 1``;
        output ``(N, C_out, *O)`` (an unbatched ``(C_in, *S)`` gives ``(C_out, *O)``).

    Example:
        >>> conv(np.ones((1, 2, 5, 5)), np.ones((4, 2, 3, 3))).shape
        (1, 4, 3, 3)
    """
    x, weight, bias = Tensor.match_dtypes(owner or "conv", x, weight, bias)   # one dtype, or a TypeError
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    d = weight.ndim - 2
    owner = owner or f"conv{d}d"
    check_param_shape(bias, weight.shape[:1], "bias", owner)
    if window is None:
        window = conv_window(x.shape, weight.shape, stride, padding, dilation, groups, owner)
    x, unbatched = add_batch_axis(x, d)                                 # (C_in, *S) -> (1, C_in, *S)
    xp = namespace(x.data)
    groups, n, c_out = int(groups), x.shape[0], weight.shape[0]
    check_conv_bytes(owner, x.shape, c_out, window, math.prod(weight.shape[1:]) * groups, x.data.itemsize)
    if window.pointwise:
        form = pointwise_form
    elif d == 2 and fast.applies(x.data, weight.data) and depthwise_fits(x.shape, weight.shape, groups):
        form = fast.kernels("depthwise").depthwise_form               # compiled: taps straight on the input
    elif (d == 2 and fast.applies(x.data, weight.data)
          and fast.kernels("winograd").winograd_fits(
              x.shape, weight.shape, window, groups,
              training=is_grad_enabled() and (x.requires_grad or weight.requires_grad))):
        form = fast.kernels("winograd").winograd_form                 # compiled transforms, F(4x4, 3x3)
    elif x.requires_grad and flipped_form_fits(window, x.shape[1], c_out):
        form = flipped_form
    else:
        form = folding_form
    out_m, form_backward = form(x, weight, window, groups)             # (G, Cout/G, P*N)
    if bias is not None:
        out_m += bias.data.reshape(groups, c_out // groups, 1)
    out = from_channel_major(out_m, n, window.out_sizes)                # (N, Cout, *O), a batch-last view

    def backward(g):
        g = to_batch_last(g)                                            # (N, Cout, *O), a copy only if not batch-last
        gm = to_channel_major(g, groups)                                # (G, Cout/G, P*N), a view
        gx, gw = form_backward(g, gm)
        gb = None
        if bias is not None and bias.requires_grad:
            gb = gm.reshape(c_out, -1) @ xp.ones(gm.shape[-1], dtype=gm.dtype)     # (Cout,), a BLAS reduction
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    out = Tensor.from_op(out, parents, backward if bias is not None else (lambda g: backward(g)[:2]), f"conv{d}d")
    return drop_batch_axis(out, unbatched)


# ------------------------------------------------------------------------------------- functions and layers
def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution of ``(N, C, L)``; see ``conv``. ``padding='causal'`` pads only the left.

    Args:
        x: the input ``(N, C_in, L)`` or ``(C_in, L)``, a ``Tensor`` or an array.
        weight: the filters ``(C_out, C_in/groups, K)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the step between windows.
        padding: an int, a ``(lo, hi)`` pair in a 1-tuple, or ``'valid'``, ``'same'``, ``'full'``, ``'causal'``.
        dilation: the spacing between kernel taps.
        groups: independent channel groups.

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)``, as ``Conv1d``.

    Example:
        >>> conv1d(np.ones((1, 1, 5)), np.ones((2, 1, 3))).numpy().tolist()
        [[[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]]
    """
    check_weight_rank(weight, 1, "conv1d", "C_out, C_in/groups")
    return conv(x, weight, bias, stride, padding, dilation, groups, "conv1d")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution of ``(N, C, H, W)``; see ``conv``.

    Args:
        x: the input ``(N, C_in, H, W)`` or ``(C_in, H, W)``, a ``Tensor`` or an array.
        weight: the filters ``(C_out, C_in/groups, kh, kw)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the step between windows, an int or ``(sh, sw)``.
        padding: an int, ``(ph, pw)``, per-side pairs, or ``'valid'``, ``'same'``, ``'full'``.
        dilation: the spacing between kernel taps, an int or ``(dh, dw)``.
        groups: independent channel groups.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``, as ``Conv2d``.

    Example:
        >>> conv2d(np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3))).shape
        (1, 2, 2, 2)
    """
    check_weight_rank(weight, 2, "conv2d", "C_out, C_in/groups")
    return conv(x, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D convolution of ``(N, C, D, H, W)``; see ``conv``.

    Args:
        x: the input ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``.
        weight: the filters ``(C_out, C_in/groups, kd, kh, kw)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the step, an int or 3 ints.
        padding: an int, 3 ints, 3 pairs or a mode string.
        dilation: the tap spacing, an int or 3 ints.
        groups: independent channel groups.

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)``.

    Example:
        >>> conv3d(np.ones((1, 1, 4, 4, 4)), np.ones((2, 1, 3, 3, 3))).shape
        (1, 2, 2, 2, 2)
    """

    check_weight_rank(weight, 3, "conv3d", "C_out, C_in/groups")
    return conv(x, weight, bias, stride, padding, dilation, groups, "conv3d")


class _ConvNd(Module):
    """Shared body of ``Conv1d``, ``Conv2d`` and ``Conv3d`` (``ndim`` set by each subclass)."""

    ndim = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", rng=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels, self.groups = check_channels(name, in_channels, out_channels, groups)
        self.kernel_size, self.stride, self.dilation = check_window(self.ndim, kernel_size, stride, dilation,
                                                                    padding, name)
        self.padding = padding
        self.padding_mode = check_mode(padding_mode, name, CONV_PADDING_MODES, "padding_mode")
        rng = make_rng(rng)
        fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
        self.weight, self.bias = weight_and_bias((self.out_channels, self.in_channels // self.groups)
                                                 + self.kernel_size, (self.out_channels,), fan_in, bias, rng)

    def forward(self, x) -> Tensor:
        if self.padding_mode == "zeros":
            weight, bias = self._weight_and_bias()
            if isinstance(x, Tensor):                                   # the window, resolved once per input shape
                window = self._resolved_for((x.data.shape, weight.shape), lambda: self.window(x.data.shape))
                if (x.data.shape[0] == 1 and self.groups == 1 and len(x.data.shape) == self.ndim + 2
                        and not (is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                                         or bias is not None and bias.requires_grad))):
                    out = single_image_inference(x.data, weight.data, None if bias is None else bias.data, window)
                    if out is not None:                                 # a batch-1 forward without a graph
                        return Tensor.from_op(out, (), None, f"conv{self.ndim}d")
            else:
                window = None
            return conv(x, weight, bias, self.stride, self.padding, self.dilation, self.groups,
                        self._describe(), window=window)
        # another mode: pad the input by the resolved pads of this layer's window ('same' and per-side
        # pairs included), then convolve without padding; shapes, cost and receptive field are unchanged
        x = as_tensor(x)
        x = pad_axes(x, self.window(x.shape).pads, self.padding_mode, owner=self._describe())
        return conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups, self._describe())

    def window(self, in_shape) -> Window:
        """The geometry this layer resolves to for an input of ``in_shape`` (checked as a forward pass would)."""
        return conv_window(tuple(in_shape), self.weight.shape, self.stride, self.padding, self.dilation,
                           self.groups, self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim - 1]) + (self.out_channels,) + self.window(in_shape).out_sizes

    def cost(self, in_shape):
        out = self.window(in_shape).out_sizes
        per_output = self.in_channels // self.groups * math.prod(self.kernel_size)
        params = self.weight.size + (self.bias.size if self.bias is not None else 0)
        return Cost(params, math.prod(out) * self.out_channels * per_output)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def matrix_entries(self, in_shape):
        """Where each weight sits in this layer's matrix for one example of ``(C_in, *S)`` (``toeplitz``)."""
        window = self.window((1,) + tuple(in_shape))
        sources = None
        if self.padding_mode != "zeros":                                # padded taps read input pixels
            sources = [pad_index(n, lo, hi, self.padding_mode) for n, (lo, hi) in zip(window.in_sizes, window.pads)]
        return conv_entries(self.weight.shape, tuple(in_shape), window, self.groups, sources)

    def extra_repr(self) -> str:
        return describe_settings(self, [str(self.in_channels), str(self.out_channels),
                                        f"kernel_size={self.kernel_size}"],
                                 {"stride": (1,) * self.ndim, "padding": 0, "dilation": (1,) * self.ndim, "groups": 1,
                                  "padding_mode": "zeros"})


@register_layer(example=lambda: (Conv1d(2, 4, 3, stride=2, padding="same", dilation=1, rng=0), (2, 2, 9)))
class Conv1d(_ConvNd):
    """1-D convolution layer over ``(N, C_in, L)`` (time series, text, audio).

    The arguments are those of ``Conv2d`` with one spatial axis; ``padding='causal'`` (1-D
    only) pads ``dilation*(kernel_size-1)`` on the left only, so output ``t`` sees inputs ``<= t``.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output (the number of filters).
        kernel_size: the window length, an int or a 1-tuple.
        stride: the step between two windows (default 1).
        padding: an int, a 1-tuple, a ``((lo, hi),)`` pair, or ``'valid'`` (none), ``'same'``
            (``ceil(L / stride)`` outputs, an odd total padding puts the extra at the end),
            ``'full'`` (``dilation*(kernel_size-1)`` both sides) or ``'causal'`` (that much, left only).
        dilation: the spacing between kernel taps (1: contiguous).
        groups: split channels into this many independent groups; must divide both channel counts.
        bias: learn a per-channel bias ``(C_out,)``.
        padding_mode: what the padded samples hold: ``'zeros'``, ``'reflect'`` (mirror without
            repeating the edge), ``'replicate'`` (repeat the edge) or ``'circular'`` (wrap around).
        rng: the generator of the initial weights: a ``numpy.random.Generator`` (used as is), an int
            seed (a new generator) or ``None`` (the library's default generator, ``st.manual_seed``).
            Weight ``(C_out, C_in/groups, K)`` and bias are drawn, weight first, from
            ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = C_in/groups * K`` (PyTorch's default).

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)`` (or unbatched ``(C_in, L) -> (C_out, L_out)``),
    ``L_out = floor((L + lo + hi - dilation*(kernel_size-1) - 1) / stride) + 1``.

    Example:
        >>> Conv1d(1, 4, 3, padding="causal", rng=0)(np.zeros((2, 1, 10))).shape
        (2, 4, 10)
    """

    ndim = 1


@register_layer(example=lambda: (Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, groups=2, rng=0), (2, 4, 7, 6)))
class Conv2d(_ConvNd):
    """2-D convolution layer over ``(N, C_in, H, W)``; ``groups=in_channels`` makes it depthwise.

    Strictly a cross-correlation (the kernel is not flipped), as in every deep-learning framework.
    A per-axis argument is an int (the same on both axes) or a ``(height, width)`` tuple.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output (the number of filters).
        kernel_size: the window size, ``k`` or ``(kh, kw)``.
        stride: the step between two windows, per axis (default 1).
        padding: how many pixels to add at the borders: an int, an ``(ph, pw)`` tuple (both sides),
            ``((top, bottom), (left, right))`` pairs, or a mode: ``'valid'`` (none), ``'same'``
            (``ceil(H / stride)`` outputs; an odd total puts the extra pixel at the end, TensorFlow's
            rule, PyTorch's for stride 1) or ``'full'`` (``dilation*(k-1)`` on each side).
        dilation: the spacing between kernel taps, per axis (1: contiguous; 2 skips every other pixel).
        groups: split the channels into this many independent convolutions; must divide both
            channel counts (``groups=in_channels``: depthwise).
        bias: learn a per-channel bias ``(C_out,)`` added to every output pixel.
        padding_mode: what the padded pixels hold: ``'zeros'``, ``'reflect'`` (mirror without
            repeating the edge), ``'replicate'`` (repeat the edge) or ``'circular'`` (wrap around).
        rng: the generator of the initial weights: a ``numpy.random.Generator`` (used as is), an int
            seed (a new generator) or ``None`` (the library's default generator, seeded by
            ``st.manual_seed``). Weight ``(C_out, C_in/groups, kh, kw)`` and bias are drawn, weight
            first, from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = C_in/groups * kh * kw``
            (PyTorch's default, ``kaiming_uniform_(a=sqrt(5))``).

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` (or unbatched ``(C_in, H, W)``), per axis
    ``H_out = floor((H + top + bottom - dilation*(kh-1) - 1) / stride) + 1``.

    Example:
        >>> Conv2d(3, 16, 3, padding="same", rng=0)(np.zeros((1, 3, 32, 32))).shape
        (1, 16, 32, 32)
    """

    ndim = 2


@register_layer(example=lambda: (Conv3d(2, 3, 2, stride=1, padding=(1, 0, 1), dilation=(1, 2, 1), rng=0),
                                 (1, 2, 4, 5, 4)))
class Conv3d(_ConvNd):
    """3-D convolution layer over ``(N, C_in, D, H, W)`` (video, volumes).

    The arguments are those of ``Conv2d`` with three spatial axes ``(depth, height, width)``.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: ``k`` or ``(kd, kh, kw)``.
        stride: the step per axis (default 1).
        padding: an int, 3 ints, 3 ``(lo, hi)`` pairs, ``'valid'``, ``'same'`` or ``'full'``.
        dilation: the spacing between kernel taps, per axis.
        groups: independent channel groups; must divide both channel counts.
        bias: learn a per-channel bias.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator) for the
            initial weights, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = C_in/groups * kd*kh*kw``.

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)`` with the output-size rule per axis.

    Example:
        >>> Conv3d(2, 4, 3, padding=1, rng=0)(np.zeros((1, 2, 4, 5, 6))).shape
        (1, 4, 4, 5, 6)
    """


    ndim = 3
