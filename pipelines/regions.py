"""Reading order from layout regions: lines -> regions -> bands and columns -> blocks.

The layout model finds regions (text, title, figure, table, captions, header, footer, ...). Here:

1. Each line goes to the region holding most of its box (at least half of it). Lines outside
   every region are grouped by the row rules of ``pipelines.layout`` and take part as regions of
   their own: the model is one input to the order, not its only judge.
2. A caption is tied to the figure or table it stands next to (above or below, overlapping it
   across), so the two are read together wherever they fall.
3. Headers (in the top strip of the page) are read first, footers (bottom strip) last.
4. A region that spans columns (it overlaps, across, two regions that stand side by side: a
   page-wide title, abstract or table) cuts the page into bands, read top to bottom; within a
   band, regions that overlap across form a column, columns are read left to right and each
   column top to bottom.
5. Inside a region, lines are read in rows (top to bottom, left to right within a row), so a
   table reads row by row, cells left to right.

``regions_describe_page`` decides whether the regions are used at all: forms and receipts (few
lines in prose regions) keep the row rules, which read them well.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from pipelines.layout import (
    LayoutParams,
    box_rows,
    build_layout,
    deskewed_box,
    page_skew,
    rows_order,
    wraps,
)
from pipelines.spreads import Spread, find_spread
from pipelines.types import BBox, Block, BlockKind, PageResult, TextLine, block_kind, union_box


class RegionLike(Protocol):
    """A layout region as the region detector gives it (page pixels)."""

    @property
    def kind(self) -> str: ...

    @property
    def bbox(self) -> BBox: ...

    @property
    def score(self) -> float: ...


class RegionFinder(Protocol):
    """Finds layout regions on page images (the layout model, by its ``name``)."""

    name: str

    def detect(self, images: list[np.ndarray]) -> Sequence[Sequence[RegionLike]]: ...


@dataclass(frozen=True)
class RegionOrderParams:
    """When regions are trusted, and the page strips where running heads may stand."""

    min_covered: float = 0.6  # share of the lines that must fall in regions
    min_prose: float = 0.5  # share of the lines in prose regions (text, title, caption, ...)
    min_prose_lines: int = 6  # lines in prose regions, at least
    # ... whose median length is a paragraph's: form fields and receipt items are short
    # (dev: the FUNSD form and SROIE receipt the model covered in "text" had medians of 14 and
    # 11 characters; the narrowest newspaper column, 32)
    min_prose_chars: float = 20.0
    # The model runs only on pages at least this share of whose lines are that long (a page of
    # paragraphs; bench/tuning/layout_gate.py): dev layout pages 0.65-0.97, FUNSD forms 0.08-0.57,
    # SROIE receipts 0.10-0.39. Its fixed cost is saved on forms and receipts, whose regions
    # the rules would overrule anyway, and a form of short cells is never read column-wise.
    min_long_share: float = 0.5
    head_strip: float = 0.15  # a header is in the top this-share of the page
    foot_strip: float = 0.15  # a footer is in the bottom this-share
    in_region: float = 0.5  # a line belongs to a region holding this share of its box
    pad: float = 0.3  # regions grow by this share of the median line height to take lines
    prose_table_lines: int = 8  # a "table" of at least this many lines ...
    prose_table_chars: float = 25.0  # ... this long (median characters) is columns of prose


# the model's kinds that are ours under another name
_KIND_ALIASES: dict[str, BlockKind] = {"reference": "text"}
_PROSE = frozenset({"text", "title", "reference", "figure_caption", "table_caption"})
_CAPTIONS: dict[str, str] = {"figure_caption": "figure", "table_caption": "table"}


@dataclass
class _Region:
    kind: BlockKind
    bbox: BBox
    lines: list[int]
    follows: int = -1  # a caption: the region (figure or table) it is read with


def _area(b: BBox) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _intersection(a: BBox, b: BBox) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _x_overlap(a: BBox, b: BBox) -> float:
    return min(a[2], b[2]) - max(a[0], b[0])


def _grown(b: BBox, pad: float) -> BBox:
    return (b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad)


def assign_lines(
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    share: float,
    pad: float = 0.0,
    exclude: Sequence[int] = (),
) -> list[int]:
    """For each line, the index of the region holding the most of its box (at least ``share``
    of it; the smaller region on a tie, so text inside a figure goes to a text region drawn
    in it), or -1; ``exclude[i]`` (when given) is a region line i may not go to. Regions are
    grown by ``pad`` pixels: the model draws them tight round the print, while a line's box
    has a margin."""
    grown = [_grown(region.bbox, pad) for region in regions]
    out = []
    for n, line in enumerate(lines):
        area = max(_area(line.bbox), 1e-6)
        best, best_key = -1, (share, 0.0)
        for r, region in enumerate(regions):
            if exclude and exclude[n] == r:
                continue
            # the line holds the region, or the region the line (a title region drawn round
            # part of a wide headline line)
            inter = _intersection(line.bbox, grown[r])
            part = max(inter / area, inter / max(_area(region.bbox), 1e-6))
            key = (part, -_area(region.bbox))
            if part >= share and key > best_key:
                best, best_key = r, key
        out.append(best)
    return out


def long_line_share(lines: Sequence[TextLine], chars: float) -> float:
    """The share of ``lines`` that are at least ``chars`` characters long (0 for no lines)."""
    if not lines:
        return 0.0
    return sum(len(line.text) >= chars for line in lines) / len(lines)


def worth_regions(lines: Sequence[TextLine], params: RegionOrderParams) -> bool:
    """Whether a page read as ``lines`` may be a page of paragraphs, whose order the layout
    model's regions can tell (else the row rules lay it out, and the model need not run)."""
    return long_line_share(lines, params.min_prose_chars) >= params.min_long_share


