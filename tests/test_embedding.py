"""Embedding against PyTorch (forward, weight gradient with repeated indices, padding_idx,
scale_grad_by_freq), its initialisation, and its argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import TF, Const, assert_close, check_against_torch, needs_torch, torch
from strided import nn

INDICES = np.array([[1, 4, 4, 0], [9, 4, 1, 1], [0, 0, 7, 4]])   # repeats, 0 and the last row


@needs_torch
@pytest.mark.parametrize("padding_idx", [None, 0, 4, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding_matches_torch(padding_idx, scale_grad_by_freq):
    check_against_torch(
        lambda i, w: F.embedding(i, w, padding_idx, scale_grad_by_freq=scale_grad_by_freq),
        lambda i, w: TF.embedding(i, w, padding_idx, scale_grad_by_freq=scale_grad_by_freq),
        inputs=[Const(INDICES), (10, 3)])


@needs_torch
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
def test_embedding_any_index_shape_matches_torch(shape):
    idx = np.random.default_rng(0).integers(0, 6, size=shape)
    out, _ = check_against_torch(F.embedding, TF.embedding, inputs=[Const(idx), (6, 5)])
    assert out.shape == shape + (5,)


@needs_torch
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_module_matches_torch(padding_idx):
    ours = nn.Embedding(10, 4, padding_idx=padding_idx, rng=0).double()
    theirs = torch.nn.Embedding(10, 4, padding_idx=padding_idx).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    theirs.load_state_dict({"weight": torch.from_numpy(ours.weight.data.copy())})
    out = ours(INDICES)
    expected = theirs(torch.from_numpy(INDICES))
    assert_close(out.data, expected.detach().numpy(), what="forward")
    assert ours.output_shape(INDICES.shape) == out.shape
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream.copy())
    expected.backward(torch.from_numpy(upstream))
    assert_close(ours.weight.grad, theirs.weight.grad.numpy(), what="weight gradient")


def test_embedding_weight_gradient_adds_repeated_indices():
    """Written out: row r's gradient is the sum of the upstream rows at the positions holding r."""
    layer = nn.Embedding(10, 3, padding_idx=1, rng=0)
    out = layer(INDICES)
    g = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    for r in range(10):
        expected = g[INDICES == r].sum(axis=0) if r != 1 else np.zeros(3)
        np.testing.assert_allclose(layer.weight.grad[r], expected, rtol=1e-6, atol=1e-6, err_msg=f"row {r}")
    np.testing.assert_array_equal(out.data[INDICES == 1], 0)              # the padding row is zero, and returned


def test_embedding_initialisation_is_standard_normal_with_a_zero_padding_row():
    layer = nn.Embedding(2000, 50, padding_idx=-3, rng=0)
    assert layer.padding_idx == 1997 and layer.weight.dtype == np.float32
    assert not layer.weight.data[1997].any()
    w = np.delete(layer.weight.data, 1997, axis=0)
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
    np.testing.assert_array_equal(layer.weight.data, nn.Embedding(2000, 50, padding_idx=-3, rng=0).weight.data)
    assert layer.cost((4, 7)) == (100_000, 0)


def test_embedding_from_pretrained():
    table = np.arange(12.0).reshape(4, 3)
    frozen = nn.Embedding.from_pretrained(table)
    assert frozen.weight.dtype == np.float64 and not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(np.array([3, 0])).data, table[[3, 0]])
    table[0] = -1                                                       # a copy was taken
    assert frozen.weight.data[0, 0] == 0
    trained = nn.Embedding.from_pretrained(table.astype(np.float32), freeze=False, padding_idx=0)
    assert trained.weight.requires_grad and trained.weight.data[0, 0] == -1   # the padding row is kept as given


def test_embedding_errors_name_the_layer():
    layer = nn.Embedding(10, 3, rng=0)
    with pytest.raises(IndexError, match=r"Embedding\(10, 3\): indices must be in \[0, 10\), got values from 0 "
                                         r"to 10 in input \(2,\)"):
        layer(np.array([0, 10]))
    with pytest.raises(IndexError, match=r"got values from -1 to 2"):
        layer(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match=r"Embedding\(10, 3\): expected an integer index array, got dtype float64"):
        layer(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"got a float32 Tensor"):
        layer(st.Tensor([1.0]))
    with pytest.raises(TypeError, match="Embedding: embedding_dim must be a positive int, got 3.0"):
        nn.Embedding(10, 3.0)
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be in \[-10, 10\), got 10"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(st.ShapeError, match=r"embedding: expected weight \(num_embeddings, embedding_dim\), got \(10,\)"):
        F.embedding(np.array([1]), np.zeros(10))


def test_a_chain_that_starts_with_an_embedding_takes_index_arrays():
    """Sequential passes raw index arrays through to its first module when that module takes indices."""
    emb, flat = nn.Embedding(10, 4, rng=0), nn.Flatten()
    chain = nn.Sequential(emb, flat)
    idx = np.array([[1, 2, 3], [9, 0, 9]])
    np.testing.assert_array_equal(chain(idx).data, emb.weight.data[idx].reshape(2, 12))   # rows looked up by hand
