"""CIFAR-10 and CIFAR-100, "python version" batch files, read without running any code from them.

Each file is a pickle (protocol 2, written by Python 2) of a dict with bytes keys: ``b'data'``, a
uint8 array ``(N, 3072)`` (per image 1024 red, then green, then blue values, rows in order),
labels as a list of ints (``b'labels'``; CIFAR-100: ``b'fine_labels'``, ``b'coarse_labels'``),
and ``b'filenames'``, ``b'batch_label'``. CIFAR-10: ``data_batch_1`` .. ``data_batch_5``,
``test_batch``, and ``batches.meta`` (``b'label_names'``); CIFAR-100: ``train``, ``test`` and
``meta`` (``b'fine_label_names'``, ``b'coarse_label_names'``).

A pickle may name any importable callable, which unpickling calls: ``pickle.load`` on a
downloaded file can run anything. ``load_pickle`` uses an unpickler that admits only what
these files need to rebuild a NumPy array (``numpy.core.multiarray._reconstruct``, spelled
``numpy._core.multiarray`` by NumPy 2, ``numpy.ndarray`` and ``numpy.dtype``) and refuses every
other global, and any array of Python objects, with an error naming the file.
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from ..errors import ShapeError, shape_str
from .dataset import ArrayDataset, DataSplit

try:                                               # NumPy 2 moved it; old files name numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct


def _checked_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"an array of Python objects (dtype {dtype}) is not allowed")
    return dtype


ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _checked_dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``ALLOWED_GLOBALS`` (NumPy's array rebuilding) and nothing else."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load the global {module}.{name} (only NumPy arrays, dicts, "
                                         f"lists, bytes and numbers are allowed)") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id (not part of the CIFAR format)")


def _check_values(obj, depth: int = 0):
    """Refuse object arrays anywhere in the loaded structure (they could hold anything)."""
    if depth > 8:
        raise pickle.UnpicklingError("nested deeper than the CIFAR format is")
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise pickle.UnpicklingError(f"an array of Python objects (dtype {obj.dtype}) is not allowed")
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for _, value in items:
        if isinstance(value, (dict, list, tuple, np.ndarray)):
            _check_values(value, depth + 1)


def load_pickle(path, owner: str = "load_pickle"):
    """Unpickle ``path`` with ``RestrictedUnpickler`` (bytes keys, as ``encoding='bytes'``).

    Raises ``ValueError`` naming the file for anything else than plain data and NumPy arrays.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            obj = RestrictedUnpickler(handle, encoding="bytes").load()
        _check_values(obj)
    except OSError:
        raise
    except Exception as error:        # a damaged pickle fails in many ways; each is "not a batch file"
        raise ValueError(f"{owner}: {path} is not a CIFAR python batch file: {error}") from error
    return obj


def _field(batch, key: bytes, path: str, owner: str):
    if not isinstance(batch, dict) or key not in batch:
        found = sorted(batch)[:8] if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{owner}: {path} has no {key!r} entry (found {found})")
    return batch[key]


def _names(meta_path: str, key: bytes, owner: str) -> tuple[str, ...]:
    names = _field(load_pickle(meta_path, owner), key, meta_path, owner)
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise ValueError(f"{owner}: {meta_path}: {key!r} must be a list of names")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)


