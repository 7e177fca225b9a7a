"""Table chunks on hand-made tables: caption and header in every chunk, row groups, the text
given to the embedder naming each value by its row and column headers, the cells kept."""

from __future__ import annotations

import numpy as np

from pipelines.chunk import Chunk, ChunkParams, chunk_document, count_words
from pipelines.embed import embed_chunks
from pipelines.table_text import TableGrid
from pipelines.types import Block, PageResult, Table, TableCell, TextLine, union_box

ROW_H = 30.0
COL_W = [300.0, 200.0, 200.0, 200.0]


def cell(row: int, col: int, text: str, *, col_span: int = 1, header: bool = False) -> TableCell:
    x0 = 100.0 + sum(COL_W[:col])
    x1 = 100.0 + sum(COL_W[: col + col_span])
    y0 = 500.0 + row * ROW_H
    return TableCell(row, col, 1, col_span, (x0, y0, x1, y0 + ROW_H - 4), text, header)


def table_block(cells: list[TableCell], rows: int, cols: int) -> Block:
    # the block's lines: one per non-empty cell (what OCR read there)
    lines = tuple(TextLine(c.text, c.bbox, 0.9) for c in cells if c.text)
    box = union_box([c.bbox for c in cells])
    return Block("table", box, lines, Table(rows, cols, tuple(cells)))


def releases(n_substances: int = 3, flagged: bool = False) -> Block:
    """A table like the dev set's eu-001: a spanning heading over three sub-headings, substances
    down the first column."""
    cells = [
        cell(0, 0, "", header=flagged),
        cell(0, 1, "THRESHOLD FOR RELEASES", col_span=3, header=flagged),
        cell(1, 0, "", header=flagged),
        cell(1, 1, "to air kg/year", header=flagged),
        cell(1, 2, "to water kg/year", header=flagged),
        cell(1, 3, "to land kg/year", header=flagged),
    ]
    names = ["Carbon dioxide (CO2)", "Methane (CH4)", "Nitrous oxide (N2O)"]
    for i in range(n_substances):
        r = 2 + i
        name = names[i] if i < len(names) else f"Substance {i}"
        cells += [
            cell(r, 0, name),
            cell(r, 1, f"{100 + i} million"),
            cell(r, 2, f"{200 + i} 000"),
            cell(r, 3, "-"),
        ]
    return table_block(cells, 2 + n_substances, 4)


def caption(text: str) -> Block:
    ln = TextLine(text, (100.0, 440.0, 900.0, 470.0), 0.9)
    return Block("table_caption", ln.bbox, (ln,))


def page(number: int, *blocks: Block) -> PageResult:
    return PageResult("doc.pdf", number, 1700, 2200, 200, 0, blocks=blocks)


def test_header_rows_found_without_flags_and_from_flags() -> None:
    assert TableGrid.of(releases().table).header_rows == 2  # type: ignore[arg-type]
    assert TableGrid.of(releases(flagged=True).table).header_rows == 2  # type: ignore[arg-type]
    plain = table_block(
        [cell(0, 0, "Country"), cell(0, 1, "GDP"), cell(1, 0, "Austria"), cell(1, 1, "300")], 2, 2
    )
    assert TableGrid.of(plain.table).header_rows == 1  # type: ignore[arg-type]


def test_table_chunk_keeps_caption_header_and_names_values() -> None:
    chunks = chunk_document([page(1, caption("Table 1: Release thresholds"), releases())])
    assert [c.kind for c in chunks] == ["table"]
    chunk = chunks[0]
    lines = chunk.text.split("\n")
    assert lines[0] == "Table 1: Release thresholds"
    assert lines[1] == "THRESHOLD FOR RELEASES"
    assert lines[2] == "to air kg/year | to water kg/year | to land kg/year"
    # the raw cells stay in the stored text (full-text search and snippets read it)
    assert "Carbon dioxide (CO2) | 100 million | 200 000 | -" in lines
    assert chunk.embed_text is not None
    assert chunk.embed_text.startswith("Table 1: Release thresholds\n")
    assert (
        "Carbon dioxide (CO2), THRESHOLD FOR RELEASES to water kg/year: 200 000" in chunk.embed_text
    )
    assert "Methane (CH4), THRESHOLD FOR RELEASES to air kg/year: 101 million" in chunk.embed_text
    assert chunk.table == 0
    assert chunk.cells is not None
    value = next(c for c in chunk.cells if (c.row, c.col) == (2, 2))
    assert value.text == "200 000" and not value.header
    assert all(c.header == (c.row < 2) for c in chunk.cells)
    # the box holds the caption and every row
    assert chunk.bbox[1] == 440.0 and chunk.bbox[3] == 500.0 + 4 * ROW_H + ROW_H - 4


def test_long_table_split_into_row_groups_each_with_the_header() -> None:
    table = releases(n_substances=30)
    params = ChunkParams(max_tokens=60, min_tokens=0)
    chunks = chunk_document([page(1, caption("Table 7"), table)], params)
    assert len(chunks) > 3
    body_rows: list[int] = []
    for chunk in chunks:
        assert chunk.kind == "table" and chunk.table == 0
        assert chunk.text.startswith("Table 7\nTHRESHOLD FOR RELEASES\nto air kg/year")
        assert chunk.embed_text is not None and chunk.embed_text.startswith("Table 7\n")
        assert count_words(chunk.embed_text) <= params.max_tokens
        assert chunk.cells is not None
        rows = sorted({c.row for c in chunk.cells})
        assert rows[:2] == [0, 1]  # the header rows, in every group
        body_rows += rows[2:]
        assert len(chunk.line_boxes) == 1 + len(rows)  # the caption, then one box per row
    assert body_rows == list(range(2, 32))  # every body row once, in order


def test_tables_numbered_across_pages_and_blockless_tables_left_as_lines() -> None:
    no_cells = Block("table", (0.0, 0.0, 10.0, 10.0), (TextLine("a b c", (0, 0, 10, 10), 0.9),))
    chunks = chunk_document([page(1, releases()), page(2, no_cells), page(3, releases())])
    assert [(c.page, c.table) for c in chunks] == [(1, 0), (2, None), (3, 1)]
    assert chunks[1].embed_text is None and chunks[1].cells is None and chunks[1].text == "a b c"


def test_embedder_reads_the_named_text_and_chunks_round_trip() -> None:
    chunk = chunk_document([page(1, releases())])[0]
    assert Chunk.from_dict(chunk.to_dict()) == chunk

    class Recording:
        def __init__(self) -> None:
            self.texts: list[str] = []

        def embed(self, texts: list[str]) -> np.ndarray:
            self.texts += texts
            return np.zeros((len(texts), 4), dtype=np.float32)

    recording = Recording()
    embed_chunks([chunk], recording)
    assert recording.texts == [chunk.embed_text]
