"""Registration of layer classes, so one contract test and the analysis tool see every layer.

Example::

    @register_layer(example=lambda: (ReLU(), (2, 3, 4, 4)))
    class ReLU(Module): ...

Each example is a zero-argument callable returning ``(module, input_shape)``: a small,
valid instance with an input it accepts. The contract test builds the module from it and
checks the declared rules against a real forward and backward pass.

``has_static_rules`` says whether the analysis may trust a module's static rules, or must
trace its ``forward`` (see ``nn.trace``).
"""

from __future__ import annotations

from typing import Callable

LAYERS: dict[str, Callable] = {}
_CLASSES: set = set()    # the registered classes themselves (names may repeat in user code)


def register_layer(example: Callable):
    """Class decorator: record ``cls`` with a factory for a small working example.

    Args:
        example: a zero-argument callable returning ``(module, input_shape)``: a small, valid instance
            and an input shape it accepts, for the contract test and the analysis tool.

    Example:
        >>> @register_layer(lambda: (Double(), (1, 3)))
        ... class Double:
        ...     def forward(self, x):
        ...         return 2 * x
        >>> "Double" in registered_layers()
        True
        >>> del LAYERS["Double"]; _CLASSES.discard(Double)  # keep the real registry clean
    """
    def decorate(cls):
        LAYERS[cls.__name__] = example
        _CLASSES.add(cls)
        return cls
    return decorate


def registered_layers() -> dict[str, Callable]:
    """Name -> example factory, for every registered layer.

    Example:
        >>> module, input_shape = registered_layers()["Conv2d"]()
        >>> type(module).__name__, len(input_shape)
        ('Conv2d', 4)
    """
    return dict(LAYERS)


def has_static_rules(module) -> bool:
    """Whether ``module`` (or a module class) has static rules that describe its ``forward``.

    It has when its class is a registered layer (the contract test checks its rules, inherited
    identity rules of element-wise layers included), or defines ``walk`` or ``output_shape`` at
    least as far down its class tree as ``forward`` (a ``Block``, ``Sequential``, the zoo's
    networks). A plain ``Module`` subclass with its own ``forward`` has none, nor has a subclass
    of a layer that replaces the layer's ``forward``: the analysis traces those.

    Args:
        module: a module, or a module class.

    >>> from strided import nn
    >>> class Net(nn.Module):
    ...     def forward(self, x):
    ...         return x
    >>> has_static_rules(nn.ReLU()), has_static_rules(nn.Sequential()), has_static_rules(Net())
    (True, True, False)
    """
    cls = module if isinstance(module, type) else type(module)
    for klass in cls.__mro__:
        if klass in _CLASSES:
            return True
        attributes = klass.__dict__
        if "walk" in attributes or "output_shape" in attributes:
            return True
        if "forward" in attributes:
            return False
    return True
