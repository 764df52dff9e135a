"""Export to ONNX: ``export(model, path, input_shape)`` writes a model's inference graph as an ONNX file.

The graph is built from the model's structure, never by tracing arrays: ``GraphBuilder.apply``
asks each module for its *export rule* and the rule writes the module's ONNX nodes, calling
``apply`` again on its children, so a network is exported the way its ``walk`` describes it:
``Sequential`` chains its children, a residual block adds its main path to its shortcut,
``Concat`` joins its branches, a squeeze-and-excitation multiplies by its gate, a U-Net
concatenates its skips. The protocol:

* a rule is ``rule(builder, module, x) -> y``, ``x`` and ``y`` being ``Value``\\ s (an ONNX value
  name with the static shape it has for the exported input size; the batch axis stays symbolic
  in the file with ``dynamic_batch``);
* a module class may define the method ``onnx_export(self, builder, x) -> y`` itself; otherwise
  the rule registered for its class with ``@export_rule(Class, ...)`` is used (``export_layers``
  holds the layers' rules, ``export_blocks`` the containers' and the model zoo's, ``export_loaded``
  the one of a graph read by ``strided.onnx.load``). A rule written
  for a class serves its subclasses unless one of them replaces ``forward`` (the rule then no
  longer describes it; the same test as ``nn.has_static_rules``);
* a module with neither (a hand-written ``forward``, or a layer ONNX cannot express) raises an
  ``ExportError`` naming it, where it sits in the model and what to do.

Inside a rule, ``builder.op("Conv", x, w, pads=[...])`` adds a node and returns its output,
``builder.param(module, "weight")`` the initializer of a parameter or buffer (named by its
``state_dict`` key, stored as float32), ``builder.const(array)`` a constant, and the helpers
``reduce``, ``slice``, ``pad``, ``reshape_batch`` cover what differs between opsets or needs the
batch axis left free. Everything is in evaluation mode: batch norm reads its running
statistics, dropout and stochastic depth are the identity (no node). ONNX itself is imported
only when ``export`` runs (``pip install onnx``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import shape_str
from ..io.atomic import atomic_path
from ..nn import Embedding, Sequential
from ..nn.padding import pad_index
from ..nn.registry import has_static_rules
from ..nn.shape_only import is_meta

MIN_OPSET = 13
"""The oldest opset written: ``Softmax`` over one axis, ``Pad``/``Slice``/``Squeeze`` with tensor inputs."""

NEWEST_TESTED_OPSET = 21
"""The default opset where the installed ``onnx`` knows it (ONNX 1.16's, 2024). onnxruntime 1.32 with
onnx 1.23 runs every rule in each opset from 13 to 28 (any of them can be asked for); the default
stays at 21 so that the files also load in the runtimes of the last two years."""

RULES: dict[type, Callable] = {}


class ExportError(ValueError):
    """A module cannot be written to ONNX: the message names it, where it sits in the model and why.

    A rule raises it with the reason alone; ``GraphBuilder.apply`` puts the module's path and
    description in front (once: ``located`` is then set).

    Example:
        >>> issubclass(ExportError, ValueError)
        True
    """

    located = False


@dataclass(frozen=True)
class Value:
    """An ONNX value inside the graph being built: its name, its static shape for the exported
    input size (``None`` inside a composition where nothing reads it) and its element type."""

    name: str
    shape: tuple | None = None
    dtype: str = "float32"


def export_rule(*classes):
    """Class decorator's counterpart for rules: ``@export_rule(Conv1d, Conv2d)`` registers
    ``rule(builder, module, x) -> Value`` for those classes (and subclasses that keep their ``forward``).

    Args:
        *classes: the module classes the decorated rule exports.

    Example:
        >>> from strided.nn import Module
        >>> class Twice(Module):
        ...     def forward(self, x):
        ...         return x * 2
        >>> @export_rule(Twice)
        ... def twice_rule(builder, module, x):
        ...     return builder.op("Mul", x, builder.const(np.float32(2.0)), shape=x.shape)
        >>> find_rule(Twice()) is twice_rule
        True
        >>> del RULES[Twice]                                  # leave the registry as it was
    """
    def decorate(rule):
        for cls in classes:
            RULES[cls] = rule
        return rule
    return decorate


def find_rule(module):
    """The export rule of ``module``: its class's ``onnx_export`` method or a registered rule, whichever
    comes first in its class tree, as long as no class below it replaced ``forward``; else ``None``."""
    for klass in type(module).__mro__:
        attributes = klass.__dict__
        if "onnx_export" in attributes:
            return lambda builder, m, x: m.onnx_export(builder, x)
        if klass in RULES:
            return RULES[klass]
        if "forward" in attributes:
            return None
    return None


def default_opset() -> int:
    """``NEWEST_TESTED_OPSET``, or the newest the installed ``onnx`` knows if that is older."""
    import onnx
    return min(NEWEST_TESTED_OPSET, onnx.defs.onnx_opset_version())


_FLOAT_TYPES = {"float32": 1, "int64": 7}      # TensorProto.FLOAT, TensorProto.INT64


class GraphBuilder:
    """Collects the nodes and initializers of one export; rules call its methods.

    ``opset`` is the opset being written (rules branch on it where ONNX changed an operator).
    Node names are ``<module path>/<Op>`` (made unique), node outputs ``<node name>_output``;
    initializers of parameters and buffers are named by their ``state_dict`` keys.
    """

    def __init__(self, model, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self._used: set[str] = set()
        self._paths: dict[int, str] = {}
        for path, module in model.named_modules():
            self._paths.setdefault(id(module), path)
        self._scope: list[str] = []

    # ----------------------------------------------------------------------------- names
    def path(self, module) -> str:
        """The dotted path of ``module`` in the exported model (``''`` for the model itself)."""
        return self._paths.get(id(module), type(module).__name__)

    def _unique(self, name: str) -> str:
        base, i = name, 1
        while name in self._used:
            name = f"{base}_{i}"
            i += 1
        self._used.add(name)
        return name

    def _scoped(self, name: str) -> str:
        scope = self._scope[-1] if self._scope else ""
        return f"{scope}/{name}" if scope else name

    # ----------------------------------------------------------------------------- nodes and tensors
    def op(self, op_type: str, *inputs, outputs: int = 1, shape=None, dtype: str = "float32", **attrs):
        """Add a node ``op_type(*inputs, **attrs)``; returns its output ``Value`` (a tuple for ``outputs > 1``).

        Inputs are ``Value``\\ s, names, or ``None`` for an optional input left out; attributes are
        Python values (``onnx.helper.make_node``'s). ``shape`` may say the output's static shape.
        """
        from onnx import helper
        name = self._unique(self._scoped(op_type))
        names = [self._unique(f"{name}_output" + (f"_{i}" if outputs > 1 else "")) for i in range(outputs)]
        args = ["" if v is None else (v.name if isinstance(v, Value) else str(v)) for v in inputs]
        while args and args[-1] == "":
            args.pop()                                                  # trailing optional inputs: left out
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, args, names, name=name, **attrs))
        if shape is None and outputs == 1:
            shape = _infer_shape(op_type, inputs, attrs)
        values = tuple(Value(n, shape if outputs == 1 else None, dtype) for n in names)
        return values[0] if outputs == 1 else values

    def const(self, array, name: str = "const") -> Value:
        """A constant initializer: float arrays are stored as float32, integers as int64."""
        array = np.asarray(array)
        array = array.astype(np.int64 if array.dtype.kind in "iub" else np.float32)
        unique = self._unique(self._scoped(name))
        self.initializers[unique] = array
        return Value(unique, tuple(array.shape), "int64" if array.dtype == np.int64 else "float32")

    def ints(self, values, name: str = "ints") -> Value:
        """A 1-D int64 constant (shapes, axes, pads, slice bounds)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), name)

    def param(self, module, attr: str) -> Value:
        """The initializer holding ``module.<attr>`` (a parameter or buffer), named by its ``state_dict`` key."""
        value = getattr(module, attr)
        data = value.data if hasattr(value, "data") and not isinstance(value, np.ndarray) else value
        prefix = self.path(module)
        key = f"{prefix}.{attr}" if prefix else attr
        if key not in self.initializers:
            self._used.add(key)
            self.initializers[key] = np.asarray(data, dtype=np.float32)
        return Value(key, tuple(np.shape(data)))

    # ----------------------------------------------------------------------------- the protocol
    def apply(self, module, x: Value) -> Value:
        """Export ``module`` applied to ``x``: run its rule (see the module docstring) and return its output.

        The output's static shape is the module's own ``output_shape(x.shape)``; a rule that
        states another one is a bug, reported as an ``ExportError``.
        """
        rule = find_rule(module)
        if rule is None:
            raise self._located(module, _no_rule_message(module))
        self._scope.append(self.path(module))
        try:
            out = rule(self, module, x)
        except ExportError as err:
            raise err if err.located else self._located(module, str(err)) from None
        except (ValueError, TypeError) as err:   # a layer's own check (shape, settings): say where it happened
            raise self._located(module, str(err)) from err
        finally:
            self._scope.pop()
        return self._with_shape(module, x, out)

    def _located(self, module, why: str) -> ExportError:
        path = self.path(module)
        err = ExportError(f"{f'{path!r}' if path else 'the model'} ({module._describe()}): {why}")
        err.located = True
        return err

    def chain(self, modules, x: Value) -> Value:
        """Apply ``modules`` in order (a ``Sequential``'s data flow)."""
        for module in modules:
            x = self.apply(module, x)
        return x

    def _with_shape(self, module, x: Value, out):
        if isinstance(out, tuple):
            return out
        if x.shape is None:
            return out
        shape = tuple(module.output_shape(tuple(x.shape)))
        if out.shape is not None and tuple(out.shape) != shape:
            raise self._located(module, f"its export rule gives {shape_str(out.shape)}, its output_shape "
                                        f"{shape_str(shape)}")
        return Value(out.name, shape, out.dtype)

    # ----------------------------------------------------------------------------- helpers across opsets
    def reduce(self, op_type: str, x: Value, axes, keepdims: bool = True) -> Value:
        """``ReduceMean``/``ReduceMax``/``ReduceSum`` over ``axes`` (an attribute before opset 18, an input
        from then on; ``ReduceSum`` takes the input from opset 13)."""
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, x, self.ints(axes, "axes"), keepdims=int(keepdims))
        return self.op(op_type, x, axes=axes, keepdims=int(keepdims))

    def slice(self, x: Value, starts, ends, axes, steps=None) -> Value:
        """``Slice`` with constant non-negative bounds (ends may be ``2**62`` for "to the end")."""
        shape = None
        if x.shape is not None:
            shape = list(x.shape)
            for a, start, end, step in zip(axes, starts, ends, steps or [1] * len(axes)):
                shape[a] = len(range(start, min(end, x.shape[a]), step))
            shape = tuple(shape)
        return self.op("Slice", x, self.ints(starts, "starts"), self.ints(ends, "ends"), self.ints(axes, "axes"),
                       None if steps is None else self.ints(steps, "steps"), shape=shape)

    def reshape_batch(self, x: Value, shape) -> Value:
        """``Reshape`` to ``shape`` keeping axis 0 as it is (``0`` in the target): the batch stays free."""
        return self.op("Reshape", x, self.ints([0] + [int(s) for s in shape[1:]], "shape"), shape=tuple(shape))

    def pad(self, x: Value, pairs, mode: str = "constant", value: float = 0.0) -> Value:
        """Pad the last ``len(pairs)`` axes of ``x`` by ``(lo, hi)`` each, with strided's modes.

        ``constant``: negative amounts crop first (``Slice``), the rest is a ``Pad`` node filled
        with ``value``. ``reflect`` and ``replicate`` are ``Pad`` in the modes ``reflect`` and
        ``edge``; ``circular`` is ``Pad`` in mode ``wrap``, which ONNX has from opset 19. Where
        ``Pad`` has no such mode (``circular`` before opset 19) or an amount is negative, each axis
        is a ``Gather`` of the input positions its padded output copies (``nn.padding.pad_index``),
        which is exact in every opset.
        """
        pairs = [(int(lo), int(hi)) for lo, hi in pairs]
        if not any(lo or hi for lo, hi in pairs):
            return x
        rank = len(x.shape)
        lead = rank - len(pairs)
        if mode == "constant":
            if any(lo < 0 or hi < 0 for lo, hi in pairs):
                axes = [lead + a for a, (lo, hi) in enumerate(pairs) if lo < 0 or hi < 0]
                starts = [max(-pairs[a - lead][0], 0) for a in axes]
                ends = [x.shape[a] - max(-pairs[a - lead][1], 0) for a in axes]
                x = self.slice(x, starts, ends, axes)
                pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
            if not any(lo or hi for lo, hi in pairs):
                return x
            return self._pad_node(x, pairs, lead, "constant", value)
        onnx_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        if all(lo >= 0 and hi >= 0 for lo, hi in pairs) and (mode != "circular" or self.opset >= 19):
            return self._pad_node(x, pairs, lead, onnx_mode, None)
        for a, (lo, hi) in enumerate(pairs):                            # exact gathers, one axis at a time
            if lo or hi:
                index = pad_index(x.shape[lead + a], lo, hi, mode)
                shape = x.shape[:lead + a] + (len(index),) + x.shape[lead + a + 1:]
                x = self.op("Gather", x, self.const(index, "pad_index"), axis=lead + a, shape=shape)
        return x

    def _pad_node(self, x: Value, pairs, lead: int, mode: str, value) -> Value:
        pads = [0] * lead + [lo for lo, _ in pairs] + [0] * lead + [hi for _, hi in pairs]
        fill = None if value is None else self.const(np.array(value, dtype=np.float32), "pad_value")
        shape = tuple(n + lo + hi for n, lo, hi in zip(x.shape, pads[:len(x.shape)], pads[len(x.shape):]))
        return self.op("Pad", x, self.ints(pads, "pads"), fill, mode=mode, shape=shape)


