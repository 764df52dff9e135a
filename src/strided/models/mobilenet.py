"""MobileNetV2 (Sandler et al., 2018) and MobileNetV3-Small (Howard et al., 2019), laid out as torchvision's.

Both stack *inverted residuals*: a 1x1 expansion, a depthwise ``k x k`` convolution
(``Conv2d(groups=channels)``) and a linear 1x1 projection, each with batch norm, the input added
back where the block keeps the shape (stride 1, same channels).

* ``mobilenet_v2``: ``features.0`` (conv 3x3/2 to 32, BN, ReLU6), 17 ``InvertedResidual`` blocks
  from the paper's table 2 (``V2_SETTING``: expansion ``t``, channels ``c``, repeats ``n``, stride
  ``s`` of the first repeat), ``features.18`` (1x1 to 1280, BN, ReLU6), global average pool,
  ``classifier`` (Dropout 0.2, Linear). Every block's layers are in ``conv``: ``conv.0`` the
  expansion (absent for ``t = 1``), then the depthwise ConvBNReLU6, the projection and its BN.
* ``mobilenet_v3_small``: ``features.0`` (conv 3x3/2 to 16, BN, Hardswish), 11
  ``InvertedResidualV3`` blocks (``V3_SMALL_SETTING``, the paper's table 2) with ReLU or Hardswish
  and, in most of them, a ``SqueezeExcitation`` after the depthwise convolution (squeeze to
  ``make_divisible(expanded // 4)`` channels, ReLU, back, Hardsigmoid gate), ``features.12`` (1x1
  to 576, BN, Hardswish), ``avgpool``, ``classifier`` (Linear 576 -> 1024, Hardswish, Dropout
  0.2, Linear). Its batch norms use ``eps=0.001, momentum=0.01``. Layers are in ``block``.

Module names are torchvision's (``features.2.conv.1.0.weight``, ``features.1.block.1.fc1.bias``,
``classifier.3.weight``), so a torchvision ``state_dict`` loads unchanged, and so is the
initialisation: convolutions He-normal with fan-out (depthwise too) and zero bias, batch norm 1
and 0, dense layers ``N(0, 0.01)`` with zero bias. Where a plain ``ReLU`` follows a batch norm
(MobileNetV3's "RE" blocks) the pair runs fused (``nn.run_chain``); ReLU6 and Hardswish run alone.

>>> import strided as st
>>> s = st.summary(mobilenet_v2(), (1, 3, 224, 224))
>>> s.params, round(s.macs / 1e6), s.output_shape
(3504872, 301, (1, 1000))
>>> s = st.summary(mobilenet_v3_small(), (1, 3, 224, 224))
>>> s.params, round(s.macs / 1e6), s.output_shape
(2542856, 57, (1, 1000))
"""

from __future__ import annotations

from .. import nn
from ..nn.draws import make_rng
from .blocks import ConvNormActivation, SqueezeExcitation, make_divisible
from .chain import ChainNet, init_he
from .registry import register_model

# MobileNetV2, table 2: expansion t, output channels c, repeats n, stride s of the first repeat
V2_SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1)]
# MobileNetV3-Small, table 2: in, kernel, expanded, out, squeeze-and-excite, activation, stride
V3_SMALL_SETTING = [
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1),
]
V3_BN = {"eps": 0.001, "momentum": 0.01}


