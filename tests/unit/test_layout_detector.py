"""Layout-region pre- and post-processing on hand-made tensors (no weights)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from core.errors import ModelError
from models.layout_detector import (
    REGION_KINDS,
    RegionParams,
    decode_regions,
    nms,
    preprocess,
    to_page,
)

# a small input: stride 8 gives a 4 x 6 grid, stride 16 a 2 x 3 grid
HW = (32, 48)
STRIDES = (8, 16)
GRIDS = {8: (4, 6), 16: (2, 3)}
ONE_HOT = 60.0  # a logit this far above the others puts all but e^-60 of the mass on its bin


def _empty() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Net outputs with no region anywhere: zero scores, all box mass on bin 0."""
    scores, dists = [], []
    for stride in STRIDES:
        cells = math.prod(GRIDS[stride])
        scores.append(np.zeros((cells, len(REGION_KINDS)), np.float32))
        dist = np.zeros((cells, 4, 8), np.float32)
        dist[:, :, 0] = ONE_HOT
        dists.append(dist.reshape(cells, 32))
    return scores, dists


def _put(
    out: tuple[list[np.ndarray], list[np.ndarray]],
    stride: int,
    row: int,
    col: int,
    cls: int,
    score: float,
    bins: tuple[int, int, int, int],
) -> None:
    """A cell that scores ``score`` for ``cls`` with all mass on one bin per side (l, t, r, b)."""
    level = STRIDES.index(stride)
    cell = row * GRIDS[stride][1] + col
    out[0][level][cell, cls] = score
    dist = np.zeros((4, 8), np.float32)
    dist[np.arange(4), bins] = ONE_HOT
    out[1][level][cell] = dist.reshape(32)


def _decode(
    out: tuple[list[np.ndarray], list[np.ndarray]], **params: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return decode_regions(out[0], out[1], HW, STRIDES, RegionParams(**params))


def test_one_bin_per_side_gives_the_exact_box() -> None:
    out = _empty()
    # stride 8, row 2, col 3: centre (28, 20); sides 2, 1, 3, 0 bins of 8 pixels
    _put(out, 8, 2, 3, cls=4, score=0.9, bins=(2, 1, 3, 0))
    boxes, scores, ids = _decode(out)
    np.testing.assert_allclose(boxes, [[12.0, 12.0, 52.0, 20.0]], rtol=0, atol=1e-9)
    assert scores.tolist() == pytest.approx([0.9])
    assert ids.tolist() == [4]


def test_the_distance_is_the_mean_of_the_bin_distribution() -> None:
    out = _empty()
    cell = 1 * 3 + 2  # stride 16, row 1, col 2: centre (40, 24)
    out[0][1][cell, 0] = 0.8
    dist = np.full((4, 8), -ONE_HOT, np.float32)
    dist[0] = 0.0  # left: uniform over 0..7, mean 3.5
    dist[1, 1], dist[1, 2] = 0.0, math.log(3.0)  # top: 1/4 on bin 1, 3/4 on bin 2, mean 1.75
    dist[2, 4], dist[2, 6] = 0.0, 0.0  # right: half on 4, half on 6, mean 5
    dist[3, 0] = 0.0  # bottom: all on bin 0
    out[1][1][cell] = dist.reshape(32)
    boxes, _, _ = _decode(out)
    expected = [[40 - 3.5 * 16, 24 - 1.75 * 16, 40 + 5 * 16, 24.0]]
    np.testing.assert_allclose(boxes, expected, rtol=0, atol=1e-4)


def test_cells_at_or_below_the_score_threshold_are_dropped() -> None:
    out = _empty()
    _put(out, 8, 0, 0, cls=0, score=0.6, bins=(0, 0, 1, 1))
    _put(out, 8, 3, 5, cls=0, score=0.4, bins=(0, 0, 1, 1))
    _put(out, 16, 0, 0, cls=1, score=0.5, bins=(0, 0, 1, 1))
    boxes, scores, ids = _decode(out, score_threshold=0.5)
    assert scores.tolist() == pytest.approx([0.6]) and ids.tolist() == [0]
    np.testing.assert_allclose(boxes, [[4.0, 4.0, 12.0, 12.0]], rtol=0, atol=1e-9)
    _, scores, _ = _decode(out, score_threshold=0.3)
    assert scores.tolist() == pytest.approx([0.6, 0.5, 0.4])


def test_only_the_best_candidates_of_each_stride_are_decoded() -> None:
    out = _empty()
    _put(out, 8, 0, 0, cls=0, score=0.9, bins=(0, 0, 1, 1))
    _put(out, 8, 3, 5, cls=2, score=0.7, bins=(0, 0, 1, 1))
    _put(out, 16, 1, 2, cls=3, score=0.6, bins=(0, 0, 1, 1))
    _, scores, ids = _decode(out, candidates=1)
    assert ids.tolist() == [0, 3] and scores.tolist() == pytest.approx([0.9, 0.6])


def test_same_class_overlaps_merge_other_classes_and_distant_boxes_stay() -> None:
    out = _empty()
    # two neighbouring cells, each 4 bins wide on every side: their boxes overlap (IoU 0.6)
    _put(out, 8, 2, 2, cls=0, score=0.9, bins=(2, 2, 2, 2))
    _put(out, 8, 2, 3, cls=0, score=0.8, bins=(2, 2, 2, 2))
    # a box overlapping the first (IoU 0.62), but a title: not merged with text
    _put(out, 16, 1, 1, cls=1, score=0.7, bins=(1, 1, 1, 1))
    boxes, scores, ids = _decode(out, score_threshold=0.5)
    assert ids.tolist() == [0, 1] and scores.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(boxes, [[4, 4, 36, 36], [8, 8, 40, 40]], rtol=0, atol=1e-9)
    _, scores, _ = _decode(out, iou_threshold=0.7)  # looser: the overlap no longer merges
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    _, scores, _ = _decode(out, max_regions=2, iou_threshold=0.7)
    assert scores.tolist() == pytest.approx([0.9, 0.8])


def test_nms_keeps_the_best_of_an_overlap_and_every_separate_box() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float64)
    scores = np.array([0.7, 0.9, 0.8, 0.6])
    # IoU of the first two is 90 / 110 = 0.82; the third touches nothing
    assert nms(boxes, scores, 0.5, limit=10).tolist() == [1, 2]
    assert nms(boxes, scores, 0.85, limit=10).tolist() == [1, 2, 0]
    assert nms(boxes, scores, 0.5, limit=1).tolist() == [1]
    assert nms(boxes[:0], scores[:0], 0.5, limit=10).tolist() == []


