"""Transposed convolution (``strided.nn.conv_transpose``) against PyTorch and against its definition.

* forward and the gradients of input, weight and bias against ``torch.nn.functional.
  conv_transpose{1,2,3}d`` in float64, over stride, padding, output_padding, dilation, groups,
  with and without bias; per-side padding pairs (which PyTorch lacks) against PyTorch's
  unpadded output cropped by hand;
* the modules: ``state_dict`` keys and shapes equal ``torch.nn.ConvTranspose{1,2,3}d``'s, the
  outputs equal after copying torch's weights, the initial values lie in torch's bounds;
* the adjoint identity ``<conv(x, W), y> == <x, conv_transpose(y, W)>`` with strided's own ``conv``;
* the static rules: output shape, MACs (equal to the adjoint convolution's), and the receptive
  field at stride > 1 measured from the connection pattern (the contract test covers stride 1);
* error messages.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import strided as st
import strided.geometry as geometry
import strided.nn.conv_transpose as conv_transpose_module
import strided.nn.functional as F
from oracle import TF, assert_close, check_against_torch, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField
from expect import raises

ST = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
TH = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d, 3: TF.conv_transpose3d} if torch is not None else {}
ST_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
MODULES = {d: (getattr(nn, f"ConvTranspose{d}d"), None if torch is None else getattr(torch.nn, f"ConvTranspose{d}d"))
           for d in (1, 2, 3)}                          # strided's module and torch's (None without PyTorch)
SPATIAL = {1: (5,), 2: (4, 5), 3: (3, 4, 3)}


def shapes(d, c_in=4, c_out=6, kernel=3, groups=1, bias=True, n=2):
    kernel = (kernel,) * d if isinstance(kernel, int) else tuple(kernel)
    return [(n, c_in) + SPATIAL[d], (c_in, c_out // groups) + kernel, (c_out,) if bias else None]


# --------------------------------------------------------------------------------------------- vs torch
CASES = [
    dict(),
    dict(stride=2),
    dict(stride=2, output_padding=1),
    dict(stride=3, padding=1, output_padding=2),
    dict(padding=2),
    dict(stride=2, padding=2, output_padding=1),          # output_padding reaches past the cropped grid
    dict(dilation=2),
    dict(dilation=2, output_padding=1),                   # output_padding < dilation at stride 1
    dict(stride=3, dilation=2, output_padding=2),
    dict(groups=2),
    dict(groups=2, stride=2, padding=1, output_padding=1, dilation=2),
]


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_transpose_matches_torch(d, case, bias):
    check_against_torch(ST[d], TH[d], shapes(d, groups=case.get("groups", 1), bias=bias), kwargs=case,
                        seed=10 * d + len(case))


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", CASES[1:], ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv_transpose_in_single_position_blocks_matches_torch(monkeypatch, d, case):
    """The blocked products with one input position per block (every fold and gather crosses blocks)."""
    from strided import windows
    monkeypatch.setattr(windows, "COLUMN_BLOCK_BYTES", 64)
    check_against_torch(ST[d], TH[d], shapes(d, groups=case.get("groups", 1)), kwargs=case, seed=7 * d + len(case))


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
def test_conv_transpose_depthwise_and_channel_multiplier(d):
    check_against_torch(ST[d], TH[d], shapes(d, c_in=3, c_out=6, groups=3),
                        kwargs=dict(groups=3, stride=2, padding=1, output_padding=1), seed=d)


@needs_torch
def test_conv_transpose_per_axis_arguments():
    kwargs = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2))
    check_against_torch(F.conv_transpose2d, TF.conv_transpose2d, shapes(2, kernel=(3, 2)), kwargs=kwargs)
    kwargs = dict(stride=(1, 2, 3), padding=(0, 1, 2), output_padding=(0, 1, 1), dilation=(2, 1, 1), groups=2)
    check_against_torch(F.conv_transpose3d, TF.conv_transpose3d, shapes(3, kernel=(2, 3, 3), groups=2),
                        kwargs=kwargs)


@needs_torch
def test_conv_transpose_per_side_padding_pairs_crop_the_unpadded_output():
    """Pairs are strided's extension; the oracle is torch's padding-0 output cropped by hand."""
    pairs, output_padding = ((0, 2), (3, 1)), (1, 0)

    def torch_cropped(x, w, b):
        full = TF.conv_transpose2d(x, w, b, stride=2, output_padding=output_padding)
        (top, bottom), (left, right) = pairs
        return full[:, :, top:full.shape[2] - bottom, left:full.shape[3] - right]

    out, _ = check_against_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=pairs,
                                                                    output_padding=output_padding),
                                 torch_cropped, shapes(2))
    assert out.shape == (2, 6, 9 + 1 - 2, 11 - 4)


def test_conv_transpose_gradient_of_one_input_only():
    x = st.Tensor(np.ones((1, 2, 3)), dtype=np.float64)
    w = st.Tensor(np.ones((2, 3, 2)), dtype=np.float64, requires_grad=True)
    F.conv_transpose1d(x, w, stride=2).sum().backward()
    assert x.grad is None and w.grad.shape == w.shape
    np.testing.assert_array_equal(w.grad, np.full(w.shape, 3.0))   # each tap multiplies 3 ones


# --------------------------------------------------------------------------------------------- modules


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_module_state_dict_and_output_match_torch_after_copying_weights(d, bias):
    ours, theirs = MODULES[d]
    kwargs = dict(stride=2, padding=1, output_padding=1, groups=2, bias=bias, dilation=1)
    mine = ours(4, 6, 3, rng=0, **kwargs)
    torch.manual_seed(0)
    ref = theirs(4, 6, 3, **kwargs).double()
    ref_state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    assert list(mine.state_dict()) == list(ref_state)
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in ref_state.items()}
    mine.load_state_dict(ref_state)
    mine.double()
    x = np.random.default_rng(d).standard_normal((2, 4) + SPATIAL[d])
    expected = ref(torch.from_numpy(x)).detach().numpy()
    assert_close(mine(st.Tensor(x, dtype=np.float64)).data, expected, what="module forward")
    assert mine.output_shape(x.shape) == expected.shape


@needs_torch
def test_module_initialisation_uses_torchs_fan_in_for_transposed_weights():
    """torch: fan_in = weight.shape[1] * prod(K) = (out_channels / groups) * prod(K), for weight and bias."""
    mine = nn.ConvTranspose2d(8, 6, (3, 2), groups=2, rng=1)
    ref = torch.nn.ConvTranspose2d(8, 6, (3, 2), groups=2)
    bound = 1 / np.sqrt(6 // 2 * 3 * 2)
    for ours, theirs in ((mine.weight.data, ref.weight), (mine.bias.data, ref.bias)):
        assert ours.dtype == np.float32
        assert ours.shape == tuple(theirs.shape)
        assert np.abs(ours).max() <= bound
        assert float(theirs.detach().abs().max()) <= bound       # the bound is torch's own
    assert np.abs(mine.weight.data).max() > 0.8 * bound   # and it is not a smaller one
    np.testing.assert_array_equal(nn.ConvTranspose2d(8, 6, 3, rng=1).weight.data,
                                  nn.ConvTranspose2d(8, 6, 3, rng=1).weight.data)


def test_module_float32_forward_and_repr():
    layer = nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1, bias=False, rng=0)
    assert layer(np.zeros((1, 16, 8, 8), dtype=np.float32)).dtype == np.float32
    assert repr(layer) == "ConvTranspose2d(16, 3, kernel_size=(4, 4), stride=(2, 2), padding=1, bias=False)"


def test_docstring_examples_run():
    for obj, module in ((conv_transpose_module.ConvTranspose1d, conv_transpose_module),
                        (conv_transpose_module.ConvTranspose2d, conv_transpose_module),
                        (geometry.conv_transpose_output_size, geometry)):
        runner = doctest.DocTestRunner()
        for test in doctest.DocTestFinder().find(obj, globs={**vars(module), "np": np}):
            runner.run(test)
        assert runner.failures == 0 and runner.tries > 0, obj


# --------------------------------------------------------------------------------------------- adjoint
ADJOINT_CASES = [
    (1, dict(stride=2, padding=1), 1),
    (1, dict(stride=3, dilation=2, padding=2), 1),
    (2, dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2)), 2),
    (2, dict(stride=2, padding=((0, 2), (1, 0))), 1),
    (3, dict(stride=2, padding=1, dilation=(1, 1, 2)), 2),
]


@pytest.mark.parametrize("d, kwargs, groups", ADJOINT_CASES)
def test_adjoint_identity_with_strideds_own_conv(d, kwargs, groups):
    """``<conv(x, W), y> == <x, conv_transpose(y, W)>``: the same W, stride, padding and dilation;
    ``output_padding`` chosen so the transposed output has the input's shape again."""
    rng = np.random.default_rng(d)
    spatial = {1: (11,), 2: (9, 10), 3: (6, 7, 8)}[d]
    x = st.Tensor(rng.standard_normal((2, 4) + spatial), dtype=np.float64)
    # conv: 4 -> 6 channels; the transposed conv with the same weight: 6 -> 4
    w = st.Tensor(rng.standard_normal((6, 4 // groups) + (3,) * d), dtype=np.float64)
    y_shape = F.conv(x, w, groups=groups, **kwargs).shape
    y = st.Tensor(rng.standard_normal(y_shape), dtype=np.float64)
    stride = geometry.as_tuple(kwargs["stride"], d, "stride", "test")
    dilation = geometry.as_tuple(kwargs.get("dilation", 1), d, "dilation", "test")
    pads = geometry.explicit_padding(kwargs.get("padding", 0), d, "test")
    output_padding = tuple((n + lo + hi - dl * 2 - 1) % s
                           for n, (lo, hi), dl, s in zip(spatial, pads, dilation, stride))
    back = F.conv_transpose(y, w, groups=groups, output_padding=output_padding, **kwargs)
    assert back.shape == x.shape
    assert back.dtype == np.float64
    lhs = np.sum(ST_CONV[d](x, w, groups=groups, **kwargs).data * y.data)
    rhs = np.sum(x.data * back.data)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


# --------------------------------------------------------------------------------------------- rules


def test_output_size_formula():
    assert geometry.conv_transpose_output_size(16, 4, stride=2, padding=(1, 1)) == 32
    assert geometry.conv_transpose_output_size(7, 3, 2, (1, 1), dilation=2, output_padding=1) == 16   # 12-2+4+1+1
    assert geometry.conv_transpose_output_size(5, 3, 1, (0, 0)) == 7


@pytest.mark.parametrize("d", [1, 2, 3])
def test_cost_equals_the_adjoint_convolutions_macs(d):
    """MACs = prod(in_spatial) * C_in * (C_out/groups) * prod(K): the same multiplies as the
    convolution (C_out -> C_in) whose adjoint it is, evaluated on the transposed output."""
    ours, _ = MODULES[d]
    layer = ours(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0)
    in_shape = (1, 4) + SPATIAL[d]
    out_shape = layer.output_shape(in_shape)
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[d](6, 4, 3, stride=2, padding=1, groups=2, rng=0)
    assert conv.output_shape(out_shape) == in_shape
    assert layer.cost(in_shape).macs == conv.cost(out_shape).macs == int(np.prod(SPATIAL[d])) * 4 * 3 * 3 ** d
    assert layer.cost(in_shape).params == 4 * 3 * 3 ** d + 6


def connections(layer, length, o):
    """Input positions connected to output ``o`` of a 1-D layer: non-zero gradient with positive weights."""
    layer.double()
    layer.weight.data[...] = 1.0
    x = st.Tensor(np.zeros((1, layer.in_channels, length)), dtype=np.float64, requires_grad=True)
    layer(x)[:, :, o].sum().backward()
    return sorted(np.flatnonzero(np.abs(x.grad).sum(axis=(0, 1))))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1, output_padding=1),
                                    dict(kernel_size=4, stride=2, padding=1),
                                    dict(kernel_size=5, stride=3, padding=2, output_padding=2),
                                    dict(kernel_size=1, stride=2),
                                    dict(kernel_size=3, stride=2, dilation=2, padding=2)])