def regions_describe_page(
    lines: list[TextLine], kinds: Sequence[str], owner: list[int], params: RegionOrderParams
) -> bool:
    """True when the regions (of ``kinds``) cover the page's lines and most of them are prose
    (in text-like regions, paragraph-long): a page of paragraphs, not a form or a receipt
    (whose rows the row rules read best)."""
    if not lines or not kinds or not worth_regions(lines, params):
        return False
    covered = [r for r in owner if r >= 0]
    prose = [len(lines[i].text) for i, r in enumerate(owner) if r >= 0 and kinds[r] in _PROSE]
    return (
        len(covered) >= params.min_covered * len(lines)
        and len(prose) >= params.min_prose * len(lines)
        and len(prose) >= params.min_prose_lines
        and float(np.median(prose)) >= params.min_prose_chars
    )


def _region_kind(kind: str, held: list[TextLine], params: RegionOrderParams) -> BlockKind:
    """Our kind for a region the model called ``kind`` holding lines ``held``.

    The model takes columns of prose with rules between them for a table: a "table" of many
    long lines is text.
    """
    if kind == "table" and len(held) >= params.prose_table_lines:
        chars = float(np.median([len(line.text) for line in held]))
        if chars >= params.prose_table_chars:
            return "text"
    return block_kind(_KIND_ALIASES.get(kind, kind))


def _gutter_parts(lines: list[TextLine], held: list[int], unit: float) -> list[list[int]]:
    """A region's lines split at gutters (half a line height or more) that no line crosses,
    left to right."""
    if not held:
        return []
    spans = sorted((lines[i].bbox[0], lines[i].bbox[2]) for i in held)
    cuts, reach = [], spans[0][1]
    for lo, hi in spans[1:]:
        if lo - reach >= 0.5 * unit:
            cuts.append((reach + lo) / 2)
        reach = max(reach, hi)
    parts: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in held:
        centre = (lines[i].bbox[0] + lines[i].bbox[2]) / 2
        parts[sum(1 for c in cuts if centre > c)].append(i)
    return parts


def _gutter_columns(lines: list[TextLine], held: list[int], unit: float) -> list[list[int]]:
    """A text region's lines split at gutters that no line crosses, left to right, when every
    part holds a few lines (the model may draw one region over several columns)."""
    if len(held) < 6:
        return [held] if held else []
    parts = _gutter_parts(lines, held, unit)
    if len(parts) > 1 and min(len(p) for p in parts) < 3:
        return [held]
    return parts


