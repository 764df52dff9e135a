"""The CIFAR-10 ResNets of He et al. (2016, section 4.2): ResNet-20, 32, 44 and 56.

A 3x3 convolution to 16 channels, then three stages of ``n`` basic blocks at 16, 32 and 64
channels (feature maps 32, 16 and 8 for a 32x32 input), global average pooling and a dense
classifier: ``6n + 2`` weighted layers. The shortcuts are the paper's option A: the identity,
and where a stage halves the map and doubles the channels, ``ZeroPadShortcut`` — subsampling
``x[:, :, ::2, ::2]`` and zero channels, no parameters. ResNet-20 has 269,722 parameters (the
paper's 0.27M).

>>> import strided as st
>>> s = st.summary(resnet20(), (1, 3, 32, 32))
>>> s.params, s.output_shape
(269722, (1, 10))
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (the doctests use it)

from .. import nn
from ..checks import as_int, as_tuple
from ..errors import expected_input
from ..geometry import ReceptiveField, Window, resolve_window
from ..nn.draws import make_rng
from ..nn.registry import register_layer
from ..tensor import Tensor, as_tensor
from ..windows import empty_like_layout
from .registry import register_model
from .chain import ChainNet
from .resnet import BasicBlock, conv3x3, init_resnet


def zero_pad_shortcut(x, out_channels: int, stride=1, owner: str = "zero_pad_shortcut") -> Tensor:
    """Option-A shortcut: keep every ``stride``-th position and pad the channels with zeros.

    The input's channels land at ``[lo, lo + C_in)`` of the output with ``lo = (C_out - C_in) // 2``
    (the zeros split as evenly as possible, the odd one at the end), as in the widely used PyTorch
    reproduction of the paper; for a stage that doubles the channels that is ``C_in / 2`` zero
    channels on each side. The backward pass takes the gradient of those channels and puts it
    back at the kept positions (zeros elsewhere).

    Shape: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``, ``H_out = floor((H - 1) / stride) + 1``
    (a 1x1 window at ``stride``, no padding).
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise expected_input(owner, "(N, C, H, W)", x.shape)
    n, c = x.shape[:2]
    stride = resolve_window(x.shape[2:], 1, stride, 1, 0, owner=owner, in_shape=x.shape).stride
    if out_channels < c:
        raise expected_input(owner, f"with at most {out_channels} channels", x.shape)
    lo = (out_channels - c) // 2
    keep = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
    sub = x.data[keep]                                                  # (N, C_in, H_out, W_out)
    out = empty_like_layout(x.data, (n, out_channels) + sub.shape[2:])    # (N, C_out, H_out, W_out), x's layout
    out[...] = 0
    out[:, lo:lo + c] = sub

    def backward(g):
        gx = empty_like_layout(x.data, x.shape, g.dtype)                # (N, C_in, H, W), x's layout
        gx[...] = 0
        gx[keep] = g[:, lo:lo + c]
        return (gx,)
    return Tensor.from_op(out, (x,), backward, "zero_pad_shortcut")


