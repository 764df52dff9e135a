"""MNIST-format IDX files (MNIST, Fashion-MNIST), gzipped or not, read without any download.

The IDX format (LeCun et al.): a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
sizes as big-endian 32-bit unsigned ints, then the values in C order, big-endian. Type codes:
``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64.
A gzipped file is recognised by its first two bytes (``1f 8b``), whatever its name.

>>> # fm = fashion_mnist()                 # Debian's dataset-fashion-mnist, or fashion_mnist("folder")
>>> # fm.train.x.shape, fm.classes[9]      # ((60000, 1, 28, 28), 'Ankle boot')
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ..errors import ShapeError, shape_str
from .dataset import ArrayDataset, DataSplit

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))


def _read_bytes(path: str, owner: str) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:   # BadGzipFile is an OSError
        raise ValueError(f"{owner}: {path} is a damaged gzip file ({type(error).__name__}: {error})") from error


def read_idx(path, owner: str = "read_idx") -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzipped or not), in native byte order.

    Refuses, naming the file: a wrong magic number, an unknown type code, and a payload shorter
    or longer than its header's sizes announce.

    Args:
        path: the IDX file (``.gz`` is decompressed).
        owner: the name used in error messages.

    Shape: as the header says, e.g. ``(60000, 28, 28)`` uint8 for MNIST's training images.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> with open(path, "wb") as f:      # magic 0x00 0x00 0x08 (uint8) 0x01 (1-D), size 3, values
        ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(path).tolist()
        [7, 8, 9]
    """
    path = os.fspath(path)
    raw = _read_bytes(path, owner)
    if len(raw) < 4:
        raise ValueError(f"{owner}: {path} is not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    zero, code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in IDX_TYPES or ndim == 0:
        raise ValueError(f"{owner}: {path} is not an IDX file: magic number 0x{raw[:4].hex()} (expected 0x0000, a "
                         f"type code in {[hex(c) for c in IDX_TYPES]} and a dimension count >= 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{owner}: {path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        state = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise ValueError(f"{owner}: {path} is {state}: shape {shape_str(shape)} of {dtype.name} needs "
                         f"{expected} bytes after the {header}-byte header, found {len(raw) - header}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))             # native order, and a writable copy


def idx(images, labels, classes=None) -> ArrayDataset:
    """An ``ArrayDataset`` from an IDX image file and an IDX label file (MNIST's format).

    Images ``(N, H, W)`` become ``(N, 1, H, W)`` float32, uint8 pixels scaled to ``[0, 1]``
    (other types kept as numbers); labels must be one integer per image (int64).

    Args:
        images: path of an IDX image file.
        labels: path of the matching IDX label file.
        classes: class names (optional).

    Shape: ``x (N, 1, H, W)`` (``(N, C, H, W)`` for 4-D files), ``y (N,)``.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> def write_idx(name, a):          # uint8 IDX: magic 0x00 0x00 0x08 ndim, big-endian sizes, values
        ...     with open(os.path.join(root, name), "wb") as f:
        ...         _ = f.write(bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes())
        >>> write_idx("images", np.full((2, 3, 3), 255, np.uint8))
        >>> write_idx("labels", np.array([4, 2], np.uint8))
        >>> ds = idx(os.path.join(root, "images"), os.path.join(root, "labels"))
        >>> ds.x.shape, float(ds.x.max()), ds.y.tolist()
        ((2, 1, 3, 3), 1.0, [4, 2])
    """
    owner = "idx"
    x, y = read_idx(images, owner), read_idx(labels, owner)
    if x.ndim == 3:
        x = x[:, None]                                                   # (N, 1, H, W)
    elif x.ndim != 4:
        raise ShapeError(f"{owner}: {os.fspath(images)} holds an array of shape {shape_str(x.shape)}, expected images "
                         f"(N, H, W) or (N, C, H, W)")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ShapeError(f"{owner}: {os.fspath(labels)} holds {y.dtype.name} {shape_str(y.shape)}, expected integer "
                         f"labels (N,)")
    if len(x) != len(y):
        raise ShapeError(f"{owner}: {os.fspath(images)} has {len(x)} images but {os.fspath(labels)} has {len(y)} "
                         f"labels")
    x = np.divide(x, 255, dtype=np.float32) if x.dtype == np.uint8 else x.astype(np.float32)
    return ArrayDataset(x, y.astype(np.int64), classes)


def _find(folder: str, name: str) -> str | None:
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def _standard_files(owner: str, folders, how_to_get: str) -> tuple[str, dict]:
    """The first folder holding all four standard files, and their paths."""
    names = [n for pair in FILES.values() for n in pair]
    report = []
    for folder in folders:
        found = {n: _find(folder, n) for n in names}
        if all(found.values()):
            return folder, found
        missing = [n for n, p in found.items() if p is None]
        report.append(f"{folder} ({'not a folder' if not os.path.isdir(folder) else 'missing ' + ', '.join(missing)})")
    raise FileNotFoundError(f"{owner}: the IDX files were not found; looked in: {'; '.join(report) or 'nowhere'}. "
                            f"{how_to_get} Each folder must hold {', '.join(n + '[.gz]' for n in names)}.")


def _load(owner: str, folders, classes, how_to_get: str) -> DataSplit:
    _, paths = _standard_files(owner, folders, how_to_get)
    parts = {split: idx(paths[images], paths[labels], classes) for split, (images, labels) in FILES.items()}
    return DataSplit(owner, parts["train"], parts["test"])


def mnist(root) -> DataSplit:
    """MNIST from the four standard IDX files in ``root`` (gzipped or not): 60,000 + 10,000 digits.

    Args:
        root: a folder with MNIST's four IDX files (gzipped or not).

    Shape: ``train.x (60000, 1, 28, 28)`` float32 in ``[0, 1]``, ``train.y (60000,)`` int64; classes ``'0'..'9'``.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> def write_idx(name, a):          # uint8 IDX: magic 0x00 0x00 0x08 ndim, big-endian sizes, values
        ...     with open(os.path.join(root, name), "wb") as f:
        ...         _ = f.write(bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes())
        >>> for part, n in (("train", 3), ("t10k", 2)):   # tiny stand-ins for the four standard files
        ...     write_idx(f"{part}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        ...     write_idx(f"{part}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
        >>> mnist(root)
        DataSplit('mnist': train 3, test 2, input (1, 28, 28), 10 classes)
    """
    return _load("mnist", [os.fspath(root)], DIGIT_CLASSES, "Place the MNIST files in that folder.")


def fashion_mnist(root=None) -> DataSplit:
    """Fashion-MNIST (Zalando): 60,000 + 10,000 28x28 grey images of clothing in ten classes.

    Reads the four standard IDX files from ``root`` if given, else from Debian's
    ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``). Classes:
    T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.

    Args:
        root: a folder with the four IDX files (gzipped or not); ``None`` looks in Debian's
            ``dataset-fashion-mnist`` folder.

    Shape: ``train.x (60000, 1, 28, 28)`` float32 in ``[0, 1]``, ``train.y (60000,)`` int64.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> def write_idx(name, a):          # uint8 IDX: magic 0x00 0x00 0x08 ndim, big-endian sizes, values
        ...     with open(os.path.join(root, name), "wb") as f:
        ...         _ = f.write(bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes())
        >>> for part, n in (("train", 3), ("t10k", 2)):   # tiny stand-ins for the four standard files
        ...     write_idx(f"{part}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        ...     write_idx(f"{part}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))
        >>> fm = fashion_mnist(root)       # fashion_mnist() reads Debian's dataset-fashion-mnist
        >>> len(fm.train), fm.classes[9]
        (3, 'Ankle boot')
    """
    folders = [os.fspath(root)] if root is not None else list(FASHION_DIRS)
    how = ("Install them with 'apt-get install dataset-fashion-mnist' (Debian, Ubuntu), or place the files in a "
           "folder and pass it as root.")
    return _load("fashion_mnist", folders, FASHION_CLASSES, how)


__all__ = ["read_idx", "idx", "mnist", "fashion_mnist", "FASHION_CLASSES"]
