"""Interpolation (``F.interpolate``, ``Upsample`` and PyTorch's older ``Upsampling*2d``).

Oracles: PyTorch in float64 (forward and input gradient), central differences, hand computed
values, and the pixels that really move an output (for the receptive field).
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from strided import nn
from strided.geometry import ReceptiveField

from kernel_spy import spy_kernels
from oracle import TF, check_against_torch, check_gradients, needs_torch, torch
from expect import raises

SIZES = {1: [(2, 3, 7), (1, 2, 4)], 2: [(2, 3, 5, 6)], 3: [(1, 2, 4, 3, 5)]}
LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resizes(d):
    """size= and scale_factor= arguments for ``d`` spatial axes: integer, fractional, per axis."""
    sizes = [dict(size=9), dict(size=3), dict(size=(11, 4, 6)[:d]), dict(size=(1, 5, 2)[:d])]
    scales = [dict(scale_factor=2), dict(scale_factor=3.0), dict(scale_factor=1.5), dict(scale_factor=0.7),
              dict(scale_factor=(2.5, 0.5, 1.25)[:d]),
              dict(scale_factor=1.5, recompute_scale_factor=True), dict(scale_factor=0.7, recompute_scale_factor=True)]
    return sizes + scales


def cases():
    for d, shapes in SIZES.items():
        for shape in shapes:
            for kwargs in resizes(d):
                for mode in ("nearest", "nearest-exact", "area"):
                    yield shape, dict(kwargs, mode=mode)
                for align in (False, True, None):
                    yield shape, dict(kwargs, mode=LINEAR[d], align_corners=align)


def name(case):
    shape, kwargs = case
    return f"{len(shape) - 2}d-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@needs_torch
@pytest.mark.parametrize("shape, kwargs", list(cases()), ids=[name(c) for c in cases()])
def test_interpolate_matches_torch(shape, kwargs):
    check_against_torch(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), inputs=[shape])


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear"])
def test_interpolate_many_sizes_match_torch_forward(mode, dtype):
    """Index rules over many size pairs, up- and down-sampling, with float32's own rounding of the
    source coordinates too (forward only: one call per pair)."""
    rng = np.random.default_rng(0)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for n_in in range(1, 13):
        x = rng.standard_normal((1, 2, n_in)).astype(dtype)
        for n_out in range(1, 30):
            for kwargs in (dict(size=n_out), dict(scale_factor=n_out / 7)):
                if np.floor(n_in * kwargs.get("scale_factor", 1)) < 1:
                    continue
                for align in ([None] if mode != "linear" else [False, True]):
                    expected = TF.interpolate(torch.from_numpy(x), mode=mode, align_corners=align, **kwargs).numpy()
                    out = F.interpolate(x, mode=mode, align_corners=align, **kwargs).data
                    assert out.dtype == dtype
                    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance,
                                               err_msg=f"{mode} {n_in} {kwargs} {align}")


@needs_torch
def test_nearest_backward_is_the_adjoint_of_the_forward():
    """6 -> 74 pixels: PyTorch's forward and ours pick the pixel from the source coordinate rounded to
    float32; PyTorch's backward computes it another way and disagrees with its own forward on a few
    outputs here. Ours is the exact adjoint of the forward: central differences are the oracle."""
    check_against_torch(lambda x: F.interpolate(x, size=74), lambda x: TF.interpolate(x, size=74),
                        inputs=[(1, 1, 6)], grad=False)
    check_gradients(lambda x: F.interpolate(x, size=74), inputs=[(1, 1, 6)])


@pytest.mark.parametrize("kwargs", [dict(scale_factor=1.5, mode="bilinear"),
                                    dict(size=(3, 8), mode="bilinear", align_corners=True),
                                    dict(scale_factor=0.7, mode="nearest"),
                                    dict(size=(7, 2), mode="nearest-exact"),
                                    dict(size=(3, 4), mode="area")])
def test_interpolate_gradients_by_central_differences(kwargs):
    check_gradients(lambda x: F.interpolate(x, **kwargs), inputs=[(2, 2, 4, 5)])


def test_interpolate_by_hand():
    x = np.array([[[0.0, 1.0, 3.0]]])
    np.testing.assert_allclose(F.interpolate(x, scale_factor=2, mode="linear").data[0, 0],
                               [0, 0.25, 0.75, 1.5, 2.5, 3])
    np.testing.assert_allclose(F.interpolate(x, size=5, mode="linear", align_corners=True).data[0, 0],
                               [0, 0.5, 1, 2, 3])
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).data[0, 0], [0, 0, 1, 1, 3, 3])
    # nearest floors o * 3/4 (OpenCV's rule), nearest-exact rounds the pixel centre (o + 0.5) * 3/4
    np.testing.assert_array_equal(F.interpolate(x, size=4).data[0, 0], [0, 0, 1, 3])
    np.testing.assert_array_equal(F.interpolate(x, size=4, mode="nearest-exact").data[0, 0], [0, 1, 1, 3])
    # PyTorch's default keeps the given factor: 1.5 on 3 pixels gives 4 outputs 1/1.5 apart, at source
    # coordinates (o + 0.5) * 2/3 - 0.5 = -1/6 (clamped to 0), 1/2, 7/6, 11/6; recomputed, 3/4 apart
    np.testing.assert_allclose(F.interpolate(x, scale_factor=1.5, mode="linear").data[0, 0],
                               [0, 0.5, 1 + 2 / 6, 1 + 10 / 6])
    np.testing.assert_allclose(F.interpolate(x, scale_factor=1.5, mode="linear", recompute_scale_factor=True)
                               .data[0, 0], [0, 0.625, 1.75, 3])


def test_interpolate_keeps_float32():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for mode in ("nearest", "nearest-exact", "bilinear", "area"):
        out = F.interpolate(st.Tensor(x, requires_grad=True), scale_factor=1.5, mode=mode)
        assert out.dtype == np.float32, mode
        assert out.shape == (2, 3, 6, 7)


# --------------------------------------------------------------------------------------------- layers
MODULES = [
    (dict(scale_factor=2), (2, 3, 4, 5)),
    (dict(scale_factor=(1.5, 0.75), mode="bilinear"), (2, 3, 4, 5)),
    (dict(size=(7, 3), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    (dict(size=10, mode="linear"), (2, 3, 4)),
    (dict(scale_factor=1.7, mode="trilinear", align_corners=False), (1, 2, 3, 4, 2)),
    (dict(scale_factor=2.5, mode="nearest-exact", recompute_scale_factor=True), (1, 2, 3, 4, 2)),
]


@needs_torch
@pytest.mark.parametrize("kwargs, shape", MODULES)
def test_upsample_matches_torch(kwargs, shape):
    layer, reference = nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
    out, _ = check_against_torch(layer, reference, inputs=[shape])
    assert layer.output_shape(shape) == out.shape
    assert layer.cost(shape) == (0, 0)


@needs_torch
@pytest.mark.parametrize("name, kwargs", [("UpsamplingNearest2d", dict(scale_factor=2)),
                                          ("UpsamplingNearest2d", dict(size=(5, 7))),
                                          ("UpsamplingBilinear2d", dict(scale_factor=1.5)),
                                          ("UpsamplingBilinear2d", dict(size=(6, 3)))])
def test_older_upsampling_layers_match_torch(name, kwargs):
    layer, reference = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    check_against_torch(layer, reference, inputs=[(2, 3, 4, 5)])
    # PyTorch's repr leaves align_corners out; ours names it when it is set
    assert repr(layer).replace(", align_corners=True", "") == repr(reference)


@needs_torch
def test_upsample_repr_matches_torch():
    for kwargs in (dict(scale_factor=2), dict(size=(3, 4), mode="bilinear"), dict(scale_factor=(2, 3))):
        assert repr(nn.Upsample(**kwargs)) == repr(torch.nn.Upsample(**kwargs))


def measured_pixels(module, n, out_index):
    """The 1-D input pixels whose change moves output ``out_index`` (the oracle for the field)."""
    base = np.random.default_rng(0).standard_normal((1, 1, n))
    ref = module(st.Tensor(base, dtype=np.float64)).data[0, 0, out_index]
    moved = []
    for i in range(n):
        bumped = base.copy()
        bumped[0, 0, i] += 10.0
        if abs(module(st.Tensor(bumped, dtype=np.float64)).data[0, 0, out_index] - ref) > 1e-9:
            moved.append(i)
    return moved


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(scale_factor=3), dict(scale_factor=1.5),
                                    dict(scale_factor=0.5), dict(size=7), dict(size=5),
                                    dict(scale_factor=2, mode="nearest-exact"), dict(size=13, mode="nearest-exact"),
                                    dict(scale_factor=2, mode="linear"), dict(scale_factor=2.5, mode="linear"),
                                    dict(size=11, mode="linear", align_corners=True),
                                    dict(scale_factor=0.6, mode="linear")])
def test_upsample_receptive_field_is_the_tightest_envelope(kwargs):
    """Every pixel that moves an output lies in its declared window, and the window is as narrow as a
    field with this jump can be: some output's pixels touch each of its edges."""
    layer = nn.Upsample(**kwargs)
    n = 5
    rf = layer.receptive_field(ReceptiveField.identity(1), (1, 1, n))
    out_n = layer.output_shape((1, 1, n))[2]
    gaps_lo, gaps_hi = [], []
    for o in range(out_n):
        centre, half = rf.start[0] + o * rf.jump[0], (rf.size[0] - 1) / 2
        moved = measured_pixels(layer, n, o)
        assert moved and centre - half - 1e-9 <= min(moved) and max(moved) <= centre + half + 1e-9, (o, moved)
        gaps_lo.append(min(moved) - (centre - half))
        gaps_hi.append(centre + half - max(moved))
    assert min(gaps_lo) == pytest.approx(0, abs=1e-9) and min(gaps_hi) == pytest.approx(0, abs=1e-9)


