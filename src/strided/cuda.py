"""NVIDIA GPUs through CuPy: ``st.cuda.is_available()`` and the backend behind ``device="cuda"``.

The backend is built the first time a ``cuda`` device is asked for (``Tensor.to("cuda")``,
``model.to("cuda")``); nothing here imports CuPy before that, so a NumPy-only install never
pays for it. Without CuPy, or without a driver and a GPU, asking for ``cuda`` raises a
``RuntimeError`` that says what is missing and how to install it (``pip install 'strided[gpu]'``).

Shape: no arrays of its own; moving an array keeps its shape, dtype and memory order.

Example:
    >>> import strided as st
    >>> isinstance(st.cuda.is_available(), bool)
    True
"""

from __future__ import annotations

import numpy as np

from . import backend as _backend

INSTALL_HINT = "pip install 'strided[gpu]' (CuPy for CUDA 12: cupy-cuda12x) on a machine with an NVIDIA driver"


def _import_cupy():
    """``(cupy, None)``, or ``(None, why)`` when CuPy or a usable GPU is missing."""
    try:
        import cupy
    except ImportError as error:
        return None, f"CuPy is not installed ({error})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:                                         # no driver, wrong CUDA, no device
        return None, f"CuPy {cupy.__version__} finds no usable GPU ({type(error).__name__}: {error})"
    if count < 1:
        return None, f"CuPy {cupy.__version__} finds no GPU"
    return cupy, None


def is_available() -> bool:
    """Whether ``device="cuda"`` works here: CuPy is installed and sees at least one GPU.

    Example:
        >>> is_available() in (True, False)
        True
    """
    return _import_cupy()[0] is not None


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without CuPy or a driver).

    Example:
        >>> device_count() >= 0
        True
    """
    cupy, _ = _import_cupy()
    return 0 if cupy is None else int(cupy.cuda.runtime.getDeviceCount())


def synchronize() -> None:
    """Wait for every queued GPU kernel to finish (for timing); nothing to do without a GPU.

    Example:
        >>> synchronize()
    """
    cupy, _ = _import_cupy()
    if cupy is not None:
        cupy.cuda.Device().synchronize()


class CupyBackend(_backend.Backend):
    """The ``cuda`` backend: CuPy arrays, cuBLAS products, CuPy's scatter-add.

    Args:
        cupy: the imported ``cupy`` module.

    Example:
        >>> CupyBackend.__name__
        'CupyBackend'
    """

    def __init__(self, cupy):
        super().__init__("cuda", cupy, cupy.ndarray)
        import cupyx
        self._cupyx = cupyx

    def device_of(self, array) -> _backend.Device:
        return _backend.Device("cuda", int(array.device.id))

    def from_host(self, array, device=None):
        index = 0 if device is None or device.index is None else device.index
        with self.xp.cuda.Device(index):
            return self.xp.asarray(array)

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def as_strided(self, array, shape, strides):
        return self.xp.lib.stride_tricks.as_strided(array, shape=tuple(shape), strides=tuple(strides))

    def add_at(self, target, index, values) -> None:
        self._cupyx.scatter_add(target, index, values)

    def put_along_axis(self, target, index, values, axis: int = -1) -> None:
        # CuPy has no put_along_axis: the same assignment through broadcast aranges on the other axes
        # (where an index repeats in a row, any one of the values lands)
        axis = axis % target.ndim
        grids = [self.xp.arange(n).reshape((n,) + (1,) * (index.ndim - 1 - i)) for i, n in enumerate(index.shape)]
        grids[axis] = index
        target[tuple(grids)] = values

    def take(self, array, index, axis: int, out) -> None:
        self.xp.take(array, index, axis=axis, out=out)                 # CuPy's take has no mode

    def synchronize(self) -> None:
        self.xp.cuda.Device().synchronize()


def _load() -> CupyBackend:
    cupy, why = _import_cupy()
    if cupy is None:
        raise RuntimeError(f"device 'cuda' is not available: {why}. To compute on an NVIDIA GPU: {INSTALL_HINT}")
    return CupyBackend(cupy)


_backend.register_loader("cuda", _load)

__all__ = ["CupyBackend", "device_count", "is_available", "synchronize"]
