"""strided's hand-written backward passes against central differences of its own forward (float64).

No PyTorch here: the oracle is ``(f(x + eps) - f(x - eps)) / (2 eps)`` per entry, for a scalar
``f = sum(op(inputs) * R)`` with a fixed random ``R``.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import Const, check_gradients, numerical_grad
from strided import nn


def test_numerical_grad_of_a_known_function():
    # the helper itself, on f(a) = sum(a^3) whose gradient is 3 a^2
    a = np.random.default_rng(0).standard_normal((3, 4))
    grad = numerical_grad(lambda: float(np.sum(a ** 3)), a)
    np.testing.assert_allclose(grad, 3 * a ** 2, rtol=1e-8, atol=1e-8)


def test_check_gradients_catches_a_wrong_backward():
    # an op whose backward is off by a factor must be rejected by the helper
    def bad_square(x):
        return st.Tensor.from_op(x.data ** 2, (x,), lambda g: (g * x.data,), "bad_square")
    with pytest.raises(AssertionError):
        check_gradients(bad_square, [(3, 3)])


# ------------------------------------------------------------------------------------------ convolution
CONV_GRAD_CASES = [
    (1, (2, 4, 11), (6, 2, 3), dict(stride=2, dilation=2, groups=2, padding=1)),
    (1, (2, 3, 10), (3, 3, 4), dict(padding="causal", dilation=2)),
    (1, (2, 2, 9), (4, 2, 3), dict(stride=2, padding="same")),
    (2, (2, 4, 7, 8), (6, 2, 3, 3), dict(stride=2, dilation=(1, 2), groups=2, padding=(1, 2))),
    (2, (2, 3, 7, 6), (6, 1, 3, 2), dict(stride=2, padding="same", groups=3)),
    (2, (1, 2, 5, 5), (3, 2, 2, 3), dict(padding="full")),
    (2, (2, 2, 6, 6), (3, 2, 3, 3), dict(stride=3, padding=((0, 2), (1, 0)))),
    (3, (1, 4, 5, 6, 5), (4, 2, 2, 3, 2), dict(stride=(2, 1, 2), dilation=(1, 2, 1), groups=2, padding=1)),
    (3, (1, 2, 5, 4, 5), (2, 2, 3, 2, 3), dict(stride=2, padding="same")),
]


@pytest.mark.parametrize("d, x_shape, w_shape, kw", CONV_GRAD_CASES,
                         ids=[f"{c[0]}d-{i}" for i, c in enumerate(CONV_GRAD_CASES)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_gradients(d, x_shape, w_shape, kw, bias):
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[d]
    check_gradients(lambda x, w, b: fn(x, w, b, **kw), [x_shape, w_shape, (w_shape[0],) if bias else None],
                    seed=d)


# ------------------------------------------------------------------------------------------ pooling
@pytest.mark.parametrize("d, shape, kw", [
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    (2, (2, 2, 7, 7), dict(kernel_size=3, stride=2)),
    (2, (1, 2, 6, 5), dict(kernel_size=(2, 3), stride=1, padding=(1, 1))),
    (3, (1, 2, 4, 5, 4), dict(kernel_size=2, stride=(1, 2, 2))),
])
@pytest.mark.parametrize("kind", ["max", "avg", "avg_exclude_pad"])
def test_pool_gradients(d, shape, kw, kind):
    fn = getattr(F, f"{'max' if kind == 'max' else 'avg'}_pool{d}d")
    extra = dict(count_include_pad=False) if kind == "avg_exclude_pad" else {}
    check_gradients(lambda x: fn(x, **kw, **extra), [shape], seed=10 + d)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 4), (1, 2, 3, 3, 2)])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pool_gradients(shape, kind):
    fn = F.global_avg_pool if kind == "avg" else F.global_max_pool
    check_gradients(fn, [shape], seed=20)


# ------------------------------------------------------------------------------------------ dense, norm, losses
@pytest.mark.parametrize("x_shape", [(4, 5), (2, 3, 5)])
def test_linear_gradients(x_shape):
    check_gradients(F.linear, [x_shape, (3, 5), (3,)], seed=30)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_gradients(shape, affine):
    c = shape[1]
    params = [(c,), (c,)] if affine else [None, None]
    check_gradients(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [shape] + params, seed=40)


def test_batch_norm_eval_gradients():
    rng = np.random.default_rng(41)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    check_gradients(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False), [(4, 3, 2, 2), (3,), (3,)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradients(reduction):
    labels = Const(np.array([0, 3, 1, 1, 2]))
    check_gradients(lambda z, y: F.cross_entropy(z, y, reduction=reduction), [(5, 4), labels], seed=50)


def test_mse_loss_gradients():
    check_gradients(F.mse_loss, [(3, 4), (3, 4)], seed=51)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_activation_gradients(name):
    check_gradients(getattr(F, name), [(3, 5)], seed=60)


# ------------------------------------------------------------------------------------------ a small network
def small_network():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, rng=0),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5, rng=1),
    ).double()


def test_composite_network_gradients():
    model = small_network()
    params = list(model.parameters())
    assert len(params) == 6 and all(p.dtype == np.float64 for p in params)
    # make batch-norm's affine parameters non-trivial so their gradients are exercised fully
    rng = np.random.default_rng(70)
    model[1].weight.data[:] = rng.uniform(0.5, 1.5, 4)
    model[1].bias.data[:] = rng.standard_normal(4) * 0.1
    labels = np.array([0, 4, 2, 2])
    loss = check_gradients(lambda x: F.cross_entropy(model(x), labels), [(4, 2, 6, 6)], seed=71, params=params)
    assert loss.shape == () and loss.dtype == np.float64


def test_composite_network_residual_and_fan_out_gradients():
    # y = relu(bn(conv(x))) + x, used twice downstream: exercises += accumulation through a graph
    conv = nn.Conv2d(3, 3, 3, padding="same", rng=2).double()
    bn = nn.BatchNorm2d(3).double()
    head = nn.Linear(3, 4, rng=3).double()

    def net(x):
        y = F.relu(bn(conv(x))) + x
        pooled = F.global_avg_pool(y) + F.global_max_pool(y)
        return F.cross_entropy(head(pooled), np.array([1, 3]))
    check_gradients(net, [(2, 3, 5, 5)], seed=72, params=list(conv.parameters()) + list(bn.parameters())
                    + list(head.parameters()))
