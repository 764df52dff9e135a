"""Local response normalisation: PyTorch's form against torch, the 2012 paper's form against its formula."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import TF, assert_close, check_against_torch, check_gradients, needs_torch, torch
from strided import nn


@needs_torch
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 5, 3, 4), (1, 4, 2, 3, 2)], ids=["1d", "2d", "3d"])
def test_forward_and_gradient_match_torch(shape, size):
    """Even sizes too (the window reaches one channel further down than up), and size > C."""
    kwargs = dict(size=size, alpha=0.7, beta=0.6, k=1.3)
    check_against_torch(lambda x: F.local_response_norm(x, **kwargs),
                        lambda x: TF.local_response_norm(x, **kwargs), inputs=[shape], seed=size)


@needs_torch
def test_torch_defaults_match():
    check_against_torch(lambda x: nn.LocalResponseNorm(5)(x), lambda x: TF.local_response_norm(x, 5),
                        inputs=[3 * np.random.default_rng(0).standard_normal((2, 7, 3, 3))])


def naive_paper_lrn(a, n, alpha, beta, k):
    """Krizhevsky et al. (2012), section 3.3, written literally:
    ``b_i = a_i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a_j^2) ** beta`` (n odd)."""
    out = np.zeros_like(a)
    channels = a.shape[1]
    for i in range(channels):
        total = sum(a[:, j] ** 2 for j in range(max(0, i - n // 2), min(channels - 1, i + n // 2) + 1))
        out[:, i] = a[:, i] / (k + alpha * total) ** beta
    return out


@pytest.mark.parametrize("alpha", [1e-4, 0.3])
def test_paper_form_equals_its_formula(alpha):
    x = 4 * np.random.default_rng(1).standard_normal((2, 7, 4, 3))
    layer = nn.LocalResponseNorm(5, alpha=alpha, beta=0.75, k=2.0, paper_alpha=True)
    out = layer(st.Tensor(x, dtype=np.float64))
    assert_close(out.data, naive_paper_lrn(x, 5, alpha, 0.75, 2.0), what="paper LRN")


@needs_torch
def test_alexnet_constants_and_the_factor_between_the_two_conventions():
    layer = nn.LocalResponseNorm.alexnet()
    assert (layer.size, layer.alpha, layer.beta, layer.k, layer.paper_alpha) == (5, 1e-4, 0.75, 2.0, True)
    x = 30 * np.random.default_rng(2).standard_normal((2, 8, 3, 3))
    out = layer(st.Tensor(x, dtype=np.float64)).data
    assert_close(out, naive_paper_lrn(x, 5, 1e-4, 0.75, 2.0))
    # PyTorch's convention needs alpha * size for the same layer, and differs without it
    assert_close(out, TF.local_response_norm(torch_tensor(x), 5, alpha=5e-4, beta=0.75, k=2.0).numpy())
    assert not np.allclose(out, TF.local_response_norm(torch_tensor(x), 5, alpha=1e-4, beta=0.75, k=2.0).numpy())


def torch_tensor(x):
    return torch.from_numpy(x)


@pytest.mark.parametrize("paper_alpha", [False, True])
def test_backward_equals_central_differences(paper_alpha):
    check_gradients(lambda x: F.local_response_norm(x, 3, alpha=0.5, beta=0.75, k=1.5, paper_alpha=paper_alpha),
                    [(2, 5, 3, 2)], seed=4)


def test_float32_stays_float32_and_shape_is_kept():
    layer = nn.LocalResponseNorm(3)
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32)
    t = st.Tensor(x, requires_grad=True)
    out = layer(t)
    assert out.dtype == np.float32 and out.shape == x.shape == layer.output_shape(x.shape)
    out.sum().backward()
    assert t.grad.dtype == np.float32


# --------------------------------------------------------------------------------------------- errors


def test_input_without_a_spatial_axis_is_a_shape_error_naming_the_layer():
    layer = nn.LocalResponseNorm(5)
    with pytest.raises(st.ShapeError) as info:
        layer(np.zeros((4, 8), dtype=np.float32))
    assert str(info.value).startswith("LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0): expected input "
                                      "(N, C, *spatial) with at least one spatial axis, got (4, 8)")
    assert "x[None]" in str(info.value)  # one axis short of a batch: the hint says how to add it
    with pytest.raises(st.ShapeError, match=r"local_response_norm: expected input .* got \(4, 8\)"):
        F.local_response_norm(np.zeros((4, 8)), 5)
    with pytest.raises(st.ShapeError, match=r"LocalResponseNorm"):
        layer.output_shape((4, 8))


@pytest.mark.parametrize("size, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_size_is_refused(size, error):
    with pytest.raises(error, match=r"LocalResponseNorm: size must be a positive int"):
        nn.LocalResponseNorm(size)


def test_non_numeric_constants_are_refused():
    with pytest.raises(TypeError, match=r"LocalResponseNorm: beta must be a number, got '0.75'"):
        nn.LocalResponseNorm(5, beta="0.75")
