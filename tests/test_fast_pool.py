"""2-D max and average pooling against PyTorch on both paths.

On the compiled path (``strided.fast``) ``max_pool2d`` and ``avg_pool2d`` run ``fast/pool.py``'s
kernels (windows read in place, the max-pool winners recorded in the forward pass); on the NumPy
path the same calls pad and walk the taps. Both must give PyTorch's values, indices and input
gradients: float64 to 1e-10, float32 to float32 rounding, for overlapping and tiling windows,
padding, dilation, ceil_mode, the average's divisor options, odd sizes, batch 1, an empty batch,
batch-last, plain and strided inputs, training and inference. The edge values (NaN, infinities)
are in ``test_pool_edge_values.py``, which runs on both paths too.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.nn import functional as F
from oracle import TF, assert_close, needs_torch, torch

pytestmark = [needs_torch, pytest.mark.usefixtures("compute_path")]

MAX_CASES = [dict(kernel_size=2),                                       # tiles the input
             dict(kernel_size=3, stride=2, padding=1),                  # ResNet's stem: overlapping, padded
             dict(kernel_size=3, stride=2, ceil_mode=True),             # a last partial window
             dict(kernel_size=2, stride=1, padding=1, dilation=2),
             dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
             dict(kernel_size=3, stride=1, padding=1, ceil_mode=True),
             dict(kernel_size=1)]
AVG_CASES = [dict(kernel_size=2),
             dict(kernel_size=3, stride=2, padding=1),
             dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
             dict(kernel_size=3, stride=2, ceil_mode=True),
             dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
             dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
             dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), divisor_override=5)]
SHAPES = [(3, 4, 7, 9), (1, 2, 6, 5), (2, 3, 1, 1)]
LAYOUTS = ["batch_last", "plain", "strided"]


def case_id(case):
    return ",".join(f"{k}={v}" for k, v in case.items())


def laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values batch-last, in C order, or as a non-contiguous view."""
    if layout == "batch_last":
        return windows.to_batch_last(a)
    if layout == "strided":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]                                           # every other column of a wider array
    return np.ascontiguousarray(a)


def pools(kind):
    return (F.max_pool2d, TF.max_pool2d) if kind == "max" else (F.avg_pool2d, TF.avg_pool2d)


def compare(kind, x, case, g_layout="plain", rtol=1e-10, atol=1e-10, upstream=None):
    """Forward, indices (max) and input gradient of strided and PyTorch (in float64) on ``x``, for a
    random upstream gradient (or ``upstream``)."""
    st_fn, th_fn = pools(kind)
    xs = st.Tensor(x, requires_grad=True)
    xt = torch.tensor(np.ascontiguousarray(x), dtype=torch.float64, requires_grad=True)
    if kind == "max":
        (y, index), (yt, index_t) = st_fn(xs, return_indices=True, **case), th_fn(xt, return_indices=True, **case)
        np.testing.assert_array_equal(index, index_t.numpy(), err_msg="indices")
    else:
        y, yt = st_fn(xs, **case), th_fn(xt, **case)
    assert y.dtype == x.dtype
    assert_close(y.data, yt.detach().numpy(), rtol=rtol, atol=atol, what="forward")
    g = np.random.default_rng(1).standard_normal(y.shape) if upstream is None else upstream
    g = g.astype(x.dtype)
    y.backward(laid_out(g, g_layout))
    yt.backward(torch.tensor(g, dtype=torch.float64))
    assert xs.grad.dtype == x.dtype and xs.grad.shape == x.shape
    assert_close(xs.grad, xt.grad.numpy(), rtol=rtol, atol=atol, what="input gradient")
    return y, xs.grad