def _give_back_strays(
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    kinds: Sequence[str],
    owner: list[int],
    unit: float,
    params: RegionOrderParams,
) -> list[int]:
    """``owner`` with the lines a text region took across a gutter, a line or two beside its
    column, handed to the region that holds them next best (when one does).

    The model may draw a column's region a little into the next column (how far differs
    with the CPU's arithmetic: on an AMD EPYC it took one line of the column beside it on a dev
    page), and a tie goes to the smaller region: that line was then read in the wrong column,
    and the region, now spanning both, cut the page's reading order in two.
    """
    out = list(owner)
    for r, kind in enumerate(kinds):
        if kind != "text":
            continue
        held = [i for i, o in enumerate(owner) if o == r]
        parts = _gutter_parts(lines, held, unit)
        if len(parts) < 2 or max(len(p) for p in parts) < 3:
            continue
        few = [i for p in parts if len(p) < 3 for i in p]
        if few:
            _hand_over(out, few, r, lines, regions, unit, params, keep_unheld=True)
    return out


def _hand_over(
    owner: list[int],
    moving: list[int],
    r: int,
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    unit: float,
    params: RegionOrderParams,
    keep_unheld: bool,
) -> None:
    """Lines ``moving`` taken from region ``r`` and given (in ``owner``) to the region that
    holds them next best; a line no other region holds stays (``keep_unheld``) or is left to
    the row rules (-1)."""
    others = assign_lines(
        [lines[i] for i in moving], regions, params.in_region, params.pad * unit, [r] * len(moving)
    )
    for i, o in zip(moving, others, strict=True):
        if o >= 0 or not keep_unheld:
            owner[i] = o


def _drop_prose_tables(
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    kinds: Sequence[str],
    owner: list[int],
    unit: float,
    params: RegionOrderParams,
) -> list[int]:
    """``owner`` with the lines of a "table" drawn over columns of prose handed to the regions
    that hold them next best.

    On news pages with rules between the columns the model may draw a table over two columns
    whose paragraphs it also found as text regions: most lines inside it then belong to those,
    and they are prose (paragraph-long). The few lines the table took would be read as a table
    between the columns. A real table's cells may be drawn as text regions too, but their lines
    are short."""
    out = list(owner)
    for r, kind in enumerate(kinds):
        if kind != "table":
            continue
        inside = [i for i, ln in enumerate(lines) if _centre_in(ln.bbox, regions[r].bbox)]
        others = [i for i in inside if out[i] >= 0 and out[i] != r and kinds[out[i]] == "text"]
        if len(inside) < 4 or len(others) <= len(inside) / 2:
            continue
        if float(np.median([len(lines[i].text) for i in others])) < params.prose_table_chars:
            continue
        held = [i for i, o in enumerate(out) if o == r]
        _hand_over(out, held, r, lines, regions, unit, params, keep_unheld=False)
    return out


def _split_around(found: list[_Region], lines: list[TextLine]) -> list[_Region]:
    """Text regions cut where another region stands inside them (a heading, a figure in a
    column the model drew as one region), so each part is read in its place."""
    out = list(found)
    k = 0
    while k < len(out):
        g = out[k]
        inner = next(
            (
                h
                for h in out
                if h is not g
                and g.kind == "text"
                and len(g.lines) > 1
                and _x_overlap(g.bbox, h.bbox) > 0.5 * (h.bbox[2] - h.bbox[0])
                and g.bbox[1] < (h.bbox[1] + h.bbox[3]) / 2 < g.bbox[3]
            ),
            None,
        )
        if inner is None:
            k += 1
            continue
        middle = (inner.bbox[1] + inner.bbox[3]) / 2
        above = [i for i in g.lines if (lines[i].bbox[1] + lines[i].bbox[3]) / 2 < middle]
        below = [i for i in g.lines if i not in above]
        parts = [
            _Region("text", union_box([lines[i].bbox for i in p]), p) for p in (above, below) if p
        ]
        if len(parts) < 2:
            k += 1
            continue
        out[k : k + 1] = parts
    return out


