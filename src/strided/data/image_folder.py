"""Images from a folder tree, one sub-folder per class (torchvision's ``ImageFolder`` layout).

::

    root/cat/001.png   root/cat/002.jpg   root/dog/xyz.jpeg   ...

Classes are the sub-folder names, sorted (label ``k`` is the ``k``-th name); files ending in
``.png``, ``.jpg`` or ``.jpeg`` (any case) are read with Pillow (the optional extra
``strided[images]``), other files are ignored. All images are loaded into memory at once.
"""

from __future__ import annotations

import os

import numpy as np

from ..checks import as_tuple
from .dataset import ArrayDataset

EXTENSIONS = (".png", ".jpg", ".jpeg")
COLORS = ("auto", "rgb", "gray")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _require_pillow():
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("image_folder() reads images with Pillow: pip install 'strided[images]' "
                          "(or pip install Pillow)") from error
    return Image


def _files(root: str, owner: str) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{owner}: {root} is not a folder")
    classes = tuple(sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
                           and not d.startswith(".")))
    if not classes:
        raise FileNotFoundError(f"{owner}: {root} has no class sub-folders (expected root/<class>/<image>.png)")
    files = [(os.path.join(root, name, f), label) for label, name in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(root, name))) if f.lower().endswith(EXTENSIONS)]
    if not files:
        raise FileNotFoundError(f"{owner}: no {'/'.join(EXTENSIONS)} images in the sub-folders of {root}")
    return classes, files


def image_folder(root, size, color: str = "auto") -> ArrayDataset:
    """Every image under ``root/<class>/``, resized to ``size`` (an int, or ``(height, width)``).

    ``color``: ``'rgb'`` (3 channels), ``'gray'`` (1 channel, Pillow's ``L`` conversion), or
    ``'auto'``: grey if every image is stored grey, else RGB for all (grey images repeated on
    the three channels, palettes expanded, alpha dropped). Images whose size differs from
    ``size`` are resized by Pillow's bilinear filter. Pixels are scaled to ``[0, 1]``.

    Args:
        root: the folder holding one sub-folder per class.
        size: an int (square) or ``(height, width)``; every image is resized to it.
        color: ``'rgb'``, ``'gray'``, or ``'auto'`` (grey when every image is grey).

    Shape: ``x (N, C, height, width)`` float32 with ``C`` 1 or 3, ``y (N,)`` int64, ``classes``
    the sorted sub-folder names.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for name in ("cat", "dog"):
        ...     os.mkdir(os.path.join(root, name))
        ...     Image.new("RGB", (6, 4), (255, 0, 0)).save(os.path.join(root, name, "1.png"))
        >>> ds = image_folder(root, size=8)
        >>> ds.x.shape, ds.y.tolist(), ds.classes
        ((2, 3, 8, 8), [0, 1], ('cat', 'dog'))
    """
    owner = "image_folder"
    Image = _require_pillow()
    height, width = as_tuple(size, 2, "size", owner)
    if color not in COLORS:
        raise ValueError(f"{owner}: color must be one of {COLORS}, got {color!r}")
    classes, files = _files(os.fspath(root), owner)

    def read(path, mode=None):
        try:
            with Image.open(path) as image:                  # the header only, until converted
                return image.mode if mode is None else image.convert(mode)
        except (OSError, SyntaxError, ValueError) as error:   # UnidentifiedImageError is an OSError
            raise ValueError(f"{owner}: cannot read {path} as an image ({type(error).__name__}: {error})") from error

    if color == "auto":
        color = "gray" if all(read(path) in GRAY_MODES for path, _ in files) else "rgb"
    mode = "L" if color == "gray" else "RGB"
    x = np.empty((len(files), 1 if mode == "L" else 3, height, width), np.float32)     # (N, C, H, W)
    for i, (path, _) in enumerate(files):
        image = read(path, mode)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, np.uint8)                             # (H, W) or (H, W, 3)
        x[i] = (pixels[None] if mode == "L" else pixels.transpose(2, 0, 1)) / np.float32(255)
    y = np.array([label for _, label in files], np.int64)
    return ArrayDataset(x, y, classes)


__all__ = ["image_folder"]
