"""U-Net (Ronneberger, Fischer and Brox, 2015) for segmentation, scaled down and with batch norm.

The paper's shape, with ``'same'`` padding so the output keeps the input's size:

* encoder: ``depth`` double convolutions (``DoubleConv``: 3x3 conv, batch norm, ReLU, twice;
  padding 1), ``base_channels * 2**i`` channels at level ``i``, each followed by a 2x2 max
  pool (stride 2);
* bottleneck: a double convolution to ``base_channels * 2**depth`` at ``H / 2**depth``;
* decoder, from the deepest level up: a 2x2 transposed convolution (stride 2) that doubles the
  size and halves the channels, concatenation with the encoder output of the same level along
  the channels (the skip connection: skip first, then the up-sampled map), and a double
  convolution back to that level's channels;
* head: a 1x1 convolution to ``num_classes`` (per-pixel logits).

The paper uses 64 channels at the first level, unpadded convolutions and no batch norm
(``base_channels=64, depth=4`` here: 31.0M parameters); the default is ``base_channels=16,
depth=4`` (1,942,306 parameters for 1 input channel and 2 classes). Inputs must have ``H`` and ``W`` divisible by ``2**depth``, so that every pooled map
has an even size and the up-sampled maps meet their skips exactly; other sizes raise a
``ShapeError`` naming the network.

Names: ``encoder.0`` .. ``encoder.{depth-1}`` (each a ``DoubleConv``: indices 0 conv, 1 batch
norm, 2 ReLU, 3 conv, 4 batch norm, 5 ReLU), ``pool``, ``bottleneck``, ``upsample.0`` ..
(``upsample.0`` is the deepest), ``decoder.0`` .. (likewise), ``head``. Initialisation is the
paper's: He-normal weights with ``std = sqrt(2 / N)``, ``N`` the inputs of one output unit
(``C_in * k * k`` for a convolution, ``C_in`` for the 2x2/2 transposed convolution, whose
windows do not overlap), zero biases; batch norm 1 and 0.

``walk`` describes the data flow (the skips joined with ``Block.join_concat``), so
``st.summary`` lists every layer with its shape, parameters, MACs and receptive field.

>>> net = unet(in_channels=1, num_classes=2, base_channels=8, depth=3, seed=0)
>>> net.output_shape((2, 1, 64, 48))
(2, 2, 64, 48)
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..checks import as_int
from ..errors import ShapeError, shape_str
from ..nn.draws import kaiming_normal, make_rng
from ..nn.merge import concat
from ..tensor import Tensor, as_tensor
from .registry import register_model


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions (padding 1, no bias), each followed by batch norm and ReLU.

    Args:
        in_channels: channels in.
        out_channels: channels out (of both convolutions).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.

    Example:
        >>> DoubleConv(3, 8, rng=0).output_shape((1, 3, 16, 16))
        (1, 8, 16, 16)
    """

    def __init__(self, in_channels: int, out_channels: int, rng=None):
        rng = make_rng(rng)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(out_channels),
            nn.ReLU())


