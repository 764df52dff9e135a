"""Activations against ``torch.nn.functional`` in float64 (forward and input gradient), at the kinks
and for large ``|x|``; float32 in, float32 out; PReLU's weight gradient; named errors for bad
arguments. Without PyTorch, the central-difference and hand-computed tests still run."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.nn import functional as F

from oracle import TF, check_against_torch, check_gradients, needs_torch, torch

# Every place where some activation has a kink or switches formula, and around them.
KINKS = np.array([-20.0, -6.0, -3.0, -2.5, -2.0, -1.0, -0.5, -1e-12, 0.0, 1e-12, 0.5, 1.0, 2.0, 2.5, 3.0, 6.0, 20.0])
LARGE = np.array([-1e4, -1000.0, -100.0, -40.0, -30.0, 30.0, 40.0, 100.0, 1000.0, 1e4])


def normal(shape=(2, 3, 4, 5), scale=3.0, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


# name -> (strided function, torch function or None for the attribute of the same name); both get x only.
def cases():
    if torch is None:
        return {}
    return {
        "relu": (F.relu, TF.relu),
        "relu6": (F.relu6, TF.relu6),
        "hardtanh": (F.hardtanh, TF.hardtanh),
        "hardtanh(-2, 3)": (lambda x: F.hardtanh(x, -2.0, 3.0), lambda x: TF.hardtanh(x, -2.0, 3.0)),
        "hardtanh(1, 1)": (lambda x: F.hardtanh(x, 1.0, 1.0), lambda x: TF.hardtanh(x, 1.0, 1.0)),
        "leaky_relu": (F.leaky_relu, TF.leaky_relu),
        "leaky_relu(0.2)": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
        "leaky_relu(-0.5)": (lambda x: F.leaky_relu(x, -0.5), lambda x: TF.leaky_relu(x, -0.5)),
        "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
        "hardswish": (F.hardswish, TF.hardswish),
        "sigmoid": (F.sigmoid, torch.sigmoid),
        "tanh": (F.tanh, torch.tanh),
        "elu": (F.elu, TF.elu),
        "elu(0.5)": (lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
        "elu(-1)": (lambda x: F.elu(x, alpha=-1.0), lambda x: TF.elu(x, alpha=-1.0)),
        "selu": (F.selu, TF.selu),
        "celu": (F.celu, TF.celu),
        "celu(2)": (lambda x: F.celu(x, 2.0), lambda x: TF.celu(x, 2.0)),
        "celu(0.3)": (lambda x: F.celu(x, alpha=0.3), lambda x: TF.celu(x, alpha=0.3)),
        "softplus": (F.softplus, TF.softplus),
        "softplus(2, 1)": (lambda x: F.softplus(x, 2.0, 1.0), lambda x: TF.softplus(x, 2.0, 1.0)),
        "softplus(0.5, 3)": (lambda x: F.softplus(x, beta=0.5, threshold=3.0),
                             lambda x: TF.softplus(x, beta=0.5, threshold=3.0)),
        "softplus(-1)": (lambda x: F.softplus(x, beta=-1.0), lambda x: TF.softplus(x, beta=-1.0)),
        "silu": (F.silu, TF.silu),
        "mish": (F.mish, TF.mish),
        "gelu": (F.gelu, TF.gelu),
        "gelu(tanh)": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    }


CASE_NAMES = ["relu", "relu6", "hardtanh", "hardtanh(-2, 3)", "hardtanh(1, 1)", "leaky_relu", "leaky_relu(0.2)",
              "leaky_relu(-0.5)", "hardsigmoid", "hardswish", "sigmoid", "tanh", "elu", "elu(0.5)", "elu(-1)", "selu",
              "celu", "celu(2)", "celu(0.3)", "softplus", "softplus(2, 1)", "softplus(0.5, 3)", "softplus(-1)", "silu",
              "mish", "gelu", "gelu(tanh)"]
# PyTorch's float64 backward of these rounds a constant to float32 (hardsigmoid's 1/6, CELU's alpha when it
# is not a float32 number): its gradient is then off by ~1e-7 relative. Ours is exact (test_hand_values_*), so
# the gradient is compared at this tolerance and the forward at the default one.
TORCH_GRAD_RTOL = {"hardsigmoid": 1e-7, "celu(0.3)": 1e-6, "Hardsigmoid": 1e-7}


def compare(name, ours, theirs, x):
    rtol = TORCH_GRAD_RTOL.get(name)
    if rtol is None:
        return check_against_torch(ours, theirs, inputs=[x])
    check_against_torch(ours, theirs, inputs=[x], grad=False)
    return check_against_torch(ours, theirs, inputs=[x], rtol=rtol)


SMOOTH_NAMES = ["sigmoid", "tanh", "elu", "selu", "celu", "softplus", "softplus(-1)", "silu", "mish", "gelu",
                "gelu(tanh)"]


@needs_torch
def test_case_table_is_complete():
    assert sorted(cases()) == sorted(CASE_NAMES)


@needs_torch
@pytest.mark.parametrize("name", CASE_NAMES)
def test_against_torch_on_random_inputs(name):
    compare(name, *cases()[name], normal())


@needs_torch
@pytest.mark.parametrize("name", CASE_NAMES)
def test_against_torch_exactly_at_the_kinks(name):
    """Values and gradients at the points where PyTorch picks one side (0, +-3, 6, the thresholds)."""
    compare(name, *cases()[name], np.concatenate([KINKS, -KINKS / 3, KINKS / 2]))


@needs_torch
@pytest.mark.parametrize("name", SMOOTH_NAMES)
def test_against_torch_for_large_inputs_without_overflow(name):
    ours, theirs = cases()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)                  # no overflow / invalid value on the way
        out, _ = check_against_torch(ours, theirs, inputs=[LARGE])
    assert np.isfinite(out).all()


@needs_torch
def test_gelu_exact_to_float64_rounding():
    """The exact GELU rides on our erf: on a dense grid it agrees with PyTorch's to ~1e-15."""
    x = np.linspace(-9, 9, 20001)
    out, want = check_against_torch(F.gelu, TF.gelu, inputs=[x])
    np.testing.assert_allclose(out, want, rtol=4e-15, atol=2e-15)