class _InvertedBlock(nn.Block):
    """Shared body of the inverted residuals: ``body(x) + x`` where the shape is kept, else ``body(x)``.

    Subclasses hold their layers in a ``Sequential`` returned by ``_body()`` and set ``use_res_connect``.
    """

    use_res_connect = False

    def _body(self) -> nn.Sequential:
        raise NotImplementedError

    def forward(self, x):
        out = self._body()(x)
        return out + x if self.use_res_connect else out

    def walk(self, in_shape, rf, visit):
        main = self._body().walk(tuple(in_shape), rf, visit)
        return self.join_add([main, (tuple(in_shape), rf)]) if self.use_res_connect else main

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class InvertedResidual(_InvertedBlock):
    """MobileNetV2's block: 1x1 expansion to ``round(inp * t)`` (ConvBNReLU6, left out for ``t = 1``),
    depthwise 3x3 at ``stride`` (ConvBNReLU6), linear 1x1 projection and batch norm; the input is added
    where ``stride == 1`` and ``inp == oup``. Layers in ``conv`` as in torchvision.

    Args:
        inp: channels of the input.
        oup: channels of the output.
        stride: the depthwise convolution's stride, 1 or 2.
        expand_ratio: the expansion factor ``t`` (1: no expansion convolution).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation; ``None``: the library's
            default generator (default ``None``).

    Shape: ``(N, inp, H, W) -> (N, oup, floor((H - 1) / stride) + 1, floor((W - 1) / stride) + 1)``.

    Example:
        >>> InvertedResidual(8, 16, stride=2, expand_ratio=6, rng=0).output_shape((1, 8, 8, 8))
        (1, 16, 4, 4)
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: float, rng=None):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride!r}")
        rng = make_rng(rng)
        hidden = round(inp * expand_ratio)
        self.in_channels, self.out_channels, self.stride = inp, oup, stride
        self.use_res_connect = stride == 1 and inp == oup
        layers = [] if expand_ratio == 1 else [ConvNormActivation(inp, hidden, 1, rng=rng)]        # (N, hidden, H, W)
        layers += [ConvNormActivation(hidden, hidden, 3, stride, groups=hidden, rng=rng),           # (N, hidden, H', W')
                   nn.Conv2d(hidden, oup, 1, bias=False, rng=rng), nn.BatchNorm2d(oup)]             # (N, oup, H', W')
        self.conv = nn.Sequential(*layers)

    def _body(self):
        return self.conv


class InvertedResidualV3(_InvertedBlock):
    """MobileNetV3's block: 1x1 expansion (left out when ``expanded == in``), depthwise ``kernel`` at
    ``stride``, each with batch norm and ReLU (``"RE"``) or Hardswish (``"HS"``), a squeeze-and-excitation
    (``use_se``; squeeze ``make_divisible(expanded // 4)``, Hardsigmoid gate), linear 1x1 projection and
    batch norm; the input is added where ``stride == 1`` and ``in == out``. Layers in ``block``.

    Args:
        in_channels: channels of the input.
        kernel: the side of the depthwise convolution's kernel (3 or 5 in MobileNetV3).
        expanded: channels after the expansion (``in_channels``: no expansion convolution).
        out_channels: channels of the output.
        use_se: add a squeeze-and-excitation after the depthwise convolution.
        activation: ``"RE"`` (ReLU) or ``"HS"`` (Hardswish).
        stride: the depthwise convolution's stride, 1 or 2.
        bn: keyword arguments for every ``BatchNorm2d`` (default ``None``: ``V3_BN``,
            ``{"eps": 0.001, "momentum": 0.01}``).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation; ``None``: the library's
            default generator (default ``None``).

    Shape: ``(N, in, H, W) -> (N, out, floor((H - 1) / stride) + 1, floor((W - 1) / stride) + 1)``.

    Example:
        >>> block = InvertedResidualV3(16, 3, 64, 24, use_se=True, activation="HS", stride=2, rng=0)
        >>> block.output_shape((1, 16, 8, 8))
        (1, 24, 4, 4)
    """

    def __init__(self, in_channels: int, kernel: int, expanded: int, out_channels: int, use_se: bool,
                 activation: str, stride: int, bn: dict | None = None, rng=None):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidualV3: stride must be 1 or 2, got {stride!r}")
        if activation not in ("RE", "HS"):
            raise ValueError(f"InvertedResidualV3: activation must be 'RE' or 'HS', got {activation!r}")
        rng = make_rng(rng)
        bn = V3_BN if bn is None else bn
        act = nn.Hardswish if activation == "HS" else nn.ReLU
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = [] if expanded == in_channels else [ConvNormActivation(in_channels, expanded, 1, activation=act,
                                                                        bn=bn, rng=rng)]       # (N, E, H, W)
        layers.append(ConvNormActivation(expanded, expanded, kernel, stride, groups=expanded, activation=act,
                                         bn=bn, rng=rng))                                     # (N, E, H', W')
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4), scale_activation=nn.Hardsigmoid,
                                            rng=rng))                                         # (N, E, H', W')
        layers.append(ConvNormActivation(expanded, out_channels, 1, activation=None, bn=bn, rng=rng))  # (N, out, ...)
        self.block = nn.Sequential(*layers)

    def _body(self):
        return self.block


class MobileNetV2(ChainNet):
    """torchvision's ``MobileNetV2``: ``features`` (stem, 17 inverted residuals, 1x1 to 1280), global
    average pool, ``classifier`` (Dropout, Linear); see the module docstring.

    Args:
        num_classes: classifier outputs.
        in_channels: input channels.
        width_mult: every layer's channels times this, rounded by ``make_divisible`` (the last
            layer keeps at least 1280).
        dropout: the classifier's dropout probability.
        rng: generator or seed for the initialisation (and the dropout masks).

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; the features are ``(N, 1280, H/32, W/32)``
    (rounded up at each halving), any ``H, W >= 1`` works.

    Example:
        >>> with nn.meta():
        ...     model = MobileNetV2(num_classes=10)
        >>> model.output_shape((1, 3, 224, 224))
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.2, rng=None):
        super().__init__()
        rng = make_rng(rng)
        channels = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        features = [ConvNormActivation(in_channels, channels, 3, 2, rng=rng)]                  # (N, 32, H/2, W/2)
        for t, c, n, s in V2_SETTING:
            out = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(channels, out, s if i == 0 else 1, t, rng=rng))
                channels = out                                                              # (N, 320, H/32, W/32)
        features.append(ConvNormActivation(channels, last, 1, rng=rng))                       # (N, 1280, H/32, W/32)
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)                                               # (N, 1280, 1, 1)
        self.flatten = nn.Flatten()                                                          # (N, 1280)
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng), nn.Linear(last, num_classes, rng=rng))
        init_he(self, rng, linear_std=0.01)


