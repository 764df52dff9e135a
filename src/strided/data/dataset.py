"""Datasets: the ``(x, y)`` example protocol, in-memory arrays, subsets, concatenation, splits.

A dataset is anything with ``__len__`` and ``__getitem__(i) -> (x, y)``: ``x`` one example (an
array, e.g. ``(C, H, W)``), ``y`` an int class label or a float target array. A dataset may also
offer ``get_batch(indices) -> (x_batch, y_batch)``, a vectorised gather of many examples at
once; ``DataLoader`` uses it when present (one fancy index per batch) and otherwise calls
``__getitem__`` per example and stacks the results with its ``collate``.

>>> import numpy as np
>>> ds = ArrayDataset(np.zeros((10, 1, 4, 4), np.float32), np.arange(10) % 2, classes=("even", "odd"))
>>> len(ds), ds[3][0].shape, ds[3][1]
(10, (1, 4, 4), 1)
>>> [len(part) for part in random_split(ds, [0.7, 0.3], seed=0)]
[7, 3]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..checks import as_int, is_int
from ..errors import ShapeError, shape_str
from ..nn.draws import make_rng


class Dataset:
    """Base class (and protocol) of a dataset: ``len(ds)`` examples, ``ds[i] -> (x, y)``.

    Subclasses implement ``__len__`` and ``__getitem__``; a subclass holding arrays may add
    ``get_batch(indices)`` for the loader's vectorised path. ``classes`` (class names or
    ``None``) describes the labels.

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, index):
        ...         return float(index * index), index
        >>> ds = Squares()
        >>> len(ds), ds[2], len(ds + ds)
        (3, (4.0, 2), 6)
    """

    classes: tuple[str, ...] | None = None

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def check_index(index, n: int, owner: str) -> int:
    """``index`` as a plain int in ``[0, n)`` (negative indices count from the end)."""
    if not is_int(index):
        raise TypeError(f"{owner}: index must be an int, got {index!r}")
    i = int(index) + (n if index < 0 else 0)
    if not 0 <= i < n:
        raise IndexError(f"{owner}: index {int(index)} out of range for {n} examples")
    return i


def _as_labels(y: np.ndarray, owner: str) -> np.ndarray:
    """Integer labels as int64, float targets as float32 (no copy when already so)."""
    if y.dtype.kind in "biu":
        return y.astype(np.int64, copy=False)
    if y.dtype.kind == "f":
        return y.astype(np.float32, copy=False)
    raise TypeError(f"{owner}: y must hold integer labels or float targets, got dtype {y.dtype}")


class ArrayDataset(Dataset):
    """Examples held in arrays that share their first axis: ``x[i]``, ``y[i]``.

    ``x``: floating arrays become float32; integer arrays (e.g. uint8 images, 4x smaller) are
    kept and a transform such as ``ToFloat`` converts each batch. ``y``: integer labels become
    int64, float targets float32. ``classes``: class names (a tuple) or ``None``.
    ``ds[i]`` is one example ``(x[i], int(y[i]))``; ``ds[index_array]`` and
    ``get_batch(index_array)`` gather a batch with one fancy index.

    Args:
        x: inputs, first axis the examples.
        y: targets, one per example (class indices or values).
        classes: class names, label ``k`` the ``k``-th (optional).

    Shape: ``x (N, *example_shape)``, ``y (N,)`` or ``(N, *target_shape)``.

    Example:
        >>> ds = ArrayDataset(np.zeros((5, 2)), np.arange(5))
        >>> len(ds), ds[1][0].shape, ds[1][1]
        (5, (2,), 1)
    """

    def __init__(self, x, y, classes: Sequence[str] | None = None):
        owner = "ArrayDataset"
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0:
            raise ShapeError(f"{owner}: expected x and y with a first (example) axis, got x {shape_str(x.shape)} "
                             f"and y {shape_str(y.shape)}")
        if len(x) != len(y):
            raise ShapeError(f"{owner}: expected x and y with the same length, got {len(x)} and {len(y)}")
        if x.dtype.kind == "f":
            x = x.astype(np.float32, copy=False)
        elif x.dtype.kind not in "biu":
            raise TypeError(f"{owner}: x must be a numeric array, got dtype {x.dtype}")
        self.x, self.y = x, _as_labels(y, owner)
        self.classes = None if classes is None else tuple(str(c) for c in classes)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        if is_int(index):
            i = check_index(index, len(self), "ArrayDataset")
            y = self.y[i]
            return self.x[i], (int(y) if self.y.ndim == 1 and self.y.dtype == np.int64 else y)
        return self.get_batch(index)

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """``(x[indices], y[indices])``: one fancy index each. Shape: ``(B,) -> (B, *), (B, ...)``."""
        return self.x[indices], self.y[indices]

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one example, ``x.shape[1:]``."""
        return tuple(self.x.shape[1:])

    def __repr__(self) -> str:
        return f"ArrayDataset(x={shape_str(self.x.shape)} {self.x.dtype}, y={shape_str(self.y.shape)} {self.y.dtype})"


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order: ``Subset(ds, idx)[k] == ds[idx[k]]``.

    Args:
        dataset: the dataset to view.
        indices: positions in ``dataset`` (negative ones count from the end).

    Example:
        >>> ds = ArrayDataset(np.zeros((5, 2)), np.arange(5))
        >>> sub = Subset(ds, [4, 0])
        >>> len(sub), sub[0][1]
        (2, 4)
    """

    def __init__(self, dataset, indices):
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(f"Subset: indices must be a 1-D sequence of ints, got {indices.dtype} "
                            f"{shape_str(indices.shape)}")
        n = len(dataset)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}) for a dataset of {n} examples")
        self.dataset = dataset
        self.indices = np.where(indices < 0, indices + n, indices).astype(np.int64)

    @property
    def classes(self):
        return getattr(self.dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[check_index(index, len(self), "Subset")])]

    def __getattr__(self, name):
        # get_batch exists exactly when the underlying dataset has one (the loader asks with hasattr)
        if name == "get_batch" and hasattr(self.__dict__.get("dataset"), "get_batch"):
            return lambda indices: self.dataset.get_batch(self.indices[indices])
        raise AttributeError(f"'Subset' object has no attribute {name!r}")


class ConcatDataset(Dataset):
    """Several datasets one after another: indices ``0 .. len(a)-1`` are ``a``'s, then ``b``'s, ...

    Args:
        datasets: the datasets, in order.

    Example:
        >>> ds = ArrayDataset(np.zeros((5, 2)), np.arange(5))
        >>> both = ConcatDataset([ds, ds])
        >>> len(both), both[6][1]
        (10, 1)
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset, got none")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).astype(np.int64)

    @property
    def classes(self):
        names = [getattr(d, "classes", None) for d in self.datasets]
        return names[0] if all(c == names[0] for c in names) else None

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def _locate(self, indices: np.ndarray):
        part = np.searchsorted(self.cumulative_sizes, indices, side="right")   # (B,) which dataset
        start = np.concatenate([[0], self.cumulative_sizes[:-1]])[part]        # (B,) its first index
        return part, indices - start

    def __getitem__(self, index):
        i = check_index(index, len(self), "ConcatDataset")
        part, local = self._locate(np.array([i]))
        return self.datasets[int(part[0])][int(local[0])]

    def __getattr__(self, name):
        parts = self.__dict__.get("datasets", [])
        if name == "get_batch" and parts and all(hasattr(d, "get_batch") for d in parts):
            return self._get_batch
        raise AttributeError(f"'ConcatDataset' object has no attribute {name!r}")

    def _get_batch(self, indices):
        indices = np.arange(len(self))[indices]                    # (B,) non-negative, slices allowed
        part, local = self._locate(indices)
        xs, ys = None, None
        for p in np.unique(part):
            mask = part == p                                           # (B,) examples from dataset p
            xp, yp = self.datasets[int(p)].get_batch(local[mask])
            if xs is None:
                xs = np.empty((len(indices),) + xp.shape[1:], xp.dtype)
                ys = np.empty((len(indices),) + yp.shape[1:], yp.dtype)
            xs[mask], ys[mask] = xp, yp
        return xs, ys


