"""A NumPy-compatible backend that records every array call, to prove the ops use the seam.

``RecordedArray`` is an ``ndarray`` subclass standing in for a device array (a CuPy array): it
computes with NumPy, but it notices what a CuPy array would refuse or what would silently run on
the host:

* a NumPy function called on it directly (``np.concatenate(x)``, ``np.add.at(x, ...)``) instead
  of through its namespace (``xp.concatenate``): NEP-18's ``__array_function__`` sees the call;
* a host ``ndarray`` meeting it in an operator or ufunc (``x + np.zeros(3)``), assigned into it
  (``x[...] = host``) or handed to a namespace function: an array made with ``np.zeros`` and not
  with ``xp.zeros``;

Each finding is a ``Violation`` naming the function and the strided source line that made the
call. The namespace (``RecordingNamespace``) forwards to NumPy, returns ``RecordedArray`` results
and remembers every name it was asked for, so a test can also check that CuPy has each of them.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from strided import backend

_state = threading.local()
NUMPY_DIR = os.path.dirname(np.__file__)
HERE = os.path.abspath(__file__)


@dataclass(frozen=True)
class Violation:
    what: str           # "np.concatenate called directly", "host array in add", ...
    where: str          # "strided/nn/conv.py:123 in conv_forward"

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


violations: list[Violation] = []
names_used: set[str] = set()


def _allowed() -> bool:
    return getattr(_state, "depth", 0) > 0


class _Allowed:
    def __enter__(self):
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, *exc):
        _state.depth -= 1


def _caller() -> str:
    """The first frame outside NumPy and this file: the strided line that made the call."""
    frame = sys._getframe(2)
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not name.startswith(NUMPY_DIR) and name != HERE and "<__array_function__" not in name:
            short = name.split("src" + os.sep, 1)[-1]
            return f"{short}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def _flag(what: str) -> None:
    violations.append(Violation(what, _caller()))


def _is_host(a) -> bool:
    return type(a) is np.ndarray


def _plain(a):
    return a.view(np.ndarray) if isinstance(a, RecordedArray) else a


def _recorded(result):
    """NumPy results seen as ``RecordedArray`` (tuples and lists of them too)."""
    if type(result) is np.ndarray:
        return result.view(RecordedArray)
    if isinstance(result, np.generic) and not isinstance(result, (np.bool_, np.integer)):
        return np.asarray(result).view(RecordedArray)          # CuPy gives 0-d arrays, not scalars
    if isinstance(result, tuple) and not hasattr(result, "_fields"):
        return tuple(_recorded(r) for r in result)
    if isinstance(result, list):
        return [_recorded(r) for r in result]
    return result


class RecordedArray(np.ndarray):
    """A device array in all but name: NumPy memory, device rules."""

    def __array_function__(self, func, types, args, kwargs):
        if not _allowed():
            _flag(f"np.{func.__name__} called directly on a device array (use the namespace)")
        with _Allowed():
            return super().__array_function__(func, types, args, kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        if any(_is_host(a) for a in inputs + tuple(out)):
            _flag(f"host array meets a device array in {ufunc.__name__}.{method} (made with np., not xp.?)")
        if method == "at" and not _allowed():
            _flag(f"np.{ufunc.__name__}.at on a device array (use backend.add_at)")
        if out:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*(_plain(a) for a in inputs), **kwargs)
        if out:
            return out[0] if len(out) == 1 else out
        return _recorded(result)

    def __setitem__(self, index, value):
        if _is_host(value):
            _flag("host array assigned into a device array")
        super().__setitem__(index, value)


class _UfuncProxy:
    def __init__(self, ufunc, name):
        self._ufunc, self._name = ufunc, name

    def __call__(self, *args, **kwargs):
        return _call(self._ufunc, self._name, args, kwargs)

    def __getattr__(self, method):
        names_used.add(f"{self._name}.{method}")
        attr = getattr(self._ufunc, method)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: _call(attr, f"{self._name}.{method}", args, kwargs)


HOST_INPUT_OK = {"asarray", "array", "asanyarray"}     # what a device namespace copies from the host


def _call(func, name, args, kwargs):
    if name not in HOST_INPUT_OK:
        flat = list(args) + list(kwargs.values())
        flat += [a for v in flat if isinstance(v, (list, tuple)) for a in v]
        if any(_is_host(a) and a.ndim > 0 for a in flat):
            _flag(f"host array passed to xp.{name}")
    with _Allowed():
        return _recorded(func(*args, **kwargs))


class RecordingNamespace:
    """``numpy`` seen through a device namespace: calls are allowed, recorded and return device arrays."""

    def __init__(self, module=np, prefix=""):
        self._module, self._prefix = module, prefix

    def __getattr__(self, name):
        obj = getattr(self._module, name)
        full = self._prefix + name
        names_used.add(full)
        if isinstance(obj, np.ufunc):
            return _UfuncProxy(obj, full)
        if isinstance(obj, type) or not callable(obj):
            if type(obj).__name__ == "module":
                return RecordingNamespace(obj, full + ".")
            return obj
        return lambda *args, **kwargs: _call(obj, full, args, kwargs)


class RecordingBackend(backend.Backend):
    """The ``recorded`` device: NumPy underneath, ``RecordedArray`` on top."""

    def __init__(self):
        super().__init__("recorded", RecordingNamespace(), RecordedArray)

    def from_host(self, array, device=None):
        return np.array(array, copy=True).view(RecordedArray)

    def to_host(self, array):
        return np.array(_plain(array), copy=True)

    def as_strided(self, array, shape, strides):
        return as_strided(array, shape=tuple(shape), strides=tuple(strides), subok=True, writeable=False)

    def put_along_axis(self, target, index, values, axis=-1):
        with _Allowed():
            np.put_along_axis(_plain(target), _plain(index), _plain(values), axis)

    def take(self, array, index, axis, out):
        with _Allowed():
            np.take(_plain(array), _plain(index), axis=axis, out=_plain(out), mode="clip")

    def add_at(self, target, index, values):
        index = tuple(_plain(i) for i in index) if isinstance(index, tuple) else _plain(index)
        with _Allowed():
            np.add.at(_plain(target), index, _plain(values))


def install() -> RecordingBackend:
    violations.clear()
    return backend.register(RecordingBackend())


def uninstall() -> None:
    backend.unregister("recorded")
