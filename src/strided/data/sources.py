"""Data sets named by a short spec string, as the command line takes them: ``"fashion-mnist"``, ``"idx:a,b"``.

==========================================================  ==============================================
``digits`` (``digits:SIZE``)                                scikit-learn's 8x8 digits upsampled to 32x32
                                                            (or SIZE, a multiple of 8); its fixed split
``mnist1d``                                                 MNIST-1D signals (1x40), the package's split
``fashion-mnist`` (``fashion-mnist:DIR``)                   Debian's files, or the four IDX files in DIR
``mnist:DIR``                                               the four MNIST IDX files in DIR
``idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]`` IDX files; without test files a fixed
                                                            stratified 10% of the training files is held out
``cifar10:DIR``, ``cifar100:DIR``                           the python batches in DIR
``folder:DIR``                                              DIR/<class>/<image>; DIR/train/<class>/... and
                                                            DIR/test/<class>/... when both exist, else a
                                                            fixed stratified 10% held out
==========================================================  ==============================================

``load_data(spec)`` returns the examples on their data set's own scale (images in ``[0, 1]``),
not normalised: the caller standardises with the training part's statistics
(``channel_stats``, ``normalize_``) and records them. Every split here is fixed (seed 0),
independent of any training seed, so a run's test examples can be rebuilt from the spec alone.
Paths are made absolute, so a recorded spec works from any directory.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

import numpy as np

from .dataset import ArrayDataset

KINDS = ("digits", "mnist1d", "fashion-mnist", "mnist", "idx", "cifar10", "cifar100", "folder")
ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
           "cifar-100": "cifar100", "mnist-1d": "mnist1d", "image-folder": "folder", "images": "folder"}
NEEDS_ARGUMENT = {"mnist": "mnist:DIR", "idx": "idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]",
                  "cifar10": "cifar10:DIR", "cifar100": "cifar100:DIR", "folder": "folder:DIR"}
HOLDOUT = 0.1
SPLIT_SEED = 0


class DataSpecError(ValueError):
    """A ``--data`` spec that names no data set, or lacks (or has a wrong) argument."""


@dataclass
class DataSpec:
    """A parsed spec: ``kind`` (one of ``KINDS``), its ``args`` (paths made absolute, or a size)."""

    kind: str
    args: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The canonical spec string (absolute paths): what a run directory records."""
        return self.kind + (":" + ",".join(self.args) if self.args else "")


@dataclass
class LoadedData:
    """Training and test examples (``ArrayDataset``s on the data set's own scale) and what describes them.

    ``resize``: how an image file is brought to ``input_shape`` for prediction (``'nearest'``:
    the digits are upsampled by pixel repetition; ``'bilinear'``; ``None`` for 1-D signals).
    ``test_source``: where the test examples come from, in words.
    """

    spec: DataSpec
    train: ArrayDataset
    test: ArrayDataset
    classes: tuple[str, ...]
    resize: str | None
    test_source: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.train.x.shape[1:])


