"""LeNet-5 (LeCun et al., 1998) in its modern ReLU/max-pool form: 6-16-120-84-10, 61,706 parameters."""

from __future__ import annotations

from .. import nn
from ..nn.init import make_rng
from .registry import register_model


class LeNet5(nn.Block):
    """Two 5x5 convolutions with 2x2 max pooling, then three dense layers.

    Shape: ``(N, C, 32, 32) -> (N, num_classes)``; with ``input_size=28`` the first convolution
    pads by 2 so that 28x28 images (MNIST) meet the same 28x28 feature maps.
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
    """LeNet-5, ReLU and max pooling; ``input_size`` 32 (original) or 28 (padded first conv)."""
    return LeNet5(num_classes, in_channels, input_size, rng=seed)
