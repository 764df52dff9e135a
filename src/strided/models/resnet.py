"""ResNet (He et al., 2016) for ImageNet, laid out exactly as torchvision's.

``resnet18`` and ``resnet34`` stack ``BasicBlock`` (two 3x3 convolutions); ``resnet50``,
``resnet101`` and ``resnet152`` stack ``Bottleneck`` (1x1 reduce, 3x3, 1x1 expand by 4) with
the stride on the 3x3 convolution (torchvision's "ResNet v1.5"). Where a block changes the
shape, its shortcut is a projection named ``downsample``: a 1x1 convolution at the block's
stride followed by batch norm. Module names follow torchvision (``conv1``, ``bn1``, ``relu``,
``maxpool``, ``layer1.0.conv1``, ..., ``layer2.0.downsample.0``, ``avgpool``, ``fc``), so a
torchvision ``state_dict`` loads unchanged, and so does the initialisation: convolutions
He-normal with fan-out, batch norm weight 1 and bias 0, the classifier PyTorch's default.

Every block and the network describe their data flow in ``walk``, so ``st.summary`` lists
every layer application and follows receptive fields through the residual additions.

>>> import strided as st
>>> s = st.summary(resnet18(), (1, 3, 224, 224))
>>> s.params, round(s.macs / 1e9, 2), s.output_shape
(11689512, 1.81, (1, 1000))
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..checks import as_int
from ..errors import ShapeError, shape_str
from ..nn.draws import kaiming_normal, make_rng
from .chain import ChainNet
from .registry import register_model


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, rng=None) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (batch norm follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, rng=rng)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1, rng=None) -> nn.Conv2d:
    """1x1 convolution without bias (projection shortcuts, bottleneck reduce/expand)."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, rng=rng)


def projection(in_channels: int, out_channels: int, stride: int, rng=None) -> nn.Sequential:
    """Shortcut where the shape changes (the paper's option B): 1x1 conv at ``stride``, then batch norm.

    Shape: ``(N, C_in, H, W) -> (N, C_out, floor((H - 1) / stride) + 1, floor((W - 1) / stride) + 1)``.
    """
    return nn.Sequential(conv1x1(in_channels, out_channels, stride, rng), nn.BatchNorm2d(out_channels))


def _walk_chain(modules, shape, rf, visit):
    """Walk ``modules`` in order, as ``Sequential`` does; returns ``(shape, rf)``."""
    for module in modules:
        shape, rf = module.walk(shape, rf, visit)
    return shape, rf


class _Residual(nn.Block):
    """Shared body of the residual blocks: ``relu(main(x) + shortcut(x))``.

    Subclasses list their main path in ``_main()``; ``downsample`` is ``None`` (identity
    shortcut) or a module mapping the input to the main path's output shape.
    """

    expansion = 1

    def _main(self):
        raise NotImplementedError

    def forward(self, x):
        out = nn.run_chain(self._main(), x)
        identity = x if self.downsample is None else self.downsample(x)
        if out.shape != identity.shape:
            raise ShapeError(f"{self._describe()}: the main path gives {shape_str(out.shape)} but the shortcut "
                             f"{shape_str(identity.shape)}; expected equal shapes (give a downsample)")
        return self.relu(out + identity)

    def walk(self, in_shape, rf, visit):
        main = _walk_chain(self._main(), tuple(in_shape), rf, visit)
        skip = (tuple(in_shape), rf) if self.downsample is None else self.downsample.walk(in_shape, rf, visit)
        shape, rf = self.join_add([main, skip])
        return self.relu.walk(shape, rf, visit)


class BasicBlock(_Residual):
    """Two 3x3 convolutions with batch norm, and the shortcut added before the last ReLU.

    The first convolution carries the ``stride``; ``downsample`` (when given) maps the input to
    ``(N, planes, H_out, W_out)``.

    Args:
        inplanes: channels in.
        planes: channels out.
        stride: stride of the first 3x3 convolution.
        downsample: the shortcut's module when shapes change (``None``: identity).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, inplanes, H, W) -> (N, planes, H_out, W_out)``,
    ``H_out = floor((H - 1) / stride) + 1``.

    Example:
        >>> BasicBlock(8, 8, rng=0).output_shape((1, 8, 6, 6))
        (1, 8, 6, 6)
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.conv1 = conv3x3(inplanes, planes, stride, rng)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes, 1, rng)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def extra_repr(self) -> str:
        return f"{self.conv1.in_channels}, {self.bn2.num_features}, stride={self.stride}"

    def _main(self):
        return (self.conv1, self.bn1, self.relu, self.conv2, self.bn2)


class Bottleneck(_Residual):
    """1x1 reduce to ``planes``, 3x3 at ``stride``, 1x1 expand to ``4 * planes``; shortcut added before the ReLU.

    Args:
        inplanes: channels in.
        planes: channels of the inner 3x3 convolution (the output has ``4 * planes``).
        stride: stride of the 3x3 convolution.
        downsample: the shortcut's module when shapes change (``None``: identity).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, inplanes, H, W) -> (N, 4 * planes, H_out, W_out)``,
    ``H_out = floor((H - 1) / stride) + 1``.

    Example:
        >>> Bottleneck(16, 4, rng=0).output_shape((1, 16, 6, 6))
        (1, 16, 6, 6)
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.conv1 = conv1x1(inplanes, planes, 1, rng)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, rng)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion, 1, rng)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def extra_repr(self) -> str:
        return f"{self.conv1.in_channels}, {self.bn3.num_features}, stride={self.stride}"

    def _main(self):
        return (self.conv1, self.bn1, self.relu, self.conv2, self.bn2, self.relu, self.conv3, self.bn3)


