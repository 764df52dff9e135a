"""Data augmentation and preparation on whole batches, vectorised over the batch.

A transform is any callable ``transform(x_batch, rng) -> x_batch``; ``rng`` is the
``numpy.random.Generator`` the loader hands to that batch (``DataLoader``: one per
``(seed, epoch, batch)``), and random transforms draw only from it, one array of draws per
batch (documented per class), so a batch is reproducible from its generator alone.
``Compose`` chains transforms, which then draw from the same generator in turn.

>>> import numpy as np
>>> t = Compose([ToFloat(), RandomCrop(28, padding=2), RandomHorizontalFlip(), Normalize([0.5], [0.25])])
>>> t(np.zeros((8, 1, 28, 28), np.uint8), np.random.default_rng(0)).shape
(8, 1, 28, 28)
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..checks import as_int, as_tuple, is_int
from ..errors import expected_input
from ..nn.draws import make_rng
from ..windows import pad
from .geometric import RandomRotation, Resize, check_images, rotate

PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge",
             "circular": "wrap", "symmetric": "symmetric"}


def random_shift(images: np.ndarray, max_shift: int, rng=None) -> np.ndarray:
    """Translate each image by its own random offset in ``[-max_shift, max_shift]`` per axis, zero-filled.

    Draws ``rng.integers(-max_shift, max_shift + 1, size=(2, N))`` (row offsets, column offsets).

    Args:
        images: a batch ``(N, C, H, W)``.
        max_shift: the largest translation in pixels, per axis.
        rng: the Generator the offsets are drawn from.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> random_shift(np.ones((2, 1, 4, 4)), 1, rng=0).shape
        (2, 1, 4, 4)
    """
    if max_shift == 0:
        return images
    rng = make_rng(rng)
    n, _, h, w = images.shape
    s = max_shift
    padded = pad(images, ((s, s), (s, s)))                                # (N, C, H+2s, W+2s)
    dy, dx = rng.integers(-s, s + 1, size=(2, n))                        # (N,), (N,)
    return crop_each(padded, s + dy, s + dx, h, w)


def crop_each(x: np.ndarray, top: np.ndarray, left: np.ndarray, h: int, w: int) -> np.ndarray:
    """Cut an ``h`` x ``w`` window out of each image, image ``i``'s at ``(top[i], left[i])``.

    Args:
        x: the images.
        top: each window's first row, one per image (the window must fit inside the image).
        left: each window's first column, one per image.
        h: the window's height.
        w: the window's width.

    Shape: ``(N, C, H, W)``, ``top``/``left`` ``(N,)`` -> ``(N, C, h, w)``.

    Example:
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> crop_each(x, np.array([1]), np.array([2]), 2, 2)[0, 0].tolist()
        [[6.0, 7.0], [10.0, 11.0]]
    """
    windows = sliding_window_view(x, (h, w), axis=(2, 3))               # (N, C, H-h+1, W-w+1, h, w), a view
    # one (h, w) window per image: rows of w contiguous pixels copied at once (10x faster than
    # indexing every pixel)
    return windows[np.arange(len(x)), :, np.asarray(top), np.asarray(left)]   # (N, C, h, w)


class Compose:
    """Apply ``transforms`` in order, each with the same generator: ``Compose([a, b])(x, g) == b(a(x, g), g)``.

    Args:
        transforms: the transforms, applied in order, each ``t(x_batch, rng)``.

    Example:
        >>> t = Compose([ToFloat(), Normalize(0.5, 0.5)])
        >>> t(np.array([[[[0, 255]]]], np.uint8)).tolist()
        [[[[-1.0, 1.0]]]]
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable (x, rng) -> x, got {t!r}")

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat:
    """uint8 pixels ``0..255`` to float32 in ``[0, 1]`` (``x / 255``); float input becomes float32 unchanged.

    Shape: ``(N, *) -> (N, *)``, float32.

    Example:
        >>> ToFloat()(np.array([0, 255], np.uint8)).tolist()
        [0.0, 1.0]
    """

    def __call__(self, x, rng=None) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype == np.uint8:
            return np.divide(x, 255, dtype=np.float32)
        if x.dtype.kind == "f":
            return x.astype(np.float32, copy=False)
        raise TypeError(f"ToFloat: expected uint8 or float input, got dtype {x.dtype}")

    def __repr__(self) -> str:
        return "ToFloat()"


