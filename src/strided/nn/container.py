"""Containers: ``Sequential`` chains modules, and its static rules chain theirs; ``ModuleList``,
``ModuleDict`` and ``ParameterList`` only hold items (registered, so that ``parameters()`` and
``state_dict()`` see them under PyTorch's names) and have no forward of their own."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..backend import CPU, backend_of
from ..checks import is_int
from ..tensor import Tensor
from .block import Block
from .module import Module, Parameter, run_chain


class Sequential(Block):
    """Modules applied in order; children are named ``0``, ``1``, ... (or by an ``OrderedDict``).

    Args:
        *modules: the layers in order, or one ``OrderedDict`` of ``name -> module``.

    Shape: whatever the chain of its layers gives.

    >>> from strided import nn
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, rng=0))
    >>> net.output_shape((3, 1, 2, 2))
    (3, 2)
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, module in items:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {name!r} is a {type(module).__name__}, expected a Module")
            setattr(self, name, module)

    def append(self, module: Module) -> "Sequential":
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    @property
    def converts_raw_input(self) -> bool:
        """As the first module's: a chain that starts with an ``Embedding`` takes index arrays as they are."""
        first = next(iter(self._modules.values()), None)
        return True if first is None else first.converts_raw_input

    def forward(self, x):
        return run_chain(self._modules.values(), x)

    def walk(self, in_shape, rf, visit):
        shape = tuple(in_shape)
        for module in self._modules.values():
            shape, rf = module.walk(shape, rf, visit)
        return shape, rf


class _NoForward:
    """Containers only hold modules or parameters: calling one, or asking it about shapes, is a mistake."""

    def forward(self, *args, **kwargs):
        name = type(self).__name__
        raise NotImplementedError(f"{name} has no forward(): it only holds its items; call them in your own "
                                  f"forward (for layer in self.layers: x = layer(x)) or use Sequential")

    def walk(self, in_shape, rf, visit):
        raise NotImplementedError(f"{type(self).__name__} has no data flow of its own: the module that uses it "
                                  f"describes how data moves through its items (Block.walk)")

    def output_shape(self, in_shape):
        return self.walk(in_shape, None, None)

    def receptive_field(self, rf, in_shape):
        return self.walk(in_shape, rf, None)


def _index(index, length: int, owner: str) -> int:
    """A list position from ``index`` (negative counts from the end), or an ``IndexError`` naming ``owner``."""
    if not is_int(index):
        raise TypeError(f"{owner}: indices must be ints or slices, got {type(index).__name__}")
    if not -length <= index < length:
        raise IndexError(f"{owner}: index {index} is out of range for {length} items")
    return int(index) % length


