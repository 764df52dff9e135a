"""Batch normalisation over ``(N, C)`` and ``(N, C, *spatial)``, with running statistics."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, shape_str
from ..tensor import Tensor, as_tensor
from .module import Cost, Module, Parameter
from .registry import register_layer


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, owner: str = "batch_norm") -> Tensor:
    """Normalise each channel (axis 1) by its batch statistics (training) or running ones (eval).

    In training the running statistics (NumPy arrays) are updated in place:
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the unbiased variance,
    as PyTorch does; normalisation itself uses the biased variance.

    Shape: ``(N, C)`` or ``(N, C, *S)``, unchanged; statistics over every axis but 1.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"{owner}: expected input (N, C, *), got {shape_str(x.shape)}")
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)                               # broadcast per channel
    count = x.data.size // c
    if running_mean is not None and np.shape(running_mean) != (c,):
        raise ShapeError(f"{owner}: expected input (N, {np.shape(running_mean)[0]}, *), got {shape_str(x.shape)}")
    if training:
        if count < 2:
            raise ValueError(f"{owner}: expected more than 1 value per channel in training, got input "
                             f"{shape_str(x.shape)}")
        mean = x.data.mean(axis=axes)                                   # (C,)
        centred = x.data - mean.reshape(bshape)                         # (N, C, *S)
        var = np.mean(centred * centred, axis=axes)                     # (C,), biased
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.astype(running_mean.dtype)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * (var * count / (count - 1)).astype(running_var.dtype)
    else:
        mean = np.asarray(running_mean, dtype=x.dtype)
        var = np.asarray(running_var, dtype=x.dtype)
        centred = x.data - mean.reshape(bshape)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)                # (C,)
    xhat = centred * inv_std.reshape(bshape)                            # (N, C, *S)
    w = None if weight is None else as_tensor(weight)
    b = None if bias is None else as_tensor(bias)
    out = xhat * w.data.reshape(bshape) if w is not None else xhat.copy()
    if b is not None:
        out += b.data.reshape(bshape)

    def backward(g):
        gxhat = g * w.data.reshape(bshape) if w is not None else g      # (N, C, *S)
        gx = gw = gb = None
        if x.requires_grad:
            if training:
                mean_g = gxhat.mean(axis=axes).reshape(bshape)          # (1, C, 1..)
                mean_gx = (gxhat * xhat).mean(axis=axes).reshape(bshape)
                gx = inv_std.reshape(bshape) * (gxhat - mean_g - xhat * mean_gx)
            else:
                gx = gxhat * inv_std.reshape(bshape)
        if w is not None and w.requires_grad:
            gw = (g * xhat).sum(axis=axes)                              # (C,)
        if b is not None and b.requires_grad:
            gb = g.sum(axis=axes)                                       # (C,)
        return gx, gw, gb

    parents = [x] + [p for p in (w, b) if p is not None]

    def routed(g):
        gx, gw, gb = backward(g)
        return (gx,) + ((gw,) if w is not None else ()) + ((gb,) if b is not None else ())
    return Tensor.from_op(out, parents, routed, "batch_norm")


class _BatchNorm(Module):
    """Shared body of ``BatchNorm1d/2d/3d``; ``ranks`` are the input ranks each accepts."""

    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
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
            raise ShapeError(f"{self._describe()}: expected input {self.layout.format(self.num_features)}, "
                             f"got {shape_str(shape)}")

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self._buffers["num_batches_tracked"] = self._buffers["num_batches_tracked"] + 1
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                          self.momentum, self.eps, self._describe())

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return tuple(in_shape)

    def cost(self, in_shape):
        return Cost(2 * self.num_features if self.affine else 0, 0)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


@register_layer(example=lambda: (BatchNorm1d(3), (4, 3, 5)))
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)``. Shape: unchanged."""
    ranks = (2, 3)
    layout = "(N, {0}) or (N, {0}, L)"


@register_layer(example=lambda: (BatchNorm2d(3), (2, 3, 4, 4)))
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)``, one mean and variance per channel. Shape: unchanged."""
    ranks = (4,)
    layout = "(N, {0}, H, W)"


@register_layer(example=lambda: (BatchNorm3d(2), (2, 2, 3, 3, 3)))
class BatchNorm3d(_BatchNorm):
    """Batch normalisation of ``(N, C, D, H, W)``. Shape: unchanged."""
    ranks = (5,)
    layout = "(N, {0}, D, H, W)"
