"""``st.nn.init`` against ``torch.nn.init`` and the formulas: gains, fans, deterministic fills
exactly, random fills by their statistics over large tensors (mean and std of the formula)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided import nn
from strided.nn import init

BIG = (256, 128, 3, 3)                    # 294,912 values: the sample std is within ~0.3% of the truth
FAN_IN, FAN_OUT = 128 * 9, 256 * 9


def big(dtype=np.float32):
    return nn.Parameter(np.zeros(BIG, dtype=dtype), dtype=dtype)


def assert_moments(values, mean, std, rtol=0.01):
    values = np.asarray(values, dtype=np.float64)
    assert abs(values.mean() - mean) < 6 * std / math.sqrt(values.size), (values.mean(), mean)
    assert values.std() == pytest.approx(std, rel=rtol)


# --------------------------------------------------------------------------------------------- gain and fans

GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose2d", None),
         ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
         ("leaky_relu", 0), ("leaky_relu", 1), ("selu", None)]


@needs_torch
@pytest.mark.parametrize("nonlinearity, param", GAINS)
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_calculate_gain_by_hand_and_errors():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", 0.1) == math.sqrt(2 / 1.01)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True"):
        init.calculate_gain("leaky_relu", True)


@needs_torch
@pytest.mark.parametrize("shape", [(3, 5), (16, 3, 3, 3), (8, 4, 5), (2, 3, 4, 5, 6), (7, 1), (6, 2, 1, 1)])
def test_fans_equal_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(np.zeros(shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    for mode in ("fan_in", "fan_out"):
        assert init._calculate_correct_fan(np.zeros(shape), mode) == \
            torch.nn.init._calculate_correct_fan(torch.zeros(shape), mode)


def test_fans_need_two_dimensions_and_a_known_mode():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(np.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(np.zeros((3, 4)), mode="fan_avg")


# --------------------------------------------------------------------------------------------- random fills


def test_uniform_and_normal_fill_in_place_with_their_moments():
    p = big()
    data = p.data
    assert init.uniform_(p, -2.0, 4.0, generator=0) is p
    assert p.data is data and p.data.dtype == np.float32 and p.shape == BIG
    assert p.data.min() >= -2.0 and p.data.max() < 4.0
    assert_moments(p.data, 1.0, 6 / math.sqrt(12))
    init.normal_(p, mean=0.5, std=0.02, generator=1)
    assert_moments(p.data, 0.5, 0.02)


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier_bounds_and_stds(gain):
    std = gain * math.sqrt(2.0 / (FAN_IN + FAN_OUT))
    p = init.xavier_uniform_(big(), gain=gain, generator=0)
    bound = math.sqrt(3.0) * std
    assert np.abs(p.data).max() <= bound * (1 + 1e-6) and np.abs(p.data).max() > 0.999 * bound
    assert_moments(p.data, 0.0, std)
    assert_moments(init.xavier_normal_(big(), gain=gain, generator=1).data, 0.0, std)


@pytest.mark.parametrize("a, mode, nonlinearity, fan", [
    (0, "fan_in", "leaky_relu", FAN_IN), (0, "fan_out", "relu", FAN_OUT), (0.2, "fan_in", "leaky_relu", FAN_IN),
    (math.sqrt(5), "fan_in", "leaky_relu", FAN_IN), (0, "fan_out", "tanh", FAN_OUT)])
def test_kaiming_bounds_and_stds(a, mode, nonlinearity, fan):
    gain = init.calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    p = init.kaiming_uniform_(big(), a=a, mode=mode, nonlinearity=nonlinearity, generator=0)
    assert np.abs(p.data).max() <= math.sqrt(3) * std * (1 + 1e-6)
    assert_moments(p.data, 0.0, std)
    assert_moments(init.kaiming_normal_(big(), a, mode, nonlinearity, generator=2).data, 0.0, std)


def test_kaiming_uniform_with_sqrt5_is_the_layers_default_bound():
    """PyTorch's conv default, kaiming_uniform_(a=sqrt(5)), is U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    w = init.kaiming_uniform_(np.zeros((64, 32, 3, 3)), a=math.sqrt(5), generator=0)
    assert np.abs(w).max() <= 1 / math.sqrt(32 * 9) and np.abs(w).max() > 0.99 / math.sqrt(32 * 9)


def test_zero_element_kaiming_warns_and_does_nothing():
    empty = np.zeros((0, 3))
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_normal_(empty) is empty


