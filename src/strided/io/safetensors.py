"""Weights in the safetensors format: the exchange format of PyTorch, Hugging Face and most model hubs.

A ``.safetensors`` file is a JSON header (names, dtypes, shapes, offsets, optional string
metadata) followed by the raw little-endian bytes of every array: nothing in it is executed on
load. Reading and writing go through the ``safetensors`` package's NumPy API, an optional
dependency (``pip install 'strided[interop]'``).

Since strided keeps PyTorch's ``state_dict`` names, a file written by
``safetensors.torch.save_file(torch_model.state_dict(), path)`` loads into the matching strided
model unchanged, and a file written here loads into torch::

    model.load_state_dict(load_safetensors("resnet20.safetensors"))   # strict: names and shapes checked
    save_safetensors(model.state_dict(), "resnet20.safetensors")      # atomic

``load_state_dict`` checks every name and shape before it writes anything, so a file that does
not fit the model is reported key by key and leaves the model unchanged.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..tensor import Tensor
from .atomic import atomic_path

EXTRA = "interop"


def _backend():
    """``safetensors.numpy``, or an ``ImportError`` that says how to install it."""
    try:
        import safetensors.numpy as backend
    except ImportError as error:
        raise ImportError(f"strided.io safetensors support needs the optional 'safetensors' package: "
                          f"pip install 'strided[{EXTRA}]' (or pip install safetensors)") from error
    return backend


def load_safetensors(path) -> "OrderedDict[str, np.ndarray]":
    """Read every array of a ``.safetensors`` file: ``{name: array}``, names in sorted order.

    Dtypes are kept as stored (``load_state_dict`` casts to the model's dtype). ``bfloat16`` and
    8-bit float files cannot be read (NumPy has no such dtypes): save them as float32.

    >>> # model.load_state_dict(st.io.load_safetensors("lenet5.safetensors"))
    """
    backend = _backend()
    path = os.fspath(path)
    try:
        arrays = backend.load_file(path)
    except FileNotFoundError:
        raise
    except TypeError as error:     # a dtype NumPy cannot represent
        raise ValueError(f"load_safetensors: {path} holds arrays NumPy cannot represent ({error}); "
                         f"save them as float32 (e.g. tensor.float()) first") from error
    except Exception as error:     # SafetensorError: not a safetensors file, truncated, bad header
        raise ValueError(f"load_safetensors: {path} is not a readable safetensors file "
                         f"({type(error).__name__}: {error})") from error
    exotic = sorted(f"{name}: {a.dtype}" for name, a in arrays.items() if a.dtype.kind not in "biuf")
    if exotic:                     # bfloat16/float8 arrive as ml_dtypes' types once a package (onnx) imported it
        raise ValueError(f"load_safetensors: {path} holds arrays NumPy cannot represent ({', '.join(exotic)}); "
                         f"save them as float32 (e.g. tensor.float()) first")
    foreign = sorted(f"{name} ({arrays[name].dtype})" for name in arrays if arrays[name].dtype.kind not in "biuf")
    if foreign:      # bfloat16 and float8 come back as extension dtypes once a package registers them (ml_dtypes)
        raise ValueError(f"load_safetensors: {path} holds arrays NumPy cannot represent as standard numbers: "
                         f"{', '.join(foreign)}; save them as float32 (e.g. tensor.float()) first")
    return OrderedDict((name, arrays[name]) for name in sorted(arrays))


def _as_arrays(state) -> "OrderedDict[str, np.ndarray]":
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    if not isinstance(state, Mapping):
        raise TypeError(f"save_safetensors: expected a mapping of names to arrays (a state_dict) or a module, "
                        f"got {type(state).__name__}")
    arrays = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: names must be str, got {name!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save_safetensors: {name!r} has dtype {array.dtype}; expected numbers or booleans")
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")   # keeps 0-d arrays 0-d
    return arrays


def save_safetensors(state, path, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``state`` (a ``state_dict``, or a module whose ``state_dict`` is taken) to ``path`` atomically.

    The file is written next to ``path`` under a temporary name, flushed to disk and renamed over
    ``path`` (``os.replace``), so an interrupted save leaves any previous file intact.
    ``metadata``: optional ``{str: str}`` stored in the header.

    >>> # st.io.save_safetensors(model.state_dict(), "lenet5.safetensors")
    """
    backend = _backend()
    arrays = _as_arrays(state)
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"save_safetensors: metadata must map str to str, got {dict(metadata)!r}")
    with atomic_path(path, ".safetensors") as tmp:
        backend.save_file(arrays, tmp, metadata=None if metadata is None else dict(metadata))


__all__ = ["load_safetensors", "save_safetensors"]
