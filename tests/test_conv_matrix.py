"""conv_matrix: the layer as its explicit (Toeplitz) matrix, checked against the layers themselves."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from strided import ShapeError, nn
from strided.analysis import conv_matrix, conv_matrix_labels, format_matrix


def without_bias(layer, y):
    if getattr(layer, "bias", None) is None:
        return y
    b = layer.bias.data
    return y - (b.reshape((-1,) + (1,) * (y.ndim - 2)) if b.ndim == 1 else b)


LAYERS = [
    (lambda: nn.Conv1d(1, 1, 3, padding=1, rng=0), (1, 4)),
    (lambda: nn.Conv1d(2, 3, 3, dilation=2, padding="causal", rng=1), (2, 9)),
    (lambda: nn.Conv1d(4, 4, 5, stride=3, padding="same", groups=4, rng=2), (4, 11)),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=3), (4, 7, 6)),
    (lambda: nn.Conv2d(3, 5, (2, 3), stride=(2, 1), padding=((0, 1), (2, 0)), dilation=(1, 2), rng=4), (3, 5, 6)),
    (lambda: nn.Conv2d(3, 5, 1, rng=5), (3, 4, 4)),
    (lambda: nn.Conv3d(2, 2, 2, stride=(1, 2, 1), padding="full", rng=6), (2, 3, 4, 3)),
    (lambda: nn.ConvTranspose1d(2, 3, 4, stride=3, padding=2, output_padding=2, rng=7), (2, 5)),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=8), (4, 3, 4)),
    (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2, dilation=(1, 2, 1), rng=9), (2, 2, 3, 2)),
    (lambda: nn.LocallyConnected1d(2, 3, 8, 3, stride=2, padding=1, rng=10), (2, 8)),
    (lambda: nn.LocallyConnected2d(2, 3, (6, 5), 3, stride=2, padding=1, rng=11), (2, 6, 5)),
]


@pytest.mark.parametrize("make, shape", LAYERS)
@pytest.mark.parametrize("sparse", [True, False])
def test_matrix_times_input_equals_layer(make, shape, sparse):
    layer = make()
    x = np.random.default_rng(0).standard_normal((1,) + shape).astype(np.float32)
    expected = without_bias(layer, layer(x).data).ravel()
    matrix = conv_matrix(layer, shape, sparse=sparse)
    assert isinstance(matrix, np.ndarray) != sparse
    np.testing.assert_allclose(matrix @ x.ravel(), expected, rtol=1e-5, atol=1e-5)


def test_lecture_000_four_pixel_example_prints_the_band_matrix():
    text = format_matrix(conv_matrix_labels(nn.Conv1d(1, 1, 3, padding=1, bias=False), (1, 4)))
    assert text == "\n".join(["[W2 W3 0  0 ]", "[W1 W2 W3 0 ]", "[0  W1 W2 W3]", "[0  0  W1 W2]"])


def test_1d_convolution_matrix_is_toeplitz():
    layer = nn.Conv1d(1, 1, 5, padding=2, rng=0)
    m = conv_matrix(layer, (1, 9), sparse=False)
    w = layer.weight.data.ravel()
    for i in range(9):
        for j in range(9):
            offset = j - i + 2           # tap k reads input i + k - 2
            assert m[i, j] == (w[offset] if 0 <= offset < 5 else 0)


def test_2d_convolution_matrix_is_doubly_block_toeplitz():
    h, w = 4, 5
    layer = nn.Conv2d(1, 1, 3, padding=1, rng=1)
    m = conv_matrix(layer, (1, h, w), sparse=False)
    blocks = m.reshape(h, w, h, w).transpose(0, 2, 1, 3)        # (row block, col block, w, w)
    kernel = layer.weight.data[0, 0]
    for a in range(h):
        for b in range(h):
            block = blocks[a, b]
            if abs(a - b) > 1:                                   # a 3x3 kernel couples adjacent rows only
                assert not block.any()
                continue
            np.testing.assert_array_equal(block, blocks[max(a - b, 0), max(b - a, 0)])   # depends on b - a only
            for offset in range(-w + 1, w):                      # each block is Toeplitz
                diagonal = np.diagonal(block, offset)
                tap = offset + 1
                expected = kernel[b - a + 1, tap] if 0 <= tap < 3 else 0.0
                np.testing.assert_array_equal(diagonal, np.full(len(diagonal), expected))


def test_locally_connected_has_the_conv_band_with_unshared_values():
    local = nn.LocallyConnected1d(1, 1, 8, 3, padding=1, rng=0)
    conv = nn.Conv1d(1, 1, 3, padding=1, rng=0)
    ml = conv_matrix(local, (1, 8), sparse=False)
    mc = conv_matrix(conv, (1, 8), sparse=False)
    np.testing.assert_array_equal(ml != 0, mc != 0)                 # same band structure
    main_diagonal = np.diagonal(ml)
    assert len(set(main_diagonal.tolist())) == len(main_diagonal)  # values differ along a diagonal
    # the same weights at every position give the convolution back
    local.weight.data[:] = conv.weight.data[0]
    np.testing.assert_array_equal(conv_matrix(local, (1, 8), sparse=False), mc)


@pytest.mark.parametrize("stride, padding, groups", [(1, 0, 1), (2, 1, 1), (3, 2, 2), (2, 0, 2)])
def test_transposed_matrix_is_transpose_of_matching_convolution(stride, padding, groups):
    c_in, c_out, size = 4, 6, 5
    transposed = nn.ConvTranspose1d(c_in, c_out, 4, stride=stride, padding=padding, groups=groups, rng=0)
    out_size = transposed.output_shape((1, c_in, size))[2]
    conv = nn.Conv1d(c_out, c_in, 4, stride=stride, padding=padding, groups=groups, rng=1)
    conv.weight.data = transposed.weight.data.copy()           # (C_in, C_out/G, K): the conv's own layout
    assert conv.output_shape((1, c_out, out_size))[2] == size
    np.testing.assert_array_equal(conv_matrix(transposed, (c_in, size), sparse=False),
                                  conv_matrix(conv, (c_out, out_size), sparse=False).T)


def test_dense_without_scipy(monkeypatch):
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError("no scipy here")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_scipy)
    layer = nn.Conv1d(1, 2, 3, rng=0)
    assert isinstance(conv_matrix(layer, (1, 6)), np.ndarray)
    with pytest.raises(ImportError, match="needs SciPy"):
        conv_matrix(layer, (1, 6), sparse=True)


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="expected a convolution, transposed convolution or locally-connected "
                                        "layer, got MaxPool2d"):
        conv_matrix(nn.MaxPool2d(2), (1, 4, 4))
    with pytest.raises(ShapeError, match=r"Conv2d\(3, 4, kernel_size=\(3, 3\)\) takes one example of shape "
                                         r"\(C, \*spatial\) with 2 spatial axes, got \(3, 8\)"):
        conv_matrix(nn.Conv2d(3, 4, 3, rng=0), (3, 8))
    with pytest.raises(ShapeError, match=r"expected input \(N, 3, H, W\), got \(1, 2, 8, 8\)"):
        conv_matrix(nn.Conv2d(3, 4, 3, rng=0), (2, 8, 8))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("sparse", [True, False])
def test_padding_modes_that_copy_pixels_are_in_the_matrix(mode, sparse):
    """The matrix of a convolution whose padding copies input pixels still reproduces the layer."""
    layer = nn.Conv2d(2, 3, 3, stride=(1, 2), padding=(2, 1), padding_mode=mode, rng=0)
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 6)).astype(np.float32)
    expected = without_bias(layer, layer(x).data).ravel()
    np.testing.assert_allclose(conv_matrix(layer, (2, 5, 6), sparse=sparse) @ x.ravel(), expected,
                               rtol=1e-5, atol=1e-5)


def test_reflect_padding_labels_sum_the_taps_that_read_one_pixel():
    # reflect pad 1 on 3 pixels: padded = [x1, x0, x1, x2, x1]; output 0 reads x1, x0, x1
    text = format_matrix(conv_matrix_labels(nn.Conv1d(1, 1, 3, padding=1, padding_mode="reflect", bias=False),
                                            (1, 3)))
    assert text.splitlines()[0].split() == ["[W2", "W1+W3", "0", "]"]
