"""GoogLeNet (Szegedy et al., "Going deeper with convolutions", 2015): Inception v1 of ``MultiScaleBlock``.

The paper's table 1, without the two auxiliary classifiers (they only add a training loss and
are dropped at inference; torchvision drops them too when ``aux_logits=False``):

============  =====  =====  ======  =====  ======  =====  ========
block         in     #1x1   #3x3r   #3x3   #5x5r   #5x5   poolproj
============  =====  =====  ======  =====  ======  =====  ========
inception3a   192    64     96      128    16      32     32
inception3b   256    128    128     192    32      96     64
inception4a   480    192    96      208    16      48     64
inception4b   512    160    112     224    24      64     64
inception4c   512    128    128     256    24      64     64
inception4d   512    112    144     288    32      64     64
inception4e   528    256    160     320    32      128    128
inception5a   832    256    160     320    32      128    128
inception5b   832    384    192     384    48      128    128
============  =====  =====  ======  =====  ======  =====  ========

The stem is the paper's: conv 7x7/2 to 64, max pool 3x3/2, LRN, conv 1x1 to 64, conv 3x3 to
192, LRN, max pool 3x3/2 (ReLU after every convolution; LRN size 5, ``alpha=1e-4``,
``beta=0.75``, the Caffe convention of the reference model). Max pools between the stages
(after 3b and 4e) are 3x3/2; every pool pads by 1, which gives the paper's sizes (112, 56, 28,
14, 7 at 224x224) where the reference implementations round up instead. The head is a global
average pool (7x7 at 224x224), dropout 0.4 and a dense layer: 1024 -> classes.

As in the paper, convolutions have biases and no batch norm, and branch 3 uses a 5x5
convolution (torchvision's ``googlenet`` adds batch norm and uses 3x3, 6,624,904 parameters).
Module names follow torchvision (``conv1``, ``maxpool1``, ``conv2``, ``conv3``, ``maxpool2``,
``inception3a``, ..., ``avgpool``, ``dropout``, ``fc``); each ``convN`` is a ``Sequential`` of
``conv`` and ``relu``. Initialisation: He-normal (fan-out) convolutions with zero biases.

Parameters for 1000 classes: 6,998,552 (stem 124,416; inception blocks 5,849,136; fc 1,025,000);
1.58 GMACs at 224x224 (the paper: "1.5 billion multiply-adds").
"""

from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ..nn.draws import make_rng
from .chain import ChainNet, init_he
from .registry import register_model

# name: (in_channels, c1x1, c3x3_reduce, c3x3, c5x5_reduce, c5x5, pool_proj); the table above
INCEPTION_V1 = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ("inception3b", "inception4e")


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
               rng=None) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, rng=rng),
        relu=nn.ReLU()))


def _lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)


class GoogLeNet(ChainNet):
    """Inception v1: stem, nine ``MultiScaleBlock``s (3a..5b), global average pool, dropout, dense.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        dropout: the dropout probability before the dense layer.
        rng: generator or seed for the initialisation and the dropout masks.

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; the maps are ``H/2, H/4, H/8, H/16,
    H/32`` (rounded up: 112, 56, 28, 14, 7 at 224x224), and the global pool accepts any size.

    Example:
        >>> with nn.meta():
        ...     model = GoogLeNet(num_classes=10)
        >>> model.output_shape((1, 3, 224, 224))
        (1, 10)
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.4, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.conv1 = _conv_relu(in_channels, 64, 7, stride=2, padding=3, rng=rng)   # (N, 64, 112, 112)
        self.maxpool1 = nn.MaxPool2d(3, 2, padding=1)                                 # (N, 64, 56, 56)
        self.lrn1 = _lrn()
        self.conv2 = _conv_relu(64, 64, 1, rng=rng)                                   # (N, 64, 56, 56)
        self.conv3 = _conv_relu(64, 192, 3, padding=1, rng=rng)                       # (N, 192, 56, 56)
        self.lrn2 = _lrn()
        self.maxpool2 = nn.MaxPool2d(3, 2, padding=1)                                 # (N, 192, 28, 28)
        for name, sizes in INCEPTION_V1.items():                                     # 28 -> 14 -> 7
            setattr(self, name, nn.MultiScaleBlock(*sizes, rng=rng))
            if name in POOL_AFTER:
                setattr(self, f"maxpool{3 + POOL_AFTER.index(name)}", nn.MaxPool2d(3, 2, padding=1))
        self.avgpool = nn.GlobalAvgPool()                                             # (N, 1024)
        self.dropout = nn.Dropout(dropout, rng=rng)
        self.fc = nn.Linear(1024, num_classes, rng=rng)                               # (N, num_classes)
        init_he(self, rng)


@register_model
def googlenet(num_classes: int = 1000, in_channels: int = 3, seed=None) -> GoogLeNet:
    """GoogLeNet (Inception v1, no auxiliary classifiers, no batch norm): 6,998,552 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = googlenet(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 3, 224, 224))
        (6998552, (1, 1000))
    """
    return GoogLeNet(num_classes, in_channels, rng=seed)
