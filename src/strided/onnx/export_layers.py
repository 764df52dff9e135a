"""Export rules of the layers: ``rule(builder, layer, x) -> Value`` (see ``strided.onnx.export``).

Windowed layers write the ``Window`` they resolve for the exported input size
(``layer.window(x.shape)``), so ``'same'`` at any stride, ``'causal'``, per-side pairs and
``ceil_mode``'s overhang all become explicit ``(lo, hi)`` pads:

* convolutions: ``Conv`` / ``ConvTranspose`` with ``pads``, ``strides``, ``dilations``, ``group``;
  a ``padding_mode`` other than zeros is a ``Pad`` node first (``GraphBuilder.pad``);
* max pooling: ``MaxPool`` with the resolved pads (overhang included: padded positions never win);
* average pooling: ``AveragePool`` with ``count_include_pad`` where ONNX's divisor is PyTorch's
  (no ``ceil_mode`` overhang, no ``divisor_override``); otherwise an explicit zero ``Pad``, an
  unpadded ``AveragePool`` and a ``Mul`` by the constant ``prod(kernel) / divisor`` of each output
  (strided's own divisor, ``nn.avg_pool._avg_divisor``); Lp pooling likewise around ``Pow``;
* adaptive pooling: global pooling, a regular pool where the bins tile the axis, else per axis a
  ``Gather`` where every bin is one pixel, or ``Slice`` + reduce + ``Concat`` of the exact bins
  (``geometry.adaptive_bins``);
* ``KMaxPool1d``: ``TopK`` for the k largest, ``TopK`` again to put their positions in order,
  ``GatherElements``;
* locally-connected layers: a ``Conv`` with one-hot kernels unfolds the windows (im2col), then one
  batched ``MatMul`` with the per-position weights.

No ONNX form: ``MaxUnpool*`` (two inputs) and pooling with ``return_indices=True`` (two outputs).
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..geometry import adaptive_bins
from ..nn import activation_smooth as smooth
from ..nn.avg_pool import _avg_divisor
from ..nn.lp_pool import _partial_scale
from ..nn.upsample import LINEAR_MODES, resample_geometry
from .export import ExportError, export_rule


def _pads(pairs) -> list[int]:
    """ONNX's ``pads``: every axis' low amount, then every high one."""
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def _refuse(layer, why: str):
    """No ONNX form for this layer (or these settings): ``GraphBuilder.apply`` adds its path and name."""
    raise ExportError(f"{type(layer).__name__} {why}")


# ------------------------------------------------------------------------------------- convolution
@export_rule(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def conv(b, layer, x):
    window = layer.window(x.shape)
    pads = window.pads
    if layer.padding_mode != "zeros":                                   # copy pixels into the pads, then convolve
        x = b.pad(x, pads, layer.padding_mode)
        pads = ((0, 0),) * window.ndim
    bias = None if layer.bias is None else b.param(layer, "bias")
    return b.op("Conv", x, b.param(layer, "weight"), bias, kernel_shape=list(window.kernel),
                strides=list(window.stride), dilations=list(window.dilation), pads=_pads(pads), group=layer.groups)


@export_rule(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def conv_transpose(b, layer, x):
    """``ConvTranspose`` with the resolved crop as ``pads``. An ``output_padding`` of at least the stride
    (PyTorch allows it below the dilation; onnxruntime refuses it) only uncovers positions of the grid
    the high crop hides: it is folded into that crop, or where the crop is too small the missing
    positions are zeros padded on before the bias is added."""
    window = layer.window(x.shape)
    weight = b.param(layer, "weight")
    bias = None if layer.bias is None else b.param(layer, "bias")
    attrs = dict(kernel_shape=list(window.kernel), strides=list(window.stride), dilations=list(window.dilation),
                 group=layer.groups)
    extra = window.output_padding
    if all(op < s for op, s in zip(extra, window.stride)):
        return b.op("ConvTranspose", x, weight, bias, pads=_pads(window.pads), output_padding=list(extra), **attrs)
    crop = [(lo, max(hi - op, 0)) for (lo, hi), op in zip(window.pads, extra)]
    short = [max(op - hi, 0) for (lo, hi), op in zip(window.pads, extra)]
    if not any(short):
        return b.op("ConvTranspose", x, weight, bias, pads=_pads(crop), **attrs)
    grid = (x.shape[0], layer.out_channels) + tuple(o - s for o, s in zip(window.out_sizes, short))
    out = b.pad(b.op("ConvTranspose", x, weight, pads=_pads(crop), shape=grid, **attrs), [(0, s) for s in short])
    return out if bias is None else b.op("Add", out, _per_channel(b, bias, len(x.shape)))


@export_rule(nn.LocallyConnected1d, nn.LocallyConnected2d, nn.LocallyConnected3d)
def locally_connected(b, layer, x):
    """im2col as a ``Conv`` with one-hot kernels ``(C_in*K, C_in, *K)``, then per position ``P``:
    ``(P, N, C_in*K) @ (P, C_in*K, C_out)``; the weight ``(*O, C_out, C_in, *K)`` is reshaped in the graph."""
    window = layer.window(x.shape)
    c_in, c_out = layer.in_channels, layer.out_channels
    k = int(np.prod(window.kernel))
    ck, p = c_in * k, int(np.prod(window.out_sizes))
    unfold = np.eye(ck, dtype=np.float32).reshape((ck, c_in) + tuple(window.kernel))
    cols = b.op("Conv", x, b.const(unfold, "unfold"), kernel_shape=list(window.kernel),
                strides=list(window.stride), dilations=list(window.dilation), pads=_pads(window.pads))
    cols = b.op("Reshape", cols, b.ints([0, ck, p], "shape"))                            # (N, C_in*K, P)
    cols = b.op("Transpose", cols, perm=[2, 0, 1])                                       # (P, N, C_in*K)
    weight = b.op("Reshape", b.param(layer, "weight"), b.ints([p, c_out, ck], "shape"))  # (P, C_out, C_in*K)
    weight = b.op("Transpose", weight, perm=[0, 2, 1])                                   # (P, C_in*K, C_out)
    out = b.op("Transpose", b.op("MatMul", cols, weight), perm=[1, 2, 0])                # (N, C_out, P)
    out = b.op("Reshape", out, b.ints([0, c_out] + list(window.out_sizes), "shape"))     # (N, C_out, *O)
    return out if layer.bias is None else b.op("Add", out, b.param(layer, "bias"))


# ------------------------------------------------------------------------------------- pooling
def _pool_attrs(window) -> dict:
    return dict(kernel_shape=list(window.kernel), strides=list(window.stride))


@export_rule(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
def max_pool(b, layer, x):
    if layer.return_indices:
        _refuse(layer, "with return_indices=True has no ONNX form: its forward returns (output, indices), and "
                       "ONNX's MaxPool counts indices over the whole tensor, not per channel plane as MaxUnpool "
                       "reads them; export the layer without return_indices")
    window = layer.window(x.shape)
    pads = window.pads
    if any(max(lo, hi) >= k for (lo, hi), k in zip(pads, window.kernel)):   # ceil_mode's overhang past a kernel:
        x = b.pad(x, pads, "constant", -np.inf)                              # pad with -inf explicitly
        pads = ((0, 0),) * window.ndim
    return b.op("MaxPool", x, pads=_pads(pads), dilations=list(window.dilation), **_pool_attrs(window))


def _window_sum_scaled(b, x, window, factor):
    """``factor`` times the mean of each window over ``prod(kernel)`` positions: a zero ``Pad`` by the
    resolved pads (overhang included), an unpadded ``AveragePool``, a ``Mul`` by ``factor``."""
    x = b.pad(x, window.pads, "constant", 0.0)
    mean = b.op("AveragePool", x, pads=[0] * (2 * window.ndim), **_pool_attrs(window))
    if np.ndim(factor) == 0 and float(factor) == 1.0:
        return mean
    return b.op("Mul", mean, b.const(np.asarray(factor, dtype=np.float32), "scale"))


@export_rule(nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
def avg_pool(b, layer, x):
    window = layer.window(x.shape)
    divisor_override = getattr(layer, "divisor_override", None)
    if divisor_override is None and not window.overhang:               # ONNX's divisor is PyTorch's
        return b.op("AveragePool", x, pads=_pads(window.pads), count_include_pad=int(bool(layer.count_include_pad)),
                    **_pool_attrs(window))
    divisor = _avg_divisor(window, x.shape[2:], np.float64, layer.count_include_pad, divisor_override)
    factor = float(np.prod(window.kernel)) / np.asarray(divisor, dtype=np.float64)   # () or (1, 1, *O)
    return _window_sum_scaled(b, x, window, factor)


@export_rule(nn.LPPool1d, nn.LPPool2d, nn.LPPool3d)
def lp_pool(b, layer, x):
    """``(sum x^p)^(1/p)`` as strided computes it (no absolute value, unlike ONNX's ``LpPool``): ``Pow``,
    the window sum (a partial ``ceil_mode`` window scaled up to ``prod(kernel)`` positions, strided's
    ``nn.lp_pool._partial_scale``), ``Pow``."""
    window = layer.window(x.shape)
    p = float(layer.norm_type)
    kernel = float(np.prod(window.kernel))
    partial = _partial_scale(window, x.shape[2:], np.float64)          # (1, 1, *O) kernel / count, or None
    factor = kernel if partial is None else kernel * partial           # the mean times kernel: the sum
    powered = b.op("Pow", x, b.const(np.float32(p), "p"))
    total = _window_sum_scaled(b, powered, window, factor)
    return b.op("Pow", total, b.const(np.float32(1.0 / p), "inverse_p"))


def _global(b, x, op_type, keepdims):
    out = b.op(op_type, x)                                              # (N, C, 1, ...)
    return out if keepdims else b.op("Flatten", out, axis=1)            # (N, C)


@export_rule(nn.GlobalAvgPool)
def global_avg_pool(b, layer, x):
    return _global(b, x, "GlobalAveragePool", layer.keepdims)


@export_rule(nn.GlobalMaxPool)
def global_max_pool(b, layer, x):
    return _global(b, x, "GlobalMaxPool", layer.keepdims)


def _adaptive(b, layer, x, pool: str, reduce: str, global_op: str):
    if getattr(layer, "return_indices", False):
        _refuse(layer, "with return_indices=True has no ONNX form: its forward returns (output, indices)")
    sizes = tuple(x.shape[2:])
    out = tuple(layer.output_shape(x.shape)[2:])
    if all(o == 1 for o in out):
        return b.op(global_op, x)
    if all(n % o == 0 for n, o in zip(sizes, out)):                    # regular bins: one pool of kernel = stride
        kernel = [n // o for n, o in zip(sizes, out)]
        return b.op(pool, x, kernel_shape=kernel, strides=kernel)
    for axis, (n, o) in enumerate(zip(sizes, out), start=2):           # exact bins, one axis at a time
        if n == o:
            continue
        starts, ends = adaptive_bins(n, o)
        if all(end - start == 1 for start, end in zip(starts, ends)):  # one pixel per bin: copies (VGG's 1 -> 7)
            x = b.op("Gather", x, b.ints(starts, "bins"), axis=axis)
            continue
        bins = []
        for start, end in zip(starts, ends):
            piece = b.slice(x, [start], [end], [axis])
            bins.append(b.reduce(reduce, piece, [axis], keepdims=True))
        x = b.op("Concat", *bins, axis=axis)
    return x


@export_rule(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
def adaptive_avg_pool(b, layer, x):
    return _adaptive(b, layer, x, "AveragePool", "ReduceMean", "GlobalAveragePool")


@export_rule(nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
def adaptive_max_pool(b, layer, x):
    return _adaptive(b, layer, x, "MaxPool", "ReduceMax", "GlobalMaxPool")


@export_rule(nn.KMaxPool1d)
def kmax_pool(b, layer, x):
    k = b.ints([layer.k], "k")
    _, where = b.op("TopK", x, k, axis=2, largest=1, sorted=1, outputs=2)            # the k largest; ties: lower index
    positions, _ = b.op("TopK", where, k, axis=2, largest=0, sorted=1, outputs=2)    # their positions, increasing
    return b.op("GatherElements", x, positions, axis=2)


@export_rule(nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)
def max_unpool(b, layer, x):
    _refuse(layer, "has no ONNX form here: its forward takes the indices as a second input, and exported "
                   "graphs have one input")


# ------------------------------------------------------------------------------------- normalisation
def _normalize(b, x, axes, eps):
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` (biased variance), in standard ops."""
    mean = b.reduce("ReduceMean", x, axes)
    centred = b.op("Sub", x, mean)
    var = b.reduce("ReduceMean", b.op("Mul", centred, centred), axes)
    std = b.op("Sqrt", b.op("Add", var, b.const(np.float32(eps), "eps")))
    return b.op("Div", centred, std)


def _per_channel(b, value, rank):
    """A ``(C,)`` initializer reshaped to ``(C, 1, ..., 1)`` against an input of ``rank`` axes."""
    return b.op("Reshape", value, b.ints([-1] + [1] * (rank - 2), "shape"))


def _affine(b, layer, y, rank):
    """``y * weight + bias`` per channel, for the parts the layer has."""
    if getattr(layer, "weight", None) is not None:
        y = b.op("Mul", y, _per_channel(b, b.param(layer, "weight"), rank))
    if getattr(layer, "bias", None) is not None:
        y = b.op("Add", y, _per_channel(b, b.param(layer, "bias"), rank))
    return y


def _scale_and_bias(b, layer, channels):
    """``weight`` and ``bias`` initializers, or constant ones and zeros where the layer has none."""
    scale = b.param(layer, "weight") if getattr(layer, "weight", None) is not None else \
        b.const(np.ones(channels, np.float32), "ones")
    shift = b.param(layer, "bias") if getattr(layer, "bias", None) is not None else \
        b.const(np.zeros(channels, np.float32), "zeros")
    return scale, shift


@export_rule(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def batch_norm(b, layer, x):
    """Evaluation mode: ``BatchNormalization`` with the running statistics; without them the batch's
    own statistics (over every axis but the channels), in standard ops."""
    if layer.running_mean is None:
        axes = [0] + list(range(2, len(x.shape)))
        return _affine(b, layer, _normalize(b, x, axes, layer.eps), len(x.shape))
    scale, shift = _scale_and_bias(b, layer, layer.num_features)
    return b.op("BatchNormalization", x, scale, shift, b.param(layer, "running_mean"),
                b.param(layer, "running_var"), epsilon=float(layer.eps))


@export_rule(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def instance_norm(b, layer, x):
    if len(x.shape) != layer.ndim + 2:
        _refuse(layer, f"exports batched inputs (N, C, ...) only, got {tuple(x.shape)}")
    scale, shift = _scale_and_bias(b, layer, layer.num_features)
    if layer.track_running_stats:                                       # evaluation: the running statistics
        return b.op("BatchNormalization", x, scale, shift, b.param(layer, "running_mean"),
                    b.param(layer, "running_var"), epsilon=float(layer.eps))
    return b.op("InstanceNormalization", x, scale, shift, epsilon=float(layer.eps))


@export_rule(nn.LayerNorm)
def layer_norm(b, layer, x):
    """``LayerNormalization`` from opset 17; before, the normalisation in standard ops."""
    k = len(layer.normalized_shape)
    if b.opset >= 17:
        scale = b.param(layer, "weight") if layer.weight is not None else \
            b.const(np.ones(layer.normalized_shape, np.float32), "ones")
        shift = None if layer.bias is None else b.param(layer, "bias")
        return b.op("LayerNormalization", x, scale, shift, axis=-k, epsilon=float(layer.eps))
    y = _normalize(b, x, range(len(x.shape) - k, len(x.shape)), layer.eps)
    if layer.weight is not None:
        y = b.op("Mul", y, b.param(layer, "weight"))
    return y if layer.bias is None else b.op("Add", y, b.param(layer, "bias"))


@export_rule(nn.GroupNorm)
def group_norm(b, layer, x):
    """Channels in ``num_groups`` groups, each normalised over its channels and positions (standard ops:
    ONNX's ``GroupNormalization`` changed its scale's meaning in opset 21)."""
    groups = b.reshape_batch(x, (x.shape[0], layer.num_groups, -1))   # (N, G, C/G * prod(S))
    y = b.reshape_batch(_normalize(b, groups, [2], layer.eps), x.shape)
    return _affine(b, layer, y, len(x.shape))


@export_rule(nn.LocalResponseNorm)
def local_response_norm(b, layer, x):
    """``LRN`` where ONNX's window is strided's (odd ``size``, 4-D input); otherwise the window sum of
    squares over the channels as an ``AveragePool`` over a zero-padded channel axis."""
    size = layer.size
    alpha = layer.alpha * size if layer.paper_alpha else layer.alpha    # ONNX divides alpha by size
    if size % 2 and len(x.shape) == 4:
        return b.op("LRN", x, size=size, alpha=float(alpha), beta=float(layer.beta), bias=float(layer.k))
    lo, hi = size // 2, (size - 1) // 2                                 # strided's (PyTorch's) window
    squares = b.op("Mul", x, x)
    planes = b.reshape_batch(squares, (x.shape[0], 1, x.shape[1], -1))  # (N, 1, C, prod(S))
    planes = b.pad(planes, [(lo, hi), (0, 0)])
    mean = b.op("AveragePool", planes, kernel_shape=[size, 1], strides=[1, 1])   # sum / size
    mean = b.reshape_batch(mean, x.shape)
    scaled = b.op("Mul", mean, b.const(np.float32(alpha), "alpha"))    # alpha / size * sum
    denominator = b.op("Pow", b.op("Add", scaled, b.const(np.float32(layer.k), "k")),
                       b.const(np.float32(layer.beta), "beta"))
    return b.op("Div", x, denominator)


# ------------------------------------------------------------------------------------- activations
def _simple(op_type, **attrs):
    def rule(b, layer, x):
        return b.op(op_type, x, **attrs)
    return rule


export_rule(nn.ReLU)(_simple("Relu"))
export_rule(nn.Sigmoid)(_simple("Sigmoid"))
export_rule(nn.Tanh)(_simple("Tanh"))


@export_rule(nn.Hardtanh, nn.ReLU6)
def hardtanh(b, layer, x):
    return b.op("Clip", x, b.const(np.float32(layer.min_val), "min"), b.const(np.float32(layer.max_val), "max"))


@export_rule(nn.LeakyReLU)
def leaky_relu(b, layer, x):
    return b.op("LeakyRelu", x, alpha=float(layer.negative_slope))


@export_rule(nn.PReLU)
def prelu(b, layer, x):
    slope = b.param(layer, "weight")
    if layer.num_parameters > 1:
        slope = _per_channel(b, slope, len(x.shape))
    return b.op("PRelu", x, slope)


@export_rule(nn.Hardsigmoid)
def hardsigmoid(b, layer, x):
    return b.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)


@export_rule(nn.Hardswish)
def hardswish(b, layer, x):
    if b.opset >= 14:
        return b.op("HardSwish", x)
    return b.op("Mul", x, b.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5))


@export_rule(nn.SiLU)
def silu(b, layer, x):
    return b.op("Mul", x, b.op("Sigmoid", x))


@export_rule(nn.Mish)
def mish(b, layer, x):
    if b.opset >= 18:
        return b.op("Mish", x)
    return b.op("Mul", x, b.op("Tanh", b.op("Softplus", x)))


@export_rule(nn.GELU)
def gelu(b, layer, x):
    if b.opset >= 20:
        return b.op("Gelu", x, approximate=layer.approximate)
    half_x = b.op("Mul", x, b.const(np.float32(0.5), "half"))
    if layer.approximate == "tanh":                                     # 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
        cube = b.op("Mul", b.op("Mul", x, x), x)
        inner = b.op("Add", x, b.op("Mul", cube, b.const(np.float32(smooth.GELU_TANH_CUBIC), "cubic")))
        t = b.op("Tanh", b.op("Mul", inner, b.const(np.float32(smooth.SQRT_2_OVER_PI), "sqrt_2_over_pi")))
    else:                                                               # 0.5 x (1 + erf(x / sqrt 2))
        t = b.op("Erf", b.op("Mul", x, b.const(np.float32(smooth.SQRT_HALF), "sqrt_half")))
    return b.op("Mul", half_x, b.op("Add", t, b.const(np.float32(1.0), "one")))


@export_rule(nn.Softplus)
def softplus(b, layer, x):
    """``x`` where ``beta x > threshold``, else ``Softplus(beta x) / beta`` (ONNX's has neither setting)."""
    z = x if layer.beta == 1 else b.op("Mul", x, b.const(np.float32(layer.beta), "beta"))
    smooth_part = b.op("Softplus", z)
    if layer.beta != 1:
        smooth_part = b.op("Div", smooth_part, b.const(np.float32(layer.beta), "beta"))
    linear = b.op("Greater", z, b.const(np.float32(layer.threshold), "threshold"), dtype="bool")
    return b.op("Where", linear, x, smooth_part)


@export_rule(nn.ELU)
def elu(b, layer, x):
    return b.op("Elu", x, alpha=float(layer.alpha))


@export_rule(nn.SELU)
def selu(b, layer, x):
    return b.op("Selu", x, alpha=smooth.SELU_ALPHA, gamma=smooth.SELU_SCALE)


@export_rule(nn.CELU)
def celu(b, layer, x):
    return b.op("Celu", x, alpha=float(layer.alpha))


@export_rule(nn.Softmax)
def softmax(b, layer, x):
    return b.op("Softmax", x, axis=int(layer.dim))


@export_rule(nn.LogSoftmax)
def log_softmax(b, layer, x):
    return b.op("LogSoftmax", x, axis=int(layer.dim))


# ------------------------------------------------------------------------------------- identity in evaluation
def _identity(b, layer, x):
    """No node: the value passes through (dropout and stochastic depth in evaluation, ``Identity``)."""
    return x


export_rule(nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
            nn.StochasticDepth)(_identity)


# ------------------------------------------------------------------------------------- shapes and dense layers
@export_rule(nn.Flatten)
def flatten(b, layer, x):
    rank = len(x.shape)
    start = layer.start_dim % rank
    if start == 1:
        return b.op("Flatten", x, axis=1)
    if start == 0:
        return b.op("Reshape", x, b.ints([-1], "shape"))
    return b.op("Reshape", x, b.ints([0] * start + [-1], "shape"))     # 0: the axis kept as it is


@export_rule(nn.Unflatten)
def unflatten(b, layer, x):
    out = layer.output_shape(x.shape)
    if layer.dim % len(x.shape) == 0:
        _refuse(layer, "on the batch axis has no ONNX form with a free batch size (export with dim >= 1)")
    return b.reshape_batch(x, out)


@export_rule(nn.Linear)
def linear(b, layer, x):
    weight = b.param(layer, "weight")
    if len(x.shape) == 2:
        bias = None if layer.bias is None else b.param(layer, "bias")
        return b.op("Gemm", x, weight, bias, transB=1)
    out = b.op("MatMul", x, b.op("Transpose", weight, perm=[1, 0]))
    return out if layer.bias is None else b.op("Add", out, b.param(layer, "bias"))


@export_rule(nn.PixelShuffle)
def pixel_shuffle(b, layer, x):
    return b.op("DepthToSpace", x, blocksize=layer.upscale_factor, mode="CRD")


@export_rule(nn.PixelUnshuffle)
def pixel_unshuffle(b, layer, x):
    """``(N, C, H r, W r) -> (N, C, H, r, W, r) -> (N, C, r, r, H, W) -> (N, C r^2, H, W)`` (ONNX's
    ``SpaceToDepth`` orders the channels the other way)."""
    n, c, hr, wr = x.shape
    r = layer.downscale_factor
    blocks = b.reshape_batch(x, (n, c, hr // r, r, wr // r, r))
    moved = b.op("Transpose", blocks, perm=[0, 1, 3, 5, 2, 4])
    return b.reshape_batch(moved, (n, c * r * r, hr // r, wr // r))


@export_rule(nn.Embedding)
def embedding(b, layer, x):
    indices = x if x.dtype == "int64" else b.op("Cast", x, to=7, dtype="int64")   # 7: INT64
    return b.op("Gather", b.param(layer, "weight"), indices, axis=0)


# ------------------------------------------------------------------------------------- resampling
@export_rule(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def upsample(b, layer, x):
    """``Resize`` with PyTorch's coordinate rules: ``nearest`` is ``asymmetric`` + ``floor``,
    ``nearest-exact`` is ``half_pixel`` + ``round_prefer_ceil``, the linear modes ``half_pixel``
    (``align_corners`` with ``align_corners=True``); ``area`` is adaptive average pooling. A scale
    factor kept as given (PyTorch's default) goes in ``scales``, so the source step is ``1 / scale``;
    a size (or a recomputed factor) goes in ``sizes``, the step being ``S / O``."""
    out_sizes, scales = resample_geometry(x.shape, layer.size, layer.scale_factor, layer.mode, layer.align_corners,
                                          layer.recompute_scale_factor, layer._describe())
    if layer.mode == "area":
        return _area(b, x, out_sizes)
    if layer.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif layer.mode == "nearest-exact":
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    else:
        assert layer.mode in LINEAR_MODES
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners" if layer.align_corners
                     else "half_pixel")
    sizes_in = x.shape[2:]
    given = all(s is not None for s in scales)
    if given and all(math.floor(np.float32(n) * np.float32(s)) == o for n, s, o in zip(sizes_in, scales, out_sizes)):
        scale_values = b.const(np.array([1.0, 1.0] + [float(s) for s in scales], np.float32), "scales")
        return b.op("Resize", x, None, scale_values, **attrs)
    if b.opset >= 18:                                                   # sizes of the spatial axes alone
        return b.op("Resize", x, None, None, b.ints(out_sizes, "sizes"), axes=list(range(2, len(x.shape))), **attrs)
    lead = b.slice(b.op("Shape", x, dtype="int64"), [0], [2], [0])      # (N, C), N free
    sizes = b.op("Concat", lead, b.ints(out_sizes, "sizes"), axis=0, dtype="int64")
    return b.op("Resize", x, None, None, sizes, **attrs)


def _area(b, x, out_sizes):
    layer = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[len(out_sizes)](out_sizes)
    return _adaptive(b, layer, x, "AveragePool", "ReduceMean", "GlobalAveragePool")


# ------------------------------------------------------------------------------------- padding layers
@export_rule(nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d,
             nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d, nn.ReplicationPad1d, nn.ReplicationPad2d,
             nn.ReplicationPad3d, nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d)
def padding(b, layer, x):
    layer.output_shape(x.shape)                                         # the layer's own limits, by name
    return b.pad(x, layer.pairs, layer.mode, getattr(layer, "value", 0.0))

