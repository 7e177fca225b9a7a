"""One document's way through scanrag, the same whoever drives it (``scanrag ingest`` in one
process, or the Celery tasks spread over workers):

    take_up      open the stored file, mark the document processing with its page count
    read_pages   read pages (those not stored yet), store each with its image as soon as read
    index        chunk and embed the stored pages (and, with an image model, embed the page
                 images and figures), replace the vectors, mark the document done
    fail         mark the document failed with the error's code and message

Every write replaces by natural key (page number, chunk ordinal), so any step may run twice, or
again after its process died, without duplicating anything; the status moves only as
core.status allows (done once, so its webhook goes once), with its timestamps.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from core.errors import Category, ScanragError, as_error
from core.logging import get_logger
from core.memory import trim_heap
from core.status import DocumentStatus
from pipelines.chunk import Chunk, ChunkParams, chunk_document
from pipelines.embed import embed_chunks
from pipelines.load import OpenedDocument, open_document
from pipelines.ocr import NoProgress, ProgressReporter
from pipelines.running_heads import apply_running_heads, find_running_heads, page_strips
from pipelines.types import PageResult
from storage import encoders
from storage import repository as repo
from storage.encoders import VectorTarget
from storage.errors import DocumentNotFound
from workers.image_vectors import image_vector_rows
from workers.page_images import UprightImages, store_page_image
from workers.runtime import Runtime

if TYPE_CHECKING:
    from models.embedder import EncoderIdentity

log = get_logger("documents")


def take_up(
    runtime: Runtime, document: repo.Document, *, queue: str | None = None
) -> OpenedDocument:
    """Mark the document processing (and the queue it is read from), open its stored file and
    record its page count. Raises a core.errors.BadInput subclass for a file it cannot read."""
    # processing before opening: a file that fails to open (again) is recorded over an
    # earlier outcome, never left with the reason of another run
    with runtime.writing(), runtime.sessions.begin() as session:
        repo.mark_started(session, document_id=document.id, page_count=None, queue=queue)
    opened = open_stored(runtime, document)
    with runtime.writing(), runtime.sessions.begin() as session:
        repo.mark_started(session, document_id=document.id, page_count=opened.page_count)
    return opened


def open_stored(runtime: Runtime, document: repo.Document) -> OpenedDocument:
    """The document's stored file, opened for reading."""
    return open_document(runtime.blobs.path(document.blob_key), runtime.load)


