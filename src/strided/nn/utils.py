"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` and ``clip_grad_value_``; and
PyTorch's convolution and batch-norm folding, ``fuse_conv_bn_eval`` and ``fuse_conv_bn_weights``
(``nn.fusion``, with ``freeze``).

Call between ``loss.backward()`` and ``optimizer.step()``; the gradients (each parameter's
``.grad`` array) are scaled or clamped in place::

    >>> import numpy as np, strided as st
    >>> p = st.nn.Parameter(np.zeros(2))
    >>> p.grad = np.array([3.0, 4.0])
    >>> float(st.nn.utils.clip_grad_norm_([p], max_norm=1.0))      # the norm before clipping
    5.0
    >>> np.round(p.grad, 6).tolist()                                 # scaled by 1 / (5 + 1e-6)
    [0.6, 0.8]

The gradients are scaled or clamped on their own device (CPU or GPU); the total norm is computed
there too and returned as a NumPy scalar on the host.
"""

from __future__ import annotations

import math
import types
import warnings

import numpy as np

from ..backend import CPU, backend_of, namespace
from ..checks import as_number
from ..tensor import Tensor
from .fusion import freeze, fuse_conv_bn_eval, fuse_conv_bn_weights


def _as_list(parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    generator = isinstance(parameters, types.GeneratorType)
    parameters = list(parameters)
    if generator and not parameters:
        warnings.warn("clip_grad: `parameters` is an empty generator, no gradient clipping will occur",
                      stacklevel=3)
    return parameters


def _norm(array, p: float, xp):
    """PyTorch's ``vector_norm``: ``(sum |x|^p)^(1/p)``; ``inf``/``-inf`` the max/min of ``|x|``,
    ``0`` the number of non-zeros. A scalar (0-d array) of ``xp``, the namespace of ``array``."""
    x = xp.abs(array.reshape(-1))
    if p == math.inf:
        return x.max() if x.size else xp.zeros((), x.dtype)
    if p == -math.inf:
        return x.min() if x.size else xp.full((), math.inf, x.dtype)
    if p == 0:
        return xp.asarray(xp.count_nonzero(x), dtype=x.dtype)
    if p == 2:
        return xp.sqrt(xp.dot(x, x))
    if p == 1:
        return x.sum()
    return xp.sum(x ** p) ** (1.0 / p)


def _as_array(value):
    """A Tensor's data, a device array as it is, anything else as a host NumPy array."""
    if isinstance(value, Tensor):
        return value.data
    return np.asarray(value) if backend_of(value) is CPU else value


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """The ``norm_type`` norm of all the arrays together (the norm of their norms), as a NumPy scalar.

    ``tensors`` are gradient arrays (or Tensors, whose ``.data`` is used). No arrays: 0.0.

    Args:
        tensors: an array or Tensor, or an iterable of them.
        norm_type: the order ``p`` of the norm: a number, ``float('inf')`` (largest absolute value),
            ``float('-inf')`` or 0 (count of non-zeros) (default 2.0).
        error_if_nonfinite: raise ``RuntimeError`` when the total is nan or inf (default ``False``).

    Example:
        >>> float(get_total_norm([np.array([3.0]), np.array([4.0])]))
        5.0
    """
    single = isinstance(tensors, (Tensor, np.ndarray)) or backend_of(tensors) is not CPU
    arrays = [_as_array(t) for t in ([tensors] if single else list(tensors))]
    p = float(norm_type) if isinstance(norm_type, str) else as_number(norm_type, "norm_type", "clip_grad_norm_")
    if not arrays:
        return np.float32(0.0)
    xp = namespace(*arrays)                                # on the gradients' device; one device for all
    dtype = np.result_type(*(a.dtype for a in arrays))
    norms = xp.stack([xp.asarray(_norm(a, p, xp)) for a in arrays]).astype(dtype, copy=False)
    total = dtype.type(float(_norm(norms, p, xp)))         # the one value brought to the host
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {p} of the gradients is non-finite "
                           f"({total}), so it cannot be clipped; pass error_if_nonfinite=False to scale "
                           f"the gradients by it anyway")
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm) -> None:
    """Scale every gradient by ``min(1, max_norm / (total_norm + 1e-6))``, in place.

    Args:
        parameters: a Parameter or an iterable of Parameters (a module's ``parameters()``).
        max_norm: the largest total norm allowed.
        total_norm: the total norm of the gradients, as ``get_total_norm`` gives it.

    Example:
        >>> p = Tensor(np.zeros(2), requires_grad=True)
        >>> p.grad = np.array([3.0, 4.0])
        >>> clip_grads_with_norm_([p], max_norm=1.0, total_norm=5.0)
        >>> np.round(p.grad, 4).tolist()
        [0.6, 0.8]
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    max_norm = as_number(max_norm, "max_norm", "clip_grad_norm_")
    if not grads:
        return
    total = backend_of(total_norm).to_host(total_norm)      # a host number: scales gradients on any device
    coefficient = np.minimum(total.dtype.type(max_norm) / (total + total.dtype.type(1e-6)), 1)   # nan stays nan
    with np.errstate(invalid="ignore"):                   # inf * 0 -> nan, as in PyTorch, without a warning
        for grad in grads:
            grad *= coefficient.astype(grad.dtype)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Scale the gradients of ``parameters`` in place so that their total norm is at most ``max_norm``.

    The total norm is taken over all the gradients together, as if concatenated into one vector
    (``norm_type`` 2 by default; ``float('inf')`` for the largest absolute value). Each gradient
    is multiplied by ``min(1, max_norm / (total_norm + 1e-6))``. Parameters without a gradient are
    skipped. Returns the total norm before clipping (a NumPy scalar in the gradients' dtype). A
    non-finite norm raises ``RuntimeError`` with ``error_if_nonfinite=True``; otherwise the
    gradients become nan, as in PyTorch.

    Args:
        parameters: a Parameter or an iterable of Parameters (a module's ``parameters()``).
        max_norm: the largest total norm allowed.
        norm_type: the order ``p`` of the norm (default 2.0; ``float('inf')``: the largest absolute value).
        error_if_nonfinite: raise ``RuntimeError`` when the total norm is nan or inf (default ``False``).

    Example:
        >>> import strided as st
        >>> p = st.nn.Parameter(np.zeros(2))
        >>> p.grad = np.array([3.0, 4.0])
        >>> (float(clip_grad_norm_([p], 1.0)), np.round(p.grad, 4).tolist())
        (5.0, [0.6, 0.8])
    """
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]``, in place.

    Args:
        parameters: a Parameter or an iterable of Parameters (a module's ``parameters()``).
        clip_value: the largest absolute value a gradient element may keep.

    Example:
        >>> import strided as st
        >>> p = st.nn.Parameter(np.zeros(3))
        >>> p.grad = np.array([-2.0, 0.5, 3.0])
        >>> clip_grad_value_([p], 1.0)
        >>> p.grad.tolist()
        [-1.0, 0.5, 1.0]
    """
    clip_value = as_number(clip_value, "clip_value", "clip_grad_value_")
    for param in _as_list(parameters):
        if param.grad is not None:
            namespace(param.grad).clip(param.grad, -clip_value, clip_value, out=param.grad)


__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_", "freeze",
           "fuse_conv_bn_eval", "fuse_conv_bn_weights"]
