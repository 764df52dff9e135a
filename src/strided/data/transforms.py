"""Data augmentation on batches of images, vectorised over the batch."""

from __future__ import annotations

import numpy as np

from ..nn.init import make_rng


def random_shift(images: np.ndarray, max_shift: int, rng=None) -> np.ndarray:
    """Translate each image by its own random offset in ``[-max_shift, max_shift]`` per axis, zero-filled.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """
    if max_shift == 0:
        return images
    rng = make_rng(rng)
    n, c, h, w = images.shape
    s = max_shift
    padded = np.pad(images, ((0, 0), (0, 0), (s, s), (s, s)))            # (N, C, H+2s, W+2s)
    dy, dx = rng.integers(-s, s + 1, size=(2, n))                        # (N,), (N,)
    rows = (s + dy)[:, None] + np.arange(h)                              # (N, H)
    cols = (s + dx)[:, None] + np.arange(w)                              # (N, W)
    batch = np.arange(n)[:, None, None, None]                            # (N, 1, 1, 1)
    channel = np.arange(c)[None, :, None, None]                          # (1, C, 1, 1)
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]   # (N, C, H, W)