def read_batches(paths, label_key: bytes, num_classes: int, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of several batch files, concatenated.

    Shape: ``x (N, 3, 32, 32)`` float32 in ``[0, 1]``, ``y (N,)`` int64.
    """
    xs, ys = [], []
    for path in paths:
        batch = load_pickle(path, owner)
        data = np.asarray(_field(batch, b"data", path, owner))
        labels = np.asarray(_field(batch, label_key, path, owner))
        labels = labels if labels.size else labels.astype(np.int64)     # [] reads as float64
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ShapeError(f"{owner}: {path}: expected data uint8 (N, 3072), got {data.dtype} "
                             f"{shape_str(data.shape)}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(data):
            raise ShapeError(f"{owner}: {path}: expected {len(data)} integer labels, got {labels.dtype} "
                             f"{shape_str(labels.shape)}")
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{owner}: {path}: labels must lie in [0, {num_classes}), found {labels.min()}.."
                             f"{labels.max()}")
        xs.append(data.reshape(-1, 3, 32, 32))                        # (n, 3, 32, 32): planes R, G, B
        ys.append(labels.astype(np.int64))
    x = np.concatenate(xs)
    return np.divide(x, 255, dtype=np.float32), np.concatenate(ys)


def _folder(root, subfolder: str, marker: str, owner: str) -> str:
    """``root`` itself if it holds ``marker``, else ``root/subfolder`` (the archive's folder)."""
    root = os.fspath(root)
    for folder in (root, os.path.join(root, subfolder)):
        if os.path.isfile(os.path.join(folder, marker)):
            return folder
    raise FileNotFoundError(f"{owner}: no {marker} in {root} or {os.path.join(root, subfolder)}; extract the "
                            f"python version of the data set there (the folder {subfolder}/)")


def cifar10(root) -> DataSplit:
    """CIFAR-10 from its python batches in ``root`` (or ``root/cifar-10-batches-py``): 50,000 + 10,000 images.

    Args:
        root: the folder with the python batches (or its parent holding ``cifar-10-batches-py``).

    Shape: ``train.x (50000, 3, 32, 32)`` float32 in ``[0, 1]``, ``train.y (50000,)`` int64;
    ten classes from ``batches.meta`` (airplane, automobile, ...).

    Example:
        >>> data = cifar10("/path/to/cifar-10-batches-py")   # doctest: +SKIP
        >>> data.input_shape, len(data.train), data.classes[0]   # doctest: +SKIP
        ((3, 32, 32), 50000, 'airplane')
    """
    owner = "cifar10"
    folder = _folder(root, "cifar-10-batches-py", "batches.meta", owner)
    classes = _names(os.path.join(folder, "batches.meta"), b"label_names", owner)
    train = [os.path.join(folder, f"data_batch_{i}") for i in range(1, 6)]
    test = [os.path.join(folder, "test_batch")]
    missing = [p for p in train + test if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{owner}: missing {', '.join(missing)}")
    parts = [ArrayDataset(*read_batches(paths, b"labels", len(classes), owner), classes) for paths in (train, test)]
    return DataSplit(owner, *parts)


def cifar100(root, labels: str = "fine") -> DataSplit:
    """CIFAR-100 from ``train``, ``test`` and ``meta`` in ``root`` (or ``root/cifar-100-python``).

    ``labels``: ``'fine'`` (100 classes, the default) or ``'coarse'`` (20 superclasses).

    Args:
        root: the folder with ``train``, ``test`` and ``meta`` (or its parent holding
            ``cifar-100-python``).
        labels: ``'fine'`` (100 classes) or ``'coarse'`` (20 superclasses).

    Shape: ``train.x (50000, 3, 32, 32)`` float32 in ``[0, 1]``, ``train.y (50000,)`` int64.

    Example:
        >>> data = cifar100("/path/to/cifar-100-python", labels="coarse")   # doctest: +SKIP
        >>> data.num_classes   # doctest: +SKIP
        20
    """
    owner = "cifar100"
    if labels not in ("fine", "coarse"):
        raise ValueError(f"{owner}: labels must be 'fine' or 'coarse', got {labels!r}")
    folder = _folder(root, "cifar-100-python", "meta", owner)
    classes = _names(os.path.join(folder, "meta"), f"{labels}_label_names".encode(), owner)
    missing = [p for p in (os.path.join(folder, "train"), os.path.join(folder, "test")) if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{owner}: missing {', '.join(missing)}")
    key = f"{labels}_labels".encode()
    parts = [ArrayDataset(*read_batches([os.path.join(folder, name)], key, len(classes), owner), classes)
             for name in ("train", "test")]
    return DataSplit(owner, *parts)


__all__ = ["cifar10", "cifar100", "load_pickle", "RestrictedUnpickler"]
