"""``strided onnx-info`` and ``strided summary FILE.onnx``: the layer table of an ONNX graph.

The graph is written by the test with ``onnx.helper``; the oracle is the hand count of its
parameters and multiply-accumulates.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from strided.cli import main

onnx = pytest.importorskip("onnx", reason="needs the onnx package: pip install 'strided[onnx]'")


def tiny_model(path):
    """Conv 1->4, 3x3, pad 1 on 8x8, then Relu, with a dynamic batch axis."""
    from onnx import TensorProto, helper, numpy_helper
    weight = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "conv.weight")
    bias = numpy_helper.from_array(np.zeros(4, np.float32), "conv.bias")
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["y"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["y"], ["z"], name="relu")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4, 8, 8])], [weight, bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_onnx_info_counts_the_graph_by_hand(tmp_path, capsys):
    path = tmp_path / "tiny.onnx"
    tiny_model(path)
    assert main(["onnx-info", str(path), "--format", "json", "--batch", "2"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [row["type"] for row in table["layers"]] == ["Conv", "Relu"]
    assert table["total"]["params"] == 4 * 9 + 4                        # weights and biases
    assert table["layers"][0]["macs"] == 2 * 8 * 8 * 4 * 9               # the batch of 2: outputs x taps each
    assert table["layers"][0]["output_shape"] == [2, 4, 8, 8]


def test_summary_of_an_onnx_file_needs_no_input_shape(tmp_path, capsys):
    path = tmp_path / "tiny.onnx"
    tiny_model(path)
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv" in out and "params: 40" in out
    assert main(["summary", "lenet5"]) == 2                             # a model name still needs --input
    assert "--input is required" in capsys.readouterr().err
