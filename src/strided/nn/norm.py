"""Batch normalisation over ``(N, C)`` and ``(N, C, *spatial)``, with running statistics."""

from __future__ import annotations

import numpy as np

from .. import fast
from ..backend import namespace
from ..checks import as_int
from ..errors import expected_input, shape_str
from ..tensor import Tensor, as_tensor
from ..windows import from_channel_major, to_channel_major
from .activation import ReLU
from .helpers import check_param_shape, expected_batched_input
from .module import Cost, Module, Parameter
from .registry import register_layer


ROW_BLOCK_BYTES = 1 << 18
"""Bytes of the per-channel ``(C, M)`` matrix handled at once: a block's temporaries stay in cache."""

KERNEL_SUM_ZERO = np.float64(0)
"""Where the compiled kernels' per-channel sums start, and so their dtype: float64 for float32 input
too (closer to PyTorch for a few percent of time, see ``fast/norm.py``)."""


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, owner: str = "batch_norm", relu: bool = False) -> Tensor:
    """Normalise each channel (axis 1) by its batch statistics (training) or running ones (eval).

    In training the running statistics (NumPy arrays) are updated in place:
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the unbiased variance,
    as PyTorch does; normalisation itself uses the biased variance.

    Shape: ``(N, C)`` or ``(N, C, *S)``, unchanged; statistics over every axis but 1. As in
    PyTorch, training refuses exactly one value per channel, and an empty batch (``N = 0``, or an
    empty spatial axis) gives an empty output and leaves the running statistics as they are.

    The work is done on the ``(C, M)`` matrix of a batch-last input's ``(C, *S, N)`` buffer (see
    ``windows``; any other input is laid out so once): one row per channel, so every statistic
    is a row reduction. Rows go in cache-sized blocks, and each block is read once and written
    once per pass: forward ``mean``, ``x - mean``, its variance and ``(x - mean) * a + b``;
    backward both sums and ``g * k1 + (x - mean) * k2 + k3``. Only the input is kept for the
    backward (no normalised copy). On the compiled path (``fast``, NumPy float arrays) the same
    steps run row by row in the kernels of ``fast/norm.py``.

    ``relu=True`` returns ``relu(batch_norm(x))`` as one op: the maximum is taken on each block
    while it is in the cache, and the backward masks the incoming gradient block by block, which
    saves a read and a write of the whole activation each way (a ``BatchNorm`` layer offers it to
    ``run_chain`` for a ``ReLU`` that follows it, see ``fuse_with``).

    Args:
        x: the input ``(N, C)`` or ``(N, C, *S)``.
        running_mean: ``(C,)`` NumPy array (updated in place in training), or ``None``.
        running_var: ``(C,)`` NumPy array (updated in place in training), or ``None``.
        weight: the per-channel scale ``(C,)``, or ``None`` (1).
        bias: the per-channel shift ``(C,)``, or ``None`` (0).
        training: normalise by the batch's statistics (and update the running ones); ``False``:
            by the running statistics.
        momentum: the weight of the batch statistic in the running average.
        eps: added to the variance before the square root.
        owner: the name error messages give.
        relu: apply a ReLU to the result, in the same pass.

    Example:
        >>> batch_norm(np.array([[2.0], [4.0]]), np.array([1.0]), np.array([4.0]), eps=0.0).numpy().tolist()
        [[0.5], [1.5]]
    """
    x, weight, bias = Tensor.match_dtypes(owner, x, weight, bias)      # one dtype, or a TypeError naming both
    x = as_tensor(x)
    if x.ndim < 2:
        raise expected_input(owner, "(N, C, *)", x.shape)
    c = x.shape[1]
    count = x.data.size // max(c, 1)
    if running_mean is not None and _shape(running_mean) != (c,):
        raise expected_input(owner, f"(N, {_shape(running_mean)[0]}, *)", x.shape)
    for name, value in (("running_var", running_var), ("weight", weight), ("bias", bias)):
        check_param_shape(value, (c,), name, owner)
    if training and count == 1:
        raise ValueError(f"{owner}: expected more than 1 value per channel in training, got input "
                         f"{shape_str(x.shape)}")
    divisor = max(count, 1)                                         # an empty batch: sums of nothing, no 0/0
    dtype = x.dtype
    w = None if weight is None else as_tensor(weight)
    b = None if bias is None else as_tensor(bias)
    xp = namespace(x.data)
    xm = channel_rows(x.data)                                       # (C, M)
    out_m = xp.empty_like(xm)
    wv = xp.ones(c, dtype=dtype) if w is None else w.data.astype(dtype, copy=False)
    bv = xp.zeros(c, dtype=dtype) if b is None else b.data.astype(dtype, copy=False)
    compiled = fast.applies(xm, wv, bv)                                # the kernels of fast/norm.py
    if training:
        mean = xp.empty(c, dtype=dtype)
        var = xp.empty(c, dtype=dtype)
        inv_std = xp.empty(c, dtype=dtype)
        if compiled:
            fast.kernels("norm").batch_norm_train_forward(xm, wv, bv, eps, divisor, relu, dtype.type(0),
                                                          KERNEL_SUM_ZERO, out_m, mean, var, inv_std)
        else:
            for r in row_blocks(xm):
                xr = xm[r]
                mean[r] = xr.sum(axis=1) / divisor
                d = xr - mean[r, None]                                      # cache-resident temporary
                var[r] = xp.einsum("ij,ij->i", d, d) / divisor              # biased
                inv_std[r] = 1.0 / xp.sqrt(var[r] + eps)
                d *= (wv[r] * inv_std[r])[:, None]
                xp.add(d, bv[r, None], out=out_m[r])
                if relu:
                    xp.maximum(out_m[r], 0, out=out_m[r])
        if running_mean is not None and count:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.astype(running_mean.dtype)
        if running_var is not None and count:
            running_var *= 1 - momentum
            running_var += momentum * (var * count / (count - 1)).astype(running_var.dtype)
    else:
        mean = xp.asarray(running_mean, dtype=dtype)
        inv_std = (1.0 / xp.sqrt(xp.asarray(running_var, dtype=dtype) + eps)).astype(dtype)
        scale = wv * inv_std
        shift = bv - mean * scale
        if compiled:
            fast.kernels("norm").batch_norm_eval_forward(xm, scale, shift, relu, dtype.type(0), out_m)
        else:
            xp.multiply(xm, scale[:, None], out=out_m)
            out_m += shift[:, None]
            if relu:
                xp.maximum(out_m, 0, out=out_m)
    out = from_channel_rows(out_m, x.shape)
    relu_out = out_m if relu else None                              # the ReLU's mask source, kept only then

    def backward(g):
        gm = channel_rows(g)                                        # (C, M)
        need_x = x.requires_grad
        need_w = w is not None and w.requires_grad
        gx_m = xp.empty_like(gm) if need_x else None
        sg = xp.zeros(c, dtype=dtype)                               # sum of g per channel
        sgd = xp.zeros(c, dtype=dtype)                              # sum of g * (x - mean) per channel
        compiled = fast.applies(gm, xm, mean, inv_std, wv) and gm.dtype == dtype
        if compiled:
            fast.kernels("norm").batch_norm_backward(
                xm, gm, relu_out if relu else xm, mean, inv_std, wv, divisor, training, relu, need_x,
                training or need_w, dtype.type(0), KERNEL_SUM_ZERO, xm if gx_m is None else gx_m, sg, sgd)
        else:
            for r in row_blocks(gm):
                gr = gm[r] * ~(relu_out[r] <= 0) if relu else gm[r]          # (rows, M); a NaN output passes g
                sg[r] = gr.sum(axis=1)
                if training or need_w:
                    d = xm[r] - mean[r, None]                               # cache-resident temporary
                    sgd[r] = xp.einsum("ij,ij->i", gr, d)
                if need_x:
                    k1 = wv[r] * inv_std[r]
                    if training:
                        # gx = inv_std * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)), gxhat = g * w
                        k2 = -k1 * inv_std[r] * inv_std[r] * sgd[r] / divisor
                        k3 = -k1 * sg[r] / divisor
                        d *= k2[:, None]
                        xp.multiply(gr, k1[:, None], out=gx_m[r])
                        gx_m[r] += d
                        gx_m[r] += k3[:, None]
                    else:
                        xp.multiply(gr, k1[:, None], out=gx_m[r])
        gx = None if gx_m is None else from_channel_rows(gx_m, x.shape)
        gw = sgd * inv_std if need_w else None                      # sum(g * xhat)
        gb = sg if b is not None and b.requires_grad else None
        return gx, gw, gb

    parents = [x] + [p for p in (w, b) if p is not None]

    def routed(g):
        gx, gw, gb = backward(g)
        return (gx,) + ((gw,) if w is not None else ()) + ((gb,) if b is not None else ())
    return Tensor.from_op(out, parents, routed, "batch_norm_relu" if relu else "batch_norm")


