"""``strided.onnx.info``: an ONNX model's layer table, computed without running it.

The same checks and shape inference as ``load`` (the model's own shapes, strided's geometry
rules), but nothing is built and nothing runs: one row per node that would run (the nodes folded
at load time, shape arithmetic and constants, are counted in the footer), with its output shape,
the parameters it reads (each counted once, on its first reader's row) and its multiply-
accumulates (convolutions, Gemm and MatMul; the ``summary`` convention), for a given batch size.
It returns ``strided.analysis.Summary``'s kind of table: ``str()``, ``to_markdown()``,
``to_json()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.summary import LayerRow, Summary
from .graph import read_graph
from .plan import plan_graph
from .reader import read_model
from .symbolic import Sym, evaluate_dim, evaluate_shape


@dataclass
class OnnxSummary(Summary):
    """A ``Summary`` of an ONNX graph; ``note`` counts the folded nodes.

    Args:
        model_name: the graph's name and its source, shown in the header.
        input_shape: the first input's shape for the chosen batch size.
        rows: one ``LayerRow`` per node that runs, in graph order.
        params: the parameters the graph's initializers hold.
        trainable_params: the same count (an imported graph's parameters all count as trainable).
        output_shape: the output's shape, or a tuple of shapes for several outputs (default ``()``).
        traced: unused for ONNX graphs (default ``()``).
        folded: the nodes folded at load time: constants and shape arithmetic (default 0).
        opset: the graph's ONNX opset (default 0).

    Example:
        >>> import os, tempfile
        >>> import strided as st
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.onnx")
        >>> tiny = st.nn.Sequential(st.nn.Conv2d(1, 2, 3, rng=0), st.nn.ReLU())
        >>> _ = st.onnx.export(tiny, path, (1, 1, 8, 8))                   # doctest: +SKIP
        >>> summary = st.onnx.info(path, batch_size=4)                   # doctest: +SKIP
        >>> summary.params, summary.output_shape, summary.opset          # doctest: +SKIP
        (20, (4, 2, 6, 6), 21)
    """

    folded: int = 0
    opset: int = 0

    @property
    def note(self) -> str | None:
        return (f"opset {self.opset}; {self.folded} node{'s' if self.folded != 1 else ''} folded at load time "
                f"(constants and shape arithmetic); receptive fields not computed for ONNX graphs")

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["folded"], out["opset"] = self.folded, self.opset
        return out


def info(source, batch_size: int = 1, *, input_shapes=None, constants=None, base_dir=None) -> OnnxSummary:
    """The layer table of an ONNX model (path, bytes or ``onnx.ModelProto``) for ``batch_size``.

    Raises what ``load`` raises for an unsupported or damaged model.

    Args:
        source: path to a ``.onnx`` file, its bytes, or an ``onnx.ModelProto``.
        batch_size: the batch size the table is computed for.
        input_shapes: as ``load``'s: shapes of inputs the file leaves dynamic.
        constants: as ``load``'s: graph inputs fixed at load time.
        base_dir: the folder of external data when ``source`` is bytes.

    >>> # print(st.onnx.info("resnet18.onnx"))     # one row per node: type, output, params, MACs
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"strided.onnx.info: batch_size must be a positive int, got {batch_size!r}")
    model, label, base_dir = read_model(source, base_dir)
    graph = read_graph(model, label, base_dir)
    plan = plan_graph(graph, input_shapes, constants)
    bindings = {name: batch_size for name in plan.symbols}
    rows = []
    for step in plan.steps:
        out_shape = evaluate_shape(step.out_shape, bindings)
        macs = step.macs.evaluate(bindings) if isinstance(step.macs, Sym) else int(step.macs)
        memory = 1
        for d in out_shape:
            memory *= d
        rows.append(LayerRow(step.node.name, step.node.op_type, evaluate_shape(step.in_shape, bindings), out_shape,
                             step.params, step.params, macs, memory, None))
    params = sum(int(graph.initializers[n].size) for n, kind in plan.kinds.items() if kind == "param")
    first = plan.inputs[0].shape if plan.inputs else ()
    outputs = [evaluate_shape(plan.values[name].shape, bindings) for name in plan.outputs]
    return OnnxSummary(f"{graph.name} ({label})", tuple(evaluate_dim(d, bindings) for d in first), rows, params, params,
                       outputs[0] if len(outputs) == 1 else tuple(outputs), (), plan.folded, graph.opset)


__all__ = ["info", "OnnxSummary"]