@pytest.mark.parametrize("kind, case", [("max", c) for c in MAX_CASES] + [("avg", c) for c in AVG_CASES],
                         ids=lambda v: v if isinstance(v, str) else case_id(v))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_float64_matches_torch(kind, case, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    if shape[2] < 3 and case_id(case) not in ("kernel_size=1",):
        case = dict(kernel_size=1)                                      # a single pixel: only a 1x1 window fits
    compare(kind, laid_out(x, "batch_last"), case)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("g_layout", ["batch_last", "plain"])
def test_every_layout_of_input_and_gradient(kind, layout, g_layout):
    x = np.random.default_rng(2).standard_normal((4, 3, 9, 8))
    case = dict(kernel_size=3, stride=2, padding=1)
    y, grad = compare(kind, laid_out(x, layout), case, g_layout)
    if layout == "batch_last":                                          # the layout is kept: no transposes later
        assert windows.batch_last(y.data) and windows.batch_last(grad)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("layout", ["batch_last", "plain"])
def test_float32_matches_torch_to_float32_rounding(kind, layout):
    x = np.random.default_rng(3).standard_normal((16, 8, 13, 12)).astype(np.float32)
    for case in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
        compare(kind, laid_out(x, layout), case, layout, rtol=1e-5, atol=1e-6)


def test_ties_go_to_the_first_maximum_in_scan_order():
    x = np.zeros((2, 1, 4, 4))                                          # every window is a tie
    x[1, 0, 1, 1] = x[1, 0, 0, 1] = 1.0                                 # and one tie between two ones
    _, grad = compare("max", laid_out(x, "batch_last"), dict(kernel_size=3, stride=1, padding=1),
                      upstream=np.ones((2, 1, 4, 4)))
    assert grad[0, 0, 0, 0] == 4                                        # the first input position of 4 windows
    assert grad[1, 0, 0, 1] == 6 and grad[1, 0, 1, 1] == 3              # (0, 1) comes first in 6 windows


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_inference_matches_torch(kind):
    """Without a gradient the max-pool kernel records no winners; the values must not change."""
    st_fn, th_fn = pools(kind)
    for shape in [(1, 5, 11, 11), (6, 4, 10, 9)]:
        x = laid_out(np.random.default_rng(4).standard_normal(shape), "batch_last")
        x[0, 0, 0, :3] = -np.inf                                        # a window of -inf beside the padding
        with st.no_grad():
            y = st_fn(x, 3, 2, 1)
        assert_close(y.data, th_fn(torch.from_numpy(np.ascontiguousarray(x)), 3, 2, 1).numpy(), what="forward")


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_empty_batch(kind):
    st_fn, th_fn = pools(kind)
    xs = st.Tensor(np.zeros((0, 3, 6, 6)), requires_grad=True)
    y = st_fn(xs, 2)
    assert y.shape == tuple(th_fn(torch.zeros((0, 3, 6, 6)), 2).shape)
    y.backward(np.zeros(y.shape))
    assert xs.grad.shape == (0, 3, 6, 6)


def test_unbatched_input_matches_torch():
    x = np.random.default_rng(5).standard_normal((3, 7, 7))
    for kind in ("max", "avg"):
        st_fn, th_fn = pools(kind)
        assert_close(st_fn(x, 3, 2, 1).data, th_fn(torch.from_numpy(x), 3, 2, 1).numpy(), what=kind)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_the_compiled_path_is_taken_exactly_when_enabled(kind, compute_path, monkeypatch):
    """The compiled run must reach the kernels (and the NumPy run must not): a test that would pass
    with the dispatch broken proves nothing about the kernels."""
    kernels = fast.kernels("pool")
    calls = []
    name = "max_pool2d" if kind == "max" else "avg_pool2d"
    original = getattr(kernels, name)
    monkeypatch.setattr(kernels, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    getattr(F, name)(st.Tensor(np.ones((2, 3, 4, 4)), requires_grad=True), 2)       # training, C order
    with st.no_grad():
        getattr(F, name)(windows.to_batch_last(np.ones((2, 3, 4, 4))), 2)          # inference, batch-last
    assert len(calls) == (2 if compute_path == "numba" else 0)