def _join_running_heads(found: list[_Region], height: int, params: RegionOrderParams) -> None:
    """Text in a header's (footer's) row, within its strip, is part of it: a running head's
    page number is often found as a region of its own, or none."""
    for kind, strip in (("header", params.head_strip), ("footer", params.foot_strip)):
        heads = [g.bbox for g in found if g.kind == kind]
        for g in found:
            if g.kind not in ("text", "title") or not heads:
                continue
            inside = (
                g.bbox[3] <= strip * height
                if kind == "header"
                else g.bbox[1] >= (1 - strip) * height
            )
            middle = (g.bbox[1] + g.bbox[3]) / 2
            if inside and any(h[1] <= middle <= h[3] for h in heads):
                g.kind = kind  # type: ignore[assignment]


def _tie_captions(regions: list[_Region]) -> None:
    """Tie each caption to the nearest figure or table of its kind right above or below it."""
    for cap in regions:
        target = _CAPTIONS.get(cap.kind)
        if target is None:
            continue
        best, best_gap = -1, np.inf
        for f, fig in enumerate(regions):
            if fig.kind != target or _x_overlap(cap.bbox, fig.bbox) <= 0:
                continue
            gap = max(cap.bbox[1] - fig.bbox[3], fig.bbox[1] - cap.bbox[3], 0.0)
            height = max(cap.bbox[3] - cap.bbox[1], 1.0)
            if gap < best_gap and gap <= 3 * height + 0.05 * (fig.bbox[3] - fig.bbox[1]):
                best, best_gap = f, gap
        cap.follows = best


def _side_by_side(a: BBox, b: BBox) -> bool:
    """Two boxes next to each other: apart across, level with each other (columns)."""
    apart = a[2] <= b[0] or b[2] <= a[0]
    return apart and min(a[3], b[3]) > max(a[1], b[1])


def _spanning(boxes: list[BBox]) -> list[bool]:
    """Which boxes span columns: each overlaps, across, two boxes that stand side by side."""
    out = []
    for i, a in enumerate(boxes):
        over = [
            b
            for j, b in enumerate(boxes)
            if j != i and _x_overlap(a, b) >= 0.2 * max(1.0, min(a[2] - a[0], b[2] - b[0]))
        ]
        out.append(any(_side_by_side(b, c) for k, b in enumerate(over) for c in over[k + 1 :]))
    return out


def _columns(idx: list[int], boxes: list[BBox]) -> list[list[int]]:
    """Boxes of one band as columns (boxes overlapping across, transitively), left to right,
    each top to bottom."""
    parent = {i: i for i in idx}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in idx:
        for b in idx:
            if a < b and _x_overlap(boxes[a], boxes[b]) > 0.3 * min(
                boxes[a][2] - boxes[a][0], boxes[b][2] - boxes[b][0]
            ):
                parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in idx:
        groups.setdefault(find(i), []).append(i)
    cols = [sorted(g, key=lambda i: (boxes[i][1], boxes[i][0])) for g in groups.values()]
    return sorted(cols, key=lambda g: min(boxes[i][0] for i in g))


def order_boxes(boxes: list[BBox]) -> list[int]:
    """Reading order of the body's boxes: spanning boxes cut bands (top to bottom), columns
    within a band left to right, each column top to bottom."""
    span = _spanning(boxes)
    cuts = sorted((i for i in range(len(boxes)) if span[i]), key=lambda i: boxes[i][1])
    bands: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in range(len(boxes)):
        if span[i]:
            continue
        centre = (boxes[i][1] + boxes[i][3]) / 2
        bands[sum(1 for c in cuts if centre > (boxes[c][1] + boxes[c][3]) / 2)].append(i)
    order: list[int] = []
    for k, band in enumerate(bands):
        if k > 0:
            order.append(cuts[k - 1])
        order.extend(i for col in _columns(band, boxes) for i in col)
    return order


def _units(regions: list[_Region]) -> tuple[list[list[int]], list[BBox]]:
    """Regions read as one unit (a figure or table with its captions, in top-to-bottom order)
    and each unit's box."""
    members: dict[int, list[int]] = {}
    for r, region in enumerate(regions):
        head = region.follows if region.follows >= 0 else r
        members.setdefault(head, []).append(r)
    units = [sorted(m, key=lambda r: regions[r].bbox[1]) for m in members.values()]
    return units, [union_box([regions[r].bbox for r in u]) for u in units]


