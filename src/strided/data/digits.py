"""scikit-learn's handwritten digits (1,797 real 8x8 scans), prepared for LeNet-5.

The images ship inside scikit-learn, so nothing is downloaded. Each 8x8 image (values 0..16)
is scaled to [0, 1] and upsampled to 32x32 by repeating every pixel in a 4x4 block (nearest
neighbour), which is LeNet-5's input size; then standardised with the training set's mean and
standard deviation. The train/test split is stratified and fixed (``split_seed``), independent
of the training seed, so every run is scored on the same 360 test images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEST_FRACTION = 0.2


@dataclass
class Split:
    """Images ``(N, 1, H, W)`` float32 and labels ``(N,)`` int64 for training and testing."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]


def _require_sklearn():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the digits data set comes from scikit-learn: pip install 'strided[data]' "
                          "(or pip install scikit-learn)") from error
    return load_digits, train_test_split


def upsample_nearest(images: np.ndarray, factor: int) -> np.ndarray:
    """Repeat each pixel ``factor`` times along both spatial axes.

    Shape: ``(N, C, H, W) -> (N, C, H*factor, W*factor)``.
    """
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


def load_digits_split(size: int = 32, split_seed: int = 0, test_fraction: float = TEST_FRACTION) -> Split:
    """The digits as a stratified train/test split, upsampled to ``size`` x ``size`` and standardised.

    ``size`` must be a multiple of 8 (8, 16, 32, ...).
    """
    if size % 8:
        raise ValueError(f"load_digits_split: size must be a multiple of 8, got {size}")
    load_digits, train_test_split = _require_sklearn()
    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None]          # (1797, 1, 8, 8) in [0, 1]
    labels = bunch.target.astype(np.int64)                              # (1797,)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=split_seed)
    x_train = upsample_nearest(x_train, size // 8)                      # (N, 1, size, size)
    x_test = upsample_nearest(x_test, size // 8)
    mean, std = float(x_train.mean()), float(x_train.std())
    return Split(((x_train - mean) / std).astype(np.float32), y_train,
                 ((x_test - mean) / std).astype(np.float32), y_test,
                 tuple(str(c) for c in bunch.target_names))
