"""Locally-connected layers in 1, 2 (and 3) dimensions: a convolution without weight sharing.

Lecture 000, equation (8): ``H_ij = phi(W_ij . vect(P_ij))``, "a separate weight matrix ``W_ij``
for each location". Every output position has its own kernel, so the layer is local but not
translation-equivariant; with all positions' kernels equal it is exactly a convolution.

The op is im2col followed by one batched matrix product over output positions: the
``(N, C_in * prod(K), P)`` columns meet a ``(P, C_out, C_in * prod(K))`` stack of per-position
weight matrices. No dense ``(C_out * P) x (C_in * prod(S))`` Toeplitz matrix is ever built.

Weight layout (this library's choice; there is no PyTorch layer to copy from):
``weight`` is ``(*O, C_out, C_in, *K)``, i.e. ``weight[i, j]`` is an ordinary conv kernel
``(C_out, C_in, kh, kw)`` for output position ``(i, j)``; ``bias`` is ``(C_out, *O)``, one per
output value, as in AlexNet's count in lecture 002 (each of the 290,400 outputs has 363 weights
and one bias: 105,705,600 parameters).
"""

from __future__ import annotations

import math

import numpy as np  # noqa: F401  (the doctests use np)

from ..backend import namespace
from ..checks import as_int, as_tuple
from ..errors import ShapeError, expected_input, shape_str
from ..geometry import ReceptiveField, Window, check_window, resolve_window
from ..tensor import Tensor, as_tensor
from ..toeplitz import local_entries
from ..windows import col2im, im2col, pad, unpad
from .conv import conv_window
from .draws import make_rng, weight_and_bias
from .helpers import add_batch_axis, as_batched, describe_settings, drop_batch_axis
from .module import Cost, Module
from .registry import register_layer


def locally_connected(x, weight, bias=None, stride=1, padding=0, dilation=1, owner: str | None = None) -> Tensor:
    """Locally-connected layer (unshared convolution) over the last ``d`` axes.

    ``out[n, o, *p] = bias[o, *p] + sum_{c, *k} weight[*p, o, c, *k] * x_pad[n, c, *(p*stride + k*dilation)]``

    Args:
        x: ``(N, C_in, *S)``.
        weight: ``(*O, C_out, C_in, *K)``: one ``(C_out, C_in, *K)`` kernel per output position.
        bias: ``(C_out, *O)``, one per output value, or ``None`` (default: no bias).
        stride: the step between two windows, an int or one per axis (default 1).
        padding: as for ``conv`` (int, tuple, per-side pairs, ``'valid' | 'same' | 'full' | 'causal'``;
            default 0).
        dilation: the spacing between kernel taps, an int or one per axis (default 1: contiguous).
        owner: the layer name that error messages start with (default ``locally_connected{d}d``).

    Shape:
        ``O_i = floor((S_i + lo_i + hi_i - dilation_i * (K_i - 1) - 1) / stride_i) + 1`` (the conv rule);
        ``(N, C_in, *S) -> (N, C_out, *O)`` (or unbatched ``(C_in, *S) -> (C_out, *O)``, like a
        convolution); ``weight.shape[:d]`` must equal ``O``.

    Example:
        >>> locally_connected(np.ones((1, 2, 5)), np.ones((3, 4, 2, 3))).shape
        (1, 4, 3)
    """
    x, weight, bias = Tensor.match_dtypes(owner or "locally_connected", x, weight, bias)   # one dtype, or a TypeError
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    if weight.ndim < 4 or weight.ndim % 2:
        raise ShapeError(f"{owner or 'locally_connected'}: expected weight (*O, C_out, C_in, *K) with d >= 1 "
                         f"spatial axes in O and in K, got {shape_str(weight.shape)}")
    d = (weight.ndim - 2) // 2
    owner = owner or f"locally_connected{d}d"
    out_grid, (c_out, c_in), kernel = weight.shape[:d], weight.shape[d:d + 2], weight.shape[d + 2:]
    window = conv_window(x.shape, (c_out, c_in) + kernel, stride, padding, dilation, 1, owner)
    out_sizes = window.out_sizes
    if tuple(out_grid) != tuple(out_sizes):
        raise ShapeError(f"{owner}: input {shape_str(x.shape)} gives output positions {shape_str(out_sizes)}, "
                         f"but the weight {shape_str(weight.shape)} has one kernel per position of "
                         f"{shape_str(out_grid)}")
    if bias is not None and bias.shape != (c_out,) + tuple(out_sizes):
        raise ShapeError(f"{owner}: expected bias {shape_str((c_out,) + tuple(out_sizes))}, "
                         f"got {shape_str(bias.shape)}")
    x, unbatched = add_batch_axis(x, d)                                 # (C_in, *S) -> (1, C_in, *S)
    n = x.shape[0]
    xp = namespace(x.data)
    p = math.prod(out_sizes)
    w = weight.data.reshape(p, c_out, -1)                               # (P, Cout, R), R = Cin*prod(K)

    padded = pad(x.data, window.pads)                                   # (N, Cin, *Sp)
    cols = im2col(padded, window)[0]                                        # (R, P*N)
    cols_t = cols.reshape(cols.shape[0], p, n).transpose(1, 0, 2)       # (P, R, N), a view
    out_t = xp.matmul(w, cols_t)                                        # (P, Cout, N): one product per position
    out = xp.ascontiguousarray(out_t.transpose(2, 1, 0))                # (N, Cout, P)
    out = out.reshape((n, c_out) + tuple(out_sizes))                    # (N, Cout, *O)
    if bias is not None:
        out += bias.data                                                # (Cout, *O) broadcast over N

    def backward(g):
        g_t = g.reshape(n, c_out, p).transpose(2, 1, 0)                 # (P, Cout, N)
        gx = gw = gb = None
        if weight.requires_grad:
            gw = xp.matmul(g_t, cols_t.swapaxes(1, 2))                  # (P, Cout, R)
            gw = gw.reshape(weight.shape)                               # (*O, Cout, Cin, *K)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=0)                                          # (Cout, *O)
        if x.requires_grad:
            gcols_t = xp.matmul(w.swapaxes(1, 2), g_t)                  # (P, R, N)
            gcols = gcols_t.transpose(1, 0, 2)                          # (R, P, N): im2col's layout
            gxp = col2im(gcols, (n, c_in), window)                      # (N, Cin, *Sp)
            gx = xp.ascontiguousarray(unpad(gxp, window.pads))          # (N, Cin, *S)
        return gx, gw, gb

    if bias is None:
        out = Tensor.from_op(out, (x, weight), lambda g: backward(g)[:2], f"locally_connected{d}d")
    else:
        out = Tensor.from_op(out, (x, weight, bias), backward, f"locally_connected{d}d")
    return drop_batch_axis(out, unbatched)