def init_unet(model, rng) -> None:
    """The paper's initialisation: ``N(0, sqrt(2 / N))`` weights with ``N`` the inputs of one output unit, zero
    biases; batch norm weight 1 and bias 0."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            shape = module.weight.shape
            if isinstance(module, nn.Conv2d):                   # (C_out, C_in, k, k): C_in * k * k inputs
                fan_in = int(np.prod(shape[1:]))
            else:                                               # (C_in, C_out, k, k) at stride k: C_in inputs
                fan_in = shape[0] * int(np.prod([k // s for k, s in zip(shape[2:], module.stride)]))
            module.weight.data = kaiming_normal(shape, fan_in, rng)                  # N(0, sqrt(2 / fan_in))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class UNet(nn.Block):
    """A U-Net: encoder, bottleneck, decoder with skip concatenations, 1x1 head (see the module docstring).

    Args:
        in_channels: input channels.
        num_classes: output channels (per-pixel class logits).
        base_channels: channels of the first level; level ``i`` has ``base_channels * 2**i``.
        depth: number of poolings (encoder levels); the bottleneck works at ``H / 2**depth``.
        rng: generator or seed for the initialisation.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` with ``H`` and ``W`` divisible by
    ``2**depth``.

    Example:
        >>> UNet(in_channels=1, num_classes=2, base_channels=4, depth=2, rng=0).output_shape((1, 1, 16, 16))
        (1, 2, 16, 16)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 16, depth: int = 4,
                 rng=None):
        super().__init__()
        in_channels = as_int(in_channels, "in_channels", "UNet")
        num_classes = as_int(num_classes, "num_classes", "UNet")
        base_channels = as_int(base_channels, "base_channels", "UNet")
        depth = as_int(depth, "depth", "UNet")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.base_channels, self.depth = base_channels, depth
        rng = make_rng(rng)
        widths = [base_channels * 2 ** i for i in range(depth + 1)]                  # channels at each level
        self.encoder = nn.ModuleList([DoubleConv(in_channels if i == 0 else widths[i - 1], widths[i], rng)
                                      for i in range(depth)])                        # level i: (N, w_i, H/2^i, W/2^i)
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck = DoubleConv(widths[depth - 1], widths[depth], rng)          # (N, w_depth, H/2^d, W/2^d)
        levels = list(reversed(range(depth)))                                        # deepest first
        self.upsample = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, rng=rng)
                                       for i in levels])                             # (N, w_i, H/2^i, W/2^i)
        self.decoder = nn.ModuleList([DoubleConv(2 * widths[i], widths[i], rng) for i in levels])
        self.head = nn.Conv2d(widths[0], num_classes, 1, rng=rng)                    # (N, num_classes, H, W)
        init_unet(self, rng)

    def _check(self, shape) -> None:
        multiple = 2 ** self.depth
        if len(shape) != 4 or shape[1] != self.in_channels or shape[2] % multiple or shape[3] % multiple:
            raise ShapeError(f"{self._describe()}: expected input (N, {self.in_channels}, H, W) with H and W "
                             f"divisible by 2**{self.depth} = {multiple}, got {shape_str(shape)}")

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        skips = []
        for level in self.encoder:
            x = level(x)                                                             # (N, w_i, H/2^i, W/2^i)
            skips.append(x)
            x = self.pool(x)                                                         # (N, w_i, H/2^(i+1), ...)
        x = self.bottleneck(x)                                                       # (N, w_d, H/2^d, W/2^d)
        for up, level, skip in zip(self.upsample, self.decoder, reversed(skips)):
            x = concat([skip, up(x)], 1, self._describe())                           # (N, 2 w_i, H/2^i, W/2^i)
            x = level(x)                                                             # (N, w_i, H/2^i, W/2^i)
        return self.head(x)                                                          # (N, num_classes, H, W)

    def walk(self, in_shape, rf, visit):
        shape = tuple(in_shape)
        self._check(shape)
        skips = []
        for level in self.encoder:
            shape, rf = level.walk(shape, rf, visit)
            skips.append((shape, rf))
            shape, rf = self.pool.walk(shape, rf, visit)
        shape, rf = self.bottleneck.walk(shape, rf, visit)
        for up, level, skip in zip(self.upsample, self.decoder, reversed(skips)):
            shape, rf = self.join_concat([skip, up.walk(shape, rf, visit)])
            shape, rf = level.walk(shape, rf, visit)
        return self.head.walk(shape, rf, visit)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"base_channels={self.base_channels}, depth={self.depth}")


@register_model
def unet(num_classes: int = 2, in_channels: int = 1, seed=None, base_channels: int = 16, depth: int = 4) -> UNet:
    """A small U-Net (base 16 channels, depth 4): 1,942,306 parameters for 1 input channel and 2 classes.

    Args:
        num_classes: output channels: one logit per class and pixel.
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).
        base_channels: channels of the first level; each level down doubles them.
        depth: number of 2x2 poolings (and transposed convolutions); ``H`` and ``W`` must be divisible
            by ``2**depth``.

    Example:
        >>> model = unet(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 1, 32, 32))
        (1942306, (1, 2, 32, 32))
    """
    return UNet(in_channels, num_classes, base_channels, depth, rng=seed)
