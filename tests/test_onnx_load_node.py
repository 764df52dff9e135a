"""The ONNX backend node tests (Debian's ``libonnx-testdata``) through ``strided.onnx.load``.

Every single-node test whose operator ``strided.onnx`` imports, and the ``_expanded`` form of
each (the operator written as a function of others), runs through ``st.onnx.load`` and is
compared with the expected outputs stored beside it (``test_data_set_*/output_*.pb``, read with
``onnx.numpy_helper``). Inputs that only configure the graph (a Reshape's shape, Resize's
scales, axes, pads: the inputs strided needs at load time) are fixed with ``constants=`` from
the data set. A test that cannot pass is listed in ``EXPECTED_FAILURES`` with its reason and
the error it must raise (``xfail(strict=True)``: one that starts passing is reported too).

Without the package (``apt-get install libonnx-testdata``) the tests are skipped with that reason.
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx package: pip install onnx")
from onnx import numpy_helper  # noqa: E402

import strided as st  # noqa: E402
from strided.onnx import UnsupportedOnnxError, supported_operators  # noqa: E402
from strided.onnx.registry import OPS  # noqa: E402

ROOTS = ["/usr/share/libonnx-testdata/data/node", "/usr/include/onnx/backend/test/data/node"]
ROOT = next((r for r in ROOTS if os.path.isdir(r)), None)
SKIP = "needs the ONNX backend node tests: apt-get install libonnx-testdata"

INT_REASON = ("integer or boolean run-time tensors: strided's tensors are float32/float64 (integer values are "
              "folded at load time only)")
HALF_REASON = "float16/bfloat16 tensors: strided computes in float32/float64"
STRING_REASON = "string tensors"
BOOL_REASON = ("a comparison of run-time tensors gives a boolean tensor; strided folds comparisons at load time "
               "only")
SECOND_REASON = "a second output is read (MaxPool's Indices, Dropout's mask); strided computes the first only"
BNTRAIN_REASON = "BatchNormalization with training_mode=1 and its running-statistics outputs (a training graph)"
LOOP_REASON = "the function body uses Loop (control flow is not imported)"
CROP_REASON = "Resize's coordinate_transformation_mode='tf_crop_and_resize' is not supported"
RANDOM_REASON = ("training-mode Dropout: the expected output holds the reference implementation's random mask, "
                 "which no other generator reproduces")
OPTIONAL_REASON = "optional and sequence types (only tensors are imported)"

FAILING = {
    INT_REASON: [
        "add_uint8", "and2d", "and3d", "and4d", "and_bcast3v1d", "and_bcast3v2d", "and_bcast4v2d", "and_bcast4v3d",
        "and_bcast4v4d", "clip_default_int8_inbounds", "clip_default_int8_max", "clip_default_int8_min", "div_uint8",
        "edge_pad", "equal", "equal_bcast", "max_int16", "max_int32", "max_int64", "max_int8", "max_uint16",
        "max_uint32", "max_uint64", "max_uint8", "maxpool_2d_uint8", "min_int16", "min_int32", "min_int64",
        "min_int8", "min_uint16", "min_uint32", "min_uint64", "min_uint8", "mul_uint8", "not_2d", "not_3d", "not_4d",
        "or2d", "or3d", "or4d", "or_bcast3v1d", "or_bcast3v2d", "or_bcast4v2d", "or_bcast4v3d", "or_bcast4v4d",
        "pow_types_float", "pow_types_float32_int32", "pow_types_float32_int64", "pow_types_float32_uint32",
        "pow_types_float32_uint64", "pow_types_int", "pow_types_int32_float32", "pow_types_int32_int32",
        "pow_types_int64_float32", "pow_types_int64_int64", "reflect_pad", "sub_uint8", "where_long_example",
    ],
    HALF_REASON: [
        "cast_BFLOAT16_to_FLOAT", "cast_DOUBLE_to_FLOAT16", "cast_FLOAT16_to_DOUBLE", "cast_FLOAT16_to_FLOAT",
        "cast_FLOAT_to_BFLOAT16", "cast_FLOAT_to_FLOAT16", "castlike_BFLOAT16_to_FLOAT",
        "castlike_BFLOAT16_to_FLOAT_expanded", "castlike_DOUBLE_to_FLOAT16", "castlike_DOUBLE_to_FLOAT16_expanded",
        "castlike_FLOAT16_to_DOUBLE", "castlike_FLOAT16_to_DOUBLE_expanded", "castlike_FLOAT16_to_FLOAT",
        "castlike_FLOAT16_to_FLOAT_expanded", "castlike_FLOAT_to_BFLOAT16", "castlike_FLOAT_to_BFLOAT16_expanded",
        "castlike_FLOAT_to_FLOAT16", "castlike_FLOAT_to_FLOAT16_expanded", "max_float16", "min_float16",
    ],
    STRING_REASON: [
        "cast_FLOAT_to_STRING", "cast_STRING_to_FLOAT", "castlike_FLOAT_to_STRING",
        "castlike_FLOAT_to_STRING_expanded", "castlike_STRING_to_FLOAT", "castlike_STRING_to_FLOAT_expanded",
    ],
    BOOL_REASON: [
        "greater", "greater_bcast", "greater_equal", "greater_equal_bcast", "greater_equal_bcast_expanded",
        "greater_equal_expanded", "less", "less_bcast", "less_equal", "less_equal_bcast",
        "less_equal_bcast_expanded", "less_equal_expanded",
    ],
    SECOND_REASON: [
        "dropout_default_mask", "dropout_default_mask_ratio", "maxpool_with_argmax_2d_precomputed_pads",
        "maxpool_with_argmax_2d_precomputed_strides", "training_dropout_default_mask", "training_dropout_mask",
        "training_dropout_zero_ratio_mask",
    ],
    BNTRAIN_REASON: [
        "batchnorm_epsilon_training_mode", "batchnorm_example_training_mode",
    ],
    LOOP_REASON: [
        "range_float_type_positive_delta_expanded", "range_int32_type_negative_delta_expanded",
    ],
    CROP_REASON: [
        "resize_tf_crop_and_resize",
    ],
    RANDOM_REASON: [
        "training_dropout", "training_dropout_default",
    ],
    OPTIONAL_REASON: ["identity_opt", "identity_sequence"],
}
EXPECTED_FAILURES = {"test_" + name: reason for reason, names in FAILING.items() for name in names}
RAISES = {RANDOM_REASON: AssertionError}


def _single_op(path):
    model = onnx.load(os.path.join(path, "model.onnx"), load_external_data=False)
    return model.graph.node[0].op_type if len(model.graph.node) == 1 else None


def node_tests() -> list[str]:
    """Single-node tests of imported operators, and their ``_expanded`` forms."""
    if ROOT is None:
        return []
    ops = set(supported_operators())
    names = []
    for name in sorted(os.listdir(ROOT)):
        base = name[:-len("_expanded")] if name.endswith("_expanded") else name
        path = os.path.join(ROOT, base)
        if os.path.isfile(os.path.join(path, "model.onnx")) and _single_op(path) in ops:
            names.append(name)
    return names


def _case(name):
    reason = EXPECTED_FAILURES.get(name)
    if reason is None:
        return name
    return pytest.param(name, marks=pytest.mark.xfail(reason=reason, strict=True,
                                                      raises=RAISES.get(reason, UnsupportedOnnxError)))


def _numbered(folder, kind):
    files = glob.glob(os.path.join(folder, f"{kind}_*.pb"))
    return sorted(files, key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[-1]))


def _read(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def static_inputs(model) -> set:
    """Graph inputs that strided needs at load time (a node reads them as shape, axes, scales, ...)."""
    names = set()
    for node in model.graph.node:
        spec = OPS.get(node.op_type)
        if spec is not None:
            names |= {name for i, name in enumerate(node.input) if name and i in spec.static}
    return names


@pytest.mark.skipif(ROOT is None, reason=SKIP)
@pytest.mark.parametrize("name", [_case(n) for n in node_tests()] or ["none"])
def test_node(name):
    path = os.path.join(ROOT, name, "model.onnx")
    proto = onnx.load(path, load_external_data=False)
    initialized = {t.name for t in proto.graph.initializer}
    input_names = [i.name for i in proto.graph.input if i.name not in initialized]
    static = static_inputs(proto) & set(input_names)
    if not static:
        st.onnx.load(path)                                              # unsupported models fail here, before any data
    sets = sorted(glob.glob(os.path.join(ROOT, name, "test_data_set_*")))
    assert sets, f"{name} has no data sets"
    for folder in sets:
        inputs = dict(zip(input_names, (_read(p) for p in _numbered(folder, "input"))))
        expected = [_read(p) for p in _numbered(folder, "output")]
        model = st.onnx.load(path, constants={k: inputs[k] for k in static})
        feed = {k: v for k, v in inputs.items() if k not in static}
        outputs = model(**feed)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        assert len(outputs) == len(expected)
        for got, want in zip(outputs, expected):
            got = got.data if isinstance(got, st.Tensor) else np.asarray(got)
            assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
            assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, expected {want.dtype}"
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.skipif(ROOT is None, reason=SKIP)
def test_the_expected_failures_are_node_tests_of_imported_operators():
    """Every listed failure names a test that the parametrisation runs (no stale entries)."""
    assert set(EXPECTED_FAILURES) <= set(node_tests())
