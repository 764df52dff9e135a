"""Batch normalisation on both paths (NumPy row blocks and the kernels of ``fast/norm.py``) against PyTorch.

* forward, input/weight/bias gradients and running statistics in float64 (1e-10): training and
  evaluation, with and without affine parameters and the fused ReLU, ``(N, C)`` to 3-D inputs,
  odd sizes, batch 1, batch-last and plain inputs and gradients;
* float32 against PyTorch float64 (1e-5 of the largest value), long rows and an offset input;
* only some gradients asked for; an empty batch; NaN where the NumPy path has it;
* the compiled path really runs the kernels (and the NumPy path the row blocks).
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.nn import functional as F
from strided.nn import norm
from oracle import TF, check_against_torch, needs_torch, torch

pytestmark = pytest.mark.usefixtures("compute_path")

SHAPES = [(5, 3, 4, 3), (1, 4, 3, 5), (7, 2), (3, 5, 7), (2, 2, 3, 3, 3), (9, 3, 1, 1)]


def batch_last_copy(a: np.ndarray) -> np.ndarray:
    """The same values in a batch-last memory layout."""
    return windows.to_batch_last(np.ascontiguousarray(a))


def running_statistics(c: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(c), rng.random(c) + 0.5


@needs_torch
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
@pytest.mark.parametrize("affine, batch_last_input", [(True, True), (False, False), (True, False)],
                         ids=["affine-batch_last", "plain", "affine-plain"])
def test_batch_norm_float64_matches_torch(shape, training, relu, affine, batch_last_input):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 2 + 0.5
    x = batch_last_copy(x) if batch_last_input else x
    c = shape[1]
    mean, var = running_statistics(c)
    ours_mean, ours_var = mean.copy(), var.copy()
    theirs_mean, theirs_var = torch.tensor(mean), torch.tensor(var)
    params = [(c,), (c,)] if affine else [None, None]

    def st_fn(x, w, b):
        return F.batch_norm(x, ours_mean, ours_var, w, b, training=training, momentum=0.3, relu=relu)

    def torch_fn(x, w, b):
        y = TF.batch_norm(x, theirs_mean, theirs_var, w, b, training=training, momentum=0.3)
        return TF.relu(y) if relu else y
    check_against_torch(st_fn, torch_fn, [x] + params)
    np.testing.assert_allclose(ours_mean, theirs_mean.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours_var, theirs_var.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("shape", [(64, 4, 32, 32), (3, 7, 5, 9), (1, 8, 56, 56)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
def test_batch_norm_float32_matches_torch_float64(shape, training, relu):
    """Long rows (65 536 values per channel) and an offset input: float32 within 1e-5 of the
    largest value of each result."""
    rng = np.random.default_rng(4)
    c = shape[1]
    x = batch_last_copy((rng.standard_normal(shape) * 3 + 20).astype(np.float32))
    g = batch_last_copy(rng.standard_normal(shape).astype(np.float32))
    w, b = (rng.standard_normal(c) + 1).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    mean, var = (rng.standard_normal(c) + 20).astype(np.float32), (rng.random(c) * 9 + 1).astype(np.float32)

    xs, ws, bs = (st.Tensor(a, requires_grad=True) for a in (x, w, b))
    ys = F.batch_norm(xs, mean.copy(), var.copy(), ws, bs, training=training, relu=relu)
    ys.backward(g)

    xt, wt, bt = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w, b))
    yt = TF.batch_norm(xt, torch.tensor(mean, dtype=torch.float64), torch.tensor(var, dtype=torch.float64), wt, bt,
                       training=training)
    yt = TF.relu(yt) if relu else yt
    yt.backward(torch.tensor(g.astype(np.float64)))
    for what, ours, theirs in (("forward", ys.data, yt), ("gx", xs.grad, xt.grad), ("gw", ws.grad, wt.grad),
                               ("gb", bs.grad, bt.grad)):
        theirs = theirs.detach().numpy()
        assert ours.dtype == np.float32, what
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max(), err_msg=what)
    assert windows.batch_last(ys.data) and windows.batch_last(xs.grad)


@needs_torch
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
def test_batch_norm_module_steps_then_eval_match_torch_in_float32(relu):
    rng = np.random.default_rng(5)
    ours, theirs = st.nn.BatchNorm2d(6, momentum=0.2), torch.nn.BatchNorm2d(6, momentum=0.2)
    ours.weight.data[:] = theirs.weight.detach().numpy()[:] = rng.standard_normal(6).astype(np.float32)
    for step in range(3):
        x = batch_last_copy((rng.standard_normal((8, 6, 5, 5)) + step).astype(np.float32))
        y = ours._normalize(st.Tensor(x), relu=relu)
        t = theirs(torch.tensor(np.ascontiguousarray(x)))
        t = TF.relu(t) if relu else t
        np.testing.assert_allclose(y.data, t.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5, atol=1e-6)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((1, 6, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(st.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
@pytest.mark.parametrize("asked", ["x", "weight", "bias", "weight+bias"])
def test_batch_norm_only_the_gradients_asked_for(training, relu, asked):
    rng = np.random.default_rng(6)
    x = batch_last_copy(rng.standard_normal((4, 3, 5, 2)))
    w, b, g = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((4, 3, 5, 2))
    mean, var = running_statistics(3)
    xs, ws, bs = (st.Tensor(a, requires_grad=name in asked) for name, a in (("x", x), ("weight", w), ("bias", b)))
    ys = F.batch_norm(xs, mean.copy(), var.copy(), ws, bs, training=training, relu=relu)
    ys.backward(g)
    xt, wt, bt = (torch.tensor(a, requires_grad=name in asked) for name, a in (("x", x), ("weight", w), ("bias", b)))
    yt = TF.batch_norm(xt, torch.tensor(mean), torch.tensor(var), wt, bt, training=training)
    (TF.relu(yt) if relu else yt).backward(torch.tensor(g))
    for ours, theirs in ((xs, xt), (ws, wt), (bs, bt)):
        if theirs.requires_grad:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)
        else:
            assert ours.grad is None


@needs_torch
@pytest.mark.parametrize("x_batch_last, g_batch_last", [(True, False), (False, True)])
def test_batch_norm_mixed_layouts_of_input_and_gradient(x_batch_last, g_batch_last):
    rng = np.random.default_rng(7)
    x, g = rng.standard_normal((6, 3, 4, 5)), rng.standard_normal((6, 3, 4, 5))
    xs = st.Tensor(batch_last_copy(x) if x_batch_last else x, requires_grad=True)
    ys = F.batch_norm(xs, None, None, training=True, relu=True)
    ys.backward(batch_last_copy(g) if g_batch_last else g)
    xt = torch.tensor(x, requires_grad=True)
    TF.relu(TF.batch_norm(xt, None, None, training=True)).backward(torch.tensor(g))
    np.testing.assert_allclose(ys.data, TF.relu(TF.batch_norm(torch.tensor(x), None, None, training=True)).numpy(),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    assert windows.batch_last(ys.data) and windows.batch_last(xs.grad)


@needs_torch
@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_empty_input(shape, training):
    mean, var = running_statistics(3)
    ours_mean, ours_var = mean.copy(), var.copy()
    theirs_mean, theirs_var = torch.tensor(mean), torch.tensor(var)
    xs, ws = st.Tensor(np.zeros(shape), requires_grad=True), st.Tensor(np.ones(3), requires_grad=True)
    ys = F.batch_norm(xs, ours_mean, ours_var, ws, None, training=training, relu=True)
    ys.backward(np.zeros(shape))
    xt, wt = torch.zeros(shape, dtype=torch.float64, requires_grad=True), torch.ones(3, dtype=torch.float64,
                                                                                      requires_grad=True)
    TF.relu(TF.batch_norm(xt, theirs_mean, theirs_var, wt, None, training=training)).sum().backward()
    assert ys.shape == shape and xs.grad.shape == shape
    np.testing.assert_array_equal(ws.grad, wt.grad.numpy())
    np.testing.assert_array_equal(ours_mean, theirs_mean.numpy())
    np.testing.assert_array_equal(ours_var, theirs_var.numpy())


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_nan_lands_where_the_numpy_path_puts_it(training, relu, dtype, compute_path):
    """A NaN in the input spoils its channel in training (its element alone in evaluation); a NaN
    in the gradient where the ReLU is off still spoils the sums (``g * mask``), on both paths."""
    rng = np.random.default_rng(8)
    x = batch_last_copy(rng.standard_normal((4, 3, 3, 3)).astype(dtype))
    x[1, 0, 2, 2] = np.nan
    g = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    y_probe = F.batch_norm(st.Tensor(x), *running_statistics(3), training=training, relu=True).data
    off = np.argwhere((y_probe[:, 1] == 0))[0]                          # an element the ReLU turns off
    g[(off[0], 1, *off[1:])] = np.nan

    def run():
        xs, ws = st.Tensor(x, requires_grad=True), st.Tensor(np.ones(3, dtype), requires_grad=True)
        ys = F.batch_norm(xs, *running_statistics(3), ws, training=training, relu=relu)
        ys.backward(g)
        return ys.data, xs.grad, ws.grad
    ours = run()
    with fast.disabled():
        reference = run()
    for a, r in zip(ours, reference):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(r))
        np.testing.assert_allclose(a, r, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert np.isnan(ours[0][:, 0]).all() if training else np.isnan(ours[0]).sum() == 1


@needs_torch
def test_fused_relu_passes_the_gradient_of_a_nan_output_as_torch_does(compute_path):
    """Evaluation: a NaN input spoils its own output only; ReLU's backward lets that element's
    gradient through (PyTorch's ``threshold_backward`` stops it only where the output is <= 0)."""
    rng = np.random.default_rng(9)
    x = batch_last_copy(rng.standard_normal((4, 3, 3, 3)))
    x[2, 1, 0, 1] = np.nan
    g = rng.standard_normal((4, 3, 3, 3))
    mean, var = running_statistics(3)
    xs = st.Tensor(x, requires_grad=True)
    F.batch_norm(xs, mean, var, training=False, relu=True).backward(g)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    torch.relu(TF.batch_norm(xt, torch.tensor(mean), torch.tensor(var), training=False)).backward(torch.tensor(g))
    assert np.isfinite(xs.grad[2, 1, 0, 1]) and xs.grad[2, 1, 0, 1] != 0
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_each_path_runs_its_own_loop(monkeypatch, training, compute_path):
    """On the compiled path no NumPy row block is taken; on the NumPy path the kernels stay unused."""
    calls = []
    monkeypatch.setattr(norm, "row_blocks", lambda m, _real=norm.row_blocks: calls.append(m.shape) or _real(m))
    x = st.Tensor(batch_last_copy(np.random.default_rng(9).standard_normal((4, 3, 5, 5))), requires_grad=True)
    F.batch_norm(x, *running_statistics(3), training=training).backward(np.ones((4, 3, 5, 5)))
    assert x.grad is not None
    assert (calls == []) == (compute_path == "numba")
