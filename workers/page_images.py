"""Page images: each page's upright image (as read: the boxes of its reading fit it) kept until
its reading comes out, then stored in the blob store, where crops and the viewer take them."""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from core.logging import get_logger
from pipelines.types import PageResult
from storage.blobs import BlobStore

log = get_logger("pages")

PAGE_IMAGE_QUALITY = 90  # JPEG: a tenth of a PNG's size on scans, and crops stay legible


class UprightImages:
    """Each page's upright image as the reading threads hand it over (pipelines.ocr's
    UprightSink), kept until its reading comes out and the page is stored."""

    def __init__(self) -> None:
        self._images: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def keep(self, page: int, image: np.ndarray) -> None:
        with self._lock:
            self._images[page] = image

    def take(self, number: int) -> np.ndarray:
        """The upright image of page ``number``, forgotten here once taken."""
        with self._lock:
            return self._images.pop(number)


def store_page_image(blobs: BlobStore, image: np.ndarray, result: PageResult) -> str:
    """The page as read (upright: the boxes of ``result`` fit it) stored as JPEG; returns its
    key."""
    if image.shape[:2] != (result.height, result.width):
        log.warning(
            "page image and reading differ in size",
            extra={"document": result.source, "page": result.page},
        )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, "JPEG", quality=PAGE_IMAGE_QUALITY)
    return blobs.put_bytes(buffer.getvalue(), suffix=".jpg")