def locally_connected1d(x, weight, bias=None, stride=1, padding=0, dilation=1) -> Tensor:
    """Locally-connected layer over ``(N, C, L)``; ``weight`` is ``(L_out, C_out, C_in, K)``.

    Args:
        x: ``(N, C_in, L)`` (or unbatched ``(C_in, L)``).
        weight: ``(L_out, C_out, C_in, K)``: one kernel per output position.
        bias: ``(C_out, L_out)``, one per output value, or ``None`` (default: no bias).
        stride: the step between two windows (default 1).
        padding: as for ``conv``: an int, a ``(lo, hi)`` pair, ``'valid'``, ``'same'``, ``'full'``, or
            ``'causal'`` in 1-D (default 0).
        dilation: the spacing between kernel taps (default 1: contiguous).

    Example:
        >>> locally_connected1d(np.ones((1, 2, 5)), np.ones((3, 4, 2, 3))).numpy().tolist()
        [[[6.0, 6.0, 6.0], [6.0, 6.0, 6.0], [6.0, 6.0, 6.0], [6.0, 6.0, 6.0]]]
    """
    return locally_connected(x, weight, bias, stride, padding, dilation, "locally_connected1d")


def locally_connected2d(x, weight, bias=None, stride=1, padding=0, dilation=1) -> Tensor:
    """Locally-connected layer over ``(N, C, H, W)``; ``weight`` is ``(H_out, W_out, C_out, C_in, kh, kw)``.

    Args:
        x: ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``).
        weight: ``(H_out, W_out, C_out, C_in, kh, kw)``: one kernel per output position.
        bias: ``(C_out, H_out, W_out)``, one per output value, or ``None`` (default: no bias).
        stride: the step between two windows (default 1).
        padding: as for ``conv``: an int, a tuple, per-side pairs, ``'valid'``, ``'same'`` or ``'full'``
            (default 0).
        dilation: the spacing between kernel taps (default 1: contiguous).

    Example:
        >>> locally_connected2d(np.ones((1, 2, 4, 4)), np.ones((2, 2, 3, 2, 3, 3))).shape
        (1, 3, 2, 2)
    """
    return locally_connected(x, weight, bias, stride, padding, dilation, "locally_connected2d")


