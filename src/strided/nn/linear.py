"""Dense (fully-connected) layers and flattening."""

from __future__ import annotations

import math

import numpy as np  # noqa: F401  (the doctests use np)

from ..checks import as_int
from ..errors import ShapeError, expected_input, shape_str
from ..geometry import ReceptiveField
from ..tensor import Tensor, as_tensor
from . import allocation
from .allocation import check_bytes
from .draws import make_rng, weight_and_bias
from .helpers import check_param_shape
from .module import Cost, Module
from .registry import register_layer


def linear(x, weight, bias=None, owner: str = "linear") -> Tensor:
    """``x @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Args:
        x: the input ``(*, in)``, a ``Tensor`` or an array.
        weight: ``(out, in)``.
        bias: ``(out,)`` or ``None``.
        owner: the name error messages give.

    Shape: ``x (*, in)``, ``weight (out, in)``, ``bias (out,)`` -> ``(*, out)``.

    Example:
        >>> linear(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4)).numpy().tolist()
        [[3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]]
    """
    x, weight, bias = Tensor.match_dtypes(owner, x, weight, bias)      # one dtype, or a TypeError naming both
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    if weight.ndim != 2:
        raise ShapeError(f"{owner}: expected weight (out_features, in_features), got {shape_str(weight.shape)}")
    check_param_shape(bias, weight.shape[:1], "bias", owner)
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise expected_input(owner, f"(*, {weight.shape[1]})", x.shape)
    out_shape = x.shape[:-1] + weight.shape[:1]
    nbytes = math.prod(out_shape) * x.data.itemsize
    if nbytes > allocation.CHECK_ABOVE_BYTES:                          # below it nothing to check: no message built
        check_bytes(owner, nbytes, f"its output {out_shape}", x.shape)
    out = x.data @ weight.data.T                                        # (*, out)
    if bias is not None:
        out += bias.data

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])                                 # (M, out)
        gx = (g @ weight.data) if x.requires_grad else None            # (*, in)
        gw = (g2.T @ x.data.reshape(-1, x.shape[-1])) if weight.requires_grad else None   # (out, in)
        gb = g2.sum(axis=0) if bias is not None and bias.requires_grad else None          # (out,)
        return (gx, gw, gb) if bias is not None else (gx, gw)
    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor.from_op(out, parents, backward, "linear")


@register_layer(example=lambda: (Linear(5, 3, rng=0), (4, 5)))
class Linear(Module):
    """Dense layer ``y = x W^T + b``, initialised as PyTorch does (U(+-1/sqrt(in_features))).

    Args:
        in_features: the size of the input's last axis.
        out_features: the size of the output's last axis.
        bias: learn a bias ``(out_features,)``.
        rng: the generator of the initial weights: a ``numpy.random.Generator`` (used as is), an int
            seed (a new generator) or ``None`` (the library's default generator, ``st.manual_seed``).
            Weight ``(out_features, in_features)`` then bias are drawn from
            ``U(-1/sqrt(in_features), 1/sqrt(in_features))`` (PyTorch's ``kaiming_uniform_(a=sqrt(5))``).

    Shape: ``(*, in_features) -> (*, out_features)``.

    Example:
        >>> Linear(120, 84, rng=0)(np.zeros((2, 120))).shape
        (2, 84)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None):
        super().__init__()
        in_features = as_int(in_features, "in_features", "Linear")
        out_features = as_int(out_features, "out_features", "Linear")
        self.in_features, self.out_features = in_features, out_features
        rng = make_rng(rng)
        self.weight, self.bias = weight_and_bias((out_features, in_features), (out_features,), in_features, bias, rng)

    def forward(self, x) -> Tensor:
        weight, bias = self._weight_and_bias()
        return linear(x, weight, bias, self._describe())

    def output_shape(self, in_shape):
        if len(in_shape) < 1 or in_shape[-1] != self.in_features:
            raise expected_input(self._describe(), f"(*, {self.in_features})", in_shape)
        return tuple(in_shape[:-1]) + (self.out_features,)

    def cost(self, in_shape):
        rows = int(math.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
        params = self.weight.size + (self.bias.size if self.bias is not None else 0)
        return Cost(params, rows * self.in_features * self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + (
            ", bias=False" if self.bias is None else "")


def flatten(x, start_dim: int = 1) -> Tensor:
    """Merge the axes from ``start_dim`` on.

    Args:
        x: the input, a ``Tensor`` or an array.
        start_dim: the first axis merged (negative counts from the end).

    Shape: ``(N, C, H, W) -> (N, C*H*W)`` with ``start_dim=1``.

    Example:
        >>> flatten(np.zeros((2, 3, 4, 5))).shape
        (2, 60)
    """
    return as_tensor(x).flatten(start_dim)


@register_layer(example=lambda: (Flatten(), (2, 3, 4, 5)))
class Flatten(Module):
    """Merge the axes from ``start_dim`` (default 1) on, before a ``Linear`` classifier.

    Args:
        start_dim: the first axis merged (default 1 keeps the batch axis; negative counts from the end).

    Shape: ``(N, C, H, W) -> (N, C*H*W)``.

    Example:
        >>> Flatten()(np.zeros((2, 16, 5, 5))).shape
        (2, 400)
    """


    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def _check(self, shape) -> None:
        if not -len(shape) <= self.start_dim < len(shape):
            raise expected_input(self._describe(), f"with an axis start_dim={self.start_dim}", shape)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        return flatten(x, self.start_dim)

    def output_shape(self, in_shape):
        self._check(tuple(in_shape))
        return tuple(in_shape[:self.start_dim]) + (int(math.prod(in_shape[self.start_dim:])),)

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        # every output sees the whole spatial input
        return rf.through_global(tuple(in_shape[2:])) if len(in_shape) > 2 else rf
