"""ReLU, ReLU6, Hardtanh, LeakyReLU, the sigmoid and SiLU on both paths (NumPy and the kernels of
``fast/elementwise.py``) against PyTorch.

* forward and input gradient, float32 and float64, exactly (both are selections of the input or
  of the gradient, no arithmetic): NaN, +-inf, values at the bounds;
* input and gradient in C order, batch-last, mixed (one of each) and a strided slice;
* the compiled path really runs its kernels; the input gradient keeps the input's layout;
* the sigmoid and SiLU: to float rounding against PyTorch, and bit for bit between the two paths.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.nn import functional as F
from kernel_spy import spy_kernels
from oracle import TF, needs_torch, torch

pytestmark = pytest.mark.usefixtures("compute_path")

ACTIVATIONS = {
    "relu": (F.relu, lambda t: TF.relu(t)),
    "relu6": (F.relu6, lambda t: TF.relu6(t)),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.75), lambda t: TF.hardtanh(t, -0.5, 0.75)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda t: TF.leaky_relu(t, 0.1)),
    "leaky_relu_steep": (lambda x: F.leaky_relu(x, 1.5), lambda t: TF.leaky_relu(t, 1.5)),
}
LAYOUTS = {
    "C": lambda a: np.ascontiguousarray(a),
    "batch_last": lambda a: windows.to_batch_last(np.ascontiguousarray(a)),
    "slice": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
}


SIZES = {"small": (5, 3, 4, 7), "kernel_sized": (6, 4, 16, 12)}        # below and above fast.COMPILED_FROM


def special_input(dtype, shape, seed: int = 0) -> np.ndarray:
    """Random values with NaN, +-inf and every bound of the three activations among them."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype) * 4
    x.flat[:9] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 6.0, -0.5, 0.75, 6.5]
    return x


@needs_torch
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("x_layout", LAYOUTS)
@pytest.mark.parametrize("g_layout", LAYOUTS)
@pytest.mark.parametrize("size", SIZES)
def test_forward_and_gradient_equal_torch(name, dtype, x_layout, g_layout, size):
    ours, theirs = ACTIVATIONS[name]
    x = special_input(dtype, SIZES[size])
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    xs = st.Tensor(LAYOUTS[x_layout](x), requires_grad=True)
    ys = ours(xs)
    ys.backward(LAYOUTS[g_layout](g))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(ys.data, yt.detach().numpy())       # NaN equal to NaN
    np.testing.assert_array_equal(xs.grad, xt.grad.numpy())
    assert ys.data.dtype == xs.grad.dtype == dtype


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("size", SIZES)
def test_a_nan_gradient_where_the_gradient_stops_stays_nan_on_both_paths(name, size, compute_path):
    """The stopped gradient is ``g * 0`` on both paths (the NumPy path multiplies by a mask), so a
    NaN or infinite incoming gradient is NaN there, and equal values elsewhere."""
    ours, _ = ACTIVATIONS[name]
    x = special_input(np.float32, SIZES[size])
    g = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
    g.flat[2:5] = [np.nan, np.inf, -np.inf]                             # at x = -inf, 0.0, -0.0: stopped

    def grad():
        xs = st.Tensor(x, requires_grad=True)
        with np.errstate(invalid="ignore"):                             # inf * 0 on the NumPy path
            ours(xs).backward(g)
        return xs.grad
    with fast.disabled():
        reference = grad()
    np.testing.assert_array_equal(grad(), reference)
    assert np.isnan(reference.flat[2:5]).all() if name in ("relu", "relu6") else np.isnan(reference.flat[2])


@pytest.mark.parametrize("same_layout", [True, False], ids=["same", "mixed"])
def test_the_compiled_path_runs_its_kernels_and_keeps_the_input_layout(monkeypatch, same_layout, compute_path):
    """On the compiled path both kernels run (from ``COMPILED_FROM`` values), a gradient in another layout being copied into the
    output's first; on the NumPy path no kernel runs. On both, a batch-last input gets a batch-last
    gradient (the convolution below reads it without a copy)."""
    calls = spy_kernels(monkeypatch, compute_path, "elementwise", ("relu_forward", "relu_backward"))
    x = windows.to_batch_last(np.random.default_rng(2).standard_normal(SIZES["kernel_sized"]))
    g = np.random.default_rng(3).standard_normal(x.shape)
    xs = st.Tensor(x, requires_grad=True)
    F.relu(xs).backward(windows.to_batch_last(g) if same_layout else g)
    np.testing.assert_array_equal(xs.grad, g * (x > 0))                 # the oracle: the ReLU's derivative
    assert windows.batch_last(xs.grad)
    assert calls == ([] if compute_path == "numpy" else ["relu_forward", "relu_backward"])


SMOOTH = {"sigmoid": (F.sigmoid, torch.sigmoid if torch else None), "silu": (F.silu, TF.silu if torch else None),
          "hardswish": (F.hardswish, TF.hardswish if torch else None)}


@needs_torch
@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("x_layout", LAYOUTS)
@pytest.mark.parametrize("size", SIZES)
def test_sigmoid_silu_hardswish_match_torch_and_the_other_path(name, dtype, x_layout, size):
    """NaN, +-inf, +-0 and random values; the gradient arrives in C order."""
    ours, theirs = SMOOTH[name]
    x = special_input(dtype, SIZES[size])
    g = np.random.default_rng(5).standard_normal(x.shape).astype(dtype)

    def run():
        xs = st.Tensor(LAYOUTS[x_layout](x), requires_grad=True)
        with np.errstate(invalid="ignore"):                             # SiLU: -inf * 0 at -inf, as in PyTorch
            ys = ours(xs)
            ys.backward(g)
        return ys.data, xs.grad
    y, gx = run()
    with fast.disabled():
        y_numpy, gx_numpy = run()
    np.testing.assert_array_equal(y, y_numpy)                           # the same formula, the same bits
    np.testing.assert_array_equal(gx, gx_numpy)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y, yt.detach().numpy(), equal_nan=True, **tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), equal_nan=True, **tol)
    assert y.dtype == gx.dtype == dtype


def test_sigmoid_and_silu_run_their_kernels_on_the_compiled_path(monkeypatch, compute_path):
    calls = spy_kernels(monkeypatch, compute_path, "elementwise",
                        ("sigmoid_forward", "sigmoid_backward", "silu_forward", "silu_backward"))
    x = np.random.default_rng(6).standard_normal(SIZES["kernel_sized"])
    for fn in (F.sigmoid, F.silu):
        xs = st.Tensor(x, requires_grad=True)
        fn(xs).backward(np.ones(x.shape))
    s = 1 / (1 + np.exp(-x))                                            # the oracle, far from overflow here
    np.testing.assert_allclose(xs.grad, s * (1 + x * (1 - s)), rtol=1e-12)
    expected = ["sigmoid_forward", "sigmoid_backward", "silu_forward", "silu_backward"]
    assert calls == ([] if compute_path == "numpy" else expected)