class ModuleList(_NoForward, Module):
    """A list of modules whose parameters are registered, named ``0``, ``1``, ... as in PyTorch.

    Supports ``append``, ``extend``, ``insert``, ``pop``, indexing (negative too), slicing (a new
    ``ModuleList``), assignment, ``del``, ``len``, iteration and ``+``. It has no ``forward``: the
    module holding it calls its items.

    Args:
        modules: an iterable of modules (default: empty).

    Shape: not applicable: a container without ``forward``; each item keeps its own.

    >>> from strided import nn
    >>> layers = nn.ModuleList([nn.Linear(2, 2, rng=0) for _ in range(3)])
    >>> list(layers.state_dict())[:2], len(layers)
    (['0.weight', '0.bias'], 3)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _owner(self) -> str:
        return type(self).__name__

    def _check(self, module, where) -> "Module":
        if not isinstance(module, Module):
            raise TypeError(f"{self._owner()}: item {where} is a {type(module).__name__}, expected a Module")
        return module

    def _renumber(self, items) -> None:
        """Store ``items`` under the names ``0``, ``1``, ... (after an insertion or a deletion)."""
        self._modules.clear()
        for i, module in enumerate(items):
            self._modules[str(i)] = module

    def append(self, module: Module) -> "ModuleList":
        self._modules[str(len(self._modules))] = self._check(module, len(self._modules))
        return self

    def extend(self, modules) -> "ModuleList":
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError(f"{self._owner()}.extend: expected an iterable of modules, got a {type(modules).__name__}")
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        if not is_int(index):
            raise TypeError(f"{self._owner()}.insert: index must be an int, got {type(index).__name__}")
        items = list(self._modules.values())
        items.insert(int(index), self._check(module, index))            # list.insert's rule for any index
        self._renumber(items)

    def pop(self, index: int = -1) -> Module:
        items = list(self._modules.values())
        module = items.pop(_index(index, len(items), f"{self._owner()}.pop"))
        self._renumber(items)
        return module

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(items[index])
        return items[_index(index, len(items), self._owner())]

    def __setitem__(self, index, module) -> None:
        position = _index(index, len(self._modules), self._owner())
        self._modules[str(position)] = self._check(module, index)

    def __delitem__(self, index) -> None:
        items = list(self._modules.values())
        if isinstance(index, slice):
            del items[index]
        else:
            del items[_index(index, len(items), self._owner())]
        self._renumber(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other) -> "ModuleList":
        return type(self)(list(self) + list(other))


def _check_key(container: Module, key, store: dict) -> str:
    """A name for ``ModuleDict``: a non-empty str without '.', not hiding an attribute or method."""
    owner = type(container).__name__
    if not isinstance(key, str):
        raise TypeError(f"{owner}: keys must be str, got {type(key).__name__} {key!r}")
    if not key or "." in key:
        raise KeyError(f"{owner}: a key must be non-empty and contain no '.', got {key!r}")
    if key not in store and hasattr(container, key):
        raise KeyError(f"{owner}: key {key!r} would hide the attribute of the same name")
    return key


class ModuleDict(_NoForward, Module):
    """An ordered dict of modules whose parameters are registered under their keys, as in PyTorch.

    Built from a mapping or from ``(key, module)`` pairs; supports ``[key]``, assignment, ``del``,
    ``in``, ``len``, iteration over keys, ``keys()``, ``values()``, ``items()``, ``update``,
    ``pop`` and ``clear``. It has no ``forward``.

    Args:
        modules: a mapping of ``key -> module`` or an iterable of ``(key, module)`` pairs (default: empty).

    Shape: not applicable: a container without ``forward``; each item keeps its own.

    >>> from strided import nn
    >>> heads = nn.ModuleDict({"cls": nn.Linear(4, 3, rng=0), "box": nn.Linear(4, 2, rng=0)})
    >>> list(heads.state_dict())
    ['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"{type(self).__name__}: no module {key!r}; keys are {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        key = _check_key(self, key, self._modules)
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {key!r} is a {type(module).__name__}, expected a Module")
        self._modules[key] = module

    def __delitem__(self, key: str) -> None:
        self[key]                                                       # the KeyError naming the keys
        del self._modules[key]

    def __contains__(self, key) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules))

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"{type(self).__name__}.update: expected a mapping or (key, module) pairs, "
                                f"got an item {pair!r}")
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        module = self[key]
        del self._modules[key]
        return module

    def clear(self) -> None:
        self._modules.clear()


class ParameterList(_NoForward, Module):
    """A list of parameters, registered under the names ``0``, ``1``, ... as in PyTorch.

    Arrays and tensors that are not ``Parameter``s are wrapped in one (a float64 array stays float64).
    Supports ``append``, ``extend``, indexing, slicing, assignment, ``len``, iteration and ``+=``.

    Args:
        values: an iterable of parameters, tensors or arrays (default: empty).

    Shape: not applicable: a container; each parameter keeps the shape it was given.

    >>> from strided import nn
    >>> scales = nn.ParameterList([np.ones(3), np.zeros(2)])
    >>> list(scales.state_dict()), scales[0].requires_grad
    (['0', '1'], True)
    """

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    @staticmethod
    def _wrap(value) -> Parameter:
        return value if isinstance(value, Parameter) else Parameter(value)

    def append(self, value) -> "ParameterList":
        self._parameters[str(len(self._parameters))] = self._wrap(value)
        return self

    def extend(self, values) -> "ParameterList":
        if isinstance(values, (Tensor, np.ndarray)) or backend_of(values) is not CPU:
            raise TypeError(f"{type(self).__name__}.extend: expected an iterable of parameters, "
                            f"got a {type(values).__name__}")
        for value in list(values):
            self.append(value)
        return self

    def __getitem__(self, index):
        items = list(self._parameters.values())
        if isinstance(index, slice):
            return type(self)(items[index])
        return items[_index(index, len(items), type(self).__name__)]

    def __setitem__(self, index, value) -> None:
        position = _index(index, len(self._parameters), type(self).__name__)
        self._parameters[str(position)] = self._wrap(value)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(list(self._parameters.values()))

    def __iadd__(self, values) -> "ParameterList":
        return self.extend(values)

    def extra_repr(self) -> str:
        return ", ".join(f"({name}): {tuple(p.shape)} {p.dtype}" for name, p in self._parameters.items())
