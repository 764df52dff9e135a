"""From a checked ``Graph`` to a plan: what runs, what is folded, what becomes a parameter.

``plan_graph`` works in three passes, and builds nothing until all three succeed:

1. **Support.** Every node's domain, operator, attribute names and (shape-free) attribute
   values, and every output that is read, are checked against the operator table; all the
   problems of a model are reported together in one ``UnsupportedOnnxError``, each naming the
   operator, the node and what is supported.
2. **Roles.** An initializer that some node reads as data (a weight, a bias, a slope) and none
   reads as a load-time argument becomes a *parameter* if it is floating point; every other
   initializer (running statistics, integer constants, shapes, scales) a *buffer*.
3. **Shapes and folding.** The nodes are walked in order with each value's static shape (the
   batch axis as the symbol ``N``), dtype and, where known, value. A node whose inputs are all
   known is computed now (folded): ``Shape``, its ``Gather``/``Concat`` chains, constants. The
   others become ``Step``s, the program the module runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import ops_conv, ops_math, ops_norm, ops_resize, ops_shape  # noqa: F401  (register the operators)
from .errors import OnnxError, UnsupportedOnnxError
from .graph import DEFAULT_DOMAINS, Graph, elem_type_name
from .reader import DTYPES
from .registry import LEGACY_ATTRS, OPS, NodeCtx, Value, is_float, not_static
from .symbolic import NotStatic, Sym, is_symbolic, normalise, shape_text

MIN_OPSET = 1


@dataclass
class Step:
    """One node run at run time: ``args`` per input are ``('value', name)`` (a run-time value or an
    initializer), ``('const', value)``, ``('static', array)`` (resolved with the batch size) or ``None``."""

    node: object
    run: object
    args: list
    outputs: list
    uses_mode: bool
    macs: object
    in_shape: tuple
    out_shape: tuple
    params: int = 0


@dataclass
class Plan:
    graph: Graph
    values: dict
    steps: list
    inputs: list
    outputs: list
    kinds: dict                       # initializer name -> "param" | "buffer"
    folded: int = 0
    symbols: list = field(default_factory=list)


def newest_opset() -> int:
    try:
        from onnx.defs import onnx_opset_version
    except ImportError:                                                 # pragma: no cover - onnx is needed to read at all
        return 23
    return int(onnx_opset_version())


def supported_operators() -> list[str]:
    """The ONNX operators ``strided.onnx.load`` imports (some only when foldable at load time).

    Example:
        >>> ops = supported_operators()
        >>> "Conv" in ops, "MaxPool" in ops, ops == sorted(ops)
        (True, True, True)
    """
    return sorted(OPS)


# ----------------------------------------------------------------------------------------- pass 1
def check_support(graph: Graph) -> None:
    label, opset = graph.label, graph.opset
    problems = []
    newest = newest_opset()
    if opset > newest:
        problems.append(f"opset {opset} is newer than the installed onnx package knows ({newest}); "
                        f"strided imports opsets {MIN_OPSET} to {newest}")
    read = set(graph.outputs) | {name for node in graph.nodes for name in node.inputs if name}
    for node in graph.nodes:
        if node.domain not in DEFAULT_DOMAINS:
            problems.append(f"{node.label}: operator {node.domain}::{node.op_type} is from a custom domain; "
                            f"supported: the default ONNX domain")
            continue
        spec = OPS.get(node.op_type)
        if spec is None:
            problems.append(f"{node.label}: operator {node.op_type} is not supported")
            continue
        unknown = sorted(set(node.attrs) - spec.attrs)
        if unknown:
            allowed = sorted(spec.attrs - LEGACY_ATTRS)
            problems.append(f"{node.label}: attribute{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} not "
                            f"supported; {node.op_type} supports {', '.join(allowed) if allowed else 'none'}")
        if spec.check is not None:
            problems += [f"{node.label}: {p}" for p in spec.check(node.attrs, opset)]
        for k, out in enumerate(node.outputs):
            if k >= spec.outputs and out and out in read:
                problems.append(f"{node.label}: its output {k} ({out!r}) is read, but strided computes only "
                                f"{node.op_type}'s first output")
    if problems:
        listed = "\n  ".join(problems)
        raise UnsupportedOnnxError(f"{label}: the model uses {len(problems)} thing{'s' if len(problems) > 1 else ''} "
                                   f"strided cannot import (nothing was built):\n  {listed}\nsupported operators: "
                                   f"{', '.join(supported_operators())}")


# ----------------------------------------------------------------------------------------- pass 2
def initializer_kinds(graph: Graph) -> dict:
    data, static = set(), set()
    for node in graph.nodes:
        spec = OPS[node.op_type]
        for i, name in enumerate(node.inputs):
            if name in graph.initializers:
                (static if i in spec.static or i in spec.stats else data).add(name)
    kinds = {}
    for name, array in graph.initializers.items():
        if name in data or name in static or name in graph.outputs:
            kinds[name] = "param" if (name in data and name not in static and is_float(array.dtype)) else "buffer"
    return kinds


# ----------------------------------------------------------------------------------------- pass 3
def _input_values(graph: Graph, input_shapes, constants) -> tuple[list, list]:
    input_shapes = dict(input_shapes or {})
    names = [gi.name for gi in graph.inputs]
    for what, given in (("input_shapes", input_shapes), ("constants", constants)):
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(f"{graph.label}: {what} names {sorted(unknown)}, which are not inputs of the graph "
                             f"({names})")
    values, symbols = [], []
    for gi in graph.inputs:
        if gi.name in constants:
            continue
        dtype = DTYPES.get(gi.elem_type, (None,))[0]
        if dtype is None or not is_float(dtype):
            raise UnsupportedOnnxError(f"{graph.label}: graph input {gi.name!r} is {elem_type_name(gi.elem_type)}; "
                                       f"strided imports graphs whose inputs are FLOAT or DOUBLE tensors (an input "
                                       f"that only configures the graph can be fixed with constants=)")
        dims = gi.dims
        given = input_shapes.get(gi.name)
        if given is not None:
            if dims is not None and len(given) != len(dims):
                raise ValueError(f"{graph.label}: input_shapes[{gi.name!r}] = {tuple(given)} has rank {len(given)}, "
                                 f"the graph declares {tuple(dims)}")
            dims = [g if g is not None else (dims[a] if dims is not None else None) for a, g in enumerate(given)]
        if dims is None:
            raise UnsupportedOnnxError(f"{graph.label}: graph input {gi.name!r} declares no shape; pass "
                                       f"input_shapes={{{gi.name!r}: (None, ...)}}")
        shape = []
        for axis, d in enumerate(dims):
            if isinstance(d, int) and d >= 0:
                shape.append(d)
            elif axis == 0:
                name = d if isinstance(d, str) else "N"
                shape.append(Sym(name))
                if name not in symbols:
                    symbols.append(name)
            else:
                raise UnsupportedOnnxError(
                    f"{graph.label}: graph input {gi.name!r} has a dynamic axis {axis} ({d!r}) in {tuple(dims)}; "
                    f"strided folds shapes at load time and keeps only the batch axis (0) dynamic: pass "
                    f"input_shapes={{{gi.name!r}: (None, ...)}} with the other sizes")
        values.append(Value(gi.name, tuple(shape), np.dtype(dtype), None, "input"))
    return values, symbols


def _as_array(result, dtype) -> np.ndarray:
    if isinstance(result, Tensor):
        result = result.data
    result = np.asarray(result)
    if result.dtype == object:
        return normalise(result)
    return result.astype(dtype, copy=False)


def _rule_error(ctx: NodeCtx, error: Exception) -> OnnxError:
    if isinstance(error, NotStatic):
        return not_static(ctx, error)
    return ctx.invalid(f"{type(error).__name__}: {error}")


def plan_graph(graph: Graph, input_shapes=None, constants=None) -> Plan:
    """Check, assign roles, infer shapes and fold (see the module notes); raises before anything is built.

    ``constants`` fixes graph inputs to values known at load time (``{name: array}``).
    """
    check_support(graph)
    kinds = initializer_kinds(graph)
    constants = {name: np.asarray(value) for name, value in (constants or {}).items()}
    inputs, symbols = _input_values(graph, input_shapes, constants)
    env = {v.name: v for v in inputs}
    for name, array in constants.items():
        env[name] = Value(name, array.shape, array.dtype, array, "const")
    for name, kind in kinds.items():
        array = graph.initializers[name]
        env[name] = Value(name, array.shape, array.dtype, None if kind == "param" else array, kind)
    read = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name:
                read[name] = read.get(name, 0) + 1
    steps, folded, counted = [], 0, set()
    for node in graph.nodes:
        spec = OPS[node.op_type]
        values = [env[name] if name else None for name in node.inputs]
        ctx = NodeCtx(node, values, graph.opset, graph.label)
        present = [v for v in values if v is not None]
        all_known = all(v.is_const for v in present)
        if spec.fold_only and not all_known:
            runtime = [v.name for v in present if not v.is_const]
            raise ctx.fail(f"is supported only when its inputs are known at load time; {runtime} are computed at "
                           f"run time")
        try:
            low = spec.rule(ctx)
        except OnnxError:
            raise
        except (NotStatic, ShapeError, ValueError, TypeError, IndexError) as error:
            raise _rule_error(ctx, error) from None
        declared = [(tuple(s), np.dtype(d)) for s, d in low.outputs]
        outs = list(node.outputs) + [""] * (len(declared) - len(node.outputs))
        if low.consts is None and all_known and low.foldable and present:
            try:
                result = low.run(*[v.const if v is not None else None for v in values])
            except (NotStatic, ShapeError, ValueError, TypeError, IndexError) as error:
                raise _rule_error(ctx, error) from None
            low.consts = list(result) if isinstance(result, (tuple, list)) else [result]
        if low.consts is not None:
            folded += 1
            for name, (shape, dtype), const in zip(outs, declared, low.consts):
                array = _as_array(const, dtype)
                if not is_symbolic(shape) and tuple(array.shape) != shape:
                    raise ctx.invalid(f"folded to shape {array.shape}, its rule says {shape_text(shape)}")
                if name:
                    env[name] = Value(name, shape, array.dtype if array.dtype != object else dtype, array, "const")
            continue
        for name, (shape, dtype) in zip(outs, declared):
            if name and name in read or name in graph.outputs:
                if not is_float(dtype):
                    raise ctx.fail(f"computes {dtype} values at run time (output {name!r}); strided computes with "
                                   f"float32/float64 tensors and folds integer values only at load time")
            if name:
                env[name] = Value(name, shape, dtype, None, "runtime")
        args = []
        for i, (name, value) in enumerate(zip(node.inputs, values)):
            if value is None:
                args.append(None)
            elif i in spec.static:
                args.append(("static", value.const) if value.is_const else ("value", name))
            elif value.kind in ("param", "buffer", "input", "runtime"):
                args.append(("value", name))
            elif is_float(value.const.dtype):
                args.append(("const", Tensor(value.const)))
            else:
                args.append(("const", value.const))
        mine = [n for n in dict.fromkeys(node.inputs) if n and kinds.get(n) == "param" and n not in counted]
        counted.update(mine)
        params = sum(int(np.prod(env[n].shape)) for n in mine)          # each parameter on its first reader's row
        steps.append(Step(node, low.run, args, outs[:len(declared)], low.uses_mode, low.macs,
                          present[0].shape if present else (), declared[0][0], params))
    for name in graph.outputs:
        if name not in env:
            raise OnnxError(f"{graph.label}: graph output {name!r} is computed by no node")
    return Plan(graph, env, steps, inputs, list(graph.outputs), kinds, folded, symbols)


__all__ = ["Plan", "Step", "plan_graph", "check_support", "supported_operators", "newest_opset"]
