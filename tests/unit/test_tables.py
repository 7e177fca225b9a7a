"""Table cells from hand-made structure predictions and words: the grid fitted to the words and
rules, words assigned to cells (centre, overlap, nearest and counted), text in reading order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.table_structure import CellPrediction, StructurePrediction
from pipelines.hocr import page_hocr
from pipelines.regions import page_layout
from pipelines.tables import (
    assign_words,
    build_table,
    crop_box,
    recognise_tables,
    ruling_lines,
)
from pipelines.types import BBox, Block, PageResult, Table, TextLine, Word, union_box

# A 3 x 3 table at page (100, 100)-(400, 190), rows 30 px, columns 100 px:
#   row 0: "Substance" (2 rows) | "Releases" (2 columns)
#   row 1:                      | "air" | "water"
#   row 2: "Methane"            | "100" | (empty)
ORIGIN = (90.0, 90.0)  # the crop's top left on the page
CELLS = (
    (0, 0, 2, 1, (100, 100, 200, 160), True),
    (0, 1, 1, 2, (200, 100, 400, 130), True),
    (1, 1, 1, 1, (200, 130, 300, 160), True),
    (1, 2, 1, 1, (300, 130, 400, 160), True),
    (2, 0, 1, 1, (100, 160, 200, 190), False),
    (2, 1, 1, 1, (200, 160, 300, 190), False),
    (2, 2, 1, 1, (300, 160, 400, 190), False),
)


def prediction(loose: float = 0.0) -> StructurePrediction:
    """The table's cells in crop pixels, each box shrunk by ``loose`` px on every side (the
    network draws its boxes round the text, not the grid)."""
    cells = tuple(
        CellPrediction(
            r,
            c,
            rs,
            cs,
            (
                b[0] - ORIGIN[0] + loose,
                b[1] - ORIGIN[1] + loose,
                b[2] - ORIGIN[0] - loose,
                b[3] - ORIGIN[1] - loose,
            ),
            head,
        )
        for r, c, rs, cs, b, head in CELLS
    )
    return StructurePrediction(3, 3, cells, ())


def word(text: str, x: float, y: float, w: float = 40.0, h: float = 16.0) -> Word:
    return Word(text, (x, y, x + w, y + h), 0.9)


WORDS = [
    word("Substance", 110, 122, w=70),
    word("Releases", 260, 107, w=70),
    word("air", 230, 137, w=30),
    word("water", 330, 137),
    word("Methane", 110, 167, w=60),
    word("100", 230, 167, w=30),
]


def by_place(table: Table) -> dict[tuple[int, int], tuple[int, int, str, bool]]:
    return {(c.row, c.col): (c.row_span, c.col_span, c.text, c.header) for c in table.cells}


def test_words_fill_the_predicted_cells_with_spans_headers_and_empty_cells() -> None:
    table = build_table(prediction(), (*ORIGIN, 410.0, 200.0), WORDS, None)
    assert (table.rows, table.cols, table.words_moved) == (3, 3, 0)
    assert by_place(table) == {
        (0, 0): (2, 1, "Substance", True),
        (0, 1): (1, 2, "Releases", True),
        (1, 1): (1, 1, "air", True),
        (1, 2): (1, 1, "water", True),
        (2, 0): (1, 1, "Methane", False),
        (2, 1): (1, 1, "100", False),
        (2, 2): (1, 1, "", False),
    }
    # boxes on the page, tiling the grid: the spanning cells cover the slots they span
    boxes = {(c.row, c.col): c.bbox for c in table.cells}
    assert boxes[(0, 1)][0] == boxes[(1, 1)][0] and boxes[(0, 1)][2] == boxes[(1, 2)][2]
    assert boxes[(0, 0)][3] == boxes[(2, 0)][1]


def test_loose_boxes_are_fitted_to_the_gaps_between_words() -> None:
    # the network's boxes fall short of the grid by 12 px on every side: a word whose centre
    # is between two of them still lands in its cell, not the nearest by accident
    words = [*WORDS, word("Nitrous", 104, 182, w=50, h=6)]  # low in the last row, outside
    table = build_table(prediction(loose=12), (*ORIGIN, 410.0, 200.0), words, None)
    assert by_place(table)[(2, 0)][2] == "Methane Nitrous"
    assert by_place(table)[(1, 2)][2] == "water"
    assert table.words_moved == 0


def test_a_word_on_a_cell_border_goes_to_the_cell_holding_its_centre() -> None:
    # "air-borne" straddles the border at x=300; its centre (285) is in column 1
    words = [*WORDS[:2], word("air-borne", 250, 137, w=70), *WORDS[3:]]
    table = build_table(prediction(), (*ORIGIN, 410.0, 200.0), words, None)
    assert by_place(table)[(1, 1)][2] == "air-borne"
    assert by_place(table)[(1, 2)][2] == "water"
    assert table.words_moved == 0


def test_a_word_outside_every_cell_goes_to_the_nearest_and_is_counted() -> None:
    boxes: list[BBox] = [(0, 0, 10, 10), (20, 0, 30, 10)]
    held, moved = assign_words(boxes, [word("far", 40, 2, w=4, h=4), word("in", 2, 2, w=4, h=4)])
    assert [[w.text for w in ws] for ws in held] == [["in"], ["far"]]
    assert moved == 1
    # a word overlapping a box without its centre in any goes to the box it overlaps most
    held, moved = assign_words(boxes, [word("edge", 8, 4, w=6, h=4)])  # centre x 11
    assert [[w.text for w in ws] for ws in held] == [["edge"], []] and moved == 0


def test_nothing_is_dropped_and_cell_text_reads_lines_top_to_bottom() -> None:
    words = [
        word("of", 150, 112, w=20),  # second word of the first line of a wrapped cell
        word("Number", 104, 112, w=40),
        word("states", 104, 140, w=40),  # its second line
        word("extra", 120, 300),  # far below the table: nearest cell, counted
    ]
    pred = StructurePrediction(2, 1, (CellPrediction(0, 0, 1, 1, (14, 14, 110, 70), False),), ())
    table = build_table(pred, (*ORIGIN, 410.0, 200.0), words, None)
    texts = [c.text for c in table.cells]
    assert texts == ["Number of states extra"]
    assert sum(len(t.split()) for t in texts) == len(words)


def ruled_image() -> np.ndarray:
    """A white page with the 3 x 3 table's rules drawn (2 px black)."""
    page = np.full((300, 500, 3), 255, dtype=np.uint8)
    for y in (100, 130, 160, 190):
        page[y : y + 2, 100:401] = 0
    for x in (100, 200, 300, 400):
        page[100:191, x : x + 2] = 0
    return page


