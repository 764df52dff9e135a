"""Layers and networks: ``Module``, ``Parameter``, ``Sequential`` and one class per op."""

from . import functional, init, utils
from .activation import Hardtanh, LeakyReLU, PReLU, ReLU, ReLU6
from .activation_sigmoid import Hardsigmoid, Hardswish, LogSoftmax, Sigmoid, Softmax, Tanh
from .activation_smooth import CELU, ELU, GELU, SELU, Mish, SiLU, Softplus
from .adaptive import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                       AdaptiveMaxPool3d)
from .allocation import AllocationError
from .block import Block
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .conv import Conv1d, Conv2d, Conv3d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, StochasticDepth
from .embedding import Embedding
from .kmax import KMaxPool1d
from .linear import Flatten, Linear
from .local import LocallyConnected1d, LocallyConnected2d, LocallyConnected3d
from .lrn import LocalResponseNorm
from .lp_pool import LPPool1d, LPPool2d, LPPool3d
from .loss import CrossEntropyLoss, NLLLoss
from .loss_binary import BCELoss, BCEWithLogitsLoss, KLDivLoss
from .loss_margin import MultiMarginLoss
from .loss_regression import HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from .merge import Concat, MultiScaleBlock
from .module import Cost, Module, Parameter, run_chain
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from .instance_norm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .layer_norm import GroupNorm, LayerNorm
from .global_pool import GlobalAvgPool, GlobalMaxPool
from .max_pool import MaxPool1d, MaxPool2d, MaxPool3d
from .avg_pool import AvgPool1d, AvgPool2d, AvgPool3d
from .padding_layers import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d,
                             ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d,
                             ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .registry import has_static_rules, register_layer, registered_layers
from .reshape import Identity, PixelShuffle, PixelUnshuffle, Unflatten
from .shape_only import is_meta, meta
from .separable import (DepthwiseConv1d, DepthwiseConv2d, DepthwiseConv3d, PointwiseConv1d, PointwiseConv2d,
                        PointwiseConv3d, SeparableConv1d, SeparableConv2d, SeparableConv3d)
from .spec import from_spec
from .unpool import MaxUnpool1d, MaxUnpool2d, MaxUnpool3d
from .upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "AllocationError",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "StochasticDepth", "Embedding", "LayerNorm", "GroupNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "functional", "init", "utils", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh",
    "Hardsigmoid", "Hardswish", "Hardtanh", "PReLU", "ReLU6", "CELU", "ELU", "GELU", "SELU", "Mish", "SiLU", "Softplus",
    "Sequential", "Block", "ModuleList", "ModuleDict", "ParameterList",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "Dropout", "Flatten", "Linear", "CrossEntropyLoss", "MSELoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "KLDivLoss", "MultiMarginLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "Cost",
    "Module", "Parameter", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "convert_sync_batchnorm",
    "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "GlobalAvgPool", "GlobalMaxPool", "MaxPool1d", "MaxPool2d", "MaxPool3d", "register_layer", "from_spec",
    "registered_layers", "run_chain", "has_static_rules", "meta", "is_meta",
    "KMaxPool1d", "LocallyConnected1d", "LocallyConnected2d", "LocallyConnected3d", "LocalResponseNorm",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "Concat", "MultiScaleBlock",
    "DepthwiseConv2d", "PointwiseConv2d", "SeparableConv2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "DepthwiseConv1d", "DepthwiseConv3d", "PointwiseConv1d",
    "PointwiseConv3d", "SeparableConv1d", "SeparableConv3d",
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "PixelShuffle", "PixelUnshuffle", "Unflatten", "Identity",
]
