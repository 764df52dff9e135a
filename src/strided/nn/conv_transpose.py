"""Transposed convolution in 1, 2 and 3 dimensions: the op with its backward, the layers and their rules.

A transposed convolution is the adjoint of a convolution with the same weight, stride,
padding and dilation: its forward is a convolution's input-gradient computation, so
``<conv(x, W), y> == <x, conv_transpose(y, W)>`` (what the lectures call "inverting" a
convolution: it restores the input's shape, not its values). Every input pixel is multiplied
by the weight matrix into a ``C_out x prod(K)`` footprint, the footprints are added onto the
output grid ``stride`` apart, and the grid is cropped by ``padding`` and extended at the high
end by ``output_padding``. The backward for the input is then a convolution of the output
gradient, the one for the weight a product of its windows with the input. All three are the
blocked products of ``conv_blocks`` (cache-sized blocks of input positions, no whole column
matrix): the forward is a convolution's input-gradient fold, the backward a convolution's
forward product and weight gradient.

The weight is ``(C_in, C_out / groups, *K)``, as in PyTorch (the transpose of a convolution
weight from ``C_out`` to ``C_in`` channels).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, shape_str
from ..geometry import ReceptiveField, as_tuple, explicit_padding, transposed_window_output_shape
from ..tensor import Tensor, as_tensor
from ..windows import column_blocks, from_channel_major, pad, to_batch_last, to_channel_major, unpad, window_columns
from .conv import SPATIAL_NAMES, check_channels, describe_settings, expected_layout
from .conv_blocks import blocked_input_grad, blocked_product, blocked_weight_grad
from .init import make_rng, weight_and_bias
from .module import Cost, Module
from .registry import register_layer


def transposed_padding(padding, ndim: int, owner: str) -> tuple[tuple[int, int], ...]:
    """``(lo, hi)`` pairs from an int, ``ndim`` ints or ``ndim`` pairs; the mode strings are refused.

    ``'same'``, ``'valid'``, ... describe how a convolution pads its input; a transposed
    convolution's ``padding`` crops its output instead, so only explicit amounts make sense.
    """
    if isinstance(padding, str):
        raise TypeError(f"{owner}: padding must be an int, a tuple of {ndim} ints or a tuple of {ndim} "
                        f"(lo, hi) pairs (a transposed convolution crops its output by it; padding modes "
                        f"are not defined), got {padding!r}")
    return explicit_padding(padding, ndim, owner)


def check_output_padding(output_padding, stride, dilation, owner: str) -> tuple[int, ...]:
    """PyTorch's rule: per axis, ``output_padding`` is smaller than the stride or the dilation."""
    output_padding = as_tuple(output_padding, len(stride), "output_padding", owner, minimum=0)
    for op, s, d in zip(output_padding, stride, dilation):
        if not (op < s or op < d):
            raise ValueError(f"{owner}: output_padding must be smaller than stride or dilation on every axis, "
                             f"got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    return output_padding


def conv_transpose_geometry(in_shape, weight_shape, stride, padding, output_padding, dilation, groups, owner):
    """Validate a transposed convolution's arguments against ``in_shape`` and resolve its geometry.

    Returns ``(stride, pads, output_padding, dilation, out_spatial)``, tuples with one entry per axis.
    """
    d = len(weight_shape) - 2
    c_in = weight_shape[0]
    kernel = tuple(weight_shape[2:])
    stride = as_tuple(stride, d, "stride", owner)
    dilation = as_tuple(dilation, d, "dilation", owner)
    output_padding = check_output_padding(output_padding, stride, dilation, owner)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{owner}: groups must be a positive int, got {groups!r}")
    if c_in % groups:
        raise ValueError(f"{owner}: in_channels ({c_in}) must be divisible by groups ({groups})")
    if len(in_shape) != d + 2 or in_shape[1] != c_in:
        raise ShapeError(f"{owner}: expected input {expected_layout(d, c_in)}, got {shape_str(in_shape)}")
    pads = transposed_padding(padding, d, owner)
    out = transposed_window_output_shape(in_shape[2:], kernel, stride, pads, dilation, output_padding, owner,
                                         in_shape)
    return stride, pads, output_padding, dilation, out


def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                   owner: str | None = None) -> Tensor:
    """N-d transposed convolution with PyTorch's semantics; ``d`` = ``weight.ndim - 2``.

    Args:
        x: ``(N, C_in, *S)``.
        weight: ``(C_in, C_out / groups, *K)``.
        bias: ``(C_out,)`` or ``None``.
        padding: int, tuple of ints, or per-side ``(lo, hi)`` pairs cropped off the output.
        output_padding: extra size at the high end of each axis, smaller than stride or dilation.

    Shape:
        ``O_i = (S_i - 1) * stride_i - lo_i - hi_i + dilation_i * (K_i - 1) + output_padding_i + 1``;
        output ``(N, C_out, *O)``.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    d = weight.ndim - 2
    owner = owner or f"conv_transpose{d}d"
    stride, pads, _, dilation, out_sizes = conv_transpose_geometry(
        x.shape, weight.shape, stride, padding, output_padding, dilation, groups, owner)
    n, c_in = x.shape[:2]
    in_sizes = x.shape[2:]
    kernel = weight.shape[2:]
    c_out = weight.shape[1] * groups
    # the grid every footprint lands on: the full extent, or more when output_padding reaches past it
    full = tuple((s_ - 1) * st + dl * (k - 1) + 1 for s_, st, dl, k in zip(in_sizes, stride, dilation, kernel))
    grid = tuple(max(f, lo + o) for f, (lo, _), o in zip(full, pads, out_sizes))
    crop = tuple((lo, g - lo - o) for g, (lo, _), o in zip(grid, pads, out_sizes))
    w = weight.data.reshape(groups, c_in // groups, -1)                 # (G, Cin/G, Cout/G*K)
    xm = to_channel_major(x.data, groups)                               # (G, Cin/G, P*N), P = prod(S); free if batch-last
    # blocks of input positions: each one's footprints (Cout*K rows) are formed and folded in the cache
    blocks = column_blocks(in_sizes, n, w.shape[-1] * groups * xm.itemsize)
    grid_bl = blocked_input_grad(w, xm, blocks, (n, c_out) + grid, kernel, stride, dilation, in_sizes,
                                 groups)                                # (Cout, *grid, N)
    out = unpad(grid_bl.transpose((d + 1,) + tuple(range(d + 1))), crop)   # (N, Cout, *O), a batch-last view
    out = to_batch_last(out)                                            # dense (a copy only when cropped)
    if bias is not None:
        out += bias.data.reshape((c_out,) + (1,) * d)
    if not weight.requires_grad:
        xm = None                                                       # only the weight gradient reads it

    def backward(g):
        gx = gw = gb = None
        if x.requires_grad or weight.requires_grad:
            gp = pad(to_batch_last(g), crop)                                     # (N, Cout, *grid), batch-last
            windows = window_columns(gp, kernel, stride, dilation, in_sizes)     # (Cout, *K, *S, N), a view
        if x.requires_grad:
            gx = from_channel_major(blocked_product(w, windows, blocks, groups), n, in_sizes)   # (N, Cin, *S)
        if weight.requires_grad:
            gw = blocked_weight_grad(xm, windows, blocks, groups, w.shape[-1]).reshape(weight.shape)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=(0,) + tuple(range(2, d + 2)))                        # (Cout,)
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, backward if bias is not None else (lambda g: backward(g)[:2]),
                          f"conv_transpose{d}d")


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """1-D transposed convolution of ``(N, C_in, L)``; see ``conv_transpose``."""
    _check_weight_rank(weight, 1, "conv_transpose1d")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose1d")


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """2-D transposed convolution of ``(N, C_in, H, W)``; see ``conv_transpose``."""
    _check_weight_rank(weight, 2, "conv_transpose2d")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose2d")


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """3-D transposed convolution of ``(N, C_in, D, H, W)``; see ``conv_transpose``."""
    _check_weight_rank(weight, 3, "conv_transpose3d")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, "conv_transpose3d")


def _check_weight_rank(weight, d: int, owner: str) -> None:
    shape = np.shape(weight.data if isinstance(weight, Tensor) else weight)
    if len(shape) != d + 2:
        raise ShapeError(f"{owner}: expected weight (C_in, C_out/groups, {SPATIAL_NAMES[d]}), got {shape_str(shape)}")


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
        check_channels(name, in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = as_tuple(kernel_size, self.ndim, "kernel_size", name)
        self.stride = as_tuple(stride, self.ndim, "stride", name)
        self.dilation = as_tuple(dilation, self.ndim, "dilation", name)
        self.output_padding = check_output_padding(output_padding, self.stride, self.dilation, name)
        transposed_padding(padding, self.ndim, name)     # validate now
        self.padding = padding
        rng = make_rng(rng)
        # torch's fan_in for this weight layout: weight.shape[1] * prod(K) = (C_out / groups) * prod(K)
        fan_in = out_channels // groups * int(np.prod(self.kernel_size))
        self.weight, self.bias = weight_and_bias((in_channels, out_channels // groups) + self.kernel_size,
                                                 (out_channels,), fan_in, bias, rng)

    def forward(self, x) -> Tensor:
        return conv_transpose(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                              self.groups, self.dilation, self._describe())

    def _geometry(self, in_shape):
        return conv_transpose_geometry(tuple(in_shape), self.weight.shape, self.stride, self.padding,
                                       self.output_padding, self.dilation, self.groups, self._describe())

    def output_shape(self, in_shape):
        return (in_shape[0], self.out_channels) + self._geometry(in_shape)[4]

    def cost(self, in_shape):
        self._geometry(in_shape)
        per_input = self.out_channels // self.groups * int(np.prod(self.kernel_size))
        params = self.weight.size + (self.bias.size if self.bias is not None else 0)
        return Cost(params, int(np.prod(in_shape[2:])) * self.in_channels * per_input)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        stride, pads, _, dilation, _ = self._geometry(in_shape)
        return rf.through_transposed_window(self.kernel_size, stride, [lo for lo, _ in pads], dilation)

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

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)``,
    ``L_out = (L - 1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1``.

    >>> ConvTranspose1d(4, 2, 4, stride=2, padding=1, rng=0)(np.zeros((1, 4, 10))).shape
    (1, 2, 20)
    """

    ndim = 1


@register_layer(example=lambda: (ConvTranspose2d(4, 6, (3, 2), padding=(1, 0), groups=2, rng=0), (2, 4, 4, 3)))
class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer over ``(N, C_in, H, W)`` (decoders, segmentation, GANs).

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``, per axis
    ``(S - 1)*stride - 2*padding + dilation*(K-1) + output_padding + 1``.

    >>> ConvTranspose2d(16, 3, 4, stride=2, padding=1, rng=0)(np.zeros((1, 16, 8, 8))).shape
    (1, 3, 16, 16)
    """

    ndim = 2


@register_layer(example=lambda: (ConvTranspose3d(2, 3, 2, padding=(0, 1, 0), dilation=(1, 2, 1), rng=0),
                                 (1, 2, 3, 4, 3)))
class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer over ``(N, C_in, D, H, W)`` (volumes, video).

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)`` with the output-size rule per axis.
    """

    ndim = 3
