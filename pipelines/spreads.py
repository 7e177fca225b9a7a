"""Page spreads: a sheet that holds two pages side by side (an open book, a report printed two
pages to a sheet) is read as two pages, left then right.

A sheet is a spread when all of these hold:

- it is wider than high (two portrait pages side by side make a landscape sheet);
- a gutter, a vertical strip that no line crosses, runs through the whole height of the text
  near the middle of the sheet, and it is wide (two page margins, not a column gap);
- the text on each side of it is a page's: many lines, spanning most of the text's height,
  and taller than wide (page-like proportions);
- no table or figure region of the layout model straddles the gutter (a wide table's columns
  are not two pages).

Left-to-right scripts only: the left page is read first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.types import BBox, TextLine, union_box


@dataclass(frozen=True)
class SpreadParams:
    """When a sheet is taken for two pages."""

    min_aspect: float = 1.15  # sheet width / height: a spread is landscape
    centre: float = 0.2  # the gutter lies within this share of the width of the middle
    min_gutter: float = 2.5  # gutter width, in median line heights (two page margins)
    min_lines: int = 8  # lines on each page, at least
    min_span: float = 0.6  # each page's text spans this share of the text's height
    min_upright: float = 0.75  # each page's text is at least this tall for its width


@dataclass(frozen=True)
class Spread:
    """Where a sheet was cut: the gutter's x and the two pages' boxes (sheet pixels)."""

    gutter: float
    left: BBox
    right: BBox

    def halves(self) -> tuple[BBox, BBox]:
        """The two pages' boxes, left first."""
        return self.left, self.right


def _free_strips(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The x-strips between runs of overlapping spans (sorted), as (start, end)."""
    order = sorted(spans)
    strips: list[tuple[float, float]] = []
    reach = order[0][1]
    for lo, hi in order[1:]:
        if lo > reach:
            strips.append((reach, lo))
        reach = max(reach, hi)
    return strips


def find_spread(
    lines: Sequence[TextLine],
    width: int,
    height: int,
    blocking: Sequence[BBox] = (),
    params: SpreadParams = SpreadParams(),
) -> Spread | None:
    """The spread this sheet of ``lines`` is, or None for a single page.

    ``blocking`` are boxes that may not be cut (the layout model's tables and figures).
    """
    if width < params.min_aspect * height or len(lines) < 2 * params.min_lines:
        return None
    unit = float(np.median([ln.bbox[3] - ln.bbox[1] for ln in lines])) or 1.0
    middle = width / 2
    strips = [
        (lo, hi)
        for lo, hi in _free_strips([(ln.bbox[0], ln.bbox[2]) for ln in lines])
        if hi - lo >= params.min_gutter * unit
        and abs((lo + hi) / 2 - middle) <= params.centre * width
    ]
    if not strips:
        return None
    lo, hi = max(strips, key=lambda s: s[1] - s[0])
    gutter = (lo + hi) / 2
    if any(b[0] < gutter < b[2] for b in blocking):
        return None
    left = [ln.bbox for ln in lines if ln.bbox[2] <= gutter]
    right = [ln.bbox for ln in lines if ln.bbox[0] >= gutter]
    text = union_box([ln.bbox for ln in lines])
    text_height = max(1.0, text[3] - text[1])
    for side in (left, right):
        if len(side) < params.min_lines:
            return None
        box = union_box(side)
        tall, wide = box[3] - box[1], box[2] - box[0]
        if tall < params.min_span * text_height or tall < params.min_upright * wide:
            return None
    sheet_w, sheet_h = float(width), float(height)
    return Spread(gutter, (0.0, 0.0, gutter, sheet_h), (gutter, 0.0, sheet_w, sheet_h))
