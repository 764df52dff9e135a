"""``st.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` against ``torch.nn.utils`` (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided import nn

SHAPES = [(4, 3), (5,), (2, 2, 3), (1,)]


def grads(scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(shape) for shape in SHAPES]


def pair(values, none=()):
    """Our parameters and torch's with the given gradients; indices in ``none`` get no gradient."""
    ours = [nn.Parameter(np.zeros(v.shape)) for v in values]
    theirs = [torch.nn.Parameter(torch.zeros(v.shape, dtype=torch.float64)) for v in values]
    for i, (p, q, g) in enumerate(zip(ours, theirs, values)):
        if i not in none:
            p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
    return ours, theirs


def assert_same_grads(ours, theirs):
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, atol=1e-15, equal_nan=True)


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, 0.5, float("inf"), "inf", -math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    ours, theirs = pair(grads(), none=(1,))
    total = st.nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(expected.item(), rel=1e-12)
    assert_same_grads(ours, theirs)


def test_clip_grad_norm_by_hand():
    p, q = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    p.grad, q.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = st.nn.utils.clip_grad_norm_(iter([p, q]), max_norm=2.5)
    assert total == 5.0
    np.testing.assert_allclose(np.concatenate([p.grad, q.grad]), np.array([3.0, 0.0, 4.0]) * 2.5 / (5 + 1e-6))
    p.grad = np.array([-7.0, 2.0])
    assert st.nn.utils.clip_grad_norm_(p, max_norm=1.0, norm_type="inf") == 7.0         # a single parameter
    np.testing.assert_allclose(p.grad, np.array([-7.0, 2.0]) / (7 + 1e-6))


def test_clip_grad_norm_keeps_float32_and_ignores_missing_gradients():
    p, q = nn.Parameter(np.zeros(3, dtype=np.float32)), nn.Parameter(np.zeros(2, dtype=np.float32))
    p.grad = np.full(3, 10.0, dtype=np.float32)
    total = st.nn.utils.clip_grad_norm_([p, q], 1.0)
    assert total.dtype == np.float32 and p.grad.dtype == np.float32 and q.grad is None
    assert float(np.linalg.norm(p.grad)) == pytest.approx(1.0, rel=1e-5)
    assert float(st.nn.utils.clip_grad_norm_([q], 1.0)) == 0.0                           # nothing to clip


@needs_torch
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_norm(bad):
    values = grads()
    values[2][0, 1, 2] = bad
    ours, theirs = pair(values)
    with pytest.raises(RuntimeError, match="non-finite"):
        st.nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    ours, theirs = pair(values)
    total = st.nn.utils.clip_grad_norm_(ours, 1.0)          # as torch: scaled by the non-finite norm anyway
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert np.isnan(total) == math.isnan(expected.item()) and not np.isfinite(total)
    assert_same_grads(ours, theirs)


@needs_torch
@pytest.mark.parametrize("clip_value", [0.1, 0.75, 5.0])
def test_clip_grad_value_equals_torch(clip_value):
    ours, theirs = pair(grads(scale=2.0, seed=3), none=(0,))
    assert st.nn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert_same_grads(ours, theirs)


@needs_torch
def test_get_total_norm_and_clip_grads_with_norm_equal_torch():
    ours, theirs = pair(grads())
    total = st.nn.utils.get_total_norm([p.grad for p in ours], norm_type=3.0)
    expected = torch.nn.utils.get_total_norm([q.grad for q in theirs], norm_type=3.0)
    assert float(total) == pytest.approx(expected.item(), rel=1e-12)
    st.nn.utils.clip_grads_with_norm_(ours, 0.7, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.7, expected)
    assert_same_grads(ours, theirs)


def test_clipping_inside_a_training_step():
    model = nn.Linear(4, 3, rng=0)
    opt = st.optim.SGD(model.parameters(), lr=0.1)
    loss = st.nn.functional.cross_entropy(model(np.full((2, 4), 50.0, dtype=np.float32)), np.array([0, 2]))
    loss.backward()
    before = st.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.1)
    after = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in model.parameters()))
    assert before > 0.1 and after == pytest.approx(0.1, rel=1e-4)
    opt.step()
