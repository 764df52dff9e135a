"""What ``fit``, ``evaluate`` and ``predict`` accept as data, turned into a loader of ``(x, y)`` batches.

- a loader (``strided.data.DataLoader``, or any re-iterable of ``(x_batch, y_batch)`` with
  ``len``): used as it is. Exact resume needs its ``state_dict``/``load_state_dict``;
- a dataset (``len`` and ``ds[i] -> (x, y)``) or an ``(x, y)`` tuple of arrays: wrapped in a
  ``DataLoader`` with the given ``batch_size``, ``shuffle`` and ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..data import DataLoader


def is_loader(data) -> bool:
    """A loader yields batches: iterable, with ``len``, and not indexable by example (not a dataset)."""
    if isinstance(data, DataLoader):
        return True
    return hasattr(data, "__iter__") and hasattr(data, "__len__") and not hasattr(data, "__getitem__")


def as_loader(data, batch_size: int, shuffle: bool, seed, owner: str, role: str = "data", transform=None):
    """``data`` as a loader of ``(x, y)`` batches (see the module's docstring); ``transform`` goes
    to a ``DataLoader`` made here."""
    if data is None:
        raise TypeError(f"{owner}: {role} is None; expected a DataLoader, a dataset or an (x, y) tuple of arrays")
    if isinstance(data, list) and len(data) == 2 and all(isinstance(a, np.ndarray) for a in data):
        data = tuple(data)
    if isinstance(data, tuple) or not is_loader(data):
        if not (isinstance(data, tuple) or hasattr(data, "__getitem__")):
            raise TypeError(f"{owner}: {role} must be a DataLoader, a dataset or an (x, y) tuple of arrays, "
                            f"got {type(data).__name__}")
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed, transform=transform)
    return data


__all__ = ["as_loader", "is_loader"]
