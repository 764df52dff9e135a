"""EfficientNet (Tan and Le, 2019), laid out exactly as torchvision's ``efficientnet_b0``.

The network is a stem (3x3/2 convolution to 32, batch norm, SiLU), seven stages of MBConv blocks
(the paper's table 1, ``B0_SETTING`` below), a 1x1 convolution to 1280 (batch norm, SiLU), a
global average pool and a classifier (dropout 0.2, dense 1280 -> classes):

=====  ======  ======  ======  =======  =======  ======  =========
stage  expand  kernel  stride  in       out      blocks  resolution
=====  ======  ======  ======  =======  =======  ======  =========
1      1       3x3     1       32       16       1       112
2      6       3x3     2       16       24       2       56
3      6       5x5     2       24       40       2       28
4      6       3x3     2       40       80       3       14
5      6       5x5     1       80       112      3       14
6      6       5x5     2       112      192      4       7
7      6       3x3     1       192      320      1       7
=====  ======  ======  ======  =======  =======  ======  =========

An MBConv block (``MBConv``) is: 1x1 expansion to ``expand * in`` channels (batch norm, SiLU;
absent when ``expand == 1``), a ``k x k`` depthwise convolution at the block's stride (batch
norm, SiLU), squeeze-and-excitation (``SqueezeExcitation``: global average, 1x1 down to
``max(1, in // 4)`` channels, SiLU, 1x1 back up, sigmoid, times the input), and a 1x1
projection to ``out`` channels with batch norm and no activation. Only the first block of a
stage changes stride or channels; the others add their input back (a residual), through
``StochasticDepth`` in "row" mode: in training each example's residual branch is dropped
with probability ``p`` (the block's input passes on alone) and kept ones are scaled by
``1 / (1 - p)``; ``p`` grows linearly with the block's index, ``0.2 * i / 16`` for block
``i = 0..15``; in evaluation it is the identity.

Names follow torchvision (``features.0.0`` the stem convolution, ``features.2.1.block.0.0``
the expansion of stage 2's second block, ``...block.2.fc1`` its squeeze, ``features.8`` the
last 1x1 convolution, ``classifier.1`` the dense layer), so a torchvision ``state_dict`` loads
unchanged, and so does the initialisation: convolutions He-normal with fan-out and zero
biases, batch norm weight 1 and bias 0 (PyTorch's ``eps=1e-5``, ``momentum=0.1``: torchvision
uses them for B0-B7, and ``eps=1e-3`` only for V2), dense weights ``U(-r, r)`` with
``r = 1 / sqrt(out_features)`` and zero bias.

Parameters for 1000 classes: 5,288,548 (torchvision's figure); 0.39 GMACs at 224x224
(torchvision: 0.39 GFLOPS, counted as multiply-adds).

>>> import strided as st
>>> s = st.summary(efficientnet_b0(), (1, 3, 224, 224))
>>> s.params, s.output_shape
(5288548, (1, 1000))
"""

from __future__ import annotations

import math


from .. import nn
from ..checks import as_int
from ..nn.draws import make_rng
from .blocks import ConvNormActivation, SqueezeExcitation, make_divisible
from .chain import ChainNet, init_he
from .registry import register_model

# (expand ratio, kernel, stride, in channels, out channels, blocks): the paper's table 1 for B0
B0_SETTING = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


