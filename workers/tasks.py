"""The Celery tasks: thin, passing ids; each loads rows, calls the pipeline, writes through storage.

A document flows ``prepare`` -> ``read_pages`` for each page range (in parallel, on any worker)
-> ``finalize`` (chunks, embeddings, index, status) -> ``deliver_webhook``. The fan-in is counted
in the database, not in the broker: each range task, after storing its pages, counts the stored
pages, and whichever sees them all sends ``finalize``. Every write replaces by natural key (page
number, chunk ordinal), so any task may run twice, or be redelivered after its worker died,
without duplicating anything; ``finalize`` moves the status to done once, so the webhook goes once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError

from core.errors import Category, ScanragError
from core.logging import get_logger
from core.status import FINAL
from pipelines.load import open_document
from storage import jobs
from storage import repository as repo
from storage.errors import DocumentNotFound
from storage.tables import Document
from workers.app import app
from workers.ingest import PageImageTap, record_failure, reindex_document, store_page_image
from workers.queues import BATCH, INTERACTIVE, WEBHOOKS
from workers.state import WorkerState, worker_state

log = get_logger("worker")

# Passing faults: the task is retried with backoff; anything else fails the document at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    kombu.exceptions.OperationalError,  # the broker refused a task this one sends
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
)
MAX_RETRIES = 5

HEAVY: dict[str, Any] = {"bind": True, "acks_late": True, "max_retries": MAX_RETRIES}


class PoisonMessage(ScanragError):
    code = "poison"
    default_message = (
        "processing this document crashed its worker repeatedly; it was stopped. "
        "Check the file, then upload it again"
    )


class TaskTimeout(ScanragError):
    code = "timeout"
    default_message = "processing took longer than the time limit"


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ScanragError):
        return exc.category is Category.TRANSIENT
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


def _run(task: Task, document_id: str, body: Callable[[WorkerState, Document], None]) -> None:
    """Run ``body`` for a live document under the guards every document task shares.

    A document deleted or already finished has no work left: ``body`` is not called.

    Counts the delivery (a message delivered more than ``max_deliveries`` times is poison: its
    document fails instead of crashing workers forever), retries passing faults with backoff,
    and records any other error on the document row, so no task leaves a document hanging.
    """
    state = worker_state()
    service = state.settings.service
    key = f"{task.request.id}:{task.request.retries}"
    try:
        with state.sessions.begin() as session:
            deliveries = jobs.count_delivery(session, task_key=key, document_id=document_id)
        if deliveries > service.max_deliveries:
            log.error("poison message", extra={"document": document_id, "task": task.name})
            _fail(state, document_id, PoisonMessage())
            return
        document = _live_document(state, document_id)
        if document is not None:
            body(state, document)
    except SoftTimeLimitExceeded:
        _fail(state, document_id, TaskTimeout())
    except Exception as exc:
        if _is_transient(exc) and task.request.retries < MAX_RETRIES:
            countdown = min(60, 2 ** (task.request.retries + 1))
            log.warning(
                "transient fault, retrying",
                extra={"document": document_id, "task": task.name, "error": str(exc)[:200]},
            )
            raise task.retry(exc=exc, countdown=countdown) from exc
        if isinstance(exc, ScanragError):
            if exc.category is not Category.BAD_INPUT:
                log.warning("task failed", extra={"document": document_id, "code": exc.code})
            _fail(state, document_id, exc)
        else:
            log.exception("task failed", extra={"document": document_id, "task": task.name})
            _fail(state, document_id, ScanragError(f"internal error: {exc}"))


def _fail(state: WorkerState, document_id: str, error: ScanragError) -> None:
    """Mark the document failed with the error's code; the webhook goes if this call did it."""
    if record_failure(state.sessions, document_id, error):
        deliver_webhook.apply_async((document_id,), queue=WEBHOOKS)


def _live_document(state: WorkerState, document_id: str) -> Document | None:
    """The document, unless it was deleted or is already finished (then the task has no work)."""
    with state.sessions.begin() as session:
        document = repo.get_document(session, document_id=document_id)
    if document is None or document.status in FINAL:
        return None
    return document