_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Where", "Relu", "Sigmoid", "Tanh", "Sqrt", "Erf", "Softplus",
                "Clip", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Mish", "Gelu",
                "Softmax", "LogSoftmax", "Greater", "BatchNormalization", "InstanceNormalization",
                "LayerNormalization", "LRN", "Identity"}


def _infer_shape(op_type: str, inputs, attrs):
    """The static shape of an element-wise node (broadcast) or a ``Concat``, where its inputs' are known;
    ``None`` otherwise (rules give the shapes that later steps read)."""
    shapes = [v.shape if isinstance(v, Value) else None for v in inputs if v is not None]
    if op_type == "Concat" and shapes and all(s is not None for s in shapes):
        axis = attrs["axis"] % len(shapes[0])
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)
    if op_type in _ELEMENTWISE and shapes and all(s is not None for s in shapes):
        if op_type in ("Clip", "PRelu", "BatchNormalization", "InstanceNormalization", "LayerNormalization"):
            return tuple(shapes[0])
        return tuple(np.broadcast_shapes(*shapes))
    return None


def _no_rule_message(module) -> str:
    name = type(module).__name__
    why = "has a hand-written forward() and no ONNX export rule" if not has_static_rules(module) else \
        "has no ONNX export rule"
    return (f"{name} {why}; give the class a method onnx_export(self, builder, x) that writes its nodes, "
            f"or register a rule with @strided.onnx.export_rule({name}) (see strided.onnx.export)")


