"""Padding (``F.pad``, the ``*Pad*d`` layers) and ``Conv*d(padding_mode=...)``.

Oracles: PyTorch in float64 (forward and every input gradient), central differences and hand
computed values where PyTorch is not needed.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from strided import nn
from strided.geometry import ReceptiveField
from strided.windows import batch_last

from oracle import TF, check_against_torch, check_gradients, needs_torch, torch
from expect import raises

MODES = ["constant", "reflect", "replicate", "circular"]

# (input shape, pad) in PyTorch's order (last axis first); all valid for every mode
CASES = [
    ((2, 3, 6), (2, 3)),                                # 1-D, asymmetric
    ((2, 3, 6), (0, 5)),                                # one side only, up to size - 1
    ((2, 3, 6), (-1, 2)),                               # a crop and a pad
    ((2, 3, 6), (3, -2)),
    ((3, 7), (1, 4)),                                   # unbatched (C, L)
    ((2, 3, 5, 6), (1, 2, 0, 3)),                       # 2-D
    ((2, 3, 5, 6), (5, 0, 4, 4)),                       # pads up to size - 1
    ((1, 2, 5, 6), (-2, 1, 2, -1)),
    ((2, 4, 5), (2, 1, 1, 3)),                          # unbatched (C, H, W)
    ((2, 2, 4, 5, 6), (1, 2, 3, 0, 2, 1)),              # 3-D
    ((1, 2, 4, 5, 3), (2, 0, -1, 2, 3, -1)),
]


@needs_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, pad", CASES)
def test_pad_matches_torch(mode, shape, pad):
    check_against_torch(lambda x: F.pad(x, pad, mode=mode), lambda x: TF.pad(x, pad, mode=mode), inputs=[shape])


@needs_torch
@pytest.mark.parametrize("shape, pad, value", [
    ((2, 3, 4, 5), (1, -2, 3, 0), 2.5),
    ((2, 3, 4, 5), (-1, -1, -1, -1), 0.0),               # a pure crop
    ((2, 3, 4, 5), (1, 1, 0, 0, 2, 0, 0, 1), -1.0),      # constant mode pads any axis, batch and channels too
    ((7,), (3, 1), 4.0),                                  # and any rank
    ((2, 3, 4, 5, 2, 3), (1, 2, 0, 1), 1.0),
])
def test_constant_pad_matches_torch(shape, pad, value):
    check_against_torch(lambda x: F.pad(x, pad, value=value), lambda x: TF.pad(x, pad, value=value),
                        inputs=[shape])


def test_pad_by_hand():
    x = np.arange(6.0).reshape(1, 1, 6)
    expected = {
        ("reflect", (2, 1)): [2, 1, 0, 1, 2, 3, 4, 5, 4],
        ("replicate", (2, 1)): [0, 0, 0, 1, 2, 3, 4, 5, 5],
        ("circular", (2, 1)): [4, 5, 0, 1, 2, 3, 4, 5, 0],
        ("constant", (2, 1)): [7, 7, 0, 1, 2, 3, 4, 5, 7],
        # a negative pad crops; reflect and replicate keep the original edges, circular repeats the kept part
        ("reflect", (-1, 2)): [1, 2, 3, 4, 5, 4, 3],
        ("replicate", (2, -1)): [0, 0, 0, 1, 2, 3, 4],
        ("circular", (-1, 2)): [1, 2, 3, 4, 5, 1, 2],
        ("constant", (-2, -1)): [2, 3, 4],
    }
    for (mode, pad), values in expected.items():
        out = F.pad(x, pad, mode=mode, value=7.0 if mode == "constant" else None)
        np.testing.assert_array_equal(out.data[0, 0], values, err_msg=f"{mode} {pad}")


@pytest.mark.parametrize("mode", MODES)
def test_pad_gradients_by_central_differences(mode):
    check_gradients(lambda x: F.pad(x, (2, 1, -1, 3), mode=mode), inputs=[(2, 2, 4, 5)])
    check_gradients(lambda x: F.pad(x, (1, 2, 2, 0, 0, 1), mode=mode), inputs=[(1, 2, 3, 3, 4)])


def test_pad_keeps_dtype_and_batch_last_layout():
    conv = nn.Conv2d(2, 3, 3, padding=1, rng=0)
    y = conv(np.random.default_rng(0).standard_normal((4, 2, 5, 6)).astype(np.float32))
    assert batch_last(y.data) and not y.data.flags.c_contiguous
    for mode in MODES:
        out = F.pad(y, (1, 2, 2, 1), mode=mode)
        assert out.dtype == np.float32 and batch_last(out.data), mode
        np.testing.assert_array_equal(out.data, F.pad(np.ascontiguousarray(y.data), (1, 2, 2, 1), mode=mode).data)


# --------------------------------------------------------------------------------------------- layers
LAYERS = [
    # (strided class, its arguments, input shape, PyTorch class name)
    ("ZeroPad1d", (2,), (2, 3, 5)),
    ("ZeroPad1d", ((1, -2),), (2, 3, 5)),
    ("ZeroPad2d", ((1, 2, 0, 3),), (2, 3, 4, 5)),
    ("ZeroPad3d", ((1, 0, 2, 1, 0, 1),), (1, 2, 3, 4, 2)),
    ("ConstantPad1d", ((3, 1), 1.5), (2, 3, 5)),
    ("ConstantPad2d", (1, -0.5), (2, 3, 4, 5)),
    ("ConstantPad3d", ((1, 2, -1, 0, 1, 1), 2.0), (1, 2, 3, 4, 2)),
    ("ReflectionPad1d", ((4, 2),), (2, 3, 5)),
    ("ReflectionPad2d", (2,), (2, 3, 4, 5)),
    ("ReflectionPad2d", ((1, 4, 3, 0),), (2, 3, 4, 5)),
    ("ReflectionPad3d", ((1, 0, 2, 1, 0, 1),), (1, 2, 3, 4, 2)),
    ("ReplicationPad1d", ((0, 6),), (2, 3, 5)),
    ("ReplicationPad2d", ((3, 1, 2, 5),), (2, 3, 4, 5)),
    ("ReplicationPad3d", (2,), (1, 2, 3, 4, 2)),
    ("CircularPad1d", ((5, 2),), (2, 3, 5)),
    ("CircularPad2d", ((1, 2, 4, 0),), (2, 3, 4, 5)),
    ("CircularPad3d", ((1, 2, 0, 3, 2, 1),), (1, 2, 3, 4, 2)),
]


@needs_torch
@pytest.mark.parametrize("name, args, shape", LAYERS)
def test_pad_layers_match_torch(name, args, shape):
    layer, reference = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    out, _ = check_against_torch(layer, reference, inputs=[shape])
    assert layer.output_shape(shape) == out.shape
    assert layer.padding == reference.padding
    assert repr(layer) == repr(reference)


@pytest.mark.parametrize("name, args, shape", LAYERS)
def test_pad_layers_place_the_input_at_the_low_pad(name, args, shape):
    """The receptive field's start moves by the low pad of each axis; the output there is the input."""
    layer = getattr(nn, name)(*args)
    d = len(shape) - 2
    lows = [lo for lo, _ in layer.pairs]
    rf = layer.receptive_field(ReceptiveField.identity(d), shape)
    assert rf.size == (1,) * d and rf.jump == (1,) * d and rf.start == tuple(-float(lo) for lo in lows)
    x = np.random.default_rng(0).standard_normal(shape)
    out = layer(st.Tensor(x, dtype=np.float64)).data
    # output position o of an axis holds input position o - lo wherever that is inside the input
    kept = [np.array([o for o in range(m) if 0 <= o - lo < n]) for lo, m, n in zip(lows, out.shape[2:], shape[2:])]
    np.testing.assert_array_equal(out[(...,) + np.ix_(*kept)],
                                  x[(...,) + np.ix_(*(o - lo for o, lo in zip(kept, lows)))])


