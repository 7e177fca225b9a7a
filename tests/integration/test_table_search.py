"""Table chunks on real databases (SQLite and PostgreSQL, as in test_storage): stored with their
cells, found by a cell's value, the hit citing that cell and cropping to it."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from pipelines.chunk import chunk_document
from storage.search import hybrid_search, lexical_search
from tests.integration.test_storage import db, page_row, sessions, text_target, unit
from tests.stored_documents import stored_document
from tests.unit.test_table_chunks import caption, page, releases
from workers.documents import chunk_rows
from workers.views import crop_bbox, hit_view

__all__ = ["db", "sessions"]  # the fixtures, imported to be used here


def store_table(sessions: sessionmaker[Session]) -> str:
    """A document whose one page holds the release-thresholds table, chunked as ingest does."""
    chunks = chunk_document([page(1, caption("Table 1: Release thresholds"), releases())])
    rows = chunk_rows(chunks)
    with sessions.begin() as s:
        return stored_document(
            s,
            filename="thresholds.pdf",
            pages=[page_row(1, "thresholds")],
            chunks=rows,
            embeddings=np.stack([unit((3, 1.0)) for _ in rows]),
            encoder_id=text_target(s).encoder_id,
        ).id


def test_a_cell_value_finds_the_table_and_cites_that_cell(
    sessions: sessionmaker[Session],
) -> None:
    document_id = store_table(sessions)
    grid = releases().table
    assert grid is not None
    value = next(c for c in grid.cells if (c.row, c.col) == (3, 2))
    with sessions() as s:
        hits = lexical_search(s, query="201 000")
        dense = hybrid_search(
            s, query=None, query_vector=unit((3, 1.0)), target=text_target(s), k=1
        )
    assert [h.document_id for h in hits] == [document_id]
    hit = hits[0]
    assert hit.kind == "table" and hit.table_index == 0 and hit.cells is not None
    view = hit_view(hit, "201 000")
    assert view["table"] == 0
    assert view["cells"] == [{"row": 3, "col": 2, "bbox": list(value.bbox), "text": "201 000"}]
    assert crop_bbox(view) == list(value.bbox)
    # found by meaning alone (no query words): the hit cites its rows, the crop spans them
    rows = hit_view(dense[0], None)["cells"]
    assert {(c["row"]) for c in rows} == {2, 3, 4}
    assert crop_bbox(hit_view(dense[0], None))[3] == max(c["bbox"][3] for c in rows)
