"""3x3 convolution by Winograd's F(4x4, 3x3) (``fast/winograd.py``) against PyTorch and a direct sum.

The form's forward and both gradients are checked on their own (the layer picks the form by
``winograd_fits``), float64 to 1e-10 of the values' scale and float32 to float32 rounding, over
output sizes that do and do not fill the 4x4 tiles, zero, one-sided and wide padding, batch-last
and plain inputs, an empty batch, and frozen inputs or weights; the tile transforms also against
their matrices (``B_T``, ``A_T``) applied by NumPy. Then the layer itself: inference and training
through ``Conv2d`` on both paths equal PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided import fast, windows
from strided.nn import conv as conv_module
from oracle import TF, needs_torch, torch

pytestmark = needs_torch
if not fast.available():
    pytest.skip('the compiled path needs Numba: pip install "strided[fast]"', allow_module_level=True)
from strided.fast import winograd, winograd_chunks  # noqa: E402  (imports Numba)

GEOMETRIES = [  # (N, C_in, C_out, H, W, padding)
    (3, 5, 4, 8, 8, 1),                      # outputs fill the tiles exactly
    (2, 3, 6, 9, 7, 1),                      # partial tiles at the bottom and the right
    (4, 2, 3, 6, 5, 0),                      # no padding: 4x3 outputs
    (3, 4, 5, 4, 4, 1),                      # exactly one tile a side (a U-Net's 4x4 bottleneck)
    (2, 4, 2, 5, 6, ((1, 0), (0, 1))),       # one-sided padding
    (1, 3, 3, 3, 3, 2),                      # padding wider than the kernel reaches
    (2, 2, 2, 1, 1, 1),                      # a single pixel
    (0, 3, 4, 8, 8, 1),                      # an empty batch
]


def torch_conv(x, w, padding):
    """PyTorch's convolution of ``x`` (float64 tensor) with ``padding`` given as ours."""
    if isinstance(padding, int):
        return TF.conv2d(x, w, padding=padding)
    (top, bottom), (left, right) = padding
    return TF.conv2d(TF.pad(x, (left, right, top, bottom)), w)


def run_form(x, wt, g, padding, layout="batch_last", need_x=True, need_w=True):
    """The form's output ``(N, C_out, Ho, Wo)`` and gradients for an output gradient ``g``."""
    if layout == "batch_last":
        x = windows.to_batch_last(x)
    xs, ws = st.Tensor(x, requires_grad=need_x), st.Tensor(wt, requires_grad=need_w)
    window = conv_module.conv_window(x.shape, wt.shape, 1, padding, 1, 1, "conv2d")
    out_m, backward = winograd.winograd_form(xs, ws, window, 1)
    out = windows.from_channel_major(out_m, x.shape[0], window.out_sizes)
    gb = windows.to_batch_last(g)
    gx, gw = backward(gb, windows.to_channel_major(gb))
    return out, gx, gw


def torch_reference(x, wt, g, padding):
    xt, wtt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, wt))
    y = torch_conv(xt, wtt, padding)
    y.backward(torch.tensor(g, dtype=torch.float64))
    return y.detach().numpy(), xt.grad.numpy(), wtt.grad.numpy()


def scaled_error(actual, expected):
    """The largest difference as a share of the largest expected magnitude (0 for empty arrays)."""
    if expected.size == 0:
        assert actual.shape == expected.shape
        return 0.0
    return float(np.abs(np.asarray(actual, dtype=np.float64) - expected).max() / max(np.abs(expected).max(), 1e-300))


def test_the_transforms_compute_a_correlation_in_one_dimension():
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(6), rng.standard_normal(3)
    direct = np.array([sum(d[i + k] * g[k] for k in range(3)) for i in range(4)])   # the naive loop
    via_transforms = winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d))
    np.testing.assert_allclose(via_transforms, direct, rtol=1e-12, atol=1e-12)


@pytest.fixture(params=["batch runs", "phase runs"])
def runs(request, monkeypatch):
    """Each test of the form once per kind of transform kernels (``BatchRuns``, ``PhaseRuns``),
    whatever ``phase_runs`` would pick for its shapes."""
    phased = request.param == "phase runs"
    monkeypatch.setattr(winograd, "phase_runs", lambda n, tiles_w: phased)
    return request.param


