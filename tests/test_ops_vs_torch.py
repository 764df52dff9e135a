"""Every op of ``strided.nn.functional`` against ``torch.nn.functional`` in float64.

Each case compares the forward output and the gradients of all inputs (weights and biases
included) for a random upstream gradient. Padding modes PyTorch lacks ('same' at stride > 1,
'full', 'causal', per-side pairs) are compared with ``torch.nn.functional.pad`` followed by an
unpadded op, the pads being computed here from the written rule, independently of
``strided.geometry``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import Const, TF, assert_close, check_against_torch, needs_torch, torch

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

ST_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TH_CONV = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d} if torch is not None else {}
ST_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
TH_MAX = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d} if torch is not None else {}
ST_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
TH_AVG = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d} if torch is not None else {}
SPATIAL = {1: (9,), 2: (7, 8), 3: (6, 7, 5)}


def torch_pad_arg(pairs):
    """``F.pad``'s flat argument for per-axis ``(lo, hi)`` pairs: it lists the last axis first."""
    return tuple(v for lo, hi in reversed(list(pairs)) for v in (lo, hi))


def tf_same_pads(size, kernel, stride, dilation):
    """TensorFlow/Keras 'same': ceil(size/stride) outputs, the odd pixel of padding at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def conv_shapes(d, n=2, c_in=4, c_out=6, kernel=3, groups=1, spatial=None, bias=True):
    spatial = spatial or SPATIAL[d]
    kernel = (kernel,) * d if isinstance(kernel, int) else tuple(kernel)
    return [(n, c_in) + tuple(spatial), (c_out, c_in // groups) + kernel, (c_out,) if bias else None]


# ------------------------------------------------------------------------------------------ convolution
CONV_CASES = [
    dict(),
    dict(stride=2),
    dict(stride=3, padding=1),
    dict(padding=2),
    dict(dilation=2),
    dict(dilation=2, stride=2, padding=1),
    dict(groups=2),
    dict(groups=2, stride=2, padding=1, dilation=2),
]


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_int_arguments(d, case, bias):
    groups = case.get("groups", 1)
    check_against_torch(ST_CONV[d], TH_CONV[d], conv_shapes(d, groups=groups, bias=bias), kwargs=case,
                        seed=d * 100 + len(case))


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_depthwise(d, multiplier):
    c = 3
    check_against_torch(ST_CONV[d], TH_CONV[d], conv_shapes(d, c_in=c, c_out=c * multiplier, groups=c),
                        kwargs=dict(groups=c, padding=1), seed=7 + d)


@needs_torch
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv2d_grouped_three_groups_rectangular_kernel():
    check_against_torch(F.conv2d, TF.conv2d,
                        conv_shapes(2, n=3, c_in=6, c_out=9, kernel=(3, 2), groups=3, spatial=(8, 7)),
                        kwargs=dict(groups=3, stride=(2, 1), dilation=(1, 2), padding=(1, 0)), seed=11)


@needs_torch
@pytest.mark.parametrize("d, kw", [
    (1, dict(stride=(2,), padding=(3,), dilation=(2,))),
    (2, dict(stride=(1, 2), padding=(2, 0), dilation=(1, 3))),
    (3, dict(stride=(2, 1, 1), padding=(0, 1, 2), dilation=(1, 2, 1))),
])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_tuple_arguments(d, kw):
    kernel = {1: (4,), 2: (3, 2), 3: (2, 3, 2)}[d]
    check_against_torch(ST_CONV[d], TH_CONV[d], conv_shapes(d, kernel=kernel, spatial={1: (12,), 2: (7, 9),
                                                                                          3: (5, 6, 5)}[d]),
                        kwargs=kw, seed=21 + d)


@needs_torch
@pytest.mark.parametrize("d, pairs", [
    (1, ((1, 2),)),
    (1, ((0, 3),)),
    (2, ((0, 2), (1, 0))),
    (2, ((2, 1), (1, 3))),
    (3, ((1, 0), (0, 1), (2, 1))),
])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_per_side_padding(d, pairs, stride):
    def torch_fn(x, w, b):
        return TH_CONV[d](TF.pad(x, torch_pad_arg(pairs)), w, b, stride=stride)
    check_against_torch(lambda x, w, b: ST_CONV[d](x, w, b, stride=stride, padding=pairs), torch_fn,
                        conv_shapes(d), seed=31 + d)


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kernel, dilation", [(3, 1), (2, 1), (2, 3), (1, 1)])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_valid(d, kernel, dilation):
    check_against_torch(lambda x, w, b: ST_CONV[d](x, w, b, padding="valid", dilation=dilation),
                        lambda x, w, b: TH_CONV[d](x, w, b, padding="valid", dilation=dilation),
                        conv_shapes(d, kernel=kernel), seed=41)


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kernel, dilation", [(3, 1), (2, 1), (4, 1), (3, 2), (2, 3)])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_same_stride1_matches_torch_same(d, kernel, dilation):
    st_out, _ = check_against_torch(lambda x, w, b: ST_CONV[d](x, w, b, padding="same", dilation=dilation),
                                    lambda x, w, b: TH_CONV[d](x, w, b, padding="same", dilation=dilation),
                                    conv_shapes(d, kernel=kernel), seed=51)
    assert st_out.shape[2:] == SPATIAL[d]


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("kernel, dilation", [(3, 1), (2, 1), (4, 1), (3, 2), (1, 1)])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_same_strided_is_tensorflow_rule(d, stride, kernel, dilation):
    spatial = {1: (10,), 2: (7, 8), 3: (5, 6, 7)}[d]
    pairs = [tf_same_pads(n, kernel, stride, dilation) for n in spatial]

    def torch_fn(x, w, b):
        return TH_CONV[d](TF.pad(x, torch_pad_arg(pairs)), w, b, stride=stride, dilation=dilation)
    st_out, _ = check_against_torch(
        lambda x, w, b: ST_CONV[d](x, w, b, stride=stride, padding="same", dilation=dilation), torch_fn,
        conv_shapes(d, kernel=kernel, spatial=spatial), seed=61 + stride)
    assert st_out.shape[2:] == tuple(math.ceil(n / stride) for n in spatial)


def test_tf_same_pads_reference_values():
    # Hand-worked values of the oracle rule itself (not of strided): TF puts the odd pixel at the end.
    assert tf_same_pads(7, 3, 2, 1) == (1, 1)       # out 4: needs 3*2+3 = 9 -> total 2
    assert tf_same_pads(8, 3, 2, 1) == (0, 1)       # out 4: 9 - 8 = 1
    assert tf_same_pads(10, 4, 3, 1) == (1, 2)      # out 4: 9+4 = 13 -> 3
    assert tf_same_pads(5, 1, 3, 1) == (0, 0)
    assert tf_same_pads(6, 3, 2, 2) == (1, 2)       # out 3: 2*2 + 2*2 + 1 - 6 = 3


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kernel, dilation, stride", [(3, 1, 1), (2, 2, 1), (3, 1, 2)])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_full(d, kernel, dilation, stride):
    p = (kernel - 1) * dilation
    st_out, _ = check_against_torch(
        lambda x, w, b: ST_CONV[d](x, w, b, padding="full", dilation=dilation, stride=stride),
        lambda x, w, b: TH_CONV[d](x, w, b, padding=p, dilation=dilation, stride=stride),
        conv_shapes(d, kernel=kernel), seed=71)
    if stride == 1:
        assert st_out.shape[2:] == tuple(n + p for n in SPATIAL[d])


@needs_torch
@pytest.mark.parametrize("kernel, dilation, stride", [(3, 1, 1), (2, 1, 1), (3, 2, 1), (4, 3, 1), (3, 1, 2)])
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv1d_causal(kernel, dilation, stride):
    left = (kernel - 1) * dilation
    st_out, _ = check_against_torch(
        lambda x, w, b: F.conv1d(x, w, b, padding="causal", dilation=dilation, stride=stride),
        lambda x, w, b: TF.conv1d(TF.pad(x, (left, 0)), w, b, dilation=dilation, stride=stride),
        conv_shapes(1, kernel=kernel, spatial=(11,)), seed=81)
    if stride == 1:
        assert st_out.shape[2] == 11


@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv1d_causal_output_ignores_the_future():
    # Naive oracle: changing x[t] may only change outputs at positions >= t.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 10))
    w = st.Tensor(rng.standard_normal((3, 2, 3)), dtype=np.float64)
    base = F.conv1d(st.Tensor(x, dtype=np.float64), w, padding="causal", dilation=2).data
    x2 = x.copy()
    x2[..., 6] += 1.0
    moved = F.conv1d(st.Tensor(x2, dtype=np.float64), w, padding="causal", dilation=2).data
    changed = np.flatnonzero(np.any(base != moved, axis=(0, 1)))
    assert changed.min() == 6 and set(changed) <= {6, 8}


@needs_torch
@pytest.mark.usefixtures("compute_path")                            # NumPy and compiled kernels
def test_conv_generic_entry_point_matches_conv2d():
    check_against_torch(lambda x, w, b: F.conv(x, w, b, stride=2, padding=1),
                        lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1), conv_shapes(2), seed=3)


# ------------------------------------------------------------------------------------------ pooling
POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),                 # overlapping windows (AlexNet)
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=4, stride=3, padding=2),
]


def pool_ids(case):
    return ",".join(f"{k}={v}" for k, v in case.items())


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_ids)
def test_max_pool(d, case):
    check_against_torch(ST_MAX[d], TH_MAX[d], [(2, 3) + SPATIAL[d]], kwargs=case, seed=91 + d)


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_ids)
@pytest.mark.parametrize("include", [True, False], ids=["count_pad", "no_count_pad"])
def test_avg_pool(d, case, include):
    check_against_torch(ST_AVG[d], TH_AVG[d], [(2, 3) + SPATIAL[d]],
                        kwargs=dict(case, count_include_pad=include), seed=101 + d)


@needs_torch
@pytest.mark.parametrize("d, kernel, stride, padding", [
    (2, (3, 2), (2, 1), (1, 0)),
    (3, (2, 3, 2), (1, 2, 2), (1, 1, 0)),
    (1, (3,), (2,), (1,)),
])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_tuple_arguments(d, kernel, stride, padding, kind):
    st_fn, th_fn = (ST_MAX, TH_MAX) if kind == "max" else (ST_AVG, TH_AVG)
    check_against_torch(st_fn[d], th_fn[d], [(2, 2) + SPATIAL[d]],
                        kwargs=dict(kernel_size=kernel, stride=stride, padding=padding), seed=111)


@needs_torch
def test_max_pool_all_negative_input_never_picks_padding():
    # padding counts as -inf: with every value negative, a zero pad would win if it were zero.
    x = -np.abs(np.random.default_rng(0).standard_normal((1, 2, 5, 5))) - 1
    check_against_torch(F.max_pool2d, TF.max_pool2d, [x], kwargs=dict(kernel_size=3, stride=2, padding=1))


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=3, stride=1)], ids=pool_ids)
def test_max_pool_ties_route_the_gradient_to_the_first_maximum(d, case):
    # few distinct values: many windows hold tied maxima; PyTorch picks the first in scan order
    x = np.random.default_rng(d).integers(0, 3, (2, 2) + SPATIAL[d]).astype(np.float64)
    check_against_torch(ST_MAX[d], TH_MAX[d], [x], kwargs=case)


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
def test_global_max_pool_ties_route_the_gradient_to_the_first_maximum(d):
    adaptive = {1: TF.adaptive_max_pool1d, 2: TF.adaptive_max_pool2d, 3: TF.adaptive_max_pool3d}[d]
    x = np.random.default_rng(d).integers(0, 2, (2, 3) + SPATIAL[d]).astype(np.float64)
    check_against_torch(F.global_max_pool, lambda x: adaptive(x, 1).reshape(x.shape[:2]), [x])


@needs_torch
@pytest.mark.parametrize("stride", [2, 3])
def test_max_pool_same_padding_strided(stride):
    pairs = [tf_same_pads(n, 3, stride, 1) for n in (7, 8)]

    def torch_fn(x):
        return TF.max_pool2d(TF.pad(x, torch_pad_arg(pairs), value=-math.inf), 3, stride)
    check_against_torch(lambda x: F.max_pool2d(x, 3, stride, padding="same"), torch_fn, [(2, 3, 7, 8)], seed=5)


@needs_torch
def test_avg_pool_per_side_padding_counts_zeros():
    pairs = ((0, 1), (1, 0))
    check_against_torch(lambda x: F.avg_pool2d(x, 2, 2, padding=pairs),
                        lambda x: TF.avg_pool2d(TF.pad(x, torch_pad_arg(pairs)), 2, 2), [(2, 3, 5, 5)], seed=6)


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_avg_pool(d, keepdims):
    axes = tuple(range(2, 2 + d))
    check_against_torch(lambda x: F.global_avg_pool(x, keepdims=keepdims),
                        lambda x: x.mean(dim=axes, keepdim=keepdims), [(3, 4) + SPATIAL[d]], seed=121)


@needs_torch
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pool(d, keepdims):
    adaptive = {1: TF.adaptive_max_pool1d, 2: TF.adaptive_max_pool2d, 3: TF.adaptive_max_pool3d}[d]

    def torch_fn(x):
        out = adaptive(x, 1)
        return out if keepdims else out.reshape(x.shape[:2])
    check_against_torch(lambda x: F.global_max_pool(x, keepdims=keepdims), torch_fn, [(3, 4) + SPATIAL[d]],
                        seed=131)


@needs_torch
def test_global_max_pool_matches_amax():
    check_against_torch(F.global_max_pool, lambda x: x.amax(dim=(2, 3)), [(2, 5, 4, 3)], seed=132)


# ------------------------------------------------------------------------------------------ dense
@needs_torch
@pytest.mark.parametrize("x_shape", [(4, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(x_shape, bias):
    check_against_torch(F.linear, TF.linear, [x_shape, (3, 5), (3,) if bias else None], seed=141)


@needs_torch
@pytest.mark.parametrize("start_dim", [1, 2])
def test_flatten(start_dim):
    check_against_torch(lambda x: F.flatten(x, start_dim), lambda x: torch.flatten(x, start_dim),
                        [(2, 3, 4, 5)], seed=142)


# ------------------------------------------------------------------------------------------ activations
@needs_torch
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_elementwise_activation(name, shape):
    check_against_torch(getattr(F, name), getattr(torch, name), [shape], seed=151)


@needs_torch
@pytest.mark.parametrize("slope", [0.01, 0.2, 1.5])
def test_leaky_relu(slope):
    check_against_torch(lambda x: F.leaky_relu(x, slope), lambda x: TF.leaky_relu(x, slope), [(3, 4, 5)],
                        seed=152)


@needs_torch
def test_leaky_relu_default_slope():
    check_against_torch(F.leaky_relu, TF.leaky_relu, [(20,)], seed=153)


@needs_torch
def test_sigmoid_tanh_large_inputs_are_finite():
    x = np.array([-800.0, -50.0, -1.0, 0.5, 50.0, 800.0])
    for st_fn, th_fn in ((F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh)):
        out, _ = check_against_torch(st_fn, th_fn, [x], atol=1e-12)
        assert np.all(np.isfinite(out))


@needs_torch
@pytest.mark.parametrize("shape, dim", [((4, 6), -1), ((4, 6), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((5,), 0)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, shape, dim):
    check_against_torch(lambda x: getattr(F, name)(x, dim=dim), lambda x: getattr(TF, name)(x, dim=dim),
                        [shape], seed=161)


@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_large_logits(name):
    x = np.random.default_rng(0).standard_normal((3, 5)) * 1e4
    out, _ = check_against_torch(lambda x: getattr(F, name)(x, dim=1), lambda x: getattr(TF, name)(x, dim=1), [x],
                                 rtol=1e-12, atol=1e-8)
    assert np.all(np.isfinite(out))


# ------------------------------------------------------------------------------------------ batch norm
BN_SHAPES = [(8, 3), (4, 3, 7), (4, 3, 5, 5), (2, 3, 3, 4, 2)]


@needs_torch
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batch_norm_training_and_running_statistics(shape, affine, momentum):
    rng = np.random.default_rng(171)
    c = shape[1]
    mean0, var0 = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    st_mean, st_var = mean0.copy(), var0.copy()
    th_mean, th_var = torch.tensor(mean0), torch.tensor(var0)
    x = rng.standard_normal(shape) * 3 + 1.5
    params = [(c,), (c,)] if affine else [None, None]

    check_against_torch(
        lambda x, w, b: F.batch_norm(x, st_mean, st_var, w, b, training=True, momentum=momentum, eps=1e-5),
        lambda x, w, b: TF.batch_norm(x, th_mean, th_var, w, b, training=True, momentum=momentum, eps=1e-5),
        [x] + params, seed=172)
    assert_close(st_mean, th_mean.numpy(), what="running_mean")
    assert_close(st_var, th_var.numpy(), what="running_var")
    # and by the written rule, with the unbiased batch variance
    axes = (0,) + tuple(range(2, len(shape)))
    count = x.size // c
    assert_close(st_mean, (1 - momentum) * mean0 + momentum * x.mean(axis=axes), what="running_mean rule")
    assert_close(st_var, (1 - momentum) * var0 + momentum * x.var(axis=axes) * count / (count - 1),
                 what="running_var rule")


@needs_torch
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_uses_running_statistics(shape, affine):
    rng = np.random.default_rng(181)
    c = shape[1]
    mean0, var0 = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    st_mean, st_var = mean0.copy(), var0.copy()
    params = [(c,), (c,)] if affine else [None, None]
    check_against_torch(
        lambda x, w, b: F.batch_norm(x, st_mean, st_var, w, b, training=False, eps=1e-3),
        lambda x, w, b: TF.batch_norm(x, torch.tensor(mean0), torch.tensor(var0), w, b, training=False, eps=1e-3),
        [shape] + params, seed=182)
    np.testing.assert_array_equal(st_mean, mean0)
    np.testing.assert_array_equal(st_var, var0)


@needs_torch
def test_batch_norm_training_without_running_statistics():
    check_against_torch(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                        lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
                        [(6, 4, 3), (4,), (4,)], seed=183)


@needs_torch
def test_batch_norm_repeated_training_steps_track_torch():
    rng = np.random.default_rng(184)
    st_mean, st_var = np.zeros(3), np.ones(3)
    th_mean, th_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for step in range(4):
        x = rng.standard_normal((5, 3, 2, 2)) * (step + 1) + step
        F.batch_norm(st.Tensor(x, dtype=np.float64), st_mean, st_var, training=True, momentum=0.2)
        TF.batch_norm(torch.tensor(x), th_mean, th_var, training=True, momentum=0.2)
    assert_close(st_mean, th_mean.numpy(), what="running_mean")
    assert_close(st_var, th_var.numpy(), what="running_var")


# ------------------------------------------------------------------------------------------ dropout
def _dropout_grad(x, **kwargs):
    t = st.Tensor(x, requires_grad=True, dtype=x.dtype)
    out = F.dropout(t, **kwargs)
    upstream = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype)
    out.backward(upstream)
    return out.data, t.grad, upstream


def test_dropout_p0_is_identity():
    x = np.random.default_rng(0).standard_normal((4, 5))
    out, grad, upstream = _dropout_grad(x, p=0.0, training=True, rng=0)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(grad, upstream)


@pytest.mark.parametrize("p", [0.3, 0.9, 1.0])
def test_dropout_eval_is_identity(p):
    x = np.random.default_rng(0).standard_normal((4, 5))
    out, grad, upstream = _dropout_grad(x, p=p, training=False, rng=0)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(grad, upstream)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_training_mask_statistics_and_gradient(p, dtype):
    n = 200_000
    x = np.random.default_rng(0).uniform(1.0, 2.0, (n // 100, 100)).astype(dtype)
    out, grad, upstream = _dropout_grad(x, p=p, training=True, rng=123)
    assert out.dtype == dtype and grad.dtype == dtype
    kept = out != 0
    # zeroed fraction is Binomial(n, p)/n: within 5 standard deviations of p
    assert abs((1 - kept.mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)
    # survivors are scaled by 1/(1-p) so the expectation is unchanged
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-6)
    assert abs(out.mean() / x.mean() - 1) < 5 * math.sqrt(p / ((1 - p) * n)) * 1.2
    # the gradient is the same mask, same scale: upstream * mask / (1 - p)
    mask = kept.astype(np.float64) / (1 - p)
    np.testing.assert_allclose(grad, upstream * mask, rtol=1e-6)


def test_dropout_p1_zeroes_everything():
    x = np.random.default_rng(0).standard_normal((3, 4))
    out, grad, _ = _dropout_grad(x, p=1.0, training=True, rng=0)
    assert not out.any() and not grad.any()


def test_dropout_randomness_comes_from_the_seed():
    x = np.ones((50, 50), dtype=np.float32)
    a = F.dropout(st.Tensor(x), 0.5, True, rng=7).data
    b = F.dropout(st.Tensor(x), 0.5, True, rng=7).data
    c = F.dropout(st.Tensor(x), 0.5, True, rng=8).data
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    gen = np.random.default_rng(3)
    first, second = F.dropout(st.Tensor(x), 0.5, True, rng=gen).data, F.dropout(st.Tensor(x), 0.5, True, rng=gen).data
    assert (first != second).any()          # a Generator advances between calls


# ------------------------------------------------------------------------------------------ losses
@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n, c", [(5, 4), (1, 3), (16, 10)])
def test_cross_entropy(reduction, n, c):
    labels = Const(np.random.default_rng(n).integers(0, c, n))
    check_against_torch(lambda z, y: F.cross_entropy(z, y, reduction=reduction),
                        lambda z, y: TF.cross_entropy(z, y, reduction=reduction), [(n, c), labels], seed=191)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_large_logits_stay_finite(reduction):
    rng = np.random.default_rng(192)
    z = rng.standard_normal((6, 5)) * 1e4
    labels = Const(rng.integers(0, 5, 6))
    out, _ = check_against_torch(lambda z, y: F.cross_entropy(z, y, reduction=reduction),
                                 lambda z, y: TF.cross_entropy(z, y, reduction=reduction), [z, labels],
                                 rtol=1e-12, atol=1e-8)
    assert np.all(np.isfinite(out))


@needs_torch
def test_cross_entropy_large_logits_float32():
    z = np.array([[1e4, -1e4, 0.0], [3e4, 3e4 - 1, -2e4]], dtype=np.float32)
    t = st.Tensor(z, requires_grad=True)
    loss = F.cross_entropy(t, np.array([1, 0]))
    loss.backward()
    ref = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    ref_loss = TF.cross_entropy(ref, torch.tensor([1, 0]))
    ref_loss.backward()
    assert loss.dtype == np.float32 and t.grad.dtype == np.float32
    assert np.isfinite(loss.item()) and np.all(np.isfinite(t.grad))
    np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-6)
    np.testing.assert_allclose(t.grad, ref.grad.numpy(), rtol=1e-5, atol=1e-7)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4)])
def test_mse_loss(reduction, shape):
    check_against_torch(lambda p, t: F.mse_loss(p, t, reduction=reduction),
                        lambda p, t: TF.mse_loss(p, t, reduction=reduction), [shape, shape], seed=201)


@needs_torch
def test_mse_loss_with_constant_target():
    target = Const(np.random.default_rng(0).standard_normal((3, 4)))
    check_against_torch(F.mse_loss, lambda p, t: TF.mse_loss(p, t.double()), [(3, 4), target], seed=202)


# ------------------------------------------------------------------------------------------ float32 path
FLOAT32_CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding="same", groups=2),
               lambda x, w, b: TF.conv2d(TF.pad(x, (0, 1, 0, 1)), w, b, stride=2, groups=2),
               [(2, 4, 6, 6), (6, 2, 3, 3), (6,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: TF.max_pool2d(x, 3, 2, 1), [(2, 3, 7, 7)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                   lambda x: TF.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(2, 3, 7, 7)]),
    "linear": (F.linear, lambda x, w, b: TF.linear(x, w, b), [(4, 5), (3, 5), (3,)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                   lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), [(4, 3, 5), (3,), (3,)]),
    "log_softmax": (lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), [(4, 6)]),
    "sigmoid": (F.sigmoid, lambda x: torch.sigmoid(x), [(4, 6)]),
    "global_avg_pool": (F.global_avg_pool, lambda x: x.mean(dim=(2, 3)), [(2, 3, 4, 4)]),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_inputs_stay_float32(name):
    st_fn, th_fn, shapes = FLOAT32_CASES[name]
    rng = np.random.default_rng(211)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    st_in = [st.Tensor(a, requires_grad=True) for a in arrays]
    th_in = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    out, ref = st_fn(*st_in), th_fn(*th_in)
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream.astype(np.float64)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    for s, t in zip(st_in, th_in):
        assert s.grad.dtype == np.float32
        np.testing.assert_allclose(s.grad, t.grad.numpy(), rtol=1e-4, atol=1e-5)