def page_ranges(page_count: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` 1-based inclusive ranges of ``size`` pages covering the document."""
    return [(start, min(start + size - 1, page_count)) for start in range(1, page_count + 1, size)]


def unread_ranges(
    runtime: Runtime, document_id: str, page_count: int, size: int | None = None
) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges of the document's pages holding a page not stored yet: the
    ranges of ``size`` pages that do (as the tasks split a document), or, without ``size``,
    each run of consecutive unstored pages."""
    with runtime.sessions() as session:
        stored = repo.stored_page_numbers(session, document_id=document_id)
    if size is not None:
        return [
            (start, stop)
            for start, stop in page_ranges(page_count, size)
            if not set(range(start, stop + 1)) <= stored
        ]
    runs: list[tuple[int, int]] = []
    for number in range(1, page_count + 1):
        if number in stored:
            continue
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def read_pages(
    runtime: Runtime,
    document_id: str,
    opened: OpenedDocument,
    *,
    start: int = 1,
    stop: int | None = None,
    progress: ProgressReporter = NoProgress(),
) -> bool:
    """Read pages ``start..stop`` of the opened document and store each, with its page image,
    in a short transaction of its own as soon as it is read (whoever watches the document sees
    the pages go by). False when the document was deleted meanwhile (reading stops)."""
    images = UprightImages()
    pages = runtime.ocr.read(
        opened, source=document_id, start=start, stop=stop, progress=progress, upright=images
    )
    # all() stops at the first page whose document is gone
    return all(
        store_page(runtime, document_id, images.take(result.page), result) for result in pages
    )


def page_row(result: PageResult, image_key: str | None) -> repo.PageRow:
    """The read page as a row to store, with the key of its stored page image."""
    return repo.PageRow(
        number=result.page,
        width=result.width,
        height=result.height,
        text=result.text,
        layout=result.to_dict(),
        dpi=result.dpi,
        rotation=result.rotation,
        image_key=image_key,
    )


def store_page(runtime: Runtime, document_id: str, image: np.ndarray, result: PageResult) -> bool:
    """Store one read page and its image, and count it done; False when the document is gone."""
    image_key = store_page_image(runtime.blobs, image, result)
    page = page_row(result, image_key)
    try:
        with runtime.writing(), runtime.sessions.begin() as session:
            repo.replace_pages(session, document_id=document_id, pages=[page])
            repo.update_pages_done(session, document_id=document_id)
    except DocumentNotFound:
        # deleted while its pages were being read: the image just written is nobody's (unless
        # an identical page of another document shares it)
        with runtime.sessions.begin() as session:
            for key in repo.unused_blob_keys(session, {image_key}):
                runtime.blobs.delete(key)
        log.info("document deleted while read", extra={"document": document_id})
        return False
    # the page's image, crops and readings are freed now: give their memory back (300 dense
    # pages: reading's RSS at 270 pages 1208 MB without, 1163 with; docs/BENCHMARKS.md)
    trim_heap()
    # debug: a CLI run shows its progress bar instead; the tasks log each range they read
    log.debug(
        "page read", extra={"document": document_id, "page": result.page, "s": result.seconds}
    )
    return True


def index(
    runtime: Runtime, document_id: str, *, mark_done: bool = False, switching: bool = False
) -> tuple[int, bool]:
    """Chunk and embed the document's stored pages and replace its chunks (no OCR); with an
    image model configured, embed its page images and figure regions too.

    With ``mark_done`` the document also moves to done in the same transaction: content and
    "done" commit together, so a document marked done is never half-written. The index must
    hold no vectors of another model of the same kind (IndexMismatch names the reindex to run),
    unless ``switching`` (``scanrag reindex`` replacing them). Returns the number of chunks
    and whether this call marked the document done.
    """
    started = time.perf_counter()
    embedder = runtime.embedder
    image_encoder = runtime.image_encoder
    loaded = time.perf_counter()
    # a chunk longer than the encoder reads would be embedded cut short
    params = fit_chunks(runtime.chunk, embedder.max_length - 2)
    with runtime.sessions() as session:
        # pages stream from the database into the chunker: only the chunks are kept, so a
        # long document's pages (words, boxes) are never all in memory at once; a first pass
        # keeps only each page's top and bottom strips, to find the running heads and folios
        heads = find_running_heads(
            page_strips(PageResult.from_dict(layout))
            for layout in repo.page_layouts(session, document_id=document_id)
        )
        pages = (
            apply_running_heads(PageResult.from_dict(layout), heads)
            for layout in repo.page_layouts(session, document_id=document_id)
        )
        chunks = chunk_document(pages, params, count_tokens=embedder.count_tokens)
    trim_heap()  # what reading and chunking freed, before the embedder's activations
    chunked = time.perf_counter()
    # a batch ingest reads the next file meanwhile: reading pauses while the encoder runs, as
    # torch's threads lose time waiting for each other on shared cores (100 dense pages in 2
    # PDFs on an AVX2 CPU: 884 -> 847 CPU s; docs/BENCHMARKS.md, issue 15)
    with runtime.encoding() as lent:
        vectors = embed_chunks(chunks, embedder)
        regions = (
            []
            if image_encoder is None
            else image_vector_rows(
                runtime.sessions, runtime.blobs, image_encoder, document_id, chunks
            )
        )
    embedded = time.perf_counter()
    rows = chunk_rows(chunks)
    with runtime.writing(), runtime.sessions.begin() as session:
        target = registered(session, embedder.identity, check=not switching)
        repo.replace_chunks(
            session,
            document_id=document_id,
            chunks=rows,
            embeddings=vectors,
            encoder_id=target.encoder_id,
        )
        if image_encoder is not None:
            image_target = registered(session, image_encoder.identity, check=not switching)
            repo.replace_image_vectors(
                session, document_id=document_id, rows=regions, encoder_id=image_target.encoder_id
            )
        changed = mark_done and repo.finish(
            session, document_id=document_id, status=DocumentStatus.DONE
        )
    log.debug(
        "indexed",
        extra={
            "document": document_id,
            "chunks": len(rows),
            "regions": len(regions),
            "load_s": round(loaded - started, 3),
            "chunk_s": round(chunked - loaded, 3),
            "embed_s": round(embedded - chunked, 3),
            "cores_lent": lent,
            "store_s": round(time.perf_counter() - embedded, 3),
        },
    )
    return len(rows), changed


def chunk_rows(chunks: list[Chunk]) -> list[repo.ChunkRow]:
    """The chunks as rows to store (a table chunk's cells as JSON values)."""
    return [
        repo.ChunkRow(
            page_number=c.page,
            ordinal=c.ordinal,
            text=c.text,
            bbox=c.bbox,
            line_boxes=c.line_boxes,
            kind=c.kind,
            title=c.title,
            cells=None if c.cells is None else tuple(cell.to_dict() for cell in c.cells),
            table_index=c.table,
        )
        for c in chunks
    ]


def fit_chunks(params: ChunkParams, limit: int) -> ChunkParams:
    """``params`` with a budget no larger than ``limit`` tokens (the encoder's input, less its
    two special tokens), the section tail kept in proportion."""
    if limit >= params.max_tokens:
        return params
    budget = max(2, limit)
    return replace(params, max_tokens=budget, min_tokens=min(params.min_tokens, budget * 3 // 20))


def registered(session: Session, identity: EncoderIdentity, *, check: bool = True) -> VectorTarget:
    """The encoder's vector target (registered on first use); with ``check``, IndexMismatch
    when its table holds vectors of another model of the same kind."""
    target = encoders.register(
        session,
        kind=identity.kind,
        name=identity.name,
        sha256=identity.sha256,
        dim=identity.dim,
    )
    if check:
        what = "text model" if identity.kind == "text" else "image model"
        encoders.check_only(session, target, what=what, configured=identity.describe())
    return target


def as_failure(exc: BaseException, document_id: str | None, **extra: object) -> ScanragError:
    """``exc`` as the error to record on the document (core.errors.as_error), logged with the
    document id: a bug with its traceback, any other fault but bad input as a warning."""
    error = as_error(exc)
    if not isinstance(exc, ScanragError):
        log.error("processing failed", extra={"document": document_id, **extra}, exc_info=exc)
    elif error.category is not Category.BAD_INPUT:
        log.warning("processing failed", extra={"document": document_id, "code": error.code})
    return error


def fail(runtime: Runtime, document_id: str, error: ScanragError) -> bool:
    """Mark the document failed (unless already finished); True when this call did it.

    A database that cannot take it leaves the row not done, so a later run redoes it.
    """
    try:
        with runtime.writing(), runtime.sessions.begin() as session:
            return repo.finish(
                session,
                document_id=document_id,
                status=DocumentStatus.FAILED,
                error_code=error.code,
                error_message=error.message,
            )
    except Exception:
        log.exception("could not record the failure", extra={"document": document_id})
        return False
