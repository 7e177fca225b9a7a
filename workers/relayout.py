"""Laying stored pages out again with the layout model, from their page images (no OCR).

Pages read before the layout model (or by another one) keep their lines; their blocks, kinds
and reading order are rebuilt from the regions found on the stored page image. A page whose
image is not stored cannot be: it needs a re-read (``scanrag ingest`` of the file again after
deleting the document).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from core.logging import get_logger
from pipelines.regions import RegionFinder, relayout
from pipelines.types import PageResult
from storage import repository as repo
from storage.blobs import BlobStore
from workers.documents import page_row

log = get_logger("relayout")


@dataclass(frozen=True)
class RelayoutOutcome:
    """Pages of one document laid out again, and pages that need a re-read (no image)."""

    relaid: int
    need_reread: int


def relayout_document(
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    *,
    document_id: str,
    finder: RegionFinder,
    force: bool = False,
) -> RelayoutOutcome:
    """Lay out again the document's pages that ``finder`` has not seen (all with ``force``)
    and store them; chunks are rebuilt by ``workers.documents.index`` afterwards."""
    with sessions() as session:
        stored = [
            (PageResult.from_dict(p.layout), p.image_key)
            for p in repo.document_pages(session, document_id=document_id)
        ]
    pages: list[repo.PageRow] = []
    missing = 0
    for page, key in stored:
        if page.layout_model == finder.name and not force:
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
        pages.append(page_row(relayout(page, pixels, finder), key))
    if pages:
        with sessions.begin() as session:
            repo.replace_pages(session, document_id=document_id, pages=pages)
    return RelayoutOutcome(len(pages), missing)
