"""Blocks shared by the zoo's mobile networks (MobileNetV2/V3, EfficientNet), as torchvision builds them.

``make_divisible`` rounds channel counts (torchvision's ``_make_divisible``), ``ConvNormActivation``
is ``Conv2dNormActivation`` (conv, batch norm, activation) and ``SqueezeExcitation`` is
``ops.SqueezeExcitation``, with torchvision's child names so state dicts load unchanged.
"""

from __future__ import annotations

from .. import nn
from ..checks import as_int
from ..errors import ShapeError, expected_input, shape_str
from ..nn.draws import make_rng
from ..nn.layer_norm import field_across


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, default
    ``divisor``), one more multiple if rounding lost over 10%: the TensorFlow MobileNet rule.

    Args:
        value: the channel count to round.
        divisor: the multiple to round to.
        min_value: the smallest result (``None``: ``divisor``).

    >>> make_divisible(16 // 4), make_divisible(240 // 4), make_divisible(120 // 4), make_divisible(32 * 0.75)
    (8, 64, 32, 24)
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvNormActivation(nn.Sequential):
    """torchvision's ``Conv2dNormActivation``: ``0`` conv (no bias, padding ``(k - 1) // 2``), ``1`` batch
    norm, ``2`` the activation (left out when ``activation`` is ``None``).

    ``depthwise=True`` makes the convolution a ``DepthwiseConv2d`` (``groups = in_channels``, the same
    weight as ``Conv2d(groups=in_channels)``; ``out_channels`` must equal ``in_channels``).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: the side of the square kernel, padded by ``(k - 1) // 2`` (default 3).
        stride: the convolution's stride (default 1).
        groups: the convolution's groups (``in_channels`` for a depthwise one) (default 1).
        activation: a module class built with no arguments, or ``None`` for none (default ``nn.ReLU6``).
        bn: keyword arguments for ``BatchNorm2d``, e.g. ``{"eps": 1e-3}`` (default ``None``: its defaults).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation; ``None``: the library's
            default generator (default ``None``).
        depthwise: build a ``DepthwiseConv2d`` instead of a ``Conv2d`` (default ``False``).

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, floor((H - 1) / stride) + 1, ...)`` (odd kernels).

    Example:
        >>> ConvNormActivation(3, 8, kernel_size=3, stride=2, rng=0).output_shape((1, 3, 8, 8))
        (1, 8, 4, 4)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                 activation=nn.ReLU6, bn: dict | None = None, rng=None, *, depthwise: bool = False):
        kernel_size = as_int(kernel_size, "kernel_size", "ConvNormActivation")
        padding = (kernel_size - 1) // 2
        if depthwise:
            if out_channels != in_channels:
                raise ValueError(f"ConvNormActivation: a depthwise convolution keeps its channels, got "
                                 f"{in_channels} -> {out_channels}")
            conv = nn.DepthwiseConv2d(in_channels, kernel_size, stride=stride, padding=padding, bias=False, rng=rng)
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups,
                             bias=False, rng=rng)
        layers = [conv, nn.BatchNorm2d(out_channels, **(bn or {}))]
        super().__init__(*layers, *([] if activation is None else [activation()]))


class SqueezeExcitation(nn.Block):
    """Squeeze-and-excitation (Hu et al., 2018) as torchvision's ``ops.SqueezeExcitation``: the input
    times a per-channel gate ``scale_activation(fc2(activation(fc1(avgpool(x)))))``.

    ``activation`` and ``scale_activation`` are module classes (torchvision's defaults ``ReLU`` and
    ``Sigmoid``; EfficientNet uses ``SiLU``, MobileNetV3 ``ReLU`` and ``Hardsigmoid``).
    ``fc1`` and ``fc2`` are 1x1 convolutions with bias (``input_channels -> squeeze_channels ->
    input_channels``) on the ``(N, C, 1, 1)`` global average. The static rules count their MACs
    (the product with the gate costs none), and every output sees the whole input through the
    gate: its receptive field is ``nn.layer_norm.field_across``'s, a window of ``2S - 1`` input
    positions centred on each output, which covers the whole axis of size ``S`` from any of them
    (jump and start unchanged).

    Args:
        input_channels: channels of the input (and of the gate).
        squeeze_channels: channels between ``fc1`` and ``fc2``.
        activation: the module class after ``fc1`` (default ``nn.ReLU``).
        scale_activation: the module class making the gate (default ``nn.Sigmoid``).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation; ``None``: the library's
            default generator (default ``None``).

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> SqueezeExcitation(16, 4, rng=0).output_shape((1, 16, 5, 5))
        (1, 16, 5, 5)
    """

    def __init__(self, input_channels: int, squeeze_channels: int, activation=nn.ReLU,
                 scale_activation=nn.Sigmoid, rng=None):
        super().__init__()
        input_channels = as_int(input_channels, "input_channels", "SqueezeExcitation")
        squeeze_channels = as_int(squeeze_channels, "squeeze_channels", "SqueezeExcitation")
        rng = make_rng(rng)
        self.avgpool = nn.AdaptiveAvgPool2d(1)                                              # (N, C, 1, 1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1, rng=rng)                  # (N, S, 1, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1, rng=rng)                  # (N, C, 1, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def _gate(self):
        return (self.avgpool, self.fc1, self.activation, self.fc2, self.scale_activation)

    def _check(self, shape):
        if len(shape) != 4 or shape[1] != self.fc1.in_channels:
            raise expected_input(self._describe(), f"(N, {self.fc1.in_channels}, H, W)", shape)

    def forward(self, x):
        self._check(x.shape)
        return nn.run_chain(self._gate(), x) * x                                            # (N, C, 1, 1) * (N, C, H, W)

    def walk(self, in_shape, rf, visit):
        in_shape = tuple(in_shape)
        self._check(in_shape)
        gate_shape, gate_rf = in_shape, rf
        for module in self._gate():
            gate_shape, gate_rf = module.walk(gate_shape, gate_rf, visit)
        if tuple(gate_shape) != in_shape[:2] + (1,) * (len(in_shape) - 2):
            raise ShapeError(f"{self._describe()}: the gate gives {shape_str(gate_shape)}, expected one value per "
                             f"channel of the input {shape_str(in_shape)}")
        return in_shape, (None if rf is None else field_across(rf, in_shape, set(range(len(rf.size)))))

    def extra_repr(self) -> str:
        return f"{self.fc1.in_channels}, {self.fc1.out_channels}"
