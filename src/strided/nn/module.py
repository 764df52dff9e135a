"""``Module`` and ``Parameter``: the container side of layers, as PyTorch users know it.

A module declares its state in ``__init__``: assigning a ``Parameter`` registers a trainable
array, assigning a ``Module`` registers a child, ``register_buffer`` registers a non-trainable
array (running statistics). Settings stay plain attributes. ``state_dict`` and
``load_state_dict`` (``nn.state``) use PyTorch's dotted names (``features.0.weight``), so
weights move 1:1.

Calling a module (``__call__``) converts a raw array input to the dtype of its parameters and
runs its forward hooks, if any (``register_forward_pre_hook``, ``register_forward_hook``: the
mixin ``hooks.ForwardHookMethods``). Under ``nn.meta()`` parameters and buffers are shape-only
(``nn.shape_only``), and a module holding them refuses to run.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import Iterator

import numpy as np

from ..errors import expected_input
from ..geometry import ReceptiveField
from ..hooks import ForwardHookMethods
from ..tensor import Tensor
from .. import backend as _backend
from . import shape_only
from .module_modes import ModeMethods
from .registry import has_static_rules
from .shape_only import is_meta, is_meta_enabled, meta_array, refuse_meta
from .state import StateDictMethods
from .trace import trace, traced_macs, traced_walk


class Parameter(Tensor):
    """A tensor that a module trains: ``requires_grad`` is on by default; dtypes as for ``Tensor``.
    Made under ``nn.meta()``, it keeps only the shape and dtype of ``data`` (a meta array).

    Args:
        data: the initial values: an array, a ``Tensor`` or anything ``np.asarray`` accepts.
        requires_grad: record operations on it for ``backward`` (default ``True``).
        dtype: ``np.float32`` or ``np.float64`` (default ``None``: a float32 or float64 array keeps its
            dtype, anything else becomes float32).

    Example:
        >>> weight = Parameter(np.zeros((2, 3)))
        >>> weight.shape, weight.requires_grad
        ((2, 3), True)
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)
        if is_meta_enabled() and not is_meta(self.data):
            self.data = meta_array(self.data.shape, self.data.dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Cost(tuple):
    """``(params, macs)`` of a layer for one example; MACs count multiply-accumulates.

    One MAC is one multiply followed by one add, for one example: a convolution costs
    ``prod(out_spatial) * out_channels * (in_channels / groups) * prod(kernel)``, a dense layer
    ``in_features * out_features``. Bias additions, activations, pooling and normalisation are
    not counted (the convention behind torchvision's published GMACs).

    Example:
        >>> cost = Cost(params=10, macs=200)
        >>> cost.params, cost.macs
        (10, 200)
    """

    def __new__(cls, params: int = 0, macs: int = 0):
        """A new cost.

        Args:
            params: parameter count (default 0).
            macs: multiply-accumulates for one example (default 0).
        """
        return super().__new__(cls, (int(params), int(macs)))

    @property
    def params(self) -> int:
        return self[0]

    @property
    def macs(self) -> int:
        return self[1]

    def __add__(self, other):
        return Cost(self[0] + other[0], self[1] + other[1])


_FLOAT32 = np.dtype(np.float32)


def _is_raw(value) -> bool:
    """An array, a number or a list of numbers: an input ``Module.__call__`` converts to a tensor."""
    if isinstance(value, list):
        return not any(isinstance(v, Tensor) for v in value)
    return isinstance(value, (np.ndarray, numbers.Number)) or _is_device_array(value)


def _is_device_array(value) -> bool:
    """An array of a backend other than NumPy's (a CuPy array on a GPU)."""
    return _backend.backend_of(value) is not _backend.CPU


class Module(ForwardHookMethods, StateDictMethods, ModeMethods):
    """Base class of every layer and network.

    Subclasses set their state in ``__init__`` (after ``super().__init__()``) and implement
    ``forward``. Layers also implement the static rules ``output_shape(in_shape)``,
    ``cost(in_shape)`` and ``receptive_field(rf, in_shape)``; registered element-wise layers
    inherit the identity rules below, and a module without static rules (a hand-written
    ``forward``, see ``registry.has_static_rules``) gets them by tracing (``nn.trace``).

    Shape: set by each subclass (its docstring's ``Shape:``); ``output_shape(in_shape)`` gives it without
    arrays: the input's shape for element-wise layers, traced for a module without static rules.

    Example:
        >>> class Scale(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.weight = Parameter(np.full(2, 3.0))
        ...     def forward(self, x):
        ...         return x * self.weight
        >>> scale = Scale()
        >>> scale(np.ones((1, 2))).numpy().tolist(), list(scale.state_dict()), scale.output_shape((4, 2))
        ([[3.0, 3.0]], ['weight'], (4, 2))
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----------------------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        self.__dict__.pop("_description", None)                         # settings change: describe anew
        self.__dict__.pop("_resolved", None)                            # ... and resolve geometry anew
        if isinstance(value, Parameter):
            target = self._parameters
        elif isinstance(value, Module):
            target = self._modules
        elif name in self._buffers and (value is None or isinstance(value, np.ndarray) or _is_device_array(value)):
            target = self._buffers   # assigning an array to a buffer updates the buffer, as in torch
        else:
            target = None
        for store in (self._parameters, self._buffers, self._modules):
            if store is not target:   # a replaced entry keeps its place in the order, as in torch
                store.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
            return
        target[name] = value
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        state = self.__dict__
        parameters = state.get("_parameters")                          # the common case first: layer.weight
        if parameters is not None and name in parameters:
            return parameters[name]
        for store in ("_buffers", "_modules"):
            values = state.get(store)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value) -> None:
        """A non-trainable array saved in ``state_dict`` (e.g. running statistics); shape-only under ``nn.meta()``."""
        self.__dict__.pop(name, None)
        value = None if value is None or _is_device_array(value) else np.asarray(value)   # a device array stays
        if value is not None and is_meta_enabled() and not is_meta(value):
            value = meta_array(value.shape, value.dtype)
        self._buffers[name] = value

    # ----------------------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    converts_raw_input = True
    """Whether ``__call__`` makes a raw first input a floating tensor (``False`` for index inputs: Embedding)."""

    def __call__(self, *args, **kwargs):
        """``forward(*args)``; a raw first input (an array, a number) becomes a tensor of this module's
        dtype first (``input_dtype``), and registered forward hooks run around the forward. A module
        whose own parameters or buffers are meta (``nn.meta()``) raises a ``RuntimeError`` instead."""
        if shape_only.USED:                                             # one flag read unless meta() was ever used
            refuse_meta(self)
        if args and not isinstance(args[0], Tensor) and self.converts_raw_input and _is_raw(args[0]):
            args = (Tensor(args[0], dtype=self.input_dtype()),) + args[1:]
        if self._hooks is None:
            return self.forward(*args, **kwargs)
        return self._hooks.run(self, args, kwargs)

    def input_dtype(self) -> np.dtype:
        """The dtype a raw input is converted to: that of the first parameter (else of the first floating
        buffer), float32 for a module with neither. ``.double()`` makes it float64."""
        leaf = not self._modules                                        # a layer: no traversal needed
        for param in (self._parameters.values() if self._parameters or leaf else self.parameters()):
            return param.data.dtype
        for buf in (self._buffers.values() if leaf else (b for _, b in self.named_buffers())):
            if buf is not None and buf.dtype.kind == "f":
                return buf.dtype
        return _FLOAT32

    # ----------------------------------------------------------------------------- traversal
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every descendant, with dotted names (``''`` for this one)."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{prefix}.{name}" if prefix else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for prefix, module in self.named_modules():
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{prefix}.{name}" if prefix else name), buf

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----------------------------------------------------------------------------- static rules
    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of ``forward``'s output for an input of ``in_shape``, computed without arrays: the
        identity for element-wise layers; traced (one forward pass, ``nn.trace``) for a module without
        static rules."""
        if not has_static_rules(self):
            return trace(self, in_shape).out_shape
        return tuple(in_shape)

    def cost(self, in_shape: tuple[int, ...]) -> Cost:
        """Parameters and MACs per example (see ``Cost``); element-wise layers cost no MACs. A module
        without static rules: all its parameters, and the MACs of the calls its traced forward makes."""
        if not has_static_rules(self):
            return Cost(self.num_parameters(), traced_macs(trace(self, in_shape)))
        return Cost(sum(p.size for p in self._parameters.values()), 0)

    def receptive_field(self, rf: ReceptiveField, in_shape: tuple[int, ...]) -> ReceptiveField | None:
        """Receptive field of the output, given that of the input (unchanged by element-wise layers);
        ``None`` (unknown) for a module without static rules."""
        return rf if has_static_rules(self) else None

    # ----------------------------------------------------------------------------- fusion
    def fuse_with(self, after: "Module"):
        """A function running this module and then ``after`` as one faster op, or ``None``.

        ``run_chain`` (used by ``Sequential`` and the residual blocks) asks each module this about
        the module that follows it. A layer that has a joint form with its successor returns
        ``x -> after(self(x))`` computed that way, with the same values and gradients; it should
        recognise the successor by its exact type, so that a subclass with its own ``forward`` is
        never bypassed. The default offers none.
        """
        return None

    def walk(self, in_shape, rf, visit):
        """Follow the data statically: report this layer to ``visit`` and return ``(out_shape, rf)``.

        ``visit(module, in_shape, out_shape, rf_out)`` is called once per layer application;
        ``rf`` may be ``None`` when receptive fields are not wanted. Layers keep this default;
        networks built from children (``Block``) override it to describe their data flow. A module
        without static rules is traced (``nn.trace.traced_walk``): each layer its forward calls is
        reported with its real shapes, and the receptive field after it is ``None``.
        """
        if not has_static_rules(self):
            return traced_walk(self, in_shape, visit)
        out = tuple(self.output_shape(tuple(in_shape)))
        rf_out = None if rf is None else self.receptive_field(rf, tuple(in_shape))
        visit(self, tuple(in_shape), out, rf_out)
        return out, rf_out

    # ----------------------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")

    # helpers for subclasses
    def _describe(self) -> str:
        """``Conv2d(3, 16, kernel_size=(3, 3), ...)``: how errors name this layer (kept until an attribute changes)."""
        description = self.__dict__.get("_description")
        if description is None:
            description = f"{type(self).__name__}({self.extra_repr()})"
            object.__setattr__(self, "_description", description)
        return description

    def _weight_and_bias(self) -> tuple:
        """``(self.weight, self.bias)``, read from the parameter dict when they are there: a plain
        attribute read of a parameter first fails on the instance (about 0.4 us before ``__getattr__``
        answers), which a batch-1 forward pays per layer."""
        parameters = self.__dict__["_parameters"]
        weight = parameters["weight"] if "weight" in parameters else self.weight
        bias = parameters["bias"] if "bias" in parameters else self.bias
        return weight, bias

    def _resolved_for(self, key, resolve):
        """``resolve()``, remembered per ``key`` (the input and weight shapes) until an attribute of this
        layer changes: a windowed layer's checked geometry, resolved once rather than per call."""
        resolved = self.__dict__.get("_resolved")
        if resolved is None:
            resolved = {}
            object.__setattr__(self, "_resolved", resolved)
        value = resolved.get(key)
        if value is None:
            if len(resolved) >= 64:                                     # a few input sizes, not every one seen
                resolved.clear()
            value = resolved[key] = resolve()
        return value

    def _check_rank(self, shape, ranks: tuple[int, ...], expected: str) -> None:
        """Raise a ShapeError naming this layer when ``len(shape)`` is not one of ``ranks``."""
        if len(shape) not in ranks:
            raise expected_input(self._describe(), expected, shape)


def run_chain(modules, x):
    """Apply ``modules`` in order to ``x``; where a module offers a joint form with the next one
    (``Module.fuse_with``), run the pair as one, unless either has forward hooks. The static rules
    still see every module.

    Args:
        modules: the modules, in the order they apply (any iterable; a ``Sequential``'s children).
        x: the input of the first module.

    >>> from strided import nn
    >>> y = run_chain([nn.BatchNorm1d(2), nn.ReLU()], np.ones((3, 2), dtype=np.float32))
    >>> y.op, y.shape
    ('batch_norm_relu', (3, 2))
    """
    modules = tuple(modules)
    last = len(modules) - 1
    i = 0
    while i <= last:
        # a module with forward hooks is called on its own, so that its hooks see its own input and output
        fusable = i < last and modules[i]._hooks is None and modules[i + 1]._hooks is None
        joint = modules[i].fuse_with(modules[i + 1]) if fusable else None
        if joint is None:
            x = modules[i](x)
            i += 1
        else:
            if shape_only.USED:                                         # a joint form reads both modules' arrays
                refuse_meta(modules[i])
                refuse_meta(modules[i + 1])
            x = joint(x)
            i += 2
    return x
