"""VGG (Simonyan and Zisserman, 2015), configurations A, B, D and E, laid out exactly as torchvision's.

One table, ``CONFIGS``, lists each configuration's 3x3 convolutions (their output channels) and
its 2x2 max pools (``"M"``); the factories ``vgg11``, ``vgg13``, ``vgg16``, ``vgg19`` and their
``_bn`` variants (batch norm after every convolution) all read it. The network is ``features``
(the convolutions, each padded by 1 and followed by ReLU), ``avgpool`` (an adaptive 7x7 average
pool, the identity at 224x224), the parameter-free ``flatten`` and ``classifier`` (Linear 25088
-> 4096, ReLU, Dropout, Linear 4096 -> 4096, ReLU, Dropout, Linear 4096 -> classes: indices
0..6), so torchvision's ``state_dict`` keys load unchanged. Initialisation is torchvision's:
convolutions He-normal (fan-out) with zero bias, batch norm 1 and 0, dense ``N(0, 0.01)`` with
zero bias.

Parameters (1000 classes): vgg11 132,863,336; vgg11_bn 132,868,840; vgg13 133,047,848;
vgg13_bn 133,053,736; vgg16 138,357,544; vgg16_bn 138,365,992; vgg19 143,667,240;
vgg19_bn 143,678,248. The classifier holds 123,642,856 of them.

``st.summary(vgg16(), (1, 3, 224, 224))`` gives 138,357,544 parameters and 15.47 GMACs; the
convolutional part alone:

>>> features = make_features(CONFIGS["D"], rng=0)
>>> features.output_shape((1, 3, 224, 224)), features.num_parameters()
((1, 512, 7, 7), 14714688)
"""

from __future__ import annotations

from .. import nn
from ..nn.draws import make_rng
from .chain import ChainNet, init_he
from .registry import register_model

# output channels of each 3x3 convolution; "M" a 2x2 max pool (the paper's table 1, columns A, B, D, E)
CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_features(config, in_channels: int = 3, batch_norm: bool = False, rng=None) -> nn.Sequential:
    """The convolutional part of a VGG from a ``CONFIGS`` entry: conv3 (pad 1) [+ BN] + ReLU, or max pool 2/2.

    Shape: ``(N, in_channels, H, W) -> (N, last, H / 2^p, W / 2^p)`` (rounded down at each pool) for
    ``p`` pools; every convolution keeps the size.
    """
    rng = make_rng(rng)
    layers = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(in_channels, item, 3, padding=1, rng=rng))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        in_channels = item
    return nn.Sequential(*layers)


class VGG(ChainNet):
    """torchvision's ``VGG``: ``features``, adaptive 7x7 ``avgpool``, ``classifier`` (see the module docstring).

    Args:
        config: a key of ``CONFIGS`` ("A", "B", "D", "E") or a list in that notation.
        batch_norm: batch norm after every convolution (the ``_bn`` models).
        num_classes: classifier outputs.
        in_channels: input channels.
        dropout: the classifier's dropout probability.
        rng: generator or seed for the initialisation (and the dropout masks).

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)`` for ``H, W >= 32`` (five halvings); the
    features are ``(N, 512, 7, 7)`` at 224x224 and are pooled (or spread) to 7x7 at any other size.

    Example:
        >>> with nn.meta():
        ...     model = VGG("A", batch_norm=True, num_classes=10)
        >>> model.output_shape((1, 3, 224, 224))
        (1, 10)
    """

    def __init__(self, config="D", batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.5, rng=None):
        super().__init__()
        if isinstance(config, str):
            if config not in CONFIGS:
                raise ValueError(f"VGG: config must be one of {sorted(CONFIGS)} or a list, got {config!r}")
            config = CONFIGS[config]
        last = [c for c in config if c != "M"][-1]
        rng = make_rng(rng)
        self.features = make_features(config, in_channels, batch_norm, rng)         # (N, 512, H/32, W/32)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))                                  # (N, 512, 7, 7)
        self.flatten = nn.Flatten()                                                  # (N, 25088)
        self.classifier = nn.Sequential(
            nn.Linear(last * 7 * 7, 4096, rng=rng), nn.ReLU(), nn.Dropout(dropout, rng=rng),
            nn.Linear(4096, 4096, rng=rng), nn.ReLU(), nn.Dropout(dropout, rng=rng),
            nn.Linear(4096, num_classes, rng=rng),                                   # (N, num_classes)
        )
        init_he(self, rng, linear_std=0.01)


def _vgg(config: str, batch_norm: bool, num_classes: int, in_channels: int, seed) -> VGG:
    return VGG(config, batch_norm, num_classes, in_channels, rng=seed)


@register_model
def vgg11(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-11 (configuration A): 132,863,336 parameters, 7.61 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg11()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (132863336, (1, 1000))
    """
    return _vgg("A", False, num_classes, in_channels, seed)


@register_model
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-11 with batch norm: 132,868,840 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg11_bn()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (132868840, (1, 1000))
    """
    return _vgg("A", True, num_classes, in_channels, seed)


@register_model
def vgg13(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-13 (configuration B): 133,047,848 parameters, 11.31 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg13()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (133047848, (1, 1000))
    """
    return _vgg("B", False, num_classes, in_channels, seed)


@register_model
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-13 with batch norm: 133,053,736 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg13_bn()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (133053736, (1, 1000))
    """
    return _vgg("B", True, num_classes, in_channels, seed)


@register_model
def vgg16(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters, 15.47 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg16()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (138357544, (1, 1000))
    """
    return _vgg("D", False, num_classes, in_channels, seed)


@register_model
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-16 with batch norm: 138,365,992 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg16_bn()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (138365992, (1, 1000))
    """
    return _vgg("D", True, num_classes, in_channels, seed)


@register_model
def vgg19(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-19 (configuration E): 143,667,240 parameters, 19.63 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg19()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (143667240, (1, 1000))
    """
    return _vgg("E", False, num_classes, in_channels, seed)


@register_model
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, seed=None) -> VGG:
    """VGG-19 with batch norm: 143,678,248 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = vgg19_bn()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (143678248, (1, 1000))
    """
    return _vgg("E", True, num_classes, in_channels, seed)
