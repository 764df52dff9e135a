"""``state_dict`` and ``load_state_dict``: a module's arrays under PyTorch's dotted names.

``StateDictMethods`` is a mixin of ``Module``: names are ``prefix.name`` over ``named_modules()``
(``features.0.weight``), parameters before buffers within each module, so weights move 1:1
to and from ``torch.nn``. A meta module (``nn.meta()``) gives its shape-only views uncopied,
and loading real arrays into one gives it values.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..errors import ShapeError, shape_str
from .shape_only import is_meta


class StateDictMethods:
    """``state_dict()`` and ``load_state_dict()`` for ``Module``."""

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, under dotted names, in registration order (a meta
        array, which holds no values, is given as it is: copying it would allocate its zeros)."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                state[f"{prefix}.{name}" if prefix else name] = param.data if is_meta(param.data) else param.data.copy()
            for name, buf in module._buffers.items():
                if buf is not None:
                    state[f"{prefix}.{name}" if prefix else name] = buf if is_meta(buf) else np.array(buf, copy=True)
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True):
        """Copy arrays from ``state`` into this module's parameters and buffers.

        Every key and shape is checked before anything is written, so a failed load changes
        nothing. With ``strict``, missing and unexpected keys are errors too. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        targets = {}
        for prefix, module in self.named_modules():
            for name in module._parameters:
                targets[f"{prefix}.{name}" if prefix else name] = (module, name, "param")
            for name, buf in module._buffers.items():
                if buf is not None:
                    targets[f"{prefix}.{name}" if prefix else name] = (module, name, "buffer")
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        mismatched = []
        for key, (module, name, kind) in targets.items():
            if key in state:
                have = module._parameters[name].shape if kind == "param" else module._buffers[name].shape
                got = np.shape(state[key])
                if tuple(got) != tuple(have):
                    mismatched.append(f"{key}: expected {shape_str(have)}, got {shape_str(got)}")
        problems = []
        if mismatched:
            problems.append("shape mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            error = ShapeError if mismatched else ValueError
            raise error(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems) + " (nothing was loaded)")
        for key, (module, name, kind) in targets.items():
            if key not in state:
                continue
            if kind == "param":
                param = module._parameters[name]
                param.data = np.array(state[key], dtype=param.data.dtype, copy=True)
            else:
                old = module._buffers[name]
                module._buffers[name] = np.array(state[key], dtype=old.dtype, copy=True)
        return missing, unexpected
