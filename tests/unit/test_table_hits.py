"""Which cells a hit in a table cites, and what its view and crop box say."""

from __future__ import annotations

from pipelines.chunk import chunk_document
from pipelines.snippets import cited_cells
from pipelines.types import TableCell
from storage.search import SearchHit, query_tokens
from tests.unit.test_table_chunks import cell, page, releases, table_block
from workers.views import crop_bbox, hit_view


def table_chunk():  # type: ignore[no-untyped-def]
    return chunk_document([page(1, releases())])[0]


def cited(query: str) -> list[tuple[int, int]]:
    cells = table_chunk().cells
    assert cells is not None
    return [(c.row, c.col) for c in cited_cells(cells, query_tokens(query))]


def test_a_value_cites_its_cell() -> None:
    assert cited("200 000") == [(2, 2)]
    assert cited("101 million") == [(3, 1)]


def test_row_and_column_words_cite_the_value_where_they_meet() -> None:
    assert cited("threshold for releases of carbon dioxide to water") == [(2, 2)]
    assert cited("methane releases to land") == [(3, 3)]


def test_row_words_alone_cite_the_row() -> None:
    assert cited("nitrous oxide") == [(4, 0), (4, 1), (4, 2), (4, 3)]


def test_no_word_matched_cites_the_chunks_body_rows() -> None:
    rows = {r for r, _ in cited("zeppelin")}
    assert rows == {2, 3, 4}


def cited_in(block, query: str) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    cells = chunk_document([page(1, block)])[0].cells
    assert cells is not None
    return [(c.row, c.col) for c in cited_cells(cells, query_tokens(query))]


def test_every_column_the_query_names_by_its_own_words_is_cited_in_the_named_row() -> None:
    heads = ["Country", "Cohesion Fund EURbn", "ERDF Convergence EURbn", "Total EURbn"]
    rows = [["Malta", "0.28", "0.44", "0.72"], ["Poland", "22", "33", "55"]]
    cells = [cell(0, c, t, header=True) for c, t in enumerate(heads)]
    cells += [cell(r, c, t) for r, row in enumerate(rows, start=1) for c, t in enumerate(row)]
    funds = table_block(cells, 3, 4)
    query = "How many billion euro does Poland get in total from the Cohesion Fund and ERDF?"
    # "total" names the third column alone: its value is cited with the two the query names
    # better; "EURbn" is every column's and names none of them
    assert cited_in(funds, query) == [(2, 1), (2, 2), (2, 3)]
    assert cited_in(funds, "Poland Cohesion Fund EURbn") == [(2, 1)]
    assert cited_in(funds, "Total EURbn") == [(1, 3), (2, 3)]  # no row named: the column


def test_a_header_over_the_label_columns_names_no_column_of_values() -> None:
    def at(row: int, col: int, text: str, rows: int = 1, cols: int = 1) -> TableCell:
        box = (100.0 * col, 30.0 * row, 100.0 * (col + cols), 30.0 * (row + rows))
        return TableCell(row, col, rows, cols, box, text, row == 0)

    cells = [at(0, 0, "Difficulty", cols=2), at(0, 2, "Quite a lot"), at(0, 3, "Not much")]
    for r, name in ((1, "Alcohol use"), (3, "Stress")):
        cells += [at(r, 0, name, rows=2), at(r, 1, "Count"), at(r + 1, 1, "Percentage")]
        cells += [at(r, 2, "20"), at(r, 3, "56"), at(r + 1, 2, "4.3%"), at(r + 1, 3, "12.0%")]
    survey = table_block(cells, 5, 4)
    assert cited_in(survey, "students with quite a lot of difficulty from stress") == [
        (3, 2),
        (4, 2),
    ]


def hit_of(chunk, **kw):  # type: ignore[no-untyped-def]
    return SearchHit(
        document_id="d" * 32,
        filename="doc.pdf",
        page_number=chunk.page,
        bbox=chunk.bbox,
        text=chunk.text,
        score=0.5,
        line_boxes=chunk.line_boxes,
        chunk_id=7,
        kind=chunk.kind,
        title=None,
        **kw,
    )


def test_hit_view_names_the_cells_and_crops_to_them() -> None:
    chunk = table_chunk()
    assert chunk.cells is not None
    hit = hit_of(chunk, cells=tuple(c.to_dict() for c in chunk.cells), table_index=chunk.table)
    view = hit_view(hit, "carbon dioxide to water")
    value = next(c for c in chunk.cells if (c.row, c.col) == (2, 2))
    assert view["table"] == 0
    assert view["cells"] == [{"row": 2, "col": 2, "bbox": list(value.bbox), "text": "200 000"}]
    assert crop_bbox(view) == list(value.bbox)
    assert view["snippet"]  # the raw cells still give a snippet


def test_hit_outside_a_table_has_no_cells() -> None:
    chunk = table_chunk()
    view = hit_view(hit_of(chunk), "carbon")
    assert view["cells"] is None and view["table"] is None
    assert crop_bbox(view) == list(chunk.bbox)
