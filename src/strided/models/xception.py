"""Xception (Chollet, "Xception: Deep learning with depthwise separable convolutions", 2017).

A stack of depthwise-separable convolutions (``nn.SeparableConv2d``: depthwise 3x3, then
pointwise 1x1, no bias) with batch norm, in three flows (the paper's figure 5), for 299x299
inputs:

* entry flow: conv 3x3/2 to 32 and conv 3x3 to 64 (no padding, BN, ReLU), then three blocks to
  128, 256 and 728 channels, each two separable convolutions and a 3x3/2 max pool, with a
  shortcut of a 1x1 stride-2 convolution and BN: 299 -> 149 -> 147 -> 74 -> 37 -> 19;
* middle flow: eight blocks of three ReLU-separable-BN at 728 channels and an identity shortcut;
* exit flow: one block (728 -> 728 -> 1024, max pool, 1x1/2 shortcut): 19 -> 10; separable
  convolutions to 1536 and 2048 (BN, ReLU after each), global average pool, dense to classes.

Module names follow the widely used PyTorch port (``conv1``, ``bn1``, ..., ``block1`` ..
``block12`` each with ``skip``/``skipbn`` where it has a projection and ``rep``, ``conv3``,
``bn3``, ``conv4``, ``bn4``, ``global_pool``, ``fc``); separable convolutions hold
``depthwise`` and ``pointwise``. Differences from Keras' reference: max pools pad by 1 on both
sides (PyTorch's convention; the sizes are Keras' ``same``), and the shortcut adds the block's
input itself (the paper), not its ReLU. Initialisation: He-normal (fan-out) convolutions, BN 1/0.

Parameters for 1000 classes: 22,855,952 trainable; with batch norm's running means and variances
(2 x 27,264 buffers) 22,910,480, the figure Keras reports ("22.9M").
"""

from __future__ import annotations

from .. import nn
from ..nn.draws import make_rng
from .chain import ChainNet, init_he
from .registry import register_model


def _sep(in_channels: int, out_channels: int, rng) -> nn.SeparableConv2d:
    return nn.SeparableConv2d(in_channels, out_channels, 3, padding=1, bias=False, rng=rng)


class XceptionBlock(nn.Block):
    """``reps`` x (ReLU, separable 3x3, BN), then a 3x3/2 max pool if ``stride == 2``, plus a shortcut.

    The channels grow at the first separable convolution (``grow_first``, entry and middle flows)
    or at the last (the exit flow's block). ``start_with_relu=False`` drops the first ReLU (the
    first block follows conv2's ReLU already). The shortcut is the identity when the shape is
    kept, else ``skip`` (1x1 convolution at the stride, no bias) and ``skipbn``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        reps: the number of (ReLU, separable conv, BN) units, >= 1.
        stride: 1 (no pooling) or 2 (a 3x3/2 max pool at the end, and a strided shortcut) (default 1).
        start_with_relu: begin with a ReLU (``False`` for a block that follows one already) (default ``True``).
        grow_first: change the channels at the first separable convolution (``True``) or at the last
            (default ``True``).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation; ``None``: the library's
            default generator (default ``None``).

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H_out, W_out)``, ``H_out = H`` at
    stride 1 and ``floor((H - 1) / 2) + 1`` at stride 2.

    Example:
        >>> XceptionBlock(8, 16, reps=2, stride=2, rng=0).output_shape((1, 8, 10, 10))
        (1, 16, 5, 5)
    """

    def __init__(self, in_channels: int, out_channels: int, reps: int, stride: int = 1,
                 start_with_relu: bool = True, grow_first: bool = True, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        if out_channels != in_channels or stride != 1:
            self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, rng=rng)
            self.skipbn = nn.BatchNorm2d(out_channels)
        else:
            self.skip = self.skipbn = None
        widths = [in_channels] + ([out_channels] * reps if grow_first else [in_channels] * (reps - 1) + [out_channels])
        layers = []
        for i in range(reps):
            if i or start_with_relu:
                layers.append(nn.ReLU())
            layers += [_sep(widths[i], widths[i + 1], rng), nn.BatchNorm2d(widths[i + 1])]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, padding=1))
        self.rep = nn.Sequential(*layers)

    def _shortcut(self):
        return () if self.skip is None else (self.skip, self.skipbn)

    def forward(self, x):
        identity = x
        for module in self._shortcut():
            identity = module(identity)
        return self.rep(x) + identity

    def walk(self, in_shape, rf, visit):
        main = self.rep.walk(tuple(in_shape), rf, visit)
        skip = (tuple(in_shape), rf)
        for module in self._shortcut():
            skip = module.walk(skip[0], skip[1], visit)
        return self.join_add([main, skip])

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class Xception(ChainNet):
    """Xception: entry flow (``conv1``..``block3``), middle flow (``block4``..``block11``), exit flow.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; 299x299 gives 19x19 maps in the middle
    flow and 10x10 at the end; any ``H, W >= 7`` works (Keras asks for 71).

    Example:
        >>> with nn.meta():
        ...     model = Xception(num_classes=10)
        >>> model.output_shape((1, 3, 299, 299))
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, rng=None):
        super().__init__()
        rng = make_rng(rng)
        # entry flow
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=2, bias=False, rng=rng)   # (N, 32, 149, 149)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False, rng=rng)                       # (N, 64, 147, 147)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU()
        self.block1 = XceptionBlock(64, 128, 2, 2, start_with_relu=False, rng=rng)   # (N, 128, 74, 74)
        self.block2 = XceptionBlock(128, 256, 2, 2, rng=rng)                         # (N, 256, 37, 37)
        self.block3 = XceptionBlock(256, 728, 2, 2, rng=rng)                         # (N, 728, 19, 19)
        # middle flow: block4 .. block11
        for i in range(4, 12):
            setattr(self, f"block{i}", XceptionBlock(728, 728, 3, 1, rng=rng))        # (N, 728, 19, 19)
        # exit flow
        self.block12 = XceptionBlock(728, 1024, 2, 2, grow_first=False, rng=rng)     # (N, 1024, 10, 10)
        self.conv3 = _sep(1024, 1536, rng)                                           # (N, 1536, 10, 10)
        self.bn3 = nn.BatchNorm2d(1536)
        self.relu3 = nn.ReLU()
        self.conv4 = _sep(1536, 2048, rng)                                           # (N, 2048, 10, 10)
        self.bn4 = nn.BatchNorm2d(2048)
        self.relu4 = nn.ReLU()
        self.global_pool = nn.GlobalAvgPool()                                        # (N, 2048)
        self.fc = nn.Linear(2048, num_classes, rng=rng)                              # (N, num_classes)
        init_he(self, rng)


@register_model
def xception(num_classes: int = 1000, in_channels: int = 3, seed=None) -> Xception:
    """Xception for 299x299 inputs: 22,855,952 parameters (22,910,480 with BN running statistics).

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = xception()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (22855952, (1, 1000))
    """
    return Xception(num_classes, in_channels, rng=seed)