@register_layer(example=lambda: (ZeroPadShortcut(3, 4, stride=2), (2, 3, 5, 6)))
class ZeroPadShortcut(nn.Module):
    """The parameter-free shortcut of He et al.'s option A: stride-``s`` subsampling and zero channels.

    Args:
        in_channels: channels in.
        out_channels: channels out (the extra ones are zeros).
        stride: the spatial subsampling (taking every ``stride``-th pixel).

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H_out, W_out)``,
    ``H_out = floor((H - 1) / stride) + 1``; 0 parameters, 0 MACs.

    >>> ZeroPadShortcut(16, 32, stride=2)(np.ones((1, 16, 32, 32))).shape
    (1, 32, 16, 16)
    """

    def __init__(self, in_channels: int, out_channels: int, stride=1):
        super().__init__()
        name = type(self).__name__
        in_channels = as_int(in_channels, "in_channels", name)
        out_channels = as_int(out_channels, "out_channels", name)
        if out_channels < in_channels:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be at least in_channels ({in_channels})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride = as_tuple(stride, 2, "stride", name)

    def _check(self, shape) -> None:
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise expected_input(self._describe(), f"(N, {self.in_channels}, H, W)", shape)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return zero_pad_shortcut(x, self.out_channels, self.stride, self._describe())

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return (in_shape[0], self.out_channels) + self.window(in_shape).out_sizes

    def window(self, in_shape) -> Window:
        """A 1x1 window at ``stride``: the positions the shortcut keeps."""
        return resolve_window(tuple(in_shape)[2:], 1, self.stride, 1, 0, owner=self._describe(),
                              in_shape=tuple(in_shape))

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.window(in_shape).receptive_field(rf)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class CifarResNet(ChainNet):
    """He et al.'s CIFAR ResNet with ``6n + 2`` layers and option-A shortcuts.

    Names follow the torchvision layout where they apply (``conv1``, ``bn1``, ``relu``,
    ``layer1.0.conv1``, ..., ``avgpool``, ``fc``); the parameter-free shortcuts are
    ``layer2.0.downsample`` and ``layer3.0.downsample``. Initialised as ``ResNet``.

    Args:
        n: blocks per stage (depth ``6n + 2``: 3 for ResNet-20, 9 for ResNet-56).
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; the stages work at ``H``, ``H/2`` and
    ``H/4`` (rounded up) with 16, 32 and 64 channels.

    Example:
        >>> CifarResNet(1, num_classes=10, rng=0).output_shape((1, 3, 32, 32))
        (1, 10)
    """

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3, rng=None):
        super().__init__()
        n = as_int(n, "n (blocks per stage)", "CifarResNet")
        rng = make_rng(rng)
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16, 1, rng)                  # (N, 16, H, W)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, n, 1, rng)                  # (N, 16, H, W)
        self.layer2 = self._make_layer(32, n, 2, rng)                  # (N, 32, H/2, W/2)
        self.layer3 = self._make_layer(64, n, 2, rng)                  # (N, 64, H/4, W/4)
        self.avgpool = nn.GlobalAvgPool()                              # (N, 64)
        self.fc = nn.Linear(64, num_classes, rng=rng)                  # (N, num_classes)
        init_resnet(self, rng)

    def _make_layer(self, planes: int, blocks: int, stride: int, rng) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = ZeroPadShortcut(self.inplanes, planes, stride)
        stage = [BasicBlock(self.inplanes, planes, stride, downsample, rng)]
        self.inplanes = planes
        stage += [BasicBlock(planes, planes, 1, None, rng) for _ in range(1, blocks)]
        return nn.Sequential(*stage)


@register_model
def resnet20(num_classes: int = 10, in_channels: int = 3, seed=None) -> CifarResNet:
    """CIFAR ResNet-20 (n = 3): 269,722 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = resnet20(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 32, 32))
        (269722, (1, 10))
    """
    return CifarResNet(3, num_classes, in_channels, rng=seed)


@register_model
def resnet32(num_classes: int = 10, in_channels: int = 3, seed=None) -> CifarResNet:
    """CIFAR ResNet-32 (n = 5): 464,154 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = resnet32(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 32, 32))
        (464154, (1, 10))
    """
    return CifarResNet(5, num_classes, in_channels, rng=seed)


@register_model
def resnet44(num_classes: int = 10, in_channels: int = 3, seed=None) -> CifarResNet:
    """CIFAR ResNet-44 (n = 7): 658,586 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = resnet44(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 32, 32))
        (658586, (1, 10))
    """
    return CifarResNet(7, num_classes, in_channels, rng=seed)


@register_model
def resnet56(num_classes: int = 10, in_channels: int = 3, seed=None) -> CifarResNet:
    """CIFAR ResNet-56 (n = 9): 853,018 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = resnet56(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 32, 32))
        (853018, (1, 10))
    """
    return CifarResNet(9, num_classes, in_channels, rng=seed)
