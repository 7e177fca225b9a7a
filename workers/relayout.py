"""Laying stored pages out again with the layout model, and reading their tables' cells, from
their page images (no OCR).

Pages read before the layout model (or by another one) keep their lines; their blocks, kinds
and reading order are rebuilt from the regions found on the stored page image. Pages with a
table block without cells (read before the table model) get them from the same image; a page
laid out again has its tables read again too. A page whose image is not stored cannot be: it
needs a re-read (``scanrag ingest`` of the file again after deleting the document).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from core.logging import get_logger
from pipelines.regions import RegionFinder, relayout
from pipelines.tables import TableModel, block_words, recognise_tables
from pipelines.types import PageResult
from storage import repository as repo
from storage.blobs import BlobStore
from workers.documents import page_row

log = get_logger("relayout")


@dataclass(frozen=True)
class RelayoutOutcome:
    """Pages of one document laid out again, pages whose tables were read, and pages that
    need a re-read (no image)."""

    relaid: int
    need_reread: int
    tables_read: int = 0


def _tables_missing(page: PageResult) -> bool:
    return any(b.kind == "table" and b.table is None and block_words(b) for b in page.blocks)


def relayout_document(
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    *,
    document_id: str,
    finder: RegionFinder | None,
    tables: TableModel | None = None,
    force: bool = False,
) -> RelayoutOutcome:
    """Lay out again the document's pages that ``finder`` has not seen (all with ``force``),
    read with ``tables`` the cells of the table blocks that have none (and of every table on a
    page laid out again), and store the pages changed; chunks are rebuilt by
    ``workers.documents.index`` afterwards. ``finder`` or ``tables`` None: that step is
    skipped."""
    with sessions() as session:
        stored = [
            (PageResult.from_dict(p.layout), p.image_key)
            for p in repo.document_pages(session, document_id=document_id)
        ]
    pages: list[repo.PageRow] = []
    missing = relaid = tables_read = 0
    for page, key in stored:
        stale = finder is not None and (page.layout_model != finder.name or force)
        if not stale and not (tables is not None and _tables_missing(page)):
            continue
        if key is None or not blobs.exists(key):
            missing += 1
            log.warning(
                "page image missing: the page needs a re-read",
                extra={"document": document_id, "page": page.page},
            )
            continue
        with blobs.open(key) as f, Image.open(f) as image:
            pixels = np.asarray(image.convert("RGB"))
        if pixels.shape[:2] != (page.height, page.width):
            missing += 1  # not the upright page the boxes are measured on
            continue
        before = page
        if stale and finder is not None:
            page = relayout(page, pixels, finder)
            relaid += 1
        if tables is not None and any(b.kind == "table" for b in page.blocks):
            page = replace(page, blocks=recognise_tables(pixels, page.blocks, tables))
            tables_read += any(b.table is not None for b in page.blocks)
        if page != before:  # a table the model finds no cell in leaves the page as it was
            pages.append(page_row(page, key))
    if pages:
        with sessions.begin() as session:
            repo.replace_pages(session, document_id=document_id, pages=pages)
    return RelayoutOutcome(relaid, missing, tables_read)
