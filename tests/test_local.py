"""Locally-connected layers: against a loop written from the formula, central differences, conv, and the lecture's count."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import TF, assert_close, check_against_torch, check_gradients, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField
from strided.nn.local import local_cost


def naive_locally_connected(x, weight, bias, stride, pads, dilation):
    """``out[n, o, *p] = b[o, *p] + sum_{c, *k} W[*p, o, c, *k] * x_pad[n, c, *(p*stride + k*dilation)]``, literally."""
    d = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads])
    out_grid, (c_out, c_in), kernel = weight.shape[:d], weight.shape[d:d + 2], weight.shape[d + 2:]
    out = np.zeros((x.shape[0], c_out) + out_grid)
    for n, o, c in itertools.product(range(x.shape[0]), range(c_out), range(c_in)):
        for pos in itertools.product(*(range(m) for m in out_grid)):
            for k in itertools.product(*(range(m) for m in kernel)):
                src = tuple(p * s + ki * di for p, s, ki, di in zip(pos, stride, k, dilation))
                out[(n, o) + pos] += weight[pos + (o, c) + k] * xp[(n, c) + src]
    if bias is not None:
        out += bias
    return out


CASES = [   # in_shape, c_out, kernel, stride, pads, dilation
    ((2, 3, 9), 2, (3,), (2,), ((1, 1),), (1,)),
    ((1, 2, 8), 3, (2,), (1,), ((2, 0),), (2,)),
    ((2, 2, 6, 5), 3, (3, 2), (2, 1), ((1, 1), (0, 1)), (1, 1)),
    ((1, 3, 5, 6), 2, (2, 2), (1, 2), ((0, 0), (1, 1)), (2, 1)),
    ((1, 1, 3, 4, 4), 2, (2, 1, 2), (1, 1, 2), ((0, 0), (1, 0), (0, 1)), (1, 1, 1)),
]


def out_grid(in_shape, kernel, stride, pads, dilation):
    return tuple((n + lo + hi - dl * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), dl in zip(in_shape[2:], kernel, stride, pads, dilation))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_forward_equals_naive_loop_of_the_formula(case, bias):
    in_shape, c_out, kernel, stride, pads, dilation = CASES[case]
    rng = np.random.default_rng(case)
    grid = out_grid(in_shape, kernel, stride, pads, dilation)
    x = rng.standard_normal(in_shape)
    w = rng.standard_normal(grid + (c_out, in_shape[1]) + kernel)
    b = rng.standard_normal((c_out,) + grid) if bias else None
    out = F.locally_connected(st.Tensor(x, dtype=np.float64), st.Tensor(w, dtype=np.float64),
                              None if b is None else st.Tensor(b, dtype=np.float64), stride, pads, dilation)
    assert out.dtype == np.float64
    assert_close(out.data, naive_locally_connected(x, w, b, stride, pads, dilation), what="forward")


@pytest.mark.parametrize("case", range(len(CASES)))
def test_backward_equals_central_differences(case):
    in_shape, c_out, kernel, stride, pads, dilation = CASES[case]
    grid = out_grid(in_shape, kernel, stride, pads, dilation)
    check_gradients(lambda x, w, b: F.locally_connected(x, w, b, stride, pads, dilation),
                    [in_shape, grid + (c_out, in_shape[1]) + kernel, (c_out,) + grid], seed=case)


def torch_locally_connected2d(x, w, b, stride, padding):
    """An independent oracle for 2-D: torch's unfold, then one einsum over positions."""
    cols = TF.unfold(x, w.shape[-2:], padding=padding, stride=stride)          # (N, Cin*kh*kw, P)
    oh, ow, c_out = w.shape[:3]
    out = torch.einsum("por,nrp->nop", w.reshape(oh * ow, c_out, -1), cols)
    return out.reshape(x.shape[0], c_out, oh, ow) + b


@needs_torch
def test_2d_forward_and_gradients_match_torch_unfold_einsum():
    check_against_torch(lambda x, w, b: F.locally_connected2d(x, w, b, stride=2, padding=1),
                        lambda x, w, b: torch_locally_connected2d(x, w, b, stride=2, padding=1),
                        inputs=[(2, 3, 7, 6), (4, 3, 5, 3, 3, 3), (5, 4, 3)])


@pytest.mark.parametrize("padding", [0, 2, "same"])
def test_equal_kernels_at_every_position_give_a_convolution(padding):
    rng = np.random.default_rng(4)
    module = nn.LocallyConnected2d(3, 5, in_size=(9, 8), kernel_size=(3, 2), stride=(2, 1), padding=padding, rng=0)
    module.double()
    kernel = rng.standard_normal((5, 3, 3, 2))
    bias = rng.standard_normal(5)
    module.weight.data[...] = kernel                           # (*O, Cout, Cin, kh, kw): the same kernel everywhere
    module.bias.data[...] = bias.reshape(5, 1, 1)
    x = rng.standard_normal((2, 3, 9, 8))
    expected = F.conv2d(st.Tensor(x, dtype=np.float64), st.Tensor(kernel, dtype=np.float64),
                        st.Tensor(bias, dtype=np.float64), stride=(2, 1), padding=padding).data
    assert_close(module(st.Tensor(x, dtype=np.float64)).data, expected, what="locally connected vs conv2d")


def test_equal_kernels_in_1d_give_conv1d():
    rng = np.random.default_rng(5)
    kernel = rng.standard_normal((4, 2, 3))
    w = np.broadcast_to(kernel, (9, 4, 2, 3)).copy()              # (L_out, Cout, Cin, K)
    x = rng.standard_normal((3, 2, 9))
    out = F.locally_connected1d(st.Tensor(x, dtype=np.float64), st.Tensor(w, dtype=np.float64), padding="causal")
    expected = F.conv1d(st.Tensor(x, dtype=np.float64), st.Tensor(kernel, dtype=np.float64), padding="causal")
    assert_close(out.data, expected.data, what="locally connected vs conv1d")