def build_region_layout(
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    height: int,
    layout: LayoutParams = LayoutParams(),
    params: RegionOrderParams = RegionOrderParams(),
) -> list[Block] | None:
    """Blocks of ``lines`` in reading order from the page's ``regions``, or None when the
    regions do not describe the page (then the row rules of ``build_layout`` decide)."""
    if not lines:
        return None
    unit = float(np.median([ln.bbox[3] - ln.bbox[1] for ln in lines]))
    owner = assign_lines(lines, regions, params.in_region, params.pad * unit)
    members = [[i for i, o in enumerate(owner) if o == r] for r in range(len(regions))]
    kinds = [
        _region_kind(region.kind, [lines[i] for i in held], params)
        for region, held in zip(regions, members, strict=True)
    ]
    owner = _give_back_strays(lines, regions, kinds, owner, unit, params)
    owner = _drop_prose_tables(lines, regions, kinds, owner, unit, params)
    members = [[i for i, o in enumerate(owner) if o == r] for r in range(len(regions))]
    if not regions_describe_page(lines, kinds, owner, params):
        return None
    found: list[_Region] = []
    for r, detected in enumerate(regions):
        # a "table" whose lines all went to other regions is the model seeing a table in
        # columns of prose (news pages with rules): kept, it would cut the columns in two
        held_by_others = any(_centre_in(ln.bbox, detected.bbox) for ln in lines)
        if kinds[r] == "text":
            for column in _gutter_columns(lines, members[r], unit):
                found.append(_Region("text", union_box([lines[i].bbox for i in column]), column))
        elif members[r] or kinds[r] == "figure" or (kinds[r] == "table" and not held_by_others):
            found.append(_Region(kinds[r], detected.bbox, members[r]))
    # lines outside every region are grouped by the row rules and placed like regions
    stray = [i for i, o in enumerate(owner) if o < 0]
    for block in build_layout([lines[i] for i in stray], layout):
        ids = [stray[k] for k, line in enumerate(lines[i] for i in stray) if line in block.lines]
        found.append(_Region(block.kind, block.bbox, ids))
    for region in found:
        middle = (region.bbox[1] + region.bbox[3]) / 2
        # a running head stands in its strip: elsewhere the model's "header" is just text
        stray_head = region.kind == "header" and middle > params.head_strip * height
        stray_foot = region.kind == "footer" and middle < (1 - params.foot_strip) * height
        if stray_head or stray_foot:
            region.kind = "text"
    _join_running_heads(found, height, params)
    found = _split_around(found, lines)
    _tie_captions(found)
    heads = [r for r, g in enumerate(found) if g.kind == "header"]
    feet = [r for r, g in enumerate(found) if g.kind == "footer"]
    body = [g for g in found if g.kind not in ("header", "footer")]
    # captions point into ``found``; re-point them into ``body``
    index = {id(g): k for k, g in enumerate(body)}
    for g in body:
        if g.follows >= 0:
            g.follows = index.get(id(found[g.follows]), -1)
    units, boxes = _units(body)
    ordered = [body[r] for u in order_boxes(boxes) for r in units[u]]

    def by_position(rs: list[int]) -> list[_Region]:
        return [found[rs[k]] for k in box_rows([found[r].bbox for r in rs])]

    skew = _skew(lines, layout)
    blocks: list[Block] = []
    prose: list[TextLine] = []  # the lines of consecutive text regions, in reading order

    def flush() -> None:
        # text is cut into paragraphs, whatever the regions: the model may draw one region
        # over several paragraphs, or leave a paragraph's first line in the region above, and
        # chunks (and Markdown) must break between paragraphs, not inside a sentence
        for run in _paragraph_runs(prose, skew, layout):
            blocks.append(Block("text", union_box([ln.bbox for ln in run]), tuple(run)))
        prose.clear()

    for part in [*by_position(heads), *ordered, *by_position(feet)]:
        read = [lines[part.lines[k]] for k in rows_order([lines[i] for i in part.lines])]
        if part.kind == "text":
            prose.extend(read)
            continue
        flush()
        box = part.bbox if part.kind in ("figure", "table") or not read else None
        blocks.append(Block(part.kind, box or union_box([ln.bbox for ln in read]), tuple(read)))
    flush()
    return blocks


