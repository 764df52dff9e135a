"""Max pooling at edge values (issue 15, item 6), against PyTorch in float64.

PyTorch's CPU rule, which strided follows in every max-type pooling (windowed, adaptive, global)
and in the indices ``MaxUnpool`` reads:

* a window holding a NaN has the maximum NaN, and its gradient (and index) goes to the *last* NaN
  in scan order, never nowhere;
* padding never wins: on an all ``-inf`` input the gradient goes to the first input position of
  each window, so every window routes its gradient (a 4x4 input pooled 3x3 with stride 1 and
  padding 1 gets a gradient total of 16, one per window, not only the 4 windows without padding);
* an infinite upstream gradient reaches the winner only (``inf * 0`` never leaks a NaN).

The oracle is PyTorch (values, indices and the input gradient for a random upstream gradient).
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from oracle import TF, assert_close, needs_torch, torch
from strided.nn import functional as F

pytestmark = [needs_torch, pytest.mark.usefixtures("compute_path")]   # NumPy and compiled paths

SPATIAL = {1: (9,), 2: (6, 7), 3: (4, 5, 4)}
ST_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
ST_ADAPTIVE = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
ST_UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}
if torch is not None:
    TH_MAX = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}
    TH_ADAPTIVE = {1: TF.adaptive_max_pool1d, 2: TF.adaptive_max_pool2d, 3: TF.adaptive_max_pool3d}
    TH_UNPOOL = {1: TF.max_unpool1d, 2: TF.max_unpool2d, 3: TF.max_unpool3d}

CASES = [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, stride=2, padding=1),
         dict(kernel_size=2, stride=1, padding=1, dilation=2), dict(kernel_size=3, stride=2, ceil_mode=True)]


def case_id(case):
    return ",".join(f"{k}={v}" for k, v in case.items())


def with_edges(shape, kind, seed):
    """Values with NaN, -inf or +inf sprinkled in (a few per plane), or all -inf."""
    rng = np.random.default_rng(seed)
    if kind == "all -inf":
        return np.full(shape, -np.inf)
    x = rng.standard_normal(shape)
    if kind == "all equal":
        return np.zeros(shape)
    values = {"nan": np.nan, "-inf": -np.inf, "+inf": np.inf, "mixed": np.array([np.nan, -np.inf, np.inf])}[kind]
    picks = rng.random(shape) < 0.25                                    # about one position in four
    x[picks] = np.resize(values, picks.sum())
    return x


def compare(st_fn, th_fn, x, seed=1, upstream=None):
    """Values (NaN where NaN), indices and the input gradient of ``st_fn`` and ``th_fn`` on ``x``;
    returns the two input gradients."""
    xs = st.Tensor(x.copy(), dtype=np.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out_s, idx_s = st_fn(xs)
    out_t, idx_t = th_fn(xt)
    assert_close(out_s.data, out_t.detach().numpy(), what="forward")
    np.testing.assert_array_equal(idx_s, idx_t.numpy(), err_msg="indices")
    g = np.random.default_rng(seed).standard_normal(out_s.shape) if upstream is None else upstream
    out_s.backward(g.copy())
    out_t.backward(torch.from_numpy(g.copy()))
    assert_close(xs.grad, xt.grad.numpy(), what="input gradient")
    return xs.grad, xt.grad.numpy()


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("kind", ["nan", "-inf", "+inf", "mixed", "all -inf", "all equal"])
def test_max_pool_edge_values_match_torch(d, case, kind):
    x = with_edges((2, 2) + SPATIAL[d], kind, seed=d)
    compare(lambda t: ST_MAX[d](t, return_indices=True, **case), lambda t: TH_MAX[d](t, return_indices=True, **case),
            x)


def test_max_pool_gradient_goes_to_the_last_nan_of_a_window():
    x = np.array([[[1.0, np.nan, 3.0, np.nan]]])                       # one window of 4: two NaNs
    xs = st.Tensor(x, requires_grad=True)
    out, index = F.max_pool1d(xs, 4, return_indices=True)
    out.backward(np.ones((1, 1, 1)))
    assert np.isnan(out.data).all() and index.tolist() == [[[3]]]
    assert xs.grad.tolist() == [[[0.0, 0.0, 0.0, 1.0]]]                 # not nowhere, not the first NaN


def test_all_minus_inf_with_padding_every_window_routes_its_gradient():
    x = np.full((1, 1, 4, 4), -np.inf)
    grad, torch_grad = compare(lambda t: F.max_pool2d(t, 3, 1, 1, return_indices=True),
                               lambda t: TF.max_pool2d(t, 3, 1, 1, return_indices=True), x,
                               upstream=np.ones((1, 1, 4, 4)))
    assert grad.sum() == torch_grad.sum() == 16                         # one per window, padding never wins
    # each window centred at (i, j) routes to its first input position (max(i-1, 0), max(j-1, 0))
    assert grad[0, 0].tolist() == [[4, 2, 2, 0], [2, 1, 1, 0], [2, 1, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_max_pool_non_finite_upstream_gradient_reaches_only_the_winners(d):
    x = with_edges((2, 2) + SPATIAL[d], "mixed", seed=7)
    shape = TH_MAX[d](torch.from_numpy(x), 3, 1, 1).shape
    g = np.random.default_rng(8).standard_normal(shape)
    g.reshape(-1)[::3] = np.inf                                         # inf (and -inf) upstream
    g.reshape(-1)[1::5] = -np.inf
    compare(lambda t: ST_MAX[d](t, 3, 1, 1, return_indices=True), lambda t: TH_MAX[d](t, 3, 1, 1, return_indices=True),
            x, upstream=g)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("out", [1, 2, 3])
@pytest.mark.parametrize("kind", ["nan", "-inf", "mixed", "all -inf"])
def test_adaptive_max_pool_edge_values_match_torch(d, out, kind):
    x = with_edges((2, 2) + SPATIAL[d], kind, seed=10 + d)
    compare(lambda t: ST_ADAPTIVE[d](t, out, return_indices=True), lambda t: TH_ADAPTIVE[d](t, out, return_indices=True),
            x)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kind", ["nan", "mixed", "all -inf"])
def test_global_max_pool_edge_values_match_torch(d, kind):
    x = with_edges((2, 3) + SPATIAL[d], kind, seed=20 + d)
    xs = st.Tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out_s, out_t = F.global_max_pool(xs), TH_ADAPTIVE[d](xt, 1).reshape(2, 3)
    assert_close(out_s.data, out_t.detach().numpy(), what="forward")
    g = np.random.default_rng(1).standard_normal((2, 3))
    out_s.backward(g.copy())
    out_t.backward(torch.from_numpy(g.copy()))
    assert_close(xs.grad, xt.grad.numpy(), what="input gradient")


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kind", ["nan", "all -inf", "mixed"])
def test_max_unpool_of_edge_value_indices_matches_torch(d, kind):
    """The indices of NaN and all -inf windows are PyTorch's, so unpooling places values where it does."""
    x = with_edges((2, 2) + SPATIAL[d], kind, seed=30 + d)
    out_s, idx_s = ST_MAX[d](x, 2, return_indices=True)
    out_t, idx_t = TH_MAX[d](torch.from_numpy(x), 2, return_indices=True)
    values = np.random.default_rng(2).standard_normal(out_s.shape)    # finite values: a NaN unpooled is a NaN
    size = SPATIAL[d]
    vs = st.Tensor(values.copy(), requires_grad=True)
    vt = torch.tensor(values, requires_grad=True)
    up_s = ST_UNPOOL[d](vs, idx_s, 2, output_size=size)
    up_t = TH_UNPOOL[d](vt, idx_t, 2, output_size=size)
    assert_close(up_s.data, up_t.detach().numpy(), what="unpooled")
    g = np.random.default_rng(3).standard_normal(up_s.shape)
    up_s.backward(g.copy())
    up_t.backward(torch.from_numpy(g.copy()))
    assert_close(vs.grad, vt.grad.numpy(), what="gradient of the values")


