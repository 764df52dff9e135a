"""Batch transforms against hand computations, SciPy (rotation) and PyTorch (resize, padding modes)."""

from __future__ import annotations

import numpy as np
import pytest

from strided.data import random_shift
from strided.data.transforms import (CenterCrop, Compose, Normalize, Pad, RandomCrop, RandomHorizontalFlip,
                                     RandomRotation, RandomShift, Resize, ToFloat, rotate)
from strided.errors import ShapeError

TORCH_REASON = "needs PyTorch (the oracle): pip install torch==2.13.0"


def images(n=3, c=2, h=5, w=6, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def test_to_float_scales_uint8_to_unit_range():
    x = np.array([[[[0, 255, 51]]]], np.uint8)
    out = ToFloat()(x, None)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[[0.0, 1.0, 0.2]]]], rtol=1e-7)
    assert ToFloat()(np.ones((1, 1), np.float64), None).dtype == np.float32
    with pytest.raises(TypeError, match="uint8 or float"):
        ToFloat()(np.ones((1, 1), np.int32), None)


def test_normalize_per_channel_by_hand():
    x = np.zeros((2, 3, 1, 2), np.float32)
    x[:, 0], x[:, 1], x[:, 2] = 1.0, 2.0, 4.0
    out = Normalize([1.0, 0.0, 2.0], [1.0, 4.0, 0.5])(x, None)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], 0.0)
    np.testing.assert_allclose(out[:, 1], 0.5)                            # (2 - 0) / 4
    np.testing.assert_allclose(out[:, 2], 4.0)                            # (4 - 2) / 0.5
    np.testing.assert_allclose(Normalize(0.5, 0.25)(np.ones((1, 2, 3), np.float32), None), 2.0)   # 1-D data too
    with pytest.raises(ShapeError, match="Normalize"):
        Normalize([0, 0], [1, 1])(x, None)
    with pytest.raises(ValueError, match="positive"):
        Normalize([0], [0])


def test_pad_constant_and_symmetric_by_hand():
    x = np.array([[[[1.0, 2.0, 3.0]]]], np.float32)                      # (1, 1, 1, 3)
    out = Pad((2, 1, 0, 0), value=9.0)(x, None)                           # left 2, top 1
    np.testing.assert_array_equal(out[0, 0], [[9, 9, 9, 9, 9], [9, 9, 1, 2, 3]])
    np.testing.assert_array_equal(Pad((2, 0), mode="symmetric")(x, None)[0, 0], [[2, 1, 1, 2, 3, 3, 2]])
    np.testing.assert_array_equal(Pad((2, 0), mode="reflect")(x, None)[0, 0], [[3, 2, 1, 2, 3, 2, 1]])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_match_pytorch(mode):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x = images(2, 3, 4, 5)
    out = Pad((1, 2, 3, 0), mode=mode)(x, None)                           # left, top, right, bottom
    want = torch.nn.functional.pad(torch.from_numpy(x), (1, 3, 2, 0), mode=mode).numpy()
    np.testing.assert_array_equal(out, want)


def test_center_crop_offsets_as_torchvision():
    x = np.arange(5 * 6, dtype=np.float32).reshape(1, 1, 5, 6)
    out = CenterCrop((2, 3))(x, None)
    np.testing.assert_array_equal(out[0, 0], x[0, 0, 2:4, 2:5])          # round(1.5) = 2, round(1.5) = 2
    np.testing.assert_array_equal(CenterCrop(4)(x, None)[0, 0], x[0, 0, 0:4, 1:5])   # round(0.5) = 0, round(1) = 1
    with pytest.raises(ShapeError, match="at least 6 x 6"):
        CenterCrop(6)(x, None)


def test_random_crop_cuts_the_drawn_window_of_the_padded_image():
    x = images(4, 2, 5, 6)
    out = RandomCrop((3, 4), padding=1)(x, np.random.default_rng(7))
    g = np.random.default_rng(7)
    top, left = g.integers(0, 7 - 3 + 1, size=4), g.integers(0, 8 - 4 + 1, size=4)
    padded = np.zeros((4, 2, 7, 8), np.float32)
    padded[:, :, 1:6, 1:7] = x
    for i in range(4):
        np.testing.assert_array_equal(out[i], padded[i, :, top[i]:top[i] + 3, left[i]:left[i] + 4])


def test_random_crop_reaches_every_position():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4).repeat(500, axis=0)
    out = RandomCrop(2)(x, np.random.default_rng(0))
    corners = {int(v) for v in out[:, 0, 0, 0]}                          # top-left value = 4 * top + left
    assert corners == {4 * r + c for r in range(3) for c in range(3)}


