"""Export rule of an imported graph (``strided.onnx.load``'s ``OnnxModel``): its nodes written back.

An ``OnnxModel`` runs a list of steps, each one ONNX node that was not folded at load time; the
rule writes each step's node again with its attributes, reading the model's parameters and
buffers as initializers named by their ``state_dict`` keys and the values folded at load time
as constants. So a file exported by strided, loaded and exported again has the same operators
in the same order and the same initializer values (``tests/test_onnx_export_models.py``).
Values folded to a size that depends on the batch (a ``Shape`` chain) have no constant form and
raise an ``ExportError``.
"""

from __future__ import annotations

import heapq

import numpy as np

from .export import ExportError, Value, export_rule
from .model import OnnxModel


def _in_file_order(steps) -> list:
    """The steps in the order of their nodes in the file where that order is valid (the loader may
    have sorted them otherwise): a topological order that always takes the earliest ready node."""
    producer = {name: i for i, step in enumerate(steps) for name in step.outputs if name}
    readers = [[] for _ in steps]
    waiting = []
    for i, step in enumerate(steps):
        deps = {producer[arg[1]] for arg in step.args if arg is not None and arg[0] == "value" and arg[1] in producer}
        waiting.append(len(deps))
        for dep in deps:
            readers[dep].append(i)
    ready = [(step.node.index, i) for i, step in enumerate(steps) if waiting[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(steps[i])
        for reader in readers[i]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, (steps[reader].node.index, reader))
    return order


def _constant(b, value):
    array = np.asarray(getattr(value, "data", value))
    if array.dtype == object:                                           # a size holding the symbolic batch
        raise ExportError("OnnxModel holds a value folded at load time that depends on the batch size "
                          "(a Shape chain); it has no constant form to export")
    return b.const(array, "folded")


@export_rule(OnnxModel)
def onnx_model(b, model, x):
    if len(model.input_names) != 1:
        raise ExportError(f"OnnxModel with {len(model.input_names)} inputs: exported graphs have one input")
    env = {model.input_names[0]: x}
    for name, (owner, leaf) in model._slots.items():
        env[name] = b.param(owner, leaf)
    for step in _in_file_order(model._steps):
        inputs = []
        for arg in step.args:
            if arg is None:
                inputs.append(None)
            elif arg[0] == "value":
                inputs.append(env[arg[1]])
            else:                                                       # ("const", value) or ("static", array)
                inputs.append(_constant(b, arg[1]))
        attrs = dict(step.node.attrs)
        outputs = b.op(step.node.op_type, *inputs, outputs=max(len(step.outputs), 1), **attrs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        for name, value in zip(step.outputs, outputs):
            if name:
                env[name] = value
    results = []
    for name in model.output_names:
        results.append(_constant(b, model._output_consts[name]) if name in model._output_consts else env[name])
    if len(results) == 1:
        return Value(results[0].name, None, results[0].dtype)
    return tuple(results)
