"""Layout: text lines -> blocks (paragraphs, titles) in reading order.

1. The page's skew is measured from the line quads and every box is rotated into the deskewed
   frame, so that rows and gutters are straight.
2. Lines are grouped into blocks: a line joins the block of the line right above it when they
   overlap horizontally, are close vertically and have similar heights.
3. Blocks are ordered by a recursive XY-cut that cuts horizontally first: a page splits into
   bands at full-width gaps (read top to bottom); a band that cannot be cut across is split at
   vertical gutters into columns (read left to right). Multi-column text, whose paragraphs stagger
   between the columns, is read column by column; a form's rows are read row by row.
4. Lines standing on their side (a file number up the margin) take no part in the cut: each is
   read at the end of the row its middle falls in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipelines.types import BBox, Block, BlockKind, TextLine, union_box


@dataclass(frozen=True)
class LayoutParams:
    """Thresholds, in units of the median line height of the page."""

    line_gap: float = 0.8  # most vertical space between two lines of one block
    height_ratio: float = 1.6  # lines of one block differ in height by less than this
    title_height: float = 1.25  # a block whose lines are this much taller is a title
    max_skew_degrees: float = 15.0
    prose_width: float = 10.0  # a line at least this wide may belong to a paragraph of prose
    # a gap between two lines of a region this much (line heights) wider than its usual gap
    # between lines is a paragraph's space
    para_gap: float = 0.4
    # columns of short lines (pipelines.layout._column_stacks)
    stack_gutter: float = 2.5  # no line this close beside a line of a column
    stack_indent: float = 3.0  # a column's lines start within this of the line above
    stack_lines: int = 3  # lines in a column, at least


def page_skew(lines: list[TextLine]) -> float:
    """The page's skew in radians: the length-weighted median angle of the line quads."""
    angles: list[float] = []
    weights: list[float] = []
    for line in lines:
        if len(line.quad) != 4:
            continue
        (x0, y0), (x1, y1) = line.quad[0], line.quad[1]
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 1:
            continue
        angles.append(math.atan2(y1 - y0, x1 - x0))
        weights.append(length)
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])


def deskewed_box(line: TextLine, angle: float) -> BBox:
    """The line's box with the page's skew ``angle`` (radians) turned out of it."""
    if len(line.quad) != 4 or abs(angle) < 1e-3:
        return line.bbox
    c, s = math.cos(-angle), math.sin(-angle)
    pts = [(x * c - y * s, x * s + y * c) for x, y in line.quad]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs), max(ys))


# Two lines share a row when their centres are within this share of the lower one's box height.
# 0.5 for "is there any row overlap" tests; 0.4 when lines are put in rows: a detector box has
# a margin round the print, and half the box is more than half the print (FUNSD dev: a form's
# two-line header cell beside a one-line one then reads row by row; 0.5 -> 0.4 took CER
# 0.0475 -> 0.0457, 0.35 to 0.0493 as tilted lines start to fall apart).
ROW_TOLERANCE = 0.4


