"""Layers that only move values: ``PixelShuffle``, ``PixelUnshuffle``, ``Unflatten``, ``Identity``.

Oracles: PyTorch in float64 (forward and input gradient), and literal loops over pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from strided import nn
from strided.geometry import ReceptiveField

from oracle import TF, check_against_torch, check_gradients, needs_torch, torch
from expect import raises


@needs_torch
@pytest.mark.parametrize("shape, r", [((2, 8, 3, 4), 2), ((1, 18, 2, 3), 3), ((3, 5, 5), 1), ((2, 2, 4, 3, 2), 2)])
def test_pixel_shuffle_matches_torch(shape, r):
    check_against_torch(lambda x: F.pixel_shuffle(x, r), lambda x: TF.pixel_shuffle(x, r), inputs=[shape])
    check_against_torch(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), inputs=[shape]) if len(shape) == 4 else None


@needs_torch
@pytest.mark.parametrize("shape, r", [((2, 3, 4, 6), 2), ((1, 2, 6, 3), 3), ((3, 5, 5), 1), ((2, 2, 1, 4, 2), 2)])
def test_pixel_unshuffle_matches_torch(shape, r):
    check_against_torch(lambda x: F.pixel_unshuffle(x, r), lambda x: TF.pixel_unshuffle(x, r), inputs=[shape])
    check_against_torch(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), inputs=[shape]) if len(shape) == 4 else None


def test_pixel_shuffle_by_loops_and_inverse():
    r, x = 3, np.random.default_rng(0).standard_normal((2, 18, 2, 4))
    out = F.pixel_shuffle(x, r).data
    for n, c, h, w in np.ndindex(*out.shape):
        assert out[n, c, h, w] == x[n, c * r * r + (h % r) * r + w % r, h // r, w // r]
    np.testing.assert_array_equal(F.pixel_unshuffle(out, r).data, x)
    check_gradients(lambda t: F.pixel_shuffle(t, 2), inputs=[(1, 8, 2, 3)])
    check_gradients(lambda t: F.pixel_unshuffle(t, 2), inputs=[(1, 2, 4, 2)])


def test_pixel_shuffle_rules():
    layer = nn.PixelShuffle(2)
    assert layer.output_shape((4, 12, 5, 6)) == (4, 3, 10, 12)
    assert layer.cost((4, 12, 5, 6)) == (0, 0)
    rf = layer.receptive_field(ReceptiveField.identity(2), (4, 12, 5, 6))
    assert rf.jump == (0.5, 0.5)
    assert nn.PixelUnshuffle(2).receptive_field(ReceptiveField.identity(2), (1, 3, 4, 6)) == \
        ReceptiveField((2, 2), (2, 2), (0.5, 0.5))
    assert repr(layer) == "PixelShuffle(upscale_factor=2)"


@needs_torch
@pytest.mark.parametrize("dim, sizes, shape", [(1, (2, 3), (4, 6)), (1, (2, -1), (4, 6)), (-1, (-1, 4), (2, 3, 8)),
                                               (0, (2, 2), (4, 3)), (2, (6,), (1, 2, 6))])
def test_unflatten_matches_torch(dim, sizes, shape):
    layer = nn.Unflatten(dim, sizes)
    out, _ = check_against_torch(layer, torch.nn.Unflatten(dim, sizes), inputs=[shape])
    assert layer.output_shape(shape) == out.shape
    assert repr(layer) == repr(torch.nn.Unflatten(dim, sizes))


def test_unflatten_receptive_field():
    rf0, rf2 = ReceptiveField.identity(0), ReceptiveField.identity(2)
    assert nn.Unflatten(1, (4, 7, 7)).receptive_field(rf0, (2, 196)) == rf0
    assert nn.Unflatten(1, (2, 2)).receptive_field(rf2, (1, 4, 5, 6)) == rf2.through_global((5, 6))
    assert nn.Unflatten(1, (4,)).receptive_field(rf2, (1, 4, 5, 6)) == rf2


def test_identity_ignores_its_arguments():
    layer = nn.Identity(54, unused_argument1=0.1, unused_argument2=False)
    x = st.Tensor(np.ones((2, 3)), requires_grad=True)
    assert layer(x) is x
    assert layer.output_shape((2, 3, 4)) == (2, 3, 4) and layer.cost((2, 3)) == (0, 0)
    assert repr(layer) == "Identity()" and list(layer.state_dict()) == []


# --------------------------------------------------------------------------------------------- errors


def test_shuffle_errors():
    raises(st.ShapeError, lambda: F.pixel_shuffle(np.zeros((2, 5, 3, 3)), 2), "pixel_shuffle",
           "C divisible by upscale_factor**2 = 4", "got (2, 5, 3, 3)")
    raises(st.ShapeError, lambda: F.pixel_unshuffle(np.zeros((2, 5, 3, 4)), 2), "pixel_unshuffle",
           "H and W divisible by downscale_factor = 2", "(2, 5, 3, 4)")
    raises(st.ShapeError, lambda: F.pixel_shuffle(np.zeros((3, 3)), 1), "pixel_shuffle", "(*, C, H, W)", "(3, 3)")
    raises(ValueError, lambda: nn.PixelShuffle(0), "PixelShuffle", "upscale_factor must be a positive int", "0")
    raises(TypeError, lambda: nn.PixelUnshuffle(2.0), "PixelUnshuffle", "downscale_factor", "2.0")
    raises(TypeError, lambda: nn.PixelShuffle(True), "PixelShuffle", "True")
    raises(st.ShapeError, lambda: nn.PixelShuffle(2)(np.zeros((1, 6, 2, 2), dtype=np.float32)),
           "PixelShuffle(upscale_factor=2)", "got (1, 6, 2, 2)")


def test_unflatten_errors():
    raises(TypeError, lambda: nn.Unflatten(1, 2), "Unflatten", "unflattened_size must be a tuple of ints", "2")
    raises(TypeError, lambda: nn.Unflatten(1.0, (2, 3)), "Unflatten", "dim must be an int")
    raises(ValueError, lambda: nn.Unflatten(1, (-1, -1)), "Unflatten", "at most one -1")
    raises(ValueError, lambda: nn.Unflatten(1, (0, 3)), "Unflatten", "positive ints")
    raises(st.ShapeError, lambda: nn.Unflatten(1, (2, 4))(np.zeros((2, 6))),
           "Unflatten(dim=1, unflattened_size=(2, 4))", "got (2, 6)")
    raises(st.ShapeError, lambda: nn.Unflatten(1, (4, -1))(np.zeros((2, 6))), "unflattens into (4, -1)")
    raises(st.ShapeError, lambda: nn.Unflatten(5, (2, 3)).output_shape((2, 6)), "dim=5", "got (2, 6)")