def page_ranges(page_count: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` 1-based inclusive ranges of ``size`` pages covering the document."""
    return [(start, min(start + size - 1, page_count)) for start in range(1, page_count + 1, size)]


@app.task(name="scanrag.prepare", **HEAVY)
def prepare(self: Task, document_id: str, queue: str = INTERACTIVE) -> None:
    """Open the document, record its page count, and send its page ranges to the workers."""

    def body(state: WorkerState, document: Document) -> None:
        opened = open_document(state.blobs.path(document.blob_key), state.load)
        with state.sessions.begin() as session:
            repo.mark_started(
                session, document_id=document_id, page_count=opened.page_count, queue=queue
            )
            stored = repo.stored_page_numbers(session, document_id=document_id)
        ranges = page_ranges(opened.page_count, state.settings.service.page_range)
        pending = [r for r in ranges if not set(range(r[0], r[1] + 1)) <= stored]
        log.info(
            "document queued for reading",
            extra={"document": document_id, "pages": opened.page_count, "ranges": len(pending)},
        )
        if not pending:
            finalize.apply_async((document_id, queue), queue=queue)
        for start, stop in pending:
            read_pages.apply_async((document_id, start, stop, queue), queue=queue)

    _run(self, document_id, body)


@app.task(name="scanrag.read_pages", **HEAVY)
def read_pages(
    self: Task, document_id: str, start: int, stop: int, queue: str = INTERACTIVE
) -> None:
    """Read pages ``start..stop`` and store each (with its image) as soon as it is read."""

    def body(state: WorkerState, document: Document) -> None:
        with state.sessions.begin() as session:
            stored = repo.stored_page_numbers(session, document_id=document_id)
        if not set(range(start, stop + 1)) <= stored:
            opened = open_document(state.blobs.path(document.blob_key), state.load)
            tap = PageImageTap(opened)
            for result in state.ocr.read(tap, source=document_id, start=start, stop=stop):
                image_key = store_page_image(state.blobs, tap.take(result.page), result)
                page = {**result.to_dict(), "image_key": image_key}
                try:
                    with state.sessions.begin() as session:
                        repo.replace_pages(session, document_id=document_id, pages=[page])
                        repo.update_pages_done(session, document_id=document_id)
                except DocumentNotFound:
                    # deleted while its pages were being read: the image just written is
                    # nobody's (unless an identical page of another document shares it)
                    with state.sessions.begin() as session:
                        for key in repo.unused_blob_keys(session, {image_key}):
                            state.blobs.delete(key)
                    log.info("document deleted while read", extra={"document": document_id})
                    return
                log.info(
                    "page read",
                    extra={"document": document_id, "page": result.page, "s": result.seconds},
                )
        with state.sessions.begin() as session:
            done = repo.update_pages_done(session, document_id=document_id)
        if document.page_count is not None and done >= document.page_count:
            finalize.apply_async((document_id, queue), queue=queue)

    _run(self, document_id, body)


@app.task(name="scanrag.finalize", **HEAVY)
def finalize(self: Task, document_id: str, queue: str = INTERACTIVE) -> None:
    """Chunk, embed and index the stored pages, and mark the document done (once)."""

    def body(state: WorkerState, document: Document) -> None:
        with state.sessions() as session:
            stored = repo.stored_page_numbers(session, document_id=document_id)
        if document.page_count is None or len(stored) < document.page_count:
            # A range was lost (its task expired with a restarted broker): schedule it again.
            prepare.apply_async((document_id, queue), queue=queue)
            return
        chunks, changed = reindex_document(
            state.sessions,
            document_id=document_id,
            params=state.chunk,
            embedder=state.embedder,
            mark_done=True,
        )
        if changed:
            log.info("document done", extra={"document": document_id, "chunks": chunks})
            if document.callback_url:
                deliver_webhook.apply_async((document_id,), queue=WEBHOOKS)

    _run(self, document_id, body)


@app.task(name="scanrag.list_batch", **HEAVY)
def list_batch(self: Task, batch_id: str) -> None:
    """Turn every file under the batch's folder into a document on the batch queue."""
    from workers.batches import list_batch_files

    state = worker_state()
    try:
        list_batch_files(state, batch_id, enqueue=_enqueue_batch_document)
    except Exception as exc:
        if _is_transient(exc) and self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=min(60, 2 ** (self.request.retries + 1))) from exc
        raise


def _enqueue_batch_document(document_id: str) -> None:
    prepare.apply_async((document_id, BATCH), queue=BATCH)


@app.task(name="scanrag.deliver_webhook", bind=True, acks_late=True)
def deliver_webhook(self: Task, document_id: str) -> None:
    """POST the document's outcome to its callback URL, signed; retried with backoff."""
    from workers.webhooks import deliver

    state = worker_state()
    attempt = self.request.retries + 1
    delivered = deliver(state, document_id, attempt=attempt, delivery_id=self.request.id)
    retries = state.settings.service.webhook_retries
    if not delivered and self.request.retries < retries:
        countdown = min(300, 2**attempt) + (time.time() % 1)  # backoff with a little jitter
        raise self.retry(countdown=countdown, max_retries=retries)
