"""Networks from the lectures' compact notation: ``from_spec("conv3-64 conv3-64 maxpool ... FC-1000 softmax")``.

Tokens (case-insensitive, separated by spaces or commas):

==================  ===========================================================================
``conv{k}-{n}``     ``n`` filters ``k`` x ``k``, stride 1, ``'same'`` padding, then ReLU
``maxpool``         2x2 max pooling, stride 2; ``maxpool{k}/{s}`` for other windows (``maxpool3/2``)
``avgpool``         2x2 average pooling, stride 2; ``avgpool{k}/{s}`` likewise
``gap``             global average pooling: ``(N, C, H, W) -> (N, C)``
``FC-{n}``          dense layer with ``n`` outputs (flattening first when needed); ReLU after it
                    unless no other conv or FC layer follows (the classifier's output)
``dropout``         dropout with p = 0.5; ``dropout-{p}`` for another rate
``bn``              batch normalisation (2-D or 1-D, whichever the current shape needs)
``softmax``         softmax over the classes
==================  ===========================================================================

Input channels are inferred from ``input_shape`` = ``(C, H, W)`` (no batch axis); for a signal
``(C, L)`` the convolutions and pooling are 1-D (``Conv1d``, ``MaxPool1d``, ``AvgPool1d``).
"""

from __future__ import annotations

import re

from ..errors import ShapeError
from .activation import ReLU
from .activation_sigmoid import Softmax
from .container import Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .draws import make_rng
from .linear import Flatten, Linear
from .norm import BatchNorm1d, BatchNorm2d
from .global_pool import GlobalAvgPool
from .max_pool import MaxPool1d, MaxPool2d
from .avg_pool import AvgPool1d, AvgPool2d

CONV = re.compile(r"conv(\d+)-(\d+)$")
POOL = re.compile(r"(max|avg)pool(?:(\d+)/(\d+))?$")
FC = re.compile(r"fc-(\d+)$")
DROPOUT = re.compile(r"dropout(?:-(0?\.\d+|[01]))?$")
EXPECTED = "conv{k}-{n}, maxpool, maxpool{k}/{s}, avgpool, gap, FC-{n}, dropout, dropout-{p}, bn, softmax"


def _tokens(spec: str) -> list[tuple[str, int]]:
    """Each token with its character offset in ``spec``."""
    return [(m.group(0), m.start()) for m in re.finditer(r"[^\s,]+", spec)]


def _pointer(spec: str, offset: int, token: str) -> str:
    return f"  {spec}\n  {' ' * offset}{'^' * len(token)}"


def from_spec(spec: str, input_shape, rng=None) -> Sequential:
    """Build a ``Sequential`` network from the lectures' notation (see the module docstring).

    A token that does not parse, or a layer whose geometry does not fit, raises an error that
    points at the offending token.

    Args:
        spec: the tokens, separated by spaces or commas (``conv3-64``, ``maxpool``, ``FC-10``, ...).
        input_shape: one example's shape without the batch axis: ``(C, H, W)``, or ``(C, L)`` for 1-D layers.
        rng: the generator of the initial weights, layer by layer: a ``numpy.random.Generator``, an int
            seed or ``None`` (the library's default generator).

    >>> net = from_spec("conv3-8 maxpool FC-10 softmax", (1, 8, 8))   # 8x8 -> 8x4x4 -> 10
    >>> net.num_parameters()                                         # (9 + 1) * 8 + (128 + 1) * 10
    1370
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"from_spec: expected a non-empty spec string, got {spec!r}")
    shape = (1,) + tuple(int(v) for v in input_shape)
    rng = make_rng(rng)
    tokens = _tokens(spec)
    weight_positions = [i for i, (t, _) in enumerate(tokens) if CONV.match(t.lower()) or FC.match(t.lower())]
    layers = []
    for index, (token, offset) in enumerate(tokens):
        word = token.lower()
        try:
            new = _layers_for(word, shape, rng, more_weights=any(p > index for p in weight_positions))
        except ShapeError as error:
            raise ShapeError(f"from_spec: token {index + 1} {token!r} does not fit: {error}\n"
                             f"{_pointer(spec, offset, token)}") from None
        if new is None:
            raise ValueError(f"from_spec: cannot parse token {index + 1} {token!r}; expected one of {EXPECTED}\n"
                             f"{_pointer(spec, offset, token)}")
        for layer in new:
            try:
                shape = layer.output_shape(shape)
            except ShapeError as error:
                raise ShapeError(f"from_spec: token {index + 1} {token!r} does not fit: {error}\n"
                                 f"{_pointer(spec, offset, token)}") from None
            layers.append(layer)
    return Sequential(*layers)


def _layers_for(word: str, shape: tuple, rng, more_weights: bool):
    """The layers one token stands for, given the current shape ``(1, C, *spatial)``; None if unknown."""
    spatial = len(shape) > 2
    one_d = len(shape) == 3                                     # (1, C, L): signals get 1-D layers
    if m := CONV.match(word):
        if not spatial:
            raise ShapeError(f"a convolution needs (N, C, H, W) or (N, C, L) input, got a flat {shape[1:]}")
        conv = Conv1d if one_d else Conv2d
        return [conv(shape[1], int(m.group(2)), int(m.group(1)), padding="same", rng=rng), ReLU()]
    if m := POOL.match(word):
        kernel, stride = (int(m.group(2)), int(m.group(3))) if m.group(2) else (2, 2)
        if m.group(1) == "max":
            return [(MaxPool1d if one_d else MaxPool2d)(kernel, stride)]
        return [(AvgPool1d if one_d else AvgPool2d)(kernel, stride)]
    if word == "gap":
        return [GlobalAvgPool()]
    if m := FC.match(word):
        layers = [Flatten()] if spatial else []
        features = 1
        for v in shape[1:]:
            features *= v
        layers.append(Linear(features, int(m.group(1)), rng=rng))
        return layers + ([ReLU()] if more_weights else [])
    if m := DROPOUT.match(word):
        return [Dropout(float(m.group(1)) if m.group(1) else 0.5, rng=rng)]
    if word == "bn":
        return [BatchNorm2d(shape[1]) if len(shape) == 4 else BatchNorm1d(shape[1])]
    if word == "softmax":
        return [Softmax(dim=1)]
    return None