@pytest.mark.parametrize("n, c_in, c_out, h, w, padding", GEOMETRIES + [
    (5, 3, 4, 17, 23, 1),                    # four and six tiles a row, partial tiles
    (2, 4, 3, 16, 16, 0),                    # no padding, 14x14 outputs
    (2, 66, 64, 9, 9, 1),                    # GRAM_CHANNELS: the weight gradient's sums by gram.plane_gram
])
def test_forward_and_gradients_match_torch_float64(runs, n, c_in, c_out, h, w, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c_in, h, w))
    wt = rng.standard_normal((c_out, c_in, 3, 3))
    y_shape = tuple(torch_conv(torch.tensor(x), torch.tensor(wt), padding).shape)
    g = rng.standard_normal(y_shape)
    expected = torch_reference(x, wt, g, padding)
    for actual, want, what in zip(run_form(x, wt, g, padding), expected, ("output", "input gradient", "weight gradient")):
        assert actual.shape == want.shape, what
        assert scaled_error(actual, want) < 1e-10, what


@pytest.mark.parametrize("chunk_tiles", [1, 2, 3])
@pytest.mark.parametrize("gram", [False, True], ids=["blas_sums", "gram_sums"])
def test_chunks_of_tiles_give_the_whole_result(runs, monkeypatch, chunk_tiles, gram):
    """``CHUNK_BYTES`` small enough for 1-3 tiles a chunk (the last chunk shorter; with phase
    runs, 1-3 rows of three tiles): the same output and gradients as PyTorch, float64. The weight
    gradient's sums over the chunks by the BLAS or (``GRAM_CHANNELS`` lowered) by ``plane_gram``."""
    n, c_in, c_out, h, w = 3, 4, 5, 9, 10                      # 3x3 tiles of outputs
    per_tile = 36 * c_out * n * 8
    monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", per_tile * chunk_tiles * (3 if runs == "phase runs" else 1))
    monkeypatch.setattr(winograd_chunks, "MIN_CHUNK_COLUMNS", 1)
    monkeypatch.setattr(winograd, "GRAM_CHANNELS", 1 if gram else 10**9)
    grids = (winograd.PhaseRuns if runs == "phase runs" else winograd.BatchRuns)((1, 1), 3, 3, n)
    assert len(winograd_chunks.chunk_runs(grids, per_tile)) == -(-(9 if runs == "batch runs" else 3) // chunk_tiles)
    rng = np.random.default_rng(8)
    x, wt = rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, 3, 3))
    g = rng.standard_normal((n, c_out, h, w))
    for actual, want in zip(run_form(x, wt, g, 1), torch_reference(x, wt, g, 1)):
        assert scaled_error(actual, want) < 1e-10


def test_a_chunk_keeps_enough_columns_for_the_products(monkeypatch):
    monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", 3 * 2**19)        # 1.5 MB of transformed values a chunk
    per_tile = 36 * 512 * 32 * 4                                   # 512 channels at batch 32: 2.4 MB a tile
    assert winograd_chunks.chunks(4, per_tile, 32) == [(0, 4)]            # 128 columns: all four tiles, not one
    # otherwise at most 1.5 MB of transformed values a chunk: 5 tiles of 294,912 bytes
    assert winograd_chunks.chunks(196, 36 * 64 * 32 * 4, 32) == [(first, min(5, 196 - first)) for first in range(0, 196, 5)]
    assert winograd_chunks.chunks(64, 36 * 16 * 128 * 4, 128) == [(first, min(5, 64 - first)) for first in range(0, 64, 5)]


def test_the_column_floor_stops_at_the_weights_size(monkeypatch):
    """The floor of ``MIN_CHUNK_COLUMNS`` holds while a chunk stays within the transformed weight's
    bytes (each chunk's product reads the whole weight), and gives way past it."""
    monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", 3 * 2**19)
    monkeypatch.setattr(winograd_chunks, "MIN_CHUNK_COLUMNS", 128)
    row = 36 * 128 * 16 * 4 * 4                                    # a row of 4 tiles, 128 channels, batch 16: 1.2 MB
    assert winograd_chunks.chunks(4, row, 64) == [(0, 2), (2, 2)]         # no weight given: 128 columns, two rows
    assert winograd_chunks.chunks(4, row, 64, 36 * 64 * 128 * 4) == [(first, 1) for first in range(4)]   # a 1.2 MB weight
    assert winograd_chunks.chunks(4, row, 64, 36 * 128 * 256 * 4) == [(0, 2), (2, 2)]   # a 4.7 MB weight: the floor holds
    tile = 36 * 512 * 32 * 4                                       # 512 channels at batch 32, one tile 2.4 MB
    assert winograd_chunks.chunks(4, tile, 32, 36 * 512 * 512 * 4) == [(0, 4)]
    assert winograd_chunks.chunks(4, tile, 32, 36 * 16 * 16 * 4) == [(first, 1) for first in range(4)]   # never under a tile


