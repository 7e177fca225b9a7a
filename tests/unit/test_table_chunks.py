"""Table chunks on hand-made tables: caption and header in every chunk, row groups, the text
given to the embedder naming each value by its row and column headers, the cells kept."""

from __future__ import annotations

from dataclasses import replace

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


def text_lines(*texts: str, bottom: float = 495.0, kind: str = "text", gap: float = 0.0) -> Block:
    """A block of lines ending just above the table (y 500), 30 px a line; ``gap`` px more
    above the last line (a closing line set apart)."""
    n = len(texts)
    lines = []
    for i, t in enumerate(texts):
        y1 = bottom - (n - 1 - i) * 30.0 - (gap if i < n - 1 else 0.0)
        lines.append(TextLine(t, (100.0, y1 - 26.0, 100.0 + 12.0 * len(t), y1), 0.9))
    return Block(kind, union_box([ln.bbox for ln in lines]), tuple(lines))  # type: ignore[arg-type]


def caption_of(chunks: list[Chunk]) -> list[str]:
    """The first line of each table chunk (its caption, when it has one)."""
    return [c.text.split("\n")[0] for c in chunks if c.kind == "table"]


def test_a_caption_in_a_text_block_is_read_in_every_row_group_and_not_on_its_own() -> None:
    params = ChunkParams(max_tokens=60, min_tokens=0)
    above = text_lines("Table SA3. | Distribution of confirmed salmonellosis cases", "2007")
    chunks = chunk_document([page(1, above, releases(n_substances=12))], params)
    assert [c.kind for c in chunks] == ["table"] * len(chunks) and len(chunks) > 1
    want = "Table SA3. | Distribution of confirmed salmonellosis cases 2007"
    assert caption_of(chunks) == [want] * len(chunks)
    for chunk in chunks:
        assert chunk.embed_text is not None and chunk.embed_text.startswith(want + "\n")
        assert chunk.line_boxes[:2] == tuple(ln.bbox for ln in above.lines)


def test_a_caption_read_as_a_one_row_table_is_the_next_tables_caption() -> None:
    # the structure model read the caption's region as a table of one column (dev eu-019)
    label = text_lines("Table BR3. | Reported confirmed brucellosis cases", bottom=470.0)
    cells = (TableCell(0, 0, 1, 1, label.bbox, label.text, False),)
    as_table = Block("table", label.bbox, label.lines, Table(1, 1, cells))
    chunks = chunk_document([page(1, as_table, releases())])
    assert [c.kind for c in chunks] == ["table"]
    assert caption_of(chunks) == ["Table BR3. | Reported confirmed brucellosis cases"]
    assert chunks[0].table == 1  # the caption's "table" keeps its number


def test_a_label_line_or_a_closing_line_set_apart_is_the_caption() -> None:
    chunks = chunk_document([page(1, text_lines("Greenhouse gases"), releases())])
    assert [c.kind for c in chunks] == ["table"]
    assert caption_of(chunks) == ["Greenhouse gases"]
    closing = text_lines(
        "the banking sector have caused investors to buy less bank related",
        "product.",
        "Table 3 - European ABCP issuance",
        gap=20.0,
    )
    chunks = chunk_document([page(1, closing, releases())])
    assert [c.kind for c in chunks] == ["text", "table"]
    assert chunks[0].text.endswith("bank related product.")
    assert caption_of(chunks) == ["Table 3 - European ABCP issuance"]


def test_a_paragraph_a_source_line_or_a_far_block_above_a_table_stays_text() -> None:
    paragraph = text_lines(*(f"Line {i} of a paragraph about the table below" for i in range(4)))
    source = text_lines("Source: Eurostat, 2006")
    far = text_lines("Table 2: Employment", bottom=300.0)
    for above in (paragraph, source, far):
        chunks = chunk_document([page(1, above, releases())])
        assert [c.kind for c in chunks] == ["text", "table"]
        assert caption_of(chunks) == ["THRESHOLD FOR RELEASES"]


def test_a_caption_read_inside_the_table_names_no_column() -> None:
    title = TableCell(0, 0, 1, 3, (0.0, 0.0, 90.0, 9.0), "Table C1: Summary statistics", True)
    cells = [
        title,
        TableCell(1, 0, 1, 1, (0.0, 10.0, 30.0, 19.0), "Variable", True),
        TableCell(1, 1, 1, 1, (30.0, 10.0, 60.0, 19.0), "Mean", True),
        TableCell(1, 2, 1, 1, (60.0, 10.0, 90.0, 19.0), "Max", True),
        TableCell(2, 0, 1, 1, (0.0, 20.0, 30.0, 29.0), "Age", False),
        TableCell(2, 1, 1, 1, (30.0, 20.0, 60.0, 29.0), "50.8", False),
        TableCell(2, 2, 1, 1, (60.0, 20.0, 90.0, 29.0), "90", False),
    ]
    grid = TableGrid.of(Table(3, 3, tuple(cells)))
    assert grid.named_row(2) == "Age, Mean: 50.8; Age, Max: 90"
    # a heading across the width that is no caption still names the columns under it
    spanning = replace(title, text="Releases")
    grid = TableGrid.of(Table(3, 3, (spanning, *cells[1:])))
    assert grid.named_row(2) == "Age, Releases Mean: 50.8; Age, Releases Max: 90"


def test_the_embedder_reads_the_header_rows_too() -> None:
    chunk = chunk_document([page(1, releases())])[0]
    assert chunk.embed_text is not None
    assert chunk.embed_text.split("\n")[:2] == [
        "THRESHOLD FOR RELEASES",
        "to air kg/year | to water kg/year | to land kg/year",
    ]