def _same_row(a: BBox, b: BBox, tolerance: float = 0.5) -> bool:
    ha, hb = a[3] - a[1], b[3] - b[1]
    return abs((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) <= tolerance * min(ha, hb)


def _stacked(upper: BBox, lower: BBox, unit: float, params: LayoutParams) -> bool:
    """True when ``lower`` continues ``upper`` as the next line of one block."""
    gap = lower[1] - upper[3]
    hu, hl = upper[3] - upper[1], lower[3] - lower[1]
    if gap < -0.3 * min(hu, hl) or gap > params.line_gap * unit:
        return False
    overlap = min(upper[2], lower[2]) - max(upper[0], lower[0])
    if overlap <= 0.3 * min(upper[2] - upper[0], lower[2] - lower[0]):
        return False
    return max(hu, hl) <= params.height_ratio * max(1.0, min(hu, hl))


def wraps(upper: BBox, lower: BBox, unit: float, params: LayoutParams) -> bool:
    """True when ``lower`` continues a paragraph of prose: ``upper`` ran full and wrapped."""
    return (
        _stacked(upper, lower, unit, params)
        and upper[2] - upper[0] >= 0.8 * (lower[2] - lower[0])
        and upper[2] >= lower[2] - max(3 * unit, 0.15 * (lower[2] - lower[0]))
    )


def _line_above(boxes: list[BBox], j: int) -> int:
    """The nearest line above line ``j`` that overlaps it horizontally (-1 if none)."""
    bj = boxes[j]
    best, best_bottom = -1, -math.inf
    for i, bi in enumerate(boxes):
        if i == j or _same_row(bi, bj) or (bi[1] + bi[3]) / 2 >= (bj[1] + bj[3]) / 2:
            continue
        if min(bi[2], bj[2]) - max(bi[0], bj[0]) <= 0:
            continue
        if bi[3] > best_bottom:
            best, best_bottom = i, bi[3]
    return best


def _paragraphs(
    boxes: list[BBox], texts: list[str], labels: list[bool], unit: float, params: LayoutParams
) -> tuple[list[list[int]], int]:
    """Units of reading: multi-line paragraphs of prose, stacks of short lines in columns
    (the last ones, their number returned too), and every other line on its own.

    Only wide lines (prose) whose row neighbours are wide too may form a paragraph: a form's
    stacked labels or a receipt's item names beside their prices stay single lines, so they are
    read row by row, while columns of prose are read column by column. A label (``labels[i]``, a
    line ending in a colon) does not run on into the line below: its row does, beside it.
    """
    n = len(boxes)
    wide = [b[2] - b[0] >= params.prose_width * unit for b in boxes]
    neighbours = [
        [j for j in range(n) if j != i and _same_row(boxes[i], boxes[j])] for i in range(n)
    ]
    prose = [wide[i] and not labels[i] and all(wide[j] for j in neighbours[i]) for i in range(n)]
    # a paragraph's short last line: alone on its row, aligned with the line above
    alone = [not neighbours[i] for i in range(n)]
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for j in range(n):
        above = _line_above(boxes, j)
        if above < 0 or not prose[above]:
            continue
        last_line = alone[j] and abs(boxes[j][0] - boxes[above][0]) <= unit
        if (prose[j] or last_line) and wraps(boxes[above], boxes[j], unit, params):
            parent[find(j)] = find(above)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    units = list(groups.values())
    singles = [u[0] for u in units if len(u) == 1]
    stacks = _column_stacks(boxes, texts, labels, singles, neighbours, unit, params)
    stacked = {i for st in stacks for i in st}
    return [u for u in units if len(u) > 1 or u[0] not in stacked] + stacks, len(stacks)


def _column_stacks(
    boxes: list[BBox],
    texts: list[str],
    labels: list[bool],
    singles: list[int],
    neighbours: list[list[int]],
    unit: float,
    params: LayoutParams,
) -> list[list[int]]:
    """Columns of short lines (a questionnaire's options, a list, an index) as units of
    reading, so they are read column by column like paragraphs.

    Short lines stack into a column when each lies right under the one above (close, left
    edges within ``stack_indent`` line heights: options are indented under their question) and
    nothing stands within ``stack_gutter`` line heights beside them on their rows. A stack is
    kept when it has ``stack_lines`` lines and fewer than half of them share a row with a line
    beside the stack: a form's labels and a receipt's items have their values on their rows,
    and are read row by row; columns set independently of each other do not line up.
    """
    free = set()
    for i in singles:
        if labels[i] or _figures(texts[i]):
            continue
        b = boxes[i]
        near = [
            j
            for j in neighbours[i]
            if max(boxes[j][0] - b[2], b[0] - boxes[j][2]) < params.stack_gutter * unit
        ]
        if not near:
            free.add(i)
    parent = {i: i for i in free}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for j in free:
        above = _line_above(boxes, j)
        if above not in free:
            continue
        a, b = boxes[above], boxes[j]
        aligned = abs(a[0] - b[0]) <= params.stack_indent * unit
        if aligned and _stacked(a, b, unit, params):
            parent[find(j)] = find(above)
    groups: dict[int, list[int]] = {}
    for i in free:
        groups.setdefault(find(i), []).append(i)
    # a stack with a line beside it that could be in no column (a price beside an item, a
    # value beside its label) is part of rows, not a column
    stacks = [sorted(m) for m in groups.values() if len(m) >= params.stack_lines]
    while True:  # dropping a stack may leave another with a line beside it
        kept = {i for st in stacks for i in st}
        beside = [st for st in stacks if not _flanked_by_columns(boxes, st, kept)]
        if not beside:
            return stacks
        stacks = [st for st in stacks if st not in beside]


def _figures(text: str) -> bool:
    """Whether a line is a figure (an amount, a date, a code: mostly digits, a currency's
    letters at most): a value belonging to the label on its row, not a column's line."""
    chars = [c for c in text if c.isalnum()]
    digits = sum(c.isdigit() for c in chars)
    return digits > 0 and digits >= len(chars) / 2 and len(chars) - digits <= 3


def _flanked_by_columns(boxes: list[BBox], stack: list[int], free: set[int]) -> bool:
    """Whether every line level with ``stack`` (its centre within the stack's height) that is
    not one of its lines is a column's line too (in ``free``)."""
    members = set(stack)
    top, bottom = min(boxes[i][1] for i in stack), max(boxes[i][3] for i in stack)
    for j, b in enumerate(boxes):
        if j not in members and top < (b[1] + b[3]) / 2 < bottom and j not in free:
            return False
    return True


def _gaps(intervals: list[tuple[float, float]]) -> list[float]:
    """Cut positions between non-overlapping runs of the intervals (sorted by start)."""
    cuts: list[float] = []
    order = sorted(intervals)
    reach = order[0][1]
    for lo, hi in order[1:]:
        if lo > reach:
            cuts.append((reach + lo) / 2)
        reach = max(reach, hi)
    return cuts


def _core_rows(box: BBox) -> tuple[float, float]:
    """The vertical middle of a box (line height minus the margins), for row cuts."""
    centre, half = (box[1] + box[3]) / 2, (box[3] - box[1]) / 2
    if half > 0 and (box[2] - box[0]) > 0:
        half = min(half, max(1.0, 0.3 * (box[3] - box[1])))
    return centre - half, centre + half


def xy_cut(
    boxes: list[BBox], columns: list[bool] | None = None, stacks: list[bool] | None = None
) -> list[int]:
    """Reading order of boxes: horizontal cuts first (bands), then vertical (columns).

    ``columns[i]`` marks boxes that are column material (multi-line paragraphs, or stacks of
    short lines: ``stacks[i]``). A band with none of them holds single lines only (a form, a
    receipt): it is read row by row instead of being split into columns. A band whose only
    material is stacks is split into columns only when every column holds one (two columns
    of options); a receipt's stacked item names beside their prices are read by rows.
    """
    column = columns or [True] * len(boxes)
    stack = stacks or [False] * len(boxes)

    def order(idx: list[int]) -> list[int]:
        if len(idx) <= 1:
            return idx
        stacked = _stack_columns(idx, boxes, column, stack)
        if stacked is not None:
            return [k for col in stacked for k in order(col)]
        # rows are cut on the middle of each box: detector boxes carry margins that overlap
        cuts = _gaps([_core_rows(boxes[i]) for i in idx])
        if cuts:
            bands: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
            for i in idx:
                centre = (boxes[i][1] + boxes[i][3]) / 2
                bands[sum(1 for c in cuts if centre > c)].append(i)
            bands = _join_stack_bands([b for b in bands if b], boxes, column, stack)
            return [k for band in bands for k in order(band)]
        if not any(column[i] for i in idx):
            return _rows(boxes, idx)
        cuts = _gaps([(boxes[i][0], boxes[i][2]) for i in idx])
        if cuts:
            cols: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
            for i in idx:
                centre = (boxes[i][0] + boxes[i][2]) / 2
                cols[sum(1 for c in cuts if centre > c)].append(i)
            only_stacks = all(stack[i] for i in idx if column[i])
            if only_stacks and not all(any(column[i] for i in col) for col in cols if col):
                return _rows(boxes, idx)
            return [k for col in cols if col for k in order(col)]
        # entangled boxes: row by row
        return _rows(boxes, idx)

    return order(list(range(len(boxes))))


def _stack_columns(
    idx: list[int], boxes: list[BBox], column: list[bool], stack: list[bool]
) -> list[list[int]] | None:
    """``idx`` split at its vertical gutters when its material is stacks of short lines only
    and every part holds one (columns of options, lists); else None."""
    if any(column[i] and not stack[i] for i in idx) or not any(stack[i] for i in idx):
        return None
    cuts = _gaps([(boxes[i][0], boxes[i][2]) for i in idx])
    if not cuts:
        return None
    cols: list[list[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in idx:
        cols[sum(1 for c in cuts if (boxes[i][0] + boxes[i][2]) / 2 > c)].append(i)
    cols = [c for c in cols if c]
    return cols if all(any(stack[i] for i in c) for c in cols) else None


def _join_stack_bands(
    bands: list[list[int]], boxes: list[BBox], column: list[bool], stack: list[bool]
) -> list[list[int]]:
    """Consecutive bands joined while together they stay columns of stacks: a blank line
    between two questions in one column and between two in the other, at the same height,
    cuts the page across, but the columns go on below it."""
    out: list[list[int]] = []
    for band in bands:
        if out and _stack_columns(out[-1], boxes, column, stack) is not None:
            joined = out[-1] + band
            if _stack_columns(joined, boxes, column, stack) is not None:
                out[-1] = joined
                continue
        out.append(band)
    return out


def _rows(boxes: list[BBox], idx: list[int]) -> list[int]:
    """Boxes in row order: top to bottom, left to right within a row.

    A box joins the current row when its vertical centre is close to every box's already in it
    (``ROW_TOLERANCE``; every box, so a row cannot creep downwards through slightly tilted lines).
    """
    idx = sorted(idx, key=lambda i: (boxes[i][1] + boxes[i][3]) / 2)
    rows: list[list[int]] = []
    for i in idx:
        if rows and all(_same_row(boxes[k], boxes[i], ROW_TOLERANCE) for k in rows[-1]):
            rows[-1].append(i)
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda k: boxes[k][0])]


def box_rows(boxes: list[BBox]) -> list[int]:
    """Indices of ``boxes`` in row order: top to bottom, left to right within a row."""
    return _rows(boxes, list(range(len(boxes))))


def rows_order(lines: list[TextLine], params: LayoutParams = LayoutParams()) -> list[int]:
    """Indices of ``lines`` in row order (top to bottom, left to right in a row), measured in
    the deskewed frame of their own quads, so a slightly turned table still reads by rows."""
    angle = page_skew(lines)
    if abs(math.degrees(angle)) > params.max_skew_degrees:
        angle = 0.0
    boxes = [deskewed_box(line, angle) for line in lines]
    return _rows(boxes, list(range(len(lines))))


def _row_top(box: BBox) -> float:
    """The highest centre a line may have and still share this box's row."""
    return (box[1] + box[3]) / 2 - ROW_TOLERANCE * (box[3] - box[1])


def _on_its_side(box: BBox, unit: float) -> bool:
    """A single line standing on its side: far taller than wide (a number up the margin)."""
    return (box[3] - box[1]) > 2 * max(box[2] - box[0], unit)


def _print_height(box: BBox, turned: bool) -> float:
    return box[2] - box[0] if turned else box[3] - box[1]


def _insert_sideways(order: list[int], sideways: list[int], boxes: list[BBox]) -> list[int]:
    """``order`` with the lines on their side put in, each at the end of the row its middle
    falls in.

    Such lines are kept out of the XY-cut: spanning many rows, they would hold the rows beside
    them together and split them into columns. Side-by-side ones (overlapping vertically) are
    read together, left to right.
    """
    if not sideways:
        return order
    groups: list[list[int]] = []
    for k in sorted(sideways, key=lambda k: boxes[k][1]):
        if groups and boxes[k][1] < max(boxes[g][3] for g in groups[-1]):
            groups[-1].append(k)
        else:
            groups.append([k])
    out = list(order)
    for group in reversed(groups):
        middle = sum((boxes[k][1] + boxes[k][3]) / 2 for k in group) / len(group)
        # it joins the row its middle falls in, by the tolerance of any row, and is read last
        # in it (it stands in the margin); else it comes before the first line below its middle
        at = next((i for i, k in enumerate(out) if _row_top(boxes[k]) > middle), len(out))
        out[at:at] = sorted(group, key=lambda k: boxes[k][0])
    return out


def build_layout(lines: list[TextLine], params: LayoutParams = LayoutParams()) -> list[Block]:
    """Blocks of ``lines`` in reading order; each block's lines in reading order."""
    if not lines:
        return []
    angle = page_skew(lines)
    if abs(math.degrees(angle)) > params.max_skew_degrees:
        angle = 0.0
    boxes = [deskewed_box(line, angle) for line in lines]
    unit = float(np.median([b[3] - b[1] for b in boxes])) or 1.0
    labels = [line.text.rstrip().endswith(":") for line in lines]
    texts = [line.text for line in lines]
    units, stacks = _paragraphs(boxes, texts, labels, unit, params)
    paragraph_lines = {i for u in units if len(u) > 1 for i in u}
    unit_boxes = [union_box([boxes[i] for i in g]) for g in units]
    sideways = [k for k, g in enumerate(units) if len(g) == 1 and _on_its_side(boxes[g[0]], unit)]
    flat = [k for k in range(len(units)) if k not in sideways]
    cut = xy_cut(
        [unit_boxes[k] for k in flat],
        [len(units[k]) > 1 for k in flat],
        [k >= len(units) - stacks for k in flat],
    )
    order = _insert_sideways([flat[k] for k in cut], sideways, unit_boxes)
    ordered = [_rows(boxes, units[u]) for u in order]
    turned = {units[k][0] for k in sideways}
    # consecutive single lines that stack (an address, a list) read as one block
    groups: list[list[int]] = []
    for members in ordered:
        if (
            len(members) == 1
            and groups
            and groups[-1][-1] not in paragraph_lines
            and _line_above(boxes, members[0]) == groups[-1][-1]
            and _stacked(boxes[groups[-1][-1]], boxes[members[0]], unit, params)
        ):
            groups[-1].append(members[0])
        else:
            groups.append(list(members))
    blocks: list[Block] = []
    for members in groups:
        block_lines = tuple(lines[i] for i in members)
        # a line on its side is as high as its box is wide
        height = float(np.median([_print_height(boxes[i], i in turned) for i in members]))
        title = height >= params.title_height * unit and len(members) <= 3
        kind: BlockKind = "title" if title else "text"
        blocks.append(Block(kind, union_box([line.bbox for line in block_lines]), block_lines))
    return blocks
