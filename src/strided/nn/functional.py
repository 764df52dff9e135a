"""The ops, with PyTorch's names and argument order: ``import strided.nn.functional as F``."""

from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .adaptive import adaptive_avg_pool, adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d
from .conv import conv, conv1d, conv2d, conv3d
from .conv_transpose import conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .dropout import dropout
from .kmax import kmax_pool1d
from .linear import flatten, linear
from .local import locally_connected, locally_connected1d, locally_connected2d
from .lrn import local_response_norm
from .loss import cross_entropy, mse_loss
from .merge import concat
from .norm import batch_norm
from .pool import (avg_pool, avg_pool1d, avg_pool2d, avg_pool3d, global_avg_pool, global_max_pool, max_pool,
                   max_pool1d, max_pool2d, max_pool3d)

__all__ = [
    "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax", "tanh", "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "dropout", "flatten", "linear", "cross_entropy", "mse_loss", "batch_norm", "avg_pool", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "global_avg_pool", "global_max_pool", "max_pool", "max_pool1d", "max_pool2d",
    "max_pool3d",
    "kmax_pool1d", "locally_connected", "locally_connected1d", "locally_connected2d", "local_response_norm",
    "adaptive_avg_pool", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "concat",
]
