"""The model registry: ``create_model(name, **kwargs)`` and ``list_models()``."""

from __future__ import annotations

import difflib
from typing import Callable

MODELS: dict[str, Callable] = {}


def register_model(factory: Callable) -> Callable:
    """Decorator: make ``factory`` available as ``create_model(factory.__name__)``.

    Args:
        factory: a function returning a model; its ``__name__`` is the registered name.

    Example:
        >>> from strided import nn
        >>> @register_model
        ... def tiny_linear(num_classes=10, seed=None):
        ...     return nn.Linear(4, num_classes, rng=seed)
        >>> create_model("tiny_linear", seed=0).output_shape((1, 4))
        (1, 10)
        >>> del MODELS["tiny_linear"]                  # leave the registry as it was
    """
    MODELS[factory.__name__] = factory
    return factory


def list_models() -> list[str]:
    """Names of every registered model, sorted.

    Example:
        >>> "resnet18" in list_models(), "lenet5" in list_models()
        (True, True)
    """
    return sorted(MODELS)


def create_model(name: str, *, meta: bool = False, **kwargs):
    """Build a registered model; an unknown name gets the closest names as suggestions.

    With ``meta=True`` it is built under ``nn.meta()``: shapes only, no weights drawn or stored,
    for ``summary`` and the other static rules (it cannot run; see ``nn.shape_only``).

    Args:
        name: a registered model's name (``list_models()``).
        meta: build shape-only (no weights allocated) for ``summary`` and the other static rules.
        **kwargs: the factory's own arguments: ``num_classes``, ``in_channels``, ``seed``, ...

    >>> create_model("lenet5", num_classes=10).output_shape((1, 1, 32, 32))
    (1, 10)
    >>> create_model("vgg16", meta=True).num_parameters()
    138357544
    """
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"create_model: unknown model {name!r}{hint} (list_models() names all {len(MODELS)})")
    if meta:
        from ..nn import meta as shape_only_build
        with shape_only_build():
            return MODELS[name](**kwargs)
    return MODELS[name](**kwargs)
