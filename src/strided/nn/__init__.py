"""Layers and networks: ``Module``, ``Parameter``, ``Sequential`` and one class per op."""

from . import functional, init
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import Sequential
from .conv import Conv1d, Conv2d, Conv3d
from .dropout import Dropout
from .linear import Flatten, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Cost, Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .pool import (AvgPool1d, AvgPool2d, AvgPool3d, GlobalAvgPool, GlobalMaxPool, MaxPool1d, MaxPool2d,
                   MaxPool3d)
from .registry import register_layer, registered_layers

__all__ = [
    "functional", "init", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh", "Sequential",
    "Conv1d", "Conv2d", "Conv3d", "Dropout", "Flatten", "Linear", "CrossEntropyLoss", "MSELoss", "Cost",
    "Module", "Parameter", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "GlobalAvgPool", "GlobalMaxPool", "MaxPool1d", "MaxPool2d", "MaxPool3d", "register_layer",
    "registered_layers",
]