@needs_torch
@pytest.mark.parametrize("shape, channels", [((2, 3), 3), ((2, 3, 5), 3), ((2, 4, 3, 3), 4), ((1, 2, 2, 2, 3), 2),
                                             ((2, 3, 5), 1), ((7,), 1), ((), 1)])
def test_prelu_against_torch_with_weight_gradient(shape, channels):
    weight = np.random.default_rng(5).uniform(-0.5, 0.5, channels)
    x = normal(shape, seed=2)
    if x.ndim:
        x.reshape(-1)[:3] = 0.0                                          # the kink: slope side, no weight gradient
    check_against_torch(F.prelu, TF.prelu, inputs=[x, weight])


@needs_torch
def test_prelu_module_matches_torch_module():
    ours, theirs = nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1).double()
    assert ours.weight.shape == (3,) and ours.weight.dtype == np.float32
    np.testing.assert_array_equal(ours.weight.data, np.full(3, 0.1, dtype=np.float32))
    ours.double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64))
    ours.load_state_dict({"weight": np.array([0.1, -0.2, 0.3])})
    x = normal((4, 3, 5))
    y, ty = ours(st.Tensor(x, requires_grad=True)), theirs(torch.tensor(x, requires_grad=True))
    upstream = normal((4, 3, 5), seed=9)
    y.backward(upstream)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert nn.PReLU().weight.shape == (1,) and float(nn.PReLU().weight.data[0]) == 0.25


