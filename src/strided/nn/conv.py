"""Convolution in 1, 2 and 3 dimensions: the op with its backward, the layers and their rules.

One N-d implementation serves ``conv1d``, ``conv2d`` and ``conv3d``: the input is padded and
its windows, in im2col's column order ``(C/G * prod(K), prod(O) * N)`` per group, are multiplied
by the weight matrix of each group, for the whole batch at once. The columns are copied one
cache-sized block of output positions at a time (``conv_blocks``) and each block's product
lands in its columns of ``(C_out, prod(O) * N)``; the output is that buffer seen as
``(N, C_out, *O)`` (a batch-last view, see ``windows``), never transposed, and a gradient
arriving in the same layout is the backward's matrix as it is. The backward's form is chosen in
the forward, which keeps only what that form reads: the input's columns (1x1 at stride 1, and
stride-1 layers whose gradients both come from the output gradient's windows) or the padded
input (the others, which unfold its windows again for the weight gradient). Strictly speaking
this is cross-correlation, as in every deep-learning framework.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, shape_str
from ..geometry import ReceptiveField, as_tuple, remembered, resolve_padding, window_output_shape
from ..tensor import Tensor, as_tensor
from ..windows import (column_blocks, from_channel_major, grouped_matmul, pad, to_batch_last, to_channel_major, unpad,
                       window_columns)
from .conv_blocks import (blocked_input_grad, blocked_product, blocked_weight_grad, stride_one_backward,
                          transposed_taps_fit)
from .init import make_rng, weight_and_bias
from .module import Cost, Module
from .registry import register_layer

SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def expected_layout(ndim: int, channels) -> str:
    """``(N, 3, H, W)`` style description of the input a ``ndim``-D layer wants."""
    return f"(N, {channels}, {SPATIAL_NAMES[ndim]})"


def conv_geometry(in_shape, weight_shape, stride, padding, dilation, groups, owner):
    """Validate a convolution's arguments against ``in_shape`` and resolve its geometry.

    Returns ``(stride, pads, dilation, out_spatial)``, all tuples with one entry per axis.
    Remembered per distinct arguments (a layer sees the same few shapes every step).
    """
    return remembered(_conv_geometry, in_shape, weight_shape, stride, padding, dilation, groups, owner)


def _conv_geometry(in_shape, weight_shape, stride, padding, dilation, groups, owner):
    d = len(weight_shape) - 2
    out_channels, cin_g = weight_shape[:2]
    kernel = tuple(weight_shape[2:])
    stride = as_tuple(stride, d, "stride", owner)
    dilation = as_tuple(dilation, d, "dilation", owner)
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{owner}: groups must be a positive int, got {groups!r}")
    if len(in_shape) != d + 2 or in_shape[1] != cin_g * groups:
        raise ShapeError(f"{owner}: expected input {expected_layout(d, cin_g * groups)}, got {shape_str(in_shape)}")
    if out_channels % groups:
        raise ValueError(f"{owner}: out_channels ({out_channels}) must be divisible by groups ({groups})")
    pads = resolve_padding(padding, in_shape[2:], kernel, stride, dilation, owner)
    out = window_output_shape(in_shape[2:], kernel, stride, pads, dilation, owner, in_shape)
    return stride, pads, dilation, out


def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, owner: str | None = None) -> Tensor:
    """N-d convolution (cross-correlation) with PyTorch's semantics; ``d`` = ``weight.ndim - 2``.

    Args:
        x: ``(N, C_in, *S)``.
        weight: ``(C_out, C_in / groups, *K)``.
        bias: ``(C_out,)`` or ``None``.
        padding: int, tuple, per-side pairs, or ``'valid' | 'same' | 'full' | 'causal'``.

    Shape:
        ``O_i = floor((S_i + lo_i + hi_i - dilation_i * (K_i - 1) - 1) / stride_i) + 1``;
        output ``(N, C_out, *O)``.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    d = weight.ndim - 2
    owner = owner or f"conv{d}d"
    stride, pads, dilation, out_sizes = conv_geometry(x.shape, weight.shape, stride, padding, dilation, groups, owner)
    n = x.shape[0]
    c_out = weight.shape[0]
    kernel = weight.shape[2:]
    w = weight.data.reshape(groups, c_out // groups, -1)                # (G, Cout/G, Cin/G*K)

    # how the backward will run, chosen now so that the forward keeps only what it needs:
    # 'pointwise' (1x1, stride 1: no windows), 'transposed' (stride 1 and C_in >= C_out: both
    # gradients from the windows of the output gradient) or 'folded' (windows of the input for
    # the weight gradient, the input gradient folded back)
    if _is_pointwise(kernel, stride, pads):
        mode = "pointwise"
    elif x.requires_grad and transposed_taps_fit(stride, pads, kernel, dilation, x.shape[1], c_out):
        mode = "transposed"
    else:
        mode = "folded"
    if mode == "pointwise":   # the input already is the column matrix, no window is copied
        x_cols = to_channel_major(x.data, groups)                       # (G, Cin/G, P*N), free if batch-last
        out_m = grouped_matmul(w, x_cols)                               # (G, Cout/G, P*N)
        windows = blocks = padded_shape = None
    else:
        xb = to_batch_last(x.data)                                      # (N, Cin, *S), a copy only if not batch-last
        xp = pad(xb, pads)                                              # (N, Cin, *Sp), batch-last
        windows = window_columns(xp, kernel, stride, dilation, out_sizes)   # (Cin, *K, *O, N), a view
        blocks = column_blocks(out_sizes, n, w.shape[-1] * groups * xp.itemsize)
        out_m = blocked_product(w, windows, blocks, groups)            # (G, Cout/G, P*N)
        padded_shape = xp.shape
        # 'transposed' multiplies the unpadded input's columns (a view of xb), nothing padded
        x_cols = to_channel_major(xb, groups) if mode == "transposed" and weight.requires_grad else None
        del xp, xb
    if bias is not None:
        out_m += bias.data.reshape(groups, c_out // groups, 1)
    out = from_channel_major(out_m, n, out_sizes)                       # (N, Cout, *O), a batch-last view
    if not weight.requires_grad:
        x_cols = None                                                   # only the weight gradient reads these
    if mode != "folded" or not weight.requires_grad:
        windows = None

    def backward(g):
        g = to_batch_last(g)                                            # (N, Cout, *O), a copy only if not batch-last
        gm = to_channel_major(g, groups)                                # (G, Cout/G, P*N), a view
        gx = gw = gb = None
        if bias is not None and bias.requires_grad:
            gb = gm.reshape(c_out, -1) @ np.ones(gm.shape[-1], dtype=gm.dtype)     # (Cout,), a BLAS reduction
        if mode == "pointwise":
            if weight.requires_grad:
                gw = grouped_matmul(gm, x_cols.swapaxes(-1, -2)).reshape(weight.shape)   # (G, Cout/G, Cin/G)
            if x.requires_grad:
                gx = from_channel_major(grouped_matmul(w.swapaxes(-1, -2), gm), n, x.shape[2:])   # a view
        elif mode == "transposed":
            gx_m, gw = stride_one_backward(w.reshape(weight.shape), x_cols, g, pads, dilation, groups)
            gx = from_channel_major(gx_m, n, x.shape[2:])               # (N, Cin, *S), batch-last view
        else:
            if windows is not None:
                gw = blocked_weight_grad(gm, windows, blocks, groups, w.shape[-1]).reshape(weight.shape)
            if x.requires_grad:
                grid = blocked_input_grad(w, gm, blocks, padded_shape, kernel, stride, dilation, out_sizes, groups)
                gxp = grid.transpose((d + 1,) + tuple(range(d + 1)))    # (N, Cin, *Sp), batch-last view
                gx = unpad(gxp, pads)                                   # (N, Cin, *S), a view
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, backward if bias is not None else (lambda g: backward(g)[:2]), f"conv{d}d")


def _is_pointwise(kernel, stride, pads) -> bool:
    """A 1x1 kernel at stride 1 without padding: im2col would copy the input unchanged (dilation is moot).

    ``conv`` then multiplies ``x`` laid out ``(G, C/G, P*N)`` by ``W`` ``(G, Cout/G, C/G)``
    directly, and its backward reshapes the column gradient instead of folding it with col2im.
    """
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride) and not any(lo or hi for lo, hi in pads)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution of ``(N, C, L)``; see ``conv``. ``padding='causal'`` pads only the left."""
    _check_weight_rank(weight, 1, "conv1d")
    return conv(x, weight, bias, stride, padding, dilation, groups, "conv1d")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution of ``(N, C, H, W)``; see ``conv``."""
    _check_weight_rank(weight, 2, "conv2d")
    return conv(x, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D convolution of ``(N, C, D, H, W)``; see ``conv``."""
    _check_weight_rank(weight, 3, "conv3d")
    return conv(x, weight, bias, stride, padding, dilation, groups, "conv3d")


def _check_weight_rank(weight, d: int, owner: str) -> None:
    shape = np.shape(weight.data if isinstance(weight, Tensor) else weight)
    if len(shape) != d + 2:
        raise ShapeError(f"{owner}: expected weight (C_out, C_in/groups, {SPATIAL_NAMES[d]}), got {shape_str(shape)}")


def check_channels(owner: str, in_channels, out_channels, groups=1) -> None:
    """Channel counts of a convolution-like layer: positive ints, both divisible by ``groups``."""
    for arg, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}: {arg} must be a positive int, got {value!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{owner}: in_channels ({in_channels}) and out_channels ({out_channels}) must both "
                         f"be divisible by groups ({groups})")


def describe_settings(module, leading, defaults: dict) -> str:
    """``extra_repr`` text: the ``leading`` parts, then each setting that differs from its default."""
    parts = list(leading) + [f"{key}={getattr(module, key)!r}" for key, default in defaults.items()
                             if getattr(module, key) != default]
    if getattr(module, "bias", None) is None:
        parts.append("bias=False")
    return ", ".join(parts)


class _ConvNd(Module):
    """Shared body of ``Conv1d``, ``Conv2d`` and ``Conv3d`` (``ndim`` set by each subclass)."""

    ndim = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, rng=None):
        super().__init__()
        name = type(self).__name__
        check_channels(name, in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = as_tuple(kernel_size, self.ndim, "kernel_size", name)
        self.stride = as_tuple(stride, self.ndim, "stride", name)
        self.dilation = as_tuple(dilation, self.ndim, "dilation", name)
        # validate the padding now (sizes only matter for 'same', so any size will do here)
        resolve_padding(padding, (max(self.kernel_size),) * self.ndim, self.kernel_size, self.stride,
                        self.dilation, name)
        self.padding = padding
        rng = make_rng(rng)
        fan_in = in_channels // groups * int(np.prod(self.kernel_size))
        self.weight, self.bias = weight_and_bias((out_channels, in_channels // groups) + self.kernel_size,
                                                 (out_channels,), fan_in, bias, rng)

    def forward(self, x) -> Tensor:
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                    self._describe())

    def _geometry(self, in_shape):
        return conv_geometry(tuple(in_shape), self.weight.shape, self.stride, self.padding, self.dilation,
                             self.groups, self._describe())

    def output_shape(self, in_shape):
        return (in_shape[0], self.out_channels) + self._geometry(in_shape)[3]

    def cost(self, in_shape):
        out = self._geometry(in_shape)[3]
        per_output = self.in_channels // self.groups * int(np.prod(self.kernel_size))
        params = self.weight.size + (self.bias.size if self.bias is not None else 0)
        return Cost(params, int(np.prod(out)) * self.out_channels * per_output)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        stride, pads, dilation, _ = self._geometry(in_shape)
        return rf.through_window(self.kernel_size, stride, [lo for lo, _ in pads], dilation)

    def extra_repr(self) -> str:
        return describe_settings(self, [str(self.in_channels), str(self.out_channels),
                                        f"kernel_size={self.kernel_size}"],
                                 {"stride": (1,) * self.ndim, "padding": 0, "dilation": (1,) * self.ndim, "groups": 1})


@register_layer(example=lambda: (Conv1d(2, 4, 3, stride=2, padding="same", dilation=1, rng=0), (2, 2, 9)))
class Conv1d(_ConvNd):
    """1-D convolution layer over ``(N, C_in, L)``.

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)``,
    ``L_out = floor((L + lo + hi - dilation*(kernel_size-1) - 1) / stride) + 1``.

    >>> Conv1d(1, 4, 3, padding="causal", rng=0)(np.zeros((2, 1, 10))).shape
    (2, 4, 10)
    """

    ndim = 1


@register_layer(example=lambda: (Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, groups=2, rng=0), (2, 4, 7, 6)))
class Conv2d(_ConvNd):
    """2-D convolution layer over ``(N, C_in, H, W)``; ``groups=in_channels`` makes it depthwise.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with the output-size rule per axis.

    >>> Conv2d(3, 16, 3, padding="same", rng=0)(np.zeros((1, 3, 32, 32))).shape
    (1, 16, 32, 32)
    """

    ndim = 2


@register_layer(example=lambda: (Conv3d(2, 3, 2, stride=1, padding=(1, 0, 1), dilation=(1, 2, 1), rng=0),
                                 (1, 2, 4, 5, 4)))
class Conv3d(_ConvNd):
    """3-D convolution layer over ``(N, C_in, D, H, W)`` (video, volumes).

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)`` with the output-size rule per axis.
    """

    ndim = 3
