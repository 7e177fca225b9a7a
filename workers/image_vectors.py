"""Image vectors of a document: each stored page image, and each figure region on it, through
the configured image encoder (``SCANRAG_EMBED__IMAGE_MODEL``), as rows for ``image_vectors``.

They are made from the page images stored when the pages were read (upright, the layout's
boxes fit them), so ``scanrag reindex`` rebuilds them without OCR and an image query of a
stored page image meets the same pixels its vector was made from.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from core.logging import get_logger
from core.vocab import BBox, RegionKind
from pipelines.chunk import Chunk
from pipelines.types import PageResult
from storage import repository as repo
from storage.blobs import BlobStore
from storage.repository import ImageVectorRow

if TYPE_CHECKING:
    from models.image_encoder import ImageEncoder  # imports torch: only when one is configured

log = get_logger("image_vectors")

# a figure smaller than this (either side, page pixels) is a speck, not a picture
MIN_FIGURE_SIDE = 16


def overlaps(a: BBox, b: BBox) -> bool:
    """Whether two boxes share any area."""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def figure_text(page: int, box: BBox, chunks: Sequence[Chunk]) -> str:
    """The words of the figure chunks on ``page`` over ``box`` (its title and caption)."""
    return "\n".join(
        c.text for c in chunks if c.page == page and c.kind == "figure" and overlaps(c.bbox, box)
    )


def _regions(
    sessions: sessionmaker[Session], blobs: BlobStore, document_id: str, chunks: Sequence[Chunk]
) -> Iterator[tuple[int, int, RegionKind, BBox, str, Image.Image]]:
    """(page, ordinal, region, box, text, image) of each page and figure, page by page."""
    with sessions() as session:
        for number, image_key, text, layout in repo.page_images(session, document_id=document_id):
            if image_key is None:
                log.warning(
                    "page has no stored image: no image vector",
                    extra={"document": document_id, "page": number},
                )
                continue
            with Image.open(blobs.path(image_key)) as stored:
                page = stored.convert("RGB")
            yield number, 0, "page", (0.0, 0.0, float(page.width), float(page.height)), text, page
            figures = [b for b in PageResult.from_dict(layout).blocks if b.kind == "figure"]
            for ordinal, block in enumerate(figures, start=1):
                x0, y0, x1, y1 = (round(v) for v in block.bbox)
                x0, y0 = max(0, x0), max(0, y0)
                x1, y1 = min(page.width, x1), min(page.height, y1)
                if x1 - x0 < MIN_FIGURE_SIDE or y1 - y0 < MIN_FIGURE_SIDE:
                    continue
                box = (float(x0), float(y0), float(x1), float(y1))
                crop = page.crop((x0, y0, x1, y1))
                yield number, ordinal, "figure", box, figure_text(number, box, chunks), crop


def image_vector_rows(
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    encoder: ImageEncoder,
    document_id: str,
    chunks: Sequence[Chunk],
) -> list[ImageVectorRow]:
    """The image vectors of the document's pages and figures, encoded ``encoder.batch`` at a
    time (only one batch of images is held at once)."""
    rows: list[ImageVectorRow] = []
    pending: list[tuple[int, int, RegionKind, BBox, str, Image.Image]] = []

    def flush() -> None:
        vectors = encoder.embed_images([item[5] for item in pending])
        rows.extend(
            ImageVectorRow(page, ordinal, region, box, text, vectors[i])
            for i, (page, ordinal, region, box, text, _) in enumerate(pending)
        )
        pending.clear()

    for region in _regions(sessions, blobs, document_id, chunks):
        pending.append(region)
        if len(pending) >= encoder.batch:
            flush()
    if pending:
        flush()
    return rows
