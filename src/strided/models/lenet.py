"""LeNet-5 (LeCun et al., 1998): 6-16-120-84-10, 61,706 parameters, in two forms.

* ``lenet5``: the modern form, ReLU and max pooling (the digits training job uses it).
* ``lenet5_classic``: the paper's form, tanh and average pooling, with the simplifications
  documented on ``LeNet5Classic``.
"""

from __future__ import annotations

from .. import nn
from ..nn.draws import make_rng
from .chain import ChainNet
from .registry import register_model


class LeNet5(nn.Block):
    """Two 5x5 convolutions with 2x2 max pooling, then three dense layers.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        input_size: the input's height and width: 32 (the original) or 28 (MNIST; the first convolution
            pads by 2).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, C, 32, 32) -> (N, num_classes)``; with ``input_size=28`` the first convolution
    pads by 2 so that 28x28 images (MNIST) meet the same 28x28 feature maps.

    Example:
        >>> LeNet5(num_classes=10, rng=0).output_shape((2, 1, 32, 32))
        (2, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32, rng=None):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"LeNet5: input_size must be 32 or 28, got {input_size!r}")
        rng = make_rng(rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0, rng=rng),  # (N, 6, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),                                                              # (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5, rng=rng),                                                 # (N, 16, 10, 10)
            nn.ReLU(),
            nn.MaxPool2d(2),                                                              # (N, 16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                                                 # (N, 400)
            nn.Linear(16 * 5 * 5, 120, rng=rng), nn.ReLU(),
            nn.Linear(120, 84, rng=rng), nn.ReLU(),
            nn.Linear(84, num_classes, rng=rng),
        )

    def forward(self, x):
        return self.classifier(self.features(x))

    def walk(self, in_shape, rf, visit):
        shape, rf = self.features.walk(in_shape, rf, visit)
        return self.classifier.walk(shape, rf, visit)


@register_model
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32, seed=None) -> LeNet5:
    """LeNet-5, ReLU and max pooling; ``input_size`` 32 (original) or 28 (padded first conv).

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        input_size: the input's height and width: 32 (the original) or 28 (MNIST; the first convolution
            pads by 2).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).

    Example:
        >>> model = lenet5(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 1, 32, 32))
        (61706, (1, 10))
    """
    return LeNet5(num_classes, in_channels, input_size, rng=seed)


class LeNet5Classic(ChainNet):
    """LeNet-5 as in LeCun et al. (1998): tanh units and 2x2 average-pooling subsampling.

    Layers (the paper's names): C1 5x5 conv to 6 maps, tanh; S2 2x2 average pool; C3 5x5 conv
    to 16 maps, tanh; S4 2x2 average pool; C5 5x5 conv to 120 maps (1x1 at a 32x32 input), tanh;
    F6 dense 120 -> 84, tanh; output dense 84 -> ``num_classes``. Module names: ``features.0``
    (C1), ``features.3`` (C3), ``features.6`` (C5), ``classifier.1`` (F6), ``classifier.3``.

    Simplifications, all standard in re-implementations:

    * C3 connects every S2 map to every C3 map (2,416 parameters) instead of the paper's partial
      connection table (1,516);
    * S2/S4 are plain averages; the paper multiplies each map's sum by a trainable coefficient,
      adds a trainable bias and applies a sigmoid (12 + 32 parameters);
    * the squashing function is ``tanh`` rather than ``1.7159 tanh(2x/3)``;
    * the output is a plain linear layer (850 parameters) instead of Euclidean RBF units with
      fixed, hand-chosen centres; initialisation is PyTorch's default.

    Count: C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850 = 61,706 for 10 classes (the
    paper's network trains 60,000).

    Args:
        num_classes: outputs of the classifier (the number of classes) (default 10).
        in_channels: channels of the input images (3 for RGB, 1 for grey) (default 1).
        input_size: the input's height and width: 32 (the original) or 28 (MNIST; C1 pads by 2) (default 32).
        rng: a ``numpy.random.Generator`` or a seed for the initialisation; ``None``: the library's
            default generator (default ``None``).

    Shape: ``(N, C, 32, 32) -> (N, num_classes)``; ``input_size=28`` pads C1 by 2 (MNIST).

    Example:
        >>> LeNet5Classic(num_classes=10, rng=0).output_shape((2, 1, 32, 32))
        (2, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32, rng=None):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"LeNet5Classic: input_size must be 32 or 28, got {input_size!r}")
        rng = make_rng(rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0, rng=rng),  # C1 (N, 6, 28, 28)
            nn.Tanh(),
            nn.AvgPool2d(2),                                                              # S2 (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5, rng=rng),                                                 # C3 (N, 16, 10, 10)
            nn.Tanh(),
            nn.AvgPool2d(2),                                                              # S4 (N, 16, 5, 5)
            nn.Conv2d(16, 120, 5, rng=rng),                                               # C5 (N, 120, 1, 1)
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                                                 # (N, 120)
            nn.Linear(120, 84, rng=rng), nn.Tanh(),                                       # F6 (N, 84)
            nn.Linear(84, num_classes, rng=rng),                                          # (N, num_classes)
        )


@register_model
def lenet5_classic(num_classes: int = 10, in_channels: int = 1, input_size: int = 32, seed=None) -> LeNet5Classic:
    """LeNet-5 as in the 1998 paper (tanh, average pooling; full C3, linear output): 61,706 parameters.

    Args:
        num_classes: outputs of the classifier (the number of classes) (default 10).
        in_channels: channels of the input images (3 for RGB, 1 for grey) (default 1).
        input_size: the input's height and width: 32 (the original) or 28 (MNIST; C1 pads by 2) (default 32).
        seed: an int or a ``numpy.random.Generator`` for the initial weights; ``None`` draws from the
            library's default generator (``st.manual_seed``) (default ``None``).

    Example:
        >>> model = lenet5_classic(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 1, 32, 32))
        (61706, (1, 10))
    """
    return LeNet5Classic(num_classes, in_channels, input_size, rng=seed)
