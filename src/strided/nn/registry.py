"""Registration of layer classes, so one contract test and the analysis tool see every layer.

Example::

    @register_layer(example=lambda: (ReLU(), (2, 3, 4, 4)))
    class ReLU(Module): ...

Each example is a zero-argument callable returning ``(module, input_shape)``: a small,
valid instance with an input it accepts. The contract test builds the module from it and
checks the declared rules against a real forward and backward pass.
"""

from __future__ import annotations

from typing import Callable

LAYERS: dict[str, Callable] = {}


def register_layer(example: Callable):
    """Class decorator: record ``cls`` with a factory for a small working example."""
    def decorate(cls):
        LAYERS[cls.__name__] = example
        return cls
    return decorate


def registered_layers() -> dict[str, Callable]:
    """Name -> example factory, for every registered layer."""
    return dict(LAYERS)
