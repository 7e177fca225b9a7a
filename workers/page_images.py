"""Page images: each rendered page kept until its reading comes out, then stored upright (the
boxes of the reading fit it) in the blob store, where crops and the viewer take them from."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import numpy as np
from PIL import Image

from core.logging import get_logger
from pipelines.load import Document, RasterPage
from pipelines.types import PageResult
from storage.blobs import BlobStore

log = get_logger("pages")

PAGE_IMAGE_QUALITY = 90  # JPEG: a tenth of a PNG's size on scans, and crops stay legible


class PageImageTap(Document):
    """The document, keeping each rendered page until its reading comes out, to store it."""

    def __init__(self, document: Document) -> None:
        super().__init__(document.path, document.media_type, document.page_count, document.params)
        # pages are rendered in the pipeline's prefetch thread and taken in this one
        self._images: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def pages(self, start: int = 1, stop: int | None = None) -> Iterator[RasterPage]:
        for page in super().pages(start, stop):
            with self._lock:
                self._images[page.number] = page.image
            yield page

    def take(self, number: int) -> np.ndarray:
        """The rendered image of page ``number``, forgotten here once taken."""
        with self._lock:
            return self._images.pop(number)


def store_page_image(blobs: BlobStore, image: np.ndarray, result: PageResult) -> str:
    """The page as read (turned upright, so boxes fit it) stored as JPEG; returns its key."""
    upright = np.rot90(image, k=-(result.rotation // 90) % 4)  # rotation is clockwise
    if upright.shape[:2] != (result.height, result.width):
        log.warning(
            "page image and reading differ in size",
            extra={"document": result.source, "page": result.page},
        )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(upright)).save(buffer, "JPEG", quality=PAGE_IMAGE_QUALITY)
    return blobs.put_bytes(buffer.getvalue(), suffix=".jpg")
