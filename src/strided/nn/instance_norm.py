"""Instance normalisation (Ulyanov, Vedaldi and Lempitsky, 2016): statistics per example and channel.

Each ``(n, c)`` map is normalised over its spatial positions (``grouped_norm`` of
``layer_norm.py`` with one channel per group). With ``track_running_stats`` the running mean and
(unbiased) variance follow the batch average of the per-instance statistics in training, as in
PyTorch, and evaluation uses them instead: then the layer is an element-wise affine map.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import namespace
from ..checks import as_int, as_number
from ..errors import ShapeError, expected_input, shape_str
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .helpers import SPATIAL_NAMES
from .layer_norm import affine_op, field_across, grouped_norm, optional_param
from .module import Cost, Module, Parameter
from .norm import _shape
from .registry import register_layer


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5, owner: str = "instance_norm") -> Tensor:
    """Normalise each channel of each example over its spatial positions, then ``* weight + bias``.

    As ``torch.nn.functional.instance_norm``: with ``use_input_stats`` the statistics are the
    input's own (biased variance), and the running statistics (NumPy arrays, when given) are
    updated in place, ``running = (1 - momentum) * running + momentum * mean_n(stat_nc)``, with
    the unbiased variance. Without it, ``running_mean`` and ``running_var`` normalise instead.

    Args:
        x: the input ``(N, C, *S)``.
        running_mean: ``(C,)`` NumPy array or ``None``.
        running_var: ``(C,)`` NumPy array or ``None``.
        weight: the per-channel scale ``(C,)`` or ``None``.
        bias: the per-channel shift ``(C,)`` or ``None``.
        use_input_stats: normalise by each example's own statistics (else by the running ones).
        momentum: the weight of each batch in the running averages.
        eps: added to the variance before the square root.
        owner: the name error messages give.

    Shape: ``(N, C, *S)``, unchanged (``prod(S) > 1`` with ``use_input_stats``); the other
    arguments ``(C,)``. An empty batch leaves the running statistics unchanged.

    Example:
        >>> instance_norm(np.array([[[1.0, 3.0]]])).numpy().round(3).tolist()
        [[[-1.0, 1.0]]]
    """
    x, weight, bias = Tensor.match_dtypes(owner, x, weight, bias)      # one dtype, or a TypeError naming both
    x = as_tensor(x)
    if x.ndim < 2:
        raise expected_input(owner, "(N, C, *S)", x.shape)
    n, c = x.shape[:2]
    w = optional_param(weight, (c,), "weight", owner)
    b = optional_param(bias, (c,), "bias", owner)
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None and _shape(stat) != (c,):
            raise ShapeError(f"{owner}: expected {name} of shape ({c},) for input {shape_str(x.shape)}, "
                             f"got {shape_str(_shape(stat))}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{owner}: running_mean and running_var are needed when use_input_stats is False")
        return _with_running_stats(x, running_mean, running_var, w, b, eps)
    positions = math.prod(x.shape[2:])
    if positions < 2:
        raise ValueError(f"{owner}: expected more than 1 spatial element per channel when using input "
                         f"statistics, got input {shape_str(x.shape)}")
    out, (mean, var) = grouped_norm(x, c, w, b, eps, "instance_norm")    # stats (N*C,) each
    if n == 0:                                                          # no instance: nothing to average (PyTorch
        return out                                                      # fails there); running stats unchanged
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean.reshape(n, c).mean(axis=0).astype(running_mean.dtype)
    if running_var is not None:
        unbiased = var.reshape(n, c) * (positions / (positions - 1))    # (N, C)
        running_var *= 1 - momentum
        running_var += momentum * unbiased.mean(axis=0).astype(running_var.dtype)
    return out


def _with_running_stats(x: Tensor, running_mean, running_var, w, b, eps: float) -> Tensor:
    """``(x - running_mean) / sqrt(running_var + eps) * w + b`` per channel: an element-wise map."""
    xp = namespace(x.data)
    dtype = x.dtype
    per_channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)                # broadcasts over (N, C, *S)
    mean = xp.asarray(running_mean, dtype=dtype).reshape(per_channel)
    inv_std = (1.0 / xp.sqrt(xp.asarray(running_var, dtype=dtype) + eps)).astype(dtype).reshape(per_channel)
    scale = inv_std if w is None else inv_std * w.data.astype(dtype, copy=False).reshape(per_channel)
    shift = -mean * scale if b is None else b.data.astype(dtype, copy=False).reshape(per_channel) - mean * scale
    out = x.data * scale + shift                                        # (N, C, *S)
    axes = (0,) + tuple(range(2, x.ndim))

    def backward(g):
        gx = g * scale if x.requires_grad else None                     # (N, C, *S)
        gw = None
        if w is not None and w.requires_grad:
            gw = (g * ((x.data - mean) * inv_std)).sum(axis=axes)       # (C,)
        gb = g.sum(axis=axes) if b is not None and b.requires_grad else None   # (C,)
        return gx, gw, gb
    return affine_op(out, x, w, b, backward, "instance_norm")


class _InstanceNorm(Module):
    """Shared body of ``InstanceNorm1d/2d/3d``; ``ndim`` is the number of spatial axes."""

    ndim = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False):
        super().__init__()
        owner = type(self).__name__
        self.num_features = as_int(num_features, "num_features", owner)
        self.eps = as_number(eps, "eps", owner)
        self.momentum = None if momentum is None else as_number(momentum, "momentum", owner)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = Parameter(np.ones(self.num_features, dtype=np.float32)) if self.affine else None
        self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32)) if self.affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
            # kept for PyTorch's state-dict keys; like PyTorch's InstanceNorm, never incremented
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = None

    def _check(self, shape):
        """``(N, C, *S)`` or unbatched ``(C, *S)`` with ``C == num_features``; returns whether batched."""
        d, c = self.ndim, self.num_features
        if len(shape) not in (d + 1, d + 2) or shape[len(shape) - d - 1] != c:
            raise expected_input(self._describe(), f"(N, {c}, {SPATIAL_NAMES[d]}) or ({c}, {SPATIAL_NAMES[d]})",
                                 shape)
        return len(shape) == d + 2

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        batched = self._check(x.shape)
        xb = x if batched else x.reshape((1,) + x.shape)                 # (N, C, *S)
        out = instance_norm(xb, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps, self._describe())
        return out if batched else out.reshape(x.shape)

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return tuple(in_shape)

    def cost(self, in_shape):
        return Cost(2 * self.num_features if self.affine else 0, 0)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        """The field of the inference computation, as for batch norm: with running statistics an
        element-wise map (unchanged); with the input's own statistics every output sees every
        spatial position of its map (``field_across``)."""
        if self.track_running_stats:
            return rf
        return field_across(rf, in_shape, set(range(len(rf.size))))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


@register_layer(example=lambda: (InstanceNorm1d(3, affine=True), (4, 3, 5)))
class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of ``(N, C, L)`` (or unbatched ``(C, L)``), PyTorch's ``nn.InstanceNorm1d``:
    each ``(n, c)`` row normalised over ``L``; ``affine`` adds a per-channel weight and bias.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance before the square root.
        momentum: the running averages' update weight (``None``: 0, they stay as they are).
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros); off by default.
        track_running_stats: keep running averages and normalise by them in evaluation; off by default.

    Shape: unchanged.

    Example:
        >>> InstanceNorm1d(3)(np.arange(12.0).reshape(1, 3, 4)).shape
        (1, 3, 4)
    """
    ndim = 1