class MobileNetV3(ChainNet):
    """torchvision's ``MobileNetV3``: ``features`` (stem, the inverted residuals of ``setting``, 1x1 to
    6x the last block's channels), ``avgpool``, ``classifier`` (Linear, Hardswish, Dropout, Linear).

    Args:
        setting: rows ``(in, kernel, expanded, out, use_se, "RE"/"HS", stride)``, e.g. ``V3_SMALL_SETTING``.
        last_channel: width of the classifier's hidden layer (1024 for the small model).
        num_classes: classifier outputs.
        in_channels: input channels.
        dropout: the classifier's dropout probability.
        width_mult: every channel count of ``setting`` and ``last_channel`` times this, ``make_divisible``.
        rng: generator or seed for the initialisation (and the dropout masks).

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; features at ``H/32`` (rounded up) for the
    small model's four stride-2 blocks and stride-2 stem.

    Example:
        >>> with nn.meta():
        ...     model = MobileNetV3(num_classes=10)
        >>> model.output_shape((1, 3, 224, 224))
        (1, 10)
    """

    def __init__(self, setting=V3_SMALL_SETTING, last_channel: int = 1024, num_classes: int = 1000,
                 in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.2, rng=None):
        super().__init__()
        if not setting:
            raise ValueError("MobileNetV3: setting must list at least one block")
        rng = make_rng(rng)
        rows = [(make_divisible(c_in * width_mult), k, make_divisible(e * width_mult), make_divisible(c * width_mult),
                 se, act, s) for c_in, k, e, c, se, act, s in setting]
        first, final = rows[0][0], 6 * rows[-1][3]
        last_channel = make_divisible(last_channel * width_mult)
        features = [ConvNormActivation(in_channels, first, 3, 2, activation=nn.Hardswish, bn=V3_BN, rng=rng)]
        features += [InvertedResidualV3(*row, bn=V3_BN, rng=rng) for row in rows]
        features.append(ConvNormActivation(rows[-1][3], final, 1, activation=nn.Hardswish, bn=V3_BN, rng=rng))
        self.features = nn.Sequential(*features)                                             # (N, 576, H/32, W/32)
        self.avgpool = nn.AdaptiveAvgPool2d(1)                                               # (N, 576, 1, 1)
        self.flatten = nn.Flatten()                                                          # (N, 576)
        self.classifier = nn.Sequential(
            nn.Linear(final, last_channel, rng=rng), nn.Hardswish(), nn.Dropout(dropout, rng=rng),
            nn.Linear(last_channel, num_classes, rng=rng))                                   # (N, num_classes)
        init_he(self, rng, linear_std=0.01)


@register_model
def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, seed=None) -> MobileNetV2:
    """MobileNetV2 (width 1.0): 3,504,872 parameters, 0.30 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = mobilenet_v2(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (3504872, (1, 1000))
    """
    return MobileNetV2(num_classes, in_channels, rng=seed)


@register_model
def mobilenet_v3_small(num_classes: int = 1000, in_channels: int = 3, seed=None) -> MobileNetV3:
    """MobileNetV3-Small (width 1.0): 2,542,856 parameters, 0.06 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = mobilenet_v3_small(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (2542856, (1, 1000))
    """
    return MobileNetV3(V3_SMALL_SETTING, 1024, num_classes, in_channels, rng=seed)
