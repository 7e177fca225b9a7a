"""Regions of stored page images: what a search hit points at, as a PNG."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image
from sqlalchemy.orm import Session

from storage import repository as repo
from storage.blobs import BlobStore

CROP_MARGIN = 16  # pixels of page around a box, so the crop shows where it sits


def crop_png(
    session: Session,
    blobs: BlobStore,
    *,
    document_id: str,
    page: int,
    bbox: Sequence[float],
    margin: int = CROP_MARGIN,
) -> bytes | None:
    """The region ``bbox`` (page pixels, plus ``margin``) of a stored page image, as PNG bytes.

    None when the page or its image is missing, or the box is empty after clipping to the page.
    """
    stored = repo.get_page(session, document_id=document_id, number=page)
    if stored is None or stored.image_key is None or not blobs.exists(stored.image_key):
        return None
    with blobs.open(stored.image_key) as f, Image.open(f) as image:
        x0, y0, x1, y1 = bbox
        box = (
            max(0, math.floor(x0) - margin),
            max(0, math.floor(y0) - margin),
            min(image.width, math.ceil(x1) + margin),
            min(image.height, math.ceil(y1) + margin),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            return None
        out = io.BytesIO()
        image.crop(box).save(out, "PNG")
    return out.getvalue()