def local_cost(in_shape, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, bias: bool = True,
               owner: str = "locally_connected") -> Cost:
    """Parameters and MACs of a locally-connected layer, from shapes alone (nothing is allocated).

    ``params = prod(O) * C_out * C_in * prod(K)`` weights ``+ prod(O) * C_out`` biases;
    ``MACs = prod(O) * C_out * C_in * prod(K)`` (the same MACs as the convolution it unshares).

    >>> local_cost((1, 3, 227, 227), 96, 11, stride=4)      # AlexNet's first layer, unshared
    (105705600, 105415200)
    """
    c_in, in_size = in_shape[1], tuple(in_shape[2:])
    window = resolve_window(in_size, kernel_size, stride, dilation, padding, owner=owner, in_shape=in_size)
    outputs = math.prod(window.out_sizes) * out_channels
    macs = outputs * c_in * math.prod(window.kernel)
    return Cost(macs + (outputs if bias else 0), macs)


class _LocallyConnectedNd(Module):
    """Shared body of ``LocallyConnected1d/2d/3d`` (``ndim`` set by each subclass).

    ``in_size`` (the input's spatial size, an int or one int per axis) is needed up front: it fixes
    the number of output positions, hence the number of kernels.
    """

    ndim = 0

    def __init__(self, in_channels: int, out_channels: int, in_size, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rng=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels = as_int(in_channels, "in_channels", name)
        self.out_channels = as_int(out_channels, "out_channels", name)
        self.in_size = as_tuple(in_size, self.ndim, "in_size", name)
        self.padding = padding
        self.kernel_size, self.stride, self.dilation = check_window(self.ndim, kernel_size, stride, dilation,
                                                                    padding, name)
        self.out_size = resolve_window(self.in_size, self.kernel_size, self.stride, self.dilation, padding,
                                       owner=name, in_shape=self.in_size).out_sizes
        rng = make_rng(rng)
        fan_in = self.in_channels * math.prod(self.kernel_size)
        shape = self.out_size + (self.out_channels, self.in_channels) + self.kernel_size
        self.weight, self.bias = weight_and_bias(shape, (self.out_channels,) + self.out_size, fan_in, bias,
                                                 rng)                                  # (*O, Cout, Cin, *K)

    def window(self, in_shape) -> Window:
        """The geometry for an input of ``in_shape`` (which must be the size the layer was built for)."""
        self._check(in_shape)
        return resolve_window(self.in_size, self.kernel_size, self.stride, self.dilation, self.padding,
                              owner=self._describe(), in_shape=self.in_size)

    def _check(self, in_shape):
        """``(N, C_in, *in_size)`` or unbatched ``(C_in, *in_size)``; returns it batched."""
        batched = as_batched(in_shape, self.ndim)
        if len(batched) != self.ndim + 2 or batched[1] != self.in_channels or batched[2:] != self.in_size:
            sizes = ", ".join(map(str, self.in_size))
            expected = f"(N, {self.in_channels}, {sizes}) or ({self.in_channels}, {sizes}) (the in_size it was built for)"
            raise expected_input(self._describe(), expected, tuple(in_shape))
        return batched

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return locally_connected(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                 self._describe())

    def output_shape(self, in_shape):
        self._check(in_shape)
        return tuple(in_shape[:-self.ndim - 1]) + (self.out_channels,) + self.out_size

    def cost(self, in_shape):
        in_shape = self._check(in_shape)
        return local_cost(in_shape, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.bias is not None, self._describe())

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def matrix_entries(self, in_shape):
        """Where each weight sits in this layer's matrix for one example of ``(C_in, *S)`` (``toeplitz``)."""
        return local_entries(self.out_channels, tuple(in_shape), self.window((1,) + tuple(in_shape)))

    def extra_repr(self) -> str:
        return describe_settings(self, [str(self.in_channels), str(self.out_channels), f"in_size={self.in_size}",
                                        f"kernel_size={self.kernel_size}"],
                                 {"stride": (1,) * self.ndim, "padding": 0, "dilation": (1,) * self.ndim})


@register_layer(example=lambda: (LocallyConnected1d(2, 3, 9, 3, stride=2, padding=1, rng=0), (2, 2, 9)))
class LocallyConnected1d(_LocallyConnectedNd):
    """Locally-connected layer over ``(N, C_in, L)``: a different ``(C_out, C_in, K)`` kernel per output step.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        in_size: the input's spatial size, ``L``: it fixes the number of output positions, hence of
            kernels, so the layer accepts only inputs of this size.
        kernel_size: the window size, ``K``.
        stride: the step between two windows, per axis (default 1).
        padding: the pixels added at the borders, as for ``conv`` (default 0).
        dilation: the spacing between kernel taps, per axis (default 1: contiguous).
        bias: learn one bias per output value, ``(C_out, L_out)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator); weight then bias from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
            ``fan_in = C_in * prod(K)``.

    Shape: ``(N, C_in, L) -> (N, C_out, L_out)``, ``L_out = floor((L + lo + hi - d(K-1) - 1) / stride) + 1``;
    ``weight (L_out, C_out, C_in, K)``, ``bias (C_out, L_out)``.

    >>> LocallyConnected1d(1, 4, in_size=10, kernel_size=3, rng=0)(np.zeros((2, 1, 10))).shape
    (2, 4, 8)
    """

    ndim = 1


@register_layer(example=lambda: (LocallyConnected2d(2, 3, (6, 5), (3, 2), stride=(2, 1), padding=1, rng=0),
                                 (2, 2, 6, 5)))
class LocallyConnected2d(_LocallyConnectedNd):
    """Locally-connected layer over ``(N, C_in, H, W)`` (DeepFace's unshared layers; lecture 000, eq. 8).

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        in_size: the input's spatial size, ``S`` or ``(H, W)``: it fixes the number of output positions, hence of
            kernels, so the layer accepts only inputs of this size.
        kernel_size: the window size, ``k`` or ``(kh, kw)``.
        stride: the step between two windows, per axis (default 1).
        padding: the pixels added at the borders, as for ``conv`` (default 0).
        dilation: the spacing between kernel taps, per axis (default 1: contiguous).
        bias: learn one bias per output value, ``(C_out, H_out, W_out)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator); weight then bias from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
            ``fan_in = C_in * prod(K)``.

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with the conv output-size rule per axis;
    ``weight (H_out, W_out, C_out, C_in, kh, kw)``, ``bias (C_out, H_out, W_out)``.

    >>> LocallyConnected2d(3, 8, in_size=32, kernel_size=5, stride=2, rng=0)(np.zeros((1, 3, 32, 32))).shape
    (1, 8, 14, 14)
    """

    ndim = 2


@register_layer(example=lambda: (LocallyConnected3d(1, 2, (3, 4, 4), 2, rng=0), (1, 1, 3, 4, 4)))
class LocallyConnected3d(_LocallyConnectedNd):
    """Locally-connected layer over ``(N, C_in, D, H, W)``, with the conv output-size rule per axis.

    Args:
        in_channels: channels ``C_in`` of the input.
        out_channels: channels ``C_out`` of the output.
        in_size: the input's spatial size, ``S`` or ``(D, H, W)``: it fixes the number of output positions, hence of
            kernels, so the layer accepts only inputs of this size.
        kernel_size: the window size, ``k`` or ``(kd, kh, kw)``.
        stride: the step between two windows, per axis (default 1).
        padding: the pixels added at the borders, as for ``conv`` (default 0).
        dilation: the spacing between kernel taps, per axis (default 1: contiguous).
        bias: learn one bias per output value, ``(C_out, *O)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator); weight then bias from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
            ``fan_in = C_in * prod(K)``.

    Shape: ``(N, C_in, D, H, W) -> (N, C_out, *O)``; ``weight (*O, C_out, C_in, *K)``, ``bias (C_out, *O)``.

    Example:
        >>> LocallyConnected3d(2, 4, (4, 4, 4), 3, rng=0)(np.zeros((1, 2, 4, 4, 4))).shape
        (1, 4, 2, 2, 2)
    """

    ndim = 3


__all__ = ["locally_connected", "locally_connected1d", "locally_connected2d", "local_cost",
           "LocallyConnected1d", "LocallyConnected2d", "LocallyConnected3d"]