def test_pad_layers_cost_nothing():
    layer = nn.ReflectionPad2d(3)
    assert layer.cost((1, 3, 8, 8)) == (0, 0) and list(layer.parameters()) == []
    assert layer.output_shape((1, 3, 8, 8)) == (1, 3, 14, 14)


# --------------------------------------------------------------------------------------------- convolution
CONVS = [
    ("Conv1d", (2, 4, 9), dict(kernel_size=5, padding=2, groups=2)),
    ("Conv1d", (2, 4, 9), dict(kernel_size=3, padding=2, stride=2)),
    ("Conv2d", (2, 4, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("Conv2d", (2, 4, 7, 6), dict(kernel_size=(3, 4), padding=(1, 3), dilation=(2, 1))),
    ("Conv2d", (2, 4, 6, 5), dict(kernel_size=(3, 2), padding="same", dilation=(2, 1))),
    ("Conv3d", (1, 4, 4, 5, 3), dict(kernel_size=3, padding=(1, 2, 1))),
]


def _copied_pair(name, mode, kwargs):
    layer = getattr(nn, name)(4, 6, padding_mode=mode, rng=0, **kwargs).double()
    reference = getattr(torch.nn, name)(4, 6, padding_mode=mode, **kwargs).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.weight.data))
        reference.bias.copy_(torch.from_numpy(layer.bias.data))
    return layer, reference


