"""Hook bookkeeping for ``Tensor.register_hook`` and ``Module.register_forward_(pre_)hook``.

A hook is stored in an ordered dict under a fresh integer key; registering returns a
``RemovableHandle`` whose ``remove()`` takes it out again (PyTorch's handle, also usable as a
context manager: ``with module.register_forward_hook(f): ...`` removes the hook on exit).
"""

from __future__ import annotations

import itertools
from typing import Callable

_keys = itertools.count()


class RemovableHandle:
    """What ``register_*hook`` returns: ``remove()`` unregisters the hook; calling it again does nothing.

    >>> hooks = {}
    >>> handle = add_hook(hooks, print)
    >>> len(hooks), handle.remove(), len(hooks)
    (1, None, 0)
    """

    __slots__ = ("_hooks", "key", "_on_empty")

    def __init__(self, hooks: dict, key: int, on_empty: Callable[[], None] | None = None):
        self._hooks, self.key, self._on_empty = hooks, key, on_empty

    def remove(self) -> None:
        if self._hooks is None:
            return
        self._hooks.pop(self.key, None)
        if not self._hooks and self._on_empty is not None:
            self._on_empty()
        self._hooks = self._on_empty = None

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"RemovableHandle(key={self.key}{'' if self._hooks is not None else ', removed'})"


def add_hook(hooks: dict, value, prepend: bool = False, on_empty: Callable[[], None] | None = None) -> RemovableHandle:
    """Store ``value`` in ``hooks`` (last, or first with ``prepend``) and return its handle."""
    key = next(_keys)
    hooks[key] = value
    if prepend:
        for other in [k for k in hooks if k != key]:
            hooks[other] = hooks.pop(other)                             # move every older hook behind the new one
    return RemovableHandle(hooks, key, on_empty)


class ForwardHooks:
    """A module's forward hooks: ``pre`` and ``post`` map keys to ``(hook, with_kwargs)``, in call order."""

    __slots__ = ("pre", "post")

    def __init__(self):
        self.pre: dict = {}
        self.post: dict = {}

    def empty(self) -> bool:
        return not self.pre and not self.post

    def add(self, kind: str, hook, prepend: bool, with_kwargs: bool, on_empty) -> RemovableHandle:
        return add_hook(self.pre if kind == "pre" else self.post, (hook, bool(with_kwargs)), prepend, on_empty)

    def run(self, module, args: tuple, kwargs: dict):
        """``module.forward(*args, **kwargs)`` with the pre-hooks before (they may replace the inputs)
        and the hooks after (they may replace the output), as ``torch.nn.Module.__call__``."""
        for hook, with_kwargs in list(self.pre.values()):
            if with_kwargs:
                result = hook(module, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{type(module).__name__}: a forward pre-hook with_kwargs must return "
                                           f"None or (args, kwargs), got {type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(module, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = module.forward(*args, **kwargs)
        for hook, with_kwargs in list(self.post.values()):
            result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
            if result is not None:
                output = result
        return output


def check_hook(hook, owner: str) -> None:
    """A ``TypeError`` naming ``owner`` unless ``hook`` is callable."""
    if not callable(hook):
        raise TypeError(f"{owner}: hook must be callable, got {type(hook).__name__}")


__all__ = ["RemovableHandle", "ForwardHooks", "add_hook", "check_hook"]