def test_upsample_receptive_field_values():
    rf = ReceptiveField.identity(2)
    # bilinear x2 is the transposed convolution with the 4-tap bilinear kernel at stride 2, padding 1
    assert nn.Upsample(scale_factor=2, mode="bilinear").receptive_field(rf, (1, 1, 8, 8)) == \
        rf.through_transposed_window((4, 4), (2, 2), (1, 1), (1, 1))
    # nearest x2 is PixelShuffle's footprint; a copy and an integer down-sampling are exact
    assert nn.Upsample(scale_factor=2).receptive_field(rf, (1, 1, 8, 8)) == \
        nn.PixelShuffle(2).receptive_field(rf, (1, 4, 8, 8))
    assert nn.Upsample(size=8).receptive_field(rf, (1, 1, 8, 8)) == rf
    assert nn.Upsample(scale_factor=0.5).receptive_field(rf, (1, 1, 8, 8)) == \
        rf.through_window((1, 1), (2, 2), (0, 0), (1, 1))


# --------------------------------------------------------------------------------------------- errors


def test_interpolate_errors():
    x = np.zeros((2, 3, 5), dtype=np.float32)
    raises(ValueError, lambda: F.interpolate(x, size=7, scale_factor=2), "interpolate", "exactly one of size or "
           "scale_factor")
    raises(ValueError, lambda: F.interpolate(x), "interpolate", "exactly one")
    raises(ValueError, lambda: F.interpolate(x, size=7, align_corners=True), "interpolate", "align_corners",
           "mode='nearest'")
    raises(ValueError, lambda: F.interpolate(x, size=7, mode="nearest-exact", align_corners=False), "align_corners")
    raises(st.ShapeError, lambda: F.interpolate(x, size=7, mode="bilinear"), "interpolate",
           "(N, C, H, W) for mode='bilinear'", "got (2, 3, 5)")
    raises(st.ShapeError, lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=7, mode="trilinear"),
           "(N, C, D, H, W)", "(1, 1, 4, 4)")
    raises(st.ShapeError, lambda: F.interpolate(np.zeros((2, 3)), size=7), "interpolate", "got (2, 3)")
    raises(ValueError, lambda: F.interpolate(x, size=7, mode="bicubic"), "mode must be one of", "'bicubic'")
    raises(st.ShapeError, lambda: F.interpolate(x, size=(7, 8)), "size must have one entry per spatial axis")
    raises(st.ShapeError, lambda: F.interpolate(x, scale_factor=0.1), "output sizes must be >= 1", "(0,)")
    raises(ValueError, lambda: F.interpolate(x, scale_factor=-2), "scale_factor must be positive")
    raises(TypeError, lambda: F.interpolate(x, size=7.0), "size must be an int", "7.0")
    raises(TypeError, lambda: F.interpolate(x, scale_factor="2"), "scale_factor must be a number")
    raises(ValueError, lambda: F.interpolate(x, size=0), "size must be >= 1")
    raises(ValueError, lambda: F.interpolate(x, size=7, recompute_scale_factor=True), "not meaningful")
    raises(TypeError, lambda: F.interpolate(x, size=7, mode="linear", align_corners=1), "align_corners must be")
    raises(ValueError, lambda: F.interpolate(x, size=7, antialias=True), "antialias")


