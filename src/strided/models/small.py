"""Small CNNs that train in seconds on a CPU: MNIST-1D (1-D signals) and 8x8 digits (2-D images).

* ``mnist1d_cnn``: the CNN of Greydanus and Kobak's MNIST-1D benchmark ("Scaling down deep
  learning with MNIST-1D", 2020/2024): 5,210 parameters, inputs ``(N, 1, 40)``.
* ``digits_cnn``: a compact 2-D CNN for scikit-learn's 8x8 digits: 9,930 parameters.
"""

from __future__ import annotations

from .. import nn
from ..nn.draws import make_rng
from .chain import ChainNet
from .registry import register_model


class MNIST1DCNN(ChainNet):
    """Three strided 1-D convolutions with 25 channels, ReLU after each, then one dense layer.

    Names follow the reference code (``conv1``, ``conv2``, ``conv3``, ``linear``; its ReLUs are
    functional, here the parameter-free ``relu1``..``relu3``), so its ``state_dict`` loads unchanged.

    Sizes at length 40: conv1 k5/s2/p1 -> 19, conv2 k3/s2/p1 -> 10, conv3 k3/s2/p1 -> 5, so
    25 * 5 = 125 features. Parameters: 25*1*5 + 25 = 150; 25*25*3 + 25 = 1,900 (twice);
    125*10 + 10 = 1,260; total 5,210.

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input signals.
        channels: channels of the hidden convolutions.
        length: the length of the input signals.
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, in_channels, 40) -> (N, num_classes)``; ``length`` sets another input length
    (the dense layer then takes ``25 * L3`` features, ``L3`` the length after conv3).

    Example:
        >>> MNIST1DCNN(rng=0).output_shape((4, 1, 40))
        (4, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, channels: int = 25, length: int = 40, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.conv1 = nn.Conv1d(in_channels, channels, 5, stride=2, padding=1, rng=rng)  # (N, 25, 19)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)     # (N, 25, 10)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)     # (N, 25, 5)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()                                                     # (N, 125)
        shape = (1, in_channels, length)
        for conv in (self.conv1, self.conv2, self.conv3):
            shape = conv.output_shape(shape)
        self.linear = nn.Linear(shape[1] * shape[2], num_classes, rng=rng)              # (N, num_classes)


class DigitsCNN(ChainNet):
    """conv3-16 (same), ReLU, conv3-32 (same), ReLU, max pool 2, flatten, dense: for 8x8 digit images.

    Parameters: 16*1*9 + 16 = 160; 32*16*9 + 32 = 4,640; 32*4*4*10 + 10 = 5,130; total 9,930
    (for 1 input channel and 10 classes).

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        input_size: the input's height and width.
        rng: a ``numpy.random.Generator`` or a seed for the initialisation (and the dropout masks);
            ``None``: the library's default generator.

    Shape: ``(N, in_channels, 8, 8) -> (N, 16, 8, 8) -> (N, 32, 8, 8) -> (N, 32, 4, 4) -> (N, 512)
    -> (N, num_classes)``.

    Example:
        >>> DigitsCNN(rng=0).output_shape((4, 1, 8, 8))
        (4, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 8, rng=None):
        super().__init__()
        rng = make_rng(rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding="same", rng=rng), nn.ReLU(),          # (N, 16, 8, 8)
            nn.Conv2d(16, 32, 3, padding="same", rng=rng), nn.ReLU(),                   # (N, 32, 8, 8)
            nn.MaxPool2d(2),                                                            # (N, 32, 4, 4)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                                               # (N, 512)
            nn.Linear(32 * (input_size // 2) ** 2, num_classes, rng=rng),               # (N, num_classes)
        )


@register_model
def mnist1d_cnn(num_classes: int = 10, in_channels: int = 1, seed=None, input_size: int = 40) -> MNIST1DCNN:
    """Greydanus and Kobak's MNIST-1D CNN, inputs (N, 1, 40): 5,210 parameters (``input_size``: another length).

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input signals.
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).
        input_size: the length of the input signals.

    Example:
        >>> model = mnist1d_cnn(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 1, 40))
        (5210, (1, 10))
    """
    return MNIST1DCNN(num_classes, in_channels, length=input_size, rng=seed)


@register_model
def digits_cnn(num_classes: int = 10, in_channels: int = 1, seed=None, input_size: int = 8) -> DigitsCNN:
    """A compact CNN for 8x8 digits: conv3-16, conv3-32, max pool, dense; 9,930 parameters (``input_size``:
    the side of other square images).

    Args:
        num_classes: outputs of the classifier (the number of classes).
        in_channels: channels of the input images (3 for RGB, 1 for grey).
        seed: an int or a ``numpy.random.Generator`` for the initial weights (and dropout masks);
            ``None`` draws from the library's default generator (``st.manual_seed``).
        input_size: the input's height and width.

    Example:
        >>> model = digits_cnn(seed=0)
        >>> model.num_parameters(), model.output_shape((1, 1, 8, 8))
        (9930, (1, 10))
    """
    return DigitsCNN(num_classes, in_channels, input_size, rng=seed)