def _paragraph_runs(
    read: list[TextLine], skew: tuple[float, float], layout: LayoutParams
) -> list[list[TextLine]]:
    """The lines of a text region, in reading order, cut into paragraphs: a line continues
    the paragraph when the line above ran full and wrapped into it (the row rules' test, on
    boxes with the page's skew (angle, deskewed line height) taken out: a tilted scan's
    upright boxes overlap from line to line), and the space between them is not a paragraph's
    (``layout.para_gap`` line heights more than the region's usual space between lines: a
    paragraph whose last line runs nearly full is told from the next by that space alone)."""
    angle, unit = skew
    boxes = [deskewed_box(line, angle) for line in read]
    gaps = [b[1] - a[3] for a, b in itertools.pairwise(boxes) if b[1] > a[1]]
    usual = float(np.median(gaps)) if len(gaps) >= 3 else math.inf
    runs: list[list[TextLine]] = []
    for k, (line, box) in enumerate(zip(read, boxes, strict=True)):
        above = boxes[k - 1] if k else None
        spaced = above is not None and box[1] - above[3] > usual + layout.para_gap * unit
        if runs and above is not None and not spaced and wraps(above, box, unit, layout):
            runs[-1].append(line)
        else:
            runs.append([line])
    return runs


def _skew(lines: list[TextLine], layout: LayoutParams) -> tuple[float, float]:
    """The page's skew angle (0 past the rules' limit) and its deskewed median line height."""
    angle = page_skew(lines)
    if abs(math.degrees(angle)) > layout.max_skew_degrees:
        angle = 0.0
    heights = [b[3] - b[1] for b in (deskewed_box(line, angle) for line in lines)]
    return angle, float(np.median(heights)) or 1.0


@dataclass(frozen=True)
class _Placed:
    """A region found on part of a sheet, in the sheet's pixels."""

    kind: str
    bbox: BBox
    score: float


def spread_regions(
    image: np.ndarray,
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    finder: RegionFinder,
    params: RegionOrderParams = RegionOrderParams(),
) -> Sequence[RegionLike]:
    """The regions of a sheet: when it is a spread, each page's own, found on its half of the
    image (the model, shown two pages at once, draws regions across both: one "table" over
    two pages of ruled columns); else ``regions`` as given."""
    h, w = image.shape[:2]
    spread = find_spread(lines, w, h, _uncut(lines, regions, params))
    if spread is None:
        return regions
    out: list[RegionLike] = []
    halves = [(round(b[0]), round(b[2])) for b in spread.halves()]
    crops = [np.ascontiguousarray(image[:, x0:x1]) for x0, x1 in halves]
    for (x0, _), found in zip(halves, finder.detect(crops), strict=True):
        for r in found:
            b = r.bbox
            out.append(_Placed(r.kind, (b[0] + x0, b[1], b[2] + x0, b[3]), r.score))
    return out


def relayout(page: PageResult, image: np.ndarray, finder: RegionFinder) -> PageResult:
    """A stored page laid out again from its upright ``image``'s regions, its lines as read
    (no OCR): for pages read before the layout model, or by another one."""
    lines = list(page.lines)
    regions = finder.detect([image])[0] if worth_regions(lines, RegionOrderParams()) else None
    if regions is not None:
        regions = spread_regions(image, lines, regions, finder)
    blocks, spread = sheet_layout(lines, regions, page.width, page.height)
    halves = None if spread is None else spread.halves()
    return replace(page, blocks=tuple(blocks), layout_model=finder.name, halves=halves)


def sheet_layout(
    lines: list[TextLine],
    regions: Sequence[RegionLike] | None,
    width: int,
    height: int,
    layout: LayoutParams = LayoutParams(),
    params: RegionOrderParams = RegionOrderParams(),
) -> tuple[list[Block], Spread | None]:
    """A sheet's blocks in reading order, and the spread it is (None: one page).

    A spread (``pipelines.spreads``) is laid out as two pages, the left one first, each with
    the lines and regions on its side of the gutter."""
    spread = find_spread(lines, width, height, _uncut(lines, regions or (), params))
    if spread is None:
        return page_layout(lines, regions, height, layout, params), None
    blocks: list[Block] = []
    for half in spread.halves():
        inside = [ln for ln in lines if _centre_in(ln.bbox, half)]
        kept = None if regions is None else [r for r in regions if _centre_in(r.bbox, half)]
        blocks.extend(page_layout(inside, kept, height, layout, params))
    return blocks, spread