def test_a_grid_of_the_wrong_size_is_refused() -> None:
    scores, dists = _empty()
    with pytest.raises(ModelError, match="4x6 grid at stride 8"):
        decode_regions([scores[0][:-1], scores[1]], [dists[0][:-1], dists[1]], HW, STRIDES)


def test_boxes_map_back_by_the_scale_factors_and_are_clipped() -> None:
    boxes = np.array([[60.8, 80.0, 121.6, 160.0], [-5.0, 700.0, 600.0, 800.0]])
    page = to_page(boxes, scale_x=608 / 1216, scale_y=800 / 2400, page_hw=(2400, 1216))
    np.testing.assert_allclose(page, [[121.6, 240, 243.2, 480], [0, 2100, 1200, 2400]], rtol=1e-12)
    clipped = to_page(boxes, scale_x=0.25, scale_y=0.5, page_hw=(1000, 1000))
    expected = [[243.2, 160, 486.4, 320], [0, 1000, 1000, 1000]]
    np.testing.assert_allclose(clipped, expected, rtol=1e-12)


def test_preprocess_squashes_the_page_and_normalises_rgb() -> None:
    page = np.zeros((1200, 900, 3), np.uint8)
    page[..., 0] = 255  # pure red
    x, sx, sy = preprocess(page)
    assert x.shape == (3, 800, 608) and x.dtype == np.float32
    assert (sx, sy) == (608 / 900, 800 / 1200)
    assert x[:, 400, 300].tolist() == pytest.approx(
        [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], abs=1e-5
    )
    grey, gx, gy = preprocess(np.full((400, 304), 255, np.uint8))
    assert grey.shape == (3, 800, 608) and (gx, gy) == (2.0, 2.0)
    assert grey[2, 0, 0] == pytest.approx((1 - 0.406) / 0.225, abs=1e-5)
