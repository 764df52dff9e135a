"""MNIST-1D (Greydanus and Kobak, 2020): 1-D signals of length 40, ten classes, made on the spot.

The ``mnist1d`` package (the optional extra ``strided[mnist1d]``) builds the data set from ten
hand-written 1-D templates by padding, scaling, translating, adding correlated and white noise,
shearing and resampling. We call its ``make_dataset`` (never ``get_dataset``, which downloads),
with the package's default arguments (``get_dataset_args()``: 5,000 examples, 80% for
training, seed 42), which give the standard 4,000 / 1,000 split.

``make_dataset`` seeds NumPy's and Python's global random generators (``np.random.seed``,
``random.seed``); we save both states before the call and restore them after it, so calling
``mnist1d()`` leaves the process's random state as it was.
"""

from __future__ import annotations

import random

import numpy as np

from .dataset import ArrayDataset, DataSplit

CLASSES = tuple(str(d) for d in range(10))


def _require_mnist1d():
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("mnist1d() needs the mnist1d package: pip install 'strided[mnist1d]' "
                          "(or pip install mnist1d)") from error
    return get_dataset_args, make_dataset


def mnist1d(seed: int = 42, **args) -> DataSplit:
    """MNIST-1D: 4,000 training and 1,000 test signals of length 40, classes ``'0'..'9'``.

    ``seed`` and ``args`` override the package's defaults (``num_samples=5000``,
    ``train_split=0.8``, ``final_seq_length=40``, ``shuffle_seq=False``, ...); an unknown name is
    refused. The signals are standardised over the whole set by the package (mean 0, std 1).

    Args:
        seed: the generator's seed (the package's default is 42).
        **args: other arguments of ``mnist1d``'s ``make_dataset`` (``num_samples``,
            ``final_seq_length``, ...).

    Shape: ``train.x (4000, 1, 40)`` float32, ``train.y (4000,)`` int64; ``test`` 1,000.

    Example:
        >>> data = mnist1d(num_samples=50)       # the default is the standard 5,000 signals
        >>> data.input_shape, len(data.train), len(data.test)
        ((1, 40), 40, 10)
    """
    get_dataset_args, make_dataset = _require_mnist1d()
    options = get_dataset_args(as_dict=True)
    unknown = sorted(set(args) - (set(options) - {"url", "seed"}))
    if unknown:
        raise TypeError(f"mnist1d: unknown arguments {unknown}; known: {sorted(set(options) - {'url', 'seed'})}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"mnist1d: seed must be a non-negative int, got {seed!r}")
    options.update(args, seed=int(seed))
    view = type("MNIST1DArgs", (), {})()
    view.__dict__.update(options)                     # make_dataset reads attributes
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(view)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)

    def part(x, y):
        return ArrayDataset(np.asarray(x, np.float32)[:, None, :], np.asarray(y, np.int64), CLASSES)

    return DataSplit("mnist1d", part(data["x"], data["y"]), part(data["x_test"], data["y_test"]))


__all__ = ["mnist1d"]
