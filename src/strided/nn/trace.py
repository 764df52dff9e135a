"""Tracing: the static rules of a module whose ``forward`` is hand-written, from one forward pass.

A module has static rules when its class is a registered layer or describes its data flow
(``walk``, ``output_shape``; see ``registry.has_static_rules``). A plain ``Module`` subclass with
children and its own ``forward`` does not: nothing but running it says where data goes. So
``trace`` runs it once, under ``no_grad``, on zeros of the input shape with the batch axis set
to 1 (in the module's parameter dtype), with forward hooks on every module below it, and
records each call of the outermost modules that have rules (a traced module's children without
rules are traced through; a leaf without rules is recorded as itself), with its real input and
output shapes (batch axis restored to the requested size). The hooks are removed afterwards,
also when the forward raises; the error is then raised again naming the module, the shape it
was traced with and the module that failed.

``Module.output_shape``, ``cost`` and ``walk`` (so ``summary``) use it for modules without rules;
modules with rules never run a forward. Receptive fields are not given (``None``) through a
traced module: an arbitrary forward's data flow is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import shape_str
from ..tensor import Tensor, no_grad
from .registry import has_static_rules


@dataclass(frozen=True)
class TracedCall:
    """One recorded call: the module, its real input and output shapes (batch restored), and
    whether its own static rules describe it (``False`` for a leaf without rules)."""

    module: object
    in_shape: tuple
    out_shape: tuple
    has_rules: bool


@dataclass(frozen=True)
class Trace:
    """What one traced forward pass saw: the calls in call order, and the output shape."""

    module: object
    in_shape: tuple
    calls: tuple
    out_shape: tuple


def _shape(value):
    """The shape of a tensor or array; a tuple of shapes for a list of them; ``None`` otherwise."""
    if isinstance(value, (Tensor, np.ndarray)):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)):
        shapes = [_shape(v) for v in value]
        return tuple(shapes) if shapes and all(s is not None for s in shapes) else None
    return None


def _output_shape(value):
    """An output's shape; for a tuple (values and indices) the first tensor's."""
    if isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, (Tensor, np.ndarray)):
                return tuple(item.shape)
    return _shape(value)


def _restore(shape, batch: int):
    """``shape`` with a leading batch axis of 1 set back to ``batch`` (each shape of a tuple of shapes)."""
    if shape is None:
        return None
    if shape and isinstance(shape[0], tuple):
        return tuple(_restore(s, batch) for s in shape)
    return (batch,) + tuple(shape[1:]) if shape and shape[0] == 1 else tuple(shape)


def _same_kind(error: BaseException, message: str) -> BaseException:
    """``error``'s type with ``message`` (a ``RuntimeError`` where that type cannot be made so)."""
    try:
        new = type(error)(message)
    except Exception:
        return RuntimeError(message)
    return new if isinstance(new, Exception) else RuntimeError(message)


def trace(module, in_shape) -> Trace:
    """Run ``module`` once on zeros of ``in_shape`` (batch axis 1) and record its calls (see above).

    >>> from strided import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv, self.fc = nn.Conv2d(1, 2, 3, rng=0), nn.Linear(8, 3, rng=0)
    ...     def forward(self, x):
    ...         return self.fc(self.conv(x).reshape(x.shape[0], -1))
    >>> t = trace(Net(), (5, 1, 4, 4))
    >>> [(type(c.module).__name__, c.in_shape, c.out_shape) for c in t.calls], t.out_shape
    ([('Conv2d', (5, 1, 4, 4), (5, 2, 2, 2)), ('Linear', (5, 8), (5, 3))], (5, 3))
    """
    shape = tuple(int(v) for v in in_shape)
    batch = shape[0] if shape else 1
    probe = (1,) + shape[1:] if shape else shape
    names, rules = {}, {}
    for name, sub in module.named_modules():
        names.setdefault(id(sub), name)
        rules[id(sub)] = has_static_rules(sub)
    calls: list[TracedCall] = []
    active: list = []                       # modules entered and not yet returned, outermost first
    open_call: list = []                    # [module, in_shape, depth] of the call being recorded

    def pre(sub, args):
        active.append(sub)
        shape_in = _shape(args[0]) if args else None                    # None: no array input, traced through
        if not open_call and shape_in is not None and (rules[id(sub)] or not sub._modules):
            open_call[:] = [sub, shape_in, len(active)]

    def post(sub, args, output):
        if open_call and open_call[2] == len(active):
            shape_out = _output_shape(output)
            if shape_out is not None or rules[id(sub)]:                 # a leaf without rules needs a shape to report
                calls.append(TracedCall(sub, _restore(open_call[1], batch), _restore(shape_out, batch),
                                        rules[id(sub)]))
            open_call.clear()
        active.pop()

    handles, hooked = [], {id(module)}
    try:
        for sub in module.modules():
            if id(sub) not in hooked:                                   # a module registered twice: hooked once
                hooked.add(id(sub))
                handles.append(sub.register_forward_pre_hook(pre))
                handles.append(sub.register_forward_hook(post))
        with no_grad():
            output = module(Tensor(np.zeros(probe, dtype=module.input_dtype())))
    except Exception as error:
        where = (f" in {names.get(id(active[-1])) or type(active[-1]).__name__} ({type(active[-1]).__name__})"
                 if active else " in its own forward")
        message = (f"{type(module).__name__}: tracing its forward (it has no static rules: one pass under no_grad "
                   f"on zeros of shape {shape_str(probe)}, for an input of {shape_str(shape)}) failed{where}: "
                   f"{type(error).__name__}: {error}")
        raise _same_kind(error, message) from error
    finally:
        for handle in handles:
            handle.remove()
    return Trace(module, shape, tuple(calls), _restore(_output_shape(output), batch))


def traced_walk(module, in_shape, visit):
    """``Module.walk`` for a module without static rules: trace it, then report each recorded call,
    a module with rules through its own ``walk`` from its real input shape (a block's layers one by
    one), a leaf without rules as itself. Tells ``visit.traced(module, trace)`` when ``visit`` has it
    (``summary`` does). Returns ``(out_shape, None)``: no receptive field through a traced module."""
    result = trace(module, in_shape)
    note = getattr(visit, "traced", None)
    if note is not None:
        note(module, result)
    for call in result.calls:
        if call.has_rules:
            call.module.walk(call.in_shape, None, visit)
        else:
            visit(call.module, call.in_shape, call.out_shape, None)
    return result.out_shape, None


def traced_macs(result: Trace) -> int:
    """The MACs of a trace's recorded calls, from each module's own ``cost`` (0 for leaves without rules)."""
    return sum(call.module.cost(call.in_shape).macs for call in result.calls if call.has_rules)


__all__ = ["trace", "Trace", "TracedCall", "traced_walk", "traced_macs"]