def parse_data_spec(text: str) -> DataSpec:
    """``"idx:a.gz,b.gz"`` -> ``DataSpec("idx", ("/abs/a.gz", "/abs/b.gz"))``; refuses (``DataSpecError``, naming
    the spec) an unknown data set, a missing or extra argument."""
    if not isinstance(text, str) or not text.strip():
        raise DataSpecError(f"expected a data set such as 'digits' or 'fashion-mnist', got {text!r}")
    name, colon, rest = text.strip().partition(":")
    kind = name.strip().lower().replace("_", "-")
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS + tuple(ALIASES), n=2, cutoff=0.6)
        close = list(dict.fromkeys(ALIASES.get(c, c) for c in close))
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise DataSpecError(f"unknown data set {text!r}{hint} (known: {', '.join(KINDS)}; 'strided datasets' "
                            f"says which are here)")
    args = tuple(a.strip() for a in rest.split(",")) if colon else ()
    if colon and (not rest.strip() or any(not a for a in args)):
        raise DataSpecError(f"data set {text!r}: empty argument after ':'")
    if kind in ("digits",):
        if len(args) > 1 or (args and not (args[0].isdigit() and int(args[0]) >= 8 and int(args[0]) % 8 == 0)):
            raise DataSpecError(f"data set {text!r}: digits takes an optional image size, a multiple of 8 "
                                f"(digits:16, digits:32)")
        return DataSpec(kind, () if not args or args[0] == "32" else (str(int(args[0])),))
    if kind == "mnist1d" and args:
        raise DataSpecError(f"data set {text!r}: mnist1d takes no argument")
    if kind in NEEDS_ARGUMENT and not args:
        raise DataSpecError(f"data set {text!r} needs files: --data {NEEDS_ARGUMENT[kind]}")
    if kind == "idx" and len(args) not in (2, 4):
        raise DataSpecError(f"data set {text!r}: expected {NEEDS_ARGUMENT['idx']} (2 or 4 files), got {len(args)}")
    if kind not in ("idx", "digits") and len(args) > 1:
        raise DataSpecError(f"data set {text!r}: expected one folder after ':', got {len(args)} (a comma?)")
    return DataSpec(kind, tuple(os.path.abspath(os.path.expanduser(a)) for a in args))


# ----------------------------------------------------------------------------------- fixed subsets
def stratified_split(y: np.ndarray, fraction: float = HOLDOUT, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, held_out)`` sorted indices: per class ``round(fraction * n_c)`` examples held out (at least one
    for a class of two or more), chosen by ``default_rng(seed)``'s permutation of that class's indices."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)                                   # (n_c,)
        k = max(1, round(fraction * len(members))) if len(members) >= 2 else 0
        held.append(rng.permutation(members)[:k])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(y)), held), held