@needs_torch
@pytest.mark.filterwarnings("ignore::UserWarning")     # PyTorch warns about 'same' with even kernels
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("name, shape, kwargs", CONVS)
def test_conv_padding_mode_matches_torch(mode, name, shape, kwargs):
    layer, reference = _copied_pair(name, mode, kwargs)
    x = np.random.default_rng(0).standard_normal(shape)
    xs, xt = st.Tensor(x, dtype=np.float64, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = layer(xs), reference(xt)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    upstream = np.random.default_rng(1).standard_normal(expected.shape)
    out.backward(upstream.copy())
    expected.backward(torch.from_numpy(upstream))
    for ours, theirs in [(xs.grad, xt.grad), (layer.weight.grad, reference.weight.grad),
                         (layer.bias.grad, reference.bias.grad)]:
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)
    # the rules and the state do not depend on the mode
    assert layer.output_shape(shape) == out.shape
    plain = getattr(nn, name)(4, 6, rng=0, **kwargs)
    assert layer.cost(shape) == plain.cost(shape)
    rf = ReceptiveField.identity(len(shape) - 2)
    assert layer.receptive_field(rf, shape) == plain.receptive_field(rf, shape)
    assert list(layer.state_dict()) == ["weight", "bias"]


@needs_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_mode_with_per_side_pairs_matches_torch(mode):
    """Per-side pairs (which PyTorch's layers lack): the same as PyTorch's pad, then an unpadded convolution."""
    layer = nn.Conv1d(4, 6, 3, stride=2, padding=((2, 1),), padding_mode=mode, rng=0).double()
    check_against_torch(lambda x: layer(x),
                        lambda x: TF.conv1d(TF.pad(x, (2, 1), mode=mode), torch.from_numpy(layer.weight.data),
                                            torch.from_numpy(layer.bias.data), stride=2),
                        inputs=[(2, 4, 9)])


def test_conv_padding_mode_gradients_by_central_differences():
    layer = nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="reflect", rng=0).double()
    check_gradients(layer, inputs=[(2, 2, 4, 5)], params=list(layer.parameters()))
    layer = nn.Conv1d(2, 2, 3, padding="same", padding_mode="circular", rng=0).double()
    check_gradients(layer, inputs=[(1, 2, 6)], params=list(layer.parameters()))


