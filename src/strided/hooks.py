"""Hook bookkeeping for ``Tensor.register_hook`` and ``Module.register_forward_(pre_)hook``.

A hook is stored in an ordered dict under a fresh integer key; registering returns a
``RemovableHandle`` whose ``remove()`` takes it out again (PyTorch's handle, also usable as a
context manager: ``with module.register_forward_hook(f): ...`` removes the hook on exit).
``ForwardHookMethods`` is the registering side of ``Module`` (a mixin it inherits).
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


class ForwardHookMethods:
    """``Module``'s forward-hook registration; ``Module.__call__`` runs ``_hooks`` around ``forward``."""

    _hooks: ForwardHooks | None = None      # forward hooks, set on an instance while it has any

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward`` run through ``module(...)``.

        ``args`` is the tuple of positional inputs (a raw array already converted to a tensor); a
        hook may return replacement inputs (a tuple, or a single value), or ``None`` to keep them.
        With ``with_kwargs=True`` it is ``hook(module, args, kwargs)`` returning ``None`` or
        ``(args, kwargs)``. Hooks run in registration order (``prepend=True`` puts this one first).
        Returns a handle whose ``remove()`` unregisters it. A hooked module is never fused with its
        neighbour by ``run_chain``.

        >>> import numpy as np
        >>> from strided import nn
        >>> relu = nn.ReLU()
        >>> handle = relu.register_forward_pre_hook(lambda module, args: (args[0] * -1,))
        >>> relu(np.array([1.0, -2.0], dtype=np.float32)).data
        array([0., 2.], dtype=float32)
        >>> handle.remove()
        """
        return self._add_forward_hook("pre", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward`` run through ``module(...)``.

        A hook may return a replacement output, or ``None`` to keep it; with ``with_kwargs=True`` it is
        ``hook(module, args, kwargs, output)``. Order, ``prepend`` and the handle as for
        ``register_forward_pre_hook``.

        >>> import numpy as np
        >>> from strided import nn
        >>> flat, shapes = nn.Flatten(), []
        >>> handle = flat.register_forward_hook(lambda module, args, out: shapes.append(out.shape))
        >>> _ = flat(np.zeros((2, 3, 4), dtype=np.float32))
        >>> shapes
        [(2, 12)]
        """
        return self._add_forward_hook("post", hook, prepend, with_kwargs)

    def _add_forward_hook(self, kind: str, hook, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        check_hook(hook, f"{type(self).__name__}.register_forward_{'pre_' if kind == 'pre' else ''}hook")
        if self._hooks is None:
            object.__setattr__(self, "_hooks", ForwardHooks())
        hooks = self._hooks

        def on_empty():                      # no hook left: back to the plain call (and to fusion)
            if self._hooks is hooks and hooks.empty():
                object.__setattr__(self, "_hooks", None)
        return hooks.add(kind, hook, prepend, with_kwargs, on_empty)


def check_hook(hook, owner: str) -> None:
    """A ``TypeError`` naming ``owner`` unless ``hook`` is callable."""
    if not callable(hook):
        raise TypeError(f"{owner}: hook must be callable, got {type(hook).__name__}")


__all__ = ["RemovableHandle", "ForwardHooks", "ForwardHookMethods", "add_hook", "check_hook"]
