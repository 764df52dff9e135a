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

from .dataset import ArrayDataset, DataSplit

TEST_FRACTION = 0.2


@dataclass
class Split:
    """Images ``(N, 1, H, W)`` float32 and labels ``(N,)`` int64 for training and testing.

    Args:
        x_train: the training images ``(N, 1, H, W)``, float32.
        y_train: their labels ``(N,)``, int64.
        x_test: the test images ``(M, 1, H, W)``, float32.
        y_test: their labels ``(M,)``, int64.
        classes: the class names, label ``k`` the ``k``-th.

    Example:
        >>> s = Split(np.zeros((2, 1, 8, 8), np.float32), np.array([0, 1]), np.zeros((1, 1, 8, 8), np.float32),
        ...           np.array([1]), ("0", "1"))
        >>> s.x_train.shape, s.classes
        ((2, 1, 8, 8), ('0', '1'))
    """

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

    Args:
        images: a batch ``(N, C, H, W)``.
        factor: how many times each pixel is repeated along each axis.

    Shape: ``(N, C, H, W) -> (N, C, H*factor, W*factor)``.

    Example:
        >>> upsample_nearest(np.array([[[[1, 2]]]]), 2).tolist()
        [[[[1, 1, 2, 2], [1, 1, 2, 2]]]]
    """
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


def _prepared(size: int, split_seed: int, test_fraction: float, standardize: bool, owner: str) -> Split:
    if not isinstance(size, int) or isinstance(size, bool) or size < 8 or size % 8:
        raise ValueError(f"{owner}: size must be a multiple of 8 (8, 16, 32, ...), got {size!r}")
    load_digits, train_test_split = _require_sklearn()
    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None]          # (1797, 1, 8, 8) in [0, 1]
    labels = bunch.target.astype(np.int64)                              # (1797,)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=split_seed)
    x_train = upsample_nearest(x_train, size // 8)                      # (N, 1, size, size)
    x_test = upsample_nearest(x_test, size // 8)
    if standardize:
        mean, std = float(x_train.mean()), float(x_train.std())
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return Split(x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test,
                 tuple(str(c) for c in bunch.target_names))


def load_digits_split(size: int = 32, split_seed: int = 0, test_fraction: float = TEST_FRACTION) -> Split:
    """The digits as a stratified train/test split, upsampled to ``size`` x ``size`` and standardised.

    ``size`` must be a multiple of 8 (8, 16, 32, ...).

    Args:
        size: height and width after upsampling (a multiple of 8).
        split_seed: seed of the stratified train/test split.
        test_fraction: share of the images held out for testing.

    Example:
        >>> s = load_digits_split(size=8)
        >>> s.x_train.shape, s.y_test.shape
        ((1437, 1, 8, 8), (360,))
    """
    return _prepared(size, split_seed, test_fraction, True, "load_digits_split")


def digits(size: int = 32, standardize: bool = True, split_seed: int = 0,
           test_fraction: float = TEST_FRACTION) -> DataSplit:
    """scikit-learn's 1,797 digits: 1,437 train / 360 test images (the split of ``load_digits_split``).

    Pixels ``0..16`` scaled to ``[0, 1]``, upsampled by pixel repetition to ``size`` x ``size``
    (a multiple of 8; 32 is LeNet-5's input), then, with ``standardize``, shifted and scaled by
    the training images' mean and standard deviation (one number each). Classes ``'0'..'9'``.

    Args:
        size: height and width after upsampling (a multiple of 8; 32 is LeNet-5's input).
        standardize: shift and scale by the training images' mean and standard deviation.
        split_seed: seed of the stratified train/test split.
        test_fraction: share of the images held out for testing.

    Shape: ``train.x (1437, 1, size, size)`` float32, ``train.y (1437,)`` int64; test 360.

    Example:
        >>> data = digits(size=16)
        >>> data.input_shape, len(data.train), len(data.test), data.num_classes
        ((1, 16, 16), 1437, 360, 10)
    """
    split = _prepared(size, split_seed, test_fraction, bool(standardize), "digits")
    return DataSplit("digits", ArrayDataset(split.x_train, split.y_train, split.classes),
                     ArrayDataset(split.x_test, split.y_test, split.classes))
