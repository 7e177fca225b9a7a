"""Ingest files: hash -> document row -> original into the blob store -> OCR, page images ->
chunks -> embeddings -> pages, chunks and vectors stored with status "done" in one transaction.

Plain functions: the CLI calls them now, Celery tasks will later. A document is marked done only
in the transaction that writes its content, and that write deletes before it inserts, so a run
killed anywhere leaves the row not done and the next run redoes it without duplicates.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import Category, CorruptDocument, ScanragError, UnsupportedType
from core.logging import get_logger
from core.status import DocumentStatus
from pipelines.chunk import ChunkParams, chunk_document
from pipelines.embed import Embedder, embed_chunks
from pipelines.engine import OcrEngine
from pipelines.load import Document, LoadParams, RasterPage, expand_inputs, open_document, sniff
from pipelines.ocr import NoProgress, ProgressReporter, run_ordered
from pipelines.types import PageResult
from storage import repository as repo
from storage.blobs import BlobStore
from storage.db import session_factory

log = get_logger("ingest")

OutcomeStatus = Literal["done", "duplicate", "failed"]
PAGE_IMAGE_QUALITY = 90  # JPEG: a tenth of a PNG's size on scans, and crops stay legible
_HASH_BYTES = 1 << 20


class IndexEmbedder(Embedder, Protocol):
    """A text embedder the index can record (models.embedder.TextEmbedder is one)."""

    name: str
    dim: int

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` as the embedder counts them (chunks are budgeted in these)."""
        ...


class IngestProgress(ProgressReporter, Protocol):
    """A ProgressReporter also told how many pages a document adds (cli.progress.PageBar)."""

    def add_total(self, pages: int) -> None: ...


class NoIngestProgress(NoProgress):
    """An IngestProgress that reports nothing."""

    def add_total(self, pages: int) -> None:
        return None


@dataclass
class IngestContext:
    """What ingesting needs, built once by the caller from its settings.

    ``load_embedder`` is called on first use only, so a run of duplicates never loads it.
    """

    engine: Engine
    blobs: BlobStore
    ocr: OcrEngine
    load_embedder: Callable[[], IndexEmbedder]
    load: LoadParams = field(default_factory=LoadParams)
    chunk: ChunkParams = field(default_factory=ChunkParams)
    sessions: sessionmaker[Session] = field(init=False, repr=False)
    _embedder: IndexEmbedder | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)

    @property
    def embedder(self) -> IndexEmbedder:
        """The text embedder, loaded on first use."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self.load_embedder()
            return self._embedder


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one file: stored ("done"), already stored ("duplicate") or "failed"."""

    path: Path
    document_id: str | None  # None when the file could not even be read
    status: OutcomeStatus
    pages: int
    error_code: str | None = None
    error_message: str | None = None
    seconds: float = 0.0
    error_category: Category | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready values."""
        return {
            "path": str(self.path),
            "document_id": self.document_id,
            "status": self.status,
            "pages": self.pages,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "seconds": round(self.seconds, 3),
            "error_category": None if self.error_category is None else self.error_category.value,
        }


def ingest_paths(
    paths: Iterable[str | Path],
    *,
    ctx: IngestContext,
    tenant: str = "default",
    meta: dict[str, Any] | None = None,
    progress: IngestProgress = NoIngestProgress(),
    on_outcome: Callable[[IngestOutcome], None] | None = None,
) -> list[IngestOutcome]:
    """Ingest files, and every file under folders (recursively, sorted); outcomes in order.

    As many files are in flight as the OCR engine has workers (a folder of one-page scans
    keeps every core busy); files of the same content are taken one after the other in listing
    order, so the first listed is read and the later copies are duplicates. ``on_outcome`` is
    told each outcome as soon as it is known.
    """
    turns = _ContentTurns()

    def task(position: int, path: Path) -> Callable[[], list[IngestOutcome]]:
        def run() -> list[IngestOutcome]:
            try:
                return [
                    ingest_file(
                        path,
                        ctx=ctx,
                        tenant=tenant,
                        meta=meta,
                        progress=progress,
                        turns=lambda sha256: turns.turn(position, sha256),
                    )
                ]
            finally:
                turns.finished(position)

        return run

    outcomes = []
    files = (task(k, path) for k, path in enumerate(expand_inputs(paths)))
    for outcome in run_ordered(files, ctx.ocr.params.workers):
        if on_outcome is not None:
            on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


class _ContentTurns:
    """Turns for the files of one run (numbered in listing order) that share their content.

    A file that has hashed its content waits until every file listed before it has hashed
    its own (or ended) and none of those with the same content is still unfinished. Files are
    started in listing order, so the earlier ones always get there: nobody waits forever.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._hashed: dict[int, str | None] = {}  # position -> content (None: ended unhashed)
        self._unfinished: dict[str, set[int]] = {}  # content -> positions not yet finished
        self._prefix = 0  # every position below this one has hashed or ended

    def _hashed_at(self, position: int, sha256: str | None) -> None:
        self._hashed.setdefault(position, sha256)
        while self._prefix in self._hashed:
            self._prefix += 1
        self._cond.notify_all()

    @contextmanager
    def turn(self, position: int, sha256: str) -> Iterator[None]:
        with self._cond:
            self._unfinished.setdefault(sha256, set()).add(position)
            self._hashed_at(position, sha256)
            self._cond.wait_for(
                lambda: self._prefix > position and min(self._unfinished[sha256]) == position
            )
        yield

    def finished(self, position: int) -> None:
        with self._cond:
            self._hashed_at(position, None)
            sha256 = self._hashed[position]
            if sha256 is not None:
                self._unfinished[sha256].discard(position)
            self._cond.notify_all()


