"""Dropout: zero each value with probability ``p`` in training, scale the rest by ``1/(1-p)``."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor
from .init import make_rng
from .module import Module
from .registry import register_layer


def dropout(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Inverted dropout; the identity when ``training`` is false or ``p == 0``.

    ``rng``: a ``numpy.random.Generator`` or seed, the only source of randomness.
    Shape: any, unchanged.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p!r}")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    if p == 1:
        keep = np.zeros(x.shape, dtype=x.dtype)
    else:
        keep = (make_rng(rng).random(x.shape, dtype=np.float32) >= p).astype(x.dtype) / (1 - p)
    return Tensor.from_op(x.data * keep, (x,), lambda g: (g * keep,), "dropout")


@register_layer(example=lambda: (Dropout(0.5, rng=0), (4, 6)))
class Dropout(Module):
    """Dropout with probability ``p`` in training mode; the identity in eval mode. Shape: unchanged."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p = p
        self.rng = make_rng(rng)

    def forward(self, x) -> Tensor:
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
