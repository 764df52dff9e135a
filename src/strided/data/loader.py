"""Mini-batches: ``DataLoader`` (seeded, resumable at any batch) and the older ``ArrayLoader``.

``DataLoader`` keeps no generator state between batches. Everything random is a function of
``(seed, epoch, batch)``:

- the order of epoch ``e`` is ``np.random.default_rng([seed, e]).permutation(n)`` (with
  ``shuffle``; otherwise ``0 .. n-1``);
- the transform of batch ``b`` of epoch ``e`` is called with ``np.random.default_rng([seed, e, b, 1])``.

Data-parallel training (``num_replicas`` ranks, this one ``rank``): every rank draws the same
global batch ``b`` of ``batch_size`` examples and keeps its contiguous part, examples
``[b * r // R, b * (r + 1) // R)`` of it, so the ranks' parts are disjoint, cover the batch, and
the epoch order is the same on every rank. A transform sees the whole global batch (with the
generator above) before the part is taken, so augmentation too is that of one process. ``len``
and the state count global batches: a run resumes with another number of ranks.

So its whole state is three ints, ``{"seed", "epoch", "batch"}`` (the next batch to produce),
and a loader given that state by ``load_state_dict`` continues with exactly the batches an
uninterrupted run would have produced:

>>> import numpy as np
>>> loader = DataLoader((np.zeros((10, 1, 2, 2), np.float32), np.arange(10)), batch_size=4, shuffle=True, seed=7)
>>> len(loader), [tuple(x.shape) for x, y in loader]
(3, [(4, 1, 2, 2), (4, 1, 2, 2), (2, 1, 2, 2)])
>>> loader.state_dict()
{'seed': 7, 'epoch': 1, 'batch': 0}
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..checks import as_int
from ..errors import ShapeError
from ..nn.draws import make_rng
from ..random import default_generator
from ..tensor import Tensor
from .dataset import ArrayDataset

STATE_KEYS = ("seed", "epoch", "batch")


def default_collate(samples):
    """Stack ``[(x, y), ...]`` into ``(x_batch, y_batch)``.

    ``x``: stacked, floating examples as float32 (integer ones, e.g. uint8, keep their dtype).
    ``y``: int labels as int64, float targets as float32.

    Args:
        samples: a list of ``(x, y)`` examples.

    Shape: ``B`` examples ``(*shape)`` -> ``(B, *shape)``; labels -> ``(B,)`` (or ``(B, *target)``).

    Example:
        >>> x, y = default_collate([(np.zeros(3), 1), (np.ones(3), 0)])
        >>> x.shape, str(x.dtype), y.tolist()
        ((2, 3), 'float32', [1, 0])
    """
    if not samples:
        raise ValueError("default_collate: expected at least one (x, y) example, got none")
    xs = np.stack([np.asarray(x) for x, _ in samples])                     # (B, *shape)
    ys = np.stack([np.asarray(y) for _, y in samples])                     # (B,) or (B, *target)
    if xs.dtype.kind == "f":
        xs = xs.astype(np.float32, copy=False)
    if ys.dtype.kind in "biu":
        ys = ys.astype(np.int64, copy=False)
    elif ys.dtype.kind == "f":
        ys = ys.astype(np.float32, copy=False)
    return xs, ys


class DataLoader:
    """Iterate ``(x_batch, y_batch)`` over a dataset, reproducibly from ``(seed, epoch, batch)``.

    ``data``: a dataset (``len`` and ``ds[i] -> (x, y)``) or an ``(x, y)`` tuple of arrays
    (wrapped in an ``ArrayDataset``). A dataset with ``get_batch`` (``ArrayDataset``, and
    ``Subset``/``ConcatDataset`` of such) is gathered with one fancy index per batch; any other
    is read example by example and stacked by ``collate`` (default ``default_collate``; a
    ``collate`` given explicitly is always used).

    ``seed``: an int; ``None`` draws one once, here, from the library's default generator (so
    ``st.manual_seed`` makes it reproducible). ``transform(x_batch, rng) -> x_batch`` is applied
    to every batch (see ``strided.data.transforms``).

    Each ``iter(loader)`` continues from the loader's state: after a completed epoch ``e`` that
    is batch 0 of epoch ``e + 1``, so every full ``for`` loop over the loader is the next epoch;
    a loop left early continues, at the next ``iter()``, with the batch after the last one it
    took (``set_epoch(e)`` starts epoch ``e`` afresh instead).
    ``len(loader)``: batches per epoch, ``ceil(N / B)`` (``floor`` with ``drop_last``).

    ``num_replicas``, ``rank``: the ranks of data-parallel training and this one
    (``DistributedSampler``'s names; see the module docstring): ``batch_size`` is the global
    batch and each rank gets its part of it. Every batch must give each rank at least one example.

    Args:
        data: a dataset (``len`` and ``ds[i] -> (x, y)``) or an ``(x, y)`` tuple of arrays.
        batch_size: examples per batch (the global batch with ``num_replicas``).
        shuffle: a new order every epoch, ``default_rng([seed, epoch]).permutation(N)``.
        drop_last: leave out the last, smaller batch of an epoch.
        seed: an int; ``None`` draws one from the library's default generator.
        transform: ``transform(x_batch, rng) -> x_batch``, applied to every batch
            (``strided.data.transforms``).
        collate: stacks ``[(x, y), ...]`` into a batch (default ``default_collate``).
        num_replicas: number of data-parallel ranks.
        rank: this rank, ``0 <= rank < num_replicas``.

    Shape: batches ``x (B, *example_shape)``, ``y (B,)`` (int64 class labels); the last batch
    of an epoch has ``N mod B`` examples unless ``drop_last``.

    Example:
        >>> loader = DataLoader((np.zeros((10, 3)), np.arange(10)), batch_size=4, shuffle=True, seed=0)
        >>> len(loader), [x.shape for x, y in loader]
        (3, [(4, 3), (4, 3), (2, 3)])
    """

    def __init__(self, data, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False, seed=None,
                 transform=None, collate=None, num_replicas: int = 1, rank: int = 0):
        owner = "DataLoader"
        if isinstance(data, tuple):
            if len(data) != 2:
                raise TypeError(f"{owner}: data must be a dataset or an (x, y) tuple of arrays, got a tuple of "
                                f"{len(data)}")
            data = ArrayDataset(*data)
        if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise TypeError(f"{owner}: data must be a dataset (with __len__ and __getitem__) or an (x, y) tuple, "
                            f"got {type(data).__name__}")
        for name, value in (("transform", transform), ("collate", collate)):
            if value is not None and not callable(value):
                raise TypeError(f"{owner}: {name} must be callable or None, got {value!r}")
        self.dataset = data
        self.batch_size = as_int(batch_size, "batch_size", owner)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.transform, self.collate = transform, collate
        self.seed = (int(default_generator().integers(0, 2 ** 63 - 1)) if seed is None
                     else as_int(seed, "seed", owner, minimum=0))
        self.epoch, self.batch = 0, 0
        self.set_replicas(num_replicas, rank)

    def set_replicas(self, num_replicas: int, rank: int) -> None:
        """Give this loader rank ``rank``'s part of every global batch of ``num_replicas`` ranks
        (``fit`` calls it under a launcher for a loader made for one process)."""
        owner = "DataLoader"
        num_replicas = as_int(num_replicas, "num_replicas", owner)
        rank = as_int(rank, "rank", owner, minimum=0)
        if rank >= num_replicas:
            raise ValueError(f"{owner}: rank must lie in [0, {num_replicas}) for num_replicas={num_replicas}, "
                             f"got {rank}")
        if num_replicas > 1:
            self._check_shards(owner, num_replicas)
        self.num_replicas, self.rank = num_replicas, rank

    def _check_shards(self, owner: str, r: int) -> None:
        n, b = len(self.dataset), self.batch_size
        last = n % b if not self.drop_last else 0
        smallest = min(b if n >= b else n, last or b)
        if smallest < r:
            raise ValueError(f"{owner}: a global batch of {smallest} examples (batch_size={b}, {n} examples"
                             f"{', the last batch of the epoch' if smallest == last else ''}) cannot give each of "
                             f"{r} ranks an example; use a batch size of at least {r}"
                             f"{' or drop_last=True' if smallest == last else ''}")

    def part(self, size: int) -> slice:
        """This rank's part of a global batch of ``size`` examples (positions in the batch)."""
        return slice(size * self.rank // self.num_replicas, size * (self.rank + 1) // self.num_replicas)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    # ------------------------------------------------------------------ reproducible pieces
    def order(self, epoch: int) -> np.ndarray:
        """The example order of ``epoch``. Shape: ``(N,)``."""
        n = len(self.dataset)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def transform_rng(self, epoch: int, batch: int) -> np.random.Generator:
        """The generator the transform of batch ``batch`` of ``epoch`` receives."""
        return np.random.default_rng([self.seed, epoch, batch, 1])

    def make_batch(self, epoch: int, batch: int, order: np.ndarray | None = None):
        """Batch ``batch`` of ``epoch``, computed from those two numbers and the seed alone."""
        order = self.order(epoch) if order is None else order
        index = order[batch * self.batch_size:(batch + 1) * self.batch_size]      # (B,)
        part = self.part(len(index)) if self.num_replicas > 1 else None         # this rank's positions
        if part is not None and self.transform is None:
            index, part = index[part], None                                       # (B_r,) only this rank's part
        if self.collate is None and hasattr(self.dataset, "get_batch"):
            x, y = self.dataset.get_batch(index)
        else:
            x, y = (self.collate or default_collate)([self.dataset[int(i)] for i in index])
        if self.transform is not None:
            x = self.transform(x, self.transform_rng(epoch, batch))
        if part is not None:
            x, y = x[part], y[part]                                               # (B_r, ...)
        return x, y

    # ------------------------------------------------------------------------- iteration
    def __iter__(self):
        return _LoaderIterator(self)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` start at batch 0 of ``epoch`` (e.g. after a loop left an epoch early)."""
        self.epoch, self.batch = as_int(epoch, "epoch", "DataLoader.set_epoch", minimum=0), 0

    def state_dict(self) -> dict:
        """``{"seed", "epoch", "batch"}``: the next batch to produce (plain ints, JSON-able)."""
        return {"seed": self.seed, "epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict) -> None:
        """Continue at ``state["batch"]`` of ``state["epoch"]`` with ``state["seed"]`` (keys checked strictly).

        A batch equal to ``len(loader)`` is the end of that epoch, i.e. batch 0 of the next.
        """
        owner = "DataLoader.load_state_dict"
        if not isinstance(state, dict):
            raise TypeError(f"{owner}: expected a dict with keys {STATE_KEYS}, got {type(state).__name__}")
        missing = [k for k in STATE_KEYS if k not in state]
        unexpected = sorted(str(k) for k in state if k not in STATE_KEYS)
        if missing or unexpected:
            raise KeyError(f"{owner}: missing keys {missing}, unexpected keys {unexpected}")
        seed = as_int(state["seed"], "seed", owner, minimum=0)
        epoch = as_int(state["epoch"], "epoch", owner, minimum=0)
        batch = as_int(state["batch"], "batch", owner, minimum=0)
        if batch > len(self):
            raise ValueError(f"{owner}: batch must lie in [0, {len(self)}] for {len(self)} batches per epoch, "
                             f"got {batch}")
        self.seed, self.epoch, self.batch = (seed, epoch + 1, 0) if batch == len(self) else (seed, epoch, batch)

    def __repr__(self) -> str:
        shards = f", num_replicas={self.num_replicas}, rank={self.rank}" if self.num_replicas > 1 else ""
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}{shards})")


class _LoaderIterator:
    """One pass from the loader's state to the end of that epoch; moves the state as it yields."""

    def __init__(self, loader: DataLoader):
        self.loader, self.epoch, self.next = loader, loader.epoch, loader.batch
        self.count = len(loader)
        self.order = loader.order(self.epoch)
        self.finished = False

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return max(self.count - self.next, 0)

    def __next__(self):
        loader = self.loader
        if self.next >= self.count:
            if not self.finished:                      # an epoch with no batches still ends
                self.finished = True
                loader.epoch, loader.batch = self.epoch + 1, 0
            raise StopIteration
        b = self.next
        out = loader.make_batch(self.epoch, b, self.order)
        self.next = b + 1
        if self.next == self.count:
            self.finished = True
            loader.epoch, loader.batch = self.epoch + 1, 0
        else:
            loader.epoch, loader.batch = self.epoch, self.next
        return out


def batch_to_device(batch, device):
    """``batch`` with its arrays on ``device``: the loader's host-to-device transfer.

    ``batch``: an array, a ``Tensor`` (its data is moved), or a tuple, list or dict of them
    (``(x, y)`` as loaders yield it; inputs and targets of any dtype, integer labels included);
    anything else (``None``, numbers, strings) is kept. An array already on ``device`` is
    returned as it is, so on the CPU nothing is copied. ``fit``, ``evaluate`` and ``predict``
    call it on every batch just before the forward pass.

    Args:
        batch: the batch as a loader yields it.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``Device``.

    Shape: every array keeps its shape and dtype.

    Example:
        >>> x, y = np.zeros((4, 3), np.float32), np.arange(4)
        >>> moved = batch_to_device((x, y), "cpu")
        >>> moved[0] is x, moved[1] is y                              # already there: not copied
        (True, True)
    """
    device = _backend.parse_device(device)
    return _move(batch, device)


def _move(value, device):
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_move(v, device) for v in value)
    if isinstance(value, list):
        return [_move(v, device) for v in value]
    if isinstance(value, dict):
        return {k: _move(v, device) for k, v in value.items()}
    if isinstance(value, Tensor):                                       # moved as a new node (the gradient flows back)
        return value.to(device)
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
        return _backend.to_device(value, device)                        # a NumPy or device array
    return value


class ArrayLoader:
    """Iterate ``(x_batch, y_batch)`` over arrays that share their first axis.

    ``shuffle`` draws a new order each epoch from ``rng`` (a Generator or seed), so a run is
    reproducible from its seed. ``transform(x_batch, rng)``, if given, augments each batch with
    the same generator. For datasets and exact resume, use ``DataLoader``.

    Args:
        x: inputs, first axis the examples.
        y: targets, one per example.
        batch_size: examples per batch.
        shuffle: a new order each epoch, drawn from ``rng``.
        rng: a Generator or a seed.
        drop_last: leave out the last, smaller batch.
        transform: ``transform(x_batch, rng) -> x_batch`` for each batch.

    Shape: ``x (N, *) , y (N,)`` -> batches ``(B, *)``, ``(B,)``.

    Example:
        >>> loader = ArrayLoader(np.zeros((10, 3)), np.arange(10), batch_size=4, shuffle=True, rng=0)
        >>> [y.shape for x, y in loader]
        [(4,), (4,), (2,)]
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int = 32, shuffle: bool = False, rng=None,
                 drop_last: bool = False, transform=None):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            raise TypeError(f"ArrayLoader: x and y must be NumPy arrays, got {type(x).__name__} and "
                            f"{type(y).__name__}; for a dataset use DataLoader")
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


__all__ = ["DataLoader", "ArrayLoader", "default_collate", "batch_to_device"]