def test_receptive_field_at_stride_above_one_is_the_envelope_of_the_connections(kwargs):
    """Dilation 1: the connected inputs are exactly the pixels inside the declared window; with
    dilation, a subset of them that includes the ends whenever the window's ends are pixels."""
    length = 7
    layer = nn.ConvTranspose1d(2, 3, rng=0, **kwargs)
    rf = layer.receptive_field(ReceptiveField.identity(1), (1, 2, length))
    assert rf.jump == (1 / kwargs["stride"],)
    for o in range(layer.output_shape((1, 2, length))[2]):
        centre = rf.start[0] + o * rf.jump[0]
        lo, hi = centre - (rf.size[0] - 1) / 2, centre + (rf.size[0] - 1) / 2
        inside = [i for i in range(length) if lo - 1e-9 <= i <= hi + 1e-9]
        seen = connections(layer, length, o)
        if kwargs.get("dilation", 1) == 1:
            assert seen == inside, (o, lo, hi)
        else:
            assert set(seen) <= set(inside), (o, lo, hi)
            assert seen or not inside or (lo != int(lo) or hi != int(hi))


def test_receptive_field_at_stride_one_is_the_flipped_convolutions():
    rf = ReceptiveField((3.0, 5.0), (2.0, 4.0), (1.0, 1.5))
    kernel, dilation, pad_lo = (3, 4), (2, 1), (1, 2)
    keff = [dl * (k - 1) + 1 for k, dl in zip(kernel, dilation)]
    assert rf.through_transposed_window(kernel, (1, 1), pad_lo, dilation) == rf.through_window(
        kernel, (1, 1), [k - 1 - p for k, p in zip(keff, pad_lo)], dilation)