@pytest.mark.parametrize("layout", ["batch_last", "plain"])
def test_float32_matches_torch_to_float32_rounding(runs, layout):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 24, 13, 11)).astype(np.float32)
    wt = rng.standard_normal((20, 24, 3, 3)).astype(np.float32)
    g = rng.standard_normal((16, 20, 13, 11)).astype(np.float32)
    actual = run_form(x, wt, g, 1, layout)
    for a, want, what in zip(actual, torch_reference(x, wt, g, 1), ("output", "input gradient", "weight gradient")):
        assert a.dtype == np.float32, what
        assert scaled_error(a, want) < 2e-5, what


@pytest.mark.parametrize("need_x, need_w", [(True, False), (False, True)])
def test_a_frozen_side_gets_no_gradient_and_the_other_is_right(runs, need_x, need_w):
    rng = np.random.default_rng(3)
    x, wt, g = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 6, 6))
    _, gx, gw = run_form(x, wt, g, 1, need_x=need_x, need_w=need_w)
    _, gx_t, gw_t = torch_reference(x, wt, g, 1)
    assert (gx is None) == (not need_x) and (gw is None) == (not need_w)
    if need_x:
        assert scaled_error(gx, gx_t) < 1e-10
    if need_w:
        assert scaled_error(gw, gw_t) < 1e-10


@pytest.mark.parametrize("kernels, n, chosen", [
    ("haswell", 16, False), ("haswell", 64, True), ("", 32, False),         # AVX2 or unknown: from batch 64
    ("skylakex", 16, True), ("skylakex", 8, False), ("sapphirerapids", 16, True),   # AVX-512: from 16
])
def test_narrow_layers_follow_the_blas_kernels(kernels, n, chosen, monkeypatch):
    """16-channel layers take Winograd from the batch measured for the BLAS's kernels."""
    monkeypatch.setattr(winograd, "blas_kernels", lambda: kernels)
    window = window_of(n, 16, 16, 64)
    assert winograd.winograd_fits((n, 16, 64, 64), (16, 16, 3, 3), window, 1, training=True) is chosen


def test_blas_kernels_names_what_numpy_loaded():
    """The family threadpoolctl reads from NumPy's OpenBLAS, or '' without threadpoolctl."""
    from strided.threads import blas_kernels
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    pools = [p for p in pools if "numpy" in p.get("filepath", "")] or pools
    reported = {str(p.get("architecture") or "").lower() for p in pools}
    assert blas_kernels() == (reported.pop() if len(reported) == 1 else "")


def window_of(n, c_in, c_out, size, padding=1, stride=1, dilation=1):
    return conv_module.conv_window((n, c_in, size, size), (c_out, c_in, 3, 3), stride, padding, dilation, 1, "conv2d")


