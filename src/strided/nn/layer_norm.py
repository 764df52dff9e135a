"""Layer and group normalisation: statistics per example, over trailing axes or channel groups.

Both normalise rows of a matrix to zero mean and unit (biased) variance, then apply an
element-wise affine map; only the rows differ:

* ``layer_norm``: one row per position of the leading axes, the last ``len(normalized_shape)``
  axes flattened into it (Ba, Kiros and Hinton, 2016); weight and bias have ``normalized_shape``.
* ``group_norm``: one row per example and group of ``C / G`` consecutive channels, all their
  spatial positions included (Wu and He, 2018); weight and bias have one value per channel.

The row normalisation and its backward (``normalize_rows``, ``normalize_rows_backward``) are
shared with instance normalisation (``instance_norm.py``, groups of one channel). No running
statistics: training and evaluation compute the same thing.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..backend import namespace
from ..checks import as_int, as_number, is_int
from ..errors import ShapeError, expected_input, shape_str
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from .helpers import BATCH_HINT
from .module import Cost, Module, Parameter
from .norm_batch_last import grouped_norm_batch_last, takes_batch_last
from .registry import register_layer


# --------------------------------------------------------------------------------------------- shared core


def normalize_rows(xm: np.ndarray, eps: float):
    """Each row of ``xm`` to zero mean and unit biased variance.

    Shape: ``(M, K) -> xhat (M, K), mean (M,), var (M,), inv_std (M, 1)``.
    """
    xp = namespace(xm)
    k = xm.shape[1]
    mean = xm.sum(axis=1, keepdims=True) / k                            # (M, 1)
    xhat = xm - mean                                                    # (M, K), centred
    var = xp.einsum("ij,ij->i", xhat, xhat) / k                         # (M,), biased
    inv_std = (1.0 / xp.sqrt(var + eps))[:, None].astype(xm.dtype, copy=False)   # (M, 1)
    xhat *= inv_std                                                     # (M, K), normalised
    return xhat, mean[:, 0], var, inv_std


def normalize_rows_backward(gxhat: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """Input gradient of ``normalize_rows`` given the gradient of its ``xhat``.

    ``gx = inv_std * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))``, means along each row.
    Shape: ``(M, K), (M, K), (M, 1) -> (M, K)``.
    """
    xp = namespace(gxhat)
    k = gxhat.shape[1]
    m1 = gxhat.sum(axis=1, keepdims=True) / k                           # (M, 1)
    m2 = xp.einsum("ij,ij->i", gxhat, xhat)[:, None] / k                # (M, 1)
    gx = gxhat - m1                                                     # (M, K)
    gx -= xhat * m2
    gx *= inv_std
    return gx


def optional_param(value, shape, name: str, owner: str):
    """``None``, or ``value`` as a tensor of exactly ``shape`` (else a ``ShapeError`` naming ``owner``)."""
    if value is None:
        return None
    value = as_tensor(value)
    if value.shape != tuple(shape):
        raise ShapeError(f"{owner}: expected {name} {shape_str(shape)}, got {shape_str(value.shape)}")
    return value


def affine_op(out: np.ndarray, x: Tensor, w, b, backward, name: str) -> Tensor:
    """``Tensor.from_op`` for a normalisation with optional weight and bias: ``backward(g)``
    returns ``(gx, gw, gb)``, handed to the parents that exist."""
    parents = [x] + [p for p in (w, b) if p is not None]

    def routed(g):
        gx, gw, gb = backward(g)
        return (gx,) + ((gw,) if w is not None else ()) + ((gb,) if b is not None else ())
    return Tensor.from_op(out, parents, routed, name)


def field_across(rf: ReceptiveField, in_shape, mixed) -> ReceptiveField:
    """The receptive field of a layer whose outputs see the whole extent of the spatial axes in
    ``mixed`` (indices into the spatial axes) and only their own position on the others.

    The outputs stay aligned with the inputs (same size, same jump), so such an axis of size
    ``S`` is declared as a ``'same'``-padded window of ``2S - 1`` centred on each output: it covers
    the whole axis from every output position (``through_global`` would instead declare a single
    output, as global pooling has). The spatial sizes are the last ``len(rf.size)`` axes.
    """
    d = len(rf.size)
    sizes = tuple(in_shape[len(in_shape) - d:]) if d else ()
    kernel = [2 * s - 1 if a in mixed else 1 for a, s in enumerate(sizes)]
    pad_lo = [s - 1 if a in mixed else 0 for a, s in enumerate(sizes)]
    return rf.through_window(kernel, (1,) * d, pad_lo, (1,) * d)


def grouped_norm(x: Tensor, groups: int, w, b, eps: float, name: str):
    """Normalise ``groups`` groups of consecutive channels per example, then ``* w + b`` per channel.

    ``x`` is ``(N, C, *S)`` with ``C`` divisible by ``groups``; ``w``, ``b`` are ``(C,)`` tensors or
    ``None``. Returns the output tensor and the per-row ``(mean, var)`` (biased), ``(N * groups,)``
    each, for callers that keep running statistics (instance norm).
    """
    if takes_batch_last(x.data):                                        # a convolution's output: no transposing copy
        return grouped_norm_batch_last(x, groups, w, b, eps, name, affine_op)
    xp = namespace(x.data)
    n, c = x.shape[:2]
    dtype = x.dtype
    p = math.prod(x.shape[2:])                                          # positions per channel (sizes, not -1: N may be 0)
    xm = x.data.reshape(n * groups, c // groups * p)                    # (N*G, C/G * P)
    xhat, mean, var, inv_std = normalize_rows(xm, eps)
    xc = xhat.reshape(n, c, p)                                          # (N, C, P)
    wv = None if w is None else w.data.astype(dtype, copy=False)[:, None]   # (C, 1)
    bv = None if b is None else b.data.astype(dtype, copy=False)[:, None]   # (C, 1)
    out = xc * wv if wv is not None else xc.copy()                      # (N, C, P)
    if bv is not None:
        out += bv

    def backward(g):
        gc = g.reshape(n, c, p)                                         # (N, C, P)
        gw = xp.einsum("ncp,ncp->c", gc, xc) if w is not None and w.requires_grad else None   # (C,)
        gb = gc.sum(axis=(0, 2)) if b is not None and b.requires_grad else None              # (C,)
        gx = None
        if x.requires_grad:
            gxhat = gc * wv if wv is not None else gc                   # (N, C, P)
            gx = normalize_rows_backward(gxhat.reshape(xm.shape), xhat, inv_std)   # (N*G, C/G * P)
            gx = gx.reshape(x.shape)
        return gx, gw, gb
    return affine_op(out.reshape(x.shape), x, w, b, backward, name), (mean, var)


# --------------------------------------------------------------------------------------------- layer norm


def as_normalized_shape(value, owner: str) -> tuple[int, ...]:
    """``normalized_shape``: an int or a non-empty sequence of positive ints, as a tuple."""
    if is_int(value):
        value = (value,)
    if (isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= 1
            and all(is_int(v) for v in value)):
        shape = tuple(int(v) for v in value)
        if min(shape) < 1:
            raise ValueError(f"{owner}: normalized_shape must hold positive sizes, got {value!r}")
        return shape
    raise TypeError(f"{owner}: normalized_shape must be an int or a non-empty tuple of ints, got {value!r}")


def _check_trailing(shape, normalized_shape, owner: str) -> None:
    k = len(normalized_shape)
    if len(shape) < k or tuple(shape[len(shape) - k:]) != normalized_shape:
        raise expected_input(owner, "(*, " + ", ".join(map(str, normalized_shape)) + ")", shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5, owner: str = "layer_norm") -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes, then ``* weight + bias`` element-wise.

    As ``torch.nn.functional.layer_norm``: biased variance, ``weight`` and ``bias`` of
    ``normalized_shape`` (either may be ``None``).

    Args:
        x: the input ``(*, *normalized_shape)``.
        normalized_shape: the trailing axes normalised together, an int or a tuple.
        weight: the element-wise scale of ``normalized_shape``, or ``None``.
        bias: the element-wise shift of ``normalized_shape``, or ``None``.
        eps: added to the variance before the square root.
        owner: the name error messages give.

    Shape: ``(*, *normalized_shape)``, unchanged.

    Example:
        >>> layer_norm(np.array([[1.0, 3.0], [2.0, 6.0]]), (2,)).numpy().round(3).tolist()
        [[-1.0, 1.0], [-1.0, 1.0]]
    """
    shape = as_normalized_shape(normalized_shape, owner)
    x, weight, bias = Tensor.match_dtypes(owner, x, weight, bias)      # one dtype, or a TypeError naming both
    x = as_tensor(x)
    _check_trailing(x.shape, shape, owner)
    w = optional_param(weight, shape, "weight", owner)
    b = optional_param(bias, shape, "bias", owner)
    xp = namespace(x.data)
    k = math.prod(shape)
    xhat, _, _, inv_std = normalize_rows(x.data.reshape(-1, k), eps)    # (M, K), (M, 1)
    wv = None if w is None else w.data.astype(x.dtype, copy=False).reshape(k)   # (K,)
    bv = None if b is None else b.data.astype(x.dtype, copy=False).reshape(k)   # (K,)
    out = xhat * wv if wv is not None else xhat.copy()                  # (M, K)
    if bv is not None:
        out += bv

    def backward(g):
        gm = g.reshape(-1, k)                                           # (M, K)
        gw = xp.einsum("ij,ij->j", gm, xhat).reshape(shape) if w is not None and w.requires_grad else None
        gb = gm.sum(axis=0).reshape(shape) if b is not None and b.requires_grad else None
        gx = None
        if x.requires_grad:
            gxhat = gm * wv if wv is not None else gm                   # (M, K)
            gx = normalize_rows_backward(gxhat, xhat, inv_std).reshape(x.shape)
        return gx, gw, gb
    return affine_op(out.reshape(x.shape), x, w, b, backward, "layer_norm")