def stratified_subset(y: np.ndarray, n: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """Sorted indices of ``min(n, len(y))`` examples, each class in proportion (largest remainders first),
    chosen by ``default_rng(seed)``'s permutation of each class's indices."""
    if n >= len(y):
        return np.arange(len(y))
    classes, counts = np.unique(y, return_counts=True)
    share = counts * n / len(y)                                          # (K,) ideal counts
    take = np.floor(share).astype(np.int64)
    for i in np.argsort(-(share - take), kind="stable")[:n - int(take.sum())]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def _part(ds: ArrayDataset, index: np.ndarray, classes) -> ArrayDataset:
    return ArrayDataset(ds.x[index], ds.y[index], classes)


def _class_names(classes, *label_arrays) -> tuple[str, ...]:
    if classes is not None:
        return tuple(classes)
    top = max(int(y.max()) for y in label_arrays if len(y))
    return tuple(str(k) for k in range(top + 1))


# ----------------------------------------------------------------------------------- loading
def _folder_data(root: str, image_size):
    from .image_folder import _require_pillow, image_folder
    parts = {name: os.path.join(root, name) for name in ("train", "test")}
    if all(os.path.isdir(p) for p in parts.values()):
        size = image_size or _first_image_size(parts["train"])
        train = image_folder(parts["train"], size)
        test = image_folder(parts["test"], size, color="rgb" if train.x.shape[1] == 3 else "gray")
        if train.classes != test.classes:
            raise ValueError(f"folder: {parts['train']} and {parts['test']} have different class folders: "
                             f"{list(train.classes)} and {list(test.classes)}")
        return train, test, f"{parts['test']}"
    _require_pillow()
    size = image_size or _first_image_size(root)
    everything = image_folder(root, size)
    keep, held = stratified_split(everything.y)
    return (_part(everything, keep, everything.classes), _part(everything, held, everything.classes),
            f"a fixed stratified {HOLDOUT:.0%} of {root} (seed {SPLIT_SEED})")


def _first_image_size(root: str) -> tuple[int, int]:
    """``(height, width)`` of the first image (sorted class folders, sorted files) under ``root``."""
    from .image_folder import _files, _require_pillow
    Image = _require_pillow()
    _, files = _files(root, "folder")
    with Image.open(files[0][0]) as image:
        width, height = image.size
    return height, width


def load_data(spec, *, limit: int | None = None, image_size=None) -> LoadedData:
    """The data set a spec names (a string or a ``DataSpec``), on its own scale, with its fixed test part.

    ``limit``: at most this many training and this many test examples, a fixed stratified
    subset (``stratified_subset``: quick runs). ``image_size`` (``folder`` only): an int or
    ``(height, width)`` every image is resized to; default the first image's size.

    Shape: ``train.x (N, *input_shape)`` float32, ``train.y (N,)`` int64.
    """
    from .cifar import cifar10, cifar100
    from .digits import digits
    from .idx import fashion_mnist, idx, mnist
    from .mnist_1d import mnist1d
    spec = parse_data_spec(spec) if isinstance(spec, str) else spec
    kind, args = spec.kind, spec.args
    if image_size is not None and kind != "folder":
        raise DataSpecError(f"data set {spec.text!r}: an image size applies to folder:DIR data sets only")
    resize, source = "bilinear", "the data set's test split"
    if kind == "digits":
        split = digits(size=int(args[0]) if args else 32, standardize=False)
        train, test, resize = split.train, split.test, "nearest"
        source = "the fixed stratified 20% of scikit-learn's digits (random_state 0)"
    elif kind == "mnist1d":
        split = mnist1d()
        train, test, resize = split.train, split.test, None
    elif kind in ("fashion-mnist", "mnist"):
        split = fashion_mnist(args[0] if args else None) if kind == "fashion-mnist" else mnist(args[0])
        train, test = split.train, split.test
    elif kind == "idx":
        train = idx(args[0], args[1])
        if len(args) == 4:
            test = idx(args[2], args[3])
        else:
            keep, held = stratified_split(train.y)
            train, test = _part(train, keep, None), _part(train, held, None)
            source = f"a fixed stratified {HOLDOUT:.0%} of {args[0]} (seed {SPLIT_SEED})"
        if train.x.shape[1:] != test.x.shape[1:]:
            raise ValueError(f"idx: training images are {'x'.join(map(str, train.x.shape[1:]))} but test images "
                             f"{'x'.join(map(str, test.x.shape[1:]))}")
    elif kind in ("cifar10", "cifar100"):
        split = (cifar10 if kind == "cifar10" else cifar100)(args[0])
        train, test = split.train, split.test
    else:
        train, test, source = _folder_data(args[0], image_size)
    classes = _class_names(train.classes, train.y, test.y)
    if limit is not None:
        train = _part(train, stratified_subset(train.y, limit), classes)
        test = _part(test, stratified_subset(test.y, limit), classes)
    train.classes = test.classes = classes
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"data set {spec.text!r}: {len(train)} training and {len(test)} test examples; "
                         f"need at least one of each")
    return LoadedData(spec, train, test, classes, resize, source)


# ----------------------------------------------------------------------------------- normalisation
def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per channel (axis 1) mean and standard deviation over every example and position, as Python floats
    (``float(x[:, c].mean())``; a constant channel gets std 1)."""
    means, stds = [], []
    for c in range(x.shape[1]):
        channel = x[:, c]
        means.append(float(channel.mean()))
        std = float(channel.std())
        stds.append(std if std > 0 else 1.0)
    return means, stds


def normalize_(x: np.ndarray, mean, std) -> np.ndarray:
    """``x[:, c] = (x[:, c] - mean[c]) / std[c]`` in place (float32 ``x``); returns ``x``."""
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"normalize: {len(mean)} means and {len(std)} stds for {x.shape[1]} channels")
    for c, (m, s) in enumerate(zip(mean, std)):
        channel = x[:, c]
        channel -= m
        channel /= s
    return x


__all__ = ["DataSpec", "DataSpecError", "LoadedData", "parse_data_spec", "load_data", "stratified_split",
           "stratified_subset", "channel_stats", "normalize_", "KINDS"]