def init_resnet(model, rng, zero_init_residual: bool = False) -> None:
    """torchvision's initialisation: He-normal (fan-out, ReLU gain) convolutions, batch norm 1 and 0.

    With ``zero_init_residual`` the last batch norm of every block starts at weight 0, so each
    block begins as the identity (Goyal et al., 2017). Linear layers keep PyTorch's default.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            shape = module.weight.shape
            module.weight.data = kaiming_normal(shape, shape[0] * int(np.prod(shape[2:])), rng)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            last = getattr(module, "bn3", None) if isinstance(module, Bottleneck) else (
                getattr(module, "bn2", None) if isinstance(module, BasicBlock) else None)
            if last is not None:
                nn.init.zeros_(last.weight)


class ResNet(ChainNet):
    """The ImageNet ResNet: 7x7/2 stem, 3x3/2 max pool, four stages of residual blocks, global pool, fc.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        num_classes: classifier outputs.
        in_channels: input channels.
        zero_init_residual: start every block's last batch-norm weight at 0.
        rng: generator or seed for the initialisation.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; the stages work at ``H/4``, ``H/8``,
    ``H/16`` and ``H/32`` (rounded up), and the global pool accepts any size.

    Example:
        >>> ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10, rng=0).output_shape((1, 3, 64, 64))
        (1, 10)
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 zero_init_residual: bool = False, rng=None):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must be 4 positive block counts, got {layers!r}")
        layers = [as_int(n, f"layers[{i}]", "ResNet") for i, n in enumerate(layers)]
        rng = make_rng(rng)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False, rng=rng)   # (N, 64, H/2, W/2)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)                                   # (N, 64, H/4, W/4)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, rng)                          # (N, 64e, H/4, W/4)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, rng)                         # (N, 128e, H/8, W/8)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, rng)                         # (N, 256e, H/16, W/16)
        self.layer4 = self._make_layer(block, 512, layers[3], 2, rng)                         # (N, 512e, H/32, W/32)
        self.avgpool = nn.GlobalAvgPool()                                                     # (N, 512e)
        self.fc = nn.Linear(512 * block.expansion, num_classes, rng=rng)                      # (N, num_classes)
        init_resnet(self, rng, zero_init_residual)

    def _make_layer(self, block, planes: int, blocks: int, stride: int, rng) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = projection(self.inplanes, planes * block.expansion, stride, rng)
        stage = [block(self.inplanes, planes, stride, downsample, rng)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes, 1, None, rng) for _ in range(1, blocks)]
        return nn.Sequential(*stage)


@register_model
def resnet18(num_classes: int = 1000, in_channels: int = 3, seed=None) -> ResNet:
    """ResNet-18: BasicBlock x (2, 2, 2, 2), 11,689,512 parameters, 1.81 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = resnet18()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (11689512, (1, 1000))
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, rng=seed)


@register_model
def resnet34(num_classes: int = 1000, in_channels: int = 3, seed=None) -> ResNet:
    """ResNet-34: BasicBlock x (3, 4, 6, 3), 21,797,672 parameters, 3.66 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = resnet34()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (21797672, (1, 1000))
    """
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, rng=seed)


@register_model
def resnet50(num_classes: int = 1000, in_channels: int = 3, seed=None) -> ResNet:
    """ResNet-50: Bottleneck x (3, 4, 6, 3), 25,557,032 parameters, 4.09 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = resnet50()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (25557032, (1, 1000))
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, rng=seed)


@register_model
def resnet101(num_classes: int = 1000, in_channels: int = 3, seed=None) -> ResNet:
    """ResNet-101: Bottleneck x (3, 4, 23, 3), 44,549,160 parameters, 7.80 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = resnet101()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (44549160, (1, 1000))
    """
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, rng=seed)


@register_model
def resnet152(num_classes: int = 1000, in_channels: int = 3, seed=None) -> ResNet:
    """ResNet-152: Bottleneck x (3, 8, 36, 3), 60,192,808 parameters, 11.51 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = resnet152()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (60192808, (1, 1000))
    """
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels, rng=seed)
