"""Depthwise, pointwise and depthwise-separable 2-D convolutions (MobileNet, Xception).

A depthwise convolution filters each input channel on its own (``groups = in_channels``); a
pointwise convolution is a 1x1 convolution that mixes channels at each pixel (it takes
``conv``'s 1x1 fast path: one matrix product, no windows). A depthwise-separable convolution
is the one followed by the other (Chollet, Xception, 2017): it factors a ``k x k`` convolution
into a spatial and a channel step, at a fraction of the parameters and multiply-accumulates.

``DepthwiseConv2d`` and ``PointwiseConv2d`` are ``Conv2d`` layers with fixed arguments, so their
state is ``weight`` and ``bias`` exactly as in ``torch.nn.Conv2d(groups=C)`` and
``torch.nn.Conv2d(C, C_out, 1)``; their static rules are ``Conv2d``'s.
"""

from __future__ import annotations

from ..checks import as_int
from ..errors import ShapeError, expected_input
from ..tensor import Tensor, as_tensor
from .block import Block
from .conv import Conv2d
from .init import make_rng
from .registry import register_layer


@register_layer(example=lambda: (DepthwiseConv2d(3, 3, stride=2, padding=1, depth_multiplier=2, rng=0), (2, 3, 7, 6)))
class DepthwiseConv2d(Conv2d):
    """One ``k x k`` filter per input channel (``depth_multiplier`` of them): ``Conv2d(groups=C)``.

    Args:
        in_channels: ``C``; the output has ``C * depth_multiplier`` channels, output channel
            ``c * depth_multiplier + m`` being filter ``m`` of input channel ``c`` (torch's order).

    Shape: ``(N, C, H, W) -> (N, C * depth_multiplier, H_out, W_out)`` with ``Conv2d``'s
    output-size rule per axis. Parameters: ``C * m * kh * kw`` (+ ``C * m`` bias);
    MACs ``H_out * W_out * C * m * kh * kw``.

    >>> import numpy as np
    >>> layer = DepthwiseConv2d(32, 3, padding=1, rng=0)
    >>> layer.weight.shape, layer(np.zeros((1, 32, 8, 8))).shape
    ((32, 1, 3, 3), (1, 32, 8, 8))
    """

    def __init__(self, in_channels: int, kernel_size, stride=1, padding=0, dilation=1, depth_multiplier: int = 1,
                 bias: bool = True, rng=None):
        in_channels = as_int(in_channels, "in_channels", "DepthwiseConv2d")
        depth_multiplier = as_int(depth_multiplier, "depth_multiplier", "DepthwiseConv2d")
        super().__init__(in_channels, in_channels * depth_multiplier, kernel_size, stride, padding, dilation,
                         groups=in_channels, bias=bias, rng=rng)
        self.depth_multiplier = depth_multiplier

    def extra_repr(self) -> str:
        parts = [str(self.in_channels), f"kernel_size={self.kernel_size}"]
        for key, default in (("stride", (1, 1)), ("padding", 0), ("dilation", (1, 1)), ("depth_multiplier", 1)):
            if getattr(self, key) != default:
                parts.append(f"{key}={getattr(self, key)!r}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)


@register_layer(example=lambda: (PointwiseConv2d(4, 6, rng=0), (2, 4, 5, 3)))
class PointwiseConv2d(Conv2d):
    """A 1x1 convolution: a dense layer over channels applied at every pixel, ``Conv2d(C, C_out, 1)``.

    Shape: ``(N, C, H, W) -> (N, C_out, H, W)``. Parameters ``C * C_out`` (+ ``C_out``); MACs
    ``H * W * C * C_out``. The forward pass is one matrix product for the whole batch (no im2col).

    >>> import numpy as np
    >>> PointwiseConv2d(64, 16, rng=0)(np.zeros((2, 64, 7, 7))).shape
    (2, 16, 7, 7)
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, rng=None):
        super().__init__(in_channels, out_channels, 1, bias=bias, rng=rng)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}" + ("" if self.bias is not None else ", bias=False")


@register_layer(example=lambda: (SeparableConv2d(3, 4, 3, stride=2, padding="same", rng=0), (2, 3, 7, 6)))
class SeparableConv2d(Block):
    """Depthwise ``k x k`` convolution, then a pointwise 1x1 convolution (Xception's building block).

    Children ``depthwise`` (``DepthwiseConv2d(in_channels, kernel_size, stride, padding, dilation,
    depth_multiplier, bias=False)``) and ``pointwise`` (``PointwiseConv2d(in_channels *
    depth_multiplier, out_channels, bias=bias)``). Bias follows Keras' ``SeparableConv2D``: one bias,
    after the pointwise step; a depthwise bias would be redundant, since the pointwise step is
    linear and its own bias absorbs it (timm's Xception drops both, for the batch norm after).
    Torch equivalent: ``Sequential(OrderedDict(depthwise=Conv2d(C, C*m, k, groups=C, bias=False),
    pointwise=Conv2d(C*m, C_out, 1)))``, with the same state-dict keys.

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

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, rng=None, *, depth_multiplier: int = 1):
        super().__init__()
        in_channels = as_int(in_channels, "in_channels", "SeparableConv2d")
        out_channels = as_int(out_channels, "out_channels", "SeparableConv2d")
        depth_multiplier = as_int(depth_multiplier, "depth_multiplier", "SeparableConv2d")
        rng = make_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        try:
            self.depthwise = DepthwiseConv2d(in_channels, kernel_size, stride, padding, dilation, depth_multiplier,
                                             bias=False, rng=rng)
        except (TypeError, ValueError) as err:   # name the layer the user built, not only its child
            raise type(err)(f"SeparableConv2d: {err}") from None
        self.pointwise = PointwiseConv2d(in_channels * depth_multiplier, out_channels, bias=bias, rng=rng)

    def _check(self, in_shape) -> None:
        if len(in_shape) != 4 or in_shape[1] != self.in_channels:
            raise expected_input(self._describe(), f"(N, {self.in_channels}, H, W)", in_shape)

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
        parts = [str(self.in_channels), str(self.out_channels), f"kernel_size={dw.kernel_size}"]
        for key, default in (("stride", (1, 1)), ("padding", 0), ("dilation", (1, 1)), ("depth_multiplier", 1)):
            if getattr(dw, key) != default:
                parts.append(f"{key}={getattr(dw, key)!r}")
        if self.pointwise.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)