def test_upsample_errors():
    raises(ValueError, lambda: nn.Upsample(), "Upsample", "exactly one")
    raises(ValueError, lambda: nn.Upsample(scale_factor=2, align_corners=True), "Upsample", "align_corners")
    raises(ValueError, lambda: nn.Upsample(scale_factor=2, mode="cubic"), "Upsample", "'cubic'")
    layer = nn.Upsample(scale_factor=2, mode="bilinear")
    message = raises(st.ShapeError, lambda: layer(np.zeros((1, 2, 5), dtype=np.float32)),
                     "Upsample(scale_factor=2.0, mode='bilinear')", "got (1, 2, 5)")
    raises(st.ShapeError, lambda: layer.output_shape((1, 2, 5)), message)
    raises(st.ShapeError, lambda: nn.UpsamplingNearest2d(scale_factor=2)(np.zeros((1, 2, 5), dtype=np.float32)),
           "UpsamplingNearest2d", "(N, C, H, W)", "got (1, 2, 5)")


@needs_torch
@pytest.mark.parametrize("kwargs", [dict(scale_factor=2, mode="nearest"), dict(size=(7, 31), mode="nearest-exact"),
                                    dict(scale_factor=2, mode="bilinear"),
                                    dict(size=(5, 13), mode="bilinear", align_corners=True)])
