"""Shared pieces of the model zoo: a network that runs its children in order, and torchvision's init.

``ChainNet`` is the shape of LeNet, AlexNet, VGG, GoogLeNet and the small models: a few named
stages (``features``, ``avgpool``, ``classifier``, ...) applied one after the other. Its forward
pass and its ``walk`` visit the same children in the same (registration) order, so the static
rules and ``st.summary`` follow the data without a second description of it.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.draws import kaiming_normal, normal, uniform


class ChainNet(nn.Sequential):
    """Base class: the children assigned in ``__init__`` are applied in that order.

    A ``Sequential`` whose stages carry names (``features``, ``avgpool``, ``classifier``) instead
    of numbers; ``forward`` and ``walk`` are ``Sequential``'s.

    Shape: whatever the chain of its children gives.
    """


def init_he(model, rng, linear_std: float | None = None, linear_bound: float | None = None) -> None:
    """torchvision's VGG/GoogLeNet-style initialisation, applied in place.

    Convolutions (every ``Conv2d`` subclass: depthwise and pointwise too): He-normal weights with
    fan-out and ReLU gain, biases 0. Batch norm: weight 1, bias 0. Linear layers: ``N(0,
    linear_std)`` weights and 0 biases when ``linear_std`` is given, ``U(-b, b)`` weights with
    ``b = linear_bound(out_features)`` and 0 biases when ``linear_bound`` (a function) is, else
    PyTorch's default kept.
    Under ``nn.meta()`` nothing is drawn or filled (the parameters stay shape-only).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            shape = module.weight.shape
            module.weight.data = kaiming_normal(shape, shape[0] * int(np.prod(shape[2:])), rng)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and (linear_std is not None or linear_bound is not None):
            shape = module.weight.shape
            module.weight.data = (normal(shape, linear_std, rng) if linear_std is not None
                                  else uniform(shape, linear_bound(module.out_features), rng))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