def split_lengths(n: int, lengths, owner: str = "random_split") -> list[int]:
    """Counts summing to ``n``, or fractions summing to 1 turned into counts as PyTorch does.

    Fractions: ``floor(n * f)`` each, then the remainder handed out one at a time, round-robin
    from the first part.

    >>> split_lengths(10, [0.33, 0.33, 0.34])
    [4, 3, 3]
    """
    lengths = list(lengths)
    if lengths and all(is_int(v) for v in lengths):
        counts = [as_int(v, "lengths", owner, minimum=0) for v in lengths]
        if sum(counts) != n:
            raise ValueError(f"{owner}: lengths {counts} sum to {sum(counts)}, expected the dataset's {n}")
        return counts
    if not lengths or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                              for v in lengths):
        raise TypeError(f"{owner}: lengths must be ints summing to {n} or fractions summing to 1, got {lengths!r}")
    if not math.isclose(sum(lengths), 1.0) or any(not 0 <= f <= 1 for f in lengths):
        raise ValueError(f"{owner}: fractions must lie in [0, 1] and sum to 1, got {lengths!r}")
    counts = [math.floor(n * f) for f in lengths]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset, lengths, seed=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping ``Subset``s of ``lengths`` (counts, or fractions summing to 1).

    The order is ``np.random.default_rng(seed).permutation(len(dataset))`` (``seed``: an int, a
    Generator, or ``None`` for the library's default generator); part ``k`` takes the next
    ``lengths[k]`` entries of it.

    Args:
        dataset: the dataset to split.
        lengths: counts, or fractions summing to 1.
        seed: an int, a Generator, or ``None`` for the library's default generator.

    Example:
        >>> ds = ArrayDataset(np.zeros((5, 2)), np.arange(5))
        >>> train, test = random_split(ds, [3, 2], seed=0)
        >>> len(train), len(test)
        (3, 2)
    """
    n = len(dataset)
    counts = split_lengths(n, lengths)
    order = make_rng(seed).permutation(n)                                    # (n,)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[bounds[k]:bounds[k + 1]]) for k in range(len(counts))]


class DataSplit:
    """A data set's training and test parts: ``.train``, ``.test`` (``ArrayDataset``s), with
    ``.classes`` (names), ``.num_classes`` and ``.input_shape`` (one example's shape, e.g. ``(1, 28, 28)``).

    Args:
        name: the data set's name, shown in ``repr`` and in errors.
        train: the training part; its ``classes`` name the split's classes.
        test: the test part, its examples the same shape as ``train``'s.

    Example:
        >>> train = ArrayDataset(np.zeros((4, 1, 2, 2)), np.array([0, 1, 0, 1]), classes=("a", "b"))
        >>> test = ArrayDataset(np.zeros((2, 1, 2, 2)), np.array([0, 1]), classes=("a", "b"))
        >>> DataSplit("toy", train, test)
        DataSplit('toy': train 4, test 2, input (1, 2, 2), 2 classes)
    """

    def __init__(self, name: str, train: ArrayDataset, test: ArrayDataset):
        if train.example_shape != test.example_shape:
            raise ShapeError(f"{name}: train and test examples differ in shape: {shape_str(train.example_shape)} "
                             f"and {shape_str(test.example_shape)}")
        self.name, self.train, self.test = name, train, test
        self.classes = train.classes
        self.input_shape = train.example_shape

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes is not None else 0

    def __repr__(self) -> str:
        return (f"DataSplit({self.name!r}: train {len(self.train)}, test {len(self.test)}, "
                f"input {shape_str(self.input_shape)}, {self.num_classes} classes)")


__all__ = ["Dataset", "ArrayDataset", "Subset", "ConcatDataset", "DataSplit", "random_split", "split_lengths"]
