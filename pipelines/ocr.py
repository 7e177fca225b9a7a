"""The OCR pipeline, top to bottom: pages -> orient -> detect -> recognize -> layout -> results.

Pages stream through in small batches (lines of all pages of a batch are recognised together).
Pages are rasterised in a background thread, and ``workers`` batches are read at once, each on
its own thread: onnxruntime releases the GIL, and on a CPU one single-threaded inference per
core keeps every core busier than one inference spread over all of them (small convolutions
parallelise poorly). Results always come out in page order, whatever finishes first.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeVar

import numpy as np

from core.logging import get_logger
from models.detector import DetectionResult
from pipelines.layout import LayoutParams
from pipelines.load import Document, RasterPage
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
from pipelines.regions import (
    RegionFinder,
    RegionLike,
    RegionOrderParams,
    page_layout,
    worth_regions,
)
from pipelines.types import PageResult

T = TypeVar("T")
log = get_logger("ocr")


@dataclass(frozen=True)
class OcrParams:
    """Plain parameters of the OCR pipeline (built from the settings by the caller)."""

    page_batch: int = 1
    workers: int = 1  # batches read at once, one thread each
    orientation: bool = True
    read: ReadParams = field(default_factory=ReadParams)
    layout: LayoutParams = field(default_factory=LayoutParams)
    regions: RegionOrderParams = field(default_factory=RegionOrderParams)


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
    regions: RegionFinder | None = None,
) -> Iterator[PageResult]:
    """Read ``pages`` of one document; yields one PageResult per page, in page order.
    ``regions`` (the layout model) orders the lines where it describes the page."""

    def read(batch: list[RasterPage]) -> Callable[[], list[PageResult]]:
        return lambda: ocr_batch(batch, source, detector, recognizer, params, regions)

    tasks = (read(batch) for batch in _batches(pages, params))
    for result in run_ordered(tasks, params.workers):
        progress.page_done(result.source, result.page, total)
        yield result


def _batches(pages: Iterable[RasterPage], params: OcrParams) -> Iterator[list[RasterPage]]:
    """Runs of ``page_batch`` pages, rasterised ahead in a background thread."""
    batch: list[RasterPage] = []
    for page in prefetch(pages, max(2, params.workers) * params.page_batch):
        batch.append(page)
        if len(batch) == params.page_batch:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class DocumentEvent:
    """What ``ocr_documents`` reports, in input order: a document ``opened`` (with its page
    count), each ``page`` read, then the document ``done`` or ``failed`` (with the error)."""

    kind: Literal["opened", "page", "done", "failed"]
    index: int
    source: str
    total: int | None = None
    page: PageResult | None = None
    error: Exception | None = None


def ocr_documents(
    documents: Iterable[tuple[str, Callable[[], Document]]],
    *,
    detector: Detector,
    recognizer: Recognizer,
    params: OcrParams = OcrParams(),
    progress: ProgressReporter = NoProgress(),
    regions: RegionFinder | None = None,
) -> Iterator[DocumentEvent]:
    """Read many documents, ``(source, open)`` each, with pages of consecutive documents in
    flight together (a folder of one-page scans keeps every worker busy).

    A document that cannot be opened or rasterised, or whose reading fails, ends with a
    ``failed`` event and the next one goes on; its pages read before the failure were reported.
    """

    Task = Callable[[], list[DocumentEvent]] | list[DocumentEvent]

    def read(source: str, index: int, batch: list[RasterPage]) -> Task:
        def run() -> list[DocumentEvent]:
            try:
                results = ocr_batch(batch, source, detector, recognizer, params, regions)
            except Exception as exc:  # this document's failure, not the run's
                return [DocumentEvent("failed", index, source, error=exc)]
            return [DocumentEvent("page", index, source, page=r) for r in results]

        return run

    failed: set[int] = set()

    def feed() -> Iterator[Task]:
        for index, (source, open_document) in enumerate(documents):
            try:
                document = open_document()
                yield [DocumentEvent("opened", index, source, total=document.page_count)]
                for batch in _batches(document.pages(), params):
                    if index in failed:
                        break  # a page of it failed: read no more of it
                    yield read(source, index, batch)
            except Exception as exc:  # bad input (or a rasteriser bug): this document fails
                yield [DocumentEvent("failed", index, source, error=exc)]
                continue
            yield [DocumentEvent("done", index, source)]

    totals: dict[int, int | None] = {}
    for event in run_ordered(feed(), params.workers):
        if event.index in failed:
            continue  # pages and the end of a document that already failed
        if event.kind == "failed":
            failed.add(event.index)
        elif event.kind == "opened":
            totals[event.index] = event.total
        elif event.kind == "page" and event.page is not None:
            progress.page_done(event.source, event.page.page, totals.get(event.index))
        yield event


R = TypeVar("R")


def run_ordered(tasks: Iterable[Callable[[], list[R]] | list[R]], workers: int) -> Iterator[R]:
    """Run the callables among ``tasks`` on ``workers`` threads and yield their results (lists)
    item by item in task order; plain lists pass through in their place.

    At most ``workers + 1`` tasks are submitted ahead of the one being yielded, so memory stays
    bounded; a task's exception is raised when its turn comes. With one worker everything runs
    on the caller's thread.
    """
    if workers <= 1:
        for task in tasks:
            yield from task() if callable(task) else task
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scanrag-ocr")
    pending: deque[Future[list[R]] | list[R]] = deque()
    running = 0  # futures among pending
    try:
        for task in tasks:
            if callable(task):
                pending.append(pool.submit(task))
                running += 1
            else:
                pending.append(task)
            while running > workers or (pending and _settled(pending[0])):
                head = pending.popleft()
                running -= isinstance(head, Future)
                yield from _outcome(head)
        while pending:
            yield from _outcome(pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _settled(item: Future[list[R]] | list[R]) -> bool:
    return not isinstance(item, Future) or item.done()


def _outcome(item: Future[list[R]] | list[R]) -> list[R]:
    return item.result() if isinstance(item, Future) else item


def ocr_batch(
    pages: list[RasterPage],
    source: str,
    detector: Detector,
    recognizer: Recognizer,
    params: OcrParams,
    regions: RegionFinder | None = None,
) -> list[PageResult]:
    """Read a few pages together: detection batched, recognition of all their lines batched,
    layout regions (when a ``regions`` model is given) found on the upright pages, batched."""
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
    found = _find_regions(images, readings, regions, params.regions)
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
        _page_result(source, page, image, reading, rotation, seconds, params, page_regions, regions)
        for page, image, reading, rotation, page_regions in zip(
            pages, images, readings, rotations, found, strict=True
        )
    ]


def _find_regions(
    images: list[np.ndarray],
    readings: list[PageReading],
    finder: RegionFinder | None,
    params: RegionOrderParams,
) -> list[Sequence[RegionLike] | None]:
    """The layout regions of the pages that may be pages of paragraphs, found in one batch;
    None for the others (forms, receipts: the row rules lay them out, the model is not run)."""
    found: list[Sequence[RegionLike] | None] = [None] * len(images)
    if finder is None:
        return found
    wanted = [i for i, r in enumerate(readings) if worth_regions(r.lines, params)]
    if wanted:
        for i, page_regions in zip(wanted, finder.detect([images[i] for i in wanted]), strict=True):
            found[i] = page_regions
    return found


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
    params: OcrParams,
    regions: Sequence[RegionLike] | None,
    finder: RegionFinder | None,
) -> PageResult:
    h, w = image.shape[:2]
    blocks = page_layout(reading.lines, regions, int(h), params.layout, params.regions)
    model = finder.name if finder is not None else None
    return PageResult(
        source=source,
        page=page.number,
        width=int(w),
        height=int(h),
        dpi=page.dpi,
        rotation=rotation,
        blocks=tuple(blocks),
        seconds=seconds,
        layout_model=model,
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
