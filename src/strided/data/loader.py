"""Mini-batches from in-memory arrays, shuffled by an explicit random generator."""

from __future__ import annotations

import math

import numpy as np

from ..checks import as_int
from ..errors import ShapeError
from ..nn.init import make_rng


class ArrayLoader:
    """Iterate ``(x_batch, y_batch)`` over arrays that share their first axis.

    ``shuffle`` draws a new order each epoch from ``rng`` (a Generator or seed), so a run is
    reproducible from its seed. ``transform(x_batch, rng)``, if given, augments each batch with
    the same generator. Shape: ``x (N, *) , y (N,)`` -> batches ``(B, *)``, ``(B,)``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int = 32, shuffle: bool = False, rng=None,
                 drop_last: bool = False, transform=None):
        if len(x) != len(y):
            raise ShapeError(f"ArrayLoader: expected x and y with the same length, got {len(x)} and {len(y)}")
        batch_size = as_int(batch_size, "batch_size", "ArrayLoader")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.rng = make_rng(rng)
        self.transform = transform

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            xb = self.x[index]
            yield (xb if self.transform is None else self.transform(xb, self.rng)), self.y[index]
