"""The operator table of the importer, and what an operator's rule sees and returns.

An operator is registered once with ``@onnx_op("Conv", attrs=..., static=...)``: the attribute
names it accepts (any other is refused before anything is built), the inputs that must be known
at load time (``static``: shapes, axes, pads, scales; constants or values folded from static
shapes), the inputs that become buffers rather than parameters (``stats``: running statistics),
an optional ``check(attrs, opset)`` of attribute values that needs no shapes, and how many
outputs may be read. Its *rule* receives a ``NodeCtx`` (attributes, the static shape and dtype
of each input, static inputs' values) and returns a ``Lowered``: the output shapes and dtypes,
the function that computes the node (``run``, on strided tensors at run time and on NumPy arrays
when the loader folds a node whose inputs are all constants) and its multiply-accumulates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..tensor import Tensor
from .errors import OnnxError, UnsupportedOnnxError
from .symbolic import NotStatic, Sym, is_symbolic, shape_text

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass
class Value:
    """What the loader knows of a tensor before running: shape (ints and ``Sym``), dtype, and its
    value when known at load time (``const``). ``kind``: input, param, buffer, const or runtime."""

    name: str
    shape: tuple
    dtype: np.dtype
    const: np.ndarray | None = None
    kind: str = "runtime"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_const(self) -> bool:
        return self.const is not None


@dataclass
class Lowered:
    """A node's rule's answer: ``outputs`` ``[(shape, dtype), ...]``; ``run(*inputs)`` computes them
    (``training=`` is passed too when ``uses_mode``); ``consts``, when given, are the outputs
    themselves, known without running (``Shape``); ``macs`` for the summary table; ``foldable=False``
    keeps a node with constant inputs for run time (its output's shape depends on the batch size)."""

    outputs: list
    run: Callable | None = None
    macs: object = 0
    uses_mode: bool = False
    consts: list | None = None
    foldable: bool = True


@dataclass(frozen=True)
class OpSpec:
    op_type: str
    rule: Callable
    attrs: frozenset
    static: frozenset = frozenset()
    stats: frozenset = frozenset()
    check: Callable | None = None
    outputs: int = 1
    fold_only: bool = False
    note: str = ""


OPS: dict[str, OpSpec] = {}
LEGACY_ATTRS = frozenset({"consumed_inputs"})                           # opset 1-5 memory hints, meaningless here


def onnx_op(*op_types, attrs=(), static=(), stats=(), check=None, outputs=1, fold_only=False, note=""):
    """Register ``rule`` for each of ``op_types`` (see the module notes)."""
    def register(rule):
        for op_type in op_types:
            OPS[op_type] = OpSpec(op_type, rule, frozenset(attrs) | LEGACY_ATTRS, frozenset(static),
                                  frozenset(stats), check, outputs, fold_only, note)
        return rule
    return register


class NodeCtx:
    """A node as its rule sees it: attributes, input ``Value``s, the opset, and error helpers."""

    def __init__(self, node, values: list, opset: int, label: str):
        self.node, self.values, self.opset, self.file = node, values, opset, label
        self.op = node.op_type
        self.name = node.name

    # errors ---------------------------------------------------------------------------------------
    def fail(self, message: str) -> UnsupportedOnnxError:
        """An unsupported attribute, value or use: ``raise ctx.fail('...; supported: ...')``."""
        return UnsupportedOnnxError(f"{self.file}: {self.node.label}: {message}")

    def invalid(self, message: str) -> OnnxError:
        """A node that contradicts its inputs (shapes that do not fit): the model itself is wrong."""
        return OnnxError(f"{self.file}: {self.node.label}: {message}")

    # attributes -----------------------------------------------------------------------------------
    def attr(self, name: str, default=None):
        return self.node.attrs.get(name, default)

    def ints(self, name: str, default=None):
        value = self.node.attrs.get(name, default)
        return None if value is None else [int(v) for v in value]

    # inputs ---------------------------------------------------------------------------------------
    def has(self, i: int) -> bool:
        return i < len(self.values) and self.values[i] is not None

    def input(self, i: int) -> Value:
        if not self.has(i):
            raise self.invalid(f"input {i} is required but missing")
        return self.values[i]

    def const(self, i: int, default=None, symbolic: bool = False):
        """The load-time value of input ``i`` (``default`` when omitted); ``Sym`` entries only if allowed."""
        if not self.has(i):
            return default
        value = self.values[i]
        if value.const is None:
            raise self.fail(f"input {i} ({value.name!r}) must be known at load time (a constant, an "
                            f"initializer or a value folded from static shapes), but it is computed at run time")
        if not symbolic and is_symbolic(value.const):
            raise self.fail(f"input {i} ({value.name!r}) = {value.const.tolist()} depends on the run-time batch size "
                            f"where strided needs a fixed value")
        return value.const

    def const_ints(self, i: int, default=None, symbolic: bool = False):
        value = self.const(i, None, symbolic)
        if value is None:
            return default
        return [v if isinstance(v, Sym) else int(v) for v in np.asarray(value).reshape(-1)]

    def axis(self, axis: int, rank: int, what: str = "axis") -> int:
        if not -rank <= axis < max(rank, 1):
            raise self.invalid(f"{what} {axis} is out of range for a rank-{rank} input")
        return axis % max(rank, 1)

    def out(self, shape, dtype=None, run=None, macs=0, uses_mode=False) -> Lowered:
        """A one-output ``Lowered`` (dtype defaults to input 0's)."""
        return Lowered([(tuple(shape), np.dtype(dtype) if dtype is not None else self.input(0).dtype)], run, macs,
                       uses_mode)


# ----------------------------------------------------------------------------------------- shape helpers
def broadcast(ctx: NodeCtx, *shapes) -> tuple:
    """NumPy's broadcast of shapes holding ``Sym``; a ``ShapeError``-like ``OnnxError`` naming the node."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        sizes = {d for d in dims if not (not isinstance(d, Sym) and d == 1)}
        if len(sizes) > 1:
            raise ctx.invalid(f"shapes {', '.join(shape_text(s) for s in shapes)} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def is_float(dtype) -> bool:
    return np.dtype(dtype) in FLOATS


def as_values(x):
    """The array behind a run-time input (a Tensor's data) or the array itself."""
    return x.data if isinstance(x, Tensor) else x


def static_int(ctx: NodeCtx, value, what: str) -> int:
    if isinstance(value, Sym):
        raise ctx.fail(f"{what} is the run-time size {value}; strided needs it at load time")
    return int(value)


def not_static(ctx: NodeCtx, error: NotStatic) -> UnsupportedOnnxError:
    return ctx.fail(f"cannot be folded at load time: {error}")


__all__ = ["Value", "Lowered", "OpSpec", "OPS", "onnx_op", "NodeCtx", "broadcast", "is_float", "as_values",
           "static_int", "not_static", "FLOATS"]