def truncated_moments(mean, std, a, b):
    """Mean and std of N(mean, std^2) truncated to [a, b] (the textbook formulas)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)                # noqa: E731
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2                          # noqa: E731
    z = cdf(beta) - cdf(alpha)
    m = (pdf(alpha) - pdf(beta)) / z
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0),             # most of the mass inside: normal draws, the rest redrawn
    (0.0, 0.02, -0.04, 0.04),          # timm's ViT init
    (0.0, 1.0, 1.0, 3.0),              # a tail (mass 0.16): uniform candidates, accepted by density
    (1.0, 0.5, -1.0, 0.5),             # the mode outside [a, b]
])
def test_trunc_normal_stays_inside_with_the_truncated_moments(mean, std, a, b):
    p = init.trunc_normal_(big(np.float64), mean, std, a, b, generator=0)
    assert p.data.min() >= a and p.data.max() <= b
    expected_mean, expected_std = truncated_moments(mean, std, a, b)
    assert_moments(p.data, expected_mean, expected_std)


def test_orthogonal_rows_or_columns_are_orthonormal():
    tall = init.orthogonal_(np.zeros((20, 6)), generator=0)
    np.testing.assert_allclose(tall.T @ tall, np.eye(6), atol=1e-12)
    wide = init.orthogonal_(np.zeros((4, 3, 2, 2)), gain=2.0, generator=1).reshape(4, 12)
    np.testing.assert_allclose(wide @ wide.T, 4 * np.eye(4), atol=1e-12)
    assert init.orthogonal_(np.zeros((5, 5)), generator=0) == pytest.approx(
        init.orthogonal_(np.zeros((5, 5)), generator=0))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(np.zeros(3))


def test_sparse_zeros_per_column():
    w = init.sparse_(np.zeros((100, 40)), sparsity=0.25, std=0.5, generator=0)
    assert ((w == 0).sum(axis=0) == 25).all()
    assert_moments(w[w != 0], 0.0, 0.5, rtol=0.05)


def test_generator_argument_gives_reproducible_draws():
    """A seed means np.random.default_rng(seed): uniform_(a, b) is ``a + (b - a) * random()``."""
    out = init.uniform_(np.zeros((3, 4)), -1.0, 3.0, generator=7)
    np.testing.assert_array_equal(out, -1.0 + 4.0 * np.random.default_rng(7).random((3, 4)))
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(init.normal_(np.zeros(5), generator=g1), init.normal_(np.zeros(5), generator=g2))
    assert not np.array_equal(init.normal_(np.zeros(5), generator=g1), init.normal_(np.zeros(5), generator=3))


# --------------------------------------------------------------------------------------------- deterministic fills


@needs_torch
@pytest.mark.parametrize("shape, groups", [((6, 4, 3), 1), ((4, 4, 3, 3), 2), ((6, 2, 3, 5), 3), ((2, 3, 3, 3, 3), 1),
                                           ((3, 5, 4, 4), 1)])
def test_dirac_equals_torch(shape, groups):
    ours = init.dirac_(np.full(shape, 7.0), groups=groups)
    theirs = torch.nn.init.dirac_(torch.full(shape, 7.0, dtype=torch.float64), groups=groups)
    np.testing.assert_array_equal(ours, theirs.numpy())


@needs_torch
@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (6, 4)])
def test_eye_equals_torch(shape):
    np.testing.assert_array_equal(init.eye_(np.full(shape, 3.0)), torch.nn.init.eye_(torch.zeros(shape)).numpy())


def test_constant_fills_and_errors():
    p = nn.Parameter(np.ones((2, 3), dtype=np.float32))
    assert init.zeros_(p) is p and not p.data.any()
    assert (init.ones_(p).data == 1).all() and (init.constant_(p, 0.25).data == 0.25).all()
    t = st.Tensor(np.zeros(3))
    assert (init.constant_(t, -1.5).data == -1.5).all()
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="Parameter, Tensor or numpy array"):
        init.zeros_([0.0, 1.0])
    with pytest.raises(ValueError, match="eye_: expected a 2-D tensor"):
        init.eye_(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="divisible by groups=4"):
        init.dirac_(np.zeros((6, 2, 3)), groups=4)
    with pytest.raises(ValueError, match="needs std > 0 and a < b"):
        init.trunc_normal_(np.zeros(3), a=1.0, b=0.0)


def test_init_reinitialises_a_layer_that_then_trains():
    layer = nn.Linear(8, 4, rng=0)
    init.xavier_uniform_(layer.weight, generator=0)
    init.zeros_(layer.bias)
    out = layer(np.ones((2, 8), dtype=np.float32))
    out.sum().backward()
    np.testing.assert_allclose(layer.bias.grad, [2.0] * 4)
    np.testing.assert_allclose(out.data[0], layer.weight.data.sum(axis=1), rtol=1e-6)