# ----------------------------------------------------------------------------------- blocks
class MBConv(nn.Block):
    """Mobile inverted bottleneck with squeeze-and-excitation (EfficientNet's block; see the module docstring).

    Args:
        in_channels: channels in.
        out_channels: channels out.
        expand_ratio: the expansion (1 leaves the 1x1 expansion out).
        kernel_size: the depthwise convolution's kernel size.
        stride: the depthwise convolution's stride (1 or 2).
        stochastic_depth_prob: ``p`` of the residual's ``StochasticDepth``.
        rng: generator or seed for the weights and the stochastic-depth masks.

    Children: ``block`` (a ``Sequential``: [expansion,] depthwise, squeeze-excitation, projection)
    and ``stochastic_depth``. The residual (``use_res_connect``) exists when ``stride == 1`` and
    ``in_channels == out_channels``.

    Shape: ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))``.

    Example:
        >>> MBConv(16, 24, expand_ratio=6, kernel_size=3, stride=2, rng=0).output_shape((1, 16, 8, 8))
        (1, 24, 4, 4)
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float, kernel_size: int, stride: int,
                 stochastic_depth_prob: float = 0.0, rng=None):
        super().__init__()
        name = "MBConv"
        in_channels, out_channels = as_int(in_channels, "in_channels", name), as_int(out_channels, "out_channels", name)
        kernel_size, stride = as_int(kernel_size, "kernel_size", name), as_int(stride, "stride", name)
        if stride not in (1, 2):
            raise ValueError(f"MBConv: stride must be 1 or 2, got {stride}")
        rng = make_rng(rng)
        expanded = make_divisible(in_channels * expand_ratio)
        layers = []
        if expanded != in_channels:
            layers.append(ConvNormActivation(in_channels, expanded, 1, activation=nn.SiLU, rng=rng))   # (N, E, H, W)
        layers.append(ConvNormActivation(expanded, expanded, kernel_size, stride, activation=nn.SiLU, rng=rng,
                                         depthwise=True))                                         # (N, E, H', W')
        layers.append(SqueezeExcitation(expanded, max(1, in_channels // 4), nn.SiLU, nn.Sigmoid, rng=rng))
        layers.append(ConvNormActivation(expanded, out_channels, 1, activation=None, rng=rng))  # (N, out, H', W')
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = nn.StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.settings = (in_channels, out_channels, expand_ratio, kernel_size, stride)

    def forward(self, x):
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out

    def walk(self, in_shape, rf, visit):
        out = self.block.walk(tuple(in_shape), rf, visit)
        if not self.use_res_connect:
            return out
        out = self.stochastic_depth.walk(*out, visit)
        return self.join_add([out, (tuple(in_shape), rf)])

    def extra_repr(self) -> str:
        c_in, c_out, expand, k, stride = self.settings
        return f"{c_in}, {c_out}, expand_ratio={expand}, kernel_size={k}, stride={stride}, p={self.stochastic_depth.p}"


class EfficientNet(ChainNet):
    """EfficientNet-B0 and its compound scalings: ``features``, ``avgpool``, ``classifier`` (see the module docstring).

    Args:
        width_mult: channel multiplier of ``setting`` (B0: 1.0; B1: 1.0; B2: 1.1; B3: 1.2);
            channels round with ``make_divisible``.
        depth_mult: block-count multiplier of ``setting`` (B0: 1.0; B1: 1.1; B2: 1.2; B3: 1.4);
            block counts round up.
        dropout: the classifier's dropout probability.
        stochastic_depth_prob: ``p`` of the last block is just under it (``p * i / blocks`` for block ``i``).
        num_classes: classifier outputs.
        in_channels: input channels.
        setting: rows ``(expand, kernel, stride, in, out, blocks)``; ``B0_SETTING`` by default.
        rng: generator or seed for the initialisation, the dropout and the stochastic-depth masks.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; stage 1 works at ``H/2``, 2 at ``H/4``,
    3 at ``H/8``, 4 and 5 at ``H/16``, 6 and 7 at ``H/32`` (rounded up); the global pool accepts
    any size.

    Example:
        >>> with nn.meta():
        ...     model = EfficientNet(num_classes=10)
        >>> model.output_shape((1, 3, 224, 224))
        (1, 10)
    """

    def __init__(self, width_mult: float = 1.0, depth_mult: float = 1.0, dropout: float = 0.2,
                 stochastic_depth_prob: float = 0.2, num_classes: int = 1000, in_channels: int = 3,
                 setting=B0_SETTING, rng=None):
        super().__init__()
        rng = make_rng(rng)
        rows = [(e, k, s, make_divisible(c_in * width_mult), make_divisible(c_out * width_mult),
                 math.ceil(n * depth_mult)) for e, k, s, c_in, c_out, n in setting]
        total = sum(row[-1] for row in rows)
        layers = [ConvNormActivation(in_channels, rows[0][3], 3, 2, activation=nn.SiLU, rng=rng)]      # (N, 32, H/2, W/2)
        index = 0
        for expand, kernel, stride, c_in, c_out, blocks in rows:
            stage = []
            for i in range(blocks):
                stage.append(MBConv(c_in if i == 0 else c_out, c_out, expand, kernel, stride if i == 0 else 1,
                                    stochastic_depth_prob * index / total, rng=rng))
                index += 1
            layers.append(nn.Sequential(*stage))
        last_in = rows[-1][4]
        layers.append(ConvNormActivation(last_in, 4 * last_in, 1, activation=nn.SiLU, rng=rng))               # (N, 1280, H/32, W/32)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.GlobalAvgPool()                                                  # (N, 1280)
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng),
                                        nn.Linear(4 * last_in, num_classes, rng=rng))     # (N, num_classes)
        # torchvision: dense layers U(-1/sqrt(out_features), 1/sqrt(out_features)), zero bias
        init_he(self, rng, linear_bound=lambda out_features: 1.0 / math.sqrt(out_features))


@register_model
def efficientnet_b0(num_classes: int = 1000, in_channels: int = 3, seed=None, dropout: float = 0.2,
                    stochastic_depth_prob: float = 0.2) -> EfficientNet:
    """EfficientNet-B0: 5,288,548 parameters, 0.39 GMACs at 224x224 (torchvision: 0.39 GFLOPS).

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).
        dropout: the classifier's dropout probability.
        stochastic_depth_prob: the stochastic-depth probability of the last block (earlier blocks get
            proportionally less).

    Example:
        >>> model = efficientnet_b0(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (5288548, (1, 1000))
    """
    return EfficientNet(1.0, 1.0, dropout, stochastic_depth_prob, num_classes, in_channels, rng=seed)
