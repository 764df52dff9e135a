"""The resolved geometry (``geometry.Window``, ``TransposedWindow``) against literal loops over
window positions, and the one argument validator every layer uses (NumPy integers accepted,
``bool`` refused with a ``TypeError`` naming the argument). No PyTorch needed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.geometry import (TransposedWindow, Window, check_window, resolve_transposed_window,
                              resolve_window)
from strided.nn import functional as F

CASES_1D = [
    # size, kernel, stride, dilation, padding
    (7, 3, 1, 1, 0), (7, 3, 2, 1, 1), (8, 2, 2, 1, 0), (9, 2, 2, 1, 0), (9, 3, 2, 2, ((2, 1),)),
    (5, 5, 1, 1, 0), (10, 3, 3, 1, "same"), (6, 1, 2, 1, 0), (11, 4, 1, 3, "full"), (4, 1, 1, 1, 0),
]


def naive_outputs(size, kernel, stride, dilation, lo, hi):
    """Window starts o*stride whose last tap still lies inside the padded input, counted one by one."""
    padded = size + lo + hi
    count = 0
    while count * stride + (kernel - 1) * dilation < padded:
        count += 1
    return count


@pytest.mark.parametrize("size, kernel, stride, dilation, padding", CASES_1D)
def test_window_sizes_tiling_and_taps_against_loops(size, kernel, stride, dilation, padding):
    w = resolve_window((size,), kernel, stride, dilation, padding, owner="test")
    (lo, hi), = w.pads
    assert w.out_sizes == (naive_outputs(size, kernel, stride, dilation, lo, hi),)
    assert w.extent == (max(k * dilation for k in range(kernel)) + 1,)
    assert w.padded_sizes == (size + lo + hi,)
    # tiles: every padded position is read by exactly one (output, tap) pair
    hits = np.zeros(size + lo + hi, dtype=int)
    for o in range(w.out_sizes[0]):
        for k in range(kernel):
            hits[o * stride + k * dilation] += 1
    assert w.tiles == bool((hits == 1).all())
    # taps: xp[index][..., o] is xp[..., o * stride + k * dilation]
    xp = np.arange(2 * (size + lo + hi)).reshape(1, 2, -1)
    assert len(w.taps) == kernel
    for (k,), index in w.taps:
        for o in range(w.out_sizes[0]):
            np.testing.assert_array_equal(xp[index][..., o], xp[..., o * stride + k * dilation])


def test_window_in_2d_and_3d_against_loops():
    w = resolve_window((6, 5, 4), (2, 3, 1), (2, 1, 3), (1, 2, 1), ((1, 0), (0, 2), (1, 1)), owner="test")
    expected = tuple(naive_outputs(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi) in
                     zip((6, 5, 4), (2, 3, 1), (2, 1, 3), (1, 2, 1), ((1, 0), (0, 2), (1, 1))))
    assert w.out_sizes == expected and w.ndim == 3 and w.pad_lo == (1, 0, 1)
    xp = np.random.default_rng(0).standard_normal((1, 1) + w.padded_sizes)
    assert [k for k, _ in w.taps] == list(itertools.product(range(2), range(3), range(1)))
    for k, index in w.taps:
        for o in itertools.product(*(range(n) for n in w.out_sizes)):
            at = tuple(oi * s + ki * d for oi, ki, s, d in zip(o, k, w.stride, w.dilation))
            assert xp[index][(0, 0) + o] == xp[(0, 0) + at]


def test_pointwise_and_receptive_field_step():
    assert resolve_window((5, 5), 1, 1, 1, 0, owner="t").pointwise
    assert not resolve_window((5, 5), 1, 2, 1, 0, owner="t").pointwise
    assert not resolve_window((5, 5), 1, 1, 1, 1, owner="t").pointwise
    w = resolve_window((16,), 3, 2, 1, 1, owner="t")
    rf = w.receptive_field(st.geometry.ReceptiveField.identity(1))
    # one 3-tap window at stride 2 with one pixel of padding: size 3, jump 2, first centre at 0
    assert (rf.size, rf.jump, rf.start) == ((3,), (2,), (0.0,))


@pytest.mark.parametrize("size, kernel, stride, dilation, padding, output_padding", [
    (4, 3, 2, 1, 1, 1), (5, 4, 3, 1, 2, 2), (3, 2, 2, 1, 0, 0), (6, 3, 1, 2, ((0, 2),), 1), (2, 5, 2, 1, 0, 1),
])
def test_transposed_window_against_a_scatter_loop(size, kernel, stride, dilation, padding, output_padding):
    t = resolve_transposed_window((size,), kernel, stride, dilation, padding, output_padding, owner="test")
    lo, hi = (padding, padding) if isinstance(padding, int) else padding[0]
    # scatter every input pixel's footprint onto an uncropped grid, literally
    positions = [i * stride + k * dilation for i in range(size) for k in range(kernel)]
    out = max(positions) + 1 - lo - hi + output_padding
    assert t.out_sizes == (out,)
    assert t.grid == (max(max(positions) + 1, lo + out),)
    assert t.crop == ((lo, t.grid[0] - lo - out),)
    assert sum(t.crop[0]) + out == t.grid[0]
    # the adjoint convolution maps the grid back to the input size
    adjoint = t.adjoint
    assert isinstance(adjoint, Window) and adjoint.in_sizes == t.grid and adjoint.out_sizes == (size,)
    assert isinstance(t, TransposedWindow)


def test_resolvers_remember_values_and_never_errors():
    a = resolve_window((9, 9), 3, 2, 1, "same", owner="t")
    assert resolve_window((9, 9), 3, 2, 1, "same", owner="t") is a            # one value per distinct arguments
    with pytest.raises(TypeError, match="t: stride must be an int"):
        resolve_window((9, 9), 3, 2.0, 1, "same", owner="t")
    with pytest.raises(TypeError, match="t: stride must be an int"):
        resolve_window((9, 9), 3, True, 1, "same", owner="t")                 # True is not 1, cached or not
    for _ in range(2):
        with pytest.raises(st.ShapeError, match="kernel extent"):
            resolve_window((2,), 5, 1, 1, 0, owner="t")


def test_check_window_needs_no_input_size():
    assert check_window(2, 3, None, 1, "same", "T") == ((3, 3), (3, 3), (1, 1))
    assert check_window(1, np.int64(5), np.int32(2), 1, "causal", "T") == ((5,), (2,), (1,))
    with pytest.raises(ValueError, match="T: padding='causal' is defined for 1-D input only"):
        check_window(2, 3, 1, 1, "causal", "T")
    with pytest.raises(ValueError, match="T: unknown padding mode 'sane'"):
        check_window(2, 3, 1, 1, "sane", "T")
    with pytest.raises(TypeError, match="T: padding must be an int"):
        check_window(2, 3, 1, 1, "same", "T", transposed=True)


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("build, argument", [
    (lambda: nn.Conv2d(3, 8, 3, groups=True), "groups"),
    (lambda: nn.Conv2d(True, 8, 3), "in_channels"),
    (lambda: nn.Conv2d(3, 8, 3, stride=True), "stride"),
    (lambda: nn.Conv2d(3, 8, (3, True)), "kernel_size"),
    (lambda: nn.BatchNorm2d(True), "num_features"),
    (lambda: nn.BatchNorm1d(2.0), "num_features"),
    (lambda: nn.Linear(True, 2), "in_features"),
    (lambda: nn.MaxPool2d(True), "kernel_size"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, groups=True), "groups"),
    (lambda: nn.LocallyConnected2d(2, 3, (6, True), 3), "in_size"),
    (lambda: nn.KMaxPool1d(True), "k"),
    (lambda: nn.DepthwiseConv2d(3, 3, depth_multiplier=True), "depth_multiplier"),
    (lambda: F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 2, 3, 3)), groups=True), "groups"),
    (lambda: F.conv_transpose2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 2, 3, 3)), groups=True), "groups"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=True), "stride"),
])
def test_bool_and_float_arguments_are_type_errors_naming_the_argument(build, argument):
    with pytest.raises(TypeError, match=f": {argument} must be"):
        build()


def test_numpy_integers_are_accepted_everywhere():
    i = np.int64
    x = np.random.default_rng(1).standard_normal((2, 4, 9, 8)).astype(np.float32)
    conv = nn.Conv2d(i(4), i(6), i(3), stride=i(2), padding=i(1), dilation=(i(1), 1), groups=i(2), rng=0)
    same = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=0)
    np.testing.assert_array_equal(conv(x).data, same(x).data)
    assert conv.output_shape(x.shape) == same.output_shape(x.shape) and type(conv.groups) is int
    np.testing.assert_array_equal(F.conv2d(x, same.weight, None, stride=(i(2), i(1)), groups=i(2)).data,
                                  F.conv2d(x, same.weight, None, stride=(2, 1), groups=2).data)
    np.testing.assert_array_equal(F.max_pool2d(x, i(2), i(2)).data, F.max_pool2d(x, 2, 2).data)
    np.testing.assert_array_equal(nn.AvgPool2d((i(3), 2), padding=i(1))(x).data,
                                  nn.AvgPool2d((3, 2), padding=1)(x).data)
    assert nn.BatchNorm2d(i(4))(x).shape == x.shape
    assert nn.Linear(i(8), i(3), rng=0)(x).shape == (2, 4, 9, 3)
    t = nn.ConvTranspose2d(i(4), i(2), i(3), stride=i(2), output_padding=i(1), rng=0)
    assert t(x).shape == nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, rng=0)(x).shape == (2, 2, 20, 18)
    local = nn.LocallyConnected2d(i(4), i(2), (i(9), i(8)), i(3), rng=0)
    assert local(x).shape == (2, 2, 7, 6)
    assert nn.KMaxPool1d(i(3))(x[:, :, 0]).shape == (2, 4, 3)
