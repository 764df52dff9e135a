"""Transposed convolution in 1, 2 and 3 dimensions: the op with its backward, the layers and their rules.

A transposed convolution is the adjoint of a convolution with the same weight, stride,
padding and dilation: its forward is a convolution's input-gradient computation, so
``<conv(x, W), y> == <x, conv_transpose(y, W)>`` (what the lectures call "inverting" a
convolution: it restores the input's shape, not its values). Every input pixel is multiplied
by the weight matrix into a ``C_out x prod(K)`` footprint, the footprints are added onto the
output grid ``stride`` apart, and the grid is cropped by ``padding`` and extended at the high
end by ``output_padding``. The backward for the input is then a convolution of the output
gradient, the one for the weight a product of its windows with the input. All three are the
blocked products of ``blocked_matmul`` (cache-sized blocks of input positions, no whole column
matrix): the forward is a convolution's input-gradient fold, the backward a convolution's
forward product and weight gradient. The geometry is one ``TransposedWindow``, whose
``adjoint`` is the ``Window`` of that convolution (from the uncropped grid back to the input).

The weight is ``(C_in, C_out / groups, *K)``, as in PyTorch (the transpose of a convolution
weight from ``C_out`` to ``C_in`` channels).
"""

from __future__ import annotations

import math

import numpy as np  # noqa: F401  (the doctests use np)

from ..checks import as_int
from ..errors import expected_input
from ..geometry import ReceptiveField, TransposedWindow, check_window, resolve_transposed_window
from ..geometry.window import check_output_padding
from ..tensor import Tensor, as_tensor
from ..toeplitz import transposed_entries
from ..windows import (COLUMN_BLOCK_BYTES, column_blocks, from_channel_major, pad, to_batch_last, to_channel_major,
                       unpad, window_columns)
from .allocation import check_bytes
from .blocked_matmul import blocked_fold, blocked_product, blocked_product_and_weight_grad, blocked_weight_grad
from .draws import make_rng, weight_and_bias
from .helpers import (add_batch_axis, as_batched, check_channels, check_param_shape, check_spatial_sizes,
                      check_weight_rank, describe_layout, describe_settings, drop_batch_axis)
from .module import Cost, Module
from .registry import register_layer


def conv_transpose_window(in_shape, weight_shape, stride, padding, output_padding, dilation, groups,
                          owner: str) -> TransposedWindow:
    """Check a transposed convolution's arguments against ``in_shape`` (``(N, C_in, *S)``, or
    unbatched ``(C_in, *S)`` as PyTorch accepts) and resolve its geometry."""
    d = len(weight_shape) - 2
    c_in = weight_shape[0]
    groups = as_int(groups, "groups", owner)
    if c_in % groups:
        raise ValueError(f"{owner}: in_channels ({c_in}) must be divisible by groups ({groups})")
    batched = as_batched(in_shape, d)
    if len(batched) != d + 2 or batched[1] != c_in:
        raise expected_input(owner, describe_layout(d, in_shape, c_in), in_shape)
    check_spatial_sizes(owner, in_shape, d, c_in)
    return resolve_transposed_window(batched[2:], weight_shape[2:], stride, dilation, padding, output_padding,
                                     owner=owner, in_shape=in_shape)


