"""Table cells: the structure network's grid, fitted to what the page shows, filled with words.

``recognise_tables`` crops every ``table`` block of a page (with a small margin), runs the table
structure model on the crops in one batch and fills each block's ``table`` with ``build_table``:

1. The predicted cells' boxes are moved from the crop to the page.
2. The grid's row and column boundaries are taken from the cells (halfway between one row's
   cells and the next row's), then snapped to what the page shows near them: a ruling line of
   the page image when one runs there, else the middle of the widest gap between the words.
   The network's boxes are often loose; the words and rules are where the page draws the grid.
3. Every cell's box is rebuilt from the boundaries (a spanning cell spans them), so the cells
   tile the table; grid slots no predicted cell covers become empty cells.
4. Each word goes to the cell holding its centre; else the cell it overlaps most; else the
   nearest cell, counted in ``Table.words_moved`` (nothing is dropped).
5. A cell's text is its words in reading order: lines top to bottom, words left to right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import median
from typing import Protocol

import cv2
import numpy as np

from pipelines.types import BBox, Block, Table, TableCell, Word


class CellLike(Protocol):
    """One predicted cell (models.table_structure.CellPrediction): grid place, box in crop
    pixels, and whether it is in the table's head."""

    @property
    def row(self) -> int: ...

    @property
    def col(self) -> int: ...

    @property
    def row_span(self) -> int: ...

    @property
    def col_span(self) -> int: ...

    @property
    def bbox(self) -> tuple[float, float, float, float]: ...

    @property
    def header(self) -> bool: ...


class StructureLike(Protocol):
    """A predicted table structure (models.table_structure.StructurePrediction)."""

    @property
    def rows(self) -> int: ...

    @property
    def cols(self) -> int: ...

    @property
    def cells(self) -> Sequence[CellLike]: ...


class TableModel(Protocol):
    """The table structure network: one prediction per crop (HxWx3 uint8 RGB, any size)."""

    def predict(self, crops: Sequence[np.ndarray]) -> Sequence[StructureLike]: ...


@dataclass(frozen=True)
class TableParams:
    """How table regions are cropped and how the grid is fitted to the page."""

    margin: float = 0.02  # the crop grows by this share of the region's larger side ...
    min_margin: int = 8  # ... and by at least this many pixels
    rule_length: float = 0.5  # a ruling line runs at least this share of the crop across
    rule_thickness: int = 6  # ... and is at most this many pixels thick
    # a column boundary moves to a gap between words at least this many word heights wide
    # (narrower ones are spaces between the words of a cell)
    column_gap: float = 0.6
    # ... crossed by the fewest words of any stretch, or up to this share of the rows more
    crossing_rows: float = 0.1


# ------------------------------------------------------------------------------------- crops


def crop_box(bbox: BBox, shape: tuple[int, ...], params: TableParams = TableParams()) -> BBox:
    """The box of a table region's crop: ``bbox`` grown by the margin, inside the image."""
    h, w = shape[:2]
    pad = max(params.min_margin, params.margin * max(bbox[2] - bbox[0], bbox[3] - bbox[1]))
    return (
        float(max(0, int(bbox[0] - pad))),
        float(max(0, int(bbox[1] - pad))),
        float(min(w, int(np.ceil(bbox[2] + pad)))),
        float(min(h, int(np.ceil(bbox[3] + pad)))),
    )


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


def _crop(image: np.ndarray, box: BBox) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in box)
    return np.ascontiguousarray(_rgb(image[y0:y1, x0:x1]))


def block_words(block: Block) -> list[Word]:
    """A block's words; a line read without word boxes is one word over the line's box."""
    out: list[Word] = []
    for line in block.lines:
        words = [w for w in line.words if w.text.strip()]
        if not words and line.text.strip():
            words = [Word(line.text.strip(), line.bbox, line.confidence)]
        out.extend(words)
    return out


def recognise_tables(
    page_image: np.ndarray,
    blocks: Sequence[Block],
    model: TableModel,
    params: TableParams = TableParams(),
) -> tuple[Block, ...]:
    """``blocks`` with ``table`` filled on every ``table`` block that holds words (its crop, and
    those of the page's other tables, run through ``model`` in one batch). A table the model
    finds no cell in keeps ``table`` None."""
    wanted = [i for i, b in enumerate(blocks) if b.kind == "table" and block_words(b)]
    if not wanted:
        return tuple(blocks)
    boxes = [crop_box(blocks[i].bbox, page_image.shape, params) for i in wanted]
    predictions = model.predict([_crop(page_image, box) for box in boxes])
    out = list(blocks)
    for i, box, prediction in zip(wanted, boxes, predictions, strict=True):
        if prediction.cells:
            table = build_table(prediction, box, block_words(blocks[i]), page_image, params)
            out[i] = replace(blocks[i], table=table)
    return tuple(out)


