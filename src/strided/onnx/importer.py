"""``strided.onnx.load``: an ONNX model as a strided module, run with strided's own ops."""

from __future__ import annotations

from .graph import read_graph
from .model import OnnxModel
from .plan import plan_graph
from .reader import read_model


def load(source, *, input_shapes=None, constants=None, base_dir=None) -> OnnxModel:
    """Import an ONNX model (a path, bytes or an ``onnx.ModelProto``) as an ``OnnxModel``.

    Every node is checked before anything is built: an operator, attribute or opset strided does
    not import raises one ``UnsupportedOnnxError`` listing each (op type, node name, what is
    supported); a damaged or hostile file (truncated, cyclic, a missing input, an initializer
    shorter than its shape, external data outside the model's folder) an ``OnnxError`` naming it.
    Shapes are folded at load time, with the batch axis of each input kept dynamic.

    Args:
        source: path to a ``.onnx`` file (external data is read from its folder), its bytes,
            or an ``onnx.ModelProto``.
        input_shapes: ``{input_name: (None, 3, 224, 224)}`` for inputs whose non-batch axes
            the file leaves dynamic (``None``: the batch axis).
        constants: ``{input_name: array}``: graph inputs fixed at load time (an input that only
            configures the graph: a shape, axes, scales); they are folded like initializers.
        base_dir: the folder of external data when ``source`` is bytes.

    Returns:
        An ``OnnxModel`` in eval mode: ``model(x)``, ``model.input_names``,
        ``model.output_names``, ``model.state_dict()`` (initializers by their sanitised names),
        ``model.parameters()`` (the floating weights, trainable).

    >>> # model = st.onnx.load("resnet18.onnx"); y = model(np.zeros((2, 3, 224, 224), np.float32))
    """
    model, label, base_dir = read_model(source, base_dir)
    graph = read_graph(model, label, base_dir)
    return OnnxModel(plan_graph(graph, input_shapes, constants))


__all__ = ["load"]