@pytest.mark.parametrize("layout", ["C", "batch_last"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interpolate_on_long_rows_matches_torch_on_both_paths(compute_path, monkeypatch, kwargs, layout, dtype):
    """Rows of 16+ values after the resampled axis, where the compiled path resamples an axis by
    ``fast/resample.py`` (a batch-last batch of 16; a C-order width of 20): output and input
    gradient against PyTorch, the layout kept, and the kernels really run there."""
    from strided.windows import batch_last, to_batch_last
    calls = spy_kernels(monkeypatch, compute_path, "resample", ("resample_forward", "resample_backward"))
    rng = np.random.default_rng(11)
    x = rng.standard_normal((16, 3, 9, 20)).astype(dtype)
    xs = st.Tensor(to_batch_last(x) if layout == "batch_last" else x, requires_grad=True)
    y = F.interpolate(xs, **kwargs)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(to_batch_last(g) if layout == "batch_last" else g)
    xt = torch.tensor(x, requires_grad=True)
    yt = TF.interpolate(xt, **kwargs)
    yt.backward(torch.tensor(g))
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **tol)
    assert y.dtype == xs.grad.dtype == dtype
    if layout == "batch_last":
        assert batch_last(y.data) and batch_last(xs.grad)
    assert bool(calls) == (compute_path == "numba")
    assert ("resample_backward" in calls) == (compute_path == "numba")