# ----------------------------------------------------------------------------- ruling lines


def ruling_lines(
    crop: np.ndarray, params: TableParams = TableParams()
) -> tuple[list[float], list[float]]:
    """The ruling lines of a table crop (any image, grey or colour): the y of each horizontal
    rule and the x of each vertical rule, in crop pixels. A rule is a thin dark run at least
    ``params.rule_length`` of the crop across (down), found by a morphological opening."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(_rgb(crop), cv2.COLOR_RGB2GRAY)
    if grey.size == 0:
        return [], []
    _, ink = cv2.threshold(grey.astype(np.uint8), 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    h, w = ink.shape
    out: list[list[float]] = []
    for axis, length in ((1, w), (0, h)):
        size = max(3, int(params.rule_length * length))
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, 1) if axis == 1 else (1, size))
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
        hits = np.flatnonzero(opened.any(axis=axis))
        out.append(_runs(hits, params.rule_thickness))
    return out[0], out[1]


def _runs(hits: np.ndarray, thickness: int) -> list[float]:
    """Centres of the runs of consecutive positions in ``hits`` at most ``thickness`` long."""
    if hits.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hits) > 1)
    starts = np.concatenate(([hits[0]], hits[breaks + 1]))
    ends = np.concatenate((hits[breaks], [hits[-1]]))
    return [float(s + e) / 2 for s, e in zip(starts, ends, strict=True) if e - s < thickness]


# ------------------------------------------------------------------------------------ the grid


@dataclass(frozen=True)
class _Cell:
    row: int
    col: int
    row_span: int
    col_span: int
    bbox: BBox  # page pixels
    header: bool


def _on_page(prediction: StructureLike, origin: tuple[float, float]) -> list[_Cell]:
    """The predicted cells with their boxes in page pixels; cells that overlap a grid slot an
    earlier cell holds are left out (a network may predict inconsistent spans)."""
    held: set[tuple[int, int]] = set()
    out = []
    for c in prediction.cells:
        slots = {
            (r, k)
            for r in range(c.row, c.row + max(1, c.row_span))
            for k in range(c.col, c.col + max(1, c.col_span))
        }
        if slots & held:
            continue
        held |= slots
        x0, y0, x1, y1 = c.bbox
        box = (x0 + origin[0], y0 + origin[1], x1 + origin[0], y1 + origin[1])
        out.append(_Cell(c.row, c.col, max(1, c.row_span), max(1, c.col_span), box, c.header))
    return out


def _boundaries(
    spans: list[tuple[int, int, float, float]],
    n: int,
    words: list[tuple[float, float]],
    rules: list[float],
    min_gap: float,
    slack: int = 0,
) -> list[float]:
    """The n+1 boundaries of n grid slots along one axis.

    ``spans`` are the cells' (first slot, slot count, low edge, high edge); ``words`` the words'
    (low, high) extents and ``rules`` the ruling lines along the axis. An inner boundary starts
    halfway between the cells ending before it and those starting after it, then moves to the
    nearest ruling line between the middles of the slots on either side, else to the middle
    of the nearest stretch there at least ``min_gap`` wide crossed by the fewest words (or
    ``slack`` more: a caption or a note drawn into the region crosses every column). The
    outer boundaries hold every cell and word, and move out to a ruling line just outside."""
    starts: list[list[float]] = [[] for _ in range(n)]
    ends: list[list[float]] = [[] for _ in range(n)]
    for first, count, lo, hi in spans:
        starts[first].append(lo)
        ends[first + count - 1].append(hi)
    raw = [np.nan] * (n + 1)
    raw[0] = min([lo for _, _, lo, _ in spans] + [lo for lo, _ in words])
    raw[n] = max([hi for _, _, _, hi in spans] + [hi for _, hi in words])
    for k in range(1, n):
        edges = [float(median(ends[k - 1]))] if ends[k - 1] else []
        edges += [float(median(starts[k]))] if starts[k] else []
        if edges:
            raw[k] = sum(edges) / len(edges)
    known = [k for k, v in enumerate(raw) if not np.isnan(v)]
    start = list(np.maximum.accumulate(np.interp(range(n + 1), known, [raw[k] for k in known])))
    bounds = list(start)
    floor = bounds[0]  # where the gap (or rule) the boundary before took ends
    for k in range(1, n):
        lo = max(floor, (start[k - 1] + start[k]) / 2)
        hi = max(lo, (start[k] + start[k + 1]) / 2)
        near = [r for r in rules if lo <= r <= hi]
        if near:
            bounds[k] = floor = min(near, key=lambda r: abs(r - start[k]))
        else:
            bounds[k], floor = _quietest(words, lo, hi, start[k], min_gap, slack)
    if n >= 1:  # an outer boundary moves out to a rule within half its slot
        half = [(start[1] - start[0]) / 2, (start[n] - start[n - 1]) / 2]
        before = [r for r in rules if start[0] - half[0] <= r < start[0]]
        after = [r for r in rules if start[n] < r <= start[n] + half[1]]
        bounds[0] = max(before, default=bounds[0])
        bounds[n] = min(after, default=bounds[n])
    return [float(b) for b in bounds]


def _quietest(
    words: list[tuple[float, float]],
    lo: float,
    hi: float,
    at: float,
    min_gap: float,
    slack: int,
) -> tuple[float, float]:
    """The middle and the end of the stretch of [lo, hi] crossed by the fewest words (up to
    ``slack`` more) nearest ``at`` among those at least ``min_gap`` wide (the widest when none
    is; ``at`` itself when [lo, hi] is empty): two boundaries never share one gap."""
    a, b = int(np.floor(lo)), int(np.ceil(hi))
    if b - a < 2:
        return at, at
    count = np.zeros(b - a, dtype=np.int32)
    for w0, w1 in words:
        i, j = max(a, int(np.floor(w0))), min(b, int(np.ceil(w1)))
        if i < j:
            count[i - a : j - a] += 1
    quiet = np.flatnonzero(count <= count.min() + slack)
    breaks = np.flatnonzero(np.diff(quiet) > 1)
    best, best_key = (at, at), (0.0, -np.inf)
    for s, e in zip(
        np.concatenate(([quiet[0]], quiet[breaks + 1])),
        np.concatenate((quiet[breaks], [quiet[-1]])),
        strict=True,
    ):
        x0, x1 = a + float(s), a + float(e) + 1
        key = (min(x1 - x0, min_gap), -max(0.0, x0 - at, at - x1))
        if key > best_key:
            best, best_key = ((x0 + x1) / 2, x1), key
    return best


def _grid_cells(cells: list[_Cell], ys: list[float], xs: list[float]) -> list[_Cell]:
    """The cells with boxes from the grid's boundaries, and an empty cell for every slot no
    cell covers, in row-major order."""
    held = {
        (r, k)
        for c in cells
        for r in range(c.row, c.row + c.row_span)
        for k in range(c.col, c.col + c.col_span)
    }
    out = [
        replace(c, bbox=(xs[c.col], ys[c.row], xs[c.col + c.col_span], ys[c.row + c.row_span]))
        for c in cells
    ]
    out += [
        _Cell(r, k, 1, 1, (xs[k], ys[r], xs[k + 1], ys[r + 1]), False)
        for r in range(len(ys) - 1)
        for k in range(len(xs) - 1)
        if (r, k) not in held
    ]
    return sorted(out, key=lambda c: (c.row, c.col))


def _unspanned(words: Sequence[Word], cells: list[_Cell], *, rows: bool) -> list[Word]:
    """The words whose centre no cell spanning rows (``rows``) or columns holds: a spanning
    header's words cross the boundaries of the columns under it, and must not move them."""
    spanning = [c.bbox for c in cells if (c.row_span if rows else c.col_span) > 1]
    return [w for w in words if not any(_holds(b, _centre(w.bbox)) for b in spanning)]