@pytest.mark.parametrize("n, c_in, c_out, size, training, chosen", [
    (128, 16, 16, 32, False, True),    # 16 channels whose tiles are filled, a long batch
    (128, 16, 16, 32, True, True),     # ... in training too
    (32, 16, 32, 32, True, False),     # 16 channels need a batch of 64 (with AVX2 BLAS kernels)
    (16, 16, 16, 64, True, False),     # ... so does the U-Net's 16-channel layer
    (16, 32, 32, 32, True, True),      # 32 channels do not
    (128, 8, 16, 32, False, False),    # too few channels
    (256, 512, 512, 2, False, False),  # 2x2 outputs fill a quarter of a tile
    (8, 256, 256, 4, False, True),     # one tile a side: in inference from a batch of 8
    (32, 256, 256, 4, True, True),     # ... and in training from a batch of 32
    (24, 256, 256, 4, True, False),    # ... not below it
    (32, 64, 64, 56, False, True),     # a short batch, 64 channels
    (32, 512, 512, 7, False, True),    # two partly filled tiles a side
    (8, 64, 64, 16, True, True),       # the shortest batch that gains
    (4, 64, 64, 16, True, False),      # runs shorter than a quarter of a vector
    (1, 64, 64, 56, False, True),      # one image: the transforms along the channels
    (1, 64, 64, 56, True, False),      # ... in inference only
    (1, 32, 32, 128, False, False),    # ... from 64 channels
    (1, 512, 512, 7, False, False),    # ... and four tiles a side
    (1, 64, 128, 16, False, False),    # ... and 50 M multiply-adds (19 M here)
    (4, 64, 128, 16, False, True),     # ... over the whole batch (75 M)
    (7, 64, 64, 56, False, True),      # a short batch in inference: along the channels too
    (2, 64, 64, 56, True, False),      # ... not in training
    (0, 64, 64, 56, False, False),     # an empty batch
])
def test_winograd_fits_follows_the_measured_rule(n, c_in, c_out, size, training, chosen, monkeypatch):
    monkeypatch.setattr(winograd, "blas_kernels", lambda: "haswell")
    window = window_of(n, c_in, c_out, size)
    assert winograd.winograd_fits((n, c_in, size, size), (c_out, c_in, 3, 3), window, 1, training=training) is chosen


TRANSFORM_CASES = [(3, 2, 8, 8, 1, 1), (2, 3, 9, 7, 1, 0), (1, 2, 5, 6, 2, 1), (1, 2, 5, 18, 2, 1)]   # n, c, h, w, ph, pw


