"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) in two forms.

* ``alexnet``: torchvision's single-tower layout (64-192-384-256-256 channels, no local response
  norm, an adaptive 6x6 average pool so any input of at least 63x63 works), 61,100,840
  parameters; its ``state_dict`` keys are torchvision's (``features.0.weight`` ...
  ``classifier.6.bias``), so torchvision weights load unchanged.
* ``alexnet_2012``: the network of the paper, for 227x227 inputs: 96-256-384-384-256 channels,
  local response normalisation after the first two convolutions, and two-group convolutions
  where the paper split the work over two GPUs. 60,965,224 parameters (the paper's "60 million").

The paper's first layer, 96 kernels 11x11 at stride 4, gives its 55x55 maps only at 227x227:

>>> from strided import nn
>>> conv1 = nn.Conv2d(3, 96, 11, stride=4, rng=0)
>>> conv1.output_shape((1, 3, 227, 227)), conv1.output_shape((1, 3, 224, 224))
((1, 96, 55, 55), (1, 96, 54, 54))
"""

from __future__ import annotations

from .. import nn
from ..nn.draws import make_rng
from .chain import ChainNet, normal
from .registry import register_model


class AlexNet(ChainNet):
    """torchvision's ``AlexNet``: five convolutions, adaptive 6x6 average pool, three dense layers.

    ``features``: conv 11x11/4 pad 2 to 64, ReLU, max pool 3/2; conv 5x5 pad 2 to 192, ReLU, max
    pool 3/2; conv 3x3 to 384, 256, 256 (pad 1, ReLU after each); max pool 3/2 (indices 0..12).
    ``avgpool``: ``AdaptiveAvgPool2d((6, 6))``. ``classifier``: Dropout, Linear 9216 -> 4096, ReLU,
    Dropout, Linear 4096 -> 4096, ReLU, Linear 4096 -> ``num_classes`` (indices 0..6); the flatten
    between them is the parameter-free child ``flatten``. Initialisation: PyTorch's default.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        dropout: the classifier's dropout probability.
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)`` for ``H, W >= 63``; the features are
    ``(N, 256, 6, 6)`` at 224x224 and are pooled (or spread) to 6x6 at any other size.

    Example:
        >>> with nn.meta():
        ...     model = AlexNet(num_classes=10)
        >>> model.output_shape((1, 3, 224, 224))
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 11, stride=4, padding=2, rng=rng), nn.ReLU(),   # (N, 64, 55, 55)
            nn.MaxPool2d(3, 2),                                                         # (N, 64, 27, 27)
            nn.Conv2d(64, 192, 5, padding=2, rng=rng), nn.ReLU(),                       # (N, 192, 27, 27)
            nn.MaxPool2d(3, 2),                                                         # (N, 192, 13, 13)
            nn.Conv2d(192, 384, 3, padding=1, rng=rng), nn.ReLU(),                      # (N, 384, 13, 13)
            nn.Conv2d(384, 256, 3, padding=1, rng=rng), nn.ReLU(),                      # (N, 256, 13, 13)
            nn.Conv2d(256, 256, 3, padding=1, rng=rng), nn.ReLU(),                      # (N, 256, 13, 13)
            nn.MaxPool2d(3, 2),                                                         # (N, 256, 6, 6)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))                                     # (N, 256, 6, 6)
        self.flatten = nn.Flatten()                                                     # (N, 9216)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout, rng=rng), nn.Linear(256 * 6 * 6, 4096, rng=rng), nn.ReLU(),
            nn.Dropout(dropout, rng=rng), nn.Linear(4096, 4096, rng=rng), nn.ReLU(),
            nn.Linear(4096, num_classes, rng=rng),                                      # (N, num_classes)
        )


