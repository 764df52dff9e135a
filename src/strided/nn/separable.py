"""Depthwise, pointwise and depthwise-separable convolutions in 1, 2 and 3 dimensions (MobileNet, Xception).

A depthwise convolution filters each input channel on its own (``groups = in_channels``); a
pointwise convolution is a 1x1 convolution that mixes channels at each pixel (it takes
``conv``'s 1x1 fast path: one matrix product, no windows). A depthwise-separable convolution
is the one followed by the other (Chollet, Xception, 2017): it factors a ``k x k`` convolution
into a spatial and a channel step, at a fraction of the parameters and multiply-accumulates.

``DepthwiseConv{1,2,3}d`` and ``PointwiseConv{1,2,3}d`` are ``Conv{1,2,3}d`` layers with fixed
arguments, so their state is ``weight`` and ``bias`` exactly as in ``torch.nn.ConvNd(groups=C)``
and ``torch.nn.ConvNd(C, C_out, 1)``; their static rules are the convolution's. One N-d body
each (``_Depthwise``, ``_Pointwise``, ``_SeparableConvNd``) serves the three ranks.
"""

from __future__ import annotations

from ..checks import as_int
from ..errors import ShapeError, expected_input
from ..tensor import Tensor, as_tensor
from .block import Block
from .conv import Conv1d, Conv2d, Conv3d
from .draws import make_rng
from .helpers import as_batched, describe_layout
from .registry import register_layer


def _settings(layer, leading, ndim: int) -> str:
    """``extra_repr`` text: ``leading``, then the window settings that differ from their defaults."""
    parts = list(leading)
    for key, default in (("stride", (1,) * ndim), ("padding", 0), ("dilation", (1,) * ndim), ("depth_multiplier", 1)):
        if getattr(layer, key) != default:
            parts.append(f"{key}={getattr(layer, key)!r}")
    return ", ".join(parts)


class _Depthwise:
    """Mixed into a ``ConvNd``: ``depth_multiplier`` filters per input channel, ``groups = in_channels``."""

    def __init__(self, in_channels: int, kernel_size, stride=1, padding=0, dilation=1, depth_multiplier: int = 1,
                 bias: bool = True, rng=None):
        name = type(self).__name__
        in_channels = as_int(in_channels, "in_channels", name)
        depth_multiplier = as_int(depth_multiplier, "depth_multiplier", name)
        super().__init__(in_channels, in_channels * depth_multiplier, kernel_size, stride, padding, dilation,
                         groups=in_channels, bias=bias, rng=rng)
        self.depth_multiplier = depth_multiplier

    def extra_repr(self) -> str:
        text = _settings(self, [str(self.in_channels), f"kernel_size={self.kernel_size}"], self.ndim)
        return text + (", bias=False" if self.bias is None else "")


