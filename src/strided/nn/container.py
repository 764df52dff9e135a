"""Containers: ``Sequential`` chains modules, and its static rules chain theirs."""

from __future__ import annotations

from collections import OrderedDict

from .block import Block
from .module import Module, run_chain


class Sequential(Block):
    """Modules applied in order; children are named ``0``, ``1``, ... (or by an ``OrderedDict``).

    Shape: whatever the chain of its layers gives.

    >>> from strided import nn
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, rng=0))
    >>> net.output_shape((3, 1, 2, 2))
    (3, 2)
    """

    def __init__(self, *modules):
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

    def forward(self, x):
        return run_chain(self._modules.values(), x)

    def walk(self, in_shape, rf, visit):
        shape = tuple(in_shape)
        for module in self._modules.values():
            shape, rf = module.walk(shape, rf, visit)
        return shape, rf