def test_alexnet_first_layer_unshared_has_105_705_600_parameters():
    """Lecture 002: 290,400 outputs (55 x 55 x 96), each with 363 weights (11 x 11 x 3) and a bias."""
    cost = local_cost((1, 3, 227, 227), 96, 11, stride=4)
    assert cost.params == 290_400 * 364 == 105_705_600
    assert cost.macs == 290_400 * 363
    conv = nn.Conv2d(3, 96, 11, stride=4, rng=0).cost((1, 3, 227, 227))
    assert conv.params == 34_944 and conv.macs == cost.macs       # same work, 3025x the parameters


def test_declared_cost_equals_allocated_parameters_on_a_scaled_down_alexnet_layer():
    module = nn.LocallyConnected2d(3, 8, in_size=35, kernel_size=11, stride=4, rng=0)
    cost = module.cost((1, 3, 35, 35))
    assert module.out_size == (7, 7)
    assert module.weight.shape == (7, 7, 8, 3, 11, 11) and module.bias.shape == (8, 7, 7)
    assert cost.params == module.num_parameters() == 7 * 7 * 8 * (363 + 1)
    assert cost.macs == 7 * 7 * 8 * 363
    assert nn.LocallyConnected2d(3, 8, 35, 11, stride=4, bias=False, rng=0).cost((1, 3, 35, 35)).params == 7 * 7 * 8 * 363


def test_init_is_a_conv_fan_in_uniform_and_seeded():
    a = nn.LocallyConnected2d(4, 6, in_size=10, kernel_size=3, rng=1)
    b = nn.LocallyConnected2d(4, 6, in_size=10, kernel_size=3, rng=1)
    bound = 1 / np.sqrt(4 * 9)
    assert a.weight.dtype == np.float32
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.weight.data).max() > 0.9 * bound
    assert np.abs(a.bias.data).max() <= bound
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_output_shape_and_receptive_field_are_those_of_the_same_conv():
    kw = dict(kernel_size=(5, 3), stride=(2, 3), padding="same")
    local = nn.LocallyConnected2d(2, 4, in_size=(17, 12), **kw, rng=0)
    conv = nn.Conv2d(2, 4, **kw, rng=0)
    shape = (3, 2, 17, 12)
    assert local.output_shape(shape) == conv.output_shape(shape) == local(np.zeros(shape)).shape
    rf = ReceptiveField.identity(2)
    assert local.receptive_field(rf, shape) == conv.receptive_field(rf, shape)
    assert local.cost(shape).macs == conv.cost(shape).macs


def test_float32_in_float32_out_and_gradients_reach_every_parameter():
    module = nn.LocallyConnected1d(2, 3, in_size=8, kernel_size=3, stride=2, rng=0)
    x = st.Tensor(np.random.default_rng(0).standard_normal((4, 2, 8)), requires_grad=True, dtype=np.float32)
    out = module(x)
    assert out.dtype == np.float32 and out.shape == (4, 3, 3)
    out.sum().backward()
    assert x.grad.shape == x.shape and module.weight.grad.shape == module.weight.shape
    np.testing.assert_allclose(module.bias.grad, np.full((3, 3), 4.0))


# --------------------------------------------------------------------------------------------- errors


def test_input_of_another_size_than_in_size_is_refused_naming_the_layer():
    module = nn.LocallyConnected2d(3, 4, in_size=8, kernel_size=3, stride=2, rng=0)
    for bad in [(1, 3, 9, 8), (1, 2, 8, 8), (1, 3, 8)]:
        with pytest.raises(st.ShapeError) as info:
            module(np.zeros(bad, dtype=np.float32))
        message = str(info.value)
        assert "LocallyConnected2d(3, 4" in message and "expected input (N, 3, 8, 8)" in message
        assert str(bad) in message
        with pytest.raises(st.ShapeError):
            module.output_shape(bad)


def test_functional_errors_name_weight_and_bias_shapes():
    x = np.zeros((1, 2, 6))
    with pytest.raises(st.ShapeError, match=r"output positions \(4,\).*weight \(5, 3, 2, 3\)"):
        F.locally_connected1d(x, np.zeros((5, 3, 2, 3)))
    with pytest.raises(st.ShapeError, match=r"expected bias \(3, 4\), got \(3,\)"):
        F.locally_connected1d(x, np.zeros((4, 3, 2, 3)), np.zeros(3))
    with pytest.raises(st.ShapeError, match=r"expected weight \(\*O, C_out, C_in, \*K\).*got \(4, 3, 2\)"):
        F.locally_connected(x, np.zeros((4, 3, 2)))
    with pytest.raises(st.ShapeError, match=r"locally_connected1d: expected input \(N, 2, L\), got \(1, 3, 6\)"):
        F.locally_connected1d(np.zeros((1, 3, 6)), np.zeros((4, 3, 2, 3)))


def test_construction_errors():
    with pytest.raises(ValueError, match=r"LocallyConnected2d: in_channels must be a positive int, got 0"):
        nn.LocallyConnected2d(0, 4, 8, 3)
    with pytest.raises(st.ShapeError, match=r"LocallyConnected1d: kernel extent \(7,\) is larger than the padded input"):
        nn.LocallyConnected1d(1, 4, in_size=5, kernel_size=7)
    with pytest.raises(TypeError, match=r"LocallyConnected2d: in_size must be an int or a tuple of 2 ints"):
        nn.LocallyConnected2d(1, 4, in_size=(5, 5, 5), kernel_size=3)
