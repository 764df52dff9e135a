"""Layers and networks: ``Module``, ``Parameter``, ``Sequential`` and one class per op."""

from . import functional, init
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .adaptive import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d
from .block import Block
from .container import Sequential
from .conv import Conv1d, Conv2d, Conv3d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .dropout import Dropout
from .kmax import KMaxPool1d
from .linear import Flatten, Linear
from .local import LocallyConnected1d, LocallyConnected2d, LocallyConnected3d
from .lrn import LocalResponseNorm
from .loss import CrossEntropyLoss, MSELoss
from .merge import Concat, MultiScaleBlock
from .module import Cost, Module, Parameter, run_chain
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .pool import (AvgPool1d, AvgPool2d, AvgPool3d, GlobalAvgPool, GlobalMaxPool, MaxPool1d, MaxPool2d,
                   MaxPool3d)
from .registry import register_layer, registered_layers
from .separable import DepthwiseConv2d, PointwiseConv2d, SeparableConv2d
from .spec import from_spec

__all__ = [
    "functional", "init", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh", "Sequential", "Block",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "Dropout", "Flatten", "Linear", "CrossEntropyLoss", "MSELoss", "Cost",
    "Module", "Parameter", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "GlobalAvgPool", "GlobalMaxPool", "MaxPool1d", "MaxPool2d", "MaxPool3d", "register_layer", "from_spec",
    "registered_layers", "run_chain",
    "KMaxPool1d", "LocallyConnected1d", "LocallyConnected2d", "LocallyConnected3d", "LocalResponseNorm",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "Concat", "MultiScaleBlock",
    "DepthwiseConv2d", "PointwiseConv2d", "SeparableConv2d",
]