def test_ruling_lines_are_found_and_move_the_boundaries() -> None:
    image = ruled_image()
    box = crop_box((100, 100, 400, 190), image.shape)
    rows, cols = ruling_lines(image[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])])
    assert [round(y + box[1]) for y in rows] == [100, 130, 160, 190]
    assert [round(x + box[0]) for x in cols] == [100, 200, 300, 400]
    # the network's boxes fall short by 12 px; the rules put the boundaries back on the grid
    table = build_table(prediction(loose=12), (*ORIGIN, 410.0, 200.0), WORDS, image)
    cell = next(c for c in table.cells if (c.row, c.col) == (1, 2))
    assert [round(v) for v in cell.bbox] == [300, 130, 400, 160]


class FakeModel:
    """Answers the hand-made prediction for every crop, and records the crops."""

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []

    def predict(self, crops: Sequence[np.ndarray]) -> list[StructurePrediction]:
        self.crops.extend(crops)
        return [prediction() for _ in crops]


def lines_of(words: list[Word]) -> tuple[TextLine, ...]:
    return tuple(TextLine(w.text, w.bbox, 0.9, (w,)) for w in words)


def test_recognise_tables_fills_table_blocks_only() -> None:
    image = ruled_image()
    table_block = Block("table", (100, 100, 400, 190), lines_of(WORDS))
    text_block = Block("text", (100, 220, 400, 240), lines_of([word("After", 100, 220)]))
    model = FakeModel()
    blocks = recognise_tables(image[:, :, 0], [table_block, text_block], model)
    assert blocks[1] == text_block and blocks[0].table is not None
    assert len(model.crops) == 1 and model.crops[0].ndim == 3  # grey page -> RGB crop
    assert by_place(blocks[0].table)[(2, 1)][2] == "100"
    # and it is in the page's JSON and hOCR
    page = PageResult("t.png", 1, 500, 300, None, 0, blocks)
    assert PageResult.from_dict(page.to_dict()) == page
    hocr = page_hocr(page)
    assert hocr.count('class="ocr_carea"') == 7 + 1  # 7 cells + the text block
    assert '; x_cell 0 1 1 2; x_header 1">' in hocr  # the spanning header
    assert '\n    <span class="ocr_line"' in hocr  # the cells' words are in lines


class Region:
    def __init__(self, kind: str, bbox: BBox) -> None:
        self.kind, self.bbox, self.score = kind, bbox, 0.9


def test_a_table_region_on_a_page_of_short_lines_stays_a_table() -> None:
    # a page of table rows has no prose for the regions to describe: the row rules lay it
    # out, but the table region's lines are kept together as a table block, in its place
    above = [TextLine("Table 1. Releases", (100, 40, 300, 60), 0.9)]
    below = [TextLine("Source: survey", (100, 260, 300, 280), 0.9)]
    lines = [*above, *lines_of(WORDS), *below]
    box = union_box([w.bbox for w in WORDS])
    blocks = page_layout(lines, [Region("table", box)], 300)
    kinds = [b.kind for b in blocks]
    assert kinds == ["text", "table", "text"]
    assert {ln.text for ln in blocks[1].lines} == {w.text for w in WORDS}


def test_a_table_region_with_other_text_on_its_rows_is_read_by_the_rules() -> None:
    # on a form the model may box one column of a grid of fields as a "table": the fields
    # beside it on the same rows would be read after it; the rules read the rows across
    left = [word(f"Division{n}", 100, 100 + 40 * n, w=80) for n in range(3)]
    right = [word(f"Reps{n}", 400, 100 + 40 * n, w=60) for n in range(3)]
    box = union_box([w.bbox for w in left])
    blocks = page_layout([*lines_of(left), *lines_of(right)], [Region("table", box)], 300)
    assert [b.kind for b in blocks if b.kind == "table"] == []
    order = [ln.text for b in blocks for ln in b.lines]
    assert order.index("Reps0") < order.index("Division1")  # row by row, as the form reads
