"""Table cells end to end with the real weights: pages the test draws (a ruled grid, a table
without rules, a header spanning columns) read by the engine; the table block's cells, spans and
text equal the drawn ones, and Markdown writes the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pipelines.chunk import ChunkParams, chunk_document
from pipelines.engine import OcrEngine
from pipelines.markdown import page_markdown
from pipelines.types import Block
from tests.integration.test_table_model import GRID, SPANNING, Cell  # drawn for the net alone
from tests.pagegen import font

pytestmark = pytest.mark.slow


def table_page(cells: list[Cell], *, ruled: bool) -> Image.Image:
    """A 200 dpi-sized page: a sentence, the table (ruled or not), a sentence."""
    page = Image.new("RGB", (1654, 2339), "white")
    draw, face = ImageDraw.Draw(page), font(30)
    draw.text((200, 300), "Table 2 lists the release thresholds of each pollutant.", "black", face)
    xs, ys = [200, 620, 960, 1300], [400 + 70 * r for r in range(6)]
    for r, c, rs, cs, text in cells:
        box = (xs[c], ys[r], xs[c + cs], ys[r + rs])
        if ruled:
            draw.rectangle(box, outline="black", width=3)
        draw.text((box[0] + 16, (box[1] + box[3]) / 2), text, "black", face, anchor="lm")
    if not ruled:  # a borderless table still has a rule under its head, as most do
        head = max(r + rs for r, _, rs, _, _ in cells if r == 0)
        draw.line((xs[0], ys[head] - 4, xs[-1], ys[head] - 4), "black", 3)
    draw.text((200, 900), "Thresholds are given in kilograms a year.", "black", face)
    return page


def worded(cells: list[Cell]) -> list[Cell]:
    """The cells holding a word (a lone dash is no text line the detector finds)."""
    return sorted(c for c in cells if any(ch.isalnum() for ch in c[4]))


def cells_of(block: Block) -> list[Cell]:
    assert block.table is not None
    return worded([(c.row, c.col, c.row_span, c.col_span, c.text) for c in block.table.cells])


@pytest.mark.parametrize(
    ("cells", "ruled"),
    [(GRID, True), (GRID, False), (SPANNING, True)],
    ids=["ruled", "borderless", "spanning-header"],
)
def test_drawn_table_reads_as_its_cells(
    engine: OcrEngine, tmp_path: Path, cells: list[Cell], ruled: bool
) -> None:
    path = tmp_path / "table.png"
    table_page(cells, ruled=ruled).save(path)
    (page,) = engine.read_path(path)
    tables = [b for b in page.blocks if b.kind == "table"]
    assert len(tables) == 1, [b.kind for b in page.blocks]
    assert cells_of(tables[0]) == worded(cells)
    assert tables[0].table is not None and tables[0].table.words_moved == 0
    # the sentences around it are text, before and after the table
    kinds = [b.kind for b in page.blocks]
    assert kinds.index("table") not in (0, len(kinds) - 1)
    md = page_markdown(page)
    if cells is SPANNING:
        assert '<th colspan="2">Threshold for releases</th>' in md
        assert "<tr><td>Nitrous oxide</td><td>10 000</td><td>" in md
    else:
        assert "| Carbon dioxide | 100 million | none |" in md


def test_a_long_table_is_read_whole_and_chunked_in_row_groups_each_with_its_header(
    engine: OcrEngine, tmp_path: Path
) -> None:
    rows = [(f"Station {n:02d}", f"{100 + 7 * n} mm", f"{n % 9 + 1} days") for n in range(1, 29)]
    page = Image.new("RGB", (1654, 2339), "white")
    draw, face = ImageDraw.Draw(page), font(28)
    draw.text((200, 180), "Table 4: Rainfall at each gauging station in March.", "black", face)
    xs = [200, 640, 1040, 1400]
    for r, values in enumerate([("Gauge", "Rainfall", "Wet days"), *rows]):
        top = 260 + 62 * r
        for c, text in enumerate(values):
            draw.rectangle((xs[c], top, xs[c + 1], top + 62), outline="black", width=3)
            draw.text((xs[c] + 16, top + 31), text, "black", face, anchor="lm")
    path = tmp_path / "long.png"
    page.save(path)
    (result,) = engine.read_path(path)
    (table,) = [b.table for b in result.blocks if b.kind == "table"]
    assert table is not None and (table.rows, table.cols) == (29, 3)
    grid = {(c.row, c.col): c.text for c in table.cells}
    assert [grid[(r, 0)] for r in range(1, 29)] == [label for label, _, _ in rows]
    chunks = [c for c in chunk_document([result], ChunkParams(max_tokens=80)) if c.cells]
    assert len(chunks) > 1  # split into row groups ...
    for chunk in chunks:  # ... each with the caption and the header row
        assert "Rainfall at each gauging station" in chunk.text
        assert "Gauge" in chunk.text and "Wet days" in chunk.text
    held = {label for label, _, _ in rows if any(label in c.text for c in chunks)}
    assert held == {label for label, _, _ in rows}  # and no row lost