def transform_case(n, c, h, w, ph, pw, seed):
    """An input ``x`` ``(C, H, W, N)``, transformed values ``m`` ``(36, C, T)``, an output gradient
    ``g`` ``(C, Ho, Wo, N)`` and the tiles a side, with what each transform must give for them:
    ``B_T``, ``A_T`` applied tile by tile by NumPy (a naive loop), as ``(V, Y, Gy, gX)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, h, w, n))
    ho, wo = h + 2 * ph - 2, w + 2 * pw - 2
    tiles_h, tiles_w = winograd.tiles_along(ho), winograd.tiles_along(wo)
    m = rng.standard_normal((36, c, tiles_h * tiles_w * n))
    g = rng.standard_normal((c, ho, wo, n))
    grid = np.zeros((c, 4 * tiles_h + 2, 4 * tiles_w + 2, n))               # the padded input, zeros past it
    grid[:, ph:ph + h, pw:pw + w] = x
    g_grid = np.zeros((c, 4 * tiles_h, 4 * tiles_w, n))
    g_grid[:, :ho, :wo] = g
    v, gy = np.empty_like(m), np.empty_like(m)
    y_grid, gx_grid = np.zeros_like(g_grid), np.zeros_like(grid)
    b, a = winograd.B_T, winograd.A_T
    for t in range(tiles_h * tiles_w):
        r, q = 4 * (t // tiles_w), 4 * (t % tiles_w)
        for ch in range(c):
            for k in range(n):
                col = t * n + k
                v[:, ch, col] = (b @ grid[ch, r:r + 6, q:q + 6, k] @ b.T).ravel()
                gy[:, ch, col] = (a.T @ g_grid[ch, r:r + 4, q:q + 4, k] @ a).ravel()
                y_grid[ch, r:r + 4, q:q + 4, k] = a @ m[:, ch, col].reshape(6, 6) @ a.T
                gx_grid[ch, r:r + 6, q:q + 6, k] += b.T @ m[:, ch, col].reshape(6, 6) @ b
    expected = (v, y_grid[:, :ho, :wo], gy, gx_grid[:, ph:ph + h, pw:pw + w])
    return x, m, g, (tiles_h, tiles_w), expected


def assert_transforms_equal(actual, expected):
    for got, want, what in zip(actual, expected, ("input", "output", "output gradient", "input gradient")):
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("n, c, h, w, ph, pw", TRANSFORM_CASES)
def test_each_tile_transform_equals_its_matrices(n, c, h, w, ph, pw):
    """``winograd_tiles``, all tiles in one call, against the matrices."""
    from strided.fast import winograd_tiles as tiles
    x, m, g, (_, tiles_w), expected = transform_case(n, c, h, w, ph, pw, seed=7)
    assert_transforms_equal((tiles.input_transform(x, ph, pw, tiles_w, 0, np.empty_like(m)),
                             tiles.output_transform(m, tiles_w, 0, np.empty(g.shape)),
                             tiles.grad_output_transform(g, tiles_w, 0, np.empty_like(m)),
                             tiles.grad_input_transform(m, ph, pw, tiles_w, 0, np.zeros(x.shape))), expected)


@pytest.fixture
def short_segments():
    """``winograd_phases`` with two tiles of a batch of up to 3 a segment (a row's last one shorter)."""
    from strided.fast import winograd_phases as phases
    kernels = (phases._segment, phases.input_transform, phases.output_transform, phases.grad_output_transform,
               phases.grad_input_transform)
    old = phases.SEGMENT_VALUES
    phases.SEGMENT_VALUES = 6
    for f in kernels:
        f.recompile()
    yield phases
    phases.SEGMENT_VALUES = old
    for f in kernels:
        f.recompile()


@pytest.mark.parametrize("n, c, h, w, ph, pw", TRANSFORM_CASES)
def test_each_phase_run_transform_equals_its_matrices(short_segments, n, c, h, w, ph, pw):
    """``winograd_phases`` (grids split, transformed a row of tiles a call, merged back) against
    the matrices."""
    phases = short_segments
    x, m, g, (tiles_h, tiles_w), expected = transform_case(n, c, h, w, ph, pw, seed=9)
    x_grid = phases.split_phases(x, ph, pw, np.empty((c, 4 * tiles_h + 2, 4, tiles_w + 1, n)))
    g_grid = phases.split_phases(g, 0, 0, np.empty((c, 4 * tiles_h, 4, tiles_w, n)))
    y_grid, gx_grid = np.empty(g_grid.shape), np.zeros(x_grid.shape)
    run = tiles_w * n
    v, gy = [], []
    for row in range(tiles_h):
        m_row = np.ascontiguousarray(m[:, :, row * run:(row + 1) * run])   # (36, C, tiles_w * N)
        v.append(phases.input_transform(x_grid, row, np.empty_like(m_row)))
        gy.append(phases.grad_output_transform(g_grid, row, np.empty_like(m_row)))
        phases.output_transform(m_row, row, y_grid)
        phases.grad_input_transform(m_row, row, gx_grid)
    assert_transforms_equal((np.concatenate(v, axis=2), phases.merge_phases(y_grid, 0, 0, np.empty(g.shape)),
                             np.concatenate(gy, axis=2), phases.merge_phases(gx_grid, ph, pw, np.empty(x.shape))),
                            expected)


@pytest.mark.parametrize("n, tiles_w, phased", [(16, 16, True), (32, 4, True), (63, 8, True), (64, 8, False),
                                                (128, 8, False), (16, 3, False), (16, 1, False)])
def test_short_batches_with_long_rows_take_phase_runs(n, tiles_w, phased):
    assert winograd.phase_runs(n, tiles_w) is phased


@pytest.mark.parametrize("kernel, stride, dilation, groups", [(5, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 1), (3, 1, 1, 2)])
def test_other_geometries_never_take_the_form(kernel, stride, dilation, groups):
    shape, weight = (128, 32, 16, 16), (32, 32 // groups, kernel, kernel)
    window = conv_module.conv_window(shape, weight, stride, 1, dilation, groups, "conv2d")
    assert not winograd.winograd_fits(shape, weight, window, groups)


@pytest.fixture
def form_calls(monkeypatch):
    """A list that gets one entry per call ``nn.conv`` makes to ``winograd_form``."""
    calls = []
    form = winograd.winograd_form
    monkeypatch.setattr(winograd, "winograd_form", lambda *args: calls.append(1) or form(*args))
    return calls


def test_conv2d_inference_matches_torch_on_both_paths(compute_path, form_calls):
    """A layer the rule sends to the form on the compiled path (batch 128, 16 channels, 16x16)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((128, 16, 16, 16)).astype(np.float32)
    layer = st.nn.Conv2d(16, 24, 3, padding=1, rng=np.random.default_rng(5))
    layer.eval()
    with st.no_grad():
        y = layer(st.Tensor(x)).data
    w, b = (torch.tensor(p.data, dtype=torch.float64) for p in (layer.weight, layer.bias))
    expected = TF.conv2d(torch.tensor(x, dtype=torch.float64), w, b, padding=1).numpy()
    assert y.dtype == np.float32 and scaled_error(y, expected) < 2e-5
    assert len(form_calls) == (1 if compute_path == "numba" else 0)


def test_conv2d_training_matches_torch_on_both_paths(compute_path, form_calls):
    """A layer the rule sends to the form in training (batch 16, 32 channels, 8x8): output and
    all three gradients against PyTorch's."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 32, 8, 8)).astype(np.float32)
    layer = st.nn.Conv2d(32, 40, 3, padding=1, rng=np.random.default_rng(5))
    xs = st.Tensor(x, requires_grad=True)
    y = layer(xs)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt, bt = (torch.tensor(p.data, dtype=torch.float64, requires_grad=True) for p in (layer.weight, layer.bias))
    yt = TF.conv2d(xt, wt, bt, padding=1)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    for actual, want in [(y.data, yt.detach()), (xs.grad, xt.grad), (layer.weight.grad, wt.grad), (layer.bias.grad, bt.grad)]:
        assert scaled_error(actual, want.numpy()) < 2e-5
    assert len(form_calls) == (1 if compute_path == "numba" else 0)


@pytest.mark.parametrize("n, c_in, c_out, h, w, padding, chunk_tiles", [
    (1, 5, 4, 8, 8, 1, None),                   # outputs fill the tiles exactly
    (1, 3, 6, 9, 7, 1, 2),                      # partial tiles; chunks of two tiles
    (1, 4, 3, 6, 5, 0, 1),                      # no padding; one tile a chunk
    (1, 4, 2, 5, 6, ((1, 0), (0, 1)), None),    # one-sided padding
    (3, 3, 6, 9, 7, 1, 2),                      # three images, chunks of two tiles
    (7, 4, 5, 8, 8, 1, None),                   # the longest short batch
])
def test_channels_last_form_matches_torch_float64(monkeypatch, n, c_in, c_out, h, w, padding, chunk_tiles):
    """A short batch in inference, the transforms along the channels (``channels_last_form``), from
    a batch-last, a plain and a channels-last input."""
    if chunk_tiles:
        monkeypatch.setattr(winograd_chunks, "CHUNK_BYTES", 36 * max(c_in, c_out) * n * 8 * chunk_tiles)
        monkeypatch.setattr(winograd_chunks, "MIN_CHUNK_COLUMNS", 1)
    rng = np.random.default_rng(9)
    x, wt = rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, 3, 3))
    expected = torch_conv(torch.tensor(x), torch.tensor(wt), padding).numpy()
    window = conv_module.conv_window(x.shape, wt.shape, 1, padding, 1, 1, "conv2d")
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for given in (windows.to_batch_last(x), x, channels_last):
        out_m, backward = winograd.winograd_form(st.Tensor(given), st.Tensor(wt), window, 1)
        out = windows.from_channel_major(out_m, n, window.out_sizes)
        assert windows.batch_last(out) and scaled_error(out, expected) < 1e-10
        assert backward(None, None) == (None, None)


@pytest.mark.parametrize("n", [1, 3])
def test_conv2d_short_batch_matches_torch_on_both_paths(compute_path, form_calls, n):
    """One and three images through ``Conv2d`` (64 channels, 56x56: the short-batch rule takes
    them), without gradients and with only the bias trainable: output and bias gradient against
    PyTorch's."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((n, 64, 56, 56)).astype(np.float32)
    layer = st.nn.Conv2d(64, 64, 3, padding=1, rng=np.random.default_rng(11))
    w, b = (torch.tensor(p.data, dtype=torch.float64) for p in (layer.weight, layer.bias))
    expected = TF.conv2d(torch.tensor(x, dtype=torch.float64), w, b, padding=1).numpy()
    with st.no_grad():
        y = layer(st.Tensor(x)).data
    assert y.dtype == np.float32 and scaled_error(y, expected) < 2e-5
    layer.weight.requires_grad = False
    y = layer(st.Tensor(x))
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    assert scaled_error(y.data, expected) < 2e-5
    np.testing.assert_allclose(layer.bias.grad, g.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-4)
    assert len(form_calls) == (2 if compute_path == "numba" else 0)