def _uncut(
    lines: list[TextLine], regions: Sequence[RegionLike], params: RegionOrderParams
) -> list[BBox]:
    """Boxes a spread's gutter may not cut: figures, and tables that are tables (the model
    takes a spread of ruled newspaper columns for one table: columns of prose are not)."""
    out = []
    for region in regions:
        if region.kind == "table":
            held = [ln for ln in lines if _centre_in(ln.bbox, region.bbox)]
            if _region_kind("table", held, params) == "table":
                out.append(region.bbox)
        elif region.kind == "figure":
            out.append(region.bbox)
    return out


def page_layout(
    lines: list[TextLine],
    regions: Sequence[RegionLike] | None,
    height: int,
    layout: LayoutParams = LayoutParams(),
    params: RegionOrderParams = RegionOrderParams(),
) -> list[Block]:
    """A page's blocks in reading order: from its regions where they describe the page, else
    (no regions, a form, a receipt) by the row rules of ``build_layout``."""
    if regions:
        blocks = build_region_layout(lines, regions, height, layout, params)
        if blocks is not None:
            return blocks
        return _rules_and_tables(lines, regions, layout, params)
    return build_layout(lines, layout)


def _rules_and_tables(
    lines: list[TextLine],
    regions: Sequence[RegionLike],
    layout: LayoutParams,
    params: RegionOrderParams,
) -> list[Block]:
    """The row rules' blocks of a page the regions do not describe (a page of tables, a form),
    with the lines of each of its ``table`` regions kept together as a table block, put in
    before the first block that starts below the table's top. A page of tables has short
    lines in no prose region; without this its tables would be read as rows of text."""
    tables = [r for r in regions if r.kind == "table"]
    if not lines or not tables:
        return build_layout(lines, layout)
    unit = float(np.median([ln.bbox[3] - ln.bbox[1] for ln in lines]))
    owner = assign_lines(lines, tables, params.in_region, params.pad * unit)
    found: list[Block] = []
    for t, region in enumerate(tables):
        held = [lines[i] for i, o in enumerate(owner) if o == t]
        if not held or _region_kind(region.kind, held, params) != "table":
            owner = [-1 if o == t else o for o in owner]
            continue
        read = tuple(held[k] for k in rows_order(held))
        found.append(Block("table", region.bbox, read))
    # a "table" with other text beside it on its rows is a part of a form the model boxed (one
    # column of a grid of fields): the rules read those rows across, which is the form's order
    # (a chart's labels beside a table are not a form's fields)
    figures = [r.bbox for r in regions if r.kind == "figure"]
    loose = [
        ln
        for ln, o in zip(lines, owner, strict=True)
        if o < 0 and not any(_centre_in(ln.bbox, f) for f in figures)
    ]
    flanked = {id(b) for b in found if any(_beside(ln.bbox, b.bbox) for ln in loose)}
    if flanked:
        kept = [b for b in found if id(b) not in flanked]
        dropped = {id(ln) for b in found if id(b) in flanked for ln in b.lines}
        owner = [-1 if id(ln) in dropped else o for ln, o in zip(lines, owner, strict=True)]
        found = kept
    blocks = build_layout([ln for ln, o in zip(lines, owner, strict=True) if o < 0], layout)
    for table in sorted(found, key=lambda b: b.bbox[1]):
        at = next((i for i, b in enumerate(blocks) if b.bbox[1] >= table.bbox[1]), len(blocks))
        blocks.insert(at, table)
    return blocks


def _beside(line: BBox, table: BBox) -> bool:
    """Whether a line the table does not hold lies on the table's rows (most of its height
    within the table's top and bottom): beside it, or straddling its edge."""
    overlap = min(line[3], table[3]) - max(line[1], table[1])
    return overlap >= 0.5 * max(1.0, line[3] - line[1])


def _centre_in(box: BBox, region: BBox) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= x <= region[2] and region[1] <= y <= region[3]
