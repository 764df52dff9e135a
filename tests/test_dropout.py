"""Channel dropout (Dropout1d/2d/3d) and alpha dropout.

The masks are random, so no oracle can reproduce them value for value: the tests check what
defines the layers instead (whole channels zeroed, fraction zeroed close to ``p`` over a large
draw, survivors scaled by ``1/(1-p)``, the identity in eval mode, the gradient is the mask), that
the only randomness is the module's generator, and for alpha dropout the two affine maps PyTorch
applies (read off PyTorch's own output on constant inputs).
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import TF, assert_close, check_gradients, needs_torch, torch
from strided import nn

CHANNEL_DROPOUTS = [(nn.Dropout1d, (300, 200, 3)), (nn.Dropout2d, (300, 200, 2, 2)), (nn.Dropout3d, (300, 200, 2, 1, 2))]


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("cls, shape", CHANNEL_DROPOUTS, ids=["1d", "2d", "3d"])
def test_channel_dropout_zeroes_whole_channels_with_probability_p(cls, shape, p):
    layer = cls(p, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(1.0, 2.0, shape).astype(np.float32)   # never 0 itself
    y = layer(x).data
    axes = tuple(range(2, len(shape)))
    zero = (y == 0).all(axis=axes)                                      # (N, C): whole channel dropped
    kept = (y != 0).all(axis=axes)
    assert (zero | kept).all(), "a channel was partly dropped"
    # 60000 Bernoulli draws: the standard deviation of the fraction is below 0.0021
    assert abs(zero.mean() - p) < 0.01
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    # each example draws its own channels
    assert not (zero == zero[:1]).all()


@pytest.mark.parametrize("cls, shape", CHANNEL_DROPOUTS, ids=["1d", "2d", "3d"])
def test_channel_dropout_is_determined_by_its_generator(cls, shape):
    shape = (4, 50) + shape[2:]
    x = np.ones(shape, dtype=np.float32)
    a, b = cls(0.5, rng=7), cls(0.5, rng=np.random.default_rng(7))
    first = a(x).data
    np.testing.assert_array_equal(first, b(x).data)                     # same seed, same masks
    assert not np.array_equal(first, a(x).data)                         # the generator moves on
    a.eval()
    np.testing.assert_array_equal(a(x).data, x)                         # identity in eval mode
    np.testing.assert_array_equal(cls(0.0, rng=0)(x).data, x)
    assert not cls(1.0, rng=0)(x).data.any()


def test_channel_dropout_unbatched_input_draws_one_value_per_channel():
    for layer, shape in ((nn.Dropout1d(0.5, rng=0), (400, 3)), (nn.Dropout3d(0.5, rng=0), (400, 2, 1, 2))):
        y = layer(np.ones(shape, dtype=np.float32)).data
        flat = y.reshape(shape[0], -1)
        assert (flat == flat[:, :1]).all() and set(np.unique(flat)) == {0.0, 2.0}
        assert abs((flat[:, 0] == 0).mean() - 0.5) < 0.1


def test_channel_dropout_gradient_is_its_mask():
    """A fixed seed makes every call draw the same mask, so central differences apply."""
    check_gradients(lambda x: F.dropout2d(x, 0.4, True, rng=5), [(3, 4, 2, 3)])
    check_gradients(lambda x: F.dropout1d(x, 0.7, True, rng=6), [(5, 3)])
    x = st.Tensor(np.ones((8, 6, 2, 2)), requires_grad=True, dtype=np.float64)
    y = F.dropout2d(x, 0.5, True, rng=1)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad, y.data)                       # mask / (1 - p), where y = mask * 1 / (1-p)


def test_channel_dropout_errors_name_the_layer():
    with pytest.raises(st.ShapeError, match=r"Dropout2d\(p=0.5\): expected input \(N, C, H, W\) \(a 3-D input is "
                                             r"ambiguous: use Dropout1d .*got \(2, 3, 4\)"):
        nn.Dropout2d()(np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(st.ShapeError, match=r"Dropout1d\(p=0.5\): expected input \(N, C, L\) or \(C, L\), "
                                             r"got \(2, 3, 4, 5\)"):
        nn.Dropout1d().output_shape((2, 3, 4, 5))
    with pytest.raises(st.ShapeError, match=r"dropout3d: .*got \(2, 3\)"):
        F.dropout3d(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Dropout3d: p must be in \[0, 1\], got 1.5"):
        nn.Dropout3d(1.5)
    with pytest.raises(TypeError, match="Dropout1d: p must be a number, got True"):
        nn.Dropout1d(True)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        nn.Dropout2d(0.5, rng="seed")


# --------------------------------------------------------------------------------------------- alpha dropout


@needs_torch
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_alpha_dropout_maps_match_torch(p):
    """On a constant input, PyTorch's output takes two values: the kept map's and the dropped one."""
    for value in (-1.5, 0.0, 2.0):
        x = np.full(4000, value)
        theirs = np.unique(TF.alpha_dropout(torch.from_numpy(x), p, training=True).numpy())
        ours = np.unique(F.alpha_dropout(st.Tensor(x, dtype=np.float64), p, training=True, rng=0).data)
        assert len(theirs) == len(ours) == 2
        assert_close(ours, theirs, rtol=1e-12, atol=1e-12, what=f"alpha dropout values for x={value}, p={p}")


def test_alpha_dropout_keeps_zero_mean_and_unit_variance():
    x = np.random.default_rng(0).standard_normal(400_000)
    y = nn.AlphaDropout(0.3, rng=1)(x).data
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    _, counts = np.unique(y, return_counts=True)
    assert abs(counts.max() / y.size - 0.3) < 0.01                     # the dropped value, a fraction p of them


def test_alpha_dropout_gradient_and_modes():
    check_gradients(lambda x: F.alpha_dropout(x, 0.4, True, rng=3), [(4, 5)])
    layer = nn.AlphaDropout(0.5, rng=0)
    x = np.random.default_rng(1).standard_normal((6, 7)).astype(np.float32)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(F.alpha_dropout(st.Tensor(x), 0.5).data, x)   # functional default: training=False
    assert not F.alpha_dropout(st.Tensor(x), 1.0, training=True).data.any()     # p = 1: zeros, as in PyTorch
    with pytest.raises(ValueError, match=r"AlphaDropout: p must be in \[0, 1\]"):
        nn.AlphaDropout(-0.1)


@pytest.mark.parametrize("cls, shape", [(nn.Dropout, (4, 3, 5, 6)), (nn.Dropout2d, (4, 3, 5, 6)),
                                        (nn.Dropout3d, (3, 2, 4, 3, 5))])
def test_dropout_keeps_a_batch_last_input_batch_last_with_the_same_draws(cls, shape):
    """A convolution's output (batch-last) comes out batch-last, gradient too, and the same seed
    drops the same values as for a C-order copy of the input."""
    from strided.windows import batch_last, to_batch_last
    x = np.random.default_rng(2).uniform(1.0, 2.0, shape)
    xb = to_batch_last(x)
    xs_c, xs_b = st.Tensor(x, requires_grad=True), st.Tensor(xb, requires_grad=True)
    y_c, y_b = cls(0.5, rng=3)(xs_c), cls(0.5, rng=3)(xs_b)
    g = np.random.default_rng(4).standard_normal(shape)
    y_c.backward(g)
    y_b.backward(to_batch_last(g))
    assert batch_last(y_b.data) and batch_last(xs_b.grad)
    np.testing.assert_array_equal(y_b.data, y_c.data)
    np.testing.assert_array_equal(xs_b.grad, xs_c.grad)
    assert 0 < (y_c.data == 0).mean() < 1                               # some dropped, some kept
