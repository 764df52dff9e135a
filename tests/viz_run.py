"""Shared by the ``test_viz_*`` files: one small trained run folder per test process, and PNG readers.

``tiny_run(tmp_path_factory)`` trains ``conv3-4 maxpool conv3-8 maxpool FC-10`` on the digits
(``--limit 400``: 400 training examples, all 360 test examples) for 2 epochs with ``strided
train``, once per process (a few seconds), and returns the folder.
"""

from __future__ import annotations

import numpy as np
import pytest

SPEC = "conv3-4 maxpool conv3-8 maxpool FC-10"
_RUNS: dict = {}


def require_viz():
    pytest.importorskip("matplotlib", reason="the viz extra (matplotlib) is not installed")
    pytest.importorskip("PIL", reason="the viz extra (Pillow) is not installed")


def tiny_run(tmp_path_factory):
    if "run" not in _RUNS:
        from strided.cli import main
        out = tmp_path_factory.mktemp("viz-runs") / "tiny"
        assert main(["train", SPEC, "--epochs", "2", "--limit", "400", "--out", str(out), "--no-progress"]) == 0
        _RUNS["run"] = out
    return _RUNS["run"]


def read_rgb(path) -> np.ndarray:
    """A PNG as ``(H, W, 3)`` int array (Pillow, independent of the code under test)."""
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.int64)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of the runs of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def cells(image: np.ndarray, is_gap: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The tiles of a grid picture separated by gap pixels: ``[(top, bottom, left, right)]`` row by row, each
    a block between full gap rows and full gap columns that holds some non-gap pixel."""
    rows = runs(~is_gap.all(axis=1))
    cols = runs(~is_gap.all(axis=0))
    return [(t, b, l, r) for t, b in rows for l, r in cols if not is_gap[t:b, l:r].all()]


def sample(image: np.ndarray, box, shape) -> np.ndarray:
    """The pixel at the centre of each of the ``shape`` sub-cells of ``box``: ``(*shape, 3)``."""
    top, bottom, left, right = box
    h, w = shape
    ys = (top + (np.arange(h) + 0.5) * (bottom - top) / h).astype(int)
    xs = (left + (np.arange(w) + 0.5) * (right - left) / w).astype(int)
    return image[np.ix_(ys, xs)]


def axes_box(fig, ax) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` pixel bounds of ``ax`` in the figure's saved PNG (same dpi)."""
    fig.canvas.draw()
    box = ax.get_window_extent()
    height = fig.canvas.get_width_height()[1]
    return (int(round(height - box.y1)), int(round(height - box.y0)), int(round(box.x0)), int(round(box.x1)))
