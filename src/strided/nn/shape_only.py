"""Shape-only modules for analysis: ``meta()``, PyTorch's ``meta`` device in NumPy terms.

Under ``with nn.meta():`` a module is built without drawing or storing any value: every
parameter and buffer is a read-only view of one zero with all strides 0
(``np.broadcast_to(np.zeros((), dtype), shape)``), so shapes, ``size``, ``num_parameters()`` and
every static rule (``output_shape``, ``cost``, ``receptive_field``, ``walk``, ``summary``) work,
and VGG-16's 138M parameters take no memory::

    >>> from strided import nn
    >>> with nn.meta():
    ...     fc = nn.Linear(25088, 4096)
    >>> fc.weight.shape, fc.weight.data.strides, nn.is_meta(fc)
    ((4096, 25088), (0, 0), True)
    >>> fc(np.zeros((1, 25088), dtype=np.float32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: Linear(in_features=25088, out_features=4096): its parameters are meta (built under ...

Meta is a property of the array, the context only changes how parameters are made: the layer
initialisers (``nn.draws``' helpers, ``Parameter``, ``register_buffer``) make meta arrays while it
is on, and the in-place ``nn.init.*_`` functions leave a meta array as it is. Nothing is drawn,
so the default generator does not move. A meta module is for analysis: calling it raises (as
above), an optimizer refuses its parameters, ``state_dict()`` returns the shape-only views, and
``load_state_dict`` with real arrays gives it values (then it runs).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

_state = threading.local()
_ZEROS: dict = {}        # dtype -> the 0-d zero that every meta array of that dtype views
USED = False
"""Set once ``meta()`` was entered in this process: only then does a module call look for meta parameters."""


def is_meta_enabled() -> bool:
    """Whether parameters made now are meta (inside ``meta()``)."""
    return getattr(_state, "enabled", False)


@contextmanager
def meta(enabled: bool = True):
    """Context in which modules are built shape-only (see the module's docstring); ``meta(False)``
    turns it off inside an outer ``meta()``.

    Args:
        enabled: turn shape-only building on (``False``: off inside an outer ``meta()``).

    >>> from strided import nn
    >>> with nn.meta():
    ...     conv = nn.Conv2d(512, 512, 3, padding=1)
    >>> conv.num_parameters(), conv.output_shape((1, 512, 14, 14))
    (2359808, (1, 512, 14, 14))
    """
    global USED
    USED = True
    previous = is_meta_enabled()
    _state.enabled = bool(enabled)
    try:
        yield
    finally:
        _state.enabled = previous


def meta_array(shape, dtype=np.float32) -> np.ndarray:
    """A read-only array of ``shape`` and ``dtype`` that stores nothing: one zero seen with strides 0."""
    dtype = np.dtype(dtype)
    zero = _ZEROS.get(dtype)
    if zero is None:
        zero = _ZEROS.setdefault(dtype, np.zeros((), dtype))
    return np.broadcast_to(zero, tuple(int(v) for v in shape))


def _is_meta_array(array) -> bool:
    base = getattr(array, "base", None)
    return base is not None and getattr(base, "ndim", None) == 0 and _ZEROS.get(base.dtype) is base


def is_meta(value) -> bool:
    """Whether ``value`` holds no values: a meta array, a tensor or parameter over one, or a module
    with any meta parameter or buffer.

    Args:
        value: an array, a tensor, a parameter or a module; anything else is not meta.

    Example:
        >>> is_meta(meta_array((2, 3))), is_meta(np.zeros((2, 3)))
        (True, False)
    """
    if isinstance(value, np.ndarray):
        return _is_meta_array(value)
    data = getattr(value, "data", None)
    if isinstance(data, np.ndarray):
        return _is_meta_array(data)
    parameters = getattr(value, "parameters", None)
    if callable(parameters):
        return (any(_is_meta_array(p.data) for p in parameters())
                or any(_is_meta_array(b) for _, b in value.named_buffers()))
    return False


def meta_error(owner: str, action: str, what: str = "its parameters are") -> RuntimeError:
    """The error for using a meta module or parameter as if it held values."""
    return RuntimeError(f"{owner}: {what} meta (built under strided.nn.meta(): shapes only, no values), so it "
                        f"cannot {action}; build it without meta, or load real weights with load_state_dict()")


def refuse_meta(module) -> None:
    """Raise ``meta_error`` when one of ``module``'s own parameters or buffers is meta (before its forward)."""
    if (any(p is not None and _is_meta_array(p.data) for p in module._parameters.values())
            or any(_is_meta_array(b) for b in module._buffers.values())):
        raise meta_error(module._describe(), "run forward")


__all__ = ["meta", "is_meta", "is_meta_enabled", "meta_array"]
