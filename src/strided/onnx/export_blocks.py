"""Export rules of the containers and the model zoo's blocks: their data flow, as their ``walk`` describes it.

Each rule applies the children in the order ``forward`` uses them (``builder.apply``) and joins
branches with the node ``forward`` uses: ``Add`` for residuals, ``Concat`` along the channels for
Inception branches and U-Net skips, ``Mul`` for a squeeze-and-excitation gate. Networks that are
``Sequential``\\ s (``ChainNet``: LeNet-5 classic, AlexNet, VGG, GoogLeNet, the ResNets, MobileNets,
EfficientNet, Xception; ``DoubleConv``, ``ConvNormActivation``) need no rule of their own.
"""

from __future__ import annotations

from .. import nn
from ..models.blocks import SqueezeExcitation
from ..models.efficientnet import MBConv
from ..models.lenet import LeNet5
from ..models.mobilenet import InvertedResidual, InvertedResidualV3
from ..models.resnet import BasicBlock, Bottleneck
from ..models.resnet_cifar import ZeroPadShortcut
from ..models.unet import UNet
from ..models.xception import XceptionBlock
from ..nn.separable import SeparableConv1d, SeparableConv2d, SeparableConv3d
from .export import export_rule

END = 2 ** 62   # a Slice end past any axis


@export_rule(nn.Sequential)
def sequential(b, block, x):
    return b.chain(block, x)


@export_rule(nn.Concat)
def concat(b, block, x):
    """``Concat`` (and Inception's ``MultiScaleBlock``): every branch on the same input, joined on the channels."""
    return b.op("Concat", *[b.apply(branch, x) for branch in block], axis=1)


@export_rule(SeparableConv1d, SeparableConv2d, SeparableConv3d)
def separable(b, block, x):
    return b.apply(block.pointwise, b.apply(block.depthwise, x))


@export_rule(LeNet5)
def lenet5(b, net, x):
    return b.apply(net.classifier, b.apply(net.features, x))


@export_rule(BasicBlock, Bottleneck)
def residual(b, block, x):
    """``relu(main(x) + shortcut(x))``, the shortcut the identity or ``downsample``."""
    main = b.chain(block._main(), x)
    skip = x if block.downsample is None else b.apply(block.downsample, x)
    return b.apply(block.relu, b.op("Add", main, skip))


@export_rule(ZeroPadShortcut)
def zero_pad_shortcut(b, layer, x):
    """Option A: every ``stride``-th position (``Slice`` with steps), zero channels around (``Pad``)."""
    if any(s != 1 for s in layer.stride):
        x = b.slice(x, [0, 0], [END, END], [2, 3], list(layer.stride))
    lo = (layer.out_channels - layer.in_channels) // 2
    hi = layer.out_channels - layer.in_channels - lo
    return b.pad(x, [(lo, hi), (0, 0), (0, 0)])


@export_rule(InvertedResidual, InvertedResidualV3)
def inverted_residual(b, block, x):
    """MobileNet's blocks: ``body(x) + x`` where the block keeps the shape, else ``body(x)``."""
    out = b.apply(block._body(), x)
    return b.op("Add", out, x) if block.use_res_connect else out


@export_rule(SqueezeExcitation)
def squeeze_excitation(b, block, x):
    """The input times its per-channel gate ``(N, C, 1, 1)`` (``Mul`` broadcasts it)."""
    return b.op("Mul", b.chain(block._gate(), x), x)


@export_rule(MBConv)
def mbconv(b, block, x):
    """EfficientNet's block: ``block(x)``, plus ``x`` where it keeps the shape (stochastic depth: the identity)."""
    out = b.apply(block.block, x)
    if not block.use_res_connect:
        return out
    return b.op("Add", b.apply(block.stochastic_depth, out), x)


@export_rule(XceptionBlock)
def xception_block(b, block, x):
    skip = b.chain(block._shortcut(), x)
    return b.op("Add", b.apply(block.rep, x), skip)


@export_rule(UNet)
def unet(b, net, x):
    """Encoder levels (each output kept as a skip, then pooled), bottleneck, and per decoder level the
    up-sampled map concatenated after its skip, then the level's double convolution; the 1x1 head."""
    skips = []
    for level in net.encoder:
        x = b.apply(level, x)
        skips.append(x)
        x = b.apply(net.pool, x)
    x = b.apply(net.bottleneck, x)
    for up, level, skip in zip(net.upsample, net.decoder, reversed(skips)):
        x = b.apply(level, b.op("Concat", skip, b.apply(up, x), axis=1))
    return b.apply(net.head, x)