@register_layer(example=lambda: (InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4)))
class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of ``(N, C, H, W)`` (or ``(C, H, W)``), PyTorch's ``nn.InstanceNorm2d``:
    each ``(n, c)`` map normalised over its ``H * W`` positions (style transfer's normalisation).

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance before the square root (default ``1e-5``).
        momentum: the weight of each batch in the running averages (``None``: not updated).
        affine: learn a per-channel ``weight`` and ``bias`` (default off, as PyTorch).
        track_running_stats: keep running averages and use them in evaluation (default off).

    Shape: unchanged.

    Example:
        >>> InstanceNorm2d(1)(np.array([[[[1.0, 3.0], [1.0, 3.0]]]])).numpy().round(3).tolist()
        [[[[-1.0, 1.0], [-1.0, 1.0]]]]
    """
    ndim = 2


@register_layer(example=lambda: (InstanceNorm3d(2), (2, 2, 3, 3, 3)))
class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of ``(N, C, D, H, W)`` (or ``(C, D, H, W)``), PyTorch's ``nn.InstanceNorm3d``.

    Args:
        num_features: channels ``C``.
        eps: the variance's stabiliser.
        momentum: the running averages' update weight.
        affine: a learned per-channel scale and shift.
        track_running_stats: running averages for evaluation.

    Shape: unchanged.

    Example:
        >>> InstanceNorm3d(3)(np.zeros((1, 3, 2, 2, 2))).shape
        (1, 3, 2, 2, 2)
    """
    ndim = 3


__all__ = ["instance_norm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
