"""Files: hostile and damaged models, external data, unsupported operators, and ``info``'s table.

A damaged or hostile file must give one clear error naming the file and the node or initializer,
never a crash, a hang or a half-built model: truncated protobufs (cut anywhere), a graph with a
cycle, an initializer whose data is shorter than its shape (or claims a huge shape), a node
reading a name nothing defines, external data outside the model's folder. ``info`` gives the
layer table without running anything, with the totals a hand count (and strided's own summary
of the same network) gives.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx package: pip install onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import strided as st  # noqa: E402
from strided.onnx import OnnxError, UnsupportedOnnxError  # noqa: E402

F32 = TensorProto.FLOAT


def small_model(opset=17):
    """x (N, 2, 6, 6) -> Conv(w, b) -> Relu -> MaxPool -> Flatten -> Gemm(fc_w, fc_b)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "conv.weight"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "conv.bias"),
             numpy_helper.from_array(rng.standard_normal((4, 12)).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "fc.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", F32, ["N", 2, 6, 6])],
                              [helper.make_tensor_value_info("y", F32, ["N", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def save(model, path):
    path.write_bytes(model.SerializeToString())
    return path


# ----------------------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_file_is_an_error_naming_it(tmp_path, fraction):
    data = small_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(OnnxError, match="cut.onnx"):
        st.onnx.load(path)


def test_garbage_is_an_error(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(OnnxError, match="noise.onnx"):
        st.onnx.load(path)


def test_a_cycle_names_its_nodes():
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="first"), helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Add", ["x", "b"], ["y"], name="after")]
    graph = helper.make_graph(nodes, "loop", [helper.make_tensor_value_info("x", F32, [2])],
                              [helper.make_tensor_value_info("y", F32, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(OnnxError, match=r"cycle.*'first'.*'second'"):
        st.onnx.load(model.SerializeToString())


def test_a_missing_input_names_the_node_and_the_name():
    model = small_model()
    model.graph.node[1].input[0] = "ghost"
    with pytest.raises(OnnxError, match=r"Relu node 'relu' reads 'ghost'.*missing"):
        st.onnx.load(model.SerializeToString())


@pytest.mark.parametrize("how", ["raw", "typed", "huge"])
def test_an_initializer_shorter_than_its_shape(how):
    model = small_model()
    weight = model.graph.initializer[0]
    if how == "raw":
        weight.raw_data = weight.raw_data[:-8]
    elif how == "typed":
        values = numpy_helper.to_array(weight).reshape(-1)[:-1]
        weight.ClearField("raw_data")
        weight.float_data.extend(values.tolist())
    else:
        del weight.dims[:]
        weight.dims.extend([10 ** 6, 10 ** 6, 3, 3])                    # 3.6e13 floats claimed
    with pytest.raises(OnnxError, match="initializer 'conv.weight'"):
        st.onnx.load(model.SerializeToString())


def test_names_defined_twice_and_outputs_nothing_computes():
    model = small_model()
    model.graph.node[2].output[0] = "c"
    with pytest.raises(OnnxError, match="defines 'c', which is already"):
        st.onnx.load(model.SerializeToString())
    model = small_model()
    model.graph.output[0].name = "nowhere"
    with pytest.raises(OnnxError, match="'nowhere' is computed by no node"):
        st.onnx.load(model.SerializeToString())


# ----------------------------------------------------------------------------------------- unsupported
def test_every_unsupported_thing_in_one_error_and_nothing_built(monkeypatch):
    model = small_model()
    nodes = list(model.graph.node)
    nodes.insert(2, helper.make_node("LSTM", ["r"], ["lstm_out"], name="recurrent"))
    nodes.insert(3, helper.make_node("Foo", ["r"], ["foo_out"], name="custom", domain="com.example"))
    nodes[0].attribute.append(helper.make_attribute("mystery", 3))
    nodes.append(helper.make_node("Pad", ["y"], ["padded"], name="pad", mode="mirror"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    built = []
    monkeypatch.setattr("strided.onnx.importer.OnnxModel", lambda plan: built.append(plan))
    with pytest.raises(UnsupportedOnnxError) as error:
        st.onnx.load(model.SerializeToString())
    text = str(error.value)
    assert "4 things" in text and "nothing was built" in text
    assert "LSTM node 'recurrent': operator LSTM is not supported" in text
    assert "Foo node 'custom': operator com.example::Foo is from a custom domain" in text
    assert "Conv node 'conv': attribute mystery not supported; Conv supports auto_pad, dilations" in text
    assert "Pad node 'pad': mode='mirror'; supported: constant, reflect, edge, wrap" in text
    assert "supported operators: Abs, Add" in text
    assert built == []


def test_a_run_time_integer_and_a_second_output_are_refused_by_name():
    model = small_model()
    model.graph.node.append(helper.make_node("ArgMax", ["y"], ["k"], name="argmax"))
    with pytest.raises(UnsupportedOnnxError, match="ArgMax node 'argmax'"):
        st.onnx.load(model.SerializeToString())
    model = small_model()
    pool = model.graph.node[2]
    pool.output.append("indices")
    model.graph.output.append(helper.make_tensor_value_info("indices", TensorProto.INT64, None))
    with pytest.raises(UnsupportedOnnxError, match="MaxPool node 'pool': its output 1 \\('indices'\\) is read"):
        st.onnx.load(model.SerializeToString())


def test_opset_newer_than_onnx_knows():
    model = small_model(opset=onnx.defs.onnx_opset_version() + 5)
    with pytest.raises(UnsupportedOnnxError, match="newer than the installed onnx"):
        st.onnx.load(model.SerializeToString())


def test_dynamic_non_batch_axes_need_input_shapes():
    model = small_model()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(UnsupportedOnnxError, match="dynamic axis 2.*input_shapes"):
        st.onnx.load(model.SerializeToString())
    imported = st.onnx.load(model.SerializeToString(), input_shapes={"x": (None, 2, 6, 6)})
    assert imported(np.zeros((3, 2, 6, 6), np.float32)).shape == (3, 4)


def test_inputs_are_checked_at_run_time():
    imported = st.onnx.load(small_model().SerializeToString())
    with pytest.raises(st.ShapeError, match=r"input 'x' must be \(N, 2, 6, 6\) \(axis 3 is fixed"):
        imported(np.zeros((1, 2, 6, 7), np.float32))
    with pytest.raises(TypeError, match="missing input"):
        imported()
    with pytest.raises(TypeError, match="unknown input 'z'"):
        imported(z=np.zeros((1, 2, 6, 6)))
    assert imported(x=np.zeros((5, 2, 6, 6))).shape == (5, 4)        # by name, any batch


# ----------------------------------------------------------------------------------------- external data
def external_model(folder):
    """The small model saved with every initializer in ``weights.bin`` beside it; returns (in-file copy, path)."""
    path = folder / "model.onnx"
    onnx.save_model(small_model(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    return small_model(), path


def test_external_data_from_the_models_folder(tmp_path):
    model, path = external_model(tmp_path)
    assert (tmp_path / "weights.bin").exists()
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6)).astype(np.float32)
    want = st.onnx.load(model.SerializeToString())(x).data
    np.testing.assert_array_equal(st.onnx.load(path)(x).data, want)
    with pytest.raises(OnnxError, match="pass base_dir"):
        st.onnx.load(path.read_bytes())
    np.testing.assert_array_equal(st.onnx.load(path.read_bytes(), base_dir=tmp_path)(x).data, want)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin", "link.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    inner = tmp_path / "model"
    inner.mkdir()
    _, path = external_model(inner)
    (tmp_path / "outside.bin").write_bytes(bytes(10_000))
    os.symlink(tmp_path / "outside.bin", inner / "link.bin")
    proto = onnx.load(str(path), load_external_data=False)
    for t in proto.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(OnnxError, match="only a relative path|leads out of the model's folder"):
        st.onnx.load(path)


def test_external_data_shorter_than_declared(tmp_path):
    _, path = external_model(tmp_path)
    data = (tmp_path / "weights.bin").read_bytes()
    (tmp_path / "weights.bin").write_bytes(data[:len(data) // 2])
    with pytest.raises(OnnxError, match="reach past its"):
        st.onnx.load(path)


# ----------------------------------------------------------------------------------------- info
def test_info_is_the_summary_of_the_same_network_without_running(monkeypatch):
    torch = pytest.importorskip("torch")
    from torch_zoo import TorchLeNet5
    import io
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.onnx.export(TorchLeNet5().eval(), (torch.zeros(1, 1, 32, 32),), buffer, dynamo=False,
                      input_names=["input"], dynamic_axes={"input": {0: "batch"}}, opset_version=17)
    data = buffer.getvalue()
    monkeypatch.setattr("strided.nn.functional.conv", lambda *a, **k: pytest.fail("info ran a convolution"))
    table = st.onnx.info(data)
    reference = st.summary(st.models.create_model("lenet5", meta=True), (1, 1, 32, 32))
    assert (table.params, table.macs) == (reference.params, reference.macs) == (61706, 416520)
    assert [r.type for r in table.rows] == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm",
                                            "Relu", "Gemm", "Relu", "Gemm"]
    assert [r.output_shape for r in table.rows][:3] == [(1, 6, 28, 28)] * 2 + [(1, 6, 14, 14)]
    assert table.output_shape == (1, 10)
    wide = st.onnx.info(data, batch_size=8)
    assert wide.rows[0].output_shape == (8, 6, 28, 28) and wide.macs == 8 * 416520
    text = str(table)
    assert "Gemm" in text and "61,706" in text and "folded at load time" in text
    assert table.to_dict()["total"]["macs"] == 416520


def test_state_dict_names_parameters_buffers_and_double():
    model = small_model()
    model.graph.initializer.append(numpy_helper.from_array(np.array([-1, 12]), "shape.const"))
    model.graph.node.insert(3, helper.make_node("Reshape", ["p", "shape.const"], ["p2"], name="reshape"))
    model.graph.node[4].input[0] = "p2"
    imported = st.onnx.load(model.SerializeToString())
    assert [n for n, _ in imported.named_parameters()] == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    assert [n for n, _ in imported.named_buffers()] == ["shape.const"]
    assert imported.initializer_names["shape.const"] == "shape.const"
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    single = imported(x).data
    assert single.dtype == np.float32
    double = imported.double()(x).data
    assert double.dtype == np.float64
    np.testing.assert_allclose(double, single, rtol=1e-5, atol=1e-5)