def _shape(a) -> tuple:
    """``a``'s shape without a NumPy call on a device array (lists and scalars through ``np.shape``)."""
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def channel_rows(a: np.ndarray) -> np.ndarray:
    """``(N, C, *S)`` as the C-contiguous ``(C, prod(S) * N)`` of its batch-last buffer (a view when
    ``a`` is batch-last, else one copy into that layout)."""
    return to_channel_major(a)[0]


def from_channel_rows(m: np.ndarray, shape) -> np.ndarray:
    """Inverse of ``channel_rows`` as a view: ``(C, M)`` -> ``(N, C, *S)``, batch-last."""
    return from_channel_major(m[None], shape[0], tuple(shape[2:]))


def row_blocks(m: np.ndarray):
    """Slices of ``m``'s rows, each block about ``ROW_BLOCK_BYTES`` (at least one row)."""
    rows = max(1, ROW_BLOCK_BYTES // max(1, m.shape[1] * m.itemsize))
    return [slice(i, min(i + rows, m.shape[0])) for i in range(0, m.shape[0], rows)]


class _BatchNorm(Module):
    """Shared body of ``BatchNorm1d/2d/3d``; ``ranks`` are the input ranks each accepts."""

    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        num_features = as_int(num_features, "num_features", type(self).__name__)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = None

    def _check(self, shape):
        if len(shape) not in self.ranks or shape[1] != self.num_features:
            rank = len(shape) + 1 if len(shape) + 1 in self.ranks else 0    # an axis short: hint at x[None]
            raise expected_batched_input(self._describe(), self.layout.format(self.num_features), shape, rank)

    def forward(self, x) -> Tensor:
        return self._normalize(x, relu=False)

    def fuse_with(self, after):
        """Followed by a plain ``ReLU``: both as one op, ``batch_norm(..., relu=True)`` (same values
        and gradients; the maximum is taken while each block of rows is in the cache)."""
        if type(after) is ReLU:
            return lambda x: self._normalize(x, relu=True)
        return None

    def _normalize(self, x, relu: bool) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self._buffers["num_batches_tracked"] = self._buffers["num_batches_tracked"] + 1
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                          self.momentum, self.eps, self._describe(), relu=relu)

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return tuple(in_shape)

    def cost(self, in_shape):
        return Cost(2 * self.num_features if self.affine else 0, 0)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