class AlexNet2012(ChainNet):
    """The network of Krizhevsky et al. (2012), one tower holding both GPUs' halves.

    ``features``: conv1 11x11/4 to 96, ReLU, LRN, max pool 3/2; conv2 5x5 pad 2 to 256 in two
    groups, ReLU, LRN, max pool 3/2; conv3 3x3 pad 1 to 384 (connected to all of conv2's maps,
    as in the paper); conv4 3x3 to 384 and conv5 3x3 to 256, each in two groups; ReLU after each;
    max pool 3/2. ``classifier``: fc6 Linear 9216 -> 4096, ReLU, Dropout; fc7 Linear 4096 -> 4096,
    ReLU, Dropout; fc8 Linear 4096 -> ``num_classes`` (dropout on the outputs of the first two
    dense layers, as in the paper; torchvision puts it on their inputs). LRN is the paper's form
    (``k=2, n=5, alpha=1e-4, beta=0.75``, alpha not divided by ``n``); pools overlap (3/2).

    ``groups=2`` reproduces the connectivity of the paper's two GPUs: each GPU's kernels in
    conv2, conv4 and conv5 see only the maps of the previous layer on the same GPU. (The first
    convolution and the dense layers are split too, but they see their whole input, so one
    tower computes the same function.)

    Initialisation as in the paper: weights ``N(0, 0.01)``; biases 1 in conv2, conv4, conv5 and
    the two hidden dense layers, 0 elsewhere.

    Parameters, 1000 classes (weights + biases):
    conv1 96*3*11*11 + 96 = 34,944; conv2 256*48*5*5 + 256 = 307,456;
    conv3 384*256*3*3 + 384 = 885,120; conv4 384*192*3*3 + 384 = 663,936;
    conv5 256*192*3*3 + 256 = 442,624; fc6 9216*4096 + 4096 = 37,752,832;
    fc7 4096*4096 + 4096 = 16,781,312; fc8 4096*1000 + 1000 = 4,097,000; total 60,965,224.

    Args:
        num_classes: outputs of the classifier (the number of classes) (default 1000).
        in_channels: channels of the input images (3 for RGB, 1 for grey) (default 3).
        dropout: the probability of zeroing fc6's and fc7's outputs in training (default 0.5).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator (default ``None``).

    Shape: ``(N, in_channels, 227, 227) -> (N, num_classes)``: 55x55 after conv1, 27 after the
    first pool, 13 after the second, 6x6x256 = 9216 features after the last (the paper's text
    says 224, but only 227 gives its 55x55 maps).

    Example:
        >>> with nn.meta():
        ...     model = AlexNet2012(num_classes=10)
        >>> model.output_shape((1, 3, 227, 227))
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4, rng=rng), nn.ReLU(),               # (N, 96, 55, 55)
            nn.LocalResponseNorm.alexnet(), nn.MaxPool2d(3, 2),                         # (N, 96, 27, 27)
            nn.Conv2d(96, 256, 5, padding=2, groups=2, rng=rng), nn.ReLU(),             # (N, 256, 27, 27)
            nn.LocalResponseNorm.alexnet(), nn.MaxPool2d(3, 2),                         # (N, 256, 13, 13)
            nn.Conv2d(256, 384, 3, padding=1, rng=rng), nn.ReLU(),                      # (N, 384, 13, 13)
            nn.Conv2d(384, 384, 3, padding=1, groups=2, rng=rng), nn.ReLU(),            # (N, 384, 13, 13)
            nn.Conv2d(384, 256, 3, padding=1, groups=2, rng=rng), nn.ReLU(),            # (N, 256, 13, 13)
            nn.MaxPool2d(3, 2),                                                         # (N, 256, 6, 6)
        )
        self.flatten = nn.Flatten()                                                     # (N, 9216)
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096, rng=rng), nn.ReLU(), nn.Dropout(dropout, rng=rng),   # fc6
            nn.Linear(4096, 4096, rng=rng), nn.ReLU(), nn.Dropout(dropout, rng=rng),          # fc7
            nn.Linear(4096, num_classes, rng=rng),                                      # fc8 (N, num_classes)
        )
        ones = {id(self.features[i]) for i in (4, 10, 12)} | {id(self.classifier[i]) for i in (0, 3)}
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.data = normal(module.weight.shape, 0.01, rng)
                nn.init.constant_(module.bias, 1.0 if id(module) in ones else 0.0)


@register_model
def alexnet(num_classes: int = 1000, in_channels: int = 3, seed=None) -> AlexNet:
    """AlexNet, torchvision's layout: 61,100,840 parameters, 0.71 GMACs at 224x224.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = alexnet()
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (61100840, (1, 1000))
    """
    return AlexNet(num_classes, in_channels, rng=seed)


@register_model
def alexnet_2012(num_classes: int = 1000, in_channels: int = 3, seed=None) -> AlexNet2012:
    """AlexNet as in the 2012 paper (227x227, LRN, two-group convolutions): 60,965,224 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> with nn.meta():
        ...     model = alexnet_2012()
        >>> model.num_parameters(), model.output_shape((1, 3, 227, 227))
        (60965224, (1, 1000))
    """
    return AlexNet2012(num_classes, in_channels, rng=seed)