def ingest_file(
    path: str | Path,
    *,
    ctx: IngestContext,
    tenant: str = "default",
    meta: dict[str, Any] | None = None,
    progress: IngestProgress = NoIngestProgress(),
    turns: Callable[[str], AbstractContextManager[object]] = lambda _: nullcontext(),
) -> IngestOutcome:
    """Store one file as a searchable document of ``tenant``; never raises for a failure.

    Content already stored for the tenant is a "duplicate" and is not read again; a document
    left queued, processing or failed by an earlier run is processed again. A failure is
    recorded on the document row (code and message) and returned as a "failed" outcome.
    """
    path = Path(path)
    start = time.perf_counter()

    def failed(document_id: str | None, error: ScanragError) -> IngestOutcome:
        return IngestOutcome(
            path,
            document_id,
            "failed",
            0,
            error.code,
            error.message,
            time.perf_counter() - start,
            error.category,
        )

    document_id: str | None = None
    try:
        sha256, size, head = fingerprint(path)
        with turns(sha256):  # the same content in flight twice: the second waits, a duplicate
            with ctx.sessions.begin() as session:
                document, _ = document_for_file(
                    session, path, sha256=sha256, size=size, head=head, tenant=tenant, meta=meta
                )
                document_id, status, pages = document.id, document.status, document.page_count
            if status == "done":
                seconds = time.perf_counter() - start
                return IngestOutcome(path, document_id, "duplicate", pages or 0, seconds=seconds)
            pages = _process(
                path, document_id=document_id, sha256=sha256, ctx=ctx, progress=progress
            )
    except ScanragError as exc:
        if exc.category is not Category.BAD_INPUT:
            log.warning("ingest failed", extra={"document": document_id, "code": exc.code})
        _record_failure(ctx, document_id, exc)
        return failed(document_id, exc)
    except Exception as exc:  # a bug or a database fault must not stop the other files
        log.exception("ingest failed", extra={"document": document_id, "path": str(path)})
        error = ScanragError(f"internal error: {exc}")
        _record_failure(ctx, document_id, error)
        return failed(document_id, error)
    return IngestOutcome(path, document_id, "done", pages, seconds=time.perf_counter() - start)


def _process(
    path: Path, *, document_id: str, sha256: str, ctx: IngestContext, progress: IngestProgress
) -> int:
    """Read, chunk, embed and store one document; returns its page count."""
    # processing from here on, so a failure below is recorded over an earlier run's outcome
    _set_processing(ctx, document_id, pages_done=0)
    if ctx.blobs.put_file(path) != sha256:
        raise CorruptDocument("the file changed while it was being read; send it again")
    document = open_document(path, ctx.load)
    progress.add_total(document.page_count)
    _set_processing(ctx, document_id, pages_done=0, page_count=document.page_count)
    tap = PageImageTap(document)
    pages: list[dict[str, Any]] = []
    results: list[PageResult] = []
    for result in ctx.ocr.read(tap, source=str(path), progress=progress):
        image_key = store_page_image(ctx.blobs, tap.take(result.page), result)
        results.append(result)
        pages.append({**result.to_dict(), "image_key": image_key})
        # one short transaction per page: whoever watches the row sees the pages go by
        _set_processing(ctx, document_id, pages_done=len(pages))
    embedder = ctx.embedder
    rows, vectors = index_pages(results, ctx.chunk, embedder)
    # content and "done" commit together: a document marked done is never half-written
    with ctx.sessions.begin() as session:
        repo.check_index_model(session, name=embedder.name, dim=embedder.dim)
        repo.replace_document_content(
            session, document_id=document_id, pages=pages, chunks=rows, embeddings=vectors
        )
        repo.set_status(
            session,
            document_id=document_id,
            status=DocumentStatus.DONE,
            pages_done=len(pages),
            page_count=len(pages),
        )
    return len(pages)