@register_layer(example=lambda: (LayerNorm(5), (2, 3, 4, 5)))
class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` axes, PyTorch's ``nn.LayerNorm``.

    ``y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias``, the mean and biased variance taken
    over the last ``len(normalized_shape)`` axes of each position of the others. ``weight`` (ones)
    and ``bias`` (zeros) have ``normalized_shape`` (``elementwise_affine=False``: neither;
    ``bias=False``: weight only).

    Args:
        normalized_shape: the trailing axes normalised together: an int (the last axis) or a tuple
            (e.g. ``(C, H, W)`` for a whole example).
        eps: added to the variance before the square root (default ``1e-5``).
        elementwise_affine: learn ``weight`` (and ``bias``) of ``normalized_shape``.
        bias: with ``elementwise_affine``, learn the ``bias`` too.

    Shape: ``(*, *normalized_shape)``, unchanged.

    Example:
        >>> LayerNorm((4, 4))(np.ones((2, 3, 4, 4))).shape
        (2, 3, 4, 4)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        owner = type(self).__name__
        self.normalized_shape = as_normalized_shape(normalized_shape, owner)
        self.eps = as_number(eps, "eps", owner)
        self.elementwise_affine = bool(elementwise_affine)
        affine = self.elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=np.float32)) if affine and bias else None

    def forward(self, x) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps, self._describe())

    def output_shape(self, in_shape):
        _check_trailing(tuple(in_shape), self.normalized_shape, self._describe())
        return tuple(in_shape)

    def cost(self, in_shape):
        k = math.prod(self.normalized_shape)
        return Cost(k * ((self.weight is not None) + (self.bias is not None)), 0)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        """The whole extent of each normalised spatial axis (see ``field_across``); others unchanged."""
        d, first = len(rf.size), len(in_shape) - len(self.normalized_shape)
        spatial0 = len(in_shape) - d                                    # index of the first spatial axis
        return field_across(rf, in_shape, {a for a in range(d) if spatial0 + a >= first})

    def extra_repr(self) -> str:
        text = f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        return text + (", bias=False" if self.elementwise_affine and self.bias is None else "")


# --------------------------------------------------------------------------------------------- group norm


def group_norm(x, num_groups: int, weight=None, bias=None, eps: float = 1e-5, owner: str = "group_norm") -> Tensor:
    """Normalise each example's ``num_groups`` groups of consecutive channels (all their positions),
    then ``* weight + bias`` per channel, as ``torch.nn.functional.group_norm``.

    Args:
        x: the input ``(N, C, *S)``.
        num_groups: the number of channel groups; divides ``C``.
        weight: the per-channel scale ``(C,)``, or ``None``.
        bias: the per-channel shift ``(C,)``, or ``None``.
        eps: added to the variance before the square root.
        owner: the name error messages give.

    Shape: ``(N, C, *S)``, unchanged, ``C`` divisible by ``num_groups``; ``weight``, ``bias``: ``(C,)``.

    Example:
        >>> group_norm(np.zeros((2, 6, 3, 3)), 3).shape
        (2, 6, 3, 3)
    """
    num_groups = as_int(num_groups, "num_groups", owner)
    x, weight, bias = Tensor.match_dtypes(owner, x, weight, bias)      # one dtype, or a TypeError naming both
    x = as_tensor(x)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise expected_input(owner, f"(N, C, *) with C divisible by num_groups ({num_groups})", x.shape)
    w = optional_param(weight, x.shape[1:2], "weight", owner)
    b = optional_param(bias, x.shape[1:2], "bias", owner)
    return grouped_norm(x, num_groups, w, b, eps, "group_norm")[0]


@register_layer(example=lambda: (GroupNorm(2, 4), (2, 4, 3, 3)))
class GroupNorm(Module):
    """Group normalisation, PyTorch's ``nn.GroupNorm``: per example, the channels in ``num_groups``
    groups of ``num_channels / num_groups``, each group normalised over its channels and all
    spatial positions; then a per-channel ``weight`` (ones) and ``bias`` (zeros) if ``affine``.

    ``GroupNorm(1, C)`` normalises each example as a whole, ``GroupNorm(C, C)`` is instance
    normalisation with an affine map.

    Args:
        num_groups: the number of channel groups; divides ``num_channels``.
        num_channels: the number of channels ``C`` of the input.
        eps: added to the variance before the square root (default ``1e-5``).
        affine: learn a per-channel ``weight`` and ``bias``.

    Shape: ``(N, C, *S)``, unchanged.

    Example:
        >>> GroupNorm(2, 4)(np.ones((2, 4, 3, 3))).shape
        (2, 4, 3, 3)
    """


    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        owner = type(self).__name__
        self.num_groups = as_int(num_groups, "num_groups", owner)
        self.num_channels = as_int(num_channels, "num_channels", owner)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{owner}: num_channels ({self.num_channels}) must be divisible by num_groups "
                             f"({self.num_groups})")
        self.eps = as_number(eps, "eps", owner)
        self.affine = bool(affine)
        self.weight = Parameter(np.ones(self.num_channels, dtype=np.float32)) if self.affine else None
        self.bias = Parameter(np.zeros(self.num_channels, dtype=np.float32)) if self.affine else None

    def _check(self, shape):
        if len(shape) < 2 or shape[1] != self.num_channels:
            error = expected_input(self._describe(), f"(N, {self.num_channels}, *)", shape)
            if len(shape) and shape[0] == self.num_channels:             # (C, *S): one example, unbatched
                error = ShapeError(str(error) + BATCH_HINT)
            raise error

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps, self._describe())

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return tuple(in_shape)

    def cost(self, in_shape):
        return Cost(2 * self.num_channels if self.affine else 0, 0)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        """Every output sees every spatial position (its group's statistics; see ``field_across``)."""
        return field_across(rf, in_shape, set(range(len(rf.size))))

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


__all__ = ["layer_norm", "group_norm", "LayerNorm", "GroupNorm", "normalize_rows", "normalize_rows_backward",
           "grouped_norm", "field_across"]
