"""PyTorch definitions of the zoo's networks, written out here as the oracle (torchvision is not used).

``TorchAlexNet`` and ``TorchVGG`` copy torchvision's layouts (``features``, ``avgpool``,
``classifier`` with the same indices, ``torch.flatten`` between them); ``TorchLeNet5`` and
``TorchLeNet5Classic`` are LeNet-5 in the two forms of ``strided.models.lenet``;
``TorchMNIST1D`` is Greydanus and Kobak's ``ConvBase`` from the MNIST-1D repository;
``TorchDigitsCNN`` is the 8x8-digits CNN; ``TorchXceptionBlock`` is an Xception block. The VGG table below is torchvision's ``cfgs``,
written independently of ``strided.models.vgg.CONFIGS``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import strided as st
from oracle import TORCH_REASON
from strided.nn.dropout import dropout as strided_dropout

torch = pytest.importorskip("torch", reason=TORCH_REASON)      # every definition here is PyTorch's
tnn = torch.nn


class TorchLeNet5(tnn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(in_channels, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
        self.classifier = tnn.Sequential(
            tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
            tnn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchLeNet5Classic(tnn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(in_channels, 6, 5), tnn.Tanh(), tnn.AvgPool2d(2),
            tnn.Conv2d(6, 16, 5), tnn.Tanh(), tnn.AvgPool2d(2),
            tnn.Conv2d(16, 120, 5), tnn.Tanh())
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(120, 84), tnn.Tanh(), tnn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchMNIST1D(tnn.Module):
    """``ConvBase`` of github.com/greydanus/mnist1d (models.py), channels 25, linear_in 125."""

    def __init__(self, output_size=10, channels=25, linear_in=125):
        super().__init__()
        self.conv1 = tnn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = tnn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = tnn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = tnn.Linear(linear_in, output_size)

    def forward(self, x):
        x = x.view(-1, 1, x.shape[-1])
        h1 = self.conv1(x).relu()
        h2 = self.conv2(h1).relu()
        h3 = self.conv3(h2).relu()
        return self.linear(h3.view(h3.shape[0], -1))


class TorchDigitsCNN(tnn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(),
                                       tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2))
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchAlexNet(tnn.Module):
    """torchvision.models.AlexNet."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), tnn.ReLU(inplace=True),
            tnn.MaxPool2d(kernel_size=3, stride=2),
            tnn.Conv2d(64, 192, kernel_size=5, padding=2), tnn.ReLU(inplace=True),
            tnn.MaxPool2d(kernel_size=3, stride=2),
            tnn.Conv2d(192, 384, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
            tnn.Conv2d(384, 256, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
            tnn.Conv2d(256, 256, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
            tnn.MaxPool2d(kernel_size=3, stride=2))
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(
            tnn.Dropout(p=dropout), tnn.Linear(256 * 6 * 6, 4096), tnn.ReLU(inplace=True),
            tnn.Dropout(p=dropout), tnn.Linear(4096, 4096), tnn.ReLU(inplace=True),
            tnn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# torchvision.models.vgg.cfgs
VGG_CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
VGG_NAMES = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


class TorchVGG(tnn.Module):
    """torchvision.models.VGG with ``make_layers(cfgs[cfg], batch_norm)`` and its initialisation."""

    def __init__(self, cfg="A", batch_norm=False, num_classes=1000, dropout=0.5):
        super().__init__()
        layers, in_channels = [], 3
        for v in VGG_CFGS[cfg]:
            if v == "M":
                layers += [tnn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                conv = tnn.Conv2d(in_channels, v, kernel_size=3, padding=1)
                layers += [conv, tnn.BatchNorm2d(v), tnn.ReLU(inplace=True)] if batch_norm else [conv, tnn.ReLU(True)]
                in_channels = v
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
        self.classifier = tnn.Sequential(
            tnn.Linear(512 * 7 * 7, 4096), tnn.ReLU(True), tnn.Dropout(p=dropout),
            tnn.Linear(4096, 4096), tnn.ReLU(True), tnn.Dropout(p=dropout),
            tnn.Linear(4096, num_classes))
        for m in self.modules():
            if isinstance(m, tnn.Conv2d):
                tnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                tnn.init.constant_(m.bias, 0)
            elif isinstance(m, tnn.Linear):
                tnn.init.normal_(m.weight, 0, 0.01)
                tnn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def torch_reference(name: str, **kwargs) -> tnn.Module:
    """The PyTorch network for a strided model name (``vgg13_bn`` etc. included)."""
    if name.startswith("vgg"):
        base = name.removesuffix("_bn")
        return TorchVGG(VGG_NAMES[base], name.endswith("_bn"), **kwargs)
    return {"lenet5": TorchLeNet5, "lenet5_classic": TorchLeNet5Classic, "mnist1d_cnn": TorchMNIST1D,
            "digits_cnn": TorchDigitsCNN, "alexnet": TorchAlexNet}[name](**kwargs)


class MirrorDropout(tnn.Module):
    """Dropout whose masks are the ones strided's ``Dropout`` draws from a generator in the same state.

    strided and torch draw from different generators, so a training-mode comparison replaces
    torch's dropout layers by this one: it asks strided's ``dropout`` function for the mask of an
    all-ones input of the same shape, from its own generator seeded as the strided model's,
    and multiplies by it (autograd then takes the gradient through the same mask).
    """

    def __init__(self, p, rng):
        super().__init__()
        self.p, self.rng = p, rng

    def forward(self, x):
        if not self.training:
            return x
        mask = strided_dropout(np.ones(tuple(x.shape), dtype=np.float64), self.p, True, self.rng).data
        return x * torch.from_numpy(mask).to(x.dtype)


def mirror_dropout(torch_model: tnn.Module, strided_model, seed: int = 7) -> int:
    """Give the strided model's dropout layers one fresh generator, and torch's mirror layers another seeded alike.

    Both networks then draw masks in the same order (forward order) from generators in the same
    state. Returns the number of dropout layers (checked equal on both sides).
    """
    ours = np.random.default_rng(seed)
    count = 0
    for module in strided_model.modules():
        if isinstance(module, st.nn.Dropout):
            module.rng = ours
            count += 1
    theirs = np.random.default_rng(seed)
    replaced = 0
    for parent in list(torch_model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, tnn.Dropout):
                setattr(parent, name, MirrorDropout(child.p, theirs))
                replaced += 1
    assert replaced == count, f"torch has {replaced} dropout layers, strided {count}"
    return count


class TorchSeparable(tnn.Sequential):
    """Depthwise 3x3 then pointwise 1x1, no bias, under strided's child names."""

    def __init__(self, in_channels, out_channels):
        super().__init__(OrderedDict(
            depthwise=tnn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            pointwise=tnn.Conv2d(in_channels, out_channels, 1, bias=False)))


class TorchXceptionBlock(tnn.Module):
    """The ``Block`` of the widely used PyTorch Xception port (Cadene's ``pretrainedmodels``), with
    non-in-place ReLUs so that the shortcut adds the block's input, as in the paper."""

    def __init__(self, in_filters, out_filters, reps, strides=1, start_with_relu=True, grow_first=True):
        super().__init__()
        if out_filters != in_filters or strides != 1:
            self.skip = tnn.Conv2d(in_filters, out_filters, 1, stride=strides, bias=False)
            self.skipbn = tnn.BatchNorm2d(out_filters)
        else:
            self.skip = None
        rep, filters = [], in_filters
        if grow_first:
            rep += [tnn.ReLU(), TorchSeparable(in_filters, out_filters), tnn.BatchNorm2d(out_filters)]
            filters = out_filters
        for _ in range(reps - 1):
            rep += [tnn.ReLU(), TorchSeparable(filters, filters), tnn.BatchNorm2d(filters)]
        if not grow_first:
            rep += [tnn.ReLU(), TorchSeparable(in_filters, out_filters), tnn.BatchNorm2d(out_filters)]
        if not start_with_relu:
            rep = rep[1:]
        if strides != 1:
            rep.append(tnn.MaxPool2d(3, strides, 1))
        self.rep = tnn.Sequential(*rep)

    def forward(self, x):
        skip = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + skip
