"""The model zoo: ``create_model(name, ...)``, ``list_models()`` and the factories themselves."""

from .lenet import LeNet5, lenet5
from .registry import create_model, list_models, register_model
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .resnet_cifar import CifarResNet, ZeroPadShortcut, resnet20, resnet32, resnet44, resnet56

__all__ = ["LeNet5", "lenet5", "create_model", "list_models", "register_model",
           "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "CifarResNet", "ZeroPadShortcut", "resnet20", "resnet32", "resnet44", "resnet56"]
