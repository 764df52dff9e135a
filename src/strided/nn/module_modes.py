"""The modes, gradients, dtypes and devices of a ``Module`` (a mixin of ``module.Module``):
``train`` / ``eval``, ``zero_grad``, ``requires_grad_``, ``to`` / ``double`` / ``float`` /
``cpu`` / ``cuda``, each applied in place to the module and every module below it, as in PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import backend as _backend
from ..tensor_ops import resolve_to
from .shape_only import is_meta, meta_array

if TYPE_CHECKING:
    from .module import Module


class ModeMethods:
    """Methods of ``Module`` that set a mode or convert parameters and buffers, for the whole tree
    (``self.modules()``, ``self.parameters()`` come from ``Module``)."""

    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, batch norm uses batch statistics) on this module and all below."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Whether every parameter of this module and all below gets a gradient, in place; returns
        self. ``model.requires_grad_(False)`` freezes a network (a frozen layer called on one image
        then takes the shortcut that keeps no graph), ``layer.requires_grad_()`` thaws one part.

        >>> from strided import nn
        >>> [p.requires_grad for p in nn.Linear(2, 1, rng=0).requires_grad_(False).parameters()]
        [False, False]
        """
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}.requires_grad_: expected True or False, got {requires_grad!r}")
        for param in self.parameters():
            param.requires_grad = bool(requires_grad)
        return self

    def to(self, *args, dtype=None, device=None) -> "Module":
        """Move parameters and buffers to a device and/or cast the floating ones to ``np.float32`` or
        ``np.float64``, in place; returns self.

        PyTorch's forms: ``to(np.float64)``, ``to("cuda")``, ``to("cpu", np.float64)``, ``to(tensor)``,
        ``to(dtype=..., device=...)``. A ``cuda`` device needs CuPy and a GPU (``st.cuda``; without
        them a ``RuntimeError`` says how to install), and any dtype other than float32/float64 raises a
        ``TypeError``. A moved parameter takes its gradient along; a cast one loses it.

        >>> from strided import nn
        >>> nn.Linear(2, 1, rng=0).to(np.int32)
        Traceback (most recent call last):
        ...
        TypeError: Linear.to: dtype must be float32 or float64 (or a device such as 'cpu'), got int32
        """
        return self._to(f"{type(self).__name__}.to", args, dtype, device)

    def _to(self, owner: str, args: tuple, dtype=None, device=None) -> "Module":
        dtype, place = resolve_to(owner, args, dtype, device)          # an unusable device fails here
        if place is not None:
            for module in self.modules():
                for param in module._parameters.values():
                    if not is_meta(param.data):
                        param.data = _backend.to_device(param.data, place)
                        param.grad = None if param.grad is None else _backend.to_device(param.grad, place)
                for name, buf in module._buffers.items():
                    if buf is not None and not is_meta(buf):
                        module._buffers[name] = _backend.to_device(buf, place)
        if dtype is None:
            return self
        for module in self.modules():
            for param in module._parameters.values():
                if param.data.dtype != dtype:                           # a meta array stays one
                    param.data = meta_array(param.shape, dtype) if is_meta(param.data) else param.data.astype(dtype)
                    param.grad = None
            for name, buf in module._buffers.items():
                if buf is not None and np.issubdtype(buf.dtype, np.floating):
                    module._buffers[name] = (meta_array(buf.shape, dtype) if is_meta(buf) and buf.dtype != dtype
                                             else buf.astype(dtype, copy=False))
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def cpu(self) -> "Module":
        """Parameters and buffers moved to the host (nothing to do when they are there)."""
        return self._to(f"{type(self).__name__}.cpu", ("cpu",))

    def cuda(self, device=None) -> "Module":
        """Parameters and buffers moved to a GPU (``"cuda"`` or ``cuda:<device>``; needs CuPy)."""
        return self._to(f"{type(self).__name__}.cuda",
                        ("cuda" if device is None else (device if isinstance(device, str) else f"cuda:{device}"),))
