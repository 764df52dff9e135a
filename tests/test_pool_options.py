"""Pooling options (issue 11) against PyTorch in float64, and without it where an oracle by hand will do.

* ``ceil_mode`` output sizes over a grid of (size, kernel, stride, padding, dilation), including
  last windows that would start in the padding, and the resolved ``Window``'s overhang;
* max pooling with ``ceil_mode``, ``dilation`` and ``return_indices``, average pooling with
  ``ceil_mode``, ``count_include_pad`` and ``divisor_override``: forward and input gradient,
  ties included;
* ``MaxUnpool``, ``AdaptiveMaxPool``, ``LPPool``;
* named errors for bad arguments.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import strided as st
from oracle import TF, Const, check_against_torch, check_gradients, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField, conv_output_size, resolve_window
from strided.nn import functional as F

pytestmark = pytest.mark.usefixtures("compute_path")                # NumPy and compiled paths

SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}
ST_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
ST_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
TH_MAX = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d} if torch is not None else {}
TH_AVG = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d} if torch is not None else {}


def ids(case):
    return ",".join(f"{k}={v}" for k, v in case.items())


def ties(shape, seed=0):
    """Small integers: many windows hold their maximum more than once."""
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)


# ------------------------------------------------------------------------------------ ceil_mode sizes
GRID = [(n, k, s, p, d) for n, k, s, d in itertools.product(range(1, 10), range(1, 5), range(1, 4), (1, 2))
        for p in range(k // 2 + 1)]


@needs_torch
def test_ceil_mode_output_sizes_match_torch_over_a_grid():
    """Every combination, with the cases where the last window would start in the padding among them."""
    dropped = 0
    for n, k, s, p, d in GRID:
        try:
            expected = TF.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode=True).shape[-1]
        except RuntimeError:
            expected = None
        got = conv_output_size(n, k, s, (p, p), d, ceil_mode=True)
        if expected is None:
            assert got < 1, (n, k, s, p, d)
            with pytest.raises(st.ShapeError):
                resolve_window((n,), k, s, d, p, True, owner="t")
            continue
        assert got == expected, (n, k, s, p, d)
        w = resolve_window((n,), k, s, d, p, True, owner="t")
        assert w.out_sizes == (expected,) and w.declared_pads == ((p, p),)
        # the last window starts inside the input or the low padding and ends inside the (extended) pads
        assert (expected - 1) * s < n + p
        assert (expected - 1) * s + w.extent[0] == w.padded_sizes[0] or not w.overhang
        unrounded = -(-(n + 2 * p - (d * (k - 1) + 1)) // s) + 1
        dropped += unrounded != expected                                 # PyTorch's "starts in the padding" rule
    assert dropped > 10                                                   # the grid really has such cases


@pytest.mark.parametrize("n, k, s, p, floor, ceil", [
    (6, 3, 2, 0, 2, 3),      # a partial last window
    (5, 2, 2, 1, 3, 3),      # a 4th window would start in the high padding: dropped
    (7, 3, 2, 1, 4, 4),      # windows fit exactly: nothing to round
    (2, 3, 2, 0, 0, 1),      # the kernel is longer than the input, yet ceil_mode gives one window
    (10, 4, 3, 2, 4, 4),     # the 5th window would start at 12 = 10 + 2: dropped
    (10, 4, 3, 1, 3, 4),     # the 4th starts at 9, inside the input: kept, reaching 1 past the pads
])
def test_ceil_mode_sizes_by_hand(n, k, s, p, floor, ceil):
    assert conv_output_size(n, k, s, (p, p)) == floor
    assert conv_output_size(n, k, s, (p, p), ceil_mode=True) == ceil


def test_ceil_mode_window_folds_the_overhang_into_the_high_pads():
    w = resolve_window((6, 7), 3, 2, 1, 0, True, owner="t")
    assert w.out_sizes == (3, 3) and w.pads == ((0, 1), (0, 0)) and w.overhang == (1, 0)
    assert w.declared_pads == ((0, 0), (0, 0)) and w.padded_sizes == (7, 7)
    xp = np.arange(49).reshape(1, 1, 7, 7)
    for (ki, kj), index in w.taps:                                       # taps stay inside the padded grid
        assert xp[index].shape == (1, 1, 3, 3)
        assert xp[index][0, 0, 2, 2] == xp[0, 0, 4 + ki, 4 + kj]
    plain = resolve_window((6, 7), 3, 2, 1, 0, owner="t")
    assert plain.overhang == () and plain.declared_pads is plain.pads and plain.out_sizes == (2, 3)
    assert resolve_window((5,), 2, 2, 1, 0, True, owner="t").tiles      # 5 -> 3 windows of 2 tile 5 + 1


def test_ceil_mode_must_be_a_bool():
    with pytest.raises(TypeError, match="MaxPool2d: ceil_mode must be a bool, got 1"):
        nn.MaxPool2d(2, ceil_mode=1)
    with pytest.raises(TypeError, match="avg_pool1d: ceil_mode must be a bool, got 'yes'"):
        F.avg_pool1d(np.zeros((1, 1, 4)), 2, ceil_mode="yes")


# ------------------------------------------------------------------------------------ max pooling
MAX_CASES = [
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=1, dilation=2),
    dict(kernel_size=3, stride=2, padding=1, dilation=2),
    dict(kernel_size=2, stride=3, padding=1, dilation=3, ceil_mode=True),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
]


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", MAX_CASES, ids=ids)
def test_max_pool_options_match_torch(d, case):
    check_against_torch(ST_MAX[d], TH_MAX[d], [(2, 3) + SPATIAL[d]], kwargs=case, seed=7 + d)
    check_against_torch(ST_MAX[d], TH_MAX[d], [ties((2, 3) + SPATIAL[d], d)], kwargs=case)   # first maximum wins


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", MAX_CASES[:4] + [dict(kernel_size=2), dict(kernel_size=3, padding=1, stride=1)],
                         ids=ids)
def test_max_pool_indices_equal_torch(d, case):
    for x in (np.random.default_rng(d).standard_normal((2, 3) + SPATIAL[d]), ties((2, 3) + SPATIAL[d], d)):
        out, index = ST_MAX[d](x, return_indices=True, **case)
        ref, ref_index = TH_MAX[d](torch.from_numpy(x), return_indices=True, **case)
        np.testing.assert_array_equal(out.data, ref.numpy())
        assert index.dtype == np.int64
        np.testing.assert_array_equal(index, ref_index.numpy())


def test_max_pool_indices_by_hand():
    x = np.array([[[1., 5., 5., 0., 2.]]])
    out, index = F.max_pool1d(x, 2, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[5., 5., 2.]]])
    np.testing.assert_array_equal(index, [[[1, 2, 4]]])
    out, index = F.max_pool1d(x, 2, 1, dilation=2, return_indices=True)   # taps (0, 2), (1, 3), (2, 4)
    np.testing.assert_array_equal(index, [[[2, 1, 2]]])


@needs_torch
def test_max_pool_ceil_mode_backward_by_assignment_and_by_accumulation():
    """7 -> 4 windows of 2 tile the overhanging grid (assignment); stride 1 with ceil overlaps."""
    for size, kernel, stride in [(7, 2, 2), (7, 3, 2)]:
        x = np.random.default_rng(size + kernel).standard_normal((3, 2, size, size))
        x = st.windows.to_batch_last(x)
        check_against_torch(lambda x: F.max_pool2d(x, kernel, stride, ceil_mode=True),
                            lambda x: TF.max_pool2d(x, kernel, stride, ceil_mode=True), [x])


def test_dilated_max_pool_gradient_by_central_differences():
    check_gradients(lambda x: F.max_pool2d(x, 2, 1, padding=1, dilation=2, ceil_mode=True), [(2, 2, 5, 6)])


def test_dilated_max_pool_receptive_field_uses_the_dilation():
    rf = nn.MaxPool1d(3, 2, dilation=3).receptive_field(ReceptiveField.identity(1), (1, 1, 20))
    assert (rf.size, rf.jump) == ((7,), (2,))


def test_max_pool_module_returns_indices_and_declares_the_output():
    pool = nn.MaxPool2d(3, 2, padding=1, dilation=1, return_indices=True, ceil_mode=True)
    out, index = pool(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32))
    assert out.shape == index.shape == pool.output_shape((2, 3, 8, 8)) == (2, 3, 5, 5)
    assert "return_indices=True" in repr(pool) and "ceil_mode=True" in repr(pool)


# ------------------------------------------------------------------------------------ average pooling
AVG_CASES = [
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1),
]


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", AVG_CASES, ids=ids)
@pytest.mark.parametrize("include", [True, False], ids=["count_pad", "no_count_pad"])
def test_avg_pool_options_match_torch(d, case, include):
    check_against_torch(ST_AVG[d], TH_AVG[d], [(2, 3) + SPATIAL[d]], kwargs=dict(case, count_include_pad=include),
                        seed=3 + d)


@needs_torch
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("case", AVG_CASES[1:], ids=ids)
@pytest.mark.parametrize("divisor", [1, 5])
def test_avg_pool_divisor_override_matches_torch(d, case, divisor):
    check_against_torch(ST_AVG[d], TH_AVG[d], [(2, 3) + SPATIAL[d]], kwargs=dict(case, divisor_override=divisor))


def test_avg_pool_ceil_mode_divisors_by_hand():
    x = np.ones((1, 1, 6))
    # windows [-1, 2), [1, 4), [3, 6), [5, 8): the last covers one input and one pad inside [-1, 7)
    np.testing.assert_allclose(F.avg_pool1d(x, 3, 2, 1, ceil_mode=True).data, [[[2 / 3, 1, 1, 1 / 2]]])
    np.testing.assert_allclose(F.avg_pool1d(x, 3, 2, 1, True, False).data, [[[1, 1, 1, 1]]])
    np.testing.assert_allclose(F.avg_pool2d(np.ones((1, 1, 3, 3)), 2, ceil_mode=True, divisor_override=2).data,
                               [[[[2, 1], [1, 0.5]]]])


def test_avg_pool_modules_take_torchs_arguments():
    assert nn.AvgPool2d(3, 2, 1, True, False, 4).divisor_override == 4
    with pytest.raises(TypeError):
        nn.AvgPool1d(3, 2, 1, True, False, 4)                             # no divisor_override in 1-D, as in torch
    pool = nn.AvgPool3d(2, ceil_mode=True, divisor_override=3)
    assert pool(np.ones((1, 1, 3, 3, 3))).shape == pool.output_shape((1, 1, 3, 3, 3)) == (1, 1, 2, 2, 2)


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "divisor_override must be a positive int, got 0"),
    (2.0, TypeError, "divisor_override must be a positive int, got 2.0"),
    (True, TypeError, "divisor_override must be a positive int, got True"),
])
def test_divisor_override_errors(bad, error, message):
    with pytest.raises(error, match=f"AvgPool2d: {message}"):
        nn.AvgPool2d(2, divisor_override=bad)
    with pytest.raises(error, match=f"avg_pool3d: {message}"):
        F.avg_pool3d(np.zeros((1, 1, 2, 2, 2)), 2, divisor_override=bad)


def test_pool_padding_is_checked_against_half_the_kernel_not_the_overhang():
    with pytest.raises(ValueError, match=r"MaxPool1d: padding must be at most half the kernel size \(3,\), got 2"):
        nn.MaxPool1d(3, dilation=2, padding=2)
    assert nn.MaxPool1d(2, padding=1, ceil_mode=True).output_shape((1, 1, 4)) == (1, 1, 3)


# ------------------------------------------------------------------------------------ max unpooling
UNPOOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=2, stride=3),
]


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", UNPOOL_CASES, ids=ids)
def test_max_unpool_matches_torch(d, case):
    st_unpool = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[d]
    th_unpool = {1: TF.max_unpool1d, 2: TF.max_unpool2d, 3: TF.max_unpool3d}[d]
    x = np.random.default_rng(d).standard_normal((2, 3) + SPATIAL[d])
    pooled, index = ST_MAX[d](x, return_indices=True, **case)
    default = {1: nn.MaxUnpool1d, 2: nn.MaxUnpool2d, 3: nn.MaxUnpool3d}[d](**case).output_shape(pooled.shape)
    if index.max() < np.prod(default[2:]):
        check_against_torch(lambda y, i: st_unpool(y, i, **case), lambda y, i: th_unpool(y, i, **case),
                            [pooled.data, Const(index)])
    else:                                                                 # the default size is too small: both refuse
        with pytest.raises(RuntimeError):
            th_unpool(torch.from_numpy(pooled.data), torch.from_numpy(index), **case)
        with pytest.raises(ValueError, match="indices must lie in"):
            st_unpool(pooled, index, **case)
    size = tuple(x.shape[2:])                                             # back to the pooled input's size
    check_against_torch(lambda y, i: st_unpool(y, i, output_size=size, **case),
                        lambda y, i: th_unpool(y, i, output_size=size, **case), [pooled.data, Const(index)])


def test_max_unpool_module_by_hand_and_static_rules():
    x = np.array([[[[1., 2., 0.], [3., 4., 9.], [0., 1., 2.]]]])
    y, index = nn.MaxPool2d(2, ceil_mode=True, return_indices=True)(x)
    unpool = nn.MaxUnpool2d(2)
    assert unpool.output_shape(y.shape) == (1, 1, 4, 4)                   # (2 - 1) * 2 + 2
    out = unpool(y, index, output_size=(3, 3))
    np.testing.assert_array_equal(out.data, [[[[0, 0, 0], [0, 4, 9], [0, 1, 2]]]])
    yt = st.Tensor(y.data, requires_grad=True)
    unpool(yt, index, output_size=x.shape).backward(np.arange(9.0).reshape(1, 1, 3, 3))
    np.testing.assert_array_equal(yt.grad, [[[[4, 5], [7, 8]]]])          # the gradient at each index
    rf = unpool.receptive_field(ReceptiveField.identity(2), y.shape)
    assert len(rf.size) == 2


def test_max_unpool_errors():
    y, index = F.max_pool2d(np.ones((1, 2, 4, 4)), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"MaxUnpool2d\(kernel_size=\(2, 2\), stride=\(2, 2\)\): output_size "
                                         r"\(6, 4\) must lie strictly between \(2, 2\) and \(6, 6\)"):
        nn.MaxUnpool2d(2)(y, index, output_size=(6, 4))
    with pytest.raises(st.ShapeError, match=r"max_unpool2d: expected indices of the input's shape \(1, 2, 2, 2\), "
                                            r"got \(1, 2, 2\)"):
        F.max_unpool2d(y, index[..., 0], 2)
    with pytest.raises(TypeError, match="max_unpool2d: indices must be integers"):
        F.max_unpool2d(y, index.astype(float), 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: indices must lie in \[0, 9\) for the output \(3, 3\)"):
        F.max_unpool2d(y, index, 2, stride=1)
    with pytest.raises(st.ShapeError, match=r"MaxUnpool1d.*expected input \(N, C, L\) or \(C, L\), got \(4,\)"):
        nn.MaxUnpool1d(2)(np.zeros((4,)), np.zeros((4,), dtype=np.int64))
    with pytest.raises(TypeError, match="MaxUnpool3d: padding must be an int"):
        nn.MaxUnpool3d(2, padding="same")


# ------------------------------------------------------------------------------------ adaptive max pooling
@needs_torch
@pytest.mark.parametrize("d, sizes, out", [
    (1, (10,), 4), (1, (5,), 7), (2, (7, 6), (3, 4)), (2, (5, 9), (5, None)), (2, (6, 6), 1),
    (3, (5, 4, 6), (2, 3, 4)), (3, (3, 4, 5), (4, 4, 2)),
])
def test_adaptive_max_pool_matches_torch(d, sizes, out):
    st_fn = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[d]
    th_fn = {1: TF.adaptive_max_pool1d, 2: TF.adaptive_max_pool2d, 3: TF.adaptive_max_pool3d}[d]
    for x in (np.random.default_rng(d).standard_normal((2, 3) + sizes), ties((2, 3) + sizes, d)):
        check_against_torch(lambda x: st_fn(x, out), lambda x: th_fn(x, out), [x])
        values, index = st_fn(x, out, return_indices=True)
        ref, ref_index = th_fn(torch.from_numpy(x), out, return_indices=True)
        np.testing.assert_array_equal(values.data, ref.numpy())
        np.testing.assert_array_equal(index, ref_index.numpy())


def test_adaptive_max_pool_by_hand():
    x = np.array([[[3., 1., 4., 1., 5., 9., 2.]]])                        # bins [0, 3), [2, 5), [4, 7)
    out, index = F.adaptive_max_pool1d(x, 3, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[4., 5., 9.]]])
    np.testing.assert_array_equal(index, [[[2, 4, 5]]])
    xt = st.Tensor(np.array([[[2., 2., 1.]]]), requires_grad=True)       # bins [0, 2) and [1, 3) share x[1]
    F.adaptive_max_pool1d(xt, 2).backward(np.array([[[1., 10.]]]))
    np.testing.assert_array_equal(xt.grad, [[[1., 10., 0.]]])            # first maxima: x[0], then x[1]
    xt = st.Tensor(np.array([[[1., 3., 2.]]]), requires_grad=True)
    F.adaptive_max_pool1d(xt, 2).backward(np.array([[[1., 10.]]]))
    np.testing.assert_array_equal(xt.grad, [[[0., 11., 0.]]])            # both bins pick x[1]: gradients add
    pool = nn.AdaptiveMaxPool2d((2, 3))
    rf = pool.receptive_field(ReceptiveField.identity(2), (1, 1, 6, 6))
    assert rf == nn.AdaptiveAvgPool2d((2, 3)).receptive_field(ReceptiveField.identity(2), (1, 1, 6, 6))
    with pytest.raises(TypeError, match="AdaptiveMaxPool2d: return_indices must be a bool"):
        nn.AdaptiveMaxPool2d(3, return_indices="yes")
    with pytest.raises(ValueError, match="AdaptiveMaxPool1d: output_size must be >= 1"):
        nn.AdaptiveMaxPool1d(0)


def test_adaptive_max_pool_gradient_by_central_differences():
    check_gradients(lambda x: F.adaptive_max_pool2d(x, (3, 4)), [(2, 2, 5, 7)])


# ------------------------------------------------------------------------------------ Lp pooling
LP_CASES = [
    dict(norm_type=2, kernel_size=2),
    dict(norm_type=3, kernel_size=3, stride=2, ceil_mode=True),
    dict(norm_type=1, kernel_size=3, stride=2, ceil_mode=True),
    dict(norm_type=1.5, kernel_size=2, stride=1),
    dict(norm_type=4, kernel_size=(3, 2, 2), stride=(2, 2, 3), ceil_mode=True),
]


@needs_torch
@pytest.mark.parametrize("d, case", [(d, c) for d in (1, 2, 3) for c in LP_CASES
                                     if not isinstance(c["kernel_size"], tuple) or len(c["kernel_size"]) == d],
                         ids=lambda v: ids(v) if isinstance(v, dict) else f"{v}d")
def test_lp_pool_matches_torch(d, case):
    st_fn = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}[d]
    th_fn = {1: TF.lp_pool1d, 2: TF.lp_pool2d, 3: TF.lp_pool3d}[d]
    x = np.abs(np.random.default_rng(d).standard_normal((2, 3) + SPATIAL[d])) + 0.1   # real roots for any p
    check_against_torch(lambda x: st_fn(x, **case), lambda x: th_fn(x, **case), [x], rtol=1e-9)
    if case["norm_type"] in (1, 2):                                       # signed inputs: real results still
        check_against_torch(lambda x: st_fn(x, **case), lambda x: th_fn(x, **case), [(2, 3) + SPATIAL[d]],
                            rtol=1e-9)


def test_lp_pool_by_hand():
    x = np.array([[[3., 4., 1., 1., 2.]]])
    np.testing.assert_allclose(F.lp_pool1d(x, 2, 2).data, [[[5., np.sqrt(2)]]], rtol=1e-6)
    # ceil_mode: the partial last window [4, 6) holds one input and is scaled by 2 / 1, as torch does
    np.testing.assert_allclose(F.lp_pool1d(x, 2, 2, ceil_mode=True).data, [[[5., np.sqrt(2), np.sqrt(8)]]], rtol=1e-6)
    np.testing.assert_allclose(F.lp_pool1d(x, 1, 5).data, [[[11.]]])


def test_lp_pool_gradient_by_central_differences():
    x = np.abs(np.random.default_rng(0).standard_normal((2, 2, 5, 6))) + 0.2
    check_gradients(lambda x: F.lp_pool2d(x, 3, 2, ceil_mode=True), [x])
    check_gradients(lambda x: F.lp_pool2d(x, 1, (2, 3), 2, ceil_mode=True), [x])


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (float("inf"), ValueError),
                                        (True, TypeError), ("2", TypeError)])
def test_lp_pool_norm_type_errors(bad, error):
    with pytest.raises(error, match="LPPool2d: norm_type must be a"):
        nn.LPPool2d(bad, 2)
    with pytest.raises(error, match="lp_pool1d: norm_type must be a"):
        F.lp_pool1d(np.ones((1, 1, 4)), bad, 2)


def test_lp_pool_static_rules():
    pool = nn.LPPool2d(2, 3, 2, ceil_mode=True)
    assert pool.output_shape((1, 2, 8, 9)) == pool(np.ones((1, 2, 8, 9))).shape == (1, 2, 4, 4)
    assert pool.cost((1, 2, 8, 9)) == (0, 0)
    assert repr(pool) == "LPPool2d(norm_type=2, kernel_size=(3, 3), stride=(2, 2), ceil_mode=True)"
    with pytest.raises(st.ShapeError, match=r"LPPool2d\(.*\): expected input \(N, C, H, W\) or \(C, H, W\), "
                                             r"got \(8, 9\)"):
        pool(np.ones((8, 9)))
