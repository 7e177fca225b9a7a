"""The tables of a stored document (workers.table_views) from hand-made stored pages: their
numbering across pages (as the chunker numbers them), caption, cells, and the CSV of a table
with a spanning header."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from pipelines.chunk import chunk_document
from pipelines.types import Block, PageResult, Table, TableCell, TextLine
from workers.table_views import TableNotFound, document_tables, table_at, table_csv


def _line(text: str, y: float) -> TextLine:
    return TextLine(text=text, bbox=(100, y, 900, y + 30), confidence=0.9)


def _cell(row: int, col: int, text: str, *, col_span: int = 1, header: bool = False) -> TableCell:
    x = 100 + col * 200
    y = 300 + row * 40
    return TableCell(row, col, 1, col_span, (x, y, x + 200 * col_span, y + 40), text, header)


# a spanning header over two value columns, a row of sub-headers and two rows of values
# (one empty cell, one value a spreadsheet would read as a formula, one negative number)
GRID = Table(
    rows=4,
    cols=3,
    cells=(
        _cell(0, 0, "Pollutant", header=True),
        _cell(0, 1, "Threshold, kg/year", col_span=2, header=True),
        _cell(1, 0, "", header=True),
        _cell(1, 1, "to air", header=True),
        _cell(1, 2, "to water", header=True),
        _cell(2, 0, "Carbon dioxide"),
        _cell(2, 1, "100 000 000"),
        _cell(2, 2, ""),
        _cell(3, 0, '=HYPERLINK("x")'),
        _cell(3, 1, "-12,5"),
        _cell(3, 2, 'say "no"'),
    ),
)


def _page(number: int, blocks: list[Block]) -> tuple[int, dict[str, Any]]:
    page = PageResult("scan.pdf", number, 1000, 1400, 200, 0, blocks=tuple(blocks))
    return number, page.to_dict()  # as stored: the page's layout, through JSON's shapes


def _pages() -> list[tuple[int, dict[str, Any]]]:
    caption = Block("table_caption", (100, 250, 700, 285), (_line("Table 1: thresholds", 252),))
    ruled = Block("table", (100, 300, 700, 460), (_line("Pollutant Threshold", 305),), GRID)
    unread = Block("table", (100, 600, 900, 700), (_line("a b c", 610), _line("1 2 3", 650)))
    small = Table(1, 2, (_cell(0, 0, "Lead"), _cell(0, 1, "7")))
    other = Block("table", (100, 800, 500, 840), (_line("Lead 7", 805),), small)
    return [
        _page(1, [Block("text", (100, 100, 900, 200), (_line("Intro", 110),)), caption, ruled]),
        _page(2, [Block("text", (100, 100, 900, 200), (_line("No tables here", 110),))]),
        _page(3, [unread, other]),
    ]


def test_every_table_is_listed_in_page_order_with_its_caption_and_cells() -> None:
    tables = document_tables(_pages())
    # a table region whose cells were not recognised is no table (page 3's first)
    assert [(t["index"], t["page"]) for t in tables] == [(0, 1), (1, 3)]
    first, second = tables
    assert first["caption"] == "Table 1: thresholds"
    assert first["bbox"] == [100, 300, 700, 460]
    assert (first["rows"], first["cols"]) == (4, 3)
    assert first["cells"][1] == {
        "row": 0,
        "col": 1,
        "row_span": 1,
        "col_span": 2,
        "bbox": [300, 300, 700, 340],
        "text": "Threshold, kg/year",
        "header": True,
    }
    assert len(first["cells"]) == len(GRID.cells)
    assert second["caption"] is None
    assert (second["rows"], second["cols"], second["text"]) == (1, 2, "Lead 7")


def test_a_table_has_the_index_its_search_hits_carry() -> None:
    pages = _pages()
    chunked = chunk_document(PageResult.from_dict(layout) for _, layout in pages)
    cited = {(c.page, c.table) for c in chunked if c.table is not None}
    assert cited == {(t["page"], t["index"]) for t in document_tables(pages)}


def test_the_csv_has_one_field_per_slot_and_a_span_in_its_first_slot() -> None:
    text = table_csv(document_tables(_pages())[0])
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["Pollutant", "Threshold, kg/year", ""],
        ["", "to air", "to water"],
        ["Carbon dioxide", "100 000 000", ""],
        # a formula is defused, a number is kept as it is, quotes survive the round trip
        ['\'=HYPERLINK("x")', "-12,5", 'say "no"'],
    ]


def test_no_such_table_and_a_table_without_cells_are_told() -> None:
    tables = document_tables(_pages())
    assert table_at(tables, 1)["page"] == 3
    with pytest.raises(TableNotFound, match=r"no table 2: the document has 2 \(0 to 1\)"):
        table_at(tables, 2)
    with pytest.raises(TableNotFound, match=r"has no tables.*reindex"):
        table_at([], 0)