class _Pointwise:
    """Mixed into a ``ConvNd``: a 1x1 convolution, ``ConvNd(C, C_out, 1)``."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, rng=None):
        super().__init__(in_channels, out_channels, 1, bias=bias, rng=rng)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}" + ("" if self.bias is not None else ", bias=False")


@register_layer(example=lambda: (DepthwiseConv1d(2, 3, stride=2, padding=1, dilation=2, depth_multiplier=3, rng=0),
                                 (2, 2, 11)))
class DepthwiseConv1d(_Depthwise, Conv1d):
    """One length-``k`` filter per input channel (``depth_multiplier`` of them): ``Conv1d(groups=C)``.

    Args:
        in_channels: ``C``; the output has ``C * depth_multiplier`` channels, output channel
            ``c * depth_multiplier + m`` being filter ``m`` of input channel ``c`` (torch's order).
        kernel_size: the window size, ``k``.
        stride: the step between two windows, per axis (default 1).
        padding: the pixels added at the borders, as for ``Conv1d`` (an int, a tuple, ``(lo, hi)``
            pairs, ``'valid'``, ``'same'`` or ``'full'``; default 0).
        dilation: the spacing between kernel taps, per axis (default 1: contiguous).
        depth_multiplier: ``m``, the number of filters per input channel (default 1).
        bias: learn a per-channel bias ``(C * m,)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator), drawn as for ``Conv1d(groups=C)``.

    Shape: ``(N, C, L) -> (N, C * depth_multiplier, L_out)`` with ``Conv1d``'s output-size rule.
    Parameters ``C * m * k`` (+ ``C * m`` bias); MACs ``L_out * C * m * k``.

    Example:
        >>> import numpy as np
        >>> DepthwiseConv1d(4, 3, padding=1, rng=0)(np.zeros((2, 4, 10))).shape
        (2, 4, 10)
    """


@register_layer(example=lambda: (DepthwiseConv2d(3, 3, stride=2, padding=1, depth_multiplier=2, rng=0), (2, 3, 7, 6)))
class DepthwiseConv2d(_Depthwise, Conv2d):
    """One ``k x k`` filter per input channel (``depth_multiplier`` of them): ``Conv2d(groups=C)``.

    Args:
        in_channels: ``C``; the output has ``C * depth_multiplier`` channels, output channel
            ``c * depth_multiplier + m`` being filter ``m`` of input channel ``c`` (torch's order).
        kernel_size: the window size, ``k`` or ``(kh, kw)``.
        stride: the step between two windows, per axis (default 1).
        padding: the pixels added at the borders, as for ``Conv2d`` (an int, a tuple, ``(lo, hi)``
            pairs, ``'valid'``, ``'same'`` or ``'full'``; default 0).
        dilation: the spacing between kernel taps, per axis (default 1: contiguous).
        depth_multiplier: ``m``, the number of filters per input channel (default 1).
        bias: learn a per-channel bias ``(C * m,)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator), drawn as for ``Conv2d(groups=C)``.

    Shape: ``(N, C, H, W) -> (N, C * depth_multiplier, H_out, W_out)`` with ``Conv2d``'s
    output-size rule per axis. Parameters: ``C * m * kh * kw`` (+ ``C * m`` bias);
    MACs ``H_out * W_out * C * m * kh * kw``.

    >>> import numpy as np
    >>> layer = DepthwiseConv2d(32, 3, padding=1, rng=0)
    >>> layer.weight.shape, layer(np.zeros((1, 32, 8, 8))).shape
    ((32, 1, 3, 3), (1, 32, 8, 8))
    """


@register_layer(example=lambda: (DepthwiseConv3d(2, (2, 1, 3), padding=(1, 0, 1), depth_multiplier=2, rng=0),
                                 (1, 2, 3, 4, 5)))
class DepthwiseConv3d(_Depthwise, Conv3d):
    """One ``kd x kh x kw`` filter per input channel (``depth_multiplier`` of them): ``Conv3d(groups=C)``.

    Args:
        in_channels: ``C``; the output has ``C * depth_multiplier`` channels, output channel
            ``c * depth_multiplier + m`` being filter ``m`` of input channel ``c`` (torch's order).
        kernel_size: the window size, ``k`` or ``(kd, kh, kw)``.
        stride: the step between two windows, per axis (default 1).
        padding: the pixels added at the borders, as for ``Conv3d`` (an int, a tuple, ``(lo, hi)``
            pairs, ``'valid'``, ``'same'`` or ``'full'``; default 0).
        dilation: the spacing between kernel taps, per axis (default 1: contiguous).
        depth_multiplier: ``m``, the number of filters per input channel (default 1).
        bias: learn a per-channel bias ``(C * m,)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator), drawn as for ``Conv3d(groups=C)``.

    Shape: ``(N, C, D, H, W) -> (N, C * depth_multiplier, D_out, H_out, W_out)`` with ``Conv3d``'s
    output-size rule per axis. Parameters ``C * m * kd * kh * kw`` (+ ``C * m`` bias).

    Example:
        >>> import numpy as np
        >>> DepthwiseConv3d(2, 3, depth_multiplier=2, rng=0)(np.zeros((1, 2, 5, 5, 5))).shape
        (1, 4, 3, 3, 3)
    """


@register_layer(example=lambda: (PointwiseConv1d(4, 6, rng=0), (2, 4, 5)))
class PointwiseConv1d(_Pointwise, Conv1d):
    """A size-1 convolution over ``(N, C, L)``: ``Conv1d(C, C_out, 1)``.

    Args:
        in_channels: channels ``C`` of the input.
        out_channels: channels ``C_out`` of the output.
        bias: learn a per-channel bias ``(C_out,)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator), drawn as for ``Conv1d(C, C_out, 1)``.

    Shape: ``(N, C, L) -> (N, C_out, L)``.

    Example:
        >>> import numpy as np
        >>> PointwiseConv1d(4, 8, rng=0)(np.zeros((2, 4, 10))).shape
        (2, 8, 10)
    """


@register_layer(example=lambda: (PointwiseConv2d(4, 6, rng=0), (2, 4, 5, 3)))
class PointwiseConv2d(_Pointwise, Conv2d):
    """A 1x1 convolution: a dense layer over channels applied at every pixel, ``Conv2d(C, C_out, 1)``.

    Args:
        in_channels: channels ``C`` of the input.
        out_channels: channels ``C_out`` of the output.
        bias: learn a per-channel bias ``(C_out,)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator), drawn as for ``Conv2d(C, C_out, 1)``.

    Shape: ``(N, C, H, W) -> (N, C_out, H, W)``. Parameters ``C * C_out`` (+ ``C_out``); MACs
    ``H * W * C * C_out``. The forward pass is one matrix product for the whole batch (no im2col).

    >>> import numpy as np
    >>> PointwiseConv2d(64, 16, rng=0)(np.zeros((2, 64, 7, 7))).shape
    (2, 16, 7, 7)
    """


@register_layer(example=lambda: (PointwiseConv3d(3, 2, bias=False, rng=0), (1, 3, 2, 3, 4)))
class PointwiseConv3d(_Pointwise, Conv3d):
    """A 1x1x1 convolution over ``(N, C, D, H, W)``: ``Conv3d(C, C_out, 1)``.

    Args:
        in_channels: channels ``C`` of the input.
        out_channels: channels ``C_out`` of the output.
        bias: learn a per-channel bias ``(C_out,)`` (default ``True``).
        rng: the generator of the initial weights: a ``numpy.random.Generator``, an int seed or ``None``
            (the library's default generator), drawn as for ``Conv3d(C, C_out, 1)``.

    Shape: ``(N, C, D, H, W) -> (N, C_out, D, H, W)``.

    Example:
        >>> import numpy as np
        >>> PointwiseConv3d(2, 6, rng=0)(np.zeros((1, 2, 3, 3, 3))).shape
        (1, 6, 3, 3, 3)
    """


class _SeparableConvNd(Block):
    """Shared body of ``SeparableConv1d/2d/3d``: a depthwise child, then a pointwise child."""

    ndim = 0
    depthwise_type = pointwise_type = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, rng=None, *, depth_multiplier: int = 1):
        super().__init__()
        name = type(self).__name__
        in_channels = as_int(in_channels, "in_channels", name)
        out_channels = as_int(out_channels, "out_channels", name)
        depth_multiplier = as_int(depth_multiplier, "depth_multiplier", name)
        rng = make_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        try:
            self.depthwise = self.depthwise_type(in_channels, kernel_size, stride, padding, dilation, depth_multiplier,
                                                 bias=False, rng=rng)
        except (TypeError, ValueError) as err:   # name the layer the user built, not only its child
            raise type(err)(f"{name}: {err}") from None
        self.pointwise = self.pointwise_type(in_channels * depth_multiplier, out_channels, bias=bias, rng=rng)

    def _check(self, in_shape) -> None:
        """``(N, C_in, *S)`` or unbatched ``(C_in, *S)``, as for its two convolutions."""
        batched = as_batched(in_shape, self.ndim)
        if len(batched) != self.ndim + 2 or batched[1] != self.in_channels:
            raise expected_input(self._describe(), describe_layout(self.ndim, in_shape, self.in_channels), in_shape)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return self.pointwise(self.depthwise(x))

    def walk(self, in_shape, rf, visit):
        self._check(tuple(in_shape))
        try:
            shape, rf = self.depthwise.walk(in_shape, rf, visit)
        except ShapeError as err:   # the kernel does not fit: name this layer too
            raise ShapeError(f"{self._describe()}: {err}") from None
        return self.pointwise.walk(shape, rf, visit)

    def extra_repr(self) -> str:
        dw = self.depthwise
        text = _settings(dw, [str(self.in_channels), str(self.out_channels), f"kernel_size={dw.kernel_size}"],
                         self.ndim)
        return text + ("" if self.pointwise.bias is not None else ", bias=False")


@register_layer(example=lambda: (SeparableConv1d(3, 4, 3, stride=2, padding="same", depth_multiplier=2, rng=0),
                                 (2, 3, 9)))
class SeparableConv1d(_SeparableConvNd):
    """Depthwise length-``k`` convolution, then a pointwise size-1 convolution, over ``(N, C, L)``.

    As ``SeparableConv2d`` in one dimension (children ``depthwise``, ``pointwise``, one bias after
    the pointwise step); torch equivalent ``Sequential(OrderedDict(depthwise=Conv1d(C, C*m, k,
    groups=C, bias=False), pointwise=Conv1d(C*m, C_out, 1)))``.

    Args:
        in_channels: channels ``C`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: the depthwise window size, ``k``.
        stride: the depthwise step between two windows, per axis (default 1).
        padding: the pixels added at the borders by the depthwise step, as for ``Conv1d`` (an int, a tuple,
            ``(lo, hi)`` pairs, ``'valid'``, ``'same'`` or ``'full'``; default 0).
        dilation: the spacing between depthwise kernel taps, per axis (default 1: contiguous).
        bias: learn a bias ``(C_out,)`` after the pointwise step (default ``True``; the depthwise step has none).
        rng: the generator of the initial weights of both children (depthwise first): a
            ``numpy.random.Generator``, an int seed or ``None`` (the library's default generator).
        depth_multiplier: ``m``, depthwise filters per input channel (keyword only; default 1).

    Shape: ``(N, C, L) -> (N, C_out, L_out)``, ``L_out`` as for ``Conv1d(C, C_out, kernel_size, stride,
    padding, dilation)``.

    Example:
        >>> import numpy as np
        >>> SeparableConv1d(4, 8, 3, padding=1, rng=0)(np.zeros((2, 4, 10))).shape
        (2, 8, 10)
    """

    ndim = 1
    depthwise_type, pointwise_type = DepthwiseConv1d, PointwiseConv1d


@register_layer(example=lambda: (SeparableConv2d(3, 4, 3, stride=2, padding="same", rng=0), (2, 3, 7, 6)))
class SeparableConv2d(_SeparableConvNd):
    """Depthwise ``k x k`` convolution, then a pointwise 1x1 convolution (Xception's building block).

    Children ``depthwise`` (``DepthwiseConv2d(in_channels, kernel_size, stride, padding, dilation,
    depth_multiplier, bias=False)``) and ``pointwise`` (``PointwiseConv2d(in_channels *
    depth_multiplier, out_channels, bias=bias)``). Bias follows Keras' ``SeparableConv2D``: one bias,
    after the pointwise step; a depthwise bias would be redundant, since the pointwise step is
    linear and its own bias absorbs it (timm's Xception drops both, for the batch norm after).
    Torch equivalent: ``Sequential(OrderedDict(depthwise=Conv2d(C, C*m, k, groups=C, bias=False),
    pointwise=Conv2d(C*m, C_out, 1)))``, with the same state-dict keys.

    Args:
        in_channels: channels ``C`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: the depthwise window size, ``k`` or ``(kh, kw)``.
        stride: the depthwise step between two windows, per axis (default 1).
        padding: the pixels added at the borders by the depthwise step, as for ``Conv2d`` (an int, a tuple,
            ``(lo, hi)`` pairs, ``'valid'``, ``'same'`` or ``'full'``; default 0).
        dilation: the spacing between depthwise kernel taps, per axis (default 1: contiguous).
        bias: learn a bias ``(C_out,)`` after the pointwise step (default ``True``; the depthwise step has none).
        rng: the generator of the initial weights of both children (depthwise first): a
            ``numpy.random.Generator``, an int seed or ``None`` (the library's default generator).
        depth_multiplier: ``m``, depthwise filters per input channel (keyword only; default 1).

    Shape: ``(N, C, H, W) -> (N, C_out, H_out, W_out)``, ``H_out``, ``W_out`` as for
    ``Conv2d(C, C_out, kernel_size, stride, padding, dilation)``.

    Cost: ``C*m*kh*kw + C*m*C_out`` weights (+ ``C_out`` bias) and
    ``H_out*W_out*(C*m*kh*kw + C*m*C_out)`` MACs, against ``H_out*W_out*C*C_out*kh*kw`` for a full
    convolution: a ratio of ``1/C_out + 1/(kh*kw)`` at ``m = 1``. For 64 -> 128 channels, 3x3, on
    56x56 that is about 8.4 times fewer MACs:

    >>> from strided.nn import Conv2d
    >>> full = Conv2d(64, 128, 3, padding=1, rng=0).cost((1, 64, 56, 56))
    >>> sep = SeparableConv2d(64, 128, 3, padding=1, rng=0).cost((1, 64, 56, 56))
    >>> full.macs, sep.macs, round(full.macs / sep.macs, 2)
    (231211008, 27496448, 8.41)
    >>> full.params, sep.params
    (73856, 8896)
    """

    ndim = 2
    depthwise_type, pointwise_type = DepthwiseConv2d, PointwiseConv2d


@register_layer(example=lambda: (SeparableConv3d(2, 3, (1, 3, 2), padding=(0, 1, 1), rng=0), (1, 2, 2, 4, 3)))
class SeparableConv3d(_SeparableConvNd):
    """Depthwise ``kd x kh x kw`` convolution, then a pointwise 1x1x1 convolution, over ``(N, C, D, H, W)``
    (separable 3-D convolutions for video and volumes).

    As ``SeparableConv2d`` in three dimensions; torch equivalent ``Sequential(OrderedDict(
    depthwise=Conv3d(C, C*m, k, groups=C, bias=False), pointwise=Conv3d(C*m, C_out, 1)))``.

    Args:
        in_channels: channels ``C`` of the input.
        out_channels: channels ``C_out`` of the output.
        kernel_size: the depthwise window size, ``k`` or ``(kd, kh, kw)``.
        stride: the depthwise step between two windows, per axis (default 1).
        padding: the pixels added at the borders by the depthwise step, as for ``Conv3d`` (an int, a tuple,
            ``(lo, hi)`` pairs, ``'valid'``, ``'same'`` or ``'full'``; default 0).
        dilation: the spacing between depthwise kernel taps, per axis (default 1: contiguous).
        bias: learn a bias ``(C_out,)`` after the pointwise step (default ``True``; the depthwise step has none).
        rng: the generator of the initial weights of both children (depthwise first): a
            ``numpy.random.Generator``, an int seed or ``None`` (the library's default generator).
        depth_multiplier: ``m``, depthwise filters per input channel (keyword only; default 1).

    Shape: ``(N, C, D, H, W) -> (N, C_out, D_out, H_out, W_out)`` as for ``Conv3d(C, C_out, kernel_size,
    stride, padding, dilation)``.

    Example:
        >>> import numpy as np
        >>> SeparableConv3d(2, 6, 3, rng=0)(np.zeros((1, 2, 5, 5, 5))).shape
        (1, 6, 3, 3, 3)
    """

    ndim = 3
    depthwise_type, pointwise_type = DepthwiseConv3d, PointwiseConv3d


__all__ = ["DepthwiseConv1d", "DepthwiseConv2d", "DepthwiseConv3d", "PointwiseConv1d", "PointwiseConv2d",
           "PointwiseConv3d", "SeparableConv1d", "SeparableConv2d", "SeparableConv3d"]
