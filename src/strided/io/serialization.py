"""Saving and loading state without pickle, with atomic writes.

A file is a NumPy ``.npz`` archive: every array of the saved object is stored as ``a0``,
``a1``, ... and the structure around them (dicts, lists, tuples, numbers, strings, ``None``)
as JSON in the entry ``__tree__``. Loading uses ``np.load(allow_pickle=False)`` and
``json.loads``: nothing in the file is ever executed.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
target (``os.replace`` is atomic), so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict

import numpy as np

from .atomic import atomic_path

TREE_KEY = "__tree__"
FORMAT = "strided-state/1"


def _encode(obj, arrays: dict):
    """JSON-ready structure of ``obj``; arrays are moved into ``arrays`` and referenced by name."""
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic) and not isinstance(obj, (np.bool_,)):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"save: arrays of dtype {arr.dtype} are not supported (numbers and booleans only)")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"__array__": name}
    if hasattr(obj, "data") and isinstance(getattr(obj, "data"), np.ndarray) and type(obj).__name__ in (
            "Tensor", "Parameter"):
        return _encode(obj.data, arrays)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return {"__float__": repr(obj)}   # keeps inf and nan, which JSON lacks
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {key!r}")
        return {"__dict__": [[key, _encode(value, arrays)] for key, value in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__}; use dicts, lists, tuples, "
                    f"numbers, strings, None and NumPy arrays")


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__float__" in node:
            return float(node["__float__"])
        if "__tuple__" in node:
            return tuple(_decode(v, arrays) for v in node["__tuple__"])
        if "__dict__" in node:
            return OrderedDict((key, _decode(value, arrays)) for key, value in node["__dict__"])
        raise ValueError(f"load: unknown node {sorted(node)} in the file's structure")
    return node


def save(obj, path) -> None:
    """Write ``obj`` (a ``state_dict``, an optimizer state, or a dict of such) to ``path`` atomically.

    >>> # st.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.npz")
    """
    arrays: dict[str, np.ndarray] = {}
    tree = {"format": FORMAT, "root": _encode(obj, arrays)}
    payload = {TREE_KEY: np.frombuffer(json.dumps(tree).encode("utf-8"), dtype=np.uint8)}
    payload.update(arrays)
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)


def load(path):
    """Read what ``save`` wrote. Never unpickles: only arrays of numbers and JSON are read."""
    path = os.fspath(path)
    unreadable = (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, TypeError)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except unreadable as error:   # ValueError: pickled data or garbage that np.load refuses
        raise ValueError(f"load: {path} is not a readable strided state file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path} is not a strided state file (a single .npy array, not an archive)")
    try:
        with archive:
            if TREE_KEY not in archive.files:
                raise ValueError(f"load: {path} is not a strided state file (no {TREE_KEY} entry)")
            tree = json.loads(archive[TREE_KEY].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != TREE_KEY}
        if not isinstance(tree, dict) or tree.get("format") != FORMAT:
            found = tree.get("format") if isinstance(tree, dict) else None
            raise ValueError(f"load: {path} has format {found!r}, expected {FORMAT!r}")
        return _decode(tree["root"], arrays)
    except unreadable as error:
        if isinstance(error, ValueError) and str(error).startswith(f"load: {path} "):
            raise
        raise ValueError(f"load: {path} is not a readable strided state file ({type(error).__name__}: "
                         f"{error})") from error


__all__ = ["save", "load"]
