"""An ONNX graph read into plain values and checked: every name defined once, no cycle, opsets known.

``read_graph(model, label, base_dir)`` decodes the nodes (attributes as Python values, tensor
attributes as arrays), the initializers (``reader.tensor_to_array``: data checked against shape)
and the graph's inputs and outputs, then checks the structure a hostile file could break: a node
reading a name nothing defines, a name defined twice, a graph output nothing computes, and a
cycle (Kahn's algorithm: the nodes left over name the cycle). Nodes come back in an order where
each one follows the nodes it reads from (ONNX requires the file's order to be one; a file that
is out of order is sorted rather than refused).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .errors import OnnxError, UnsupportedOnnxError
from .reader import DTYPE_NAMES, tensor_to_array

DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class Node:
    """One ONNX node: ``op_type``, a printable ``name``, inputs (``''`` for an omitted optional one),
    outputs and decoded attributes."""

    index: int
    op_type: str
    name: str
    domain: str
    inputs: tuple
    outputs: tuple
    attrs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.op_type} node {self.name!r}"


@dataclass
class GraphInput:
    name: str
    elem_type: int
    dims: tuple | None        # ints, dim_param strings, None (unknown size); None: unknown rank


@dataclass
class Graph:
    label: str
    name: str
    opset: int
    ir_version: int
    nodes: list
    inputs: list
    outputs: list
    initializers: dict


def _attribute(attr, label: str, node_label: str):
    """An AttributeProto's value: float, int, str, array (tensor), or lists of those."""
    kind = attr.type
    what = f"attribute {attr.name!r} of {node_label}"
    if kind == 0:                                                       # an old file without the type set
        for field_name, guess in (("floats", 6), ("ints", 7), ("strings", 8)):
            if len(getattr(attr, field_name)):
                kind = guess
        for field_name, guess in (("f", 1), ("i", 2), ("s", 3), ("t", 4)):
            if attr.HasField(field_name):
                kind = guess
    if kind == 1:
        return float(attr.f)
    if kind == 2:
        return int(attr.i)
    if kind == 3:
        return attr.s.decode("utf-8", errors="replace")
    if kind == 4:
        return tensor_to_array(attr.t, label, None, f"the tensor of {what}")
    if kind == 6:
        return [float(v) for v in attr.floats]
    if kind == 7:
        return [int(v) for v in attr.ints]
    if kind == 8:
        return [v.decode("utf-8", errors="replace") for v in attr.strings]
    if kind in (5, 10):
        return _Subgraph()
    raise UnsupportedOnnxError(f"{label}: {what} has a kind strided does not read (AttributeProto type {kind})")


class _Subgraph:
    """Stands for a graph attribute (If, Loop, Scan): strided imports no control flow."""

    def __repr__(self) -> str:
        return "<subgraph>"


def _opset(model, label: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        if model.ir_version and model.ir_version < 3:                   # IR 1-2 had no opset_import: opset 1
            return 1
        raise OnnxError(f"{label}: the model imports no version of the default ONNX operator set")
    return int(max(versions))


def _dims(value_info):
    """The declared sizes (ints, dim_param names, ``None`` for unknown), or ``None`` when the rank is unknown."""
    if not value_info.type.tensor_type.HasField("shape"):
        return None
    shape = value_info.type.tensor_type.shape
    dims = []
    for d in shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def read_graph(model, label: str, base_dir=None) -> Graph:
    """Decode and check ``model.graph`` (see the module notes)."""
    g = model.graph
    opset = _opset(model, label)
    initializers = {}
    for t in g.initializer:
        if not t.name:
            raise OnnxError(f"{label}: an initializer has no name")
        if t.name in initializers:
            raise OnnxError(f"{label}: the initializer {t.name!r} is defined twice")
        initializers[t.name] = tensor_to_array(t, label, base_dir)
    for sparse in g.sparse_initializer:
        raise UnsupportedOnnxError(f"{label}: sparse initializer {sparse.values.name!r}: strided reads dense "
                                   f"initializers only")
    inputs = []
    for vi in g.input:
        if vi.name in initializers:                                     # IR < 4: initializers listed as inputs
            continue
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedOnnxError(f"{label}: graph input {vi.name!r} is not a tensor (sequences, maps and "
                                       f"optionals are not supported)")
        inputs.append(GraphInput(vi.name, vi.type.tensor_type.elem_type, _dims(vi)))
    defined = {i.name: "a graph input" for i in inputs}
    for name in initializers:
        defined.setdefault(name, "an initializer")
    nodes = []
    for index, n in enumerate(g.node):
        name = n.name or f"#{index}"
        label_n = f"{n.op_type} node {name!r}"
        attrs = {}
        for a in n.attribute:
            if a.ref_attr_name:
                raise UnsupportedOnnxError(f"{label}: {label_n}: attribute {a.name!r} refers to a function "
                                           f"attribute; strided imports plain graphs")
            attrs[a.name] = _attribute(a, label, label_n)
        node = Node(index, n.op_type, name, n.domain, tuple(n.input), tuple(n.output), attrs)
        for out in node.outputs:
            if not out:
                continue
            if out in defined:
                raise OnnxError(f"{label}: {node.label} defines {out!r}, which is already {defined[out]}")
            defined[out] = f"the output of {node.label}"
        nodes.append(node)
    for node in nodes:
        for name in node.inputs:
            if name and name not in defined:
                raise OnnxError(f"{label}: {node.label} reads {name!r}, which no node, initializer or graph "
                                f"input defines (a missing input)")
    outputs = [vi.name for vi in g.output]
    if not outputs:
        raise OnnxError(f"{label}: the graph has no outputs")
    for name in outputs:
        if name not in defined:
            raise OnnxError(f"{label}: graph output {name!r} is computed by no node")
    return Graph(label, g.name or "onnx-graph", opset, int(model.ir_version), _topological(nodes, label),
                 inputs, outputs, initializers)


def _topological(nodes: list, label: str) -> list:
    """Nodes ordered so that each follows its producers (Kahn); a cycle is an error naming its nodes."""
    producer = {out: node for node in nodes for out in node.outputs if out}
    readers = {id(node): [] for node in nodes}
    waiting = {}
    for node in nodes:
        deps = {id(producer[name]) for name in node.inputs if name in producer}
        waiting[id(node)] = len(deps)
        for dep in deps:
            readers[dep].append(node)
    ready = deque(node for node in nodes if waiting[id(node)] == 0)
    order = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for reader in readers[id(node)]:
            waiting[id(reader)] -= 1
            if waiting[id(reader)] == 0:
                ready.append(reader)
    if len(order) != len(nodes):
        stuck = [node.label for node in nodes if waiting[id(node)] > 0]
        shown = ", ".join(stuck[:6]) + (f" and {len(stuck) - 6} more" if len(stuck) > 6 else "")
        raise OnnxError(f"{label}: the graph has a cycle: {shown} can never run (each waits, directly or "
                        f"through others, on its own output)")
    return order


def elem_type_name(elem_type: int) -> str:
    return DTYPE_NAMES.get(elem_type, str(elem_type))


__all__ = ["Node", "Graph", "GraphInput", "read_graph", "elem_type_name", "DEFAULT_DOMAINS"]
