"""Recovering work a restarted broker forgot.

Redis as configured here keeps nothing on disk: when it restarts, queued tasks are gone. The
database is the record of what is unfinished, so each worker's main process watches the
broker's ``run_id``; when it changes, it sends every unfinished document (and batch still being
listed) to the queues again; the first worker ever started does the same. Tasks are idempotent,
so a document queued twice is processed once. Webhooks of the last day's finished documents
that no attempt delivered are sent again too (at least once: a receiver may see one twice, with
different ``X-Scanrag-Delivery`` ids, and should key on the document id and status).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, cast

import redis
from sqlalchemy import select

from core.config import Settings
from core.logging import get_logger
from core.status import BatchStatus
from storage import jobs
from storage import repository as repo
from storage.tables import Batch, utcnow
from workers.celery.app import app
from workers.celery.pool import process_runtime
from workers.celery.queues import BATCH, DELIVER_WEBHOOK, INTERACTIVE, LIST_BATCH, PREPARE, WEBHOOKS

log = get_logger("recovery")

RUN_ID = "broker_run_id"
WEBHOOK_RESEND_WINDOW = timedelta(days=1)  # older undelivered webhooks are left as they are


def check_broker(settings: Settings) -> int:
    """Requeue unfinished work if the broker restarted since the last check; returns how many."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        info = cast(dict[str, Any], client.info("server"))
        run_id = str(info["run_id"])
    finally:
        client.close()
    runtime = process_runtime()
    with runtime.sessions.begin() as session:
        seen = jobs.get_state(session, name=RUN_ID)
        if seen == run_id:
            return 0
        # First check ever (seen is None) too: the API may have queued work before any worker
        # ran, through a broker that restarted since. Queuing a document twice is harmless.
        jobs.set_state(session, name=RUN_ID, value=run_id)
        documents = repo.unfinished_documents(session)
        batches = list(session.scalars(select(Batch.id).where(Batch.status == BatchStatus.LISTING)))
        webhooks = jobs.undelivered_webhooks(
            session,
            max_attempts=runtime.settings.service.webhook_retries + 1,
            since=utcnow() - WEBHOOK_RESEND_WINDOW,
        )
    for document_id, queue in documents:
        app.send_task(PREPARE, args=(document_id, queue or INTERACTIVE), queue=queue or INTERACTIVE)
    for batch_id in batches:
        app.send_task(LIST_BATCH, args=(batch_id,), queue=BATCH)
    for document_id in webhooks:
        app.send_task(DELIVER_WEBHOOK, args=(document_id,), queue=WEBHOOKS)
    if seen is not None or documents or batches or webhooks:
        what = "broker restarted" if seen is not None else "first broker check"
        log.warning(
            f"{what}: unfinished work sent again",
            extra={"documents": len(documents), "batches": len(batches), "webhooks": len(webhooks)},
        )
    return len(documents) + len(batches) + len(webhooks)


def start_broker_watch(settings: Settings) -> threading.Thread:
    """A daemon thread running ``check_broker`` every ``service.sweep_interval`` seconds."""
    stop = threading.Event()

    def watch() -> None:
        delay = 0.0  # check at once: the broker may have restarted while no worker ran
        while not stop.wait(delay):
            delay = settings.service.sweep_interval
            try:
                check_broker(settings)
            except Exception as exc:  # the broker or database is down: try again later
                log.warning("broker check failed", extra={"error": str(exc)[:200]})

    thread = threading.Thread(target=watch, name="scanrag-broker-watch", daemon=True)
    thread.start()
    return thread
