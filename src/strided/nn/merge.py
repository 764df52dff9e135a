"""Joining branches: ``concat`` with its backward, the ``Concat`` container and Inception's block.

Lecture 004: one convolution works at one scale; a multi-scale block runs convolutions of
several sizes in parallel on the same input and concatenates their outputs along the channels
(Szegedy et al., "Going deeper with convolutions", 2015). ``Concat`` is the general container
for such blocks, ``MultiScaleBlock`` the Inception-v1 module built on it.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import accumulate
from typing import Sequence

import numpy as np

from .. import backend as _backend
from ..checks import as_int
from ..errors import ShapeError
from ..geometry import concat_shape
from ..tensor import Tensor, as_tensor
from .activation import ReLU
from .block import Block
from .container import Sequential
from .conv import Conv2d
from .draws import make_rng
from .module import Module
from .max_pool import MaxPool2d
from .registry import register_layer
from .separable import PointwiseConv2d


def concat(tensors: Sequence, dim: int = 1, owner: str = "concat") -> Tensor:
    """Join tensors along ``dim`` (default 1, the channels; note ``torch.cat`` defaults to 0).

    The backward pass splits the gradient back into the pieces.

    Args:
        tensors: the tensors (or arrays) to join, at least one; all axes but ``dim`` must agree.
        dim: the axis to join along (default 1; negative counts from the end).
        owner: the layer name that error messages start with (default ``concat``).

    Shape: ``(N, C_1, *S), (N, C_2, *S), ... -> (N, C_1 + C_2 + ..., *S)`` for ``dim=1``; all
    other axes must agree.

    >>> concat([np.zeros((2, 3, 4, 4)), np.ones((2, 5, 4, 4))]).shape
    (2, 8, 4, 4)
    """
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence):
        raise TypeError(f"{owner}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{owner}: dim must be an int, got {dim!r}")
    tensors = [as_tensor(t) for t in tensors]
    shape = concat_shape([t.shape for t in tensors], dim, owner)
    axis = dim % len(shape)
    kind = type(tensors[0].data)
    if any(type(t.data) is not kind for t in tensors):                  # tensors on different devices
        _backend.common_backend(owner, [t.data for t in tensors], [f"tensors[{i}]" for i in range(len(tensors))])
    xp = _backend.namespace(tensors[0].data)
    out = xp.concatenate([t.data for t in tensors], axis=axis)         # (..., sum C_i, ...)
    bounds = list(accumulate(t.shape[axis] for t in tensors))[:-1]     # where each piece ends

    def backward(g):
        pieces = xp.split(g, bounds, axis=axis)                         # one (..., C_i, ...) per input
        return tuple(p.astype(t.dtype, copy=False) for p, t in zip(pieces, tensors))
    return Tensor.from_op(out, tensors, backward, "concat")


@register_layer(example=lambda: (Concat(Conv2d(2, 2, 3, padding=1, rng=0), Conv2d(2, 3, 1, rng=1)), (2, 2, 5, 4)))
class Concat(Block):
    """Parallel branches applied to the same input, their outputs concatenated along channels.

    Branches are named ``0``, ``1``, ... (or by an ``OrderedDict``, as in ``Sequential``); each must
    keep the batch and spatial sizes the others give. Static rules (``Block.walk`` through every
    branch, then ``Block.join_concat``): channels summed, costs summed, receptive fields merged
    with ``ReceptiveField.merge`` (the largest field over the output channels).

    Args:
        branches: the branch modules, at least one, named ``0``, ``1``, ...; or a single ``OrderedDict``
            ``{name: module}`` to name them.

    Shape: ``(N, C, *S) -> (N, C_1 + C_2 + ..., *S_out)`` with ``(N, C_i, *S_out)`` branch ``i``'s output.

    >>> from strided import nn
    >>> block = nn.Concat(nn.Conv2d(3, 4, 1, rng=0), nn.Conv2d(3, 6, 3, padding=1, rng=0))
    >>> block.output_shape((2, 3, 8, 8))
    (2, 10, 8, 8)
    """

    def __init__(self, *branches):
        super().__init__()
        if len(branches) == 1 and isinstance(branches[0], OrderedDict):
            items = list(branches[0].items())
        else:
            items = [(str(i), b) for i, b in enumerate(branches)]
        if not items:
            raise ValueError(f"{type(self).__name__}: expected at least one branch, got none")
        for name, branch in items:
            if not isinstance(branch, Module):
                raise TypeError(f"{type(self).__name__}: branch {name!r} is a {type(branch).__name__}, "
                                f"expected a Module")
            setattr(self, name, branch)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _branch_error(self, name: str, err: ShapeError) -> ShapeError:
        return ShapeError(f"{self._describe()}: branch {name!r}: {err}")

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        outs = []
        for name, branch in self._modules.items():
            try:
                outs.append(branch(x))                                  # (N, C_i, *S_out)
            except ShapeError as err:
                raise self._branch_error(name, err) from None
        return concat(outs, 1, self._describe())                        # (N, sum C_i, *S_out)

    def walk(self, in_shape, rf, visit):
        results = []
        for name, branch in self._modules.items():
            try:
                results.append(branch.walk(tuple(in_shape), rf, visit))
            except ShapeError as err:
                raise self._branch_error(name, err) from None
        return self.join_concat(results)

    def extra_repr(self) -> str:
        return f"{len(self)} branches"


def _block_example():
    """``MultiScaleBlock``'s contract example, with positive weights and biases so every ReLU is active.

    The contract measures receptive fields by bumping single input pixels; a ReLU held at zero
    would hide taps that the declared (merged) field rightly includes.
    """
    block = MultiScaleBlock(2, 1, 1, 2, 1, 1, 1, rng=0)
    for name, param in block.named_parameters():
        param.data = np.abs(param.data) + (1.0 if name.endswith("bias") else 0.0)
    return block, (2, 2, 5, 5)


@register_layer(example=_block_example)
class MultiScaleBlock(Concat):
    """Inception-v1 module: 1x1, 3x3 and 5x5 convolutions and a pooled path, side by side.

    Branches (each a ``Sequential``; names as in torchvision's ``Inception``):

    * ``branch1``: 1x1 conv to ``c1x1``, ReLU;
    * ``branch2``: 1x1 conv to ``c3x3_reduce``, ReLU, 3x3 conv (padding 1) to ``c3x3``, ReLU;
    * ``branch3``: 1x1 conv to ``c5x5_reduce``, ReLU, 5x5 conv (padding 2) to ``c5x5``, ReLU;
    * ``branch4``: 3x3 max pool (stride 1, padding 1), 1x1 conv to ``pool_proj``, ReLU.

    As in the paper, convolutions have biases and no batch norm (torchvision's GoogLeNet adds
    batch norm, drops the biases and uses 3x3 in ``branch3``); the 1x1 "reduce" convolutions cut
    the channels before the expensive 3x3 and 5x5 ones. State keys: ``branch2.2.weight`` etc.

    Args:
        in_channels: channels of the input, fed to all four branches.
        c1x1: output channels of ``branch1``'s 1x1 convolution.
        c3x3_reduce: channels of ``branch2``'s 1x1 reduction, before its 3x3 convolution.
        c3x3: output channels of ``branch2``'s 3x3 convolution.
        c5x5_reduce: channels of ``branch3``'s 1x1 reduction, before its 5x5 convolution.
        c5x5: output channels of ``branch3``'s 5x5 convolution.
        pool_proj: output channels of ``branch4``'s 1x1 convolution after the max pool.
        rng: the generator of the initial weights of all convolutions (in branch order): a
            ``numpy.random.Generator``, an int seed or ``None`` (the library's default generator).

    Shape: ``(N, in_channels, H, W) -> (N, c1x1 + c3x3 + c5x5 + pool_proj, H, W)``.

    GoogLeNet's inception (3a), 192 -> 256 channels at 28x28, costs the paper's 128M MACs:

    >>> block = MultiScaleBlock(192, 64, 96, 128, 16, 32, 32, rng=0)
    >>> block.output_shape((1, 192, 28, 28)), block.cost((1, 192, 28, 28))
    ((1, 256, 28, 28), (163696, 128049152))
    """

    def __init__(self, in_channels: int, c1x1: int, c3x3_reduce: int, c3x3: int, c5x5_reduce: int, c5x5: int,
                 pool_proj: int, rng=None):
        sizes = dict(in_channels=in_channels, c1x1=c1x1, c3x3_reduce=c3x3_reduce, c3x3=c3x3,
                     c5x5_reduce=c5x5_reduce, c5x5=c5x5, pool_proj=pool_proj)
        for name, value in sizes.items():
            as_int(value, name, "MultiScaleBlock")
        rng = make_rng(rng)
        super().__init__(OrderedDict(
            branch1=Sequential(PointwiseConv2d(in_channels, c1x1, rng=rng), ReLU()),
            branch2=Sequential(PointwiseConv2d(in_channels, c3x3_reduce, rng=rng), ReLU(),
                               Conv2d(c3x3_reduce, c3x3, 3, padding=1, rng=rng), ReLU()),
            branch3=Sequential(PointwiseConv2d(in_channels, c5x5_reduce, rng=rng), ReLU(),
                               Conv2d(c5x5_reduce, c5x5, 5, padding=2, rng=rng), ReLU()),
            branch4=Sequential(MaxPool2d(3, 1, padding=1), PointwiseConv2d(in_channels, pool_proj, rng=rng), ReLU()),
        ))
        self.sizes = tuple(sizes.values())

    def extra_repr(self) -> str:
        return ", ".join(str(v) for v in self.sizes)
