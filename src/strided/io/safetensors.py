"""Weights in the safetensors format: the exchange format of PyTorch, Hugging Face and most model hubs.

A ``.safetensors`` file is a JSON header (names, dtypes, shapes, offsets, optional string
metadata) followed by the raw little-endian bytes of every array: nothing in it is executed on
load. strided adds the SHA-256 of every array to the file's metadata and checks it when it reads
the file back (the format itself has no checksum). Reading and writing go through the ``safetensors`` package's NumPy API, an optional
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

import hashlib
import json
import os
from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..backend import to_host
from ..tensor import Tensor
from .atomic import atomic_path

EXTRA = "interop"
CHECKSUMS = "strided.sha256"      # the metadata entry holding every array's SHA-256 (JSON)


def _backend():
    """``safetensors.numpy``, or an ``ImportError`` that says how to install it."""
    try:
        import safetensors.numpy as backend
    except ImportError as error:
        raise ImportError(f"strided.io safetensors support needs the optional 'safetensors' package: "
                          f"pip install 'strided[{EXTRA}]' (or pip install safetensors)") from error
    return backend


def digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and little-endian bytes (what a flipped bit anywhere would change)."""
    canonical = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    described = f"{canonical.dtype.str}{list(canonical.shape)}".encode("ascii")
    return hashlib.sha256(described + canonical.reshape(-1).view(np.uint8).tobytes()).hexdigest()


def _checked(path: str, arrays: dict, metadata) -> None:
    """Compare ``arrays`` with the SHA-256s ``save_safetensors`` stored in the metadata (if it did)."""
    recorded = (metadata or {}).get(CHECKSUMS)
    if recorded is None:
        return                     # written by another tool: the format itself has no checksum
    try:
        recorded = json.loads(recorded)
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict) or set(recorded) != set(arrays):
        raise ValueError(f"load_safetensors: {path} is damaged: its checksums ({CHECKSUMS!r} in the metadata) do "
                         f"not list exactly its arrays; it cannot be trusted")
    wrong = sorted(name for name, array in arrays.items() if digest(array) != recorded[name])
    if wrong:
        raise ValueError(f"load_safetensors: {path} is damaged: {', '.join(wrong)} differ from the SHA-256 "
                         f"recorded when the file was saved; it cannot be trusted (use an intact copy)")


def load_safetensors(path) -> "OrderedDict[str, np.ndarray]":
    """Read every array of a ``.safetensors`` file: ``{name: array}``, names in sorted order.

    Dtypes are kept as stored (``load_state_dict`` casts to the model's dtype). ``bfloat16`` and
    8-bit float files cannot be read (NumPy has no such dtypes): save them as float32. A file
    written by ``save_safetensors`` carries the SHA-256 of every array (dtype, shape and bytes) in
    its metadata, and a mismatch is refused (``ValueError`` naming the file and the arrays); a file
    from another tool has no checksum to check.

    Args:
        path: the ``.safetensors`` file.

    >>> # model.load_state_dict(st.io.load_safetensors("lenet5.safetensors"))
    """
    _backend()
    from safetensors import safe_open
    path = os.fspath(path)
    try:
        with safe_open(path, framework="np") as handle:
            metadata = handle.metadata()
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}
    except FileNotFoundError:
        raise
    except TypeError as error:     # a dtype NumPy cannot represent
        raise ValueError(f"load_safetensors: {path} holds arrays NumPy cannot represent ({error}); "
                         f"save them as float32 (e.g. tensor.float()) first") from error
    except Exception as error:     # SafetensorError: not a safetensors file, truncated, bad header
        raise ValueError(f"load_safetensors: {path} is not a readable safetensors file "
                         f"({type(error).__name__}: {error})") from error
    foreign = sorted(f"{name} ({arrays[name].dtype})" for name in arrays if arrays[name].dtype.kind not in "biuf")
    if foreign:      # bfloat16 and float8 come back as extension dtypes once a package registers them (ml_dtypes)
        raise ValueError(f"load_safetensors: {path} holds arrays NumPy cannot represent as standard numbers: "
                         f"{', '.join(foreign)}; save them as float32 (e.g. tensor.float()) first")
    _checked(path, arrays, metadata)
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
        array = to_host(value.data if isinstance(value, Tensor) else value)          # a device array: a host copy
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save_safetensors: {name!r} has dtype {array.dtype}; expected numbers or booleans")
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")   # keeps 0-d arrays 0-d
    return arrays


def save_safetensors(state, path, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``state`` (a ``state_dict``, or a module whose ``state_dict`` is taken) to ``path`` atomically.

    The file is written next to ``path`` under a temporary name, flushed to disk and renamed over
    ``path`` (``os.replace``), so an interrupted save leaves any previous file intact.
    ``metadata``: optional ``{str: str}`` stored in the header, next to strided's own entry
    ``strided.sha256`` (every array's SHA-256, which ``load_safetensors`` checks; other readers
    ignore it).

    Args:
        state: a ``state_dict`` (name -> array or tensor) or a module.
        path: the file written.
        metadata: string-to-string metadata stored in the header, or ``None``.

    >>> # st.io.save_safetensors(model.state_dict(), "lenet5.safetensors")
    """
    backend = _backend()
    arrays = _as_arrays(state)
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"save_safetensors: metadata must map str to str, got {dict(metadata)!r}")
    if metadata is not None and CHECKSUMS in metadata:
        raise ValueError(f"save_safetensors: the metadata key {CHECKSUMS!r} is strided's own (the arrays' checksums)")
    checksums = json.dumps({name: digest(array) for name, array in arrays.items()}, sort_keys=True)
    with atomic_path(path, ".safetensors") as tmp:
        backend.save_file(arrays, tmp, metadata={**(metadata or {}), CHECKSUMS: checksums})


__all__ = ["load_safetensors", "save_safetensors"]