def index_pages(
    results: list[PageResult], params: ChunkParams, embedder: IndexEmbedder
) -> tuple[list[repo.ChunkRow], np.ndarray]:
    """The chunks of a document's read pages, as rows to store, and their embeddings."""
    chunks = chunk_document(results, params, count_tokens=embedder.count_tokens)
    vectors = embed_chunks(chunks, embedder)
    rows = [
        repo.ChunkRow(
            page_number=c.page,
            ordinal=c.ordinal,
            text=c.text,
            bbox=c.bbox,
            line_boxes=c.line_boxes,
            kind=c.kind,
            title=c.title,
        )
        for c in chunks
    ]
    return rows, vectors


def reindex_document(
    sessions: sessionmaker[Session],
    *,
    document_id: str,
    params: ChunkParams,
    embedder: IndexEmbedder,
    mark_done: bool = False,
) -> tuple[int, bool]:
    """Chunk and embed the document's stored pages and replace its chunks (no OCR).

    With ``mark_done`` the document also moves to done in the same transaction. Returns the
    number of chunks and whether this call marked the document done.
    """
    with sessions() as session:
        stored = repo.document_pages(session, document_id=document_id)
        results = [PageResult.from_dict(page.layout) for page in stored]
    rows, vectors = index_pages(results, params, embedder)
    with sessions.begin() as session:
        repo.check_index_model(session, name=embedder.name, dim=embedder.dim)
        repo.replace_chunks(session, document_id=document_id, chunks=rows, embeddings=vectors)
        changed = mark_done and repo.finish(
            session, document_id=document_id, status=DocumentStatus.DONE
        )
    return len(rows), changed


def document_for_file(
    session: Session,
    path: Path,
    *,
    sha256: str,
    size: int,
    head: bytes,
    tenant: str,
    meta: dict[str, Any] | None = None,
    queue: str | None = None,
) -> tuple[repo.Document, bool]:
    """The tenant's document for a fingerprinted file (created "queued" if new), and whether
    this call created it."""
    return repo.get_or_create_document(
        session,
        tenant=tenant,
        sha256=sha256,
        filename=path.name,
        media_type=media_type_of(head),
        size_bytes=size,
        blob_key=sha256,  # BlobStore keys originals by their sha256
        meta=meta,
        queue=queue,
    )


def fingerprint(path: Path) -> tuple[str, int, bytes]:
    """(sha256 hex, size in bytes, first 1 KiB) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with path.open("rb") as f:
            while block := f.read(_HASH_BYTES):
                if not head:
                    head = block[:1024]
                digest.update(block)
                size += len(block)
    except IsADirectoryError as exc:
        raise UnsupportedType("a directory, not a file") from exc
    except OSError as exc:
        raise CorruptDocument(f"cannot read the file: {exc.strerror or exc}") from exc
    return digest.hexdigest(), size, head


def media_type_of(head: bytes) -> str:
    """The media type the loader will see; a file it refuses is recorded as octet-stream."""
    try:
        return sniff(head)
    except UnsupportedType:
        return "application/octet-stream"


def _set_processing(
    ctx: IngestContext, document_id: str, *, pages_done: int, page_count: int | None = None
) -> None:
    with ctx.sessions.begin() as session:
        repo.set_status(
            session,
            document_id=document_id,
            status=DocumentStatus.PROCESSING,
            pages_done=pages_done,
            page_count=page_count,
        )


def _record_failure(ctx: IngestContext, document_id: str | None, error: ScanragError) -> None:
    if document_id is not None:
        record_failure(ctx.sessions, document_id, error)


def record_failure(sessions: sessionmaker[Session], document_id: str, error: ScanragError) -> bool:
    """Mark the document failed (unless already finished); True when this call did it.

    A database that cannot take it leaves the row not done, so a later run redoes it.
    """
    try:
        with sessions.begin() as session:
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