def test_conv_padding_mode_repr_and_default():
    assert nn.Conv2d(3, 8, 3).padding_mode == "zeros"
    assert "padding_mode" not in repr(nn.Conv2d(3, 8, 3, padding=1))
    assert "padding_mode='circular'" in repr(nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular"))


# --------------------------------------------------------------------------------------------- errors


def test_pad_errors():
    x = np.zeros((2, 3, 5), dtype=np.float32)
    raises(st.ShapeError, lambda: F.pad(x, (5, 0), mode="reflect"), "pad", "reflect padding must be less than",
           "(5, 0)", "size 5")
    raises(st.ShapeError, lambda: nn.ReflectionPad1d((1, 5))(x), "ReflectionPad1d((1, 5))", "less than")
    raises(st.ShapeError, lambda: F.pad(x, (-2, 4), mode="circular"), "circular", "at most the kept size 3",
           "(-2, 4)")
    raises(st.ShapeError, lambda: F.pad(x, (-6, 2)), "pad", "crops more than the axis holds")
    raises(st.ShapeError, lambda: F.pad(x, (-3, -2), mode="replicate"), "crops more")
    raises(st.ShapeError, lambda: F.pad(np.zeros((1, 2, 0)), (1, 0), mode="replicate"), "non-empty axis")
    raises(ValueError, lambda: F.pad(x, (1, 1), mode="symmetric"), "pad", "mode must be one of", "'reflect'",
           "'symmetric'")
    raises(ValueError, lambda: F.pad(x, (1, 1, 2)), "pad", "even length", "(1, 1, 2)")
    raises(TypeError, lambda: F.pad(x, (1.5, 1)), "pad", "tuple of ints", "1.5")
    raises(TypeError, lambda: F.pad(x, (True, 1)), "pad", "tuple of ints")
    raises(ValueError, lambda: F.pad(x, (1, 1), mode="reflect", value=2.0), "reflect", "takes no value")
    raises(st.ShapeError, lambda: F.pad(x, (1, 1, 1, 1, 1, 1, 1, 1)), "pad", "at least 4 axes", "(2, 3, 5)")
    raises(st.ShapeError, lambda: F.pad(np.zeros(5), (1, 1), mode="replicate"), "pad", "(5,)")
    raises(st.ShapeError, lambda: F.pad(np.zeros((1, 1, 1, 5)), (1, 1), mode="reflect"), "(1, 1, 1, 5)")


def test_pad_layer_errors():
    raises(TypeError, lambda: nn.ZeroPad2d((1, 2, 3)), "ZeroPad2d", "padding must be an int or a tuple of 4 ints",
           "(1, 2, 3)")
    raises(TypeError, lambda: nn.ReflectionPad1d(1.0), "ReflectionPad1d", "padding", "1.0")
    raises(TypeError, lambda: nn.CircularPad3d(True), "CircularPad3d", "padding", "True")
    raises(TypeError, lambda: nn.ConstantPad1d(1, "zero"), "ConstantPad1d", "value must be a number")
    message = raises(st.ShapeError, lambda: nn.ReplicationPad2d(1)(np.zeros((4, 4))),
                     "ReplicationPad2d((1, 1, 1, 1))", "expected input (N, C, H, W) or (C, H, W)", "got (4, 4)")
    raises(st.ShapeError, lambda: nn.ReplicationPad2d(1).output_shape((4, 4)), message)


def test_conv_padding_mode_errors():
    raises(ValueError, lambda: nn.Conv2d(3, 8, 3, padding_mode="reflection"), "Conv2d", "padding_mode must be one of",
           "'zeros'", "'circular'", "'reflection'")
    raises(ValueError, lambda: nn.Conv1d(3, 8, 3, padding_mode="constant"), "Conv1d", "'constant'")
    layer = nn.Conv1d(1, 1, 9, padding=4, padding_mode="reflect")
    raises(st.ShapeError, lambda: layer(np.zeros((1, 1, 4), dtype=np.float32)), "Conv1d(1, 1, kernel_size=(9,)",
           "padding_mode='reflect'", "reflect padding must be less than")


@pytest.mark.parametrize("index", [
    [0, 0, 1, 1, 2, 2],                  # replication by 2: runs of two
    [0, 0, 0, 1, 1, 2, 3, 3, 3, 3],      # runs of one to four
    [2, 0, 1, 0, 2, 2, 4],               # unsorted, position 3 never read
    [1, 1, 1],                           # one position read three times
    [],                                  # nothing read
])
@pytest.mark.parametrize("axis", [1, 2, 3])
@pytest.mark.parametrize("layout", ["C", "batch_last"])
def test_take_axis_adjoint_sums_what_each_position_gave(index, axis, layout):
    """Against ``np.add.at`` (the naive scatter-add), on both memory layouts; the gradient is not
    written to."""
    from strided.nn.padding import take_axis_adjoint
    from strided.windows import to_batch_last
    index = np.array(index, dtype=np.int64)
    size = 5
    shape = [3, 4, 6, 7]
    shape[axis] = len(index)
    g = np.random.default_rng(axis).standard_normal(shape)
    if layout == "batch_last":
        g = to_batch_last(g)
    before = g.copy()
    got = take_axis_adjoint(g, index, axis, size)
    want_shape = list(shape)
    want_shape[axis] = size
    want = np.zeros(want_shape)
    np.add.at(np.moveaxis(want, axis, 0), index, np.moveaxis(g, axis, 0))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(g, before)
