"""The ops, with PyTorch's names and argument order: ``import strided.nn.functional as F``."""

from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv, conv1d, conv2d, conv3d
from .dropout import dropout
from .linear import flatten, linear
from .loss import cross_entropy, mse_loss
from .norm import batch_norm
from .pool import (avg_pool, avg_pool1d, avg_pool2d, avg_pool3d, global_avg_pool, global_max_pool, max_pool,
                   max_pool1d, max_pool2d, max_pool3d)

__all__ = [
    "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax", "tanh", "conv", "conv1d", "conv2d", "conv3d",
    "dropout", "flatten", "linear", "cross_entropy", "mse_loss", "batch_norm", "avg_pool", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "global_avg_pool", "global_max_pool", "max_pool", "max_pool1d", "max_pool2d",
    "max_pool3d",
]
