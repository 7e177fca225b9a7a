"""The Celery tasks: thin, passing ids; each loads rows, calls the pipeline, writes through storage.

A document flows ``prepare`` -> ``read_pages`` for each page range (in parallel, on any worker)
-> ``finalize`` (chunks, embeddings, index, status) -> ``deliver_webhook``. A document keeps a
window of range tasks in the queue, each sending the next when it is done, and short work goes
first (workers/fairness.py), so a long document never starves the others. The fan-in is counted
in the database, not in the broker: each range task, after storing its pages, counts the stored
pages, and whichever sees them all sends ``finalize``. Every write replaces by natural key (page
number, chunk ordinal), so any task may run twice, or be redelivered after its worker died,
without duplicating anything; ``finalize`` moves the status to done once, so the webhook goes once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn

import kombu.exceptions
import redis.exceptions
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError

from core.config import ServiceSettings
from core.errors import Category, ScanragError
from core.logging import get_logger
from core.status import FINAL
from storage import jobs
from storage import repository as repo
from storage.tables import Document
from workers import documents, fairness
from workers.celery.app import app
from workers.celery.pool import process_runtime
from workers.celery.queues import (
    BATCH,
    DELIVER_WEBHOOK,
    FINALIZE,
    INTERACTIVE,
    LIST_BATCH,
    PREPARE,
    READ_PAGES,
    WEBHOOKS,
)
from workers.runtime import Runtime

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


class ScanragTask(Task):
    """The base of scanrag's tasks: acknowledged after they ran (their writes are idempotent),
    and one retry policy: a passing fault is retried with exponential backoff, up to
    ``max_retries`` times."""

    acks_late = True
    max_retries = MAX_RETRIES
    backoff_cap = 60  # seconds

    def retry_if_passing(self, exc: BaseException, document_id: str | None = None) -> None:
        """Retry later (raises celery's Retry) when ``exc`` is a passing fault and retries
        are left; return (the caller records the failure) otherwise."""
        if _is_transient(exc) and self.request.retries < self.max_retries:
            log.warning(
                "transient fault, retrying",
                extra={"document": document_id, "task": self.name, "error": str(exc)[:200]},
            )
            self.retry_later(exc)

    def retry_later(
        self, exc: BaseException | None = None, cap: float = 0, max_retries: int | None = None
    ) -> NoReturn:
        """Retry after a backoff that doubles with each attempt, up to ``cap`` seconds (default
        ``backoff_cap``), with a little jitter; ``max_retries`` overrides the task's."""
        countdown = min(cap or self.backoff_cap, 2 ** (self.request.retries + 1))
        limit = {} if max_retries is None else {"max_retries": max_retries}
        raise self.retry(exc=exc, countdown=countdown + (time.time() % 1), **limit)


TASK: dict[str, Any] = {"bind": True, "base": ScanragTask}


def _run(task: ScanragTask, document_id: str, body: Callable[[Runtime, Document], None]) -> None:
    """Run ``body`` for a live document under the guards every document task shares.

    A document deleted or already finished has no work left: ``body`` is not called.

    Counts the delivery (a message delivered more than ``max_deliveries`` times is poison: its
    document fails instead of crashing workers forever), retries passing faults with backoff,
    and records any other error on the document row, so no task leaves a document hanging.
    """
    runtime = process_runtime()
    service = runtime.settings.service
    key = f"{task.request.id}:{task.request.retries}"
    try:
        with runtime.sessions.begin() as session:
            deliveries = jobs.count_delivery(session, task_key=key, document_id=document_id)
        if deliveries > service.max_deliveries:
            log.error("poison message", extra={"document": document_id, "task": task.name})
            _fail(runtime, document_id, PoisonMessage())
            return
        document = _live_document(runtime, document_id)
        if document is not None:
            body(runtime, document)
    except SoftTimeLimitExceeded:
        _fail(runtime, document_id, TaskTimeout())
    except Exception as exc:
        task.retry_if_passing(exc, document_id)
        _fail(runtime, document_id, documents.as_failure(exc, document_id, task=task.name))


def _fail(runtime: Runtime, document_id: str, error: ScanragError) -> None:
    """Mark the document failed with the error's code; the webhook goes if this call did it."""
    if documents.fail(runtime, document_id, error):
        deliver_webhook.apply_async((document_id,), queue=WEBHOOKS)


def _live_document(runtime: Runtime, document_id: str) -> Document | None:
    """The document, unless it was deleted or is already finished (then the task has no work)."""
    with runtime.sessions.begin() as session:
        document = repo.get_document(session, document_id=document_id)
    if document is None or document.status in FINAL:
        return None
    return document


@app.task(name=PREPARE, **TASK)
def prepare(self: ScanragTask, document_id: str, queue: str = INTERACTIVE) -> None:
    """Open the document, record its page count, and send its page ranges to the workers."""

    def body(runtime: Runtime, document: Document) -> None:
        opened = documents.take_up(runtime, document, queue=queue)
        service = runtime.settings.service
        sent = fairness.open_window(
            runtime,
            document_id,
            opened.page_count,
            size=service.page_range,
            window=service.page_window,
            send=_read_sender(document_id, opened.page_count, queue, service),
        )
        log.info(
            "document queued for reading",
            extra={"document": document_id, "pages": opened.page_count, "ranges": len(sent)},
        )
        if not sent:
            _send_finalize(document_id, queue, service.page_window)

    _run(self, document_id, body)


def _read_sender(
    document_id: str, page_count: int, queue: str, service: ServiceSettings
) -> fairness.Send:
    """Sends the document's read task of pages start..stop, at its priority."""
    window = service.page_window
    urgent = fairness.is_short(page_count, service.page_range, window)
    level = fairness.priority(queue, urgent=urgent, window=window)

    def send(start: int, stop: int) -> None:
        read_pages.apply_async((document_id, start, stop, queue), queue=queue, priority=level)

    return send


def _send_finalize(document_id: str, queue: str, window: int) -> None:
    level = fairness.priority(queue, urgent=True, window=window)
    finalize.apply_async((document_id, queue), queue=queue, priority=level)


@app.task(name=READ_PAGES, **TASK)
def read_pages(
    self: ScanragTask, document_id: str, start: int, stop: int, queue: str = INTERACTIVE
) -> None:
    """Read pages ``start..stop`` and store each (with its image) as soon as it is read."""

    def body(runtime: Runtime, document: Document) -> None:
        with runtime.sessions() as session:
            stored = repo.stored_page_numbers(session, document_id=document_id)
        if not set(range(start, stop + 1)) <= stored:
            opened = documents.open_stored(runtime, document)
            if not documents.read_pages(runtime, document_id, opened, start=start, stop=stop):
                return  # deleted while read
            log.info("pages read", extra={"document": document_id, "pages": f"{start}-{stop}"})
        service = runtime.settings.service
        pages = document.page_count
        if pages is not None:
            # the next range of the window: this task's successor
            fairness.send_next(
                runtime,
                document_id,
                pages,
                size=service.page_range,
                window=service.page_window,
                send=_read_sender(document_id, pages, queue, service),
            )
        with runtime.writing(), runtime.sessions.begin() as session:
            done = repo.update_pages_done(session, document_id=document_id)
        if pages is not None and done >= pages:
            _send_finalize(document_id, queue, service.page_window)

    _run(self, document_id, body)


@app.task(name=FINALIZE, **TASK)
def finalize(self: ScanragTask, document_id: str, queue: str = INTERACTIVE) -> None:
    """Chunk, embed and index the stored pages, and mark the document done (once)."""

    def body(runtime: Runtime, document: Document) -> None:
        with runtime.sessions() as session:
            stored = repo.stored_page_numbers(session, document_id=document_id)
        window = runtime.settings.service.page_window
        if document.page_count is None or len(stored) < document.page_count:
            # A range was lost (its task expired with a restarted broker): schedule it again.
            level = fairness.priority(queue, urgent=True, window=window)
            prepare.apply_async((document_id, queue), queue=queue, priority=level)
            return
        chunks, changed = documents.index(runtime, document_id, mark_done=True)
        if window:
            fairness.close_window(runtime, document_id)
        if changed:
            log.info("document done", extra={"document": document_id, "chunks": chunks})
            if document.callback_url:
                deliver_webhook.apply_async((document_id,), queue=WEBHOOKS)

    _run(self, document_id, body)


@app.task(name=LIST_BATCH, **TASK)
def list_batch(self: ScanragTask, batch_id: str) -> None:
    """Turn every file under the batch's folder into a document on the batch queue."""
    from workers.batches import list_batch_files

    try:
        list_batch_files(process_runtime(), batch_id, enqueue=_enqueue_batch_document)
    except Exception as exc:
        self.retry_if_passing(exc)
        raise


def _enqueue_batch_document(document_id: str) -> None:
    window = process_runtime().settings.service.page_window
    level = fairness.priority(BATCH, urgent=True, window=window)
    prepare.apply_async((document_id, BATCH), queue=BATCH, priority=level)


@app.task(name=DELIVER_WEBHOOK, **TASK)
def deliver_webhook(self: ScanragTask, document_id: str) -> None:
    """POST the document's outcome to its callback URL, signed; retried with backoff."""
    from workers.webhooks import deliver

    runtime = process_runtime()
    attempt = self.request.retries + 1
    delivered = deliver(runtime, document_id, attempt=attempt, delivery_id=self.request.id)
    retries = runtime.settings.service.webhook_retries
    if not delivered and self.request.retries < retries:
        self.retry_later(cap=300, max_retries=retries)
