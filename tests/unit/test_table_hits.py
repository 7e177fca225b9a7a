"""Which cells a hit in a table cites, and what its view and crop box say."""

from __future__ import annotations

from pipelines.chunk import chunk_document
from pipelines.snippets import cited_cells
from storage.search import SearchHit, query_tokens
from tests.unit.test_table_chunks import page, releases
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
