"""Single operators and their attribute variants, built with ``onnx.helper``, against onnxruntime.

Each case is a small graph (one node, or a short chain) run by ``st.onnx.load`` and by
onnxruntime on the same random inputs: the attribute forms exporters write and the corners
the backend node tests leave out (``auto_pad`` with strides and dilations, asymmetric pads,
pooling padded past half the kernel, ``ceil_mode``, transposed convolutions with
``output_shape``, Resize's coordinate modes, opset-dependent forms of Softmax, Clip, Squeeze,
ReduceMean, Split and Pad), plus the Shape-driven Reshape chain with a dynamic batch axis.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx package: pip install onnx")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (the oracle): pip install onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import strided as st  # noqa: E402

F32 = TensorProto.FLOAT


def tensor(name, shape, elem=F32):
    return helper.make_tensor_value_info(name, elem, shape)


def model_of(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "case", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10
    return model


def run_both(model, feeds, rtol=1e-5, atol=1e-5, oracle="onnxruntime"):
    """strided's outputs against onnxruntime's; where onnxruntime refuses a valid model, against the
    ``onnx`` package's reference implementation (``oracle="reference"``) or a function computing
    the expected outputs with literal loops (``oracle=callable``)."""
    data = model.SerializeToString()
    if callable(oracle):
        want = oracle(**feeds)
    elif oracle == "reference":
        from onnx.reference import ReferenceEvaluator
        want = ReferenceEvaluator(model).run(None, feeds)
    else:
        want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    got = st.onnx.load(data)(**feeds)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.data if isinstance(g, st.Tensor) else g
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def unary(op, shape, opset=17, inits=(), extra_inputs=(), **attrs):
    """A model ``y = op(x, *extra_inputs)``."""
    node = helper.make_node(op, ["x", *extra_inputs], ["y"], **attrs)
    return model_of([node], [tensor("x", shape)], [tensor("y", None)], inits, opset)


# ----------------------------------------------------------------------------------------- windows
CONV = [
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(kernel_shape=[4, 4], auto_pad="SAME_LOWER", strides=[2, 1]),
    dict(kernel_shape=[4, 2], auto_pad="SAME_UPPER", strides=[1, 3]),
    dict(kernel_shape=[3, 3], auto_pad="VALID", strides=[2, 2]),
    dict(kernel_shape=[3, 3], pads=[0, 1, 2, 1], strides=[2, 2], group=2),
    dict(kernel_shape=[2, 3], pads=[1, 0, 0, 2], dilations=[2, 2], group=4),
]


@pytest.mark.parametrize("attrs", CONV)
def test_conv_padding_modes(attrs):
    group = attrs.get("group", 1)
    w = rand(6 if group != 4 else 8, 4 // group, *attrs["kernel_shape"], seed=1)
    model = unary("Conv", [2, 4, 9, 8], inits={"w": w, "b": rand(w.shape[0], seed=2)}, extra_inputs=("w", "b"),
                  **attrs)
    run_both(model, {"x": rand(2, 4, 9, 8)})


CONV_TRANSPOSE = [
    dict(strides=[2, 2]),
    dict(strides=[2, 3], pads=[1, 0, 0, 2], output_padding=[1, 2]),
    dict(strides=[2, 2], output_shape=[11, 12]),
    dict(strides=[3, 2], output_shape=[13, 10]),                         # negative pads: the explicit route
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[1, 2], dilations=[2, 1], group=2, pads=[1, 1, 1, 1]),
    dict(strides=[2, 2], output_padding=[2, 0], pads=[0, 1, 0, 0], oracle="loops"),   # output_padding >= stride
]


def conv_transpose_by_loops(x, w, b, strides, pads, output_padding, out_sizes):
    """ONNX ConvTranspose, literally: every input pixel adds its kernel footprint (group 1, dilation 1)."""
    n, _, h, wd = x.shape
    c_out = w.shape[1]
    out = np.zeros((n, c_out) + tuple(out_sizes), dtype=np.float64)
    for i in range(h):
        for j in range(wd):
            for ki in range(w.shape[2]):
                for kj in range(w.shape[3]):
                    oi, oj = i * strides[0] + ki - pads[0], j * strides[1] + kj - pads[1]
                    if 0 <= oi < out_sizes[0] and 0 <= oj < out_sizes[1]:
                        out[:, :, oi, oj] += x[:, :, i, j] @ w[:, :, ki, kj]
    return [(out + b.reshape(1, -1, 1, 1)).astype(np.float32)]


@pytest.mark.parametrize("attrs", CONV_TRANSPOSE)
def test_conv_transpose_geometry(attrs):
    attrs = dict(attrs)
    oracle = attrs.pop("oracle", "onnxruntime")
    group = attrs.get("group", 1)
    w, b = rand(4, 6 // group, 3, 3, seed=1), rand(6, seed=2)
    model = unary("ConvTranspose", [2, 4, 5, 5], inits={"w": w, "b": b}, extra_inputs=("w", "b"), **attrs)
    if oracle == "loops":                                               # onnxruntime refuses output_padding >= stride
        pads, extra = attrs["pads"], attrs["output_padding"]
        sizes = [(5 - 1) * s + 3 - pads[a] - pads[a + 2] + extra[a] for a, s in enumerate(attrs["strides"])]
        oracle = lambda x: conv_transpose_by_loops(x, w, b, attrs["strides"], pads, extra, sizes)   # noqa: E731
    run_both(model, {"x": rand(2, 4, 5, 5)}, oracle=oracle)


POOLS = [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[2, 1], dilations=[2, 2], pads=[2, 1, 1, 0])),
    ("MaxPool", dict(kernel_shape=[3, 3], pads=[2, 2, 2, 1], strides=[2, 2])),              # pads past half the kernel
    ("MaxPool", dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER", strides=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], count_include_pad=0)),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 0, 1, 0], strides=[2, 2], count_include_pad=1, ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[2, 2, 1, 2], strides=[1, 2], count_include_pad=0)),
    ("AveragePool", dict(kernel_shape=[3, 4], pads=[2, 3, 2, 2], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2], strides=[2, 2], count_include_pad=1, ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2])),
    ("LpPool", dict(kernel_shape=[2, 2], strides=[2, 2], p=2)),
    ("LpPool", dict(kernel_shape=[3, 2], pads=[1, 0, 1, 1], p=1)),
    ("LpPool", dict(kernel_shape=[2, 2], p=3)),
]


@pytest.mark.parametrize("op, attrs", POOLS)
def test_pooling_options(op, attrs):
    run_both(unary(op, [2, 3, 9, 8], **attrs), {"x": rand(2, 3, 9, 8)})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pooling(op):
    run_both(unary(op, [2, 3, 5, 4, 3]), {"x": rand(2, 3, 5, 4, 3)})


@pytest.mark.parametrize("size", [3, 4, 5])
def test_lrn_odd_and_even_windows(size):
    """ONNX's window: floor((size - 1) / 2) channels below, ceil((size - 1) / 2) above; onnxruntime refuses an
    even size, so a literal loop over the channels is the oracle there."""
    def by_loops(x):
        below, above = (size - 1) // 2, size - 1 - (size - 1) // 2
        sums = np.stack([(x[:, max(0, c - below):c + above + 1] ** 2).sum(axis=1) for c in range(x.shape[1])], 1)
        return [(x / (1.5 + 0.3 / size * sums) ** 0.8).astype(np.float32)]
    run_both(unary("LRN", [2, 7, 3, 3], size=size, alpha=0.3, beta=0.8, bias=1.5), {"x": rand(2, 7, 3, 3)},
             oracle="onnxruntime" if size % 2 else by_loops)


# ----------------------------------------------------------------------------------------- products, norms
@pytest.mark.parametrize("attrs, c_shape", [
    (dict(transB=1), (5,)), (dict(transA=1, alpha=0.5, beta=2.0), (3, 5)), (dict(transA=1, transB=1), ()),
    (dict(alpha=2.0), None)])
def test_gemm_flags(attrs, c_shape):
    a = rand(4, 3) if attrs.get("transA") else rand(3, 4)
    b = rand(5, 4, seed=1) if attrs.get("transB") else rand(4, 5, seed=1)
    inits = {"b": b}
    inputs = ["a", "b"]
    if c_shape is not None:
        inits["c"] = rand(*c_shape, seed=2) if c_shape else np.float32(0.7)
        inputs.append("c")
    node = helper.make_node("Gemm", inputs, ["y"], **attrs)
    run_both(model_of([node], [tensor("a", list(a.shape))], [tensor("y", None)], inits), {"a": a})


def test_matmul_broadcasts():
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    model = model_of([node], [tensor("a", [2, 1, 3, 4]), tensor("b", [5, 4, 2])], [tensor("y", None)])
    run_both(model, {"a": rand(2, 1, 3, 4), "b": rand(5, 4, 2, seed=1)})


@pytest.mark.parametrize("opset", [9, 15])
def test_batch_and_instance_norm(opset):
    c = 3
    inits = {"s": rand(c, seed=1), "b": rand(c, seed=2), "m": rand(c, seed=3),
             "v": np.abs(rand(c, seed=4)) + 0.5}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["t"], epsilon=1e-3),
             helper.make_node("InstanceNormalization", ["t", "s", "b"], ["y"], epsilon=1e-4)]
    run_both(model_of(nodes, [tensor("x", [2, c, 4, 5])], [tensor("y", None)], inits, opset), {"x": rand(2, c, 4, 5)},
             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("axis, scale_shape", [(-1, (6,)), (1, (4, 6)), (1, (1, 6))])
def test_layer_normalization(axis, scale_shape):
    model = unary("LayerNormalization", [2, 4, 6], inits={"s": rand(*scale_shape, seed=1), "b": rand(*scale_shape)},
                  extra_inputs=("s", "b"), axis=axis, epsilon=1e-3)
    run_both(model, {"x": rand(2, 4, 6)}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_normalization_per_group_and_per_channel(opset):
    n = 2 if opset == 18 else 6                                         # opset 18: one scale per group
    model = unary("GroupNormalization", [2, 6, 3, 3], opset=opset, inits={"s": rand(n, seed=1), "b": rand(n, seed=2)},
                  extra_inputs=("s", "b"), num_groups=2, epsilon=1e-3)
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as error:                                          # onnxruntime without this version
        pytest.skip(f"onnxruntime cannot run GroupNormalization-{opset}: {str(error)[:100]}")
    run_both(model, {"x": rand(2, 6, 3, 3)}, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------- element-wise
ACTIVATIONS = [
    ("Relu", {}), ("LeakyRelu", dict(alpha=0.2)), ("Elu", dict(alpha=0.7)), ("Selu", {}),
    ("Selu", dict(alpha=1.5, gamma=2.0)), ("Sigmoid", {}), ("Tanh", {}), ("HardSigmoid", {}),
    ("HardSigmoid", dict(alpha=1 / 6, beta=0.5)), ("HardSwish", {}), ("Softplus", {}), ("Exp", {}), ("Neg", {}),
    ("Abs", {}), ("Erf", {}), ("Celu", dict(alpha=0.5)),
]


@pytest.mark.parametrize("op, attrs", ACTIVATIONS)
def test_activations(op, attrs):
    run_both(unary(op, [3, 4, 5], opset=14 if op != "Celu" else 12, **attrs), {"x": 3 * rand(3, 4, 5)})


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset_20(approximate):
    run_both(unary("Gelu", [3, 7], opset=20, approximate=approximate), {"x": 3 * rand(3, 7)})


@pytest.mark.parametrize("slope", [(3, 1, 1), (1,), (4, 5)])
def test_prelu_slopes(slope):
    run_both(unary("PRelu", [2, 3, 4, 5], inits={"w": rand(*slope)}, extra_inputs=("w",)), {"x": rand(2, 3, 4, 5)})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset, axis", [(11, 1), (11, 2), (13, 1), (13, -1)])
def test_softmax_axis_semantics_by_opset(op, opset, axis):
    run_both(unary(op, [2, 3, 4, 5], opset=opset, axis=axis), {"x": rand(2, 3, 4, 5)})


def test_clip_attributes_before_opset_11_and_inputs_after():
    run_both(unary("Clip", [3, 4], opset=6, min=-0.5, max=0.3), {"x": rand(3, 4)})
    run_both(unary("Clip", [3, 4], opset=13, inits={"lo": np.float32(-0.2), "hi": np.float32(0.9)},
                   extra_inputs=("lo", "hi")), {"x": rand(3, 4)})
    run_both(unary("Clip", [3, 4], opset=13, inits={"hi": np.float32(0.1)}, extra_inputs=("", "hi")), {"x": rand(3, 4)})


def test_arithmetic_broadcasts_and_pow():
    nodes = [helper.make_node("Add", ["x", "a"], ["t1"]), helper.make_node("Mul", ["t1", "b"], ["t2"]),
             helper.make_node("Sub", ["t2", "x"], ["t3"]), helper.make_node("Div", ["t3", "c"], ["t4"]),
             helper.make_node("Pow", ["t4", "two"], ["t5"]), helper.make_node("Sqrt", ["t5"], ["t6"]),
             helper.make_node("Log", ["c"], ["lc"]), helper.make_node("Add", ["t6", "lc"], ["y"])]
    inits = {"a": rand(4, 1), "b": rand(5), "c": np.abs(rand(3, 1, 1)) + 1, "two": np.float32(2.0)}
    run_both(model_of(nodes, [tensor("x", [3, 4, 5])], [tensor("y", None)], inits), {"x": rand(3, 4, 5)})


# ----------------------------------------------------------------------------------------- shapes
def test_squeeze_unsqueeze_and_reductions_attribute_and_input_forms():
    x = rand(2, 1, 3, 1)
    old = [helper.make_node("Squeeze", ["x"], ["s"], axes=[1, 3]), helper.make_node("Unsqueeze", ["s"], ["u"], axes=[0, 3]),
           helper.make_node("ReduceMean", ["u"], ["m"], axes=[1, -1], keepdims=0),
           helper.make_node("ReduceSum", ["u"], ["y"], axes=[2], keepdims=1)]
    run_both(model_of(old, [tensor("x", [2, 1, 3, 1])], [tensor("m", None), tensor("y", None)], opset=11), {"x": x})
    new = [helper.make_node("Squeeze", ["x", "ax"], ["s"]), helper.make_node("Unsqueeze", ["s", "ax2"], ["u"]),
           helper.make_node("ReduceMean", ["u", "rax"], ["m"], keepdims=0),
           helper.make_node("ReduceMax", ["u", "rax"], ["y"]),
           helper.make_node("ReduceSum", ["u"], ["z"], keepdims=0)]
    inits = {"ax": np.array([1, 3]), "ax2": np.array([0, 3]), "rax": np.array([1, -1])}
    run_both(model_of(new, [tensor("x", [2, 1, 3, 1])], [tensor("m", None), tensor("y", None), tensor("z", None)],
                      inits, opset=18), {"x": x})


def test_split_concat_slice_gather_flatten_transpose():
    nodes = [helper.make_node("Split", ["x", "sp"], ["a", "b"], axis=1),
             helper.make_node("Concat", ["b", "a"], ["c"], axis=1),
             helper.make_node("Slice", ["c", "st", "en", "ax", "step"], ["s"]),
             helper.make_node("Gather", ["s", "idx"], ["g"], axis=2),
             helper.make_node("Transpose", ["g"], ["t"], perm=[2, 0, 4, 3, 1]),
             helper.make_node("Flatten", ["t"], ["y"], axis=-1)]
    inits = {"sp": np.array([2, 3]), "st": np.array([4, -1]), "en": np.array([0, -100]), "ax": np.array([1, 3]),
             "step": np.array([-1, -2]), "idx": np.array([[0, -1], [1, 1]])}
    run_both(model_of(nodes, [tensor("x", [2, 5, 3, 6])], [tensor("y", None)], inits, opset=13), {"x": rand(2, 5, 3, 6)})


def test_split_into_uneven_outputs_opset_18():
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)
    run_both(model_of([node], [tensor("x", [2, 7])], [tensor("a", None), tensor("b", None), tensor("c", None)],
                      opset=18), {"x": rand(2, 7)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("opset", [2, 13])
def test_pad_modes_and_forms(mode, opset):
    pads = [0, 1, 2, 0, 0, 2, 1, 3]
    if opset == 2:
        model = unary("Pad", [2, 3, 4, 5], opset=2, mode=mode, pads=pads, value=0.5)
    else:
        model = unary("Pad", [2, 3, 4, 5], opset=13, mode=mode, inits={"p": np.array(pads), "v": np.float32(0.5)},
                      extra_inputs=("p", "v") if mode == "constant" else ("p",))
    run_both(model, {"x": rand(2, 3, 4, 5)})


RESIZES = [
    dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor", scales=[1, 1, 2, 2]),
    dict(mode="nearest", scales=[1, 1, 1.5, 0.6]),
    dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil", sizes=[2, 3, 7, 3]),
    dict(mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn", sizes=[2, 3, 3, 8]),
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel", scales=[1, 1, 2, 0.5]),
    dict(mode="linear", coordinate_transformation_mode="half_pixel", sizes=[2, 3, 9, 1]),
    dict(mode="linear", coordinate_transformation_mode="align_corners", scales=[1, 1, 2.5, 2]),
    dict(mode="linear", coordinate_transformation_mode="asymmetric", scales=[1, 1, 3, 1.5]),
    dict(mode="cubic", coordinate_transformation_mode="half_pixel", scales=[1, 1, 2, 2]),
    dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1, scales=[1, 1, 0.8, 1.6]),
]


@pytest.mark.parametrize("attrs", RESIZES)
def test_resize_modes(attrs):
    attrs = dict(attrs)
    scales, sizes = attrs.pop("scales", None), attrs.pop("sizes", None)
    inits = {"roi": np.zeros(0, np.float32)}
    if scales is not None:
        inits["scales"] = np.array(scales, np.float32)
        inputs = ("roi", "scales")
    else:
        inits["sizes"] = np.array(sizes, np.int64)
        inputs = ("roi", "", "sizes")
    run_both(unary("Resize", [2, 3, 4, 5], opset=13, inits=inits, extra_inputs=inputs, **attrs), {"x": rand(2, 3, 4, 5)},
             rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_opset_9(mode):
    model = unary("Upsample", [1, 2, 3, 4], opset=9, inits={"s": np.array([1, 1, 2, 3], np.float32)},
                  extra_inputs=("s",), mode=mode)
    run_both(model, {"x": rand(1, 2, 3, 4)})


def test_shape_chain_folds_and_keeps_the_batch_dynamic():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as the TorchScript exporter writes
    ``x.view(x.size(0), -1)``: folded at load time to ``[N, -1]``, N bound per call."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["y"])]
    inits = {"zero": np.array(0), "axes": np.array([0]), "minus": np.array([-1]), "w": rand(24, 3)}
    model = model_of(nodes, [tensor("x", ["batch", 2, 3, 4])], [tensor("y", ["batch", 3])], inits, opset=13)
    for batch in (1, 5):
        run_both(model, {"x": rand(batch, 2, 3, 4)})
    imported = st.onnx.load(model.SerializeToString())
    assert [s.node.op_type for s in imported._steps] == ["Reshape", "MatMul"]
    assert imported.input_shapes == {"x": ("batch", 2, 3, 4)}
    info = st.onnx.info(model.SerializeToString(), batch_size=4)
    assert [r.type for r in info.rows] == ["Reshape", "MatMul"]
    assert info.rows[-1].output_shape == (4, 3) and info.rows[-1].macs == 4 * 24 * 3
    assert info.folded == 4


def test_float64_graph_runs_in_float64():
    model = unary("Conv", [1, 2, 5, 5], inits={"w": rand(3, 2, 3, 3).astype(np.float64)}, extra_inputs=("w",))
    for value in model.graph.input:
        value.type.tensor_type.elem_type = TensorProto.DOUBLE
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    x = rand(1, 2, 5, 5).astype(np.float64)
    out = run_both(model, {"x": x}, rtol=1e-12, atol=1e-12, oracle="reference")     # onnxruntime has no float64 Conv
    assert out[0].dtype == np.float64


def test_composite_ops_are_differentiable():
    """Gradients through Resize (linear), padded pooling and reflect padding equal central differences."""
    from oracle import numerical_grad
    nodes = [helper.make_node("Pad", ["x", "p"], ["a"], mode="reflect"),
             helper.make_node("AveragePool", ["a"], ["b"], kernel_shape=[3, 3], pads=[2, 2, 2, 2], count_include_pad=0),
             helper.make_node("Resize", ["b", "", "s"], ["y"], mode="linear")]
    inits = {"p": np.array([0, 0, 1, 2, 0, 0, 2, 1]), "s": np.array([1, 1, 1.5, 0.7], np.float32)}
    model = model_of(nodes, [tensor("x", [1, 2, 4, 5], TensorProto.DOUBLE)], [tensor("y", None, TensorProto.DOUBLE)],
                     inits, opset=13)
    imported = st.onnx.load(model.SerializeToString())
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    g = np.random.default_rng(1).standard_normal(imported(x).shape)
    t = st.Tensor(x, requires_grad=True)
    imported(t).backward(g)
    numeric = numerical_grad(lambda: float((imported(x).data * g).sum()), x)
    np.testing.assert_allclose(t.grad, numeric, rtol=1e-6, atol=1e-8)


def test_the_newest_opset_the_installed_onnx_knows():
    """The same graph at opset 9 and at the newest opset gives onnxruntime's opset-17 answer."""
    newest = onnx.defs.onnx_opset_version()
    inits = {"w": rand(3, 2, 3, 3, seed=1), "s": np.array([1, 1, 2, 2], np.float32)}
    x = rand(2, 2, 5, 5)
    outputs = {}
    for opset in (9, 17, newest):
        resize = (helper.make_node("Upsample", ["r", "s"], ["y"]) if opset == 9 else
                  helper.make_node("Resize", ["r", "", "s"], ["y"], mode="nearest", nearest_mode="floor",
                                   coordinate_transformation_mode="asymmetric"))
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
                 resize]
        model = model_of(nodes, [tensor("x", ["N", 2, 5, 5])], [tensor("y", None)], inits, opset)
        model.ir_version = 8 if opset <= 17 else 11
        outputs[opset] = st.onnx.load(model.SerializeToString())(x).data
        if opset == 17:
            run_both(model, {"x": x})
    np.testing.assert_array_equal(outputs[9], outputs[17])
    np.testing.assert_array_equal(outputs[newest], outputs[17])