# ------------------------------------------------------------------------------------ words


def _centre(b: BBox) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _holds(b: BBox, point: tuple[float, float]) -> bool:
    return b[0] <= point[0] <= b[2] and b[1] <= point[1] <= b[3]


def _overlap(a: BBox, b: BBox) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _distance(point: tuple[float, float], b: BBox) -> float:
    dx = max(b[0] - point[0], 0.0, point[0] - b[2])
    dy = max(b[1] - point[1], 0.0, point[1] - b[3])
    return float(np.hypot(dx, dy))


def assign_words(boxes: Sequence[BBox], words: Sequence[Word]) -> tuple[list[list[Word]], int]:
    """Each word given to one of ``boxes``: the first holding its centre, else the one it
    overlaps most, else the nearest. Returns the words of each box and how many went to the
    nearest box (held by none)."""
    out: list[list[Word]] = [[] for _ in boxes]
    moved = 0
    for word in words:
        cx, cy = _centre(word.bbox)
        inside = [i for i, b in enumerate(boxes) if _holds(b, (cx, cy))]
        if inside:
            out[inside[0]].append(word)
            continue
        overlaps = [_overlap(word.bbox, b) for b in boxes]
        best = int(np.argmax(overlaps))
        if overlaps[best] <= 0:
            best = min(range(len(boxes)), key=lambda i: _distance((cx, cy), boxes[i]))
            moved += 1
        out[best].append(word)
    return out, moved


