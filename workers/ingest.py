"""Ingest local files in one process (``scanrag ingest``): fingerprint -> the tenant's document
row -> original into the blob store -> the document's way of workers/documents.py (taken up,
pages read and stored, indexed, done), several files at a time.

A document is marked done only in the transaction that writes its chunks, and every write
replaces by natural key, so a run killed anywhere leaves the row not done and the next run
goes on from the pages it stored, without duplicates.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Literal, Protocol

from sqlalchemy.orm import Session

from core.errors import Category, CorruptDocument, FileNotFound, ScanragError, UnsupportedType
from core.logging import get_logger
from core.status import DocumentStatus
from pipelines.load import expand_inputs, sniff
from pipelines.ocr import NoProgress, ProgressReporter, run_ordered
from storage import repository as repo
from storage.errors import DocumentNotFound
from workers import documents
from workers.runtime import Runtime

log = get_logger("ingest")

OutcomeStatus = Literal["done", "duplicate", "failed"]
_HASH_BYTES = 1 << 20


class IngestProgress(ProgressReporter, Protocol):
    """A ProgressReporter also told how many pages a document adds (cli.progress.PageBar)."""

    def add_total(self, pages: int) -> None: ...


class NoIngestProgress(NoProgress):
    """An IngestProgress that reports nothing."""

    def add_total(self, pages: int) -> None:
        return None


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
    runtime: Runtime,
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
                        runtime=runtime,
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
    for outcome in run_ordered(files, runtime.ocr.params.workers):
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
    runtime: Runtime,
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
            with runtime.writing(), runtime.sessions.begin() as session:
                document, _ = document_for_file(
                    session, path, sha256=sha256, size=size, head=head, tenant=tenant, meta=meta
                )
                document_id, status, pages = document.id, document.status, document.page_count
            if status == DocumentStatus.DONE:
                seconds = time.perf_counter() - start
                return IngestOutcome(path, document_id, "duplicate", pages or 0, seconds=seconds)
            pages = _process(path, document, runtime=runtime, progress=progress)
    except Exception as exc:  # a bug or a database fault must not stop the other files
        error = documents.as_failure(exc, document_id, path=str(path))
        if document_id is not None:
            documents.fail(runtime, document_id, error)
        return failed(document_id, error)
    return IngestOutcome(path, document_id, "done", pages, seconds=time.perf_counter() - start)


def _process(
    path: Path, document: repo.Document, *, runtime: Runtime, progress: IngestProgress
) -> int:
    """Store the file, then take the document up, read its pages not stored yet, and index it;
    returns its page count."""
    if runtime.blobs.put_file(path) != document.sha256:
        raise CorruptDocument("the file changed while it was being read; send it again")
    opened = documents.take_up(runtime, document)
    ranges = documents.unread_ranges(runtime, document.id, opened.page_count)
    progress.add_total(sum(last - first + 1 for first, last in ranges))
    for first, last in ranges:
        if not documents.read_pages(
            runtime, document.id, opened, start=first, stop=last, progress=progress
        ):
            raise DocumentNotFound()
    documents.index(runtime, document.id, mark_done=True)
    return opened.page_count


def document_for_file(
    session: Session,
    path: PurePath,
    *,
    sha256: str,
    size: int,
    head: bytes,
    tenant: str,
    meta: dict[str, Any] | None = None,
    queue: str | None = None,
) -> tuple[repo.Document, bool]:
    """The tenant's document for a fingerprinted file (created "queued" if new, queued again
    if it had failed), and whether this call queued it."""
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


def fingerprint(source: Path | BinaryIO) -> tuple[str, int, bytes]:
    """(sha256 hex, size in bytes, first 1 KiB) of a file, or of an opened binary file from
    where it stands, read in blocks."""
    try:
        if isinstance(source, Path):
            with source.open("rb") as f:
                return _fingerprint(f)
        return _fingerprint(source)
    except IsADirectoryError as exc:
        raise UnsupportedType("a directory, not a file") from exc
    except FileNotFoundError as exc:
        raise FileNotFound() from exc
    except OSError as exc:
        raise CorruptDocument(f"cannot read the file: {exc.strerror or exc}") from exc


def _fingerprint(f: BinaryIO) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    while block := f.read(_HASH_BYTES):
        if not head:
            head = block[:1024]
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size, head


def media_type_of(head: bytes) -> str:
    """The media type the loader will see; a file it refuses is recorded as octet-stream."""
    try:
        return sniff(head)
    except UnsupportedType:
        return "application/octet-stream"
