"""The ops, with PyTorch's names and argument order: ``import strided.nn.functional as F``."""

from .activation import hardtanh, leaky_relu, prelu, relu, relu6
from .activation_sigmoid import hardsigmoid, hardswish, log_softmax, sigmoid, softmax, tanh
from .activation_smooth import celu, elu, gelu, mish, selu, silu, softplus
from .adaptive import adaptive_avg_pool, adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d
from .adaptive import adaptive_max_pool, adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d
from .conv import conv, conv1d, conv2d, conv3d
from .conv_transpose import conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .dropout import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, stochastic_depth
from .embedding import embedding
from .instance_norm import instance_norm
from .layer_norm import group_norm, layer_norm
from .kmax import kmax_pool1d
from .linear import flatten, linear
from .local import locally_connected, locally_connected1d, locally_connected2d
from .lrn import local_response_norm
from .lp_pool import lp_pool, lp_pool1d, lp_pool2d, lp_pool3d
from .loss import cross_entropy, nll_loss
from .loss_binary import binary_cross_entropy, binary_cross_entropy_with_logits, kl_div
from .loss_margin import multi_margin_loss
from .loss_regression import huber_loss, l1_loss, mse_loss, smooth_l1_loss
from .merge import concat
from .norm import batch_norm
from .padding import pad
from .global_pool import global_avg_pool, global_max_pool
from .max_pool import max_pool, max_pool1d, max_pool2d, max_pool3d
from .avg_pool import avg_pool, avg_pool1d, avg_pool2d, avg_pool3d
from .unpool import max_unpool, max_unpool1d, max_unpool2d, max_unpool3d
from .reshape import pixel_shuffle, pixel_unshuffle
from .upsample import interpolate

__all__ = [
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "stochastic_depth", "embedding", "layer_norm", "group_norm",
    "instance_norm",
    "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax", "tanh",
    "hardsigmoid", "hardswish", "hardtanh", "prelu", "relu6", "celu", "elu", "gelu", "mish", "selu", "silu", "softplus",
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "dropout", "flatten", "linear", "cross_entropy", "mse_loss", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "multi_margin_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "batch_norm", "avg_pool", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "global_avg_pool", "global_max_pool", "max_pool", "max_pool1d", "max_pool2d",
    "max_pool3d",
    "kmax_pool1d", "locally_connected", "locally_connected1d", "locally_connected2d", "local_response_norm",
    "adaptive_avg_pool", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "concat",
    "adaptive_max_pool", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "lp_pool", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool", "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "pad", "interpolate", "pixel_shuffle", "pixel_unshuffle",
]