class Normalize:
    """Per channel: ``(x[:, c] - mean[c]) / std[c]``; a single number applies to every channel.

    Args:
        mean: one number, or one per channel.
        std: one positive number, or one per channel.

    Shape: ``(N, C, *) -> (N, C, *)``, float32 (integer input is converted first, not rescaled:
    put ``ToFloat`` before it for uint8 images).

    Example:
        >>> Normalize([1.0, 2.0], [2.0, 4.0])(np.ones((1, 2, 1, 1))).ravel().tolist()
        [0.0, -0.25]
    """

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, np.float64))
        self.std = np.atleast_1d(np.asarray(std, np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or 1-D sequences, got {mean!r}, {std!r}")
        if np.any(self.std <= 0) or not np.all(np.isfinite(self.std)):
            raise ValueError(f"Normalize: std must be positive and finite, got {std!r}")

    def __call__(self, x, rng=None) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            raise expected_input(repr(self), "(N, C, *)", x.shape)
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise expected_input(repr(self), f"(N, {len(v)}, *) to match {name}", x.shape)
        at = (1, -1) + (1,) * (x.ndim - 2)
        mean = self.mean.astype(np.float32).reshape(at)                  # (1, C, 1, ...)
        std = self.std.astype(np.float32).reshape(at)
        return (x.astype(np.float32, copy=False) - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def as_padding(padding, owner: str) -> tuple[int, int, int, int]:
    """torchvision's padding forms as ``(left, top, right, bottom)``: an int, ``(lr, tb)`` or 4 ints."""
    if is_int(padding):
        padding = (padding,) * 4
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        padding = (padding[0], padding[1], padding[0], padding[1])
    if not (isinstance(padding, (tuple, list)) and len(padding) == 4):
        raise TypeError(f"{owner}: padding must be an int, (left/right, top/bottom) or (left, top, right, bottom), "
                        f"got {padding!r}")
    return as_tuple(tuple(padding), 4, "padding", owner, minimum=0)


class Pad:
    """Pad every image: ``padding`` as torchvision (an int, ``(left/right, top/bottom)``, or
    ``(left, top, right, bottom)``); ``mode``: ``'constant'`` (with ``value``), ``'reflect'``
    (edge not repeated), ``'replicate'`` (= ``'edge'``), ``'circular'``, ``'symmetric'`` (edge repeated).

    Args:
        padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        mode: ``'constant'``, ``'reflect'``, ``'replicate'`` (``'edge'``), ``'circular'`` or
            ``'symmetric'``.
        value: the fill of ``'constant'``.

    Shape: ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``.

    Example:
        >>> Pad((1, 2))(np.ones((1, 1, 4, 4))).shape
        (1, 1, 8, 6)
    """

    def __init__(self, padding, mode: str = "constant", value: float = 0.0):
        self.padding = as_padding(padding, "Pad")
        if mode not in PAD_MODES:
            raise ValueError(f"Pad: mode must be one of {tuple(PAD_MODES)}, got {mode!r}")
        if mode != "constant" and value:
            raise ValueError(f"Pad: mode={mode!r} takes no value, got value={value!r}")
        self.mode, self.value = mode, value

    def __call__(self, x, rng=None) -> np.ndarray:
        x = check_images(x, repr(self))
        left, top, right, bottom = self.padding
        if self.mode in ("reflect", "circular") and (max(top, bottom) > x.shape[2] - (self.mode == "reflect")
                                                     or max(left, right) > x.shape[3] - (self.mode == "reflect")):
            raise expected_input(repr(self), f"images larger than the padding for mode={self.mode!r}", x.shape)
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.mode == "constant":
            return pad(x, widths[2:], self.value)
        return np.pad(x, widths, mode=PAD_MODES[self.mode])

    def __repr__(self) -> str:
        return f"Pad(padding={self.padding}, mode={self.mode!r})"


class CenterCrop:
    """Keep the central ``size`` (an int or ``(h, w)``) window; its top-left corner is
    ``(int(round((H - h) / 2)), int(round((W - w) / 2)))``, as torchvision.

    Args:
        size: an int or ``(h, w)``.

    Shape: ``(N, C, H, W) -> (N, C, h, w)``.

    Example:
        >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
        >>> CenterCrop(2)(x)[0, 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(self, size):
        self.size = as_tuple(size, 2, "size", "CenterCrop")

    def __call__(self, x, rng=None) -> np.ndarray:
        x = check_images(x, repr(self))
        (h, w), (height, width) = self.size, x.shape[2:]
        if h > height or w > width:
            raise expected_input(repr(self), f"images of at least {h} x {w}", x.shape)
        top, left = round((height - h) / 2), round((width - w) / 2)
        return x[:, :, top:top + h, left:left + w]

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """Pad by ``padding`` (as ``Pad``), then cut a ``size`` window at a random place in each image.

    Draws ``top = rng.integers(0, H' - h + 1, size=N)`` then ``left = rng.integers(0, W' - w + 1, size=N)``
    (``H', W'``: the padded size): every position equally likely.

    Args:
        size: an int or ``(h, w)``: the window kept.
        padding: padding added first, as ``Pad``'s.
        padding_mode: as ``Pad``'s ``mode``.
        value: the fill of ``'constant'`` padding.

    Shape: ``(N, C, H, W) -> (N, C, h, w)``.

    Example:
        >>> RandomCrop(4, padding=2)(np.ones((3, 1, 4, 4)), np.random.default_rng(0)).shape
        (3, 1, 4, 4)
    """

    def __init__(self, size, padding=0, padding_mode: str = "constant", value: float = 0.0):
        self.size = as_tuple(size, 2, "size", "RandomCrop")
        self.pad = Pad(padding, padding_mode, value)

    def __call__(self, x, rng) -> np.ndarray:
        x = self.pad(check_images(x, repr(self)))                        # (N, C, H', W')
        (h, w), (height, width) = self.size, x.shape[2:]
        if h > height or w > width:
            raise expected_input(repr(self), f"images of at least {h} x {w} after padding", x.shape)
        top = rng.integers(0, height - h + 1, size=len(x))                # (N,)
        left = rng.integers(0, width - w + 1, size=len(x))                # (N,)
        return crop_each(x, top, left, h, w)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.pad.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``: draws ``rng.random(N) < p``.

    Args:
        p: the probability of mirroring each image.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> flip = RandomHorizontalFlip(p=1.0)
        >>> flip(np.arange(3.0).reshape(1, 1, 1, 3), np.random.default_rng(0)).ravel().tolist()
        [2.0, 1.0, 0.0]
    """

    def __init__(self, p: float = 0.5):
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x, rng) -> np.ndarray:
        x = check_images(x, repr(self))
        flip = rng.random(len(x)) < self.p                                # (N,)
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomShift:
    """Translate each image by up to ``max_shift`` pixels per axis, zero-filled (``random_shift``).

    Args:
        max_shift: the largest translation in pixels, per axis.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> RandomShift(1)(np.ones((2, 1, 5, 5)), np.random.default_rng(0)).shape
        (2, 1, 5, 5)
    """

    def __init__(self, max_shift: int):
        self.max_shift = as_int(max_shift, "max_shift", "RandomShift", minimum=0)

    def __call__(self, x, rng) -> np.ndarray:
        return random_shift(check_images(x, repr(self)), self.max_shift, rng)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"


__all__ = ["Compose", "ToFloat", "Normalize", "Pad", "CenterCrop", "RandomCrop", "RandomHorizontalFlip",
           "RandomShift", "RandomRotation", "Resize", "rotate", "random_shift", "crop_each"]
