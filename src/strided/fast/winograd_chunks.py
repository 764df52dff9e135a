"""How Winograd's tiles (``winograd.py``) are cut into chunks, and how the chunks are shared over
strided's own threads (``fast.split``).

A chunk is a run of tiles transformed, multiplied and transformed back while its arrays are in
cache (``chunks``). With more than one thread (``st.set_num_threads``) a layer whose chunk
products are small enough for the BLAS to keep on one thread (``split_parts``) shares its
chunks out: in the forward, every other chunk to each thread (their output tiles never meet);
in the backward, whose input-gradient tiles overlap their neighbours by two rows and columns,
in two phases of whole tile rows (``row_phases``): the even rows, then the odd ones. Rows of one
parity never touch, so each thread adds onto the gradient grid alone.

Measured in ``split_parts``.
"""

from __future__ import annotations

import math

import numpy as np

from .split import split_threads

CHUNK_BYTES = 3 * 2**19                    # transformed values at a time (``chunks``): they stay in cache
MIN_CHUNK_COLUMNS = 128                    # ... unless that leaves the products fewer columns
SPLIT_MACS = 2**20                         # chunk products (a plane's multiply-adds) shared out up to this
SPLIT_ROWS = 4                             # tile rows for a split backward: two of each parity


def chunks(tiles: int, per_tile: int, batch: int, weight_bytes: int | None = None):
    """``(first, count)`` runs of tiles whose transformed arrays hold at most ``CHUNK_BYTES``
    (``per_tile`` bytes a tile), or ``MIN_CHUNK_COLUMNS`` columns (tiles times ``batch``) where
    that is more: the products need a few columns to run at speed, each chunk's product reading
    the whole transformed weight (``weight_bytes``). That floor stops where a chunk would hold more
    bytes than the weight: past it the chunk's arrays leaving the cache cost more than reading the
    weight again.

    Measured at batch 32 (ResNet-18 inference, one layer, tiles a chunk -> ms): 512 channels at 7x7
    1 -> 18.8, 4 -> 16.0; 256 at 14x14 2 -> 15.1, 16 -> 19.7; 128 at 28x28 3 -> 13.6, 49 -> 16.3; 64
    at 56x56 7-16 -> 19.5-20.0, 64 -> 23.9. A floor of 2,048 columns (64 tiles at batch 32) made
    every chunk there 9-19 MB: whole steps, floor 2,048 against 128, ResNet-18 inference at batch
    32 411 -> 387 ms, ResNet-20 training 266 -> 239 ms (same process, alternated; VGG-11 and the
    U-Net unchanged). Whole training steps alternated in one process, 4 MB against 1.5 MB (a
    chunk's input, its products and their output nearer the 1 MB L2 of a core): ResNet-20 303 ->
    271 ms, the U-Net 191 -> 180-182 ms; 1 and 2 MB within 2% of 1.5; ResNet-18 at batch 32,
    VGG-11 and MobileNetV2 unchanged. The weight's cap: the U-Net's decoder layer of 128 to 64
    channels at 16x16, batch 16 (a row of four tiles 1.2 MB, the weight 1.2 MB), the layer's
    training step alone while the machine ran slow (its cache shared): two rows a chunk 17.3-17.9
    ms, one row 11.7-12.3 (on a quiet machine both 10.1-10.6). With a weight larger than the
    floor's chunk (256 to 128 channels at 8x8, 4.7 MB) the 128 columns stay the faster: 13.5-14.0
    ms against 15.4-16.7 with 32 or 64."""
    per_tile = max(per_tile, 1)
    floor = -(-MIN_CHUNK_COLUMNS // max(batch, 1))                      # tiles for the columns' floor
    if weight_bytes is not None:
        floor = min(floor, max(1, weight_bytes // per_tile))            # ... no more bytes than the weight
    step = max(1, CHUNK_BYTES // per_tile, floor)
    return [(first, min(step, tiles - first)) for first in range(0, tiles, step)]


def chunk_runs(grids, per_tile: int, weight_bytes: int | None = None):
    """``chunks`` of ``grids``' units (single tiles for ``BatchRuns``, whole tile rows for
    ``PhaseRuns``), as ``(first tile, tiles)`` runs."""
    per = grids.tiles_per_unit
    return [(first * per, count * per)
            for first, count in chunks(grids.units, per_tile * per, grids.n * per, weight_bytes)]


def buffer_view(flat: np.ndarray, shape: tuple) -> np.ndarray:
    """The C-contiguous ``shape`` view at the start of ``flat`` (a last, shorter chunk included)."""
    return flat[:math.prod(shape)].reshape(shape)


def split_parts(c_in: int, c_out: int, columns: int, chunk_count: int) -> int:
    """How many threads a layer's chunks go over: ``split.split_threads()``, no more than there
    are chunks, where each plane's product, ``(C_out, C_in) @ (C_in, columns)``, has at most
    ``SPLIT_MACS`` multiply-adds; else one. Larger products already keep both cores busy inside
    the BLAS, and two threads calling it at once queue for them. Whole steps with two threads,
    alternated in one process, ``SPLIT_MACS`` 2^18 / 2^20 / 2^23 / every layer (median ms):
    ResNet-20 194.1 / 191.5 / 191.4; the U-Net 126.3 / 118.1 / 120.4 (2^21 120.5, 2^22 118.5);
    VGG-11 inference at batch 256 250.4 / 249.8 / 370.7 / 366.6; ResNet-18 inference at batch 32
    546.6 / 536.1 / 837.5 / 776.8 (2^21 815.9). One thread of our own against two, with 2^18:
    ResNet-20 258.2 -> 203.6 ms, the U-Net 148.6 -> 127.2."""
    threads = split_threads()
    if threads <= 1 or c_in * c_out * columns > SPLIT_MACS:
        return 1
    return max(1, min(threads, chunk_count))


def even_runs(runs, parts: int):
    """``runs`` (consecutive ``(first, count)`` tiles) cut again into a multiple of ``parts`` runs
    of as even a length as the tiles allow, none longer than before: each part then gets the same
    work (ResNet-18's 64 channels at 56x56, batch 1, came in runs of 170 and 26 tiles)."""
    if parts <= 1 or not runs:
        return runs
    tiles = runs[-1][0] + runs[-1][1]
    count = min(tiles, -(-len(runs) // parts) * parts)
    bounds = [tiles * i // count for i in range(count + 1)]
    return [(start, end - start) for start, end in zip(bounds, bounds[1:])]


def row_phases(tiles_h: int, tiles_w: int, step: int, parts: int):
    """The backward's chunks for ``parts`` threads: ``[phase][part] -> [(first tile, tiles), ...]``.

    Phase 0 holds the even tile rows, phase 1 the odd ones, dealt to the parts in turn (with four
    rows: rows 0 and 2, then 1 and 3); each row cut into runs of at most ``step`` tiles. Tiles of
    rows two apart share no input position, so the parts of a phase add onto the input gradient
    apart, and the phases run one after the other.
    """
    step = max(1, min(step, tiles_w))
    phases = []
    for parity in (0, 1):
        rows = list(range(parity, tiles_h, 2))
        phases.append([[(row * tiles_w + first, min(step, tiles_w - first))
                        for row in rows[part::parts] for first in range(0, tiles_w, step)]
                       for part in range(parts)])
    return phases