def _check_opset(opset) -> int:
    import onnx
    newest = onnx.defs.onnx_opset_version()
    if newest < MIN_OPSET:
        raise ImportError(f"export needs onnx with opset {MIN_OPSET} or newer (onnx >= 1.8), this one knows {newest}")
    if opset is None:
        return default_opset()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"export: opset must be an int, got {opset!r}")
    if not MIN_OPSET <= int(opset) <= newest:
        raise ValueError(f"export: opset must be between {MIN_OPSET} and {newest} (the newest the installed onnx "
                         f"knows), got {opset}")
    return int(opset)


def _names(names, what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError(f"export: {what} must be non-empty strings, got {names!r}")
    return names


def _first_layer(model):
    """The first module a chain of ``Sequential``\\ s applies (an ``Embedding`` takes integer inputs)."""
    while isinstance(model, Sequential) and len(model):
        model = model[0]
    return model


def export(model, path, input_shape, opset: int | None = None, dynamic_batch: bool = True,
           input_names=("input",), output_names=("output",)):
    """Write ``model``'s inference graph (evaluation mode) to the ONNX file ``path``.

    Args:
        model: a module with export rules for everything it applies (every layer ONNX can express,
            the containers and the model zoo; see the module docstring for adding one).
        path: the file to write (replaced atomically).
        input_shape: ``(N, C, *S)``, the input the graph is built for: shapes, ``'same'`` and
            ``'causal'`` pads, adaptive bins and resampling sizes are resolved for it.
        opset: the ONNX opset (``MIN_OPSET`` up to the installed onnx's newest); by default
            ``default_opset()``.
        dynamic_batch: make axis 0 of the input and output the symbolic ``batch``; otherwise the
            file accepts batches of ``N`` only.
        input_names: the graph's input name: a string or a one-name sequence (default ``("input",)``).
        output_names: the graph's output names: a string or a sequence (default ``("output",)``).

    Returns the ``onnx.ModelProto`` written, which has passed ``onnx.checker.check_model(full_check=True)``
    (strict shape inference). Parameters and buffers become float32 initializers named by their
    ``state_dict`` keys. Raises ``ExportError`` naming the first module that cannot be exported,
    ``ShapeError`` when the model does not accept ``input_shape``, ``ImportError`` without ``onnx``.

    Example:
        >>> import os, tempfile
        >>> from strided import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU())
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.onnx")
        >>> proto = export(model, path, (1, 1, 8, 8))                     # doctest: +SKIP
        >>> [node.op_type for node in proto.graph.node]                  # doctest: +SKIP
        ['Conv', 'Relu']
    """
    try:
        import onnx
        from onnx import helper
    except ImportError as err:
        raise ImportError("strided.onnx.export needs the onnx package: pip install onnx") from err
    from .. import __version__

    opset = _check_opset(opset)
    input_names, output_names = _names(input_names, "input_names"), _names(output_names, "output_names")
    if len(input_names) != 1:
        raise ValueError(f"export: the exported models take one input, got input_names={input_names!r}")
    input_shape = tuple(int(s) for s in input_shape)
    if any(is_meta(p.data) for p in model.parameters()):
        raise ExportError(f"{type(model).__name__}: a shape-only (meta) model has no weights to export; "
                          f"load_state_dict real ones first")
    out_shape = tuple(model.output_shape(input_shape))                 # ShapeError for an input it refuses

    builder = GraphBuilder(model, opset)
    integer_input = isinstance(_first_layer(model), Embedding)         # index arrays: an int64 input
    x = Value(input_names[0], input_shape, "int64" if integer_input else "float32")
    builder._used.add(x.name)
    out = builder.apply(model, x)
    outs = out if isinstance(out, tuple) else (out,)
    if len(outs) != len(output_names):
        raise ValueError(f"export: the model gives {len(outs)} output(s), got output_names={output_names!r}")
    nodes = builder.nodes
    for value, name in zip(outs, output_names):
        _rename_output(builder, nodes, value.name, name)

    batch = "batch" if dynamic_batch else input_shape[0]

    def info(name, shape, dtype):
        dims = list(shape)
        if dynamic_batch and dims and dims[0] == input_shape[0]:
            dims[0] = batch
        return helper.make_tensor_value_info(name, _FLOAT_TYPES[dtype], dims)

    shapes = [out_shape] if len(outs) == 1 else [v.shape for v in outs]
    graph = helper.make_graph(
        nodes, type(model).__name__,
        [info(x.name, input_shape, x.dtype)],
        [info(name, shape, v.dtype) for name, shape, v in zip(output_names, shapes, outs)],
        initializer=[onnx.numpy_helper.from_array(a, name) for name, a in builder.initializers.items()])
    opset_ids = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opset_ids, producer_name="strided",
                              producer_version=__version__,
                              doc_string=f"{type(model).__name__} exported by strided for input "
                                         f"{shape_str(input_shape)}")
    proto.ir_version = helper.find_min_ir_version_for(opset_ids)
    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(path, ".onnx") as tmp:
        onnx.save(proto, tmp)
    return proto


def _rename_output(builder: GraphBuilder, nodes, old: str, new: str) -> None:
    """Give the value ``old`` the graph output name ``new``: its producer's output is renamed, or an
    ``Identity`` copies it where ``old`` is the graph input or an initializer."""
    from onnx import helper
    if new != old and new in builder._used:
        raise ValueError(f"export: the output name {new!r} is already a name in the graph; choose another")
    producer = next((n for n in nodes if old in n.output), None)
    if producer is None:
        nodes.append(helper.make_node("Identity", [old], [new], name=builder._unique("Identity")))
    else:
        for node in nodes:
            node.output[:] = [new if name == old else name for name in node.output]
            node.input[:] = [new if name == old else name for name in node.input]
    builder._used.add(new)


from . import export_blocks, export_layers, export_loaded  # noqa: E402,F401  (the rules register themselves)