def check_transposed_bytes(owner: str, x_shape, c_out: int, window: TransposedWindow, itemsize: int) -> None:
    """Refuse a transposed convolution whose footprint grid, cropped output and block of footprints
    would not fit in memory (``allocation``), before any of them is allocated."""
    n = x_shape[0]
    grid = n * c_out * math.prod(window.grid)
    cropped = n * c_out * math.prod(window.out_sizes) if any(lo or hi for lo, hi in window.crop) else 0
    rows = c_out * math.prod(window.kernel)
    footprints = min(math.prod(window.in_sizes) * n * rows, max(COLUMN_BLOCK_BYTES // itemsize, n * rows))
    check_bytes(owner, (grid + cropped + footprints) * itemsize,
                f"its output {(n, c_out) + window.out_sizes} (footprint grid {(n, c_out) + window.grid})", x_shape)


def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                   owner: str | None = None) -> Tensor:
    """N-d transposed convolution with PyTorch's semantics; ``d`` = ``weight.ndim - 2``.

    Args:
        x: ``(N, C_in, *S)``.
        weight: ``(C_in, C_out / groups, *K)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the up-sampling step, an int or one per spatial axis.
        padding: int, tuple of ints, or per-side ``(lo, hi)`` pairs cropped off the output.
        output_padding: extra size at the high end of each axis, smaller than stride or dilation.
        groups: independent channel groups; divides ``C_in`` and ``C_out``.
        dilation: the spacing between kernel taps.
        owner: the name error messages give (default ``'conv_transpose'``).

    Shape:
        ``O_i = (S_i - 1) * stride_i - lo_i - hi_i + dilation_i * (K_i - 1) + output_padding_i + 1``;
        output ``(N, C_out, *O)`` (an unbatched ``(C_in, *S)`` gives ``(C_out, *O)``).

    Example:
        >>> conv_transpose(np.ones((1, 2, 3, 3)), np.ones((2, 4, 3, 3)), stride=2).shape
        (1, 4, 7, 7)
    """
    x, weight, bias = Tensor.match_dtypes(owner or "conv_transpose", x, weight, bias)   # one dtype, or a TypeError
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    d = weight.ndim - 2
    owner = owner or f"conv_transpose{d}d"
    window = conv_transpose_window(x.shape, weight.shape, stride, padding, output_padding, dilation, groups, owner)
    adjoint = window.adjoint                                            # the convolution from the grid to x
    groups = int(groups)
    c_out = weight.shape[1] * groups
    check_param_shape(bias, (c_out,), "bias", owner)
    x, unbatched = add_batch_axis(x, d)                                 # (C_in, *S) -> (1, C_in, *S)
    n, c_in = x.shape[:2]
    in_sizes = window.in_sizes
    check_transposed_bytes(owner, x.shape, c_out, window, x.data.itemsize)
    w = weight.data.reshape(groups, c_in // groups, -1)                 # (G, Cin/G, Cout/G*K)
    xm = to_channel_major(x.data, groups)                               # (G, Cin/G, P*N), P = prod(S); free if batch-last
    # blocks of input positions: each one's footprints (Cout*K rows) are formed and folded in the cache
    blocks = column_blocks(in_sizes, n, w.shape[-1] * groups * xm.itemsize)
    grid_bl = blocked_fold(w, xm, blocks, (n, c_out), adjoint, groups)  # (Cout, *grid, N)
    out = unpad(grid_bl.transpose((d + 1,) + tuple(range(d + 1))), window.crop)   # (N, Cout, *O), batch-last view
    out = to_batch_last(out)                                            # dense (a copy only when cropped)
    if bias is not None:
        out += bias.data.reshape((c_out,) + (1,) * d)
    if not weight.requires_grad:
        xm = None                                                       # only the weight gradient reads it

    def backward(g):
        gx = gw = gb = None
        if x.requires_grad or weight.requires_grad:
            gp = pad(to_batch_last(g), window.crop)                              # (N, Cout, *grid), batch-last
            windows = window_columns(gp, adjoint)                                # (Cout, *K, *S, N), a view
        if x.requires_grad and weight.requires_grad:                             # one unfolding for both
            gx_m, gw = blocked_product_and_weight_grad(w, xm, windows, blocks, groups)
            gx, gw = from_channel_major(gx_m, n, in_sizes), gw.reshape(weight.shape)   # (N, Cin, *S)
        elif x.requires_grad:
            gx = from_channel_major(blocked_product(w, windows, blocks, groups), n, in_sizes)   # (N, Cin, *S)
        elif weight.requires_grad:
            gw = blocked_weight_grad(xm, windows, blocks, groups, w.shape[-1]).reshape(weight.shape)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=(0,) + tuple(range(2, d + 2)))                        # (Cout,)
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    out = Tensor.from_op(out, parents, backward if bias is not None else (lambda g: backward(g)[:2]),
                         f"conv_transpose{d}d")
    return drop_batch_axis(out, unbatched)


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """1-D transposed convolution of ``(N, C_in, L)``; see ``conv_transpose``.

    Args:
        x: the input ``(N, C_in, L)`` or ``(C_in, L)``.
        weight: ``(C_in, C_out/groups, K)`` (the layout of the convolution it transposes).
        bias: ``(C_out,)`` or ``None``.
        stride: the up-sampling step.
        padding: cropped off both ends of the output (an int or a 1-tuple or pair).
        output_padding: extra length at the end, smaller than stride or dilation.
        groups: independent channel groups.
        dilation: the spacing between kernel taps.

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)``, as ``ConvTranspose1d``.

    Example:
        >>> conv_transpose1d(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=2).numpy().tolist()
        [[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]]
    """
    check_weight_rank(weight, 1, "conv_transpose1d", "C_in, C_out/groups")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose1d")


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """2-D transposed convolution of ``(N, C_in, H, W)``; see ``conv_transpose``.

    Args:
        x: the input ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
        weight: ``(C_in, C_out/groups, kh, kw)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the up-sampling step, an int or ``(sh, sw)``.
        padding: cropped off the output's borders: an int, ``(ph, pw)`` or per-side pairs.
        output_padding: extra rows/columns at the bottom/right, smaller than stride or dilation.
        groups: independent channel groups.
        dilation: the spacing between kernel taps.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``, as ``ConvTranspose2d``.

    Example:
        >>> conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 4, 2, 2)), stride=2).shape
        (1, 4, 6, 6)
    """
    check_weight_rank(weight, 2, "conv_transpose2d", "C_in, C_out/groups")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose2d")


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """3-D transposed convolution of ``(N, C_in, D, H, W)``; see ``conv_transpose``.

    Args:
        x: the input ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``.
        weight: ``(C_in, C_out/groups, kd, kh, kw)``.
        bias: ``(C_out,)`` or ``None``.
        stride: the up-sampling step, an int or 3 ints.
        padding: cropped off the output, an int, 3 ints or 3 pairs.
        output_padding: extra size at the high end of each axis.
        groups: independent channel groups.
        dilation: the tap spacing.

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)``.

    Example:
        >>> conv_transpose3d(np.ones((1, 2, 3, 3, 3)), np.ones((2, 4, 2, 2, 2)), stride=2).shape
        (1, 4, 6, 6, 6)
    """
    check_weight_rank(weight, 3, "conv_transpose3d", "C_in, C_out/groups")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose3d")


class _ConvTransposeNd(Module):
    """Shared body of ``ConvTranspose1d``, ``ConvTranspose2d`` and ``ConvTranspose3d``.

    Rules (per example):

    * ``cost``: MACs = ``prod(in_spatial) * C_in * (C_out / groups) * prod(K)``: every input
      value is multiplied by its whole footprint, including the products that land in the
      cropped ``padding`` (the work really done, and fvcore's convention for transposed convs).
      It equals the MACs of the convolution whose adjoint this is.
    * ``receptive_field``: ``ReceptiveField.through_transposed_window``: the jump divides by the
      stride, the size grows by ``(k_eff - 1) / stride`` input jumps; exact at stride 1, the
      envelope of the influencing pixels at stride > 1 (see there).
    """

    ndim = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, rng=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels, self.groups = check_channels(name, in_channels, out_channels, groups)
        self.kernel_size, self.stride, self.dilation = check_window(self.ndim, kernel_size, stride, dilation,
                                                                    padding, name, transposed=True)
        self.output_padding = check_output_padding(output_padding, self.stride, self.dilation, name)
        self.padding = padding
        rng = make_rng(rng)
        # torch's fan_in for this weight layout: weight.shape[1] * prod(K) = (C_out / groups) * prod(K)
        fan_in = self.out_channels // self.groups * math.prod(self.kernel_size)
        self.weight, self.bias = weight_and_bias((self.in_channels, self.out_channels // self.groups)
                                                 + self.kernel_size, (self.out_channels,), fan_in, bias, rng)

    def forward(self, x) -> Tensor:
        return conv_transpose(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                              self.groups, self.dilation, self._describe())

    def window(self, in_shape) -> TransposedWindow:
        """The geometry this layer resolves to for an input of ``in_shape`` (checked as a forward pass would)."""
        return conv_transpose_window(tuple(in_shape), self.weight.shape, self.stride, self.padding,
                                     self.output_padding, self.dilation, self.groups, self._describe())

    def output_shape(self, in_shape):
        return tuple(in_shape[:-self.ndim - 1]) + (self.out_channels,) + self.window(in_shape).out_sizes

    def cost(self, in_shape):
        self.window(in_shape)
        per_input = self.out_channels // self.groups * math.prod(self.kernel_size)
        params = self.weight.size + (self.bias.size if self.bias is not None else 0)
        return Cost(params, int(math.prod(in_shape[-self.ndim:])) * self.in_channels * per_input)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def matrix_entries(self, in_shape):
        """Where each weight sits in this layer's matrix for one example of ``(C_in, *S)`` (``toeplitz``)."""
        return transposed_entries(self.weight.shape, self.out_channels, tuple(in_shape),
                                  self.window((1,) + tuple(in_shape)), self.groups)

    def extra_repr(self) -> str:
        ones, zeros = (1,) * self.ndim, (0,) * self.ndim
        return describe_settings(self, [str(self.in_channels), str(self.out_channels),
                                        f"kernel_size={self.kernel_size}"],
                                 {"stride": ones, "padding": 0, "output_padding": zeros, "dilation": ones, "groups": 1})


# The examples keep stride 1: at stride > 1 the outputs are denser than the inputs (jump < 1) and
# the influencing pixels vary between neighbouring outputs, which the generic contract's
# receptive-field measurement cannot express; tests/test_conv_transpose.py measures that case.
@register_layer(example=lambda: (ConvTranspose1d(2, 4, 3, padding=1, output_padding=1, dilation=2, rng=0),
                                 (2, 2, 6)))
class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer over ``(N, C_in, L)`` (learned up-sampling of sequences).

    The arguments are those of ``ConvTranspose2d`` with one spatial axis.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: the window length, an int or a 1-tuple.
        stride: the up-sampling factor (default 1).
        padding: samples cropped off each end of the full output (an int, 1-tuple or pair).
        output_padding: extra samples at the end, to pick one of the lengths a strided
            convolution maps to the same size; smaller than ``stride`` or ``dilation``.
        groups: independent channel groups; divides both channel counts.
        bias: learn a per-channel bias.
        dilation: the spacing between kernel taps.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator) for the
            initial weights ``(C_in, C_out/groups, K)``, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with
            PyTorch's ``fan_in = C_out/groups * K`` for this layout.

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)``,
    ``L_out = (L - 1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1``.

    Example:
        >>> ConvTranspose1d(4, 2, 4, stride=2, padding=1, rng=0)(np.zeros((1, 4, 10))).shape
        (1, 2, 20)
    """

    ndim = 1


@register_layer(example=lambda: (ConvTranspose2d(4, 6, (3, 2), padding=(1, 0), groups=2, rng=0), (2, 4, 4, 3)))
class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer over ``(N, C_in, H, W)`` (decoders, segmentation, GANs).

    The adjoint (gradient) of ``Conv2d`` with the same arguments: every input pixel scatters a
    copy of the kernel, scaled by its value, ``stride`` pixels apart; overlaps add up. A per-axis
    argument is an int or a ``(height, width)`` tuple.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: the kernel size, ``k`` or ``(kh, kw)``.
        stride: the up-sampling factor per axis (default 1).
        padding: pixels cropped off each border of the full output: an int, ``(ph, pw)`` or
            ``((top, bottom), (left, right))`` pairs (no mode strings).
        output_padding: extra rows/columns at the bottom/right, to pick one of the sizes a strided
            ``Conv2d`` maps to the same output; smaller than ``stride`` or ``dilation``.
        groups: independent channel groups; divides both channel counts.
        bias: learn a per-channel bias ``(C_out,)``.
        dilation: the spacing between kernel taps.
        rng: the generator of the initial weights: a ``numpy.random.Generator`` (used as is), an int
            seed (a new generator) or ``None`` (the library's default generator, ``st.manual_seed``).
            Weight ``(C_in, C_out/groups, kh, kw)`` and bias come from ``U(-1/sqrt(fan_in),
            1/sqrt(fan_in))`` with PyTorch's ``fan_in = C_out/groups * kh * kw`` for this layout.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``, per axis
    ``(S - 1)*stride - 2*padding + dilation*(K-1) + output_padding + 1``.

    Example:
        >>> ConvTranspose2d(16, 3, 4, stride=2, padding=1, rng=0)(np.zeros((1, 16, 8, 8))).shape
        (1, 3, 16, 16)
    """

    ndim = 2


@register_layer(example=lambda: (ConvTranspose3d(2, 3, 2, padding=(0, 1, 0), dilation=(1, 2, 1), rng=0),
                                 (1, 2, 3, 4, 3)))
class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer over ``(N, C_in, D, H, W)`` (volumes, video).

    The arguments are those of ``ConvTranspose2d`` with three spatial axes.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: ``k`` or ``(kd, kh, kw)``.
        stride: the up-sampling factor per axis.
        padding: cropped off each border: an int, 3 ints or 3 pairs.
        output_padding: extra size at the high end of each axis.
        groups: independent channel groups.
        bias: learn a per-channel bias.
        dilation: the tap spacing per axis.
        rng: a ``numpy.random.Generator``, an int seed or ``None`` (the default generator) for the
            initial weights, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = C_out/groups * kd*kh*kw``.

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)`` with the output-size rule per axis.

    Example:
        >>> ConvTranspose3d(2, 4, kernel_size=2, stride=2, rng=0)(np.zeros((1, 2, 3, 3, 3))).shape
        (1, 4, 6, 6, 6)
    """


    ndim = 3