# --------------------------------------------------------------------------------------------- errors


def zeros(*shape):
    return st.Tensor(np.zeros(shape, dtype=np.float32))


def test_wrong_rank_and_wrong_channels_name_layer_expectation_and_input():
    layer = nn.ConvTranspose2d(3, 16, 3)
    message = raises(st.ShapeError, lambda: layer(zeros(8, 1, 28, 28)))
    assert message == "ConvTranspose2d(3, 16, kernel_size=(3, 3)): expected input (N, 3, H, W), got (8, 1, 28, 28)"
    raises(st.ShapeError, lambda: layer(zeros(8, 3, 28)), "ConvTranspose2d(3, 16", "(N, 3, H, W)", "(8, 3, 28)")
    raises(st.ShapeError, lambda: nn.ConvTranspose3d(2, 4, 3)(zeros(1, 2, 4, 4)), "ConvTranspose3d", "(N, 2, D, H, W)")
    raises(st.ShapeError, lambda: layer.output_shape((8, 4, 5, 5)), "ConvTranspose2d", "(8, 4, 5, 5)")


def test_construction_errors():
    raises(ValueError, lambda: nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2),
           "ConvTranspose2d", "output_padding must be smaller than stride or dilation", "output_padding=(2, 2)")
    raises(ValueError, lambda: nn.ConvTranspose1d(4, 4, 3, output_padding=1), "stride=(1,)", "dilation=(1,)")
    nn.ConvTranspose1d(4, 4, 3, output_padding=1, dilation=2)     # smaller than the dilation: allowed
    raises(ValueError, lambda: nn.ConvTranspose2d(4, 6, 3, groups=4), "ConvTranspose2d", "divisible by groups (4)")
    raises(ValueError, lambda: nn.ConvTranspose2d(4, 6, 3, stride=0), "ConvTranspose2d", "stride must be >= 1")
    raises(ValueError, lambda: nn.ConvTranspose2d(4, 6, 3, output_padding=-1), "output_padding must be >= 0")
    raises(TypeError, lambda: nn.ConvTranspose2d(4, 6, 3, padding="same"), "ConvTranspose2d", "'same'",
           "padding modes are not defined")
    raises(ValueError, lambda: nn.ConvTranspose2d(4, 0, 3), "out_channels must be a positive int, got 0")


def test_functional_errors():
    x, w = zeros(1, 4, 5), zeros(4, 3, 3)
    raises(st.ShapeError, lambda: F.conv_transpose1d(x, zeros(4, 3, 3, 3)), "conv_transpose1d",
           "expected weight (C_in, C_out/groups, L)", "(4, 3, 3, 3)")
    raises(st.ShapeError, lambda: F.conv_transpose1d(zeros(1, 3, 5), w), "conv_transpose1d",
           "expected input (N, 4, L)", "got (1, 3, 5)")
    raises(ValueError, lambda: F.conv_transpose1d(x, w, groups=3), "in_channels (4) must be divisible by groups (3)")
    raises(st.ShapeError, lambda: F.conv_transpose1d(x, w, padding=5), "conv_transpose1d",
           "crops the whole output", "(1, 4, 5)")
    raises(ValueError, lambda: F.conv_transpose1d(x, w, stride=2, output_padding=2), "output_padding")