MODULES = {   # name -> (strided module, torch module), same settings
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    "ReLU6": (lambda: nn.ReLU6(), lambda: torch.nn.ReLU6()),
    "Hardtanh": (lambda: nn.Hardtanh(-2.0, 3.0), lambda: torch.nn.Hardtanh(-2.0, 3.0)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid()),
    "Hardswish": (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    "ELU": (lambda: nn.ELU(0.7), lambda: torch.nn.ELU(0.7)),
    "SELU": (lambda: nn.SELU(), lambda: torch.nn.SELU()),
    "CELU": (lambda: nn.CELU(1.5), lambda: torch.nn.CELU(1.5)),
    "Softplus": (lambda: nn.Softplus(2.0, 5.0), lambda: torch.nn.Softplus(2.0, 5.0)),
    "SiLU": (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    "Mish": (lambda: nn.Mish(), lambda: torch.nn.Mish()),
    "GELU": (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    "GELU-tanh": (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    "PReLU": (lambda: nn.PReLU(), lambda: torch.nn.PReLU()),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_against_torch_modules(name):
    ours, theirs = MODULES[name][0]().double(), MODULES[name][1]().double()
    compare(name, ours, theirs, np.concatenate([normal((40,)), KINKS]))


@needs_torch
@pytest.mark.parametrize("name", sorted(set(MODULES) - {"Sigmoid", "Tanh", "PReLU", "GELU-tanh"}))
def test_repr_matches_torch(name):
    ours, theirs = MODULES[name][0](), MODULES[name][1]()
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_float32_in_float32_out(name):
    module = MODULES[name][0]()
    x = st.Tensor(normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    y = module(x)
    assert y.dtype == np.float32, f"{name} gave {y.dtype}"
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32
    for p in module.parameters():
        assert p.grad.dtype == np.float32


@pytest.mark.parametrize("name", sorted(MODULES))
def test_float32_large_inputs_stay_finite_without_warnings(name):
    module = MODULES[name][0]()
    x = st.Tensor(LARGE.astype(np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        y = module(x)
        y.backward(np.ones(y.shape, dtype=np.float32))
    assert np.isfinite(y.data).all() and np.isfinite(x.grad).all()
    positive = LARGE > 0                                                # far right: the identity, slope 1 (bar the
    if name not in ("Sigmoid", "Tanh", "Hardsigmoid", "Hardtanh", "ReLU6", "SELU"):   # bounded or scaled ones)
        np.testing.assert_allclose(y.data[positive], LARGE[positive], rtol=1e-6)
        np.testing.assert_allclose(x.grad[positive], 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_memory_layout_is_kept(name):
    """A batch-last input (a convolution's output) gives a batch-last output: no transpose is copied."""
    module = MODULES[name][0]()
    x = np.ascontiguousarray(normal((3, 4, 5, 2)).astype(np.float32)).transpose(3, 0, 1, 2)   # (N, C, H, W) seen
    y = module(x).data
    assert y.strides == x.strides, f"{name}: {y.strides} != {x.strides}"


# ------------------------------------------------------------------------------------------ without torch


@pytest.mark.parametrize("name", sorted(MODULES))
def test_gradients_match_central_differences(name):
    """Away from the kinks (inputs kept 0.01 from them) backward equals central differences."""
    module = MODULES[name][0]().double()
    x = normal((3, 4), scale=2.5, seed=3)
    for kink in (-3.0, -2.0, 0.0, 3.0, 6.0, 2.5):
        x = np.where(np.abs(x - kink) < 0.01, x + 0.05, x)
    check_gradients(lambda t: module(t), inputs=[x], params=list(module.parameters()))


def grad_at(fn, values, **kwargs):
    x = st.Tensor(np.array(values, dtype=np.float64), requires_grad=True)
    y = fn(x, **kwargs)
    y.backward(np.ones(y.shape))
    return y.data, x.grad


def test_hand_values_at_the_kinks():
    """PyTorch's choices, written out: which side's gradient each piecewise function takes."""
    assert grad_at(F.relu, [0.0, 1.0])[1].tolist() == [0.0, 1.0]
    assert grad_at(F.relu6, [0.0, 3.0, 6.0, 7.0])[1].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert grad_at(F.hardtanh, [-1.0, 0.0, 1.0])[1].tolist() == [0.0, 1.0, 0.0]
    assert grad_at(F.leaky_relu, [0.0], negative_slope=0.1)[1].tolist() == [0.1]
    out, grad = grad_at(F.hardswish, [-3.0, -1.5, 3.0, 4.0])
    assert out.tolist() == [0.0, -0.375, 3.0, 4.0] and grad.tolist() == [0.0, 0.0, 1.0, 1.0]
    out, grad = grad_at(F.hardsigmoid, [-3.0, 0.0, 3.0])
    assert out.tolist() == [0.0, 0.5, 1.0] and grad.tolist() == [0.0, 1 / 6, 0.0]
    assert grad_at(F.elu, [0.0], alpha=2.0)[1].tolist() == [2.0]                  # the exponential side at 0
    assert grad_at(F.celu, [0.0], alpha=2.0)[1].tolist() == [1.0]
    x = np.array([-10.0, -5.0, -1.0])
    np.testing.assert_allclose(grad_at(F.celu, x, alpha=0.3)[1], np.exp(x / 0.3), rtol=1e-14)
    out, grad = grad_at(F.softplus, [1.0, 0.5], beta=2.0, threshold=1.0)          # beta x = 2 > 1: linear
    assert out[0] == 1.0 and grad[0] == 1.0
    assert abs(out[1] - math.log(1 + math.e) / 2) < 1e-15                         # beta x = 1, not > 1: smooth
    weight = st.Tensor(np.array([0.3]), requires_grad=True)
    x = st.Tensor(np.array([0.0, -2.0]), requires_grad=True)
    F.prelu(x, weight).backward(np.ones(2))
    assert x.grad.tolist() == [0.3, 0.3] and weight.grad.tolist() == [-2.0]


def test_smooth_values_by_hand():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(F.gelu(st.Tensor(x)).data, x * phi, rtol=1e-15, atol=1e-16)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(F.silu(st.Tensor(x)).data, x * sig, rtol=1e-15)
    np.testing.assert_allclose(F.mish(st.Tensor(x)).data, x * np.tanh(np.log1p(np.exp(x))), rtol=1e-15)
    selu = np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)) * 1.0507009873554805
    np.testing.assert_allclose(F.selu(st.Tensor(x)).data, selu, rtol=1e-15)
    np.testing.assert_allclose(F.softplus(st.Tensor(np.array([-800.0, 800.0]))).data, [0.0, 800.0])
    np.testing.assert_allclose(F.softplus(st.Tensor(np.array([800.0])), threshold=1e6).data, [800.0])


@pytest.mark.parametrize("fn", [F.relu, F.relu6, F.hardtanh, F.leaky_relu, F.hardsigmoid, F.hardswish, F.elu,
                                F.selu, F.celu, F.silu, F.mish])
def test_inplace_is_accepted_and_leaves_the_input(fn):
    x = normal((2, 3)).astype(np.float32)
    kept = x.copy()
    np.testing.assert_array_equal(fn(st.Tensor(x), inplace=True).data, fn(st.Tensor(x)).data)
    np.testing.assert_array_equal(x, kept)


def test_modules_take_inplace_and_show_it():
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.Hardtanh(inplace=True)) == "Hardtanh(min_val=-1.0, max_val=1.0, inplace=True)"
    for cls in (nn.ReLU6, nn.LeakyReLU, nn.Hardsigmoid, nn.Hardswish, nn.ELU, nn.SELU, nn.CELU, nn.SiLU, nn.Mish):
        assert cls(inplace=True).inplace is True and cls().inplace is False


def test_existing_softmax_modules_still_work():
    x = normal((2, 3, 4))
    p = nn.Softmax(dim=1)(x).data
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(x).data, np.log(p), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("build, error, words", [
    (lambda: nn.Hardtanh(2.0, 1.0), ValueError, ["Hardtanh", "min_val", "2.0", "1.0"]),
    (lambda: nn.Hardtanh(1.0, 1.0), ValueError, ["Hardtanh", "less than"]),
    (lambda: F.hardtanh(np.zeros(2), 2.0, 1.0), ValueError, ["hardtanh", "min_val"]),
    (lambda: nn.Hardtanh("a"), TypeError, ["Hardtanh", "min_val", "'a'"]),
    (lambda: nn.PReLU(0), ValueError, ["PReLU", "num_parameters", "0"]),
    (lambda: nn.PReLU(2.0), TypeError, ["PReLU", "num_parameters", "2.0"]),
    (lambda: nn.PReLU(True), TypeError, ["PReLU", "num_parameters", "True"]),
    (lambda: nn.PReLU(init="x"), TypeError, ["PReLU", "init"]),
    (lambda: nn.GELU("erf"), ValueError, ["GELU", "approximate", "'erf'"]),
    (lambda: F.gelu(np.zeros(2), approximate=None), ValueError, ["gelu", "approximate"]),
    (lambda: nn.CELU(alpha=0.0), ValueError, ["CELU", "alpha", "0"]),
    (lambda: F.celu(np.zeros(2), alpha=0), ValueError, ["celu", "alpha"]),
    (lambda: nn.Softplus(beta=0), ValueError, ["Softplus", "beta"]),
    (lambda: nn.Softplus(threshold=None), TypeError, ["Softplus", "threshold", "None"]),
    (lambda: nn.ELU(alpha=True), TypeError, ["ELU", "alpha", "True"]),
    (lambda: nn.LeakyReLU("0.1"), TypeError, ["LeakyReLU", "negative_slope"]),
    (lambda: nn.ReLU(inplace="yes"), TypeError, ["ReLU", "inplace", "'yes'"]),
    (lambda: F.relu6(np.zeros(2), inplace=1), TypeError, ["relu6", "inplace"]),
])
def test_bad_arguments_raise_named_errors(build, error, words):
    with pytest.raises(error) as info:
        build()
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("shape", [(2, 4, 5), (2, 4), (3,), ()])
def test_prelu_with_the_wrong_channel_count_names_layer_and_shape(shape):
    layer = nn.PReLU(3)
    with pytest.raises(st.ShapeError) as info:
        layer(np.zeros(shape, dtype=np.float32))
    message = str(info.value)
    assert "PReLU(num_parameters=3)" in message and str(shape) in message and "(N, 3, *)" in message
    with pytest.raises(st.ShapeError):
        layer.output_shape(shape)


def test_prelu_refuses_mixed_dtypes_naming_both():
    with pytest.raises(TypeError, match=r"PReLU\(num_parameters=2\): input is float64 but weight is float32"):
        nn.PReLU(2)(st.Tensor(np.zeros((1, 2)), dtype=np.float64))
    assert nn.PReLU(2)(np.zeros((1, 2))).dtype == np.float32                    # a raw array takes the weight's


def test_prelu_weight_of_the_wrong_rank():
    with pytest.raises(st.ShapeError, match=r"prelu: expected weight \(C,\).*got \(3, 1\)"):
        F.prelu(np.zeros((2, 3)), np.zeros((3, 1)))


def test_prelu_single_weight_takes_any_rank_and_counts_its_parameter():
    layer = nn.PReLU()
    for shape in [(), (5,), (2, 7), (1, 2, 3, 4, 5)]:
        assert layer(np.full(shape, -4.0, dtype=np.float32)).data.tolist() == np.full(shape, -1.0).tolist()
    assert nn.PReLU(16).cost((8, 16, 4, 4)) == (16, 0)


NON_FINITE = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0, -1.0, 50.0, -50.0])


@needs_torch
@pytest.mark.parametrize("name", ["sigmoid", "silu", "elu", "elu(0.5)", "elu(-1)", "selu", "celu(2)", "softplus",
                                  "softplus(-1)", "leaky_relu", "leaky_relu(-0.5)"])
def test_infinities_and_nan_match_torch(name):
    """Values and gradients at +-inf, NaN and +-0 (the select-free forms keep PyTorch's choices)."""
    ours, theirs = cases()[name]
    xs = st.Tensor(NON_FINITE.copy(), requires_grad=True)
    xt = torch.tensor(NON_FINITE, requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = ours(xs)
        y.backward(np.ones(NON_FINITE.shape))
    yt = theirs(xt)
    yt.backward(torch.ones_like(xt))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-14, atol=0, equal_nan=True)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-14, atol=0, equal_nan=True)
