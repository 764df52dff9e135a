"""Array backends: the one seam between the engine and the array library it computes with.

Every op takes its array functions from the namespace of the arrays it was handed, never from
``numpy`` directly::

    xp = namespace(x)                     # numpy for host arrays, cupy for GPU arrays
    out = xp.zeros_like(x)                # allocated where x lives

so the same code runs on NumPy and, through CuPy, on an NVIDIA GPU. NumPy dtypes (``np.float32``,
``np.dtype``, ``np.finfo``) and ``np.errstate`` are not array functions and stay as they are;
so do computations on shapes (``math.prod``). What the array API has no common name for lives on
the ``Backend``: ``as_strided`` (window views), ``add_at`` (scatter-add of repeated indices),
``to_host`` / ``from_host`` (moving arrays between devices).

A backend is found from an array's type (one dictionary lookup, the cost of the seam on the CPU).
The NumPy backend is always there; the CuPy backend is built the first time a ``cuda`` device is
asked for (``strided.cuda``); a test registers a recording backend of its own to prove that no op
reaches past the seam (``tests/test_backend_seam.py``).

Shape: no arrays of its own; every function keeps its arguments' shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided as _np_as_strided


@dataclass(frozen=True)
class Device:
    """Where a tensor's values live: ``Device("cpu")`` or ``Device("cuda", 0)``.

    Compares equal to its spelling, so ``tensor.device == "cpu"`` reads as in PyTorch.

    Args:
        type: ``"cpu"``, ``"cuda"`` or the name of a registered backend.
        index: the GPU's number, ``None`` for the CPU.

    Example:
        >>> Device("cuda", 1)
        device(type='cuda', index=1)
        >>> str(Device("cpu")), Device("cpu") == "cpu"
        ('cpu', True)
    """

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = parse_device(other)
            except (ValueError, TypeError):
                return False
        if not isinstance(other, Device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))


def parse_device(spec) -> Device:
    """A ``Device`` from ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``Device``.

    Args:
        spec: the device's spelling, or a ``Device`` (returned as it is).

    Example:
        >>> parse_device("cuda:1")
        device(type='cuda', index=1)
    """
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type(spec).__name__}")
    kind, _, index = spec.strip().lower().partition(":")
    if index and not index.isdigit():
        raise ValueError(f"device: expected 'type' or 'type:index' such as 'cuda:0', got {spec!r}")
    if kind == "cpu":
        return Device("cpu")
    return Device(kind, int(index) if index else (0 if kind == "cuda" else None))


TORCH_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "hip", "xla", "meta", "vulkan", "opengl", "ipu", "hpu", "mtia", "gpu")
"""Device types PyTorch users may write; a string starting with one of them (or with a registered
backend's name) is a device in ``to(...)``, anything else is read as a dtype."""


def is_device_name(value) -> bool:
    """Whether ``value`` is a string naming a device (``"cuda:1"``, ``"mps"``), not a dtype (``"float64"``).

    Args:
        value: anything passed to ``to(...)``.

    Example:
        >>> is_device_name("cuda:0"), is_device_name("float64")
        (True, False)
    """
    if not isinstance(value, str):
        return False
    kind = value.strip().lower().partition(":")[0]
    return kind in TORCH_DEVICE_TYPES or kind in _by_name or kind in _loaders


class Backend:
    """One array library: its namespace ``xp`` and the few operations the array API lacks.

    Args:
        name: the device type it serves (``"cpu"``, ``"cuda"``, ...).
        xp: the array namespace (a module such as ``numpy`` or ``cupy``).
        array_type: the type of its arrays, by which ``backend_of`` finds it.

    Subclasses override ``from_host``, ``to_host``, ``as_strided``, ``add_at`` and ``device_of``
    where the NumPy versions below do not apply.

    Example:
        >>> backend_of(np.zeros(2)).name
        'cpu'
    """

    def __init__(self, name: str, xp: Any, array_type: type):
        self.name = name
        self.xp = xp
        self.array_type = array_type

    def device_of(self, array) -> Device:
        """The device that holds ``array``."""
        return Device(self.name)

    def from_host(self, array: np.ndarray, device: Device | None = None):
        """A copy of the host array ``array`` on this backend (the array itself on the CPU)."""
        return np.asarray(array)

    def to_host(self, array) -> np.ndarray:
        """``array`` as a NumPy array on the host (itself on the CPU)."""
        return np.asarray(array)

    def as_strided(self, array, shape: Sequence[int], strides: Sequence[int]):
        """A read-only view of ``array``'s memory with ``shape`` and byte ``strides``.

        Shape: ``array`` (any) -> ``shape``.
        """
        memory = dense_memory(array)
        if memory is None or type(memory) is not np.ndarray:
            return _np_as_strided(array, shape=tuple(shape), strides=tuple(strides), writeable=False)
        # the same view built straight on the dense buffer: a fraction of as_strided's call cost
        view = np.ndarray(tuple(shape), dtype=array.dtype, buffer=memory, strides=tuple(strides))
        view.flags.writeable = False
        return view

    def add_at(self, target, index, values) -> None:
        """``target[index] += values`` in place, repeated indices adding up (``np.add.at``)."""
        np.add.at(target, index, values)

    def put_along_axis(self, target, index, values, axis: int = -1) -> None:
        """``target``'s entries at ``index`` along ``axis`` set to ``values`` in place (``np.put_along_axis``);
        where an index repeats, NumPy keeps the last value in C order."""
        np.put_along_axis(target, index, values, axis)

    def take(self, array, index, axis: int, out) -> None:
        """``array`` gathered by valid ``index`` along ``axis`` into ``out`` (``np.take``; ``mode='clip'``
        skips the buffered copy that NumPy's default ``'raise'`` makes)."""
        np.take(array, index, axis=axis, out=out, mode="clip")

    def synchronize(self) -> None:
        """Wait until the device has finished its queued work (nothing to wait for on the CPU)."""


def dense_memory(x) -> Any:
    """``x``'s memory as a C-contiguous array starting at ``x[0, ..., 0]`` (C order or batch-last), else None."""
    if x.flags.c_contiguous:
        return x
    if x.ndim >= 2:
        moved = x.transpose(tuple(range(1, x.ndim)) + (0,))
        if moved.flags.c_contiguous:
            return moved
    return None


CPU = Backend("cpu", np, np.ndarray)
_by_type: dict[type, Backend] = {np.ndarray: CPU}
_by_name: dict[str, Backend] = {"cpu": CPU}
_loaders: dict[str, Callable[[], Backend]] = {}


def register(backend: Backend) -> Backend:
    """Make ``backend`` known by its array type and its name; returns it.

    Args:
        backend: the backend to add (replaces one of the same name).

    Example:
        >>> register(CPU) is CPU
        True
    """
    _by_type[backend.array_type] = backend
    _by_name[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    """Forget the backend called ``name`` (the CPU stays).

    Args:
        name: the device type of the backend.

    Example:
        >>> unregister("nothing-of-that-name")
    """
    if name == "cpu":
        raise ValueError("backend: the cpu backend cannot be removed")
    backend = _by_name.pop(name, None)
    if backend is not None:
        _by_type.pop(backend.array_type, None)


def register_loader(name: str, loader: Callable[[], Backend]) -> None:
    """Build the backend called ``name`` with ``loader()`` the first time its device is asked for.

    Args:
        name: the device type (``"cuda"``).
        loader: returns the backend, or raises a ``RuntimeError`` saying what is missing.

    Example:
        >>> register_loader("cpu", lambda: CPU)
    """
    _loaders[name] = loader


def backend_of(array) -> Backend:
    """The backend that owns ``array`` (NumPy for host arrays, Python scalars and lists).

    Args:
        array: any array or array-like.

    Example:
        >>> backend_of([1.0, 2.0]) is CPU
        True
    """
    backend = _by_type.get(type(array))
    if backend is not None:
        return backend
    for kind in type(array).__mro__[1:]:                              # subclasses of a backend's array
        backend = _by_type.get(kind)
        if backend is not None and kind is not np.ndarray:
            return backend
    return CPU


def namespace(*arrays):
    """The array namespace of ``arrays`` (``numpy``, ``cupy``, ...); they must share one backend.

    Args:
        *arrays: arrays (``None`` and Python scalars are skipped).

    Raises:
        RuntimeError: the arrays live on different devices.

    Example:
        >>> namespace(np.zeros(2)) is np
        True
    """
    if len(arrays) == 1:
        return backend_of(arrays[0]).xp
    return common_backend("namespace", arrays).xp


def common_backend(owner: str, arrays: Sequence, names: Sequence[str] | None = None) -> Backend:
    """The one backend of ``arrays`` (``None`` and scalars skipped), or a ``RuntimeError`` naming both devices.

    Args:
        owner: the layer or op to name in the error.
        arrays: arrays, ``None`` or Python scalars.
        names: the arrays' roles (``"input"``, ``"weight"``) for the error message.

    Example:
        >>> common_backend("conv2d", [np.zeros(1), None, 2.0]) is CPU
        True
    """
    found, found_at = None, None
    for i, a in enumerate(arrays):
        if a is None or isinstance(a, (int, float, np.generic)):
            continue
        backend = backend_of(a)
        if found is None:
            found, found_at = backend, i
        elif backend is not found:
            role = (lambda j: names[j] if names else f"argument {j}")
            raise RuntimeError(f"{owner}: expected all tensors on one device, but {role(found_at)} is on "
                               f"{found.device_of(arrays[found_at])} and {role(i)} on {backend.device_of(a)}; "
                               f"move one with .to(device)")
    return CPU if found is None else found


def backend_for(device) -> Backend:
    """The backend serving ``device`` (``"cpu"``, ``"cuda:0"``, a ``Device``), built on first use.

    Args:
        device: the device.

    Raises:
        RuntimeError: no backend for that device can be built here (the message says why).

    Example:
        >>> backend_for("cpu") is CPU
        True
    """
    kind = parse_device(device).type
    backend = _by_name.get(kind)
    if backend is None and kind in _loaders:
        backend = register(_loaders[kind]())
    if backend is None:
        raise RuntimeError(f"device {str(device)!r}: strided computes on 'cpu' and, with CuPy and an NVIDIA GPU, "
                           f"on 'cuda'; no backend serves {kind!r}")
    return backend


def to_device(array, device):
    """``array`` on ``device``: itself when it is already there, else a copy.

    Args:
        array: any backend's array.
        device: the device to move to.

    Example:
        >>> a = np.ones(2)
        >>> to_device(a, "cpu") is a
        True
    """
    device = parse_device(device)
    source = backend_of(array)
    target = backend_for(device)
    if source is target and source.device_of(array) == device:
        return array
    host = source.to_host(array)
    return target.from_host(host, device)


def device_of(array) -> Device:
    """The device holding ``array``.

    Args:
        array: any backend's array.

    Example:
        >>> device_of(np.zeros(3))
        device(type='cpu')
    """
    return backend_of(array).device_of(array)


def to_host(array) -> np.ndarray:
    """``array`` as a host NumPy array (itself when it is one).

    Args:
        array: any backend's array.

    Example:
        >>> to_host(np.zeros(1)).dtype
        dtype('float64')
    """
    return backend_of(array).to_host(array)


__all__ = ["Backend", "CPU", "Device", "backend_for", "backend_of", "common_backend", "device_of", "is_device_name",
           "namespace",
           "parse_device", "register", "register_loader", "to_device", "to_host", "unregister"]
