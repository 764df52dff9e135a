"""``Module`` and ``Parameter``: the container side of layers, as PyTorch users know it.

A module declares its state in ``__init__``: assigning a ``Parameter`` registers a trainable
array, assigning a ``Module`` registers a child, ``register_buffer`` registers a non-trainable
array (running statistics). Settings stay plain attributes. ``state_dict`` and
``load_state_dict`` use PyTorch's dotted names (``features.0.weight``), so weights move 1:1.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, Mapping

import numpy as np

from ..errors import ShapeError, expected_input, shape_str
from ..geometry import ReceptiveField
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a module trains: ``requires_grad`` is on by default."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        if dtype is None and isinstance(data, np.ndarray) and data.dtype == np.float64:
            dtype = np.float64
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Cost(tuple):
    """``(params, macs)`` of a layer for one example; MACs count multiply-accumulates.

    One MAC is one multiply followed by one add, for one example: a convolution costs
    ``prod(out_spatial) * out_channels * (in_channels / groups) * prod(kernel)``, a dense layer
    ``in_features * out_features``. Bias additions, activations, pooling and normalisation are
    not counted (the convention behind torchvision's published GMACs).
    """

    def __new__(cls, params: int = 0, macs: int = 0):
        return super().__new__(cls, (int(params), int(macs)))

    @property
    def params(self) -> int:
        return self[0]

    @property
    def macs(self) -> int:
        return self[1]

    def __add__(self, other):
        return Cost(self[0] + other[0], self[1] + other[1])


class Module:
    """Base class of every layer and network.

    Subclasses set their state in ``__init__`` (after ``super().__init__()``) and implement
    ``forward``. Layers also implement the static rules ``output_shape(in_shape)``,
    ``cost(in_shape)`` and ``receptive_field(rf, in_shape)``; element-wise layers inherit the
    identity rules below.
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
        if isinstance(value, Parameter):
            target = self._parameters
        elif isinstance(value, Module):
            target = self._modules
        elif name in self._buffers and (value is None or isinstance(value, np.ndarray)):
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
        for store in ("_parameters", "_buffers", "_modules"):
            values = self.__dict__.get(store)
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
        """A non-trainable array saved in ``state_dict`` (e.g. running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if value is None else np.asarray(value)

    # ----------------------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

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

    # ----------------------------------------------------------------------------- modes and dtypes
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

    def to(self, dtype) -> "Module":
        """Cast parameters and floating buffers to ``np.float32`` or ``np.float64``, in place."""
        dtype = np.dtype(dtype)
        for module in self.modules():
            for param in module._parameters.values():
                param.data = param.data.astype(dtype)
                param.grad = None
            for name, buf in module._buffers.items():
                if buf is not None and np.issubdtype(buf.dtype, np.floating):
                    module._buffers[name] = buf.astype(dtype)
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, under dotted names, in registration order."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            for name, param in module._parameters.items():
                state[f"{prefix}.{name}" if prefix else name] = param.data.copy()
            for name, buf in module._buffers.items():
                if buf is not None:
                    state[f"{prefix}.{name}" if prefix else name] = np.array(buf, copy=True)
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

    # ----------------------------------------------------------------------------- static rules
    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of ``forward``'s output for an input of ``in_shape``, computed without arrays."""
        return tuple(in_shape)

    def cost(self, in_shape: tuple[int, ...]) -> Cost:
        """Parameters and MACs per example (see ``Cost``); element-wise layers cost no MACs."""
        return Cost(sum(p.size for p in self._parameters.values()), 0)

    def receptive_field(self, rf: ReceptiveField, in_shape: tuple[int, ...]) -> ReceptiveField:
        """Receptive field of the output, given that of the input (unchanged by element-wise layers)."""
        return rf

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
        networks built from children (``Block``) override it to describe their data flow.
        """
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

    def _check_rank(self, shape, ranks: tuple[int, ...], expected: str) -> None:
        """Raise a ShapeError naming this layer when ``len(shape)`` is not one of ``ranks``."""
        if len(shape) not in ranks:
            raise expected_input(self._describe(), expected, shape)


def run_chain(modules, x):
    """Apply ``modules`` in order to ``x``; where a module offers a joint form with the next one
    (``Module.fuse_with``), run the pair as one. The static rules still see every module.

    >>> from strided import nn
    >>> y = run_chain([nn.BatchNorm1d(2), nn.ReLU()], np.ones((3, 2), dtype=np.float32))
    >>> y.op, y.shape
    ('batch_norm_relu', (3, 2))
    """
    modules = tuple(modules)
    last = len(modules) - 1
    i = 0
    while i <= last:
        joint = modules[i].fuse_with(modules[i + 1]) if i < last else None
        if joint is None:
            x = modules[i](x)
            i += 1
        else:
            x = joint(x)
            i += 2
    return x
