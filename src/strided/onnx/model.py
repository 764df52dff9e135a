"""``OnnxModel``: an imported graph as a strided ``Module`` that runs it with strided's own ops.

The initializers live in the module tree under names derived from theirs: each dotted part
becomes a submodule and every character other than letters, digits and ``_`` becomes ``_``, so
PyTorch's ``features.0.weight`` is ``state_dict()['features.0.weight']`` again and
``onnx::Conv_62`` is ``onnx__Conv_62``; ``initializer_names`` maps every ONNX name to its key.
Floating weights are ``Parameter``s (trainable: an imported model can be fine-tuned), running
statistics and integer constants buffers. ``forward`` takes the graph's inputs positionally or by
name, binds the batch size, runs the steps (each the strided computation of one node; values no
later step reads are dropped as soon as possible) and returns one tensor, or a tuple for several
outputs. ``eval()`` is the mode after loading; in ``train()`` BatchNormalization uses batch
statistics and updates its buffers, and Dropout drops.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import ShapeError
from ..nn.module import Module, Parameter
from ..tensor import Tensor
from .symbolic import Sym, resolve, shape_text


class Namespace(Module):
    """A plain container for the parameters and buffers under one dotted prefix (never called)."""

    def forward(self, *args, **kwargs):
        raise RuntimeError("Namespace: holds imported initializers; it is not a layer")


def _segment(text: str) -> str:
    cleaned = re.sub(r"[^0-9A-Za-z_]", "_", text)
    return cleaned or "_"


def place_initializers(root: Module, arrays: dict, kinds: dict) -> dict:
    """Put each initializer in the tree under ``root`` (see the module notes); returns
    ``{onnx_name: (owner_module, attribute, state_dict_key)}``."""
    taken_leaf, taken_node = set(), {""}
    placed = {}
    for name in arrays:
        parts = [_segment(p) for p in name.split(".")]
        key = ".".join(parts)
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts))]
        if key in taken_leaf or key in taken_node or any(p in taken_leaf for p in prefixes):
            base, k = _segment(name), 1                                 # a clash: one flat, unique name instead
            key = base
            while key in taken_leaf or key in taken_node:
                k += 1
                key = f"{base}_{k}"
            parts, prefixes = [key], []
        owner = root
        for i, part in enumerate(parts[:-1]):
            child = owner._modules.get(part)
            if child is None:
                child = Namespace()
                owner._modules[part] = child
            owner = child
            taken_node.add(".".join(parts[:i + 1]))
        leaf = parts[-1]
        taken_leaf.add(key)
        array = arrays[name]
        if kinds[name] == "param":
            owner._parameters[leaf] = Parameter(np.array(array, copy=True), dtype=array.dtype)
        else:
            owner._buffers[leaf] = np.array(array, copy=True)
        placed[name] = (owner, leaf, key)
    return placed


class OnnxModel(Module):
    """A graph imported by ``strided.onnx.load``; see the module notes.

    Attributes: ``input_names``, ``output_names``, ``input_shapes`` (the batch axis as a name),
    ``initializer_names`` (ONNX name -> ``state_dict`` key), ``opset``, ``graph_name``.

    Args:
        plan: the checked, shape-inferred graph that ``strided.onnx.load`` builds (``plan_graph``'s result);
            build models with ``load`` rather than by hand.

    Shape: the inputs in the order of ``input_names``, each of the shape in ``input_shapes`` (any batch
    size on the named axis); the output is one tensor, or a tuple in the order of ``output_names``
    when the graph has several, of the shapes the graph infers.

    Example:
        >>> import os, tempfile
        >>> import strided as st
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.onnx")
        >>> tiny = st.nn.Sequential(st.nn.Conv2d(1, 2, 3, rng=0), st.nn.ReLU())
        >>> _ = st.onnx.export(tiny, path, (1, 1, 8, 8))                   # doctest: +SKIP
        >>> model = st.onnx.load(path)                                               # doctest: +SKIP
        >>> model.input_shapes, model(np.zeros((2, 1, 8, 8), np.float32)).shape      # doctest: +SKIP
        ({'input': ('batch', 1, 8, 8)}, (2, 2, 6, 6))
    """

    converts_raw_input = False

    def __init__(self, plan):
        super().__init__()
        graph = plan.graph
        placed = place_initializers(self, {n: graph.initializers[n] for n in plan.kinds}, plan.kinds)
        object.__setattr__(self, "_slots", {name: (owner, leaf) for name, (owner, leaf, _) in placed.items()})
        object.__setattr__(self, "initializer_names", {name: key for name, (_, _, key) in placed.items()})
        object.__setattr__(self, "input_names", [v.name for v in plan.inputs])
        object.__setattr__(self, "output_names", list(plan.outputs))
        object.__setattr__(self, "input_shapes", {v.name: tuple(str(d) if isinstance(d, Sym) else d for d in v.shape)
                                                  for v in plan.inputs})
        object.__setattr__(self, "opset", graph.opset)
        object.__setattr__(self, "graph_name", graph.name)
        object.__setattr__(self, "source", graph.label)
        object.__setattr__(self, "_inputs", list(plan.inputs))
        object.__setattr__(self, "_steps", list(plan.steps))
        consts = {}
        for name in plan.outputs:                                       # outputs known at load time
            value = plan.values[name]
            if value.kind == "const":
                consts[name] = value.const
        object.__setattr__(self, "_output_consts", consts)
        last = {}
        for i, step in enumerate(plan.steps):
            for arg in step.args:
                if arg is not None and arg[0] == "value":
                    last[arg[1]] = i
        keep = set(plan.outputs)
        object.__setattr__(self, "_drop_after", [[n for n, j in last.items() if j == i and n not in keep
                                                  and n not in self._slots] for i in range(len(plan.steps))])
        self.eval()

    # ------------------------------------------------------------------------------------- inputs
    def _bind(self, args, kwargs) -> tuple[dict, dict]:
        names = self.input_names
        if len(args) > len(names):
            raise TypeError(f"{self._describe()}: expected at most {len(names)} inputs {names}, got {len(args)}")
        given = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{self._describe()}: unknown input {key!r}; the inputs are {names}")
            if key in given:
                raise TypeError(f"{self._describe()}: input {key!r} given twice")
            given[key] = value
        missing = [n for n in names if n not in given]
        if missing:
            raise TypeError(f"{self._describe()}: missing input{'s' if len(missing) > 1 else ''} {missing}")
        env, bindings = {}, {}
        cast = next((p.dtype for p in self.parameters()), None)        # after .double(): float64 inputs too
        for value in self._inputs:
            x = given[value.name]
            x = x if isinstance(x, Tensor) else Tensor(np.asarray(x), dtype=cast or value.dtype)
            if x.ndim != len(value.shape):
                raise ShapeError(f"{self._describe()}: input {value.name!r} must be {shape_text(value.shape)}, "
                                 f"got {shape_text(x.shape)}")
            for axis, (want, got) in enumerate(zip(value.shape, x.shape)):
                if isinstance(want, Sym):
                    name = want.terms[0][0]
                    if bindings.setdefault(name, got) != got:
                        raise ShapeError(f"{self._describe()}: the size {name} is {bindings[name]} in one input and "
                                         f"{got} in {value.name!r}")
                elif want != got:
                    raise ShapeError(f"{self._describe()}: input {value.name!r} must be {shape_text(value.shape)} "
                                     f"(axis {axis} is fixed in the model), got {shape_text(x.shape)}")
            env[value.name] = x
        return env, bindings

    # ------------------------------------------------------------------------------------- running
    def forward(self, *args, **kwargs):
        env, bindings = self._bind(args, kwargs)
        for name, (owner, leaf) in self._slots.items():
            env[name] = owner._parameters[leaf] if leaf in owner._parameters else owner._buffers[leaf]
        training = self.training
        for step, drop in zip(self._steps, self._drop_after):
            inputs = []
            for arg in step.args:
                if arg is None:
                    inputs.append(None)
                elif arg[0] == "value":
                    inputs.append(env[arg[1]])
                elif arg[0] == "static":
                    inputs.append(resolve(arg[1], bindings))
                else:
                    inputs.append(arg[1])
            try:
                result = step.run(*inputs, training=training) if step.uses_mode else step.run(*inputs)
            except (ShapeError, ValueError, TypeError) as error:
                raise type(error)(f"{self.source}: {step.node.label}: {error}") from error
            results = result if isinstance(result, (tuple, list)) else (result,)
            for name, value in zip(step.outputs, results):
                if name:
                    env[name] = value
            for name in drop:
                env.pop(name, None)
        outputs = []
        for name in self.output_names:
            if name in self._output_consts:
                const = resolve(self._output_consts[name], bindings)
                outputs.append(Tensor(const) if const.dtype.kind == "f" else const)
            else:
                outputs.append(env[name])
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def extra_repr(self) -> str:
        return (f"{self.graph_name!r}, inputs={self.input_names}, outputs={self.output_names}, opset={self.opset}, "
                f"{len(self._steps)} steps")

    def __repr__(self) -> str:
        return f"OnnxModel({self.extra_repr()})"


__all__ = ["OnnxModel", "Namespace", "place_initializers"]