def text_lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words in reading order, as lines (words whose vertical centres lie within half a word
    height of the line's first word) top to bottom, words left to right in each."""
    if not words:
        return []
    tol = 0.5 * median(w.bbox[3] - w.bbox[1] for w in words)
    lines: list[list[Word]] = []
    for w in sorted(words, key=lambda w: _centre(w.bbox)[1]):
        if lines and abs(_centre(w.bbox)[1] - _centre(lines[-1][0].bbox)[1]) <= tol:
            lines[-1].append(w)
        else:
            lines.append([w])
    return [sorted(line, key=lambda w: w.bbox[0]) for line in lines]


def reading_text(words: Sequence[Word]) -> str:
    """Words as one text in reading order (``text_lines``), joined by spaces."""
    return " ".join(w.text.strip() for line in text_lines(words) for w in line)


# -------------------------------------------------------------------------------- the table


def build_table(
    prediction: StructureLike,
    region_bbox: BBox,
    words: Sequence[Word],
    page_image: np.ndarray | None,
    params: TableParams = TableParams(),
) -> Table:
    """A table from the network's ``prediction`` for the crop at ``region_bbox`` (page pixels;
    the prediction's boxes are in the crop's pixels) and the ``words`` read inside the region.

    The grid's boundaries are fitted to the ruling lines of ``page_image`` (None: no rules
    used) and to the gaps between the words; every word lands in one cell (see the module)."""
    cells = _on_page(prediction, (region_bbox[0], region_bbox[1]))
    if not cells:
        return Table(0, 0, ())
    n_rows = max(c.row + c.row_span for c in cells)
    n_cols = max(c.col + c.col_span for c in cells)
    unit = median(w.bbox[3] - w.bbox[1] for w in words) if words else 0.0
    rows_at: list[float] = []
    cols_at: list[float] = []
    if page_image is not None:
        h_rules, v_rules = ruling_lines(_crop(page_image, region_bbox), params)
        rows_at = [y + region_bbox[1] for y in h_rules]
        cols_at = [x + region_bbox[0] for x in v_rules]
    ys = _boundaries(
        [(c.row, c.row_span, c.bbox[1], c.bbox[3]) for c in cells],
        n_rows,
        [(w.bbox[1], w.bbox[3]) for w in _unspanned(words, cells, rows=True)],
        rows_at,
        1.0,
    )
    xs = _boundaries(
        [(c.col, c.col_span, c.bbox[0], c.bbox[2]) for c in cells],
        n_cols,
        [(w.bbox[0], w.bbox[2]) for w in _unspanned(words, cells, rows=False)],
        cols_at,
        params.column_gap * unit,
        int(params.crossing_rows * n_rows),
    )
    grid = _grid_cells(cells, ys, xs)
    held, moved = assign_words([c.bbox for c in grid], words)
    return Table(
        rows=n_rows,
        cols=n_cols,
        cells=tuple(
            TableCell(
                c.row, c.col, c.row_span, c.col_span, _rounded(c.bbox), reading_text(ws), c.header
            )
            for c, ws in zip(grid, held, strict=True)
        ),
        words_moved=moved,
    )


def _rounded(b: BBox) -> BBox:
    return (round(b[0], 1), round(b[1], 1), round(b[2], 1), round(b[3], 1))