@register_layer(example=lambda: (BatchNorm1d(3), (4, 3, 5)))
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)``; see ``BatchNorm2d``.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance before the square root.
        momentum: the weight of each batch in the running averages.
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros).
        track_running_stats: keep running averages for evaluation.

    Shape: ``(N, C)`` or ``(N, C, L)``, unchanged.

    Example:
        >>> bn = BatchNorm1d(2)
        >>> bn(np.array([[1.0, 2.0], [3.0, 6.0]])).numpy().round(3).tolist()   # each feature to mean 0, std 1
        [[-1.0, -1.0], [1.0, 1.0]]
    """
    ranks = (2, 3)
    layout = "(N, {0}) or (N, {0}, L)"


@register_layer(example=lambda: (BatchNorm2d(3), (2, 3, 4, 4)))
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)``, one mean and variance per channel.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``. In training (``model.train()``) the mean
    and biased variance are the batch's, over ``N, H, W``, and the running averages are updated,
    ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance there); in
    evaluation (``model.eval()``) the running averages normalise. Buffers ``running_mean``
    (zeros), ``running_var`` (ones) and ``num_batches_tracked`` are saved in the ``state_dict``.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance before the square root (default ``1e-5``).
        momentum: the weight of each batch in the running averages (default 0.1, PyTorch's).
        affine: learn a per-channel ``weight`` (initialised to ones) and ``bias`` (zeros).
        track_running_stats: keep running averages; ``False``: batch statistics in evaluation too.

    Shape: ``(N, C, H, W)``, unchanged.

    Example:
        >>> BatchNorm2d(16)(np.random.default_rng(0).normal(size=(8, 16, 5, 5))).shape
        (8, 16, 5, 5)
    """
    ranks = (4,)
    layout = "(N, {0}, H, W)"


@register_layer(example=lambda: (BatchNorm3d(2), (2, 2, 3, 3, 3)))
class BatchNorm3d(_BatchNorm):
    """Batch normalisation of ``(N, C, D, H, W)``; see ``BatchNorm2d``.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance before the square root.
        momentum: the weight of each batch in the running averages.
        affine: learn a per-channel ``weight`` and ``bias``.
        track_running_stats: keep running averages for evaluation.

    Shape: ``(N, C, D, H, W)``, unchanged.

    Example:
        >>> BatchNorm3d(2)(np.zeros((1, 2, 2, 2, 2))).shape
        (1, 2, 2, 2, 2)
    """
    ranks = (5,)
    layout = "(N, {0}, D, H, W)"
