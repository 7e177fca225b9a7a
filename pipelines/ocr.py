"""The OCR pipeline, top to bottom: pages -> orient -> detect -> recognize -> layout -> results.

Pages stream through in small batches (lines of all pages of a batch are recognised together);
the next batch is rasterised in a background thread while the current one is read.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

import numpy as np

from core.logging import get_logger
from models.detector import DetectionResult
from pipelines.layout import LayoutParams, build_layout
from pipelines.load import RasterPage
from pipelines.read import (
    Detector,
    PageReading,
    ReadParams,
    Recognizer,
    read_lines,
    rotate_image,
    sideways_rotation,
    turn_quads,
    vote_flip,
)
from pipelines.types import PageResult

T = TypeVar("T")
log = get_logger("ocr")


@dataclass(frozen=True)
class OcrParams:
    """Plain parameters of the OCR pipeline (built from the settings by the caller)."""

    page_batch: int = 4
    orientation: bool = True
    read: ReadParams = field(default_factory=ReadParams)
    layout: LayoutParams = field(default_factory=LayoutParams)


class ProgressReporter(Protocol):
    """Told after each page; the CLI shows a bar, a worker writes the document row."""

    def page_done(self, source: str, page: int, total: int | None) -> None: ...


class NoProgress:
    """A ProgressReporter that reports nothing."""

    def page_done(self, source: str, page: int, total: int | None) -> None:
        return None


def ocr_pages(
    pages: Iterable[RasterPage],
    *,
    source: str,
    detector: Detector,
    recognizer: Recognizer,
    params: OcrParams = OcrParams(),
    total: int | None = None,
    progress: ProgressReporter = NoProgress(),
) -> Iterator[PageResult]:
    """Read ``pages`` of one document; yields one PageResult per page, in page order."""
    batch: list[RasterPage] = []
    for page in prefetch(pages, 2 * params.page_batch):
        batch.append(page)
        if len(batch) == params.page_batch:
            yield from _report(
                ocr_batch(batch, source, detector, recognizer, params), progress, total
            )
            batch = []
    if batch:
        yield from _report(ocr_batch(batch, source, detector, recognizer, params), progress, total)


def _report(
    results: list[PageResult], progress: ProgressReporter, total: int | None
) -> Iterator[PageResult]:
    for result in results:
        progress.page_done(result.source, result.page, total)
        yield result


def ocr_batch(
    pages: list[RasterPage],
    source: str,
    detector: Detector,
    recognizer: Recognizer,
    params: OcrParams,
) -> list[PageResult]:
    """Read a few pages together: detection batched, recognition of all their lines batched."""
    start = time.perf_counter()
    images = [p.image for p in pages]
    detections = detector.detect(images)
    rotations = [0] * len(pages)
    if params.orientation:
        for i, det in enumerate(detections):
            if len(det.quads) and sideways_rotation(det.quads):
                images[i], detections[i], rotations[i] = _turn_sideways(
                    images[i], detector, recognizer, params.read
                )
    readings = read_lines(images, detections, recognizer, params.read)
    if params.orientation:
        for i, reading in enumerate(readings):
            if rotations[i] or reading.confidence >= params.read.upright_confidence:
                continue
            det = detections[i]
            if len(det.quads) and vote_flip(images[i], det.quads, recognizer, params.read):
                h, w = images[i].shape[:2]
                images[i] = rotate_image(images[i], 180)
                detections[i] = replace(det, quads=turn_quads(det.quads, 180, w, h))
                rotations[i] = 180
                readings[i] = read_lines([images[i]], [detections[i]], recognizer, params.read)[0]
    seconds = (time.perf_counter() - start) / len(pages)
    for page, reading, rotation in zip(pages, readings, rotations, strict=True):
        log.debug(
            "page read",
            extra={
                "document": source,
                "page": page.number,
                "lines": len(reading.lines),
                "confidence": round(reading.confidence, 3),
                "rotation": rotation,
                "seconds": round(seconds, 3),
            },
        )
    return [
        _page_result(source, page, image, reading, rotation, seconds, params.layout)
        for page, image, reading, rotation in zip(pages, images, readings, rotations, strict=True)
    ]


def _turn_sideways(
    image: np.ndarray, detector: Detector, recognizer: Recognizer, params: ReadParams
) -> tuple[np.ndarray, DetectionResult, int]:
    """A page whose text runs vertically: turned 90 or 270 degrees, whichever reads better."""
    turned = rotate_image(image, 90)
    det = detector.detect([turned])[0]
    if len(det.quads) and vote_flip(turned, det.quads, recognizer, params):
        h, w = turned.shape[:2]
        return rotate_image(turned, 180), replace(det, quads=turn_quads(det.quads, 180, w, h)), 270
    return turned, det, 90


def _page_result(
    source: str,
    page: RasterPage,
    image: np.ndarray,
    reading: PageReading,
    rotation: int,
    seconds: float,
    layout: LayoutParams,
) -> PageResult:
    h, w = image.shape[:2]
    return PageResult(
        source=source,
        page=page.number,
        width=int(w),
        height=int(h),
        dpi=page.dpi,
        rotation=rotation,
        blocks=tuple(build_layout(reading.lines, layout)),
        seconds=seconds,
    )


_DONE = object()


def prefetch(items: Iterable[T], size: int) -> Iterator[T]:
    """Iterate ``items`` from a background thread, at most ``size`` ahead; errors re-raised."""
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True, name="scanrag-prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
