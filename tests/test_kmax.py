"""k-max pooling: against a per-row Python loop, torch.topk, central differences; the tie rule; errors."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import assert_close, check_against_torch, check_gradients, needs_torch
from strided import nn
from strided.geometry import ReceptiveField


def naive_kmax(x, k):
    """Per row: positions sorted by (value descending, position ascending), first k, back in position order."""
    values = np.zeros(x.shape[:2] + (k,))
    chosen = np.zeros(x.shape, dtype=bool)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            row = [float(v) for v in x[n, c]]
            keep = sorted(sorted(range(len(row)), key=lambda i: (-row[i], i))[:k])
            values[n, c] = [row[i] for i in keep]
            chosen[n, c, keep] = True
    return values, chosen


@pytest.mark.parametrize("shape, k", [((2, 3, 7), 3), ((1, 4, 5), 5), ((3, 2, 9), 1), ((2, 2, 12), 6)])
def test_forward_and_gradient_route_match_the_naive_loop(shape, k):
    x = np.random.default_rng(k).standard_normal(shape)
    values, chosen = naive_kmax(x, k)
    t = st.Tensor(x, dtype=np.float64, requires_grad=True)
    out = F.kmax_pool1d(t, k)
    assert_close(out.data, values, what="forward")
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(upstream)
    assert np.array_equal(t.grad != 0, chosen)
    assert_close(t.grad[chosen].reshape(upstream.shape), upstream, what="gradient at the chosen positions")


def test_many_ties_follow_the_earliest_position_rule():
    """Small integers: rows full of ties; values and the positions that get the gradient match the naive rule."""
    x = np.random.default_rng(1).integers(0, 3, size=(4, 5, 8)).astype(np.float64)
    values, chosen = naive_kmax(x, 4)
    t = st.Tensor(x, dtype=np.float64, requires_grad=True)
    out = F.kmax_pool1d(t, 4)
    assert_close(out.data, values)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(t.grad, chosen.astype(np.float64))


def test_tie_rule_by_hand():
    x = st.Tensor([[[2.0, 5.0, 2.0, 5.0, 2.0], [7.0, 7.0, 7.0, 7.0, 7.0]]], requires_grad=True)
    out = nn.KMaxPool1d(3)(x)
    np.testing.assert_array_equal(out.data, [[[2.0, 5.0, 5.0], [7.0, 7.0, 7.0]]])
    out.backward(np.array([[[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]]]))
    # row 0: both 5s, then the first of the three 2s; row 1: the first three of five equal values
    np.testing.assert_array_equal(x.grad, [[[10.0, 20.0, 0.0, 30.0, 0.0], [1.0, 2.0, 3.0, 0.0, 0.0]]])


@needs_torch
def test_matches_torch_topk_sorted_by_position():
    k = 3
    check_against_torch(lambda x: F.kmax_pool1d(x, k),
                        lambda x: x.gather(2, x.topk(k, dim=2).indices.sort(dim=2).values),
                        inputs=[(3, 4, 10)])


def test_backward_equals_central_differences():
    check_gradients(lambda x: F.kmax_pool1d(x, 4), [(2, 3, 9)], seed=3)


def test_keeps_order_and_dtype_and_length_is_k_whatever_l():
    layer = nn.KMaxPool1d(2)
    out = layer(np.array([[[1.0, 3.0, 2.0, 0.0, 5.0]]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [[[3.0, 5.0]]])     # 3 comes before 5 in the sequence
    for length in (2, 5, 11):
        shape = (2, 3, length)
        assert layer(np.zeros(shape)).shape == layer.output_shape(shape) == (2, 3, 2)


def test_receptive_field_is_the_whole_sequence():
    rf = nn.KMaxPool1d(3).receptive_field(ReceptiveField.identity(1), (1, 2, 10))
    assert rf.size == (10,)
    assert nn.KMaxPool1d(3).cost((1, 2, 10)) == (0, 0)


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("k, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_construction_refuses_bad_k(k, error):
    with pytest.raises(error, match=r"KMaxPool1d\(k=.*\): k must be"):
        nn.KMaxPool1d(k)
    with pytest.raises(error, match=r"kmax_pool1d: k must be"):
        F.kmax_pool1d(np.zeros((1, 1, 4)), k)


def test_k_larger_than_the_sequence_is_a_shape_error_naming_layer_expected_and_got():
    layer = nn.KMaxPool1d(5)
    with pytest.raises(st.ShapeError) as info:
        layer(np.zeros((2, 3, 4), dtype=np.float32))
    assert str(info.value) == "KMaxPool1d(k=5): expected input (N, C, L) with L >= k = 5, got (2, 3, 4)"
    with pytest.raises(st.ShapeError, match=r"KMaxPool1d\(k=5\).*got \(2, 3, 4\)"):
        layer.output_shape((2, 3, 4))


def test_wrong_rank_is_a_shape_error():
    with pytest.raises(st.ShapeError, match=r"KMaxPool1d\(k=2\): expected input \(N, C, L\) or \(C, L\), "
                                             r"got \(2, 3, 4, 4\)"):
        nn.KMaxPool1d(2)(np.zeros((2, 3, 4, 4)))
