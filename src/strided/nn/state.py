"""``state_dict`` and ``load_state_dict``: a module's arrays under PyTorch's dotted names.

``StateDictMethods`` is a mixin of ``Module``: names are ``prefix.name`` over ``named_modules()``
(``features.0.weight``), parameters before buffers within each module, so weights move 1:1
to and from ``torch.nn``. A meta module (``nn.meta()``) gives its shape-only views uncopied,
and loading real arrays into one gives it values.

Devices: ``state_dict()`` gives host NumPy arrays whatever device the module is on, and
``load_state_dict`` checks on the host, then puts every value on the device of the parameter or
buffer it replaces, so one checkpoint loads onto the CPU or a GPU.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..backend import CPU, backend_of
from ..errors import ShapeError, shape_str
from ..tensor import Tensor
from .shape_only import is_meta


class StateDictMethods:
    """``state_dict()`` and ``load_state_dict()`` for ``Module``."""

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, under dotted names, in registration order, as host
        NumPy arrays whatever the module's device (a meta array, which holds no values, is given as it
        is: copying it would allocate its zeros)."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                data = param.data
                state[f"{prefix}.{name}" if prefix else name] = (
                    data if is_meta(data) else data.copy() if type(data) is np.ndarray else host_copy(data))
            for name, buf in module._buffers.items():
                if buf is not None:
                    state[f"{prefix}.{name}" if prefix else name] = buf if is_meta(buf) else host_copy(buf)
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True):
        """Copy arrays from ``state`` into this module's parameters and buffers.

        Every key, shape and value is checked, and every value converted to its parameter's
        dtype, before anything is written, so a failed load changes nothing. Values are NumPy
        arrays (or NumPy/Python numbers, or ``Tensor``s/``Parameter``s, whose data is taken, as
        PyTorch users pass tensors) of booleans or real numbers; strings, ``None``, objects,
        complex, datetime and structured arrays are refused (``TypeError``), as are keys that
        are not strings. A value that does not fit the target dtype (a NaN or a fraction for an
        integer buffer, a float64 beyond float32's range) is a ``ValueError``. With ``strict``,
        missing and unexpected keys are errors too. Values may live on any device (they are checked
        on the host); each is put on the device of the parameter or buffer it replaces. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        return self.prepare_state_dict(state, strict)()

    def prepare_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True):
        """Check and convert ``state`` as ``load_state_dict`` does, writing nothing; returns the
        function (no arguments) that writes it and returns ``(missing_keys, unexpected_keys)``.

        Lets a caller check several states (a checkpoint's model, optimizer and schedule) before
        changing any of them.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{owner}: expected a mapping of names to arrays (a state_dict), got {type(state).__name__}")
        targets = {}
        for prefix, module in self.named_modules():
            for name in module._parameters:
                targets[f"{prefix}.{name}" if prefix else name] = (module, name, "param")
            for name, buf in module._buffers.items():
                if buf is not None:
                    targets[f"{prefix}.{name}" if prefix else name] = (module, name, "buffer")
        bad_keys = [repr(k) for k in state if not isinstance(k, str)]
        values, bad_values = {}, []
        for key in targets:
            if key in state:
                value, problem = as_state_array(state[key])
                if problem:
                    bad_values.append(f"{key}: {problem}")
                values[key] = value
        if bad_keys or bad_values:
            problems = (["keys must be str, got " + ", ".join(bad_keys)] if bad_keys else []) + bad_values
            raise TypeError(f"{owner}: " + "; ".join(problems) + " (nothing was loaded)")
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        mismatched = []
        for key, value in values.items():
            module, name, kind = targets[key]
            have = module._parameters[name].shape if kind == "param" else module._buffers[name].shape
            if tuple(value.shape) != tuple(have):
                mismatched.append(f"{key}: expected {shape_str(have)}, got {shape_str(value.shape)}")
        problems = []
        if mismatched:
            problems.append("shape mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            error = ShapeError if mismatched else ValueError
            raise error(f"{owner}: " + "; ".join(problems) + " (nothing was loaded)")
        writes, unfit = [], []
        for key, value in values.items():
            module, name, kind = targets[key]
            current = module._parameters[name].data if kind == "param" else module._buffers[name]
            converted, problem = convert_exactly(value, current.dtype)
            if problem:
                unfit.append(f"{key}: {problem}")
            writes.append((module, name, kind, converted, current))
        if unfit:
            raise ValueError(f"{owner}: " + "; ".join(unfit) + " (nothing was loaded)")
        for i, (module, name, kind, converted, current) in enumerate(writes):
            place = backend_of(current)                    # moved before the commit: a failed copy loads nothing
            if place is not CPU:
                writes[i] = (module, name, kind, place.from_host(converted, place.device_of(current)), current)

        def commit():
            for module, name, kind, array, _ in writes:
                if kind == "param":
                    module._parameters[name].data = array
                else:
                    module._buffers[name] = array
            return missing, unexpected
        return commit


def as_state_array(value) -> tuple[np.ndarray | None, str | None]:
    """``(array, None)`` for a value ``load_state_dict`` accepts (arrays, numbers, a ``Tensor``'s data),
    else ``(None, why)``: booleans and real numbers only."""
    if isinstance(value, Tensor):
        value = value.data
    source = backend_of(value)
    if source is not CPU:                                  # a device array: checked on the host
        value = source.to_host(value)
    if isinstance(value, (str, bytes)) or value is None:
        return None, f"got {type(value).__name__} {value!r:.40}, expected an array of numbers"
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except Exception as error:            # ragged lists, a torch tensor that requires grad, ...
        return None, f"cannot be read as an array ({type(error).__name__}: {error})"
    if array.dtype.kind not in "biuf" or array.dtype.fields is not None or array.dtype.subdtype is not None:
        return None, f"has dtype {array.dtype}, expected booleans or real numbers"
    return array, None


def host_copy(array) -> np.ndarray:
    """A host NumPy copy of ``array`` from any device (for ``state_dict``)."""
    source = backend_of(array)
    return np.array(array, copy=True) if source is CPU else source.to_host(array)


def convert_exactly(array: np.ndarray, dtype) -> tuple[np.ndarray, str | None]:
    """A copy of ``array`` as ``dtype``, and why it does not fit (``None`` if it does): integers and
    booleans must be represented exactly, finite floats must stay finite."""
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):
        converted = np.array(array, dtype=dtype, copy=True)
    if np.can_cast(array.dtype, dtype, "safe") or array.size == 0:
        return converted, None
    if dtype.kind == "f":
        if array.dtype.kind == "f" and not np.array_equal(np.isfinite(converted), np.isfinite(array)):
            return converted, f"values of {array.dtype} beyond the range of {dtype}"
        return converted, None
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        return converted, f"NaN or infinity cannot be stored in {dtype}"
    with np.errstate(all="ignore"):
        same = np.array_equal(converted.astype(array.dtype), array) and (
            dtype.kind != "b" or np.isin(array, (0, 1)).all())
    if not same:
        return converted, f"values of {array.dtype} that {dtype} cannot hold exactly"
    return converted, None