def test_max_pool_module_with_return_indices_matches_functional_at_nan():
    from strided import nn
    x = with_edges((1, 2, 6, 7), "nan", seed=40).astype(np.float32)     # the module's dtype
    out, index = nn.MaxPool2d(3, 2, padding=1, return_indices=True)(x)
    out_t, index_t = TF.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    assert_close(out.data, out_t.numpy(), what="forward")
    np.testing.assert_array_equal(index, index_t.numpy())


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 3])
def test_max_pool_inference_shared_over_own_threads_matches_torch_float64(monkeypatch, ndim, batch):
    """Inference on NumPy's maxima shares channels over strided's own threads (``split.over_rows``)
    once the input holds 2^17 values: the split happens, gives the bits of one thread, and equals
    PyTorch with NaN and infinities in the input."""
    from strided import threads
    sizes = {1: (4100,), 2: (61, 67), 3: (15, 17, 16)}[ndim]
    rng = np.random.default_rng(ndim)
    x = rng.standard_normal((batch, 40) + sizes)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 200, replace=False)] = np.nan
    flat[rng.choice(flat.size, 200, replace=False)] = np.inf
    flat[rng.choice(flat.size, 200, replace=False)] = -np.inf
    from strided.fast import split
    parts = []
    real = split.run_parts
    monkeypatch.setattr(split, "run_parts", lambda work, count: parts.append(count) or real(work, count))
    case = dict(kernel_size=3, stride=2, padding=1)
    with st.no_grad():
        monkeypatch.setattr(threads, "_own_threads", 1)
        one = ST_MAX[ndim](st.Tensor(x), **case).data
        monkeypatch.setattr(threads, "_own_threads", 2)
        two = ST_MAX[ndim](st.Tensor(x), **case).data
    expected = TH_MAX[ndim](torch.from_numpy(x), **case).numpy()
    assert_close(two, expected, rtol=0, atol=0)
    assert np.array_equal(one, two, equal_nan=True)
    assert parts == [2], parts                                          # a C-order input: the NumPy path, split once