def test_horizontal_flip_per_image():
    x = images(6)
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x, np.random.default_rng(0)), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x, np.random.default_rng(0)), x[:, :, :, ::-1])
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(3))
    flips = np.random.default_rng(3).random(6) < 0.5
    assert 0 < flips.sum() < 6
    for i in range(6):
        np.testing.assert_array_equal(out[i], x[i, :, :, ::-1] if flips[i] else x[i])


def test_random_shift_moves_by_the_drawn_offsets():
    x = images(5, 1, 6, 6)
    out = RandomShift(2)(x, np.random.default_rng(4))
    dy, dx = np.random.default_rng(4).integers(-2, 3, size=(2, 5))
    for i in range(5):
        want = np.zeros((6, 6), np.float32)                               # out[r, c] = x[r + dy, c + dx]
        for r in range(6):
            for c in range(6):
                if 0 <= r + dy[i] < 6 and 0 <= c + dx[i] < 6:
                    want[r, c] = x[i, 0, r + dy[i], c + dx[i]]
        np.testing.assert_array_equal(out[i, 0], want)
    np.testing.assert_array_equal(random_shift(x, 2, np.random.default_rng(4)), out)


def test_resize_nearest_by_hand():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(Resize((4, 6))(x, None), x.repeat(2, axis=2).repeat(2, axis=3))
    np.testing.assert_array_equal(Resize((1, 3))(x, None)[0, 0], [[0, 1, 2]])   # rows floor(0 * 2/1) = 0


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "area", "nearest-exact"])
@pytest.mark.parametrize("size", [(9, 4), (3, 3), (10, 13)])
def test_resize_matches_pytorch_interpolate(mode, size):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x = images(2, 3, 5, 6)
    out = Resize(size, mode=mode)(x, None)
    want = torch.nn.functional.interpolate(torch.from_numpy(x).double(), size=size, mode=mode).numpy()
    assert out.shape == (2, 3) + size and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_resize_bilinear_matches_scipy_zoom_grid_mode():
    ndimage = pytest.importorskip("scipy.ndimage", reason="needs SciPy (the rotation/zoom oracle): pip install scipy")
    x = images(1, 1, 4, 5).astype(np.float64)
    out = Resize((8, 10), mode="bilinear")(x, None)                       # half-pixel centres, edges replicated
    want = ndimage.zoom(x[0, 0], 2, order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(out[0, 0], want, atol=1e-12)


@pytest.mark.parametrize("mode, order", [("bilinear", 1), ("nearest", 0)])
@pytest.mark.parametrize("fill", [0.0, 0.5])
def test_rotate_matches_scipy_ndimage(mode, order, fill):
    ndimage = pytest.importorskip("scipy.ndimage", reason="needs SciPy (the rotation/zoom oracle): pip install scipy")
    x = images(3, 2, 7, 9).astype(np.float64)
    angles = np.array([13.7, -8.2, 4.9])
    out = rotate(x, angles, mode, fill)
    for i in range(3):
        for c in range(2):
            want = ndimage.rotate(x[i, c], angles[i], reshape=False, order=order, mode="grid-constant", cval=fill)
            np.testing.assert_allclose(out[i, c], want, atol=1e-12)


def test_rotate_quarter_turn_is_rot90():
    x = images(2, 1, 6, 6)
    np.testing.assert_allclose(rotate(x, [90.0, -90.0]), np.stack([np.rot90(x[0], 1, axes=(1, 2)),
                                                                    np.rot90(x[1], -1, axes=(1, 2))]), atol=1e-6)


def test_random_rotation_draws_its_angles_uniformly():
    x = images(4, 1, 8, 8)
    out = RandomRotation(10, mode="nearest")(x, np.random.default_rng(5))
    angles = np.random.default_rng(5).uniform(-10, 10, size=4)
    np.testing.assert_array_equal(out, rotate(x, angles, "nearest"))
    with pytest.raises(TypeError, match="degrees"):
        RandomRotation((5, 1))


def test_compose_applies_in_order_with_one_generator():
    x = np.zeros((2, 1, 2, 2), np.uint8)
    t = Compose([ToFloat(), lambda x, g: x + g.random(), Normalize(0.5, 2.0)])
    out = t(x, np.random.default_rng(1))
    np.testing.assert_allclose(out, (np.random.default_rng(1).random() - 0.5) / 2.0, rtol=1e-6)


@pytest.mark.parametrize("transform", [Pad(1), CenterCrop(2), RandomCrop(2), RandomHorizontalFlip(),
                                       RandomShift(1), Resize(4), RandomRotation(5)])
def test_image_transforms_refuse_other_ranks(transform):
    with pytest.raises(ShapeError, match=r"expected input images \(N, C, H, W\), got \(3, 4, 4\)"):
        transform(np.zeros((3, 4, 4), np.float32), np.random.default_rng(0))
