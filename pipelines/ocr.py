"""The OCR pipeline, top to bottom: pages -> detect -> orient -> recognize -> layout -> results.

Pages stream through in small batches (lines of all pages of a batch are recognised together).
Pages are rasterised in a background thread, and ``workers`` batches are read at once, each on
its own thread: onnxruntime releases the GIL, and on a CPU one single-threaded inference per
core keeps every core busier than one inference spread over all of them (small convolutions
parallelise poorly). Results always come out in page order, whatever finishes first.

The threads are ``pipelines.scheduling``'s (``run_ordered``, ``prefetch``, re-exported here);
which pages are turned, and how, is ``pipelines.orient``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from core.logging import get_logger
from pipelines.layout import LayoutParams
from pipelines.load import OpenedDocument, RasterPage
from pipelines.orient import OrientedPages, turn_sideways_pages, turn_upside_down_pages
from pipelines.read import (
    Detector,
    PageReading,
    ReadParams,
    Recognizer,
    read_lines,
)
from pipelines.regions import (
    RegionFinder,
    RegionLike,
    RegionOrderParams,
    sheet_layout,
    spread_regions,
    worth_regions,
)
from pipelines.scheduling import prefetch, run_ordered
from pipelines.tables import TableModel, recognise_tables
from pipelines.types import PageResult

__all__ = [
    "DocumentEvent",
    "NoProgress",
    "OcrParams",
    "ProgressReporter",
    "ocr_batch",
    "ocr_documents",
    "ocr_pages",
    "prefetch",  # re-exported: lives in pipelines.scheduling
    "run_ordered",  # re-exported: lives in pipelines.scheduling
]

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


class UprightSink(Protocol):
    """Given each page's image as read (turned upright, so the boxes of its reading fit it),
    from the reading threads: a worker stores it as the page image."""

    def keep(self, page: int, image: np.ndarray) -> None: ...


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
    upright: UprightSink | None = None,
    slots: AbstractContextManager[object] | None = None,
    tables: TableModel | None = None,
) -> Iterator[PageResult]:
    """Read ``pages`` of one document; yields one PageResult per page, in page order.
    ``regions`` (the layout model) orders the lines where it describes the page; ``upright``
    is given each page's upright image before its result comes out; ``tables`` (the table
    structure model, with ``regions``) reads the cells of the table regions. ``slots``
    (pipelines.cores), held around each batch and shared by the documents read at once in a
    process, caps the batches read at the same time across all of them (each document alone
    would read ``params.workers`` batches at once)."""

    def read(batch: list[RasterPage]) -> Callable[[], list[PageResult]]:
        def run() -> list[PageResult]:
            with slots or nullcontext():
                return ocr_batch(
                    batch, source, detector, recognizer, params, regions, upright, tables
                )

        return run

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
    documents: Iterable[tuple[str, Callable[[], OpenedDocument]]],
    *,
    detector: Detector,
    recognizer: Recognizer,
    params: OcrParams = OcrParams(),
    progress: ProgressReporter = NoProgress(),
    regions: RegionFinder | None = None,
    tables: TableModel | None = None,
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
                results = ocr_batch(
                    batch, source, detector, recognizer, params, regions, tables=tables
                )
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


def ocr_batch(
    pages: list[RasterPage],
    source: str,
    detector: Detector,
    recognizer: Recognizer,
    params: OcrParams,
    regions: RegionFinder | None = None,
    upright: UprightSink | None = None,
    tables: TableModel | None = None,
) -> list[PageResult]:
    """Read a few pages together: detection batched, recognition of all their lines batched,
    layout regions (when a ``regions`` model is given) found on the upright pages, batched;
    each upright page image handed to ``upright`` when one is given. With a ``tables`` model
    the regions are found on every page (a page of tables has too few long lines to be worth
    them otherwise), and the cells of each table block are read from its crop.

    With ``params.orientation`` sideways pages are turned before reading, and pages read poorly
    are checked for lying upside down after it (and read again when turned)."""
    start = time.perf_counter()
    images = [p.image for p in pages]
    oriented = OrientedPages(images, detector.detect(images), [0] * len(pages))
    if params.orientation:
        oriented = turn_sideways_pages(oriented, detector, recognizer, params.read)
    readings = read_lines(oriented.images, oriented.detections, recognizer, params.read)
    if params.orientation:
        oriented, readings = turn_upside_down_pages(oriented, readings, recognizer, params.read)
    images, rotations = oriented.images, oriented.rotations
    found = _find_regions(images, readings, regions, params.regions, every=tables is not None)
    if upright is not None:
        for page, image in zip(pages, images, strict=True):
            upright.keep(page.number, image)
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
        _page_result(
            source, page, image, reading, rotation, seconds, params, page_regions, regions, tables
        )
        for page, image, reading, rotation, page_regions in zip(
            pages, images, readings, rotations, found, strict=True
        )
    ]


def _find_regions(
    images: list[np.ndarray],
    readings: list[PageReading],
    finder: RegionFinder | None,
    params: RegionOrderParams,
    every: bool = False,
) -> list[Sequence[RegionLike] | None]:
    """The layout regions of the pages that may be pages of paragraphs (``every``: of every
    page with text), found in one batch; None for the others (forms, receipts: the row rules
    lay them out, the model is not run)."""
    found: list[Sequence[RegionLike] | None] = [None] * len(images)
    if finder is None:
        return found
    wanted = [
        i for i, r in enumerate(readings) if (every and r.lines) or worth_regions(r.lines, params)
    ]
    if wanted:
        for i, page_regions in zip(wanted, finder.detect([images[i] for i in wanted]), strict=True):
            found[i] = spread_regions(images[i], readings[i].lines, page_regions, finder, params)
    return found


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
    tables: TableModel | None = None,
) -> PageResult:
    h, w = image.shape[:2]
    blocks, spread = sheet_layout(
        reading.lines, regions, int(w), int(h), params.layout, params.regions
    )
    if tables is not None:
        blocks = list(recognise_tables(image, blocks, tables))
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
        halves=None if spread is None else spread.halves(),
    )
